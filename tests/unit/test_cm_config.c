/*  Unit tests for cm_config: schema defaults, file values, nested flattening, environment
    overrides and the errors that name the key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_config.h"

extern char **environ;

static char s_dir[64];
static char s_path[128];

/*  Removes every MLC_ variable so the tests see only what they set. */
static void
clear_env (void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++)
            if (strncmp (*e, "MLC_", 4) == 0) {
                size_t len = strcspn (*e, "=");
                if (len < sizeof name) {
                    memcpy (name, *e, len);
                    name[len] = '\0';
                }
                break;
            }
        if (!*name)
            return;
        unsetenv (name);
    }
}

static int
setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/test_cm_config.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    snprintf (s_path, sizeof s_path, "%s/mlc.json", s_dir);
    clear_env ();
    return 0;
}

static int
teardown (void **state)
{
    unlink (s_path);
    rmdir (s_dir);
    clear_env ();
    return 0;
}

static void
write_file (const char *text)
{
    FILE *f = fopen (s_path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

static void
test_defaults (void **state)
{
    char err[256] = "";
    cm_config_t *cfg = cm_config_load (NULL, err, sizeof err);
    assert_non_null (cfg);
    assert_string_equal (cm_config_str (cfg, "log.level"), "info");
    assert_string_equal (cm_config_str (cfg, "data_dir"), "./data");
    assert_string_equal (cm_config_str (cfg, "zmq.extract_endpoint"), "tcp://127.0.0.1:5551");
    assert_string_equal (cm_config_str (cfg, "zmq.load_endpoint"), "tcp://127.0.0.1:5552");
    assert_string_equal (cm_config_str (cfg, "zmq.events_endpoint"), "tcp://127.0.0.1:5553");
    assert_string_equal (cm_config_str (cfg, "zmq.replay_endpoint"), "tcp://127.0.0.1:5554");
    assert_int_equal (cm_config_int (cfg, "zmq.hwm"), 10000);
    assert_int_equal (cm_config_int (cfg, "http.timeout_ms"), 30000);
    assert_int_equal (cm_config_int (cfg, "http.max_attempts"), 8);
    assert_int_equal (cm_config_int (cfg, "http.backoff_base_ms"), 200);
    assert_int_equal (cm_config_int (cfg, "http.backoff_max_ms"), 30000);
    assert_int_equal (cm_config_int (cfg, "http.max_body_bytes"), 67108864);
    assert_null (cm_config_str (cfg, "cloudsuite.tenant"));
    assert_null (cm_config_str (cfg, "cloudsuite.ionapi_file"));
    assert_false (cm_config_bool (cfg, "cloudsuite.allow_http"));
    assert_int_equal (cm_config_int (cfg, "cloudsuite.page_size"), 200);
    assert_int_equal (cm_config_int (cfg, "cloudsuite.poll_interval_s"), 300);
    assert_int_equal (cm_config_int (cfg, "cloudsuite.overlap_s"), 300);
    assert_int_equal (cm_config_int (cfg, "cloudsuite.token_margin_s"), 60);
    assert_true (cm_config_bool (cfg, "cloudsuite.vendor.enabled"));
    assert_string_equal (cm_config_str (cfg, "cloudsuite.vendor.ido"), "SLVendors");
    assert_string_equal (cm_config_str (cfg, "cloudsuite.vendor.key"), "VendNum");
    assert_string_equal (cm_config_str (cfg, "cloudsuite.vendor.watermark"), "RecordDate");
    assert_non_null (
        strstr (cm_config_str (cfg, "cloudsuite.vendor.properties"), "VendNum,Name,Phone,"));
    assert_false (cm_config_bool (cfg, "cloudsuite.customer.enabled"));
    assert_string_equal (cm_config_str (cfg, "cloudsuite.customer.ido"), "SLCustomers");
    assert_string_equal (cm_config_str (cfg, "cloudsuite.customer.key"), "CustNum,CustSeq");
    assert_false (cm_config_bool (cfg, "cloudsuite.invoice.enabled"));
    assert_string_equal (cm_config_str (cfg, "cloudsuite.invoice.ido"), "SLArinvs");
    assert_string_equal (cm_config_str (cfg, "cloudsuite.invoice.key"), "InvNum,InvSeq");
    assert_false (cm_config_bool (cfg, "cloudsuite.po.enabled"));
    assert_string_equal (cm_config_str (cfg, "cloudsuite.po.ido"), "SLPos");
    assert_string_equal (cm_config_str (cfg, "cloudsuite.po.key"), "PoNum");
    assert_string_equal (cm_config_str (cfg, "cloudsuite.po.watermark"), "RecordDate");
    assert_string_equal (cm_config_str (cfg, "transformer.mapping_file"), "config/mapping.json");
    assert_null (cm_config_str (cfg, "salesforce.url"));
    assert_null (cm_config_str (cfg, "salesforce.client_secret"));
    assert_string_equal (cm_config_str (cfg, "salesforce.api_version"), "62.0");
    assert_false (cm_config_bool (cfg, "salesforce.allow_http"));
    assert_int_equal (cm_config_int (cfg, "salesforce.batch_size"), 200);
    assert_int_equal (cm_config_int (cfg, "salesforce.flush_ms"), 200);
    assert_int_equal (cm_config_int (cfg, "salesforce.session_ttl_s"), 7200);
    assert_int_equal (cm_config_int (cfg, "salesforce.token_margin_s"), 300);
    assert_int_equal (cm_config_int (cfg, "salesforce.max_attempts"), 10);
    cm_config_destroy (&cfg);
    assert_null (cfg);
    cm_config_destroy (&cfg);
}

static void
test_file_values (void **state)
{
    write_file ("{\n"
                "  \"log\": {\"level\": \"debug\"},\n"
                "  \"data_dir\": \"/var/lib/mlc\",\n"
                "  \"zmq\": {\"extract_endpoint\": \"ipc:///tmp/x/extract\", \"hwm\": 500},\n"
                "  \"cloudsuite\": {\n"
                "    \"tenant\": \"ACME_PRD\", \"allow_http\": true, \"page_size\": 50,\n"
                "    \"vendor\": {\"enabled\": false, \"key\": \"VendNum\"},\n"
                "    \"customer\": {\"enabled\": true}\n"
                "  },\n"
                "  \"salesforce.url\": \"https://acme.my.salesforce.com\",\n"
                "  \"salesforce\": {\"client_secret\": \"s3cr3t-Value\", \"batch_size\": 200}\n"
                "}\n");
    char err[256] = "";
    cm_config_t *cfg = cm_config_load (s_path, err, sizeof err);
    if (!cfg)
        fail_msg ("load failed: %s", err);
    assert_string_equal (cm_config_str (cfg, "log.level"), "debug");
    assert_string_equal (cm_config_str (cfg, "data_dir"), "/var/lib/mlc");
    assert_string_equal (cm_config_str (cfg, "zmq.extract_endpoint"), "ipc:///tmp/x/extract");
    assert_string_equal (cm_config_str (cfg, "zmq.load_endpoint"), "tcp://127.0.0.1:5552");
    assert_int_equal (cm_config_int (cfg, "zmq.hwm"), 500);
    assert_string_equal (cm_config_str (cfg, "cloudsuite.tenant"), "ACME_PRD");
    assert_true (cm_config_bool (cfg, "cloudsuite.allow_http"));
    assert_int_equal (cm_config_int (cfg, "cloudsuite.page_size"), 50);
    assert_false (cm_config_bool (cfg, "cloudsuite.vendor.enabled"));
    assert_true (cm_config_bool (cfg, "cloudsuite.customer.enabled"));
    assert_string_equal (cm_config_str (cfg, "salesforce.url"), "https://acme.my.salesforce.com");
    assert_string_equal (cm_config_str (cfg, "salesforce.client_secret"), "s3cr3t-Value");
    cm_config_destroy (&cfg);
}

static void
test_env_override (void **state)
{
    write_file ("{\"zmq\": {\"hwm\": 500}, \"cloudsuite\": {\"tenant\": \"FILE_T\"}}");
    setenv ("MLC_ZMQ_HWM", "750", 1);
    setenv ("MLC_CLOUDSUITE_TENANT", "ENV_T", 1);
    setenv ("MLC_SALESFORCE_ALLOW_HTTP", "yes", 1);
    setenv ("MLC_CLOUDSUITE_VENDOR_ENABLED", "0", 1);
    setenv ("MLC_CLOUDSUITE_PO_ENABLED", "TRUE", 1);
    setenv ("MLC_CLOUDSUITE_INVOICE_PROPERTIES", "InvNum,InvSeq", 1);
    /*  Not config keys: ignored, not errors. */
    setenv ("MLC_CONFIG", s_path, 1);
    setenv ("MLC_MASTER_KEY", "abc", 1);
    setenv ("MLC_MASTER_KEY_FILE", "/nonexistent", 1);
    char err[256] = "";
    cm_config_t *cfg = cm_config_load (s_path, err, sizeof err);
    if (!cfg)
        fail_msg ("load failed: %s", err);
    assert_int_equal (cm_config_int (cfg, "zmq.hwm"), 750);
    assert_string_equal (cm_config_str (cfg, "cloudsuite.tenant"), "ENV_T");
    assert_true (cm_config_bool (cfg, "salesforce.allow_http"));
    assert_false (cm_config_bool (cfg, "cloudsuite.vendor.enabled"));
    assert_true (cm_config_bool (cfg, "cloudsuite.po.enabled"));
    assert_string_equal (cm_config_str (cfg, "cloudsuite.invoice.properties"), "InvNum,InvSeq");
    cm_config_destroy (&cfg);
    /*  Bad env values name the variable. */
    setenv ("MLC_ZMQ_HWM", "12abc", 1);
    cfg = cm_config_load (s_path, err, sizeof err);
    assert_null (cfg);
    assert_non_null (strstr (err, "MLC_ZMQ_HWM"));
    assert_non_null (strstr (err, "not an integer"));
    setenv ("MLC_ZMQ_HWM", "0", 1);
    cfg = cm_config_load (s_path, err, sizeof err);
    assert_null (cfg);
    assert_non_null (strstr (err, "out of range"));
    unsetenv ("MLC_ZMQ_HWM");
    setenv ("MLC_SALESFORCE_ALLOW_HTTP", "maybe", 1);
    cfg = cm_config_load (s_path, err, sizeof err);
    assert_null (cfg);
    assert_non_null (strstr (err, "MLC_SALESFORCE_ALLOW_HTTP"));
    assert_non_null (strstr (err, "boolean"));
}

static void
test_unknown_env (void **state)
{
    setenv ("MLC_SALESFORCE_CLIENT_SECRETS", "x", 1);
    char err[256] = "";
    cm_config_t *cfg = cm_config_load (NULL, err, sizeof err);
    assert_null (cfg);
    assert_non_null (strstr (err, "MLC_SALESFORCE_CLIENT_SECRETS"));
    assert_non_null (strstr (err, "unknown"));
}

static void
expect_file_error (const char *text, const char *needle1, const char *needle2)
{
    write_file (text);
    char err[256] = "";
    cm_config_t *cfg = cm_config_load (s_path, err, sizeof err);
    if (cfg) {
        cm_config_destroy (&cfg);
        fail_msg ("loaded: %s", text);
    }
    if (!strstr (err, needle1) || (needle2 && !strstr (err, needle2)))
        fail_msg ("error '%s' lacks '%s' / '%s'", err, needle1, needle2 ? needle2 : "");
    /*  Every file error names the file. */
    assert_non_null (strstr (err, s_path));
}

static void
test_file_errors (void **state)
{
    expect_file_error ("{\"salesforce\": {\"client_idd\": \"x\"}}", "unknown key",
                       "'salesforce.client_idd'");
    expect_file_error ("{\"zmq\": 5}", "unknown key", "'zmq'");
    expect_file_error ("{\"zmq\": {\"hwm\": \"500\"}}", "'zmq.hwm'",
                       "expected integer, got string");
    expect_file_error ("{\"zmq\": {\"hwm\": 1.5}}", "'zmq.hwm'", "expected integer");
    expect_file_error ("{\"zmq\": {\"hwm\": 0}}", "'zmq.hwm'", "out of range");
    expect_file_error ("{\"salesforce\": {\"batch_size\": 201}}", "'salesforce.batch_size'",
                       "out of range 1..200");
    expect_file_error ("{\"cloudsuite\": {\"allow_http\": \"true\"}}", "'cloudsuite.allow_http'",
                       "expected boolean");
    expect_file_error ("{\"data_dir\": 7}", "'data_dir'", "expected string, got number");
    expect_file_error ("{\"log\": {\"level\": {\"x\": 1}}}", "'log.level'",
                       "expected string, got object");
    expect_file_error ("{\"log\": {\"level\": \"verbose\"}}", "log.level", NULL);
    expect_file_error ("{\"data_dir\": \"a\",}", "invalid JSON", NULL);
    expect_file_error ("[1, 2]", "top level", NULL);
    expect_file_error ("{} trailing", "invalid JSON", NULL);
    /*  The wrong-type message for a secret does not echo its value. */
    expect_file_error ("{\"salesforce\": {\"client_secret\": 12345678}}",
                       "'salesforce.client_secret'", "expected string");
    write_file ("{\"salesforce\": {\"client_secret\": 12345678}}");
    char err[256];
    cm_config_t *cfg = cm_config_load (s_path, err, sizeof err);
    assert_null (cfg);
    assert_null (strstr (err, "12345678"));
    /*  A missing file names the path. */
    cfg = cm_config_load ("/nonexistent/mlc.json", err, sizeof err);
    assert_null (cfg);
    assert_non_null (strstr (err, "/nonexistent/mlc.json"));
}

static void
test_require (void **state)
{
    write_file ("{\"salesforce\": {\"url\": \"https://acme.my.salesforce.com\", "
                "\"client_id\": \"\"}}");
    char err[256] = "";
    cm_config_t *cfg = cm_config_load (s_path, err, sizeof err);
    assert_non_null (cfg);
    const char *const ok[] = {"salesforce.url", "salesforce.api_version", NULL};
    assert_int_equal (cm_config_require (cfg, ok, err, sizeof err), 0);
    const char *const missing[] = {"salesforce.url", "salesforce.client_id",
                                   "salesforce.client_secret", NULL};
    assert_int_equal (cm_config_require (cfg, missing, err, sizeof err), -1);
    assert_string_equal (err, "missing required setting salesforce.client_id: set "
                              "MLC_SALESFORCE_CLIENT_ID or salesforce.client_id in the config "
                              "file");
    cm_config_destroy (&cfg);
}

static void
test_is_secret (void **state)
{
    assert_true (cm_config_is_secret ("salesforce.client_secret"));
    assert_true (cm_config_is_secret ("cloudsuite.password"));
    assert_true (cm_config_is_secret ("x.private_key"));
    assert_false (cm_config_is_secret ("salesforce.client_id"));
    assert_false (cm_config_is_secret ("cloudsuite.vendor.key"));
    assert_false (cm_config_is_secret ("salesforce.token_margin_s"));
    assert_false (cm_config_is_secret ("data_dir"));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown (test_file_values, setup, teardown),
        cmocka_unit_test_setup_teardown (test_env_override, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unknown_env, setup, teardown),
        cmocka_unit_test_setup_teardown (test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown (test_require, setup, teardown),
        cmocka_unit_test (test_is_secret),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
