/*  Unit tests for tf_loop over real ZeroMQ ipc:// sockets in a temporary directory: a
    vendor goes through to the load socket with a "transformed" event; a corrupt message is
    counted and dropped; an unmappable record is reported "rejected" with its exact bytes;
    a skipped record produces only a "skipped" event; at shutdown with no loader the record is
   handed to the dead-letter store instead of being lost. Run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "test_util.h"
#include "../../transformer/tf_loop.h"
#include "../../transformer/tf_mapping.h"
#include "../../transformer/tf_memory.h"
#include "cm_envelope.h"
#include "cm_event.h"
#include "cm_event_batch.h"
#include "cm_signal.h"
#include "cm_zsock.h"

typedef struct {
    char dir[64];                   /* temporary directory */
    char ex[128], ld[128], ev[128]; /* endpoints */
    void *ctx;                      /* ZeroMQ context */
    void *extract;                  /* test PUSH -> loop */
    void *load;                     /* loop -> test PULL */
    void *events;                   /* loop -> test PULL (bound) */
    tf_mapping_t *mapping;          /* config/mapping.json */
    tf_loop_t *loop;                /* under test */
    int batch;                      /* tf_loop_config_t.batch (0: unbatched) */
    int flush_ms;                   /* tf_loop_config_t.flush_ms */
    int max_wait_ms;                /* tf_loop_config_t.max_wait_ms */
} fixture_t;

static void fixture_open_mem (fixture_t *f, bool with_loader, const tf_memory_ops_t *mem);

static void
fixture_open (fixture_t *f, bool with_loader)
{
    fixture_open_mem (f, with_loader, NULL);
}

static void
fixture_open_mem (fixture_t *f, bool with_loader, const tf_memory_ops_t *mem)
{
    if (!f->dir[0]) {
        test_tmpdir (f->dir, sizeof f->dir, "test_tf_loop");
    }
    snprintf (f->ex, sizeof f->ex, "ipc://%s/extract", f->dir);
    snprintf (f->ld, sizeof f->ld, "ipc://%s/load", f->dir);
    snprintf (f->ev, sizeof f->ev, "ipc://%s/events", f->dir);
    char err[512];
    f->mapping = tf_mapping_load ("config/mapping.json", err, sizeof err);
    if (!f->mapping)
        fail_msg ("%s", err);
    f->ctx = zmq_ctx_new ();
    assert_non_null (f->ctx);
    f->events = cm_zsock_new (f->ctx, ZMQ_PULL, f->ev, true, 100, 0, err, sizeof err);
    assert_non_null (f->events);
    tf_loop_config_t cfg = {f->ex, f->ld, f->ev, 100, 300, f->batch, f->flush_ms, f->max_wait_ms};
    f->loop = tf_loop_new (f->ctx, &cfg, f->mapping, mem, err, sizeof err);
    if (!f->loop)
        fail_msg ("%s", err);
    f->extract = cm_zsock_new (f->ctx, ZMQ_PUSH, f->ex, false, 100, 1000, err, sizeof err);
    assert_non_null (f->extract);
    if (with_loader) {
        f->load = cm_zsock_new (f->ctx, ZMQ_PULL, f->ld, false, 100, 0, err, sizeof err);
        assert_non_null (f->load);
    }
}

static void
fixture_close (fixture_t *f)
{
    tf_loop_destroy (&f->loop);
    cm_zsock_destroy (&f->extract);
    cm_zsock_destroy (&f->load);
    cm_zsock_destroy (&f->events);
    zmq_ctx_term (f->ctx);
    tf_mapping_destroy (&f->mapping);
    assert_int_equal (test_rmtree (f->dir), 0);
}

/*  An encoded envelope of entity/key with three source fields (malloc'd). */
static char *
envelope_bytes (const char *entity, const char *key, const char *f1, const char *v1, const char *f2,
                const char *v2, const char *f3, const char *v3, size_t *size)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", entity, key);
    assert_non_null (env);
    assert_int_equal (cm_envelope_add_field (env, f1, v1), 0);
    assert_int_equal (cm_envelope_add_field (env, f2, v2), 0);
    assert_int_equal (cm_envelope_add_field (env, f3, v3), 0);
    cm_envelope_compute_hash (env);
    char *data = NULL;
    assert_int_equal (cm_envelope_encode (env, &data, size), 0);
    cm_envelope_destroy (&env);
    return data;
}

/*  An encoded envelope of a vendor (malloc'd). */
static char *
vendor_bytes (const char *num, const char *name, size_t *size)
{
    return envelope_bytes ("vendor", num, "VendNum", num, "Name", name, "Stat", "A", size);
}

/*  An encoded envelope of a purchase order of vendor vend (malloc'd). */
static char *
po_bytes (const char *num, const char *vend, size_t *size)
{
    return envelope_bytes ("po", num, "PoNum", num, "VendNum", vend, "Stat", "O", size);
}

/*  Reads one load message (waiting up to timeout_ms) and writes "sobject:key" of the
    envelope in each frame, comma-separated, to out. Returns the number of frames, 0 when
    no message came. */
static int
next_batch (void *sock, int timeout_ms, char *out, size_t cap)
{
    zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
    out[0] = 0;
    if (zmq_poll (&item, 1, timeout_ms) != 1)
        return 0;
    int frames = 0;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        assert_true (zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT) >= 0);
        char err[256];
        cm_envelope_t *env =
            cm_envelope_decode (zmq_msg_data (&msg), zmq_msg_size (&msg), err, sizeof err);
        if (!env)
            fail_msg ("frame %d did not decode: %s", frames, err);
        size_t len = strlen (out);
        snprintf (out + len, cap - len, "%s%s:%s", frames ? "," : "", env->sobject, env->key);
        cm_envelope_destroy (&env);
        frames++;
        bool more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        if (!more)
            return frames;
    }
}

/*  The next event on sock: the loop sends its events in batches (cm_event_batch.h), so
    this keeps the message it is reading until every event in it was taken. */
static cm_event_t *
next_event (void *sock)
{
    static void *from;             /* the socket of the message held */
    static zmq_msg_t msg;          /* the message held */
    static cm_event_frame_t frame; /* where in it */
    static bool held;              /* a message is held */
    char err[256];
    const void *item = NULL;
    size_t item_size = 0;
    if (held && from != sock) {
        zmq_msg_close (&msg);
        held = false;
    }
    while (!held || cm_event_frame_next (&frame, &item, &item_size, err, sizeof err) != 1) {
        if (held)
            zmq_msg_close (&msg);
        held = false;
        //  Plain zmq calls: cm_zsock_recv returns at once after a stop request.
        zmq_pollitem_t pi = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll (&pi, 1, 5000) != 1)
            return NULL;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            return NULL;
        }
        held = true;
        from = sock;
        cm_event_frame_init (&frame, zmq_msg_data (&msg), zmq_msg_size (&msg));
    }
    cm_event_t *ev = cm_event_decode (item, item_size, err, sizeof err);
    if (frame.state == 2 || frame.left == 0) { /* the message's last event: let it go */
        zmq_msg_close (&msg);
        held = false;
    }
    if (!ev)
        fail_msg ("event did not decode: %s", err);
    return ev;
}

static void
test_flow (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    fixture_open (&f, true);
    size_t good_size, bad_size;
    char *good = vendor_bytes ("V000001", "Northwind \"Metals\"", &good_size);
    char *bad = vendor_bytes ("V000002", "   ", &bad_size);
    //  A customer ship-to: the default mapping skips it.
    cm_envelope_t *ship = cm_envelope_new ("ACME_PRD", "customer", "C000001/1");
    assert_int_equal (cm_envelope_add_field (ship, "CustNum", "C000001"), 0);
    assert_int_equal (cm_envelope_add_field (ship, "CustSeq", "1"), 0);
    char *ship_bytes = NULL;
    size_t ship_size = 0;
    assert_int_equal (cm_envelope_encode (ship, &ship_bytes, &ship_size), 0);
    cm_envelope_destroy (&ship);

    assert_int_equal (cm_zsock_send (f.extract, "\x81\xa1v\xc1 corrupt", 11, 1000), 0);
    assert_int_equal (cm_zsock_send (f.extract, good, good_size, 1000), 0);
    assert_int_equal (cm_zsock_send (f.extract, ship_bytes, ship_size, 1000), 0);
    assert_int_equal (cm_zsock_send (f.extract, bad, bad_size, 1000), 0);
    assert_int_equal (tf_loop_run (f.loop, 1500), 0);

    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.received, 4);
    assert_int_equal (st.bad, 1);
    assert_int_equal (st.transformed, 1);
    assert_int_equal (st.skipped, 1);
    assert_int_equal (st.rejected, 1);
    assert_int_equal (st.unsent, 0);

    //  Exactly one envelope reached the loader, with its target.
    char *data = NULL;
    size_t size = 0;
    assert_int_equal (cm_zsock_recv (f.load, &data, &size, 5000), 1);
    char err[256];
    cm_envelope_t *out = cm_envelope_decode (data, size, err, sizeof err);
    free (data);
    assert_non_null (out);
    assert_string_equal (out->sobject, "Account");
    assert_string_equal (out->ext_id_field, "CloudSuite_Key__c");
    assert_string_equal (out->ext_id, "ACME_PRD:vendor:V000001");
    assert_string_equal (out->key, "V000001");
    assert_string_equal (
        out->payload,
        "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000001\",\"Name\":\"Northwind \\\"Metals\\\"\","
        "\"Phone\":null,\"BillingStreet\":null,\"BillingCity\":null,\"BillingState\":null,"
        "\"BillingPostalCode\":null,\"BillingCountry\":null,"
        "\"CloudSuite_Vendor_Number__c\":\"V000001\",\"CloudSuite_Tenant__c\":\"ACME_PRD\","
        "\"CloudSuite_Roles__c\":\"Supplier\",\"Type\":\"Vendor\","
        "\"CloudSuite_Status__c\":\"Active\",\"CloudSuite_Currency__c\":null,"
        "\"CloudSuite_Terms__c\":null}");
    assert_int_equal (cm_zsock_recv (f.load, &data, &size, 200), 0);

    //  Events: transformed, then rejected with the exact bytes.
    cm_event_t *ev = next_event (f.events);
    assert_non_null (ev);
    assert_int_equal (ev->stage, CM_STAGE_TRANSFORM);
    assert_int_equal (ev->outcome, CM_OUTCOME_TRANSFORMED);
    assert_string_equal (ev->key, "V000001");
    assert_string_equal (ev->envelope_id, out->id);
    assert_string_equal (ev->sobject, "Account");
    assert_string_equal (ev->ext_id, "ACME_PRD:vendor:V000001");
    cm_event_destroy (&ev);
    cm_envelope_destroy (&out);

    //  The ship-to: "skipped", so the extractor's pending entry is confirmed.
    ev = next_event (f.events);
    assert_non_null (ev);
    assert_int_equal (ev->outcome, CM_OUTCOME_SKIPPED);
    assert_string_equal (ev->key, "C000001/1");
    cm_event_destroy (&ev);

    ev = next_event (f.events);
    assert_non_null (ev);
    assert_int_equal (ev->outcome, CM_OUTCOME_REJECTED);
    assert_int_equal (ev->error_class, CM_ERR_PERMANENT);
    assert_string_equal (ev->key, "V000002");
    assert_string_equal (ev->error_code, "MAPPING_REQUIRED_FIELD");
    assert_string_equal (ev->message, "field Name: required but empty (source Name)");
    assert_string_equal (ev->error_fields, "Name");
    assert_int_equal (ev->envelope_size, bad_size);
    assert_memory_equal (ev->envelope, bad, bad_size);
    cm_event_destroy (&ev);
    assert_int_equal (cm_zsock_recv (f.events, &data, &size, 200), 0);

    free (good);
    free (bad);
    free (ship_bytes);
    fixture_close (&f);
}

/*  Messages queued together are handled as a group: the memory commits once for many
    records, and every record still leaves in order, after its commit. */
static void
test_groups_with_memory (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    test_tmpdir (f.dir, sizeof f.dir, "test_tf_loop");
    char path[128], err[256];
    snprintf (path, sizeof path, "%s/memory", f.dir);
    tf_memory_t *mem = tf_memory_open (path, err, sizeof err);
    if (!mem)
        fail_msg ("%s", err);
    tf_memory_ops_t ops;
    tf_memory_ops (mem, &ops);
    fixture_open_mem (&f, true, &ops);
    enum { N = 90 };
    char num[16], name[64];
    for (int i = 1; i <= N; i++) {
        snprintf (num, sizeof num, "V%06d", i);
        snprintf (name, sizeof name, "Company %d", i);
        size_t size;
        char *bytes = vendor_bytes (num, name, &size);
        assert_int_equal (cm_zsock_send (f.extract, bytes, size, 1000), 0);
        free (bytes);
    }
    //  The same company as a customer, last: it joins V000001's Account.
    cm_envelope_t *cust = cm_envelope_new ("ACME_PRD", "customer", "C000010/0");
    assert_int_equal (cm_envelope_add_field (cust, "CustNum", "C000010"), 0);
    assert_int_equal (cm_envelope_add_field (cust, "CustSeq", "0"), 0);
    assert_int_equal (cm_envelope_add_field (cust, "Name", "COMPANY 1"), 0);
    char *cust_bytes = NULL;
    size_t cust_size = 0;
    assert_int_equal (cm_envelope_encode (cust, &cust_bytes, &cust_size), 0);
    cm_envelope_destroy (&cust);
    assert_int_equal (cm_zsock_send (f.extract, cust_bytes, cust_size, 1000), 0);
    free (cust_bytes);
    //  Let everything queue up, so the loop finds groups.
    usleep (300 * 1000);
    assert_int_equal (tf_loop_run (f.loop, 1000), 0);

    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.transformed, N + 1);
    tf_memory_stats_t ms;
    tf_memory_stats (mem, &ms);
    assert_true (ms.writes >= 3 * N); //  claim, union and sObject of each supplier
    assert_true (ms.commits >= 2);    //  at most 64 messages a group
    assert_true (ms.commits <= 10);   //  not one per record
    for (int i = 1; i <= N + 1; i++) {
        char *data = NULL;
        size_t size = 0;
        assert_int_equal (cm_zsock_recv (f.load, &data, &size, 5000), 1);
        cm_envelope_t *out = cm_envelope_decode (data, size, err, sizeof err);
        free (data);
        assert_non_null (out);
        if (i <= N) {
            snprintf (num, sizeof num, "V%06d", i);
            assert_string_equal (out->key, num);
        } else {
            assert_string_equal (out->key, "C000010/0");
            assert_string_equal (out->ext_id, "ACME_PRD:vendor:V000001");
            assert_non_null (
                strstr (out->payload, "\"CloudSuite_Roles__c\":\"Customer;Supplier\""));
        }
        cm_envelope_destroy (&out);
    }
    tf_loop_destroy (&f.loop);
    tf_memory_destroy (&mem);
    fixture_close (&f);
}

/*  A memory whose commit fails (a full disk): the group's records are dead-lettered as
    retryable, nothing reaches the loaders, and the loop stops with -1 (issue 6). */
static int
s_fail_commit (void *arg)
{
    return -1;
}

static void
test_store_failure_stops (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    test_tmpdir (f.dir, sizeof f.dir, "test_tf_loop");
    char path[128], err[256];
    snprintf (path, sizeof path, "%s/memory", f.dir);
    tf_memory_t *mem = tf_memory_open (path, err, sizeof err);
    if (!mem)
        fail_msg ("%s", err);
    tf_memory_ops_t ops;
    tf_memory_ops (mem, &ops);
    ops.commit = s_fail_commit;
    fixture_open_mem (&f, true, &ops);
    size_t size;
    char *bytes = vendor_bytes ("V000004", "Fabrikam Tools", &size);
    assert_int_equal (cm_zsock_send (f.extract, bytes, size, 1000), 0);
    assert_int_equal (tf_loop_run (f.loop, 5000), -1);
    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.transformed, 0);
    assert_int_equal (st.rejected, 1);
    cm_event_t *ev = next_event (f.events);
    assert_non_null (ev);
    assert_int_equal (ev->outcome, CM_OUTCOME_REJECTED);
    assert_int_equal (ev->error_class, CM_ERR_RETRYABLE);
    assert_string_equal (ev->error_code, "MAPPING_INTERNAL");
    assert_memory_equal (ev->envelope, bytes, size);
    cm_event_destroy (&ev);
    char *data = NULL;
    size_t n = 0;
    assert_int_equal (cm_zsock_recv (f.load, &data, &n, 200), 0);
    free (bytes);
    tf_loop_destroy (&f.loop);
    tf_memory_destroy (&mem);
    fixture_close (&f);
}

/*  Last: a stop request is sticky for the process. */
static void
test_shutdown_without_loader (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    fixture_open (&f, false);
    size_t size;
    char *bytes = vendor_bytes ("V000003", "Contoso Steel", &size);
    cm_signal_request_stop ();
    //  No loader is connected: the send waits out the drain time, then the record goes to
    //  the dead-letter store as retryable instead of being lost.
    assert_int_equal (tf_loop_handle (f.loop, bytes, size), -1);
    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.unsent, 1);
    assert_int_equal (st.transformed, 0);
    assert_int_equal (st.rejected, 0);
    cm_event_t *ev = next_event (f.events);
    assert_non_null (ev);
    assert_int_equal (ev->outcome, CM_OUTCOME_REJECTED);
    assert_int_equal (ev->error_class, CM_ERR_RETRYABLE);
    assert_string_equal (ev->error_code, "TRF_UNSENT");
    assert_int_equal (ev->envelope_size, size);
    assert_memory_equal (ev->envelope, bytes, size);
    cm_event_destroy (&ev);
    //  And the loop itself returns promptly once stopped.
    assert_int_equal (tf_loop_run (f.loop, 0), 0);
    free (bytes);
    fixture_close (&f);
}

/*  Reads n events and checks each is "transformed". */
static void
expect_transformed (void *events, int n)
{
    for (int i = 0; i < n; i++) {
        cm_event_t *ev = next_event (events);
        assert_non_null (ev);
        assert_int_equal (ev->outcome, CM_OUTCOME_TRANSFORMED);
        assert_non_null (ev->sobject);
        cm_event_destroy (&ev);
    }
}

static void
handle_vendor (tf_loop_t *loop, const char *num)
{
    size_t size;
    char *bytes = vendor_bytes (num, "Batch Vendor", &size);
    assert_int_equal (tf_loop_handle (loop, bytes, size), 0);
    free (bytes);
}

static void
handle_po (tf_loop_t *loop, const char *num)
{
    size_t size;
    char *bytes = po_bytes (num, "V1", &size);
    assert_int_equal (tf_loop_handle (loop, bytes, size), 0);
    free (bytes);
}

/*  Batched: records of one (sObject, external-ID field) go as one multipart message when
    the batch is full; other sObjects wait in their own batch; a flush sends the partial
    batches parents first (mapping order: vendor/Account before po), each record's
    "transformed" event follows its batch, and the load HWM counts batches. */
static void
test_batch_full_and_mixed (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    f.batch = 3;
    f.flush_ms = 60000;
    f.max_wait_ms = 60000;
    fixture_open (&f, true);
    int hwm = 0;
    size_t hwm_size = sizeof hwm;
    assert_int_equal (zmq_getsockopt (tf_loop_load_socket (f.loop), ZMQ_SNDHWM, &hwm, &hwm_size),
                      0);
    assert_int_equal (hwm, 100 / 3);
    char keys[1024];
    handle_po (f.loop, "P1");
    handle_vendor (f.loop, "V1");
    handle_vendor (f.loop, "V2");
    assert_int_equal (next_batch (f.load, 100, keys, sizeof keys), 0);
    handle_vendor (f.loop, "V3");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 3);
    assert_string_equal (keys, "Account:V1,Account:V2,Account:V3");
    expect_transformed (f.events, 3);
    handle_po (f.loop, "P2");
    handle_vendor (f.loop, "V4");
    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.held, 3);
    assert_int_equal (st.transformed, 3);
    assert_int_equal (st.batches, 1);
    assert_int_equal (next_batch (f.load, 100, keys, sizeof keys), 0);
    assert_int_equal (tf_loop_flush (f.loop), 0);
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 1);
    assert_string_equal (keys, "Account:V4");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 2);
    assert_string_equal (keys, "CloudSuite_Purchase_Order__c:P1,CloudSuite_Purchase_Order__c:P2");
    expect_transformed (f.events, 3);
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.held, 0);
    assert_int_equal (st.transformed, 6);
    assert_int_equal (st.batches, 3);
    fixture_close (&f);
}

/*  Batched: a partial batch goes once the input has been idle for flush_ms. */
static void
test_batch_idle_flush (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    f.batch = 200;
    f.flush_ms = 100;
    f.max_wait_ms = 60000;
    fixture_open (&f, true);
    const char *nums[] = {"V1", "V2", "V3", "V4", "V5"};
    for (int i = 0; i < 5; i++) {
        size_t size;
        char *bytes = vendor_bytes (nums[i], "Idle Vendor", &size);
        assert_int_equal (cm_zsock_send (f.extract, bytes, size, 1000), 0);
        free (bytes);
    }
    tf_stats_t st;
    memset (&st, 0, sizeof st);
    for (int i = 0; i < 100 && st.received < 5; i++) {
        assert_true (tf_loop_poll (f.loop, 50) >= 0);
        tf_loop_stats (f.loop, &st);
    }
    assert_int_equal (st.received, 5);
    //  The poll waits past flush_ms with no input: the batch goes
    assert_int_equal (tf_loop_poll (f.loop, 1000), 0);
    char keys[1024];
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 5);
    assert_string_equal (keys, "Account:V1,Account:V2,Account:V3,Account:V4,Account:V5");
    expect_transformed (f.events, 5);
    fixture_close (&f);
}

/*  Batched: a batch whose oldest record waited max_wait_ms goes even while input keeps
    coming; a younger batch stays. */
static void
test_batch_max_wait (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    f.batch = 200;
    f.flush_ms = 60000;
    f.max_wait_ms = 150;
    fixture_open (&f, true);
    char keys[1024];
    handle_vendor (f.loop, "V1");
    usleep (250 * 1000);
    handle_po (f.loop, "P1");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 1);
    assert_string_equal (keys, "Account:V1");
    expect_transformed (f.events, 1);
    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.held, 1);
    assert_int_equal (tf_loop_flush (f.loop), 0);
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 1);
    assert_string_equal (keys, "CloudSuite_Purchase_Order__c:P1");
    expect_transformed (f.events, 1);
    fixture_close (&f);
}

/*  Batched: before a full batch of children goes, a parent batch whose stream has been
    idle for flush_ms goes first; a parent stream still arriving is not cut short. */
static void
test_batch_parents_first (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    f.batch = 2;
    f.flush_ms = 500;
    f.max_wait_ms = 60000;
    fixture_open (&f, true);
    char keys[1024];
    handle_vendor (f.loop, "V1");
    usleep (600 * 1000);
    handle_po (f.loop, "P1");
    handle_po (f.loop, "P2");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 1);
    assert_string_equal (keys, "Account:V1");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 2);
    assert_string_equal (keys, "CloudSuite_Purchase_Order__c:P1,CloudSuite_Purchase_Order__c:P2");
    expect_transformed (f.events, 3);
    handle_vendor (f.loop, "V2");
    handle_po (f.loop, "P3");
    handle_po (f.loop, "P4");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 2);
    assert_string_equal (keys, "CloudSuite_Purchase_Order__c:P3,CloudSuite_Purchase_Order__c:P4");
    expect_transformed (f.events, 2);
    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.held, 1);
    fixture_close (&f);
}

/*  Batched, after a stop request (sticky: runs last): the loop sends what it holds before
    it returns; with no loader, the held records are dead-lettered as TRF_UNSENT. */
static void
test_batch_shutdown_flush (void **state)
{
    fixture_t f;
    memset (&f, 0, sizeof f);
    f.batch = 200;
    f.flush_ms = 60000;
    f.max_wait_ms = 60000;
    fixture_open (&f, true);
    cm_signal_request_stop ();
    handle_vendor (f.loop, "V1");
    handle_po (f.loop, "P1");
    handle_vendor (f.loop, "V2");
    char keys[1024];
    assert_int_equal (next_batch (f.load, 100, keys, sizeof keys), 0);
    assert_int_equal (tf_loop_run (f.loop, 0), 0);
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 2);
    assert_string_equal (keys, "Account:V1,Account:V2");
    assert_int_equal (next_batch (f.load, 2000, keys, sizeof keys), 1);
    assert_string_equal (keys, "CloudSuite_Purchase_Order__c:P1");
    expect_transformed (f.events, 3);
    fixture_close (&f);

    memset (&f, 0, sizeof f);
    f.batch = 200;
    f.flush_ms = 60000;
    f.max_wait_ms = 60000;
    fixture_open (&f, false);
    handle_vendor (f.loop, "V3");
    handle_vendor (f.loop, "V4");
    assert_int_equal (tf_loop_run (f.loop, 0), 0);
    tf_stats_t st;
    tf_loop_stats (f.loop, &st);
    assert_int_equal (st.unsent, 2);
    assert_int_equal (st.transformed, 0);
    assert_int_equal (st.held, 0);
    for (int i = 0; i < 2; i++) {
        cm_event_t *ev = next_event (f.events);
        assert_non_null (ev);
        assert_int_equal (ev->outcome, CM_OUTCOME_REJECTED);
        assert_int_equal (ev->error_class, CM_ERR_RETRYABLE);
        assert_string_equal (ev->error_code, "TRF_UNSENT");
        assert_true (ev->envelope_size > 0);
        cm_event_destroy (&ev);
    }
    fixture_close (&f);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_flow),
        cmocka_unit_test (test_groups_with_memory),
        cmocka_unit_test (test_store_failure_stops),
        cmocka_unit_test (test_batch_full_and_mixed),
        cmocka_unit_test (test_batch_idle_flush),
        cmocka_unit_test (test_batch_max_wait),
        cmocka_unit_test (test_batch_parents_first),
        cmocka_unit_test (test_shutdown_without_loader),
        cmocka_unit_test (test_batch_shutdown_flush),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
