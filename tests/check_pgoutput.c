/* check_pgoutput.c — the pgoutput decoder on hand-built messages: every
 * message type, every truncation, hostile lengths, EWKB points, text[]
 * literals and the businesses row mapping. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgoutput.h"
#include "xalloc.h"
#include "check_run.h"

/* ------------------------------------------------------------------ */
/* A message builder (network byte order, like the server)             */
/* ------------------------------------------------------------------ */

typedef struct {
    uint8_t b[4096];
    size_t n;
} msg_t;

/* No ck_assert here: each one records a mark point (file I/O in Check),
 * which would dominate the mutation loop. */
static void put_u8(msg_t *m, uint8_t v)
{
    if (m->n >= sizeof m->b)
        abort();
    m->b[m->n++] = v;
}

static void put_u16(msg_t *m, uint16_t v)
{
    put_u8(m, (uint8_t)(v >> 8));
    put_u8(m, (uint8_t)v);
}

static void put_u32(msg_t *m, uint32_t v)
{
    put_u16(m, (uint16_t)(v >> 16));
    put_u16(m, (uint16_t)v);
}

static void put_u64(msg_t *m, uint64_t v)
{
    put_u32(m, (uint32_t)(v >> 32));
    put_u32(m, (uint32_t)v);
}

static void put_str(msg_t *m, const char *s)
{
    for (; *s; s++)
        put_u8(m, (uint8_t)*s);
    put_u8(m, 0);
}

static void put_text(msg_t *m, const char *s)
{
    put_u8(m, 't');
    put_u32(m, (uint32_t)strlen(s));
    for (; *s; s++)
        put_u8(m, (uint8_t)*s);
}

#define BIZ_OID 16400u

/* The businesses table as pgoutput describes it (replica identity default:
 * only id is a key column). */
static const char *const biz_cols[] = {
    "id", "owner", "name", "categories", "street", "city", "region", "postal_code", "country",
    "phone", "website", "price", "location", "version", "deleted_at", "created_at", "updated_at"};
#define BIZ_NCOLS (sizeof biz_cols / sizeof biz_cols[0])

static void build_relation(msg_t *m, uint32_t oid, size_t ncols)
{
    m->n = 0;
    put_u8(m, 'R');
    put_u32(m, oid);
    put_str(m, "public");
    put_str(m, "businesses");
    put_u8(m, 'd');
    put_u16(m, (uint16_t)ncols);
    for (size_t i = 0; i < ncols; i++) {
        put_u8(m, i == 0 ? PGOUTPUT_COL_KEY : 0);
        put_str(m, biz_cols[i]);
        put_u32(m, i == 0 ? 20 : 25);
        put_u32(m, 0xffffffffu);
    }
}

#define LOC_SF "0101000020E610000050FC1873D79A5EC0D0D556EC2FE34240" /* -122.4194 37.7749 */
#define LOC_SF_BE "0020000001000010E6C05E9AD77318FC504042E32FEC56D5D0"

/* A full row; deleted_at null unless given. */
static void put_biz_tuple(msg_t *m, const char *id, const char *version, const char *loc,
                          const char *deleted_at)
{
    put_u16(m, BIZ_NCOLS);
    put_text(m, id);
    put_text(m, "owner-1");
    put_text(m, "Joe's \"Diner\"");
    put_text(m, "{cafe,\"ice cream\",\"a\\\"b\",bakery}");
    put_text(m, "1 Main St");
    put_text(m, "San Francisco");
    put_text(m, "CA");
    put_text(m, "94103");
    put_text(m, "US");
    put_u8(m, 'n'); /* phone */
    put_text(m, "https://joe.example");
    put_text(m, "2");
    put_text(m, loc);
    put_text(m, version);
    if (deleted_at)
        put_text(m, deleted_at);
    else
        put_u8(m, 'n');
    put_text(m, "2026-01-01 10:00:00+00");
    put_text(m, "2026-01-02 10:00:00+00");
}

static void put_key_tuple(msg_t *m, const char *id)
{
    put_u16(m, BIZ_NCOLS);
    put_text(m, id);
    for (size_t i = 1; i < BIZ_NCOLS; i++)
        put_u8(m, 'n');
}

static void build_insert(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'I');
    put_u32(m, BIZ_OID);
    put_u8(m, 'N');
    put_biz_tuple(m, "42", "7", LOC_SF, NULL);
}

static void build_update(msg_t *m, char old_kind)
{
    m->n = 0;
    put_u8(m, 'U');
    put_u32(m, BIZ_OID);
    if (old_kind == 'K') {
        put_u8(m, 'K');
        put_key_tuple(m, "42");
    } else if (old_kind == 'O') {
        put_u8(m, 'O');
        put_biz_tuple(m, "42", "7", LOC_SF, NULL);
    }
    put_u8(m, 'N');
    put_biz_tuple(m, "42", "8", LOC_SF_BE, "2026-02-03 04:05:06.789+00");
}

static void build_delete(msg_t *m, char old_kind)
{
    m->n = 0;
    put_u8(m, 'D');
    put_u32(m, BIZ_OID);
    put_u8(m, (uint8_t)old_kind);
    if (old_kind == 'K')
        put_key_tuple(m, "42");
    else
        put_biz_tuple(m, "42", "9", LOC_SF, NULL);
}

static void build_begin(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'B');
    put_u64(m, 0x16B3748ULL);
    put_u64(m, 817000000000000ULL);
    put_u32(m, 741);
}

static void build_commit(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'C');
    put_u8(m, 0);
    put_u64(m, 0x16B3748ULL);
    put_u64(m, 0x16B3778ULL);
    put_u64(m, 817000000000001ULL);
}

static void build_truncate(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'T');
    put_u32(m, 2);
    put_u8(m, 3);
    put_u32(m, BIZ_OID);
    put_u32(m, 16500);
}

static void build_type(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'Y');
    put_u32(m, 17001);
    put_str(m, "public");
    put_str(m, "mood");
}

static void build_origin(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'O');
    put_u64(m, 0xABCDEF01ULL);
    put_str(m, "node_a");
}

static void build_message(msg_t *m)
{
    m->n = 0;
    put_u8(m, 'M');
    put_u8(m, 1);
    put_u64(m, 0x1234ULL);
    put_str(m, "proximity");
    put_u32(m, 5);
    static const uint8_t content[5] = {'h', 'e', 0, 'l', 'o'};
    for (size_t i = 0; i < sizeof content; i++)
        put_u8(m, content[i]);
}

/* A decoder that knows the businesses relation. */
static pgoutput_decoder_t *biz_decoder(void)
{
    pgoutput_decoder_t *d = pgoutput_decoder_new();
    msg_t m;
    pgoutput_msg_t out;
    char err[256] = "";
    build_relation(&m, BIZ_OID, BIZ_NCOLS);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &out, err, sizeof err) == 0, "%s", err);
    return d;
}

static const char *val(const pgoutput_msg_t *o, const pgoutput_tuple_t *t, const char *name)
{
    const pgoutput_value_t *v = pgoutput_tuple_get(o->rel, t, name);
    ck_assert_ptr_nonnull(v);
    return v->kind == 't' ? v->value : v->kind == 'n' ? "<null>" : "<unchanged>";
}

/* ------------------------------------------------------------------ */
/* Each message type                                                    */
/* ------------------------------------------------------------------ */

START_TEST(test_begin_commit)
{
    pgoutput_decoder_t *d = pgoutput_decoder_new();
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    build_begin(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_BEGIN);
    ck_assert_uint_eq(o.u.begin.final_lsn, 0x16B3748ULL);
    ck_assert_int_eq(o.u.begin.commit_ts, 817000000000000LL);
    ck_assert_uint_eq(o.u.begin.xid, 741);
    build_commit(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_COMMIT);
    ck_assert_uint_eq(o.u.commit.flags, 0);
    ck_assert_uint_eq(o.u.commit.commit_lsn, 0x16B3748ULL);
    ck_assert_uint_eq(o.u.commit.end_lsn, 0x16B3778ULL);
    ck_assert_int_eq(o.u.commit.commit_ts, 817000000000001LL);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_relation)
{
    pgoutput_decoder_t *d = biz_decoder();
    const pgoutput_relation_t *r = pgoutput_relation(d, BIZ_OID);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->nspname, "public");
    ck_assert_str_eq(r->relname, "businesses");
    ck_assert_int_eq(r->replident, 'd');
    ck_assert_uint_eq(r->ncols, BIZ_NCOLS);
    ck_assert_str_eq(r->cols[0].name, "id");
    ck_assert_uint_eq(r->cols[0].flags, PGOUTPUT_COL_KEY);
    ck_assert_uint_eq(r->cols[0].type_oid, 20);
    ck_assert_int_eq(r->cols[0].typmod, -1);
    ck_assert_int_eq(pgoutput_column_index(r, "location"), 12);
    ck_assert_int_eq(pgoutput_column_index(r, "nope"), -1);
    ck_assert_ptr_null(pgoutput_relation(d, BIZ_OID + 1));

    /* A new description replaces the old one (ALTER TABLE). */
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    build_relation(&m, BIZ_OID, 3);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_RELATION);
    ck_assert_ptr_eq(o.rel, pgoutput_relation(d, BIZ_OID));
    ck_assert_uint_eq(o.rel->ncols, 3);

    /* Many relations: the cache grows and finds each. */
    for (uint32_t oid = 1; oid <= 300; oid++) {
        build_relation(&m, oid * 7, 2);
        ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), 0);
    }
    for (uint32_t oid = 1; oid <= 300; oid++) {
        const pgoutput_relation_t *x = pgoutput_relation(d, oid * 7);
        ck_assert_ptr_nonnull(x);
        ck_assert_uint_eq(x->oid, oid * 7);
    }
    ck_assert_uint_eq(pgoutput_relation(d, BIZ_OID)->ncols, 3);

    /* A relation without columns. */
    build_relation(&m, 99, 0);
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), 0);
    ck_assert_uint_eq(pgoutput_relation(d, 99)->ncols, 0);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_insert)
{
    pgoutput_decoder_t *d = biz_decoder();
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    build_insert(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_INSERT);
    ck_assert_uint_eq(o.rel->oid, BIZ_OID);
    ck_assert_int_eq(o.old_kind, 0);
    ck_assert_uint_eq(o.newtup.ncols, BIZ_NCOLS);
    ck_assert_str_eq(val(&o, &o.newtup, "id"), "42");
    ck_assert_str_eq(val(&o, &o.newtup, "name"), "Joe's \"Diner\"");
    ck_assert_str_eq(val(&o, &o.newtup, "phone"), "<null>");
    ck_assert_ptr_null(pgoutput_tuple_get(o.rel, &o.newtup, "nope"));
    ck_assert_uint_eq(pgoutput_tuple_get(o.rel, &o.newtup, "version")->len, 1);

    pgoutput_business_t b;
    ck_assert_msg(pgoutput_business_from_tuple(o.rel, &o.newtup, &b, err, sizeof err) == 0, "%s",
                  err);
    ck_assert_int_eq(b.id, 42);
    ck_assert_int_eq(b.version, 7);
    ck_assert(b.has_location);
    ck_assert_double_eq(b.lng, -122.4194);
    ck_assert_double_eq(b.lat, 37.7749);
    ck_assert_uint_eq(b.ncategories, 4);
    ck_assert_str_eq(b.categories[0], "cafe");
    ck_assert_str_eq(b.categories[1], "ice cream");
    ck_assert_str_eq(b.categories[2], "a\"b");
    ck_assert_str_eq(b.categories[3], "bakery");
    ck_assert(!b.deleted);
    ck_assert_ptr_null(b.deleted_at);
    ck_assert_int_eq(b.price, 2);
    ck_assert_str_eq(b.owner, "owner-1");
    ck_assert_str_eq(b.name, "Joe's \"Diner\"");
    ck_assert_str_eq(b.street, "1 Main St");
    ck_assert_str_eq(b.city, "San Francisco");
    ck_assert_str_eq(b.region, "CA");
    ck_assert_str_eq(b.postal_code, "94103");
    ck_assert_str_eq(b.country, "US");
    ck_assert_ptr_null(b.phone);
    ck_assert(b.present & PGOUTPUT_BF_PHONE);
    ck_assert_str_eq(b.website, "https://joe.example");
    ck_assert_str_eq(b.created_at, "2026-01-01 10:00:00+00");
    ck_assert_str_eq(b.updated_at, "2026-01-02 10:00:00+00");
    ck_assert_uint_eq(b.present, (PGOUTPUT_BF_UPDATED_AT << 1) - 1);
    pgoutput_business_clear(&b);
    ck_assert_ptr_null(b.name);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_update)
{
    pgoutput_decoder_t *d = biz_decoder();
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    const char kinds[] = {0, 'K', 'O'};
    for (size_t k = 0; k < 3; k++) {
        build_update(&m, kinds[k]);
        ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(o.kind, PGOUTPUT_UPDATE);
        ck_assert_int_eq(o.old_kind, kinds[k]);
        ck_assert_uint_eq(o.oldtup.ncols, kinds[k] ? BIZ_NCOLS : 0);
        pgoutput_business_t b;
        ck_assert_msg(pgoutput_business_from_tuple(o.rel, &o.newtup, &b, err, sizeof err) == 0,
                      "%s", err);
        ck_assert_int_eq(b.version, 8);
        ck_assert(b.deleted);
        ck_assert_str_eq(b.deleted_at, "2026-02-03 04:05:06.789+00");
        ck_assert_double_eq(b.lng, -122.4194); /* big-endian EWKB */
        ck_assert_double_eq(b.lat, 37.7749);
        pgoutput_business_clear(&b);
        if (kinds[k] == 'K') {
            ck_assert_msg(pgoutput_business_from_tuple(o.rel, &o.oldtup, &b, err, sizeof err) == 0,
                          "%s", err);
            ck_assert_int_eq(b.id, 42);
            ck_assert_int_eq(b.version, 0);
            ck_assert(!b.has_location);
            ck_assert(!b.deleted);
            pgoutput_business_clear(&b);
        }
        if (kinds[k] == 'O')
            ck_assert_str_eq(val(&o, &o.oldtup, "version"), "7");
    }
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_delete)
{
    pgoutput_decoder_t *d = biz_decoder();
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    build_delete(&m, 'K');
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_DELETE);
    ck_assert_int_eq(o.old_kind, 'K');
    ck_assert_uint_eq(o.newtup.ncols, 0);
    pgoutput_business_t b;
    ck_assert_int_eq(pgoutput_business_from_tuple(o.rel, &o.oldtup, &b, err, sizeof err), 0);
    ck_assert_int_eq(b.id, 42);
    ck_assert_uint_eq(b.present & PGOUTPUT_BF_ID, PGOUTPUT_BF_ID);
    pgoutput_business_clear(&b);

    build_delete(&m, 'O');
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.old_kind, 'O');
    ck_assert_str_eq(val(&o, &o.oldtup, "version"), "9");

    /* A delete must carry an old tuple. */
    m.b[5] = 'N';
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_truncate)
{
    pgoutput_decoder_t *d = pgoutput_decoder_new();
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    build_truncate(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_TRUNCATE);
    ck_assert_uint_eq(o.u.truncate.options, 3);
    ck_assert_uint_eq(o.u.truncate.nrels, 2);
    ck_assert_uint_eq(o.u.truncate.oids[0], BIZ_OID);
    ck_assert_uint_eq(o.u.truncate.oids[1], 16500);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_skipped_kinds)
{
    pgoutput_decoder_t *d = pgoutput_decoder_new();
    msg_t m;
    pgoutput_msg_t o;
    char err[256] = "";
    build_type(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_TYPE);
    ck_assert_uint_eq(o.u.type.oid, 17001);
    ck_assert_str_eq(o.u.type.nspname, "public");
    ck_assert_str_eq(o.u.type.name, "mood");
    build_origin(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_ORIGIN);
    ck_assert_uint_eq(o.u.origin.commit_lsn, 0xABCDEF01ULL);
    ck_assert_str_eq(o.u.origin.name, "node_a");
    build_message(&m);
    ck_assert_msg(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(o.kind, PGOUTPUT_MESSAGE);
    ck_assert_uint_eq(o.u.message.flags, 1);
    ck_assert_uint_eq(o.u.message.lsn, 0x1234);
    ck_assert_str_eq(o.u.message.prefix, "proximity");
    ck_assert_uint_eq(o.u.message.len, 5);
    ck_assert_mem_eq(o.u.message.content, "he\0lo", 5);
    pgoutput_decoder_free(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Hostile input                                                        */
/* ------------------------------------------------------------------ */

typedef void (*builder_fn)(msg_t *);

static void b_relation(msg_t *m) { build_relation(m, BIZ_OID, BIZ_NCOLS); }
static void b_update_none(msg_t *m) { build_update(m, 0); }
static void b_update_k(msg_t *m) { build_update(m, 'K'); }
static void b_update_o(msg_t *m) { build_update(m, 'O'); }
static void b_delete_k(msg_t *m) { build_delete(m, 'K'); }
static void b_delete_o(msg_t *m) { build_delete(m, 'O'); }

static const builder_fn builders[] = {
    build_begin,  build_commit, build_origin, build_type,  build_message, b_relation,
    build_insert, b_update_none, b_update_k,  b_update_o,  b_delete_k,    b_delete_o,
    build_truncate,
};
#define NBUILDERS (sizeof builders / sizeof builders[0])

/* Every proper prefix of every valid message fails, from an exact-size
 * heap copy so that ASan sees any read past the end; a relation cut short
 * leaves the cache as it was. */
START_TEST(test_truncated_everywhere)
{
    pgoutput_decoder_t *d = biz_decoder();
    for (size_t k = 0; k < NBUILDERS; k++) {
        msg_t m;
        pgoutput_msg_t o;
        char err[256];
        builders[k](&m);
        for (size_t len = 0; len < m.n; len++) {
            uint8_t *copy = xmalloc(len ? len : 1);
            memcpy(copy, m.b, len);
            err[0] = '\0';
            ck_assert_msg(pgoutput_decode(d, copy, len, &o, err, sizeof err) == -1,
                          "message %c cut to %zu of %zu bytes decoded", m.b[0], len, m.n);
            ck_assert_msg(err[0] != '\0', "no error message for %c at %zu", m.b[0], len);
            free(copy);
        }
        const pgoutput_relation_t *r = pgoutput_relation(d, BIZ_OID);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->ncols, BIZ_NCOLS);
        /* The whole message still decodes, and one extra byte is refused. */
        uint8_t *copy = xmalloc(m.n + 1);
        memcpy(copy, m.b, m.n);
        copy[m.n] = 0;
        ck_assert_int_eq(pgoutput_decode(d, copy, m.n, &o, err, sizeof err), 0);
        ck_assert_int_eq(pgoutput_decode(d, copy, m.n + 1, &o, err, sizeof err), -1);
        ck_assert_ptr_nonnull(strstr(err, "trailing"));
        free(copy);
    }
    /* Empty input and a NULL buffer. */
    pgoutput_msg_t o;
    char err[64];
    ck_assert_int_eq(pgoutput_decode(d, NULL, 0, &o, err, sizeof err), -1);
    ck_assert_int_eq(pgoutput_decode(d, NULL, 5, &o, NULL, 0), -1);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_hostile_lengths)
{
    pgoutput_decoder_t *d = biz_decoder();
    msg_t m;
    pgoutput_msg_t o;
    char err[256];

    /* A column length far past the end, and one with the sign bit set. */
    const uint32_t lens[] = {0xffffffffu, 0x80000000u, 0x7fffffffu, 1000};
    for (size_t i = 0; i < 4; i++) {
        m.n = 0;
        put_u8(&m, 'I');
        put_u32(&m, BIZ_OID);
        put_u8(&m, 'N');
        put_u16(&m, BIZ_NCOLS);
        put_u8(&m, 't');
        put_u32(&m, lens[i]);
        put_str(&m, "42");
        ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    }
    /* Column counts: negative, larger than the relation, larger than the
     * message. */
    const uint16_t counts[] = {0xffff, 0x8000, BIZ_NCOLS + 1, BIZ_NCOLS - 1, 0};
    for (size_t i = 0; i < 5; i++) {
        m.n = 0;
        put_u8(&m, 'I');
        put_u32(&m, BIZ_OID);
        put_u8(&m, 'N');
        put_u16(&m, counts[i]);
        ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    }
    /* A relation claiming 32767 columns in a few bytes. */
    m.n = 0;
    put_u8(&m, 'R');
    put_u32(&m, 5);
    put_str(&m, "s");
    put_str(&m, "t");
    put_u8(&m, 'd');
    put_u16(&m, 0x7fff);
    put_u8(&m, 0);
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    ck_assert_ptr_null(pgoutput_relation(d, 5));
    /* Truncate of 2^32-1 relations. */
    m.n = 0;
    put_u8(&m, 'T');
    put_u32(&m, 0xffffffffu);
    put_u8(&m, 0);
    put_u32(&m, 1);
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    /* Message content longer than the message. */
    m.n = 0;
    put_u8(&m, 'M');
    put_u8(&m, 0);
    put_u64(&m, 1);
    put_str(&m, "p");
    put_u32(&m, 0xfffffff0u);
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    /* Strings without their NUL. */
    m.n = 0;
    put_u8(&m, 'Y');
    put_u32(&m, 1);
    put_u8(&m, 'x');
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    pgoutput_decoder_free(d);
}
END_TEST

START_TEST(test_protocol_errors)
{
    pgoutput_decoder_t *d = biz_decoder();
    msg_t m;
    pgoutput_msg_t o;
    char err[256];
    /* Unknown message type (streaming and two-phase need protocol 2+). */
    const uint8_t unknown[] = {'S', 0, 0, 0, 1, 0};
    ck_assert_int_eq(pgoutput_decode(d, unknown, sizeof unknown, &o, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "unknown message type"));
    /* A change for a relation never described. */
    build_insert(&m);
    m.b[4] ^= 1;
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "before its description"));
    /* Unknown column kind. */
    build_insert(&m);
    m.b[8] = 'x';
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "column kind"));
    /* Insert without the 'N' tag; update with a bad old-tuple tag. */
    build_insert(&m);
    m.b[5] = 'K';
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    build_update(&m, 'K');
    m.b[5] = 'Q';
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), -1);
    /* A binary value decodes but is refused by the business mapping. */
    build_insert(&m);
    m.b[8] = 'b';
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, sizeof err), 0);
    ck_assert_int_eq(o.newtup.cols[0].kind, 'b');
    pgoutput_business_t b;
    ck_assert_int_eq(pgoutput_business_from_tuple(o.rel, &o.newtup, &b, err, sizeof err), -1);
    ck_assert_ptr_null(b.name);
    pgoutput_decoder_free(d);
}
END_TEST

/* Random mutations of valid messages (flipped, inserted and deleted
 * bytes): anything may be refused, nothing may crash or leak. A failing
 * seed is printed so it can be replayed. */
START_TEST(test_mutations)
{
    unsigned seed = (unsigned)time(NULL);
    const char *env = getenv("PGOUTPUT_SEED");
    if (env)
        seed = (unsigned)strtoul(env, NULL, 10);
    printf("check_pgoutput: mutation seed %u (PGOUTPUT_SEED)\n", seed);
    srand(seed);
    pgoutput_decoder_t *d = biz_decoder();
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        msg_t m;
        pgoutput_msg_t o;
        char err[128];
        builders[(size_t)rand() % NBUILDERS](&m);
        int edits = 1 + rand() % 4;
        for (int e = 0; e < edits && m.n > 1; e++) {
            size_t at = (size_t)rand() % m.n;
            switch (rand() % 3) {
            case 0:
                m.b[at] = (uint8_t)rand();
                break;
            case 1:
                memmove(m.b + at, m.b + at + 1, m.n - at - 1);
                m.n--;
                break;
            default:
                if (m.n < sizeof m.b) {
                    memmove(m.b + at + 1, m.b + at, m.n - at);
                    m.b[at] = (uint8_t)rand();
                    m.n++;
                }
            }
        }
        uint8_t *copy = xmalloc(m.n);
        memcpy(copy, m.b, m.n);
        if (pgoutput_decode(d, copy, m.n, &o, err, sizeof err) == 0) {
            ok++;
            pgoutput_business_t b;
            if ((o.kind == PGOUTPUT_INSERT || o.kind == PGOUTPUT_UPDATE) &&
                pgoutput_business_from_tuple(o.rel, &o.newtup, &b, err, sizeof err) == 0)
                pgoutput_business_clear(&b);
            if (o.old_kind &&
                pgoutput_business_from_tuple(o.rel, &o.oldtup, &b, err, sizeof err) == 0)
                pgoutput_business_clear(&b);
        }
        free(copy);
        /* Keep the businesses relation known for the change messages. */
        if (!pgoutput_relation(d, BIZ_OID) || pgoutput_relation(d, BIZ_OID)->ncols != BIZ_NCOLS) {
            pgoutput_decoder_free(d);
            d = biz_decoder();
        }
    }
    ck_assert_int_gt(ok, 0);
    pgoutput_decoder_free(d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* EWKB points                                                          */
/* ------------------------------------------------------------------ */

static int ewkb(const char *hex, double *lng, double *lat, int32_t *srid)
{
    char err[128];
    return pgoutput_ewkb_point(hex, strlen(hex), lng, lat, srid, err, sizeof err);
}

START_TEST(test_ewkb)
{
    double lng, lat;
    int32_t srid;
    ck_assert_int_eq(ewkb(LOC_SF, &lng, &lat, &srid), 0);
    ck_assert_double_eq(lng, -122.4194);
    ck_assert_double_eq(lat, 37.7749);
    ck_assert_int_eq(srid, 4326);
    ck_assert_int_eq(ewkb(LOC_SF_BE, &lng, &lat, &srid), 0);
    ck_assert_double_eq(lng, -122.4194);
    ck_assert_double_eq(lat, 37.7749);
    ck_assert_int_eq(srid, 4326);
    /* Lower-case hex as well. */
    ck_assert_int_eq(ewkb("0101000020e610000050fc1873d79a5ec0d0d556ec2fe34240", &lng, &lat, &srid), 0);
    ck_assert_double_eq(lat, 37.7749);
    /* Plain WKB, no SRID: POINT(1 2) little and big endian. */
    ck_assert_int_eq(ewkb("0101000000000000000000F03F0000000000000040", &lng, &lat, &srid), 0);
    ck_assert_double_eq(lng, 1.0);
    ck_assert_double_eq(lat, 2.0);
    ck_assert_int_eq(srid, 0);
    ck_assert_int_eq(ewkb("00000000013FF00000000000004000000000000000", &lng, &lat, &srid), 0);
    ck_assert_double_eq(lng, 1.0);
    ck_assert_double_eq(lat, 2.0);
    /* POINT Z (1 2 3) in EWKB (Z flag) and in ISO WKB (type 1001). */
    ck_assert_int_eq(ewkb("0101000080000000000000F03F00000000000000400000000000000840", &lng,
                          &lat, &srid), 0);
    ck_assert_double_eq(lat, 2.0);
    ck_assert_int_eq(ewkb("01E9030000000000000000F03F00000000000000400000000000000840", &lng,
                          &lat, &srid), 0);
    ck_assert_double_eq(lng, 1.0);
    /* POINT(-180 -90) and POINT(180 90). */
    ck_assert_int_eq(ewkb("0101000020E610000000000000008066C000000000008056C0", &lng, &lat, &srid),
                     0);
    ck_assert_double_eq(lng, -180.0);
    ck_assert_double_eq(lat, -90.0);

    /* Refused: empty point, linestring, odd length, bad digits, short,
     * trailing bytes, bad byte order, too long, nothing. */
    const char *bad[] = {
        "0101000020E6100000000000000000F87F000000000000F87F",
        "0102000000010000000000000000000000000000000000000000",
        "0101000020E610000050FC1873D79A5EC0D0D556EC2FE3424",
        "0101000020E610000050FC1873D79A5EC0D0D556EC2FE342ZZ",
        "0101000020E610000050FC1873D79A5EC0D0D556EC2FE3",
        "0101000020E610000050FC1873D79A5EC0D0D556EC2FE3424000",
        "0201000020E610000050FC1873D79A5EC0D0D556EC2FE34240",
        "0101000020E610000050FC1873D79A5EC0D0D556EC2FE34240D0D556EC2FE34240D0D556EC2FE34240D0D5",
        "",
        "01",
        "0101000000000000000000F07F0000000000000040", /* +Inf */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ewkb(bad[i], &lng, &lat, &srid) == -1, "accepted %s", bad[i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* text[] literals                                                      */
/* ------------------------------------------------------------------ */

static void arr_ok(const char *lit, size_t want_n, const char *const *want)
{
    char **a;
    size_t n;
    char err[128] = "";
    ck_assert_msg(pgoutput_text_array_parse(lit, strlen(lit), &a, &n, err, sizeof err) == 0,
                  "%s: %s", lit, err);
    ck_assert_msg(n == want_n, "%s: %zu elements", lit, n);
    for (size_t i = 0; i < n; i++) {
        if (!want[i])
            ck_assert_msg(a[i] == NULL, "%s: element %zu not NULL", lit, i);
        else
            ck_assert_msg(a[i] && strcmp(a[i], want[i]) == 0, "%s: element %zu is '%s'", lit, i,
                          a[i] ? a[i] : "(null)");
    }
    pgoutput_text_array_free(a, n);
}

START_TEST(test_text_array)
{
    arr_ok("{}", 0, NULL);
    arr_ok(" { } ", 0, NULL);
    arr_ok("{cafe}", 1, (const char *[]){"cafe"});
    arr_ok("{cafe,bakery,bar}", 3, (const char *[]){"cafe", "bakery", "bar"});
    arr_ok("{\"ice cream\",\"a,b\",\"{x}\",\"\"}", 4,
           (const char *[]){"ice cream", "a,b", "{x}", ""});
    arr_ok("{\"say \\\"hi\\\"\",\"back\\\\slash\"}", 2,
           (const char *[]){"say \"hi\"", "back\\slash"});
    arr_ok("{NULL,null,\"NULL\",NULLS}", 4, (const char *[]){NULL, NULL, "NULL", "NULLS"});
    arr_ok("{ a , b\\ ,c d }", 3, (const char *[]){"a", "b ", "c d"});
    arr_ok("{a\\,b}", 1, (const char *[]){"a,b"});
    arr_ok("[0:1]={x,y}", 2, (const char *[]){"x", "y"});
    arr_ok("{caf\xc3\xa9}", 1, (const char *[]){"caf\xc3\xa9"});

    /* A literal that is not NUL-terminated: only len bytes are read. */
    char *lit = xmalloc(5);
    memcpy(lit, "{a,b}", 5);
    char **a;
    size_t n;
    char err[128];
    ck_assert_int_eq(pgoutput_text_array_parse(lit, 5, &a, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 2);
    pgoutput_text_array_free(a, n);
    for (size_t len = 0; len < 5; len++) {
        ck_assert_int_eq(pgoutput_text_array_parse(lit, len, &a, &n, err, sizeof err), -1);
        ck_assert_ptr_null(a);
    }
    free(lit);

    /* Many elements in one literal: linear work and memory. */
    size_t big_n = 200000;
    char *big = xmalloc(2 * big_n + 2);
    size_t bl = 0;
    big[bl++] = '{';
    for (size_t i = 0; i < big_n; i++) {
        big[bl++] = (char)('a' + i % 26);
        big[bl++] = i + 1 < big_n ? ',' : '}';
    }
    ck_assert_int_eq(pgoutput_text_array_parse(big, bl, &a, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, big_n);
    ck_assert_str_eq(a[big_n - 1], "h"); /* (200000 - 1) % 26 = 7 */
    pgoutput_text_array_free(a, n);
    free(big);

    const char *bad[] = {"", "a", "{", "{a", "{a,", "{a,}", "{,a}", "{\"a}", "{\"a\"b}",
                         "{{a},{b}}", "{a} x", "{a\"b}", "[1:2]{a}", "{a\\", "{\"a\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(pgoutput_text_array_parse(bad[i], strlen(bad[i]), &a, &n, err,
                                                sizeof err) == -1,
                      "accepted '%s'", bad[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* The businesses row                                                  */
/* ------------------------------------------------------------------ */

/* Insert with one column replaced by a given value ('n', 'u' or text). */
static int biz_with(pgoutput_decoder_t *d, const char *col, char kind, const char *text,
                    pgoutput_business_t *b, char *err, size_t errlen)
{
    msg_t m;
    pgoutput_msg_t o;
    m.n = 0;
    put_u8(&m, 'I');
    put_u32(&m, BIZ_OID);
    put_u8(&m, 'N');
    put_u16(&m, BIZ_NCOLS);
    for (size_t i = 0; i < BIZ_NCOLS; i++) {
        const char *v = strcmp(biz_cols[i], "id") == 0           ? "5"
                        : strcmp(biz_cols[i], "version") == 0    ? "11"
                        : strcmp(biz_cols[i], "location") == 0   ? LOC_SF
                        : strcmp(biz_cols[i], "categories") == 0 ? "{bar}"
                        : strcmp(biz_cols[i], "price") == 0      ? "4"
                                                                 : "x";
        if (strcmp(biz_cols[i], col) == 0) {
            if (kind != 't') {
                put_u8(&m, (uint8_t)kind);
                continue;
            }
            v = text;
        }
        put_text(&m, v);
    }
    ck_assert_int_eq(pgoutput_decode(d, m.b, m.n, &o, err, errlen), 0);
    return pgoutput_business_from_tuple(o.rel, &o.newtup, b, err, errlen);
}

START_TEST(test_business_mapping)
{
    pgoutput_decoder_t *d = biz_decoder();
    pgoutput_business_t b;
    char err[256];

    ck_assert_int_eq(biz_with(d, "none", 't', NULL, &b, err, sizeof err), 0);
    ck_assert_int_eq(b.id, 5);
    ck_assert_int_eq(b.version, 11);
    ck_assert_int_eq(b.price, 4);
    ck_assert_uint_eq(b.ncategories, 1);
    ck_assert(b.deleted); /* any non-null deleted_at */
    ck_assert_str_eq(b.deleted_at, "x");
    pgoutput_business_clear(&b);

    /* An unchanged TOASTed column is simply not present. */
    ck_assert_int_eq(biz_with(d, "categories", 'u', NULL, &b, err, sizeof err), 0);
    ck_assert_uint_eq(b.present & PGOUTPUT_BF_CATEGORIES, 0);
    ck_assert_ptr_null(b.categories);
    pgoutput_business_clear(&b);
    ck_assert_int_eq(biz_with(d, "categories", 't', "{}", &b, err, sizeof err), 0);
    ck_assert_uint_eq(b.ncategories, 0);
    ck_assert_ptr_nonnull(b.categories);
    pgoutput_business_clear(&b);
    ck_assert_int_eq(biz_with(d, "deleted_at", 'n', NULL, &b, err, sizeof err), 0);
    ck_assert(!b.deleted);
    ck_assert(b.present & PGOUTPUT_BF_DELETED_AT);
    pgoutput_business_clear(&b);
    ck_assert_int_eq(biz_with(d, "price", 'n', NULL, &b, err, sizeof err), 0);
    ck_assert_int_eq(b.price, 0);
    pgoutput_business_clear(&b);
    ck_assert_int_eq(biz_with(d, "version", 't', "9223372036854775807", &b, err, sizeof err), 0);
    ck_assert_int_eq(b.version, INT64_MAX);
    pgoutput_business_clear(&b);

    /* Refused values: the struct comes back cleared. */
    const struct { const char *col; char kind; const char *text; } bad[] = {
        {"id", 'n', NULL},          {"id", 'u', NULL},        {"id", 't', "0"},
        {"id", 't', "12x"},         {"id", 't', ""},          {"id", 't', " 1"},
        {"id", 't', "99999999999999999999"},                  {"version", 't', "v"},
        {"price", 't', "5"},        {"location", 't', "00"},  {"categories", 't', "{a,NULL}"},
        {"categories", 't', "cafe"},
        {"location", 't', "0101000020E6100000000000000000F03F0000000000C05640"}, /* lat 91 */
        {"location", 't', "0101000020110F000050FC1873D79A5EC0D0D556EC2FE34240"}, /* SRID 3857 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(biz_with(d, bad[i].col, bad[i].kind, bad[i].text, &b, err, sizeof err) == -1,
                      "accepted %s=%s", bad[i].col, bad[i].text ? bad[i].text : "?");
        ck_assert(err[0] != '\0');
        ck_assert_ptr_null(b.owner);
        ck_assert_ptr_null(b.categories);
    }
    pgoutput_decoder_free(d);
}
END_TEST

static Suite *pgoutput_suite(void)
{
    Suite *s = suite_create("pgoutput");
    TCase *tc = tcase_create("messages");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_begin_commit);
    tcase_add_test(tc, test_relation);
    tcase_add_test(tc, test_insert);
    tcase_add_test(tc, test_update);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_truncate);
    tcase_add_test(tc, test_skipped_kinds);
    tcase_add_test(tc, test_truncated_everywhere);
    tcase_add_test(tc, test_hostile_lengths);
    tcase_add_test(tc, test_protocol_errors);
    tcase_add_test(tc, test_mutations);
    suite_add_tcase(s, tc);
    TCase *tv = tcase_create("values");
    tcase_add_test(tv, test_ewkb);
    tcase_add_test(tv, test_text_array);
    tcase_add_test(tv, test_business_mapping);
    suite_add_tcase(s, tv);
    return s;
}

int main(void)
{
    return check_run(pgoutput_suite(), CK_NOFORK);
}
