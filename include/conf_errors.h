/*
 * conf_errors - the problems found while loading a configuration
 *
 * Loading goes on after an error, so that `floodgated -t` reports every
 * problem at once, each as "FILE:LINE: message".
 */
#ifndef FG_CONF_ERRORS_H
#define FG_CONF_ERRORS_H

#include <libconfig.h>

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

#endif
