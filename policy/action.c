/*
 * action - the reply text of a rule, with $attribute expansion (see action.h)
 */
#include "action.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "num.h"

/* verb_denies - is the first word of an action valid, and does it refuse? -1 unknown */
static int verb_denies(const char *s)
{
    static const char *const accept[] = {"OK", "DUNNO", "WARN", "PREPEND", "HOLD", "DISCARD",
                                         "FILTER", "REDIRECT", "INFO", "BCC", "TARPIT", NULL};
    static const char *const deny[] = {"REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT", NULL};
    size_t n = strcspn(s, " \t");

    for (int i = 0; accept[i]; i++)
        if (strlen(accept[i]) == n && !strncasecmp(s, accept[i], n))
            return 0;
    for (int i = 0; deny[i]; i++)
        if (strlen(deny[i]) == n && !strncasecmp(s, deny[i], n))
            return 1;
    if (n == 3 && (s[0] == '4' || s[0] == '5') && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]))
        return 1;
    return -1;
}

/* add_seg - append a segment */
static void add_seg(action_tmpl *t, int var, const char *text, size_t len)
{
    t->segs = fg_realloc(t->segs, (t->nsegs + 1) * sizeof *t->segs);
    t->segs[t->nsegs].var = var;
    t->segs[t->nsegs].text = var == VAR_LITERAL || var == VAR_LIST ? fg_strndup(text, len) : NULL;
    t->segs[t->nsegs].len = len;
    t->segs[t->nsegs].list = NULL;
    t->nsegs++;
}

/* var_of - the variable for a name, or VAR_LITERAL if unknown */
static int var_of(const char *name, size_t len)
{
    static const struct { const char *name; int var; } specials[] = {
        {"rule", VAR_RULE}, {"retry_after", VAR_RETRY}, {"count", VAR_COUNT}, {"per", VAR_PER},
        {"reason", VAR_REASON}, {"expires", VAR_EXPIRES},
    };
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
        if (strlen(specials[i].name) == len && !strncmp(specials[i].name, name, len))
            return specials[i].var;
    int id = req_attr_id(name, len);
    return id >= 0 ? id : VAR_LITERAL;
}

/* action_parse - check and split an action */
int action_parse(const char *src, action_tmpl *out, const char **why)
{
    const char *p = src, *lit = src;

    memset(out, 0, sizeof *out);
    if (strchr(src, '\n') || strchr(src, '\r')) {
        *why = "an action is one line";
        return -1;
    }
    out->denies = verb_denies(src);
    if (out->denies < 0) {
        *why = "unknown action (use OK, DUNNO, REJECT, DEFER, DEFER_IF_PERMIT, 4NN/5NN text, WARN, PREPEND, HOLD, ...)";
        return -1;
    }
    if (!strncasecmp(src, "TARPIT", 6) && (src[6] == '\0' || src[6] == ' ' || src[6] == '\t')) {
        /* TARPIT N [text]: N seconds, checked like every number */
        const char *n = src + 6 + strspn(src + 6, " \t");
        uint64_t secs;
        if (num_parse_u64(n, strcspn(n, " \t"), 1, ACTION_TARPIT_MAX, &secs, why) < 0) {
            *why = "TARPIT needs a number of seconds from 1 to 3600 (TARPIT 5)";
            return -1;
        }
        out->tarpit_s = (uint32_t)secs;
    }
    out->source = fg_strdup(src);
    while ((p = strchr(p, '$')) != NULL) {
        const char *name = p + 1, *end;
        int braced = *name == '{';
        if (*name == '$') {
            add_seg(out, VAR_LITERAL, lit, (size_t)(p + 1 - lit));
            lit = p = p + 2;
            continue;
        }
        if (braced)
            name++;
        if (braced && !strncmp(name, "list:", 5)) {
            /* ${list:NAME}: list names may hold '-' and '.' */
            const char *ln = name + 5;
            for (end = ln; isalnum((unsigned char)*end) || *end == '_' || *end == '-' || *end == '.'; end++)
                ;
            if (end == ln || *end != '}') {
                *why = "bad ${list:NAME}";
                action_free(out);
                return -1;
            }
            if (p > lit)
                add_seg(out, VAR_LITERAL, lit, (size_t)(p - lit));
            add_seg(out, VAR_LIST, ln, (size_t)(end - ln));
            lit = p = end + 1;
            continue;
        }
        for (end = name; isalnum((unsigned char)*end) || *end == '_'; end++)
            ;
        if (end == name || (braced && *end != '}')) {
            *why = "bad $variable (write $name or ${name})";
            action_free(out);
            return -1;
        }
        int var = var_of(name, (size_t)(end - name));
        if (var == VAR_LITERAL) {
            *why = "unknown $attribute in action";
            action_free(out);
            return -1;
        }
        if (p > lit)
            add_seg(out, VAR_LITERAL, lit, (size_t)(p - lit));
        add_seg(out, var, NULL, 0);
        lit = p = end + braced;
    }
    if (*lit)
        add_seg(out, VAR_LITERAL, lit, strlen(lit));
    return 0;
}

/* put - bounded append with control characters made harmless */
static void put(char *out, size_t size, size_t *at, const char *s, size_t n)
{
    for (size_t i = 0; i < n && *at + 1 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        out[(*at)++] = (char)(c < 0x20 || c == 0x7f ? '?' : c);
    }
}

/* action_expand - write the action for a request */
size_t action_expand(const action_tmpl *t, const fg_request *req, const action_ctx *ctx, char *out, size_t size)
{
    size_t at = 0, len;
    char num[32];
    const char *v;

    if (size > ACTION_MAX + 1)
        size = ACTION_MAX + 1;
    for (unsigned i = 0; i < t->nsegs; i++) {
        const action_seg *s = &t->segs[i];
        switch (s->var) {
        case VAR_LITERAL:
            put(out, size, &at, s->text, s->len);
            break;
        case VAR_RULE:
            put(out, size, &at, ctx->rule, strlen(ctx->rule));
            break;
        case VAR_REASON:
            v = ctx->reason ? ctx->reason : ctx->rule;
            put(out, size, &at, v, strlen(v));
            break;
        case VAR_EXPIRES:
            if (ctx->expires)
                put(out, size, &at, ctx->expires, strlen(ctx->expires));
            break;
        case VAR_RETRY:
            len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)ctx->retry_s);
            put(out, size, &at, num, len);
            break;
        case VAR_COUNT:
            len = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)ctx->count);
            put(out, size, &at, num, len);
            break;
        case VAR_PER:
            put(out, size, &at, ctx->per ? ctx->per : "", ctx->per ? strlen(ctx->per) : 0);
            break;
        case VAR_LIST:
            v = ctx->list_value && s->list ? ctx->list_value(s->list, ctx->list_arg) : NULL;
            if (v)
                put(out, size, &at, v, strlen(v));
            break;
        default:
            v = req_get(req, s->var, &len);
            put(out, size, &at, v, len);
            break;
        }
    }
    if (size)
        out[at] = '\0';
    return at;
}

/* action_free - free a template; a zeroed one is fine */
void action_free(action_tmpl *t)
{
    for (unsigned i = 0; i < t->nsegs; i++)
        fg_free(t->segs[i].text);
    fg_free(t->segs);
    fg_free(t->source);
    memset(t, 0, sizeof *t);
}
