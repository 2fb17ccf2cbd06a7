/*
 * grey - the greylisting state machine (see grey.h)
 */
#include "grey.h"

#include <string.h>

/* grey_decide - one request's step */
void grey_decide(const grey_spec *spec, uint64_t now_ms, const void *triplet, size_t tlen, const void *client,
                 size_t clen, grey_step *out)
{
    uint64_t first = 0;
    uint32_t passed_triplets = 0;
    int known = triplet && tlen == GREY_TRIPLET_SIZE, passed = 0;

    memset(out, 0, sizeof *out);
    if (client && clen == GREY_CLIENT_SIZE)
        memcpy(&passed_triplets, client, 4);
    if (known) {
        memcpy(&first, triplet, 8);
        passed = ((const unsigned char *)triplet)[8];
    }
    if (spec->auto_allow && passed_triplets >= spec->auto_allow) {
        out->result = GREY_AUTO;
        out->write_client = 1;
        memcpy(out->client, &passed_triplets, 4);
        out->client_expires = now_ms + spec->pass_lifetime_ms;
        return;
    }
    if (known && passed) {
        out->result = GREY_PASS;
        out->write_triplet = 1;
        memcpy(out->triplet, triplet, GREY_TRIPLET_SIZE);
        out->triplet_expires = now_ms + spec->pass_lifetime_ms;
        return;
    }
    if (known && now_ms >= first && now_ms - first >= spec->delay_ms) {
        out->result = GREY_PASS_FIRST;
        out->write_triplet = 1;
        memcpy(out->triplet, &first, 8);
        out->triplet[8] = 1;
        out->triplet_expires = now_ms + spec->pass_lifetime_ms;
        out->write_client = 1;
        if (passed_triplets < UINT32_MAX)
            passed_triplets++;
        memcpy(out->client, &passed_triplets, 4);
        out->client_expires = now_ms + spec->pass_lifetime_ms;
        return;
    }
    if (known && first > now_ms) {
        /* a first sight stamped in the future (by a clock that was ahead): it happened no later than now,
         * so the delay runs from now, written back so that it keeps running; it never passes early, and
         * never waits the clocks' whole difference either */
        out->result = GREY_EARLY;
        out->retry_ms = spec->delay_ms;
        out->write_triplet = 1;
        memcpy(out->triplet, triplet, GREY_TRIPLET_SIZE);
        memcpy(out->triplet, &now_ms, 8);
        out->triplet_expires = now_ms + spec->retry_window_ms;
        return;
    }
    if (known) {
        /* too early: the clock keeps running from the first sight */
        out->result = GREY_EARLY;
        out->retry_ms = first + spec->delay_ms - now_ms;
        return;
    }
    out->result = GREY_NEW;
    out->retry_ms = spec->delay_ms;
    out->write_triplet = 1;
    memcpy(out->triplet, &now_ms, 8);
    out->triplet_expires = now_ms + spec->retry_window_ms;
}
