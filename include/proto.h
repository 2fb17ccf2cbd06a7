/*
 * proto - the Postfix SMTPD policy delegation protocol
 *
 * A request is a sequence of "name=value" lines ended by an empty line:
 *
 *     request=smtpd_access_policy
 *     protocol_state=RCPT
 *     client_address=192.0.2.7
 *     sender=joe@example.org
 *     recipient=ann@example.com
 *     <empty line>
 *
 * and the reply is one action line, optionally (for every request kind but
 * smtpd_access_policy) retry_after= and reason= lines, and an empty line:
 *
 *     action=DEFER_IF_PERMIT 4.7.1 Too many recipients, slow down
 *     <empty line>
 *
 * Connections are persistent and requests may be pipelined; replies come
 * in request order. A trailing CR on a line is tolerated. Unknown
 * attributes are ignored. A line without '=', a line with a NUL byte or a
 * request without request= gets an error action and the connection goes
 * on (the framing is intact); a request longer than the size limit gets an
 * error action and the connection is closed (it is not).
 *
 * proto_frame finds where a request ends and can resume where it stopped,
 * so that feeding a request one byte at a time costs linear time.
 * proto_parse works in place and allocates nothing.
 */
#ifndef FG_PROTO_H
#define FG_PROTO_H

#include <stddef.h>

#include "engine.h"
#include "request.h"

enum proto_status {
    PROTO_OK = 0,
    PROTO_NO_EQUALS,    /* a line without '=' */
    PROTO_EMPTY_NAME,   /* "=value" */
    PROTO_BAD_BYTE,     /* a NUL byte in a line */
    PROTO_NO_REQUEST,   /* no request= attribute */
    PROTO_UNKNOWN_KIND, /* request= with an unknown value */
    PROTO_TOO_LARGE,    /* over the size limit */
};

/* proto_frame - length of the first complete request in buf (through its empty line), 0 if none yet;
 * *scan is where scanning resumes next time (start it at 0, reset it after consuming a request) */
size_t proto_frame(const char *buf, size_t len, size_t *scan);
/* proto_parse - parse one framed request in place (lines become NUL-terminated) */
enum proto_status proto_parse(char *buf, size_t len, fg_request *req);
/* proto_error_action - the action answered for a bad request */
const char *proto_error_action(enum proto_status st);
/* proto_reply - the reply for a verdict; returns its length (the reply is cut to fit out) */
size_t proto_reply(const verdict *v, enum req_kind kind, char *out, size_t size);

#endif
