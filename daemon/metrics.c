/*
 * metrics - the daemon's one set of statistics, shown two ways (see metrics.h)
 *
 * The table `scalars` below is the registry: adding a number to it shows it
 * in `floodgatectl stats` and on /metrics at once. Labelled families
 * (verdicts, greylist results, HTTP codes, store servers, rules, the
 * latency histogram) are written by one function each, which writes both
 * forms from the same loop.
 *
 * Bans: bans_active (the index's size) and the engine's ban counters sit
 * in `scalars` like any other.
 */
#include "metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ban.h"
#include "banpub.h"
#include "control.h"
#include "list.h"
#include "num.h"
#include "fleet.h"
#include "server.h"
#include "statestore.h"

#define SERVERS_MAX 64 /* servers of a networked store shown */

/* upper bounds of the latency buckets, in µs and as Prometheus writes them (seconds) */
static const uint64_t bucket_us[METRICS_BUCKETS] = {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
                                                    100000, 250000, 1000000};
static const char *const bucket_le[METRICS_BUCKETS] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                                       "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "1"};
static const char *const http_code_label[HTTP_CODE__COUNT] = {"200", "204", "400", "403", "404", "405",
                                                              "408", "500", "503", "other"};
static const char *const grey_label[GREY_AUTO + 1] = {"", "new", "early", "pass_first", "pass", "auto"};

/* where a scalar lives */
enum msrc { SRC_SERVER, SRC_ENGINE, SRC_STORE, SRC_HTTP, SRC_FN };

typedef struct msnap {
    server *s;
    store_stats ss;           /* read once per output */
} msnap;

typedef struct scalar {
    const char *stat;         /* floodgatectl stats name */
    const char *prom;         /* Prometheus name */
    char type;                /* 'c' counter, 'g' gauge */
    uint8_t src;              /* enum msrc */
    size_t off;               /* offset of a uint64_t in its source */
    uint64_t (*fn)(const msnap *m); /* SRC_FN */
    const char *help;
} scalar;

/* the functions of SRC_FN scalars */
static uint64_t f_uptime(const msnap *m) { return (server_now(m->s) - m->s->started_ms) / 1000; }
static uint64_t f_conns(const msnap *m) { return m->s->nconns; }
static uint64_t f_conns_max(const msnap *m) { return m->s->conf->listen.max_connections; }
static uint64_t f_control_open(const msnap *m) { return m->s->ncontrol; }
static uint64_t f_memory(const msnap *m) { (void)m; return fg_alloc_used(); }
static uint64_t f_allocs(const msnap *m) { (void)m; return fg_alloc_calls(); }
static uint64_t f_rules(const msnap *m) { return m->s->rules->n; }
static uint64_t f_lists(const msnap *m) { return m->s->rules->lists->n; }
static uint64_t f_bans(const msnap *m) { return m->s->eng.bans ? ban_count(m->s->eng.bans) : 0; }
static uint64_t f_bans_full(const msnap *m) { return m->s->eng.bans ? ban_full_refused(m->s->eng.bans) : 0; }
static uint64_t f_bans_evicted(const msnap *m) { return m->s->eng.bans ? ban_evicted(m->s->eng.bans) : 0; }
static banpub_stats pub_stats(const msnap *m) { banpub_stats z = {0}; return m->s->pub ? banpub_get_stats(m->s->pub) : z; }
static uint64_t f_exports(const msnap *m) { return pub_stats(m).exports; }
static uint64_t f_export_failures(const msnap *m) { return pub_stats(m).export_failures; }
static uint64_t f_hooks_started(const msnap *m) { return pub_stats(m).hooks.started; }
static uint64_t f_hooks_failed(const msnap *m) { return pub_stats(m).hooks.failed; }
static uint64_t f_hooks_dropped(const msnap *m) { return pub_stats(m).hooks.dropped; }
static uint64_t f_hooks_killed(const msnap *m) { return pub_stats(m).hooks.killed; }
/* the bans' journal (statestore_file.h): zeros without one */
static statestore_stats f_state(const msnap *m) { statestore_stats st; statestore_stats_get(m->s->state, &st); return st; }
static uint64_t f_state_records(const msnap *m) { return f_state(m).records; }
static uint64_t f_state_failures(const msnap *m) { return f_state(m).failures; }
static uint64_t f_state_syncs(const msnap *m) { return f_state(m).syncs; }
static uint64_t f_state_set_aside(const msnap *m) { return f_state(m).set_aside; }

#define SRV(f) SRC_SERVER, offsetof(server_stats, f), NULL
#define ENG(f) SRC_ENGINE, offsetof(engine_stats, f), NULL
#define STO(f) SRC_STORE, offsetof(store_stats, f), NULL
#define HTP(f) SRC_HTTP, offsetof(metrics_http, f), NULL
#define FN(f) SRC_FN, 0, f

static const scalar scalars[] = {
    {"uptime_s", "floodgate_uptime_seconds", 'g', FN(f_uptime), "Seconds since the daemon started."},
    {"connections_open", "floodgate_connections_open", 'g', FN(f_conns), "Open policy and control connections."},
    {"connections_total", "floodgate_connections_total", 'c', SRV(connections), "Policy and control connections accepted."},
    {"connections_max", "floodgate_connections_max", 'g', FN(f_conns_max), "listen.max_connections in force (lowered to fit RLIMIT_NOFILE)."},
    {"connections_paused", "floodgate_connections_paused_total", 'c', SRV(connections_paused), "Times accepting paused at max_connections."},
    {"control_connections_open", "floodgate_control_connections_open", 'g', FN(f_control_open), "Open control connections."},
    {"control_refused", "floodgate_control_refused_total", 'c', SRV(control_refused), "Control peers refused (not root, not us, not control_group)."},
    {"accept_failures", "floodgate_accept_failures_total", 'c', SRV(accept_failures), "accept() failures (EMFILE, ENFILE, ENOBUFS, ...)."},
    {"accept_pauses", "floodgate_accept_pauses_total", 'c', SRV(accept_pauses), "Times a listener paused after a failed accept."},
    {"write_timeouts", "floodgate_write_timeouts_total", 'c', SRV(write_timeouts), "Connections closed because their output made no progress for write_timeout."},
    {"followers_dropped", "floodgate_ban_followers_dropped_total", 'c', SRV(followers_dropped), "bans --follow connections closed because they did not read fast enough."},
    {"ban_exports", "floodgate_ban_exports_total", 'c', FN(f_exports), "bans.export files written."},
    {"ban_export_failures", "floodgate_ban_export_failures_total", 'c', FN(f_export_failures), "bans.export writes that failed (the previous file stays)."},
    {"ban_hooks_started", "floodgate_ban_hooks_started_total", 'c', FN(f_hooks_started), "on_ban/on_unban commands started."},
    {"ban_hooks_failed", "floodgate_ban_hooks_failed_total", 'c', FN(f_hooks_failed), "on_ban/on_unban commands that could not run or did not exit 0."},
    {"ban_hooks_dropped", "floodgate_ban_hooks_dropped_total", 'c', FN(f_hooks_dropped), "on_ban/on_unban commands dropped: too many running and waiting."},
    {"ban_hooks_killed", "floodgate_ban_hooks_killed_total", 'c', FN(f_hooks_killed), "on_ban/on_unban commands killed at bans.hooks_timeout (counted in failed too)."},
    {"requests", "floodgate_requests_received_total", 'c', SRV(requests), "Requests framed on policy and control sockets, and log lines reported."},
    {"bad_requests", "floodgate_bad_requests_total", 'c', SRV(bad_requests), "Policy requests answered with an error action."},
    {"too_large", "floodgate_too_large_total", 'c', SRV(too_large), "Policy requests over max_request (connection closed)."},
    {"idle_closed", "floodgate_idle_closed_total", 'c', SRV(idle_closed), "Policy connections closed after idle_timeout."},
    {"verdicts", "floodgate_engine_requests_total", 'c', ENG(requests), "Requests evaluated by the engine, every front end."},
    {"refused", "floodgate_refused_total", 'c', ENG(refused), "Verdicts that refuse the request."},
    {"limited", "floodgate_limited_total", 'c', ENG(limited), "Verdicts given by a full limit."},
    {"greylisted", "floodgate_greylisted_total", 'c', ENG(greylisted), "Verdicts given by a greylist step."},
    {"store_errors", "floodgate_store_errors_total", 'c', ENG(store_errors), "Verdicts given by on_error because the store did not answer."},
    {"regex_errors", "floodgate_regex_errors_total", 'c', ENG(regex_errors), "Regex matches stopped by a match limit (each applied its rule's on_error)."},
    {"bans_active", "floodgate_bans_active", 'g', FN(f_bans), "Bans in force (addresses, networks and usernames)."},
    {"bans_issued", "floodgate_bans_issued_total", 'c', ENG(bans_issued), "Bans made, by rules or by hand (a ban made again counts again)."},
    {"bans_removed", "floodgate_bans_removed_total", 'c', ENG(bans_removed), "Bans lifted by unban."},
    {"bans_expired", "floodgate_bans_expired_total", 'c', ENG(bans_expired), "Bans that ran out."},
    {"ban_refused", "floodgate_ban_refused_total", 'c', ENG(ban_refused), "Requests answered with bans.action because the client is banned."},
    {"bans_full", "floodgate_bans_full_total", 'c', FN(f_bans_full), "New bans (and ban history entries) refused because the index held bans.max (a ban ending before every ban held)."},
    {"bans_evicted", "floodgate_bans_evicted_total", 'c', FN(f_bans_evicted), "Bans evicted because the index held bans.max: the ban ending soonest made room for a new one."},
    {"store_keys", "floodgate_store_keys", 'g', STO(keys), "Keys held by the store (embedded store; 0 for Redis)."},
    {"store_expired", "floodgate_store_expired_total", 'c', STO(expired), "Keys purged or found expired."},
    {"store_evicted", "floodgate_store_evicted_total", 'c', STO(evicted), "Keys dropped to stay under max_keys."},
    {"store_batches", "floodgate_store_batches_total", 'c', STO(batches), "Store operations: batches answered (one per request that needs the store)."},
    {"store_batch_errors", "floodgate_store_batch_errors_total", 'c', STO(errors), "Store batches that failed."},
    {"store_compensations", "floodgate_store_compensations_total", 'c', STO(compensations), "Counts taken back after a refusal on another shard."},
    {"store_fast_parts", "floodgate_store_fast_parts_total", 'c', STO(fast_parts), "Redis: request parts the script answered on its fast path (committed one-window counts, each state in the current bucket and under its count, or new)."},
    {"store_redirects", "floodgate_store_redirects_total", 'c', STO(redirects), "Redis Cluster MOVED and ASK answers followed."},
    {"store_cluster_refreshes", "floodgate_store_cluster_refreshes_total", 'c', STO(cluster_refreshes), "Redis Cluster slot maps asked for (CLUSTER SLOTS): every 10 s, each second while a slot has no connected master."},
    {"memory_bytes", "floodgate_memory_bytes", 'g', FN(f_memory), "Bytes allocated by the daemon (its own allocator, libevent's buffers included)."},
    {"allocations", "floodgate_allocations_total", 'c', FN(f_allocs), "Allocations made since start."},
    {"rules", "floodgate_rules", 'g', FN(f_rules), "Rules in force."},
    {"lists", "floodgate_lists", 'g', FN(f_lists), "Lookup lists loaded."},
    {"reloads", "floodgate_reloads_total", 'c', SRV(reloads), "Successful reloads."},
    {"reload_failures", "floodgate_reload_failures_total", 'c', SRV(reload_failures), "Reloads refused because the configuration had errors."},
    {"snapshots", "floodgate_snapshots_total", 'c', SRV(snapshots), "Snapshots written."},
    {"snapshot_failures", "floodgate_snapshot_failures_total", 'c', SRV(snapshot_failures), "Snapshots that failed."},
    {"ban_journal_records", "floodgate_ban_journal_records_total", 'c', FN(f_state_records), "Ban, unban and ban-history changes queued for the journal."},
    {"ban_journal_failures", "floodgate_ban_journal_failures_total", 'c', FN(f_state_failures), "Changes the journal could not take (kept by the next snapshot only)."},
    {"ban_journal_syncs", "floodgate_ban_journal_syncs_total", 'c', FN(f_state_syncs), "fdatasync calls on the journal (at most one a second)."},
    {"state_set_aside", "floodgate_state_set_aside_total", 'c', FN(f_state_set_aside), "Damaged journals renamed FILE.bad at start."},
    {"kv_ops", "floodgate_kv_operations_total", 'c', SRV(kv_ops), "kv commands (values, counters, locks)."},
    {"locks_taken", "floodgate_locks_taken_total", 'c', SRV(locks_taken), "kv locks taken."},
    {"lock_renewals", "floodgate_lock_renewals_total", 'c', SRV(lock_renewals), "kv locks renewed by their owner."},
    {"kv_refused", "floodgate_kv_refused_total", 'c', SRV(kv_refused), "request=kv refused on a policy socket."},
    {"http_connections_open", "floodgate_http_connections_open", 'g', HTP(connections_open), "Open HTTP adapter connections."},
    {"http_connections_total", "floodgate_http_connections_total", 'c', HTP(connections), "HTTP adapter connections accepted."},
    {"http_connections_paused", "floodgate_http_connections_paused_total", 'c', HTP(connections_paused), "Times the HTTP adapter stopped accepting at http_max_connections."},
    {"http_check", "floodgate_http_check_total", 'c', HTP(check), "GET /check/KIND requests (nginx auth_request)."},
    {"http_dovecot_allow", "floodgate_http_dovecot_allow_total", 'c', HTP(dovecot_allow), "Dovecot auth policy allow calls."},
    {"http_dovecot_report", "floodgate_http_dovecot_report_total", 'c', HTP(dovecot_report), "Dovecot auth policy report calls."},
    {"http_scrapes", "floodgate_http_scrapes_total", 'c', HTP(scrapes), "GET /metrics requests."},
    {"http_bad_requests", "floodgate_http_bad_requests_total", 'c', HTP(bad), "HTTP requests answered with an error (bad JSON, unknown path or kind, bad method, not complete in http_timeout: 408)."},
};

#undef SRV
#undef ENG
#undef STO
#undef HTP
#undef FN

/* value - a scalar's current value */
static uint64_t value(const msnap *m, const scalar *d)
{
    const char *base = NULL;

    switch (d->src) {
    case SRC_SERVER: base = (const char *)&m->s->st; break;
    case SRC_ENGINE: base = (const char *)&m->s->eng.stats; break;
    case SRC_STORE: base = (const char *)&m->ss; break;
    case SRC_HTTP: base = (const char *)&m->s->met.http; break;
    default: return d->fn(m);
    }
    uint64_t v;
    memcpy(&v, base + d->off, sizeof v);
    return v;
}

/* metrics_verdict - count one decided request and its latency */
void metrics_verdict(metrics *m, unsigned front, unsigned kind, unsigned vk, uint64_t us)
{
    unsigned b = 0;

    if (front < FRONT__COUNT && kind < REQ__COUNT && vk < VERDICT__COUNT)
        m->verdicts[front][kind][vk]++;
    while (b < METRICS_BUCKETS && us > bucket_us[b])
        b++;
    m->latency[b]++;
    m->latency_sum_us = num_sat_add(m->latency_sum_us, us);
    m->latency_count++;
}

/* metrics_http_code - count one HTTP answer */
void metrics_http_code(metrics *m, int code)
{
    static const int codes[HTTP_CODE_OTHER] = {200, 204, 400, 403, 404, 405, 408, 500, 503};
    unsigned i = 0;

    while (i < HTTP_CODE_OTHER && codes[i] != code)
        i++;
    m->http.codes[i]++;
}

/* label - a label value with \, " and newline escaped, as the exposition format wants */
static const char *label(const char *v, char *buf, size_t size)
{
    size_t at = 0;

    for (; *v && at + 3 < size; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            buf[at++] = '\\';
            buf[at++] = *v == '\n' ? 'n' : *v;
        } else {
            buf[at++] = *v;
        }
    }
    buf[at] = '\0';
    return buf;
}

/* head - HELP and TYPE of a family */
static void head(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* servers - each server of a networked store */
static void servers(server *s, struct evbuffer *out, int prom)
{
    store_server sv[SERVERS_MAX];
    size_t n = store_servers(s->store, sv, SERVERS_MAX);
    char l[256];
    static const struct { const char *stat, *prom, *type, *help; } fam[] = {
        {"connected", "floodgate_store_server_up", "gauge", "1 when the store server is connected and ready."},
        {"outages", "floodgate_store_server_outages_total", "counter", "Outages of the store server."},
        {"round_trips", "floodgate_store_server_round_trips_total", "counter", "Script calls sent to the store server."},
        {"commands", "floodgate_store_server_commands_total", "counter", "Commands sent to the store server."},
        {"failed", "floodgate_store_server_failed_total", "counter", "Commands failed: timeout, lost connection, outage."},
        {"pipeline_depth", "floodgate_store_server_pipeline_depth", "gauge", "Commands in flight now."},
        {"pipeline_max", "floodgate_store_server_pipeline_max", "gauge", "Most commands in flight at once."},
        {"p99_us", "floodgate_store_server_p99_seconds", "gauge", "99th percentile reply latency."},
        {"reconnects", "floodgate_store_server_reconnects_total", "counter", "Connection attempts after a failure."},
        {"retry_ms", "floodgate_store_server_retry_seconds", "gauge",
         "Wait before the next connection attempt (capped backoff), 0 when none is planned."},
    };

    if (n > SERVERS_MAX)
        n = SERVERS_MAX;
    if (!prom) {
        if (n)
            evbuffer_add_printf(out, "store_servers=%zu\n", n);
        for (size_t i = 0; i < n; i++)
            evbuffer_add_printf(out,
                                "server.%zu.name=%s\nserver.%zu.connected=%s\nserver.%zu.outages=%llu\n"
                                "server.%zu.round_trips=%llu\nserver.%zu.commands=%llu\nserver.%zu.failed=%llu\n"
                                "server.%zu.pipeline_depth=%llu\nserver.%zu.pipeline_max=%llu\nserver.%zu.p99_us=%llu\n"
                                "server.%zu.reconnects=%llu\nserver.%zu.retry_ms=%llu\n",
                                i, sv[i].name, i, sv[i].up ? "yes" : "no", i, (unsigned long long)sv[i].outages, i,
                                (unsigned long long)sv[i].round_trips, i, (unsigned long long)sv[i].commands, i,
                                (unsigned long long)sv[i].failed, i, (unsigned long long)sv[i].depth, i,
                                (unsigned long long)sv[i].max_depth, i, (unsigned long long)sv[i].p99_us, i,
                                (unsigned long long)sv[i].reconnects, i, (unsigned long long)sv[i].retry_ms);
        return;
    }
    for (size_t f = 0; n && f < sizeof fam / sizeof fam[0]; f++) {
        head(out, fam[f].prom, fam[f].type, fam[f].help);
        for (size_t i = 0; i < n; i++) {
            uint64_t v[] = {(uint64_t)sv[i].up, sv[i].outages, sv[i].round_trips, sv[i].commands, sv[i].failed,
                            sv[i].depth, sv[i].max_depth, sv[i].p99_us, sv[i].reconnects, sv[i].retry_ms};
            _Static_assert(sizeof v / sizeof v[0] == sizeof fam / sizeof fam[0], "one value per family");
            label(sv[i].name, l, sizeof l);
            if (f == 7) /* microseconds, shown in seconds */
                evbuffer_add_printf(out, "%s{server=\"%s\"} %.6f\n", fam[f].prom, l, (double)v[f] / 1e6);
            else if (f == 9) /* milliseconds, shown in seconds */
                evbuffer_add_printf(out, "%s{server=\"%s\"} %.3f\n", fam[f].prom, l, (double)v[f] / 1e3);
            else
                evbuffer_add_printf(out, "%s{server=\"%s\"} %llu\n", fam[f].prom, l, (unsigned long long)v[f]);
        }
    }
}

/* fleet_mirror - the fleet mirror (lists in the store, bans) when the store is shared */
static void fleet_mirror(server *s, struct evbuffer *out, int prom)
{
    mirror_stats m;
    static const struct { const char *stat, *prom, *type, *help; } fam[] = {
        {"up", "floodgate_mirror_up", "gauge", "1 when the fleet mirror listens to the other daemons' changes."},
        {"sent", "floodgate_mirror_sent_total", "counter", "Changes written to the store and published."},
        {"received", "floodgate_mirror_received_total", "counter", "Changes of other daemons applied."},
        {"resyncs", "floodgate_mirror_resyncs_total", "counter", "Full reads of the shared records."},
        {"failed", "floodgate_mirror_failed_total", "counter", "Changes the store did not take."},
        {"moves", "floodgate_mirror_moves_total", "counter", "Times a cluster's subscriber moved to another node."},
        {"swept", "floodgate_mirror_swept_total", "counter", "Expired records removed from the store by sweeps."},
    };

    if (fleet_mirror_stats(s, &m) < 0)
        return;
    uint64_t v[] = {(uint64_t)m.up, m.sent, m.received, m.resyncs, m.failed, m.moves, m.swept};
    _Static_assert(sizeof v / sizeof v[0] == sizeof fam / sizeof fam[0], "one value per family");
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++) {
        if (prom) {
            head(out, fam[f].prom, fam[f].type, fam[f].help);
            evbuffer_add_printf(out, "%s %llu\n", fam[f].prom, (unsigned long long)v[f]);
        } else if (f == 0) {
            evbuffer_add_printf(out, "mirror.up=%s\n", m.up ? "yes" : "no");
        } else {
            evbuffer_add_printf(out, "mirror.%s=%llu\n", fam[f].stat, (unsigned long long)v[f]);
        }
    }
}

/* verdicts - requests decided, by front end, kind and verdict (only those seen) */
static void verdicts(server *s, struct evbuffer *out, int prom)
{
    const metrics *m = &s->met;

    if (prom)
        head(out, "floodgate_requests_total", "counter",
             "Requests decided, by front end (policy, http, watch), request kind and verdict.");
    for (unsigned f = 0; f < FRONT__COUNT; f++)
        for (unsigned k = 0; k < REQ__COUNT; k++)
            for (unsigned v = 0; v < VERDICT__COUNT; v++) {
                unsigned long long n = (unsigned long long)m->verdicts[f][k][v];
                const char *kn = req_kind_name((enum req_kind)k);
                if (!n)
                    continue;
                if (!kn || !*kn)
                    kn = "none";
                if (prom)
                    evbuffer_add_printf(out, "floodgate_requests_total{front=\"%s\",kind=\"%s\",verdict=\"%s\"} %llu\n",
                                        dispatch_front_name(f), kn, verdict_kind_name(v), n);
                else
                    evbuffer_add_printf(out, "verdict.%s.%s.%s=%llu\n", dispatch_front_name(f), kn,
                                        verdict_kind_name(v), n);
            }
}

/* latency - the histogram of hand-over to verdict */
static void latency(server *s, struct evbuffer *out, int prom)
{
    const metrics *m = &s->met;
    uint64_t cum = 0;

    if (prom)
        head(out, "floodgate_request_duration_seconds", "histogram",
             "Time from a request's hand-over to the engine to its verdict (store round trip included).");
    for (unsigned b = 0; b <= METRICS_BUCKETS; b++) {
        cum += m->latency[b];
        if (prom)
            evbuffer_add_printf(out, "floodgate_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
                                b < METRICS_BUCKETS ? bucket_le[b] : "+Inf", (unsigned long long)cum);
        else if (b < METRICS_BUCKETS)
            evbuffer_add_printf(out, "latency.le_%lluus=%llu\n", (unsigned long long)bucket_us[b],
                                (unsigned long long)cum);
    }
    if (prom)
        evbuffer_add_printf(out, "floodgate_request_duration_seconds_sum %.6f\n"
                            "floodgate_request_duration_seconds_count %llu\n",
                            (double)m->latency_sum_us / 1e6, (unsigned long long)m->latency_count);
    else
        evbuffer_add_printf(out, "latency.count=%llu\nlatency.sum_us=%llu\n", (unsigned long long)m->latency_count,
                            (unsigned long long)m->latency_sum_us);
}

/* families - the labelled families other than servers and rules */
static void families(server *s, struct evbuffer *out, int prom)
{
    const engine_stats *es = &s->eng.stats;

    verdicts(s, out, prom);
    latency(s, out, prom);
    if (prom)
        head(out, "floodgate_greylist_steps_total", "counter",
             "Greylist steps by result: new and early are deferred, pass_first, pass and auto pass.");
    for (unsigned g = 1; g <= GREY_AUTO; g++) {
        if (prom)
            evbuffer_add_printf(out, "floodgate_greylist_steps_total{result=\"%s\"} %llu\n", grey_label[g],
                                (unsigned long long)es->grey[g]);
        else
            evbuffer_add_printf(out, "greylist.%s=%llu\n", grey_label[g], (unsigned long long)es->grey[g]);
    }
    if (prom)
        head(out, "floodgate_http_responses_total", "counter", "HTTP adapter answers by status code.");
    for (unsigned c = 0; c < HTTP_CODE__COUNT; c++) {
        if (prom)
            evbuffer_add_printf(out, "floodgate_http_responses_total{code=\"%s\"} %llu\n", http_code_label[c],
                                (unsigned long long)s->met.http.codes[c]);
        else if (s->met.http.codes[c])
            evbuffer_add_printf(out, "http_responses.%s=%llu\n", http_code_label[c],
                                (unsigned long long)s->met.http.codes[c]);
    }
}

/* rules - matched, decided and regex errors per rule (they go on across reloads by name) */
static void rules(server *s, struct evbuffer *out, int prom)
{
    const ruleset *rs = s->rules;

    if (!prom) {
        for (unsigned i = 0; i < rs->n; i++) {
            const rule *r = &rs->rules[i];
            evbuffer_add_printf(out, "rule.%s.matched=%llu\nrule.%s.decided=%llu\nrule.%s.regex_errors=%llu\n", r->name,
                                (unsigned long long)r->matched, r->name, (unsigned long long)r->decided, r->name,
                                (unsigned long long)r->regex_errors);
            if (r->dry_run)
                evbuffer_add_printf(out, "rule.%s.dry_run_would=%llu\n", r->name, (unsigned long long)r->dry_would);
            if (r->has_ban)
                evbuffer_add_printf(out, "rule.%s.banned=%llu\n", r->name, (unsigned long long)r->banned);
        }
        return;
    }
    head(out, "floodgate_rule_matched_total", "counter", "Requests each rule applied to.");
    for (unsigned i = 0; i < rs->n; i++)
        evbuffer_add_printf(out, "floodgate_rule_matched_total{rule=\"%s\"} %llu\n", rs->rules[i].name,
                            (unsigned long long)rs->rules[i].matched);
    head(out, "floodgate_rule_decided_total", "counter", "Requests each rule decided.");
    for (unsigned i = 0; i < rs->n; i++)
        evbuffer_add_printf(out, "floodgate_rule_decided_total{rule=\"%s\"} %llu\n", rs->rules[i].name,
                            (unsigned long long)rs->rules[i].decided);
    head(out, "floodgate_rule_regex_errors_total", "counter", "Regex matches of each rule stopped by a match limit.");
    for (unsigned i = 0; i < rs->n; i++)
        evbuffer_add_printf(out, "floodgate_rule_regex_errors_total{rule=\"%s\"} %llu\n", rs->rules[i].name,
                            (unsigned long long)rs->rules[i].regex_errors);
    head(out, "floodgate_rule_dry_run_would_total", "counter",
         "Requests each dry-run rule would have decided (it counted them, and decided nothing).");
    for (unsigned i = 0; i < rs->n; i++)
        if (rs->rules[i].dry_run)
            evbuffer_add_printf(out, "floodgate_rule_dry_run_would_total{rule=\"%s\"} %llu\n", rs->rules[i].name,
                                (unsigned long long)rs->rules[i].dry_would);
    head(out, "floodgate_rule_bans_total", "counter", "Bans each ban rule made (a dry-run one: would have made).");
    for (unsigned i = 0; i < rs->n; i++)
        if (rs->rules[i].has_ban)
            evbuffer_add_printf(out, "floodgate_rule_bans_total{rule=\"%s\"} %llu\n", rs->rules[i].name,
                                (unsigned long long)rs->rules[i].banned);
}

/* metrics_stats - floodgatectl stats */
void metrics_stats(server *s, struct evbuffer *out)
{
    msnap m = {.s = s};

    store_get_stats(s->store, &m.ss);
    evbuffer_add_printf(out, "version=%s\nstore_type=%s\n", FLOODGATE_VERSION, s->store->vt->name);
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++)
        evbuffer_add_printf(out, "%s=%llu\n", scalars[i].stat, (unsigned long long)value(&m, &scalars[i]));
    families(s, out, 0);
    servers(s, out, 0);
    fleet_mirror(s, out, 0);
    rules(s, out, 0);
}

/* metrics_prometheus - GET /metrics */
void metrics_prometheus(server *s, struct evbuffer *out)
{
    msnap m = {.s = s};

    store_get_stats(s->store, &m.ss);
    head(out, "floodgate_info", "gauge", "The daemon's version and store type.");
    evbuffer_add_printf(out, "floodgate_info{version=\"%s\",store=\"%s\"} 1\n", FLOODGATE_VERSION, s->store->vt->name);
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        head(out, scalars[i].prom, scalars[i].type == 'c' ? "counter" : "gauge", scalars[i].help);
        evbuffer_add_printf(out, "%s %llu\n", scalars[i].prom, (unsigned long long)value(&m, &scalars[i]));
    }
    families(s, out, 1);
    servers(s, out, 1);
    fleet_mirror(s, out, 1);
    rules(s, out, 1);
}
