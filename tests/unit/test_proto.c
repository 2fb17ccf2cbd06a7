/*
 * test_proto - framing and parsing of the policy protocol
 */
#include "testutil.h"

#include "proto.h"

static const char *const postfix_request =
    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=192.0.2.7\n"
    "client_name=mail.example.org\nreverse_client_name=mail.example.org\nhelo_name=mail.example.org\n"
    "sender=joe@example.org\nrecipient=ann@example.com\nrecipient_count=0\nqueue_id=\ninstance=1a2b.3c4d.0\n"
    "size=12345\netrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
    "ccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\npolicy_context=\nserver_address=192.0.2.1\n"
    "server_port=25\ncompatibility_level=3.6\nmail_version=3.7.11\nx_unknown_attribute=whatever\n\n";

/* a request fed one byte at a time is framed exactly once, at its end */
static void test_split_at_every_byte(void **st)
{
    size_t len = strlen(postfix_request), scan = 0;
    (void)st;

    for (size_t have = 0; have < len; have++)
        assert_int_equal(proto_frame(postfix_request, have, &scan), 0);
    assert_int_equal(proto_frame(postfix_request, len, &scan), len);
    /* and split into two pieces at every point */
    for (size_t cut = 0; cut <= len; cut++) {
        scan = 0;
        size_t first = proto_frame(postfix_request, cut, &scan);
        size_t got = first ? first : proto_frame(postfix_request, len, &scan);
        assert_int_equal(got, len);
    }
}

/* every attribute floodgate knows is read by its exact name only: not by a name one byte off, a prefix or
 * a longer name (names are compared a word at a time) */
static void test_attribute_names_exact(void **st)
{
    (void)st;
    for (int id = 0; id < ATTR__COUNT; id++) {
        const char *name = req_attr_name(id);
        size_t n = strlen(name);
        char other[64];
        assert_int_equal(req_attr_id(name, n), id);
        for (size_t i = 0; i < n; i++) {
            memcpy(other, name, n);
            other[i] ^= 0x20; /* case too: names are case-sensitive */
            assert_int_not_equal(req_attr_id(other, n), id);
        }
        assert_int_not_equal(req_attr_id(name, n - 1), id);
        memcpy(other, name, n);
        other[n] = 's';
        assert_int_not_equal(req_attr_id(other, n + 1), id);
    }
}

/* parse_text - parse a copy of text (one request, its empty line included) into req */
static enum proto_status parse_text(const char *text, char *buf, size_t size, fg_request *req)
{
    size_t n = strlen(text);
    assert_true(n < size);
    memcpy(buf, text, n + 1);
    return proto_parse(buf, n - 1, req);
}

/* every attribute reads the same whatever the order of the lines: Postfix's order, backwards, shuffled, with
 * unknown names between known ones, names that extend or cut the expected next one, and a repeated
 * attribute (the last one counts) */
static void test_parse_any_order(void **st)
{
    static const char *const lines[] = {
        "request=smtpd_access_policy\n", "protocol_state=RCPT\n", "protocol_name=ESMTP\n",
        "client_address=192.0.2.7\n", "client_name=mail.example.org\n", "client_port=4242\n",
        "reverse_client_name=rev.example.org\n", "server_address=192.0.2.1\n", "server_port=25\n",
        "helo_name=helo.example.org\n", "sender=joe@example.org\n", "recipient=ann@example.com\n",
        "recipient_count=0\n", "queue_id=\n", "instance=1a2b\n", "size=12345\n",
    };
    enum { N = sizeof lines / sizeof lines[0] };
    static const char *const noise[] = {"sender_x=1\n", "recipien=2\n", "client_addressx=3\n", "x=4\n"};
    char text[2048], buf[2048];
    fg_request want, got;
    size_t len;
    unsigned order[N], seed = 7;
    (void)st;

    text[0] = '\0';
    for (int i = 0; i < N; i++)
        strcat(text, lines[i]);
    strcat(text, "\n");
    char wbuf[2048];
    assert_int_equal(parse_text(text, wbuf, sizeof wbuf, &want), PROTO_OK);
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < N; i++)
            order[i] = round == 1 ? (unsigned)(N - 1 - i) : (unsigned)i;
        for (int i = N - 1; round > 1 && i > 0; i--) {
            seed = seed * 1103515245 + 12345;
            unsigned j = (seed >> 16) % (unsigned)(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        text[0] = '\0';
        strcat(text, "sender=someone.else@example.net\n"); /* overwritten by the later sender line */
        for (int i = 0; i < N; i++) {
            strcat(text, lines[order[i]]);
            if (round > 1 && (seed >> (i % 16) & 1))
                strcat(text, noise[(unsigned)i % 4]);
        }
        strcat(text, "\n");
        assert_int_equal(parse_text(text, buf, sizeof buf, &got), PROTO_OK);
        for (int id = 0; id < ATTR__WIRE; id++) {
            const char *w = req_get(&want, id, &len);
            size_t glen;
            const char *g = req_get(&got, id, &glen);
            if (glen != len || memcmp(g, w, len))
                fail_msg("round %d: %s is \"%.*s\", not \"%.*s\"", round, req_attr_name(id), (int)glen, g, (int)len, w);
        }
        assert_int_equal(got.kind, want.kind);
    }
}

static void test_parse_postfix(void **st)
{
    char buf[4096];
    fg_request req;
    size_t len, n = strlen(postfix_request);
    (void)st;

    memcpy(buf, postfix_request, n + 1);
    assert_int_equal(proto_parse(buf, n, &req), PROTO_OK);
    assert_int_equal(req.kind, REQ_SMTP);
    assert_string_equal(req_get(&req, ATTR_CLIENT_ADDRESS, &len), "192.0.2.7");
    assert_string_equal(req_get(&req, ATTR_SENDER, &len), "joe@example.org");
    assert_string_equal(req_get(&req, ATTR_RECIPIENT_DOMAIN, &len), "example.com");
    assert_int_equal(len, 11);
    assert_string_equal(req_get(&req, ATTR_QUEUE_ID, &len), "");
    assert_string_equal(req_get_name(&req, "x_unknown_attribute", &len), "whatever");
    assert_string_equal(req_get(&req, ATTR_SASL_USERNAME, &len), "");
}

/* several requests in one buffer come out one after the other */
static void test_pipelining(void **st)
{
    char buf[1024];
    const char *text = "request=auth\nusername=a\n\nrequest=auth\nusername=b\n\nrequest=scan\nsender=c@d\n\nrequest=au";
    size_t len = strlen(text), off = 0, scan = 0, n;
    const char *want[] = {"a", "b"};
    int i = 0;
    (void)st;

    memcpy(buf, text, len + 1);
    while ((n = proto_frame(buf + off, len - off, &scan)) != 0) {
        fg_request req;
        size_t vl;
        assert_int_equal(proto_parse(buf + off, n, &req), PROTO_OK);
        if (i < 2)
            assert_string_equal(req_get(&req, ATTR_USERNAME, &vl), want[i]);
        else
            assert_int_equal(req.kind, REQ_SCAN);
        off += n;
        i++;
    }
    assert_int_equal(i, 3);
    assert_string_equal(buf + off, "request=au");
}

static void test_garbage(void **st)
{
    static const struct { const char *label, *text; enum proto_status want; } cases[] = {
        {"line without =", "request=auth\nhello world\n\n", PROTO_NO_EQUALS},
        {"empty name", "request=auth\n=x\n\n", PROTO_EMPTY_NAME},
        {"no request", "client_address=1.2.3.4\n\n", PROTO_NO_REQUEST},
        {"empty request", "\n", PROTO_NO_REQUEST},
        {"unknown kind", "request=teapot\n\n", PROTO_UNKNOWN_KIND},
        {"CRLF tolerated", "request=auth\r\nusername=x\r\n\r\n", PROTO_OK},
        {"value with = inside", "request=http\nuri=/a?b=c\n\n", PROTO_OK},
        {"binary value", "request=auth\nusername=\xff\xfe\x01\n\n", PROTO_OK},
    };
    char buf[256];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fg_request req;
        size_t scan = 0, n = strlen(cases[i].text);
        memcpy(buf, cases[i].text, n + 1);
        assert_int_equal(proto_frame(buf, n, &scan), n);
        if (proto_parse(buf, n, &req) != cases[i].want)
            fail_msg("%s: status %d, want %d", cases[i].label, proto_parse(buf, n, &req), cases[i].want);
    }
    /* a NUL byte inside a line */
    memcpy(buf, "request=auth\nuser\0name=x\n\n", 27);
    {
        fg_request req;
        size_t scan = 0;
        assert_int_equal(proto_frame(buf, 26, &scan), 26);
        assert_int_equal(proto_parse(buf, 26, &req), PROTO_BAD_BYTE);
    }
}

static void test_reply(void **st)
{
    verdict v = {0};
    char out[2048];
    (void)st;

    strcpy(v.action, "DUNNO");
    proto_reply(&v, REQ_SMTP, out, sizeof out);
    assert_string_equal(out, "action=DUNNO\n\n");
    strcpy(v.action, "REJECT slow down");
    strcpy(v.reason, "auth-rate");
    v.retry_s = 30;
    proto_reply(&v, REQ_AUTH, out, sizeof out);
    assert_string_equal(out, "action=REJECT slow down\nretry_after=30\nreason=auth-rate\n\n");
    /* smtpd_access_policy replies carry only the action: Postfix wants nothing else */
    proto_reply(&v, REQ_SMTP, out, sizeof out);
    assert_string_equal(out, "action=REJECT slow down\n\n");
    /* TARPIT is no access(5) action: DUNNO, and the delay for the clients that can take it */
    strcpy(v.action, "TARPIT 5 slow down");
    v.retry_s = 0;
    v.tarpit_s = 5;
    proto_reply(&v, REQ_AUTH, out, sizeof out);
    assert_string_equal(out, "action=DUNNO\ntarpit=5\nreason=auth-rate\n\n");
    proto_reply(&v, REQ_SMTP, out, sizeof out);
    assert_string_equal(out, "action=DUNNO\n\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_parse_postfix),
        cmocka_unit_test(test_parse_any_order),
        cmocka_unit_test(test_attribute_names_exact),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
