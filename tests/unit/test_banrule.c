/*
 * test_banrule - raised events and ban rules: the rule file, escalation, keys, trusted clients, and a
 * spam-trap hit that raises an event the report:spamtrap rules count; the embedded store with an injected clock
 */
#include "testutil.h"

#include "ban.h"
#include "banrule.h"
#include "engine_fixture.h"

#define T0 1800000000000ULL /* ms: the daemon clock reads as wall time, so ban times are T0 / 1000 on */
#define S0 (T0 / 1000)

/* bsetup - a fixture with a ban index */
static fixture *bsetup(const char *rules)
{
    fixture *f = setup(rules);
    f->eng.bans = ban_index_new();
    assert_non_null(f->eng.bans);
    return f;
}

/* bteardown - free the index too */
static void bteardown(fixture *f)
{
    ban_index_free(f->eng.bans);
    teardown(f);
}

/* an event is a word, raised by a rule that decides at once; ban rules are refused until bans land */
static void test_event_errors(void **st)
{
    static const struct {
        const char *label, *rule, *want;
    } rules[] = {
        {"event on a limit", "limit = { key = \"client_address\"; count = 3; per = \"1m\"; }; event = \"x\";",
         "event is raised by a rule that decides at once"},
        {"event not a word", "action = \"REJECT\"; event = \"spam trap\";", "event is a word"},
        {"event not a string", "action = \"REJECT\"; event = 3;", "event is a word"},
    };
    char text[1024];
    (void)st;

    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        conf_errors errs = {0};
        snprintf(text, sizeof text, LISTEN "rules = (\n{ name = \"b\"; on = \"smtp:RCPT\";\n  %s\n});\n", rules[i].rule);
        fg_conf *c = load_text(text, &errs);
        if (c || !has_error(&errs, 4, rules[i].want)) {
            dump_errors(&errs);
            fail_msg("%s: want an error at line 4 with \"%s\"", rules[i].label, rules[i].want);
        }
        conf_errors_free(&errs);
    }
}

/* counted - the count of a rule's window for a request (a peek, as floodgatectl counter does) */
static uint64_t counted(fixture *f, const char *name, const char *text)
{
    rule *r = rule_find(f->conf->rules, name);
    char buf[1024];
    fg_request req;
    store_batch b = {0};
    key_buf k;

    make_req(buf, sizeof buf, text, &req);
    req.kind = r->sel[0].kind;
    engine_key(r, &req, &k);
    batch_reset(&b, T0 + 5000);
    engine_limit_op(r, batch_add(&b, STORE_PEEK, k.bytes, k.len));
    assert_int_equal(store_submit(f->store, &b, NULL, NULL), STORE_DONE);
    uint64_t n = b.ops[0].peek.total;
    batch_release(&b);
    return n;
}

/* duration x factor^(n-1), capped at max; for ever stays for ever */
static void test_duration(void **st)
{
    static const struct {
        uint64_t duration, max;
        double factor;
        uint32_t n;
        uint64_t want;
    } cases[] = {
        {3600, 7 * 86400, 2.0, 1, 3600},     {3600, 7 * 86400, 2.0, 2, 7200},
        {3600, 7 * 86400, 2.0, 3, 14400},    {3600, 7 * 86400, 2.0, 8, 460800},
        {3600, 7 * 86400, 2.0, 9, 604800},   {3600, 7 * 86400, 2.0, 4000000000u, 604800},
        {3600, 3600, 2.0, 5, 3600},          {600, 86400, 1.0, 50, 600},
        {600, 86400, 1.5, 2, 900},           {0, 0, 2.0, 7, 0},
    };
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ban_spec b = {cases[i].duration, cases[i].factor, cases[i].max, 86400, NULL};
        if (banrule_duration(&b, cases[i].n) != cases[i].want)
            fail_msg("case %zu: %llu, want %llu", i, (unsigned long long)banrule_duration(&b, cases[i].n),
                     (unsigned long long)cases[i].want);
    }
}

/* a spam-trap hit raises spamtrap for its client: the report:spamtrap rules count it though the request is
 * refused; the raising rule's answer stands, and an event is never raised twice */
static void test_spamtrap_event(void **st)
{
    fixture *f = bsetup(
        "{ name = \"trap\"; on = \"smtp:RCPT\"; if = { recipient = \"/^trap@/\"; }; event = \"spamtrap\";\n"
        "  action = \"REJECT 5.1.1 No such user\"; },\n"
        "{ name = \"trap-hits\"; on = \"report:spamtrap\"; limit = { key = \"client_address/24\"; count = 1; per = \"1d\"; };\n"
        "  action = \"REJECT never given\"; },\n"
        "{ name = \"again\"; on = \"report:spamtrap\"; event = \"loop\"; action = \"OK\"; },\n"
        "{ name = \"loop-hits\"; on = \"report:loop\"; limit = { key = \"client_address\"; count = 100; per = \"1d\"; }; }");
    const char *trap = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.66\n"
                       "sender=s@example.net\nrecipient=trap@example.com";
    (void)st;

    assert_string_equal(ask(f, T0, trap), "REJECT 5.1.1 No such user");
    assert_string_equal(f->ev.v.reason, "trap");
    assert_int_equal(counted(f, "trap-hits", "request=report\nclient_address=192.0.2.1"), 1);
    /* the limit under the event is full now, and still decides nothing: the raising rule answers */
    assert_string_equal(ask(f, T0 + 1000, trap), "REJECT 5.1.1 No such user");
    assert_string_equal(f->ev.v.reason, "trap");
    assert_int_equal(rule_find(f->conf->rules, "trap-hits")->matched, 2);
    assert_int_equal(rule_find(f->conf->rules, "trap-hits")->decided, 0);
    assert_int_equal(f->eng.stats.events_raised, 2);
    /* "again" selects report:spamtrap but raised nothing from a raised spamtrap: report:loop never ran */
    assert_int_equal(rule_find(f->conf->rules, "loop-hits")->matched, 0);
    assert_int_equal(rule_find(f->conf->rules, "again")->decided, 0);
    /* a spamtrap reported by a client is no raised event: "again" decides it and raises loop */
    assert_string_equal(ask(f, T0 + 2000, "request=report\nevent=spamtrap\nclient_address=198.51.100.1"), "OK");
    assert_int_equal(rule_find(f->conf->rules, "loop-hits")->matched, 1);
    assert_int_equal(counted(f, "loop-hits", "request=report\nclient_address=198.51.100.1"), 1);
    assert_int_equal(f->eng.stats.events_raised, 3);
    /* another recipient raises nothing */
    assert_string_equal(ask(f, T0 + 3000, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=198.51.100.9\n"
                                          "sender=s@example.net\nrecipient=joe@example.com"), "DUNNO");
    assert_int_equal(f->eng.stats.events_raised, 3);
    bteardown(f);
}

/* any word is an event: on = "report:WORD" selects it (case aside), and nothing else does */
static void test_any_event_word(void **st)
{
    fixture *f = bsetup("{ name = \"w\"; on = \"report:weird-Word_2.x\"; limit = { key = \"client_address\"; count = 1; per = \"1m\"; };\n"
                        "  action = \"REJECT seen\"; }");
    (void)st;

    assert_string_equal(ask(f, T0, "request=report\nevent=weird-word_2.x\nclient_address=192.0.2.5"), "DUNNO");
    assert_string_equal(ask(f, T0 + 1, "request=report\nevent=weird-word_2.x\nclient_address=192.0.2.5"), "REJECT seen");
    assert_string_equal(ask(f, T0 + 2, "request=report\nevent=weird-word_2\nclient_address=192.0.2.5"), "DUNNO");
    assert_string_equal(ask(f, T0 + 3, "request=report\nevent=loiter\nclient_address=192.0.2.5"), "DUNNO");
    assert_string_equal(ask(f, T0 + 4, "request=report\nclient_address=192.0.2.5"), "DUNNO");
    bteardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_errors),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_spamtrap_event),
        cmocka_unit_test(test_any_event_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
