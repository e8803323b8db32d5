/* geo.c — great-circle distance, circle bounds and rectangle distance bounds. */
#include "geo.h"

/* Bounds are widened by this many degrees (~0.1 mm) so rounding in the
 * trigonometry can never cut off a point lying exactly on the circle. */
#define BOUNDS_PAD_DEG 1e-9

bool geo_valid(double lat, double lng)
{
    return lat >= -90.0 && lat <= 90.0 && lng >= -180.0 && lng <= 180.0;
}

void geo_origin_init(geo_origin_t *o, double lat, double lng)
{
    o->lat = lat;
    o->lng = lng;
    o->lat_rad = lat * GEO_DEG_TO_RAD;
    o->cos_lat = cos(o->lat_rad);
}

double geo_h_of_distance(double meters)
{
    if (!(meters > 0.0))
        return 0.0;
    if (meters >= GEO_MAX_DISTANCE_M)
        return 1.0;
    double s = sin(meters / (2.0 * GEO_EARTH_RADIUS_M));
    return s * s;
}

double geo_distance_m(double lat1, double lng1, double lat2, double lng2)
{
    geo_origin_t o;
    geo_origin_init(&o, lat1, lng1);
    return geo_distance_from(&o, lat2, lng2);
}

static void bounds_all_lng(geo_bounds_t *b)
{
    b->nlng = 1;
    b->lng_lo[0] = -180.0;
    b->lng_hi[0] = 180.0;
}

void geo_circle_bounds(double lat, double lng, double radius_m, geo_bounds_t *b)
{
    double delta = radius_m / GEO_EARTH_RADIUS_M; /* angular radius, rad */
    double ddeg = delta / GEO_DEG_TO_RAD + BOUNDS_PAD_DEG;

    b->lat_lo = lat - ddeg;
    b->lat_hi = lat + ddeg;
    if (delta >= M_PI || b->lat_hi >= 90.0 || b->lat_lo <= -90.0) {
        /* A circle holding a pole reaches every meridian. */
        b->lat_lo = b->lat_lo < -90.0 ? -90.0 : b->lat_lo;
        b->lat_hi = b->lat_hi > 90.0 ? 90.0 : b->lat_hi;
        bounds_all_lng(b);
        return;
    }
    /* Widest longitude offset of a cap (tangent meridians): asin(sinδ/cosφ). */
    double s = sin(delta) / cos(lat * GEO_DEG_TO_RAD);
    if (s >= 1.0) {
        bounds_all_lng(b);
        return;
    }
    double dl = asin(s) / GEO_DEG_TO_RAD + BOUNDS_PAD_DEG;
    double lo = lng - dl, hi = lng + dl;
    if (dl >= 180.0) {
        bounds_all_lng(b);
    } else if (lo < -180.0) {
        b->nlng = 2;
        b->lng_lo[0] = lo + 360.0;
        b->lng_hi[0] = 180.0;
        b->lng_lo[1] = -180.0;
        b->lng_hi[1] = hi;
    } else if (hi > 180.0) {
        b->nlng = 2;
        b->lng_lo[0] = lo;
        b->lng_hi[0] = 180.0;
        b->lng_lo[1] = -180.0;
        b->lng_hi[1] = hi - 360.0;
    } else {
        b->nlng = 1;
        b->lng_lo[0] = lo;
        b->lng_hi[0] = hi;
    }
}

/* Angular gap in degrees from lng to the interval [lo, hi], going either
 * way round the globe; 0 inside, at most 180. */
static double lng_gap(double lng, double lo, double hi)
{
    if (lng >= lo && lng <= hi)
        return 0.0;
    double a = fmod(lo - lng + 720.0, 360.0);
    double b = fmod(lng - hi + 720.0, 360.0);
    double g = a < b ? a : b;
    return g > 180.0 ? 180.0 : g;
}

double geo_rect_min_h(const geo_origin_t *o, const geo_rect_t *r)
{
    double dlat = 0.0;
    if (o->lat < r->lat_lo)
        dlat = r->lat_lo - o->lat;
    else if (o->lat > r->lat_hi)
        dlat = o->lat - r->lat_hi;
    double dlng = lng_gap(o->lng, r->lng_lo, r->lng_hi);
    double s1 = sin(dlat * GEO_DEG_TO_RAD * 0.5);
    if (dlng == 0.0)
        return s1 * s1;
    /* Each term of h is bounded separately: |Δφ| ≥ the latitude gap,
     * cos φ ≥ its value at the rectangle edge nearer a pole, and |Δλ| ≥
     * the longitude gap; all terms are non-negative. */
    double c1 = cos(r->lat_lo * GEO_DEG_TO_RAD), c2 = cos(r->lat_hi * GEO_DEG_TO_RAD);
    double cmin = c1 < c2 ? c1 : c2;
    if (cmin < 0.0)
        cmin = 0.0;
    double s2 = sin(dlng * GEO_DEG_TO_RAD * 0.5);
    double h = s1 * s1 + o->cos_lat * cmin * s2 * s2;
    return h > 1.0 ? 1.0 : h;
}

double geo_rect_max_h(const geo_origin_t *o, const geo_rect_t *r)
{
    if (r->lng_hi - r->lng_lo > 180.0)
        return 2.0;
    /* The corner argument needs the antipodal meridian outside the
     * rectangle: then |Δλ| along a latitude edge peaks at a corner. */
    double anti = o->lng > 0.0 ? o->lng - 180.0 : o->lng + 180.0;
    if ((anti >= r->lng_lo && anti <= r->lng_hi) ||
        (anti + 360.0 >= r->lng_lo && anti + 360.0 <= r->lng_hi) ||
        (anti - 360.0 >= r->lng_lo && anti - 360.0 <= r->lng_hi))
        return 2.0;
    double m = geo_h_from(o, r->lat_lo, r->lng_lo), h;
    if ((h = geo_h_from(o, r->lat_lo, r->lng_hi)) > m)
        m = h;
    if ((h = geo_h_from(o, r->lat_hi, r->lng_lo)) > m)
        m = h;
    if ((h = geo_h_from(o, r->lat_hi, r->lng_hi)) > m)
        m = h;
    /* Meridian edges are geodesics, and a cap smaller than a hemisphere is
     * geodesically convex: with all corners inside a cap of radius < πR/2
     * the whole boundary, hence the rectangle, is inside. h = 0.5 is a
     * quarter circumference; keep well below it. */
    return m < 0.45 ? m : 2.0;
}
