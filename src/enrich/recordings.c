/* Content-addressed recordings: see recordings.h. */
#include "enrich/recordings.h"
#include "util/mem.h"
#include "util/result.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool hex64(const char *s)
{
    if (!s || strlen(s) != 64) return false;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

int ch_recording_path(const char *dir, const char *sha, char *out, size_t outsz)
{
    if (!hex64(sha)) return CH_EINVAL;
    int n = snprintf(out, outsz, "%s/%.2s/%s", dir, sha, sha);
    return n > 0 && (size_t)n < outsz ? CH_OK : CH_EINVAL;
}

static int mkdir_p(const char *path)
{
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int ch_recording_store(const char *dir, const unsigned char *bytes, size_t len,
                       char sha_out[CH_SHA256_HEX], char *err, size_t errlen)
{
    ch_sha256_hex(bytes, len, sha_out);
    char path[1024], sub[1024], tmp[1100];
    if (ch_recording_path(dir, sha_out, path, sizeof path) != CH_OK) {
        snprintf(err, errlen, "the recordings directory name is too long");
        return CH_ESTORE;
    }
    struct stat st;
    if (stat(path, &st) == 0 && (size_t)st.st_size == len) return CH_OK; /* kept already */
    snprintf(sub, sizeof sub, "%s/%.2s", dir, sha_out);
    if (mkdir_p(sub) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", sub, strerror(errno));
        return CH_ESTORE;
    }
    /* a name of this store's own: two workers keeping the same bytes at once (one recording
     * shared by calls) must not write into one temporary file and rename it under each other */
    static atomic_uint_fast64_t seq;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%" PRIuFAST64, path, (long)getpid(),
             (uint_fast64_t)atomic_fetch_add(&seq, 1));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return CH_ESTORE;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, bytes + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    /* on disk before its name says it is there (a full disk fails here, not later) */
    bool ok = off == len && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) saved = errno;
        unlink(tmp);
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(saved));
        return CH_ESTORE;
    }
    int dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { /* the rename itself */
        (void)fsync(dfd);
        close(dfd);
    }
    return CH_OK;
}

int ch_recording_load(const char *dir, const char *sha, size_t max, unsigned char **bytes,
                      size_t *len, char *err, size_t errlen)
{
    *bytes = NULL;
    *len = 0;
    char path[1024];
    if (ch_recording_path(dir, sha, path, sizeof path) != CH_OK) {
        snprintf(err, errlen, "not a recording's name");
        return CH_EINVAL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return CH_ENOTFOUND;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size > max) {
        close(fd);
        snprintf(err, errlen, "the recording is over %zu bytes", max);
        return CH_ETOOBIG;
    }
    unsigned char *b = ch_malloc((size_t)st.st_size + 1);
    size_t off = 0;
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, b + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        off += (size_t)r;
    }
    close(fd);
    *bytes = b;
    *len = off;
    return CH_OK;
}

int ch_recording_remove(const char *dir, const char *sha)
{
    char path[1024];
    if (ch_recording_path(dir, sha, path, sizeof path) != CH_OK) return CH_EINVAL;
    return unlink(path) == 0 || errno == ENOENT ? CH_OK : CH_ERR;
}

static bool hex2(const char *s)
{
    return strlen(s) == 2 && isxdigit((unsigned char)s[0]) && isxdigit((unsigned char)s[1]);
}

int ch_recording_sweep_temp(const char *dir)
{
    int removed = 0;
    DIR *top = opendir(dir);
    if (!top) return 0;
    for (struct dirent *d; (d = readdir(top));) {
        if (!hex2(d->d_name)) continue;
        char sub[1024];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, d->d_name) >= (int)sizeof sub) continue;
        DIR *in = opendir(sub);
        if (!in) continue;
        for (struct dirent *f; (f = readdir(in));) {
            /* "<sha>.tmp.<pid>.<n>": only the store's own temporary names */
            const char *t = strstr(f->d_name, ".tmp.");
            if (!t || t - f->d_name != 64) continue;
            char path[1400];
            if (snprintf(path, sizeof path, "%s/%s", sub, f->d_name) >= (int)sizeof path) continue;
            if (unlink(path) == 0) removed++;
        }
        closedir(in);
    }
    closedir(top);
    return removed;
}
