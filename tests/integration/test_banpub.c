/*
 * test_banpub - publishing the bans of the real floodgated: `floodgatectl bans --follow` sees a ban, an unban
 * and an expiry as they happen; the export file is there at start and follows each change; on_ban gets
 * exact argv for hostile values; `bans --format`; `explain` shows the client's ban
 *
 *     test_banpub FLOODGATED FLOODGATECTL
 *
 * The daemon runs with FLOODGATE_TEST_CLOCK=1: the expiry is a ban of 1 min and `floodgatectl debug clock +60`,
 * which expires it at once. Every wait polls for what the user would see (a line from the follower, the file's
 * content, the hook's output), with a generous deadline (a condition, never a duration), and fails with what
 * it saw.
 */
#include "daemon_util.h"

#include <errno.h>
#include <sys/stat.h>

#define DEADLINE_MS 30000 /* a loaded 2-core machine under valgrind: generous, never reached when it works */

static fg_daemon d;
static char export_path[160], hook_out[160], hook_path[160];

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

/* wait_file - until path holds exactly want */
static void wait_file(const char *path, const char *want)
{
    for (int i = 0; i < DEADLINE_MS / 10 && strcmp(file_text(path), want); i++)
        poll(NULL, 0, 10);
    if (strcmp(file_text(path), want))
        fail_msg("%s: want\n%s---\ngot\n%s---", path, want, file_text(path));
}

static int setup(void **st)
{
    FILE *f;
    (void)st;
    if (daemon_init(&d, d.bin, d.ctl_bin) < 0)
        return -1;
    snprintf(export_path, sizeof export_path, "%s/bans.txt", d.dir);
    snprintf(hook_out, sizeof hook_out, "%s/hook.out", d.dir);
    snprintf(hook_path, sizeof hook_path, "%s/hook.sh", d.dir);
    /* the hook writes each argument followed by a NUL: what it was given, byte for byte */
    f = fopen(hook_path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nout=$1\nshift\nprintf '%%s\\0' \"$@\" >> \"$out\"\n");
    fclose(f);
    chmod(hook_path, 0755);
    f = fopen(export_path, "w"); /* what a previous run left: replaced at start */
    assert_non_null(f);
    fputs("203.0.113.99\n", f);
    fclose(f);
    setenv("FLOODGATE_TEST_CLOCK", "1", 1); /* debug clock steps its clock */
    daemon_write_conf(&d, "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                          "bans = { export = { format = \"plain\"; path = \"@DIR@/bans.txt\"; };\n"
                          "         on_ban = [ \"@DIR@/hook.sh\", \"@DIR@/hook.out\", \"$address\", \"--why=$reason\", "
                          "\"$duration\" ];\n"
                          "         hooks_max = 2; };\n"
                          "store = { snapshot = \"@DIR@/state\"; };\n"
                          "rules = ();\n");
    daemon_start(&d);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    return daemon_cleanup(&d);
}

typedef struct follower {
    pid_t pid;
    int fd;           /* its stdout */
    char text[65536]; /* what it printed so far */
    size_t len;
} follower;

/* follow_start - floodgatectl bans --follow [--json] in a child, its output on a pipe */
static void follow_start(follower *f, int json)
{
    int p[2];
    memset(f, 0, sizeof *f);
    assert_int_equal(pipe(p), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (json)
            execl(d.ctl_bin, d.ctl_bin, "-s", d.control, "bans", "--follow", "--json", (char *)NULL);
        else
            execl(d.ctl_bin, d.ctl_bin, "-s", d.control, "bans", "--follow", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    f->fd = p[0];
}

/* follow_wait - read until the output holds want; the output */
static const char *follow_wait(follower *f, const char *want)
{
    for (int i = 0; i < DEADLINE_MS / 10 && !strstr(f->text, want); i++) {
        struct pollfd pf = {f->fd, POLLIN, 0};
        if (poll(&pf, 1, 10) <= 0)
            continue;
        ssize_t n = read(f->fd, f->text + f->len, sizeof f->text - 1 - f->len);
        if (n <= 0)
            break;
        f->len += (size_t)n;
        f->text[f->len] = '\0';
    }
    if (!strstr(f->text, want))
        fail_msg("the follower did not print %s; it printed:\n%s", want, f->text);
    return f->text;
}

/* follow_stop - end the follower */
static void follow_stop(follower *f)
{
    kill(f->pid, SIGTERM);
    waitpid(f->pid, NULL, 0);
    close(f->fd);
}

/* ctl - floodgatectl ARGS must succeed; its output */
static char *ctl(const char *args)
{
    int status;
    char *out = daemon_ctl(&d, &status, args);
    if (status != 0)
        fail_msg("floodgatectl %s: exit %d: %s", args, status, out);
    return out;
}

/* a follower sees the current bans, then a ban, an unban and an expiry, pushed as they happen; the export
 * file (written at start over what the last run left) follows; bans --format prints the same list */
static void test_follow_and_export(void **st)
{
    follower f, fj;
    (void)st;
    wait_file(export_path, ""); /* written at start: no ban */
    ctl("ban 198.51.100.0/24 1h --reason old");
    wait_file(export_path, "198.51.100.0/24\n");

    follow_start(&f, 0);
    follow_start(&fj, 1);
    follow_wait(&f, "synced 1\n");
    follow_wait(&fj, "{\"event\":\"synced\",\"count\":1}\n");
    assert_non_null(strstr(f.text, "ban 198.51.100.0/24 expires="));
    assert_non_null(strstr(f.text, "reason=\"old\"\n"));

    ctl("ban 192.0.2.7 1h --reason 'too many'");
    follow_wait(&f, "ban 192.0.2.7 ");
    follow_wait(&fj, "{\"event\":\"ban\",\"network\":\"192.0.2.7\",\"reason\":\"too many\"");
    wait_file(export_path, "192.0.2.7\n198.51.100.0/24\n");
    assert_string_equal(ctl("bans --format plain"), "192.0.2.7\n198.51.100.0/24\n");

    ctl("unban 198.51.100.0/24");
    follow_wait(&f, "unban 198.51.100.0/24\n");
    follow_wait(&fj, "{\"event\":\"unban\",\"network\":\"198.51.100.0/24\"");
    wait_file(export_path, "192.0.2.7\n");

    ctl("ban 2001:db8::/64 1m --reason short");
    follow_wait(&f, "ban 2001:db8::/64 ");
    ctl("debug clock +60"); /* the ban ends with the step (192.0.2.7's hour goes on) */
    const char *got = follow_wait(&f, "expire 2001:db8::/64\n");
    follow_wait(&fj, "{\"event\":\"expire\",\"network\":\"2001:db8::/64\"");
    wait_file(export_path, "192.0.2.7\n");
    /* the order the user saw */
    const char *a = strstr(got, "ban 192.0.2.7 "), *b = strstr(got, "unban 198.51.100.0/24\n"),
               *c = strstr(got, "ban 2001:db8::/64 "), *e = strstr(got, "expire 2001:db8::/64\n");
    assert_true(a && b && c && e && a < b && b < c && c < e);
    follow_stop(&f);
    follow_stop(&fj);
    ctl("unban 192.0.2.7");
    wait_file(export_path, "");
}

/* on_ban gets each value as one whole argument, whatever it holds: no shell ever sees it */
static void test_hook_argv(void **st)
{
    (void)st;
    unlink(hook_out);
    ctl("ban 192.0.2.66 1h --reason \"a b'c\\\"; \\$(touch /tmp/fg-pwned) \\`id\\` | x\"");
    /* the arguments, each ended by a NUL; the duration is what was left when the hook started: 3600, or 3599
     * on a slow second. Earlier tests' hooks may append their own lines: this one is looked for among them */
    const char want[] = "192.0.2.66\0--why=a b'c\"; $(touch /tmp/fg-pwned) `id` | x\0";
    char buf[8192];
    const char *hit = NULL;
    size_t n = 0;
    for (int i = 0; i < DEADLINE_MS / 10; i++) {
        FILE *f = fopen(hook_out, "rb");
        n = 0;
        if (f) {
            n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
        }
        buf[n] = '\0';
        hit = memmem(buf, n, want, sizeof want - 1);
        if (hit && memchr(hit + sizeof want - 1, '\0', n - (size_t)(hit - buf) - (sizeof want - 1)))
            break;
        poll(NULL, 0, 10);
    }
    if (!hit)
        fail_msg("on_ban did not get its argv; the hook wrote %zu bytes", n);
    const char *dur = hit + sizeof want - 1;
    assert_true(!strcmp(dur, "3600") || !strcmp(dur, "3599"));
    assert_int_equal(access("/tmp/fg-pwned", F_OK), -1);
    ctl("unban 192.0.2.66");
}

/* explain names the ban a client is under, before any rule */
static void test_explain(void **st)
{
    (void)st;
    ctl("ban 203.0.113.0/24 1h --reason scanner");
    char *out = ctl("explain smtp:RCPT client_address=203.0.113.5 sender=a@example.org");
    if (!strstr(out, "203.0.113.0/24") || !strstr(out, "scanner"))
        fail_msg("explain does not show the ban: %s", out);
    out = ctl("explain smtp:RCPT client_address=192.0.2.1 sender=a@example.org");
    if (!strstr(out, "none"))
        fail_msg("explain shows a ban on an address that has none: %s", out);
    ctl("unban 203.0.113.0/24");
}

/* stat_value - one counter of `floodgatectl stats` */
static long long stat_value(const char *name)
{
    char *out = ctl("stats"), key[64];
    snprintf(key, sizeof key, "%s", name);
    for (char *p = strstr(out, key); p; p = strstr(p + 1, key))
        if ((p == out || p[-1] == '\n' || p[-1] == ' ') && (p[strlen(key)] == '=' || p[strlen(key)] == ' ' ||
                                                           p[strlen(key)] == ':'))
            return strtoll(p + strlen(key) + 1 + strspn(p + strlen(key) + 1, " "), NULL, 10);
    fail_msg("stats has no %s: %s", name, out);
    return -1;
}

/* wait_hook - until the hook's output holds text (an argument it was given) */
static void wait_hook(const char *text)
{
    char buf[8192];
    size_t n = 0;
    for (int i = 0; i < DEADLINE_MS / 10; i++) {
        FILE *f = fopen(hook_out, "rb");
        n = 0;
        if (f) {
            n = fread(buf, 1, sizeof buf, f);
            fclose(f);
        }
        if (memmem(buf, n, text, strlen(text)))
            return;
        poll(NULL, 0, 10);
    }
    fail_msg("on_ban was not given %s; the hook wrote %zu bytes", text, n);
}

/* a restart restores the bans without running on_ban for each or logging each again: one line says how many;
 * the export file has them; a ban changed after the restart runs on_ban as before */
static void test_restart_runs_no_hooks(void **st)
{
    char log[160];
    (void)st;
    unlink(hook_out);
    ctl("ban 192.0.2.50 1h --reason before");
    ctl("ban 2001:db8:5::/64 1h --reason before");
    wait_file(export_path, "192.0.2.50\n2001:db8:5::/64\n");
    wait_hook("192.0.2.50");
    wait_hook("2001:db8:5::/64");
    assert_int_equal(daemon_stop(&d), 0);
    snprintf(log, sizeof log, "%s/daemon.log", d.dir);
    assert_int_equal(truncate(log, 0), 0); /* the restart's lines only */
    unlink(export_path);
    daemon_start(&d);
    wait_file(export_path, "192.0.2.50\n2001:db8:5::/64\n"); /* written at start, with the bans restored */
    assert_int_equal(stat_value("ban_hooks_started"), 0);
    assert_int_equal(stat_value("bans_issued"), 0);
    const char *text = daemon_log(&d);
    if (!strstr(text, "bans: restored 2 bans") || strstr(text, "event=ban "))
        fail_msg("the restart's log: want one \"bans: restored 2 bans\" and no event=ban line:\n%s", text);
    /* a longer ban after the restart is a change: on_ban runs for it */
    ctl("ban 192.0.2.50 2h --reason longer");
    wait_hook("--why=longer");
    assert_int_equal(stat_value("ban_hooks_started"), 1);
    ctl("unban 192.0.2.50");
    ctl("unban 2001:db8:5::/64");
    wait_file(export_path, "");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FLOODGATED FLOODGATECTL\n", argv[0]);
        return 2;
    }
    d.bin = argv[1];
    d.ctl_bin = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follow_and_export),
        cmocka_unit_test(test_hook_argv),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_restart_runs_no_hooks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
