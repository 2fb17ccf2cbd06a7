/*
 * tail - follow a log file or the journal, line by line (see tail.h)
 *
 * Written here because libevent has no file follower and libsystemd's
 * sd_journal only covers the journal; the rotation logic is fail2ban's
 * and tail -F's: compare the path's inode with the open file's, and the
 * file's size with the position read.
 *
 * A file is read into rbuf, split at newlines into line; a complete line
 * is "held" until the consumer takes it, so a busy consumer loses
 * nothing. The journal hands whole entries (MESSAGE=), held the same way.
 */
#include "tail.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "alloc.h"

struct tail {
    struct event_base *base;
    tail_line_fn fn;             /* the consumer */
    void *arg;
    struct event *check_ev;      /* TAIL_CHECK_MS: rotation, truncation, appearance */
    struct event *more_ev;       /* the rest of a burst, after other events */
    char line[TAIL_LINE_MAX];    /* the line being assembled, or held */
    size_t llen;
    int held;                    /* line is complete and waits for the consumer */
    int skipping;                /* dropping the rest of an overlong line */
    int paused;                  /* the consumer was busy: wait for tail_resume */
    tail_stats st;
    /* a file */
    char *path, *dir, *name;     /* the path, its folder and its last component */
    int fd;                      /* -1 while missing */
    dev_t dev;                   /* of the open file */
    ino_t ino;
    off_t pos;                   /* bytes read from fd */
    int ifd, wd;                 /* inotify instance and the folder's watch (-1 when none) */
    struct event *inotify_ev;
    char rbuf[16384];            /* read, not yet split */
    size_t rlen, roff;
    /* the journal */
    sd_journal *j;
    struct event *journal_ev;
    char *cursor;                /* after the last entry handed on */
};

static void pump(tail *t);

/* schedule_more - go on after the events that are waiting */
static void schedule_more(tail *t)
{
    struct timeval zero = {0, 0};
    event_add(t->more_ev, &zero);
}

/* deliver - hand the held line on; 0 taken, 1 busy */
static int deliver(tail *t)
{
    if (t->fn(t->arg, t->line, t->llen) != 0) {
        t->paused = 1;
        return 1;
    }
    t->held = 0;
    t->llen = 0;
    t->st.lines++;
    return 0;
}

/* forget_partial - a rotation: what was read of the old file but not ended by a newline is dropped */
static void forget_partial(tail *t)
{
    if (!t->held)
        t->llen = 0;
    t->skipping = 0;
    t->rlen = t->roff = 0;
}

/* open_file - open the path; at the end (start-up) or at the start (a new file) */
static void open_file(tail *t, int at_end)
{
    struct stat sb;
    int fd = open(t->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return;
    }
    if (t->fd >= 0)
        close(t->fd);
    t->fd = fd;
    t->dev = sb.st_dev;
    t->ino = sb.st_ino;
    t->pos = at_end ? lseek(fd, 0, SEEK_END) : 0;
    if (t->pos < 0)
        t->pos = 0;
    forget_partial(t);
    t->st.open = 1;
}

/* split - move bytes of rbuf into line; 1 when a line is complete (held) */
static int split(tail *t)
{
    while (t->roff < t->rlen) {
        const char *p = t->rbuf + t->roff;
        size_t n = t->rlen - t->roff;
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;

        if (!t->skipping) {
            size_t room = TAIL_LINE_MAX - t->llen, copy = take < room ? take : room;
            memcpy(t->line + t->llen, p, copy);
            t->llen += copy;
            if (take > room) {
                /* cut at TAIL_LINE_MAX: the line goes on as it is, its rest is dropped */
                t->roff += copy;
                t->skipping = 1;
                t->st.cut++;
                t->held = 1;
                return 1;
            }
        }
        t->roff += take;
        if (nl) {
            t->roff++;
            if (t->skipping) {
                t->skipping = 0;
                continue;
            }
            t->held = 1;
            return 1;
        }
    }
    return 0;
}

/* pump_file - hand on up to TAIL_LINES_PER_WAKEUP lines; 1 when everything there was is read */
static int pump_file(tail *t)
{
    for (unsigned lines = 0; !t->paused;) {
        if (t->held) {
            if (deliver(t))
                return 0;
            if (++lines >= TAIL_LINES_PER_WAKEUP) {
                schedule_more(t);
                return 0;
            }
        }
        if (split(t))
            continue;
        if (t->fd < 0)
            return 1;
        ssize_t n = read(t->fd, t->rbuf, sizeof t->rbuf);
        if (n <= 0)
            return 1; /* the end for now (a partial line waits for its newline), or an error: the check retries */
        t->rlen = (size_t)n;
        t->roff = 0;
        t->pos += n;
    }
    return 0;
}

/* check_file - has the path been rotated, truncated, created? then read */
static void check_file(tail *t)
{
    struct stat sb;

    if (t->wd < 0 && t->ifd >= 0)
        t->wd = inotify_add_watch(t->ifd, t->dir, IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_DELETE |
                                                      IN_CLOSE_WRITE | IN_ATTRIB);
    if (stat(t->path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (t->fd < 0) {
            open_file(t, 0); /* it appeared: all of it is new */
            t->st.rotations++;
        } else if (sb.st_ino != t->ino || sb.st_dev != t->dev) {
            /* renamed away and created anew: finish the old file first (what was written before the rename);
             * a burst or a busy consumer leaves that for the next wakeup, which comes back here */
            if (!pump_file(t))
                return;
            open_file(t, 0);
            t->st.rotations++;
        } else if (sb.st_size < t->pos) {
            /* copytruncate: the file starts again */
            lseek(t->fd, 0, SEEK_SET);
            t->pos = 0;
            forget_partial(t);
            t->st.rotations++;
        }
    }
    (void)pump_file(t);
}

/* on_inotify - something happened in the file's folder */
static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    tail *t = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    int ours = 0;
    ssize_t n;

    (void)what;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if ((ev->mask & (IN_Q_OVERFLOW | IN_IGNORED)) || (ev->len && !strcmp(ev->name, t->name)))
                ours = 1;
            if (ev->mask & IN_IGNORED)
                t->wd = -1; /* the folder went away: the check adds the watch again */
            p += sizeof *ev + ev->len;
        }
    }
    if (ours && !evtimer_pending(t->more_ev, NULL))
        check_file(t); /* else the burst's next slice, due already, checks and reads */
}

/* pump_journal - hand on up to TAIL_LINES_PER_WAKEUP journal entries */
static void pump_journal(tail *t)
{
    unsigned lines = 0;
    int moved = 0;

    sd_journal_process(t->j);
    while (!t->paused) {
        if (t->held) {
            if (deliver(t))
                break;
            if (++lines >= TAIL_LINES_PER_WAKEUP) {
                schedule_more(t);
                break;
            }
        }
        if (sd_journal_next(t->j) <= 0)
            break;
        moved = 1;
        const void *d;
        size_t len;
        if (sd_journal_get_data(t->j, "MESSAGE", &d, &len) < 0 || len < 8)
            continue;
        len -= 8; /* "MESSAGE=" */
        if (len > TAIL_LINE_MAX) {
            len = TAIL_LINE_MAX;
            t->st.cut++;
        }
        memcpy(t->line, (const char *)d + 8, len);
        t->llen = len;
        t->held = 1;
    }
    char *c = NULL;
    if (moved && sd_journal_get_cursor(t->j, &c) >= 0) {
        fg_free(t->cursor);
        t->cursor = fg_strdup(c);
        free(c);
    }
}

/* pump - read what there is */
static void pump(tail *t)
{
    if (t->j)
        pump_journal(t);
    else
        check_file(t);
}

/* on_more - the rest of a burst */
static void on_more(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* on_event - the journal's fd or the check timer; nothing while the rest of a burst is due, which checks and
 * reads itself: run in the same loop turn as its slice, this would hand on a second TAIL_LINES_PER_WAKEUP */
static void on_event(evutil_socket_t fd, short what, void *arg)
{
    tail *t = arg;
    (void)fd;
    (void)what;
    if (!evtimer_pending(t->more_ev, NULL))
        pump(t);
}

/* tail_new - what both kinds share */
static tail *tail_new(struct event_base *base, tail_line_fn fn, void *arg)
{
    tail *t = fg_calloc(1, sizeof *t);
    struct timeval check = {TAIL_CHECK_MS / 1000, (TAIL_CHECK_MS % 1000) * 1000};

    t->base = base;
    t->fn = fn;
    t->arg = arg;
    t->fd = t->ifd = t->wd = -1;
    t->more_ev = evtimer_new(base, on_more, t);
    t->check_ev = event_new(base, -1, EV_PERSIST, on_event, t);
    evtimer_add(t->check_ev, &check);
    return t;
}

/* tail_file_new - follow a file from its end */
tail *tail_file_new(struct event_base *base, const char *path, tail_line_fn fn, void *arg)
{
    tail *t = tail_new(base, fn, arg);
    char *tmp = fg_strdup(path);

    t->path = fg_strdup(path);
    t->dir = fg_strdup(dirname(tmp));
    fg_free(tmp);
    tmp = fg_strdup(path);
    t->name = fg_strdup(basename(tmp));
    fg_free(tmp);
    t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (t->ifd >= 0) {
        t->inotify_ev = event_new(base, t->ifd, EV_READ | EV_PERSIST, on_inotify, t);
        event_add(t->inotify_ev, NULL);
    }
    open_file(t, 1);
    check_file(t); /* adds the folder's watch */
    return t;
}

/* tail_journal_new - follow the journal of a unit or an identifier */
tail *tail_journal_new(struct event_base *base, const char *unit, const char *cursor, tail_line_fn fn, void *arg,
                       char *err, size_t errlen)
{
    char match[512];
    sd_journal *j = NULL;
    int rc, fd;

    if ((rc = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY)) < 0) {
        snprintf(err, errlen, "journal: %s", strerror(-rc));
        return NULL;
    }
    /* a name with a dot is a unit (postfix@-.service), else a syslog identifier (postfix/smtpd) */
    snprintf(match, sizeof match, "%s=%s", strchr(unit, '.') ? "_SYSTEMD_UNIT" : "SYSLOG_IDENTIFIER", unit);
    if ((rc = sd_journal_add_match(j, match, 0)) < 0 || (fd = sd_journal_get_fd(j)) < 0) {
        snprintf(err, errlen, "journal: %s: %s", match, strerror(rc < 0 ? -rc : EINVAL));
        sd_journal_close(j);
        return NULL;
    }
    if (cursor && sd_journal_seek_cursor(j, cursor) >= 0 && sd_journal_next(j) > 0) {
        /* resume after the saved entry; if it is gone (vacuumed), from where the seek landed */
        if (sd_journal_test_cursor(j, cursor) <= 0)
            sd_journal_previous(j);
    } else {
        sd_journal_seek_tail(j);
        sd_journal_previous(j);
    }
    tail *t = tail_new(base, fn, arg);
    t->j = j;
    t->st.open = 1;
    t->cursor = cursor ? fg_strdup(cursor) : NULL;
    t->journal_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_event, t);
    event_add(t->journal_ev, NULL);
    pump_journal(t);
    return t;
}

/* tail_resume - the consumer can take lines again */
void tail_resume(tail *t)
{
    if (!t->paused)
        return;
    t->paused = 0;
    schedule_more(t);
}

/* tail_cursor - the journal position after the last entry handed on */
const char *tail_cursor(const tail *t)
{
    return t->cursor;
}

/* tail_get_stats - lines, cuts, rotations */
void tail_get_stats(const tail *t, tail_stats *out)
{
    *out = t->st;
    out->open = t->j ? 1 : t->fd >= 0;
}

/* tail_free - stop and close */
void tail_free(tail *t)
{
    if (!t)
        return;
    if (t->check_ev) event_free(t->check_ev);
    if (t->more_ev) event_free(t->more_ev);
    if (t->inotify_ev) event_free(t->inotify_ev);
    if (t->journal_ev) event_free(t->journal_ev);
    if (t->ifd >= 0)
        close(t->ifd);
    if (t->fd >= 0)
        close(t->fd);
    if (t->j)
        sd_journal_close(t->j);
    fg_free(t->cursor);
    fg_free(t->path);
    fg_free(t->dir);
    fg_free(t->name);
    fg_free(t);
}
