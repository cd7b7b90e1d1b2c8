/* Recordings to 16 kHz PCM (audio.h). Both decoders push interleaved float frames into one sink
 * that keeps the first two channels, resamples them in pieces and appends 16-bit samples, so
 * only the output grows with the recording's length, and the ceiling is checked as it grows. */
#include "enrich/audio.h"

#include "util/limits.h"
#include "util/mem.h"
#include "util/result.h"

#include <math.h>
#include <mpg123.h>
#include <pthread.h>
#include <samplerate.h>
#include <sndfile.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_FRAMES 4096 /* source frames decoded per step */
/* Fake stereo: the channels' difference is this far below their energy (-30 dB). A real
 * two-leg recording differs as much as the speakers' turns do; mono written twice, or joint
 * stereo with no side signal, differs by rounding. */
#define FAKE_STEREO_RATIO 1e-3

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

/* ---- the sink: channel selection, resampling, 16-bit output ------------------------------ */

typedef struct sink {
    ch_audio *out;
    int in_ch, keep;
    double ratio; /* CH_AUDIO_RATE / source rate */
    SRC_STATE *src;
    uint64_t in_frames, max_in_frames;
    size_t cap;      /* samples allocated per channel */
    float *in, *res; /* BLOCK_FRAMES × keep, and the resampler's output */
    size_t res_frames;
    char *err;
    size_t errlen;
} sink;

static int sink_init(sink *s, ch_audio *out, int channels, int rate, double max_seconds, char *err,
                     size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->out = out;
    s->err = err;
    s->errlen = errlen;
    if (channels < 1 || channels > CH_AUDIO_MAX_CHANNELS)
        return fail(err, errlen, CH_EINVAL, "unsupported channel count %d", channels);
    if (rate < CH_AUDIO_MIN_RATE || rate > CH_AUDIO_MAX_RATE)
        return fail(err, errlen, CH_EINVAL, "unsupported sample rate %d Hz", rate);
    s->in_ch = channels;
    s->keep = channels > 2 ? 2 : channels;
    s->ratio = (double)CH_AUDIO_RATE / rate;
    s->max_in_frames = (uint64_t)(max_seconds * rate);
    out->channels = s->keep;
    out->source_rate = rate;
    s->in = ch_malloc(sizeof(float) * BLOCK_FRAMES * s->keep);
    if (rate != CH_AUDIO_RATE) {
        int e = 0;
        /* SINC_FASTEST: measured in bench/pipeline, recognition is no better with the slower
         * converters (the model stops at 6.8 kHz) and it costs a tenth of decoding */
        s->src = src_new(SRC_SINC_FASTEST, s->keep, &e);
        if (!s->src) return fail(err, errlen, CH_ERR, "resampler: %s", src_strerror(e));
        s->res_frames = (size_t)(BLOCK_FRAMES * s->ratio) + 64;
        s->res = ch_malloc(sizeof(float) * s->res_frames * s->keep);
    }
    return CH_OK;
}

static void sink_free(sink *s)
{
    if (s->src) src_delete(s->src);
    free(s->in);
    free(s->res);
}

static int16_t to_s16(float x)
{
    if (!(x > -1.0f)) return x < 0 ? -32768 : 0; /* NaN as silence */
    if (x >= 1.0f) return 32767;
    return (int16_t)lrintf(x * 32767.0f);
}

static int append(sink *s, const float *frames, size_t n)
{
    ch_audio *a = s->out;
    if (a->samples + n > CH_AUDIO_MAX_SAMPLES)
        return fail(s->err, s->errlen, CH_ETOOBIG, "recording longer than the ceiling");
    if (a->samples + n > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16000;
        while (cap < a->samples + n)
            cap *= 2;
        if (cap > CH_AUDIO_MAX_SAMPLES) cap = CH_AUDIO_MAX_SAMPLES;
        for (int c = 0; c < s->keep; c++)
            a->pcm[c] = ch_realloc(a->pcm[c], cap * sizeof(int16_t));
        s->cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < s->keep; c++)
            a->pcm[c][a->samples + i] = to_s16(frames[i * (size_t)s->keep + c]);
    a->samples += n;
    return CH_OK;
}

/* frames: n interleaved frames of in_ch channels (NULL, 0 with last set: flush) */
static int sink_push(sink *s, const float *frames, size_t n, int last)
{
    s->in_frames += n;
    if (s->in_frames > s->max_in_frames)
        return fail(s->err, s->errlen, CH_ETOOBIG, "recording longer than %.0f s",
                    (double)s->max_in_frames / s->out->source_rate);
    for (size_t done = 0; done < n || (last && done == n);) {
        size_t k = n - done < BLOCK_FRAMES ? n - done : BLOCK_FRAMES;
        for (size_t i = 0; i < k; i++)
            for (int c = 0; c < s->keep; c++) {
                float x = frames[(done + i) * (size_t)s->in_ch + c];
                s->in[i * (size_t)s->keep + c] = isfinite(x) ? x : 0.0f;
            }
        done += k;
        if (!s->src) {
            int rc = append(s, s->in, k);
            if (rc) return rc;
            if (last && done == n) break;
            continue;
        }
        int flush = last && done == n;
        SRC_DATA d = {.data_in = s->in, .input_frames = (long)k, .src_ratio = s->ratio};
        for (;;) {
            d.data_out = s->res;
            d.output_frames = (long)s->res_frames;
            d.end_of_input = flush;
            int e = src_process(s->src, &d);
            if (e) return fail(s->err, s->errlen, CH_ERR, "resampler: %s", src_strerror(e));
            int rc = append(s, s->res, (size_t)d.output_frames_gen);
            if (rc) return rc;
            d.data_in += d.input_frames_used * s->keep;
            d.input_frames -= d.input_frames_used;
            if (d.input_frames == 0 && (!flush || d.output_frames_gen == 0)) break;
        }
        if (flush) break;
    }
    return CH_OK;
}

/* ---- WAV through libsndfile's virtual I/O --------------------------------------------- */

typedef struct membuf {
    const unsigned char *data;
    sf_count_t len, pos;
} membuf;

static sf_count_t vio_len(void *u)
{
    return ((membuf *)u)->len;
}

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    membuf *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (off < -base || off > m->len - base) return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *u)
{
    membuf *m = u;
    if (count < 0) return 0;
    sf_count_t n = m->len - m->pos < count ? m->len - m->pos : count;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *u)
{
    return 0; /* read only */
}

static sf_count_t vio_tell(void *u)
{
    return ((membuf *)u)->pos;
}

static int wav_subtype_ok(int subtype)
{
    switch (subtype) {
    case SF_FORMAT_PCM_S8:
    case SF_FORMAT_PCM_U8:
    case SF_FORMAT_PCM_16:
    case SF_FORMAT_PCM_24:
    case SF_FORMAT_PCM_32:
    case SF_FORMAT_FLOAT:
    case SF_FORMAT_DOUBLE:
    case SF_FORMAT_ULAW:
    case SF_FORMAT_ALAW:
    case SF_FORMAT_IMA_ADPCM:
    case SF_FORMAT_MS_ADPCM:
    case SF_FORMAT_GSM610:
        return 1;
    default:
        return 0;
    }
}

static int decode_wav(const unsigned char *data, size_t len, double max_seconds, ch_audio *out,
                      char *err, size_t errlen)
{
    membuf m = {data, (sf_count_t)len, 0};
    SF_VIRTUAL_IO io = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    SF_INFO info = {0};
    sink s = {0};
    float *buf = NULL;
    int rc = CH_OK;
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &m);
    if (!sf)
        return fail(err, errlen, CH_EINVAL, "unsupported or corrupt WAV file (%s)",
                    sf_strerror(NULL));
    int type = info.format & SF_FORMAT_TYPEMASK;
    if (type != SF_FORMAT_WAV && type != SF_FORMAT_WAVEX && type != SF_FORMAT_RF64) {
        rc = fail(err, errlen, CH_EINVAL, "not a WAV or MP3 file");
        goto out;
    }
    if (!wav_subtype_ok(info.format & SF_FORMAT_SUBMASK)) {
        rc = fail(err, errlen, CH_EINVAL, "unsupported WAV encoding (0x%x)",
                  (unsigned)(info.format & SF_FORMAT_SUBMASK));
        goto out;
    }
    rc = sink_init(&s, out, info.channels, info.samplerate, max_seconds, err, errlen);
    if (rc) goto out;
    /* the header's length first: a 10-hour file is refused before anything is decoded */
    if (info.frames > 0 && (uint64_t)info.frames > s.max_in_frames) {
        rc = fail(err, errlen, CH_ETOOBIG, "recording of %.0f s, longer than %.0f s",
                  (double)info.frames / info.samplerate, max_seconds);
        goto out;
    }
    buf = ch_malloc(sizeof(float) * BLOCK_FRAMES * (size_t)info.channels);
    for (;;) {
        sf_count_t n = sf_readf_float(sf, buf, BLOCK_FRAMES);
        if (n <= 0) break;
        rc = sink_push(&s, buf, (size_t)n, 0);
        if (rc) goto out;
    }
    if (sf_error(sf)) {
        rc = fail(err, errlen, CH_EINVAL, "corrupt WAV data (%s)", sf_strerror(sf));
        goto out;
    }
    rc = sink_push(&s, NULL, 0, 1);
    if (rc) goto out;
    out->seconds = (double)s.in_frames / info.samplerate;
out:
    free(buf);
    sink_free(&s);
    sf_close(sf);
    return rc;
}

/* ---- MP3 through libmpg123's feed reader ------------------------------------------------ */

static pthread_once_t mpg123_once = PTHREAD_ONCE_INIT;
static void mpg123_setup(void)
{
    mpg123_init(); /* a no-op since 1.27, required before */
}

static int decode_mp3(const unsigned char *data, size_t len, double max_seconds, ch_audio *out,
                      char *err, size_t errlen)
{
    pthread_once(&mpg123_once, mpg123_setup);
    int e = 0, rc = CH_OK, have_format = 0;
    long rate = 0;
    int channels = 0, enc = 0;
    sink s = {0};
    float *fbuf = NULL;
    int16_t *pcm = ch_malloc(sizeof(int16_t) * BLOCK_FRAMES * 2);
    mpg123_handle *mh = mpg123_new(NULL, &e);
    if (!mh) {
        rc = fail(err, errlen, CH_ERR, "MP3 decoder: %s", mpg123_plain_strerror(e));
        goto out;
    }
    /* quiet; a stream whose frames stop parsing is an error, not something to hunt through
     * megabytes of junk for; 16-bit output at whatever rate and channel count the file has */
    mpg123_param(mh, MPG123_ADD_FLAGS, MPG123_QUIET, 0);
    mpg123_param(mh, MPG123_RESYNC_LIMIT, 4096, 0);
    mpg123_format_none(mh);
    const long *rates;
    size_t nrates;
    mpg123_rates(&rates, &nrates);
    for (size_t i = 0; i < nrates; i++)
        mpg123_format(mh, rates[i], MPG123_MONO | MPG123_STEREO, MPG123_ENC_SIGNED_16);
    if (mpg123_open_feed(mh) != MPG123_OK || mpg123_feed(mh, data, len) != MPG123_OK) {
        rc = fail(err, errlen, CH_ERR, "MP3 decoder: %s", mpg123_strerror(mh));
        goto out;
    }
    for (;;) {
        size_t done = 0;
        int r = mpg123_read(mh, (unsigned char *)pcm, sizeof(int16_t) * BLOCK_FRAMES * 2, &done);
        if (r == MPG123_NEW_FORMAT) {
            long nrate;
            int nch, nenc;
            mpg123_getformat(mh, &nrate, &nch, &nenc);
            if (have_format && (nrate != rate || nch != channels)) {
                rc = fail(err, errlen, CH_EINVAL, "MP3 changes its format midway");
                goto out;
            }
            if (!have_format) {
                rate = nrate, channels = nch, enc = nenc;
                have_format = 1;
                if (enc != MPG123_ENC_SIGNED_16) {
                    rc = fail(err, errlen, CH_EINVAL, "unsupported MP3 encoding");
                    goto out;
                }
                rc = sink_init(&s, out, channels, (int)rate, max_seconds, err, errlen);
                if (rc) goto out;
                fbuf = ch_malloc(sizeof(float) * BLOCK_FRAMES * 2);
            }
        }
        if (done && have_format) {
            size_t frames = done / sizeof(int16_t) / (size_t)channels;
            for (size_t i = 0; i < frames * (size_t)channels; i++)
                fbuf[i] = pcm[i] / 32768.0f;
            rc = sink_push(&s, fbuf, frames, 0);
            if (rc) goto out;
        }
        if (r == MPG123_OK || r == MPG123_NEW_FORMAT) continue;
        if (r == MPG123_NEED_MORE || r == MPG123_DONE) break; /* all the bytes decoded */
        rc = fail(err, errlen, CH_EINVAL, "corrupt MP3 frame (%s)", mpg123_strerror(mh));
        goto out;
    }
    if (!have_format) {
        rc = fail(err, errlen, CH_EINVAL, "corrupt MP3 frame (no frame decoded)");
        goto out;
    }
    rc = sink_push(&s, NULL, 0, 1);
    if (rc) goto out;
    out->seconds = (double)s.in_frames / rate;
out:
    free(pcm);
    free(fbuf);
    sink_free(&s);
    if (mh) mpg123_delete(mh);
    return rc;
}

/* ---- the public part -------------------------------------------------------------------- */

static int mp3_frame_header(const unsigned char *p)
{
    return p[0] == 0xff && (p[1] & 0xe0) == 0xe0 && ((p[1] >> 3) & 3) != 1 && /* version */
           ((p[1] >> 1) & 3) != 0 &&                                          /* layer */
           (p[2] >> 4) != 15 && ((p[2] >> 2) & 3) != 3; /* bitrate, sample rate */
}

const char *ch_audio_sniff(const unsigned char *data, size_t len)
{
    if (len >= 12 && (!memcmp(data, "RIFF", 4) || !memcmp(data, "RF64", 4)) &&
        !memcmp(data + 8, "WAVE", 4))
        return "audio/wav";
    if (len >= 10 && !memcmp(data, "ID3", 3)) return "audio/mpeg";
    if (len >= 4 && mp3_frame_header(data)) return "audio/mpeg";
    return NULL;
}

/* Both channels the same signal: report one (see FAKE_STEREO_RATIO). */
static void fold_fake_stereo(ch_audio *a)
{
    if (a->channels != 2) return;
    double diff = 0, energy = 0;
    for (size_t i = 0; i < a->samples; i++) {
        double l = a->pcm[0][i], r = a->pcm[1][i];
        diff += (l - r) * (l - r);
        energy += (l * l + r * r) / 2;
    }
    if (diff > FAKE_STEREO_RATIO * energy) return;
    free(a->pcm[1]);
    a->pcm[1] = NULL;
    a->channels = 1;
}

int ch_audio_decode(const unsigned char *data, size_t len, double max_seconds, ch_audio *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen) err[0] = 0;
    if (!(max_seconds > 0)) max_seconds = CH_AUDIO_MAX_SECONDS_DEFAULT;
    if (max_seconds > CH_AUDIO_MAX_SECONDS_CEILING) max_seconds = CH_AUDIO_MAX_SECONDS_CEILING;
    const char *mime = data ? ch_audio_sniff(data, len) : NULL;
    int rc;
    if (!mime) return fail(err, errlen, CH_EINVAL, "not a WAV or MP3 file");
    if (!strcmp(mime, "audio/wav")) {
        out->format = "wav";
        rc = decode_wav(data, len, max_seconds, out, err, errlen);
    } else {
        out->format = "mp3";
        rc = decode_mp3(data, len, max_seconds, out, err, errlen);
    }
    out->mime = mime;
    if (rc == CH_OK && out->samples == 0) rc = fail(err, errlen, CH_EINVAL, "no audio in the file");
    if (rc) {
        ch_audio_free(out);
        return rc;
    }
    fold_fake_stereo(out);
    return CH_OK;
}

void ch_audio_free(ch_audio *a)
{
    if (!a) return;
    free(a->pcm[0]);
    free(a->pcm[1]);
    a->pcm[0] = a->pcm[1] = NULL;
    a->samples = 0;
    a->channels = 0;
}
