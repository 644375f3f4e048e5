/*  cm_log: structured key=value log lines on stderr. See cm_log.h.
    Each line is formatted into a bounded stack buffer and written with one write(2), so
    lines from several threads or processes sharing stderr never interleave. */
#include "cm_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CM_LOG_LINE_MAX 4096

static char s_process[64] = "mlc";           /* proc=NAME */
static cm_log_level_t s_level = CM_LOG_INFO; /* lowest level written */

static const char *
level_name (cm_log_level_t level)
{
    switch (level) {
    case CM_LOG_DEBUG:
        return "debug";
    case CM_LOG_INFO:
        return "info";
    case CM_LOG_WARN:
        return "warn";
    case CM_LOG_ERROR:
        return "error";
    }
    return "info";
}

void
cm_log_init (const char *process, cm_log_level_t level)
{
    snprintf (s_process, sizeof s_process, "%s", process ? process : "mlc");
    s_level = level;
}

int
cm_log_level_parse (const char *text, cm_log_level_t *level)
{
    if (!text)
        return -1;
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp (text, names[i]) == 0) {
            *level = (cm_log_level_t)i;
            return 0;
        }
    return -1;
}

void
cm_log (cm_log_level_t level, const char *event, const char *fmt, ...)
{
    if (level < s_level)
        return;
    int saved_errno = errno;
    char line[CM_LOG_LINE_MAX];
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    time_t secs = tv.tv_sec;
    gmtime_r (&secs, &tm);
    int n = snprintf (
        line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s proc=%s event=%s",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        (int)(tv.tv_usec / 1000), level_name (level), s_process, event ? event : "UNKNOWN");
    if (n < 0)
        n = 0;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (fmt && *fmt && len < sizeof line - 2) {
        line[len++] = ' ';
        va_list ap;
        va_start (ap, fmt);
        int m = vsnprintf (line + len, sizeof line - len, fmt, ap);
        va_end (ap);
        if (m > 0)
            len += (size_t)m;
    }
    /*  Leave room for "...\n"; a cut line ends with "..." so a reader sees it was cut. */
    if (len > sizeof line - 5) {
        len = sizeof line - 5;
        memcpy (line + len, "...", 3);
        len += 3;
    }
    /*  A formatted value must not break the one-event-per-line rule. */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    size_t off = 0;
    while (off < len) {
        ssize_t w = write (STDERR_FILENO, line + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t)w;
    }
    errno = saved_errno;
}

char *
cm_log_excerpt (const char *text, size_t len, size_t max, char *out, size_t cap)
{
    if (!out || cap == 0)
        return out;
    out[0] = '\0';
    if (!text)
        return out;
    size_t o = 0;
    size_t i = 0;
    size_t limit = len < max ? len : max;
    /*  Reserve room for "..." and the terminating NUL. */
    size_t room = cap > 4 ? cap - 4 : 0;
    for (; i < limit; i++) {
        unsigned char c = (unsigned char)text[i];
        char esc[5];
        size_t elen;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c == '\n') {
            memcpy (esc, "\\n", 2);
            elen = 2;
        } else if (c == '\r') {
            memcpy (esc, "\\r", 2);
            elen = 2;
        } else if (c == '\t') {
            memcpy (esc, "\\t", 2);
            elen = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf (esc, sizeof esc, "\\x%02x", c);
            elen = 4;
        } else {
            esc[0] = (char)c;
            elen = 1;
        }
        if (o + elen > room)
            break;
        memcpy (out + o, esc, elen);
        o += elen;
    }
    if (i < len && cap >= 4) {
        if (o + 3 > cap - 1)
            o = cap - 4;
        memcpy (out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
