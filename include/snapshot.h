/*
 * snapshot - the embedded store's state on disk, so that a restart loses no greylist pass or ban
 *
 * The file holds the keys of the classes that must survive a restart
 * (greylist tokens and passes 16, bans 27, ban history 28; rate-limit
 * counters are not kept: they refill within their window) with their
 * remaining expiry:
 *
 *     "FGSNAP1\n"
 *     records: klen (u16) vlen (u16) expires_ms (u64) key value   (little-endian)
 *     trailer: klen = 0xffff, vlen = 0, count (u64), hash64 of every byte before the trailer (u64)
 *
 * It is written to a temp file beside it, fsync'ed and renamed, so a crash
 * leaves the old snapshot whole. The daemon writes it from a forked child
 * (copy-on-write, as Redis's BGSAVE: the event loop does not wait for the
 * disk) on a timer, and in the foreground at shutdown. A file that does not
 * check out (truncated, corrupt) is not loaded at all, and the daemon says so.
 */
#ifndef FG_SNAPSHOT_H
#define FG_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/* snapshot_keeps - is a key of a class that snapshots keep? */
int snapshot_keeps(const unsigned char *key, size_t klen);
/* snapshot_write - write the kept keys of m to path; returns keys written, -1 with a message */
long snapshot_write(mem_store *m, const char *path, uint64_t now_ms, char *err, size_t errlen);
/* snapshot_load - put the live keys of the file into m; returns keys loaded, 0 if there is no file, -1 with a message */
long snapshot_load(mem_store *m, const char *path, uint64_t now_ms, char *err, size_t errlen);

#endif
