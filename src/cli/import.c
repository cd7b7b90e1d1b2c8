/* callhook import asterisk-csv FILE --tenant SLUG [--utc]: backfills history from cdr_csv's
 * Master.csv through the same writer as the webhooks, so an imported CDR and the same CDR
 * posted later are one event, and importing a file twice adds nothing. Each line is parsed here;
 * normalising, preparing and writing are the ingest pipeline's (ingest/ingest.h). */
#include "cli/args.h"
#include "cli/commands.h"
#include "ingest/ingest.h"
#include "providers/asterisk.h"
#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK        500         /* events per write job */
#define MAX_LINE     (64 * 1024) /* a longer line is reported as bad, not read whole */
#define MAX_REPORTED 100         /* bad lines listed in the report */

typedef struct {
    ch_store *store;
    const ch_tenant *t;
    ch_event *evs[CHUNK];
    size_t n;
    uint64_t stored, duplicates, refused;
    bool failed;
} importer;

static void flush(importer *im)
{
    if (!im->n) return;
    ch_write_job job;
    /* the file's lines are this transport's parse; the rest is the shared ingest pipeline */
    if (ch_ingest_events_wait(im->store, im->t, im->evs, im->n, "import", &job) != CH_OK)
        im->failed = true;
    for (size_t i = 0; job.result == CH_OK && i < im->n; i++) {
        im->stored += job.outcome[i] == CH_REC_STORED;
        im->duplicates += job.outcome[i] == CH_REC_DUPLICATE;
        im->refused += job.outcome[i] == CH_REC_REJECTED;
    }
    ch_write_job_clear(&job);
    for (size_t i = 0; i < im->n; i++)
        ch_event_free(im->evs[i]);
    im->n = 0;
}

int ch_cmd_import(int argc, char **argv)
{
    static const char *const valued[] = {"config", "db", "tenant", NULL};
    ch_args a;
    int rc = ch_args_init(&a, argc, argv, valued);
    const char *slug = rc ? NULL : ch_arg(&a, "tenant");
    bool utc = rc ? false : ch_flag(&a, "utc");
    if (rc || (rc = ch_args_finish(&a))) {
        ch_args_free(&a);
        return rc;
    }
    if (a.npositional != 2 || strcmp(a.positional[0], "asterisk-csv") != 0 || !slug) {
        fprintf(stderr,
                "usage: callhook import asterisk-csv FILE --tenant SLUG [--utc] [--db PATH]\n");
        ch_args_free(&a);
        return 2;
    }
    const char *path = a.positional[1];
    ch_tenant t = {0};
    FILE *f = NULL;
    ch_store *store = NULL;
    json_t *bad = json_array();
    uint64_t lines = 0, nbad = 0;
    importer im = {0};
    char *line = ch_malloc(MAX_LINE + 2);
    rc = 1;

    int r = ch_args_tenant(&a, slug, &t);
    if (r != CH_OK) {
        fprintf(stderr, "callhook: %s\n",
                r == CH_ENOTFOUND ? "no such tenant" : "cannot read the database");
        goto out;
    }
    if (!(f = fopen(path, "rb"))) {
        fprintf(stderr, "callhook: cannot open %s: %s\n", path, strerror(errno));
        goto out;
    }
    store = a.store; /* opened by ch_args_tenant, closed by ch_args_free */
    im.store = store;
    im.t = &t;
    ch_raw_request req = {.content_type = "text/csv",
                          .tenant_tz = utc ? "UTC" : t.timezone,
                          .tenant_country = t.country};
    while (fgets(line, MAX_LINE + 2, f)) {
        size_t len = strlen(line);
        lines++;
        char err[256] = "", field[64] = "";
        bool too_long = len > MAX_LINE && line[len - 1] != '\n';
        if (too_long) {
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n') {
            }
            snprintf(err, sizeof err, "longer than %d bytes", MAX_LINE);
        }
        bool blank = len == strspn(line, " \t\r\n");
        if (blank && !too_long) continue;
        json_t *row = NULL;
        ch_event *e = NULL;
        if (!too_long && ch_asterisk_csv_row(line, len, &row, err, sizeof err) == CH_OK &&
            ch_asterisk_event(row, &req, &e, err, sizeof err, field, sizeof field) == CH_OK) {
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            free(e->raw); /* keep the line as it was in the file */
            e->raw = ch_strndup(line, len);
            e->raw_len = len;
            free(e->content_type);
            e->content_type = ch_strdup("text/csv");
            im.evs[im.n++] = e;
            if (im.n == CHUNK) flush(&im);
        } else {
            nbad++;
            if (json_array_size(bad) < MAX_REPORTED)
                json_array_append_new(bad, json_pack("{s:I, s:s}", "line", (json_int_t)lines,
                                                     "error", err[0] ? err : "unreadable"));
        }
        json_decref(row);
        if (im.failed) break;
    }
    flush(&im);
    if (im.failed) {
        fprintf(stderr, "callhook: the database refused a write (disk full?); nothing of the "
                        "failed chunk was kept — run the import again\n");
        goto out;
    }
    json_t *report = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:O}", "tenant", slug, "file",
                               path, "lines", (json_int_t)lines, "stored", (json_int_t)im.stored,
                               "duplicates", (json_int_t)im.duplicates, "refused",
                               (json_int_t)im.refused, "bad", (json_int_t)nbad, "bad_lines", bad);
    if (a.json) {
        char *s = json_dumps(report, JSON_COMPACT);
        puts(s);
        free(s);
    } else {
        printf("imported %s into '%s': %llu lines, %llu new events, %llu already there, %llu "
               "refused (monthly limit), %llu bad\n",
               path, slug, (unsigned long long)lines, (unsigned long long)im.stored,
               (unsigned long long)im.duplicates, (unsigned long long)im.refused,
               (unsigned long long)nbad);
        size_t i;
        json_t *b;
        json_array_foreach(bad, i, b)
        {
            printf("  line %lld: %s\n", (long long)json_integer_value(json_object_get(b, "line")),
                   json_string_value(json_object_get(b, "error")));
        }
        if (nbad > MAX_REPORTED)
            printf("  … and %llu more\n", (unsigned long long)(nbad - MAX_REPORTED));
    }
    json_decref(report);
    rc = nbad ? 3 : 0; /* 3: imported, but some lines were bad */
out:
    for (size_t i = 0; i < im.n; i++)
        ch_event_free(im.evs[i]);
    if (f) fclose(f);
    free(line);
    json_decref(bad);
    ch_tenant_clear(&t);
    ch_args_free(&a);
    return rc;
}
