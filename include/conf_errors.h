/*
 * conf_errors - the problems found while loading a configuration
 *
 * Loading goes on after an error, so that `floodgated -t` reports every
 * problem at once, each as "FILE:LINE: message". The checked readers of
 * settings that every part of the configuration uses live here too, so
 * that a duration or a typo is reported the same way everywhere.
 */
#ifndef FG_CONF_ERRORS_H
#define FG_CONF_ERRORS_H

#include <libconfig.h>
#include <stdint.h>

struct conf_errors {
    char **msgs; /* "FILE:LINE: message" */
    unsigned n;  /* how many */
};
typedef struct conf_errors conf_errors;

/* conf_error - record a problem at file:line */
void conf_error(conf_errors *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* conf_error_at - record a problem at the place of a setting */
void conf_error_at(conf_errors *e, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void conf_errors_free(conf_errors *e);

/* conf_check_members - report every member of group g not named in known (NULL-terminated); 0 ok, -1 reported */
int conf_check_members(const config_setting_t *g, const char *where, const char *const *known, conf_errors *e);
/* conf_member - member name of g if it is of type (CONFIG_TYPE_STRING, CONFIG_TYPE_BOOL, or CONFIG_TYPE_INT64
 * for any whole number); NULL when absent, and also, reported with *ok = -1, when of another type: a setting
 * written with the wrong type ("24" for 24, 1 for "path") is an error naming it, never silently left out.
 * what names it in the message ("listen.control", "rule \"x\": limit.buckets") */
config_setting_t *conf_member(const config_setting_t *g, const char *name, int type, const char *what, int *ok,
                              conf_errors *e);
/* conf_duration - a duration setting ("5m", or a bare number of seconds) in [min, max] ms; 0 ok, -1 reported */
int conf_duration(const config_setting_t *s, const char *what, uint64_t min_ms, uint64_t max_ms, uint64_t *out,
                  conf_errors *e);

#endif
