/*
 * control - the admin commands of the control socket (see control.h)
 */
#include "control.h"

#include <string.h>

#include "alloc.h"

/* reply_error - status=error with a message */
static void reply_error(struct evbuffer *out, const char *msg)
{
    evbuffer_add_printf(out, "status=error\nmessage=%s\n\n", msg);
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
                        "verdicts=%llu\nrefused=%llu\nlimited=%llu\nstore_errors=%llu\n"
                        "store_type=%s\nstore_keys=%llu\nstore_expired=%llu\nstore_evicted=%llu\n"
                        "memory_bytes=%llu\nrules=%u\nreloads=%llu\nreload_failures=%llu\n",
                        FLOODGATE_VERSION, (unsigned long long)((server_now(s) - s->started_ms) / 1000),
                        (unsigned long long)s->nconns, (unsigned long long)s->st.connections,
                        (unsigned long long)s->st.requests, (unsigned long long)s->st.bad_requests,
                        (unsigned long long)s->st.too_large, (unsigned long long)s->st.idle_closed,
                        (unsigned long long)es->requests, (unsigned long long)es->refused,
                        (unsigned long long)es->limited, (unsigned long long)es->store_errors,
                        s->store->vt->name, (unsigned long long)ss.keys, (unsigned long long)ss.expired,
                        (unsigned long long)ss.evicted, (unsigned long long)fg_alloc_used(), s->rules->n,
                        (unsigned long long)s->st.reloads, (unsigned long long)s->st.reload_failures);
    for (unsigned i = 0; i < s->rules->n; i++) {
        const rule *r = &s->rules->rules[i];
        evbuffer_add_printf(out, "rule.%s.matched=%llu\nrule.%s.decided=%llu\n", r->name,
                            (unsigned long long)r->matched, r->name, (unsigned long long)r->decided);
    }
    evbuffer_add(out, "\n", 1);
}

/* cmd_reload - load the rules again */
static void cmd_reload(server *s, struct evbuffer *out)
{
    conf_errors errs = {0};

    if (server_reload(s, &errs) == 0) {
        evbuffer_add_printf(out, "status=ok\nrules=%u\n\n", s->rules->n);
        return;
    }
    evbuffer_add_printf(out, "status=error\nmessage=the configuration has errors; the old rules stay in force\n");
    for (unsigned i = 0; i < errs.n; i++)
        evbuffer_add_printf(out, "error=%s\n", errs.msgs[i]);
    evbuffer_add(out, "\n", 1);
    conf_errors_free(&errs);
}

/* control_exec - run one command */
void control_exec(server *s, fg_request *req, struct evbuffer *out)
{
    size_t len;
    const char *cmd = req_get(req, ATTR_COMMAND, &len);

    if (!strcmp(cmd, "stats"))
        cmd_stats(s, out);
    else if (!strcmp(cmd, "reload"))
        cmd_reload(s, out);
    else if (!strcmp(cmd, "version"))
        evbuffer_add_printf(out, "status=ok\nversion=%s\n\n", FLOODGATE_VERSION);
    else
        reply_error(out, "unknown command (stats, reload, version)");
}
