/* Structured logs: one JSON object per line, written with a single write(2) so lines from
 * different threads never interleave. Values are escaped; callers never log secrets.
 *
 *   ch_logline l;
 *   if (ch_log_begin(&l, CH_LOG_INFO, "stored", request_id)) {
 *       ch_log_int(&l, "records", n);
 *       ch_log_end(&l);
 *   }
 */
#ifndef CH_LOG_H
#define CH_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum { CH_LOG_DEBUG = 0, CH_LOG_INFO, CH_LOG_WARN, CH_LOG_ERROR, CH_LOG_OFF };

typedef struct {
    char buf[2048];
    size_t len;
    size_t complete; /* length up to the last complete field */
    bool truncated;
} ch_logline;

/* path NULL or "-" means stderr. CH_OK, or CH_ERR with errno set. */
int ch_log_open(const char *path, int level);
/* Reopen the log file (after rotation); safe to call from the main loop on SIGHUP. CH_OK, or
 * CH_ERR with errno set (the old file stays in use). */
int ch_log_reopen(void);
void ch_log_close(void);
int ch_log_level_parse(const char *s); /* -1 when unknown */
bool ch_log_enabled(int level);

bool ch_log_begin(ch_logline *l, int level, const char *event, const char *request_id);
void ch_log_str(ch_logline *l, const char *key, const char *value);
void ch_log_strn(ch_logline *l, const char *key, const char *value, size_t n);
void ch_log_int(ch_logline *l, const char *key, int64_t value);
void ch_log_dbl(ch_logline *l, const char *key, double value);
void ch_log_end(ch_logline *l);

/* One-line convenience for a message without fields. */
void ch_log_msg(int level, const char *event, const char *msg);

#endif
