/*
 * daemon_util - what the integration tests share: a temp folder, the real floodgated started in it (under
 * $FG_WRAPPER, e.g. valgrind, when set) and always stopped, and floodgatectl run against it
 */
#ifndef FG_DAEMON_UTIL_H
#define FG_DAEMON_UTIL_H

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

#include "sockio.h"

typedef struct fg_daemon {
    const char *bin, *ctl_bin;  /* floodgated and floodgatectl */
    char dir[64];               /* the temp folder */
    char conf[128];             /* dir/floodgate.conf */
    char control[128];          /* dir/control.sock */
    pid_t pid;                  /* -1 when not running */
} fg_daemon;

/* daemon_init - a temp folder for one test program; 0 ok */
static inline int daemon_init(fg_daemon *d, const char *bin, const char *ctl_bin)
{
    memset(d, 0, sizeof *d);
    d->bin = bin;
    d->ctl_bin = ctl_bin;
    d->pid = -1;
    strcpy(d->dir, "/tmp/fgintXXXXXX");
    if (!mkdtemp(d->dir))
        return -1;
    snprintf(d->conf, sizeof d->conf, "%s/floodgate.conf", d->dir);
    snprintf(d->control, sizeof d->control, "%s/control.sock", d->dir);
    return 0;
}

/* daemon_write_conf - the configuration; "@DIR@" in text stands for the temp folder */
static inline void daemon_write_conf(fg_daemon *d, const char *text)
{
    FILE *f = fopen(d->conf, "w");
    assert_non_null(f);
    for (const char *p = text; *p; p++) {
        if (!strncmp(p, "@DIR@", 5)) {
            fputs(d->dir, f);
            p += 4;
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
}

/* daemon_start - run floodgated and wait until its control socket answers a command (a condition: up to
 * 60 s). Answers, not only accepts: a socket accepts as soon as it listens, before the daemon has finished
 * starting (its signal handlers, its loop), and a SIGTERM sent then would kill it instead of stopping it. */
static inline void daemon_start(fg_daemon *d)
{
    char *argv[32], wrapper[1024], log[128];
    int argc = 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (getenv("FG_WRAPPER")) {
        snprintf(wrapper, sizeof wrapper, "%s", getenv("FG_WRAPPER"));
        for (char *t = strtok(wrapper, " "); t && argc < 24; t = strtok(NULL, " "))
            argv[argc++] = t;
    }
    argv[argc++] = (char *)d->bin;
    argv[argc++] = "-c";
    argv[argc++] = d->conf;
    argv[argc] = NULL;
    snprintf(log, sizeof log, "%s/daemon.log", d->dir);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    memcpy(sa.sun_path, d->control, strlen(d->control) + 1);
    for (int i = 0; i < 6000; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), status;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            static const char req[] = "command=version\n\n";
            char reply[256];
            int answered = write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
                           strstr(sock_read_reply(fd, reply, sizeof reply), "status=ok") != NULL;
            close(fd);
            if (answered)
                return;
        } else {
            close(fd);
        }
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = -1;
            fail_msg("floodgated exited at start; see %s", log);
        }
        poll(NULL, 0, 10);
    }
    fail_msg("floodgated did not start; see %s", log);
}

/* daemon_stop - SIGTERM; the exit status (128 + signal when killed) */
static inline int daemon_stop(fg_daemon *d)
{
    int status = 0;
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    waitpid(d->pid, &status, 0);
    d->pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* daemon_cleanup - kill a daemon left running (a failed test) and remove the folder */
static inline int daemon_cleanup(fg_daemon *d)
{
    char cmd[128];
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = -1;
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* daemon_ctl - floodgatectl's output (stdout and stderr) and exit status */
static inline char *daemon_ctl(fg_daemon *d, int *status, const char *args)
{
    static char out[65536];
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -s %s %s 2>&1", d->ctl_bin, d->control, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[fread(out, 1, sizeof out - 1, p)] = '\0';
    int rc = pclose(p);
    if (status)
        *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

/* daemon_log - the daemon's log so far (static buffer, the first 64 KiB) */
static inline char *daemon_log(const fg_daemon *d)
{
    static char text[1 << 16];
    char path[160];

    snprintf(path, sizeof path, "%s/daemon.log", d->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    text[fread(text, 1, sizeof text - 1, f)] = '\0';
    fclose(f);
    return text;
}

/* daemon_ask - one request (ended by an empty line) on a new connection to a Unix socket; the reply up to its
 * empty line, or "" when the connection failed or closed first */
static inline char *daemon_ask(const char *path, const char *req)
{
    static char buf[65536];

    return sock_ask(path, req, buf, sizeof buf);
}

/* daemon_policy - one request on a fresh connection to the daemon's policy.sock; the reply */
static inline char *daemon_policy(const fg_daemon *d, const char *req)
{
    char path[160];

    snprintf(path, sizeof path, "%s/policy.sock", d->dir);
    return daemon_ask(path, req);
}

#endif
