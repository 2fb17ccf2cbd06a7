/*
 * test_systemd - floodgated talks to systemd as floodgate.service expects (Type=notify, WatchdogSec=):
 * READY=1 once it listens, WATCHDOG=1 at half the period it is given, RELOADING=1 then READY=1 on SIGHUP,
 * STOPPING=1 on SIGTERM. The test plays systemd: it owns the notify socket and sets the variables
 * (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID) that systemd would set.
 *
 *     test_systemd FLOODGATED
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *daemon_bin;
static char dir[] = "/tmp/fgsdXXXXXX";
static char notify_path[100]; /* fits sun_path */
static int notify_fd = -1;
static pid_t daemon_pid = -1;

/* next_message - the next datagram from the daemon containing want, waiting up to 20 s (a condition) */
static int next_message(const char *want)
{
    char buf[512];

    for (int i = 0; i < 200; i++) {
        struct pollfd p = {notify_fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(notify_fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (strstr(buf, want))
            return 1;
    }
    return 0;
}

static int setup(void **st)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char conf[512], text[1024];
    FILE *f;
    (void)st;

    if (!mkdtemp(dir))
        return -1;
    snprintf(notify_path, sizeof notify_path, "%s/notify", dir);
    memcpy(sa.sun_path, notify_path, strlen(notify_path) + 1);
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (notify_fd < 0 || bind(notify_fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return -1;
    snprintf(conf, sizeof conf, "%s/floodgate.conf", dir);
    snprintf(text, sizeof text,
             "listen = { policy = \"unix:%s/policy.sock\"; control = \"unix:%s/control.sock\"; };\nrules = ();\n", dir,
             dir);
    if (!(f = fopen(conf, "w")))
        return -1;
    fputs(text, f);
    fclose(f);
    daemon_pid = fork();
    if (daemon_pid < 0)
        return -1;
    if (daemon_pid == 0) {
        char pid[32], log[512];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        snprintf(log, sizeof log, "%s/log", dir);
        setenv("NOTIFY_SOCKET", notify_path, 1);
        setenv("WATCHDOG_USEC", "200000", 1); /* 200 ms: WATCHDOG=1 every 100 ms */
        setenv("WATCHDOG_PID", pid, 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        execl(daemon_bin, daemon_bin, "-c", conf, (char *)NULL);
        _exit(127);
    }
    return 0;
}

static int teardown(void **st)
{
    char cmd[600];
    (void)st;

    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
    }
    if (notify_fd >= 0)
        close(notify_fd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* the notify protocol of a Type=notify service with a watchdog, from start to stop */
static void test_notify_and_watchdog(void **st)
{
    int status;
    (void)st;

    assert_true(next_message("READY=1"));
    /* the loop keeps sending WATCHDOG=1: three in a row */
    for (int i = 0; i < 3; i++)
        assert_true(next_message("WATCHDOG=1"));
    kill(daemon_pid, SIGHUP);
    assert_true(next_message("RELOADING=1"));
    assert_true(next_message("READY=1"));
    assert_true(next_message("WATCHDOG=1"));
    kill(daemon_pid, SIGTERM);
    assert_true(next_message("STOPPING=1"));
    assert_int_equal(waitpid(daemon_pid, &status, 0), daemon_pid);
    daemon_pid = -1;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_systemd FLOODGATED\n");
        return 2;
    }
    daemon_bin = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_and_watchdog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
