/*
 * watch - log lines that become report requests (fail2ban's filters, inside floodgate)
 *
 * A watch names a log (a file, or a journal unit or identifier), a pcre2
 * `match` whose named groups become the attributes of a `report` request
 * (`client_address`, `username`, anything else), the `event` the report
 * carries, and an optional `ignore` pattern that vetoes a line first:
 *
 *     watch = ( { name = "postfix-sasl"; file = "/var/log/mail.log"; event = "auth_failure";
 *                 match = "/warning: [-._[:alnum:]]+\\[(?<client_address>[0-9a-fA-F.:]+)\\]: SASL/"; } );
 *
 * This module is the pure part: the settings, checked at load (the
 * pattern compiles, has named groups, has `client_address` when a rule
 * that counts the watch's event keys on it), and the matching of one
 * line. Following files and the journal is daemon/tail.c's job.
 *
 * SECURITY
 *     Log lines are written by whoever can make a daemon log: a client
 *     chooses the user name and much of the rest. Lines are cut at
 *     WATCH_LINE_MAX before they get here, matching runs under pcre2 match
 *     and depth limits (an error is counted and the line dropped), and the
 *     attributes it yields are bounded in number and size. NUL bytes and
 *     invalid UTF-8 are bytes like any other (patterns are not compiled
 *     with PCRE2_UTF).
 */
#ifndef FG_WATCH_H
#define FG_WATCH_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <libconfig.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "conf_errors.h"

#define WATCH_LINE_MAX 8192    /* bytes of a log line that are matched; the rest is dropped */
#define WATCH_GROUPS_MAX 8     /* named groups of one pattern */
#define WATCH_MATCH_LIMIT 100000 /* pcre2 match limit per line */
#define WATCH_DEPTH_LIMIT 10000  /* pcre2 depth limit per line */

struct ruleset;

typedef struct watch_spec {
    char *name;                  /* as configured */
    char *file;                  /* a log file (absolute), or NULL */
    char *journal;               /* a systemd unit ("x.service") or a SYSLOG_IDENTIFIER, or NULL */
    char *event;                 /* the report's event */
    char *match_src, *ignore_src; /* the patterns as written */
    pcre2_code *match, *ignore;  /* compiled and JIT-compiled */
    char *group_name[WATCH_GROUPS_MAX]; /* the named groups of match */
    unsigned group_num[WATCH_GROUPS_MAX]; /* their numbers */
    unsigned ngroups;
    pcre2_match_data *md;        /* for match and ignore */
    pcre2_match_context *mctx;   /* limits */
    uint64_t match_errors;       /* lines dropped because matching failed (limits) */
} watch_spec;

typedef struct watchset {
    watch_spec *w;
    unsigned n;
} watchset;

typedef struct watch_attr {
    const char *name;  /* the group's name (NUL-terminated, owned by the spec) */
    size_t off, len;   /* the value inside the line */
} watch_attr;

/* watchset_parse - the `watch` list; rules (may be NULL) are checked for the client_address group; NULL on errors */
watchset *watchset_parse(config_setting_t *list, const char *dir, const struct ruleset *rules, conf_errors *errs);
void watchset_free(watchset *ws);
/* watch_line - does a line match (and no ignore)? fills out[] with the named groups that took part; returns how
 * many (>= 0), or -1 when the line does not match, -2 when matching failed (counted in match_errors) */
int watch_line(watch_spec *w, const char *line, size_t len, watch_attr out[WATCH_GROUPS_MAX]);

#endif
