/*
 * fleet - lists kept in the store, and bans, shared by the daemons of a fleet (see fleet.h)
 *
 * The mirror hands changes over on the loop; they are applied to the lists of the rules in force (a reload
 * carries stored lists' lines over to the new rules, listset_carry_stored). A resync gathers every record of
 * a class, then replaces each stored list's lines at once (one derive per list, not one per entry).
 *
 * SECURITY
 *     Records come from Redis, which every daemon of the fleet writes: a name or line that is not text, or a
 *     line that does not parse as an entry of its list, is dropped (list_set_lines keeps the old lines).
 */
#include "fleet.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "server.h"

typedef struct fleet_rec {
    char *key;     /* list name, NUL, entry key */
    size_t klen;
    char *line;
} fleet_rec;

struct fleet {
    server *s;
    mirror *m;
    fleet_rec *sync;     /* class 29 records gathered by a resync in progress */
    size_t nsync, capsync;
    int syncing;
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

/* record_key - list name, NUL, entry key into out; its length, 0 if it does not fit */
static size_t record_key(const char *list, const char *ekey, char *out, size_t size)
{
    size_t ln = strlen(list), kn = strlen(ekey);

    if (ln + 1 + kn > size || ln + 1 + kn > MIRROR_KEY_MAX)
        return 0;
    memcpy(out, list, ln);
    out[ln] = '\0';
    memcpy(out + ln + 1, ekey, kn);
    return ln + 1 + kn;
}

/* list_without - l's lines less those of entry key ekey, plus line (NULL: none); for list_set_lines */
static int list_replace(fg_list *l, const char *ekey, const char *line, char *err, size_t errlen)
{
    size_t n = list_lines(l), k = 0;
    const char **lines = fg_malloc((n + 1) * sizeof *lines);
    char kb[1024];

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

/* stored_list - the stored list of this name in the rules in force, NULL if none */
static fg_list *stored_list(fleet *f, const char *name)
{
    fg_list *l = listset_find(f->s->rules->lists, name);
    return l && list_is_stored(l) ? l : NULL;
}

/* sync_put - a record gathered by a resync (or changed while one runs): replace one of the same key */
static void sync_put(fleet *f, const char *key, size_t klen, const char *line)
{
    for (size_t i = 0; i < f->nsync; i++)
        if (f->sync[i].klen == klen && !memcmp(f->sync[i].key, key, klen)) {
            fg_free(f->sync[i].line);
            f->sync[i].line = line ? fg_strdup(line) : NULL;
            return;
        }
    if (!line)
        return;
    if (f->nsync == f->capsync) {
        f->capsync = f->capsync ? f->capsync * 2 : 64;
        f->sync = fg_realloc(f->sync, f->capsync * sizeof *f->sync);
    }
    f->sync[f->nsync].key = fg_malloc(klen);
    memcpy(f->sync[f->nsync].key, key, klen);
    f->sync[f->nsync].klen = klen;
    f->sync[f->nsync].line = fg_strdup(line);
    f->nsync++;
}

/* sync_clear - forget the gathered records */
static void sync_clear(fleet *f)
{
    for (size_t i = 0; i < f->nsync; i++) {
        fg_free(f->sync[i].key);
        fg_free(f->sync[i].line);
    }
    f->nsync = 0;
}

/* sync_end - every stored list gets exactly the lines Redis holds for it */
static void sync_end(fleet *f)
{
    const listset *ls = f->s->rules->lists;
    char err[256];

    for (unsigned i = 0; i < ls->n; i++) {
        fg_list *l = ls->lists[i];
        if (!list_is_stored(l))
            continue;
        const char **lines = fg_malloc((f->nsync + 1) * sizeof *lines);
        size_t k = 0;
        for (size_t j = 0; j < f->nsync; j++)
            if (f->sync[j].line && !strcmp(f->sync[j].key, list_name(l)))
                lines[k++] = f->sync[j].line;
        if (list_set_lines(l, lines, k, err, sizeof err) < 0)
            log_warn("list %s: the store's copy does not load (%s); the old entries stay", list_name(l), err);
        fg_free(lines);
    }
    sync_clear(f);
    f->syncing = 0;
}

/* apply_list - a class 29 change from another daemon, or a record of a resync */
static void apply_list(fleet *f, int op, const mirror_rec *r)
{
    char key[MIRROR_KEY_MAX + 1], line[MIRROR_VALUE_MAX + 1], err[256];
    const char *nul = memchr(r->key, '\0', r->klen);

    if (!nul || r->vlen > MIRROR_VALUE_MAX || memchr(r->val ? (const char *)r->val : "", '\0', r->vlen) ||
        (r->val && memchr(r->val, '\n', r->vlen)))
        return;
    memcpy(key, r->key, r->klen);
    key[r->klen] = '\0';
    if (r->val)
        memcpy(line, r->val, r->vlen);
    line[r->val ? r->vlen : 0] = '\0';
    if (f->syncing)
        sync_put(f, key, r->klen, op == MIRROR_PUT ? line : NULL);
    fg_list *l = stored_list(f, key);
    const char *ekey = key + strlen(key) + 1;
    if (!l || (f->syncing && op == MIRROR_PUT))
        return; /* a resync's records are applied together at its end */
    if (list_replace(l, ekey, op == MIRROR_PUT ? line : NULL, err, sizeof err) < 0)
        log_warn("list %s: a change from the fleet does not load (%s); ignored", list_name(l), err);
}

/* on_apply - the mirror's callback */
static void on_apply(int op, const mirror_rec *r, void *arg)
{
    fleet *f = arg;

    if (r->cls != KEY_LIST)
        return;
    switch (op) {
    case MIRROR_SYNC_BEGIN:
        sync_clear(f);
        f->syncing = 1;
        break;
    case MIRROR_SYNC_END:
        sync_end(f);
        break;
    default:
        apply_list(f, op, r);
    }
}

/* fleet_new - a mirror on the store's (first) Redis server */
fleet *fleet_new(server *s)
{
    const redis_spec *sp = &s->conf->store.redis;
    static const uint8_t classes[] = {KEY_LIST};
    char err[512];

    while (sp->kind == REDIS_SHARDED && sp->nshards)
        sp = &sp->shards[0];
    if (sp->kind != REDIS_SINGLE || !sp->nurls)
        return NULL;
    fleet *f = fg_calloc(1, sizeof *f);
    rconn_config cfg = {.timeout_ms = s->conf->store.timeout_ms,
                        .connect_timeout_ms = s->conf->store.connect_timeout_ms,
                        .log = log_store};
    f->s = s;
    f->m = mirror_new(s->base, &sp->urls[0], &cfg, classes, sizeof classes, on_apply, f, err, sizeof err);
    if (!f->m) {
        log_error("%s", err);
        fg_free(f);
        return NULL;
    }
    return f;
}

/* fleet_free - close the mirror */
void fleet_free(fleet *f)
{
    if (!f)
        return;
    mirror_free(f->m);
    sync_clear(f);
    fg_free(f->sync);
    fg_free(f);
}

/* fleet_list_edit - in memory first (it checks the line), then Redis; undone if Redis does not take it */
int fleet_list_edit(fleet *f, fg_list *l, int add, const char *text, char *err, size_t errlen)
{
    char ekey[1024], rkey[MIRROR_KEY_MAX];
    size_t klen;

    if (!entry_key(text, ekey, sizeof ekey) || !(klen = record_key(list_name(l), ekey, rkey, sizeof rkey))) {
        snprintf(err, errlen, "an entry needs a key of at most %d bytes", MIRROR_KEY_MAX - 64);
        return -1;
    }
    if (!f) {
        snprintf(err, errlen, "list %s is kept in the store, and this store shares nothing", list_name(l));
        return -1;
    }
    mirror_stats ms;
    mirror_get_stats(f->m, &ms);
    if (!ms.up) {
        /* not listening: this daemon may have missed changes, and an edit now could undo one */
        snprintf(err, errlen, "the store is unavailable: list %s is unchanged", list_name(l));
        return -1;
    }
    size_t n = list_lines(l);
    char **old = fg_malloc((n + 1) * sizeof *old);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        char kb[1024];
        old[i] = fg_strdup(list_line_at(l, i));
        entry_key(old[i], kb, sizeof kb);
        found |= !strcmp(kb, ekey);
    }
    int rc = -1;
    if (!add && !found) {
        snprintf(err, errlen, "%s is not in list %s", text, list_name(l));
    } else if (list_replace(l, ekey, add ? text : NULL, err, errlen) == 0) {
        mirror_rec r = {KEY_LIST, (const uint8_t *)rkey, klen, (const uint8_t *)text, strlen(text), 0};
        rc = add ? mirror_put(f->m, &r) : mirror_del(f->m, KEY_LIST, (const uint8_t *)rkey, klen);
        if (rc < 0) {
            snprintf(err, errlen, "the store is unavailable: list %s is unchanged", list_name(l));
            list_set_lines(l, (const char *const *)old, n, NULL, 0);
        }
    }
    for (size_t i = 0; i < n; i++)
        fg_free(old[i]);
    fg_free(old);
    return rc;
}

/* fleet_stats - the mirror's counters */
void fleet_stats(const fleet *f, mirror_stats *out)
{
    memset(out, 0, sizeof *out);
    if (f)
        mirror_get_stats(f->m, out);
}
