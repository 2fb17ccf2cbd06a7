/*
 * test_banrule - ban rules and raised events: the rule file, escalation, keys, trusted clients, and a
 * spam-trap hit that raises an event a ban rule acts on; the embedded store with an injected clock
 */
#include "testutil.h"

#include "ban.h"
#include "banrule.h"
#include "engine_fixture.h"

#define T0 1800000000000ULL /* ms: the daemon clock reads as wall time, so ban times are T0 / 1000 on */
#define S0 (T0 / 1000)
#define FAIL(ip) "request=report\nevent=auth_failure\nclient_address=" ip "\nusername=joe"

/* bsetup - a fixture with a ban index */
static fixture *bsetup(const char *rules)
{
    return with_bans(setup(rules));
}

/* bsetup_trusted - the same, with a top-level trusted list */
static fixture *bsetup_trusted(const char *trusted, const char *rules)
{
    char text[4096];

    snprintf(text, sizeof text, "trusted = %s;\nrules = (\n%s\n);\n", trusted, rules);
    return with_bans(setup_conf(text));
}

/* find - the ban in force on exactly this key (text: "ADDR[/LEN]") at second s, NULL if none */
static const ban_rec *find(fixture *f, const char *text, uint64_t s)
{
    ban_rec k;
    const char *why;
    assert_int_equal(ban_parse(text, &k, &why), 0);
    return ban_find(f->eng.bans, &k, s);
}

/* fails - n failures from ip at ms t, t+1, ...; each answered OK (a ban rule never decides; a report is
 * answered OK) */
static void fails(fixture *f, uint64_t t, const char *req, int n)
{
    for (int i = 0; i < n; i++)
        assert_string_equal(ask(f, t + (uint64_t)i, req), "OK");
}

/* the rule file: every ban setting checked, with its line */
static void test_parse_errors(void **st)
{
    static const struct {
        const char *label, *ban, *want;
    } cases[] = {
        {"count 0", "key = \"client_address\"; count = 0; per = \"1m\";", "ban needs count"},
        {"no count", "key = \"client_address\"; per = \"1m\";", "ban needs count"},
        {"no per", "key = \"client_address\"; count = 3;", "ban needs per"},
        {"no key", "count = 3; per = \"1m\";", "ban needs a key"},
        {"bad per", "key = \"client_address\"; count = 3; per = \"soon\";", "ban.per"},
        {"factor < 1", "key = \"client_address\"; count = 3; per = \"1m\"; factor = 0.5;", "ban.factor"},
        {"factor text", "key = \"client_address\"; count = 3; per = \"1m\"; factor = \"2\";", "ban.factor"},
        {"max < duration", "key = \"client_address\"; count = 3; per = \"1m\"; duration = \"2h\"; max = \"1h\";",
         "ban.max must be at least the duration"},
        {"max forever", "key = \"client_address\"; count = 3; per = \"1m\"; duration = \"1h\"; max = \"forever\";",
         "ban.max cannot be \"forever\""},
        {"history forever", "key = \"client_address\"; count = 3; per = \"1m\"; history = \"forever\";",
         "ban.history cannot be"},
        {"bad duration", "key = \"client_address\"; count = 3; per = \"1m\"; duration = \"0s\";", "ban.duration"},
        {"two keys", "key = [\"client_address\", \"username\"]; count = 3; per = \"1m\";", "ban.key is one attribute"},
        {"sender key", "key = \"sender\"; count = 3; per = \"1m\";", "a ban is on \"client_address\""},
        {"bad prefix", "key = \"client_address/200\"; count = 3; per = \"1m\";", "ban.key: bad prefix"},
        {"unknown member", "key = \"client_address\"; count = 3; per = \"1m\"; bantime = \"1h\";", "bantime"},
        {"empty reason", "key = \"client_address\"; count = 3; per = \"1m\"; reason = \"\";", "ban.reason"},
    };
    char text[1024];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        conf_errors errs = {0};
        snprintf(text, sizeof text, LISTEN "rules = (\n{ name = \"b\"; on = \"report:auth_failure\";\n  ban = { %s };\n});\n",
                 cases[i].ban);
        fg_conf *c = load_text(text, &errs);
        if (c || !has_error(&errs, 4, cases[i].want)) {
            dump_errors(&errs);
            fail_msg("%s: want an error at line 4 with \"%s\"", cases[i].label, cases[i].want);
        }
        conf_errors_free(&errs);
    }
    /* a ban rule has no action and no limit; an event is raised by a rule that decides at once */
    static const struct {
        const char *label, *rule, *want;
    } rules[] = {
        {"ban and action", "ban = { key = \"client_address\"; count = 3; per = \"1m\"; }; action = \"REJECT\";",
         "a ban rule has no action"},
        {"ban and limit", "ban = { key = \"client_address\"; count = 3; per = \"1m\"; };\n"
         "limit = { key = \"client_address\"; count = 3; per = \"1m\"; };", "one of limit, greylist and ban, not both"},
        {"event on a limit", "limit = { key = \"client_address\"; count = 3; per = \"1m\"; }; event = \"x\";",
         "event is raised by a rule that decides at once"},
        {"event not a word", "action = \"REJECT\"; event = \"spam trap\";", "event is a word"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++) {
        conf_errors errs = {0};
        snprintf(text, sizeof text, LISTEN "rules = (\n{ name = \"b\"; on = \"report:auth_failure\";\n  %s\n});\n",
                 rules[i].rule);
        fg_conf *c = load_text(text, &errs);
        int found = 0;
        for (unsigned e = 0; e < errs.n; e++)
            found |= strstr(errs.msgs[e], rules[i].want) != NULL;
        if (c || !found) {
            dump_errors(&errs);
            fail_msg("%s: want an error with \"%s\"", rules[i].label, rules[i].want);
        }
        conf_errors_free(&errs);
    }
}

/* what a ban rule reads: defaults, forever, the factor as an integer, the reason */
static void test_parse_values(void **st)
{
    fixture *f = bsetup(
        "{ name = \"a\"; on = \"report:auth_failure\"; ban = { key = [\"client_address/24\"]; count = 5; per = \"10m\"; }; },\n"
        "{ name = \"b\"; on = \"report:auth_failure\"; ban = { key = \"username\"; count = 5; per = \"10m\";\n"
        "  duration = \"forever\"; factor = 3; history = \"1d\"; reason = \"password guessing\"; }; },\n"
        "{ name = \"c\"; on = \"report:auth_failure\"; ban = { key = \"client_address\"; count = 1; per = 60;\n"
        "  duration = \"30d\"; factor = 2.0; }; }");
    const rule *a = rule_find(f->conf->rules, "a"), *b = rule_find(f->conf->rules, "b"),
               *c = rule_find(f->conf->rules, "c");
    (void)st;

    assert_true(a->has_ban && !a->has_limit);
    assert_int_equal(a->win.count, 5);
    assert_int_equal(a->win.per_ms, 600000);
    assert_int_equal(a->ban.duration_s, 3600);
    assert_true(a->ban.factor == 1.0);
    assert_int_equal(a->ban.max_s, 7 * 86400);
    assert_int_equal(a->ban.history_s, 7 * 86400);
    assert_null(a->ban.reason);
    assert_int_equal(a->keys[0].v4, 24);
    assert_int_equal(a->keys[0].v6, 64);
    assert_int_equal(b->ban.duration_s, 0);
    assert_true(b->ban.factor == 3.0);
    assert_int_equal(b->ban.history_s, 86400);
    assert_string_equal(b->ban.reason, "password guessing");
    /* a duration past the default max is its own max */
    assert_int_equal(c->ban.max_s, 30 * 86400);
    teardown(f);
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
        {600, 86400, 1.0, UINT32_MAX, 600},  {600, 86400, 1.0000001, UINT32_MAX, 86400},
        {600, 86400, 1000.0, UINT32_MAX, 86400},
    };
    (void)st;

    /* the number of a ban comes from the history (a fleet peer's record can say 4 billion): each of these
     * calls was a loop of n - 1 steps with a factor of 1.0, seconds of the event loop; 10,000 of them now
     * take no time worth measuring, and this test ends */
    ban_spec flat = {600, 1.0, 86400, 86400, NULL};
    for (int i = 0; i < 10000; i++)
        assert_int_equal(banrule_duration(&flat, UINT32_MAX - (uint32_t)i), 600);

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ban_spec b = {cases[i].duration, cases[i].factor, cases[i].max, 86400, NULL};
        if (banrule_duration(&b, cases[i].n) != cases[i].want)
            fail_msg("case %zu: %llu, want %llu", i, (unsigned long long)banrule_duration(&b, cases[i].n),
                     (unsigned long long)cases[i].want);
    }
}

/* past count events in the window the key is banned: 1h, 2h, 4h, then max; the history forgets */
static void test_escalation(void **st)
{
    fixture *f = bsetup("{ name = \"brute\"; on = \"report:auth_failure\";\n"
                        "  ban = { key = \"client_address\"; count = 2; per = \"10m\"; duration = \"1h\"; factor = 2.0;\n"
                        "          max = \"5h\"; history = \"1d\"; }; }");
    const uint64_t want[] = {3600, 7200, 14400, 18000, 18000};
    uint64_t t = T0;
    const ban_rec *b;
    (void)st;

    /* two failures are within the count: no ban */
    fails(f, t, FAIL("192.0.2.7"), 2);
    assert_null(find(f, "192.0.2.7", t / 1000));
    for (unsigned i = 0; i < 5; i++) {
        fails(f, t + 10, FAIL("192.0.2.7"), 1); /* the third in the window */
        b = find(f, "192.0.2.7", t / 1000);
        assert_non_null(b);
        assert_int_equal(b->times, i + 1);
        assert_int_equal(b->since, t / 1000);
        assert_int_equal(b->expires, t / 1000 + want[i]);
        assert_string_equal(b->rule, "brute");
        assert_string_equal(b->reason, "brute"); /* no ban.reason: the rule's name */
        assert_non_null(find(f, "192.0.2.7", t / 1000 + want[i] - 1));
        assert_null(find(f, "192.0.2.7", t / 1000 + want[i]));
        /* the ban is over; three failures again */
        t += want[i] * 1000;
        fails(f, t, FAIL("192.0.2.7"), 2);
        assert_null(find(f, "192.0.2.7", t / 1000));
    }
    assert_int_equal(rule_find(f->conf->rules, "brute")->banned, 5);
    assert_int_equal(f->eng.stats.bans_made, 5);
    /* a day after the last ban the history has forgotten it: 1h again */
    t += 86401 * 1000ULL;
    fails(f, t, FAIL("192.0.2.7"), 3);
    b = find(f, "192.0.2.7", t / 1000);
    assert_non_null(b);
    assert_int_equal(b->times, 1);
    assert_int_equal(b->expires, t / 1000 + 3600);
    /* another address has its own count */
    fails(f, t, FAIL("192.0.2.8"), 2);
    assert_null(find(f, "192.0.2.8", t / 1000));
    teardown(f);
}

/* duration = "forever": no expiry; repeats while banned neither stack nor bump the history */
static void test_forever_and_no_stacking(void **st)
{
    fixture *f = bsetup("{ name = \"perm\"; on = \"report:scan\"; ban = { key = \"client_address\"; count = 1; per = \"1h\";\n"
                        "  duration = \"forever\"; }; },\n"
                        "{ name = \"hour\"; on = \"report:auth_failure\"; ban = { key = \"client_address\"; count = 1;\n"
                        "  per = \"1m\"; duration = \"1h\"; factor = 2.0; }; }");
    uint64_t t = T0;
    const ban_rec *b;
    (void)st;

    fails(f, t, "request=report\nevent=scan\nclient_address=2001:db8::9", 2);
    b = find(f, "2001:db8::9", S0 + 10 * 366 * 86400ULL);
    assert_non_null(b);
    assert_int_equal(b->expires, 0);
    fails(f, t + 5000, "request=report\nevent=scan\nclient_address=2001:db8::9", 20);
    b = find(f, "2001:db8::9", S0);
    assert_int_equal(b->times, 1);
    assert_int_equal(b->since, S0);
    /* banned for an hour; twenty more failures in that hour change nothing */
    fails(f, t, FAIL("198.51.100.3"), 2);
    for (int i = 1; i < 20; i++)
        fails(f, t + (uint64_t)i * 120000, FAIL("198.51.100.3"), 2);
    b = find(f, "198.51.100.3", S0 + 100);
    assert_int_equal(b->times, 1);
    assert_int_equal(b->expires, S0 + 3600);
    assert_int_equal(rule_find(f->conf->rules, "hour")->banned, 1);
    /* the next ban after it ends is the second (2h), not the twentieth */
    fails(f, T0 + 3600 * 1000ULL, FAIL("198.51.100.3"), 2);
    b = find(f, "198.51.100.3", S0 + 3600);
    assert_non_null(b);
    assert_int_equal(b->times, 2);
    assert_int_equal(b->expires, S0 + 3600 + 7200);
    teardown(f);
}

/* client_address/24 bans the /24 of IPv4 clients and the /64 of IPv6 ones, counted together */
static void test_network_keys(void **st)
{
    fixture *f = bsetup("{ name = \"net\"; on = \"report:auth_failure\";\n"
                        "  ban = { key = [\"client_address/24\"]; count = 2; per = \"10m\"; duration = \"1h\"; }; }");
    fg_addr a;
    (void)st;

    fails(f, T0, FAIL("192.0.2.1"), 1);
    fails(f, T0 + 1, FAIL("192.0.2.77"), 1);
    assert_null(find(f, "192.0.2.0/24", S0));
    fails(f, T0 + 2, FAIL("192.0.2.200"), 1);
    const ban_rec *b = find(f, "192.0.2.0/24", S0);
    assert_non_null(b);
    assert_string_equal(b->net, "192.0.2.0/24");
    assert_int_equal(b->prefix, 24);
    assert_null(find(f, "192.0.2.200", S0)); /* the network is the key, not the address */
    assert_int_equal(addr_parse("192.0.2.9", 9, &a), 0);
    assert_non_null(ban_match(f->eng.bans, &a, S0));
    assert_int_equal(addr_parse("192.0.3.9", 9, &a), 0);
    assert_null(ban_match(f->eng.bans, &a, S0));
    /* IPv6: the /64 */
    fails(f, T0, FAIL("2001:db8:1:2::5"), 1);
    fails(f, T0 + 1, FAIL("2001:db8:1:2:ffff::1"), 1);
    fails(f, T0 + 2, FAIL("2001:db8:1:3::5"), 1); /* another /64 */
    assert_null(find(f, "2001:db8:1:2::/64", S0));
    fails(f, T0 + 3, FAIL("2001:db8:1:2::6"), 1);
    b = find(f, "2001:db8:1:2::/64", S0);
    assert_non_null(b);
    assert_string_equal(b->net, "2001:db8:1:2::/64");
    assert_int_equal(addr_parse("2001:db8:1:2:abcd::1", 20, &a), 0);
    assert_non_null(ban_match(f->eng.bans, &a, S0));
    /* a report without an address bans nothing */
    fails(f, T0, "request=report\nevent=auth_failure\nusername=joe", 5);
    assert_int_equal(ban_count(f->eng.bans), 2);
    teardown(f);
}

/* key = "username": the login is banned whatever address tries it */
static void test_username_key(void **st)
{
    fixture *f = bsetup("{ name = \"user\"; on = \"report:auth_failure\";\n"
                        "  ban = { key = \"username\"; count = 2; per = \"10m\"; duration = \"10m\"; reason = \"guessing\"; }; }");
    (void)st;

    fails(f, T0, "request=report\nevent=auth_failure\nclient_address=192.0.2.1\nusername=joe", 1);
    fails(f, T0 + 1, "request=report\nevent=auth_failure\nclient_address=198.51.100.1\nusername=joe", 1);
    fails(f, T0 + 2, "request=report\nevent=auth_failure\nclient_address=2001:db8::1\nusername=ann", 1);
    assert_null(ban_match_user(f->eng.bans, "joe", 3, S0));
    fails(f, T0 + 3, "request=report\nevent=auth_failure\nclient_address=203.0.113.1\nusername=joe", 1);
    const ban_rec *b = ban_match_user(f->eng.bans, "joe", 3, S0);
    assert_non_null(b);
    assert_int_equal(b->family, 0);
    assert_string_equal(b->reason, "guessing");
    assert_int_equal(b->expires, S0 + 600);
    assert_null(ban_match_user(f->eng.bans, "ann", 3, S0));
    /* the addresses are not banned; a report with no username bans no one */
    fg_addr a;
    assert_int_equal(addr_parse("203.0.113.1", 11, &a), 0);
    assert_null(ban_match(f->eng.bans, &a, S0));
    fails(f, T0, "request=report\nevent=auth_failure\nclient_address=192.0.2.1", 5);
    assert_int_equal(ban_count(f->eng.bans), 1);
    teardown(f);
}

/* a trusted client (the top-level trusted, loopback always) is never banned however much it fails (its
 * username may be) */
static void test_trusted_never_banned(void **st)
{
    fixture *f = bsetup_trusted("[\"198.51.100.0/24\", \"2001:db8:7::/48\"]","{ name = \"ip\"; on = \"report:auth_failure\";\n"
                        "  ban = { key = \"client_address/8\"; count = 1; per = \"10m\"; }; },\n"
                        "{ name = \"user\"; on = \"report:auth_failure\"; ban = { key = \"username\"; count = 1; per = \"10m\"; }; }");
    (void)st;

    fails(f, T0, FAIL("127.0.0.1"), 10);
    fails(f, T0, FAIL("::1"), 10);
    fails(f, T0, FAIL("198.51.100.7"), 10);
    fails(f, T0, FAIL("2001:db8:7::1"), 10);
    assert_null(find(f, "127.0.0.0/8", S0));
    assert_null(find(f, "::1", S0));
    assert_null(find(f, "198.0.0.0/8", S0));
    assert_null(find(f, "2001:db8::/64", S0));
    /* an address outside the trusted networks is */
    fails(f, T0, FAIL("203.0.113.7"), 2);
    assert_non_null(find(f, "203.0.0.0/8", S0));
    assert_int_equal(ban_count(f->eng.bans), 2);
    ban_rec k;
    const char *why;
    assert_int_equal(ban_parse("203.0.0.0/8", &k, &why), 0);
    assert_int_equal(ban_remove(f->eng.bans, &k), 0);
    /* a webmail on the loopback reports a user's failures: the user is banned, not the webmail */
    assert_non_null(ban_match_user(f->eng.bans, "joe", 3, S0));
    assert_int_equal(ban_count(f->eng.bans), 1);
    teardown(f);
}

/* a network ban that would reach a trusted address (the firewall would drop it too: the export has the network)
 * bans the client's own address instead; the other clients of the network that go on failing are banned one by
 * one, and the trusted one never */
static void test_trusted_inside_network(void **st)
{
    fixture *f = bsetup_trusted("[\"192.0.2.10\", \"2001:db8:7::1\"]",
                                "{ name = \"net\"; on = \"report:auth_failure\";\n"
                                "  ban = { key = \"client_address/24/64\"; count = 1; per = \"10m\"; }; },\n"
                                "{ name = \"wide\"; on = \"report:scan\";\n"
                                "  ban = { key = \"client_address/1\"; count = 1; per = \"10m\"; }; }");
    fg_addr a;
    (void)st;

    fails(f, T0, FAIL("192.0.2.77"), 2);
    assert_null(find(f, "192.0.2.0/24", S0));
    const ban_rec *b = find(f, "192.0.2.77", S0);
    assert_non_null(b);
    assert_string_equal(b->rule, "net");
    /* the /24's count is past its limit: the next client of it that fails is banned at once, on its own */
    fails(f, T0 + 1, FAIL("192.0.2.78"), 1);
    assert_non_null(find(f, "192.0.2.78", S0));
    fails(f, T0 + 2, FAIL("192.0.2.10"), 3);
    assert_int_equal(addr_parse("192.0.2.10", 10, &a), 0);
    assert_null(ban_match(f->eng.bans, &a, S0));
    /* IPv6: the /64 holds a trusted address */
    fails(f, T0, FAIL("2001:db8:7::99"), 2);
    assert_null(find(f, "2001:db8:7::/64", S0));
    assert_non_null(find(f, "2001:db8:7::99", S0));
    /* a /1 holds loopback (127.0.0.0/8): never banned whole */
    fails(f, T0, "request=report\nevent=scan\nclient_address=100.1.2.3", 2);
    assert_null(find(f, "0.0.0.0/1", S0));
    assert_non_null(find(f, "100.1.2.3", S0));
    /* a network that holds no trusted address is banned whole */
    fails(f, T0, FAIL("198.51.100.5"), 2);
    assert_non_null(find(f, "198.51.100.0/24", S0));
    assert_int_equal(ban_count(f->eng.bans), 5);
    teardown(f);
}

/* a spam-trap hit raises spamtrap for its client: the report:spamtrap rules count it, a ban follows;
 * the raising rule's answer stands, and an event is never raised twice */
static void test_spamtrap_event(void **st)
{
    fixture *f = bsetup(
        "{ name = \"trap\"; on = \"smtp:RCPT\"; if = { recipient = \"/^trap@/\"; }; event = \"spamtrap\";\n"
        "  action = \"REJECT 5.1.1 No such user\"; },\n"
        "{ name = \"trap-hits\"; on = \"report:spamtrap\"; limit = { key = \"client_address\"; count = 1000; per = \"1d\"; }; },\n"
        "{ name = \"trap-ban\"; on = \"report:spamtrap\"; ban = { key = \"client_address/24\"; count = 1; per = \"1d\";\n"
        "  duration = \"1d\"; reason = \"spam trap\"; }; },\n"
        "{ name = \"again\"; on = \"report:spamtrap\"; event = \"loop\"; action = \"OK\"; },\n"
        "{ name = \"loop-ban\"; on = \"report:loop\"; ban = { key = \"client_address\"; count = 1; per = \"1d\"; }; }");
    const char *trap = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.66\n"
                       "sender=s@example.net\nrecipient=trap@example.com";
    (void)st;

    assert_string_equal(ask(f, T0, trap), "REJECT 5.1.1 No such user");
    assert_string_equal(f->ev.v.reason, "trap");
    assert_int_equal(ban_count(f->eng.bans), 0); /* one hit is within count = 1 */
    assert_string_equal(ask(f, T0 + 1000, trap), "REJECT 5.1.1 No such user");
    const ban_rec *b = find(f, "192.0.2.0/24", S0 + 1);
    assert_non_null(b);
    assert_string_equal(b->reason, "spam trap");
    assert_string_equal(b->rule, "trap-ban");
    assert_int_equal(f->eng.stats.events_raised, 2);
    /* the limit under the event counted both hits, though the request was refused */
    assert_int_equal(rule_find(f->conf->rules, "trap-hits")->matched, 2);
    /* "again" selects report:spamtrap but raised nothing from a raised spamtrap: report:loop never ran */
    assert_int_equal(rule_find(f->conf->rules, "loop-ban")->matched, 0);
    assert_null(find(f, "192.0.2.66", S0 + 2));
    /* a spamtrap reported by a client is no raised event: "again" decides it and raises loop */
    assert_string_equal(ask(f, T0 + 2000, "request=report\nevent=spamtrap\nclient_address=192.0.2.1"), "OK");
    assert_int_equal(rule_find(f->conf->rules, "loop-ban")->matched, 1);
    assert_int_equal(f->eng.stats.events_raised, 3);
    /* another recipient raises nothing */
    assert_string_equal(ask(f, T0 + 3000, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=198.51.100.9\n"
                                          "sender=s@example.net\nrecipient=joe@example.com"), "DUNNO");
    assert_int_equal(f->eng.stats.events_raised, 3);
    teardown(f);
}

/* any word is an event: on = "report:WORD" selects it, and nothing else */
static void test_any_event_word(void **st)
{
    fixture *f = bsetup("{ name = \"w\"; on = \"report:weird-Word_2.x\"; ban = { key = \"client_address\"; count = 1; per = \"1m\"; }; }");
    (void)st;

    fails(f, T0, "request=report\nevent=weird-word_2.x\nclient_address=192.0.2.5", 2);
    assert_non_null(find(f, "192.0.2.5", S0));
    fails(f, T0, "request=report\nevent=weird-word_2\nclient_address=192.0.2.6", 2);
    fails(f, T0, "request=report\nevent=loiter\nclient_address=192.0.2.6", 2);
    assert_null(find(f, "192.0.2.6", S0));
    teardown(f);
}

/* on a request that is not a report, a ban rule counts it as an event, whatever the verdict; the ban
 * holds from the next request on (the engine's own answer is the other rules') */
static void test_ban_on_smtp(void **st)
{
    fixture *f = bsetup(
        "{ name = \"conn\"; on = \"smtp:CONNECT\"; ban = { key = \"client_address\"; count = 3; per = \"1m\"; }; },\n"
        "{ name = \"deny\"; on = \"smtp:CONNECT\"; if = { client_address = \"203.0.113.0/24\"; }; action = \"REJECT go away\"; }");
    const char *c = "request=smtpd_access_policy\nprotocol_state=CONNECT\nclient_address=203.0.113.4";
    (void)st;

    for (int i = 0; i < 3; i++)
        assert_string_equal(ask(f, T0 + (uint64_t)i, c), "REJECT go away");
    assert_null(find(f, "203.0.113.4", S0));
    assert_string_equal(ask(f, T0 + 3, c), "REJECT go away");
    assert_non_null(find(f, "203.0.113.4", S0));
    teardown(f);
}

/* a dry-run ban rule bans nothing; the dry hook hears what it would have banned */
static int dry_calls;
static char dry_action[256];
static void on_dry(const fg_request *req, const char *rule, const char *action, uint64_t retry_s, void *arg)
{
    (void)req;
    (void)rule;
    (void)retry_s;
    (void)arg;
    dry_calls++;
    snprintf(dry_action, sizeof dry_action, "%s", action);
}

static void test_dry_run(void **st)
{
    fixture *f = bsetup("{ name = \"try\"; on = \"report:auth_failure\"; dry_run = true;\n"
                        "  ban = { key = \"client_address/24\"; count = 1; per = \"1m\"; }; }");
    (void)st;

    f->eng.dry = on_dry;
    fails(f, T0, FAIL("192.0.2.7"), 2);
    assert_int_equal(ban_count(f->eng.bans), 0);
    assert_int_equal(dry_calls, 1);
    assert_string_equal(dry_action, "BAN 192.0.2.0/24");
    assert_int_equal(rule_find(f->conf->rules, "try")->banned, 1);
    teardown(f);
}

/* the shipped floodgate.conf: two spam-trap hits from a big provider's outbound server (its verified name in
 * lists/shared-mtas) ban nothing, since anyone can send two mails to a trap through Gmail; from another client
 * they ban it, as a /32 */
static void test_shipped_spamtrap(void **st)
{
    static const char *const traps[] = {"trap@example.com"};
    const char *data = getenv("FG_TESTDATA");
    char path[512], err[256], req[512];
    conf_errors errs = {0};
    (void)st;

    snprintf(path, sizeof path, "%s/../../rules/floodgate.conf", data ? data : ".");
    fixture *f = with_bans(fixture_of(conf_load(path, &errs), &errs));
    assert_int_equal(list_set_lines(listset_find(f->conf->rules->lists, "spam-traps"), traps, 1, err, sizeof err), 0);
    static const struct {
        const char *client, *name;
        int banned;
    } cases[] = {
        {"209.85.128.54", "mail-wm1-f54.google.com", 0},
        {"40.107.22.101", "mail-am6eur05on2101.outbound.protection.outlook.com", 0},
        {"192.0.2.66", "unknown", 1},
        {"198.51.100.7", "mx.google.com.attacker.example", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(req, sizeof req, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nclient_name=%s\n"
                 "helo_name=%s\nsender=someone@gmail.com\nrecipient=trap@example.com", cases[i].client, cases[i].name,
                 cases[i].name);
        for (int k = 0; k < 2; k++)
            assert_true(!strncmp(ask(f, T0 + 1000 * (uint64_t)(2 * i + k), req), "REJECT 5.1.1", 12));
        if ((find(f, cases[i].client, S0 + 10) != NULL) != cases[i].banned)
            fail_msg("%s (%s): banned %d, want %d", cases[i].client, cases[i].name, !cases[i].banned, cases[i].banned);
    }
    teardown(f);
}

/* on_log - the engine's last message */
static char logged[256];
static int log_calls;
static void on_log(const char *msg, void *arg)
{
    (void)arg;
    snprintf(logged, sizeof logged, "%s", msg);
    log_calls++;
}

/* bans.max lowered below what the index holds (a reload does that): the refusal's line names the bound the
 * admin set, not the count of bans held (the refused ban ends before every ban held, so no bound makes room) */
static void test_full_index_line(void **st)
{
    fixture *f = bsetup("{ name = \"long\"; on = \"report:auth_failure\";\n"
                        "  ban = { key = \"client_address\"; count = 1; per = \"1m\"; duration = \"1d\"; }; },\n"
                        "{ name = \"short\"; on = \"report:scan\";\n"
                        "  ban = { key = \"client_address\"; count = 1; per = \"1m\"; duration = \"1m\"; }; }");
    const char *want = "bans: the index is full (bans.max = 2): rule short did not ban 192.0.2.4 (";
    (void)st;

    f->eng.log = on_log;
    fails(f, T0, FAIL("192.0.2.1"), 2);
    fails(f, T0, FAIL("192.0.2.2"), 2);
    fails(f, T0, FAIL("192.0.2.3"), 2);
    assert_int_equal(ban_count(f->eng.bans), 3);
    ban_set_max(f->eng.bans, 2);
    fails(f, T0 + 1, "request=report\nevent=scan\nclient_address=192.0.2.4", 2);
    assert_null(find(f, "192.0.2.4", S0 + 1));
    assert_int_equal(log_calls, 1);
    if (strncmp(logged, want, strlen(want)))
        fail_msg("logged \"%s\", want \"%s...\"", logged, want);
    /* the count is of bans refused: one, then two (its history entry, refused too, is not a ban) */
    assert_non_null(strstr(logged, "(1 refused so far)"));
    fails(f, T0 + 2, "request=report\nevent=scan\nclient_address=192.0.2.5", 2);
    assert_int_equal(log_calls, 2);
    assert_non_null(strstr(logged, "rule short did not ban 192.0.2.5 (2 refused so far)"));
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_values),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_escalation),
        cmocka_unit_test(test_forever_and_no_stacking),
        cmocka_unit_test(test_network_keys),
        cmocka_unit_test(test_username_key),
        cmocka_unit_test(test_trusted_never_banned),
        cmocka_unit_test(test_trusted_inside_network),
        cmocka_unit_test(test_spamtrap_event),
        cmocka_unit_test(test_shipped_spamtrap),
        cmocka_unit_test(test_any_event_word),
        cmocka_unit_test(test_ban_on_smtp),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_full_index_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
