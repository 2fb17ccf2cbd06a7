/*
 * engine_fixture - an engine on the embedded store, with rules from text and an injected clock
 */
#ifndef FG_ENGINE_FIXTURE_H
#define FG_ENGINE_FIXTURE_H

#include "testutil.h"

#include "ban.h"
#include "engine.h"
#include "mem.h"

#define LISTEN "listen = { policy = \"unix:/tmp/x.sock\"; };\n"

typedef struct fixture {
    fg_conf *conf;
    store *store;
    engine eng;
    eval ev;
    char buf[2048];
    fg_request req;
} fixture;

/* fixture_of - a fixture around a configuration that loaded (its errors printed, and the test failed, when
 * it did not): the embedded store, on_error tempfail, no ban index (with_bans) */
static inline fixture *fixture_of(fg_conf *conf, const conf_errors *errs)
{
    if (!conf)
        dump_errors(errs);
    assert_non_null(conf);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->conf = conf;
    f->store = mem_store_new(&(mem_config){.seed = 7});
    f->eng.store = f->store;
    f->eng.on_error = ON_ERROR_TEMPFAIL;
    return f;
}

/* setup_conf - a fixture from a whole configuration (LISTEN is added) */
static inline fixture *setup_conf(const char *conf)
{
    conf_errors errs = {0};
    char text[8192];

    snprintf(text, sizeof text, LISTEN "%s", conf);
    return fixture_of(load_text(text, &errs), &errs);
}

/* setup - a fixture from rules alone */
static inline fixture *setup(const char *rules)
{
    char text[4096];

    snprintf(text, sizeof text, "rules = (\n%s\n);\n", rules);
    return setup_conf(text);
}

/* with_bans - the fixture with a ban index (teardown frees it) */
static inline fixture *with_bans(fixture *f)
{
    f->eng.bans = ban_index_new();
    assert_non_null(f->eng.bans);
    return f;
}

/* teardown - free a fixture, its ban index too */
static inline void teardown(fixture *f)
{
    eval_release(&f->ev);
    ban_index_free(f->eng.bans);
    store_free(f->store);
    conf_free(f->conf);
    free(f);
}

/* ask - evaluate one request at time now; returns the action */
static inline const char *ask(fixture *f, uint64_t now, const char *text)
{
    make_req(f->buf, sizeof f->buf, text, &f->req);
    assert_int_equal(engine_eval(&f->eng, &f->ev, f->conf->rules, &f->req, now, NULL, NULL), ENGINE_DONE);
    return f->ev.v.action;
}

#endif
