/* proximity-gen.c — writes sample businesses (COPY text) or queries (TSV) from the generator. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "category.h"
#include "gen.h"

#define DEFAULT_CITIES "loadtest/data/cities.tsv"

/* Queries get their own stream: with the seed the businesses used, query
 * n would otherwise land exactly on business n. */
#define QUERY_SEED_MIX 0x71756572796d6978ULL /* "querymix" */

static const char usage[] =
    "usage: proximity-gen businesses --count N [--seed S] [--owners K] [--cities FILE]\n"
    "       proximity-gen queries    --count N [--seed S] [--cities FILE]\n"
    "\n"
    "businesses  PostgreSQL COPY text for\n"
    "            COPY businesses (owner, name, categories, street, city, region,\n"
    "            postal_code, country, phone, website, price, location) FROM STDIN\n"
    "queries     TSV lines: lat<TAB>lng<TAB>radius_m\n"
    "\n"
    "  -n, --count N    rows to write (required)\n"
    "  -s, --seed S     64-bit seed (default 1); same seed and cities file,\n"
    "                   same output on every machine\n"
    "  -o, --owners K   businesses are spread over owner-0 .. owner-(K-1)\n"
    "                   (default: count/20, at least 1)\n"
    "  -c, --cities F   cities TSV (default $PROXIMITY_CITIES, else\n"
    "                   " DEFAULT_CITIES "; build it with\n"
    "                   `make loadtest/data/cities.tsv`)\n"
    "  -h, --help       this text\n";

/* ---- vocabulary --------------------------------------------------------- */

/* Display words and relative frequency per category; a category missing
 * here (the vocabulary is append-only) still works, with weight 1 and its
 * name title-cased. */
struct kind {
    const char *category;
    unsigned weight;
    const char *words[3];
};

static const struct kind kinds[] = {
    {"restaurant", 30, {"Restaurant", "Kitchen", "Bistro"}},
    {"cafe", 20, {"Cafe", "Café", "Coffee House"}},
    {"bar", 12, {"Bar", "Tavern", "Pub"}},
    {"bakery", 8, {"Bakery", "Bäckerei", "Boulangerie"}},
    {"fast_food", 10, {"Burgers", "Grill", "Express"}},
    {"pizza", 8, {"Pizza", "Pizzeria", "Pizza Co."}},
    {"sushi", 4, {"Sushi", "Sushi Bar", "寿司"}},
    {"grocery", 8, {"Grocery", "Market", "Corner Shop"}},
    {"supermarket", 5, {"Supermarket", "Foods", "Superstore"}},
    {"pharmacy", 6, {"Pharmacy", "Apotheke", "Farmacia"}},
    {"hospital", 1, {"Hospital", "Medical Center", "Klinikum"}},
    {"clinic", 3, {"Clinic", "Health Center", "Medical"}},
    {"dentist", 3, {"Dental", "Dentistry", "Smile Studio"}},
    {"gym", 4, {"Gym", "Fitness", "Athletic Club"}},
    {"spa", 2, {"Spa", "Wellness", "Day Spa"}},
    {"salon", 5, {"Salon", "Hair Studio", "Beauty"}},
    {"barber", 3, {"Barbers", "Barbershop", "Cuts"}},
    {"hotel", 5, {"Hotel", "Inn", "Suites"}},
    {"hostel", 1, {"Hostel", "Backpackers", "Guesthouse"}},
    {"bank", 3, {"Bank", "Savings", "Credit Union"}},
    {"atm", 2, {"ATM", "Cash Point", "Geldautomat"}},
    {"gas_station", 3, {"Fuel", "Gas", "Petrol"}},
    {"ev_charging", 2, {"EV Charging", "Charge Point", "Supercharger"}},
    {"parking", 3, {"Parking", "Car Park", "Garage"}},
    {"car_repair", 3, {"Auto Repair", "Motors", "Garage"}},
    {"car_wash", 2, {"Car Wash", "Auto Spa", "Wash"}},
    {"bookstore", 2, {"Books", "Bookshop", "Librairie"}},
    {"clothing", 6, {"Clothing", "Boutique", "Apparel"}},
    {"shoes", 2, {"Shoes", "Footwear", "Cobbler"}},
    {"electronics", 2, {"Electronics", "Tech", "Mobile"}},
    {"hardware", 2, {"Hardware", "Tools", "Home Center"}},
    {"furniture", 2, {"Furniture", "Home", "Interiors"}},
    {"florist", 2, {"Flowers", "Florist", "Fleurs"}},
    {"pet_store", 2, {"Pets", "Pet Supply", "Aquarium"}},
    {"veterinarian", 2, {"Veterinary", "Animal Hospital", "Vet"}},
    {"laundry", 2, {"Laundry", "Laundromat", "Dry Cleaning"}},
    {"post_office", 1, {"Post Office", "Post", "Parcel Point"}},
    {"library", 1, {"Library", "Bibliothek", "Reading Room"}},
    {"museum", 1, {"Museum", "Gallery", "Musée"}},
    {"theater", 1, {"Theater", "Playhouse", "Théâtre"}},
    {"cinema", 1, {"Cinema", "Pictures", "Kino"}},
    {"park", 2, {"Park", "Gardens", "Green"}},
    {"nightclub", 2, {"Club", "Lounge", "Disco"}},
    {"ice_cream", 2, {"Ice Cream", "Gelateria", "Creamery"}},
    {"brewery", 1, {"Brewery", "Brewing Co.", "Brauhaus"}},
    {"coworking", 1, {"Coworking", "Workspace", "Hub"}},
    {"school", 2, {"School", "Academy", "Lernstudio"}},
    {"lawyer", 2, {"Law Office", "Legal", "Attorneys"}},
};

static const char *const adjectives[] = {
    "Blue", "Red", "Golden", "Green", "Silver", "Little", "Big", "Old",
    "New", "Happy", "Lucky", "Royal", "Sunny", "Corner", "Urban", "Wild",
    "Hidden", "Bright", "Quiet", "Grand", "Crimson", "Northern", "Southern", "Rustic",
};

static const char *const nouns[] = {
    "Door", "Oak", "Lantern", "Fox", "Anchor", "Bridge", "Garden", "Harbor",
    "Rose", "Star", "Bear", "Mill", "River", "Owl", "Pine", "Lotus",
    "Crown", "Bell", "Falcon", "Stone", "Maple", "Wolf", "Moon", "Tulip",
};

/* Some names in other scripts and with accents: the service must carry
 * UTF-8 through unchanged, so the sample data exercises it. */
static const char *const surnames[] = {
    "Smith", "García", "Müller", "Rossi", "Nguyen", "Kowalski", "Dubois",
    "Silva", "O'Brien", "Yılmaz", "Jensen", "Novák", "Papadopoulos", "Kim",
    "Sato", "Ivanova", "Søren", "Ferreira", "Łukasz", "Đorđević", "Patel",
    "Okafor", "Андреев", "王", "Haddad", "Lindqvist", "Zoë", "Björk",
};

static const char *const street_names[] = {
    "Main", "Oak", "Maple", "Park", "Station", "Church", "High", "Market",
    "Mill", "River", "Lake", "Hill", "Elm", "Cedar", "King", "Queen",
    "Bridge", "Garden", "Spring", "Victoria", "Washington", "Lincoln", "Sunset", "Harbor",
};

static const char *const street_kinds[] = {
    "Street", "Avenue", "Road", "Lane", "Boulevard", "Way", "Drive", "Place",
};

/* Continental forms put the number after the name. */
static const char *const streets_local[] = {
    "Hauptstraße", "Bahnhofstraße", "Rue de la République", "Rue du Moulin",
    "Calle Mayor", "Avenida Paulista", "Via Roma", "Corso Italia",
    "Ulica Długa", "Nørregade", "Kungsgatan", "Rua Augusta",
};

struct dial {
    char country[3];
    const char *code;
};

static const struct dial dials[] = {
    {"US", "1"},   {"CA", "1"},   {"GB", "44"},  {"DE", "49"},  {"FR", "33"},
    {"IT", "39"},  {"ES", "34"},  {"PT", "351"}, {"NL", "31"},  {"BE", "32"},
    {"CH", "41"},  {"AT", "43"},  {"PL", "48"},  {"SE", "46"},  {"NO", "47"},
    {"DK", "45"},  {"FI", "358"}, {"IE", "353"}, {"RU", "7"},   {"UA", "380"},
    {"TR", "90"},  {"IN", "91"},  {"CN", "86"},  {"JP", "81"},  {"KR", "82"},
    {"ID", "62"},  {"PH", "63"},  {"VN", "84"},  {"TH", "66"},  {"BR", "55"},
    {"MX", "52"},  {"AR", "54"},  {"CO", "57"},  {"AU", "61"},  {"NZ", "64"},
    {"ZA", "27"},  {"NG", "234"}, {"EG", "20"},  {"PK", "92"},  {"BD", "880"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- output helpers ------------------------------------------------------ */

/* Every draw goes into a variable before use: C leaves the order of
 * function arguments unspecified, and gcc and clang do pick different
 * orders, which would make the output depend on the compiler. */

/* COPY text format: backslash, tab, newline and CR would end or shift a
 * field, so they go out as \\, \t, \n, \r. */
static void put_field(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': fputs("\\\\", out); break;
        case '\t': fputs("\\t", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        default: putc_unlocked(*s, out);
        }
    }
}

static void put_null(FILE *out)
{
    fputs("\\N", out);
}

/* Exact decimal of a 1e-7 grid coordinate, no floating-point rounding. */
static void put_e7(FILE *out, int32_t v)
{
    int64_t a = v < 0 ? -(int64_t)v : v;
    fprintf(out, "%s%" PRId64 ".%07" PRId64, v < 0 ? "-" : "", a / 10000000, a % 10000000);
}

static const char *pick(gen_t *g, const char *const *list, size_t n)
{
    return list[gen_range(g, n)];
}

/* ---- businesses ------------------------------------------------------------ */

struct vocab {
    size_t n;                 /* categories in the vocabulary */
    const struct kind **kind; /* per category, NULL when not in kinds[] */
    uint64_t *cum;            /* cumulative weights */
};

static void vocab_init(struct vocab *v)
{
    uint64_t total = 0;

    v->n = category_count();
    v->kind = calloc(v->n, sizeof *v->kind);
    v->cum = calloc(v->n, sizeof *v->cum);
    if (v->kind == NULL || v->cum == NULL) {
        fputs("proximity-gen: out of memory\n", stderr);
        exit(EX_OSERR);
    }
    for (size_t i = 0; i < v->n; i++) {
        for (size_t k = 0; k < NELEM(kinds); k++)
            if (strcmp(kinds[k].category, category_name(i)) == 0)
                v->kind[i] = &kinds[k];
        total += v->kind[i] ? v->kind[i]->weight : 1;
        v->cum[i] = total;
    }
}

static size_t vocab_pick(const struct vocab *v, gen_t *g)
{
    uint64_t r = gen_range(g, v->cum[v->n - 1]);
    size_t i = 0;

    while (v->cum[i] <= r)
        i++;
    return i;
}

/* "Ice Cream" from "ice_cream", for categories without display words. */
static void title_case(const char *name, char *buf, size_t len)
{
    size_t j = 0;
    bool start = true;

    for (; *name && j + 1 < len; name++) {
        char c = *name == '_' ? ' ' : *name;
        if (start && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        start = c == ' ';
        buf[j++] = c;
    }
    buf[j] = '\0';
}

/* A plausible name for a business of category cat in city. */
static void make_name(gen_t *g, const struct vocab *v, size_t cat, const char *city,
                      char *buf, size_t len)
{
    char fallback[64];
    const char *word;

    if (v->kind[cat] != NULL) {
        word = v->kind[cat]->words[gen_range(g, 3)];
    } else {
        title_case(category_name(cat), fallback, sizeof fallback);
        word = fallback;
    }
    switch (gen_range(g, 10)) {
    case 0: case 1: case 2: case 3: {
        const char *adj = pick(g, adjectives, NELEM(adjectives));
        snprintf(buf, len, "%s %s %s", adj, pick(g, nouns, NELEM(nouns)), word);
        break;
    }
    case 4: case 5: case 6:
        snprintf(buf, len, "%s's %s", pick(g, surnames, NELEM(surnames)), word);
        break;
    case 7: case 8:
        snprintf(buf, len, "%s %s", city, word);
        break;
    default:
        snprintf(buf, len, "The %s %s", pick(g, nouns, NELEM(nouns)), word);
        break;
    }
}

/* Lowercase ASCII letters and digits joined by '-'; other bytes dropped. */
static void slug(const char *s, char *buf, size_t len)
{
    size_t j = 0;

    for (; *s && j + 1 < len; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            buf[j++] = c;
        else if (c == ' ' && j > 0 && buf[j - 1] != '-')
            buf[j++] = '-';
    }
    while (j > 0 && buf[j - 1] == '-')
        j--;
    buf[j] = '\0';
}

static void make_postal(gen_t *g, const char *cc, char *buf, size_t len)
{
#define L() ((char)('A' + gen_range(g, 26)))
#define D() ((char)('0' + gen_range(g, 10)))
    if (strcmp(cc, "GB") == 0) {
        char a = L(), b = L(), c = D(), d = D(), e = L(), f = L();
        snprintf(buf, len, "%c%c%c %c%c%c", a, b, c, d, e, f);
    } else if (strcmp(cc, "CA") == 0) {
        char a = L(), b = D(), c = L(), d = D(), e = L(), f = D();
        snprintf(buf, len, "%c%c%c %c%c%c", a, b, c, d, e, f);
    } else if (strcmp(cc, "NL") == 0) {
        unsigned n = (unsigned)(1000 + gen_range(g, 9000));
        char a = L(), b = L();
        snprintf(buf, len, "%04u %c%c", n, a, b);
    } else if (strcmp(cc, "JP") == 0) {
        unsigned a = (unsigned)gen_range(g, 1000), b = (unsigned)gen_range(g, 10000);
        snprintf(buf, len, "%03u-%04u", a, b);
    } else if (strcmp(cc, "BR") == 0) {
        unsigned a = (unsigned)gen_range(g, 100000), b = (unsigned)gen_range(g, 1000);
        snprintf(buf, len, "%05u-%03u", a, b);
    } else {
        snprintf(buf, len, "%05u", (unsigned)gen_range(g, 100000));
    }
#undef L
#undef D
}

static void make_phone(gen_t *g, const char *cc, char *buf, size_t len)
{
    for (size_t i = 0; i < NELEM(dials); i++) {
        if (strcmp(dials[i].country, cc) == 0) {
            /* 555 01xx is the fictional range in North America; elsewhere
             * the digits are merely random. */
            snprintf(buf, len, "+%s 555 01%02u", dials[i].code, (unsigned)gen_range(g, 100));
            return;
        }
    }
    unsigned a = (unsigned)gen_range(g, 100), b = (unsigned)gen_range(g, 1000),
             c = (unsigned)gen_range(g, 10000);
    snprintf(buf, len, "0%02u %03u %04u", a, b, c);
}

/* A region only when it reads as one ("CA", "ENG"); GeoNames' numeric
 * and one-letter admin codes mean nothing on an address. */
static bool region_ok(const char *r)
{
    size_t n = 0;

    if (r == NULL)
        return false;
    for (; r[n]; n++)
        if (!(r[n] >= 'A' && r[n] <= 'Z'))
            return false;
    return n == 2 || n == 3;
}

static int write_businesses(gen_t *g, uint64_t count, uint64_t owners, FILE *out)
{
    struct vocab v;
    char name[256], buf[256], site[128];

    vocab_init(&v);
    for (uint64_t n = 0; n < count; n++) {
        int32_t lat, lng;
        size_t cats[3], ncat;
        const char *city, *cc, *region;

        gen_point_e7(g, &lat, &lng);
        city = gen_city_name(g);
        cc = gen_city_country(g);
        region = gen_city_region(g);

        /* owner */
        fprintf(out, "owner-%" PRIu64 "\t", gen_range(g, owners));

        /* 1-3 distinct categories, the first one naming the business */
        ncat = 1 + (size_t)gen_range(g, 3);
        for (size_t i = 0; i < ncat; i++) {
            cats[i] = vocab_pick(&v, g);
            for (size_t j = 0; j < i; j++)
                if (cats[j] == cats[i]) {
                    ncat = i; /* a repeat ends the list: still >= 1 */
                    break;
                }
        }
        make_name(g, &v, cats[0], city, name, sizeof name);
        put_field(out, name);
        putc_unlocked('\t', out);
        putc_unlocked('{', out);
        for (size_t i = 0; i < ncat; i++) {
            if (i)
                putc_unlocked(',', out);
            fputs(category_name(cats[i]), out);
        }
        fputs("}\t", out);

        /* street */
        if (gen_range(g, 4) == 0) {
            const char *street = pick(g, streets_local, NELEM(streets_local));
            snprintf(buf, sizeof buf, "%s %u", street, (unsigned)(1 + gen_range(g, 200)));
        } else {
            unsigned number = (unsigned)(1 + gen_range(g, 9999));
            const char *street = pick(g, street_names, NELEM(street_names));
            snprintf(buf, sizeof buf, "%u %s %s", number, street,
                     pick(g, street_kinds, NELEM(street_kinds)));
        }
        put_field(out, buf);
        putc_unlocked('\t', out);

        /* city, region, postal code, country */
        put_field(out, city);
        putc_unlocked('\t', out);
        if (region_ok(region))
            put_field(out, region);
        else
            put_null(out);
        putc_unlocked('\t', out);
        make_postal(g, cc, buf, sizeof buf);
        put_field(out, buf);
        fprintf(out, "\t%s\t", cc);

        /* phone, website (60%), price (1-4, 20% unknown) */
        make_phone(g, cc, buf, sizeof buf);
        put_field(out, buf);
        putc_unlocked('\t', out);
        if (gen_range(g, 10) < 6) {
            slug(name, site, sizeof site);
            fprintf(out, "https://%s%s%" PRIu64 ".example.com", site, *site ? "-" : "biz-", n);
        } else {
            put_null(out);
        }
        putc_unlocked('\t', out);
        if (gen_range(g, 5) == 0)
            put_null(out);
        else
            fprintf(out, "%u", (unsigned)(1 + gen_range(g, 4)));

        /* location, EWKT: longitude first */
        fputs("\tSRID=4326;POINT(", out);
        put_e7(out, lng);
        putc_unlocked(' ', out);
        put_e7(out, lat);
        fputs(")\n", out);
    }
    free(v.kind);
    free(v.cum);
    return 0;
}

static void write_queries(gen_t *g, uint64_t count, FILE *out)
{
    for (uint64_t n = 0; n < count; n++) {
        double lat, lng, r;
        gen_query(g, &lat, &lng, &r);
        /* lat, lng are k * 1e-7 exactly; %.7f prints k's digits */
        fprintf(out, "%.7f\t%.7f\t%.0f\n", lat, lng, r);
    }
}

/* ---- main ------------------------------------------------------------------ */

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] == '-' || s[0] == '\0')
        return false;
    errno = 0;
    v = strtoull(s, &end, 0);
    if (*end != '\0' || errno != 0)
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"owners", required_argument, NULL, 'o'},
        {"cities", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cities = getenv("PROXIMITY_CITIES");
    uint64_t count = 0, seed = 1, owners = 0;
    bool have_count = false, queries;
    char err[512];
    static char obuf[1 << 16];
    gen_t *g;
    int c;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return EX_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "businesses") != 0 && strcmp(argv[1], "queries") != 0)) {
        fputs(usage, stderr);
        return EX_USAGE;
    }
    queries = strcmp(argv[1], "queries") == 0;
    /* getopt over the arguments after the subcommand */
    while ((c = getopt_long(argc - 1, argv + 1, "n:s:o:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!parse_u64(optarg, &count)) {
                fprintf(stderr, "proximity-gen: bad --count '%s'\n", optarg);
                return EX_USAGE;
            }
            have_count = true;
            break;
        case 's':
            if (!parse_u64(optarg, &seed)) {
                fprintf(stderr, "proximity-gen: bad --seed '%s'\n", optarg);
                return EX_USAGE;
            }
            break;
        case 'o':
            if (!parse_u64(optarg, &owners) || owners == 0) {
                fprintf(stderr, "proximity-gen: bad --owners '%s'\n", optarg);
                return EX_USAGE;
            }
            break;
        case 'c':
            cities = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return EX_OK;
        default:
            fputs(usage, stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc - 1 || !have_count) {
        fprintf(stderr, "proximity-gen: %s\n%s",
                have_count ? "unexpected argument" : "--count is required", usage);
        return EX_USAGE;
    }
    if (cities == NULL || *cities == '\0')
        cities = DEFAULT_CITIES;
    if (owners == 0)
        owners = count / 20 > 0 ? count / 20 : 1;

    g = gen_new(cities, queries ? seed ^ QUERY_SEED_MIX : seed, err, sizeof err);
    if (g == NULL) {
        fprintf(stderr, "proximity-gen: %s\n", err);
        return access(cities, R_OK) != 0 ? EX_NOINPUT : EX_DATAERR;
    }
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    if (queries)
        write_queries(g, count, stdout);
    else
        write_businesses(g, count, owners, stdout);
    gen_free(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "proximity-gen: writing stdout: %s\n", strerror(errno));
        return EX_IOERR;
    }
    return EX_OK;
}
