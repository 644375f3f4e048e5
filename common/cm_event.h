/*  cm_event: what a stage tells the replayer about one record: an audit entry, and for a
    failure the failed envelope's exact bytes so a replay is byte-identical.

    Wire format: a msgpack map with string keys
      v      uint  CM_EVENT_VERSION
      stage  str   "extract" | "transform" | "load" | "replay"
      out    str   "extracted" | "transformed" | "rejected" | "loaded" | "failed" | "retrying"
                 | "skipped"
      eid    str   envelope id
      tenant str, entity str, key str, hash str, attempt uint
      at     int   ms epoch of the outcome
      sobj   str   target sObject (optional)      extid str  external-ID value (optional)
      sfid   str   Salesforce Id (loaded)         created bool (loaded)
      class  str   "retryable" | "permanent" (failed/rejected/retrying)
      code   str   error code, e.g. "REQUIRED_FIELD_MISSING" (optional)
      msg    str   error message (optional)       fields str  comma list of fields (optional)
      http   uint  HTTP status (optional, 0 = none)
      env    bin   the envelope bytes (failed/rejected: for the dead-letter store)
    Decoding is total like cm_envelope_decode. */
#ifndef CM_EVENT_H
#define CM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_envelope.h"

#define CM_EVENT_VERSION 1
#define CM_EVENT_MAX_BYTES                                                                         \
    (CM_ENVELOPE_MAX_BYTES + 512 * 1024) /* an encoded event is never larger */
#define CM_EVENT_MAX_STR (64 * 1024)     /* message, code, fields, ids: longer is refused */

typedef enum { CM_STAGE_EXTRACT, CM_STAGE_TRANSFORM, CM_STAGE_LOAD, CM_STAGE_REPLAY } cm_stage_t;

typedef enum {
    CM_OUTCOME_EXTRACTED,   /* extractor emitted the record */
    CM_OUTCOME_TRANSFORMED, /* transformer produced a target payload */
    CM_OUTCOME_REJECTED,    /* transformer could not map it: dead letter */
    CM_OUTCOME_LOADED,      /* Salesforce accepted it */
    CM_OUTCOME_FAILED,      /* final failure at the loader: dead letter */
    CM_OUTCOME_RETRYING,    /* a retryable failure; the loader will try again */
    CM_OUTCOME_SKIPPED      /* the mapping routes the record nowhere: done, nothing to load */
} cm_outcome_t;
#define CM_OUTCOME_COUNT 7 /* number of cm_outcome_t values */

typedef enum { CM_ERR_NONE, CM_ERR_RETRYABLE, CM_ERR_PERMANENT } cm_error_class_t;

typedef struct {
    cm_stage_t stage;             /* who reports */
    cm_outcome_t outcome;         /* what happened */
    char *envelope_id;            /* envelope id */
    char *tenant;                 /* tenant */
    char *entity;                 /* entity */
    char *key;                    /* source key */
    char *hash;                   /* content hash */
    uint32_t attempt;             /* delivery attempt */
    int64_t at_ms;                /* when */
    char *sobject;                /* target sObject or NULL */
    char *ext_id;                 /* target external ID or NULL */
    char *sf_id;                  /* Salesforce Id or NULL */
    bool created;                 /* loaded: created (true) or updated */
    cm_error_class_t error_class; /* failures */
    char *error_code;             /* failures, or NULL */
    char *message;                /* failures, or NULL */
    char *error_fields;           /* failures, or NULL */
    int http_status;              /* 0 when none */
    char *envelope;               /* failed envelope bytes, or NULL */
    size_t envelope_size;         /* their size */
} cm_event_t;

/*  Creates an event for the envelope (copies its identity; at_ms = now). NULL on OOM. */
cm_event_t *cm_event_new (cm_stage_t stage, cm_outcome_t outcome, const cm_envelope_t *env);

/*  Frees the event; sets *self_p to NULL. Accepts NULL. */
void cm_event_destroy (cm_event_t **self_p);

/*  Sets the error part (copies strings; any may be NULL). Returns 0 or -1. */
int cm_event_set_error (cm_event_t *self, cm_error_class_t cls, const char *code,
                        const char *message, const char *fields, int http_status);

/*  Attaches a copy of the encoded envelope (for dead letters). Returns 0 or -1. */
int cm_event_set_envelope (cm_event_t *self, const void *data, size_t size);

/*  Sets a string member (copying), e.g. cm_event_set_str (ev, &ev->sf_id, id). 0 or -1. */
int cm_event_set_str (cm_event_t *self, char **member, const char *value);

/*  Encodes to msgpack: 0 and a malloc'd buffer (caller frees), or -1. */
int cm_event_encode (const cm_event_t *self, char **data, size_t *size);

/*  Decodes untrusted bytes; NULL with a reason in err on anything malformed. */
cm_event_t *cm_event_decode (const void *data, size_t size, char *err, size_t err_cap);

/*  Names for logs and storage: "load", "failed", "retryable". */
const char *cm_stage_name (cm_stage_t stage);
const char *cm_outcome_name (cm_outcome_t outcome);
const char *cm_error_class_name (cm_error_class_t cls);

#endif
