/* application/x-www-form-urlencoded bodies (Twilio callbacks, FreeSWITCH `cdr=`): decoded
 * name/value pairs in the order sent. */
#ifndef CH_FORM_H
#define CH_FORM_H

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
/* The first value of name, or NULL. */
const char *ch_form_get(const ch_form *f, const char *name);
void ch_form_free(ch_form *f);

#endif
