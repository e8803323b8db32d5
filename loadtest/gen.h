/* gen.h — deterministic business locations and queries placed around real cities. */
#ifndef PROXIMITY_GEN_H
#define PROXIMITY_GEN_H

#include <stddef.h>
#include <stdint.h>

/* A generator: the cities table plus one xoshiro256** stream. Output is a
 * pure function of (cities file, seed): no rand(), no clock, no libm
 * transcendental on the output path, so every machine agrees. One
 * generator per thread; it is not locked. */
typedef struct gen gen_t;

/* Loads cities_path (TSV: lat, lng, population, name, country_code
 * [, region]) and seeds the stream. Returns an owned generator, or NULL
 * with a message in err[errlen] when the file is unreadable or bad. */
gen_t *gen_new(const char *cities_path, uint64_t seed, char *err, size_t errlen);

/* Frees g and the cities it holds; NULL is a no-op. */
void gen_free(gen_t *g);

/* Business location: a city drawn with probability proportional to its
 * population, plus a few km of scatter growing with city size; snapped to
 * the 1e-7 degree grid, lat clamped to [-90,90], lng wrapped to [-180,180]. */
void gen_point(gen_t *g, double *lat, double *lng);

/* The same draw as gen_point, as exact grid units (degrees * 1e7). */
void gen_point_e7(gen_t *g, int32_t *lat_e7, int32_t *lng_e7);

/* A query: a point drawn like gen_point (people search where people are)
 * and a radius in metres from the mix 500 m 30%, 1 km 30%, 2 km 20%,
 * 5 km 15%, 20 km 5%. */
void gen_query(gen_t *g, double *lat, double *lng, double *radius_m);

/* Uniform double in [0,1) with 53 random bits. */
double gen_uniform(gen_t *g);

/* Next raw 64-bit output of the xoshiro256** stream. */
uint64_t gen_next(gen_t *g);

/* Unbiased uniform integer in [0,n); returns 0 when n is 0. */
uint64_t gen_range(gen_t *g, uint64_t n);

/* Number of cities loaded (> 0 for any generator gen_new returned). */
size_t gen_city_count(const gen_t *g);

/* Name, ISO 3166-1 alpha-2 country code (uppercase) and region (NULL when
 * the file has none) of the city behind the last gen_point / gen_query;
 * the first city before any draw. Storage is owned by g. */
const char *gen_city_name(const gen_t *g);
const char *gen_city_country(const gen_t *g);
const char *gen_city_region(const gen_t *g);

#endif
