/*  cm_daemon: security policy, metrics server, samplers, peer watches and the health
    subcommand shared by every process. See cm_daemon.h. */
#include "cm_daemon.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "cm_log.h"
#include "cm_zauth.h"
#include "cm_zpeers.h"

#define MAX_HOOKS 8    /* samplers, health checks and peer watches, each */
#define TICK_MS   200  /* the thread's poll period */
#define SAMPLE_MS 1000 /* samplers run this often */

typedef struct {
    cm_daemon_sample_fn *fn; /* sampler */
    void *arg;               /* its argument */
} sampler_t;

typedef struct {
    cm_health_fn *fn; /* health check */
    void *arg;        /* its argument */
} check_t;

typedef struct {
    cm_zpeers_t *peers;     /* the socket's connected peers (events read by the thread) */
    char name[64];          /* watch name, for the gauge label and health reason */
    cm_metric_t *gauge;     /* mlc_peers_connected{peer=name} */
    atomic_llong last_seen; /* monotonic seconds when a peer was last connected */
    int required_after_s;   /* unhealthy after this long without peers (0: never) */
} watch_t;

struct cm_daemon_t {
    void *ctx;                     /* ZeroMQ context (not owned), or NULL */
    cm_zauth_t *auth;              /* security policy (owned) */
    cm_metrics_t *metrics;         /* registry and server (owned), NULL for a client */
    cm_metric_t *zap_denied;       /* mlc_zap_denied_total */
    sampler_t samplers[MAX_HOOKS]; /* samplers */
    int sampler_count;             /* used entries */
    check_t checks[MAX_HOOKS];     /* health checks */
    int check_count;               /* used entries */
    watch_t watches[MAX_HOOKS];    /* peer watches */
    int watch_count;               /* used entries */
    pthread_t thread;              /* sampler and monitor thread */
    bool thread_started;           /* thread is running */
    atomic_bool stop;              /* asks the thread to end */
    pthread_mutex_t lock;          /* guards adding watches while the thread runs */
};

static long long
s_now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

static int
s_health (void *arg, char *why, size_t why_cap)
{
    cm_daemon_t *self = arg;
    for (int i = 0; i < self->check_count; i++)
        if (self->checks[i].fn (self->checks[i].arg, why, why_cap) != 0)
            return -1;
    long long now = s_now_s ();
    for (int i = 0; i < self->watch_count; i++) {
        watch_t *w = &self->watches[i];
        if (w->required_after_s <= 0 || cm_zpeers_connected (w->peers) > 0)
            continue;
        if (now - atomic_load (&w->last_seen) >= w->required_after_s) {
            snprintf (why, why_cap, "no %s peer connected for %lld s", w->name,
                      now - atomic_load (&w->last_seen));
            return -1;
        }
    }
    return 0;
}

//  Reads a watch's monitor events and updates its gauge.
static void
s_watch_read (watch_t *w)
{
    int connected = cm_zpeers_read (w->peers);
    if (connected > 0)
        atomic_store (&w->last_seen, s_now_s ());
    cm_metric_set (w->gauge, connected);
}

static void *
s_thread (void *arg)
{
    cm_daemon_t *self = arg;
    long long next_sample = 0;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t items[MAX_HOOKS];
        pthread_mutex_lock (&self->lock);
        int n = self->watch_count;
        for (int i = 0; i < n; i++)
            items[i] =
                (zmq_pollitem_t){cm_zpeers_socket (self->watches[i].peers), 0, ZMQ_POLLIN, 0};
        pthread_mutex_unlock (&self->lock);
        if (n > 0) {
            if (zmq_poll (items, n, TICK_MS) > 0)
                for (int i = 0; i < n; i++)
                    if (items[i].revents & ZMQ_POLLIN)
                        s_watch_read (&self->watches[i]);
        } else
            usleep (TICK_MS * 1000);
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        long long now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now_ms >= next_sample) {
            next_sample = now_ms + SAMPLE_MS;
            if (self->auth)
                cm_metric_set (self->zap_denied, (int64_t)cm_zauth_denied (self->auth));
            for (int i = 0; i < self->sampler_count; i++)
                self->samplers[i].fn (self->samplers[i].arg);
        }
    }
    return NULL;
}

static cm_daemon_t *
s_new (void *ctx, const cm_config_t *cfg, char *err, size_t err_cap)
{
    cm_daemon_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->ctx = ctx;
    pthread_mutex_init (&self->lock, NULL);
    if (ctx) {
        self->auth = cm_zauth_new (ctx, cfg, err, err_cap);
        if (!self->auth) {
            pthread_mutex_destroy (&self->lock);
            free (self);
            return NULL;
        }
        cm_zsock_set_auth (self->auth);
    }
    return self;
}

cm_daemon_t *
cm_daemon_client_new (void *ctx, const cm_config_t *cfg, char *err, size_t err_cap)
{
    return s_new (ctx, cfg, err, err_cap);
}

cm_daemon_t *
cm_daemon_new (const char *process, void *ctx, const cm_config_t *cfg, char *err, size_t err_cap)
{
    cm_daemon_t *self = s_new (ctx, cfg, err, err_cap);
    if (!self)
        return NULL;
    self->metrics = cm_metrics_new (process);
    if (!self->metrics) {
        snprintf (err, err_cap, "out of memory");
        goto fail;
    }
    self->zap_denied = cm_metrics_counter (self->metrics, "zap_denied_total",
                                           "ZeroMQ connections refused by the ZAP allowlist", NULL);
    cm_metrics_set_health (self->metrics, s_health, self);
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0) {
        snprintf (err, err_cap, "cannot start the metrics sampler thread");
        goto fail;
    }
    self->thread_started = true;
    const char *listen = cm_config_str (cfg, "metrics.listen");
    if (listen && *listen) {
        char why[256];
        if (cm_metrics_listen (self->metrics, listen, why, sizeof why) != 0) {
            snprintf (err, err_cap, "metrics.listen %.200s: %s", listen, why);
            goto fail;
        }
        char host[128];
        snprintf (host, sizeof host, "%s", listen);
        char *colon = strrchr (host, ':');
        if (colon)
            *colon = '\0';
        cm_info ("MLC_METRICS", "listen=%s:%d", host, cm_metrics_port (self->metrics));
    }
    return self;
fail:
    cm_daemon_destroy (&self);
    return NULL;
}

void
cm_daemon_stop (cm_daemon_t *self)
{
    if (!self)
        return;
    atomic_store (&self->stop, true);
    if (self->thread_started)
        pthread_join (self->thread, NULL);
    self->thread_started = false;
}

void
cm_daemon_destroy (cm_daemon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_daemon_t *self = *self_p;
    cm_daemon_stop (self);
    cm_metrics_destroy (&self->metrics);
    for (int i = 0; i < self->watch_count; i++)
        cm_zpeers_destroy (&self->watches[i].peers);
    if (self->auth) {
        if (cm_zsock_get_auth () == self->auth)
            cm_zsock_set_auth (NULL);
        cm_zauth_destroy (&self->auth);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

cm_metrics_t *
cm_daemon_metrics (cm_daemon_t *self)
{
    return self ? self->metrics : NULL;
}

int
cm_daemon_add_sampler (cm_daemon_t *self, cm_daemon_sample_fn *fn, void *arg)
{
    if (!self || !fn || self->sampler_count >= MAX_HOOKS)
        return -1;
    //  The thread reads sampler_count; the entry is written first.
    pthread_mutex_lock (&self->lock);
    self->samplers[self->sampler_count] = (sampler_t){fn, arg};
    self->sampler_count++;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
cm_daemon_add_health (cm_daemon_t *self, cm_health_fn *fn, void *arg)
{
    if (!self || !fn || self->check_count >= MAX_HOOKS)
        return -1;
    pthread_mutex_lock (&self->lock);
    self->checks[self->check_count] = (check_t){fn, arg};
    self->check_count++;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
cm_daemon_watch_peers (cm_daemon_t *self, void *sock, const char *name, int required_after_s)
{
    if (!self || !self->ctx || !self->metrics || !sock || self->watch_count >= MAX_HOOKS)
        return -1;
    cm_zpeers_t *peers = cm_zpeers_new (self->ctx, sock);
    if (!peers)
        return -1;
    pthread_mutex_lock (&self->lock);
    watch_t *w = &self->watches[self->watch_count];
    w->peers = peers;
    snprintf (w->name, sizeof w->name, "%s", name);
    char labels[128];
    snprintf (labels, sizeof labels, "peer=\"%s\"", w->name);
    w->gauge = cm_metrics_gauge (self->metrics, "peers_connected",
                                 "ZeroMQ peers connected (handshake done) per link", labels);
    atomic_init (&w->last_seen, s_now_s ());
    w->required_after_s = required_after_s;
    self->watch_count++;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
cm_daemon_health_command (const cm_config_t *cfg, const char *process)
{
    const char *listen = cm_config_str (cfg, "metrics.listen");
    if (!listen || !*listen) {
        fprintf (stderr, "mlc-%s health: metrics.listen is not set\n", process);
        return 1;
    }
    char why[256];
    if (cm_metrics_probe (listen, why, sizeof why) != 0) {
        fprintf (stderr, "mlc-%s health: unhealthy: %s\n", process, why);
        return 1;
    }
    printf ("mlc-%s health: ok\n", process);
    return 0;
}

#ifdef MLC_JEMALLOC
/*  jemalloc reads its options from this symbol of the executable, then from MALLOC_CONF:
    one arena (a daemon's threads allocate little besides its main thread and RocksDB),
    and unused pages go back to the system after a second instead of ten. */
const char *malloc_conf = "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0";
#endif

void
cm_daemon_tune_memory (void)
{
#ifndef MLC_JEMALLOC
    if (!getenv ("MALLOC_ARENA_MAX"))
        mallopt (M_ARENA_MAX, 1);
#endif
}
