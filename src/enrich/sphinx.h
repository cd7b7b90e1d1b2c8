/* The embedded transcription engine: Debian's pocketsphinx (0.8 "5prealpha" C API) with its
 * en-us model — English only, 16 kHz, offline, and poor on free speech (about a third of the
 * words of espeak-ng speech, docs/internals/enrichment-audio.md), so the tenant's dictionary
 * words are also looked for by a keyword-spotting pass, which catches city names free decoding
 * misses. Loading the model costs about a second: one ch_sphinx per worker thread, reused for
 * every call; a ch_sphinx is used by one thread at a time. */
#ifndef CH_ENRICH_SPHINX_H
#define CH_ENRICH_SPHINX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CH_SPHINX_MODEL_DIR                                                                        \
    "/usr/share/pocketsphinx/model/en-us" /* Debian's pocketsphinx-en-us                           \
                                           */

typedef struct ch_sphinx ch_sphinx;

/* Loads the model from model_dir (NULL: CH_SPHINX_MODEL_DIR; it holds en-us/, en-us.lm.bin and
 * cmudict-en-us.dict). NULL with a reason in err when a file is missing or does not load. */
ch_sphinx *ch_sphinx_new(const char *model_dir, char *err, size_t errlen);
void ch_sphinx_free(ch_sphinx *s);

/* Transcribes 16 kHz mono PCM. The audio is cut on pauses (an energy detector) into pieces of
 * CH_SPHINX_CHUNK_MAX_SEC at most, each decoded as one utterance, so memory stays bounded
 * whatever the length.
 * segments: a JSON array of {"start":s,"end":s,"text":"..."} (seconds, one per pause-separated
 * piece with words; fillers, <s> and </s> removed); silence gives an empty array.
 * keyphrases (may be NULL/0): dictionary words or phrases (cities, services), lower-cased;
 * those whose every word is in the model's dictionary are spotted in a second pass and each
 * detection is reported in hits as {"phrase":"boston","start":s,"end":s} (by start time);
 * the others (out of vocabulary, characters outside [a-z0-9'.-], too long, past
 * CH_SPHINX_KEYPHRASES_MAX) are skipped and listed in skipped (a JSON array of the phrases as
 * given), so the docs and UI can say so. Each of segments, hits, skipped may be NULL (not
 * wanted); each one returned is the caller's (json_decref). CH_OK; CH_EINVAL (no PCM,
 * too long); CH_ERR with a reason in err when the decoder fails. */
int ch_sphinx_transcribe(ch_sphinx *s, const int16_t *pcm, size_t samples,
                         const char *const *keyphrases, size_t nkeys, json_t **segments,
                         json_t **hits, json_t **skipped, char *err, size_t errlen);

/* The spotting threshold of a keyphrase of `phones` phones: 1e-(4 × phones), measured in
 * bench/pipeline (shorter phrases need a stricter ratio, longer ones a looser one). */
double ch_sphinx_kws_threshold(int phones);

#endif
