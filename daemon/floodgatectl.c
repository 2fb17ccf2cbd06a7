/*
 * floodgatectl - the admin tool of floodgated
 *
 * SYNOPSIS
 *     floodgatectl [-s SOCKET] [--json] COMMAND [ARGS...]
 *
 * DESCRIPTION
 *     Speaks the policy protocol's framing to the control socket (default
 *     /run/floodgate/control.sock, or $FLOODGATE_CONTROL):
 *     check KIND[:SUB] NAME=VALUE...
 *     explain KIND[:SUB] NAME=VALUE...  the same query counted nowhere: each rule, its counter, who decides
 *         send one policy query and print the reply. KIND is smtp, auth,
 *         report, http, imap, loiter, contact or scan; SUB is the SMTP state
 *         (smtp:RCPT), the report event (report:auth_failure), the IMAP
 *         command. Works on a policy socket too.
 *     stats      counters of the daemon, its store and each rule
 *     reload     load the rules again (the old ones stay if the file is broken)
 *     version    the daemon's version
 *     lists      the lookup lists and their sizes
 *     list NAME show|add ENTRY...|del ENTRY
 *                a lookup list; edits apply to the next request and are
 *                saved to the list's file
 *     counter RULE VALUE...   a limit's counter for the key VALUE...
 *                (the rule's key attributes in order, or NAME=VALUE)
 *     reset RULE VALUE...     forget that counter
 *     ban ADDR|NET [DURATION] [--reason TEXT]
 *                ban an address or a network (192.0.2.0/24, 2001:db8::/64)
 *                for DURATION (90m, 1h, 7d; "forever"; default 1h); a
 *                network reaching a trusted address is refused (exit 1)
 *     unban ADDR|NET
 *                lift the ban on exactly that key; exit 1 "not banned"
 *     bans [--json]
 *                the current bans as a table (key, reason, rule, since,
 *                expires, times), or a JSON array with --json
 *     bans --format nft|ipset|plain|json
 *                the current bans in a firewall's form, printed exactly
 *                (nft -f, ipset restore); a reply cut short is exit 2
 *     bans --follow [--json]
 *                the current bans as "ban ..." lines, "synced N", then a
 *                line per ban, unban and expiry as the daemon pushes it;
 *                exit 2 when the daemon ends the stream
 *     help       this usage (also --help, -h), without connecting
 *     Human-readable output by default, --json for scripts.
 *
 *     A reply is read whole, up to its empty line, whatever its size (a
 *     list of a million entries is shown whole): the buffer grows as it
 *     fills, and the table's column width needs every name first.
 *
 * DIAGNOSTICS
 *     Exit 0 on success, 1 when the daemon answered status=error, 2 when
 *     it could not be reached, the command line is wrong, or the output
 *     would be incomplete: a reply cut before its empty line, a line
 *     that is not NAME=VALUE, a "list show" with fewer entries than its
 *     count, or standard output that could not be written. Nothing is
 *     ever cut silently.
 */
#include <errno.h>
#include <sys/wait.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netdb.h>

#include "num.h"

#define DEFAULT_SOCKET "/run/floodgate/control.sock"
#define REPLY_CHUNK 65536 /* first size of the reply buffer, and the least it grows by */

/* connect_to - "unix:PATH", "tcp:HOST:PORT" or a bare path */
static int connect_to(const char *target)
{
    int fd;

    if (!strncmp(target, "tcp:", 4)) {
        char host[256];
        const char *colon = strrchr(target + 4, ':');
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *ai;
        if (!colon || (size_t)(colon - target - 4) >= sizeof host)
            return -1;
        memcpy(host, target + 4, (size_t)(colon - target - 4));
        host[colon - target - 4] = '\0';
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
            return -1;
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
        freeaddrinfo(ai);
        return fd;
    }
    if (!strncmp(target, "unix:", 5))
        target += 5;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(target) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, target);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* fail - a message on stderr and exit 2: the output would be wrong or incomplete */
__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "floodgatectl: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* complete - the reply ends with its empty line (an empty reply is the empty line alone) */
static int complete(const char *buf, size_t got)
{
    return (got >= 2 && buf[got - 2] == '\n' && buf[got - 1] == '\n') || (got == 1 && buf[0] == '\n');
}

/* exchange - send a request, read the whole reply up to its empty line, any size */
static char *exchange(const char *target, const char *req, size_t len, size_t *reply_len)
{
    int fd = connect_to(target);
    char *buf;
    size_t got = 0, cap = REPLY_CHUNK;

    if (fd < 0)
        fail("cannot connect to %s: %s", target, strerror(errno));
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, req + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail("write to %s: %s", target, strerror(errno));
        off += (size_t)n;
    }
    buf = malloc(cap + 1);
    if (!buf)
        fail("out of memory");
    while (!complete(buf, got)) {
        if (cap - got < REPLY_CHUNK / 4) {
            char *more = cap > SIZE_MAX / 2 - 1 ? NULL : realloc(buf, cap * 2 + 1);
            if (!more)
                fail("out of memory reading the reply of %s", target);
            buf = more;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail("read from %s: %s", target, strerror(errno));
        if (n == 0)
            fail("%s closed the connection without a complete reply%s (nothing printed)", target,
                 got ? ", cut short" : "");
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *reply_len = got;
    return buf;
}

/* json_str - print a JSON string */
static void json_str(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

/* json_value - a number when it is one, else a string */
static void json_value(const char *v)
{
    char *end;
    strtoll(v, &end, 10);
    if (v[0] && !*end && (v[0] != '0' || !v[1]) && v[0] != '+')
        printf("%s", v);
    else
        json_str(v, strlen(v));
}

typedef struct field {
    char *name;   /* without its "[]" */
    char *value;
    size_t nlen;  /* strlen(name) */
    int array;    /* the line said "name[]=" */
} field;

/* parse_reply - the NAME=VALUE lines of a reply, split in place; a line of another shape means a damaged
 * reply, never something to skip */
static field *parse_reply(char *reply, size_t reply_len, size_t *nfields)
{
    size_t n = 0, cap = 64;
    field *f = malloc(cap * sizeof *f);
    char *end = reply + reply_len;

    if (!f)
        fail("out of memory");
    for (char *line = reply; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            fail("the reply ends inside a line");
        *nl = '\0';
        if (nl == line) /* the empty line that ends the reply */
            break;
        char *eq = strchr(line, '=');
        if (!eq)
            fail("a reply line is not NAME=VALUE: %.80s", line);
        if (n == cap) {
            field *more = realloc(f, 2 * cap * sizeof *f);
            if (!more)
                fail("out of memory");
            f = more;
            cap *= 2;
        }
        *eq = '\0';
        f[n].name = line;
        f[n].value = eq + 1;
        f[n].nlen = (size_t)(eq - line);
        f[n].array = f[n].nlen > 2 && !strcmp(eq - 2, "[]");
        if (f[n].array) {
            f[n].nlen -= 2;
            eq[-2] = '\0';
        }
        n++;
        line = nl + 1;
    }
    *nfields = n;
    return f;
}

/* check_list_show - a "list show" reply holds as many entries as its count says */
static void check_list_show(const field *f, size_t n)
{
    unsigned long long count = 0, entries = 0;
    int have_count = 0;

    for (size_t i = 0; i < n; i++) {
        if (!strcmp(f[i].name, "count") && !f[i].array) {
            char *end;
            errno = 0;
            count = strtoull(f[i].value, &end, 10);
            have_count = !errno && *f[i].value && !*end;
        } else if (f[i].array && !strcmp(f[i].name, "entry")) {
            entries++;
        }
    }
    if (have_count && entries != count)
        fail("the reply holds %llu entries of %llu: it was cut", entries, count);
}

/* print_reply - name=value lines as a table or a JSON object ("name[]" lines make an array); returns the exit code */
static int print_reply(const field *f, size_t n, int json)
{
    int rc = n > 0 && !strcmp(f[0].name, "status") && !strcmp(f[0].value, "error");
    size_t width = 0;

    for (size_t i = 0; i < n; i++)
        if (f[i].nlen > width)
            width = f[i].nlen;
    if (!json) {
        for (size_t i = 0; i < n; i++)
            printf("%-*s  %s\n", (int)width, f[i].name, f[i].value);
        return rc;
    }
    /* an array is printed where its name first appears, with every value of that name; replies hold one
     * or two array names, so finding the first appearance costs a pass per name, not per line */
    putchar('{');
    for (size_t i = 0, first = 1; i < n; i++) {
        if (f[i].array) {
            size_t j = 0;
            while (j < i && !(f[j].array && !strcmp(f[j].name, f[i].name)))
                j++;
            if (j < i)
                continue;
        }
        printf("%s", first ? "" : ",");
        first = 0;
        json_str(f[i].name, f[i].nlen);
        putchar(':');
        if (!f[i].array) {
            json_value(f[i].value);
            continue;
        }
        putchar('[');
        for (size_t j = i, k = 0; j < n; j++)
            if (f[j].array && !strcmp(f[j].name, f[i].name)) {
                printf("%s", k++ ? "," : "");
                json_str(f[j].value, strlen(f[j].value));
            }
        putchar(']');
    }
    printf("}\n");
    return rc;
}

/* append - grow a request buffer */
static void append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    *buf = realloc(*buf, *len + n + 2);
    if (!*buf)
        exit(2);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
}

/* build_check - a policy request from KIND[:SUB] and NAME=VALUE arguments, after the line first if not NULL */
static char *build_check(int argc, char **argv, size_t *len, const char *first)
{
    static const struct { const char *word, *request, *sub; } kinds[] = {
        {"smtp", "smtpd_access_policy", "protocol_state"}, {"auth", "auth", "protocol"},
        {"report", "report", "event"}, {"http", "http", "method"}, {"imap", "imap", "command"},
        {"loiter", "loiter", "protocol"}, {"contact", "contact", "form"}, {"scan", "scan", NULL},
    };
    char *buf = NULL, line[1024];
    const char *colon = strchr(argv[0], ':');
    size_t klen = colon ? (size_t)(colon - argv[0]) : strlen(argv[0]);
    int k;

    *len = 0;
    if (first)
        append(&buf, len, first);
    for (k = 0; k < (int)(sizeof kinds / sizeof kinds[0]); k++)
        if (strlen(kinds[k].word) == klen && !strncmp(kinds[k].word, argv[0], klen))
            break;
    if (k == (int)(sizeof kinds / sizeof kinds[0])) {
        fprintf(stderr, "floodgatectl: check: unknown kind %s (smtp:STATE, auth, report:EVENT, http, imap, loiter, "
                        "contact, scan)\n", argv[0]);
        exit(2);
    }
    snprintf(line, sizeof line, "request=%s", kinds[k].request);
    append(&buf, len, line);
    if (colon && kinds[k].sub) {
        snprintf(line, sizeof line, "%s=%s", kinds[k].sub, colon + 1);
        append(&buf, len, line);
    }
    for (int i = 1; i < argc; i++) {
        if (!strchr(argv[i], '=') || strchr(argv[i], '\n')) {
            fprintf(stderr, "floodgatectl: check: expected NAME=VALUE, got %s\n", argv[i]);
            exit(2);
        }
        append(&buf, len, argv[i]);
    }
    append(&buf, len, "");
    return buf;
}

/* field_value - the value of a reply field, NULL if absent */
static const char *field_value(const field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].name, name))
            return f[i].value;
    return NULL;
}

/* kv_ask - one kv command to the daemon: `kv OP CLASS KEY [ARG]` with ttl=; the reply's fields */
static field *kv_ask(const char *target, const char *op, const char *cls, const char *key, const char *arg,
                     const char *ttl, char **reply, size_t *nfields)
{
    char *req = NULL, line[2048];
    size_t len = 0, reply_len;
    const char *pos[4] = {op, cls, key, arg};

    append(&req, &len, "command=kv");
    for (int i = 0; i < 4 && pos[i]; i++) {
        if (strchr(pos[i], '\n') || strlen(pos[i]) > 1000)
            fail("an argument has a newline or is too long");
        snprintf(line, sizeof line, "arg%d=%s", i + 1, pos[i]);
        append(&req, &len, line);
    }
    if (ttl) {
        snprintf(line, sizeof line, "ttl=%.64s", ttl);
        append(&req, &len, line);
    }
    append(&req, &len, "");
    *reply = exchange(target, req, len, &reply_len);
    free(req);
    field *f = parse_reply(*reply, reply_len, nfields);
    const char *status = field_value(f, *nfields, "status");
    if (!status || strcmp(status, "ok")) {
        const char *msg = field_value(f, *nfields, "message");
        fail("%s", msg ? msg : "the daemon refused the command");
    }
    return f;
}

/* cmd_seen - seen CLASS KEY [--ttl D]: 0 when the key is new (and now remembered), 1 when it was seen */
static int cmd_seen(const char *target, int argc, char **argv)
{
    const char *ttl = NULL;
    char *reply;
    size_t n;

    if (argc >= 5 && !strcmp(argv[3], "--ttl"))
        ttl = argv[4];
    else if (argc != 3)
        fail("usage: seen CLASS KEY [--ttl DURATION]");
    field *f = kv_ask(target, "seen", argv[1], argv[2], NULL, ttl, &reply, &n);
    const char *fresh = field_value(f, n, "new");
    int rc = fresh && !strcmp(fresh, "yes") ? 0 : 1;
    printf("%s\n", rc == 0 ? "new" : "seen");
    free(f);
    free(reply);
    return rc;
}

static volatile sig_atomic_t lock_child; /* the command run under a lock, for the signal forwarder */

/* forward - a signal to floodgatectl goes to the command, which then ends, and the lock is released */
static void forward(int sig)
{
    if (lock_child > 0)
        kill((pid_t)lock_child, sig);
}

/* cmd_lock - lock NAME [--ttl D] [--class C] -- COMMAND ARGS...: run the command only while this host holds the
 * fleet-wide lock, renewing it every third of its TTL; 75 (EX_TEMPFAIL) when someone else holds it */
static int cmd_lock(const char *target, int argc, char **argv)
{
    const char *ttl = "10m", *cls = "task-lock";
    uint64_t ttl_ms;
    const char *why;
    char *reply;
    size_t n;
    int a = 2, status;

    if (argc < 2)
        fail("usage: lock NAME [--ttl DURATION] [--class CLASS] -- COMMAND [ARGS...]");
    for (; a < argc && strcmp(argv[a], "--"); a++) {
        if (!strcmp(argv[a], "--ttl") && a + 1 < argc)
            ttl = argv[++a];
        else if (!strcmp(argv[a], "--class") && a + 1 < argc)
            cls = argv[++a];
        else
            fail("lock: unknown option %s (--ttl, --class, then -- COMMAND)", argv[a]);
    }
    if (a + 1 >= argc)
        fail("usage: lock NAME [--ttl DURATION] [--class CLASS] -- COMMAND [ARGS...]");
    if (num_parse_duration(ttl, 100, 366ULL * 86400 * 1000, &ttl_ms, &why) < 0)
        fail("--ttl %s: %s", ttl, why);
    field *f = kv_ask(target, "lock", cls, argv[1], NULL, ttl, &reply, &n);
    const char *locked = field_value(f, n, "locked"), *tok = field_value(f, n, "token");
    if (!locked || strcmp(locked, "yes") || !tok) {
        fprintf(stderr, "floodgatectl: lock %s is held elsewhere\n", argv[1]);
        free(f);
        free(reply);
        return 75; /* EX_TEMPFAIL: cron tries again next time */
    }
    char token[128];
    snprintf(token, sizeof token, "%s", tok);
    free(f);
    free(reply);

    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        execvp(argv[a + 1], argv + a + 1);
        fprintf(stderr, "floodgatectl: %s: %s\n", argv[a + 1], strerror(errno));
        _exit(127);
    }
    lock_child = pid;
    signal(SIGTERM, forward);
    signal(SIGINT, forward);
    signal(SIGHUP, forward);
    /* renew every third of the TTL until the command ends; a lost renewal is said once */
    uint64_t every = ttl_ms / 3, waited = 0;
    int warned = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        poll(NULL, 0, every < 100 ? (int)every : 100);
        waited += every < 100 ? every : 100;
        if (waited < every)
            continue;
        waited = 0;
        f = kv_ask(target, "renew", cls, argv[1], token, ttl, &reply, &n);
        const char *renewed = field_value(f, n, "renewed");
        if ((!renewed || strcmp(renewed, "yes")) && !warned++)
            fprintf(stderr, "floodgatectl: lock %s was lost (expired or taken): the command goes on alone\n",
                    argv[1]);
        free(f);
        free(reply);
    }
    f = kv_ask(target, "unlock", cls, argv[1], token, NULL, &reply, &n);
    free(f);
    free(reply);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* cmd_bans_format - bans --format nft|ipset|plain|json: the text of the format, exactly, or exit 2 when cut */
static int cmd_bans_format(const char *target, const char *fmt)
{
    char *req = NULL, line[128], *reply;
    size_t len = 0, reply_len, n, lines = 0;

    if (strchr(fmt, '\n'))
        return 2;
    append(&req, &len, "command=bans");
    snprintf(line, sizeof line, "format=%.64s", fmt);
    append(&req, &len, line);
    append(&req, &len, "");
    reply = exchange(target, req, len, &reply_len);
    free(req);
    field *f = parse_reply(reply, reply_len, &n);
    const char *status = field_value(f, n, "status"), *count = field_value(f, n, "count");
    if (!status || strcmp(status, "ok")) {
        const char *msg = field_value(f, n, "message");
        fprintf(stderr, "floodgatectl: %s\n", msg ? msg : "the daemon refused the command");
        free(f);
        free(reply);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (f[i].array && !strcmp(f[i].name, "line"))
            lines++;
    if (!count || strtoull(count, NULL, 10) != lines)
        fail("the reply holds %zu lines of %s: it was cut", lines, count ? count : "?");
    for (size_t i = 0; i < n; i++)
        if (f[i].array && !strcmp(f[i].name, "line"))
            printf("%s\n", f[i].value);
    free(f);
    free(reply);
    if (fflush(stdout) != 0 || ferror(stdout))
        fail("cannot write the output: %s", strerror(errno ? errno : EIO));
    return 0;
}

/* cmd_bans_follow - bans --follow [--json]: the current bans, then every event as the daemon pushes it,
 * until the daemon ends the stream (it stops, or dropped us for reading too slowly): exit 2 then */
static int cmd_bans_follow(const char *target, int json)
{
    const char *req = json ? "command=bans\nfollow=yes\njson=yes\n\n" : "command=bans\nfollow=yes\n\n";
    int fd = connect_to(target);
    char buf[65536];
    size_t got = 0;
    int header = 1;

    if (fd < 0)
        fail("cannot connect to %s: %s", target, strerror(errno));
    for (size_t off = 0, len = strlen(req); off < len;) {
        ssize_t w = write(fd, req + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("write to %s: %s", target, strerror(errno));
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fail("read from %s: %s", target, strerror(errno));
        if (r == 0)
            fail("%s ended the stream", target);
        got += (size_t)r;
        buf[got] = '\0';
        if (header) {
            /* the framed reply first: status=ok and its empty line, or an error */
            char *end = strstr(buf, "\n\n");
            if (!end) {
                if (got == sizeof buf - 1)
                    fail("the reply of %s has no end", target);
                continue;
            }
            if (strncmp(buf, "status=ok\n", 10)) {
                char *msg = strstr(buf, "message=");
                fprintf(stderr, "floodgatectl: %.*s\n", msg ? (int)strcspn(msg + 8, "\n") : 30,
                        msg ? msg + 8 : "the daemon refused the command");
                return 1;
            }
            header = 0;
            end += 2;
            got -= (size_t)(end - buf);
            memmove(buf, end, got);
        }
        if (got && (fwrite(buf, 1, got, stdout) != got || fflush(stdout) != 0))
            fail("cannot write the output: %s", strerror(errno ? errno : EIO));
        got = 0;
    }
}

/* cmd_bans - the published forms of bans; the table (or --json: the JSON form) otherwise */
static int cmd_bans(const char *target, int argc, char **argv, int json)
{
    const char *fmt = NULL;
    int follow = 0;

    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--format") && a + 1 < argc)
            fmt = argv[++a];
        else if (!strcmp(argv[a], "--follow"))
            follow = 1;
        else if (!strcmp(argv[a], "--json") || !strcmp(argv[a], "-j"))
            json = 1;
        else
            fail("usage: bans [--format nft|ipset|plain|json] [--follow [--json]]");
    }
    if (follow)
        return cmd_bans_follow(target, json);
    return cmd_bans_format(target, fmt ? fmt : json ? "json" : "table");
}

/* cmd_ban - ban ADDR|NET [DURATION] [--reason TEXT]: the reason may hold spaces, so it goes as a field */
static int cmd_ban(const char *target, int argc, char **argv, int json)
{
    char *req = NULL, *reply, line[1100];
    size_t len = 0, reply_len, n;
    int pos = 1, rc;

    append(&req, &len, "command=ban");
    for (int a = 1; a < argc; a++) {
        if (strchr(argv[a], '\n'))
            fail("an argument holds a newline");
        if (!strcmp(argv[a], "--reason") && a + 1 < argc)
            snprintf(line, sizeof line, "reason=%.1000s", argv[++a]);
        else if (pos == 1)
            snprintf(line, sizeof line, "arg%d=%.1000s", pos++, argv[a]);
        else if (pos == 2 && argv[a][0] != '-')
            snprintf(line, sizeof line, "duration=%.64s", argv[a]), pos++;
        else
            fail("usage: ban ADDR|NET [DURATION|forever] [--reason TEXT]");
        append(&req, &len, line);
    }
    if (pos == 1)
        fail("usage: ban ADDR|NET [DURATION|forever] [--reason TEXT]");
    append(&req, &len, "");
    reply = exchange(target, req, len, &reply_len);
    field *f = parse_reply(reply, reply_len, &n);
    rc = print_reply(f, n, json);
    free(f);
    free(req);
    free(reply);
    if (fflush(stdout) != 0 || ferror(stdout))
        fail("cannot write the output: %s", strerror(errno ? errno : EIO));
    return rc;
}

/* usage - how to call: on stdout with status 0 when asked for (help), else on stderr with status 2 */
static int usage(int asked)
{
    fprintf(asked ? stdout : stderr, "usage: floodgatectl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
                    "  check KIND[:SUB] NAME=VALUE...   send one policy query, print the reply\n"
                    "  explain KIND[:SUB] NAME=VALUE... the same query counted nowhere: every rule, whether it\n"
                    "                                   applies and why, its counter, which rule decides\n"
                    "  stats                            daemon, store and rule counters\n"
                    "  reload                           load the rules again\n"
                    "  version                          the daemon's version\n"
                    "  lists                            the lookup lists and their sizes\n"
                    "  list NAME show|add ENTRY...|del ENTRY   show or edit a lookup list (saved to its file)\n"
                    "  watches                          the log watches: file or unit, lines read and matched\n"
                    "  kv get|set|del|incr CLASS KEY [VALUE|BY] [--ttl D] [--nx]   the store's other tenants\n"
                    "  lock NAME [--ttl D] -- COMMAND...   run COMMAND only while this host holds the fleet-wide\n"
                    "                                   lock (exit 75 when another holds it)\n"
                    "  seen CLASS KEY [--ttl D]         exit 0 when KEY is new (and remember it), 1 when seen\n"
                    "  ban ADDR|NET [DURATION] [--reason TEXT]   ban an address or network (DURATION: 90m, 1h, 7d,\n"
                    "                                   forever; default " "1h" "); trusted addresses are refused\n"
                    "  unban ADDR|NET                   lift a ban (exit 1: not banned); holds from the next request\n"
                    "  bans [--json]                    the current bans: key, reason, rule, since, expires, times\n"
                    "  bans --format nft|ipset|plain|json   the current bans for a firewall (nft -f, ipset restore)\n"
                    "  bans --follow [--json]           the current bans, then each ban, unban and expiry as it happens\n"
                    "  counter RULE VALUE...            a limit's counter (VALUE: the key's attributes, or NAME=VALUE)\n"
                    "  reset RULE VALUE...              forget that counter\n"
                    "  debug clock +S                   tests: the daemon's clocks S seconds on (FLOODGATE_TEST_CLOCK=1)\n"
                    "  help                             this text\n"
                    "Exit status: 0 ok, 1 the daemon answered an error, 2 unreachable, bad usage or a cut reply\n"
                    "SOCKET: unix:PATH, tcp:HOST:PORT or a path (default $FLOODGATE_CONTROL or " DEFAULT_SOCKET ")\n");
    return asked ? 0 : 2;
}

int main(int argc, char **argv)
{
    const char *target = getenv("FLOODGATE_CONTROL") ? getenv("FLOODGATE_CONTROL") : DEFAULT_SOCKET;
    int json = 0, i = 1, rc;
    char *req = NULL, *reply;
    size_t len = 0, reply_len, nfields;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            target = argv[++i];
        else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
            json = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return usage(1);
        else
            return usage(0);
    }
    if (i >= argc)
        return usage(0);
    if (!strcmp(argv[i], "help"))
        return usage(1);
    if (!strcmp(argv[i], "lock"))
        return cmd_lock(target, argc - i, argv + i);
    if (!strcmp(argv[i], "seen"))
        return cmd_seen(target, argc - i, argv + i);
    if (!strcmp(argv[i], "bans"))
        return cmd_bans(target, argc - i, argv + i, json);
    if (!strcmp(argv[i], "ban"))
        return cmd_ban(target, argc - i, argv + i, json);
    if (!strcmp(argv[i], "check") || !strcmp(argv[i], "explain")) {
        if (i + 1 >= argc)
            return usage(0);
        /* explain: the same query, evaluated and counted nowhere */
        req = build_check(argc - i - 1, argv + i + 1, &len, argv[i][0] == 'e' ? "command=explain" : NULL);
    } else {
        char line[1024];
        snprintf(line, sizeof line, "command=%s", argv[i]);
        append(&req, &len, line);
        for (int a = i + 1, pos = 1; a < argc; a++) {
            if (strchr(argv[a], '\n'))
                return usage(0);
            if (!strcmp(argv[a], "--ttl") && a + 1 < argc) /* kv options become named attributes */
                snprintf(line, sizeof line, "ttl=%.64s", argv[++a]);
            else if (!strcmp(argv[a], "--nx"))
                snprintf(line, sizeof line, "nx=yes");
            else
                snprintf(line, sizeof line, "arg%d=%s", pos++, argv[a]);
            append(&req, &len, line);
        }
        append(&req, &len, "");
    }
    reply = exchange(target, req, len, &reply_len);
    field *f = parse_reply(reply, reply_len, &nfields);
    if (!strcmp(argv[i], "list") && i + 2 < argc && !strcmp(argv[i + 2], "show"))
        check_list_show(f, nfields);
    rc = print_reply(f, nfields, json);
    free(f);
    free(req);
    free(reply);
    /* a full disk or a closed pipe must not pass for a complete listing */
    if (fflush(stdout) != 0 || ferror(stdout))
        fail("cannot write the output: %s", strerror(errno ? errno : EIO));
    return rc;
}
