/*
 * watcher - log watches as a front end: a matching line becomes a report request (see watcher.h)
 *
 * Each watch has a tail (file or journal) and a few request slots. A line
 * that matches its pattern is turned into `request=report`, `event=` and
 * the pattern's named groups, and handed to the same engine as a request
 * from a policy socket: the same rules, counters and bans. Nothing is
 * answered. When every slot waits on the store (a networked store), the
 * tail stops and keeps its line until a slot frees up, so a log burst
 * neither grows memory nor loses lines.
 *
 * Journal cursors are kept in `store.snapshot` + ".journal" (rewritten
 * atomically, at most once a second, when one has moved), so a restart
 * resumes where the last run stopped.
 */
#include "watcher.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "alloc.h"
#include "dispatch.h"
#include "file.h"
#include "tail.h"
#include "watch.h"

#define WATCH_SLOTS 16          /* requests of one watch in flight */
#define CURSOR_SAVE_MS 1000     /* journal cursors are saved at most this often */

typedef struct watcher watcher;

typedef struct wslot {
    watcher *w;             /* owner */
    int busy;               /* waiting on the store */
    char *buf;              /* names and values of the request, NUL-terminated */
    size_t cap;             /* bytes of buf */
    fg_request req;
    dispatch job;
} wslot;

struct watcher {
    server *srv;
    watch_spec *spec;       /* in srv->conf->watches */
    tail *t;
    wslot slots[WATCH_SLOTS];
    int waiting;            /* the tail was told busy */
    uint64_t matched;       /* lines that matched */
    uint64_t bad_address;   /* matched, but client_address is not an address */
    uint64_t last_match_s;  /* wall time of the last match, 0 = never */
    char *saved_cursor;     /* the journal cursor last written */
    int stopped;            /* stopped (a reload removed it, or shutdown) with slots still waiting on the store:
                             * the last of their answers frees it */
};

struct watchers {
    watcher **w;            /* each its own allocation: slots waiting on the store point into it */
    unsigned n;
    char *cursor_path;      /* NULL: cursors are not kept */
    struct event *save_ev;
};

static void watcher_free(watcher *w);

/* slot_done - the store answered a pending report */
static void slot_done(dispatch *d, void *arg)
{
    wslot *s = arg;
    watcher *w = s->w;

    (void)d;
    s->busy = 0;
    if (w->stopped) {
        for (unsigned k = 0; k < WATCH_SLOTS; k++)
            if (w->slots[k].busy)
                return;
        watcher_free(w);
        return;
    }
    if (w->waiting && w->t) {
        w->waiting = 0;
        tail_resume(w->t);
    }
}

/* put - copy bytes into a slot's buffer, NUL-terminated; returns where */
static const char *put(char *buf, size_t *at, const char *s, size_t len)
{
    char *p = buf + *at;
    memcpy(p, s, len);
    p[len] = '\0';
    *at += len + 1;
    return p;
}

/* on_line - a log line: match it, and report it */
static int on_line(void *arg, const char *line, size_t len)
{
    watcher *w = arg;
    server *srv = w->srv;
    watch_attr at[WATCH_GROUPS_MAX];
    wslot *s = NULL;
    size_t used = 0;
    int n = watch_line(w->spec, line, len, at);

    if (n < 0)
        return 0; /* no match, or matching failed (counted by the spec) */
    for (unsigned i = 0; i < WATCH_SLOTS && !s; i++)
        if (!w->slots[i].busy)
            s = &w->slots[i];
    if (!s) {
        w->waiting = 1;
        return 1;
    }
    /* what this line's request holds: named groups may overlap (nested, or in a lookahead), so their values
     * can add up to several times the line; and a reload may have given the watch a longer event or more groups */
    size_t need = sizeof "request" + sizeof "report" + sizeof "event" + strlen(w->spec->event) + 1 + sizeof "watch" +
                  strlen(w->spec->name) + 1;
    for (int i = 0; i < n; i++)
        need += strlen(at[i].name) + 1 + at[i].len + 1;
    if (need > s->cap) { /* a free slot: nothing points into its buffer */
        fg_free(s->buf);
        s->cap = need > TAIL_LINE_MAX + 1024 ? need : TAIL_LINE_MAX + 1024;
        s->buf = fg_malloc(s->cap);
    }
    w->matched++;
    w->last_match_s = (uint64_t)time(NULL);
    req_reset(&s->req);
    req_set(&s->req, "request", 7, put(s->buf, &used, "report", 6), 6);
    req_set(&s->req, "event", 5, put(s->buf, &used, w->spec->event, strlen(w->spec->event)),
            strlen(w->spec->event));
    /* the watch's own name, so that a rule (a ban) can pick the reports of one watch: if = { watch = ...; } */
    req_set(&s->req, "watch", 5, put(s->buf, &used, w->spec->name, strlen(w->spec->name)), strlen(w->spec->name));
    for (int i = 0; i < n; i++) {
        const char *name = put(s->buf, &used, at[i].name, strlen(at[i].name));
        req_set(&s->req, name, strlen(name), put(s->buf, &used, line + at[i].off, at[i].len), at[i].len);
    }
    size_t alen;
    req_get(&s->req, ATTR_CLIENT_ADDRESS, &alen);
    if (alen && !req_client_addr(&s->req)) {
        w->bad_address++;
        log_limited(&srv->bad_log, server_now(srv), LOG_WARN_, "watch %s: client_address is not an address",
                    w->spec->name);
        return 0;
    }
    srv->st.requests++;
    if (dispatch_run(srv, &s->job, &s->req, FRONT_WATCH, slot_done, s) == DISPATCH_PENDING)
        s->busy = 1;
    return 0;
}

/* load_cursors - the saved journal positions: "NAME CURSOR" lines */
static char *load_cursor(const char *path, const char *name)
{
    char line[1024], *found = NULL;
    FILE *f = path ? fopen(path, "r") : NULL;
    size_t nlen = strlen(name);

    if (!f)
        return NULL;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (!strncmp(line, name, nlen) && line[nlen] == ' ')
            found = fg_strdup(line + nlen + 1);
    }
    fclose(f);
    return found;
}

/* write_cursors - file_replace's writer */
static int write_cursors(FILE *f, void *arg)
{
    watchers *ws = arg;

    for (unsigned i = 0; i < ws->n; i++) {
        const char *c = ws->w[i]->t ? tail_cursor(ws->w[i]->t) : NULL;
        if (c)
            fprintf(f, "%s %s\n", ws->w[i]->spec->name, c);
    }
    return ferror(f);
}

/* on_save - write the cursors when one has moved */
static void on_save(evutil_socket_t fd, short what, void *arg)
{
    watchers *ws = arg;
    char err[512];
    int moved = 0;

    (void)fd;
    (void)what;
    for (unsigned i = 0; i < ws->n; i++) {
        watcher *w = ws->w[i];
        const char *c = w->t ? tail_cursor(w->t) : NULL;
        if (c && (!w->saved_cursor || strcmp(c, w->saved_cursor))) {
            fg_free(w->saved_cursor);
            w->saved_cursor = fg_strdup(c);
            moved = 1;
        }
    }
    if (moved && file_replace(ws->cursor_path, 0600, write_cursors, ws, err, sizeof err) < 0)
        log_error("watch: journal cursors: %s", err);
}

/* watcher_start - one watch: its slots and its tail */
static watcher *watcher_start(server *srv, const char *cursor_path, watch_spec *spec)
{
    watcher *w = fg_calloc(1, sizeof *w);
    char err[512];

    w->srv = srv;
    w->spec = spec;
    for (unsigned k = 0; k < WATCH_SLOTS; k++)
        w->slots[k].w = w; /* its buffer comes with its first line */
    if (spec->file) {
        w->t = tail_file_new(srv->base, spec->file, on_line, w);
        log_info("watch %s: following %s", spec->name, spec->file);
        return w;
    }
    char *cursor = load_cursor(cursor_path, spec->name);
    w->t = tail_journal_new(srv->base, spec->journal, cursor, on_line, w, err, sizeof err);
    w->saved_cursor = cursor;
    if (w->t)
        log_info("watch %s: following the journal of %s%s", spec->name, spec->journal,
                 cursor ? " from the saved cursor" : "");
    else
        log_error("watch %s: %s (the watch is idle)", spec->name, err);
    return w;
}

/* watcher_free - the slots and the watcher, once none waits on the store */
static void watcher_free(watcher *w)
{
    for (unsigned k = 0; k < WATCH_SLOTS; k++) {
        dispatch_release(&w->slots[k].job);
        fg_free(w->slots[k].buf);
    }
    fg_free(w->saved_cursor);
    fg_free(w);
}

/* watcher_stop - one watch's tail and slots; a slot still waiting on the store keeps them until its answer, which
 * points into them (freed here, that answer wrote into freed memory: a reload that removed the watch, a stop) */
static void watcher_stop(watcher *w)
{
    tail_free(w->t);
    w->t = NULL;
    w->spec = NULL; /* its set goes with the reload */
    for (unsigned k = 0; k < WATCH_SLOTS; k++)
        if (w->slots[k].busy) {
            w->stopped = 1;
            return;
        }
    watcher_free(w);
}

/* same_source - do two watches of one name read the same log? */
static int same_source(const watch_spec *a, const watch_spec *b)
{
    return !strcmp(a->name, b->name) && !a->file == !b->file &&
           !strcmp(a->file ? a->file : a->journal, b->file ? b->file : b->journal);
}

/* watchers_reload - keep what follows the same log, start and stop the rest */
watchers *watchers_reload(server *srv, watchers *ws, watchset *next)
{
    watcher **old = ws->w;
    unsigned nold = ws->n;

    ws->n = next ? next->n : 0;
    ws->w = fg_calloc(ws->n ? ws->n : 1, sizeof *ws->w);
    for (unsigned i = 0; i < ws->n; i++) {
        for (unsigned j = 0; j < nold && !ws->w[i]; j++)
            if (old[j] && same_source(old[j]->spec, &next->w[i])) {
                /* the tail goes on where it was, with the new pattern and event */
                ws->w[i] = old[j];
                ws->w[i]->spec = &next->w[i];
                old[j] = NULL;
            }
        if (!ws->w[i])
            ws->w[i] = watcher_start(srv, ws->cursor_path, &next->w[i]);
    }
    for (unsigned j = 0; j < nold; j++)
        if (old[j])
            watcher_stop(old[j]);
    fg_free(old);
    return ws;
}

/* watchers_start - follow every watch of the configuration */
watchers *watchers_start(server *srv, watchset *set)
{
    watchers *ws = fg_calloc(1, sizeof *ws);

    if (srv->conf->store.snapshot) {
        size_t n = strlen(srv->conf->store.snapshot) + sizeof ".journal";
        struct timeval tv = {CURSOR_SAVE_MS / 1000, (CURSOR_SAVE_MS % 1000) * 1000};
        ws->cursor_path = fg_malloc(n);
        snprintf(ws->cursor_path, n, "%s.journal", srv->conf->store.snapshot);
        ws->save_ev = event_new(srv->base, -1, EV_PERSIST, on_save, ws);
        evtimer_add(ws->save_ev, &tv);
    }
    ws->n = set ? set->n : 0;
    ws->w = fg_calloc(ws->n ? ws->n : 1, sizeof *ws->w);
    for (unsigned i = 0; i < ws->n; i++)
        ws->w[i] = watcher_start(srv, ws->cursor_path, &set->w[i]);
    return ws;
}

/* watchers_stop - stop following; saves the journal cursors */
void watchers_stop(watchers *ws)
{
    if (!ws)
        return;
    if (ws->save_ev) {
        on_save(-1, 0, ws);
        event_free(ws->save_ev);
    }
    for (unsigned i = 0; i < ws->n; i++)
        watcher_stop(ws->w[i]);
    fg_free(ws->w);
    fg_free(ws->cursor_path);
    fg_free(ws);
}

/* watchers_report - `floodgatectl watches`: one group of lines per watch */
void watchers_report(const watchers *ws, struct evbuffer *out)
{
    evbuffer_add_printf(out, "status=ok\n");
    for (unsigned i = 0; ws && i < ws->n; i++) {
        const watcher *w = ws->w[i];
        tail_stats ts = {0};
        char when[32] = "never";
        if (w->t)
            tail_get_stats(w->t, &ts);
        if (w->last_match_s) {
            time_t t = (time_t)w->last_match_s;
            struct tm tm;
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        }
        evbuffer_add_printf(out,
                            "watch.%s.source=%s:%s\nwatch.%s.open=%d\nwatch.%s.lines=%llu\nwatch.%s.matched=%llu\n"
                            "watch.%s.last_match=%s\nwatch.%s.cut=%llu\nwatch.%s.rotations=%llu\n"
                            "watch.%s.match_errors=%llu\nwatch.%s.bad_address=%llu\n",
                            w->spec->name, w->spec->file ? "file" : "journal",
                            w->spec->file ? w->spec->file : w->spec->journal, w->spec->name, ts.open, w->spec->name,
                            (unsigned long long)ts.lines, w->spec->name, (unsigned long long)w->matched,
                            w->spec->name, when, w->spec->name, (unsigned long long)ts.cut, w->spec->name,
                            (unsigned long long)ts.rotations, w->spec->name,
                            (unsigned long long)w->spec->match_errors, w->spec->name,
                            (unsigned long long)w->bad_address);
    }
    evbuffer_add(out, "\n", 1);
}
