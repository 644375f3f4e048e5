/*  Unit tests for cm_log: line format, level filter, one line per event, cap, excerpts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_log.h"

/*  Runs fn with stderr redirected to a temp file; returns what was written (caller frees). */
static char *
capture (void (*fn) (void))
{
    char path[] = "/tmp/test_cm_log.XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    int saved = dup (STDERR_FILENO);
    dup2 (fd, STDERR_FILENO);
    fn ();
    dup2 (saved, STDERR_FILENO);
    close (saved);
    off_t len = lseek (fd, 0, SEEK_END);
    char *text = calloc (1, (size_t)len + 1);
    assert_int_equal (pread (fd, text, (size_t)len, 0), len);
    close (fd);
    unlink (path);
    return text;
}

static void
emit_basic (void)
{
    cm_log_init ("loader", CM_LOG_INFO);
    cm_debug ("LDR_HIDDEN", "x=1");
    cm_warn ("LDR_RETRY", "tenant=%s sobject=%s attempt=%d delay_ms=%d", "ACME_PRD", "Account", 3,
             800);
    cm_error ("LDR_MULTI", "msg=\"%s\"", "line one\nline two");
}

static void
test_format (void **state)
{
    char *out = capture (emit_basic);
    assert_null (strstr (out, "LDR_HIDDEN"));
    regex_t re;
    assert_int_equal (
        regcomp (&re,
                 "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                 "level=warn proc=loader event=LDR_RETRY tenant=ACME_PRD "
                 "sobject=Account attempt=3 delay_ms=800\n",
                 REG_EXTENDED),
        0);
    if (regexec (&re, out, 0, NULL, 0) != 0)
        fail_msg ("unexpected line: %s", out);
    regfree (&re);
    /*  Exactly two lines: the embedded newline did not split the second event. */
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal (lines, 2);
    assert_non_null (
        strstr (out, "level=error proc=loader event=LDR_MULTI msg=\"line one line two\""));
    free (out);
}

static void
emit_long (void)
{
    cm_log_init ("extractor", CM_LOG_DEBUG);
    char *big = malloc (10000);
    memset (big, 'a', 9999);
    big[9999] = '\0';
    cm_debug ("EXT_LONG", "v=%s", big);
    free (big);
}

static void
test_cap (void **state)
{
    char *out = capture (emit_long);
    size_t len = strlen (out);
    assert_true (len <= 4096);
    assert_true (len > 4000);
    assert_int_equal (out[len - 1], '\n');
    assert_memory_equal (out + len - 4, "...", 3);
    free (out);
}

static void
test_level_parse (void **state)
{
    cm_log_level_t level;
    assert_int_equal (cm_log_level_parse ("warn", &level), 0);
    assert_int_equal (level, CM_LOG_WARN);
    assert_int_equal (cm_log_level_parse ("debug", &level), 0);
    assert_int_equal (level, CM_LOG_DEBUG);
    assert_int_equal (cm_log_level_parse ("WARN", &level), -1);
    assert_int_equal (cm_log_level_parse ("verbose", &level), -1);
    assert_int_equal (cm_log_level_parse (NULL, &level), -1);
}

static void
test_excerpt (void **state)
{
    char out[64];
    const char *body = "{\"error\":\"bad\"}\r\n\x01";
    assert_string_equal (cm_log_excerpt (body, strlen (body), 100, out, sizeof out),
                         "{\\\"error\\\":\\\"bad\\\"}\\r\\n\\x01");
    assert_string_equal (cm_log_excerpt ("abcdefgh", 8, 3, out, sizeof out), "abc...");
    assert_string_equal (cm_log_excerpt ("abc", 3, 3, out, sizeof out), "abc");
    /*  The output capacity bounds it too. */
    char small[8];
    cm_log_excerpt ("abcdefghijkl", 12, 100, small, sizeof small);
    assert_true (strlen (small) < sizeof small);
    assert_non_null (strstr (small, "..."));
    assert_string_equal (cm_log_excerpt (NULL, 0, 10, out, sizeof out), "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_format),
        cmocka_unit_test (test_cap),
        cmocka_unit_test (test_level_parse),
        cmocka_unit_test (test_excerpt),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
