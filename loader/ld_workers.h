/*  ld_workers: a fixed pool of threads that run the loader's Salesforce calls, so several
    calls are in flight while the loader's own thread keeps reading its sockets.

    Why threads and not curl multi: a job here is not one request but a sequence with
    decisions between the steps (a token fetch or renewal, a retried call after a 401, the
    five to ten calls of a Bulk API job with polling and backoff). As blocking code on a
    thread each sequence reads top to bottom and reuses sf_org and cm_http unchanged;
    curl multi would turn every sequence into a state machine. The number of calls in
    flight is small (salesforce.max_in_flight, a handful), so threads cost nothing worth
    saving, and Salesforce's own limit (25 long calls per org) is far above it.

    Ownership: the loader's thread owns every job until ld_workers_submit; a worker owns it
    while it runs work(job, http, arg); then it waits in the done queue until the loader's
    thread takes it back with ld_workers_take. Each worker has its own cm_http_t (curl
    handles are not shared between threads). ld_workers_fd is a file descriptor that is
    readable while finished jobs wait, so the loader can zmq_poll it with its sockets. */
#ifndef LD_WORKERS_H
#define LD_WORKERS_H

#include <stddef.h>

#include "cm_http.h"

typedef struct ld_workers_t ld_workers_t;

/*  Runs one job on a worker thread through that worker's HTTP client. */
typedef void (ld_work_fn) (void *job, cm_http_t *http, void *arg);

/*  Starts n (>= 1) workers running work(job, http, arg); each gets an HTTP client with
    max_body and timeout_ms. Returns NULL with the reason in err. */
ld_workers_t *ld_workers_new (size_t n, ld_work_fn *work, void *arg, size_t max_body,
                              long timeout_ms, char *err, size_t err_cap);

/*  Waits for the running jobs to end, stops the threads and frees the pool; jobs still
    queued or done and not taken are handed to discard (when not NULL). Sets *self_p to NULL.
    Accepts NULL. */
void ld_workers_destroy (ld_workers_t **self_p, void (*discard) (void *job));

/*  Number of workers not running or about to run a job (0: submit would queue). */
size_t ld_workers_idle (const ld_workers_t *self);

/*  Number of jobs submitted and not yet taken back. */
size_t ld_workers_busy (const ld_workers_t *self);

/*  Hands a job to the pool (never blocks; it waits for a free worker when none is idle).
    Returns 0, or -1 when the pool is stopping. */
int ld_workers_submit (ld_workers_t *self, void *job);

/*  Takes one finished job back, or NULL when none is waiting. */
void *ld_workers_take (ld_workers_t *self);

/*  A descriptor readable while finished jobs wait (for zmq_poll). */
int ld_workers_fd (const ld_workers_t *self);

#endif
