/*  cm_zpeers: how many peers a ZeroMQ socket has connected now, from the socket's monitor
    events: a completed handshake counts one, its disconnection takes it back; a failed
    handshake (ZAP denial, wrong mechanism) and the disconnection that follows it do not
    count. The events go to an inproc PAIR that one thread polls (cm_zpeers_socket) and
    drains (cm_zpeers_read); the count can be read from any thread.

    The monitor sees what happens after cm_zpeers_new: a handshake completed before it
    is not counted. The watched socket is closed with cm_zsock_destroy (which stops its
    monitor) before cm_zpeers_destroy. */
#ifndef CM_ZPEERS_H
#define CM_ZPEERS_H

typedef struct cm_zpeers_t cm_zpeers_t;

/*  Watches sock (borrowed) of context ctx. NULL when the monitor cannot be set up. */
cm_zpeers_t *cm_zpeers_new (void *ctx, void *sock);

/*  Closes the PAIR; sets *self_p to NULL. Accepts NULL. */
void cm_zpeers_destroy (cm_zpeers_t **self_p);

/*  The PAIR to poll for ZMQ_POLLIN (owned by the watch). */
void *cm_zpeers_socket (cm_zpeers_t *self);

/*  Reads every event queued on the PAIR (the polling thread) and returns the peers
    connected now. */
int cm_zpeers_read (cm_zpeers_t *self);

/*  The peers connected now (any thread). */
int cm_zpeers_connected (const cm_zpeers_t *self);

#endif
