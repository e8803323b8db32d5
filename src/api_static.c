/* api_static.c — the demo page: static files from PROXIMITY_WEB_ROOT at
 * /, /demo and /static/{file}, with weak ETags and revalidation. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "xalloc.h"

#ifndef PROXIMITY_WEBDIR
#define PROXIMITY_WEBDIR "/usr/local/share/proximity/web"
#endif

/* Larger than anything shipped (Leaflet is 150 KB); a bound on reads. */
#define STATIC_MAX_BYTES (4L << 20)

static char default_root[4096];
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

/* The installed tree when it has the page, else the source tree the
 * binary was built from (running from a build directory). */
static void find_default_root(void)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/index.html", PROXIMITY_WEBDIR);
    if (access(probe, R_OK) == 0)
        snprintf(default_root, sizeof default_root, "%s", PROXIMITY_WEBDIR);
    else
        snprintf(default_root, sizeof default_root, "%s/web", PROXIMITY_SRCDIR);
}

static const char *web_root(const app_t *app)
{
    if (app->cfg->web_root != NULL && app->cfg->web_root[0] != '\0')
        return app->cfg->web_root;
    pthread_once(&default_once, find_default_root);
    return default_root;
}

/* The media type by extension; NULL for files we do not serve. */
static const char *media_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},   {".txt", "text/plain; charset=utf-8"},
        {NULL, NULL},
    };
    const char *dot = strrchr(name, '.');
    for (int i = 0; dot && types[i].ext; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* A plain file name: no directories, no dot files, nothing to escape. */
static bool name_ok(const char *name)
{
    if (name[0] == '\0' || name[0] == '.' || strlen(name) > 100)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return true;
}

/* If-None-Match against our weak tag: weak comparison (W/ ignored on
 * both sides), lists and "*" (RFC 9110 §13.1.2). */
static bool none_match_hit(const char *inm, const char *etag)
{
    const char *mine = etag + 2; /* past W/ */
    size_t mlen = strlen(mine);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        size_t n = strcspn(p, ", \t");
        if (n == mlen && memcmp(p, mine, n) == 0)
            return true;
        p += n;
    }
    return false;
}

static void serve(http_request_t *req, app_t *app, const char *name)
{
    char path[4300];
    const char *type = media_type(name);
    if (type == NULL) {
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no such file");
        return;
    }
    snprintf(path, sizeof path, "%s/%s", web_root(app), name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES) {
        if (fd >= 0)
            close(fd);
        http_respond_error(req, 404, "NOT_FOUND", NULL, "no such file");
        return;
    }
    /* Weak: the same bytes may go out gzip-encoded or not. */
    char etag[64];
    snprintf(etag, sizeof etag, "W/\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtime);
    http_add_header(req, "ETag", etag);
    http_add_header(req, "Cache-Control", "no-cache");
    const char *inm = http_header(req, "If-None-Match");
    if (inm != NULL && none_match_hit(inm, etag)) {
        close(fd);
        http_respond_raw(req, 304, NULL, "", 0);
        return;
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *body = xmalloc(len + 1);
    while (got < len) {
        ssize_t n = read(fd, body + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != len) {
        free(body);
        http_respond_error(req, 500, "INTERNAL", NULL, "could not read the file");
        return;
    }
    http_respond_owned(req, 200, type, body, len);
}

void api_static_index(http_request_t *req, void *ctx)
{
    serve(req, ctx, "index.html");
}

void api_static_file(http_request_t *req, void *ctx)
{
    if (!name_ok(req->params[0])) {
        http_respond_error(req, 400, "VALIDATION_ERROR", "file", "not a file name");
        return;
    }
    serve(req, ctx, req->params[0]);
}
