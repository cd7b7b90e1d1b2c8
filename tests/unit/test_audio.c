/* Recordings decoded to 16 kHz PCM (src/enrich/audio.h). The files are made at test time by
 * espeak-ng and sox (Debian packages of scripts/deps.sh): one sentence written as 16 kHz PCM,
 * 8 kHz µ-law and A-law, 24-bit, float, unsigned 8-bit and MP3, a stereo file of two voices
 * saying different things, and mono copied to two channels. Expected lengths come from sox's
 * own count of the synthesised file; content is checked by correlation with the 16 kHz PCM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "enrich/audio.h"
#include "enrich/recordings.h"
#include "util/result.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENTENCE "I would like to book a plumber in Boston tomorrow morning please"
#define OTHER    "The water heater in my kitchen is broken and leaking everywhere"

static char dir[256];
static double spoken_seconds; /* of the synthesised sentence, by sox */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) fail_msg("command failed: %s", cmd);
}

static unsigned char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)n + 1);
    assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return data;
}

static void decode_file(const char *name, ch_audio *a)
{
    size_t len;
    unsigned char *data = slurp(name, &len);
    char err[256] = "";
    int rc = ch_audio_decode(data, len, 0, a, err, sizeof err);
    free(data);
    if (rc != CH_OK) fail_msg("%s: %d %s", name, rc, err);
}

/* normalised correlation of two signals over their common length, at their best lag within
 * ±lag samples (a resampler's filter delays by a few samples) */
static double correlation(const int16_t *x, const int16_t *y, size_t n, int lag)
{
    double best = -1;
    for (int d = -lag; d <= lag; d++) {
        double xy = 0, xx = 0, yy = 0;
        for (size_t i = (size_t)(lag + 1); i + (size_t)(lag + 1) < n; i++) {
            double a = x[i], b = y[(size_t)((long)i + d)];
            xy += a * b, xx += a * a, yy += b * b;
        }
        double c = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
        if (c > best) best = c;
    }
    return best;
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ch-audio-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return -1;
    sh("cd %s && espeak-ng -v en-us -s 140 -w a.wav '" SENTENCE "'"
       " && espeak-ng -v en-us+f3 -s 160 -w b.wav '" OTHER "'"
       " && sox -R a.wav -r 16000 -b 16 -e signed-integer p16.wav"
       " && sox -R a.wav -r 8000 -e mu-law u8k.wav"
       " && sox -R a.wav -r 8000 -e a-law a8k.wav"
       " && sox -R a.wav -r 16000 -b 24 p24.wav"
       " && sox -R a.wav -r 44100 -e floating-point -b 32 f32.wav"
       " && sox -R a.wav -r 8000 -b 8 -e unsigned-integer p8.wav"
       " && sox -R a.wav -r 16000 m16.mp3"
       " && sox -R a.wav -r 44100 -c 2 st44.mp3"
       " && sox -R b.wav -r 16000 -b 16 -e signed-integer q16.wav"
       " && sox -R -M p16.wav q16.wav stereo.wav"
       " && sox -R p16.wav -c 2 fake.wav"
       " && sox -R -M q16.wav p16.wav q16.wav three.wav"
       " && soxi -s a.wav > a.samples",
       dir);
    size_t len;
    unsigned char *n = slurp("a.samples", &len);
    n[len] = 0;
    spoken_seconds = atof((char *)n) / 22050.0; /* espeak-ng writes 22050 Hz */
    free(n);
    return spoken_seconds > 1 ? 0 : -1;
}

static int teardown(void **state)
{
    sh("rm -rf '%s'", dir);
    return 0;
}

/* ---- formats ---------------------------------------------------------------------------- */

static void check_mono(const char *name, int rate, const char *format, double tolerance)
{
    ch_audio a;
    decode_file(name, &a);
    if (a.channels != 1 || a.source_rate != rate || strcmp(a.format, format) ||
        fabs(a.seconds - spoken_seconds) > tolerance)
        fail_msg("%s: %d channels, %d Hz, %s, %.3f s (spoken %.3f s)", name, a.channels,
                 a.source_rate, a.format, a.seconds, spoken_seconds);
    assert_null(a.pcm[1]);
    /* 16 kHz samples for the whole length */
    assert_true(fabs((double)a.samples - a.seconds * CH_AUDIO_RATE) < 0.01 * CH_AUDIO_RATE);
    ch_audio_free(&a);
}

static void every_wav_encoding_decodes_to_16k_with_its_length(void **state)
{
    check_mono("p16.wav", 16000, "wav", 0.01);
    check_mono("u8k.wav", 8000, "wav", 0.01);
    check_mono("a8k.wav", 8000, "wav", 0.01);
    check_mono("p24.wav", 16000, "wav", 0.01);
    check_mono("f32.wav", 44100, "wav", 0.01);
    check_mono("p8.wav", 8000, "wav", 0.01);
}

static void mp3_decodes_with_its_length(void **state)
{
    /* an MP3 encoder adds a frame or two of delay and padding */
    check_mono("m16.mp3", 16000, "mp3", 0.15);
    ch_audio a;
    decode_file("m16.mp3", &a);
    assert_string_equal(a.mime, "audio/mpeg");
    ch_audio_free(&a);
}

/* the 8 kHz µ-law and A-law files carry the same speech as the 16 kHz PCM one, aligned: the
 * decoding and the resampling keep the waveform (0.992 measured; what is lost is above 4 kHz) */
static void resampled_telephone_audio_matches_the_wideband_file(void **state)
{
    ch_audio ref, u, al, f;
    decode_file("p16.wav", &ref);
    decode_file("u8k.wav", &u);
    decode_file("a8k.wav", &al);
    decode_file("f32.wav", &f);
    size_t n = ref.samples < u.samples ? ref.samples : u.samples;
    double cu = correlation(ref.pcm[0], u.pcm[0], n, 8);
    double ca = correlation(ref.pcm[0], al.pcm[0], n, 8);
    double cf = correlation(ref.pcm[0], f.pcm[0], n, 8);
    if (cu < 0.97 || ca < 0.97 || cf < 0.99)
        fail_msg("correlation µ-law %.3f, A-law %.3f, float 44.1 kHz %.3f", cu, ca, cf);
    ch_audio_free(&ref);
    ch_audio_free(&u);
    ch_audio_free(&al);
    ch_audio_free(&f);
}

/* two voices saying different things keep two channels, each the file's own */
static void stereo_keeps_two_distinct_channels(void **state)
{
    ch_audio s, a, b;
    decode_file("stereo.wav", &s);
    decode_file("p16.wav", &a);
    decode_file("q16.wav", &b);
    assert_int_equal(s.channels, 2);
    assert_non_null(s.pcm[1]);
    size_t na = a.samples < s.samples ? a.samples : s.samples;
    size_t nb = b.samples < s.samples ? b.samples : s.samples;
    double left_a = correlation(s.pcm[0], a.pcm[0], na, 0);
    double right_b = correlation(s.pcm[1], b.pcm[0], nb, 0);
    double left_right = correlation(s.pcm[0], s.pcm[1], na < nb ? na : nb, 0);
    if (left_a < 0.999 || right_b < 0.999 || fabs(left_right) > 0.3)
        fail_msg("left~a %.3f right~b %.3f left~right %.3f", left_a, right_b, left_right);
    ch_audio_free(&s);

    /* three channels (b, a, b): the first two are kept, in order */
    decode_file("three.wav", &s);
    assert_int_equal(s.channels, 2);
    double left_b = correlation(s.pcm[0], b.pcm[0], nb, 0);
    double right_a = correlation(s.pcm[1], a.pcm[0], na, 0);
    if (left_b < 0.999 || right_a < 0.999) fail_msg("left~b %.3f right~a %.3f", left_b, right_a);
    ch_audio_free(&s);
    ch_audio_free(&a);
    ch_audio_free(&b);
}

/* mono written to both channels is one channel: in WAV, and in a 44.1 kHz stereo MP3 */
static void fake_stereo_is_reported_as_one_channel(void **state)
{
    ch_audio a;
    decode_file("fake.wav", &a);
    assert_int_equal(a.channels, 1);
    assert_null(a.pcm[1]);
    ch_audio_free(&a);
    decode_file("st44.mp3", &a);
    assert_int_equal(a.channels, 1);
    assert_int_equal(a.source_rate, 44100);
    ch_audio_free(&a);
}

static void sniff_names_the_type_by_header(void **state)
{
    size_t len;
    unsigned char *w = slurp("p16.wav", &len);
    assert_string_equal(ch_audio_sniff(w, len), "audio/wav");
    assert_null(ch_audio_sniff(w, 8)); /* "RIFF" and a size: not yet a WAVE */
    free(w);
    unsigned char *m = slurp("m16.mp3", &len);
    assert_string_equal(ch_audio_sniff(m, len), "audio/mpeg");
    free(m);
    assert_null(ch_audio_sniff((const unsigned char *)"{\"json\":1}", 10));
    assert_null(ch_audio_sniff((const unsigned char *)"", 0));
}

/* ---- refusals --------------------------------------------------------------------------- */

static void expect_einval(const unsigned char *data, size_t len, const char *reason)
{
    ch_audio a;
    char err[256] = "";
    int rc = ch_audio_decode(data, len, 0, &a, err, sizeof err);
    if (rc != CH_EINVAL || !strstr(err, reason))
        fail_msg("rc %d, err \"%s\", expected CH_EINVAL and \"%s\"", rc, err, reason);
    assert_int_equal(a.samples, 0);
    assert_null(a.pcm[0]);
}

static void truncated_and_corrupt_files_are_refused_with_a_reason(void **state)
{
    size_t len;
    unsigned char *w = slurp("p16.wav", &len);
    expect_einval(w, 30, "WAV");   /* the header cut */
    memcpy(w + 20, "\x55\x00", 2); /* format tag 0x55: MP3 inside a WAV */
    expect_einval(w, len, "WAV");
    free(w);
    unsigned char *m = slurp("m16.mp3", &len);
    size_t head = m[0] == 'I' ? 10 + ((m[6] << 21) | (m[7] << 14) | (m[8] << 7) | m[9]) : 0;
    assert_true(head + 8 < len);
    for (size_t i = head + 4; i < len; i++)
        m[i] = (unsigned char)(i * 7919 >> 3); /* frames gone */
    expect_einval(m, len, "MP3");
    free(m);
    expect_einval((const unsigned char *)"", 0, "not a WAV or MP3 file");
}

static void random_bytes_are_refused(void **state)
{
    unsigned char buf[4096];
    uint32_t x = 12345;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1664525u + 1013904223u;
            buf[i] = (unsigned char)(x >> 24);
        }
        if (buf[0] == 0xff || buf[0] == 'I' || buf[0] == 'R') buf[0] = 0; /* plain garbage */
        expect_einval(buf, sizeof buf, "not a WAV or MP3 file");
        /* garbage behind a real header: refused too, never a crash */
        ch_audio a;
        char err[128];
        memcpy(buf, "RIFF\xf0\x0f\0\0WAVEfmt ", 16);
        assert_int_equal(ch_audio_decode(buf, sizeof buf, 0, &a, err, sizeof err), CH_EINVAL);
        memcpy(buf, "ID3\x03\0\0\0\0\0\x10", 10);
        assert_int_equal(ch_audio_decode(buf, sizeof buf, 0, &a, err, sizeof err), CH_EINVAL);
    }
}

static void a_recording_past_max_seconds_is_too_big(void **state)
{
    const char *names[] = {"p16.wav", "u8k.wav", "m16.mp3"};
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        unsigned char *d = slurp(names[i], &len);
        ch_audio a;
        char err[256] = "";
        assert_int_equal(ch_audio_decode(d, len, 1.0, &a, err, sizeof err), CH_ETOOBIG);
        assert_null(a.pcm[0]);
        assert_true(strlen(err) > 0);
        assert_int_equal(ch_audio_decode(d, len, spoken_seconds + 1, &a, err, sizeof err), CH_OK);
        ch_audio_free(&a);
        free(d);
    }
}

/* ---- recordings kept by content ----------------------------------------------------------- */

/* One recording shared by several calls is stored by several workers at once: each store
 * succeeds, the file holds exactly the bytes, and no temporary file is left behind. (With one
 * temporary name per process, the second rename found nothing and the stage was retried.) */
#define STORERS 8
static unsigned char *shared_bytes;
static size_t shared_len;
static char store_dir[300];

static void *store_once(void *arg)
{
    char sha[CH_SHA256_HEX], err[256] = "";
    int *rc = arg;
    *rc = ch_recording_store(store_dir, shared_bytes, shared_len, sha, err, sizeof err);
    return NULL;
}

static void concurrent_stores_of_the_same_bytes_all_succeed(void **state)
{
    (void)state;
    shared_bytes = slurp("p16.wav", &shared_len);
    for (int round = 0; round < 20; round++) {
        snprintf(store_dir, sizeof store_dir, "%s/rec%d", dir, round);
        pthread_t th[STORERS];
        int rc[STORERS];
        for (int i = 0; i < STORERS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, store_once, &rc[i]), 0);
        for (int i = 0; i < STORERS; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(rc[i], CH_OK);
        }
        char sha[CH_SHA256_HEX], path[1024], err[256];
        ch_sha256_hex(shared_bytes, shared_len, sha);
        assert_int_equal(ch_recording_path(store_dir, sha, path, sizeof path), CH_OK);
        unsigned char *back;
        size_t len;
        assert_int_equal(
            ch_recording_load(store_dir, sha, shared_len, &back, &len, err, sizeof err), CH_OK);
        assert_int_equal(len, shared_len);
        assert_memory_equal(back, shared_bytes, len);
        free(back);
        char sub[400];
        snprintf(sub, sizeof sub, "%s/%.2s", store_dir, sha);
        DIR *d = opendir(sub);
        assert_non_null(d);
        int files = 0;
        for (struct dirent *de; (de = readdir(d));)
            if (de->d_name[0] != '.') files++;
        closedir(d);
        assert_int_equal(files, 1); /* the recording, no temporary file */
    }
    /* what a store killed midway leaves is removed at the next start, and only that */
    char sha[CH_SHA256_HEX], stray[1200], other[1200];
    ch_sha256_hex(shared_bytes, shared_len, sha);
    snprintf(stray, sizeof stray, "%s/rec0/%.2s/%s.tmp.4242.7", dir, sha, sha);
    snprintf(other, sizeof other, "%s/rec0/%.2s/notes.tmp.txt", dir, sha);
    FILE *fp = fopen(stray, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_non_null(fp = fopen(other, "w"));
    fclose(fp);
    snprintf(store_dir, sizeof store_dir, "%s/rec0", dir);
    assert_int_equal(ch_recording_sweep_temp(store_dir), 1);
    assert_int_equal(access(stray, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0);
    char kept[1100];
    assert_int_equal(ch_recording_path(store_dir, sha, kept, sizeof kept), CH_OK);
    assert_int_equal(access(kept, F_OK), 0);
    assert_int_equal(ch_recording_sweep_temp("/nonexistent-dir"), 0);
    free(shared_bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_wav_encoding_decodes_to_16k_with_its_length),
        cmocka_unit_test(mp3_decodes_with_its_length),
        cmocka_unit_test(resampled_telephone_audio_matches_the_wideband_file),
        cmocka_unit_test(stereo_keeps_two_distinct_channels),
        cmocka_unit_test(fake_stereo_is_reported_as_one_channel),
        cmocka_unit_test(sniff_names_the_type_by_header),
        cmocka_unit_test(truncated_and_corrupt_files_are_refused_with_a_reason),
        cmocka_unit_test(random_bytes_are_refused),
        cmocka_unit_test(a_recording_past_max_seconds_is_too_big),
        cmocka_unit_test(concurrent_stores_of_the_same_bytes_all_succeed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
