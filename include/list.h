/*
 * list - lookup lists that admins edit: named sets and maps loaded from files
 *
 * One entry per line; '#' starts a comment. An entry is, by its text (or by
 * the list's type when one is given):
 *   example.net           a domain: matches itself and every subdomain, as a
 *                         domain or as the domain of an address
 *   @example.net          the same
 *   joe@example.net       an e-mail address (case-insensitive)
 *   192.0.2.0/24, 2001:db8::/32, 192.0.2.7
 *                         a network: an address matches the longest prefix
 *   anything else         a plain string (case-insensitive)
 * A map (type = "map") has "key value..." lines; the value of the entry that
 * matched can be used in a rule's action as ${list:NAME}.
 *
 * The list keeps the file's lines as they are (comments included) and
 * derives its entries and indexes from them, so that a runtime edit
 * (`floodgatectl list NAME add|del`) changes a line, re-derives, and writes
 * the file back atomically without losing the admin's comments. A lookup
 * hashes the value in place (case-insensitively) and allocates nothing.
 */
#ifndef FG_LIST_H
#define FG_LIST_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "conf_errors.h"

#define LIST_DOMAIN_MAX 253 /* bytes of the longest DNS name: the longest domain entry, and how far a lookup reads */

enum list_type { LIST_AUTO, LIST_DOMAIN, LIST_EMAIL, LIST_CIDR, LIST_STRING, LIST_MAP };
enum list_kind { ENTRY_STRING, ENTRY_DOMAIN, ENTRY_EMAIL, ENTRY_NET };

typedef struct list_entry {
    const char *key;   /* what is matched: the word, without a domain's '@' */
    const char *word;  /* the first word of the line, as written */
    size_t klen;
    const char *value; /* maps: the rest of the line; else NULL */
    uint8_t kind;      /* enum list_kind */
    fg_cidr net;       /* ENTRY_NET */
    unsigned line;     /* 1-based line in the file */
} list_entry;

typedef struct fg_list fg_list;

typedef struct listset {
    fg_list **lists;
    unsigned n;
} listset;

/* listset_parse - the `lists` group: name = "path" or name = { path = "..."; type = "..."; } */
listset *listset_parse(config_setting_t *g, const char *dir, conf_errors *errs);
void listset_free(listset *ls);
/* listset_find - a list by name, NULL if none */
fg_list *listset_find(const listset *ls, const char *name);

/* list_load - read a list file; NULL with errors (FILE:LINE) on any malformed line */
fg_list *list_load(const char *name, const char *path, enum list_type type, conf_errors *errs);
void list_free(fg_list *l);
const char *list_name(const fg_list *l);
int list_is_map(const fg_list *l);
size_t list_count(const fg_list *l);
const list_entry *list_entry_at(const fg_list *l, size_t i);
/* list_entry_word - the entry as written in the file ("@example.net", "10.0.0.0/8"), without a map's value */
const char *list_entry_word(const fg_list *l, const list_entry *e);

/* list_lookup - the entry a value matches (addr: the value parsed as an address, or NULL), NULL if none */
const list_entry *list_lookup(const fg_list *l, const char *value, size_t len, const fg_addr *addr);
/* list_lookup_work - bytes hashed and compared plus slots probed by every lookup so far (for tests) */
uint64_t list_lookup_work(void);

/* list_new_stored - an empty list kept in the store (`store = true`): no file; its lines come from the store
 * (the fleet mirror, or the embedded store's snapshot) and edits go there */
fg_list *list_new_stored(const char *name, enum list_type type);
/* list_is_stored - kept in the store rather than a file */
int list_is_stored(const fg_list *l);
/* list_lines / list_line_at - the lines as written (comments included for a file list) */
size_t list_lines(const fg_list *l);
const char *list_line_at(const fg_list *l, size_t i);
/* list_set_lines - replace every line at once; the old ones stay if a new one is malformed; 0, or -1 */
int list_set_lines(fg_list *l, const char *const *lines, size_t n, char *err, size_t errlen);

/* listset_carry_stored - a reload: each list kept in the store takes the lines of the old rules' list of the
 * same name (also kept in the store), since the store, not a file, holds them; returns how many stored lists
 * had none to take (new, or of another type): their entries must be read from the store */
unsigned listset_carry_stored(listset *to, const listset *from);

/* list_add - add a line ("entry" or "key value"); written to the file; 0 ok, -1 with a message */
int list_add(fg_list *l, const char *line, char *err, size_t errlen);
/* list_del - remove the entries with this key; written to the file; 0 ok, -1 with a message */
int list_del(fg_list *l, const char *key, char *err, size_t errlen);

#endif
