/*
 * tail - follow a log file or the systemd journal on the event loop, line by line
 *
 * Files: followed from their end at start (old lines are not replayed),
 * across logrotate's rename + create (the old file is read to its end,
 * then the new one from its start) and copytruncate (a file shorter than
 * the position read is read again from its start), and while missing (a
 * file that appears is read from its start). inotify on the file's folder
 * wakes the reader at once; a one-second check of the path catches what
 * inotify cannot see (a folder created later, an event lost to overflow).
 *
 * The journal: libsystemd's sd_journal, one match (_SYSTEMD_UNIT for a
 * name with a dot, SYSLOG_IDENTIFIER otherwise), its fd on the loop. It
 * starts after a saved cursor when given one (a restart resumes without
 * replaying or missing lines), else at the end.
 *
 * Reading never holds the loop: at most TAIL_LINES_PER_WAKEUP lines per
 * wakeup, then the rest after other events. A line longer than
 * TAIL_LINE_MAX is cut there and its rest dropped (counted); a partial last
 * line waits for its newline. The consumer may refuse a line (busy): the
 * tail then keeps it and stops until tail_resume.
 *
 * SECURITY
 *     Log content is hostile (user names, client-chosen strings, NULs,
 *     invalid UTF-8, megabyte lines): memory per tail is bounded by
 *     TAIL_LINE_MAX plus one read buffer whatever the file holds, and no
 *     byte is interpreted here.
 */
#ifndef FG_TAIL_H
#define FG_TAIL_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#define TAIL_LINE_MAX 8192        /* bytes of a line handed on; the rest is dropped */
#define TAIL_LINES_PER_WAKEUP 256 /* lines per wakeup before other events get their turn */
#define TAIL_CHECK_MS 1000        /* the path is checked for rotation, truncation or appearance */

typedef struct tail tail;

/* tail_line_fn - one line (without its newline); return 0 when taken, 1 when busy (the tail keeps it and stops) */
typedef int (*tail_line_fn)(void *arg, const char *line, size_t len);

typedef struct tail_stats {
    uint64_t lines;      /* lines handed on */
    uint64_t cut;        /* lines longer than TAIL_LINE_MAX */
    uint64_t rotations;  /* rename + create, copytruncate, or a file that appeared */
    int open;            /* the file (or journal) is open now */
} tail_stats;

/* tail_file_new - follow path from its end */
tail *tail_file_new(struct event_base *base, const char *path, tail_line_fn fn, void *arg);
/* tail_journal_new - follow the journal entries of a unit or identifier, after cursor (NULL: from now);
 * NULL with a message when the journal cannot be opened */
tail *tail_journal_new(struct event_base *base, const char *unit, const char *cursor, tail_line_fn fn, void *arg,
                       char *err, size_t errlen);
/* tail_resume - the consumer can take lines again */
void tail_resume(tail *t);
/* tail_cursor - the journal position to save (NULL for a file, or before the first entry) */
const char *tail_cursor(const tail *t);
void tail_get_stats(const tail *t, tail_stats *out);
/* tail_free - stop and close; NULL is fine */
void tail_free(tail *t);

#endif
