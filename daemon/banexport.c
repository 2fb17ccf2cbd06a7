/*
 * banexport - the current bans in the forms a firewall reads (see banexport.h)
 */
#include "banexport.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static const char *const format_names[] = {"nft", "ipset", "plain", "json"};

/* banexport_parse_format - name to enum */
int banexport_parse_format(const char *name)
{
    for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
        if (name && !strcmp(name, format_names[i]))
            return i;
    return -1;
}

/* banexport_format_name - enum to name */
const char *banexport_format_name(int fmt)
{
    return fmt >= 0 && fmt < (int)(sizeof format_names / sizeof *format_names) ? format_names[fmt] : "?";
}

/* banexport_network - "addr" for a single address, "net/prefix" otherwise (a username ban: the name) */
void banexport_network(const banexport_rec *r, char *out, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    unsigned bits = r->family == 4 ? 32 : 128;

    if (r->family != 4 && r->family != 6) {
        snprintf(out, size, "%s", r->name ? r->name : "");
        return;
    }
    if (!inet_ntop(r->family == 4 ? AF_INET : AF_INET6, r->bytes, a, sizeof a))
        a[0] = '\0';
    if (r->prefix >= bits)
        snprintf(out, size, "%s", a);
    else
        snprintf(out, size, "%s/%u", a, r->prefix);
}

/* live - an address or network still in force at now? (users: also username bans, for JSON) */
static int live(const banexport_rec *r, uint64_t now, int users)
{
    int fam_ok = r->family == 4 || r->family == 6 || (users && r->family == 0 && r->name);
    return fam_ok && (r->expires == 0 || r->expires > now);
}

/* remaining - seconds left, 0 for ever */
static uint64_t remaining(const banexport_rec *r, uint64_t now)
{
    return r->expires ? r->expires - now : 0;
}

/* contains - is network b inside network a (same family, a's prefix no longer than b's)? */
static int contains(const banexport_rec *a, const banexport_rec *b)
{
    unsigned p = a->prefix, full = p / 8, rest = p % 8;

    if (a->family != b->family || a->prefix > b->prefix)
        return 0;
    if (memcmp(a->bytes, b->bytes, full))
        return 0;
    return !rest || ((a->bytes[full] ^ b->bytes[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* by_network - order by family, address, then shorter prefix first (an outer network before its inner ones) */
static int by_network(const void *x, const void *y)
{
    const banexport_rec *a = *(const banexport_rec *const *)x, *b = *(const banexport_rec *const *)y;
    int c;

    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->family == 0)
        return strcmp(a->name, b->name);
    if ((c = memcmp(a->bytes, b->bytes, 16)))
        return c;
    return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

/* sorted_live - the live records, sorted, each inner network that an earlier one covers dropped when
 * drop_inner, username bans kept only when users; returns how many (the array is the caller's to free) */
static size_t sorted_live(const banexport_rec *recs, size_t n, uint64_t now, int drop_inner, int users,
                          const banexport_rec ***outp)
{
    const banexport_rec **v = fg_malloc((n ? n : 1) * sizeof *v);
    size_t m = 0, k = 0;

    for (size_t i = 0; i < n; i++)
        if (live(&recs[i], now, users))
            v[m++] = &recs[i];
    qsort(v, m, sizeof *v, by_network);
    /* sorted by address then prefix, a covering network comes right before what it covers, and what it
     * covers is contiguous: compare with the last kept one */
    for (size_t i = 0; i < m; i++) {
        if (drop_inner && k && contains(v[k - 1], v[i]))
            continue;
        v[k++] = v[i];
    }
    *outp = v;
    return k;
}

/* write_nft - the nft script */
static void write_nft(const banexport_rec *recs, size_t n, uint64_t now, struct evbuffer *out)
{
    const banexport_rec **v;
    size_t m = sorted_live(recs, n, now, 1, 0, &v);
    char net[64];

    evbuffer_add_printf(out,
                        "#!/usr/sbin/nft -f\n"
                        "# floodgate bans (%zu), written by floodgated: load with nft -f; loading again replaces "
                        "the sets' content\n"
                        "table inet floodgate {\n"
                        "\tset banned_v4 { type ipv4_addr; flags interval, timeout; }\n"
                        "\tset banned_v6 { type ipv6_addr; flags interval, timeout; }\n"
                        "\tchain input { type filter hook input priority filter - 10; policy accept; }\n"
                        "}\n"
                        "flush chain inet floodgate input\n"
                        "add rule inet floodgate input ip saddr @banned_v4 drop\n"
                        "add rule inet floodgate input ip6 saddr @banned_v6 drop\n"
                        "flush set inet floodgate banned_v4\n"
                        "flush set inet floodgate banned_v6\n",
                        m);
    for (int fam = 4; fam <= 6; fam += 2) {
        size_t in_stmt = 0;
        for (size_t i = 0; i < m; i++) {
            if (v[i]->family != fam)
                continue;
            if (!in_stmt)
                evbuffer_add_printf(out, "add element inet floodgate banned_v%d {\n", fam);
            else
                evbuffer_add(out, ",\n", 2);
            banexport_network(v[i], net, sizeof net);
            if (v[i]->expires) {
                /* nft refuses a number of 10^8 or more in one unit ("value too large"): days, then seconds */
                unsigned long long t = remaining(v[i], now);
                if (t < 100000000ULL)
                    evbuffer_add_printf(out, "\t%s timeout %llus", net, t);
                else
                    evbuffer_add_printf(out, "\t%s timeout %llud%llus", net, t / 86400, t % 86400);
            }
            else
                evbuffer_add_printf(out, "\t%s", net);
            if (++in_stmt == BANEXPORT_NFT_CHUNK) {
                evbuffer_add(out, "\n}\n", 3);
                in_stmt = 0;
            }
        }
        if (in_stmt)
            evbuffer_add(out, "\n}\n", 3);
    }
    fg_free(v);
}

/* write_ipset - input for ipset restore */
static void write_ipset(const banexport_rec *recs, size_t n, uint64_t now, struct evbuffer *out)
{
    const banexport_rec **v;
    size_t m = sorted_live(recs, n, now, 0, 0, &v);
    char net[64];

    evbuffer_add_printf(out, "create floodgate_v4 hash:net family inet timeout 0 maxelem 1048576 -exist\n"
                             "create floodgate_v6 hash:net family inet6 timeout 0 maxelem 1048576 -exist\n"
                             "flush floodgate_v4\n"
                             "flush floodgate_v6\n");
    for (size_t i = 0; i < m; i++) {
        uint64_t t = remaining(v[i], now);
        if (v[i]->prefix == 0)
            continue; /* hash:net refuses /0 */
        if (t > BANEXPORT_IPSET_TIMEOUT_MAX)
            t = BANEXPORT_IPSET_TIMEOUT_MAX;
        banexport_network(v[i], net, sizeof net);
        evbuffer_add_printf(out, "add floodgate_v%d %s timeout %llu -exist\n", v[i]->family, net,
                            (unsigned long long)t);
    }
    fg_free(v);
}

/* write_plain - one network per line */
static void write_plain(const banexport_rec *recs, size_t n, uint64_t now, struct evbuffer *out)
{
    const banexport_rec **v;
    size_t m = sorted_live(recs, n, now, 0, 0, &v);
    char net[64];

    for (size_t i = 0; i < m; i++) {
        banexport_network(v[i], net, sizeof net);
        evbuffer_add_printf(out, "%s\n", net);
    }
    fg_free(v);
}

/* utf8_len - the length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one (a stray or
 * missing continuation byte, an overlong form, a surrogate, past U+10FFFF) */
static size_t utf8_len(const unsigned char *p)
{
    size_t n;
    uint32_t c;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, c = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, c = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, c = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* a NUL ends the string here too */
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    return n;
}

/* json_string - a JSON string literal; quotes, backslashes and control bytes escaped, a byte that is not
 * part of valid UTF-8 written as U+FFFD (a reason cut by someone else, a hostile name: the JSON stays valid) */
static void json_string(struct evbuffer *out, const char *s)
{
    evbuffer_add(out, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
        size_t n = utf8_len(p);
        if (*p == '"' || *p == '\\')
            evbuffer_add_printf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            evbuffer_add_printf(out, "\\u%04x", *p);
        else if (n == 0)
            evbuffer_add(out, "\\ufffd", 6);
        else
            evbuffer_add(out, p, n);
        p += n ? n : 1;
    }
    evbuffer_add(out, "\"", 1);
}

/* json_object - one ban as a JSON object (no newline) */
static void json_object(const banexport_rec *r, uint64_t now, const char *event, struct evbuffer *out)
{
    char net[64];

    evbuffer_add(out, "{", 1);
    if (event)
        evbuffer_add_printf(out, "\"event\":\"%s\",", event);
    if (r->family == 0) {
        evbuffer_add(out, "\"username\":", 11);
        json_string(out, r->name);
    } else {
        banexport_network(r, net, sizeof net);
        evbuffer_add_printf(out, "\"network\":\"%s\"", net);
    }
    evbuffer_add(out, ",\"reason\":", 10);
    json_string(out, r->reason);
    evbuffer_add(out, ",\"rule\":", 8);
    json_string(out, r->rule);
    evbuffer_add_printf(out, ",\"since\":%llu,\"expires\":%llu,\"remaining\":%llu,\"times\":%u}",
                        (unsigned long long)r->since, (unsigned long long)r->expires,
                        (unsigned long long)(r->expires > now ? r->expires - now : 0), r->times);
}

/* write_json - an array of objects */
static void write_json(const banexport_rec *recs, size_t n, uint64_t now, struct evbuffer *out)
{
    const banexport_rec **v;
    size_t m = sorted_live(recs, n, now, 0, 1, &v);

    evbuffer_add(out, "[", 1);
    for (size_t i = 0; i < m; i++) {
        evbuffer_add(out, i ? ",\n" : "\n", i ? 2 : 1);
        json_object(v[i], now, NULL, out);
    }
    evbuffer_add(out, m ? "\n]\n" : "]\n", m ? 3 : 2);
    fg_free(v);
}

/* banexport_write - the records in one format */
void banexport_write(int fmt, const banexport_rec *recs, size_t n, uint64_t now, struct evbuffer *out)
{
    switch (fmt) {
    case BANEXPORT_NFT: write_nft(recs, n, now, out); break;
    case BANEXPORT_IPSET: write_ipset(recs, n, now, out); break;
    case BANEXPORT_PLAIN: write_plain(recs, n, now, out); break;
    default: write_json(recs, n, now, out); break;
    }
}

/* banexport_event - one --follow line:
 *   ban 192.0.2.1 expires=1796000000 duration=3600 times=2 rule="ssh" reason="too many failures"
 *   unban 192.0.2.1
 *   expire 192.0.2.1
 * or the same as a JSON object with "event" first */
void banexport_event(int ev, const banexport_rec *r, uint64_t now, int json, struct evbuffer *out)
{
    const char *name = ev == BANEXPORT_BAN ? "ban" : ev == BANEXPORT_UNBAN ? "unban" : "expire";
    char net[64];

    if (json) {
        json_object(r, now, name, out);
        evbuffer_add(out, "\n", 1);
        return;
    }
    if (r->family != 4 && r->family != 6)
        return; /* a username ban: JSON followers only */
    banexport_network(r, net, sizeof net);
    if (ev != BANEXPORT_BAN) {
        evbuffer_add_printf(out, "%s %s\n", name, net);
        return;
    }
    evbuffer_add_printf(out, "ban %s expires=%llu duration=", net, (unsigned long long)r->expires);
    if (r->expires)
        evbuffer_add_printf(out, "%llu", (unsigned long long)(r->expires > now ? r->expires - now : 0));
    else
        evbuffer_add(out, "forever", 7);
    evbuffer_add_printf(out, " times=%u rule=", r->times);
    /* the JSON escaping keeps a reason on its line and inside its quotes */
    json_string(out, r->rule);
    evbuffer_add(out, " reason=", 8);
    json_string(out, r->reason);
    evbuffer_add(out, "\n", 1);
}
