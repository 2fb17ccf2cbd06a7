/*
 * rconn_url - the URLs of Redis servers (see rconn.h)
 *
 *     redis://[user:password@]host[:port][/db]    port 6379, db 0; [v6] in brackets
 *     unix:/path[?db=N]
 *     unix://[user:password@]/path[?db=N]         unix:///path is unix:/path
 *
 * The user part is "user:password" or "password" alone (AUTH with the
 * default user); the first colon splits it. It ends at the last @ before
 * the path (redis://) or at the last "@/" (unix://), so that a password may
 * hold @ and : (not / after redis://, not @/ after unix://). No percent
 * decoding. rediss:// is refused: Debian's hiredis 0.14 has no TLS.
 *
 * SECURITY
 *     A URL comes from the configuration. Every field is copied with a
 *     bound, a number is read by num_parse_u64 with its range; a field too
 *     long is an error. The message of a URL that does not parse names it
 *     with its password written ***, since it goes to the log and to
 *     floodgated -t's output.
 */
#include "rconn.h"

#include <stdio.h>
#include <string.h>

#include "num.h"

/* copy_field - bounded copy of n bytes; -1 if too long */
static int copy_field(char *dst, size_t size, const char *src, size_t n)
{
    if (n >= size)
        return -1;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

/* userinfo - "user:password" or "password" (the first colon splits: a password may hold one) in [p, at); -1 if too
 * long */
static int userinfo(const char *p, const char *at, rconn_url *out)
{
    const char *colon = memchr(p, ':', (size_t)(at - p));

    if (!colon)
        return copy_field(out->pass, sizeof out->pass, p, (size_t)(at - p));
    if (copy_field(out->user, sizeof out->user, p, (size_t)(colon - p)) < 0)
        return -1;
    return copy_field(out->pass, sizeof out->pass, colon + 1, (size_t)(at - colon - 1));
}

/* url_parse - redis://[user:password@]host[:port][/db], unix:/path[?db=N], unix://[user:password@]/path[?db=N];
 * 0, or -1 with the reason (not the URL) in err */
static int url_parse(const char *s, rconn_url *out, char *err, size_t errlen)
{
    const char *p, *at, *end, *hp;
    uint64_t v;
    const char *why;

    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!strncmp(s, "unix:", 5)) {
        p = s + 5;
        if (!strncmp(p, "//", 2)) {
            /* unix://[user:password@]/path: the user part ends at the last "@/", so that a password may hold an @ */
            p += 2;
            at = NULL;
            for (const char *x = p; *x; x++)
                if (x[0] == '@' && x[1] == '/')
                    at = x;
            if (at) {
                if (userinfo(p, at, out) < 0)
                    goto too_long;
                p = at + 1;
            }
        }
        const char *q = strchr(p, '?');
        if (copy_field(out->path, sizeof out->path, p, q ? (size_t)(q - p) : strlen(p)) < 0 || out->path[0] != '/') {
            snprintf(err, errlen, "expected unix:/absolute/path or unix://[user:password@]/absolute/path");
            return -1;
        }
        if (q) {
            if (strncmp(q, "?db=", 4) || num_parse_u64(q + 4, strlen(q + 4), 0, 1000000, &v, &why) < 0) {
                snprintf(err, errlen, "expected ?db=NUMBER after the path");
                return -1;
            }
            out->db = (unsigned)v;
        }
        return 0;
    }
    if (!strncmp(s, "rediss://", 9)) {
        snprintf(err, errlen, "TLS (rediss://) is not available: Debian's hiredis 0.14 has no TLS");
        return -1;
    }
    if (strncmp(s, "redis://", 8)) {
        snprintf(err, errlen, "expected redis://[user:password@]host:port/db or unix:/path");
        return -1;
    }
    p = s + 8;
    end = p + strcspn(p, "/");
    /* user:password@ - the last @ before the path, so that a password may hold an @ */
    at = NULL;
    for (const char *x = p; x < end; x++)
        if (*x == '@')
            at = x;
    if (at) {
        if (userinfo(p, at, out) < 0)
            goto too_long;
        p = at + 1;
    }
    /* host, [v6] or name, then :port */
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb || copy_field(out->host, sizeof out->host, p + 1, (size_t)(rb - p - 1)) < 0)
            goto bad_host;
        hp = rb + 1;
    } else {
        hp = memchr(p, ':', (size_t)(end - p));
        if (!hp)
            hp = end;
        if (copy_field(out->host, sizeof out->host, p, (size_t)(hp - p)) < 0)
            goto bad_host;
    }
    if (!out->host[0])
        goto bad_host;
    if (hp < end) {
        char port[8];
        if (*hp != ':' || copy_field(port, sizeof port, hp + 1, (size_t)(end - hp - 1)) < 0 ||
            num_parse_u64(port, strlen(port), 1, 65535, &v, &why) < 0) {
            snprintf(err, errlen, "the port must be a number from 1 to 65535");
            return -1;
        }
        out->port = (unsigned)v;
    }
    if (*end == '/' && end[1]) {
        if (num_parse_u64(end + 1, strlen(end + 1), 0, 1000000, &v, &why) < 0) {
            snprintf(err, errlen, "the database after / must be a number");
            return -1;
        }
        out->db = (unsigned)v;
    }
    return 0;
bad_host:
    snprintf(err, errlen, "expected a host after redis://");
    return -1;
too_long:
    snprintf(err, errlen, "user or password too long");
    return -1;
}


/* url_shown - the URL as it may be shown in a message: its password (after user: or alone) written *** */
static void url_shown(const char *s, char *buf, size_t size)
{
    const char *p = NULL, *at = NULL, *colon;

    if (!strncmp(s, "unix://", 7)) {
        p = s + 7;
        for (const char *x = p; *x; x++)
            if (x[0] == '@' && x[1] == '/')
                at = x;
    } else if (!strncmp(s, "redis://", 8) || !strncmp(s, "rediss://", 9)) {
        p = strstr(s, "//") + 2;
        for (const char *x = p; *x && *x != '/'; x++)
            if (*x == '@')
                at = x;
    }
    if (!at) {
        snprintf(buf, size, "%s", s);
        return;
    }
    colon = memchr(p, ':', (size_t)(at - p));
    snprintf(buf, size, "%.*s***%s", (int)((colon ? colon + 1 : p) - s), s, at);
}

/* rconn_url_parse - read a URL; a message names it without its password */
int rconn_url_parse(const char *s, rconn_url *out, char *err, size_t errlen)
{
    char why[160], shown[600];

    if (url_parse(s, out, why, sizeof why) == 0)
        return 0;
    url_shown(s, shown, sizeof shown);
    snprintf(err, errlen, "%s: %s", shown, why);
    return -1;
}
