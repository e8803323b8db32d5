/* geohash.c — geohash keys, strings, neighbours and circle coverings. */
#include "geohash.h"

#include <string.h>

static const char base32[] = "0123456789bcdefghjkmnpqrstuvwxyz";

/* Height of a cell of each geohash length at the equator, in metres
 * (1: 5000 km … 12: 1.9 cm); width is the same or double. */
static const double cell_height_m[GEOHASH_MAX_CHARS + 1] = {
    0, 4992600, 624100, 156000, 19500, 4890, 609.4, 152.4, 19.0, 4.8, 0.595, 0.149, 0.0186,
};

/* Spreads the 32 bits of x to the even bit positions of a 64-bit word. */
static uint64_t spread(uint32_t x)
{
    uint64_t v = x;
    v = (v | (v << 16)) & 0x0000FFFF0000FFFFull;
    v = (v | (v << 8)) & 0x00FF00FF00FF00FFull;
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0Full;
    v = (v | (v << 2)) & 0x3333333333333333ull;
    v = (v | (v << 1)) & 0x5555555555555555ull;
    return v;
}

/* Inverse of spread: gathers the even bits of v. */
static uint32_t compact(uint64_t v)
{
    v &= 0x5555555555555555ull;
    v = (v | (v >> 1)) & 0x3333333333333333ull;
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0Full;
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FFull;
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFFull;
    v = (v | (v >> 16)) & 0x00000000FFFFFFFFull;
    return (uint32_t)v;
}

/* floor((lat+90)/180 · 2^32) in exact integer arithmetic, so a location's
 * cell never depends on floating-point rounding; ±90 / 180 land in the
 * last cell as classic geohash does. */
static uint32_t quant_lat(int32_t lat_e7)
{
    uint64_t u = ((uint64_t)((int64_t)lat_e7 + 900000000) << 32) / 1800000000u;
    return u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
}

static uint32_t quant_lng(int32_t lng_e7)
{
    uint64_t u = ((uint64_t)((int64_t)lng_e7 + 1800000000) << 31) / 1800000000u;
    return u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
}

uint64_t geohash_key(int32_t lat_e7, int32_t lng_e7)
{
    return spread(quant_lng(lng_e7)) << 1 | spread(quant_lat(lat_e7));
}

uint64_t geohash_cell_lo(geohash_cell_t c)
{
    return c.nbits == 0 ? 0 : c.bits << (64 - c.nbits);
}

uint64_t geohash_cell_hi(geohash_cell_t c)
{
    if (c.nbits == 0)
        return UINT64_MAX;
    if (c.nbits == 64)
        return c.bits;
    return c.bits << (64 - c.nbits) | (UINT64_MAX >> c.nbits);
}

geohash_cell_t geohash_cell_of_key(uint64_t key, unsigned nbits)
{
    geohash_cell_t c = {nbits == 0 ? 0 : key >> (64 - nbits), nbits};
    return c;
}

void geohash_cell_rect(geohash_cell_t c, geo_rect_t *r)
{
    uint64_t lo = geohash_cell_lo(c);
    unsigned nlng = (c.nbits + 1) / 2, nlat = c.nbits / 2;
    uint64_t ulng = compact(lo >> 1), ulat = compact(lo);
    uint64_t slng = (uint64_t)1 << (32 - nlng), slat = (uint64_t)1 << (32 - nlat);
    /* u · 360 / 2^32 is exact in a double (u < 2^33, 360 < 2^9). */
    r->lng_lo = (double)ulng * (360.0 / 4294967296.0) - 180.0;
    r->lng_hi = (double)(ulng + slng) * (360.0 / 4294967296.0) - 180.0;
    r->lat_lo = (double)ulat * (180.0 / 4294967296.0) - 90.0;
    r->lat_hi = (double)(ulat + slat) * (180.0 / 4294967296.0) - 90.0;
}

int geohash_encode(double lat, double lng, unsigned len, char *out)
{
    if (len == 0 || len > GEOHASH_MAX_CHARS || !geo_valid(lat, lng))
        return -1;
    uint64_t key = geohash_key(geo_coord_encode(lat), geo_coord_encode(lng));
    return geohash_cell_string(geohash_cell_of_key(key, 5 * len), out);
}

int geohash_cell_string(geohash_cell_t c, char *out)
{
    if (c.nbits % 5 != 0 || c.nbits / 5 > GEOHASH_MAX_CHARS)
        return -1;
    unsigned len = c.nbits / 5;
    for (unsigned i = 0; i < len; i++)
        out[i] = base32[(c.bits >> (5 * (len - 1 - i))) & 31];
    out[len] = '\0';
    return 0;
}

int geohash_decode(const char *s, geohash_cell_t *c)
{
    size_t len = strlen(s);
    if (len == 0 || len > GEOHASH_MAX_CHARS)
        return -1;
    uint64_t bits = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        const char *p = ch ? strchr(base32, ch) : NULL;
        if (p == NULL)
            return -1;
        bits = bits << 5 | (uint64_t)(p - base32);
    }
    c->bits = bits;
    c->nbits = (unsigned)(5 * len);
    return 0;
}

/* Splits a cell into its latitude and longitude indices. */
static void cell_split(geohash_cell_t c, uint32_t *ilat, uint32_t *ilng)
{
    unsigned nlng = (c.nbits + 1) / 2, nlat = c.nbits / 2;
    uint64_t lo = geohash_cell_lo(c);
    *ilng = nlng ? compact(lo >> 1) >> (32 - nlng) : 0;
    *ilat = nlat ? compact(lo) >> (32 - nlat) : 0;
}

/* The cell of depth nbits with the given latitude and longitude indices. */
static geohash_cell_t cell_join(uint32_t ilat, uint32_t ilng, unsigned nbits)
{
    unsigned nlng = (nbits + 1) / 2, nlat = nbits / 2;
    uint32_t ulng = nlng ? (uint32_t)((uint64_t)ilng << (32 - nlng)) : 0;
    uint32_t ulat = nlat ? (uint32_t)((uint64_t)ilat << (32 - nlat)) : 0;
    return geohash_cell_of_key(spread(ulng) << 1 | spread(ulat), nbits);
}

size_t geohash_neighbours(geohash_cell_t c, geohash_cell_t out[8])
{
    static const int dlat[8] = {1, 1, 0, -1, -1, -1, 0, 1};
    static const int dlng[8] = {0, 1, 1, 1, 0, -1, -1, -1};
    unsigned nlng = (c.nbits + 1) / 2, nlat = c.nbits / 2;
    uint64_t nlat_cells = (uint64_t)1 << nlat, nlng_cells = (uint64_t)1 << nlng;
    uint32_t ilat, ilng;
    size_t n = 0;

    cell_split(c, &ilat, &ilng);
    for (int k = 0; k < 8; k++) {
        int64_t la = (int64_t)ilat + dlat[k];
        if (la < 0 || la >= (int64_t)nlat_cells)
            continue; /* beyond a pole there is no cell */
        int64_t lo = ((int64_t)ilng + dlng[k] + (int64_t)nlng_cells) % (int64_t)nlng_cells;
        geohash_cell_t nb = cell_join((uint32_t)la, (uint32_t)lo, c.nbits);
        /* Very coarse cells can be their own neighbour across the wrap. */
        int dup = nb.bits == c.bits;
        for (size_t j = 0; j < n && !dup; j++)
            dup = out[j].bits == nb.bits;
        if (!dup)
            out[n++] = nb;
    }
    return n;
}

unsigned geohash_precision_for_radius(double radius_m)
{
    unsigned len = 1;
    while (len < GEOHASH_MAX_CHARS && cell_height_m[len + 1] >= radius_m)
        len++;
    return len;
}

/* Index range [lo, hi] of the cells of 2^bits per axis covering the
 * coordinate interval [a, b] of an axis spanning [min, min+span]. */
static void axis_range(double a, double b, double min, double span, unsigned bits,
                       uint32_t *lo, uint32_t *hi)
{
    double cells = (double)((uint64_t)1 << bits);
    double fa = (a - min) / span * cells, fb = (b - min) / span * cells;
    double max = cells - 1;
    fa = fa < 0 ? 0 : fa > max ? max : fa;
    fb = fb < 0 ? 0 : fb > max ? max : fb;
    *lo = (uint32_t)fa;
    *hi = (uint32_t)fb;
}

size_t geohash_cover(double lat, double lng, double radius_m, geohash_cell_t *out, size_t max)
{
    geo_bounds_t b;
    geo_circle_bounds(lat, lng, radius_m, &b);
    for (unsigned len = geohash_precision_for_radius(radius_m);; len--) {
        unsigned nbits = 5 * len, nlng = (nbits + 1) / 2, nlat = nbits / 2;
        uint32_t la0, la1, lo0[2], lo1[2];
        size_t count = 0;

        /* Floating index ranges may be off by one at an edge; widening by
         * one cell each way keeps the covering conservative. */
        axis_range(b.lat_lo, b.lat_hi, -90.0, 180.0, nlat, &la0, &la1);
        if (la0 > 0)
            la0--;
        if (la1 < ((uint64_t)1 << nlat) - 1)
            la1++;
        for (int k = 0; k < b.nlng; k++) {
            axis_range(b.lng_lo[k], b.lng_hi[k], -180.0, 360.0, nlng, &lo0[k], &lo1[k]);
            if (lo0[k] > 0)
                lo0[k]--;
            if (lo1[k] < ((uint64_t)1 << nlng) - 1)
                lo1[k]++;
            count += (size_t)(lo1[k] - lo0[k] + 1);
        }
        if (b.nlng == 2 && lo0[1] <= lo1[0] && lo1[1] >= lo0[0]) {
            /* The widened ranges overlap after wrapping: use one range. */
            b.nlng = 1;
            lo0[0] = 0;
            lo1[0] = (uint32_t)(((uint64_t)1 << nlng) - 1);
            count = (size_t)lo1[0] + 1;
        }
        count *= (size_t)(la1 - la0 + 1);
        if (count > max && len > 1)
            continue;
        size_t n = 0;
        for (uint32_t ia = la0; ia <= la1 && n < max; ia++)
            for (int k = 0; k < b.nlng; k++)
                for (uint64_t io = lo0[k]; io <= lo1[k] && n < max; io++)
                    out[n++] = cell_join(ia, (uint32_t)io, nbits);
        return n;
    }
}
