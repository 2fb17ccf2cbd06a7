/*
 * control - the admin commands of the control socket (see control.h)
 */
#include "control.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "engine.h"
#include "keys.h"
#include "kvcmd.h"
#include "list.h"
#include "watcher.h"

#define CONTROL_ARGS_MAX 16 /* arguments of one command */
#define CONTROL_SERVERS_MAX 64 /* servers of a networked store shown by stats */

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

/* stats_servers - a networked store's batches and the state of each of its servers */
static void stats_servers(server *s, const store_stats *ss, struct evbuffer *out)
{
    store_server sv[CONTROL_SERVERS_MAX];
    size_t n = store_servers(s->store, sv, CONTROL_SERVERS_MAX);

    if (!n)
        return;
    evbuffer_add_printf(out, "store_batches=%llu\nstore_batch_errors=%llu\nstore_compensations=%llu\n"
                        "store_redirects=%llu\nstore_servers=%zu\n", (unsigned long long)ss->batches,
                        (unsigned long long)ss->errors, (unsigned long long)ss->compensations,
                        (unsigned long long)ss->redirects, n);
    for (size_t i = 0; i < n && i < CONTROL_SERVERS_MAX; i++)
        evbuffer_add_printf(out,
                            "server.%zu.name=%s\nserver.%zu.connected=%s\nserver.%zu.outages=%llu\n"
                            "server.%zu.round_trips=%llu\nserver.%zu.commands=%llu\nserver.%zu.failed=%llu\n"
                            "server.%zu.pipeline_depth=%llu\nserver.%zu.pipeline_max=%llu\nserver.%zu.p99_us=%llu\n",
                            i, sv[i].name, i, sv[i].up ? "yes" : "no", i, (unsigned long long)sv[i].outages, i,
                            (unsigned long long)sv[i].round_trips, i, (unsigned long long)sv[i].commands, i,
                            (unsigned long long)sv[i].failed, i, (unsigned long long)sv[i].depth, i,
                            (unsigned long long)sv[i].max_depth, i, (unsigned long long)sv[i].p99_us);
}

/* control_peer_allowed - root, ourselves, or the admin group (resolved at load: no lookup here) */
int control_peer_allowed(const conf_listen *l, uid_t self, uid_t uid, gid_t gid)
{
    return uid == 0 || uid == self || (l->control_group && gid == l->control_gid);
}

/* stats_connections - what the listeners and connections went through */
static void stats_connections(server *s, struct evbuffer *out)
{
    const server_stats *st = &s->st;

    evbuffer_add_printf(out,
                        "connections_max=%llu\nconnections_paused=%llu\ncontrol_connections_open=%llu\n"
                        "control_refused=%llu\naccept_failures=%llu\naccept_pauses=%llu\nwrite_timeouts=%llu\n",
                        (unsigned long long)s->conf->listen.max_connections,
                        (unsigned long long)st->connections_paused, (unsigned long long)s->ncontrol,
                        (unsigned long long)st->control_refused, (unsigned long long)st->accept_failures,
                        (unsigned long long)st->accept_pauses, (unsigned long long)st->write_timeouts);
}

/* cmd_stats - counters of every layer */
static void cmd_stats(server *s, struct evbuffer *out)
{
    store_stats ss;
    const engine_stats *es = &s->eng.stats;

    store_get_stats(s->store, &ss);
    evbuffer_add_printf(out,
                        "status=ok\nversion=%s\nuptime_s=%llu\nconnections_open=%llu\nconnections_total=%llu\n"
                        "requests=%llu\nbad_requests=%llu\ntoo_large=%llu\nidle_closed=%llu\n"
                        "verdicts=%llu\nrefused=%llu\nlimited=%llu\ngreylisted=%llu\nstore_errors=%llu\nregex_errors=%llu\n"
                        "store_type=%s\nstore_keys=%llu\nstore_expired=%llu\nstore_evicted=%llu\n"
                        "memory_bytes=%llu\nallocations=%llu\nrules=%u\nlists=%u\nreloads=%llu\nreload_failures=%llu\n"
                        "snapshots=%llu\nsnapshot_failures=%llu\n",
                        FLOODGATE_VERSION, (unsigned long long)((server_now(s) - s->started_ms) / 1000),
                        (unsigned long long)s->nconns, (unsigned long long)s->st.connections,
                        (unsigned long long)s->st.requests, (unsigned long long)s->st.bad_requests,
                        (unsigned long long)s->st.too_large, (unsigned long long)s->st.idle_closed,
                        (unsigned long long)es->requests, (unsigned long long)es->refused,
                        (unsigned long long)es->limited, (unsigned long long)es->greylisted,
                        (unsigned long long)es->store_errors, (unsigned long long)es->regex_errors, s->store->vt->name, (unsigned long long)ss.keys,
                        (unsigned long long)ss.expired, (unsigned long long)ss.evicted,
                        (unsigned long long)fg_alloc_used(), (unsigned long long)fg_alloc_calls(), s->rules->n,
                        s->rules->lists->n, (unsigned long long)s->st.reloads,
                        (unsigned long long)s->st.reload_failures, (unsigned long long)s->st.snapshots,
                        (unsigned long long)s->st.snapshot_failures);
    stats_connections(s, out);
    stats_servers(s, &ss, out);
    for (unsigned i = 0; i < s->rules->n; i++) {
        const rule *r = &s->rules->rules[i];
        evbuffer_add_printf(out, "rule.%s.matched=%llu\nrule.%s.decided=%llu\nrule.%s.regex_errors=%llu\n", r->name,
                            (unsigned long long)r->matched, r->name, (unsigned long long)r->decided, r->name,
                            (unsigned long long)r->regex_errors);
    }
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
    /* the entry: the remaining arguments joined by a space (a map's "key value...") */
    size_t at = 0;
    line[0] = '\0';
    for (int i = 2; i < nargs && at < sizeof line; i++)
        at += (size_t)snprintf(line + at, sizeof line - at, "%s%s", i > 2 ? " " : "", args[i]);
    int rc = !strcmp(args[1], "add") ? list_add(l, line, err, sizeof err) : list_del(l, args[2], err, sizeof err);
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
        evbuffer_add_printf(j->out, "status=ok\nrule=%s\nkey=%s\ncount=%llu\nlimit=%u\nper=%s\nretry_after=%llu\n\n",
                            j->r->name, j->key_text, (unsigned long long)op->peek.total, j->r->win.count,
                            j->r->per_text, (unsigned long long)((op->peek.retry_ms + 999) / 1000));
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
    if (!r || !r->has_limit) {
        snprintf(err, sizeof err, "no rule named %s with a limit", args[0]);
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
    batch_add(&j->batch, reset ? STORE_DEL : STORE_PEEK, k.bytes, k.len)->win = r->win;
    if (store_submit(s->store, &j->batch, job_done, j) == STORE_PENDING)
        return CONTROL_PENDING;
    job_reply(j);
    job_free(j);
    return CONTROL_DONE;
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
    else if (!strcmp(cmd, "kv"))
        return kv_exec(s, req, args, nargs, out, done, arg);
    else
        reply_error(out, "unknown command (stats, reload, version, lists, list, watches, counter, reset, kv)");
    return CONTROL_DONE;
}
