/*
 * log - messages to stderr, for the journal or a terminal
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with a "<N>"
 * priority that journald reads; on a terminal it starts with the level's
 * name. log_limited() drops messages past a few per second per call site
 * so that a client sending garbage cannot flood the journal; the number
 * dropped is reported with the next message that gets through.
 *
 * SECURITY
 *     Messages carry values from the Internet (a HELO name, a sender, a
 *     username): a newline in one would end the line and forge the next
 *     one for whatever reads the log (fail2ban and its like). Every line
 *     is written through log_escape(): control bytes (below 0x20, and 0x7f)
 *     and backslashes become \xNN, so one message is one line and a value
 *     reads back unambiguously. A key=value line (decision_log.h's
 *     kv_quote) has its values quoted and escaped already; log_allowed_kv()
 *     keeps its backslashes, which are kv_quote's escapes.
 */
#ifndef FG_LOG_H
#define FG_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERR_ = 3, LOG_WARN_ = 4, LOG_INFO_ = 6, LOG_DEBUG_ = 7 };

typedef struct log_limit {
    uint64_t second;    /* the second being counted */
    unsigned count;     /* messages in it */
    unsigned long dropped; /* messages dropped since the last one logged */
    unsigned per_second;   /* cap; 0 = LOG_LIMIT_PER_SECOND */
} log_limit;

#define LOG_LIMIT_PER_SECOND 5 /* messages per call site per second, by default */
#define LOG_LINE_MAX 2048       /* bytes of one message before escaping (longer ones are cut) */

/* log_escape - src into dst (size bytes, NUL-terminated) with each byte below 0x20, 0x7f and, when backslash
 * is set, each backslash written \xNN; an escape is never cut. Returns the length written. */
size_t log_escape(char *dst, size_t size, const char *src, int backslash);

void log_init(int verbose);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_limited(log_limit *lim, uint64_t now_ms, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* log_allowed - may this call site log now (for messages that cost something to build)? */
int log_allowed(log_limit *lim, uint64_t now_ms);
/* log_allowed_msg - log after log_allowed said yes */
void log_allowed_msg(log_limit *lim, enum log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* log_allowed_kv - a key=value line made with kv_quote, after log_allowed said yes (its backslashes kept) */
void log_allowed_kv(log_limit *lim, enum log_level level, const char *line);

/* log_store - a networked store's messages (rconn_log_fn: levels 3 error, 4 warning, 6 info) into the log */
void log_store(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERR_, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN_, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO_, __VA_ARGS__)

#endif
