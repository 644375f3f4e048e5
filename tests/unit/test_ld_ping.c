/*  Unit tests for ld_ping's pure parts: what the shipped mapping files need of each object
    (fields, external IDs, parent relationships, parents' external IDs), bad mappings, and
    the check of a describe answer naming every missing or unwritable field. The whole ping
    runs against salesforce-sim in tests/integration/test_loader_orgs.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../loader/ld_ping.h"
#include "cm_log.h"

static const ld_need_t *
s_need (const ld_needs_t *needs, const char *sobject)
{
    for (size_t i = 0; i < ld_needs_count (needs); i++)
        if (strcmp (ld_needs_at (needs, i)->sobject, sobject) == 0)
            return ld_needs_at (needs, i);
    return NULL;
}

static bool
s_has (char **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (v[i], name) == 0)
            return true;
    return false;
}

static void
test_shipped_mappings (void **state)
{
    char err[256];
    //  Unit tests run from the repository root (tests/run.sh)
    ld_needs_t *needs = ld_needs_load ("config/mapping.json", err, sizeof err);
    if (!needs)
        fail_msg ("%s", err);
    assert_int_equal (ld_needs_count (needs), 4);
    const ld_need_t *account = s_need (needs, "Account");
    assert_non_null (account);
    assert_string_equal (account->ext_field, "CloudSuite_Key__c");
    //  Fields of both Account routes (vendor and customer company), once each
    assert_true (s_has (account->fields, account->field_count, "Name"));
    assert_true (s_has (account->fields, account->field_count, "CloudSuite_Vendor_Number__c"));
    assert_true (s_has (account->fields, account->field_count, "AccountNumber"));
    assert_false (s_has (account->fields, account->field_count, "CloudSuite_Key__c"));
    size_t names = 0;
    for (size_t i = 0; i < account->field_count; i++)
        names += strcmp (account->fields[i], "Name") == 0;
    assert_int_equal (names, 1);
    const ld_need_t *invoice = s_need (needs, "CloudSuite_Invoice__c");
    assert_non_null (invoice);
    assert_int_equal (invoice->rel_count, 1);
    assert_string_equal (invoice->rels[0], "Account__r");
    assert_string_equal (invoice->rel_parents[0], "Account");
    assert_string_equal (invoice->rel_keys[0], "CloudSuite_Key__c");
    assert_false (s_has (invoice->fields, invoice->field_count, "Account__r"));
    assert_non_null (s_need (needs, "Contact"));
    ld_needs_destroy (&needs);
    assert_null (needs);

    needs = ld_needs_load ("config/mapping-tasks.json", err, sizeof err);
    if (!needs)
        fail_msg ("%s", err);
    const ld_need_t *task = s_need (needs, "Task");
    assert_non_null (task);
    assert_int_equal (task->rel_count, 1);
    assert_string_equal (task->rels[0], "What");
    ld_needs_destroy (&needs);
}

static void
test_parent_only_object (void **state)
{
    //  A parent object that is no target still needs its external ID
    const char *text =
        "{\"entities\": {\"inv\": {\"sobject\": \"Inv__c\", \"external_id_field\": \"Key__c\","
        " \"fields\": [{\"to\": \"Name\", \"from\": \"X\"},"
        "  {\"to\": \"Customer__r\", \"parent\": {\"sobject\": \"Customer__c\","
        "   \"external_id_field\": \"CustKey__c\", \"key_template\": \"{X}\"}}]},"
        " \"skipped\": {\"routes\": [{\"skip\": true}]}}}";
    char err[256];
    ld_needs_t *needs = ld_needs_parse (text, strlen (text), "m.json", err, sizeof err);
    if (!needs)
        fail_msg ("%s", err);
    assert_int_equal (ld_needs_count (needs), 2);
    const ld_need_t *customer = s_need (needs, "Customer__c");
    assert_non_null (customer);
    assert_string_equal (customer->ext_field, "CustKey__c");
    assert_int_equal (customer->field_count, 0);
    ld_needs_destroy (&needs);
}

static void
test_bad_mappings (void **state)
{
    const char *bad[] = {
        "",
        "[]",
        "{\"entities\": []}",
        "{\"entities\": {\"v\": {\"external_id_field\": \"K\"}}}",
        "{\"entities\": {\"v\": {\"sobject\": \"A;drop\", \"external_id_field\": \"K\"}}}",
        "{\"entities\": {\"v\": {\"sobject\": \"A\"}}}",
        "{\"entities\": {\"v\": {\"sobject\": \"A\", \"external_id_field\": \"K\", \"fields\": "
        "3}}}",
        "{\"entities\": {\"v\": {\"sobject\": \"A\", \"external_id_field\": \"K\", "
        "\"fields\": [{\"from\": \"x\"}]}}}",
        "{\"entities\": {\"v\": {\"sobject\": \"A\", \"external_id_field\": \"K\", "
        "\"fields\": [{\"to\": \"R__r\", \"parent\": {\"sobject\": \"P\"}}]}}}",
        "{\"entities\": {\"v\": {\"routes\": {}}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        ld_needs_t *needs = ld_needs_parse (bad[i], strlen (bad[i]), "m.json", err, sizeof err);
        if (needs)
            fail_msg ("case %zu parsed", i);
        assert_non_null (strstr (err, "m.json"));
    }
    char err[256];
    assert_null (ld_needs_load ("/nonexistent/mapping.json", err, sizeof err));
    assert_non_null (strstr (err, "/nonexistent/mapping.json"));
}

typedef struct {
    char lines[8][256]; /* problems reported */
    int count;          /* their number */
} problems_t;

static void
s_collect (void *arg, const char *problem)
{
    problems_t *p = arg;
    if (p->count < 8)
        snprintf (p->lines[p->count], sizeof p->lines[0], "%s", problem);
    p->count++;
}

static void
test_describe_check (void **state)
{
    char *fields[] = {"Name", "Phone", "Bogus__c", "Formula__c"};
    char *rels[] = {"Account__r", "Owner__r", "Other__r"};
    char *parents[] = {"Account", "User", "Account"};
    char *keys[] = {"CloudSuite_Key__c", "K", "K"};
    ld_need_t need = {.sobject = "Inv__c",
                      .ext_field = "CloudSuite_Key__c",
                      .fields = fields,
                      .field_count = 4,
                      .rels = rels,
                      .rel_parents = parents,
                      .rel_keys = keys,
                      .rel_count = 3};
    const char *describe =
        "{\"name\":\"Inv__c\",\"fields\":["
        "{\"name\":\"Id\",\"createable\":false,\"updateable\":false},"
        "{\"name\":\"name\",\"createable\":true,\"updateable\":true},"
        "{\"name\":\"Phone\",\"createable\":true,\"updateable\":true},"
        "{\"name\":\"Formula__c\",\"createable\":false,\"updateable\":false},"
        "{\"name\":\"CloudSuite_Key__c\",\"externalId\":true,\"createable\":true},"
        "{\"name\":\"Account__c\",\"relationshipName\":\"Account__r\",\"referenceTo\":[\"Account\"]"
        ","
        "\"createable\":true},"
        "{\"name\":\"Other__c\",\"relationshipName\":\"Other__r\",\"referenceTo\":[\"Contact\"],"
        "\"createable\":true}]}";
    problems_t p = {0};
    assert_int_equal (ld_ping_check (&need, describe, strlen (describe), s_collect, &p), 4);
    assert_string_equal (p.lines[0], "Inv__c: field Bogus__c is missing");
    assert_string_equal (p.lines[1], "Inv__c: field Formula__c is not writable");
    assert_string_equal (p.lines[2], "Inv__c: relationship Owner__r (a lookup to User) is missing");
    assert_string_equal (p.lines[3], "Inv__c: relationship Other__r does not point to Account");

    //  The external ID: missing, or a plain field
    need.field_count = need.rel_count = 0;
    const char *plain = "{\"fields\":[{\"name\":\"CloudSuite_Key__c\",\"createable\":true}]}";
    memset (&p, 0, sizeof p);
    assert_int_equal (ld_ping_check (&need, plain, strlen (plain), s_collect, &p), 1);
    assert_string_equal (p.lines[0], "Inv__c: field CloudSuite_Key__c is not an External ID field");
    const char *none = "{\"fields\":[]}";
    memset (&p, 0, sizeof p);
    assert_int_equal (ld_ping_check (&need, none, strlen (none), s_collect, &p), 1);
    assert_string_equal (p.lines[0], "Inv__c: external ID field CloudSuite_Key__c is missing");
    //  Not a describe at all
    const char *garbage[] = {"", "[]", "{\"fields\":{}}", "{\"fields\":[", "null"};
    for (size_t i = 0; i < 5; i++) {
        memset (&p, 0, sizeof p);
        assert_int_equal (ld_ping_check (&need, garbage[i], strlen (garbage[i]), s_collect, &p), 1);
        assert_non_null (strstr (p.lines[0], "not an sObject describe"));
    }
}

int
main (void)
{
    cm_log_init ("test", CM_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_shipped_mappings),
        cmocka_unit_test (test_parent_only_object),
        cmocka_unit_test (test_bad_mappings),
        cmocka_unit_test (test_describe_check),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
