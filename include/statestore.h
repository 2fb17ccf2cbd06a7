/*
 * statestore - durable records of the state kept outside the counters' table: bans (class 27), ban
 * history (28), lookup lists (29)
 *
 * What: one interface between an in-memory owner of such state (the ban index, ban.h; the lists) and
 * where it is kept beyond the process. A record is generic: a class byte, key bytes, value bytes and a
 * wall-clock expiry; the owner encodes and decodes its own records (banstate.h for bans). An
 * implementation:
 *
 *     load    at start, hands every record it keeps to the owners' apply callbacks, in order
 *     put     records "this key is now this value, until then"; on the loop, never blocking
 *     del     records "this key is gone"; the same
 *
 * and may call an owner's apply later too (Redis: a change another daemon published, as mirror.h carries
 * it) and its dump (every current record: the embedded snapshot, a journal rewrite).
 *
 *     statestore_file   the embedded store's: an append-only journal beside the snapshot, folded into
 *                       the snapshot when that is written (statestore_file.h)
 *     (Redis)           the networked stores': the fleet mirror (mirror.h) behind this interface (to come)
 *
 * Why: issue 8 item 4 (a ban is on disk within 1 s; kill -9 loses nothing; a damaged file is set aside)
 * and issue 10 (the embedded snapshot and journal are one implementation of the interface, not a reach
 * into mem.c; bans and lists reach the fleet through another).
 *
 * Owners ("clients") register the classes they own with statestore_client(); a record of a class
 * nobody owns is skipped. Every record is absolute ("key is now X", "key is gone"), so replaying
 * records onto a state that already holds some of them ends in the same state: a journal may overlap
 * the snapshot, and a resync may overlap the pub/sub stream, without harm.
 *
 * INVARIANTS
 *     apply during load never causes a put or del back (owners attach their change listeners after
 *     load). put and del copy what they are given and never wait for a disk or a network. Callbacks
 *     run on the daemon's loop.
 *     A put whose expiry is already past when loaded is handed to apply as a del, so that it still
 *     overrides an older put of the same key.
 */
#ifndef FG_STATESTORE_H
#define FG_STATESTORE_H

#include <stddef.h>
#include <stdint.h>

#define STATESTORE_CLIENTS 4   /* owners per store: bans and history, lists, ... */
#define STATESTORE_KEY_MAX 0xfffe   /* key bytes (u16 on disk; 0xffff is the snapshot's trailer) */
#define STATESTORE_VALUE_MAX 0xffff /* value bytes */

enum state_op { STATE_PUT = 1, STATE_DEL = 2 };

/* state_rec - one record; the pointers are valid during the call that hands it over */
typedef struct state_rec {
    uint8_t cls;                /* key class (keys.h): 27 bans, 28 ban history, 29 lists */
    const unsigned char *key;   /* the whole key, its class byte first (keys.h layout) */
    size_t klen;
    const unsigned char *value; /* STATE_PUT only; NULL/0 for a del */
    size_t vlen;
    uint64_t expires;           /* wall-clock seconds since the epoch; 0 = never (as ban_rec and mirror_rec) */
} state_rec;

/* state_apply_fn - a loaded (or, with Redis, remotely made) change for the owner; 0, or -1 if the record
 * does not decode (the implementation then treats its source as damaged) */
typedef int (*state_apply_fn)(int op, const state_rec *r, void *arg);
/* state_emit_fn - hand one current record to the implementation; non-zero: stop, writing failed */
typedef int (*state_emit_fn)(void *w, const state_rec *r);
/* state_dump_fn - every current record of the owner through emit(w, ...); non-zero if emit failed. May run
 * in a forked child (the snapshot writer): it must only read the owner's state */
typedef int (*state_dump_fn)(state_emit_fn emit, void *w, void *arg);

/* statestore_log_fn - a message (levels of log.h: 3 error, 4 warning, 6 info); may be called from any thread */
typedef void (*statestore_log_fn)(int level, const char *fmt, ...);

typedef struct statestore_stats {
    uint64_t loaded;            /* records handed to owners at load */
    uint64_t records;           /* puts and dels recorded since start */
    uint64_t failures;          /* puts and dels that could not be recorded (kept only by the next full save) */
    uint64_t syncs;             /* journal: fdatasync calls */
    uint64_t set_aside;         /* damaged files renamed FILE.bad */
} statestore_stats;

typedef struct statestore statestore;

typedef struct statestore_vt {
    const char *name;                                                   /* "file", "redis" */
    /* load - hand every kept record to its owner's apply, in order; records handed over (a networked store may
     * answer 0 and deliver them once connected, asynchronously), or -1 */
    long (*load)(statestore *st, uint64_t now_wall);
    void (*put)(statestore *st, const state_rec *r);
    void (*del)(statestore *st, uint8_t cls, const unsigned char *key, size_t klen);
    void (*stats)(statestore *st, statestore_stats *out);               /* a copy (taking any lock) */
    void (*free)(statestore *st);                                       /* flush what is queued, free */
} statestore_vt;

typedef struct state_client {
    uint8_t first_cls, last_cls; /* the classes it owns */
    state_apply_fn apply;
    state_dump_fn dump;
    void *arg;
} state_client;

struct statestore {
    const statestore_vt *vt;
    statestore_log_fn log;                     /* never NULL */
    state_client clients[STATESTORE_CLIENTS];
    unsigned nclients;
};

/* statestore_client - register an owner of classes [first_cls, last_cls]; 0, or -1 when all slots are taken */
int statestore_client(statestore *st, uint8_t first_cls, uint8_t last_cls, state_apply_fn apply, state_dump_fn dump,
                      void *arg);
/* statestore_owner - the owner of cls, or NULL */
const state_client *statestore_owner(const statestore *st, uint8_t cls);
/* statestore_apply - hand a record to its owner (an implementation's helper: a past expiry makes a put a del);
 * 1 if nobody owns its class, else the owner's answer */
int statestore_apply(statestore *st, int op, const state_rec *r, uint64_t now_wall);
/* statestore_dump - every owner's records through emit */
int statestore_dump(statestore *st, state_emit_fn emit, void *w);

/* statestore_load, _put, _del, _stats, _free - through the implementation; free(NULL) is fine */
long statestore_load(statestore *st, uint64_t now_wall);
void statestore_put(statestore *st, const state_rec *r);
void statestore_del(statestore *st, uint8_t cls, const unsigned char *key, size_t klen);
void statestore_stats_get(statestore *st, statestore_stats *out);
void statestore_free(statestore *st);

#endif
