/*
 * explain - floodgatectl explain: a query evaluated and counted nowhere
 *
 *     floodgatectl explain smtp:RCPT client_address=192.0.2.7 sender=joe@example.org
 *
 * The control socket gets command=explain with the query's attributes
 * (request=, protocol_state=, ... as a policy client would send them). Every
 * rule is shown in file order: whether its `on` selects the request, whether
 * its `if` held (the first condition that did not is named) and whether its
 * `unless` vetoed it, its counter for this request (count, limit, window,
 * retry_after, each window of a limit with several rates), whether it is a
 * dry run, and what it would do; then the rule that would decide and its
 * action. The counters are read with STORE_PEEK in a batch that does not
 * commit (on Redis: the script's peek path, sent to a replica when
 * read_from_replicas is set), and no statistics move: the rules' matched
 * and decided, the engine's and the metrics' counters stay as they were.
 *
 * Reply lines (a table in floodgatectl, an object with --json):
 *     rule.NAME.on=yes|no  rule.NAME.conditions=hold|"if ATTR failed"|"unless held"|"regex error (on_error X)"
 *     rule.NAME.count/limit/per/retry_after/rates  rule.NAME.dry_run=yes  rule.NAME.would=...
 *     ban=none|NET ("192.0.2.0/24", "user:NAME")  ban.reason=...  decides=NAME|none  action=...  retry_after=N
 *
 * BUGS
 *     A greylist rule's step is not run (it would change the triplet's
 *     state): it is shown as "greylist (not evaluated)" and never decides
 *     in the explanation. A banned client's rules are still shown (the engine
 *     would not run them: the ban answers first, decides=(ban)).
 *
 * SECURITY
 *     Only the control socket (owner-only, peers checked) reaches this.
 *     Values are printed as sent, one per line: a value with a newline
 *     never reaches here (the protocol splits lines).
 */
#include "explain.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ban.h"
#include "bansrv.h"
#include "engine.h"
#include "keys.h"

typedef struct explain_job {
    server *srv;
    ruleset *rs;             /* held while the store answers */
    fg_request *req;         /* the slot's request: kept until done is called */
    store_batch batch;       /* the peeks */
    long *rule_op;           /* the peek of each rule, -1 none */
    char (*why)[96];         /* each rule's conditions, as shown */
    unsigned char *holds;    /* each rule applies and its conditions hold */
    struct evbuffer *out;
    control_done_fn done;
    void *arg;
} explain_job;

/* conditions - does a rule's if hold and its unless not veto it? why says which condition decided */
static int conditions(const rule *r, fg_request *req, cond_regex *rx, char *why, size_t size)
{
    for (unsigned i = 0; i < r->ifs.n; i++) {
        int m = cond_match(&r->ifs.conds[i], req, rx);
        if (m == COND_TRUE)
            continue;
        if (m == COND_ERROR)
            snprintf(why, size, "if %s: regex error (on_error %s)", req_attr_name(r->ifs.conds[i].attr),
                     r->on_error == ON_ERROR_ALLOW ? "allow" : "tempfail or store.on_error");
        else
            snprintf(why, size, "if %s failed", req_attr_name(r->ifs.conds[i].attr));
        return 0;
    }
    if (r->unless.n && cond_set_match(&r->unless, req, rx) == COND_TRUE) {
        snprintf(why, size, "unless held");
        return 0;
    }
    snprintf(why, size, "hold");
    return 1;
}

/* secs - ms rounded up to seconds */
static unsigned long long secs(uint64_t ms)
{
    return (unsigned long long)((ms + 999) / 1000);
}

/* reply - the explanation, once the peeks are answered */
static void reply(explain_job *j)
{
    struct evbuffer *out = j->out;
    ruleset *rs = j->rs;
    long decides = -1;
    unsigned which = 0;
    uint64_t retry_ms = 0;

    if (j->batch.status < 0) {
        evbuffer_add_printf(out, "status=error\nerror=the store did not answer\n\n");
        return;
    }
    evbuffer_add_printf(out, "status=ok\nrequest=%s\n", req_kind_name(j->req->kind));
    /* the client's ban status: bans are checked before any rule (DESIGN.md, Bans) */
    const ban_rec *b = engine_ban(&j->srv->eng, rs, j->req, server_now(j->srv));
    verdict bv;
    if (b)
        engine_ban_verdict(&j->srv->eng, rs, j->req, b, server_now(j->srv), &bv);
    if (b) {
        /* a client's username, a fleet peer's reason: control bytes as \xNN (they would cut the reply) */
        char *key = b->family ? bansrv_printable(b->net, strlen(b->net))
                              : bansrv_printable(b->name, b->namelen ? b->namelen : strlen(b->name));
        char *why = bansrv_printable(b->reason ? b->reason : "", b->reason ? strlen(b->reason) : 0);
        evbuffer_add_printf(out, "ban=%s%s\nban.reason=%s\n", b->family ? "" : "user:", key, why);
        fg_free(key);
        fg_free(why);
    } else {
        evbuffer_add_printf(out, "ban=none\n");
    }
    for (unsigned i = 0; i < rs->n; i++) {
        const rule *r = &rs->rules[i];
        const char *n = r->name;
        int on = rule_applies(r, j->req);
        evbuffer_add_printf(out, "rule.%s.on=%s\n", n, on ? "yes" : "no");
        if (!on)
            continue;
        evbuffer_add_printf(out, "rule.%s.conditions=%s\n", n, j->why[i]);
        if (r->dry_run)
            evbuffer_add_printf(out, "rule.%s.dry_run=yes\n", n);
        if (!j->holds[i])
            continue;
        const char *would;
        int refuses = 0;
        if (j->rule_op[i] >= 0) {
            const store_op *op = &j->batch.ops[j->rule_op[i]];
            unsigned w = r->nrates ? op->which : 0;
            evbuffer_add_printf(out, "rule.%s.count=%llu\nrule.%s.limit=%u\nrule.%s.per=%s\nrule.%s.retry_after=%llu\n",
                                n, (unsigned long long)op->peek.total, n,
                                r->nrates ? r->rates[w].count : r->win.count, n,
                                r->nrates ? r->rate_per[w] : r->per_text, n, secs(op->peek.retry_ms));
            if (r->has_distinct)
                /* count is the distinct values in the window; this one passes without counting when seen */
                evbuffer_add_printf(out, "rule.%s.distinct=%s\nrule.%s.seen=%s\n", n,
                                    req_attr_name(r->distinct.attr), n, op->seen ? "yes" : "no");
            if (r->nrates) {
                evbuffer_add_printf(out, "rule.%s.rates=", n);
                for (unsigned k = 0; k < r->nrates; k++)
                    evbuffer_add_printf(out, "%s%s:%llu/%u:%llu", k ? "," : "", r->rate_per[k],
                                        (unsigned long long)op->wpeek[k].total, r->rates[k].count,
                                        secs(op->wpeek[k].retry_ms));
                evbuffer_add_printf(out, "\n");
            }
            refuses = !op->admitted;
            would = refuses ? "refuse (the limit is full)" : "count (the limit admits it)";
            if (r->has_ban) {
                /* a ban rule never decides: past its count the key is banned, from the next request on */
                would = refuses ? "ban (past its count)" : "count toward a ban";
                refuses = 0;
            }
            if (refuses && decides < 0 && !r->dry_run) {
                which = w;
                retry_ms = op->peek.retry_ms;
            }
        } else if (r->has_greylist) {
            would = "greylist (not evaluated)";
        } else {
            would = "decide";
            refuses = 1;
        }
        evbuffer_add_printf(out, "rule.%s.would=%s%s\n", n, would, r->dry_run ? " (dry run: logged only)" : "");
        if (refuses && decides < 0 && !r->dry_run)
            decides = i;
    }
    if (b) {
        /* the ban answers before any rule */
        evbuffer_add_printf(out, "decides=(ban)\naction=%s\n", bv.action);
        if (bv.retry_s)
            evbuffer_add_printf(out, "retry_after=%llu\n", (unsigned long long)bv.retry_s);
        evbuffer_add_printf(out, "\n");
        return;
    }
    if (decides < 0) {
        evbuffer_add_printf(out, "decides=none\naction=DUNNO\n\n");
        return;
    }
    char action[ACTION_MAX + 1];
    const rule *r = &rs->rules[decides];
    uint64_t retry_s = j->rule_op[decides] >= 0 ? (retry_ms ? secs(retry_ms) : 1) : 0;
    engine_action(r, j->req, retry_s, which, action, sizeof action);
    evbuffer_add_printf(out, "decides=%s\naction=%s\n", r->name, action);
    if (retry_s)
        evbuffer_add_printf(out, "retry_after=%llu\n", (unsigned long long)retry_s);
    evbuffer_add_printf(out, "\n");
}

/* job_free - release a job */
static void job_free(explain_job *j)
{
    batch_release(&j->batch);
    ruleset_unref(j->rs);
    fg_free(j->rule_op);
    fg_free(j->why);
    fg_free(j->holds);
    fg_free(j);
}

/* on_store - a networked store answered the peeks */
static void on_store(store_batch *b, void *arg)
{
    explain_job *j = arg;
    (void)b;
    reply(j);
    j->done(j->arg);
    job_free(j);
}

/* explain_exec - evaluate the request without counting it anywhere */
int explain_exec(server *s, fg_request *req, struct evbuffer *out, control_done_fn done, void *arg)
{
    explain_job *j;
    ruleset *rs = s->rules;
    key_buf k;

    if (req->kind == REQ_NONE || req->kind == REQ_UNKNOWN) {
        evbuffer_add_printf(out, "status=error\nerror=usage: explain KIND[:SUB] NAME=VALUE... (a known request kind)\n\n");
        return CONTROL_DONE;
    }
    j = fg_calloc(1, sizeof *j);
    j->srv = s;
    j->rs = ruleset_ref(rs);
    j->req = req;
    j->out = out;
    j->done = done;
    j->arg = arg;
    j->rule_op = fg_calloc(rs->n ? rs->n : 1, sizeof *j->rule_op);
    j->why = fg_calloc(rs->n ? rs->n : 1, sizeof *j->why);
    j->holds = fg_calloc(rs->n ? rs->n : 1, 1);
    req->geo = rs->geo;
    batch_reset(&j->batch, server_now(s));
    j->batch.commit = 0;
    for (unsigned i = 0; i < rs->n; i++) {
        rule *r = &rs->rules[i];
        j->rule_op[i] = -1;
        if (!rule_applies(r, req))
            continue;
        j->holds[i] = (unsigned char)conditions(r, req, rs->rx, j->why[i], sizeof j->why[i]);
        if (!j->holds[i] || (!r->has_limit && !r->has_ban))
            continue;
        engine_key(r, req, &k);
        store_op *op = batch_add(&j->batch, STORE_PEEK, k.bytes, k.len);
        engine_limit_op(r, op);
        if (r->has_distinct)
            op->fp = engine_distinct_fp(&s->eng, r, req); /* is this value already counted? */
        j->rule_op[i] = (long)j->batch.nops - 1;
    }
    if (j->batch.nops && store_submit(s->store, &j->batch, on_store, j) == STORE_PENDING)
        return CONTROL_PENDING;
    reply(j);
    job_free(j);
    return CONTROL_DONE;
}
