/*
 * geo - GeoIP: the country and the autonomous system of a client address
 *
 * The databases are MaxMind DB files (GeoLite2-Country, GeoLite2-ASN, or
 * any .mmdb with the same fields) read with libmaxminddb, memory-mapped
 * once at load: a lookup is a walk of the mapped search tree, with no
 * system call, no allocation and no DNS. They are opened by the
 * configuration loader (`geoip = { country = PATH; asn = PATH; }`) and
 * belong to the rule set, so a reload opens them again and a request in
 * flight keeps the ones it started with.
 *
 * The request layer calls geo_lookup lazily, the first time a rule reads
 * `country` or `asn`, and keeps the answer for the rest of the request:
 * at most one lookup per database per request, none when no rule asks.
 *
 * SECURITY
 *     The address is the client's, parsed to binary before it gets here;
 *     a lookup costs at most 128 tree steps whatever the address. The
 *     database files are the admin's and are checked by libmaxminddb's
 *     MMDB_open (metadata and tree bounds) at load.
 */
#ifndef FG_GEO_H
#define FG_GEO_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct fg_geo fg_geo;

enum geo_db { GEO_COUNTRY, GEO_ASN };

/* geo_new - no database yet */
fg_geo *geo_new(void);
/* geo_open - open one database (memory-mapped, checked); 0 ok, -1 with a message in err */
int geo_open(fg_geo *g, enum geo_db which, const char *path, char *err, size_t errlen);
/* geo_free - close them; NULL is fine */
void geo_free(fg_geo *g);
/* geo_has_country, geo_has_asn - is that database configured? */
int geo_has_country(const fg_geo *g);
int geo_has_asn(const fg_geo *g);
/* geo_lookup - ISO country code ("" when unknown) and AS number (0 when unknown) of an address */
void geo_lookup(fg_geo *g, const fg_addr *a, char country[3], uint32_t *asn);
/* geo_lookups - how many lookups were made (statistics; tests check that a request makes at most one) */
uint64_t geo_lookups(const fg_geo *g);

#endif
