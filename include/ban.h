/*
 * ban - the ban index: the read-only view publishers use (banpub), and the change callback
 *
 * What: the current bans (an address or a network of any prefix length, with its reason, rule,
 * wall-clock since/expiry and how many times the key was banned within the history), walked by
 * ban_foreach(), and a callback registered with ban_on_change() that is told of every ban, unban
 * and expiry.
 *
 * Why: issue 8. Enforcement, ban rules, durability and floodgatectl ban/unban/bans live behind this
 * header (ban.c, to come); publishing (banpub: export file, --follow, hooks) only reads through it.
 * This interface is meant to stay stable: new fields go at the end of ban_rec.
 *
 * INVARIANTS
 *     A ban_rec and the strings it points to are valid only during the call that hands it over
 *     (a ban_foreach_fn or ban_change_fn); copy what must outlive it. bytes are in network order,
 *     masked to prefix; IPv4 uses the first 4 bytes. expires == 0 means for ever. Callbacks run on
 *     the daemon's loop, never on another thread; a callback must not add or remove bans.
 *
 * BUGS
 *     Only the interface has landed: no implementation links yet (ban.c comes with the ban index).
 */
#ifndef FG_BAN_H
#define FG_BAN_H

#include <stddef.h>
#include <stdint.h>

#define BAN_NET_TEXT_MAX 64 /* "ffff:...:ffff/128" and a NUL fit */

/* ban_rec - one current ban, as publishers see it */
typedef struct ban_rec {
    uint8_t family;                /* 4 or 6 */
    uint8_t bytes[16];             /* network order, masked to prefix; IPv4 in the first 4 */
    uint8_t prefix;                /* bits: 32 / 128 for one address */
    char net[BAN_NET_TEXT_MAX];    /* text form: "192.0.2.1", "198.51.100.0/24", "2001:db8::/64" */
    const char *reason;            /* may be NULL */
    const char *rule;              /* the ban rule's name, or NULL for a manual ban */
    uint64_t since;                /* wall-clock seconds */
    uint64_t expires;              /* wall-clock seconds; 0 = for ever */
    uint32_t times;                /* bans of this key within the history (1 for the first) */
} ban_rec;

/* ban_change - what happened to a ban */
enum ban_change { BAN_ADDED = 1, BAN_REMOVED = 2, BAN_EXPIRED = 3 };

struct ban_index;

/* ban_foreach_fn - called once per current ban */
typedef void (*ban_foreach_fn)(const ban_rec *r, void *arg);
/* ban_change_fn - called after a ban is added (or re-banned), removed (unban) or expired */
typedef void (*ban_change_fn)(int change, const ban_rec *r, void *arg);

/* ban_foreach - call fn for every current (not expired at now_wall) ban, in no set order; returns how many */
size_t ban_foreach(const struct ban_index *bi, uint64_t now_wall, ban_foreach_fn fn, void *arg);
/* ban_on_change - register cb (one per index; NULL removes it); returns 0, or -1 if another is registered */
int ban_on_change(struct ban_index *bi, ban_change_fn cb, void *arg);
/* ban_count - the number of current bans */
size_t ban_count(const struct ban_index *bi);

#endif
