/*  cm_log: structured key=value log lines on stderr.
    One line per event: `ts=... level=warn proc=loader event=LDR_RETRY key=value ...`.
    Secrets must never be passed to these functions. */
#ifndef CM_LOG_H
#define CM_LOG_H

#include <stddef.h>

typedef enum { CM_LOG_DEBUG, CM_LOG_INFO, CM_LOG_WARN, CM_LOG_ERROR } cm_log_level_t;

/*  Sets the process name written as proc=NAME and the lowest level written. */
void cm_log_init (const char *process, cm_log_level_t level);

/*  Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int cm_log_level_parse (const char *text, cm_log_level_t *level);

/*  Writes one line: the level, the stable event id (e.g. "EXT_POLL_DONE") and the
    printf-formatted key=value tail. Lines are written with one write(2). */
void cm_log (cm_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define cm_debug(event, ...) cm_log (CM_LOG_DEBUG, event, __VA_ARGS__)
#define cm_info(event, ...)  cm_log (CM_LOG_INFO, event, __VA_ARGS__)
#define cm_warn(event, ...)  cm_log (CM_LOG_WARN, event, __VA_ARGS__)
#define cm_error(event, ...) cm_log (CM_LOG_ERROR, event, __VA_ARGS__)

/*  Copies at most `max` bytes of untrusted text into `out` (capacity `cap`) as a safe
    single-line excerpt for a log value: quotes, backslashes and control bytes escaped,
    "..." appended when cut. Returns `out`. Use as msg="%s". */
char *cm_log_excerpt (const char *text, size_t len, size_t max, char *out, size_t cap);

#endif
