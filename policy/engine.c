/*
 * engine - from a request to a verdict (see engine.h)
 */
#include "engine.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "alloc.h"
#include "ban.h"
#include "banrule.h"

/* key_attr_folded - append an attribute as a lower-cased string part: mail addresses and domains are
 * counted without regard to case, at any length (a long value is folded, then hashed) */
static void key_attr_folded(int attr, fg_request *req, key_buf *k)
{
    size_t len;
    const char *v = req_get(req, attr, &len);

    key_part_lower(k, KEY_PART_STRING, v, len);
}

/* key_net - append an address cut to prefix bits: family, prefix, bytes (an unparsable address: family 0) */
static void key_net(key_buf *k, const fg_addr *a, unsigned v4, unsigned v6)
{
    unsigned char part[18] = {0};
    fg_addr m;

    if (!a) {
        key_part(k, KEY_PART_ADDRESS, part, 2);
        return;
    }
    m = *a;
    unsigned prefix = m.family == 4 ? v4 : v6;
    if (prefix > addr_bits(&m))
        prefix = addr_bits(&m);
    addr_mask(&m, prefix);
    part[0] = m.family;
    part[1] = (unsigned char)prefix;
    memcpy(part + 2, m.bytes, m.family == 4 ? 4 : 16);
    key_part(k, KEY_PART_ADDRESS, part, m.family == 4 ? 6 : 18);
}

/* key_attr - append one key part for a request */
static void key_attr(const keyspec *ks, fg_request *req, key_buf *k)
{
    size_t len;
    const char *v = req_get(req, ks->attr, &len);

    if (ks->attr == ATTR_CLIENT_ADDRESS || ks->attr == ATTR_SERVER_ADDRESS) {
        fg_addr a;
        const fg_addr *ap = NULL;
        if (ks->attr == ATTR_CLIENT_ADDRESS)
            ap = req_client_addr(req);
        else if (addr_parse(v, len, &a) == 0)
            ap = &a;
        if (ap) {
            key_net(k, ap, ks->prefix ? ks->v4 : 32, ks->prefix ? ks->v6 : 128);
            return;
        }
    }
    key_attr_folded(ks->attr, req, k);
}

/* engine_key - build the store key of a rule for a request */
void engine_key(const rule *r, fg_request *req, key_buf *k)
{
    key_begin(k, (enum key_class)rule_class(r, req), r->name, strlen(r->name));
    for (unsigned i = 0; i < r->nkeys; i++)
        key_attr(&r->keys[i], req, k);
}

typedef struct list_ctx {
    const rule *r;      /* the rule whose action is expanded */
    fg_request *req;
} list_ctx;

/* list_value_of - ${list:NAME}: the map value the rule's conditions found */
static const char *list_value_of(const void *list, void *arg)
{
    const list_ctx *lc = arg;
    const char *v = cond_list_value(&lc->r->ifs, list, lc->req);
    return v ? v : cond_list_value(&lc->r->unless, list, lc->req);
}

/* engine_action - the action text of rule r for the request; which = the window that decides (rates) */
void engine_action(const rule *r, fg_request *req, uint64_t retry_s, unsigned which, char *out, size_t size)
{
    list_ctx lc = {r, req};
    int rated = r->nrates && which < r->nrates;
    action_ctx ctx = {r->name, retry_s, rated ? r->rates[which].count : r->win.count,
                      rated ? r->rate_per[which] : r->per_text, list_value_of, &lc, NULL, NULL};

    action_expand(&r->action, req, &ctx, out, size);
}

/* set_verdict - the action of rule r for the request */
static void set_verdict_w(eval *ev, const rule *r, uint64_t retry_s, unsigned which)
{
    engine_action(r, ev->req, retry_s, which, ev->v.action, sizeof ev->v.action);
    snprintf(ev->v.reason, sizeof ev->v.reason, "%s", r->name);
    ev->v.retry_s = retry_s;
    ev->v.tarpit_s = r->action.tarpit_s;
    ev->v.kind = r->action.tarpit_s ? VERDICT_TARPIT : r->action.denies ? VERDICT_REJECT : VERDICT_ACCEPT;
}

/* set_verdict - the action of rule r (one window, or none) for the request */
static void set_verdict(eval *ev, const rule *r, uint64_t retry_s)
{
    set_verdict_w(ev, r, retry_s, 0);
}

/* retry_seconds - a refusing step's retry in whole seconds, at least 1 */
static uint64_t retry_seconds(uint64_t ms)
{
    return ms ? (ms + 999) / 1000 : 1;
}

/* dry_would - a dry-run rule would have decided: count it, tell the hook what it would have answered */
static void dry_would(eval *ev, rule *r, uint64_t retry_s, unsigned which)
{
    char action[ACTION_MAX + 1];

    r->dry_would++;
    if (!ev->eng->dry)
        return;
    engine_action(r, ev->req, retry_s, which, action, sizeof action);
    ev->eng->dry(ev->req, r->name, action, retry_s, ev->eng->dry_arg);
}

/* dry_results - the dry-run rules before the deciding rule (index upto; all when none decides) that would
 * have decided: windows and greylist steps that would have refused, the first dry action alone */
static void dry_results(eval *ev, unsigned long upto)
{
    store_batch *b = &ev->batch;
    rule *rules = ev->rs->rules;
    size_t evaluated = b->denied >= 0 ? (size_t)b->denied : b->nops;

    for (size_t i = 0; b->status >= 0 && i < evaluated; i++) {
        store_op *op = &b->ops[i];
        if (!(op->flags & STORE_DRY) || op->admitted || ev->op_rule[i] >= upto)
            continue;
        dry_would(ev, &rules[ev->op_rule[i]], retry_seconds(op->peek.retry_ms), op->which);
    }
    if (ev->dry_decider >= 0 && (unsigned long)ev->dry_decider < upto)
        dry_would(ev, &rules[ev->dry_decider], 0, 0);
}

/* verdict_kind_name - the label of a verdict kind */
const char *verdict_kind_name(unsigned kind)
{
    static const char *const names[VERDICT__COUNT] = {"none", "accept", "tarpit", "reject", "limit", "greylist",
                                                      "store_error", "rule_error", "ban"};
    return kind < VERDICT__COUNT ? names[kind] : "?";
}

/* rule_on_error - a rule's on_error, store.on_error when it has none */
static int rule_on_error(const engine *e, const rule *r)
{
    return r->on_error == RULE_ON_ERROR_STORE ? e->on_error : r->on_error;
}

/* store_tempfails - the store failed: does any rule whose limit was asked say tempfail? */
static int store_tempfails(const eval *ev)
{
    for (size_t i = 0; i < ev->batch.nops; i++)
        if (rule_on_error(ev->eng, &ev->rs->rules[ev->op_rule[i]]) == ON_ERROR_TEMPFAIL)
            return 1;
    return 0;
}

/* ban_hit - ban rule r's window refused: ban its key (a dry-run rule: say it would) */
static void ban_hit(eval *ev, rule *r)
{
    engine *e = ev->eng;
    uint64_t now_s = (e->wall ? e->wall(e->wall_arg, ev->side.now_ms) : ev->side.now_ms) / 1000;
    const fg_addr *a = req_client_addr(ev->req);
    ban_rec made;

    /* a trusted client address is never banned (a username it reports may be) */
    if (!e->bans || (r->keys[0].attr == ATTR_CLIENT_ADDRESS && a && ruleset_trusted(ev->rs, a)))
        return;
    if (r->dry_run) {
        if (banrule_key(ev->rs, r, ev->req, &made) < 0 || ban_find(e->bans, &made, now_s))
            return;
        r->banned++;
        if (e->dry) {
            char action[ACTION_MAX + 1];
            snprintf(action, sizeof action, "BAN %s", made.net);
            e->dry(ev->req, r->name, action, 0, e->dry_arg);
        }
        return;
    }
    int rc = banrule_ban(e->bans, ev->rs, r, ev->req, now_s, &made);
    if (rc == 1) {
        r->banned++;
        e->stats.bans_made++;
    } else if (rc == BAN_FULL) {
        uint64_t n = ban_full_bans(e->bans); /* bans only: a refused ban's history entry is refused too */
        if (e->log && (n & (n - 1)) == 0) { /* the first, then at powers of two: a flood writes a few lines */
            char msg[256]; /* a client's username in it: the log hook escapes (log.h) */
            snprintf(msg, sizeof msg, "bans: the index is full (bans.max = %zu): rule %s did not ban %s%s "
                     "(%llu refused so far)", ban_max(e->bans), r->name, made.family ? "" : "user:", made.net,
                     (unsigned long long)n);
            e->log(msg, e->log_arg);
        }
    }
}

/* side_results - ban rules whose window refused ban their key */
static void side_results(eval *ev)
{
    store_batch *b = &ev->side;

    for (size_t i = 0; b->status >= 0 && i < b->nops; i++) {
        rule *r = &ev->rs->rules[ev->side_rule[i]];
        if (r->has_ban && b->ops[i].type == STORE_WINDOW && !b->ops[i].admitted)
            ban_hit(ev, r);
    }
}

/* no_decision - the answer when no rule decides: DUNNO, but OK to a report (a report asks nothing: issue 8
 * answers every event "action=OK") */
static void no_decision(eval *ev)
{
    if (ev->req->kind == REQ_REPORT)
        memcpy(ev->v.action, "OK", sizeof "OK");
    else
        memcpy(ev->v.action, "DUNNO", sizeof "DUNNO");
}

/* finish - turn the batch's answer into the verdict */
static void finish(eval *ev)
{
    engine *e = ev->eng;
    store_batch *b = &ev->batch;
    rule *rules = ev->rs->rules;

    for (size_t i = 0; b->status >= 0 && i < b->nops; i++)
        if (b->ops[i].type == STORE_GREYLIST && b->ops[i].grey_result && b->ops[i].grey_result <= GREY_AUTO)
            e->stats.grey[b->ops[i].grey_result]++;
    if (ev->failed >= 0) {
        /* a rule could not be evaluated and says tempfail: the store was not asked */
        snprintf(ev->v.action, sizeof ev->v.action, "%s", ENGINE_TEMPFAIL_ACTION);
        snprintf(ev->v.reason, sizeof ev->v.reason, "%s", rules[ev->failed].name);
        ev->v.refused = 1;
        ev->v.kind = VERDICT_RULE_ERROR;
    } else if (b->status < 0 && store_tempfails(ev)) {
        snprintf(ev->v.action, sizeof ev->v.action, "%s", ENGINE_TEMPFAIL_ACTION);
        ev->v.store_failed = 1;
        ev->v.refused = 1;
        ev->v.kind = VERDICT_STORE_ERROR;
        e->stats.store_errors++;
    } else if (b->status < 0) {
        /* every rule asked allows: none of them applies, the rule that ended the walk still decides */
        ev->v.store_failed = 1;
        e->stats.store_errors++;
        if (ev->decider >= 0) {
            rule *r = &rules[ev->decider];
            set_verdict(ev, r, 0);
            r->decided++;
            ev->v.refused = r->action.denies;
        } else {
            no_decision(ev);
            ev->v.kind = VERDICT_STORE_ERROR;
        }
    } else if (b->denied >= 0) {
        rule *r = &rules[ev->op_rule[b->denied]];
        dry_results(ev, ev->op_rule[b->denied]);
        set_verdict_w(ev, r, retry_seconds(b->ops[b->denied].peek.retry_ms), b->ops[b->denied].which);
        r->decided++;
        if (b->ops[b->denied].type == STORE_GREYLIST) {
            e->stats.greylisted++;
            ev->v.kind = VERDICT_GREYLIST;
        } else {
            e->stats.limited++;
            if (ev->v.kind != VERDICT_TARPIT)
                ev->v.kind = VERDICT_LIMIT;
        }
        ev->v.refused = r->action.denies;
    } else if (ev->decider >= 0) {
        rule *r = &rules[ev->decider];
        dry_results(ev, (unsigned long)ev->decider);
        set_verdict(ev, r, 0);
        r->decided++;
        ev->v.refused = r->action.denies;
    } else {
        dry_results(ev, ev->rs->n);
        no_decision(ev);
    }
    e->stats.refused += (uint64_t)ev->v.refused;
    side_results(ev);
    ruleset_unref(ev->rs);
    ev->rs = NULL;
}

/* grey_exempt - clients that are never greylisted: logged in, trusted (loopback, the top-level trusted, the
 * rule's own), bounces if so set; COND_TRUE, COND_FALSE, or COND_ERROR when the rule's trusted failed */
static int grey_exempt(const rule *r, fg_request *req, const ruleset *rs)
{
    size_t len;
    cond_regex *rx = rs->rx;

    req_get(req, ATTR_SASL_USERNAME, &len);
    if (len)
        return 1;
    if (ruleset_trusted(rs, req_client_addr(req)))
        return 1;
    req_get(req, ATTR_SENDER, &len);
    if (!len && !r->grey.bounces)
        return 1;
    return r->grey.trusted.nalts ? cond_match(&r->grey.trusted, req, rx) : COND_FALSE;
}

/* rule_holds - does a rule that selects this request apply: if, unless, greylist exemptions?
 * COND_TRUE, COND_FALSE, or COND_ERROR when a regex stopped on a limit and nothing else decided */
static int rule_holds(const rule *r, fg_request *req, const ruleset *rs)
{
    cond_regex *rx = rs->rx;
    int ifs = cond_set_match(&r->ifs, req, rx), unless = COND_FALSE;

    if (ifs == COND_FALSE)
        return COND_FALSE;
    if (r->unless.n && (unless = cond_set_match(&r->unless, req, rx)) == COND_TRUE)
        return COND_FALSE;
    if (ifs == COND_ERROR || unless == COND_ERROR)
        return COND_ERROR;
    if (!r->has_greylist)
        return COND_TRUE;
    switch (grey_exempt(r, req, rs)) {
    case COND_TRUE: return COND_FALSE;
    case COND_ERROR: return COND_ERROR;
    default: return COND_TRUE;
    }
}

/* rule_failed - a rule could not be evaluated: count, log (once per rule per minute); 1 when it tempfails */
static int rule_failed(engine *e, rule *r, const cond_regex *rx, uint64_t now_ms)
{
    int on_error = rule_on_error(e, r);
    char msg[512], why[128];

    e->stats.regex_errors++;
    r->regex_errors++;
    if (now_ms < r->error_log_ms) {
        r->errors_unlogged++;
        return on_error == ON_ERROR_TEMPFAIL;
    }
    r->error_log_ms = now_ms + ENGINE_ERROR_LOG_MS;
    if (e->log) {
        pcre2_get_error_message(rx->error, (PCRE2_UCHAR *)why, sizeof why);
        snprintf(msg, sizeof msg, "rule \"%s\" (%s:%d): regex %s stopped: %s; on_error %s applied "
                 "(%llu more since the last report)", r->name, r->file, r->line,
                 rx->error_pattern ? rx->error_pattern : "?", why,
                 on_error == ON_ERROR_TEMPFAIL ? "tempfail" : "allow", (unsigned long long)r->errors_unlogged);
        e->log(msg, e->log_arg);
    }
    r->errors_unlogged = 0;
    return on_error == ON_ERROR_TEMPFAIL;
}

/* distinct_blake2b - the keyed BLAKE2b fingerprint of len bytes */
static uint64_t distinct_blake2b(const engine *e, const unsigned char *bytes, size_t len)
{
    unsigned char h[crypto_generichash_BYTES_MIN];
    uint64_t fp = 0;

    crypto_generichash(h, sizeof h, bytes, len, e && e->distinct_keyed ? e->distinct_key : NULL,
                       e && e->distinct_keyed ? ENGINE_DISTINCT_KEY_BYTES : 0);
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | h[i];
    return fp;
}

/* memo_slot - a value's slot in the fingerprint memo: its length, first and last 8 bytes mixed (a collision
 * costs a BLAKE2b, as without a memo, so a cheap hash that clients can aim at does no harm here) */
static inline size_t memo_slot(const unsigned char *bytes, size_t len)
{
    uint64_t a = 0, b = 0;
    size_t n = len < 8 ? len : 8;

    memcpy(&a, bytes, n);
    memcpy(&b, bytes + len - n, n);
    a = (a ^ len) * 0x9E3779B97F4A7C15ULL ^ b * 0xC2B2AE3D27D4EB4FULL;
    return (size_t)(a >> 40) % ENGINE_FP_MEMO;
}

/* engine_distinct_fp - the keyed BLAKE2b fingerprint of the request's limit.distinct value, remembered for the
 * values that come back */
uint64_t engine_distinct_fp(engine *e, const rule *r, fg_request *req)
{
    key_buf k;

    key_begin(&k, KEY_ACME, "", 0); /* a bare part: the canonical bytes of the value, typed */
    key_attr(&r->distinct, req, &k);
    if (!e || k.len > ENGINE_FP_MEMO_VALUE || !k.len)
        return distinct_blake2b(e, k.bytes, k.len);
    if (e->memo_keyed != e->distinct_keyed || memcmp(e->memo_key, e->distinct_key, sizeof e->memo_key)) {
        memset(e->memo, 0, sizeof e->memo);
        e->memo_keyed = e->distinct_keyed;
        memcpy(e->memo_key, e->distinct_key, sizeof e->memo_key);
    }
    engine_fp_memo *m = &e->memo[memo_slot(k.bytes, k.len)];
    if (m->len == k.len && !memcmp(m->value, k.bytes, k.len))
        return m->fp;
    m->fp = distinct_blake2b(e, k.bytes, k.len);
    m->len = (uint8_t)k.len;
    memcpy(m->value, k.bytes, k.len);
    return m->fp;
}

/* engine_limit_op - the windows of a rule's limit on a STORE_WINDOW or STORE_PEEK operation */
void engine_limit_op(const rule *r, store_op *op)
{
    op->win = r->win;
    if (r->has_distinct)
        op->flags |= STORE_DISTINCT;
    if (r->nrates) {
        op->nwin = (uint8_t)r->nrates;
        memcpy(op->wins, r->rates, r->nrates * sizeof *r->rates);
    }
}

/* add_greylist - the greylist step of rule r: triplet and client keys */
static store_op *add_greylist(eval *ev, const rule *r, fg_request *req)
{
    key_buf k;
    const fg_addr *a = req_client_addr(req);
    store_op *op;

    key_begin(&k, KEY_GREYLIST, r->name, strlen(r->name));
    key_part(&k, KEY_PART_TAG, "triplet", 7);
    key_net(&k, a, r->grey.net4, r->grey.net6);
    key_attr_folded(ATTR_SENDER, req, &k);
    key_attr_folded(ATTR_RECIPIENT, req, &k);
    op = batch_add(&ev->batch, STORE_GREYLIST, k.bytes, k.len);
    op->grey = r->grey.timing;
    key_begin(&k, KEY_GREYLIST, r->name, strlen(r->name));
    key_part(&k, KEY_PART_TAG, "client", 6);
    key_net(&k, a, r->grey.net4, r->grey.net6);
    batch_add_key2(&ev->batch, op, k.bytes, k.len);
    return op;
}

/* note_op - the rule index of a batch's last operation */
static void note_op(const store_batch *b, uint32_t **map, size_t *cap, uint32_t rule_index)
{
    if (b->nops > *cap) {
        *cap = b->ops_cap;
        *map = fg_realloc(*map, *cap * sizeof **map);
    }
    (*map)[b->nops - 1] = rule_index;
}

/* side_window - a ban rule's (or a raised event's rule's) window, in the side batch */
static void side_window(eval *ev, const rule *r, fg_request *req, uint32_t rule_index)
{
    key_buf k;
    store_op *op;

    engine_key(r, req, &k);
    if (!key_ok(&k))
        return; /* unreachable within the rule file's limits (keys.h) */
    op = batch_add(&ev->side, STORE_WINDOW, k.bytes, k.len);
    engine_limit_op(r, op);
    op->flags |= STORE_DRY;
    note_op(&ev->side, &ev->side_rule, &ev->side_rule_cap, rule_index);
}

/* raise_event - the deciding rule raised `event`: the report:EVENT rules count for this request too;
 * they decide nothing and raise nothing further */
static void raise_event(eval *ev, ruleset *rs, fg_request *req, const char *event, uint64_t now_ms)
{
    enum req_kind kind = req->kind;
    const char *val = req->val[ATTR_EVENT];
    uint32_t vlen = req->vlen[ATTR_EVENT];

    ev->eng->stats.events_raised++;
    req->kind = REQ_REPORT;
    req->val[ATTR_EVENT] = event;
    req->vlen[ATTR_EVENT] = (uint32_t)strlen(event);
    for (unsigned i = 0; i < rs->n; i++) {
        rule *r = &rs->rules[i];
        if ((!r->has_limit && !r->has_ban) || !rule_applies(r, req))
            continue;
        int holds = rule_holds(r, req, rs);
        if (holds == COND_ERROR)
            rule_failed(ev->eng, r, rs->rx, now_ms); /* counted and logged; the rule does not apply */
        if (holds != COND_TRUE)
            continue;
        r->matched++;
        side_window(ev, r, req, i);
    }
    req->kind = kind;
    req->val[ATTR_EVENT] = val;
    req->vlen[ATTR_EVENT] = vlen;
}

/* store_done - a networked store answered one of the request's batches */
static void store_done(store_batch *b, void *arg)
{
    eval *ev = arg;
    (void)b;
    if (--ev->pending > 0)
        return;
    finish(ev);
    ev->done(ev, ev->arg);
}

/* wall_s - wall-clock seconds at daemon time now_ms */
static uint64_t wall_s(const engine *e, uint64_t now_ms)
{
    return (e->wall ? e->wall(e->wall_arg, now_ms) : now_ms) / 1000;
}

/* engine_ban - the ban in force on the request's client address or username, unless it is trusted */
const ban_rec *engine_ban(engine *e, ruleset *rs, fg_request *req, uint64_t now_ms)
{
    static const int users[] = {ATTR_USERNAME, ATTR_SASL_USERNAME};
    const fg_addr *a;
    const ban_rec *b = NULL;
    uint64_t now;

    if (!e->bans || req->kind == REQ_REPORT || !ban_count(e->bans))
        return NULL;
    a = req_client_addr(req);
    if (a && ruleset_trusted(rs, a))
        return NULL;
    now = wall_s(e, now_ms);
    if (a)
        b = ban_match(e->bans, a, now);
    for (unsigned i = 0; !b && i < sizeof users / sizeof users[0]; i++) {
        size_t len;
        const char *name = req_get(req, users[i], &len);
        if (len)
            b = ban_match_user(e->bans, name, len, now);
    }
    return b;
}

/* engine_ban_verdict - bans.action for a banned client: $reason, $expires, retry_after and reason */
void engine_ban_verdict(const engine *e, const ruleset *rs, const fg_request *req, const ban_rec *b,
                        uint64_t now_ms, verdict *v)
{
    static action_tmpl dflt;
    const action_tmpl *t = &rs->ban_action;
    const char *why, *reason = b->reason && *b->reason ? b->reason : b->rule ? b->rule : "banned";
    char expires[32] = "never";
    uint64_t now = wall_s(e, now_ms);
    size_t i;

    if (!t->source) {
        if (!dflt.source && action_parse(CONF_BANS_ACTION_DEFAULT, &dflt, &why) < 0)
            abort(); /* the default is a constant that parses */
        t = &dflt;
    }
    v->retry_s = 0;
    if (b->expires) {
        time_t end = (time_t)b->expires;
        struct tm tm;
        if (gmtime_r(&end, &tm)) /* the index holds no date past BAN_WALL_MAX: never a NULL to strftime */
            strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
        v->retry_s = b->expires > now ? b->expires - now : 1;
    }
    action_ctx ctx = {.rule = b->rule ? b->rule : "ban", .retry_s = v->retry_s, .reason = reason, .expires = expires};
    action_expand(t, req, &ctx, v->action, sizeof v->action);
    /* the reply's reason= line: the ban's reason, one line, cut to fit */
    for (i = 0; reason[i] && i + 1 < sizeof v->reason; i++)
        v->reason[i] = (unsigned char)reason[i] < 0x20 || reason[i] == 0x7f ? '?' : reason[i];
    v->reason[i] = '\0';
    v->refused = t->denies;
    v->tarpit_s = t->tarpit_s;
    v->kind = VERDICT_BAN;
}

/* engine_eval - decide a request */
int engine_eval(engine *e, eval *ev, ruleset *rs, fg_request *req, uint64_t now_ms, eval_done_fn done, void *arg)
{
    key_buf k;

    ev->eng = e;
    ev->rs = ruleset_ref(rs);
    ev->req = req;
    req->geo = rs->geo;
    ev->decider = -1;
    ev->failed = -1;
    ev->dry_decider = -1;
    ev->done = done;
    ev->arg = arg;
    ev->v.action[0] = '\0';
    ev->v.reason[0] = '\0';
    ev->v.retry_s = 0;
    ev->v.store_failed = 0;
    ev->v.refused = 0;
    ev->v.tarpit_s = 0;
    ev->v.kind = VERDICT_NONE;
    batch_reset(&ev->batch, now_ms);
    batch_reset(&ev->side, now_ms);
    ev->pending = 0;
    e->stats.requests++;

    const ban_rec *b = engine_ban(e, rs, req, now_ms);
    if (b) {
        engine_ban_verdict(e, rs, req, b, now_ms, &ev->v);
        e->stats.ban_refused++;
        e->stats.refused += (uint64_t)ev->v.refused;
        ruleset_unref(ev->rs);
        ev->rs = NULL;
        return ENGINE_DONE;
    }

    for (unsigned i = 0; i < rs->n; i++) {
        rule *r = &rs->rules[i];
        if (!rule_applies(r, req))
            continue;
        int holds = rule_holds(r, req, rs);
        if (holds == COND_ERROR && rule_failed(e, r, rs->rx, now_ms)) {
            ev->failed = i;
            break;
        }
        if (holds != COND_TRUE)
            continue;
        r->matched++;
        if (r->has_ban) {
            side_window(ev, r, req, i);
            continue;
        }
        if (!r->has_limit && !r->has_greylist) {
            if (r->dry_run) {
                if (ev->dry_decider < 0)
                    ev->dry_decider = i;
                continue;
            }
            ev->decider = i;
            break;
        }
        store_op *op;
        if (r->has_greylist) {
            op = add_greylist(ev, r, req);
        } else {
            engine_key(r, req, &k);
            if (!key_ok(&k)) {
                /* unreachable within the rule file's limits (keys.h); never a cut key that merges counters */
                if (rule_on_error(e, r) == ON_ERROR_TEMPFAIL) {
                    ev->failed = i;
                    break;
                }
                continue;
            }
            op = batch_add(&ev->batch, STORE_WINDOW, k.bytes, k.len);
            engine_limit_op(r, op);
            if (r->has_distinct)
                op->fp = engine_distinct_fp(e, r, req);
        }
        if (r->dry_run)
            op->flags |= STORE_DRY;
        note_op(&ev->batch, &ev->op_rule, &ev->op_rule_cap, i);
    }
    if (ev->failed < 0 && ev->decider >= 0 && rs->rules[ev->decider].event)
        raise_event(ev, rs, req, rs->rules[ev->decider].event, now_ms);
    if ((ev->batch.nops == 0 && ev->side.nops == 0) || ev->failed >= 0) {
        ev->side.nops = 0; /* a rule that failed ends the walk: nothing is counted, nothing banned */
        finish(ev);
        return ENGINE_DONE;
    }
    ev->batch.commit = ev->decider < 0 || !rs->rules[ev->decider].action.denies;
    /* both are sent before either can answer: a networked store calls back from the loop only */
    if (ev->side.nops && store_submit(e->store, &ev->side, store_done, ev) == STORE_PENDING)
        ev->pending++;
    if (ev->batch.nops && store_submit(e->store, &ev->batch, store_done, ev) == STORE_PENDING)
        ev->pending++;
    if (ev->pending)
        return ENGINE_PENDING;
    finish(ev);
    return ENGINE_DONE;
}

/* eval_release - free an evaluation's buffers */
void eval_release(eval *ev)
{
    batch_release(&ev->batch);
    batch_release(&ev->side);
    fg_free(ev->op_rule);
    fg_free(ev->side_rule);
    ev->side_rule = NULL;
    ev->side_rule_cap = 0;
    ruleset_unref(ev->rs);
    ev->op_rule = NULL;
    ev->op_rule_cap = 0;
    ev->rs = NULL;
}
