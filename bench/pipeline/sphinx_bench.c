/* The embedded transcription on its own (bench/pipeline/run.sh): loads the model once, then
 * decodes (enrich/audio.h) and transcribes (enrich/sphinx.h) each file, timing both in CPU
 * seconds of this thread. Output, one line per file, tab-separated:
 *   file  audio_seconds  decode_cpu  transcribe_cpu  text  hits
 * after a first line "load<TAB>cpu_seconds". text is the segments' words joined; hits the
 * spotted keyphrases, comma-separated.
 *   sphinx_bench [--model DIR] [--keys a,b,c] FILE...
 * A file is named "-" never; the run is bounded by the files given (the script gives 20). */
#include "enrich/audio.h"
#include "enrich/sphinx.h"
#include "util/result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *data = NULL;
    size_t cap = 0, n = 0, k;
    do {
        if (n == cap) data = realloc(data, cap = cap ? cap * 2 : 65536);
        k = fread(data + n, 1, cap - n, f);
        n += k;
    } while (k > 0);
    fclose(f);
    *len = n;
    return data;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    char *keys_arg = NULL;
    const char *keys[256];
    size_t nkeys = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            keys_arg = argv[++i];
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: sphinx_bench [--model DIR] [--keys a,b,c] FILE...\n");
        return 2;
    }
    for (char *save = NULL, *k = keys_arg ? strtok_r(keys_arg, ",", &save) : NULL; k && nkeys < 256;
         k = strtok_r(NULL, ",", &save))
        keys[nkeys++] = k;

    char err[256];
    double t0 = cpu_now();
    ch_sphinx *s = ch_sphinx_new(model, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sphinx_bench: %s\n", err);
        return 1;
    }
    printf("load\t%.3f\n", cpu_now() - t0);
    int rc = 0;
    for (; i < argc; i++) {
        size_t len = 0;
        unsigned char *data = slurp(argv[i], &len);
        if (!data) {
            fprintf(stderr, "sphinx_bench: cannot read %s\n", argv[i]);
            rc = 1;
            continue;
        }
        ch_audio a;
        double t1 = cpu_now();
        int r = ch_audio_decode(data, len, 0, &a, err, sizeof err);
        double t2 = cpu_now();
        free(data);
        if (r) {
            fprintf(stderr, "sphinx_bench: %s: %s\n", argv[i], err);
            rc = 1;
            continue;
        }
        json_t *segs = NULL, *hits = NULL;
        r = ch_sphinx_transcribe(s, a.pcm[0], a.samples, keys, nkeys, &segs, &hits, NULL, err,
                                 sizeof err);
        double t3 = cpu_now();
        if (r) {
            fprintf(stderr, "sphinx_bench: %s: %s\n", argv[i], err);
            ch_audio_free(&a);
            rc = 1;
            continue;
        }
        printf("%s\t%.3f\t%.4f\t%.4f\t", argv[i], a.seconds, t2 - t1, t3 - t2);
        size_t j;
        json_t *v;
        json_array_foreach(segs, j, v)
            printf("%s%s", j ? " " : "", json_string_value(json_object_get(v, "text")));
        printf("\t");
        json_array_foreach(hits, j, v)
            printf("%s%s", j ? "," : "", json_string_value(json_object_get(v, "phrase")));
        printf("\n");
        json_decref(segs);
        json_decref(hits);
        ch_audio_free(&a);
    }
    ch_sphinx_free(s);
    return rc;
}
