/*  cm_metrics: Prometheus text metrics and a health endpoint, served by libmicrohttpd on
    its own thread. The process registers counters and gauges at start-up, updates them
    lock-free from any thread, and sets a health callback.

      GET /metrics  text/plain; version=0.0.4 — every metric, "# HELP" and "# TYPE" lines
      GET /health   200 "ok\n" when healthy, 503 "unhealthy: <reason>\n" otherwise
    Metric names get the prefix "mlc_" and every sample the label process="<name>". */
#ifndef CM_METRICS_H
#define CM_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cm_metrics_t cm_metrics_t;
typedef struct cm_metric_t cm_metric_t;

#define CM_METRICS_MAX 256 /* metrics (name + label set) per process */

/*  Called on every /health request, from the server thread: returns 0 when healthy, or -1
    with a short reason in why. Must be thread-safe (read atomics, not locked state). */
typedef int (cm_health_fn) (void *arg, char *why, size_t why_cap);

/*  Creates an empty registry for the named process ("loader"). NULL on OOM. */
cm_metrics_t *cm_metrics_new (const char *process);

/*  Stops the server if running and frees everything; sets *self_p to NULL. Accepts NULL. */
void cm_metrics_destroy (cm_metrics_t **self_p);

/*  Registers (or finds, when name and labels are equal) a counter or gauge. name is the
    metric name without the "mlc_" prefix ("records_in_total"); labels is NULL or a
    Prometheus label list without braces ('stage="load",class="retryable"'). Returns a
    handle owned by the registry, valid until cm_metrics_destroy; NULL when full. */
cm_metric_t *cm_metrics_counter (cm_metrics_t *self, const char *name, const char *help,
                                 const char *labels);
cm_metric_t *cm_metrics_gauge (cm_metrics_t *self, const char *name, const char *help,
                               const char *labels);

/*  Atomic updates; a NULL handle is ignored, so call sites need no checks. */
void cm_metric_add (cm_metric_t *metric, int64_t delta);
void cm_metric_set (cm_metric_t *metric, int64_t value);
int64_t cm_metric_get (const cm_metric_t *metric);

/*  Sets the health callback (NULL: always healthy). */
void cm_metrics_set_health (cm_metrics_t *self, cm_health_fn *fn, void *arg);

/*  Starts serving on listen ("0.0.0.0:9100", "127.0.0.1:0" picks a free port). Returns 0,
    or -1 with the reason in err. */
int cm_metrics_listen (cm_metrics_t *self, const char *listen, char *err, size_t err_cap);

/*  The bound port, 0 when not serving. */
int cm_metrics_port (const cm_metrics_t *self);

/*  Renders the /metrics text. Returns a malloc'd string (caller frees) or NULL. */
char *cm_metrics_render (cm_metrics_t *self);

/*  A health probe for container health checks: GET http://ADDR/health where ADDR is a
    listen address ("0.0.0.0:9100" is probed on 127.0.0.1). Returns 0 when it answered 200,
    -1 with the reason in why. */
int cm_metrics_probe (const char *listen, char *why, size_t why_cap);

#endif
