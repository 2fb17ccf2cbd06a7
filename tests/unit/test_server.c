/*
 * test_server - the daemon clock: monotonic, and the conversions to and from the wall clock
 *
 * The real clocks cannot be stepped in a test, so the server's clock
 * readers are replaced by two fakes that the test moves by hand.
 */
#include "testutil.h"

#include "mem.h"
#include "server.h"

#define W0 1700000000000ULL /* the wall clock at start */

static uint64_t fake_mono = 777000, fake_wall = W0;

static uint64_t read_mono(void)
{
    return fake_mono;
}

static uint64_t read_wall(void)
{
    return fake_wall;
}

/* fake_server - a zeroed server on the fake clocks */
static server *fake_server(void)
{
    server *s = calloc(1, sizeof *s);
    fake_mono = 777000;
    fake_wall = W0;
    s->clock.mono = read_mono;
    s->clock.wall = read_wall;
    return s;
}

/* the daemon clock reads as the wall clock at start, then follows the monotonic clock only */
static void test_now_ignores_wall_steps(void **st)
{
    server *s = fake_server();
    (void)st;

    assert_int_equal(server_now(s), W0);
    fake_mono += 1000;
    fake_wall += 1000;
    assert_int_equal(server_now(s), W0 + 1000);
    /* the wall clock steps back 96 s (the step that opened every limit), then a day forward */
    fake_wall -= 96000;
    assert_int_equal(server_now(s), W0 + 1000);
    fake_mono += 500;
    fake_wall += 500;
    assert_int_equal(server_now(s), W0 + 1500);
    fake_wall += 86400000;
    assert_int_equal(server_now(s), W0 + 1500);
    assert_int_equal(server_wall_now(s), W0 + 1500 - 96000 + 86400000);
    free(s);
}

/* dates convert at the clocks' current difference: after a step, a date shows the same remaining time */
static void test_conversions(void **st)
{
    server *s = fake_server();
    uint64_t now, ban_ends;
    (void)st;

    now = server_now(s);
    ban_ends = now + 3600000;
    assert_int_equal(server_wall_ms(s, ban_ends), W0 + 3600000);
    assert_int_equal(server_daemon_ms(s, W0 + 3600000), ban_ends);
    /* ten minutes later the wall clock is stepped back 96 s */
    fake_mono += 600000;
    fake_wall += 600000 - 96000;
    now = server_now(s);
    assert_int_equal(now, W0 + 600000);
    assert_int_equal(server_wall_ms(s, ban_ends) - server_wall_now(s), ban_ends - now);
    assert_int_equal(server_wall_ms(s, ban_ends), W0 + 3600000 - 96000);
    assert_int_equal(server_daemon_ms(s, server_wall_ms(s, ban_ends)), ban_ends);
    /* never stays never; the epoch is the floor */
    assert_int_equal(server_wall_ms(s, UINT64_MAX), UINT64_MAX);
    assert_int_equal(server_daemon_ms(s, UINT64_MAX), UINT64_MAX);
    fake_wall = 5000;
    assert_int_equal(server_wall_ms(s, now - 6000), 0);
    free(s);
}

/* a zeroed server (as tests and main.c build it) runs on the system's clocks */
static void test_system_clocks(void **st)
{
    server *s = calloc(1, sizeof *s);
    struct timespec ts;
    uint64_t a, b, wall;
    (void)st;

    a = server_now(s);
    assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
    wall = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    b = server_now(s);
    assert_true(b >= a);
    /* read as wall time at start: within a minute of it even on a loaded machine */
    assert_true(a + 60000 > wall && wall + 60000 > a);
    assert_true(s->clock.ready);
    free(s);
}

/* while a snapshot child writes, the parent's table holds its rehash (few copied pages); reaping the
 * child releases it */
static void test_snapshot_holds_rehash(void **st)
{
    char dir[] = "/tmp/fgsrvXXXXXX", path[64], key[16];
    fg_conf conf;
    server *s = fake_server();
    (void)st;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state", dir);
    memset(&conf, 0, sizeof conf);
    conf.store.snapshot = path;
    s->conf = &conf;
    s->store = mem_store_new(NULL);
    mem_store *m = mem_store_table(s->store);
    for (int i = 0; i < 13; i++) /* 16 slots: the 13th key starts a rehash */
        mem_put(m, key, (size_t)snprintf(key, sizeof key, "k%d", i), 4, UINT64_MAX, 0);
    int64_t pos = mem_rehash_pos(m);
    assert_true(pos >= 0);

    server_snapshot_start(s);
    assert_true(s->snap_pid > 0);
    for (int i = 13; i < 28; i++) /* up to 7/8 of the new table's 32 slots */
        mem_put(m, key, (size_t)snprintf(key, sizeof key, "k%d", i), 4, UINT64_MAX, 0);
    assert_int_equal(mem_rehash_pos(m), pos); /* held while the child runs */
    server_snapshot_reap(s, 1);
    assert_int_equal(s->snap_pid, 0);
    assert_int_equal(s->st.snapshots, 1);
    for (int i = 28; i < 200 && mem_rehash_pos(m) >= 0; i++)
        mem_put(m, key, (size_t)snprintf(key, sizeof key, "k%d", i), 4, UINT64_MAX, 0);
    assert_int_equal(mem_rehash_pos(m), -1); /* released: the rehash went on and finished */

    store_free(s->store);
    unlink(path);
    rmdir(dir);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_now_ignores_wall_steps),
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_system_clocks),
        cmocka_unit_test(test_snapshot_holds_rehash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
