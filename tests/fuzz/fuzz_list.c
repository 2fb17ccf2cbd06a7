/*
 * fuzz_list - libFuzzer driver for list files
 *
 * Byte 0 picks the list type (auto, domain, email, cidr, string, map);
 * the rest is the file, loaded by list_load. A list that loads is then
 * looked up with every line of the file and with variants of it (a
 * subdomain, an address in a network), and every entry is read back as
 * `floodgatectl list NAME show` does. It must load or give errors; any
 * crash, leak or sanitizer report is a bug. Build and run: make fuzz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzz_util.h"
#include "list.h"

/* lookup - one value as the engine looks it up (parsed as an address when it is one) */
static void lookup(const fg_list *l, const char *v, size_t len)
{
    char tmp[300];
    fg_addr a;
    const list_entry *e;

    if (len >= sizeof tmp)
        len = sizeof tmp - 1;
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    e = list_lookup(l, tmp, len, addr_parse(tmp, len, &a) == 0 ? &a : NULL);
    if (e && !list_entry_word(l, e))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum list_type types[] = {LIST_AUTO, LIST_DOMAIN, LIST_EMAIL, LIST_CIDR, LIST_STRING, LIST_MAP};
    conf_errors errs = {0};
    fg_list *l;
    char v[400];

    if (size == 0)
        return 0;
    l = list_load("fuzz", fuzz_write("lists/fuzz", data + 1, size - 1), types[data[0] % 6], &errs);
    if (!l) {
        if (!errs.n)
            abort(); /* refused without saying why */
        conf_errors_free(&errs);
        return 0;
    }
    for (size_t i = 0; i < list_count(l); i++) {
        const list_entry *e = list_entry_at(l, i);
        const char *w = list_entry_word(l, e);
        if (!w)
            abort();
        lookup(l, w, strlen(w));
        lookup(l, v, (size_t)snprintf(v, sizeof v, "sub.%.300s", w));
    }
    for (size_t at = 1; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        lookup(l, (const char *)data + at, end - at);
        at = end + 1;
    }
    lookup(l, "192.0.2.1", 9);
    lookup(l, "2001:db8::1", 11);
    list_free(l);
    conf_errors_free(&errs);
    return 0;
}
