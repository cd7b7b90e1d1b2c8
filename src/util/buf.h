/* Growable byte buffer with a ceiling (as curl's dynbuf): nothing the network feeds grows
 * without bound. The content is always NUL-terminated for convenience. */
#ifndef CH_BUF_H
#define CH_BUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* appends beyond this fail with CH_ETOOBIG */
} ch_buf;

void ch_buf_init(ch_buf *b, size_t max);
void ch_buf_free(ch_buf *b);
void ch_buf_reset(ch_buf *b);
/* CH_OK, or CH_ETOOBIG (buffer unchanged) when len + n would exceed max. The compiler makes
 * every caller look at the result (as curl's dynbuf): a ceiling hit that goes unnoticed is a
 * silently cut body, and a later, smaller append would still succeed after the gap. */
int ch_buf_append(ch_buf *b, const void *p, size_t n) __attribute__((warn_unused_result));
int ch_buf_puts(ch_buf *b, const char *s) __attribute__((warn_unused_result));
int ch_buf_printf(ch_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));
/* Takes the content out of the buffer (caller frees); the buffer is left empty. */
char *ch_buf_steal(ch_buf *b, size_t *len);

#endif
