/*
 * conf_errors - the problems found while loading a configuration
 */
#include "conf_errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "alloc.h"

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
