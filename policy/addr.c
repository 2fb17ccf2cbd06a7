/*
 * addr - IPv4 and IPv6 addresses and networks (see addr.h)
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "num.h"

/* addr_parse - text to address */
int addr_parse(const char *s, size_t len, fg_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(out, 0, sizeof *out);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len > 5 && !strncasecmp(s, "IPv6:", 5)) {
        s += 5;
        len -= 5;
    }
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (memchr(buf, ':', len)) {
        if (inet_pton(AF_INET6, buf, out->bytes) != 1)
            return -1;
        if (!memcmp(out->bytes, mapped, 12)) {
            memmove(out->bytes, out->bytes + 12, 4);
            memset(out->bytes + 4, 0, 12);
            out->family = 4;
        } else {
            out->family = 6;
        }
        return 0;
    }
    if (inet_pton(AF_INET, buf, out->bytes) != 1)
        return -1;
    out->family = 4;
    return 0;
}

/* addr_mask - keep the first prefix bits */
void addr_mask(fg_addr *a, unsigned prefix)
{
    unsigned bits = addr_bits(a);

    if (prefix >= bits)
        return;
    a->bytes[prefix / 8] &= (uint8_t)(0xff00 >> (prefix % 8));
    for (unsigned i = prefix / 8 + 1; i < 16; i++)
        a->bytes[i] = 0;
}

/* cidr_parse - network or bare address */
int cidr_parse(const char *s, fg_cidr *out, const char **why)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    uint64_t prefix;

    if (addr_parse(s, alen, &out->net) < 0) {
        *why = "not an IP address";
        return -1;
    }
    prefix = addr_bits(&out->net);
    if (slash && num_parse_u64(slash + 1, strlen(slash + 1), 0, addr_bits(&out->net), &prefix, why) < 0) {
        *why = "bad prefix length";
        return -1;
    }
    out->prefix = (uint8_t)prefix;
    addr_mask(&out->net, out->prefix);
    return 0;
}

/* cidr_match - is a inside the network? */
int cidr_match(const fg_cidr *c, const fg_addr *a)
{
    fg_addr m;

    if (a->family != c->net.family)
        return 0;
    m = *a;
    addr_mask(&m, c->prefix);
    return !memcmp(m.bytes, c->net.bytes, 16);
}

/* addr_format - text form */
void addr_format(const fg_addr *a, char *out, size_t size)
{
    if (!a->family || !inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, (socklen_t)size))
        snprintf(out, size, "?");
}
