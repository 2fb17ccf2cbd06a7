/*
 * fuzz_httpwire - libFuzzer driver for the HTTP adapter from the wire
 *
 * fuzz_http feeds the JSON and query parsers alone; this one feeds raw
 * bytes to the real adapter (http.c: http_start on the driver's event
 * loop, libevent's evhttp parsing, the routing, the answers, the 408
 * timer), so request lines, headers, bodies, chunked bodies, Expect,
 * several requests pipelined on one connection and whatever evhttp makes
 * of them all reach on_request() and its handlers.
 *
 * The adapter listens on a Unix socket in the driver's private folder.
 * Each input is one connection:
 *   byte 0   bit 0 clear: the client half-closes after its last byte
 *            (EOF); set: it stays, and listen.http_timeout (1 ms here)
 *            answers a request left unfinished with 408 or closes the
 *            connection once idle. Bits 1-4, v: 0 sends everything at
 *            once, else 2^(v-1) bytes per loop turn, so that evhttp
 *            parses lines and bodies cut anywhere (and a slow sender
 *            meets the 408 halfway)
 *   then     the bytes sent, as they are
 * The loop runs until the adapter has closed the connection and counts
 * none open; everything it answers is read and dropped. Each input gets
 * a fresh embedded store, so that its answers never depend on the inputs
 * before it. A crash, a leak, a sanitizer report or a connection the
 * adapter never closes (abort after LOOP_TURNS_MAX loop turns) is a bug.
 * Build and run: make fuzz
 */
#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz_util.h"
#include "http.h"
#include "mem.h"

#define LOOP_TURNS_MAX 100000 /* loop turns one input may take before its connection counts as stuck */

/* every route's kinds: a limit per client and URI, a refusal, a tarpit, a report rule, a limit on pwhash */
#define HTTPWIRE_RULES                                                                                       \
    "rules = (\n"                                                                                            \
    "  { name = \"web\"; on = \"http\"; limit = { key = [\"client_address\", \"uri\"]; count = 2; per = \"1h\"; }; },\n" \
    "  { name = \"form\"; on = \"contact\"; if = { form = \"signup\"; }; action = \"REJECT closed $form\"; },\n" \
    "  { name = \"slow\"; on = \"auth\"; if = { username = \"/^slow/\"; }; action = \"TARPIT 5 go slow $username\"; },\n" \
    "  { name = \"failures\"; on = \"report:auth_failure\"; limit = { key = [\"client_address\"]; count = 2; per = \"1h\"; }; },\n" \
    "  { name = \"logins\"; on = \"auth\"; limit = { key = [\"username\", \"pwhash\"]; count = 2; per = \"1h\"; };\n" \
    "    action = \"REJECT 5.7.1 too many logins for $username\"; }\n"                                        \
    ");\n"

static server *srv;
static struct sockaddr_un http_addr;

/* LLVMFuzzerInitialize - the server and its adapter, once (a failure is a bug of this driver) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    conf_errors errs = {0};
    char text[4096], err[256];
    const char *sock = fuzz_path("http.sock");
    (void)argc;
    (void)argv;

    snprintf(text, sizeof text, "listen = { policy = \"unix:%s\"; http = \"unix:%s\"; max_request = \"4k\"; };\n%s",
             fuzz_path("policy.sock"), sock, HTTPWIRE_RULES);
    srv = calloc(1, sizeof *srv);
    srv->conf = conf_load(fuzz_write("httpwire.conf", text, strlen(text)), &errs);
    if (!srv->conf) {
        for (unsigned i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_httpwire: %s\n", errs.msgs[i]);
        abort();
    }
    srv->conf->listen.http_timeout_ms = 1; /* below what a configuration may say: the 408 path at every input */
    srv->base = event_base_new();
    srv->rules = ruleset_ref(srv->conf->rules);
    srv->http = http_start(srv, err, sizeof err);
    if (!srv->base || !srv->http) {
        fprintf(stderr, "fuzz_httpwire: %s\n", err);
        abort();
    }
    http_addr.sun_family = AF_UNIX;
    snprintf(http_addr.sun_path, sizeof http_addr.sun_path, "%s", sock);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char sink[65536];
    size_t off = 1, chunk;
    int stay, shut = 0, eof = 0, fd;
    store *st;

    if (size == 0)
        return 0;
    stay = data[0] & 1;
    chunk = (data[0] >> 1 & 15) ? (size_t)1 << ((data[0] >> 1 & 15) - 1) : size;
    st = mem_store_new(&(mem_config){.seed = 7});
    srv->store = st;
    srv->eng.store = st;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&http_addr, sizeof http_addr) < 0)
        abort();
    for (int turn = 0; !eof || srv->met.http.connections_open; turn++) {
        if (turn == LOOP_TURNS_MAX) {
            fprintf(stderr, "fuzz_httpwire: the adapter never closed the connection (%llu open)\n",
                    (unsigned long long)srv->met.http.connections_open);
            abort();
        }
        if (off < size) {
            ssize_t n = send(fd, data + off, size - off < chunk ? size - off : chunk, MSG_NOSIGNAL);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                off = size; /* the adapter closed first (an error answered): the rest goes nowhere */
        }
        if (off == size && !stay && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        event_base_loop(srv->base, EVLOOP_ONCE);
        for (;;) {
            ssize_t n = read(fd, sink, sizeof sink);
            if (n > 0)
                continue;
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                eof = 1;
            break;
        }
    }
    close(fd);
    srv->store = NULL;
    srv->eng.store = NULL;
    store_free(st);
    return 0;
}
