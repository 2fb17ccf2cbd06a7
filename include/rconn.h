/*
 * rconn - one connection to one Redis server, on floodgated's event loop
 *
 * hiredis's asynchronous API with its libevent adapter: nothing here ever
 * blocks (a host name is resolved once, when the connection is made at
 * startup; reconnects use the address found then). Commands are written
 * as they come and hiredis sends what has gathered in one write, so the
 * commands of concurrent requests are pipelined on the one connection.
 *
 * Every command sent gets exactly one answer through its callback: the
 * reply, or NULL when the server did not answer within the timeout or the
 * connection was lost. Never from inside rconn_send. The callback runs
 * while hiredis still owns the reply: copy what is needed out of it.
 *
 * Failure. When any command waits past its deadline (timeout for a
 * request, connect_timeout for the commands that set a connection up) or
 * the connection breaks, the connection is dropped: every command in
 * flight is answered NULL at once, an outage starts (one log line), and
 * until the server is back every new request is refused at once
 * (rconn_send returns -1) instead of waiting. Reconnects come from a timer
 * with capped exponential backoff; the outage ends (one log line) when a
 * new connection has answered AUTH, SELECT, TIME (cfg.clock) and SCRIPT LOAD. A command sent
 * with its caller's own deadline (rconn_send_by) answers the caller NULL
 * at that deadline without dropping the connection. A reply that
 * arrives for a dropped connection is never seen: hiredis frees that
 * context, and our callback ignores any context that is not the current.
 *
 * URLs: redis://[user:password@]host[:port][/db] (port 6379, db 0 by
 * default; [v6] in brackets), unix:/path[?db=N], and with AUTH
 * unix://[user:password@]/path[?db=N] (unix:///path is unix:/path; the
 * user part ends at the last "@/"). rediss:// is refused: Debian's
 * hiredis 0.14 has no TLS.
 *
 * SECURITY
 *     The password is kept in memory and sent with AUTH; it is never
 *     logged (names are host:port or the socket path), and a URL named in
 *     an error message has it written ***. A reply is bounded
 *     by hiredis's reader; a server that answers garbage only fails the
 *     commands it answers.
 *
 * BUGS
 *     No TLS (hiredis 0.14). A host name is resolved once, at start: a
 *     server that moves to a new address needs a restart (or an address
 *     in the URL). A server that is slow for longer than the timeout is
 *     treated as down, and reconnected to, like a dead one.
 */
#ifndef FG_RCONN_H
#define FG_RCONN_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define RCONN_BACKOFF_MIN_MS 50    /* first reconnect delay */
#define RCONN_BACKOFF_MAX_MS 2000  /* reconnect delay cap */
#define RCONN_CLOCK_KEEP_MS 1000  /* rconn_clock_sample: how long the best sample of the server's clock is kept */
#define RCONN_HIST 320             /* latency histogram buckets: 8 per power of two of microseconds */

typedef struct rconn_url {
    char host[256];    /* name or address; empty for a unix socket */
    unsigned port;     /* tcp port */
    char path[108];    /* unix socket path */
    char user[128];    /* AUTH user, empty = the default user */
    char pass[256];    /* AUTH password, empty = no AUTH */
    unsigned db;       /* SELECT */
} rconn_url;

/* rconn_url_parse - read a URL; 0 ok, -1 with a message in err */
int rconn_url_parse(const char *s, rconn_url *out, char *err, size_t errlen);

typedef struct rconn rconn;
typedef void (*rconn_reply_fn)(rconn *rc, redisReply *reply, void *arg);
typedef void (*rconn_log_fn)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
typedef void (*rconn_state_fn)(rconn *rc, int up, void *arg);
typedef void (*rconn_message_fn)(rconn *rc, const char *msg, size_t len, void *arg);

typedef struct rconn_config {
    uint64_t timeout_ms;         /* a request not answered within it fails, and drops the connection */
    uint64_t connect_timeout_ms; /* the same for connecting and setting up */
    int readonly;                /* send READONLY (a cluster replica serving reads) */
    int numeric_only;            /* the host must be an address: no name lookup (made at run time) */
    const char *script;          /* SCRIPT LOAD at connect; its sha is rconn_sha() */
    rconn_log_fn log;            /* levels as log.h: 3 error, 4 warning, 6 info; NULL = silent */
    rconn_state_fn on_state;     /* told when the connection comes up or goes down; may be NULL */
    void *state_arg;
    /* subscriber mode: after set-up the connection SUBSCRIBEs to this channel and is up once Redis confirms
     * (within timeout_ms, else the connection is dropped and made again, as for a late reply);
     * then it only receives (on_message for each message; rconn_send must not be used on it). TCP keepalive
     * is on, so that a peer that vanished is noticed. NULL = an ordinary connection. */
    const char *subscribe;
    rconn_message_fn on_message;
    void *message_arg;
    /* subscriber mode: every heartbeat_ms while up, the channel is SUBSCRIBEd to again and Redis must confirm
     * within timeout_ms + 2 * heartbeat_ms (a server slow for a moment is not hung), else the connection is
     * dropped (counted in timeouts) and made again: a server that hangs with its connections open (SIGSTOP, a frozen VM) is noticed in seconds, not after TCP keepalive's
     * minutes. Not PING: hiredis 0.14 hands a subscribed connection's "pong" to no callback. 0 = none. */
    uint64_t heartbeat_ms;
    /* TIME in the set-up (before SCRIPT LOAD): the connection knows the server's clock (rconn_server_deadline)
     * before it is up, so that the first script call after a reconnect carries a deadline too */
    int clock;
} rconn_config;

typedef struct rconn_stats {
    int up;              /* ready for requests */
    uint64_t connects;   /* connections set up */
    uint64_t outages;    /* outages started */
    uint64_t commands;   /* commands sent, set-up included */
    uint64_t scripts;    /* script calls: one round trip each, pipelined */
    uint64_t replies;    /* replies received */
    uint64_t errors;     /* error replies */
    uint64_t failed;     /* commands answered NULL: timeout, lost connection */
    uint64_t refused;    /* commands refused at once during an outage */
    uint64_t timeouts;   /* drops because a deadline passed */
    uint64_t depth;      /* commands in flight now */
    uint64_t max_depth;  /* most in flight at once */
    uint64_t p99_us;     /* 99th percentile of reply latency (upper bound of its bucket) */
    uint64_t reconnects; /* connection attempts made by the reconnect timer */
    uint64_t retry_ms;   /* the wait before the next attempt while one is planned (the backoff), 0 otherwise */
} rconn_stats;

/* rconn_new - a connection to url, connecting at once; NULL with err if the host cannot be resolved */
rconn *rconn_new(struct event_base *base, const rconn_url *url, const rconn_config *cfg, char *err, size_t errlen);
/* rconn_free - close; commands in flight are answered NULL; NULL is fine */
void rconn_free(rconn *rc);
/* rconn_send - queue a command: 0, or -1 (cb not called) when the server is unavailable. cb may be NULL */
int rconn_send(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg);
/* rconn_send_by - rconn_send for a caller that must be answered by answer_by_ms (rconn_now_ms's clock): past it,
 * cb gets NULL and the reply, if one comes, is dropped; the connection is not dropped before the command's own
 * timeout. A request retried after NOSCRIPT, MOVED or ASK has only what is left of its first deadline */
int rconn_send_by(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg,
                  uint64_t answer_by_ms);
/* rconn_now_ms - the clock of deadlines: CLOCK_MONOTONIC in milliseconds */
uint64_t rconn_now_ms(void);
/* rconn_clock_sample - the server's clock read server_ms (its TIME, in ms) before a reply that carries it came
 * (now): server_ms - rconn_now_ms() is a lower bound of the server's clock minus ours. The connection keeps the
 * largest of these taken over the last RCONN_CLOCK_KEEP_MS (a reply that waited in our loop gives a lower one),
 * and the latest after that (the server's clock drifts, or was set back); it forgets them when it drops */
void rconn_clock_sample(rconn *rc, int64_t server_ms);
/* rconn_fail_by - the earliest a command sent now, for a caller answered by answer_by_ms (0: none) at the latest,
 * may be answered NULL for want of a reply (rconn_now_ms's clock): the first deadline among the commands in flight,
 * whose passing drops the connection and answers them all, its own (now + timeout), or answer_by_ms */
uint64_t rconn_fail_by(const rconn *rc, uint64_t answer_by_ms);
/* rconn_server_deadline - the server's clock (ms) past which a command sent now must not run, for a caller that is
 * answered by answer_by_ms (rconn_now_ms's clock) at the latest: by then the caller may have been answered NULL,
 * at that time or when the first deadline of the commands in flight drops the connection. It is never later than
 * that instant in the server's clock (a lower bound of the offset, and 2 ms off for rounding two millisecond
 * clocks; but see rconn_clock_sample), so that a command that runs by it has run before its caller was answered
 * NULL. 0 while the connection knows nothing of the server's clock */
uint64_t rconn_server_deadline(const rconn *rc, uint64_t answer_by_ms);
/* rconn_await - mark the command just sent (with a callback) as one its caller holds later commands for: its
 * callback, called once whatever the answer (a reply, NULL at the caller's deadline or when the connection
 * drops), is where the caller sends what it held. rconn_awaited - how many such commands are in flight with
 * their callers not answered yet */
void rconn_await(rconn *rc);
size_t rconn_awaited(const rconn *rc);
/* rconn_write_now - write the commands buffered in this loop turn now (they go at its end otherwise). Only from a
 * loop callback of the caller's own, never from a reply callback: a failed write drops the connection, and the
 * callbacks of the commands in flight run in there */
void rconn_write_now(rconn *rc);
/* rconn_send_any - the same, also while an outage is being repaired (cluster discovery on a fresh connection) */
int rconn_send_any(rconn *rc, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg);
/* rconn_sha - the loaded script's sha, "" before the first SCRIPT LOAD answered */
const char *rconn_sha(const rconn *rc);
/* rconn_name - host:port or the socket path */
const char *rconn_name(const rconn *rc);
/* rconn_host - the address connected to (numeric), "" for a unix socket */
const char *rconn_host(const rconn *rc);
/* rconn_is_up - ready for requests */
int rconn_is_up(const rconn *rc);
void rconn_get_stats(const rconn *rc, rconn_stats *out);

#endif
