/*
 * log - messages to stderr, for the journal or a terminal (see log.h)
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int journal;    /* stderr goes to journald */
static int verbosity;  /* log debug messages */

/* log_init - decide the line format */
void log_init(int verbose)
{
    journal = getenv("JOURNAL_STREAM") != NULL;
    verbosity = verbose;
}

/* vlog - one line */
static void vlog(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
    static const char *const names[8] = {"", "", "", "error", "warning", "", "info", "debug"};
    char line[2048];

    if (level == LOG_DEBUG_ && !verbosity)
        return;
    vsnprintf(line, sizeof line, fmt, ap);
    if (journal)
        fprintf(stderr, "<%d>%s%s\n", (int)level, line, suffix);
    else
        fprintf(stderr, "floodgated: %s: %s%s\n", names[level & 7], line, suffix);
}

/* log_msg - log one message */
void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, "", fmt, ap);
    va_end(ap);
}

/* log_limited - log unless this call site has logged too much this second */
void log_limited(log_limit *lim, uint64_t now_ms, enum log_level level, const char *fmt, ...)
{
    char suffix[64] = "";
    va_list ap;

    if (lim->second != now_ms / 1000) {
        lim->second = now_ms / 1000;
        lim->count = 0;
    }
    if (lim->count++ >= (lim->per_second ? lim->per_second : LOG_LIMIT_PER_SECOND)) {
        lim->dropped++;
        return;
    }
    if (lim->dropped) {
        snprintf(suffix, sizeof suffix, " (%lu similar messages dropped)", lim->dropped);
        lim->dropped = 0;
    }
    va_start(ap, fmt);
    vlog(level, suffix, fmt, ap);
    va_end(ap);
}
