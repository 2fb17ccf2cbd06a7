/*
 * trusted - the networks that are never banned and never greylisted (see trusted.h)
 *
 * The alternatives are kept as a cond (COND_CIDR and COND_LIST alternatives on client_address), so that
 * the rule set frees them as any other condition, and a greylist rule's own `trusted` is the same shape.
 *
 * SECURITY: the address checked comes from a client; a check costs one compare per network written and
 * one lookup per list (list.h: hashed, longest prefix), nothing that grows with what clients send.
 */
#include "trusted.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "conf_errors.h"
#include "request.h"

/* is_loopback - 127.0.0.0/8 or ::1 */
static int is_loopback(const fg_addr *a)
{
    static const uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    return (a->family == 4 && a->bytes[0] == 127) || (a->family == 6 && !memcmp(a->bytes, one, 16));
}

/* add_one - one alternative: "ADDR", "NET/LEN" or "@list" */
static int add_one(config_setting_t *e, const listset *lists, cond *t, conf_errors *errs)
{
    const char *v = config_setting_get_string(e), *why = NULL;
    cond_alt alt;

    memset(&alt, 0, sizeof alt);
    if (!v) {
        conf_error_at(errs, e, "trusted: expected an address, a network or \"@list\"");
        return -1;
    }
    if (v[0] == '@') {
        alt.list = listset_find(lists, v + 1);
        if (!alt.list) {
            conf_error_at(errs, e, "trusted: no list named \"%s\" in lists", v + 1);
            return -1;
        }
        alt.kind = COND_LIST;
    } else if (cidr_parse(v, &alt.cidr, &why) == 0) {
        alt.kind = COND_CIDR;
    } else {
        conf_error_at(errs, e, "trusted: %s: \"%s\" (an address, a network or \"@list\")", why, v);
        return -1;
    }
    alt.text = fg_strdup(v);
    alt.len = strlen(v);
    t->alts = fg_realloc(t->alts, (t->nalts + 1) * sizeof *t->alts);
    t->alts[t->nalts++] = alt;
    return 0;
}

/* trusted_parse - add a setting's alternatives */
int trusted_parse(config_setting_t *s, const listset *lists, cond *t, conf_errors *errs)
{
    int type = config_setting_type(s), ok = 0;

    t->attr = ATTR_CLIENT_ADDRESS;
    if (type == CONFIG_TYPE_STRING)
        return add_one(s, lists, t, errs);
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
        conf_error_at(errs, s, "trusted: expected a list of addresses, networks and \"@list\" names");
        return -1;
    }
    for (int i = 0; i < config_setting_length(s); i++)
        ok |= add_one(config_setting_get_elem(s, i), lists, t, errs);
    return ok;
}

/* trusted_addr - loopback, or in a network or list of t */
int trusted_addr(const cond *t, const fg_addr *a)
{
    char text[64];
    int formatted = 0;

    if (!a || !a->family)
        return 0;
    if (is_loopback(a))
        return 1;
    for (unsigned i = 0; t && i < t->nalts; i++) {
        const cond_alt *alt = &t->alts[i];
        if (alt->kind == COND_CIDR && cidr_match(&alt->cidr, a))
            return 1;
        if (alt->kind == COND_LIST) {
            if (!formatted) {
                addr_format(a, text, sizeof text);
                formatted = 1;
            }
            if (list_lookup(alt->list, text, strlen(text), a))
                return 1;
        }
    }
    return 0;
}

/* overlap - do the networks (a, pa) and (b, pb) share an address? (one holds the other) */
static int overlap(const fg_addr *a, unsigned pa, const fg_addr *b, unsigned pb)
{
    fg_addr x = *a, y = *b;
    unsigned p = pa < pb ? pa : pb;

    if (a->family != b->family)
        return 0;
    addr_mask(&x, p);
    addr_mask(&y, p);
    return !memcmp(x.bytes, y.bytes, 16);
}

/* trusted_net - does a ban on this network reach a trusted address? */
int trusted_net(const cond *t, const fg_addr *net, unsigned prefix)
{
    static const fg_addr lo4 = {.family = 4, .bytes = {127}};
    static const fg_addr lo6 = {.family = 6, .bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

    if (!net || !net->family)
        return 0;
    if (overlap(net, prefix, &lo4, 8) || overlap(net, prefix, &lo6, 128))
        return 1;
    for (unsigned i = 0; t && i < t->nalts; i++) {
        const cond_alt *alt = &t->alts[i];
        if (alt->kind == COND_CIDR && overlap(net, prefix, &alt->cidr.net, alt->cidr.prefix))
            return 1;
        if (alt->kind != COND_LIST)
            continue;
        for (size_t k = 0; k < list_count(alt->list); k++) {
            const list_entry *e = list_entry_at(alt->list, k);
            if (e->kind == ENTRY_NET && overlap(net, prefix, &e->net.net, e->net.prefix))
                return 1;
        }
    }
    return 0;
}
