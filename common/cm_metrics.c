/*  cm_metrics: Prometheus text metrics and /health on libmicrohttpd. See cm_metrics.h. */
#include "cm_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_http.h"

typedef enum { METRIC_COUNTER, METRIC_GAUGE } metric_type_t;

struct cm_metric_t {
    char name[96];         /* full name, with the mlc_ prefix */
    char help[160];        /* HELP text */
    char labels[256];      /* label list without braces, or "" */
    metric_type_t type;    /* counter or gauge */
    _Atomic int64_t value; /* current value */
};

struct cm_metrics_t {
    char process[32];          /* process label value */
    pthread_mutex_t lock;      /* guards count and registration */
    cm_metric_t *metrics;      /* CM_METRICS_MAX slots */
    size_t count;              /* slots in use */
    cm_health_fn *health;      /* health callback or NULL */
    void *health_arg;          /* its argument */
    struct MHD_Daemon *daemon; /* the server, or NULL */
    int port;                  /* bound port */
};

cm_metrics_t *
cm_metrics_new (const char *process)
{
    cm_metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->metrics = calloc (CM_METRICS_MAX, sizeof *self->metrics);
    if (!self->metrics) {
        free (self);
        return NULL;
    }
    snprintf (self->process, sizeof self->process, "%s", process);
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
cm_metrics_destroy (cm_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_metrics_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    pthread_mutex_destroy (&self->lock);
    free (self->metrics);
    free (self);
    *self_p = NULL;
}

static cm_metric_t *
s_register (cm_metrics_t *self, metric_type_t type, const char *name, const char *help,
            const char *labels)
{
    char full[96];
    snprintf (full, sizeof full, "mlc_%s", name);
    if (!labels)
        labels = "";
    cm_metric_t *found = NULL;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->count && !found; i++)
        if (strcmp (self->metrics[i].name, full) == 0 &&
            strcmp (self->metrics[i].labels, labels) == 0)
            found = &self->metrics[i];
    if (!found && self->count < CM_METRICS_MAX) {
        found = &self->metrics[self->count];
        snprintf (found->name, sizeof found->name, "%s", full);
        snprintf (found->help, sizeof found->help, "%s", help ? help : "");
        snprintf (found->labels, sizeof found->labels, "%s", labels);
        found->type = type;
        atomic_store (&found->value, 0);
        self->count++;
    }
    pthread_mutex_unlock (&self->lock);
    return found;
}

cm_metric_t *
cm_metrics_counter (cm_metrics_t *self, const char *name, const char *help, const char *labels)
{
    return s_register (self, METRIC_COUNTER, name, help, labels);
}

cm_metric_t *
cm_metrics_gauge (cm_metrics_t *self, const char *name, const char *help, const char *labels)
{
    return s_register (self, METRIC_GAUGE, name, help, labels);
}

void
cm_metric_add (cm_metric_t *metric, int64_t delta)
{
    if (metric)
        atomic_fetch_add_explicit (&metric->value, delta, memory_order_relaxed);
}

void
cm_metric_set (cm_metric_t *metric, int64_t value)
{
    if (metric)
        atomic_store_explicit (&metric->value, value, memory_order_relaxed);
}

int64_t
cm_metric_get (const cm_metric_t *metric)
{
    return metric ? atomic_load_explicit (&((cm_metric_t *)metric)->value, memory_order_relaxed)
                  : 0;
}

void
cm_metrics_set_health (cm_metrics_t *self, cm_health_fn *fn, void *arg)
{
    pthread_mutex_lock (&self->lock);
    self->health = fn;
    self->health_arg = arg;
    pthread_mutex_unlock (&self->lock);
}

/*  A growing text buffer for rendering. */
typedef struct {
    char *data;  /* text */
    size_t len;  /* used */
    size_t cap;  /* allocated */
    bool failed; /* an allocation failed */
} textbuf_t;

static void s_appendf (textbuf_t *tb, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_appendf (textbuf_t *tb, const char *fmt, ...)
{
    if (tb->failed)
        return;
    for (;;) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (tb->data + tb->len, tb->cap - tb->len, fmt, ap);
        va_end (ap);
        if (n < 0) {
            tb->failed = true;
            return;
        }
        if ((size_t)n < tb->cap - tb->len) {
            tb->len += (size_t)n;
            return;
        }
        size_t cap = tb->cap * 2 + (size_t)n;
        char *grown = realloc (tb->data, cap);
        if (!grown) {
            tb->failed = true;
            return;
        }
        tb->data = grown;
        tb->cap = cap;
    }
}

char *
cm_metrics_render (cm_metrics_t *self)
{
    textbuf_t tb = {.data = malloc (4096), .cap = 4096};
    if (!tb.data)
        return NULL;
    tb.data[0] = '\0';
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->count; i++) {
        const cm_metric_t *m = &self->metrics[i];
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            if (strcmp (self->metrics[j].name, m->name) == 0)
                first = false;
        if (first) {
            s_appendf (&tb, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                       m->type == METRIC_COUNTER ? "counter" : "gauge");
            /* all samples of one name stay together, as Prometheus requires */
            for (size_t j = i; j < self->count; j++) {
                const cm_metric_t *s = &self->metrics[j];
                if (strcmp (s->name, m->name) != 0)
                    continue;
                s_appendf (&tb, "%s{process=\"%s\"%s%s} %lld\n", s->name, self->process,
                           s->labels[0] ? "," : "", s->labels,
                           (long long)atomic_load_explicit (&((cm_metric_t *)s)->value,
                                                            memory_order_relaxed));
            }
        }
    }
    pthread_mutex_unlock (&self->lock);
    if (tb.failed) {
        free (tb.data);
        return NULL;
    }
    return tb.data;
}

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned status, const char *type, char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer (strlen (body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free (body);
        return MHD_NO;
    }
    MHD_add_response_header (r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response (conn, status, r);
    MHD_destroy_response (r);
    return ret;
}

static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
              const char *version, const char *upload_data, size_t *upload_data_size,
              void **con_cls)
{
    cm_metrics_t *self = cls;
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        return s_reply (conn, 405, "text/plain", strdup ("method not allowed\n"));
    if (strcmp (url, "/metrics") == 0) {
        char *text = cm_metrics_render (self);
        return text ? s_reply (conn, 200, "text/plain; version=0.0.4", text) : MHD_NO;
    }
    if (strcmp (url, "/health") == 0) {
        char why[256] = "";
        pthread_mutex_lock (&self->lock);
        cm_health_fn *fn = self->health;
        void *arg = self->health_arg;
        pthread_mutex_unlock (&self->lock);
        int rc = fn ? fn (arg, why, sizeof why) : 0;
        char *body = malloc (300);
        if (!body)
            return MHD_NO;
        if (rc == 0)
            snprintf (body, 300, "ok\n");
        else
            snprintf (body, 300, "unhealthy: %s\n", why[0] ? why : "unknown");
        return s_reply (conn, rc == 0 ? 200 : 503, "text/plain", body);
    }
    return s_reply (conn, 404, "text/plain", strdup ("not found: try /metrics or /health\n"));
}

/*  Splits "HOST:PORT" into an IPv4 socket address. */
static int
s_parse_listen (const char *listen, struct sockaddr_in *sa, char *err, size_t err_cap)
{
    const char *colon = strrchr (listen, ':');
    char host[64];
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf (err, err_cap, "metrics listen address '%s': expected HOST:PORT", listen);
        return -1;
    }
    memcpy (host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf (err, err_cap, "metrics listen address '%s': bad port", listen);
        return -1;
    }
    memset (sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons ((uint16_t)port);
    if (inet_pton (AF_INET, strcmp (host, "localhost") == 0 ? "127.0.0.1" : host, &sa->sin_addr) !=
        1) {
        snprintf (err, err_cap, "metrics listen address '%s': host must be an IPv4 address",
                  listen);
        return -1;
    }
    return 0;
}

int
cm_metrics_listen (cm_metrics_t *self, const char *listen, char *err, size_t err_cap)
{
    struct sockaddr_in sa;
    if (s_parse_listen (listen, &sa, err, err_cap) != 0)
        return -1;
    self->daemon = MHD_start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, s_on_request, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (err, err_cap, "cannot serve metrics on %s (address in use or not allowed)",
                  listen);
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? (int)info->port : (int)ntohs (sa.sin_port);
    return 0;
}

int
cm_metrics_port (const cm_metrics_t *self)
{
    return self->daemon ? self->port : 0;
}

int
cm_metrics_probe (const char *listen, char *why, size_t why_cap)
{
    struct sockaddr_in sa;
    if (s_parse_listen (listen, &sa, why, why_cap) != 0)
        return -1;
    if (sa.sin_addr.s_addr == htonl (INADDR_ANY))
        sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    char host[INET_ADDRSTRLEN], url[128];
    inet_ntop (AF_INET, &sa.sin_addr, host, sizeof host);
    snprintf (url, sizeof url, "http://%s:%d/health", host, ntohs (sa.sin_port));
    cm_http_t *http = cm_http_new (4096, 5000);
    if (!http) {
        snprintf (why, why_cap, "out of memory");
        return -1;
    }
    cm_http_request_t req = {.method = "GET", .url = url};
    cm_http_response_t resp;
    int rc = cm_http_perform (http, &req, &resp);
    if (rc != 0)
        snprintf (why, why_cap, "%s: %s", url, resp.error);
    else if (resp.status != 200) {
        snprintf (why, why_cap, "%s: HTTP %ld %.*s", url, resp.status,
                  (int)(resp.body_len > 200 ? 200 : resp.body_len), resp.body ? resp.body : "");
        rc = -1;
    }
    cm_http_response_clear (&resp);
    cm_http_destroy (&http);
    return rc;
}
