/*
 * kvcmd - the control socket's `kv` command (see daemon/kvcmd.c for the protocol, kv.h for the classes)
 */
#ifndef FG_KVCMD_H
#define FG_KVCMD_H

#include <event2/buffer.h>

#include "control.h"
#include "server.h"

/* kv_exec - run `kv OP CLASS KEY ...` (args without the command); CONTROL_DONE or CONTROL_PENDING */
int kv_exec(server *s, fg_request *req, const char **args, int nargs, struct evbuffer *out, control_done_fn done,
            void *arg);

#endif
