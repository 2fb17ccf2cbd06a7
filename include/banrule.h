/*
 * banrule - ban rules: `ban = { key; count; per; duration; factor; max; history; reason; }` in a rule
 *
 * What: the parsing of a rule's ban group, and the engine's part of a ban rule once its window has
 * answered: the key the ban is on (an address cut to the key's prefix, or a username), the duration of
 * the n-th ban of a key (duration x factor^(n-1), capped at max; for ever stays for ever), and the ban
 * itself (ban_add) unless the key is already banned (no stacking: nor is its history bumped).
 *
 * Why a module of its own: the rule file reader and the engine both need it, and neither should grow
 * past its size for it. A ban rule counts exactly as a limit does (the rule's keys[0] and win, the same
 * STORE_WINDOW operation and store class), so its counter is seen and reset by `floodgatectl counter`
 * like any limit's; past `count` events in `per` the window refuses, and that refusal is the ban.
 *
 * INVARIANTS
 *     A ban rule has exactly one key part: client_address (with /N, /N/M as limit keys) or username.
 *     It never decides a request: it has no action, and its window never refuses the batch (engine.h).
 *     Durations are whole seconds; max_s >= duration_s unless duration_s is 0 (for ever).
 *
 * A ban's since and expiry are wall-clock seconds (the engine's wall hook, as enforcement reads them).
 */
#ifndef FG_BANRULE_H
#define FG_BANRULE_H

#include <libconfig.h>
#include <stdint.h>

#include "ban.h"
#include "conf_errors.h"
#include "request.h"
#include "rule.h"

#define BANRULE_DURATION_MAX (10ULL * 366 * 86400) /* seconds: the longest ban that is not for ever */
#define BANRULE_HISTORY_DEFAULT (7ULL * 86400)      /* seconds a ban is remembered for escalation */
#define BANRULE_MAX_DEFAULT (7ULL * 86400)          /* the cap when max is not given (or duration, if longer) */

/* banrule_parse - the rule's ban = { ... } into r (has_ban, keys, win, ban); 0, or -1 with errors */
int banrule_parse(config_setting_t *s, rule *r, conf_errors *errs);
/* banrule_duration - seconds the n-th ban (n >= 1) of a key lasts under b; 0 = for ever */
uint64_t banrule_duration(const ban_spec *b, uint32_t n);
/* banrule_key - the key rule r bans for this request into out: the client's own address in place of a network
 * that holds an address trusted by rs (NULL: loopback only); 0, or -1 when the request has none */
int banrule_key(const ruleset *rs, const rule *r, fg_request *req, ban_rec *out);
/* banrule_ban - rule r's window refused this request at now_s: ban its key (banrule_key) unless it is already
 * banned; 1 banned (made filled in), 0 already banned, -1 no key or out of memory */
int banrule_ban(struct ban_index *bi, const ruleset *rs, const rule *r, fg_request *req, uint64_t now_s,
                ban_rec *made);

#endif
