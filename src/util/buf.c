#include "util/buf.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ch_buf_init(ch_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void ch_buf_free(ch_buf *b)
{
    free(b->data);
    ch_buf_init(b, b->max);
}

void ch_buf_reset(ch_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static int reserve(ch_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return CH_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return CH_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = ch_realloc(b->data, cap);
    b->cap = cap;
    return CH_OK;
}

int ch_buf_append(ch_buf *b, const void *p, size_t n)
{
    int rc = reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return CH_OK;
}

int ch_buf_puts(ch_buf *b, const char *s)
{
    return ch_buf_append(b, s, strlen(s));
}

int ch_buf_printf(ch_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return CH_EINVAL;
    int rc = reserve(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return CH_OK;
}

char *ch_buf_steal(ch_buf *b, size_t *len)
{
    if (!b->data && reserve(b, 0) == CH_OK) b->data[0] = '\0'; /* empty: "" as well */
    char *d = b->data;
    if (len) *len = b->len;
    ch_buf_init(b, b->max);
    return d;
}
