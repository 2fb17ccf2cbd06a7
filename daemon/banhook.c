/*
 * banhook - the on_ban / on_unban commands (see banhook.h)
 */
#include "banhook.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "log.h"

extern char **environ;

typedef struct hook_job {
    struct hook_job *next;
    struct banhook *h;
    char **argv;           /* expanded */
    char label[16];        /* "on_ban", for the log */
    pid_t pid;             /* while running: its process group's id too */
    struct event *timeout; /* while running: hooks_timeout after the start */
    int killed;            /* the timeout killed its group */
} hook_job;

struct banhook {
    struct event_base *base;
    struct event *sigchld;
    uint64_t timeout_ms;   /* a hook still running after this is killed with its process group */
    unsigned max_running, max_queued;
    hook_job *running;     /* list of running jobs */
    hook_job *head, *tail; /* the queue, oldest first */
    banhook_stats st;
};

/* sat_inc - saturating counter */
static void sat_inc(uint64_t *c)
{
    if (*c != UINT64_MAX)
        (*c)++;
}

/* append - add s to the element being built, cut at BANHOOK_ARG_MAX */
static void append(char *buf, size_t *at, const char *s, size_t n)
{
    if (*at + n > BANHOOK_ARG_MAX)
        n = BANHOOK_ARG_MAX - *at;
    memcpy(buf + *at, s, n);
    *at += n;
}

/* banhook_expand - substitute the three names inside each element */
char **banhook_expand(const char *const *argv, const char *address, const char *reason, const char *duration)
{
    static const char *const names[] = {"$address", "$reason", "$duration"};
    const char *vals[] = {address ? address : "", reason ? reason : "", duration ? duration : ""};
    size_t n = 0;
    char buf[BANHOOK_ARG_MAX + 1];

    while (argv && argv[n] && n < BANHOOK_ARGS_MAX)
        n++;
    if (!n)
        return NULL;
    char **out = fg_calloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        size_t at = 0;
        for (const char *p = argv[i]; *p;) {
            int hit = -1;
            for (int k = 0; k < 3 && *p == '$'; k++)
                if (!strncmp(p, names[k], strlen(names[k])))
                    hit = k;
            if (hit >= 0) {
                append(buf, &at, vals[hit], strlen(vals[hit]));
                p += strlen(names[hit]);
            } else {
                append(buf, &at, p, 1);
                p++;
            }
        }
        buf[at] = '\0';
        out[i] = fg_strdup(buf);
    }
    return out;
}

/* banhook_argv_free - free an expanded argv */
void banhook_argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **p = argv; *p; p++)
        fg_free(*p);
    fg_free(argv);
}

/* job_free - a job, its timer and its argv */
static void job_free(hook_job *j)
{
    if (j->timeout)
        event_free(j->timeout);
    banhook_argv_free(j->argv);
    fg_free(j);
}

/* on_timeout - the job still runs after hooks_timeout: SIGKILL to its whole process group (what it started goes
 * too, unless it left the group); the SIGCHLD that follows collects it */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    hook_job *j = arg;
    char after[32];
    uint64_t ms = j->h->timeout_ms;

    (void)fd;
    (void)what;
    if (ms % 1000)
        snprintf(after, sizeof after, "%llums", (unsigned long long)ms);
    else
        snprintf(after, sizeof after, "%llus", (unsigned long long)(ms / 1000));
    /* the job is not collected yet (collecting stops this timer), so its pid, and the group, are still its */
    if (kill(-j->pid, SIGKILL) < 0)
        log_warn("%s: %s (pid %d): still running after %s: cannot kill its process group: %s", j->label,
                 j->argv[0], (int)j->pid, after, strerror(errno));
    else
        log_warn("%s: %s (pid %d): still running after %s (bans.hooks_timeout): killed with its process group",
                 j->label, j->argv[0], (int)j->pid, after);
    j->killed = 1;
    sat_inc(&j->h->st.killed);
}

/* spawn - start one job; 0 running, -1 failed (logged, counted, freed) */
static int spawn(banhook *h, hook_job *j)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dfl;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigfillset(&dfl);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dfl);
    /* its own process group (setpgid(0, 0) before the exec): the timeout kills it and all it started at once */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    rc = posix_spawn(&j->pid, j->argv[0], &fa, &at, j->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    sat_inc(&h->st.started);
    if (rc != 0) {
        /* glibc reports an exec failure (ENOENT, EACCES) here: the child never ran */
        log_warn("%s: cannot run %s: %s", j->label, j->argv[0], strerror(rc));
        sat_inc(&h->st.finished);
        sat_inc(&h->st.failed);
        job_free(j);
        return -1;
    }
    j->next = h->running;
    h->running = j;
    h->st.running++;
    j->h = h;
    j->timeout = evtimer_new(h->base, on_timeout, j);
    if (j->timeout) {
        struct timeval tv = {(time_t)(h->timeout_ms / 1000), (suseconds_t)(h->timeout_ms % 1000 * 1000)};
        evtimer_add(j->timeout, &tv);
    }
    return 0;
}

/* start_queued - start waiting jobs while there is room */
static void start_queued(banhook *h)
{
    while (h->head && h->st.running < h->max_running) {
        hook_job *j = h->head;
        h->head = j->next;
        if (!h->head)
            h->tail = NULL;
        h->st.queued--;
        j->next = NULL;
        spawn(h, j);
    }
}

/* on_sigchld - collect our children that have exited, log their status, start waiting ones */
static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    banhook *h = arg;
    hook_job **pp = &h->running;
    int status;

    (void)sig;
    (void)what;
    while (*pp) {
        hook_job *j = *pp;
        pid_t r = waitpid(j->pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        h->st.running--;
        sat_inc(&h->st.finished);
        if (j->timeout) /* collected: its pid may be reused from now on, so no kill may come after this */
            event_del(j->timeout);
        if (r < 0) {
            sat_inc(&h->st.failed);
            log_warn("%s: %s (pid %d): lost: %s", j->label, j->argv[0], (int)j->pid, strerror(errno));
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            log_info("%s: %s %s: exit 0", j->label, j->argv[0], j->argv[1] ? j->argv[1] : "");
        } else {
            sat_inc(&h->st.failed);
            if (WIFSIGNALED(status))
                log_warn("%s: %s %s: killed by signal %d%s", j->label, j->argv[0], j->argv[1] ? j->argv[1] : "",
                         WTERMSIG(status), j->killed ? " (bans.hooks_timeout)" : "");
            else
                log_warn("%s: %s %s: exit %d", j->label, j->argv[0], j->argv[1] ? j->argv[1] : "",
                         WEXITSTATUS(status));
        }
        job_free(j);
    }
    start_queued(h);
}

/* banhook_new - a runner with its SIGCHLD event */
banhook *banhook_new(struct event_base *base, unsigned max_running, unsigned max_queued)
{
    banhook *h = fg_calloc(1, sizeof *h);

    h->max_running = max_running ? max_running : 1;
    h->max_queued = max_queued;
    h->base = base;
    h->timeout_ms = BANHOOK_TIMEOUT_MS;
    h->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, h);
    if (!h->sigchld || evsignal_add(h->sigchld, NULL) != 0) {
        log_error("hooks: cannot watch SIGCHLD");
        if (h->sigchld)
            event_free(h->sigchld);
        fg_free(h);
        return NULL;
    }
    return h;
}

/* banhook_set_max - new bounds; a queue longer than the new max_queued is kept (it only drains) */
void banhook_set_max(banhook *h, unsigned max_running, unsigned max_queued)
{
    if (!h)
        return;
    h->max_running = max_running ? max_running : 1;
    h->max_queued = max_queued;
    start_queued(h);
}

/* banhook_set_timeout - hooks started from now on are killed ms after their start if still running (0: the
 * default); the running ones keep theirs */
void banhook_set_timeout(banhook *h, uint64_t ms)
{
    if (h)
        h->timeout_ms = ms ? ms : BANHOOK_TIMEOUT_MS;
}

/* banhook_free - drop the queue and the bookkeeping */
void banhook_free(banhook *h)
{
    if (!h)
        return;
    event_free(h->sigchld);
    for (hook_job *j = h->running, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    for (hook_job *j = h->head, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    fg_free(h);
}

/* banhook_run - expand, then start now or queue */
int banhook_run(banhook *h, const char *label, const char *const *argv, const char *address, const char *reason,
                const char *duration)
{
    if (!h || !argv || !argv[0])
        return 0;
    if (h->st.running >= h->max_running && h->st.queued >= h->max_queued) {
        sat_inc(&h->st.dropped);
        return -1;
    }
    hook_job *j = fg_calloc(1, sizeof *j);
    j->argv = banhook_expand(argv, address, reason, duration);
    snprintf(j->label, sizeof j->label, "%s", label ? label : "hook");
    if (h->st.running < h->max_running) {
        spawn(h, j);
        return 0;
    }
    if (h->tail)
        h->tail->next = j;
    else
        h->head = j;
    h->tail = j;
    h->st.queued++;
    return 0;
}

/* banhook_get_stats - the counters */
banhook_stats banhook_get_stats(const banhook *h)
{
    banhook_stats none = {0};
    return h ? h->st : none;
}
