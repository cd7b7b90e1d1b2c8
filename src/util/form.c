#include "util/form.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int ch_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Values become JSON strings (events, raw bodies): they must be UTF-8, as Twilio sends. */
bool ch_utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || len > n - i) return false;
        uint32_t cp = len == 1 ? c : c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* Decodes s[0..n) into a new string; NULL on a bad escape, a NUL byte or invalid UTF-8. */
static char *decode(const char *s, size_t n)
{
    char *out = ch_malloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int a = i + 1 < n ? ch_hexval(s[i + 1]) : -1, b = i + 2 < n ? ch_hexval(s[i + 2]) : -1;
            if (a < 0 || b < 0) {
                free(out);
                return NULL;
            }
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (c == '\0') {
            free(out);
            return NULL;
        }
        *o++ = c;
    }
    *o = '\0';
    if (!ch_utf8_valid((const unsigned char *)out, (size_t)(o - out))) {
        free(out);
        return NULL;
    }
    return out;
}

int ch_form_parse(const char *body, size_t len, size_t max_pairs, ch_form *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *nend = eq ? eq : stop;
            if (out->n == max_pairs) {
                ch_form_free(out);
                return CH_ETOOBIG;
            }
            char *name = decode(p, (size_t)(nend - p));
            char *value = eq ? decode(eq + 1, (size_t)(stop - eq - 1)) : ch_strdup("");
            if (!name || !value) {
                free(name);
                free(value);
                ch_form_free(out);
                return CH_EINVAL;
            }
            if (out->n == cap) {
                cap = cap ? cap * 2 : 16;
                out->v = ch_realloc(out->v, cap * sizeof *out->v);
            }
            out->v[out->n++] = (ch_form_pair){name, value};
        }
        p = stop + 1;
    }
    return CH_OK;
}

const char *ch_form_get(const ch_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].name, name) == 0) return f->v[i].value;
    return NULL;
}

void ch_form_free(ch_form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].name);
        free(f->v[i].value);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}
