#include "util/phone.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

static bool emit(const char *cc, const char *nat, char *out, size_t outsz)
{
    size_t total = strlen(cc) + strlen(nat);
    if (total < 8 || total > 15 || outsz < total + 2) return false;
    if ((*cc ? *cc : *nat) == '0') return false; /* no country calling code starts with 0 */
    snprintf(out, outsz, "+%s%s", cc, nat);
    return true;
}

bool ch_phone_e164(const char *raw, const char *country, char *out, size_t outsz)
{
    if (!raw) return false;
    /* "sip:+972…@host" and "tel:+1…": the user part is the number */
    if (strncasecmp(raw, "sip:", 4) == 0 || strncasecmp(raw, "tel:", 4) == 0) raw += 4;
    char d[32];
    size_t n = 0;
    bool plus = false;
    for (const char *p = raw; *p && *p != '@' && *p != ';'; p++) {
        unsigned char c = (unsigned char)*p;
        if (isdigit(c)) {
            if (n + 1 >= sizeof d) return false;
            d[n++] = (char)c;
        } else if (c == '+' && n == 0 && !plus) {
            plus = true;
        } else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/') {
            continue;
        } else {
            return false; /* letters: a name, "anonymous", "s", … */
        }
    }
    d[n] = '\0';
    if (n == 0) return false;
    if (d[0] == '0' && !plus && n > 1 && d[1] == '0') return emit("", d + 2, out, outsz);
    if (plus) return d[0] != '0' && emit("", d, out, outsz);
    bool nanp = country && strcmp(country, "1") == 0;
    if (nanp) {
        if (n == 11 && d[0] == '1') return emit("", d, out, outsz);
        if (strncmp(d, "011", 3) == 0) return emit("", d + 3, out, outsz); /* 011 + E.164 */
        if (n == 10 && d[0] >= '2') return emit("1", d, out, outsz);
        return false;
    }
    if (country && *country && d[0] == '0' && n >= 8) return emit(country, d + 1, out, outsz);
    return false;
}
