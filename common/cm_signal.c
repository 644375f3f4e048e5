/*  cm_signal: SIGTERM/SIGINT set a flag that loops poll. See cm_signal.h. */
#include "cm_signal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t s_stop = 0; /* set by the handler or a request */

static void
on_signal (int sig)
{
    s_stop = 1;
}

void
cm_signal_install (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset (&sa.sa_mask);
    /*  No SA_RESTART: blocking calls return EINTR so loops notice the stop promptly. */
    sa.sa_flags = 0;
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    struct sigaction ign;
    memset (&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset (&ign.sa_mask);
    sigaction (SIGPIPE, &ign, NULL);
}

bool
cm_signal_stop_requested (void)
{
    return s_stop != 0;
}

void
cm_signal_request_stop (void)
{
    s_stop = 1;
}
