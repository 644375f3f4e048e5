/*  Unit tests for cs_ionapi (the .ionapi credentials file) and the password-grant form
    built from it (cs_auth_password_form). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "test_util.h"
#include "../../extractor/cs_auth.h"
#include "../../extractor/cs_ionapi.h"

/* A real-shaped file as Infor ION API downloads it (secrets made up). */
static const char *s_valid =
    "{\n"
    "  \"ti\": \"ACME_PRD\",\n"
    "  \"cn\": \"ml-connector\",\n"
    "  \"dt\": \"12\",\n"
    "  \"ci\": \"ACME_PRD~abc123XYZ\",\n"
    "  \"cs\": \"CS-s3cr3t-value\",\n"
    "  \"iu\": \"https://mingle-ionapi.inforcloudsuite.com\",\n"
    "  \"pu\": \"https://mingle-sso.inforcloudsuite.com:443/ACME_PRD/as/\",\n"
    "  \"oa\": \"authorization.oauth2\",\n"
    "  \"ot\": \"token.oauth2\",\n"
    "  \"or\": \"revoke_token.oauth2\",\n"
    "  \"ev\": \"U1462856712\",\n"
    "  \"v\": \"1.0\",\n"
    "  \"saak\": \"ACME_PRD#Xy7-abc_DEF+12/3\",\n"
    "  \"sask\": \"SASK-s3cr3t&=value\"\n"
    "}\n";

static char s_dir[256];

static int
s_setup (void **state)
{
    test_tmpdir (s_dir, sizeof s_dir, "test_cs_ionapi");
    return 0;
}

static int
s_teardown (void **state)
{
    assert_int_equal (test_rmtree (s_dir), 0);
    return 0;
}

/*  Writes text to DIR/name and returns the path in a static buffer. */
static const char *
s_write (const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    assert_int_equal (fwrite (text, 1, len, f), len);
    fclose (f);
    return path;
}

/*  The valid file with `field` replaced by raw JSON text `value` (NULL: removed), and
    optionally a second field. Returns malloc'd JSON text. */
static char *
s_variant2 (const char *field, const char *value, const char *field2, const char *value2)
{
    cJSON *root = cJSON_Parse (s_valid);
    assert_non_null (root);
    const char *f[2] = {field, field2};
    const char *v[2] = {value, value2};
    for (int i = 0; i < 2; i++) {
        if (!f[i])
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive (root, f[i]);
        if (v[i]) {
            cJSON *item = cJSON_Parse (v[i]);
            assert_non_null (item);
            cJSON_AddItemToObject (root, f[i], item);
        }
    }
    char *text = cJSON_Print (root);
    assert_non_null (text);
    cJSON_Delete (root);
    return text;
}

static char *
s_variant (const char *field, const char *value)
{
    return s_variant2 (field, value, NULL, NULL);
}

static void
test_valid_file (void **state)
{
    char err[512] = "";
    const char *path = s_write ("ok.ionapi", s_valid, strlen (s_valid));
    cs_ionapi_t *api = cs_ionapi_load (path, false, err, sizeof err);
    assert_non_null (api);
    assert_string_equal (err, "");
    assert_string_equal (cs_ionapi_tenant (api), "ACME_PRD");
    assert_string_equal (cs_ionapi_client_id (api), "ACME_PRD~abc123XYZ");
    assert_string_equal (cs_ionapi_client_secret (api), "CS-s3cr3t-value");
    assert_string_equal (cs_ionapi_saak (api), "ACME_PRD#Xy7-abc_DEF+12/3");
    assert_string_equal (cs_ionapi_sask (api), "SASK-s3cr3t&=value");
    assert_string_equal (cs_ionapi_token_url (api),
                         "https://mingle-sso.inforcloudsuite.com:443/ACME_PRD/as/token.oauth2");
    assert_string_equal (cs_ionapi_api_base (api),
                         "https://mingle-ionapi.inforcloudsuite.com/ACME_PRD");
    cs_ionapi_destroy (&api);
    assert_null (api);
    cs_ionapi_destroy (&api); /* accepts NULL */
}

static void
test_iu_trailing_slash (void **state)
{
    char err[512] = "";
    char *text = s_variant ("iu", "\"https://mingle-ionapi.inforcloudsuite.com/\"");
    cs_ionapi_t *api = cs_ionapi_parse ("x.ionapi", text, strlen (text), false, err, sizeof err);
    assert_non_null (api);
    assert_string_equal (cs_ionapi_api_base (api),
                         "https://mingle-ionapi.inforcloudsuite.com/ACME_PRD");
    cs_ionapi_destroy (&api);
    free (text);
}

static void
test_loopback_http (void **state)
{
    char err[512] = "";
    char *text = s_variant2 ("iu", "\"http://127.0.0.1:8123\"", "pu",
                             "\"http://127.0.0.1:8123/ACME_PRD/as/\"");
    cs_ionapi_t *api = cs_ionapi_parse ("sim.ionapi", text, strlen (text), true, err, sizeof err);
    assert_non_null (api);
    assert_string_equal (cs_ionapi_token_url (api),
                         "http://127.0.0.1:8123/ACME_PRD/as/token.oauth2");
    assert_string_equal (cs_ionapi_api_base (api), "http://127.0.0.1:8123/ACME_PRD");
    cs_ionapi_destroy (&api);

    /* the same file without allow_http is refused, naming the field */
    api = cs_ionapi_parse ("sim.ionapi", text, strlen (text), false, err, sizeof err);
    assert_null (api);
    assert_non_null (strstr (err, "sim.ionapi"));
    assert_non_null (strstr (err, "'iu'"));
    free (text);
}

typedef struct {
    const char *name;  /* case */
    const char *field; /* field to replace */
    const char *value; /* raw JSON value, NULL: remove the field */
    const char *raw;   /* whole file text instead of a variant */
    bool allow_http;   /* cloudsuite.allow_http */
    const char *want;  /* text the message must contain besides the file name */
} s_case_t;

static const s_case_t s_cases[] = {
    {"invalid JSON", NULL, NULL, "{\"ti\": \"ACME_PRD\", \"ci\": ", false, "invalid JSON"},
    {"not an object", NULL, NULL, "[\"ti\"]", false, "JSON object"},
    {"empty file", NULL, NULL, "", false, "invalid JSON"},
    {"missing ci", "ci", NULL, NULL, false, "'ci' is missing"},
    {"missing saak", "saak", NULL, NULL, false, "'saak' is missing"},
    {"empty sask", "sask", "\"\"", NULL, false, "'sask' is empty"},
    {"empty ti", "ti", "\"\"", NULL, false, "'ti' is empty"},
    {"non-string cs", "cs", "12345", NULL, false, "'cs' must be a string"},
    {"null ot", "ot", "null", NULL, false, "'ot' must be a string"},
    {"object iu", "iu", "{\"a\": 1}", NULL, false, "'iu' must be a string"},
    {"http iu without allow", "iu", "\"http://mingle-ionapi.inforcloudsuite.com\"", NULL, false,
     "'iu'"},
    {"http iu to a remote host with allow", "iu", "\"http://mingle-ionapi.example.com\"", NULL,
     true, "'iu'"},
    {"http pu without allow", "pu", "\"http://mingle-sso.inforcloudsuite.com/ACME_PRD/as/\"", NULL,
     false, "'pu'"},
    {"ftp iu", "iu", "\"ftp://mingle-ionapi.inforcloudsuite.com\"", NULL, false, "'iu'"},
    {"pu without trailing slash", "pu",
     "\"https://mingle-sso.inforcloudsuite.com:443/ACME_PRD/as\"", NULL, false,
     "'pu' must end in '/'"},
    {"tenant with a path", "ti", "\"../etc\"", NULL, false, "'ti'"},
    {"tenant with a space", "ti", "\"ACME PRD\"", NULL, false, "'ti'"},
    {"ot with a leading slash", "ot", "\"/token.oauth2\"", NULL, false,
     "'ot' must be a path relative to 'pu'"},
    {"control character in cs", "cs", "\"abc\\u0001def\"", NULL, false,
     "'cs' contains a control character"},
    {"boolean saak", "saak", "true", NULL, false, "'saak' must be a string"},
    {"missing iu", "iu", NULL, NULL, false, "'iu' is missing"},
    {"missing pu", "pu", NULL, NULL, false, "'pu' is missing"},
    {"missing ot", "ot", NULL, NULL, false, "'ot' is missing"},
    {"missing ti", "ti", NULL, NULL, false, "'ti' is missing"},
    {"missing cs", "cs", NULL, NULL, false, "'cs' is missing"},
    {"a number, not an object", NULL, NULL, "42", false, "JSON object"},
    {"truncated file", NULL, NULL, "{\"ti\": \"ACME_PRD\", \"cs\": \"s3cr3t", false,
     "invalid JSON"},
    {"UTF-8 BOM then garbage", NULL, NULL, "\xEF\xBB\xBFnot json", false, "invalid JSON"},
};

static void
test_broken_files (void **state)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *c = &s_cases[i];
        char *text = c->raw ? strdup (c->raw) : s_variant (c->field, c->value);
        char name[64];
        snprintf (name, sizeof name, "broken%zu.ionapi", i);
        const char *path = s_write (name, text, strlen (text));
        char err[512] = "";
        cs_ionapi_t *api = cs_ionapi_load (path, c->allow_http, err, sizeof err);
        if (api || !strstr (err, path) || !strstr (err, c->want) || strstr (err, "s3cr3t") ||
            strstr (err, "Xy7-abc")) {
            print_error ("case '%s': err='%s' (want '%s' and the path)\n", c->name, err, c->want);
            fail ();
        }
        free (text);
    }
}

/*  A file saved with a UTF-8 byte order mark is read like one without. */
static void
test_bom (void **state)
{
    size_t len = strlen (s_valid);
    char *text = malloc (len + 4);
    assert_non_null (text);
    memcpy (text, "\xEF\xBB\xBF", 3);
    memcpy (text + 3, s_valid, len + 1);
    const char *path = s_write ("bom.ionapi", text, len + 3);
    char err[512] = "";
    cs_ionapi_t *api = cs_ionapi_load (path, false, err, sizeof err);
    assert_non_null (api);
    assert_string_equal (cs_ionapi_tenant (api), "ACME_PRD");
    cs_ionapi_destroy (&api);
    free (text);
}

/*  From memory (the secret store): messages name the secret instead of a path, and never
    quote a value. */
static void
test_from_memory (void **state)
{
    char err[512] = "";
    cs_ionapi_t *api = cs_ionapi_parse ("secret ionapi/ACME_PRD", s_valid, strlen (s_valid), false,
                                        err, sizeof err);
    assert_non_null (api);
    assert_string_equal (cs_ionapi_api_base (api),
                         "https://mingle-ionapi.inforcloudsuite.com/ACME_PRD");
    cs_ionapi_destroy (&api);
    char *text = s_variant ("sask", "\"\"");
    api = cs_ionapi_parse ("secret ionapi/ACME_PRD", text, strlen (text), false, err, sizeof err);
    assert_null (api);
    assert_string_equal (err, "secret ionapi/ACME_PRD: field 'sask' is empty");
    free (text);
    text = s_variant ("iu", "\"http://CS-s3cr3t-value.example.com\"");
    api = cs_ionapi_parse ("secret ionapi/ACME_PRD", text, strlen (text), false, err, sizeof err);
    assert_null (api);
    assert_non_null (strstr (err, "secret ionapi/ACME_PRD: field 'iu'"));
    free (text);
}

static void
test_too_big (void **state)
{
    size_t len = CS_IONAPI_MAX_BYTES + 100;
    char *text = malloc (len + 1);
    assert_non_null (text);
    /* valid JSON padded with spaces: the size alone must refuse it */
    memset (text, ' ', len);
    memcpy (text, s_valid, strlen (s_valid));
    text[len] = '\0';
    const char *path = s_write ("big.ionapi", text, len);
    char err[512] = "";
    cs_ionapi_t *api = cs_ionapi_load (path, false, err, sizeof err);
    assert_null (api);
    assert_non_null (strstr (err, path));
    assert_non_null (strstr (err, "larger than"));
    free (text);
}

static void
test_missing_file (void **state)
{
    char err[512] = "";
    char path[300];
    snprintf (path, sizeof path, "%s/nope.ionapi", s_dir);
    assert_null (cs_ionapi_load (path, false, err, sizeof err));
    assert_non_null (strstr (err, path));
}

/*  saak contains '#', sask '&' and '=': the form must encode them, or the server would
    cut the username at '#' and split the password at '&'. */
static void
test_password_form_encoding (void **state)
{
    char err[512] = "";
    cs_ionapi_t *api =
        cs_ionapi_parse ("ok.ionapi", s_valid, strlen (s_valid), false, err, sizeof err);
    assert_non_null (api);
    char *form = cs_auth_password_form (api);
    assert_non_null (form);
    assert_non_null (strstr (form, "grant_type=password&"));
    assert_non_null (strstr (form, "&username=ACME_PRD%23Xy7-abc_DEF%2B12%2F3&"));
    assert_non_null (strstr (form, "&password=SASK-s3cr3t%26%3Dvalue&"));
    assert_non_null (strstr (form, "&client_id=ACME_PRD~abc123XYZ&")
                         ? strstr (form, "&client_id=ACME_PRD~abc123XYZ&")
                         : strstr (form, "&client_id=ACME_PRD%7Eabc123XYZ&"));
    assert_non_null (strstr (form, "&client_secret=CS-s3cr3t-value"));
    assert_null (strchr (form, '#'));
    free (form);
    cs_ionapi_destroy (&api);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_valid_file),
        cmocka_unit_test (test_iu_trailing_slash),
        cmocka_unit_test (test_loopback_http),
        cmocka_unit_test (test_broken_files),
        cmocka_unit_test (test_too_big),
        cmocka_unit_test (test_bom),
        cmocka_unit_test (test_from_memory),
        cmocka_unit_test (test_missing_file),
        cmocka_unit_test (test_password_form_encoding),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
