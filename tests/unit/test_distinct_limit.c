/*
 * test_distinct_limit - limit.distinct end to end on the embedded store: the rule file (what it accepts,
 * what it refuses and where), the engine's answers (a new value past the limit refused, a counted one
 * passing without counting, forgetting with the injected clock, derived attributes), the flat state's
 * retry, and memory per key under 1,000,000 hostile values
 */
#include "engine_fixture.h"

#include "alloc.h"
#include "distinct.h"

/* mix - splitmix64, a stand-in for the engine's hash */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* the rule file: accepted forms, and errors with their lines */
static void test_rule_file(void **st)
{
    static const struct { const char *label, *rules; int line; const char *needle; } bad[] = {
        {"unknown attribute", "  { name = \"a\"; on = \"auth\"; limit = { key = \"client_address\";\n    distinct = \"usrname\"; count = 5; per = \"10m\"; }; }\n", 4, "limit.distinct: unknown attribute \"usrname\""},
        {"not a string", "  { name = \"a\"; on = \"auth\"; limit = { key = \"client_address\"; distinct = 5; count = 5; per = \"10m\"; }; }\n", 3, "limit.distinct: expected a string"},
        {"with rates", "  { name = \"a\"; on = \"auth\"; limit = { key = \"client_address\";\n    distinct = \"username\"; rates = [\"5/10m\", \"20/1h\"]; }; }\n", 4, "not rates"},
        {"the key itself", "  { name = \"a\"; on = \"auth\"; limit = { key = [\"client_address\", \"username\"];\n    distinct = \"username\"; count = 5; per = \"10m\"; }; }\n", 4, "also a part of the key"},
        {"a coarser network", "  { name = \"a\"; on = \"auth\"; limit = { key = \"client_address\"; distinct = \"client_address/24\"; count = 5; per = \"10m\"; }; }\n", 3, "also a part of the key"},
        {"bad prefix", "  { name = \"a\"; on = \"auth\"; limit = { key = \"username\"; distinct = \"client_address/129\"; count = 5; per = \"10m\"; }; }\n", 3, "bad prefix"},
        {"no count", "  { name = \"a\"; on = \"auth\"; limit = { key = \"username\"; distinct = \"client_address\"; per = \"10m\"; }; }\n", 3, "needs count"},
    };
    char text[2048];
    (void)st;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        conf_errors errs = {0};
        snprintf(text, sizeof text, LISTEN "rules = (\n%s);\n", bad[i].rules);
        fg_conf *c = load_text(text, &errs);
        if (c)
            fail_msg("%s: loaded, want an error", bad[i].label);
        if (!has_error(&errs, bad[i].line, bad[i].needle)) {
            dump_errors(&errs);
            fail_msg("%s: no error at line %d mentioning \"%s\"", bad[i].label, bad[i].line, bad[i].needle);
        }
        conf_errors_free(&errs);
    }
    /* distinct addresses inside the key's own network, and a derived attribute, are fine */
    conf_errors errs = {0};
    fg_conf *c = load_text(LISTEN "rules = (\n"
                           "  { name = \"a\"; on = \"auth\"; limit = { key = \"client_address/24\"; distinct = \"client_address\"; count = 5; per = \"10m\"; }; },\n"
                           "  { name = \"b\"; on = \"smtp:RCPT\"; limit = { key = \"sender\"; distinct = \"recipient_domain\"; count = 5; per = \"1h\"; }; }\n"
                           ");\n", &errs);
    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    assert_true(c->rules->rules[0].has_distinct);
    assert_true(c->rules->rules[1].has_distinct);
    conf_free(c);
}

#define SPRAY "  { name = \"spray\"; on = \"auth\"; limit = { key = \"client_address\"; distinct = \"username\"; count = 3; per = \"10m\"; };\n" \
              "    action = \"REJECT too many logins from $client_address\"; }\n"

/* password spray: the fourth new login from one address is refused; a login already tried passes and
 * does not count; another address has its own count; the window forgets */
static void test_spray(void **st)
{
    (void)st;
    fixture *f = setup(SPRAY);
    char q[256];
    static const char *const users[] = {"alice", "bob", "Carol", "dave"};

    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "request=auth\nclient_address=192.0.2.7\nusername=%s\n", users[i]);
        assert_string_equal(ask(f, 1000 + i, q), "DUNNO");
        assert_int_equal(f->ev.batch.ops[0].peek.total, (uint64_t)i + 1);
    }
    assert_string_equal(ask(f, 2000, "request=auth\nclient_address=192.0.2.7\nusername=dave\n"),
                        "REJECT too many logins from 192.0.2.7");
    /* all three in the first bucket (1 min): it leaves the window at 11 min */
    assert_int_equal(f->ev.v.retry_s, 658);
    /* already counted (case folded): passes, many times, and the count stays; seen again in bucket 2 */
    for (int i = 0; i < 10; i++)
        assert_string_equal(ask(f, 120000 + i, "request=auth\nclient_address=192.0.2.7\nusername=carol\n"), "DUNNO");
    assert_int_equal(f->ev.batch.ops[0].peek.total, 3);
    assert_string_equal(ask(f, 4000, "request=auth\nclient_address=192.0.2.8\nusername=dave\n"), "DUNNO");
    /* ten minutes and a bucket later: alice and bob are gone, carol was seen again at 2 min */
    assert_string_equal(ask(f, 1000 + 600000 + 60000, "request=auth\nclient_address=192.0.2.7\nusername=dave\n"),
                        "DUNNO");
    assert_int_equal(f->ev.batch.ops[0].peek.total, 2);
    teardown(f);
}

/* credential stuffing: one login from many addresses; recipients per sender by domain (derived) */
static void test_stuffing_and_derived(void **st)
{
    (void)st;
    fixture *f = setup("  { name = \"stuff\"; on = \"auth\"; limit = { key = \"username\"; distinct = \"client_address\"; count = 2; per = \"1h\"; }; },\n"
                       "  { name = \"doms\"; on = \"smtp:RCPT\"; limit = { key = \"sender\"; distinct = \"recipient_domain\"; count = 2; per = \"1h\"; };\n"
                       "    action = \"DEFER_IF_PERMIT too many domains\"; }\n");
    assert_string_equal(ask(f, 1, "request=auth\nclient_address=192.0.2.1\nusername=joe\n"), "DUNNO");
    assert_string_equal(ask(f, 2, "request=auth\nclient_address=198.51.100.1\nusername=joe\n"), "DUNNO");
    assert_string_equal(ask(f, 3, "request=auth\nclient_address=203.0.113.1\nusername=joe\n"),
                        "REJECT Rate limit exceeded, try again in 3960 seconds");
    assert_string_equal(ask(f, 4, "request=auth\nclient_address=203.0.113.1\nusername=ann\n"), "DUNNO");
    const char *rcpt = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nsender=s@x.org\nrecipient=%s\n";
    char q[256];
    static const char *const r[] = {"a@one.example", "b@one.example", "c@TWO.example", "d@two.example", "e@three.example"};
    static const char *const want[] = {"DUNNO", "DUNNO", "DUNNO", "DUNNO", "DEFER_IF_PERMIT too many domains"};
    for (int i = 0; i < 5; i++) {
        snprintf(q, sizeof q, rcpt, r[i]);
        assert_string_equal(ask(f, 10 + i, q), want[i]);
    }
    teardown(f);
}

/* a refused request is counted nowhere: a distinct limit after a full one adds no value, and the value
 * refused by a distinct limit does not count in the windows of the rules before it */
static void test_refused_counts_nothing(void **st)
{
    (void)st;
    fixture *f = setup("  { name = \"per-ip\"; on = \"auth\"; limit = { key = \"client_address\"; count = 100; per = \"1h\"; }; },\n" SPRAY);
    char q[256];
    for (int i = 0; i < 6; i++) {
        snprintf(q, sizeof q, "request=auth\nclient_address=192.0.2.7\nusername=u%d\n", i);
        ask(f, 1000 + i, q);
    }
    /* three admitted, three refused: the per-ip window counted only the three */
    assert_string_equal(ask(f, 2000, "request=auth\nclient_address=192.0.2.7\nusername=u0\n"), "DUNNO");
    assert_int_equal(f->ev.batch.ops[0].peek.total, 4);
    teardown(f);
}

/* dry-run: a distinct rule that would refuse is not counted and decides nothing */
static void test_dry_run(void **st)
{
    (void)st;
    fixture *f = setup("  { name = \"spray\"; on = \"auth\"; dry_run = true; limit = { key = \"client_address\"; distinct = \"username\"; count = 1; per = \"10m\"; }; }\n");
    assert_string_equal(ask(f, 1, "request=auth\nclient_address=192.0.2.7\nusername=a\n"), "DUNNO");
    assert_string_equal(ask(f, 2, "request=auth\nclient_address=192.0.2.7\nusername=b\n"), "DUNNO");
    assert_int_equal(f->conf->rules->rules[0].dry_would, 1);
    assert_string_equal(ask(f, 3, "request=auth\nclient_address=192.0.2.7\nusername=a\n"), "DUNNO");
    assert_int_equal(f->conf->rules->rules[0].dry_would, 1);
    teardown(f);
}

/* the fingerprint: stable, typed, keyed */
static void test_fingerprint(void **st)
{
    (void)st;
    fixture *f = setup(SPRAY);
    const rule *r = &f->conf->rules->rules[0];
    char b1[256], b2[256];
    fg_request q1, q2;
    make_req(b1, sizeof b1, "request=auth\nclient_address=192.0.2.7\nusername=Alice\n", &q1);
    make_req(b2, sizeof b2, "request=auth\nclient_address=192.0.2.8\nusername=alice\n", &q2);
    uint64_t a = engine_distinct_fp(&f->eng, r, &q1);
    assert_true(a == engine_distinct_fp(&f->eng, r, &q2)); /* case folded, the key part does not matter */
    f->eng.distinct_key[0] = 1;
    f->eng.distinct_keyed = 1;
    assert_true(a != engine_distinct_fp(&f->eng, r, &q1));
    teardown(f);
}

/* the memo of fingerprints gives what BLAKE2b gives: values long and short, many more than its slots (so they
 * take each other's), repeated in any order, and under a key set after it filled */
static void test_fingerprint_memo(void **st)
{
    (void)st;
    fixture *f = setup(SPRAY);
    const rule *r = &f->conf->rules->rules[0];
    char text[512], buf[512];
    fg_request q;
    uint64_t seed = 7;

    for (int round = 0; round < 3; round++) {
        if (round == 1) { /* a key set later: nothing made under the first may come back */
            f->eng.distinct_key[5] = 9;
            f->eng.distinct_keyed = 1;
        }
        if (round == 2)
            f->eng.distinct_key[31] ^= 1;
        for (int i = 0; i < 4000; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned v = (unsigned)(seed >> 33) % 300, len = v % 3 ? 1 + v % 40 : 40 + v % 100;
            char name[160];
            for (unsigned j = 0; j < len; j++)
                name[j] = (char)('a' + (v + j * 7) % 26);
            name[len] = '\0';
            snprintf(text, sizeof text, "request=auth\nclient_address=192.0.2.7\nusername=%s\n", name);
            make_req(buf, sizeof buf, text, &q);
            engine *fresh = malloc(sizeof *fresh); /* the same engine with nothing remembered */
            memcpy(fresh, &f->eng, sizeof *fresh);
            memset(fresh->memo, 0, sizeof fresh->memo);
            fresh->memo_keyed = -1;
            uint64_t want = engine_distinct_fp(fresh, r, &q);
            free(fresh);
            if (engine_distinct_fp(&f->eng, r, &q) != want)
                fail_msg("round %d, value %s: the memo's fingerprint is not BLAKE2b's", round, name);
        }
    }
    teardown(f);
}

/* 1,000,000 different usernames from one address: one key, its memory bounded by the exact limit (limit
 * 5) or by the HLL (limit 1000) whatever is sent; the estimate stays near the limit */
static void test_hostile_values(void **st)
{
    (void)st;
    fixture *f = setup("  { name = \"few\"; on = \"auth\"; dry_run = true; limit = { key = \"client_address\"; distinct = \"username\"; count = 5; per = \"10m\"; }; },\n"
                       "  { name = \"many\"; on = \"auth\"; dry_run = true; limit = { key = \"client_address\"; distinct = \"username\"; count = 1000; per = \"10m\"; }; }\n");
    char q[256];
    mem_store *m = mem_store_table(f->store);
    size_t base = 0;
    for (unsigned i = 0; i < 1000000; i++) {
        snprintf(q, sizeof q, "request=auth\nclient_address=192.0.2.7\nusername=user%u@example.org\n", i);
        assert_string_equal(ask(f, 1000 + i / 100, q), "DUNNO"); /* both dry-run: they only count */
        if (i == 2000)
            base = fg_alloc_used();
    }
    assert_int_equal(f->conf->rules->rules[0].dry_would, 1000000 - 5);
    assert_int_equal(mem_count(m), 2); /* one key per rule */
    assert_true(fg_alloc_used() <= base + 1024); /* nothing grew after the first 2,000 values */
    /* the dry-run rule went on counting only until its estimate reached 1000 (within its error) */
    ask(f, 1000 + 10000, "request=auth\nclient_address=192.0.2.7\nusername=probe\n");
    uint64_t est = f->ev.batch.ops[1].peek.total;
    print_message("1,000,000 hostile values: few = %llu, many ~ %llu (limit 1000), %zu bytes held\n",
                  (unsigned long long)f->ev.batch.ops[0].peek.total, (unsigned long long)est, fg_alloc_used());
    assert_true(est >= 900 && est <= 1100);
    teardown(f);
}

/* the flat state: exact retry, HLL switch and its size, an edited rule reads as empty */
static void test_flat_state(void **st)
{
    (void)st;
    window_spec w = {10000, 2, 10};
    unsigned char buf[DISTINCT_STATE_MAX], tmp[DISTINCT_STATE_MAX];
    size_t len = 0;
    window_peek pk;
    int seen;
    for (uint64_t i = 0; i < 3; i++) {
        size_t need = distinct_add_size(&w, len ? buf : NULL, len, 100 + i, i * 3000);
        memcpy(tmp, buf, len);
        distinct_add(&w, len ? tmp : NULL, len, 100 + i, i * 3000, buf, need);
        len = need;
    }
    /* values at 0 s, 3 s, 6 s; at 7 s the window holds 3 (over the limit 2) */
    assert_int_equal(distinct_check(&w, buf, len, 999, 7000, &pk, &seen), 0);
    assert_int_equal(pk.total, 3);
    /* two must leave for a new one: the one of 3 s leaves at 14 s (bucket 3 + k + 1) */
    assert_int_equal(pk.retry_ms, 14000 - 7000);
    assert_int_equal(distinct_check(&w, buf, len, 101, 7000, &pk, &seen), 1);
    assert_true(seen);
    window_spec edited = {20000, 2, 10};
    assert_int_equal(distinct_check(&edited, buf, len, 999, 7000, &pk, &seen), 1);
    assert_int_equal(pk.total, 0);
    /* HLL past 64 values, its size fixed; the retry comes from the cache the second time */
    w.count = 100;
    for (uint64_t i = 0; i < 3000; i++) {
        size_t need = distinct_add_size(&w, buf, len, mix(i), 8000);
        memcpy(tmp, buf, len);
        distinct_add(&w, tmp, len, mix(i), 8000, buf, need);
        len = need;
    }
    assert_int_equal(len, DISTINCT_HDR + 11 * DISTINCT_HLL_M);
    assert_false(distinct_is_exact(buf, len));
    window_peek p1, p2;
    int a1 = distinct_check(&w, buf, len, 1, 8000, &p1, &seen);
    assert_int_equal(a1, seen);
    int a2 = distinct_check(&w, buf, len, 1, 8000, &p2, &seen);
    assert_int_equal(a2, seen);
    assert_true(p1.total > 2700 && p1.total < 3300);
    assert_int_equal(p1.total, p2.total);
    assert_int_equal(p1.retry_ms, p2.retry_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_file),
        cmocka_unit_test(test_spray),
        cmocka_unit_test(test_stuffing_and_derived),
        cmocka_unit_test(test_refused_counts_nothing),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_fingerprint_memo),
        cmocka_unit_test(test_flat_state),
        cmocka_unit_test(test_hostile_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
