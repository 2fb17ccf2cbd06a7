/*
 * fleet - lists kept in the store, and the statestore of a networked store (see fleet.h)
 *
 * Stored lists are the owner of class 29 in the server's statestore (statestore.h): a change applied from
 * it (the journal at start, another daemon's edit, a resync) edits the list of that name in the rules in
 * force; a dump (the snapshot, a resync's comparison) emits every stored list's lines. Each change
 * re-derives the list's index (list_set_lines) on the loop, so a stored list holds at most STORED_LIST_MAX
 * entries (a file list has no such bound) and a record that changes nothing (a resync's, mostly) is
 * skipped without re-deriving: n records cost O(n x STORED_LIST_MAX) comparisons at worst, never O(n^2)
 * re-indexing of an unbounded list that a fleet peer could grow.
 *
 * SECURITY
 *     Records come from a file or from Redis, which every daemon of the fleet writes: a key without its
 *     NUL, a line with a NUL or a newline, or a line that does not parse as an entry of its list is
 *     refused (list_set_lines keeps the old lines).
 */
#include "fleet.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "bansrv.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "server.h"
#include "statestore_redis.h"

#define LINE_MAX_BYTES 1024 /* an entry's line, as floodgatectl list add takes it */
#define STORED_LIST_MAX 1000 /* entries of one stored list: each change re-indexes the list on the loop */

struct fleet {
    server *s;
    statestore *st;          /* where stored lists are kept: the file journal, or the fleet mirror */
};

/* entry_key - a line's entry key: its first word without a leading '@', lower-cased; its length (0: none) */
static size_t entry_key(const char *line, char *out, size_t size)
{
    const char *p = line + strspn(line, " \t\r\f\v");
    size_t n = 0;

    if (*p == '@')
        p++;
    while (p[n] && !isspace((unsigned char)p[n]) && n + 1 < size) {
        out[n] = (char)tolower((unsigned char)p[n]);
        n++;
    }
    out[n] = '\0';
    return n;
}

/* record_key - class 29, list name, NUL, entry key into out; its length, 0 if it does not fit */
static size_t record_key(const char *list, const char *ekey, unsigned char *out, size_t size)
{
    size_t ln = strlen(list), kn = strlen(ekey);

    if (1 + ln + 1 + kn > size)
        return 0;
    out[0] = KEY_LIST;
    memcpy(out + 1, list, ln);
    out[1 + ln] = '\0';
    memcpy(out + 2 + ln, ekey, kn);
    return 2 + ln + kn;
}

/* list_replace - l's lines less those of entry key ekey, plus line (NULL: none) */
static int list_replace(fg_list *l, const char *ekey, const char *line, char *err, size_t errlen)
{
    size_t n = list_lines(l), k = 0;
    const char **lines = fg_malloc((n + 1) * sizeof *lines);
    char kb[LINE_MAX_BYTES];

    for (size_t i = 0; i < n; i++) {
        const char *t = list_line_at(l, i);
        entry_key(t, kb, sizeof kb);
        if (strcmp(kb, ekey))
            lines[k++] = t;
    }
    if (line)
        lines[k++] = line;
    int rc = list_set_lines(l, lines, k, err, errlen);
    fg_free(lines);
    return rc;
}

/* line_of - the line of entry key ekey in l (NULL: none), and how many lines l has */
static const char *line_of(const fg_list *l, const char *ekey)
{
    char kb[LINE_MAX_BYTES];

    for (size_t i = 0; i < list_lines(l); i++) {
        const char *t = list_line_at(l, i);
        entry_key(t, kb, sizeof kb);
        if (!strcmp(kb, ekey))
            return t;
    }
    return NULL;
}

/* on_apply - a record of class 29 from the store: add, replace or remove one entry of a stored list */
static int on_apply(int op, const state_rec *r, void *arg)
{
    fleet *f = arg;
    char key[LINE_MAX_BYTES + 256], line[LINE_MAX_BYTES + 1], err[256];

    if (r->klen < 3 || r->klen - 1 >= sizeof key || !memchr(r->key + 1, '\0', r->klen - 1))
        return -1;
    memcpy(key, r->key + 1, r->klen - 1);
    key[r->klen - 1] = '\0';
    if (op == STATE_PUT && (r->vlen > LINE_MAX_BYTES || memchr(r->value, '\0', r->vlen) ||
                            memchr(r->value, '\n', r->vlen)))
        return -1;
    if (op == STATE_PUT)
        memcpy(line, r->value, r->vlen);
    line[op == STATE_PUT ? r->vlen : 0] = '\0';
    fg_list *l = listset_find(f->s->rules->lists, key);
    if (!l || !list_is_stored(l))
        return 0; /* a list this daemon's rules do not keep in the store (any more): nothing to do */
    const char *ekey = key + strlen(key) + 1, *have = line_of(l, ekey);
    char lk[LINE_MAX_BYTES];
    if (op == STATE_PUT && (!entry_key(line, lk, sizeof lk) || strcmp(lk, ekey)))
        return -1; /* a line whose entry is not the record's key could never be deleted by it */
    if (op == STATE_PUT ? have && !strcmp(have, line) : !have)
        return 0; /* nothing changes */
    if (op == STATE_PUT && !have && list_lines(l) >= STORED_LIST_MAX) {
        log_warn("list %s: full (%d entries kept in the store); an entry from the store is dropped", list_name(l),
                 STORED_LIST_MAX);
        return 0;
    }
    if (list_replace(l, ekey, op == STATE_PUT ? line : NULL, err, sizeof err) < 0)
        log_warn("list %s: a stored entry does not load (%s); ignored", list_name(l), err);
    return 0;
}

/* on_dump - every stored list's lines (may run in the snapshot's forked child: reads only) */
static int on_dump(state_emit_fn emit, void *w, void *arg)
{
    fleet *f = arg;
    const listset *ls = f->s->rules->lists;
    unsigned char key[LINE_MAX_BYTES + 256];
    char ekey[LINE_MAX_BYTES];

    for (unsigned i = 0; i < ls->n; i++) {
        const fg_list *l = ls->lists[i];
        if (!list_is_stored(l))
            continue;
        for (size_t j = 0; j < list_lines(l); j++) {
            const char *line = list_line_at(l, j);
            size_t klen;
            if (!entry_key(line, ekey, sizeof ekey) || !(klen = record_key(list_name(l), ekey, key, sizeof key)))
                continue;
            state_rec r = {KEY_LIST, key, klen, (const unsigned char *)line, strlen(line), 0};
            if (emit(w, &r))
                return -1;
        }
    }
    return 0;
}

/* fleet_new - the owner of class 29 in st */
fleet *fleet_new(server *s, statestore *st)
{
    fleet *f;

    if (!st)
        return NULL;
    f = fg_calloc(1, sizeof *f);
    f->s = s;
    f->st = st;
    if (statestore_client(st, KEY_LIST, KEY_LIST, on_apply, on_dump, f) < 0) {
        log_error("lists: the state store has no owner slot left; stored lists are not kept");
        fg_free(f);
        return NULL;
    }
    return f;
}

/* fleet_free - the statestore stays the caller's (free it first, or together) */
void fleet_free(fleet *f)
{
    fg_free(f);
}

/* fleet_list_edit - in memory first (it checks the line), then the store */
int fleet_list_edit(fleet *f, fg_list *l, int add, const char *text, char *err, size_t errlen)
{
    char ekey[LINE_MAX_BYTES];
    unsigned char rkey[LINE_MAX_BYTES + 256];
    size_t klen;

    if (!f) {
        snprintf(err, errlen, "list %s is kept in the store, and this daemon keeps no state (store.snapshot)",
                 list_name(l));
        return -1;
    }
    if (!entry_key(text, ekey, sizeof ekey) || !(klen = record_key(list_name(l), ekey, rkey, sizeof rkey))) {
        snprintf(err, errlen, "an entry needs a key");
        return -1;
    }
    if (!strcmp(f->st->vt->name, "redis")) {
        mirror_stats ms;
        statestore_redis_mirror(f->st, &ms);
        if (!ms.up) {
            /* not listening: this daemon may have missed changes, and an edit now could undo one */
            snprintf(err, errlen, "the store is unavailable: list %s is unchanged", list_name(l));
            return -1;
        }
    }
    int found = line_of(l, ekey) != NULL;
    if (add && !found && list_lines(l) >= STORED_LIST_MAX) {
        snprintf(err, errlen, "list %s is full: a list kept in the store holds at most %d entries (use a file list "
                 "for more)", list_name(l), STORED_LIST_MAX);
        return -1;
    }
    if (!add && !found) {
        snprintf(err, errlen, "%s is not in list %s", text, list_name(l));
        return -1;
    }
    if (list_replace(l, ekey, add ? text : NULL, err, errlen) < 0)
        return -1;
    if (add) {
        state_rec r = {KEY_LIST, rkey, klen, (const unsigned char *)text, strlen(text), 0};
        statestore_put(f->st, &r);
    } else {
        statestore_del(f->st, KEY_LIST, rkey, klen);
    }
    return 0;
}

/* fleet_lists_load - with Redis, a resync hands every stored list's records over again */
void fleet_lists_load(fleet *f)
{
    if (f && !strcmp(f->st->vt->name, "redis"))
        statestore_redis_resync(f->st);
}

/* on_restore - the mirror's first resync since the start: its bans are restored as the snapshot's are */
static void on_restore(uint8_t cls, int on, void *arg)
{
    if (cls == KEY_BAN)
        bansrv_fleet_restore(arg, on);
}

/* fleet_state_new - the fleet mirror on the store's (first) Redis server or cluster; NULL for other stores */
statestore *fleet_state_new(server *s, statestore_redis_clock clock)
{
    const redis_spec *sp = &s->conf->store.redis;
    char err[512];

    while (sp->kind == REDIS_SHARDED && sp->nshards)
        sp = &sp->shards[0];
    if ((sp->kind != REDIS_SINGLE && sp->kind != REDIS_CLUSTER) || !sp->nurls)
        return NULL;
    rconn_config cfg = {.timeout_ms = s->conf->store.timeout_ms,
                        .connect_timeout_ms = s->conf->store.connect_timeout_ms,
                        .heartbeat_ms = s->conf->store.heartbeat_ms};
    statestore *st = statestore_redis_new(s->base, sp->urls, sp->kind == REDIS_SINGLE ? 1 : sp->nurls,
                                          sp->kind == REDIS_CLUSTER, &cfg, clock, s, log_store, err, sizeof err);
    if (!st)
        log_error("%s", err);
    else
        statestore_redis_on_restore(st, on_restore, s);
    return st;
}

/* fleet_mirror_stats - the mirror's counters; 0, or -1 when the state is not a fleet's */
int fleet_mirror_stats(server *s, mirror_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s->state || strcmp(s->state->vt->name, "redis"))
        return -1;
    statestore_redis_mirror(s->state, out);
    return 0;
}
