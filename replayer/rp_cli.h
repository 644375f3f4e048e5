/*  rp_cli: the replayer's operator commands.

      list    [--tenant T] [--entity E] [--code C] [--text S] [--since TIME] [--until TIME]
              [--limit N] [--json]                    dead letters, a table or a JSON array
      show    ID [--json]                             one dead letter, with its envelope
      history KEY [--json]                            one record's audit trail, oldest first;
                                                      KEY is tenant:entity:key or a
                                                      Salesforce Id
      stats   [--json]                                the counters
      export  [--audit] [list filters]                JSON lines: dead letters (with the
                                                      envelope as base64 in "envelope_b64"),
                                                      or with --audit every audit entry
      replay  ID... | --all [list filters]            asks the daemon to re-feed them
      purge   ID --reason TEXT                        removes one dead letter, audited
    TIME is "YYYY-MM-DD HH:MM:SS" (UTC) or ms since the epoch.

    Reading commands (list, show, history, stats, export) open the store read-only, which
    works while the daemon runs and shows the state committed when the command started
    (the daemon commits after every burst of events, so that is at most a moment old).
    replay and purge change state, so they are sent to the running daemon over its control
    socket (REQ/REP, see rp_daemon.h); purge falls back to opening the store itself when
    no daemon answers (it then needs the store not to be locked). */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "cm_config.h"

typedef struct {
    const char *data_dir;         /* the store is data_dir/replayer */
    const char *control_endpoint; /* the daemon's control socket, or NULL */
    int timeout_ms;               /* how long to wait for the daemon; 0 = 3000 */
    const cm_config_t *zmq;       /* zmq.curve_* keys for the control link (cm_daemon);
                                     NULL = plaintext */
} rp_cli_config_t;

/*  Runs the command argv[0] with its arguments. Normal output goes to out, errors to err
    (one clear line). Returns the exit status: 0 done, 1 failed (unknown id, no store,
    daemon not reachable, storage error), 2 usage error. */
int rp_cli_run (const rp_cli_config_t *config, int argc, char **argv, FILE *out, FILE *err);

/*  True when name is one of the commands above. */
bool rp_cli_is_command (const char *name);

/*  Writes the usage text to f. */
void rp_cli_usage (FILE *f);

#endif
