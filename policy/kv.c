/*
 * kv - the store's other tenants (see kv.h)
 */
#include "kv.h"

#include <string.h>
#include <strings.h>

#include "num.h"

static const struct {
    const char *name; /* as floodgatectl takes it */
    uint8_t cls;      /* enum key_class */
} classes[] = {
    {"acme", KEY_ACME},           {"oauth", KEY_OAUTH},         {"quota", KEY_BLOB_QUOTA},
    {"queue-lock", KEY_QUEUE_LOCK}, {"task-lock", KEY_TASK_LOCK}, {"webdav-lock", KEY_WEBDAV_LOCK},
    {"sieve", KEY_SIEVE_ID},
};

static const char *const ops[] = {[KV_GET] = "get",     [KV_SET] = "set",       [KV_DEL] = "del",
                                  [KV_INCR] = "incr",   [KV_LOCK] = "lock",     [KV_UNLOCK] = "unlock",
                                  [KV_RENEW] = "renew", [KV_SEEN] = "seen"};

/* kv_op_of - an operation by name */
int kv_op_of(const char *name)
{
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (!strcasecmp(name, ops[i]))
            return (int)i;
    return -1;
}

/* kv_class_of - a kv tenant's class by name or number */
int kv_class_of(const char *name)
{
    uint64_t n;
    const char *why;
    int numeric = num_parse_u64(name, strlen(name), 0, 255, &n, &why) == 0;

    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if ((numeric && n == classes[i].cls) || (!numeric && !strcasecmp(name, classes[i].name)))
            return classes[i].cls;
    return -1;
}

/* kv_class_names - for usage messages */
const char *kv_class_names(void)
{
    return "acme (0), oauth (1), quota (11), queue-lock (21), task-lock (23), webdav-lock (25), sieve (26)";
}

/* kv_key - class byte, "kv" in the rule name's place, the key as one string part */
void kv_key(key_buf *k, uint8_t cls, const char *key, size_t len)
{
    key_begin(k, (enum key_class)cls, "kv", 2);
    key_part(k, KEY_PART_STRING, key, len);
}
