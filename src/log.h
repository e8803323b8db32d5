/* log.h — structured logs: one JSON object per line on stdout. */
#ifndef PROXIMITY_LOG_H
#define PROXIMITY_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL } log_level_t;

extern log_level_t log_threshold;

/* Parses "debug|info|warn|error"; returns -1 on an unknown name. */
int log_level_parse(const char *name, log_level_t *out);

/* Writes {"ts":…,"level":…,"msg":msg<,fields>} as one line. `fields` is
 * printf-style text of extra JSON members without braces
 * ("\"status\":%d"); strings in it must already be escaped (log_esc). */
void log_write(log_level_t level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* The level test comes first, so arguments are not even evaluated below it. */
#define LOG(level, msg, ...)                                                   \
    do {                                                                       \
        if ((level) >= log_threshold)                                          \
            log_write((level), (msg), __VA_ARGS__);                            \
    } while (0)
#define LOG_DEBUG(msg, ...) LOG(LOG_DEBUG, msg, __VA_ARGS__)
#define LOG_INFO(msg, ...) LOG(LOG_INFO, msg, __VA_ARGS__)
#define LOG_WARN(msg, ...) LOG(LOG_WARN, msg, __VA_ARGS__)
#define LOG_ERROR(msg, ...) LOG(LOG_ERROR, msg, __VA_ARGS__)

/* Escapes s as the inside of a JSON string into buf (always terminated,
 * truncated to fit); returns buf, so it can sit in a LOG argument list. */
char *log_esc(char *buf, size_t len, const char *s);

#endif
