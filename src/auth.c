/* auth.c — bearer tokens for writes: the verifier built from the
 * configured keys, the Authorization header, 401 answers (RFC 6750). */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "jwt.h"
#include "log.h"
#include "xalloc.h"

/* Public key files are a few KB; a secret file a line. */
#define AUTH_MAX_FILE (64 * 1024)

struct auth {
    bool off;
    jwt_verifier_t *verifier; /* NULL: jwt mode without a key */
    int leeway_s;
};

/* Reads a whole small file into a new string; NULL with err set. */
static char *read_file(const char *path, const char *what, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open the %s file %s", what, path);
        return NULL;
    }
    char *buf = xmalloc(AUTH_MAX_FILE + 1);
    size_t n = fread(buf, 1, AUTH_MAX_FILE + 1, f);
    fclose(f);
    if (n > AUTH_MAX_FILE) {
        snprintf(err, errlen, "the %s file %s is larger than %d bytes", what, path, AUTH_MAX_FILE);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

auth_t *auth_new(const config_t *cfg, char *err, size_t errlen)
{
    auth_t *a = xcalloc(1, sizeof *a);
    char *secret = NULL, *pem = NULL;
    size_t secret_len = 0, pem_len = 0;

    a->leeway_s = cfg->jwt_leeway_s;
    if (strcmp(cfg->auth, "off") == 0) {
        a->off = true;
        return a;
    }
    if (strcmp(cfg->auth, "jwt") != 0) {
        snprintf(err, errlen, "--auth must be jwt or off, not \"%s\"", cfg->auth);
        goto fail;
    }
    if (cfg->jwt_secret[0] != '\0' && cfg->jwt_secret_file[0] != '\0') {
        snprintf(err, errlen, "give PROXIMITY_JWT_SECRET or PROXIMITY_JWT_SECRET_FILE, not both");
        goto fail;
    }
    if (cfg->jwt_secret_file[0] != '\0') {
        secret = read_file(cfg->jwt_secret_file, "JWT secret", &secret_len, err, errlen);
        if (secret == NULL)
            goto fail;
        while (secret_len > 0 && (secret[secret_len - 1] == '\n' || secret[secret_len - 1] == '\r'))
            secret[--secret_len] = '\0';
    } else if (cfg->jwt_secret[0] != '\0') {
        secret = xstrdup(cfg->jwt_secret);
        secret_len = strlen(secret);
    }
    if (cfg->jwt_public_key_file[0] != '\0') {
        pem = read_file(cfg->jwt_public_key_file, "JWT public key", &pem_len, err, errlen);
        if (pem == NULL)
            goto fail;
    }
    if (secret != NULL || pem != NULL) {
        a->verifier = jwt_verifier_new((const unsigned char *)secret, secret_len, pem, cfg->jwt_admin_role,
                                       err, errlen);
        if (a->verifier == NULL)
            goto fail;
        jwt_verifier_expect(a->verifier, cfg->jwt_issuer, cfg->jwt_audience);
    }
    if (secret != NULL) {
        memset(secret, 0, secret_len);
        free(secret);
    }
    free(pem);
    return a;
fail:
    if (secret != NULL) {
        memset(secret, 0, secret_len);
        free(secret);
    }
    free(pem);
    free(a);
    return NULL;
}

void auth_free(auth_t *a)
{
    if (a == NULL)
        return;
    jwt_verifier_free(a->verifier);
    free(a);
}

const char *auth_describe(const auth_t *a)
{
    return a->off ? "off" : a->verifier ? "jwt" : "jwt-without-key";
}

static bool unauthorized(http_request_t *req, bool bad_token, const char *why)
{
    http_add_header(req, "WWW-Authenticate",
                    bad_token ? "Bearer realm=\"proximity\", error=\"invalid_token\""
                              : "Bearer realm=\"proximity\"");
    http_respond_error(req, 401, "UNAUTHORIZED", NULL, "%s", why);
    return false;
}

bool auth_authenticate(const auth_t *a, http_request_t *req, auth_identity_t *id)
{
    char why[256];
    jwt_claims_t claims;

    memset(id, 0, sizeof *id);
    if (a->off) {
        snprintf(id->owner, sizeof id->owner, "anonymous");
        id->admin = true; /* no identities: everyone may edit everything, as before auth */
        return true;
    }
    if (a->verifier == NULL)
        return unauthorized(req, false,
                            "writes need a bearer token, and this server has no JWT key configured "
                            "(PROXIMITY_JWT_SECRET or PROXIMITY_JWT_PUBLIC_KEY_FILE)");
    const char *h = http_header(req, "Authorization");
    if (h == NULL)
        return unauthorized(req, false, "writes need Authorization: Bearer <JWT>");
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return unauthorized(req, true, "the Authorization scheme must be Bearer");
    h += 7;
    while (*h == ' ')
        h++;
    if (jwt_verify(a->verifier, h, time(NULL), a->leeway_s, &claims, why, sizeof why) != 0)
        return unauthorized(req, true, why);
    memcpy(id->owner, claims.sub, sizeof id->owner);
    id->admin = claims.admin;
    return true;
}

bool auth_may_modify(const auth_identity_t *id, const char *owner)
{
    return id->admin || strcmp(id->owner, owner) == 0;
}
