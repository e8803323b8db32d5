/* idempotency.c — the SQL of Idempotency-Key: the key row is inserted in
 * the write's own transaction (ON CONFLICT DO NOTHING waits for a
 * concurrent holder of the key), so at most one create commits per key. */
#include "idempotency.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

int idempotency_key_parse(const char *header, char *key)
{
    size_t n = strlen(header);
    if (n >= 2 && header[0] == '"' && header[n - 1] == '"') { /* sf-string */
        header++;
        n -= 2;
    }
    if (n == 0 || n > 255)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (header[i] < 0x20 || header[i] > 0x7e || header[i] == '"' || header[i] == '\\')
            return -1;
    memcpy(key, header, n);
    key[n] = '\0';
    return 0;
}

void idempotency_fingerprint(const char *method, const char *path, const char *body, size_t len,
                             char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        abort(); /* out of memory: the program's policy (xalloc) */
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, method, strlen(method) + 1); /* with the NUL: a separator */
    EVP_DigestUpdate(ctx, path, strlen(path) + 1);
    EVP_DigestUpdate(ctx, body ? body : "", len);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

idempotency_result_t idempotency_claim(store_conn_t *c, const char *principal, const char *key,
                                       const char *fingerprint, int ttl_s, idempotency_stored_t *stored,
                                       store_error_t *err)
{
    char ttl[16];
    const char *p[4] = {principal, key, fingerprint, ttl};
    PGresult *r = NULL;

    memset(stored, 0, sizeof *stored);
    snprintf(ttl, sizeof ttl, "%d", ttl_s);
    /* Now and then, clear out a batch of expired keys of anyone. */
    if (rand() % 64 == 0) {
        if (store_exec(c, "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys "
                          "WHERE expires_at < now() LIMIT 1000)", 0, NULL, &r, err) != 0)
            return IDEM_ERROR;
        PQclear(r);
    }
    if (store_exec(c, "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND expires_at < now()",
                   2, p, &r, err) != 0)
        return IDEM_ERROR;
    PQclear(r);
    if (store_exec(c, "INSERT INTO idempotency_keys (principal, key, fingerprint, expires_at) "
                      "VALUES ($1, $2, $3, now() + $4::int * interval '1 second') "
                      "ON CONFLICT DO NOTHING RETURNING 1", 4, p, &r, err) != 0)
        return IDEM_ERROR;
    int claimed = PQntuples(r);
    PQclear(r);
    if (claimed == 1)
        return IDEM_NEW;
    if (store_exec(c, "SELECT fingerprint, status, headers::text, body FROM idempotency_keys "
                      "WHERE principal = $1 AND key = $2", 2, p, &r, err) != 0)
        return IDEM_ERROR;
    if (PQntuples(r) != 1) { /* expired and deleted in between: rare; the client retries */
        PQclear(r);
        err->kind = STORE_ERR_QUERY;
        snprintf(err->sqlstate, sizeof err->sqlstate, "40001");
        snprintf(err->message, sizeof err->message, "idempotency key vanished during the request");
        return IDEM_ERROR;
    }
    idempotency_result_t res = IDEM_REPLAY;
    if (strcmp(PQgetvalue(r, 0, 0), fingerprint) != 0) {
        res = IDEM_MISMATCH;
    } else {
        stored->status = atoi(PQgetvalue(r, 0, 1));
        stored->headers = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
        stored->body = xstrdup(PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return res;
}

int idempotency_save(store_conn_t *c, const char *principal, const char *key, int status,
                     const json_t *headers, const char *body, store_error_t *err)
{
    char st[16];
    char *h = json_dumps(headers, JSON_COMPACT);
    const char *p[5] = {principal, key, st, h ? h : "{}", body};
    PGresult *r = NULL;

    snprintf(st, sizeof st, "%d", status);
    int rc = store_exec(c, "UPDATE idempotency_keys SET status = $3::smallint, headers = $4::jsonb, body = $5 "
                           "WHERE principal = $1 AND key = $2", 5, p, &r, err);
    free(h);
    PQclear(r);
    return rc;
}

void idempotency_stored_clear(idempotency_stored_t *s)
{
    json_decref(s->headers);
    free(s->body);
    memset(s, 0, sizeof *s);
}
