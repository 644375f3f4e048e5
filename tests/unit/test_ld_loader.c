/*  Unit test for ld_loader: the run loop over real ZeroMQ sockets (ipc:// in a temporary
    directory) against a scripted Salesforce on loopback. The test binds what the
    transformer and the replayer would bind, sends envelopes (good ones, one Salesforce
    refuses, one without a loadable target, corrupt bytes, one through the replay socket),
    and a batch as one multipart message with a garbage frame, and checks the events:
    loaded with Salesforce Ids, a retry after a 503, a dead letter
    carrying the exact envelope bytes, the corrupt message counted, and a clean stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <unistd.h>
#include <zmq.h>

#include "../../loader/ld_loader.h"
#include "cm_envelope.h"
#include "cm_event.h"
#include "cm_event_batch.h"
#include "cm_log.h"
#include "cm_signal.h"
#include "cm_time.h"
#include "cm_zsock.h"
#include "sim_http.h"

typedef struct {
    pthread_mutex_t lock; /* handlers run in server threads */
    int port;             /* its port */
    int data_calls;       /* upsert calls seen */
    int records;          /* records accepted */
} fake_sf_t;

//  Token endpoint; Collections upsert that refuses records without Name and answers the
//  very first call 503.
static void
s_handler (void *arg, const sim_request_t *req, sim_response_t *resp)
{
    fake_sf_t *f = arg;
    pthread_mutex_lock (&f->lock);
    sim_response_header (resp, "Sforce-Limit-Info", "api-usage=3/15000");
    if (strcmp (req->path, "/services/oauth2/token") == 0) {
        char text[512];
        snprintf (text, sizeof text,
                  "{\"access_token\":\"00Dxx!tok\",\"instance_url\":\"http://127.0.0.1:%d\","
                  "\"token_type\":\"Bearer\",\"issued_at\":\"1764162000000\"}",
                  f->port);
        sim_response_body (resp, 200, "application/json", text, strlen (text));
        goto out;
    }
    if (strcmp (req->method, "PATCH") != 0 ||
        strcmp (req->path, "/services/data/v62.0/composite/sobjects/Account/"
                           "CloudSuite_Key__c") != 0) {
        const char *e = "[{\"errorCode\":\"NOT_FOUND\",\"message\":\"no such resource\"}]";
        sim_response_body (resp, 404, "application/json", e, strlen (e));
        goto out;
    }
    if (f->data_calls++ == 0) {
        const char *e = "[{\"errorCode\":\"SERVER_UNAVAILABLE\",\"message\":\"try later\"}]";
        sim_response_body (resp, 503, "application/json", e, strlen (e));
        goto out;
    }
    cJSON *body = cJSON_Parse (req->body);
    cJSON *records = cJSON_GetObjectItem (body, "records");
    cJSON *out = cJSON_CreateArray ();
    cJSON *rec;
    cJSON_ArrayForEach (rec, records)
    {
        cJSON *r = cJSON_CreateObject ();
        if (cJSON_GetObjectItem (rec, "Name")) {
            char id[32];
            snprintf (id, sizeof id, "001xx%013d", ++f->records);
            cJSON_AddStringToObject (r, "id", id);
            cJSON_AddTrueToObject (r, "success");
            cJSON_AddItemToObject (r, "errors", cJSON_CreateArray ());
            cJSON_AddTrueToObject (r, "created");
        } else {
            cJSON_AddFalseToObject (r, "success");
            cJSON *errors = cJSON_AddArrayToObject (r, "errors");
            cJSON *e = cJSON_CreateObject ();
            cJSON_AddStringToObject (e, "statusCode", "REQUIRED_FIELD_MISSING");
            cJSON_AddStringToObject (e, "message", "Required fields are missing: [Name]");
            cJSON *fields = cJSON_AddArrayToObject (e, "fields");
            cJSON_AddItemToArray (fields, cJSON_CreateString ("Name"));
            cJSON_AddItemToArray (errors, e);
        }
        cJSON_AddItemToArray (out, r);
    }
    cJSON_Delete (body);
    sim_response_json (resp, 200, out);
out:
    pthread_mutex_unlock (&f->lock);
}

static ld_loader_t *g_loader;
static int g_run_rc = -2;

static void *
s_run (void *arg)
{
    g_run_rc = ld_loader_run (g_loader);
    return NULL;
}

//  Encodes an Account envelope; payload NULL leaves it without a target.
static char *
s_envelope (const char *vendor, const char *payload, size_t *size)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", vendor);
    assert_non_null (env);
    cm_envelope_add_field (env, "VendNum", vendor);
    cm_envelope_compute_hash (env);
    char ext[64];
    snprintf (ext, sizeof ext, "ACME_PRD:vendor:%s", vendor);
    if (payload)
        assert_int_equal (
            cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", ext, payload), 0);
    char *data = NULL;
    assert_int_equal (cm_envelope_encode (env, &data, size), 0);
    cm_envelope_destroy (&env);
    return data;
}

static void
test_loader_run (void **state)
{
    char dir[] = "/tmp/test_ld_loader.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char load_ep[128], replay_ep[128], events_ep[128];
    snprintf (load_ep, sizeof load_ep, "ipc://%s/load", dir);
    snprintf (replay_ep, sizeof replay_ep, "ipc://%s/replay", dir);
    snprintf (events_ep, sizeof events_ep, "ipc://%s/events", dir);

    fake_sf_t fake = {.port = 0};
    pthread_mutex_init (&fake.lock, NULL);
    char err[256];
    sim_server_t *server = sim_server_new ("127.0.0.1:0", s_handler, &fake, err, sizeof err);
    assert_non_null (server);
    fake.port = sim_server_port (server);
    char url[64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d", fake.port);

    void *ctx = zmq_ctx_new ();
    assert_non_null (ctx);
    void *load = cm_zsock_new (ctx, ZMQ_PUSH, load_ep, true, 1000, 0, err, sizeof err);
    void *replay = cm_zsock_new (ctx, ZMQ_PUSH, replay_ep, true, 1000, 0, err, sizeof err);
    void *events = cm_zsock_new (ctx, ZMQ_PULL, events_ep, true, 1000, 0, err, sizeof err);
    assert_non_null (load);
    assert_non_null (replay);
    assert_non_null (events);

    ld_loader_config_t c = {.load_endpoint = load_ep,
                            .replay_endpoint = replay_ep,
                            .events_endpoint = events_ep,
                            .hwm = 1000,
                            .drain_ms = 5000,
                            .max_in_flight = 2,
                            .have_default_org = true,
                            .batcher = {.batch_size = 200,
                                        .capacity = 1000,
                                        .flush_ms = 50,
                                        .max_attempts = 5,
                                        .backoff_base_ms = 50,
                                        .backoff_max_ms = 200},
                            .org = {.name = "test",
                                    .url = url,
                                    .client_id = "id",
                                    .client_secret = "secret",
                                    .api_version = "62.0",
                                    .allow_http = true,
                                    .session_ttl_s = 7200,
                                    .token_margin_s = 300,
                                    .timeout_ms = 5000,
                                    .max_body = 1 << 20}};
    g_loader = ld_loader_new (ctx, &c, err, sizeof err);
    assert_non_null (g_loader);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_run, NULL), 0);

    //  Five good vendors, one Salesforce refuses, one with no target, one corrupt message,
    //  one replayed through the replay socket
    size_t size;
    for (int i = 1; i <= 5; i++) {
        char vendor[16], payload[128];
        snprintf (vendor, sizeof vendor, "V%06d", i);
        snprintf (payload, sizeof payload,
                  "{\"Name\":\"Vendor %d\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:%s\"}", i,
                  vendor);
        char *data = s_envelope (vendor, payload, &size);
        assert_int_equal (cm_zsock_send (load, data, size, 1000), 0);
        free (data);
    }
    size_t refused_size;
    char *refused = s_envelope ("V000666", "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000666\"}",
                                &refused_size);
    assert_int_equal (cm_zsock_send (load, refused, refused_size, 1000), 0);
    size_t untargeted_size;
    char *untargeted = s_envelope ("V000777", NULL, &untargeted_size);
    assert_int_equal (cm_zsock_send (load, untargeted, untargeted_size, 1000), 0);
    assert_int_equal (cm_zsock_send (load, "\x81\xa1v\xc0garbage", 11, 1000), 0);
    char *replayed = s_envelope ("V000008",
                                 "{\"Name\":\"Replayed\",\"CloudSuite_Key__c\":"
                                 "\"ACME_PRD:vendor:V000008\"}",
                                 &size);
    assert_int_equal (cm_zsock_send (replay, replayed, size, 1000), 0);
    free (replayed);
    //  A batch from the transformer: one multipart message, an envelope per frame, with a
    //  garbage frame among them (one bad envelope; its message-mates still load)
    for (int i = 11; i <= 14; i++) {
        int more = i < 14 ? ZMQ_SNDMORE : 0;
        if (i == 12) {
            assert_int_equal (zmq_send (load, "\x92\x01garbage", 9, more), 9);
            continue;
        }
        char vendor[16], payload[128];
        snprintf (vendor, sizeof vendor, "V%06d", i);
        snprintf (payload, sizeof payload,
                  "{\"Name\":\"Batched %d\",\"CloudSuite_Key__c\":\"ACME_PRD:vendor:%s\"}", i,
                  vendor);
        char *data = s_envelope (vendor, payload, &size);
        assert_int_equal (zmq_send (load, data, size, more), (int)size);
        free (data);
    }

    //  Expected: 9 loaded, 2 failed; plus retrying events after the 503
    int loaded = 0, failed = 0, retrying = 0;
    bool refused_ok = false, untargeted_ok = false;
    int64_t deadline = cm_mono_ms () + 20000; //  a hang guard, not a timing assertion
    char *data = NULL;
    cm_event_frame_t frame;
    cm_event_frame_init (&frame, NULL, 0);
    frame.state = 2; /* nothing read yet */
    while (loaded + failed < 11 && cm_mono_ms () < deadline) {
        const void *item;
        size_t item_size;
        int got = cm_event_frame_next (&frame, &item, &item_size, err, sizeof err);
        assert_true (got >= 0);
        if (got == 0) { /* the next message: the loader batches its events */
            free (data);
            data = NULL;
            if (cm_zsock_recv (events, &data, &size, 200) != 1)
                continue;
            assert_true ((unsigned char)data[0] == 0xdd); /* a batch */
            cm_event_frame_init (&frame, data, size);
            continue;
        }
        cm_event_t *ev = cm_event_decode (item, item_size, err, sizeof err);
        assert_non_null (ev);
        assert_int_equal (ev->stage, CM_STAGE_LOAD);
        if (ev->outcome == CM_OUTCOME_LOADED) {
            loaded++;
            assert_non_null (ev->sf_id);
            assert_int_equal (strlen (ev->sf_id), 18);
            assert_true (ev->created);
            assert_string_equal (ev->sobject, "Account");
        } else if (ev->outcome == CM_OUTCOME_RETRYING) {
            retrying++;
            assert_int_equal (ev->error_class, CM_ERR_RETRYABLE);
            assert_int_equal (ev->http_status, 503);
            assert_null (ev->envelope);
        } else {
            assert_int_equal (ev->outcome, CM_OUTCOME_FAILED);
            failed++;
            assert_int_equal (ev->error_class, CM_ERR_PERMANENT);
            assert_non_null (ev->envelope);
            if (strcmp (ev->key, "V000666") == 0) {
                assert_string_equal (ev->error_code, "REQUIRED_FIELD_MISSING");
                assert_string_equal (ev->error_fields, "Name");
                assert_int_equal (ev->http_status, 200);
                //  The dead letter is the envelope byte for byte
                assert_int_equal (ev->envelope_size, refused_size);
                assert_memory_equal (ev->envelope, refused, refused_size);
                refused_ok = true;
            } else {
                assert_string_equal (ev->key, "V000777");
                assert_string_equal (ev->error_code, "LDR_BAD_TARGET");
                assert_int_equal (ev->envelope_size, untargeted_size);
                assert_memory_equal (ev->envelope, untargeted, untargeted_size);
                untargeted_ok = true;
            }
        }
        cm_event_destroy (&ev);
    }
    free (data);
    assert_int_equal (loaded, 9);
    assert_int_equal (failed, 2);
    assert_true (retrying >= 1);
    assert_true (refused_ok);
    assert_true (untargeted_ok);

    //  Stop as on SIGTERM: the loop returns 0
    cm_signal_request_stop ();
    assert_int_equal (pthread_join (thread, NULL), 0);
    assert_int_equal (g_run_rc, 0);
    ld_loader_stats_t st;
    ld_loader_stats (g_loader, &st);
    assert_int_equal (st.received, 13);
    assert_int_equal (st.bad_envelopes, 2);
    assert_int_equal (st.loaded, 9);
    assert_int_equal (st.failed, 2);
    assert_int_equal (st.events_lost, 0);
    assert_int_equal (st.token_requests, 1);
    assert_int_equal (st.api_calls, (uint64_t)fake.data_calls);
    assert_true (fake.data_calls >= 2);
    assert_int_equal (fake.records, 9);

    free (refused);
    free (untargeted);
    ld_loader_destroy (&g_loader);
    cm_zsock_destroy (&load);
    cm_zsock_destroy (&replay);
    cm_zsock_destroy (&events);
    zmq_ctx_term (ctx);
    sim_server_destroy (&server);
    pthread_mutex_destroy (&fake.lock);
    char cmd[160];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
}

int
main (void)
{
    cm_log_init ("test", CM_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_loader_run),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
