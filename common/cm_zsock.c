/*  cm_zsock: ZeroMQ socket helpers. See cm_zsock.h.
    Waits are zmq_poll slices rather than ZMQ_SNDTIMEO/RCVTIMEO, so a stop request
    (cm_signal) ends a wait within one slice even when no signal interrupts the poll. */
#include "cm_zsock.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cm_signal.h"
#include "cm_zauth.h"
#include "cm_time.h"

#define CM_ZSOCK_SLICE_MS 100 /* longest single poll, to notice stop requests */

void *
cm_zsock_new (void *ctx, int type, const char *endpoint, bool bind, int hwm, int linger_ms,
              char *err, size_t err_cap)
{
    if (!endpoint || !*endpoint) {
        snprintf (err, err_cap, "empty ZeroMQ endpoint");
        return NULL;
    }
    void *sock = zmq_socket (ctx, type);
    if (!sock) {
        snprintf (err, err_cap, "%s: cannot create socket: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        return NULL;
    }
    int64_t maxmsg = CM_ZSOCK_MAX_MSG;
    if (zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt (sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms) != 0 ||
        zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) {
        snprintf (err, err_cap, "%s: cannot set socket options: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        goto fail;
    }
    if (cm_zauth_apply (cm_zsock_get_auth (), sock, endpoint, bind, err, err_cap) != 0)
        goto fail;
    int rc = bind ? zmq_bind (sock, endpoint) : zmq_connect (sock, endpoint);
    if (rc != 0) {
        snprintf (err, err_cap, "cannot %s %s: %s", bind ? "bind" : "connect to", endpoint,
                  zmq_strerror (zmq_errno ()));
        goto fail;
    }
    return sock;
fail:;
    int zero = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (sock);
    return NULL;
}

void
cm_zsock_destroy (void **sock_p)
{
    if (!sock_p || !*sock_p)
        return;
    /*  A watched socket (cm_zpeers: the daemons' peer watches, the extractor's lease)
        stops its monitor before it closes: a closing socket that lingers reports its
        disconnections when zmq_ctx_term ends the linger, and libzmq 4.3 leaks each event
        frame it then fails to send. Harmless on a socket without a monitor. */
    zmq_socket_monitor (*sock_p, NULL, 0);
    zmq_close (*sock_p);
    *sock_p = NULL;
}

/*  Waits until sock has `events` or the deadline passes. Returns 1 ready, 0 timeout or stop
    requested, -1 error (errno). deadline < 0: forever. */
static int
wait_for (void *sock, short events, int64_t deadline)
{
    for (;;) {
        if (cm_signal_stop_requested ())
            return 0;
        long slice = CM_ZSOCK_SLICE_MS;
        if (deadline >= 0) {
            int64_t left = deadline - cm_mono_ms ();
            if (left <= 0)
                left = 0;
            if (left < slice)
                slice = (long)left;
        }
        zmq_pollitem_t item = {.socket = sock, .events = events};
        int rc = zmq_poll (&item, 1, slice);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            return -1;
        }
        if (rc > 0 && (item.revents & events))
            return 1;
        if (deadline >= 0 && cm_mono_ms () >= deadline)
            return 0;
    }
}

int
cm_zsock_send (void *sock, const void *data, size_t size, int timeout_ms)
{
    /*  The peer's ZMQ_MAXMSGSIZE would drop the connection; refuse it here instead. */
    if (size > CM_ZSOCK_MAX_MSG) {
        errno = EMSGSIZE;
        return -1;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : cm_mono_ms () + timeout_ms;
    for (;;) {
        int rc = zmq_send (sock, data, size, ZMQ_DONTWAIT);
        if (rc >= 0)
            return 0;
        int e = zmq_errno ();
        if (e == EINTR && !cm_signal_stop_requested ())
            continue;
        if (e != EAGAIN && e != EINTR) {
            errno = e;
            return -1;
        }
        if (cm_signal_stop_requested () || timeout_ms == 0 ||
            (deadline >= 0 && cm_mono_ms () >= deadline)) {
            errno = EAGAIN;
            return -1;
        }
        int w = wait_for (sock, ZMQ_POLLOUT, deadline);
        if (w < 0)
            return -1;
        if (w == 0) {
            /*  One last try: the slice may have ended just as room appeared. */
            if (zmq_send (sock, data, size, ZMQ_DONTWAIT) >= 0)
                return 0;
            errno = EAGAIN;
            return -1;
        }
    }
}

/*  Discards the remaining parts of a multi-part message. */
static void
drain_more (void *sock)
{
    int more = 0;
    size_t len = sizeof more;
    while (zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &len) == 0 && more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        int rc;
        do
            rc = zmq_msg_recv (&part, sock, 0);
        while (rc < 0 && zmq_errno () == EINTR);
        zmq_msg_close (&part);
        if (rc < 0)
            break;
        len = sizeof more;
    }
}

int
cm_zsock_recv (void *sock, char **data, size_t *size, int timeout_ms)
{
    *data = NULL;
    *size = 0;
    int64_t deadline = timeout_ms < 0 ? -1 : cm_mono_ms () + timeout_ms;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        int rc = zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT);
        if (rc >= 0) {
            size_t len = zmq_msg_size (&msg);
            /*  One spare byte so text payloads can be used as C strings. */
            char *copy = malloc (len + 1);
            if (!copy) {
                zmq_msg_close (&msg);
                drain_more (sock);
                errno = ENOMEM;
                return -1;
            }
            if (len)
                memcpy (copy, zmq_msg_data (&msg), len);
            copy[len] = '\0';
            zmq_msg_close (&msg);
            drain_more (sock);
            *data = copy;
            *size = len;
            return 1;
        }
        zmq_msg_close (&msg);
        int e = zmq_errno ();
        if (e == EINTR && !cm_signal_stop_requested ())
            continue;
        if (e == EINTR)
            return 0;
        if (e != EAGAIN) {
            errno = e;
            return -1;
        }
        if (timeout_ms == 0 || (deadline >= 0 && cm_mono_ms () >= deadline))
            return 0;
        int w = wait_for (sock, ZMQ_POLLIN, deadline);
        if (w < 0)
            return -1;
        if (w == 0) {
            if (cm_signal_stop_requested ())
                return 0;
            /*  Deadline reached: loop once more for a last non-blocking attempt. */
            timeout_ms = 0;
        }
    }
}
