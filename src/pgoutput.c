/* pgoutput.c — decoder of pgoutput protocol version 1 messages, with the
 * relation cache that turns tuples into named columns. */
#include "pgoutput.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "field_error.h"
#include "xalloc.h"

struct pgoutput_decoder {
    /* Relation cache: open addressing on the oid, power-of-two size. */
    pgoutput_relation_t **rels;
    size_t nrels, rcap;
    /* Per-message storage, reused; what a decoded message points into. */
    char *scratch;
    size_t scap, sused;
    pgoutput_value_t *newcols, *oldcols;
    size_t newcap, oldcap;
    uint32_t *oids;
    size_t oidcap;
};

#define fail errbuf_set

/* ------------------------------------------------------------------ */
/* Bounds-checked big-endian reader                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t left;
    size_t len; /* whole message, for offsets in errors */
    char *err;
    size_t errlen;
} rd_t;

static int rd_short(rd_t *r, const char *what)
{
    return fail(r->err, r->errlen, "truncated message: %s at offset %zu", what, r->len - r->left);
}

static int rd_u8(rd_t *r, uint8_t *v, const char *what)
{
    *v = 0; /* also on failure: callers' error paths read nothing unset */
    if (r->left < 1)
        return rd_short(r, what);
    *v = r->p[0];
    r->p++;
    r->left--;
    return 0;
}

static int rd_u16(rd_t *r, uint16_t *v, const char *what)
{
    *v = 0;
    if (r->left < 2)
        return rd_short(r, what);
    *v = (uint16_t)((r->p[0] << 8) | r->p[1]);
    r->p += 2;
    r->left -= 2;
    return 0;
}

static int rd_u32(rd_t *r, uint32_t *v, const char *what)
{
    *v = 0;
    if (r->left < 4)
        return rd_short(r, what);
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int rd_u64(rd_t *r, uint64_t *v, const char *what)
{
    uint32_t hi, lo;
    *v = 0;
    if (r->left < 8)
        return rd_short(r, what);
    rd_u32(r, &hi, what);
    rd_u32(r, &lo, what);
    *v = (uint64_t)hi << 32 | lo;
    return 0;
}

/* A NUL-terminated string in the message: *s points into the message and
 * *n is its length without the NUL. */
static int rd_cstr(rd_t *r, const char **s, size_t *n, const char *what)
{
    const uint8_t *nul = r->left ? memchr(r->p, 0, r->left) : NULL;
    *s = NULL;
    *n = 0;
    if (!nul)
        return fail(r->err, r->errlen, "unterminated string: %s at offset %zu", what,
                    r->len - r->left);
    *s = (const char *)r->p;
    *n = (size_t)(nul - r->p);
    r->p = nul + 1;
    r->left -= *n + 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Per-message storage                                                  */
/* ------------------------------------------------------------------ */

/* Copies n bytes plus a NUL into scratch. decode sizes scratch up front
 * for the worst case, so earlier pointers never move. */
static const char *scratch_copy(pgoutput_decoder_t *d, const void *src, size_t n)
{
    char *dst = d->scratch + d->sused;
    memcpy(dst, src, n);
    dst[n] = '\0';
    d->sused += n + 1;
    return dst;
}

static const char *rd_str_copy(pgoutput_decoder_t *d, rd_t *r, const char *what)
{
    const char *s;
    size_t n;
    if (rd_cstr(r, &s, &n, what) < 0)
        return NULL;
    return scratch_copy(d, s, n);
}

static int rd_tuple(pgoutput_decoder_t *d, rd_t *r, pgoutput_value_t **arr, size_t *cap,
                    const pgoutput_relation_t *rel, pgoutput_tuple_t *tup)
{
    uint16_t n16;
    if (rd_u16(r, &n16, "tuple column count") < 0)
        return -1;
    if (n16 & 0x8000)
        return fail(r->err, r->errlen, "negative tuple column count");
    size_t n = n16;
    if (n != rel->ncols)
        return fail(r->err, r->errlen, "tuple has %zu columns, relation %u has %zu", n,
                    (unsigned)rel->oid, rel->ncols);
    /* Every column takes at least its kind byte. */
    if (n > r->left)
        return rd_short(r, "tuple columns");
    if (n > *cap) {
        *arr = xrealloc(*arr, n * sizeof **arr);
        *cap = n;
    }
    pgoutput_value_t *cols = *arr;
    for (size_t i = 0; i < n; i++) {
        uint8_t kind;
        if (rd_u8(r, &kind, "column kind") < 0)
            return -1;
        cols[i].kind = (char)kind;
        cols[i].value = NULL;
        cols[i].len = 0;
        switch (kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b': {
            uint32_t vlen;
            if (rd_u32(r, &vlen, "column length") < 0)
                return -1;
            if (vlen > INT32_MAX)
                return fail(r->err, r->errlen, "negative column length");
            if (vlen > r->left)
                return rd_short(r, "column value");
            cols[i].value = scratch_copy(d, r->p, vlen);
            cols[i].len = vlen;
            r->p += vlen;
            r->left -= vlen;
            break;
        }
        default:
            return fail(r->err, r->errlen, "unknown column kind 0x%02x", kind);
        }
    }
    tup->ncols = n;
    tup->cols = cols;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Relation cache                                                       */
/* ------------------------------------------------------------------ */

static size_t oid_slot(uint32_t oid, size_t cap)
{
    /* Fibonacci hashing: table oids are dense, so mix before masking. */
    return (size_t)(((uint64_t)oid * UINT64_C(11400714819323198485)) >> 32) & (cap - 1);
}

static void relation_free(pgoutput_relation_t *rel)
{
    if (!rel)
        return;
    for (size_t i = 0; i < rel->ncols; i++)
        free(rel->cols[i].name);
    free(rel->cols);
    free(rel->nspname);
    free(rel->relname);
    free(rel);
}

const pgoutput_relation_t *pgoutput_relation(const pgoutput_decoder_t *d, uint32_t oid)
{
    if (!d->rcap)
        return NULL;
    for (size_t i = oid_slot(oid, d->rcap);; i = (i + 1) & (d->rcap - 1)) {
        if (!d->rels[i])
            return NULL;
        if (d->rels[i]->oid == oid)
            return d->rels[i];
    }
}

static void cache_put(pgoutput_decoder_t *d, pgoutput_relation_t *rel)
{
    if ((d->nrels + 1) * 2 > d->rcap) {
        size_t ncap = d->rcap ? d->rcap * 2 : 16;
        pgoutput_relation_t **nr = xcalloc(ncap, sizeof *nr);
        for (size_t i = 0; i < d->rcap; i++) {
            if (!d->rels[i])
                continue;
            size_t j = oid_slot(d->rels[i]->oid, ncap);
            while (nr[j])
                j = (j + 1) & (ncap - 1);
            nr[j] = d->rels[i];
        }
        free(d->rels);
        d->rels = nr;
        d->rcap = ncap;
    }
    size_t i = oid_slot(rel->oid, d->rcap);
    while (d->rels[i] && d->rels[i]->oid != rel->oid)
        i = (i + 1) & (d->rcap - 1);
    if (d->rels[i])
        relation_free(d->rels[i]);
    else
        d->nrels++;
    d->rels[i] = rel;
}

pgoutput_decoder_t *pgoutput_decoder_new(void)
{
    return xcalloc(1, sizeof(pgoutput_decoder_t));
}

void pgoutput_decoder_free(pgoutput_decoder_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->rcap; i++)
        relation_free(d->rels[i]);
    free(d->rels);
    free(d->scratch);
    free(d->newcols);
    free(d->oldcols);
    free(d->oids);
    free(d);
}

int pgoutput_column_index(const pgoutput_relation_t *rel, const char *name)
{
    for (size_t i = 0; i < rel->ncols && i < INT_MAX; i++)
        if (strcmp(rel->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

const pgoutput_value_t *pgoutput_tuple_get(const pgoutput_relation_t *rel,
                                           const pgoutput_tuple_t *tup, const char *name)
{
    int i = pgoutput_column_index(rel, name);
    if (i < 0 || (size_t)i >= tup->ncols)
        return NULL;
    return &tup->cols[i];
}

/* ------------------------------------------------------------------ */
/* Messages                                                             */
/* ------------------------------------------------------------------ */

static int decode_relation(pgoutput_decoder_t *d, rd_t *r, pgoutput_msg_t *out)
{
    pgoutput_relation_t *rel = xcalloc(1, sizeof *rel);
    const char *s;
    size_t n;
    uint8_t ident;
    uint16_t n16;
    if (rd_u32(r, &rel->oid, "relation oid") < 0 || rd_cstr(r, &s, &n, "namespace") < 0)
        goto fail;
    rel->nspname = xstrndup(s, n);
    if (rd_cstr(r, &s, &n, "relation name") < 0)
        goto fail;
    rel->relname = xstrndup(s, n);
    if (rd_u8(r, &ident, "replica identity") < 0 || rd_u16(r, &n16, "column count") < 0)
        goto fail;
    rel->replident = (char)ident;
    if (n16 & 0x8000) {
        fail(r->err, r->errlen, "negative relation column count");
        goto fail;
    }
    /* A column needs at least 10 bytes (flags, empty name, type, typmod). */
    if ((size_t)n16 * 10 > r->left) {
        rd_short(r, "relation columns");
        goto fail;
    }
    rel->cols = xcalloc(n16 ? n16 : 1, sizeof *rel->cols);
    for (size_t i = 0; i < n16; i++) {
        pgoutput_column_t *c = &rel->cols[i];
        uint32_t typmod;
        if (rd_u8(r, &c->flags, "column flags") < 0 || rd_cstr(r, &s, &n, "column name") < 0)
            goto fail;
        c->name = xstrndup(s, n);
        rel->ncols = i + 1; /* so that relation_free frees the name */
        if (rd_u32(r, &c->type_oid, "column type") < 0 || rd_u32(r, &typmod, "typmod") < 0)
            goto fail;
        c->typmod = (int32_t)typmod;
    }
    rel->ncols = n16;
    if (r->left) {
        fail(r->err, r->errlen, "%zu trailing bytes after relation", r->left);
        goto fail;
    }
    cache_put(d, rel);
    out->rel = rel;
    return 0;
fail:
    relation_free(rel);
    return -1;
}

static const pgoutput_relation_t *rd_relation(pgoutput_decoder_t *d, rd_t *r)
{
    uint32_t oid;
    if (rd_u32(r, &oid, "relation oid") < 0)
        return NULL;
    const pgoutput_relation_t *rel = pgoutput_relation(d, oid);
    if (!rel)
        fail(r->err, r->errlen, "change for relation %u before its description", (unsigned)oid);
    return rel;
}

static int expect_new(rd_t *r, uint8_t tag)
{
    if (tag != 'N')
        return fail(r->err, r->errlen, "expected new tuple 'N', got 0x%02x", tag);
    return 0;
}

static int decode_change(pgoutput_decoder_t *d, rd_t *r, pgoutput_msg_t *out)
{
    const pgoutput_relation_t *rel = rd_relation(d, r);
    uint8_t tag;
    if (!rel)
        return -1;
    out->rel = rel;
    if (rd_u8(r, &tag, "tuple tag") < 0)
        return -1;
    if (out->kind == PGOUTPUT_INSERT) {
        if (expect_new(r, tag) < 0)
            return -1;
        return rd_tuple(d, r, &d->newcols, &d->newcap, rel, &out->newtup);
    }
    if (tag == 'K' || tag == 'O') {
        out->old_kind = (char)tag;
        if (rd_tuple(d, r, &d->oldcols, &d->oldcap, rel, &out->oldtup) < 0)
            return -1;
        if (out->kind == PGOUTPUT_DELETE)
            return 0;
        if (rd_u8(r, &tag, "new tuple tag") < 0)
            return -1;
    } else if (out->kind == PGOUTPUT_DELETE) {
        return fail(r->err, r->errlen, "expected old tuple 'K' or 'O', got 0x%02x", tag);
    }
    if (expect_new(r, tag) < 0)
        return -1;
    return rd_tuple(d, r, &d->newcols, &d->newcap, rel, &out->newtup);
}

static int decode_truncate(pgoutput_decoder_t *d, rd_t *r, pgoutput_msg_t *out)
{
    uint32_t n;
    if (rd_u32(r, &n, "relation count") < 0 || rd_u8(r, &out->u.truncate.options, "options") < 0)
        return -1;
    if (n > r->left / 4)
        return rd_short(r, "truncated relations");
    if (n > d->oidcap) {
        d->oids = xrealloc(d->oids, n * sizeof *d->oids);
        d->oidcap = n;
    }
    for (uint32_t i = 0; i < n; i++)
        rd_u32(r, &d->oids[i], "relation oid");
    out->u.truncate.nrels = n;
    out->u.truncate.oids = d->oids;
    return 0;
}

int pgoutput_decode(pgoutput_decoder_t *d, const uint8_t *buf, size_t len, pgoutput_msg_t *out,
                    char *err, size_t errlen)
{
    rd_t r = {buf, len, len, err, errlen};
    uint8_t tag;
    memset(out, 0, sizeof *out);
    if (!buf && len)
        return fail(err, errlen, "no buffer");
    if (rd_u8(&r, &tag, "message type") < 0)
        return -1;
    /* Every copy of n bytes plus a NUL consumed at least n + 1 bytes of
     * the message (a string's own NUL, a value's kind and length), so the
     * copies of one message never need more than len bytes. */
    if (len > SIZE_MAX - 16)
        return fail(err, errlen, "message too large");
    if (d->scap < len + 16) {
        free(d->scratch);
        d->scap = len + 16;
        d->scratch = xmalloc(d->scap);
    }
    d->sused = 0;
    out->kind = (pgoutput_kind_t)tag;
    int rc;
    switch (tag) {
    case 'B': {
        uint64_t ts = 0;
        rc = rd_u64(&r, &out->u.begin.final_lsn, "final lsn") < 0 ||
                     rd_u64(&r, &ts, "commit timestamp") < 0 ||
                     rd_u32(&r, &out->u.begin.xid, "xid") < 0
                 ? -1
                 : 0;
        out->u.begin.commit_ts = (int64_t)ts;
        break;
    }
    case 'C': {
        uint64_t ts = 0;
        rc = rd_u8(&r, &out->u.commit.flags, "commit flags") < 0 ||
                     rd_u64(&r, &out->u.commit.commit_lsn, "commit lsn") < 0 ||
                     rd_u64(&r, &out->u.commit.end_lsn, "end lsn") < 0 ||
                     rd_u64(&r, &ts, "commit timestamp") < 0
                 ? -1
                 : 0;
        out->u.commit.commit_ts = (int64_t)ts;
        break;
    }
    case 'O':
        rc = rd_u64(&r, &out->u.origin.commit_lsn, "origin lsn") < 0 ||
                     !(out->u.origin.name = rd_str_copy(d, &r, "origin name"))
                 ? -1
                 : 0;
        break;
    case 'Y':
        rc = rd_u32(&r, &out->u.type.oid, "type oid") < 0 ||
                     !(out->u.type.nspname = rd_str_copy(d, &r, "type namespace")) ||
                     !(out->u.type.name = rd_str_copy(d, &r, "type name"))
                 ? -1
                 : 0;
        break;
    case 'M': {
        uint32_t n;
        rc = rd_u8(&r, &out->u.message.flags, "message flags") < 0 ||
                     rd_u64(&r, &out->u.message.lsn, "message lsn") < 0 ||
                     !(out->u.message.prefix = rd_str_copy(d, &r, "message prefix")) ||
                     rd_u32(&r, &n, "message length") < 0
                 ? -1
                 : 0;
        if (rc == 0 && n > r.left)
            rc = rd_short(&r, "message content");
        if (rc == 0) {
            out->u.message.content = scratch_copy(d, r.p, n);
            out->u.message.len = n;
            r.p += n;
            r.left -= n;
        }
        break;
    }
    case 'R':
        /* Checks its own trailing bytes: the cache must not change for a
         * message that is rejected. */
        return decode_relation(d, &r, out);
    case 'I':
    case 'U':
    case 'D':
        rc = decode_change(d, &r, out);
        break;
    case 'T':
        rc = decode_truncate(d, &r, out);
        break;
    default:
        return fail(err, errlen, "unknown message type 0x%02x", tag);
    }
    if (rc < 0)
        return -1;
    if (r.left)
        return fail(err, errlen, "%zu trailing bytes after message '%c'", r.left, tag);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Text forms: EWKB points and text[] literals                         */
/* ------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static uint32_t wkb_u32(const uint8_t *p, bool le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[0] << 24;
}

static double wkb_f64(const uint8_t *p, bool le)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[le ? i : 7 - i] << (8 * i);
    double x;
    memcpy(&x, &v, sizeof x);
    return x;
}

#define EWKB_Z 0x80000000u
#define EWKB_M 0x40000000u
#define EWKB_SRID 0x20000000u

int pgoutput_ewkb_point(const char *hex, size_t len, double *lng, double *lat, int32_t *srid,
                        char *err, size_t errlen)
{
    /* Largest point: order, type, SRID, X Y Z M. */
    uint8_t b[1 + 4 + 4 + 4 * 8];
    if (len % 2)
        return fail(err, errlen, "odd length hex");
    if (len / 2 > sizeof b)
        return fail(err, errlen, "EWKB too long for a point");
    size_t n = len / 2;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return fail(err, errlen, "bad hex digit in EWKB");
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    if (n < 5)
        return fail(err, errlen, "EWKB too short");
    if (b[0] > 1)
        return fail(err, errlen, "bad EWKB byte order %u", b[0]);
    bool le = b[0] == 1;
    uint32_t type = wkb_u32(b + 1, le);
    bool has_srid = type & EWKB_SRID, has_z = type & EWKB_Z, has_m = type & EWKB_M;
    uint32_t base = type & 0x0fffffffu;
    /* ISO WKB spells Z and M as thousands: 1001, 2001, 3001. */
    if (base >= 1000 && base < 4000) {
        has_z |= base / 1000 == 1 || base / 1000 == 3;
        has_m |= base / 1000 == 2 || base / 1000 == 3;
        base %= 1000;
    }
    if (base != 1)
        return fail(err, errlen, "EWKB geometry type %u is not a point", (unsigned)base);
    size_t need = 5 + (has_srid ? 4 : 0) + 8 * (2 + has_z + has_m);
    if (n != need)
        return fail(err, errlen, "EWKB point of %zu bytes, expected %zu", n, need);
    size_t off = 5;
    *srid = 0;
    if (has_srid) {
        *srid = (int32_t)wkb_u32(b + off, le);
        off += 4;
    }
    double x = wkb_f64(b + off, le), y = wkb_f64(b + off + 8, le);
    if (isnan(x) || isnan(y))
        return fail(err, errlen, "empty point");
    if (!isfinite(x) || !isfinite(y))
        return fail(err, errlen, "infinite coordinate");
    *lng = x;
    *lat = y;
    return 0;
}

static bool arr_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void pgoutput_text_array_free(char **arr, size_t n)
{
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++)
        free(arr[i]);
    free(arr);
}

/* Follows array_out's quoting: an element is double-quoted when empty,
 * when it spells NULL, or holds braces, commas, quotes, backslashes or
 * spaces; inside quotes, and in unquoted input, a backslash escapes. */
int pgoutput_text_array_parse(const char *s, size_t len, char ***out, size_t *n, char *err,
                              size_t errlen)
{
    const char *p = s, *end = s + len;
    char **arr = NULL;
    /* One work buffer for every element (no element is longer than the
     * literal), so a literal of many short elements costs O(len). */
    char *el = xmalloc(len + 1);
    size_t count = 0, cap = 0;
    *out = NULL;
    *n = 0;
    while (p < end && arr_space(*p))
        p++;
    /* Bounds decoration "[0:1]=" when the lower bound is not 1. */
    if (p < end && *p == '[') {
        while (p < end && *p != '=' && *p != '{')
            p++;
        if (p == end || *p != '=') {
            fail(err, errlen, "bad array dimensions");
            goto fail;
        }
        p++;
        while (p < end && arr_space(*p))
            p++;
    }
    if (p == end || *p != '{') {
        fail(err, errlen, "array literal must start with '{'");
        goto fail;
    }
    p++;
    while (p < end && arr_space(*p))
        p++;
    if (p < end && *p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        size_t elen = 0, keep = 0;
        bool quoted = false, escaped_any = false;
        while (p < end && arr_space(*p))
            p++;
        if (p == end) {
            fail(err, errlen, "unterminated array");
            goto fail;
        }
        if (*p == '{') {
            fail(err, errlen, "multi-dimensional arrays are not supported");
            goto fail;
        }
        if (*p == '"') {
            quoted = true;
            p++;
            for (;;) {
                if (p == end) {
                    fail(err, errlen, "unterminated quoted array element");
                    goto fail;
                }
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p == '\\') {
                    if (++p == end) {
                        fail(err, errlen, "unterminated quoted array element");
                        goto fail;
                    }
                }
                el[elen++] = *p++;
            }
            keep = elen;
        } else {
            while (p < end && *p != ',' && *p != '}') {
                if (*p == '"' || *p == '{') {
                    fail(err, errlen, "unexpected '%c' in array element", *p);
                    goto fail;
                }
                if (*p == '\\') {
                    if (++p == end) {
                        fail(err, errlen, "unterminated array");
                        goto fail;
                    }
                    escaped_any = true;
                    el[elen++] = *p++;
                    keep = elen;
                    continue;
                }
                el[elen++] = *p;
                if (!arr_space(*p))
                    keep = elen;
                p++;
            }
            if (keep == 0 && !escaped_any) {
                fail(err, errlen, "empty unquoted array element");
                goto fail;
            }
        }
        bool is_null = !quoted && !escaped_any && keep == 4 && strncasecmp(el, "NULL", 4) == 0;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            arr = xrealloc(arr, cap * sizeof *arr);
        }
        arr[count++] = is_null ? NULL : xstrndup(el, keep);
        while (p < end && arr_space(*p))
            p++;
        if (p == end) {
            fail(err, errlen, "unterminated array");
            goto fail;
        }
        if (*p == '}') {
            p++;
            break;
        }
        if (*p != ',') {
            fail(err, errlen, "expected ',' or '}' in array, got '%c'", *p);
            goto fail;
        }
        p++;
    }
done:
    while (p < end && arr_space(*p))
        p++;
    if (p != end) {
        fail(err, errlen, "junk after array literal");
        goto fail;
    }
    free(el);
    *out = arr ? arr : xcalloc(1, sizeof *arr);
    *n = count;
    return 0;
fail:
    free(el);
    pgoutput_text_array_free(arr, count);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The businesses row                                                  */
/* ------------------------------------------------------------------ */

static int parse_i64(const pgoutput_value_t *v, int64_t *out)
{
    char *endp;
    if (v->len == 0 || !(v->value[0] == '-' || (v->value[0] >= '0' && v->value[0] <= '9')))
        return -1;
    errno = 0;
    long long x = strtoll(v->value, &endp, 10);
    if (errno || endp != v->value + v->len)
        return -1;
    *out = x;
    return 0;
}

typedef enum { BT_ID, BT_VERSION, BT_LOCATION, BT_CATEGORIES, BT_DELETED_AT, BT_PRICE,
               BT_STR } btype_t;

static const struct {
    const char *name;
    uint32_t bit;
    btype_t type;
    size_t off; /* of the char * for BT_STR and BT_DELETED_AT */
} bcols[] = {
    {"id", PGOUTPUT_BF_ID, BT_ID, 0},
    {"version", PGOUTPUT_BF_VERSION, BT_VERSION, 0},
    {"location", PGOUTPUT_BF_LOCATION, BT_LOCATION, 0},
    {"categories", PGOUTPUT_BF_CATEGORIES, BT_CATEGORIES, 0},
    {"deleted_at", PGOUTPUT_BF_DELETED_AT, BT_DELETED_AT, offsetof(pgoutput_business_t, deleted_at)},
    {"price", PGOUTPUT_BF_PRICE, BT_PRICE, 0},
    {"owner", PGOUTPUT_BF_OWNER, BT_STR, offsetof(pgoutput_business_t, owner)},
    {"name", PGOUTPUT_BF_NAME, BT_STR, offsetof(pgoutput_business_t, name)},
    {"street", PGOUTPUT_BF_STREET, BT_STR, offsetof(pgoutput_business_t, street)},
    {"city", PGOUTPUT_BF_CITY, BT_STR, offsetof(pgoutput_business_t, city)},
    {"region", PGOUTPUT_BF_REGION, BT_STR, offsetof(pgoutput_business_t, region)},
    {"postal_code", PGOUTPUT_BF_POSTAL_CODE, BT_STR, offsetof(pgoutput_business_t, postal_code)},
    {"country", PGOUTPUT_BF_COUNTRY, BT_STR, offsetof(pgoutput_business_t, country)},
    {"phone", PGOUTPUT_BF_PHONE, BT_STR, offsetof(pgoutput_business_t, phone)},
    {"website", PGOUTPUT_BF_WEBSITE, BT_STR, offsetof(pgoutput_business_t, website)},
    {"created_at", PGOUTPUT_BF_CREATED_AT, BT_STR, offsetof(pgoutput_business_t, created_at)},
    {"updated_at", PGOUTPUT_BF_UPDATED_AT, BT_STR, offsetof(pgoutput_business_t, updated_at)},
};

void pgoutput_business_clear(pgoutput_business_t *b)
{
    for (size_t i = 0; i < sizeof bcols / sizeof bcols[0]; i++)
        if (bcols[i].type == BT_STR || bcols[i].type == BT_DELETED_AT)
            free(*(char **)((char *)b + bcols[i].off));
    pgoutput_text_array_free(b->categories, b->ncategories);
    memset(b, 0, sizeof *b);
}

static int business_col(pgoutput_business_t *b, size_t k, const pgoutput_value_t *v, char *err,
                        size_t errlen)
{
    const char *name = bcols[k].name;
    char sub[128];
    if (v->kind == 'u')
        return 0;
    if (v->kind == 'b')
        return fail(err, errlen, "column %s: binary values are not supported", name);
    b->present |= bcols[k].bit;
    if (v->kind == 'n')
        return 0;
    switch (bcols[k].type) {
    case BT_ID:
        if (parse_i64(v, &b->id) < 0 || b->id <= 0)
            return fail(err, errlen, "column id: bad bigint");
        return 0;
    case BT_VERSION:
        if (parse_i64(v, &b->version) < 0)
            return fail(err, errlen, "column version: bad bigint");
        return 0;
    case BT_PRICE: {
        int64_t x;
        if (parse_i64(v, &x) < 0 || x < 1 || x > 4)
            return fail(err, errlen, "column price: not 1..4");
        b->price = (int)x;
        return 0;
    }
    case BT_LOCATION: {
        int32_t srid;
        if (pgoutput_ewkb_point(v->value, v->len, &b->lng, &b->lat, &srid, sub, sizeof sub) < 0)
            return fail(err, errlen, "column location: %s", sub);
        if (srid != 0 && srid != 4326)
            return fail(err, errlen, "column location: SRID %d, expected 4326", (int)srid);
        if (b->lat < -90 || b->lat > 90 || b->lng < -180 || b->lng > 180)
            return fail(err, errlen, "column location: out of range");
        b->has_location = true;
        return 0;
    }
    case BT_CATEGORIES:
        if (pgoutput_text_array_parse(v->value, v->len, &b->categories, &b->ncategories, sub,
                                      sizeof sub) < 0)
            return fail(err, errlen, "column categories: %s", sub);
        for (size_t i = 0; i < b->ncategories; i++)
            if (!b->categories[i])
                return fail(err, errlen, "column categories: NULL element");
        return 0;
    case BT_DELETED_AT:
        b->deleted = true;
        /* fall through */
    case BT_STR:
        if (memchr(v->value, '\0', v->len))
            return fail(err, errlen, "column %s: NUL in text", name);
        *(char **)((char *)b + bcols[k].off) = xstrndup(v->value, v->len);
        return 0;
    }
    return 0;
}

int pgoutput_business_from_tuple(const pgoutput_relation_t *rel, const pgoutput_tuple_t *tup,
                                 pgoutput_business_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < sizeof bcols / sizeof bcols[0]; k++) {
        const pgoutput_value_t *v = pgoutput_tuple_get(rel, tup, bcols[k].name);
        if (v && business_col(out, k, v, err, errlen) < 0)
            goto fail;
    }
    if (!(out->present & PGOUTPUT_BF_ID) || out->id == 0) {
        fail(err, errlen, "row has no id");
        goto fail;
    }
    return 0;
fail:
    pgoutput_business_clear(out);
    return -1;
}
