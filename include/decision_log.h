/*
 * decision_log - one key=value line per decision, for the journal and for scripts
 *
 *     decision request=smtpd_access_policy rule=rcpt-per-sender client_address=192.0.2.7
 *              sender=joe@example.org recipient=a@example.com action="DEFER_IF_PERMIT 4.7.1 ..."
 *
 * The form is stable: a word naming the event, then key=value pairs; a
 * value with a space, a quote, a backslash, an '=' or a byte outside
 * printable ASCII is written in double quotes, with \" \\ and \xNN
 * escapes, so that `key=value` splitting never breaks on what a client
 * sent. Every refused request is logged (postgrey and postfwd log theirs);
 * with `log_requests = true` every decision is, DUNNO included. Both are
 * rate-limited (`log_rate` lines per second, default 100): a client can
 * trigger them, and the journal must not be its amplifier.
 *
 * A dry-run rule that would have decided writes the same form under the
 * word dry_run, with would= instead of action=, under the same rate limit:
 *
 *     dry_run request=smtpd_access_policy rule=new-limit client_address=192.0.2.7
 *             would="DEFER_IF_PERMIT 4.7.1 ..." retry_after=42
 *
 * SECURITY
 *     Values are attacker-chosen: each is cut at 128 bytes and escaped as
 *     above, and the line is bounded.
 */
#ifndef FG_DECISION_LOG_H
#define FG_DECISION_LOG_H

#include <stddef.h>

#include "engine.h"
#include "server.h"

/* kv_quote - append ` key=value` to out (bounded, NUL-terminated) with value quoted when it must be; at is advanced */
void kv_quote(char *out, size_t size, size_t *at, const char *key, const char *value, size_t len);
/* log_decision - the decision line of one request, if it is to be logged (refused, or log_requests) */
void log_decision(server *s, const fg_request *req, const verdict *v);
/* log_dry_run - the engine's dry hook (engine_dry_fn; arg is the server): the would-have line */
void log_dry_run(const fg_request *req, const char *rule, const char *action, uint64_t retry_s, void *arg);

#endif
