/*
 * test_banfw - the published bans loaded by the real firewall tools, in a network namespace of our own
 *
 * banexport's nft script goes through `nft -f` and its ipset file through `ipset restore` inside
 * fg-test-PID, a namespace the test creates and always removes (teardown and atexit, pass or fail); the
 * sets are read back with `nft list set` / `ipset list`. Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN): a
 * machine that cannot create a namespace skips with a message, it does not pass silently.
 * Usage: test_banfw NFT IPSET IP
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banexport.h"

#define NOW 1800000000ull

static const char *nft_bin, *ipset_bin, *ip_bin;
static char ns[64], dir[] = "/tmp/fgbanfwXXXXXX";
static int ns_made, can_netns = -1;

/* ns_remove - the namespace goes, whatever happened */
static void ns_remove(void)
{
    char cmd[256];
    if (!ns_made)
        return;
    snprintf(cmd, sizeof cmd, "%s netns del %s 2>/dev/null", ip_bin, ns);
    if (system(cmd) == 0)
        ns_made = 0;
}

/* run - a shell command line (our own fixed text and temp paths); its output in out, its exit status */
static int run(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (!p)
        return -1;
    if (out) {
        n = fread(out, 1, size - 1, p);
        out[n] = '\0';
    } else {
        char sink[4096];
        while (fread(sink, 1, sizeof sink, p) > 0)
            ;
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int group_setup(void **st)
{
    char cmd[256];
    (void)st;
    if (!mkdtemp(dir))
        return -1;
    snprintf(ns, sizeof ns, "fg-test-%d", (int)getpid());
    atexit(ns_remove);
    snprintf(cmd, sizeof cmd, "%s netns add %s 2>&1", ip_bin, ns);
    char out[512];
    can_netns = geteuid() == 0 && run(cmd, out, sizeof out) == 0;
    if (can_netns)
        ns_made = 1;
    else
        fprintf(stderr, "test_banfw: SKIPPED: cannot create a network namespace here (needs root): %s\n",
                geteuid() ? "not root" : out);
    return 0;
}

static int group_teardown(void **st)
{
    char cmd[300];
    (void)st;
    ns_remove();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* rec - one record from text */
static banexport_rec rec(const char *addr, unsigned prefix, uint64_t expires)
{
    banexport_rec r = {0};
    r.family = strchr(addr, ':') ? 6 : 4;
    inet_pton(r.family == 4 ? AF_INET : AF_INET6, addr, r.bytes);
    r.prefix = (uint8_t)prefix;
    r.reason = "test; $(reboot)";
    r.expires = expires;
    return r;
}

/* write_file - the format of these records into dir/name; returns the path (static) */
static const char *write_file(const char *name, int fmt, const banexport_rec *r, size_t n)
{
    static char path[256];
    struct evbuffer *b = evbuffer_new();
    banexport_write(fmt, r, n, NOW, b);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    size_t len = evbuffer_get_length(b);
    assert_int_equal(fwrite(evbuffer_pullup(b, -1), 1, len, f), len);
    fclose(f);
    evbuffer_free(b);
    return path;
}

/* in_ns - run argv text inside the namespace; output in out */
static int in_ns(const char *what, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s netns exec %s %s 2>&1", ip_bin, ns, what);
    return run(cmd, out, size);
}

/* tool_ns - run "TOOL ARGS" inside the test's namespace; its exit status, output in out */
static int tool_ns(const char *tool, const char *args, char *out, size_t size)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s", tool, args);
    return in_ns(cmd, out, size);
}

static void test_nft(void **st)
{
    char cmd[512], out[8192];
    (void)st;
    if (!can_netns)
        skip();
    banexport_rec r[] = {rec("198.51.100.7", 32, NOW + 3600), rec("192.0.2.0", 24, NOW + 60),
                         rec("203.0.113.5", 32, NOW - 1) /* expired: absent */, rec("2001:db8:1::", 48, 0),
                         rec("2001:db8::1", 128, NOW + 90000), rec("10.9.8.7", 32, 0)};
    const char *path = write_file("bans.nft", BANEXPORT_NFT, r, 6);

    /* loaded twice: the script is idempotent */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s -f %s", nft_bin, path);
        if (in_ns(cmd, out, sizeof out) != 0)
            fail_msg("nft -f refused the script: %s", out);
    }
    assert_int_equal(tool_ns(nft_bin, "list set inet floodgate banned_v4", out, sizeof out), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "flags interval,timeout"));
    assert_non_null(strstr(out, "198.51.100.7 timeout 1h expires "));
    assert_non_null(strstr(out, "192.0.2.0/24 timeout 1m expires "));
    assert_non_null(strstr(out, "10.9.8.7,") ? strstr(out, "10.9.8.7,") : strstr(out, "10.9.8.7 }"));
    assert_null(strstr(out, "10.9.8.7 timeout")); /* for ever: no timeout */
    assert_null(strstr(out, "203.0.113.5"));
    assert_int_equal(tool_ns(nft_bin, "list set inet floodgate banned_v6", out, sizeof out), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "2001:db8::1 timeout 1d1h expires "));
    assert_non_null(strstr(out, "2001:db8:1::/48"));
    assert_null(strstr(out, "2001:db8:1::/48 timeout"));
    /* the chain drops both sets' sources */
    assert_int_equal(tool_ns(nft_bin, "list chain inet floodgate input", out, sizeof out), 0);
    assert_non_null(strstr(out, "ip saddr @banned_v4 drop"));
    assert_non_null(strstr(out, "ip6 saddr @banned_v6 drop"));

    /* a later export replaces the content: an unbanned address leaves the set */
    path = write_file("bans2.nft", BANEXPORT_NFT, r, 1);
    snprintf(cmd, sizeof cmd, "%s -f %s", nft_bin, path);
    assert_int_equal(in_ns(cmd, out, sizeof out), 0);
    assert_int_equal(tool_ns(nft_bin, "list set inet floodgate banned_v4", out, sizeof out), 0);
    assert_non_null(strstr(out, "198.51.100.7 timeout 1h"));
    assert_null(strstr(out, "192.0.2.0/24"));
    assert_int_equal(tool_ns(nft_bin, "list chain inet floodgate input", out, sizeof out), 0);
    char *first = strstr(out, "@banned_v4");
    assert_non_null(first);
    assert_null(strstr(first + 1, "@banned_v4")); /* the rules are not added twice */
}

/* REVIEW: floodgatectl ban accepts up to 3650d; such a ban (with others) must still load */
static void test_nft_long(void **st)
{
    char cmd[512], out[8192];
    (void)st;
    if (!can_netns)
        skip();
    banexport_rec r[] = {rec("198.51.100.7", 32, NOW + 3600), rec("192.0.2.66", 32, NOW + 3650ULL * 86400)};
    const char *path = write_file("bans-long.nft", BANEXPORT_NFT, r, 2);
    snprintf(cmd, sizeof cmd, "%s -f %s", nft_bin, path);
    if (in_ns(cmd, out, sizeof out) != 0)
        fail_msg("nft -f refused the script: %s", out);
    assert_int_equal(tool_ns(nft_bin, "list set inet floodgate banned_v4", out, sizeof out), 0);
    assert_non_null(strstr(out, "192.0.2.66 timeout 3650d"));
    assert_non_null(strstr(out, "198.51.100.7 timeout 1h"));
}

static void test_ipset(void **st)
{
    char cmd[512], out[8192];
    (void)st;
    if (!can_netns)
        skip();
    banexport_rec r[] = {rec("198.51.100.7", 32, NOW + 3600), rec("192.0.2.0", 24, NOW + 60),
                         rec("2001:db8:1::", 48, 0), rec("203.0.113.5", 32, NOW)};
    const char *path = write_file("bans.ipset", BANEXPORT_IPSET, r, 4);

    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "%s restore -file %s", ipset_bin, path);
        if (in_ns(cmd, out, sizeof out) != 0)
            fail_msg("ipset restore refused the file: %s", out);
    }
    assert_int_equal(tool_ns(ipset_bin, "list floodgate_v4", out, sizeof out), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "Type: hash:net"));
    assert_non_null(strstr(out, "Number of entries: 2"));
    assert_non_null(strstr(out, "198.51.100.7 timeout "));
    assert_non_null(strstr(out, "192.0.2.0/24 timeout "));
    assert_null(strstr(out, "203.0.113.5"));
    assert_int_equal(tool_ns(ipset_bin, "list floodgate_v6", out, sizeof out), 0);
    assert_non_null(strstr(out, "family inet6"));
    assert_non_null(strstr(out, "2001:db8:1::/48 timeout 0"));
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_banfw NFT IPSET IP\n");
        return 2;
    }
    nft_bin = argv[1];
    ipset_bin = argv[2];
    ip_bin = argv[3];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_nft),
        cmocka_unit_test(test_nft_long), cmocka_unit_test(test_ipset)};
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
