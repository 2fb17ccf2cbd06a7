/*
 * keys - the layout of every key in the store
 *
 * A key is: one class byte (the prefix of its subsystem, the same codes as
 * the Stalwart in-memory store), the rule's name as a length-delimited
 * string, then the key's parts, each a type byte, a length and the bytes.
 * The type byte keeps an address and a login of the same bytes apart (a
 * Stalwart key would collide there). Lengths are LEB128 varints. A part
 * longer than KEY_PART_MAX is replaced by a 16-byte hash of it with the
 * type's KEY_HASHED bit set, which bounds every key by KEY_MAX.
 *
 * Classes 27 and up are ours; they are documented in README.md beside the
 * table of DESIGN.md.
 */
#ifndef FG_KEYS_H
#define FG_KEYS_H

#include <stddef.h>
#include <stdint.h>

enum key_class {
    KEY_ACME = 0,         /* ACME tokens */
    KEY_OAUTH = 1,        /* OAuth codes */
    KEY_RCPT = 2,         /* RCPT rate limits */
    KEY_SCAN = 3,         /* scan rate limits */
    KEY_LOITER = 4,       /* loiter rate limits */
    KEY_AUTH = 5,         /* auth rate limits */
    KEY_SMTP = 6,         /* SMTP rate limits (every state but RCPT) */
    KEY_CONTACT = 7,      /* contact-form rate limits */
    KEY_HTTP_AUTHED = 8,  /* HTTP authenticated */
    KEY_HTTP_ANON = 9,    /* HTTP anonymous */
    KEY_IMAP = 10,        /* IMAP rate limits */
    KEY_BLOB_QUOTA = 11,  /* blob quota */
    KEY_GREYLIST = 16,    /* greylist tokens and passes */
    KEY_QUEUE_LOCK = 21,  /* message-queue locks */
    KEY_TASK_LOCK = 23,   /* task locks */
    KEY_WEBDAV_LOCK = 25, /* WebDAV locks */
    KEY_SIEVE_ID = 26,    /* Sieve auto-responder ids */
    KEY_BAN = 27,         /* bans in force */
    KEY_BAN_HISTORY = 28, /* ban history (repeat offenders) */
    KEY_LIST = 29,        /* lookup lists */
};

enum key_part_type {
    KEY_PART_STRING = 's',  /* text, folded by the caller as the attribute wants */
    KEY_PART_ADDRESS = 'a', /* binary network address: family byte, prefix length, bytes */
    KEY_PART_NUMBER = 'n',  /* decimal number as text */
    KEY_PART_TAG = 't',     /* a fixed word that tells keys of one rule apart (greylist "triplet", "client") */
    KEY_HASHED = 0x80,      /* or-ed into the type: bytes are a hash of a long part */
};

#define KEY_PART_MAX 128 /* longer parts are hashed */
#define KEY_NAME_MAX 64  /* longest rule name */
#define KEY_MAX 1024     /* bound of every key */
#define KEY_PARTS_MAX 8  /* parts per key */

typedef struct key_buf {
    unsigned char bytes[KEY_MAX]; /* the key */
    size_t len;                   /* bytes used */
} key_buf;

/* key_begin - start a key of class cls for the rule name */
void key_begin(key_buf *k, enum key_class cls, const char *name, size_t name_len);

/* key_part - append one typed part */
void key_part(key_buf *k, enum key_part_type type, const void *data, size_t len);

/* key_format - printable form "class:name:part:part" for logs and floodgatectl; returns chars written */
size_t key_format(const unsigned char *key, size_t len, char *out, size_t size);

#endif
