/*  rp_daemon: the replayer's run loop.

    Binds three ZeroMQ sockets: PULL on the events endpoint (cm_event messages from every
    stage), PUSH on the replay endpoint (loaders connect; replays are the exact stored
    envelope bytes) and REP on the control endpoint (operator commands from the CLI, one
    JSON request -> one JSON reply, see below). Every event goes to rp_store; a message
    that does not decode is logged (RPL_BAD_EVENT, with the reason), counted and dropped.
    Writes are committed after each burst of messages (at most RP_STORE_BATCH_MAX events
    per commit). Every stats_interval_ms an RPL_STATS line is logged.

    Audit retention: with audit_retention_ms > 0, every second one bounded step
    (rp_daemon_retention_tick) removes audit entries older than that, sweeping the audit in
    key order; after a whole sweep it rests for a minute (or the retention, if shorter).
    Dead letters and the audit of records with an open dead letter are never removed.

    Replays are queued (at most RP_DAEMON_REPLAY_QUEUE_MAX) and sent at most replay_rate
    per second, so a replay cannot exhaust the Salesforce API allowance; while no loader is
    connected or the loaders' queues are full, they wait. Each sent replay is audited
    ("replayed") on its dead letter, which stays open until a LOADED event resolves it.

    Automatic redrive: a dead letter whose error class is "retryable" (missing parent,
    paused org, ...) is queued again once redrive_base_ms * 2^(tries-1) (at most
    redrive_max_ms) has passed since its last failure, until it has tried redrive_max
    times; then it waits for an operator. A replay with no outcome yet (no failure since:
    lost with a loader killed before it loaded it, or slow) counts as a try that failed at
    the replay's time, so a lost replay is redriven after the same backoff instead of
    waiting for an outcome that never comes; tries = failures + unanswered replays. The
    scan runs every few seconds while the replay queue is empty.

    Control requests (JSON objects):
      {"cmd":"ping"}                                       -> {"ok":true}
      {"cmd":"stats"}                                      -> {"ok":true,"stats":{...},
                                                               "replay_queue":N}
      {"cmd":"replay","ids":["ID",...]}                    -> {"ok":true,"queued":N,
                                                               "missing":[...]}
      {"cmd":"replay","all":true[,"tenant","entity","code","text","since_ms","until_ms"]}
      {"cmd":"purge","id":"ID","reason":"TEXT"}            -> {"ok":true}
    Errors: {"ok":false,"error":"..."}.

    Confirmations (docs/delivery.md): after a commit, each final outcome it stored (loaded,
    failed, rejected, skipped) is published on the PUB confirm endpoint as a cm_confirm
    (topic = tenant), so the extractor can drop its pending entry. Never before the commit.

    Shutdown: on SIGTERM/SIGINT (cm_signal) the loop reads what is already queued on the
    events socket, commits, and returns 0. A storage error stops the loop with -1 (the
    process must exit non-zero): an event is never dropped silently. */
#ifndef RP_DAEMON_H
#define RP_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_config.h"
#include "rp_store.h"

#define RP_DAEMON_REPLAY_QUEUE_MAX 1000000 /* replays waiting at most */
#define RP_DAEMON_CONTROL_MAX      65536   /* bytes of one control request at most */

typedef struct {
    const char *data_dir;         /* the store lives in data_dir/replayer */
    const char *events_endpoint;  /* PULL, bound */
    const char *replay_endpoint;  /* PUSH, bound */
    const char *control_endpoint; /* REP, bound; NULL or "" = no control socket */
    const char *confirm_endpoint; /* PUB, bound; NULL or "" = no confirmations */
    int hwm;                      /* ZeroMQ high-water mark */
    int stats_interval_ms;        /* RPL_STATS period; 0 = 10000 */
    int replay_rate;              /* replays per second; 0 = 50 */
    int64_t redrive_base_ms;      /* first automatic redrive delay; 0 = 30000, < 0 = off */
    int64_t redrive_max_ms;       /* longest redrive delay; 0 = 3600000 */
    int redrive_max;              /* failures after which a dead letter waits for an
                                     operator; 0 = 8 */
    int64_t audit_retention_ms;   /* audit entries older than this are removed; 0 = keep
                                     forever (replayer.audit_retention_days) */
    const cm_config_t *ops;       /* ZeroMQ security and metrics settings (cm_daemon);
                                     NULL = plaintext, no metrics */
} rp_daemon_config_t;

typedef struct rp_daemon_t rp_daemon_t;

/*  Opens the store (creating data_dir and data_dir/replayer when missing) and binds the
    sockets. NULL with a message in err (naming the path or endpoint). */
rp_daemon_t *rp_daemon_new (const rp_daemon_config_t *config, char *err, size_t err_cap);

/*  Commits, closes the sockets and the store; sets *self_p to NULL. Accepts NULL. */
void rp_daemon_destroy (rp_daemon_t **self_p);

/*  Runs until a stop is requested (cm_signal): 0 after a clean stop, -1 after a storage
    or socket error (logged as RPL_STORE_ERROR / RPL_SOCKET_ERROR). */
int rp_daemon_run (rp_daemon_t *self);

/*  Handles one events-socket message (untrusted bytes): 0 when stored or counted as bad,
    -1 on a storage error. */
int rp_daemon_handle_event (rp_daemon_t *self, const void *data, size_t size);

/*  Handles one control request (untrusted bytes); returns the reply JSON text (caller
    frees), NULL only on OOM. Never fails on bad input: answers {"ok":false,...}. */
char *rp_daemon_handle_control (rp_daemon_t *self, const void *data, size_t size);

/*  Sends queued replays allowed by the rate at monotonic time now_ms. Returns the number
    sent, or -1 on a storage error. */
int rp_daemon_replay_tick (rp_daemon_t *self, int64_t now_ms);

/*  One bounded step of audit retention at wall-clock time now_ms: removes audit entries
    older than the retention (rp_store_expire_audit, at most a few ten thousand entries
    looked at), commits, logs RPL_AUDIT_EXPIRED when it removed any. *wrapped is set when
    a whole sweep of the audit is done (the loop then rests before the next one). Returns
    the number removed (0 when retention is off), or -1 on a storage error. */
int rp_daemon_retention_tick (rp_daemon_t *self, int64_t now_ms, bool *wrapped);

/*  Queues the retryable dead letters due at wall-clock time now_ms (see above). Returns
    the number queued, or -1 on a storage error. */
int rp_daemon_redrive_scan (rp_daemon_t *self, int64_t now_ms);

/*  Replays waiting in the queue. */
size_t rp_daemon_replay_queued (const rp_daemon_t *self);

/*  Commits the store (fsync when sync) and then publishes the confirmations of the final
    outcomes it held. 0, or -1 on a storage error (nothing is published then). */
int rp_daemon_commit (rp_daemon_t *self, bool sync);

/*  Confirmations stored but not yet published (waiting for a commit). */
size_t rp_daemon_confirms_waiting (const rp_daemon_t *self);

/*  The daemon's store (borrowed), for tests. */
rp_store_t *rp_daemon_store (rp_daemon_t *self);

#endif
