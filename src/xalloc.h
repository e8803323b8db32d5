/* xalloc.h — the one out-of-memory policy: log and abort. */
#ifndef PROXIMITY_XALLOC_H
#define PROXIMITY_XALLOC_H

#include <stddef.h>

/* Each returns memory the caller owns; on exhaustion the process aborts
 * with a message on stderr (a half-served request is worse than a restart
 * that rebuilds everything from Postgres). */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
