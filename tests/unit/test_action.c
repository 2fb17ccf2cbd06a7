/*
 * test_action - action templates: validation and $expansion
 */
#include "testutil.h"

#include "action.h"

static void test_expand(void **st)
{
    static const struct { const char *tmpl, *want; } cases[] = {
        {"DUNNO", "DUNNO"},
        {"REJECT 5.7.1 $sender is not welcome", "REJECT 5.7.1 joe@example.org is not welcome"},
        {"DEFER_IF_PERMIT ${sender_domain}: $rule, retry in $retry_after s ($count per $per)",
         "DEFER_IF_PERMIT example.org: r1, retry in 42 s (5 per 1h)"},
        {"550 5.7.1 costs $$5 from $client_address", "550 5.7.1 costs $5 from 192.0.2.1"},
        {"WARN helo=$helo_name missing=[$sasl_username]", "WARN helo=mx. missing=[]"},
    };
    char buf[512], out[ACTION_MAX + 1];
    fg_request req;
    (void)st;

    make_req(buf, sizeof buf, "request=smtpd_access_policy\nsender=joe@example.org\nclient_address=192.0.2.1\nhelo_name=mx.", &req);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        action_tmpl t;
        const char *why = NULL;
        action_ctx ctx = {.rule = "r1", .retry_s = 42, .count = 5, .per = "1h"};
        assert_int_equal(action_parse(cases[i].tmpl, &t, &why), 0);
        action_expand(&t, &req, &ctx, out, sizeof out);
        assert_string_equal(out, cases[i].want);
        action_free(&t);
    }
}

static void test_denies(void **st)
{
    static const struct { const char *tmpl; int denies; } cases[] = {
        {"OK", 0}, {"dunno", 0}, {"WARN x", 0}, {"PREPEND X-Y: z", 0}, {"HOLD", 0},
        {"REJECT", 1}, {"DEFER x", 1}, {"DEFER_IF_PERMIT 4.7.1 x", 1}, {"450 4.7.1 x", 1}, {"554 no", 1},
        {"TARPIT 5", 0}, {"tarpit 3600 slow down", 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        action_tmpl t;
        const char *why;
        assert_int_equal(action_parse(cases[i].tmpl, &t, &why), 0);
        assert_int_equal(t.denies, cases[i].denies);
        action_free(&t);
    }
}

/* TARPIT N [text]: the delay is read once, at load */
static void test_tarpit(void **st)
{
    static const struct { const char *tmpl; uint32_t secs; } cases[] = {
        {"TARPIT 5", 5}, {"TARPIT  12 go slow", 12}, {"tarpit 1", 1}, {"REJECT 5 x", 0}, {"DUNNO", 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        action_tmpl t;
        const char *why;
        assert_int_equal(action_parse(cases[i].tmpl, &t, &why), 0);
        assert_int_equal(t.tarpit_s, cases[i].secs);
        action_free(&t);
    }
}

static void test_invalid(void **st)
{
    static const char *const bad[] = {"BLOCK", "", "REJECT $nope", "REJECT ${sender", "REJECT $", "OK\nX", "650 x",
                                      "TARPIT", "TARPIT 0", "TARPIT 3601", "TARPIT x", "TARPIT -5", "TARPIT 5s",
                                      "TARPITS 5"};
    (void)st;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        action_tmpl t;
        const char *why = NULL;
        if (action_parse(bad[i], &t, &why) == 0)
            fail_msg("\"%s\" parsed, want an error", bad[i]);
        assert_non_null(why);
    }
}

/* values cannot break the reply line, and the line is bounded */
static void test_sanitize_and_bound(void **st)
{
    char buf[8192], out[ACTION_MAX + 1], big[4000];
    fg_request req;
    action_tmpl t;
    const char *why;
    action_ctx ctx = {.rule = "r"};
    (void)st;

    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char text[4200];
    snprintf(text, sizeof text, "request=smtpd_access_policy\nsender=%s\rx", big);
    make_req(buf, sizeof buf, text, &req);
    assert_int_equal(action_parse("REJECT $sender", &t, &why), 0);
    size_t n = action_expand(&t, &req, &ctx, out, sizeof out);
    assert_true(n <= ACTION_MAX);
    assert_null(strchr(out, '\r'));
    assert_null(strchr(out, '\n'));
    action_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_denies),
        cmocka_unit_test(test_tarpit),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_sanitize_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
