/*
 * test_httpreq - HTTP requests of the adapter turned into policy requests
 */
#include "testutil.h"

#include "httpreq.h"

static char mem[65536];

/* arena - a fresh arena over mem */
static httpreq_arena arena(void)
{
    httpreq_arena a = {mem, sizeof mem, 0};
    return a;
}

/* val - an attribute by name, "" when absent */
static const char *val(const fg_request *r, const char *name)
{
    size_t len;
    return req_get_name(r, name, &len);
}

/* nginx's headers, then query arguments; X-Forwarded-For's last hop only without X-Real-IP */
static void test_check(void **st)
{
    static const struct {
        const char *label, *kind;
        httpreq_headers h;
        const char *arg_name, *arg_value;
        const char *want_addr, *want_uri, *want_auth;
        enum req_kind want_kind;
    } cases[] = {
        {"real ip", "http", {"192.0.2.7", NULL, "GET", "/login", "no"}, NULL, NULL, "192.0.2.7", "/login", "no", REQ_HTTP},
        {"xff last hop", "http", {NULL, "10.0.0.1, 203.0.113.9 , 192.0.2.8 ", NULL, NULL, NULL}, NULL, NULL, "192.0.2.8", "", "", REQ_HTTP},
        {"xff one", "http", {NULL, "192.0.2.9", NULL, NULL, "yes"}, NULL, NULL, "192.0.2.9", "", "yes", REQ_HTTP},
        {"real ip wins", "http", {" 192.0.2.1", "192.0.2.2", NULL, NULL, NULL}, NULL, NULL, "192.0.2.1", "", "", REQ_HTTP},
        {"query wins", "contact", {"192.0.2.1", NULL, NULL, "/a", NULL}, "uri", "/b", "192.0.2.1", "/b", "", REQ_CONTACT},
        {"query address", "auth", {NULL, NULL, NULL, NULL, NULL}, "client_address", "2001:db8::1", "2001:db8::1", "", "", REQ_AUTH},
        {"request= ignored", "http", {"192.0.2.1", NULL, NULL, NULL, NULL}, "request", "auth", "192.0.2.1", "", "", REQ_HTTP},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        httpreq_arena a = arena();
        fg_request req;
        httpreq_pair p = {cases[i].arg_name, cases[i].arg_value};
        enum httpreq_status rc = httpreq_check(cases[i].kind, &cases[i].h, &p, cases[i].arg_name ? 1 : 0, &a, &req);
        if (rc != HTTPREQ_OK)
            fail_msg("%s: status %d", cases[i].label, rc);
        assert_int_equal(req.kind, cases[i].want_kind);
        assert_string_equal(val(&req, "client_address"), cases[i].want_addr);
        assert_string_equal(val(&req, "uri"), cases[i].want_uri);
        assert_string_equal(val(&req, "authenticated"), cases[i].want_auth);
    }
}

static void test_check_bad_kind(void **st)
{
    httpreq_headers h = {0};
    fg_request req;
    (void)st;
    for (const char *const *k = (const char *const[]){"", "bogus", "HTTP ", NULL}; *k; k++) {
        httpreq_arena a = arena();
        assert_int_equal(httpreq_check(*k, &h, NULL, 0, &a, &req), HTTPREQ_BAD_KIND);
    }
}

/* the arena never overflows: a request that does not fit is refused whole */
static void test_check_no_room(void **st)
{
    char small[16];
    httpreq_arena a = {small, sizeof small, 0};
    httpreq_headers h = {"192.0.2.1", NULL, NULL, "/a/very/long/uri/that/does/not/fit", NULL};
    fg_request req;
    (void)st;
    assert_int_equal(httpreq_check("http", &h, NULL, 0, &a, &req), HTTPREQ_NO_ROOM);
    assert_true(a.used <= sizeof small);
}

/* Dovecot 2.3's allow and report bodies */
static void test_dovecot(void **st)
{
    static const char allow[] = "{\"device_id\":\"\",\"login\":\"joe@example.com\",\"protocol\":\"imap\",\"pwhash\":\"01e8\","
                                "\"remote\":\"192.0.2.7\",\"session_id\":\"YEMwef9g9OJ/AAAB\",\"tls\":false}";
    static const char report_ok[] = "{\"login\":\"joe@example.com\",\"remote\":\"192.0.2.7\",\"success\":true,"
                                    "\"policy_reject\":false,\"attempts\":3}";
    static const char report_fail[] = "{\"login\":\"joe\",\"remote\":\"192.0.2.7\",\"success\":false,"
                                      "\"request\":\"smtpd_access_policy\",\"event\":\"x\",\"nested\":{\"a\":1}}";
    httpreq_arena a = arena();
    fg_request req;
    (void)st;

    assert_int_equal(httpreq_dovecot(allow, sizeof allow - 1, 0, &a, &req), HTTPREQ_OK);
    assert_int_equal(req.kind, REQ_AUTH);
    assert_string_equal(val(&req, "client_address"), "192.0.2.7");
    assert_string_equal(val(&req, "username"), "joe@example.com");
    assert_string_equal(val(&req, "username_domain"), "example.com");
    assert_string_equal(val(&req, "protocol"), "imap");
    assert_string_equal(val(&req, "pwhash"), "01e8");
    assert_string_equal(val(&req, "session_id"), "YEMwef9g9OJ/AAAB");
    assert_string_equal(val(&req, "tls"), "no");
    assert_non_null(req_client_addr(&req));

    a = arena();
    assert_int_equal(httpreq_dovecot(report_ok, sizeof report_ok - 1, 1, &a, &req), HTTPREQ_OK);
    assert_int_equal(req.kind, REQ_REPORT);
    assert_string_equal(val(&req, "event"), "auth_success");
    assert_string_equal(val(&req, "attempts"), "3");
    a = arena();
    /* members cannot choose the kind or the event; nested values are ignored */
    assert_int_equal(httpreq_dovecot(report_fail, sizeof report_fail - 1, 1, &a, &req), HTTPREQ_OK);
    assert_int_equal(req.kind, REQ_REPORT);
    assert_string_equal(val(&req, "event"), "auth_failure");
    assert_string_equal(val(&req, "nested"), "");
}

static void test_dovecot_bad(void **st)
{
    static const struct { const char *body; enum httpreq_status want; } cases[] = {
        {"", HTTPREQ_BAD_JSON},
        {"{", HTTPREQ_BAD_JSON},
        {"{\"login\":\"a\"} trailing", HTTPREQ_BAD_JSON},
        {"{\"login\":\"a\",\"login\":\"b\"}", HTTPREQ_BAD_JSON},   /* duplicate keys */
        {"{\"login\":\"a\\u0000b\"}", HTTPREQ_BAD_JSON},           /* NUL inside a string */
        {"{\"login\":\"\xff\xfe\"}", HTTPREQ_BAD_JSON},             /* not UTF-8 */
        {"[1,2]", HTTPREQ_NOT_OBJECT},
        {"\"x\"", HTTPREQ_BAD_JSON},                              /* jansson wants an object or array on top */
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        httpreq_arena a = arena();
        fg_request req;
        enum httpreq_status rc = httpreq_dovecot(cases[i].body, strlen(cases[i].body), 0, &a, &req);
        if (rc != cases[i].want)
            fail_msg("%s: status %d, want %d", cases[i].body, rc, cases[i].want);
    }
}

static void test_msg(void **st)
{
    static const struct { const char *action, *want; } cases[] = {
        {"REJECT 5.7.1 too many logins", "too many logins"}, {"REJECT", ""}, {"450 4.7.1 wait", "wait"},
        {"TARPIT 5 go slow", "go slow"}, {"TARPIT 5", ""}, {"DEFER_IF_PERMIT 4.3.0 Policy x", "Policy x"},
        {"REJECT 2fast", "2fast"},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(httpreq_msg(cases[i].action), cases[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_check_bad_kind),
        cmocka_unit_test(test_check_no_room),
        cmocka_unit_test(test_dovecot),
        cmocka_unit_test(test_dovecot_bad),
        cmocka_unit_test(test_msg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
