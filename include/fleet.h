/*
 * fleet - lists kept in the store (`store = true`, class 29), and the statestore of a fleet on Redis
 *
 * A list kept in the store has no file: its lines are records of the server's statestore (statestore.h),
 * owned here. With the embedded store that is the journal beside store.snapshot and the snapshot itself,
 * so a stored list survives a restart like a ban. With a Redis store (redis, cluster, or sharded: its
 * first store) it is the fleet mirror (statestore_redis.h, made by fleet_state_new): an edit through any
 * daemon's floodgatectl reaches every daemon, and a daemon that starts or reconnects reads the list whole.
 * The daemon keeps every stored list in memory, so a lookup is never a round trip.
 *
 * A record's key is the class byte (29), the list's name, a NUL and the entry's key (its first word,
 * without a leading '@', lower-cased); the value is the line ("key value..." for a map). A second add of
 * a key replaces its line. With Redis, an edit is refused while the mirror does not listen, so that what one
 * daemon shows is what all will. A stored list that a reload adds reads its entries from the fleet at once
 * (fleet_lists_load: a resync of the mirror).
 *
 * BUGS
 *     With the embedded store, a stored list that a reload adds starts empty: the journal and the snapshot
 *     are read at start only (and the records of a list no rule kept are not kept either).
 */
#ifndef FG_FLEET_H
#define FG_FLEET_H

#include <stddef.h>

#include "list.h"
#include "mirror.h"
#include "statestore.h"
#include "statestore_redis.h"

struct server;
typedef struct fleet fleet;

/* fleet_new - the owner of stored lists in st (NULL st: none kept, NULL returned) */
fleet *fleet_new(struct server *s, statestore *st);
void fleet_free(fleet *f);
/* fleet_list_edit - add a line to (add=1) or delete a key from (add=0) a list kept in the store: in memory,
 * then in the store; 0, or -1 with a message (nothing changed) */
int fleet_list_edit(fleet *f, fg_list *l, int add, const char *text, char *err, size_t errlen);
/* fleet_lists_load - read the stored lists' entries from the store again (with Redis: a resync of the fleet
 * mirror, on the loop; the embedded store's journal was read at start only) */
void fleet_lists_load(fleet *f);
/* fleet_state_new - the statestore of a Redis store: the fleet mirror on its (first) server or cluster; NULL
 * for the embedded store (the clock reads the wall clock in seconds; its argument is s) */
statestore *fleet_state_new(struct server *s, statestore_redis_clock clock);
/* fleet_mirror_stats - the fleet mirror's counters; 0, or -1 (zeroes) when the daemon has none */
int fleet_mirror_stats(struct server *s, mirror_stats *out);

#endif
