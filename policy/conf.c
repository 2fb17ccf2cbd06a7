/*
 * conf - the configuration file (see conf.h)
 */
#include "conf.h"

#include "geo.h"
#include "watch.h"

#include <grp.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "conf_redis.h"
#include "list.h"
#include "num.h"
#include "trusted.h"

/* conf_path - a path relative to the configuration's folder */
char *conf_path(const char *dir, const char *path)
{
    const char *prefix = "";
    size_t n;
    char *out;

    if (!strncmp(path, "unix:", 5)) {
        prefix = "unix:";
        path += 5;
    }
    if (path[0] == '/' || !dir) {
        n = strlen(prefix) + strlen(path) + 1;
        out = fg_malloc(n);
        snprintf(out, n, "%s%s", prefix, path);
        return out;
    }
    n = strlen(prefix) + strlen(dir) + strlen(path) + 2;
    out = fg_malloc(n);
    snprintf(out, n, "%s%s/%s", prefix, dir, path);
    return out;
}

/* lookup_string - config_setting_lookup_string, where a setting of another type is an error, not left out */
static int lookup_string(config_setting_t *g, const char *name, const char *what, const char **v, int *ok,
                         conf_errors *errs)
{
    config_setting_t *s = conf_member(g, name, CONFIG_TYPE_STRING, what, ok, errs);
    return s && (*v = config_setting_get_string(s)) != NULL;
}

/* get_duration - optional duration member of g */
static int get_duration(config_setting_t *g, const char *name, uint64_t min, uint64_t max, uint64_t *out,
                        conf_errors *errs)
{
    config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
    return s ? conf_duration(s, name, min, max, out, errs) : 0;
}

/* get_size - optional byte count setting */
static int get_size(config_setting_t *g, const char *name, uint64_t min, uint64_t max, uint64_t *out,
                    conf_errors *errs)
{
    config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
    const char *why;

    if (!s)
        return 0;
    if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(s);
        if (v < (long long)min || (unsigned long long)v > max) {
            conf_error_at(errs, s, "%s: must be from %llu to %llu", name, (unsigned long long)min,
                          (unsigned long long)max);
            return -1;
        }
        *out = (uint64_t)v;
        return 0;
    }
    if (!config_setting_get_string(s) || num_parse_size(config_setting_get_string(s), min, max, out, &why) < 0) {
        conf_error_at(errs, s, "%s: expected a number from %llu to %llu", name, (unsigned long long)min,
                      (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* get_mode - "0660" */
static int get_mode(config_setting_t *g, const char *name, unsigned *out, conf_errors *errs)
{
    config_setting_t *s = g ? config_setting_get_member(g, name) : NULL;
    const char *v;
    char *end;

    if (!s)
        return 0;
    v = config_setting_get_string(s);
    if (!v || !*v || (*out = (unsigned)strtoul(v, &end, 8), *end) || *out > 0777) {
        conf_error_at(errs, s, "%s: expected an octal mode such as \"0660\"", name);
        return -1;
    }
    return 0;
}

/* add_policy - one policy listener address */
static int add_policy(fg_conf *c, config_setting_t *s, conf_errors *errs)
{
    const char *v = config_setting_get_string(s);
    if (!v || (strncmp(v, "unix:", 5) && strncmp(v, "tcp:", 4)) || strlen(v) < 6) {
        conf_error_at(errs, s, "listen.policy: expected \"unix:/path\" or \"tcp:127.0.0.1:PORT\"");
        return -1;
    }
    c->listen.policy = fg_realloc(c->listen.policy, (c->listen.npolicy + 1) * sizeof(char *));
    c->listen.policy[c->listen.npolicy++] = strncmp(v, "unix:", 5) ? fg_strdup(v) : conf_path(c->dir, v);
    return 0;
}

/* tcp_is_loopback - "HOST:PORT" with HOST in 127.0.0.0/8 or ::1 (brackets allowed) */
static int tcp_is_loopback(const char *hostport)
{
    const char *colon = strrchr(hostport, ':');
    fg_addr a;

    if (!colon || addr_parse(hostport, (size_t)(colon - hostport), &a) < 0)
        return 0;
    return (a.family == 4 && a.bytes[0] == 127) ||
           (a.family == 6 && !memcmp(a.bytes, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16));
}

/* parse_listen - the listen group */
static int parse_listen(fg_conf *c, config_setting_t *g, conf_errors *errs)
{
    static const char *const known[] = {"policy", "control", "http", "mode", "control_mode", "group",
                                        "control_group", "max_request", "max_connections",
                                        "control_max_connections", "idle_timeout", "write_timeout", "pipeline",
                                        "http_max_connections", "http_timeout", "http_mode", "kv_on_policy", NULL};
    config_setting_t *p;
    const char *v;
    int ok = 0;

    if (!g) {
        conf_error(errs, c->path, 1, "listen: missing (listen = { policy = \"unix:/run/floodgate/policy.sock\"; };)");
        return -1;
    }
    if (conf_check_members(g, "listen", known, errs) < 0) {
        if (!config_setting_is_group(g))
            return -1;
        ok = -1;
    }
    p = config_setting_get_member(g, "policy");
    if (!p) {
        conf_error_at(errs, g, "listen.policy: missing");
        ok = -1;
    } else if (config_setting_is_aggregate(p)) {
        for (unsigned i = 0; i < (unsigned)config_setting_length(p); i++)
            ok |= add_policy(c, config_setting_get_elem(p, i), errs);
    } else {
        ok |= add_policy(c, p, errs);
    }
    if (lookup_string(g, "control", "listen.control", &v, &ok, errs)) {
        /* the control socket edits lists and bans: only a Unix socket tells who the peer is (SO_PEERCRED) */
        if (!strncmp(v, "tcp:", 4)) {
            conf_error_at(errs, config_setting_get_member(g, "control"),
                          "listen.control: the control socket is Unix-only (\"unix:/path\"): over TCP anyone "
                          "who can connect could edit lists and bans");
            ok = -1;
        } else if (strncmp(v, "unix:", 5) || strlen(v) < 6) {
            conf_error_at(errs, config_setting_get_member(g, "control"), "listen.control: expected \"unix:/path\"");
            ok = -1;
        } else {
            c->listen.control = conf_path(c->dir, v);
        }
    }
    if (lookup_string(g, "control_group", "listen.control_group", &v, &ok, errs)) {
        /* resolved here, once: a lookup may ask NSS (LDAP...), which the request path must never wait for */
        struct group *gr = getgrnam(v);
        if (!gr) {
            conf_error_at(errs, config_setting_get_member(g, "control_group"), "listen.control_group: no group \"%s\"",
                          v);
            ok = -1;
        } else {
            c->listen.control_group = fg_strdup(v);
            c->listen.control_gid = gr->gr_gid;
        }
    }
    if (lookup_string(g, "http", "listen.http", &v, &ok, errs)) {
        if (!strncmp(v, "tcp:", 4) && strlen(v) > 4) {
            if (!tcp_is_loopback(v + 4)) {
                /* the adapter has no authentication: whoever reaches it reads /metrics and uses the counters */
                conf_error_at(errs, config_setting_get_member(g, "http"),
                              "listen.http: a TCP address must be on loopback (127.0.0.1, [::1]); "
                              "use a reverse proxy or a unix: socket to reach it from elsewhere");
                ok = -1;
            } else {
                c->listen.http = fg_strdup(v);
            }
        } else if (!strncmp(v, "unix:", 5) && strlen(v) > 5) {
            c->listen.http = conf_path(c->dir, v);
        } else {
            conf_error_at(errs, config_setting_get_member(g, "http"),
                          "listen.http: expected \"tcp:127.0.0.1:PORT\" or \"unix:/path\"");
            ok = -1;
        }
    }
    if (lookup_string(g, "group", "listen.group", &v, &ok, errs))
        c->listen.group = fg_strdup(v);
    ok |= get_mode(g, "mode", &c->listen.mode, errs);
    ok |= get_mode(g, "control_mode", &c->listen.control_mode, errs);
    ok |= get_size(g, "max_request", 512, 16 * 1024 * 1024, &c->listen.max_request, errs);
    ok |= get_size(g, "max_connections", 1, 1000000, &c->listen.max_connections, errs);
    ok |= get_size(g, "control_max_connections", 1, 1024, &c->listen.control_max_connections, errs);
    ok |= get_size(g, "pipeline", 1, 4096, &c->listen.pipeline, errs);
    ok |= get_duration(g, "idle_timeout", 1000, 86400 * 1000ULL, &c->listen.idle_timeout_ms, errs);
    ok |= get_duration(g, "write_timeout", 1000, 3600 * 1000ULL, &c->listen.write_timeout_ms, errs);
    ok |= get_size(g, "http_max_connections", 1, 1000000, &c->listen.http_max_connections, errs);
    ok |= get_duration(g, "http_timeout", 1000, 3600 * 1000ULL, &c->listen.http_timeout_ms, errs);
    ok |= get_mode(g, "http_mode", &c->listen.http_mode, errs);
    if ((p = config_setting_get_member(g, "kv_on_policy")) != NULL) {
        /* the policy socket is open to every MTA and web front: the store's values and locks stay admin-only
         * unless the admin says otherwise */
        if (config_setting_type(p) != CONFIG_TYPE_BOOL) {
            conf_error_at(errs, p, "listen.kv_on_policy: expected true or false");
            ok = -1;
        } else {
            c->listen.kv_on_policy = config_setting_get_bool(p);
        }
    }
    return ok;
}

/* parse_distinct_key - store.distinct_key = "secret": the key of the limit.distinct fingerprints, the same on
 * every daemon of a fleet (engine.h) */
static int parse_distinct_key(fg_conf *c, config_setting_t *g, conf_errors *errs)
{
    config_setting_t *s = config_setting_get_member(g, "distinct_key");
    const char *v = s ? config_setting_get_string(s) : NULL;

    if (!s)
        return 0;
    if (!v || strlen(v) < 16) {
        conf_error_at(errs, s, "store.distinct_key: a secret string of at least 16 characters, the same on every "
                      "daemon sharing the store");
        return -1;
    }
    crypto_generichash(c->store.distinct_key, sizeof c->store.distinct_key, (const unsigned char *)v, strlen(v),
                       NULL, 0);
    c->store.has_distinct_key = 1;
    return 0;
}

/* parse_store - the store group */
static int parse_store(fg_conf *c, config_setting_t *g, conf_errors *errs)
{
    static const char *const known[] = {"type", "snapshot", "snapshot_interval", "cleanup", "max_keys", "on_error", "timeout",
                                        "url", "urls", "stores", "read_from_replicas", "connect_timeout",
                                        "distinct_key", "heartbeat", NULL};
    const char *v;
    int ok = 0;

    if (!g)
        return 0;
    if (conf_check_members(g, "store", known, errs) < 0) {
        if (!config_setting_is_group(g))
            return -1;
        ok = -1;
    }
    if (lookup_string(g, "type", "store.type", &v, &ok, errs) && strcmp(v, "embedded")) {
        /* redis, cluster, sharded: conf_redis.c */
        fg_free(c->store.type);
        c->store.type = fg_strdup(v);
        ok |= conf_redis_parse(g, v, &c->store.redis, errs);
    }
    if (lookup_string(g, "snapshot", "store.snapshot", &v, &ok, errs))
        c->store.snapshot = conf_path(c->dir, v);
    if (lookup_string(g, "on_error", "store.on_error", &v, &ok, errs)) {
        if (!strcmp(v, "tempfail"))
            c->store.on_error = ON_ERROR_TEMPFAIL;
        else if (!strcmp(v, "allow"))
            c->store.on_error = ON_ERROR_ALLOW;
        else {
            conf_error_at(errs, config_setting_get_member(g, "on_error"), "store.on_error: \"tempfail\" or \"allow\"");
            ok = -1;
        }
    }
    ok |= parse_distinct_key(c, g, errs);
    ok |= get_size(g, "max_keys", 1, 1ULL << 32, &c->store.max_keys, errs);
    ok |= get_duration(g, "cleanup", 10, 3600 * 1000, &c->store.cleanup_ms, errs);
    ok |= get_duration(g, "snapshot_interval", 1000, 86400 * 1000, &c->store.snapshot_interval_ms, errs);
    ok |= get_duration(g, "timeout", 1, 60 * 1000, &c->store.timeout_ms, errs);
    ok |= get_duration(g, "connect_timeout", 1, 60 * 1000, &c->store.connect_timeout_ms, errs);
    ok |= get_duration(g, "heartbeat", 10, 3600 * 1000, &c->store.heartbeat_ms, errs);
    return ok;
}

/* parse_geoip - geoip = { country = PATH; asn = PATH; }: open the databases and give them to the rules */
static int parse_geoip(fg_conf *c, config_setting_t *g, conf_errors *errs)
{
    static const char *const known[] = {"country", "asn", NULL};
    fg_geo *geo = NULL;
    char err[512];
    int ok = 0;

    if (g) {
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            conf_error_at(errs, g, "geoip: expected a group { country = \"PATH\"; asn = \"PATH\"; }");
            return -1;
        }
        ok |= conf_check_members(g, "geoip", known, errs);
        geo = geo_new();
        for (int i = 0; known[i]; i++) {
            config_setting_t *s = config_setting_get_member(g, known[i]);
            if (!s)
                continue;
            if (config_setting_type(s) != CONFIG_TYPE_STRING) {
                conf_error_at(errs, s, "geoip.%s: expected the path of a .mmdb file", known[i]);
                ok = -1;
                continue;
            }
            char *path = conf_path(c->dir, config_setting_get_string(s));
            if (geo_open(geo, i == 0 ? GEO_COUNTRY : GEO_ASN, path, err, sizeof err) < 0) {
                conf_error_at(errs, s, "geoip.%s: %s", known[i], err);
                ok = -1;
            }
            fg_free(path);
        }
    }
    /* the rules take the databases even when one failed: they close them with the set */
    return ruleset_use_geo(c->rules, geo, errs) < 0 || ok < 0 ? -1 : 0;
}

/* parse_regex - regex = { match_limit = N; depth_limit = N; } (see cond.c for the defaults and why) */
static int parse_regex(fg_conf *c, config_setting_t *g, conf_errors *errs)
{
    static const char *const known[] = {"match_limit", "depth_limit", NULL};
    int ok = 0;

    if (!g)
        return 0;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, g, "regex: expected a group { match_limit = N; depth_limit = N; }");
        return -1;
    }
    ok |= conf_check_members(g, "regex", known, errs);
    ok |= get_size(g, "match_limit", 1000, 100000000, &c->regex.match_limit, errs);
    ok |= get_size(g, "depth_limit", 1000, 100000000, &c->regex.depth_limit, errs);
    return ok;
}

/* get_argv - bans.on_ban / on_unban: a non-empty list of strings, kept NULL-terminated */
static int get_argv(config_setting_t *g, const char *name, char ***argv, unsigned *n, conf_errors *errs)
{
    config_setting_t *s = config_setting_get_member(g, name);
    int type;

    if (!s)
        return 0;
    type = config_setting_type(s);
    if ((type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) || config_setting_length(s) == 0) {
        conf_error_at(errs, s, "bans.%s: expected a command as a list of strings [\"/path/prog\", \"$address\", ...]",
                      name);
        return -1;
    }
    unsigned len = (unsigned)config_setting_length(s);
    char **v = fg_calloc(len + 1, sizeof *v);
    for (unsigned i = 0; i < len; i++) {
        const char *a = config_setting_get_string_elem(s, (int)i);
        if (!a || (i == 0 && !*a)) {
            conf_error_at(errs, config_setting_get_elem(s, i), "bans.%s: argument %u is not a string%s", name, i + 1,
                          i == 0 ? " (the program)" : "");
            for (unsigned k = 0; k < i; k++)
                fg_free(v[k]);
            fg_free(v);
            return -1;
        }
        v[i] = fg_strdup(a);
    }
    *argv = v;
    *n = len;
    return 0;
}

/* parse_bans - bans = { action; trusted; export = { format; path; }; on_ban; on_unban; hooks_max; hooks_timeout;
 * max; }
 * (trusted goes to the rule set, with the top-level trusted: parse_trusted) */
static int parse_bans(fg_conf *c, config_setting_t *g, conf_errors *errs)
{
    static const char *const known[] = {"action",    "trusted",       "export", "on_ban", "on_unban",
                                        "hooks_max", "hooks_timeout", "max",    NULL};
    static const char *const ekeys[] = {"format", "path", NULL};
    static const char *const formats[] = {"nft", "ipset", "plain", "json", NULL};
    config_setting_t *s;
    const char *v, *why;
    int ok = 0;

    c->bans.action = fg_strdup(CONF_BANS_ACTION_DEFAULT);
    c->bans.hooks_max = CONF_BANS_HOOKS_MAX_DEFAULT;
    c->bans.hooks_timeout_ms = CONF_BANS_HOOKS_TIMEOUT_DEFAULT;
    c->bans.max = CONF_BANS_MAX_DEFAULT;
    if (!g)
        return 0;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, g, "bans: expected a group { action = \"...\"; export = { ... }; ... }");
        return -1;
    }
    ok |= conf_check_members(g, "bans", known, errs);
    if ((s = config_setting_get_member(g, "action")) != NULL) {
        action_tmpl t;
        if (!(v = config_setting_get_string(s))) {
            conf_error_at(errs, s, "bans.action: expected an action such as \"%s\"", CONF_BANS_ACTION_DEFAULT);
            ok = -1;
        } else if (action_parse(v, &t, &why) < 0) {
            conf_error_at(errs, s, "bans.action: %s", why);
            ok = -1;
        } else {
            action_free(&t);
            fg_free(c->bans.action);
            c->bans.action = fg_strdup(v);
        }
    }
    if ((s = config_setting_get_member(g, "export")) != NULL) {
        if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
            conf_error_at(errs, s, "bans.export: expected { format = \"nft\"; path = \"...\"; }");
            ok = -1;
        } else {
            config_setting_t *f = config_setting_get_member(s, "format"), *p = config_setting_get_member(s, "path");
            unsigned i = 0;
            ok |= conf_check_members(s, "bans.export", ekeys, errs);
            v = f ? config_setting_get_string(f) : NULL;
            while (v && formats[i] && strcmp(formats[i], v))
                i++;
            if (!v || !formats[i]) {
                conf_error_at(errs, f ? f : s, "bans.export.format: one of \"nft\", \"ipset\", \"plain\", \"json\"");
                ok = -1;
            } else {
                c->bans.export_format = fg_strdup(v);
            }
            if (!p || !config_setting_get_string(p) || !*config_setting_get_string(p)) {
                conf_error_at(errs, p ? p : s, "bans.export.path: expected the file to write");
                ok = -1;
            } else {
                c->bans.export_path = conf_path(c->dir, config_setting_get_string(p));
            }
        }
    }
    ok |= get_argv(g, "on_ban", &c->bans.on_ban, &c->bans.non_ban, errs);
    ok |= get_argv(g, "on_unban", &c->bans.on_unban, &c->bans.non_unban, errs);
    ok |= get_size(g, "hooks_max", 1, 1000, &c->bans.hooks_max, errs);
    ok |= get_duration(g, "hooks_timeout", 100, 86400 * 1000ULL, &c->bans.hooks_timeout_ms, errs);
    ok |= get_size(g, "max", 1, 100000000, &c->bans.max, errs);
    return ok;
}

/* parse_trusted - the top-level trusted and bans.trusted, merged into the rule set's one list; and the
 * rule set's ban action (both are swapped with the rules by a reload) */
static int parse_trusted(fg_conf *c, config_t *cfg, conf_errors *errs)
{
    config_setting_t *top = config_lookup(cfg, "trusted"), *bt = config_lookup(cfg, "bans.trusted");
    const char *why;
    int ok = 0;

    if (top)
        ok |= trusted_parse(top, c->rules->lists, &c->rules->trusted, errs);
    if (bt)
        ok |= trusted_parse(bt, c->rules->lists, &c->rules->trusted, errs);
    if (c->bans.action && action_parse(c->bans.action, &c->rules->ban_action, &why) < 0)
        ok = -1; /* reported by parse_bans */
    return ok;
}

/* parse_log - log_requests = true; log_rate = N */
static int parse_log(fg_conf *c, config_setting_t *root, conf_errors *errs)
{
    config_setting_t *s = config_setting_get_member(root, "log_requests");

    if (s) {
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
            conf_error_at(errs, s, "log_requests: expected true or false");
            return -1;
        }
        c->log_requests = config_setting_get_bool(s);
    }
    return get_size(root, "log_rate", 1, 1000000, &c->log_rate, errs);
}

/* conf_load - read and check a configuration */
fg_conf *conf_load(const char *path, conf_errors *errs)
{
    static const char *const known[] = {"listen", "store", "rules", "lists", "geoip", "bans", "trusted", "watch",
                                        "regex", "log_requests", "log_rate", NULL};
    fg_conf *c = fg_calloc(1, sizeof *c);
    config_t cfg;
    char *tmp;
    int ok = 0;

    c->path = fg_strdup(path);
    tmp = fg_strdup(path);
    c->dir = fg_strdup(dirname(tmp));
    fg_free(tmp);
    c->listen.mode = 0660;
    c->listen.control_mode = 0600;
    c->listen.max_request = CONF_MAX_REQUEST_DEFAULT;
    c->listen.max_connections = CONF_MAX_CONNECTIONS_DEFAULT;
    c->listen.idle_timeout_ms = CONF_IDLE_TIMEOUT_DEFAULT;
    c->listen.write_timeout_ms = CONF_WRITE_TIMEOUT_DEFAULT;
    c->listen.control_max_connections = CONF_CONTROL_CONNECTIONS_DEFAULT;
    c->listen.http_max_connections = CONF_HTTP_MAX_CONNECTIONS_DEFAULT;
    c->listen.http_timeout_ms = CONF_HTTP_TIMEOUT_DEFAULT;
    c->listen.http_mode = 0660;
    c->listen.pipeline = CONF_PIPELINE_DEFAULT;
    c->store.type = fg_strdup("embedded");
    c->store.max_keys = CONF_MAX_KEYS_DEFAULT;
    c->store.cleanup_ms = CONF_CLEANUP_DEFAULT;
    c->store.timeout_ms = 100;
    c->store.connect_timeout_ms = 1000;
    c->store.heartbeat_ms = 5000;
    c->store.snapshot_interval_ms = CONF_SNAPSHOT_INTERVAL_DEFAULT;
    c->log_rate = CONF_LOG_RATE_DEFAULT;

    config_init(&cfg);
    config_set_include_dir(&cfg, c->dir);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            conf_error(errs, path, 0, "cannot read the file");
        else
            conf_error(errs, config_error_file(&cfg) ? config_error_file(&cfg) : path, config_error_line(&cfg), "%s",
                       config_error_text(&cfg));
        config_destroy(&cfg);
        conf_free(c);
        return NULL;
    }
    config_setting_t *root = config_root_setting(&cfg);
    ok |= conf_check_members(root, "top level", known, errs);
    ok |= parse_log(c, root, errs);
    ok |= parse_listen(c, config_lookup(&cfg, "listen"), errs);
    ok |= parse_store(c, config_lookup(&cfg, "store"), errs);
    ok |= parse_regex(c, config_lookup(&cfg, "regex"), errs);
    ok |= parse_bans(c, config_lookup(&cfg, "bans"), errs);
    c->rules = ruleset_parse(config_lookup(&cfg, "rules"), config_lookup(&cfg, "lists"), c->dir, errs);
    if (!c->rules) {
        ok = -1;
    } else {
        /* the JIT stack and depth limit follow the largest value a request can carry */
        ruleset_set_regex(c->rules, (uint32_t)c->regex.match_limit, (uint32_t)c->regex.depth_limit,
                          (size_t)c->listen.max_request);
        if (parse_geoip(c, config_lookup(&cfg, "geoip"), errs) < 0)
            ok = -1;
        ok |= parse_trusted(c, &cfg, errs);
        /* a list kept in the store lives in the state the bans use (fleet.h): the journal beside the embedded
         * store's snapshot, or the fleet mirror on a networked store (its Redis server or cluster, a sharded
         * store's first) */
        int kept = c->store.redis.kind || c->store.snapshot != NULL;
        for (unsigned i = 0; i < c->rules->lists->n; i++)
            if (list_is_stored(c->rules->lists->lists[i]) && !kept) {
                conf_error_at(errs, config_lookup(&cfg, "lists"),
                              "list %s: store = true needs store.snapshot (embedded store) or a networked store; "
                              "otherwise give the list a file (path)",
                              list_name(c->rules->lists->lists[i]));
                ok = -1;
            }
    }
    /* after the rules: a watch is checked against the rules that count its event */
    c->watches = watchset_parse(config_lookup(&cfg, "watch"), c->dir, c->rules, errs);
    if (!c->watches)
        ok = -1;
    config_destroy(&cfg);
    if (ok < 0 || errs->n) {
        conf_free(c);
        return NULL;
    }
    return c;
}

/* conf_free - free a configuration; NULL is fine */
void conf_free(fg_conf *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->listen.npolicy; i++)
        fg_free(c->listen.policy[i]);
    fg_free(c->listen.policy);
    fg_free(c->listen.control);
    fg_free(c->listen.http);
    fg_free(c->listen.group);
    fg_free(c->listen.control_group);
    fg_free(c->store.type);
    fg_free(c->store.snapshot);
    fg_free(c->bans.action);
    fg_free(c->bans.export_format);
    fg_free(c->bans.export_path);
    for (unsigned i = 0; i < c->bans.non_ban; i++)
        fg_free(c->bans.on_ban[i]);
    fg_free(c->bans.on_ban);
    for (unsigned i = 0; i < c->bans.non_unban; i++)
        fg_free(c->bans.on_unban[i]);
    fg_free(c->bans.on_unban);
    redis_spec_free(&c->store.redis);
    ruleset_unref(c->rules);
    watchset_free(c->watches);
    fg_free(c->path);
    fg_free(c->dir);
    fg_free(c);
}
