/*
 * fuzz_banlog - libFuzzer driver for the bans' journal loader (statestore_file.h, banstate.h)
 *
 * The input is a journal file (state.banlog), loaded into a fresh ban index as floodgated loads it at
 * start. Whatever it holds, the loader must not crash, leak or read out of bounds, and afterwards the
 * journal must be clean: loaded again into another index (it was rewritten whole after a torn or
 * damaged file), it gives the same number of bans without setting anything aside.
 *
 * FG_FUZZ_WRITE_SEEDS=DIR writes real journals (address, network and username bans, history, an
 * unban) into DIR and exits: the seeds of tests/fuzz/corpus-banlog, made again when the format changes.
 * Build and run: make fuzz
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ban.h"
#include "banstate.h"
#include "fuzz_util.h"
#include "statestore_file.h"

#define NOW 1800000000ULL /* wall seconds */

/* quiet - the loader's warnings are expected here */
static void quiet(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

typedef struct kept {
    struct ban_index *bi;
    statestore *st;
    banstate *b;
} kept;

/* open_kept - an index with the journal beside snap loaded into it */
static kept open_kept(const char *snap)
{
    kept k = {ban_index_new(), statestore_file_new(snap, quiet), NULL};

    k.b = banstate_new(k.bi, k.st);
    if (!k.b || statestore_load(k.st, NOW) < 0 || banstate_attach(k.b) < 0)
        abort();
    return k;
}

/* close_kept - flush and free */
static void close_kept(kept k)
{
    banstate_free(k.b);
    statestore_free(k.st);
    ban_index_free(k.bi);
}

/* ban - a ban on text made by rule (NULL: by hand) */
static void ban(kept *k, const char *text, const char *rule, uint64_t ttl)
{
    ban_rec r;
    const char *why;

    if (!strncmp(text, "user:", 5) ? ban_user(text + 5, strlen(text + 5), &r) < 0 : ban_parse(text, &r, &why) < 0)
        abort();
    r.since = NOW;
    r.expires = ttl ? NOW + ttl : 0;
    r.times = rule ? ban_history_next(k->bi, &r, NOW, 86400) : 1;
    r.rule = rule;
    r.reason = "seed";
    if (ban_add(k->bi, &r) < 0)
        abort();
}

/* write_seeds - real journals into dir */
static void write_seeds(const char *dir)
{
    char snap[512], from[600], to[600];

    for (int i = 0; i < 3; i++) {
        snprintf(snap, sizeof snap, "%s/seed-state-%d", dir, i);
        kept k = open_kept(snap);
        ban(&k, "192.0.2.7", "auth", 3600);
        if (i > 0) {
            ban(&k, "2001:db8::/64", NULL, 0);
            ban(&k, "user:Joe@Example.COM", "spray", 600);
            ban(&k, "192.0.2.7", "auth", 7200); /* a second ban: history 2 */
        }
        if (i > 1) {
            ban_rec r;
            const char *why;
            ban_parse("2001:db8::/64", &r, &why);
            ban_remove(k.bi, &r);
        }
        close_kept(k);
        snprintf(from, sizeof from, "%s%s", snap, STATESTORE_JOURNAL_SUFFIX);
        snprintf(to, sizeof to, "%s/banlog-%d", dir, i);
        if (rename(from, to) < 0)
            abort();
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
    const char *snap = fuzz_path("state");
    statestore_stats st;
    size_t bans;
    kept k;

    fuzz_write("state.banlog", data, size);
    unlink(fuzz_path("state.banlog.bad"));
    k = open_kept(snap);
    bans = ban_count(k.bi);
    close_kept(k);

    k = open_kept(snap);
    statestore_stats_get(k.st, &st);
    if (ban_count(k.bi) != bans || st.set_aside) {
        fprintf(stderr, "fuzz_banlog: %zu bans, then %zu from the rewritten journal (%llu set aside)\n", bans,
                ban_count(k.bi), (unsigned long long)st.set_aside);
        abort();
    }
    close_kept(k);
    return 0;
}
