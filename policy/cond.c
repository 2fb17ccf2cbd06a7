/*
 * cond - the conditions of a rule's `if` and `unless` (see cond.h)
 *
 * SECURITY
 *     Values come from clients, up to listen.max_request bytes (64 KiB by
 *     default), and patterns from admins, who can write one that
 *     backtracks without end: ^(\w+\s?)*$ on "aaaa...!" is exponential.
 *     Every match runs with a match context: a match limit (default
 *     100,000 steps, about half a millisecond of JIT matching; a linear
 *     match over a 64 KiB value needs under 100,000), a depth limit for the
 *     interpreter (twice max_request) and a JIT stack of 128 bytes per byte
 *     of max_request (8 MiB at 64 KiB, reserved and touched only as used; a
 *     group repeated at every byte was measured at 32-64 bytes per byte), so
 *     a legal long value does not run out of stack and a hostile one stops
 *     early. Limits are set with regex = { match_limit; depth_limit; }.
 *     A match that stops on a limit is neither a match nor a miss: it is
 *     COND_ERROR, and `!` does not turn it into a match, so a limit never
 *     changes a verdict silently; the rule applies its on_error
 *     ("tempfail": DEFER_IF_PERMIT 4.3.0, or "allow": the rule does not
 *     apply), and the engine counts and logs it.
 *
 * BUGS
 *     Without JIT (a platform pcre2 cannot JIT for) the interpreter counts
 *     steps differently, and long values reach the limits sooner.
 */
#include "cond.h"

#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "conf_errors.h"
#include "num.h"

/* cond_regex_compile - "/re/flags" into a compiled, JIT-compiled pattern; NULL with a message in err */
pcre2_code *cond_regex_compile(const char *s, char *err, size_t errlen)
{
    const char *end = strrchr(s, '/');
    uint32_t opts = 0;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re;

    if (s[0] != '/' || !end || end == s) {
        snprintf(err, errlen, "expected /regex/flags");
        return NULL;
    }
    for (const char *f = end + 1; *f; f++) {
        switch (*f) {
        case 'i': opts |= PCRE2_CASELESS; break;
        case 'm': opts |= PCRE2_MULTILINE; break;
        case 's': opts |= PCRE2_DOTALL; break;
        case 'x': opts |= PCRE2_EXTENDED; break;
        default:
            snprintf(err, errlen, "unknown regex flag '%c' (use i, m, s or x)", *f);
            return NULL;
        }
    }
    re = pcre2_compile((PCRE2_SPTR)(s + 1), (PCRE2_SIZE)(end - s - 1), opts, &code, &off, NULL);
    if (!re) {
        char msg[256];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(err, errlen, "bad regex %s: %s at offset %zu", s, msg, (size_t)off);
        return NULL;
    }
    /* JIT is an optimisation: a platform without it still matches, slower */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

/* parse_regex - a regex alternative */
static int parse_regex(const char *s, cond_alt *alt, const char **why, char *buf, size_t bufsize)
{
    alt->re = cond_regex_compile(s, buf, bufsize);
    if (!alt->re) {
        *why = buf;
        return -1;
    }
    alt->kind = COND_REGEX;
    return 0;
}

/* regex_alloc - pcre2's allocations, counted and fatal on failure like ours */
static void *regex_alloc(PCRE2_SIZE size, void *arg)
{
    (void)arg;
    return fg_malloc(size);
}

/* regex_release - free what regex_alloc gave */
static void regex_release(void *p, void *arg)
{
    (void)arg;
    fg_free(p);
}

/* cond_regex_new - match data, match context and JIT stack for values of at most max_value bytes */
cond_regex *cond_regex_new(uint32_t match_limit, uint32_t depth_limit, size_t max_value)
{
    cond_regex *rx = fg_calloc(1, sizeof *rx);

    if (!max_value)
        max_value = 64 * 1024;
    rx->match_limit = match_limit ? match_limit : COND_REGEX_MATCH_LIMIT;
    rx->depth_limit = depth_limit ? depth_limit : (uint32_t)(2 * max_value);
    rx->jit_stack = max_value * COND_REGEX_JIT_PER_BYTE;
    pcre2_general_context *gc = pcre2_general_context_create(regex_alloc, regex_release, NULL);
    rx->md = pcre2_match_data_create(1, gc);
    rx->mctx = pcre2_match_context_create(gc);
    pcre2_set_match_limit(rx->mctx, rx->match_limit);
    pcre2_set_depth_limit(rx->mctx, rx->depth_limit);
    /* reserved address space, committed page by page as a match uses it */
    rx->jit = pcre2_jit_stack_create(32 * 1024, rx->jit_stack, gc);
    if (rx->jit)
        pcre2_jit_stack_assign(rx->mctx, NULL, rx->jit);
    pcre2_general_context_free(gc);
    return rx;
}

/* cond_regex_free - free; NULL is fine */
void cond_regex_free(cond_regex *rx)
{
    if (!rx)
        return;
    pcre2_match_data_free(rx->md);
    pcre2_match_context_free(rx->mctx);
    pcre2_jit_stack_free(rx->jit);
    fg_free(rx);
}

/* parse_num - ">N", ">=N", "<N", "<=N", "=N", "!=N" */
static int parse_num(const char *s, cond_alt *alt, const char **why)
{
    static const struct { const char *op; enum cond_numop code; } ops[] = {
        {">=", NUM_GE}, {"<=", NUM_LE}, {"!=", NUM_NE}, {">", NUM_GT}, {"<", NUM_LT}, {"=", NUM_EQ},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].op);
        if (!strncmp(s, ops[i].op, n)) {
            const char *v = s + n;
            while (*v == ' ')
                v++;
            if (num_parse_i64(v, strlen(v), &alt->num, why) < 0)
                return -1;
            alt->kind = COND_NUM;
            alt->numop = (uint8_t)ops[i].code;
            return 0;
        }
    }
    *why = "not a comparison";
    return -1;
}

/* parse_alt - one alternative from its text */
static int parse_alt(const char *s, const listset *lists, cond_alt *alt, const char **why, char *buf, size_t bufsize)
{
    memset(alt, 0, sizeof *alt);
    if (s[0] == '!' && s[1] != '=') {
        alt->negate = 1;
        s++;
    }
    alt->text = fg_strdup(s);
    alt->len = strlen(s);
    alt->kind = COND_EXACT;
    if (s[0] == '/' && alt->len >= 2 && strrchr(s, '/') > s)
        return parse_regex(s, alt, why, buf, bufsize);
    if (s[0] == '>' || s[0] == '<' || s[0] == '=' || (s[0] == '!' && s[1] == '='))
        return parse_num(s, alt, why);
    if (s[0] == '@' && s[1]) {
        alt->list = listset_find(lists, s + 1);
        if (!alt->list) {
            snprintf(buf, bufsize, "no list named \"%s\" in lists", s + 1);
            *why = buf;
            return -1;
        }
        alt->kind = COND_LIST;
        return 0;
    }
    if (cidr_parse(s, &alt->cidr, why) == 0)
        alt->kind = COND_CIDR;
    else if (strchr(s, '/') && !strcmp(*why, "bad prefix length"))
        return -1; /* an address with a broken prefix is a typo, not a string to compare */
    return 0;
}

/* parse_cond - one attribute's condition */
static int parse_cond(config_setting_t *s, const char *rule, const listset *lists, cond *c, conf_errors *errs)
{
    const char *name = config_setting_name(s);
    int attr = req_attr_id(name, strlen(name));

    memset(c, 0, sizeof *c);
    if (attr < 0) {
        conf_error_at(errs, s, "rule \"%s\": unknown attribute \"%s\"", rule, name);
        return -1;
    }
    return cond_parse_values(s, attr, rule, lists, c, errs);
}

/* cond_parse_values - the alternatives of one setting, for attribute attr */
int cond_parse_values(config_setting_t *s, int attr, const char *rule, const listset *lists, cond *c,
                      conf_errors *errs)
{
    const char *name = config_setting_name(s), *why = NULL;
    char buf[512];
    int type = config_setting_type(s), ok = 0;
    unsigned n;

    memset(c, 0, sizeof *c);
    c->attr = attr;
    n = (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST) ? (unsigned)config_setting_length(s) : 1;
    if (n == 0) {
        conf_error_at(errs, s, "rule \"%s\": %s: empty list of alternatives", rule, name);
        return -1;
    }
    c->alts = fg_calloc(n, sizeof *c->alts);
    for (unsigned i = 0; i < n; i++) {
        config_setting_t *e = (type == CONFIG_TYPE_ARRAY || type == CONFIG_TYPE_LIST) ? config_setting_get_elem(s, i) : s;
        cond_alt *alt = &c->alts[c->nalts];
        switch (config_setting_type(e)) {
        case CONFIG_TYPE_STRING:
            if (parse_alt(config_setting_get_string(e), lists, alt, &why, buf, sizeof buf) < 0) {
                conf_error_at(errs, e, "rule \"%s\": %s: %s: %s", rule, name, why, config_setting_get_string(e));
                fg_free(alt->text);
                ok = -1;
                continue;
            }
            break;
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
            memset(alt, 0, sizeof *alt);
            alt->kind = COND_NUM;
            alt->numop = NUM_EQ;
            alt->num = config_setting_get_int64(e);
            alt->text = fg_strdup("=");
            break;
        default:
            conf_error_at(errs, e, "rule \"%s\": %s: a condition is a string, a number or a list of them", rule, name);
            ok = -1;
            continue;
        }
        c->nalts++;
    }
    return ok;
}

/* cond_free - free one condition's alternatives */
void cond_free(cond *c)
{
    for (unsigned a = 0; a < c->nalts; a++) {
        fg_free(c->alts[a].text);
        pcre2_code_free(c->alts[a].re);
    }
    fg_free(c->alts);
    memset(c, 0, sizeof *c);
}

/* cond_set_parse - read a group of conditions */
int cond_set_parse(config_setting_t *group, const char *rule, const listset *lists, cond_set *out, conf_errors *errs)
{
    int ok = 0;
    unsigned n;

    memset(out, 0, sizeof *out);
    if (!group)
        return 0;
    if (config_setting_type(group) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, group, "rule \"%s\": %s must be a group { attribute = condition; ... }", rule,
                      config_setting_name(group));
        return -1;
    }
    n = (unsigned)config_setting_length(group);
    out->conds = fg_calloc(n ? n : 1, sizeof *out->conds);
    for (unsigned i = 0; i < n; i++) {
        if (parse_cond(config_setting_get_elem(group, i), rule, lists, &out->conds[out->n], errs) < 0) {
            cond_free(&out->conds[out->n]);
            ok = -1;
            continue;
        }
        out->n++;
    }
    return ok;
}

/* alt_match - does one alternative hold for the value? COND_TRUE, COND_FALSE or COND_ERROR */
static int alt_match(const cond_alt *alt, int attr, const char *v, size_t len, fg_request *req, cond_regex *rx)
{
    int r = 0;

    switch (alt->kind) {
    case COND_EXACT:
        r = len == alt->len && !strncasecmp(v, alt->text, len);
        break;
    case COND_REGEX: {
        int rc = pcre2_match(alt->re, (PCRE2_SPTR)v, len, 0, 0, rx->md, rx->mctx);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            /* a limit, not an answer: the negation of an error is an error */
            rx->error = rc;
            rx->error_pattern = alt->text;
            return COND_ERROR;
        }
        r = rc >= 0;
        break;
    }
    case COND_CIDR: {
        fg_addr a;
        const fg_addr *ap = NULL;
        if (attr == ATTR_CLIENT_ADDRESS)
            ap = req_client_addr(req);
        else if (addr_parse(v, len, &a) == 0)
            ap = &a;
        r = ap && cidr_match(&alt->cidr, ap);
        break;
    }
    case COND_NUM: {
        int64_t n;
        const char *why;
        if (num_parse_i64(v, len, &n, &why) < 0)
            break;
        switch (alt->numop) {
        case NUM_EQ: r = n == alt->num; break;
        case NUM_NE: r = n != alt->num; break;
        case NUM_LT: r = n < alt->num; break;
        case NUM_LE: r = n <= alt->num; break;
        case NUM_GT: r = n > alt->num; break;
        case NUM_GE: r = n >= alt->num; break;
        }
        break;
    }
    case COND_LIST:
        r = list_lookup(alt->list, v, len, attr == ATTR_CLIENT_ADDRESS ? req_client_addr(req) : NULL) != NULL;
        break;
    }
    return (alt->negate ? !r : r) ? COND_TRUE : COND_FALSE;
}

/* cond_match - does one condition hold? Any alternative that holds decides; else an error is the answer */
int cond_match(const cond *c, fg_request *req, cond_regex *rx)
{
    size_t len;
    const char *v = req_get(req, c->attr, &len);
    int result = COND_FALSE;

    for (unsigned a = 0; a < c->nalts; a++) {
        int r = alt_match(&c->alts[a], c->attr, v, len, req, rx);
        if (r == COND_TRUE)
            return COND_TRUE;
        if (r == COND_ERROR)
            result = COND_ERROR;
    }
    return result;
}

/* cond_set_match - do all conditions hold? Any that fails decides; else an error is the answer */
int cond_set_match(const cond_set *cs, fg_request *req, cond_regex *rx)
{
    int result = COND_TRUE;

    for (unsigned i = 0; i < cs->n; i++) {
        int r = cond_match(&cs->conds[i], req, rx);
        if (r == COND_FALSE)
            return COND_FALSE;
        if (r == COND_ERROR)
            result = COND_ERROR;
    }
    return result;
}

/* cond_list_value - the map value that the condition on list l found for this request */
const char *cond_list_value(const cond_set *cs, const fg_list *l, fg_request *req)
{
    for (unsigned i = 0; i < cs->n; i++)
        for (unsigned a = 0; a < cs->conds[i].nalts; a++) {
            const cond *c = &cs->conds[i];
            if (c->alts[a].kind != COND_LIST || c->alts[a].list != l)
                continue;
            size_t len;
            const char *v = req_get(req, c->attr, &len);
            const list_entry *e = list_lookup(l, v, len, c->attr == ATTR_CLIENT_ADDRESS ? req_client_addr(req) : NULL);
            if (e && e->value)
                return e->value;
        }
    return NULL;
}

/* cond_set_free - free conditions */
void cond_set_free(cond_set *cs)
{
    for (unsigned i = 0; i < cs->n; i++)
        cond_free(&cs->conds[i]);
    fg_free(cs->conds);
    memset(cs, 0, sizeof *cs);
}
