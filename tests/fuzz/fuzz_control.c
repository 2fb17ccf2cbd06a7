/*
 * fuzz_control - libFuzzer driver for the control protocol
 *
 * The input is what floodgatectl would send on the control socket: a
 * stream of requests (command=..., arg1=..., as the policy protocol
 * frames them), each framed and parsed as a control connection does and
 * run by control_exec on a real server object without sockets or event
 * loop: the rules and lists of FUZZ_RULES, the embedded store (it answers
 * at once, so every command is CONTROL_DONE) and an injected clock. The
 * lists and the configuration are rewritten before each input, so `list
 * add` and `reload` start from the same files every time. Any crash,
 * leak, sanitizer report or a reply that is not "status=..." ending in an
 * empty line is a bug. Build and run: make fuzz
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "fuzz_util.h"
#include "mem.h"
#include "proto.h"
#include "server.h"

static uint64_t fake_mono = 5000;

static uint64_t read_mono(void)
{
    return fake_mono;
}

static uint64_t read_wall(void)
{
    return 1700000000000ULL + fake_mono;
}

/* never_called - the done callback: the embedded store never leaves a command pending */
static void never_called(void *arg)
{
    (void)arg;
    abort();
}

/* check_reply - one whole reply: status=ok|error first, an empty line last */
static void check_reply(struct evbuffer *out)
{
    size_t n = evbuffer_get_length(out);
    char *r = (char *)evbuffer_pullup(out, -1);

    if (n < 11 || (strncmp(r, "status=ok\n", 10) && strncmp(r, "status=error\n", 13)) || r[n - 1] != '\n' ||
        r[n - 2] != '\n')
        abort();
    evbuffer_drain(out, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conf_errors errs = {0};
    server *s;
    char *buf;
    size_t scan = 0, off = 0, n;
    struct evbuffer *out;

    fuzz_write_lists();
    s = calloc(1, sizeof *s);
    s->clock.mono = read_mono;
    s->clock.wall = read_wall;
    s->conf = conf_load(fuzz_write("control.conf", FUZZ_RULES, strlen(FUZZ_RULES)), &errs);
    if (!s->conf)
        abort();
    s->rules = ruleset_ref(s->conf->rules);
    s->store = mem_store_new(&(mem_config){.seed = 7});
    s->eng.store = s->store;
    s->eng.on_error = s->conf->store.on_error;
    out = evbuffer_new();

    buf = malloc(size + 1);
    memcpy(buf, data, size);
    n = proto_frame(buf, size, &scan);
    while (n) {
        fg_request req;
        size_t clen;
        /* as conn.c: a control request has a command and no request attribute */
        if (proto_parse(buf + off, n, &req) == PROTO_OK && !req.val[ATTR_REQUEST] &&
            req_get(&req, ATTR_COMMAND, &clen) && clen) {
            if (control_exec(s, &req, out, never_called, NULL) != CONTROL_DONE)
                abort();
            check_reply(out);
        }
        fake_mono += 1000;
        off += n;
        scan = 0;
        n = proto_frame(buf + off, size - off, &scan);
    }
    free(buf);
    evbuffer_free(out);
    ruleset_unref(s->rules);
    store_free(s->store);
    conf_free(s->conf);
    free(s);
    return 0;
}
