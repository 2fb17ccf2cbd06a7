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
 * Commands: stats, reload, version. (bans, lists and counters come with
 * their issues.)
 */
#ifndef FG_CONTROL_H
#define FG_CONTROL_H

#include <event2/buffer.h>

#include "request.h"
#include "server.h"

#define FLOODGATE_VERSION "0.1.0"

/* control_exec - run one command and append its reply to out */
void control_exec(server *s, fg_request *req, struct evbuffer *out);

#endif
