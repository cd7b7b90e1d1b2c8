#include "util/log.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static int log_level = CH_LOG_INFO;
static char log_path[1024];
static pthread_mutex_t reopen_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int ch_log_level_parse(const char *s)
{
    for (int i = 0; i <= CH_LOG_OFF; i++)
        if (s && strcmp(s, level_names[i]) == 0) return i;
    if (s && strcmp(s, "warning") == 0) return CH_LOG_WARN;
    return -1;
}

int ch_log_open(const char *path, int level)
{
    log_level = level;
    if (!path || !*path || strcmp(path, "-") == 0) {
        log_path[0] = '\0';
        log_fd = STDERR_FILENO;
        return CH_OK;
    }
    snprintf(log_path, sizeof log_path, "%s", path);
    return ch_log_reopen();
}

int ch_log_reopen(void)
{
    if (!log_path[0]) return CH_OK;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return CH_ERR; /* errno says why */
    pthread_mutex_lock(&reopen_lock);
    if (log_fd == STDERR_FILENO) {
        log_fd = fd;
    } else {
        /* dup2 swaps the file under the same descriptor atomically: writers never see a
         * closed descriptor. */
        dup2(fd, log_fd);
        close(fd);
    }
    pthread_mutex_unlock(&reopen_lock);
    return CH_OK;
}

void ch_log_close(void)
{
    if (log_fd != STDERR_FILENO) close(log_fd);
    log_fd = STDERR_FILENO;
    log_path[0] = '\0';
}

bool ch_log_enabled(int level)
{
    return level >= log_level && level < CH_LOG_OFF;
}

static void put(ch_logline *l, const char *s, size_t n)
{
    /* keep room for ',"truncated":true}\n' */
    size_t room = sizeof l->buf - 24 - l->len;
    if (n > room) {
        n = room;
        l->truncated = true;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_escaped(ch_logline *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    put(l, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else if (c == '\n') {
            put(l, "\\n", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(l, e, 6);
        } else {
            put(l, (const char *)&s[i], 1);
        }
    }
    put(l, "\"", 1);
}

static void put_key(ch_logline *l, const char *key)
{
    put(l, ",", 1);
    put_escaped(l, key, strlen(key));
    put(l, ":", 1);
}

bool ch_log_begin(ch_logline *l, int level, const char *event, const char *request_id)
{
    if (!ch_log_enabled(level)) return false;
    l->len = 0;
    l->truncated = false;
    char ts[40];
    ch_time_format_ms(ch_now_ms(), ts, sizeof ts);
    put(l, "{\"ts\":", 6);
    put_escaped(l, ts, strlen(ts));
    put(l, ",\"level\":", 9);
    put_escaped(l, level_names[level], strlen(level_names[level]));
    put(l, ",\"event\":", 9);
    put_escaped(l, event, strlen(event));
    l->complete = l->len;
    if (request_id && *request_id) ch_log_str(l, "request_id", request_id);
    return true;
}

void ch_log_str(ch_logline *l, const char *key, const char *value)
{
    if (!value) return;
    ch_log_strn(l, key, value, strlen(value));
}

void ch_log_strn(ch_logline *l, const char *key, const char *value, size_t n)
{
    put_key(l, key);
    put_escaped(l, value, n);
    if (!l->truncated) l->complete = l->len;
}

void ch_log_int(ch_logline *l, const char *key, int64_t value)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)value);
    put_key(l, key);
    put(l, num, (size_t)n);
    if (!l->truncated) l->complete = l->len;
}

void ch_log_dbl(ch_logline *l, const char *key, double value)
{
    char num[48];
    int n = snprintf(num, sizeof num, "%.3f", value);
    put_key(l, key);
    put(l, num, (size_t)n);
    if (!l->truncated) l->complete = l->len;
}

void ch_log_end(ch_logline *l)
{
    if (l->truncated) {
        /* Cut back to the last complete field so the line stays valid JSON. */
        l->len = l->complete;
        l->buf[l->len++] = ',';
        static const char t[] = "\"truncated\":true";
        memcpy(l->buf + l->len, t, sizeof t - 1);
        l->len += sizeof t - 1;
    }
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    ssize_t w = write(log_fd, l->buf, l->len);
    (void)w;
}

void ch_log_msg(int level, const char *event, const char *msg)
{
    ch_logline l;
    if (!ch_log_begin(&l, level, event, NULL)) return;
    if (msg) ch_log_str(&l, "msg", msg);
    ch_log_end(&l);
}
