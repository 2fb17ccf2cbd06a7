/*
 * banexport - the current bans in the forms a firewall reads
 *
 * Pure functions from a list of ban records and a wall-clock "now" (seconds)
 * to text appended to an evbuffer: nothing here reads a clock, a file or the
 * ban index, so every format is tested from known records. The caller (the
 * control command `bans --format`, the export file, `bans --follow`) walks
 * the bans and hands them over.
 *
 *   nft    a script for `nft -f`: table inet floodgate with the sets
 *          banned_v4 / banned_v6 (flags interval, timeout) and a chain
 *          input (hook input, priority filter - 10) dropping their sources.
 *          The sets are flushed and refilled in the same transaction, each
 *          element with its remaining time (a ban for ever has none), so
 *          the kernel expires bans by itself even when floodgated is
 *          stopped. Loading it again replaces the content: it is idempotent.
 *   ipset  input for `ipset restore`: hash:net sets floodgate_v4 (family
 *          inet) and floodgate_v6 (inet6) with timeout support, -exist
 *          everywhere, flushed and refilled; "timeout 0" is for ever.
 *   plain  one banned address or network per line.
 *   json   one array of objects (network, reason, rule, since, expires,
 *          remaining, times); since/expires are wall-clock seconds, 0 = for ever.
 *          A username ban is an object with "username" in place of "network".
 * And the lines of `bans --follow`: banexport_event() in text or JSON.
 *
 * Username bans (family 0) never reach a firewall: nft, ipset and plain (which
 * scripts feed to firewalls too) leave them out, and so do the text lines of
 * --follow (a bouncer reads the second word as an address); only JSON, where
 * the field's name says what it is, carries them.
 *
 * INVARIANTS
 *     A record whose expiry is at or before now is left out of every
 *     format (it has expired; the daemon removes it at its next sweep).
 *     Text from a record (reason, rule) reaches nft/ipset/plain never: only
 *     the network, which is printed from its binary form, goes there.
 *
 * SECURITY
 *     Reasons come from the configuration and from `floodgatectl ban
 *     --reason`; in JSON and follow lines they are escaped (quotes,
 *     backslashes, control bytes), so a reason cannot add a line or a field.
 *
 * BUGS
 *     An interval set refuses overlapping elements, so a network inside
 *     another banned network of the same family is left out of the nft
 *     script; when the outer ban ends first, the export is rewritten and the
 *     inner one appears (unless floodgated is stopped by then). ipset caps a
 *     timeout at 2147483 s (24.8 days): a longer remaining time is cut to
 *     that, and the firewall may let the address through before floodgated
 *     does. Bytes >= 0x80 in a reason pass into JSON unchanged.
 */
#ifndef FG_BANEXPORT_H
#define FG_BANEXPORT_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#define BANEXPORT_IPSET_TIMEOUT_MAX 2147483u /* ipset's largest timeout, seconds */
#define BANEXPORT_NFT_CHUNK 512              /* elements per nft "add element" statement */

/* banexport_rec - what a format needs of one ban (a view of ban.h's record) */
typedef struct banexport_rec {
    uint8_t family;        /* 4 or 6; 0 for a username ban (name) */
    uint8_t bytes[16];     /* network order, masked to prefix; IPv4 in the first 4 */
    uint8_t prefix;        /* bits: 32 / 128 for one address */
    const char *reason;    /* may be NULL */
    const char *rule;      /* the ban rule, or NULL for a manual ban */
    uint64_t since;        /* wall-clock seconds */
    uint64_t expires;      /* wall-clock seconds; 0 = for ever */
    uint32_t times;        /* bans of this key within the history */
    const char *name;      /* family 0: a username ban (the name); else NULL */
} banexport_rec;

enum banexport_format { BANEXPORT_NFT, BANEXPORT_IPSET, BANEXPORT_PLAIN, BANEXPORT_JSON };
enum banexport_event { BANEXPORT_BAN, BANEXPORT_UNBAN, BANEXPORT_EXPIRE };

/* banexport_parse_format - "nft", "ipset", "plain", "json" to the enum; -1 for anything else */
int banexport_parse_format(const char *name);
/* banexport_format_name - the enum's name */
const char *banexport_format_name(int fmt);
/* banexport_network - the record's address or network as text ("192.0.2.1", "2001:db8::/48") */
void banexport_network(const banexport_rec *r, char *out, size_t size);
/* banexport_write - the records in one format; recs need not be sorted */
void banexport_write(int fmt, const banexport_rec *recs, size_t n, uint64_t now, struct evbuffer *out);
/* banexport_event - one --follow line (text, or JSON when json) for a ban, unban or expiry; nothing for a
 * username ban in text */
void banexport_event(int ev, const banexport_rec *r, uint64_t now, int json, struct evbuffer *out);

#endif
