/*
 * banrule - ban rules (see banrule.h)
 *
 * SECURITY
 *     The key of a ban comes from the request (client_address, username): an address that does not
 *     parse and an empty or over-long username ban nothing; a username is copied by the index, bounded
 *     to 255 bytes (ban_user). Durations are bounded at load, and escalation saturates at max; its
 *     cost does not grow with the ban's number (which a fleet peer's history record can make 4 billion).
 */
#include "banrule.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "alloc.h"
#include "num.h"

#define BANRULE_PER_MAX (366ULL * 86400 * 1000) /* ms: a year, as a limit's per */
#define BANRULE_COUNT_MAX 1000000000ULL         /* events per window, as a limit's count */

/* get_seconds - an optional duration member in whole seconds (1s to BANRULE_DURATION_MAX); "forever"
 * gives 0 when allow_forever; 1 when absent, 0 set, -1 error */
static int get_seconds(config_setting_t *g, const char *name, const rule *r, int allow_forever, uint64_t *out,
                       conf_errors *errs)
{
    config_setting_t *s = config_setting_get_member(g, name);
    const char *text = s ? config_setting_get_string(s) : NULL;
    char what[128];
    uint64_t ms;

    if (!s)
        return 1;
    if (text && !strcmp(text, "forever")) {
        if (allow_forever) {
            *out = 0;
            return 0;
        }
        conf_error_at(errs, s, "rule \"%s\": ban.%s cannot be \"forever\"", r->name, name);
        return -1;
    }
    snprintf(what, sizeof what, "rule \"%s\": ban.%s", r->name, name);
    if (conf_duration(s, what, 1000, BANRULE_DURATION_MAX * 1000, &ms, errs) < 0)
        return -1;
    *out = ms / 1000;
    return 0;
}

/* parse_key - ban.key: one part, client_address (/N, /N/M) or username */
static int parse_key(config_setting_t *key, rule *r, conf_errors *errs)
{
    int list = config_setting_is_aggregate(key);

    if (list && config_setting_length(key) != 1) {
        conf_error_at(errs, key, "rule \"%s\": ban.key is one attribute: \"client_address\" (\"client_address/24\", "
                      "\"client_address/24/64\") or \"username\"", r->name);
        return -1;
    }
    if (rule_keyspec_parse(list ? config_setting_get_elem(key, 0) : key, r->name, "ban.key", &r->keys[0], errs) < 0)
        return -1;
    if (r->keys[0].attr != ATTR_CLIENT_ADDRESS && r->keys[0].attr != ATTR_USERNAME) {
        conf_error_at(errs, key, "rule \"%s\": ban.key: a ban is on \"client_address\" (with a prefix if wanted) or "
                      "\"username\", not \"%s\"", r->name, req_attr_name(r->keys[0].attr));
        return -1;
    }
    r->nkeys = 1;
    return 0;
}

/* banrule_parse - ban = { key; count; per; duration; factor; max; history; reason; buckets; } */
int banrule_parse(config_setting_t *s, rule *r, conf_errors *errs)
{
    static const char *const known[] = {"key", "count", "per", "duration", "factor", "max", "history", "reason",
                                        "buckets", NULL};
    config_setting_t *e;
    char where[128];
    long long count = 0;
    int buckets = WINDOW_K_DEFAULT, ok = 0, got;
    uint64_t ms = 0;

    r->has_ban = 1;
    r->ban.factor = 1.0;
    r->ban.history_s = BANRULE_HISTORY_DEFAULT;
    r->ban.duration_s = 3600;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, s, "rule \"%s\": ban must be a group { key = \"client_address\"; count = 5; per = \"10m\"; "
                      "duration = \"1h\"; }", r->name);
        return -1;
    }
    snprintf(where, sizeof where, "rule \"%s\": ban", r->name);
    ok |= conf_check_members(s, where, known, errs);
    if (!(e = config_setting_get_member(s, "key"))) {
        conf_error_at(errs, s, "rule \"%s\": ban needs a key (key = \"client_address/24\"; or \"username\")", r->name);
        ok = -1;
    } else if (parse_key(e, r, errs) < 0) {
        ok = -1;
    }
    if (!config_setting_lookup_int64(s, "count", &count) || count < 1 || (unsigned long long)count > BANRULE_COUNT_MAX) {
        conf_error_at(errs, config_setting_get_member(s, "count") ? config_setting_get_member(s, "count") : s,
                      "rule \"%s\": ban needs count = a whole number from 1 to %llu (events past it ban the key)",
                      r->name, BANRULE_COUNT_MAX);
        ok = -1;
        count = 1;
    }
    r->win.count = (uint32_t)count;
    if (!(e = config_setting_get_member(s, "per"))) {
        conf_error_at(errs, s, "rule \"%s\": ban needs per = a duration such as \"10m\"", r->name);
        ok = -1;
    } else {
        snprintf(where, sizeof where, "rule \"%s\": ban.per", r->name);
        if (conf_duration(e, where, 1000, BANRULE_PER_MAX, &ms, errs) < 0)
            ok = -1;
        r->win.per_ms = ms ? ms : 1000;
        char buf[32];
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            snprintf(buf, sizeof buf, "%llds", (long long)config_setting_get_int64(e));
        fg_free(r->per_text); /* a limit too (an error reported by the rule) wrote its own */
        r->per_text = fg_strdup(config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : buf);
    }
    snprintf(where, sizeof where, "rule \"%s\": ban.buckets", r->name);
    config_setting_t *bk = conf_member(s, "buckets", CONFIG_TYPE_INT64, where, &ok, errs);
    if (bk && (config_setting_get_int64(bk) < 1 || config_setting_get_int64(bk) > WINDOW_K_MAX)) {
        conf_error_at(errs, bk, "rule \"%s\": ban.buckets must be 1 to %d", r->name, WINDOW_K_MAX);
        ok = -1;
    } else if (bk) {
        buckets = (int)config_setting_get_int64(bk);
    }
    r->win.k = (uint16_t)buckets;
    if (get_seconds(s, "duration", r, 1, &r->ban.duration_s, errs) < 0)
        ok = -1;
    if ((got = get_seconds(s, "max", r, r->ban.duration_s == 0, &r->ban.max_s, errs)) < 0) {
        ok = -1;
    } else if (got == 1) {
        r->ban.max_s = r->ban.duration_s > BANRULE_MAX_DEFAULT ? r->ban.duration_s : BANRULE_MAX_DEFAULT;
    } else if (r->ban.duration_s && r->ban.max_s < r->ban.duration_s) {
        conf_error_at(errs, config_setting_get_member(s, "max"), "rule \"%s\": ban.max must be at least the duration",
                      r->name);
        ok = -1;
    }
    if (get_seconds(s, "history", r, 0, &r->ban.history_s, errs) < 0)
        ok = -1;
    if ((e = config_setting_get_member(s, "factor")) != NULL) {
        double f = config_setting_type(e) == CONFIG_TYPE_FLOAT ? config_setting_get_float(e)
                   : config_setting_type(e) == CONFIG_TYPE_INT || config_setting_type(e) == CONFIG_TYPE_INT64
                       ? (double)config_setting_get_int64(e) : -1.0;
        if (!(f >= 1.0 && f <= 1000.0)) {
            conf_error_at(errs, e, "rule \"%s\": ban.factor is a number from 1.0 to 1000 (2.0 doubles each repeat)",
                          r->name);
            ok = -1;
        } else {
            r->ban.factor = f;
        }
    }
    if ((e = config_setting_get_member(s, "reason")) != NULL) {
        const char *t = config_setting_get_string(e);
        if (!t || !*t || strlen(t) > 200 || strpbrk(t, "\r\n")) {
            conf_error_at(errs, e, "rule \"%s\": ban.reason is a one-line text of 1 to 200 bytes", r->name);
            ok = -1;
        } else {
            r->ban.reason = fg_strdup(t);
        }
    }
    return ok;
}

/* banrule_duration - duration x factor^(n-1), capped at max; 0 (for ever) stays 0. One pow(), not n - 1
 * multiplications: n comes from the history, which a journal or a fleet peer can set to 4 billion, and with
 * factor 1.0 such a loop held the event loop for seconds */
uint64_t banrule_duration(const ban_spec *b, uint32_t n)
{
    double d;

    if (!b->duration_s)
        return 0;
    d = (double)b->duration_s * (n > 1 ? pow(b->factor, (double)(n - 1)) : 1.0);
    if (!(d < (double)b->max_s)) /* an infinity too */
        return b->max_s;
    return (uint64_t)d;
}

/* banrule_key - the address cut to the key's prefix, or the username. A network that holds a trusted address
 * (loopback, trusted = [...]) is not the key: the export would have the firewall drop that address too, and a
 * trusted address is never banned; the client's own address is (it is not trusted: ban_hit checked) */
int banrule_key(const ruleset *rs, const rule *r, fg_request *req, ban_rec *out)
{
    const keyspec *ks = &r->keys[0];
    size_t len;

    memset(out, 0, sizeof *out);
    if (ks->attr == ATTR_USERNAME) {
        const char *v = req_get(req, ATTR_USERNAME, &len);
        return ban_user(v, len, out);
    }
    const fg_addr *a = req_client_addr(req);
    if (!a)
        return -1;
    fg_addr m = *a;
    unsigned prefix = m.family == 4 ? (ks->prefix ? ks->v4 : 32) : (ks->prefix ? ks->v6 : 128);
    if (prefix > addr_bits(&m))
        prefix = addr_bits(&m);
    addr_mask(&m, prefix);
    if (prefix < addr_bits(&m) && ruleset_trusted_net(rs, &m, prefix)) {
        m = *a;
        prefix = addr_bits(&m);
    }
    out->family = m.family;
    memcpy(out->bytes, m.bytes, sizeof out->bytes);
    out->prefix = (uint8_t)prefix;
    addr_format(&m, out->net, sizeof out->net);
    if (prefix < addr_bits(&m)) {
        size_t n = strlen(out->net);
        snprintf(out->net + n, sizeof out->net - n, "/%u", prefix);
    }
    return 0;
}

/* banrule_ban - ban the key of r for this request unless it is banned already */
int banrule_ban(struct ban_index *bi, const ruleset *rs, const rule *r, fg_request *req, uint64_t now_s,
                ban_rec *made)
{
    uint64_t d;

    if (banrule_key(rs, r, req, made) < 0)
        return -1;
    if (ban_find(bi, made, now_s))
        return 0; /* no stacking, and the history is not bumped */
    made->times = ban_history_next(bi, made, now_s, r->ban.history_s);
    d = banrule_duration(&r->ban, made->times);
    made->since = now_s;
    made->expires = d ? now_s + d : 0;
    made->reason = r->ban.reason ? r->ban.reason : r->name;
    made->rule = r->name;
    int rc = ban_add(bi, made);
    return rc == BAN_FULL ? BAN_FULL : rc < 0 ? -1 : 1;
}
