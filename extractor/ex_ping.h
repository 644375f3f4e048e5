/*  ex_ping: the operator's end-to-end check of one CloudSuite connection
    (`mlc-extractor --config F ping`).

    It loads the .ionapi credentials (file or encrypted store), requests a token, and loads
    one record (recordcap=1) of every enabled entity with its configured IDO and properties,
    then says in plain words what is wrong: a refused secret (invalid_client, invalid_grant),
    a wrong URL (DNS, connection refused, TLS), a missing or wrong Mongoose configuration,
    an unknown IDO or property, or no rights on an IDO. It needs no state, sockets or
    running pipeline, and retries little so a wrong setting is reported in seconds. */
#ifndef EX_PING_H
#define EX_PING_H

#include <stdio.h>

#include "cm_config.h"
#include "cm_oauth.h"

#define EX_PING_MAX_ATTEMPTS 2     /* HTTP attempts per call during a ping */
#define EX_PING_TIMEOUT_MS   15000 /* at most this long per HTTP call during a ping */

/*  Runs the check for cfg, writing a report to out. Returns 0 when everything works, 1
    otherwise. */
int ex_ping (const cm_config_t *cfg, FILE *out);

/*  Plain-words cause and remedy for a failed token request (result and its message). */
const char *ex_ping_token_hint (cm_oauth_result_t result, const char *err);

/*  Plain-words cause and remedy for a failed IDO load, for entity (its message). */
const char *ex_ping_ido_hint (const char *err);

/*  Plain-words cause of a transport failure (DNS, refused, TLS, timeout) found in err, or
    NULL when err does not look like one. */
const char *ex_ping_transport_hint (const char *err);

#endif
