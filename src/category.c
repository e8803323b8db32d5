/* category.c — the category vocabulary (order = bit position: append only). */
#include "category.h"

#include <string.h>

/* Append new names at the end: a name's position is its bit in every
 * index and cursor, so reordering would silently change meanings. */
static const char *const names[] = {
    "restaurant", "cafe", "bar", "bakery", "fast_food", "pizza",
    "sushi", "grocery", "supermarket", "pharmacy", "hospital", "clinic",
    "dentist", "gym", "spa", "salon", "barber", "hotel",
    "hostel", "bank", "atm", "gas_station", "ev_charging", "parking",
    "car_repair", "car_wash", "bookstore", "clothing", "shoes", "electronics",
    "hardware", "furniture", "florist", "pet_store", "veterinarian", "laundry",
    "post_office", "library", "museum", "theater", "cinema", "park",
    "nightclub", "ice_cream", "brewery", "coworking", "school", "lawyer",
};

_Static_assert(sizeof names / sizeof names[0] <= CATEGORY_MAX, "too many categories");

size_t category_count(void)
{
    return sizeof names / sizeof names[0];
}

const char *category_name(size_t i)
{
    return i < category_count() ? names[i] : NULL;
}

int category_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < category_count(); i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return (int)i;
    return -1;
}
