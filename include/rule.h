/*
 * rule - the rules admins write, loaded from libconfig
 *
 * A rule applies to the requests its `on` selects ("smtp:RCPT", "auth",
 * "report:auth_failure", a list of them), holds when its `if` conditions
 * all hold and its `unless` conditions do not all hold, and then either
 * decides at once (`action` alone) or counts the request in a sliding
 * window (`limit`) and decides only when the window is full, or greylists
 * (`greylist`) and decides only when the triplet must wait, or counts it
 * for a ban (`ban`: banrule.h) and never decides.
 *
 * A rule set is immutable once loaded and reference-counted: a request in
 * flight keeps the set it started with across a reload.
 */
#ifndef FG_RULE_H
#define FG_RULE_H

#include <libconfig.h>
#include <stdint.h>

#include "action.h"
#include "cond.h"
#include "grey.h"
#include "keys.h"
#include "list.h"
#include "window.h"

/* what a rule answers when it cannot be evaluated: a regex stopped on a limit, or the store did not answer */
enum conf_on_error { ON_ERROR_TEMPFAIL, ON_ERROR_ALLOW };
#define RULE_ON_ERROR_STORE (-1) /* a rule's on_error when not set: store.on_error */

typedef struct rule_sel {
    uint8_t kind;   /* enum req_kind */
    char *sub;      /* protocol_state, event, ... ; NULL = any */
    size_t sublen;  /* its length */
} rule_sel;

typedef struct keyspec {
    int attr;        /* attribute id */
    uint8_t prefix;  /* address attribute cut to a network */
    uint8_t v4, v6;  /* prefix lengths */
} keyspec;

typedef struct greylist_spec {
    grey_spec timing;    /* delay, retry_window, pass_lifetime, auto_allow */
    uint8_t net4, net6;  /* client network of the triplet */
    int bounces;         /* greylist the empty sender too */
    cond trusted;        /* client_address alternatives never greylisted (loopback always) */
} greylist_spec;

/* ban_spec - a ban rule's ban = { ... } beyond its window (key and count/per live in the rule) */
typedef struct ban_spec {
    uint64_t duration_s;     /* the first ban; 0 = for ever */
    double factor;           /* each repeat within the history multiplies the duration (>= 1.0) */
    uint64_t max_s;          /* the cap of an escalated duration (>= duration_s); unused when for ever */
    uint64_t history_s;      /* how long a ban is remembered for escalation (default 7d) */
    char *reason;            /* ban.reason, NULL: the rule's name */
} ban_spec;

typedef struct rule {
    char *name;              /* unique, at most KEY_NAME_MAX */
    char *file;              /* where it was written */
    int line;
    rule_sel *sel;           /* on */
    unsigned nsel;
    cond_set ifs;            /* if: all hold */
    cond_set unless;         /* unless: vetoes when all hold */
    int has_limit;           /* limit = { ... } */
    keyspec keys[KEY_PARTS_MAX];
    unsigned nkeys;
    window_spec win;         /* count, per, buckets (rates: the first rate) */
    char *per_text;          /* the window as written, for $per (rates: the first rate's) */
    unsigned nrates;         /* limit.rates: 2..WINDOW_RATES_MAX windows on the one key; 0 = count/per */
    window_spec rates[WINDOW_RATES_MAX]; /* each rate's window, in the order written */
    char *rate_per[WINDOW_RATES_MAX];    /* each rate's window as written, for $per when it decides */
    int has_distinct;        /* limit.distinct: the limit counts distinct values of an attribute, not events */
    keyspec distinct;        /* the attribute whose values are counted (an address may take a prefix) */
    int dry_run;             /* dry_run = true: matches and counts, never decides; what it would do is logged */
    int has_greylist;        /* greylist = { ... } */
    greylist_spec grey;
    int has_ban;             /* ban = { ... }: counts in keys/win like a limit, bans past count, never decides */
    ban_spec ban;
    char *event;             /* event = "WORD": deciding also runs the report:WORD rules (engine.h); NULL none */
    uint8_t cls;             /* store class of its counters (http: chosen per request) */
    action_tmpl action;      /* what it answers when it decides */
    int on_error;            /* enum conf_on_error, or RULE_ON_ERROR_STORE */
    uint64_t matched;        /* statistics: requests it applied to */
    uint64_t decided;        /* statistics: requests it decided */
    uint64_t regex_errors;   /* statistics: matches stopped by a regex limit */
    uint64_t dry_would;      /* statistics: requests a dry-run rule would have decided */
    uint64_t banned;         /* statistics: bans a ban rule made (a dry-run one: would have made) */
    uint64_t dry_log_ms;     /* when its next would-have line may be logged */
    uint64_t dry_unlogged;   /* would-have decisions since the last one logged */
    uint64_t error_log_ms;   /* when its next error may be logged */
    uint64_t errors_unlogged; /* errors since the last one logged */
} rule;

typedef struct ruleset {
    rule *rules;             /* in file order */
    unsigned n;
    unsigned refs;           /* holders: the daemon and requests in flight */
    cond_regex *rx;          /* shared by every regex match: match data, limits, JIT stack */
    listset *lists;          /* the lookup lists the rules use */
    struct fg_geo *geo;      /* GeoIP databases (geoip = {...}), NULL = none */
    cond trusted;            /* top-level trusted + bans.trusted (trusted.h): never banned, never greylisted */
    action_tmpl ban_action;  /* bans.action ($reason, $expires); source NULL: CONF_BANS_ACTION_DEFAULT */
} ruleset;

/* ruleset_parse - read `lists` and the `rules` list; NULL (with errors) if anything is bad */
ruleset *ruleset_parse(config_setting_t *rules, config_setting_t *lists, const char *dir, conf_errors *errs);
/* ruleset_empty - a set with no rules (every request: DUNNO) */
ruleset *ruleset_empty(void);
ruleset *ruleset_ref(ruleset *rs);
/* ruleset_unref - drop one reference, free on the last; NULL is fine */
void ruleset_unref(ruleset *rs);
/* rule_applies - does the rule select this request's kind and sub? */
int rule_applies(const rule *r, const fg_request *req);
/* rule_class - the store class of a rule's counters for this request */
uint8_t rule_class(const rule *r, const fg_request *req);
/* ruleset_use_geo - hand the set its GeoIP databases (it closes them) and check that every rule reading
 * country or asn has its database; errors name the rule's file and line; 0 ok, -1 reported */
int ruleset_use_geo(ruleset *rs, struct fg_geo *geo, conf_errors *errs);
/* ruleset_carry_stats - a reload: each rule of next goes on from the statistics of the rule of the same
 * name in prev, so that counters shown by stats and /metrics never go back (Prometheus counters) */
void ruleset_carry_stats(ruleset *next, ruleset *prev);
/* ruleset_set_regex - the regex limits (0: the default) for values of at most max_value bytes */
void ruleset_set_regex(ruleset *rs, uint32_t match_limit, uint32_t depth_limit, size_t max_value);
/* ruleset_trusted - is this address trusted (loopback, top-level trusted, bans.trusted)? Never banned, never
 * greylisted; ban rules ask it before they ban */
int ruleset_trusted(const ruleset *rs, const fg_addr *a);
/* ruleset_trusted_net - would a ban on this network reach a trusted address? (manual bans are refused) */
int ruleset_trusted_net(const ruleset *rs, const fg_addr *net, unsigned prefix);
/* rule_keyspec_parse - one key part ("attr", "attr/N", "attr/N/M") into k; what names the setting in
 * errors ("limit.key", "ban.key"); 0, or -1 reported */
int rule_keyspec_parse(config_setting_t *s, const char *rule, const char *what, keyspec *k, conf_errors *errs);
/* rule_find - a rule by name, NULL if none */
rule *rule_find(ruleset *rs, const char *name);

#endif
