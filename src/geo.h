/* geo.h — great-circle geometry on the reference sphere and the 1e-7 degree
 * fixed-point coordinates the database snaps every location to. */
#ifndef PROXIMITY_GEO_H
#define PROXIMITY_GEO_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Mean earth radius (IUGG R1), the sphere PostGIS geography uses with
 * use_spheroid = false; every distance in the service is on this sphere. */
#define GEO_EARTH_RADIUS_M 6371008.8
#define GEO_DEG_TO_RAD (M_PI / 180.0)
/* Half the circumference: no two points on the sphere are farther apart. */
#define GEO_MAX_DISTANCE_M (M_PI * GEO_EARTH_RADIUS_M)

/* A latitude/longitude rectangle in degrees; lng_lo <= lng_hi always (a
 * rectangle crossing ±180 is represented as two rectangles). */
typedef struct {
    double lat_lo, lat_hi, lng_lo, lng_hi;
} geo_rect_t;

/* The region a circle can touch: a latitude band and one or two longitude
 * ranges (two when it crosses ±180, one [-180,180] when it holds a pole). */
typedef struct {
    double lat_lo, lat_hi;
    int nlng;
    double lng_lo[2], lng_hi[2];
} geo_bounds_t;

/* A query origin with its trigonometry computed once for many distances. */
typedef struct {
    double lat, lng;     /* degrees */
    double lat_rad;      /* lat * GEO_DEG_TO_RAD */
    double cos_lat;
} geo_origin_t;

/* Fixed point of a coordinate in degrees: lrint(deg / 1e-7), exactly what
 * ST_SnapToGrid(geom, 1e-7) rounds to. The caller checks the range. */
static inline int32_t geo_coord_encode(double deg)
{
    return (int32_t)lrint(deg / 1e-7);
}

/* Degrees of a fixed-point coordinate, bit-identical to PostGIS's snapped
 * double (rint(x / 1e-7) * 1e-7). */
static inline double geo_coord_decode(int32_t k)
{
    return (double)k * 1e-7;
}

/* True if lat is in [-90,90] and lng in [-180,180] (and neither is NaN). */
bool geo_valid(double lat, double lng);

/* Fills o for distances from (lat, lng). */
void geo_origin_init(geo_origin_t *o, double lat, double lng);

/* The haversine term h = sin²(Δφ/2) + cosφ1·cosφ2·sin²(Δλ/2) in [0,1]:
 * monotone in distance, so comparisons can skip the asin. */
static inline double geo_h_from(const geo_origin_t *o, double lat, double lng)
{
    double dlng = lng - o->lng;
    /* Normalising Δλ first keeps points a hair apart across ±180 exact
     * instead of relying on sin(π - ε) cancellation. */
    if (dlng > 180.0)
        dlng -= 360.0;
    else if (dlng < -180.0)
        dlng += 360.0;
    double lat_rad = lat * GEO_DEG_TO_RAD;
    double sdlat = sin((lat_rad - o->lat_rad) * 0.5);
    double sdlng = sin(dlng * GEO_DEG_TO_RAD * 0.5);
    double h = sdlat * sdlat + o->cos_lat * cos(lat_rad) * sdlng * sdlng;
    return h < 0.0 ? 0.0 : h > 1.0 ? 1.0 : h;
}

/* Distance in metres for a haversine term; asin(sqrt(h)) stays accurate for
 * tiny distances and h is clamped so antipodes give exactly π·R. */
static inline double geo_distance_of_h(double h)
{
    return 2.0 * GEO_EARTH_RADIUS_M * asin(sqrt(h));
}

/* Haversine term of a distance in metres (clamped to [0, π·R]). */
double geo_h_of_distance(double meters);

/* Great-circle distance in metres from o to (lat, lng). */
static inline double geo_distance_from(const geo_origin_t *o, double lat, double lng)
{
    return geo_distance_of_h(geo_h_from(o, lat, lng));
}

/* Great-circle distance in metres; symmetric and bit-identical to
 * geo_distance_from with an origin at (lat1, lng1). */
double geo_distance_m(double lat1, double lng1, double lat2, double lng2);

/* The region a circle of radius_m around (lat, lng) can touch, widened by
 * a hair so a point on the circle is never left out. */
void geo_circle_bounds(double lat, double lng, double radius_m, geo_bounds_t *b);

/* A lower bound of h over every point of r (0 if o lies inside r). */
double geo_rect_min_h(const geo_origin_t *o, const geo_rect_t *r);

/* An upper bound of h over every point of r, or 2.0 (more than any h) when
 * r is too large or too far for the corner argument to hold. */
double geo_rect_max_h(const geo_origin_t *o, const geo_rect_t *r);

#endif
