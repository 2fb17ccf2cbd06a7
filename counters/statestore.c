/*
 * statestore - the owners' table and the calls through an implementation (see statestore.h)
 */
#include "statestore.h"

#include <string.h>

/* statestore_client - register an owner of a range of classes */
int statestore_client(statestore *st, uint8_t first_cls, uint8_t last_cls, state_apply_fn apply, state_dump_fn dump,
                      void *arg)
{
    if (st->nclients >= STATESTORE_CLIENTS || first_cls > last_cls)
        return -1;
    st->clients[st->nclients++] = (state_client){first_cls, last_cls, apply, dump, arg};
    return 0;
}

/* statestore_owner - the owner of cls */
const state_client *statestore_owner(const statestore *st, uint8_t cls)
{
    for (unsigned i = 0; i < st->nclients; i++)
        if (cls >= st->clients[i].first_cls && cls <= st->clients[i].last_cls)
            return &st->clients[i];
    return NULL;
}

/* statestore_apply - a record to its owner; a put past its expiry goes as a del */
int statestore_apply(statestore *st, int op, const state_rec *r, uint64_t now_wall)
{
    const state_client *c = statestore_owner(st, r->cls);

    if (!c)
        return 1;
    if (op == STATE_PUT && r->expires && r->expires <= now_wall) {
        state_rec del = {r->cls, r->key, r->klen, NULL, 0, 0};
        return c->apply(STATE_DEL, &del, c->arg);
    }
    return c->apply(op, r, c->arg);
}

/* statestore_dump - every owner's current records */
int statestore_dump(statestore *st, state_emit_fn emit, void *w)
{
    for (unsigned i = 0; i < st->nclients; i++)
        if (st->clients[i].dump && st->clients[i].dump(emit, w, st->clients[i].arg) != 0)
            return -1;
    return 0;
}

/* statestore_load - through the implementation */
long statestore_load(statestore *st, uint64_t now_wall)
{
    return st->vt->load(st, now_wall);
}

/* statestore_put - through the implementation */
void statestore_put(statestore *st, const state_rec *r)
{
    st->vt->put(st, r);
}

/* statestore_del - through the implementation */
void statestore_del(statestore *st, uint8_t cls, const unsigned char *key, size_t klen)
{
    st->vt->del(st, cls, key, klen);
}

/* statestore_stats_get - the implementation's counters (zeros for NULL) */
void statestore_stats_get(statestore *st, statestore_stats *out)
{
    memset(out, 0, sizeof *out);
    if (st)
        st->vt->stats(st, out);
}

/* statestore_free - flush and free; NULL is fine */
void statestore_free(statestore *st)
{
    if (st)
        st->vt->free(st);
}
