/*
 * test_keys - the key layout: classes, typed parts, no collisions
 */
#include "testutil.h"

#include "keys.h"

/* an address and a login of the same bytes are different keys */
static void test_types_do_not_collide(void **st)
{
    key_buf a, b;
    (void)st;

    key_begin(&a, KEY_AUTH, "r", 1);
    key_part(&a, KEY_PART_ADDRESS, "abcd", 4);
    key_begin(&b, KEY_AUTH, "r", 1);
    key_part(&b, KEY_PART_STRING, "abcd", 4);
    assert_true(a.len == b.len);
    assert_true(memcmp(a.bytes, b.bytes, a.len) != 0);
}

/* part boundaries are kept: ("ab","c") is not ("a","bc") */
static void test_boundaries(void **st)
{
    key_buf a, b;
    (void)st;

    key_begin(&a, KEY_RCPT, "r", 1);
    key_part(&a, KEY_PART_STRING, "ab", 2);
    key_part(&a, KEY_PART_STRING, "c", 1);
    key_begin(&b, KEY_RCPT, "r", 1);
    key_part(&b, KEY_PART_STRING, "a", 1);
    key_part(&b, KEY_PART_STRING, "bc", 2);
    assert_true(a.len != b.len || memcmp(a.bytes, b.bytes, a.len) != 0);
}

/* the class byte comes first; the rule name follows */
static void test_prefix_and_name(void **st)
{
    key_buf a, b;
    (void)st;

    key_begin(&a, KEY_RCPT, "rule-a", 6);
    key_begin(&b, KEY_SMTP, "rule-a", 6);
    assert_int_equal(a.bytes[0], 2);
    assert_int_equal(b.bytes[0], 6);
    assert_int_equal(a.bytes[1], 6);
    assert_memory_equal(a.bytes + 2, "rule-a", 6);
}

/* a long part is hashed: bounded, and still distinct */
static void test_long_parts(void **st)
{
    char big1[5000], big2[5000];
    key_buf a, b;
    (void)st;

    memset(big1, 'x', sizeof big1);
    memcpy(big2, big1, sizeof big2);
    big2[4999] = 'y';
    key_begin(&a, KEY_HTTP_ANON, "u", 1);
    key_part(&a, KEY_PART_STRING, big1, sizeof big1);
    key_begin(&b, KEY_HTTP_ANON, "u", 1);
    key_part(&b, KEY_PART_STRING, big2, sizeof big2);
    assert_true(a.len < 40);
    assert_int_equal(a.len, b.len);
    assert_true(memcmp(a.bytes, b.bytes, a.len) != 0);
}

/* the printable form */
static void test_format(void **st)
{
    key_buf k;
    char out[256];
    unsigned char v4[6] = {4, 24, 192, 0, 2, 0};
    (void)st;

    key_begin(&k, KEY_RCPT, "per-net", 7);
    key_part(&k, KEY_PART_ADDRESS, v4, 6);
    key_part(&k, KEY_PART_STRING, "Joe:x", 5);
    key_format(k.bytes, k.len, out, sizeof out);
    assert_string_equal(out, "2:per-net:192.0.2.0/24:Joe%3ax");
}

/* issue 7 defect 1: the longest rule name and 8 parts of every length fit (ASan: no overflow), and a
 * 9th part or a longer name marks the key broken instead of writing past it */
static void test_longest_keys(void **st)
{
    char name[KEY_NAME_MAX], part[KEY_PART_MAX + 2];
    key_buf k;
    (void)st;
    memset(name, 'n', sizeof name);
    memset(part, 'x', sizeof part);
    for (size_t len = 0; len <= sizeof part; len++) {
        key_begin(&k, KEY_RCPT, name, sizeof name);
        for (int i = 0; i < KEY_PARTS_MAX; i++)
            (i & 1 ? key_part_lower : key_part)(&k, KEY_PART_STRING, part, len);
        assert_true(key_ok(&k));
        assert_true(k.len <= KEY_MAX);
        key_part(&k, KEY_PART_STRING, part, len);
        assert_false(key_ok(&k));
    }
    key_begin(&k, KEY_RCPT, part, KEY_NAME_MAX + 1);
    assert_false(key_ok(&k));
}

/* issue 7 defect 8: case variants of a 220-byte sender are one key */
static void test_fold_long(void **st)
{
    char v[3][221];
    key_buf k[3];
    (void)st;
    for (int j = 0; j < 3; j++) {
        for (int i = 0; i < 220; i++)
            v[j][i] = "abcdefghij"[i % 10];
        v[j][220] = '\0';
        key_begin(&k[j], KEY_RCPT, "r", 1);
    }
    v[1][0] = 'A';
    for (int i = 0; i < 220; i++)
        v[2][i] = (char)(v[2][i] - 'a' + 'A');
    for (int j = 0; j < 3; j++)
        key_part_lower(&k[j], KEY_PART_STRING, v[j], 220);
    assert_int_equal(k[0].len, k[1].len);
    assert_memory_equal(k[0].bytes, k[1].bytes, k[0].len);
    assert_memory_equal(k[0].bytes, k[2].bytes, k[0].len);
    key_buf plain;
    key_begin(&plain, KEY_RCPT, "r", 1);
    key_part(&plain, KEY_PART_STRING, v[0], 220);
    assert_memory_equal(plain.bytes, k[2].bytes, plain.len);
}

/* only A-Z fold, whatever the byte around them and wherever they sit (the fold goes eight bytes at a time):
 * a key part of every byte value at every position is the C locale's tolower of it */
static void test_fold_every_byte(void **st)
{
    unsigned char v[19], want[19];
    (void)st;
    for (int fill = 0; fill < 256; fill += 17)
        for (int b = 0; b < 256; b++)
            for (size_t pos = 0; pos < sizeof v; pos++) {
                key_buf k;
                memset(v, fill, sizeof v);
                v[pos] = (unsigned char)b;
                for (size_t i = 0; i < sizeof v; i++)
                    want[i] = v[i] >= 'A' && v[i] <= 'Z' ? (unsigned char)(v[i] + 32) : v[i];
                for (size_t len = pos + 1; len <= sizeof v; len += 9) {
                    key_begin(&k, KEY_RCPT, "r", 1);
                    key_part_lower(&k, KEY_PART_STRING, v, len);
                    assert_true(key_ok(&k));
                    assert_memory_equal(k.bytes + k.len - len, want, len);
                }
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_do_not_collide),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_prefix_and_name),
        cmocka_unit_test(test_long_parts),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_longest_keys),
        cmocka_unit_test(test_fold_long),
        cmocka_unit_test(test_fold_every_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
