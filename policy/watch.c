/*
 * watch - log lines that become report requests (see watch.h)
 *
 * A pattern is written as conditions write theirs, "/regex/flags" (i m s
 * x), and compiled by the same function. Named groups are read
 * from the compiled pattern's name table once, at load, so matching a
 * line costs one pcre2_match (two with `ignore`) and no allocation: the
 * match block belongs to the watch.
 */
#include "watch.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "cond.h"
#include "conf.h"
#include "request.h"
#include "rule.h"

/* read_groups - the named groups of the match pattern; -1 when there are too many */
static int read_groups(watch_spec *w)
{
    uint32_t count = 0, entry = 0;
    PCRE2_SPTR table;

    pcre2_pattern_info(w->match, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(w->match, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(w->match, PCRE2_INFO_NAMETABLE, &table);
    if (count > WATCH_GROUPS_MAX)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *e = table + (size_t)i * entry;
        w->group_num[i] = (unsigned)(e[0] << 8 | e[1]);
        w->group_name[i] = fg_strdup((const char *)e + 2);
    }
    w->ngroups = count;
    return 0;
}

/* has_group - does the pattern name this group? */
static int has_group(const watch_spec *w, const char *name)
{
    for (unsigned i = 0; i < w->ngroups; i++)
        if (!strcmp(w->group_name[i], name))
            return 1;
    return 0;
}

/* feeds_keyed_rule - the first rule that counts this event keyed on client_address, NULL if none */
static const rule *feeds_keyed_rule(const struct ruleset *rs, const char *event)
{
    for (unsigned i = 0; rs && i < rs->n; i++) {
        const rule *r = &rs->rules[i];
        int keyed = 0;
        for (unsigned k = 0; k < r->nkeys; k++)
            keyed |= r->keys[k].attr == ATTR_CLIENT_ADDRESS;
        if (!keyed)
            continue;
        for (unsigned s = 0; s < r->nsel; s++)
            if (r->sel[s].kind == REQ_REPORT && (!r->sel[s].sub || !strcasecmp(r->sel[s].sub, event)))
                return r;
    }
    return NULL;
}

/* get_string - a string member; NULL when absent, error when not a string */
static const char *get_string(config_setting_t *g, const char *name, const char *watch, int *ok, conf_errors *errs)
{
    config_setting_t *s = config_setting_get_member(g, name);

    if (!s)
        return NULL;
    if (config_setting_type(s) != CONFIG_TYPE_STRING || !*config_setting_get_string(s)) {
        conf_error_at(errs, s, "watch \"%s\": %s: expected a non-empty string", watch, name);
        *ok = -1;
        return NULL;
    }
    return config_setting_get_string(s);
}

/* parse_one - one watch entry */
static int parse_one(config_setting_t *g, const char *dir, const struct ruleset *rules, watch_spec *w,
                     conf_errors *errs)
{
    static const char *const known[] = {"name", "file", "journal", "match", "ignore", "event", NULL};
    char err[512];
    int ok = 0;

    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, g, "watch: each entry is a group { name = ...; file = ...; match = ...; event = ...; }");
        return -1;
    }
    ok |= conf_check_members(g, "watch", known, errs);
    const char *name = get_string(g, "name", "?", &ok, errs);
    if (!name) {
        conf_error_at(errs, g, "watch: an entry without a name");
        return -1;
    }
    w->name = fg_strdup(name);
    const char *file = get_string(g, "file", name, &ok, errs), *journal = get_string(g, "journal", name, &ok, errs);
    const char *match = get_string(g, "match", name, &ok, errs), *ignore = get_string(g, "ignore", name, &ok, errs);
    const char *event = get_string(g, "event", name, &ok, errs);
    if (!file == !journal) {
        conf_error_at(errs, g, "watch \"%s\": give either file = PATH or journal = UNIT", name);
        ok = -1;
    }
    w->file = file ? conf_path(dir, file) : NULL;
    w->journal = journal ? fg_strdup(journal) : NULL;
    w->event = fg_strdup(event ? event : "");
    if (!event) {
        conf_error_at(errs, g, "watch \"%s\": event: missing (the report's event, e.g. \"auth_failure\")", name);
        ok = -1;
    }
    if (!match) {
        conf_error_at(errs, g, "watch \"%s\": match: missing", name);
        return -1;
    }
    w->match_src = fg_strdup(match);
    if (!(w->match = cond_regex_compile(match, err, sizeof err))) {
        conf_error_at(errs, config_setting_get_member(g, "match"), "watch \"%s\": match: %s", name, err);
        return -1;
    }
    if (ignore) {
        w->ignore_src = fg_strdup(ignore);
        if (!(w->ignore = cond_regex_compile(ignore, err, sizeof err))) {
            conf_error_at(errs, config_setting_get_member(g, "ignore"), "watch \"%s\": ignore: %s", name, err);
            ok = -1;
        }
    }
    if (read_groups(w) < 0) {
        conf_error_at(errs, config_setting_get_member(g, "match"), "watch \"%s\": match: more than %d named groups", name,
                      WATCH_GROUPS_MAX);
        return -1;
    }
    const rule *r = event ? feeds_keyed_rule(rules, event) : NULL;
    if (r && !has_group(w, "client_address")) {
        conf_error_at(errs, config_setting_get_member(g, "match"),
                      "watch \"%s\": match has no (?<client_address>...) group, but rule \"%s\" (%s:%d) counts "
                      "report:%s by client_address",
                      name, r->name, r->file, r->line, event);
        ok = -1;
    }
    w->md = pcre2_match_data_create_from_pattern(w->match, NULL);
    w->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(w->mctx, WATCH_MATCH_LIMIT);
    pcre2_set_depth_limit(w->mctx, WATCH_DEPTH_LIMIT);
    return ok;
}

/* watchset_parse - the watch list */
watchset *watchset_parse(config_setting_t *list, const char *dir, const struct ruleset *rules, conf_errors *errs)
{
    watchset *ws = fg_calloc(1, sizeof *ws);
    int ok = 0;

    if (!list)
        return ws;
    if (config_setting_type(list) != CONFIG_TYPE_LIST && config_setting_type(list) != CONFIG_TYPE_ARRAY) {
        conf_error_at(errs, list, "watch: expected a list ( { ... }, { ... } )");
        watchset_free(ws);
        return NULL;
    }
    unsigned n = (unsigned)config_setting_length(list);
    ws->w = fg_calloc(n ? n : 1, sizeof *ws->w);
    for (unsigned i = 0; i < n; i++) {
        ws->n++;
        if (parse_one(config_setting_get_elem(list, i), dir, rules, &ws->w[i], errs) < 0)
            ok = -1;
        for (unsigned j = 0; j < i && ws->w[i].name; j++)
            if (ws->w[j].name && !strcmp(ws->w[j].name, ws->w[i].name)) {
                conf_error_at(errs, config_setting_get_elem(list, i), "watch \"%s\": a second watch of that name",
                              ws->w[i].name);
                ok = -1;
            }
    }
    if (ok < 0) {
        watchset_free(ws);
        return NULL;
    }
    return ws;
}

/* watchset_free - free every watch; NULL is fine */
void watchset_free(watchset *ws)
{
    if (!ws)
        return;
    for (unsigned i = 0; i < ws->n; i++) {
        watch_spec *w = &ws->w[i];
        fg_free(w->name);
        fg_free(w->file);
        fg_free(w->journal);
        fg_free(w->event);
        fg_free(w->match_src);
        fg_free(w->ignore_src);
        pcre2_code_free(w->match);
        pcre2_code_free(w->ignore);
        for (unsigned g = 0; g < w->ngroups; g++)
            fg_free(w->group_name[g]);
        pcre2_match_data_free(w->md);
        pcre2_match_context_free(w->mctx);
    }
    fg_free(ws->w);
    fg_free(ws);
}

/* watch_line - match one line */
int watch_line(watch_spec *w, const char *line, size_t len, watch_attr out[WATCH_GROUPS_MAX])
{
    int rc, n = 0;

    if (len > WATCH_LINE_MAX)
        len = WATCH_LINE_MAX;
    if (w->ignore) {
        rc = pcre2_match(w->ignore, (PCRE2_SPTR)line, len, 0, 0, w->md, w->mctx);
        if (rc >= 0)
            return -1;
        if (rc != PCRE2_ERROR_NOMATCH) {
            w->match_errors++;
            return -2;
        }
    }
    rc = pcre2_match(w->match, (PCRE2_SPTR)line, len, 0, 0, w->md, w->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return -1;
    if (rc < 0) {
        w->match_errors++;
        return -2;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
    uint32_t pairs = pcre2_get_ovector_count(w->md);
    for (unsigned g = 0; g < w->ngroups; g++) {
        unsigned num = w->group_num[g];
        if (num >= pairs || ov[2 * num] == PCRE2_UNSET)
            continue; /* a group that did not take part */
        out[n].name = w->group_name[g];
        out[n].off = ov[2 * num];
        out[n].len = ov[2 * num + 1] - ov[2 * num];
        n++;
    }
    return n;
}
