/*
 * control - the admin commands of the control socket
 *
 * The control socket speaks the policy protocol's framing. A request with
 * request= is a policy query (so `floodgatectl check` works on either
 * socket); a request with command= is an admin command:
 *
 *     command=stats            ->  status=ok
 *                                  requests=1234
 *                                  ...
 *                                  <empty line>
 *
 * Replies are name=value lines, status=ok or status=error with message=,
 * and an empty line. floodgatectl turns them into tables or JSON.
 * Commands (arguments come as arg1=, arg2=, ...):
 *     stats                      counters of every layer
 *     reload                     load the configuration again
 *     version
 *     lists                      the lookup lists and their sizes
 *     list NAME show             entries, as entry[]= lines
 *     list NAME add ENTRY...     add a line (a map's "key value..."); saved to the file
 *     list NAME del ENTRY        remove it; saved to the file
 *     counter RULE VALUE...      a limit's counter: count, limit, retry_after
 *     reset RULE VALUE...        forget that counter
 *     bans format=FMT            the current bans as nft, ipset, plain or json: count=, line[]= (the text
 *                                of the format, one line each)
 *     bans follow=yes [json=yes] status=ok, the empty line, then one line per current ban
 *                                ("ban ..."), "synced N", and one line per ban, unban and expiry
 *                                as they happen, unframed, until either side closes
 *                                (both: from BANDUMP_CHILD_MIN bans on, a child writes the reply or
 *                                the first list while the loop goes on serving, bandump.h)
 * A VALUE is the next attribute of the rule's key, or NAME=VALUE. A name
 * ending in [] is repeated (a list). The store commands are asynchronous
 * like the store, so a networked store does not block the loop for them.
 *
 * Who may ask: the control socket is a Unix socket only, and a peer is
 * let in when SO_PEERCRED says it is root, our own uid, or of the primary
 * group listen.control_group (control_peer_allowed, checked at accept).
 */
#ifndef FG_CONTROL_H
#define FG_CONTROL_H

#include <event2/buffer.h>

#include "request.h"
#include "server.h"

#define FLOODGATE_VERSION "0.1.0"

/* CONTROL_FOLLOW(_JSON): answered, and the connection now follows the ban events (conn_follow_push);
 * CONTROL_DUMP + a bandump kind: nothing answered yet, the connection has a child write the reply (bandump.h) */
enum { CONTROL_DONE = 0, CONTROL_PENDING = 1, CONTROL_FOLLOW = 2, CONTROL_FOLLOW_JSON = 3, CONTROL_DUMP = 16 };
typedef void (*control_done_fn)(void *arg);

/* control_peer_allowed - may a peer with this uid and primary gid use the control socket of a daemon
 * running as self? */
int control_peer_allowed(const conf_listen *l, uid_t self, uid_t uid, gid_t gid);
/* control_exec - run one command and append its reply to out: CONTROL_DONE, or CONTROL_PENDING and done(arg) later */
int control_exec(server *s, fg_request *req, struct evbuffer *out, control_done_fn done, void *arg);
/* control_kv_policy - request=kv on a policy socket (arg1=OP arg2=CLASS ..., as command=kv): run when
 * listen.kv_on_policy allows it, else refused with status=error; CONTROL_DONE or CONTROL_PENDING */
int control_kv_policy(server *s, fg_request *req, struct evbuffer *out, control_done_fn done, void *arg);

#endif
