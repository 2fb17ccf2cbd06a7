/*
 * cond - the conditions of a rule's `if` and `unless` (see cond.h)
 */
#include "cond.h"

#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "conf_errors.h"
#include "num.h"

/* parse_regex - "/re/flags" into a compiled, JIT-compiled pattern */
static int parse_regex(const char *s, cond_alt *alt, const char **why, char *buf, size_t bufsize)
{
    const char *end = strrchr(s, '/');
    uint32_t opts = 0;
    int err;
    PCRE2_SIZE off;

    for (const char *f = end + 1; *f; f++) {
        switch (*f) {
        case 'i': opts |= PCRE2_CASELESS; break;
        case 'm': opts |= PCRE2_MULTILINE; break;
        case 's': opts |= PCRE2_DOTALL; break;
        case 'x': opts |= PCRE2_EXTENDED; break;
        default:
            *why = "unknown regex flag (use i, m, s or x)";
            return -1;
        }
    }
    alt->re = pcre2_compile((PCRE2_SPTR)(s + 1), (PCRE2_SIZE)(end - s - 1), opts, &err, &off, NULL);
    if (!alt->re) {
        char msg[256];
        pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, sizeof msg);
        snprintf(buf, bufsize, "bad regex %s: %s at offset %zu", s, msg, (size_t)off);
        *why = buf;
        return -1;
    }
    /* JIT is an optimisation: a platform without it still matches, slower */
    (void)pcre2_jit_compile(alt->re, PCRE2_JIT_COMPLETE);
    alt->kind = COND_REGEX;
    return 0;
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
static int parse_alt(const char *s, cond_alt *alt, const char **why, char *buf, size_t bufsize)
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
    if (s[0] == '@') {
        *why = "lookup lists (@name) are not available yet";
        return -1;
    }
    if (cidr_parse(s, &alt->cidr, why) == 0)
        alt->kind = COND_CIDR;
    else if (strchr(s, '/') && !strcmp(*why, "bad prefix length"))
        return -1; /* an address with a broken prefix is a typo, not a string to compare */
    return 0;
}

/* parse_cond - one attribute's condition */
static int parse_cond(config_setting_t *s, const char *rule, cond *c, conf_errors *errs)
{
    const char *name = config_setting_name(s), *why = NULL;
    char buf[512];
    int type = config_setting_type(s), ok = 0;
    unsigned n;

    memset(c, 0, sizeof *c);
    c->attr = req_attr_id(name, strlen(name));
    if (!strcmp(name, "country") || !strcmp(name, "asn")) {
        conf_error_at(errs, s, "rule \"%s\": %s: GeoIP conditions are not available yet", rule, name);
        return -1;
    }
    if (c->attr < 0) {
        conf_error_at(errs, s, "rule \"%s\": unknown attribute \"%s\"", rule, name);
        return -1;
    }
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
            if (parse_alt(config_setting_get_string(e), alt, &why, buf, sizeof buf) < 0) {
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
static void cond_free(cond *c)
{
    for (unsigned a = 0; a < c->nalts; a++) {
        fg_free(c->alts[a].text);
        pcre2_code_free(c->alts[a].re);
    }
    fg_free(c->alts);
    memset(c, 0, sizeof *c);
}

/* cond_set_parse - read a group of conditions */
int cond_set_parse(config_setting_t *group, const char *rule, cond_set *out, conf_errors *errs)
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
        if (parse_cond(config_setting_get_elem(group, i), rule, &out->conds[out->n], errs) < 0) {
            cond_free(&out->conds[out->n]);
            ok = -1;
            continue;
        }
        out->n++;
    }
    return ok;
}

/* alt_match - does one alternative hold for the value? */
static int alt_match(const cond_alt *alt, int attr, const char *v, size_t len, fg_request *req,
                     pcre2_match_data *md)
{
    int r = 0;

    switch (alt->kind) {
    case COND_EXACT:
        r = len == alt->len && !strncasecmp(v, alt->text, len);
        break;
    case COND_REGEX:
        r = pcre2_match(alt->re, (PCRE2_SPTR)v, len, 0, 0, md, NULL) >= 0;
        break;
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
    }
    return alt->negate ? !r : r;
}

/* cond_set_match - do all conditions hold? */
int cond_set_match(const cond_set *cs, fg_request *req, pcre2_match_data *md)
{
    for (unsigned i = 0; i < cs->n; i++) {
        const cond *c = &cs->conds[i];
        size_t len;
        const char *v = req_get(req, c->attr, &len);
        int any = 0;
        for (unsigned a = 0; a < c->nalts && !any; a++)
            any = alt_match(&c->alts[a], c->attr, v, len, req, md);
        if (!any)
            return 0;
    }
    return 1;
}

/* cond_set_free - free conditions */
void cond_set_free(cond_set *cs)
{
    for (unsigned i = 0; i < cs->n; i++)
        cond_free(&cs->conds[i]);
    fg_free(cs->conds);
    memset(cs, 0, sizeof *cs);
}
