/* Recordings kept under the data directory, content-addressed (docs/enrichment.md): a file is
 * named by the SHA-256 of its bytes (<dir>/<first two hex digits>/<hash>), written to a
 * temporary file, synced and renamed, so a crash never leaves half a file under a real name and
 * the same recording fetched twice is kept once. */
#ifndef CH_ENRICH_RECORDINGS_H
#define CH_ENRICH_RECORDINGS_H

#include <stddef.h>

#include "util/crypto.h"

/* Keeps bytes; sha_out: its hash (the name). CH_OK, or CH_ESTORE with a reason in err. */
int ch_recording_store(const char *dir, const unsigned char *bytes, size_t len,
                       char sha_out[CH_SHA256_HEX], char *err, size_t errlen);
/* The path of a kept recording (sha: 64 hex digits, checked). CH_OK or CH_EINVAL. */
int ch_recording_path(const char *dir, const char *sha, char *out, size_t outsz);
/* Reads a kept recording whole (at most max bytes). CH_OK, CH_ENOTFOUND, CH_ETOOBIG. */
int ch_recording_load(const char *dir, const char *sha, size_t max, unsigned char **bytes,
                      size_t *len, char *err, size_t errlen);
/* Removes a kept recording (retention). CH_OK also when it was gone already. */
int ch_recording_remove(const char *dir, const char *sha);
/* Removes the temporary files a store killed midway left (kill -9, power loss): run at start,
 * before any worker stores. Returns how many were removed. */
int ch_recording_sweep_temp(const char *dir);

#endif
