/*
 * test_kv_daemon - the store's other tenants through floodgatectl and the real floodgated: kv values, `seen`
 * answering new then seen, `lock` running a command only while it holds the lock (exit 75 for a second
 * taker), renewing it while a slow command runs, and releasing it after; the kv keys survive a restart
 * (the snapshot). request=kv on the policy socket is refused unless listen.kv_on_policy = true.
 *
 *     test_kv_daemon FLOODGATED FLOODGATECTL
 */
#include "daemon_util.h"

static fg_daemon d;

static int setup(void **st)
{
    (void)st;
    if (daemon_init(&d, d.bin, d.ctl_bin) < 0)
        return -1;
    daemon_write_conf(&d, "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                          "store = { snapshot = \"@DIR@/state\"; };\nrules = ();\n");
    daemon_start(&d);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    return daemon_cleanup(&d);
}

/* values, counters and a bad class through `floodgatectl kv` */
static void test_kv(void **st)
{
    int status;
    (void)st;

    daemon_ctl(&d, &status, "kv set oauth code-1 'user=joe scope=imap' --ttl 10m");
    assert_int_equal(status, 0);
    char *out = daemon_ctl(&d, &status, "--json kv get oauth code-1");
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "\"value\":\"user=joe scope=imap\""));
    out = daemon_ctl(&d, &status, "--json kv set oauth code-1 other --nx");
    assert_non_null(strstr(out, "\"set\":\"no\""));
    out = daemon_ctl(&d, &status, "--json kv incr quota joe 5");
    assert_non_null(strstr(out, "\"value\":5"));
    out = daemon_ctl(&d, &status, "kv get rcpt x");
    assert_int_equal(status, 1);
    assert_non_null(strstr(out, "unknown class"));
}

/* seen: 0 the first time, 1 after; and it survives a restart */
static void test_seen(void **st)
{
    int status;
    (void)st;

    assert_string_equal(daemon_ctl(&d, &status, "seen sieve 'joe@example.com:vacation' --ttl 7d"), "new\n");
    assert_int_equal(status, 0);
    assert_string_equal(daemon_ctl(&d, &status, "seen sieve 'joe@example.com:vacation' --ttl 7d"), "seen\n");
    assert_int_equal(status, 1);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_start(&d);
    daemon_ctl(&d, &status, "seen sieve 'joe@example.com:vacation' --ttl 7d");
    assert_int_equal(status, 1);
}

/* renewals - lock renewals the daemon granted, from stats */
static long renewals(void)
{
    const char *p = strstr(daemon_ctl(&d, NULL, "--json stats"), "\"lock_renewals\":");
    return p ? strtol(p + strlen("\"lock_renewals\":"), NULL, 10) : -1;
}

/* lock: the command runs under the lock; a second taker gets 75 while it runs; the lock outlives its short
 * TTL because it is renewed; afterwards it is free again and the command's exit status comes through */
static void test_lock(void **st)
{
    char args[512], flag[128];
    int status;
    (void)st;

    /* the first holder runs until the test removes its flag file (a condition, not a time) */
    snprintf(flag, sizeof flag, "%s/flag", d.dir);
    close(open(flag, O_WRONLY | O_CREAT, 0644));
    pid_t first = fork();
    assert_true(first >= 0);
    if (first == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "while [ -e %s ]; do sleep 0.05; done", flag);
        execl(d.ctl_bin, d.ctl_bin, "-s", d.control, "lock", "nightly", "--ttl", "3s", "--", "sh", "-c", cmd,
              (char *)NULL);
        _exit(127);
    }
    /* wait until the first holder has it (its key is there; no second taker runs before, so they never race
     * for it), then a second taker is refused with 75 */
    for (int i = 0; i < 600 && !strstr(daemon_ctl(&d, NULL, "--json kv get task-lock nightly"), "\"found\":\"yes\"");
         i++)
        poll(NULL, 0, 20);
    daemon_ctl(&d, &status, "lock nightly --ttl 2s -- true");
    assert_int_equal(status, 75);
    /* while the first holder runs, its lock is renewed every third of its TTL: after four renewals (more than
     * its TTL since it was taken; a condition read from stats, not a time) it is still held */
    for (int i = 0; i < 300 && renewals() < 4; i++)
        poll(NULL, 0, 50);
    assert_true(renewals() >= 4);
    daemon_ctl(&d, &status, "lock nightly --ttl 2s -- true");
    assert_int_equal(status, 75);
    unlink(flag);
    int st_first;
    assert_int_equal(waitpid(first, &st_first, 0), first);
    assert_true(WIFEXITED(st_first));
    assert_int_equal(WEXITSTATUS(st_first), 0);
    /* released: the next taker runs its command, whose exit status comes through */
    snprintf(args, sizeof args, "lock nightly --ttl 10s -- sh -c 'exit 3'");
    daemon_ctl(&d, &status, args);
    assert_int_equal(status, 3);
}

/* request=kv on the policy socket: refused by default (nothing written), answered with kv_on_policy = true */
static void test_kv_on_policy(void **st)
{
    char sock[160];
    int status;
    (void)st;

    snprintf(sock, sizeof sock, "%s/policy.sock", d.dir);
    const char *set = "request=kv\narg1=set\narg2=oauth\narg3=from-policy\narg4=v1\n\n";
    char *r = daemon_ask(sock, set);
    assert_non_null(strstr(r, "status=error"));
    assert_non_null(strstr(r, "kv_on_policy"));
    char *out = daemon_ctl(&d, &status, "--json kv get oauth from-policy");
    assert_non_null(strstr(out, "\"found\":\"no\""));
    /* an ordinary policy query on the same socket is still answered */
    assert_non_null(strstr(daemon_ask(sock, "request=smtpd_access_policy\nclient_address=192.0.2.1\n\n"),
                           "action=DUNNO"));

    assert_int_equal(daemon_stop(&d), 0);
    daemon_write_conf(&d, "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\";\n"
                          "           kv_on_policy = true; };\n"
                          "store = { snapshot = \"@DIR@/state\"; };\nrules = ();\n");
    daemon_start(&d);
    r = daemon_ask(sock, set);
    assert_non_null(strstr(r, "status=ok"));
    assert_non_null(strstr(r, "set=yes"));
    r = daemon_ask(sock, "request=kv\narg1=get\narg2=oauth\narg3=from-policy\n\n");
    assert_non_null(strstr(r, "value=v1"));
    out = daemon_ctl(&d, &status, "--json kv get oauth from-policy");
    assert_non_null(strstr(out, "\"value\":\"v1\""));
    /* the other control commands stay on the control socket */
    assert_null(strstr(daemon_ask(sock, "command=stats\n\n"), "status=ok"));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_kv_daemon FLOODGATED FLOODGATECTL\n");
        return 2;
    }
    d.bin = argv[1];
    d.ctl_bin = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_seen),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_kv_on_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
