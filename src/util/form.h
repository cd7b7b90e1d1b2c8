/* application/x-www-form-urlencoded bodies (Twilio callbacks, FreeSWITCH `cdr=`): decoded
 * name/value pairs in the order sent. */
#ifndef CH_FORM_H
#define CH_FORM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *name, *value;
} ch_form_pair;

typedef struct {
    ch_form_pair *v;
    size_t n;
} ch_form;

/* Decodes body ('+' is a space, %XX a byte). CH_OK, CH_EINVAL on a bad %-escape, a NUL byte or
 * invalid UTF-8, CH_ETOOBIG past max_pairs. */
int ch_form_parse(const char *body, size_t len, size_t max_pairs, ch_form *out);
/* The value of a hex digit, or -1. */
int ch_hexval(char c);
/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points past
 * U+10FFFF): what jansson will accept as a string. */
bool ch_utf8_valid(const unsigned char *s, size_t n);
/* The first value of name, or NULL. */
const char *ch_form_get(const ch_form *f, const char *name);
void ch_form_free(ch_form *f);

#endif
