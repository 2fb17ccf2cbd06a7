/*
 * dispatch - the one way a front end hands a request to the engine (see dispatch.h)
 */
#include "dispatch.h"

#include <time.h>

#include "decision_log.h"
#include "metrics.h"
#include "server.h"

/* mono_ns - the monotonic clock in ns (a vDSO call): latency only, never counting */
static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* account - count the verdict and its latency */
static void account(dispatch *d)
{
    uint64_t ns = mono_ns() - d->t0_ns;

    metrics_verdict(&d->srv->met, d->front, d->ev.req->kind, d->ev.v.kind, ns / 1000);
    log_decision(d->srv, d->ev.req, &d->ev.v); /* one place for every front end, like the metrics */
}

/* on_eval_done - the store answered a pending request */
static void on_eval_done(eval *ev, void *arg)
{
    dispatch *d = arg;

    (void)ev;
    account(d);
    d->done(d, d->arg);
}

/* dispatch_run - decide a request with the rules in force */
int dispatch_run(server *s, dispatch *d, fg_request *req, enum fg_front front, dispatch_done_fn done, void *arg)
{
    d->srv = s;
    d->front = (uint8_t)front;
    d->done = done;
    d->arg = arg;
    d->t0_ns = mono_ns();
    if (engine_eval(&s->eng, &d->ev, s->rules, req, server_now(s), on_eval_done, d) == ENGINE_PENDING)
        return DISPATCH_PENDING;
    account(d);
    return DISPATCH_DONE;
}

/* dispatch_release - free an idle dispatch's buffers */
void dispatch_release(dispatch *d)
{
    eval_release(&d->ev);
}

/* dispatch_front_name - the label of a front end */
const char *dispatch_front_name(unsigned front)
{
    static const char *const names[FRONT__COUNT] = {"policy", "http", "watch"};
    return front < FRONT__COUNT ? names[front] : "?";
}
