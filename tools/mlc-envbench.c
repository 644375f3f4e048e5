/*  mlc-envbench: a micro-benchmark of the envelope codec (cm_envelope).

    mlc-envbench [--count N] [--lean]
        builds a typical invoice envelope (the 16 SLArInvs properties of the CloudSuite
        simulator; once as the extractor sends it, once with the transformer's target and
        payload as the loader receives it), then times N rounds each of decode + destroy,
        and of encode + free, and prints one line per case:
            decode src      bytes=412 ns=1234 (N=200000)
        With --lean the target envelope is also decoded with cm_envelope_decode_lean (what
        the loader may use: no source record). Timing is single-threaded wall clock
        (CLOCK_MONOTONIC); run it on an idle machine and compare runs of the same build.
    Exits 0 on success, 1 when a codec call fails, 2 on usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_envelope.h"

static const char *s_invoice[][2] = {
    {"InvNum", "1000042"},
    {"InvSeq", "0"},
    {"CustNum", "C000042"},
    {"InvDate", "2026-02-01 00:00:00.000"},
    {"DueDate", "2026-03-03 00:00:00.000"},
    {"Amount", "1250.00"},
    {"SalesTax", "87.50"},
    {"Freight", "25.00"},
    {"MiscCharges", "0.00"},
    {"AmountPaid", "0.00"},
    {"PaidInFull", "0"},
    {"Type", "I"},
    {"CoNum", "CO00042"},
    {"TermsCode", "N30"},
    {"RecordDate", "2026-02-01 08:15:02.117"},
    {"RowPointer", "6F1C2A9E-3B7D-4C55-9E1A-0D2B8C4F7A11"},
};
#define INVOICE_FIELDS (sizeof s_invoice / sizeof s_invoice[0])

static const char *s_payload =
    "{\"Name\":\"1000042\",\"Account__r\":{\"CloudSuite_Key__c\":\"ACME_PRD:customer:C000042/0\"},"
    "\"Invoice_Date__c\":\"2026-02-01\",\"Due_Date__c\":\"2026-03-03\",\"Amount__c\":1250.00,"
    "\"Sales_Tax__c\":87.50,\"Freight__c\":25.00,\"Amount_Paid__c\":0.00,\"Paid__c\":false,"
    "\"CloudSuite_Key__c\":\"ACME_PRD:invoice:1000042\"}";

static double
now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef cm_envelope_t *(decode_fn)(const void *data, size_t size, char *err, size_t err_cap);

static int
bench_decode (const char *label, decode_fn *decode, const char *data, size_t size, long count)
{
    char err[256] = "";
    double t0 = now_ns ();
    for (long i = 0; i < count; i++) {
        cm_envelope_t *env = decode (data, size, err, sizeof err);
        if (!env) {
            fprintf (stderr, "mlc-envbench: %s: %s\n", label, err);
            return -1;
        }
        cm_envelope_destroy (&env);
    }
    double ns = (now_ns () - t0) / (double)count;
    printf ("%-16s bytes=%zu ns=%.0f (N=%ld)\n", label, size, ns, count);
    return 0;
}

static int
bench_encode (const char *label, const cm_envelope_t *env, long count)
{
    size_t size = 0;
    double t0 = now_ns ();
    for (long i = 0; i < count; i++) {
        char *data = NULL;
        if (cm_envelope_encode (env, &data, &size) != 0) {
            fprintf (stderr, "mlc-envbench: %s: encode failed\n", label);
            return -1;
        }
        free (data);
    }
    double ns = (now_ns () - t0) / (double)count;
    printf ("%-16s bytes=%zu ns=%.0f (N=%ld)\n", label, size, ns, count);
    return 0;
}

int
main (int argc, char **argv)
{
    long count = 200000;
    int lean = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--count") == 0 && i + 1 < argc) {
            count = strtol (argv[++i], NULL, 10);
            if (count < 1 || count > 100000000L) {
                fprintf (stderr, "mlc-envbench: --count must be 1..100000000\n");
                return 2;
            }
        } else if (strcmp (argv[i], "--lean") == 0)
            lean = 1;
        else {
            fprintf (stderr, "usage: mlc-envbench [--count N] [--lean]\n");
            return 2;
        }
    }
    int rc = 1;
    char *src_bytes = NULL, *tgt_bytes = NULL;
    size_t src_size = 0, tgt_size = 0;
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", "invoice", "1000042");
    if (!env)
        goto out;
    for (size_t i = 0; i < INVOICE_FIELDS; i++)
        if (cm_envelope_add_field (env, s_invoice[i][0], s_invoice[i][1]) != 0)
            goto out;
    cm_envelope_compute_hash (env);
    if (cm_envelope_encode (env, &src_bytes, &src_size) != 0)
        goto out;
    if (bench_encode ("encode src", env, count) != 0)
        goto out;
    if (cm_envelope_set_target (env, "Invoice__c", "CloudSuite_Key__c", "ACME_PRD:invoice:1000042",
                                s_payload) != 0 ||
        cm_envelope_encode (env, &tgt_bytes, &tgt_size) != 0)
        goto out;
    if (bench_encode ("encode target", env, count) != 0 ||
        bench_decode ("decode src", cm_envelope_decode, src_bytes, src_size, count) != 0 ||
        bench_decode ("decode target", cm_envelope_decode, tgt_bytes, tgt_size, count) != 0)
        goto out;
    if (lean &&
        bench_decode ("decode_lean tgt", cm_envelope_decode_lean, tgt_bytes, tgt_size, count) != 0)
        goto out;
    rc = 0;
out:
    free (src_bytes);
    free (tgt_bytes);
    cm_envelope_destroy (&env);
    return rc;
}
