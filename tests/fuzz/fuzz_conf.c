/*
 * fuzz_conf - libFuzzer driver for the rule file
 *
 * The input is a whole configuration (libconfig text), loaded by
 * conf_load as `floodgated -t` loads it, beside the lists that FUZZ_RULES
 * names (so @list conditions and list settings can load). It must either
 * load or give errors, each "FILE:LINE: message"; any crash, leak or
 * sanitizer report is a bug. The driver runs with stdin at /dev/null, so
 * a list path naming it reads nothing. Build and run: make fuzz
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_write_lists();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conf_errors errs = {0};
    fg_conf *c;

    c = conf_load(fuzz_write("fuzz.conf", data, size), &errs);
    if (c) {
        if (errs.n || !c->rules)
            abort(); /* loaded, yet with errors, or without rules */
        conf_free(c);
    } else {
        if (!errs.n)
            abort(); /* refused without saying why */
        for (unsigned i = 0; i < errs.n; i++)
            if (!errs.msgs[i] || !errs.msgs[i][0])
                abort();
    }
    conf_errors_free(&errs);
    return 0;
}
