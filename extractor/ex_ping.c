/*  ex_ping: end-to-end check of one CloudSuite connection. See ex_ping.h. */
#include "ex_ping.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm_http.h"
#include "cm_log.h"
#include "cs_auth.h"
#include "cs_ido.h"
#include "cs_ionapi.h"
#include "ex_poller.h"
#include "ex_tenant.h"

static bool
s_has (const char *text, const char *what)
{
    return text && strcasestr (text, what) != NULL;
}

const char *
ex_ping_transport_hint (const char *err)
{
    if (s_has (err, "resolve host") || s_has (err, "resolve proxy"))
        return "the host name does not resolve (DNS): check iu and pu in the .ionapi file and "
               "the DNS/network of this machine";
    if (s_has (err, "couldn't connect") || s_has (err, "connection refused") ||
        s_has (err, "failed to connect"))
        return "nothing accepts connections at that address (connection refused): check the "
               "host and port of iu/pu in the .ionapi file, and any firewall or proxy";
    if (s_has (err, "ssl") || s_has (err, "tls") || s_has (err, "certificate"))
        return "the TLS handshake or the server certificate check failed: check that the URL is "
               "the ION API host (https) and that this machine trusts its certificate (CA "
               "bundle, proxy)";
    if (s_has (err, "timed out") || s_has (err, "timeout"))
        return "the server did not answer in time: check the URL, the network and any proxy";
    if (s_has (err, "empty reply") || s_has (err, "connection reset") ||
        s_has (err, "recv failure") || s_has (err, "send failure"))
        return "the connection was dropped: a proxy or the wrong port (http vs https)?";
    return NULL;
}

const char *
ex_ping_token_hint (cm_oauth_result_t result, const char *err)
{
    if (s_has (err, "invalid_client"))
        return "the OAuth client id or secret (ci/cs in the .ionapi file) was refused: the "
               "client may have been deleted or its secret changed; download the .ionapi "
               "file again and import it (mlc-secrets import-ionapi)";
    if (s_has (err, "invalid_grant"))
        return "the service account keys (saak/sask in the .ionapi file) were refused: they "
               "are wrong, expired or revoked; create a new service account key pair for the "
               "Backend Service app and download the .ionapi file again";
    if (s_has (err, "unsupported_grant_type") || s_has (err, "unauthorized_client"))
        return "the token endpoint refused the password grant: the .ionapi file must belong to "
               "an ION API \"Backend Service\" client with a service account";
    const char *transport = ex_ping_transport_hint (err);
    if (transport)
        return transport;
    if (s_has (err, "HTTP 404") || s_has (err, "HTTP 405"))
        return "the token URL (pu + ot in the .ionapi file) does not exist on that server: "
               "check pu and ot";
    if (result == CM_OAUTH_UNAVAILABLE)
        return "the token endpoint is throttling or failing (429/5xx) right now: try again "
               "later; if it persists, check the Infor status page";
    if (result == CM_OAUTH_MALFORMED)
        return "the token URL did not answer like an OAuth server (wrong pu? a proxy or login "
               "page?)";
    return "the token endpoint refused the request: check the .ionapi file";
}

const char *
ex_ping_ido_hint (const char *err)
{
    if (s_has (err, "No Mongoose configuration"))
        return "no Mongoose configuration was sent: set cloudsuite.mongoose_config (env "
               "MLC_CLOUDSUITE_MONGOOSE_CONFIG) to the site's configuration name";
    if (s_has (err, "Configuration '") && s_has (err, "not found"))
        return "the Mongoose configuration name is wrong: set cloudsuite.mongoose_config to "
               "the configuration of the site/environment (as listed in the CloudSuite "
               "configuration manager), e.g. ACME_PRD_DALS";
    if (s_has (err, "IDO '") && s_has (err, "does not exist"))
        return "this IDO does not exist: check cloudsuite.<entity>.ido (IDO names are "
               "case-sensitive and differ between releases, e.g. SLPos vs SLPOs)";
    if ((s_has (err, "Property '") && s_has (err, "not found")) ||
        s_has (err, "Invalid column name"))
        return "a property is not in this IDO: check cloudsuite.<entity>.properties, .key and "
               ".watermark against the IDO in this release";
    if (s_has (err, "HTTP 403") || s_has (err, "not authorized") || s_has (err, "authoriz") ||
        s_has (err, "permission") || s_has (err, "access denied") || s_has (err, "no rights") ||
        s_has (err, "not have rights"))
        return "the service account has no rights on this IDO: grant its user read access to "
               "the IDO (CloudSuite security roles / authorizations)";
    if (s_has (err, "401 even with a new token"))
        return "the gateway refuses a fresh token for this API: the ION API client may lack "
               "access to the CSI/SyteLine IDO API";
    if (s_has (err, "HTTP 404"))
        return "the API path was not found: check iu in the .ionapi file (the ION API gateway "
               "URL) and that this tenant runs CloudSuite Industrial (CSI)";
    if (s_has (err, "is HTML"))
        return "an HTML page came back instead of JSON: a login page, a proxy or the wrong "
               "iu in the .ionapi file";
    const char *transport = ex_ping_transport_hint (err);
    if (transport)
        return transport;
    if (s_has (err, "HTTP 429") || s_has (err, "HTTP 5"))
        return "the gateway is throttling or failing (429/5xx) right now: try again later";
    return "the IDO request failed: see the message above";
}

/*  Writes "  why: ...\n" for a message, excerpted to one line. */
static void
s_why (FILE *out, const char *label, const char *text)
{
    char ex[1200];
    cm_log_excerpt (text, strlen (text), 900, ex, sizeof ex);
    fprintf (out, "       %s: %s\n", label, ex);
}

int
ex_ping (const cm_config_t *cfg, FILE *out)
{
    int rc = 1;
    char err[1024] = "", source[320] = "";
    cs_ionapi_t *ionapi = NULL;
    cm_http_t *http = NULL;
    cs_auth_t *auth = NULL;
    cs_ido_t *ido = NULL;
    bool ok = true;

    ionapi = ex_tenant_load_ionapi (cfg, source, sizeof source, err, sizeof err);
    if (!ionapi) {
        char ex[1200];
        cm_log_excerpt (err, strlen (err), 900, ex, sizeof ex);
        fprintf (out, "FAIL credentials: %s\n", ex);
        goto out;
    }
    const char *mongoose = cm_config_str (cfg, "cloudsuite.mongoose_config");
    fprintf (out, "ok   credentials: %s (tenant %s, client %s)\n", source,
             cs_ionapi_tenant (ionapi), cs_ionapi_client_id (ionapi));
    fprintf (out, "     token endpoint: %s\n", cs_ionapi_token_url (ionapi));
    fprintf (out, "     API base:       %s\n", cs_ionapi_api_base (ionapi));
    fprintf (out, "     Mongoose config: %s\n", mongoose && *mongoose ? mongoose : "(not set)");

    cm_retry_policy_t policy = {.max_attempts = (int)cm_config_int (cfg, "http.max_attempts"),
                                .base_ms = (long)cm_config_int (cfg, "http.backoff_base_ms"),
                                .max_ms = (long)cm_config_int (cfg, "http.backoff_max_ms")};
    if (policy.max_attempts > EX_PING_MAX_ATTEMPTS)
        policy.max_attempts = EX_PING_MAX_ATTEMPTS;
    if (policy.max_ms > 2000)
        policy.max_ms = 2000;
    long timeout = (long)cm_config_int (cfg, "http.timeout_ms");
    http = cm_http_new ((size_t)cm_config_int (cfg, "http.max_body_bytes"),
                        timeout < EX_PING_TIMEOUT_MS ? timeout : EX_PING_TIMEOUT_MS);
    auth = http ? cs_auth_new (ionapi, http, &policy, 0) : NULL;
    if (!auth) {
        fprintf (out, "FAIL internal: cannot create the HTTP client\n");
        goto out;
    }
    const char *token = NULL;
    cm_oauth_result_t orc = cs_auth_token (auth, &token, err, sizeof err);
    if (orc != CM_OAUTH_OK) {
        fprintf (out, "FAIL token: %s\n", ex_ping_token_hint (orc, err));
        s_why (out, "detail", err);
        goto out;
    }
    fprintf (out, "ok   token: obtained with the password grant\n");
    if (!mongoose || !*mongoose) {
        fprintf (out, "FAIL Mongoose config: cloudsuite.mongoose_config is not set (env "
                      "MLC_CLOUDSUITE_MONGOOSE_CONFIG): every IDO request needs the site's "
                      "configuration name\n");
        goto out;
    }
    ido = cs_ido_new (cs_ionapi_api_base (ionapi), mongoose, http, auth, &policy);
    if (!ido) {
        fprintf (out, "FAIL internal: out of memory\n");
        goto out;
    }
    size_t enabled = 0;
    for (size_t i = 0; i < EX_TENANT_ENTITIES; i++) {
        const char *entity = ex_tenant_entity_name (i);
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", entity);
        if (!cm_config_bool (cfg, key))
            continue;
        enabled++;
        ex_entity_t ent;
        ex_entity_from_config (cfg, entity, &ent);
        /* the poller checks the names and adds the key and watermark properties */
        ex_poller_t *poller =
            ex_poller_new (cs_ionapi_tenant (ionapi), &ent, NULL, NULL, NULL, err, sizeof err);
        if (!poller) {
            fprintf (out, "FAIL %s: bad settings\n", entity);
            s_why (out, "why", err);
            ok = false;
            continue;
        }
        cs_ido_query_t q = {
            .ido = ent.ido, .properties = ex_poller_properties (poller), .recordcap = 1};
        cs_ido_page_t *page = NULL;
        if (cs_ido_load (ido, &q, &page, err, sizeof err)) {
            fprintf (out, "FAIL %s (%s): %s\n", entity, ent.ido, ex_ping_ido_hint (err));
            s_why (out, "detail", err);
            ok = false;
        } else {
            size_t n = cs_ido_page_size (page);
            fprintf (out, "ok   %s (%s): readable, %s\n", entity, ent.ido,
                     n ? "first record received" : "no records yet");
        }
        cs_ido_page_destroy (&page);
        ex_poller_destroy (&poller);
    }
    if (enabled == 0) {
        fprintf (out, "FAIL entities: none is enabled (cloudsuite.<entity>.enabled)\n");
        ok = false;
    }
    rc = ok ? 0 : 1;
out:
    fprintf (out, "%s\n",
             rc == 0 ? "ping: the connection works"
                     : "ping: the connection does not work (see FAIL above)");
    cs_ido_destroy (&ido);
    cs_auth_destroy (&auth);
    cm_http_destroy (&http);
    cs_ionapi_destroy (&ionapi);
    return rc;
}
