/*
 * test_ctl - floodgatectl on big replies and on cut ones, and the snapshot child, with the real floodgated
 *
 * Usage: test_ctl FLOODGATED FLOODGATECTL
 * The daemon runs on sockets in a fresh temp folder with a 5,000-entry
 * list, a list of more than 1 MiB and a snapshot of 200,000 greylist
 * keys (written beforehand with the store's own snapshot_write, so that
 * the forked writer lives long enough to be caught), and is killed at
 * the end, pass or fail. Cut replies come from a fake daemon (a child
 * of the test) that answers part of a reply and hangs up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grey.h"
#include "keys.h"
#include "mem.h"
#include "snapshot.h"

#include "sockio.h"

#define BIG_ENTRIES 5000      /* the list that showed 4,092 entries */
#define HUGE_ENTRIES 6000     /* x ~200 bytes: a reply of ~1.3 MiB */
#define SNAP_KEYS 200000      /* a snapshot the child takes a while to write */

static const char *daemon_bin, *ctl_bin;
static char dir[] = "/tmp/fgctlXXXXXX";
static char conf_path[512], control_path[512], log_path[512], fake_path[512], snap_path[512];
static pid_t daemon_pid = -1;

/* connect_unix - a client socket, -1 if nobody listens */
static int connect_unix(const char *path)
{
    return sock_connect_unix(path);
}

/* huge_entry - the i-th entry of the >1 MiB list: a domain of about 200 bytes */
static void huge_entry(char *out, size_t len, int i)
{
    char label[61];
    memset(label, 'a' + i % 26, 60);
    label[60] = '\0';
    snprintf(out, len, "%s.%s.%s.n%05d.example", label, label, label, i);
}

/* write_files - configuration, lists, and a snapshot of SNAP_KEYS greylist passes */
static int write_files(void)
{
    char path[600], e[256];
    FILE *f;

    snprintf(path, sizeof path, "%s/big", dir);
    if (!(f = fopen(path, "w")))
        return -1;
    for (int i = 0; i < BIG_ENTRIES; i++)
        fprintf(f, "host%05d.example\n", i);
    fclose(f);
    snprintf(path, sizeof path, "%s/huge", dir);
    if (!(f = fopen(path, "w")))
        return -1;
    for (int i = 0; i < HUGE_ENTRIES; i++) {
        huge_entry(e, sizeof e, i);
        fprintf(f, "%s\n", e);
    }
    fclose(f);
    if (!(f = fopen(conf_path, "w")))
        return -1;
    fprintf(f, "listen = { policy = \"unix:%s/policy.sock\"; control = \"unix:%s\"; };\n"
               "store = { type = \"embedded\"; snapshot = \"state\"; snapshot_interval = \"1s\"; };\n"
               "lists = { big = \"big\"; huge = \"huge\"; };\n"
               "rules = ( { name = \"grey\"; on = \"smtp:RCPT\"; greylist = { delay = 0; }; } );\n",
            dir, control_path);
    fclose(f);

    /* the store's own writer, so the file is what the daemon wrote last time; passes kept for a day */
    mem_store *m = mem_new(NULL);
    unsigned char key[32], v[GREY_TRIPLET_SIZE] = {0};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (uint32_t i = 0; i < SNAP_KEYS; i++) {
        key[0] = KEY_GREYLIST;
        memset(key + 1, 'k', sizeof key - 1);
        memcpy(key + 1, &i, sizeof i);
        memcpy(mem_put(m, key, sizeof key, sizeof v, now + 86400000ULL, now), v, sizeof v);
    }
    char err[512];
    long n = snapshot_write(m, snap_path, now, now, err, sizeof err);
    mem_free(m);
    return n == SNAP_KEYS ? 0 : -1;
}

/* start_daemon - run floodgated and wait until it answers on its control socket */
static int start_daemon(void)
{
    daemon_pid = fork();
    if (daemon_pid < 0)
        return -1;
    if (daemon_pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        execl(daemon_bin, daemon_bin, "-c", conf_path, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000; i++) {
        int fd = connect_unix(control_path);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
            daemon_pid = -1;
            return -1;
        }
        poll(NULL, 0, 10);
    }
    return -1;
}

/* kill_leftover - never leave a daemon behind, whatever happened */
static void kill_leftover(void)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
        daemon_pid = -1;
    }
}

/* run - a command's whole output (malloc'd), its size and exit status */
static char *run(const char *cmd, size_t *len, int *status)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0, cap = 1 << 16;
    char *out = malloc(cap + 1);
    assert_non_null(p);
    assert_non_null(out);
    for (size_t got; (got = fread(out + n, 1, cap - n, p)) > 0;) {
        n += got;
        if (n == cap) {
            out = realloc(out, 2 * cap + 1);
            assert_non_null(out);
            cap *= 2;
        }
    }
    out[n] = '\0';
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (len)
        *len = n;
    return out;
}

/* ctl - floodgatectl with these arguments on this socket */
static char *ctl(const char *sock, const char *args, size_t *len, int *status)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -s %s %s", ctl_bin, sock, args);
    return run(cmd, len, status);
}

/* count_lines - lines that start with prefix */
static size_t count_lines(const char *out, const char *prefix)
{
    size_t n = 0, plen = strlen(prefix);
    for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += !strncmp(p, prefix, plen);
    return n;
}

static int group_setup(void **st)
{
    (void)st;
    if (!mkdtemp(dir))
        return -1;
    snprintf(conf_path, sizeof conf_path, "%s/floodgate.conf", dir);
    snprintf(control_path, sizeof control_path, "%s/control.sock", dir);
    snprintf(log_path, sizeof log_path, "%s/floodgated.log", dir);
    snprintf(fake_path, sizeof fake_path, "%s/fake.sock", dir);
    snprintf(snap_path, sizeof snap_path, "%s/state", dir);
    atexit(kill_leftover);
    if (write_files() < 0)
        return -1;
    return start_daemon();
}

static int group_teardown(void **st)
{
    char cmd[1024];
    (void)st;
    kill_leftover();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* a 5,000-entry list is shown whole (it showed 4,092 with exit 0), as a table and as JSON */
static void test_list_5000(void **st)
{
    int status;
    char want[64];
    (void)st;

    char *out = ctl(control_path, "list big show", NULL, &status);
    assert_int_equal(status, 0);
    assert_int_equal(count_lines(out, "entry "), BIG_ENTRIES);
    snprintf(want, sizeof want, " host%05d.example\n", BIG_ENTRIES - 1);
    assert_non_null(strstr(out, want));
    free(out);

    out = ctl(control_path, "--json list big show", NULL, &status);
    assert_int_equal(status, 0);
    size_t quoted = 0;
    for (const char *p = out; (p = strstr(p, "\"host")) != NULL; p++)
        quoted++;
    assert_int_equal(quoted, BIG_ENTRIES);
    assert_non_null(strstr(out, "\"count\":5000,"));
    free(out);
}

/* a reply over 1 MiB is shown whole (it read as "closed without a complete reply") */
static void test_list_over_1mib(void **st)
{
    int status;
    size_t len;
    char e[256], want[300];
    (void)st;

    char *out = ctl(control_path, "list huge show", &len, &status);
    assert_int_equal(status, 0);
    assert_true(len > 1024 * 1024);
    assert_int_equal(count_lines(out, "entry "), HUGE_ENTRIES);
    huge_entry(e, sizeof e, HUGE_ENTRIES - 1);
    snprintf(want, sizeof want, " %s\n", e);
    assert_non_null(strstr(out, want));
    free(out);
}

/* fake_daemon - a child that answers one connection with `reply` (len bytes) and hangs up */
static pid_t fake_daemon(const char *reply, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);

    unlink(fake_path);
    memcpy(sa.sun_path, fake_path, strlen(fake_path) + 1);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char buf[4096];
        int fd = accept(lfd, NULL, NULL);
        ssize_t n = read(fd, buf, sizeof buf); /* the request */
        (void)n;
        for (size_t off = 0; off < len;) {
            n = write(fd, reply + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        _exit(0);
    }
    close(lfd);
    return pid;
}

/* a reply cut before its empty line, or holding fewer entries than its count, fails loudly: nothing printed */
static void test_cut_reply_fails(void **st)
{
    static const struct {
        const char *label, *reply;
    } cases[] = {
        {"cut mid-line", "status=ok\nlist=big\ntype=set\ncount=3\nentry[]=a.example\nentry[]=b.exa"},
        {"cut between lines", "status=ok\nlist=big\ntype=set\ncount=3\nentry[]=a.example\n"},
        {"entries missing", "status=ok\nlist=big\ntype=set\ncount=3\nentry[]=a.example\n\n"},
        {"not name=value", "status=ok\nlist=big\ntype=set\ncount=1\nentry[]=a.example\ngarbage\n\n"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int status;
        size_t len;
        pid_t pid = fake_daemon(cases[i].reply, strlen(cases[i].reply));
        char *out = ctl(fake_path, "list big show 2>&1", &len, &status);
        waitpid(pid, NULL, 0);
        if (status == 0)
            fail_msg("%s: exit 0 with output:\n%s", cases[i].label, out);
        assert_int_equal(status, 2);
        assert_non_null(strstr(out, "floodgatectl: "));
        assert_null(strstr(out, "a.example")); /* no partial listing that could pass for the whole */
        free(out);
    }
    /* the same frame whole is fine */
    const char *whole = "status=ok\nlist=big\ntype=set\ncount=1\nentry[]=a.example\n\n";
    int status;
    pid_t pid = fake_daemon(whole, strlen(whole));
    char *out = ctl(fake_path, "list big show", NULL, &status);
    waitpid(pid, NULL, 0);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, " a.example\n"));
    free(out);
}

/* help, --help and -h print the usage on stdout and exit 0 without connecting */
static void test_help(void **st)
{
    static const char *const args[] = {"help", "--help", "-h"};
    char cmd[1024];
    (void)st;

    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        int status;
        snprintf(cmd, sizeof cmd, "%s -s %s/nobody-listens.sock %s 2>/dev/null", ctl_bin, dir, args[i]);
        char *out = run(cmd, NULL, &status);
        assert_int_equal(status, 0);
        assert_non_null(strstr(out, "usage: floodgatectl"));
        assert_non_null(strstr(out, "list NAME show"));
        free(out);
    }
    int status;
    snprintf(cmd, sizeof cmd, "%s -s %s/nobody-listens.sock 2>&1", ctl_bin, dir);
    char *out = run(cmd, NULL, &status); /* no command: usage on stderr, status 2 */
    assert_int_equal(status, 2);
    assert_non_null(strstr(out, "usage: floodgatectl"));
    free(out);
}

/* debug clock is a test's: a daemon started without FLOODGATE_TEST_CLOCK=1 refuses it, exit 1, and says why */
static void test_debug_clock_refused(void **st)
{
    int status;
    (void)st;
    char *out = ctl(control_path, "debug clock +60 2>&1", NULL, &status);
    assert_int_equal(status, 1);
    if (!strstr(out, "FLOODGATE_TEST_CLOCK=1"))
        fail_msg("the refusal does not say why: %s", out);
    free(out);
}

/* child_of - a child process of pid, 0 if none (the kernel's children list of its main thread) */
static pid_t child_of(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return (pid_t)atoi(buf);
}

/* proc_state - the state letter of a process (R, S, T, Z...), 0 if gone */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

/* log_has - the daemon's log holds this text */
static int log_has(const char *text)
{
    size_t len;
    int status;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cat %s", log_path);
    char *out = run(cmd, &len, &status);
    int has = strstr(out, text) != NULL;
    free(out);
    return has;
}

/* SIGTERM to the snapshot child kills that child only: the daemon goes on and logs the failed snapshot
 * (the child inherited libevent's signal handler, whose pipe stopped the daemon) */
static void test_sigterm_to_snapshot_child(void **st)
{
    pid_t child = 0;
    (void)st;

    /* catch a snapshot child (every second) alive, and stop it so that it cannot finish first */
    for (int tries = 0; tries < 2000000 && !child; tries++) {
        pid_t c = child_of(daemon_pid);
        if (!c)
            continue;
        kill(c, SIGSTOP);
        for (int i = 0; i < 1000; i++) {
            char s = proc_state(c);
            if (s == 'T' || s == 't') {
                child = c;
                break;
            }
            if (s == 0 || s == 'Z')
                break;
            poll(NULL, 0, 1);
        }
    }
    assert_true(child > 0);
    kill(child, SIGTERM);
    kill(child, SIGCONT);

    for (int i = 0; i < 3000 && !log_has("snapshot of") && !log_has("stopping"); i++)
        poll(NULL, 0, 10);
    assert_false(log_has("stopping"));
    assert_int_equal(waitpid(daemon_pid, NULL, WNOHANG), 0); /* still running */
    assert_true(log_has("failed (its writer was killed by signal 15); the previous one stays"));
    int status;
    char *out = ctl(control_path, "stats", NULL, &status);
    assert_int_equal(status, 0);
    assert_non_null(strstr(out, "snapshot_failures"));
    free(out);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_ctl FLOODGATED FLOODGATECTL\n");
        return 2;
    }
    daemon_bin = argv[1];
    ctl_bin = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_list_5000),
        cmocka_unit_test(test_list_over_1mib),
        cmocka_unit_test(test_cut_reply_fails),
        cmocka_unit_test(test_debug_clock_refused),
        cmocka_unit_test(test_sigterm_to_snapshot_child),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
