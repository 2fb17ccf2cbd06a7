/*
 * addr - IPv4 and IPv6 addresses and networks
 *
 * Addresses are kept in binary, 16 bytes for both families; an IPv4-mapped
 * IPv6 address (::ffff:192.0.2.1) is read as the IPv4 address, so that one
 * client has one key whatever the socket family of the server that asks.
 */
#ifndef FG_ADDR_H
#define FG_ADDR_H

#include <stddef.h>
#include <stdint.h>

typedef struct fg_addr {
    uint8_t family;    /* 4 or 6; 0 = not an address */
    uint8_t bytes[16]; /* network order; IPv4 in the first 4 */
} fg_addr;

typedef struct fg_cidr {
    fg_addr net;    /* masked network */
    uint8_t prefix; /* bits */
} fg_cidr;

/* addr_parse - text to address (brackets and an IPv6: tag are accepted); 0 ok, -1 not an address */
int addr_parse(const char *s, size_t len, fg_addr *out);
/* addr_mask - keep the first prefix bits */
void addr_mask(fg_addr *a, unsigned prefix);
/* addr_bits - 32 or 128 */
static inline unsigned addr_bits(const fg_addr *a)
{
    return a->family == 4 ? 32 : 128;
}
/* cidr_parse - "10.0.0.0/8", "2001:db8::/32" or a bare address; 0 ok, -1 with *why */
int cidr_parse(const char *s, fg_cidr *out, const char **why);
/* cidr_match - is a inside the network? */
int cidr_match(const fg_cidr *c, const fg_addr *a);
/* addr_format - text form */
void addr_format(const fg_addr *a, char *out, size_t size);

#endif
