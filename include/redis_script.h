/*
 * redis_script - what floodgate sends to Redis: key names, the batch
 * script, and the hashes that place a key on a shard and a slot
 *
 * A batch (or the part of it that lives on one server and one slot) is ONE
 * script call: EVALSHA of REDIS_SCRIPT_TEXT with every key of the part, one
 * binary argument holding six "<i8" numbers per operation (ARGV[4], below),
 * then a several-window operation's other windows and the kv and distinct
 * operands; the batches of several requests for one server may share the
 * call (several parts, below). The script runs the operations in order with
 * the embedded store's semantics (mem.c): a check phase that stops at the
 * first refusal, then, only if nothing refused and the batch commits, one
 * event added to every window. So on one server a batch is atomic and costs
 * one round trip, whatever the number of rules.
 *
 * Key names. A store key (keys.h) is binary; its Redis name is
 *     "{" + 16 lower-case hex digits of FNV-1a-64(identity) + "}" + key bytes
 * where the identity is the key itself, except for a greylist step, whose
 * triplet and client keys both take the client key as identity so that the
 * step's two keys share one slot. The braces are a Redis Cluster hash tag,
 * so one counter is one key on one slot; the sharded store sends a key to
 * shard FNV-1a-64(identity) mod N. FNV-1a-64: offset basis
 * 14695981039346656037, prime 1099511628211, over the bytes. Both are fixed
 * and documented (README) so that other tools can find a key; neither is
 * the process-keyed table hash of the embedded store.
 *
 * Values in Redis (little-endian, Lua struct formats):
 *     window   "<I8I8I2I8I8I4" head bucket, per_ms, k, logical expiry (ms), total of the counts, the head
 *              bucket's count; then k "I4" counts of the older buckets, newest first (head-1 .. head-k).
 *              A count in the head's bucket rewrites total and count in place (SETRANGE, the key's TTL
 *              kept); the expiry moves, and PX is sent, once per bucket. (Before 2026-12: k+1 "I4"
 *              counts in ring order, no total. Each version reads the other's value as empty, so
 *              daemons of both versions on one Redis do not share counts: upgrade a fleet together.)
 *     triplet  "<I8I1I8" first seen, passed, logical expiry (ms)
 *     client   "<I4I8"   passed triplets, logical expiry (ms)
 * A value of another shape reads as empty, as in window.c. Redis expires
 * keys by itself (PX); the logical expiry makes a greylist state read as
 * missing exactly when the embedded store would drop it; the same for a
 * window (the embedded store's window.c and grey.c, read again).
 *
 * Several windows on one key (limit.rates, store_op.nwin > 1): the sixth
 * number of the operation is the number of windows (+16 for STORE_DRY),
 * the first window is in the usual parameters, the others follow the
 * operations as per, count, k triples (in operation order, before the kv
 * operands); the value is the windows' records one after the other, each
 * "<I8I8I2I8" (head bucket, per_ms, k, logical expiry) and k+1 "I4" counts,
 * bucket b in slot b mod (k+1); the reply adds, after the fixed part, each
 * window's total and retry_ms. Such an operation's "bucket" is the time it
 * counted at: a compensation takes one event back from the bucket of that
 * time in each window.
 *
 * Distinct counts (limit.distinct, store_op.flags STORE_DISTINCT): +32 in
 * the sixth number; the window is the usual parameters; the value's
 * fingerprint follows as 8 bytes (little-endian) among the operands, in
 * operation order with the kv operands. The value is distinct.h's flat
 * state, the same bytes as the embedded store's but for the caches, which
 * the script leaves at 0: the script has its own registers (1,024 per
 * bucket) rather than PFADD/PFCOUNT, because Redis's HyperLogLog cannot
 * forget by bucket, uses 16,384 registers and its own hash, so it would
 * neither slide nor give the embedded store's answers. The reply's
 * greylist number is 1 when the value was already counted (seen). No
 * compensation is sent for a distinct operation (its bucket is -1): on a
 * sharded store, a value counted on one shard while another refused stays
 * counted (BUGS).
 *
 * ARGV[2] is 1 to commit, 0 not to, 2 for a read-only call on a replica
 * (EVALSHA_RO: only PEEK operations, nothing written). ARGV[3] is the
 * number of operations n. ARGV[4] is binary, 8 + 48 n bytes of "<i8"
 * numbers: 1 when an operation is not a one-window WINDOW, PEEK, DEL or
 * UNDO (the script makes the other operations' functions only then), then
 * per operation its type, four parameters (window: per_ms, count, k, the
 * bucket of an UNDO; greylist: delay, retry window, pass lifetime,
 * auto-allow; kv: 0, ttl_ms, NX) and the sixth number (flags below).
 * Binary, because Lua's tonumber() of a decimal costs Redis ~800
 * instructions and each argument ~300 more. The other windows' triples
 * (decimal) follow from ARGV[5]; then the operands: of a kv operation its
 * value or token and the amount of an INCR in decimal (any int64, which a
 * Lua number cannot hold); of a distinct operation its fingerprint.
 *
 * Time: ARGV[1] is binary, two "<i8": now and the call's deadline. The
 * script reads the Redis server's TIME (now = 0), so daemons with skewed
 * clocks share one timeline; a non-zero now is the clock in ms, for the
 * tests that compare this script with the embedded store.
 *
 * Deadline: a call that runs when its now is past its deadline (in the
 * same clock: the server's TIME, or the injected one) runs nothing and
 * answers the error "LATE <now> <deadline>"; 0 is no deadline. Its
 * requests were answered on_error already: Redis hung (SIGSTOP, a frozen
 * VM, a fork stall) with the call in its socket buffer, the daemon timed
 * out and closed its end, and Redis ran what it had read once it
 * resumed. Without the deadline such a call counted requests answered
 * DEFER_IF_PERMIT or DUNNO. Several parts in one call have one deadline,
 * the earliest of theirs. A compensation has none: it takes back a count.
 *
 * Reply: an array of 2 + 5n integers: the index (in the part) of the first
 * refusal or -1, the time used, then per operation admitted, total,
 * retry_ms, greylist result, and the bucket a window counted in (-1 none),
 * which a compensating STORE_UNDO needs. When every operation of the call
 * is a one-window WINDOW, PEEK, DEL or UNDO (the first number of ARGV[4]
 * is 0: the usual call), the same numbers come packed in one string, "<i8"
 * each (Redis converts a table's number to a reply for ~600 instructions,
 * 22 of them for a request of 4 limits). A committed part of one-window
 * WINDOW operations (flags 0) that all count in place or anew (each state
 * is of its shape, in now's bucket and under its count, or none: the
 * script's fast path, most requests) answers shorter: "<i8" numbers -2,
 * the time used, then each operation's total after its count; admitted,
 * no retry, and the bucket is now's (window_bucket()), which the daemon
 * fills in. -2 is never a refusal's index, so the two forms cannot be
 * mistaken for one another.
 *
 * Several parts in one call (the batches of several requests for one
 * server, redis_args_parts): ARGV[2] has one commit digit per part and
 * ARGV[3] the parts' numbers of operations, comma-separated ("4,4,1"); the
 * keys, the operations, the other windows and the operands are the parts'
 * one after the other. The script runs each part as a call of its own, in
 * order, at one time (one TIME), and the reply is an array of the parts'
 * replies. One digit in ARGV[2] is the one-part call above.
 *
 * BUGS
 *     A state past its logical expiry is deleted by an operation that
 *     reads its kind (a one-window state by any one-window operation,
 *     whatever its shape); an operation of another kind (a several-window
 *     or distinct limit on the same key, after a rule was edited) leaves it
 *     to Redis's own expiry. Only a clock that then goes back (injected
 *     clocks, or a failover to a server whose clock is behind) can find it
 *     counting again where the embedded store has dropped it.
 *
 *     A distinct value counted on one shard of a sharded store, in a
 *     batch that another shard refused, is not taken back (an HLL cannot
 *     forget one value): it stays counted until it leaves its window.
 *
 *     A compensation of a several-window operation takes the event back
 *     from the bucket of the time it was counted at; when the state was
 *     ahead of that time (a clock that went back, only with injected
 *     clocks or a failover to a server whose clock is behind) the event
 *     was counted in the state's newest bucket instead, and one event of
 *     an older bucket is taken back (or none). A one-window operation
 *     returns its exact bucket and has no such error.
 *
 * SECURITY
 *     Key bytes come from requests; they travel as binary-safe bulk
 *     strings (hiredis argv), never inside script text. Replies are
 *     checked for shape before use: a reply of another shape fails the
 *     batch (status -1), it never indexes past the operations.
 */
#ifndef FG_REDIS_SCRIPT_H
#define FG_REDIS_SCRIPT_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define REDIS_TAG_LEN 18        /* "{" + 16 hex + "}" */
#define REDIS_OP_BYTES 48       /* per operation in ARGV[4]: type, four parameters, flags, each "<i8" */
_Static_assert(REDIS_OP_BYTES == 6 * 8, "the comment above says six numbers per operation");
#define REDIS_REPLY_HEAD 2      /* denied index, time used */
#define REDIS_REPLY_PER_OP 5    /* admitted, total, retry_ms, greylist result, bucket */
#define REDIS_SLOTS 16384       /* Redis Cluster hash slots */
#define REDIS_PARTS_MAX 64      /* batches sent in one script call */

/* STORE_UNDO - a compensating decrement: the script's fifth operation, never in an engine batch */
#define STORE_UNDO 9

extern const char REDIS_SCRIPT_TEXT[];

/* redis_fnv1a64 - FNV-1a 64 of len bytes (the documented shard and tag hash) */
uint64_t redis_fnv1a64(const void *data, size_t len);
/* redis_crc16 - CRC16-CCITT (XModem), Redis Cluster's slot hash */
uint16_t redis_crc16(const void *data, size_t len);
/* redis_slot - the cluster slot of a Redis key name, honouring {hash tags} */
uint16_t redis_slot(const void *name, size_t len);
/* redis_op_identity - the bytes that place an operation (its key, or a greylist step's client key) */
const unsigned char *redis_op_identity(const store_batch *b, const store_op *op, size_t *len);
/* redis_tag - the "{hex}" tag of a hash, REDIS_TAG_LEN bytes, not terminated */
void redis_tag(uint64_t h, char out[REDIS_TAG_LEN]);

/* redis_args - argv of one script call, built in buffers that are kept and reused */
typedef struct redis_args {
    char *buf;            /* bytes of every argument */
    size_t len, cap;
    size_t *off;          /* offset of each argument in buf */
    size_t *lens;         /* length of each argument */
    const char **argv;    /* pointers, set by redis_args_finish */
    size_t argc, argv_cap;
} redis_args;

/* redis_args_script - the call for the ops of b listed in idx[0..n): cmd is EVALSHA, EVALSHA_RO or EVAL,
 * body the sha or the script text; now_ms 0 = the server's TIME; bucket (for STORE_UNDO ops) indexed like b->ops;
 * no deadline */
void redis_args_script(redis_args *a, const char *cmd, const char *body, const store_batch *b, const uint32_t *idx,
                       size_t n, const uint8_t *types, const int64_t *bucket, uint64_t now_ms, int commit);
/* redis_part - the operations idx[0..n) of b that one script call runs as a call of its own */
typedef struct redis_part {
    const store_batch *b;
    const uint32_t *idx;
    size_t n;
    const uint8_t *types;   /* operation types (a compensation), NULL = the ops' own */
    const int64_t *bucket;  /* STORE_UNDO's buckets, indexed like b->ops; may be NULL */
    int commit;
    const uint64_t *hash;   /* redis_fnv1a64 of each operation's identity, indexed like b->ops; NULL = computed */
    uint64_t deadline_ms;   /* the script's clock past which it must not run (see Deadline above), 0 = none */
} redis_part;

/* redis_args_parts - one call for np parts (np <= REDIS_PARTS_MAX); with np > 1 the reply is an array of the
 * parts' replies, each as a call of its own would have answered. The call's deadline is the earliest of the
 * parts' (those that have one) */
void redis_args_parts(redis_args *a, const char *cmd, const char *body, const redis_part *parts, size_t np,
                      uint64_t now_ms);
/* redis_args_release - free the buffers */
void redis_args_release(redis_args *a);

/* redis_reply_time - the time a script's reply says it ran at (its now: the second number of its reply, a table
 * or packed, or of its LATE error); 0, or -1 when it says none */
int redis_reply_time(const redisReply *r, int64_t *now_ms);
/* redis_reply_apply - copy a script reply into the ops idx[0..n); bucket[op] gets the counted bucket;
 * *denied the batch index of the part's refusal or -1; 0 ok, 1 ok in the fast form, -1 a reply of another
 * shape */
int redis_reply_apply(const redisReply *r, store_batch *b, const uint32_t *idx, size_t n, int64_t *bucket,
                      long *denied);

#endif
