/*
 * test_tail - following log files on a real event loop: from the end at start, partial lines, rename + create,
 * copytruncate, a file that appears later, overlong and hostile lines, a busy consumer, and a burst read a
 * bounded number of lines per wakeup. Waits are for conditions (inotify wakes the loop), never for a time.
 */
#include "testutil.h"

#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>

#include "tail.h"

#define MAX_LINES 200000

typedef struct sink {
    char **lines;       /* what the tail handed on */
    size_t n;
    int busy;           /* answer busy */
    size_t per_wakeup;  /* lines since the last loop turn */
    size_t max_wakeup;  /* most lines in one turn */
} sink;

static struct event_base *base;
static sink got;
static char dir[] = "/tmp/fgtailXXXXXX";

/* take - the consumer */
static int take(void *arg, const char *line, size_t len)
{
    sink *s = arg;
    if (s->busy)
        return 1;
    assert_true(s->n < MAX_LINES);
    s->lines[s->n] = malloc(len + 1);
    memcpy(s->lines[s->n], line, len);
    s->lines[s->n][len] = '\0';
    s->n++;
    if (++s->per_wakeup > s->max_wakeup)
        s->max_wakeup = s->per_wakeup;
    return 0;
}

/* turn - one turn of the loop, or 50 ms of nothing */
static void turn(void)
{
    struct timeval tv = {0, 50000};
    got.per_wakeup = 0;
    event_base_loopexit(base, &tv);
    event_base_loop(base, EVLOOP_ONCE);
}

/* wait_lines - turn the loop until n lines arrived (up to 10 s: a condition, not a time) */
static void wait_lines(size_t n)
{
    for (int i = 0; i < 200 && got.n < n; i++)
        turn();
    assert_int_equal(got.n, n);
}

/* append - write text to a file (created if missing) */
static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static char *path_of(const char *name)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static int setup(void **st)
{
    (void)st;
    base = event_base_new();
    memset(&got, 0, sizeof got);
    got.lines = calloc(MAX_LINES, sizeof *got.lines);
    strcpy(dir, "/tmp/fgtailXXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
    char cmd[300];
    (void)st;
    for (size_t i = 0; i < got.n; i++)
        free(got.lines[i]);
    free(got.lines);
    event_base_free(base);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

/* old lines are not replayed; new ones come, a partial one when its newline does */
static void test_from_end(void **st)
{
    char log[256];
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("mail.log"));
    append(log, "old 1\nold 2\n");
    tail *t = tail_file_new(base, log, take, &got);
    append(log, "new 1\nnew ");
    wait_lines(1);
    assert_string_equal(got.lines[0], "new 1");
    append(log, "2\n");
    wait_lines(2);
    assert_string_equal(got.lines[1], "new 2");
    tail_free(t);
}

/* logrotate: rename + create, with a last line written to the old file after the rename */
static void test_rename_create(void **st)
{
    char log[256], rotated[256];
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("auth.log"));
    snprintf(rotated, sizeof rotated, "%s", path_of("auth.log.1"));
    append(log, "");
    tail *t = tail_file_new(base, log, take, &got);
    int fd = open(log, O_WRONLY | O_APPEND); /* the writer keeps its descriptor across the rename */
    assert_int_equal(write(fd, "a\n", 2), 2);
    wait_lines(1);
    assert_int_equal(rename(log, rotated), 0);
    assert_int_equal(write(fd, "b\n", 2), 2);
    close(fd);
    append(log, "c\nd\n");
    wait_lines(4);
    assert_string_equal(got.lines[1], "b");
    assert_string_equal(got.lines[2], "c");
    assert_string_equal(got.lines[3], "d");
    tail_stats ts;
    tail_get_stats(t, &ts);
    assert_int_equal(ts.rotations, 1);
    tail_free(t);
}

/* logrotate's copytruncate: the file starts again from its start */
static void test_copytruncate(void **st)
{
    char log[256];
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("nginx.log"));
    append(log, "");
    tail *t = tail_file_new(base, log, take, &got);
    append(log, "one line that is long enough\n");
    wait_lines(1);
    assert_int_equal(truncate(log, 0), 0);
    append(log, "x\n");
    wait_lines(2);
    assert_string_equal(got.lines[1], "x");
    tail_free(t);
}

/* a file that is missing at start is read from its start when it appears */
static void test_missing_then_created(void **st)
{
    char log[256];
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("later.log"));
    tail *t = tail_file_new(base, log, take, &got);
    turn();
    append(log, "first\nsecond\n");
    wait_lines(2);
    assert_string_equal(got.lines[0], "first");
    tail_free(t);
}

/* a 1 MB line is cut at TAIL_LINE_MAX and its rest dropped; NULs and invalid UTF-8 pass as bytes */
static void test_hostile_lines(void **st)
{
    char log[256];
    size_t big = 1 << 20;
    char *line = malloc(big + 2);
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("hostile.log"));
    append(log, "");
    tail *t = tail_file_new(base, log, take, &got);
    memset(line, 'x', big);
    line[big] = '\n';
    line[big + 1] = '\0';
    append(log, line);
    int fd = open(log, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "a\0b\xff\xfe\n", 6), 6);
    close(fd);
    append(log, "after\n");
    wait_lines(3);
    assert_int_equal(strlen(got.lines[0]), TAIL_LINE_MAX);
    assert_int_equal(got.lines[1][0], 'a');
    assert_string_equal(got.lines[2], "after");
    tail_stats ts;
    tail_get_stats(t, &ts);
    assert_int_equal(ts.cut, 1);
    free(line);
    tail_free(t);
}

/* a busy consumer loses nothing: the tail keeps the line and stops until resumed */
static void test_busy_consumer(void **st)
{
    char log[256];
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("busy.log"));
    append(log, "");
    tail *t = tail_file_new(base, log, take, &got);
    got.busy = 1;
    append(log, "1\n2\n3\n");
    turn();
    turn();
    assert_int_equal(got.n, 0);
    got.busy = 0;
    tail_resume(t);
    wait_lines(3);
    assert_string_equal(got.lines[2], "3");
    tail_free(t);
}

/* a burst of 100,000 lines is read TAIL_LINES_PER_WAKEUP at a time, so other events get their turns */
static void test_burst_is_sliced(void **st)
{
    char log[256];
    size_t n = 100000;
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("burst.log"));
    append(log, "");
    tail *t = tail_file_new(base, log, take, &got);
    FILE *f = fopen(log, "a");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "line %zu from 192.0.2.%zu\n", i, i % 250);
    fclose(f);
    for (int i = 0; i < 5000 && got.n < n; i++)
        turn();
    assert_int_equal(got.n, n);
    assert_true(got.max_wakeup <= TAIL_LINES_PER_WAKEUP);
    assert_string_equal(got.lines[n - 1], "line 99999 from 192.0.2.249");
    tail_free(t);
}

/* the one-second check coming due in the middle of a burst reads no more lines: the check and the burst's next
 * slice run in the same loop turn, and together they still hand on at most TAIL_LINES_PER_WAKEUP lines (a loaded
 * machine whose burst took over a second made this happen by chance; here the consumer holds its line until the
 * check is due, a condition on the clock) */
static uint64_t check_due_ms;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int take_slowly(void *arg, const char *line, size_t len)
{
    sink *s = arg;
    if (s->n == TAIL_LINES_PER_WAKEUP + 1)
        while (now_ms() < check_due_ms)
            poll(NULL, 0, 10);
    return take(arg, line, len);
}

static void test_check_during_burst(void **st)
{
    char log[256];
    size_t n = 4 * TAIL_LINES_PER_WAKEUP;
    (void)st;
    snprintf(log, sizeof log, "%s", path_of("check.log"));
    append(log, "");
    tail *t = tail_file_new(base, log, take_slowly, &got);
    check_due_ms = now_ms() + TAIL_CHECK_MS + 50; /* a margin for a coarse clock */
    FILE *f = fopen(log, "a");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "line %zu\n", i);
    fclose(f);
    for (int i = 0; i < 200 && got.n < n; i++)
        turn();
    assert_int_equal(got.n, n);
    assert_true(got.max_wakeup <= TAIL_LINES_PER_WAKEUP);
    assert_string_equal(got.lines[n - 1], "line 1023");
    tail_free(t);
}

/* the journal, where this machine has one: a line sent with systemd-cat under a fresh identifier arrives,
 * and a tail started at that entry's cursor does not read it again (skipped with a message without a journal) */
static void test_journal(void **st)
{
    char ident[64], cmd[256], err[256];
    (void)st;

    if (access("/run/systemd/journal/socket", W_OK) != 0) {
        fprintf(stderr, "test_journal: skipped: this machine has no systemd journal (/run/systemd/journal/socket)\n");
        skip();
    }
    snprintf(ident, sizeof ident, "fgtest%d", (int)getpid());
    tail *t = tail_journal_new(base, ident, NULL, take, &got, err, sizeof err);
    assert_non_null(t);
    snprintf(cmd, sizeof cmd, "echo 'SASL LOGIN authentication failed from 192.0.2.77' | systemd-cat -t %s", ident);
    assert_int_equal(system(cmd), 0);
    wait_lines(1);
    assert_non_null(strstr(got.lines[0], "192.0.2.77"));
    char *cursor = strdup(tail_cursor(t));
    tail_free(t);
    t = tail_journal_new(base, ident, cursor, take, &got, err, sizeof err);
    assert_non_null(t);
    snprintf(cmd, sizeof cmd, "echo second | systemd-cat -t %s", ident);
    assert_int_equal(system(cmd), 0);
    wait_lines(2);
    assert_string_equal(got.lines[1], "second");
    free(cursor);
    tail_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_from_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_then_created, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_burst_is_sliced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_during_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
