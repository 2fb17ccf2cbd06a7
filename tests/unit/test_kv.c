/*
 * test_kv - the store's other tenants on the embedded store, with an injected clock: values with TTL and NX,
 * counters, locks honoured only for their owner, renewal and expiry, and the class table
 */
#include "testutil.h"

#include "kv.h"
#include "mem.h"

static store *st_;
static store_batch b;

/* run - one kv operation at time now; returns the op (valid until the next run) */
static store_op *run(uint64_t now, enum store_op_type type, uint8_t cls, const char *key, const char *operand,
                     uint64_t ttl_ms, uint8_t flags, int64_t num)
{
    key_buf k;

    kv_key(&k, cls, key, strlen(key));
    batch_reset(&b, now);
    store_op *op = batch_add(&b, type, k.bytes, k.len);
    if (operand)
        batch_add_key2(&b, op, (const unsigned char *)operand, strlen(operand));
    op = &b.ops[0];
    op->ttl_ms = ttl_ms;
    op->flags = flags;
    op->num = num;
    assert_int_equal(store_submit(st_, &b, NULL, NULL), STORE_DONE);
    assert_int_equal(b.status, 0);
    assert_true(b.denied < 0); /* a kv operation never refuses the batch */
    return &b.ops[0];
}

/* value_is - GET returns this value (NULL: absent) */
static void value_is(uint64_t now, uint8_t cls, const char *key, const char *want)
{
    store_op *op = run(now, STORE_KV_GET, cls, key, NULL, 0, 0, 0);
    if (!want) {
        assert_int_equal(op->admitted, 0);
        return;
    }
    assert_int_equal(op->admitted, 1);
    assert_int_equal(op->res_len, strlen(want));
    assert_memory_equal(batch_result(&b, op), want, op->res_len);
}

static int setup(void **st)
{
    (void)st;
    st_ = mem_store_new(&(mem_config){.seed = 3});
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    batch_release(&b);
    store_free(st_);
    return 0;
}

/* values: set, get, NX, TTL expiry on the injected clock, delete; classes keep keys apart */
static void test_values(void **st)
{
    (void)st;
    value_is(1000, KEY_ACME, "token-a", NULL);
    assert_int_equal(run(1000, STORE_KV_SET, KEY_ACME, "token-a", "challenge-1", 60000, 0, 0)->admitted, 1);
    value_is(1001, KEY_ACME, "token-a", "challenge-1");
    value_is(1001, KEY_OAUTH, "token-a", NULL); /* same key, another class */
    assert_int_equal(run(1002, STORE_KV_SET, KEY_ACME, "token-a", "other", 60000, STORE_NX, 0)->admitted, 0);
    value_is(1003, KEY_ACME, "token-a", "challenge-1");
    value_is(60999, KEY_ACME, "token-a", "challenge-1");
    value_is(61000, KEY_ACME, "token-a", NULL); /* its TTL is over */
    assert_int_equal(run(61001, STORE_KV_SET, KEY_ACME, "token-a", "again", 0, STORE_NX, 0)->admitted, 1);
    assert_int_equal(run(61002, STORE_DEL, KEY_ACME, "token-a", NULL, 0, 0, 0)->admitted, 1);
    value_is(61003, KEY_ACME, "token-a", NULL);
}

/* counters: start at 0, add, keep their first TTL, saturate, refuse a value that is not a number */
static void test_incr(void **st)
{
    (void)st;
    assert_int_equal(run(0, STORE_KV_INCR, KEY_BLOB_QUOTA, "joe", NULL, 10000, 0, 5)->num, 5);
    assert_int_equal(run(1, STORE_KV_INCR, KEY_BLOB_QUOTA, "joe", NULL, 99999, 0, -2)->num, 3);
    value_is(2, KEY_BLOB_QUOTA, "joe", "3");
    value_is(10000, KEY_BLOB_QUOTA, "joe", NULL); /* the TTL given when it was created */
    assert_int_equal(run(0, STORE_KV_INCR, KEY_BLOB_QUOTA, "big", NULL, 0, 0, INT64_MAX)->num, INT64_MAX);
    assert_int_equal(run(0, STORE_KV_INCR, KEY_BLOB_QUOTA, "big", NULL, 0, 0, 1)->num, INT64_MAX);
    run(0, STORE_KV_SET, KEY_BLOB_QUOTA, "text", "abc", 0, 0, 0);
    assert_int_equal(run(0, STORE_KV_INCR, KEY_BLOB_QUOTA, "text", NULL, 0, 0, 1)->admitted, 0);
    value_is(0, KEY_BLOB_QUOTA, "text", "abc");
}

/* locks: one owner at a time; unlock and renew only with the owner's token; expiry frees it */
static void test_locks(void **st)
{
    (void)st;
    assert_int_equal(run(0, STORE_LOCK, KEY_TASK_LOCK, "nightly", "owner-a", 10000, 0, 0)->admitted, 1);
    assert_int_equal(run(1, STORE_LOCK, KEY_TASK_LOCK, "nightly", "owner-b", 10000, 0, 0)->admitted, 0);
    assert_int_equal(run(2, STORE_LOCK, KEY_TASK_LOCK, "nightly", "owner-a", 10000, 0, 0)->admitted, 0);
    assert_int_equal(run(3, STORE_UNLOCK, KEY_TASK_LOCK, "nightly", "owner-b", 0, 0, 0)->admitted, 0);
    assert_int_equal(run(4, STORE_RENEW, KEY_TASK_LOCK, "nightly", "owner-b", 10000, 0, 0)->admitted, 0);
    /* the owner renews at 9 s: the lock then lasts until 19 s */
    assert_int_equal(run(9000, STORE_RENEW, KEY_TASK_LOCK, "nightly", "owner-a", 10000, 0, 0)->admitted, 1);
    assert_int_equal(run(18999, STORE_LOCK, KEY_TASK_LOCK, "nightly", "owner-b", 10000, 0, 0)->admitted, 0);
    /* once it expires, another owner takes it, and the old owner's token no longer works */
    assert_int_equal(run(19000, STORE_LOCK, KEY_TASK_LOCK, "nightly", "owner-b", 10000, 0, 0)->admitted, 1);
    assert_int_equal(run(19001, STORE_UNLOCK, KEY_TASK_LOCK, "nightly", "owner-a", 0, 0, 0)->admitted, 0);
    assert_int_equal(run(19002, STORE_UNLOCK, KEY_TASK_LOCK, "nightly", "owner-b", 0, 0, 0)->admitted, 1);
    assert_int_equal(run(19003, STORE_LOCK, KEY_TASK_LOCK, "nightly", "owner-c", 10000, 0, 0)->admitted, 1);
}

/* 1,000 attempts from two owners in turn: never two owners at once */
static void test_lock_contention(void **st)
{
    const char *owners[2] = {"a", "b"};
    int holder = -1, taken = 0;
    (void)st;

    for (int i = 0; i < 1000; i++) {
        int who = i % 2;
        uint64_t now = 100000 + (uint64_t)i;
        if (run(now, STORE_LOCK, KEY_QUEUE_LOCK, "q1", owners[who], 50000, 0, 0)->admitted) {
            assert_int_equal(holder, -1);
            holder = who;
            taken++;
        }
        if (holder == who && i % 7 == 0) {
            assert_int_equal(run(now, STORE_UNLOCK, KEY_QUEUE_LOCK, "q1", owners[who], 0, 0, 0)->admitted, 1);
            holder = -1;
        }
    }
    assert_true(taken > 10);
}

/* the class table: names and numbers of the kv tenants only */
static void test_classes(void **st)
{
    (void)st;
    assert_int_equal(kv_class_of("acme"), KEY_ACME);
    assert_int_equal(kv_class_of("task-lock"), KEY_TASK_LOCK);
    assert_int_equal(kv_class_of("26"), KEY_SIEVE_ID);
    assert_int_equal(kv_class_of("SIEVE"), KEY_SIEVE_ID);
    assert_int_equal(kv_class_of("2"), -1);  /* RCPT rate limits are the rules' */
    assert_int_equal(kv_class_of("16"), -1); /* greylist */
    assert_int_equal(kv_class_of("27"), -1); /* bans */
    assert_int_equal(kv_class_of("nope"), -1);
    assert_int_equal(kv_op_of("lock"), KV_LOCK);
    assert_int_equal(kv_op_of("frobnicate"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_contention, setup, teardown),
        cmocka_unit_test(test_classes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
