/*  cssim_data: simulated CSI tables, sort orders and seeded data. See cssim_data.h. */
#include "cssim_data.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---------------------------------------------------------------- schemas */

enum {
    V_VENDNUM,
    V_NAME,
    V_PHONE,
    V_STAT,
    V_CURR,
    V_TERMS,
    V_ADDR1,
    V_ADDR2,
    V_ADDR3,
    V_ADDR4,
    V_CITY,
    V_STATE,
    V_ZIP,
    V_COUNTRY,
    V_EMAIL,
    V_RECDATE,
    V_VADRECDATE,
    V_CREATEDATE,
    V_ROWPTR,
    V_COUNT
};
static const cssim_prop_t vendor_props[] = {
    {"VendNum", CSSIM_TEXT},    {"Name", CSSIM_TEXT},          {"Phone", CSSIM_TEXT},
    {"Stat", CSSIM_TEXT},       {"CurrCode", CSSIM_TEXT},      {"TermsCode", CSSIM_TEXT},
    {"VadAddr_1", CSSIM_TEXT},  {"VadAddr_2", CSSIM_TEXT},     {"VadAddr_3", CSSIM_TEXT},
    {"VadAddr_4", CSSIM_TEXT},  {"VadCity", CSSIM_TEXT},       {"VadState", CSSIM_TEXT},
    {"VadZip", CSSIM_TEXT},     {"VadCountry", CSSIM_TEXT},    {"ExternalEmailAddr", CSSIM_TEXT},
    {"RecordDate", CSSIM_DATE}, {"VadRecordDate", CSSIM_DATE}, {"CreateDate", CSSIM_DATE},
    {"RowPointer", CSSIM_TEXT}};

enum {
    C_CUSTNUM,
    C_CUSTSEQ,
    C_NAME,
    C_CUSTTYPE,
    C_ADDR1,
    C_ADDR2,
    C_ADDR3,
    C_ADDR4,
    C_CITY,
    C_STATE,
    C_ZIP,
    C_COUNTRY,
    C_PHONE,
    C_EMAIL,
    C_CURR,
    C_TERMS,
    C_CREDITLIMIT,
    C_CREDITHOLD,
    C_CREATEDATE,
    C_RECDATE,
    C_ADRRECDATE,
    C_ROWPTR,
    C_COUNT
};
static const cssim_prop_t customer_props[] = {
    {"CustNum", CSSIM_TEXT},       {"CustSeq", CSSIM_INT},
    {"Name", CSSIM_TEXT},          {"CustType", CSSIM_TEXT},
    {"Addr_1", CSSIM_TEXT},        {"Addr_2", CSSIM_TEXT},
    {"Addr_3", CSSIM_TEXT},        {"Addr_4", CSSIM_TEXT},
    {"City", CSSIM_TEXT},          {"State", CSSIM_TEXT},
    {"Zip", CSSIM_TEXT},           {"Country", CSSIM_TEXT},
    {"Phone", CSSIM_TEXT},         {"ExternalEmailAddr", CSSIM_TEXT},
    {"CurrCode", CSSIM_TEXT},      {"TermsCode", CSSIM_TEXT},
    {"CreditLimit", CSSIM_DEC},    {"CreditHold", CSSIM_INT},
    {"CreateDate", CSSIM_DATE},    {"RecordDate", CSSIM_DATE},
    {"AdrRecordDate", CSSIM_DATE}, {"RowPointer", CSSIM_TEXT}};

enum {
    I_INVNUM,
    I_INVSEQ,
    I_CUSTNUM,
    I_INVDATE,
    I_DUEDATE,
    I_AMOUNT,
    I_SALESTAX,
    I_FREIGHT,
    I_MISC,
    I_AMOUNTPAID,
    I_PAIDINFULL,
    I_TYPE,
    I_CONUM,
    I_TERMS,
    I_RECDATE,
    I_ROWPTR,
    I_COUNT
};
static const cssim_prop_t arinv_props[] = {
    {"InvNum", CSSIM_TEXT},    {"InvSeq", CSSIM_INT},     {"CustNum", CSSIM_TEXT},
    {"InvDate", CSSIM_DATE},   {"DueDate", CSSIM_DATE},   {"Amount", CSSIM_DEC},
    {"SalesTax", CSSIM_DEC},   {"Freight", CSSIM_DEC},    {"MiscCharges", CSSIM_DEC},
    {"AmountPaid", CSSIM_DEC}, {"PaidInFull", CSSIM_INT}, {"Type", CSSIM_TEXT},
    {"CoNum", CSSIM_TEXT},     {"TermsCode", CSSIM_TEXT}, {"RecordDate", CSSIM_DATE},
    {"RowPointer", CSSIM_TEXT}};

enum {
    P_PONUM,
    P_VENDNUM,
    P_ORDERDATE,
    P_STAT,
    P_WHSE,
    P_TERMS,
    P_CURR,
    P_RECDATE,
    P_ROWPTR,
    P_COUNT
};
static const cssim_prop_t po_props[] = {
    {"PoNum", CSSIM_TEXT},       {"VendNum", CSSIM_TEXT},    {"OrderDate", CSSIM_DATE},
    {"Stat", CSSIM_TEXT},        {"Whse", CSSIM_TEXT},       {"TermsCode", CSSIM_TEXT},
    {"VenCurrCode", CSSIM_TEXT}, {"RecordDate", CSSIM_DATE}, {"RowPointer", CSSIM_TEXT}};

static const cssim_ido_t idos[CSSIM_IDO_COUNT] = {
    {"SLVendors", "vendor", "ven", vendor_props, V_COUNT, {V_VENDNUM}, 1, V_RECDATE, V_ROWPTR},
    {"SLCustomers",
     "customer",
     "cus",
     customer_props,
     C_COUNT,
     {C_CUSTNUM, C_CUSTSEQ},
     2,
     C_RECDATE,
     C_ROWPTR},
    {"SLArinvs",
     "artran",
     "ar",
     arinv_props,
     I_COUNT,
     {I_INVNUM, I_INVSEQ},
     2,
     I_RECDATE,
     I_ROWPTR},
    {"SLPos", "po", "po", po_props, P_COUNT, {P_PONUM}, 1, P_RECDATE, P_ROWPTR}};

const cssim_ido_t *
cssim_ido (cssim_ido_id_t id)
{
    return &idos[id];
}

const cssim_ido_t *
cssim_ido_find (const char *name)
{
    for (int i = 0; i < CSSIM_IDO_COUNT; i++)
        if (strcmp (idos[i].name, name) == 0)
            return &idos[i];
    return NULL;
}

int
cssim_ido_prop (const cssim_ido_t *ido, const char *name, size_t len)
{
    for (int i = 0; i < ido->nprops; i++)
        if (strlen (ido->props[i].name) == len && strncasecmp (ido->props[i].name, name, len) == 0)
            return i;
    return -1;
}

/* ---------------------------------------------------------------- values */

const char *
cssim_row_value (const cssim_row_t *row, int i)
{
    return row->data + row->off[i];
}

static int
all_digits (const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit ((unsigned char)*s))
            return 0;
    return 1;
}

int
cssim_value_cmp (cssim_type_t type, const char *a, const char *b)
{
    if (!*a || !*b)
        return (*a != 0) - (*b != 0); /* NULL sorts first */
    if (type == CSSIM_INT || type == CSSIM_DEC) {
        double x = strtod (a, NULL), y = strtod (b, NULL);
        return (x > y) - (x < y);
    }
    if (type == CSSIM_DATE)
        return strcmp (a, b);
    if (all_digits (a) && all_digits (b)) {
        /* Numeric document numbers (InvNum) order as numbers. */
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        size_t la = strlen (a), lb = strlen (b);
        if (la != lb)
            return la < lb ? -1 : 1;
        return strcmp (a, b);
    }
    return strcasecmp (a, b);
}

static int
take_digits (const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit ((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int
cssim_datetime_norm (const char *text, char *out)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text;
    int y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
    while (*p == ' ')
        p++;
    if (take_digits (&p, 4, &y))
        return -1;
    if (*p == '-') {
        p++;
        if (take_digits (&p, 2, &mo) || *p++ != '-' || take_digits (&p, 2, &d))
            return -1;
    } else if (take_digits (&p, 2, &mo) || take_digits (&p, 2, &d))
        return -1;
    if ((*p == ' ' || *p == 'T') && isdigit ((unsigned char)p[1])) {
        p++;
        if (take_digits (&p, 2, &h) || *p++ != ':' || take_digits (&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (take_digits (&p, 2, &s))
                return -1;
            if (*p == '.') {
                p++;
                int nd = 0, scale = 100;
                while (isdigit ((unsigned char)*p)) {
                    if (++nd > 7)
                        return -1;
                    ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
                if (nd == 0)
                    return -1;
            }
        }
    }
    if (*p == 'Z')
        p++;
    while (*p == ' ')
        p++;
    if (*p)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1753 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || s > 59)
        return -1;
    char tmp[64];
    snprintf (tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d.%03d", y, mo, d, h, mi, s, ms);
    memcpy (out, tmp, CSSIM_DATETIME_LEN + 1); /* ranges checked: exactly 23 characters */
    return 0;
}

char *
cssim_datetime_format (int64_t ms, char *out)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    char tmp[96];
    snprintf (tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy (out, tmp, CSSIM_DATETIME_LEN); /* years 1000..9999 give exactly 23 */
    out[CSSIM_DATETIME_LEN] = '\0';
    return out;
}

/* ---------------------------------------------------------------- tables */

#define VIEW_SLOTS 3

typedef struct {
    cssim_sort_t sort;  /* the order this view holds */
    uint64_t version;   /* table version it was built for */
    uint64_t used;      /* last use (for eviction) */
    cssim_row_t **rows; /* the rows in that order (NULL = empty slot) */
} view_t;

struct cssim_table_t {
    const cssim_ido_t *ido;   /* schema */
    cssim_row_t **rows;       /* rows sorted by key */
    size_t n;                 /* number of rows */
    size_t cap;               /* allocated entries in rows */
    uint64_t version;         /* bumped on every change */
    uint64_t clock;           /* view use counter */
    view_t views[VIEW_SLOTS]; /* cached non-key orders */
};

cssim_table_t *
cssim_table_new (const cssim_ido_t *ido)
{
    cssim_table_t *self = calloc (1, sizeof *self);
    if (self)
        self->ido = ido;
    return self;
}

void
cssim_table_destroy (cssim_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cssim_table_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        free (self->rows[i]);
    free (self->rows);
    for (int i = 0; i < VIEW_SLOTS; i++)
        free (self->views[i].rows);
    free (self);
    *self_p = NULL;
}

const cssim_ido_t *
cssim_table_ido (const cssim_table_t *self)
{
    return self->ido;
}

size_t
cssim_table_count (const cssim_table_t *self)
{
    return self->n;
}

static int
sort_cmp_rows (const cssim_ido_t *ido, const cssim_sort_t *sort, const cssim_row_t *a,
               const cssim_row_t *b)
{
    for (int i = 0; i < sort->n; i++) {
        int p = sort->prop[i];
        int c =
            cssim_value_cmp (ido->props[p].type, cssim_row_value (a, p), cssim_row_value (b, p));
        if (c)
            return sort->desc[i] ? -c : c;
    }
    return 0;
}

int
cssim_sort_cmp_values (const cssim_ido_t *ido, const cssim_sort_t *sort, const cssim_row_t *row,
                       char *const *values)
{
    for (int i = 0; i < sort->n; i++) {
        int p = sort->prop[i];
        int c = cssim_value_cmp (ido->props[p].type, cssim_row_value (row, p), values[i]);
        if (c)
            return sort->desc[i] ? -c : c;
    }
    return 0;
}

typedef struct {
    const cssim_ido_t *ido;
    const cssim_sort_t *sort;
} sort_ctx_t;

static int
qsort_rows (const void *a, const void *b, void *arg)
{
    const sort_ctx_t *ctx = arg;
    return sort_cmp_rows (ctx->ido, ctx->sort, *(cssim_row_t *const *)a, *(cssim_row_t *const *)b);
}

static void
key_sort (const cssim_ido_t *ido, cssim_sort_t *sort)
{
    sort->n = ido->nkeys;
    for (int i = 0; i < ido->nkeys; i++) {
        sort->prop[i] = ido->keys[i];
        sort->desc[i] = 0;
    }
}

static int
is_key_sort (const cssim_ido_t *ido, const cssim_sort_t *sort)
{
    if (sort->n != ido->nkeys)
        return 0;
    for (int i = 0; i < sort->n; i++)
        if (sort->prop[i] != ido->keys[i] || sort->desc[i])
            return 0;
    return 1;
}

static int
same_sort (const cssim_sort_t *a, const cssim_sort_t *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->prop[i] != b->prop[i] || a->desc[i] != b->desc[i])
            return 0;
    return 1;
}

const cssim_row_t *const *
cssim_table_view (cssim_table_t *self, const cssim_sort_t *sort)
{
    static cssim_row_t *const empty[1] = {NULL};
    if (!sort || is_key_sort (self->ido, sort) || self->n == 0)
        return self->rows ? (const cssim_row_t *const *)self->rows
                          : (const cssim_row_t *const *)empty;
    self->clock++;
    view_t *slot = NULL;
    for (int i = 0; i < VIEW_SLOTS; i++) {
        view_t *v = &self->views[i];
        if (v->rows && same_sort (&v->sort, sort)) {
            slot = v;
            break;
        }
    }
    if (!slot) {
        slot = &self->views[0];
        for (int i = 1; i < VIEW_SLOTS; i++)
            if (!self->views[i].rows || self->views[i].used < slot->used)
                slot = &self->views[i];
        free (slot->rows);
        slot->rows = NULL;
        slot->sort = *sort;
    }
    slot->used = self->clock;
    if (!slot->rows || slot->version != self->version) {
        /* A view starts from the key order, so rebuilding after a change is a sort of
           nearly sorted data plus the changed rows. */
        cssim_row_t **rows = realloc (slot->rows, self->n * sizeof *rows);
        if (!rows)
            return NULL;
        memcpy (rows, self->rows, self->n * sizeof *rows);
        sort_ctx_t ctx = {self->ido, &slot->sort};
        qsort_r (rows, self->n, sizeof *rows, qsort_rows, &ctx);
        slot->rows = rows;
        slot->version = self->version;
    }
    return (const cssim_row_t *const *)slot->rows;
}

/*  Builds one row from nprops values (NULL = empty). NULL when too long or no memory. */
static cssim_row_t *
row_make (const cssim_ido_t *ido, const char *const *values)
{
    size_t total = 0;
    for (int i = 0; i < ido->nprops; i++)
        total += (values[i] ? strlen (values[i]) : 0) + 1;
    if (total > UINT16_MAX)
        return NULL;
    cssim_row_t *row = malloc (sizeof *row + total);
    if (!row)
        return NULL;
    size_t at = 0;
    for (int i = 0; i < ido->nprops; i++) {
        const char *v = values[i] ? values[i] : "";
        size_t len = strlen (v);
        row->off[i] = (uint16_t)at;
        memcpy (row->data + at, v, len + 1);
        at += len + 1;
    }
    return row;
}

/*  Index of the first row whose key is >= the key values of `values`; *found when equal. */
static size_t
key_lower_bound (const cssim_table_t *self, const char *const *values, int *found)
{
    const cssim_ido_t *ido = self->ido;
    size_t lo = 0, hi = self->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = 0;
        for (int k = 0; k < ido->nkeys && !c; k++) {
            int p = ido->keys[k];
            c = cssim_value_cmp (ido->props[p].type, cssim_row_value (self->rows[mid], p),
                                 values[p]);
        }
        if (c < 0)
            lo = mid + 1;
        else {
            if (c == 0)
                *found = 1;
            hi = mid;
        }
    }
    return lo;
}

static int
table_reserve (cssim_table_t *self, size_t want)
{
    if (want <= self->cap)
        return 0;
    size_t cap = self->cap ? self->cap : 1024;
    while (cap < want)
        cap *= 2;
    cssim_row_t **rows = realloc (self->rows, cap * sizeof *rows);
    if (!rows)
        return -1;
    self->rows = rows;
    self->cap = cap;
    return 0;
}

static void
guid_text (uint64_t a, uint64_t b, char *out)
{
    snprintf (out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
              (unsigned)(a >> 16) & 0xffff, (unsigned)((a & 0x0fff) | 0x4000),
              (unsigned)((b >> 48) & 0x3fff) | 0x8000, (unsigned long long)(b & 0xffffffffffffULL));
}

int
cssim_table_put (cssim_table_t *self, const char *const *values, const char *now_text,
                 int *inserted, const cssim_row_t **row_out, char *err, size_t err_cap)
{
    const cssim_ido_t *ido = self->ido;
    const char *merged[CSSIM_MAX_PROPS];
    char guid[40];
    for (int k = 0; k < ido->nkeys; k++) {
        const char *v = values[ido->keys[k]];
        if (!v || !*v) {
            snprintf (err, err_cap, "key property '%s' is required", ido->props[ido->keys[k]].name);
            return -1;
        }
    }
    for (int i = 0; i < ido->nprops; i++) {
        if (values[i] && strlen (values[i]) > CSSIM_MAX_VALUE) {
            snprintf (err, err_cap, "value of '%s' longer than %d characters", ido->props[i].name,
                      CSSIM_MAX_VALUE);
            return -1;
        }
    }
    int found;
    size_t at = key_lower_bound (self, values, &found);
    for (int i = 0; i < ido->nprops; i++) {
        if (values[i])
            merged[i] = values[i];
        else if (found)
            merged[i] = cssim_row_value (self->rows[at], i);
        else if (ido->props[i].type == CSSIM_DATE)
            merged[i] = now_text;
        else
            merged[i] = NULL;
    }
    if (!values[ido->record_date])
        merged[ido->record_date] = now_text;
    if (!merged[ido->row_pointer] || !*merged[ido->row_pointer]) {
        static uint64_t counter;
        uint64_t a = cssim_mix64 ((uint64_t)time (NULL) ^ cssim_mix64 (++counter));
        guid_text (a, cssim_mix64 (a ^ counter), guid);
        merged[ido->row_pointer] = guid;
    }
    /* Only dates are defaulted on insert; the invoice/flag numbers default to zero. */
    const char *zero[CSSIM_MAX_PROPS];
    for (int i = 0; i < ido->nprops; i++) {
        zero[i] = merged[i];
        if (!found && !values[i] && ido->props[i].type == CSSIM_INT)
            zero[i] = "0";
        else if (!found && !values[i] && ido->props[i].type == CSSIM_DEC)
            zero[i] = "0.00";
    }
    cssim_row_t *row = row_make (ido, zero);
    if (!row) {
        snprintf (err, err_cap, "record too large or out of memory");
        return -1;
    }
    if (found) {
        free (self->rows[at]);
        self->rows[at] = row;
    } else {
        if (table_reserve (self, self->n + 1)) {
            free (row);
            snprintf (err, err_cap, "out of memory");
            return -1;
        }
        memmove (self->rows + at + 1, self->rows + at, (self->n - at) * sizeof *self->rows);
        self->rows[at] = row;
        self->n++;
    }
    self->version++;
    *inserted = !found;
    if (row_out)
        *row_out = row;
    return 0;
}

/*  Appends a row during seeding (rows come in key order). */
static int
table_append (cssim_table_t *self, const char *const *values)
{
    if (table_reserve (self, self->n + 1))
        return -1;
    cssim_row_t *row = row_make (self->ido, values);
    if (!row)
        return -1;
    self->rows[self->n++] = row;
    self->version++;
    return 0;
}

/* ---------------------------------------------------------------- seeding */

uint64_t
cssim_mix64 (uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

typedef struct {
    uint64_t s; /* splitmix64 state */
} rng_t;

static uint64_t
rng_next (rng_t *r)
{
    r->s += 0x9E3779B97F4A7C15ULL;
    return cssim_mix64 (r->s);
}

/*  Uniform in [lo, hi]. */
static int64_t
rng_range (rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next (r) % (uint64_t)(hi - lo + 1));
}

/*  Percent chance. */
static int
rng_pct (rng_t *r, int pct)
{
    return (int)(rng_next (r) % 100) < pct;
}

#define PICK(r, arr) (arr[rng_next (r) % (sizeof arr / sizeof arr[0])])

/*  A GUID from two draws of r, the second draw first (see gen_address). */
static void
guid_draw (rng_t *r, char *out)
{
    uint64_t b = rng_next (r);
    uint64_t a = rng_next (r);
    guid_text (a, b, out);
}

static rng_t
row_rng (uint64_t seed, int table, long index)
{
    rng_t r = {cssim_mix64 (seed ^ cssim_mix64 (((uint64_t)table << 40) ^ (uint64_t)index))};
    return r;
}

static const char *const name_prefix[64] = {
    "Northwind",  "Blue Ridge",  "Summit",      "Great Lakes",  "Pioneer",     "Keystone",
    "Evergreen",  "Riverbend",   "Ironwood",    "Cedar Valley", "Harbor",      "Silver Creek",
    "Red Rock",   "Granite",     "Prairie",     "Lakeshore",    "Atlas",       "Meridian",
    "Frontier",   "Heartland",   "Coastal",     "Pinnacle",     "Sterling",    "Liberty",
    "Titan",      "Apex",        "Cascade",     "Highland",     "Midwest",     "Pacific",
    "Atlantic",   "Superior",    "Allied",      "United",       "Central",     "Precision",
    "Premier",    "Quality",     "Reliable",    "Advanced",     "Dynamic",     "Global",
    "National",   "Continental", "Eagle",       "Falcon",       "Horizon",     "Vanguard",
    "Crestline",  "Oakridge",    "Maple Leaf",  "Bayview",      "Stonebridge", "Westfield",
    "Eastgate",   "Southport",   "Northstar",   "Clearwater",   "Goldfield",   "Ironbridge",
    "Copperline", "Redwood",     "Brightwater", "Greenfield"};
static const char *const name_core[64] = {
    "Metals",       "Fasteners",   "Plastics",    "Components",    "Machining",
    "Tool & Die",   "Castings",    "Forge",       "Steel",         "Packaging",
    "Logistics",    "Electric",    "Hydraulics",  "Bearings",      "Industrial Supply",
    "Chemicals",    "Coatings",    "Fabrication", "Manufacturing", "Precision Parts",
    "Motors",       "Controls",    "Electronics", "Wire & Cable",  "Rubber",
    "Textiles",     "Paper",       "Glass",       "Lumber",        "Foods",
    "Distribution", "Instruments", "Pumps",       "Valves",        "Springs",
    "Gears",        "Welding",     "Automation",  "Robotics",      "Materials",
    "Alloys",       "Polymers",    "Composites",  "Extrusions",    "Stampings",
    "Moldings",     "Filtration",  "Sensors",     "Optics",        "Freight",
    "Equipment",    "Supply",      "Trading",     "Systems",       "Technologies",
    "Engineering",  "Services",    "Hardware",    "Containers",    "Labels",
    "Adhesives",    "Abrasives",   "Lighting",    "Power"};
static const char *const name_suffix[16] = {
    "Inc.",        "LLC",        "Corp.",        "Co.",    "Ltd.",     "Group",
    "Company",     "Industries", "Partners",     "& Sons", "Holdings", "International",
    "Enterprises", "Works",      "Incorporated", ""};
static const char *const first_names[64] = {
    "Maria",     "James",   "Linda",    "Robert",  "Patricia",  "Michael", "Jennifer", "David",
    "Elizabeth", "William", "Barbara",  "Richard", "Susan",     "Joseph",  "Jessica",  "Thomas",
    "Sarah",     "Carlos",  "Karen",    "Daniel",  "Nancy",     "Matthew", "Lisa",     "Anthony",
    "Betty",     "Mark",    "Sandra",   "Steven",  "Ashley",    "Paul",    "Emily",    "Andrew",
    "Donna",     "Joshua",  "Michelle", "Kenneth", "Carol",     "Kevin",   "Amanda",   "Brian",
    "Melissa",   "George",  "Deborah",  "Luis",    "Stephanie", "Jose",    "Rebecca",  "Juan",
    "Laura",     "Wei",     "Sharon",   "Raj",     "Cynthia",   "Ahmed",   "Kathleen", "Hiroshi",
    "Amy",       "Olga",    "Angela",   "Pierre",  "Anna",      "Sven",    "Priya",    "Noah"};
static const char *const last_names[64] = {
    "Lopez",  "Smith",     "Johnson",  "Williams",  "Brown",    "Jones",    "Garcia",   "Miller",
    "Davis",  "Rodriguez", "Martinez", "Hernandez", "Gonzalez", "Wilson",   "Anderson", "Thomas",
    "Taylor", "Moore",     "Jackson",  "Martin",    "Lee",      "Perez",    "Thompson", "White",
    "Harris", "Sanchez",   "Clark",    "Ramirez",   "Lewis",    "Robinson", "Walker",   "Young",
    "Allen",  "King",      "Wright",   "Scott",     "Torres",   "Nguyen",   "Hill",     "Flores",
    "Green",  "Adams",     "Nelson",   "Baker",     "Hall",     "Rivera",   "Campbell", "Mitchell",
    "Carter", "Roberts",   "Chen",     "Patel",     "Kowalski", "Muller",   "Schmidt",  "Tanaka",
    "Novak",  "Dubois",    "Rossi",    "Larsen",    "Ivanova",  "O'Brien",  "Murphy",   "Kim"};
static const char *const streets[] = {
    "Main",    "Oak",        "Industrial", "Commerce", "Maple",  "Cedar",  "Park",     "Washington",
    "Lake",    "Hill",       "Elm",        "Pine",     "River",  "Market", "Franklin", "Jefferson",
    "Airport", "Enterprise", "Technology", "Harbor",   "Mill",   "Center", "Union",    "Madison",
    "Lincoln", "Railroad",   "Canal",      "Factory",  "Quarry", "Foundry"};
static const char *const street_types[] = {"St",   "Ave", "Rd", "Blvd", "Dr",
                                           "Pkwy", "Way", "Ln", "Ct"};

typedef struct {
    const char *city;    /* city name */
    const char *state;   /* state/province ("" when none) */
    const char *country; /* ISO country code as CSI setups commonly use */
    const char *zip;     /* postal prefix */
    const char *area;    /* phone area code */
    const char *curr;    /* local currency */
} city_t;

static const city_t cities[] = {{"Columbus", "OH", "US", "432", "614", "USD"},
                                {"Dayton", "OH", "US", "454", "937", "USD"},
                                {"Cleveland", "OH", "US", "441", "216", "USD"},
                                {"Detroit", "MI", "US", "482", "313", "USD"},
                                {"Grand Rapids", "MI", "US", "495", "616", "USD"},
                                {"Chicago", "IL", "US", "606", "312", "USD"},
                                {"Rockford", "IL", "US", "611", "815", "USD"},
                                {"Milwaukee", "WI", "US", "532", "414", "USD"},
                                {"Indianapolis", "IN", "US", "462", "317", "USD"},
                                {"Pittsburgh", "PA", "US", "152", "412", "USD"},
                                {"Allentown", "PA", "US", "181", "610", "USD"},
                                {"Charlotte", "NC", "US", "282", "704", "USD"},
                                {"Greenville", "SC", "US", "296", "864", "USD"},
                                {"Atlanta", "GA", "US", "303", "404", "USD"},
                                {"Nashville", "TN", "US", "372", "615", "USD"},
                                {"Houston", "TX", "US", "770", "713", "USD"},
                                {"Dallas", "TX", "US", "752", "214", "USD"},
                                {"San Antonio", "TX", "US", "782", "210", "USD"},
                                {"Phoenix", "AZ", "US", "850", "602", "USD"},
                                {"Denver", "CO", "US", "802", "303", "USD"},
                                {"Salt Lake City", "UT", "US", "841", "801", "USD"},
                                {"Portland", "OR", "US", "972", "503", "USD"},
                                {"Seattle", "WA", "US", "981", "206", "USD"},
                                {"San Jose", "CA", "US", "951", "408", "USD"},
                                {"Fresno", "CA", "US", "937", "559", "USD"},
                                {"Minneapolis", "MN", "US", "554", "612", "USD"},
                                {"Kansas City", "MO", "US", "641", "816", "USD"},
                                {"Buffalo", "NY", "US", "142", "716", "USD"},
                                {"Hartford", "CT", "US", "061", "860", "USD"},
                                {"Worcester", "MA", "US", "016", "508", "USD"},
                                {"Toronto", "ON", "CA", "M5V", "416", "CAD"},
                                {"Mississauga", "ON", "CA", "L5B", "905", "CAD"},
                                {"Montreal", "QC", "CA", "H3B", "514", "CAD"},
                                {"Calgary", "AB", "CA", "T2P", "403", "CAD"},
                                {"Vancouver", "BC", "CA", "V6B", "604", "CAD"},
                                {"Stuttgart", "", "DE", "70", "711", "EUR"},
                                {"Munich", "", "DE", "80", "89", "EUR"},
                                {"Monterrey", "NL", "MX", "64", "81", "MXN"},
                                {"Guadalajara", "JAL", "MX", "44", "33", "MXN"}};

static const char *const terms_codes[] = {"N30", "N30", "N30", "N45", "N60", "2N10", "COD", "N15"};
static const char *const cust_types[] = {"DIST", "OEM", "RET", "DIST", "OEM", "GOV"};
static const char *const warehouses[] = {"MAIN", "MAIN", "WEST", "EAST", "SOUTH"};

#define DAY_MS (86400LL * 1000)

typedef struct {
    char name[160];     /* company or person name */
    char addr1[64];     /* street line */
    char addr2[48];     /* suite/building or "" */
    char addr3[48];     /* attention line or "" */
    const city_t *city; /* city record */
    char zip[16];       /* postal code */
    char phone[32];     /* phone */
    char email[128];    /* e-mail or "" */
    const char *terms;  /* payment terms */
} party_t;

static void
roman (int n, char *out, size_t cap)
{
    static const int val[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
    static const char *const sym[] = {"M",  "CM", "D",  "CD", "C",  "XC", "L",
                                      "XL", "X",  "IX", "V",  "IV", "I"};
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < 13 && n > 0; i++)
        while (n >= val[i] && at + 3 < cap) {
            at += (size_t)snprintf (out + at, cap - at, "%s", sym[i]);
            n -= val[i];
        }
}

/*  Company name number `base` of the tenant: unique for every base (vendors use even,
    customers odd numbers, so the two lists never collide by accident). */
static void
company_name (uint64_t seed, uint64_t base, char *out, size_t cap)
{
    uint32_t idx = (uint32_t)((base * 40503u + (seed & 0xffff)) & 0xffff);
    const char *prefix = name_prefix[idx % 64];
    const char *core = name_core[(idx / 64) % 64];
    const char *suffix = name_suffix[idx / 4096];
    char round[32] = "";
    if (base >> 16) {
        round[0] = ' ';
        roman ((int)(base >> 16) + 1, round + 1, sizeof round - 1);
    }
    snprintf (out, cap, "%s %s%s%s%s", prefix, core, round, *suffix ? " " : "", suffix);
}

static void
domain_of (const char *name, char *out, size_t cap)
{
    size_t at = 0;
    int words = 0;
    for (const char *p = name; *p && at + 1 < cap && words < 2; p++) {
        if (isalpha ((unsigned char)*p))
            out[at++] = (char)tolower ((unsigned char)*p);
        else if (*p == ' ')
            words++;
    }
    out[at] = '\0';
}

static void
gen_address (rng_t *r, party_t *p, const city_t *force_city)
{
    /* Several draws for one call are made one by one, last argument first: the order of
       argument evaluation is unspecified in C (gcc and clang differ), and the data must not
       depend on the compiler. Right to left is the order the golden files were made with. */
    p->city = force_city ? force_city : &PICK (r, cities);
    const char *street_type = PICK (r, street_types);
    const char *street = PICK (r, streets);
    int number = (int)rng_range (r, 1, 9899);
    snprintf (p->addr1, sizeof p->addr1, "%d %s %s", number, street, street_type);
    int kind = (int)rng_range (r, 0, 9);
    if (kind < 2)
        snprintf (p->addr2, sizeof p->addr2, "Suite %d", (int)rng_range (r, 1, 9) * 100);
    else if (kind == 2)
        snprintf (p->addr2, sizeof p->addr2, "Building %d", (int)rng_range (r, 1, 12));
    else
        p->addr2[0] = '\0';
    const char *country = p->city->country;
    if (strcmp (country, "CA") == 0) {
        int z3 = (int)rng_range (r, 0, 9);
        char z2 = (char)('A' + rng_range (r, 0, 25));
        int z1 = (int)rng_range (r, 1, 9);
        snprintf (p->zip, sizeof p->zip, "%s %d%c%d", p->city->zip, z1, z2, z3);
    } else if (strcmp (country, "US") == 0)
        snprintf (p->zip, sizeof p->zip, "%s%02d", p->city->zip, (int)rng_range (r, 1, 99));
    else
        snprintf (p->zip, sizeof p->zip, "%s%03d", p->city->zip, (int)rng_range (r, 0, 999));
    if (strcmp (country, "US") == 0 || strcmp (country, "CA") == 0) {
        int line = (int)rng_range (r, 0, 9999);
        int exchange = (int)rng_range (r, 201, 989);
        snprintf (p->phone, sizeof p->phone, "(%s) %03d-%04d", p->city->area, exchange, line);
    } else if (strcmp (country, "DE") == 0)
        snprintf (p->phone, sizeof p->phone, "+49 %s %07d", p->city->area,
                  (int)rng_range (r, 1000000, 9999999));
    else {
        int line = (int)rng_range (r, 0, 9999);
        int exchange = (int)rng_range (r, 1000, 9999);
        snprintf (p->phone, sizeof p->phone, "+52 %s %04d %04d", p->city->area, exchange, line);
    }
}

/*  Vendor number `idx` (1-based) as a party; customers that are the same company reuse it. */
static void
gen_vendor_party (uint64_t seed, long idx, party_t *p)
{
    rng_t r = row_rng (seed, 100, idx);
    company_name (seed, 2 * (uint64_t)(idx - 1), p->name, sizeof p->name);
    gen_address (&r, p, NULL);
    p->addr3[0] = '\0';
    if (rng_pct (&r, 5))
        snprintf (p->addr3, sizeof p->addr3, "Attn: Accounts Receivable");
    char dom[64];
    domain_of (p->name, dom, sizeof dom);
    const char *tld = strcmp (p->city->country, "US") == 0   ? "com"
                      : strcmp (p->city->country, "CA") == 0 ? "ca"
                      : strcmp (p->city->country, "DE") == 0 ? "de"
                                                             : "com.mx";
    if (rng_pct (&r, 90))
        snprintf (p->email, sizeof p->email, "%s@%s.%s", rng_pct (&r, 50) ? "sales" : "orders", dom,
                  tld);
    else
        p->email[0] = '\0';
    p->terms = PICK (&r, terms_codes);
}

static const char *
money (char *out, int64_t cents)
{
    snprintf (out, 24, "%s%lld.%02lld", cents < 0 ? "-" : "", (long long)llabs (cents) / 100,
              (long long)llabs (cents) % 100);
    return out;
}

static int
seed_vendors (cssim_table_t *t, const cssim_seed_t *s, int64_t start)
{
    const char *v[V_COUNT];
    char num[32], rec[24], vad[24], created[24], guid[40];
    party_t p;
    for (long i = 1; i <= s->vendors; i++) {
        gen_vendor_party (s->seed, i, &p);
        rng_t r = row_rng (s->seed, CSSIM_VENDORS, i);
        int64_t rec_ms = start + rng_range (&r, 0, 365 * DAY_MS - 1);
        int64_t vad_ms = rng_pct (&r, 50) ? rec_ms : rec_ms - rng_range (&r, 0, 90 * DAY_MS);
        int64_t created_ms = rec_ms - rng_range (&r, 0, 6 * 365 * DAY_MS);
        snprintf (num, sizeof num, "V%06ld", i);
        guid_draw (&r, guid);
        int stat = (int)rng_range (&r, 0, 99);
        memset (v, 0, sizeof v);
        v[V_VENDNUM] = num;
        v[V_NAME] = p.name;
        v[V_PHONE] = p.phone;
        v[V_STAT] = stat < 90 ? "A" : stat < 97 ? "I" : "H";
        v[V_CURR] = p.city->curr;
        v[V_TERMS] = p.terms;
        v[V_ADDR1] = p.addr1;
        v[V_ADDR2] = p.addr2;
        v[V_ADDR3] = p.addr3;
        v[V_CITY] = p.city->city;
        v[V_STATE] = p.city->state;
        v[V_ZIP] = p.zip;
        v[V_COUNTRY] = p.city->country;
        v[V_EMAIL] = p.email;
        v[V_RECDATE] = cssim_datetime_format (rec_ms, rec);
        v[V_VADRECDATE] = cssim_datetime_format (vad_ms, vad);
        v[V_CREATEDATE] = cssim_datetime_format (created_ms, created);
        v[V_ROWPTR] = guid;
        if (table_append (t, v))
            return -1;
    }
    return 0;
}

/*  Customer kinds (documented in README.md): k % 10 == 0 with k/10 <= vendors is vendor
    V(k/10) (same company), k % 10 == 7 is an individual (CustType "IND"), k % 5 == 1 has
    1..3 ship-to rows (CustSeq 1..n). */
static int
seed_customers (cssim_table_t *t, const cssim_seed_t *s, int64_t start)
{
    const char *v[C_COUNT];
    char num[32], seq[8], rec[24], adr[24], created[24], guid[40], limit[24];
    party_t p;
    for (long k = 1; k <= s->customers; k++) {
        rng_t r = row_rng (s->seed, CSSIM_CUSTOMERS, k);
        int individual = 0;
        const char *cust_type;
        if (k % 10 == 0 && k / 10 <= s->vendors) {
            gen_vendor_party (s->seed, k / 10, &p);
            cust_type = PICK (&r, cust_types);
        } else if (k % 10 == 7) {
            individual = 1;
            cust_type = "IND";
            const char *first = PICK (&r, first_names), *last = PICK (&r, last_names);
            snprintf (p.name, sizeof p.name, "%s %s", first, last);
            gen_address (&r, &p, NULL);
            p.addr2[0] = p.addr3[0] = '\0';
            char user[64];
            domain_of (p.name, user, sizeof user);
            if (rng_pct (&r, 80))
                snprintf (p.email, sizeof p.email, "%s%d@example.net", user,
                          (int)rng_range (&r, 1, 99));
            else
                p.email[0] = '\0';
            p.terms = "COD";
        } else {
            company_name (s->seed, 2 * (uint64_t)(k - 1) + 1, p.name, sizeof p.name);
            gen_address (&r, &p, NULL);
            p.addr3[0] = '\0';
            char dom[64];
            domain_of (p.name, dom, sizeof dom);
            snprintf (p.email, sizeof p.email, "ap@%s.com", dom);
            p.terms = PICK (&r, terms_codes);
            cust_type = PICK (&r, cust_types);
        }
        int64_t rec_ms = start + rng_range (&r, 0, 365 * DAY_MS - 1);
        int64_t created_ms = rec_ms - rng_range (&r, 0, 8 * 365 * DAY_MS);
        int64_t limit_cents =
            individual ? rng_range (&r, 1, 10) * 50000 : rng_range (&r, 2, 200) * 500000;
        int hold = rng_pct (&r, 4);
        int shiptos = k % 5 == 1 && !individual ? (int)rng_range (&r, 1, 3) : 0;
        snprintf (num, sizeof num, "C%06ld", k);
        money (limit, limit_cents);
        for (int sq = 0; sq <= shiptos; sq++) {
            party_t ship = p;
            int64_t row_rec = rec_ms;
            if (sq > 0) {
                gen_address (&r, &ship, NULL);
                ship.addr3[0] = '\0';
                snprintf (ship.addr3, sizeof ship.addr3, "Receiving Dock %d", sq);
                row_rec = start + rng_range (&r, 0, 365 * DAY_MS - 1);
            }
            int64_t adr_ms = rng_pct (&r, 50) ? row_rec : row_rec - rng_range (&r, 0, 60 * DAY_MS);
            snprintf (seq, sizeof seq, "%d", sq);
            guid_draw (&r, guid);
            memset (v, 0, sizeof v);
            v[C_CUSTNUM] = num;
            v[C_CUSTSEQ] = seq;
            v[C_NAME] = ship.name;
            v[C_CUSTTYPE] = cust_type;
            v[C_ADDR1] = ship.addr1;
            v[C_ADDR2] = ship.addr2;
            v[C_ADDR3] = ship.addr3;
            v[C_CITY] = ship.city->city;
            v[C_STATE] = ship.city->state;
            v[C_ZIP] = ship.zip;
            v[C_COUNTRY] = ship.city->country;
            v[C_PHONE] = ship.phone;
            v[C_EMAIL] = ship.email;
            v[C_CURR] = p.city->curr;
            v[C_TERMS] = p.terms;
            v[C_CREDITLIMIT] = limit;
            v[C_CREDITHOLD] = hold ? "1" : "0";
            v[C_CREATEDATE] = cssim_datetime_format (created_ms, created);
            v[C_RECDATE] = cssim_datetime_format (row_rec, rec);
            v[C_ADRRECDATE] = cssim_datetime_format (adr_ms, adr);
            v[C_ROWPTR] = guid;
            if (table_append (t, v))
                return -1;
        }
    }
    return 0;
}

static int
terms_days (const char *terms)
{
    if (strcmp (terms, "COD") == 0)
        return 0;
    if (strcmp (terms, "2N10") == 0)
        return 30;
    return atoi (terms + 1);
}

/*  Paid rule (README.md): AmountPaid = the total (Amount + SalesTax + Freight +
    MiscCharges) and PaidInFull = "1" when paid; partly paid invoices have 0 < AmountPaid. */
static int
seed_invoices (cssim_table_t *t, const cssim_seed_t *s, int64_t start, int64_t end)
{
    const char *v[I_COUNT];
    char num[32], cust[32], inv[24], due[24], rec[24], guid[40], co[32];
    char amount[24], tax[24], freight[24], misc[24], paid[24];
    for (long i = 1; i <= s->invoices; i++) {
        rng_t r = row_rng (s->seed, CSSIM_ARINVS, i);
        long ck = (long)rng_range (&r, 1, s->customers);
        int64_t inv_ms = (start + rng_range (&r, 0, 364 * DAY_MS)) / DAY_MS * DAY_MS;
        const char *terms = PICK (&r, terms_codes);
        int64_t due_ms = inv_ms + terms_days (terms) * DAY_MS;
        int tk = (int)rng_range (&r, 0, 99);
        const char *type = tk < 90 ? "I" : tk < 96 ? "C" : "D";
        int64_t amount_c = rng_range (&r, 5000, 5000000);
        int64_t tax_c = (amount_c * 7 + 50) / 100;
        int64_t freight_c = rng_pct (&r, 60) ? rng_range (&r, 1000, 50000) : 0;
        int64_t misc_c = rng_pct (&r, 10) ? rng_range (&r, 500, 10000) : 0;
        int64_t total = amount_c + tax_c + freight_c + misc_c;
        int old = inv_ms < end - 45 * DAY_MS;
        int pk = (int)rng_range (&r, 0, 99);
        int64_t paid_c = 0;
        if (pk < (old ? 85 : 20))
            paid_c = total;
        else if (pk < (old ? 90 : 25))
            paid_c = total / 2;
        int64_t rec_ms = inv_ms + rng_range (&r, 0, (paid_c ? 60 : 2) * DAY_MS);
        if (rec_ms >= end)
            rec_ms = end - rng_range (&r, 1, DAY_MS);
        snprintf (num, sizeof num, "%ld", 1000000 + i);
        snprintf (cust, sizeof cust, "C%06ld", ck);
        if (rng_pct (&r, 70))
            snprintf (co, sizeof co, "CO%08ld", (long)rng_range (&r, 1, 99999999));
        else
            co[0] = '\0';
        guid_draw (&r, guid);
        memset (v, 0, sizeof v);
        v[I_INVNUM] = num;
        v[I_INVSEQ] = "0";
        v[I_CUSTNUM] = cust;
        v[I_INVDATE] = cssim_datetime_format (inv_ms, inv);
        v[I_DUEDATE] = cssim_datetime_format (due_ms, due);
        v[I_AMOUNT] = money (amount, amount_c);
        v[I_SALESTAX] = money (tax, tax_c);
        v[I_FREIGHT] = money (freight, freight_c);
        v[I_MISC] = money (misc, misc_c);
        v[I_AMOUNTPAID] = money (paid, paid_c);
        v[I_PAIDINFULL] = paid_c == total ? "1" : "0";
        v[I_TYPE] = type;
        v[I_CONUM] = co;
        v[I_TERMS] = terms;
        v[I_RECDATE] = cssim_datetime_format (rec_ms, rec);
        v[I_ROWPTR] = guid;
        if (table_append (t, v))
            return -1;
    }
    return 0;
}

static int
seed_pos (cssim_table_t *t, const cssim_seed_t *s, int64_t start, int64_t end)
{
    const char *v[P_COUNT];
    char num[32], vend[32], order[24], rec[24], guid[40];
    party_t p;
    for (long i = 1; i <= s->pos; i++) {
        rng_t r = row_rng (s->seed, CSSIM_POS, i);
        long vk = (long)rng_range (&r, 1, s->vendors);
        gen_vendor_party (s->seed, vk, &p);
        int64_t order_ms = (start + rng_range (&r, 0, 364 * DAY_MS)) / DAY_MS * DAY_MS;
        int64_t age_days = (end - order_ms) / DAY_MS;
        int sk = (int)rng_range (&r, 0, 99);
        const char *stat;
        if (age_days > 90)
            stat = sk < 80 ? "C" : sk < 95 ? "F" : "O";
        else if (age_days > 20)
            stat = sk < 30 ? "C" : sk < 50 ? "F" : "O";
        else
            stat = sk < 20 ? "P" : "O";
        int64_t rec_ms = order_ms + rng_range (&r, 0, (*stat == 'C' ? 60 : 3) * DAY_MS);
        if (rec_ms >= end)
            rec_ms = end - rng_range (&r, 1, DAY_MS);
        snprintf (num, sizeof num, "PO%08ld", i);
        snprintf (vend, sizeof vend, "V%06ld", vk);
        guid_draw (&r, guid);
        memset (v, 0, sizeof v);
        v[P_PONUM] = num;
        v[P_VENDNUM] = vend;
        v[P_ORDERDATE] = cssim_datetime_format (order_ms, order);
        v[P_STAT] = stat;
        v[P_WHSE] = PICK (&r, warehouses);
        v[P_TERMS] = p.terms;
        v[P_CURR] = p.city->curr;
        v[P_RECDATE] = cssim_datetime_format (rec_ms, rec);
        v[P_ROWPTR] = guid;
        if (table_append (t, v))
            return -1;
    }
    return 0;
}

int
cssim_data_seed (cssim_table_t **tables, const cssim_seed_t *seed)
{
    int64_t start = seed->end_ms - 365 * DAY_MS;
    if (seed_vendors (tables[CSSIM_VENDORS], seed, start) ||
        seed_customers (tables[CSSIM_CUSTOMERS], seed, start) ||
        (seed->customers > 0 && seed_invoices (tables[CSSIM_ARINVS], seed, start, seed->end_ms)) ||
        (seed->vendors > 0 && seed_pos (tables[CSSIM_POS], seed, start, seed->end_ms)))
        return -1;
    /* Generated in key order already; sort anyway so a changed key format cannot break
       the binary searches. */
    for (int i = 0; i < CSSIM_IDO_COUNT; i++) {
        cssim_table_t *t = tables[i];
        cssim_sort_t ks;
        key_sort (t->ido, &ks);
        sort_ctx_t ctx = {t->ido, &ks};
        if (t->n > 1)
            qsort_r (t->rows, t->n, sizeof *t->rows, qsort_rows, &ctx);
    }
    return 0;
}
