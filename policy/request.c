/*
 * request - one policy query as the engine sees it (see request.h)
 *
 * Names are looked up in a small open-addressing table built on first
 * use, and no request costs an allocation. The policy parser asks first
 * whether a line is the attribute Postfix sends next (req_attr_guess: one
 * compare), so a request in Postfix's order costs no lookup at all.
 */
#include "request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "geo.h"

#define ATTR_NAME(id, name) name,
static const char *const attr_names[ATTR__COUNT] = {ATTR_WIRE_LIST(ATTR_NAME) ATTR_DERIVED_LIST(ATTR_NAME)};
#undef ATTR_NAME

#define NAME_SLOTS 256 /* power of two, well above ATTR__COUNT */
static int16_t name_slot[NAME_SLOTS];
static uint8_t name_len[ATTR__COUNT];
static int names_ready;

static const char *const kind_names[REQ__COUNT] = {
    [REQ_SMTP] = "smtpd_access_policy", [REQ_AUTH] = "auth", [REQ_REPORT] = "report",
    [REQ_HTTP] = "http", [REQ_IMAP] = "imap", [REQ_LOITER] = "loiter",
    [REQ_CONTACT] = "contact", [REQ_SCAN] = "scan",
};

/* name_hash - a cheap hash of an attribute name: its length and four of its bytes; the table is
 * small and probed linearly, and names are compared in full, so a collision costs a probe, not a miss */
static inline unsigned name_hash(const char *n, size_t len)
{
    unsigned h = (unsigned)len;
    if (!len)
        return 0;
    h = h * 31 + (unsigned char)n[0];
    h = h * 31 + (unsigned char)n[len / 2];
    h = h * 31 + (unsigned char)n[len - 1];
    h = h * 31 + (unsigned char)n[len > 1 ? len - 2 : 0];
    return h ^ (h >> 7);
}

/* build_names - fill the name table once */
static void build_names(void)
{
    for (int i = 0; i < NAME_SLOTS; i++)
        name_slot[i] = -1;
    for (int id = 0; id < ATTR__COUNT; id++) {
        name_len[id] = (uint8_t)strlen(attr_names[id]);
        unsigned s = name_hash(attr_names[id], name_len[id]) & (NAME_SLOTS - 1);
        while (name_slot[s] >= 0)
            s = (s + 1) & (NAME_SLOTS - 1);
        name_slot[s] = (int16_t)id;
    }
    names_ready = 1;
}

/* load8 - 8 bytes as a number */
static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* load4 - 4 bytes as a number */
static inline uint32_t load4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* same_bytes - memcmp(a, b, n) == 0 for short names, in a few word loads (overlapping, never past n) */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (load8(a + i) != load8(b + i))
                return 0;
        return load8(a + n - 8) == load8(b + n - 8);
    }
    if (n >= 4)
        return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* req_attr_id - id of a known attribute name */
int req_attr_id(const char *name, size_t len)
{
    if (!names_ready)
        build_names();
    unsigned s = name_hash(name, len) & (NAME_SLOTS - 1);
    for (; name_slot[s] >= 0; s = (s + 1) & (NAME_SLOTS - 1)) {
        int id = name_slot[s];
        if (name_len[id] == len && same_bytes(attr_names[id], name, len))
            return id;
    }
    return -1;
}

/* req_attr_name - name of an attribute id */
const char *req_attr_name(int id)
{
    return id >= 0 && id < ATTR__COUNT ? attr_names[id] : "?";
}

/* req_reset - an empty request */
void req_reset(fg_request *r)
{
    memset(r->val, 0, sizeof r->val);
    r->kind = REQ_NONE;
    r->nextra = 0;
    r->addr_parsed = 0;
    r->geo_done = 0;
}

/* req_set_id - record one attribute whose id (-1: unknown) the caller has */
void req_set_id(fg_request *r, int id, const char *name, size_t nlen, const char *value, size_t vlen)
{
    (void)nlen;
    if (id >= 0 && id < ATTR__WIRE) {
        r->val[id] = value;
        r->vlen[id] = (uint32_t)vlen;
        if (id == ATTR_REQUEST)
            r->kind = req_kind_of(value, vlen);
        else if (id == ATTR_CLIENT_ADDRESS)
            r->addr_parsed = 0;
    } else if (id < 0 && r->nextra < REQ_EXTRA_MAX) {
        r->extra[r->nextra].name = name;
        r->extra[r->nextra].value = value;
        r->extra[r->nextra].vlen = (uint32_t)vlen;
        r->nextra++;
    }
}

/* req_set - record one attribute */
void req_set(fg_request *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
    req_set_id(r, req_attr_id(name, nlen), name, nlen, value, vlen);
}

/* req_attr_guess - is line (n bytes) "NAME=..." for the wire attribute `guess`? Its name's length, or 0 */
size_t req_attr_guess(const char *line, size_t n, int guess)
{
    if (!names_ready)
        build_names();
    if (guess < 0 || guess >= ATTR__WIRE)
        return 0;
    size_t len = name_len[guess];
    return len < n && line[len] == '=' && same_bytes(attr_names[guess], line, len) ? len : 0;
}

/* domain_of - the part after the last '@' of an attribute */
static const char *domain_of(const fg_request *r, int from, size_t *len)
{
    const char *v = r->val[from];
    if (!v) {
        *len = 0;
        return "";
    }
    const char *at = memrchr(v, '@', r->vlen[from]);
    if (!at) {
        *len = 0;
        return "";
    }
    *len = r->vlen[from] - (size_t)(at + 1 - v);
    return at + 1;
}

/* req_get - value of an attribute id; "" when absent */
const char *req_get(const fg_request *r, int id, size_t *len)
{
    if (id >= 0 && id < ATTR__WIRE) {
        if (!r->val[id]) {
            *len = 0;
            return "";
        }
        *len = r->vlen[id];
        return r->val[id];
    }
    switch (id) {
    case ATTR_SENDER_DOMAIN:
        return domain_of(r, ATTR_SENDER, len);
    case ATTR_RECIPIENT_DOMAIN:
        return domain_of(r, ATTR_RECIPIENT, len);
    case ATTR_SASL_DOMAIN:
        return domain_of(r, ATTR_SASL_USERNAME, len);
    case ATTR_USERNAME_DOMAIN:
        return domain_of(r, ATTR_USERNAME, len);
    case ATTR_EMAIL_DOMAIN:
        return domain_of(r, ATTR_EMAIL, len);
    case ATTR_HELO_DOMAIN: {
        /* helo_name without a trailing dot */
        const char *v = req_get(r, ATTR_HELO_NAME, len);
        if (*len && v[*len - 1] == '.')
            (*len)--;
        return v;
    }
    case ATTR_COUNTRY:
    case ATTR_ASN: {
        /* the lookup is a memo of the request's own client_address, so a const request may fill it in */
        fg_request *w = (fg_request *)r;
        if (!w->geo_done)
            req_geo_fill(w);
        *len = strlen(id == ATTR_COUNTRY ? r->country : r->asn);
        return id == ATTR_COUNTRY ? r->country : r->asn;
    }
    }
    *len = 0;
    return "";
}

/* req_geo_fill - country and asn of client_address, once per request */
void req_geo_fill(fg_request *r)
{
    uint32_t asn;

    r->geo_done = 1;
    geo_lookup(r->geo, req_client_addr(r), r->country, &asn);
    if (asn)
        snprintf(r->asn, sizeof r->asn, "%u", asn);
    else
        r->asn[0] = '\0';
}

/* req_get_name - value of any attribute by name */
const char *req_get_name(const fg_request *r, const char *name, size_t *len)
{
    int id = req_attr_id(name, strlen(name));

    if (id >= 0)
        return req_get(r, id, len);
    for (unsigned i = 0; i < r->nextra; i++)
        if (!strcmp(r->extra[i].name, name)) {
            *len = r->extra[i].vlen;
            return r->extra[i].value;
        }
    *len = 0;
    return "";
}

/* req_client_addr - parsed client_address, cached */
const fg_addr *req_client_addr(fg_request *r)
{
    if (!r->addr_parsed) {
        size_t len;
        const char *v = req_get(r, ATTR_CLIENT_ADDRESS, &len);
        r->addr_parsed = addr_parse(v, len, &r->addr) == 0 ? 1 : -1;
    }
    return r->addr_parsed > 0 ? &r->addr : NULL;
}

/* req_kind_of - the kind for a request= value */
enum req_kind req_kind_of(const char *value, size_t len)
{
    for (int k = REQ_SMTP; k < REQ_UNKNOWN; k++)
        if (strlen(kind_names[k]) == len && !strncasecmp(kind_names[k], value, len))
            return (enum req_kind)k;
    return REQ_UNKNOWN;
}

/* req_kind_name - the request= value of a kind */
const char *req_kind_name(enum req_kind k)
{
    return k > REQ_NONE && k < REQ_UNKNOWN ? kind_names[k] : "?";
}

/* req_sub - what `on = "KIND:SUB"` selects on */
const char *req_sub(const fg_request *r, size_t *len)
{
    switch (r->kind) {
    case REQ_SMTP:
        return req_get(r, ATTR_PROTOCOL_STATE, len);
    case REQ_REPORT:
        return req_get(r, ATTR_EVENT, len);
    case REQ_IMAP:
        return req_get(r, ATTR_COMMAND, len);
    case REQ_HTTP:
        return req_get(r, ATTR_METHOD, len);
    case REQ_AUTH:
    case REQ_LOITER:
        return req_get(r, ATTR_PROTOCOL, len);
    case REQ_CONTACT:
        return req_get(r, ATTR_FORM, len);
    default:
        *len = 0;
        return "";
    }
}
