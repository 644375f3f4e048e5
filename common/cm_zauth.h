/*  cm_zauth: security of the ZeroMQ links: CURVE encryption and authentication with a ZAP
    handler that admits only listed client keys, and the plaintext bind policy.

    Keys (Z85 text, 40 characters; `mlc-ztool keygen` makes a pair):
      zmq.curve_secret_key  this process's secret key (a secret: "secret:NAME" works)
      zmq.curve_server_key  the public key of the binding side (transformer and replayer
                            share one server keypair, so a client needs one server key)
      zmq.curve_clients     comma list of client public keys a binding process admits
                            (only binding processes set it; they run the ZAP handler)
    With a secret key set, every socket a process binds is a CURVE server and every socket it
    connects is a CURVE client of zmq.curve_server_key; a peer without a listed key is
    refused by the ZAP handler (logged ZMQ_AUTH_DENIED). Without keys, a process binds only
    ipc://, inproc://, loopback or private-network TCP addresses (a wildcard only when every
    interface of the host is loopback or private, as in a compose network), unless
    zmq.allow_plaintext is true. */
#ifndef CM_ZAUTH_H
#define CM_ZAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "cm_config.h"

typedef struct cm_zauth_t cm_zauth_t;

/*  Reads the zmq.curve_* and zmq.allow_plaintext settings; with CURVE keys starts a ZAP
    handler on ctx. Returns NULL with the reason (never a key) in err: a malformed key, a
    secret key without a server key, a server without clients. */
cm_zauth_t *cm_zauth_new (void *ctx, const cm_config_t *cfg, char *err, size_t err_cap);

/*  Stops the ZAP handler (before zmq_ctx_term) and wipes the keys; sets *self_p to NULL. */
void cm_zauth_destroy (cm_zauth_t **self_p);

/*  True when CURVE is on. */
bool cm_zauth_curve (const cm_zauth_t *self);

/*  Applies the policy to a new socket before it binds (bind=true) or connects: CURVE
    options, or the plaintext bind check. Returns 0, or -1 with the reason in err. */
int cm_zauth_apply (cm_zauth_t *self, void *sock, const char *endpoint, bool bind, char *err,
                    size_t err_cap);

/*  The plaintext bind rule on its own, for tests: true when endpoint may be bound without
    CURVE given the host's interface addresses (NULL-terminated list of numeric IPv4/IPv6
    text; NULL reads the host's). */
bool cm_zauth_plaintext_bind_ok (const char *endpoint, const char *const *iface_addrs);

/*  Makes every cm_zsock_new of this process apply `auth` (NULL: none). Process-wide; set
    once at start-up. */
void cm_zsock_set_auth (cm_zauth_t *auth);

/*  The policy set by cm_zsock_set_auth, or NULL. */
cm_zauth_t *cm_zsock_get_auth (void);

/*  Denied connection attempts so far (for metrics). */
unsigned long cm_zauth_denied (const cm_zauth_t *self);

#endif
