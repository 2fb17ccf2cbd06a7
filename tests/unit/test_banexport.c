/*
 * test_banexport - the formats of the published bans, from known records and a fixed "now"
 *
 * Each case is a list of records and the exact text a firewall would read. The nft and ipset texts are
 * also loaded by the real nft and ipset in a network namespace (tests/integration/test_banfw.c).
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <event2/buffer.h>

#include "banexport.h"

#define NOW 1800000000ull

/* rec - a record from text ("192.0.2.0/24"), reason, rule, expiry (0 = for ever) */
static banexport_rec rec(const char *net, const char *reason, const char *rule, uint64_t expires)
{
    banexport_rec r = {0};
    char a[64];
    const char *slash = strchr(net, '/');

    snprintf(a, sizeof a, "%.*s", slash ? (int)(slash - net) : (int)strlen(net), net);
    r.family = strchr(a, ':') ? 6 : 4;
    assert_int_equal(inet_pton(r.family == 4 ? AF_INET : AF_INET6, a, r.bytes), 1);
    r.prefix = (uint8_t)(slash ? atoi(slash + 1) : r.family == 4 ? 32 : 128);
    r.reason = reason;
    r.rule = rule;
    r.since = NOW - 10;
    r.expires = expires;
    r.times = 1;
    return r;
}

/* render - one format as a C string (static buffer) */
static const char *render(int fmt, const banexport_rec *recs, size_t n)
{
    static char text[8192];
    struct evbuffer *b = evbuffer_new();
    size_t len = evbuffer_get_length(b);

    banexport_write(fmt, recs, n, NOW, b);
    len = evbuffer_get_length(b);
    assert_true(len < sizeof text);
    evbuffer_remove(b, text, len);
    text[len] = '\0';
    evbuffer_free(b);
    return text;
}

#define NFT_HEAD(n)                                                                                          \
    "#!/usr/sbin/nft -f\n"                                                                                   \
    "# floodgate bans (" #n "), written by floodgated: load with nft -f; loading again replaces the sets' "  \
    "content\n"                                                                                              \
    "table inet floodgate {\n"                                                                               \
    "\tset banned_v4 { type ipv4_addr; flags interval, timeout; }\n"                                         \
    "\tset banned_v6 { type ipv6_addr; flags interval, timeout; }\n"                                         \
    "\tchain input { type filter hook input priority filter - 10; policy accept; }\n"                       \
    "}\n"                                                                                                    \
    "flush chain inet floodgate input\n"                                                                     \
    "add rule inet floodgate input ip saddr @banned_v4 drop\n"                                               \
    "add rule inet floodgate input ip6 saddr @banned_v6 drop\n"                                              \
    "flush set inet floodgate banned_v4\n"                                                                   \
    "flush set inet floodgate banned_v6\n"

static banexport_rec sample[5];

static int setup(void **st)
{
    (void)st;
    sample[0] = rec("198.51.100.7", "too many failures", "ssh", NOW + 3600);
    sample[1] = rec("2001:db8:1::/48", "scan", "scan", 0);
    sample[2] = rec("192.0.2.0/24", "manual", NULL, NOW + 60);
    sample[3] = rec("203.0.113.9", "gone", "ssh", NOW); /* expired at now: left out */
    sample[4] = rec("2001:db8::1", "x", "y", NOW + 5000000);
    return 0;
}

static void test_nft(void **st)
{
    (void)st;
    assert_string_equal(render(BANEXPORT_NFT, sample, 5),
                        NFT_HEAD(4) "add element inet floodgate banned_v4 {\n"
                                    "\t192.0.2.0/24 timeout 60s,\n"
                                    "\t198.51.100.7 timeout 3600s\n"
                                    "}\n"
                                    "add element inet floodgate banned_v6 {\n"
                                    "\t2001:db8::1 timeout 5000000s,\n"
                                    "\t2001:db8:1::/48\n"
                                    "}\n");
}

static void test_nft_empty(void **st)
{
    (void)st;
    assert_string_equal(render(BANEXPORT_NFT, sample + 3, 1), NFT_HEAD(0));
}

/* an interval set refuses overlapping elements: an inner network of a banned one is left out */
static void test_nft_overlap(void **st)
{
    banexport_rec r[3] = {rec("10.1.2.3", "a", "r", NOW + 10), rec("10.0.0.0/8", "b", "r", NOW + 20),
                          rec("11.0.0.1", "c", "r", 0)};
    (void)st;
    assert_string_equal(render(BANEXPORT_NFT, r, 3), NFT_HEAD(2) "add element inet floodgate banned_v4 {\n"
                                                                 "\t10.0.0.0/8 timeout 20s,\n"
                                                                 "\t11.0.0.1\n"
                                                                 "}\n");
}

/* a statement holds BANEXPORT_NFT_CHUNK elements, then another begins */
static void test_nft_chunks(void **st)
{
    enum { N = BANEXPORT_NFT_CHUNK + 3 };
    banexport_rec *r = calloc(N, sizeof *r);
    struct evbuffer *b = evbuffer_new();
    char ip[32];
    (void)st;
    for (int i = 0; i < N; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        r[i] = rec(ip, "", "", 0);
    }
    banexport_write(BANEXPORT_NFT, r, N, NOW, b);
    size_t len = evbuffer_get_length(b);
    char *t = malloc(len + 1);
    evbuffer_remove(b, t, len);
    t[len] = '\0';
    int stmts = 0, elems = 0;
    for (char *p = t; (p = strstr(p, "add element")); p++)
        stmts++;
    for (char *p = t; (p = strstr(p, "\t10.")); p++)
        elems++;
    assert_int_equal(stmts, 2);
    assert_int_equal(elems, N);
    free(t);
    free(r);
    evbuffer_free(b);
}

static void test_ipset(void **st)
{
    (void)st;
    assert_string_equal(render(BANEXPORT_IPSET, sample, 5),
                        "create floodgate_v4 hash:net family inet timeout 0 maxelem 1048576 -exist\n"
                        "create floodgate_v6 hash:net family inet6 timeout 0 maxelem 1048576 -exist\n"
                        "flush floodgate_v4\n"
                        "flush floodgate_v6\n"
                        "add floodgate_v4 192.0.2.0/24 timeout 60 -exist\n"
                        "add floodgate_v4 198.51.100.7 timeout 3600 -exist\n"
                        "add floodgate_v6 2001:db8::1 timeout 2147483 -exist\n" /* ipset's cap */
                        "add floodgate_v6 2001:db8:1::/48 timeout 0 -exist\n");
}

static void test_plain(void **st)
{
    (void)st;
    assert_string_equal(render(BANEXPORT_PLAIN, sample, 5),
                        "192.0.2.0/24\n198.51.100.7\n2001:db8::1\n2001:db8:1::/48\n");
    assert_string_equal(render(BANEXPORT_PLAIN, NULL, 0), "");
}

static void test_json(void **st)
{
    banexport_rec r[2] = {rec("192.0.2.1", "say \"hi\"\n\\", NULL, NOW + 5), rec("::1", NULL, "r", 0)};
    (void)st;
    assert_string_equal(render(BANEXPORT_JSON, r, 2),
                        "[\n{\"network\":\"192.0.2.1\",\"reason\":\"say \\\"hi\\\"\\u000a\\\\\",\"rule\":\"\","
                        "\"since\":1799999990,\"expires\":1800000005,\"remaining\":5,\"times\":1},\n"
                        "{\"network\":\"::1\",\"reason\":\"\",\"rule\":\"r\",\"since\":1799999990,\"expires\":0,"
                        "\"remaining\":0,\"times\":1}\n]\n");
    assert_string_equal(render(BANEXPORT_JSON, NULL, 0), "[]\n");
}

/* JSON stays valid UTF-8 whatever the reason's bytes: valid sequences kept, anything else U+FFFD */
static void test_json_utf8(void **st)
{
    static const struct {
        const char *label, *reason, *want;
    } cases[] = {
        {"valid 2, 3, 4 bytes", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
        {"cut in the middle", "ab\xe2\x82", "ab\\ufffd\\ufffd"},
        {"stray continuation", "a\x80" "b", "a\\ufffd" "b"},
        {"invalid lead", "\xff\xfe", "\\ufffd\\ufffd"},
        {"overlong", "\xc0\xaf", "\\ufffd\\ufffd"},
        {"surrogate", "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},
        {"past U+10FFFF", "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
    };
    char want[256];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        banexport_rec r = rec("192.0.2.1", cases[i].reason, "x", 0);
        const char *got = render(BANEXPORT_JSON, &r, 1);
        snprintf(want, sizeof want, "\"reason\":\"%s\",", cases[i].want);
        if (!strstr(got, want))
            fail_msg("%s: %s", cases[i].label, got);
    }
}

/* follow lines: a hostile reason stays on its line and inside its quotes */
static void test_event(void **st)
{
    static const struct {
        int ev, json;
        banexport_rec r;
        const char *want;
    } cases[] = {
        {BANEXPORT_BAN, 0, {4, {192, 0, 2, 1}, 32, "a\"b\nunban 10.0.0.1", "ssh", 1, NOW + 30, 2, NULL},
         "ban 192.0.2.1 expires=1800000030 duration=30 times=2 rule=\"ssh\" reason=\"a\\\"b\\u000aunban 10.0.0.1\"\n"},
        {BANEXPORT_BAN, 0, {4, {10}, 8, "x", NULL, 1, 0, 1, NULL},
         "ban 10.0.0.0/8 expires=0 duration=forever times=1 rule=\"\" reason=\"x\"\n"},
        {BANEXPORT_UNBAN, 0, {4, {10}, 8, "x", NULL, 1, 0, 1, NULL}, "unban 10.0.0.0/8\n"},
        {BANEXPORT_EXPIRE, 0, {4, {192, 0, 2, 1}, 32, "x", NULL, 1, NOW, 1, NULL}, "expire 192.0.2.1\n"},
        {BANEXPORT_EXPIRE, 1, {4, {192, 0, 2, 1}, 32, "x", NULL, 1, NOW, 1, NULL},
         "{\"event\":\"expire\",\"network\":\"192.0.2.1\",\"reason\":\"x\",\"rule\":\"\",\"since\":1,"
         "\"expires\":1800000000,\"remaining\":0,\"times\":1}\n"},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct evbuffer *b = evbuffer_new();
        char text[512];
        banexport_event(cases[i].ev, &cases[i].r, NOW, cases[i].json, b);
        size_t len = evbuffer_get_length(b);
        evbuffer_remove(b, text, len);
        text[len] = '\0';
        assert_string_equal(text, cases[i].want);
        evbuffer_free(b);
    }
}

/* a username ban (family 0) reaches no firewall form, nor a text follower; JSON carries it as "username" */
static void test_username(void **st)
{
    banexport_rec r[2] = {rec("192.0.2.1", "x", NULL, NOW + 5), {0}};
    (void)st;
    r[1].name = "bob\"; rm -rf /";
    r[1].reason = "guessing";
    r[1].since = NOW - 1;
    r[1].expires = NOW + 60;
    r[1].times = 3;
    assert_string_equal(render(BANEXPORT_PLAIN, r, 2), "192.0.2.1\n");
    assert_null(strstr(render(BANEXPORT_NFT, r, 2), "bob"));
    assert_non_null(strstr(render(BANEXPORT_NFT, r, 2), "\t192.0.2.1 timeout 5s"));
    assert_null(strstr(render(BANEXPORT_IPSET, r, 2), "bob"));
    assert_string_equal(render(BANEXPORT_JSON, r, 2),
                        "[\n{\"username\":\"bob\\\"; rm -rf /\",\"reason\":\"guessing\",\"rule\":\"\","
                        "\"since\":1799999999,\"expires\":1800000060,\"remaining\":60,\"times\":3},\n"
                        "{\"network\":\"192.0.2.1\",\"reason\":\"x\",\"rule\":\"\",\"since\":1799999990,"
                        "\"expires\":1800000005,\"remaining\":5,\"times\":1}\n]\n");
    for (int json = 0; json <= 1; json++) {
        struct evbuffer *b = evbuffer_new();
        banexport_event(BANEXPORT_BAN, &r[1], NOW, json, b);
        size_t len = evbuffer_get_length(b);
        if (json)
        {
            const char *want = "{\"event\":\"ban\",\"username\":\"bob\\\"; rm -rf /\",";
            assert_true(len > strlen(want));
            assert_int_equal(memcmp(evbuffer_pullup(b, -1), want, strlen(want)), 0);
        }
        else
            assert_int_equal(len, 0);
        evbuffer_free(b);
    }
}

static void test_parse_format(void **st)
{
    (void)st;
    assert_int_equal(banexport_parse_format("nft"), BANEXPORT_NFT);
    assert_int_equal(banexport_parse_format("ipset"), BANEXPORT_IPSET);
    assert_int_equal(banexport_parse_format("plain"), BANEXPORT_PLAIN);
    assert_int_equal(banexport_parse_format("json"), BANEXPORT_JSON);
    assert_int_equal(banexport_parse_format("iptables"), -1);
    assert_int_equal(banexport_parse_format(NULL), -1);
    assert_string_equal(banexport_format_name(BANEXPORT_IPSET), "ipset");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_nft, setup),        cmocka_unit_test_setup(test_nft_empty, setup),
        cmocka_unit_test(test_nft_overlap),             cmocka_unit_test(test_nft_chunks),
        cmocka_unit_test_setup(test_ipset, setup),      cmocka_unit_test_setup(test_plain, setup),
        cmocka_unit_test(test_json),                    cmocka_unit_test(test_event),
        cmocka_unit_test(test_parse_format),            cmocka_unit_test(test_username),
        cmocka_unit_test(test_json_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
