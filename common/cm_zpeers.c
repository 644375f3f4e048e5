/*  cm_zpeers: connected peers from monitor events. See cm_zpeers.h. */
#include "cm_zpeers.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define FAILED_MAX 1000000 /* failed handshakes remembered at most */

struct cm_zpeers_t {
    void *pair;           /* PAIR reading its monitor events */
    atomic_int connected; /* peers with a completed handshake */
    int failed_pending;   /* failed handshakes whose DISCONNECTED is still to come */
};

cm_zpeers_t *
cm_zpeers_new (void *ctx, void *sock)
{
    if (!ctx || !sock)
        return NULL;
    cm_zpeers_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    static atomic_int seq;
    char endpoint[96];
    snprintf (endpoint, sizeof endpoint, "inproc://cm-zpeers-%d-%d", (int)getpid (),
              atomic_fetch_add (&seq, 1));
    if (zmq_socket_monitor (sock, endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
        free (self);
        return NULL;
    }
    //  An inproc PAIR inside this process, not a network link: no security policy applies.
    self->pair = zmq_socket (ctx, ZMQ_PAIR);
    if (!self->pair || zmq_connect (self->pair, endpoint) != 0) {
        if (self->pair)
            zmq_close (self->pair);
        zmq_socket_monitor (sock, NULL, 0);
        free (self);
        return NULL;
    }
    atomic_init (&self->connected, 0);
    return self;
}

void
cm_zpeers_destroy (cm_zpeers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cm_zpeers_t *self = *self_p;
    int zero = 0;
    zmq_setsockopt (self->pair, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (self->pair);
    free (self);
    *self_p = NULL;
}

void *
cm_zpeers_socket (cm_zpeers_t *self)
{
    return self->pair;
}

//  Reads one event (two frames): true and its number, false when none is queued.
static bool
s_read_event (cm_zpeers_t *self, uint16_t *event)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, self->pair, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return false;
    }
    *event = 0;
    if (zmq_msg_size (&msg) >= 6)
        memcpy (event, zmq_msg_data (&msg), sizeof *event);
    bool more = zmq_msg_more (&msg);
    zmq_msg_close (&msg);
    while (more) { /* the endpoint frame */
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->pair, ZMQ_DONTWAIT) < 0)
            more = false;
        else
            more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
    }
    return true;
}

int
cm_zpeers_read (cm_zpeers_t *self)
{
    uint16_t event;
    while (s_read_event (self, &event)) {
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            atomic_fetch_add (&self->connected, 1);
        else if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                          ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
            if (self->failed_pending < FAILED_MAX)
                self->failed_pending++;
        } else if (event == ZMQ_EVENT_DISCONNECTED && self->failed_pending > 0)
            self->failed_pending--;
        else if (event == ZMQ_EVENT_DISCONNECTED) {
            int n = atomic_load (&self->connected);
            while (n > 0 && !atomic_compare_exchange_weak (&self->connected, &n, n - 1))
                ;
        }
    }
    return atomic_load (&self->connected);
}

int
cm_zpeers_connected (const cm_zpeers_t *self)
{
    return atomic_load (&((cm_zpeers_t *)self)->connected);
}
