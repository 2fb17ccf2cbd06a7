/*
 * conf_redis - the store settings of the networked stores (see conf_redis.h)
 */
#include "conf_redis.h"

#include <string.h>

#include "alloc.h"

/* add_url - one URL into the spec */
static int add_url(const config_setting_t *s, const char *what, redis_spec *out, conf_errors *errs)
{
    const char *v = config_setting_get_string(s);
    char err[512];
    rconn_url u;

    if (!v) {
        conf_error_at(errs, s, "%s: expected a string such as \"redis://127.0.0.1:6379/0\"", what);
        return -1;
    }
    if (rconn_url_parse(v, &u, err, sizeof err) < 0) {
        conf_error_at(errs, s, "%s: %s", what, err);
        return -1;
    }
    if (out->kind == REDIS_CLUSTER && (u.path[0] || u.db)) {
        conf_error_at(errs, s, "%s: a cluster node is reached over TCP and has only database 0", what);
        return -1;
    }
    out->urls = fg_realloc(out->urls, (out->nurls + 1) * sizeof *out->urls);
    out->urls[out->nurls++] = u;
    return 0;
}

/* conf_redis_parse - the spec of one store group */
int conf_redis_parse(const config_setting_t *g, const char *type, redis_spec *out, conf_errors *errs)
{
    const config_setting_t *url = config_setting_get_member(g, "url"), *urls = config_setting_get_member(g, "urls");
    const config_setting_t *stores = config_setting_get_member(g, "stores");
    int ok = 0;

    memset(out, 0, sizeof *out);
    if (config_setting_get_member(g, "snapshot") || config_setting_get_member(g, "max_keys")) {
        conf_error_at(errs, g, "store: snapshot and max_keys are settings of the embedded store; a %s store keeps its "
                               "state in Redis", type);
        ok = -1;
    }
    if (!strcmp(type, "redis")) {
        out->kind = REDIS_SINGLE;
        if (!url || urls || stores) {
            conf_error_at(errs, g, "store: type \"redis\" takes one url = \"redis://host:port/db\" (or \"unix:/path\")");
            return -1;
        }
        return add_url(url, "store.url", out, errs) | ok;
    }
    if (!strcmp(type, "cluster")) {
        out->kind = REDIS_CLUSTER;
        const config_setting_t *rr = conf_member(g, "read_from_replicas", CONFIG_TYPE_BOOL, "store.read_from_replicas",
                                                 &ok, errs);
        if (rr)
            out->read_from_replicas = config_setting_get_bool(rr);
        if (stores || (!url && !urls) || (urls && !config_setting_is_aggregate(urls))) {
            conf_error_at(errs, g, "store: type \"cluster\" takes urls = [\"redis://host:port\", ...] (any nodes)");
            return -1;
        }
        if (url)
            ok |= add_url(url, "store.url", out, errs);
        for (int i = 0; urls && i < config_setting_length(urls); i++)
            ok |= add_url(config_setting_get_elem(urls, (unsigned)i), "store.urls", out, errs);
        if (!out->nurls && !ok) { /* urls = [] */
            conf_error_at(errs, g, "store.urls: at least one node");
            ok = -1;
        }
        return ok;
    }
    if (!strcmp(type, "sharded")) {
        out->kind = REDIS_SHARDED;
        if (!stores || !config_setting_is_aggregate(stores) || config_setting_length(stores) < 1 ||
            config_setting_length(stores) > CONF_REDIS_SHARDS_MAX || url || urls) {
            conf_error_at(errs, g, "store: type \"sharded\" takes stores = ( { type = \"redis\"; url = \"...\"; }, ... )"
                                   " (1 to %d)", CONF_REDIS_SHARDS_MAX);
            return -1;
        }
        out->nshards = (unsigned)config_setting_length(stores);
        out->shards = fg_calloc(out->nshards, sizeof *out->shards);
        for (unsigned i = 0; i < out->nshards; i++) {
            static const char *const known[] = {"type", "url", "urls", "read_from_replicas", NULL};
            const config_setting_t *sub = config_setting_get_elem(stores, i);
            const char *t;
            if (!config_setting_is_group(sub) || !config_setting_lookup_string(sub, "type", &t) ||
                (strcmp(t, "redis") && strcmp(t, "cluster"))) {
                conf_error_at(errs, sub, "store.stores: each is { type = \"redis\" or \"cluster\"; url(s) = ...; }");
                ok = -1;
                continue;
            }
            ok |= conf_check_members(sub, "store.stores", known, errs);
            ok |= conf_redis_parse(sub, t, &out->shards[i], errs);
        }
        return ok;
    }
    conf_error_at(errs, config_setting_get_member(g, "type"),
                  "store.type: \"%s\" is unknown (embedded, redis, cluster or sharded)", type);
    return -1;
}
