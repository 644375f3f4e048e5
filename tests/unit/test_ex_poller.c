/*  Unit tests for ex_poller: paging, filter from the watermark, change detection, and the
    rule that state never moves past a record that was not handed on. Pages are canned
    IDO v2 responses (parsed by cs_ido_parse); the state is a real RocksDB in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "../../extractor/ex_lease.h"
#include "../../extractor/ex_poller.h"

#define MAX_PAGES 8
#define MAX_EMIT  64

/*  The fake IDO: a list of response bodies served in order, and what was asked. */
typedef struct {
    const char *pages[MAX_PAGES];  /* bodies of successive pages */
    size_t count;                  /* number of pages */
    size_t next;                   /* next page to serve */
    int fail_at;                   /* page index that fails (-1: none) */
    char filter[MAX_PAGES][128];   /* filter of each request ("" when none) */
    char bookmark[MAX_PAGES][128]; /* bookmark of each request */
    char properties[512];          /* properties of the last request */
    char orderby[128];             /* orderby of the last request */
    int recordcap;                 /* recordcap of the last request */
} fake_ido_t;

static int
s_load (void *arg, const cs_ido_query_t *q, cs_ido_page_t **page, char *err, size_t err_cap)
{
    fake_ido_t *f = arg;
    size_t i = f->next++;
    assert_true (i < MAX_PAGES);
    snprintf (f->filter[i], sizeof f->filter[i], "%s", q->filter ? q->filter : "");
    snprintf (f->bookmark[i], sizeof f->bookmark[i], "%s", q->bookmark ? q->bookmark : "");
    snprintf (f->properties, sizeof f->properties, "%s", q->properties);
    snprintf (f->orderby, sizeof f->orderby, "%s", q->orderby ? q->orderby : "");
    f->recordcap = q->recordcap;
    if ((int)i == f->fail_at || i >= f->count) {
        snprintf (err, err_cap, "HTTP 503 from the fake");
        return -1;
    }
    *page = cs_ido_parse (f->pages[i], strlen (f->pages[i]), err, err_cap);
    return *page ? 0 : -1;
}

static void
s_serve (fake_ido_t *f, const char *const *pages, size_t count)
{
    memset (f, 0, sizeof *f);
    f->fail_at = -1;
    for (size_t i = 0; i < count; i++)
        f->pages[i] = pages[i];
    f->count = count;
}

/*  The sink: collects "key|Name|hash" of emitted envelopes; can refuse from the Nth. */
typedef struct {
    char got[MAX_EMIT][160]; /* emitted records */
    size_t count;            /* number emitted */
    size_t page_ends;        /* ends of a page seen (env NULL) */
    int refuse_from;         /* refuse the emission with this index (-1: never) */
    ex_state_t *pending_in;  /* when set: each record's pending entry must be committed in
                                this state, and indexed, before the record is handed on */
} sink_t;

static int
s_emit (const cm_envelope_t *env, void *arg)
{
    sink_t *s = arg;
    if (!env) {
        s->page_ends++;
        return 0;
    }
    if (s->refuse_from >= 0 && (int)s->count >= s->refuse_from)
        return -1;
    assert_true (s->count < MAX_EMIT);
    if (s->pending_in) {
        /* what a confirmation that comes back at once finds (ex_lease_handle_confirms) */
        char k[256], hash[64];
        int klen = snprintf (k, sizeof k, "l/%s/%s", env->entity, env->key);
        char *val = NULL;
        size_t vlen = 0;
        assert_int_equal (cm_store_get_in (ex_state_store (s->pending_in), EX_STATE_PENDING, k,
                                           (size_t)klen, &val, &vlen),
                          1);
        free (val);
        ex_state_lock (s->pending_in);
        assert_int_equal (ex_state_inflight_hash (s->pending_in, k, (size_t)klen, hash), 1);
        ex_state_unlock (s->pending_in);
        assert_string_equal (hash, env->hash);
    }
    assert_string_equal (env->tenant, "ACME_PRD");
    assert_int_equal (strlen (env->hash), 32);
    const char *name = cm_envelope_field (env, "Name");
    snprintf (s->got[s->count++], sizeof s->got[0], "%s|%s", env->key, name ? name : "(none)");
    return 0;
}

static void
s_sink_reset (sink_t *s)
{
    memset (s, 0, sizeof *s);
    s->refuse_from = -1;
}

#define ITEM(num, name, date)                                                                      \
    "{\"VendNum\":\"" num "\",\"Name\":\"" name                                                    \
    "\",\"Phone\":\"+1 555 0100\",\"RecordDate\":\"" date                                          \
    "\",\"_ItemId\":\"PBT=[vendor] ven.ID=[" num "]\"}"

static const char *s_pages[] = {
    "{\"Items\":[" ITEM ("V000001", "Northwind Metals", "2026-02-01 08:00:00.000") "," ITEM (
        "V000002", "Contoso Fasteners",
        "2026-02-01 08:00:01.000") "],\"Bookmark\":\"<B><P><p>V000002</p></P></"
                                   "B>\",\"MoreRowsExist\":true,\"Success\":true,"
                                   "\"Message\":null}",
    "{\"Items\":[" ITEM ("V000003", "Fabrikam Tooling", "2026-02-01 08:00:02.000") "," ITEM (
        "V000004", "Adventure Works Supply",
        "2026-02-01 08:00:03.500") "],\"Bookmark\":\"<B><P><p>V000004</p></P></"
                                   "B>\",\"MoreRowsExist\":true,\"Success\":true,"
                                   "\"Message\":null}",
    "{\"Items\":[" ITEM ("V000005", "Litware Castings",
                         "2026-02-01 08:00:04.000") "],\"Bookmark\":\"<B><P><p>V000005</p></P></"
                                                    "B>\",\"MoreRowsExist\":false,\"Success\":true,"
                                                    "\"Message\":null}",
};

static char s_dir[256];

static int
s_setup (void **state)
{
    test_tmpdir (s_dir, sizeof s_dir, "test_ex_poller");
    return 0;
}

static int
s_teardown (void **state)
{
    assert_int_equal (test_rmtree (s_dir), 0);
    return 0;
}

static ex_entity_t
s_vendor (void)
{
    ex_entity_t ent = {.entity = "vendor",
                       .ido = "SLVendors",
                       .properties = "Name,Phone",
                       .key = "VendNum",
                       .watermark = "RecordDate",
                       .page_size = 2,
                       .overlap_s = 300};
    return ent;
}

static void
test_incremental (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "ACME_PRD", err, sizeof err);
    assert_non_null (st);
    fake_ido_t f;
    sink_t sink;
    ex_poll_stats_t stats;
    ex_entity_t ent = s_vendor ();
    ex_poller_t *p = ex_poller_new ("ACME_PRD", &ent, st, s_load, &f, err, sizeof err);
    assert_non_null (p);
    /* key and watermark are requested even though the configured list lacks them */
    assert_string_equal (ex_poller_properties (p), "Name,Phone,VendNum,RecordDate");

    /* first poll: no filter, three pages through the bookmarks, everything emitted */
    s_serve (&f, s_pages, 3);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), 0);
    assert_int_equal (f.next, 3);
    assert_string_equal (f.filter[0], "");
    assert_string_equal (f.bookmark[0], "");
    assert_string_equal (f.bookmark[1], "<B><P><p>V000002</p></P></B>");
    assert_string_equal (f.bookmark[2], "<B><P><p>V000004</p></P></B>");
    assert_string_equal (f.orderby, "RecordDate,VendNum");
    assert_int_equal (f.recordcap, 2);
    assert_int_equal (stats.pages, 3);
    assert_int_equal (sink.page_ends, 3); /* the emitter is told each page's end */
    assert_int_equal (stats.seen, 5);
    assert_int_equal (stats.changed, 5);
    assert_int_equal (stats.emitted, 5);
    assert_true (stats.full); /* no watermark yet: the first poll reads everything */
    assert_int_equal (sink.count, 5);
    assert_string_equal (sink.got[0], "V000001|Northwind Metals");
    assert_string_equal (sink.got[4], "V000005|Litware Castings");
    char wm[64];
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 08:00:04.000");

    /* second poll, same data: filtered from watermark - overlap, nothing emitted */
    s_serve (&f, s_pages, 3);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), 0);
    assert_string_equal (f.filter[0], "RecordDate >= '2026-02-01 07:55:04.000'");
    assert_string_equal (f.filter[2], "RecordDate >= '2026-02-01 07:55:04.000'");
    assert_int_equal (stats.seen, 5);
    assert_int_equal (stats.changed, 0);
    assert_false (stats.full);
    assert_int_equal (sink.count, 0);

    /* a changed record and a new one: exactly those two are emitted */
    const char *changed[] = {
        "{\"Items\":[" ITEM ("V000003", "Fabrikam Tooling", "2026-02-01 08:00:02.000") "," ITEM (
            "V000004", "Adventure Works Supply Co.",
            "2026-02-01 09:00:00.000") "," ITEM ("V000006", "Tailspin Parts",
                                                 "2026-02-01 09:00:01.000") "],\"Bookmark\":null,"
                                                                            "\"MoreRowsExist\":"
                                                                            "false,\"Success\":"
                                                                            "true,\"Message\":"
                                                                            "null}",
    };
    s_serve (&f, changed, 1);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), 0);
    assert_int_equal (stats.changed, 2);
    assert_int_equal (sink.count, 2);
    assert_string_equal (sink.got[0], "V000004|Adventure Works Supply Co.");
    assert_string_equal (sink.got[1], "V000006|Tailspin Parts");
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 09:00:01.000");

    /* a full pass has no filter and still emits only changes */
    s_serve (&f, s_pages, 3);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, true, s_emit, &sink, &stats, err, sizeof err), 0);
    assert_string_equal (f.filter[0], "");
    assert_true (stats.full);
    assert_int_equal (sink.count, 1); /* V000004 with its old name differs again */
    assert_string_equal (sink.got[0], "V000004|Adventure Works Supply");
    /* the watermark never goes back */
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 09:00:01.000");

    ex_poller_destroy (&p);
    ex_state_destroy (&st);
}

static void
test_failure_keeps_state (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "FAIL", err, sizeof err);
    assert_non_null (st);
    fake_ido_t f;
    sink_t sink;
    ex_poll_stats_t stats;
    ex_entity_t ent = s_vendor ();
    ex_poller_t *p = ex_poller_new ("ACME_PRD", &ent, st, s_load, &f, err, sizeof err);
    assert_non_null (p);

    /* the sink refuses the 4th record (page 2, second item). Every record of a page is
       pending before the first is handed on, so page 2 is committed (its watermark too)
       and V000004 is not lost: the lease owns it, and a poll does not send it again */
    s_serve (&f, s_pages, 3);
    s_sink_reset (&sink);
    sink.refuse_from = 3;
    sink.pending_in = st;
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), -1);
    assert_non_null (strstr (err, "V000004"));
    assert_int_equal (stats.emitted, 3);
    assert_int_equal (sink.page_ends, 2); /* also after the page that failed */
    assert_int_equal (ex_lease_pending_count (st), 4);
    char wm[64];
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 08:00:03.500");

    /* the IDO fails on page 3: nothing of pages 1 and 2 is sent again (pending), the error
       is reported, the watermark stays */
    s_serve (&f, s_pages, 3);
    f.fail_at = 2;
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), -1);
    assert_non_null (strstr (err, "503"));
    assert_int_equal (sink.count, 0);
    assert_int_equal (ex_state_watermark (st, "vendor", wm, sizeof wm, err, sizeof err), 1);
    assert_string_equal (wm, "2026-02-01 08:00:03.500");

    /* then everything is done and only V000005 remained */
    s_serve (&f, s_pages, 3);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), 0);
    assert_int_equal (sink.count, 1);
    assert_string_equal (sink.got[0], "V000005|Litware Castings");

    ex_poller_destroy (&p);
    ex_state_destroy (&st);
}

static void
test_bad_pages (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "BAD", err, sizeof err);
    assert_non_null (st);
    fake_ido_t f;
    sink_t sink;
    ex_poll_stats_t stats;
    ex_entity_t ent = s_vendor ();
    ex_poller_t *p = ex_poller_new ("ACME_PRD", &ent, st, s_load, &f, err, sizeof err);
    assert_non_null (p);

    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"{\"Items\":[{\"Name\":\"No Key Inc\",\"RecordDate\":\"2026-02-01 08:00:00.000\"}],"
         "\"MoreRowsExist\":false,\"Success\":true}",
         "lacks key property VendNum"},
        {"{\"Items\":[" ITEM ("V000001", "A",
                              "2026-02-01 08:00:00.000") "],\"Bookmark\":null,\"MoreRowsExist\":"
                                                         "true,\"Success\":true}",
         "no Bookmark"},
        {"{\"Items\":[],\"Bookmark\":\"b\",\"MoreRowsExist\":true,\"Success\":true}", "empty page"},
        {"{\"Items\":null,\"Success\":false,\"Message\":\"Invalid filter\"}", "Invalid filter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pages[] = {cases[i].body};
        s_serve (&f, pages, 1);
        s_sink_reset (&sink);
        err[0] = '\0';
        int rc = ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err);
        if (rc != -1 || !strstr (err, cases[i].want)) {
            print_error ("case %zu: rc=%d err='%s' want '%s'\n", i, rc, err, cases[i].want);
            fail ();
        }
    }
    /* the bookmark that does not advance */
    const char *loop[] = {s_pages[0], s_pages[0]};
    s_serve (&f, loop, 2);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), -1);
    assert_non_null (strstr (err, "did not advance"));

    /* an empty key value is skipped, not emitted, and does not stop the poll */
    const char *empty_key[] = {
        "{\"Items\":[" ITEM ("", "Blank", "2026-02-01 08:00:00.000") "," ITEM (
            "V000009", "Good",
            "2026-02-01 08:00:00.000") "],\"MoreRowsExist\":false,\"Success\":true}",
    };
    s_serve (&f, empty_key, 1);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit, &sink, &stats, err, sizeof err), 0);
    assert_int_equal (stats.skipped, 1);
    assert_int_equal (sink.count, 1);
    assert_string_equal (sink.got[0], "V000009|Good");

    ex_poller_destroy (&p);
    ex_state_destroy (&st);
}

static int
s_emit_customer (const cm_envelope_t *env, void *arg)
{
    sink_t *s = arg;
    if (!env)
        return 0;
    snprintf (s->got[s->count++], sizeof s->got[0], "%s|%s|%zu", env->key,
              cm_envelope_field (env, "Name"), env->field_count);
    return 0;
}

static void
test_composite_key_and_all_properties (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "CUST", err, sizeof err);
    assert_non_null (st);
    fake_ido_t f;
    sink_t sink;
    ex_poll_stats_t stats;
    ex_entity_t ent = {.entity = "customer",
                       .ido = "SLCustomers",
                       .properties = "*",
                       .key = "CustNum, CustSeq",
                       .watermark = "RecordDate",
                       .page_size = 200,
                       .overlap_s = 0};
    ex_poller_t *p = ex_poller_new ("ACME_PRD", &ent, st, s_load, &f, err, sizeof err);
    assert_non_null (p);
    assert_string_equal (ex_poller_properties (p), "*");
    const char *pages[] = {
        "{\"Items\":[{\"CustNum\":\"C000042\",\"CustSeq\":\"0\",\"Name\":\"Northwind Traders\","
        "\"RecordDate\":\"2026-02-01 08:00:00.000\",\"_ItemId\":\"x\"},"
        "{\"CustNum\":\"C000042\",\"CustSeq\":1,\"Name\":\"Northwind Traders - Dock 2\","
        "\"RecordDate\":\"2026-02-01 08:00:00.000\",\"_ItemId\":\"y\"}],"
        "\"MoreRowsExist\":false,\"Success\":true}",
    };
    s_serve (&f, pages, 1);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit_customer, &sink, &stats, err, sizeof err),
                      0);
    assert_string_equal (f.orderby, "RecordDate,CustNum,CustSeq");
    assert_int_equal (sink.count, 2);
    /* _ItemId is row metadata, not a field */
    assert_string_equal (sink.got[0], "C000042/0|Northwind Traders|4");
    assert_string_equal (sink.got[1], "C000042/1|Northwind Traders - Dock 2|4");
    /* overlap 0: the filter still includes the watermark itself (>=) */
    s_serve (&f, pages, 1);
    s_sink_reset (&sink);
    assert_int_equal (ex_poller_poll (p, false, s_emit_customer, &sink, &stats, err, sizeof err),
                      0);
    assert_string_equal (f.filter[0], "RecordDate >= '2026-02-01 08:00:00.000'");
    assert_int_equal (sink.count, 0);
    ex_poller_destroy (&p);
    ex_state_destroy (&st);
}

static void
test_bad_settings (void **state)
{
    char err[512] = "";
    ex_entity_t ent = s_vendor ();
    ent.properties = "Name,Phone;DROP TABLE";
    assert_null (ex_poller_new ("ACME_PRD", &ent, NULL, s_load, NULL, err, sizeof err));
    assert_non_null (strstr (err, "cloudsuite.vendor.properties"));
    ent = s_vendor ();
    ent.watermark = "RecordDate'";
    assert_null (ex_poller_new ("ACME_PRD", &ent, NULL, s_load, NULL, err, sizeof err));
    assert_non_null (strstr (err, "cloudsuite.vendor.watermark"));
    ent = s_vendor ();
    ent.key = "";
    assert_null (ex_poller_new ("ACME_PRD", &ent, NULL, s_load, NULL, err, sizeof err));
    assert_non_null (strstr (err, "cloudsuite.vendor.key"));
    ent = s_vendor ();
    ent.ido = "SL/Vendors";
    assert_null (ex_poller_new ("ACME_PRD", &ent, NULL, s_load, NULL, err, sizeof err));
    assert_non_null (strstr (err, "cloudsuite.vendor.ido"));
}

/*  A sink that keeps every emitted record's key and hash. */
#define BIG_PAGE 300
typedef struct {
    char key[BIG_PAGE][16];  /* emitted keys, in order */
    char hash[BIG_PAGE][33]; /* their hashes */
    size_t count;            /* number emitted */
} big_sink_t;

static int
s_emit_big (const cm_envelope_t *env, void *arg)
{
    big_sink_t *s = arg;
    if (!env)
        return 0;
    assert_true (s->count < BIG_PAGE);
    snprintf (s->key[s->count], sizeof s->key[0], "%s", env->key);
    snprintf (s->hash[s->count], sizeof s->hash[0], "%s", env->hash);
    s->count++;
    return 0;
}

/*  The page-wide lookup (one read of the page's hashes, one of the pending entries of
    those that differ) decides exactly as ex_lease_changed does record by record: over a
    300-record page in every state (confirmed hash equal or not, pending entry equal or
    not, corrupt, none). */
static void
test_page_lookup_matches_lease (void **state)
{
    char err[512] = "";
    ex_state_t *st = ex_state_open (s_dir, "PAGE", err, sizeof err);
    assert_non_null (st);
    size_t cap = BIG_PAGE * 160 + 128, len = 0;
    char *body = malloc (cap);
    assert_non_null (body);
    len += (size_t)snprintf (body + len, cap - len, "{\"Items\":[");
    for (size_t i = 0; i < BIG_PAGE; i++)
        len += (size_t)snprintf (body + len, cap - len,
                                 "%s{\"VendNum\":\"V%06zu\",\"Name\":\"Vendor %zu\",\"Phone\":"
                                 "\"1\",\"RecordDate\":\"2026-02-01 08:00:00.000\"}",
                                 i ? "," : "", i, i);
    snprintf (body + len, cap - len, "],\"MoreRowsExist\":false,\"Success\":true}");
    const char *pages[] = {body};
    fake_ido_t f;
    ex_poll_stats_t stats;
    ex_entity_t ent = s_vendor ();
    ent.page_size = BIG_PAGE;
    ex_poller_t *p = ex_poller_new ("ACME_PRD", &ent, st, s_load, &f, err, sizeof err);
    assert_non_null (p);
    big_sink_t *sink = calloc (1, sizeof *sink);
    assert_non_null (sink);

    /* the first poll emits all (the entity is empty) and leaves every record pending */
    s_serve (&f, pages, 1);
    assert_int_equal (ex_poller_poll (p, false, s_emit_big, sink, &stats, err, sizeof err), 0);
    assert_int_equal (sink->count, BIG_PAGE);

    /* six states, by i % 6; `want` is ex_lease_changed's answer, one record at a time */
    const char *other = "ffffffffffffffffffffffffffffffff";
    cm_store_t *store = ex_state_store (st);
    int want[BIG_PAGE];
    size_t want_count = 0;
    for (size_t i = 0; i < BIG_PAGE; i++) {
        char key[16], hk[64], lk[64], lv[128];
        snprintf (key, sizeof key, "V%06zu", i);
        assert_string_equal (sink->key[i], key);
        const char *hash = sink->hash[i];
        int hl = snprintf (hk, sizeof hk, "h/vendor/%s", key);
        int ll = snprintf (lk, sizeof lk, "l/vendor/%s", key);
        int vl = 0;
        switch (i % 6) {
        case 0: /* confirmed, equal */
            assert_int_equal (cm_store_put (store, hk, (size_t)hl, hash, 32, false), 0);
            assert_int_equal (cm_store_delete_in (store, EX_STATE_PENDING, lk, (size_t)ll, false),
                              0);
            break;
        case 1: /* confirmed, differs */
            assert_int_equal (cm_store_put (store, hk, (size_t)hl, other, 32, false), 0);
            assert_int_equal (cm_store_delete_in (store, EX_STATE_PENDING, lk, (size_t)ll, false),
                              0);
            break;
        case 2: /* pending, equal (as the first poll left it) */
            break;
        case 3: /* pending, differs */
            vl = snprintf (lv, sizeof lv, "%s 1767225600000 2\nenvelope", other);
            assert_int_equal (
                cm_store_put_in (store, EX_STATE_PENDING, lk, (size_t)ll, lv, (size_t)vl, false),
                0);
            break;
        case 4: /* pending, corrupt: no header, or attempt 0 with the very hash */
            vl = i % 12 == 4 ? snprintf (lv, sizeof lv, "garbage")
                             : snprintf (lv, sizeof lv, "%s 1767225600000 0\nx", hash);
            assert_int_equal (
                cm_store_put_in (store, EX_STATE_PENDING, lk, (size_t)ll, lv, (size_t)vl, false),
                0);
            break;
        default: /* nothing stored */
            assert_int_equal (cm_store_delete_in (store, EX_STATE_PENDING, lk, (size_t)ll, false),
                              0);
            break;
        }
        want[i] = ex_lease_changed (st, "vendor", key, hash, err, sizeof err);
        assert_int_equal (want[i], i % 6 == 0 || i % 6 == 2 ? 0 : 1);
        want_count += (size_t)want[i];
    }
    /* the poll emits exactly those, in page order */
    s_serve (&f, pages, 1);
    memset (sink, 0, sizeof *sink);
    assert_int_equal (ex_poller_poll (p, true, s_emit_big, sink, &stats, err, sizeof err), 0);
    assert_int_equal (stats.seen, BIG_PAGE);
    assert_int_equal (stats.changed, want_count);
    assert_int_equal (sink->count, want_count);
    for (size_t i = 0, j = 0; i < BIG_PAGE; i++) {
        if (!want[i])
            continue;
        char key[16];
        snprintf (key, sizeof key, "V%06zu", i);
        assert_string_equal (sink->key[j++], key);
    }
    /* now each is confirmed-equal or pending-equal: nothing more */
    s_serve (&f, pages, 1);
    memset (sink, 0, sizeof *sink);
    assert_int_equal (ex_poller_poll (p, true, s_emit_big, sink, &stats, err, sizeof err), 0);
    assert_int_equal (sink->count, 0);
    assert_false (ex_state_failed (st));
    free (sink);
    free (body);
    ex_poller_destroy (&p);
    ex_state_destroy (&st);
}

/*  The shipped defaults: suppliers on, and for all four entities the IDOs, keys and
    schedules the simulator and a standard CSI release use; a per-entity poll interval
    overrides the tenant's. */
static void
test_entity_defaults (void **state)
{
    static const struct {
        const char *entity, *ido, *key, *props; /* props: the request must contain these */
    } want[] = {
        {"vendor", "SLVendors", "VendNum", "VendNum,Name,Phone,"},
        {"customer", "SLCustomers", "CustNum,CustSeq", "CustNum,CustSeq,Name,CustType,"},
        {"invoice", "SLArinvs", "InvNum,InvSeq", "InvNum,InvSeq,CustNum,InvDate,"},
        {"po", "SLPos", "PoNum", "PoNum,VendNum,OrderDate,Stat,"},
    };
    char err[512] = "";
    setenv ("MLC_CLOUDSUITE_PO_POLL_INTERVAL_S", "3600", 1);
    cm_config_t *cfg = cm_config_load (NULL, err, sizeof err);
    unsetenv ("MLC_CLOUDSUITE_PO_POLL_INTERVAL_S");
    assert_non_null (cfg);
    for (size_t i = 0; i < 4; i++) {
        char key[64];
        snprintf (key, sizeof key, "cloudsuite.%s.enabled", want[i].entity);
        assert_true (cm_config_bool (cfg, key) == (i == 0));
        ex_entity_t ent;
        assert_int_equal (ex_entity_from_config (cfg, want[i].entity, &ent), 0);
        assert_string_equal (ent.ido, want[i].ido);
        assert_string_equal (ent.key, want[i].key);
        assert_string_equal (ent.watermark, "RecordDate");
        assert_int_equal (ent.page_size, 200);
        assert_int_equal (ent.poll_interval_s, strcmp (want[i].entity, "po") == 0 ? 3600 : 300);
        assert_int_equal (ent.full_interval_s, 86400);
        ex_poller_t *p = ex_poller_new ("ACME_PRD", &ent, NULL, s_load, NULL, err, sizeof err);
        assert_non_null (p);
        assert_true (strncmp (ex_poller_properties (p), want[i].props, strlen (want[i].props)) ==
                     0);
        assert_non_null (strstr (ex_poller_properties (p), "RecordDate"));
        ex_poller_destroy (&p);
    }
    cm_config_destroy (&cfg);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_incremental),
        cmocka_unit_test (test_failure_keeps_state),
        cmocka_unit_test (test_bad_pages),
        cmocka_unit_test (test_composite_key_and_all_properties),
        cmocka_unit_test (test_bad_settings),
        cmocka_unit_test (test_entity_defaults),
        cmocka_unit_test (test_page_lookup_matches_lease),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
