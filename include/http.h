/*
 * http - the HTTP adapter: nginx auth_request, Dovecot's auth policy and
 * Prometheus metrics on one listener (libevent's evhttp, on the daemon's loop)
 *
 *     GET  /check/KIND            nginx auth_request: 204 allowed, 403 refused
 *                                 (Retry-After, X-Floodgate-Reason), see httpreq.h
 *     POST /?command=allow        Dovecot: {"status":S,"msg":"..."}; S = -1 refused,
 *     POST /?command=report       0 accepted, N > 0 tarpit N seconds
 *     GET  /metrics               Prometheus text format (metrics.h)
 *
 * Requests go through dispatch(), like the policy socket's, so the same
 * rules, counters and bans answer them; a request that waits on the store
 * (Redis) is answered when the store answers, and the loop goes on
 * meanwhile. evhttp handles one request per connection at a time, so the
 * requests in flight are at most the open connections, and each holds one
 * job from a pool that grows to that and stays; what a request allocates
 * beyond it is libevent's request object and header lists and jansson's
 * tree, all freed with the request.
 *
 * SECURITY: headers are capped at HTTP_HEADERS_MAX bytes, bodies at
 * listen.max_request, connections at listen.http_max_connections (the
 * listener stops accepting past it, as the policy listeners do, and only
 * this listener: the policy and control sockets never notice). A request
 * not complete listen.http_timeout after its first byte is answered 408
 * and its connection closed (so a byte now and then holds nothing); a
 * connection idle that long, or that leaves its answer unread, is closed. A bad request (bad JSON, unknown path or kind, a method other
 * than GET/POST) gets a 4xx answer with a one-line reason and its
 * connection is closed. The listener is meant for loopback or a Unix
 * socket: it has no authentication.
 *
 * BUGS: a request still waiting on a networked store at shutdown is
 * dropped without an answer.
 */
#ifndef FG_HTTP_H
#define FG_HTTP_H

#include "server.h"

#define HTTP_HEADERS_MAX 8192  /* request line and headers, bytes (nginx's large_client_header_buffers) */

typedef struct http_adapter http_adapter;

/* http_start - listen on listen.http; NULL with a message in err */
http_adapter *http_start(server *s, char *err, size_t errlen);
/* http_stop_accepting - close the listener (shutdown); open connections finish their requests */
void http_stop_accepting(http_adapter *h);
/* http_free - close every connection and free the adapter (requests still waiting on the store are dropped) */
void http_free(http_adapter *h);

#endif
