/* gen.c — deterministic business locations and queries placed around real cities. */
#include "gen.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* A compiler that fuses a*b+c into one FMA rounds once instead of twice,
 * so the same seed would give other points on arm64 than on x86-64.
 * Keep every multiply and add separately rounded. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Metres per degree of latitude on the service's sphere (DESIGN §3). */
#define GEN_M_PER_DEG (6371008.8 * 3.14159265358979323846 / 180.0)

/* Scatter sigma = 100 m * population^(1/4): ~560 m for a village of 1,000,
 * ~3.2 km for a city of a million; clamped so that hamlets still spread
 * and megacities stay "a few km". */
#define GEN_SIGMA_PER_POP4 100.0
#define GEN_SIGMA_MIN_M 500.0
#define GEN_SIGMA_MAX_M 8000.0

/* Below this cos(lat) a metre east is so many degrees that the scatter
 * would wrap the globe; real cities stop near 78°N anyway. */
#define GEN_COS_MIN 0.01

#define GEN_E7_LAT_MAX 900000000LL
#define GEN_E7_LNG_MAX 1800000000LL

struct city {
    double lat, lng;          /* degrees */
    double sig_lat, sig_lng;  /* scatter sigma in degrees */
    const char *name;
    const char *region;       /* NULL when absent */
    char country[3];
};

struct gen {
    uint64_t s[4];      /* xoshiro256** state */
    struct city *cities;
    uint64_t *cum;      /* cum[i] = population of cities 0..i */
    size_t ncities;
    size_t last;        /* city behind the last point */
    char *text;         /* the file, cut in place; names point into it */
};

/* ---- random stream ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t gen_next(gen_t *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double gen_uniform(gen_t *g)
{
    return (double)(gen_next(g) >> 11) * 0x1.0p-53;
}

uint64_t gen_range(gen_t *g, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased, one draw nearly always. */
    uint64_t x = gen_next(g);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t lo = (uint64_t)m;

    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            x = gen_next(g);
            m = (__uint128_t)x * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* Standard normal approximated by the Irwin–Hall sum of 12 uniforms − 6.
 * Integer sum, one conversion: bit-exact everywhere, unlike log/cos in
 * Box–Muller, and the tails stop at 6 sigma so no business lands in the
 * sea 50 km away. */
static double gen_normal(gen_t *g)
{
    uint64_t sum = 0;
    for (int i = 0; i < 12; i++)
        sum += gen_next(g) >> 11;
    return (double)sum * 0x1.0p-53 - 6.0;
}

/* ---- cities ----------------------------------------------------------- */

/* cos of a latitude by its Taylor series in a fixed order: libm's cos may
 * differ in the last bit between C libraries, this may not. */
static double cos_deg(double deg)
{
    double x = deg * (3.14159265358979323846 / 180.0);
    double x2 = x * x, term = 1.0, sum = 1.0;

    for (int n = 1; n <= 11; n++) {
        term = -term * x2 / (double)((2 * n - 1) * (2 * n));
        sum += term;
    }
    return sum;
}

static void city_scatter(struct city *c, uint64_t pop)
{
    double s = GEN_SIGMA_PER_POP4 * sqrt(sqrt((double)pop));
    double cl = cos_deg(c->lat);

    if (s < GEN_SIGMA_MIN_M)
        s = GEN_SIGMA_MIN_M;
    if (s > GEN_SIGMA_MAX_M)
        s = GEN_SIGMA_MAX_M;
    if (cl < GEN_COS_MIN)
        cl = GEN_COS_MIN;
    c->sig_lat = s / GEN_M_PER_DEG;
    c->sig_lng = s / (GEN_M_PER_DEG * cl);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 1 << 20, n = 0;
    char *buf;

    if (f == NULL) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        cap *= 2;
        buf = xrealloc(buf, cap + 1);
    }
    if (ferror(f)) {
        seterr(err, errlen, "%s: read error", path);
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

/* Parses one line cut into fields; returns NULL or what is wrong with it. */
static const char *parse_city(char **f, int nf, struct city *c, uint64_t *pop)
{
    char *end;
    unsigned long long p;

    if (nf != 5 && nf != 6)
        return "expected 5 or 6 tab-separated fields";
    if (!parse_double(f[0], -90.0, 90.0, &c->lat))
        return "bad latitude";
    if (!parse_double(f[1], -180.0, 180.0, &c->lng))
        return "bad longitude";
    errno = 0;
    p = strtoull(f[2], &end, 10);
    if (end == f[2] || *end != '\0' || errno != 0 || f[2][0] == '-' || p == 0 ||
        p > UINT32_MAX)
        return "bad population";
    if (f[3][0] == '\0')
        return "empty name";
    for (int i = 0; i < 2; i++) {
        char ch = f[4][i];
        if (ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        if (ch < 'A' || ch > 'Z')
            return "country is not a two-letter code";
        c->country[i] = ch;
    }
    if (f[4][2] != '\0')
        return "country is not a two-letter code";
    c->country[2] = '\0';
    c->name = f[3];
    c->region = (nf == 6 && f[5][0] != '\0') ? f[5] : NULL;
    *pop = p;
    return NULL;
}

static int load_cities(gen_t *g, const char *path, char *err, size_t errlen)
{
    size_t len, cap = 1024, lineno = 0;
    char *p, *eof;

    g->text = read_file(path, &len, err, errlen);
    if (g->text == NULL)
        return -1;
    g->cities = xmalloc(cap * sizeof *g->cities);
    g->cum = xmalloc(cap * sizeof *g->cum);
    eof = g->text + len;
    for (p = g->text; p < eof;) {
        char *nl = memchr(p, '\n', (size_t)(eof - p));
        char *line = p, *f[6];
        int nf = 0;
        struct city c;
        uint64_t pop;
        const char *why;

        if (nl == NULL)
            nl = eof;
        *nl = '\0';
        p = nl + 1;
        lineno++;
        if (nl > line && nl[-1] == '\r')
            nl[-1] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        for (char *q = line;; q++) {
            if (*q == '\t' || *q == '\0') {
                bool last = *q == '\0';
                if (nf < 6)
                    f[nf] = line;
                nf++;
                *q = '\0';
                line = q + 1;
                if (last)
                    break;
            }
        }
        why = parse_city(f, nf, &c, &pop);
        if (why != NULL) {
            seterr(err, errlen, "%s:%zu: %s", path, lineno, why);
            return -1;
        }
        city_scatter(&c, pop);
        if (g->ncities == cap) {
            cap *= 2;
            g->cities = xrealloc(g->cities, cap * sizeof *g->cities);
            g->cum = xrealloc(g->cum, cap * sizeof *g->cum);
        }
        g->cum[g->ncities] = (g->ncities ? g->cum[g->ncities - 1] : 0) + pop;
        g->cities[g->ncities++] = c;
    }
    if (g->ncities == 0) {
        seterr(err, errlen, "%s: no cities", path);
        return -1;
    }
    return 0;
}

gen_t *gen_new(const char *cities_path, uint64_t seed, char *err, size_t errlen)
{
    gen_t *g = xcalloc(1, sizeof *g);
    uint64_t x = seed;

    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
    if (load_cities(g, cities_path, err, errlen) < 0)
        goto fail;
    return g;
fail:
    gen_free(g);
    return NULL;
}

void gen_free(gen_t *g)
{
    if (g == NULL)
        return;
    free(g->cities);
    free(g->cum);
    free(g->text);
    free(g);
}

/* ---- points and queries ----------------------------------------------- */

/* Population-weighted pick: the first city whose cumulative population
 * exceeds a uniform draw. Integer sums keep it exact; 17 steps for 112k. */
static size_t pick_city(gen_t *g)
{
    uint64_t r = gen_range(g, g->cum[g->ncities - 1]);
    size_t lo = 0, hi = g->ncities - 1;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->cum[mid] > r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void gen_point_e7(gen_t *g, int32_t *lat_e7, int32_t *lng_e7)
{
    const struct city *c;
    double lat, lng;
    long long klat, klng;

    g->last = pick_city(g);
    c = &g->cities[g->last];
    lat = c->lat + gen_normal(g) * c->sig_lat;
    lng = c->lng + gen_normal(g) * c->sig_lng;
    klat = llrint(lat / 1e-7);
    klng = llrint(lng / 1e-7);
    if (klat > GEN_E7_LAT_MAX)
        klat = GEN_E7_LAT_MAX;
    if (klat < -GEN_E7_LAT_MAX)
        klat = -GEN_E7_LAT_MAX;
    /* |scatter| <= 6 sigma < 50 degrees of longitude, so one turn suffices. */
    if (klng > GEN_E7_LNG_MAX)
        klng -= 2 * GEN_E7_LNG_MAX;
    if (klng < -GEN_E7_LNG_MAX)
        klng += 2 * GEN_E7_LNG_MAX;
    *lat_e7 = (int32_t)klat;
    *lng_e7 = (int32_t)klng;
}

void gen_point(gen_t *g, double *lat, double *lng)
{
    int32_t a, b;

    gen_point_e7(g, &a, &b);
    *lat = (double)a * 1e-7;
    *lng = (double)b * 1e-7;
}

void gen_query(gen_t *g, double *lat, double *lng, double *radius_m)
{
    uint64_t u;

    gen_point(g, lat, lng);
    u = gen_range(g, 100);
    if (u < 30)
        *radius_m = 500.0;
    else if (u < 60)
        *radius_m = 1000.0;
    else if (u < 80)
        *radius_m = 2000.0;
    else if (u < 95)
        *radius_m = 5000.0;
    else
        *radius_m = 20000.0;
}

size_t gen_city_count(const gen_t *g)
{
    return g->ncities;
}

const char *gen_city_name(const gen_t *g)
{
    return g->cities[g->last].name;
}

const char *gen_city_country(const gen_t *g)
{
    return g->cities[g->last].country;
}

const char *gen_city_region(const gen_t *g)
{
    return g->cities[g->last].region;
}
