/*
 * test_redis_script - the hashes that place keys (CRC16 slots, FNV-1a
 * tags), script arguments and replies, and Redis URLs
 */
#include "testutil.h"

#include <limits.h>

#include "rconn.h"
#include "redis_script.h"

/* le64 - 8 bytes, little-endian, as a signed number */
static long long le64(const char *p)
{
    unsigned long long v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | (unsigned char)p[i];
    return (long long)v;
}

/* CRC16 and slots: Redis Cluster's own reference values (cluster spec, redis-cli CLUSTER KEYSLOT) */
static void test_crc16_and_slots(void **st)
{
    static const struct {
        const char *key;
        unsigned slot;
    } cases[] = {
        {"123456789", 12739},
        {"foo", 12182},
        {"bar", 5061},
        {"{user1000}.following", 3443}, /* the tag decides: CLUSTER KEYSLOT user1000 */
        {"{user1000}.followers", 3443},
        {"user1000", 3443},
        {"foo{}{bar}", 8363},           /* an empty first tag: the whole key is hashed */
        {"foo{{bar}}zap", 4015},        /* the tag is "{bar" */
        {"foo{bar}{zap}", 5061},        /* the first tag only: "bar" */
        {"", 0},
    };
    (void)st;
    assert_int_equal(redis_crc16("123456789", 9), 0x31C3);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned got = redis_slot(cases[i].key, strlen(cases[i].key));
        if (got != cases[i].slot)
            fail_msg("slot of \"%s\": %u, want %u", cases[i].key, got, cases[i].slot);
    }
}

/* FNV-1a 64 reference values, and the tag that carries it */
static void test_fnv_and_tag(void **st)
{
    char tag[REDIS_TAG_LEN + 1];
    (void)st;
    assert_true(redis_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    assert_true(redis_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(redis_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
    redis_tag(0x85944171f73967e8ULL, tag);
    tag[REDIS_TAG_LEN] = '\0';
    assert_string_equal(tag, "{85944171f73967e8}");
    /* a key's slot is the slot of its tag, whatever bytes (braces too) follow */
    char name[64];
    memcpy(name, tag, REDIS_TAG_LEN);
    memcpy(name + REDIS_TAG_LEN, "\x02{x}\x00z", 6);
    assert_int_equal(redis_slot(name, REDIS_TAG_LEN + 6), redis_slot("85944171f73967e8", 16));
}

/* a greylist step's two keys share their client key's tag, hence one slot and one shard */
static void test_greylist_keys_share_a_slot(void **st)
{
    store_batch b = {0};
    redis_args a = {0};
    uint32_t idx[2] = {0, 1};
    (void)st;

    batch_reset(&b, 1000);
    store_op *op = batch_add(&b, STORE_GREYLIST, (const unsigned char *)"triplet-key", 11);
    batch_add_key2(&b, op, (const unsigned char *)"client-key", 10);
    op->grey.delay_ms = 300000;
    batch_add(&b, STORE_WINDOW, (const unsigned char *)"win", 3)->win = (window_spec){60000, 5, 10};
    redis_args_script(&a, "EVALSHA", "0123456789012345678901234567890123456789", &b, idx, 2, NULL, NULL, 0, 1);
    /* EVALSHA sha 3 k1 k2 k3 now commit n, then the operations' numbers in one argument */
    assert_int_equal(a.argc, 3 + 3 + 3 + 1);
    assert_memory_equal(a.argv[2], "3", 1);
    assert_int_equal(a.lens[3], REDIS_TAG_LEN + 11);
    assert_int_equal(redis_slot(a.argv[3], a.lens[3]), redis_slot(a.argv[4], a.lens[4]));
    assert_memory_equal(a.argv[3], a.argv[4], REDIS_TAG_LEN);
    char want[REDIS_TAG_LEN];
    redis_tag(redis_fnv1a64("client-key", 10), want);
    assert_memory_equal(a.argv[3], want, REDIS_TAG_LEN);
    assert_memory_equal(a.argv[3] + REDIS_TAG_LEN, "triplet-key", 11);
    assert_int_equal(a.lens[9], 8 + 2 * REDIS_OP_BYTES);
    assert_int_equal(le64(a.argv[9]), 1);                   /* a greylist step: not only one-window ops */
    assert_int_equal(le64(a.argv[9] + 8), STORE_GREYLIST);
    assert_int_equal(le64(a.argv[9] + 16), 300000);         /* its delay */
    assert_int_equal(le64(a.argv[9] + 8 + REDIS_OP_BYTES), STORE_WINDOW);
    assert_int_equal(le64(a.argv[9] + 16 + REDIS_OP_BYTES), 60000); /* per */
    assert_int_equal(le64(a.argv[9] + 24 + REDIS_OP_BYTES), 5);     /* count */
    assert_int_equal(le64(a.argv[9] + 32 + REDIS_OP_BYTES), 10);    /* k */
    redis_args_release(&a);
    batch_release(&b);
}

/* a part of one-window operations only (checks, peeks, dry-run, deletes, compensations) tells the script so:
 * it then makes none of the other operations' functions; one several-window operation changes that */
static void test_one_window_parts(void **st)
{
    store_batch b = {0};
    redis_args a = {0};
    uint32_t idx[4] = {0, 1, 2, 3};
    uint8_t types[4] = {STORE_WINDOW, STORE_PEEK, STORE_DEL, STORE_UNDO};
    int64_t bucket[4] = {0, 0, 0, 85000002};
    (void)st;

    batch_reset(&b, 1000);
    for (int i = 0; i < 4; i++)
        batch_add(&b, types[i], (const unsigned char *)"w", 1)->win = (window_spec){60000, 5, 3};
    b.ops[1].flags = STORE_DRY;
    redis_args_script(&a, "EVALSHA", "0123456789012345678901234567890123456789", &b, idx, 4, types, bucket, 0, 1);
    assert_int_equal(a.argc, 3 + 4 + 3 + 1);
    assert_int_equal(a.lens[10], 8 + 4 * REDIS_OP_BYTES);
    assert_int_equal(le64(a.argv[10]), 0);
    assert_int_equal(le64(a.argv[10] + 8 + 3 * REDIS_OP_BYTES + 32), 85000002); /* the compensation's bucket */
    assert_int_equal(le64(a.argv[10] + 8 + REDIS_OP_BYTES + 40), 16);           /* dry-run */
    b.ops[0].nwin = 2;
    b.ops[0].wins[0] = (window_spec){60000, 5, 3};
    b.ops[0].wins[1] = (window_spec){3600000, 50, 6};
    redis_args_script(&a, "EVALSHA", "0123456789012345678901234567890123456789", &b, idx, 4, types, bucket, 0, 1);
    assert_int_equal(le64(a.argv[10]), 1);
    assert_int_equal(a.argc, 3 + 4 + 3 + 1 + 3); /* and its second window's per, count, k */
    redis_args_release(&a);
    batch_release(&b);
}

/* the numbers a script call carries: INCR's amount in decimal at the ends of its range */
static void test_numbers_in_args(void **st)
{
    static const long long nums[] = {0, 7, -5, 1234567890123LL, LLONG_MAX, LLONG_MIN};
    static const char *const want[] = {"0", "7", "-5", "1234567890123", "9223372036854775807",
                                       "-9223372036854775808"};
    store_batch b = {0};
    redis_args a = {0};
    uint32_t idx[6] = {0, 1, 2, 3, 4, 5};
    (void)st;

    batch_reset(&b, 1000);
    for (int i = 0; i < 6; i++) {
        store_op *op = batch_add(&b, STORE_KV_INCR, (const unsigned char *)"n", 1);
        batch_add_key2(&b, op, (const unsigned char *)"", 0);
        op->num = nums[i];
    }
    redis_args_script(&a, "EVALSHA", "0123456789012345678901234567890123456789", &b, idx, 6, NULL, NULL, 0, 1);
    /* EVALSHA sha 6 k1..k6 now commit n ops, then per op its value and its amount in decimal */
    for (int i = 0; i < 6; i++) {
        size_t at = 13 + 2 * (size_t)i;
        assert_int_equal(le64(a.argv[12] + 8 + REDIS_OP_BYTES * (size_t)i), STORE_KV_INCR);
        assert_int_equal(a.lens[at], 0);
        assert_int_equal(a.lens[at + 1], strlen(want[i]));
        assert_memory_equal(a.argv[at + 1], want[i], strlen(want[i]));
    }
    redis_args_release(&a);
    batch_release(&b);
}

/* ARGV[1] is now and the call's deadline, two "<i8": one part's deadline, the earliest of several parts' (a part
 * with none, 0, does not count), 0 when no part has one */
static void test_deadline_in_args(void **st)
{
    static const struct {
        uint64_t now, deadline[3];
        size_t np;
        long long want;
    } cases[] = {
        {1000, {1500, 0, 0}, 1, 1500},
        {0, {0, 0, 0}, 1, 0},
        {1000, {1500, 1300, 1700}, 3, 1300},
        {1000, {0, 1700, 1600}, 3, 1600},
        {1000, {0, 0, 0}, 3, 0},
        {0, {1733000000000ULL, 0, 0}, 2, 1733000000000LL},
    };
    store_batch b[3];
    redis_args a = {0};
    uint32_t idx[1] = {0};
    (void)st;

    memset(b, 0, sizeof b);
    for (int k = 0; k < 3; k++) {
        batch_reset(&b[k], 1000);
        batch_add(&b[k], STORE_WINDOW, (const unsigned char *)"w", 1)->win = (window_spec){60000, 5, 10};
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        redis_part p[3];
        for (size_t k = 0; k < cases[i].np; k++)
            p[k] = (redis_part){&b[k], idx, 1, NULL, NULL, 1, NULL, cases[i].deadline[k]};
        redis_args_parts(&a, "EVALSHA", "0123456789012345678901234567890123456789", p, cases[i].np, cases[i].now);
        /* EVALSHA sha nkeys k1..kn, then ARGV[1] */
        size_t at = 3 + cases[i].np;
        assert_int_equal(a.lens[at], 16);
        assert_int_equal(le64(a.argv[at]), (long long)cases[i].now);
        assert_int_equal(le64(a.argv[at] + 8), cases[i].want);
    }
    redis_args_release(&a);
    for (int k = 0; k < 3; k++)
        batch_release(&b[k]);
}

/* a reply of another shape fails the batch instead of being read */
static void test_reply_shapes(void **st)
{
    store_batch b = {0};
    uint32_t idx[1] = {0};
    int64_t bucket[1];
    long denied = 7;
    redisReply e[7], *ep[7], r = {.type = REDIS_REPLY_ARRAY, .elements = 7, .element = ep};
    long long vals[7] = {0, 123, 0, 5, 999, 0, 42};
    (void)st;

    batch_reset(&b, 1000);
    batch_add(&b, STORE_WINDOW, (const unsigned char *)"k", 1);
    for (int i = 0; i < 7; i++) {
        e[i] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = vals[i]};
        ep[i] = &e[i];
    }
    assert_int_equal(redis_reply_apply(&r, &b, idx, 1, bucket, &denied), 0);
    assert_int_equal(denied, 0);
    assert_int_equal(b.ops[0].admitted, 0);
    assert_int_equal(b.ops[0].peek.total, 5);
    assert_int_equal(b.ops[0].peek.retry_ms, 999);
    assert_int_equal(bucket[0], 42);
    e[0].integer = 1; /* a refusal index past the operations */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 1, bucket, &denied), -1);
    e[0].integer = -1;
    r.elements = 6;
    assert_int_equal(redis_reply_apply(&r, &b, idx, 1, bucket, &denied), -1);
    r.elements = 7;
    e[3].type = REDIS_REPLY_STRING;
    assert_int_equal(redis_reply_apply(&r, &b, idx, 1, bucket, &denied), -1);
    redisReply err = {.type = REDIS_REPLY_ERROR};
    assert_int_equal(redis_reply_apply(&err, &b, idx, 1, bucket, &denied), -1);
    batch_release(&b);
}

/* put_le64 - v as a "<i8" of a packed reply */
static void put_le64(char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)((uint64_t)v >> (8 * i) & 0xff);
}

/* the packed reply (a call of one-window operations only): the same numbers, "<i8" each, read as the table */
static void test_reply_packed(void **st)
{
    store_batch b = {0};
    uint32_t idx[2] = {0, 1};
    int64_t bucket[2] = {5, 5};
    long denied = 7;
    long long vals[12] = {-1, 123, 1, 9, 0, 0, 4000000, 0, 3, 0, 0, -1};
    char buf[12 * 8];
    redisReply r = {.type = REDIS_REPLY_STRING, .str = buf, .len = sizeof buf};
    (void)st;

    batch_reset(&b, 1000);
    batch_add(&b, STORE_WINDOW, (const unsigned char *)"k", 1);
    batch_add(&b, STORE_PEEK, (const unsigned char *)"l", 1);
    for (int i = 0; i < 12; i++)
        put_le64(buf + 8 * i, vals[i]);
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), 0);
    assert_int_equal(denied, -1);
    assert_int_equal(b.ops[0].admitted, 1);
    assert_int_equal(b.ops[0].peek.total, 9);
    assert_int_equal(bucket[0], 4000000);
    assert_int_equal(b.ops[1].admitted, 0);
    assert_int_equal(b.ops[1].peek.total, 3);
    assert_int_equal(bucket[1], -1);
    put_le64(buf, 1); /* the second operation refused */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), 0);
    assert_int_equal(denied, 1);
    put_le64(buf, 2); /* a refusal index past the operations */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    put_le64(buf, -1);
    r.len = sizeof buf - 1; /* a length that is not 8 (2 + 5 n) */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    r.len = sizeof buf;
    b.ops[1].type = STORE_KV_GET; /* a kv operation's reply is the table: a string is another shape */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    batch_release(&b);
}

/* the fast form (a part of one-window counts, all admitted): -2, now, each total; the bucket is now's in each
 * operation's own window, which the daemon computes as the script does */
static void test_reply_fast(void **st)
{
    store_batch b = {0};
    uint32_t idx[2] = {0, 1};
    int64_t bucket[2] = {-1, -1};
    long denied = 7;
    char buf[4 * 8];
    redisReply r = {.type = REDIS_REPLY_STRING, .str = buf, .len = sizeof buf};
    (void)st;

    batch_reset(&b, 1000);
    b.commit = 1;
    batch_add(&b, STORE_WINDOW, (const unsigned char *)"k", 1)->win = (window_spec){3600000, 100, 10};
    batch_add(&b, STORE_WINDOW, (const unsigned char *)"l", 1)->win = (window_spec){7000, 3, 7};
    put_le64(buf, -2);
    put_le64(buf + 8, 1733000000123LL);
    put_le64(buf + 16, 41);
    put_le64(buf + 24, 2);
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), 1);
    assert_int_equal(denied, -1);
    assert_int_equal(b.ops[0].admitted, 1);
    assert_int_equal(b.ops[0].peek.total, 41);
    assert_int_equal(b.ops[0].peek.retry_ms, 0);
    assert_int_equal(b.ops[1].admitted, 1);
    assert_int_equal(b.ops[1].peek.total, 2);
    /* 1733000000123 ms: hour 481388, 3,200,123 ms in, its tenth 8; 7 s windows of 1 s buckets: second 1733000000 */
    assert_int_equal(bucket[0], 481388LL * 10 + 8);
    assert_int_equal(bucket[1], 1733000000LL);
    int64_t t;
    assert_int_equal(redis_reply_time(&r, &t), 0);
    assert_int_equal(t, 1733000000123LL);
    r.len = 3 * 8; /* one total short */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    r.len = sizeof buf;
    put_le64(buf + 8, -5); /* no time */
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    put_le64(buf + 8, 1733000000123LL);
    /* only the operations the fast path takes may have the short reply: not a batch that does not commit, nor
     * a peek, a dry run, a delete (whose window has no length: the bucket would divide by 0) or a greylist step */
    b.commit = 0;
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    b.commit = 1;
    static const uint8_t others[] = {STORE_PEEK, STORE_DEL, STORE_GREYLIST};
    for (size_t i = 0; i < sizeof others; i++) {
        b.ops[1].type = others[i];
        if (others[i] != STORE_PEEK)
            b.ops[1].win = (window_spec){0, 0, 0};
        assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    }
    b.ops[1].type = STORE_WINDOW;
    b.ops[1].flags = STORE_DRY;
    b.ops[1].win = (window_spec){7000, 3, 7};
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), -1);
    b.ops[1].flags = 0;
    assert_int_equal(redis_reply_apply(&r, &b, idx, 2, bucket, &denied), 1);
    batch_release(&b);
}

/* the time a reply says its script ran at (the daemon learns the server's clock from it, for the deadlines): the
 * second number of the table, of the packed reply, of a LATE error; none in other replies */
static void test_reply_time(void **st)
{
    redisReply e[2], *ep[2] = {&e[0], &e[1]}, r;
    char buf[16], late[] = "LATE 1733000000456 1733000000400", other[] = "ERR something";
    int64_t ms = 0;
    (void)st;

    e[0] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = -1};
    e[1] = (redisReply){.type = REDIS_REPLY_INTEGER, .integer = 1733000000123LL};
    r = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = 2, .element = ep};
    assert_int_equal(redis_reply_time(&r, &ms), 0);
    assert_int_equal(ms, 1733000000123LL);
    put_le64(buf, -1);
    put_le64(buf + 8, 1733000000789LL);
    r = (redisReply){.type = REDIS_REPLY_STRING, .str = buf, .len = sizeof buf};
    assert_int_equal(redis_reply_time(&r, &ms), 0);
    assert_int_equal(ms, 1733000000789LL);
    r = (redisReply){.type = REDIS_REPLY_ERROR, .str = late, .len = strlen(late)};
    assert_int_equal(redis_reply_time(&r, &ms), 0);
    assert_int_equal(ms, 1733000000456LL);
    r = (redisReply){.type = REDIS_REPLY_ERROR, .str = other, .len = strlen(other)};
    assert_int_equal(redis_reply_time(&r, &ms), -1);
    r = (redisReply){.type = REDIS_REPLY_STRING, .str = buf, .len = 15};
    assert_int_equal(redis_reply_time(&r, &ms), -1);
    e[1] = (redisReply){.type = REDIS_REPLY_STRING, .str = buf, .len = 1};
    r = (redisReply){.type = REDIS_REPLY_ARRAY, .elements = 2, .element = ep};
    assert_int_equal(redis_reply_time(&r, &ms), -1);
    r = (redisReply){.type = REDIS_REPLY_NIL};
    assert_int_equal(redis_reply_time(&r, &ms), -1);
}

/* URLs */
static void test_urls(void **st)
{
    static const struct {
        const char *url;
        int ok;
        const char *host, *user, *pass, *path;
        unsigned port, db;
    } cases[] = {
        {"redis://127.0.0.1:6379/0", 1, "127.0.0.1", "", "", "", 6379, 0},
        {"redis://10.0.0.1", 1, "10.0.0.1", "", "", "", 6379, 0},
        {"redis://cache.example:7000/3", 1, "cache.example", "", "", "", 7000, 3},
        {"redis://joe:s3cr:et@10.0.0.1:6380/2", 1, "10.0.0.1", "joe", "s3cr:et", "", 6380, 2},
        {"redis://:pw@10.0.0.1", 1, "10.0.0.1", "", "pw", "", 6379, 0},
        {"redis://u:p@ss@h:1", 1, "h", "u", "p@ss", "", 1, 0},
        {"redis://[::1]:6390/1", 1, "::1", "", "", "", 6390, 1},
        {"unix:/run/redis/redis.sock", 1, "", "", "", "/run/redis/redis.sock", 6379, 0},
        {"unix:/run/redis.sock?db=4", 1, "", "", "", "/run/redis.sock", 6379, 4},
        {"unix:///run/redis.sock", 1, "", "", "", "/run/redis.sock", 6379, 0},
        {"unix://alice:pw@/run/redis.sock?db=2", 1, "", "alice", "pw", "/run/redis.sock", 6379, 2},
        {"unix://Open-Sesame@/run/redis.sock", 1, "", "", "Open-Sesame", "/run/redis.sock", 6379, 0},
        {"unix://u:p@ss:w@/r.sock?db=1", 1, "", "u", "p@ss:w", "/r.sock", 6379, 1},
        {"unix://pw@run/redis.sock", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"unix:///r.sock?db=x", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"redis://10.0.0.1:0", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"redis://10.0.0.1:65536", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"redis://10.0.0.1:63x", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"redis://10.0.0.1/x", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"redis://", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"redis://[::1", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"rediss://10.0.0.1", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"http://10.0.0.1", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"unix:relative.sock", 0, NULL, NULL, NULL, NULL, 0, 0},
        {"unix:/x.sock?db=", 0, NULL, NULL, NULL, NULL, 0, 0},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rconn_url u;
        char err[256];
        int rc = rconn_url_parse(cases[i].url, &u, err, sizeof err);
        if ((rc == 0) != cases[i].ok)
            fail_msg("%s: %s", cases[i].url, rc ? err : "accepted");
        if (!cases[i].ok) {
            assert_non_null(strstr(err, cases[i].url));
            continue;
        }
        assert_string_equal(u.host, cases[i].host);
        assert_string_equal(u.user, cases[i].user);
        assert_string_equal(u.pass, cases[i].pass);
        assert_string_equal(u.path, cases[i].path);
        assert_int_equal(u.port, cases[i].port);
        assert_int_equal(u.db, cases[i].db);
    }
}

/* A URL that does not parse is named in the message without its password (it goes to the log and to floodgated
 * -t's output): the user stays, the password is written *** */
static void test_url_errors_hide_password(void **st)
{
    static const struct {
        const char *url, *shown, *secret;
    } cases[] = {
        {"redis://alice:s3cret@10.0.0.1:99999/0", "redis://alice:***@10.0.0.1:99999/0: the port", "s3cret"},
        {"redis://s3cret@10.0.0.1/x", "redis://***@10.0.0.1/x: the database", "s3cret"},
        {"redis://u:p@ss@/0", "redis://u:***@/0: expected a host", "p@ss"},
        {"rediss://bob:s3cret@10.0.0.1", "rediss://bob:***@10.0.0.1: TLS", "s3cret"},
        {"unix://alice:s3cret@/run/r.sock?db=x", "unix://alice:***@/run/r.sock?db=x: expected ?db=", "s3cret"},
        {"unix://s3cret@/run/r.sock?x", "unix://***@/run/r.sock?x: expected ?db=", "s3cret"},
        {"redis://10.0.0.1:0", "redis://10.0.0.1:0: the port", NULL},
    };
    (void)st;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rconn_url u;
        char err[256];
        assert_int_equal(rconn_url_parse(cases[i].url, &u, err, sizeof err), -1);
        if (strncmp(err, cases[i].shown, strlen(cases[i].shown)) || (cases[i].secret && strstr(err, cases[i].secret)))
            fail_msg("%s: message \"%s\", want it to start \"%s\"", cases[i].url, err, cases[i].shown);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_and_slots),
        cmocka_unit_test(test_numbers_in_args),
        cmocka_unit_test(test_one_window_parts),
        cmocka_unit_test(test_deadline_in_args),
        cmocka_unit_test(test_reply_time),
        cmocka_unit_test(test_fnv_and_tag),
        cmocka_unit_test(test_greylist_keys_share_a_slot),
        cmocka_unit_test(test_reply_shapes),
        cmocka_unit_test(test_reply_packed),
        cmocka_unit_test(test_reply_fast),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_url_errors_hide_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
