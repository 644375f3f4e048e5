/*  cm_signal: SIGTERM/SIGINT set a flag; loops poll it, drain and exit. */
#ifndef CM_SIGNAL_H
#define CM_SIGNAL_H

#include <stdbool.h>

/*  Installs handlers for SIGTERM and SIGINT (no SA_RESTART) and ignores SIGPIPE. */
void cm_signal_install (void);

/*  True once SIGTERM or SIGINT arrived (or cm_signal_request_stop was called). */
bool cm_signal_stop_requested (void);

/*  Requests a stop from inside the process. */
void cm_signal_request_stop (void);

#endif
