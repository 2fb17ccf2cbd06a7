/*
 * test_list - lookup lists: matching, malformed lines, runtime edits
 */
#include "testutil.h"

#include <sys/stat.h>

#include "list.h"

/* read_file - a file's text (static buffer) */
static const char *read_file(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* load - a list from text */
static fg_list *load(const char *name, const char *text, enum list_type type, conf_errors *errs)
{
    char path[300];
    snprintf(path, sizeof path, "%s", write_temp(name, text));
    return list_load(name, path, type, errs);
}

/* key_of - the key of a lookup's entry, "" if none */
static const char *key_of(const fg_list *l, const char *v)
{
    const list_entry *e = list_lookup(l, v, strlen(v), NULL);
    return e ? e->key : "";
}

static void test_matching(void **st)
{
    static const struct { const char *label, *value, *want; } cases[] = {
        {"domain itself", "example.net", "example.net"},
        {"subdomain", "mail.example.net", "example.net"},
        {"address at a subdomain", "x@mail.example.net", "example.net"},
        {"address at the domain, any case", "X@Example.NET", "example.net"},
        {"not a suffix match", "badexample.net", ""},
        {"@domain entry", "joe@at-entry.org", "at-entry.org"},
        {"e-mail entry", "Joe@Mail.Example.COM", "joe@mail.example.com"},
        {"other address of that domain", "ann@mail.example.com", ""},
        {"plain string", "ROOT", "root"},
        {"plain string is exact", "rooted", ""},
        {"network v4", "192.0.2.77", "192.0.2.0/24"},
        {"longest prefix v4", "192.0.2.7", "192.0.2.7"},
        {"wider network", "198.51.0.1", "198.51.0.0/16"},
        {"longest of nested", "198.51.100.1", "198.51.100.0/24"},
        {"network v6", "2001:db8:1::5", "2001:db8::/32"},
        {"longer v6", "2001:db8:ffff::1", "2001:db8:ffff::/48"},
        {"outside", "203.0.113.1", ""},
        {"trailing dot domain", "example.net.", "example.net"},
    };
    conf_errors errs = {0};
    fg_list *l = load("mixed", "# a comment\n\nexample.net\n@at-entry.org\njoe@mail.example.com\nroot\n"
                               "192.0.2.0/24\n192.0.2.7\n198.51.0.0/16\n198.51.100.0/24\n2001:db8::/32\n"
                               "2001:db8:ffff::/48\n",
                      LIST_AUTO, &errs);
    (void)st;
    if (!l)
        dump_errors(&errs);
    assert_non_null(l);
    assert_int_equal(list_count(l), 10);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(key_of(l, cases[i].value), cases[i].want))
            fail_msg("%s: %s matched \"%s\", want \"%s\"", cases[i].label, cases[i].value, key_of(l, cases[i].value),
                     cases[i].want);
    list_free(l);
}

static void test_map(void **st)
{
    conf_errors errs = {0};
    fg_list *l = load("redirects", "example.org   https://example.org/moved here\n10.0.0.0/8 intranet\n10.1.0.0/16 lab\n",
                      LIST_MAP, &errs);
    (void)st;
    assert_non_null(l);
    assert_string_equal(list_lookup(l, "www.example.org", 15, NULL)->value, "https://example.org/moved here");
    assert_string_equal(list_lookup(l, "10.1.2.3", 8, NULL)->value, "lab");
    assert_string_equal(list_lookup(l, "10.2.2.3", 8, NULL)->value, "intranet");
    list_free(l);
}

/* parse_lists - the lists group of a configuration text */
static listset *parse_lists(const char *text, conf_errors *errs)
{
    config_t cfg;
    config_init(&cfg);
    assert_int_equal(config_read_string(&cfg, text), CONFIG_TRUE);
    listset *ls = listset_parse(config_lookup(&cfg, "lists"), "/nonexistent", errs);
    config_destroy(&cfg);
    return ls;
}

/* A list kept in the store (store = true) has no file: it starts empty, takes its lines whole (a malformed one
 * leaves the old lines), edits write no file, and a reload's new list takes the old one's lines. A list with
 * both a path and store = true is refused. */
static void test_stored(void **st)
{
    conf_errors errs = {0};
    char err[256];
    (void)st;

    listset *ls = parse_lists("lists = { blocked = { type = \"map\"; store = true; }; };", &errs);
    assert_non_null(ls);
    fg_list *l = listset_find(ls, "blocked");
    assert_true(list_is_stored(l));
    assert_int_equal(list_count(l), 0);
    const char *lines[] = {"spam@example.org go away", "10.0.0.0/8 intranet"};
    assert_int_equal(list_set_lines(l, lines, 2, err, sizeof err), 0);
    assert_string_equal(list_lookup(l, "SPAM@example.org", 16, NULL)->value, "go away");
    const char *bad[] = {"10.0.0.0/99 broken"};
    assert_int_equal(list_set_lines(l, bad, 1, err, sizeof err), -1);
    assert_int_equal(list_count(l), 2);
    assert_int_equal(list_add(l, "other@example.org x", err, sizeof err), 0);
    assert_int_equal(list_count(l), 3);

    listset *fresh = parse_lists("lists = { blocked = { type = \"map\"; store = true; }; };", &errs);
    listset_carry_stored(fresh, ls);
    assert_int_equal(list_count(listset_find(fresh, "blocked")), 3);
    listset_free(fresh);
    listset_free(ls);

    assert_null(parse_lists("lists = { x = { path = \"x\"; store = true; }; };", &errs));
    assert_true(errs.n > 0);
    assert_non_null(strstr(errs.msgs[errs.n - 1], "no path"));
    conf_errors_free(&errs);
}

/* every malformed line is named with its file and line, and the list does not load */
static void test_malformed(void **st)
{
    conf_errors errs = {0};
    (void)st;

    assert_null(load("bad", "good.example\ntwo words\n10.0.0.0/33\nx@\nok@fine.example\n", LIST_AUTO, &errs));
    assert_true(has_error(&errs, 2, "one word"));
    assert_true(has_error(&errs, 3, "bad prefix"));
    assert_true(has_error(&errs, 4, "e-mail"));
    assert_int_equal(errs.n, 3);
    assert_non_null(strstr(errs.msgs[0], "/bad:2: "));
    conf_errors_free(&errs);

    assert_null(load("nets", "10.0.0.0/8\nexample.com\n", LIST_CIDR, &errs));
    assert_true(has_error(&errs, 2, "not a network"));
    conf_errors_free(&errs);

    assert_null(load("map", "key value\nlonely\n", LIST_MAP, &errs));
    assert_true(has_error(&errs, 2, "key and a value"));
    conf_errors_free(&errs);
}

/* runtime edits: seen by the next lookup, written back atomically, comments kept */
static void test_edits(void **st)
{
    conf_errors errs = {0};
    char err[256], path[300];
    struct stat sb;
    (void)st;

    snprintf(path, sizeof path, "%s", write_temp("edits", "# trusted senders\nexample.net\n"));
    chmod(path, 0640);
    fg_list *l = list_load("edits", path, LIST_AUTO, &errs);
    assert_non_null(l);
    assert_string_equal(key_of(l, "a@b.example.org"), "");
    assert_int_equal(list_add(l, "example.org", err, sizeof err), 0);
    assert_string_equal(key_of(l, "a@b.example.org"), "example.org");
    assert_string_equal(read_file(path), "# trusted senders\nexample.net\nexample.org\n");
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    /* a malformed entry is refused and nothing changes */
    assert_int_equal(list_add(l, "10.0.0.0/99", err, sizeof err), -1);
    assert_non_null(strstr(err, "prefix"));
    assert_string_equal(read_file(path), "# trusted senders\nexample.net\nexample.org\n");
    assert_int_equal(list_del(l, "example.net", err, sizeof err), 0);
    assert_string_equal(key_of(l, "x@example.net"), "");
    assert_string_equal(read_file(path), "# trusted senders\nexample.org\n");
    assert_int_equal(list_del(l, "nothere.example", err, sizeof err), -1);
    /* a blank entry, or one that the file would read as a comment, is refused: answering ok while the list
     * stays the same (and writing a line that reloads as nothing) would tell the admin a lie */
    assert_int_equal(list_add(l, "   ", err, sizeof err), -1);
    assert_int_equal(list_add(l, " \t# spam.example", err, sizeof err), -1);
    assert_int_equal(list_count(l), 1);
    assert_string_equal(read_file(path), "# trusted senders\nexample.org\n");
    /* the file reloads to the same list */
    fg_list *again = list_load("edits", path, LIST_AUTO, &errs);
    assert_non_null(again);
    assert_int_equal(list_count(again), 1);
    list_free(again);
    list_free(l);
}

/* domain_list - a list of n domains, as an admin's blocklist would hold */
static fg_list *domain_list(unsigned n)
{
    size_t cap = (size_t)n * 40 + 64, len = 0;
    char *text = malloc(cap);
    conf_errors errs = {0};
    assert_non_null(text);
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s%u.example-%u.net\n", i % 2 ? "@mx" : "host", i, i % 37);
    fg_list *l = load("domains", text, LIST_AUTO, &errs);
    free(text);
    if (!l)
        dump_errors(&errs);
    assert_non_null(l);
    return l;
}

/* dotted - "a.a.a...a" of len bytes (len odd), in buf */
static const char *dotted(char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = i % 2 ? '.' : 'a';
    buf[len] = '\0';
    return buf;
}

/* work_of - the lookup work of one value */
static uint64_t work_of(const fg_list *l, const char *v, size_t len)
{
    uint64_t before = list_lookup_work();
    list_lookup(l, v, len, NULL);
    return list_lookup_work() - before;
}

/* a long dotted HELO costs what a normal name costs times a small constant, at any length (issue 7, defect 3) */
static void test_long_dotted_value(void **st)
{
    static char buf[16 * 1024 + 64];
    fg_list *l = domain_list(1000);
    const char *normal = "mx1.mail-relay.example-host.org"; /* 31 bytes, four labels */
    (void)st;

    uint64_t w_normal = work_of(l, normal, strlen(normal));
    uint64_t w_2k = work_of(l, dotted(buf, 2047), 2047);
    uint64_t w_16k = work_of(l, dotted(buf, 16383), 16383);
    print_message("lookup work: 31-byte name %llu, 2 KB a.a.a %llu, 16 KB a.a.a %llu\n", (unsigned long long)w_normal,
                  (unsigned long long)w_2k, (unsigned long long)w_16k);
    assert_true(w_normal > 0);
    /* at most 253 bytes (the longest DNS name) hashed once, one probe per label in them */
    assert_true(w_2k <= 16 * w_normal);
    assert_true(w_16k <= 16 * w_normal);
    list_free(l);

    /* with a 253-byte entry, the longest DNS name, the pass reads 253 bytes and stops, whatever the length */
    char text[300];
    memset(text, 'x', 253);
    for (size_t i = 1; i < 253; i += 2)
        text[i] = '.';
    memcpy(text + 253, "\nexample.org\n", sizeof "\nexample.org\n");
    conf_errors errs = {0};
    l = load("longest", text, LIST_DOMAIN, &errs);
    assert_non_null(l);
    w_2k = work_of(l, dotted(buf, 2047), 2047);
    w_16k = work_of(l, dotted(buf, 16383), 16383);
    print_message("with a 253-byte entry: 2 KB a.a.a %llu, 16 KB a.a.a %llu\n", (unsigned long long)w_2k,
                  (unsigned long long)w_16k);
    assert_true(w_16k == w_2k);
    assert_true(w_16k <= 253 + 2 * 127 + 16);
    list_free(l);
}

/* matching stays right: subdomains, @domain, an address's domain, a long value by its last 253 bytes */
static void test_domain_suffixes(void **st)
{
    static char buf[4096];
    fg_list *l = domain_list(1000);
    char v[4200];
    (void)st;

    static const struct { const char *label, *value, *want; } cases[] = {
        {"domain", "host0.example-0.net", "host0.example-0.net"},
        {"subdomain", "a.b.host998.example-36.net", "host998.example-36.net"},
        {"@domain entry, subdomain", "relay.mx1.example-1.net", "mx1.example-1.net"},
        {"address at the domain", "joe@MX999.example-0.NET", "mx999.example-0.net"},
        {"address at a subdomain", "joe@smtp.host2.example-2.net.", "host2.example-2.net"},
        {"parent only", "example-1.net", ""},
        {"not a label boundary", "xhost0.example-0.net", ""},
        {"local part is not a domain", "host0.example-0.net@example.org", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(key_of(l, cases[i].value), cases[i].want))
            fail_msg("%s: %s matched \"%s\", want \"%s\"", cases[i].label, cases[i].value, key_of(l, cases[i].value),
                     cases[i].want);
    /* a value longer than a DNS name matches by the parents in its last 253 bytes */
    snprintf(v, sizeof v, "%s.host4.example-4.net", dotted(buf, 4001));
    assert_string_equal(key_of(l, v), "host4.example-4.net");
    snprintf(v, sizeof v, "x@%s.mx7.example-7.net", dotted(buf, 2001));
    assert_string_equal(key_of(l, v), "mx7.example-7.net");
    assert_string_equal(key_of(l, dotted(buf, 4001)), "");
    list_free(l);
}

/* the most specific entry wins (a map gives its value), and no entry is longer than a DNS name */
static void test_most_specific_and_length(void **st)
{
    static char name[300];
    char text[400];
    conf_errors errs = {0};
    (void)st;

    fg_list *l = load("relays", "example.net outer\nmail.example.net inner\n@net tld\n", LIST_MAP, &errs);
    assert_non_null(l);
    assert_string_equal(list_lookup(l, "x.mail.example.net", 18, NULL)->value, "inner");
    assert_string_equal(list_lookup(l, "x.example.net", 13, NULL)->value, "outer");
    assert_string_equal(list_lookup(l, "other.net", 9, NULL)->value, "tld");
    list_free(l);

    /* 253 bytes is the longest name that loads; 255 is refused with its line */
    memset(name, 'a', 253);
    for (size_t i = 63; i < 253; i += 64)
        name[i] = '.';
    name[253] = '\0';
    snprintf(text, sizeof text, "ok.example\n%s\n", name);
    l = load("long", text, LIST_DOMAIN, &errs);
    assert_non_null(l);
    assert_string_equal(key_of(l, name), name);
    list_free(l);
    snprintf(text, sizeof text, "ok.example\nbb%s\n", name);
    assert_null(load("toolong", text, LIST_DOMAIN, &errs));
    assert_true(has_error(&errs, 2, "253"));
    conf_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_edits),
        cmocka_unit_test(test_long_dotted_value),
        cmocka_unit_test(test_domain_suffixes),
        cmocka_unit_test(test_most_specific_and_length),
        cmocka_unit_test(test_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
