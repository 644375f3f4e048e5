/*  ld_orgs: which Salesforce org each tenant loads into. One loader serves many orgs.

    The default org comes from salesforce.url, salesforce.client_id and
    salesforce.client_secret; every tenant not named elsewhere loads into it. The file
    named by salesforce.orgs_file maps tenants to their own orgs:

      {
        "ACME_PRD":  {"url": "https://acme.my.salesforce.com", "client_id": "3MVG9...",
                      "client_secret": "secret:sf/acme"},
        "ACME_TST":  {"url": "https://acme--uat.sandbox.my.salesforce.com",
                      "client_id": "3MVG9...", "client_secret_env": "ACME_TST_SF_SECRET"},
        "GLOBEX":    {"url": "https://globex.my.salesforce.com", "client_id": "3MVG9...",
                      "client_secret": "...", "api_version": "61.0"}
      }

    Keys per tenant: url, client_id (required), one of client_secret or client_secret_env
    (the name of an environment variable holding it), api_version (optional; default
    salesforce.api_version). A client_secret "secret:NAME" is resolved through the
    resolver given to ld_orgs_new (the encrypted secret store). Every other setting (limits,
    timeouts, session TTL) is the loader's salesforce.* value. Tenants with the same url and
    client_id share one org: one token, one usage count. Unknown keys, a missing setting, a
    non-https URL off loopback, two secrets for one org: an error naming the tenant and key.
    The file and every value are bounded; secrets never appear in errors. */
#ifndef LD_ORGS_H
#define LD_ORGS_H

#include <stdbool.h>
#include <stddef.h>

#include "sf_org.h"

#define LD_ORGS_MAX_FILE    (1024 * 1024) /* a larger orgs file is refused */
#define LD_ORGS_MAX_TENANTS 10000         /* tenants in the file at most */
#define LD_ORGS_MAX_TENANT  64            /* tenant id length */

typedef struct ld_orgs_t ld_orgs_t;

/*  Resolves a "secret:NAME" value into a malloc'd secret (caller wipes and frees). Returns
    0, or -1 with the reason (never the secret) in err. */
typedef int (ld_secret_fn) (void *arg, const char *ref, char **secret, char *err, size_t err_cap);

/*  Builds the orgs. base holds the shared settings and, when have_default, the default
    org's url, client_id and client_secret; orgs_file (NULL or "": none) adds tenants'
    own orgs. resolve (may be NULL) resolves "secret:" values. No request is made. Returns
    NULL with the reason in err. */
ld_orgs_t *ld_orgs_new (const sf_org_config_t *base, bool have_default, const char *orgs_file,
                        ld_secret_fn *resolve, void *resolve_arg, char *err, size_t err_cap);

/*  Same from the file's text (len bytes); origin names it in messages. */
ld_orgs_t *ld_orgs_parse (const sf_org_config_t *base, bool have_default, const char *text,
                          size_t len, const char *origin, ld_secret_fn *resolve, void *resolve_arg,
                          char *err, size_t err_cap);

/*  Frees every org; sets *self_p to NULL. Accepts NULL. */
void ld_orgs_destroy (ld_orgs_t **self_p);

/*  The index of the org that tenant loads into, or -1 when none (no default org and the
    tenant is not in the file). */
long ld_orgs_index (const ld_orgs_t *self, const char *tenant);

/*  The org that tenant loads into, or NULL. Borrowed. */
sf_org_t *ld_orgs_find (const ld_orgs_t *self, const char *tenant);

/*  Number of distinct orgs and the i-th (borrowed). */
size_t ld_orgs_count (const ld_orgs_t *self);
sf_org_t *ld_orgs_at (const ld_orgs_t *self, size_t index);

#endif
