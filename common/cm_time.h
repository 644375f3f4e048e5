/*  cm_time: clocks and interruptible sleeps. */
#ifndef CM_TIME_H
#define CM_TIME_H

#include <stdint.h>

/*  Wall-clock milliseconds since the epoch. */
int64_t cm_now_ms (void);

/*  Monotonic milliseconds, for intervals and deadlines. */
int64_t cm_mono_ms (void);

/*  Sleeps up to ms milliseconds, waking early when a stop was requested (cm_signal).
    Returns 0 after the full sleep, -1 when interrupted by a stop request. */
int cm_sleep_ms (int64_t ms);

/*  Formats epoch ms as "2026-02-01 08:15:02.117" (UTC, SQL Server datetime text) into out
    (at least 24 bytes). Returns out. */
char *cm_time_format_sql (int64_t ms, char *out);

/*  Parses "YYYY-MM-DD HH:MM:SS[.fff]" (UTC) into epoch ms. Returns 0, or -1 if malformed. */
int cm_time_parse_sql (const char *text, int64_t *ms);

#endif
