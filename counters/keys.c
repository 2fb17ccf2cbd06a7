/*
 * keys - the layout of every key in the store (see keys.h)
 *
 * key_begin and key_part never write past KEY_MAX: the bound is derived
 * from the limits (keys.h) and checked below at compile time, and each
 * append checks the room left at run time (not an assert: a release build
 * keeps it), marking the key broken instead of writing.
 *
 * SECURITY: parts are what clients send, of any length: a long part costs
 * one pass of BLAKE2b over it (no copy, no buffer of its size), and a key
 * never grows past KEY_MAX whatever is sent.
 */
#include "keys.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

_Static_assert(HASH_STABLE_BYTES <= KEY_PART_MAX, "a hashed part is no longer than a plain one");
_Static_assert(KEY_VARINT_BYTES(KEY_PART_MAX) <= 3 && KEY_VARINT_BYTES(KEY_NAME_MAX) <= 3,
               "get_varint reads at most 3 bytes");
_Static_assert(KEY_MAX == 1 + KEY_VARINT_BYTES(KEY_NAME_MAX) + KEY_NAME_MAX + KEY_PARTS_MAX * KEY_PART_BYTES,
               "KEY_MAX holds the longest name and KEY_PARTS_MAX of the longest parts");
_Static_assert(KEY_MAX < 0xffff, "key lengths are u16 in the table and the snapshot (0xffff: its trailer)");

/* put_varint - LEB128 length (the caller checked the room) */
static void put_varint(key_buf *k, size_t v)
{
    while (v >= 0x80) {
        k->bytes[k->len++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    k->bytes[k->len++] = (unsigned char)v;
}

/* get_varint - read a LEB128 length; returns bytes read, 0 on a malformed one */
static size_t get_varint(const unsigned char *p, size_t len, size_t *out)
{
    size_t v = 0, i;

    for (i = 0; i < len && i < 3; i++) {
        v |= (size_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

/* key_begin - start a key of class cls for the rule name */
void key_begin(key_buf *k, enum key_class cls, const char *name, size_t name_len)
{
    k->len = 0;
    k->nparts = 0;
    k->broken = 0;
    k->bytes[k->len++] = (unsigned char)cls;
    if (name_len > KEY_NAME_MAX) {
        k->broken = 1;
        return;
    }
    put_varint(k, name_len);
    memcpy(k->bytes + k->len, name, name_len);
    k->len += name_len;
}

/* room - may a part of len bytes (len <= KEY_PART_MAX) be appended? If not, the key is broken */
static int room(key_buf *k, size_t len)
{
    if (k->broken || k->nparts >= KEY_PARTS_MAX || k->len + 1 + KEY_VARINT_BYTES(len) + len > KEY_MAX) {
        k->broken = 1;
        return 0;
    }
    return 1;
}

/* append - one typed part of at most KEY_PART_MAX bytes, if it fits */
static void append(key_buf *k, unsigned type, const void *data, size_t len)
{
    if (!room(k, len))
        return;
    k->bytes[k->len++] = (unsigned char)type;
    put_varint(k, len);
    memcpy(k->bytes + k->len, data, len);
    k->len += len;
    k->nparts++;
}

/* key_part - append one typed part; long parts are hashed */
void key_part(key_buf *k, enum key_part_type type, const void *data, size_t len)
{
    unsigned char digest[HASH_STABLE_BYTES];

    if (len > KEY_PART_MAX) {
        hash_stable(data, len, digest);
        append(k, type | KEY_HASHED, digest, sizeof digest);
        return;
    }
    append(k, type, data, len);
}

/* fold - ASCII lower case of n bytes (the C locale's tolower, whatever the process's locale); eight bytes at
 * a time: 0x20 is added to the bytes from 'A' to 'Z' and to no other (bytes of 0x80 and above included) */
static void fold(unsigned char *out, const unsigned char *in, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t x, low;
        memcpy(&x, in + i, 8);
        low = x & ~high;                                  /* each byte below 0x80: the sums below do not carry */
        uint64_t ge_a = low + ones * (0x80 - 'A');        /* high bit: byte >= 'A' */
        uint64_t gt_z = low + ones * (0x80 - 'Z' - 1);    /* high bit: byte > 'Z' */
        uint64_t upper = ge_a & ~gt_z & ~x & high;        /* high bit: 'A' <= byte <= 'Z' */
        x |= upper >> 2;                                  /* 0x80 >> 2 = 0x20 */
        memcpy(out + i, &x, 8);
    }
    for (; i < n; i++)
        out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (unsigned char)(in[i] + ('a' - 'A')) : in[i];
}

/* key_part_lower - append one typed part folded to lower case: folded in place when it fits, else folded
 * a chunk at a time into the stable hash, so that the case variants of a long value hash alike */
void key_part_lower(key_buf *k, enum key_part_type type, const void *data, size_t len)
{
    const unsigned char *p = data;
    unsigned char chunk[KEY_PART_MAX], digest[HASH_STABLE_BYTES];

    if (len <= KEY_PART_MAX) {
        if (!room(k, len))
            return;
        k->bytes[k->len++] = (unsigned char)type;
        put_varint(k, len);
        fold(k->bytes + k->len, p, len);
        k->len += len;
        k->nparts++;
        return;
    }
    hash_stable_state hs;
    hash_stable_init(&hs);
    for (size_t at = 0; at < len; at += sizeof chunk) {
        size_t n = len - at < sizeof chunk ? len - at : sizeof chunk;
        fold(chunk, p + at, n);
        hash_stable_update(&hs, chunk, n);
    }
    hash_stable_final(&hs, digest);
    append(k, type | KEY_HASHED, digest, sizeof digest);
}

/* key_ok - every name and part fitted */
int key_ok(const key_buf *k)
{
    return !k->broken;
}

/* emit - bounded append */
static void emit(char *out, size_t size, size_t *at, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*at + 1 < size)
            out[*at] = s[i];
        (*at)++;
    }
    if (size)
        out[*at < size ? *at : size - 1] = '\0';
}

/* key_format - printable form for logs and floodgatectl */
size_t key_format(const unsigned char *key, size_t len, char *out, size_t size)
{
    char tmp[INET6_ADDRSTRLEN + 8];
    size_t at = 0, pos = 1, n, used;
    int first = 1;

    if (size)
        out[0] = '\0';
    if (len == 0)
        return 0;
    n = (size_t)snprintf(tmp, sizeof tmp, "%u", key[0]);
    emit(out, size, &at, tmp, n);
    /* the name, then typed parts */
    while (pos < len) {
        unsigned type = first ? 0 : key[pos++];
        size_t plen;
        if (pos >= len || !(used = get_varint(key + pos, len - pos, &plen)) || pos + used + plen > len) {
            emit(out, size, &at, ":?", 2);
            break;
        }
        pos += used;
        emit(out, size, &at, ":", 1);
        if (!first && (type & KEY_HASHED)) {
            emit(out, size, &at, "#hash", 5);
        } else if (!first && type == KEY_PART_ADDRESS && plen >= 2) {
            int af = key[pos] == 6 ? AF_INET6 : AF_INET;
            unsigned char a[16] = {0};
            memcpy(a, key + pos + 2, plen - 2 > 16 ? 16 : plen - 2);
            inet_ntop(af, a, tmp, sizeof tmp);
            emit(out, size, &at, tmp, strlen(tmp));
            n = (size_t)snprintf(tmp, sizeof tmp, "/%u", key[pos + 1]);
            emit(out, size, &at, tmp, n);
        } else {
            for (size_t i = 0; i < plen; i++) {
                unsigned char c = key[pos + i];
                if (c >= 0x21 && c < 0x7f && c != ':' && c != '%') {
                    emit(out, size, &at, (const char *)&c, 1);
                } else {
                    n = (size_t)snprintf(tmp, sizeof tmp, "%%%02x", c);
                    emit(out, size, &at, tmp, n);
                }
            }
        }
        pos += plen;
        first = 0;
    }
    return at;
}
