/*
 * log - messages to stderr, for the journal or a terminal
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a "<N>"
 * priority that journald reads; on a terminal it starts with the level's
 * name. log_limited() drops messages past a few per second per call site
 * so that a client sending garbage cannot flood the journal; the number
 * dropped is reported with the next message that gets through.
 */
#ifndef FG_LOG_H
#define FG_LOG_H

#include <stdint.h>

enum log_level { LOG_ERR_ = 3, LOG_WARN_ = 4, LOG_INFO_ = 6, LOG_DEBUG_ = 7 };

typedef struct log_limit {
    uint64_t second;    /* the second being counted */
    unsigned count;     /* messages in it */
    unsigned long dropped; /* messages dropped since the last one logged */
    unsigned per_second;   /* cap; 0 = LOG_LIMIT_PER_SECOND */
} log_limit;

#define LOG_LIMIT_PER_SECOND 5 /* messages per call site per second, by default */

void log_init(int verbose);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_limited(log_limit *lim, uint64_t now_ms, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* log_allowed - may this call site log now (for messages that cost something to build)? */
int log_allowed(log_limit *lim, uint64_t now_ms);
/* log_allowed_msg - log after log_allowed said yes */
void log_allowed_msg(log_limit *lim, enum log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* log_store - a networked store's messages (rconn_log_fn: levels 3 error, 4 warning, 6 info) into the log */
void log_store(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERR_, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN_, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO_, __VA_ARGS__)

#endif
