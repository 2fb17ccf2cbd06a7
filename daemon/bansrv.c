/*
 * bansrv - the daemon's ban index: lifetime, expiry, log lines, counters, publishing, control (see bansrv.h)
 *
 * Log lines (stderr/journal, key=value as decision lines are):
 *     event=ban net=192.0.2.0/24 reason="too many failures" rule=auth-bruteforce expires=2026-12-04T16:00:00Z times=2
 *     event=unban net=192.0.2.0/24 reason=... rule=manual
 *     event=ban_expired net=192.0.2.0/24 reason=... rule=...
 * (user=NAME instead of net= for a username ban). A ban is what a rule does about a client, so a flood of
 * clients could make a flood of lines: they share one rate limit (log_rate a second), and what is
 * dropped is counted in the next line that gets through, as every client-triggered line is. The bans
 * restored at start (snapshot, journal) make no line, run no hook and count nowhere: server.c logs
 * "bans: restored N bans" once (bansrv_restore_begin). So do the bans of the fleet mirror's first resync after
 * the start (bansrv_fleet_restore), which still reach the followers and the export file: they come after both
 * started. A later resync (a reconnect) is no restore: a ban it brings that this daemon does not hold, the same,
 * was made or changed while we were not listening, and runs the hooks as any change does (an identical record
 * changes nothing: ban_add).
 *
 * SECURITY: the control commands come from the admin (the control socket's peer check); a reason is
 * one line, cut at BANSRV_REASON_MAX, and logged quoted. What a ban holds did not always come from the
 * admin: a username banned by a rule is a client's (Dovecot's JSON, an HTTP query: any byte but NUL), a
 * reason or rule from the fleet mirror is a peer's. The table writes them with control bytes as \xNN
 * (bansrv_printable), so a name cannot end a reply line, end the reply, or drive the admin's terminal.
 */
#include "bansrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "alloc.h"
#include "ban.h"
#include "banpub.h"
#include "conn.h"
#include "decision_log.h"
#include "log.h"
#include "num.h"
#include "server.h"

#define BANSRV_REASON_MAX 200                          /* bytes of a manual ban's reason */
#define BANSRV_DURATION_MAX (3650ULL * 86400 * 1000)   /* ms: ten years; longer is refused (use "forever") */

/* wall_s - wall-clock seconds now */
static uint64_t wall_s(server *s)
{
    return server_wall_now(s) / 1000;
}

/* engine_wall - the engine's clock for bans: a daemon-clock time on the wall clock */
static uint64_t engine_wall(void *arg, uint64_t now_ms)
{
    return server_wall_ms(arg, now_ms);
}

/* date_text - wall seconds as "2026-12-04T16:00:00Z", 0 as "never" */
static void date_text(uint64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!t) {
        snprintf(out, size, "never");
        return;
    }
    if (!gmtime_r(&tt, &tm)) { /* the index holds no such date (BAN_WALL_MAX): never a NULL to strftime */
        snprintf(out, size, "%llu", (unsigned long long)t);
        return;
    }
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* to_export - ban.h's record as banpub sees it */
static void to_export(const ban_rec *r, banexport_rec *e)
{
    memset(e, 0, sizeof *e);
    e->family = r->family;
    memcpy(e->bytes, r->bytes, 16);
    e->prefix = r->prefix;
    e->reason = r->reason;
    e->rule = r->rule ? r->rule : "manual"; /* as the table and the log lines say */
    e->since = r->since;
    e->expires = r->expires;
    e->times = r->times;
    e->name = r->name;
}

/* log_change - the event's key=value line (rate-limited with the decision lines' rate) */
static void log_change(server *s, int change, const ban_rec *r)
{
    static log_limit lim;
    static const char *const events[] = {"", "ban", "unban", "ban_expired", "ban_evicted"};
    char line[768], date[32], times[16];
    size_t at = 0;

    lim.per_second = (unsigned)s->conf->log_rate;
    if (!log_allowed(&lim, server_now(s)))
        return;
    line[0] = '\0';
    kv_quote(line, sizeof line, &at, "event", events[change], strlen(events[change]));
    if (r->family == 0)
        kv_quote(line, sizeof line, &at, "user", r->name, r->namelen ? r->namelen : strlen(r->name));
    else
        kv_quote(line, sizeof line, &at, "net", r->net, strlen(r->net));
    kv_quote(line, sizeof line, &at, "reason", r->reason ? r->reason : "", r->reason ? strlen(r->reason) : 0);
    kv_quote(line, sizeof line, &at, "rule", r->rule ? r->rule : "manual", strlen(r->rule ? r->rule : "manual"));
    if (change == BAN_ADDED) {
        date_text(r->expires, date, sizeof date);
        snprintf(times, sizeof times, "%u", r->times);
        kv_quote(line, sizeof line, &at, "expires", date, strlen(date));
        kv_quote(line, sizeof line, &at, "times", times, strlen(times));
    }
    log_allowed_kv(&lim, LOG_INFO_, line + 1); /* without kv_quote's leading space */
}

/* export_event - the index's change as banpub's event */
static int export_event(int change)
{
    return change == BAN_ADDED                                ? BANEXPORT_BAN
           : change == BAN_REMOVED || change == BAN_EVICTED ? BANEXPORT_UNBAN
                                                            : BANEXPORT_EXPIRE;
}

/* on_change - the index's listener: counters, log line, publisher */
static void on_change(int change, const ban_rec *r, void *arg)
{
    server *s = arg;
    engine_stats *st = &s->eng.stats;

    if (s->bans_restoring) {
        /* bans made before the restart: their hooks ran and their lines were written then. The fleet's come
         * after the start, when the export file and followers may exist already: those still get them */
        if (s->bans_restoring == BANSRV_RESTORE_FLEET && s->pub) {
            banexport_rec e;
            s->bans_restored += change == BAN_ADDED;
            to_export(r, &e);
            banpub_restored(s->pub, export_event(change), &e);
        }
        return;
    }
    if (change == BAN_ADDED)
        st->bans_issued++;
    else if (change == BAN_REMOVED)
        st->bans_removed++;
    else if (change == BAN_EXPIRED)
        st->bans_expired++;
    log_change(s, change, r);
    if (s->pub) {
        banexport_rec e;
        to_export(r, &e);
        banpub_changed(s->pub, export_event(change), &e);
    }
}

/* bansrv_expire_now - drop the bans past their end now (the timer does it each second) */
void bansrv_expire_now(server *s)
{
    if (s->eng.bans)
        ban_expire(s->eng.bans, wall_s(s));
}

/* on_expire - the one-second timer */
static void on_expire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bansrv_expire_now(arg);
}

typedef struct walk {
    banpub_rec_fn fn;  /* banpub's callback */
    void *arg;
} walk;

/* walk_one - one ban, to banpub */
static void walk_one(const ban_rec *r, void *arg)
{
    walk *w = arg;
    banexport_rec e;

    to_export(r, &e);
    w->fn(&e, w->arg);
}

/* pub_foreach - banpub's view of the current bans */
static void pub_foreach(void *ctx, banpub_rec_fn fn, void *arg)
{
    server *s = ctx;
    walk w = {fn, arg};

    ban_foreach(s->eng.bans, wall_s(s), walk_one, &w);
}

/* pub_wall - banpub's clock */
static uint64_t pub_wall(void *ctx)
{
    return wall_s(ctx);
}

/* pub_push - banpub's events to the followers */
static void pub_push(void *ctx, const char *text, size_t tlen, const char *json, size_t jlen)
{
    conn_follow_push(ctx, text, tlen, json, jlen);
}

/* pub_conf - the bans section as banpub's settings (pointers into cb: banpub copies them) */
static banpub_conf pub_conf(const conf_bans *cb)
{
    banpub_conf pc = {
        .export_format = cb->export_format && cb->export_path ? banexport_parse_format(cb->export_format) : -1,
        .export_path = cb->export_path,
        .on_ban = (const char *const *)cb->on_ban,
        .on_unban = (const char *const *)cb->on_unban,
        .hooks_running = (unsigned)cb->hooks_max,
        .hooks_queued = BANPUB_HOOKS_QUEUED,
        .hooks_timeout_ms = cb->hooks_timeout_ms,
    };
    return pc;
}

/* bansrv_start - index, listener, timer, publisher */
int bansrv_start(server *s)
{
    struct timeval tv = {BANSRV_EXPIRE_MS / 1000, BANSRV_EXPIRE_MS % 1000 * 1000};

    s->eng.bans = ban_index_new();
    s->eng.wall = engine_wall;
    s->eng.wall_arg = s;
    ban_set_max(s->eng.bans, (size_t)s->conf->bans.max);
    ban_on_change(s->eng.bans, on_change, s);
    s->ban_timer = event_new(s->base, -1, EV_PERSIST, on_expire, s);
    evtimer_add(s->ban_timer, &tv);

    banpub_conf pc = pub_conf(&s->conf->bans);
    banpub_env env = {pub_foreach, pub_wall, pub_push, s};
    s->pub = banpub_new(s->base, &pc, &env);
    if (!s->pub) {
        log_error("bans: the publisher cannot start (SIGCHLD event)");
        return -1;
    }
    return 0;
}

/* bansrv_restore_begin - the snapshot and journal are loaded from now on: what they restore is told to nobody */
void bansrv_restore_begin(server *s)
{
    s->bans_restoring = BANSRV_RESTORE_START;
}

/* bansrv_restore_end - the load is done: every change is told again */
void bansrv_restore_end(server *s)
{
    s->bans_restoring = 0;
}

/* bansrv_fleet_restore - around a record of the fleet's first resync (1 before, 0 after); -1 at its end */
void bansrv_fleet_restore(server *s, int on)
{
    if (on >= 0) {
        s->bans_restoring = on ? BANSRV_RESTORE_FLEET : 0;
        return;
    }
    /* one line for them all: the bans were logged (and their hooks run) where and when they were made */
    log_info("bans: restored %llu bans from the fleet's store (its first resync since the start)",
             (unsigned long long)s->bans_restored);
    s->bans_restored = 0;
}

/* bansrv_reload - the reloaded file's export and hooks (the export is written again if its format or
 * path changed); the index and its bans stay */
void bansrv_reload(server *s, const struct fg_conf *c)
{
    banpub_conf pc = pub_conf(&c->bans);

    ban_set_max(s->eng.bans, (size_t)c->bans.max);
    if (s->pub && banpub_reconfigure(s->pub, &pc) < 0)
        log_error("bans: on_ban/on_unban stay off: cannot watch SIGCHLD");
}

/* bansrv_stop - everything goes; no listener is told */
void bansrv_stop(server *s)
{
    if (s->ban_timer)
        event_free(s->ban_timer);
    s->ban_timer = NULL;
    banpub_free(s->pub);
    s->pub = NULL;
    ban_index_free(s->eng.bans);
    s->eng.bans = NULL;
}

/* reply_error - status=error with a one-line message */
static void reply_error(struct evbuffer *out, const char *fmt, const char *arg)
{
    evbuffer_add_printf(out, "status=error\nmessage=");
    evbuffer_add_printf(out, fmt, arg);
    evbuffer_add_printf(out, "\n\n");
}

/* one_line - the text with newlines and control bytes made harmless (a field of the reply, a log value) */
static int one_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* parse_key - "ADDR", "NET/LEN" or "user:NAME" into a ban key */
static int parse_key(const char *text, ban_rec *k, const char **why)
{
    if (!strncmp(text, "user:", 5)) {
        if (ban_user(text + 5, strlen(text + 5), k) < 0 || !one_line(text + 5)) {
            *why = "a user name of 1 to 255 bytes";
            return -1;
        }
        return 0;
    }
    return ban_parse(text, k, why);
}

/* bansrv_ban - command=ban arg1=KEY [duration=D] [reason=TEXT] */
void bansrv_ban(server *s, fg_request *req, const char *const *args, int nargs, struct evbuffer *out)
{
    size_t dlen, rlen;
    const char *dur = req_get_name(req, "duration", &dlen), *reason = req_get_name(req, "reason", &rlen), *why;
    char date[32], rbuf[BANSRV_REASON_MAX + 1];
    uint64_t ms = 0, now = wall_s(s);
    ban_rec k;

    if (nargs < 1 || nargs > 2) {
        reply_error(out, "%s", "usage: ban ADDR|NET [DURATION|forever] [--reason TEXT]");
        return;
    }
    if (nargs == 2) { /* the duration as a second argument works too */
        dur = args[1];
        dlen = strlen(dur);
    }
    if (parse_key(args[0], &k, &why) < 0) {
        reply_error(out, "not an address or network: %s", why);
        return;
    }
    if (k.family) {
        fg_addr a = {.family = k.family};
        memcpy(a.bytes, k.bytes, 16);
        if (ruleset_trusted_net(s->rules, &a, k.prefix)) {
            reply_error(out, "refused: %s is or holds a trusted address (loopback, trusted = [...]), never banned", k.net);
            return;
        }
    }
    if (!dlen) {
        dur = BANSRV_DEFAULT_DURATION;
        dlen = strlen(dur);
    }
    if (strcmp(dur, "forever") && num_parse_duration(dur, 1000, BANSRV_DURATION_MAX, &ms, &why) < 0) {
        reply_error(out, "bad duration (1s to 3650d, like 90m, 1h, 7d, or forever): %s", why);
        return;
    }
    if (rlen) {
        if (rlen > BANSRV_REASON_MAX) {
            /* cut at a character boundary: half a UTF-8 character would reach the JSON and the log */
            rlen = BANSRV_REASON_MAX;
            while (rlen > 0 && ((unsigned char)reason[rlen] & 0xc0) == 0x80)
                rlen--;
        }
        snprintf(rbuf, sizeof rbuf, "%.*s", (int)rlen, reason);
        for (char *p = rbuf; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    } else {
        snprintf(rbuf, sizeof rbuf, "manual");
    }
    k.reason = rbuf;
    k.rule = NULL;
    k.since = now;
    k.expires = ms ? now + (ms + 999) / 1000 : 0;
    const ban_rec *was = ban_find(s->eng.bans, &k, now);
    k.times = was ? was->times : 1; /* a manual ban is no repeat offence: escalation is the rules' */
    int rc = ban_add(s->eng.bans, &k);
    if (rc == BAN_FULL) {
        reply_error(out, "refused: the ban index is full (bans.max) and every ban in it ends after this one; "
                    "unban something or raise bans.max%s", "");
        return;
    }
    date_text(k.expires, date, sizeof date);
    evbuffer_add_printf(out, "status=ok\nkey=%s\nreason=%s\nexpires=%s\nreplaced=%s\n\n", k.net, rbuf, date,
                        rc == 1 ? "yes" : "no");
}

/* bansrv_unban - command=unban arg1=KEY */
void bansrv_unban(server *s, const char *const *args, int nargs, struct evbuffer *out)
{
    const char *why;
    ban_rec k;

    if (nargs != 1) {
        reply_error(out, "%s", "usage: unban ADDR|NET|user:NAME");
        return;
    }
    if (parse_key(args[0], &k, &why) < 0) {
        reply_error(out, "not an address or network: %s", why);
        return;
    }
    if (ban_remove(s->eng.bans, &k) < 0) {
        reply_error(out, "not banned: %s", k.net);
        return;
    }
    evbuffer_add_printf(out, "status=ok\nkey=%s\n\n", k.net);
}

/* bansrv_printable - s with control bytes as \xNN, a copy */
char *bansrv_printable(const char *s, size_t n)
{
    char *out = fg_malloc(4 * n + 1), *p = out;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(p, 5, "\\x%02x", c);
            p += 4;
        } else {
            *p++ = (char)c;
        }
    }
    *p = '\0';
    return out;
}

typedef struct row {
    char *key;                   /* address, network or "user:" and the whole name: printable copies */
    char *reason, *rule;
    uint64_t since, expires;
    uint32_t times;
    uint8_t family, prefix;
    uint8_t bytes[16];
} row;

typedef struct rows {
    row *v;
    size_t n, cap;
} rows;

/* row_add - ban_foreach callback: copy one ban */
static void row_add(const ban_rec *r, void *arg)
{
    rows *t = arg;

    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = fg_realloc(t->v, t->cap * sizeof *t->v);
    }
    row *w = &t->v[t->n++];
    if (r->family) {
        w->key = bansrv_printable(r->net, strlen(r->net));
    } else { /* the whole name (net holds it cut to 63 bytes): what unban user:NAME takes */
        size_t n = r->namelen ? r->namelen : strlen(r->name);
        char *name = bansrv_printable(r->name, n);
        w->key = fg_malloc(5 + strlen(name) + 1);
        memcpy(w->key, "user:", 5);
        memcpy(w->key + 5, name, strlen(name) + 1);
        fg_free(name);
    }
    w->reason = bansrv_printable(r->reason ? r->reason : "", r->reason ? strlen(r->reason) : 0);
    w->rule = bansrv_printable(r->rule ? r->rule : "manual", strlen(r->rule ? r->rule : "manual"));
    w->since = r->since;
    w->expires = r->expires;
    w->times = r->times;
    w->family = r->family;
    w->prefix = r->prefix;
    memcpy(w->bytes, r->bytes, 16);
}

/* row_cmp - IPv4, then IPv6, by address then prefix; user names last, by name */
static int row_cmp(const void *a, const void *b)
{
    const row *x = a, *y = b;
    int fx = x->family ? x->family : 99, fy = y->family ? y->family : 99, c;

    if (fx != fy)
        return fx < fy ? -1 : 1;
    if (!x->family)
        return strcmp(x->key, y->key);
    if ((c = memcmp(x->bytes, y->bytes, 16)) != 0)
        return c;
    return (int)x->prefix - (int)y->prefix;
}

/* bansrv_table - the current bans as aligned text lines, a header first */
void bansrv_table(server *s, struct evbuffer *out)
{
    rows t = {0};
    size_t wk = 3, wr = 6, wu = 4;
    char since[32], expires[32];

    ban_foreach(s->eng.bans, wall_s(s), row_add, &t);
    qsort(t.v, t.n, sizeof *t.v, row_cmp);
    for (size_t i = 0; i < t.n; i++) {
        size_t a = strlen(t.v[i].key), b = strlen(t.v[i].reason), c = strlen(t.v[i].rule);
        wk = a > wk ? a : wk;
        wr = b > wr ? (b < 40 ? b : 40) : wr;
        wu = c > wu ? c : wu;
    }
    evbuffer_add_printf(out, "status=ok\nformat=table\ncount=%zu\n", t.n + 1);
    evbuffer_add_printf(out, "line[]=%-*s  %-*s  %-*s  %-20s  %-20s  %s\n", (int)wk, "KEY", (int)wr, "REASON", (int)wu,
                        "RULE", "SINCE", "EXPIRES", "TIMES");
    for (size_t i = 0; i < t.n; i++) {
        row *w = &t.v[i];
        date_text(w->since, since, sizeof since);
        date_text(w->expires, expires, sizeof expires);
        evbuffer_add_printf(out, "line[]=%-*s  %-*s  %-*s  %-20s  %-20s  %u\n", (int)wk, w->key, (int)wr, w->reason,
                            (int)wu, w->rule, since, expires, w->times);
        fg_free(w->key);
        fg_free(w->reason);
        fg_free(w->rule);
    }
    evbuffer_add(out, "\n", 1);
    fg_free(t.v);
}
