/*
 * mirror - records every daemon of a fleet keeps in memory, shared through Redis (see mirror.h)
 *
 * Two rconn connections: `data` writes (one small script per change: the hash field, then PUBLISH, atomically;
 * called by its sha, since a write-back after an outage queues one call per ban and the text would be most of
 * each) and reads the hashes for a resync (HSCAN pages); `sub` only listens. A resync starts whenever the subscriber
 * is (re)subscribed, so that no change can fall between the read and the first message heard; it restarts from
 * the beginning if the data connection drops in the middle (a generation number makes the old pages' replies
 * harmless).
 *
 * On a Redis Cluster the data connection is the master of the hashes' slot in a slot map of our own
 * (cluster.h, its connections apart from the store's); a command is kept until answered, so that a MOVED
 * or ASK sends it again where the cluster says. Pub/sub is cluster-wide, so the subscriber may listen on
 * any node: the first seed, then, when its node stays down for MIRROR_SUB_MOVE_TICKS, the next node the
 * map names that is up; it resyncs there like after any reconnect.
 *
 * A command sent again (after MOVED, ASK or NOSCRIPT) keeps its first deadline, as the store's requests do
 * (rconn_send_by): its caller is answered NULL once the timeout has passed since the first send, however many
 * times it was sent, and no retry is sent past it.
 *
 * SECURITY
 *     Messages and hash values come from the Redis server, which any daemon of the fleet (or anyone with access
 *     to it) can write: every length is checked against what arrived before a byte is read, and records over
 *     MIRROR_KEY_MAX / MIRROR_VALUE_MAX are dropped. The consumer parses the value bytes itself, as untrusted.
 */
#include "mirror.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "redis_script.h"

#define MIRROR_ID_LEN 16      /* random sender id in each message */
#define MIRROR_MSG_HEAD (MIRROR_ID_LEN + 1 + 1 + 8 + 2)
#define MIRROR_PAGE "512"     /* HSCAN COUNT */
#define MIRROR_HKEY_MAX 32    /* bytes of a class hash's name */
#define MIRROR_TAG "{floodgate:mirror}" /* a cluster's hashes: one slot, so one master holds them all */
#define MIRROR_ARGS 9         /* arguments of the longest command (the change script) */
#define MIRROR_REDIRECTS 3    /* MOVED / ASK followed per command */
#define MIRROR_TICK_MS 250    /* a cluster mirror's timer: subscriber moves */
#define MIRROR_SUB_MOVE_TICKS 4 /* ticks a cluster subscriber stays down before it moves to another node */
#define RESYNC_RETRY_MIN_MS 100   /* first retry of a resync that met an error reply */
#define RESYNC_RETRY_MAX_MS 5000  /* retry delay cap */

/* the mirror's script, loaded on each connection at connect (SCRIPT LOAD) and called by its sha (EVALSHA), so a
 * write carries 40 bytes of sha instead of the text; one answered NOSCRIPT (SCRIPT FLUSH, a node that lost it) is
 * sent again once as EVAL with the text. KEYS[1] the class hash; ARGV[1] the op:
 *   put, del, expired - a change: ARGV field, value (put) or expiry (expired), channel, message. A put or del is
 *     published; an expiry is not (every daemon expires by itself);
 *   sweep - ARGV cursor, now (decimal wall-clock seconds): one HSCAN page whose expired records (expiry not 0 and
 *     not after now, read as a number; never the epoch's empty field) are removed; answers {cursor, removed};
 *   epoch - ARGV a new random epoch, set in the hash's empty field if there is none. Answers the epoch: a new one
 *     means the hash's records may have been lost (Redis restarted empty, the hash flushed or evicted) since it
 *     was last read. */
static const char mirror_script[] =
    "local op = ARGV[1]\n"
    "if op == 'put' then\n"
    "  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])\n"
    "elseif op == 'del' then\n"
    "  redis.call('HDEL', KEYS[1], ARGV[2])\n"
    "elseif op == 'expired' then\n"
    "  local v = redis.call('HGET', KEYS[1], ARGV[2])\n"
    "  if v then\n"
    "    local e = string.sub(v, 1, 8)\n"
    "    if e ~= string.rep('\\0', 8) and e <= ARGV[3] then redis.call('HDEL', KEYS[1], ARGV[2]) end\n"
    "  end\n"
    "  return 1\n"
    "elseif op == 'sweep' then\n"
    "  local r = redis.call('HSCAN', KEYS[1], ARGV[2], 'COUNT', 512)\n"
    "  local now, n, kv = tonumber(ARGV[3]), 0, r[2]\n"
    "  for i = 1, #kv, 2 do\n"
    "    local v = kv[i + 1]\n"
    "    if kv[i] ~= '' and #v >= 8 then\n"
    "      local e = 0\n"
    "      for j = 1, 8 do e = e * 256 + string.byte(v, j) end\n"
    "      if e ~= 0 and e <= now then redis.call('HDEL', KEYS[1], kv[i]); n = n + 1 end\n"
    "    end\n"
    "  end\n"
    "  return {r[1], n}\n"
    "else\n"
    "  local e = redis.call('HGET', KEYS[1], '')\n"
    "  if not e then e = ARGV[2]; redis.call('HSET', KEYS[1], '', e) end\n"
    "  return e\n"
    "end\n"
    "redis.call('PUBLISH', ARGV[4], ARGV[5])\n"
    "return 1\n";

typedef struct mclass {
    uint8_t cls;
    unsigned char hkey[MIRROR_HKEY_MAX]; /* the hash's name: class, 0xff, "mirror" (a cluster's: and MIRROR_TAG) */
    size_t hlen;
    unsigned char epoch[MIRROR_ID_LEN]; /* the hash's epoch as the last resync read it */
    int have_epoch;           /* one was read */
} mclass;

struct mirror {
    rconn *data, *sub;        /* data: NULL on a cluster (the master of the hashes' slot serves) */
    cluster *cl;              /* a cluster's map and connections, NULL on one server */
    uint16_t slot;            /* the hashes' slot */
    struct event_base *base;
    struct event *tick;       /* a cluster's timer */
    unsigned sub_down;        /* ticks the cluster subscriber has been down */
    unsigned sub_next;        /* the next node tried for it */
    uint64_t sub_timeouts;    /* the subscriber's deadline drops seen (a heartbeat unanswered: logged) */
    int data_was_up;          /* a cluster's data connection, as last seen */
    rconn_config sc;          /* the subscriber's configuration, to make it again on another node */
    uint64_t timeout_ms;      /* a data command's deadline, from its first send (0: the connection's alone) */
    mclass classes[MIRROR_CLASSES_MAX];
    unsigned nclasses;
    mirror_apply_fn apply;
    void *arg;
    unsigned char id[MIRROR_ID_LEN];
    char channel[48];
    uint64_t gen;             /* resync generation: pages of an older one are ignored */
    int want_sync;            /* the subscriber is up and the set has not been read since */
    uint64_t marker_gen;      /* the generation whose end-of-class marker is awaited, 0 = none */
    int lost;                 /* the class being read may have lost records (its first read, or a new epoch) */
    unsigned marker_ci;       /* its class */
    int closing;              /* mirror_free: callbacks only free their page */
    unsigned char *buf;       /* message and value under construction */
    rconn_log_fn log;         /* the mirror's own messages (a resync that fails), NULL = silent */
    struct event *retry;      /* restarts a resync that met an error reply */
    uint64_t retry_ms;        /* its next delay */
    uint64_t sync_errors;     /* error replies met since the last resync that finished (logged at the first) */
    int sweeping;             /* a sweep is going through the classes */
    uint64_t sweep_now;       /* its clock */
    mirror_stats st;
};

/* mcmd - a command sent on a cluster, kept until answered so that MOVED or ASK can send it again */
typedef struct mcmd {
    mirror *m;
    rconn_reply_fn done;      /* the caller's callback, called once with the final answer */
    void *arg;
    unsigned redirects;
    int evaled;               /* sent again as EVAL after a NOSCRIPT */
    uint64_t deadline_ms;     /* first send + timeout (rconn_now_ms): answered by then, retries too; 0 none */
    int argc;
    const char *argv[MIRROR_ARGS];
    size_t lens[MIRROR_ARGS];
    char bytes[];             /* the arguments' copies */
} mcmd;

typedef struct mpage {
    mirror *m;
    uint64_t gen;
    unsigned ci;              /* index in m->classes */
} mpage;

/* be64 / rd64 / rd16 - big-endian numbers */
static void be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static size_t rd16(const unsigned char *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* class_index - where cls sits in m->classes, -1 if the mirror does not carry it */
static int class_index(const mirror *m, uint8_t cls)
{
    for (unsigned i = 0; i < m->nclasses; i++)
        if (m->classes[i].cls == cls)
            return (int)i;
    return -1;
}

/* data_conn - where writes and resync pages go: the server, or the master of the hashes' slot (NULL unknown) */
static rconn *data_conn(const mirror *m)
{
    int replica;

    return m->cl ? cluster_node(m->cl, m->slot, 0, &replica) : m->data;
}

/* data_up - the data connection is ready */
static int data_up(const mirror *m)
{
    rconn *rc = data_conn(m);

    return rc && rconn_is_up(rc);
}

/* on_routed - a kept command's answer: a NOSCRIPT is sent again as EVAL with the text (once), a cluster's MOVED or
 * ASK is followed (at most MIRROR_REDIRECTS times), while its first deadline has not passed; anything else goes to
 * the caller */
static void on_routed(rconn *rc, redisReply *r, void *arg)
{
    mcmd *c = arg;
    mirror *m = c->m;
    int retry = !m->closing && r && r->type == REDIS_REPLY_ERROR &&
                (!c->deadline_ms || rconn_now_ms() < c->deadline_ms);

    if (retry && !c->evaled && !strncmp(r->str, "NOSCRIPT", 8) && c->lens[0] == 7 &&
        !memcmp(c->argv[0], "EVALSHA", 7)) {
        /* the server lost the script (SCRIPT FLUSH, restarted under a live connection): the text, which EVAL
         * also caches there again, so that the next EVALSHA finds it */
        c->evaled = 1;
        c->argv[0] = "EVAL";
        c->lens[0] = 4;
        c->argv[1] = mirror_script;
        c->lens[1] = sizeof mirror_script - 1;
        if (rconn_send_by(rc, c->argc, c->argv, c->lens, on_routed, c, c->deadline_ms) == 0)
            return;
    } else if (retry && m->cl && c->redirects < MIRROR_REDIRECTS &&
               (!strncmp(r->str, "MOVED ", 6) || !strncmp(r->str, "ASK ", 4))) {
        static const char *asking[1] = {"ASKING"};
        static const size_t asking_len[1] = {6};
        int ask = 0;
        rconn *to = cluster_redirect(m->cl, r->str, r->len, &ask);
        c->redirects++;
        if (to && (!ask || rconn_send(to, 1, asking, asking_len, NULL, NULL) == 0) &&
            rconn_send_by(to, c->argc, c->argv, c->lens, on_routed, c, c->deadline_ms) == 0)
            return;
    }
    c->done(rc, r, c->arg);
    fg_free(c);
}

/* data_send - a command on the data connection; a copy is kept for a NOSCRIPT (a script call) and on a cluster
 * for MOVED / ASK. 0, or -1 (cb not called) when the server is unavailable */
static int data_send(mirror *m, int argc, const char **argv, const size_t *lens, rconn_reply_fn cb, void *arg)
{
    rconn *rc = data_conn(m);
    size_t total = 0;

    if (!rc)
        return -1;
    if (!m->cl && strcmp(argv[0], "EVALSHA"))
        return rconn_send(rc, argc, argv, lens, cb, arg);
    for (int i = 0; i < argc; i++)
        total += lens[i];
    mcmd *c = fg_malloc(sizeof *c + total);
    char *p = c->bytes;
    *c = (mcmd){.m = m, .done = cb, .arg = arg, .argc = argc,
                .deadline_ms = m->timeout_ms ? rconn_now_ms() + m->timeout_ms : 0};
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], lens[i]);
        c->argv[i] = p;
        c->lens[i] = lens[i];
        p += lens[i];
    }
    if (rconn_send(rc, argc, c->argv, c->lens, on_routed, c) < 0) {
        fg_free(c);
        return -1;
    }
    return 0;
}

/* script_send - the mirror's script with argv[2..argc-1] (argv[0] and argv[1] are filled here): EVALSHA with the
 * sha the data connection loaded, or EVAL with the text before it has one. As data_send */
static int script_send(mirror *m, int argc, const char **argv, size_t *lens, rconn_reply_fn cb, void *arg)
{
    rconn *rc = data_conn(m);
    const char *sha = rc ? rconn_sha(rc) : "";

    if (sha[0]) {
        argv[0] = "EVALSHA", lens[0] = 7;
        argv[1] = sha, lens[1] = strlen(sha);
    } else {
        argv[0] = "EVAL", lens[0] = 4;
        argv[1] = mirror_script, lens[1] = sizeof mirror_script - 1;
    }
    return data_send(m, argc, argv, lens, cb, arg);
}

static void sync_page(mirror *m, unsigned ci, const char *cursor, size_t clen);
static void start_sync(mirror *m);
static void class_begin(mirror *m, unsigned ci);

/* sync_failed - a resync met an error reply (a wrong-type key, OOM, ...) or an answer of the wrong shape: it
 * starts again after a delay that doubles up to RESYNC_RETRY_MAX_MS; logged once until a resync finishes. A
 * lost connection (no reply) needs no timer: the resync starts again when the connection is back. */
static void sync_failed(mirror *m, const redisReply *r, const char *what)
{
    m->want_sync = 1;
    if (!r)
        return;
    if (!m->sync_errors++ && m->log) {
        int err = r->type == REDIS_REPLY_ERROR;
        m->log(4, "fleet mirror: %s answered %.*s; the resync is retried until it succeeds", what,
               err ? (int)(r->len > 200 ? 200 : r->len) : 19, err ? r->str : "an unexpected reply");
    }
    struct timeval tv = {(time_t)(m->retry_ms / 1000), (suseconds_t)(m->retry_ms % 1000 * 1000)};
    evtimer_add(m->retry, &tv);
    m->retry_ms = m->retry_ms * 2 > RESYNC_RETRY_MAX_MS ? RESYNC_RETRY_MAX_MS : m->retry_ms * 2;
}

/* on_retry - the retry timer: the resync starts again (if the connections are up) */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_sync(arg);
}

/* class_done - the resync of class ci is over (its marker was heard): MIRROR_SYNC_END, then the next class */
static void class_done(mirror *m, unsigned ci)
{
    mirror_rec end = {.cls = m->classes[ci].cls};

    m->apply(MIRROR_SYNC_END, &end, m->arg);
    if (ci + 1 < m->nclasses) {
        class_begin(m, ci + 1);
        return;
    }
    m->st.resyncs++;
    if (m->sync_errors && m->log)
        m->log(6, "fleet mirror: resync done after %llu error repl%s", (unsigned long long)m->sync_errors,
               m->sync_errors == 1 ? "y" : "ies");
    m->sync_errors = 0;
    m->retry_ms = RESYNC_RETRY_MIN_MS;
}

/* on_marker_sent - PUBLISH's answer: a marker lost with the connection makes the resync start again */
static void on_marker_sent(rconn *rc, redisReply *r, void *arg)
{
    mirror *m = arg;

    (void)rc;
    if (!m->closing && (!r || r->type == REDIS_REPLY_ERROR))
        sync_failed(m, r, "PUBLISH");
}

/* send_marker - the last page of class ci is read: publish a marker (op MIRROR_SYNC_END, the class, the
 * generation), and end the class when the subscriber hears it back. Every change published before the last page
 * was read (a del the page no longer shows) is heard before the marker, so the consumer's comparison at the
 * end never takes a record deleted meanwhile for one missing from Redis. */
static void send_marker(mirror *m, unsigned ci)
{
    unsigned char msg[MIRROR_MSG_HEAD] = {0};
    const char *argv[3] = {"PUBLISH", m->channel, (const char *)msg};
    size_t lens[3] = {7, strlen(m->channel), sizeof msg};

    memcpy(msg, m->id, MIRROR_ID_LEN);
    msg[MIRROR_ID_LEN] = MIRROR_SYNC_END;
    msg[MIRROR_ID_LEN + 1] = m->classes[ci].cls;
    be64(msg + MIRROR_ID_LEN + 2, m->gen);
    m->marker_ci = ci;
    m->marker_gen = m->gen;
    if (data_send(m, 3, argv, lens, on_marker_sent, m) < 0)
        m->want_sync = 1;
}

/* page_take - a resync step's answer arrived: its page record copied to *pg and freed; 0 if the answer is stale
 * (the mirror is closing, or a newer resync started since it was asked for) */
static int page_take(void *arg, mpage *pg)
{
    *pg = *(mpage *)arg;
    fg_free(arg);
    return !pg->m->closing && pg->gen == pg->m->gen;
}

/* rec_fits - a record from Redis (a resync's page or a published message) is one this mirror hands over: a key
 * of 1 to MIRROR_KEY_MAX bytes, a value of at most MIRROR_VALUE_MAX */
static int rec_fits(size_t klen, size_t vlen)
{
    return klen && klen <= MIRROR_KEY_MAX && vlen <= MIRROR_VALUE_MAX;
}

/* on_page - one HSCAN page: hand over its records, ask for the next page or end this class */
static void on_page(rconn *rc, redisReply *r, void *arg)
{
    mpage pg;
    mirror *m;

    (void)rc;
    if (!page_take(arg, &pg))
        return;
    m = pg.m;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        sync_failed(m, r, "HSCAN");
        return;
    }
    const mclass *c = &m->classes[pg.ci];
    const redisReply *kv = r->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *f = kv->element[i], *v = kv->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || v->len < 8 ||
            !rec_fits(f->len, v->len - 8))
            continue;
        mirror_rec rec = {c->cls, (const uint8_t *)f->str, f->len, (const uint8_t *)v->str + 8, v->len - 8,
                          rd64((const unsigned char *)v->str)};
        m->apply(MIRROR_SYNC_PUT, &rec, m->arg);
    }
    if (r->element[0]->len == 1 && r->element[0]->str[0] == '0') {
        send_marker(m, pg.ci);
        return;
    }
    sync_page(m, pg.ci, r->element[0]->str, r->element[0]->len);
}

/* sync_page - ask for the page of class ci at cursor (a class's first page starts with MIRROR_SYNC_BEGIN) */
static void sync_page(mirror *m, unsigned ci, const char *cursor, size_t clen)
{
    const char *argv[5] = {"HSCAN", (const char *)m->classes[ci].hkey, cursor, "COUNT", MIRROR_PAGE};
    size_t lens[5] = {5, m->classes[ci].hlen, clen, 5, strlen(MIRROR_PAGE)};
    mpage *pg = fg_malloc(sizeof *pg);

    *pg = (mpage){m, m->gen, ci};
    if (clen == 1 && cursor[0] == '0') {
        mirror_rec begin = {.cls = m->classes[ci].cls};
        m->apply(MIRROR_SYNC_BEGIN, &begin, m->arg);
    }
    if (data_send(m, 5, argv, lens, on_page, pg) < 0) {
        fg_free(pg);
        m->want_sync = 1;
    }
}

/* on_epoch - the epoch script's answer: the class's pages are read */
static void on_epoch(rconn *rc, redisReply *r, void *arg)
{
    mpage pg;
    mirror *m;

    (void)rc;
    if (!page_take(arg, &pg))
        return;
    m = pg.m;
    if (!r || r->type != REDIS_REPLY_STRING) {
        sync_failed(m, r, "the epoch script");
        return;
    }
    mclass *c = &m->classes[pg.ci];
    m->lost = !c->have_epoch || r->len != MIRROR_ID_LEN || memcmp(r->str, c->epoch, MIRROR_ID_LEN);
    if (r->len == MIRROR_ID_LEN) {
        memcpy(c->epoch, r->str, MIRROR_ID_LEN);
        c->have_epoch = 1;
    }
    sync_page(m, pg.ci, "0", 1);
}

/* class_begin - the resync of class ci: its hash's epoch first, then its pages */
static void class_begin(mirror *m, unsigned ci)
{
    unsigned char fresh[MIRROR_ID_LEN];
    const char *argv[6] = {NULL, NULL, "1", (const char *)m->classes[ci].hkey, "epoch", (const char *)fresh};
    size_t lens[6] = {0, 0, 1, m->classes[ci].hlen, 5, sizeof fresh};
    mpage *pg = fg_malloc(sizeof *pg);

    randombytes_buf(fresh, sizeof fresh);
    *pg = (mpage){m, m->gen, ci};
    if (script_send(m, 6, argv, lens, on_epoch, pg) < 0) {
        fg_free(pg);
        m->want_sync = 1;
    }
}

/* start_sync - read the whole set again, if the subscriber listens and the data connection is up */
static void start_sync(mirror *m)
{
    if (!m->want_sync || !m->sub || !rconn_is_up(m->sub) || !data_up(m) || !m->nclasses)
        return;
    evtimer_del(m->retry); /* this is the retry (or a reconnect came first) */
    m->want_sync = 0;
    m->gen++;
    class_begin(m, 0);
}

/* on_sub_state - the subscriber is listening again: what was missed meanwhile is read in a resync. Dropped for
 * a heartbeat that went unanswered (the only deadline of a subscriber that is up): a server that hangs, which
 * nothing else may notice for minutes (the store's connection only when a request waits on it), logged here, once
 * (the reconnects that fail after it do not come up, so they never come back here) */
static void on_sub_state(rconn *rc, int up, void *arg)
{
    mirror *m = arg;
    rconn_stats rs;

    m->st.up = up;
    if (up) {
        m->want_sync = 1;
        start_sync(m);
        return;
    }
    rconn_get_stats(rc, &rs);
    if (rs.timeouts > m->sub_timeouts && m->log)
        m->log(4, "fleet mirror: redis %s did not answer the subscriber's heartbeat within %llu ms; reconnecting, "
               "and reading every record again once it answers", rconn_name(rc),
               (unsigned long long)(m->sc.timeout_ms ? m->sc.timeout_ms : m->sc.connect_timeout_ms));
    m->sub_timeouts = rs.timeouts;
}

/* on_data_state - the data connection is back: a resync that was waiting (or cut off) starts */
static void on_data_state(rconn *rc, int up, void *arg)
{
    (void)rc;
    if (up)
        start_sync(arg);
}

/* on_message - a change published by some daemon: apply it unless it is our own */
static void on_message(rconn *rc, const char *msg, size_t len, void *arg)
{
    mirror *m = arg;
    const unsigned char *p = (const unsigned char *)msg;

    (void)rc;
    if (len < MIRROR_MSG_HEAD)
        return;
    if (!memcmp(p, m->id, MIRROR_ID_LEN)) {
        /* our own: only a resync's marker matters (the one of the class being read, this generation) */
        if (len == MIRROR_MSG_HEAD && p[MIRROR_ID_LEN] == MIRROR_SYNC_END && m->gen == m->marker_gen &&
            rd64(p + MIRROR_ID_LEN + 2) == m->gen && m->marker_ci < m->nclasses &&
            p[MIRROR_ID_LEN + 1] == m->classes[m->marker_ci].cls) {
            m->marker_gen = 0;
            class_done(m, m->marker_ci);
        }
        return;
    }
    int op = p[MIRROR_ID_LEN];
    uint8_t cls = p[MIRROR_ID_LEN + 1];
    uint64_t expires = rd64(p + MIRROR_ID_LEN + 2);
    size_t klen = rd16(p + MIRROR_ID_LEN + 10);
    if ((op != MIRROR_PUT && op != MIRROR_DEL) || class_index(m, cls) < 0 || klen > len - MIRROR_MSG_HEAD ||
        !rec_fits(klen, len - MIRROR_MSG_HEAD - klen))
        return;
    mirror_rec rec = {cls, p + MIRROR_MSG_HEAD, klen, NULL, 0, expires};
    if (op == MIRROR_PUT) {
        rec.val = p + MIRROR_MSG_HEAD + klen;
        rec.vlen = len - MIRROR_MSG_HEAD - klen;
    }
    m->st.received++;
    m->apply(op, &rec, m->arg);
}

/* on_written - the change script's answer; a write lost with the connection makes the next connection resync
 * (its merge writes back what this daemon changed meanwhile) */
static void on_written(rconn *rc, redisReply *r, void *arg)
{
    mirror *m = arg;

    (void)rc;
    if (m->closing)
        return;
    if (!r || r->type == REDIS_REPLY_ERROR)
        m->st.failed++;
    if (!r)
        m->want_sync = 1;
}

typedef struct mwrite {
    mirror *m;
    int op;                   /* MIRROR_UNWRITTEN_PUT or _DEL if it does not reach Redis */
    uint8_t cls;
    size_t klen;
    unsigned char key[];
} mwrite;

/* on_change_written - a put's or del's answer: one that did not reach Redis is handed back to be written later */
static void on_change_written(rconn *rc, redisReply *r, void *arg)
{
    mwrite *w = arg;
    mirror *m = w->m;

    on_written(rc, r, m);
    if (!m->closing && (!r || r->type == REDIS_REPLY_ERROR)) {
        mirror_rec rec = {w->cls, w->key, w->klen, NULL, 0, 0};
        m->apply(w->op, &rec, m->arg);
    }
    fg_free(w);
}

/* follow_data - on a cluster the data connection can go down while the subscriber stays up (the hashes'
 * master fails over): when it is back, or a new master took the slot, everything is read again, which also
 * writes back the bans made meanwhile */
static void follow_data(mirror *m)
{
    int up = data_up(m);

    if (up && !m->data_was_up)
        m->want_sync = 1;
    m->data_was_up = up;
    start_sync(m);
}

/* on_cluster - the cluster's map or a node changed */
static void on_cluster(void *arg)
{
    follow_data(arg);
}

/* sub_move - the cluster subscriber has been down for a while: listen on the next node that is up instead
 * (a message PUBLISHed on any node reaches every node's subscribers) */
static void sub_move(mirror *m)
{
    rconn *nodes[CLUSTER_NODES_MAX];
    unsigned n = cluster_nodes(m->cl, nodes, CLUSTER_NODES_MAX);
    char err[256];

    for (unsigned k = 0; k < n; k++) {
        unsigned i = (m->sub_next + k) % n;
        rconn_url u;
        if (!rconn_is_up(nodes[i]) || !strcmp(rconn_name(nodes[i]), rconn_name(m->sub)) ||
            cluster_url(m->cl, i, &u) < 0)
            continue;
        rconn *sub = rconn_new(m->base, &u, &m->sc, err, sizeof err);
        if (!sub)
            continue;
        rconn_free(m->sub); /* down: no callback, nothing in flight */
        m->sub = sub;
        m->sub_timeouts = 0;
        m->sub_next = i + 1;
        m->sub_down = 0;
        m->st.moves++;
        return;
    }
}

/* on_tick - a cluster mirror's timer: a subscriber that stays down moves (the map refreshes itself, each second
 * while the hashes' master, or any master, is away) */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    mirror *m = arg;

    (void)fd;
    (void)what;
    if (rconn_is_up(m->sub))
        m->sub_down = 0;
    else if (++m->sub_down >= MIRROR_SUB_MOVE_TICKS)
        sub_move(m);
    follow_data(m);
}

/* mirror_make - the data connection (or a cluster's) and the subscriber (on the first url), connecting at once */
static mirror *mirror_make(struct event_base *base, const rconn_url *urls, unsigned nurls, int cluster,
                           const rconn_config *cfg, const uint8_t *classes, unsigned nclasses, mirror_apply_fn apply,
                           void *arg, char *err, size_t errlen)
{
    mirror *m = fg_calloc(1, sizeof *m);
    rconn_config dc = *cfg, sc = *cfg;
    static const char tag[] = MIRROR_TAG;

    m->base = base;
    if (nclasses > MIRROR_CLASSES_MAX)
        nclasses = MIRROR_CLASSES_MAX;
    for (unsigned i = 0; i < nclasses; i++) {
        mclass *c = &m->classes[i];
        c->cls = classes[i];
        c->hkey[0] = classes[i];
        c->hkey[1] = 0xff;
        memcpy(c->hkey + 2, "mirror", 6);
        c->hlen = 8;
        if (cluster) {
            memcpy(c->hkey + 8, tag, sizeof tag - 1);
            c->hlen += sizeof tag - 1;
        }
    }
    _Static_assert(8 + sizeof MIRROR_TAG - 1 <= MIRROR_HKEY_MAX, "a class hash's name fits");
    m->slot = redis_slot(m->classes[0].hkey, m->classes[0].hlen);
    m->nclasses = nclasses;
    m->apply = apply;
    m->arg = arg;
    randombytes_buf(m->id, sizeof m->id);
    snprintf(m->channel, sizeof m->channel, "floodgate:mirror:%u", urls[0].db);
    m->buf = fg_malloc(MIRROR_MSG_HEAD + MIRROR_KEY_MAX + 2 * (8 + MIRROR_VALUE_MAX)); /* message, then hash value */
    /* silent: the store's own connection to the same server already logs each outage once */
    m->log = cfg->log;
    m->retry = evtimer_new(base, on_retry, m);
    m->retry_ms = RESYNC_RETRY_MIN_MS;
    dc.log = sc.log = NULL;
    dc.script = mirror_script; /* loaded at each connect, on every node of a cluster */
    dc.subscribe = NULL;
    dc.on_state = on_data_state;
    dc.state_arg = m;
    sc.script = NULL;
    sc.subscribe = m->channel;
    sc.on_message = on_message;
    sc.message_arg = m;
    sc.on_state = on_sub_state;
    sc.state_arg = m;
    m->sc = sc;
    m->sc.numeric_only = 1; /* a node the map names: no name lookup at run time */
    m->timeout_ms = dc.timeout_ms;
    if (cluster) {
        m->cl = cluster_new(base, urls, nurls, &dc, 0, err, errlen);
        if (m->cl) {
            cluster_set_notify(m->cl, on_cluster, m);
            m->tick = event_new(base, -1, EV_PERSIST, on_tick, m);
            struct timeval tv = {0, MIRROR_TICK_MS * 1000};
            event_add(m->tick, &tv);
        }
    } else {
        m->data = rconn_new(base, &urls[0], &dc, err, errlen);
    }
    if (m->data || m->cl)
        m->sub = rconn_new(base, &urls[0], &sc, err, errlen);
    if ((!m->data && !m->cl) || !m->sub) {
        mirror_free(m);
        return NULL;
    }
    return m;
}

/* mirror_new - a mirror on one server */
mirror *mirror_new(struct event_base *base, const rconn_url *url, const rconn_config *cfg, const uint8_t *classes,
                   unsigned nclasses, mirror_apply_fn apply, void *arg, char *err, size_t errlen)
{
    return mirror_make(base, url, 1, 0, cfg, classes, nclasses, apply, arg, err, errlen);
}

/* mirror_new_cluster - a mirror on a Redis Cluster */
mirror *mirror_new_cluster(struct event_base *base, const rconn_url *seeds, unsigned nseeds, const rconn_config *cfg,
                           const uint8_t *classes, unsigned nclasses, mirror_apply_fn apply, void *arg, char *err,
                           size_t errlen)
{
    return mirror_make(base, seeds, nseeds, 1, cfg, classes, nclasses, apply, arg, err, errlen);
}

/* mirror_free - close */
void mirror_free(mirror *m)
{
    if (!m)
        return;
    m->closing = 1;
    if (m->tick)
        event_free(m->tick);
    rconn_free(m->sub);
    rconn_free(m->data);
    cluster_free(m->cl);
    if (m->retry)
        event_free(m->retry);
    fg_free(m->buf);
    fg_free(m);
}

/* send_change - the script for op ("put", "del", "expired") on a record; the message is built in m->buf */
static int send_change(mirror *m, const char *op, int ci, const uint8_t *key, size_t klen, const void *v,
                       size_t vlen, size_t mlen)
{
    rconn_reply_fn cb = on_written;
    void *cbarg = m;
    const char *argv[8] = {NULL, NULL, "1", (const char *)m->classes[ci].hkey, op, (const char *)key, v,
                           m->channel};
    size_t lens[8] = {0, 0, 1, m->classes[ci].hlen, strlen(op), klen, vlen, strlen(m->channel)};
    const char *argv9[9];
    size_t lens9[9];

    memcpy(argv9, argv, sizeof argv);
    memcpy(lens9, lens, sizeof lens);
    argv9[8] = (const char *)m->buf;
    lens9[8] = mlen;
    if (mlen) { /* a put or a del: its key comes back if it is lost */
        mwrite *w = fg_malloc(sizeof *w + klen);
        w->m = m;
        w->op = op[0] == 'p' ? MIRROR_UNWRITTEN_PUT : MIRROR_UNWRITTEN_DEL;
        w->cls = m->classes[ci].cls;
        w->klen = klen;
        memcpy(w->key, key, klen);
        cb = on_change_written;
        cbarg = w;
    }
    if (script_send(m, 9, argv9, lens9, cb, cbarg) < 0) {
        if (cbarg != m)
            fg_free(cbarg);
        m->st.failed++;
        m->want_sync = 1; /* resync when the connection is back: its merge writes back what changed meanwhile */
        return -1;
    }
    m->st.sent += mlen > 0;
    return 0;
}

/* message - the published form of a change into m->buf; its length */
static size_t message(mirror *m, int op, uint8_t cls, uint64_t expires, const uint8_t *key, size_t klen,
                      const uint8_t *val, size_t vlen)
{
    unsigned char *p = m->buf;

    memcpy(p, m->id, MIRROR_ID_LEN);
    p[MIRROR_ID_LEN] = (unsigned char)op;
    p[MIRROR_ID_LEN + 1] = cls;
    be64(p + MIRROR_ID_LEN + 2, expires);
    p[MIRROR_ID_LEN + 10] = (unsigned char)(klen >> 8);
    p[MIRROR_ID_LEN + 11] = (unsigned char)klen;
    memcpy(p + MIRROR_MSG_HEAD, key, klen);
    if (vlen)
        memcpy(p + MIRROR_MSG_HEAD + klen, val, vlen);
    return MIRROR_MSG_HEAD + klen + vlen;
}

/* mirror_put - HSET and PUBLISH in one script */
int mirror_put(mirror *m, const mirror_rec *r)
{
    int ci = class_index(m, r->cls);

    if (ci < 0 || r->klen > MIRROR_KEY_MAX || r->vlen > MIRROR_VALUE_MAX)
        return -1;
    size_t mlen = message(m, MIRROR_PUT, r->cls, r->expires, r->key, r->klen, r->val, r->vlen);
    /* the hash value is the message's tail from the expiry on, less the key: built after the message */
    unsigned char *hv = m->buf + mlen;
    be64(hv, r->expires);
    if (r->vlen)
        memcpy(hv + 8, r->val, r->vlen);
    return send_change(m, "put", ci, r->key, r->klen, hv, 8 + r->vlen, mlen);
}

/* mirror_del - HDEL and PUBLISH */
int mirror_del(mirror *m, uint8_t cls, const uint8_t *key, size_t klen)
{
    int ci = class_index(m, cls);

    if (ci < 0 || klen > MIRROR_KEY_MAX)
        return -1;
    size_t mlen = message(m, MIRROR_DEL, cls, 0, key, klen, NULL, 0);
    return send_change(m, "del", ci, key, klen, "", 0, mlen);
}

/* mirror_expired - HDEL if the stored expiry is this one or earlier */
int mirror_expired(mirror *m, uint8_t cls, const uint8_t *key, size_t klen, uint64_t expires)
{
    int ci = class_index(m, cls);
    unsigned char e[8];

    if (ci < 0 || klen > MIRROR_KEY_MAX || !expires)
        return -1;
    be64(e, expires);
    return send_change(m, "expired", ci, key, klen, e, 8, 0);
}

static void sweep_page(mirror *m, unsigned ci, const char *cursor, size_t clen);

/* on_swept - one page swept: the next page, the next class, or the end */
static void on_swept(rconn *rc, redisReply *r, void *arg)
{
    mpage pg = *(mpage *)arg;
    mirror *m = pg.m;

    (void)rc;
    fg_free(arg);
    if (m->closing)
        return;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        m->sweeping = 0; /* the next sweep tries again */
        return;
    }
    if (r->element[1]->integer > 0)
        m->st.swept += (uint64_t)r->element[1]->integer;
    if (r->element[0]->len == 1 && r->element[0]->str[0] == '0') {
        if (pg.ci + 1 < m->nclasses)
            sweep_page(m, pg.ci + 1, "0", 1);
        else
            m->sweeping = 0;
        return;
    }
    sweep_page(m, pg.ci, r->element[0]->str, r->element[0]->len);
}

/* sweep_page - sweep the page of class ci at cursor */
static void sweep_page(mirror *m, unsigned ci, const char *cursor, size_t clen)
{
    char now[24];
    const char *argv[7] = {NULL, NULL, "1", (const char *)m->classes[ci].hkey, "sweep", cursor, now};
    size_t lens[7] = {0, 0, 1, m->classes[ci].hlen, 5, clen, 0};
    mpage *pg = fg_malloc(sizeof *pg);

    lens[6] = (size_t)snprintf(now, sizeof now, "%llu", (unsigned long long)m->sweep_now);
    *pg = (mpage){m, m->gen, ci};
    if (script_send(m, 7, argv, lens, on_swept, pg) < 0) {
        fg_free(pg);
        m->sweeping = 0;
    }
}

/* mirror_resync - a resync on demand (a consumer that has a new owner for records) */
void mirror_resync(mirror *m)
{
    m->want_sync = 1;
    start_sync(m);
}

/* mirror_sweep - remove the expired records of every class from the hashes, a page per round trip */
int mirror_sweep(mirror *m, uint64_t now)
{
    if (m->sweeping)
        return 0;
    if (!data_up(m) || !m->nclasses)
        return -1;
    m->sweeping = 1;
    m->sweep_now = now;
    sweep_page(m, 0, "0", 1);
    return m->sweeping ? 0 : -1;
}

/* mirror_sync_lost - the resync in progress may find records lost */
int mirror_sync_lost(const mirror *m)
{
    return m->lost;
}

/* mirror_get_stats - counters for floodgatectl stats */
void mirror_get_stats(const mirror *m, mirror_stats *out)
{
    *out = m->st;
    out->up = rconn_is_up(m->sub) && data_up(m);
}
