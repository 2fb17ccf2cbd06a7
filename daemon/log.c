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

/* log_allowed - may this call site log now? counts the message either way */
int log_allowed(log_limit *lim, uint64_t now_ms)
{
    if (lim->second != now_ms / 1000) {
        lim->second = now_ms / 1000;
        lim->count = 0;
    }
    if (lim->count++ >= (lim->per_second ? lim->per_second : LOG_LIMIT_PER_SECOND)) {
        lim->dropped++;
        return 0;
    }
    return 1;
}

/* vlog_allowed - log a message that log_allowed let through, with the count of those dropped before it */
static void vlog_allowed(log_limit *lim, enum log_level level, const char *fmt, va_list ap)
{
    char suffix[64] = "";

    if (lim->dropped) {
        snprintf(suffix, sizeof suffix, " (%lu similar messages dropped)", lim->dropped);
        lim->dropped = 0;
    }
    vlog(level, suffix, fmt, ap);
}

/* log_allowed_msg - log after log_allowed said yes */
void log_allowed_msg(log_limit *lim, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_allowed(lim, level, fmt, ap);
    va_end(ap);
}

/* log_limited - log unless this call site has logged too much this second */
void log_limited(log_limit *lim, uint64_t now_ms, enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (!log_allowed(lim, now_ms))
        return;
    va_start(ap, fmt);
    vlog_allowed(lim, level, fmt, ap);
    va_end(ap);
}

/* log_store - a networked store's messages (outages, set-up errors) into the log */
void log_store(int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(level <= LOG_ERR_ ? LOG_ERR_ : level == LOG_WARN_ ? LOG_WARN_ : LOG_INFO_, "%s", msg);
}
