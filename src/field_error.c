/* field_error.c — the validation error every input parser reports. */
#include "field_error.h"

#include <stdarg.h>
#include <stdio.h>

int field_error_set(field_error_t *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->field, sizeof err->field, "%s", field);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}
