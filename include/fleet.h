/*
 * fleet - what a floodgated shares with the others of its fleet beyond counters: lists kept in the store
 * (`store = true`, class 29) and, through the same mirror, bans (classes 27/28)
 *
 * With a Redis store (redis, or sharded: its first server) the daemon keeps these in memory, as it must to
 * answer without a round trip, and a fleet mirror (mirror.h) carries every change to the other daemons and
 * reads the whole set again after each reconnect. With the embedded store there is no fleet: fleet_new
 * returns NULL and lists in the store are refused at load.
 *
 * Lists kept in the store: a record's key is the list's name, a NUL and the entry's key (its first word,
 * without a leading '@', lower-cased); the value is the line ("key value..." for a map). An edit through
 * floodgatectl is written to Redis first and refused when Redis is away, so that what one daemon shows is
 * what all will; a resync replaces a stored list's lines with what Redis holds.
 */
#ifndef FG_FLEET_H
#define FG_FLEET_H

#include <stddef.h>

#include "list.h"
#include "mirror.h"

struct server;
typedef struct fleet fleet;

/* fleet_new - the fleet link for s's store (NULL: the embedded store, nothing to share) */
fleet *fleet_new(struct server *s);
void fleet_free(fleet *f);
/* fleet_list_edit - add a line to (add=1) or delete a key from (add=0) a list kept in the store: in memory,
 * then in Redis; 0, or -1 with a message (nothing changed) */
int fleet_list_edit(fleet *f, fg_list *l, int add, const char *text, char *err, size_t errlen);
/* fleet_stats - the mirror's counters (zeroes without a fleet) */
void fleet_stats(const fleet *f, mirror_stats *out);

#endif
