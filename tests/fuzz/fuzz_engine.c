/*
 * fuzz_engine - libFuzzer driver for the engine end to end
 *
 * The rules are FUZZ_RULES (fuzz_util.h): every condition kind and every
 * key kind, loaded once as floodgated loads them. Each input is one
 * request, asked several times against a fresh embedded store on an
 * injected clock that moves forwards and backwards (a clock step):
 *   byte 0   the request kind (smtp:RCPT, auth, http, ...)
 *   byte 1   how many times it is asked (1-8)
 *   byte 2   the clock step between two asks, signed, in 7.919 s units
 *   then     lines: the first byte of each picks the attribute, the rest
 *            is its value (any bytes but newline)
 * The request goes through proto_parse as the policy socket's would. Any
 * crash, leak, sanitizer report or pending answer from the embedded store
 * is a bug. Build and run: make fuzz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fuzz_util.h"
#include "mem.h"
#include "proto.h"

static fg_conf *conf;

static const char *const kinds[] = {
    "request=smtpd_access_policy\nprotocol_state=RCPT\n",
    "request=smtpd_access_policy\nprotocol_state=MAIL\n",
    "request=smtpd_access_policy\nprotocol_state=CONNECT\n",
    "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n",
    "request=auth\n",
    "request=report\nevent=auth_failure\n",
    "request=http\nmethod=POST\nauthenticated=no\n",
    "request=imap\ncommand=LOGIN\n",
    "request=contact\n",
    "request=scan\n",
    "request=loiter\n",
    "",
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static const char *const attrs[] = {
    "client_address", "sender", "recipient", "helo_name", "sasl_username", "client_name", "reverse_client_name",
    "size", "recipient_count", "encryption_keysize", "username", "protocol", "uri", "event", "protocol_state",
    "request", "sasl_sender", "command", "authenticated", "x_unknown",
};
#define NATTRS (sizeof attrs / sizeof attrs[0])

/* LLVMFuzzerInitialize - load the rules once (a broken FUZZ_RULES is a bug of this driver) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    conf_errors errs = {0};
    (void)argc;
    (void)argv;

    fuzz_write_lists();
    conf = conf_load(fuzz_write("engine.conf", FUZZ_RULES, strlen(FUZZ_RULES)), &errs);
    if (!conf) {
        for (unsigned i = 0; i < errs.n; i++)
            fprintf(stderr, "fuzz_engine: %s\n", errs.msgs[i]);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *kind;
    char *buf;
    size_t n, cap;
    int times, step;
    uint64_t now = 1700000000000ULL;

    if (size < 3)
        return 0;
    kind = kinds[data[0] % NKINDS];
    times = 1 + data[1] % 8;
    step = (int8_t)data[2];
    data += 3;
    size -= 3;
    /* each line grows by at most the longest attribute name and "=\n" */
    cap = strlen(kind) + size * 24 + 32;
    buf = malloc(cap);
    n = (size_t)sprintf(buf, "%s", kind);
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (end == at) { /* an empty line: no attribute */
            at++;
            continue;
        }
        const char *name = attrs[data[at] % NATTRS];
        size_t vlen = end - at - 1;
        n += (size_t)sprintf(buf + n, "%s=", name);
        memcpy(buf + n, data + at + 1, vlen);
        n += vlen;
        buf[n++] = '\n';
        at = end + 1;
    }
    buf[n] = '\0';

    store *st = mem_store_new(&(mem_config){.seed = 7});
    engine eng = {.store = st, .on_error = ON_ERROR_TEMPFAIL};
    char *copy = malloc(n + 1);
    for (int i = 0; i < times; i++) {
        fg_request req;
        eval ev = {0};
        memcpy(copy, buf, n + 1); /* proto_parse works in place */
        if (proto_parse(copy, n, &req) != PROTO_OK)
            break;
        if (engine_eval(&eng, &ev, conf->rules, &req, now, NULL, NULL) != ENGINE_DONE)
            abort(); /* the embedded store answers at once */
        if (!ev.v.action[0] || strlen(ev.v.action) > ACTION_MAX)
            abort();
        eval_release(&ev);
        now += (uint64_t)((int64_t)step * 7919);
    }
    free(copy);
    store_free(st);
    free(buf);
    return 0;
}
