/*  fuzz_mapping: tf_mapping_parse on an arbitrary mapping file; an accepted mapping is
    listed (properties per entity) and applied to real-shaped records of every entity,
    which runs whatever transforms, templates, lookups, conditions and parent references
    the input describes. */
#include <stdint.h>

#include "cm_envelope.h"
#include "fuzz_transform_check.h"
#include "tf_mapping.h"

/*  One record per entity, as the extractor emits them (all values strings). */
typedef struct {
    const char *entity;
    const char *key;
    const char *fields[24][2];
} s_record_t;

static const s_record_t s_records[] = {
    {"vendor",
     "V000123",
     {{"VendNum", "V000123"},
      {"Name", "  Northwind Industrial Supply, Inc. "},
      {"Phone", "+1 312-555-0142"},
      {"Stat", "a"},
      {"CurrCode", "usd"},
      {"TermsCode", "N30"},
      {"VadAddr_1", "1200 W Fulton Market"},
      {"VadAddr_2", ""},
      {"VadCity", "Chicago"},
      {"VadState", "IL"},
      {"VadZip", "60607"},
      {"VadCountry", "USA"},
      {"ExternalEmailAddr", "AP@Northwind.example"},
      {"RecordDate", "2026-02-01 08:15:02.117"},
      {"RowPointer", "6F1C2A9E-3B7D-4C55-9E1A-0D2B8C4F7A11"},
      {NULL, NULL}}},
    {"customer",
     "C000042/0",
     {{"CustNum", "C000042"},
      {"CustSeq", "0"},
      {"CustType", "IND"},
      {"Name", "Anna Maria Ng"},
      {"Addr_1", "4 Elm St"},
      {"City", "Columbus"},
      {"State", "OH"},
      {"Zip", "43215"},
      {"Country", "USA"},
      {"CreditLimit", "1500.50"},
      {"CreditHold", "0"},
      {"CreateDate", "2019-07-14 00:00:00.000"},
      {"RecordDate", "2026-01-31 23:59:59.997"},
      {NULL, NULL}}},
    {"invoice",
     "INV0001/0",
     {{"InvNum", "INV0001"},
      {"InvSeq", "0"},
      {"CustNum", "C000042"},
      {"InvDate", "01/02/2026"},
      {"DueDate", "20260303"},
      {"Amount", "999.995"},
      {"SalesTax", "-12.5"},
      {"Type", "i"},
      {"PaidInFull", "1"},
      {"CoNum", "CO100"},
      {"RecordDate", "2026-02-01 08:15:02.117"},
      {NULL, NULL}}},
    {"po",
     "PO42",
     {{"PoNum", "PO42"},
      {"VendNum", "V000123"},
      {"OrderDate", "2026-02-29"},
      {"Stat", "O"},
      {"Whse", "MAIN"},
      {"VenCurrCode", "EUR"},
      {"RecordDate", "2026-02-01 08:15:02.117"},
      {NULL, NULL}}},
};

static cm_envelope_t *
make_record (const s_record_t *r, const char *entity)
{
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", entity, r->key);
    if (!env)
        abort ();
    for (size_t i = 0; r->fields[i][0]; i++)
        if (cm_envelope_add_field (env, r->fields[i][0], r->fields[i][1]) != 0)
            abort ();
    cm_envelope_compute_hash (env);
    return env;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_init ();
    char err[1024] = "";
    tf_mapping_t *map = tf_mapping_parse ((const char *)data, size, "fuzz.json", err, sizeof err);
    if (!map) {
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        return 0;
    }
    size_t n = tf_mapping_entity_count (map);
    FUZZ_CHECK (n <= TF_MAX_ENTITIES);
    (void)tf_mapping_uses_union (map);
    for (size_t e = 0; e < n; e++) {
        const tf_entity_t *ent = tf_mapping_entity_at (map, e);
        FUZZ_CHECK (ent && ent->name && ent->route_count >= 1 && ent->route_count <= TF_MAX_ROUTES);
        FUZZ_CHECK (tf_mapping_entity (map, ent->name) == ent);
        char *props = tf_mapping_properties (map, ent->name);
        FUZZ_CHECK (props);
        free (props);
        for (size_t r = 0; r < ent->route_count; r++)
            FUZZ_CHECK (ent->routes[r].field_count <= TF_MAX_FIELDS);
        /*  The fixed records, under this entity's name (so every entity of the input is
            exercised whatever it is called). */
        for (size_t i = 0; i < sizeof s_records / sizeof s_records[0]; i++) {
            cm_envelope_t *env = make_record (&s_records[i], ent->name);
            tf_result_t res;
            tf_status_t st = tf_transform_apply (map, env, NULL, &res);
            fuzz_check_transform (st, env, &res);
            cm_envelope_destroy (&env);
        }
    }
    tf_mapping_destroy (&map);
    return 0;
}
