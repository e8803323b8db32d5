/* idempotency.h — Idempotency-Key rows in PostgreSQL (sql/0005): claim a
 * key inside the transaction that does the write, store the response with
 * it, or find the response of an earlier attempt. */
#ifndef PROXIMITY_IDEMPOTENCY_H
#define PROXIMITY_IDEMPOTENCY_H

#include <jansson.h>
#include <stddef.h>

#include "store.h"

typedef enum {
    IDEM_NEW,      /* claimed: do the write, then idempotency_save, commit */
    IDEM_REPLAY,   /* an earlier attempt's response is in *stored */
    IDEM_MISMATCH, /* the key was used with another request */
    IDEM_ERROR,    /* see err */
} idempotency_result_t;

typedef struct idempotency_stored {
    int status;
    json_t *headers; /* {"Name":"value",…}, owned */
    char *body;      /* owned */
} idempotency_stored_t;

/* Validates a header value (an sf-string "…" or a bare token of printable
 * ASCII, 1..255 bytes) into key (256 bytes). Returns 0 or -1. */
int idempotency_key_parse(const char *header, char *key);

/* The hex SHA-256 (65 bytes) of method, path and body. */
void idempotency_fingerprint(const char *method, const char *path, const char *body, size_t len,
                             char *hex);

/* Inside c's transaction: claims (principal, key) for ttl_s seconds, or
 * reads the earlier attempt (after waiting for a concurrent one to
 * finish). On anything but IDEM_NEW the caller rolls back. */
idempotency_result_t idempotency_claim(store_conn_t *c, const char *principal, const char *key,
                                       const char *fingerprint, int ttl_s, idempotency_stored_t *stored,
                                       store_error_t *err);

/* Stores the response of the claimed key in c's transaction. headers is
 * borrowed. Returns 0 or -1. */
int idempotency_save(store_conn_t *c, const char *principal, const char *key, int status,
                     const json_t *headers, const char *body, store_error_t *err);

void idempotency_stored_clear(idempotency_stored_t *s);

#endif
