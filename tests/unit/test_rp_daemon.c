/*  Unit tests for rp_daemon (the replayer's run loop): bad events are counted, control
    requests answer, replays re-feed the exact bytes at the configured rate, and the loop
    stores events from a real socket and stops cleanly. Real ZeroMQ (ipc:// in a temporary
    directory) and a real RocksDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <cjson/cJSON.h>

#include "test_util.h"
#include "../../common/cm_confirm.h"
#include "../../common/cm_envelope.h"
#include "../../common/cm_event.h"
#include "../../common/cm_signal.h"
#include "../../common/cm_time.h"
#include "../../common/cm_zsock.h"
#include "../../replayer/rp_cli.h"
#include "../../replayer/rp_daemon.h"

typedef struct {
    char dir[256];    /* temporary directory */
    char events[300]; /* endpoints */
    char replay[300];
    char control[300];
    char confirm[300];
    rp_daemon_config_t cfg; /* daemon config */
    rp_daemon_t *daemon;    /* under test */
    void *ctx;              /* the test's own ZeroMQ context */
    void *sub;              /* a confirmation subscriber, or NULL (closed in teardown) */
} fx_t;

static int
setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    test_tmpdir (fx->dir, sizeof fx->dir, "test_rp_daemon");
    snprintf (fx->events, sizeof fx->events, "ipc://%s/events", fx->dir);
    snprintf (fx->replay, sizeof fx->replay, "ipc://%s/replay", fx->dir);
    snprintf (fx->control, sizeof fx->control, "ipc://%s/control", fx->dir);
    snprintf (fx->confirm, sizeof fx->confirm, "ipc://%s/confirm", fx->dir);
    fx->cfg = (rp_daemon_config_t){.data_dir = fx->dir,
                                   .events_endpoint = fx->events,
                                   .replay_endpoint = fx->replay,
                                   .control_endpoint = fx->control,
                                   .confirm_endpoint = fx->confirm,
                                   .hwm = 1000,
                                   .replay_rate = 5};
    char err[512];
    fx->daemon = rp_daemon_new (&fx->cfg, err, sizeof err);
    assert_non_null (fx->daemon);
    fx->ctx = zmq_ctx_new ();
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fx_t *fx = *state;
    rp_daemon_destroy (&fx->daemon);
    if (fx->sub) {
        int zero = 0;
        zmq_setsockopt (fx->sub, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close (fx->sub);
    }
    zmq_ctx_term (fx->ctx);
    test_rmtree (fx->dir);
    free (fx);
    return 0;
}

/*  Encodes a failed event for a fresh envelope; the envelope bytes in *env_bytes. */
static char *
failed_event (const char *key, char *id, char **env_bytes, size_t *env_size, size_t *size)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", key);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    cm_envelope_compute_hash (env);
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_FAILED, env);
    assert_int_equal (cm_event_set_error (ev, CM_ERR_PERMANENT, "REQUIRED_FIELD_MISSING",
                                          "Required fields are missing: [Name]", "Name", 400),
                      0);
    assert_int_equal (cm_envelope_encode (env, env_bytes, env_size), 0);
    assert_int_equal (cm_event_set_envelope (ev, *env_bytes, *env_size), 0);
    char *data = NULL;
    assert_int_equal (cm_event_encode (ev, &data, size), 0);
    strcpy (id, env->id);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
    return data;
}

static cJSON *
control (fx_t *fx, const char *req)
{
    char *text = rp_daemon_handle_control (fx->daemon, req, strlen (req));
    assert_non_null (text);
    cJSON *o = cJSON_Parse (text);
    free (text);
    assert_true (cJSON_IsObject (o));
    return o;
}

static void
test_bad_event_counted (void **state)
{
    fx_t *fx = *state;
    const char garbage[] = "\x93\x01\x02garbage-not-an-event";
    assert_int_equal (rp_daemon_handle_event (fx->daemon, garbage, sizeof garbage), 0);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, "", 0), 0);
    char id[33], *env = NULL;
    size_t env_size = 0, size = 0;
    char *ev = failed_event ("V1", id, &env, &env_size, &size);
    /* a truncated event is bad too; the whole one is stored */
    assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size - 3), 0);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
    rp_stats_t st;
    rp_store_stats (rp_daemon_store (fx->daemon), &st);
    assert_int_equal (st.bad_events, 3);
    assert_int_equal (st.outcomes[CM_OUTCOME_FAILED], 1);
    assert_int_equal (st.dl_open, 1);
    free (ev);
    free (env);
}

/*  Encodes an event of the given outcome for a fresh envelope of tenant T, key KEY. */
static char *
outcome_event (const char *tenant, const char *key, cm_outcome_t out, char *hash, size_t *size)
{
    cm_envelope_t *env = cm_envelope_new (tenant, "vendor", key);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    cm_envelope_compute_hash (env);
    cm_event_t *ev =
        cm_event_new (out == CM_OUTCOME_LOADED ? CM_STAGE_LOAD : CM_STAGE_TRANSFORM, out, env);
    if (out == CM_OUTCOME_LOADED)
        assert_int_equal (cm_event_set_str (ev, &ev->sf_id, "001000000000001AAA"), 0);
    char *data = NULL;
    assert_int_equal (cm_event_encode (ev, &data, size), 0);
    strcpy (hash, env->hash);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
    return data;
}

/*  Encodes an extracted event for key KEY at time at_ms. */
static char *
extracted_at (const char *key, int64_t at_ms, size_t *size)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", key);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    cm_envelope_compute_hash (env);
    cm_event_t *ev = cm_event_new (CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED, env);
    ev->at_ms = at_ms;
    char *data = NULL;
    assert_int_equal (cm_event_encode (ev, &data, size), 0);
    cm_event_destroy (&ev);
    cm_envelope_destroy (&env);
    return data;
}

/*  Retention (here 60 s, the unit the config key gives in days): a tick removes the
    entries older than that, keeps the rest and dead letters, and counts what it removed
    (stats, control reply); the skipped outcome is counted in stats too. */
static void
test_retention_tick_and_stats (void **state)
{
    fx_t *fx = *state;
    rp_daemon_destroy (&fx->daemon);
    fx->cfg.audit_retention_ms = 60000;
    char err[512];
    fx->daemon = rp_daemon_new (&fx->cfg, err, sizeof err);
    assert_non_null (fx->daemon);
    int64_t now = cm_now_ms ();
    size_t size = 0;
    for (int i = 0; i < 3; i++) {
        char key[8];
        snprintf (key, sizeof key, "O%d", i);
        char *ev = extracted_at (key, now - 120000, &size);
        assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
        free (ev);
    }
    char *ev = extracted_at ("N1", now - 1000, &size);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
    free (ev);
    char hash[65];
    ev = outcome_event ("ACME_PRD", "S1", CM_OUTCOME_SKIPPED, hash, &size);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
    free (ev);
    char id[33], *env = NULL;
    size_t env_size = 0;
    ev = failed_event ("F1", id, &env, &env_size, &size);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
    free (ev);
    free (env);
    assert_int_equal (rp_daemon_commit (fx->daemon, false), 0);

    bool wrapped = false;
    assert_int_equal (rp_daemon_retention_tick (fx->daemon, now, &wrapped), 3);
    assert_true (wrapped);
    assert_int_equal (rp_daemon_retention_tick (fx->daemon, now, &wrapped), 0);
    /* an hour later everything but the dead letter's record has gone */
    assert_int_equal (rp_daemon_retention_tick (fx->daemon, now + 3600000, &wrapped), 2);
    rp_stats_t st;
    rp_store_stats (rp_daemon_store (fx->daemon), &st);
    assert_int_equal (st.audit_expired, 5);
    assert_int_equal (st.outcomes[CM_OUTCOME_SKIPPED], 1);
    assert_int_equal (st.dl_open, 1);
    cJSON *r = control (fx, "{\"cmd\":\"stats\"}");
    const cJSON *s = cJSON_GetObjectItem (r, "stats");
    assert_true (cJSON_GetObjectItem (s, "audit_expired")->valuedouble == 5.0);
    assert_true (cJSON_GetObjectItem (s, "skipped")->valuedouble == 1.0);
    cJSON_Delete (r);
}

/*  Final outcomes are confirmed on the PUB socket, topic = tenant, only after the commit;
    other outcomes and other tenants are not seen by a tenant's subscriber. */
static void
test_confirmations_after_commit (void **state)
{
    fx_t *fx = *state;
    void *sub = fx->sub = zmq_socket (fx->ctx, ZMQ_SUB);
    assert_int_equal (zmq_connect (sub, fx->confirm), 0);
    assert_int_equal (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "ACME_PRD", 8), 0);
    int tmo = 2000;
    zmq_setsockopt (sub, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    usleep (200 * 1000); /* the subscription reaches the publisher */
    const char *keys[] = {"V1", "V2", "V3", "V4"};
    cm_outcome_t outs[] = {CM_OUTCOME_LOADED, CM_OUTCOME_TRANSFORMED, CM_OUTCOME_SKIPPED,
                           CM_OUTCOME_LOADED};
    const char *tenants[] = {"ACME_PRD", "ACME_PRD", "ACME_PRD", "OTHER"};
    char hashes[4][128];
    for (int i = 0; i < 4; i++) {
        size_t size = 0;
        char *ev = outcome_event (tenants[i], keys[i], outs[i], hashes[i], &size);
        assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
        free (ev);
    }
    /* a dead letter is final too */
    char id[33], *env = NULL;
    size_t env_size = 0, size = 0;
    char *ev = failed_event ("V5", id, &env, &env_size, &size);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
    free (ev);
    free (env);
    assert_int_equal (rp_daemon_confirms_waiting (fx->daemon), 4);
    char buf[CM_CONFIRM_MAX_BYTES];
    assert_true (zmq_recv (sub, buf, sizeof buf, ZMQ_DONTWAIT) < 0); /* nothing before commit */
    assert_int_equal (rp_daemon_commit (fx->daemon, false), 0);
    assert_int_equal (rp_daemon_confirms_waiting (fx->daemon), 0);
    const char *want_keys[] = {"V1", "V3", "V5"};
    cm_outcome_t want_outs[] = {CM_OUTCOME_LOADED, CM_OUTCOME_SKIPPED, CM_OUTCOME_FAILED};
    for (int i = 0; i < 3; i++) {
        int n = zmq_recv (sub, buf, sizeof buf, 0);
        assert_int_equal (n, 8);
        assert_memory_equal (buf, "ACME_PRD", 8);
        int more = 0;
        size_t more_size = sizeof more;
        zmq_getsockopt (sub, ZMQ_RCVMORE, &more, &more_size);
        assert_true (more);
        n = zmq_recv (sub, buf, sizeof buf, 0);
        assert_true (n > 0);
        char err[256];
        cm_confirm_t *c = cm_confirm_decode (buf, (size_t)n, err, sizeof err);
        assert_non_null (c);
        assert_string_equal (c->tenant, "ACME_PRD");
        assert_string_equal (c->entity, "vendor");
        assert_string_equal (c->key, want_keys[i]);
        assert_int_equal (c->outcome, want_outs[i]);
        if (i < 2)
            assert_string_equal (c->hash, hashes[i == 0 ? 0 : 2]);
        cm_confirm_destroy (&c);
    }
    assert_true (zmq_recv (sub, buf, sizeof buf, ZMQ_DONTWAIT) < 0); /* no more */
}

static void
test_control_requests (void **state)
{
    fx_t *fx = *state;
    cJSON *o = control (fx, "not json");
    assert_false (cJSON_IsTrue (cJSON_GetObjectItem (o, "ok")));
    cJSON_Delete (o);
    o = control (fx, "{\"cmd\":\"launch\"}");
    assert_non_null (strstr (cJSON_GetObjectItem (o, "error")->valuestring, "unknown cmd"));
    cJSON_Delete (o);
    o = control (fx, "{\"cmd\":\"replay\",\"ids\":[\"0123\"]}");
    assert_true (cJSON_IsTrue (cJSON_GetObjectItem (o, "ok")));
    assert_int_equal (cJSON_GetObjectItem (o, "queued")->valueint, 0);
    assert_int_equal (cJSON_GetArraySize (cJSON_GetObjectItem (o, "missing")), 1);
    cJSON_Delete (o);
    o = control (fx, "{\"cmd\":\"purge\",\"id\":\"0123\"}");
    assert_non_null (strstr (cJSON_GetObjectItem (o, "error")->valuestring, "reason"));
    cJSON_Delete (o);
    o = control (fx, "{\"cmd\":\"purge\",\"id\":\"0123\",\"reason\":\"x\"}");
    assert_non_null (strstr (cJSON_GetObjectItem (o, "error")->valuestring, "no dead letter"));
    cJSON_Delete (o);
    o = control (fx, "{\"cmd\":\"stats\"}");
    assert_true (cJSON_IsObject (cJSON_GetObjectItem (o, "stats")));
    cJSON_Delete (o);
}

static void
test_replay_exact_bytes_rate_limited (void **state)
{
    fx_t *fx = *state;
    char ids[12][33];
    char *envs[12];
    size_t env_sizes[12];
    for (int i = 0; i < 12; i++) {
        char key[8];
        size_t size = 0;
        snprintf (key, sizeof key, "V%d", i);
        char *ev = failed_event (key, ids[i], &envs[i], &env_sizes[i], &size);
        assert_int_equal (rp_daemon_handle_event (fx->daemon, ev, size), 0);
        free (ev);
    }
    char err[256];
    void *pull = cm_zsock_new (fx->ctx, ZMQ_PULL, fx->replay, false, 1000, 0, err, sizeof err);
    assert_non_null (pull);

    /* one first, until the loader-side socket is connected */
    char req[200];
    snprintf (req, sizeof req, "{\"cmd\":\"replay\",\"ids\":[\"%s\"]}", ids[0]);
    cJSON *o = control (fx, req);
    assert_int_equal (cJSON_GetObjectItem (o, "queued")->valueint, 1);
    cJSON_Delete (o);
    int64_t t = 1000000;
    for (int i = 0; i < 500 && rp_daemon_replay_queued (fx->daemon) > 0; i++) {
        t += 1000;
        assert_true (rp_daemon_replay_tick (fx->daemon, t) >= 0);
        usleep (10000);
    }
    assert_int_equal (rp_daemon_replay_queued (fx->daemon), 0);
    char *got = NULL;
    size_t got_size = 0;
    assert_int_equal (cm_zsock_recv (pull, &got, &got_size, 5000), 1);
    assert_int_equal (got_size, env_sizes[0]);
    assert_memory_equal (got, envs[0], got_size);
    free (got);

    /* all 12 at 5 per second: one simulated second sends 5 */
    o = control (fx, "{\"cmd\":\"replay\",\"all\":true,\"tenant\":\"ACME_PRD\"}");
    assert_int_equal (cJSON_GetObjectItem (o, "queued")->valueint, 12);
    cJSON_Delete (o);
    t += 1000;
    assert_int_equal (rp_daemon_replay_tick (fx->daemon, t), 5);
    assert_int_equal (rp_daemon_replay_tick (fx->daemon, t), 0);
    assert_int_equal (rp_daemon_replay_tick (fx->daemon, t + 400), 2);
    assert_int_equal (rp_daemon_replay_queued (fx->daemon), 5);
    for (int i = 0; i < 7; i++) {
        assert_int_equal (cm_zsock_recv (pull, &got, &got_size, 5000), 1);
        free (got);
    }

    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (rp_daemon_store (fx->daemon), ids[0], &dl), 1);
    assert_true (dl->replays >= 1);
    assert_true (dl->last_replay_ms > 0);
    rp_dead_letter_destroy (&dl);
    rp_stats_t st;
    rp_store_stats (rp_daemon_store (fx->daemon), &st);
    assert_int_equal (st.replayed, 8);
    cm_zsock_destroy (&pull);
    for (int i = 0; i < 12; i++)
        free (envs[i]);
}

/*  A failure event of envelope env with class cls at time at. */
static void
feed_failure (fx_t *fx, const cm_envelope_t *env, cm_error_class_t cls, int64_t at)
{
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, CM_OUTCOME_FAILED, env);
    ev->at_ms = at;
    assert_int_equal (cm_event_set_error (ev, cls, "UNABLE_TO_LOCK_ROW",
                                          "unable to obtain "
                                          "exclusive access to this record",
                                          "", 400),
                      0);
    char *bytes = NULL, *data = NULL;
    size_t size = 0, dsize = 0;
    assert_int_equal (cm_envelope_encode (env, &bytes, &size), 0);
    assert_int_equal (cm_event_set_envelope (ev, bytes, size), 0);
    assert_int_equal (cm_event_encode (ev, &data, &dsize), 0);
    assert_int_equal (rp_daemon_handle_event (fx->daemon, data, dsize), 0);
    free (bytes);
    free (data);
    cm_event_destroy (&ev);
}

/*  The time dead letter id was last replayed. */
static int64_t
last_replay (rp_store_t *store, const char *id)
{
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (store, id, &dl), 1);
    int64_t at = dl->last_replay_ms;
    rp_dead_letter_destroy (&dl);
    return at;
}

static void
test_redrive_retryable_with_backoff (void **state)
{
    fx_t *fx = *state;
    rp_daemon_destroy (&fx->daemon);
    fx->cfg.redrive_base_ms = 1000;
    fx->cfg.redrive_max_ms = 1500;
    fx->cfg.redrive_max = 4;
    char err[512];
    fx->daemon = rp_daemon_new (&fx->cfg, err, sizeof err);
    assert_non_null (fx->daemon);
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", "V1");
    cm_envelope_t *perm = cm_envelope_new ("ACME_PRD", "vendor", "V2");
    int64_t t = 1700000000000;
    feed_failure (fx, env, CM_ERR_RETRYABLE, t);
    feed_failure (fx, perm, CM_ERR_PERMANENT, t);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, t + 999), 0);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, t + 1000), 1); /* not perm */
    assert_int_equal (rp_daemon_replay_queued (fx->daemon), 1);
    /* once replayed, it waits for the outcome; a replay that gets none (a loader killed
       with it) counts as a failure at its time: the delay doubles, capped at 1500 */
    rp_store_t *store = rp_daemon_store (fx->daemon);
    assert_int_equal (rp_store_note_replay (store, env->id), 1);
    int64_t r1 = last_replay (store, env->id);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, r1 + 1499), 0);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, r1 + 1500), 1);
    assert_int_equal (rp_store_note_replay (store, env->id), 1); /* unanswered 1 */
    /* it failed again (replays are noted at the real clock, so fail later than that):
       tries 3 = 2 failures + 1 unanswered replay */
    int64_t t2 = cm_now_ms () + 10;
    feed_failure (fx, env, CM_ERR_RETRYABLE, t2);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, t2 + 1499), 0);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, t2 + 1500), 1);
    /* the 4th try is this replay: after it, failed or unanswered, an operator replays it */
    while (cm_now_ms () <= t2)
        usleep (1000);
    assert_int_equal (rp_store_note_replay (store, env->id), 1);
    int64_t r3 = last_replay (store, env->id);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, r3 + 100000), 0);
    int64_t t3 = cm_now_ms () + 10;
    feed_failure (fx, env, CM_ERR_RETRYABLE, t3);
    assert_int_equal (rp_daemon_redrive_scan (fx->daemon, t3 + 100000), 0);
    rp_dead_letter_t *dl = NULL;
    assert_int_equal (rp_store_dead_letter (store, env->id, &dl), 1);
    assert_int_equal (dl->attempts, 3);
    assert_int_equal (dl->replays, 3);
    assert_int_equal (dl->unanswered, 1);
    rp_dead_letter_destroy (&dl);
    cm_envelope_destroy (&env);
    cm_envelope_destroy (&perm);
}

typedef struct {
    rp_daemon_t *daemon; /* to run */
    int rc;              /* its result */
} run_arg_t;

static void *
run_thread (void *arg)
{
    run_arg_t *ra = arg;
    ra->rc = rp_daemon_run (ra->daemon);
    return NULL;
}

/*  Last: a stop request cannot be taken back in this process. */
static void
test_run_loop_and_stop (void **state)
{
    fx_t *fx = *state;
    char err[256];
    void *push = cm_zsock_new (fx->ctx, ZMQ_PUSH, fx->events, false, 1000, 1000, err, sizeof err);
    void *pull = cm_zsock_new (fx->ctx, ZMQ_PULL, fx->replay, false, 1000, 0, err, sizeof err);
    assert_non_null (push);
    assert_non_null (pull);
    run_arg_t ra = {fx->daemon, -1};
    pthread_t th;
    assert_int_equal (pthread_create (&th, NULL, run_thread, &ra), 0);

    char id[33], *env = NULL;
    size_t env_size = 0, size = 0;
    char *ev = failed_event ("V42", id, &env, &env_size, &size);
    assert_int_equal (cm_zsock_send (push, "garbage", 7, 5000), 0);
    assert_int_equal (cm_zsock_send (push, ev, size, 5000), 0);
    free (ev);

    /* the operator's replay through the control socket, as the CLI sends it; the event may
       not be stored yet, so ask until it is queued */
    rp_cli_config_t cc = {fx->dir, fx->control, 5000, NULL};
    char *argv[] = {"replay", id, NULL};
    int rc = 1;
    for (int i = 0; i < 100 && rc != 0; i++) {
        FILE *null_out = fopen ("/dev/null", "w");
        rc = rp_cli_run (&cc, 2, argv, null_out, null_out);
        fclose (null_out);
        if (rc != 0)
            usleep (20000);
    }
    assert_int_equal (rc, 0);
    char *got = NULL;
    size_t got_size = 0;
    assert_int_equal (cm_zsock_recv (pull, &got, &got_size, 10000), 1);
    assert_int_equal (got_size, env_size);
    assert_memory_equal (got, env, env_size);
    free (got);
    free (env);

    cm_signal_request_stop ();
    pthread_join (th, NULL);
    assert_int_equal (ra.rc, 0);
    cm_zsock_destroy (&push);
    cm_zsock_destroy (&pull);
    rp_daemon_destroy (&fx->daemon);

    /* everything was committed */
    char path[300];
    snprintf (path, sizeof path, "%s/replayer", fx->dir);
    rp_store_t *ro = rp_store_open (path, true, err, sizeof err);
    assert_non_null (ro);
    rp_stats_t st;
    rp_store_stats (ro, &st);
    assert_int_equal (st.bad_events, 1);
    assert_int_equal (st.outcomes[CM_OUTCOME_FAILED], 1);
    assert_int_equal (st.replayed, 1);
    rp_store_destroy (&ro);
}

static void
test_unwritable_data_dir (void **state)
{
    fx_t *fx = *state;
    char file[300], err[512] = "";
    snprintf (file, sizeof file, "%s/file", fx->dir);
    FILE *f = fopen (file, "w");
    assert_non_null (f);
    fclose (f);
    rp_daemon_config_t cfg = fx->cfg;
    cfg.data_dir = file; /* a file, not a directory */
    char ev2[300];
    snprintf (ev2, sizeof ev2, "ipc://%s/events2", fx->dir);
    cfg.events_endpoint = ev2;
    rp_daemon_t *d = rp_daemon_new (&cfg, err, sizeof err);
    assert_null (d);
    assert_non_null (strstr (err, file));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_bad_event_counted, setup, teardown),
        cmocka_unit_test_setup_teardown (test_control_requests, setup, teardown),
        cmocka_unit_test_setup_teardown (test_confirmations_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown (test_replay_exact_bytes_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unwritable_data_dir, setup, teardown),
        cmocka_unit_test_setup_teardown (test_redrive_retryable_with_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown (test_run_loop_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown (test_retention_tick_and_stats, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
