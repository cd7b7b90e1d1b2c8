/* Recordings (src/enrich/audio.h): arbitrary bytes, as a provider may serve them, decoded to
 * 16 kHz PCM. Checks: no crash, leak or overflow; a success has the shape the header promises
 * (1 or 2 channels, samples matching the duration, a second channel only in stereo); a
 * refusal has a reason and holds no samples. The ceiling is 30 s so that a header claiming
 * hours is refused before anything is decoded, as in production. */
#include "enrich/audio.h"
#include "util/result.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > 64 * 1024) return 0;
    ch_audio a;
    char err[256];
    int rc = ch_audio_decode(data, size, 30, &a, err, sizeof err);
    if (rc != CH_OK) {
        if (rc != CH_EINVAL && rc != CH_ETOOBIG && rc != CH_ERR) abort();
        if (!err[0] || a.pcm[0] || a.pcm[1] || a.samples) abort();
        return 0;
    }
    if (a.channels < 1 || a.channels > 2 || !a.pcm[0] || (a.channels == 2) != !!a.pcm[1]) abort();
    if (!a.samples || !(a.seconds > 0) || a.seconds > 30.5) abort();
    if (fabs((double)a.samples - a.seconds * CH_AUDIO_RATE) > 0.01 * CH_AUDIO_RATE + 64) abort();
    if (strcmp(a.mime, ch_audio_sniff(data, size))) abort();
    ch_audio_free(&a);
    return 0;
}
