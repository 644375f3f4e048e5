/*  Unit tests for ex_progress with a real RocksDB in a temporary directory: the poll record
    (cumulative counters, the error of a failed poll, the previous full pass's total), read
    back through a read-only open while the writer holds the store; the progress text
    (rate, ETA only with a known total, done); the page-loader wrapper (counts, failures
    passed through, incremental polls not reported). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "../../extractor/cs_ido.h"
#include "../../extractor/ex_progress.h"
#include "../../extractor/ex_state.h"

static char s_dir[256];

static int
s_setup (void **state)
{
    test_tmpdir (s_dir, sizeof s_dir, "test_ex_progress");
    return 0;
}

static int
s_teardown (void **state)
{
    assert_int_equal (test_rmtree (s_dir), 0);
    return 0;
}

static double
s_num (const cJSON *o, const char *name)
{
    const cJSON *i = cJSON_GetObjectItemCaseSensitive (o, name);
    assert_true (cJSON_IsNumber (i));
    return i->valuedouble;
}

static void
test_poll_record (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "ACME_PRD", err, sizeof err);
    assert_non_null (st);
    cJSON *rec = NULL;
    assert_int_equal (ex_progress_load (st, "vendor", &rec, err, sizeof err), 0);
    assert_null (rec);
    assert_int_equal (ex_progress_expected (st, "vendor"), 0);

    /* a full pass of 40, then an incremental poll of 3, then a failure */
    ex_poll_stats_t s = {
        .seen = 40, .changed = 40, .emitted = 40, .pages = 2, .ms = 9, .full = true};
    assert_int_equal (ex_progress_note_poll (st, "vendor", 1000, 0, &s, NULL, err, sizeof err), 0);
    s = (ex_poll_stats_t){.seen = 3, .changed = 1, .emitted = 1, .pages = 1};
    assert_int_equal (ex_progress_note_poll (st, "vendor", 2000, 0, &s, NULL, err, sizeof err), 0);
    s = (ex_poll_stats_t){.seen = 0, .pages = 0};
    assert_int_equal (ex_progress_note_poll (st, "vendor", 3000, -1, &s,
                                             "SLVendors: HTTP 503\n\"busy\"", err, sizeof err),
                      0);

    /* a reader opened read-only while the writer still holds the store */
    ex_state_t *ro = ex_state_open_read_only (s_dir, "ACME_PRD", err, sizeof err);
    assert_non_null (ro);
    assert_int_equal (ex_progress_load (ro, "vendor", &rec, err, sizeof err), 1);
    assert_false (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (rec, "ok")));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive (rec, "error");
    assert_true (cJSON_IsString (e));
    assert_non_null (strstr (e->valuestring, "HTTP 503"));
    assert_null (strchr (e->valuestring, '\n')); /* a single-line excerpt */
    assert_int_equal ((int)s_num (rec, "at"), 3000);
    assert_int_equal ((int)s_num (rec, "last_ok_at"), 2000);
    assert_int_equal ((int)s_num (rec, "polls"), 3);
    assert_int_equal ((int)s_num (rec, "failures"), 1);
    assert_int_equal ((int)s_num (rec, "total_seen"), 43);
    assert_int_equal ((int)s_num (rec, "total_changed"), 41);
    assert_int_equal ((int)s_num (rec, "last_full_seen"), 40);
    assert_string_equal (cJSON_GetObjectItemCaseSensitive (rec, "fix")->valuestring, "");
    cJSON_Delete (rec);
    assert_int_equal (ex_progress_expected (ro, "vendor"), 40);
    assert_int_equal (ex_progress_load (ro, "customer", &rec, err, sizeof err), 0);
    ex_state_destroy (&ro);

    /* read-only open of a tenant that has no state fails with the path */
    assert_null (ex_state_open_read_only (s_dir, "NOPE", err, sizeof err));
    assert_non_null (strstr (err, "NOPE"));
    assert_null (ex_state_open_read_only (s_dir, "../x", err, sizeof err));

    /* a corrupt record is reported by load and replaced by the next poll */
    assert_int_equal (ex_state_set_poll (st, "vendor", "{not json", err, sizeof err), 0);
    assert_int_equal (ex_progress_load (st, "vendor", &rec, err, sizeof err), -1);
    assert_non_null (strstr (err, "corrupt"));
    assert_int_equal (ex_progress_note_poll (st, "vendor", 4000, 0, &s, NULL, err, sizeof err), 0);
    assert_int_equal (ex_progress_load (st, "vendor", &rec, err, sizeof err), 1);
    assert_int_equal ((int)s_num (rec, "polls"), 1);
    cJSON_Delete (rec);
    ex_state_destroy (&st);
}

static void
test_format (void **state)
{
    char out[256];
    ex_progress_format (out, sizeof out, 500, 400, 1000, 0, false);
    assert_string_equal (out, "500 read, 400 changed, 500/s, ETA unknown (no previous full pass)");
    ex_progress_format (out, sizeof out, 500, 0, 1000, 4100, false);
    assert_string_equal (out, "500 read, 0 changed, 500/s, of ~4100, ETA 0:00:07");
    ex_progress_format (out, sizeof out, 100, 0, 1000, 100 + 100 * 3661, false);
    assert_non_null (strstr (out, "ETA 1:01:01"));
    ex_progress_format (out, sizeof out, 600, 0, 1000, 500, false);
    assert_non_null (strstr (out, "more than the previous pass's 500"));
    ex_progress_format (out, sizeof out, 600, 3, 61000, 500, true);
    assert_non_null (strstr (out, "done in 0:01:01"));
    ex_progress_format (out, sizeof out, 0, 0, 0, 500, false);
    assert_non_null (strstr (out, "0/s"));

    /* the fix for known kinds of poll errors */
    assert_non_null (strstr (ex_progress_hint ("token request to http://h/t failed: Failed to "
                                               "connect to h port 1: Couldn't connect to server"),
                             "unreachable"));
    assert_non_null (strstr (ex_progress_hint ("tenant T: the token endpoint refused the service "
                                               "account credentials (check ci/cs)"),
                             "ionapi_file"));
    assert_null (ex_progress_hint ("IDO request failed (Success=false): no such IDO"));
    assert_null (ex_progress_hint (NULL));
}

#define PAGE(more)                                                                                 \
    "{\"Items\":[{\"VendNum\":\"V1\",\"RecordDate\":\"2026-02-01 08:00:00.000\"},"                 \
    "{\"VendNum\":\"V2\",\"RecordDate\":\"2026-02-01 08:00:01.000\"}],\"Bookmark\":\"b\","         \
    "\"MoreRowsExist\":" more ",\"Success\":true,\"Message\":null}"

typedef struct {
    int calls; /* loads so far */
    int fail;  /* fail every load */
} fake_t;

static int
s_load (void *arg, const cs_ido_query_t *q, cs_ido_page_t **page, char *err, size_t err_cap)
{
    fake_t *f = arg;
    f->calls++;
    if (f->fail) {
        snprintf (err, err_cap, "HTTP 503 from the fake");
        return -1;
    }
    const char *body = f->calls < 3 ? PAGE ("true") : PAGE ("false");
    *page = cs_ido_parse (body, strlen (body), err, err_cap);
    return *page ? 0 : -1;
}

static void
test_load_wrapper (void **state)
{
    fake_t f = {0};
    char err[256];
    ex_progress_t *p = ex_progress_new ("ACME_PRD", "vendor", s_load, &f, false, 0);
    assert_non_null (p);
    cs_ido_query_t q = {.ido = "SLVendors", .properties = "VendNum", .recordcap = 2};
    ex_poll_stats_t stats = {.full = true};
    ex_progress_begin (p, &stats, 6);
    for (int i = 0; i < 3; i++) {
        cs_ido_page_t *page = NULL;
        assert_int_equal (ex_progress_load_fn (p, &q, &page, err, sizeof err), 0);
        assert_int_equal (cs_ido_page_size (page), 2);
        cs_ido_page_destroy (&page);
    }
    ex_progress_end (p);
    assert_int_equal (f.calls, 3);

    /* an incremental poll passes through too */
    stats = (ex_poll_stats_t){.full = false};
    ex_progress_begin (p, &stats, 6);
    cs_ido_page_t *page = NULL;
    assert_int_equal (ex_progress_load_fn (p, &q, &page, err, sizeof err), 0);
    cs_ido_page_destroy (&page);
    ex_progress_end (p);

    /* a failing loader's error is passed on unchanged */
    f.fail = 1;
    stats = (ex_poll_stats_t){.full = true};
    ex_progress_begin (p, &stats, 0);
    assert_int_equal (ex_progress_load_fn (p, &q, &page, err, sizeof err), -1);
    assert_string_equal (err, "HTTP 503 from the fake");
    ex_progress_end (p);
    ex_progress_destroy (&p);
    assert_null (p);
    ex_progress_destroy (NULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_poll_record, s_setup, s_teardown),
        cmocka_unit_test (test_format),
        cmocka_unit_test (test_load_wrapper),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
