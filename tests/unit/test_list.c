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
    /* the file reloads to the same list */
    fg_list *again = list_load("edits", path, LIST_AUTO, &errs);
    assert_non_null(again);
    assert_int_equal(list_count(again), 1);
    list_free(again);
    list_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_edits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
