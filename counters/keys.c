/*
 * keys - the layout of every key in the store (see keys.h)
 *
 * key_part never overflows: a part is at most KEY_PART_MAX bytes plus a
 * type and a two-byte varint, and the caller adds at most KEY_PARTS_MAX
 * parts after a name of at most KEY_NAME_MAX, all well below KEY_MAX.
 */
#include "keys.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"

/* put_varint - LEB128 length */
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
    assert(name_len <= KEY_NAME_MAX);
    k->len = 0;
    k->bytes[k->len++] = (unsigned char)cls;
    put_varint(k, name_len);
    memcpy(k->bytes + k->len, name, name_len);
    k->len += name_len;
}

/* key_part - append one typed part; long parts are hashed */
void key_part(key_buf *k, enum key_part_type type, const void *data, size_t len)
{
    unsigned char digest[16];

    if (len > KEY_PART_MAX) {
        uint64_t a = hash64(data, len, 0x666c6f6f64676174ULL), b = hash64(data, len, a);
        memcpy(digest, &a, 8);
        memcpy(digest + 8, &b, 8);
        data = digest;
        len = sizeof digest;
        type |= KEY_HASHED;
    }
    assert(k->len + 3 + len <= KEY_MAX);
    k->bytes[k->len++] = (unsigned char)type;
    put_varint(k, len);
    memcpy(k->bytes + k->len, data, len);
    k->len += len;
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
