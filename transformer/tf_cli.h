/*  tf_cli: the operator commands of mlc-transformer, which run without the pipeline:

      --check-mapping FILE   validate a mapping and describe what it maps
      --map-records          apply a mapping to records given as JSON files and print the
                             exact Salesforce payloads (a dry run; also the golden tests)
      --bench                measure the transformer's throughput on one core over real
                             ZeroMQ sockets, with or without the match memory

    Each returns the process exit status: 0 success, 1 failure (invalid mapping, unreadable
    input), 2 bad arguments. Output goes to stdout, diagnostics to stderr. */
#ifndef TF_CLI_H
#define TF_CLI_H

#include <stdbool.h>

#include "cm_config.h"
#include "tf_mapping.h"

#define TF_CLI_MAX_INPUTS 16 /* ENTITY=FILE arguments */

/*  Options of --map-records and --bench. */
typedef struct {
    const char *mapping_file;                /* NULL: transformer.mapping_file */
    const char *config_file;                 /* NULL: defaults only */
    const char *tenant;                      /* NULL: cloudsuite.tenant, else "TENANT" */
    const char *memory_dir;                  /* NULL: a fresh temporary memory */
    bool no_memory;                          /* run without the memory */
    int passes;                              /* --bench: times over the records (>= 1) */
    const char *entities[TF_CLI_MAX_INPUTS]; /* input i: entity */
    const char *files[TF_CLI_MAX_INPUTS];    /* input i: records file ("-": stdin) */
    int input_count;                         /* number of inputs */
} tf_cli_options_t;

/*  Properties the mapping uses that cloudsuite.<entity>.properties does not extract.
    With log: one TRF_PROPERTY_NOT_EXTRACTED warning each, enabled entities only. Without:
    one printed line each, an error for an enabled entity, a note for a disabled one.
    Returns how many concern enabled entities. */
int tf_cli_missing_properties (const tf_mapping_t *mapping, const cm_config_t *cfg, bool log);

/*  --check-mapping FILE [--config FILE]. config_file may be NULL. */
int tf_cli_check_mapping (const char *file, const char *config_file);

/*  --map-records: one JSON line per record, in input order:
      {"entity":"vendor","key":"V000001","result":"ok","route":"","sobject":"Account",
       "extf":"CloudSuite_Key__c","extid":"...","payload":{...exact payload...}}
      {"entity":"customer","key":"C000001/1","result":"skip","route":"ship_to"}
      {"entity":"invoice","key":"...","result":"rejected","route":"","code":"...",
       "field":"...","reason":"..."}
    then a summary on stderr. Records are mapped in the order given, through one memory,
    as the running transformer would (suppliers before customers before invoices). */
int tf_cli_map_records (const tf_cli_options_t *opts);

/*  --bench: the records (encoded as the extractor sends them) go through the transformer's
    real message handler (tf_loop) `passes` times, with a sink thread reading the load and
    events sockets; prints records/s on the handler's thread (CPU time) and wall time. */
int tf_cli_bench (const tf_cli_options_t *opts);

#endif
