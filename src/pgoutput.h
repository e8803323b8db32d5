/* pgoutput.h — pure decoder of pgoutput (protocol version 1) messages, the
 * payload of each XLogData of a logical replication stream, and the mapping
 * of a businesses-table row to its fields. No libpq, no I/O: fuzzable. */
#ifndef PROXIMITY_PGOUTPUT_H
#define PROXIMITY_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Commit timestamps count microseconds from 2000-01-01 00:00:00 UTC; add
 * this to get microseconds since the Unix epoch. */
#define PGOUTPUT_UNIX_EPOCH_OFFSET_US INT64_C(946684800000000)

typedef enum {
    PGOUTPUT_BEGIN = 'B',
    PGOUTPUT_COMMIT = 'C',
    PGOUTPUT_ORIGIN = 'O',
    PGOUTPUT_RELATION = 'R',
    PGOUTPUT_TYPE = 'Y',
    PGOUTPUT_INSERT = 'I',
    PGOUTPUT_UPDATE = 'U',
    PGOUTPUT_DELETE = 'D',
    PGOUTPUT_TRUNCATE = 'T',
    PGOUTPUT_MESSAGE = 'M'
} pgoutput_kind_t;

/* One column of a tuple. kind is 'n' (SQL null), 'u' (unchanged TOASTed
 * value, not sent), 't' (text form) or 'b' (binary form). For 't' and 'b',
 * value holds len bytes plus a terminating NUL; otherwise value is NULL. */
typedef struct pgoutput_value {
    char kind;
    const char *value;
    size_t len;
} pgoutput_value_t;

typedef struct pgoutput_tuple {
    size_t ncols;
    const pgoutput_value_t *cols;
} pgoutput_tuple_t;

#define PGOUTPUT_COL_KEY 1 /* column flag: part of the replica identity */

typedef struct pgoutput_column {
    uint8_t flags;
    char *name;
    uint32_t type_oid;
    int32_t typmod;
} pgoutput_column_t;

/* A relation as last described by the server; owned by the decoder's cache. */
typedef struct pgoutput_relation {
    uint32_t oid;
    char *nspname;
    char *relname;
    char replident; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
    size_t ncols;
    pgoutput_column_t *cols;
} pgoutput_relation_t;

/* A decoded message. Every pointer in it stays valid until the next
 * pgoutput_decode or pgoutput_decoder_free on the same decoder. */
typedef struct pgoutput_msg {
    pgoutput_kind_t kind;
    union {
        struct { uint64_t final_lsn; int64_t commit_ts; uint32_t xid; } begin;
        struct { uint8_t flags; uint64_t commit_lsn, end_lsn; int64_t commit_ts; } commit;
        struct { uint64_t commit_lsn; const char *name; } origin;
        struct { uint32_t oid; const char *nspname, *name; } type;
        struct { uint8_t flags; uint64_t lsn; const char *prefix; const char *content;
                 size_t len; } message;
        struct { uint8_t options; size_t nrels; const uint32_t *oids; } truncate;
    } u;
    /* INSERT, UPDATE, DELETE and RELATION: the relation from the cache. */
    const pgoutput_relation_t *rel;
    /* UPDATE/DELETE: 'K' (old key columns), 'O' (whole old row) or 0 (none). */
    char old_kind;
    pgoutput_tuple_t oldtup;
    pgoutput_tuple_t newtup; /* INSERT and UPDATE */
} pgoutput_msg_t;

typedef struct pgoutput_decoder pgoutput_decoder_t;

/* Returns a new decoder with an empty relation cache (never NULL). */
pgoutput_decoder_t *pgoutput_decoder_new(void);
void pgoutput_decoder_free(pgoutput_decoder_t *d);

/* Decodes one message of len bytes into *out; RELATION also updates the
 * cache. Returns 0, or -1 with err set for a malformed, truncated or
 * unexpected message (the cache is then unchanged). Never reads outside buf. */
int pgoutput_decode(pgoutput_decoder_t *d, const uint8_t *buf, size_t len, pgoutput_msg_t *out,
                    char *err, size_t errlen);

/* The cached relation with this oid, or NULL. */
const pgoutput_relation_t *pgoutput_relation(const pgoutput_decoder_t *d, uint32_t oid);

/* The position of the column called name in rel, or -1. */
int pgoutput_column_index(const pgoutput_relation_t *rel, const char *name);

/* The value of the column called name in tup, or NULL if rel has no such
 * column (or the tuple is shorter than the relation). */
const pgoutput_value_t *pgoutput_tuple_get(const pgoutput_relation_t *rel,
                                           const pgoutput_tuple_t *tup, const char *name);

/* ---- values in text form ------------------------------------------------ */

/* Decodes a hex (E)WKB point, as PostGIS prints geometry and geography:
 * either byte order, optional SRID (*srid = 0 without), Z/M skipped.
 * Returns 0, or -1 with err set (not a point, empty, bad hex, trailing). */
int pgoutput_ewkb_point(const char *hex, size_t len, double *lng, double *lat, int32_t *srid,
                        char *err, size_t errlen);

/* Parses a one-dimensional text[] literal ("{a,\"b c\",NULL}") into *out,
 * a new array of *n new strings (NULL for a NULL element); free it with
 * pgoutput_text_array_free. Returns 0, or -1 with err set. */
int pgoutput_text_array_parse(const char *s, size_t len, char ***out, size_t *n, char *err,
                              size_t errlen);
void pgoutput_text_array_free(char **arr, size_t n);

/* ---- the businesses table ----------------------------------------------- */

/* Bits of pgoutput_business_t.present: the column came with a value
 * (possibly SQL null). Unset: not in the relation, or 'u' (unchanged). */
enum {
    PGOUTPUT_BF_ID = 1u << 0,
    PGOUTPUT_BF_VERSION = 1u << 1,
    PGOUTPUT_BF_LOCATION = 1u << 2,
    PGOUTPUT_BF_CATEGORIES = 1u << 3,
    PGOUTPUT_BF_DELETED_AT = 1u << 4,
    PGOUTPUT_BF_OWNER = 1u << 5,
    PGOUTPUT_BF_NAME = 1u << 6,
    PGOUTPUT_BF_STREET = 1u << 7,
    PGOUTPUT_BF_CITY = 1u << 8,
    PGOUTPUT_BF_REGION = 1u << 9,
    PGOUTPUT_BF_POSTAL_CODE = 1u << 10,
    PGOUTPUT_BF_COUNTRY = 1u << 11,
    PGOUTPUT_BF_PHONE = 1u << 12,
    PGOUTPUT_BF_WEBSITE = 1u << 13,
    PGOUTPUT_BF_PRICE = 1u << 14,
    PGOUTPUT_BF_CREATED_AT = 1u << 15,
    PGOUTPUT_BF_UPDATED_AT = 1u << 16
};

/* One businesses row as far as the tuple carries it. Strings are owned
 * (NULL for SQL null or absent); a key-only old tuple gives just the id. */
typedef struct pgoutput_business {
    uint32_t present;
    int64_t id;
    int64_t version;           /* 0 when null/absent */
    double lat, lng;           /* valid with PGOUTPUT_BF_LOCATION and has_location */
    bool has_location;
    char **categories;         /* ncategories strings */
    size_t ncategories;
    bool deleted;              /* deleted_at is present and not null */
    int price;                 /* 1..4, 0 when null/absent */
    char *owner, *name, *street, *city, *region, *postal_code, *country, *phone, *website;
    char *deleted_at, *created_at, *updated_at; /* timestamptz text */
} pgoutput_business_t;

/* Fills *out (cleared first) from tup of rel by column name. The id must
 * be present and not null; other columns are optional. Returns 0, or -1
 * with err set (and *out cleared) on a value that does not parse. */
int pgoutput_business_from_tuple(const pgoutput_relation_t *rel, const pgoutput_tuple_t *tup,
                                 pgoutput_business_t *out, char *err, size_t errlen);

/* Frees what *b owns and zeroes it. */
void pgoutput_business_clear(pgoutput_business_t *b);

#endif
