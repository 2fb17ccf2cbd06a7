/*
 * test_bancheck - the bans section and trusted as an admin writes them, and the engine's ban check as a
 * client meets it: every request kind refused before any rule, trusted never, reports answered
 */
#include "engine_fixture.h"

#include "ban.h"
#include "trusted.h"

#define T0 1700000000000ULL /* ms: the fixture's clock is wall time */

/* setup_text - a fixture from a whole configuration (LISTEN is added), with a ban index */
static fixture *setup_text(const char *text)
{
    return with_bans(setup_conf(text));
}

/* ban - ban text (an address, a network) from T0 for secs (0: for ever) */
static void ban(fixture *f, const char *text, uint64_t secs, const char *reason, const char *rule)
{
    ban_rec r;
    const char *why;

    assert_int_equal(ban_parse(text, &r, &why), 0);
    r.since = T0 / 1000;
    r.expires = secs ? T0 / 1000 + secs : 0;
    r.reason = reason;
    r.rule = rule;
    r.times = 1;
    assert_true(ban_add(f->eng.bans, &r) >= 0);
}

/* errors: FILE:LINE, unknown members, bad values */
static void conf_errors_named(void **st)
{
    static const struct {
        const char *label, *text;
        int line;
        const char *want;
    } cases[] = {
        {"unknown member", "bans = {\n  actoin = \"REJECT\";\n};\n", 2, "actoin"},
        {"bad action", "bans = {\n  action = \"FROB x\";\n};\n", 2, "bans.action"},
        {"unknown $var", "bans = {\n  action = \"REJECT $nope\";\n};\n", 2, "bans.action"},
        {"bad format", "bans = {\n  export = { format = \"pf\"; path = \"x\"; };\n};\n", 2, "bans.export.format"},
        {"export without path", "bans = {\n  export = { format = \"nft\"; };\n};\n", 2, "bans.export.path"},
        {"export unknown", "bans = {\n  export = { format = \"nft\"; path = \"x\"; mode = 1; };\n};\n", 2, "mode"},
        {"hook not a list", "bans = {\n  on_ban = \"/bin/true\";\n};\n", 2, "bans.on_ban"},
        {"hook empty", "bans = {\n  on_unban = [];\n};\n", 2, "bans.on_unban"},
        {"hooks_max", "bans = {\n  hooks_max = 0;\n};\n", 2, "hooks_max"},
        {"hooks_timeout too short", "bans = {\n  hooks_timeout = \"10ms\";\n};\n", 2, "hooks_timeout"},
        {"hooks_timeout not a duration", "bans = {\n  hooks_timeout = \"soon\";\n};\n", 2, "hooks_timeout"},
        {"trusted not an address", "trusted = [\"127.0.0.1\",\n  \"example.org\"];\n", 2, "trusted"},
        {"trusted bad prefix", "trusted = [\"10.0.0.0/33\"];\n", 1, "trusted"},
        {"trusted unknown list", "bans = {\n  trusted = [\"@nope\"];\n};\n", 2, "nope"},
        {"bans not a group", "bans = 5;\n", 1, "bans"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conf_errors errs = {0};
        char text[1024];
        snprintf(text, sizeof text, LISTEN "%s", cases[i].text);
        fg_conf *c = load_text(text, &errs);
        if (c || !has_error(&errs, cases[i].line + 1, cases[i].want)) {
            dump_errors(&errs);
            fail_msg("%s: want an error at line %d naming %s", cases[i].label, cases[i].line + 1, cases[i].want);
        }
        conf_errors_free(&errs);
    }
}

/* the section as written lands in fg_conf.bans; defaults without it */
static void conf_values(void **st)
{
    conf_errors errs = {0};
    (void)st;

    fg_conf *c = load_text(LISTEN "rules = ();\n", &errs);
    assert_non_null(c);
    assert_string_equal(c->bans.action, CONF_BANS_ACTION_DEFAULT);
    assert_null(c->bans.export_format);
    assert_null(c->bans.on_ban);
    assert_int_equal(c->bans.hooks_max, CONF_BANS_HOOKS_MAX_DEFAULT);
    assert_int_equal(c->bans.hooks_timeout_ms, 30000);
    conf_free(c);

    c = load_text(LISTEN "bans = { action = \"554 5.7.1 Go away ($reason, until $expires)\";\n"
                         "  export = { format = \"ipset\"; path = \"bans.ipset\"; };\n"
                         "  on_ban = [\"/usr/local/bin/tell\", \"$address\", \"banned for $reason\"];\n"
                         "  on_unban = (\"/bin/true\");\n"
                         "  hooks_max = 2; hooks_timeout = \"5m\"; };\n",
                  &errs);
    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    assert_string_equal(c->bans.action, "554 5.7.1 Go away ($reason, until $expires)");
    assert_string_equal(c->bans.export_format, "ipset");
    assert_non_null(strstr(c->bans.export_path, "/bans.ipset"));
    assert_true(c->bans.export_path[0] == '/');
    assert_int_equal(c->bans.non_ban, 3);
    assert_string_equal(c->bans.on_ban[2], "banned for $reason");
    assert_null(c->bans.on_ban[3]);
    assert_int_equal(c->bans.non_unban, 1);
    assert_int_equal(c->bans.hooks_max, 2);
    assert_int_equal(c->bans.hooks_timeout_ms, 300000);
    conf_free(c);
}

/* top-level trusted and bans.trusted make one list, with @lists; loopback always */
static void trusted_merged(void **st)
{
    conf_errors errs = {0};
    fg_addr a;
    static const struct {
        const char *ip;
        int want;
    } cases[] = {
        {"127.0.0.1", 1}, {"127.9.9.9", 1}, {"::1", 1}, {"::ffff:127.0.0.1", 1},
        {"192.0.2.5", 1},                       /* top level */
        {"198.51.100.77", 1},                   /* bans.trusted */
        {"203.0.113.9", 1},                     /* @list */
        {"2001:db8:5::1", 1},                   /* @list, v6 */
        {"192.0.2.6", 0}, {"198.51.101.1", 0}, {"2001:db8:6::1", 0}, {"10.1.1.1", 0},
    };
    (void)st;

    write_temp("nets", "# trusted networks\n203.0.113.0/24\n2001:db8:5::/48\n");
    fg_conf *c = load_text(LISTEN "lists = { nets = \"nets\"; };\n"
                                  "trusted = [\"192.0.2.5\", \"@nets\"];\n"
                                  "bans = { trusted = [\"198.51.100.0/24\"]; };\n",
                           &errs);
    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(addr_parse(cases[i].ip, strlen(cases[i].ip), &a), 0);
        if (ruleset_trusted(c->rules, &a) != cases[i].want)
            fail_msg("%s: trusted should be %d", cases[i].ip, cases[i].want);
    }
    /* networks: a ban that would reach a trusted address */
    fg_cidr n;
    const char *why;
    static const struct {
        const char *net;
        int want;
    } nets[] = {
        {"192.0.2.0/24", 1}, {"192.0.2.5", 1}, {"192.0.2.6", 0}, {"198.51.0.0/16", 1}, {"198.51.100.9", 1},
        {"127.0.0.0/8", 1}, {"0.0.0.0/0", 1}, {"203.0.113.128/25", 1}, {"2001:db8::/32", 1}, {"2001:db8:6::/48", 0},
        {"10.0.0.0/8", 0},
    };
    for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++) {
        assert_int_equal(cidr_parse(nets[i].net, &n, &why), 0);
        if (ruleset_trusted_net(c->rules, &n.net, n.prefix) != nets[i].want)
            fail_msg("%s: trusted_net should be %d", nets[i].net, nets[i].want);
    }
    conf_free(c);
}

/* greylisting never greylists the top-level trusted; a greylist rule's own trusted adds to it */
static void greylist_trusted(void **st)
{
    fixture *f = setup_text("trusted = [\"192.0.2.0/24\"];\n"
                            "rules = ( { name = \"grey\"; on = \"smtp:RCPT\";\n"
                            "  greylist = { delay = \"5m\"; trusted = [\"198.51.100.1\"]; }; } );\n");
    static const char *const tmpl = "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
                                    "sender=joe@example.org\nrecipient=ann@example.com";
    char r[512];
    (void)st;

    snprintf(r, sizeof r, tmpl, "192.0.2.44");
    assert_string_equal(ask(f, T0, r), "DUNNO");
    snprintf(r, sizeof r, tmpl, "198.51.100.1");
    assert_string_equal(ask(f, T0, r), "DUNNO");
    snprintf(r, sizeof r, tmpl, "127.0.0.1");
    assert_string_equal(ask(f, T0, r), "DUNNO");
    snprintf(r, sizeof r, tmpl, "198.51.100.2");
    assert_true(!strncmp(ask(f, T0, r), "DEFER_IF_PERMIT 4.2.0 Greylisted", 32));
    teardown(f);
}

#define ALLOW_ALL "rules = ( { name = \"pass\"; on = [\"smtp\", \"auth\", \"http\", \"imap\", \"report\", \"loiter\", " \
                  "\"contact\", \"scan\"]; action = \"OK\"; } );\n"

/* every request kind from a banned address or network is refused before any rule; outside it is not */
static void refused_every_kind(void **st)
{
    fixture *f = setup_text("trusted = [\"192.0.2.10\"];\n" ALLOW_ALL);
    static const struct {
        const char *label, *req, *want;
    } cases[] = {
        {"smtp, banned /32", "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=198.51.100.7",
         "REJECT 5.7.1 Banned: too many failures"},
        {"auth, in the /24", "request=auth\nclient_address=192.0.2.99\nusername=joe",
         "REJECT 5.7.1 Banned: scan"},
        {"http, in the v6 /64", "request=http\nclient_address=2001:db8:1::99\nmethod=GET\nuri=/",
         "REJECT 5.7.1 Banned: v6 net"},
        {"imap, v4-mapped", "request=imap\nclient_address=::ffff:198.51.100.7\nusername=joe\ncommand=LOGIN",
         "REJECT 5.7.1 Banned: too many failures"},
        {"loiter", "request=loiter\nclient_address=192.0.2.1\nprotocol=smtp", "REJECT 5.7.1 Banned: scan"},
        {"contact", "request=contact\nclient_address=192.0.2.1\nemail=a@b.c", "REJECT 5.7.1 Banned: scan"},
        {"scan", "request=scan\nclient_address=192.0.2.1\nsender=a@b.c", "REJECT 5.7.1 Banned: scan"},
        {"report: answered as usual", "request=report\nevent=auth_failure\nclient_address=198.51.100.7", "OK"},
        {"trusted inside the banned /24", "request=auth\nclient_address=192.0.2.10\nusername=joe", "OK"},
        {"loopback", "request=auth\nclient_address=127.0.0.1\nusername=joe", "OK"},
        {"outside", "request=auth\nclient_address=198.51.100.8\nusername=joe", "OK"},
        {"outside v6", "request=http\nclient_address=2001:db8:2::1\nmethod=GET\nuri=/", "OK"},
        {"no address", "request=auth\nusername=joe", "OK"},
    };
    (void)st;

    ban(f, "198.51.100.7", 3600, "too many failures", "auth");
    ban(f, "192.0.2.0/24", 0, NULL, "scan");
    ban(f, "2001:db8:1::/64", 600, "v6 net", NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = ask(f, T0 + 1000, cases[i].req);
        if (strcmp(got, cases[i].want))
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].label, got, cases[i].want);
    }
    assert_int_equal(f->eng.stats.ban_refused, 7);
    /* an unban holds from the next request on */
    ban_rec k;
    const char *why;
    ban_parse("192.0.2.0/24", &k, &why);
    assert_int_equal(ban_remove(f->eng.bans, &k), 0);
    assert_string_equal(ask(f, T0 + 2000, "request=auth\nclient_address=192.0.2.99\nusername=joe"), "OK");
    /* expiry holds at once, before ban_expire runs */
    assert_string_equal(ask(f, T0 + 3600 * 1000, cases[0].req), "OK");
    teardown(f);
}

/* the reply's retry_after and reason; $reason and $expires in bans.action; a forever ban has no retry */
static void action_fields(void **st)
{
    fixture *f = setup_text("bans = { action = \"DEFER 4.7.1 Blocked ($reason) until $expires\"; };\n" ALLOW_ALL);
    (void)st;

    ban(f, "198.51.100.7", 3600, "brute force", "auth");
    ban(f, "198.51.100.8", 0, NULL, NULL);
    assert_string_equal(ask(f, T0 + 100 * 1000, "request=auth\nclient_address=198.51.100.7"),
                        "DEFER 4.7.1 Blocked (brute force) until 2023-11-14T23:13:20Z");
    assert_int_equal(f->ev.v.retry_s, 3500);
    assert_string_equal(f->ev.v.reason, "brute force");
    assert_true(f->ev.v.refused);
    assert_int_equal(f->ev.v.kind, VERDICT_BAN);
    assert_string_equal(ask(f, T0, "request=auth\nclient_address=198.51.100.8"),
                        "DEFER 4.7.1 Blocked (banned) until never");
    assert_int_equal(f->ev.v.retry_s, 0);
    assert_string_equal(f->ev.v.reason, "banned");
    teardown(f);
}


/* REVIEW: $retry_after in bans.action is the ban's time left, as the reply's retry_after= line says */
static void action_retry_after(void **st)
{
    fixture *f = setup_text("bans = { action = \"DEFER 4.7.1 Banned, retry in $retry_after s\"; };\n" ALLOW_ALL);
    (void)st;

    ban(f, "198.51.100.7", 3600, "brute force", "auth");
    const char *a = ask(f, T0 + 100 * 1000, "request=auth\nclient_address=198.51.100.7");
    assert_int_equal(f->ev.v.retry_s, 3500);
    assert_string_equal(a, "DEFER 4.7.1 Banned, retry in 3500 s");
    teardown(f);
}

/* a username ban refuses requests carrying that login (username or sasl_username), in any case */
static void username_bans(void **st)
{
    fixture *f = setup_text(ALLOW_ALL);
    ban_rec u;
    (void)st;

    assert_int_equal(ban_user("joe@example.org", 15, &u), 0);
    u.reason = "stolen password";
    u.expires = T0 / 1000 + 60;
    ban_add(f->eng.bans, &u);
    assert_string_equal(ask(f, T0, "request=auth\nclient_address=192.0.2.1\nusername=Joe@Example.org"),
                        "REJECT 5.7.1 Banned: stolen password");
    assert_string_equal(ask(f, T0, "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\n"
                                   "sasl_username=joe@example.org"),
                        "REJECT 5.7.1 Banned: stolen password");
    assert_string_equal(ask(f, T0, "request=auth\nclient_address=192.0.2.1\nusername=ann@example.org"), "OK");
    assert_string_equal(ask(f, T0, "request=auth\nclient_address=192.0.2.1"), "OK");
    /* a trusted address is never refused, even with a banned login */
    assert_string_equal(ask(f, T0, "request=auth\nclient_address=127.0.0.1\nusername=joe@example.org"), "OK");
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_errors_named),
        cmocka_unit_test(conf_values),
        cmocka_unit_test(trusted_merged),
        cmocka_unit_test(greylist_trusted),
        cmocka_unit_test(refused_every_kind),
        cmocka_unit_test(action_fields),
        cmocka_unit_test(username_bans),
        cmocka_unit_test(action_retry_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
