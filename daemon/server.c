/*
 * server - the daemon's context: clock, reload, connection bookkeeping
 *
 * Kept apart from main.c so that the tests of connections and control
 * commands can build a server without a process around it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "bandump.h"
#include "bansrv.h"
#include "ban.h"
#include "banstate.h"
#include "fleet.h"
#include "mem.h"
#include "num.h"
#include "snapshot.h"
#include "statestore_file.h"
#include "watcher.h"

#include "server.h"

/* print_errors - every problem, one per line, on stderr */
void print_errors(const conf_errors *errs)
{
    for (unsigned i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->msgs[i]);
}

/* clock_read - one system clock in ms; a time before the epoch reads as 0 */
static uint64_t clock_read(clockid_t id)
{
    struct timespec ts;

    if (clock_gettime(id, &ts) < 0 || ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* clock_mono - CLOCK_MONOTONIC: never steps (a vDSO call, no syscall, on Linux) */
static uint64_t clock_mono(void)
{
    return clock_read(CLOCK_MONOTONIC);
}

/* clock_wall - CLOCK_REALTIME: follows NTP and the admin, so it is only shown and stored */
static uint64_t clock_wall(void)
{
    return clock_read(CLOCK_REALTIME);
}

/* clock_start - fix the offset so that the daemon clock reads as the wall clock now */
static void clock_start(server_clock *c)
{
    uint64_t wall, mono;

    if (!c->mono)
        c->mono = clock_mono;
    if (!c->wall)
        c->wall = clock_wall;
    wall = c->wall();
    mono = c->mono();
    /* both are far below 2^63 ms (292 million years) */
    c->offset_ms = (int64_t)wall - (int64_t)mono;
    c->ready = 1;
}

/* server_now - the daemon clock: monotonic, shifted once to read as wall time at start */
uint64_t server_now(server *s)
{
    if (!s->clock.ready)
        clock_start(&s->clock);
    /* mono() >= its first reading, so the sum is >= the wall time at start, never negative */
    return (uint64_t)((int64_t)s->clock.mono() + s->clock.offset_ms) + s->clock.step_ms;
}

/* server_wall_now - the wall clock */
uint64_t server_wall_now(server *s)
{
    if (!s->clock.ready)
        clock_start(&s->clock);
    return s->clock.wall() + s->clock.step_ms;
}

/* server_clock_step - a test's clock step */
int server_clock_step(server *s, uint64_t ms)
{
    if (!s->clock.steppable)
        return -1;
    s->clock.step_ms += ms;
    log_warn("debug clock: both clocks stepped %llu ms on (FLOODGATE_TEST_CLOCK)", (unsigned long long)ms);
    bansrv_expire_now(s); /* the timer would see it within a second: a test sees it now */
    return 0;
}

/* server_wall_ms - a daemon-clock date on the wall clock, as the two clocks differ now */
uint64_t server_wall_ms(server *s, uint64_t daemon_ms)
{
    uint64_t now = server_now(s);
    return num_shift_date(daemon_ms, now, server_wall_now(s));
}

/* server_daemon_ms - a wall-clock date on the daemon clock */
uint64_t server_daemon_ms(server *s, uint64_t wall_ms)
{
    uint64_t now = server_now(s);
    return num_shift_date(wall_ms, server_wall_now(s), now);
}

/* server_reload - load the file again; swap the rules in only if it loads whole */
int server_reload(server *s, conf_errors *errs)
{
    fg_conf *c;

    sd_notify(0, "RELOADING=1");
    c = conf_load(s->conf->path, errs);
    if (!c) {
        s->st.reload_failures++;
        log_error("reload file=%s result=failed errors=%u (the old rules stay in force):", s->conf->path, errs->n);
        for (unsigned i = 0; i < errs->n; i++)
            log_error("%s", errs->msgs[i]);
        sd_notify(0, "READY=1");
        return -1;
    }
    /* what the log says is a rule-like setting: it follows the file */
    s->conf->log_requests = c->log_requests;
    s->conf->log_rate = c->log_rate;
    s->verdict_log.per_second = (unsigned)c->log_rate;
    ruleset_carry_stats(c->rules, s->rules);
    unsigned lists_new = listset_carry_stored(c->rules->lists, s->rules->lists);
    ruleset_unref(s->rules);
    s->rules = ruleset_ref(c->rules);
    if (s->watchers) {
        /* watches following the same log keep their place; the old set goes once nothing uses it */
        s->watchers = watchers_reload(s, s->watchers, c->watches);
        watchset_free(s->watches);
        s->watches = c->watches;
        c->watches = NULL;
    }
    bansrv_reload(s, c);
    if (lists_new)
        fleet_lists_load(s->fleet); /* a stored list the reload added reads its entries from the store */
    s->st.reloads++;
    log_info("reload file=%s result=ok rules=%u (listen and store settings apply at restart)", c->path, s->rules->n);
    conf_free(c);
    sd_notify(0, "READY=1");
    return 0;
}

/* server_conn_closed - a descriptor freed up: resume accepting where it paused; finish a shutdown */
void server_conn_closed(server *s)
{
    if (!s->stopping)
        listeners_retry(s);
    if (s->stopping && s->nconns == 0)
        event_base_loopbreak(s->base);
}

/* snapshot_table - the embedded table to snapshot, NULL when there is no snapshot to keep */
static mem_store *snapshot_table(server *s)
{
    return s->conf->store.snapshot ? mem_store_table(s->store) : NULL;
}

/* state_hook - the owners' part of the snapshot (bans, history), when the journal beside it keeps them */
static const snapshot_extra *state_hook(server *s)
{
    return statestore_file_hook(s->state, server_wall_now(s) / 1000);
}

/* set_aside - a damaged snapshot becomes FILE.bad, so that the next one does not overwrite it */
static void set_aside(const char *path)
{
    char bad[4096];

    snprintf(bad, sizeof bad, "%s.bad", path);
    if (rename(path, bad) == 0)
        log_warn("snapshot %s set aside as %s; starting with the ban journal and what else could be read", path,
                 bad);
    else
        log_error("snapshot %s cannot be set aside as %s: %s", path, bad, strerror(errno));
}

/* state_wall - the wall clock in seconds, for the fleet mirror's expiry checks */
static uint64_t state_wall(void *arg)
{
    return server_wall_now(arg) / 1000;
}

/* state_open - where the bans and stored lists are kept beyond the process (the one place that picks it):
 * the journal beside the embedded store's snapshot; the fleet mirror on a Redis store; none otherwise */
static void state_open(server *s)
{
    if (!s->eng.bans)
        return;
    if (snapshot_table(s)) {
        s->state = statestore_file_new(s->conf->store.snapshot, log_store);
        log_info("bans: changes journaled in %s", statestore_file_journal(s->state));
    } else if ((s->state = fleet_state_new(s, state_wall))) {
        log_info("bans and stored lists: shared with the fleet through the store's Redis server (fleet mirror)");
    } else if (!s->conf->store.redis.kind) {
        log_info("bans: no store.snapshot: bans and their history live in memory only and are lost at restart");
    } else {
        log_info("bans: with store.type %s, bans and their history live in this daemon's memory only",
                 s->store->vt->name);
    }
    if (s->state) {
        s->banstate = banstate_new(s->eng.bans, s->state);
        s->fleet = fleet_new(s, s->state); /* the owner of stored lists */
    }
}

/* server_snapshot_load - load the snapshot before the first request, then the kept bans on top (the journal) */
void server_snapshot_load(server *s)
{
    char err[512];
    mem_store *m = snapshot_table(s);
    long n;

    state_open(s);
    bansrv_restore_begin(s);
    if (m) {
        n = snapshot_load_with(m, state_hook(s), s->conf->store.snapshot, server_now(s), server_wall_now(s), err,
                               sizeof err);
        if (n < 0) {
            log_error("snapshot: %s", err);
            if (access(s->conf->store.snapshot, F_OK) == 0)
                set_aside(s->conf->store.snapshot);
        } else {
            log_info("snapshot %s: %ld greylist and ban keys loaded", s->conf->store.snapshot, n);
        }
    }
    if (s->state) {
        long j = statestore_load(s->state, server_wall_now(s) / 1000);
        /* attached after the load: what was restored is not written back */
        if (s->banstate && banstate_attach(s->banstate) < 0)
            log_error("bans: no change listener left on the ban index; bans are kept by the snapshot only");
        /* one line for them all: the bans themselves were logged (and their hooks run) when they were made */
        if (m)
            log_info("bans: restored %zu bans (the snapshot and %ld journal records)", ban_count(s->eng.bans), j);
    }
    bansrv_restore_end(s);
}

/* server_bans_close - stop keeping the bans (after the last snapshot): before the index is freed */
void server_bans_close(server *s)
{
    banstate_free(s->banstate);
    s->banstate = NULL;
    statestore_free(s->state); /* drains the journal's queue */
    s->state = NULL;
    fleet_free(s->fleet);
    s->fleet = NULL;
}

/* server_snapshot_save - the last snapshot, in the foreground: the process is leaving anyway */
void server_snapshot_save(server *s)
{
    char err[512];
    mem_store *m = snapshot_table(s);
    long n;

    if (!m)
        return;
    server_snapshot_reap(s, 1);
    n = snapshot_write_with(m, state_hook(s), s->conf->store.snapshot, server_now(s), server_wall_now(s), err,
                            sizeof err);
    if (n < 0) {
        log_error("snapshot: %s", err);
    } else {
        log_info("snapshot %s: %ld keys written", s->conf->store.snapshot, n);
        statestore_file_saved(s->state);
    }
}

/* server_snapshot_start - write a snapshot from a forked child: the child has a copy-on-write
 * image of the table, so the event loop never waits for the disk. Signals are blocked across the
 * fork, so that none reaches the child's inherited handlers before it resets them; the parent holds
 * the table's rehash until the child is reaped, so that it copies few pages. */
void server_snapshot_start(server *s)
{
    mem_store *m = snapshot_table(s);
    sigset_t all, old;
    pid_t pid;

    server_snapshot_reap(s, 0);
    if (!m || s->snap_pid)
        return;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid = fork();
    if (pid == 0) {
        char err[512];
        bandump_child_signals(); /* libevent's handlers would wake the daemon: defaults, none blocked */
        long n = snapshot_write_with(m, state_hook(s), s->conf->store.snapshot, server_now(s), server_wall_now(s),
                                     err, sizeof err);
        if (n < 0)
            fprintf(stderr, "floodgated: snapshot: %s\n", err);
        _exit(n < 0 ? 1 : 0);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        s->st.snapshot_failures++;
        log_error("snapshot: fork: %s", strerror(fork_errno));
        return;
    }
    s->snap_pid = pid;
    mem_hold_rehash(m, 1);
    statestore_file_forked(s->state); /* the child holds every change made so far */
}

/* server_snapshot_reap - collect a finished snapshot child, and let the table rehash again */
void server_snapshot_reap(server *s, int block)
{
    int status;
    mem_store *m = snapshot_table(s);

    if (!s->snap_pid || waitpid(s->snap_pid, &status, block ? 0 : WNOHANG) != s->snap_pid)
        return;
    s->snap_pid = 0;
    if (m)
        mem_hold_rehash(m, 0);
    statestore_file_written(s->state, WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        s->st.snapshots++;
    } else {
        s->st.snapshot_failures++;
        if (WIFSIGNALED(status))
            log_error("snapshot of %s failed (its writer was killed by signal %d); the previous one stays",
                      s->conf->store.snapshot, WTERMSIG(status));
        else
            log_error("snapshot of %s failed; the previous one stays", s->conf->store.snapshot);
    }
}
