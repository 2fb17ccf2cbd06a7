/*
 * snapshot - the embedded store's state on disk, so that a restart loses no greylist pass or ban
 *
 * The file holds the keys of the classes that must survive a restart
 * (greylist tokens and passes 16, bans 27, ban history 28; rate-limit
 * counters are not kept: they refill within their window) with their
 * expiry:
 *
 *     "FGSNAP2\n"
 *     header:  written_wall_ms (u64): the writer's wall clock when it wrote the file
 *     records: klen (u16) vlen (u16) expires_ms (u64) key value   (little-endian)
 *     trailer: klen = 0xffff, vlen = 0, count (u64), hash64 of every byte before the trailer (u64)
 *
 * Dates on disk are wall-clock ms since the epoch (expires_ms, UINT64_MAX =
 * never; and the dates inside values: a greylist triplet's first sight).
 * In memory they are daemon-clock ms (monotonic, see server.h), so the
 * writer converts at its own (daemon, wall) pair of "now" and the loader
 * converts back at its own: a date keeps its remaining time across a
 * restart, across downtime (the wall clock measures it), and across a
 * wall-clock step while the daemon ran (the daemon clock ignores it; the
 * conversion uses the wall clock of the moment of writing). A loader whose
 * wall clock reads earlier than the writer's (a step back during
 * downtime) counts no downtime rather than a negative one, so a restart
 * never lengthens a remaining time. A class whose values hold dates
 * converts them in snapshot.c (shift_value); today only greylist triplets.
 * "FGSNAP1\n" files (no header, dates in wall ms) still load.
 *
 * It is written to a temp file beside it, fsync'ed and renamed, so a crash
 * leaves the old snapshot whole. The daemon writes it from a forked child
 * (copy-on-write, as Redis's BGSAVE: the event loop does not wait for the
 * disk) on a timer, and in the foreground at shutdown. A file that does not
 * check out (truncated, corrupt) is not loaded at all, and the daemon says so.
 *
 * Classes kept outside the table (bans 27 and ban history 28 live in the ban
 * index, policy/ban.c) join the same file through a snapshot_extra hook: its
 * write() appends their records (dates already in wall ms), and the loader
 * hands records of its classes to its load() instead of the table, with the
 * dates as written. Table keys of those classes are then not written.
 */
#ifndef FG_SNAPSHOT_H
#define FG_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"

/* snapshot_put_fn - append one record to the snapshot being written (expires in wall ms, UINT64_MAX = never);
 * non-zero once writing failed */
typedef int (*snapshot_put_fn)(void *w, const unsigned char *key, size_t klen, const void *value, size_t vlen,
                               uint64_t expires_wall_ms);

/* snapshot_extra - a state kept in the snapshot besides the table's keys (the ban index: banstate_file.h) */
typedef struct snapshot_extra {
    unsigned char first_class, last_class; /* the classes it owns (keys.h) */
    /* write - append its records through put(w, ...); may run in a forked child; non-zero on failure */
    int (*write)(snapshot_put_fn put, void *w, void *arg);
    /* load - one of its records, the file having checked out whole; dates in wall ms as written (a record
     * it cannot read is its own to report: the loader goes on) */
    int (*load)(const unsigned char *key, size_t klen, const void *value, size_t vlen, uint64_t expires_wall_ms,
                void *arg);
    void *arg;
} snapshot_extra;

/* snapshot_keeps - is a key of a class that snapshots keep? */
int snapshot_keeps(const unsigned char *key, size_t klen);
/* snapshot_write - write the kept keys of m to path; now_ms (daemon clock) and wall_ms (wall clock) are the
 * same instant; returns keys written, -1 with a message */
long snapshot_write(mem_store *m, const char *path, uint64_t now_ms, uint64_t wall_ms, char *err, size_t errlen);
/* snapshot_load - put the live keys of the file into m, their dates moved onto the daemon clock whose now_ms
 * is wall_ms on the wall clock; returns keys loaded, 0 if there is no file, -1 with a message */
long snapshot_load(mem_store *m, const char *path, uint64_t now_ms, uint64_t wall_ms, char *err, size_t errlen);
/* snapshot_write_with, snapshot_load_with - the same with an extra state (x may be NULL); the count includes
 * its records */
long snapshot_write_with(mem_store *m, const snapshot_extra *x, const char *path, uint64_t now_ms, uint64_t wall_ms,
                         char *err, size_t errlen);
long snapshot_load_with(mem_store *m, const snapshot_extra *x, const char *path, uint64_t now_ms, uint64_t wall_ms,
                        char *err, size_t errlen);

#endif
