/*
 * test_banstore - bans survive the real floodgated's death: the journal beside the snapshot, replayed at start;
 * a damaged journal and a damaged snapshot are set aside as FILE.bad and the daemon starts
 *
 * The journals and snapshots the daemon is started on are written by the store's own code (fgcore's
 * statestore_file and banstate over a ban index), as the daemon would have written them. Nothing sleeps
 * for a window: every wait is for a condition with a bound.
 */
#include "daemon_util.h"

#include <sys/stat.h>
#include <time.h>

#include "ban.h"
#include "banstate.h"
#include "keys.h"
#include "mem.h"
#include "snapshot.h"
#include "statestore_file.h"

static const char *daemon_bin, *ctl_bin;

/* conf - an embedded store with its snapshot "state" in the folder */
static const char conf_text[] = "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                                "store = { type = \"embedded\"; snapshot = \"state\"; };\n"
                                "rules = ( { name = \"none\"; on = \"smtp:RCPT\"; action = \"DUNNO\"; } );\n";

/* quiet_log - the writer's messages are not the test's business */
static void quiet_log(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

/* wall_now - wall-clock seconds */
static uint64_t wall_now(void)
{
    return (uint64_t)time(NULL);
}

/* in_dir - a path in the daemon's folder (two rotating buffers) */
static const char *in_dir(fg_daemon *d, const char *name)
{
    static char buf[2][256];
    static int at;
    char *p = buf[at++ % 2];
    snprintf(p, 256, "%s/%s", d->dir, name);
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* log_has - the daemon's log holds this text */
static int log_has(fg_daemon *d, const char *text)
{
    static char buf[1 << 20];
    FILE *f = fopen(in_dir(d, "daemon.log"), "r");
    size_t n;

    if (!f)
        return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

/* write_journal - bans as the daemon journals them: a ban on each of addrs for an hour, made by a rule */
static void write_journal(fg_daemon *d, const char *const *addrs, size_t n)
{
    struct ban_index *bi = ban_index_new();
    statestore *st = statestore_file_new(in_dir(d, "state"), quiet_log);
    banstate *b = banstate_new(bi, st);
    uint64_t now = wall_now();

    assert_true(statestore_load(st, now) >= 0);
    assert_int_equal(banstate_attach(b), 0);
    for (size_t i = 0; i < n; i++) {
        ban_rec r;
        const char *why;
        assert_int_equal(ban_parse(addrs[i], &r, &why), 0);
        r.since = now;
        r.expires = now + 3600;
        r.times = ban_history_next(bi, &r, now, 86400);
        r.rule = "auth-bruteforce";
        r.reason = "too many failures";
        assert_true(ban_add(bi, &r) >= 0);
    }
    banstate_free(b);
    statestore_free(st);
    ban_index_free(bi);
}

/* append - bytes at the end of a file */
static void append(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* wait_log - until the log says text (the daemon is up when its control socket answers, so it is there) */
static void wait_log(fg_daemon *d, const char *text)
{
    for (int i = 0; i < 3000 && !log_has(d, text); i++)
        poll(NULL, 0, 10);
    if (!log_has(d, text))
        fail_msg("the log of %s never said \"%s\"", d->dir, text);
}

typedef struct hist_probe {
    ban_rec key;
    uint32_t times;
    int found;
} hist_probe;

/* find_hist - ban_history_foreach: the entry of p->key */
static void find_hist(const ban_rec *r, void *arg)
{
    hist_probe *p = arg;
    if (r->family == p->key.family && r->prefix == p->key.prefix && !memcmp(r->bytes, p->key.bytes, 16)) {
        p->times = r->times;
        p->found = 1;
    }
}

/* snapshot_history - the history entry of text in the snapshot the daemon wrote (0: none) */
static uint32_t snapshot_history(fg_daemon *d, const char *text)
{
    char err[256];
    struct ban_index *bi = ban_index_new();
    statestore *st = statestore_file_new(in_dir(d, "state"), quiet_log);
    banstate *b = banstate_new(bi, st);
    mem_store *m = mem_new(NULL);
    uint64_t now = wall_now();
    hist_probe p = {0};
    const char *why;

    assert_int_equal(ban_parse(text, &p.key, &why), 0);
    assert_true(snapshot_load_with(m, statestore_file_hook(st, now), in_dir(d, "state"), now * 1000, now * 1000, err,
                                   sizeof err) > 0);
    ban_history_foreach(bi, find_hist, &p);
    mem_free(m);
    banstate_free(b);
    statestore_free(st);
    ban_index_free(bi);
    return p.found ? p.times : 0;
}

/* the journal alone (no snapshot yet) restores the bans; a torn last record is ignored with a warning */
static void test_journal_restores(void **state)
{
    fg_daemon *d = *state;
    static const char *const addrs[] = {"192.0.2.7", "198.51.100.0/24", "192.0.2.7"}; /* .7 twice: history 2 */
    static const unsigned char torn[] = {200, 0, 0, 0, 1, 2, 3}; /* a length, half a checksum: then killed */

    daemon_write_conf(d, conf_text);
    write_journal(d, addrs, 3);
    append(in_dir(d, "state.banlog"), torn, sizeof torn);
    daemon_start(d);
    wait_log(d, "bans: restored 2 bans");
    assert_true(log_has(d, "cut short"));
    assert_false(exists(in_dir(d, "state.banlog.bad")));
    assert_int_equal(daemon_stop(d), 0);
    /* the stop wrote the snapshot with both and emptied the journal: still two, and no warning now */
    assert_int_equal(truncate(in_dir(d, "daemon.log"), 0), 0);
    daemon_start(d);
    wait_log(d, "bans: restored 2 bans");
    assert_false(log_has(d, "cut short"));
    assert_int_equal(daemon_stop(d), 0);
    /* the history came through the journal, a restart and two snapshots: 192.0.2.7 was banned twice */
    assert_int_equal(snapshot_history(d, "192.0.2.7"), 2);
    assert_int_equal(snapshot_history(d, "198.51.100.0/24"), 1);
}

/* a damaged journal and a damaged snapshot are set aside as FILE.bad, with a warning; the daemon starts and
 * keeps what it could read */
static void test_damaged_set_aside(void **state)
{
    fg_daemon *d = *state;
    static const char *const addrs[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};

    daemon_write_conf(d, conf_text);
    write_journal(d, addrs, 3);
    /* flip a byte inside the last ban (its history entry follows): the two before it still load */
    FILE *f = fopen(in_dir(d, "state.banlog"), "r+");
    assert_non_null(f);
    assert_int_equal(fseek(f, -80, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -80, SEEK_END), 0);
    fputc(c ^ 0x55, f);
    fclose(f);
    f = fopen(in_dir(d, "state"), "w");
    assert_non_null(f);
    fputs("FGSNAP2\nnot a snapshot at all", f);
    fclose(f);

    daemon_start(d);
    wait_log(d, "bans: ");
    assert_true(exists(in_dir(d, "state.bad")));
    assert_true(exists(in_dir(d, "state.banlog.bad")));
    assert_true(log_has(d, "set aside as"));
    assert_true(log_has(d, "bad checksum"));
    /* the bans before the damage: 192.0.2.1 and .2, each with its history entry */
    assert_true(log_has(d, "bans: restored 2 bans"));
    assert_int_equal(daemon_stop(d), 0);
    assert_int_equal(truncate(in_dir(d, "daemon.log"), 0), 0);
    daemon_start(d);
    wait_log(d, "bans: restored 2 bans");
    assert_false(log_has(d, "damaged"));
    assert_int_equal(daemon_stop(d), 0);
}

/* file_size - bytes, or -1 */
static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* the snapshot child folds the journal: once a snapshot is written the journal is empty and .prev gone; a
 * kill -9 then loses nothing (the bans are in the snapshot) */
static void test_snapshot_folds_journal(void **state)
{
    fg_daemon *d = *state;
    static const char *const addrs[] = {"192.0.2.7", "2001:db8::/64"};
    int folded = 0;

    daemon_write_conf(d, "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                         "store = { type = \"embedded\"; snapshot = \"state\"; snapshot_interval = \"1s\"; };\n"
                         "rules = ( { name = \"none\"; on = \"smtp:RCPT\"; action = \"DUNNO\"; } );\n");
    write_journal(d, addrs, 2);
    assert_true(file_size(in_dir(d, "state.banlog")) > 8);
    daemon_start(d);
    wait_log(d, "bans: restored 2 bans");
    /* a snapshot every second: wait until one took the journal's records (an empty journal, no .prev) */
    for (int i = 0; i < 3000 && !folded; i++) {
        folded = exists(in_dir(d, "state")) && file_size(in_dir(d, "state.banlog")) == 8 &&
                 !exists(in_dir(d, "state.banlog.prev"));
        if (!folded)
            poll(NULL, 0, 10);
    }
    assert_true(folded);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = -1;
    assert_int_equal(truncate(in_dir(d, "daemon.log"), 0), 0);
    daemon_start(d);
    wait_log(d, "bans: restored 2 bans");
    assert_int_equal(daemon_stop(d), 0);
}

/* journal_has - the journal holds this key (the record of a ban or unban of it) */
static int journal_has(fg_daemon *d, const unsigned char *key, size_t klen)
{
    static unsigned char buf[1 << 20];
    FILE *f = fopen(in_dir(d, "state.banlog"), "r");
    size_t n;

    if (!f)
        return 0;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, key, klen) != NULL;
}

/* journal_count - how many times the journal holds this key */
static int journal_count(fg_daemon *d, const unsigned char *key, size_t klen)
{
    static unsigned char buf[1 << 20];
    FILE *f = fopen(in_dir(d, "state.banlog"), "r");
    size_t n;
    int count = 0;

    if (!f)
        return 0;
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (const unsigned char *p = buf; (p = memmem(p, n - (size_t)(p - buf), key, klen)); p += klen)
        count++;
    return count;
}

/* ban_key - the journal's key of a ban on text */
static size_t ban_key(const char *text, unsigned char key[BANSTATE_KEY_MAX])
{
    ban_rec r;
    const char *why;
    assert_int_equal(ban_parse(text, &r, &why), 0);
    return banstate_key(KEY_BAN, &r, key);
}

/* expires_of - the "expires" of net in floodgatectl bans --format json, 0 when it is not banned */
static uint64_t expires_of(fg_daemon *d, const char *net)
{
    char needle[128];
    int status;
    const char *out = daemon_ctl(d, &status, "bans --format json"), *at, *e;

    assert_int_equal(status, 0);
    snprintf(needle, sizeof needle, "\"network\":\"%s", net);
    if (!(at = strstr(out, needle)))
        return 0;
    e = strstr(at, "\"expires\":");
    assert_non_null(e);
    return strtoull(e + 10, NULL, 10);
}

/* kill9 - the daemon dies at once, as the OOM killer or a crash would do it */
static void kill9(fg_daemon *d)
{
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = -1;
}

/* a ban made through floodgatectl is on disk once the journal holds it (polled, not slept for): kill -9 then,
 * restart, and the ban is there with the same expiry; an unban the same way */
static void test_kill9_after_ban(void **state)
{
    fg_daemon *d = *state;
    unsigned char key[BANSTATE_KEY_MAX];
    size_t klen = ban_key("192.0.2.99", key);
    uint64_t expires;
    int status;

    daemon_write_conf(d, conf_text);
    daemon_start(d);
    daemon_ctl(d, &status, "ban 192.0.2.99 2h --reason 'kill test'");
    assert_int_equal(status, 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 3000 && !journal_has(d, key, klen); i++)
        poll(NULL, 0, 1);
    assert_true(journal_has(d, key, klen));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* a figure for the report, not an assertion */
    fprintf(stderr, "test_banstore: the ban was in the journal %.1f ms after floodgatectl ban returned\n",
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    expires = expires_of(d, "192.0.2.99");
    assert_true(expires > wall_now());
    kill9(d);

    daemon_start(d);
    assert_int_equal(expires_of(d, "192.0.2.99"), expires);
    daemon_ctl(d, &status, "unban 192.0.2.99");
    assert_int_equal(status, 0);
    /* the restart rewrote nothing (a clean journal): the unban is the key's second record */
    for (int i = 0; i < 3000 && journal_count(d, key, klen) < 2; i++)
        poll(NULL, 0, 1);
    assert_int_equal(journal_count(d, key, klen), 2);
    kill9(d);

    daemon_start(d);
    assert_int_equal(expires_of(d, "192.0.2.99"), 0);
    assert_int_equal(daemon_stop(d), 0);
}

/* file_holds - does the file contain these bytes? */
static int file_holds(const char *path, const char *text)
{
    static char buf[65536];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;

    if (f)
        fclose(f);
    return memmem(buf, n, text, strlen(text)) != NULL;
}

/* A map list kept in the store (store = true) with the embedded store: an edit is journaled like a ban, so
 * it survives kill -9 and a clean restart (then from the snapshot); a delete too. */
static void test_stored_list_survives(void **state)
{
    fg_daemon *d = *state;
    char sock[160];
    int status;

    daemon_write_conf(d, "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\"; };\n"
                         "store = { snapshot = \"@DIR@/state\"; };\n"
                         "lists = { blocked = { type = \"map\"; store = true; }; };\n"
                         "rules = ( { name = \"blocked\"; on = \"smtp:RCPT\"; if = { sender = \"@blocked\"; };\n"
                         "            action = \"REJECT 5.7.1 ${list:blocked}\"; } );\n");
    daemon_start(d);
    snprintf(sock, sizeof sock, "%s/policy.sock", d->dir);
    const char *req = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n"
                      "sender=spam@example.org\n\n";
    assert_non_null(strstr(daemon_ask(sock, req), "action=DUNNO"));
    daemon_ctl(d, &status, "list blocked add spam@example.org 'known spammer'");
    assert_int_equal(status, 0);
    daemon_ctl(d, &status, "list blocked add @junk.example junk");
    assert_int_equal(status, 0);
    assert_non_null(strstr(daemon_ask(sock, req), "action=REJECT 5.7.1 known spammer"));
    /* on disk within the journal's second: poll for it through the journal's size, then kill -9 */
    for (int i = 0; i < 3000 && !file_holds(in_dir(d, "state.banlog"), "junk.example"); i++)
        poll(NULL, 0, 1);
    assert_true(file_holds(in_dir(d, "state.banlog"), "junk.example"));
    kill9(d);
    daemon_start(d);
    assert_non_null(strstr(daemon_ask(sock, req), "action=REJECT 5.7.1 known spammer"));
    daemon_ctl(d, &status, "list blocked del @junk.example");
    assert_int_equal(status, 0);
    assert_int_equal(daemon_stop(d), 0); /* a clean stop writes the snapshot */
    daemon_start(d);
    assert_non_null(strstr(daemon_ask(sock, req), "action=REJECT 5.7.1 known spammer"));
    assert_non_null(strstr(daemon_ask(sock, "request=smtpd_access_policy\nprotocol_state=RCPT\n"
                                            "client_address=192.0.2.1\nsender=a@junk.example\n\n"),
                           "action=DUNNO"));
    assert_int_equal(daemon_stop(d), 0);
}

static int setup(void **state)
{
    fg_daemon *d = calloc(1, sizeof *d);
    if (!d || daemon_init(d, daemon_bin, ctl_bin) < 0)
        return -1;
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    fg_daemon *d = *state;
    int rc = daemon_cleanup(d);
    free(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_banstore FLOODGATED FLOODGATECTL\n");
        return 2;
    }
    daemon_bin = argv[1];
    ctl_bin = argv[2];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_set_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_folds_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_after_ban, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_list_survives, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
