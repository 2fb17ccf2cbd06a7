/*
 * testutil - helpers shared by the unit tests
 *
 * cmocka wants these includes in this order.
 */
#ifndef FG_TESTUTIL_H
#define FG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

static char temp_dir[] = "/tmp/fgtestXXXXXX";

/* remove_one - nftw callback */
static inline int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* remove_temp - the temp folder goes when the test program ends */
static inline void remove_temp(void)
{
    nftw(temp_dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* write_temp - a file with this text in a fresh temp folder; returns its path (static buffer) */
static inline const char *write_temp(const char *name, const char *text)
{
    static char path[256];
    static int made;
    FILE *f;

    if (!made) {
        assert_non_null(mkdtemp(temp_dir));
        atexit(remove_temp);
        made = 1;
    }
    snprintf(path, sizeof path, "%s/%s", temp_dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* load_text - load a configuration from text; NULL with errs on problems */
static inline fg_conf *load_text(const char *text, conf_errors *errs)
{
    return conf_load(write_temp("floodgate.conf", text), errs);
}

/* has_error - is there an error mentioning needle at this line? */
static inline int has_error(const conf_errors *errs, int line, const char *needle)
{
    char at[32];
    snprintf(at, sizeof at, ":%d: ", line);
    for (unsigned i = 0; i < errs->n; i++)
        if (strstr(errs->msgs[i], at) && strstr(errs->msgs[i], needle))
            return 1;
    return 0;
}

/* dump_errors - print for a failing test */
static inline void dump_errors(const conf_errors *errs)
{
    for (unsigned i = 0; i < errs->n; i++)
        fprintf(stderr, "  error: %s\n", errs->msgs[i]);
}



#include "proto.h"

/* make_req - a request from "name=value\n..." text (copied into buf, which must outlive req) */
static inline void make_req(char *buf, size_t size, const char *text, fg_request *req)
{
    size_t n = strlen(text);
    assert_true(n + 2 < size);
    memcpy(buf, text, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    assert_int_equal(proto_parse(buf, n + 1, req), PROTO_OK);
}
#endif
