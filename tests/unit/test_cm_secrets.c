/*  Unit tests for cm_secrets (the encrypted credential store and the master key) and the
    "secret:NAME" references that cm_config_load resolves from it. Real files in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cm_config.h"
#include "cm_secrets.h"

#define KEY_A   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B   "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
#define VALUE_1 "S3cr3t-value-ONE#&=+/"
#define VALUE_2 "{\"ti\":\"ACME_PRD\",\"cs\":\"s3cr3t-two\"}"

static char s_dir[64];
static char s_store[128];

static void
s_unset (void)
{
    unsetenv ("MLC_MASTER_KEY");
    unsetenv ("MLC_MASTER_KEY_FILE");
    unsetenv ("MLC_CONFIG");
}

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test_cm_secrets.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    snprintf (s_store, sizeof s_store, "%s/secrets.enc", s_dir);
    s_unset ();
    return 0;
}

static int
s_teardown (void **state)
{
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    s_unset ();
    return system (cmd) == 0 ? 0 : -1;
}

static unsigned char *
s_key (const char *hex)
{
    char err[256];
    unsigned char *key = cm_secrets_key_parse (hex, strlen (hex), "test", err, sizeof err);
    assert_non_null (key);
    return key;
}

/*  The whole file as a malloc'd string. */
static char *
s_slurp (const char *path)
{
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    char *buf = calloc (1, 1 << 20);
    assert_non_null (buf);
    size_t n = fread (buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose (f);
    return buf;
}

static void
s_spit (const char *path, const char *text)
{
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

/*  Creates a store with two entries under KEY_A. */
static void
s_make_store (void)
{
    char err[512] = "";
    unsigned char *key = s_key (KEY_A);
    unlink (s_store);
    cm_secrets_t *st = cm_secrets_open (s_store, key, true, err, sizeof err);
    assert_non_null (st);
    assert_int_equal (
        cm_secrets_set (st, "salesforce/client_secret", VALUE_1, strlen (VALUE_1), err, sizeof err),
        0);
    assert_int_equal (
        cm_secrets_set (st, "ionapi/ACME_PRD", VALUE_2, strlen (VALUE_2), err, sizeof err), 0);
    assert_int_equal (cm_secrets_save (st, err, sizeof err), 0);
    cm_secrets_destroy (&st);
    cm_secrets_key_free (&key);
}

static void
test_keygen_and_parse (void **state)
{
    char a[CM_SECRETS_KEY_HEX + 1], b[CM_SECRETS_KEY_HEX + 1];
    cm_secrets_keygen (a);
    cm_secrets_keygen (b);
    assert_int_equal (strlen (a), CM_SECRETS_KEY_HEX);
    assert_string_not_equal (a, b);
    for (size_t i = 0; i < CM_SECRETS_KEY_HEX; i++)
        assert_non_null (strchr ("0123456789abcdef", a[i]));
    char err[256] = "";
    char spaced[80];
    snprintf (spaced, sizeof spaced, "  %s\n", a);
    unsigned char *key = cm_secrets_key_parse (spaced, strlen (spaced), "x", err, sizeof err);
    assert_non_null (key);
    cm_secrets_key_free (&key);
    assert_null (key);

    static const char *bad[] = {"", "abc", KEY_A "00",
                                "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                                "0011223344556677 8899aabbccddeeff00112233445566778899aabbccddeef"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_null (
            cm_secrets_key_parse (bad[i], strlen (bad[i]), "MLC_MASTER_KEY", err, sizeof err));
        assert_non_null (strstr (err, "MLC_MASTER_KEY"));
        assert_non_null (strstr (err, "64 hexadecimal"));
    }
}

static void
test_master_key_sources (void **state)
{
    char err[512] = "";
    assert_null (cm_secrets_master_key (err, sizeof err));
    assert_non_null (strstr (err, "MLC_MASTER_KEY_FILE"));

    setenv ("MLC_MASTER_KEY", KEY_A, 1);
    unsigned char *key = cm_secrets_master_key (err, sizeof err);
    assert_non_null (key);
    assert_int_equal (key[0], 0x00);
    assert_int_equal (key[31], 0xff);
    cm_secrets_key_free (&key);

    char kf[128];
    snprintf (kf, sizeof kf, "%s/master_key", s_dir);
    s_spit (kf, KEY_B "\n");
    setenv ("MLC_MASTER_KEY_FILE", kf, 1);
    assert_null (cm_secrets_master_key (err, sizeof err));
    assert_non_null (strstr (err, "both"));

    unsetenv ("MLC_MASTER_KEY");
    key = cm_secrets_master_key (err, sizeof err);
    assert_non_null (key);
    assert_int_equal (key[0], 0xff);
    cm_secrets_key_free (&key);

    s_spit (kf, "not a key, but " KEY_B);
    assert_null (cm_secrets_master_key (err, sizeof err));
    assert_non_null (strstr (err, kf));
    assert_null (strstr (err, KEY_B)); /* never echoed */

    setenv ("MLC_MASTER_KEY_FILE", "/nonexistent/master_key", 1);
    assert_null (cm_secrets_master_key (err, sizeof err));
    assert_non_null (strstr (err, "/nonexistent/master_key"));
}

static void
test_round_trip (void **state)
{
    char err[512] = "";
    s_make_store ();

    struct stat st;
    assert_int_equal (stat (s_store, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    char *text = s_slurp (s_store);
    assert_null (strstr (text, "S3cr3t"));
    assert_null (strstr (text, "s3cr3t-two"));
    assert_non_null (strstr (text, "\"ionapi/ACME_PRD\"")); /* names are not secret */
    free (text);

    unsigned char *key = s_key (KEY_A);
    cm_secrets_t *s = cm_secrets_open (s_store, key, false, err, sizeof err);
    assert_non_null (s);
    assert_string_equal (cm_secrets_path (s), s_store);
    assert_int_equal (cm_secrets_count (s), 2);
    assert_string_equal (cm_secrets_name (s, 0), "ionapi/ACME_PRD");
    assert_string_equal (cm_secrets_name (s, 1), "salesforce/client_secret");
    assert_null (cm_secrets_name (s, 2));
    char *v = NULL;
    size_t len = 0;
    assert_int_equal (cm_secrets_get (s, "salesforce/client_secret", &v, &len, err, sizeof err), 1);
    assert_string_equal (v, VALUE_1);
    assert_int_equal (len, strlen (VALUE_1));
    cm_secrets_value_free (&v);
    assert_null (v);
    assert_int_equal (cm_secrets_get (s, "ionapi/ACME_PRD", &v, NULL, err, sizeof err), 1);
    assert_string_equal (v, VALUE_2);
    cm_secrets_value_free (&v);
    assert_int_equal (cm_secrets_get (s, "nope", &v, &len, err, sizeof err), 0);
    assert_null (v);

    /* replace one, delete the other, add a third; save; reopen */
    assert_int_equal (cm_secrets_set (s, "salesforce/client_secret", "new", 3, err, sizeof err), 0);
    assert_int_equal (cm_secrets_delete (s, "ionapi/ACME_PRD"), 1);
    assert_int_equal (cm_secrets_delete (s, "ionapi/ACME_PRD"), 0);
    assert_int_equal (cm_secrets_set (s, "a/first", "", 0, err, sizeof err), 0);
    assert_int_equal (cm_secrets_save (s, err, sizeof err), 0);
    cm_secrets_destroy (&s);
    s = cm_secrets_open (s_store, key, false, err, sizeof err);
    assert_non_null (s);
    assert_int_equal (cm_secrets_count (s), 2);
    assert_string_equal (cm_secrets_name (s, 0), "a/first");
    assert_int_equal (cm_secrets_get (s, "a/first", &v, &len, err, sizeof err), 1);
    assert_int_equal (len, 0);
    cm_secrets_value_free (&v);
    assert_int_equal (cm_secrets_get (s, "salesforce/client_secret", &v, &len, err, sizeof err), 1);
    assert_string_equal (v, "new");
    cm_secrets_value_free (&v);

    /* bad names and values are refused */
    assert_int_equal (cm_secrets_set (s, "has space", "x", 1, err, sizeof err), -1);
    assert_non_null (strstr (err, "not valid"));
    assert_int_equal (cm_secrets_set (s, "", "x", 1, err, sizeof err), -1);
    assert_int_equal (cm_secrets_set (s, "nul", "a\0b", 3, err, sizeof err), -1);
    cm_secrets_destroy (&s);
    cm_secrets_key_free (&key);
}

static void
test_missing_store (void **state)
{
    char err[512] = "";
    unsigned char *key = s_key (KEY_A);
    char path[160];
    snprintf (path, sizeof path, "%s/none.enc", s_dir);
    assert_null (cm_secrets_open (path, key, false, err, sizeof err));
    assert_non_null (strstr (err, path));
    assert_non_null (strstr (err, "does not exist"));
    /* create: an empty store, written only on save, into a directory made on demand */
    snprintf (path, sizeof path, "%s/sub/dir/new.enc", s_dir);
    cm_secrets_t *s = cm_secrets_open (path, key, true, err, sizeof err);
    assert_non_null (s);
    assert_int_equal (cm_secrets_count (s), 0);
    assert_int_not_equal (access (path, F_OK), 0);
    assert_int_equal (cm_secrets_save (s, err, sizeof err), 0);
    cm_secrets_destroy (&s);
    s = cm_secrets_open (path, key, false, err, sizeof err);
    assert_non_null (s);
    cm_secrets_destroy (&s);
    cm_secrets_key_free (&key);
}

static void
test_wrong_key (void **state)
{
    char err[512] = "";
    s_make_store ();
    unsigned char *key = s_key (KEY_B);
    assert_null (cm_secrets_open (s_store, key, false, err, sizeof err));
    assert_non_null (strstr (err, s_store));
    assert_non_null (strstr (err, "master key does not open"));
    assert_null (strstr (err, KEY_B));
    assert_null (strstr (err, KEY_A));
    cm_secrets_key_free (&key);
}

/*  Rewrites the store's JSON with fn applied. */
static void
s_edit (void (*fn) (cJSON *root))
{
    char *text = s_slurp (s_store);
    cJSON *root = cJSON_Parse (text);
    assert_non_null (root);
    fn (root);
    char *out = cJSON_Print (root);
    s_spit (s_store, out);
    free (out);
    free (text);
    cJSON_Delete (root);
}

static void
s_flip_ct (cJSON *root)
{
    cJSON *e = cJSON_GetObjectItem (cJSON_GetObjectItem (root, "entries"), "ionapi/ACME_PRD");
    cJSON *ct = cJSON_GetObjectItem (e, "ct");
    ct->valuestring[4] = ct->valuestring[4] == 'A' ? 'B' : 'A';
}

static void
s_drop_entry (cJSON *root)
{
    cJSON_DeleteItemFromObject (cJSON_GetObjectItem (root, "entries"), "ionapi/ACME_PRD");
}

static void
s_swap_entries (cJSON *root)
{
    cJSON *entries = cJSON_GetObjectItem (root, "entries");
    cJSON *a = cJSON_DetachItemFromObject (entries, "ionapi/ACME_PRD");
    cJSON *b = cJSON_DetachItemFromObject (entries, "salesforce/client_secret");
    cJSON_AddItemToObject (entries, "ionapi/ACME_PRD", b);
    cJSON_AddItemToObject (entries, "salesforce/client_secret", a);
}

static void
s_flip_check (cJSON *root)
{
    cJSON *ct = cJSON_GetObjectItem (cJSON_GetObjectItem (root, "check"), "ct");
    ct->valuestring[2] = ct->valuestring[2] == 'A' ? 'B' : 'A';
}

static void
s_bad_nonce (cJSON *root)
{
    cJSON *e = cJSON_GetObjectItem (cJSON_GetObjectItem (root, "entries"), "ionapi/ACME_PRD");
    cJSON_ReplaceItemInObject (e, "nonce", cJSON_CreateString ("xyz"));
}

static void
s_bad_version (cJSON *root)
{
    cJSON_ReplaceItemInObject (root, "version", cJSON_CreateNumber (99));
}

static void
test_tampered (void **state)
{
    static const struct {
        void (*fn) (cJSON *root);
        const char *want;
    } cases[] = {
        {s_flip_ct, "integrity check failed"},
        {s_drop_entry, "integrity check failed"},
        {s_swap_entries, "integrity check failed"},
        {s_flip_check, "master key does not open"},
        {s_bad_nonce, "is malformed"},
        {s_bad_version, "unsupported version"},
    };
    unsigned char *key = s_key (KEY_A);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        s_make_store ();
        s_edit (cases[i].fn);
        cm_secrets_t *s = cm_secrets_open (s_store, key, false, err, sizeof err);
        if (s || !strstr (err, cases[i].want) || !strstr (err, s_store)) {
            print_error ("case %zu: err='%s' want '%s'\n", i, err, cases[i].want);
            cm_secrets_destroy (&s);
            fail ();
        }
    }
    /* not a store at all: truncated, or another JSON document */
    char err[512] = "";
    s_make_store ();
    char *text = s_slurp (s_store);
    text[strlen (text) / 2] = '\0';
    s_spit (s_store, text);
    free (text);
    assert_null (cm_secrets_open (s_store, key, false, err, sizeof err));
    assert_non_null (strstr (err, "invalid JSON"));
    s_spit (s_store, "{\"ti\": \"ACME_PRD\"}");
    assert_null (cm_secrets_open (s_store, key, false, err, sizeof err));
    assert_non_null (strstr (err, "not a secret store"));
    cm_secrets_key_free (&key);
}

static size_t
s_count_files (const char *dir)
{
    size_t n = 0;
    DIR *d = opendir (dir);
    assert_non_null (d);
    for (struct dirent *e = readdir (d); e; e = readdir (d))
        if (e->d_name[0] != '.')
            n++;
    closedir (d);
    return n;
}

static void
test_atomic_write (void **state)
{
    char err[512] = "";
    s_make_store ();
    char *before = s_slurp (s_store);
    unsigned char *key = s_key (KEY_A);
    cm_secrets_t *s = cm_secrets_open (s_store, key, false, err, sizeof err);
    assert_non_null (s);
    assert_int_equal (cm_secrets_set (s, "x", "1", 1, err, sizeof err), 0);
    /* the target turns into a directory: rename fails, the temp file is removed */
    char moved[160];
    snprintf (moved, sizeof moved, "%s.bak", s_store);
    assert_int_equal (rename (s_store, moved), 0);
    assert_int_equal (mkdir (s_store, 0700), 0);
    size_t files = s_count_files (s_dir);
    assert_int_equal (cm_secrets_save (s, err, sizeof err), -1);
    assert_non_null (strstr (err, s_store));
    assert_int_equal (s_count_files (s_dir), files);
    assert_int_equal (rmdir (s_store), 0);
    assert_int_equal (rename (moved, s_store), 0);
    char *after = s_slurp (s_store);
    assert_string_equal (before, after);
    free (after);
    /* a successful save replaces the file whole, leaving no temporary behind */
    files = s_count_files (s_dir);
    assert_int_equal (cm_secrets_save (s, err, sizeof err), 0);
    assert_int_equal (s_count_files (s_dir), files);
    cm_secrets_destroy (&s);
    s = cm_secrets_open (s_store, key, false, err, sizeof err);
    assert_non_null (s);
    assert_int_equal (cm_secrets_count (s), 3);
    cm_secrets_destroy (&s);
    cm_secrets_key_free (&key);
    free (before);
}

static void
test_ref (void **state)
{
    assert_string_equal (cm_secrets_ref ("secret:ionapi/ACME_PRD"), "ionapi/ACME_PRD");
    assert_null (cm_secrets_ref ("plain value"));
    assert_null (cm_secrets_ref ("Secret:x"));
    assert_null (cm_secrets_ref (NULL));
    assert_true (cm_secrets_name_ok ("salesforce/client_secret"));
    assert_false (cm_secrets_name_ok ("a b"));
    assert_false (cm_secrets_name_ok (""));
}

/*  Writes a config whose Salesforce secret and .ionapi are secret references. */
static const char *
s_config (const char *sf_ref)
{
    static char path[160];
    snprintf (path, sizeof path, "%s/config.json", s_dir);
    char text[1024];
    snprintf (text, sizeof text,
              "{\"data_dir\": \"%s\", \"secrets\": {\"file\": \"%s\"},"
              " \"salesforce\": {\"client_secret\": \"%s\"},"
              " \"cloudsuite\": {\"ionapi\": \"secret:ionapi/ACME_PRD\"}}",
              s_dir, s_store, sf_ref);
    s_spit (path, text);
    return path;
}

static void
test_config_hook (void **state)
{
    char err[1024] = "";
    s_make_store ();
    const char *path = s_config ("secret:salesforce/client_secret");

    /* no master key: the error names the key, the secret and what to set */
    assert_null (cm_config_load (path, err, sizeof err));
    assert_non_null (strstr (err, "secret"));
    assert_non_null (strstr (err, "MLC_MASTER_KEY"));

    setenv ("MLC_MASTER_KEY", KEY_A, 1);
    cm_config_t *cfg = cm_config_load (path, err, sizeof err);
    assert_non_null (cfg);
    assert_string_equal (cm_config_str (cfg, "salesforce.client_secret"), VALUE_1);
    assert_string_equal (cm_config_str (cfg, "cloudsuite.ionapi"), VALUE_2);
    assert_string_equal (cm_config_secret_ref (cfg, "cloudsuite.ionapi"), "ionapi/ACME_PRD");
    assert_null (cm_config_secret_ref (cfg, "data_dir"));
    assert_true (cm_config_is_secret ("cloudsuite.ionapi"));
    assert_false (cm_config_is_secret ("cloudsuite.ionapi_file"));
    cm_config_destroy (&cfg);

    /* unresolved: the references stay */
    cfg = cm_config_load_unresolved (path, err, sizeof err);
    assert_non_null (cfg);
    assert_string_equal (cm_config_str (cfg, "salesforce.client_secret"),
                         "secret:salesforce/client_secret");
    cm_config_destroy (&cfg);

    /* an environment variable can be a reference too */
    setenv ("MLC_SALESFORCE_CLIENT_ID", "secret:ionapi/ACME_PRD", 1);
    cfg = cm_config_load (path, err, sizeof err);
    assert_non_null (cfg);
    assert_string_equal (cm_config_str (cfg, "salesforce.client_id"), VALUE_2);
    cm_config_destroy (&cfg);
    unsetenv ("MLC_SALESFORCE_CLIENT_ID");

    /* unknown secret: names the key, the secret and the store */
    path = s_config ("secret:salesforce/other");
    assert_null (cm_config_load (path, err, sizeof err));
    assert_non_null (strstr (err, "salesforce.client_secret"));
    assert_non_null (strstr (err, "salesforce/other"));
    assert_non_null (strstr (err, s_store));

    /* a bad name */
    path = s_config ("secret:bad name");
    assert_null (cm_config_load (path, err, sizeof err));
    assert_non_null (strstr (err, "not a valid secret name"));

    /* wrong key: names the key, the secret and the store, never a value or the key */
    path = s_config ("secret:salesforce/client_secret");
    setenv ("MLC_MASTER_KEY", KEY_B, 1);
    assert_null (cm_config_load (path, err, sizeof err));
    assert_non_null (strstr (err, "master key does not open"));
    assert_non_null (strstr (err, s_store));
    assert_null (strstr (err, KEY_B));
    assert_null (strstr (err, "S3cr3t"));

    /* the default store is <data_dir>/secrets.enc */
    setenv ("MLC_MASTER_KEY", KEY_A, 1);
    char cfgpath[160], text[512];
    snprintf (cfgpath, sizeof cfgpath, "%s/config2.json", s_dir);
    snprintf (text, sizeof text,
              "{\"data_dir\": \"%s\", \"salesforce\": {\"client_secret\": "
              "\"secret:salesforce/client_secret\"}}",
              s_dir);
    s_spit (cfgpath, text);
    cfg = cm_config_load (cfgpath, err, sizeof err);
    assert_non_null (cfg);
    assert_string_equal (cm_config_str (cfg, "salesforce.client_secret"), VALUE_1);
    cm_config_destroy (&cfg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_keygen_and_parse),
        cmocka_unit_test (test_ref),
        cmocka_unit_test_setup_teardown (test_master_key_sources, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wrong_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tampered, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_atomic_write, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_config_hook, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
