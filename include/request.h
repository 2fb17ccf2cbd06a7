/*
 * request - one policy query as the engine sees it
 *
 * A request is the attribute list of one policy-protocol query, held as
 * pointers into a buffer that the caller owns (the connection's copy of
 * the request bytes, NUL-terminated in place). Attributes that floodgate
 * knows get a fixed id and O(1) lookup; any other attribute is kept in
 * `extra` so that rules can still name it. Derived attributes
 * (sender_domain, recipient_domain, ...) are computed on lookup from the
 * attribute they derive from, without copying.
 *
 * The kinds of request are DESIGN.md's table; `request=` selects one.
 */
#ifndef FG_REQUEST_H
#define FG_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"

typedef struct fg_geo fg_geo;

enum req_kind {
    REQ_NONE = 0,  /* no request= attribute */
    REQ_SMTP,      /* smtpd_access_policy */
    REQ_AUTH,      /* auth */
    REQ_REPORT,    /* report */
    REQ_HTTP,      /* http */
    REQ_IMAP,      /* imap */
    REQ_LOITER,    /* loiter */
    REQ_CONTACT,   /* contact */
    REQ_SCAN,      /* scan */
    REQ_UNKNOWN,   /* request= with a value we do not know */
    REQ__COUNT
};

/* attributes sent on the wire that floodgate knows by name */
#define ATTR_WIRE_LIST(X)                                                                           \
    X(REQUEST, "request") X(PROTOCOL_STATE, "protocol_state") X(PROTOCOL_NAME, "protocol_name")     \
    X(CLIENT_ADDRESS, "client_address") X(CLIENT_NAME, "client_name") X(CLIENT_PORT, "client_port") \
    X(REVERSE_CLIENT_NAME, "reverse_client_name") X(SERVER_ADDRESS, "server_address")               \
    X(SERVER_PORT, "server_port") X(HELO_NAME, "helo_name") X(SENDER, "sender")                     \
    X(RECIPIENT, "recipient") X(RECIPIENT_COUNT, "recipient_count") X(QUEUE_ID, "queue_id")         \
    X(INSTANCE, "instance") X(SIZE, "size") X(ETRN_DOMAIN, "etrn_domain") X(STRESS, "stress")       \
    X(SASL_METHOD, "sasl_method") X(SASL_USERNAME, "sasl_username") X(SASL_SENDER, "sasl_sender")   \
    X(CCERT_SUBJECT, "ccert_subject") X(CCERT_ISSUER, "ccert_issuer")                               \
    X(CCERT_FINGERPRINT, "ccert_fingerprint") X(CCERT_PUBKEY_FINGERPRINT, "ccert_pubkey_fingerprint") \
    X(ENCRYPTION_PROTOCOL, "encryption_protocol") X(ENCRYPTION_CIPHER, "encryption_cipher")         \
    X(ENCRYPTION_KEYSIZE, "encryption_keysize") X(POLICY_CONTEXT, "policy_context")                 \
    X(COMPATIBILITY_LEVEL, "compatibility_level") X(MAIL_VERSION, "mail_version")                   \
    X(DATA_SIZE, "data_size") X(SERVER_HOSTNAME, "server_hostname")                                 \
    X(USERNAME, "username") X(PROTOCOL, "protocol") X(EVENT, "event") X(METHOD, "method")           \
    X(URI, "uri") X(AUTHENTICATED, "authenticated") X(COMMAND, "command") X(EMAIL, "email")         \
    X(FORM, "form") X(PWHASH, "pwhash") X(SESSION_ID, "session_id") X(USER_AGENT, "user_agent")     \
    X(HOST, "host") X(WATCH, "watch")

/* attributes computed from others */
#define ATTR_DERIVED_LIST(X)                                                                        \
    X(SENDER_DOMAIN, "sender_domain") X(RECIPIENT_DOMAIN, "recipient_domain")                       \
    X(SASL_DOMAIN, "sasl_domain") X(USERNAME_DOMAIN, "username_domain") X(EMAIL_DOMAIN, "email_domain") \
    X(HELO_DOMAIN, "helo_domain") X(COUNTRY, "country") X(ASN, "asn")

#define ATTR_ENUM(id, name) ATTR_##id,
enum attr_id { ATTR_WIRE_LIST(ATTR_ENUM) ATTR__WIRE, ATTR__DERIVED_FIRST = ATTR__WIRE - 1,
               ATTR_DERIVED_LIST(ATTR_ENUM) ATTR__COUNT };
#undef ATTR_ENUM

#define REQ_EXTRA_MAX 32 /* unknown attributes kept per request; more are ignored */

typedef struct req_attr {
    const char *name;  /* NUL-terminated */
    const char *value; /* NUL-terminated */
    uint32_t vlen;     /* value length */
} req_attr;

typedef struct fg_request {
    enum req_kind kind;              /* from request= */
    const char *val[ATTR__WIRE];     /* known attribute values, NULL when absent */
    uint32_t vlen[ATTR__WIRE];       /* their lengths */
    req_attr extra[REQ_EXTRA_MAX];   /* other attributes */
    unsigned nextra;                 /* used in extra */
    int addr_parsed;                 /* client address cache: 0 not yet, 1 parsed, -1 not an address */
    fg_addr addr;                    /* client_address in binary */
    fg_geo *geo;                     /* GeoIP databases for country/asn, NULL = none (set by the engine) */
    int geo_done;                    /* country and asn below are looked up */
    char country[3];                 /* ISO code of client_address, "" unknown */
    char asn[11];                    /* AS number of client_address as text, "" unknown */
} fg_request;

/* req_reset - an empty request */
void req_reset(fg_request *r);
/* req_attr_id - id of a known attribute name (wire or derived), -1 if unknown */
int req_attr_id(const char *name, size_t len);
/* req_attr_name - name of an attribute id */
const char *req_attr_name(int id);
/* req_set - record one attribute; name and value must outlive the request */
void req_set(fg_request *r, const char *name, size_t nlen, const char *value, size_t vlen);
/* req_set_id - req_set for a name whose id (req_attr_id: -1 unknown) the caller has */
void req_set_id(fg_request *r, int id, const char *name, size_t nlen, const char *value, size_t vlen);
/* req_attr_guess - does line (n bytes) start with "NAME=" for the wire attribute of id guess? The name's
 * length if so, else 0 (a parser that knows which attribute usually comes next skips the name lookup) */
size_t req_attr_guess(const char *line, size_t n, int guess);
/* req_get - value of an attribute id (derived ones computed); "" when absent */
const char *req_get(const fg_request *r, int id, size_t *len);
/* req_get_name - value of any attribute by name; "" when absent */
const char *req_get_name(const fg_request *r, const char *name, size_t *len);
/* req_geo_fill - look up country and asn of client_address in r->geo (req_get does it when first asked) */
void req_geo_fill(fg_request *r);
/* req_client_addr - parsed client_address, NULL if absent or not an address */
const fg_addr *req_client_addr(fg_request *r);
/* req_kind_of - the kind for a request= value */
enum req_kind req_kind_of(const char *value, size_t len);
/* req_kind_name - the request= value of a kind */
const char *req_kind_name(enum req_kind k);
/* req_sub - the value `on = "KIND:SUB"` selects on: protocol_state, event or command */
const char *req_sub(const fg_request *r, size_t *len);

#endif
