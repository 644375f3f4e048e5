/*  fuzz_common: what every libFuzzer target of tests/fuzz shares.

    Each target calls fuzz_init once (logs off, no MLC_ environment leaking into the
    config loader) and uses FUZZ_CHECK for the properties it asserts beyond "no crash":
    a property that does not hold aborts, so libFuzzer keeps the input as a crash. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_log.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

/*  Silences the logs (the decoders log every refusal) once per process. */
static inline void
fuzz_init (void)
{
    static int done = 0;
    if (done)
        return;
    done = 1;
    cm_log_init ("fuzz", (cm_log_level_t)(CM_LOG_ERROR + 1));
}

/*  A NUL-terminated malloc'd copy of the input (decoders of text take C strings too).
    The caller frees. Aborts on OOM (not a finding of the code under test). */
static inline char *
fuzz_strndup (const uint8_t *data, size_t size)
{
    char *s = malloc (size + 1);
    if (!s)
        abort ();
    if (size)
        memcpy (s, data, size);
    s[size] = '\0';
    return s;
}

/*  True when err holds a non-empty, NUL-terminated reason (every refusal must say why). */
static inline int
fuzz_has_reason (const char *err, size_t cap)
{
    return memchr (err, '\0', cap) != NULL && err[0] != '\0';
}

#endif
