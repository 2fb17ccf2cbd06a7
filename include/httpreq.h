/*
 * httpreq - HTTP requests of the adapter turned into policy requests
 *
 * nginx auth_request: GET /check/KIND asks about a request of KIND (http,
 * contact, auth, ... any kind of the policy protocol). Its attributes come
 * from the headers nginx sets in the auth location, then from the query
 * string, whose names are the policy protocol's (a query argument wins):
 *
 *     X-Real-IP: 192.0.2.7           client_address
 *     X-Forwarded-For: a, b, 192.0.2.7  client_address (its last hop) when X-Real-IP is absent
 *     X-Original-Method: POST        method
 *     X-Original-URI: /login?x=1     uri
 *     X-Authenticated: yes           authenticated (yes/no)
 *     GET /check/contact?form=signup&email=joe%40example.org
 *
 * Dovecot's auth policy: POST /?command=allow and POST /?command=report
 * with a JSON object (Dovecot 2.3):
 *
 *     {"device_id":"","login":"joe@example.com","protocol":"imap","pwhash":"01e8",
 *      "remote":"192.0.2.7","session_id":"YEMwef9g9OJ/AAAB","tls":false}
 *
 * allow becomes request=auth, report request=report with event=auth_success
 * or auth_failure (from "success"); remote is client_address, login is
 * username; every other member whose value is a string, number or boolean
 * keeps its name (protocol, pwhash, session_id, device_id, tls, ...).
 * Nested objects and arrays are ignored.
 *
 * The functions are pure: no libevent, no I/O. Every name and value is
 * copied into the caller's arena, so the request outlives the HTTP
 * message and the JSON tree.
 *
 * SECURITY: the body is parsed by jansson (strict RFC 8259: no NUL bytes
 * inside strings, UTF-8 checked, nesting depth capped by the library),
 * never scanned by hand; its size is capped before (evhttp's max body
 * size), and the arena is sized from the same caps, so a hostile request
 * costs at most one parse of max_request bytes and no allocation beyond
 * jansson's tree, freed before the engine runs. A value with a control
 * byte is kept as is: the engine compares it, and an action that expands it
 * replaces control characters.
 *
 * BUGS: only the last X-Forwarded-For header is read when nginx sends
 * several (it sends one).
 */
#ifndef FG_HTTPREQ_H
#define FG_HTTPREQ_H

#include <stddef.h>

#include "request.h"

typedef struct httpreq_arena {
    char *p;                /* the bytes */
    size_t cap;             /* their size */
    size_t used;            /* taken */
} httpreq_arena;

typedef struct httpreq_pair {
    const char *name;       /* NUL-terminated */
    const char *value;      /* NUL-terminated */
} httpreq_pair;

/* the headers of an auth_request subrequest that carry attributes */
typedef struct httpreq_headers {
    const char *real_ip, *forwarded_for, *method, *uri, *authenticated; /* NULL when absent */
} httpreq_headers;

enum httpreq_status {
    HTTPREQ_OK = 0,
    HTTPREQ_BAD_KIND,       /* /check/KIND with an unknown KIND */
    HTTPREQ_BAD_JSON,       /* the body is not JSON */
    HTTPREQ_NOT_OBJECT,     /* the JSON is not an object */
    HTTPREQ_NO_ROOM,        /* the arena is full (cannot happen with the adapter's sizes) */
};

/* httpreq_check - GET /check/KIND: headers first, then query arguments */
enum httpreq_status httpreq_check(const char *kind, const httpreq_headers *h, const httpreq_pair *args, size_t nargs,
                                  httpreq_arena *a, fg_request *req);
/* httpreq_dovecot - Dovecot's JSON; report: command=report (else allow) */
enum httpreq_status httpreq_dovecot(const char *body, size_t len, int report, httpreq_arena *a, fg_request *req);
/* httpreq_status_text - what a status means, for the error page */
const char *httpreq_status_text(enum httpreq_status st);
/* httpreq_msg - the text after an action's verb (and its 4NN/5NN and X.Y.Z codes), for Dovecot's msg */
const char *httpreq_msg(const char *action);

#endif
