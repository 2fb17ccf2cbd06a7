/*
 * dispatch - the one way a front end hands a request to the engine
 *
 * The policy socket, the HTTP adapter and the log watchers each turn their
 * input into an fg_request and call dispatch_run(); it evaluates the
 * request with the rules in force, counts the verdict and its latency in
 * the daemon's metrics (one place, whatever the front end), and calls the
 * front end back when the store answers later. Each front end only
 * formats the verdict its own way (access(5) line, HTTP status or JSON,
 * nothing for a log line).
 *
 * A dispatch is owned by the front end, reused request after request, so
 * that a request allocates nothing in the steady state (its eval keeps its
 * buffers). The fg_request and the bytes it points into must stay until
 * the verdict is there.
 */
#ifndef FG_DISPATCH_H
#define FG_DISPATCH_H

#include <stdint.h>

#include "engine.h"

typedef struct server server;

enum fg_front {
    FRONT_POLICY = 0, /* policy sockets (and check on the control socket) */
    FRONT_HTTP,       /* the HTTP adapter: nginx auth_request, Dovecot auth policy */
    FRONT_WATCH,      /* log watches */
    FRONT__COUNT
};

typedef struct dispatch dispatch;
/* dispatch_done_fn - the verdict of a request that waited on the store is in d->ev.v */
typedef void (*dispatch_done_fn)(dispatch *d, void *arg);

struct dispatch {
    eval ev;                 /* the engine's work; ev.v is the verdict */
    server *srv;
    uint64_t t0_ns;          /* monotonic time of the hand-over, for the latency histogram */
    uint8_t front;           /* enum fg_front */
    dispatch_done_fn done;   /* called only for a request that was pending */
    void *arg;
};

enum { DISPATCH_DONE = 0, DISPATCH_PENDING = 1 };

/* dispatch_run - decide req: DISPATCH_DONE (d->ev.v is set) or DISPATCH_PENDING (done is called later) */
int dispatch_run(server *s, dispatch *d, fg_request *req, enum fg_front front, dispatch_done_fn done, void *arg);
/* dispatch_release - free the buffers of a dispatch that is not pending */
void dispatch_release(dispatch *d);
/* dispatch_front_name - "policy", "http", "watch" */
const char *dispatch_front_name(unsigned front);

#endif
