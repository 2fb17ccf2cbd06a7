/*
 * test_logs - the decision log of the real floodgated: one key=value line per refusal (and per decision with
 * log_requests = true), values that a client chose quoted and escaped so that key=value splitting never breaks,
 * the lines rate-limited (log_rate), reloads logged in the same form, dry-run rules' would-have lines, and a
 * limit with several rates
 *
 *     test_logs FLOODGATED FLOODGATECTL
 */
#include "daemon_util.h"

static fg_daemon d;

/* ask - one policy request on a fresh connection; the reply */
static char *ask(const char *req)
{
    return daemon_policy(&d, req);
}

/* log_text - the daemon's log so far */
static char *log_text(void)
{
    return daemon_log(&d);
}

/* count - occurrences of needle in the log */
static int count(const char *needle)
{
    int n = 0;
    for (const char *p = log_text(); (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* wait_log - until the log holds needle (written by the daemon as it answers: a condition) */
static void wait_log(const char *needle)
{
    for (int i = 0; i < 500 && !strstr(log_text(), needle); i++)
        poll(NULL, 0, 10);
    if (!strstr(log_text(), needle))
        fail_msg("not in the log: %s\n---\n%s", needle, log_text());
}

static int setup(void **st)
{
    (void)st;
    if (daemon_init(&d, d.bin, d.ctl_bin) < 0)
        return -1;
    daemon_write_conf(&d, "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                          "log_requests = true; log_rate = 5;\n"
                          "rules = ( { name = \"no-spammer\"; on = \"smtp:RCPT\"; if = { sender = \"/^spam/\"; };\n"
                          "            action = \"REJECT 5.7.1 go away\"; },\n"
                          "          { name = \"watch-sender\"; on = \"smtp:RCPT\"; if = { sender = \"/^dry/\"; };\n"
                          "            limit = { key = [\"sender\"]; rates = [\"2/1m\", \"5/1h\"]; }; dry_run = true; },\n"
                          "          { name = \"dry-block\"; on = \"smtp:RCPT\"; if = { sender = \"/^dry/\"; };\n"
                          "            action = \"REJECT 5.7.1 not yet\"; dry_run = true; },\n"
                          "          { name = \"rates\"; on = \"smtp:RCPT\"; if = { sender = \"/^multi/\"; };\n"
                          "            limit = { key = [\"sender\"]; rates = [\"3/1h\", \"2/1m\"]; };\n"
                          "            action = \"DEFER_IF_PERMIT 4.7.1 at most $count per $per\"; } );\n");
    daemon_start(&d);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    return daemon_cleanup(&d);
}

#define RCPT(sender) "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.7\nsender=" sender "\nrecipient=r@example.com\n\n"

/* the form of a line, for a passed and a refused request and a hostile value */
static void test_decision_lines(void **st)
{
    (void)st;
    assert_string_equal(ask(RCPT("joe@example.org")), "action=DUNNO\n\n");
    wait_log("decision request=smtpd_access_policy rule=- client_address=192.0.2.7 sender=joe@example.org "
             "recipient=r@example.com action=DUNNO");
    ask(RCPT("spam@example.org"));
    wait_log("decision request=smtpd_access_policy rule=no-spammer client_address=192.0.2.7 sender=spam@example.org "
             "recipient=r@example.com action=\"REJECT 5.7.1 go away\"");
    /* a sender that tries to forge a field: spaces, quotes, '=' and a control byte are quoted and escaped */
    ask(RCPT("spam\" action=OK x=\x01@example.org"));
    wait_log("sender=\"spam\\\" action=OK x=\\x01@example.org\" recipient=");
}

/* a flood of refusals gives at most log_rate lines a second, and says how many it dropped */
static void test_rate_limited(void **st)
{
    (void)st;
    int before = count("rule=no-spammer");
    for (int i = 0; i < 50; i++)
        ask(RCPT("spam@flood.example"));
    assert_non_null(strstr(ask(RCPT("spam@flood.example")), "REJECT"));
    int logged = count("rule=no-spammer") - before;
    /* the requests took at most a few seconds: 5 per second plus the one that reports the drops */
    assert_true(logged < 50);
    assert_true(logged >= 1);
}

/* stat - the value of a name in floodgatectl's table ("name   value" lines) */
static unsigned long stat(const char *out, const char *name)
{
    unsigned long v = 0;
    const char *p = strstr(out, name);
    if (!p || sscanf(p + strlen(name), " %lu", &v) != 1)
        fail_msg("no %s in:\n%s", name, out);
    return v;
}

/* field_is - floodgatectl's table has the line "name   value..." with value starting so */
static void field_is(const char *out, const char *name, const char *value)
{
    size_t n = strlen(name);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) || p[n] != ' ')
            continue;
        p += n;
        while (*p == ' ')
            p++;
        if (strncmp(p, value, strlen(value)))
            fail_msg("%s is not %s in:\n%s", name, value, out);
        return;
    }
    fail_msg("no %s in:\n%s", name, out);
}

/* a dry-run rule counts and never decides: what it would have done is logged and counted per rule */
static void test_dry_run(void **st)
{
    int status;
    (void)st;
    /* from the third on, each would have been deferred by the 1m window, and the action-only rule would have
     * rejected each; the lines share log_rate with the decision lines, so ask until they are through */
    for (int i = 0; i < 50 && (i < 4 || !strstr(log_text(), "would=\"DEFER") || !strstr(log_text(), "rule=dry-block"));
         i++) {
        assert_string_equal(ask(RCPT("dry@example.org")), "action=DUNNO\n\n");
        if (i >= 3)
            poll(NULL, 0, 100);
    }
    wait_log("dry_run request=smtpd_access_policy rule=watch-sender client_address=192.0.2.7 sender=dry@example.org "
             "recipient=r@example.com would=\"DEFER_IF_PERMIT 4.7.1 Rate limit exceeded, try again in ");
    wait_log("dry_run request=smtpd_access_policy rule=dry-block client_address=192.0.2.7 sender=dry@example.org "
             "recipient=r@example.com would=\"REJECT 5.7.1 not yet\"");
    char *out = daemon_ctl(&d, &status, "stats");
    assert_int_equal(status, 0);
    assert_int_equal(stat(out, "rule.watch-sender.decided"), 0);
    assert_int_equal(stat(out, "rule.dry-block.decided"), 0);
    unsigned long matched = stat(out, "rule.watch-sender.matched"), would = stat(out, "rule.watch-sender.dry_run_would"),
                  block = stat(out, "rule.dry-block.dry_run_would");
    assert_true(matched >= 4);
    assert_int_equal(would, matched - 2);
    assert_int_equal(block, matched);
    /* it counted the two it would have admitted, not those it would have refused */
    out = daemon_ctl(&d, &status, "counter watch-sender dry@example.org");
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "1m:2/2:"));
    assert_non_null(strstr(out, ",1h:2/5:0"));
}

/* several rates on one key: the 1m window refuses the third request, which counts in neither window,
 * and the action names the window that refused */
static void test_rates(void **st)
{
    int status;
    (void)st;
    assert_string_equal(ask(RCPT("multi@example.org")), "action=DUNNO\n\n");
    assert_string_equal(ask(RCPT("multi@example.org")), "action=DUNNO\n\n");
    assert_string_equal(ask(RCPT("multi@example.org")), "action=DEFER_IF_PERMIT 4.7.1 at most 2 per 1m\n\n");
    char *out = daemon_ctl(&d, &status, "counter rates multi@example.org");
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, " 1h:2/3:0,1m:2/2:"));
    assert_int_equal(stat(out, "\nlimit"), 2);
}

/* explain: every rule, why it applies or not, its counter and who decides; and it counts nothing */
static void test_explain(void **st)
{
    int status;
    (void)st;
    char *out = daemon_ctl(&d, &status, "stats");
    unsigned long matched = stat(out, "rule.rates.matched"), requests = stat(out, "requests");
    for (int i = 0; i < 3; i++) {
        out = daemon_ctl(&d, &status, "explain smtp:RCPT client_address=192.0.2.7 sender=multi@example.org "
                                      "recipient=r@example.com");
        assert_int_equal(status, 0);
        field_is(out, "rule.no-spammer.conditions", "if sender failed");
        field_is(out, "rule.rates.conditions", "hold");
        field_is(out, "rule.rates.rates", "1h:2/3:0,1m:2/2:");
        field_is(out, "rule.rates.would", "refuse (the limit is full)");
        field_is(out, "rule.watch-sender.on", "yes");
        field_is(out, "rule.watch-sender.conditions", "if sender failed");
        field_is(out, "ban", "none");
        field_is(out, "decides", "rates");
        field_is(out, "action", "DEFER_IF_PERMIT 4.7.1 at most 2 per 1m");
    }
    /* a dry-run rule is shown as one, and decides nothing */
    out = daemon_ctl(&d, &status, "--json explain smtp:RCPT client_address=192.0.2.7 sender=dry@example.org");
    assert_non_null(strstr(out, "\"rule.watch-sender.dry_run\":\"yes\""));
    assert_non_null(strstr(out, "\"decides\":\"none\""));
    assert_non_null(strstr(out, "\"action\":\"DUNNO\""));
    /* nothing moved: the counters, the rules' statistics, the requests */
    out = daemon_ctl(&d, &status, "counter rates multi@example.org");
    field_is(out, "rates", "1h:2/3:0,1m:2/2:");
    out = daemon_ctl(&d, &status, "stats");
    assert_int_equal(stat(out, "rule.rates.matched"), matched);
    assert_int_equal(stat(out, "requests"), requests + 6); /* framed on the control socket: 4 explain, 2 stats */
}

/* a reload is logged in the same form, success and failure */
static void test_reload_lines(void **st)
{
    int status;
    (void)st;
    daemon_ctl(&d, &status, "reload");
    assert_int_equal(status, 0);
    wait_log("reload file=");
    wait_log("result=ok rules=4");
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_logs FLOODGATED FLOODGATECTL\n");
        return 2;
    }
    d.bin = argv[1];
    d.ctl_bin = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decision_lines),
        cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_reload_lines),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
