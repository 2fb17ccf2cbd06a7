/*
 * conn - one client connection: a state machine driven by its socket
 *
 * Bytes come in through an evbuffer; complete requests are framed, parsed
 * and handed to the engine in order; replies leave in request order even
 * when a later request is answered first (a ring of request slots). A
 * connection holds at most `pipeline` requests in flight and stops reading
 * while it does, or while its unsent output is above a high watermark, so
 * that a client that does not read cannot make the daemon buffer without
 * bound; output that makes no progress for listen.write_timeout closes the
 * connection, so such a client cannot hold even that for long. A bad request is answered and counted; only a request over the
 * size limit closes the connection. Other connections never notice.
 *
 * A control connection that asked `bans follow=yes` becomes a follower: its reply (the current bans) is
 * followed by one line per ban event, pushed as they happen; it reads no more requests (its input is
 * discarded, its end is still noticed), has no idle timeout, and is dropped when its unsent output would
 * pass CONN_FOLLOW_MAX or makes no progress for write_timeout: a follower never holds the daemon.
 */
#ifndef FG_CONN_H
#define FG_CONN_H

#include "server.h"

#define CONN_READ_MAX 16384          /* bytes read per wakeup */
#define CONN_OUT_HIGH (64 * 1024)    /* unsent bytes that stop reading (a policy answer is ~20-200 bytes) */

#define CONN_FOLLOW_MAX (256 * 1024) /* unsent bytes of a bans --follow connection before it is dropped */

/* conn_new - take over an accepted socket */
conn *conn_new(server *s, int fd, int is_control);
/* conn_shutdown - stop reading, answer what is in flight, then close */
void conn_shutdown(conn *c);
/* conn_free - close now */
void conn_free(conn *c);
/* conn_shutdown_all - conn_shutdown every connection of the server */
void conn_shutdown_all(server *s);
/* conn_free_all - close every connection now */
void conn_free_all(server *s);
/* conn_follow_push - one ban event to every bans --follow connection (text or JSON line, as each asked);
 * one whose unsent output would pass CONN_FOLLOW_MAX is closed and counted instead */
void conn_follow_push(server *s, const char *text, size_t tlen, const char *json, size_t jlen);

#endif
