/*  Unit tests for cm_msgpack: the allocation-free reader (cm_msgpack_read, cm_msgpack_skip)
    agrees with msgpack-c on every type and width, and is total on truncated and lying
    input; cm_msgpack_str_check says what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_msgpack.h"

/*  An array holding one of every kind, every width of integer and length. */
static void
pack_sample (msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, sb, msgpack_sbuffer_write);
    static const uint64_t uints[] = {
        0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX, (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    static const int64_t ints[] = {
        -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, (int64_t)INT32_MIN - 1, INT64_MIN};
    static const size_t lens[] = {0, 5, 31, 32, 255, 256, 65535, 65536};
    size_t n = 3 + 10 + 10 + 2 + 8 + 1 + 6 + 2;
    msgpack_pack_array (&pk, n);
    msgpack_pack_nil (&pk);
    msgpack_pack_true (&pk);
    msgpack_pack_false (&pk);
    for (size_t i = 0; i < 10; i++)
        msgpack_pack_uint64 (&pk, uints[i]);
    for (size_t i = 0; i < 10; i++)
        msgpack_pack_int64 (&pk, ints[i]);
    msgpack_pack_float (&pk, 1.5f);
    msgpack_pack_double (&pk, -2.25);
    char *text = malloc (65536);
    for (size_t i = 0; i < 65536; i++)
        text[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < 8; i++) {
        msgpack_pack_str (&pk, lens[i]);
        msgpack_pack_str_body (&pk, text, lens[i]);
    }
    msgpack_pack_bin (&pk, 3);
    msgpack_pack_bin_body (&pk, "\x00\x01\x02", 3);
    static const size_t ext_lens[] = {1, 2, 4, 8, 16, 3};
    for (size_t i = 0; i < 6; i++) {
        msgpack_pack_ext (&pk, ext_lens[i], 7);
        msgpack_pack_ext_body (&pk, text, ext_lens[i]);
    }
    /*  Containers: a map with a nested array, and a 20-element array (array16). */
    msgpack_pack_map (&pk, 2);
    msgpack_pack_str_with_body (&pk, "a", 1);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_int (&pk, 1);
    msgpack_pack_nil (&pk);
    msgpack_pack_str_with_body (&pk, "b", 1);
    msgpack_pack_map (&pk, 0);
    msgpack_pack_array (&pk, 20);
    for (int i = 0; i < 20; i++)
        msgpack_pack_int (&pk, -i);
    free (text);
}

static void
test_read_matches_msgpack_c (void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    pack_sample (&sb);
    msgpack_unpacked ref;
    msgpack_unpacked_init (&ref);
    size_t off = 0;
    assert_int_equal (msgpack_unpack_next (&ref, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_array *items = &ref.data.via.array;

    size_t pos = 0;
    msgpack_object o;
    assert_int_equal (cm_msgpack_read (sb.data, sb.size, &pos, &o), 0);
    assert_int_equal (o.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal (o.via.array.size, items->size);
    assert_null (o.via.array.ptr);
    for (uint32_t i = 0; i < items->size; i++) {
        const msgpack_object *want = &items->ptr[i];
        size_t at = pos;
        assert_int_equal (cm_msgpack_read (sb.data, sb.size, &at, &o), 0);
        assert_int_equal (o.type, want->type);
        if (want->type == MSGPACK_OBJECT_ARRAY || want->type == MSGPACK_OBJECT_MAP) {
            /*  Only the header: the count, and the position at the first element. */
            assert_int_equal (o.via.array.size, want->via.array.size);
            assert_true (at < sb.size);
        } else {
            if (!msgpack_object_equal (o, *want))
                fail_msg ("element %u differs from msgpack-c (type %d)", i, (int)want->type);
        }
        /*  Skipping the element ends where reading a scalar ended. */
        size_t skipped = pos;
        assert_int_equal (cm_msgpack_skip (sb.data, sb.size, &skipped), 0);
        if (want->type != MSGPACK_OBJECT_ARRAY && want->type != MSGPACK_OBJECT_MAP)
            assert_int_equal (skipped, at);
        pos = skipped;
    }
    assert_int_equal (pos, sb.size);
    /*  The whole sample in one skip. */
    pos = 0;
    assert_int_equal (cm_msgpack_skip (sb.data, sb.size, &pos), 0);
    assert_int_equal (pos, sb.size);
    msgpack_unpacked_destroy (&ref);
    msgpack_sbuffer_destroy (&sb);
}

/*  A signed type holding a value >= 0 reads as a positive integer, as msgpack-c has it. */
static void
test_signed_positive (void **state)
{
    static const struct {
        const char *bytes;
        size_t size;
        int64_t value;
    } cases[] = {{"\xd0\x05", 2, 5},
                 {"\xd1\x01\x00", 3, 256},
                 {"\xd2\x00\x01\x00\x00", 5, 65536},
                 {"\xd3\x00\x00\x00\x01\x00\x00\x00\x00", 9, 4294967296LL},
                 {"\xd0\xff", 2, -1},
                 {"\xd3\xff\xff\xff\xff\xff\xff\xff\xfe", 9, -2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t pos = 0;
        msgpack_object o;
        assert_int_equal (cm_msgpack_read (cases[i].bytes, cases[i].size, &pos, &o), 0);
        assert_int_equal (pos, cases[i].size);
        if (cases[i].value >= 0) {
            assert_int_equal (o.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
            assert_int_equal (o.via.u64, (uint64_t)cases[i].value);
        } else {
            assert_int_equal (o.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
            assert_int_equal (o.via.i64, cases[i].value);
        }
    }
}

/*  Every prefix of the sample is refused, with *pos untouched, and nothing is read past
    the end (each prefix is an exact-size copy, so the sanitizer sees an over-read). */
static void
test_truncated (void **state)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    pack_sample (&sb);
    /*  The long strings make the sample big: every length up to 1 KiB, then a stride. */
    for (size_t len = 0; len < sb.size; len += len < 1024 ? 1 : 997) {
        char *copy = malloc (len ? len : 1);
        memcpy (copy, sb.data, len);
        size_t pos = 0;
        assert_int_equal (cm_msgpack_skip (copy, len, &pos), -1);
        assert_int_equal (pos, 0);
        free (copy);
    }
    /*  Each single element truncated by one byte. */
    msgpack_object o;
    size_t pos = 0;
    assert_int_equal (cm_msgpack_read (sb.data, sb.size, &pos, &o), 0);
    while (pos < sb.size) {
        size_t end = pos;
        assert_int_equal (cm_msgpack_skip (sb.data, sb.size, &end), 0);
        size_t len = end - pos - 1;
        char *copy = malloc (len ? len : 1);
        memcpy (copy, sb.data + pos, len);
        size_t at = 0;
        assert_int_equal (cm_msgpack_skip (copy, len, &at), -1);
        free (copy);
        pos = end;
    }
    msgpack_sbuffer_destroy (&sb);
}

static void
test_invalid (void **state)
{
    size_t pos = 0;
    msgpack_object o;
    /*  The reserved byte, an empty buffer, a position at the end. */
    assert_int_equal (cm_msgpack_read ("\xc1", 1, &pos, &o), -1);
    assert_int_equal (cm_msgpack_read ("", 0, &pos, &o), -1);
    pos = 1;
    assert_int_equal (cm_msgpack_read ("\x01", 1, &pos, &o), -1);
    /*  A header claiming more elements than bytes remain: read gives the count (the caller
        has checked the input), skip refuses it without walking 4 billion elements. */
    pos = 0;
    assert_int_equal (cm_msgpack_read ("\xdd\xff\xff\xff\xff", 5, &pos, &o), 0);
    assert_int_equal (o.via.array.size, UINT32_MAX);
    pos = 0;
    assert_int_equal (cm_msgpack_skip ("\xdd\xff\xff\xff\xff", 5, &pos), -1);
    pos = 0;
    assert_int_equal (cm_msgpack_skip ("\xdf\x00\x00\x00\x01\x01", 6, &pos), -1);
    /*  A str32 claiming 4 GiB. */
    pos = 0;
    assert_int_equal (cm_msgpack_read ("\xdb\xff\xff\xff\xff", 5, &pos, &o), -1);
    assert_int_equal (pos, 0);
    /*  ext: the type byte is part of the body. */
    pos = 0;
    assert_int_equal (cm_msgpack_read ("\xc7\x01\x05", 3, &pos, &o), -1);
    assert_int_equal (cm_msgpack_read ("\xc7\x01\x05\xaa", 4, &pos, &o), 0);
    assert_int_equal (o.type, MSGPACK_OBJECT_EXT);
    assert_int_equal (o.via.ext.type, 5);
    assert_int_equal (o.via.ext.size, 1);
}

static void
test_str_check (void **state)
{
    char err[128] = "";
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};
    o.via.str.ptr = "abc";
    o.via.str.size = 3;
    assert_int_equal (cm_msgpack_str_check (&o, "name", 3, err, sizeof err), 0);
    assert_int_equal (cm_msgpack_str_check (&o, "name", 2, err, sizeof err), -1);
    assert_string_equal (err, "field 'name': 3 bytes, longer than 2");
    o.via.str.ptr = "a\0c";
    assert_int_equal (cm_msgpack_str_check (&o, "name", 3, err, sizeof err), -1);
    assert_string_equal (err, "field 'name': contains a NUL byte");
    o.type = MSGPACK_OBJECT_BIN;
    assert_int_equal (cm_msgpack_str_check (&o, "name", 3, err, sizeof err), -1);
    assert_string_equal (err, "field 'name': expected str, got bin");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_read_matches_msgpack_c),
        cmocka_unit_test (test_signed_positive),
        cmocka_unit_test (test_truncated),
        cmocka_unit_test (test_invalid),
        cmocka_unit_test (test_str_check),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
