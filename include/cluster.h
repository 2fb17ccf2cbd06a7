/*
 * cluster - the slot map of a Redis Cluster, and its connections
 *
 * Debian's hiredis (0.14) has no cluster client, so this routing is ours,
 * kept to what floodgate needs: CLUSTER SLOTS from any node that answers
 * (the seeds first) gives the map of 16384 slots to masters and replicas;
 * a key's slot is CRC16 of its {hash tag} (redis_script.h); MOVED updates
 * the map for that slot at once and asks for a fresh map; ASK sends the
 * one command to the named node behind ASKING. A node is one rconn, made
 * when the map first names it and kept (at most CLUSTER_NODES_MAX).
 *
 * Refresh. The cluster keeps its own timer: the map is read again every
 * CLUSTER_REFRESH_MS while every slot's master is connected, and every
 * CLUSTER_REFRESH_FAST_MS while one is not (a slot with no master, or a
 * master that is down or still connecting): a master that dies is named
 * by the cluster until its replica is promoted (cluster-node-timeout and
 * an election later), so the map is read each second until a connected
 * node serves every slot, and the dead master's keys get on_error about
 * a second after the promotion, not up to CLUSTER_REFRESH_MS. A node going
 * down, a MOVED or a failed answer asks for a refresh at once. In every
 * case one CLUSTER SLOTS is in flight at most, it goes to a node that is
 * up, and two are at least CLUSTER_REFRESH_FAST_MS apart, so a storm of
 * MOVED answers or of refused reconnects costs one a second at most.
 *
 * SECURITY
 *     CLUSTER SLOTS and MOVED/ASK replies come from the servers we were
 *     configured with; their addresses are used as numbers only (no name
 *     lookup at run time), slots are checked against the range, and the
 *     number of nodes is bounded.
 *
 * BUGS
 *     While a slot has no connected master (a master died and has no
 *     replica to take over), CLUSTER SLOTS is sent every second until it
 *     has one. Until the first CLUSTER SLOTS answer (right after start) no slot has
 *     a node, and requests get on_error at once. A node that leaves the
 *     cluster keeps its connection (at most CLUSTER_NODES_MAX). TRYAGAIN
 *     (a multi-key step whose keys are half migrated: a greylist step
 *     during a migration) fails the request instead of retrying it. A
 *     compensation for a part that went through ASK is sent without
 *     ASKING and may be lost (counted in stats).
 */
#ifndef FG_CLUSTER_H
#define FG_CLUSTER_H

#include <event2/event.h>
#include <stdint.h>

#include "rconn.h"

#define CLUSTER_NODES_MAX 64       /* connections a cluster may open */
#define CLUSTER_REFRESH_MS 10000   /* map refresh period while every slot's master is connected */
#define CLUSTER_REFRESH_FAST_MS 1000 /* the period while one is not, and the least time between two refreshes */

typedef struct cluster cluster;
/* cluster_notify_fn - a node came up or went down, or a new map came in (a slot may have a new master) */
typedef void (*cluster_notify_fn)(void *arg);

/* cluster_new - connect to the seeds and discover the map; NULL with err if a seed cannot be resolved */
cluster *cluster_new(struct event_base *base, const rconn_url *seeds, unsigned nseeds, const rconn_config *cfg,
                     int read_from_replicas, char *err, size_t errlen);
void cluster_free(cluster *cl);
/* cluster_node - the connection serving slot (a replica for reads when so configured); NULL while unknown */
rconn *cluster_node(cluster *cl, uint16_t slot, int read, int *replica);
/* cluster_redirect - a MOVED or ASK error: the node to retry on (NULL if none); *ask when ASKING must go first */
rconn *cluster_redirect(cluster *cl, const char *msg, size_t len, int *ask);
/* cluster_refresh - ask for a fresh map: at once, or CLUSTER_REFRESH_FAST_MS after the last one was asked for */
void cluster_refresh(cluster *cl);
/* cluster_refreshes - CLUSTER SLOTS sent so far (stats) */
uint64_t cluster_refreshes(const cluster *cl);
/* cluster_nodes - the connections, for stats; returns how many (up to max) */
unsigned cluster_nodes(cluster *cl, rconn **out, unsigned max);
/* cluster_set_notify - call fn(arg) on the loop after each such change (the fleet mirror follows its slot) */
void cluster_set_notify(cluster *cl, cluster_notify_fn fn, void *arg);
/* cluster_url - the URL of connection i (numbered as cluster_nodes); 0, or -1 if there is none */
int cluster_url(const cluster *cl, unsigned i, rconn_url *out);
/* cluster_ready - the map covers every slot */
int cluster_ready(const cluster *cl);

#endif
