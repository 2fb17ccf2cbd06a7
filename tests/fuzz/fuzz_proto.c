/*
 * fuzz_proto - libFuzzer driver for the policy protocol's framing and parser
 *
 * Feeds the input as a stream in two pieces (split where the first byte
 * says), frames every request, parses it and formats a reply, as a
 * connection does. Any crash, leak or sanitizer report is a bug.
 * Build and run: make fuzz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf, reply[2048];
    size_t scan = 0, off = 0, cut, n;
    fg_request req;
    verdict v = {0};

    if (size == 0)
        return 0;
    cut = data[0] % size;
    buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    size -= 1;
    /* first piece, then the whole stream: framing must resume correctly */
    n = proto_frame(buf, cut < size ? cut : size, &scan);
    if (!n)
        n = proto_frame(buf, size, &scan);
    while (n) {
        enum proto_status st = proto_parse(buf + off, n, &req);
        strcpy(v.action, st == PROTO_OK ? "DUNNO" : proto_error_action(st));
        proto_reply(&v, req.kind, reply, sizeof reply);
        off += n;
        scan = 0;
        n = proto_frame(buf + off, size - off, &scan);
    }
    free(buf);
    return 0;
}
