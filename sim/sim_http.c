/*  sim_http: libmicrohttpd wrapper for the simulators. See sim_http.h. */
#include "sim_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct sim_server_t {
    struct MHD_Daemon *daemon; /* the HTTP daemon */
    sim_handler_fn *fn;        /* request handler */
    void *arg;                 /* its argument */
    char host[64];             /* bound host text */
    int port;                  /* bound port */
};

/* Per-request state while the body arrives. */
typedef struct {
    char *body;  /* collected body */
    size_t len;  /* bytes collected */
    size_t cap;  /* allocated */
    int too_big; /* body exceeded SIM_HTTP_MAX_BODY */
} upload_t;

const char *
sim_request_header (const sim_request_t *req, const char *name)
{
    return MHD_lookup_connection_value ((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

const char *
sim_request_arg (const sim_request_t *req, const char *name)
{
    return MHD_lookup_connection_value ((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND,
                                        name);
}

void
sim_response_header (sim_response_t *resp, const char *name, const char *value)
{
    if (resp->header_count >= SIM_HTTP_MAX_HEADERS)
        return;
    resp->header_names[resp->header_count] = strdup (name);
    resp->header_values[resp->header_count] = strdup (value);
    resp->header_count++;
}

void
sim_response_body (sim_response_t *resp, int status, const char *content_type, const char *body,
                   size_t len)
{
    free (resp->body);
    resp->status = status;
    snprintf (resp->content_type, sizeof resp->content_type, "%s", content_type);
    resp->body = malloc (len + 1);
    if (resp->body) {
        memcpy (resp->body, body, len);
        resp->body[len] = '\0';
        resp->body_len = len;
    } else {
        resp->body_len = 0;
        resp->status = 500;
    }
}

void
sim_response_json (sim_response_t *resp, int status, cJSON *json)
{
    char *text = cJSON_PrintUnformatted (json);
    cJSON_Delete (json);
    if (!text) {
        sim_response_body (resp, 500, "text/plain", "out of memory", 13);
        return;
    }
    free (resp->body);
    resp->status = status;
    snprintf (resp->content_type, sizeof resp->content_type, "application/json;charset=UTF-8");
    resp->body = text;
    resp->body_len = strlen (text);
}

static void
response_free (sim_response_t *resp)
{
    free (resp->body);
    for (int i = 0; i < resp->header_count; i++) {
        free (resp->header_names[i]);
        free (resp->header_values[i]);
    }
}

static enum MHD_Result
send_response (struct MHD_Connection *conn, sim_response_t *resp)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (
        resp->body_len, resp->body ? resp->body : (void *)"", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (resp->body_len > 0 || resp->status != 204)
        MHD_add_response_header (r, "Content-Type", resp->content_type);
    for (int i = 0; i < resp->header_count; i++)
        MHD_add_response_header (r, resp->header_names[i], resp->header_values[i]);
    enum MHD_Result ret = MHD_queue_response (conn, (unsigned)resp->status, r);
    MHD_destroy_response (r);
    return ret;
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    sim_server_t *self = cls;
    upload_t *up = *con_cls;
    if (!up) {
        up = calloc (1, sizeof *up);
        if (!up)
            return MHD_NO;
        *con_cls = up;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (!up->too_big && up->len + n > SIM_HTTP_MAX_BODY)
            up->too_big = 1;
        if (!up->too_big) {
            if (up->len + n + 1 > up->cap) {
                size_t cap = up->cap ? up->cap : 4096;
                while (cap < up->len + n + 1)
                    cap *= 2;
                char *grown = realloc (up->body, cap);
                if (!grown)
                    return MHD_NO;
                up->body = grown;
                up->cap = cap;
            }
            memcpy (up->body + up->len, upload_data, n);
            up->len += n;
            up->body[up->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    sim_response_t resp = {.status = 200};
    snprintf (resp.content_type, sizeof resp.content_type, "application/json;charset=UTF-8");
    if (up->too_big) {
        const char *msg =
            "[{\"message\":\"request body too large\",\"errorCode\":\"BAD_REQUEST\"}]";
        sim_response_body (&resp, 413, "application/json;charset=UTF-8", msg, strlen (msg));
    } else {
        sim_request_t req = {.method = method,
                             .path = url,
                             .body = up->body ? up->body : "",
                             .body_len = up->len,
                             .conn = conn};
        self->fn (self->arg, &req, &resp);
    }
    enum MHD_Result ret = send_response (conn, &resp);
    response_free (&resp);
    return ret;
}

static void
on_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
              enum MHD_RequestTerminationCode toe)
{
    upload_t *up = *con_cls;
    if (up) {
        free (up->body);
        free (up);
        *con_cls = NULL;
    }
}

sim_server_t *
sim_server_new (const char *listen, sim_handler_fn *fn, void *arg, char *err, size_t err_cap)
{
    char host[64];
    const char *colon = strrchr (listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf (err, err_cap, "--listen '%s': expected HOST:PORT", listen);
        return NULL;
    }
    memcpy (host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end;
    long port = strtol (colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf (err, err_cap, "--listen '%s': bad port", listen);
        return NULL;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
    if (inet_pton (AF_INET, strcmp (host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr) !=
        1) {
        snprintf (err, err_cap, "--listen '%s': host must be an IPv4 address", listen);
        return NULL;
    }
    sim_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->fn = fn;
    self->arg = arg;
    /* Block the stop signals before MHD starts its threads, so they inherit the mask and
       sim_server_run's sigwait is the one place that receives them. */
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);
    snprintf (self->host, sizeof self->host, "%s", host);
    self->daemon = MHD_start_daemon (
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (err, err_cap, "cannot listen on %s (address in use or not allowed)", listen);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? (int)info->port : (int)port;
    return self;
}

int
sim_server_port (const sim_server_t *self)
{
    return self->port;
}

void
sim_server_destroy (sim_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sim_server_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    free (self);
    *self_p = NULL;
}

int
sim_server_run (sim_server_t *self)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    printf ("listening on http://%s:%d\n", self->host, self->port);
    fflush (stdout);
    int sig = 0;
    sigwait (&set, &sig);
    return 0;
}
