/*  cm_utf8: UTF-8 validation, shared by the transformer (values it writes) and the loader
    (payloads it splices into Salesforce request bodies). */
#ifndef CM_UTF8_H
#define CM_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*  The length (1-4) of the well-formed UTF-8 character at s, which has avail bytes left;
    0 when it is not one: a stray continuation byte, an overlong form, a surrogate, a code
    point over U+10FFFF or a sequence cut short. */
size_t cm_utf8_char_len (const char *s, size_t avail);

/*  True when the n bytes at s are valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool cm_utf8_valid (const char *s, size_t n);

#endif
