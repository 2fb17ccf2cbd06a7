/*
 * test_watch_daemon - the real floodgated follows a log file that the test appends to: matching lines count
 * in the rule of their event (what a ban rule counts), old lines at start are not replayed, a reload keeps the
 * position, and `floodgatectl watches` shows the counters.
 *
 *     test_watch_daemon FLOODGATED FLOODGATECTL
 * $FG_WRAPPER (e.g. valgrind ...) runs the daemon.
 */
#include "daemon_util.h"

static fg_daemon d;
static char logfile[160];
static const char *rules_dir; /* the shipped rules/ */

#define FAIL_LINE(ip) "Nov 25 10:01:02 mx postfix/smtpd[2218]: warning: unknown[" ip "]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n"

/* write_conf - the configuration, with the rule's count */
static void write_conf(int count)
{
    char text[2048];
    snprintf(text, sizeof text,
             "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
             "watch = ( { name = \"postfix-sasl\"; file = \"@DIR@/mail.log\"; event = \"auth_failure\";\n"
             "  match = \"/warning: [-._[:alnum:]]+\\\\[(?<client_address>[0-9a-fA-F.:]+)\\\\]: SASL [A-Z0-9-]+ authentication failed/\"; } );\n"
             "rules = ( { name = \"sasl-failures\"; on = \"report:auth_failure\";\n"
             "  limit = { key = \"client_address\"; count = %d; per = \"1h\"; }; } );\n",
             count);
    daemon_write_conf(&d, text);
}

/* append - a line to the log, as the MTA's syslog would */
static void append(const char *text)
{
    int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* counted - the count of the rule's counter for an address */
static long counted(const char *ip)
{
    char args[128];
    snprintf(args, sizeof args, "--json counter sasl-failures %s", ip);
    const char *c = strstr(daemon_ctl(&d, NULL, args), "\"count\":");
    return c ? strtol(c + 8, NULL, 10) : -1;
}

/* wait_count - until the counter reads want (up to 60 s for valgrind: a condition, not a time) */
static void wait_count(const char *ip, long want)
{
    for (int i = 0; i < 600; i++) {
        if (counted(ip) == want)
            return;
        poll(NULL, 0, 100);
    }
    fail_msg("counter of %s is %ld, not %ld\n%s", ip, counted(ip), want, daemon_ctl(&d, NULL, "watches"));
}

static int setup(void **st)
{
    (void)st;
    return daemon_init(&d, d.bin, d.ctl_bin);
}

static int teardown(void **st)
{
    (void)st;
    return daemon_cleanup(&d);
}

/* the whole life of a watch: start, lines, reload, the counters, a clean stop */
static void test_watch_counts_reports(void **st)
{
    (void)st;
    snprintf(logfile, sizeof logfile, "%s/mail.log", d.dir);
    /* lines written before the daemon starts are history: not counted */
    append(FAIL_LINE("192.0.2.7") FAIL_LINE("192.0.2.7"));
    write_conf(10);
    daemon_start(&d);
    append(FAIL_LINE("192.0.2.7"));
    append("Nov 25 10:01:02 mx postfix/smtpd[2218]: connect from unknown[192.0.2.7]\n");
    append(FAIL_LINE("2001:db8::7") FAIL_LINE("192.0.2.7"));
    wait_count("192.0.2.7", 2);
    wait_count("2001:db8::7", 1);
    /* a reload keeps the position: nothing is read twice, the next line counts once */
    write_conf(20);
    assert_non_null(strstr(daemon_ctl(&d, NULL, "reload"), "ok"));
    append(FAIL_LINE("192.0.2.7"));
    wait_count("192.0.2.7", 3);
    const char *w = daemon_ctl(&d, NULL, "--json watches");
    assert_non_null(strstr(w, "\"watch.postfix-sasl.matched\":4"));
    assert_non_null(strstr(w, "\"watch.postfix-sasl.lines\":5"));
    assert_int_equal(daemon_stop(&d), 0);
}

/* stat_of - one number of floodgatectl stats, -1 if absent */
static long stat_of(const char *name)
{
    const char *out = daemon_ctl(&d, NULL, "stats");
    size_t n = strlen(name);
    for (const char *p = out; (p = strstr(p, name)) != NULL; p += n)
        if ((p == out || p[-1] == '\n') && (p[n] == ' ' || p[n] == '='))
            return atol(p + n + 1 + strspn(p + n + 1, " "));
    return -1;
}

/* issue 9: the shipped ban rule of the Postfix SASL watch bans an address on its 5th failed login read from
 * the log while the daemon runs; its other requests are refused from then on (polled: no time asserted) */
static void test_watch_bans(void **st)
{
    char text[2048], req[256], policy[160];
    (void)st;
    snprintf(policy, sizeof policy, "%s/policy.sock", d.dir);
    snprintf(logfile, sizeof logfile, "%s/mail.log", d.dir);
    snprintf(text, sizeof text,
             "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
             "watch = ( { name = \"postfix-sasl\"; file = \"@DIR@/mail.log\"; event = \"auth_failure\";\n"
             "  match = \"/warning: [-._[:alnum:]]+\\\\[(?<client_address>[0-9a-fA-F.:]+)\\\\]: SASL [A-Z0-9-]+ authentication failed/\"; } );\n"
             "rules = (\n@include \"postfix-sasl.rules\"\n);\n");
    daemon_write_conf(&d, text);
    /* libconfig reads @include beside the configuration: the shipped file is copied there */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s/watch.d/postfix-sasl.rules %s/", rules_dir, d.dir);
    assert_int_equal(system(cmd), 0);
    daemon_start(&d);
    snprintf(req, sizeof req, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.50\n"
             "sender=a@example.net\nrecipient=b@example.com\n\n");
    for (int i = 0; i < 4; i++)
        append(FAIL_LINE("203.0.113.50"));
    append(FAIL_LINE("2001:db8::50"));
    /* four failures are within the rule's count: read (the watch says so), and no ban */
    for (int i = 0; i < 600 && !strstr(daemon_ctl(&d, NULL, "--json watches"), "\"watch.postfix-sasl.matched\":5"); i++)
        poll(NULL, 0, 100);
    assert_non_null(strstr(daemon_ctl(&d, NULL, "--json watches"), "\"watch.postfix-sasl.matched\":5"));
    assert_int_equal(stat_of("rule.postfix-sasl-ban.banned"), 0);
    assert_non_null(strstr(daemon_ask(policy, req), "action=DUNNO"));
    /* the fifth bans it */
    append(FAIL_LINE("203.0.113.50"));
    for (int i = 0; i < 600 && stat_of("rule.postfix-sasl-ban.banned") != 1; i++)
        poll(NULL, 0, 100);
    assert_int_equal(stat_of("rule.postfix-sasl-ban.banned"), 1);
    const char *reply = daemon_ask(policy, req);
    if (!strstr(reply, "action=REJECT") || !strstr(reply, "SMTP AUTH password guessing"))
        fail_msg("a banned client got \"%s\"", reply);
    /* another address is not affected */
    reply = daemon_ask(policy, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=203.0.113.51\n\n");
    assert_non_null(strstr(reply, "action=DUNNO"));
    assert_int_equal(daemon_stop(&d), 0);
}

/* a pattern whose named groups overlap (a lookahead takes the whole line, another group most of it again) copies
 * more than the line into its request: long lines (8,000 bytes, what a client can put in a logged user name)
 * count, also when a reload gave the running watch that pattern, and the daemon stops cleanly (the copy ran past
 * the slot's buffer, sized at start for the line once) */
static void test_watch_overlapping_groups(void **st)
{
    static const char *const match[] = {
        "/warning: [-._[:alnum:]]+\\\\[(?<client_address>[0-9a-fA-F.:]+)\\\\]: SASL [A-Z0-9-]+ authentication failed/",
        "/^(?=(?<text>.*))(?<head>.*) rip=(?<client_address>[0-9.]+)$/",
    };
    char text[2048], line[8200];
    (void)st;
    snprintf(logfile, sizeof logfile, "%s/mail.log", d.dir);
    memset(line, 'u', sizeof line);
    snprintf(line + 8000, sizeof line - 8000, " rip=192.0.2.9\n");
    for (int m = 0; m < 2; m++) {
        snprintf(text, sizeof text,
                 "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                 "watch = ( { name = \"postfix-sasl\"; file = \"@DIR@/mail.log\"; event = \"auth_failure\";\n"
                 "  match = \"%s\"; } );\n"
                 "rules = ( { name = \"sasl-failures\"; on = \"report:auth_failure\";\n"
                 "  limit = { key = \"client_address\"; count = 10; per = \"1h\"; }; } );\n",
                 match[m]);
        daemon_write_conf(&d, text);
        if (m == 0) {
            daemon_start(&d);
            append(FAIL_LINE("192.0.2.9"));
            wait_count("192.0.2.9", 1);
        } else {
            assert_non_null(strstr(daemon_ctl(&d, NULL, "reload"), "ok"));
        }
    }
    for (int i = 0; i < 3; i++)
        append(line);
    wait_count("192.0.2.9", 4);
    assert_int_equal(daemon_stop(&d), 0);
    /* the same pattern from the start (a new daemon: no snapshot, so counters start again) */
    daemon_start(&d);
    for (int i = 0; i < 3; i++)
        append(line);
    wait_count("192.0.2.9", 3);
    assert_int_equal(daemon_stop(&d), 0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: test_watch_daemon FLOODGATED FLOODGATECTL RULES_DIR\n");
        return 2;
    }
    d.bin = argv[1];
    d.ctl_bin = argv[2];
    rules_dir = argv[3];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_counts_reports),
        cmocka_unit_test(test_watch_bans),
        cmocka_unit_test(test_watch_overlapping_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
