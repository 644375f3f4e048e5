/*  cm_zauth: CURVE + ZAP for the ZeroMQ links, and the plaintext bind policy.
    See cm_zauth.h. The ZAP handler follows RFC 27 (ZAP 1.0) on inproc://zeromq.zap.01. */
#include "cm_zauth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <sodium.h>

#include "cm_log.h"

#define MAX_CLIENTS 256

struct cm_zauth_t {
    void *ctx;                              /* the process's ZeroMQ context */
    bool curve;                             /* CURVE on */
    bool allow_plaintext;                   /* operator allowed plaintext binds anywhere */
    char secret[41];                        /* own secret key, Z85 */
    char public_[41];                       /* own public key, Z85 */
    char server[41];                        /* server public key, Z85 */
    unsigned char clients[MAX_CLIENTS][32]; /* admitted client keys, binary */
    size_t client_count;                    /* how many */
    pthread_t thread;                       /* ZAP handler */
    bool thread_started;                    /* thread is running */
    atomic_bool stop;                       /* asks the handler to end */
    atomic_ulong denied;                    /* refused handshakes */
    void *zap_ready;                        /* handler bound (set before thread start) */
};

static cm_zauth_t *s_auth; /* the process-wide policy used by cm_zsock_new */

void
cm_zsock_set_auth (cm_zauth_t *auth)
{
    s_auth = auth;
}

cm_zauth_t *
cm_zsock_get_auth (void)
{
    return s_auth;
}

static int
s_valid_z85_key (const char *text, unsigned char *out32)
{
    unsigned char buf[32];
    if (!text || strlen (text) != 40)
        return -1;
    if (!zmq_z85_decode (buf, text))
        return -1;
    if (out32)
        memcpy (out32, buf, 32);
    return 0;
}

/*  One ZAP request: frames version, request id, domain, address, identity, mechanism,
    credentials. Replies 200 for a listed CURVE key, 400 otherwise. */
static void
s_zap_handle (cm_zauth_t *self, void *rep)
{
    zmq_msg_t frames[8];
    int n = 0, more = 1;
    while (more && n < 8) {
        zmq_msg_init (&frames[n]);
        if (zmq_msg_recv (&frames[n], rep, 0) < 0) {
            zmq_msg_close (&frames[n]);
            break;
        }
        more = zmq_msg_more (&frames[n]);
        n++;
    }
    while (more) { /* drain an over-long request */
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        if (zmq_msg_recv (&extra, rep, 0) < 0) {
            zmq_msg_close (&extra);
            break;
        }
        more = zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    const char *status = "400", *text = "no such client key";
    if (n >= 7 && zmq_msg_size (&frames[5]) == 5 &&
        memcmp (zmq_msg_data (&frames[5]), "CURVE", 5) == 0 && zmq_msg_size (&frames[6]) == 32) {
        for (size_t i = 0; i < self->client_count; i++)
            if (sodium_memcmp (self->clients[i], zmq_msg_data (&frames[6]), 32) == 0) {
                status = "200";
                text = "OK";
                break;
            }
    } else
        text = "CURVE required";
    if (strcmp (status, "200") != 0) {
        atomic_fetch_add (&self->denied, 1);
        char addr[64] = "?";
        if (n >= 4) {
            size_t len = zmq_msg_size (&frames[3]);
            cm_log_excerpt (zmq_msg_data (&frames[3]), len, 40, addr, sizeof addr);
        }
        cm_warn ("ZMQ_AUTH_DENIED", "peer=%s reason=\"%s\"", addr, text);
    }
    if (n >= 2) {
        zmq_send (rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send (rep, zmq_msg_data (&frames[1]), zmq_msg_size (&frames[1]), ZMQ_SNDMORE);
        zmq_send (rep, status, 3, ZMQ_SNDMORE);
        zmq_send (rep, text, strlen (text), ZMQ_SNDMORE);
        zmq_send (rep, "", 0, ZMQ_SNDMORE);
        zmq_send (rep, "", 0, 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close (&frames[i]);
}

static void *
s_zap_thread (void *arg)
{
    cm_zauth_t *self = arg;
    void *rep = self->zap_ready;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t item = {.socket = rep, .events = ZMQ_POLLIN};
        int rc = zmq_poll (&item, 1, 200);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if (rc > 0)
            s_zap_handle (self, rep);
    }
    int zero = 0;
    zmq_setsockopt (rep, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (rep);
    return NULL;
}

cm_zauth_t *
cm_zauth_new (void *ctx, const cm_config_t *cfg, char *err, size_t err_cap)
{
    cm_zauth_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    self->ctx = ctx;
    self->allow_plaintext = cm_config_bool (cfg, "zmq.allow_plaintext");
    const char *secret = cm_config_str (cfg, "zmq.curve_secret_key");
    const char *server = cm_config_str (cfg, "zmq.curve_server_key");
    const char *clients = cm_config_str (cfg, "zmq.curve_clients");
    if (!secret || !*secret) {
        if ((server && *server) || (clients && *clients)) {
            snprintf (err, err_cap,
                      "zmq.curve_server_key/zmq.curve_clients are set but "
                      "zmq.curve_secret_key is not: set all or none");
            goto fail;
        }
        return self; /* plaintext mode */
    }
    if (s_valid_z85_key (secret, NULL) != 0) {
        snprintf (err, err_cap, "zmq.curve_secret_key: not a 40-character Z85 key");
        goto fail;
    }
    if (!server || s_valid_z85_key (server, NULL) != 0) {
        snprintf (err, err_cap, "zmq.curve_server_key: %s",
                  server && *server ? "not a 40-character Z85 key"
                                    : "required when zmq.curve_secret_key is set");
        goto fail;
    }
    snprintf (self->secret, sizeof self->secret, "%s", secret);
    snprintf (self->server, sizeof self->server, "%s", server);
    if (zmq_curve_public (self->public_, self->secret) != 0) {
        snprintf (err, err_cap, "zmq.curve_secret_key: cannot derive its public key");
        goto fail;
    }
    const char *p = clients ? clients : "";
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        const char *end = strchr (p, ',');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        char key[64];
        if (len != 40 || self->client_count >= MAX_CLIENTS) {
            snprintf (err, err_cap, "zmq.curve_clients: entry %zu is %s", self->client_count + 1,
                      len != 40 ? "not a 40-character Z85 key" : "one too many (256 at most)");
            goto fail;
        }
        memcpy (key, p, 40);
        key[40] = '\0';
        if (s_valid_z85_key (key, self->clients[self->client_count]) != 0) {
            snprintf (err, err_cap, "zmq.curve_clients: entry %zu is not a Z85 key",
                      self->client_count + 1);
            goto fail;
        }
        self->client_count++;
        p += len;
        while (*p && *p != ',')
            p++;
    }
    self->curve = true;
    if (self->client_count == 0)
        return self; /* a pure client (extractor, loader) needs no ZAP handler */
    /* The ZAP handler must be bound before any CURVE server socket binds. */
    void *rep = zmq_socket (ctx, ZMQ_REP);
    if (!rep || zmq_bind (rep, "inproc://zeromq.zap.01") != 0) {
        snprintf (err, err_cap, "cannot start the ZAP handler: %s", zmq_strerror (zmq_errno ()));
        if (rep)
            zmq_close (rep);
        goto fail;
    }
    self->zap_ready = rep;
    if (pthread_create (&self->thread, NULL, s_zap_thread, self) != 0) {
        snprintf (err, err_cap, "cannot start the ZAP handler thread");
        zmq_close (rep);
        goto fail;
    }
    self->thread_started = true;
    return self;
fail:
    sodium_memzero (self->secret, sizeof self->secret);
    free (self);
    return NULL;
}

void
cm_zauth_destroy (cm_zauth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_zauth_t *self = *self_p;
    if (self->thread_started) {
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
    }
    if (s_auth == self)
        s_auth = NULL;
    sodium_memzero (self->secret, sizeof self->secret);
    free (self);
    *self_p = NULL;
}

bool
cm_zauth_curve (const cm_zauth_t *self)
{
    return self && self->curve;
}

unsigned long
cm_zauth_denied (const cm_zauth_t *self)
{
    return self ? atomic_load (&((cm_zauth_t *)self)->denied) : 0;
}

/*  True for loopback and private (RFC 1918, RFC 6598 shared, link-local, IPv6 ULA and
    link-local) addresses. */
static bool
s_private_addr (const char *text)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton (AF_INET, text, &a4) == 1) {
        uint32_t a = ntohl (a4.s_addr);
        return (a >> 24) == 127 || (a >> 24) == 10 || (a >> 20) == (172u << 4 | 1) ||
               (a >> 16) == (192u << 8 | 168) || (a >> 22) == (100u << 2 | 1) ||
               (a >> 16) == (169u << 8 | 254);
    }
    if (inet_pton (AF_INET6, text, &a6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK (&a6) || IN6_IS_ADDR_LINKLOCAL (&a6))
            return true;
        return (a6.s6_addr[0] & 0xfe) == 0xfc; /* fc00::/7 */
    }
    return false;
}

bool
cm_zauth_plaintext_bind_ok (const char *endpoint, const char *const *iface_addrs)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    char host[256];
    const char *h = endpoint + 6;
    const char *colon = strrchr (h, ':');
    if (!colon || (size_t)(colon - h) >= sizeof host)
        return false;
    memcpy (host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    if (host[0] == '[') { /* [v6] */
        size_t len = strlen (host);
        if (len < 2 || host[len - 1] != ']')
            return false;
        memmove (host, host + 1, len - 2);
        host[len - 2] = '\0';
    }
    if (strcmp (host, "localhost") == 0)
        return true;
    if (strcmp (host, "*") != 0 && strcmp (host, "0.0.0.0") != 0 && strcmp (host, "::") != 0)
        return s_private_addr (host);
    /* A wildcard is fine only where every interface is loopback or private. */
    if (iface_addrs) {
        for (size_t i = 0; iface_addrs[i]; i++)
            if (!s_private_addr (iface_addrs[i]))
                return false;
        return true;
    }
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return false;
    bool ok = true;
    for (struct ifaddrs *ifa = list; ifa && ok; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr)
            continue;
        char text[INET6_ADDRSTRLEN];
        if (ifa->ifa_addr->sa_family == AF_INET)
            inet_ntop (AF_INET, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr, text,
                       sizeof text);
        else if (ifa->ifa_addr->sa_family == AF_INET6)
            inet_ntop (AF_INET6, &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr, text,
                       sizeof text);
        else
            continue;
        ok = s_private_addr (text);
    }
    freeifaddrs (list);
    return ok;
}

int
cm_zauth_apply (cm_zauth_t *self, void *sock, const char *endpoint, bool bind, char *err,
                size_t err_cap)
{
    if (!self)
        return 0;
    if (!self->curve) {
        if (bind && !self->allow_plaintext && !cm_zauth_plaintext_bind_ok (endpoint, NULL)) {
            snprintf (err, err_cap,
                      "refusing to bind %s without encryption: configure CURVE keys "
                      "(zmq.curve_*), bind a loopback or private address, or set "
                      "zmq.allow_plaintext",
                      endpoint);
            return -1;
        }
        return 0;
    }
    if (strncmp (endpoint, "inproc://", 9) == 0)
        return 0;
    if (bind && self->client_count == 0) {
        snprintf (err, err_cap,
                  "cannot bind %s as a CURVE server: zmq.curve_clients lists no client key",
                  endpoint);
        return -1;
    }
    int one = 1;
    int rc;
    if (bind)
        rc = zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
             zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, self->secret, 40) ||
             zmq_setsockopt (sock, ZMQ_ZAP_DOMAIN, "mlc", 3);
    else
        rc = zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, self->server, 40) ||
             zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, self->public_, 40) ||
             zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, self->secret, 40);
    if (rc) {
        snprintf (err, err_cap, "%s: cannot set CURVE options: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}
