/*
 * test_watch - the watches rules/watch.d ships, on real log lines (Debian's formats, IPv4 and IPv6), and the
 * checks of the watch settings
 */
#include "testutil.h"

#include "ban.h"
#include "engine.h"
#include "mem.h"
#include "watch.h"

typedef struct line_case {
    const char *watch;   /* the watch's name */
    const char *line;    /* a log line as Debian writes it */
    const char *address; /* client_address it must yield; NULL: the line must not match */
    const char *username; /* username it must yield, "" when it has none */
} line_case;

static const line_case cases[] = {
    {"postfix-sasl", "Nov 25 10:01:02 mx postfix/smtpd[2218]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6", "192.0.2.7", ""},
    {"postfix-sasl", "2026-11-25T10:01:02.331204+00:00 mx postfix/submission/smtpd[991]: warning: mail.example.net[2001:db8::7]: SASL PLAIN authentication failed: authentication failure", "2001:db8::7", ""},
    {"postfix-sasl", "Nov 25 10:01:02 mx postfix/smtpd[2218]: warning: unknown[192.0.2.7]: SASL LOGIN authentication failed: Connection lost to authentication server", NULL, NULL},
    {"postfix-sasl", "Nov 25 10:01:02 mx postfix/smtpd[2218]: connect from unknown[192.0.2.7]", NULL, NULL},
    {"postfix-auth-lost", "Nov 25 10:01:03 mx postfix/smtpd[2218]: lost connection after AUTH from unknown[192.0.2.8]", "192.0.2.8", ""},
    {"postfix-auth-lost", "Nov 25 10:01:03 mx postfix/smtps/smtpd[77]: lost connection after AUTH from unknown[2001:db8:1::8]", "2001:db8:1::8", ""},
    {"postfix-auth-lost", "Nov 25 10:01:03 mx postfix/smtpd[2218]: lost connection after RCPT from unknown[192.0.2.8]", NULL, NULL},
    {"dovecot", "Nov 25 10:02:00 mx dovecot: imap-login: Disconnected: Connection closed (auth failed, 1 attempts in 2 secs): user=<joe@example.com>, method=PLAIN, rip=192.0.2.9, lip=198.51.100.1, TLS, session=<Qk1sJ0QY1LnAqAAB>", "192.0.2.9", "joe@example.com"},
    {"dovecot", "2026-11-25T10:02:00.1+00:00 mx dovecot[812]: pop3-login: Login aborted: Connection closed (auth failed, 3 attempts in 15 secs) (auth_failed): user=<joe>, method=PLAIN, rip=2001:db8::9, lip=2001:db8::1, session=<x>", "2001:db8::9", "joe"},
    {"dovecot", "Nov 25 10:02:00 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 4 secs): user=<>, method=PLAIN, rip=192.0.2.10, lip=198.51.100.1, session=<y>", "192.0.2.10", ""},
    {"dovecot", "Nov 25 10:02:00 mx dovecot: imap-login: Login: user=<joe@example.com>, method=PLAIN, rip=192.0.2.9, lip=198.51.100.1, mpid=4242, TLS", NULL, NULL},
    {"dovecot", "Nov 25 10:02:00 mx dovecot: imap-login: Disconnected (auth policy) (auth failed, 1 attempts in 1 secs): user=<joe>, method=PLAIN, rip=192.0.2.9, lip=198.51.100.1", NULL, NULL},
    /* hostile user names: the client picks them, so a name that reads like the rest of the line must neither
     * put another address in client_address (counting, later banning, an innocent one) nor hide the line */
    {"sshd-invalid-user", "Nov 25 10:03:01 host sshd[4113]: Invalid user x from 203.0.113.9 port 1 from 192.0.2.12 port 40022", "192.0.2.12", "x from 203.0.113.9 port 1"},
    {"sshd-password", "Nov 25 10:03:00 host sshd[4112]: Failed password for invalid user x from 203.0.113.9 port 1 ssh2: from 192.0.2.11 port 52144 ssh2", "192.0.2.11", "x from 203.0.113.9 port 1 ssh2:"},
    {"sshd-password", "Nov 25 10:03:00 host sshd[4112]: Failed publickey for root from 192.0.2.11 port 52144 ssh2: RSA SHA256:AbCd0123+/xyz", "192.0.2.11", "root"},
    {"sshd-preauth", "Nov 25 10:03:02 host sshd[4114]: Connection closed by invalid user x 203.0.113.9 port 1 [preauth] 192.0.2.13 port 50090 [preauth]", "192.0.2.13", "x 203.0.113.9 port 1 [preauth]"},
    {"dovecot", "Nov 25 10:02:00 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.9, lip=>, method=PLAIN, rip=192.0.2.9, lip=198.51.100.1, session=<y>", "192.0.2.9", "x>, method=PLAIN, rip=203.0.113.9, lip="},
    {"dovecot", "Nov 25 10:02:00 mx dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x (auth policy)>, method=PLAIN, rip=192.0.2.9, lip=198.51.100.1, session=<y>", "192.0.2.9", "x (auth policy)"},
    {"sshd-password", "Nov 25 10:03:00 host sshd[4112]: Failed password for root from 192.0.2.11 port 52144 ssh2", "192.0.2.11", "root"},
    {"sshd-password", "Nov 25 10:03:00 host sshd[4112]: Failed password for invalid user admin from 2001:db8::11 port 52144 ssh2", "2001:db8::11", "admin"},
    {"sshd-password", "Nov 25 10:03:00 host sshd[4112]: Accepted password for joe from 192.0.2.11 port 52144 ssh2", NULL, NULL},
    {"sshd-invalid-user", "Nov 25 10:03:01 host sshd[4113]: Invalid user oracle from 192.0.2.12 port 40022", "192.0.2.12", "oracle"},
    {"sshd-preauth", "Nov 25 10:03:02 host sshd[4114]: Connection closed by authenticating user root 192.0.2.13 port 50090 [preauth]", "192.0.2.13", "root"},
    {"sshd-preauth", "Nov 25 10:03:02 host sshd[4114]: Disconnected from invalid user test 2001:db8::13 port 50090 [preauth]", "2001:db8::13", "test"},
    {"nginx-auth", "2026/11/25 10:04:00 [error] 1234#1234: *5 user \"admin\": password mismatch, client: 192.0.2.14, server: example.com, request: \"GET /private/ HTTP/1.1\", host: \"example.com\"", "192.0.2.14", "admin"},
    {"nginx-auth", "2026/11/25 10:04:01 [error] 1234#1234: *6 user \"bob\" was not found in \"/etc/nginx/.htpasswd\", client: 2001:db8::14, server: example.com, request: \"GET / HTTP/1.1\"", "2001:db8::14", "bob"},
    {"nginx-auth", "2026/11/25 10:04:02 [error] 1234#1234: *7 no user/password was provided for basic authentication, client: 192.0.2.14, server: example.com", NULL, NULL},
};

/* shipped - every file of rules/watch.d in one watch list, included as the README shows */
static fg_conf *shipped(conf_errors *errs)
{
    static const char *const files[] = {"postfix-sasl", "postfix-auth-lost", "dovecot", "sshd", "nginx-auth"};
    const char *data = getenv("FG_TESTDATA");
    char text[4096], path[512], name[64], body[8192];
    size_t at = 0;

    at += (size_t)snprintf(text + at, sizeof text - at, "listen = { policy = \"unix:/tmp/x.sock\"; };\nwatch = (\n");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        /* libconfig reads @include relative to the configuration's folder: copy each file beside it */
        snprintf(path, sizeof path, "%s/../../rules/watch.d/%s.conf", data ? data : "tests/data", files[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        body[fread(body, 1, sizeof body - 1, f)] = '\0';
        fclose(f);
        snprintf(name, sizeof name, "watch-%s.conf", files[i]);
        write_temp(name, body);
        at += (size_t)snprintf(text + at, sizeof text - at, "%s@include \"%s\"\n", i ? ",\n" : "", name);
    }
    /* and each watch's ban rule, in the rules list */
    at += (size_t)snprintf(text + at, sizeof text - at, ");\nrules = (\n");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/../../rules/watch.d/%s.rules", data ? data : "tests/data", files[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        body[fread(body, 1, sizeof body - 1, f)] = '\0';
        fclose(f);
        snprintf(name, sizeof name, "watch-%s.rules", files[i]);
        write_temp(name, body);
        at += (size_t)snprintf(text + at, sizeof text - at, "%s@include \"%s\"\n", i ? ",\n" : "", name);
    }
    snprintf(text + at, sizeof text - at, ");\n");
    return load_text(text, errs);
}

/* find - a watch by name */
static watch_spec *find(fg_conf *c, const char *name)
{
    for (unsigned i = 0; i < c->watches->n; i++)
        if (!strcmp(c->watches->w[i].name, name))
            return &c->watches->w[i];
    fail_msg("no watch %s", name);
    return NULL;
}

/* value - the value of a named group in a match, "" if it did not take part */
static const char *value(const char *line, const watch_attr *at, int n, const char *name, char *buf, size_t size)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(at[i].name, name)) {
            snprintf(buf, size, "%.*s", (int)at[i].len, line + at[i].off);
            return buf;
        }
    return "";
}

/* each shipped watch extracts what it must from real lines, and leaves the others alone */
static void test_shipped_watches(void **st)
{
    conf_errors errs = {0};
    fg_conf *c = shipped(&errs);
    (void)st;

    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    assert_int_equal(c->watches->n, 7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const line_case *lc = &cases[i];
        watch_attr at[WATCH_GROUPS_MAX];
        char a[128], u[128];
        int n = watch_line(find(c, lc->watch), lc->line, strlen(lc->line), at);
        if (!lc->address) {
            if (n != -1)
                fail_msg("case %zu (%s): matched a line it must not match", i, lc->watch);
            continue;
        }
        if (n < 0)
            fail_msg("case %zu (%s): no match", i, lc->watch);
        assert_string_equal(value(lc->line, at, n, "client_address", a, sizeof a), lc->address);
        assert_string_equal(value(lc->line, at, n, "username", u, sizeof u), lc->username);
        assert_string_equal(find(c, lc->watch)->event, "auth_failure");
    }
    conf_free(c);
}

/* each shipped watch has a ban rule that picks its reports (by the report's watch attribute) and bans
 * the address after a handful of them; another watch's reports do not count toward it */
static void test_shipped_bans(void **st)
{
    conf_errors errs = {0};
    fg_conf *c = shipped(&errs);
    store *s = mem_store_new(&(mem_config){.seed = 3});
    engine eng = {.store = s, .bans = ban_index_new(), .on_error = ON_ERROR_TEMPFAIL};
    eval ev = {0};
    char text[512], buf[512];
    fg_request req;
    uint64_t now = 1800000000000ULL;
    fg_addr a;
    (void)st;

    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    for (unsigned w = 0; w < c->watches->n; w++) {
        const watch_spec *spec = &c->watches->w[w];
        char addr[32];
        int n = 0;
        snprintf(addr, sizeof addr, "192.0.2.%u", w + 1);
        assert_int_equal(addr_parse(addr, strlen(addr), &a), 0);
        /* 30 reports of this watch at most, one a second: banned before the last */
        while (n < 30 && !ban_match(eng.bans, &a, now / 1000)) {
            snprintf(text, sizeof text, "request=report\nevent=%s\nwatch=%s\nclient_address=%s", spec->event,
                     spec->name, addr);
            make_req(buf, sizeof buf, text, &req);
            assert_int_equal(engine_eval(&eng, &ev, c->rules, &req, now, NULL, NULL), ENGINE_DONE);
            now += 1000;
            n++;
        }
        const ban_rec *b = ban_match(eng.bans, &a, now / 1000);
        if (!b)
            fail_msg("watch %s: no ban after %d reports", spec->name, n);
        assert_true(n >= 5);
        assert_non_null(strstr(b->rule, "-ban"));
        assert_int_equal(b->expires, b->since + 3600);
        /* an IPv6 client that takes a new address of its /64 for each try is banned all the same, as a /64 */
        n = 0;
        snprintf(addr, sizeof addr, "2001:db8:%u::ffff", w + 1);
        assert_int_equal(addr_parse(addr, strlen(addr), &a), 0);
        while (n < 30 && !ban_match(eng.bans, &a, now / 1000)) {
            snprintf(text, sizeof text, "request=report\nevent=%s\nwatch=%s\nclient_address=2001:db8:%u::%x",
                     spec->event, spec->name, w + 1, n + 1);
            make_req(buf, sizeof buf, text, &req);
            assert_int_equal(engine_eval(&eng, &ev, c->rules, &req, now, NULL, NULL), ENGINE_DONE);
            now += 1000;
            n++;
        }
        b = ban_match(eng.bans, &a, now / 1000);
        if (!b)
            fail_msg("watch %s: no ban of the /64 after %d reports from as many of its addresses", spec->name, n);
        assert_int_equal(b->prefix, 64);
    }
    /* a report with no watch (sent over the socket) feeds none of them */
    assert_int_equal(addr_parse("198.51.100.1", 12, &a), 0);
    for (int i = 0; i < 30; i++) {
        make_req(buf, sizeof buf, "request=report\nevent=auth_failure\nclient_address=198.51.100.1", &req);
        assert_int_equal(engine_eval(&eng, &ev, c->rules, &req, now, NULL, NULL), ENGINE_DONE);
    }
    assert_null(ban_match(eng.bans, &a, now / 1000));
    eval_release(&ev);
    ban_index_free(eng.bans);
    store_free(s);
    conf_free(c);
}

/* a hostile line: a catastrophic pattern stops at its match limit (counted), long lines are cut */
static void test_hostile_lines(void **st)
{
    conf_errors errs = {0};
    fg_conf *c = load_text("listen = { policy = \"unix:/tmp/x.sock\"; };\n"
                           "watch = ( { name = \"slow\"; file = \"/tmp/none.log\"; event = \"x\";\n"
                           "            match = \"/^(?<client_address>\\\\w)(\\\\w+\\\\s?)*$/\"; } );\nrules = ();\n",
                           &errs);
    watch_attr at[WATCH_GROUPS_MAX];
    char line[4096];
    (void)st;

    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    memset(line, 'a', sizeof line);
    memcpy(line + sizeof line - 2, "!\0", 2);
    watch_spec *w = &c->watches->w[0];
    assert_int_equal(watch_line(w, line, strlen(line), at), -2);
    assert_int_equal(w->match_errors, 1);
    conf_free(c);
}

/* the settings are checked with their lines: no pattern, a broken one, both or neither source, and a watch
 * without client_address that feeds a rule counting by client_address */
static void test_errors(void **st)
{
    conf_errors errs = {0};
    (void)st;

    assert_null(load_text("listen = { policy = \"unix:/tmp/x.sock\"; };\n"
                          "watch = (\n"
                          "  { name = \"a\"; file = \"/x\"; event = \"e\"; },\n"
                          "  { name = \"b\"; file = \"/x\"; event = \"e\"; match = \"/(unclosed/\"; },\n"
                          "  { name = \"c\"; event = \"e\"; match = \"/x/\"; },\n"
                          "  { name = \"d\"; file = \"/x\"; event = \"auth_failure\"; match = \"/user (?<username>\\\\S+)/\"; }\n"
                          ");\n"
                          "rules = ( { name = \"r\"; on = \"report:auth_failure\";\n"
                          "  limit = { key = \"client_address\"; count = 5; per = \"10m\"; }; } );\n",
                          &errs));
    assert_true(has_error(&errs, 3, "match: missing"));
    assert_true(has_error(&errs, 4, "missing closing parenthesis"));
    assert_true(has_error(&errs, 5, "either file"));
    assert_true(has_error(&errs, 6, "no (?<client_address>"));
    conf_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_watches),
        cmocka_unit_test(test_shipped_bans),
        cmocka_unit_test(test_hostile_lines),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
