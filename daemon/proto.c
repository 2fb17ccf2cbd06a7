/*
 * proto - the Postfix SMTPD policy delegation protocol (see proto.h for the
 * protocol itself, with examples)
 */
#include "proto.h"

#include <stdio.h>
#include <string.h>

/* proto_frame - find the end of the first request */
size_t proto_frame(const char *buf, size_t len, size_t *scan)
{
    size_t line = *scan;

    while (line < len) {
        const char *nl = memchr(buf + line, '\n', len - line);
        if (!nl)
            break;
        size_t end = (size_t)(nl - buf);
        /* an empty line: "\n" or "\r\n" at the start of a line */
        if (end == line || (end == line + 1 && buf[line] == '\r')) {
            *scan = 0;
            return end + 1;
        }
        line = end + 1;
    }
    *scan = line;
    return 0;
}

/* proto_parse - parse one framed request in place */
enum proto_status proto_parse(char *buf, size_t len, fg_request *req)
{
    enum proto_status st = PROTO_OK;
    size_t pos = 0, nlen;
    /* a NUL byte is rare: one look over the whole request spares a look per line */
    int has_nul = memchr(buf, '\0', len) != NULL;
    /* Postfix sends its attributes in one order (request.h lists them in it): the attribute after the last one
     * known is tried first, and a line that is "NAME=" for it needs neither a look for '=' nor a lookup */
    int guess = ATTR_REQUEST;

    req_reset(req);
    while (pos < len) {
        char *line = buf + pos, *nl = memchr(line, '\n', len - pos), *eq;
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + 1;
        if (n && line[n - 1] == '\r')
            n--;
        line[n] = '\0';
        if (n == 0)
            break; /* the empty line that ends the request */
        if (st != PROTO_OK)
            continue; /* keep the first problem */
        if (has_nul && memchr(line, '\0', n)) {
            st = PROTO_BAD_BYTE;
            continue;
        }
        if ((nlen = req_attr_guess(line, n, guess)) != 0) {
            line[nlen] = '\0';
            req_set_id(req, guess, line, nlen, line + nlen + 1, n - nlen - 1);
            guess++;
            continue;
        }
        eq = memchr(line, '=', n);
        if (!eq)
            st = PROTO_NO_EQUALS;
        else if (eq == line)
            st = PROTO_EMPTY_NAME;
        else {
            int id = req_attr_id(line, (size_t)(eq - line));
            *eq = '\0';
            req_set_id(req, id, line, (size_t)(eq - line), eq + 1, n - (size_t)(eq + 1 - line));
            if (id >= 0)
                guess = id + 1;
        }
    }
    if (st == PROTO_OK && req->kind == REQ_NONE)
        st = PROTO_NO_REQUEST;
    if (st == PROTO_OK && req->kind == REQ_UNKNOWN)
        st = PROTO_UNKNOWN_KIND;
    return st;
}

/* proto_error_action - the action answered for a bad request: temporary, never a guess */
const char *proto_error_action(enum proto_status st)
{
    switch (st) {
    case PROTO_NO_EQUALS: return "DEFER_IF_PERMIT 4.3.0 Policy request error: a line without '='";
    case PROTO_EMPTY_NAME: return "DEFER_IF_PERMIT 4.3.0 Policy request error: an attribute without a name";
    case PROTO_BAD_BYTE: return "DEFER_IF_PERMIT 4.3.0 Policy request error: a NUL byte in a line";
    case PROTO_NO_REQUEST: return "DEFER_IF_PERMIT 4.3.0 Policy request error: no request= attribute";
    case PROTO_UNKNOWN_KIND: return "DEFER_IF_PERMIT 4.3.0 Policy request error: unknown request type";
    case PROTO_TOO_LARGE: return "DEFER_IF_PERMIT 4.3.0 Policy request error: request too large";
    case PROTO_OK: break;
    }
    return "DUNNO";
}

/* proto_reply - the reply for a verdict; TARPIT is no access(5) action: it goes out as DUNNO, and
 * (every kind but smtpd_access_policy, whose client accepts no other attribute) tarpit=SECONDS */
size_t proto_reply(const verdict *v, enum req_kind kind, char *out, size_t size)
{
    const char *action = v->tarpit_s ? "DUNNO" : v->action;
    int n;

    if (kind != REQ_SMTP && kind != REQ_NONE && kind != REQ_UNKNOWN && v->reason[0]) {
        char retry[40] = "", tarpit[40] = "";
        if (v->retry_s)
            snprintf(retry, sizeof retry, "retry_after=%llu\n", (unsigned long long)v->retry_s);
        if (v->tarpit_s)
            snprintf(tarpit, sizeof tarpit, "tarpit=%u\n", (unsigned)v->tarpit_s);
        n = snprintf(out, size, "action=%s\n%s%sreason=%s\n\n", action, retry, tarpit, v->reason);
    } else {
        /* the common answer, without printf */
        size_t alen = strlen(action);
        if (alen + sizeof "action=\n\n" <= size) {
            memcpy(out, "action=", 7);
            memcpy(out + 7, action, alen);
            memcpy(out + 7 + alen, "\n\n", 3);
            return alen + 9;
        }
        n = snprintf(out, size, "action=%s\n\n", action);
    }
    if (n < 0)
        return 0;
    if ((size_t)n >= size) {
        /* cannot happen with ACTION_MAX and KEY_NAME_MAX below the caller's buffer; keep the framing anyway */
        out[size - 2] = '\n';
        out[size - 3] = '\n';
        return size - 1;
    }
    return (size_t)n;
}
