/*
 * fuzz_http - libFuzzer driver for the HTTP adapter's request path
 *
 * The first byte picks what the rest is: a Dovecot allow or report body
 * (JSON, through jansson into an fg_request), or an nginx check: the rest
 * split at NUL bytes into KIND, the five headers and a query string, the
 * query parsed by libevent as the adapter does, all through
 * httpreq_check. Every request built is then read back attribute by
 * attribute, and the message taken from the input as an action text.
 * Any crash, leak, overflow of the arena or sanitizer report is a bug.
 * Build and run: make fuzz
 */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "httpreq.h"

#define ARENA 4096   /* small, so that running out of room is exercised too */

/* read_back - every attribute of a built request, as rules would read them */
static void read_back(fg_request *req)
{
    size_t len, sum = 0;

    req->geo = NULL; /* no GeoIP databases here (the engine sets them) */
    for (int id = 0; id < ATTR__COUNT; id++)
        sum += strlen(req_get(req, id, &len)) + len;
    for (unsigned i = 0; i < req->nextra; i++)
        sum += strlen(req->extra[i].name) + req->extra[i].vlen;
    (void)req_client_addr(req);
    if (sum == (size_t)-1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char mem[ARENA];
    httpreq_arena a = {mem, sizeof mem, 0};
    fg_request req;
    char *buf;

    if (size == 0)
        return 0;
    buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    if (data[0] % 3 < 2) {
        if (httpreq_dovecot(buf, size - 1, data[0] % 3 == 1, &a, &req) == HTTPREQ_OK)
            read_back(&req);
    } else {
        /* KIND \0 X-Real-IP \0 X-Forwarded-For \0 method \0 uri \0 authenticated \0 query */
        const char *part[7] = {0};
        size_t at = 0;
        for (int i = 0; i < 7 && at < size; i++) {
            part[i] = buf + at;
            at += strlen(buf + at) + 1;
        }
        httpreq_headers h = {part[1], part[2], part[3], part[4], part[5]};
        struct evkeyvalq q;
        struct evkeyval *kv;
        httpreq_pair pairs[64];
        size_t n = 0;
        TAILQ_INIT(&q);
        if (part[6] && evhttp_parse_query_str(part[6], &q) == 0)
            TAILQ_FOREACH(kv, &q, next) {
                if (n == 64)
                    break;
                pairs[n].name = kv->key;
                pairs[n].value = kv->value;
                n++;
            }
        if (httpreq_check(part[0] ? part[0] : "", &h, pairs, n, &a, &req) == HTTPREQ_OK)
            read_back(&req);
        evhttp_clear_headers(&q);
    }
    if (a.used > a.cap)
        abort();
    (void)httpreq_msg(buf);
    free(buf);
    return 0;
}
