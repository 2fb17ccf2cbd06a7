/*
 * test_http - the HTTP adapter of the real floodgated, alone and behind the real nginx
 *
 * Usage: test_http FLOODGATED FLOODGATECTL RULES_DIR [NGINX]
 * floodgated listens on a free loopback port (and policy/control sockets)
 * in a temp folder; nginx, when given, runs in the foreground
 * (master_process off) with its own configuration, pid and logs there,
 * including the shipped rules/nginx.conf. Both are always stopped.
 * $FG_WRAPPER runs floodgated under valgrind, whose verdict is the exit
 * status at SIGTERM.
 */
#include "itest.h"

#include <regex.h>

static const char *daemon_bin, *ctl_bin, *rules_dir, *nginx_bin;
static int http_port;
static pid_t fg_pid = -1;

#define RULES                                                                                                  \
    "rules = (\n"                                                                                              \
    "  { name = \"web\"; on = \"http\"; limit = { key = [\"client_address\"]; count = 3; per = \"1h\"; }; },\n"  \
    "  { name = \"form\"; on = \"contact\"; if = { form = \"signup\"; }; action = \"REJECT closed\"; },\n"      \
    "  { name = \"slow\"; on = \"auth\"; if = { username = \"slow\"; }; action = \"TARPIT 5 go slow\"; },\n"    \
    "  { name = \"failures\"; on = \"report:auth_failure\"; limit = { key = [\"client_address\"]; count = 100; per = \"1h\"; }; },\n" \
    "  { name = \"logins\"; on = \"auth\"; limit = { key = [\"client_address\"]; count = 2; per = \"1h\"; };\n"  \
    "    action = \"REJECT 5.7.1 too many logins\"; }\n"                                                        \
    ");\n"

/* write_conf - floodgated's configuration */
static void write_conf(void)
{
    char text[4096];
    snprintf(text, sizeof text,
             "listen = { policy = \"unix:%s\"; control = \"unix:%s\"; http = \"tcp:127.0.0.1:%d\";\n"
             "           http_max_connections = 6; http_timeout = \"1s\"; max_request = \"4k\"; };\n"
             "store = { type = \"embedded\"; };\n%s",
             it_path("policy.sock"), it_path("control.sock"), http_port, RULES);
    it_write("floodgate.conf", text);
}

/* ctl - floodgatectl with these arguments; its output */
static char *ctl(const char *args)
{
    char cmd[2048];
    int status;
    snprintf(cmd, sizeof cmd, "%s -s %s %s", ctl_bin, it_path("control.sock"), args);
    char *out = it_run(cmd, &status);
    assert_int_equal(status, 0);
    return out;
}

/* policy_ask - one request on the policy socket; the reply (static) */
static const char *policy_ask(const char *req)
{
    static char buf[4096];
    int fd = it_connect_unix(it_path("policy.sock"));
    size_t got = 0;

    buf[0] = '\0';
    assert_true(fd >= 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got < sizeof buf - 1 && !strstr(buf, "\n\n")) {
        ssize_t n = it_read_fd(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
    }
    close(fd);
    return buf;
}

/* log_has - does floodgated's log hold this text? */
static int log_has(const char *text)
{
    static char buf[1 << 16];
    FILE *f = fopen(it_path("floodgated.log"), "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, text) != NULL;
}

/* check_request - GET /check/KIND with headers */
static void check_request(char *out, size_t size, const char *kind, const char *headers)
{
    snprintf(out, size, "GET /check/%s HTTP/1.1\r\nHost: floodgate\r\n%s\r\n", kind, headers);
}

/* dovecot_request - POST /?command=CMD with a JSON body */
static void dovecot_request(char *out, size_t size, const char *cmd, const char *json)
{
    snprintf(out, size, "POST /?command=%s HTTP/1.1\r\nHost: floodgate\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\n\r\n%s", cmd, strlen(json), json);
}

/* nginx's auth_request: 204 until the limit, then 403 with Retry-After and the rule; keep-alive on one connection */
static void test_check(void **st)
{
    char req[1024];
    it_response r;
    int fd = it_connect_tcp(http_port);
    (void)st;

    assert_true(fd >= 0);
    check_request(req, sizeof req, "http", "X-Real-IP: 192.0.2.10\r\nX-Original-Method: GET\r\nX-Original-URI: /\r\n");
    for (int i = 0; i < 3; i++) {
        it_exchange(fd, req, strlen(req), &r);
        assert_int_equal(r.status, 204);
        assert_false(r.closed);
    }
    it_exchange(fd, req, strlen(req), &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(it_header(&r, "X-Floodgate-Reason"), "web");
    assert_non_null(it_header(&r, "Retry-After"));
    assert_true(atoi(it_header(&r, "Retry-After")) > 3500);
    assert_false(r.closed);
    close(fd);
    /* logged as the policy socket logs its refusals (one dispatch, one decision line) */
    assert_true(log_has("decision request=http rule=web client_address=192.0.2.10 uri=/ action="));
    /* another address is another counter; X-Forwarded-For's last hop counts without X-Real-IP */
    check_request(req, sizeof req, "http", "X-Forwarded-For: 192.0.2.10, 192.0.2.11\r\n");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 204);
    check_request(req, sizeof req, "http", "X-Forwarded-For: 192.0.2.11, 192.0.2.10\r\n");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 403);
    /* query arguments are attributes; any kind */
    check_request(req, sizeof req, "contact?form=signup&client_address=192.0.2.12", "");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(it_header(&r, "X-Floodgate-Reason"), "form");
    assert_null(it_header(&r, "Retry-After") && atoi(it_header(&r, "Retry-After")) > 1 ? "x" : NULL);
    check_request(req, sizeof req, "contact?form=feedback&client_address=192.0.2.12", "");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 204);
    assert_null(it_header(&r, "X-Floodgate-Tarpit"));
    /* a TARPIT is not a refusal: 204, with the delay and the rule in headers */
    check_request(req, sizeof req, "auth?username=slow&client_address=192.0.2.13", "");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 204);
    assert_non_null(it_header(&r, "X-Floodgate-Tarpit"));
    assert_string_equal(it_header(&r, "X-Floodgate-Tarpit"), "5");
    assert_string_equal(it_header(&r, "X-Floodgate-Reason"), "slow");
}

/* Dovecot: allow -> -1/0/N, report -> the report rules */
static void test_dovecot(void **st)
{
    char req[2048];
    it_response r;
    int fd = it_connect_tcp(http_port);
    const char *body = "{\"device_id\":\"\",\"login\":\"joe@example.com\",\"protocol\":\"imap\",\"pwhash\":\"01e8\","
                       "\"remote\":\"198.51.100.7\",\"session_id\":\"YEMwef9g9OJ/AAAB\",\"tls\":false}";
    (void)st;

    assert_true(fd >= 0);
    dovecot_request(req, sizeof req, "allow", body);
    for (int i = 0; i < 2; i++) {
        it_exchange(fd, req, strlen(req), &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(it_header(&r, "Content-Type"), "application/json");
        assert_string_equal(r.body, "{\"status\":0,\"msg\":\"\"}");
    }
    it_exchange(fd, req, strlen(req), &r);
    assert_string_equal(r.body, "{\"status\":-1,\"msg\":\"too many logins\"}");
    close(fd);
    dovecot_request(req, sizeof req, "allow", "{\"login\":\"slow\",\"remote\":\"198.51.100.8\"}");
    it_http(http_port, req, &r);
    assert_string_equal(r.body, "{\"status\":5,\"msg\":\"go slow\"}");
    dovecot_request(req, sizeof req, "report",
                    "{\"login\":\"joe\",\"remote\":\"198.51.100.9\",\"success\":false,\"policy_reject\":false}");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":0,\"msg\":\"\"}");
    /* the report reached the report rule: one failure counted for that address */
    char *out = ctl("counter failures 198.51.100.9");
    assert_non_null(strstr(out, "count"));
    assert_non_null(strstr(out, " 1\n"));
    /* the policy socket gets the tarpit as an attribute */
    assert_string_equal(policy_ask("request=auth\nusername=slow\nclient_address=198.51.100.8\n\n"),
                        "action=DUNNO\ntarpit=5\nreason=slow\n\n");
}

/* bad input: a clear error, the connection closed, nothing else affected */
static void test_bad_input(void **st)
{
    static const struct { const char *label, *req; int want; } cases[] = {
        {"bad json", "POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{bad}", 400},
        {"json array", "POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]", 400},
        {"unknown path", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"unknown kind", "GET /check/bogus HTTP/1.1\r\nHost: x\r\n\r\n", 404},
        {"unknown command", "POST /?command=nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 404},
        {"wrong method", "POST /check/http HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405},
        {"wrong method 2", "GET /?command=allow HTTP/1.1\r\nHost: x\r\n\r\n", 405},
        {"bad query", "GET /check/http?a&b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"not http", "HELLO\r\n\r\n", 400},
    };
    char big[16384];
    it_response r;
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        it_http(http_port, cases[i].req, &r);
        if (r.status != cases[i].want || !r.closed)
            fail_msg("%s: status %d (want %d), closed %d", cases[i].label, r.status, cases[i].want, r.closed);
    }
    /* a body over max_request (4k) */
    int n = snprintf(big, sizeof big, "POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
    memset(big + n, ' ', 5000);
    big[n + 5000] = '\0';
    it_http(http_port, big, &r);
    assert_int_equal(r.status, 413);
    assert_true(r.closed);
    /* headers over 8 KiB */
    n = snprintf(big, sizeof big, "GET /check/http HTTP/1.1\r\nHost: x\r\nX-Pad: ");
    memset(big + n, 'a', 9000);
    strcpy(big + n + 9000, "\r\n\r\n");
    it_http(http_port, big, &r);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    /* everything else goes on */
    assert_string_equal(policy_ask("request=auth\nusername=x\nclient_address=203.0.113.1\n\n"), "action=DUNNO\n\n");
    check_request(big, sizeof big, "http", "X-Real-IP: 203.0.113.1\r\n");
    it_http(http_port, big, &r);
    assert_int_equal(r.status, 204);
}

static double value_of(const char *text, const char *sample);

/* slow clients: http_max_connections of them stop the HTTP listener, never the policy socket;
 * http_timeout answers them 408 and closes them */
static void test_slow_clients(void **st)
{
    int fds[6], extra;
    char req[512];
    it_response r;
    (void)st;

    for (int i = 0; i < 6; i++) {
        fds[i] = it_connect_tcp(http_port);
        assert_true(fds[i] >= 0);
        assert_int_equal(write(fds[i], "GET /check/http HTTP/1.1\r\nHo", 28), 28); /* and nothing more */
    }
    /* the 7th waits in the backlog: no answer while the others hold their places... */
    extra = it_connect_tcp(http_port);
    assert_true(extra >= 0);
    check_request(req, sizeof req, "http", "X-Real-IP: 203.0.113.2\r\n");
    assert_int_equal(write(extra, req, strlen(req)), (ssize_t)strlen(req));
    struct pollfd p = {extra, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 200), 0);
    /* ...while the policy and control sockets answer at once */
    assert_string_equal(policy_ask("request=auth\nusername=y\nclient_address=203.0.113.2\n\n"), "action=DUNNO\n\n");
    assert_true(value_of(ctl("stats"), "http_connections_paused") >= 1);
    /* http_timeout (1 s) answers the slow ones and closes them; then the 7th is served */
    for (int i = 0; i < 6; i++) {
        it_exchange(fds[i], "", 0, &r);
        assert_int_equal(r.status, 408);
        assert_true(r.closed);
        close(fds[i]);
    }
    it_exchange(extra, "", 0, &r);
    assert_int_equal(r.status, 204);
    close(extra);
}

/* no_answer_yet - nothing has come on fd within a short wait (a request not complete is not answered) */
static int no_answer_yet(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 50) == 0;
}

/* at_eof - the server closed fd without sending anything more */
static int at_eof(int fd)
{
    char c;
    return it_read_fd(fd, &c, 1) == 0;
}

/* a request begun and not complete in http_timeout: 408 and closed, while everyone else is served; an idle
 * keep-alive connection: closed without a word; a request sent in pieces in time: served as usual */
static void test_request_timeout(void **st)
{
    static const struct { const char *label, *part; } slow[] = {
        {"request line", "GET /check/ht"},
        {"headers", "GET /check/http HTTP/1.1\r\nHost: x\r\nX-Real-IP: 203.0.113.3\r\n"},
        {"body", "POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{\"login\":\"a\""},
    };
    static const char *const pieces[][3] = {
        {"GET /check/http?client_address=203.0.113.4 HT", "TP/1.1\r\nHost: x\r\n", "\r\n"},
        {"POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 36\r\n\r\n", "{\"login\":\"b\",", "\"remote\":\"203.0.113.5\"}"},
    };
    int fds[3], idle, fresh, keep, quitter;
    char req[512];
    it_response r;
    (void)st;

    it_http(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    double before = value_of(r.body, "floodgate_http_responses_total{code=\"408\"}");
    /* a keep-alive connection left idle after an answer, and one that never asks */
    idle = it_connect_tcp(http_port);
    check_request(req, sizeof req, "http", "X-Real-IP: 203.0.113.6\r\n");
    it_exchange(idle, req, strlen(req), &r);
    assert_int_equal(r.status, 204);
    assert_false(r.closed);
    fresh = it_connect_tcp(http_port);
    /* one that begins a request and leaves: its timer goes with it (ASan and valgrind would see it fire late) */
    quitter = it_connect_tcp(http_port);
    assert_int_equal(write(quitter, "GET /check/h", 12), 12);
    assert_true(no_answer_yet(quitter));
    close(quitter);
    for (int i = 0; i < 3; i++) {
        fds[i] = it_connect_tcp(http_port);
        assert_true(fds[i] >= 0);
        assert_int_equal(write(fds[i], slow[i].part, strlen(slow[i].part)), (ssize_t)strlen(slow[i].part));
    }
    /* meanwhile the policy socket, the control socket and another HTTP client are answered */
    assert_string_equal(policy_ask("request=auth\nusername=z\nclient_address=203.0.113.7\n\n"), "action=DUNNO\n\n");
    assert_true(value_of(ctl("stats"), "http_connections_open") >= 5);
    check_request(req, sizeof req, "http", "X-Real-IP: 203.0.113.7\r\n");
    it_http(http_port, req, &r);
    assert_int_equal(r.status, 204);
    /* requests sent in pieces, each complete well within the timeout, on one keep-alive connection */
    keep = it_connect_tcp(http_port);
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            assert_int_equal(write(keep, pieces[i][j], strlen(pieces[i][j])), (ssize_t)strlen(pieces[i][j]));
            assert_true(no_answer_yet(keep));
        }
        it_exchange(keep, pieces[i][2], strlen(pieces[i][2]), &r);
        assert_int_equal(r.status, i ? 200 : 204);
        assert_false(r.closed);
    }
    assert_string_equal(r.body, "{\"status\":0,\"msg\":\"\"}");
    /* the slow ones: 408, said to close, closed */
    for (int i = 0; i < 3; i++) {
        it_exchange(fds[i], "", 0, &r);
        if (r.status != 408 || !r.closed)
            fail_msg("slow %s: status %d (want 408), closed %d", slow[i].label, r.status, r.closed);
        assert_string_equal(it_header(&r, "Connection"), "close");
        assert_string_equal(r.body, "request not complete within listen.http_timeout\n");
        close(fds[i]);
    }
    /* the idle ones, and the one whose requests came in pieces, once idle: closed, nothing said */
    assert_true(at_eof(idle));
    assert_true(at_eof(fresh));
    assert_true(at_eof(keep));
    close(idle);
    close(fresh);
    close(keep);
    /* one that sends a byte now and then, more often than the timeout: its request's time still runs out */
    int trickle = it_connect_tcp(http_port);
    assert_int_equal(write(trickle, "GET /check/http HTTP/1.1\r\nX-Pad: ", 34), 34);
    struct pollfd p = {trickle, POLLIN, 0};
    for (int i = 0; i < 120 && poll(&p, 1, 250) == 0; i++)
        assert_int_equal(write(trickle, "a", 1), 1);
    it_exchange(trickle, "", 0, &r);
    assert_int_equal(r.status, 408);
    assert_true(r.closed);
    close(trickle);
    /* counted, in /metrics and stats alike */
    it_http(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    assert_true(value_of(r.body, "floodgate_http_responses_total{code=\"408\"}") == (before < 0 ? 0 : before) + 4);
    assert_true(value_of(ctl("stats"), "http_responses.408") ==
                value_of(r.body, "floodgate_http_responses_total{code=\"408\"}"));
    assert_true(log_has("http: 408 Request Timeout: request not complete in 1000 ms"));
}

/* value_of - the value of a sample line "NAME{...} VALUE" in text, -1 if absent */
static double value_of(const char *text, const char *sample)
{
    size_t n = strlen(sample);
    for (const char *p = text; (p = strstr(p, sample)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

/* check_exposition - every line of /metrics is valid Prometheus text format, every sample has its TYPE */
static void check_exposition(const char *text)
{
    regex_t help, type, sample;
    char line[2048], typed[512][128];
    int ntyped = 0;

    assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$", REG_EXTENDED | REG_NOSUB), 0);
    assert_int_equal(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$",
                             REG_EXTENDED), 0);
    assert_int_equal(regcomp(&sample,
                             "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
                             "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})? "
                             "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|-Inf|NaN)$",
                             REG_EXTENDED), 0);
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        regmatch_t m[2];
        snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        if (!regexec(&help, line, 0, NULL, 0))
            continue;
        if (!regexec(&type, line, 2, m, 0)) {
            assert_true(ntyped < 512);
            snprintf(typed[ntyped++], 128, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
            continue;
        }
        if (regexec(&sample, line, 2, m, 0))
            fail_msg("not exposition format: \"%s\"", line);
        /* the sample's family was typed before it (histogram samples end in _bucket, _sum, _count) */
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line + m[1].rm_so);
        int found = 0;
        for (int i = 0; i < ntyped && !found; i++) {
            size_t tl = strlen(typed[i]);
            found = !strcmp(name, typed[i]) ||
                    (!strncmp(name, typed[i], tl) && (!strcmp(name + tl, "_bucket") || !strcmp(name + tl, "_sum") ||
                                                       !strcmp(name + tl, "_count")));
        }
        if (!found)
            fail_msg("sample before its # TYPE: \"%s\"", line);
    }
    regfree(&help);
    regfree(&type);
    regfree(&sample);
}

/* counters_not_lower - every counter sample of before is in after with a value at least as high */
static void counters_not_lower(const char *before, const char *after)
{
    char line[2048];

    for (const char *p = before; *p;) {
        const char *nl = strchr(p, '\n');
        snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
        p = nl + 1;
        if (line[0] == '#' || !strstr(line, "_total"))
            continue;
        char *sp = strrchr(line, ' ');
        *sp = '\0';
        double a = atof(sp + 1), b = value_of(after, line);
        if (b < a)
            fail_msg("%s went from %g to %g", line, a, b);
    }
}

/* /metrics: valid exposition format; the same numbers as floodgatectl stats; nothing goes back at a reload */
static void test_metrics(void **st)
{
    static char before[65536];
    it_response r;
    (void)st;

    /* every connection of the tests before is closed and uncounted: this scrape's is the only one
     * (the server may see the last close just after this connect, hence the few tries) */
    for (int i = 0; i < 500; i++) {
        it_http(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
        if (value_of(r.body, "floodgate_http_connections_open") == 1)
            break;
        poll(NULL, 0, 10);
    }
    assert_int_equal(r.status, 200);
    assert_int_equal(value_of(r.body, "floodgate_http_connections_open"), 1);
    assert_non_null(strstr(it_header(&r, "Content-Type"), "text/plain; version=0.0.4"));
    check_exposition(r.body);
    assert_true(value_of(r.body, "floodgate_requests_total{front=\"http\",kind=\"http\",verdict=\"limit\"}") >= 2);
    assert_true(value_of(r.body, "floodgate_requests_total{front=\"http\",kind=\"auth\",verdict=\"tarpit\"}") >= 1);
    assert_true(value_of(r.body, "floodgate_requests_total{front=\"policy\",kind=\"auth\",verdict=\"tarpit\"}") >= 1);
    assert_true(value_of(r.body, "floodgate_rule_decided_total{rule=\"web\"}") >= 2);
    assert_true(value_of(r.body, "floodgate_request_duration_seconds_count") >= 10);
    assert_true(value_of(r.body, "floodgate_http_responses_total{code=\"404\"}") >= 3);
    /* one registry: stats says the same */
    char *out = ctl("stats");
    double verdicts = value_of(out, "verdicts"), engine = value_of(r.body, "floodgate_engine_requests_total");
    assert_true(verdicts >= 0);
    assert_true(verdicts == engine);
    /* what the issue lists, each the same number in both: bans, greylist outcomes, keys, store operations and
     * errors, latency, per-rule matches and decisions, requests by kind and verdict */
    static const struct { const char *stat, *prom; int positive; } same[] = {
        {"bans_active", "floodgate_bans_active", 1},
        {"bans_issued", "floodgate_bans_issued_total", 1},
        {"greylist.new", "floodgate_greylist_steps_total{result=\"new\"}", 0},
        {"store_keys", "floodgate_store_keys", 1},
        {"store_batches", "floodgate_store_batches_total", 1},
        {"store_errors", "floodgate_store_errors_total", 0},
        {"latency.count", "floodgate_request_duration_seconds_count", 1},
        {"rule.web.matched", "floodgate_rule_matched_total{rule=\"web\"}", 1},
        {"rule.web.decided", "floodgate_rule_decided_total{rule=\"web\"}", 1},
        {"verdict.http.http.limit", "floodgate_requests_total{front=\"http\",kind=\"http\",verdict=\"limit\"}", 1},
    };
    ctl("ban 203.0.113.99 1h");
    it_http(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    out = ctl("stats");
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        double a = value_of(out, same[i].stat), b = value_of(r.body, same[i].prom);
        if (a < 0 || b < 0 || a != b || (same[i].positive && a < 1))
            fail_msg("%s = %g in stats, %s = %g in /metrics", same[i].stat, a, same[i].prom, b);
    }
    assert_true(value_of(r.body, "floodgate_memory_bytes") > 0);
    assert_true(value_of(r.body, "floodgate_request_duration_seconds_bucket{le=\"+Inf\"}") ==
                value_of(r.body, "floodgate_request_duration_seconds_count"));
    memcpy(before, r.body, r.body_len + 1);
    /* a reload keeps every counter */
    out = ctl("reload");
    assert_non_null(strstr(out, "ok"));
    it_http(http_port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
    check_exposition(r.body);
    counters_not_lower(before, r.body);
    assert_true(value_of(r.body, "floodgate_rule_matched_total{rule=\"web\"}") ==
                value_of(before, "floodgate_rule_matched_total{rule=\"web\"}"));
    assert_true(value_of(r.body, "floodgate_reloads_total") == value_of(before, "floodgate_reloads_total") + 1);
}

/* write_nginx - nginx's configuration: the shipped snippet in a server with a static file */
static void write_nginx(int port)
{
    char text[4096], cmd[1200];
    int status;

    snprintf(cmd, sizeof cmd, "mkdir -p %s/www %s/ntmp && cp %s/nginx.conf %s/floodgate-nginx.conf", it_dir, it_dir,
             rules_dir, it_dir);
    it_run(cmd, &status);
    assert_int_equal(status, 0);
    it_write("www/index.html", "hello\n");
    snprintf(text, sizeof text,
             "daemon off;\nmaster_process off;\npid %s/nginx.pid;\nerror_log %s/nginx-error.log;\n"
             "events { worker_connections 64; }\n"
             "http {\n"
             "  access_log off;\n"
             "  client_body_temp_path %s/ntmp/body; proxy_temp_path %s/ntmp/proxy; fastcgi_temp_path %s/ntmp/fcgi;\n"
             "  uwsgi_temp_path %s/ntmp/uwsgi; scgi_temp_path %s/ntmp/scgi;\n"
             "  upstream floodgate { server 127.0.0.1:%d; keepalive 4; }\n"
             "  server {\n"
             "    listen 127.0.0.1:%d;\n"
             "    root %s/www;\n"
             "    set_real_ip_from 127.0.0.1; real_ip_header X-Forwarded-For;\n"
             "    include %s/floodgate-nginx.conf;\n"
             "  }\n"
             "}\n",
             it_dir, it_dir, it_dir, it_dir, it_dir, it_dir, it_dir, http_port, port, it_dir, it_dir);
    it_write("nginx.conf", text);
}

/* nginx with auth_request in front of a static file: 200 until the limit, then 429 with Retry-After */
static void test_nginx(void **st)
{
    char req[512];
    it_response r;
    int port;
    pid_t pid;
    (void)st;

    if (!nginx_bin || access(nginx_bin, X_OK) < 0) {
        printf("SKIP test_nginx: nginx is not installed (apt-get install nginx-light)\n");
        skip();
    }
    port = it_free_port();
    write_nginx(port);
    char *argv[] = {(char *)nginx_bin, "-p", it_dir, "-e", (char *)it_path("nginx-error.log"), "-c",
                    (char *)it_path("nginx.conf"), NULL};
    pid = it_spawn(argv, "nginx.log");
    it_wait_tcp(port, pid, "nginx-error.log");
    snprintf(req, sizeof req, "GET /index.html HTTP/1.1\r\nHost: site\r\nX-Forwarded-For: 192.0.2.50\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        it_http(port, req, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "hello\n");
    }
    it_http(port, req, &r);
    assert_int_equal(r.status, 429);
    assert_non_null(it_header(&r, "Retry-After"));
    assert_true(atoi(it_header(&r, "Retry-After")) > 3500);
    assert_string_equal(it_header(&r, "X-Floodgate-Reason"), "web");
    /* another address is not affected */
    snprintf(req, sizeof req, "GET /index.html HTTP/1.1\r\nHost: site\r\nX-Forwarded-For: 192.0.2.51\r\n\r\n");
    it_http(port, req, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(it_stop(pid, SIGQUIT), 0);
}

/* SIGTERM: exit 0 (under valgrind: no error, no leak) */
static void test_stop(void **st)
{
    (void)st;
    int fd = it_connect_tcp(http_port); /* an idle keep-alive client must not hold up the stop */
    int slow = it_connect_tcp(http_port); /* nor one in the middle of a request (its timer freed) */
    assert_int_equal(write(slow, "GET /check/http HTTP/1.1\r\n", 26), 26);
    assert_true(no_answer_yet(slow));
    assert_int_equal(it_stop(fg_pid, SIGTERM), 0);
    fg_pid = -1;
    close(fd);
    close(slow);
}

static int group_setup(void **st)
{
    (void)st;
    it_start_dir();
    http_port = it_free_port();
    write_conf();
    fg_pid = it_start_floodgated(daemon_bin, it_path("floodgate.conf"), http_port);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_http FLOODGATED FLOODGATECTL RULES_DIR [NGINX]\n");
        return 2;
    }
    daemon_bin = argv[1];
    ctl_bin = argv[2];
    rules_dir = argv[3];
    nginx_bin = argc > 4 ? argv[4] : NULL;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_dovecot),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_request_timeout),
        cmocka_unit_test(test_nginx),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
