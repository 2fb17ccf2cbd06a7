/*
 * test_bans_daemon - bans on the real floodgated with floodgatectl: an address, a /24 and a v6 /64 banned
 * by hand refuse policy requests from inside (every kind, with the action text, retry_after and reason)
 * and not from outside; unban holds from the next request; bans and bans --json show the fields; a
 * reload keeps the bans; trusted addresses and networks that reach them are refused; the log lines
 * and the counters of stats; a list past 10,000 bans (written by a child of the daemon) is whole for
 * --format and --follow, and no child is left behind
 *
 *     test_bans_daemon FLOODGATED FLOODGATECTL
 */
#include "daemon_util.h"

static fg_daemon d;

/* ask - one policy request on a fresh connection; the reply */
static char *ask(const char *req)
{
    return daemon_policy(&d, req);
}

/* log_text - the daemon's log so far */
static char *log_text(void)
{
    return daemon_log(&d);
}

/* wait_log - until the log holds needle (a condition, bounded) */
static void wait_log(const char *needle)
{
    for (int i = 0; i < 500 && !strstr(log_text(), needle); i++)
        poll(NULL, 0, 10);
    if (!strstr(log_text(), needle))
        fail_msg("not in the log: %s\n---\n%s", needle, log_text());
}

/* ctl - floodgatectl's output; the exit status must be want */
static char *ctl(int want, const char *args)
{
    int status;
    char *out = daemon_ctl(&d, &status, args);
    if (status != want)
        fail_msg("floodgatectl %s: exit %d, want %d:\n%s", args, status, want, out);
    return out;
}

static const char *bans_extra = ""; /* more settings of the bans section */

/* write_conf - the configuration, with more top-level trusted entries */
static void write_conf(const char *trusted)
{
    char text[2048];

    snprintf(text, sizeof text,
             "listen = { policy = \"unix:@DIR@/policy.sock\"; control = \"unix:@DIR@/control.sock\";\n"
             "           http = \"unix:@DIR@/http.sock\"; };\n"
             "trusted = [\"192.0.2.200\"%s];\n"
             "bans = { action = \"REJECT 5.7.1 Banned: $reason (until $expires)\"; trusted = [\"203.0.113.0/28\"];%s };\n"
             "rules = ( { name = \"pass\"; on = [\"smtp\", \"auth\", \"http\", \"imap\"]; action = \"OK\"; },\n"
             "          { name = \"login-fails\"; on = \"report:auth_failure\";\n"
             "            ban = { key = \"username\"; count = 1; per = \"1h\"; }; },\n"
             "          { name = \"scan-ban\"; on = \"report:scan\";\n"
             "            ban = { key = \"client_address/24\"; count = 2; per = \"1h\"; duration = \"1h\"; factor = 2.0; }; } );\n",
             trusted, bans_extra);
    daemon_write_conf(&d, text);
}

static int setup(void **st)
{
    (void)st;
    if (daemon_init(&d, d.bin, d.ctl_bin) < 0)
        return -1;
    write_conf("");
    setenv("FLOODGATE_TEST_CLOCK", "1", 1); /* debug clock steps its clock */
    daemon_start(&d);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    return daemon_cleanup(&d);
}

#define SMTP(ip) "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=" ip "\nsender=a@b.c\n\n"
#define AUTH(ip) "request=auth\nclient_address=" ip "\nusername=joe\n\n"
#define HTTP(ip) "request=http\nclient_address=" ip "\nmethod=GET\nuri=/\n\n"

/* ban an address, a /24 and a v6 /64: inside refused, outside not; then unban */
static void test_ban_unban(void **st)
{
    char *out;
    (void)st;

    out = ctl(0, "ban 192.0.2.7 2h --reason 'too many failures'");
    assert_non_null(strstr(out, "key       192.0.2.7"));
    ctl(0, "ban 198.51.100.0/24 forever --reason scan");
    ctl(0, "ban 2001:db8:1::/64");
    wait_log("event=ban net=192.0.2.7 reason=\"too many failures\" rule=manual expires=");
    wait_log("event=ban net=2001:db8:1::/64 reason=manual rule=manual expires=");

    out = ask(SMTP("192.0.2.7"));
    assert_true(!strncmp(out, "action=REJECT 5.7.1 Banned: too many failures (until 20", 55));
    out = ask(AUTH("192.0.2.7"));
    assert_true(!strncmp(out, "action=REJECT 5.7.1 Banned: too many failures", 45));
    assert_non_null(strstr(out, "\nretry_after="));
    assert_non_null(strstr(out, "\nreason=too many failures\n"));
    out = ask(AUTH("198.51.100.9"));
    assert_string_equal(out, "action=REJECT 5.7.1 Banned: scan (until never)\nreason=scan\n\n");
    assert_null(strstr(out, "retry_after"));
    out = ask(HTTP("2001:db8:1::77"));
    assert_true(!strncmp(out, "action=REJECT 5.7.1 Banned: manual (until 20", 44));
    assert_true(!strncmp(ask(HTTP("::ffff:192.0.2.7")), "action=REJECT", 13));
    /* outside */
    assert_string_equal(ask(SMTP("192.0.2.8")), "action=OK\n\n");
    assert_string_equal(ask(AUTH("198.51.101.9")), "action=OK\nreason=pass\n\n");
    assert_string_equal(ask(HTTP("2001:db8:2::1")), "action=OK\nreason=pass\n\n");

    /* unban: from the next request on */
    out = ctl(0, "unban 198.51.100.0/24");
    assert_string_equal(ask(AUTH("198.51.100.9")), "action=OK\nreason=pass\n\n");
    wait_log("event=unban net=198.51.100.0/24 reason=scan rule=manual");
    out = ctl(1, "unban 198.51.100.0/24");
    assert_non_null(strstr(out, "not banned"));
    ctl(1, "unban 198.51.100.9"); /* an address inside a banned network is not itself banned */
    ctl(0, "ban 198.51.100.0/24 1d --reason scan");

    /* a username ban: any address, any case */
    ctl(0, "ban user:Mallory@example.org 1h --reason 'stolen password'");
    assert_true(!strncmp(ask("request=auth\nclient_address=192.0.2.99\nusername=mallory@EXAMPLE.org\n\n"),
                         "action=REJECT 5.7.1 Banned: stolen password", 42));
    assert_string_equal(ask("request=auth\nclient_address=192.0.2.99\nusername=ann@example.org\n\n"),
                        "action=OK\nreason=pass\n\n");
    ctl(0, "unban user:mallory@example.org");
    /* explain names the ban, and the ban decides */
    char *ex = ctl(0, "--json explain auth client_address=192.0.2.7 username=joe");
    assert_non_null(strstr(ex, "\"ban\":\"192.0.2.7\""));
    assert_non_null(strstr(ex, "\"decides\":\"(ban)\""));
    assert_non_null(strstr(ex, "\"action\":\"REJECT 5.7.1 Banned: too many failures (until 20"));
    ex = ctl(0, "--json explain auth client_address=192.0.2.8 username=joe");
    assert_non_null(strstr(ex, "\"ban\":\"none\""));
    assert_non_null(strstr(ex, "\"decides\":\"pass\""));
    /* a refusal by a ban has its decision line, naming the ban rather than a rule */
    wait_log("decision request=auth rule=(ban) client_address=192.0.2.7");
}

/* bans: a table; --json: the fields */
static void test_listing(void **st)
{
    char *out;
    (void)st;

    out = ctl(0, "bans");
    /* the header: key, reason, rule, since, expires, times banned, in that order on the first line */
    static const char *const cols[] = {"KEY ", " REASON ", " RULE ", " SINCE ", " EXPIRES ", " TIMES\n"};
    const char *at = out, *eol = strchr(out, '\n');
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        const char *c = strstr(at, cols[i]);
        if (!c || !eol || c > eol)
            fail_msg("bans: no column %s in order on the first line:\n%s", cols[i], out);
        at = c + strlen(cols[i]) - 1;
    }
    /* a row: the key, its reason, rule manual, the date made, the end, 1 */
    const char *row = strstr(out, "\n192.0.2.7 ");
    assert_non_null(row);
    char line[256];
    snprintf(line, sizeof line, "%.*s", (int)(strchr(row + 1, '\n') - row - 1), row + 1);
    assert_non_null(strstr(line, " too many failures "));
    assert_non_null(strstr(line, " manual "));
    const char *since = strstr(line, " 20"), *until = since ? strstr(since + 1, " 20") : NULL;
    if (!since || !until || strlen(line) < 2 || strcmp(line + strlen(line) - 2, " 1"))
        fail_msg("bans: want since, expires and times 1 in \"%s\"", line);
    assert_non_null(strstr(out, "too many failures"));
    assert_non_null(strstr(out, "2001:db8:1::/64"));
    assert_non_null(strstr(out, "198.51.100.0/24"));
    out = ctl(0, "bans --json");
    assert_non_null(strstr(out, "\"network\":\"192.0.2.7\""));
    assert_non_null(strstr(out, "\"reason\":\"too many failures\""));
    assert_non_null(strstr(out, "\"since\":"));
    assert_non_null(strstr(out, "\"expires\":"));
    assert_non_null(strstr(out, "\"times\":1"));
    assert_non_null(strstr(out, "\"network\":\"2001:db8:1::/64\""));
    assert_non_null(strstr(out, "\"rule\":\"manual\""));
    /* a reason past 200 bytes is cut at a character boundary: the JSON holds no half character */
    char args[1024] = "ban 192.0.2.60 1h --reason '", *p = args + strlen(args);
    for (int i = 0; i < 67; i++, p += 3)
        memcpy(p, "\xe2\x82\xac", 3); /* 201 bytes of euro signs: 66 whole ones fit in 200 */
    strcpy(p, "'");
    ctl(0, args);
    out = ctl(0, "bans --json");
    assert_null(strstr(out, "ufffd"));
    assert_non_null(strstr(out, "\xe2\x82\xac\",\"rule\":\"manual\""));
    ctl(0, "unban 192.0.2.60");
    out = ctl(0, "stats");
    assert_non_null(strstr(out, "bans_active "));
    assert_non_null(strstr(out, "ban_refused "));
    assert_non_null(strstr(out, "bans_removed                               3"));
}

/* a reload keeps the bans; an address trusted by the new file is no longer refused, even inside a ban */
static void test_reload_keeps(void **st)
{
    char *out;
    (void)st;

    assert_true(!strncmp(ask(AUTH("198.51.100.200")), "action=REJECT", 13));
    write_conf(", \"198.51.100.200\"");
    ctl(0, "reload");
    assert_string_equal(ask(AUTH("198.51.100.200")), "action=OK\nreason=pass\n\n");
    assert_true(!strncmp(ask(AUTH("198.51.100.201")), "action=REJECT", 13));
    out = ctl(0, "bans");
    assert_non_null(strstr(out, "192.0.2.7 "));
    assert_non_null(strstr(out, "2001:db8:1::/64"));
    assert_true(!strncmp(ask(AUTH("192.0.2.7")), "action=REJECT", 13));
}

/* trusted addresses, and networks that would reach one, are refused with a clear message */
static void test_trusted_refused(void **st)
{
    static const char *const keys[] = {"127.0.0.1", "127.0.0.0/8", "::1", "192.0.2.200", "192.0.2.0/24", "203.0.113.5",
                                       "203.0.113.0/24", "0.0.0.0/0"};
    char args[128];
    (void)st;

    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        snprintf(args, sizeof args, "ban %s 1h", keys[i]);
        char *out = ctl(1, args);
        if (!strstr(out, "trusted"))
            fail_msg("%s: %s", keys[i], out);
    }
    ctl(2, "ban");
    ctl(1, "ban not-an-address");
    ctl(1, "ban 192.0.2.99 soon");
}

/* a ban runs out when the daemon's clock passes its end: logged, counted, no longer refused. The clock is stepped
 * (FLOODGATE_TEST_CLOCK=1, debug clock): the expiry comes with the step, the log line is there when it returns */
static void test_expiry(void **st)
{
    char *out;
    (void)st;

    ctl(0, "ban 192.0.2.50 1h --reason brief");
    assert_non_null(strstr(ask(SMTP("192.0.2.50")), "REJECT 5.7.1 Banned: brief"));
    ctl(0, "debug clock +3600");
    if (!strstr(log_text(), "event=ban_expired net=192.0.2.50 reason=brief rule=manual"))
        fail_msg("no event=ban_expired line right after the clock step:\n%s", log_text());
    assert_string_equal(ask(SMTP("192.0.2.50")), "action=OK\n\n");
    out = ctl(0, "stats");
    assert_null(strstr(out, "bans_expired                               0"));
}

#define REPORT(ip) "request=report\nevent=scan\nclient_address=" ip "\n\n"

/* reports sent over the policy socket are answered action=OK and counted by a ban rule: past its count the
 * client's /24 is refused on every kind, with retry_after and reason; the banned client's reports are still
 * answered OK; after an unban, the next ban of the /24 is its second and lasts twice as long */
static void test_reported_events(void **st)
{
    (void)st;

    assert_string_equal(ask(REPORT("100.64.1.5")), "action=OK\n\n");
    assert_string_equal(ask(REPORT("100.64.1.6")), "action=OK\n\n");
    assert_string_equal(ask(AUTH("100.64.1.99")), "action=OK\nreason=pass\n\n");
    assert_string_equal(ask(REPORT("100.64.1.7")), "action=OK\n\n"); /* the third within the hour */
    assert_true(!strncmp(ask(SMTP("100.64.1.99")), "action=REJECT 5.7.1 Banned: scan-ban (until 20", 46));
    char *out = ask(AUTH("100.64.1.99"));
    assert_true(!strncmp(out, "action=REJECT 5.7.1 Banned: scan-ban", 36));
    assert_non_null(strstr(out, "\nretry_after=3"));
    assert_non_null(strstr(out, "\nreason=scan-ban\n"));
    assert_string_equal(ask(REPORT("100.64.1.5")), "action=OK\n\n");
    assert_string_equal(ask(AUTH("100.64.2.1")), "action=OK\nreason=pass\n\n");
    out = ctl(0, "bans --json");
    assert_non_null(strstr(out, "{\"network\":\"100.64.1.0/24\",\"reason\":\"scan-ban\",\"rule\":\"scan-ban\""));
    assert_non_null(strstr(strstr(out, "\"network\":\"100.64.1.0/24\""), "\"times\":1}"));

    ctl(0, "unban 100.64.1.0/24");
    assert_string_equal(ask(AUTH("100.64.1.99")), "action=OK\nreason=pass\n\n");
    /* the /24's window is still past its count: its next report bans it again, the second time */
    assert_string_equal(ask(REPORT("100.64.1.8")), "action=OK\n\n");
    assert_true(!strncmp(ask(AUTH("100.64.1.99")), "action=REJECT 5.7.1 Banned: scan-ban", 36));
    out = ctl(0, "bans --json");
    const char *net = strstr(out, "\"network\":\"100.64.1.0/24\"");
    assert_non_null(net);
    assert_non_null(strstr(net, "\"times\":2}"));
    const char *rem = strstr(net, "\"remaining\":");
    assert_non_null(rem);
    unsigned long left = strtoul(rem + 12, NULL, 10);
    if (left < 7000 || left > 7200)
        fail_msg("the second ban has %lu s left, want 2h:\n%s", left, out);
}

/* dovecot_report - Dovecot's auth policy report of a failed login as json_login (a JSON string's inside) */
static void dovecot_report(const char *json_login)
{
    char path[160], body[512], req[1024], reply[4096];

    snprintf(path, sizeof path, "%s/http.sock", d.dir);
    int n = snprintf(body, sizeof body, "{\"login\":\"%s\",\"remote\":\"192.0.2.120\",\"protocol\":\"imap\","
                                        "\"success\":false,\"policy_reject\":false}", json_login);
    int m = snprintf(req, sizeof req, "POST /?command=report HTTP/1.1\r\nHost: floodgate\r\nConnection: close\r\n"
                                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", n, body);
    int fd = sock_connect_unix(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, req, (size_t)m), m);
    size_t got = 0;
    for (ssize_t r; got < sizeof reply - 1 && (r = read(fd, reply + got, sizeof reply - 1 - got)) > 0;)
        got += (size_t)r;
    reply[got] = '\0';
    close(fd);
    if (strncmp(reply, "HTTP/1.1 2", 10))
        fail_msg("report: %s", reply);
}

/* A username that a client chose (Dovecot's JSON says "\n" and "\u001b" as well as any letter) is banned by a
 * rule: floodgatectl bans still lists every ban, the name's control bytes written \xNN (never a reply line
 * of its own, never an escape sequence on the admin's terminal), and a long name whole */
static void test_hostile_usernames(void **st)
{
    char *out, lng[301];
    (void)st;

    ctl(0, "ban user:zz-after@example.org 1h --reason later"); /* listed after the hostile names */
    for (int i = 0; i < 2; i++) {
        dovecot_report("x\\ninjected line\\n\\nstatus=error");
        dovecot_report("\\u001b]0;pwned\\u0007\\u001b[2Jjoe");
    }
    memset(lng, 'l', 300);
    lng[300] = '\0';
    memcpy(lng + 250, "-the-end@example.org", 20); /* 270 bytes: longer than a ban name, no ban */
    lng[270] = '\0';
    dovecot_report(lng);
    dovecot_report(lng);
    lng[240] = '\0'; /* 240 bytes: banned, and shown whole */
    dovecot_report(lng);
    dovecot_report(lng);
    wait_log("event=ban user=\"x\\x0ainjected line");
    out = ctl(0, "bans");
    assert_non_null(strstr(out, "user:x\\x0ainjected line\\x0a\\x0astatus=error "));
    assert_non_null(strstr(out, "user:\\x1b]0;pwned\\x07\\x1b[2jjoe "));
    assert_non_null(strstr(out, lng));
    assert_non_null(strstr(out, "user:zz-after@example.org "));
    assert_null(strchr(out, '\x1b'));
    out = ctl(0, "bans --json");
    assert_non_null(strstr(out, "zz-after@example.org"));
    out = ctl(0, "explain auth client_address=192.0.2.121 'username=\x1b]0;pwned\x07\x1b[2Jjoe'");
    assert_non_null(strstr(out, "user:\\x1b]0;pwned\\x07\\x1b[2jjoe"));
    assert_null(strchr(out, '\x1b'));
}

/* stat - one counter of floodgatectl stats */
static unsigned long stat_of(const char *name)
{
    char *out = ctl(0, "stats"), pat[64];
    snprintf(pat, sizeof pat, "\n%s ", name);
    char *p = strstr(out, pat);
    if (!p)
        fail_msg("no %s in stats:\n%s", name, out);
    return strtoul(p + strlen(pat), NULL, 10);
}

/* children - the daemon's child processes (from /proc), how many are zombies in *zombies */
static int children(int *zombies)
{
    char path[64], buf[4096];
    int n = 0;
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)d.pid, (int)d.pid);
    FILE *f = fopen(path, "r");
    *zombies = 0;
    if (!f)
        return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    for (char *p = strtok(buf, " \n"); p; p = strtok(NULL, " \n")) {
        char stat[512];
        snprintf(path, sizeof path, "/proc/%s/stat", p);
        FILE *g = fopen(path, "r");
        n++;
        if (g && fgets(stat, sizeof stat, g) && strrchr(stat, ')') && strrchr(stat, ')')[2] == 'Z')
            (*zombies)++;
        if (g)
            fclose(g);
    }
    return n;
}

/* count_lines - lines of text that start with prefix */
static size_t count_lines(const char *text, const char *prefix)
{
    size_t n = 0, pl = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        n += !strncmp(l, prefix, pl);
    return n;
}

/* ctl_big - floodgatectl's whole output (any size, malloc'd); it must exit 0 */
static char *ctl_big(const char *args)
{
    char path[200], cmd[600];
    snprintf(path, sizeof path, "%s/ctl.out", d.dir);
    snprintf(cmd, sizeof cmd, "%s -s %s %s > %s 2>&1", d.ctl_bin, d.control, args, path);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("floodgatectl %s: status %d", args, rc);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = malloc((size_t)n + 1);
    text[fread(text, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return text;
}

#define BIG_BANS 10500 /* past BANDUMP_CHILD_MIN (10,000): a child of the daemon writes each list */

/* a list of more than 10,000 bans: bans --format plain and json are whole (a line per ban; the JSON array
 * holds an object per ban), a follower gets the list, "synced N" and then the next ban; every child the daemon
 * made for them is reaped (no zombie), and under valgrind neither leaks */
static void test_big_dump(void **st)
{
    char *req = malloc(100 * 64), buf[65536], last = 0;
    size_t len = 0, replies = 0;
    int zombies;
    (void)st;

    /* many bans at once: pipelined on one control connection, 100 at a time (their replies stay below
     * CONN_OUT_HIGH: a client that sends far more before it reads can find whole requests left in the
     * connection's input until it sends again, conn.c) */
    int fd = sock_connect_unix(d.control);
    assert_true(fd >= 0);
    for (int i = 0; i < BIG_BANS;) {
        len = 0;
        for (int k = 0; k < 100 && i < BIG_BANS; k++, i++)
            len += (size_t)sprintf(req + len, "command=ban\narg1=10.77.%d.%d\nduration=1d\n\n", i >> 8, i & 255);
        for (size_t off = 0; off < len;) {
            ssize_t n = write(fd, req + off, len - off);
            assert_true(n > 0);
            off += (size_t)n;
        }
        while (replies < (size_t)i) {
            ssize_t n = read(fd, buf, sizeof buf);
            assert_true(n > 0);
            for (ssize_t k = 0; k < n; last = buf[k++])
                replies += buf[k] == '\n' && last == '\n'; /* a reply's end */
        }
    }
    close(fd);
    free(req);
    unsigned long held = stat_of("bans_active");
    assert_true(held >= BIG_BANS);

    char *json = ctl_big("bans --format json");
    size_t nets = count_lines(json, "{\"network\":");
    assert_int_equal(json[0], '[');
    assert_string_equal(json + strlen(json) - 2, "]\n");
    assert_int_equal(nets + count_lines(json, "{\"username\":"), held);
    assert_int_equal(count_lines(json, "{\"network\":\"10.77."), BIG_BANS);
    free(json);
    char *plain = ctl_big("bans --format plain");
    assert_int_equal(count_lines(plain, ""), nets); /* username bans are JSON's only */
    assert_int_equal(count_lines(plain, "10.77."), BIG_BANS);
    free(plain);

    /* a follower: the list, synced, then a ban made after */
    char path[200], cmd[400];
    snprintf(path, sizeof path, "%s/follow.out", d.dir);
    snprintf(cmd, sizeof cmd, "%s -s %s bans --follow > %s 2>&1 & echo $!", d.ctl_bin, d.control, path);
    FILE *p = popen(cmd, "r");
    int follower = 0;
    assert_int_equal(fscanf(p, "%d", &follower), 1);
    pclose(p);
    static char text[4 << 20];
    char want[64];
    snprintf(want, sizeof want, "synced %zu\n", nets);
    for (int i = 0; i < 3000 && !strstr(text, want); i++) {
        FILE *f = fopen(path, "r");
        text[f ? fread(text, 1, sizeof text - 1, f) : 0] = '\0';
        if (f)
            fclose(f);
        poll(NULL, 0, 10);
    }
    if (!strstr(text, want))
        fail_msg("the follower did not print %s", want);
    ctl(0, "ban 10.78.0.1 1h");
    for (int i = 0; i < 3000 && !strstr(text, "ban 10.78.0.1 "); i++) {
        FILE *f = fopen(path, "r");
        text[f ? fread(text, 1, sizeof text - 1, f) : 0] = '\0';
        if (f)
            fclose(f);
        poll(NULL, 0, 10);
    }
    kill(follower, SIGTERM);
    assert_int_equal(count_lines(text, "ban 10.77."), BIG_BANS);
    assert_non_null(strstr(text, want));
    assert_true(strstr(text, "ban 10.78.0.1 ") > strstr(text, want));
    ctl(0, "unban 10.78.0.1");

    /* every child reaped: none left, not even a zombie */
    for (int i = 0; i < 3000 && children(&zombies) > 0; i++)
        poll(NULL, 0, 10);
    assert_int_equal(children(&zombies), 0);
    assert_int_equal(zombies, 0);
}

/* bans.max: a full index makes room for a new ban, a rule's or the admin's, by evicting the ban that ends soonest
 * (logged, counted in bans_evicted, lifted at once); a ban that would end before every ban held is refused
 * (counted in bans_full); the other bans held stay; a reload that raises it makes room at once */
static void test_bans_max(void **st)
{
    char extra[64];
    (void)st;

    ctl(0, "ban 192.0.2.170 30m --reason soonest"); /* every other ban held ends in an hour or later */
    unsigned long held = stat_of("bans_active");
    snprintf(extra, sizeof extra, " max = %lu;", held);
    bans_extra = extra;
    write_conf("");
    ctl(0, "reload");
    assert_non_null(strstr(ctl(1, "ban 192.0.2.180 10m"), "full"));
    assert_int_equal(stat_of("bans_full"), 1);
    assert_int_equal(stat_of("bans_evicted"), 0);
    assert_true(!strncmp(ask(AUTH("192.0.2.170")), "action=REJECT", 13));
    dovecot_report("full-one");
    dovecot_report("full-one");
    wait_log("event=ban_evicted net=192.0.2.170 reason=soonest rule=manual");
    wait_log("event=ban user=full-one");
    assert_string_equal(ask(AUTH("192.0.2.170")), "action=OK\nreason=pass\n\n");
    assert_int_equal(stat_of("bans_active"), held);
    assert_int_equal(stat_of("bans_evicted"), 1);
    assert_int_equal(stat_of("bans_full"), 1);
    assert_true(!strncmp(ask(AUTH("192.0.2.7")), "action=REJECT", 13)); /* what ends later holds */
    bans_extra = "";
    write_conf("");
    ctl(0, "reload");
    ctl(0, "ban 192.0.2.180 1h");
    assert_int_equal(stat_of("bans_active"), held + 1);
}

/* SIGTERM: a clean exit with bans in the index (under valgrind: no leak, no invalid access) */
static void test_stop(void **st)
{
    (void)st;
    assert_int_equal(daemon_stop(&d), 0);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_bans_daemon FLOODGATED FLOODGATECTL\n");
        return 2;
    }
    d.bin = argv[1];
    d.ctl_bin = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ban_unban),
        cmocka_unit_test(test_listing),
        cmocka_unit_test(test_reload_keeps),
        cmocka_unit_test(test_trusted_refused),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_reported_events),
        cmocka_unit_test(test_hostile_usernames), cmocka_unit_test(test_bans_max), cmocka_unit_test(test_big_dump), cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
