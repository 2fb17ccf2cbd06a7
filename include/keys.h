/*
 * keys - the layout of every key in the store
 *
 * A key is: one class byte (the prefix of its subsystem, the same codes as
 * the Stalwart in-memory store), the rule's name as a length-delimited
 * string, then the key's parts, each a type byte, a length and the bytes.
 * The type byte keeps an address and a login of the same bytes apart (a
 * Stalwart key would collide there). Lengths are LEB128 varints. A part
 * longer than KEY_PART_MAX is replaced by its HASH_STABLE_BYTES stable hash
 * (BLAKE2b, hash.h: the same bytes in every daemon and after a restart)
 * with the type's KEY_HASHED bit set.
 *
 * Invariant: every key fits KEY_MAX, which is derived from the limits (a
 * name of KEY_NAME_MAX, KEY_PARTS_MAX parts of KEY_PART_BYTES each) and
 * checked at compile time; key_begin and key_part also check at run time
 * and mark a key that would not fit (too long a name, too many parts) as
 * broken instead of writing past it: key_ok says so, and such a key must
 * not be used. The rule file's limits (rule.c) make that unreachable.
 *
 * Case: key_part_lower folds ASCII letters as it appends, whatever the
 * length (a long part is folded, then hashed), so the case variants of a
 * value are one key.
 *
 * BUGS: a long part hashed by a floodgated before libsodium (the old
 * 64-bit hash, unfolded) has other bytes: such keys in an old snapshot or
 * in Redis match nothing and expire on their own (a long sender greylisted
 * once more). No format change: the table's hash is not on disk.
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
#define KEY_PARTS_MAX 8  /* parts per key */
#define KEY_VARINT_BYTES(n) ((n) < 0x80 ? 1 : (n) < 0x4000 ? 2 : 3) /* LEB128 length of n */
#define KEY_PART_BYTES (1 + KEY_VARINT_BYTES(KEY_PART_MAX) + KEY_PART_MAX) /* type, length, bytes */
/* bound of every key: class, the name's length and bytes, the parts (1114 bytes) */
#define KEY_MAX (1 + KEY_VARINT_BYTES(KEY_NAME_MAX) + KEY_NAME_MAX + KEY_PARTS_MAX * KEY_PART_BYTES)

typedef struct key_buf {
    unsigned char bytes[KEY_MAX]; /* the key */
    size_t len;                   /* bytes used */
    unsigned nparts;              /* parts appended */
    int broken;                   /* a name or part did not fit: the key must not be used */
} key_buf;

/* key_begin - start a key of class cls for the rule name */
void key_begin(key_buf *k, enum key_class cls, const char *name, size_t name_len);

/* key_part - append one typed part (hashed when longer than KEY_PART_MAX) */
void key_part(key_buf *k, enum key_part_type type, const void *data, size_t len);

/* key_part_lower - append one typed part with ASCII letters folded to lower case, any length: the same
 * key as key_part of the folded bytes */
void key_part_lower(key_buf *k, enum key_part_type type, const void *data, size_t len);

/* key_ok - 1 when every name and part fitted (always, within the limits above) */
int key_ok(const key_buf *k);

/* key_format - printable form "class:name:part:part" for logs and floodgatectl; returns chars written */
size_t key_format(const unsigned char *key, size_t len, char *out, size_t size);

#endif
