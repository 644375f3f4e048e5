/*  sf_org (token by client credentials + sObject Collections upsert) against a real
    salesforce-sim child process on a free loopback port. The simulator is found next to
    this test's build: <build>/tests/test_sf_sim -> <build>/bin/salesforce-sim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../loader/sf_bulk.h"
#include "../../loader/sf_collections.h"
#include "../../loader/sf_org.h"
#include "cm_http.h"
#include "cm_log.h"

typedef struct {
    pid_t pid;    /* the simulator */
    int port;     /* its port */
    char url[64]; /* http://127.0.0.1:PORT */
} sim_t;

static int
s_sim_start (void **state)
{
    char exe[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    assert_true (len > 0);
    exe[len] = '\0';
    char path[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/../bin/salesforce-sim", dirname (exe));
    assert_int_equal (access (path, X_OK), 0);

    int fds[2];
    assert_int_equal (pipe (fds), 0);
    sim_t *sim = calloc (1, sizeof *sim);
    assert_non_null (sim);
    sim->pid = fork ();
    assert_true (sim->pid >= 0);
    if (sim->pid == 0) {
        dup2 (fds[1], STDOUT_FILENO);
        close (fds[0]);
        close (fds[1]);
        execl (path, "salesforce-sim", "--listen", "127.0.0.1:0", "--client-id", "3MVG9test",
               "--client-secret", "s3cr3t", (char *)NULL);
        _exit (127);
    }
    close (fds[1]);
    FILE *out = fdopen (fds[0], "r");
    assert_non_null (out);
    char line[256];
    while (fgets (line, sizeof line, out)) {
        const char *p = strstr (line, "listening on http://127.0.0.1:");
        if (p) {
            sim->port = atoi (p + strlen ("listening on http://127.0.0.1:"));
            break;
        }
    }
    fclose (out); //  the simulator may still write: SIGPIPE is ignored there or harmless
    assert_true (sim->port > 0);
    snprintf (sim->url, sizeof sim->url, "http://127.0.0.1:%d", sim->port);
    *state = sim;
    return 0;
}

static int
s_sim_stop (void **state)
{
    sim_t *sim = *state;
    kill (sim->pid, SIGTERM);
    int status = 0;
    waitpid (sim->pid, &status, 0);
    free (sim);
    return 0;
}

static sf_org_t *
s_org (const sim_t *sim, const char *secret)
{
    sf_org_config_t c = {.name = "sim",
                         .url = sim->url,
                         .client_id = "3MVG9test",
                         .client_secret = secret,
                         .api_version = "62.0",
                         .allow_http = true,
                         .session_ttl_s = 7200,
                         .token_margin_s = 300,
                         .timeout_ms = 10000,
                         .max_body = 1 << 20};
    char err[256];
    sf_org_t *org = sf_org_new (&c, err, sizeof err);
    assert_non_null (org);
    return org;
}

static sf_call_result_t
s_upsert (sf_org_t *org, const char *const *payloads, size_t n, sf_record_result_t *results,
          sf_error_t *err)
{
    char *body = NULL;
    size_t len = 0;
    char why[128];
    assert_int_equal (sf_collections_build ("Account", payloads, n, &body, &len, why, sizeof why),
                      0);
    char path[128];
    assert_int_equal (sf_collections_path ("Account", "CloudSuite_Key__c", path, sizeof path), 0);
    cm_http_response_t resp;
    sf_call_result_t r = sf_org_call (org, "PATCH", path, body, len, &resp, err);
    if (r == SF_CALL_OK)
        r = sf_collections_parse (resp.status, resp.body, resp.body_len, n, results, err);
    cm_http_response_clear (&resp);
    free (body);
    return r;
}

//  records.Account from the simulator's admin endpoint.
static int
s_sim_accounts (const sim_t *sim)
{
    cm_http_t *http = cm_http_new (1 << 20, 5000);
    assert_non_null (http);
    char url[128];
    snprintf (url, sizeof url, "%s/__sim/stats", sim->url);
    cm_http_request_t req = {.method = "GET", .url = url};
    cm_http_response_t resp;
    assert_int_equal (cm_http_perform (http, &req, &resp), 0);
    assert_int_equal (resp.status, 200);
    cJSON *json = cJSON_ParseWithLength (resp.body, resp.body_len);
    assert_non_null (json);
    cJSON *n = cJSON_GetObjectItem (cJSON_GetObjectItem (json, "records"), "Account");
    int count = cJSON_IsNumber (n) ? n->valueint : -1;
    cJSON_Delete (json);
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
    return count;
}

static void
test_upsert_against_sim (void **state)
{
    sim_t *sim = *state;
    sf_org_t *org = s_org (sim, "s3cr3t");
    const char *payloads[] = {
        ("{\"Name\":\"Northwind Metals\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000123\","
         "\"Phone\":\"+1 312 555 0100\"}"),
        "{\"Name\":\"Contoso Steel\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000124\"}",
        "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000125\"}", //  no Name
    };
    sf_record_result_t results[3];
    sf_error_t err;
    assert_int_equal (s_upsert (org, payloads, 3, results, &err), SF_CALL_OK);
    assert_true (results[0].success);
    assert_true (results[0].created);
    assert_true (results[1].success);
    assert_false (results[2].success);
    assert_string_equal (results[2].code, "REQUIRED_FIELD_MISSING");
    assert_int_equal (results[2].cls, CM_ERR_PERMANENT);
    char first_id[32];
    snprintf (first_id, sizeof first_id, "%s", results[0].id);

    //  The same records again: updated, same Ids, one token for both calls
    assert_int_equal (s_upsert (org, payloads, 2, results, &err), SF_CALL_OK);
    assert_true (results[0].success);
    assert_false (results[0].created);
    assert_string_equal (results[0].id, first_id);
    assert_int_equal (sf_org_token_requests (org), 1);
    assert_int_equal (sf_org_api_calls (org), 2);
    long used, max;
    sf_org_api_usage (org, &used, &max);
    assert_true (used >= 2 && max > used);
    assert_int_equal (s_sim_accounts (sim), 2);
    sf_org_destroy (&org);
}

static void
test_wrong_secret_against_sim (void **state)
{
    sim_t *sim = *state;
    sf_org_t *org = s_org (sim, "wrong");
    const char *payloads[] = {"{\"Name\":\"N\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V1\"}"};
    sf_record_result_t results[1];
    sf_error_t err;
    assert_int_equal (s_upsert (org, payloads, 1, results, &err), SF_CALL_STOPPED);
    assert_string_equal (err.code, "AUTH_REJECTED");
    assert_null (strstr (err.message, "wrong"));
    assert_int_equal (s_upsert (org, payloads, 1, results, &err), SF_CALL_STOPPED);
    assert_int_equal (sf_org_token_requests (org), 1);
    assert_int_equal (sf_org_api_calls (org), 0);
    sf_org_destroy (&org);
}

//  A Bulk API 2.0 upsert job against the simulator: records that land (created, then
//  updated), one Salesforce refuses, one with a missing parent (retryable), one CSV cannot
//  carry (back for Collections); a handful of calls.
static void
test_bulk_against_sim (void **state)
{
    sim_t *sim = *state;
    sf_org_t *org = s_org (sim, "s3cr3t");
    cm_http_t *http = cm_http_new (1 << 20, 10000);
    assert_non_null (http);
    const char *accounts[] = {
        ("{\"CloudSuite_Key__c\":\"T:vendor:1\",\"Name\":\"Acme, \\\"Bulk\\\" Ltd\","
         "\"BillingStreet\":\"1 Main St\\nFloor 2\"}"),
        "{\"CloudSuite_Key__c\":\"T:vendor:2\",\"Name\":\"Beta\",\"Phone\":null}",
        "{\"CloudSuite_Key__c\":\"T:vendor:3\"}",                             //  no Name: refused
        "{\"CloudSuite_Key__c\":\"T:vendor:4\",\"Name\":\"D\",\"Tags\":[1]}", //  not CSV
    };
    sf_bulk_options_t options = {.poll_first_ms = 50, .poll_max_ms = 200, .timeout_ms = 20000};
    sf_record_result_t results[4];
    sf_bulk_outcome_t outcome[4];
    sf_error_t err;
    sf_bulk_info_t info;
    assert_int_equal (sf_bulk_upsert (org, http, "Account", "CloudSuite_Key__c", accounts, 4,
                                      &options, results, outcome, &err, &info),
                      SF_CALL_OK);
    assert_int_equal (outcome[0], SF_BULK_RECORD);
    assert_true (results[0].success && results[0].created);
    assert_int_equal (strlen (results[0].id), 18);
    assert_true (results[1].success);
    assert_int_equal (outcome[2], SF_BULK_RECORD);
    assert_false (results[2].success);
    assert_string_equal (results[2].code, "REQUIRED_FIELD_MISSING");
    assert_string_equal (results[2].fields, "Name");
    assert_int_equal (results[2].cls, CM_ERR_PERMANENT);
    assert_int_equal (outcome[3], SF_BULK_REQUEUE);
    assert_string_equal (info.state, "JobComplete");
    assert_int_equal (info.uploaded, 3);
    assert_int_equal (info.loaded, 2);
    assert_int_equal (info.failed, 1);
    //  create, upload, close, polls, successfulResults, failedResults
    assert_int_equal (info.calls, 5 + info.polls);
    assert_true (info.calls <= 8);
    assert_int_equal (s_sim_accounts (sim), 2);
    char first_id[32];
    snprintf (first_id, sizeof first_id, "%s", results[0].id);

    //  Again: updated, same Id; and a child whose parent is not there yet
    assert_int_equal (sf_bulk_upsert (org, http, "Account", "CloudSuite_Key__c", accounts, 1,
                                      &options, results, outcome, &err, &info),
                      SF_CALL_OK);
    assert_true (results[0].success && !results[0].created);
    assert_string_equal (results[0].id, first_id);
    const char *contacts[] = {
        ("{\"CloudSuite_Key__c\":\"T:contact:1\",\"LastName\":\"Ng\","
         "\"Account\":{\"CloudSuite_Key__c\":\"T:vendor:1\"}}"),
        ("{\"CloudSuite_Key__c\":\"T:contact:2\",\"LastName\":\"Oh\","
         "\"Account\":{\"CloudSuite_Key__c\":\"T:vendor:99\"}}"),
    };
    assert_int_equal (sf_bulk_upsert (org, http, "Contact", "CloudSuite_Key__c", contacts, 2,
                                      &options, results, outcome, &err, &info),
                      SF_CALL_OK);
    assert_true (results[0].success);
    assert_false (results[1].success);
    assert_string_equal (results[1].code, "INVALID_FIELD");
    assert_non_null (strstr (results[1].message, "Foreign key external ID"));
    assert_int_equal (results[1].cls, CM_ERR_RETRYABLE);

    //  A job Salesforce refuses as a whole (no such object): every record back to Collections
    assert_int_equal (sf_bulk_upsert (org, http, "Nope__c", "CloudSuite_Key__c", contacts, 2,
                                      &options, results, outcome, &err, &info),
                      SF_CALL_OK);
    assert_int_equal (outcome[0], SF_BULK_REQUEUE);
    assert_int_equal (outcome[1], SF_BULK_REQUEUE);
    cm_http_destroy (&http);
    sf_org_destroy (&org);
}

int
main (void)
{
    cm_log_init ("test", CM_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_upsert_against_sim, s_sim_start, s_sim_stop),
        cmocka_unit_test_setup_teardown (test_wrong_secret_against_sim, s_sim_start, s_sim_stop),
        cmocka_unit_test_setup_teardown (test_bulk_against_sim, s_sim_start, s_sim_stop),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
