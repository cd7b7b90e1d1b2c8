/* Recordings decoded from memory (the bytes a provider served) to 16 kHz signed 16-bit PCM per
 * channel, what the speech recogniser takes: WAV through libsndfile (PCM 8/16/24/32 bits, float,
 * µ-law, A-law, and the ADPCM/GSM codecs libsndfile reads), MP3 through libmpg123 (ID3 tags
 * skipped), resampled by libsamplerate. A stereo file whose two channels carry the same signal
 * ("fake stereo": a mono call written twice) is reported as one channel, so that it is not
 * transcribed twice as two speakers. Garbage gives CH_EINVAL with a reason, never a crash
 * (fuzz/fuzz_audio.c). */
#ifndef CH_ENRICH_AUDIO_H
#define CH_ENRICH_AUDIO_H

#include <stddef.h>
#include <stdint.h>

#define CH_AUDIO_RATE 16000 /* Hz of the decoded samples */

typedef struct ch_audio {
    int channels;       /* 1 or 2 kept (a file with more: the first two); 1 for fake stereo */
    int source_rate;    /* Hz of the file */
    double seconds;     /* duration */
    const char *format; /* "wav" or "mp3" (static) */
    const char *mime;   /* "audio/wav" or "audio/mpeg" (static) */
    int16_t *pcm[2];    /* CH_AUDIO_RATE samples per channel; pcm[1] NULL when channels == 1 */
    size_t samples;     /* per channel */
} ch_audio;

/* Decodes data[0..len) into *out (zeroed first; ch_audio_free it after CH_OK). max_seconds <= 0
 * means CH_AUDIO_MAX_SECONDS_DEFAULT, and it is capped at CH_AUDIO_MAX_SECONDS_CEILING.
 * CH_OK; CH_EINVAL with a reason in err ("not a WAV or MP3 file", "corrupt MP3 frame",
 * "unsupported WAV encoding", "no audio in the file"…); CH_ETOOBIG past max_seconds. */
int ch_audio_decode(const unsigned char *data, size_t len, double max_seconds, ch_audio *out,
                    char *err, size_t errlen);
void ch_audio_free(ch_audio *a);

/* The MIME type of these bytes by their header ("audio/wav", "audio/mpeg") or NULL. */
const char *ch_audio_sniff(const unsigned char *data, size_t len);

#endif
