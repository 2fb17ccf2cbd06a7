/*
 * explain - floodgatectl explain: a query evaluated and counted nowhere (see explain.c)
 */
#ifndef FG_EXPLAIN_H
#define FG_EXPLAIN_H

#include <event2/buffer.h>

#include "control.h"
#include "request.h"
#include "server.h"

/* explain_exec - each rule's verdict on req, its counters read and nothing counted: CONTROL_DONE, or
 * CONTROL_PENDING and done(arg) later (req must live until then) */
int explain_exec(server *s, fg_request *req, struct evbuffer *out, control_done_fn done, void *arg);

#endif
