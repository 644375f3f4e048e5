/*  ex_schedule: when each entity of a tenant is polled, and when a poll is a full
    reconciliation pass.

    Every entity has its own incremental poll interval and the tenant a slower full-pass
    interval (0 = never). The start times of the last successful poll and full pass are kept
    in the state (ex_state_times), so a restart neither polls early nor forgets a nightly
    pass. A failed poll is tried again after EX_SCHEDULE_RETRY_MS (or the interval, when that
    is shorter), not a whole interval later. All times are wall-clock epoch ms; a clock that
    went back makes the entity due at once rather than never. */
#ifndef EX_SCHEDULE_H
#define EX_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#define EX_SCHEDULE_RETRY_MS 60000 /* a failed poll is retried this soon at the latest */

typedef struct {
    int64_t interval_ms;      /* incremental poll interval, > 0 */
    int64_t full_interval_ms; /* full pass interval, 0 = never */
    int64_t last_poll_ms;     /* start of the last successful poll, 0 = never */
    int64_t last_full_ms;     /* start of the last successful full pass, 0 = never */
    int64_t last_try_ms;      /* start of the last attempt, 0 = none since start-up */
    bool last_failed;         /* the last attempt failed */
} ex_schedule_t;

/*  When the entity's next poll is due (epoch ms; <= now_ms means now). */
int64_t ex_schedule_due (const ex_schedule_t *self, int64_t now_ms);

/*  True when a poll starting at now_ms must be a full pass (full passes are on and the
    last one is older than full_interval_ms, or there was none). */
bool ex_schedule_full_due (const ex_schedule_t *self, int64_t now_ms);

/*  Records an attempt that started at start_ms: ok says whether it succeeded and full
    whether it read without the watermark filter. */
void ex_schedule_done (ex_schedule_t *self, int64_t start_ms, bool ok, bool full);

#endif
