/* geohash.h — geohash cells: integer keys, base32 strings, neighbours and the
 * covering of a circle. Latitudes all the way to ±90 are valid. */
#ifndef PROXIMITY_GEOHASH_H
#define PROXIMITY_GEOHASH_H

#include <stddef.h>
#include <stdint.h>

#include "geo.h"

/* Longest base32 geohash (60 bits); the integer key carries 64. */
#define GEOHASH_MAX_CHARS 12
#define GEOHASH_KEY_BITS 64

/* A cell: its first nbits bits (right-aligned in bits), nbits in [0, 64].
 * Bit order is the classic one: longitude first, then alternating. */
typedef struct {
    uint64_t bits;
    unsigned nbits;
} geohash_cell_t;

/* 64-bit interleaved key of a fixed-point location (geo_coord_encode
 * units): the classic geohash bisection carried to 32 bits per axis, so
 * keys sort along the geohash Z-curve and a cell is a contiguous range. */
uint64_t geohash_key(int32_t lat_e7, int32_t lng_e7);

/* Smallest key inside cell c. */
uint64_t geohash_cell_lo(geohash_cell_t c);

/* Largest key inside cell c (inclusive, so the last cell does not overflow). */
uint64_t geohash_cell_hi(geohash_cell_t c);

/* The cell of depth nbits holding key. */
geohash_cell_t geohash_cell_of_key(uint64_t key, unsigned nbits);

/* The rectangle (degrees) that cell c covers; every location whose key
 * lies in c lies inside it. */
void geohash_cell_rect(geohash_cell_t c, geo_rect_t *r);

/* Writes the len-character geohash of (lat, lng) (quantised to 1e-7°) and a
 * NUL to out[len+1]. Returns 0, or -1 if len is 0 or > 12 or the location
 * is invalid. */
int geohash_encode(double lat, double lng, unsigned len, char *out);

/* Parses a base32 geohash into a cell. Returns 0, or -1 on an empty,
 * too long or non-geohash string. */
int geohash_decode(const char *s, geohash_cell_t *c);

/* Up to 8 neighbouring cells of c of the same size (N, NE, E, SE, S, SW,
 * W, NW order, skipping those beyond a pole; longitude wraps at ±180).
 * Returns how many were written to out. */
size_t geohash_neighbours(geohash_cell_t c, geohash_cell_t out[8]);

/* Writes the base32 string of a cell whose nbits is a multiple of 5 to
 * out (nbits/5 + 1 bytes). Returns 0, or -1 otherwise. */
int geohash_cell_string(geohash_cell_t c, char *out);

/* Geohash length whose cells are at least radius_m tall and wide at the
 * equator (the classic length → cell size table), in [1, 12]. */
unsigned geohash_precision_for_radius(double radius_m);

/* Cells, all of one precision, that together cover the circle of radius_m
 * around (lat, lng): starts from geohash_precision_for_radius and coarsens
 * until the covering needs at most max cells (max >= 32). Returns the
 * number written to out. */
size_t geohash_cover(double lat, double lng, double radius_m, geohash_cell_t *out, size_t max);

#endif
