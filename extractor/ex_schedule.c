/*  ex_schedule: per-entity poll and full-pass timing. See ex_schedule.h. */
#include "ex_schedule.h"

int64_t
ex_schedule_due (const ex_schedule_t *self, int64_t now_ms)
{
    int64_t last = self->last_try_ms ? self->last_try_ms : self->last_poll_ms;
    if (last == 0 || last > now_ms)
        return now_ms; /* never polled, or the clock went back */
    int64_t wait = self->interval_ms;
    if (self->last_try_ms && self->last_failed && wait > EX_SCHEDULE_RETRY_MS)
        wait = EX_SCHEDULE_RETRY_MS;
    int64_t due = last + wait;
    /* a full pass that falls due earlier than the next incremental poll is not delayed */
    if (self->full_interval_ms > 0 && self->last_full_ms > 0 && self->last_full_ms <= now_ms &&
        !(self->last_try_ms && self->last_failed)) {
        int64_t full_due = self->last_full_ms + self->full_interval_ms;
        if (full_due < due)
            due = full_due;
    }
    return due;
}

bool
ex_schedule_full_due (const ex_schedule_t *self, int64_t now_ms)
{
    if (self->full_interval_ms <= 0)
        return false;
    if (self->last_full_ms == 0 || self->last_full_ms > now_ms)
        return true;
    return now_ms - self->last_full_ms >= self->full_interval_ms;
}

void
ex_schedule_done (ex_schedule_t *self, int64_t start_ms, bool ok, bool full)
{
    self->last_try_ms = start_ms;
    self->last_failed = !ok;
    if (ok) {
        self->last_poll_ms = start_ms;
        if (full)
            self->last_full_ms = start_ms;
    }
}
