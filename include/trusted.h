/*
 * trusted - the networks that are never banned and never greylisted
 *
 * One list for the whole configuration (DESIGN.md, Bans): the top-level `trusted = [...]` and
 * `bans.trusted`, merged, of addresses, networks and "@list" lookup lists (network lists an admin
 * can edit at run time). Loopback (127.0.0.0/8, ::1) is always trusted, whatever is written.
 * The list lives in the rule set, so a reload swaps it with the rules and the lists it names.
 */
#ifndef FG_TRUSTED_H
#define FG_TRUSTED_H

#include <libconfig.h>

#include "addr.h"
#include "cond.h"
#include "list.h"

/* trusted_parse - add the alternatives of setting s (a string or a list of them) to t; errors name
 * FILE:LINE; 0, or -1 with errors */
int trusted_parse(config_setting_t *s, const listset *lists, cond *t, conf_errors *errs);
/* trusted_addr - is this address loopback or in t? */
int trusted_addr(const cond *t, const fg_addr *a);
/* trusted_net - does the network (net masked to prefix) hold a trusted address, or lie inside a trusted
 * network? (a ban on it would ban someone trusted) */
int trusted_net(const cond *t, const fg_addr *net, unsigned prefix);

#endif
