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

/* log_escape - src with each control byte (and backslash, unless its backslashes are escapes already) as \xNN */
size_t log_escape(char *dst, size_t size, const char *src, int backslash)
{
    static const char hex[] = "0123456789abcdef";
    size_t at = 0;

    if (!size)
        return 0;
    for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (*p == '\\' && backslash)) {
            if (size - at < 5)
                break; /* an escape is never cut */
            dst[at++] = '\\';
            dst[at++] = 'x';
            dst[at++] = hex[*p >> 4];
            dst[at++] = hex[*p & 15];
        } else {
            if (size - at < 2)
                break;
            dst[at++] = (char)*p;
        }
    }
    dst[at] = '\0';
    return at;
}

/* put_line - one line, every byte a client may have chosen escaped so that no value can end it or forge
 * another: every message passes here. kv: a key=value line, whose backslashes are kv_quote's escapes */
static void put_line(enum log_level level, const char *raw, const char *suffix, int kv)
{
    static const char *const names[8] = {"", "", "", "error", "warning", "", "info", "debug"};
    char line[4 * LOG_LINE_MAX];

    if (level == LOG_DEBUG_ && !verbosity)
        return;
    log_escape(line, sizeof line, raw, !kv);
    if (journal)
        fprintf(stderr, "<%d>%s%s\n", (int)level, line, suffix);
    else
        fprintf(stderr, "floodgated: %s: %s%s\n", names[level & 7], line, suffix);
}

/* vlog - one message */
static void vlog(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char raw[LOG_LINE_MAX];

    if (level == LOG_DEBUG_ && !verbosity)
        return;
    vsnprintf(raw, sizeof raw, fmt, ap);
    put_line(level, raw, suffix, 0);
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

/* dropped_suffix - the count of the messages dropped before this one, once */
static void dropped_suffix(log_limit *lim, char *suffix, size_t size)
{
    suffix[0] = '\0';
    if (lim->dropped) {
        snprintf(suffix, size, " (%lu similar messages dropped)", lim->dropped);
        lim->dropped = 0;
    }
}

/* vlog_allowed - log a message that log_allowed let through, with the count of those dropped before it */
static void vlog_allowed(log_limit *lim, enum log_level level, const char *fmt, va_list ap)
{
    char suffix[64];

    dropped_suffix(lim, suffix, sizeof suffix);
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

/* log_allowed_kv - a key=value line (kv_quote) after log_allowed said yes */
void log_allowed_kv(log_limit *lim, enum log_level level, const char *line)
{
    char suffix[64];

    dropped_suffix(lim, suffix, sizeof suffix);
    put_line(level, line, suffix, 1);
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
