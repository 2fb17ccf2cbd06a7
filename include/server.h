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
 */
#ifndef FG_SERVER_H
#define FG_SERVER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>

#include "conf.h"
#include "engine.h"
#include "log.h"
#include "store.h"

typedef struct conn conn;
struct watchers;
struct watchset;

typedef struct server server;

/* server_clock_fn - a clock in milliseconds */
typedef uint64_t (*server_clock_fn)(void);

typedef struct server_clock {
    server_clock_fn mono;       /* CLOCK_MONOTONIC; tests put a fake here */
    server_clock_fn wall;       /* CLOCK_REALTIME; tests put a fake here */
    int64_t offset_ms;          /* daemon clock = mono() + offset_ms, fixed at the first reading */
    int ready;                  /* offset_ms is set (a zeroed server starts its clock on first use) */
} server_clock;

typedef struct listener {
    server *srv;                /* owner */
    struct evconnlistener *evl; /* libevent's accept loop */
    char *addr;                 /* as configured */
    char *path;                 /* unix socket to remove at exit, NULL for tcp */
    int is_control;             /* control socket: also takes command= requests */
} listener;

typedef struct server_stats {
    uint64_t connections;       /* accepted since start */
    uint64_t connections_paused; /* times accepting paused at max_connections */
    uint64_t requests;          /* framed requests */
    uint64_t bad_requests;      /* answered with an error action */
    uint64_t too_large;         /* over max_request: answered and closed */
    uint64_t idle_closed;       /* closed after idle_timeout */
    uint64_t control;           /* control commands */
    uint64_t reloads;           /* successful reloads */
    uint64_t reload_failures;   /* reloads refused because the file was broken */
    uint64_t snapshots;         /* snapshots written */
    uint64_t snapshot_failures; /* snapshots that failed */
} server_stats;

struct server {
    struct event_base *base;
    fg_conf *conf;              /* the configuration started with (listen and store settings) */
    ruleset *rules;             /* the rules in force; swapped whole by a reload */
    store *store;
    engine eng;
    listener *listeners;
    unsigned nlisteners;
    int accepting_paused;       /* at max_connections */
    conn *conns;                /* open connections */
    uint64_t nconns;
    struct event *sig_term, *sig_int, *sig_hup, *tick, *stop_timer, *snap_timer;
    struct event *watchdog;
    struct watchset *watches;   /* the log watches in force (taken from the configuration, swapped by a reload) */
    struct watchers *watchers;  /* following them */     /* WATCHDOG=1 to systemd at half of WatchdogSec, NULL when not asked */
    int snap_pid;               /* the child writing a snapshot, 0 = none */
    int stopping;               /* SIGTERM seen: finish in-flight replies, then exit */
    server_stats st;
    log_limit bad_log;          /* rate limit of bad-request messages */
    log_limit verdict_log;      /* rate limit of refusal messages */
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
/* server_reload - load the configuration file again and swap the rules in if it loads whole */
int server_reload(server *s, conf_errors *errs);
/* print_errors - configuration problems on stderr */
void print_errors(const conf_errors *errs);
/* server_snapshot_load - load the snapshot file, if the embedded store keeps one */
void server_snapshot_load(server *s);
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
void listeners_pause(server *s, int pause);

#endif
