/*  cm_time: clocks and interruptible sleeps. See cm_time.h. */
#include "cm_time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cm_signal.h"

/*  The longest single nap, so a stop request is noticed quickly even without a signal
    (cm_signal_request_stop from another thread). */
#define CM_SLEEP_SLICE_MS 50

int64_t
cm_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cm_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
cm_sleep_ms (int64_t ms)
{
    int64_t deadline = cm_mono_ms () + (ms > 0 ? ms : 0);
    for (;;) {
        if (cm_signal_stop_requested ())
            return -1;
        int64_t left = deadline - cm_mono_ms ();
        if (left <= 0)
            return 0;
        if (left > CM_SLEEP_SLICE_MS)
            left = CM_SLEEP_SLICE_MS;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        /*  EINTR just loops: the stop flag is checked at the top. */
        nanosleep (&ts, NULL);
    }
}

/*  Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm), so
    parsing does not depend on the TZ environment (timegm is fine too, but this is total). */
static int64_t
days_from_civil (int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

char *
cm_time_format_sql (int64_t ms, char *out)
{
    int64_t secs = ms / 1000;
    int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r (&t, &tm)) {
        strcpy (out, "1970-01-01 00:00:00.000");
        return out;
    }
    /*  Years outside 0..9999 are not SQL datetimes; the text is cut to 23 characters. */
    char tmp[96];
    snprintf (tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    memcpy (out, tmp, 23);
    out[23] = '\0';
    return out;
}

static int
read_digits (const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += count;
    *value = v;
    return 0;
}

int
cm_time_parse_sql (const char *text, int64_t *ms)
{
    if (!text)
        return -1;
    const char *p = text;
    int y, mo, d, h, mi, s, frac = 0;
    if (read_digits (&p, 4, &y) || *p++ != '-' || read_digits (&p, 2, &mo) || *p++ != '-' ||
        read_digits (&p, 2, &d) || *p++ != ' ' || read_digits (&p, 2, &h) || *p++ != ':' ||
        read_digits (&p, 2, &mi) || *p++ != ':' || read_digits (&p, 2, &s))
        return -1;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0 || digits > 9)
            return -1;
        for (int i = digits; i < 3; i++)
            frac *= 10;
    }
    if (*p != '\0')
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 59)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return -1;
    int64_t days = days_from_civil (y, mo, d);
    *ms = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000 + frac;
    return 0;
}
