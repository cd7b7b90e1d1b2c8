/* Allocation that aborts on out-of-memory, so callers never check (as redis' zmalloc). */
#ifndef CH_MEM_H
#define CH_MEM_H

#include <stddef.h>

void *ch_malloc(size_t n);
void *ch_calloc(size_t count, size_t size);
void *ch_realloc(void *p, size_t n);
char *ch_strdup(const char *s);
char *ch_strndup(const char *s, size_t n);
/* printf into a fresh allocation. */
char *ch_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
