/*  seedgen: writes the msgpack seeds of the fuzz corpora with the real encoders, so the
    seeds are exactly what the processes put on the wire: envelopes as the extractor and
    the transformer send them (fuzz_envelope, fuzz_transform) and events of every outcome
    (fuzz_event). Usage: seedgen CORPUS_DIR (writes CORPUS_DIR/<target>/seed-*.mp).
    Run by `make fuzz-seeds`; the output is checked in. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm_envelope.h"
#include "cm_event.h"

static const char *s_root;

static void
write_seed (const char *target, const char *name, const char *data, size_t size)
{
    char path[512];
    snprintf (path, sizeof path, "%s/%s", s_root, target);
    if (mkdir (path, 0755) != 0 && errno != EEXIST) {
        perror (path);
        exit (1);
    }
    snprintf (path, sizeof path, "%s/%s/%s", s_root, target, name);
    FILE *f = fopen (path, "wb");
    if (!f || fwrite (data, 1, size, f) != size || fclose (f) != 0) {
        perror (path);
        exit (1);
    }
}

static cm_envelope_t *
record (const char *entity, const char *key, const char *const (*fields)[2])
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", entity, key);
    for (size_t i = 0; env && fields[i][0]; i++)
        cm_envelope_add_field (env, fields[i][0], fields[i][1]);
    if (!env)
        exit (1);
    /*  Fixed ids and times keep the seeds stable between runs of the generator. */
    memcpy (env->id, "0123456789abcdef0123456789abcdef", 33);
    env->extracted_at_ms = env->sent_at_ms = 1767225600000LL;
    cm_envelope_compute_hash (env);
    return env;
}

static void
write_envelope (const char *target, const char *name, const cm_envelope_t *env)
{
    char *data = NULL;
    size_t size = 0;
    if (cm_envelope_encode (env, &data, &size) != 0)
        exit (1);
    write_seed (target, name, data, size);
    free (data);
}

static const char *const s_vendor[][2] = {{"VendNum", "V000123"},
                                          {"Name", "Northwind Industrial Supply"},
                                          {"Phone", "+1 312-555-0142"},
                                          {"Stat", "A"},
                                          {"CurrCode", "USD"},
                                          {"TermsCode", "N30"},
                                          {"VadAddr_1", "1200 W Fulton Market"},
                                          {"VadAddr_2", ""},
                                          {"VadAddr_3", ""},
                                          {"VadAddr_4", ""},
                                          {"VadCity", "Chicago"},
                                          {"VadState", "IL"},
                                          {"VadZip", "60607"},
                                          {"VadCountry", "USA"},
                                          {"ExternalEmailAddr", "ap@northwind.example"},
                                          {"RecordDate", "2026-02-01 08:15:02.117"},
                                          {"RowPointer", "6F1C2A9E-3B7D-4C55-9E1A-0D2B8C4F7A11"},
                                          {NULL, NULL}};
static const char *const s_company[][2] = {{"CustNum", "C000010"},
                                           {"CustSeq", "0"},
                                           {"CustType", "RET"},
                                           {"Name", "Northwind Industrial Supply"},
                                           {"Addr_1", "77 Lake Shore Dr"},
                                           {"City", "Chicago"},
                                           {"State", "IL"},
                                           {"Zip", "60611"},
                                           {"Country", "USA"},
                                           {"CurrCode", "USD"},
                                           {"TermsCode", "N45"},
                                           {"CreditLimit", "25000.00"},
                                           {"Phone", ""},
                                           {"ExternalEmailAddr", "buyer@northwind.example"},
                                           {"RecordDate", "2026-01-15 10:00:00.000"},
                                           {NULL, NULL}};
static const char *const s_person[][2] = {{"CustNum", "C000042"},
                                          {"CustSeq", "0"},
                                          {"CustType", "IND"},
                                          {"Name", "Anna Maria Ng"},
                                          {"Addr_1", "4 Elm St"},
                                          {"City", "Columbus"},
                                          {"State", "OH"},
                                          {"Zip", "43215"},
                                          {"Country", "USA"},
                                          {"Phone", "614-555-0199"},
                                          {"ExternalEmailAddr", "Anna.Ng@Example.com"},
                                          {NULL, NULL}};
static const char *const s_shipto[][2] = {
    {"CustNum", "C000042"}, {"CustSeq", "3"}, {"Name", "Warehouse 3"}, {NULL, NULL}};
static const char *const s_invoice[][2] = {{"InvNum", "INV000777"},
                                           {"InvSeq", "0"},
                                           {"CustNum", "C000010"},
                                           {"InvDate", "2026-02-01 00:00:00.000"},
                                           {"DueDate", "2026-03-03 00:00:00.000"},
                                           {"Amount", "1234.565"},
                                           {"SalesTax", "98.77"},
                                           {"Freight", "0"},
                                           {"Type", "I"},
                                           {"PaidInFull", "0"},
                                           {"CoNum", "CO000123"},
                                           {"TermsCode", "N30"},
                                           {"RecordDate", "2026-02-01 08:15:02.117"},
                                           {NULL, NULL}};
static const char *const s_po[][2] = {{"PoNum", "PO000055"},
                                      {"VendNum", "V000123"},
                                      {"OrderDate", "2026-01-20 00:00:00.000"},
                                      {"Stat", "O"},
                                      {"Whse", "MAIN"},
                                      {"TermsCode", "N30"},
                                      {"VenCurrCode", "EUR"},
                                      {"RecordDate", "2026-01-20 09:30:00.000"},
                                      {NULL, NULL}};
static const char *const s_hostile[][2] = {
    {"VendNum", " V\"1\\2 "},
    {"Name", "\xc3\x85ngstr\xc3\xb6m & S\xc3\xb6hne \xe2\x80\x94 \xf0\x9f\x9a\x80 GmbH"},
    {"Phone", "\t\r\n"},
    {"Stat", "Z"},
    {"VadAddr_1", "{VadAddr_2}"},
    {"VadCountry", "\xff\xfe"},
    {NULL, NULL}};

static void
write_line_seed (const char *name, int entity, const char *const (*fields)[2])
{
    char buf[4096];
    size_t n = 0;
    buf[n++] = (char)entity;
    for (size_t i = 0; fields[i][0]; i++)
        n += (size_t)snprintf (buf + n, sizeof buf - n, "%s=%s\n", fields[i][0], fields[i][1]);
    write_seed ("fuzz_transform", name, buf, n);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: seedgen CORPUS_DIR\n");
        return 2;
    }
    s_root = argv[1];
    struct {
        const char *name, *entity, *key;
        const char *const (*fields)[2];
        int line_entity;
    } recs[] = {{"vendor", "vendor", "V000123", s_vendor, 0},
                {"company", "customer", "C000010/0", s_company, 1},
                {"person", "customer", "C000042/0", s_person, 1},
                {"shipto", "customer", "C000042/3", s_shipto, 1},
                {"invoice", "invoice", "INV000777/0", s_invoice, 2},
                {"po", "po", "PO000055", s_po, 3},
                {"hostile", "vendor", "V\"1", s_hostile, 0}};
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        cm_envelope_t *env = record (recs[i].entity, recs[i].key, recs[i].fields);
        char name[64];
        snprintf (name, sizeof name, "seed-%s.mp", recs[i].name);
        write_envelope ("fuzz_envelope", name, env);
        write_envelope ("fuzz_transform", name, env);
        snprintf (name, sizeof name, "seed-%s.txt", recs[i].name);
        write_line_seed (name, recs[i].line_entity, recs[i].fields);
        cm_envelope_destroy (&env);
    }
    /*  An envelope as the transformer forwards it: with its target and a retry count. */
    cm_envelope_t *env = record ("vendor", "V000123", s_vendor);
    env->attempt = 3;
    cm_envelope_set_target (env, "Account", "CloudSuite_Key__c", "ACME_PRD:vendor:V000123",
                            "{\"CloudSuite_Key__c\":\"ACME_PRD:vendor:V000123\","
                            "\"Name\":\"Northwind Industrial Supply\",\"Phone\":null}");
    write_envelope ("fuzz_envelope", "seed-mapped.mp", env);
    char *bytes = NULL;
    size_t size = 0;
    if (cm_envelope_encode (env, &bytes, &size) != 0)
        return 1;

    /*  Events: one per outcome, with the fields each stage sets. */
    struct {
        const char *name;
        cm_stage_t stage;
        cm_outcome_t outcome;
    } evs[] = {{"extracted", CM_STAGE_EXTRACT, CM_OUTCOME_EXTRACTED},
               {"transformed", CM_STAGE_TRANSFORM, CM_OUTCOME_TRANSFORMED},
               {"rejected", CM_STAGE_TRANSFORM, CM_OUTCOME_REJECTED},
               {"loaded", CM_STAGE_LOAD, CM_OUTCOME_LOADED},
               {"failed", CM_STAGE_LOAD, CM_OUTCOME_FAILED},
               {"retrying", CM_STAGE_LOAD, CM_OUTCOME_RETRYING},
               {"replay", CM_STAGE_REPLAY, CM_OUTCOME_FAILED}};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        cm_event_t *ev = cm_event_new (evs[i].stage, evs[i].outcome, env);
        if (!ev)
            return 1;
        ev->at_ms = 1767225600123LL;
        if (evs[i].outcome == CM_OUTCOME_LOADED) {
            cm_event_set_str (ev, &ev->sf_id, "001xx0000004GxDAAU");
            ev->created = true;
        } else if (evs[i].outcome == CM_OUTCOME_REJECTED)
            cm_event_set_error (ev, CM_ERR_PERMANENT, "MAPPING_REQUIRED_FIELD",
                                "field Name: required but empty (source Name)", "Name", 0);
        else if (evs[i].outcome == CM_OUTCOME_FAILED)
            cm_event_set_error (ev, CM_ERR_PERMANENT, "STRING_TOO_LONG",
                                "Phone: data value too large: +1 555 0100 0100 0100 0100 0199",
                                "Phone", 200);
        else if (evs[i].outcome == CM_OUTCOME_RETRYING)
            cm_event_set_error (ev, CM_ERR_RETRYABLE, "UNABLE_TO_LOCK_ROW",
                                "unable to obtain exclusive access to this record", NULL, 200);
        if (evs[i].outcome == CM_OUTCOME_REJECTED || evs[i].outcome == CM_OUTCOME_FAILED)
            cm_event_set_envelope (ev, bytes, size);
        char *data = NULL;
        size_t n = 0;
        if (cm_event_encode (ev, &data, &n) != 0)
            return 1;
        char name[64];
        snprintf (name, sizeof name, "seed-%s.mp", evs[i].name);
        write_seed ("fuzz_event", name, data, n);
        free (data);
        cm_event_destroy (&ev);
    }
    free (bytes);
    cm_envelope_destroy (&env);
    return 0;
}
