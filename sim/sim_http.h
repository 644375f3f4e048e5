/*  sim_http: the small HTTP server both simulators are built on (libmicrohttpd, one thread
    per connection so injected latency never blocks other clients). A handler gets the whole
    request (body collected, capped) and fills a response. Handlers run concurrently: they
    must lock their own state. */
#ifndef SIM_HTTP_H
#define SIM_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define SIM_HTTP_MAX_BODY    (160u * 1024 * 1024) /* larger request bodies get 413 */
#define SIM_HTTP_MAX_HEADERS 8

typedef struct sim_server_t sim_server_t;

typedef struct {
    const char *method; /* "GET", "PATCH", ... */
    const char *path;   /* URL path, decoded, without the query */
    const char *body;   /* request body, NUL-terminated ("" when none) */
    size_t body_len;    /* its length */
    void *conn;         /* the MHD connection (for sim_request_header/arg) */
} sim_request_t;

typedef struct {
    int status;                                /* HTTP status, 200 unless set */
    char *body;                                /* malloc'd body or NULL */
    size_t body_len;                           /* its length */
    char content_type[64];                     /* "application/json;charset=UTF-8" default */
    char *header_names[SIM_HTTP_MAX_HEADERS];  /* extra headers (malloc'd) */
    char *header_values[SIM_HTTP_MAX_HEADERS]; /* their values (malloc'd) */
    int header_count;                          /* number of extra headers */
} sim_response_t;

/*  Called once per complete request. */
typedef void (sim_handler_fn) (void *arg, const sim_request_t *req, sim_response_t *resp);

/*  A request header (case-insensitive name) or NULL. Borrowed. */
const char *sim_request_header (const sim_request_t *req, const char *name);

/*  A decoded query argument or NULL. Borrowed. */
const char *sim_request_arg (const sim_request_t *req, const char *name);

/*  Adds a response header (copies). */
void sim_response_header (sim_response_t *resp, const char *name, const char *value);

/*  Sets status and body to the JSON text of `json`, which it deletes. */
void sim_response_json (sim_response_t *resp, int status, cJSON *json);

/*  Sets status, content type and a copy of body (len bytes). */
void sim_response_body (sim_response_t *resp, int status, const char *content_type,
                        const char *body, size_t len);

/*  Starts serving on listen ("127.0.0.1:PORT"; port 0 picks a free one). Returns NULL
    with the reason in err. */
sim_server_t *sim_server_new (const char *listen, sim_handler_fn *fn, void *arg, char *err,
                              size_t err_cap);

/*  The bound TCP port. */
int sim_server_port (const sim_server_t *self);

/*  Stops the server (waits for handler threads) and frees it. Accepts NULL. */
void sim_server_destroy (sim_server_t **self_p);

/*  Prints "listening on http://HOST:PORT" on stdout (flushed), then blocks until SIGTERM
    or SIGINT. Returns 0. */
int sim_server_run (sim_server_t *self);

#endif
