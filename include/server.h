/*
 * server - the daemon's one context: event loop, configuration, store,
 * engine, listeners and connections
 *
 * Handed down to every daemon module; nothing in daemon/ keeps a global.
 *
 * Time. Everything that counts (windows, greylist delays, expiry dates in
 * the store, bans) runs on the daemon clock: CLOCK_MONOTONIC plus an offset
 * fixed at the first reading, chosen so that the daemon clock reads as
 * wall-clock milliseconds since the epoch at start. It then never steps:
 * an NTP step or an admin's `date -s` moves the wall clock, not the daemon
 * clock, so no step can open a limit or stretch a ban. Wall time is used
 * only where a date leaves the process: shown to the admin, written to
 * disk, compared with another machine's dates. server_wall_ms() and
 * server_daemon_ms() convert at the current difference of the two clocks,
 * so a date shown after a step is the right remaining time from the
 * wall clock's new "now". The clock is read once per request, in daemon/,
 * and passed down as now_ms.
 *
 * Tests step it: floodgated started with FLOODGATE_TEST_CLOCK=1 in its
 * environment takes `floodgatectl debug clock +S`, which moves both clocks S
 * seconds on (a ban, a window, a greylist delay ends as if S seconds had
 * passed); without it the command is refused.
 */
#ifndef FG_SERVER_H
#define FG_SERVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

typedef struct conn conn;
struct watchers;
struct watchset;
struct http_adapter;

typedef struct server server;

/* server_clock_fn - a clock in milliseconds */
typedef uint64_t (*server_clock_fn)(void);

typedef struct server_clock {
    server_clock_fn mono;       /* CLOCK_MONOTONIC; tests put a fake here */
    server_clock_fn wall;       /* CLOCK_REALTIME; tests put a fake here */
    int64_t offset_ms;          /* daemon clock = mono() + offset_ms, fixed at the first reading */
    int ready;                  /* offset_ms is set (a zeroed server starts its clock on first use) */
    int steppable;              /* FLOODGATE_TEST_CLOCK=1 at start: `debug clock +S` may step both clocks */
    uint64_t step_ms;           /* what `debug clock` added so far, to both clocks */
} server_clock;

typedef struct listener {
    server *srv;                /* owner */
    struct evconnlistener *evl; /* libevent's accept loop */
    char *addr;                 /* as configured */
    char *path;                 /* unix socket to remove at exit, NULL for tcp */
    int is_control;             /* control socket: also takes command= requests */
    int paused;                 /* accepting is off: at its connection limit, or backing off */
    int backoff;                /* accept failed (out of descriptors...): wait for a close or the accept timer */
} listener;

typedef struct server_stats {
    uint64_t connections;       /* accepted since start */
    uint64_t connections_paused; /* times accepting paused at max_connections */
    uint64_t accept_failures;   /* accept() failed (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...) */
    uint64_t accept_pauses;     /* times a listener paused after a failed accept */
    uint64_t control_refused;   /* control peers refused (not root, not us, not control_group) */
    uint64_t write_timeouts;    /* closed: their output made no progress for write_timeout */
    uint64_t requests;          /* framed requests */
    uint64_t bad_requests;      /* answered with an error action */
    uint64_t too_large;         /* over max_request: answered and closed */
    uint64_t idle_closed;       /* closed after idle_timeout */
    uint64_t control;           /* control commands */
    uint64_t reloads;           /* successful reloads */
    uint64_t reload_failures;   /* reloads refused because the file was broken */
    uint64_t snapshots;         /* snapshots written */
    uint64_t snapshot_failures; /* snapshots that failed */
    uint64_t kv_ops;            /* kv commands (kv.h) */
    uint64_t locks_taken;       /* kv locks taken */
    uint64_t lock_renewals;     /* kv locks renewed by their owner */
    uint64_t kv_refused;        /* request=kv refused on a policy socket (listen.kv_on_policy) */
    uint64_t followers_dropped; /* bans --follow connections closed: their unsent output passed CONN_FOLLOW_MAX */
} server_stats;

struct server {
    struct event_base *base;
    fg_conf *conf;              /* the configuration started with (listen and store settings) */
    ruleset *rules;             /* the rules in force; swapped whole by a reload */
    store *store;
    engine eng;
    listener *listeners;
    unsigned nlisteners;
    int accepting_paused;       /* the policy listeners are paused at max_connections */
    int control_full;           /* the control listener is paused at control_max_connections */
    conn *conns;                /* open connections */
    conn *flushq;               /* connections with answers to send at the end of this loop turn (conn.c) */
    struct event *flush_ev;     /* runs that send, after the turn's other callbacks; made on first use */
    uint64_t nconns;            /* all of them */
    uint64_t ncontrol;          /* of which on the control socket (they never count against max_connections) */
    struct event *accept_timer; /* ends an accept backoff even if no connection closes */
    uid_t uid;                  /* our effective uid: allowed on the control socket */
    struct event *sig_term, *sig_int, *sig_hup, *tick, *stop_timer, *snap_timer;
    struct event *watchdog;
    struct event *ban_timer;    /* drops bans past their end (bansrv.h) */
    int bans_restoring;         /* BANSRV_RESTORE_*: bans made before the start are being restored (bansrv.h) */
    uint64_t bans_restored;     /* bans the fleet's first resync restored so far (its summary line) */
    struct watchset *watches;   /* the log watches in force (taken from the configuration, swapped by a reload) */
    struct watchers *watchers;  /* following them */     /* WATCHDOG=1 to systemd at half of WatchdogSec, NULL when not asked */
    int snap_pid;               /* the child writing a snapshot, 0 = none */
    struct statestore *state;   /* bans and history kept beyond the process (statestore_file.h), NULL = none */
    struct banstate *banstate;  /* the ban index's records in it (banstate.h) */
    int stopping;               /* SIGTERM seen: finish in-flight replies, then exit */
    server_stats st;
    metrics met;                /* verdicts, latency, HTTP: with st and the engine's, what stats and /metrics show */
    struct http_adapter *http;  /* the HTTP adapter, NULL when listen.http is not set */
    struct fleet *fleet;        /* lists in the store (and bans) shared with the fleet (fleet.h); NULL: embedded */
    struct banpub *pub;         /* publishing the bans (banpub.h); NULL while there is no ban index */
    struct bandump *dump;       /* children writing big bans replies (bandump.h); made on first use (conn.c) */
    log_limit bad_log;          /* rate limit of bad-request messages */
    log_limit verdict_log;      /* rate limit of refusal messages */
    log_limit accept_log;       /* rate limit of accept errors and refused control peers */
    log_limit timeout_log;      /* rate limit of write-timeout messages */
    uint64_t started_ms;        /* daemon clock at start */
    server_clock clock;         /* the daemon clock (see Time above) */
};

/* server_now - the daemon clock in ms: monotonic, reads as wall time at start, never steps */
uint64_t server_now(server *s);
/* server_wall_now - the wall clock in ms since the epoch (for display and disk only, never for counting) */
uint64_t server_wall_now(server *s);
/* server_wall_ms - a daemon-clock date as a wall-clock date, at the clocks' current difference;
 * UINT64_MAX (never) stays UINT64_MAX, a date before the epoch reads as 0 */
uint64_t server_wall_ms(server *s, uint64_t daemon_ms);
/* server_daemon_ms - a wall-clock date as a daemon-clock date (the reverse of server_wall_ms) */
uint64_t server_daemon_ms(server *s, uint64_t wall_ms);
/* server_clock_step - a test's clock: both clocks go ms forward (the daemon clock steps once here); then what
 * waits on them is looked at at once (the bans past their end expire). 0, or -1 when the daemon was not
 * started with FLOODGATE_TEST_CLOCK=1 */
int server_clock_step(server *s, uint64_t ms);
/* server_reload - load the configuration file again and swap the rules in if it loads whole */
int server_reload(server *s, conf_errors *errs);
/* print_errors - configuration problems on stderr */
void print_errors(const conf_errors *errs);
/* server_snapshot_load - load the snapshot file, if the embedded store keeps one */
void server_snapshot_load(server *s);
/* server_bans_close - stop journaling bans (after the last snapshot, before the ban index is freed) */
void server_bans_close(server *s);
/* server_snapshot_save - write it in the foreground (at stop), after any child writing it */
void server_snapshot_save(server *s);
/* server_snapshot_start - write a snapshot from a forked child, unless one is being written */
void server_snapshot_start(server *s);
/* server_snapshot_reap - collect a finished snapshot child; wait for it if block */
void server_snapshot_reap(server *s, int block);
/* server_conn_closed - a connection went away (resume accepting, finish a shutdown) */
void server_conn_closed(server *s);

/* listener_open - bind and listen; 0 ok, -1 with a message in err */
int listener_open(server *s, const char *addr, int is_control, unsigned mode, const char *group, listener *out,
                  char *err, size_t errlen);
void listener_close(listener *l);
/* listeners_update - pause or resume each listener: policy ones at max_connections, the control one at its
 * own limit, any one backing off after a failed accept */
void listeners_update(server *s);
/* listeners_retry - a descriptor may have freed up: end every accept backoff */
void listeners_retry(server *s);
/* listen_fit_nofile - raise the soft RLIMIT_NOFILE to the hard limit, and lower max_connections if it and a
 * reserve (listeners, control connections, store, files, snapshot) do not fit under it; -1 if nothing fits */
int listen_fit_nofile(conf_listen *l, uint64_t reserve);
/* listen_socket - a bound socket for "unix:PATH" (mode, group) or "tcp:HOST:PORT", not listening; -1 with err */
int listen_socket(const char *addr, unsigned mode, const char *group, char *err, size_t errlen);

#endif
