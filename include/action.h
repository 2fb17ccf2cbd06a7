/*
 * action - the reply text of a rule, with $attribute expansion
 *
 * An action is a Postfix access(5) action: OK, DUNNO, REJECT, DEFER,
 * DEFER_IF_PERMIT, DEFER_IF_REJECT, 4NN/5NN text, WARN, PREPEND, HOLD,
 * DISCARD, FILTER, REDIRECT, INFO, BCC, and floodgate's own TARPIT N
 * [text] (let the client through after N seconds: Dovecot's auth policy
 * delays it, the policy protocol says tarpit=N). Its text may name request
 * attributes ($sender, ${client_address}) and $rule, $retry_after,
 * $count, $per (bans.action: $reason, $expires); ${list:NAME} is the value that the rule's condition on
 * the map NAME found; "$$" is a dollar. The template is split into segments at
 * load, so that expanding it allocates nothing. Expanded values have their
 * control characters replaced, and the whole line is cut at ACTION_MAX.
 */
#ifndef FG_ACTION_H
#define FG_ACTION_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"

#define ACTION_MAX 1000 /* bytes of one expanded action; Postfix lines are limited too */
#define ACTION_TARPIT_MAX 3600 /* seconds of a TARPIT; a longer delay holds the client's connection for nothing */

enum action_var {
    VAR_LITERAL = -1,    /* plain text */
    VAR_RULE = -2,       /* the rule's name */
    VAR_RETRY = -3,      /* seconds until the limit frees up */
    VAR_COUNT = -4,      /* the limit's count */
    VAR_PER = -5,        /* the limit's window, as written */
    VAR_LIST = -6,       /* ${list:NAME}: a map's value */
    VAR_REASON = -7,     /* a ban's reason (bans.action); elsewhere the rule's name, as $rule */
    VAR_EXPIRES = -8,    /* a ban's end, "2026-12-04T16:00:00Z" or "never" (bans.action); elsewhere "" */
    /* >= 0: an attribute id */
};

typedef struct action_seg {
    int var;      /* enum action_var or attribute id */
    char *text;   /* literal text; VAR_LIST: the list's name */
    size_t len;   /* its length */
    const void *list; /* VAR_LIST: the list, set by the rule loader */
} action_seg;

typedef struct action_tmpl {
    char *source;      /* as written */
    action_seg *segs;  /* pieces */
    unsigned nsegs;    /* how many */
    int denies;        /* REJECT, DEFER*, 4NN, 5NN: a request given this is refused */
    uint32_t tarpit_s; /* TARPIT N: the delay in seconds (the request is not refused), 0 = not a tarpit */
} action_tmpl;

typedef struct action_ctx {
    const char *rule;    /* rule name */
    uint64_t retry_s;    /* seconds */
    uint64_t count;      /* limit count */
    const char *per;     /* limit window as written */
    const char *(*list_value)(const void *list, void *arg); /* ${list:NAME}, NULL: "" */
    void *list_arg;
    const char *reason;  /* $reason: a ban's reason; NULL: the rule's name */
    const char *expires; /* $expires: a ban's end as text; NULL: "" */
} action_ctx;

/* action_parse - check and split an action; 0 ok, -1 with *why */
int action_parse(const char *src, action_tmpl *out, const char **why);
/* action_expand - write the action for a request into out (NUL-terminated); returns length */
size_t action_expand(const action_tmpl *t, const fg_request *req, const action_ctx *ctx, char *out, size_t size);
void action_free(action_tmpl *t);

#endif
