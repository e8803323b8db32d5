/* promtext.c — strict Prometheus text-format parser for the tests. */
#include "promtext.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int line, const char *fmt, ...)
{
    va_list ap;
    int k = snprintf(err, errlen, "line %d: ", line);
    va_start(ap, fmt);
    vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static bool name_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static bool name_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

/* A metric name at *s; returns its length (0 = none). Label names may
 * not contain ':'. */
static size_t scan_name(const char *s, bool label)
{
    size_t n = 0;
    if (!name_start((unsigned char)s[0]) || (label && s[0] == ':'))
        return 0;
    while (name_char((unsigned char)s[n]) && !(label && s[n] == ':'))
        n++;
    return n;
}

/* A number as Go's ParseFloat takes it, plus the format's Inf/NaN spellings. */
static bool scan_value(const char *s, size_t len, double *v)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
        *v = INFINITY;
        return true;
    }
    if (strcmp(buf, "-Inf") == 0) {
        *v = -INFINITY;
        return true;
    }
    if (strcmp(buf, "NaN") == 0) {
        *v = NAN;
        return true;
    }
    /* strtod also takes "inf", "nan", hex and leading spaces: refuse them. */
    for (size_t i = 0; i < len; i++)
        if (!(isdigit((unsigned char)buf[i]) || strchr("+-.eE", buf[i])))
            return false;
    char *end;
    *v = strtod(buf, &end);
    return *end == '\0';
}

static const char *family_of(const promtext_t *p, const char *name, char *buf, size_t len)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t n = strlen(name);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0 && n - k < len) {
            memcpy(buf, name, n - k);
            buf[n - k] = '\0';
            const char *t = promtext_type(p, buf);
            if (t != NULL && (strcmp(t, "histogram") == 0 || (i > 0 && strcmp(t, "summary") == 0)))
                return buf;
        }
    }
    return name;
}

static bool seen_family(char **list, size_t n, const char *f)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], f) == 0)
            return true;
    return false;
}

/* labels without le=…, and the le value (NULL when absent). */
static void split_le(const char *labels, char *rest, size_t len, const char **le, char *lebuf, size_t lelen)
{
    *le = NULL;
    rest[0] = '\0';
    char *copy = strdup(labels), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strncmp(t, "le=", 3) == 0) {
            snprintf(lebuf, lelen, "%s", t + 3);
            *le = lebuf;
        } else {
            size_t k = strlen(rest);
            snprintf(rest + k, len - k, "%s%s", k ? "," : "", t);
        }
    }
    free(copy);
}

static int check_histograms(const promtext_t *p, char *err, size_t errlen)
{
    for (size_t f = 0; f < p->nfamilies; f++) {
        if (strcmp(p->families[f].type, "histogram") != 0)
            continue;
        char bucket[300], count[300];
        snprintf(bucket, sizeof bucket, "%s_bucket", p->families[f].name);
        snprintf(count, sizeof count, "%s_count", p->families[f].name);
        for (size_t i = 0; i < p->nsamples; i++) {
            if (strcmp(p->samples[i].name, count) != 0)
                continue;
            /* Every series: its buckets in order, non-decreasing, +Inf last = count. */
            double prev_le = -INFINITY, prev = 0;
            bool inf = false;
            int nb = 0;
            for (size_t j = 0; j < p->nsamples; j++) {
                char rest[1024], lebuf[64];
                const char *le;
                if (strcmp(p->samples[j].name, bucket) != 0)
                    continue;
                split_le(p->samples[j].labels, rest, sizeof rest, &le, lebuf, sizeof lebuf);
                if (strcmp(rest, p->samples[i].labels) != 0)
                    continue;
                double lv;
                if (le == NULL || !scan_value(le, strlen(le), &lv))
                    return fail(err, errlen, 0, "%s{%s}: bucket without a valid le", bucket, rest);
                if (lv <= prev_le || p->samples[j].value < prev)
                    return fail(err, errlen, 0, "%s{%s}: buckets not cumulative at le=%s", bucket, rest, le);
                prev_le = lv;
                prev = p->samples[j].value;
                inf = isinf(lv) && lv > 0;
                nb++;
            }
            if (nb == 0 || !inf)
                return fail(err, errlen, 0, "%s{%s}: no +Inf bucket", bucket, p->samples[i].labels);
            if (prev != p->samples[i].value)
                return fail(err, errlen, 0, "%s{%s}: +Inf bucket %g != _count %g", bucket,
                            p->samples[i].labels, prev, p->samples[i].value);
        }
    }
    return 0;
}

int promtext_parse(const char *text, promtext_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char **closed = NULL; /* families whose group of lines has ended */
    size_t nclosed = 0;
    char current[256] = "";
    int line = 0;
    const char *s = text;
    int rc = -1;

    if (text == NULL || *text == '\0')
        return fail(err, errlen, 0, "empty exposition");
    while (*s != '\0') {
        const char *eol = strchr(s, '\n');
        if (eol == NULL) {
            fail(err, errlen, line + 1, "last line lacks its newline");
            goto out;
        }
        line++;
        size_t len = (size_t)(eol - s);
        char *l = strndup(s, len);
        s = eol + 1;
        if (len == 0) { /* blank lines are allowed */
            free(l);
            continue;
        }
        if (l[0] == '#') {
            char kw[8], name[256], rest[512] = "";
            int k = sscanf(l, "# %7s %255s %511[^\n]", kw, name, rest);
            if (k >= 2 && strcmp(kw, "TYPE") == 0) {
                static const char *const types[] = {"counter", "gauge", "histogram", "summary", "untyped"};
                bool ok = false;
                for (int i = 0; i < 5; i++)
                    ok = ok || strcmp(rest, types[i]) == 0;
                if (!ok || scan_name(name, false) != strlen(name)) {
                    fail(err, errlen, line, "bad # TYPE line: %s", l);
                    free(l);
                    goto out;
                }
                if (promtext_type(out, name) != NULL || seen_family(closed, nclosed, name) ||
                    strcmp(current, name) == 0) {
                    fail(err, errlen, line, "# TYPE %s after its samples or twice", name);
                    free(l);
                    goto out;
                }
                out->families = realloc(out->families, (out->nfamilies + 1) * sizeof *out->families);
                out->families[out->nfamilies].name = strdup(name);
                out->families[out->nfamilies].type = strdup(rest);
                out->nfamilies++;
            } else if (k >= 2 && strcmp(kw, "HELP") == 0) {
                if (scan_name(name, false) != strlen(name)) {
                    fail(err, errlen, line, "bad # HELP line: %s", l);
                    free(l);
                    goto out;
                }
            }
            free(l); /* other comments are allowed */
            continue;
        }
        /* sample: name [{labels}] value [timestamp] */
        size_t n = scan_name(l, false);
        if (n == 0) {
            fail(err, errlen, line, "not a sample: %s", l);
            free(l);
            goto out;
        }
        promtext_sample_t smp = {strndup(l, n), NULL, 0};
        char labels[1024] = "";
        size_t lk = 0;
        const char *q = l + n;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t ln = scan_name(q, true);
                if (ln == 0 || q[ln] != '=' || q[ln + 1] != '"') {
                    fail(err, errlen, line, "bad label at: %s", q);
                    goto bad;
                }
                lk += (size_t)snprintf(labels + lk, sizeof labels - lk, "%s%.*s=", lk ? "," : "", (int)ln, q);
                q += ln + 2;
                while (*q != '"') {
                    char c = *q;
                    if (c == '\0') {
                        fail(err, errlen, line, "unterminated label value");
                        goto bad;
                    }
                    if (c == '\\') {
                        q++;
                        if (*q != '\\' && *q != '"' && *q != 'n') {
                            fail(err, errlen, line, "bad escape \\%c in a label value", *q);
                            goto bad;
                        }
                        c = *q == 'n' ? '\n' : *q;
                    }
                    if (lk + 2 < sizeof labels)
                        labels[lk++] = c;
                    labels[lk] = '\0';
                    q++;
                }
                q++;
                if (*q == ',')
                    q++;
                else if (*q != '}') {
                    fail(err, errlen, line, "expected , or } after a label");
                    goto bad;
                }
            }
            q++;
        }
        if (*q != ' ') {
            fail(err, errlen, line, "expected a space before the value: %s", l);
            goto bad;
        }
        q++;
        const char *ve = strchr(q, ' ');
        size_t vl = ve ? (size_t)(ve - q) : strlen(q);
        if (!scan_value(q, vl, &smp.value)) {
            fail(err, errlen, line, "bad value '%.*s'", (int)vl, q);
            goto bad;
        }
        if (ve != NULL) { /* timestamp: an integer (ms) */
            const char *t = ve + 1;
            if (*t == '-')
                t++;
            if (*t == '\0' || strspn(t, "0123456789") != strlen(t)) {
                fail(err, errlen, line, "bad timestamp '%s'", ve + 1);
                goto bad;
            }
        }
        char fbuf[256];
        const char *fam = family_of(out, smp.name, fbuf, sizeof fbuf);
        if (strcmp(fam, current) != 0) {
            if (seen_family(closed, nclosed, fam)) {
                fail(err, errlen, line, "samples of %s are not in one group", fam);
                goto bad;
            }
            if (current[0] != '\0') {
                closed = realloc(closed, (nclosed + 1) * sizeof *closed);
                closed[nclosed++] = strdup(current);
            }
            snprintf(current, sizeof current, "%s", fam);
        }
        const char *type = promtext_type(out, fam);
        if (type != NULL && strcmp(type, "counter") == 0 && !(smp.value >= 0)) {
            fail(err, errlen, line, "counter %s is %g", smp.name, smp.value);
            goto bad;
        }
        for (size_t i = 0; i < out->nsamples; i++)
            if (strcmp(out->samples[i].name, smp.name) == 0 && strcmp(out->samples[i].labels, labels) == 0) {
                fail(err, errlen, line, "duplicate series %s{%s}", smp.name, labels);
                goto bad;
            }
        smp.labels = strdup(labels);
        out->samples = realloc(out->samples, (out->nsamples + 1) * sizeof *out->samples);
        out->samples[out->nsamples++] = smp;
        free(l);
        continue;
    bad:
        free(smp.name);
        free(l);
        goto out;
    }
    rc = check_histograms(out, err, errlen);
out:
    for (size_t i = 0; i < nclosed; i++)
        free(closed[i]);
    free(closed);
    return rc;
}

static bool has_label(const char *labels, const char *kv)
{
    size_t n = strlen(kv);
    for (const char *p = labels; p != NULL && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, kv, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

double promtext_sum(const promtext_t *p, const char *name, const char *want, int *found)
{
    double sum = 0;
    int k = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        if (strcmp(p->samples[i].name, name) != 0)
            continue;
        bool ok = true;
        if (want != NULL && *want) {
            char *copy = strdup(want), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save))
                ok = has_label(p->samples[i].labels, t);
            free(copy);
        }
        if (ok) {
            sum += p->samples[i].value;
            k++;
        }
    }
    if (found != NULL)
        *found = k;
    return sum;
}

const char *promtext_type(const promtext_t *p, const char *family)
{
    for (size_t i = 0; i < p->nfamilies; i++)
        if (strcmp(p->families[i].name, family) == 0)
            return p->families[i].type;
    return NULL;
}

void promtext_free(promtext_t *p)
{
    for (size_t i = 0; i < p->nsamples; i++) {
        free(p->samples[i].name);
        free(p->samples[i].labels);
    }
    for (size_t i = 0; i < p->nfamilies; i++) {
        free(p->families[i].name);
        free(p->families[i].type);
    }
    free(p->samples);
    free(p->families);
    memset(p, 0, sizeof *p);
}
