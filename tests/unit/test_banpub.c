/*
 * test_banpub - publishing the bans: the export file, bans --follow over the control socket, the hooks
 *
 * The ban index is a fake here (an array the test edits, then reports with banpub_changed, as ban.c's
 * ban_on_change callback does); the clock is injected. A real server context and event loop, with a
 * socketpair in place of an accepted control connection; the loop is turned until a condition holds
 * (the file has the new content, a line arrived, the hooks finished), never for a while.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "ban.h"
#include "banpub.h"
#include "bansrv.h"
#include "conn.h"
#include "control.h"
#include "mem.h"
#include "metrics.h"

#define NOW 1800000000ull

static banexport_rec bans[8];
static size_t nbans;
static uint64_t fake_wall = NOW;
static uint64_t fake_mono = 5000000;

static uint64_t read_fake_mono(void)
{
    return fake_mono;
}

static uint64_t read_fake_wall_ms(void)
{
    return fake_wall * 1000;
}

/* fake_foreach - the "index" */
static void fake_foreach(void *ctx, banpub_rec_fn fn, void *arg)
{
    (void)ctx;
    for (size_t i = 0; i < nbans; i++)
        fn(&bans[i], arg);
}

static uint64_t fake_wall_fn(void *ctx)
{
    (void)ctx;
    return fake_wall;
}

/* push_to_conns - the server's followers */
static void push_to_conns(void *ctx, const char *t, size_t tl, const char *j, size_t jl)
{
    conn_follow_push(ctx, t, tl, j, jl);
}

/* ban - add to the fake index and report it */
static banexport_rec *ban(banpub *p, const char *addr, unsigned prefix, uint64_t expires, const char *reason)
{
    banexport_rec *r = &bans[nbans++];
    memset(r, 0, sizeof *r);
    r->family = strchr(addr, ':') ? 6 : 4;
    inet_pton(r->family == 4 ? AF_INET : AF_INET6, addr, r->bytes);
    r->prefix = (uint8_t)prefix;
    r->reason = reason;
    r->rule = "ssh";
    r->since = fake_wall;
    r->expires = expires;
    r->times = 1;
    if (p)
        banpub_changed(p, BANEXPORT_BAN, r);
    return r;
}

/* unban - remove bans[i] and report it as ev */
static void unban(banpub *p, size_t i, int ev)
{
    banexport_rec r = bans[i];
    bans[i] = bans[--nbans];
    banpub_changed(p, ev, &r);
}

#define CONF_TEXT "listen = { policy = \"unix:/tmp/unused.sock\"; max_request = 1024; pipeline = 8; };\nrules = ();\n"

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
    s->clock.mono = read_fake_mono;
    return s;
}

static void srv_free(server *s)
{
    conn_free_all(s);
    banpub_free(s->pub);
    ruleset_unref(s->rules);
    store_free(s->store);
    conf_free(s->conf);
    event_base_free(s->base);
    free(s);
}

/* file_text - a file's content (static), "" when absent */
static const char *file_text(const char *path)
{
    static char buf[16384];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/* the export file follows every change, written whole by a child, within the coalescing delay */
static void test_export_file(void **st)
{
    (void)st;
    server *s = srv_new();
    char path[512];
    snprintf(path, sizeof path, "%s", write_temp("bans.nft", "old\n"));
    banpub_conf conf = {.export_format = BANEXPORT_PLAIN, .export_path = path};
    banpub_env env = {fake_foreach, fake_wall_fn, NULL, s};
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    assert_non_null(s->pub);

    ban(s->pub, "192.0.2.1", 32, NOW + 60, "r");
    ban(s->pub, "2001:db8::", 32, 0, "r");
    while (banpub_get_stats(s->pub).exports < 1)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_string_equal(file_text(path), "192.0.2.1\n2001:db8::/32\n");
    unban(s->pub, 0, BANEXPORT_UNBAN);
    while (banpub_get_stats(s->pub).exports < 2)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_string_equal(file_text(path), "2001:db8::/32\n");
    assert_int_equal(banpub_get_stats(s->pub).export_failures, 0);
    srv_free(s);
}

/* a reload that moves bans.export.path removes the old file when it is still the one we wrote, and never a
 * file someone else put there since */
static void test_export_moved(void **st)
{
    (void)st;
    server *s = srv_new();
    char a[512], b[512], other[512];
    snprintf(a, sizeof a, "%s", write_temp("moved-a.txt", "stale\n"));
    snprintf(b, sizeof b, "%s", write_temp("moved-b.txt", "stale\n"));
    banpub_conf conf = {.export_format = BANEXPORT_PLAIN, .export_path = a};
    banpub_env env = {fake_foreach, fake_wall_fn, NULL, s};
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    assert_non_null(s->pub);
    ban(s->pub, "192.0.2.1", 32, 0, "r");
    while (banpub_get_stats(s->pub).exports < 1)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_string_equal(file_text(a), "192.0.2.1\n");

    /* moved: the old file goes, the new one is written */
    conf.export_path = b;
    assert_int_equal(banpub_reconfigure(s->pub, &conf), 1);
    while (banpub_get_stats(s->pub).exports < 2)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_string_equal(file_text(b), "192.0.2.1\n");
    assert_int_equal(access(a, F_OK), -1);
    assert_int_equal(errno, ENOENT);

    /* an admin renames a file of their own over ours: moving the export back leaves it */
    snprintf(other, sizeof other, "%s", write_temp("admin.txt", "the admin's\n"));
    assert_int_equal(rename(other, b), 0);
    conf.export_path = a;
    assert_int_equal(banpub_reconfigure(s->pub, &conf), 1);
    while (banpub_get_stats(s->pub).exports < 3)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_string_equal(file_text(a), "192.0.2.1\n");
    assert_string_equal(file_text(b), "the admin's\n");
    assert_int_equal(banpub_get_stats(s->pub).export_failures, 0);
    srv_free(s);
}

/* a control connection: send one request */
static int client(server *s)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    assert_non_null(conn_new(s, sv[0], 1));
    return sv[1];
}

/* read_until - turn the loop and read until the text holds want (returns it, static) or EOF */
static const char *read_until(server *s, int fd, const char *want, int *eof)
{
    static char buf[1 << 16];
    static size_t len;
    if (!want) {
        len = 0;
        return NULL;
    }
    *eof = 0;
    buf[len] = '\0';
    for (int spins = 0; spins < 200000 && !strstr(buf, want) && !*eof; spins++) {
        event_base_loop(s->base, EVLOOP_NONBLOCK);
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n == 0)
            *eof = 1;
        if (n > 0) {
            len += (size_t)n;
            buf[len] = '\0';
        }
    }
    return buf;
}

/* --follow: the current bans, synced, then a ban, an unban and an expiry as they happen; a hostile
 * reason stays inside its quotes; the format command answers line[]= fields */
static void test_follow(void **st)
{
    (void)st;
    server *s = srv_new();
    banpub_conf conf = {.export_format = -1};
    banpub_env env = {fake_foreach, fake_wall_fn, push_to_conns, s};
    int eof;
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    ban(NULL, "198.51.100.0", 24, 0, "old");

    int fd = client(s);
    const char *req = "command=bans\nfollow=yes\n\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fd, NULL, &eof);
    const char *got = read_until(s, fd, "synced 1\n", &eof);
    assert_string_equal(got, "status=ok\n\nban 198.51.100.0/24 expires=0 duration=forever times=1 rule=\"ssh\" "
                             "reason=\"old\"\nsynced 1\n");
    /* what a follower writes later is not a request: it is dropped, the stream goes on */
    assert_int_equal(write(fd, "command=stats\n\n", 15), 15);
    ban(s->pub, "192.0.2.7", 32, NOW + 30, "x\"\nunban 1.2.3.4");
    unban(s->pub, 0, BANEXPORT_UNBAN);
    fake_wall = NOW + 30;
    unban(s->pub, 0, BANEXPORT_EXPIRE);
    got = read_until(s, fd, "expire 192.0.2.7\n", &eof);
    assert_false(eof);
    assert_string_equal(strstr(got, "synced 1\n") + 9,
                        "ban 192.0.2.7 expires=1800000030 duration=30 times=1 rule=\"ssh\" "
                        "reason=\"x\\\"\\u000aunban 1.2.3.4\"\n"
                        "unban 198.51.100.0/24\n"
                        "expire 192.0.2.7\n");
    fake_wall = NOW;

    /* a second, JSON follower and a format request on the same server */
    int fj = client(s);
    req = "command=bans\nfollow=yes\njson=yes\n\n";
    assert_int_equal(write(fj, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fj, NULL, &eof);
    got = read_until(s, fj, "\"synced\"", &eof);
    assert_string_equal(got, "status=ok\n\n{\"event\":\"synced\",\"count\":0}\n");
    ban(s->pub, "2001:db8::1", 128, 0, "j");
    read_until(s, fj, NULL, &eof);
    got = read_until(s, fj, "}\n", &eof);
    assert_string_equal(got, "{\"event\":\"ban\",\"network\":\"2001:db8::1\",\"reason\":\"j\",\"rule\":\"ssh\","
                             "\"since\":1800000000,\"expires\":0,\"remaining\":0,\"times\":1}\n");

    int fq = client(s);
    req = "command=bans\nformat=ipset\n\n";
    assert_int_equal(write(fq, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fq, NULL, &eof);
    got = read_until(s, fq, "\n\n", &eof);
    assert_string_equal(got, "status=ok\nformat=ipset\ncount=5\n"
                             "line[]=create floodgate_v4 hash:net family inet timeout 0 maxelem 1048576 -exist\n"
                             "line[]=create floodgate_v6 hash:net family inet6 timeout 0 maxelem 1048576 -exist\n"
                             "line[]=flush floodgate_v4\nline[]=flush floodgate_v6\n"
                             "line[]=add floodgate_v6 2001:db8::1 timeout 0 -exist\n\n");
    close(fd);
    close(fj);
    close(fq);
    srv_free(s);
}

/* a follower that does not read is dropped once its backlog passes CONN_FOLLOW_MAX; the others and the
 * daemon go on */
static void test_slow_follower(void **st)
{
    (void)st;
    server *s = srv_new();
    banpub_conf conf = {.export_format = -1};
    banpub_env env = {fake_foreach, fake_wall_fn, push_to_conns, s};
    int eof;
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    int fd = client(s);
    const char *req = "command=bans\nfollow=yes\n\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fd, NULL, &eof);
    read_until(s, fd, "synced 0\n", &eof);
    banexport_rec r = *ban(NULL, "192.0.2.1", 32, 0, "a reason long enough to fill the socket buffer sooner");
    nbans = 0;
    int i;
    for (i = 0; i < 100000 && s->st.followers_dropped == 0; i++) {
        banpub_changed(s->pub, BANEXPORT_BAN, &r);
        event_base_loop(s->base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(s->st.followers_dropped, 1);
    assert_int_equal(s->ncontrol, 0);
    /* the client sees the end of the stream once it reads what was sent */
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ;
    assert_int_equal(n, 0);
    close(fd);
    srv_free(s);
}

/* on_ban gets $address, $reason, $duration; on_unban runs for an unban and for an expiry */
static void test_hooks(void **st)
{
    (void)st;
    server *s = srv_new();
    char script[512], out_ban[600], out_unban[600];
    snprintf(script, sizeof script, "%s",
             write_temp("hook.sh", "#!/bin/sh\nout=$1\nshift\nprintf '%s\\0' \"$@\" >> \"$out\"\n"));
    chmod(script, 0755);
    snprintf(out_ban, sizeof out_ban, "%s.ban", script);
    snprintf(out_unban, sizeof out_unban, "%s.unban", script);
    const char *on_ban[] = {script, out_ban, "$address", "$reason", "$duration", NULL};
    const char *on_unban[] = {script, out_unban, "$address", NULL};
    banpub_conf conf = {.export_format = -1, .on_ban = on_ban, .on_unban = on_unban, .hooks_running = 1,
                        .hooks_queued = 8};
    banpub_env env = {fake_foreach, fake_wall_fn, NULL, s};
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    ban(s->pub, "192.0.2.9", 32, NOW + 600, "it's; $(reboot)");
    unban(s->pub, 0, BANEXPORT_UNBAN);
    ban(s->pub, "10.0.0.0", 8, 0, "");
    unban(s->pub, 0, BANEXPORT_EXPIRE);
    while (banpub_get_stats(s->pub).hooks.finished < 4)
        event_base_loop(s->base, EVLOOP_ONCE);
    FILE *f = fopen(out_ban, "rb");
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char want[] = "192.0.2.9\0it's; $(reboot)\0" "600\0" "10.0.0.0/8\0\0forever";
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    f = fopen(out_unban, "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char want_unban[] = "192.0.2.9\0" "10.0.0.0/8";
    assert_int_equal(n, sizeof want_unban);
    assert_memory_equal(buf, want_unban, n);
    srv_free(s);
}

/* a burst beyond hooks_max running and the queue is dropped and counted (and logged at powers of two only);
 * what ran is collected */
static void test_hooks_dropped(void **st)
{
    (void)st;
    server *s = srv_new();
    const char *on_ban[] = {"/bin/true", "$address", NULL};
    banpub_conf conf = {.export_format = -1, .on_ban = on_ban, .hooks_running = 1, .hooks_queued = 2};
    banpub_env env = {fake_foreach, fake_wall_fn, NULL, s};
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    for (int i = 0; i < 100; i++) {
        ban(s->pub, "192.0.2.1", 32, 0, "burst");
        nbans = 0;
    }
    banpub_stats bs = banpub_get_stats(s->pub);
    assert_int_equal(bs.hooks.started, 1);
    assert_int_equal(bs.hooks.queued, 2);
    assert_int_equal(bs.hooks.dropped, 97);
    while (banpub_get_stats(s->pub).hooks.finished < 3)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_int_equal(banpub_get_stats(s->pub).hooks.failed, 0);
    srv_free(s);
}

/* a hook killed at bans.hooks_timeout is counted where the admin looks: floodgatectl stats and /metrics, beside
 * the other hook counters (and in failed, as before) */
static void test_hook_killed_shown(void **st)
{
    (void)st;
    server *s = srv_new();
    const char *on_ban[] = {"/bin/sleep", "30", NULL};
    banpub_conf conf = {.export_format = -1, .on_ban = on_ban, .hooks_running = 1, .hooks_queued = 2,
                        .hooks_timeout_ms = 100};
    banpub_env env = {fake_foreach, fake_wall_fn, NULL, s};
    nbans = 0;
    s->pub = banpub_new(s->base, &conf, &env);
    ban(s->pub, "192.0.2.1", 32, 0, "hangs");
    while (banpub_get_stats(s->pub).hooks.finished < 1)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_int_equal(banpub_get_stats(s->pub).hooks.killed, 1);
    struct evbuffer *out = evbuffer_new();
    metrics_stats(s, out);
    evbuffer_add(out, "", 1);
    const char *text = (const char *)evbuffer_pullup(out, -1);
    assert_non_null(strstr(text, "\nban_hooks_failed=1\n"));
    assert_non_null(strstr(text, "\nban_hooks_killed=1\n"));
    evbuffer_drain(out, evbuffer_get_length(out));
    metrics_prometheus(s, out);
    evbuffer_add(out, "", 1);
    text = (const char *)evbuffer_pullup(out, -1);
    assert_non_null(strstr(text, "\n# TYPE floodgate_ban_hooks_killed_total counter\nfloodgate_ban_hooks_killed_total 1\n"));
    evbuffer_free(out);
    srv_free(s);
}

/* index_ban - a ban in the real index (which tells its listeners) */
static void index_ban(struct ban_index *bi, const char *net, uint64_t expires, const char *reason)
{
    ban_rec r;
    const char *why;
    assert_int_equal(ban_parse(net, &r, &why), 0);
    r.reason = reason;
    r.rule = "ssh";
    r.since = fake_wall;
    r.expires = expires;
    r.times = 1;
    assert_true(ban_add(bi, &r) >= 0);
}

/* wait_exports - turn the loop until n export files were written */
static void wait_exports(server *s, uint64_t n)
{
    while (banpub_get_stats(s->pub).exports < n)
        event_base_loop(s->base, EVLOOP_ONCE);
}

/* the daemon's side (bansrv): the server's own ban index and `bans` settings. The export file is written at start
 * (before any change), a follower sees the index's ban, unban and expiry, on_ban gets its argv, a username
 * ban reaches neither the text follower nor the plain file, and a reload that changes the export's format
 * writes the file again */
static void test_server_index(void **st)
{
    (void)st;
    server *s = srv_new();
    char path[512], script[512], out_ban[600], buf[512];
    int eof;
    fake_wall = NOW;
    s->clock.wall = read_fake_wall_ms;
    snprintf(path, sizeof path, "%s", write_temp("bans.txt", "stale\n"));
    snprintf(script, sizeof script, "%s",
             write_temp("hook-srv.sh", "#!/bin/sh\nout=$1\nshift\nprintf '%s\\0' \"$@\" >> \"$out\"\n"));
    chmod(script, 0755);
    snprintf(out_ban, sizeof out_ban, "%s.ban", script);
    char *on_ban[] = {script, out_ban, "$address", "--why=$reason", "$duration", NULL};
    s->conf->bans.export_format = "plain";
    s->conf->bans.export_path = path;
    s->conf->bans.on_ban = on_ban;
    s->conf->bans.non_ban = 5;
    s->conf->bans.hooks_max = 1; /* one at a time: the output file in ban order */
    assert_int_equal(bansrv_start(s), 0);
    assert_non_null(s->pub);
    bansrv_restore_begin(s); /* as the snapshot restores one */
    index_ban(s->eng.bans, "198.51.100.0/24", NOW + 100, "old");
    bansrv_restore_end(s);
    banpub_export_now(s->pub);
    wait_exports(s, 1);
    assert_string_equal(file_text(path), "198.51.100.0/24\n");

    int fd = client(s);
    const char *req = "command=bans\nfollow=yes\n\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fd, NULL, &eof);
    read_until(s, fd, "synced 1\n", &eof);
    index_ban(s->eng.bans, "192.0.2.7", NOW + 30, "a b'c\"; $(reboot)");
    ban_rec key;
    const char *why;
    assert_int_equal(ban_parse("198.51.100.0/24", &key, &why), 0);
    assert_int_equal(ban_remove(s->eng.bans, &key), 0);
    wait_exports(s, 2);
    assert_string_equal(file_text(path), "192.0.2.7\n");
    fake_wall = NOW + 30;
    assert_int_equal(ban_expire(s->eng.bans, NOW + 30), 1);
    ban_rec user;
    assert_int_equal(ban_user("Mallory", 7, &user), 0);
    user.reason = "guessing";
    user.since = fake_wall;
    user.expires = NOW + 300;
    user.times = 1;
    assert_true(ban_add(s->eng.bans, &user) >= 0);
    const char *got = read_until(s, fd, "expire 192.0.2.7\n", &eof);
    assert_false(eof);
    assert_string_equal(strstr(got, "synced 1\n") + 9,
                        "ban 192.0.2.7 expires=1800000030 duration=30 times=1 rule=\"ssh\" "
                        "reason=\"a b'c\\\"; $(reboot)\"\n"
                        "unban 198.51.100.0/24\n"
                        "expire 192.0.2.7\n");
    wait_exports(s, 3);
    assert_string_equal(file_text(path), ""); /* the username ban is no firewall's business */

    while (banpub_get_stats(s->pub).hooks.finished < 1)
        event_base_loop(s->base, EVLOOP_ONCE);
    FILE *f = fopen(out_ban, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* the restored ban runs no on_ban (it ran when the ban was made; the export file has it) */
    assert_int_equal(banpub_get_stats(s->pub).hooks.started, 1);
    assert_int_equal(s->eng.stats.bans_issued, 2); /* 192.0.2.7 and mallory */
    const char want[] = "192.0.2.7\0--why=a b'c\"; $(reboot)\0" "30";
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);

    /* a reload with another format: written again at once, with the username ban as JSON has it */
    conf_errors errs = {0};
    fg_conf *c2 = load_text(CONF_TEXT, &errs);
    assert_non_null(c2);
    c2->bans.export_format = "json";
    c2->bans.export_path = path;
    bansrv_reload(s, c2);
    c2->bans.export_format = c2->bans.export_path = NULL;
    conf_free(c2);
    wait_exports(s, 4);
    assert_non_null(strstr(file_text(path), "{\"username\":\"mallory\",\"reason\":\"guessing\""));
    /* a username ban alone rewrites a JSON export (it is in it), and runs no hook */
    uint64_t hooks = banpub_get_stats(s->pub).hooks.started;
    assert_int_equal(ban_user("eve", 3, &user), 0);
    user.reason = "spray";
    user.since = fake_wall;
    user.expires = 0;
    user.times = 1;
    assert_true(ban_add(s->eng.bans, &user) >= 0);
    wait_exports(s, 5);
    assert_non_null(strstr(file_text(path), "{\"username\":\"eve\",\"reason\":\"spray\""));
    assert_int_equal(banpub_get_stats(s->pub).hooks.started, hooks);

    /* explain shows the ban the engine would find first: a network holding the address, or the username */
    index_ban(s->eng.bans, "203.0.113.0/24", 0, "scanner");
    static const struct {
        const char *query, *want;
    } ex[] = {
        {"client_address=203.0.113.5\n", "ban=203.0.113.0/24\nban.reason=scanner\n"},
        {"client_address=192.0.2.1\nusername=MALLORY\n", "ban=user:mallory\nban.reason=guessing\n"},
        {"client_address=192.0.2.1\n", "ban=none\n"},
    };
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
        char q[256];
        int fe = client(s);
        snprintf(q, sizeof q, "command=explain\nrequest=auth\n%s\n", ex[i].query);
        assert_int_equal(write(fe, q, strlen(q)), (ssize_t)strlen(q));
        read_until(s, fe, NULL, &eof);
        got = read_until(s, fe, "\n\n", &eof);
        assert_non_null(strstr(got, "status=ok\nrequest=auth\n"));
        if (!strstr(got, ex[i].want))
            fail_msg("explain %s: %s", ex[i].query, got);
        close(fe);
    }

    close(fd);
    bansrv_stop(s);
    assert_null(s->pub);
    /* the test's own strings, not conf_free's */
    s->conf->bans.export_format = s->conf->bans.export_path = NULL;
    s->conf->bans.on_ban = NULL;
    s->conf->bans.non_ban = 0;
    srv_free(s);
}

/* the fleet mirror's first resync after the start restores bans made before it: a follower that came first still
 * gets their lines and the export file has them, but no on_ban runs, nothing counts in bans_issued, and one line
 * says how many; a ban after the resync runs on_ban as usual */
static void test_fleet_restore(void **st)
{
    (void)st;
    server *s = srv_new();
    char path[512], script[512], out[600];
    int eof;
    fake_wall = NOW;
    s->clock.wall = read_fake_wall_ms;
    snprintf(path, sizeof path, "%s", write_temp("fleet-bans.txt", "stale\n"));
    snprintf(script, sizeof script, "%s", write_temp("hook-fleet.sh", "#!/bin/sh\necho \"$2\" >> \"$1\"\n"));
    chmod(script, 0755);
    snprintf(out, sizeof out, "%s.out", script);
    unlink(out);
    char *on_ban[] = {script, out, "$address", NULL};
    s->conf->bans.export_format = "plain";
    s->conf->bans.export_path = path;
    s->conf->bans.on_ban = on_ban;
    assert_int_equal(bansrv_start(s), 0);
    banpub_export_now(s->pub);
    wait_exports(s, 1);
    assert_string_equal(file_text(path), "");
    int fd = client(s);
    const char *req = "command=bans\nfollow=yes\n\n";
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fd, NULL, &eof);
    read_until(s, fd, "synced 0\n", &eof);

    for (int i = 0; i < 2; i++) { /* as statestore_redis hands over two records */
        bansrv_fleet_restore(s, 1);
        index_ban(s->eng.bans, i ? "192.0.2.2" : "192.0.2.1", NOW + 600, "ssh");
        bansrv_fleet_restore(s, 0);
    }
    char logpath[512];
    snprintf(logpath, sizeof logpath, "%s", write_temp("fleet-restore.log", ""));
    int saved = dup(2), lfd = open(logpath, O_WRONLY | O_TRUNC);
    assert_true(saved >= 0 && lfd >= 0);
    dup2(lfd, 2);
    bansrv_fleet_restore(s, -1); /* the class is read whole: its one line */
    dup2(saved, 2);
    close(saved);
    close(lfd);
    const char *got = read_until(s, fd, "ban 192.0.2.2 ", &eof);
    assert_non_null(strstr(got, "synced 0\nban 192.0.2.1 expires=1800000600 "));
    wait_exports(s, 2);
    assert_string_equal(file_text(path), "192.0.2.1\n192.0.2.2\n");
    assert_int_equal(banpub_get_stats(s->pub).hooks.started, 0);
    assert_int_equal(s->eng.stats.bans_issued, 0);
    assert_non_null(strstr(file_text(logpath), "bans: restored 2 bans from the fleet's store"));

    index_ban(s->eng.bans, "192.0.2.3", NOW + 600, "ssh"); /* made after the resync: a change */
    while (banpub_get_stats(s->pub).hooks.finished < 1)
        event_base_loop(s->base, EVLOOP_ONCE);
    assert_string_equal(file_text(out), "192.0.2.3\n");
    assert_int_equal(s->eng.stats.bans_issued, 1);
    close(fd);
    bansrv_stop(s);
    s->conf->bans.export_format = s->conf->bans.export_path = NULL;
    s->conf->bans.on_ban = NULL;
    srv_free(s);
}

/* a restart restores the bans (snapshot, then journal) without running on_ban for them, writing their lines or
 * counting them as issued; after it, a new ban and a changed one run on_ban, the same ban again does not */
static void test_restart_quiet(void **st)
{
    (void)st;
    char snap[512], script[512], out[600];
    snprintf(script, sizeof script, "%s", write_temp("hook-restart.sh", "#!/bin/sh\necho \"$2\" >> \"$1\"\n"));
    chmod(script, 0755);
    snprintf(out, sizeof out, "%s.out", script);
    snprintf(snap, sizeof snap, "%s", write_temp("restart.snap", ""));
    unlink(snap);
    char *on_ban[] = {script, out, "$address", NULL};
    for (int run = 0; run < 2; run++) {
        server *s = srv_new();
        fake_wall = NOW;
        s->clock.wall = read_fake_wall_ms;
        s->conf->store.snapshot = snap;
        s->conf->bans.on_ban = on_ban;
        s->conf->bans.hooks_max = 1; /* the output in ban order */
        assert_int_equal(bansrv_start(s), 0);
        server_snapshot_load(s);
        if (run == 0) {
            assert_int_equal(ban_count(s->eng.bans), 0);
            index_ban(s->eng.bans, "192.0.2.1", NOW + 600, "ssh");
            index_ban(s->eng.bans, "192.0.2.2", NOW + 600, "ssh");
            server_snapshot_save(s); /* the snapshot has two */
            index_ban(s->eng.bans, "192.0.2.3", NOW + 600, "ssh"); /* the journal the third */
            index_ban(s->eng.bans, "192.0.2.1", NOW + 900, "ssh"); /* and the first one's new end */
            while (banpub_get_stats(s->pub).hooks.finished < 4)
                event_base_loop(s->base, EVLOOP_ONCE);
            assert_string_equal(file_text(out), "192.0.2.1\n192.0.2.2\n192.0.2.3\n192.0.2.1\n");
            /* stopped without a last snapshot (kill -9): the journal keeps the rest */
        } else {
            assert_int_equal(ban_count(s->eng.bans), 3);
            assert_int_equal(banpub_get_stats(s->pub).hooks.started, 0);
            assert_int_equal(s->eng.stats.bans_issued, 0);
            ban_rec k;
            const char *why;
            assert_int_equal(ban_parse("192.0.2.1", &k, &why), 0);
            assert_int_equal(ban_find(s->eng.bans, &k, NOW)->expires, NOW + 900);
            index_ban(s->eng.bans, "192.0.2.2", NOW + 600, "ssh");  /* the same again (a fleet resync): nothing */
            index_ban(s->eng.bans, "192.0.2.3", NOW + 1200, "ssh"); /* longer */
            index_ban(s->eng.bans, "192.0.2.4", NOW + 600, "ssh");  /* new */
            while (banpub_get_stats(s->pub).hooks.finished < 2)
                event_base_loop(s->base, EVLOOP_ONCE);
            assert_int_equal(banpub_get_stats(s->pub).hooks.started, 2);
            assert_int_equal(s->eng.stats.bans_issued, 2);
            assert_string_equal(file_text(out), "192.0.2.1\n192.0.2.2\n192.0.2.3\n192.0.2.1\n"
                                                 "192.0.2.3\n192.0.2.4\n");
        }
        server_bans_close(s); /* the journal drained */
        bansrv_stop(s);
        s->conf->store.snapshot = NULL;
        s->conf->bans.on_ban = NULL;
        srv_free(s);
    }
}

/* ask - one control request on a new connection; the reply */
static const char *ask(server *s, const char *req)
{
    int eof, fd = client(s);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    read_until(s, fd, NULL, &eof);
    const char *got = read_until(s, fd, "\n\n", &eof);
    close(fd);
    return got;
}

/* debug clock +S steps both clocks S seconds on in a daemon started with FLOODGATE_TEST_CLOCK=1, and a ban whose
 * end the step passed is expired by the step itself (no timer needed); refused otherwise */
static void test_debug_clock(void **st)
{
    (void)st;
    server *s = srv_new();
    fake_wall = NOW;
    s->clock.wall = read_fake_wall_ms;
    assert_int_equal(bansrv_start(s), 0);
    evtimer_del(s->ban_timer); /* the one-second expiry timer is off: the step alone must expire the ban */
    index_ban(s->eng.bans, "192.0.2.7", NOW + 60, "brief");
    index_ban(s->eng.bans, "192.0.2.8", NOW + 120, "longer");
    uint64_t now = server_now(s), wall = server_wall_now(s);
    assert_non_null(strstr(ask(s, "command=debug\narg1=clock\narg2=+61\n\n"),
                           "status=error\nmessage=refused: the clock steps only in a daemon started with "
                           "FLOODGATE_TEST_CLOCK=1"));
    assert_int_equal(server_now(s), now);
    assert_int_equal(ban_count(s->eng.bans), 2);
    s->clock.steppable = 1; /* as main() sets it from the environment */
    assert_non_null(strstr(ask(s, "command=debug\narg1=clock\narg2=61\n\n"), "status=error\nmessage=usage"));
    assert_non_null(strstr(ask(s, "command=debug\narg1=clock\narg2=+6x\n\n"), "status=error\nmessage=usage"));
    const char *got = ask(s, "command=debug\narg1=clock\narg2=+61\n\n");
    assert_non_null(strstr(got, "status=ok\nstepped=61\nwall=1800000061\n"));
    assert_int_equal(server_now(s), now + 61000);
    assert_int_equal(server_wall_now(s), wall + 61000);
    /* expired by the step itself */
    assert_int_equal(ban_count(s->eng.bans), 1);
    assert_int_equal(s->eng.stats.bans_expired, 1);
    ban_rec k;
    const char *why;
    assert_int_equal(ban_parse("192.0.2.8", &k, &why), 0);
    assert_non_null(ban_find(s->eng.bans, &k, server_wall_now(s) / 1000));
    bansrv_stop(s);
    srv_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_file),
        cmocka_unit_test(test_export_moved),
        cmocka_unit_test(test_follow),
        cmocka_unit_test(test_slow_follower),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_hooks_dropped),
        cmocka_unit_test(test_hook_killed_shown),
        cmocka_unit_test(test_server_index),
        cmocka_unit_test(test_restart_quiet),
        cmocka_unit_test(test_fleet_restore),
        cmocka_unit_test(test_debug_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
