/*
 * metrics - the daemon's one set of statistics, shown two ways
 *
 * Every number the daemon keeps (server_stats, engine_stats, the store's,
 * the rules' matched/decided, and the counters kept here: verdicts by
 * front end, kind and verdict, the latency histogram, the HTTP adapter's)
 * is described once, in a table in metrics.c: its name in `floodgatectl
 * stats`, its Prometheus name, type and help. metrics_stats() writes the
 * table as stats lines, metrics_prometheus() as the Prometheus text
 * exposition format for GET /metrics; both read the same memory, so the two
 * can never disagree. Counters only go up: they live in the server, not in
 * the rule set, and rules' statistics go on by name across a reload
 * (ruleset_carry_stats).
 */
#ifndef FG_METRICS_H
#define FG_METRICS_H

#include <event2/buffer.h>
#include <stdint.h>

#include "dispatch.h"
#include "engine.h"
#include "request.h"

#define METRICS_BUCKETS 13 /* latency histogram buckets, +Inf not counted */

/* HTTP answers counted by code (an index each); others count as HTTP_CODE_OTHER */
enum metrics_http_code {
    HTTP_CODE_200, HTTP_CODE_204, HTTP_CODE_400, HTTP_CODE_403, HTTP_CODE_404, HTTP_CODE_405, HTTP_CODE_408,
    HTTP_CODE_500, HTTP_CODE_503, HTTP_CODE_OTHER, HTTP_CODE__COUNT
};

typedef struct metrics_http {
    uint64_t connections;          /* accepted */
    uint64_t connections_open;     /* open now (gauge) */
    uint64_t connections_paused;   /* times accepting paused at http_max_connections */
    uint64_t check;                /* GET /check/KIND */
    uint64_t dovecot_allow;        /* POST /?command=allow */
    uint64_t dovecot_report;       /* POST /?command=report */
    uint64_t scrapes;              /* GET /metrics */
    uint64_t bad;                  /* answered with an error: bad JSON, unknown path or kind, 408, ... */
    uint64_t codes[HTTP_CODE__COUNT]; /* answers by status code */
} metrics_http;

typedef struct metrics {
    uint64_t verdicts[FRONT__COUNT][REQ__COUNT][VERDICT__COUNT]; /* requests decided */
    uint64_t latency[METRICS_BUCKETS + 1]; /* per bucket (not cumulative); the last is +Inf */
    uint64_t latency_sum_us;       /* total of the latencies */
    uint64_t latency_count;        /* requests timed */
    metrics_http http;
} metrics;

struct server;

/* metrics_verdict - count one decided request and its latency (hand-over to verdict) */
void metrics_verdict(metrics *m, unsigned front, unsigned kind, unsigned verdict_kind, uint64_t us);
/* metrics_http_code - count one HTTP answer */
void metrics_http_code(metrics *m, int code);
/* metrics_stats - every statistic as `name=value` lines (floodgatectl stats) */
void metrics_stats(struct server *s, struct evbuffer *out);
/* metrics_prometheus - every statistic in the Prometheus text exposition format (version 0.0.4) */
void metrics_prometheus(struct server *s, struct evbuffer *out);

#endif
