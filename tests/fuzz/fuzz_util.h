/*
 * fuzz_util - what the libFuzzer drivers share: a private folder for the
 * files that the loaders under test read (configurations, lists,
 * snapshots), and the rule set the engine and control drivers run.
 *
 * The folder is made once per process under $TMPDIR and removed at exit;
 * every file is rewritten before each input that reads it, so that an
 * input's result never depends on the inputs before it.
 */
#ifndef FG_FUZZ_UTIL_H
#define FG_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[256];

/* fuzz_cleanup - remove the folder (atexit) */
static inline void fuzz_cleanup(void)
{
    char cmd[300];
    if (fuzz_dir[0] && snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir) < (int)sizeof cmd)
        (void)!system(cmd);
}

/* fuzz_path - NAME inside the private folder (made on first use); a static buffer of 4 */
static inline const char *fuzz_path(const char *name)
{
    static char bufs[4][512];
    static int next;
    char *p = bufs[next++ & 3];

    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/fgfuzzXXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_dir))
            abort();
        atexit(fuzz_cleanup);
        snprintf(p, 512, "%s/lists", fuzz_dir);
        if (mkdir(p, 0700) < 0)
            abort();
    }
    snprintf(p, 512, "%s/%s", fuzz_dir, name);
    return p;
}

/* fuzz_write - (re)write NAME in the folder with n bytes; its path */
static inline const char *fuzz_write(const char *name, const void *data, size_t n)
{
    const char *path = fuzz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n) || close(fd) < 0)
        abort();
    return path;
}

/* the lists of FUZZ_RULES, one per kind of entry */
static const struct { const char *name, *text; } fuzz_lists[] = {
    {"lists/domains", "# blocked\nexample.net\n.spam.example\nbad.test\n"},
    {"lists/emails", "trap@example.com\npostmaster@x.test\nUPPER@Example.COM\n"},
    {"lists/nets", "192.0.2.0/24\n2001:db8::/32\n198.51.100.7\n10.0.0.0/8\n"},
    {"lists/strings", "mx.example.org\nunknown\n"},
    {"lists/map", "example.org OK\nslow.example DEFER 4.7.1 later\n192.0.2.9 REJECT\n"},
};

/* fuzz_write_lists - the list files in their first state */
static inline void fuzz_write_lists(void)
{
    for (size_t i = 0; i < sizeof fuzz_lists / sizeof fuzz_lists[0]; i++)
        fuzz_write(fuzz_lists[i].name, fuzz_lists[i].text, strlen(fuzz_lists[i].text));
}

/* A 64-byte rule name: the longest legal one */
#define FUZZ_LONG_NAME "a-very-long-rule-name.0123456789_0123456789-0123456789.abcdefghi"

/*
 * FUZZ_RULES - every condition kind (exact, /regex/, CIDR, @list, numeric,
 * negation, alternatives) and every key kind (plain, address prefixes /24,
 * /64 and /24/64, derived domains, 8 parts, a 64-byte rule name), a
 * greylist, on every request kind the engine knows.
 */
#define FUZZ_RULES                                                                                          \
    "listen = { policy = \"unix:policy.sock\"; control = \"unix:control.sock\"; };\n"                   \
    "store = { on_error = \"tempfail\"; };\n"                                                             \
    "regex = { match_limit = 20000; };\n"                                                                 \
    "lists = { domains = \"lists/domains\"; emails = { path = \"lists/emails\"; type = \"email\"; };\n"   \
    "  nets = { path = \"lists/nets\"; type = \"cidr\"; }; strings = { path = \"lists/strings\"; type = \"string\"; };\n" \
    "  map = { path = \"lists/map\"; type = \"map\"; }; };\n"                                            \
    "rules = (\n"                                                                                         \
    "{ name = \"exact\"; on = \"smtp:RCPT\"; if = { helo_name = \"localhost\"; }; action = \"REJECT 5.7.1 $helo_name\"; },\n" \
    "{ name = \"regex\"; on = [\"smtp:RCPT\", \"smtp:MAIL\"]; if = { sender = \"/^(\\\\w+[.-]?)*@/i\"; client_name = \"!/\\\\.example$/\"; };\n" \
    "  on_error = \"allow\"; action = \"WARN regex $sender\"; },\n"                                        \
    "{ name = \"cidr\"; on = \"smtp:CONNECT\"; if = { client_address = [\"192.0.2.0/25\", \"2001:db8:1::/48\", \"!10.0.0.0/8\"]; };\n" \
    "  limit = { key = \"client_address\"; count = 3; per = \"1m\"; }; },\n"                             \
    "{ name = \"lists\"; on = \"smtp:RCPT\"; if = { sender_domain = \"@domains\"; recipient = [\"@emails\", \"@strings\"]; }; action = \"REJECT listed\"; },\n" \
    "{ name = \"map\"; on = \"smtp:RCPT\"; if = { client_address = \"@nets\"; recipient_domain = \"@map\"; }; action = \"DEFER $recipient_domain\"; },\n" \
    "{ name = \"numeric\"; on = [\"smtp:END-OF-MESSAGE\", \"smtp:RCPT\"]; if = { size = [\">1000000\", \"<=0\"]; recipient_count = \"!=1\"; encryption_keysize = \">=128\"; };\n" \
    "  limit = { key = [\"sasl_username\", \"size\"]; count = 2; per = \"10m\"; buckets = 4; }; action = \"TARPIT 5 big\"; },\n" \
    "{ name = \"negation\"; on = \"auth\"; if = { username = \"!\"; protocol = \"!imap\"; }; unless = { client_address = \"127.0.0.0/8\"; };\n" \
    "  limit = { key = [\"username\", \"client_address/24/64\"]; count = 5; per = \"1h\"; }; action = \"REJECT wait $retry_after\"; },\n" \
    "{ name = \"prefix24\"; on = \"smtp:RCPT\"; limit = { key = \"client_address/24\"; count = 4; per = \"30s\"; }; },\n" \
    "{ name = \"distinct\"; on = [\"smtp:RCPT\", \"auth\"]; limit = { key = \"client_address/24\"; distinct = \"username\"; count = 2; per = \"1m\"; buckets = 3; }; },\n" \
    "{ name = \"distinct-net\"; on = \"auth\"; limit = { key = \"username\"; distinct = \"client_address/64\"; count = 3; per = \"1h\"; }; },\n" \
    "{ name = \"prefix64\"; on = [\"smtp:RCPT\", \"http\"]; limit = { key = [\"client_address/64\", \"uri\"]; count = 4; per = \"1d\"; }; },\n" \
    "{ name = \"domains\"; on = \"smtp:RCPT\"; if = { sender = \"!\"; }; limit = { key = [\"sender_domain\", \"recipient_domain\"]; count = 6; per = \"5m\"; };\n" \
    "  action = \"DEFER_IF_PERMIT 4.7.1 $sender_domain to $recipient_domain: $count per $per\"; },\n"     \
    "{ name = \"" FUZZ_LONG_NAME "\"; on = [\"smtp:RCPT\", \"smtp:MAIL\", \"report:auth_failure\", \"imap\", \"contact\", \"scan\", \"loiter\"];\n" \
    "  limit = { key = [\"sender\", \"recipient\", \"helo_name\", \"sasl_username\", \"client_name\", \"reverse_client_name\", \"sender_domain\", \"client_address/24/64\"];\n" \
    "  count = 2; per = \"1m\"; }; action = \"DEFER $rule\"; },\n"                                        \
    "{ name = \"greylist\"; on = \"smtp:RCPT\"; unless = { sasl_username = \"!\"; };\n"                    \
    "  greylist = { delay = \"1m\"; retry_window = \"1h\"; pass_lifetime = \"1d\"; network = 24; network6 = 64; auto_allow = 2; }; }\n" \
    ");\n"

#endif
