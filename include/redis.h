/*
 * redis - the networked stores: redis (one server), cluster (Redis
 * Cluster) and sharded (a list of redis/cluster stores), behind store.h
 *
 * A batch is split into parts, one per server and slot its keys live on;
 * each part is one script call (redis_script.h), and the parts go out at
 * once, pipelined with other requests' on one connection per server
 * (rconn.h). So a request costs one round trip per shard it touches, and on
 * one server the whole batch is one atomic script.
 *
 * Requests that reach a single server (not a cluster) in the same turn of
 * the event loop share one script call: their parts wait for the end of
 * the turn (an event made active, no timer) and go out as the parts of one
 * EVALSHA, which runs each as a call of its own would, in the order they
 * came (redis_script.h). What Redis spends on a call (the command, TIME,
 * the script's set-up, the reply) is then paid once for all of them, and
 * under load, when requests arrive together, Redis's CPU goes further. A
 * request waits no longer for it: the turn ends before anything new is
 * read. Parts with kv operations (other tenants' keys, which another
 * client may have given another type: an error fails the whole call) and
 * parts for a server that is not up go alone, at once, as before.
 *
 * Across parts the embedded store's rule still holds: the batch refuses at
 * its first refusing operation (the lowest index any part refused at), and
 * a refused or failed request is counted nowhere: a part that committed
 * its windows while another part refused (or did not answer) gets a
 * compensating decrement, sent without waiting for its answer.
 *
 * Failure: a part that is not answered within store.timeout, or that goes
 * to a server in an outage, fails, and the batch answers status -1 (the
 * engine applies on_error). Only the requests whose keys live on the
 * failing server are affected.
 *
 * Late calls. A server that hangs (SIGSTOP, a frozen VM, a fork stall)
 * has our calls in its socket buffer when we give up on it, and runs them
 * when it resumes; they must not count requests we answered on_error. So
 * every call carries a deadline in the server's clock (redis_script.h):
 * the earliest its requests can be answered NULL (their own deadline, or
 * an earlier command's on the connection, which drops it: rconn_fail_by),
 * moved to the server's clock by the offset the connection learnt from
 * TIME at its set-up and from the time every reply carries. A call run
 * past it does nothing and fails its parts (on_error). The offset is a
 * lower bound, so the deadline errs early, and the race goes one way only:
 * a call that ran just before the deadline and whose reply came just after
 * it counted while its requests got on_error (as before); a call that ran
 * after its requests were answered never counts. The price is that a call
 * run in the last moment before its deadline (within the reply's trip
 * back) is refused though its reply might have come in time. Each
 * connection of a cluster or a sharded store has its own offset.
 *
 * BUGS
 *     Across parts the check is not atomic: two parts run at the same
 *     time, so a greylist step in one part runs even when an earlier
 *     operation in another part refuses (the embedded store and a single
 *     server would stop before it), and a part's windows count until the
 *     compensation arrives. A compensation lost with its connection is
 *     counted (stats) and not retried.
 *
 *     The calls sent at start, before the first connection has answered
 *     TIME, carry no deadline (after a reconnect nothing is sent before).
 *     A server clock set back makes deadlines late by as much for up to
 *     RCONN_CLOCK_KEEP_MS. Calls in flight when the daemon stops are
 *     answered at once and may still run.
 */
#ifndef FG_REDIS_H
#define FG_REDIS_H

#include <event2/event.h>

#include "rconn.h"
#include "store.h"

enum redis_kind {
    REDIS_SINGLE = 1, /* store.type = "redis" */
    REDIS_CLUSTER,    /* "cluster" */
    REDIS_SHARDED,    /* "sharded" */
};

typedef struct redis_spec {
    int kind;                   /* enum redis_kind */
    rconn_url *urls;            /* single: one; cluster: the seeds */
    unsigned nurls;
    struct redis_spec *shards;  /* sharded: the stores, in order (a key's shard is its hash mod nshards) */
    unsigned nshards;
    int read_from_replicas;     /* cluster: reads (counter peeks) from replicas */
} redis_spec;

typedef struct redis_config {
    uint64_t timeout_ms;         /* every request */
    uint64_t connect_timeout_ms; /* connecting and setting up */
    int local_clock;             /* tests: count with the batch's now_ms instead of the server's TIME */
    rconn_log_fn log;            /* NULL = silent */
} redis_config;

/* redis_store_new - the store for spec, connecting at once; NULL with err (an unresolvable host) */
store *redis_store_new(struct event_base *base, const redis_spec *spec, const redis_config *cfg, char *err,
                       size_t errlen);
/* redis_spec_free - free a spec's contents (not the struct itself) */
void redis_spec_free(redis_spec *spec);

#endif
