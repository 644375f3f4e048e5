/*  Unit tests for cm_envelope: round trip, content hash, and a total decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_envelope.h"

/*  A vendor as the IDO returns it (SLVendors, all values strings). */
static const char *s_vendor[][2] = {
    {"VendNum", "V000123"},
    {"Name", "Northwind Industrial Supply"},
    {"Phone", "+1 312-555-0142"},
    {"Stat", "A"},
    {"CurrCode", "USD"},
    {"TermsCode", "N30"},
    {"VadAddr_1", "1200 W Fulton Market"},
    {"VadAddr_2", ""},
    {"VadCity", "Chicago"},
    {"VadState", "IL"},
    {"VadZip", "60607"},
    {"VadCountry", "USA"},
    {"ExternalEmailAddr", "ap@northwind.example"},
    {"RecordDate", "2026-02-01 08:15:02.117"},
    {"RowPointer", "6F1C2A9E-3B7D-4C55-9E1A-0D2B8C4F7A11"},
};
#define VENDOR_FIELDS (sizeof s_vendor / sizeof s_vendor[0])

static cm_envelope_t *
make_vendor (void)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", "V000123");
    assert_non_null (env);
    for (size_t i = 0; i < VENDOR_FIELDS; i++)
        assert_int_equal (cm_envelope_add_field (env, s_vendor[i][0], s_vendor[i][1]), 0);
    cm_envelope_compute_hash (env);
    return env;
}

static void
encode (const cm_envelope_t *env, char **data, size_t *size)
{
    assert_int_equal (cm_envelope_encode (env, data, size), 0);
    assert_non_null (*data);
    assert_true (*size > 0);
}

static void
test_new_defaults (void **state)
{
    cm_envelope_t *a = cm_envelope_new ("ACME_PRD", "vendor", "V1");
    cm_envelope_t *b = cm_envelope_new ("ACME_PRD", "vendor", "V1");
    assert_non_null (a);
    assert_non_null (b);
    assert_int_equal (a->version, CM_ENVELOPE_VERSION);
    assert_int_equal (a->attempt, 1);
    assert_int_equal (strlen (a->id), 32);
    assert_string_not_equal (a->id, b->id);
    assert_true (a->extracted_at_ms > 1700000000000LL);
    assert_string_equal (a->hash, "");
    assert_null (a->sobject);
    assert_int_equal (cm_envelope_add_field (a, "Name", NULL), 0);
    assert_string_equal (cm_envelope_field (a, "Name"), "");
    assert_null (cm_envelope_field (a, "Phone"));
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&b);
    assert_null (a);
    cm_envelope_destroy (&a); /* accepts NULL */
}

static void
test_round_trip (void **state)
{
    cm_envelope_t *env = make_vendor ();
    env->attempt = 3;
    env->extracted_at_ms = 1769933702117LL;
    env->sent_at_ms = 1769933703000LL;
    const char *payload =
        "{\"Name\":\"Northwind Industrial Supply\",\"Phone\":\"+1 312-555-0142\","
        "\"BillingCity\":\"Chicago\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000123\"}";
    assert_int_equal (cm_envelope_set_target (env, "Account", "CloudSuite_Key__c",
                                              "ACME_PRD:vendor:V000123", payload),
                      0);
    char *data;
    size_t size;
    encode (env, &data, &size);
    char err[256] = "";
    cm_envelope_t *back = cm_envelope_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_string_equal (err, "");
    assert_int_equal (back->version, CM_ENVELOPE_VERSION);
    assert_string_equal (back->id, env->id);
    assert_string_equal (back->tenant, "ACME_PRD");
    assert_string_equal (back->entity, "vendor");
    assert_string_equal (back->key, "V000123");
    assert_string_equal (back->hash, env->hash);
    assert_int_equal (back->attempt, 3);
    assert_int_equal (back->extracted_at_ms, 1769933702117LL);
    assert_int_equal (back->sent_at_ms, 1769933703000LL);
    assert_int_equal (back->field_count, VENDOR_FIELDS);
    for (size_t i = 0; i < VENDOR_FIELDS; i++) {
        assert_string_equal (back->fields[i].name, s_vendor[i][0]);
        assert_string_equal (back->fields[i].value, s_vendor[i][1]);
    }
    assert_string_equal (back->sobject, "Account");
    assert_string_equal (back->ext_id_field, "CloudSuite_Key__c");
    assert_string_equal (back->ext_id, "ACME_PRD:vendor:V000123");
    assert_string_equal (back->payload, payload);
    /*  Re-encoding the decoded envelope gives the same bytes (replays are byte-identical). */
    char *again;
    size_t again_size;
    encode (back, &again, &again_size);
    assert_int_equal (again_size, size);
    assert_memory_equal (again, data, size);
    /*  Without a target, the optional members are absent after a round trip. */
    assert_int_equal (cm_envelope_set_target (back, NULL, NULL, NULL, NULL), 0);
    free (again);
    encode (back, &again, &again_size);
    cm_envelope_t *bare = cm_envelope_decode (again, again_size, err, sizeof err);
    assert_non_null (bare);
    assert_null (bare->sobject);
    assert_null (bare->payload);
    cm_envelope_destroy (&bare);
    free (again);
    free (data);
    cm_envelope_destroy (&back);
    cm_envelope_destroy (&env);
}

/*  The digests stored by earlier versions (change detection compares against them): small
    fields hashed in one call, fields larger than the gathering buffer piece by piece,
    must give the same hashes as ever. */
static void
test_hash_stable (void **state)
{
    cm_envelope_t *a = cm_envelope_new ("T", "vendor", "K");
    assert_int_equal (cm_envelope_add_field (a, "VendNum", "V000123"), 0);
    assert_int_equal (cm_envelope_add_field (a, "Name", "Northwind Metals"), 0);
    assert_int_equal (cm_envelope_add_field (a, "Empty", ""), 0);
    cm_envelope_compute_hash (a);
    assert_string_equal (a->hash, "919855f8de836bc52e9eadb4cb86b3a8");
    char big[5000], mid[3000];
    memset (big, 'x', sizeof big - 1), big[sizeof big - 1] = '\0';
    memset (mid, 'y', sizeof mid - 1), mid[sizeof mid - 1] = '\0';
    cm_envelope_t *b = cm_envelope_new ("T", "vendor", "K");
    assert_int_equal (cm_envelope_add_field (b, "A", mid), 0);
    assert_int_equal (cm_envelope_add_field (b, "B", big), 0);
    assert_int_equal (cm_envelope_add_field (b, "C", mid), 0);
    assert_int_equal (cm_envelope_add_field (b, "D", "z"), 0);
    cm_envelope_compute_hash (b);
    assert_string_equal (b->hash, "1649a997af7cf713253fcdc0dcb26505");
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&b);
}

/*  Ids are unique, also across threads and many pool refills. */
static void *
ids_of_thread (void *arg)
{
    char (*ids)[33] = arg;
    for (int i = 0; i < 200; i++) {
        cm_envelope_t *e = cm_envelope_new ("T", "vendor", "K");
        memcpy (ids[i], e->id, 33);
        cm_envelope_destroy (&e);
    }
    return NULL;
}

static int
id_cmp (const void *a, const void *b)
{
    return strcmp (a, b);
}

static void
test_ids_unique (void **state)
{
    static char ids[4][200][33];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&t[i], NULL, ids_of_thread, ids[i]), 0);
    for (int i = 0; i < 4; i++)
        pthread_join (t[i], NULL);
    qsort (ids, 800, 33, id_cmp);
    for (int i = 1; i < 800; i++)
        assert_string_not_equal (((char (*)[33])ids)[i - 1], ((char (*)[33])ids)[i]);
    for (int i = 0; i < 800; i++)
        assert_int_equal (strlen (((char (*)[33])ids)[i]), 32);
}

static void
test_hash (void **state)
{
    cm_envelope_t *a = make_vendor ();
    /*  Same fields in reverse order. */
    cm_envelope_t *b = cm_envelope_new ("OTHER", "vendor", "V000123");
    for (size_t i = VENDOR_FIELDS; i-- > 0;)
        assert_int_equal (cm_envelope_add_field (b, s_vendor[i][0], s_vendor[i][1]), 0);
    cm_envelope_compute_hash (b);
    assert_int_equal (strlen (a->hash), 32);
    for (const char *p = a->hash; *p; p++)
        assert_non_null (strchr ("0123456789abcdef", *p));
    assert_string_equal (a->hash, b->hash);
    /*  One changed value changes the hash. */
    cm_envelope_t *c = cm_envelope_new ("ACME_PRD", "vendor", "V000123");
    for (size_t i = 0; i < VENDOR_FIELDS; i++)
        assert_int_equal (cm_envelope_add_field (c, s_vendor[i][0],
                                                 strcmp (s_vendor[i][0], "Phone") == 0
                                                     ? "+1 312-555-0143"
                                                     : s_vendor[i][1]),
                          0);
    cm_envelope_compute_hash (c);
    assert_string_not_equal (a->hash, c->hash);
    /*  Moving bytes between name and value is a different record. */
    cm_envelope_t *d = cm_envelope_new ("T", "vendor", "K");
    cm_envelope_t *e = cm_envelope_new ("T", "vendor", "K");
    cm_envelope_add_field (d, "ab", "c");
    cm_envelope_add_field (e, "a", "bc");
    cm_envelope_compute_hash (d);
    cm_envelope_compute_hash (e);
    assert_string_not_equal (d->hash, e->hash);
    /*  No fields still hashes (to the empty-input digest), deterministically. */
    cm_envelope_t *f = cm_envelope_new ("T", "vendor", "K");
    cm_envelope_t *g = cm_envelope_new ("T", "vendor", "K");
    cm_envelope_compute_hash (f);
    cm_envelope_compute_hash (g);
    assert_int_equal (strlen (f->hash), 32);
    assert_string_equal (f->hash, g->hash);
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&b);
    cm_envelope_destroy (&c);
    cm_envelope_destroy (&d);
    cm_envelope_destroy (&e);
    cm_envelope_destroy (&f);
    cm_envelope_destroy (&g);
}

static void
test_field_limit (void **state)
{
    cm_envelope_t *env = cm_envelope_new ("T", "vendor", "K");
    char name[32];
    for (int i = 0; i < CM_ENVELOPE_MAX_FIELDS; i++) {
        snprintf (name, sizeof name, "F%d", i);
        assert_int_equal (cm_envelope_add_field (env, name, "x"), 0);
    }
    assert_int_equal (cm_envelope_add_field (env, "one_too_many", "x"), -1);
    assert_int_equal (env->field_count, CM_ENVELOPE_MAX_FIELDS);
    cm_envelope_destroy (&env);
}

/*  Builds an envelope map by hand: `omit` is left out, `bad` gets an int instead of its
    normal value, `extra` adds one more member; v is `version`. */
static void
build (const char *omit, const char *bad, uint32_t version, bool extra, char **data, size_t *size)
{
    static const char *strs[][2] = {{"id", "0123456789abcdef0123456789abcdef"},
                                    {"tenant", "ACME_PRD"},
                                    {"entity", "vendor"},
                                    {"key", "V000123"},
                                    {"hash", "fedcba9876543210fedcba9876543210"}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    int n = 10 - (omit != NULL) + (extra ? 1 : 0);
    msgpack_pack_map (&pk, (size_t)n);
#define KEY(k)  (msgpack_pack_str (&pk, strlen (k)), msgpack_pack_str_body (&pk, k, strlen (k)))
#define SKIP(k) (omit && strcmp (omit, k) == 0)
#define BAD(k)  (bad && strcmp (bad, k) == 0)
    if (!SKIP ("v")) {
        KEY ("v");
        if (BAD ("v"))
            KEY ("one");
        else
            msgpack_pack_uint32 (&pk, version);
    }
    for (size_t i = 0; i < 5; i++) {
        if (SKIP (strs[i][0]))
            continue;
        KEY (strs[i][0]);
        if (BAD (strs[i][0]))
            msgpack_pack_int (&pk, 42);
        else
            KEY (strs[i][1]);
    }
    if (!SKIP ("attempt")) {
        KEY ("attempt");
        if (BAD ("attempt"))
            KEY ("1");
        else
            msgpack_pack_uint32 (&pk, 1);
    }
    if (!SKIP ("ts_ex")) {
        KEY ("ts_ex");
        if (BAD ("ts_ex"))
            msgpack_pack_double (&pk, 1.5);
        else
            msgpack_pack_int64 (&pk, 1769933702117LL);
    }
    if (!SKIP ("ts")) {
        KEY ("ts");
        msgpack_pack_int64 (&pk, 1769933703000LL);
    }
    if (!SKIP ("src")) {
        KEY ("src");
        if (BAD ("src"))
            msgpack_pack_array (&pk, 0);
        else {
            msgpack_pack_map (&pk, 2);
            KEY ("VendNum");
            KEY ("V000123");
            KEY ("Name");
            if (BAD ("src.Name"))
                msgpack_pack_int (&pk, 7);
            else
                KEY ("Northwind");
        }
    }
    if (extra) {
        KEY ("future_member");
        msgpack_pack_array (&pk, 2);
        msgpack_pack_int (&pk, 1);
        msgpack_pack_nil (&pk);
    }
#undef KEY
#undef SKIP
#undef BAD
    *size = sb.size;
    *data = msgpack_sbuffer_release (&sb);
    msgpack_sbuffer_destroy (&sb);
}

static void
expect_reject (const char *data, size_t size, const char *needle)
{
    char err[256] = "";
    cm_envelope_t *env = cm_envelope_decode (data, size, err, sizeof err);
    if (env)
        cm_envelope_destroy (&env);
    assert_null (env);
    if (!strstr (err, needle))
        fail_msg ("error '%s' does not mention '%s'", err, needle);
}

static void
test_hand_built (void **state)
{
    char *data;
    size_t size;
    char err[256] = "";
    /*  The builder itself makes a valid envelope, and an unknown member is ignored. */
    build (NULL, NULL, CM_ENVELOPE_VERSION, true, &data, &size);
    cm_envelope_t *env = cm_envelope_decode (data, size, err, sizeof err);
    assert_non_null (env);
    assert_string_equal (cm_envelope_field (env, "Name"), "Northwind");
    cm_envelope_destroy (&env);
    free (data);

    const char *required[] = {"v",    "id",      "tenant", "entity", "key",
                              "hash", "attempt", "ts_ex",  "ts",     "src"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        build (required[i], NULL, CM_ENVELOPE_VERSION, false, &data, &size);
        char needle[64];
        snprintf (needle, sizeof needle, "missing required field '%s'", required[i]);
        expect_reject (data, size, needle);
        free (data);
    }
    build (NULL, "tenant", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "field 'tenant': expected str, got int");
    free (data);
    build (NULL, "v", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "field 'v': expected uint, got str");
    free (data);
    build (NULL, "attempt", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "field 'attempt'");
    free (data);
    build (NULL, "ts_ex", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "field 'ts_ex': expected int, got float");
    free (data);
    build (NULL, "src", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "field 'src': expected map, got array");
    free (data);
    build (NULL, "src.Name", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "src.Name");
    free (data);
    build (NULL, "id", CM_ENVELOPE_VERSION, false, &data, &size);
    expect_reject (data, size, "field 'id'");
    free (data);
    build (NULL, NULL, CM_ENVELOPE_VERSION + 1, false, &data, &size);
    expect_reject (data, size, "version 2, expected 1");
    free (data);
}

static void
test_reject_framing (void **state)
{
    expect_reject (NULL, 0, "empty");
    expect_reject ("", 0, "empty");
    /*  Not a map at the top. */
    expect_reject ("\x93\x01\x02\x03", 4, "expected a map");
    /*  A 5-byte map32 header claiming 4 billion entries must not allocate them. */
    expect_reject ("\xdf\xff\xff\xff\xff", 5, "claims");
    expect_reject ("\xdd\xff\xff\xff\xff", 5, "claims");
    /*  A str32 claiming 4 GB. */
    expect_reject ("\x81\xa1v\xdb\xff\xff\xff\xff", 8, "truncated");
    /*  The reserved byte 0xc1. */
    expect_reject ("\xc1", 1, "invalid msgpack byte");
    /*  Deep nesting is refused. */
    char deep[64];
    memset (deep, 0x91, sizeof deep);
    deep[63] = 0x01;
    expect_reject (deep, sizeof deep, "nested deeper");

    cm_envelope_t *env = make_vendor ();
    char *data;
    size_t size;
    encode (env, &data, &size);
    /*  Truncated at every length. */
    for (size_t len = 0; len < size; len++) {
        char err[256] = "";
        cm_envelope_t *bad = cm_envelope_decode (data, len, err, sizeof err);
        if (bad) {
            cm_envelope_destroy (&bad);
            fail_msg ("decoded a truncation to %zu of %zu bytes", len, size);
        }
        assert_true (strlen (err) > 0);
    }
    /*  Trailing bytes. */
    char *longer = malloc (size + 1);
    memcpy (longer, data, size);
    longer[size] = 0x00;
    expect_reject (longer, size + 1, "1 trailing bytes");
    /*  Over the size cap, even if it would otherwise parse. */
    char *huge = calloc (1, CM_ENVELOPE_MAX_BYTES + 1);
    memcpy (huge, data, size);
    expect_reject (huge, CM_ENVELOPE_MAX_BYTES + 1, "exceeds");
    free (huge);
    free (longer);
    free (data);
    cm_envelope_destroy (&env);
}

static void
test_oversized_encode (void **state)
{
    cm_envelope_t *env = cm_envelope_new ("T", "vendor", "K");
    size_t len = 200 * 1024;
    char *big = malloc (len + 1);
    memset (big, 'x', len);
    big[len] = '\0';
    char name[16];
    /*  6 x 200 KiB is more than the 1 MiB envelope cap. */
    for (int i = 0; i < 6; i++) {
        snprintf (name, sizeof name, "Big%d", i);
        assert_int_equal (cm_envelope_add_field (env, name, big), 0);
    }
    char *data = NULL;
    size_t size = 0;
    assert_int_equal (cm_envelope_encode (env, &data, &size), -1);
    assert_null (data);
    /*  A single string over CM_ENVELOPE_MAX_STR is refused too. */
    cm_envelope_t *one = cm_envelope_new ("T", "vendor", "K");
    char *longer = malloc (CM_ENVELOPE_MAX_STR + 2);
    memset (longer, 'y', CM_ENVELOPE_MAX_STR + 1);
    longer[CM_ENVELOPE_MAX_STR + 1] = '\0';
    assert_int_equal (cm_envelope_set_target (one, "Account", "X", "Y", longer), 0);
    assert_int_equal (cm_envelope_encode (one, &data, &size), -1);
    free (longer);
    free (big);
    cm_envelope_destroy (&one);
    cm_envelope_destroy (&env);
}

static uint64_t s_rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)(s_rng >> 16);
}

static void
test_fuzz (void **state)
{
    cm_envelope_t *env = make_vendor ();
    cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", "ACME_PRD:vendor:V000123",
                            "{\"Name\":\"N\"}");
    char *data;
    size_t size;
    encode (env, &data, &size);
    char err[256];
    int decoded = 0;
    /*  Random buffers. */
    for (int i = 0; i < 3000; i++) {
        size_t len = rnd () % 300;
        unsigned char *buf = malloc (len ? len : 1);
        for (size_t j = 0; j < len; j++)
            buf[j] = (unsigned char)rnd ();
        if (len > 0 && i % 2 == 0)
            buf[0] = (unsigned char)(0x80 | (rnd () % 16)); /* start like a map */
        cm_envelope_t *e = cm_envelope_decode (buf, len, err, sizeof err);
        cm_envelope_destroy (&e);
        free (buf);
    }
    /*  Mutations of a valid encoding: flipped bytes, and the occasional big count. */
    unsigned char *mut = malloc (size);
    for (int i = 0; i < 4000; i++) {
        memcpy (mut, data, size);
        int flips = 1 + (int)(rnd () % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = rnd () % size;
            switch (rnd () % 3) {
            case 0:
                mut[at] ^= (unsigned char)(1u << (rnd () % 8));
                break;
            case 1:
                mut[at] = (unsigned char)rnd ();
                break;
            default:
                mut[at] = (unsigned char)(0xdc + rnd () % 4);
                break;
            }
        }
        size_t len = (i % 5 == 0) ? rnd () % (size + 1) : size;
        cm_envelope_t *e = cm_envelope_decode (mut, len, err, sizeof err);
        if (e) {
            decoded++;
            /*  Whatever decodes is a well-formed envelope that encodes again. */
            assert_non_null (e->tenant);
            assert_true (strlen (e->tenant) > 0);
            char *re;
            size_t resize;
            if (cm_envelope_encode (e, &re, &resize) == 0)
                free (re);
        }
        cm_envelope_destroy (&e);
    }
    print_message ("# %d of 4000 mutations still decoded\n", decoded);
    free (mut);
    free (data);
    cm_envelope_destroy (&env);
}

/*  A decoded envelope keeps its strings in one allocation; replacing the target and adding
    fields must neither free a piece of it nor leak what is added (ASan checks both). */
static void
test_decoded_ownership (void **state)
{
    cm_envelope_t *env = make_vendor ();
    assert_int_equal (cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", "K", "{}"), 0);
    char *data;
    size_t size;
    encode (env, &data, &size);
    char err[256] = "";
    cm_envelope_t *back = cm_envelope_decode (data, size, err, sizeof err);
    assert_non_null (back);
    assert_true (back->arena_size > 0);
    /*  Twice: the first replaces strings of the decode allocation, the second malloc'd ones. */
    assert_int_equal (cm_envelope_set_target (back, "Contact", "Key__c", "K2", "{\"a\":1}"), 0);
    assert_int_equal (cm_envelope_set_target (back, "Lead", NULL, NULL, NULL), 0);
    assert_string_equal (back->sobject, "Lead");
    assert_null (back->payload);
    /*  Adding fields moves the decoded fields out of the allocation and keeps them. */
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf (name, sizeof name, "Extra%d", i);
        assert_int_equal (cm_envelope_add_field (back, name, "x"), 0);
    }
    assert_int_equal (back->field_count, VENDOR_FIELDS + 40);
    for (size_t i = 0; i < VENDOR_FIELDS; i++)
        assert_string_equal (cm_envelope_field (back, s_vendor[i][0]), s_vendor[i][1]);
    assert_string_equal (cm_envelope_field (back, "Extra39"), "x");
    /*  The scalars are plain members: a hop changes them and re-encodes. */
    back->attempt = 7;
    char *again;
    size_t again_size;
    encode (back, &again, &again_size);
    cm_envelope_t *third = cm_envelope_decode (again, again_size, err, sizeof err);
    assert_non_null (third);
    assert_int_equal (third->attempt, 7);
    assert_int_equal (third->field_count, VENDOR_FIELDS + 40);
    assert_string_equal (third->sobject, "Lead");
    cm_envelope_destroy (&third);
    free (again);
    free (data);
    cm_envelope_destroy (&back);
    cm_envelope_destroy (&env);
}

static void
test_decode_lean (void **state)
{
    cm_envelope_t *env = make_vendor ();
    assert_int_equal (cm_envelope_set_target (env, "Account", "CloudSuite_Key__c",
                                              "ACME_PRD:vendor:V000123", "{\"Name\":\"N\"}"),
                      0);
    char *data;
    size_t size;
    encode (env, &data, &size);
    char err[256] = "";
    cm_envelope_t *full = cm_envelope_decode (data, size, err, sizeof err);
    cm_envelope_t *lean = cm_envelope_decode_lean (data, size, err, sizeof err);
    assert_non_null (full);
    assert_non_null (lean);
    assert_int_equal (lean->field_count, 0);
    assert_null (lean->fields);
    assert_null (cm_envelope_field (lean, "Name"));
    assert_string_equal (lean->id, full->id);
    assert_string_equal (lean->tenant, full->tenant);
    assert_string_equal (lean->entity, full->entity);
    assert_string_equal (lean->key, full->key);
    assert_string_equal (lean->hash, full->hash);
    assert_int_equal (lean->attempt, full->attempt);
    assert_int_equal (lean->sent_at_ms, full->sent_at_ms);
    assert_string_equal (lean->sobject, full->sobject);
    assert_string_equal (lean->ext_id_field, full->ext_id_field);
    assert_string_equal (lean->ext_id, full->ext_id);
    assert_string_equal (lean->payload, full->payload);
    /*  Without src, the one allocation is smaller. */
    assert_true (lean->arena_size < full->arena_size);
    cm_envelope_destroy (&full);
    cm_envelope_destroy (&lean);
    cm_envelope_destroy (&env);
    free (data);
    /*  src is still required and must be a map; its entries are not looked at. */
    build ("src", NULL, CM_ENVELOPE_VERSION, false, &data, &size);
    assert_null (cm_envelope_decode_lean (data, size, err, sizeof err));
    assert_non_null (strstr (err, "missing required field 'src'"));
    free (data);
    build (NULL, "src", CM_ENVELOPE_VERSION, false, &data, &size);
    assert_null (cm_envelope_decode_lean (data, size, err, sizeof err));
    assert_non_null (strstr (err, "field 'src': expected map, got array"));
    free (data);
    build (NULL, "src.Name", CM_ENVELOPE_VERSION, false, &data, &size);
    lean = cm_envelope_decode_lean (data, size, err, sizeof err);
    assert_non_null (lean);
    cm_envelope_destroy (&lean);
    free (data);
    /*  The rest is checked as in cm_envelope_decode. */
    build (NULL, "tenant", CM_ENVELOPE_VERSION, false, &data, &size);
    assert_null (cm_envelope_decode_lean (data, size, err, sizeof err));
    assert_non_null (strstr (err, "field 'tenant': expected str, got int"));
    free (data);
}

/*  An envelope of n source fields named F0000..., the last one renamed to dup_of's name. */
static void
many_fields (size_t n, int dup_of, char **data, size_t *size)
{
    cm_envelope_t *env = cm_envelope_new ("T", "vendor", "K");
    char name[32];
    for (size_t i = 0; i < n; i++) {
        snprintf (name, sizeof name, "F%04zu", (i + 1 == n && dup_of >= 0) ? (size_t)dup_of : i);
        /*  add_field does not look for duplicates: the decoder must. */
        assert_int_equal (cm_envelope_add_field (env, name, i % 2 ? "" : name), 0);
    }
    encode (env, data, size);
    cm_envelope_destroy (&env);
}

static void
test_src_names (void **state)
{
    char *data;
    size_t size;
    char err[256] = "";
    many_fields (CM_ENVELOPE_MAX_FIELDS, -1, &data, &size);
    cm_envelope_t *env = cm_envelope_decode (data, size, err, sizeof err);
    assert_non_null (env);
    assert_int_equal (env->field_count, CM_ENVELOPE_MAX_FIELDS);
    assert_string_equal (cm_envelope_field (env, "F0511"), "");
    assert_string_equal (cm_envelope_field (env, "F0510"), "F0510");
    cm_envelope_destroy (&env);
    free (data);
    /*  A repeated name anywhere is refused, by name. */
    static const size_t sizes[] = {3, 17, CM_ENVELOPE_MAX_FIELDS};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        many_fields (sizes[i], 1, &data, &size);
        expect_reject (data, size, "duplicate field name 'F0001'");
        free (data);
    }
    /*  A long name is cut in the message, not overflowing it. */
    cm_envelope_t *dup = cm_envelope_new ("T", "vendor", "K");
    char longname[300];
    memset (longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cm_envelope_add_field (dup, longname, "1");
    cm_envelope_add_field (dup, longname, "2");
    encode (dup, &data, &size);
    expect_reject (data, size, "duplicate field name 'nnnnnnnn");
    assert_null (cm_envelope_decode (data, size, err, sizeof err));
    assert_true (strlen (err) < 128);
    free (data);
    cm_envelope_destroy (&dup);
}

/*  The encoder writes what msgpack-c's packer writes, at every str width. */
static void
test_encode_bytes (void **state)
{
    static const size_t lens[] = {0, 31, 32, 255, 256, 65535, 65536};
    char *text = malloc (65537);
    memset (text, 'v', 65536);
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", "V1");
    env->extracted_at_ms = -5;
    env->sent_at_ms = INT64_MAX;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char name[16];
        snprintf (name, sizeof name, "F%zu", lens[i]);
        text[lens[i]] = '\0';
        assert_int_equal (cm_envelope_add_field (env, name, text), 0);
        text[lens[i]] = 'v';
    }
    text[300] = '\0';
    assert_int_equal (cm_envelope_set_target (env, "Account", NULL, "", text), 0);
    cm_envelope_compute_hash (env);
    char *data;
    size_t size;
    encode (env, &data, &size);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
#define STR(s) msgpack_pack_str_with_body (&pk, s, strlen (s))
    msgpack_pack_map (&pk, 13);
    STR ("v");
    msgpack_pack_uint32 (&pk, CM_ENVELOPE_VERSION);
    STR ("id");
    STR (env->id);
    STR ("tenant");
    STR ("ACME_PRD");
    STR ("entity");
    STR ("vendor");
    STR ("key");
    STR ("V1");
    STR ("hash");
    STR (env->hash);
    STR ("attempt");
    msgpack_pack_uint32 (&pk, 1);
    STR ("ts_ex");
    msgpack_pack_int64 (&pk, -5);
    STR ("ts");
    msgpack_pack_int64 (&pk, INT64_MAX);
    STR ("src");
    msgpack_pack_map (&pk, env->field_count);
    for (size_t i = 0; i < env->field_count; i++) {
        STR (env->fields[i].name);
        STR (env->fields[i].value);
    }
    STR ("sobject");
    STR ("Account");
    STR ("extid");
    STR ("");
    STR ("payload");
    STR (text);
#undef STR
    assert_int_equal (size, sb.size);
    assert_memory_equal (data, sb.data, size);
    msgpack_sbuffer_destroy (&sb);
    free (data);
    free (text);
    cm_envelope_destroy (&env);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_new_defaults),
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_hash),
        cmocka_unit_test (test_hash_stable),
        cmocka_unit_test (test_ids_unique),
        cmocka_unit_test (test_field_limit),
        cmocka_unit_test (test_hand_built),
        cmocka_unit_test (test_reject_framing),
        cmocka_unit_test (test_oversized_encode),
        cmocka_unit_test (test_fuzz),
        cmocka_unit_test (test_decoded_ownership),
        cmocka_unit_test (test_decode_lean),
        cmocka_unit_test (test_src_names),
        cmocka_unit_test (test_encode_bytes),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
