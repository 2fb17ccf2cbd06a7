/*
 * conf - the configuration file: listen, store and rules
 *
 * One libconfig file, @include for more; relative paths are relative to
 * the file's folder. Loading collects every problem (conf_errors) and
 * returns NULL if there is any, so that a broken file is never applied
 * and the daemon keeps its old configuration on reload. Settings and
 * their defaults live here together.
 */
#ifndef FG_CONF_H
#define FG_CONF_H

#include <stdint.h>
#include <sys/types.h>

#include "conf_errors.h"
#include "redis.h"
#include "rule.h"

#define CONF_MAX_REQUEST_DEFAULT (64 * 1024) /* bytes of one policy request */
#define CONF_MAX_CONNECTIONS_DEFAULT 4096    /* open client connections */
#define CONF_IDLE_TIMEOUT_DEFAULT (600 * 1000) /* ms; Postfix drops idle policy connections after 300s */
#define CONF_WRITE_TIMEOUT_DEFAULT (30 * 1000) /* ms a client may leave its answers unread before it is closed */
#define CONF_CONTROL_CONNECTIONS_DEFAULT 16  /* open control connections (a limit of their own) */
#define CONF_MAX_KEYS_DEFAULT 4000000        /* embedded store keys */
#define CONF_CLEANUP_DEFAULT 100             /* ms between purge slices */
#define CONF_PIPELINE_DEFAULT 64             /* requests in flight per connection */
#define CONF_LOG_RATE_DEFAULT 100             /* decision lines per second */
#define CONF_SNAPSHOT_INTERVAL_DEFAULT (60 * 1000) /* ms between snapshots */
#define CONF_HTTP_MAX_CONNECTIONS_DEFAULT 1024 /* open HTTP adapter connections */
#define CONF_HTTP_TIMEOUT_DEFAULT (60 * 1000) /* ms a keep-alive HTTP connection may idle or a request take */

typedef struct conf_listen {
    char **policy;           /* "unix:PATH" or "tcp:HOST:PORT" */
    unsigned npolicy;
    char *control;           /* control socket ("unix:PATH" only), NULL = none */
    char *http;              /* HTTP adapter: "tcp:HOST:PORT" or "unix:PATH", NULL = none */
    uint64_t http_max_connections; /* past it, the HTTP listener stops accepting */
    uint64_t http_timeout_ms; /* a request's time from its first byte (then 408), idle keep-alive, unread answer */
    unsigned http_mode;      /* mode of a unix: HTTP socket */
    unsigned mode;           /* policy socket mode */
    unsigned control_mode;   /* control socket mode */
    char *group;             /* policy socket group, NULL = ours */
    char *control_group;     /* admin group allowed on the control socket, NULL = none */
    gid_t control_gid;       /* control_group, resolved at load (never on the request path) */
    uint64_t max_request;    /* bytes */
    uint64_t max_connections; /* open policy connections (lowered at start to fit RLIMIT_NOFILE) */
    uint64_t control_max_connections; /* open control connections, counted apart from policy ones */
    uint64_t idle_timeout_ms;
    uint64_t write_timeout_ms; /* unsent output that made no progress this long closes the connection */
    uint64_t pipeline;       /* requests in flight per connection */
    int kv_on_policy;        /* request=kv (kv.h) allowed on the policy sockets too; default no */
} conf_listen;

typedef struct conf_store {
    char *type;              /* "embedded" */
    uint64_t max_keys;       /* embedded: eviction bound */
    uint64_t cleanup_ms;     /* embedded: purge tick */
    char *snapshot;          /* embedded: snapshot file, NULL = none */
    uint64_t snapshot_interval_ms; /* embedded: how often it is written */
    int on_error;            /* enum conf_on_error */
    uint64_t timeout_ms;     /* networked stores: every request */
    uint64_t connect_timeout_ms; /* networked stores: connecting and setting up */
    uint64_t heartbeat_ms;   /* networked stores: the fleet mirror's subscriber checks its server this often */
    redis_spec redis;        /* networked stores: servers (kind 0 = embedded) */
    int has_distinct_key;    /* store.distinct_key set */
    unsigned char distinct_key[32]; /* BLAKE2b of store.distinct_key: keys the limit.distinct fingerprints */
} conf_store;

typedef struct conf_regex {
    uint64_t match_limit;    /* pcre2 match limit, 0 = COND_REGEX_MATCH_LIMIT */
    uint64_t depth_limit;    /* pcre2 depth limit, 0 = twice max_request */
} conf_regex;

#define CONF_BANS_ACTION_DEFAULT "REJECT 5.7.1 Banned: $reason"
#define CONF_BANS_HOOKS_MAX_DEFAULT 4           /* on_ban/on_unban commands running at once */
#define CONF_BANS_HOOKS_TIMEOUT_DEFAULT 30000   /* ms: bans.hooks_timeout */
#define CONF_BANS_MAX_DEFAULT 1000000           /* bans (and ban history entries) the index holds at most */

typedef struct conf_bans {
    char *action;            /* bans.action: the answer to a banned client ($reason, $expires) */
    char *export_format;     /* bans.export.format: "nft", "ipset", "plain" or "json"; NULL = no export file */
    char *export_path;       /* bans.export.path (relative to the file's folder) */
    char **on_ban;           /* bans.on_ban: argv ($address, $reason, $duration as whole arguments); NULL = none */
    unsigned non_ban;
    char **on_unban;         /* bans.on_unban: argv; NULL = none */
    unsigned non_unban;
    uint64_t hooks_max;      /* bans.hooks_max: hook commands running at once */
    uint64_t hooks_timeout_ms; /* bans.hooks_timeout: a hook still running then is killed with its group */
    uint64_t max;            /* bans.max: bans and history entries at most (new keys past it are refused) */
} conf_bans;

typedef struct fg_conf {
    char *path;              /* the file */
    char *dir;               /* its folder */
    conf_listen listen;
    conf_store store;
    conf_regex regex;
    conf_bans bans;           /* the `bans` section (the top-level `trusted` lives in the ruleset) */
    ruleset *rules;
    struct watchset *watches; /* log watches (watch.h), never NULL once loaded */
    int log_requests;         /* log_requests = true: a line per decision, not only per refusal */
    uint64_t log_rate;        /* log_rate: client-triggered log lines per second (decisions) */
} fg_conf;

/* conf_load - read and check a configuration; NULL with errs filled on any problem */
fg_conf *conf_load(const char *path, conf_errors *errs);
void conf_free(fg_conf *c);
/* conf_path - a path relative to the configuration's folder, newly allocated */
char *conf_path(const char *dir, const char *path);

#endif
