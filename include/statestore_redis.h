/*
 * statestore_redis - the networked stores' statestore: bans, ban history and stored lists shared by a fleet
 *
 * The fleet mirror (mirror.h) behind statestore.h: a put or del is written to the Redis server and published
 * at once; another daemon's change is handed to the class's owner (statestore_apply) as it is heard. load()
 * hands nothing over by itself: the records come with the mirror's first resync, once the subscriber
 * listens (asynchronously, on the loop), and again after every reconnect.
 *
 * A resync ends, per class, by comparing with what the owner holds (its dump):
 *   - merged classes (bans 27, history 28: made while Redis is away too): a record the owner put while Redis
 *     was away (its put refused or lost) is written back, so that an outage loses no ban; any other record
 *     the owner holds that Redis did not is written back if Redis may have lost it (the mirror's first read,
 *     or a new epoch in its hash: mirror_sync_lost), else deleted from the owner (another daemon deleted it while this one
 *     was not listening);
 *   - other classes (stored lists 29: edited only while connected): it is deleted from the owner, so that
 *     the owner ends with exactly what Redis holds.
 * A record whose expiry has passed is handed over as a del (statestore_apply) and dropped from the hash; and
 * every 10 minutes (plus a random minute at most) the hashes are swept of expired records (mirror_sweep), so
 * that bans and history entries nobody reads again do not pile up in Redis.
 *
 * An unban (a del of a merged class) that does not reach Redis is kept as a tombstone until a resync writes
 * it back: the stale record the hash (and the other daemons) still hold does not bring the ban back.
 *
 * BUGS
 *     A ban made elsewhere while this daemon was cut off, and unbanned here meanwhile, is lifted by the
 *     write-back (the delete wins). When Redis comes back empty or a hash was evicted (a new epoch), a ban
 *     unbanned on one daemon during the outage may be written back by another daemon's merge. A Redis restored from an older save
 *     keeps its epoch: the daemons take its records as whole; so does a replica promoted by a failover, so a
 *     write acknowledged by the old master but never replicated is dropped by every daemon at the next resync
 *     (before, a merge wrote back whatever Redis lacked). One Redis server (a sharded store's first), or one
 *     slot of a cluster, holds the records. A daemon that starts while Redis is away reads the fleet's bans when
 *     it comes back, and that first resync restores them quietly (statestore_redis_on_restore): a ban made
 *     elsewhere during the outage runs no hook on this daemon.
 */
#ifndef FG_STATESTORE_REDIS_H
#define FG_STATESTORE_REDIS_H

#include <event2/event.h>

#include "mirror.h"
#include "statestore.h"

/* statestore_redis_clock - the wall clock in seconds (injected by tests) */
typedef uint64_t (*statestore_redis_clock)(void *arg);

/* statestore_redis_new - a statestore carrying classes 27, 28 and 29 on the Redis server of urls[0], or
 * (cluster) on the Redis Cluster found from the nurls seeds; NULL with err if a host cannot be resolved */
statestore *statestore_redis_new(struct event_base *base, const rconn_url *urls, unsigned nurls, int cluster,
                                 const rconn_config *cfg, statestore_redis_clock clock, void *clock_arg,
                                 statestore_log_fn log, char *err, size_t errlen);
/* statestore_redis_restore_fn - the mirror's first resync since the start of class cls: on = 1 just before one
 * of its records is handed to the class's owner, 0 just after, -1 when the class has been read whole (later
 * resyncs, after a reconnect, call nothing). Its records were made before this daemon listened: the daemon
 * restores them quietly, as it restores its snapshot (bansrv_fleet_restore) */
typedef void (*statestore_redis_restore_fn)(uint8_t cls, int on, void *arg);
/* statestore_redis_on_restore - fn (NULL: none) is told of the first resync's records */
void statestore_redis_on_restore(statestore *st, statestore_redis_restore_fn fn, void *arg);
/* statestore_redis_resync - read every record again and hand it over (an owner that has something new to own,
 * such as a stored list a reload added) */
void statestore_redis_resync(statestore *st);
/* statestore_redis_mirror - the mirror's counters (floodgatectl stats) */
void statestore_redis_mirror(statestore *st, mirror_stats *out);

#endif
