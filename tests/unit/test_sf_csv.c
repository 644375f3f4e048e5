/*  Unit tests for sf_csv: the RFC 4180 writer (quoting, the size cap) and the bounded reader
    of Bulk API result files (quoted cells with commas, quotes and line breaks, CRLF, empty
    cells; every malformed shape refused with a position; random bytes never crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../loader/sf_csv.h"

static void
test_writer_quotes (void **state)
{
    sf_csv_buf_t b = {0};
    assert_int_equal (sf_csv_put (&b, "Name", 4, true), 0);
    assert_int_equal (sf_csv_put (&b, "", 0, false), 0);
    assert_int_equal (sf_csv_put (&b, "a,\"b\"\nc", 7, false), 0);
    assert_int_equal (sf_csv_end_row (&b), 0);
    assert_string_equal (b.data, "\"Name\",,\"a,\"\"b\"\"\nc\"\n");
    assert_int_equal (b.len, strlen (b.data));
    sf_csv_buf_clear (&b);
    assert_null (b.data);
}

static void
test_writer_cap (void **state)
{
    sf_csv_buf_t b = {.max = 10};
    assert_int_equal (sf_csv_put (&b, "abcd", 4, true), 0);   //  6 bytes
    assert_int_equal (sf_csv_put (&b, "efgh", 4, false), -1); //  would be 13
    assert_int_equal (b.len, 6);                              //  unchanged
    assert_string_equal (b.data, "\"abcd\"");
    assert_int_equal (sf_csv_put (&b, "e", 1, false), 0); //  10 bytes: at the cap
    assert_int_equal (sf_csv_end_row (&b), -1);
    sf_csv_buf_clear (&b);
    assert_int_equal (b.max, 10);
}

//  Reads every record of text into "cell|cell" lines joined by '/'.
static int
s_read_all (const char *text, size_t len, size_t max_cells, size_t max_cell, char *out, size_t cap,
            char *err, size_t err_cap)
{
    sf_csv_reader_t *r = sf_csv_reader_new (text, len, max_cells, max_cell);
    assert_non_null (r);
    out[0] = '\0';
    char **cells;
    size_t count;
    int rc;
    size_t pos = 0;
    while ((rc = sf_csv_reader_next (r, &cells, &count, err, err_cap)) == 1) {
        for (size_t i = 0; i < count; i++)
            pos += (size_t)snprintf (out + pos, cap - pos, "%s%s", i ? "|" : (pos ? "/" : ""),
                                     cells[i]);
    }
    sf_csv_reader_destroy (&r);
    return rc;
}

static void
test_reader_shapes (void **state)
{
    char out[512], err[128];
    const char *csv = "\"sf__Id\",\"sf__Created\",\"Name\"\r\n"
                      "\"001Hs0000000001IAA\",\"true\",\"A, \"\"quoted\"\"\nname\"\n"
                      "\"\",false,\n"
                      "x,,\"\"";
    assert_int_equal (s_read_all (csv, strlen (csv), 10, 100, out, sizeof out, err, sizeof err), 0);
    assert_string_equal (out, "sf__Id|sf__Created|Name/001Hs0000000001IAA|true|A, \"quoted\"\nname"
                              "/|false|/x||");
    //  A blank line is a record of one empty cell; no trailing newline is fine
    assert_int_equal (s_read_all ("a\n\nb", 4, 10, 100, out, sizeof out, err, sizeof err), 0);
    assert_string_equal (out, "a//b");
    //  Empty input: no record
    assert_int_equal (s_read_all ("", 0, 10, 100, out, sizeof out, err, sizeof err), 0);
    assert_string_equal (out, "");
    //  A lone CR inside a bare cell is data
    assert_int_equal (s_read_all ("a\rb,c\n", 6, 10, 100, out, sizeof out, err, sizeof err), 0);
    assert_string_equal (out, "a\rb|c");
}

static void
test_reader_refuses (void **state)
{
    char out[512], err[128];
    struct {
        const char *text;
        size_t len;
        const char *why;
    } bad[] = {
        {"\"abc", 4, "unterminated"},
        {"\"abc\"x,1\n", 9, "after a closing quote"},
        {"ab\"c,1\n", 7, "quote inside a bare cell"},
        {"a,b\0c\n", 6, "NUL byte"},
        {"\"a\0\"\n", 5, "NUL byte"},
        {"1,2,3,4,5\n", 10, "too many cells"},
        {"\"0123456789ab\"\n", 15, "cell too long"},
        {"0123456789ab\n", 13, "cell too long"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal (
            s_read_all (bad[i].text, bad[i].len, 4, 10, out, sizeof out, err, sizeof err), -1);
        assert_non_null (strstr (err, bad[i].why));
        assert_non_null (strstr (err, "at byte"));
    }
    //  After a fault the reader refuses to go on
    sf_csv_reader_t *r = sf_csv_reader_new ("ok\n\"bad", 7, 4, 10);
    char **cells;
    size_t count;
    assert_int_equal (sf_csv_reader_next (r, &cells, &count, err, sizeof err), 1);
    assert_int_equal (sf_csv_reader_next (r, &cells, &count, err, sizeof err), -1);
    assert_int_equal (sf_csv_reader_next (r, &cells, &count, err, sizeof err), -1);
    sf_csv_reader_destroy (&r);
    sf_csv_reader_destroy (&r); //  NULL is fine
}

static void
test_round_trip_and_random (void **state)
{
    //  What the writer writes, the reader reads back
    const char *values[] = {"plain", "", "comma,", "quote\"", "line\nbreak", "crlf\r\n", "\"\""};
    sf_csv_buf_t b = {0};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal (sf_csv_put (&b, values[i], strlen (values[i]), i == 0), 0);
    assert_int_equal (sf_csv_end_row (&b), 0);
    sf_csv_reader_t *r = sf_csv_reader_new (b.data, b.len, 10, 100);
    char **cells;
    size_t count;
    char err[128];
    assert_int_equal (sf_csv_reader_next (r, &cells, &count, err, sizeof err), 1);
    assert_int_equal (count, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal (cells[i], values[i]);
    assert_int_equal (sf_csv_reader_next (r, &cells, &count, err, sizeof err), 0);
    sf_csv_reader_destroy (&r);
    sf_csv_buf_clear (&b);

    //  Random bytes from a small alphabet of CSV's special characters: total and bounded
    uint32_t seed = 12345;
    char text[256];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 64);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            text[i] = "a,\"\n\r\0b"[(seed >> 16) % 7];
        }
        r = sf_csv_reader_new (text, len, 5, 8);
        assert_non_null (r);
        int rc, records = 0;
        while ((rc = sf_csv_reader_next (r, &cells, &count, err, sizeof err)) == 1) {
            assert_true (count >= 1 && count <= 5);
            for (size_t i = 0; i < count; i++)
                assert_true (strlen (cells[i]) <= 8);
            assert_true (++records <= (int)len + 1);
        }
        assert_true (rc == 0 || rc == -1);
        sf_csv_reader_destroy (&r);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_writer_quotes),         cmocka_unit_test (test_writer_cap),
        cmocka_unit_test (test_reader_shapes),         cmocka_unit_test (test_reader_refuses),
        cmocka_unit_test (test_round_trip_and_random),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
