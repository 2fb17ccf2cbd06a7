/*
 * mirror - records that every floodgated of a fleet keeps in memory, shared through Redis
 *
 * What: bans (class 27), ban history (28) and lists kept in the store (29) are read on every request, so each
 * daemon holds them in memory (the ban index, the lists) and a change made through any daemon must reach all
 * of them within a second. A mirror carries such changes: mirror_put / mirror_del write a record (class byte,
 * key bytes, value bytes, wall-clock expiry) to Redis and publish it; every daemon's mirror hears the others'
 * changes and hands them to its apply callback. After every (re)connect of its subscriber the mirror reads the
 * whole set again (a resync: MIRROR_SYNC_BEGIN, a MIRROR_SYNC_PUT for each record, MIRROR_SYNC_END per
 * class), so a daemon that missed messages while Redis was away catches up; the consumer drops what the
 * resync did not mention. A class ends when a marker the mirror publishes after its last page is heard back on
 * the subscriber: every change published before that page was read (a del the page no longer shows) has then
 * been handed over, so the consumer never mistakes a record deleted meanwhile for one missing from Redis.
 *
 * Why here: the counters layer owns the store's servers; the policy layer only knows records. Nothing here
 * blocks: two hiredis async connections on the daemon's loop (rconn.h), one for writes and reads, one that
 * only listens (SUBSCRIBE).
 *
 * Layout in Redis (documented for other tools): one hash per class, named by the class byte, 0xff and
 * "mirror" (so it never meets a rule's key, whose second byte is a name length below 128), and on a Redis
 * Cluster then the hash tag "{floodgate:mirror}" (so the three hashes share one slot); field = the record's
 * key, value = 8 bytes of expiry (big-endian wall-clock seconds, 0 = never) then the record's value. Each
 * hash's empty field (never a record's key) holds its epoch: 16 random bytes, set by the first resync that
 * finds none, so a resync can tell a hash Redis lost (restarted empty, flushed, evicted: a new epoch) from one
 * whose records were deleted. Changes are published on the channel "floodgate:mirror:DB" as: 16 bytes of the sender's random id, op (1 put, 2 del),
 * class, 8 bytes of expiry, 2 bytes of key length (big-endian), key, value. A daemon ignores its own messages
 * but its resync's markers (op 3, the class, the resync's generation in place of the expiry, no key), which the
 * others ignore.
 *
 * INVARIANTS
 *     The apply callback runs on the loop, never from inside mirror_put/mirror_del. Pointers it gets are valid
 *     only during the call. An expired record may be handed over (a resync does not filter by time): the
 *     consumer expires it as it would its own, and calls mirror_expired so that the hash does not keep it; the
 *     records nobody reads again are removed by mirror_sweep, which the consumer calls now and then.
 *
 * A write that Redis did not take because the connection was refused or lost makes the mirror resync once the
 * connection is back (even if the subscriber never noticed the outage), so that the consumer can write back
 * what it changed meanwhile; a del that was sent but lost is handed back as MIRROR_UNWRITTEN.
 *
 * A resync that meets an error reply (a key of the wrong type, OOM, ...) starts again after a delay doubling
 * from 100 ms to 5 s, logged once (cfg->log) until a resync finishes; one cut by a lost connection starts again
 * when the connection is back.
 *
 * BUGS
 *     A write is not retried by the mirror itself: the consumer writes back at the next resync. One server (or
 *     the first server of a sharded store), or one slot of a cluster, holds the hashes: one master takes every
 *     change. On a cluster the mirror keeps its own connections to the masters (as many again as the store's).
 *     A resync reads the whole set, so a million bans cost a million hash fields read after every reconnect (in
 *     pages, without blocking), and a server slower than the timeout to confirm a heartbeat (cfg->heartbeat_ms)
 *     costs one.
 */
#ifndef FG_MIRROR_H
#define FG_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "cluster.h"
#include "rconn.h"

/* MIRROR_SYNC_PUT: a record read by a resync (it may be older than a change heard meanwhile);
 * MIRROR_UNWRITTEN_PUT / _DEL: a mirror_put / mirror_del of this daemon that was sent but did not reach Redis
 * (connection lost, error reply): only cls and key are set */
enum mirror_op { MIRROR_PUT = 1, MIRROR_DEL = 2, MIRROR_SYNC_BEGIN = 3, MIRROR_SYNC_END = 4, MIRROR_SYNC_PUT = 5,
                 MIRROR_UNWRITTEN_PUT = 6, MIRROR_UNWRITTEN_DEL = 7 };

#define MIRROR_CLASSES_MAX 4      /* classes one mirror carries */
#define MIRROR_KEY_MAX 1024       /* bytes of a record's key */
#define MIRROR_VALUE_MAX 65536    /* bytes of a record's value */

typedef struct mirror_rec {
    uint8_t cls;
    const uint8_t *key;
    size_t klen;
    const uint8_t *val;       /* NULL for MIRROR_DEL and the SYNC markers */
    size_t vlen;
    uint64_t expires;         /* wall-clock seconds, 0 = never */
} mirror_rec;

/* mirror_apply_fn - a change from another daemon, or a step of a resync (op: enum mirror_op; for the SYNC
 * markers only r->cls is set) */
typedef void (*mirror_apply_fn)(int op, const mirror_rec *r, void *arg);

typedef struct mirror mirror;

typedef struct mirror_stats {
    uint64_t sent;            /* changes written and published */
    uint64_t received;        /* changes of other daemons applied */
    uint64_t resyncs;         /* full reads finished */
    uint64_t failed;          /* writes Redis did not take (away, or refused) */
    uint64_t moves;           /* a cluster's subscriber moved to another node */
    uint64_t swept;           /* expired records removed from the hashes by sweeps */
    int up;                   /* the subscriber is listening */
} mirror_stats;

/* mirror_new - a mirror of the given classes on the Redis server of url (cfg: timeouts, the subscriber's
 * heartbeat; cfg->log gets the mirror's own messages, a resync that meets an error reply and is retried: once
 * until one succeeds, and a server that did not answer the subscriber's heartbeat: once per outage; its
 * connections log nothing, the store's connection reports outages; its script, subscribe and state fields are
 * the mirror's own); NULL with err if the host cannot be resolved */
mirror *mirror_new(struct event_base *base, const rconn_url *url, const rconn_config *cfg, const uint8_t *classes,
                   unsigned nclasses, mirror_apply_fn apply, void *arg, char *err, size_t errlen);
/* mirror_new_cluster - the same on a Redis Cluster found from seeds (database 0): the hashes carry the hash
 * tag {floodgate:mirror}, so one slot's master holds them (followed through MOVED and ASK); the subscriber
 * listens on the first seed, and on another node that is up when that one stays down */
mirror *mirror_new_cluster(struct event_base *base, const rconn_url *seeds, unsigned nseeds, const rconn_config *cfg,
                           const uint8_t *classes, unsigned nclasses, mirror_apply_fn apply, void *arg, char *err,
                           size_t errlen);
/* mirror_free - close both connections (no callback is called); NULL is fine */
void mirror_free(mirror *m);
/* mirror_put - write and publish a record; 0, or -1 when Redis is away or the record is too large */
int mirror_put(mirror *m, const mirror_rec *r);
/* mirror_del - remove and publish; 0, or -1 when Redis is away */
int mirror_del(mirror *m, uint8_t cls, const uint8_t *key, size_t klen);
/* mirror_expired - drop the record from the hash if it still has this expiry or an earlier one (not published:
 * every daemon expires it by itself); 0, or -1 when Redis is away */
int mirror_expired(mirror *m, uint8_t cls, const uint8_t *key, size_t klen, uint64_t expires);
void mirror_get_stats(const mirror *m, mirror_stats *out);
/* mirror_resync - read the whole set again now (or as soon as both connections are up) */
void mirror_resync(mirror *m);
/* mirror_sweep - remove every record whose expiry (not 0) is now or earlier from the hashes, in pages of 512
 * (a script each, on the server: nothing is read back); one sweep at a time. 0: started (or one is going), -1:
 * Redis is away */
int mirror_sweep(mirror *m, uint64_t now);
/* mirror_sync_lost - during a class's resync (from its MIRROR_SYNC_BEGIN to its MIRROR_SYNC_END): Redis may
 * have lost the class's records since this mirror last read them (its first read, or a new epoch in the hash:
 * restarted empty, flushed, evicted), so what it lacks may be missing rather than deleted */
int mirror_sync_lost(const mirror *m);

#endif
