/*
 * server - the daemon's one context: event loop, configuration, store,
 * engine, listeners and connections
 *
 * Handed down to every daemon module; nothing in daemon/ keeps a global.
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

typedef struct server server;

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
    struct event *watchdog;     /* WATCHDOG=1 to systemd at half of WatchdogSec, NULL when not asked */
    int snap_pid;               /* the child writing a snapshot, 0 = none */
    int stopping;               /* SIGTERM seen: finish in-flight replies, then exit */
    server_stats st;
    log_limit bad_log;          /* rate limit of bad-request messages */
    log_limit verdict_log;      /* rate limit of refusal messages */
    uint64_t started_ms;
};

/* server_now - the request clock in milliseconds (libevent's cached time: no syscall) */
uint64_t server_now(server *s);
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
