/*
 * test_grey - greylisting as a sending MTA meets it, with an injected clock
 */
#include "engine_fixture.h"

#include "grey.h"

#define MIN 60000ULL
#define DAY (86400 * 1000ULL)
#define T0 1700000000000ULL

#define GREY_RULE(extra)                                                                     \
    "{ name = \"grey\"; on = \"smtp:RCPT\";\n"                                               \
    "  greylist = { delay = \"5m\"; retry_window = \"2d\"; pass_lifetime = \"35d\"; " extra " }; }"

/* req - a RCPT request (static buffer) */
static const char *req(const char *ip, const char *sender, const char *rcpt, const char *sasl)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\nsender=%s\nrecipient=%s\n"
             "sasl_username=%s",
             ip, sender, rcpt, sasl);
    return buf;
}

#define DEFERRED(f, t, r) (strncmp(ask(f, t, r), "DEFER_IF_PERMIT 4.2.0 Greylisted", 32) == 0)

/* first sight, early retry, retry after the delay, remembered pass */
static void test_lifecycle(void **st)
{
    fixture *f = setup(GREY_RULE(""));
    const char *r = req("192.0.2.10", "Joe@Example.org", "ann@example.com", "");
    (void)st;

    assert_string_equal(ask(f, T0, r), "DEFER_IF_PERMIT 4.2.0 Greylisted, please retry in 300 seconds");
    /* early retry: deferred again, and the clock is not reset */
    assert_string_equal(ask(f, T0 + 2 * MIN, r), "DEFER_IF_PERMIT 4.2.0 Greylisted, please retry in 180 seconds");
    assert_true(DEFERRED(f, T0 + 5 * MIN - 1, r));
    /* after the delay: passes */
    assert_string_equal(ask(f, T0 + 5 * MIN, r), "DUNNO");
    /* remembered: the same triplet passes at once, from another address of the /24, in any case */
    assert_string_equal(ask(f, T0 + 10 * MIN, req("192.0.2.99", "joe@example.ORG", "ANN@example.com", "")), "DUNNO");
    /* another recipient is another triplet */
    assert_true(DEFERRED(f, T0 + 10 * MIN, req("192.0.2.10", "joe@example.org", "bob@example.com", "")));
    /* another network is another triplet */
    assert_true(DEFERRED(f, T0 + 10 * MIN, req("198.51.100.10", "joe@example.org", "ann@example.com", "")));
    assert_int_equal(f->eng.stats.greylisted, 5);
    teardown(f);
}

/* a pass is refreshed at every pass and forgotten pass_lifetime after the last one */
static void test_pass_refresh_and_expiry(void **st)
{
    fixture *f = setup(GREY_RULE(""));
    const char *r = req("192.0.2.10", "joe@example.org", "ann@example.com", "");
    (void)st;

    assert_true(DEFERRED(f, T0, r));
    assert_string_equal(ask(f, T0 + 6 * MIN, r), "DUNNO");
    /* 30 days later: still known, and refreshed */
    assert_string_equal(ask(f, T0 + 30 * DAY, r), "DUNNO");
    /* 60 days after the first pass, but 30 after the refresh: still known */
    assert_string_equal(ask(f, T0 + 60 * DAY, r), "DUNNO");
    /* 36 days of silence: forgotten */
    assert_true(DEFERRED(f, T0 + 96 * DAY, r));
    teardown(f);
}

/* a token not retried within retry_window expires: the next try is a first sight */
static void test_token_expiry(void **st)
{
    fixture *f = setup(GREY_RULE(""));
    const char *r = req("192.0.2.10", "joe@example.org", "ann@example.com", "");
    (void)st;

    assert_true(DEFERRED(f, T0, r));
    assert_string_equal(ask(f, T0 + 2 * DAY + 1, r), "DEFER_IF_PERMIT 4.2.0 Greylisted, please retry in 300 seconds");
    assert_string_equal(ask(f, T0 + 2 * DAY + 1 + 5 * MIN, r), "DUNNO");
    teardown(f);
}

/* a network with auto_allow passed triplets is not greylisted any more */
static void test_auto_allow(void **st)
{
    char rcpt[64];
    (void)st;

    for (int limit = 0; limit <= 3; limit += 3) {
        char rules[512];
        snprintf(rules, sizeof rules, GREY_RULE("auto_allow = %d;"), limit);
        fixture *f = setup(rules);
        for (int i = 0; i < 3; i++) {
            snprintf(rcpt, sizeof rcpt, "user%d@example.com", i);
            assert_true(DEFERRED(f, T0, req("203.0.113.5", "list@lists.example.org", rcpt, "")));
            assert_string_equal(ask(f, T0 + 6 * MIN, req("203.0.113.5", "list@lists.example.org", rcpt, "")), "DUNNO");
        }
        /* a new triplet from that network: allowed at once with auto_allow = 3, greylisted with 0 (off) */
        const char *fresh = req("203.0.113.77", "new@elsewhere.example", "user9@example.com", "");
        if (limit)
            assert_string_equal(ask(f, T0 + 7 * MIN, fresh), "DUNNO");
        else
            assert_true(DEFERRED(f, T0 + 7 * MIN, fresh));
        /* another network is not allowed by it */
        assert_true(DEFERRED(f, T0 + 7 * MIN, req("203.0.114.5", "new@elsewhere.example", "user9@example.com", "")));
        teardown(f);
    }
}

/* logged-in clients, trusted networks and loopback are never greylisted; bounces as set */
static void test_bypass(void **st)
{
    fixture *f = setup(GREY_RULE("trusted = [\"10.0.0.0/8\", \"2001:db8:aaaa::/48\"]; bounces = false;"));
    (void)st;

    assert_string_equal(ask(f, T0, req("192.0.2.10", "joe@example.org", "a@example.com", "joe")), "DUNNO");
    assert_string_equal(ask(f, T0, req("10.20.30.40", "joe@example.org", "a@example.com", "")), "DUNNO");
    assert_string_equal(ask(f, T0, req("2001:db8:aaaa:1::5", "joe@example.org", "a@example.com", "")), "DUNNO");
    assert_string_equal(ask(f, T0, req("127.0.0.1", "joe@example.org", "a@example.com", "")), "DUNNO");
    assert_string_equal(ask(f, T0, req("::1", "joe@example.org", "a@example.com", "")), "DUNNO");
    assert_string_equal(ask(f, T0, req("192.0.2.10", "", "a@example.com", "")), "DUNNO");
    assert_true(DEFERRED(f, T0, req("192.0.2.10", "joe@example.org", "a@example.com", "")));
    assert_int_equal(f->ev.batch.nops, 1);
    teardown(f);

    /* bounces are greylisted by default */
    f = setup(GREY_RULE(""));
    assert_true(DEFERRED(f, T0, req("192.0.2.10", "", "a@example.com", "")));
    teardown(f);
}

/* IPv6 clients: the triplet holds their /64 */
static void test_ipv6_64(void **st)
{
    fixture *f = setup(GREY_RULE(""));
    (void)st;

    assert_true(DEFERRED(f, T0, req("2001:db8:1:2::10", "joe@example.org", "ann@example.com", "")));
    /* the retry comes from another address of the same /64: it passes */
    assert_string_equal(ask(f, T0 + 6 * MIN, req("2001:db8:1:2:aaaa::99", "joe@example.org", "ann@example.com", "")), "DUNNO");
    /* another /64 is another triplet */
    assert_true(DEFERRED(f, T0 + 6 * MIN, req("2001:db8:1:3::10", "joe@example.org", "ann@example.com", "")));
    teardown(f);
}

/* the text is the admin's, with $ expansion; a greylisted request does not use up a limit before it */
static void test_text_and_limits(void **st)
{
    fixture *f = setup("{ name = \"lim\"; on = \"smtp:RCPT\"; limit = { key = \"client_address\"; count = 2; per = \"1h\"; }; },\n"
                       "{ name = \"grey\"; on = \"smtp:RCPT\"; greylist = { delay = \"1m\"; };\n"
                       "  action = \"450 4.7.1 $client_address: greylisted for $recipient, come back in $retry_after s\"; }");
    const char *r = req("192.0.2.10", "joe@example.org", "ann@example.com", "");
    (void)st;

    assert_string_equal(ask(f, T0, r), "450 4.7.1 192.0.2.10: greylisted for ann@example.com, come back in 60 s");
    assert_true(strncmp(ask(f, T0 + 1000, r), "450", 3) == 0);
    assert_true(strncmp(ask(f, T0 + 2000, r), "450", 3) == 0);
    /* three refusals counted nowhere: the limit of 2 still has room for the pass and one more */
    assert_string_equal(ask(f, T0 + MIN, r), "DUNNO");
    assert_string_equal(ask(f, T0 + MIN + 1, r), "DUNNO");
    assert_true(strncmp(ask(f, T0 + MIN + 2, r), "DEFER_IF_PERMIT 4.7.1", 21) == 0);
    teardown(f);
}

/* a first sight stamped in the future (a clock that was ahead wrote it) never passes early: the delay
 * runs from now, and the triplet does not wait the clocks' whole difference either */
static void test_first_sight_in_future(void **st)
{
    grey_spec spec = {5 * MIN, 2 * DAY, 35 * DAY, 0};
    unsigned char t[GREY_TRIPLET_SIZE] = {0};
    uint64_t now = T0, first = T0 + DAY;
    grey_step step;
    (void)st;

    memcpy(t, &first, 8);
    grey_decide(&spec, now, t, sizeof t, NULL, 0, &step);
    assert_int_equal(step.result, GREY_EARLY);
    assert_int_equal(step.retry_ms, 5 * MIN);
    /* written back as first seen now, with a fresh token */
    assert_true(step.write_triplet);
    memcpy(&first, step.triplet, 8);
    assert_int_equal(first, now);
    assert_int_equal(step.triplet_expires, now + 2 * DAY);
    memcpy(t, step.triplet, sizeof t);
    grey_decide(&spec, now + 5 * MIN - 1, t, sizeof t, NULL, 0, &step);
    assert_int_equal(step.result, GREY_EARLY);
    assert_int_equal(step.retry_ms, 1);
    assert_false(step.write_triplet); /* an ordinary early retry does not reset the clock */
    grey_decide(&spec, now + 5 * MIN, t, sizeof t, NULL, 0, &step);
    assert_int_equal(step.result, GREY_PASS_FIRST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_pass_refresh_and_expiry),
        cmocka_unit_test(test_token_expiry),
        cmocka_unit_test(test_auto_allow),
        cmocka_unit_test(test_bypass),
        cmocka_unit_test(test_ipv6_64),
        cmocka_unit_test(test_text_and_limits),
        cmocka_unit_test(test_first_sight_in_future),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
