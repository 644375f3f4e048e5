/*  Unit tests for ld_batcher: grouping, flushing by size and by age, the retry backoff
    schedule, max attempts, per-record version order, drain and the capacity bound. Time is
    passed in, so nothing here sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../loader/ld_batcher.h"

static ld_item_t *
s_item (const char *tenant, const char *sobject, const char *ext_id, int64_t now)
{
    cm_envelope_t *env = cm_envelope_new (tenant, "vendor", ext_id);
    assert_non_null (env);
    char payload[200];
    snprintf (payload, sizeof payload, "{\"Name\":\"n\",\"CloudSuite_Key__c\":\"%s\"}", ext_id);
    assert_int_equal (cm_envelope_set_target (env, sobject, "CloudSuite_Key__c", ext_id, payload),
                      0);
    char *bytes = strdup (ext_id);
    assert_non_null (bytes);
    ld_item_t *item = ld_item_new (&env, &bytes, strlen (ext_id), now);
    assert_non_null (item);
    assert_null (env);
    assert_null (bytes);
    return item;
}

static void
s_add (ld_batcher_t *b, const char *tenant, const char *sobject, const char *ext_id, int64_t now)
{
    ld_item_t *item = s_item (tenant, sobject, ext_id, now);
    assert_int_equal (ld_batcher_add (b, &item, now), 0);
    assert_null (item);
}

static void
s_done_all (ld_batcher_t *b, ld_item_t **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ld_batcher_done (b, &items[i]);
        assert_null (items[i]);
    }
}

static ld_batcher_config_t
s_config (size_t batch_size, int64_t flush_ms)
{
    ld_batcher_config_t c = {.batch_size = batch_size,
                             .capacity = 1000,
                             .flush_ms = flush_ms,
                             .max_attempts = 10,
                             .backoff_base_ms = 100,
                             .backoff_max_ms = 1000};
    return c;
}

static void
test_groups_by_tenant_and_sobject (void **state)
{
    ld_batcher_config_t c = s_config (200, 50);
    ld_batcher_t *b = ld_batcher_new (&c);
    assert_non_null (b);
    s_add (b, "ACME_PRD", "Account", "ACME_PRD:vendor:V1", 0);
    s_add (b, "ACME_PRD", "Contact", "ACME_PRD:contact:C1", 0);
    s_add (b, "ACME_PRD", "Account", "ACME_PRD:vendor:V2", 0);
    s_add (b, "GLOBEX_TST", "Account", "GLOBEX_TST:vendor:V1", 0);
    s_add (b, "ACME_PRD", "Account", "ACME_PRD:vendor:V3", 0);
    assert_int_equal (ld_batcher_count (b), 5);

    ld_item_t *items[200];
    int seen_acme_account = 0, seen_contact = 0, seen_globex = 0;
    size_t n;
    while ((n = ld_batcher_next (b, 100, false, items, 200)) > 0) {
        //  Every batch is one (tenant, sObject, external-ID field), in arrival order
        for (size_t i = 1; i < n; i++) {
            assert_string_equal (items[i]->env->tenant, items[0]->env->tenant);
            assert_string_equal (items[i]->env->sobject, items[0]->env->sobject);
        }
        if (strcmp (items[0]->env->sobject, "Contact") == 0) {
            assert_int_equal (n, 1);
            seen_contact++;
        } else if (strcmp (items[0]->env->tenant, "GLOBEX_TST") == 0) {
            assert_int_equal (n, 1);
            seen_globex++;
        } else {
            assert_int_equal (n, 3);
            assert_string_equal (items[0]->env->ext_id, "ACME_PRD:vendor:V1");
            assert_string_equal (items[1]->env->ext_id, "ACME_PRD:vendor:V2");
            assert_string_equal (items[2]->env->ext_id, "ACME_PRD:vendor:V3");
            seen_acme_account++;
        }
        s_done_all (b, items, n);
    }
    assert_int_equal (seen_acme_account, 1);
    assert_int_equal (seen_contact, 1);
    assert_int_equal (seen_globex, 1);
    assert_int_equal (ld_batcher_count (b), 0);
    assert_int_equal (ld_batcher_next_due_ms (b, 100), -1);
    ld_batcher_destroy (&b);
    assert_null (b);
}

static void
test_flush_by_size (void **state)
{
    ld_batcher_config_t c = s_config (3, 1000);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    s_add (b, "T", "Account", "T:vendor:2", 0);
    assert_int_equal (ld_batcher_next (b, 10, false, items, 200), 0);
    assert_int_equal (ld_batcher_next_due_ms (b, 10), 990);
    s_add (b, "T", "Account", "T:vendor:3", 10);
    s_add (b, "T", "Account", "T:vendor:4", 10);
    assert_int_equal (ld_batcher_next_due_ms (b, 10), 0);
    //  A full batch goes at once; the fourth waits for company or for its age
    assert_int_equal (ld_batcher_next (b, 10, false, items, 200), 3);
    assert_string_equal (items[0]->env->ext_id, "T:vendor:1");
    assert_string_equal (items[2]->env->ext_id, "T:vendor:3");
    s_done_all (b, items, 3);
    assert_int_equal (ld_batcher_next (b, 10, false, items, 200), 0);
    assert_int_equal (ld_batcher_count (b), 1);
    ld_batcher_destroy (&b); //  frees the record still held
}

static void
test_flush_by_age (void **state)
{
    ld_batcher_config_t c = s_config (200, 200);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 1000);
    s_add (b, "T", "Account", "T:vendor:2", 1150);
    assert_int_equal (ld_batcher_next_due_ms (b, 1100), 100);
    assert_int_equal (ld_batcher_next (b, 1199, false, items, 200), 0);
    //  The oldest decides: both go when the first has waited flush_ms
    assert_int_equal (ld_batcher_next (b, 1200, false, items, 200), 2);
    s_done_all (b, items, 2);
    ld_batcher_destroy (&b);
}

static void
test_backoff_schedule (void **state)
{
    //  Equal jitter: [cap/2, cap] with cap = min(max, base * 2^(attempt-1))
    static const struct {
        int attempt;
        long lo, hi;
    } schedule[] = {{1, 50, 100},   {2, 100, 200},  {3, 200, 400},   {4, 400, 800},
                    {5, 500, 1000}, {6, 500, 1000}, {60, 500, 1000}, {100000, 500, 1000}};
    for (size_t i = 0; i < sizeof schedule / sizeof schedule[0]; i++) {
        assert_int_equal (ld_backoff_ms (100, 1000, schedule[i].attempt, 0), schedule[i].lo);
        assert_int_equal (ld_backoff_ms (100, 1000, schedule[i].attempt, UINT32_MAX),
                          schedule[i].lo +
                              (long)(UINT32_MAX % (uint32_t)(schedule[i].hi - schedule[i].lo + 1)));
        for (uint32_t r = 0; r < 2000; r += 7) {
            long d = ld_backoff_ms (100, 1000, schedule[i].attempt, r * 2654435761u);
            assert_in_range (d, schedule[i].lo, schedule[i].hi);
        }
    }
    //  The batcher applies it: a retried record is not offered before its time
    ld_batcher_config_t c = s_config (200, 0);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    int64_t now = 0;
    for (int attempt = 1; attempt <= 6; attempt++) {
        assert_int_equal (ld_batcher_next (b, now, false, items, 200), 1);
        assert_int_equal (ld_batcher_retry (b, &items[0], now, 0, true), LD_RETRY_SCHEDULED);
        assert_null (items[0]);
        int64_t due = ld_batcher_next_due_ms (b, now);
        long cap = attempt >= 5 ? 1000 : 100L << (attempt - 1);
        assert_in_range (due, cap / 2, cap);
        assert_int_equal (ld_batcher_next (b, now + due - 1, false, items, 200), 0);
        now += due;
    }
    assert_int_equal (ld_batcher_next (b, now, false, items, 200), 1);
    assert_int_equal (items[0]->tries, 6);
    s_done_all (b, items, 1);
    ld_batcher_destroy (&b);
}

static void
test_max_attempts_dead_letter (void **state)
{
    ld_batcher_config_t c = s_config (200, 0);
    c.max_attempts = 3;
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    int64_t now = 0;
    for (int i = 1; i <= 2; i++) {
        assert_int_equal (ld_batcher_next (b, now, false, items, 200), 1);
        assert_int_equal (ld_batcher_retry (b, &items[0], now, 0, true), LD_RETRY_SCHEDULED);
        now += 10000;
    }
    assert_int_equal (ld_batcher_next (b, now, false, items, 200), 1);
    //  The third counted failure is the last: the caller keeps it for the dead letter
    assert_int_equal (ld_batcher_retry (b, &items[0], now, 0, true), LD_RETRY_EXHAUSTED);
    assert_non_null (items[0]);
    assert_int_equal (items[0]->tries, 3);
    assert_string_equal (items[0]->bytes, "T:vendor:1"); //  original bytes kept
    ld_batcher_done (b, &items[0]);
    assert_int_equal (ld_batcher_count (b), 0);
    ld_batcher_destroy (&b);
}

static void
test_uncounted_wait (void **state)
{
    //  A paused org: the record waits at least min_delay and keeps its attempts
    ld_batcher_config_t c = s_config (200, 0);
    c.max_attempts = 1;
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    for (int i = 0; i < 5; i++) {
        int64_t now = i * 60000;
        assert_int_equal (ld_batcher_next (b, now, false, items, 200), 1);
        assert_int_equal (ld_batcher_retry (b, &items[0], now, 60000, false), LD_RETRY_SCHEDULED);
        assert_int_equal (ld_batcher_next_due_ms (b, now), 60000);
    }
    assert_int_equal (ld_batcher_next (b, 300000, false, items, 200), 1);
    assert_int_equal (items[0]->tries, 0);
    //  Retry-After longer than the backoff wins
    assert_int_equal (ld_batcher_retry (b, &items[0], 300000, 0, true), LD_RETRY_EXHAUSTED);
    ld_batcher_done (b, &items[0]);
    ld_batcher_destroy (&b);
}

static void
test_versions_in_order (void **state)
{
    ld_batcher_config_t c = s_config (200, 0);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200], *more[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    s_add (b, "T", "Account", "T:vendor:2", 0);
    s_add (b, "T", "Account", "T:vendor:1", 1); //  a newer version of the first
    assert_int_equal (ld_batcher_count (b), 3);
    //  One call never carries two versions of a record
    assert_int_equal (ld_batcher_next (b, 5, false, items, 200), 2);
    assert_int_equal (items[0]->received_ms, 0);
    assert_string_equal (items[0]->env->ext_id, "T:vendor:1");
    assert_string_equal (items[1]->env->ext_id, "T:vendor:2");
    assert_int_equal (ld_batcher_next (b, 5, false, more, 200), 0);
    //  The old version fails and is retried: the newer one still waits behind it
    assert_int_equal (ld_batcher_retry (b, &items[0], 5, 0, true), LD_RETRY_SCHEDULED);
    ld_batcher_done (b, &items[1]);
    assert_int_equal (ld_batcher_next (b, 5000, false, items, 200), 1);
    assert_int_equal (items[0]->received_ms, 0);
    assert_int_equal (ld_batcher_next (b, 5000, false, more, 200), 0);
    //  Once the old version lands, the newer one is sent
    ld_batcher_done (b, &items[0]);
    assert_int_equal (ld_batcher_count (b), 1);
    assert_int_equal (ld_batcher_next (b, 5000, false, items, 200), 1);
    assert_int_equal (items[0]->received_ms, 1);
    assert_string_equal (items[0]->env->ext_id, "T:vendor:1");
    ld_batcher_done (b, &items[0]);
    assert_int_equal (ld_batcher_count (b), 0);

    //  The same external ID in another tenant or sObject is another record
    s_add (b, "T", "Account", "K", 0);
    s_add (b, "U", "Account", "K", 0);
    s_add (b, "T", "Contact", "K", 0);
    size_t total = 0, n;
    while ((n = ld_batcher_next (b, 10, false, items, 200)) > 0) {
        total += n;
        s_done_all (b, items, n);
    }
    assert_int_equal (total, 3);
    ld_batcher_destroy (&b);
}

static void
test_drain_takes_everything (void **state)
{
    ld_batcher_config_t c = s_config (200, 60000);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    s_add (b, "T", "Account", "T:vendor:2", 0);
    assert_int_equal (ld_batcher_next (b, 60000, false, items, 200), 2);
    assert_int_equal (ld_batcher_retry (b, &items[0], 60000, 600000, false), LD_RETRY_SCHEDULED);
    ld_batcher_done (b, &items[1]);
    s_add (b, "T", "Account", "T:vendor:3", 60001);
    assert_int_equal (ld_batcher_next (b, 60001, false, items, 200), 0);
    //  Stopping: backing-off and young records alike
    assert_int_equal (ld_batcher_next (b, 60001, true, items, 200), 2);
    s_done_all (b, items, 2);
    assert_int_equal (ld_batcher_count (b), 0);
    ld_batcher_destroy (&b);
}

static void
test_bounded (void **state)
{
    ld_batcher_config_t c = s_config (2, 100);
    c.capacity = 4;
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "T", "Account", "T:vendor:1", 0);
    s_add (b, "T", "Account", "T:vendor:2", 0);
    s_add (b, "T", "Contact", "T:contact:1", 0);
    assert_false (ld_batcher_full (b));
    s_add (b, "T", "Account", "T:vendor:1", 0); //  chained versions count too
    assert_true (ld_batcher_full (b));
    ld_item_t *extra = s_item ("T", "Account", "T:vendor:9", 0);
    assert_int_equal (ld_batcher_add (b, &extra, 0), -1);
    assert_non_null (extra); //  refused: the caller still owns it
    ld_item_destroy (&extra);
    assert_null (extra);
    assert_int_equal (ld_batcher_count (b), 4);
    //  Taking a batch makes room; giving it back for a retry is always accepted
    assert_int_equal (ld_batcher_next (b, 0, false, items, 200), 2);
    assert_false (ld_batcher_full (b));
    s_add (b, "T", "Contact", "T:contact:2", 0);
    s_add (b, "T", "Contact", "T:contact:3", 0);
    assert_true (ld_batcher_full (b));
    assert_int_equal (ld_batcher_retry (b, &items[0], 0, 0, true), LD_RETRY_SCHEDULED);
    assert_int_equal (ld_batcher_retry (b, &items[1], 0, 0, true), LD_RETRY_SCHEDULED);
    assert_int_equal (ld_batcher_count (b), 6);
    ld_batcher_destroy (&b);

    //  Settings are clamped: batches never exceed Salesforce's 200, capacity holds a batch
    ld_batcher_config_t wild = {.batch_size = 5000, .capacity = 0, .max_attempts = 0};
    b = ld_batcher_new (&wild);
    assert_non_null (b);
    for (int i = 0; i < 200; i++) {
        char ext[32];
        snprintf (ext, sizeof ext, "T:vendor:%d", i);
        s_add (b, "T", "Account", ext, 0);
    }
    assert_true (ld_batcher_full (b));
    assert_int_equal (ld_batcher_next (b, 0, false, items, 200), 200);
    assert_int_equal (ld_batcher_retry (b, &items[0], 0, 0, true), LD_RETRY_EXHAUSTED);
    s_done_all (b, items, 200);
    ld_batcher_destroy (&b);
}

//  A child record: a payload naming its parent Account by external ID.
static void
s_add_child (ld_batcher_t *b, const char *sobject, const char *ext_id, const char *parent,
             int64_t now)
{
    cm_envelope_t *env = cm_envelope_new ("T", "invoice", ext_id);
    assert_non_null (env);
    char payload[300];
    snprintf (payload, sizeof payload,
              "{\"CloudSuite_Key__c\":\"%s\",\"Account__r\":{\"CloudSuite_Key__c\":\"%s\"}}",
              ext_id, parent);
    assert_int_equal (cm_envelope_set_target (env, sobject, "CloudSuite_Key__c", ext_id, payload),
                      0);
    char *bytes = strdup (ext_id);
    ld_item_t *item = ld_item_new (&env, &bytes, strlen (ext_id), now);
    assert_non_null (item);
    assert_non_null (item->parent);
    assert_int_equal (ld_batcher_add (b, &item, now), 0);
}

static void
test_bulk_batches (void **state)
{
    ld_batcher_config_t c = s_config (200, 50);
    c.capacity = 3000;
    c.bulk_threshold = 1000;
    c.bulk_max = 1500;
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t **items = calloc (3000, sizeof *items);
    for (int i = 0; i < 2500; i++) {
        char ext[32];
        snprintf (ext, sizeof ext, "T:vendor:%d", i);
        s_add (b, "T", "Account", ext, 0);
    }
    ld_batch_kind_t kind;
    //  Room for only a Collections batch: no Bulk
    assert_int_equal (ld_batcher_take (b, 0, false, NULL, NULL, items, 200, &kind), 200);
    assert_int_equal (kind, LD_BATCH_COLLECTIONS);
    s_done_all (b, items, 200);
    //  2300 waiting, room for them: a Bulk batch of bulk_max, in arrival order
    assert_int_equal (ld_batcher_take (b, 0, false, NULL, NULL, items, 3000, &kind), 1500);
    assert_int_equal (kind, LD_BATCH_BULK);
    assert_string_equal (items[0]->env->ext_id, "T:vendor:200");
    assert_string_equal (items[1499]->env->ext_id, "T:vendor:1699");
    //  Handed back for Collections: never in a Bulk batch again
    for (int i = 0; i < 1500; i++) {
        items[i]->no_bulk = true;
        assert_int_equal (ld_batcher_retry (b, &items[i], 0, 0, false), LD_RETRY_SCHEDULED);
    }
    //  800 Bulk-able + 1500 not: below the threshold, Collections only
    size_t n;
    size_t total = 0;
    while ((n = ld_batcher_take (b, 100, false, NULL, NULL, items, 3000, &kind)) > 0) {
        assert_int_equal (kind, LD_BATCH_COLLECTIONS);
        assert_true (n <= 200);
        total += n;
        s_done_all (b, items, n);
    }
    assert_int_equal (total, 2300);
    free (items);
    ld_batcher_destroy (&b);
}

static void
test_siblings_share_a_batch (void **state)
{
    ld_batcher_config_t c = s_config (4, 50);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    //  Children of P1, P2, P3 interleaved
    s_add_child (b, "Inv__c", "T:i:1", "T:P1", 0);
    s_add_child (b, "Inv__c", "T:i:2", "T:P2", 0);
    s_add_child (b, "Inv__c", "T:i:3", "T:P1", 0);
    s_add_child (b, "Inv__c", "T:i:4", "T:P3", 0);
    s_add_child (b, "Inv__c", "T:i:5", "T:P1", 0);
    s_add_child (b, "Inv__c", "T:i:6", "T:P2", 0);
    //  The oldest record brings its siblings, then the next oldest its own
    assert_int_equal (ld_batcher_next (b, 0, false, items, 200), 4);
    const char *want[] = {"T:i:1", "T:i:3", "T:i:5", "T:i:2"};
    for (int i = 0; i < 4; i++)
        assert_string_equal (items[i]->env->ext_id, want[i]);
    s_done_all (b, items, 4);
    assert_int_equal (ld_batcher_next (b, 100, false, items, 200), 2);
    assert_string_equal (items[0]->env->ext_id, "T:i:4");
    assert_string_equal (items[1]->env->ext_id, "T:i:6");
    s_done_all (b, items, 2);
    ld_batcher_destroy (&b);
}

static void
test_parents_first (void **state)
{
    ld_batcher_config_t c = s_config (200, 50);
    c.child_wait_ms = 1000;
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    //  Children arrive first, their parents later
    s_add_child (b, "Inv__c", "T:i:1", "T:customer:1", 0);
    s_add (b, "T", "Account", "T:customer:1", 10);
    //  Both due: the parents' group goes first
    assert_int_equal (ld_batcher_next (b, 100, false, items, 200), 1);
    assert_string_equal (items[0]->env->sobject, "Account");
    s_done_all (b, items, 1);
    assert_int_equal (ld_batcher_next (b, 100, false, items, 200), 1);
    assert_string_equal (items[0]->env->sobject, "Inv__c");
    s_done_all (b, items, 1);
    //  But children never starve behind a long parent backfill
    s_add_child (b, "Inv__c", "T:i:2", "T:customer:2", 1000);
    for (int i = 0; i < 3; i++) {
        char ext[32];
        snprintf (ext, sizeof ext, "T:customer:%d", 10 + i);
        s_add (b, "T", "Account", ext, 1000);
    }
    assert_int_equal (ld_batcher_next (b, 1100, false, items, 200), 3);
    assert_string_equal (items[0]->env->sobject, "Account");
    for (int i = 0; i < 3; i++)
        assert_int_equal (ld_batcher_retry (b, &items[i], 1100, 0, false), LD_RETRY_SCHEDULED);
    //  1000 ms past its flush time the child counts as a parent
    assert_int_equal (ld_batcher_next (b, 2100, false, items, 200), 1);
    assert_string_equal (items[0]->env->sobject, "Inv__c");
    s_done_all (b, items, 1);
    assert_int_equal (ld_batcher_next (b, 2100, false, items, 200), 3);
    s_done_all (b, items, 3);
    ld_batcher_destroy (&b);
}

static bool
s_only_globex (void *arg, const char *tenant)
{
    int *asked = arg;
    (*asked)++;
    return strcmp (tenant, "GLOBEX") == 0;
}

static void
test_accept_filter (void **state)
{
    ld_batcher_config_t c = s_config (200, 50);
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    s_add (b, "ACME", "Account", "ACME:vendor:1", 0);
    s_add (b, "GLOBEX", "Account", "GLOBEX:vendor:1", 0);
    int asked = 0;
    assert_int_equal (ld_batcher_due_ms (b, 100, s_only_globex, &asked), 0);
    ld_batch_kind_t kind;
    assert_int_equal (ld_batcher_take (b, 100, false, s_only_globex, &asked, items, 200, &kind), 1);
    assert_string_equal (items[0]->env->tenant, "GLOBEX");
    s_done_all (b, items, 1);
    //  ACME's record is due but refused: nothing to take, nothing due for the caller
    assert_int_equal (ld_batcher_take (b, 100, false, s_only_globex, &asked, items, 200, &kind), 0);
    assert_int_equal (ld_batcher_due_ms (b, 100, s_only_globex, &asked), -1);
    assert_true (asked >= 4);
    assert_int_equal (ld_batcher_next_due_ms (b, 100), 0);
    assert_int_equal (ld_batcher_next (b, 100, false, items, 200), 1);
    s_done_all (b, items, 1);
    ld_batcher_destroy (&b);
}

//  Adds a record of tenant loading into org.
static void
s_add_org (ld_batcher_t *b, const char *tenant, long org, const char *ext_id, const char *name,
           int64_t now)
{
    cm_envelope_t *env = cm_envelope_new (tenant, "vendor", ext_id);
    assert_non_null (env);
    char payload[200];
    snprintf (payload, sizeof payload, "{\"Name\":\"%s\",\"CloudSuite_Key__c\":\"%s\"}", name,
              ext_id);
    assert_int_equal (cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", ext_id, payload),
                      0);
    char *bytes = strdup (ext_id);
    ld_item_t *item = ld_item_new (&env, &bytes, strlen (ext_id), now);
    assert_non_null (item);
    assert_true (item->payload_ok);
    item->org = org;
    assert_int_equal (ld_batcher_add (b, &item, now), 0);
}

static void
test_tenants_of_one_org_share_batches (void **state)
{
    ld_batcher_config_t c = s_config (4, 50);
    ld_batcher_t *b = ld_batcher_new (&c);
    //  Three tenants load into org 0, one into org 1
    s_add_org (b, "ACME", 0, "ACME:V1", "a1", 0);
    s_add_org (b, "GLOBEX", 0, "GLOBEX:V1", "g1", 0);
    s_add_org (b, "INITECH", 0, "INITECH:V1", "i1", 0);
    s_add_org (b, "UMBRELLA", 1, "UMBRELLA:V1", "u1", 0);
    s_add_org (b, "ACME", 0, "ACME:V2", "a2", 0);
    ld_item_t *items[200];
    //  Org 0's group is full (4 records of 3 tenants): it goes at once, in arrival order,
    //  each record still with its own envelope (tenant)
    assert_int_equal (ld_batcher_next (b, 0, false, items, 200), 4);
    const char *want[] = {"ACME:V1", "GLOBEX:V1", "INITECH:V1", "ACME:V2"};
    const char *tenant[] = {"ACME", "GLOBEX", "INITECH", "ACME"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal (items[i]->env->ext_id, want[i]);
        assert_string_equal (items[i]->env->tenant, tenant[i]);
        assert_int_equal (items[i]->org, 0);
    }
    s_done_all (b, items, 4);
    //  Org 1's lone record is not full: it waits for flush_ms
    assert_int_equal (ld_batcher_next (b, 0, false, items, 200), 0);
    assert_int_equal (ld_batcher_next (b, 50, false, items, 200), 1);
    assert_string_equal (items[0]->env->tenant, "UMBRELLA");
    s_done_all (b, items, 1);
    assert_int_equal (ld_batcher_count (b), 0);

    //  One Salesforce record (same org, object, external ID) sent by two tenants: the
    //  versions never share a call, and go in arrival order
    s_add_org (b, "ACME", 0, "SHARED:V9", "first", 0);
    s_add_org (b, "GLOBEX", 0, "SHARED:V9", "second", 0);
    assert_int_equal (ld_batcher_count (b), 2);
    assert_int_equal (ld_batcher_next (b, 100, false, items, 200), 1);
    assert_string_equal (items[0]->env->tenant, "ACME");
    assert_int_equal (ld_batcher_next (b, 100, false, items + 1, 199), 0);
    ld_batcher_done (b, &items[0]);
    assert_int_equal (ld_batcher_next (b, 1000, false, items, 200), 1);
    assert_string_equal (items[0]->env->tenant, "GLOBEX");
    s_done_all (b, items, 1);
    //  Without an org, tenants keep their own groups (and records)
    s_add_org (b, "ACME", -1, "SHARED:V9", "x", 0);
    s_add_org (b, "GLOBEX", -1, "SHARED:V9", "y", 0);
    assert_int_equal (ld_batcher_next (b, 100, false, items, 200), 1);
    assert_int_equal (ld_batcher_next (b, 100, false, items + 1, 199), 1);
    s_done_all (b, items, 2);
    ld_batcher_destroy (&b);
}

static void
test_partial_batches_wait_for_idle_input (void **state)
{
    ld_batcher_config_t c = s_config (200, 200);
    c.max_wait_ms = 2000;
    ld_batcher_t *b = ld_batcher_new (&c);
    ld_item_t *items[200];
    //  A lone change goes flush_ms after it arrived (the input is idle)
    s_add_org (b, "ACME", 0, "ACME:V0", "n", 0);
    assert_int_equal (ld_batcher_next_due_ms (b, 0), 200);
    assert_int_equal (ld_batcher_next (b, 199, false, items, 200), 0);
    assert_int_equal (ld_batcher_next (b, 200, false, items, 200), 1);
    s_done_all (b, items, 1);
    //  A trickle (one record every 100 ms): no partial batch while it keeps arriving...
    int64_t t = 1000;
    int added = 0;
    for (; t < 1000 + 1900; t += 100) {
        char ext[32];
        snprintf (ext, sizeof ext, "ACME:T%d", added++);
        s_add_org (b, "ACME", 0, ext, "n", t);
        assert_int_equal (ld_batcher_next (b, t, false, items, 200), 0);
        assert_true (ld_batcher_next_due_ms (b, t) > 0);
    }
    //  ...until the oldest has waited max_wait_ms: then all that is held goes in one call
    assert_int_equal (ld_batcher_next_due_ms (b, t), 1000 + 2000 - t);
    assert_int_equal (ld_batcher_next (b, 2999, false, items, 200), 0);
    assert_int_equal (ld_batcher_next (b, 3000, false, items, 200), (size_t)added);
    s_done_all (b, items, (size_t)added);
    //  A burst then silence: the partial batch goes once the input has been idle flush_ms
    for (int i = 0; i < 5; i++) {
        char ext[32];
        snprintf (ext, sizeof ext, "ACME:B%d", i);
        s_add_org (b, "ACME", 0, ext, "n", 5000 + i * 50);
    }
    assert_int_equal (ld_batcher_next_due_ms (b, 5200), 5200 + 200 - 5200);
    assert_int_equal (ld_batcher_next (b, 5399, false, items, 200), 0);
    assert_int_equal (ld_batcher_next (b, 5400, false, items, 200), 5);
    s_done_all (b, items, 5);
    //  Full batches never wait, whatever the input does
    for (int i = 0; i < 250; i++) {
        char ext[32];
        snprintf (ext, sizeof ext, "ACME:F%d", i);
        s_add_org (b, "ACME", 0, ext, "n", 10000);
    }
    assert_int_equal (ld_batcher_next (b, 10000, false, items, 200), 200);
    s_done_all (b, items, 200);
    assert_int_equal (ld_batcher_next (b, 10000, false, items, 200), 0);
    assert_int_equal (ld_batcher_next (b, 10200, false, items, 200), 50);
    s_done_all (b, items, 50);
    ld_batcher_destroy (&b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_groups_by_tenant_and_sobject),
        cmocka_unit_test (test_flush_by_size),
        cmocka_unit_test (test_flush_by_age),
        cmocka_unit_test (test_backoff_schedule),
        cmocka_unit_test (test_max_attempts_dead_letter),
        cmocka_unit_test (test_uncounted_wait),
        cmocka_unit_test (test_versions_in_order),
        cmocka_unit_test (test_drain_takes_everything),
        cmocka_unit_test (test_bounded),
        cmocka_unit_test (test_bulk_batches),
        cmocka_unit_test (test_siblings_share_a_batch),
        cmocka_unit_test (test_parents_first),
        cmocka_unit_test (test_accept_filter),
        cmocka_unit_test (test_tenants_of_one_org_share_batches),
        cmocka_unit_test (test_partial_batches_wait_for_idle_input),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
