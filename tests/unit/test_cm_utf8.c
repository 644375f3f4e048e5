/*  Unit tests for cm_utf8: every way a byte sequence fails to be UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cm_utf8.h"

static void
test_char_len (void **state)
{
    assert_int_equal (cm_utf8_char_len ("A", 1), 1);
    assert_int_equal (cm_utf8_char_len ("\xc3\xa9", 2), 2);
    assert_int_equal (cm_utf8_char_len ("\xe2\x82\xac", 3), 3);
    assert_int_equal (cm_utf8_char_len ("\xf0\x9f\x98\x80", 4), 4);
    assert_int_equal (cm_utf8_char_len ("\xf4\x8f\xbf\xbf", 4), 4); //  U+10FFFF
    assert_int_equal (cm_utf8_char_len ("", 0), 0);
    assert_int_equal (cm_utf8_char_len ("\x80", 1), 0);             //  stray continuation
    assert_int_equal (cm_utf8_char_len ("\xc0\xaf", 2), 0);         //  overlong '/'
    assert_int_equal (cm_utf8_char_len ("\xe0\x80\xaf", 3), 0);     //  overlong, 3 bytes
    assert_int_equal (cm_utf8_char_len ("\xf0\x80\x80\xaf", 4), 0); //  overlong, 4 bytes
    assert_int_equal (cm_utf8_char_len ("\xed\xa0\x80", 3), 0);     //  a surrogate
    assert_int_equal (cm_utf8_char_len ("\xf4\x90\x80\x80", 4), 0); //  over U+10FFFF
    assert_int_equal (cm_utf8_char_len ("\xe2\x82", 2), 0);         //  cut short
    assert_int_equal (cm_utf8_char_len ("\xe2\x82\xac", 2), 0);     //  cut by avail
    assert_int_equal (cm_utf8_char_len ("\xc3\x41", 2), 0);         //  not a continuation
    assert_int_equal (cm_utf8_char_len ("\xff", 1), 0);
}

static void
test_valid (void **state)
{
    const char *s = "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_true (cm_utf8_valid (s, strlen (s)));
    assert_true (cm_utf8_valid ("", 0));
    assert_false (cm_utf8_valid ("Caf\xe9", 4));        //  Latin-1
    assert_false (cm_utf8_valid ("ok\xf0\x9f\x98", 5)); //  cut at the end
    assert_false (cm_utf8_valid ("\xc3\xa9\xa9", 3));   //  an extra continuation
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_char_len),
        cmocka_unit_test (test_valid),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
