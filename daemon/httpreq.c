/*
 * httpreq - HTTP requests of the adapter turned into policy requests (see httpreq.h)
 *
 * JSON: jansson rather than json-c, because jansson parses a
 * length-delimited buffer (json_loadb: the evbuffer's bytes, no copy to
 * NUL-terminate), rejects duplicate keys and NUL bytes in strings by a
 * flag and by default, checks UTF-8, and takes our allocator
 * (json_set_alloc_funcs), so its memory shows in memory_bytes like ours.
 */
#include "httpreq.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* put - copy len bytes, NUL-terminated, into the arena; NULL when full */
static const char *put(httpreq_arena *a, const char *s, size_t len)
{
    char *p;

    if (len + 1 > a->cap - a->used)
        return NULL;
    p = a->p + a->used;
    memcpy(p, s, len);
    p[len] = '\0';
    a->used += len + 1;
    return p;
}

/* set - one attribute: name and value copied into the arena */
static int set(httpreq_arena *a, fg_request *req, const char *name, const char *value, size_t vlen)
{
    size_t nlen = strlen(name);
    const char *n = put(a, name, nlen), *v = n ? put(a, value, vlen) : NULL;

    if (!v)
        return -1;
    req_set(req, n, nlen, v, vlen);
    return 0;
}

/* trim - value without the blanks around it */
static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);

    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

/* httpreq_check - GET /check/KIND */
enum httpreq_status httpreq_check(const char *kind, const httpreq_headers *h, const httpreq_pair *args, size_t nargs,
                                  httpreq_arena *a, fg_request *req)
{
    enum req_kind k = req_kind_of(kind, strlen(kind));
    size_t len;
    int rc = 0;

    req_reset(req);
    if (k == REQ_NONE || k == REQ_UNKNOWN)
        return HTTPREQ_BAD_KIND;
    if (h->forwarded_for && !h->real_ip) {
        /* the last hop is the one the proxy in front of us saw; the ones before it are the client's word */
        const char *last = strrchr(h->forwarded_for, ',');
        const char *v = trim(last ? last + 1 : h->forwarded_for, &len);
        rc |= set(a, req, "client_address", v, len);
    }
    if (h->real_ip) {
        const char *v = trim(h->real_ip, &len);
        rc |= set(a, req, "client_address", v, len);
    }
    if (h->method)
        rc |= set(a, req, "method", h->method, strlen(h->method));
    if (h->uri)
        rc |= set(a, req, "uri", h->uri, strlen(h->uri));
    if (h->authenticated)
        rc |= set(a, req, "authenticated", h->authenticated, strlen(h->authenticated));
    for (size_t i = 0; i < nargs; i++) {
        if (!strcmp(args[i].name, "request") || !args[i].name[0])
            continue; /* the kind is the path's */
        rc |= set(a, req, args[i].name, args[i].value, strlen(args[i].value));
    }
    rc |= set(a, req, "request", kind, strlen(kind));
    return rc ? HTTPREQ_NO_ROOM : HTTPREQ_OK;
}

/* dovecot_name - the attribute a Dovecot member becomes */
static const char *dovecot_name(const char *key)
{
    if (!strcmp(key, "remote"))
        return "client_address";
    if (!strcmp(key, "login"))
        return "username";
    return key;
}

/* httpreq_dovecot - Dovecot's JSON */
enum httpreq_status httpreq_dovecot(const char *body, size_t len, int report, httpreq_arena *a, fg_request *req)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr), *v;
    const char *key;
    int rc = 0, success = 0;
    char num[32];

    req_reset(req);
    if (!root)
        return HTTPREQ_BAD_JSON;
    if (!json_is_object(root)) {
        json_decref(root);
        return HTTPREQ_NOT_OBJECT;
    }
    json_object_foreach(root, key, v) {
        const char *name = dovecot_name(key);
        if (!strcmp(name, "request") || !strcmp(name, "event") || !name[0])
            continue; /* the command decides these */
        if (!strcmp(key, "success"))
            success = json_is_true(v);
        if (json_is_string(v))
            rc |= set(a, req, name, json_string_value(v), json_string_length(v));
        else if (json_is_boolean(v))
            rc |= set(a, req, name, json_is_true(v) ? "yes" : "no", json_is_true(v) ? 3 : 2);
        else if (json_is_integer(v)) {
            int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            rc |= set(a, req, name, num, (size_t)n);
        }
    }
    json_decref(root);
    if (report) {
        rc |= set(a, req, "request", "report", 6);
        rc |= set(a, req, "event", success ? "auth_success" : "auth_failure", 12);
    } else {
        rc |= set(a, req, "request", "auth", 4);
    }
    return rc ? HTTPREQ_NO_ROOM : HTTPREQ_OK;
}

/* httpreq_status_text - what a status means */
const char *httpreq_status_text(enum httpreq_status st)
{
    switch (st) {
    case HTTPREQ_OK: return "ok";
    case HTTPREQ_BAD_KIND: return "unknown request kind (/check/KIND: http, contact, auth, ...)";
    case HTTPREQ_BAD_JSON: return "the body is not valid JSON";
    case HTTPREQ_NOT_OBJECT: return "the body is not a JSON object";
    case HTTPREQ_NO_ROOM: return "request too large";
    }
    return "?";
}

/* httpreq_msg - the text after an action's verb and codes */
const char *httpreq_msg(const char *action)
{
    const char *p = action + strcspn(action, " \t");

    p += strspn(p, " \t");
    /* "REJECT 5.7.1 text", "450 4.7.1 text", "TARPIT 5 text": skip a leading number or X.Y.Z code */
    if (isdigit((unsigned char)*p)) {
        const char *q = p + strspn(p, "0123456789.");
        if (*q == ' ' || *q == '\0')
            p = q + strspn(q, " \t");
    }
    return p;
}
