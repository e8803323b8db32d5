/* field_error.h — why a client's input was refused: the field and a sentence. */
#ifndef PROXIMITY_FIELD_ERROR_H
#define PROXIMITY_FIELD_ERROR_H

typedef struct field_error {
    char field[64];    /* JSON path or parameter name; "" when not one field */
    char message[256];
} field_error_t;

/* Fills err; returns -1 so validators can `return field_error_set(…)`. */
int field_error_set(field_error_t *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
