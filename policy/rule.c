/*
 * rule - the rules admins write, loaded from libconfig (see rule.h)
 *
 * Loading checks everything it can, reports every problem with its file
 * and line, and returns no rule set at all if any rule is bad: a rule file
 * is never half-applied.
 */
#include "rule.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "banrule.h"
#include "conf_errors.h"
#include "geo.h"
#include "num.h"
#include "trusted.h"

#define PER_MAX (366ULL * 86400 * 1000) /* a year */
#define COUNT_MAX 1000000000ULL          /* a billion events per window */

static const char *const kind_words[REQ__COUNT] = {
    [REQ_SMTP] = "smtp", [REQ_AUTH] = "auth", [REQ_REPORT] = "report", [REQ_HTTP] = "http",
    [REQ_IMAP] = "imap", [REQ_LOITER] = "loiter", [REQ_CONTACT] = "contact", [REQ_SCAN] = "scan",
};

static const char *const smtp_states[] = {"CONNECT", "EHLO", "HELO", "MAIL", "RCPT", "DATA",
                                          "END-OF-MESSAGE", "VRFY", "ETRN", NULL};

/* parse_sel - "kind" or "kind:sub" */
static int parse_sel(config_setting_t *s, const char *rule, rule_sel *out, conf_errors *errs)
{
    const char *text = config_setting_get_string(s), *colon;
    size_t klen;

    if (!text) {
        conf_error_at(errs, s, "rule \"%s\": on: expected a string such as \"smtp:RCPT\"", rule);
        return -1;
    }
    colon = strchr(text, ':');
    klen = colon ? (size_t)(colon - text) : strlen(text);
    out->kind = REQ_NONE;
    out->sub = NULL;
    for (int k = REQ_SMTP; k < REQ_UNKNOWN; k++)
        if (strlen(kind_words[k]) == klen && !strncasecmp(kind_words[k], text, klen))
            out->kind = (uint8_t)k;
    if (out->kind == REQ_NONE) {
        conf_error_at(errs, s, "rule \"%s\": on: unknown request kind \"%.*s\" (smtp, auth, report, http, imap, "
                      "loiter, contact or scan)", rule, (int)klen, text);
        return -1;
    }
    if (colon) {
        if (!colon[1]) {
            conf_error_at(errs, s, "rule \"%s\": on: nothing after ':' in \"%s\"", rule, text);
            return -1;
        }
        if (out->kind == REQ_SMTP) {
            int ok = 0;
            for (int i = 0; smtp_states[i]; i++)
                ok |= !strcasecmp(smtp_states[i], colon + 1);
            if (!ok) {
                conf_error_at(errs, s, "rule \"%s\": on: unknown SMTP state \"%s\" (CONNECT, HELO, MAIL, RCPT, DATA, "
                              "END-OF-MESSAGE, VRFY, ETRN)", rule, colon + 1);
                return -1;
            }
        }
        out->sub = fg_strdup(colon + 1);
        out->sublen = strlen(out->sub);
    }
    return 0;
}

/* rule_keyspec_parse - "attr", "attr/N" or "attr/N/M"; what names the setting in errors ("limit.key") */
int rule_keyspec_parse(config_setting_t *s, const char *rule, const char *what, keyspec *k, conf_errors *errs)
{
    const char *text = config_setting_get_string(s), *why;
    char name[64];
    size_t n;
    uint64_t a, b;

    memset(k, 0, sizeof *k);
    if (!text) {
        conf_error_at(errs, s, "rule \"%s\": %s: expected attribute names such as \"client_address/24\"", rule, what);
        return -1;
    }
    n = strcspn(text, "/");
    if (n >= sizeof name || (k->attr = req_attr_id(text, n)) < 0) {
        conf_error_at(errs, s, "rule \"%s\": %s: unknown attribute \"%.*s\"", rule, what, (int)n, text);
        return -1;
    }
    memcpy(name, text, n);
    name[n] = '\0';
    if (!text[n])
        return 0;
    if (k->attr != ATTR_CLIENT_ADDRESS && k->attr != ATTR_SERVER_ADDRESS) {
        conf_error_at(errs, s, "rule \"%s\": %s: only an address can take a prefix (\"%s\")", rule, what, text);
        return -1;
    }
    const char *p1 = text + n + 1, *p2 = strchr(p1, '/');
    if (num_parse_u64(p1, p2 ? (size_t)(p2 - p1) : strlen(p1), 0, 128, &a, &why) < 0 ||
        (p2 && num_parse_u64(p2 + 1, strlen(p2 + 1), 0, 128, &b, &why) < 0) || (p2 && a > 32)) {
        conf_error_at(errs, s, "rule \"%s\": %s: bad prefix in \"%s\" (write %s/24, %s/64 or %s/24/64)", rule,
                      what, text, name, name, name);
        return -1;
    }
    k->prefix = 1;
    if (p2) {
        k->v4 = (uint8_t)a;
        k->v6 = (uint8_t)b;
    } else if (a <= 32) {
        /* an IPv4 prefix; an IPv6 client is cut to its /64, the usual one-customer allocation */
        k->v4 = (uint8_t)a;
        k->v6 = a == 32 ? 128 : 64;
    } else {
        k->v4 = 32;
        k->v6 = (uint8_t)a;
    }
    return 0;
}

/* get_ms - optional duration member of a rule's group */
static int get_ms(config_setting_t *g, const char *name, const char *rule, uint64_t min, uint64_t max, uint64_t *out,
                  conf_errors *errs)
{
    config_setting_t *s = config_setting_get_member(g, name);
    char what[128];

    if (!s)
        return 0;
    snprintf(what, sizeof what, "rule \"%s\": %s.%s", rule, config_setting_name(g), name);
    return conf_duration(s, what, min, max, out, errs);
}

/* parse_rates - limit.rates = ["10/1m", "100/1h", ...]: several windows on the one key, each COUNT/DURATION */
static int parse_rates(config_setting_t *rates, rule *r, int buckets, conf_errors *errs)
{
    unsigned n = config_setting_is_array(rates) || config_setting_is_list(rates) ? (unsigned)config_setting_length(rates) : 0;
    int ok = 0;

    if (n < 1 || n > WINDOW_RATES_MAX) {
        conf_error_at(errs, rates, "rule \"%s\": limit.rates is a list of 1 to %d rates such as [\"10/1m\", \"100/1h\"]",
                      r->name, WINDOW_RATES_MAX);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        config_setting_t *e = config_setting_get_elem(rates, i);
        const char *text = config_setting_get_string(e), *slash = text ? strchr(text, '/') : NULL, *why;
        uint64_t count, per;
        if (!slash || num_parse_u64(text, (size_t)(slash - text), 1, COUNT_MAX, &count, &why) < 0 ||
            num_parse_duration(slash + 1, 1000, PER_MAX, &per, &why) < 0) {
            conf_error_at(errs, e, "rule \"%s\": limit.rates: \"%s\" is not COUNT/DURATION (count 1 to %llu, "
                          "duration 1s to 366d, e.g. \"10/1m\")", r->name, text ? text : "?", COUNT_MAX);
            ok = -1;
            continue;
        }
        for (unsigned j = 0; j < r->nrates; j++)
            if (r->rates[j].per_ms == per) {
                conf_error_at(errs, e, "rule \"%s\": limit.rates: two rates over the same window (\"%s\")", r->name,
                              text);
                ok = -1;
            }
        r->rates[r->nrates].count = (uint32_t)count;
        r->rates[r->nrates].per_ms = per;
        r->rates[r->nrates].k = (uint16_t)buckets;
        r->rate_per[r->nrates++] = fg_strdup(slash + 1);
    }
    if (r->nrates) {
        r->win = r->rates[0];
        r->per_text = fg_strdup(r->rate_per[0]);
    }
    return ok;
}

/* parse_distinct - limit.distinct = "attribute": the limit counts the distinct values of an attribute per key
 * in count/per (the key parts are parsed first) */
static int parse_distinct(config_setting_t *limit, rule *r, conf_errors *errs)
{
    config_setting_t *d = config_setting_get_member(limit, "distinct");
    const char *text = config_setting_get_string(d);
    int ok = 0;

    if (!text || req_attr_id(text, strcspn(text, "/")) < 0) {
        conf_error_at(errs, d, "rule \"%s\": limit.distinct: %s%s%s (an attribute name such as \"username\", "
                      "\"recipient\" or \"client_address/24\")", r->name, text ? "unknown attribute \"" : "expected a string",
                      text ? text : "", text ? "\"" : "");
        return -1;
    }
    if (rule_keyspec_parse(d, r->name, "limit.distinct", &r->distinct, errs) < 0)
        return -1;
    r->has_distinct = 1;
    if (config_setting_get_member(limit, "rates")) {
        conf_error_at(errs, d, "rule \"%s\": limit.distinct counts values in one window: write count and per, "
                      "not rates (or two rules)", r->name);
        ok = -1;
    }
    for (unsigned i = 0; i < r->nkeys; i++) {
        const keyspec *k = &r->keys[i], *dv = &r->distinct;
        /* distinct addresses inside the key's network make sense (key client_address/24, distinct client_address) */
        int finer = k->prefix && (!dv->prefix || dv->v4 > k->v4 || dv->v6 > k->v6);
        if (k->attr == dv->attr && !finer) {
            conf_error_at(errs, d, "rule \"%s\": limit.distinct: \"%s\" is also a part of the key, so every key "
                          "would see one value", r->name, text);
            ok = -1;
        }
    }
    return ok;
}

/* parse_limit - limit = { key = ...; count = N; per = "1h"; buckets = 10; } or rates = [...] for count/per */
static int parse_limit(config_setting_t *s, rule *r, conf_errors *errs)
{
    static const char *const known[] = {"key", "count", "per", "rates", "buckets", "distinct", NULL};
    config_setting_t *key = config_setting_get_member(s, "key");
    char where[128];
    long long count = 0;
    int buckets = WINDOW_K_DEFAULT, ok = 0;

    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, s, "rule \"%s\": limit must be a group { key = ...; count = N; per = \"1h\"; }", r->name);
        return -1;
    }
    snprintf(where, sizeof where, "rule \"%s\": limit", r->name);
    ok |= conf_check_members(s, where, known, errs);
    if (!key) {
        conf_error_at(errs, s, "rule \"%s\": limit needs a key (e.g. key = [\"client_address\"];)", r->name);
        ok = -1;
    } else {
        int list = config_setting_is_aggregate(key);
        unsigned n = list ? (unsigned)config_setting_length(key) : 1;
        if (n == 0 || n > KEY_PARTS_MAX) {
            conf_error_at(errs, key, "rule \"%s\": limit.key needs 1 to %d attributes", r->name, KEY_PARTS_MAX);
            ok = -1;
        }
        for (unsigned i = 0; i < n && i < KEY_PARTS_MAX; i++) {
            if (rule_keyspec_parse(list ? config_setting_get_elem(key, i) : key, r->name, "limit.key", &r->keys[r->nkeys],
                                   errs) < 0)
                ok = -1;
            else
                r->nkeys++;
        }
    }
    snprintf(where, sizeof where, "rule \"%s\": limit.buckets", r->name);
    config_setting_t *bk = conf_member(s, "buckets", CONFIG_TYPE_INT64, where, &ok, errs);
    if (bk && (config_setting_get_int64(bk) < 1 || config_setting_get_int64(bk) > WINDOW_K_MAX)) {
        conf_error_at(errs, bk, "rule \"%s\": limit.buckets must be 1 to %d", r->name, WINDOW_K_MAX);
        ok = -1;
    } else if (bk) {
        buckets = (int)config_setting_get_int64(bk);
    }
    r->has_limit = 1;
    if (config_setting_get_member(s, "distinct") && parse_distinct(s, r, errs) < 0)
        ok = -1;
    config_setting_t *rates = config_setting_get_member(s, "rates");
    if (rates) {
        if (config_setting_get_member(s, "count") || config_setting_get_member(s, "per")) {
            conf_error_at(errs, rates, "rule \"%s\": limit has rates or count and per, not both", r->name);
            ok = -1;
        }
        if (parse_rates(rates, r, buckets, errs) < 0)
            ok = -1;
        if (r->nrates == 1)
            r->nrates = 0; /* one rate is the count/per form */
        return ok;
    }
    if (!config_setting_lookup_int64(s, "count", &count) || count < 1 || (unsigned long long)count > COUNT_MAX) {
        conf_error_at(errs, s, "rule \"%s\": limit needs count = a whole number from 1 to %llu", r->name, COUNT_MAX);
        ok = -1;
    }
    r->win.count = (uint32_t)(count > 0 ? count : 1);
    config_setting_t *per = config_setting_get_member(s, "per");
    if (!per) {
        conf_error_at(errs, s, "rule \"%s\": limit needs per = a duration such as \"1h\"", r->name);
        ok = -1;
    } else if (get_ms(s, "per", r->name, 1000, PER_MAX, &r->win.per_ms, errs) < 0) {
        ok = -1;
    } else if (config_setting_type(per) == CONFIG_TYPE_STRING) {
        r->per_text = fg_strdup(config_setting_get_string(per));
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%llds", (long long)config_setting_get_int64(per));
        r->per_text = fg_strdup(buf);
    }
    r->win.k = (uint16_t)buckets;
    return ok;
}

/* parse_greylist - greylist = { delay; retry_window; pass_lifetime; network; network6; auto_allow; bounces; trusted; } */
static int parse_greylist(config_setting_t *s, rule *r, const listset *lists, conf_errors *errs)
{
    static const char *const known[] = {"delay", "retry_window", "pass_lifetime", "network", "network6",
                                        "auto_allow", "bounces", "trusted", NULL};
    greylist_spec *g = &r->grey;
    config_setting_t *e;
    char where[128];
    int ok = 0;

    r->has_greylist = 1;
    g->timing.delay_ms = 5 * 60 * 1000ULL;
    g->timing.retry_window_ms = 2 * 86400 * 1000ULL;
    g->timing.pass_lifetime_ms = 35 * 86400 * 1000ULL;
    g->timing.auto_allow = 5;
    g->net4 = 24;
    g->net6 = 64;
    g->bounces = 1;
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, s, "rule \"%s\": greylist must be a group { delay = \"5m\"; ... }", r->name);
        return -1;
    }
    snprintf(where, sizeof where, "rule \"%s\": greylist", r->name);
    ok |= conf_check_members(s, where, known, errs);
    ok |= get_ms(s, "delay", r->name, 0, 86400 * 1000ULL, &g->timing.delay_ms, errs);
    ok |= get_ms(s, "retry_window", r->name, 60 * 1000, 30 * 86400 * 1000ULL, &g->timing.retry_window_ms, errs);
    ok |= get_ms(s, "pass_lifetime", r->name, 3600 * 1000, PER_MAX, &g->timing.pass_lifetime_ms, errs);
    if (g->timing.retry_window_ms <= g->timing.delay_ms) {
        conf_error_at(errs, s, "rule \"%s\": greylist.retry_window must be longer than delay", r->name);
        ok = -1;
    }
    snprintf(where, sizeof where, "rule \"%s\": greylist.network", r->name);
    if ((e = conf_member(s, "network", CONFIG_TYPE_INT64, where, &ok, errs)) != NULL) {
        long long v = config_setting_get_int64(e);
        if (v < 0 || v > 32) {
            conf_error_at(errs, config_setting_get_member(s, "network"), "rule \"%s\": greylist.network is 0 to 32",
                          r->name);
            ok = -1;
        }
        g->net4 = (uint8_t)v;
    }
    snprintf(where, sizeof where, "rule \"%s\": greylist.network6", r->name);
    if ((e = conf_member(s, "network6", CONFIG_TYPE_INT64, where, &ok, errs)) != NULL) {
        long long v = config_setting_get_int64(e);
        if (v < 0 || v > 128) {
            conf_error_at(errs, config_setting_get_member(s, "network6"),
                          "rule \"%s\": greylist.network6 is 0 to 128", r->name);
            ok = -1;
        }
        g->net6 = (uint8_t)v;
    }
    snprintf(where, sizeof where, "rule \"%s\": greylist.auto_allow", r->name);
    if ((e = conf_member(s, "auto_allow", CONFIG_TYPE_INT64, where, &ok, errs)) != NULL) {
        long long v = config_setting_get_int64(e);
        if (v < 0 || v > UINT32_MAX) {
            conf_error_at(errs, config_setting_get_member(s, "auto_allow"),
                          "rule \"%s\": greylist.auto_allow is 0 (never) or more", r->name);
            ok = -1;
        }
        g->timing.auto_allow = (uint32_t)(v < 0 || v > UINT32_MAX ? 0 : v);
    }
    if ((e = config_setting_get_member(s, "bounces")) != NULL) {
        if (config_setting_type(e) != CONFIG_TYPE_BOOL) {
            conf_error_at(errs, e, "rule \"%s\": greylist.bounces is true or false", r->name);
            ok = -1;
        }
        g->bounces = config_setting_get_bool(e);
    }
    if ((e = config_setting_get_member(s, "trusted")) != NULL &&
        cond_parse_values(e, ATTR_CLIENT_ADDRESS, r->name, lists, &g->trusted, errs) < 0)
        ok = -1;
    return ok;
}

/* resolve_lists - point the action's ${list:NAME} at a map the rule's conditions use */
static int resolve_lists(rule *r, const listset *lists, config_setting_t *where, conf_errors *errs)
{
    int ok = 0;

    for (unsigned i = 0; i < r->action.nsegs; i++) {
        action_seg *seg = &r->action.segs[i];
        if (seg->var != VAR_LIST)
            continue;
        fg_list *l = listset_find(lists, seg->text);
        int used = 0;
        for (int u = 0; l && u < 2; u++) {
            const cond_set *cs = u ? &r->unless : &r->ifs;
            for (unsigned c = 0; c < cs->n; c++)
                for (unsigned a = 0; a < cs->conds[c].nalts; a++)
                    used |= cs->conds[c].alts[a].list == l;
        }
        if (!l || !list_is_map(l) || !used) {
            conf_error_at(errs, where, "rule \"%s\": ${list:%s} needs a map list of that name in a condition of the rule",
                          r->name, seg->text);
            ok = -1;
            continue;
        }
        seg->list = l;
    }
    return ok;
}

/* default_class - the store class of the first selector */
static uint8_t default_class(const rule_sel *sel)
{
    const char *sub = sel->sub ? sel->sub : "";
    switch (sel->kind) {
    case REQ_SMTP: return !strcasecmp(sub, "RCPT") ? KEY_RCPT : KEY_SMTP;
    case REQ_AUTH: return KEY_AUTH;
    case REQ_IMAP: return KEY_IMAP;
    case REQ_LOITER: return KEY_LOITER;
    case REQ_CONTACT: return KEY_CONTACT;
    case REQ_SCAN: return KEY_SCAN;
    case REQ_HTTP: return KEY_HTTP_ANON;
    case REQ_REPORT:
        if (!strcasecmp(sub, "loiter")) return KEY_LOITER;
        if (!strcasecmp(sub, "scan") || !strcasecmp(sub, "spamtrap")) return KEY_SCAN;
        if (!strcasecmp(sub, "contact")) return KEY_CONTACT;
        return KEY_AUTH;
    }
    return KEY_SMTP;
}

/* valid_name - letters, digits, - _ . */
static int valid_name(const char *s);

/* parse_event - event = "WORD": the report:WORD rules also run when this rule decides (engine.h) */
static int parse_event(config_setting_t *s, rule *r, conf_errors *errs)
{
    config_setting_t *e = config_setting_get_member(s, "event");
    const char *w = e ? config_setting_get_string(e) : NULL;

    if (!e)
        return 0;
    if (!w || !valid_name(w)) {
        conf_error_at(errs, e, "rule \"%s\": event is a word (letters, digits, '-', '_', '.'; at most %d) such as "
                      "\"spamtrap\"", r->name, KEY_NAME_MAX);
        return -1;
    }
    if (r->has_limit || r->has_greylist || r->has_ban) {
        conf_error_at(errs, e, "rule \"%s\": event is raised by a rule that decides at once (an action without "
                      "limit, greylist or ban)", r->name);
        return -1;
    }
    r->event = fg_strdup(w);
    return 0;
}

/* valid_name - letters, digits, - _ . */
static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > KEY_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* parse_rule - one rule; 0 ok, -1 errors */
static int parse_rule(config_setting_t *s, ruleset *rs, rule *r, conf_errors *errs)
{
    static const char *const known[] = {"name", "on", "if", "unless", "limit", "greylist", "ban", "action",
                                        "on_error", "dry_run", "event", NULL};
    const char *name = NULL, *action = NULL, *why;
    config_setting_t *on, *e;
    int ok = 0;

    memset(r, 0, sizeof *r);
    r->file = fg_strdup(config_setting_source_file(s) ? config_setting_source_file(s) : "?");
    r->line = (int)config_setting_source_line(s);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
        /* it still takes its place in the set, and the next rule's look for a second use of its name reads it */
        r->name = fg_strdup("?");
        conf_error_at(errs, s, "a rule is a group { name = ...; on = ...; ... }");
        return -1;
    }
    if (!config_setting_lookup_string(s, "name", &name) || !valid_name(name)) {
        conf_error_at(errs, s, "rule needs name = \"...\" (letters, digits, '-', '_', '.'; at most %d)", KEY_NAME_MAX);
        name = "?";
        ok = -1;
    }
    r->name = fg_strdup(name);
    for (unsigned i = 0; i < rs->n; i++)
        if (!strcmp(rs->rules[i].name, name)) {
            conf_error_at(errs, s, "rule \"%s\": the name is already used at line %d", name, rs->rules[i].line);
            ok = -1;
        }
    {
        char where[128];
        snprintf(where, sizeof where, "rule \"%s\"", name);
        ok |= conf_check_members(s, where, known, errs);
    }
    on = config_setting_get_member(s, "on");
    if (!on) {
        conf_error_at(errs, s, "rule \"%s\": needs on = \"smtp:RCPT\" (or auth, report:EVENT, http, ...)", name);
        ok = -1;
    } else {
        int list = config_setting_is_aggregate(on);
        unsigned n = list ? (unsigned)config_setting_length(on) : 1;
        r->sel = fg_calloc(n ? n : 1, sizeof *r->sel);
        for (unsigned i = 0; i < n; i++)
            if (parse_sel(list ? config_setting_get_elem(on, i) : on, name, &r->sel[r->nsel], errs) < 0)
                ok = -1;
            else
                r->nsel++;
        if (n == 0) {
            conf_error_at(errs, on, "rule \"%s\": on is empty", name);
            ok = -1;
        }
    }
    if (cond_set_parse(config_setting_get_member(s, "if"), name, rs->lists, &r->ifs, errs) < 0)
        ok = -1;
    if (cond_set_parse(config_setting_get_member(s, "unless"), name, rs->lists, &r->unless, errs) < 0)
        ok = -1;
    if ((e = config_setting_get_member(s, "limit")) && parse_limit(e, r, errs) < 0)
        ok = -1;
    if ((e = config_setting_get_member(s, "greylist")) && parse_greylist(e, r, rs->lists, errs) < 0)
        ok = -1;
    if ((e = config_setting_get_member(s, "ban")) && banrule_parse(e, r, errs) < 0)
        ok = -1;
    if (r->has_limit + r->has_greylist + r->has_ban > 1) {
        conf_error_at(errs, s, "rule \"%s\": a rule has one of limit, greylist and ban, not both (write two rules)", name);
        ok = -1;
    }
    if (parse_event(s, r, errs) < 0)
        ok = -1;
    if (r->has_ban) {
        /* a ban rule never decides: a banned client gets bans.action, from the next request on */
        if (config_setting_get_member(s, "action")) {
            conf_error_at(errs, config_setting_get_member(s, "action"), "rule \"%s\": a ban rule has no action (it "
                          "never decides; a banned client gets bans.action)", name);
            ok = -1;
        }
        action = "DUNNO";
    } else if (!config_setting_lookup_string(s, "action", &action)) {
        if (config_setting_get_member(s, "action")) {
            conf_error_at(errs, config_setting_get_member(s, "action"), "rule \"%s\": action must be a string", name);
            ok = -1;
        } else if (!r->has_limit && !r->has_greylist) {
            conf_error_at(errs, s, "rule \"%s\": needs an action, a limit or a greylist", name);
            ok = -1;
        }
        /* the default answers are temporary, so that mail is delayed, not lost */
        if (r->has_greylist)
            action = "DEFER_IF_PERMIT 4.2.0 Greylisted, please retry in $retry_after seconds";
        else if (r->nsel && r->sel[0].kind == REQ_SMTP)
            action = "DEFER_IF_PERMIT 4.7.1 Rate limit exceeded, try again in $retry_after seconds";
        else
            action = "REJECT Rate limit exceeded, try again in $retry_after seconds";
    }
    if (action_parse(action, &r->action, &why) < 0) {
        conf_error_at(errs, config_setting_get_member(s, "action") ? config_setting_get_member(s, "action") : s,
                      "rule \"%s\": %s: \"%s\"", name, why, action);
        ok = -1;
    } else if (resolve_lists(r, rs->lists, config_setting_get_member(s, "action") ? config_setting_get_member(s, "action") : s,
                             errs) < 0) {
        ok = -1;
    }
    if ((e = config_setting_get_member(s, "dry_run")) != NULL) {
        if (config_setting_type(e) != CONFIG_TYPE_BOOL) {
            conf_error_at(errs, e, "rule \"%s\": dry_run is true or false", name);
            ok = -1;
        }
        r->dry_run = config_setting_get_bool(e);
    }
    r->cls = r->nsel ? default_class(&r->sel[0]) : KEY_SMTP;
    r->on_error = RULE_ON_ERROR_STORE;
    if ((e = config_setting_get_member(s, "on_error")) != NULL) {
        const char *v = config_setting_get_string(e);
        if (v && !strcmp(v, "tempfail")) {
            r->on_error = ON_ERROR_TEMPFAIL;
        } else if (v && !strcmp(v, "allow")) {
            r->on_error = ON_ERROR_ALLOW;
        } else {
            conf_error_at(errs, e, "rule \"%s\": on_error: \"tempfail\" or \"allow\"", name);
            ok = -1;
        }
    }
    return ok;
}

/* rule_free - free a rule's parts */
static void rule_free(rule *r)
{
    for (unsigned i = 0; i < r->nsel; i++)
        fg_free(r->sel[i].sub);
    fg_free(r->sel);
    cond_set_free(&r->ifs);
    cond_set_free(&r->unless);
    cond_free(&r->grey.trusted);
    action_free(&r->action);
    fg_free(r->per_text);
    for (unsigned i = 0; i < r->nrates; i++)
        fg_free(r->rate_per[i]);
    if (r->nrates == 0)
        fg_free(r->rate_per[0]); /* a single rate written as rates = ["10/1m"] */
    fg_free(r->ban.reason);
    fg_free(r->event);
    fg_free(r->name);
    fg_free(r->file);
}

/* ruleset_empty - a set with no rules */
ruleset *ruleset_empty(void)
{
    ruleset *rs = fg_calloc(1, sizeof *rs);
    rs->refs = 1;
    rs->rx = cond_regex_new(0, 0, 0);
    rs->lists = listset_parse(NULL, NULL, NULL);
    return rs;
}

/* ruleset_parse - read the lists and the rules list */
ruleset *ruleset_parse(config_setting_t *rules, config_setting_t *lists, const char *dir, conf_errors *errs)
{
    ruleset *rs = ruleset_empty();
    unsigned n;
    int ok = 0;

    listset_free(rs->lists);
    rs->lists = listset_parse(lists, dir, errs);
    if (!rs->lists) {
        /* the rules are still read, so that -t reports their problems too */
        rs->lists = listset_parse(NULL, dir, errs);
        ok = -1;
    }
    if (!rules) {
        if (ok < 0) {
            ruleset_unref(rs);
            return NULL;
        }
        return rs;
    }
    if (!config_setting_is_aggregate(rules) || config_setting_type(rules) == CONFIG_TYPE_GROUP) {
        conf_error_at(errs, rules, "rules must be a list ( { ... }, { ... } )");
        ruleset_unref(rs);
        return NULL;
    }
    n = (unsigned)config_setting_length(rules);
    rs->rules = fg_calloc(n ? n : 1, sizeof *rs->rules);
    for (unsigned i = 0; i < n; i++) {
        if (parse_rule(config_setting_get_elem(rules, i), rs, &rs->rules[rs->n], errs) < 0)
            ok = -1;
        rs->n++;
    }
    if (ok < 0) {
        ruleset_unref(rs);
        return NULL;
    }
    return rs;
}

/* ruleset_ref - one more holder */
ruleset *ruleset_ref(ruleset *rs)
{
    rs->refs++;
    return rs;
}

/* ruleset_unref - one holder less */
void ruleset_unref(ruleset *rs)
{
    if (!rs || --rs->refs > 0)
        return;
    for (unsigned i = 0; i < rs->n; i++)
        rule_free(&rs->rules[i]);
    fg_free(rs->rules);
    cond_free(&rs->trusted);
    action_free(&rs->ban_action);
    cond_regex_free(rs->rx);
    listset_free(rs->lists);
    geo_free(rs->geo);
    fg_free(rs);
}

/* reads_attr - does any condition, key part or action text of r read attribute id? */
static int reads_attr(const rule *r, int id)
{
    for (unsigned i = 0; i < r->ifs.n; i++)
        if (r->ifs.conds[i].attr == id)
            return 1;
    for (unsigned i = 0; i < r->unless.n; i++)
        if (r->unless.conds[i].attr == id)
            return 1;
    for (unsigned i = 0; i < r->nkeys; i++)
        if (r->keys[i].attr == id)
            return 1;
    for (unsigned i = 0; i < r->action.nsegs; i++)
        if (r->action.segs[i].var == id)
            return 1;
    if (r->has_distinct && r->distinct.attr == id)
        return 1;
    return 0;
}

/* ruleset_use_geo - the set's GeoIP databases; every rule that reads country or asn must have its own */
int ruleset_use_geo(ruleset *rs, struct fg_geo *geo, conf_errors *errs)
{
    int ok = 0;

    geo_free(rs->geo);
    rs->geo = geo;
    for (unsigned i = 0; i < rs->n; i++) {
        const rule *r = &rs->rules[i];
        if (reads_attr(r, ATTR_COUNTRY) && !geo_has_country(geo)) {
            conf_error(errs, r->file, r->line, "rule \"%s\": country needs geoip = { country = \"PATH.mmdb\"; }",
                       r->name);
            ok = -1;
        }
        if (reads_attr(r, ATTR_ASN) && !geo_has_asn(geo)) {
            conf_error(errs, r->file, r->line, "rule \"%s\": asn needs geoip = { asn = \"PATH.mmdb\"; }", r->name);
            ok = -1;
        }
    }
    return ok;
}

/* sub_matches - the selector's sub (wlen bytes) against the request's; HELO and EHLO are one state */
static int sub_matches(const char *want, size_t wlen, const char *have, size_t len)
{
    if (wlen == len && (!memcmp(want, have, len) || !strncasecmp(want, have, len)))
        return 1;
    if ((!strcasecmp(want, "HELO") || !strcasecmp(want, "EHLO")) && len == 4 &&
        (!strncasecmp(have, "HELO", 4) || !strncasecmp(have, "EHLO", 4)))
        return 1;
    return 0;
}

/* rule_applies - does the rule select this request? */
int rule_applies(const rule *r, const fg_request *req)
{
    for (unsigned i = 0; i < r->nsel; i++) {
        size_t len;
        const char *sub;
        if (r->sel[i].kind != req->kind)
            continue;
        if (!r->sel[i].sub)
            return 1;
        sub = req_sub(req, &len);
        if (sub_matches(r->sel[i].sub, r->sel[i].sublen, sub, len))
            return 1;
    }
    return 0;
}

/* rule_class - the store class of a rule's counters for this request */
uint8_t rule_class(const rule *r, const fg_request *req)
{
    if (r->cls == KEY_HTTP_ANON && req->kind == REQ_HTTP) {
        size_t len;
        const char *v = req_get(req, ATTR_AUTHENTICATED, &len);
        return len == 3 && !strncasecmp(v, "yes", 3) ? KEY_HTTP_AUTHED : KEY_HTTP_ANON;
    }
    return r->cls;
}

/* ruleset_carry_stats - statistics go on across a reload, by rule name */
void ruleset_carry_stats(ruleset *next, ruleset *prev)
{
    for (unsigned i = 0; next && prev && i < next->n; i++) {
        const rule *old = rule_find(prev, next->rules[i].name);
        if (!old)
            continue;
        next->rules[i].matched += old->matched;
        next->rules[i].decided += old->decided;
        next->rules[i].regex_errors += old->regex_errors;
        next->rules[i].dry_would += old->dry_would;
        next->rules[i].banned += old->banned;
    }
}

/* ruleset_set_regex - the regex limits for values of at most max_value bytes */
void ruleset_set_regex(ruleset *rs, uint32_t match_limit, uint32_t depth_limit, size_t max_value)
{
    cond_regex_free(rs->rx);
    rs->rx = cond_regex_new(match_limit, depth_limit, max_value);
}

/* rule_find - a rule by name */
rule *rule_find(ruleset *rs, const char *name)
{
    for (unsigned i = 0; i < rs->n; i++)
        if (!strcmp(rs->rules[i].name, name))
            return &rs->rules[i];
    return NULL;
}

/* ruleset_trusted - loopback, or in the configuration's trusted list */
int ruleset_trusted(const ruleset *rs, const fg_addr *a)
{
    return trusted_addr(rs ? &rs->trusted : NULL, a);
}

/* ruleset_trusted_net - a network that holds or lies in a trusted one */
int ruleset_trusted_net(const ruleset *rs, const fg_addr *net, unsigned prefix)
{
    return trusted_net(rs ? &rs->trusted : NULL, net, prefix);
}
