/*
 * watcher - the log watches of a running daemon (see watch.h for the settings, tail.h for following)
 *
 * A front end like the policy sockets: each matching line becomes a
 * `report` request for the engine, and nothing is answered. Owned by the
 * server; `floodgatectl watches` shows each watch's counters.
 */
#ifndef FG_WATCHER_H
#define FG_WATCHER_H

#include <event2/buffer.h>

#include "server.h"
#include "watch.h"

typedef struct watchers watchers;

/* watchers_start - follow every watch of set (which must outlive them: the server keeps it) */
watchers *watchers_start(server *srv, watchset *set);
/* watchers_reload - a reload: a watch whose name and source stay keeps its position and takes the new
 * pattern and event; new watches start, removed ones stop. Returns the set now in use (next). */
watchers *watchers_reload(server *srv, watchers *ws, watchset *next);
/* watchers_stop - stop following and save the journal cursors; NULL is fine */
void watchers_stop(watchers *ws);
/* watchers_report - the counters of every watch, as control-socket lines */
void watchers_report(const watchers *ws, struct evbuffer *out);

#endif
