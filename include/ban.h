/*
 * ban - the ban index: the read-only view publishers use (banpub), and the change callback
 *
 * What: the current bans (an address or a network of any prefix length, with its reason, rule,
 * wall-clock since/expiry and how many times the key was banned within the history), walked by
 * ban_foreach(), and a callback registered with ban_on_change() that is told of every ban, unban
 * and expiry.
 *
 * Why: issue 8. Enforcement, ban rules, durability and floodgatectl ban/unban/bans live behind this
 * header (policy/ban.c); publishing (banpub: export file, --follow, hooks) only reads through it.
 * This interface is meant to stay stable: new fields go at the end of ban_rec.
 *
 * INVARIANTS
 *     A ban_rec and the strings it points to are valid only during the call that hands it over
 *     (a ban_foreach_fn or ban_change_fn); copy what must outlive it. bytes are in network order,
 *     masked to prefix; IPv4 uses the first 4 bytes. expires == 0 means for ever. Callbacks run on
 *     the daemon's loop, never on another thread; a callback must not add or remove bans.
 *
 * The index (policy/ban.c) is one hash table per prefix length in use (per family), so a lookup costs
 * one probe per prefix length in use, the same with 10 or 1,000,000 bans. Username bans (family 0,
 * the name in `name`) sit in their own table and are never exported to a firewall. The index also
 * keeps the ban history (how many times a key was banned, and when last) for escalation.
 *
 * Usernames are matched without regard to ASCII case (as counter keys are).
 */
#ifndef FG_BAN_H
#define FG_BAN_H

#include <stddef.h>
#include <stdint.h>

#define BAN_NET_TEXT_MAX 64 /* "ffff:...:ffff/128" and a NUL fit */
#define BAN_WALL_MAX 253402300799ULL /* 9999-12-31T23:59:59Z: the latest since/expiry a ban may have (a later
                                      * one has no calendar date: gmtime fails past year 2^31) */

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
    const char *name;              /* family 0: the banned username (net holds it cut to fit); else NULL */
    uint16_t namelen;              /* family 0: name's length (0: name is a C string; ban_user sets it) */
} ban_rec;

/* ban_change - what happened to a ban (BAN_EVICTED: a full index, bans.max, made room for a new ban) */
enum ban_change { BAN_ADDED = 1, BAN_REMOVED = 2, BAN_EXPIRED = 3, BAN_EVICTED = 4 };

struct ban_index;

/* ban_foreach_fn - called once per current ban */
typedef void (*ban_foreach_fn)(const ban_rec *r, void *arg);
/* ban_change_fn - called after a ban is added (or re-banned), removed (unban), expired or evicted */
typedef void (*ban_change_fn)(int change, const ban_rec *r, void *arg);

/* ban_foreach - call fn for every current (not expired at now_wall) ban, in no set order; returns how many */
size_t ban_foreach(const struct ban_index *bi, uint64_t now_wall, ban_foreach_fn fn, void *arg);
/* ban_on_change - register cb with arg (up to BAN_LISTENERS per index: the export/follow publisher, the
 * journal, the fleet mirror); returns 0, or -1 when all are taken. ban_on_change_remove drops (cb, arg). */
#define BAN_LISTENERS 4
int ban_on_change(struct ban_index *bi, ban_change_fn cb, void *arg);
void ban_on_change_remove(struct ban_index *bi, ban_change_fn cb, void *arg);
/* ban_count - the number of current bans */
size_t ban_count(const struct ban_index *bi);
/* ban_max - the bound ban_set_max set (0: none); ban_count may be above it after it was lowered */
size_t ban_max(const struct ban_index *bi);

/* --- the index itself: used by the engine (ban rules, enforcement), control (ban/unban/bans) and
 *     durability (journal, snapshot, Redis mirror) --- */

struct fg_addr;

/* ban_index_new - an empty index; NULL when out of memory */
struct ban_index *ban_index_new(void);
/* ban_index_free - free the index and everything in it (no callback is called) */
void ban_index_free(struct ban_index *bi);
/* ban_parse - "ADDR", "ADDR/LEN" (masked to LEN) into r's family, bytes, prefix and net; other fields
 * zeroed; 0, or -1 (why set to a static message) */
int ban_parse(const char *text, ban_rec *r, const char **why);
/* ban_user - a username ban key (family 0) into r; 0, or -1 if the name is empty or over 255 bytes */
int ban_user(const char *name, size_t len, ban_rec *r);
/* ban_add - ban r's key (copying reason, rule, name) with r's since, expires and times; a key already
 * banned is replaced. Tells the change callback BAN_ADDED, except for a key that holds the same since,
 * expires, times, reason and rule already (a fleet resync's record again: nothing changed, so no hook runs
 * and no line is logged). A new key while the index holds its max (ban_set_max) first evicts the ban that
 * ends soonest (a ban for ever only when all are, the oldest then), told BAN_EVICTED; one that would end
 * before every ban held is refused instead. 0 new, 1 replaced (or the same again), -1 a key or date the
 * index cannot hold, BAN_FULL refused by the max */
#define BAN_FULL (-2)
int ban_add(struct ban_index *bi, const ban_rec *r);
/* ban_set_max - at most max bans, and at most max history entries (0: no bound, the default). Keys are
 * chosen by clients (an IPv6 /128 of a /48, a username), so a ban rule alone does not bound how many bans
 * it makes; past max, a new ban evicts the one that ends soonest or is refused (ban_add), and a new key
 * gets no history entry (its ban, if any, is a first one). A lower max evicts nothing by itself: each new
 * ban then takes the place of one held. */
void ban_set_max(struct ban_index *bi, size_t max);
/* ban_full_refused - new keys refused by the bound so far (bans and history entries) */
uint64_t ban_full_refused(const struct ban_index *bi);
/* ban_full_bans - new bans refused by the bound so far (history entries not counted) */
uint64_t ban_full_bans(const struct ban_index *bi);
/* ban_evicted - bans evicted by the bound so far to make room for new ones */
uint64_t ban_evicted(const struct ban_index *bi);
/* ban_remove - unban exactly r's key (family, bytes, prefix or name); tells BAN_REMOVED; 0, or -1 not banned */
int ban_remove(struct ban_index *bi, const ban_rec *key);
/* ban_find - the ban on exactly this key, if in force at now_wall; NULL otherwise. The record handed back
 * by ban_find, ban_match and ban_match_user is valid until the next call on the index. */
const ban_rec *ban_find(const struct ban_index *bi, const ban_rec *key, uint64_t now_wall);
/* ban_match - a ban in force at now_wall on this address or on any network holding it (NULL: none);
 * one hash probe per prefix length in use */
const ban_rec *ban_match(const struct ban_index *bi, const struct fg_addr *a, uint64_t now_wall);
/* ban_match_user - a ban in force on this username, ASCII case ignored (NULL: none) */
const ban_rec *ban_match_user(const struct ban_index *bi, const char *name, size_t len, uint64_t now_wall);
/* ban_match_lookups - the hash lookups ban_match has made so far (one per prefix length in use a call) */
uint64_t ban_match_lookups(const struct ban_index *bi);
/* ban_expire - drop the bans whose expiry is at or before now_wall, telling BAN_EXPIRED for each; how many.
 * At most 65,536 a call (the rest on the next call; a ban past its expiry is out of force at once anyway). */
size_t ban_expire(struct ban_index *bi, uint64_t now_wall);
/* ban_history_next - the number this ban of key would be within history_s seconds (1 for the first, or
 * if the last ban of key was more than history_s before now_wall), and record it with now_wall */
uint32_t ban_history_next(struct ban_index *bi, const ban_rec *key, uint64_t now_wall, uint64_t history_s);
/* ban_history_horizon - keep history entries at least history_s after their last ban (default 7 days; the
 * longest asked for wins; ban_history_next raises it too). Older entries are forgotten by ban_expire. */
void ban_history_horizon(struct ban_index *bi, uint64_t history_s);
/* ban_history_kept - how long history entries are kept after their last ban now (seconds) */
uint64_t ban_history_kept(const struct ban_index *bi);
/* ban_history_foreach - every history entry: r's key fields, r->times (bans so far) and r->since (the last
 * ban's time) are set (for the snapshot, class 28); returns how many */
size_t ban_history_foreach(const struct ban_index *bi, ban_foreach_fn fn, void *arg);
/* ban_history_set - restore one history entry (snapshot load, journal replay); 0, -1 a key or date the index
 * cannot hold, BAN_FULL a new key while the history holds its max */
int ban_history_set(struct ban_index *bi, const ban_rec *key, uint32_t times, uint64_t last_wall);

#endif
