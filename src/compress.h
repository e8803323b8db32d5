/* compress.h — gzip content coding for responses (zlib), and reading a
 * request's Accept-Encoding. Pure: no HTTP server state. */
#ifndef PROXIMITY_COMPRESS_H
#define PROXIMITY_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>

/* True when an Accept-Encoding value (RFC 9110 §12.5.3) allows gzip: a
 * "gzip" or "x-gzip" member, or "*" when gzip is not named, with q > 0.
 * NULL (no header) allows only identity. */
bool compress_accepts_gzip(const char *accept_encoding);

/* True for media types worth compressing: text/…, JSON, JavaScript, SVG. */
bool compress_type_worth_it(const char *content_type);

/* Gzips in[0..n) at the given zlib level (1..9). Returns a malloc'd
 * buffer (caller frees) with its length in *out_len, or NULL on failure. */
char *compress_gzip_new(const char *in, size_t n, int level, size_t *out_len);

#endif
