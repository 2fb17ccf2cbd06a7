/*
 * floodgated - rate-limiting, greylisting and fail2ban policy daemon
 *
 * SYNOPSIS
 *     floodgated [-c FILE] [-t] [-v] [-V]
 *
 * DESCRIPTION
 *     Answers policy queries (the Postfix SMTPD policy delegation protocol,
 *     see proto.h) on the sockets of `listen.policy`, and admin commands on
 *     `listen.control`. Runs in the foreground and logs to stderr (the
 *     journal under systemd, with sd_notify READY/RELOADING/STOPPING).
 *     -c FILE  configuration (default /etc/floodgate/floodgate.conf)
 *     -t       check the configuration: exit 0 if valid, else 1 with
 *              FILE:LINE: message for each problem
 *     -v       log debug messages
 *     -V       print the version
 *
 * SIGNALS
 *     SIGHUP reloads the rules: a file that does not load whole is reported
 *     and the old rules stay. SIGTERM and SIGINT stop accepting, answer
 *     what is in flight, remove the sockets and exit 0.
 *
 * SECURITY
 *     Runs as the user systemd gives it (see systemd/floodgate.service);
 *     it does not change its own privileges yet. At start the soft
 *     RLIMIT_NOFILE is raised to the hard limit and max_connections is
 *     lowered to fit under it with fd_reserve() to spare, so that policy
 *     clients can never take the descriptors that files, the store and
 *     the control socket need (listen.c pauses accepting if they still do).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alloc.h"
#include "banpub.h"
#include "bansrv.h"
#include "hash.h"
#include "conn.h"
#include "decision_log.h"
#include "fleet.h"
#include "control.h"
#include "http.h"
#include "mem.h"
#include "redis.h"
#include "server.h"
#include "watcher.h"

#define STOP_GRACE_MS 5000 /* longest wait for in-flight answers at shutdown */
#define FD_RESERVE_BASE 32  /* descriptors besides connections: stdio, the event loop, files being read or
                             * written (configuration, lists, snapshot), the journal, the log */
#define FD_RESERVE_REDIS 64 /* a networked store's connections (a cluster's nodes) */
#define DEFAULT_CONF "/etc/floodgate/floodgate.conf"

/* on_hup - reload */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    conf_errors errs = {0};
    (void)sig;
    (void)what;
    server_reload(arg, &errs);
    conf_errors_free(&errs);
}

/* on_stop_timer - in-flight answers took too long */
static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    (void)fd;
    (void)what;
    log_warn("%llu connections still busy after %d ms; closing them", (unsigned long long)s->nconns, STOP_GRACE_MS);
    event_base_loopbreak(s->base);
}

/* on_term - stop accepting, answer what is in flight, exit */
static void on_term(evutil_socket_t sig, short what, void *arg)
{
    server *s = arg;
    struct timeval tv = {STOP_GRACE_MS / 1000, 0};

    (void)what;
    if (s->stopping)
        return;
    s->stopping = 1;
    sd_notify(0, "STOPPING=1");
    log_info("signal %d: stopping", (int)sig);
    for (unsigned i = 0; i < s->nlisteners; i++)
        listener_close(&s->listeners[i]);
    http_stop_accepting(s->http);
    conn_shutdown_all(s);
    if (s->nconns == 0) {
        event_base_loopbreak(s->base);
        return;
    }
    s->stop_timer = evtimer_new(s->base, on_stop_timer, s);
    evtimer_add(s->stop_timer, &tv);
}

/* on_tick - store housekeeping */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    server *s = arg;
    (void)fd;
    (void)what;
    store_tick(s->store, server_now(s));
    server_snapshot_reap(s, 0);
}

/* on_snapshot - time for a snapshot */
static void on_snapshot(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_snapshot_start(arg);
}

/* on_watchdog - tell systemd the loop still turns (WatchdogSec=): a stuck loop misses this and is restarted */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    sd_notify(0, "WATCHDOG=1");
}

/* watchdog_start - a timer at half the period systemd asks for, if it asks */
static void watchdog_start(server *s)
{
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    struct timeval tv = {(time_t)(usec / 2 / 1000000), (suseconds_t)(usec / 2 % 1000000)};
    s->watchdog = event_new(s->base, -1, EV_PERSIST, on_watchdog, s);
    evtimer_add(s->watchdog, &tv);
    log_info("systemd watchdog: WATCHDOG=1 every %llu ms", (unsigned long long)(usec / 2000));
}


/* engine_warn - the engine's messages (already rate-limited per rule) go to the log */
static void engine_warn(const char *msg, void *arg)
{
    (void)arg;
    log_warn("%s", msg);
}

/* fd_reserve - descriptors kept apart from policy connections (listen_fit_nofile) */
static uint64_t fd_reserve(const fg_conf *c)
{
    uint64_t n = FD_RESERVE_BASE + c->listen.npolicy;

    if (c->listen.control)
        n += 1 + c->listen.control_max_connections;
    if (c->store.redis.kind)
        n += FD_RESERVE_REDIS;
    if (c->watches)
        n += 2 * (uint64_t)c->watches->n; /* the followed file and its inotify watch */
    if (c->listen.http)
        n += 1 + c->listen.http_max_connections; /* the HTTP adapter's listener and connections */
    return n;
}

/* server_open - store, engine, listeners, signals and timers */
static int server_open(server *s, fg_conf *c)
{
    char err[512];
    mem_config mc = {.max_keys = c->store.max_keys};
    struct timeval tick = {(time_t)(c->store.cleanup_ms / 1000), (suseconds_t)(c->store.cleanup_ms % 1000 * 1000)};

    s->conf = c;
    s->uid = geteuid();
    s->rules = ruleset_ref(c->rules);
    if (c->store.redis.kind) {
        redis_config rc = {.timeout_ms = c->store.timeout_ms, .connect_timeout_ms = c->store.connect_timeout_ms,
                           .log = log_store};
        s->store = redis_store_new(s->base, &c->store.redis, &rc, err, sizeof err);
        if (!s->store) {
            log_error("%s", err);
            return -1;
        }
    } else {
        s->store = mem_store_new(&mc);
    }
    s->eng.store = s->store;
    s->eng.on_error = c->store.on_error;
    s->eng.log = engine_warn;
    s->eng.dry = log_dry_run;
    s->eng.dry_arg = s;
    /* limit.distinct fingerprints: the fleet's key, or one of our own when no other daemon reads the store */
    if (c->store.has_distinct_key) {
        memcpy(s->eng.distinct_key, c->store.distinct_key, sizeof s->eng.distinct_key);
        s->eng.distinct_keyed = 1;
    } else if (!c->store.redis.kind) {
        randombytes_buf(s->eng.distinct_key, sizeof s->eng.distinct_key);
        s->eng.distinct_keyed = 1;
    }
    s->started_ms = server_now(s);
    if (bansrv_start(s) < 0)
        return -1;
    server_snapshot_load(s);
    /* the watches start at their files' ends before any socket answers: once a client can connect,
     * every line written from then on is read */
    s->watches = c->watches;
    c->watches = NULL;
    s->watchers = watchers_start(s, s->watches);
    /* the handlers before any socket listens: a client that can connect may signal us (a stop script, a
     * test), and a SIGTERM that came before them would kill the daemon instead of stopping it cleanly */
    s->sig_term = evsignal_new(s->base, SIGTERM, on_term, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_term, s);
    s->sig_hup = evsignal_new(s->base, SIGHUP, on_hup, s);
    evsignal_add(s->sig_term, NULL);
    evsignal_add(s->sig_int, NULL);
    evsignal_add(s->sig_hup, NULL);
    s->listeners = fg_calloc(c->listen.npolicy + 1, sizeof *s->listeners);
    for (unsigned i = 0; i < c->listen.npolicy; i++) {
        if (listener_open(s, c->listen.policy[i], 0, c->listen.mode, c->listen.group, &s->listeners[s->nlisteners],
                          err, sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
        s->nlisteners++;
    }
    if (c->listen.control) {
        if (listener_open(s, c->listen.control, 1, c->listen.control_mode, NULL, &s->listeners[s->nlisteners], err,
                          sizeof err) < 0) {
            log_error("%s", err);
            return -1;
        }
        s->nlisteners++;
    }
    if (c->listen.http && !(s->http = http_start(s, err, sizeof err))) {
        log_error("%s", err);
        return -1;
    }
    s->tick = event_new(s->base, -1, EV_PERSIST, on_tick, s);
    evtimer_add(s->tick, &tick);
    watchdog_start(s);
    if (c->store.snapshot) {
        struct timeval iv = {(time_t)(c->store.snapshot_interval_ms / 1000), 0};
        s->snap_timer = event_new(s->base, -1, EV_PERSIST, on_snapshot, s);
        evtimer_add(s->snap_timer, &iv);
    }
    /* the export file is written once now (with the bans the snapshot restored), then after each change */
    banpub_export_now(s->pub);
    return 0;
}

/* server_close - free everything */
static void server_close(server *s)
{
    conn_free_all(s);
    http_free(s->http);
    watchers_stop(s->watchers);
    watchset_free(s->watches);
    if (s->store)
        server_snapshot_save(s);
    server_bans_close(s); /* the journal drained, before the index goes */
    bansrv_stop(s);
    for (unsigned i = 0; i < s->nlisteners; i++)
        listener_close(&s->listeners[i]);
    fg_free(s->listeners);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->sig_hup) event_free(s->sig_hup);
    if (s->tick) event_free(s->tick);
    if (s->stop_timer) event_free(s->stop_timer);
    if (s->snap_timer) event_free(s->snap_timer);
    if (s->watchdog) event_free(s->watchdog);
    if (s->accept_timer) event_free(s->accept_timer);
    ruleset_unref(s->rules);
    store_free(s->store);
    conf_free(s->conf);
}

/* usage - how to call */
static void usage(void)
{
    fprintf(stderr, "usage: floodgated [-c FILE] [-t] [-v] [-V]\n"
                    "  -c FILE  configuration (default " DEFAULT_CONF ")\n"
                    "  -t       check the configuration and exit\n"
                    "  -v       log debug messages\n"
                    "  -V       print the version\n");
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_CONF;
    int check = 0, verbose = 0, opt, rc = 0;
    conf_errors errs = {0};
    server s;
    fg_conf *c;

    while ((opt = getopt(argc, argv, "c:tvVh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': check = 1; break;
        case 'v': verbose = 1; break;
        case 'V': printf("floodgated %s\n", FLOODGATE_VERSION); return 0;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        usage();
        return 2;
    }
    log_init(verbose);
    if (hash_init() < 0) {
        fprintf(stderr, "floodgated: libsodium cannot start (no entropy source?)\n");
        return 1;
    }
    /* libevent's buffers are counted with ours (stats: memory_bytes, allocations) */
    event_set_mem_functions(fg_malloc, fg_realloc, fg_free);
    c = conf_load(path, &errs);
    if (!c) {
        print_errors(&errs);
        conf_errors_free(&errs);
        return 1;
    }
    if (check) {
        printf("%s: configuration OK (%u rules)\n", path, c->rules->n);
        conf_free(c);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (listen_fit_nofile(&c->listen, fd_reserve(c)) < 0) {
        conf_free(c);
        return 1;
    }
    memset(&s, 0, sizeof s);
    if (getenv("FLOODGATE_TEST_CLOCK") && !strcmp(getenv("FLOODGATE_TEST_CLOCK"), "1")) {
        s.clock.steppable = 1;
        log_warn("FLOODGATE_TEST_CLOCK=1: `floodgatectl debug clock +S` steps the clock (tests only)");
    }
    s.base = event_base_new();
    if (!s.base) {
        fprintf(stderr, "floodgated: cannot create the event loop\n");
        conf_free(c);
        return 1;
    }
    if (server_open(&s, c) < 0) {
        rc = 1;
    } else {
        log_info("floodgate %s ready: %u rules, store %s, %u listeners", FLOODGATE_VERSION, s.rules->n,
                 s.store->vt->name, s.nlisteners);
        sd_notify(0, "READY=1");
        event_base_dispatch(s.base);
        log_info("stopped");
    }
    server_close(&s);
    event_base_free(s.base);
    libevent_global_shutdown();
    return rc;
}
