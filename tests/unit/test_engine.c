/*
 * test_engine - verdicts from rules and the embedded store, with an injected clock
 */
#include "testutil.h"

#include <ctype.h>

#include "engine_fixture.h"

#define RCPT(ip, snd) "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" ip "\nsender=" snd "\nrecipient=r@example.com"

/* count events pass, the next is refused with the rule's text; time frees it */
static void test_limit_and_recovery(void **st)
{
    fixture *f = setup("{ name = \"per-sender\"; on = \"smtp:RCPT\"; limit = { key = \"sender\"; count = 3; per = \"1m\"; };\n"
                       "  action = \"DEFER_IF_PERMIT 4.7.1 $sender: slow down ($retry_after s)\"; }");
    uint64_t t = 1699999998000ULL; /* on a 6 s bucket boundary */
    (void)st;

    for (int i = 0; i < 3; i++)
        assert_string_equal(ask(f, t + (uint64_t)i, RCPT("192.0.2.1", "a@x.org")), "DUNNO");
    assert_string_equal(ask(f, t + 10, RCPT("192.0.2.1", "a@x.org")), "DEFER_IF_PERMIT 4.7.1 a@x.org: slow down (66 s)");
    assert_string_equal(f->ev.v.reason, "per-sender");
    /* case of the sender does not matter; another sender is another counter */
    assert_true(strncmp(ask(f, t + 11, RCPT("192.0.2.1", "A@X.ORG")), "DEFER", 5) == 0);
    assert_string_equal(ask(f, t + 12, RCPT("192.0.2.1", "b@x.org")), "DUNNO");
    /* a minute and a sub-bucket later the window has room again: retry_after said so */
    assert_string_equal(ask(f, t + 66000, RCPT("192.0.2.1", "a@x.org")), "DUNNO");
    teardown(f);
}

/* a client that keeps retrying gets through at the configured rate: denials are not counted */
static void test_denied_not_counted(void **st)
{
    fixture *f = setup("{ name = \"r\"; on = \"auth\"; limit = { key = \"client_address\"; count = 2; per = \"10s\"; }; }");
    uint64_t t = 1000000000;
    int passed = 0;
    (void)st;

    /* one attempt every 100 ms for 100 s: 2 per 10 s, so about 20 pass */
    for (int i = 0; i < 1000; i++)
        passed += !strcmp(ask(f, t + (uint64_t)i * 100, "request=auth\nclient_address=198.51.100.4\nusername=u"), "DUNNO");
    assert_true(passed >= 18 && passed <= 20);
    teardown(f);
}

/* case variants of a 220-byte sender (past KEY_PART_MAX: folded, then hashed) share one counter, as short
 * ones do; another long sender is another counter (issue 7, defect 8: three variants were three counters) */
static void test_long_sender_case(void **st)
{
    fixture *f = setup("{ name = \"per-sender\"; on = \"smtp:RCPT\"; limit = { key = \"sender\"; count = 2; per = \"1m\"; };\n"
                       "  action = \"DEFER_IF_PERMIT 4.7.1 slow down\"; }");
    char sender[221], req[512];
    uint64_t t = 1699999998000ULL;
    (void)st;

    for (int i = 0; i < 220; i++)
        sender[i] = "abcdefghij"[i % 10];
    memcpy(sender + 200, "@example.org", 12);
    sender[220] = '\0';
    snprintf(req, sizeof req, RCPT("192.0.2.1", "%s"), sender);
    assert_string_equal(ask(f, t, req), "DUNNO");
    sender[0] = 'A';
    snprintf(req, sizeof req, RCPT("192.0.2.1", "%s"), sender);
    assert_string_equal(ask(f, t + 1, req), "DUNNO");
    for (int i = 0; i < 220; i++)
        sender[i] = (char)toupper((unsigned char)sender[i]);
    snprintf(req, sizeof req, RCPT("192.0.2.1", "%s"), sender);
    assert_string_equal(ask(f, t + 2, req), "DEFER_IF_PERMIT 4.7.1 slow down");
    sender[1] = 'Z';
    snprintf(req, sizeof req, RCPT("192.0.2.1", "%s"), sender);
    assert_string_equal(ask(f, t + 3, req), "DUNNO");
    teardown(f);
}

/* the first full limit decides; the limits before it are not charged for a refused request */
static void test_first_full_limit_wins(void **st)
{
    fixture *f = setup(
        "{ name = \"loose\"; on = \"smtp:RCPT\"; limit = { key = \"client_address\"; count = 10; per = \"1h\"; }; action = \"DEFER loose\"; },\n"
        "{ name = \"tight\"; on = \"smtp:RCPT\"; limit = { key = \"sender\"; count = 1; per = \"1h\"; }; action = \"DEFER tight\"; }");
    uint64_t t = 5000000;
    (void)st;

    assert_string_equal(ask(f, t, RCPT("192.0.2.9", "s1@x")), "DUNNO");
    for (int i = 0; i < 20; i++)
        assert_string_equal(ask(f, t + 1, RCPT("192.0.2.9", "s1@x")), "DEFER tight");
    /* the loose limit was charged once only, so 9 other senders still pass */
    char req[256];
    for (int i = 0; i < 9; i++) {
        snprintf(req, sizeof req, RCPT("192.0.2.9", "n%d@x"), i);
        assert_string_equal(ask(f, t + 2, req), "DUNNO");
    }
    snprintf(req, sizeof req, RCPT("192.0.2.9", "z@x"));
    assert_string_equal(ask(f, t + 3, req), "DEFER loose");
    teardown(f);
}

/* a static rule after a limit: refused requests are not counted; accepted ones are */
static void test_static_after_limit(void **st)
{
    fixture *f = setup(
        "{ name = \"lim\"; on = \"smtp:RCPT\"; limit = { key = \"client_address\"; count = 2; per = \"1h\"; }; },\n"
        "{ name = \"bad\"; on = \"smtp:RCPT\"; if = { sender = \"/^spam/\"; }; action = \"REJECT no\"; },\n"
        "{ name = \"good\"; on = \"smtp:RCPT\"; if = { sender = \"/^vip/\"; }; action = \"OK\"; }");
    uint64_t t = 77000000;
    (void)st;

    for (int i = 0; i < 5; i++)
        assert_string_equal(ask(f, t, RCPT("203.0.113.5", "spam@x")), "REJECT no");
    assert_string_equal(ask(f, t, RCPT("203.0.113.5", "vip@x")), "OK");
    assert_string_equal(ask(f, t, RCPT("203.0.113.5", "x@x")), "DUNNO");
    assert_true(strncmp(ask(f, t, RCPT("203.0.113.5", "vip@x")), "DEFER_IF_PERMIT", 15) == 0);
    teardown(f);
}

/* address prefixes: a /24 shares one counter, IPv6 clients share their /64 */
static void test_prefix_keys(void **st)
{
    fixture *f = setup("{ name = \"net\"; on = \"smtp:RCPT\"; limit = { key = \"client_address/24\"; count = 2; per = \"1h\"; }; action = \"DEFER net\"; }");
    uint64_t t = 1;
    (void)st;

    assert_string_equal(ask(f, t, RCPT("192.0.2.1", "a@x")), "DUNNO");
    assert_string_equal(ask(f, t, RCPT("192.0.2.200", "a@x")), "DUNNO");
    assert_string_equal(ask(f, t, RCPT("192.0.2.77", "a@x")), "DEFER net");
    assert_string_equal(ask(f, t, RCPT("192.0.3.1", "a@x")), "DUNNO");
    assert_string_equal(ask(f, t, RCPT("2001:db8:1:2::1", "a@x")), "DUNNO");
    assert_string_equal(ask(f, t, RCPT("2001:db8:1:2:ffff::9", "a@x")), "DUNNO");
    assert_string_equal(ask(f, t, RCPT("2001:db8:1:2::abcd", "a@x")), "DEFER net");
    assert_string_equal(ask(f, t, RCPT("2001:db8:1:3::1", "a@x")), "DUNNO");
    teardown(f);
}

/* each kind's counters live under its own class prefix */
static void test_classes(void **st)
{
    static const struct { const char *label, *on, *req; int cls; } cases[] = {
        {"rcpt", "smtp:RCPT", "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=1.1.1.1", 2},
        {"mail", "smtp:MAIL", "request=smtpd_access_policy\nprotocol_state=MAIL\nclient_address=1.1.1.1", 6},
        {"scan", "scan", "request=scan\nclient_address=1.1.1.1", 3},
        {"loiter", "loiter", "request=loiter\nclient_address=1.1.1.1", 4},
        {"auth", "auth", "request=auth\nclient_address=1.1.1.1", 5},
        {"report", "report:auth_failure", "request=report\nevent=auth_failure\nclient_address=1.1.1.1", 5},
        {"contact", "contact", "request=contact\nclient_address=1.1.1.1", 7},
        {"http authenticated", "http", "request=http\nauthenticated=yes\nclient_address=1.1.1.1", 8},
        {"http anonymous", "http", "request=http\nauthenticated=no\nclient_address=1.1.1.1", 9},
        {"imap", "imap", "request=imap\ncommand=LOGIN\nclient_address=1.1.1.1", 10},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char rules[256];
        snprintf(rules, sizeof rules, "{ name = \"c\"; on = \"%s\"; limit = { key = \"client_address\"; count = 5; per = \"1m\"; }; }",
                 cases[i].on);
        fixture *f = setup(rules);
        /* nothing decides: DUNNO, or OK to a report */
        assert_string_equal(ask(f, 1000, cases[i].req), strcmp(cases[i].label, "report") ? "DUNNO" : "OK");
        assert_int_equal(f->ev.batch.nops, 1);
        if (batch_key(&f->ev.batch, &f->ev.batch.ops[0])[0] != cases[i].cls)
            fail_msg("%s: class %d, want %d", cases[i].label, batch_key(&f->ev.batch, &f->ev.batch.ops[0])[0], cases[i].cls);
        teardown(f);
    }
}

/* non-smtp verdicts carry retry_after and reason */
static void test_retry_and_reason(void **st)
{
    fixture *f = setup("{ name = \"logins\"; on = \"auth\"; limit = { key = \"username\"; count = 1; per = \"10m\"; }; action = \"REJECT wait\"; }");
    (void)st;

    assert_string_equal(ask(f, 0 + 1000000, "request=auth\nusername=joe"), "DUNNO");
    assert_string_equal(f->ev.v.reason, "");
    assert_string_equal(ask(f, 1000000 + 1000, "request=auth\nusername=joe"), "REJECT wait");
    assert_string_equal(f->ev.v.reason, "logins");
    /* frees up when the first event's bucket leaves: its 60 s bucket ends 600 s later, 619 s from now */
    assert_int_equal(f->ev.v.retry_s, 619);
    teardown(f);
}

/* the store failing gives the on_error action */
static int fail_submit(store *s, store_batch *b, store_done_fn done, void *arg)
{
    (void)s;
    (void)done;
    (void)arg;
    b->status = -1;
    return STORE_DONE;
}
static void fail_stats(store *s, store_stats *o) { (void)s; (void)o; }
static void fail_free(store *s) { (void)s; }

static void test_store_failure(void **st)
{
    static const store_vtab vt = {"failing", fail_submit, NULL, fail_stats, fail_free, NULL};
    store failing = {&vt};
    fixture *f = setup("{ name = \"r\"; on = \"auth\"; limit = { key = \"username\"; count = 1; per = \"10m\"; }; }");
    store *real = f->store;
    (void)st;

    f->eng.store = &failing;
    assert_true(strncmp(ask(f, 1, "request=auth\nusername=joe"), "DEFER_IF_PERMIT 4.3.0", 21) == 0);
    assert_int_equal(f->ev.v.store_failed, 1);
    f->eng.on_error = ON_ERROR_ALLOW;
    assert_string_equal(ask(f, 2, "request=auth\nusername=joe"), "DUNNO");
    assert_int_equal(f->eng.stats.store_errors, 2);
    f->eng.store = real;
    teardown(f);
}

/* no rule: DUNNO; no store operation for rules that decide in memory */
static void test_no_store_when_not_needed(void **st)
{
    fixture *f = setup("{ name = \"helo\"; on = \"smtp\"; if = { helo_name = \"/^[0-9.]+$/\"; }; action = \"REJECT bare\"; },\n"
                       "{ name = \"lim\"; on = \"smtp\"; limit = { key = \"client_address\"; count = 1; per = \"1h\"; }; }");
    (void)st;

    assert_string_equal(ask(f, 1, "request=smtpd_access_policy\nprotocol_state=HELO\nhelo_name=1.2.3.4\nclient_address=1.2.3.4"),
                        "REJECT bare");
    assert_int_equal(f->ev.batch.nops, 0);
    assert_string_equal(ask(f, 1, "request=scan\nclient_address=1.2.3.4"), "DUNNO");
    teardown(f);
}

/* lookup lists in conditions, and a map's value in the action */
static void test_lists(void **st)
{
    fixture *f;
    conf_errors errs = {0};
    (void)st;

    write_temp("trusted-domains", "example.org\n");
    write_temp("blocked", "spam.example  Known spam source (ticket 42)\n192.0.2.0/24  Abusive network\n");
    f = calloc(1, sizeof *f);
    f->conf = load_text(LISTEN "lists = { trusted-domains = \"trusted-domains\"; blocked = { path = \"blocked\"; type = \"map\"; }; };\n"
                        "rules = (\n"
                        "  { name = \"trusted\"; on = \"smtp:RCPT\"; if = { sender_domain = \"@trusted-domains\"; }; action = \"OK\"; },\n"
                        "  { name = \"block\"; on = \"smtp:RCPT\"; if = { sender = \"@blocked\"; }; action = \"REJECT 5.7.1 ${list:blocked}\"; },\n"
                        "  { name = \"blocknet\"; on = \"smtp:RCPT\"; if = { client_address = \"@blocked\"; }; action = \"REJECT 5.7.1 ${list:blocked}\"; }\n"
                        ");\n",
                        &errs);
    if (!f->conf)
        dump_errors(&errs);
    assert_non_null(f->conf);
    f->store = mem_store_new(&(mem_config){.seed = 7});
    f->eng.store = f->store;
    assert_string_equal(ask(f, 1, RCPT("198.51.100.1", "a@mail.example.org")), "OK");
    assert_string_equal(ask(f, 1, RCPT("198.51.100.1", "a@x.spam.example")), "REJECT 5.7.1 Known spam source (ticket 42)");
    assert_string_equal(ask(f, 1, RCPT("192.0.2.9", "a@fine.example")), "REJECT 5.7.1 Abusive network");
    assert_string_equal(ask(f, 1, RCPT("198.51.100.1", "a@fine.example")), "DUNNO");
    teardown(f);
}

/* a reload: a rule keeps its counters and its statistics while its name and key stay the same; a new
 * name starts afresh. The action text and the count may change without losing anything. */
static void test_reload_keeps_counters(void **st)
{
    fixture *f = setup("{ name = \"per-ip\"; on = \"auth\"; limit = { key = \"client_address\"; count = 2; per = \"1h\"; }; action = \"REJECT v1\"; }");
    conf_errors errs = {0};
    const char *login = "request=auth\nclient_address=192.0.2.8\nusername=u";
    (void)st;

    assert_string_equal(ask(f, 1000, login), "DUNNO");
    assert_string_equal(ask(f, 1001, login), "DUNNO");
    assert_string_equal(ask(f, 1002, login), "REJECT v1");
    fg_conf *v2 = load_text(LISTEN "rules = (\n{ name = \"per-ip\"; on = \"auth\"; limit = { key = \"client_address\"; "
                                   "count = 3; per = \"1h\"; }; action = \"REJECT v2\"; },\n"
                                   "{ name = \"renamed\"; on = \"auth\"; limit = { key = \"client_address\"; count = 1; "
                                   "per = \"1h\"; }; action = \"REJECT renamed\"; }\n);\n", &errs);
    assert_non_null(v2);
    ruleset_carry_stats(v2->rules, f->conf->rules);
    assert_int_equal(v2->rules->rules[0].matched, 3);
    assert_int_equal(v2->rules->rules[0].decided, 1);
    assert_int_equal(v2->rules->rules[1].matched, 0);
    conf_free(f->conf);
    f->conf = v2;
    /* per-ip has counted 2 of its new 3; renamed has counted nothing: both admit this one... */
    assert_string_equal(ask(f, 1003, login), "DUNNO");
    /* ...and then per-ip is full (3) */
    assert_string_equal(ask(f, 1004, login), "REJECT v2");
    teardown(f);
}

/* catastrophic - a pattern that backtracks without end on "aaaa...!", as libconfig text */
#define CATASTROPHIC "/^(\\\\w+\\\\s?)*$/"
#define TEMPFAIL "DEFER_IF_PERMIT 4.3.0 Policy service temporarily unavailable, try again later"

/* helo_req - a HELO request whose helo_name is n times c, then tail (static buffer) */
static const char *helo_req(char c, size_t n, const char *tail)
{
    static char text[1900];
    int k = snprintf(text, sizeof text, "request=smtpd_access_policy\nprotocol_state=HELO\nclient_address=192.0.2.1\nhelo_name=");
    assert_true((size_t)k + n + strlen(tail) < sizeof text);
    memset(text + k, c, n);
    snprintf(text + k + n, sizeof text - (size_t)k - n, "%s", tail);
    return text;
}

/* a regex stopped by its limit gives the rule's on_error, with and without '!', in if and in unless (issue 7, defect 9) */
static void test_regex_error_on_error(void **st)
{
    static const struct { const char *label, *where, *cond, *on_error; int store_on_error; const char *want; } cases[] = {
        {"if, tempfail", "if", CATASTROPHIC, "tempfail", ON_ERROR_ALLOW, TEMPFAIL},
        {"if with !, tempfail", "if", "!" CATASTROPHIC, "tempfail", ON_ERROR_ALLOW, TEMPFAIL},
        {"if, allow: the rule does not apply", "if", CATASTROPHIC, "allow", ON_ERROR_TEMPFAIL, "WARN reached"},
        {"if with !, allow", "if", "!" CATASTROPHIC, "allow", ON_ERROR_TEMPFAIL, "WARN reached"},
        {"unless, allow", "unless", CATASTROPHIC, "allow", ON_ERROR_TEMPFAIL, "WARN reached"},
        {"unless with !, tempfail", "unless", "!" CATASTROPHIC, "tempfail", ON_ERROR_ALLOW, TEMPFAIL},
        {"default is store.on_error: tempfail", "if", CATASTROPHIC, NULL, ON_ERROR_TEMPFAIL, TEMPFAIL},
        {"default is store.on_error: allow", "if", "!" CATASTROPHIC, NULL, ON_ERROR_ALLOW, "WARN reached"},
    };
    char rules[512], on_error[64];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(on_error, sizeof on_error, cases[i].on_error ? " on_error = \"%s\";" : "%s",
                 cases[i].on_error ? cases[i].on_error : "");
        snprintf(rules, sizeof rules,
                 "{ name = \"helo\"; on = \"smtp:HELO\"; %s = { helo_name = \"%s\"; }; action = \"REJECT 5.7.1 bad\";%s },\n"
                 "{ name = \"after\"; on = \"smtp:HELO\"; action = \"WARN reached\"; }",
                 cases[i].where, cases[i].cond, on_error);
        fixture *f = setup(rules);
        f->eng.on_error = cases[i].store_on_error;
        const char *got = ask(f, 1000, helo_req('a', 1500, "!"));
        if (strcmp(got, cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].label, got, cases[i].want);
        if (!strcmp(cases[i].want, TEMPFAIL)) {
            assert_string_equal(f->ev.v.reason, "helo");
            assert_int_equal(f->ev.v.refused, 1);
        }
        /* counted in the engine's statistics (floodgatectl stats: regex_errors) and the rule's */
        assert_int_equal(f->eng.stats.regex_errors, 1);
        assert_int_equal(rule_find(f->conf->rules, "helo")->regex_errors, 1);
        ask(f, 1001, helo_req('a', 1500, "!"));
        assert_int_equal(f->eng.stats.regex_errors, 2);
        teardown(f);
    }
}

/* an alternative that holds decides without the one that failed; normal and long legal values still match */
static void test_regex_still_matches(void **st)
{
    fixture *f = setup("{ name = \"either\"; on = \"smtp:HELO\"; if = { helo_name = [\"" CATASTROPHIC "\", \"/^a/\"]; };\n"
                       "  action = \"REJECT either\"; on_error = \"tempfail\"; },\n"
                       "{ name = \"bare\"; on = \"smtp:HELO\"; if = { helo_name = \"/^mail\\\\./\"; }; action = \"REJECT bare\"; },\n"
                       "{ name = \"long\"; on = \"smtp:HELO\"; if = { helo_name = \"/^(-|_)*$/\"; }; action = \"REJECT long\"; }");
    (void)st;

    assert_string_equal(ask(f, 1, helo_req('a', 1500, "!")), "REJECT either");
    assert_string_equal(ask(f, 2, "request=smtpd_access_policy\nprotocol_state=HELO\nhelo_name=mail.example.com"),
                        "REJECT bare");
    /* a group repeated at each of 1,500 bytes: more than pcre2's default 32 KiB JIT stack, well within ours */
    assert_string_equal(ask(f, 3, helo_req('-', 1500, "")), "REJECT long");
    assert_string_equal(ask(f, 4, "request=smtpd_access_policy\nprotocol_state=HELO\nhelo_name=mx.example.com"), "DUNNO");
    assert_int_equal(f->eng.stats.regex_errors, 0);
    teardown(f);
}

static int logged;               /* messages the engine logged */
static char last_log[512];       /* the last one */

/* count_log - the engine's log hook, for the test */
static void count_log(const char *msg, void *arg)
{
    (void)arg;
    logged++;
    snprintf(last_log, sizeof last_log, "%s", msg);
}

/* errors are logged once per rule per minute, with how many were not, on the injected clock */
static void test_regex_error_log_rate(void **st)
{
    fixture *f = setup("{ name = \"one\"; on = \"smtp:HELO\"; if = { helo_name = \"" CATASTROPHIC "\"; }; action = \"REJECT\";"
                       " on_error = \"allow\"; },\n"
                       "{ name = \"two\"; on = \"smtp:HELO\"; if = { helo_name = \"!" CATASTROPHIC "\"; }; action = \"REJECT\";"
                       " on_error = \"allow\"; }");
    uint64_t t = 5000000;
    (void)st;

    f->eng.log = count_log;
    logged = 0;
    ask(f, t, helo_req('a', 1500, "!"));
    assert_int_equal(logged, 2); /* each rule once */
    assert_non_null(strstr(last_log, "rule \"two\""));
    assert_non_null(strstr(last_log, "match limit"));
    assert_non_null(strstr(last_log, "on_error allow"));
    ask(f, t + 1000, helo_req('a', 1500, "!"));
    ask(f, t + 59999, helo_req('a', 1500, "!"));
    assert_int_equal(logged, 2);
    ask(f, t + 60000, helo_req('a', 1500, "!"));
    assert_int_equal(logged, 4);
    assert_non_null(strstr(last_log, "(2 more since the last report)"));
    assert_int_equal(f->eng.stats.regex_errors, 8);
    teardown(f);
}

/* per-rule on_error when the store cannot answer: any tempfail rule asked tempfails, else the rules go on */
static void test_store_failure_per_rule(void **st)
{
    static const store_vtab vt = {"failing", fail_submit, NULL, fail_stats, fail_free, NULL};
    store failing = {&vt};
    fixture *f = setup("{ name = \"open\"; on = \"auth\"; limit = { key = \"username\"; count = 1; per = \"10m\"; }; on_error = \"allow\"; },\n"
                       "{ name = \"closed\"; on = \"auth\"; if = { protocol = \"imap\"; }; limit = { key = \"username\"; count = 1; per = \"10m\"; };"
                       " on_error = \"tempfail\"; },\n"
                       "{ name = \"root\"; on = \"auth\"; if = { username = \"root\"; }; action = \"REJECT no root\"; }");
    store *real = f->store;
    (void)st;

    f->eng.store = &failing;
    f->eng.on_error = ON_ERROR_TEMPFAIL;
    assert_string_equal(ask(f, 1, "request=auth\nusername=joe\nprotocol=pop3"), "DUNNO");
    assert_string_equal(ask(f, 2, "request=auth\nusername=root\nprotocol=pop3"), "REJECT no root");
    assert_string_equal(ask(f, 3, "request=auth\nusername=joe\nprotocol=imap"), TEMPFAIL);
    assert_int_equal(f->eng.stats.store_errors, 3);
    f->eng.store = real;
    teardown(f);
}

/* TARPIT lets the request through with a delay, from an action rule and from a full limit; verdict kinds */
static void test_tarpit_and_kinds(void **st)
{
    fixture *f = setup("{ name = \"slow\"; on = \"auth\"; if = { username = \"slow\"; }; action = \"TARPIT 7 go slow\"; },\n"
                       "{ name = \"bad\"; on = \"auth\"; if = { username = \"bad\"; }; action = \"REJECT no\"; },\n"
                       "{ name = \"ok\"; on = \"auth\"; if = { username = \"vip\"; }; action = \"OK\"; },\n"
                       "{ name = \"pace\"; on = \"auth\"; limit = { key = [\"client_address\"]; count = 1; per = \"1h\"; };\n"
                       "  action = \"TARPIT 3\"; }");
    uint64_t t = 1700000000000ULL;
    (void)st;

    assert_string_equal(ask(f, t, "request=auth\nusername=slow\nclient_address=192.0.2.1"), "TARPIT 7 go slow");
    assert_int_equal(f->ev.v.tarpit_s, 7);
    assert_int_equal(f->ev.v.refused, 0);
    assert_int_equal(f->ev.v.kind, VERDICT_TARPIT);
    ask(f, t, "request=auth\nusername=bad\nclient_address=192.0.2.1");
    assert_int_equal(f->ev.v.kind, VERDICT_REJECT);
    assert_int_equal(f->ev.v.tarpit_s, 0);
    ask(f, t, "request=auth\nusername=vip\nclient_address=192.0.2.1");
    assert_int_equal(f->ev.v.kind, VERDICT_ACCEPT);
    assert_string_equal(ask(f, t, "request=auth\nusername=joe\nclient_address=192.0.2.1"), "DUNNO");
    assert_int_equal(f->ev.v.kind, VERDICT_NONE);
    /* the limit is full: its TARPIT action delays instead of refusing */
    assert_string_equal(ask(f, t + 1, "request=auth\nusername=joe\nclient_address=192.0.2.1"), "TARPIT 3");
    assert_int_equal(f->ev.v.tarpit_s, 3);
    assert_int_equal(f->ev.v.refused, 0);
    assert_int_equal(f->ev.v.kind, VERDICT_TARPIT);
    assert_string_equal(verdict_kind_name(VERDICT_LIMIT), "limit");
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_and_recovery),
        cmocka_unit_test(test_denied_not_counted),
        cmocka_unit_test(test_long_sender_case),
        cmocka_unit_test(test_first_full_limit_wins),
        cmocka_unit_test(test_static_after_limit),
        cmocka_unit_test(test_prefix_keys),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_retry_and_reason),
        cmocka_unit_test(test_store_failure),
        cmocka_unit_test(test_no_store_when_not_needed),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_reload_keeps_counters),
        cmocka_unit_test(test_regex_error_on_error),
        cmocka_unit_test(test_regex_still_matches),
        cmocka_unit_test(test_regex_error_log_rate),
        cmocka_unit_test(test_store_failure_per_rule),
        cmocka_unit_test(test_tarpit_and_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
