/*
 * test_logs - the decision log of the real floodgated: one key=value line per refusal (and per decision with
 * log_requests = true), values that a client chose quoted and escaped so that key=value splitting never breaks,
 * the lines rate-limited (log_rate), and reloads logged in the same form
 *
 *     test_logs FLOODGATED FLOODGATECTL
 */
#include "daemon_util.h"

static fg_daemon d;

/* ask - one policy request on a fresh connection; the reply */
static char *ask(const char *req)
{
    static char reply[4096];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t got = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/policy.sock", d.dir);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got < sizeof reply - 1) {
        ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        reply[got] = '\0';
        if (strstr(reply, "\n\n"))
            break;
    }
    close(fd);
    reply[got] = '\0';
    return reply;
}

/* log_text - the daemon's log so far */
static char *log_text(void)
{
    static char text[1 << 16];
    char path[160];
    snprintf(path, sizeof path, "%s/daemon.log", d.dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    return text;
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
                          "            action = \"REJECT 5.7.1 go away\"; } );\n");
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

/* a reload is logged in the same form, success and failure */
static void test_reload_lines(void **st)
{
    int status;
    (void)st;
    daemon_ctl(&d, &status, "reload");
    assert_int_equal(status, 0);
    wait_log("reload file=");
    wait_log("result=ok rules=1");
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
