/*
 * server - the daemon's context: clock, reload, connection bookkeeping
 *
 * Kept apart from main.c so that the tests of connections and control
 * commands can build a server without a process around it.
 */
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "server.h"

/* print_errors - every problem, one per line, on stderr */
void print_errors(const conf_errors *errs)
{
    for (unsigned i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->msgs[i]);
}

/* server_now - the request clock */
uint64_t server_now(server *s)
{
    struct timeval tv;
    event_base_gettimeofday_cached(s->base, &tv);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* server_reload - load the file again; swap the rules in only if it loads whole */
int server_reload(server *s, conf_errors *errs)
{
    fg_conf *c;

    sd_notify(0, "RELOADING=1");
    c = conf_load(s->conf->path, errs);
    if (!c) {
        s->st.reload_failures++;
        log_error("reload of %s failed; the old rules stay in force:", s->conf->path);
        for (unsigned i = 0; i < errs->n; i++)
            log_error("%s", errs->msgs[i]);
        sd_notify(0, "READY=1");
        return -1;
    }
    ruleset_unref(s->rules);
    s->rules = ruleset_ref(c->rules);
    s->st.reloads++;
    log_info("reloaded %s: %u rules (listen and store settings apply at restart)", c->path, s->rules->n);
    conf_free(c);
    sd_notify(0, "READY=1");
    return 0;
}

/* server_conn_closed - resume accepting; finish a shutdown */
void server_conn_closed(server *s)
{
    if (s->accepting_paused && !s->stopping && s->nconns < s->conf->listen.max_connections)
        listeners_pause(s, 0);
    if (s->stopping && s->nconns == 0)
        event_base_loopbreak(s->base);
}

