/*  cm_zsock: ZeroMQ socket helpers: create with high-water marks, bind or connect,
    send and receive whole messages with EINTR/EAGAIN handled. */
#ifndef CM_ZSOCK_H
#define CM_ZSOCK_H

#include <stdbool.h>
#include <stddef.h>

#define CM_ZSOCK_MAX_MSG (2 * 1024 * 1024) /* larger messages are refused (ZMQ_MAXMSGSIZE) */

/*  Creates a socket of `type` (ZMQ_PUSH, ZMQ_PULL, ...), sets send and receive HWM to
    hwm, ZMQ_LINGER to linger_ms and ZMQ_MAXMSGSIZE, then binds (bind=true) or connects to
    endpoint. Returns the socket, or NULL with the reason (naming the endpoint) in err. */
void *cm_zsock_new (void *ctx, int type, const char *endpoint, bool bind, int hwm, int linger_ms,
                    char *err, size_t err_cap);

/*  Stops the socket's monitor if it has one, closes the socket and sets *sock_p to NULL.
    Accepts NULL. */
void cm_zsock_destroy (void **sock_p);

/*  Sends one message, waiting at most timeout_ms (-1: forever) while the queue is full.
    Returns 0; -1 with errno EAGAIN on timeout (caller still owns the data), EMSGSIZE when
    size > CM_ZSOCK_MAX_MSG, ETERM or other errors. Retries on EINTR unless a stop was requested. */
int cm_zsock_send (void *sock, const void *data, size_t size, int timeout_ms);

/*  Receives one message waiting at most timeout_ms (-1 forever, 0 poll). Returns 1 and a
    malloc'd copy in *data (caller frees) with its size; 0 on timeout or interrupted by a
    stop request; -1 on error (errno). Multi-part messages: parts after the first are
    discarded and the message is reported as received. */
int cm_zsock_recv (void *sock, char **data, size_t *size, int timeout_ms);

#endif
