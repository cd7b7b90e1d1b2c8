/* The write path without HTTP: how many events per second the single writer thread makes
 * durable, on its own. bench/ingest measures the whole daemon; this one tells how much of that
 * is the store, with numbers that do not depend on the HTTP stack or the load generator.
 *
 *   store_bench --db PATH [--events N] [--inflight K] [--seconds S]
 *
 * One producer thread builds distinct single-event jobs shaped like bench/ingest's requests (a
 * new call each, with numbers, times, metadata and a ~600-byte raw body) and keeps K of them
 * queued or committing, as K connections would. It prints one line:
 *   STORE events=N seconds=S rate=R commits=C per_commit=P commit_ms_avg=A
 * writer_cpu_us_per_event=W The database must be on a real disk (fsync is the point). Built by
 * bench/store/run.sh. */
#include "store/store.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    ch_write_job job;
    ch_event *ev;
    int finished; /* set by the writer thread; the producer reuses the slot */
} slot;

static sem_t slots;
static long done_count;

static void on_done(ch_write_job *job)
{
    if (job->result != CH_OK) {
        fprintf(stderr, "store_bench: a job failed\n");
        exit(1);
    }
    slot *sl = job->arg;
    __atomic_store_n(&sl->finished, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&done_count, 1, __ATOMIC_RELAXED);
    sem_post(&slots);
}

static ch_event *make_event(long i, const char *run)
{
    ch_event *e = ch_event_new();
    e->provider = ch_strdup("generic");
    e->external_id = ch_asprintf("sb-%s-%ld", run, i);
    e->idem_key = ch_asprintf("generic:sb-%s-%ld-1", run, i);
    e->kind = ch_strdup("call.ended");
    e->seq = 1;
    e->direction = CH_DIR_INBOUND;
    e->status = CH_STATUS_ENDED;
    e->disposition = CH_DISP_ANSWERED;
    e->from_raw = ch_asprintf("+1415555%04ld", i % 10000);
    e->to_raw = ch_strdup("+14155550100");
    e->caller_name = ch_strdup("Bench Caller");
    e->extension = ch_strdup("1001");
    int64_t now = ch_now_ms();
    e->started_at = now - 200000;
    e->answered_at = now - 195000;
    e->ended_at = now;
    e->duration_sec = 200;
    e->billsec = 195;
    e->recording_url = ch_asprintf("https://recordings.example.com/%s/%ld.mp3", run, i);
    e->cost_micros = 120000;
    e->cost_currency = ch_strdup("USD");
    e->metadata = json_pack("{s:s, s:i}", "queue", "sales", "attempt", 1);
    char raw[640];
    int n = snprintf(raw, sizeof raw, "{\"call_id\":\"sb-%s-%ld\",\"event_id\":\"sb-%s-%ld-1\"}",
                     run, i, run, i);
    memset(raw + n, ' ', sizeof raw - (size_t)n - 1);
    raw[sizeof raw - 1] = 0;
    e->raw = ch_strdup(raw);
    e->raw_len = strlen(raw);
    e->content_type = ch_strdup("application/json");
    ch_event_normalise(e, "1");
    ch_event_prepare(e);
    return e;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *db = NULL;
    long total = 50000, inflight = 64;
    double seconds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--db"))
            db = argv[i + 1];
        else if (!strcmp(argv[i], "--events"))
            total = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--inflight"))
            inflight = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
    }
    if (!db || total <= 0 || inflight <= 0) {
        fprintf(stderr, "usage: store_bench --db PATH [--events N] [--inflight K] [--seconds S]\n");
        return 2;
    }
    ch_tenant_spec t = {.slug = "bench", .name = "bench", .timezone = "UTC", .country = "1"};
    ch_store *s;
    ch_store_opts o = {.path = db};
    if (ch_store_open(&s, &o) != CH_OK) return 1;
    ch_op op = {.kind = CH_OP_TENANT_ADD, .in.tenant = t};
    if (ch_store_write(s, &op, 1) != CH_OK) {
        fprintf(stderr, "store_bench: cannot create the tenant in %s\n", db);
        return 1;
    }
    int64_t tenant_id = op.id_out;

    char run[16];
    snprintf(run, sizeof run, "%lx", (long)ch_now_ms());
    sem_init(&slots, 0, (unsigned)inflight);
    slot *ring = ch_calloc((size_t)inflight, sizeof *ring);
    double cpu0 = thread_cpu_s();
    int64_t t0 = ch_mono_ns();
    long submitted = 0;
    ch_store_stats st0;
    ch_store_get_stats(s, &st0);
    for (; submitted < total; submitted++) {
        if (seconds > 0 && (double)(ch_mono_ns() - t0) / 1e9 >= seconds) break;
        ch_event *e = make_event(submitted, run);
        sem_wait(&slots);
        /* a free slot: find one whose job has finished (arg set by on_done) or was never used */
        slot *sl = NULL;
        for (long k = 0; !sl; k = (k + 1) % inflight) {
            slot *c = &ring[k];
            if (!c->ev || __atomic_load_n(&c->finished, __ATOMIC_ACQUIRE)) sl = c;
        }
        if (sl->ev) {
            ch_write_job_clear(&sl->job);
            ch_event_free(sl->ev);
        }
        sl->ev = e;
        memset(&sl->job, 0, sizeof sl->job);
        ch_write_job_init(&sl->job, &sl->ev, 1);
        sl->job.tenant_id = tenant_id;
        sl->job.tenant_tz = "UTC";
        sl->job.tenant_country = "1";
        sl->job.done = on_done;
        sl->job.arg = sl;
        sl->finished = 0;
        ch_store_submit(s, &sl->job);
    }
    while (__atomic_load_n(&done_count, __ATOMIC_RELAXED) < submitted) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    double secs = (double)(ch_mono_ns() - t0) / 1e9;
    ch_store_stats st;
    ch_store_get_stats(s, &st);
    double cpu = thread_cpu_s() - cpu0;
    ch_store_close(s);
    for (long k = 0; k < inflight; k++)
        if (ring[k].ev) {
            ch_write_job_clear(&ring[k].job);
            ch_event_free(ring[k].ev);
        }
    free(ring);
    uint64_t commits = st.batches - st0.batches;
    printf("STORE events=%ld seconds=%.2f rate=%.0f commits=%llu per_commit=%.1f "
           "commit_ms_avg=%.3f process_cpu_us_per_event=%.1f\n",
           submitted, secs, (double)submitted / secs, (unsigned long long)commits,
           commits ? (double)submitted / (double)commits : 0.0,
           commits ? (double)(st.commit_us_sum - st0.commit_us_sum) / 1e3 / (double)commits : 0.0,
           cpu * 1e6 / (double)submitted);
    return 0;
}
