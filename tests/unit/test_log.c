/*
 * test_log - log lines as a reader of the log sees them: a value from the Internet with a newline or another
 * control byte cannot end its line or forge the next one; key=value lines keep their own escapes
 */
#include "testutil.h"

#include "decision_log.h"
#include "log.h"

/* captured - what fn wrote to stderr (static buffer) */
static const char *captured(void (*fn)(void))
{
    static char out[1 << 15];
    FILE *tmp = tmpfile();
    int saved = dup(2);
    size_t n;

    assert_non_null(tmp);
    fflush(stderr);
    assert_true(dup2(fileno(tmp), 2) >= 0);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

/* lines - the number of lines in text */
static int lines(const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    return n;
}

/* log_escape on its own: control bytes and backslash as \xNN, the rest as it is */
static void test_escape_table(void **st)
{
    static const struct {
        const char *label, *in;
        int backslash;
        const char *want;
    } cases[] = {
        {"plain", "mx.example.org", 1, "mx.example.org"},
        {"newline", "a\nb", 1, "a\\x0ab"},
        {"cr, tab, esc, del", "\r\t\x1b\x7f", 1, "\\x0d\\x09\\x1b\\x7f"},
        {"backslash", "a\\x0a", 1, "a\\x5cx0a"},
        {"backslash kept", "\"a\\\" b\"\n", 0, "\"a\\\" b\"\\x0a"},
        {"8-bit kept", "caf\xc3\xa9", 1, "caf\xc3\xa9"},
        {"empty", "", 1, ""},
    };
    char out[64];
    (void)st;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = log_escape(out, sizeof out, cases[i].in, cases[i].backslash);
        if (strcmp(out, cases[i].want) || n != strlen(cases[i].want))
            fail_msg("%s: got \"%s\" (%zu), want \"%s\"", cases[i].label, out, n, cases[i].want);
    }
}

/* a short buffer cuts before an escape, never inside one, and always ends the string */
static void test_escape_cut(void **st)
{
    char out[8];
    (void)st;

    assert_int_equal(log_escape(out, sizeof out, "ab\n\n", 1), 6);
    assert_string_equal(out, "ab\\x0a");
    assert_int_equal(log_escape(out, sizeof out, "abcdefghij", 1), 7);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(log_escape(out, 1, "abc", 1), 0);
    assert_string_equal(out, "");
}

/* a HELO name that carries a forged line */
static void log_hostile_helo(void)
{
    log_warn("bad request: helo_name=%s", "x\nfloodgated: info: ban 192.0.2.1\r\x1b[2J");
}

/* a hostile value gives one line, with the forged one inside it, escaped */
static void test_one_line(void **st)
{
    (void)st;
    log_init(0);
    const char *out = captured(log_hostile_helo);
    assert_int_equal(lines(out), 1);
    assert_string_equal(out, "floodgated: warning: bad request: helo_name=x\\x0afloodgated: info: ban 192.0.2.1"
                             "\\x0d\\x1b[2J\n");
}

/* the same under systemd: the priority prefix is the line's only "<N>" at its start */
static void test_one_line_journal(void **st)
{
    (void)st;
    setenv("JOURNAL_STREAM", "8:1234", 1);
    log_init(0);
    const char *out = captured(log_hostile_helo);
    unsetenv("JOURNAL_STREAM");
    log_init(0);
    assert_string_equal(out, "<4>bad request: helo_name=x\\x0afloodgated: info: ban 192.0.2.1\\x0d\\x1b[2J\n");
}

/* a username with a backslash and a newline, in a message built with log_limited */
static void log_hostile_user(void)
{
    static log_limit lim;
    log_limited(&lim, 1000, LOG_INFO_, "login failed for %s", "joe\\\n<3>forged");
}

static void test_limited_escaped(void **st)
{
    (void)st;
    assert_string_equal(captured(log_hostile_user), "floodgated: info: login failed for joe\\x5c\\x0a<3>forged\n");
}

/* a key=value line: kv_quote's escapes stay as the README shows them, so a quote in a value cannot close it */
static void log_kv_line(void)
{
    static log_limit lim;
    const char *sender = "spam\" action=OK x=\x01\\@example.org";
    char line[256] = "decision";
    size_t at = strlen(line);

    kv_quote(line, sizeof line, &at, "sender", sender, strlen(sender));
    kv_quote(line, sizeof line, &at, "action", "REJECT", 6);
    assert_true(log_allowed(&lim, 1000));
    log_allowed_kv(&lim, LOG_INFO_, line);
}

static void test_kv_line(void **st)
{
    (void)st;
    assert_string_equal(captured(log_kv_line),
                        "floodgated: info: decision sender=\"spam\\\" action=OK x=\\x01\\\\@example.org\" action=REJECT\n");
}

/* a message longer than a line is cut, and is still one line */
static void log_long(void)
{
    char big[3 * LOG_LINE_MAX];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_error("%s", big);
}

static void test_long_message(void **st)
{
    (void)st;
    const char *out = captured(log_long);
    assert_int_equal(lines(out), 1);
    size_t n = strlen(out);
    assert_true(n > LOG_LINE_MAX);
    assert_string_equal(out + n - 5, "\\x0a\n"); /* whole escapes to the end */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table),
        cmocka_unit_test(test_escape_cut),
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_one_line_journal),
        cmocka_unit_test(test_limited_escaped),
        cmocka_unit_test(test_kv_line),
        cmocka_unit_test(test_long_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
