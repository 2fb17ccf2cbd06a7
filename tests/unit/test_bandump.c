/*
 * test_bandump - big bans replies written by a child: `bans format=` and a follower's first list, from
 * BANDUMP_CHILD_MIN bans on
 *
 * A real server context, ban index (bansrv) and event loop, with a socketpair in place of an accepted control
 * connection; the clock is injected. The reply a child writes must be byte for byte the one the loop builds
 * for a small list (bandump_reply, which the small path sends); a follower gets the list, then the events that
 * happened while the child wrote it, in order; every child is reaped. The loop is turned until a condition
 * holds (the reply is whole, the child is reaped), never for a while.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ban.h"
#include "bandump.h"
#include "banpub.h"
#include "bansrv.h"
#include "conn.h"
#include "control.h"
#include "mem.h"

#define NOW 1800000000ull
#define NBANS (BANDUMP_CHILD_MIN + 1234) /* past the threshold: a child writes every reply */
#define NUSERS 7                          /* username bans among them (JSON only) */

static uint64_t fake_mono = 5000000;

static uint64_t read_fake_mono(void)
{
    return fake_mono;
}

static uint64_t read_fake_wall_ms(void)
{
    return NOW * 1000;
}

#define CONF_TEXT "listen = { policy = \"unix:/tmp/unused.sock\"; max_request = 1024; pipeline = 8; };\nrules = ();\n"

/* index_ban - a ban in the real index (which tells its listeners: the followers) */
static void index_ban(server *s, const char *net, uint64_t expires, const char *reason)
{
    ban_rec r;
    const char *why;
    assert_int_equal(ban_parse(net, &r, &why), 0);
    r.reason = reason;
    r.rule = "ssh";
    r.since = NOW - 5;
    r.expires = expires;
    r.times = 2;
    assert_true(ban_add(s->eng.bans, &r) >= 0);
}

/* srv_new - a server with NBANS bans: IPv4 addresses and networks, IPv6, usernames; reasons with quotes,
 * control bytes and UTF-8 */
static server *srv_new(void)
{
    server *s = calloc(1, sizeof *s);
    conf_errors errs = {0};
    char net[64], reason[64];

    s->base = event_base_new();
    s->conf = load_text(CONF_TEXT, &errs);
    if (!s->conf)
        dump_errors(&errs);
    assert_non_null(s->conf);
    s->conf->log_rate = 1; /* not a line per ban (the clock stands still) */
    s->rules = ruleset_ref(s->conf->rules);
    s->store = mem_store_new(&(mem_config){.seed = 3});
    s->eng.store = s->store;
    s->clock.mono = read_fake_mono;
    s->clock.wall = read_fake_wall_ms;
    assert_int_equal(bansrv_start(s), 0);
    for (int i = 0; i < NBANS - NUSERS; i++) {
        if (i % 5 == 4)
            snprintf(net, sizeof net, "2001:db8:%x::/48", i);
        else if (i % 5 == 3)
            snprintf(net, sizeof net, "10.%d.%d.0/24", i >> 8 & 255, i & 255);
        else
            snprintf(net, sizeof net, "192.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        snprintf(reason, sizeof reason, i % 7 ? "r%d \"q\" \\ caf\xc3\xa9" : "r%d\x01\x7f", i);
        index_ban(s, net, i % 11 ? NOW + 60 + (uint64_t)i : 0, reason);
    }
    for (int i = 0; i < NUSERS; i++) {
        ban_rec u;
        snprintf(net, sizeof net, "user%d\"x", i);
        assert_int_equal(ban_user(net, strlen(net), &u), 0);
        u.reason = "guessing";
        u.since = NOW;
        u.expires = NOW + 300;
        u.times = 1;
        assert_true(ban_add(s->eng.bans, &u) >= 0);
    }
    assert_int_equal(ban_count(s->eng.bans), NBANS);
    return s;
}

static void srv_free(server *s)
{
    conn_free_all(s);
    bansrv_stop(s);
    ruleset_unref(s->rules);
    store_free(s->store);
    conf_free(s->conf);
    event_base_free(s->base);
    free(s);
}

/* client - a control connection; its socket buffers small, so a child blocks until the client reads */
static int client(server *s)
{
    int sv[2], small = 4096;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    assert_non_null(conn_new(s, sv[0], 1));
    return sv[1];
}

typedef struct text {
    char *p;
    size_t len, cap;
    int eof;
} text;

/* pump - one step: read what the socket has, else turn the loop once (the child writes, the timer reaps) */
static void pump(server *s, int fd, text *t)
{
    if (t->cap - t->len < 65536) {
        t->cap = t->cap ? t->cap * 2 : 1 << 20;
        t->p = realloc(t->p, t->cap + 1);
        assert_non_null(t->p);
    }
    ssize_t n = read(fd, t->p + t->len, t->cap - t->len);
    if (n == 0)
        t->eof = 1;
    if (n > 0) {
        t->len += (size_t)n;
        t->p[t->len] = '\0';
    } else {
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    }
}

/* read_len - until the text holds n bytes (or EOF) */
static void read_len(server *s, int fd, text *t, size_t n)
{
    for (long spins = 0; spins < 100000000 && t->len < n && !t->eof; spins++)
        pump(s, fd, t);
    if (t->len < n)
        fail_msg("%zu bytes read of %zu (eof %d)", t->len, n, t->eof);
}

/* read_has - until the text holds want */
static void read_has(server *s, int fd, text *t, const char *want)
{
    size_t from = 0, wl = strlen(want);
    for (long spins = 0; spins < 100000000 && !t->eof; spins++) {
        if (t->len && strstr(t->p + from, want))
            break;
        from = t->len > wl ? t->len - wl : 0; /* not found before: look at what comes next only */
        pump(s, fd, t);
    }
    if (!t->len || !strstr(t->p, want))
        fail_msg("the reply does not hold %s (%zu bytes read, eof %d)", want, t->len, t->eof);
}

/* read_eof - until the stream ends */
static void read_eof(server *s, int fd, text *t)
{
    for (long spins = 0; spins < 100000000 && !t->eof; spins++)
        pump(s, fd, t);
    assert_true(t->eof);
}

/* expected - what the loop sends for kind (the small path), as a string */
static char *expected(server *s, int kind, size_t *len)
{
    struct evbuffer *b = evbuffer_new();
    bandump_reply(s->pub, kind, b);
    *len = evbuffer_get_length(b);
    char *p = malloc(*len + 1);
    evbuffer_remove(b, p, *len);
    p[*len] = '\0';
    evbuffer_free(b);
    return p;
}

/* wait_forked - turn the loop until n children were started (the request was read and handled) */
static void wait_forked(server *s, uint64_t n)
{
    for (long spins = 0; spins < 10000000 && bandump_get_stats(s->dump).forked < n; spins++)
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    assert_int_equal(bandump_get_stats(s->dump).forked, n);
}

/* reap_all - turn the loop until no child runs; then no child of ours is left, not even a zombie */
static void reap_all(server *s)
{
    while (bandump_running(s->dump))
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* json_value - a minimal JSON checker: skips one value at *p; 0 when it is not valid JSON */
static int json_value(const char **p, size_t *objects)
{
    const char *q = *p;
    while (*q == ' ' || *q == '\n')
        q++;
    if (*q == '"') {
        for (q++; *q != '"'; q++) {
            if ((unsigned char)*q < 0x20)
                return 0;
            if (*q == '\\') {
                q++;
                if (*q == 'u') {
                    for (int i = 1; i <= 4; i++)
                        if (!strchr("0123456789abcdefABCDEF", q[i]) || !q[i])
                            return 0;
                    q += 4;
                } else if (!*q || !strchr("\"\\/bfnrt", *q)) {
                    return 0;
                }
            }
        }
        q++;
    } else if (*q == '-' || (*q >= '0' && *q <= '9')) {
        strtod(q, (char **)&q);
    } else if (*q == '[' || *q == '{') {
        char close = *q == '[' ? ']' : '}';
        if (close == '}')
            (*objects)++;
        for (q++;;) {
            while (*q == ' ' || *q == '\n')
                q++;
            if (*q == close)
                break;
            if (close == '}') {
                if (*q != '"' || !json_value(&q, objects))
                    return 0;
                if (*q++ != ':')
                    return 0;
            }
            if (!json_value(&q, objects))
                return 0;
            while (*q == ' ' || *q == '\n')
                q++;
            if (*q == ',')
                q++;
            else if (*q != close)
                return 0;
        }
        q++;
    } else {
        return 0;
    }
    while (*q == ' ' || *q == '\n')
        q++;
    *p = q;
    return 1;
}

/* every format, asked on one connection between two other commands: each reply is the small path's, byte
 * for byte, complete (count= lines), in request order; the JSON parses and holds every ban */
static void test_formats(void **st)
{
    (void)st;
    server *s = srv_new();
    int fd = client(s);

    for (int f = BANEXPORT_NFT; f <= BANEXPORT_JSON; f++) {
        char req[128];
        size_t wlen;
        text t = {0};
        char *want = expected(s, f, &wlen);
        uint64_t forked = bandump_get_stats(s->dump).forked;
        snprintf(req, sizeof req, "command=version\n\ncommand=bans\nformat=%s\n\ncommand=version\n\n",
                 banexport_format_name(f));
        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        /* version, the dump, version: the whole is known, so read that many bytes and no more come */
        const char *v1 = "status=ok\nversion=" FLOODGATE_VERSION "\n\n";
        size_t vlen = strlen(v1);
        read_len(s, fd, &t, vlen + wlen + vlen);
        assert_int_equal(t.len, vlen + wlen + vlen);
        assert_memory_equal(t.p, v1, vlen);
        const char *dump = t.p + vlen;
        if (memcmp(dump, want, wlen))
            fail_msg("format %s: the child's reply differs from the loop's", banexport_format_name(f));
        assert_memory_equal(dump + wlen, v1, vlen);
        assert_int_equal(bandump_get_stats(s->dump).forked, forked + 1);

        /* complete: as many line[]= as count= says */
        size_t lines = 0, count = 0;
        const char *c = strstr(dump, "\ncount=");
        assert_non_null(c);
        count = strtoul(c + 7, NULL, 10);
        for (const char *l = dump; (l = strstr(l, "\nline[]=")) && l < dump + wlen; l++)
            lines++;
        assert_int_equal(lines, count);
        if (f == BANEXPORT_PLAIN)
            assert_int_equal(lines, NBANS - NUSERS);
        if (f == BANEXPORT_JSON) {
            /* the lines joined are one JSON array holding an object per ban */
            char *json = malloc(wlen), *o = json;
            for (const char *l = dump; (l = strstr(l, "\nline[]=")) && l < dump + wlen;) {
                l += 8;
                size_t n = strcspn(l, "\n");
                memcpy(o, l, n);
                o += n;
                *o++ = '\n';
            }
            *o = '\0';
            const char *p = json;
            size_t objects = 0;
            assert_true(json_value(&p, &objects));
            assert_int_equal(*p, '\0');
            assert_int_equal(objects, NBANS);
            free(json);
        }
        free(want);
        free(t.p);
    }
    close(fd);
    reap_all(s);
    assert_int_equal(bandump_get_stats(s->dump).failed, 0);
    srv_free(s);
}

/* a follower that reads nothing while its list is written: the bans, unbans and expiries of that time reach
 * it after the list and "synced N", in order, none lost; text and JSON */
static void test_follow(void **st)
{
    (void)st;
    for (int json = 0; json <= 1; json++) {
        server *s = srv_new();
        int fd = client(s);
        size_t wlen;
        text t = {0};
        const char *req = json ? "command=bans\nfollow=yes\njson=yes\n\n" : "command=bans\nfollow=yes\n\n";
        char *want = expected(s, json ? BANDUMP_FOLLOW_JSON : BANDUMP_FOLLOW, &wlen);

        assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
        wait_forked(s, 1);
        /* the list is far larger than the socket's buffers: the child is blocked on them until we read */
        assert_true(wlen > 200000);
        assert_int_equal(bandump_running(s->dump), 1);
        index_ban(s, "198.51.100.7", NOW + 100, "during");
        ban_rec k;
        const char *why;
        assert_int_equal(ban_parse("192.0.0.0", &k, &why), 0);
        assert_int_equal(ban_remove(s->eng.bans, &k), 0);
        assert_int_equal(ban_expire(s->eng.bans, NOW + 70), 10); /* i = 1..10: those past NOW + 70 stay */
        assert_int_equal(bandump_running(s->dump), 1);

        index_ban(s, "198.51.100.8", NOW + 30, "last");
        read_has(s, fd, &t, json ? "\"network\":\"198.51.100.8\"" : "ban 198.51.100.8 ");
        /* its line whole */
        size_t at = (size_t)(strstr(t.p, json ? "\"network\":\"198.51.100.8\"" : "ban 198.51.100.8 ") - t.p);
        while (!strchr(t.p + at, '\n') && !t.eof)
            pump(s, fd, &t);
        if (t.len < wlen || memcmp(t.p, want, wlen))
            fail_msg("the follower's list differs from the loop's (%zu bytes of %zu)", t.len, wlen);
        /* then the events of that time, in order: the ban, the unban, ten expiries (in the index's order), the
         * last ban */
        static const char *const expired[] = {"192.0.0.1",       "192.0.0.2", "10.0.3.0/24", "2001:db8:4::/48",
                                              "192.0.0.5",       "192.0.0.6", "192.0.0.7",   "10.0.8.0/24",
                                              "2001:db8:9::/48", "192.0.0.10"};
        char line[256];
        const char *ev = t.p + wlen;
        if (json)
            snprintf(line, sizeof line, "{\"event\":\"ban\",\"network\":\"198.51.100.7\",\"reason\":\"during\","
                                        "\"rule\":\"ssh\",\"since\":1799999995,\"expires\":1800000100,"
                                        "\"remaining\":100,\"times\":2}\n");
        else
            snprintf(line, sizeof line, "ban 198.51.100.7 expires=1800000100 duration=100 times=2 rule=\"ssh\" "
                                        "reason=\"during\"\n");
        assert_memory_equal(ev, line, strlen(line));
        ev += strlen(line);
        snprintf(line, sizeof line, json ? "{\"event\":\"unban\",\"network\":\"192.0.0.0\"," : "unban 192.0.0.0\n");
        assert_memory_equal(ev, line, strlen(line));
        ev = strchr(ev, '\n') + 1;
        for (int i = 0; i < 10; i++) {
            int hit = 0;
            for (int j = 0; j < 10; j++) {
                if (json)
                    snprintf(line, sizeof line, "{\"event\":\"expire\",\"network\":\"%s\",", expired[j]);
                else
                    snprintf(line, sizeof line, "expire %s\n", expired[j]);
                hit |= !strncmp(ev, line, strlen(line));
            }
            if (!hit)
                fail_msg("event %d after the list is not an expiry of the ten: %.80s", i + 3, ev);
            ev = strchr(ev, '\n') + 1;
        }
        assert_non_null(strstr(ev, json ? "{\"event\":\"ban\",\"network\":\"198.51.100.8\"" : "ban 198.51.100.8 "));
        assert_ptr_equal(ev + strlen(ev), strchr(ev, '\n') + 1); /* the last line: nothing lost, nothing more */
        reap_all(s);
        assert_int_equal(bandump_get_stats(s->dump).failed, 0);
        /* and it follows on, from the loop now */
        assert_int_equal(ban_parse("198.51.100.7", &k, &why), 0);
        assert_int_equal(ban_remove(s->eng.bans, &k), 0);
        read_has(s, fd, &t, json ? "{\"event\":\"unban\",\"network\":\"198.51.100.7\"" : "unban 198.51.100.7\n");
        free(want);
        free(t.p);
        close(fd);
        srv_free(s);
    }
}

/* a follower that does not keep up with the events while its list is written is dropped as any: its child is
 * killed and reaped, the client sees the stream end; the server goes on */
static void test_follow_dropped(void **st)
{
    (void)st;
    server *s = srv_new();
    int fd = client(s);
    text t = {0};
    const char *req = "command=bans\nfollow=yes\n\n";
    char net[64];

    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    wait_forked(s, 1);
    for (int i = 0; i < 60000 && s->st.followers_dropped == 0; i++) {
        snprintf(net, sizeof net, "172.16.%d.%d", i >> 8 & 255, i & 255);
        index_ban(s, net, 0, "a reason long enough to pass the follower's bound sooner than later");
    }
    assert_int_equal(s->st.followers_dropped, 1);
    assert_int_equal(s->ncontrol, 0);
    reap_all(s);
    assert_int_equal(bandump_get_stats(s->dump).failed, 1);
    read_eof(s, fd, &t); /* a part of the list, then the end */
    close(fd);
    free(t.p);
    srv_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_follow),
        cmocka_unit_test(test_follow_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
