/*
 * cluster - the slot map of a Redis Cluster (see cluster.h)
 *
 * The map is two arrays of REDIS_SLOTS node indexes (master, first
 * replica). A refresh builds the new map beside the old one and copies it
 * in whole when the reply parsed whole, so a bad reply never leaves half a
 * map. Every cluster connection sends READONLY at connect, which a master
 * ignores and a replica needs to serve reads, so one connection per
 * address serves either role across a failover.
 *
 * The refresh timer is one-shot, armed by plan() for the next refresh due:
 * CLUSTER_REFRESH_FAST_MS after the last one when one is wanted (a node
 * went down, a MOVED, a failed answer) or the map is not served whole by
 * connected masters (cluster_whole), CLUSTER_REFRESH_MS after it
 * otherwise. plan() runs whenever one of these changes: a map comes in, a
 * node comes up or goes down, a refresh is asked for. While a CLUSTER
 * SLOTS is in flight nothing is armed: its answer (rconn answers every
 * command once, NULL at the latest by the timeout) plans the next. The
 * masters of the map are a bit set of node indexes, so telling whether
 * each is up costs CLUSTER_NODES_MAX checks, not one per slot.
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "redis_script.h"

#define NO_NODE 0xff

_Static_assert(CLUSTER_NODES_MAX <= 64, "the masters of a map are a 64-bit set of node indexes");
_Static_assert(CLUSTER_NODES_MAX < NO_NODE, "a node index is a byte, NO_NODE apart");

typedef struct cnode {
    rconn *rc;
    char addr[INET6_ADDRSTRLEN + 8]; /* "host:port" as the cluster names it */
} cnode;

struct cluster {
    struct event_base *base;
    rconn_url proto;                 /* user, password of the seeds, for every node */
    rconn_config cfg;
    int read_from_replicas;
    cnode nodes[CLUSTER_NODES_MAX];
    unsigned n;
    uint8_t master[REDIS_SLOTS];     /* node index of each slot's master */
    uint8_t replica[REDIS_SLOTS];    /* node index of a replica, NO_NODE none */
    uint8_t next_master[REDIS_SLOTS], next_replica[REDIS_SLOTS]; /* a map being read */
    uint64_t masters;                /* bit i: node i is the master of a slot in the map */
    int covered;                     /* every slot has a master in the map */
    int refreshing;                  /* a CLUSTER SLOTS in flight */
    int want_refresh;                /* one is due CLUSTER_REFRESH_FAST_MS after the last (a node up to ask) */
    uint64_t last_refresh_ms;        /* when the last CLUSTER SLOTS was sent, 0 never */
    uint64_t refreshes;              /* CLUSTER SLOTS sent */
    struct event *timer;             /* the next refresh (plan) */
    unsigned rr;                     /* next node asked for the map */
    int closing;
    cluster_notify_fn notify;        /* told when a node comes up or goes down, or a new map is in */
    void *notify_arg;
};

static void on_node_state(rconn *rc, int up, void *arg);
static int map_read(cluster *cl, const redisReply *r, rconn *rc);
static void plan(cluster *cl);

/* node_get - the node of host:port, connected on first sight; NO_NODE if there is no room or the host is a name */
static unsigned node_get(cluster *cl, const char *host, size_t hlen, unsigned port)
{
    char addr[sizeof cl->nodes[0].addr], err[256];
    rconn_url url = cl->proto;

    if (hlen >= sizeof url.host || port == 0 || port > 65535)
        return NO_NODE;
    snprintf(addr, sizeof addr, "%.*s:%u", (int)hlen, host, port);
    for (unsigned i = 0; i < cl->n; i++)
        if (!strcmp(cl->nodes[i].addr, addr))
            return i;
    if (cl->n == CLUSTER_NODES_MAX)
        return NO_NODE;
    memcpy(url.host, host, hlen);
    url.host[hlen] = '\0';
    url.port = port;
    url.db = 0;
    rconn_config cfg = cl->cfg;
    cfg.numeric_only = 1; /* no name lookup at run time */
    rconn *rc = rconn_new(cl->base, &url, &cfg, err, sizeof err);
    if (!rc)
        return NO_NODE;
    cl->nodes[cl->n].rc = rc;
    snprintf(cl->nodes[cl->n].addr, sizeof cl->nodes[cl->n].addr, "%s", addr);
    return cl->n++;
}

/* node_of - the node named by a CLUSTER SLOTS entry [host, port, ...]; an empty host is the answering node's */
static unsigned node_of(cluster *cl, const redisReply *e, rconn *from)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return NO_NODE;
    const char *host = e->element[0]->str;
    size_t hlen = e->element[0]->len;
    if (!hlen) {
        host = rconn_host(from);
        hlen = strlen(host);
    }
    return node_get(cl, host, hlen, (unsigned)e->element[1]->integer);
}

/* on_slots - a CLUSTER SLOTS answer: the new map, copied in when whole */
static void on_slots(rconn *rc, redisReply *r, void *arg)
{
    cluster *cl = arg;

    cl->refreshing = 0;
    if (cl->closing)
        return;
    /* a reply that does not parse whole asks again (a second later at the soonest) */
    cl->want_refresh = 1;
    if (r && r->type == REDIS_REPLY_ARRAY && map_read(cl, r, rc) == 0) {
        cl->want_refresh = 0;
        if (cl->notify)
            cl->notify(cl->notify_arg);
    }
    plan(cl);
}

/* map_read - a CLUSTER SLOTS array into the map, copied in when whole; -1 (the map unchanged) if it is not */
static int map_read(cluster *cl, const redisReply *r, rconn *rc)
{
    uint64_t masters = 0;
    int covered = 1;

    memset(cl->next_master, NO_NODE, sizeof cl->next_master);
    memset(cl->next_replica, NO_NODE, sizeof cl->next_replica);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return -1;
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        if (lo < 0 || hi >= REDIS_SLOTS || lo > hi)
            return -1;
        unsigned m = node_of(cl, e->element[2], rc), rep = NO_NODE;
        if (m == NO_NODE)
            return -1;
        if (cl->read_from_replicas && e->elements > 3)
            rep = node_of(cl, e->element[3], rc);
        memset(cl->next_master + lo, (int)m, (size_t)(hi - lo + 1));
        memset(cl->next_replica + lo, (int)rep, (size_t)(hi - lo + 1));
    }
    for (unsigned i = 0; i < REDIS_SLOTS; i++) {
        if (cl->next_master[i] == NO_NODE)
            covered = 0;
        else
            masters |= 1ULL << cl->next_master[i];
    }
    memcpy(cl->master, cl->next_master, sizeof cl->master);
    memcpy(cl->replica, cl->next_replica, sizeof cl->replica);
    cl->masters = masters;
    cl->covered = covered;
    return 0;
}

/* send_slots - CLUSTER SLOTS to the next node that is up (round robin); 0, or -1 if none took it */
static int send_slots(cluster *cl, uint64_t now)
{
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};

    for (unsigned k = 0; k < cl->n; k++) {
        unsigned i = (cl->rr + k) % cl->n;
        if (!rconn_is_up(cl->nodes[i].rc))
            continue;
        if (rconn_send(cl->nodes[i].rc, 2, argv, lens, on_slots, cl) == 0) {
            cl->rr = i + 1;
            cl->refreshing = 1;
            cl->last_refresh_ms = now;
            if (cl->refreshes < UINT64_MAX)
                cl->refreshes++;
            return 0;
        }
    }
    return -1;
}

/* cluster_whole - every slot has a master in the map, and each of them is connected */
static int cluster_whole(const cluster *cl)
{
    if (!cl->covered)
        return 0;
    for (unsigned i = 0; i < cl->n; i++)
        if ((cl->masters >> i & 1) && !rconn_is_up(cl->nodes[i].rc))
            return 0;
    return 1;
}

/* plan - send the refresh that is due, or arm the timer for it; nothing while one is in flight (its answer plans) */
static void plan(cluster *cl)
{
    if (cl->closing || cl->refreshing)
        return;
    uint64_t now = rconn_now_ms(), period = cl->want_refresh || !cluster_whole(cl) ? CLUSTER_REFRESH_FAST_MS
                                                                                : CLUSTER_REFRESH_MS;
    uint64_t due = cl->last_refresh_ms ? cl->last_refresh_ms + period : now;
    if (due <= now) {
        if (send_slots(cl, now) == 0)
            return;
        /* no node is up to ask: one coming up plans again; the timer is only a safety net */
        due = now + CLUSTER_REFRESH_FAST_MS;
    }
    uint64_t in = due - now;
    struct timeval tv = {(time_t)(in / 1000), (suseconds_t)(in % 1000 * 1000)};
    evtimer_add(cl->timer, &tv);
}

/* on_timer - a refresh is due */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    plan(arg);
}

/* cluster_refresh - a fresh map is wanted: sent now, or CLUSTER_REFRESH_FAST_MS after the last one */
void cluster_refresh(cluster *cl)
{
    cl->want_refresh = 1;
    plan(cl);
}

/* on_node_state - a node came up (discovery can start, a new master is served) or went down (the map may have
 * changed: refreshed at once, then each second while a master of the map is down) */
static void on_node_state(rconn *rc, int up, void *arg)
{
    cluster *cl = arg;
    (void)rc;
    if (cl->closing)
        return;
    if (!up)
        cl->want_refresh = 1;
    plan(cl);
    if (cl->notify)
        cl->notify(cl->notify_arg);
}

/* cluster_new - connect to the seeds */
cluster *cluster_new(struct event_base *base, const rconn_url *seeds, unsigned nseeds, const rconn_config *cfg,
                     int read_from_replicas, char *err, size_t errlen)
{
    cluster *cl = fg_calloc(1, sizeof *cl);

    cl->base = base;
    cl->proto = seeds[0];
    cl->cfg = *cfg;
    cl->cfg.readonly = 1;
    cl->cfg.on_state = on_node_state;
    cl->cfg.state_arg = cl;
    cl->read_from_replicas = read_from_replicas;
    cl->want_refresh = 1;
    cl->timer = evtimer_new(base, on_timer, cl);
    memset(cl->master, NO_NODE, sizeof cl->master);
    memset(cl->replica, NO_NODE, sizeof cl->replica);
    for (unsigned i = 0; i < nseeds && cl->n < CLUSTER_NODES_MAX; i++) {
        rconn_url url = seeds[i];
        url.db = 0;
        rconn *rc = rconn_new(base, &url, &cl->cfg, err, errlen);
        if (!rc) {
            cluster_free(cl);
            return NULL;
        }
        cl->nodes[cl->n].rc = rc;
        snprintf(cl->nodes[cl->n].addr, sizeof cl->nodes[cl->n].addr, "%s:%u", rconn_host(rc), url.port);
        cl->n++;
    }
    return cl;
}

/* cluster_free - close every node */
void cluster_free(cluster *cl)
{
    if (!cl)
        return;
    cl->closing = 1;
    if (cl->timer)
        event_free(cl->timer);
    for (unsigned i = 0; i < cl->n; i++)
        rconn_free(cl->nodes[i].rc);
    fg_free(cl);
}

/* cluster_node - the connection for a slot */
rconn *cluster_node(cluster *cl, uint16_t slot, int read, int *replica)
{
    *replica = 0;
    if (read && cl->read_from_replicas && cl->replica[slot] != NO_NODE &&
        rconn_is_up(cl->nodes[cl->replica[slot]].rc)) {
        *replica = 1;
        return cl->nodes[cl->replica[slot]].rc;
    }
    return cl->master[slot] == NO_NODE ? NULL : cl->nodes[cl->master[slot]].rc;
}

/* cluster_redirect - "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381" */
rconn *cluster_redirect(cluster *cl, const char *msg, size_t len, int *ask)
{
    char buf[128], *sp, *colon, *end;
    long slot, port;

    if (len >= sizeof buf)
        return NULL;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    *ask = !strncmp(buf, "ASK ", 4);
    sp = strchr(buf, ' ');
    if (!sp)
        return NULL;
    slot = strtol(sp + 1, &end, 10);
    if (end == sp + 1 || *end != ' ' || slot < 0 || slot >= REDIS_SLOTS)
        return NULL;
    colon = strrchr(end + 1, ':');
    if (!colon)
        return NULL;
    port = strtol(colon + 1, &sp, 10);
    if (*sp || port <= 0 || port > 65535)
        return NULL;
    unsigned i = node_get(cl, end + 1, (size_t)(colon - end - 1), (unsigned)port);
    if (i == NO_NODE)
        return NULL;
    if (!*ask) {
        /* the slot has moved for good: use the new node at once, and read the whole map again */
        cl->master[slot] = (uint8_t)i;
        cl->masters |= 1ULL << i;
        cluster_refresh(cl);
    }
    return cl->nodes[i].rc;
}

/* cluster_refreshes - CLUSTER SLOTS sent */
uint64_t cluster_refreshes(const cluster *cl)
{
    return cl->refreshes;
}

/* cluster_nodes - the connections */
unsigned cluster_nodes(cluster *cl, rconn **out, unsigned max)
{
    unsigned n = cl->n < max ? cl->n : max;
    for (unsigned i = 0; i < n; i++)
        out[i] = cl->nodes[i].rc;
    return n;
}

/* cluster_ready - every slot has a master */
int cluster_ready(const cluster *cl)
{
    for (unsigned i = 0; i < REDIS_SLOTS; i++)
        if (cl->master[i] == NO_NODE)
            return 0;
    return 1;
}

/* cluster_set_notify - fn(arg) after a node's state changed or a new map came in; NULL to stop */
void cluster_set_notify(cluster *cl, cluster_notify_fn fn, void *arg)
{
    cl->notify = fn;
    cl->notify_arg = arg;
}

/* cluster_url - the URL of connection i as cluster_nodes numbers them (the seeds' user and password) */
int cluster_url(const cluster *cl, unsigned i, rconn_url *out)
{
    const char *colon;

    if (i >= cl->n || !(colon = strrchr(cl->nodes[i].addr, ':')))
        return -1;
    size_t hlen = (size_t)(colon - cl->nodes[i].addr);
    *out = cl->proto;
    if (hlen >= sizeof out->host)
        return -1;
    memcpy(out->host, cl->nodes[i].addr, hlen);
    out->host[hlen] = '\0';
    out->port = (unsigned)strtoul(colon + 1, NULL, 10);
    out->path[0] = '\0';
    out->db = 0;
    return 0;
}
