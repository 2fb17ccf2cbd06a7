/*
 * control - the admin commands of the control socket (see control.h)
 */
#include "control.h"
#include "explain.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ban.h"
#include "bandump.h"
#include "banpub.h"
#include "bansrv.h"
#include "engine.h"
#include "keys.h"
#include "kvcmd.h"
#include "fleet.h"
#include "list.h"
#include "metrics.h"
#include "watcher.h"

#define CONTROL_ARGS_MAX 16 /* arguments of one command */
#define CONTROL_CLOCK_STEP_MAX (100ULL * 366 * 86400) /* debug clock: seconds a step at most */

typedef struct ctl_job {
    server *srv;
    ruleset *rs;            /* held while the store works */
    const rule *r;
    store_batch batch;
    struct evbuffer *out;
    control_done_fn done;
    void *arg;
    int reset;              /* reset, else counter */
    char key_text[256];     /* printable key */
} ctl_job;

/* reply_error - status=error with a message */
static void reply_error(struct evbuffer *out, const char *msg)
{
    evbuffer_add_printf(out, "status=error\nmessage=%s\n\n", msg);
}

/* get_args - arg1, arg2, ... in order; returns how many */
static int get_args(fg_request *req, const char **args)
{
    char name[16];
    size_t len;
    int n = 0;

    while (n < CONTROL_ARGS_MAX) {
        snprintf(name, sizeof name, "arg%d", n + 1);
        const char *v = req_get_name(req, name, &len);
        if (!len)
            break;
        args[n++] = v;
    }
    return n;
}

/* control_peer_allowed - root, ourselves, or the admin group (resolved at load: no lookup here) */
int control_peer_allowed(const conf_listen *l, uid_t self, uid_t uid, gid_t gid)
{
    return uid == 0 || uid == self || (l->control_group && gid == l->control_gid);
}

/* cmd_stats - counters of every layer: the same registry as GET /metrics */
static void cmd_stats(server *s, struct evbuffer *out)
{
    evbuffer_add_printf(out, "status=ok\n");
    metrics_stats(s, out);
    evbuffer_add(out, "\n", 1);
}

/* cmd_reload - load the rules again */
static void cmd_reload(server *s, struct evbuffer *out)
{
    conf_errors errs = {0};

    if (server_reload(s, &errs) == 0) {
        evbuffer_add_printf(out, "status=ok\nrules=%u\nlists=%u\n\n", s->rules->n, s->rules->lists->n);
        return;
    }
    evbuffer_add_printf(out, "status=error\nmessage=the configuration has errors; the old rules stay in force\n");
    for (unsigned i = 0; i < errs.n; i++)
        evbuffer_add_printf(out, "error[]=%s\n", errs.msgs[i]);
    evbuffer_add(out, "\n", 1);
    conf_errors_free(&errs);
}

/* cmd_lists - the lists and their sizes */
static void cmd_lists(server *s, struct evbuffer *out)
{
    const listset *ls = s->rules->lists;

    evbuffer_add_printf(out, "status=ok\n");
    for (unsigned i = 0; i < ls->n; i++)
        evbuffer_add_printf(out, "%s=%zu\n", list_name(ls->lists[i]), list_count(ls->lists[i]));
    evbuffer_add(out, "\n", 1);
}

/* cmd_list - list NAME show|add|del ... */
static void cmd_list(server *s, const char **args, int nargs, struct evbuffer *out)
{
    char err[512], line[1024];
    fg_list *l;

    if (nargs < 2) {
        reply_error(out, "usage: list NAME show|add|del [ENTRY]");
        return;
    }
    l = listset_find(s->rules->lists, args[0]);
    if (!l) {
        snprintf(err, sizeof err, "no list named %s", args[0]);
        reply_error(out, err);
        return;
    }
    if (!strcmp(args[1], "show")) {
        evbuffer_add_printf(out, "status=ok\nlist=%s\ntype=%s\ncount=%zu\n", args[0], list_is_map(l) ? "map" : "set",
                            list_count(l));
        for (size_t i = 0; i < list_count(l); i++) {
            const list_entry *e = list_entry_at(l, i);
            evbuffer_add_printf(out, "entry[]=%s%s%s\n", list_entry_word(l, e), e->value ? " " : "",
                                e->value ? e->value : "");
        }
        evbuffer_add(out, "\n", 1);
        return;
    }
    if ((strcmp(args[1], "add") && strcmp(args[1], "del")) || nargs < 3) {
        reply_error(out, "usage: list NAME show|add|del [ENTRY]");
        return;
    }
    /* the entry: the remaining arguments joined by a space (a map's "key value..."); one that does not fit
     * is refused, since a cut entry would be saved and matched as something the admin never wrote */
    size_t at = 0;
    line[0] = '\0';
    for (int i = 2; i < nargs && at < sizeof line; i++)
        at += (size_t)snprintf(line + at, sizeof line - at, "%s%s", i > 2 ? " " : "", args[i]);
    if (at >= sizeof line) {
        snprintf(err, sizeof err, "an entry has at most %zu bytes", sizeof line - 1);
        reply_error(out, err);
        return;
    }
    int add = !strcmp(args[1], "add"), rc;
    if (list_is_stored(l))
        rc = fleet_list_edit(s->fleet, l, add, add ? line : args[2], err, sizeof err);
    else
        rc = add ? list_add(l, line, err, sizeof err) : list_del(l, args[2], err, sizeof err);
    if (rc < 0) {
        reply_error(out, err);
        return;
    }
    log_info("list %s: %s %s (by floodgatectl)", args[0], args[1], line);
    evbuffer_add_printf(out, "status=ok\nlist=%s\ncount=%zu\n\n", args[0], list_count(l));
}

/* job_reply - the answer of counter/reset, once the store has answered */
static void job_reply(ctl_job *j)
{
    store_op *op = &j->batch.ops[0];

    if (j->batch.status < 0) {
        reply_error(j->out, "the store did not answer");
    } else if (j->reset) {
        evbuffer_add_printf(j->out, "status=ok\nrule=%s\nkey=%s\nreset=%s\n\n", j->r->name, j->key_text,
                            op->admitted ? "yes" : "no (no such counter)");
    } else {
        /* several rates: the window that decides (the refusing one with the latest retry, else the first),
         * then every window as per:count/limit:retry_after */
        unsigned w = j->r->nrates ? op->which : 0;
        evbuffer_add_printf(j->out, "status=ok\nrule=%s\nkey=%s\ncount=%llu\nlimit=%u\nper=%s\nretry_after=%llu\n",
                            j->r->name, j->key_text, (unsigned long long)op->peek.total,
                            j->r->nrates ? j->r->rates[w].count : j->r->win.count,
                            j->r->nrates ? j->r->rate_per[w] : j->r->per_text,
                            (unsigned long long)((op->peek.retry_ms + 999) / 1000));
        if (j->r->nrates) {
            evbuffer_add_printf(j->out, "rates=");
            for (unsigned i = 0; i < j->r->nrates; i++)
                evbuffer_add_printf(j->out, "%s%s:%llu/%u:%llu", i ? "," : "", j->r->rate_per[i],
                                    (unsigned long long)op->wpeek[i].total, j->r->rates[i].count,
                                    (unsigned long long)((op->wpeek[i].retry_ms + 999) / 1000));
            evbuffer_add_printf(j->out, "\n");
        }
        evbuffer_add_printf(j->out, "\n");
    }
}

/* job_free - release a job */
static void job_free(ctl_job *j)
{
    batch_release(&j->batch);
    ruleset_unref(j->rs);
    fg_free(j);
}

/* job_done - a networked store answered */
static void job_done(store_batch *b, void *arg)
{
    ctl_job *j = arg;
    (void)b;
    job_reply(j);
    j->done(j->arg);
    job_free(j);
}

/* cmd_counter - counter|reset RULE VALUE... */
static int cmd_counter(server *s, const char **args, int nargs, int reset, struct evbuffer *out, control_done_fn done,
                       void *arg)
{
    char err[256];
    rule *r;
    fg_request req;
    key_buf k;
    int pos = 0;

    if (nargs < 2) {
        reply_error(out, reset ? "usage: reset RULE VALUE..." : "usage: counter RULE VALUE...");
        return CONTROL_DONE;
    }
    r = rule_find(s->rules, args[0]);
    if (!r || (!r->has_limit && !r->has_ban)) {
        snprintf(err, sizeof err, "no rule named %s with a limit or a ban", args[0]);
        reply_error(out, err);
        return CONTROL_DONE;
    }
    /* a request that holds the key's attributes: positional, or NAME=VALUE */
    req_reset(&req);
    req.kind = r->sel[0].kind;
    for (int i = 1; i < nargs; i++) {
        const char *eq = strchr(args[i], '=');
        if (eq) {
            req_set(&req, args[i], (size_t)(eq - args[i]), eq + 1, strlen(eq + 1));
        } else if (pos < (int)r->nkeys) {
            const char *name = req_attr_name(r->keys[pos++].attr);
            req_set(&req, name, strlen(name), args[i], strlen(args[i]));
        }
    }
    engine_key(r, &req, &k);
    ctl_job *j = fg_calloc(1, sizeof *j);
    j->srv = s;
    j->rs = ruleset_ref(s->rules);
    j->r = r;
    j->out = out;
    j->done = done;
    j->arg = arg;
    j->reset = reset;
    key_format(k.bytes, k.len, j->key_text, sizeof j->key_text);
    batch_reset(&j->batch, server_now(s));
    engine_limit_op(r, batch_add(&j->batch, reset ? STORE_DEL : STORE_PEEK, k.bytes, k.len));
    if (store_submit(s->store, &j->batch, job_done, j) == STORE_PENDING)
        return CONTROL_PENDING;
    job_reply(j);
    job_free(j);
    return CONTROL_DONE;
}

/* control_kv_policy - request=kv on a policy socket: only with listen.kv_on_policy */
int control_kv_policy(server *s, fg_request *req, struct evbuffer *out, control_done_fn done, void *arg)
{
    const char *args[CONTROL_ARGS_MAX];
    int nargs = get_args(req, args);

    if (!s->conf->listen.kv_on_policy) {
        s->st.kv_refused++;
        reply_error(out, "kv requests are refused on the policy socket (listen.kv_on_policy = false); "
                         "use the control socket");
        return CONTROL_DONE;
    }
    return kv_exec(s, req, args, nargs, out, done, arg);
}

/* cmd_bans - bans format=FMT | follow=yes [json=yes]: the published forms of the current bans */
static int cmd_bans(server *s, fg_request *req, struct evbuffer *out)
{
    size_t flen, folen, jlen;
    const char *fmt = req_get_name(req, "format", &flen), *follow = req_get_name(req, "follow", &folen);
    const char *json = req_get_name(req, "json", &jlen);

    if (flen && !strcmp(fmt, "table")) {
        bansrv_table(s, out);
        return CONTROL_DONE;
    }
    if (!s->pub) {
        reply_error(out, "bans are not available yet (no ban index)");
        return CONTROL_DONE;
    }
    /* a big list is written by a child, off the loop (bandump.h); the same bytes either way */
    int big = s->eng.bans && ban_count(s->eng.bans) >= BANDUMP_CHILD_MIN;
    if (folen && !strcmp(follow, "yes")) {
        int j = jlen && !strcmp(json, "yes");
        if (big)
            return CONTROL_DUMP + (j ? BANDUMP_FOLLOW_JSON : BANDUMP_FOLLOW);
        bandump_reply(s->pub, j ? BANDUMP_FOLLOW_JSON : BANDUMP_FOLLOW, out);
        return j ? CONTROL_FOLLOW_JSON : CONTROL_FOLLOW;
    }
    int f = banexport_parse_format(flen ? fmt : "plain");
    if (f < 0) {
        reply_error(out, "usage: bans format=nft|ipset|plain|json or follow=yes [json=yes]");
        return CONTROL_DONE;
    }
    if (big)
        return CONTROL_DUMP + f;
    /* the text as line[]= fields: the reply's framing (an empty line ends it) stays whole */
    bandump_reply(s->pub, f, out);
    return CONTROL_DONE;
}

/* cmd_debug - debug clock +S: a test steps the daemon's clocks S seconds on (FLOODGATE_TEST_CLOCK=1 only) */
static void cmd_debug(server *s, const char *const *args, int nargs, struct evbuffer *out)
{
    const char *p = nargs == 2 && !strcmp(args[0], "clock") && args[1][0] == '+' ? args[1] + 1 : NULL;
    uint64_t sec = 0;

    if (!s->clock.steppable) {
        reply_error(out, "refused: the clock steps only in a daemon started with FLOODGATE_TEST_CLOCK=1 in its "
                         "environment (tests)");
        return;
    }
    if (!p || !*p) {
        reply_error(out, "usage: debug clock +SECONDS");
        return;
    }
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || sec > CONTROL_CLOCK_STEP_MAX / 10) {
            reply_error(out, "usage: debug clock +SECONDS (at most 100 years)");
            return;
        }
        sec = sec * 10 + (uint64_t)(*p - '0');
    }
    if (sec > CONTROL_CLOCK_STEP_MAX) {
        reply_error(out, "usage: debug clock +SECONDS (at most 100 years)");
        return;
    }
    server_clock_step(s, sec * 1000);
    evbuffer_add_printf(out, "status=ok\nstepped=%llu\nwall=%llu\n\n", (unsigned long long)sec,
                        (unsigned long long)(server_wall_now(s) / 1000));
}

/* control_exec - run one command */
int control_exec(server *s, fg_request *req, struct evbuffer *out, control_done_fn done, void *arg)
{
    size_t len;
    const char *cmd = req_get(req, ATTR_COMMAND, &len), *args[CONTROL_ARGS_MAX];
    int nargs = get_args(req, args);

    if (!strcmp(cmd, "stats"))
        cmd_stats(s, out);
    else if (!strcmp(cmd, "reload"))
        cmd_reload(s, out);
    else if (!strcmp(cmd, "version"))
        evbuffer_add_printf(out, "status=ok\nversion=%s\n\n", FLOODGATE_VERSION);
    else if (!strcmp(cmd, "lists"))
        cmd_lists(s, out);
    else if (!strcmp(cmd, "watches"))
        watchers_report(s->watchers, out);
    else if (!strcmp(cmd, "list"))
        cmd_list(s, args, nargs, out);
    else if (!strcmp(cmd, "counter") || !strcmp(cmd, "reset"))
        return cmd_counter(s, args, nargs, !strcmp(cmd, "reset"), out, done, arg);
    else if (!strcmp(cmd, "explain"))
        return explain_exec(s, req, out, done, arg);
    else if (!strcmp(cmd, "kv"))
        return kv_exec(s, req, args, nargs, out, done, arg);
    else if (!strcmp(cmd, "bans"))
        return cmd_bans(s, req, out);
    else if (!strcmp(cmd, "ban"))
        bansrv_ban(s, req, args, nargs, out);
    else if (!strcmp(cmd, "unban"))
        bansrv_unban(s, args, nargs, out);
    else if (!strcmp(cmd, "debug"))
        cmd_debug(s, args, nargs, out);
    else
        reply_error(out, "unknown command (stats, reload, version, lists, list, watches, counter, reset, explain, kv, bans, ban, unban, debug)");
    return CONTROL_DONE;
}
