/*  ld_workers: the pool of call threads. See ld_workers.h. */
#include "ld_workers.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LD_WORKERS_MAX 256 /* threads at most */

//  A FIFO of jobs, linked through small nodes so a job needs no link field.
typedef struct node_t {
    void *job;           /* the job */
    struct node_t *next; /* next in the queue */
} node_t;

typedef struct {
    node_t *head; /* oldest */
    node_t *tail; /* newest */
    size_t count; /* jobs in it */
} queue_t;

typedef struct {
    ld_workers_t *pool; /* back pointer */
    pthread_t thread;   /* the thread */
    cm_http_t *http;    /* its client */
    bool started;       /* the thread runs (join it) */
} worker_t;

struct ld_workers_t {
    pthread_mutex_t lock; /* guards the queues and counts */
    pthread_cond_t wake;  /* a job was queued or the pool stops */
    queue_t todo;         /* submitted, not started */
    queue_t done;         /* finished, not taken */
    size_t running;       /* jobs being worked on */
    bool stopping;        /* threads exit when the queue is empty */
    int pipe_r;           /* readable while done jobs wait */
    int pipe_w;           /* a byte per finished job */
    ld_work_fn *work;     /* what a worker does */
    void *arg;            /* its argument */
    worker_t *workers;    /* the threads */
    size_t count;         /* their number */
};

static int
s_push (queue_t *q, void *job)
{
    node_t *node = malloc (sizeof *node);
    if (!node)
        return -1;
    node->job = job;
    node->next = NULL;
    if (q->tail)
        q->tail->next = node;
    else
        q->head = node;
    q->tail = node;
    q->count++;
    return 0;
}

static void *
s_pop (queue_t *q)
{
    node_t *node = q->head;
    if (!node)
        return NULL;
    q->head = node->next;
    if (!q->head)
        q->tail = NULL;
    q->count--;
    void *job = node->job;
    free (node);
    return job;
}

static void *
s_run (void *arg)
{
    worker_t *w = arg;
    ld_workers_t *pool = w->pool;
    pthread_mutex_lock (&pool->lock);
    while (true) {
        void *job = s_pop (&pool->todo);
        if (!job) {
            if (pool->stopping)
                break;
            pthread_cond_wait (&pool->wake, &pool->lock);
            continue;
        }
        pool->running++;
        pthread_mutex_unlock (&pool->lock);
        pool->work (job, w->http, pool->arg);
        pthread_mutex_lock (&pool->lock);
        pool->running--;
        //  Out of memory for the node: keep the job and retry the push after a nap, so a
        //  finished job is never lost
        while (s_push (&pool->done, job) != 0) {
            pthread_mutex_unlock (&pool->lock);
            usleep (10000);
            pthread_mutex_lock (&pool->lock);
        }
        ssize_t rc;
        do
            rc = write (pool->pipe_w, "j", 1);
        while (rc < 0 && errno == EINTR);
        //  EAGAIN: the pipe is full of wake-ups already, the loader will look
    }
    pthread_mutex_unlock (&pool->lock);
    return NULL;
}

ld_workers_t *
ld_workers_new (size_t n, ld_work_fn *work, void *arg, size_t max_body, long timeout_ms, char *err,
                size_t err_cap)
{
    assert (work);
    if (n < 1 || n > LD_WORKERS_MAX) {
        snprintf (err, err_cap, "worker count %zu out of 1..%d", n, LD_WORKERS_MAX);
        return NULL;
    }
    ld_workers_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    self->pipe_r = self->pipe_w = -1;
    self->work = work;
    self->arg = arg;
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf (err, err_cap, "pipe: %s", strerror (errno));
        goto fail;
    }
    self->pipe_r = fds[0];
    self->pipe_w = fds[1];
    self->workers = calloc (n, sizeof *self->workers);
    if (!self->workers) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->count = n;
    for (size_t i = 0; i < n; i++) {
        worker_t *w = &self->workers[i];
        w->pool = self;
        w->http = cm_http_new (max_body, timeout_ms);
        if (!w->http) {
            snprintf (err, err_cap, "cannot create an HTTP client");
            goto fail;
        }
        if (pthread_create (&w->thread, NULL, s_run, w) != 0) {
            snprintf (err, err_cap, "cannot start a worker thread");
            goto fail;
        }
        w->started = true;
    }
    return self;
fail:
    ld_workers_destroy (&self, NULL);
    return NULL;
}

void
ld_workers_destroy (ld_workers_t **self_p, void (*discard) (void *job))
{
    if (!self_p || !*self_p)
        return;
    ld_workers_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stopping = true;
    //  Jobs that never started are handed back now rather than run
    void *job;
    while ((job = s_pop (&self->todo)))
        if (discard)
            discard (job);
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->lock);
    for (size_t i = 0; i < self->count; i++)
        if (self->workers[i].started)
            pthread_join (self->workers[i].thread, NULL);
    while ((job = s_pop (&self->done)))
        if (discard)
            discard (job);
    for (size_t i = 0; i < self->count; i++)
        cm_http_destroy (&self->workers[i].http);
    free (self->workers);
    if (self->pipe_r >= 0)
        close (self->pipe_r);
    if (self->pipe_w >= 0)
        close (self->pipe_w);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

size_t
ld_workers_idle (const ld_workers_t *self)
{
    assert (self);
    ld_workers_t *pool = (ld_workers_t *)self; //  the lock is not part of the value
    pthread_mutex_lock (&pool->lock);
    size_t taken = self->running + self->todo.count;
    pthread_mutex_unlock (&pool->lock);
    return taken >= self->count ? 0 : self->count - taken;
}

size_t
ld_workers_busy (const ld_workers_t *self)
{
    assert (self);
    ld_workers_t *pool = (ld_workers_t *)self;
    pthread_mutex_lock (&pool->lock);
    size_t busy = self->running + self->todo.count + self->done.count;
    pthread_mutex_unlock (&pool->lock);
    return busy;
}

int
ld_workers_submit (ld_workers_t *self, void *job)
{
    assert (self && job);
    pthread_mutex_lock (&self->lock);
    int rc = self->stopping ? -1 : s_push (&self->todo, job);
    if (rc == 0)
        pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void *
ld_workers_take (ld_workers_t *self)
{
    assert (self);
    char drain[64];
    //  Empty the wake-up pipe first: a job finishing after this leaves a new byte
    while (read (self->pipe_r, drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock (&self->lock);
    void *job = s_pop (&self->done);
    pthread_mutex_unlock (&self->lock);
    return job;
}

int
ld_workers_fd (const ld_workers_t *self)
{
    assert (self);
    return self->pipe_r;
}
