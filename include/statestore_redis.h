/*
 * statestore_redis - the networked stores' statestore: bans, ban history and stored lists shared by a fleet
 *
 * The fleet mirror (mirror.h) behind statestore.h: a put or del is written to the Redis server and published
 * at once; another daemon's change is handed to the class's owner (statestore_apply) as it is heard. load()
 * hands nothing over by itself: the records come with the mirror's first resync, once the subscriber
 * listens (asynchronously, on the loop), and again after every reconnect.
 *
 * A resync ends, per class, by comparing with what the owner holds (its dump):
 *   - merged classes (bans 27, history 28: made while Redis is away too): a record the owner holds that
 *     Redis did not is written back, so that an outage loses no ban;
 *   - other classes (stored lists 29: edited only while connected): it is deleted from the owner, so that
 *     the owner ends with exactly what Redis holds.
 * A record whose expiry has passed is handed over as a del (statestore_apply) and dropped from the hash.
 *
 * BUGS
 *     An unban made elsewhere while this daemon was cut off is undone by the write-back of the merge (a ban
 *     survives an outage; an unban may not). One Redis server (a sharded store's first), or one slot of a
 *     cluster, holds the records.
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
/* statestore_redis_mirror - the mirror's counters (floodgatectl stats) */
void statestore_redis_mirror(statestore *st, mirror_stats *out);

#endif
