/*
 * test_banhook - on_ban / on_unban commands: exact argv for hostile values, no shell, bounded concurrency
 *
 * The hook is a shell script that writes its own argv NUL-separated to the file named by its first
 * argument: what it received is compared byte for byte with what the configuration and the values say.
 * The loop is turned until the runner has collected the expected number of children (a condition; no
 * sleep, no timing).
 */
#include "testutil.h"

#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "banhook.h"

static const char *script;  /* writes "$@" (after its first argument) NUL-separated into the file $1 */
static const char *failing; /* exit 3 */

static int setup(void **st)
{
    (void)st;
    static char s1[256], s2[256];
    snprintf(s1, sizeof s1, "%s", write_temp("hook.sh", "#!/bin/sh\nout=$1\nshift\nprintf '%s\\0' \"$@\" > \"$out.tmp\"\n"
                                                          "mv \"$out.tmp\" \"$out\"\n"));
    chmod(s1, 0755);
    snprintf(s2, sizeof s2, "%s", write_temp("fail.sh", "#!/bin/sh\nexit 3\n"));
    chmod(s2, 0755);
    script = s1;
    failing = s2;
    return 0;
}

/* wait_finished - turn the loop until n children are collected */
static void wait_finished(struct event_base *base, banhook *h, uint64_t n)
{
    while (banhook_get_stats(h).finished < n)
        event_base_loop(base, EVLOOP_ONCE);
}

/* read_all - a file's bytes (static buffer), length in *len */
static const char *read_all(const char *path, size_t *len)
{
    static char buf[8192];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

/* hostile values reach the command as the exact bytes of whole arguments; nothing is run by a shell */
static void test_hostile_argv(void **st)
{
    (void)st;
    char out[1024], pwned[1024];
    snprintf(out, sizeof out, "%s.argv", script);
    snprintf(pwned, sizeof pwned, "%s.pwned", script);
    char reason[4096];
    snprintf(reason, sizeof reason, "a b \"c\" 'd'; touch %s; $(touch %s) `touch %s` $address", pwned, pwned, pwned);
    const char *argv[] = {script, out, "$address", "$reason", "--for=$duration", "$HOME", "$(id)", "", NULL};
    struct event_base *base = event_base_new();
    banhook *h = banhook_new(base, 2, 4);

    assert_non_null(h);
    assert_int_equal(banhook_run(h, "on_ban", argv, "2001:db8::1", reason, "3600"), 0);
    wait_finished(base, h, 1);
    size_t len;
    const char *got = read_all(out, &len);
    char want[8192];
    size_t wl = 0;
    const char *parts[] = {"2001:db8::1", reason, "--for=3600", "$HOME", "$(id)", ""};
    for (size_t i = 0; i < 6; i++) {
        memcpy(want + wl, parts[i], strlen(parts[i]) + 1);
        wl += strlen(parts[i]) + 1;
    }
    assert_int_equal(len, wl);
    assert_memory_equal(got, want, wl);
    assert_int_equal(access(pwned, F_OK), -1); /* no shell ever saw the reason */
    banhook_stats s = banhook_get_stats(h);
    assert_int_equal(s.started, 1);
    assert_int_equal(s.failed, 0);
    assert_int_equal(s.running, 0);
    banhook_free(h);
    event_base_free(base);
}

/* at most max_running at once, max_queued waiting, the rest dropped and counted; the queue drains */
static void test_bounds(void **st)
{
    (void)st;
    struct event_base *base = event_base_new();
    banhook *h = banhook_new(base, 1, 1);
    char out[3][1024];
    const char *argv[3][4];

    for (int i = 0; i < 3; i++) {
        snprintf(out[i], sizeof out[i], "%s.bound%d", script, i);
        argv[i][0] = script;
        argv[i][1] = out[i];
        argv[i][2] = "$address";
        argv[i][3] = NULL;
    }
    assert_int_equal(banhook_run(h, "on_ban", argv[0], "192.0.2.1", "", ""), 0);
    assert_int_equal(banhook_run(h, "on_ban", argv[1], "192.0.2.2", "", ""), 0);
    assert_int_equal(banhook_run(h, "on_ban", argv[2], "192.0.2.3", "", ""), -1);
    banhook_stats s = banhook_get_stats(h);
    assert_int_equal(s.running, 1);
    assert_int_equal(s.queued, 1);
    assert_int_equal(s.dropped, 1);
    wait_finished(base, h, 2);
    size_t len;
    assert_memory_equal(read_all(out[0], &len), "192.0.2.1", 10);
    assert_memory_equal(read_all(out[1], &len), "192.0.2.2", 10);
    assert_int_equal(access(out[2], F_OK), -1);
    s = banhook_get_stats(h);
    assert_int_equal(s.started, 2);
    assert_int_equal(s.running + s.queued, 0);
    banhook_free(h);
    event_base_free(base);
}

/* a failing command and a missing one are counted as failed; the loop goes on. Each hook's end is logged: its
 * exit status (0 too), or why it could not run */
static void test_failures(void **st)
{
    (void)st;
    char logpath[512], log[8193], want[512];
    struct event_base *base = event_base_new();
    banhook *h = banhook_new(base, 4, 4);
    const char *bad[] = {failing, "$address", NULL}, *missing[] = {"/nonexistent/floodgate-hook", "$address", NULL},
               *good[] = {"/bin/true", "$address", NULL};

    snprintf(logpath, sizeof logpath, "%s", write_temp("failures.log", ""));
    int saved = dup(2), fd = open(logpath, O_WRONLY | O_TRUNC);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    assert_int_equal(banhook_run(h, "on_unban", bad, "192.0.2.1", "", ""), 0);
    assert_int_equal(banhook_run(h, "on_unban", missing, "192.0.2.1", "", ""), 0);
    assert_int_equal(banhook_run(h, "on_ban", good, "192.0.2.2", "", ""), 0);
    wait_finished(base, h, 3);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    banhook_stats s = banhook_get_stats(h);
    assert_int_equal(s.failed, 2);
    assert_int_equal(s.running, 0);
    size_t len;
    const char *got = read_all(logpath, &len);
    memcpy(log, got, len);
    log[len] = '\0';
    const char *lines[] = {want, "on_unban: cannot run /nonexistent/floodgate-hook: ", "on_ban: /bin/true 192.0.2.2: exit 0"};
    snprintf(want, sizeof want, "on_unban: %s 192.0.2.1: exit 3", failing);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (!strstr(log, lines[i]))
            fail_msg("the log does not say \"%s\":\n%s", lines[i], log);
    banhook_free(h);
    event_base_free(base);
}

/* a hook still running at the timeout is killed with its process group: the command and what it started (a
 * grandchild that sleeps too) are both gone, and a warning names the command and its pid */
static void test_timeout_kills_group(void **st)
{
    (void)st;
    char pidfile[512], logpath[512];
    static char sleeper[256];
    snprintf(sleeper, sizeof sleeper, "%s",
             write_temp("sleeper.sh", "#!/bin/sh\nsleep 30 &\necho $$ $! > \"$1.tmp\"\nmv \"$1.tmp\" \"$1\"\nexec sleep 30\n"));
    chmod(sleeper, 0755);
    snprintf(pidfile, sizeof pidfile, "%s.pid", sleeper);
    snprintf(logpath, sizeof logpath, "%s", write_temp("timeout.log", ""));
    /* orphans come to us (the grandchild, once its parent is killed): its status says how it ended. The hook ends
     * in exec sleep, which never waits: a shell waiting for a child could collect a grandchild killed first */
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    struct event_base *base = event_base_new();
    banhook *h = banhook_new(base, 1, 1);
    const char *argv[] = {sleeper, pidfile, NULL};
    banhook_set_timeout(h, 200);
    int saved = dup(2), fd = open(logpath, O_WRONLY | O_TRUNC);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    assert_int_equal(banhook_run(h, "on_ban", argv, "192.0.2.1", "", ""), 0);
    /* the grandchild is started before the loop turns again (its timer cannot fire while the loop is still) */
    FILE *f;
    while (!(f = fopen(pidfile, "r")))
        poll(NULL, 0, 10);
    int hook = 0, grandchild = 0;
    assert_int_equal(fscanf(f, "%d %d", &hook, &grandchild), 2);
    fclose(f);
    wait_finished(base, h, 1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    banhook_stats s = banhook_get_stats(h);
    assert_int_equal(s.killed, 1);
    assert_int_equal(s.failed, 1);
    int status = 0;
    assert_int_equal(waitpid(grandchild, &status, 0), grandchild);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    size_t len;
    const char *got = read_all(logpath, &len);
    char log[8193], want[512];
    memcpy(log, got, len);
    log[len] = '\0';
    snprintf(want, sizeof want, "on_ban: %s (pid %d): still running after 200ms (bans.hooks_timeout): killed with "
                                "its process group", sleeper, hook);
    if (!strstr(log, want))
        fail_msg("the log does not say \"%s\":\n%s", want, log);
    banhook_free(h);
    event_base_free(base);
}

/* substitution happens inside an element, never splits one, and leaves other $ text */
static void test_expand(void **st)
{
    (void)st;
    const char *argv[] = {"cmd", "$address/$duration", "$reasonable", "$$address", "x$", NULL};
    char **e = banhook_expand(argv, "10.0.0.0/8", "r s", "forever");
    assert_string_equal(e[0], "cmd");
    assert_string_equal(e[1], "10.0.0.0/8/forever");
    assert_string_equal(e[2], "r sable");
    assert_string_equal(e[3], "$10.0.0.0/8");
    assert_string_equal(e[4], "x$");
    assert_null(e[5]);
    banhook_argv_free(e);
    const char *none[] = {NULL};
    assert_null(banhook_expand(none, "a", "b", "c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_argv),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_expand),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
