/*  cm_confirm: a delivery confirmation, published by the replayer after it has committed a
    final outcome of one record (docs/delivery.md), read by the extractor that emitted it.

    On the wire (ZeroMQ PUB/SUB on zmq.confirm_endpoint) a confirmation is two frames:
      1. the tenant (the topic; a subscriber filters on it and checks it exactly, since
         ZeroMQ matches prefixes)
      2. a msgpack map with string keys: v uint CM_CONFIRM_VERSION, tenant str, entity str,
         key str, hash str, out str (a cm_outcome_t name: "loaded", "failed", "rejected",
         "skipped").
    Decoding is total: anything malformed is refused with a reason. */
#ifndef CM_CONFIRM_H
#define CM_CONFIRM_H

#include <stddef.h>

#include "cm_event.h"

#define CM_CONFIRM_VERSION   1
#define CM_CONFIRM_MAX_BYTES 8192 /* an encoded confirmation is never larger */
#define CM_CONFIRM_MAX_STR   1024 /* longest tenant / entity / key / hash accepted */

typedef struct {
    char *tenant;         /* tenant */
    char *entity;         /* entity */
    char *key;            /* source record key */
    char *hash;           /* content hash of the confirmed version */
    cm_outcome_t outcome; /* final outcome */
} cm_confirm_t;

/*  True when an event with this outcome is final for the record (and so confirmed):
    loaded, failed, rejected, skipped. */
bool cm_confirm_is_final (cm_outcome_t outcome);

/*  Encodes the confirmation of the event's record (tenant, entity, key, hash, outcome):
    0 and a malloc'd buffer (caller frees), or -1 (a member missing or too long, OOM). */
int cm_confirm_encode_event (const cm_event_t *ev, char **data, size_t *size);

/*  Decodes untrusted bytes (frame 2); NULL with a reason in err on anything malformed. */
cm_confirm_t *cm_confirm_decode (const void *data, size_t size, char *err, size_t err_cap);

/*  Frees the confirmation; sets *self_p to NULL. Accepts NULL. */
void cm_confirm_destroy (cm_confirm_t **self_p);

#endif
