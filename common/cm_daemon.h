/*  cm_daemon: the operations wiring every process shares: the ZeroMQ security policy
    (cm_zauth, applied to every cm_zsock_new), the metrics registry with its /metrics and
    /health server (metrics.listen; "" = off), a sampler thread that refreshes gauges once a
    second, ZAP denial counting, and the `health` subcommand.
    Order: zmq_ctx_new, cm_daemon_new, sockets ..., close sockets, cm_daemon_destroy,
    zmq_ctx_term. */
#ifndef CM_DAEMON_H
#define CM_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "cm_config.h"
#include "cm_metrics.h"

typedef struct cm_daemon_t cm_daemon_t;

/*  Called by the sampler thread about once a second: sets gauges from the process's own
    state. Runs on that thread: thread-safe reads only. */
typedef void (cm_daemon_sample_fn) (void *arg);

/*  Caps glibc's malloc arenas at one (unless MALLOC_ARENA_MAX is set in the environment):
    with an arena per thread (ZeroMQ I/O, RocksDB background, HTTP workers) a daemon's peak
    RSS grows by tens of MiB of mostly idle pools. Call first in main, before any thread.
    Built with jemalloc (the default, see the Makefile) this does nothing: cm_daemon.c
    gives jemalloc the same one-arena setting through its malloc_conf symbol. */
void cm_daemon_tune_memory (void);

/*  Sets up the security policy on ctx and, when metrics.listen is set, starts the metrics
    server (logs event=MLC_METRICS listen=HOST:PORT). ctx may be NULL (no ZeroMQ: metrics only).
    Returns NULL with the reason in err. */
cm_daemon_t *cm_daemon_new (const char *process, void *ctx, const cm_config_t *cfg, char *err,
                            size_t err_cap);

/*  Stops the sampler thread (samplers are no longer called). Call before destroying what a
    sampler reads. Accepts NULL; idempotent. */
void cm_daemon_stop (cm_daemon_t *self);

/*  Stops the sampler and the metrics server, removes the socket policy and stops the ZAP
    handler; sets *self_p to NULL. Call after every socket is closed, before zmq_ctx_term. */
void cm_daemon_destroy (cm_daemon_t **self_p);

/*  The registry (never NULL for a live daemon), to register counters and gauges. */
cm_metrics_t *cm_daemon_metrics (cm_daemon_t *self);

/*  Adds a sampler (at most 8). Call before the process starts its work. */
int cm_daemon_add_sampler (cm_daemon_t *self, cm_daemon_sample_fn *fn, void *arg);

/*  Adds a health check (at most 8); /health is 200 when every check returns 0. */
int cm_daemon_add_health (cm_daemon_t *self, cm_health_fn *fn, void *arg);

/*  Watches sock's connections (cm_zpeers, read by the daemon's thread): a counter tracks
    how many peers are connected (handshake done). `name` names it in the peers_connected
    gauge and in the health reason. When required_after_s > 0, the process is unhealthy once
    no peer has been connected for that many seconds. Returns 0 or -1. At most 8 watches.
    Close a watched socket with cm_zsock_destroy, which stops its monitor first. */
int cm_daemon_watch_peers (cm_daemon_t *self, void *sock, const char *name, int required_after_s);

/*  Just the security policy, for command-line clients (rp_cli, tf_cli, mlc-ztool): same as
    cm_zauth_new + cm_zsock_set_auth. Destroy with cm_daemon_client_destroy. */
cm_daemon_t *cm_daemon_client_new (void *ctx, const cm_config_t *cfg, char *err, size_t err_cap);
#define cm_daemon_client_destroy cm_daemon_destroy

/*  The `health` subcommand: probes metrics.listen of cfg and prints the answer. Returns the
    exit status: 0 healthy, 1 unhealthy or unreachable or metrics.listen unset. */
int cm_daemon_health_command (const cm_config_t *cfg, const char *process);

#endif
