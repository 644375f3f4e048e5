/*  tf_ops: the transformer's metrics and health on cm_daemon: records in and out, skipped,
    errors by class (rejected, bad message, unsent, store), sampled once a second from
    cm_daemon's thread. With a memory (RocksDB) it wraps the memory's callbacks to watch the
    commits: the process is unhealthy while its last commit failed. With a loop, it watches
    the loop's peers (zmq_socket_monitor through cm_daemon_watch_peers): loaders on the load
    socket, the replayer on the events socket, extractors on the extract socket, each in
    mlc_peers_connected{peer=...}; the process is unhealthy once one of these links has had
    no peer for peer_grace_s (0: never). */
#ifndef TF_OPS_H
#define TF_OPS_H

#include "cm_daemon.h"
#include "tf_loop.h"

typedef struct tf_ops_t tf_ops_t;

/*  Registers the metrics, the sampler and the health checks. loop (may be NULL: no loop
    counters, no peers watched) must outlive the daemon. mem, when not NULL, is the memory's
   callback table the loop borrowed: its entries are replaced in place by wrappers that forward to
   the original ones (so call this before the loop runs). NULL on OOM (mem is then unchanged). */
tf_ops_t *tf_ops_new (cm_daemon_t *daemon, tf_loop_t *loop, tf_memory_ops_t *mem, int peer_grace_s);

/*  Frees it (after cm_daemon_destroy); sets *self_p to NULL. Accepts NULL. */
void tf_ops_destroy (tf_ops_t **self_p);

#endif
