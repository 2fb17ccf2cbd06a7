/*
 * engine - from a request to a verdict
 *
 * The rules are walked in file order. Conditions are checked in memory; a
 * rule that decides at once (an action without a limit) ends the walk. The
 * limits of the rules that applied before it go to the store as one
 * batch, so a request costs one store round trip however many limits it
 * meets; the first limit that is full gives the verdict, else the rule
 * that ended the walk, else DUNNO. The batch commits (counts the request
 * in every window) only when the verdict does not refuse the request: a
 * refused request is counted nowhere.
 *
 * A rule that cannot be evaluated (a regex stopped on its match, depth or
 * JIT stack limit: cond.h) applies its on_error: "tempfail" ends the walk
 * with DEFER_IF_PERMIT 4.3.0 and counts nothing in the store, "allow"
 * makes the rule not apply. Each such error is counted in the engine's and
 * the rule's statistics, and logged through the engine's log hook at most
 * once per rule per ENGINE_ERROR_LOG_MS, with the number left unlogged. When
 * the store does not answer, the verdict is the tempfail action if any rule
 * whose limit was asked says tempfail, else the rules after them decide.
 *
 * Bans come first: a request whose client_address is banned (the address, or a network of any prefix
 * length holding it: ban.h), or whose username or sasl_username is, gets bans.action with $reason and
 * $expires, a retry_after of the ban's time left and the ban's reason, before any rule and without the
 * store. Trusted clients (loopback, the top-level trusted) are never refused by a ban; a report is
 * never refused either (it is answered and counted as usual, so that ban rules see what a banned
 * client keeps doing).
 *
 * A dry-run rule (dry_run = true) is evaluated and counts as any other,
 * but never decides: its window is sent with STORE_DRY (it never refuses
 * the batch, and is not counted when it would have refused), and a dry-run
 * rule with an action alone does not end the walk. When it would have
 * decided (and no enforced rule before it did), the engine counts it in
 * the rule's dry_would and tells the dry hook what it would have answered.
 *
 * A dry-run greylist rule runs its step (the triplet is recorded, as it
 * would be) and only its refusal is ignored.
 *
 * A limit on distinct values (limit.distinct) is one window operation with
 * STORE_DISTINCT and the value's fingerprint (engine_distinct_fp): it
 * refuses a value not yet counted once count values are; a value already
 * counted passes and is not counted again.
 *
 * A limit with several rates is one operation on one key with every
 * window (store.h); when it refuses, the window with the latest retry
 * decides, and its count and window are the $count and $per of the action.
 *
 * Ban rules (banrule.h) count in a second batch, `side`, sent with the
 * first (pipelined beside it on a networked store, so the request still
 * waits one round trip; only when a ban rule or an event applies): its windows
 * are STORE_DRY (they never refuse) and it always commits, so a ban rule
 * counts every event it applies to whatever the verdict, and never
 * decides. A side window that refuses (count passed) bans the rule's key
 * (banrule_ban) once the store has answered, unless the client address is
 * trusted or the key is banned already; the ban holds from the next
 * request on. A dry-run ban rule bans nothing and tells the dry hook.
 *
 * Events raised by rules: when the rule that decides has `event = WORD`,
 * the rules selecting report:WORD run for the same request (its kind and
 * event seen as report and WORD, every other attribute as sent): their
 * limits and ban rules count in the side batch, and none of them decides
 * (the request's verdict is the raising rule's). An event is raised once:
 * the rules it runs raise nothing further.
 *
 * An evaluation is a caller-owned struct reused request after request; its
 * batch and verdict buffers grow to the rule set and then stay, so that a
 * request allocates nothing in the steady state.
 */
#ifndef FG_ENGINE_H
#define FG_ENGINE_H

#include <stdint.h>

#include "action.h"
#include "keys.h"
#include "conf.h"
#include "request.h"
#include "rule.h"
#include "store.h"

#define ENGINE_DISTINCT_KEY_BYTES 32 /* a BLAKE2b key (crypto_generichash_KEYBYTES) */
#define ENGINE_ERROR_LOG_MS 60000 /* a rule's evaluation errors are logged at most once per minute */
#define ENGINE_TEMPFAIL_ACTION "DEFER_IF_PERMIT 4.3.0 Policy service temporarily unavailable, try again later"

/* how a verdict came about: the `verdict` label of /metrics and the verdicts.* lines of stats */
enum verdict_kind {
    VERDICT_NONE = 0,    /* no rule decided: DUNNO */
    VERDICT_ACCEPT,      /* a rule decided with an action that lets the request through (OK, WARN, ...) */
    VERDICT_TARPIT,      /* a rule decided with TARPIT N: through, after N seconds */
    VERDICT_REJECT,      /* a rule without a limit decided with a refusing action */
    VERDICT_LIMIT,       /* a full limit decided */
    VERDICT_GREYLIST,    /* a greylist step deferred the request */
    VERDICT_STORE_ERROR, /* the store did not answer: on_error applied */
    VERDICT_RULE_ERROR,  /* a rule could not be evaluated (a regex limit) and says tempfail */
    VERDICT_BAN,         /* the client (address, network or username) is banned: bans.action, before any rule */
    VERDICT__COUNT
};

typedef struct verdict {
    char action[ACTION_MAX + 1]; /* the access(5) action line, without "action=" */
    char reason[KEY_NAME_MAX + 1]; /* the deciding rule's name, "" if none */
    uint64_t retry_s;            /* seconds until a limit frees up; 0 = not a limit */
    int store_failed;            /* the store did not answer: on_error applied */
    int refused;                 /* the action refuses the request (REJECT, DEFER*, 4NN, 5NN) */
    uint32_t tarpit_s;           /* TARPIT N: delay the client N seconds, then let it through; 0 = none */
    uint8_t kind;                /* enum verdict_kind */
} verdict;

typedef struct engine_stats {
    uint64_t requests;   /* evaluated */
    uint64_t refused;    /* verdicts that refuse */
    uint64_t limited;    /* verdicts from a full limit */
    uint64_t greylisted; /* verdicts from a greylist */
    uint64_t store_errors; /* verdicts from on_error */
    uint64_t regex_errors; /* regex matches stopped by a limit (each then applied its rule's on_error) */
    uint64_t grey[GREY_AUTO + 1]; /* greylist steps by enum grey_result (index 0 unused) */
    uint64_t ban_refused;  /* requests answered with bans.action (a ban on the address, network or username) */
    uint64_t bans_issued;  /* bans made (by rules or by hand), re-bans included; counted by the daemon */
    uint64_t bans_removed; /* unbans */
    uint64_t bans_expired; /* bans that ran out */
    uint64_t bans_made;  /* bans ban rules made */
    uint64_t events_raised; /* events raised by a deciding rule's `event` */
} engine_stats;

/* engine_wall_fn - the wall clock in ms at daemon-clock time now_ms (bans are dated in wall time) */
typedef uint64_t (*engine_wall_fn)(void *arg, uint64_t now_ms);

/* engine_log_fn - where the engine's rate-limited messages go (the daemon's log); NULL: nowhere. A message
 * may hold a client's bytes (a username): the hook escapes them, as log.h's lines do */
typedef void (*engine_log_fn)(const char *msg, void *arg);
/* engine_dry_fn - a dry-run rule would have decided: its name, the action it would have given and the
 * retry_after it would have said (0: none); the daemon logs it, rate-limited (decision_log.h); NULL: nowhere */
typedef void (*engine_dry_fn)(const fg_request *req, const char *rule, const char *action, uint64_t retry_s,
                              void *arg);

#define ENGINE_FP_MEMO 64        /* fingerprints of recent limit.distinct values kept (engine_distinct_fp) */
#define ENGINE_FP_MEMO_VALUE 47  /* longest value (typed, as a key part) kept there */

/* engine_fp_memo - one remembered fingerprint: BLAKE2b costs about 1,850 instructions a value, more than the rest
 * of a distinct check, and the values a server sees (recipient domains, usernames) repeat */
typedef struct engine_fp_memo {
    uint64_t fp;           /* the fingerprint */
    uint8_t len;           /* bytes of value; 0: empty */
    unsigned char value[ENGINE_FP_MEMO_VALUE]; /* the value as engine_distinct_fp hashes it */
} engine_fp_memo;

typedef struct engine {
    store *store;          /* where counters live */
    struct ban_index *bans; /* bans in force (ban.h): checked before any rule, fed by ban rules; NULL = none */
    int on_error;          /* enum conf_on_error: store.on_error, the default of every rule's */
    engine_stats stats;
    engine_log_fn log;     /* warnings, already rate-limited */
    void *log_arg;
    engine_dry_fn dry;     /* would-have decisions of dry-run rules */
    void *dry_arg;
    engine_wall_fn wall;   /* daemon clock to wall clock for bans; NULL: now_ms is wall time (tests) */
    void *wall_arg;
    int distinct_keyed;    /* distinct_key is set; 0: the fingerprints are unkeyed BLAKE2b */
    unsigned char distinct_key[ENGINE_DISTINCT_KEY_BYTES]; /* keys the fingerprints of limit.distinct values
                           * (BLAKE2b): store.distinct_key, the same on every daemon sharing a store (a fleet
                           * on Redis); the embedded store draws its own when none is set */
    int memo_keyed;        /* the memo's fingerprints were made with distinct_keyed and memo_key (a key set
                           * later empties it) */
    unsigned char memo_key[ENGINE_DISTINCT_KEY_BYTES];
    engine_fp_memo memo[ENGINE_FP_MEMO]; /* recent fingerprints, by a cheap hash of the value: a value whose
                           * slot another holds is hashed anew (a client can make values share a slot, which
                           * costs what no memo costs) */
} engine;

typedef struct eval eval;
typedef void (*eval_done_fn)(eval *ev, void *arg);

struct eval {
    engine *eng;
    ruleset *rs;           /* held while the evaluation runs */
    fg_request *req;
    store_batch batch;     /* the request's store operations */
    uint32_t *op_rule;     /* rule index of each operation */
    size_t op_rule_cap;
    store_batch side;      /* ban rules' and raised events' windows: never refuse, always commit */
    uint32_t *side_rule;   /* rule index of each side operation */
    size_t side_rule_cap;
    int pending;           /* batches the store has yet to answer */
    long decider;          /* rule that decides without the store, -1 none */
    long failed;           /* rule whose on_error "tempfail" decides, -1 none */
    long dry_decider;      /* first dry-run rule that would decide at once (an action alone), -1 none */
    verdict v;             /* the result */
    eval_done_fn done;
    void *arg;
};

enum { ENGINE_DONE = 0, ENGINE_PENDING = 1 };

/* verdict_kind_name - the label of a verdict kind ("none", "accept", "tarpit", ...) */
const char *verdict_kind_name(unsigned kind);

/* engine_eval - decide a request: ENGINE_DONE (ev->v is set) or ENGINE_PENDING (done is called later) */
int engine_eval(engine *e, eval *ev, ruleset *rs, fg_request *req, uint64_t now_ms, eval_done_fn done, void *arg);
/* eval_release - free an evaluation's buffers */
void eval_release(eval *ev);
/* engine_key - build the store key of a rule's limit for a request */
void engine_key(const rule *r, fg_request *req, key_buf *k);
/* engine_ban - the ban that refuses this request (NULL: none; trusted and report requests never are); the
 * record is ban.h's scratch, valid until the next call on the index */
const struct ban_rec *engine_ban(engine *e, ruleset *rs, fg_request *req, uint64_t now_ms);
/* engine_ban_verdict - the verdict a ban gives (bans.action with $reason and $expires, retry_after, reason);
 * no statistic moves (explain shows it) */
void engine_ban_verdict(const engine *e, const ruleset *rs, const fg_request *req, const struct ban_rec *b,
                        uint64_t now_ms, verdict *v);
/* engine_action - the action rule r gives the request, with retry_s and the deciding window `which` of its
 * rates for $retry_after, $count and $per (explain shows it without deciding) */
void engine_action(const rule *r, fg_request *req, uint64_t retry_s, unsigned which, char *out, size_t size);
/* engine_distinct_fp - the fingerprint of a request's value of a rule's limit.distinct attribute: BLAKE2b
 * (keyed with e->distinct_key) of the value as a key part (an address cut to the rule's prefix, text folded
 * to lower case), so that every daemon of a fleet computes the same; the value itself is never stored */
uint64_t engine_distinct_fp(engine *e, const rule *r, fg_request *req);
/* engine_limit_op - put the windows of a rule's limit (one, or its rates) on a window or peek operation */
void engine_limit_op(const rule *r, store_op *op);

#endif
