/*  cssim_data: the simulated CSI tables behind the four IDOs (SLVendors, SLCustomers,
    SLArinvs, SLPos): their schemas, rows kept sorted by key, cached sort orders for
    `orderby`, inserts/updates by key, and the deterministic seeding from --seed.

    A row stores every property as text (the IDO REST v2 wire form); an empty value is
    the NULL of the database. Tables are not thread-safe: the server holds one lock
    around every call. */
#ifndef CSSIM_DATA_H
#define CSSIM_DATA_H

#include <stddef.h>
#include <stdint.h>

#define CSSIM_MAX_PROPS    32   /* properties per IDO */
#define CSSIM_MAX_KEYS     2    /* key properties per IDO */
#define CSSIM_MAX_SORT     8    /* orderby properties */
#define CSSIM_MAX_VALUE    4000 /* longest value text (admin inserts) */
#define CSSIM_DATETIME_LEN 23   /* "YYYY-MM-DD HH:MM:SS.fff" */

typedef enum {
    CSSIM_TEXT, /* nvarchar: case-insensitive compare, all-digit values numerically */
    CSSIM_INT,  /* integer (flags are "0"/"1") */
    CSSIM_DEC,  /* decimal "1234.56" */
    CSSIM_DATE  /* datetime "YYYY-MM-DD HH:MM:SS.fff" (UTC) */
} cssim_type_t;

typedef struct {
    const char *name;  /* property name, canonical case */
    cssim_type_t type; /* value type */
} cssim_prop_t;

typedef enum {
    CSSIM_VENDORS,
    CSSIM_CUSTOMERS,
    CSSIM_ARINVS,
    CSSIM_POS,
    CSSIM_IDO_COUNT
} cssim_ido_id_t;

typedef struct {
    const char *name;          /* IDO name, case-sensitive ("SLVendors") */
    const char *pbt;           /* table name shown in _ItemId ("vendor") */
    const char *alias;         /* table alias shown in _ItemId ("ven") */
    const cssim_prop_t *props; /* properties in schema order */
    int nprops;                /* their number */
    int keys[CSSIM_MAX_KEYS];  /* indices of the key properties */
    int nkeys;                 /* their number */
    int record_date;           /* index of RecordDate */
    int row_pointer;           /* index of RowPointer */
} cssim_ido_t;

/*  One row: value i is data + off[i], NUL-terminated. One allocation. */
typedef struct {
    uint16_t off[CSSIM_MAX_PROPS]; /* offsets of the values in data */
    char data[];                   /* the values, back to back */
} cssim_row_t;

/*  A sort order: properties with a direction; the key properties always follow
    (ascending) as the tie-break, so every order is total and paging is stable. */
typedef struct {
    int n;                                     /* number of entries in prop/desc */
    int prop[CSSIM_MAX_SORT + CSSIM_MAX_KEYS]; /* property indices (keys appended) */
    int desc[CSSIM_MAX_SORT + CSSIM_MAX_KEYS]; /* 1 = descending */
} cssim_sort_t;

typedef struct cssim_table_t cssim_table_t;

/*  The schema of one IDO. */
const cssim_ido_t *cssim_ido (cssim_ido_id_t id);

/*  The IDO with that exact (case-sensitive) name, or NULL. */
const cssim_ido_t *cssim_ido_find (const char *name);

/*  Index of a property (case-insensitive name, len bytes) in the IDO, or -1. */
int cssim_ido_prop (const cssim_ido_t *ido, const char *name, size_t len);

/*  Value of property i of a row. Borrowed. */
const char *cssim_row_value (const cssim_row_t *row, int i);

/*  Compares two values of one type (SQL-Server-like: empty = NULL sorts first). */
int cssim_value_cmp (cssim_type_t type, const char *a, const char *b);

/*  Normalizes a datetime literal ("YYYY-MM-DD", "...THH:MM", "...HH:MM:SS.fffffff",
    "YYYYMMDD") into out (>= 24 bytes) as "YYYY-MM-DD HH:MM:SS.fff". Returns 0 or -1. */
int cssim_datetime_norm (const char *text, char *out);

/*  Formats epoch milliseconds as "YYYY-MM-DD HH:MM:SS.fff" (UTC) into out (>= 24 bytes). */
char *cssim_datetime_format (int64_t ms, char *out);

/*  Creates an empty table for an IDO. NULL on out of memory. */
cssim_table_t *cssim_table_new (const cssim_ido_t *ido);

/*  Frees a table and its rows. Accepts NULL; sets *self_p to NULL. */
void cssim_table_destroy (cssim_table_t **self_p);

/*  The table's IDO schema. */
const cssim_ido_t *cssim_table_ido (const cssim_table_t *self);

/*  Number of rows. */
size_t cssim_table_count (const cssim_table_t *self);

/*  Rows in the given order (NULL or key-only = key order). The array is borrowed and
    valid until the next change of the table. NULL on out of memory. */
const cssim_row_t *const *cssim_table_view (cssim_table_t *self, const cssim_sort_t *sort);

/*  Compares a row with a tuple of values in sort order (for bookmarks). */
int cssim_sort_cmp_values (const cssim_ido_t *ido, const cssim_sort_t *sort, const cssim_row_t *row,
                           char *const *values);

/*  Inserts or updates by key. values[i] (nprops entries) is the new value of property i,
    or NULL to keep it (update) / default it (insert: empty, generated RowPointer,
    RecordDate and other dates = now_text). On update RecordDate becomes now_text unless
    given. *inserted tells which happened; *row_out (may be NULL) gets the stored row.
    Returns 0, or -1 with the reason in err (missing key, value too long, no memory). */
int cssim_table_put (cssim_table_t *self, const char *const *values, const char *now_text,
                     int *inserted, const cssim_row_t **row_out, char *err, size_t err_cap);

/*  Seed counts for one tenant. */
typedef struct {
    uint64_t seed;  /* tenant seed (global --seed mixed with the tenant id) */
    long vendors;   /* SLVendors rows */
    long customers; /* bill-to customers (ship-to rows come on top) */
    long invoices;  /* SLArinvs rows */
    long pos;       /* SLPos rows */
    int64_t end_ms; /* seeded RecordDates lie in the year before this instant */
} cssim_seed_t;

/*  Fills the four tables (indexed by cssim_ido_id_t) from the seed. Returns 0, or -1 on
    out of memory. See README.md in this folder for the data rules. */
int cssim_data_seed (cssim_table_t **tables, const cssim_seed_t *seed);

/*  A 64-bit mix (splitmix64 finalizer) for seeds and deterministic choices. */
uint64_t cssim_mix64 (uint64_t x);

#endif
