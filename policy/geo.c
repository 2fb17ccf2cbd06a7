/*
 * geo - GeoIP lookups with libmaxminddb (see geo.h)
 *
 * Country: `country.iso_code`, else `registered_country.iso_code` (an
 * address of an anycast or satellite network may have only the second).
 * ASN: `autonomous_system_number`. Both are the field names of MaxMind's
 * GeoLite2 databases and of DB-IP's free ones.
 */
#include "geo.h"

#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc.h"

struct fg_geo {
    MMDB_s country;   /* open when has_country */
    MMDB_s asn;       /* open when has_asn */
    int has_country;
    int has_asn;
    uint64_t lookups; /* geo_lookup calls with an address */
};

/* open_one - MMDB_open with a readable error */
static int open_one(const char *path, MMDB_s *db, char *err, size_t errlen)
{
    int rc = MMDB_open(path, MMDB_MODE_MMAP, db);

    if (rc == MMDB_SUCCESS)
        return 0;
    snprintf(err, errlen, "%s: %s", path,
             rc == MMDB_IO_ERROR ? strerror(errno) : MMDB_strerror(rc));
    return -1;
}

/* geo_new - no database yet */
fg_geo *geo_new(void)
{
    return fg_calloc(1, sizeof(fg_geo));
}

/* geo_open - open one database, replacing none: each is configured once */
int geo_open(fg_geo *g, enum geo_db which, const char *path, char *err, size_t errlen)
{
    MMDB_s *db = which == GEO_COUNTRY ? &g->country : &g->asn;
    int *has = which == GEO_COUNTRY ? &g->has_country : &g->has_asn;

    if (*has || open_one(path, db, err, errlen) < 0)
        return -1;
    *has = 1;
    return 0;
}

/* geo_free - close the databases */
void geo_free(fg_geo *g)
{
    if (!g)
        return;
    if (g->has_country)
        MMDB_close(&g->country);
    if (g->has_asn)
        MMDB_close(&g->asn);
    fg_free(g);
}

/* geo_has_country - is a country database open? */
int geo_has_country(const fg_geo *g)
{
    return g && g->has_country;
}

/* geo_has_asn - is an ASN database open? */
int geo_has_asn(const fg_geo *g)
{
    return g && g->has_asn;
}

/* lookup - the database's entry for an address; 0 found */
static int lookup(const MMDB_s *db, const fg_addr *a, MMDB_entry_s *out)
{
    struct sockaddr_storage ss;
    int mmdb = 0;

    memset(&ss, 0, sizeof ss);
    if (a->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, a->bytes, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, a->bytes, 16);
    }
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, (struct sockaddr *)&ss, &mmdb);
    if (mmdb != MMDB_SUCCESS || !r.found_entry)
        return -1;
    *out = r.entry;
    return 0;
}

/* country_of - a two-letter code under one of the record's country maps */
static int country_of(MMDB_entry_s *e, const char *map, char country[3])
{
    MMDB_entry_data_s d;

    if (MMDB_get_value(e, &d, map, "iso_code", NULL) != MMDB_SUCCESS || !d.has_data ||
        d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
        return -1;
    memcpy(country, d.utf8_string, 2);
    country[2] = '\0';
    return 0;
}

/* geo_lookup - country and AS number of an address */
void geo_lookup(fg_geo *g, const fg_addr *a, char country[3], uint32_t *asn)
{
    MMDB_entry_s e;
    MMDB_entry_data_s d;

    country[0] = '\0';
    *asn = 0;
    if (!g || !a || (a->family != 4 && a->family != 6))
        return;
    g->lookups++;
    if (g->has_country && lookup(&g->country, a, &e) == 0 && country_of(&e, "country", country) < 0)
        (void)country_of(&e, "registered_country", country);
    if (g->has_asn && lookup(&g->asn, a, &e) == 0 &&
        MMDB_get_value(&e, &d, "autonomous_system_number", NULL) == MMDB_SUCCESS && d.has_data) {
        if (d.type == MMDB_DATA_TYPE_UINT32)
            *asn = d.uint32;
        else if (d.type == MMDB_DATA_TYPE_UINT16)
            *asn = d.uint16;
        else if (d.type == MMDB_DATA_TYPE_UINT64 && d.uint64 <= UINT32_MAX)
            *asn = (uint32_t)d.uint64;
    }
}

/* geo_lookups - lookups made so far */
uint64_t geo_lookups(const fg_geo *g)
{
    return g ? g->lookups : 0;
}
