/*
 * kvcmd - the control socket's kv command: values, counters, locks and one-time ids in the store (kv.h)
 *
 *     command=kv  arg1=OP  arg2=CLASS  arg3=KEY  [arg4=VALUE|BY|TOKEN]  [ttl=DURATION]  [nx=yes]
 *
 *     get    -> found=yes value=...           set   -> set=yes|no (nx=yes: only if absent)
 *     del    -> deleted=yes|no                incr  -> value=N (BY defaults to 1; ttl= when created)
 *     lock   -> locked=yes token=T | no       unlock TOKEN -> unlocked=yes|no
 *     renew TOKEN (ttl=) -> renewed=yes|no    seen  -> new=yes|no (set if absent, with ttl=)
 *
 * Asynchronous like every store command, so a networked store never holds
 * the loop. Values are single lines (the protocol's framing) of at most
 * KV_VALUE_MAX bytes.
 */
#include "kvcmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "alloc.h"
#include "kv.h"
#include "num.h"

typedef struct kv_job {
    server *srv;
    store_batch batch;
    struct evbuffer *out;
    control_done_fn done;
    void *arg;
    int op;                          /* enum kv_op */
    char token[KV_TOKEN_LEN + 1];    /* a new lock's owner token */
} kv_job;

/* kv_error - status=error */
static int kv_error(struct evbuffer *out, const char *msg)
{
    evbuffer_add_printf(out, "status=error\nmessage=%s\n\n", msg);
    return CONTROL_DONE;
}

/* job_reply - the answer of a finished job */
static void job_reply(kv_job *j)
{
    const store_op *op = &j->batch.ops[0];
    const char *yes = op->admitted ? "yes" : "no";

    if (j->batch.status < 0) {
        kv_error(j->out, "the store did not answer");
        return;
    }
    evbuffer_add_printf(j->out, "status=ok\n");
    j->srv->st.locks_taken += j->op == KV_LOCK && op->admitted;
    j->srv->st.lock_renewals += j->op == KV_RENEW && op->admitted;
    switch (j->op) {
    case KV_GET:
        evbuffer_add_printf(j->out, "found=%s\n", yes);
        if (op->admitted) {
            evbuffer_add(j->out, "value=", 6);
            evbuffer_add(j->out, batch_result(&j->batch, op), op->res_len);
            evbuffer_add(j->out, "\n", 1);
        }
        break;
    case KV_SET: evbuffer_add_printf(j->out, "set=%s\n", yes); break;
    case KV_DEL: evbuffer_add_printf(j->out, "deleted=%s\n", yes); break;
    case KV_INCR:
        if (!op->admitted) {
            evbuffer_drain(j->out, evbuffer_get_length(j->out));
            kv_error(j->out, "the value is not a number");
            return;
        }
        evbuffer_add_printf(j->out, "value=%lld\n", (long long)op->num);
        break;
    case KV_LOCK:
        evbuffer_add_printf(j->out, "locked=%s\n", yes);
        if (op->admitted)
            evbuffer_add_printf(j->out, "token=%s\n", j->token);
        break;
    case KV_UNLOCK: evbuffer_add_printf(j->out, "unlocked=%s\n", yes); break;
    case KV_RENEW: evbuffer_add_printf(j->out, "renewed=%s\n", yes); break;
    case KV_SEEN: evbuffer_add_printf(j->out, "new=%s\n", yes); break;
    }
    evbuffer_add(j->out, "\n", 1);
}

/* job_done - a networked store answered */
static void job_done(store_batch *b, void *arg)
{
    kv_job *j = arg;
    (void)b;
    job_reply(j);
    j->done(j->arg);
    batch_release(&j->batch);
    fg_free(j);
}

/* new_token - 128 random bits in hex: a lock's owner */
static void new_token(char out[KV_TOKEN_LEN + 1])
{
    unsigned char r[KV_TOKEN_LEN / 2];

    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++) /* never in practice: getrandom only fails before the pool is ready */
            r[i] = (unsigned char)(random() >> 7);
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* kv_exec - one kv command */
int kv_exec(server *s, fg_request *req, const char **args, int nargs, struct evbuffer *out, control_done_fn done,
            void *arg)
{
    static const uint8_t types[] = {[KV_GET] = STORE_KV_GET,   [KV_SET] = STORE_KV_SET,   [KV_DEL] = STORE_DEL,
                                    [KV_INCR] = STORE_KV_INCR, [KV_LOCK] = STORE_LOCK,    [KV_UNLOCK] = STORE_UNLOCK,
                                    [KV_RENEW] = STORE_RENEW,  [KV_SEEN] = STORE_KV_SET};
    char msg[256];
    const char *why, *operand = NULL;
    size_t len;
    int op, cls;
    uint64_t ttl = 0;
    int64_t by = 1;

    if (nargs < 3)
        return kv_error(out, "usage: kv get|set|del|incr|lock|unlock|renew|seen CLASS KEY [VALUE|BY|TOKEN] [ttl=D] [nx=yes]");
    if ((op = kv_op_of(args[0])) < 0)
        return kv_error(out, "unknown kv operation (get, set, del, incr, lock, unlock, renew, seen)");
    if ((cls = kv_class_of(args[1])) < 0) {
        snprintf(msg, sizeof msg, "unknown class %.64s (%s)", args[1], kv_class_names());
        return kv_error(out, msg);
    }
    const char *ttl_text = req_get_name(req, "ttl", &len);
    if (len && num_parse_duration(ttl_text, 1, KV_TTL_MAX, &ttl, &why) < 0) {
        snprintf(msg, sizeof msg, "ttl: %s", why);
        return kv_error(out, msg);
    }
    if ((op == KV_LOCK || op == KV_RENEW) && !ttl)
        return kv_error(out, "a lock needs ttl= (it is released by itself if its owner dies)");
    switch (op) {
    case KV_SET:
        if (nargs < 4)
            return kv_error(out, "usage: kv set CLASS KEY VALUE [ttl=D] [nx=yes]");
        operand = args[3];
        break;
    case KV_INCR:
        if (nargs >= 4 && num_parse_i64(args[3], strlen(args[3]), &by, &why) < 0)
            return kv_error(out, "incr: BY must be an integer");
        break;
    case KV_UNLOCK:
    case KV_RENEW:
        if (nargs < 4)
            return kv_error(out, "usage: kv unlock|renew CLASS KEY TOKEN");
        operand = args[3];
        break;
    case KV_SEEN:
        operand = "1";
        break;
    }
    if (operand && strlen(operand) > KV_VALUE_MAX) {
        snprintf(msg, sizeof msg, "a value has at most %d bytes", KV_VALUE_MAX);
        return kv_error(out, msg);
    }

    kv_job *j = fg_calloc(1, sizeof *j);
    key_buf k;
    s->st.kv_ops++;
    j->srv = s;
    j->out = out;
    j->done = done;
    j->arg = arg;
    j->op = op;
    if (op == KV_LOCK) {
        new_token(j->token);
        operand = j->token;
    }
    kv_key(&k, (uint8_t)cls, args[2], strlen(args[2]));
    batch_reset(&j->batch, server_now(s));
    store_op *sop = batch_add(&j->batch, (enum store_op_type)types[op], k.bytes, k.len);
    if (operand)
        batch_add_key2(&j->batch, sop, (const unsigned char *)operand, strlen(operand));
    sop = &j->batch.ops[0]; /* batch_add_key2 may have moved the arena, not the ops */
    sop->ttl_ms = ttl;
    sop->num = by;
    const char *nx = req_get_name(req, "nx", &len);
    if (op == KV_SEEN || (len && !strcasecmp(nx, "yes")))
        sop->flags |= STORE_NX;
    if (store_submit(s->store, &j->batch, job_done, j) == STORE_PENDING)
        return CONTROL_PENDING;
    job_reply(j);
    batch_release(&j->batch);
    fg_free(j);
    return CONTROL_DONE;
}
