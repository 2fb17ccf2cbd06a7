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
 *     Human-readable output by default, --json for scripts.
 *
 * DIAGNOSTICS
 *     Exit 0 on success, 1 when the daemon answered status=error, 2 when
 *     it could not be reached or the command line is wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netdb.h>

#define DEFAULT_SOCKET "/run/floodgate/control.sock"
#define REPLY_MAX (1024 * 1024)

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

/* exchange - send a request, read the reply up to its empty line */
static char *exchange(const char *target, const char *req, size_t len)
{
    int fd = connect_to(target);
    char *buf;
    size_t got = 0;

    if (fd < 0) {
        fprintf(stderr, "floodgatectl: cannot connect to %s: %s\n", target, strerror(errno));
        exit(2);
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, req + off, len - off);
        if (n <= 0) {
            fprintf(stderr, "floodgatectl: write: %s\n", strerror(errno));
            exit(2);
        }
        off += (size_t)n;
    }
    buf = malloc(REPLY_MAX + 1);
    if (!buf)
        exit(2);
    while (got < REPLY_MAX) {
        ssize_t n = read(fd, buf + got, REPLY_MAX - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if ((got >= 2 && !strcmp(buf + got - 2, "\n\n")) || (got == 1 && buf[0] == '\n'))
            break;
    }
    close(fd);
    buf[got] = '\0';
    if (got < 2 || strcmp(buf + got - 2, "\n\n")) {
        fprintf(stderr, "floodgatectl: %s closed the connection without a complete reply\n", target);
        exit(2);
    }
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

/* print_reply - name=value lines as a table or a JSON object ("name[]" lines make an array); returns the exit code */
static int print_reply(char *reply, int json)
{
    char *names[4096], *values[4096], *save = NULL;
    int n = 0, rc = strncmp(reply, "status=error\n", 13) == 0;
    size_t width = 0;

    for (char *line = strtok_r(reply, "\n", &save); line && n < 4096; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        names[n] = line;
        values[n++] = eq + 1;
        size_t w = strlen(line);
        if (w > 2 && !strcmp(line + w - 2, "[]"))
            w -= 2;
        if (w > width)
            width = w;
    }
    if (!json) {
        for (int i = 0; i < n; i++) {
            size_t w = strlen(names[i]);
            if (w > 2 && !strcmp(names[i] + w - 2, "[]"))
                w -= 2;
            printf("%-*.*s  %s\n", (int)width, (int)w, names[i], values[i]);
        }
        return rc;
    }
    putchar('{');
    for (int i = 0, first = 1; i < n; i++) {
        size_t w = strlen(names[i]);
        int array = w > 2 && !strcmp(names[i] + w - 2, "[]"), seen = 0;
        if (array) {
            for (int j = 0; j < i && !seen; j++)
                seen = !strcmp(names[j], names[i]);
            if (seen)
                continue;
            w -= 2;
        }
        printf("%s", first ? "" : ",");
        first = 0;
        json_str(names[i], w);
        putchar(':');
        if (!array) {
            json_value(values[i]);
            continue;
        }
        putchar('[');
        for (int j = i, k = 0; j < n; j++)
            if (!strcmp(names[j], names[i])) {
                printf("%s", k++ ? "," : "");
                json_str(values[j], strlen(values[j]));
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

/* build_check - a policy request from KIND[:SUB] and NAME=VALUE arguments */
static char *build_check(int argc, char **argv, size_t *len)
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

/* usage - how to call */
static int usage(void)
{
    fprintf(stderr, "usage: floodgatectl [-s SOCKET] [--json] COMMAND [ARGS...]\n"
                    "  check KIND[:SUB] NAME=VALUE...   send one policy query, print the reply\n"
                    "  stats                            daemon, store and rule counters\n"
                    "  reload                           load the rules again\n"
                    "  version                          the daemon's version\n"
                    "  lists                            the lookup lists and their sizes\n"
                    "  list NAME show|add ENTRY...|del ENTRY   show or edit a lookup list (saved to its file)\n"
                    "  watches                          the log watches: file or unit, lines read and matched\n"
                    "  counter RULE VALUE...            a limit's counter (VALUE: the key's attributes, or NAME=VALUE)\n"
                    "  reset RULE VALUE...              forget that counter\n"
                    "SOCKET: unix:PATH, tcp:HOST:PORT or a path (default $FLOODGATE_CONTROL or " DEFAULT_SOCKET ")\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *target = getenv("FLOODGATE_CONTROL") ? getenv("FLOODGATE_CONTROL") : DEFAULT_SOCKET;
    int json = 0, i = 1, rc;
    char *req = NULL, *reply;
    size_t len = 0;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            target = argv[++i];
        else if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
            json = 1;
        else
            return usage();
    }
    if (i >= argc)
        return usage();
    if (!strcmp(argv[i], "check")) {
        if (i + 1 >= argc)
            return usage();
        req = build_check(argc - i - 1, argv + i + 1, &len);
    } else {
        char line[1024];
        snprintf(line, sizeof line, "command=%s", argv[i]);
        append(&req, &len, line);
        for (int a = i + 1; a < argc; a++) {
            if (strchr(argv[a], '\n'))
                return usage();
            snprintf(line, sizeof line, "arg%d=%s", a - i, argv[a]);
            append(&req, &len, line);
        }
        append(&req, &len, "");
    }
    reply = exchange(target, req, len);
    rc = print_reply(reply, json);
    free(req);
    free(reply);
    return rc;
}
