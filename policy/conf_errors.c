/*
 * conf_errors - the problems found while loading a configuration
 */
#include "conf_errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"
#include "num.h"

#include <string.h>

/* add - append a formatted message */
static void add(conf_errors *e, const char *file, int line, const char *fmt, va_list ap)
{
    char msg[1024];
    int n = snprintf(msg, sizeof msg, "%s:%d: ", file ? file : "?", line);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    e->msgs = fg_realloc(e->msgs, (e->n + 1) * sizeof *e->msgs);
    e->msgs[e->n++] = fg_strdup(msg);
}

/* conf_error - record a problem at file:line */
void conf_error(conf_errors *e, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(e, file, line, fmt, ap);
    va_end(ap);
}

/* conf_error_at - record a problem at the place of a setting */
void conf_error_at(conf_errors *e, const config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add(e, config_setting_source_file(s), (int)config_setting_source_line(s), fmt, ap);
    va_end(ap);
}

/* conf_errors_free - free the messages */
void conf_errors_free(conf_errors *e)
{
    for (unsigned i = 0; i < e->n; i++)
        fg_free(e->msgs[i]);
    fg_free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

/* conf_check_members - report members of g that are not in known */
int conf_check_members(const config_setting_t *g, const char *where, const char *const *known, conf_errors *e)
{
    config_setting_t *m;
    int ok = 0;

    /* a list's elements have no names: ( ... ) or [ ... ] where a group { ... } belongs is an error, not a crash */
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        conf_error_at(e, g, "%s: must be a group { name = value; ... }", where);
        return -1;
    }
    for (unsigned i = 0; (m = config_setting_get_elem(g, i)) != NULL; i++) {
        int found = 0;
        for (int k = 0; known[k] && !found; k++)
            found = !strcmp(known[k], config_setting_name(m));
        if (!found) {
            conf_error_at(e, m, "%s: unknown setting \"%s\"", where, config_setting_name(m));
            ok = -1;
        }
    }
    return ok;
}

/* conf_member - a member of the given type; NULL if absent or (reported) of another type */
config_setting_t *conf_member(const config_setting_t *g, const char *name, int type, const char *what, int *ok,
                              conf_errors *e)
{
    config_setting_t *s = config_setting_is_group(g) ? config_setting_get_member(g, name) : NULL;
    int t = s ? config_setting_type(s) : CONFIG_TYPE_NONE;

    if (!s)
        return NULL;
    if (t == type || (type == CONFIG_TYPE_INT64 && t == CONFIG_TYPE_INT))
        return s;
    conf_error_at(e, s, "%s: expected %s", what,
                  type == CONFIG_TYPE_STRING ? "a string (\"...\")"
                  : type == CONFIG_TYPE_BOOL ? "true or false"
                                             : "a whole number");
    *ok = -1;
    return NULL;
}

/* conf_duration - a duration setting in [min, max] milliseconds */
int conf_duration(const config_setting_t *s, const char *what, uint64_t min_ms, uint64_t max_ms, uint64_t *out,
                  conf_errors *e)
{
    char buf[32];
    const char *text = NULL, *why = "expected a duration such as \"30s\", \"5m\" or \"1h\"";

    if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
        /* a bare number is seconds */
        snprintf(buf, sizeof buf, "%lld", (long long)config_setting_get_int64(s));
        text = buf;
    } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        text = config_setting_get_string(s);
    }
    if (text && num_parse_duration(text, min_ms, max_ms, out, &why) == 0)
        return 0;
    conf_error_at(e, s, "%s: %s%s%s%s", what, why, text ? " (\"" : "", text ? text : "", text ? "\")" : "");
    return -1;
}
