/*
 * banstate - the ban index's records in a statestore (see banstate.h)
 */
#include "banstate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "keys.h"

struct banstate {
    struct ban_index *bi;
    statestore *st;
    int attached;   /* the change listener is registered */
    int applying;   /* a change from the store is being applied: not recorded back */
};

/* put_u - n little-endian bytes of v */
static unsigned char *put_u(unsigned char *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

/* put_bytes - a u16 length and n bytes (cut to max) */
static unsigned char *put_bytes(unsigned char *p, const char *s, size_t n, size_t max)
{
    if (!s)
        n = 0;
    if (n > max)
        n = max;
    p = put_u(p, n, 2);
    if (n)
        memcpy(p, s, n);
    return p + n;
}

/* name_len - a username ban's name length (namelen, or the C string's) */
static size_t name_len(const ban_rec *r)
{
    size_t n;

    if (r->family != 0 || !r->name)
        return 0;
    n = r->namelen ? r->namelen : strnlen(r->name, BANSTATE_NAME_MAX + 1);
    return n > BANSTATE_NAME_MAX ? BANSTATE_NAME_MAX : n;
}

/* banstate_key - class, empty rule name, one unhashed part */
size_t banstate_key(uint8_t cls, const ban_rec *r, unsigned char out[BANSTATE_KEY_MAX])
{
    unsigned char *p = out;

    *p++ = cls;
    *p++ = 0; /* the rule name's length */
    if (r->family == 0) {
        size_t n = name_len(r);
        *p++ = KEY_PART_STRING;
        if (n >= 0x80) { /* LEB128 */
            *p++ = (unsigned char)(n | 0x80);
            *p++ = (unsigned char)(n >> 7);
        } else {
            *p++ = (unsigned char)n;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)r->name[i];
            *p++ = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        }
        return (size_t)(p - out);
    }
    size_t n = r->family == 4 ? 4 : 16;
    *p++ = KEY_PART_ADDRESS;
    *p++ = (unsigned char)(2 + n);
    *p++ = r->family;
    *p++ = r->prefix;
    memcpy(p, r->bytes, n);
    return (size_t)(p + n - out);
}

/* banstate_encode_ban - the ban's value */
size_t banstate_encode_ban(const ban_rec *r, unsigned char out[BANSTATE_VALUE_MAX])
{
    unsigned char *p = out;

    *p++ = BANSTATE_VERSION;
    p = put_u(p, r->since, 8);
    p = put_u(p, r->expires, 8);
    p = put_u(p, r->times, 4);
    p = put_bytes(p, r->reason, r->reason ? strnlen(r->reason, BANSTATE_TEXT_MAX) : 0, BANSTATE_TEXT_MAX);
    p = put_bytes(p, r->rule, r->rule ? strnlen(r->rule, BANSTATE_TEXT_MAX) : 0, BANSTATE_TEXT_MAX);
    p = put_bytes(p, r->name, name_len(r), BANSTATE_NAME_MAX);
    return (size_t)(p - out);
}

/* banstate_encode_history - a history entry's value */
size_t banstate_encode_history(uint32_t times, uint64_t last, unsigned char out[BANSTATE_VALUE_MAX])
{
    unsigned char *p = out;

    *p++ = BANSTATE_VERSION;
    p = put_u(p, last, 8);
    p = put_u(p, times, 4);
    return (size_t)(p - out);
}

typedef struct reader {
    const unsigned char *p;
    size_t left;
    int bad;
} reader;

/* get_u - n little-endian bytes, or the reader marked bad */
static uint64_t get_u(reader *rd, unsigned n)
{
    uint64_t v = 0;

    if (rd->bad || rd->left < n) {
        rd->bad = 1;
        return 0;
    }
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)rd->p[i] << (8 * i);
    rd->p += n;
    rd->left -= n;
    return v;
}

/* get_bytes - n bytes (n <= max) into out, NUL-ended */
static void get_bytes(reader *rd, char *out, size_t n, size_t max)
{
    out[0] = '\0';
    if (rd->bad || n > max || n > rd->left) {
        rd->bad = 1;
        return;
    }
    memcpy(out, rd->p, n);
    out[n] = '\0';
    rd->p += n;
    rd->left -= n;
}

/* get_text - a u16 length and its bytes; the length */
static size_t get_text(reader *rd, char *out, size_t max)
{
    size_t n = (size_t)get_u(rd, 2);
    get_bytes(rd, out, n, max);
    return rd->bad ? 0 : n;
}

/* decode_key - the banned thing from a key; 0 or -1 */
static int decode_key(const unsigned char *key, size_t klen, banstate_item *it)
{
    reader rd = {key, klen, 0};
    char addr[INET6_ADDRSTRLEN];
    unsigned type;
    size_t n;

    get_u(&rd, 1); /* the class, checked by the caller */
    if (get_u(&rd, 1) != 0) /* an empty rule name */
        return -1;
    type = (unsigned)get_u(&rd, 1);
    n = (size_t)get_u(&rd, 1);
    if (n & 0x80)
        n = (n & 0x7f) | (size_t)get_u(&rd, 1) << 7;
    if (rd.bad || n != rd.left)
        return -1;
    if (type == KEY_PART_STRING) {
        if (n == 0 || n > BANSTATE_NAME_MAX || memchr(rd.p, '\0', n))
            return -1;
        get_bytes(&rd, it->name, n, BANSTATE_NAME_MAX);
        it->r.family = 0;
        it->r.name = it->name;
        it->r.namelen = (uint16_t)n;
        snprintf(it->r.net, sizeof it->r.net, "%.*s", (int)(sizeof it->r.net - 1), it->name);
        return 0;
    }
    if (type != KEY_PART_ADDRESS || n < 2)
        return -1;
    it->r.family = (uint8_t)get_u(&rd, 1);
    it->r.prefix = (uint8_t)get_u(&rd, 1);
    if (!((it->r.family == 4 && n == 6 && it->r.prefix <= 32) || (it->r.family == 6 && n == 18 && it->r.prefix <= 128)))
        return -1;
    memcpy(it->r.bytes, rd.p, n - 2);
    if (!inet_ntop(it->r.family == 4 ? AF_INET : AF_INET6, it->r.bytes, addr, sizeof addr))
        return -1;
    if (it->r.prefix == (it->r.family == 4 ? 32 : 128))
        snprintf(it->r.net, sizeof it->r.net, "%s", addr);
    else
        snprintf(it->r.net, sizeof it->r.net, "%s/%u", addr, (unsigned)it->r.prefix);
    return 0;
}

/* banstate_decode - a record of class 27 or 28 */
int banstate_decode(const unsigned char *key, size_t klen, const unsigned char *value, size_t vlen,
                    banstate_item *it)
{
    reader rd = {value, vlen, 0};

    memset(&it->r, 0, sizeof it->r);
    it->name[0] = it->reason[0] = it->rule[0] = '\0';
    if (klen < 1 || (key[0] != KEY_BAN && key[0] != KEY_BAN_HISTORY) || decode_key(key, klen, it) < 0)
        return -1;
    if (!value)
        return 0;
    if (get_u(&rd, 1) != BANSTATE_VERSION)
        return -1;
    if (key[0] == KEY_BAN_HISTORY) {
        it->r.since = get_u(&rd, 8);
        it->r.times = (uint32_t)get_u(&rd, 4);
        return rd.bad || rd.left || it->r.since > BAN_WALL_MAX ? -1 : 0;
    }
    char name[BANSTATE_NAME_MAX + 1];
    it->r.since = get_u(&rd, 8);
    it->r.expires = get_u(&rd, 8);
    it->r.times = (uint32_t)get_u(&rd, 4);
    if (get_text(&rd, it->reason, BANSTATE_TEXT_MAX))
        it->r.reason = it->reason;
    if (get_text(&rd, it->rule, BANSTATE_TEXT_MAX))
        it->r.rule = it->rule;
    size_t n = get_text(&rd, name, BANSTATE_NAME_MAX);
    if (rd.bad || rd.left || it->r.since > BAN_WALL_MAX || it->r.expires > BAN_WALL_MAX)
        return -1; /* a date past year 9999 has no calendar form (a hostile peer's: every log line would fail) */
    if (it->r.family == 0 && n == it->r.namelen && !memchr(name, '\0', n)) {
        /* the name as it was given (the key has it folded) */
        memcpy(it->name, name, n + 1);
        snprintf(it->r.net, sizeof it->r.net, "%.*s", (int)(sizeof it->r.net - 1), it->name);
    } else if (n != 0 && it->r.family != 0) {
        return -1;
    }
    return 0;
}

/* history_expires - a history record's expiry: its last ban plus the horizon (a shared store forgets it then) */
static uint64_t history_expires(const struct ban_index *bi, uint64_t last)
{
    uint64_t h = ban_history_kept(bi);
    return last > UINT64_MAX - h ? UINT64_MAX : last + h;
}

/* on_change - the index's listener: a ban or unban becomes a put or a del */
static void on_change(int change, const ban_rec *r, void *arg)
{
    banstate *b = arg;
    unsigned char key[BANSTATE_KEY_MAX], value[BANSTATE_VALUE_MAX];
    state_rec rec = {KEY_BAN, key, 0, value, 0, 0};

    if (b->applying)
        return;
    if (change == BAN_REMOVED || change == BAN_EVICTED) { /* evicted: gone from the journal and the fleet too */
        statestore_del(b->st, KEY_BAN, key, banstate_key(KEY_BAN, r, key));
        return;
    }
    if (change != BAN_ADDED)
        return;
    rec.klen = banstate_key(KEY_BAN, r, key);
    rec.vlen = banstate_encode_ban(r, value);
    rec.expires = r->expires;
    statestore_put(b->st, &rec);
    if (r->rule && r->times) {
        rec.cls = KEY_BAN_HISTORY;
        rec.klen = banstate_key(KEY_BAN_HISTORY, r, key);
        rec.vlen = banstate_encode_history(r->times, r->since, value);
        rec.expires = history_expires(b->bi, r->since);
        statestore_put(b->st, &rec);
    }
}

/* apply - a record from the store into the index */
static int apply(int op, const state_rec *r, void *arg)
{
    banstate *b = arg;
    banstate_item it;
    int rc = 0;

    if (banstate_decode(r->key, r->klen, op == STATE_PUT ? r->value : NULL, r->vlen, &it) < 0)
        return -1;
    b->applying = 1;
    if (r->cls == KEY_BAN && op == STATE_PUT)
        rc = ban_add(b->bi, &it.r);
    else if (r->cls == KEY_BAN)
        ban_remove(b->bi, &it.r); /* not banned: nothing to do */
    else if (op == STATE_PUT)
        rc = ban_history_set(b->bi, &it.r, it.r.times, it.r.since);
    /* a full index (bans.max) refuses a new key, counted there: the record itself is sound, and the journal
     * or snapshot that holds it is not damaged (the records after it still apply) */
    rc = rc == BAN_FULL || rc >= 0 ? 0 : -1;
    /* a history del: nothing to forget (the index drops old entries by itself) */
    b->applying = 0;
    return rc;
}

typedef struct dump_ctx {
    state_emit_fn emit;
    void *w;
    int failed;
    const struct ban_index *bi;
} dump_ctx;

/* dump_ban - one current ban as a put */
static void dump_ban(const ban_rec *r, void *arg)
{
    dump_ctx *d = arg;
    unsigned char key[BANSTATE_KEY_MAX], value[BANSTATE_VALUE_MAX];
    state_rec rec = {KEY_BAN, key, banstate_key(KEY_BAN, r, key), value, banstate_encode_ban(r, value),
                     r->expires};

    if (!d->failed)
        d->failed = d->emit(d->w, &rec);
}

/* dump_history - one history entry as a put */
static void dump_history(const ban_rec *r, void *arg)
{
    dump_ctx *d = arg;
    unsigned char key[BANSTATE_KEY_MAX], value[BANSTATE_VALUE_MAX];
    state_rec rec = {KEY_BAN_HISTORY, key, banstate_key(KEY_BAN_HISTORY, r, key), value,
                     banstate_encode_history(r->times, r->since, value), history_expires(d->bi, r->since)};

    if (!d->failed)
        d->failed = d->emit(d->w, &rec);
}

/* dump - the whole index (every ban, expired or not: a loader drops what ran out); may run in a forked child */
static int dump(state_emit_fn emit, void *w, void *arg)
{
    banstate *b = arg;
    dump_ctx d = {emit, w, 0, b->bi};

    ban_history_foreach(b->bi, dump_history, &d);
    ban_foreach(b->bi, 0, dump_ban, &d);
    return d.failed;
}

/* banstate_new - register as the owner of classes 27 and 28 */
banstate *banstate_new(struct ban_index *bi, statestore *st)
{
    banstate *b = fg_calloc(1, sizeof *b);

    b->bi = bi;
    b->st = st;
    if (statestore_client(st, KEY_BAN, KEY_BAN_HISTORY, apply, dump, b) < 0) {
        fg_free(b);
        return NULL;
    }
    return b;
}

/* banstate_attach - listen to the index */
int banstate_attach(banstate *b)
{
    if (ban_on_change(b->bi, on_change, b) < 0)
        return -1;
    b->attached = 1;
    return 0;
}

/* banstate_free - stop listening */
void banstate_free(banstate *b)
{
    if (!b)
        return;
    if (b->attached)
        ban_on_change_remove(b->bi, on_change, b);
    fg_free(b);
}
