/* category.h — the fixed category vocabulary and its 64-bit set encoding. */
#ifndef PROXIMITY_CATEGORY_H
#define PROXIMITY_CATEGORY_H

#include <stddef.h>
#include <stdint.h>

/* A set of categories as a bit mask: bit i = category_name(i). The index
 * stores this instead of strings, so a filter is one AND. The same list
 * is enforced by the database (sql/0002_categories.sql); a test checks
 * that the two agree. */
typedef uint64_t category_set_t;

#define CATEGORY_MAX 64

/* Number of categories in the vocabulary (<= CATEGORY_MAX). */
size_t category_count(void);

/* Name of category i, or NULL when i is out of range. Static storage. */
const char *category_name(size_t i);

/* Bit index of the category called name[0..len), or -1 if unknown. */
int category_lookup(const char *name, size_t len);

#endif
