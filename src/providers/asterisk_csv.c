#include "providers/asterisk.h"
#include "util/crypto.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cdr_csv's column order (cdr/cdr_csv.c build_csv_record) */
static const char *const columns[] = {
    "accountcode", "src",      "dst",      "dcontext",  "clid",        "channel",  "dstchannel",
    "lastapp",     "lastdata", "start",    "answer",    "end",         "duration", "billsec",
    "disposition", "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid", "sequence"};

int ch_asterisk_csv_row(const char *line, size_t len, json_t **out, char *err, size_t errsz)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    char *fields[CH_ASTERISK_CSV_MAX_COLS + 1];
    size_t nf = 0;
    int rc = CH_EINVAL;
    const char *p = line, *end = line + len;
    char *buf = ch_malloc(len + 1);
    size_t bi = 0;
    for (;;) {
        if (nf == CH_ASTERISK_CSV_MAX_COLS + 1) {
            snprintf(err, errsz, "more than %d columns", CH_ASTERISK_CSV_MAX_COLS);
            goto out;
        }
        size_t start = bi;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end) {
                    snprintf(err, errsz, "column %zu: a quoted value is not closed", nf + 1);
                    goto out;
                }
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        buf[bi++] = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                buf[bi++] = *p++;
            }
            if (p < end && *p != ',') {
                snprintf(err, errsz, "column %zu: text after a closing quote", nf + 1);
                goto out;
            }
        } else {
            while (p < end && *p != ',') {
                if (*p == '"') {
                    snprintf(err, errsz, "column %zu: a quote inside an unquoted value", nf + 1);
                    goto out;
                }
                buf[bi++] = *p++;
            }
        }
        if (memchr(buf + start, '\0', bi - start)) {
            snprintf(err, errsz, "column %zu: a NUL byte", nf + 1);
            goto out;
        }
        buf[bi++] = '\0';
        fields[nf++] = buf + start;
        if (p >= end) break;
        p++; /* the comma */
    }
    if (nf != 16 && nf != 18 && nf != 21) {
        snprintf(err, errsz, "%zu columns; Master.csv lines have 16, 18 or 21", nf);
        goto out;
    }
    json_t *row = json_object();
    for (size_t i = 0; i < nf; i++) {
        if (!fields[i][0]) continue;
        json_t *v = json_string(fields[i]);
        if (!v) {
            snprintf(err, errsz, "column %zu (%s) is not UTF-8", i + 1, columns[i]);
            json_decref(row);
            goto out;
        }
        json_object_set_new(row, columns[i], v);
    }
    if (!json_object_get(row, "uniqueid") && !json_object_get(row, "linkedid")) {
        char h[CH_SHA256_HEX];
        ch_sha256_hex(line, len, h);
        json_object_set_new(row, "call_id", json_sprintf("csv-%.24s", h));
    }
    *out = row;
    rc = CH_OK;
out:
    free(buf);
    return rc;
}
