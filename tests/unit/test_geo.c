/*
 * test_geo - GeoIP conditions, keys and action text on small databases that the test writes itself
 * (tests/data/mkmmdb.pl, Debian's libmaxmind-db-writer-perl): IPv4, IPv6, IPv4-mapped, a reload
 * that swaps a database, and the load errors.
 */
#include "testutil.h"

#include "engine_fixture.h"
#include "geo.h"

#define GEOIP "geoip = { country = \"country.mmdb\"; asn = \"asn.mmdb\"; };\n"
#define RCPT(ip) "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" ip "\nsender=s@example.org\nrecipient=r@example.com"

/* make_databases - the .mmdb files, once, in the folder of the configuration files */
static int make_databases(void **st)
{
    char cmd[1024];
    const char *data = getenv("FG_TESTDATA");
    (void)st;

    write_temp("probe", "");
    snprintf(cmd, sizeof cmd, "perl %s/mkmmdb.pl %s", data ? data : "tests/data", temp_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_geo: %s failed (apt-get install libmaxmind-db-writer-perl)\n", cmd);
        return -1;
    }
    return 0;
}

/* geo_setup - configuration head (geoip and more) and rules from text */
static fixture *geo_setup(const char *head, const char *rules)
{
    char text[4096];

    snprintf(text, sizeof text, "%srules = (\n%s\n);\n", head, rules);
    return setup_conf(text);
}

/* country and asn conditions, on IPv4, IPv6 and IPv4-mapped addresses; $country and $asn expand */
static void test_conditions(void **st)
{
    fixture *f = geo_setup(GEOIP,
        "{ name = \"not-here\"; on = \"smtp:RCPT\"; if = { country = [\"CN\", \"FR\"]; };\n"
        "  action = \"REJECT 5.7.1 not from $country (AS$asn)\"; },\n"
        "{ name = \"bad-as\"; on = \"smtp:RCPT\"; if = { asn = (64500, \"64599\"); }; action = \"DEFER as $asn in $country\"; },\n"
        "{ name = \"registered\"; on = \"smtp:RCPT\"; if = { country = \"jp\"; }; action = \"WARN registered $country\"; },\n"
        "{ name = \"unknown\"; on = \"smtp:RCPT\"; if = { country = \"\"; }; action = \"WARN unknown\"; }");
    (void)st;

    assert_string_equal(ask(f, 1000, RCPT("198.51.100.9")), "REJECT 5.7.1 not from CN (AS64501)");
    assert_string_equal(ask(f, 1000, RCPT("2001:db8:1::25")), "REJECT 5.7.1 not from FR (AS64502)");
    assert_string_equal(ask(f, 1000, RCPT("192.0.2.7")), "DEFER as 64500 in DE");
    assert_string_equal(ask(f, 1000, RCPT("::ffff:192.0.2.7")), "DEFER as 64500 in DE");
    assert_string_equal(ask(f, 1000, RCPT("203.0.113.5")), "WARN registered JP");
    assert_string_equal(ask(f, 1000, RCPT("2001:db8:2::1")), "WARN unknown");
    assert_string_equal(ask(f, 1000, RCPT("not-an-address")), "WARN unknown");
    teardown(f);
}

/* a limit per country: two addresses of one country share one counter, another country has its own */
static void test_country_key(void **st)
{
    fixture *f = geo_setup(GEOIP, "{ name = \"per-country\"; on = \"smtp:RCPT\";\n"
                                      "  limit = { key = [\"country\"]; count = 2; per = \"1h\"; }; action = \"DEFER $country full\"; }");
    (void)st;

    assert_string_equal(ask(f, 1000, RCPT("192.0.2.1")), "DUNNO");
    assert_string_equal(ask(f, 1001, RCPT("192.0.2.2")), "DUNNO");
    assert_string_equal(ask(f, 1002, RCPT("192.0.2.3")), "DEFER DE full");
    assert_string_equal(ask(f, 1003, RCPT("198.51.100.1")), "DUNNO");
    teardown(f);
}

/* at most one lookup per request however many rules read country and asn; none when no rule applies */
static void test_one_lookup_per_request(void **st)
{
    fixture *f = geo_setup(GEOIP,
        "{ name = \"a\"; on = \"smtp:RCPT\"; if = { country = \"XX\"; }; action = \"REJECT a\"; },\n"
        "{ name = \"b\"; on = \"smtp:RCPT\"; if = { asn = 1; }; action = \"REJECT b\"; },\n"
        "{ name = \"c\"; on = \"smtp:RCPT\"; limit = { key = [\"country\", \"asn\"]; count = 100; per = \"1h\"; }; },\n"
        "{ name = \"d\"; on = \"auth\"; if = { country = \"XX\"; }; action = \"REJECT d\"; }");
    (void)st;

    assert_string_equal(ask(f, 1000, RCPT("192.0.2.1")), "DUNNO");
    assert_int_equal(geo_lookups(f->conf->rules->geo), 1);
    assert_string_equal(ask(f, 1000, RCPT("192.0.2.1")), "DUNNO");
    assert_int_equal(geo_lookups(f->conf->rules->geo), 2);
    /* a login: rule d reads country, so one lookup; a report: no rule applies, so none */
    assert_string_equal(ask(f, 1000, "request=auth\nclient_address=192.0.2.1\nusername=u"), "DUNNO");
    assert_int_equal(geo_lookups(f->conf->rules->geo), 3);
    assert_string_equal(ask(f, 1000, "request=report\nevent=loiter\nclient_address=192.0.2.1"), "OK");
    assert_int_equal(geo_lookups(f->conf->rules->geo), 3);
    teardown(f);
}

/* a reload opens the databases again: the new file's answer holds for the new rule set */
static void test_reload_swaps_database(void **st)
{
    const char *rule = "{ name = \"from\"; on = \"smtp:RCPT\"; if = { country = \"!\"; }; action = \"WARN $country\"; }";
    fixture *a = geo_setup("geoip = { country = \"country.mmdb\"; };\n", rule);
    fixture *b = geo_setup("geoip = { country = \"country2.mmdb\"; };\n", rule);
    (void)st;

    assert_string_equal(ask(a, 1000, RCPT("192.0.2.7")), "WARN DE");
    assert_string_equal(ask(b, 1000, RCPT("192.0.2.7")), "WARN US");
    teardown(a);
    teardown(b);
}

/* errors: a rule that reads country with no database, a missing file, a file that is not a database */
static void test_load_errors(void **st)
{
    conf_errors errs = {0};
    (void)st;

    write_temp("junk.mmdb", "this is not a MaxMind database\n");
    assert_null(load_text("listen = { policy = \"unix:/tmp/x.sock\"; };\n"
                          "geoip = { asn = \"asn.mmdb\"; };\n"
                          "rules = (\n"
                          "{ name = \"c\"; on = \"smtp:RCPT\"; if = { country = \"DE\"; }; action = \"REJECT\"; }\n"
                          ");\n",
                          &errs));
    assert_true(has_error(&errs, 4, "country needs geoip"));
    conf_errors_free(&errs);

    assert_null(load_text("listen = { policy = \"unix:/tmp/x.sock\"; };\n"
                          "geoip = {\n  country = \"missing.mmdb\";\n  asn = \"junk.mmdb\";\n};\n"
                          "rules = ();\n",
                          &errs));
    assert_true(has_error(&errs, 3, "geoip.country"));
    assert_true(has_error(&errs, 3, "missing.mmdb"));
    assert_true(has_error(&errs, 4, "geoip.asn"));
    conf_errors_free(&errs);

    assert_null(load_text("listen = { policy = \"unix:/tmp/x.sock\"; };\n"
                          "geoip = { city = \"country.mmdb\"; };\nrules = ();\n",
                          &errs));
    assert_true(has_error(&errs, 2, "city"));
    conf_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_country_key),
        cmocka_unit_test(test_one_lookup_per_request),
        cmocka_unit_test(test_reload_swaps_database),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, make_databases, NULL);
}
