/*
 * test_watch_daemon - the real floodgated follows a log file that the test appends to: matching lines count
 * in the rule of their event (what a ban rule counts), old lines at start are not replayed, a reload keeps the
 * position, and `floodgatectl watches` shows the counters.
 *
 *     test_watch_daemon FLOODGATED FLOODGATECTL
 * $FG_WRAPPER (e.g. valgrind ...) runs the daemon.
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

static const char *daemon_bin, *ctl_bin;
static char dir[] = "/tmp/fgwatchXXXXXX";
static char conf[300], logfile[300], control[300];
static pid_t daemon_pid = -1;

#define FAIL_LINE(ip) "Nov 25 10:01:02 mx postfix/smtpd[2218]: warning: unknown[" ip "]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n"

/* write_conf - the configuration, with the rule's count */
static void write_conf(int count)
{
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "listen = { policy = \"unix:%s/policy.sock\"; control = \"unix:%s\"; };\n"
            "watch = ( { name = \"postfix-sasl\"; file = \"%s\"; event = \"auth_failure\";\n"
            "  match = \"/warning: [-._[:alnum:]]+\\\\[(?<client_address>[0-9a-fA-F.:]+)\\\\]: SASL [A-Z0-9-]+ authentication failed/\"; } );\n"
            "rules = ( { name = \"sasl-failures\"; on = \"report:auth_failure\";\n"
            "  limit = { key = \"client_address\"; count = %d; per = \"1h\"; }; } );\n",
            dir, control, logfile, count);
    fclose(f);
}

/* append - a line to the log, as the MTA's syslog would */
static void append(const char *text)
{
    int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* ctl - floodgatectl's output */
static char *ctl(const char *args)
{
    static char out[8192];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s -s %s %s 2>&1", ctl_bin, control, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[fread(out, 1, sizeof out - 1, p)] = '\0';
    pclose(p);
    return out;
}

/* counted - the count of the rule's counter for an address */
static long counted(const char *ip)
{
    char args[128];
    snprintf(args, sizeof args, "--json counter sasl-failures %s", ip);
    const char *c = strstr(ctl(args), "\"count\":");
    return c ? strtol(c + 8, NULL, 10) : -1;
}

/* wait_count - until the counter reads want (up to 60 s for valgrind: a condition, not a time) */
static void wait_count(const char *ip, long want)
{
    for (int i = 0; i < 600; i++) {
        if (counted(ip) == want)
            return;
        poll(NULL, 0, 100);
    }
    fail_msg("counter of %s is %ld, not %ld\n%s", ip, counted(ip), want, ctl("watches"));
}

static void start_daemon(void)
{
    char *argv[32], wrapper[1024];
    int argc = 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (getenv("FG_WRAPPER")) {
        snprintf(wrapper, sizeof wrapper, "%s", getenv("FG_WRAPPER"));
        for (char *t = strtok(wrapper, " "); t && argc < 24; t = strtok(NULL, " "))
            argv[argc++] = t;
    }
    argv[argc++] = (char *)daemon_bin;
    argv[argc++] = "-c";
    argv[argc++] = conf;
    argv[argc] = NULL;
    daemon_pid = fork();
    assert_true(daemon_pid >= 0);
    if (daemon_pid == 0) {
        char log[400];
        snprintf(log, sizeof log, "%s/daemon.log", dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    memcpy(sa.sun_path, control, strlen(control) + 1);
    for (int i = 0; i < 6000; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(fd);
            return;
        }
        close(fd);
        poll(NULL, 0, 10);
    }
    fail_msg("floodgated did not start");
}

static int stop_daemon(void)
{
    int status = 0;
    if (daemon_pid <= 0)
        return -1;
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, &status, 0);
    daemon_pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int setup(void **st)
{
    (void)st;
    if (!mkdtemp(dir))
        return -1;
    snprintf(conf, sizeof conf, "%s/floodgate.conf", dir);
    snprintf(logfile, sizeof logfile, "%s/mail.log", dir);
    snprintf(control, sizeof control, "%s/control.sock", dir);
    return 0;
}

static int teardown(void **st)
{
    char cmd[400];
    (void)st;
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* the whole life of a watch: start, lines, reload, the counters, a clean stop */
static void test_watch_counts_reports(void **st)
{
    (void)st;
    /* lines written before the daemon starts are history: not counted */
    append(FAIL_LINE("192.0.2.7") FAIL_LINE("192.0.2.7"));
    write_conf(10);
    start_daemon();
    append(FAIL_LINE("192.0.2.7"));
    append("Nov 25 10:01:02 mx postfix/smtpd[2218]: connect from unknown[192.0.2.7]\n");
    append(FAIL_LINE("2001:db8::7") FAIL_LINE("192.0.2.7"));
    wait_count("192.0.2.7", 2);
    wait_count("2001:db8::7", 1);
    /* a reload keeps the position: nothing is read twice, the next line counts once */
    write_conf(20);
    assert_non_null(strstr(ctl("reload"), "ok"));
    append(FAIL_LINE("192.0.2.7"));
    wait_count("192.0.2.7", 3);
    const char *w = ctl("watches");
    assert_non_null(strstr(w, "watch.postfix-sasl.matched"));
    assert_non_null(strstr(w, "4"));
    assert_non_null(strstr(w, "watch.postfix-sasl.lines"));
    assert_int_equal(stop_daemon(), 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_watch_daemon FLOODGATED FLOODGATECTL\n");
        return 2;
    }
    daemon_bin = argv[1];
    ctl_bin = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_counts_reports),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
