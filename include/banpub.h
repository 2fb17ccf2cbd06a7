/*
 * banpub - publishing the bans: the export file, the followers of `bans --follow`, the on_ban/on_unban hooks
 *
 * The server's ban index (policy/ban.c, engine.bans) tells banpub_changed() of every ban, unban and expiry
 * through bansrv's ban_on_change listener; everything here happens on the loop after that and never on a request's path:
 *   - followers: the event's line goes into each following control connection's output
 *     (conn_follow_push); one whose unsent output passes CONN_FOLLOW_MAX is dropped and counted;
 *   - hooks: on_ban for a ban, on_unban for an unban or an expiry (banhook: no shell, bounded);
 *   - export: a timer, armed by the first change and not re-armed by the next ones, fires
 *     BANPUB_EXPORT_DELAY_MS later and rewrites bans.export's file from the whole current list.
 *     The file is also written at start (so its timeouts are the current ones, whatever the last run
 *     left) and after a reload that changed its format or path.
 *     A reload that moves the path removes the old file, only when it is still the one a writer renamed there:
 *     the writer tells its st_dev/st_ino on a pipe, and the file at the old path must have both (an admin's file
 *     moved there since is never deleted). With a writer running, that is done when it is reaped.
 * Username bans (family 0) go to JSON followers only: no hook, no firewall format (banexport.h).
 *
 * The export is written by a forked child, as the snapshot is: the child walks the bans (a copy-on-write
 * image of the parent's memory), formats them (banexport) and replaces the file atomically (file_replace:
 * temp file, fsync, rename). Why not on the loop: with many bans the text is megabytes (1,000,000 bans
 * make ~30 MB of nft script) and the fsync can take tens of ms on a busy disk; the loop would stop
 * answering for that long. The parent only forks and, on later ticks, reaps by pid with WNOHANG. A change
 * that comes while a writer runs marks the export dirty, and a new writer starts when that one is reaped,
 * so the file always ends up with the last state and within a second of the change that made it.
 *
 * INVARIANTS
 *     At most one export writer at a time. A change is on disk within BANPUB_EXPORT_DELAY_MS + the
 *     writer's run time (+ one BANPUB_REAP_MS tick when a writer was already running).
 *
 * BUGS
 *     A writer child that hangs (a stuck disk) delays every later export; it is not killed. A restart with
 *     another export path leaves the old file (what we wrote is known from this run only). With 1,000,000
 *     bans the writer takes about 0.3-0.6 s to format (measured on the shared 2-core machine: nft 405 ms /
 *     33.6 MB, ipset 384 ms / 52.5 MB, plain 296 ms / 12.5 MB, json 602 ms / 113.5 MB), so the export file
 *     of such a list lands closer to 1 s after a change than to BANPUB_EXPORT_DELAY_MS. (`bans --format` and
 *     a new follower's first list of that size are written by a child too: bandump.h.)
 */
#ifndef FG_BANPUB_H
#define FG_BANPUB_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdint.h>

#include "banexport.h"
#include "banhook.h"

#define BANPUB_EXPORT_DELAY_MS 200 /* changes within this are written together */
#define BANPUB_REAP_MS 50          /* how often a running writer is looked at */
#define BANPUB_HOOKS_QUEUED 1024   /* hooks waiting beyond bans.hooks_max before new ones are dropped */
#define BANPUB_HOOKS_RUNNING_MAX 256 /* bans.hooks_max is cut to this */

typedef struct banpub banpub;

/* banpub_rec_fn - called once per current ban */
typedef void (*banpub_rec_fn)(const banexport_rec *r, void *arg);
/* banpub_foreach_fn - walk the current bans (ban_foreach behind an adapter) */
typedef void (*banpub_foreach_fn)(void *ctx, banpub_rec_fn fn, void *arg);
/* banpub_wall_fn - wall-clock seconds now */
typedef uint64_t (*banpub_wall_fn)(void *ctx);

typedef struct banpub_conf {
    int export_format;             /* BANEXPORT_*, or -1: no export file */
    const char *export_path;       /* bans.export.path */
    const char *const *on_ban;     /* NULL-terminated argv, or NULL */
    const char *const *on_unban;   /* NULL-terminated argv, or NULL */
    unsigned hooks_running;        /* bans.hooks_max */
    unsigned hooks_queued;         /* waiting beyond that */
    uint64_t hooks_timeout_ms;     /* bans.hooks_timeout: a hook still running then is killed (0: 30 s) */
} banpub_conf;

typedef struct banpub_stats {
    uint64_t exports;          /* files written */
    uint64_t export_failures;  /* writers that failed */
    banhook_stats hooks;
} banpub_stats;

/* banpub_push_fn - hand one event to every follower: its text line and its JSON line */
typedef void (*banpub_push_fn)(void *ctx, const char *text, size_t tlen, const char *json, size_t jlen);

typedef struct banpub_env {
    banpub_foreach_fn foreach; /* the current bans */
    banpub_wall_fn wall;       /* the wall clock (injected in tests) */
    banpub_push_fn push;       /* to the followers; NULL: none */
    void *ctx;                 /* their argument (the server) */
} banpub_env;

/* banpub_new - publishing on base; NULL when the hooks' SIGCHLD event cannot be set up */
banpub *banpub_new(struct event_base *base, const banpub_conf *conf, const banpub_env *env);
/* banpub_free - stop; a running writer is waited for (its file must not be cut) */
void banpub_free(banpub *p);
/* banpub_changed - a ban (BANEXPORT_BAN), unban or expiry happened */
void banpub_changed(banpub *p, int ev, const banexport_rec *r);
/* banpub_restored - the same for a ban made before this daemon started, read from the fleet's store by its first
 * resync: the followers get its line and the export file has it, and no hook runs (it ran where the ban was made,
 * and the firewall kept it across our restart) */
void banpub_restored(banpub *p, int ev, const banexport_rec *r);
/* banpub_format - every current ban in one format (floodgatectl bans --format) */
void banpub_format(banpub *p, int fmt, struct evbuffer *out);
/* banpub_follow_start - what a new follower gets first: a "ban" line per current ban, then "synced N"
 * (JSON: {"event":"synced","count":N}) */
void banpub_follow_start(banpub *p, int json, struct evbuffer *out);
/* banpub_get_stats - counters */
banpub_stats banpub_get_stats(const banpub *p);
/* banpub_export_now - write the export file soon (at start; after a reload that changed it) */
void banpub_export_now(banpub *p);
/* banpub_reconfigure - new settings (a reload): copied; the file is written again if its format or path
 * changed (returns 1, else 0); -1 when the hooks' runner cannot be made */
int banpub_reconfigure(banpub *p, const banpub_conf *conf);

#endif
