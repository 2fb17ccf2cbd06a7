/*
 * banstate - the ban index's records in a statestore: bans (class 27) and ban history (class 28)
 *
 * What: the owner of classes 27 and 28 in a statestore (statestore.h). It encodes every change of the
 * ban index (a ban, an unban; told by the index's change listener) as a put or a del, decodes what the
 * store hands back (at start, or from another daemon) into ban_add / ban_remove / ban_history_set, and
 * dumps the whole index when the store asks (a snapshot).
 *
 * Records (little-endian). The key names the banned thing and is decoded for a del, so it is built
 * here, not by key_part (which hashes long parts): the keys.h layout with an empty rule name and one
 * part, never hashed:
 *
 *     key:          class (27 or 28), 0 (empty name), then 'a' len family prefix bytes(4|16)
 *                                                   or 's' len name (ASCII lower case, up to 255)
 *     ban (27):     version=1 since(8) expires(8) times(4) reason_len(2) reason rule_len(2) rule
 *                   name_len(2) name (family 0: the name as given; else empty)
 *     history (28): version=1 last(8) times(4)
 *
 * (len is a LEB128 varint.) Dates are wall-clock seconds, as in ban_rec; a ban's record expires with
 * it (the record's expires = the ban's, 0 = for ever); a history record expires at its last ban plus the
 * index's history horizon (ban_history_kept, 7 days by default), when the index forgets it too, so that a
 * shared store (the fleet mirror's hash) does not keep it for ever.
 *
 * Which changes are recorded: BAN_ADDED as a put of the ban, and, when a rule made it (rule set,
 * times >= 1: the rule took the number from ban_history_next), a put of the history entry (times,
 * last = since); BAN_REMOVED as a del. BAN_EXPIRED is not: the record carries its expiry, and a
 * networked store expires it by itself.
 *
 * INVARIANTS
 *     Changes applied from the store (load, another daemon's) are not recorded back: the listener
 *     ignores changes while banstate applies one.
 *
 * SECURITY
 *     Keys and values come from files and servers: every length is checked against what is left and
 *     its bound; a family other than 0, 4 and 6, a prefix longer than its family's, a date past
 *     BAN_WALL_MAX (year 9999: a later one has no calendar form), or bytes left over make the record
 *     refused (its file is set aside by the store; a fleet peer's record is ignored).
 */
#ifndef FG_BANSTATE_H
#define FG_BANSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "ban.h"
#include "statestore.h"

#define BANSTATE_VERSION 1
#define BANSTATE_NAME_MAX 255   /* a username ban's name (ban.c's bound) */
#define BANSTATE_TEXT_MAX 1024  /* reason and rule are cut to this on the way out */
#define BANSTATE_KEY_MAX (1 + 1 + 1 + 2 + BANSTATE_NAME_MAX)
#define BANSTATE_VALUE_MAX (1 + 8 + 8 + 4 + 3 * 2 + 2 * BANSTATE_TEXT_MAX + BANSTATE_NAME_MAX)

/* banstate_item - a decoded record: r's strings point into the buffers */
typedef struct banstate_item {
    ban_rec r;                          /* key fields; a ban: since, expires, times, reason, rule;
                                         * history: since = the last ban, times */
    char name[BANSTATE_NAME_MAX + 1];   /* family 0 */
    char reason[BANSTATE_TEXT_MAX + 1];
    char rule[BANSTATE_TEXT_MAX + 1];
} banstate_item;

/* banstate_key - the key of r's ban (cls 27) or history entry (cls 28) into out; its length */
size_t banstate_key(uint8_t cls, const ban_rec *r, unsigned char out[BANSTATE_KEY_MAX]);
/* banstate_encode_ban - r's ban value into out; its length */
size_t banstate_encode_ban(const ban_rec *r, unsigned char out[BANSTATE_VALUE_MAX]);
/* banstate_encode_history - a history value (times, last ban) into out; its length */
size_t banstate_encode_history(uint32_t times, uint64_t last, unsigned char out[BANSTATE_VALUE_MAX]);
/* banstate_decode - a record of class 27 or 28 (value NULL: a del, the key alone) into it; 0, or -1 malformed */
int banstate_decode(const unsigned char *key, size_t klen, const unsigned char *value, size_t vlen,
                    banstate_item *it);

typedef struct banstate banstate;

/* banstate_new - the owner of classes 27 and 28 in st for the index bi; NULL when st has no owner slot left */
banstate *banstate_new(struct ban_index *bi, statestore *st);
/* banstate_attach - record every change of the index from now on (after statestore_load); 0, or -1 when the
 * index has no listener slot left */
int banstate_attach(banstate *b);
/* banstate_free - stop recording (the statestore stays the caller's); NULL is fine */
void banstate_free(banstate *b);

#endif
