/*
 * banhook - the on_ban / on_unban commands, run without a shell and without blocking the loop
 *
 * A hook is an argv array from the configuration, e.g.
 *     on_ban = [ "/usr/local/sbin/block", "$address", "--for", "$duration", "--why=$reason" ];
 * $address, $reason and $duration are replaced inside each element, and each element stays one argument
 * whatever the values hold (spaces, quotes, ";", "$(...)"): the command is started with posix_spawn and
 * execve semantics, never through /bin/sh. Other "$" text is left as it is.
 *
 * At most max_running commands run at once; the others wait in a FIFO of at most max_queued, and a hook
 * beyond that is dropped and counted (a burst of bans must not fork the machine to death, nor make
 * floodgated hold unbounded memory). Children are collected on SIGCHLD (a libevent signal event, so the
 * handler runs on the loop) by waitpid(pid, WNOHANG) on our own pids only, so the snapshot writer's child
 * is left to its owner; each exit status is logged.
 *
 * Each command runs in a process group of its own (setpgid(0, 0) before the exec: POSIX_SPAWN_SETPGROUP).
 * One still running timeout_ms after its start (bans.hooks_timeout, default 30 s) is killed with its whole
 * group, kill(-pgid, SIGKILL), so a `curl` it started dies with it, and a warning names its argv[0] and pid:
 *     on_ban: /usr/local/sbin/block (pid 4242): still running after 30s (bans.hooks_timeout): killed ...
 * The timeout is a timer event per running command: nothing waits on the loop. The kill comes only while the
 * command is not collected yet, so its pid (and group id) cannot have been reused by then.
 *
 * INVARIANTS
 *     running <= max_running; queued <= max_queued; started = finished + running.
 *
 * SECURITY
 *     Values come from clients (an address is parsed before it gets here, a reason may be free text from
 *     `floodgatectl ban --reason` or a rule); they become argv elements and nothing else. The child gets
 *     stdin from /dev/null, no descriptor of ours beyond 0-2 (closefrom), default signal dispositions and
 *     an empty signal mask. An element after substitution is cut at BANHOOK_ARG_MAX bytes.
 *
 * BUGS
 *     A process the command started that leaves the group (setsid, setpgid) outlives the timeout, and so does
 *     one still running when the command itself exits in time: only the command is waited for.
 */
#ifndef FG_BANHOOK_H
#define FG_BANHOOK_H

#include <event2/event.h>
#include <stdint.h>

#define BANHOOK_ARGS_MAX 64    /* elements of one hook's argv */
#define BANHOOK_ARG_MAX 4096   /* bytes of one element after substitution */
#define BANHOOK_TIMEOUT_MS 30000 /* bans.hooks_timeout's default */

typedef struct banhook banhook;

typedef struct banhook_stats {
    uint64_t started;   /* commands spawned */
    uint64_t finished;  /* collected, whatever their status */
    uint64_t failed;    /* exit status not 0, killed, or spawn failed */
    uint64_t dropped;   /* the queue was full */
    uint64_t killed;    /* still running at the timeout: killed with their process group (also failed) */
    unsigned running;   /* now */
    unsigned queued;    /* now */
} banhook_stats;

/* banhook_new - a runner on base; max_running >= 1 */
banhook *banhook_new(struct event_base *base, unsigned max_running, unsigned max_queued);
/* banhook_set_max - new bounds (a reload): running jobs go on; more start if there is room now */
void banhook_set_max(banhook *h, unsigned max_running, unsigned max_queued);
/* banhook_set_timeout - commands started from now on are killed (with their process group) ms after their
 * start if still running; 0 sets the default, BANHOOK_TIMEOUT_MS */
void banhook_set_timeout(banhook *h, uint64_t ms);
/* banhook_free - forget the runner; children still running are left to finish (and reaped by init) */
void banhook_free(banhook *h);
/* banhook_expand - argv with $address/$reason/$duration replaced, into a NULL-terminated array of
 * malloc'ed strings (freed with banhook_argv_free); NULL when argv is empty */
char **banhook_expand(const char *const *argv, const char *address, const char *reason, const char *duration);
/* banhook_argv_free - free what banhook_expand returned */
void banhook_argv_free(char **argv);
/* banhook_run - run (or queue) one hook named label ("on_ban"); 0 started or queued, -1 dropped */
int banhook_run(banhook *h, const char *label, const char *const *argv, const char *address, const char *reason,
                const char *duration);
/* banhook_get_stats - the counters */
banhook_stats banhook_get_stats(const banhook *h);

#endif
