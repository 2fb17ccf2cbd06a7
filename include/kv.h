/*
 * kv - the store's other tenants: values, counters, locks with owners and one-time ids
 *
 * The in-memory store that floodgate's design comes from also holds ACME
 * tokens (class 0), OAuth codes (1), blob quotas (11), message-queue,
 * task and WebDAV locks (21, 23, 25) and Sieve auto-responder ids (26).
 * floodgate owns that store for a fleet, so mail-server scripts get it
 * through `floodgatectl kv|lock|seen` and need no second Redis client.
 * These keys live beside the counters under their own class byte, with
 * the name "kv" where a rule's name stands, so they never meet a rule's
 * keys; their values are opaque bytes, at most KV_VALUE_MAX.
 *
 * A lock's value is its owner's token, chosen at random by the daemon when
 * the lock is taken; unlock and renew are honoured only with that token,
 * each as one atomic store operation (one script on Redis), so a lock
 * never passes to two owners.
 */
#ifndef FG_KV_H
#define FG_KV_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

#define KV_VALUE_MAX 4096     /* bytes of one value */
#define KV_TOKEN_LEN 32       /* hex digits of a lock's owner token */
#define KV_TTL_MAX (366ULL * 86400 * 1000) /* a year, in ms */

enum kv_op { KV_GET, KV_SET, KV_DEL, KV_INCR, KV_LOCK, KV_UNLOCK, KV_RENEW, KV_SEEN };

/* kv_op_of - an operation by name (get, set, del, incr, lock, unlock, renew, seen); -1 unknown */
int kv_op_of(const char *name);
/* kv_class_of - a class by name (acme, oauth, quota, queue-lock, task-lock, webdav-lock, sieve) or number;
 * -1 for a class that is not the kv tenants' (the counters', greylist's and bans' are not writable here) */
int kv_class_of(const char *name);
/* kv_class_names - the names, for usage messages */
const char *kv_class_names(void);
/* kv_key - the store key of a kv entry */
void kv_key(key_buf *k, uint8_t cls, const char *key, size_t len);

#endif
