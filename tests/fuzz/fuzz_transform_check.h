/*  fuzz_transform_check: the properties every tf_transform_apply outcome must have,
    shared by fuzz_mapping (fuzzed mapping, fixed records) and fuzz_transform (default
    mapping, fuzzed records).

    TF_OK: the target is set; sObject and external-ID field are usable API names; the
    external ID is 1..TF_MAX_KEY bytes; the payload is a JSON object whose first member is
    the external-ID field with that value, which the loader's payload check accepts when
    it is within SF_COLLECTIONS_MAX_PAYLOAD. TF_SKIP/TF_REJECT/TF_DEFER: the envelope's
    target is unchanged; a rejection has a code, a reason, and is retryable only for our own
    failures (out of memory, memory store); a deferral (a parent with alternatives that
    the memory does not know yet) says TRF_PARENT_PENDING and happens only before
    TF_DEFER_ATTEMPTS. */
#ifndef FUZZ_TRANSFORM_CHECK_H
#define FUZZ_TRANSFORM_CHECK_H

#include <cjson/cJSON.h>

#include "fuzz_common.h"
#include "sf_collections.h"
#include "tf_transform.h"

static inline void
fuzz_check_transform (tf_status_t st, const cm_envelope_t *env, const tf_result_t *res)
{
    FUZZ_CHECK (st == TF_OK || st == TF_SKIP || st == TF_REJECT || st == TF_DEFER);
    FUZZ_CHECK (memchr (res->code, '\0', sizeof res->code) &&
                memchr (res->reason, '\0', sizeof res->reason) &&
                memchr (res->field, '\0', sizeof res->field) &&
                memchr (res->route, '\0', sizeof res->route));
    if (st == TF_REJECT) {
        FUZZ_CHECK (res->code[0] && res->reason[0]);
        FUZZ_CHECK (strncmp (res->code, "MAPPING_", 8) == 0);
        return;
    }
    if (st == TF_DEFER) {
        FUZZ_CHECK (strcmp (res->code, "TRF_PARENT_PENDING") == 0 && res->reason[0]);
        FUZZ_CHECK (env->attempt < TF_DEFER_ATTEMPTS);
        return;
    }
    if (st == TF_SKIP)
        return;
    FUZZ_CHECK (env->sobject && env->ext_id_field && env->ext_id && env->payload);
    FUZZ_CHECK (sf_collections_name_ok (env->sobject) &&
                sf_collections_name_ok (env->ext_id_field));
    size_t klen = strlen (env->ext_id);
    FUZZ_CHECK (klen >= 1 && klen <= TF_MAX_KEY);
    cJSON *obj = cJSON_Parse (env->payload);
    FUZZ_CHECK (obj && cJSON_IsObject (obj));
    const cJSON *first = obj->child;
    FUZZ_CHECK (first && first->string && strcmp (first->string, env->ext_id_field) == 0);
    FUZZ_CHECK (cJSON_IsString (first) && strcmp (first->valuestring, env->ext_id) == 0);
    cJSON_Delete (obj);
    char why[256];
    if (strlen (env->payload) <= SF_COLLECTIONS_MAX_PAYLOAD) {
        int ok = sf_collections_payload_check (env->payload, why, sizeof why);
        if (ok != 0)
            fprintf (stderr, "payload refused by the loader: %s\n", why);
        FUZZ_CHECK (ok == 0);
    }
}

#endif
