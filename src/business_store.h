/* business_store.h — the business table: SQL for create, read, replace,
 * patch and soft delete, each write one transaction on the primary. */
#ifndef PROXIMITY_BUSINESS_STORE_H
#define PROXIMITY_BUSINESS_STORE_H

#include <jansson.h>

#include "business.h"
#include "cache.h"
#include "store.h"

typedef enum {
    BSTORE_OK = 0,
    BSTORE_NOT_FOUND,           /* no such id, or deleted */
    BSTORE_PRECONDITION_FAILED, /* If-Match did not match the current ETag */
    BSTORE_INVALID,             /* the patched record does not validate: see verr */
    BSTORE_ERROR,               /* database error: see err */
} business_store_result_t;

/* Every write fills token (STORE_TOKEN_LEN bytes) with its consistency
 * token (see store_commit). */

/* Inserts in as a new business owned by owner; out receives the stored row. */
business_store_result_t business_store_create(store_t *s, const char *owner, const business_t *in,
                                              business_t *out, char *token, store_error_t *err);

/* The INSERT of business_store_create inside the caller's transaction c
 * (no commit; on BSTORE_ERROR the caller rolls back). */
business_store_result_t business_store_insert(store_conn_t *c, const char *owner, const business_t *in,
                                              business_t *out, store_error_t *err);

/* Reads a live (not deleted) business from a read node that has seen
 * min_token (NULL: any). */
business_store_result_t business_store_get(store_t *s, int64_t id, const char *min_token,
                                           business_t *out, store_error_t *err);

/* Replaces every client-owned field of id with in. if_match is the
 * request's If-Match header or NULL. */
business_store_result_t business_store_replace(store_t *s, int64_t id, const business_t *in,
                                               const char *if_match, business_t *out,
                                               char *token, store_error_t *err);

/* Applies a JSON merge patch to id's current record, validates the result
 * and stores it. */
business_store_result_t business_store_patch(store_t *s, int64_t id, const json_t *patch,
                                             const char *if_match, business_t *out,
                                             business_error_t *verr, char *token,
                                             store_error_t *err);

/* Soft-deletes id (a tombstone with a new version, put in *version). */
business_store_result_t business_store_delete(store_t *s, int64_t id, const char *if_match,
                                              int64_t *version, char *token, store_error_t *err);

/* The owner of id's live row, read on the primary (owners never change
 * through the API, so the answer holds for a write that follows). owner
 * receives at most len - 1 bytes. */
business_store_result_t business_store_owner(store_t *s, int64_t id, char *owner, size_t len,
                                             store_error_t *err);

/* The JSON text of b exactly as the API sends it (malloc'd, *len set). */
char *business_store_json(const business_t *b, size_t *len);

/* A cache_fetch_fn (cache.h) over a read node; ctx is the store_t. One
 * query for all ids. */
int business_store_fetch(void *ctx, const int64_t *ids, size_t n, cache_fetched_t *out, char *err,
                         size_t errlen);

/* Streams live businesses into the cache (cold-start pre-warm) until limit
 * rows or until it holds 90% of max_bytes. Returns how many, or -1. */
long business_store_prewarm(store_t *s, cache_t *cache, long limit, size_t max_bytes);

/* Formats the strong ETag of a version: "\"<version>\"". */
void business_etag(int64_t version, char *buf, size_t len);

/* True when an If-Match header value (a list, or *) matches version. */
bool business_etag_matches(const char *if_match, int64_t version);

/* False when an If-None-Match list names version by weak comparison (or
 * is "*"): the client's copy is current and a GET answers 304. */
bool business_etag_none_match(const char *if_none_match, int64_t version);

#endif
