/* field_error.h — error reports: why a client's input was refused (the field
 * and a sentence), and plain message buffers. */
#ifndef PROXIMITY_FIELD_ERROR_H
#define PROXIMITY_FIELD_ERROR_H

#include <stddef.h>

typedef struct field_error {
    char field[64];    /* JSON path or parameter name; "" when not one field */
    char message[256];
} field_error_t;

/* Fills err; returns -1 so validators can `return field_error_set(…)`. */
int field_error_set(field_error_t *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats a one-line message into err[0..errlen) (trailing newlines, as
 * libpq ends its messages, removed; NULL/0 allowed); returns -1. */
int errbuf_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
