/*
 * statestore_file - the embedded store's durable state: an append-only journal folded into the snapshot
 *
 * What: the statestore (statestore.h) of the embedded store. Every put and del is appended to a
 * journal beside the snapshot, SNAPSHOT.banlog; the owners' records (bans 27, history 28, lists 29:
 * the classes of the registered owners) also go into the snapshot itself (a snapshot_extra hook) each
 * time it is written, and the journal then starts again. At start: the snapshot, then the journal
 * replayed on top (load).
 *
 * Why this way: a ban must be on disk within 1 s of being made (kill -9 a second later loses
 * nothing), and the event loop must never wait for a disk. The loop only appends the framed record to
 * a buffer under a mutex (a memcpy); one writer thread writes the buffer out at once (in the kernel's
 * page cache, safe from a kill, within milliseconds) and calls fdatasync at most once a second (safe
 * from a power cut within about a second). The snapshot, written by a forked child (snapshot.h),
 * holds the whole state as of the fork, so the journal is cut there:
 *
 *     fork:         the writer renames SNAPSHOT.banlog to SNAPSHOT.banlog.prev and starts a new
 *                   journal for the changes made after the fork
 *     child ok:     .prev is removed (the snapshot holds it)
 *     child failed: the new journal is appended to .prev, which is renamed back over the journal
 *     foreground snapshot (at stop): the journal is emptied
 *
 * These steps are markers in the writer's queue, so they happen at the exact point of the stream of
 * changes where the fork happened. A crash between any two steps leaves files that load right: every
 * record is absolute, so replaying a journal that overlaps the snapshot (or .prev, then the journal)
 * ends in the same state.
 *
 * Journal format (little-endian):
 *
 *     "FGBANJ1\n"
 *     records: body_len (u32) hash64(body) (u64) body
 *     body:    op (u8: 1 put, 2 del) class (u8) klen (u16) vlen (u16) expires (u64, wall-clock
 *              seconds, 0 = never) key value
 *
 * Loading: a record cut short by the end of the file (the torn last write of a killed process) is
 * ignored with a warning; a record with a bad checksum, an impossible length or one its owner cannot
 * decode makes the file "damaged": what was read before it stays applied, the file is renamed FILE.bad
 * with a warning, and the daemon starts. After anything unusual (a torn tail, a damaged file, a .prev
 * left by a crash during a snapshot) the journal is rewritten whole from the owners' state (dump), so
 * appending starts on a clean file that holds everything.
 *
 * SECURITY: the journal and the snapshot are the daemon's own files (0600); a damaged or hostile file
 * costs one pass over it: every length is bounded and checked against the file before it is read, and
 * the owners decode values with checks.
 *
 * BUGS
 *     The journal grows with every change between snapshots (store.snapshot_interval, 1 min by
 *     default). Changes waiting for the disk are bounded by STATESTORE_QUEUE_MAX bytes, past which they
 *     are counted as failures and kept by the next snapshot only.
 */
#ifndef FG_STATESTORE_FILE_H
#define FG_STATESTORE_FILE_H

#include <stdint.h>

#include "snapshot.h"
#include "statestore.h"

#define STATESTORE_JOURNAL_SUFFIX ".banlog"         /* beside the snapshot */
#define STATESTORE_QUEUE_MAX (64u * 1024 * 1024)    /* bytes waiting for the writer */
#define STATESTORE_SYNC_MS 1000                     /* fdatasync at most this often */

/* The calls below take any statestore (or NULL) and do nothing (NULL) unless it is a statestore_file, so that
 * the daemon's snapshot code calls them whatever keeps its state. */

/* statestore_file_new - the journal beside the snapshot at snapshot_path (owners register, then load) */
statestore *statestore_file_new(const char *snapshot_path, statestore_log_fn log);
/* statestore_file_hook - the snapshot hook for the owners' classes; loading drops what expired by now_wall (s) */
const snapshot_extra *statestore_file_hook(statestore *st, uint64_t now_wall);
/* statestore_file_forked - a snapshot child was just forked: it holds every change made so far */
void statestore_file_forked(statestore *st);
/* statestore_file_written - that child's outcome (ok: its snapshot replaced the old one) */
void statestore_file_written(statestore *st, int ok);
/* statestore_file_saved - a snapshot holding every change made so far was written in the foreground */
void statestore_file_saved(statestore *st);
/* statestore_file_wait - until the writer has handled everything queued before the call (tests) */
void statestore_file_wait(statestore *st);
/* statestore_file_journal - the journal's path */
const char *statestore_file_journal(const statestore *st);

#endif
