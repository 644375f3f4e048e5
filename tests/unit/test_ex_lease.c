/*  Unit tests for ex_lease: a staged pending entry hides an unchanged record from the next
    poll; a confirmation of its hash (and only that, for our tenant) turns it into the
    confirmed hash; an expired lease is re-emitted with attempt + 1 only while no
    confirmation came for quiet_ms; the lease thread reads confirmations from a real
    ZeroMQ PUB socket. Real RocksDB in a temporary directory. */
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
#include "../../common/cm_confirm.h"
#include "../../common/cm_envelope.h"
#include "../../common/cm_event.h"
#include "../../extractor/ex_lease.h"
#include "../../extractor/ex_state.h"

typedef struct {
    char dir[256];         /* temporary directory */
    ex_state_t *state;     /* the tenant's state */
    int emitted;           /* re-emissions seen */
    int batch_ends;        /* ends of a re-emission batch seen (env NULL) */
    uint32_t last_attempt; /* attempt of the last one */
    char last_key[64];     /* its key */
} fx_t;

static int
setup (void **state)
{
    fx_t *fx = calloc (1, sizeof *fx);
    test_tmpdir (fx->dir, sizeof fx->dir, "test_ex_lease");
    char err[512];
    fx->state = ex_state_open (fx->dir, "ACME_PRD", err, sizeof err);
    assert_non_null (fx->state);
    *state = fx;
    return 0;
}

static int
teardown (void **state)
{
    fx_t *fx = *state;
    ex_state_destroy (&fx->state);
    test_rmtree (fx->dir);
    free (fx);
    return 0;
}

static int
capture (const cm_envelope_t *env, void *arg)
{
    fx_t *fx = arg;
    if (!env) {
        fx->batch_ends++;
        return 0;
    }
    fx->emitted++;
    fx->last_attempt = env->attempt;
    snprintf (fx->last_key, sizeof fx->last_key, "%s", env->key);
    return 0;
}

static cm_envelope_t *
vendor (const char *key, const char *name)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "vendor", key);
    assert_int_equal (cm_envelope_add_field (env, "VendNum", key), 0);
    assert_int_equal (cm_envelope_add_field (env, "Name", name), 0);
    cm_envelope_compute_hash (env);
    return env;
}

/*  Encodes the confirmation of env's record with the given tenant and outcome. */
static char *
confirm_of (const cm_envelope_t *env, const char *tenant, cm_outcome_t out, size_t *size)
{
    cm_event_t *ev = cm_event_new (CM_STAGE_LOAD, out, env);
    assert_int_equal (cm_event_set_str (ev, &ev->tenant, tenant), 0);
    char *data = NULL;
    assert_int_equal (cm_confirm_encode_event (ev, &data, size), 0);
    cm_event_destroy (&ev);
    return data;
}

static void
stage (fx_t *fx, const cm_envelope_t *env, int64_t now)
{
    char err[256];
    assert_int_equal (ex_lease_stage (fx->state, env, now), 0);
    assert_int_equal (ex_state_commit (fx->state, false, err, sizeof err), 0);
}

static void
test_pending_and_confirm (void **state)
{
    fx_t *fx = *state;
    char err[256];
    ex_flow_t *flow = ex_flow_new ("ACME_PRD", 10, 1000);
    ex_flow_sent (flow, 2);
    ex_lease_config_t cfg = {"ACME_PRD", NULL, 1000, 0, capture, fx, flow};
    ex_lease_t *lease = ex_lease_new (NULL, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    cm_envelope_t *v1 = vendor ("V1", "Northwind");
    cm_envelope_t *v2 = vendor ("V1", "Northwind Metals"); /* a newer version */
    assert_int_equal (ex_lease_changed (fx->state, "vendor", "V1", v1->hash, err, sizeof err), 1);
    stage (fx, v1, 1000);
    assert_int_equal (ex_lease_pending_count (fx->state), 1);
    /* pending: the poll does not emit it again; a newer version is a change */
    assert_int_equal (ex_lease_changed (fx->state, "vendor", "V1", v1->hash, err, sizeof err), 0);
    assert_int_equal (ex_lease_changed (fx->state, "vendor", "V1", v2->hash, err, sizeof err), 1);
    /* not confirmed yet */
    assert_int_equal (ex_state_changed (fx->state, "vendor", "V1", v1->hash, err, sizeof err), 1);

    size_t size = 0;
    char *other = confirm_of (v1, "ACME_PR", CM_OUTCOME_LOADED, &size); /* a prefix tenant */
    assert_int_equal (ex_lease_handle_confirm (lease, other, size, 2000), 0);
    free (other);
    char *older = confirm_of (v2, "ACME_PRD", CM_OUTCOME_LOADED, &size); /* other hash */
    assert_int_equal (ex_lease_handle_confirm (lease, older, size, 2000), 0);
    free (older);
    assert_int_equal (ex_lease_handle_confirm (lease, "\x81\xa1v\x01", 4, 2000), 0);
    assert_int_equal (ex_lease_pending_count (fx->state), 1);
    assert_int_equal (ex_flow_in_flight (flow), 2); /* ignored confirmations free nothing */

    char *ok = confirm_of (v1, "ACME_PRD", CM_OUTCOME_FAILED, &size); /* a dead letter */
    assert_int_equal (ex_lease_handle_confirm (lease, ok, size, 2000), 1);
    assert_int_equal (ex_lease_handle_confirm (lease, ok, size, 2000), 0); /* once */
    free (ok);
    assert_int_equal (ex_lease_pending_count (fx->state), 0);
    assert_int_equal (ex_state_changed (fx->state, "vendor", "V1", v1->hash, err, sizeof err), 0);
    assert_int_equal (ex_lease_changed (fx->state, "vendor", "V1", v1->hash, err, sizeof err), 0);
    assert_int_equal (ex_lease_confirmed (lease), 1);
    assert_int_equal (ex_flow_in_flight (flow), 1); /* the confirmed one left the window */
    cm_envelope_destroy (&v1);
    cm_envelope_destroy (&v2);
    ex_lease_destroy (&lease);
    ex_lease_destroy (&lease);
    ex_flow_destroy (&flow);
}

static void
test_confirm_batch (void **state)
{
    fx_t *fx = *state;
    char err[256];
    ex_flow_t *flow = ex_flow_new ("ACME_PRD", 100, 1000);
    ex_flow_sent (flow, 3);
    ex_lease_config_t cfg = {"ACME_PRD", NULL, 1000, 0, NULL, NULL, flow};
    ex_lease_t *lease = ex_lease_new (NULL, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    cm_envelope_t *a = vendor ("V1", "A");
    cm_envelope_t *b = vendor ("V2", "B");
    cm_envelope_t *c = vendor ("V3", "C");
    cm_envelope_t *c2 = vendor ("V3", "C, newer");
    stage (fx, a, 1000);
    stage (fx, b, 1000);
    stage (fx, c2, 1000);
    size_t sa, sb, sc, so;
    char *ca = confirm_of (a, "ACME_PRD", CM_OUTCOME_LOADED, &sa);
    char *cb = confirm_of (b, "ACME_PRD", CM_OUTCOME_REJECTED, &sb);
    char *cc = confirm_of (c, "ACME_PRD", CM_OUTCOME_LOADED, &sc); /* an older version */
    char *other = confirm_of (a, "OTHER", CM_OUTCOME_LOADED, &so);
    /* A twice in one batch counts once; garbage, another tenant and an old hash are ignored */
    const void *data[] = {ca, "\xc1", cb, other, ca, cc};
    size_t sizes[] = {sa, 1, sb, so, sa, sc};
    assert_int_equal (ex_lease_handle_confirms (lease, data, sizes, 6, 2000), 2);
    assert_int_equal (ex_lease_confirmed (lease), 2);
    assert_int_equal (ex_flow_in_flight (flow), 1);
    assert_int_equal (ex_lease_pending_count (fx->state), 1); /* V3's newer version */
    assert_int_equal (ex_state_changed (fx->state, "vendor", "V1", a->hash, err, sizeof err), 0);
    assert_int_equal (ex_state_changed (fx->state, "vendor", "V2", b->hash, err, sizeof err), 0);
    assert_int_equal (ex_lease_handle_confirms (lease, data, sizes, 0, 2000), 0);
    free (ca);
    free (cb);
    free (cc);
    free (other);
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&b);
    cm_envelope_destroy (&c);
    cm_envelope_destroy (&c2);
    ex_lease_destroy (&lease);
    ex_flow_destroy (&flow);
}

/*  Confirmations are checked against the in-flight index when the pending entry is in it,
    and against the store when it is not (written by an earlier run): the same answers. */
static void
test_inflight_index (void **state)
{
    fx_t *fx = *state;
    char err[256];
    ex_lease_config_t cfg = {"ACME_PRD", NULL, 1000, 0, NULL, NULL, NULL};
    ex_lease_t *lease = ex_lease_new (NULL, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    cm_envelope_t *a = vendor ("V1", "A");
    cm_envelope_t *a2 = vendor ("V1", "A, newer");
    cm_envelope_t *b = vendor ("V2", "B");
    cm_envelope_t *c = vendor ("V3", "C");
    size_t sa, sa2, sb, sc;
    char *ca = confirm_of (a, "ACME_PRD", CM_OUTCOME_LOADED, &sa);
    char *ca2 = confirm_of (a2, "ACME_PRD", CM_OUTCOME_LOADED, &sa2);
    char *cb = confirm_of (b, "ACME_PRD", CM_OUTCOME_LOADED, &sb);
    char *cc = confirm_of (c, "ACME_PRD", CM_OUTCOME_LOADED, &sc);

    /* staged but not yet committed: neither indexed nor stored, so not confirmable */
    assert_int_equal (ex_lease_stage (fx->state, c, 1000), 0);
    assert_int_equal (ex_state_inflight_count (fx->state), 0);
    assert_int_equal (ex_lease_handle_confirm (lease, cc, sc, 2000), 0);
    assert_int_equal (ex_state_commit (fx->state, false, err, sizeof err), 0);
    assert_int_equal (ex_state_inflight_count (fx->state), 1);
    assert_int_equal (ex_lease_handle_confirm (lease, cc, sc, 2000), 1);
    assert_int_equal (ex_state_inflight_count (fx->state), 0);

    /* a discarded stage leaves no trace in the index */
    assert_int_equal (ex_lease_stage (fx->state, b, 1000), 0);
    ex_state_discard (fx->state);
    assert_int_equal (ex_state_commit (fx->state, false, err, sizeof err), 0);
    assert_int_equal (ex_state_inflight_count (fx->state), 0);
    assert_int_equal (ex_lease_handle_confirm (lease, cb, sb, 2000), 0);

    /* a newer version replaces the indexed hash: the older confirmation is ignored */
    stage (fx, a, 1000);
    stage (fx, a2, 1100);
    assert_int_equal (ex_state_inflight_count (fx->state), 1);
    assert_int_equal (ex_lease_handle_confirm (lease, ca, sa, 2000), 0);
    assert_int_equal (ex_lease_pending_count (fx->state), 1);

    /* a staged entry that could not be noted empties the index at the commit (it must
       not keep an older version's hash): the others are then read from the store */
    ex_state_note_pending (fx->state, "l/vendor/V9", 11, "not a hash");
    assert_int_equal (ex_lease_stage (fx->state, c, 1150), 0);
    assert_int_equal (ex_state_commit (fx->state, false, err, sizeof err), 0);
    assert_int_equal (ex_state_inflight_count (fx->state), 1); /* V3 only; V1 was dropped */
    assert_int_equal (ex_lease_handle_confirm (lease, cc, sc, 2000), 1);
    assert_int_equal (ex_lease_handle_confirm (lease, ca, sa, 2000), 0); /* V1 is at a2 */

    /* after a restart the index is empty: the pending entry is read from the store */
    stage (fx, b, 1200);
    ex_lease_destroy (&lease);
    ex_state_destroy (&fx->state);
    fx->state = ex_state_open (fx->dir, "ACME_PRD", err, sizeof err);
    assert_non_null (fx->state);
    lease = ex_lease_new (NULL, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    assert_int_equal (ex_state_inflight_count (fx->state), 0);
    assert_int_equal (ex_lease_pending_count (fx->state), 2);
    assert_int_equal (ex_lease_handle_confirm (lease, ca, sa, 2000), 0); /* still the old one */
    const void *data[] = {ca2, cb};
    size_t sizes[] = {sa2, sb};
    assert_int_equal (ex_lease_handle_confirms (lease, data, sizes, 2, 2000), 2);
    assert_int_equal (ex_lease_pending_count (fx->state), 0);
    assert_int_equal (ex_state_changed (fx->state, "vendor", "V1", a2->hash, err, sizeof err), 0);
    assert_int_equal (ex_state_changed (fx->state, "vendor", "V2", b->hash, err, sizeof err), 0);
    free (ca);
    free (ca2);
    free (cb);
    free (cc);
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&a2);
    cm_envelope_destroy (&b);
    cm_envelope_destroy (&c);
    ex_lease_destroy (&lease);
}

static void
test_reemit_after_lease_when_quiet (void **state)
{
    fx_t *fx = *state;
    char err[256];
    ex_lease_config_t cfg = {"ACME_PRD", NULL, 1000, 5000, capture, fx, NULL};
    ex_lease_t *lease = ex_lease_new (NULL, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    cm_envelope_t *a = vendor ("V1", "A");
    cm_envelope_t *b = vendor ("V2", "B");
    stage (fx, a, 10000);
    stage (fx, b, 10000);
    assert_int_equal (ex_lease_reemit (lease, 10500), 0); /* not expired */
    assert_int_equal (fx->emitted, 0);
    /* a confirmation for B at 10600: the pipeline drains, A waits while confirmations flow */
    size_t size = 0;
    char *cb = confirm_of (b, "ACME_PRD", CM_OUTCOME_LOADED, &size);
    assert_int_equal (ex_lease_handle_confirm (lease, cb, size, 10600), 1);
    free (cb);
    assert_int_equal (ex_lease_reemit (lease, 12000), 0);
    assert_int_equal (fx->emitted, 0);
    /* quiet for 5 s: A comes back with attempt 2, once per lease */
    assert_int_equal (fx->batch_ends, 0);
    assert_int_equal (ex_lease_reemit (lease, 15600), 1);
    assert_int_equal (fx->emitted, 1);
    assert_int_equal (fx->batch_ends, 1); /* what the emitter held back leaves */
    assert_int_equal (fx->last_attempt, 2);
    assert_string_equal (fx->last_key, "V1");
    assert_int_equal (ex_lease_reemit (lease, 16000), 0);
    assert_int_equal (ex_lease_reemit (lease, 16700), 1);
    assert_int_equal (fx->last_attempt, 3);
    assert_int_equal (ex_lease_reemitted (lease), 2);
    /* still pending under the same hash: a confirmation of attempt 3 clears it */
    char *ca = confirm_of (a, "ACME_PRD", CM_OUTCOME_SKIPPED, &size);
    assert_int_equal (ex_lease_handle_confirm (lease, ca, size, 16800), 1);
    free (ca);
    assert_int_equal (ex_lease_pending_count (fx->state), 0);
    assert_int_equal (ex_lease_reemit (lease, 100000), 0);
    ex_lease_destroy (&lease);

    /* without an emit function (--once) an expired lease stays pending for the next run */
    cfg.emit = NULL;
    lease = ex_lease_new (NULL, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    stage (fx, b, 20000);
    assert_int_equal (ex_lease_reemit (lease, 900000), 0);
    assert_int_equal (ex_lease_pending_count (fx->state), 1);
    cm_envelope_destroy (&a);
    cm_envelope_destroy (&b);
    ex_lease_destroy (&lease);
}

static void
test_thread_reads_confirmations (void **state)
{
    fx_t *fx = *state;
    char err[256], ep[300];
    snprintf (ep, sizeof ep, "ipc://%s/confirm", fx->dir);
    void *ctx = zmq_ctx_new ();
    void *pub = zmq_socket (ctx, ZMQ_PUB);
    assert_int_equal (zmq_bind (pub, ep), 0);
    ex_lease_config_t cfg = {"ACME_PRD", ep, 60000, 0, capture, fx, NULL};
    ex_lease_t *lease = ex_lease_new (ctx, fx->state, &cfg, err, sizeof err);
    assert_non_null (lease);
    assert_int_equal (ex_lease_start (lease), 0);
    cm_envelope_t *a = vendor ("V1", "A");
    stage (fx, a, 1000);
    size_t size = 0;
    char *ca = confirm_of (a, "ACME_PRD", CM_OUTCOME_LOADED, &size);
    /* PUB drops until the subscription arrived: publish until it lands (bounded) */
    for (int i = 0; i < 100 && ex_lease_confirmed (lease) == 0; i++) {
        zmq_send (pub, "ACME_PRD", 8, ZMQ_SNDMORE);
        zmq_send (pub, ca, size, 0);
        usleep (50 * 1000);
    }
    free (ca);
    assert_int_equal (ex_lease_confirmed (lease), 1);
    assert_int_equal (ex_lease_pending_count (fx->state), 0);
    ex_lease_destroy (&lease);
    int zero = 0;
    zmq_setsockopt (pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (pub);
    zmq_ctx_term (ctx);
    cm_envelope_destroy (&a);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_pending_and_confirm, setup, teardown),
        cmocka_unit_test_setup_teardown (test_confirm_batch, setup, teardown),
        cmocka_unit_test_setup_teardown (test_inflight_index, setup, teardown),
        cmocka_unit_test_setup_teardown (test_reemit_after_lease_when_quiet, setup, teardown),
        cmocka_unit_test_setup_teardown (test_thread_reads_confirmations, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
