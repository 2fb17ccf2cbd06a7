/*
 * test_shipped - the rule files rules/ ships for nginx and Dovecot decide what their comments promise, on the
 * embedded store with an injected clock (test_rule only checks that they load)
 */
#include "testutil.h"

#include "ban.h"
#include "engine_fixture.h"

#define T0 1800000000000ULL /* ms */
#define S0 (T0 / 1000)

/* shipped - a fixture (with a ban index) whose rules list includes the shipped file NAME */
static fixture *shipped(const char *name)
{
    const char *data = getenv("FG_TESTDATA");
    char path[512], text[8192], conf[256];
    conf_errors errs = {0};

    snprintf(path, sizeof path, "%s/../../rules/%s", data ? data : ".", name);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    /* libconfig reads @include beside the configuration: a copy goes there */
    write_temp(name, text);
    snprintf(conf, sizeof conf, LISTEN "rules = (\n@include \"%s\"\n);\n", name);
    return with_bans(fixture_of(load_text(conf, &errs), &errs));
}

/* refused - the action refuses (REJECT; a TARPIT is not a refusal, README) */
static int refused(const char *action)
{
    return !strncmp(action, "REJECT", 6);
}

/* passes - the action neither refuses nor slows down (a TARPIT) */
static int passes(const char *action)
{
    return !refused(action) && strncmp(action, "TARPIT", 6);
}

static const char *web(fixture *f, uint64_t t, const char *ip, const char *method, const char *uri)
{
    char req[256];

    snprintf(req, sizeof req, "request=http\nclient_address=%s\nmethod=%s\nuri=%s", ip, method, uri);
    return ask(f, t, req);
}

/* nginx.rules: 10 login POSTs per address per 10 minutes, the 11th refused; pages and GETs of the login form
 * are not logins; another address is not affected; once the window has passed, logins pass again */
static void test_nginx_login(void **st)
{
    fixture *f = shipped("nginx.rules");
    (void)st;

    for (int i = 0; i < 10; i++)
        assert_true(passes(web(f, T0 + (uint64_t)i, "192.0.2.1", "POST", i % 2 ? "/wp-login.php" : "/login")));
    assert_true(refused(web(f, T0 + 10, "192.0.2.1", "POST", "/login")));
    assert_true(refused(web(f, T0 + 11, "192.0.2.1", "POST", "/user/login?next=/")));
    /* the same address still gets pages, and may load the form */
    assert_true(passes(web(f, T0 + 12, "192.0.2.1", "GET", "/login")));
    assert_true(passes(web(f, T0 + 13, "192.0.2.1", "POST", "/comments")));
    assert_true(passes(web(f, T0 + 14, "192.0.2.2", "POST", "/login")));
    assert_true(passes(web(f, T0 + 700 * 1000, "192.0.2.1", "POST", "/login")));
    teardown(f);
}

/* nginx.rules: 600 requests a minute per address, the 601st refused, the neighbour in the /24 not; 3,000 a
 * minute for the /24 as a whole */
static void test_nginx_rate(void **st)
{
    fixture *f = shipped("nginx.rules");
    char ip[32];
    (void)st;

    for (int i = 0; i < 600; i++)
        assert_true(passes(web(f, T0 + (uint64_t)i, "198.51.100.1", "GET", "/")));
    assert_true(refused(web(f, T0 + 600, "198.51.100.1", "GET", "/img/a.png")));
    assert_true(passes(web(f, T0 + 601, "198.51.100.2", "GET", "/")));
    /* the /24: 600 from the first (its refused one did not count, nor did its 601st), 1 from .2; 2,399 more
     * from .3 to .6 pass, then the net is full for every address in it */
    int passed = 601;
    for (int a = 3; passed < 3000; a++)
        for (int i = 0; i < 600 && passed < 3000; i++, passed++) {
            snprintf(ip, sizeof ip, "198.51.100.%d", a);
            assert_true(passes(web(f, T0 + 1000 + (uint64_t)passed, ip, "GET", "/")));
        }
    assert_true(refused(web(f, T0 + 5000, "198.51.100.200", "GET", "/")));
    assert_true(passes(web(f, T0 + 5001, "198.51.101.1", "GET", "/")));
    teardown(f);
}

static const char *login(fixture *f, uint64_t t, const char *ip, const char *user, const char *pwhash)
{
    char req[256];

    snprintf(req, sizeof req, "request=auth\nclient_address=%s\nusername=%s\npwhash=%s\nprotocol=imap", ip, user,
             pwhash);
    return ask(f, t, req);
}

static const char *report(fixture *f, uint64_t t, const char *ip, const char *extra)
{
    char req[256];

    snprintf(req, sizeof req, "request=report\nevent=auth_failure\nclient_address=%s\nusername=joe%s", ip, extra);
    return ask(f, t, req);
}

/* dovecot.rules: the 10th failed login reported from an address within 15 minutes bans it for an hour, and
 * then even its first login attempt is refused, another address's is not; failures read from Dovecot's log
 * by a watch (they carry watch=) are left to watch.d's rules and never ban here */
static void test_dovecot_ban(void **st)
{
    fixture *f = shipped("dovecot.rules");
    (void)st;

    for (int i = 0; i < 20; i++)
        assert_string_equal(report(f, T0 + (uint64_t)i, "192.0.2.9", "\nwatch=dovecot"), "OK");
    assert_int_equal(ban_count(f->eng.bans), 0);
    assert_true(passes(login(f, T0 + 100, "192.0.2.9", "joe", "aa")));
    for (int i = 0; i < 9; i++)
        assert_string_equal(report(f, T0 + 200 + (uint64_t)i, "192.0.2.7", ""), "OK");
    assert_true(passes(login(f, T0 + 300, "192.0.2.7", "joe", "aa")));
    assert_string_equal(report(f, T0 + 400, "192.0.2.7", ""), "OK");
    assert_int_equal(ban_count(f->eng.bans), 1);
    assert_true(refused(login(f, T0 + 500, "192.0.2.7", "joe", "aa")));
    assert_true(refused(login(f, T0 + 501, "192.0.2.7", "ann", "bb")));
    assert_true(passes(login(f, T0 + 502, "192.0.2.8", "joe", "aa")));
    /* an hour on, the ban is over */
    assert_true(passes(login(f, T0 + 3601 * 1000, "192.0.2.7", "joe", "aa")));
    teardown(f);
}

/* dovecot.rules: password spray, the 11th different login from one address in 10 minutes is refused, a login
 * already tried passes; credential stuffing, one login from a 21st address in an hour is refused */
static void test_dovecot_spray_stuffing(void **st)
{
    fixture *f = shipped("dovecot.rules");
    char user[32], ip[32];
    (void)st;

    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof user, "user%d", i);
        assert_true(passes(login(f, T0 + (uint64_t)i, "203.0.113.5", user, "aa")));
    }
    assert_true(refused(login(f, T0 + 10, "203.0.113.5", "user10", "aa")));
    assert_true(passes(login(f, T0 + 11, "203.0.113.5", "user3", "aa")));
    for (int i = 0; i < 20; i++) {
        snprintf(ip, sizeof ip, "198.51.100.%d", i + 1);
        assert_true(passes(login(f, T0 + 100 + (uint64_t)i, ip, "boss", "cc")));
    }
    assert_true(refused(login(f, T0 + 200, "198.51.100.99", "boss", "cc")));
    assert_true(passes(login(f, T0 + 201, "198.51.100.1", "boss", "cc")));
    teardown(f);
}

/* dovecot.rules: one password tried for one login over and over (a phone with a stale password, every 25 s,
 * under the 30 attempts per 10 minutes) is slowed down past 60 an hour (TARPIT 5), another password of that
 * login is not */
static void test_dovecot_same_password(void **st)
{
    fixture *f = shipped("dovecot.rules");
    (void)st;

    for (int i = 0; i < 60; i++)
        assert_true(passes(login(f, T0 + (uint64_t)i * 25000, "192.0.2.30", "phone", "5f2e")));
    assert_string_equal(login(f, T0 + 60 * 25000, "192.0.2.30", "phone", "5f2e"), "TARPIT 5 slow down, phone");
    assert_true(passes(login(f, T0 + 60 * 25000 + 1, "192.0.2.30", "phone", "77a1")));
    teardown(f);
}

/* dovecot.rules: 30 login attempts from one address in 10 minutes, right or wrong, then the 31st is refused
 * with the retry time; another address is not */
static void test_dovecot_attempts(void **st)
{
    fixture *f = shipped("dovecot.rules");
    (void)st;

    for (int i = 0; i < 30; i++)
        assert_true(passes(login(f, T0 + (uint64_t)i, "192.0.2.40", "office", i % 2 ? "aa" : "bb")));
    const char *a = login(f, T0 + 30, "192.0.2.40", "office", "aa");
    if (strncmp(a, "REJECT too many logins from 192.0.2.40, try again in ", 53))
        fail_msg("31st attempt: %s", a);
    assert_true(passes(login(f, T0 + 31, "192.0.2.41", "office", "aa")));
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nginx_login),
        cmocka_unit_test(test_nginx_rate),
        cmocka_unit_test(test_dovecot_ban),
        cmocka_unit_test(test_dovecot_spray_stuffing),
        cmocka_unit_test(test_dovecot_same_password),
        cmocka_unit_test(test_dovecot_attempts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
