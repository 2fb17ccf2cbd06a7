/*
 * test_banstate - the bans' durable copy: the record encoding, the journal (round trip, torn tail, bad
 * checksum set aside as .bad), and its folding into the snapshot (a child that succeeds, one that fails, a
 * crash in between)
 */
#include "testutil.h"

#include <pthread.h>
#include <sys/stat.h>

#include "ban.h"
#include "banstate.h"
#include "statestore_file.h"
#include "mem.h"
#include "snapshot.h"

#define NOW 1800000000ULL /* wall seconds */

static char logbuf[16384];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

/* test_log - the messages, kept for the assertions (the writer thread logs too) */
static void test_log(int level, const char *fmt, ...)
{
    va_list ap;
    char line[1024];

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    snprintf(logbuf + strlen(logbuf), sizeof logbuf - strlen(logbuf), "%d %s\n", level, line);
    pthread_mutex_unlock(&log_mu);
}

/* logged - was a message with this text logged (since the last clear)? */
static int logged(const char *needle)
{
    pthread_mutex_lock(&log_mu);
    int yes = strstr(logbuf, needle) != NULL;
    pthread_mutex_unlock(&log_mu);
    return yes;
}

static void log_clear(void)
{
    pthread_mutex_lock(&log_mu);
    logbuf[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}

/* snap_path - a fresh snapshot path in the temp folder (the journal goes beside it) */
static const char *snap_path(const char *name)
{
    static char path[300];
    snprintf(path, sizeof path, "%s", write_temp(name, ""));
    unlink(path);
    return path;
}

/* path_plus - path with a suffix */
static const char *path_plus(const char *path, const char *suffix)
{
    static char out[2][512];
    static int i;
    i ^= 1;
    snprintf(out[i], sizeof out[i], "%s%s", path, suffix);
    return out[i];
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* rec - a ban on text ("ADDR[/LEN]" or "user:NAME") */
static ban_rec rec(const char *text, uint64_t since, uint64_t expires, uint32_t times, const char *rule,
                   const char *reason)
{
    ban_rec r;
    const char *why;

    if (!strncmp(text, "user:", 5))
        assert_int_equal(ban_user(text + 5, strlen(text + 5), &r), 0);
    else
        assert_int_equal(ban_parse(text, &r, &why), 0);
    r.since = since;
    r.expires = expires;
    r.times = times;
    r.rule = rule;
    r.reason = reason;
    return r;
}

/* banned - the ban on exactly this key at now, or NULL */
static const ban_rec *banned(struct ban_index *bi, const char *text, uint64_t now)
{
    ban_rec k = rec(text, 0, 0, 0, NULL, NULL);
    return ban_find(bi, &k, now);
}

typedef struct hist_probe {
    ban_rec key;
    uint32_t times;
    uint64_t last;
    int found;
} hist_probe;

static void find_hist(const ban_rec *r, void *arg)
{
    hist_probe *p = arg;
    if (r->family == p->key.family && r->prefix == p->key.prefix && !memcmp(r->bytes, p->key.bytes, 16)) {
        p->times = r->times;
        p->last = r->since;
        p->found = 1;
    }
}

/* history_of - the history entry of an address key */
static hist_probe history_of(struct ban_index *bi, const char *text)
{
    hist_probe p = {.key = rec(text, 0, 0, 0, NULL, NULL)};
    ban_history_foreach(bi, find_hist, &p);
    return p;
}

typedef struct kept {
    struct ban_index *bi;
    statestore *st;
    banstate *b;
} kept;

/* open_state - an index kept in the journal beside path, restored at now (with the snapshot, if any) */
static size_t open_max; /* bans.max of the index open_state makes (0: none) */

static kept open_state(const char *path, uint64_t now)
{
    char err[256];
    mem_store *m = mem_new(&(mem_config){.seed = 3});
    kept k;

    k.bi = ban_index_new();
    ban_set_max(k.bi, open_max);
    k.st = statestore_file_new(path, test_log);
    k.b = banstate_new(k.bi, k.st);
    assert_non_null(k.b);
    assert_true(snapshot_load_with(m, statestore_file_hook(k.st, now), path, now * 1000, now * 1000, err,
                                   sizeof err) >= 0);
    mem_free(m);
    assert_true(statestore_load(k.st, now) >= 0);
    assert_int_equal(banstate_attach(k.b), 0);
    return k;
}

/* close_state - flush and free */
static void close_state(kept k)
{
    banstate_free(k.b);
    statestore_free(k.st);
    ban_index_free(k.bi);
}

/* the encoding: a record decodes to what was encoded, for an address, a network, an IPv6 net and a name;
 * every cut and every byte too many is refused */
static void test_codec(void **st)
{
    static const struct {
        const char *label, *key, *reason, *rule;
        uint64_t expires;
        uint32_t times;
    } cases[] = {
        {"address", "192.0.2.7", "too many failures", "auth-bruteforce", NOW + 3600, 3},
        {"v4 net", "198.51.100.0/24", NULL, NULL, 0, 1},
        {"v6 net", "2001:db8::/64", "scan", "scanners", NOW + 60, 2},
        {"user", "user:Joe@Example.COM", "spraying", "user-spray", NOW + 10, 1},
    };
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ban_rec r = rec(cases[i].key, NOW, cases[i].expires, cases[i].times, cases[i].rule, cases[i].reason);
        unsigned char k[BANSTATE_KEY_MAX], v[BANSTATE_VALUE_MAX + 1];
        banstate_item it;
        size_t kl = banstate_key(KEY_BAN, &r, k), n = banstate_encode_ban(&r, v);

        assert_int_equal(banstate_decode(k, kl, v, n, &it), 0);
        assert_int_equal(it.r.family, r.family);
        assert_int_equal(it.r.prefix, r.prefix);
        assert_memory_equal(it.r.bytes, r.bytes, 16);
        assert_string_equal(it.r.net, r.net);
        assert_int_equal(it.r.since, NOW);
        assert_int_equal(it.r.expires, cases[i].expires);
        assert_int_equal(it.r.times, cases[i].times);
        if (cases[i].reason)
            assert_string_equal(it.r.reason, cases[i].reason);
        else
            assert_null(it.r.reason);
        if (cases[i].rule)
            assert_string_equal(it.r.rule, cases[i].rule);
        else
            assert_null(it.r.rule);
        if (r.family == 0)
            assert_string_equal(it.r.name, "Joe@Example.COM");
        for (size_t cut = 0; cut < n; cut++)
            assert_int_equal(banstate_decode(k, kl, v, cut, &it), -1);
        v[n] = 0;
        assert_int_equal(banstate_decode(k, kl, v, n + 1, &it), -1);
        /* a del: the key alone */
        assert_int_equal(banstate_decode(k, kl, NULL, 0, &it), 0);
        assert_memory_equal(it.r.bytes, r.bytes, 16);
        for (size_t cut = 0; cut < kl; cut++)
            assert_int_equal(banstate_decode(k, cut, NULL, 0, &it), -1);

        kl = banstate_key(KEY_BAN_HISTORY, &r, k);
        n = banstate_encode_history(5, NOW - 10, v);
        assert_int_equal(banstate_decode(k, kl, v, n, &it), 0);
        assert_int_equal(it.r.times, 5);
        assert_int_equal(it.r.since, NOW - 10);
        if (r.family == 0)
            assert_string_equal(it.r.net, "joe@example.com");
        else
            assert_string_equal(it.r.net, r.net);
    }
}

/* hostile keys: a class, a family, a prefix, a part type, a length that cannot be; a value of another version */
static void test_codec_refuses(void **st)
{
    ban_rec r = rec("192.0.2.7", NOW, NOW + 60, 1, "r", "why");
    unsigned char k[BANSTATE_KEY_MAX], v[BANSTATE_VALUE_MAX], w[BANSTATE_KEY_MAX];
    banstate_item it;
    size_t kl = banstate_key(KEY_BAN, &r, k), n = banstate_encode_ban(&r, v);
    static const struct {
        const char *label;
        size_t at;
        unsigned char byte;
    } cases[] = {
        {"class", 0, 26}, {"rule name", 1, 1}, {"part type", 2, 's' + 1}, {"part length", 3, 7},
        {"family", 4, 5}, {"v4 prefix", 5, 33}, {"family 6 in a v4 length", 4, 6},
    };
    (void)st;

    assert_int_equal(banstate_decode(k, kl, v, n, &it), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(w, k, kl);
        w[cases[i].at] = cases[i].byte;
        assert_int_equal(banstate_decode(w, kl, v, n, &it), -1);
    }
    v[0] = BANSTATE_VERSION + 1;
    assert_int_equal(banstate_decode(k, kl, v, n, &it), -1);
    v[0] = BANSTATE_VERSION;
    v[1 + 8 + 8 + 4] = 0xff; /* a reason longer than what is left */
    assert_int_equal(banstate_decode(k, kl, v, n, &it), -1);
    /* a date no calendar holds (a hostile fleet peer's): gmtime fails on it, so no log line could show it */
    r.expires = 1ULL << 62;
    n = banstate_encode_ban(&r, v);
    assert_int_equal(banstate_decode(k, kl, v, n, &it), -1);
    r.expires = BAN_WALL_MAX;
    n = banstate_encode_ban(&r, v);
    assert_int_equal(banstate_decode(k, kl, v, n, &it), 0);
    r.since = BAN_WALL_MAX + 1;
    n = banstate_encode_ban(&r, v);
    assert_int_equal(banstate_decode(k, kl, v, n, &it), -1);
    kl = banstate_key(KEY_BAN_HISTORY, &r, k);
    n = banstate_encode_history(2, 1ULL << 62, v);
    assert_int_equal(banstate_decode(k, kl, v, n, &it), -1);
}

/* bans, an unban and history go through the journal alone (no snapshot) and come back with their expiry */
static void test_journal_round_trip(void **st)
{
    const char *path = snap_path("round");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.7", NOW, NOW + 3600, 2, "auth", "failures");
    ban_rec b = rec("2001:db8::/64", NOW, 0, 1, NULL, "manual");
    ban_rec c = rec("198.51.100.9", NOW, NOW + 60, 1, NULL, NULL);
    ban_rec u = rec("user:Mallory", NOW, NOW + 600, 1, "spray", "spraying");
    statestore_stats bst;
    (void)st;

    ban_history_set(k.bi, &a, 2, NOW); /* as a rule would, with ban_history_next */
    ban_add(k.bi, &a);
    ban_add(k.bi, &b);
    ban_add(k.bi, &c);
    ban_add(k.bi, &u);
    ban_remove(k.bi, &c);
    statestore_file_wait(k.st);
    assert_true(file_size(statestore_file_journal(k.st)) > 8);
    statestore_stats_get(k.st, &bst);
    assert_int_equal(bst.records, 7); /* a ban and its history entry are two */
    assert_int_equal(bst.failures, 0);
    close_state(k);

    k = open_state(path, NOW + 100);
    const ban_rec *got = banned(k.bi, "192.0.2.7", NOW + 100);
    assert_non_null(got);
    assert_int_equal(got->expires, NOW + 3600);
    assert_int_equal(got->since, NOW);
    assert_int_equal(got->times, 2);
    assert_string_equal(got->reason, "failures");
    assert_string_equal(got->rule, "auth");
    got = banned(k.bi, "2001:db8::/64", NOW + 100);
    assert_non_null(got);
    assert_int_equal(got->expires, 0);
    assert_null(banned(k.bi, "198.51.100.9", NOW + 100));
    assert_non_null(banned(k.bi, "user:mallory", NOW + 100));
    hist_probe h = history_of(k.bi, "192.0.2.7");
    assert_true(h.found);
    assert_int_equal(h.times, 2);
    assert_int_equal(h.last, NOW);
    close_state(k);

    /* an hour later the address's ban has run out: not restored; the for-ever one stays */
    k = open_state(path, NOW + 3600);
    assert_null(banned(k.bi, "192.0.2.7", NOW + 3600));
    assert_non_null(banned(k.bi, "2001:db8::/64", NOW + 3600));
    close_state(k);
}

/* a record cut short at the end (a killed write) is ignored with a warning; the rest loads, and the journal is
 * clean again afterwards */
static void test_torn_tail(void **st)
{
    const char *path = snap_path("torn");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL), b = rec("192.0.2.2", NOW, NOW + 600, 1, NULL, NULL);
    char journal[300];
    (void)st;

    snprintf(journal, sizeof journal, "%s", statestore_file_journal(k.st));
    ban_add(k.bi, &a);
    ban_add(k.bi, &b);
    close_state(k);
    long size = file_size(journal);
    for (long cut = 1; cut < 12 + 20; cut += 7) {
        assert_int_equal(truncate(journal, size - cut), 0);
        log_clear();
        k = open_state(path, NOW);
        assert_non_null(banned(k.bi, "192.0.2.1", NOW));
        assert_null(banned(k.bi, "192.0.2.2", NOW));
        assert_true(logged("cut short"));
        assert_false(exists(path_plus(journal, ".bad")));
        ban_add(k.bi, &b); /* appended after a clean end */
        close_state(k);
        log_clear();
        k = open_state(path, NOW);
        assert_non_null(banned(k.bi, "192.0.2.1", NOW));
        assert_non_null(banned(k.bi, "192.0.2.2", NOW));
        assert_false(logged("cut short"));
        close_state(k);
        size = file_size(journal);
    }
}

/* a bad checksum in the middle: what came before loads, the file is set aside as .bad, the daemon goes on
 * with a clean journal */
static void test_bad_checksum(void **st)
{
    const char *path = snap_path("bad");
    kept k = open_state(path, NOW);
    char journal[300];
    long first_end;
    (void)st;

    snprintf(journal, sizeof journal, "%s", statestore_file_journal(k.st));
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL);
    ban_add(k.bi, &a);
    statestore_file_wait(k.st);
    first_end = file_size(journal);
    for (int i = 2; i <= 4; i++) {
        char text[32];
        snprintf(text, sizeof text, "192.0.2.%d", i);
        ban_rec r = rec(text, NOW, NOW + 600, 1, NULL, NULL);
        ban_add(k.bi, &r);
    }
    close_state(k);
    /* flip a byte inside the second record's value */
    FILE *f = fopen(journal, "r+");
    assert_non_null(f);
    fseek(f, first_end + 12 + 8, SEEK_SET);
    int c = fgetc(f);
    fseek(f, first_end + 12 + 8, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);

    log_clear();
    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW));
    assert_null(banned(k.bi, "192.0.2.2", NOW));
    assert_null(banned(k.bi, "192.0.2.3", NOW));
    assert_true(logged("bad checksum"));
    assert_true(logged(".bad"));
    assert_true(exists(path_plus(journal, ".bad")));
    statestore_stats bst;
    statestore_stats_get(k.st, &bst);
    assert_int_equal(bst.set_aside, 1);
    close_state(k);
    /* the new journal holds what was read and loads without a word */
    log_clear();
    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW));
    assert_false(logged("damaged"));
    close_state(k);

    /* not a journal at all */
    f = fopen(journal, "w");
    fputs("something else entirely\n", f);
    fclose(f);
    log_clear();
    k = open_state(path, NOW);
    assert_true(logged("not a floodgate state journal"));
    assert_null(banned(k.bi, "192.0.2.1", NOW));
    close_state(k);
}

/* snapshot_child - what the forked child does: the snapshot with the index's records */
static void snapshot_child(statestore *st, const char *path)
{
    char err[256];
    mem_store *m = mem_new(&(mem_config){.seed = 3});
    assert_true(snapshot_write_with(m, statestore_file_hook(st, NOW), path, NOW * 1000, NOW * 1000, err, sizeof err) >=
                0);
    mem_free(m);
}

/* a snapshot that succeeds takes the journal's place; later bans are in the new journal */
static void test_fold_ok(void **st)
{
    const char *path = snap_path("fold");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL), b = rec("192.0.2.2", NOW, NOW + 600, 1, NULL, NULL);
    char journal[300];
    (void)st;

    snprintf(journal, sizeof journal, "%s", statestore_file_journal(k.st));
    ban_add(k.bi, &a);
    snapshot_child(k.st, path); /* the child's image: a only */
    statestore_file_forked(k.st);
    ban_add(k.bi, &b);
    statestore_file_wait(k.st);
    assert_true(exists(path_plus(journal, ".prev")));
    statestore_file_written(k.st, 1);
    statestore_file_wait(k.st);
    assert_false(exists(path_plus(journal, ".prev")));
    close_state(k);

    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW)); /* from the snapshot */
    assert_non_null(banned(k.bi, "192.0.2.2", NOW)); /* from the journal */
    close_state(k);

    /* the journal alone does not hold a: the snapshot does */
    assert_int_equal(unlink(path), 0);
    k = open_state(path, NOW);
    assert_null(banned(k.bi, "192.0.2.1", NOW));
    assert_non_null(banned(k.bi, "192.0.2.2", NOW));
    close_state(k);
}

/* a snapshot that fails: the two journals are one again, nothing lost */
static void test_fold_failed(void **st)
{
    const char *path = snap_path("fail");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL), b = rec("192.0.2.2", NOW, NOW + 600, 1, NULL, NULL);
    char journal[300];
    (void)st;

    snprintf(journal, sizeof journal, "%s", statestore_file_journal(k.st));
    ban_add(k.bi, &a);
    statestore_file_forked(k.st);
    ban_add(k.bi, &b);
    ban_remove(k.bi, &a);
    ban_add(k.bi, &a);
    statestore_file_written(k.st, 0);
    statestore_file_wait(k.st);
    assert_false(exists(path_plus(journal, ".prev")));
    ban_rec c = rec("192.0.2.3", NOW, NOW + 600, 1, NULL, NULL);
    ban_add(k.bi, &c); /* appended to the merged file */
    close_state(k);

    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW));
    assert_non_null(banned(k.bi, "192.0.2.2", NOW));
    assert_non_null(banned(k.bi, "192.0.2.3", NOW));
    close_state(k);
}

/* a crash while the child wrote: .prev and the journal are both replayed, in order, then made one */
static void test_crash_during_snapshot(void **st)
{
    const char *path = snap_path("crash");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL), b = rec("192.0.2.2", NOW, NOW + 600, 1, NULL, NULL);
    char journal[300];
    (void)st;

    snprintf(journal, sizeof journal, "%s", statestore_file_journal(k.st));
    ban_add(k.bi, &a);
    ban_add(k.bi, &b);
    statestore_file_forked(k.st);
    ban_remove(k.bi, &b); /* after the fork: must win over .prev's ban */
    close_state(k); /* no outcome: the process died */
    assert_true(exists(path_plus(journal, ".prev")));

    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW));
    assert_null(banned(k.bi, "192.0.2.2", NOW));
    assert_false(exists(path_plus(journal, ".prev")));
    close_state(k);
    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW));
    assert_null(banned(k.bi, "192.0.2.2", NOW));
    close_state(k);
}

/* a journal holding more bans than bans.max (lowered before a restart) is no damaged journal: each key past the
 * bound evicts the ban that ends soonest (the one made first, of equal ends), counted, the records after them
 * still apply, nothing is set aside, and the journal still holds them for a bound raised again */
static void test_journal_over_max(void **st)
{
    const char *path = snap_path("overmax");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL), b = rec("192.0.2.2", NOW, NOW + 600, 2, "r", "x"),
            c = rec("192.0.2.3", NOW, NOW + 600, 1, NULL, NULL);
    (void)st;

    ban_add(k.bi, &a);
    ban_history_set(k.bi, &b, 2, NOW);
    ban_add(k.bi, &b);
    ban_add(k.bi, &c);
    ban_remove(k.bi, &a);
    statestore_file_wait(k.st);
    close_state(k);

    log_clear();
    open_max = 1;
    k = open_state(path, NOW + 1);
    open_max = 0;
    assert_false(logged("set aside"));
    assert_null(banned(k.bi, "192.0.2.1", NOW + 1)); /* the unban after the evictions applied */
    assert_null(banned(k.bi, "192.0.2.2", NOW + 1));
    assert_non_null(banned(k.bi, "192.0.2.3", NOW + 1));
    assert_int_equal(ban_evicted(k.bi), 2);
    close_state(k);

    k = open_state(path, NOW + 2);
    assert_false(logged("set aside"));
    assert_non_null(banned(k.bi, "192.0.2.2", NOW + 2));
    assert_non_null(banned(k.bi, "192.0.2.3", NOW + 2));
    close_state(k);
}

/* a foreground snapshot (at stop) empties the journal: the snapshot alone holds everything */
static void test_saved(void **st)
{
    const char *path = snap_path("saved");
    kept k = open_state(path, NOW);
    ban_rec a = rec("192.0.2.1", NOW, NOW + 600, 1, NULL, NULL);
    char journal[300];
    (void)st;

    snprintf(journal, sizeof journal, "%s", statestore_file_journal(k.st));
    ban_add(k.bi, &a);
    snapshot_child(k.st, path);
    statestore_file_saved(k.st);
    close_state(k);
    assert_int_equal(file_size(journal), 8);
    k = open_state(path, NOW);
    assert_non_null(banned(k.bi, "192.0.2.1", NOW));
    close_state(k);
}

/* a change applied from the store after the load (another daemon's, through a fleet store) reaches the index and
 * is not recorded back; a change made here still is */
static void test_no_echo(void **st)
{
    const char *path = snap_path("echo");
    kept k = open_state(path, NOW);
    ban_rec r = rec("192.0.2.50", NOW, NOW + 600, 1, "remote-rule", "elsewhere");
    unsigned char key[BANSTATE_KEY_MAX], v[BANSTATE_VALUE_MAX];
    state_rec sr = {KEY_BAN, key, banstate_key(KEY_BAN, &r, key), v, banstate_encode_ban(&r, v), r.expires};
    statestore_stats before, after;
    (void)st;

    statestore_stats_get(k.st, &before);
    assert_int_equal(statestore_apply(k.st, STATE_PUT, &sr, NOW), 0);
    assert_non_null(banned(k.bi, "192.0.2.50", NOW));
    sr.value = NULL;
    sr.vlen = 0;
    assert_int_equal(statestore_apply(k.st, STATE_DEL, &sr, NOW), 0);
    assert_null(banned(k.bi, "192.0.2.50", NOW));
    statestore_stats_get(k.st, &after);
    assert_int_equal(after.records, before.records);
    ban_add(k.bi, &r); /* made here: the ban and its history entry */
    statestore_stats_get(k.st, &after);
    assert_int_equal(after.records, before.records + 2);
    close_state(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_codec_refuses),
        cmocka_unit_test(test_journal_round_trip),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_fold_ok),
        cmocka_unit_test(test_fold_failed),
        cmocka_unit_test(test_crash_during_snapshot),
        cmocka_unit_test(test_journal_over_max),
        cmocka_unit_test(test_saved),
        cmocka_unit_test(test_no_echo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
