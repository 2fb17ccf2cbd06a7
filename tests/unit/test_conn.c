/*
 * test_conn - connections: pipelining, partial reads, bad input, limits
 *
 * A real server context and event loop, with socketpairs in place of
 * accepted sockets; the loop is turned by hand until the answer is there.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conn.h"
#include "mem.h"

#define CONF_TEXT                                                                                       \
    "listen = { policy = \"unix:/tmp/unused.sock\"; max_request = 1024; pipeline = 8; };\n"           \
    "rules = (\n"                                                                                     \
    "  { name = \"echo\"; on = \"auth\"; if = { username = \"!\"; }; action = \"REJECT user $username\"; },\n" \
    "  { name = \"lim\"; on = \"smtp:RCPT\"; limit = { key = \"sender\"; count = 2; per = \"1h\"; }; }\n" \
    ");\n"

static server *srv_new(void)
{
    server *s = calloc(1, sizeof *s);
    conf_errors errs = {0};

    s->base = event_base_new();
    s->conf = load_text(CONF_TEXT, &errs);
    if (!s->conf)
        dump_errors(&errs);
    assert_non_null(s->conf);
    s->rules = ruleset_ref(s->conf->rules);
    s->store = mem_store_new(&(mem_config){.seed = 3});
    s->eng.store = s->store;
    return s;
}

static void srv_free(server *s)
{
    conn_free_all(s);
    ruleset_unref(s->rules);
    store_free(s->store);
    conf_free(s->conf);
    event_base_free(s->base);
    free(s);
}

/* client - a connection to the server; returns the client's end */
static int client(server *s, int control)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    assert_non_null(conn_new(s, sv[0], control));
    return sv[1];
}

/* send_all - write everything (the server side is drained by turning the loop) */
static void send_all(server *s, int fd, const char *data, size_t len)
{
    size_t off = 0;
    for (int spins = 0; off < len && spins < 100000; spins++) {
        ssize_t n = write(fd, data + off, len - off);
        if (n > 0)
            off += (size_t)n;
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(off, len);
}

/* collect - turn the loop until `replies` replies (or EOF) arrived; returns the bytes (static) */
static const char *collect(server *s, int fd, int replies, int *eof)
{
    static char buf[1 << 16];
    size_t len = 0;
    int got = 0;

    *eof = 0;
    for (int spins = 0; spins < 100000 && got < replies && !*eof; spins++) {
        event_base_loop(s->base, EVLOOP_NONBLOCK);
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n == 0)
            *eof = 1;
        if (n > 0) {
            len += (size_t)n;
            buf[len] = '\0';
            got = 0;
            for (const char *p = buf; (p = strstr(p, "\n\n")) != NULL; p += 2)
                got++;
        }
    }
    buf[len] = '\0';
    return buf;
}

/* many requests in one write are answered in order */
static void test_pipelined_in_order(void **st)
{
    server *s = srv_new();
    int fd = client(s, 0), eof;
    char req[64 * 40], want[64 * 40];
    size_t rl = 0, wl = 0;
    (void)st;

    for (int i = 0; i < 40; i++) {
        rl += (size_t)sprintf(req + rl, "request=auth\nusername=u%d\n\n", i);
        wl += (size_t)sprintf(want + wl, "action=REJECT user u%d\nreason=echo\n\n", i);
    }
    send_all(s, fd, req, rl);
    assert_string_equal(collect(s, fd, 40, &eof), want);
    close(fd);
    srv_free(s);
}

/* a request that arrives one byte at a time is answered once */
static void test_byte_at_a_time(void **st)
{
    server *s = srv_new();
    int fd = client(s, 0), eof;
    const char *req = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b\n\n";
    (void)st;

    for (size_t i = 0; req[i]; i++)
        send_all(s, fd, req + i, 1);
    assert_string_equal(collect(s, fd, 1, &eof), "action=DUNNO\n\n");
    close(fd);
    srv_free(s);
}

/* garbage is answered, counted, and the connection goes on */
static void test_garbage_answered(void **st)
{
    server *s = srv_new();
    int fd = client(s, 0), eof;
    const char *req = "this is not a policy request\n\nclient_address=1.2.3.4\n\nrequest=auth\nusername=ok\n\n";
    (void)st;

    send_all(s, fd, req, strlen(req));
    const char *got = collect(s, fd, 3, &eof);
    assert_string_equal(got, "action=DEFER_IF_PERMIT 4.3.0 Policy request error: a line without '='\n\n"
                             "action=DEFER_IF_PERMIT 4.3.0 Policy request error: no request= attribute\n\n"
                             "action=REJECT user ok\nreason=echo\n\n");
    assert_int_equal(eof, 0);
    assert_int_equal(s->st.bad_requests, 2);
    close(fd);
    srv_free(s);
}

/* a request over the size limit is answered and its connection closed; another connection does not notice */
static void test_too_large(void **st)
{
    server *s = srv_new();
    int bad = client(s, 0), good = client(s, 0), eof;
    char big[3000];
    (void)st;

    memset(big, 'x', sizeof big);
    memcpy(big, "request=auth\nusername=", 22);
    send_all(s, bad, big, sizeof big);
    const char *got = collect(s, bad, 1, &eof);
    assert_string_equal(got, "action=DEFER_IF_PERMIT 4.3.0 Policy request error: request too large\n\n");
    collect(s, bad, 2, &eof);
    assert_int_equal(eof, 1);
    assert_int_equal(s->st.too_large, 1);
    send_all(s, good, "request=auth\nusername=fine\n\n", 29);
    assert_string_equal(collect(s, good, 1, &eof), "action=REJECT user fine\nreason=echo\n\n");
    assert_int_equal(s->nconns, 1);
    close(bad);
    close(good);
    srv_free(s);
}

/* a client that half-closes still gets the answers to what it sent */
static void test_half_close(void **st)
{
    server *s = srv_new();
    int fd = client(s, 0), eof;
    (void)st;

    send_all(s, fd, "request=auth\nusername=a\n\nrequest=auth\nusername=b\n\nrequest=auth\nuser", 67);
    shutdown(fd, SHUT_WR);
    const char *got = collect(s, fd, 3, &eof);
    assert_string_equal(got, "action=REJECT user a\nreason=echo\n\naction=REJECT user b\nreason=echo\n\n");
    assert_int_equal(eof, 1);
    assert_int_equal(s->nconns, 0);
    close(fd);
    srv_free(s);
}

/* more pipelined requests than the pipeline holds: reading pauses, nothing is lost */
static void test_pipeline_limit(void **st)
{
    server *s = srv_new();
    int fd = client(s, 0), eof;
    char req[64 * 200];
    size_t rl = 0;
    (void)st;

    for (int i = 0; i < 200; i++)
        rl += (size_t)sprintf(req + rl, "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=s%d@x\n\n", i % 50);
    send_all(s, fd, req, rl);
    const char *got = collect(s, fd, 200, &eof);
    int dunno = 0, defer = 0;
    for (const char *p = got; (p = strstr(p, "action=")) != NULL; p += 7) {
        dunno += !strncmp(p, "action=DUNNO", 12);
        defer += !strncmp(p, "action=DEFER_IF_PERMIT 4.7.1 Rate limit", 39);
    }
    /* each of 50 senders sent 4: 2 pass, 2 are refused */
    assert_int_equal(dunno, 100);
    assert_int_equal(defer, 100);
    close(fd);
    srv_free(s);
}

/* the control socket answers commands and policy queries alike */
static void test_control(void **st)
{
    server *s = srv_new();
    int fd = client(s, 1), eof;
    (void)st;

    send_all(s, fd, "command=stats\n\nrequest=auth\nusername=c\n\ncommand=nope\n\n", 54);
    const char *got = collect(s, fd, 3, &eof);
    assert_non_null(strstr(got, "status=ok\nversion="));
    assert_non_null(strstr(got, "\nrule.echo.matched=0\n"));
    assert_non_null(strstr(got, "action=REJECT user c\nreason=echo\n\n"));
    assert_non_null(strstr(got, "status=error\nmessage=unknown command"));
    close(fd);
    srv_free(s);
}

/* a command and then a policy query on one control connection, one slot reused for both */
static void test_control_then_policy(void **st)
{
    server *s = srv_new();
    int eof;
    (void)st;

    s->conf->listen.pipeline = 1;
    int fd = client(s, 1);
    send_all(s, fd, "command=version\n\n", 17);
    assert_non_null(strstr(collect(s, fd, 1, &eof), "status=ok\nversion="));
    send_all(s, fd, "request=auth\nusername=z\n\n", strlen("request=auth\nusername=z\n\n"));
    assert_string_equal(collect(s, fd, 1, &eof), "action=REJECT user z\nreason=echo\n\n");
    close(fd);
    srv_free(s);
}

/* connect_to - a client of a unix socket */
static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%.100s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* at max_connections accepting pauses; a client waits in the backlog and is served when one leaves */
static void test_max_connections(void **st)
{
    server *s = srv_new();
    char path[300], err[256];
    int fds[3], eof;
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("max.sock", ""));
    unlink(path);
    s->conf->listen.max_connections = 2;
    s->listeners = calloc(1, sizeof *s->listeners);
    char addr[320];
    snprintf(addr, sizeof addr, "unix:%s", path);
    assert_int_equal(listener_open(s, addr, 0, 0600, NULL, &s->listeners[0], err, sizeof err), 0);
    s->nlisteners = 1;
    for (int i = 0; i < 3; i++)
        fds[i] = connect_to(path);
    for (int i = 0; i < 100; i++)
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    assert_int_equal(s->nconns, 2);
    assert_int_equal(s->st.connections_paused, 1);
    send_all(s, fds[2], "request=auth\nusername=waiting\n\n", 31);
    /* not served while the two others are open */
    assert_string_equal(collect(s, fds[2], 1, &eof), "");
    close(fds[0]);
    assert_string_equal(collect(s, fds[2], 1, &eof), "action=REJECT user waiting\nreason=echo\n\n");
    assert_int_equal(s->st.connections, 3);
    close(fds[1]);
    close(fds[2]);
    listener_close(&s->listeners[0]);
    free(s->listeners);
    s->listeners = NULL;
    s->nlisteners = 0;
    srv_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_in_order),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_garbage_answered),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_pipeline_limit),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_control_then_policy),
        cmocka_unit_test(test_max_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
