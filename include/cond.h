/*
 * cond - the conditions of a rule's `if` and `unless`
 *
 * A condition names one attribute and a list of alternatives; it holds
 * when any alternative does (OR). An alternative is, by its text:
 *   "/regex/flags"   pcre2, compiled and JIT-compiled once at load
 *   "10.0.0.0/8"     a network (IPv4 or IPv6; a bare address is a /32 or /128)
 *   ">1000000"       a numeric compare: > >= < <= = != (also a bare integer)
 *   "@name"          membership of a lookup list (list.h)
 *   anything else    an exact string, compared case-insensitively
 * and a leading "!" negates it. A group of conditions holds when all of
 * them do (AND). Matching allocates nothing: the pcre2 match block, match
 * context and JIT stack (cond_regex) belong to the rule set.
 *
 * A regex match can fail (match, depth or JIT stack limit): the answer is
 * then COND_ERROR, neither true nor false, and a negation does not turn it
 * into a match. An OR holds if another alternative holds, an AND fails if
 * another condition fails; otherwise the error reaches the rule, which
 * applies its on_error (rule.h).
 */
#ifndef FG_COND_H
#define FG_COND_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <libconfig.h>
#include <stdint.h>

#include "addr.h"
#include "list.h"
#include "request.h"

enum cond_result { COND_FALSE = 0, COND_TRUE = 1, COND_ERROR = -1 };

#define COND_REGEX_MATCH_LIMIT 100000  /* pcre2 match limit: ~0.5 ms of backtracking, linear 64 KiB matches pass */
#define COND_REGEX_JIT_PER_BYTE 128    /* JIT stack bytes per byte of the largest value (32-64 measured) */

/* cond_regex - what every regex match of a rule set shares: match data, limits, JIT stack */
typedef struct cond_regex {
    pcre2_match_data *md;       /* one capture, overwritten by each match */
    pcre2_match_context *mctx;  /* match and depth limits, the JIT stack */
    pcre2_jit_stack *jit;       /* sized for the largest value; NULL: pcre2's 32 KiB default */
    uint32_t match_limit;       /* as set */
    uint32_t depth_limit;       /* as set (the interpreter only; JIT is bounded by its stack) */
    size_t jit_stack;           /* bytes, as set */
    int error;                  /* the last match error (pcre2 code), 0 none */
    const char *error_pattern;  /* its pattern as written */
} cond_regex;

/* cond_regex_compile - "/regex/flags" (flags i m s x), compiled and JIT-compiled; NULL with a message in err */
pcre2_code *cond_regex_compile(const char *src, char *err, size_t errlen);
/* cond_regex_new - limits for values of at most max_value bytes (0: defaults for 64 KiB) */
cond_regex *cond_regex_new(uint32_t match_limit, uint32_t depth_limit, size_t max_value);
void cond_regex_free(cond_regex *rx);

enum cond_kind { COND_EXACT, COND_REGEX, COND_CIDR, COND_NUM, COND_LIST };
enum cond_numop { NUM_EQ, NUM_NE, NUM_LT, NUM_LE, NUM_GT, NUM_GE };

typedef struct cond_alt {
    uint8_t kind;   /* enum cond_kind */
    uint8_t negate; /* leading '!' */
    uint8_t numop;  /* enum cond_numop */
    char *text;     /* exact text; the source for the others */
    size_t len;     /* length of text */
    pcre2_code *re; /* COND_REGEX */
    fg_cidr cidr;   /* COND_CIDR */
    int64_t num;    /* COND_NUM */
    fg_list *list;  /* COND_LIST */
} cond_alt;

typedef struct cond {
    int attr;        /* attribute id */
    cond_alt *alts;  /* alternatives */
    unsigned nalts;  /* how many */
} cond;

typedef struct cond_set {
    cond *conds;    /* all must hold */
    unsigned n;     /* how many; 0 = always holds */
} cond_set;

typedef struct conf_errors conf_errors;

/* cond_set_parse - read a group of conditions; errors go to errs; 0 ok, -1 errors */
int cond_set_parse(config_setting_t *group, const char *rule, const listset *lists, cond_set *out, conf_errors *errs);
/* cond_parse_values - the alternatives of one setting, for attribute attr */
int cond_parse_values(config_setting_t *s, int attr, const char *rule, const listset *lists, cond *out,
                      conf_errors *errs);
/* cond_match - does one condition hold? COND_TRUE, COND_FALSE or COND_ERROR (rx->error says which) */
int cond_match(const cond *c, fg_request *req, cond_regex *rx);
/* cond_free - free one condition */
void cond_free(cond *c);
/* cond_list_value - the map value that the condition on list l found for this request, NULL if none */
const char *cond_list_value(const cond_set *cs, const fg_list *l, fg_request *req);
/* cond_set_match - do all conditions hold? COND_TRUE, COND_FALSE or COND_ERROR */
int cond_set_match(const cond_set *cs, fg_request *req, cond_regex *rx);
void cond_set_free(cond_set *cs);

#endif
