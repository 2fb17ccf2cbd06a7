/*
 * test_http_adapter - the HTTP adapter when the store answers later (as Redis does)
 *
 * A real server context, event loop and evhttp listener on a free loopback
 * port, with a store that holds each batch until the test lets it go: a
 * request is answered only then, a client that left meanwhile costs
 * nothing, and an adapter freed meanwhile is released by the last answer.
 * With http_timeout set short (20 ms, below what a configuration may say),
 * a request not complete in time gets its 408, an idle connection is
 * closed, and an adapter freed while a 408 goes out leaves nothing.
 * ASan and the allocator's count show what is left behind.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "alloc.h"
#include "http.h"
#include "mem.h"

typedef struct slow_store {
    store base;           /* first: the engine sees a store */
    store *real;          /* the embedded store that answers in the end */
    store_batch *b;       /* the batch held */
    store_done_fn done;
    void *arg;
    int pending;
} slow_store;

/* slow_submit - hold the batch */
static int slow_submit(store *s, store_batch *b, store_done_fn done, void *arg)
{
    slow_store *ss = (slow_store *)s;
    assert_false(ss->pending);
    ss->b = b;
    ss->done = done;
    ss->arg = arg;
    ss->pending = 1;
    return STORE_PENDING;
}
static void slow_stats(store *s, store_stats *o) { store_get_stats(((slow_store *)s)->real, o); }
static void slow_free(store *s) { (void)s; }
static const store_vtab slow_vt = {"slow", slow_submit, NULL, slow_stats, slow_free, NULL};

/* slow_answer - the store answers the batch it holds */
static void slow_answer(slow_store *ss)
{
    assert_true(ss->pending);
    ss->pending = 0;
    assert_int_equal(store_submit(ss->real, ss->b, NULL, NULL), STORE_DONE);
    ss->done(ss->b, ss->arg);
}

static slow_store slow;
static int port;
static uint64_t timeout_ms; /* listen.http_timeout of the next srv_new, 0: the default */

/* srv_new - a server whose adapter listens on a free port */
static server *srv_new(void)
{
    server *s = calloc(1, sizeof *s);
    conf_errors errs = {0};
    char text[1024], err[256];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    snprintf(text, sizeof text,
             "listen = { policy = \"unix:/tmp/unused.sock\"; http = \"tcp:127.0.0.1:%d\"; };\n"
             "rules = ( { name = \"web\"; on = \"http\"; limit = { key = [\"client_address\"]; count = 1; per = \"1h\"; }; } );\n",
             port);
    s->base = event_base_new();
    s->conf = load_text(text, &errs);
    if (!s->conf)
        dump_errors(&errs);
    assert_non_null(s->conf);
    if (timeout_ms)
        s->conf->listen.http_timeout_ms = timeout_ms;
    s->rules = ruleset_ref(s->conf->rules);
    slow.base.vt = &slow_vt;
    slow.real = mem_store_new(&(mem_config){.seed = 5});
    slow.pending = 0;
    s->store = &slow.base;
    s->eng.store = s->store;
    s->http = http_start(s, err, sizeof err);
    if (!s->http)
        fail_msg("http_start: %s", err);
    return s;
}

static void srv_free(server *s)
{
    http_free(s->http);
    ruleset_unref(s->rules);
    store_free(slow.real);
    conf_free(s->conf);
    event_base_free(s->base);
    free(s);
}

/* client - a connected, non-blocking client socket */
static int client(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* spin - turn the loop a few times (it never blocks) */
static void spin(server *s)
{
    for (int i = 0; i < 50; i++)
        event_base_loop(s->base, EVLOOP_NONBLOCK);
}

/* answer_of - turn the loop until the client has a whole answer head; "" if none came */
static const char *answer_of(server *s, int fd)
{
    static char buf[4096];
    size_t got = 0;

    buf[0] = '\0';
    for (int i = 0; i < 2000 && !strstr(buf, "\r\n\r\n"); i++) {
        event_base_loop(s->base, EVLOOP_NONBLOCK);
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n > 0) {
            got += (size_t)n;
            buf[got] = '\0';
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            break;
        }
        usleep(100);
    }
    return buf;
}

#define CHECK(ip) "GET /check/http HTTP/1.1\r\nHost: x\r\nX-Real-IP: " ip "\r\n\r\n"

/* a request waits for the store, and the loop goes on meanwhile; then it is answered */
static void test_answer_later(void **st)
{
    server *s = srv_new();
    int fd = client();
    (void)st;

    assert_int_equal(write(fd, CHECK("192.0.2.1"), strlen(CHECK("192.0.2.1"))), (ssize_t)strlen(CHECK("192.0.2.1")));
    spin(s);
    assert_true(slow.pending);
    assert_string_equal(answer_of(s, fd), ""); /* nothing until the store answers */
    slow_answer(&slow);
    assert_non_null(strstr(answer_of(s, fd), "HTTP/1.1 204"));
    /* the same connection, the limit is full now */
    assert_int_equal(write(fd, CHECK("192.0.2.1"), strlen(CHECK("192.0.2.1"))), (ssize_t)strlen(CHECK("192.0.2.1")));
    spin(s);
    slow_answer(&slow);
    const char *a = answer_of(s, fd);
    assert_non_null(strstr(a, "HTTP/1.1 403"));
    assert_non_null(strstr(a, "X-Floodgate-Reason: web"));
    assert_int_equal(s->met.verdicts[FRONT_HTTP][REQ_HTTP][VERDICT_LIMIT], 1);
    close(fd);
    srv_free(s);
}

/* a client that leaves while its request waits: the answer goes nowhere, nothing leaks */
static void test_client_gone(void **st)
{
    server *s = srv_new();
    int fd = client();
    (void)st;

    assert_int_equal(write(fd, CHECK("192.0.2.2"), strlen(CHECK("192.0.2.2"))), (ssize_t)strlen(CHECK("192.0.2.2")));
    spin(s);
    assert_true(slow.pending);
    close(fd);
    spin(s);
    slow_answer(&slow);
    spin(s);
    assert_int_equal(s->met.http.connections_open, 0);
    /* and the adapter goes on: the next client is answered */
    fd = client();
    assert_int_equal(write(fd, CHECK("192.0.2.3"), strlen(CHECK("192.0.2.3"))), (ssize_t)strlen(CHECK("192.0.2.3")));
    spin(s);
    slow_answer(&slow);
    assert_non_null(strstr(answer_of(s, fd), "HTTP/1.1 204"));
    close(fd);
    srv_free(s);
}

/* the adapter freed (shutdown) while a request waits: the last answer releases it */
static void test_free_while_pending(void **st)
{
    server *s = srv_new();
    int fd = client();
    (void)st;

    assert_int_equal(write(fd, CHECK("192.0.2.4"), strlen(CHECK("192.0.2.4"))), (ssize_t)strlen(CHECK("192.0.2.4")));
    spin(s);
    assert_true(slow.pending);
    http_free(s->http);
    s->http = NULL;
    slow_answer(&slow); /* answers nobody; frees what was left (ASan: no use after free, no leak) */
    close(fd);
    srv_free(s);
}

/* closed_quietly - turn the loop until the server closes fd; 1 if it did without sending anything */
static int closed_quietly(server *s, int fd)
{
    char c;

    for (int i = 0; i < 20000; i++) {
        event_base_loop(s->base, EVLOOP_NONBLOCK);
        ssize_t n = read(fd, &c, 1);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return n == 0;
        usleep(100);
    }
    return 0;
}

/* a request not complete in http_timeout: 408 and closed; an idle connection: closed without a word; the adapter
 * freed while a 408 goes out: nothing left behind (ASan) */
static void test_request_timeout(void **st)
{
    static const char part[] = "GET /check/http HTTP/1.1\r\nHo";
    server *s;
    int fd, idle;
    (void)st;

    timeout_ms = 20;
    s = srv_new();
    timeout_ms = 0;
    idle = client();
    fd = client();
    assert_int_equal(write(fd, part, sizeof part - 1), (ssize_t)sizeof part - 1);
    const char *a = answer_of(s, fd);
    assert_non_null(strstr(a, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_non_null(strstr(a, "Connection: close\r\n"));
    assert_true(closed_quietly(s, fd));
    close(fd);
    assert_true(closed_quietly(s, idle));
    close(idle);
    assert_int_equal(s->met.http.codes[HTTP_CODE_408], 1);
    /* another one times out: the adapter is freed before its 408 is written */
    fd = client();
    assert_int_equal(write(fd, part, sizeof part - 1), (ssize_t)sizeof part - 1);
    for (int i = 0; i < 2000 && s->met.http.codes[HTTP_CODE_408] < 2; i++)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_int_equal(s->met.http.codes[HTTP_CODE_408], 2);
    http_free(s->http);
    s->http = NULL;
    close(fd);
    srv_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_later),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_free_while_pending),
        cmocka_unit_test(test_request_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
