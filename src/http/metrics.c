#include "http/metrics.h"

#include <stdatomic.h>

static const char *const route_names[CH_ROUTE_COUNT] = {"hooks",    "calls",   "call",   "export",
                                                        "webhooks", "healthz", "readyz", "metrics",
                                                        "stream",   "other"};
static const int codes[] = {200, 201, 202, 204, 400, 401, 403, 404, 405,
                            408, 409, 413, 415, 422, 429, 500, 501, 503};
#define NCODES (sizeof codes / sizeof *codes)
static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof buckets / sizeof *buckets)

static atomic_uint_fast64_t requests[CH_ROUTE_COUNT][NCODES + 1]; /* last: other codes */
static atomic_uint_fast64_t ingest_hist[NBUCKETS + 1];
static atomic_uint_fast64_t ingest_sum_us, ingest_count, auth_failures, records_rejected;
static atomic_uint_fast64_t aborted;

void ch_metrics_request(ch_route route, int status, int64_t duration_ns)
{
    size_t c = NCODES;
    for (size_t i = 0; i < NCODES; i++)
        if (codes[i] == status) c = i;
    if ((unsigned)route >= CH_ROUTE_COUNT) route = CH_ROUTE_OTHER;
    atomic_fetch_add_explicit(&requests[route][c], 1, memory_order_relaxed);
    if (route != CH_ROUTE_HOOKS) return;
    double s = (double)duration_ns / 1e9;
    size_t b = 0;
    while (b < NBUCKETS && s > buckets[b])
        b++;
    atomic_fetch_add_explicit(&ingest_hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&ingest_sum_us, (uint64_t)(duration_ns / 1000), memory_order_relaxed);
    atomic_fetch_add_explicit(&ingest_count, 1, memory_order_relaxed);
}

void ch_metrics_auth_failure(void)
{
    atomic_fetch_add_explicit(&auth_failures, 1, memory_order_relaxed);
}

void ch_metrics_aborted(void)
{
    atomic_fetch_add_explicit(&aborted, 1, memory_order_relaxed);
}

void ch_metrics_records_rejected(uint64_t n)
{
    atomic_fetch_add_explicit(&records_rejected, n, memory_order_relaxed);
}

int ch_metrics_render(ch_buf *out)
{
    int rc = ch_buf_puts(out, "# HELP callhook_http_requests_total HTTP requests answered, by "
                              "route and status code.\n"
                              "# TYPE callhook_http_requests_total counter\n");
    for (int r = 0; r < CH_ROUTE_COUNT && !rc; r++)
        for (size_t c = 0; c <= NCODES && !rc; c++) {
            uint64_t v = atomic_load_explicit(&requests[r][c], memory_order_relaxed);
            if (!v) continue;
            if (c < NCODES)
                rc = ch_buf_printf(out,
                                   "callhook_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                                   route_names[r], codes[c], (unsigned long long)v);
            else
                rc = ch_buf_printf(
                    out, "callhook_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
                    route_names[r], (unsigned long long)v);
        }
    if (rc) return rc;
    rc = ch_buf_puts(out, "# HELP callhook_ingest_seconds Time from request start to answer on "
                          "webhook routes.\n# TYPE callhook_ingest_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t b = 0; b <= NBUCKETS && !rc; b++) {
        cum += atomic_load_explicit(&ingest_hist[b], memory_order_relaxed);
        if (b < NBUCKETS)
            rc = ch_buf_printf(out, "callhook_ingest_seconds_bucket{le=\"%g\"} %llu\n", buckets[b],
                               (unsigned long long)cum);
        else
            rc = ch_buf_printf(out, "callhook_ingest_seconds_bucket{le=\"+Inf\"} %llu\n",
                               (unsigned long long)cum);
    }
    if (rc) return rc;
    return ch_buf_printf(out,
                         "callhook_ingest_seconds_sum %.6f\ncallhook_ingest_seconds_count %llu\n"
                         "# HELP callhook_auth_failures_total Failed authentications.\n"
                         "# TYPE callhook_auth_failures_total counter\n"
                         "callhook_auth_failures_total %llu\n"
                         "# HELP callhook_records_rejected_total Records that failed validation.\n"
                         "# TYPE callhook_records_rejected_total counter\n"
                         "callhook_records_rejected_total %llu\n"
                         "# HELP callhook_http_aborted_total Requests whose connection ended "
                         "before their answer was sent (client gone, reset, timed out).\n"
                         "# TYPE callhook_http_aborted_total counter\n"
                         "callhook_http_aborted_total %llu\n",
                         (double)atomic_load(&ingest_sum_us) / 1e6,
                         (unsigned long long)atomic_load(&ingest_count),
                         (unsigned long long)atomic_load(&auth_failures),
                         (unsigned long long)atomic_load(&records_rejected),
                         (unsigned long long)atomic_load(&aborted));
}
