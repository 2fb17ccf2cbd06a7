/*
 * bansrv - the daemon's ban index: its lifetime, expiry, log lines, counters, publishing and control
 *
 * The server owns one ban index (ban.h) from start to exit, kept across reloads, in s->eng.bans, so
 * the engine checks it before any rule. This module makes it (before the snapshot is loaded, so that
 * restored bans land in it), expires bans once a second on the loop, writes a key=value log line for
 * every ban, unban and expiry and counts them (engine_stats: bans_issued, bans_removed, bans_expired;
 * bans_active is the index's size), starts the publisher (banpub.h: export file, --follow, hooks), and
 * answers the control commands ban, unban and `bans format=table`.
 *
 * Control protocol (the control socket, see control.h):
 *     command=ban arg1=ADDR|NET [duration=1h|7d|forever] [reason=TEXT]
 *         -> status=ok key=192.0.2.0/24 expires=2026-12-04T16:00:00Z|never replaced=yes|no
 *     command=unban arg1=ADDR|NET|user:NAME  -> status=ok key=...   (status=error message=not banned: ...)
 *     command=bans format=table               -> status=ok format=table count=N line[]=... (a header first)
 * A ban of an address or network that reaches a trusted one (trusted.h) is refused. Durations are the
 * configuration's (1h, 7d, 90m; at most 10 years) or "forever"; the default is BANSRV_DEFAULT_DURATION.
 */
#ifndef FG_BANSRV_H
#define FG_BANSRV_H

#include <event2/buffer.h>

#include "request.h"

#define BANSRV_DEFAULT_DURATION "1h"   /* floodgatectl ban without a duration */
#define BANSRV_EXPIRE_MS 1000          /* how often bans past their end are dropped (and told) */
#define BANSRV_RESTORE_START 1         /* server.bans_restoring: the snapshot and journal at start */
#define BANSRV_RESTORE_FLEET 2         /* ... the fleet mirror's first resync after the start */

typedef struct server server;

/* bansrv_start - the index (s->eng.bans), its listener, the expiry timer and the publisher; before the
 * snapshot is loaded. 0, or -1 (logged) when the publisher cannot start */
int bansrv_start(server *s);
/* bansrv_restore_begin, bansrv_restore_end - around the load of the snapshot and journal at start: the bans
 * restored run no on_ban hook, write no event=ban line and count in no bans_issued (they did when they were
 * made; a firewall gets them from the export file, written at start). The caller logs "bans: restored N bans". */
void bansrv_restore_begin(server *s);
void bansrv_restore_end(server *s);
/* bansrv_fleet_restore - the fleet mirror's first resync after start hands over bans the fleet made before this
 * daemon started: around each record (on 1 before, 0 after) they run no hook, write no event=ban line and count
 * in no bans_issued, as the snapshot's, but reach the followers and the export file (written before they came);
 * on -1 (the bans are read whole) one line says "bans: restored N bans" */
void bansrv_fleet_restore(server *s, int on);
/* bansrv_expire_now - drop the bans past their end now, as the timer does each second (after a clock step) */
void bansrv_expire_now(server *s);
/* bansrv_reload - a reload: the export and hooks follow the new file's bans section (c is freed after) */
struct fg_conf;
void bansrv_reload(server *s, const struct fg_conf *c);
/* bansrv_stop - stop the timer and the publisher, free the index (after the last snapshot) */
void bansrv_stop(server *s);
/* bansrv_ban - command=ban */
void bansrv_ban(server *s, fg_request *req, const char *const *args, int nargs, struct evbuffer *out);
/* bansrv_unban - command=unban */
void bansrv_unban(server *s, const char *const *args, int nargs, struct evbuffer *out);
/* bansrv_printable - a copy of s (n bytes) with each control byte written \xNN (fg_free it): a username from
 * a client or a reason from a fleet peer stays on its line of a control reply, and never reaches the admin's
 * terminal as an escape sequence */
char *bansrv_printable(const char *s, size_t n);
/* bansrv_table - command=bans format=table: key, reason, rule, since, expires, times */
void bansrv_table(server *s, struct evbuffer *out);

#endif
