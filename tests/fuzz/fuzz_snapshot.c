/*
 * fuzz_snapshot - libFuzzer driver for the snapshot loader
 *
 * The input is a snapshot file, loaded by snapshot_load into a fresh
 * embedded table as floodgated loads its state at start. What loads is
 * written back with snapshot_write and loaded again at the same instant:
 * it must give every key written. Any crash, leak or sanitizer report is
 * a bug; so is a file that loads a key yet reports an error.
 *
 * FG_FUZZ_WRITE_SEEDS=DIR writes real snapshots (greylist triplets and
 * clients, bans, kv values) into DIR and exits: the seeds of
 * tests/fuzz/corpus-snapshot, made again when the format changes.
 * Build and run: make fuzz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "grey.h"
#include "keys.h"
#include "mem.h"
#include "snapshot.h"

#define NOW 600000ULL            /* daemon clock */
#define WALL 1700000000000ULL    /* wall clock at the same instant */

/* put - one key with a value of vlen bytes filled with fill, expiring in ttl ms */
static void put(mem_store *m, const char *key, size_t klen, size_t vlen, int fill, uint64_t ttl)
{
    void *v = mem_put(m, key, klen, vlen, NOW + ttl, NOW);
    if (!v)
        abort();
    memset(v, fill, vlen);
    if (vlen == GREY_TRIPLET_SIZE) {
        uint64_t first = NOW - 1000; /* a triplet's first sight: a date on the daemon clock */
        memcpy(v, &first, 8);
    }
}

/* write_seeds - real snapshots into dir */
static void write_seeds(const char *dir)
{
    char path[512], err[256];
    static const char grey[] = "\x10\x08greylist\x74\x07triplet\x61\x06\x02\x18\xc0\x00\x02\x73\x07" "a@x.org"
                               "\x73\x0b" "b@example.n";
    static const char client[] = "\x10\x08greylist\x74\x06" "client\x61\x06\x02\x18\xc6\x33\x64";
    static const char ban[] = "\x1b\x03" "ban\x61\x06\x02\x20\xcb\x00\x71\x05";
    static const char kv[] = "\x00\x04" "acme\x73\x05token";
    static const char rate[] = "\x02\x04" "rate\x73\x01x"; /* not kept: a snapshot skips it */

    for (int i = 0; i < 3; i++) {
        mem_store *m = mem_new(&(mem_config){.seed = 1});
        put(m, grey, sizeof grey - 1, GREY_TRIPLET_SIZE, 0x11, 3600000);
        if (i > 0) {
            put(m, client, sizeof client - 1, GREY_CLIENT_SIZE, 0x02, 86400000);
            put(m, ban, sizeof ban - 1, 16, 0x01, 60000);
            put(m, rate, sizeof rate - 1, 32, 0x05, 60000);
        }
        if (i > 1)
            put(m, kv, sizeof kv - 1, 5, 'v', UINT64_MAX - NOW);
        snprintf(path, sizeof path, "%s/snapshot-%d", dir, i);
        if (snapshot_write(m, path, NOW, WALL, err, sizeof err) < 0) {
            fprintf(stderr, "fuzz_snapshot: %s\n", err);
            abort();
        }
        mem_free(m);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("FG_FUZZ_WRITE_SEEDS");
    (void)argc;
    (void)argv;
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    mem_store *m = mem_new(&(mem_config){.seed = 3});
    long n = snapshot_load(m, fuzz_write("snapshot", data, size), NOW, WALL, err, sizeof err);

    if (n < 0 && !err[0])
        abort(); /* refused without saying why */
    if (n > 0) {
        const char *again = fuzz_path("snapshot.again");
        long w = snapshot_write(m, again, NOW, WALL, err, sizeof err);
        if (w >= 0) {
            mem_store *m2 = mem_new(&(mem_config){.seed = 4});
            long n2 = snapshot_load(m2, again, NOW, WALL, err, sizeof err);
            if (n2 != w) {
                fprintf(stderr, "fuzz_snapshot: wrote %ld keys, loaded %ld back (%s)\n", w, n2, err);
                abort();
            }
            mem_free(m2);
        }
    }
    mem_free(m);
    return 0;
}
