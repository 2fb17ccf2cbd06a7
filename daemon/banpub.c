/*
 * banpub - publishing the bans (see banpub.h)
 */
#include "banpub.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "bandump.h"
#include "file.h"
#include "log.h"

struct banpub {
    banpub_conf conf;      /* its export_path, on_ban, on_unban point at the copies below */
    char *export_path;     /* owned copies: the configuration they came from may be freed (a reload) */
    char **on_ban, **on_unban;
    struct event_base *base;
    banpub_env env;
    banhook *hooks;
    struct event *timer;   /* the coalescing delay, then the writer's reaping ticks */
    pid_t writer;          /* export child, 0 = none */
    int writer_fd;         /* its pipe: the st_dev/st_ino of the file it renamed into place; -1 none */
    char *writer_path;     /* the path it writes (the configuration's when it started) */
    char *ours_path;       /* the last file a writer put in place, NULL none: removed when the path moves */
    dev_t ours_dev;        /* ... and what it was: a file someone else put there later is never removed */
    ino_t ours_ino;
    int dirty;             /* a change not yet in a started writer */
    banpub_stats st;
};

typedef struct collect {
    banexport_rec *v;
    size_t n, cap;
} collect;

/* sat_inc - saturating counter */
static void sat_inc(uint64_t *c)
{
    if (*c != UINT64_MAX)
        (*c)++;
}

/* collect_one - append a record (the strings stay the index's: used before the loop turns again) */
static void collect_one(const banexport_rec *r, void *arg)
{
    collect *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = fg_realloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = *r;
}

/* banpub_format - every current ban in one format */
void banpub_format(banpub *p, int fmt, struct evbuffer *out)
{
    collect c = {0};
    p->env.foreach(p->env.ctx, collect_one, &c);
    banexport_write(fmt, c.v, c.n, p->env.wall(p->env.ctx), out);
    fg_free(c.v);
}

/* banpub_follow_start - the current bans as ban events, then the synced line */
void banpub_follow_start(banpub *p, int json, struct evbuffer *out)
{
    collect c = {0};
    uint64_t now = p->env.wall(p->env.ctx);
    size_t live = 0;

    p->env.foreach(p->env.ctx, collect_one, &c);
    for (size_t i = 0; i < c.n; i++) {
        if (c.v[i].expires && c.v[i].expires <= now)
            continue;
        if (!json && c.v[i].family != 4 && c.v[i].family != 6)
            continue; /* username bans: JSON followers only */
        banexport_event(BANEXPORT_BAN, &c.v[i], now, json, out);
        live++;
    }
    if (json)
        evbuffer_add_printf(out, "{\"event\":\"synced\",\"count\":%zu}\n", live);
    else
        evbuffer_add_printf(out, "synced %zu\n", live);
    fg_free(c.v);
}

/* write_buffer - file_replace's writer: the evbuffer's bytes */
static int write_buffer(FILE *f, void *arg)
{
    struct evbuffer *b = arg;
    size_t len = evbuffer_get_length(b);
    return len && fwrite(evbuffer_pullup(b, -1), 1, len, f) != len;
}

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

/* export_child - in the forked writer: format and replace the file, tell the parent (fd) what it put in
 * place; never returns */
static void export_child(banpub *p, int fd)
{
    char err[512];
    struct evbuffer *b = evbuffer_new();
    file_id id;

    if (!b)
        _exit(1);
    banpub_format(p, p->conf.export_format, b);
    if (file_replace_id(p->conf.export_path, 0644, write_buffer, b, &id.dev, &id.ino, err, sizeof err) != 0) {
        fprintf(stderr, "floodgated: bans.export: %s\n", err);
        _exit(1);
    }
    /* a pipe holds far more than this: the write never blocks, and the parent reads it once we are reaped */
    _exit(write(fd, &id, sizeof id) == (ssize_t)sizeof id ? 0 : 1);
}

/* arm - the timer in ms */
static void arm(banpub *p, unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000 * 1000)};
    event_add(p->timer, &tv);
}

/* drop_old - the file the export wrote, where the export no longer goes (a reload moved bans.export.path):
 * removed when it is still the file we renamed there (same st_dev/st_ino); what an admin put there since stays */
static void drop_old(banpub *p)
{
    struct stat st;

    if (!p->ours_path || p->writer || !p->conf.export_path || !strcmp(p->ours_path, p->conf.export_path))
        return;
    if (lstat(p->ours_path, &st) == 0 && st.st_dev == p->ours_dev && st.st_ino == p->ours_ino) {
        if (unlink(p->ours_path) == 0)
            log_info("bans.export: removed %s (the export is now %s)", p->ours_path, p->conf.export_path);
        else
            log_warn("bans.export: cannot remove the old export %s: %s", p->ours_path, strerror(errno));
    } else if (errno != ENOENT) {
        log_info("bans.export: %s left in place: it is not the file floodgated wrote there", p->ours_path);
    }
    fg_free(p->ours_path);
    p->ours_path = NULL;
}

/* reap - collect a finished writer; 1 when none runs any more */
static int reap(banpub *p, int block)
{
    int status;
    file_id id;

    if (!p->writer)
        return 1;
    pid_t r = waitpid(p->writer, &status, block ? 0 : WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    p->writer = 0;
    if (r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        sat_inc(&p->st.exports);
        if (read(p->writer_fd, &id, sizeof id) == (ssize_t)sizeof id) {
            fg_free(p->ours_path);
            p->ours_path = p->writer_path;
            p->writer_path = NULL;
            p->ours_dev = id.dev;
            p->ours_ino = id.ino;
        }
    } else {
        sat_inc(&p->st.export_failures);
        log_error("bans.export: writing %s failed; the previous file stays", p->writer_path);
    }
    close(p->writer_fd);
    p->writer_fd = -1;
    fg_free(p->writer_path);
    p->writer_path = NULL;
    drop_old(p);
    return 1;
}

/* start_writer - fork the export writer for the current state */
static void start_writer(banpub *p)
{
    sigset_t all, old;
    pid_t pid = -1;
    int fds[2];

    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        pid = fork();
        if (pid == 0) {
            bandump_child_signals(); /* as the snapshot child: the parent's handlers are libevent's */
            close(fds[0]);
            export_child(p, fds[1]);
        }
        int fork_errno = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(fds[1]);
        if (pid < 0)
            close(fds[0]);
        errno = fork_errno;
    }
    p->dirty = 0;
    if (pid < 0) {
        sat_inc(&p->st.export_failures);
        log_error("bans.export: fork: %s; trying again", strerror(errno));
        p->dirty = 1;
        arm(p, 1000);
        return;
    }
    p->writer = pid;
    p->writer_fd = fds[0];
    p->writer_path = fg_strdup(p->conf.export_path);
    arm(p, BANPUB_REAP_MS);
}

/* on_timer - the delay passed, or a writer is looked at */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    banpub *p = arg;
    (void)fd;
    (void)what;
    if (!reap(p, 0)) {
        arm(p, BANPUB_REAP_MS);
        return;
    }
    if (p->dirty && p->conf.export_format >= 0)
        start_writer(p);
    else
        p->dirty = 0; /* the export was turned off by a reload */
}

/* hook_dropped - log a dropped hook: the first, then at each power of two (a restart restoring a million
 * bans must not write a million lines) */
static void hook_dropped(banpub *p, const char *label, const char *net)
{
    uint64_t d = banhook_get_stats(p->hooks).dropped;
    if ((d & (d - 1)) == 0)
        log_warn("%s %s: dropped: %u hooks running and %u waiting (%llu dropped so far)", label, net,
                 p->conf.hooks_running, p->conf.hooks_queued, (unsigned long long)d);
}

/* run_hook - on_ban for a ban, on_unban for an unban or an expiry */
static void run_hook(banpub *p, int ev, const banexport_rec *r, uint64_t now)
{
    char net[64], dur[32];

    banexport_network(r, net, sizeof net);
    if (ev == BANEXPORT_BAN && p->conf.on_ban) {
        if (r->expires)
            snprintf(dur, sizeof dur, "%llu", (unsigned long long)(r->expires > now ? r->expires - now : 0));
        else
            snprintf(dur, sizeof dur, "forever");
        if (banhook_run(p->hooks, "on_ban", p->conf.on_ban, net, r->reason, dur) < 0)
            hook_dropped(p, "on_ban", net);
    } else if (ev != BANEXPORT_BAN && p->conf.on_unban) {
        if (banhook_run(p->hooks, "on_unban", p->conf.on_unban, net, r->reason, "0") < 0)
            hook_dropped(p, "on_unban", net);
    }
}

/* publish - one ban, unban or expiry: followers, hooks (if hooks), then the export later */
static void publish(banpub *p, int ev, const banexport_rec *r, int hooks)
{
    uint64_t now = p->env.wall(p->env.ctx);

    if (p->env.push) {
        struct evbuffer *t = evbuffer_new(), *j = evbuffer_new();
        if (t && j) {
            banexport_event(ev, r, now, 0, t);
            banexport_event(ev, r, now, 1, j);
            p->env.push(p->env.ctx, (const char *)evbuffer_pullup(t, -1), evbuffer_get_length(t),
                        (const char *)evbuffer_pullup(j, -1), evbuffer_get_length(j));
        }
        if (t)
            evbuffer_free(t);
        if (j)
            evbuffer_free(j);
    }
    /* a username ban runs no hook (they take addresses); the JSON export has it, so the file follows */
    if (hooks && (r->family == 4 || r->family == 6))
        run_hook(p, ev, r, now);
    if (p->conf.export_format >= 0 && p->conf.export_path && !p->dirty) {
        p->dirty = 1;
        if (!p->writer)
            arm(p, BANPUB_EXPORT_DELAY_MS); /* a running writer's tick starts the next one */
    }
}

/* banpub_changed - one ban, unban or expiry: followers, hooks, then the export later */
void banpub_changed(banpub *p, int ev, const banexport_rec *r)
{
    publish(p, ev, r, 1);
}

/* banpub_restored - a ban restored (the fleet's first resync): followers and the export, no hook */
void banpub_restored(banpub *p, int ev, const banexport_rec *r)
{
    publish(p, ev, r, 0);
}

/* argv_dup - a NULL-terminated copy of a NULL-terminated argv; NULL for none or an empty one */
static char **argv_dup(const char *const *argv)
{
    size_t n = 0;
    char **v;

    if (!argv || !argv[0])
        return NULL;
    while (argv[n])
        n++;
    v = fg_calloc(n + 1, sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = fg_strdup(argv[i]);
    return v;
}

/* argv_free - free what argv_dup made */
static void argv_free(char **argv)
{
    for (char **a = argv; a && *a; a++)
        fg_free(*a);
    fg_free(argv);
}

/* set_conf - take copies of conf's strings (dropping the previous ones) */
static void set_conf(banpub *p, const banpub_conf *conf)
{
    fg_free(p->export_path);
    argv_free(p->on_ban);
    argv_free(p->on_unban);
    p->export_path = conf->export_path ? fg_strdup(conf->export_path) : NULL;
    p->on_ban = argv_dup(conf->on_ban);
    p->on_unban = argv_dup(conf->on_unban);
    p->conf = *conf;
    p->conf.export_path = p->export_path;
    p->conf.on_ban = (const char *const *)p->on_ban;
    p->conf.on_unban = (const char *const *)p->on_unban;
    if (!p->export_path)
        p->conf.export_format = -1;
}

/* set_hooks - a runner when there are hooks (kept, with new bounds, once made: its children are ours) */
static int set_hooks(banpub *p)
{
    unsigned running = p->conf.hooks_running ? p->conf.hooks_running : 4;

    if (p->hooks)
        banhook_set_max(p->hooks, running, p->conf.hooks_queued);
    else if (p->on_ban || p->on_unban)
        p->hooks = banhook_new(p->base, running, p->conf.hooks_queued);
    banhook_set_timeout(p->hooks, p->conf.hooks_timeout_ms);
    return (p->on_ban || p->on_unban) && !p->hooks ? -1 : 0;
}

/* banpub_new - publishing on base */
banpub *banpub_new(struct event_base *base, const banpub_conf *conf, const banpub_env *env)
{
    banpub *p = fg_calloc(1, sizeof *p);

    p->base = base;
    p->env = *env;
    p->writer_fd = -1;
    set_conf(p, conf);
    p->timer = evtimer_new(base, on_timer, p);
    if (!p->timer || set_hooks(p) < 0) {
        banpub_free(p);
        return NULL;
    }
    return p;
}

/* banpub_export_now - write the export file soon (at start, after a reload that changed it) */
void banpub_export_now(banpub *p)
{
    if (!p || p->conf.export_format < 0 || !p->conf.export_path)
        return;
    if (!p->dirty) {
        p->dirty = 1;
        if (!p->writer)
            arm(p, 0);
    }
}

/* banpub_reconfigure - new settings (a reload); 1 when the export's format or path changed (then the file
 * is written again), else 0; -1 when the hooks' runner cannot be made (the hooks stay off) */
int banpub_reconfigure(banpub *p, const banpub_conf *conf)
{
    int changed = conf->export_format != p->conf.export_format ||
                  (conf->export_path && p->conf.export_path ? strcmp(conf->export_path, p->conf.export_path) != 0
                                                            : conf->export_path != p->conf.export_path);

    set_conf(p, conf);
    if (changed)
        banpub_export_now(p);
    drop_old(p); /* a running writer's file: when it is reaped */
    if (set_hooks(p) < 0)
        return -1;
    return changed;
}

/* banpub_free - wait for a running writer, then forget everything */
void banpub_free(banpub *p)
{
    if (!p)
        return;
    reap(p, 1);
    if (p->timer)
        event_free(p->timer);
    banhook_free(p->hooks);
    fg_free(p->ours_path);
    fg_free(p->export_path);
    argv_free(p->on_ban);
    argv_free(p->on_unban);
    fg_free(p);
}

/* banpub_get_stats - counters */
banpub_stats banpub_get_stats(const banpub *p)
{
    banpub_stats s = p->st;
    s.hooks = banhook_get_stats(p->hooks);
    return s;
}

