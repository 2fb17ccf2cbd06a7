/*
 * store - dispatch to the backend and the reusable batch
 */
#include "store.h"

#include <string.h>

#include "alloc.h"

/* store_submit - answer the batch now or later */
int store_submit(store *s, store_batch *b, store_done_fn done, void *arg)
{
    b->status = 0;
    b->denied = -1;
    return s->vt->submit(s, b, done, arg);
}

/* store_tick - housekeeping */
void store_tick(store *s, uint64_t now_ms)
{
    if (s->vt->tick)
        s->vt->tick(s, now_ms);
}

/* store_get_stats - counters of the backend */
void store_get_stats(store *s, store_stats *out)
{
    memset(out, 0, sizeof *out);
    s->vt->stats(s, out);
}

/* store_free - close the backend; NULL is fine */
void store_free(store *s)
{
    if (s)
        s->vt->free(s);
}

/* store_servers - each server's state */
size_t store_servers(store *s, store_server *out, size_t max)
{
    return s->vt->servers ? s->vt->servers(s, out, max) : 0;
}

/* batch_reset - empty a batch for the next request */
void batch_reset(store_batch *b, uint64_t now_ms)
{
    b->now_ms = now_ms;
    b->commit = 1;
    b->nops = 0;
    b->keys_len = 0;
    b->status = 0;
    b->denied = -1;
}

/* put_key - copy a key into the arena, which grows geometrically and is kept; returns its offset */
static uint32_t put_key(store_batch *b, const unsigned char *key, size_t key_len)
{
    uint32_t off = (uint32_t)b->keys_len;

    if (b->keys_len + key_len > b->keys_cap) {
        while (b->keys_len + key_len > b->keys_cap)
            b->keys_cap = b->keys_cap ? b->keys_cap * 2 : 512;
        b->keys = fg_realloc(b->keys, b->keys_cap);
    }
    memcpy(b->keys + b->keys_len, key, key_len);
    b->keys_len += key_len;
    return off;
}

/* batch_add - append an operation */
store_op *batch_add(store_batch *b, enum store_op_type type, const unsigned char *key, size_t key_len)
{
    store_op *op;

    if (b->nops == b->ops_cap) {
        b->ops_cap = b->ops_cap ? b->ops_cap * 2 : 8;
        b->ops = fg_realloc(b->ops, b->ops_cap * sizeof *b->ops);
    }
    op = &b->ops[b->nops++];
    memset(op, 0, sizeof *op);
    op->type = (uint8_t)type;
    op->key_off = put_key(b, key, key_len);
    op->key_len = (uint32_t)key_len;
    return op;
}

/* batch_add_key2 - give op a second key */
void batch_add_key2(store_batch *b, store_op *op, const unsigned char *key, size_t key_len)
{
    op->key2_off = put_key(b, key, key_len);
    op->key2_len = (uint32_t)key_len;
}

/* batch_set_result - an operation's value, kept in the arena like the keys */
void batch_set_result(store_batch *b, store_op *op, const void *data, size_t len)
{
    op->res_off = put_key(b, data, len);
    op->res_len = (uint32_t)len;
}

/* batch_release - free the batch's buffers */
void batch_release(store_batch *b)
{
    fg_free(b->ops);
    fg_free(b->keys);
    memset(b, 0, sizeof *b);
}
