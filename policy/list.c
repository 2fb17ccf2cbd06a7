/*
 * list - lookup lists that admins edit (see list.h)
 *
 * The index is one open-addressing table of entry numbers for every kind:
 * strings and addresses are hashed case-insensitively with their kind,
 * domains the same way but from their last byte to their first, networks
 * by their masked bytes and prefix length. A network lookup tries the
 * prefix lengths that the list has, longest first. Every edit rebuilds
 * entries and index from the lines: edits come from an admin, lookups from
 * every request.
 *
 * SECURITY
 *     Values come from the Internet (a HELO name, a sender) and Postfix
 *     passes up to 2 KB of them; our own limit is max_request (64 KiB). A
 *     domain matches itself and each parent, so a naive lookup re-hashes
 *     every suffix of "a.a.a...": quadratic, 60 ms for 16 KB. Hashing
 *     domains backwards makes the hash of each parent the running hash of
 *     one right-to-left pass, and the pass stops after LIST_DOMAIN_MAX (253)
 *     bytes, the longest DNS name, which is also the longest domain entry a
 *     list accepts: a longer value can match only by a parent within its
 *     last 253 bytes (so padding cannot dodge a blocklist), never as a
 *     whole. A string or address probe is skipped when the value is longer
 *     than the list's longest entry of that kind. So a lookup costs at most
 *     253 bytes hashed and one probe per label in them, whatever the value's
 *     length; list_lookup_work() counts it for the tests.
 */
#include "list.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"
#include "file.h"

struct fg_list {
    char *name;             /* as in the configuration */
    char *path;             /* the file; NULL for a list kept in the store (store = true) */
    enum list_type type;
    char **lines;           /* the file's lines, as written */
    size_t nlines;
    list_entry *entries;    /* derived from lines */
    size_t n;
    char *arena;            /* NUL-terminated keys and values of entries */
    uint32_t *slots;        /* index: entry number + 1, 0 = empty */
    size_t mask;            /* slots - 1 */
    uint32_t prefixes4[33];  /* networks per IPv4 prefix length */
    uint32_t prefixes6[129]; /* networks per IPv6 prefix length */
    size_t longest[ENTRY_NET];  /* longest key of each text kind: longer values skip that probe */
};

static uint64_t lookup_work; /* bytes hashed and compared, slots probed, by every lookup (tests read it) */

/* list_lookup_work - the work counter of lookups: bytes hashed and compared, slots probed */
uint64_t list_lookup_work(void)
{
    return lookup_work;
}

/* hash_final - spread the high bits of a hash into the low ones that pick a slot */
static uint64_t hash_final(uint64_t h)
{
    return h ^ (h >> 29);
}

/* hash_text - case-insensitive FNV-1a over a kind and text */
static uint64_t hash_text(uint8_t kind, const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ kind;
    lookup_work += len;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 0x100000001b3ULL;
    }
    return hash_final(h);
}

/* hash_domain - case-insensitive FNV-1a over a kind and text read backwards, so parents hash in one pass */
static uint64_t hash_domain(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ ENTRY_DOMAIN;
    lookup_work += len;
    for (size_t i = len; i-- > 0;) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* hash_net - a masked network */
static uint64_t hash_net(const fg_cidr *c)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ ENTRY_NET ^ ((uint64_t)c->prefix << 8) ^ ((uint64_t)c->net.family << 16);
    for (int i = 0; i < 16; i++) {
        h ^= c->net.bytes[i];
        h *= 0x100000001b3ULL;
    }
    return hash_final(h);
}

/* entry_hash - the index hash of an entry */
static uint64_t entry_hash(const list_entry *e)
{
    if (e->kind == ENTRY_NET)
        return hash_net(&e->net);
    if (e->kind == ENTRY_DOMAIN)
        return hash_final(hash_domain(e->key, e->klen));
    return hash_text(e->kind, e->key, e->klen);
}

/* probe_hashed - the entry of this kind and text, whose index hash is known */
static const list_entry *probe_hashed(const fg_list *l, uint8_t kind, const char *s, size_t len, uint64_t hash)
{
    if (!l->slots || len > l->longest[kind])
        return NULL;
    for (size_t i = hash & l->mask; l->slots[i]; i = (i + 1) & l->mask) {
        const list_entry *e = &l->entries[l->slots[i] - 1];
        lookup_work++;
        if (e->kind != kind || e->klen != len)
            continue;
        lookup_work += len;
        if (!strncasecmp(e->key, s, len))
            return e;
    }
    return NULL;
}

/* probe_text - the entry of this kind and text (strings and addresses) */
static const list_entry *probe_text(const fg_list *l, uint8_t kind, const char *s, size_t len)
{
    /* a value longer than every entry of its kind is not hashed at all */
    if (!l->slots || len > l->longest[kind])
        return NULL;
    return probe_hashed(l, kind, s, len, hash_text(kind, s, len));
}

/* probe_domain - the most specific entry for a domain or one of its parents, in one right-to-left pass */
static const list_entry *probe_domain(const fg_list *l, const char *d, const char *end)
{
    const list_entry *found = NULL, *e;
    uint64_t h = 0xcbf29ce484222325ULL ^ ENTRY_DOMAIN;
    size_t longest = l->longest[ENTRY_DOMAIN];

    /* the running hash of end[-n..end) is hash_domain() of that suffix; a parent starts after a dot */
    for (const char *p = end; p > d && (size_t)(end - p) < longest;) {
        p--;
        lookup_work++;
        h ^= (unsigned char)tolower((unsigned char)*p);
        h *= 0x100000001b3ULL;
        if ((p == d || p[-1] == '.') && (e = probe_hashed(l, ENTRY_DOMAIN, p, (size_t)(end - p), hash_final(h))))
            found = e; /* keep going: a longer suffix is a more specific entry */
    }
    return found;
}

/* probe_net - the entry for this network */
static const list_entry *probe_net(const fg_list *l, const fg_cidr *c)
{
    if (!l->slots)
        return NULL;
    for (size_t i = hash_net(c) & l->mask; l->slots[i]; i = (i + 1) & l->mask) {
        const list_entry *e = &l->entries[l->slots[i] - 1];
        if (e->kind == ENTRY_NET && e->net.prefix == c->prefix && e->net.net.family == c->net.family &&
            !memcmp(e->net.net.bytes, c->net.bytes, 16))
            return e;
    }
    return NULL;
}

/* list_lookup - the entry a value matches */
const list_entry *list_lookup(const fg_list *l, const char *v, size_t len, const fg_addr *addr)
{
    const list_entry *e;
    fg_addr parsed;
    const char *at, *d, *end;

    if (!addr && len && len < 64 && addr_parse(v, len, &parsed) == 0)
        addr = &parsed;
    if (addr) {
        unsigned bits = addr_bits(addr);
        const uint32_t *counts = addr->family == 4 ? l->prefixes4 : l->prefixes6;
        for (int p = (int)bits; p >= 0; p--) {
            if (!counts[p])
                continue;
            fg_cidr c = {*addr, (uint8_t)p};
            addr_mask(&c.net, (unsigned)p);
            if ((e = probe_net(l, &c)) != NULL)
                return e;
        }
    }
    if ((e = probe_text(l, ENTRY_STRING, v, len)) != NULL)
        return e;
    at = memrchr(v, '@', len);
    if (at && (e = probe_text(l, ENTRY_EMAIL, v, len)) != NULL)
        return e;
    /* the domain, or its most specific parent: mail.example.net, example.net, net */
    d = at ? at + 1 : v;
    end = v + len;
    if (end > d && end[-1] == '.')
        end--;
    return probe_domain(l, d, end);
}

/* domain_like - letters, digits, '-', '_', '.', no empty label */
static int domain_like(const char *s, size_t len, int need_dot)
{
    int dot = 0;
    if (!len || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return 0;
            dot = 1;
        } else if (!isalnum(c) && c != '-' && c != '_') {
            return 0;
        }
    }
    return dot || !need_dot;
}

/* classify - the kind of an entry key under the list's type; NULL or the reason it is malformed */
static const char *classify(enum list_type type, char *key, list_entry *e)
{
    size_t len = strlen(key);
    const char *why;
    char *at = strrchr(key, '@');

    e->key = key;
    e->klen = len;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
            return "control character in the entry";
    if (type == LIST_AUTO || type == LIST_MAP || type == LIST_CIDR) {
        int ok = cidr_parse(key, &e->net, &why) == 0;
        if (ok) {
            e->kind = ENTRY_NET;
            return NULL;
        }
        if (type == LIST_CIDR)
            return "not a network (e.g. 192.0.2.0/24 or 2001:db8::/32)";
        if (strchr(key, '/') && !strcmp(why, "bad prefix length"))
            return "bad prefix length";
    }
    if (key[0] == '@' && (type == LIST_AUTO || type == LIST_MAP || type == LIST_DOMAIN)) {
        if (!domain_like(key + 1, len - 1, 0))
            return "not a domain after '@'";
        if (len - 1 > LIST_DOMAIN_MAX)
            return "a domain name has at most 253 bytes";
        e->key = key + 1;
        e->klen = len - 1;
        e->kind = ENTRY_DOMAIN;
        return NULL;
    }
    if (type == LIST_STRING) {
        e->kind = ENTRY_STRING;
        return NULL;
    }
    if (at && type != LIST_DOMAIN) {
        if (at == key || !domain_like(at + 1, strlen(at + 1), 0))
            return "not an e-mail address (local@domain)";
        e->kind = ENTRY_EMAIL;
        return NULL;
    }
    if (type == LIST_EMAIL)
        return "not an e-mail address (local@domain)";
    if (domain_like(key, len, type != LIST_DOMAIN)) {
        if (len > LIST_DOMAIN_MAX)
            return "a domain name has at most 253 bytes";
        e->kind = ENTRY_DOMAIN;
        return NULL;
    }
    if (type == LIST_DOMAIN)
        return "not a domain";
    e->kind = ENTRY_STRING;
    return NULL;
}

/* index_insert - put entry i into the index */
static void index_insert(fg_list *l, size_t i)
{
    size_t s = entry_hash(&l->entries[i]) & l->mask;
    while (l->slots[s])
        s = (s + 1) & l->mask;
    l->slots[s] = (uint32_t)(i + 1);
}

/* derive - entries and index from the lines; 0 ok, -1 with errors (FILE:LINE) */
static int derive(fg_list *l, conf_errors *errs, char *err, size_t errlen)
{
    size_t total = 0, n = 0, size = 16;
    list_entry *entries;
    char *arena, *p;
    int ok = 0;

    for (size_t i = 0; i < l->nlines; i++)
        total += strlen(l->lines[i]) + 2;
    entries = fg_calloc(l->nlines ? l->nlines : 1, sizeof *entries);
    arena = p = fg_malloc(total ? total : 1);
    for (size_t i = 0; i < l->nlines; i++) {
        const char *s = l->lines[i], *why = NULL;
        size_t len;
        while (isspace((unsigned char)*s))
            s++;
        len = strlen(s);
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        if (!len || s[0] == '#')
            continue;
        list_entry *e = &entries[n];
        memset(e, 0, sizeof *e);
        e->line = (unsigned)(i + 1);
        char *key = p;
        size_t klen = len;
        const char *ws = s;
        while (ws < s + len && !isspace((unsigned char)*ws))
            ws++;
        if (ws < s + len) {
            if (l->type != LIST_MAP)
                why = "an entry is one word (use type = \"map\" for \"key value\" lines)";
            klen = (size_t)(ws - s);
        } else if (l->type == LIST_MAP) {
            why = "a map line needs a key and a value";
        }
        memcpy(key, s, klen);
        key[klen] = '\0';
        e->word = key;
        p += klen + 1;
        if (l->type == LIST_MAP && !why) {
            while (isspace((unsigned char)*ws))
                ws++;
            memcpy(p, ws, (size_t)(s + len - ws));
            p[s + len - ws] = '\0';
            e->value = p;
            p += (s + len - ws) + 1;
        }
        if (!why)
            why = classify(l->type, key, e);
        if (why) {
            if (errs)
                conf_error(errs, l->path, (int)(i + 1), "list %s: %s: \"%.*s\"", l->name, why, (int)len, s);
            if (err && ok == 0)
                snprintf(err, errlen, "%s: \"%.*s\"", why, (int)len, s);
            ok = -1;
            continue;
        }
        n++;
    }
    if (ok < 0) {
        fg_free(entries);
        fg_free(arena);
        return -1;
    }
    fg_free(l->entries);
    fg_free(l->arena);
    fg_free(l->slots);
    l->entries = entries;
    l->arena = arena;
    l->n = n;
    while (size < n * 2)
        size *= 2;
    l->slots = fg_calloc(size, sizeof *l->slots);
    l->mask = size - 1;
    memset(l->prefixes4, 0, sizeof l->prefixes4);
    memset(l->prefixes6, 0, sizeof l->prefixes6);
    memset(l->longest, 0, sizeof l->longest);
    for (size_t i = 0; i < n; i++) {
        index_insert(l, i);
        if (entries[i].kind != ENTRY_NET && entries[i].klen > l->longest[entries[i].kind])
            l->longest[entries[i].kind] = entries[i].klen;
        if (entries[i].kind == ENTRY_NET) {
            if (entries[i].net.net.family == 4)
                l->prefixes4[entries[i].net.prefix]++;
            else
                l->prefixes6[entries[i].net.prefix]++;
        }
    }
    return 0;
}

/* add_line - append a line of text */
static void add_line(fg_list *l, const char *s, size_t len)
{
    l->lines = fg_realloc(l->lines, (l->nlines + 1) * sizeof *l->lines);
    l->lines[l->nlines++] = fg_strndup(s, len);
}

/* list_load - read a list file */
fg_list *list_load(const char *name, const char *path, enum list_type type, conf_errors *errs)
{
    fg_list *l = fg_calloc(1, sizeof *l);
    FILE *f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    l->name = fg_strdup(name);
    l->path = fg_strdup(path);
    l->type = type;
    /* loading happens at start and reload, never on the request path */
    f = fopen(path, "r");
    if (!f) {
        conf_error(errs, path, 0, "list %s: cannot read the file: %s", name, strerror(errno));
        list_free(l);
        return NULL;
    }
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n && line[n - 1] == '\n')
            n--;
        if (n && line[n - 1] == '\r')
            n--;
        add_line(l, line, (size_t)n);
    }
    free(line);
    fclose(f);
    if (derive(l, errs, NULL, 0) < 0) {
        list_free(l);
        return NULL;
    }
    return l;
}

/* list_free - free a list; NULL is fine */
void list_free(fg_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nlines; i++)
        fg_free(l->lines[i]);
    fg_free(l->lines);
    fg_free(l->entries);
    fg_free(l->arena);
    fg_free(l->slots);
    fg_free(l->name);
    fg_free(l->path);
    fg_free(l);
}

const char *list_name(const fg_list *l) { return l->name; }
int list_is_map(const fg_list *l) { return l->type == LIST_MAP; }
size_t list_count(const fg_list *l) { return l->n; }
const list_entry *list_entry_at(const fg_list *l, size_t i) { return i < l->n ? &l->entries[i] : NULL; }

/* list_entry_word - the entry as written: the key is a copy of the line's first word, '@' included */
const char *list_entry_word(const fg_list *l, const list_entry *e)
{
    (void)l;
    return e->word;
}

/* write_lines - the file's content */
static int write_lines(FILE *f, void *arg)
{
    const fg_list *l = arg;
    for (size_t i = 0; i < l->nlines; i++)
        if (fprintf(f, "%s\n", l->lines[i]) < 0)
            return -1;
    return 0;
}

/* write_back - the lines to the file, atomically (a list kept in the store has no file) */
static int write_back(fg_list *l, char *err, size_t errlen)
{
    if (!l->path)
        return 0;
    return file_replace(l->path, 0644, write_lines, l, err, errlen);
}

/* list_new_stored - an empty list kept in the store (its entries come from the store, never from a file) */
fg_list *list_new_stored(const char *name, enum list_type type)
{
    fg_list *l = fg_calloc(1, sizeof *l);

    l->name = fg_strdup(name);
    l->type = type;
    derive(l, NULL, NULL, 0);
    return l;
}

int list_is_stored(const fg_list *l) { return l->path == NULL; }

/* list_line_at - line i as written ("key value" for a map), NULL past the end */
const char *list_line_at(const fg_list *l, size_t i) { return i < l->nlines ? l->lines[i] : NULL; }
size_t list_lines(const fg_list *l) { return l->nlines; }

/* list_set_lines - replace every line (a resync from the store, or the old list's lines after a reload); the
 * old lines stay if any new one is malformed. 0, or -1 with a message */
int list_set_lines(fg_list *l, const char *const *lines, size_t n, char *err, size_t errlen)
{
    char **old = l->lines;
    size_t nold = l->nlines;

    l->lines = fg_malloc((n ? n : 1) * sizeof *l->lines);
    l->nlines = 0;
    for (size_t i = 0; i < n; i++)
        add_line(l, lines[i], strlen(lines[i]));
    if (derive(l, NULL, err, errlen) < 0) {
        for (size_t i = 0; i < l->nlines; i++)
            fg_free(l->lines[i]);
        fg_free(l->lines);
        l->lines = old;
        l->nlines = nold;
        derive(l, NULL, NULL, 0);
        return -1;
    }
    for (size_t i = 0; i < nold; i++)
        fg_free(old[i]);
    fg_free(old);
    return 0;
}

/* list_add - add a line, re-derive, write back; undone if anything fails */
int list_add(fg_list *l, const char *text, char *err, size_t errlen)
{
    size_t len = strlen(text);
    const char *first = text + strspn(text, " \t\r\f\v"); /* as derive() reads the line back */

    if (!*first || strchr(text, '\n') || *first == '#') {
        snprintf(err, errlen, "an entry is one non-empty line");
        return -1;
    }
    add_line(l, text, len);
    if (derive(l, NULL, err, errlen) < 0 || write_back(l, err, errlen) < 0) {
        fg_free(l->lines[--l->nlines]);
        derive(l, NULL, NULL, 0);
        return -1;
    }
    return 0;
}

/* list_del - remove the entries with this key, re-derive, write back */
int list_del(fg_list *l, const char *key, char *err, size_t errlen)
{
    char **old = fg_malloc((l->nlines ? l->nlines : 1) * sizeof *old);
    size_t nold = l->nlines, removed = 0, keep = 0;
    const char *k = key[0] == '@' ? key + 1 : key;

    memcpy(old, l->lines, nold * sizeof *old);
    /* drop every line whose entry has this key */
    unsigned char *drop = fg_calloc(nold ? nold : 1, 1);
    for (size_t i = 0; i < l->n; i++)
        if (l->entries[i].klen == strlen(k) && !strcasecmp(l->entries[i].key, k)) {
            drop[l->entries[i].line - 1] = 1;
            removed++;
        }
    if (!removed) {
        snprintf(err, errlen, "%s is not in list %s", key, l->name);
        fg_free(drop);
        fg_free(old);
        return -1;
    }
    for (size_t i = 0; i < nold; i++)
        if (!drop[i])
            l->lines[keep++] = old[i];
    l->nlines = keep;
    if (derive(l, NULL, err, errlen) < 0 || write_back(l, err, errlen) < 0) {
        memcpy(l->lines, old, nold * sizeof *old);
        l->nlines = nold;
        derive(l, NULL, NULL, 0);
        fg_free(drop);
        fg_free(old);
        return -1;
    }
    for (size_t i = 0; i < nold; i++)
        if (drop[i])
            fg_free(old[i]);
    fg_free(drop);
    fg_free(old);
    return 0;
}

/* type_of - the type named in the configuration */
static int type_of(const char *s, enum list_type *out)
{
    static const struct { const char *name; enum list_type t; } types[] = {
        {"auto", LIST_AUTO}, {"domain", LIST_DOMAIN}, {"email", LIST_EMAIL}, {"cidr", LIST_CIDR},
        {"string", LIST_STRING}, {"map", LIST_MAP},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(types[i].name, s)) {
            *out = types[i].t;
            return 0;
        }
    return -1;
}

/* listset_parse - the `lists` group */
listset *listset_parse(config_setting_t *g, const char *dir, conf_errors *errs)
{
    listset *ls = fg_calloc(1, sizeof *ls);
    int ok = 0;

    if (!g)
        return ls;
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        conf_error_at(errs, g, "lists must be a group { name = \"path\"; ... }");
        listset_free(ls);
        return NULL;
    }
    ls->lists = fg_calloc((size_t)config_setting_length(g) + 1, sizeof *ls->lists);
    for (unsigned i = 0; i < (unsigned)config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, i);
        const char *name = config_setting_name(s), *path = NULL, *type = NULL;
        enum list_type t = LIST_AUTO;
        int stored = 0;
        if (config_setting_type(s) == CONFIG_TYPE_STRING) {
            path = config_setting_get_string(s);
        } else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
            config_setting_lookup_string(s, "path", &path);
            config_setting_t *st = config_setting_get_member(s, "store");
            if (st && (config_setting_type(st) != CONFIG_TYPE_BOOL || (path && config_setting_get_bool(st)))) {
                conf_error_at(errs, st, "list %s: store must be true or false, and a list in the store has no path",
                              name);
                ok = -1;
                continue;
            }
            stored = st && config_setting_get_bool(st);
            config_setting_t *ts = config_setting_get_member(s, "type");
            if (ts && (!(type = config_setting_get_string(ts)) || type_of(type, &t) < 0)) {
                conf_error_at(errs, ts, "list %s: type must be auto, domain, email, cidr, string or map", name);
                ok = -1;
                continue;
            }
        }
        if (stored) {
            ls->lists[ls->n++] = list_new_stored(name, t);
            continue;
        }
        if (!path) {
            conf_error_at(errs, s, "list %s: expected \"path\" or { path = \"...\"; type = \"...\"; } or "
                                   "{ store = true; type = \"...\"; }", name);
            ok = -1;
            continue;
        }
        char *full = conf_path(dir, path);
        fg_list *l = list_load(name, full, t, errs);
        fg_free(full);
        if (!l) {
            ok = -1;
            continue;
        }
        ls->lists[ls->n++] = l;
    }
    if (ok < 0) {
        listset_free(ls);
        return NULL;
    }
    return ls;
}

/* listset_carry_stored - stored lists keep their lines across a reload; how many have none to keep */
unsigned listset_carry_stored(listset *to, const listset *from)
{
    unsigned fresh = 0;

    for (unsigned i = 0; to && i < to->n; i++) {
        fg_list *l = to->lists[i], *old = listset_find(from, l->name);
        if (list_is_stored(l) && old && list_is_stored(old) && old->type == l->type)
            list_set_lines(l, (const char *const *)old->lines, old->nlines, NULL, 0);
        else if (list_is_stored(l))
            fresh++;
    }
    return fresh;
}

/* listset_free - free every list; NULL is fine */
void listset_free(listset *ls)
{
    if (!ls)
        return;
    for (unsigned i = 0; i < ls->n; i++)
        list_free(ls->lists[i]);
    fg_free(ls->lists);
    fg_free(ls);
}

/* listset_find - a list by name */
fg_list *listset_find(const listset *ls, const char *name)
{
    for (unsigned i = 0; ls && i < ls->n; i++)
        if (!strcmp(ls->lists[i]->name, name))
            return ls->lists[i];
    return NULL;
}
