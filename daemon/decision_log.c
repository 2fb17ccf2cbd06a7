/*
 * decision_log - one key=value line per decision (see decision_log.h)
 */
#include "decision_log.h"

#include <stdio.h>
#include <string.h>

#define VALUE_MAX 128 /* bytes of one attribute shown */
#define LINE_MAX_ 1536 /* bytes of one decision line */

/* put - bounded append of n bytes */
static void put(char *out, size_t size, size_t *at, const char *s, size_t n)
{
    if (*at >= size)
        return;
    if (n > size - 1 - *at)
        n = size - 1 - *at;
    memcpy(out + *at, s, n);
    *at += n;
    out[*at] = '\0';
}

/* kv_quote - ` key=value`, the value quoted and escaped when it must be */
void kv_quote(char *out, size_t size, size_t *at, const char *key, const char *value, size_t len)
{
    int quote = len == 0;
    char esc[8];

    for (size_t i = 0; i < len && !quote; i++) {
        unsigned char c = (unsigned char)value[i];
        quote = c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=';
    }
    put(out, size, at, " ", 1);
    put(out, size, at, key, strlen(key));
    put(out, size, at, "=", 1);
    if (!quote) {
        put(out, size, at, value, len);
        return;
    }
    put(out, size, at, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(out, size, at, esc, 2);
        } else if (c < ' ' || c >= 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            put(out, size, at, esc, 4);
        } else {
            put(out, size, at, (const char *)&c, 1);
        }
    }
    put(out, size, at, "\"", 1);
}

/* decision_line - `WORD request=... rule=... attributes... action=... [retry_after=N]` into line */
static void decision_line(char *line, size_t size, const char *word, const char *action_key, const fg_request *req,
                          const char *rule, const char *action, uint64_t retry_s)
{
    static const int shown[] = {ATTR_CLIENT_ADDRESS, ATTR_CLIENT_NAME, ATTR_HELO_NAME, ATTR_SASL_USERNAME,
                                ATTR_SENDER, ATTR_RECIPIENT, ATTR_USERNAME, ATTR_EVENT, ATTR_URI};
    size_t at = 0, len;

    line[0] = '\0';
    put(line, size, &at, word, strlen(word));
    const char *kind = req_kind_name(req->kind);
    kv_quote(line, size, &at, "request", kind, strlen(kind));
    kv_quote(line, size, &at, "rule", rule, strlen(rule));
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) {
        const char *val = req_get(req, shown[i], &len);
        if (len)
            kv_quote(line, size, &at, req_attr_name(shown[i]), val, len < VALUE_MAX ? len : VALUE_MAX);
    }
    kv_quote(line, size, &at, action_key, action, strlen(action));
    if (retry_s) {
        char n[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)retry_s);
        kv_quote(line, size, &at, "retry_after", n, strlen(n));
    }
}

/* may_log - the shared rate limit of decision lines */
static int may_log(server *s)
{
    if (!s->verdict_log.per_second)
        s->verdict_log.per_second = (unsigned)s->conf->log_rate;
    return log_allowed(&s->verdict_log, server_now(s));
}

/* log_decision - the decision line, rate-limited */
void log_decision(server *s, const fg_request *req, const verdict *v)
{
    char line[LINE_MAX_];

    if (!v->refused && !s->conf->log_requests)
        return;
    if (!may_log(s))
        return;
    /* a ban answers before any rule: its line says so (the ban's reason is in the action) */
    const char *rule = v->kind == VERDICT_BAN ? "(ban)" : v->reason[0] ? v->reason : v->store_failed ? "(store unavailable)" : "-";
    decision_line(line, sizeof line, "decision", "action", req, rule, v->action, v->retry_s);
    log_allowed_kv(&s->verdict_log, LOG_INFO_, line);
}

/* log_dry_run - what a dry-run rule would have decided, rate-limited with the decision lines */
void log_dry_run(const fg_request *req, const char *rule, const char *action, uint64_t retry_s, void *arg)
{
    server *s = arg;
    char line[LINE_MAX_];

    if (!may_log(s))
        return;
    decision_line(line, sizeof line, "dry_run", "would", req, rule, action, retry_s);
    log_allowed_kv(&s->verdict_log, LOG_INFO_, line);
}
