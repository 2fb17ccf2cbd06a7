/*
 * test_rule - loading rules: every condition kind, every error with its line
 */
#include "testutil.h"

#include "rule.h"

#define LISTEN "listen = { policy = \"unix:/tmp/x.sock\"; };\n"

/* first_match - name of the first rule whose selector and conditions hold, "" if none */
static const char *first_match(ruleset *rs, fg_request *req)
{
    for (unsigned i = 0; i < rs->n; i++) {
        rule *r = &rs->rules[i];
        if (rule_applies(r, req) && cond_set_match(&r->ifs, req, rs->rx) == COND_TRUE &&
            !(r->unless.n && cond_set_match(&r->unless, req, rs->rx) == COND_TRUE))
            return r->name;
    }
    return "";
}

static const char *match_rules =
    LISTEN
    "rules = (\n"
    "  { name = \"exact\"; on = \"smtp:RCPT\"; if = { sender = \"Joe@Example.org\"; }; action = \"REJECT\"; },\n"
    "  { name = \"regex\"; on = \"smtp:HELO\"; if = { helo_name = \"/^\\\\[?[0-9.]+\\\\]?$/\"; }; action = \"REJECT\"; },\n"
    "  { name = \"cidr4\"; on = \"smtp:RCPT\"; if = { client_address = \"10.0.0.0/8\"; }; action = \"OK\"; },\n"
    "  { name = \"cidr6\"; on = \"smtp:RCPT\"; if = { client_address = \"2001:db8::/32\"; }; action = \"OK\"; },\n"
    "  { name = \"bigmsg\"; on = \"smtp:RCPT\"; if = { size = \">1000000\"; }; action = \"REJECT too big\"; },\n"
    "  { name = \"exactnum\"; on = \"smtp:RCPT\"; if = { recipient_count = 7; }; action = \"DUNNO\"; },\n"
    "  { name = \"notdomain\"; on = \"smtp:MAIL\"; if = { sender_domain = \"!example.com\"; }; action = \"WARN\"; },\n"
    "  { name = \"alts\"; on = [\"auth\", \"imap:LOGIN\"]; if = { username = [\"root\", \"/^admin/i\"]; };\n"
    "    unless = { client_address = \"192.168.0.0/16\"; protocol = \"imap\"; }; action = \"REJECT\"; },\n"
    "  { name = \"report\"; on = \"report:auth_failure\"; action = \"DUNNO\"; },\n"
    "  { name = \"anyhttp\"; on = \"http\"; if = { uri = \"/^\\\\/wp-login/\"; }; action = \"REJECT\"; }\n"
    ");\n";

static void test_every_condition_kind(void **st)
{
    static const struct { const char *label, *req, *want; } cases[] = {
        {"exact is case-insensitive", "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=joe@example.ORG", "exact"},
        {"exact needs all of it", "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=joe@example.org.uk", ""},
        {"regex", "request=smtpd_access_policy\nprotocol_state=EHLO\nhelo_name=[192.0.2.1]", "regex"},
        {"regex no match", "request=smtpd_access_policy\nprotocol_state=HELO\nhelo_name=mx.example.org", ""},
        {"HELO selects EHLO too", "request=smtpd_access_policy\nprotocol_state=EHLO\nhelo_name=1.2.3.4", "regex"},
        {"cidr v4", "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=10.1.2.3", "cidr4"},
        {"cidr v4 outside", "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=11.1.2.3", ""},
        {"cidr v6", "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=2001:DB8:0:1::7", "cidr6"},
        {"cidr v4-mapped v6", "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=::ffff:10.9.9.9", "cidr4"},
        {"numeric >", "request=smtpd_access_policy\nprotocol_state=RCPT\nsize=1000001", "bigmsg"},
        {"numeric not >", "request=smtpd_access_policy\nprotocol_state=RCPT\nsize=1000000", ""},
        {"numeric not a number", "request=smtpd_access_policy\nprotocol_state=RCPT\nsize=lots", ""},
        {"numeric =", "request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient_count=7", "exactnum"},
        {"negation holds", "request=smtpd_access_policy\nprotocol_state=MAIL\nsender=a@example.net", "notdomain"},
        {"negation fails", "request=smtpd_access_policy\nprotocol_state=MAIL\nsender=a@EXAMPLE.com", ""},
        {"alternatives first", "request=auth\nusername=root\nclient_address=192.0.2.1\nprotocol=imap", "alts"},
        {"alternatives regex /i", "request=imap\ncommand=LOGIN\nusername=ADMINistrator", "alts"},
        {"unless vetoes when all hold", "request=auth\nusername=root\nclient_address=192.168.1.1\nprotocol=imap", ""},
        {"unless needs all", "request=auth\nusername=root\nclient_address=192.168.1.1\nprotocol=pop3", "alts"},
        {"imap other command", "request=imap\ncommand=SELECT\nusername=root", ""},
        {"report event", "request=report\nevent=auth_failure\nclient_address=192.0.2.1", "report"},
        {"report other event", "request=report\nevent=auth_success", ""},
        {"http", "request=http\nuri=/wp-login.php\nmethod=POST", "anyhttp"},
        {"kind must match", "request=scan\nsender=joe@example.org", ""},
    };
    conf_errors errs = {0};
    fg_conf *c = load_text(match_rules, &errs);
    char buf[1024];
    fg_request req;
    (void)st;

    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_req(buf, sizeof buf, cases[i].req, &req);
        const char *got = first_match(c->rules, &req);
        if (strcmp(got, cases[i].want))
            fail_msg("%s: got rule \"%s\", want \"%s\"", cases[i].label, got, cases[i].want);
    }
    conf_free(c);
}

static void test_limits_and_keys(void **st)
{
    conf_errors errs = {0};
    fg_conf *c = load_text(LISTEN "rules = (\n"
                           "  { name = \"r\"; on = \"smtp:RCPT\";\n"
                           "    limit = { key = [\"client_address/24\", \"sender\"]; count = 5; per = \"10m\"; buckets = 20; }; },\n"
                           "  { name = \"six\"; on = \"auth\"; limit = { key = \"client_address/56\"; count = 1; per = 60; }; },\n"
                           "  { name = \"both\"; on = \"http\"; limit = { key = \"client_address/16/48\"; count = 1; per = \"1s\"; }; }\n"
                           ");\n",
                           &errs);
    (void)st;
    if (!c)
        dump_errors(&errs);
    assert_non_null(c);
    rule *r = &c->rules->rules[0];
    assert_int_equal(r->has_limit, 1);
    assert_int_equal(r->nkeys, 2);
    assert_int_equal(r->keys[0].v4, 24);
    assert_int_equal(r->keys[0].v6, 64);
    assert_int_equal(r->win.count, 5);
    assert_int_equal(r->win.per_ms, 600000);
    assert_int_equal(r->win.k, 20);
    assert_int_equal(r->cls, 2);
    /* a limit without action gets a temporary refusal by default */
    assert_true(r->action.denies);
    assert_non_null(strstr(r->action.source, "DEFER_IF_PERMIT"));
    r = &c->rules->rules[1];
    assert_int_equal(r->keys[0].v4, 32);
    assert_int_equal(r->keys[0].v6, 56);
    assert_int_equal(r->win.per_ms, 60000);
    assert_int_equal(r->cls, 5);
    r = &c->rules->rules[2];
    assert_int_equal(r->keys[0].v4, 16);
    assert_int_equal(r->keys[0].v6, 48);
    conf_free(c);
}

/* every error names its line, and one bad rule means no rule set at all */
static void test_errors_with_lines(void **st)
{
    static const struct { const char *label, *rules; int line; const char *needle; } cases[] = {
        {"syntax", "  { name = \"a\"; on = ; action = \"OK\"; }\n", 3, "syntax error"},
        {"no name", "  { on = \"smtp\"; action = \"OK\"; }\n", 3, "needs name"},
        {"bad name", "  { name = \"a b\"; on = \"smtp\"; action = \"OK\"; }\n", 3, "needs name"},
        {"no on", "  { name = \"a\"; action = \"OK\"; }\n", 3, "needs on"},
        {"bad kind", "  { name = \"a\";\n    on = \"smtpx:RCPT\"; action = \"OK\"; }\n", 4, "unknown request kind"},
        {"bad state", "  { name = \"a\"; on = \"smtp:RCTP\"; action = \"OK\"; }\n", 3, "unknown SMTP state"},
        {"bad regex", "  { name = \"a\"; on = \"smtp\";\n    if = { helo_name = \"/[a-/\"; }; action = \"OK\"; }\n", 4, "bad regex"},
        {"bad regex flag", "  { name = \"a\"; on = \"smtp\"; if = { helo_name = \"/a/q\"; }; action = \"OK\"; }\n", 3, "regex flag"},
        {"bad cidr prefix", "  { name = \"a\"; on = \"smtp\"; if = { client_address = \"10.0.0.0/33\"; }; action = \"OK\"; }\n", 3, "client_address"},
        {"bad compare", "  { name = \"a\"; on = \"smtp\"; if = { size = \">lots\"; }; action = \"OK\"; }\n", 3, "size"},
        {"unknown attribute", "  { name = \"a\"; on = \"smtp\"; if = { sendr = \"x\"; }; action = \"OK\"; }\n", 3, "unknown attribute \"sendr\""},
        {"unknown setting", "  { name = \"a\"; on = \"smtp\"; acton = \"OK\"; }\n", 3, "unknown setting \"acton\""},
        {"no action, no limit", "  { name = \"a\"; on = \"smtp\"; }\n", 3, "needs an action, a limit or a greylist"},
        {"bad action", "  { name = \"a\"; on = \"smtp\"; action = \"BLOCK\"; }\n", 3, "unknown action"},
        {"bad variable", "  { name = \"a\"; on = \"smtp\"; action = \"REJECT $sendr\"; }\n", 3, "unknown $attribute"},
        {"limit without key", "  { name = \"a\"; on = \"smtp\";\n    limit = { count = 1; per = \"1m\"; }; }\n", 4, "needs a key"},
        {"limit zero count", "  { name = \"a\"; on = \"smtp\"; limit = { key = \"sender\"; count = 0; per = \"1m\"; }; }\n", 3, "count"},
        {"limit bad per", "  { name = \"a\"; on = \"smtp\"; limit = { key = \"sender\"; count = 1;\n    per = \"1y\"; }; }\n", 4, "limit.per"},
        {"limit bad buckets", "  { name = \"a\"; on = \"smtp\"; limit = { key = \"sender\"; count = 1; per = \"1m\"; buckets = 0; }; }\n", 3, "buckets"},
        {"rates not COUNT/DURATION", "  { name = \"a\"; on = \"smtp\";\n    limit = { key = \"sender\";\n    rates = [\"10/1m\", \"100\"]; }; }\n", 5, "\"100\" is not COUNT/DURATION"},
        {"rates and count", "  { name = \"a\"; on = \"smtp\";\n    limit = { key = \"sender\"; count = 1;\n    rates = [\"10/1m\"]; }; }\n", 5, "rates or count and per"},
        {"rates twice one window", "  { name = \"a\"; on = \"smtp\"; limit = { key = \"sender\"; rates = [\"10/60s\", \"20/1m\"]; }; }\n", 3, "same window"},
        {"too many rates", "  { name = \"a\"; on = \"smtp\"; limit = { key = \"sender\"; rates = [\"1/1s\", \"2/2s\", \"3/3s\", \"4/4s\", \"5/5s\"]; }; }\n", 3, "1 to 4 rates"},
        {"dry_run not a boolean", "  { name = \"a\"; on = \"smtp\"; action = \"OK\";\n    dry_run = \"yes\"; }\n", 4, "dry_run is true or false"},
        {"prefix on a non-address", "  { name = \"a\"; on = \"smtp\"; limit = { key = \"sender/24\"; count = 1; per = \"1m\"; }; }\n", 3, "only an address"},
        {"duplicate name", "  { name = \"a\"; on = \"smtp\"; action = \"OK\"; },\n  { name = \"a\"; on = \"smtp\"; action = \"OK\"; }\n", 4, "already used"},
        {"greylist window", "  { name = \"a\"; on = \"smtp\"; greylist = { delay = \"1h\"; retry_window = \"30m\"; }; }\n", 3, "longer than delay"},
        {"greylist bad delay", "  { name = \"a\"; on = \"smtp\";\n    greylist = { delay = \"soon\"; }; }\n", 4, "greylist.delay"},
        {"greylist unknown", "  { name = \"a\"; on = \"smtp\"; greylist = { dealy = \"5m\"; }; }\n", 3, "unknown setting \"dealy\""},
        {"greylist and limit", "  { name = \"a\"; on = \"smtp\"; greylist = { }; limit = { key = \"sender\"; count = 1; per = 60; }; }\n", 3, "not both"},
        {"greylist bad network", "  { name = \"a\"; on = \"smtp\"; greylist = { network = 40; }; }\n", 3, "greylist.network"},
        {"unknown list", "  { name = \"a\"; on = \"smtp\"; if = { sender = \"@spam\"; }; action = \"OK\"; }\n", 3, "no list named \"spam\""},
        {"bad on_error", "  { name = \"a\"; on = \"smtp\";\n    on_error = \"maybe\"; action = \"OK\"; }\n", 4, "on_error: \"tempfail\" or \"allow\""},
        {"list value without its list", "  { name = \"a\"; on = \"smtp\"; action = \"REJECT ${list:spam}\"; }\n", 3, "${list:spam}"},
        {"tarpit without seconds", "  { name = \"a\"; on = \"auth\"; action = \"TARPIT soon\"; }\n", 3, "TARPIT needs a number"},
    };
    char text[2048];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conf_errors errs = {0};
        snprintf(text, sizeof text, LISTEN "rules = (\n%s);\n", cases[i].rules);
        fg_conf *c = load_text(text, &errs);
        if (c)
            fail_msg("%s: loaded, want an error", cases[i].label);
        if (!has_error(&errs, cases[i].line, cases[i].needle)) {
            dump_errors(&errs);
            fail_msg("%s: no error at line %d mentioning \"%s\"", cases[i].label, cases[i].line, cases[i].needle);
        }
        /* the message starts with the file's path */
        assert_non_null(strstr(errs.msgs[0], "floodgate.conf:"));
        conf_errors_free(&errs);
    }
}

/* the shipped rule files for nginx and Dovecot load when included in a rules list */
static void test_shipped_rule_files(void **st)
{
    static const struct { const char *file; unsigned rules; } files[] = {{"nginx.rules", 3}, {"dovecot.rules", 6}};
    char path[512], text[8192], conf[256];
    (void)st;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        conf_errors errs = {0};
        snprintf(path, sizeof path, "%s/../../rules/%s", getenv("FG_TESTDATA") ? getenv("FG_TESTDATA") : ".",
                 files[i].file);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = '\0';
        /* libconfig reads @include beside the configuration: a copy goes there */
        write_temp(files[i].file, text);
        snprintf(conf, sizeof conf, LISTEN "rules = (\n@include \"%s\"\n);\n", files[i].file);
        fg_conf *c = load_text(conf, &errs);
        if (!c)
            dump_errors(&errs);
        assert_non_null(c);
        assert_int_equal(c->rules->n, files[i].rules);
        conf_free(c);
    }
}

/* listen.http: loopback TCP or a Unix socket; anything else is refused with its line */
static void test_listen_http(void **st)
{
    static const struct { const char *value; const char *want; } cases[] = {
        {"tcp:127.0.0.1:10041", "tcp:127.0.0.1:10041"},
        {"tcp:127.1.2.3:80", "tcp:127.1.2.3:80"},
        {"tcp:[::1]:10041", "tcp:[::1]:10041"},
        {"unix:/run/floodgate/http.sock", "unix:/run/floodgate/http.sock"},
        {"tcp:0.0.0.0:10041", NULL},
        {"tcp:192.0.2.1:10041", NULL},
        {"tcp:[::]:10041", NULL},
        {"tcp:localhost:10041", NULL},
        {"tcp:10041", NULL},
        {"http://127.0.0.1:10041/", NULL},
        {"unix:", NULL},
    };
    char text[512];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conf_errors errs = {0};
        snprintf(text, sizeof text, "listen = { policy = \"unix:/tmp/x.sock\";\n  http = \"%s\"; };\n", cases[i].value);
        fg_conf *c = load_text(text, &errs);
        if (cases[i].want) {
            if (!c)
                dump_errors(&errs);
            assert_non_null(c);
            assert_string_equal(c->listen.http, cases[i].want);
            assert_int_equal(c->listen.http_max_connections, CONF_HTTP_MAX_CONNECTIONS_DEFAULT);
            conf_free(c);
        } else {
            if (c)
                fail_msg("listen.http = \"%s\": loaded, want an error", cases[i].value);
            assert_true(has_error(&errs, 2, "listen.http"));
        }
        conf_errors_free(&errs);
    }
}

/* several problems are all reported at once */
static void test_all_errors_reported(void **st)
{
    conf_errors errs = {0};
    fg_conf *c = load_text(LISTEN "rules = (\n"
                           "  { name = \"a\"; on = \"smtp:XX\"; action = \"OK\"; },\n"
                           "  { name = \"b\"; on = \"smtp\"; action = \"NOPE\"; },\n"
                           "  { name = \"c\"; on = \"smtp\"; if = { size = \">x\"; }; action = \"OK\"; }\n"
                           ");\n",
                           &errs);
    (void)st;
    assert_null(c);
    assert_true(has_error(&errs, 3, "SMTP state"));
    assert_true(has_error(&errs, 4, "unknown action"));
    assert_true(has_error(&errs, 5, "size"));
    conf_errors_free(&errs);
}

/* want_refused - the file `text` does not load, and an error at `line` mentions `needle` */
static void want_refused(const char *label, const char *text, int line, const char *needle)
{
    conf_errors errs = {0};
    fg_conf *c = load_text(text, &errs);

    if (c)
        fail_msg("%s: loaded, want an error", label);
    if (!has_error(&errs, line, needle)) {
        dump_errors(&errs);
        fail_msg("%s: no error at line %d mentioning \"%s\"", label, line, needle);
    }
    conf_errors_free(&errs);
}

/* a list ( ... ) or an array [ ... ] where a group { ... } belongs is an error naming the line, never a crash:
 * a list's elements have no names (fuzz_conf found listen = ( ... ) reaching strcmp with NULL) */
static void test_list_where_group_belongs(void **st)
{
    static const struct { const char *label, *text, *needle; } cases[] = {
        {"listen list", "\nlisten = ( \"unix:/tmp/x.sock\" );\n", "listen: must be a group"},
        {"listen array", "\nlisten = [ 1, 2 ];\n", "listen: must be a group"},
        {"store list", LISTEN "store = ( 1 );\n", "store: must be a group"},
        {"store empty list", LISTEN "store = ( );\n", "store: must be a group"},
        {"limit list", LISTEN "rules = ( { name = \"a\"; on = \"smtp\"; limit = ( 1 ); } );\n", "limit must be a group"},
        {"ban list", LISTEN "rules = ( { name = \"a\"; on = \"smtp\"; ban = ( \"x\" ); } );\n", "ban must be a group"},
        {"if list", LISTEN "rules = ( { name = \"a\"; on = \"smtp\"; if = ( \"x\" ); action = \"OK\"; } );\n",
         "must be a group"},
        {"rule list", LISTEN "rules = ( ( \"a\" ) );\n", "a rule is a group"},
        /* a rule that is no group has no name: the next rule's duplicate-name check compared it (strcmp NULL) */
        {"scalar then rule", LISTEN "rules = ( 1, { name = \"a\"; on = \"smtp\"; action = \"OK\"; } );\n",
         "a rule is a group"},
        {"list then rule", LISTEN "rules = ( ( 1 ), { name = \"a\"; on = \"smtp\"; action = \"OK\"; } );\n",
         "a rule is a group"},
    };
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        want_refused(cases[i].label, cases[i].text, 2, cases[i].needle);
}

/* a setting of the wrong type ("24" for 24, 1 for "PATH") is an error naming it and its line: each was left out
 * without a word (a snapshot = 1 kept no state, a network = "24" greylisted by the default /24) */
static void test_wrong_type_is_an_error(void **st)
{
#define GREY(x) LISTEN "rules = ( { name = \"g\"; on = \"smtp:RCPT\";\n greylist = { " x " }; } );\n"
#define LIMIT(x) LISTEN "rules = ( { name = \"l\"; on = \"smtp:RCPT\";\n limit = { key = \"sender\"; count = 5; " \
                 "per = \"1h\"; " x " }; } );\n"
    static const struct { const char *label, *text; int line; const char *needle; } cases[] = {
        {"listen.control", "listen = { policy = \"unix:/tmp/x.sock\";\n control = 1; };\n", 2, "listen.control: expected a string"},
        {"listen.http", "listen = { policy = \"unix:/tmp/x.sock\";\n http = true; };\n", 2, "listen.http: expected a string"},
        {"listen.group", "listen = { policy = \"unix:/tmp/x.sock\";\n group = 0; };\n", 2, "listen.group: expected a string"},
        {"listen.control_group", "listen = { policy = \"unix:/tmp/x.sock\";\n control_group = 0; };\n", 2,
         "listen.control_group: expected a string"},
        {"store.snapshot", LISTEN "store = {\n snapshot = 1; };\n", 3, "store.snapshot: expected a string"},
        {"store.type", LISTEN "store = {\n type = 2; };\n", 3, "store.type: expected a string"},
        {"store.on_error", LISTEN "store = {\n on_error = false; };\n", 3, "store.on_error: expected a string"},
        {"read_from_replicas", LISTEN "store = { type = \"cluster\"; urls = [\"redis://127.0.0.1:7000\"];\n"
         " read_from_replicas = \"yes\"; };\n", 3, "store.read_from_replicas: expected true or false"},
        {"limit.buckets", LIMIT("buckets = \"10\";"), 3, "limit.buckets: expected a whole number"},
        {"greylist.network", GREY("network = \"24\";"), 3, "greylist.network: expected a whole number"},
        {"greylist.network6", GREY("network6 = 64.0;"), 3, "greylist.network6: expected a whole number"},
        {"greylist.auto_allow", GREY("auto_allow = \"5\";"), 3, "greylist.auto_allow: expected a whole number"},
        {"ban.buckets", LISTEN "rules = ( { name = \"b\"; on = \"report\";\n ban = { key = \"client_address\"; "
         "count = 5; per = \"10m\"; buckets = \"4\"; }; } );\n", 3, "ban.buckets: expected a whole number"},
        {"list type", LISTEN "lists = { l = {\n path = \"/dev/null\"; type = 1; }; };\n", 3, "type must be"},
    };
#undef GREY
#undef LIMIT
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        want_refused(cases[i].label, cases[i].text, cases[i].line, cases[i].needle);
}

/* @include works relative to the file, and errors name the included file */
static void test_include(void **st)
{
    conf_errors errs = {0};
    (void)st;

    write_temp("rules.inc", "rules = (\n  { name = \"inc\"; on = \"smtp\";\n    action = \"BAD\"; }\n);\n");
    fg_conf *c = load_text(LISTEN "@include \"rules.inc\"\n", &errs);
    assert_null(c);
    assert_true(has_error(&errs, 3, "unknown action"));
    assert_non_null(strstr(errs.msgs[0], "rules.inc:"));
    conf_errors_free(&errs);
}

/* the shipped configurations load: the default and the examples (read from their files) */
static void test_shipped_rules(void **st)
{
    static const char *const files[] = {"floodgate.conf", "postfix.conf"};
    char path[512];
    (void)st;

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        conf_errors errs = {0};
        snprintf(path, sizeof path, "%s/../../rules/%s", getenv("FG_TESTDATA") ? getenv("FG_TESTDATA") : ".", files[i]);
        fg_conf *c = conf_load(path, &errs);
        if (!c)
            dump_errors(&errs);
        assert_non_null(c);
        assert_true(c->rules->n >= 4);
        assert_non_null(listset_find(c->rules->lists, "trusted-domains"));
        conf_free(c);
    }
}

/* regex = { match_limit; depth_limit; }: checked, with their lines */
static void test_regex_limits(void **st)
{
    conf_errors errs = {0};
    (void)st;

    fg_conf *c = load_text(LISTEN "regex = { match_limit = 5000; depth_limit = 9000; };\nrules = ();\n", &errs);
    assert_non_null(c);
    assert_int_equal(c->rules->rx->match_limit, 5000);
    assert_int_equal(c->rules->rx->depth_limit, 9000);
    assert_int_equal(c->rules->rx->jit_stack, 128 * 64 * 1024);
    conf_free(c);
    assert_null(load_text(LISTEN "regex = {\n  match_limit = 5; matchlimit = 1; };\nrules = ();\n", &errs));
    assert_true(has_error(&errs, 3, "match_limit"));
    assert_true(has_error(&errs, 3, "unknown setting \"matchlimit\""));
    conf_errors_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_condition_kind),
        cmocka_unit_test(test_limits_and_keys),
        cmocka_unit_test(test_errors_with_lines),
        cmocka_unit_test(test_listen_http),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_list_where_group_belongs),
        cmocka_unit_test(test_wrong_type_is_an_error),
        cmocka_unit_test(test_include),
        cmocka_unit_test(test_shipped_rules),
        cmocka_unit_test(test_shipped_rule_files),
        cmocka_unit_test(test_regex_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
