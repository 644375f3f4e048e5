/*  mlc-ztool: a test and operator tool for the ZeroMQ links.

    mlc-ztool push   ENDPOINT [--bind] [--garbage N] [--file F]
        sends N random garbage messages, or one message read from F, with a PUSH socket
        (connecting by default, binding with --bind: to feed a loader, which connects).
    mlc-ztool keygen
        prints a new CURVE keypair (Z85) for zmq.curve_secret_key / zmq.curve_server_key /
        zmq.curve_clients.
    mlc-ztool sink   ENDPOINT --count N [--timeout S] [--connect]
        binds a PULL socket (connects with --connect: to take a loader's place on the
        replayer's replay endpoint), receives envelopes until N arrived or S seconds passed
        with no message, and prints one JSON line per envelope (tenant, entity, key, hash,
        attempt, sobject, extid); corrupt messages are printed as {"error": "..."} lines.
    Security: when MLC_CONFIG or MLC_ZMQ_CURVE_SECRET_KEY is set, the configuration (file
    and MLC_ environment, cm_config) gives the CURVE keys (zmq.curve_secret_key,
    zmq.curve_server_key, zmq.curve_clients) and the plaintext bind policy, as for the
    daemons (cm_daemon_client_new).
    Exits 0 on success, 1 on error, 2 on usage. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "cm_daemon.h"
#include "cm_envelope.h"
#include "cm_signal.h"
#include "cm_zsock.h"

static int
usage (void)
{
    fprintf (stderr, "usage: mlc-ztool push ENDPOINT [--bind] [--garbage N] [--file F]\n"
                     "       mlc-ztool sink ENDPOINT --count N [--timeout S] [--connect]\n"
                     "       mlc-ztool keygen\n");
    return 2;
}

static int
read_file (const char *path, char **data, size_t *size)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return -1;
    char *buf = malloc (CM_ZSOCK_MAX_MSG);
    size_t n = buf ? fread (buf, 1, CM_ZSOCK_MAX_MSG, f) : 0;
    fclose (f);
    if (!buf)
        return -1;
    *data = buf;
    *size = n;
    return 0;
}

static int
cmd_push (void *ctx, const char *endpoint, int argc, char **argv)
{
    int bind = 0, garbage = 0;
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv[i], "--bind") == 0)
            bind = 1;
        else if (strcmp (argv[i], "--garbage") == 0 && i + 1 < argc)
            garbage = atoi (argv[++i]);
        else if (strcmp (argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else
            return usage ();
    }
    char err[256];
    void *sock = cm_zsock_new (ctx, ZMQ_PUSH, endpoint, bind, 1000, 5000, err, sizeof err);
    if (!sock) {
        fprintf (stderr, "mlc-ztool: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (file) {
        char *data = NULL;
        size_t size = 0;
        if (read_file (file, &data, &size) != 0) {
            fprintf (stderr, "mlc-ztool: cannot read %s\n", file);
            rc = 1;
        } else if (cm_zsock_send (sock, data, size, 10000) != 0) {
            fprintf (stderr, "mlc-ztool: send to %s timed out\n", endpoint);
            rc = 1;
        }
        free (data);
    }
    for (int i = 0; i < garbage && rc == 0; i++) {
        unsigned char buf[512];
        size_t size = 1 + randombytes_uniform (sizeof buf);
        randombytes_buf (buf, size);
        if (i % 3 == 0)
            buf[0] = 0x8e; /* looks like a msgpack map, so the decoder goes deeper */
        if (cm_zsock_send (sock, buf, size, 10000) != 0) {
            fprintf (stderr, "mlc-ztool: send to %s timed out\n", endpoint);
            rc = 1;
        }
    }
    cm_zsock_destroy (&sock);
    return rc;
}

static void
print_envelope (const cm_envelope_t *env)
{
    cJSON *o = cJSON_CreateObject ();
    cJSON_AddStringToObject (o, "tenant", env->tenant);
    cJSON_AddStringToObject (o, "entity", env->entity);
    cJSON_AddStringToObject (o, "key", env->key);
    cJSON_AddStringToObject (o, "hash", env->hash);
    cJSON_AddNumberToObject (o, "attempt", env->attempt);
    if (env->sobject)
        cJSON_AddStringToObject (o, "sobject", env->sobject);
    if (env->ext_id)
        cJSON_AddStringToObject (o, "extid", env->ext_id);
    cJSON *src = cJSON_AddObjectToObject (o, "src");
    for (size_t i = 0; i < env->field_count; i++)
        cJSON_AddStringToObject (src, env->fields[i].name, env->fields[i].value);
    char *text = cJSON_PrintUnformatted (o);
    if (text)
        printf ("%s\n", text);
    free (text);
    cJSON_Delete (o);
}

static int
cmd_sink (void *ctx, const char *endpoint, int argc, char **argv)
{
    long count = -1, timeout_s = 10;
    bool bind = true;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv[i], "--connect") == 0)
            bind = false;
        else if (strcmp (argv[i], "--count") == 0 && i + 1 < argc)
            count = atol (argv[++i]);
        else if (strcmp (argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout_s = atol (argv[++i]);
        else
            return usage ();
    }
    if (count < 0)
        return usage ();
    char err[256];
    void *sock = cm_zsock_new (ctx, ZMQ_PULL, endpoint, bind, 100000, 0, err, sizeof err);
    if (!sock) {
        fprintf (stderr, "mlc-ztool: %s\n", err);
        return 1;
    }
    printf ("{\"ready\":true}\n");
    fflush (stdout);
    long got = 0;
    while (got < count && !cm_signal_stop_requested ()) {
        char *data = NULL;
        size_t size = 0;
        int rc = cm_zsock_recv (sock, &data, &size, (int)(timeout_s * 1000));
        if (rc <= 0)
            break;
        cm_envelope_t *env = cm_envelope_decode (data, size, err, sizeof err);
        if (env)
            print_envelope (env);
        else
            printf ("{\"error\":\"%s\"}\n", err);
        cm_envelope_destroy (&env);
        free (data);
        got++;
    }
    fflush (stdout);
    cm_zsock_destroy (&sock);
    return got == count ? 0 : 1;
}

/*  Prints a new CURVE keypair; the secret goes to stdout only (redirect it to a file or a
    secret store, never to a log). */
static int
cmd_keygen (void)
{
    char pub[41], sec[41];
    if (zmq_curve_keypair (pub, sec) != 0) {
        fprintf (stderr, "mlc-ztool: this libzmq has no CURVE support\n");
        return 1;
    }
    printf ("public=%s\nsecret=%s\n", pub, sec);
    sodium_memzero (sec, sizeof sec);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv[1], "keygen") == 0)
        return cmd_keygen ();
    if (argc < 3)
        return usage ();
    if (sodium_init () < 0)
        return 1;
    cm_signal_install ();
    void *ctx = zmq_ctx_new ();
    cm_config_t *cfg = NULL;
    cm_daemon_t *auth = NULL;
    int rc;
    if (getenv ("MLC_CONFIG") || getenv ("MLC_ZMQ_CURVE_SECRET_KEY")) {
        char err[512];
        cfg = cm_config_load (getenv ("MLC_CONFIG"), err, sizeof err);
        auth = cfg ? cm_daemon_client_new (ctx, cfg, err, sizeof err) : NULL;
        if (!auth) {
            fprintf (stderr, "mlc-ztool: %s\n", err);
            cm_config_destroy (&cfg);
            zmq_ctx_term (ctx);
            return 1;
        }
    }
    if (strcmp (argv[1], "push") == 0)
        rc = cmd_push (ctx, argv[2], argc - 3, argv + 3);
    else if (strcmp (argv[1], "sink") == 0)
        rc = cmd_sink (ctx, argv[2], argc - 3, argv + 3);
    else
        rc = usage ();
    cm_daemon_client_destroy (&auth);
    cm_config_destroy (&cfg);
    zmq_ctx_term (ctx);
    return rc;
}
