/*
 * test_dovecot - the real Dovecot (IMAP) asks floodgate's HTTP adapter before every login
 *
 * Usage: test_dovecot FLOODGATED FLOODGATECTL RULES_DIR DOVECOT
 * floodgated listens on a free loopback port; Dovecot runs in the
 * foreground (-F) with a configuration written here: its base_dir, state,
 * logs and a passwd-file in a temp folder, IMAP on another free loopback
 * port, login_trusted_networks = 127.0.0.0/8 so that the client's address
 * comes from the IMAP ID command (x-originating-ip), and the auth_policy_*
 * settings of the shipped rules/dovecot.conf (with the test's port). As
 * root, Dovecot's processes run as its own users and the mail user as
 * nobody; both programs are always stopped.
 */
#include "itest.h"

#include <pwd.h>

static const char *daemon_bin, *ctl_bin, *rules_dir, *dovecot_bin;
static int http_port, imap_port;
static pid_t fg_pid = -1, dc_pid = -1;

/* the third failure from an address bans it, and a banned client is refused everything before any rule;
 * "pat" may try each password once an hour (key: the login and pwhash, Dovecot's hash of the password) */
#define RULES                                                                                                   \
    "rules = (\n"                                                                                               \
    "  { name = \"imap-ban\"; on = \"report:auth_failure\";\n"                                                 \
    "    ban = { key = \"client_address\"; count = 2; per = \"1h\"; duration = \"1h\"; }; },\n"                 \
    "  { name = \"imap-failures\"; on = \"report:auth_failure\";\n"                                            \
    "    limit = { key = [\"client_address\"]; count = 100; per = \"1h\"; }; },\n"                             \
    "  { name = \"imap-ok\"; on = \"report:auth_success\"; if = { pwhash = \"!\"; };\n"                        \
    "    limit = { key = [\"username\", \"pwhash\"]; count = 100; per = \"1h\"; }; },\n"                        \
    "  { name = \"same-password\"; on = \"auth\"; if = { username = \"pat\"; pwhash = \"!\"; };\n"              \
    "    limit = { key = [\"username\", \"pwhash\"]; count = 1; per = \"1h\"; }; action = \"REJECT same password\"; }\n" \
    ");\n"

/* ctl - floodgatectl with these arguments; its output */
static char *ctl(const char *args)
{
    char cmd[2048];
    int status;
    snprintf(cmd, sizeof cmd, "%s -s %s %s", ctl_bin, it_path("control.sock"), args);
    char *out = it_run(cmd, &status);
    assert_int_equal(status, 0);
    return out;
}

/* stat_value - one number of floodgatectl stats, -1 if absent */
static long stat_value(const char *name)
{
    char *out = ctl("stats");
    size_t n = strlen(name);
    for (char *p = out; (p = strstr(p, name)) != NULL; p += n)
        if ((p == out || p[-1] == '\n') && p[n] == ' ')
            return atol(p + n + strspn(p + n, " "));
    return -1;
}

/* log_wait - wait (up to 10 s: Dovecot's log process writes it) for a line of a log holding both texts */
static int log_wait(const char *log, const char *a, const char *b)
{
    static char buf[1 << 16];

    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(it_path(log), "r");
        if (f) {
            while (fgets(buf, sizeof buf, f))
                if (strstr(buf, a) && strstr(buf, b)) {
                    fclose(f);
                    return 1;
                }
            fclose(f);
        }
        poll(NULL, 0, 10);
    }
    return 0;
}

/* imap_read - read until a line starting with tag (static buffer) */
static const char *imap_read(int fd, const char *tag)
{
    static char buf[8192];
    size_t got = 0, tl = strlen(tag);

    buf[0] = '\0';
    for (;;) {
        ssize_t n = it_read_fd(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            return buf;
        got += (size_t)n;
        buf[got] = '\0';
        for (const char *line = buf; line; line = strstr(line, "\r\n") ? strstr(line, "\r\n") + 2 : NULL)
            if (!strncmp(line, tag, tl) && strstr(line, "\r\n"))
                return line;
        if (got == sizeof buf - 1)
            return buf;
    }
}

/* imap_login - log in as user/password from the address the ID command gives; 1 logged in, 0 refused */
static int imap_login(const char *addr, const char *user, const char *password)
{
    char cmd[512];
    int fd = it_connect_tcp(imap_port), ok;
    const char *r;

    assert_true(fd >= 0);
    r = imap_read(fd, "* OK");
    assert_non_null(strstr(r, "* OK"));
    snprintf(cmd, sizeof cmd, "a ID (\"name\" \"floodgate-test\" \"x-originating-ip\" \"%s\")\r\n", addr);
    assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
    r = imap_read(fd, "a ");
    assert_true(!strncmp(r, "a OK", 4));
    snprintf(cmd, sizeof cmd, "b LOGIN %s %s\r\n", user, password);
    assert_int_equal(write(fd, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
    r = imap_read(fd, "b ");
    if (strncmp(r, "b OK", 4) && strncmp(r, "b NO", 4))
        fail_msg("LOGIN: unexpected answer \"%s\"; see %s", r, it_path("dovecot.log"));
    ok = !strncmp(r, "b OK", 4);
    if (ok) {
        assert_int_equal(write(fd, "c LOGOUT\r\n", 10), 10);
        imap_read(fd, "c ");
    }
    close(fd);
    return ok;
}

/* write_dovecot - Dovecot's configuration, with the shipped auth_policy settings included */
static void write_dovecot(void)
{
    char text[8192], cmd[2048];
    const struct passwd *mail = getpwnam("nobody");
    const struct passwd *me = getpwuid(getuid());
    int status, root = geteuid() == 0;
    unsigned uid = root && mail ? (unsigned)mail->pw_uid : (unsigned)getuid();
    unsigned gid = root && mail ? (unsigned)mail->pw_gid : (unsigned)getgid();
    char users[256] = "";

    /* the shipped snippet, pointed at this floodgated */
    snprintf(cmd, sizeof cmd,
             "sed -e 's|127.0.0.1:10041|127.0.0.1:%d|' -e 's|^auth_policy_hash_nonce = .*|auth_policy_hash_nonce = test-nonce|'"
             " %s/dovecot.conf > %s && mkdir -m 0755 %s %s && mkdir -m 0777 %s",
             http_port, rules_dir, it_path("95-floodgate.conf"), it_path("run"), it_path("state"), it_path("home"));
    it_run(cmd, &status);
    assert_int_equal(status, 0);
    it_write("passwd", "joe:{PLAIN}right::::::\n");
    chmod(it_path("passwd"), 0644);
    if (!root && me)
        /* unprivileged: every process runs as the user running the test */
        snprintf(users, sizeof users, "default_internal_user = %s\ndefault_login_user = %s\n", me->pw_name, me->pw_name);
    snprintf(text, sizeof text,
             "protocols = imap\n"
             "listen = 127.0.0.1\n"
             "base_dir = %s\n"
             "state_dir = %s\n"
             "log_path = %s\n"
             "%s"
             "ssl = no\n"
             "disable_plaintext_auth = no\n"
             "auth_mechanisms = plain login\n"
             "auth_failure_delay = 0\n"
             "auth_verbose = yes\n"
             "login_trusted_networks = 127.0.0.0/8\n"
             "mail_location = maildir:%s/%%u\n"
             "first_valid_uid = 1\n"
             "passdb {\n  driver = passwd-file\n  args = %s\n}\n"
             "userdb {\n  driver = static\n  args = uid=%u gid=%u home=%s/%%u\n}\n"
             "service imap-login {\n"
             "  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n"
             "  inet_listener imaps {\n    port = 0\n  }\n"
             "}\n"
             "service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
             "!include %s\n",
             it_path("run"), it_path("state"), it_path("dovecot.log"), users, it_path("home"), it_path("passwd"), uid,
             gid, it_path("home"), imap_port, it_path("95-floodgate.conf"));
    it_write("dovecot.conf", text);
}

/* failed logins from one address lead to a refusal; then even the right password is refused from it,
 * and accepted from another address */
static void test_dovecot_auth_policy(void **st)
{
    (void)st;
    /* the right password works, and Dovecot reported it: the report rule has a counter for it */
    assert_int_equal(imap_login("198.51.100.1", "joe", "right"), 1);
    /* a brute force from one address */
    for (int i = 0; i < 2; i++)
        assert_int_equal(imap_login("192.0.2.60", "joe", "wrong"), 0);
    char *out = ctl("counter imap-failures 192.0.2.60");
    if (!strstr(out, "count") || !strstr(out, " 2\n"))
        fail_msg("the failures were not reported: %s (see %s)", out, it_path("dovecot.log"));
    /* the third attempt from the address fills the limit; then even the right password is refused... */
    assert_int_equal(imap_login("192.0.2.60", "joe", "wrong"), 0);
    assert_int_equal(imap_login("192.0.2.60", "joe", "right"), 0);
    /* ...because the address is banned, before the password is checked: the shipped settings ask floodgate
     * before authentication only, and Dovecot logs that refusal */
    out = ctl("stats");
    assert_non_null(strstr(out, "verdict.http.auth.ban"));
    out = ctl("bans");
    assert_non_null(strstr(out, "192.0.2.60"));
    assert_true(log_wait("dovecot.log", "192.0.2.60,", "Authentication failure due to policy server refusal: Banned: imap-ban"));
    /* another address is not affected */
    assert_int_equal(imap_login("198.51.100.2", "joe", "right"), 1);
    /* both successes were reported with a pwhash (auth_policy_hash_* of the shipped snippet) */
    assert_int_equal(stat_value("rule.imap-ok.matched"), 2);
}

/* pwhash is a key part: a password tried again for a login is refused, another password is not */
static void test_dovecot_pwhash(void **st)
{
    (void)st;
    /* from three addresses, so that the failures ban none of them */
    assert_int_equal(imap_login("198.51.100.20", "pat", "first"), 0);
    assert_int_equal(stat_value("rule.same-password.decided"), 0);
    assert_int_equal(imap_login("198.51.100.21", "pat", "first"), 0);
    assert_int_equal(stat_value("rule.same-password.decided"), 1);
    assert_int_equal(imap_login("198.51.100.22", "pat", "second"), 0);
    assert_int_equal(stat_value("rule.same-password.decided"), 1);
    assert_int_equal(stat_value("rule.same-password.matched"), 3);
}

/* SIGTERM: both stop cleanly (floodgated under valgrind: no error, no leak) */
static void test_stop(void **st)
{
    (void)st;
    assert_int_equal(it_stop(dc_pid, SIGTERM), 0);
    dc_pid = -1;
    assert_int_equal(it_stop(fg_pid, SIGTERM), 0);
    fg_pid = -1;
}

static int group_setup(void **st)
{
    char text[2048];
    (void)st;

    it_start_dir();
    http_port = it_free_port();
    imap_port = it_free_port();
    snprintf(text, sizeof text,
             "listen = { policy = \"unix:%s\"; control = \"unix:%s\"; http = \"tcp:127.0.0.1:%d\"; };\n"
             "store = { type = \"embedded\"; };\n%s",
             it_path("policy.sock"), it_path("control.sock"), http_port, RULES);
    it_write("floodgate.conf", text);
    fg_pid = it_start_floodgated(daemon_bin, it_path("floodgate.conf"), http_port);
    write_dovecot();
    char *argv[] = {(char *)dovecot_bin, "-F", "-c", (char *)it_path("dovecot.conf"), NULL};
    dc_pid = it_spawn(argv, "dovecot.out");
    it_wait_tcp(imap_port, dc_pid, "dovecot.log");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: test_dovecot FLOODGATED FLOODGATECTL RULES_DIR DOVECOT\n");
        return 2;
    }
    daemon_bin = argv[1];
    ctl_bin = argv[2];
    rules_dir = argv[3];
    dovecot_bin = argv[4];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dovecot_auth_policy),
        cmocka_unit_test(test_dovecot_pwhash),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
