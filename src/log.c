/* log.c — JSON-lines logger. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

log_level_t log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "fatal"};

int log_level_parse(const char *name, log_level_t *out)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void log_write(log_level_t level, const char *msg, const char *fields, ...)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    size_t n;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof line, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%06ldZ\",\"level\":\"%s\",\"msg\":\"",
                          (long)tv.tv_usec, level_names[level]);
    log_esc(line + n, sizeof line - n, msg);
    n = strlen(line);
    if (n < sizeof line - 1)
        line[n++] = '"';
    if (fields != NULL && fields[0] != '\0' && n < sizeof line - 2) {
        va_list ap;
        line[n++] = ',';
        va_start(ap, fields);
        int w = vsnprintf(line + n, sizeof line - n, fields, ap);
        va_end(ap);
        n = (w < 0) ? n - 1 : (size_t)w >= sizeof line - n ? sizeof line - 1 : n + (size_t)w;
    }
    /* Always close the object, even when a long message was cut short. */
    if (n > sizeof line - 3)
        n = sizeof line - 3;
    line[n++] = '}';
    line[n++] = '\n';
    /* One fwrite per line: stdio's lock keeps lines from interleaving. */
    fwrite(line, 1, n, stdout);
    fflush(stdout);
}

char *log_esc(char *buf, size_t len, const char *s)
{
    size_t o = 0;

    if (len == 0)
        return buf;
    for (; s != NULL && *s != '\0' && o + 7 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(buf + o, len - o, "\\u%04x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o] = '\0';
    return buf;
}
