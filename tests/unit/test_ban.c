/*
 * test_ban - the ban index: networks of several prefix lengths at once, expiry with an injected clock,
 * replace, remove, history, usernames, listeners, and 1,000,000 bans
 */
#include "testutil.h"

#include "addr.h"
#include "ban.h"

#define T0 1700000000ULL /* wall seconds */

/* key - a parsed ban key (static buffer) */
static const ban_rec *key(const char *text)
{
    static ban_rec r;
    const char *why = NULL;

    assert_int_equal(ban_parse(text, &r, &why), 0);
    return &r;
}

/* ban - ban text until expires (0: for ever) with this reason */
static int ban(struct ban_index *bi, const char *text, uint64_t since, uint64_t expires, const char *reason)
{
    ban_rec r = *key(text);

    r.since = since;
    r.expires = expires;
    r.reason = reason;
    r.rule = "test";
    r.times = 1;
    return ban_add(bi, &r);
}

/* match - the text of the ban holding this address at now, or "-" */
static const char *match(struct ban_index *bi, const char *ip, uint64_t now)
{
    fg_addr a;
    const ban_rec *r;

    assert_int_equal(addr_parse(ip, strlen(ip), &a), 0);
    r = ban_match(bi, &a, now);
    return r ? r->net : "-";
}

/* several prefix lengths of both families at once; the most specific ban answers */
static void prefixes(void **st)
{
    struct ban_index *bi = ban_index_new();
    static const struct {
        const char *label, *ip, *want;
    } cases[] = {
        {"v4 /32", "192.0.2.7", "192.0.2.7"},
        {"v4 in /24 only", "192.0.2.8", "192.0.2.0/24"},
        {"v4 in /16 only", "192.0.3.1", "192.0.0.0/16"},
        {"v4 outside", "198.51.100.1", "-"},
        {"v4-mapped v6 client, /32", "::ffff:192.0.2.7", "192.0.2.7"},
        {"v4-mapped v6 client, /24", "::ffff:192.0.2.200", "192.0.2.0/24"},
        {"v6 /128", "2001:db8:1::1", "2001:db8:1::1"},
        {"v6 in /64", "2001:db8:1::2", "2001:db8:1::/64"},
        {"v6 in /48", "2001:db8:1:2::9", "2001:db8:1::/48"},
        {"v6 outside", "2001:db8:2::1", "-"},
        {"v6 compressed form", "2001:0db8:0001:0000:0000:0000:0000:0001", "2001:db8:1::1"},
    };
    (void)st;

    assert_int_equal(ban(bi, "192.0.2.7", T0, 0, "one"), 0);
    assert_int_equal(ban(bi, "192.0.2.99/24", T0, 0, "net"), 0); /* masked on parse */
    assert_int_equal(ban(bi, "192.0.0.0/16", T0, 0, "wide"), 0);
    assert_int_equal(ban(bi, "2001:db8:1::1", T0, 0, NULL), 0);
    assert_int_equal(ban(bi, "2001:db8:1::/64", T0, 0, NULL), 0);
    assert_int_equal(ban(bi, "2001:db8:1::/48", T0, 0, NULL), 0);
    assert_int_equal(ban_count(bi), 6);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = match(bi, cases[i].ip, T0 + 1);
        if (strcmp(got, cases[i].want))
            fail_msg("%s: %s matched %s, want %s", cases[i].label, cases[i].ip, got, cases[i].want);
    }
    /* a v4-mapped address handed over raw (as a socket gives it), not through addr_parse */
    fg_addr raw = {.family = 6, .bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7}};
    assert_string_equal(ban_match(bi, &raw, T0)->net, "192.0.2.7");
    /* the reason travels; an exact find does not look at networks */
    assert_string_equal(ban_match(bi, &raw, T0)->reason, "one");
    assert_null(ban_find(bi, key("192.0.2.8"), T0));
    assert_string_equal(ban_find(bi, key("192.0.2.0/24"), T0)->reason, "net");
    ban_index_free(bi);
}

/* a match costs one lookup per prefix length in use, however many bans */
static void lookups_per_prefix(void **st)
{
    struct ban_index *bi = ban_index_new();
    fg_addr a;
    uint64_t before;
    (void)st;

    ban(bi, "192.0.2.7", T0, 0, NULL);
    ban(bi, "192.0.2.0/24", T0, 0, NULL);
    ban(bi, "10.0.0.0/16", T0, 0, NULL);
    ban(bi, "2001:db8::/64", T0, 0, NULL);
    addr_parse("203.0.113.1", 11, &a);
    before = ban_match_lookups(bi);
    assert_null(ban_match(bi, &a, T0));
    assert_int_equal(ban_match_lookups(bi) - before, 3); /* /32, /24, /16; the v6 table is not asked */
    /* a hit at the longest prefix stops there */
    addr_parse("192.0.2.7", 9, &a);
    before = ban_match_lookups(bi);
    assert_non_null(ban_match(bi, &a, T0));
    assert_int_equal(ban_match_lookups(bi) - before, 1);
    /* a prefix length whose last ban goes is not asked any more */
    assert_int_equal(ban_remove(bi, key("10.0.0.0/16")), 0);
    addr_parse("203.0.113.1", 11, &a);
    before = ban_match_lookups(bi);
    assert_null(ban_match(bi, &a, T0));
    assert_int_equal(ban_match_lookups(bi) - before, 2);
    ban_index_free(bi);
}

typedef struct heard {
    int change[16];
    char net[16][BAN_NET_TEXT_MAX];
    char reason[16][32];
    unsigned n;
} heard;

/* listen - a change listener that writes down what it hears */
static void listen_fn(int change, const ban_rec *r, void *arg)
{
    heard *h = arg;

    if (h->n < 16) {
        h->change[h->n] = change;
        snprintf(h->net[h->n], sizeof h->net[0], "%s", r->net);
        snprintf(h->reason[h->n], sizeof h->reason[0], "%s", r->reason ? r->reason : "");
    }
    h->n++;
}

/* expiry with the injected clock, and the listeners told of each */
static void expiry(void **st)
{
    struct ban_index *bi = ban_index_new();
    heard h = {0}, h2 = {0};
    (void)st;

    assert_int_equal(ban_on_change(bi, listen_fn, &h), 0);
    assert_int_equal(ban_on_change(bi, listen_fn, &h2), 0);
    ban(bi, "192.0.2.1", T0, T0 + 60, "a");
    ban(bi, "192.0.2.2", T0, T0 + 30, "b");
    ban(bi, "2001:db8::/64", T0, T0 + 90, "c");
    ban(bi, "198.51.100.0/24", T0, 0, "forever");
    assert_int_equal(h.n, 4);
    assert_int_equal(h.change[0], BAN_ADDED);
    /* in force until the second before expiry; out of force at it, even before ban_expire runs */
    assert_string_equal(match(bi, "192.0.2.2", T0 + 29), "192.0.2.2");
    assert_string_equal(match(bi, "192.0.2.2", T0 + 30), "-");
    assert_int_equal(ban_expire(bi, T0 + 29), 0);
    assert_int_equal(ban_expire(bi, T0 + 30), 1);
    assert_int_equal(h.change[4], BAN_EXPIRED);
    assert_string_equal(h.net[4], "192.0.2.2");
    assert_int_equal(ban_count(bi), 3);
    /* the earliest goes first, whatever the order they were made in */
    assert_int_equal(ban_expire(bi, T0 + 1000000), 2);
    assert_string_equal(h.net[5], "192.0.2.1");
    assert_string_equal(h.net[6], "2001:db8::/64");
    assert_int_equal(h2.n, 7);
    /* for ever stays */
    assert_int_equal(ban_count(bi), 1);
    assert_string_equal(match(bi, "198.51.100.9", UINT64_MAX), "198.51.100.0/24");
    ban_on_change_remove(bi, listen_fn, &h2);
    assert_int_equal(ban_remove(bi, key("198.51.100.0/24")), 0);
    assert_int_equal(h.change[7], BAN_REMOVED);
    assert_string_equal(h.reason[7], "forever");
    assert_int_equal(h2.n, 7);
    assert_int_equal(ban_count(bi), 0);
    /* four listeners at most */
    assert_int_equal(ban_on_change(bi, listen_fn, &h2), 0);
    assert_int_equal(ban_on_change(bi, listen_fn, &h2), 0);
    assert_int_equal(ban_on_change(bi, listen_fn, &h2), 0);
    assert_int_equal(ban_on_change(bi, listen_fn, &h2), -1);
    ban_index_free(bi);
}

/* the same record again (a fleet resync hands every ban over again) is no change: no listener hears of it,
 * so no hook runs and no line is logged; a longer or shorter end, another reason or rule is one */
static void same_again(void **st)
{
    struct ban_index *bi = ban_index_new();
    heard h = {0};
    (void)st;

    ban_on_change(bi, listen_fn, &h);
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 60, "first"), 0);
    assert_int_equal(ban(bi, "2001:db8::/64", T0, 0, NULL), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 60, "first"), 1);
    assert_int_equal(ban(bi, "2001:db8::/64", T0, 0, NULL), 1);
    assert_int_equal(h.n, 2);
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 600, "first"), 1); /* longer */
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 30, "first"), 1);  /* shorter */
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 30, "other"), 1);  /* another reason */
    assert_int_equal(ban(bi, "2001:db8::/64", T0, 0, ""), 1);        /* none is none (as the store keeps it) */
    assert_int_equal(h.n, 5);
    assert_int_equal(ban(bi, "2001:db8::/64", T0, 0, "scan"), 1);    /* a reason where there was none */
    assert_int_equal(h.n, 6);
    assert_int_equal(h.change[5], BAN_ADDED);
    ban_rec r = *key("192.0.2.1");
    r.since = T0;
    r.expires = T0 + 30;
    r.reason = "other";
    r.rule = "test";
    r.times = 2; /* banned once more by a rule */
    assert_int_equal(ban_add(bi, &r), 1);
    r.rule = NULL; /* by hand */
    assert_int_equal(ban_add(bi, &r), 1);
    assert_int_equal(h.n, 8);
    assert_int_equal(ban_add(bi, &r), 1);
    assert_int_equal(h.n, 8);
    /* the expiry still comes, and is told */
    assert_int_equal(ban_expire(bi, T0 + 30), 1);
    assert_int_equal(h.n, 9);
    assert_int_equal(h.change[8], BAN_EXPIRED);
    ban_index_free(bi);
}

/* a key banned again is replaced (new reason, new end), not added twice; remove of an unbanned key fails */
static void replace_and_remove(void **st)
{
    struct ban_index *bi = ban_index_new();
    heard h = {0};
    (void)st;

    ban_on_change(bi, listen_fn, &h);
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 60, "first"), 0);
    assert_int_equal(ban(bi, "192.0.2.1", T0 + 10, T0 + 600, "second"), 1);
    assert_int_equal(ban_count(bi), 1);
    assert_int_equal(h.change[1], BAN_ADDED);
    assert_string_equal(ban_find(bi, key("192.0.2.1"), T0 + 100)->reason, "second");
    assert_int_equal(ban_find(bi, key("192.0.2.1"), T0 + 100)->since, T0 + 10);
    assert_int_equal(ban_expire(bi, T0 + 100), 0); /* the old end is gone from the heap */
    /* shortened, then made for ever, then given an end again */
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 50, "short"), 1);
    assert_int_equal(ban(bi, "192.0.2.1", T0, 0, "ever"), 1);
    assert_int_equal(ban_expire(bi, UINT64_MAX), 0);
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 70, "again"), 1);
    assert_int_equal(ban_expire(bi, T0 + 70), 1);
    assert_int_equal(ban_count(bi), 0);
    /* remove */
    assert_int_equal(ban(bi, "2001:db8::/48", T0, T0 + 60, NULL), 0);
    assert_int_equal(ban_remove(bi, key("2001:db8::/64")), -1);  /* another key */
    assert_int_equal(ban_remove(bi, key("2001:db8::1")), -1);
    assert_int_equal(ban_remove(bi, key("2001:db8::5/48")), 0);  /* the same network, written unmasked */
    assert_int_equal(ban_remove(bi, key("2001:db8::/48")), -1);
    assert_string_equal(match(bi, "2001:db8::1", T0), "-");
    assert_int_equal(ban_expire(bi, T0 + 60), 0);                /* an unban leaves nothing in the heap */
    ban_index_free(bi);
}

/* restore_fn - copy one history entry into the index arg (NULL: only count) */
static void restore_fn(const ban_rec *r, void *arg)
{
    if (arg)
        assert_int_equal(ban_history_set(arg, r, r->times, r->since), 0);
}

/* history: the n-th ban within history_s, reset after it; walked and restored */
static void history(void **st)
{
    struct ban_index *bi = ban_index_new();
    const uint64_t H = 7 * 86400;
    ban_rec k = *key("192.0.2.0/24"), u;
    (void)st;

    assert_int_equal(ban_history_next(bi, &k, T0, H), 1);
    assert_int_equal(ban_history_next(bi, &k, T0 + 3600, H), 2);
    assert_int_equal(ban_history_next(bi, &k, T0 + 3600 + H, H), 3);     /* exactly history_s after: still */
    assert_int_equal(ban_history_next(bi, &k, T0 + 3601 + 2 * H, H), 1); /* more than history_s: reset */
    assert_int_equal(ban_history_next(bi, key("192.0.2.0/25"), T0, H), 1); /* another key */
    assert_int_equal(ban_user("Mallory", 7, &u), 0);
    assert_int_equal(ban_history_next(bi, &u, T0, H), 1);
    assert_int_equal(ban_user("mallory", 7, &u), 0);
    assert_int_equal(ban_history_next(bi, &u, T0 + 1, H), 2);
    /* the history is not a ban */
    assert_string_equal(match(bi, "192.0.2.1", T0), "-");
    assert_int_equal(ban_count(bi), 0);

    /* walk and restore into a new index: the counts go on from where they were */
    struct ban_index *b2 = ban_index_new();
    assert_int_equal(ban_history_foreach(bi, restore_fn, b2), 3);
    assert_int_equal(ban_history_next(b2, &k, T0 + 3602 + 2 * H, H), 2);
    assert_int_equal(ban_history_next(b2, &u, T0 + 2, H), 3);
    ban_index_free(b2);

    /* entries past the horizon are forgotten by ban_expire */
    assert_int_equal(ban_history_foreach(bi, restore_fn, NULL), 3);
    ban_expire(bi, T0 + 3601 + 3 * H + 1);
    assert_int_equal(ban_history_foreach(bi, restore_fn, NULL), 0);
    assert_int_equal(ban_history_next(bi, &k, T0 + 3601 + 3 * H + 2, H), 1);
    ban_index_free(bi);
}

/* username bans: their own table, any case, never matched by an address */
static void usernames(void **st)
{
    struct ban_index *bi = ban_index_new();
    ban_rec u;
    const char long_name[] = "joe@example.org-and-some-more-text-that-makes-it-longer-than-sixty-four";
    (void)st;

    assert_int_equal(ban_user("", 0, &u), -1);
    char big[300];
    memset(big, 'a', sizeof big);
    assert_int_equal(ban_user(big, 256, &u), -1);
    assert_int_equal(ban_user(big, 255, &u), 0);

    /* a name that is not NUL-terminated at len */
    assert_int_equal(ban_user("Joe@Example.org trailing", 15, &u), 0);
    u.since = T0;
    u.expires = T0 + 60;
    u.reason = "brute force";
    assert_int_equal(ban_add(bi, &u), 0);
    assert_non_null(ban_match_user(bi, "joe@example.org", 15, T0));
    assert_non_null(ban_match_user(bi, "JOE@EXAMPLE.ORG", 15, T0));
    assert_string_equal(ban_match_user(bi, "joe@example.org", 15, T0)->name, "joe@example.org");
    assert_string_equal(ban_match_user(bi, "joe@example.org", 15, T0)->reason, "brute force");
    assert_int_equal(ban_match_user(bi, "joe@example.org", 15, T0)->family, 0);
    assert_null(ban_match_user(bi, "joe@example.or", 14, T0));
    assert_null(ban_match_user(bi, "joe@example.org", 15, T0 + 60));
    assert_string_equal(match(bi, "192.0.2.1", T0), "-");

    /* the record's net holds a long name cut to fit; the name itself is whole */
    assert_int_equal(ban_user(long_name, strlen(long_name), &u), 0);
    assert_int_equal(ban_add(bi, &u), 0);
    const ban_rec *r = ban_match_user(bi, long_name, strlen(long_name), T0);
    assert_non_null(r);
    assert_int_equal(strlen(r->net), BAN_NET_TEXT_MAX - 1);
    assert_int_equal(r->namelen, strlen(long_name));
    assert_memory_equal(r->name, long_name, strlen(long_name));
    assert_int_equal(ban_count(bi), 2);
    assert_int_equal(ban_remove(bi, &u), 0);
    assert_int_equal(ban_expire(bi, T0 + 60), 1);
    assert_int_equal(ban_count(bi), 0);
    ban_index_free(bi);
}

/* count_fn - ban_foreach callback: counts the bans with a reason */
static void count_fn(const ban_rec *r, void *arg)
{
    (*(size_t *)arg) += r->reason != NULL;
}

/* foreach walks what is in force, of every table */
static void foreach_in_force(void **st)
{
    struct ban_index *bi = ban_index_new();
    ban_rec u;
    size_t n = 0;
    (void)st;

    ban(bi, "192.0.2.1", T0, T0 + 10, "a");
    ban(bi, "192.0.2.0/24", T0, 0, "b");
    ban(bi, "2001:db8::/64", T0, T0 + 100, "c");
    ban_user("eve", 3, &u);
    u.reason = "d";
    ban_add(bi, &u);
    assert_int_equal(ban_foreach(bi, T0, count_fn, &n), 4);
    assert_int_equal(n, 4);
    n = 0;
    assert_int_equal(ban_foreach(bi, T0 + 10, count_fn, &n), 3); /* expired, not yet dropped: not shown */
    ban_index_free(bi);
}

/* ip4 - the n-th address of 10.0.0.0/8 and up */
static void ip4(uint32_t n, char *out, size_t size)
{
    uint32_t v = 0x0a000000u + n;
    snprintf(out, size, "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255);
}

/* 1,000,000 bans: every lookup still answers right, at the same number of table lookups */
static void million(void **st)
{
    struct ban_index *bi = ban_index_new();
    const uint32_t N = 1000000;
    char ip[64];
    fg_addr a;
    ban_rec r;
    (void)st;

    ban(bi, "192.0.2.0/24", T0, 0, "net");
    ban(bi, "2001:db8::/64", T0, 0, "net6");
    memset(&r, 0, sizeof r);
    r.family = 4;
    r.prefix = 32;
    r.since = T0;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t v = 0x0a000000u + 2 * i; /* every other address: the odd ones are not banned */
        r.bytes[0] = (uint8_t)(v >> 24);
        r.bytes[1] = (uint8_t)(v >> 16);
        r.bytes[2] = (uint8_t)(v >> 8);
        r.bytes[3] = (uint8_t)v;
        r.expires = i % 2 ? T0 + 3600 + i : 0;
        assert_int_equal(ban_add(bi, &r), 0);
    }
    assert_int_equal(ban_count(bi), N + 2);
    uint64_t before = ban_match_lookups(bi);
    for (uint32_t i = 0; i < N; i += 997) {
        ip4(2 * i, ip, sizeof ip);
        assert_string_equal(match(bi, ip, T0), ip);
        ip4(2 * i + 1, ip, sizeof ip);
        assert_string_equal(match(bi, ip, T0), "-");
    }
    /* two prefix lengths in use for IPv4: at most two lookups a match */
    assert_true(ban_match_lookups(bi) - before <= 2 * 2 * (N / 997 + 1));
    assert_string_equal(match(bi, "192.0.2.77", T0), "192.0.2.0/24");
    assert_string_equal(match(bi, "2001:db8::77", T0), "2001:db8::/64");
    /* half of them expire, in order, in batches */
    size_t gone = 0, k;
    while ((k = ban_expire(bi, T0 + 3600 + N)) > 0)
        gone += k;
    assert_int_equal(gone, N / 2);
    assert_int_equal(ban_count(bi), N / 2 + 2);
    ip4(2 * 1, ip, sizeof ip);
    assert_string_equal(match(bi, ip, T0 + 3600 + N), "-");
    ip4(2 * 2, ip, sizeof ip);
    assert_string_equal(match(bi, ip, T0 + 3600 + N), ip);
    /* remove them all: the /32 table goes, and with it its lookup */
    for (uint32_t i = 0; i < N; i += 2) {
        uint32_t v = 0x0a000000u + 2 * i;
        r.bytes[0] = (uint8_t)(v >> 24);
        r.bytes[1] = (uint8_t)(v >> 16);
        r.bytes[2] = (uint8_t)(v >> 8);
        r.bytes[3] = (uint8_t)v;
        assert_int_equal(ban_remove(bi, &r), 0);
    }
    assert_int_equal(ban_count(bi), 2);
    addr_parse("10.0.0.0", 8, &a);
    before = ban_match_lookups(bi);
    assert_null(ban_match(bi, &a, T0));
    assert_int_equal(ban_match_lookups(bi) - before, 1);
    ban_index_free(bi);
}

/* ban_set_max: past the bound a new ban that ends before every ban held is refused, and a new history entry,
 * a key held is replaced, and room made by an unban takes a new key again; the refusals are counted */
static void bounded(void **st)
{
    struct ban_index *bi = ban_index_new();
    char text[64];
    ban_rec r;
    const char *why;
    (void)st;

    ban_set_max(bi, 3);
    for (int i = 1; i <= 5; i++) {
        snprintf(text, sizeof text, "2001:db8::%d", i);
        assert_int_equal(ban_parse(text, &r, &why), 0);
        r.since = T0;
        r.expires = i <= 3 ? T0 + 60 : T0 + 30;
        r.times = ban_history_next(bi, &r, T0, 86400);
        assert_int_equal(r.times, 1);
        assert_int_equal(ban_add(bi, &r), i <= 3 ? 0 : BAN_FULL);
    }
    assert_int_equal(ban_count(bi), 3);
    size_t with_reason = 0;
    assert_int_equal(ban_history_foreach(bi, count_fn, &with_reason), 3);
    assert_int_equal(ban_full_refused(bi), 4); /* two history entries, two bans */
    /* a key held: replaced, and its history goes on */
    assert_int_equal(ban_parse("2001:db8::2", &r, &why), 0);
    assert_int_equal(ban_history_next(bi, &r, T0 + 1, 86400), 2);
    r.expires = T0 + 120;
    assert_int_equal(ban_add(bi, &r), 1);
    /* a key not held gets no history: its ban is a first one */
    assert_int_equal(ban_parse("2001:db8::9", &r, &why), 0);
    assert_int_equal(ban_history_next(bi, &r, T0 + 2, 86400), 1);
    assert_int_equal(ban_history_next(bi, &r, T0 + 3, 86400), 1);
    assert_int_equal(ban_history_set(bi, &r, 4, T0), BAN_FULL);
    /* an unban makes room for a ban (the history stays full until its entries pass the horizon) */
    assert_int_equal(ban_parse("2001:db8::1", &r, &why), 0);
    assert_int_equal(ban_remove(bi, &r), 0);
    assert_int_equal(ban_parse("2001:db8::9", &r, &why), 0);
    r.since = T0;
    r.expires = T0 + 60;
    assert_int_equal(ban_add(bi, &r), 0);
    ban_rec u;
    assert_int_equal(ban_user("someone", 7, &u), 0);
    u.since = T0;
    u.expires = T0 + 30;
    assert_int_equal(ban_add(bi, &u), BAN_FULL);
    assert_int_equal(ban_evicted(bi), 0);
    /* no bound */
    ban_set_max(bi, 0);
    assert_int_equal(ban_add(bi, &u), 0);
    assert_int_equal(ban_count(bi), 4);
    ban_index_free(bi);
}

/* a full index (ban_set_max) makes room for a new ban by evicting the ban that ends soonest (told BAN_EVICTED,
 * counted), never a ban for ever while a ban with an end is held; a ban that would end before every ban held is
 * refused; when every ban is for ever, a new one for ever evicts the oldest. The heap the expiry uses finds the
 * ban: a re-ban moves its key in it. */
static void evicts(void **st)
{
    struct ban_index *bi = ban_index_new();
    heard h = {0};
    (void)st;

    ban_set_max(bi, 3);
    assert_int_equal(ban(bi, "192.0.2.1", T0, T0 + 300, "a"), 0);
    assert_int_equal(ban(bi, "192.0.2.2", T0, T0 + 100, "b"), 0);
    assert_int_equal(ban(bi, "192.0.2.3", T0, T0 + 200, "c"), 0);
    ban_on_change(bi, listen_fn, &h);
    assert_int_equal(ban(bi, "192.0.2.4", T0, T0 + 50, "d"), BAN_FULL);
    assert_int_equal(ban_full_refused(bi), 1);
    assert_int_equal(h.n, 0);

    assert_int_equal(ban(bi, "192.0.2.5", T0 + 1, T0 + 150, "e"), 0);
    assert_int_equal(h.n, 2);
    assert_int_equal(h.change[0], BAN_EVICTED);
    assert_string_equal(h.net[0], "192.0.2.2");
    assert_int_equal(h.change[1], BAN_ADDED);
    assert_string_equal(h.net[1], "192.0.2.5");
    assert_string_equal(match(bi, "192.0.2.2", T0 + 2), "-");
    assert_string_equal(match(bi, "192.0.2.5", T0 + 2), "192.0.2.5");
    assert_int_equal(ban_count(bi), 3);
    assert_int_equal(ban_evicted(bi), 1);

    /* bans for ever take the places of .5 (T0 + 150), .3 (T0 + 200), .1 (T0 + 300), in that order */
    assert_int_equal(ban(bi, "192.0.2.6", T0 + 2, 0, "f"), 0);
    assert_int_equal(ban(bi, "192.0.2.7", T0 + 3, 0, "g"), 0);
    assert_int_equal(ban(bi, "192.0.2.8", T0 + 4, 0, "h"), 0);
    assert_int_equal(h.n, 8);
    assert_string_equal(h.net[2], "192.0.2.5");
    assert_string_equal(h.net[4], "192.0.2.3");
    assert_string_equal(h.net[6], "192.0.2.1");
    /* every ban is for ever: one with an end ends before all of them, refused; one for ever evicts the oldest */
    assert_int_equal(ban(bi, "192.0.2.9", T0 + 5, T0 + 1000000, "i"), BAN_FULL);
    assert_int_equal(ban(bi, "192.0.2.10", T0 + 6, 0, "j"), 0);
    assert_int_equal(h.change[8], BAN_EVICTED);
    assert_string_equal(h.net[8], "192.0.2.6");
    assert_int_equal(ban_evicted(bi), 5);
    assert_int_equal(ban_full_refused(bi), 2);
    assert_int_equal(ban_expire(bi, T0 + 1000000), 0);

    /* a key held is replaced, never a reason to evict; with an end now, it is the first to go */
    assert_int_equal(ban(bi, "192.0.2.8", T0 + 7, T0 + 20, "h2"), 1);
    assert_int_equal(ban_evicted(bi), 5);
    assert_int_equal(ban(bi, "192.0.2.11", T0 + 8, T0 + 30, "k"), 0);
    assert_string_equal(match(bi, "192.0.2.8", T0 + 9), "-");
    assert_string_equal(match(bi, "192.0.2.7", T0 + 9), "192.0.2.7");
    assert_int_equal(ban_evicted(bi), 6);
    /* and the expiry still drops what is due, and only that */
    assert_int_equal(ban_expire(bi, T0 + 30), 1);
    assert_int_equal(ban_count(bi), 2);
    ban_index_free(bi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prefixes),
        cmocka_unit_test(lookups_per_prefix),
        cmocka_unit_test(expiry),
        cmocka_unit_test(replace_and_remove),
        cmocka_unit_test(same_again),
        cmocka_unit_test(history),
        cmocka_unit_test(usernames),
        cmocka_unit_test(foreach_in_force),
        cmocka_unit_test(million),
        cmocka_unit_test(bounded),
        cmocka_unit_test(evicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
