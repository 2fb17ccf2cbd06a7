/*
 * snapshot - the embedded store's state on disk (see snapshot.h for the format)
 */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"
#include "grey.h"
#include "hash.h"
#include "keys.h"
#include "num.h"

#define MAGIC "FGSNAP2\n"    /* dates in wall ms, header with the writer's wall clock */
#define MAGIC_V1 "FGSNAP1\n" /* dates in wall ms (the daemon counted on wall time then), no header */
#define TRAILER 0xffff
#define HASH_SEED 0x736e617073686f74ULL

typedef struct writer {
    FILE *f;
    const snapshot_extra *x; /* the extra state's classes are its own, not the table's */
    uint64_t hash;     /* chained hash64 of what was written */
    uint64_t count;    /* records */
    uint64_t now_ms;   /* daemon clock ... */
    uint64_t wall_ms;  /* ... and wall clock at the same instant: dates go to disk in wall time */
    int failed;
} writer;

/* snapshot_keeps - greylist, bans, ban history */
int snapshot_keeps(const unsigned char *key, size_t klen)
{
    static const uint8_t kept[] = {KEY_GREYLIST, KEY_BAN, KEY_BAN_HISTORY, /* and the kv tenants (kv.h): */
                                   KEY_ACME, KEY_OAUTH, KEY_BLOB_QUOTA, KEY_QUEUE_LOCK, KEY_TASK_LOCK,
                                   KEY_WEBDAV_LOCK, KEY_SIEVE_ID};

    for (size_t i = 0; klen > 0 && i < sizeof kept; i++)
        if (key[0] == kept[i])
            return 1;
    return 0;
}

/* shift_value - move the dates inside a value from one clock to the other (from_now and to_now: the same
 * instant); 1 if the value holds dates (then out has the converted copy), 0 if it is written as it is.
 * A class whose values hold dates adds its case here. */
static int shift_value(const unsigned char *key, size_t klen, const void *value, size_t vlen, uint64_t from_now,
                       uint64_t to_now, unsigned char out[GREY_TRIPLET_SIZE])
{
    uint64_t first;

    /* a greylist triplet: first sight (8) at offset 0; the client state (GREY_CLIENT_SIZE) holds no date */
    if (klen > 0 && key[0] == KEY_GREYLIST && vlen == GREY_TRIPLET_SIZE) {
        memcpy(out, value, GREY_TRIPLET_SIZE);
        memcpy(&first, out, 8);
        first = num_shift_date(first, from_now, to_now);
        memcpy(out, &first, 8);
        return 1;
    }
    return 0;
}

/* put - write bytes and fold them into the hash */
static void put(writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        w->failed = 1;
    w->hash = hash64(p, n, w->hash);
}

/* extra_owns - is this a key of the extra state's classes? */
static int extra_owns(const snapshot_extra *x, const unsigned char *key, size_t klen)
{
    return x && klen > 0 && key[0] >= x->first_class && key[0] <= x->last_class;
}

/* put_extra - one record of the extra state, its date already on the wall clock */
static int put_extra(void *arg, const unsigned char *key, size_t klen, const void *value, size_t vlen,
                     uint64_t expires_wall_ms)
{
    writer *w = arg;
    uint16_t kl = (uint16_t)klen, vl = (uint16_t)vlen;

    if (klen == 0 || klen >= TRAILER || vlen > 0xffff) {
        w->failed = 1;
        return 1;
    }
    put(w, &kl, 2);
    put(w, &vl, 2);
    put(w, &expires_wall_ms, 8);
    put(w, key, klen);
    put(w, value, vlen);
    w->count++;
    return w->failed;
}

/* put_record - one key */
static int put_record(const unsigned char *key, size_t klen, const void *value, size_t vlen, uint64_t expires_ms,
                      void *arg)
{
    writer *w = arg;
    uint16_t kl = (uint16_t)klen, vl = (uint16_t)vlen;
    uint64_t exp = num_shift_date(expires_ms, w->now_ms, w->wall_ms);
    unsigned char shifted[GREY_TRIPLET_SIZE];

    if (!snapshot_keeps(key, klen) || extra_owns(w->x, key, klen))
        return 0;
    put(w, &kl, 2);
    put(w, &vl, 2);
    put(w, &exp, 8);
    put(w, key, klen);
    put(w, shift_value(key, klen, value, vlen, w->now_ms, w->wall_ms, shifted) ? shifted : value, vlen);
    w->count++;
    return w->failed;
}

typedef struct snap_job {
    mem_store *m;
    const snapshot_extra *x;
    uint64_t now_ms;   /* daemon clock */
    uint64_t wall_ms;  /* wall clock, same instant */
    uint64_t count;
} snap_job;

/* write_records - the file's content: magic, records, trailer */
static int write_records(FILE *f, void *arg)
{
    snap_job *j = arg;
    writer w = {.f = f, .x = j->x, .hash = HASH_SEED, .now_ms = j->now_ms, .wall_ms = j->wall_ms};
    uint16_t trailer[2] = {TRAILER, 0};

    put(&w, MAGIC, 8);
    put(&w, &j->wall_ms, 8);
    mem_foreach(j->m, j->now_ms, put_record, &w);
    if (j->x && j->x->write(put_extra, &w, j->x->arg) != 0)
        w.failed = 1;
    uint64_t sum = w.hash, count = w.count;
    put(&w, trailer, 4);
    put(&w, &count, 8);
    put(&w, &sum, 8);
    j->count = count;
    return w.failed;
}

/* snapshot_write - write the kept keys to path, atomically */
long snapshot_write(mem_store *m, const char *path, uint64_t now_ms, uint64_t wall_ms, char *err, size_t errlen)
{
    return snapshot_write_with(m, NULL, path, now_ms, wall_ms, err, errlen);
}

/* snapshot_write_with - the kept keys and the extra state's records */
long snapshot_write_with(mem_store *m, const snapshot_extra *x, const char *path, uint64_t now_ms, uint64_t wall_ms,
                         char *err, size_t errlen)
{
    snap_job j = {m, x, now_ms, wall_ms, 0};

    if (file_replace(path, 0600, write_records, &j, err, errlen) < 0)
        return -1;
    return (long)j.count;
}

/* get - read exactly n bytes and fold them into the hash */
static int get(FILE *f, void *p, size_t n, uint64_t *hash)
{
    if (n && fread(p, 1, n, f) != n)
        return -1;
    *hash = hash64(p, n, *hash);
    return 0;
}

/* snapshot_load - check the whole file first, then load its live keys */
long snapshot_load(mem_store *m, const char *path, uint64_t now_ms, uint64_t wall_ms, char *err, size_t errlen)
{
    return snapshot_load_with(m, NULL, path, now_ms, wall_ms, err, errlen);
}

/* snapshot_load_with - the same, the extra state's records handed to it */
long snapshot_load_with(mem_store *m, const snapshot_extra *x, const char *path, uint64_t now_ms, uint64_t wall_ms,
                        char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char magic[8];
    unsigned char buf[2 * 65536], shifted[GREY_TRIPLET_SIZE];
    uint64_t hash = HASH_SEED, count = 0, want_count, want_sum, written_wall, from_wall;
    long loaded = 0;

    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* two passes: a snapshot is loaded whole or not at all */
    for (int pass = 0; pass < 2; pass++) {
        rewind(f);
        hash = HASH_SEED;
        count = 0;
        if (get(f, magic, 8, &hash) < 0)
            goto bad;
        if (!memcmp(magic, MAGIC, 8)) {
            if (get(f, &written_wall, 8, &hash) < 0)
                goto bad;
        } else if (!memcmp(magic, MAGIC_V1, 8)) {
            written_wall = wall_ms;
        } else {
            goto bad;
        }
        /* the downtime is what the wall clock says, but never negative: a wall clock that reads earlier than
         * the writer's stepped back, and a remaining time must not grow across a restart */
        from_wall = written_wall > wall_ms ? written_wall : wall_ms;
        for (;;) {
            uint16_t kl, vl;
            uint64_t exp;
            if (fread(&kl, 1, 2, f) != 2 || fread(&vl, 1, 2, f) != 2)
                goto bad;
            if (kl == TRAILER) {
                uint64_t sum = hash;
                if (fread(&want_count, 1, 8, f) != 8 || fread(&want_sum, 1, 8, f) != 8 || want_count != count ||
                    want_sum != sum || fgetc(f) != EOF)
                    goto bad;
                break;
            }
            hash = hash64(&kl, 2, hash);
            hash = hash64(&vl, 2, hash);
            if (get(f, &exp, 8, &hash) < 0 || get(f, buf, kl, &hash) < 0 || get(f, buf + kl, vl, &hash) < 0)
                goto bad;
            count++;
            if (extra_owns(x, buf, kl)) {
                if (pass == 1) {
                    x->load(buf, kl, buf + kl, vl, exp, x->arg);
                    loaded++;
                }
                continue;
            }
            exp = num_shift_date(exp, from_wall, now_ms);
            if (pass == 1 && exp > now_ms && snapshot_keeps(buf, kl)) {
                int dated = shift_value(buf, kl, buf + kl, vl, from_wall, now_ms, shifted);
                memcpy(mem_put(m, buf, kl, vl, exp, now_ms), dated ? shifted : buf + kl, vl);
                loaded++;
            }
        }
    }
    fclose(f);
    return loaded;
bad:
    fclose(f);
    snprintf(err, errlen, "%s: not a complete floodgate snapshot (truncated or damaged); not loaded", path);
    return -1;
}
