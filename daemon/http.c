/*
 * http - the HTTP adapter (see http.h)
 *
 * Connections. evhttp (libevent 2.1) has no connection limit and tells
 * nobody when it accepts or closes one, so floodgate counts them itself:
 * evhttp asks us for each new connection's bufferevent (evhttp_set_bevcb),
 * which counts it; once evhttp has wrapped it in its connection object (the
 * bufferevent's callback argument, checked after the accept callback
 * returns, while we hold a reference so the memory cannot go), we ask for
 * that connection's close callback, which uncounts it. Past
 * http_max_connections the listener is disabled until one closes.
 *
 * Slow clients. evhttp's own timeout (a bufferevent read timeout, reset
 * by every read) drops a connection without a word, and a client that
 * sends a byte now and then keeps it forever. Issue 11 wants a client
 * that started a request and did not finish it in listen.http_timeout to
 * be told (408, then closed), and an idle keep-alive connection closed
 * silently, as nginx does. libevent 2.1 has no hook for either (no
 * new-request callback, the connection's state is private), so it is
 * hand-made: each connection gets an hconn with one timer, and evhttp's
 * read timeout is taken off (its write timeout stays). The first byte
 * added to the connection's input buffer (an evbuffer callback, which
 * evhttp never resets) starts a request's deadline; on_request() stops it
 * and the answer's completion starts the idle wait again. At the
 * deadline the hconn takes the bufferevent from evhttp, writes the 408
 * and frees evhttp's connection once it is flushed; evhttp's close
 * callback frees the hconn on every path (closed by evhttp, the client,
 * us, or evhttp_free at stop).
 *
 * A request's life: on_request() routes it, builds its fg_request in a
 * pooled job (httpreq.c) and hands it to dispatch_run(); the answer goes
 * out at once, or from on_done() when the store answers. A client that
 * left meanwhile is fine: evhttp keeps a request it has not been answered
 * for and frees it at evhttp_send_reply().
 */
#include "http.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "dispatch.h"
#include "httpreq.h"

#define HTTP_BACKLOG 1024      /* listen(2) backlog */
#define HTTP_ARGS_MAX 64       /* query arguments read; more are ignored */
#define HTTP_JSON_OUT 8192     /* Dovecot's answer: status and an action's text, escaped */

enum route { ROUTE_CHECK, ROUTE_ALLOW, ROUTE_REPORT };

enum conn_state {
    CONN_IDLE,                /* no byte of a request yet: the timer closes it silently */
    CONN_READING,             /* a request begun: the timer answers 408 */
    CONN_BUSY,                /* handed to on_request, until its answer is written */
    CONN_TIMED_OUT            /* the 408 going out; closed once flushed */
};

typedef struct hconn {
    http_adapter *h;
    struct evhttp_connection *evcon;
    struct bufferevent *bev;  /* evhttp's, ours once timed out */
    struct evbuffer_cb_entry *watch; /* on bev's input: a request's first byte */
    struct event *timer;      /* idle close or the request's deadline (made once, kept in the pool) */
    int fd;                   /* index in the adapter's byfd */
    int state;                /* enum conn_state */
    struct hconn *next;       /* in the pool of spare ones */
} hconn;

typedef struct hjob {
    http_adapter *h;
    struct evhttp_request *req; /* NULL when the adapter was freed meanwhile */
    int route;                /* enum route */
    int busy;                 /* waiting on the store */
    dispatch d;
    fg_request fr;
    httpreq_arena arena;      /* names and values of fr */
    struct hjob *next;        /* every job of the adapter */
} hjob;

struct http_adapter {
    server *srv;
    struct evhttp *eh;
    struct evhttp_bound_socket *bound; /* NULL once accepting stopped */
    char *path;               /* Unix socket to remove, NULL for TCP */
    hjob *jobs;               /* all jobs (idle and busy) */
    size_t njobs;             /* how many */
    hjob **idle_stack;        /* idle jobs; room for every job */
    size_t nidle, idle_cap;
    unsigned busy;            /* jobs waiting on the store */
    int dead;                 /* http_free ran with jobs busy: the last one frees the adapter */
    struct bufferevent **fresh; /* connections accepted, their close callback not asked for yet */
    size_t nfresh, fresh_cap;
    struct event *adopt;      /* asks for those close callbacks, after the accept callback */
    int paused;               /* at http_max_connections */
    size_t arena_cap;         /* bytes of each job's arena */
    hconn **byfd;             /* open connections by descriptor (on_request finds its own there) */
    size_t byfd_cap;
    hconn *spare;             /* closed ones, reused */
    struct timeval timeout;   /* listen.http_timeout */
};

/* job_take - an idle job, or a new one */
static hjob *job_take(http_adapter *h)
{
    hjob *j;

    if (h->nidle) {
        j = h->idle_stack[--h->nidle];
    } else {
        j = fg_calloc(1, sizeof *j);
        j->h = h;
        j->arena.cap = h->arena_cap;
        j->arena.p = fg_malloc(j->arena.cap);
        j->next = h->jobs;
        h->jobs = j;
        if (++h->njobs > h->idle_cap) {
            /* the stack can hold every job there is, so job_put never allocates */
            h->idle_cap = h->njobs * 2;
            h->idle_stack = fg_realloc(h->idle_stack, h->idle_cap * sizeof *h->idle_stack);
        }
    }
    j->arena.used = 0;
    return j;
}

/* job_put - back to the pool */
static void job_put(http_adapter *h, hjob *j)
{
    j->req = NULL;
    h->idle_stack[h->nidle++] = j;
}

/* adapter_release - the memory, once nothing refers to it */
static void adapter_release(http_adapter *h)
{
    hjob *j, *next;

    for (j = h->jobs; j; j = next) {
        next = j->next;
        dispatch_release(&j->d);
        fg_free(j->arena.p);
        fg_free(j);
    }
    fg_free(h->idle_stack);
    fg_free(h->fresh);
    fg_free(h->byfd);
    fg_free(h->path);
    fg_free(h);
}

/* answer_error - a 4xx/5xx with a one-line reason; the connection is closed after it */
static void answer_error(http_adapter *h, struct evhttp_request *req, int code, const char *status, const char *why)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    h->srv->met.http.bad++;
    metrics_http_code(&h->srv->met, code);
    evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(out, "Connection", "close");
    evbuffer_add_printf(evhttp_request_get_output_buffer(req), "%s\n", why);
    log_limited(&h->srv->bad_log, server_now(h->srv), LOG_WARN_, "http: %d %s: %s", code, status, why);
    evhttp_send_reply(req, code, status, NULL);
}

/* answer_check - nginx auth_request: 204 through, 403 refused */
static void answer_check(http_adapter *h, struct evhttp_request *req, const verdict *v)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char num[32];

    if (v->reason[0])
        evhttp_add_header(out, "X-Floodgate-Reason", v->reason);
    else if (v->store_failed)
        evhttp_add_header(out, "X-Floodgate-Reason", "store-unavailable");
    if (v->refused) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)(v->retry_s ? v->retry_s : 1));
        evhttp_add_header(out, "Retry-After", num);
        metrics_http_code(&h->srv->met, 403);
        evhttp_send_reply(req, 403, "Forbidden", NULL);
        return;
    }
    if (v->tarpit_s) {
        snprintf(num, sizeof num, "%u", (unsigned)v->tarpit_s);
        evhttp_add_header(out, "X-Floodgate-Tarpit", num);
    }
    metrics_http_code(&h->srv->met, 204);
    evhttp_send_reply(req, 204, "No Content", NULL);
}

/* answer_dovecot - {"status":S,"msg":"..."}: -1 refused, 0 accepted, N tarpit N seconds */
static void answer_dovecot(http_adapter *h, struct evhttp_request *req, const verdict *v)
{
    char buf[HTTP_JSON_OUT];
    int status = v->refused ? -1 : (int)v->tarpit_s;
    const char *msg = v->refused || v->tarpit_s ? httpreq_msg(v->action) : "";
    json_t *o;
    size_t n;

    if (v->refused && !*msg)
        msg = v->reason[0] ? v->reason : "refused";
    o = json_pack("{s:i,s:s}", "status", status, "msg", msg);
    if (!o) /* the text is not UTF-8 (an attribute expanded into it): the rule's name says enough */
        o = json_pack("{s:i,s:s}", "status", status, "msg", v->reason);
    n = o ? json_dumpb(o, buf, sizeof buf, JSON_COMPACT) : 0;
    json_decref(o);
    if (!n || n > sizeof buf)
        n = (size_t)snprintf(buf, sizeof buf, "{\"status\":%d,\"msg\":\"\"}", status);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), buf, n);
    metrics_http_code(&h->srv->met, 200);
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* answer - a job's verdict, the way its route wants it */
static void answer(hjob *j)
{
    if (!j->req)
        return;
    if (j->route == ROUTE_CHECK)
        answer_check(j->h, j->req, &j->d.ev.v);
    else
        answer_dovecot(j->h, j->req, &j->d.ev.v);
}

/* on_done - the store answered a pending request */
static void on_done(dispatch *d, void *arg)
{
    hjob *j = arg;
    http_adapter *h = j->h;

    (void)d;
    j->busy = 0;
    h->busy--;
    answer(j);
    job_put(h, j);
    if (h->dead && !h->busy)
        adapter_release(h);
}

/* run - hand a built request to the engine */
static void run(http_adapter *h, hjob *j, struct evhttp_request *req, int route)
{
    j->req = req;
    j->route = route;
    if (dispatch_run(h->srv, &j->d, &j->fr, FRONT_HTTP, on_done, j) == DISPATCH_PENDING) {
        j->busy = 1;
        h->busy++;
        return;
    }
    answer(j);
    job_put(h, j);
}

/* query_args - parse a query string into pairs (pointing into q); -1 when malformed */
static int query_args(const char *query, struct evkeyvalq *q, httpreq_pair *pairs, size_t *n)
{
    struct evkeyval *kv;

    *n = 0;
    TAILQ_INIT(q);
    if (!query || !*query)
        return 0;
    if (evhttp_parse_query_str(query, q) < 0)
        return -1;
    TAILQ_FOREACH(kv, q, next) {
        if (*n == HTTP_ARGS_MAX)
            break;
        pairs[*n].name = kv->key;
        pairs[*n].value = kv->value;
        (*n)++;
    }
    return 0;
}

/* on_check - GET /check/KIND */
static void on_check(http_adapter *h, struct evhttp_request *req, const char *kind, const char *query)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req), q;
    httpreq_pair pairs[HTTP_ARGS_MAX];
    size_t n;
    httpreq_headers hh = {evhttp_find_header(in, "X-Real-IP"), evhttp_find_header(in, "X-Forwarded-For"),
                          evhttp_find_header(in, "X-Original-Method"), evhttp_find_header(in, "X-Original-URI"),
                          evhttp_find_header(in, "X-Authenticated")};
    hjob *j;
    enum httpreq_status st;

    h->srv->met.http.check++;
    if (query_args(query, &q, pairs, &n) < 0) {
        evhttp_clear_headers(&q);
        answer_error(h, req, 400, "Bad Request", "malformed query string");
        return;
    }
    j = job_take(h);
    st = httpreq_check(kind, &hh, pairs, n, &j->arena, &j->fr);
    evhttp_clear_headers(&q);
    if (st != HTTPREQ_OK) {
        job_put(h, j);
        answer_error(h, req, st == HTTPREQ_BAD_KIND ? 404 : 400, st == HTTPREQ_BAD_KIND ? "Not Found" : "Bad Request",
                     httpreq_status_text(st));
        return;
    }
    run(h, j, req, ROUTE_CHECK);
}

/* on_dovecot - POST /?command=allow|report */
static void on_dovecot(http_adapter *h, struct evhttp_request *req, int report)
{
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    const char *p = len ? (const char *)evbuffer_pullup(body, -1) : "";
    hjob *j;
    enum httpreq_status st;

    if (report)
        h->srv->met.http.dovecot_report++;
    else
        h->srv->met.http.dovecot_allow++;
    if (!p) {
        answer_error(h, req, 500, "Internal Server Error", "out of memory");
        return;
    }
    j = job_take(h);
    st = httpreq_dovecot(p, len, report, &j->arena, &j->fr);
    if (st != HTTPREQ_OK) {
        job_put(h, j);
        answer_error(h, req, 400, "Bad Request", httpreq_status_text(st));
        return;
    }
    run(h, j, req, report ? ROUTE_REPORT : ROUTE_ALLOW);
}

/* on_metrics - GET /metrics */
static void on_metrics(http_adapter *h, struct evhttp_request *req)
{
    h->srv->met.http.scrapes++;
    metrics_http_code(&h->srv->met, 200);
    metrics_prometheus(h->srv, evhttp_request_get_output_buffer(req));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* conn_gone - one connection less; accept again below the limit */
static void conn_gone(http_adapter *h)
{
    server *s = h->srv;

    if (s->met.http.connections_open)
        s->met.http.connections_open--;
    if (h->paused && h->bound && s->met.http.connections_open < s->conf->listen.http_max_connections) {
        evconnlistener_enable(evhttp_bound_socket_get_listener(h->bound));
        h->paused = 0;
    }
}

#define HTTP_408_BODY "request not complete within listen.http_timeout\n"

/* conn_of - the hconn of a request's connection; NULL if it has none (yet) */
static hconn *conn_of(http_adapter *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd < 0 || (size_t)fd >= h->byfd_cap || !h->byfd[fd] || h->byfd[fd]->evcon != evcon)
        return NULL;
    return h->byfd[fd];
}

/* conn_wait - (re)start the timer in this state: the idle wait, or a request's deadline */
static void conn_wait(hconn *c, int state)
{
    c->state = state;
    evtimer_add(c->timer, &c->h->timeout);
}

/* on_input - bytes came in: the first of a request starts its deadline */
static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    hconn *c = arg;

    (void)in;
    if (info->n_added && c->state == CONN_IDLE)
        conn_wait(c, CONN_READING);
}

/* on_answered - a request's answer is written: the next one may begin (pipelined bytes count as begun) */
static void on_answered(struct evhttp_request *req, void *arg)
{
    hconn *c = conn_of(arg, req);

    if (c && c->state == CONN_BUSY)
        conn_wait(c, evbuffer_get_length(bufferevent_get_input(c->bev)) ? CONN_READING : CONN_IDLE);
}

/* conn_request - a whole request came: no deadline while it is answered */
static void conn_request(http_adapter *h, struct evhttp_request *req)
{
    hconn *c = conn_of(h, req);

    if (!c)
        return;
    c->state = CONN_BUSY;
    evtimer_del(c->timer);
    evhttp_request_set_on_complete_cb(req, on_answered, h);
}

/* on_408_read - the rest of the slow request: read and dropped, so closing does not reset the connection */
static void on_408_read(struct bufferevent *bev, void *arg)
{
    /* evhttp's deferred read may call this with its own argument: only bev is used */
    (void)arg;
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

/* on_408_written - the 408 is out (or the client left, or never read it): close */
static void on_408_written(struct bufferevent *bev, void *arg)
{
    hconn *c = arg;

    (void)bev;
    evhttp_connection_free(c->evcon); /* its close callback frees c */
}

/* on_408_event - the client closed, failed or read nothing for http_timeout */
static void on_408_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    on_408_written(bev, arg);
}

/* conn_408 - answer a request not complete in time and close */
static void conn_408(hconn *c)
{
    static const char head[] = "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "Connection: close\r\nContent-Length: ";
    server *s = c->h->srv;
    struct evbuffer *out = bufferevent_get_output(c->bev);

    c->state = CONN_TIMED_OUT;
    s->met.http.bad++;
    metrics_http_code(&s->met, 408);
    log_limited(&s->bad_log, server_now(s), LOG_WARN_, "http: 408 Request Timeout: request not complete in %llu ms",
                (unsigned long long)s->conf->listen.http_timeout_ms);
    /* evhttp's callbacks are off the bufferevent from here: its connection waits, untouched, to be freed */
    bufferevent_setcb(c->bev, on_408_read, on_408_written, on_408_event, c);
    on_408_read(c->bev, NULL);
    if (evbuffer_add(out, head, sizeof head - 1) < 0 ||
        evbuffer_add_printf(out, "%zu\r\n\r\n%s", sizeof HTTP_408_BODY - 1, HTTP_408_BODY) < 0 ||
        bufferevent_enable(c->bev, EV_READ | EV_WRITE) < 0)
        evhttp_connection_free(c->evcon);
}

/* on_timer - idle too long: closed; a request begun and not complete in time: 408 */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    hconn *c = arg;

    (void)fd;
    (void)what;
    if (c->state == CONN_IDLE) {
        evhttp_connection_free(c->evcon); /* as evhttp's own idle timeout did: no answer */
    } else if (c->state == CONN_READING) {
        if (evbuffer_get_length(bufferevent_get_output(c->bev)))
            /* evhttp is answering it itself (a 400 or 413 going out, then closed), or a 100 Continue is
             * unread: its write timeout watches that; ask again later */
            conn_wait(c, CONN_READING);
        else
            conn_408(c);
    }
}

/* on_conn_close - evhttp closes a connection (whoever began it): uncounted, its hconn back in the pool */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    hconn *c = arg;
    http_adapter *h = c->h;

    (void)evcon;
    evtimer_del(c->timer);
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    h->byfd[c->fd] = NULL;
    c->evcon = NULL;
    c->bev = NULL;
    c->next = h->spare;
    h->spare = c;
    conn_gone(h);
}

/* conn_adopt - watch an accepted connection: 0, or -1 when it could not be (the caller closes it) */
static int conn_adopt(http_adapter *h, struct evhttp_connection *evcon, struct bufferevent *bev)
{
    evutil_socket_t fd = bufferevent_getfd(bev);
    hconn *c = h->spare;

    if (fd < 0)
        return -1;
    if ((size_t)fd >= h->byfd_cap) {
        size_t cap = h->byfd_cap ? h->byfd_cap : 64;
        while (cap <= (size_t)fd)
            cap *= 2;
        h->byfd = fg_realloc(h->byfd, cap * sizeof *h->byfd);
        memset(h->byfd + h->byfd_cap, 0, (cap - h->byfd_cap) * sizeof *h->byfd);
        h->byfd_cap = cap;
    }
    if (c) {
        h->spare = c->next;
    } else {
        c = fg_calloc(1, sizeof *c);
        c->h = h;
        if (!(c->timer = evtimer_new(h->srv->base, on_timer, c))) {
            fg_free(c);
            return -1;
        }
    }
    if (!(c->watch = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c))) {
        c->next = h->spare;
        h->spare = c;
        return -1;
    }
    c->evcon = evcon;
    c->bev = bev;
    c->fd = fd;
    h->byfd[fd] = c;
    /* reading is timed by c->timer alone (a read timeout of evhttp's would drop a slow request unanswered) */
    bufferevent_set_timeouts(bev, NULL, &h->timeout);
    evhttp_connection_set_closecb(evcon, on_conn_close, c);
    conn_wait(c, evbuffer_get_length(bufferevent_get_input(bev)) ? CONN_READING : CONN_IDLE);
    return 0;
}

/* on_request - route a complete request */
static void on_request(struct evhttp_request *req, void *arg)
{
    http_adapter *h = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL, *query = u ? evhttp_uri_get_query(u) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

    conn_request(h, req);
    if (!path || !*path)
        path = "/";
    if (!strncmp(path, "/check/", 7)) {
        if (cmd != EVHTTP_REQ_GET)
            answer_error(h, req, 405, "Method Not Allowed", "GET /check/KIND");
        else
            on_check(h, req, path + 7, query);
        return;
    }
    if (!strcmp(path, "/metrics")) {
        if (cmd != EVHTTP_REQ_GET)
            answer_error(h, req, 405, "Method Not Allowed", "GET /metrics");
        else
            on_metrics(h, req);
        return;
    }
    if (!strcmp(path, "/") && query) {
        struct evkeyvalq q;
        httpreq_pair pairs[HTTP_ARGS_MAX];
        size_t n;
        const char *command = NULL;
        if (query_args(query, &q, pairs, &n) == 0)
            for (size_t i = 0; i < n && !command; i++)
                if (!strcmp(pairs[i].name, "command"))
                    command = pairs[i].value;
        int route = !command ? -1 : !strcmp(command, "allow") ? ROUTE_ALLOW : !strcmp(command, "report") ? ROUTE_REPORT : -1;
        evhttp_clear_headers(&q);
        if (route >= 0) {
            if (cmd != EVHTTP_REQ_POST)
                answer_error(h, req, 405, "Method Not Allowed", "POST /?command=allow|report");
            else
                on_dovecot(h, req, route == ROUTE_REPORT);
            return;
        }
    }
    answer_error(h, req, 404, "Not Found", "unknown path (GET /check/KIND, POST /?command=allow|report, GET /metrics)");
}

/* on_adopt - ask for the close callback of the connections just accepted */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    http_adapter *h = arg;

    (void)fd;
    (void)what;
    for (size_t i = 0; i < h->nfresh; i++) {
        struct bufferevent *bev = h->fresh[i];
        bufferevent_event_cb ecb = NULL;
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, NULL, &ecb, &cbarg);
        if (!ecb || !cbarg) {
            conn_gone(h); /* already closed */
        } else if (conn_adopt(h, cbarg, bev) < 0) {
            /* cbarg is evhttp's connection, whose callbacks the bufferevent carries until evhttp frees it */
            log_limited(&h->srv->bad_log, server_now(h->srv), LOG_WARN_, "http: out of memory: connection closed");
            evhttp_connection_free(cbarg);
            conn_gone(h);
        }
        bufferevent_decref(bev);
    }
    h->nfresh = 0;
}

/* on_new_conn - evhttp accepted a connection: its bufferevent, counted */
static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    http_adapter *h = arg;
    server *s = h->srv;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    if (!bev)
        return NULL;
    if (h->nfresh == h->fresh_cap) {
        h->fresh_cap = h->fresh_cap ? h->fresh_cap * 2 : 16;
        h->fresh = fg_realloc(h->fresh, h->fresh_cap * sizeof *h->fresh);
    }
    bufferevent_incref(bev);
    h->fresh[h->nfresh++] = bev;
    event_active(h->adopt, EV_TIMEOUT, 1);
    s->met.http.connections++;
    s->met.http.connections_open++;
    if (s->met.http.connections_open >= s->conf->listen.http_max_connections && !h->paused && h->bound) {
        s->met.http.connections_paused++;
        log_warn("http: %llu connections open (listen.http_max_connections): new clients wait",
                 (unsigned long long)s->met.http.connections_open);
        evconnlistener_disable(evhttp_bound_socket_get_listener(h->bound));
        h->paused = 1;
    }
    return bev;
}

/* http_start - listen on listen.http */
http_adapter *http_start(server *s, char *err, size_t errlen)
{
    const conf_listen *cl = &s->conf->listen;
    http_adapter *h;
    struct evconnlistener *evl;
    struct timeval tv = {(time_t)(cl->http_timeout_ms / 1000), (suseconds_t)(cl->http_timeout_ms % 1000 * 1000)};
    int fd;

    json_set_alloc_funcs(fg_malloc, fg_free);
    fd = listen_socket(cl->http, cl->http_mode, cl->group, err, errlen);
    if (fd < 0)
        return NULL;
    h = fg_calloc(1, sizeof *h);
    h->srv = s;
    h->arena_cap = cl->max_request + 2 * HTTP_HEADERS_MAX + 512;
    h->eh = evhttp_new(s->base);
    h->adopt = event_new(s->base, -1, 0, on_adopt, h);
    evl = evconnlistener_new(s->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, HTTP_BACKLOG, fd);
    if (!h->eh || !h->adopt || !evl || !(h->bound = evhttp_bind_listener(h->eh, evl))) {
        snprintf(err, errlen, "%s: cannot listen", cl->http);
        if (evl && !h->bound)
            evconnlistener_free(evl);
        else if (!evl)
            close(fd);
        if (h->eh)
            evhttp_free(h->eh);
        if (h->adopt)
            event_free(h->adopt);
        adapter_release(h);
        return NULL;
    }
    if (!strncmp(cl->http, "unix:", 5))
        h->path = fg_strdup(cl->http + 5);
    evhttp_set_max_headers_size(h->eh, HTTP_HEADERS_MAX);
    evhttp_set_max_body_size(h->eh, (ev_ssize_t)cl->max_request);
    evhttp_set_timeout_tv(h->eh, &tv); /* its read timeout is taken off each connection (conn_adopt) */
    h->timeout = tv;
    evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                          EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(h->eh, "text/plain; charset=utf-8");
    evhttp_set_bevcb(h->eh, on_new_conn, h);
    evhttp_set_gencb(h->eh, on_request, h);
    log_info("http: listening on %s", cl->http);
    return h;
}

/* http_stop_accepting - close the listener */
void http_stop_accepting(http_adapter *h)
{
    if (!h || !h->bound)
        return;
    evhttp_del_accept_socket(h->eh, h->bound);
    h->bound = NULL;
    if (h->path)
        unlink(h->path);
}

/* http_free - close everything */
void http_free(http_adapter *h)
{
    if (!h)
        return;
    http_stop_accepting(h);
    /* evhttp frees the requests it holds: jobs still waiting must not answer them */
    for (hjob *j = h->jobs; j; j = j->next)
        if (j->busy)
            j->req = NULL;
    evhttp_free(h->eh); /* each connection's close callback puts its hconn in the pool */
    on_adopt(-1, 0, h);
    event_free(h->adopt);
    while (h->spare) {
        hconn *c = h->spare;
        h->spare = c->next;
        event_free(c->timer);
        fg_free(c);
    }
    if (h->busy)
        h->dead = 1;
    else
        adapter_release(h);
}
