/* pocketsphinx as the embedded transcription engine (sphinx.h). Settings and thresholds are
 * the ones bench/pipeline measured on this machine (docs/internals/enrichment-audio.md). */
#include "enrich/sphinx.h"

#include "util/buf.h"
#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <ctype.h>
#include <math.h>
#include <pocketsphinx.h>
#include <pthread.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FRAME            160 /* samples per 10 ms frame: the decoder's 100 frames a second */
#define FPS              100
#define GAP_FRAMES       30 /* a pause this long (0.3 s) ends a piece of speech */
#define PAD_FRAMES       20 /* silence kept either side of a piece (0.2 s), as the model expects */
#define MIN_SPEECH       10 /* pieces with less speech than this (0.1 s) are clicks */
#define SPEECH_FLOOR     45 /* dB (of 16-bit samples' power): quieter is never speech (-45 dBFS) */
#define KWS_FACTOR       4  /* threshold 1e-(KWS_FACTOR × phones), ch_sphinx_kws_threshold */
#define KWS_SEARCH       "ch_kws"
#define LM_SEARCH        "_default" /* the n-gram search ps_init makes */
#define PIECE_MAX_FRAMES ((size_t)CH_SPHINX_CHUNK_MAX_SEC * FPS)
#define TEXT_MAX         (64 * 1024) /* bytes of one piece's text: 20 s of speech is ~60 words */

struct ch_sphinx {
    cmd_ln_t *config;
    ps_decoder_t *ps;
    int warm;     /* a piece of speech was decoded (ch_sphinx_transcribe) */
    int16_t *buf; /* the piece being decoded, dithered (decode_piece) */
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* sphinxbase logs through one process-wide callback and FILE; "-logfn /dev/null" would reopen
 * that FILE on every ps_init, under the feet of another worker's decoder, so both are turned
 * off once here instead (the FILE is where ps_init prints its configuration). */
static void quiet(void *user, err_lvl_t level, const char *fmt, ...) {}
static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;
static void set_quiet(void)
{
    err_set_callback(quiet, NULL);
    err_set_logfp(NULL);
}

ch_sphinx *ch_sphinx_new(const char *model_dir, char *err, size_t errlen)
{
    pthread_once(&quiet_once, set_quiet);
    if (!model_dir) model_dir = CH_SPHINX_MODEL_DIR;
    char *hmm = ch_asprintf("%s/en-us", model_dir);
    char *lm = ch_asprintf("%s/en-us.lm.bin", model_dir);
    char *dict = ch_asprintf("%s/cmudict-en-us.dict", model_dir);
    char *mdef = ch_asprintf("%s/en-us/mdef", model_dir);
    ch_sphinx *s = NULL;
    /* sphinxbase exits the process on some missing files (E_FATAL): look first */
    const char *need[] = {mdef, lm, dict};
    for (size_t i = 0; i < 3; i++)
        if (access(need[i], R_OK)) {
            fail(err, errlen, CH_ENOTFOUND, "pocketsphinx model: %s not readable", need[i]);
            goto out;
        }
    s = ch_calloc(1, sizeof *s);
    /* The first pass alone (no flat-lexicon pass, no lattice best path) with pruning to 2000
     * HMMs and 10 word exits a frame: 6-8x real time against 2.6x for the defaults, for 2
     * points of word overlap (bench/pipeline). Silence frames are kept (-remove_silence no) so
     * that word times are times in the piece; the pieces are cut on pauses before. */
    s->config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-lm", lm, "-dict", dict,
                            "-fwdflat", "no", "-bestpath", "no", "-maxhmmpf", "2000", "-maxwpf",
                            "10", "-remove_silence", "no", NULL);
    if (!s->config) {
        fail(err, errlen, CH_ERR, "pocketsphinx: bad configuration");
        goto fail;
    }
    s->ps = ps_init(s->config);
    if (!s->ps) {
        fail(err, errlen, CH_ERR, "pocketsphinx: the model in %s does not load", model_dir);
        goto fail;
    }
    /* ps_init names its search "_default" (PS_DEFAULT_SEARCH, not in the public headers);
     * ps_get_search would say so but leaks an iterator in this version */
    if (ps_set_search(s->ps, LM_SEARCH) < 0) {
        fail(err, errlen, CH_ERR, "pocketsphinx: no language model search");
        goto fail;
    }
    goto out;
fail:
    ch_sphinx_free(s);
    s = NULL;
out:
    free(hmm);
    free(lm);
    free(dict);
    free(mdef);
    return s;
}

void ch_sphinx_free(ch_sphinx *s)
{
    if (!s) return;
    if (s->ps) ps_free(s->ps);
    if (s->config) cmd_ln_free_r(s->config);
    free(s->buf);
    free(s);
}

double ch_sphinx_kws_threshold(int phones)
{
    if (phones < 1) phones = 1;
    if (phones > 12) phones = 12; /* 1e-60 at most: looser, a long phrase matches anything */
    return pow(10.0, -(double)KWS_FACTOR * phones);
}

/* ---- cutting the audio on pauses ------------------------------------------------------- */

typedef struct piece {
    size_t a, b; /* frames [a, b) */
} piece;

typedef struct pieces {
    piece *v;
    size_t n, cap;
} pieces;

static void add_piece(pieces *p, size_t a, size_t b)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->v = ch_realloc(p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = (piece){a, b};
}

/* A run of speech [a, b) padded, cut at its quietest frame in the last quarter of every
 * CH_SPHINX_CHUNK_MAX_SEC (a word is rarely cut there: pauses are the quietest frames). */
static void add_run(pieces *p, const float *db, size_t nframes, size_t a, size_t b)
{
    const size_t max = PIECE_MAX_FRAMES;
    a = a > PAD_FRAMES ? a - PAD_FRAMES : 0;
    if (p->n && a < p->v[p->n - 1].b) a = p->v[p->n - 1].b;
    b = b + PAD_FRAMES < nframes ? b + PAD_FRAMES : nframes;
    while (b - a > max) {
        size_t cut = a + max * 3 / 4;
        for (size_t i = cut; i < a + max; i++)
            if (db[i] < db[cut]) cut = i;
        add_piece(p, a, cut);
        a = cut;
    }
    if (b > a) add_piece(p, a, b);
}

static void find_pieces(const int16_t *pcm, size_t samples, pieces *p)
{
    size_t nframes = (samples + FRAME - 1) / FRAME;
    float *db = ch_malloc((nframes ? nframes : 1) * sizeof *db);
    size_t hist[101] = {0};
    for (size_t f = 0; f < nframes; f++) {
        size_t from = f * FRAME, to = from + FRAME < samples ? from + FRAME : samples;
        double e = 0;
        for (size_t i = from; i < to; i++)
            e += (double)pcm[i] * pcm[i];
        db[f] = (float)(10 * log10(1 + e / (double)(to - from)));
        hist[db[f] > 100 ? 100 : (int)db[f]]++;
    }
    /* the threshold: 15 dB over the noise (10th percentile), but at most 10 dB under the
     * loud speech (90th percentile: a recording with hardly a pause), never under the floor */
    int p10 = -1, p90 = -1;
    size_t acc = 0;
    for (int i = 0; i <= 100; i++) {
        acc += hist[i];
        if (p10 < 0 && acc * 10 >= nframes) p10 = i;
        if (p90 < 0 && acc * 10 >= nframes * 9) p90 = i;
    }
    double thr = p10 + 15.0;
    if (thr > p90 - 10.0) thr = p90 - 10.0;
    if (thr < SPEECH_FLOOR) thr = SPEECH_FLOOR;

    size_t run_a = 0, last = 0, speech = 0;
    int in_run = 0;
    for (size_t f = 0; f < nframes; f++) {
        if (db[f] <= thr) continue;
        if (in_run && f - last > GAP_FRAMES) {
            if (speech >= MIN_SPEECH) add_run(p, db, nframes, run_a, last + 1);
            in_run = 0;
        }
        if (!in_run) run_a = f, speech = 0, in_run = 1;
        last = f;
        speech++;
    }
    if (in_run && speech >= MIN_SPEECH) add_run(p, db, nframes, run_a, last + 1);
    free(db);
}

/* ---- decoding --------------------------------------------------------------------------- */

static int decode_piece(ch_sphinx *s, const int16_t *pcm, size_t samples, const piece *pc)
{
    size_t from = pc->a * FRAME, to = pc->b * FRAME < samples ? pc->b * FRAME : samples;
    size_t n = to - from;
    /* Digital silence (runs of exact zeros: a muted leg, a gap a PBX inserts) gives the front
     * end log(0) and throws the model off for the whole piece (measured: the words of a
     * sentence after 1.5 s of zeros were lost); one bit of noise, the same for the same audio,
     * removes it. */
    if (!s->buf) s->buf = ch_malloc(sizeof(int16_t) * PIECE_MAX_FRAMES * FRAME);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        int v = pcm[from + i] + (int)(x & 1) - (int)((x >> 1) & 1);
        s->buf[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    if (ps_start_utt(s->ps) < 0) return CH_ERR;
    /* the whole piece at once (full_utt): the model's batch CMN sees all of it */
    if (ps_process_raw(s->ps, s->buf, n, 0, 1) < 0) {
        ps_end_utt(s->ps);
        return CH_ERR;
    }
    return ps_end_utt(s->ps) < 0 ? CH_ERR : CH_OK;
}

static double secs(size_t frame)
{
    return (double)frame / FPS;
}

/* the piece's words as one segment, or nothing when it has none */
static int transcribe_piece(ch_sphinx *s, const piece *pc, json_t *segments)
{
    ch_buf text;
    ch_buf_init(&text, TEXT_MAX);
    int first = -1, last = -1, rc = CH_OK;
    for (ps_seg_t *seg = ps_seg_iter(s->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        if (!w || !*w || w[0] == '<' || w[0] == '[') continue; /* <s> </s> <sil> [NOISE] */
        size_t n = strcspn(w, "(");                            /* "read(2)": a variant */
        int sf, ef;
        ps_seg_frames(seg, &sf, &ef);
        if (first < 0) first = sf;
        last = ef;
        if ((text.len && ch_buf_puts(&text, " ")) || ch_buf_append(&text, w, n)) {
            ps_seg_free(seg);
            break; /* a piece of 20 s never gets here; keep what fits */
        }
    }
    if (first >= 0 && text.len) {
        json_t *o = json_object();
        json_object_set_new(o, "start", json_real(secs(pc->a + (size_t)first)));
        json_object_set_new(o, "end", json_real(secs(pc->a + (size_t)last + 1)));
        json_object_set_new(o, "text", json_stringn(text.data, text.len));
        json_array_append_new(segments, o);
    }
    ch_buf_free(&text);
    return rc;
}

/* ---- keyphrases ------------------------------------------------------------------------ */

/* phrase lower-cased with single spaces into out (CH_SPHINX_KEYPHRASE_MAX + 1 bytes); 0 when it
 * cannot be a keyphrase (empty, too long, a character the kws file cannot carry) */
static int normalize(const char *in, char *out)
{
    size_t n = 0;
    for (const char *c = in; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == ' ' || ch == '\t') {
            if (n && out[n - 1] != ' ') {
                if (n >= CH_SPHINX_KEYPHRASE_MAX) return 0;
                out[n++] = ' ';
            }
            continue;
        }
        if (!(isascii(ch) && (isalnum(ch) || ch == '\'' || ch == '-' || ch == '.'))) return 0;
        if (n >= CH_SPHINX_KEYPHRASE_MAX) return 0;
        out[n++] = (char)tolower(ch);
    }
    if (n && out[n - 1] == ' ') n--;
    out[n] = 0;
    return n > 0;
}

/* phones of phrase (every word looked up in the dictionary), or -1 if a word is not there */
static int phrase_phones(ch_sphinx *s, char *phrase)
{
    int phones = 0;
    char *save = NULL;
    char copy[CH_SPHINX_KEYPHRASE_MAX + 1];
    snprintf(copy, sizeof copy, "%s", phrase);
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *ph = ps_lookup_word(s->ps, w);
        if (!ph) return -1;
        int k = 1;
        for (const char *c = ph; *c; c++)
            k += *c == ' ' && c[1] && c[1] != ' ';
        ckd_free(ph);
        phones += k;
    }
    return phones;
}

/* writes the kws file ("phrase /threshold/" lines) of the phrases the dictionary knows; the
 * others go to skipped. 1 if the file has a phrase, 0 if none, CH_ERR. */
static int write_kws(ch_sphinx *s, const char *const *keys, size_t nkeys, const char *path,
                     json_t *skipped, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");
    if (!f) return fail(err, errlen, CH_ERR, "keyphrases: cannot write %s", path);
    json_t *seen = json_object();
    int count = 0;
    for (size_t i = 0; i < nkeys; i++) {
        char norm[CH_SPHINX_KEYPHRASE_MAX + 1];
        int phones = -1;
        if (!keys[i]) continue;
        if (count < CH_SPHINX_KEYPHRASES_MAX && normalize(keys[i], norm)) {
            if (json_object_get(seen, norm)) continue; /* said twice */
            phones = phrase_phones(s, norm);
        }
        if (phones < 0) {
            json_array_append_new(skipped, json_string(keys[i]));
            continue;
        }
        json_object_set_new(seen, norm, json_true());
        fprintf(f, "%s /%.0e/\n", norm, ch_sphinx_kws_threshold(phones));
        count++;
    }
    json_decref(seen);
    if (fclose(f)) return fail(err, errlen, CH_ERR, "keyphrases: cannot write %s", path);
    return count > 0;
}

static int cmp_hits(const void *x, const void *y)
{
    double a = json_real_value(json_object_get(*(json_t *const *)x, "start"));
    double b = json_real_value(json_object_get(*(json_t *const *)y, "start"));
    return (a > b) - (a < b);
}

static void collect_hits(ch_sphinx *s, const piece *pc, json_t *hits)
{
    for (ps_seg_t *seg = ps_seg_iter(s->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        if (!w) continue;
        size_t n = strlen(w);
        while (n && w[n - 1] == ' ')
            n--; /* the kws search names a hit "boston " */
        if (!n) continue;
        int sf, ef;
        ps_seg_frames(seg, &sf, &ef);
        json_t *o = json_object();
        json_object_set_new(o, "phrase", json_stringn(w, n));
        json_object_set_new(o, "start", json_real(secs(pc->a + (size_t)sf)));
        json_object_set_new(o, "end", json_real(secs(pc->a + (size_t)ef + 1)));
        json_array_append_new(hits, o);
    }
}

static void sort_hits(json_t *hits)
{
    size_t n = json_array_size(hits);
    if (n < 2) return;
    json_t **v = ch_malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(hits, i));
    qsort(v, n, sizeof *v, cmp_hits);
    json_array_clear(hits);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(hits, v[i]);
    free(v);
}

static int spot(ch_sphinx *s, const int16_t *pcm, size_t samples, const pieces *p,
                const char *const *keys, size_t nkeys, json_t *hits, json_t *skipped, char *err,
                size_t errlen)
{
    const char *dir = getenv("TMPDIR");
    char *path = ch_asprintf("%s/ch-kws-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path), rc = CH_OK;
    if (fd < 0) {
        rc = fail(err, errlen, CH_ERR, "keyphrases: cannot create %s", path);
        free(path);
        return rc;
    }
    close(fd);
    rc = write_kws(s, keys, nkeys, path, skipped, err, errlen);
    if (rc <= 0) goto out; /* nothing the dictionary knows: no pass */
    rc = CH_OK;
    if (ps_set_kws(s->ps, KWS_SEARCH, path) < 0 || ps_set_search(s->ps, KWS_SEARCH) < 0) {
        rc = fail(err, errlen, CH_ERR, "pocketsphinx: the keyphrase search does not start");
        goto out;
    }
    for (size_t i = 0; i < p->n && rc == CH_OK; i++) {
        rc = decode_piece(s, pcm, samples, &p->v[i]);
        if (rc)
            fail(err, errlen, rc, "pocketsphinx: keyphrase decoding failed");
        else
            collect_hits(s, &p->v[i], hits);
    }
    sort_hits(hits);
    if (ps_set_search(s->ps, LM_SEARCH) < 0 && rc == CH_OK)
        rc = fail(err, errlen, CH_ERR, "pocketsphinx: cannot go back to the language model");
out:
    unlink(path);
    free(path);
    return rc;
}

int ch_sphinx_transcribe(ch_sphinx *s, const int16_t *pcm, size_t samples,
                         const char *const *keyphrases, size_t nkeys, json_t **segments,
                         json_t **hits, json_t **skipped, char *err, size_t errlen)
{
    json_t *seg = json_array(), *hit = json_array(), *skip = json_array();
    pieces p = {0};
    int rc = CH_OK;
    if (err && errlen) err[0] = 0;
    if (segments) *segments = NULL;
    if (hits) *hits = NULL;
    if (skipped) *skipped = NULL;
    if (!s || (!pcm && samples)) {
        rc = fail(err, errlen, CH_EINVAL, "no audio");
        goto out;
    }
    if (samples > CH_AUDIO_MAX_SAMPLES) {
        rc = fail(err, errlen, CH_EINVAL, "audio longer than the ceiling");
        goto out;
    }
    find_pieces(pcm, samples, &p);
    /* The first utterance of speech a decoder sees comes out differently from the same audio
     * decoded later (measured: 0.09 s later and other words; after any speech it is stable;
     * silence or noise does not settle it). So a new engine decodes its first piece of speech
     * once for nothing, and an answer depends on the audio alone, not on the worker's past. */
    if (!s->warm && p.n) {
        rc = decode_piece(s, pcm, samples, &p.v[0]);
        if (rc) fail(err, errlen, rc, "pocketsphinx: decoding failed");
        s->warm = 1;
    }
    for (size_t i = 0; i < p.n && rc == CH_OK; i++) {
        rc = decode_piece(s, pcm, samples, &p.v[i]);
        if (rc)
            fail(err, errlen, rc, "pocketsphinx: decoding failed");
        else
            rc = transcribe_piece(s, &p.v[i], seg);
    }
    if (rc == CH_OK && keyphrases && nkeys)
        rc = spot(s, pcm, samples, &p, keyphrases, nkeys, hit, skip, err, errlen);
out:
    free(p.v);
    if (rc == CH_OK) {
        if (segments) *segments = json_incref(seg);
        if (hits) *hits = json_incref(hit);
        if (skipped) *skipped = json_incref(skip);
    }
    json_decref(seg);
    json_decref(hit);
    json_decref(skip);
    return rc;
}
