/*  fuzz_ido: cs_ido_parse on an arbitrary LoadCollection response body (what the ION API
    gateway, a proxy or a login page may answer).

    Properties: a refusal says why; an accepted page is within CS_IDO_MAX_ITEMS and
    CS_IDO_MAX_PROPS, every name and value is readable text, and lookups by name agree
    with the positional accessors. */
#include <stdint.h>

#include "cs_ido.h"
#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    /*  The HTTP client hands over a NUL-terminated body; so does this. */
    char *body = fuzz_strndup (data, size);
    char err[1024] = "";
    cs_ido_page_t *page = cs_ido_parse (body, size, err, sizeof err);
    if (!page) {
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        free (body);
        return 0;
    }
    size_t n = cs_ido_page_size (page);
    FUZZ_CHECK (n <= CS_IDO_MAX_ITEMS);
    for (size_t i = 0; i < n; i++) {
        size_t props = cs_ido_page_prop_count (page, i);
        FUZZ_CHECK (props <= CS_IDO_MAX_PROPS);
        for (size_t j = 0; j < props; j++) {
            const char *name = cs_ido_page_prop_name (page, i, j);
            const char *value = cs_ido_page_prop_value (page, i, j);
            FUZZ_CHECK (name && value);
            (void)strlen (value);
            /*  By name: the first property of that name. */
            const char *got = cs_ido_page_get (page, i, name);
            FUZZ_CHECK (got);
        }
        FUZZ_CHECK (cs_ido_page_prop_name (page, i, props) == NULL);
    }
    FUZZ_CHECK (cs_ido_page_prop_count (page, n) == 0 && cs_ido_page_get (page, n, "x") == NULL);
    const char *bm = cs_ido_page_bookmark (page);
    if (bm)
        FUZZ_CHECK (*bm != '\0');
    (void)cs_ido_page_more (page);
    cs_ido_page_destroy (&page);
    free (body);
    return 0;
}
