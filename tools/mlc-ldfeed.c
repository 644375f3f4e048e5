/*  mlc-ldfeed: feeds loaders directly, for tests and benchmarks of the Salesforce side.

    mlc-ldfeed ENDPOINT [--bind] [--linger-ms N]  < records.jsonl
        reads one JSON object per line
          {"tenant":"ACME_PRD","entity":"customer","key":"C000042",
           "sobject":"Account","extf":"CloudSuite_Key__c","extid":"ACME_PRD:customer:C000042",
           "payload":{...fields...}}            (payload: an object, or its JSON text)
        and PUSHes one envelope per line (as the transformer would) to ENDPOINT, binding
        with --bind (loaders connect to zmq.load_endpoint). Sends block while no loader is
        connected or all are full. On exit it waits up to --linger-ms (default 60000) for
        the last envelopes to leave. Prints "sent N" on stderr.
    Exits 0 on success, 1 on an error (a bad line names its number), 2 on usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <zmq.h>

#include "cm_envelope.h"
#include "cm_zsock.h"

#define MAX_LINE (2 * 1024 * 1024)

static int
usage (void)
{
    fprintf (stderr, "usage: mlc-ldfeed ENDPOINT [--bind] [--linger-ms N] < records.jsonl\n");
    return 2;
}

static const char *
str_member (const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive (obj, name);
    return cJSON_IsString (item) ? item->valuestring : NULL;
}

//  Encodes one line into an envelope. Returns 0 with a malloc'd buffer, or -1.
static int
encode_line (const char *line, char **data, size_t *size, char *err, size_t err_cap)
{
    cJSON *json = cJSON_Parse (line);
    int rc = -1;
    char *payload_text = NULL;
    cm_envelope_t *env = NULL;
    if (!cJSON_IsObject (json)) {
        snprintf (err, err_cap, "not a JSON object");
        goto out;
    }
    const char *tenant = str_member (json, "tenant"), *entity = str_member (json, "entity"),
               *key = str_member (json, "key"), *sobject = str_member (json, "sobject"),
               *extf = str_member (json, "extf"), *extid = str_member (json, "extid");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive (json, "payload");
    if (!tenant || !entity || !key || !sobject || !extf || !extid || !payload) {
        snprintf (err, err_cap, "needs tenant, entity, key, sobject, extf, extid and payload");
        goto out;
    }
    payload_text =
        cJSON_IsString (payload) ? strdup (payload->valuestring) : cJSON_PrintUnformatted (payload);
    env = cm_envelope_new (tenant, entity, key);
    if (!payload_text || !env) {
        snprintf (err, err_cap, "out of memory");
        goto out;
    }
    cm_envelope_add_field (env, "key", key);
    cm_envelope_compute_hash (env);
    if (cm_envelope_set_target (env, sobject, extf, extid, payload_text) != 0 ||
        cm_envelope_encode (env, data, size) != 0) {
        snprintf (err, err_cap, "cannot encode the envelope");
        goto out;
    }
    rc = 0;
out:
    cm_envelope_destroy (&env);
    free (payload_text);
    cJSON_Delete (json);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return usage ();
    const char *endpoint = argv[1];
    int bind = 0;
    long linger = 60000;
    for (int i = 2; i < argc; i++) {
        if (strcmp (argv[i], "--bind") == 0)
            bind = 1;
        else if (strcmp (argv[i], "--linger-ms") == 0 && i + 1 < argc)
            linger = atol (argv[++i]);
        else
            return usage ();
    }
    void *ctx = zmq_ctx_new ();
    char err[256];
    void *sock =
        ctx ? cm_zsock_new (ctx, ZMQ_PUSH, endpoint, bind, 100000, (int)linger, err, sizeof err)
            : NULL;
    if (!sock) {
        fprintf (stderr, "mlc-ldfeed: %s\n", ctx ? err : "zmq_ctx_new failed");
        if (ctx)
            zmq_ctx_term (ctx);
        return 1;
    }
    char *line = malloc (MAX_LINE);
    long sent = 0, number = 0;
    int rc = 0;
    while (line && fgets (line, MAX_LINE, stdin)) {
        number++;
        size_t len = strlen (line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        char *data = NULL;
        size_t size = 0;
        if (encode_line (line, &data, &size, err, sizeof err) != 0) {
            fprintf (stderr, "mlc-ldfeed: line %ld: %s\n", number, err);
            rc = 1;
            break;
        }
        if (cm_zsock_send (sock, data, size, -1) != 0) {
            fprintf (stderr, "mlc-ldfeed: send: %s\n", zmq_strerror (errno));
            free (data);
            rc = 1;
            break;
        }
        free (data);
        sent++;
    }
    if (!line) {
        fprintf (stderr, "mlc-ldfeed: out of memory\n");
        rc = 1;
    }
    free (line);
    fprintf (stderr, "sent %ld\n", sent);
    cm_zsock_destroy (&sock);
    zmq_ctx_term (ctx);
    return rc;
}
