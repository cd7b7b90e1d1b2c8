/* The enrichment workers: see worker.h. */
#include "enrich/worker.h"
#include "delivery/schedule.h"
#include "enrich/recordings.h"
#include "enrich/stages.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/result.h"
#include "util/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A job taken from the store: queued, running, or waiting for its outcome's commit. */
typedef struct job_slot {
    ch_due_job job;
    bool expire; /* a PIPELINE_EXPIRE of the call, not a stage */
    bool forget; /* a RECORDING_FORGET (retention): sha256 is the file, removed after commit */
    char sha256[65];
    /* the write job carrying the outcome, and what it points at */
    ch_write_job wj;
    ch_op op;
    ch_run_outcome out;
    char month[8];
    int64_t started_at;
    ch_enrich *owner;
    struct job_slot *next;
} job_slot;

struct ch_enrich {
    ch_store *s;
    ch_enrich_opts opts;
    char *allow_private, *recordings_dir;
    ch_retry_schedule sched;
    ch_stage_env *env;
    ch_feed_sub *feed;
    pthread_t scheduler;
    pthread_t *workers;
    int nworkers;
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* the scheduler's */
    pthread_cond_t work;     /* the workers' */
    pthread_cond_t all_done; /* a slot was released (stop waits on it) */
    bool poked, stopping;
    job_slot *queue_head, *queue_tail;
    job_slot **taken; /* every slot not yet released: the in-flight set */
    size_t ntaken, cap_taken;
    int cpu_busy;
    ch_enrich_stats stats;
};

static void log_stage(const char *what, const ch_due_job *j, const char *error)
{
    ch_logline l;
    if (ch_log_begin(&l, CH_LOG_INFO, what, NULL)) {
        ch_log_int(&l, "tenant_id", j->tenant_id);
        ch_log_str(&l, "call_id", j->call_id);
        ch_log_str(&l, "stage", ch_stage_name(j->stage));
        ch_log_str(&l, "engine", j->engine);
        if (error) ch_log_str(&l, "error", error);
        ch_log_end(&l);
    }
}

/* ---- the in-flight set (under lock) ------------------------------------------------------ */

static bool same_job(const ch_due_job *a, const ch_due_job *b, bool expire_a, bool expire_b)
{
    return a->tenant_id == b->tenant_id && expire_a == expire_b &&
           (expire_a || a->stage == b->stage) && !strcmp(a->call_id, b->call_id);
}

static bool is_taken(ch_enrich *e, const ch_due_job *j, bool expire)
{
    for (size_t i = 0; i < e->ntaken; i++)
        if (same_job(&e->taken[i]->job, j, e->taken[i]->expire, expire)) return true;
    return false;
}

/* Left out of a scan (called with the lock held): a job taken already. */
static bool skip_taken(void *arg, const ch_due_job *j)
{
    ch_enrich *e = arg;
    for (size_t i = 0; i < e->ntaken; i++) {
        const job_slot *t = e->taken[i];
        if (!t->expire && !t->forget && same_job(&t->job, j, false, false)) return true;
    }
    return false;
}

/* The tenants the next scan leaves out (JSON array text, or NULL for none): those holding every
 * worker and one queued job besides. One tenant's burst (a thousand calls ended at once) then
 * keeps the workers busy on its own, but the next tenant's job waits for at most one of the
 * burst's, not for all of them. */
static char *busy_tenants(ch_enrich *e)
{
    json_t *busy = NULL;
    for (size_t i = 0; i < e->ntaken; i++) {
        int64_t tid = e->taken[i]->job.tenant_id;
        int mine = 0;
        bool seen = false;
        for (size_t k = 0; k < e->ntaken; k++) {
            mine += e->taken[k]->job.tenant_id == tid;
            seen |= k < i && e->taken[k]->job.tenant_id == tid;
        }
        if (seen || mine <= e->nworkers) continue;
        if (!busy) busy = json_array();
        json_array_append_new(busy, json_integer(tid));
    }
    char *text = busy ? json_dumps(busy, JSON_COMPACT) : NULL;
    json_decref(busy);
    return text;
}

static void release(ch_enrich *e, job_slot *sl)
{
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; i < e->ntaken; i++)
        if (e->taken[i] == sl) {
            e->taken[i] = e->taken[--e->ntaken];
            break;
        }
    pthread_cond_broadcast(&e->all_done);
    e->poked = true; /* what follows it may be due now */
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    free(sl->out.result);
    free(sl);
}

/* ---- outcomes to the writer --------------------------------------------------------------- */

static void on_committed(ch_write_job *wj)
{
    job_slot *sl = wj->arg;
    if (wj->result != CH_OK && wj->result != CH_ENOTFOUND) {
        /* not recorded (the database cannot write): the job stays pending and runs again */
        log_stage("enrich_result_not_stored", &sl->job, ch_strerror(wj->result));
    }
    if (sl->forget && wj->result == CH_OK) {
        /* the call says the recording is gone: now it goes, unless another call kept the
         * same bytes */
        int64_t refs = 1;
        if (ch_store_recording_refs(sl->owner->s, sl->sha256, &refs) == CH_OK && refs == 0)
            (void)ch_recording_remove(sl->owner->recordings_dir, sl->sha256);
    }
    ch_write_job_clear(wj);
    release(sl->owner, sl);
}

static void submit(ch_enrich *e, job_slot *sl)
{
    ch_write_job_init(&sl->wj, NULL, 0);
    sl->wj.tenant_id = sl->job.tenant_id;
    sl->wj.ops = &sl->op;
    sl->wj.nops = 1;
    sl->wj.done = on_committed;
    sl->wj.arg = sl;
    ch_store_submit(e->s, &sl->wj);
}

/* The outcome of a run as the op the writer records: a failure that may pass is retried by
 * the schedule while the deadline allows, else it is the stage's failure. */
static void outcome_op(ch_enrich *e, job_slot *sl, int64_t now)
{
    const ch_due_job *j = &sl->job;
    ch_run_outcome *o = &sl->out;
    ch_op *op = &sl->op;
    memset(op, 0, sizeof *op);
    op->kind = CH_OP_STAGE_RESULT;
    op->tenant_id = j->tenant_id;
    ch_stage_outcome *so = &op->in.stage;
    so->call_id = j->call_id;
    so->stage = j->stage;
    so->started_at = sl->started_at;
    so->ms = now - sl->started_at;
    so->error = o->error[0] ? o->error : NULL;
    so->transcribed_ms = o->transcribed_ms;
    so->month = sl->month;
    int idx = j->stage >= 0 && j->stage < CH_STAGE_COUNT ? j->stage : 0;
    if (o->state == CH_RUN_DONE) {
        so->state = CH_JOB_DONE;
        so->result = o->result;
        so->must_exist = o->file[0] ? o->file : NULL;
        e->stats.done[idx]++;
        e->stats.ms_sum[idx] += (uint64_t)so->ms;
        return;
    }
    if (o->state == CH_RUN_RETRY) {
        int64_t wait = ch_retry_delay(&e->sched, j->attempts + 1, (double)(now & 1023) / 1024);
        if (wait >= 0 && o->retry_after_ms > wait) wait = o->retry_after_ms;
        if (wait >= 0 && now + wait < j->deadline) {
            so->state = CH_JOB_PENDING;
            so->next_at = now + wait;
            e->stats.retried[idx]++;
            return;
        }
    }
    so->state = CH_JOB_FAILED;
    e->stats.failed[idx]++;
}

/* ---- workers ------------------------------------------------------------------------------- */

/* The first queued job this worker may run now (under the lock): a CPU-bound one only while
 * a CPU slot is free, so a worker never sits on a transcription waiting for the CPU while a
 * download or a text stage of another call waits behind it. */
static job_slot *take_runnable(ch_enrich *e)
{
    job_slot *prev = NULL;
    for (job_slot *sl = e->queue_head; sl; prev = sl, sl = sl->next) {
        bool cpu = !sl->expire && !sl->forget && ch_stage_is_cpu(&sl->job);
        if (cpu && e->cpu_busy >= e->opts.cpu_threads) continue;
        if (prev)
            prev->next = sl->next;
        else
            e->queue_head = sl->next;
        if (e->queue_tail == sl) e->queue_tail = prev;
        sl->next = NULL;
        e->stats.queued--;
        return sl;
    }
    return NULL;
}

static void requeue_front(ch_enrich *e, job_slot *sl)
{
    sl->next = e->queue_head;
    e->queue_head = sl;
    if (!e->queue_tail) e->queue_tail = sl;
    e->stats.queued++;
}

static void *worker_main(void *arg)
{
    ch_enrich *e = arg;
    pthread_setname_np(pthread_self(), "ch-enrich-run");
    if (e->opts.idle_priority) {
        /* SCHED_IDLE: the kernel runs these only when no other thread wants the CPU, so
         * ingest and delivery keep their pace while a backlog drains; under sustained
         * saturation the stages wait, and the call's deadline still completes it */
        struct sched_param sp = {.sched_priority = 0};
        (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    }
    ch_stage_thread *t = ch_stage_thread_new();
    pthread_mutex_lock(&e->lock);
    for (;;) {
        job_slot *sl;
        while (!(sl = take_runnable(e)) && !e->stopping)
            pthread_cond_wait(&e->work, &e->lock);
        if (e->stopping) {
            if (sl) requeue_front(e, sl);
            break;
        }
        if (sl->expire || sl->forget) {
            pthread_mutex_unlock(&e->lock);
            memset(&sl->op, 0, sizeof sl->op);
            sl->op.kind = sl->forget ? CH_OP_RECORDING_FORGET : CH_OP_PIPELINE_EXPIRE;
            sl->op.tenant_id = sl->job.tenant_id;
            sl->op.in.stage.call_id = sl->job.call_id;
            if (sl->expire) e->stats.expired++;
            log_stage(sl->expire ? "enrich_deadline" : "recording_retention", &sl->job, NULL);
            submit(e, sl);
            pthread_mutex_lock(&e->lock);
            continue;
        }
        bool cpu = ch_stage_is_cpu(&sl->job);
        if (cpu) e->cpu_busy++; /* take_runnable saw a free slot */
        e->stats.running[sl->job.stage]++;
        pthread_mutex_unlock(&e->lock);

        sl->started_at = ch_now_ms();
        ch_stage_run(e->env, t, &sl->job, &sl->out);
        int64_t now = ch_now_ms();

        pthread_mutex_lock(&e->lock);
        e->stats.running[sl->job.stage]--;
        if (cpu) {
            e->cpu_busy--;
            pthread_cond_broadcast(&e->work); /* a CPU job may wait in the queue */
        }
        outcome_op(e, sl, now);
        pthread_mutex_unlock(&e->lock);
        if (sl->out.state != CH_RUN_DONE) log_stage("enrich_stage_failed", &sl->job, sl->out.error);
        ch_time_month(now, "UTC", sl->month);
        ch_tenant tn;
        if (sl->out.transcribed_ms > 0 &&
            ch_store_tenant_by_id(e->s, sl->job.tenant_id, &tn) == CH_OK) {
            ch_time_month(now, tn.timezone, sl->month); /* the usage's month is the tenant's */
            ch_tenant_clear(&tn);
        }
        submit(e, sl);
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    ch_stage_thread_free(t);
    return NULL;
}

/* ---- the scheduler --------------------------------------------------------------------------- */

static job_slot *enqueue(ch_enrich *e, const ch_due_job *j, bool expire)
{
    job_slot *sl = ch_calloc(1, sizeof *sl);
    sl->job = *j;
    sl->expire = expire;
    sl->owner = e;
    if (e->ntaken == e->cap_taken) {
        e->cap_taken = e->cap_taken ? e->cap_taken * 2 : 32;
        e->taken = ch_realloc(e->taken, e->cap_taken * sizeof *e->taken);
    }
    e->taken[e->ntaken++] = sl;
    if (e->queue_tail)
        e->queue_tail->next = sl;
    else
        e->queue_head = sl;
    e->queue_tail = sl;
    e->stats.queued++;
    pthread_cond_signal(&e->work);
    return sl;
}

static void on_feed(void *arg)
{
    ch_enrich *e = arg;
    pthread_mutex_lock(&e->lock);
    e->poked = true;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

/* The longest the scheduler sleeps: deadlines are checked at least this often. */
#define SCHED_TICK_MS 1000

static void *scheduler_main(void *arg)
{
    ch_enrich *e = arg;
    pthread_setname_np(pthread_self(), "ch-enrich");
    int64_t next_due = 0, next_sweep = ch_now_ms() + 5000, next_late = 0;
    pthread_mutex_lock(&e->lock);
    while (!e->stopping) {
        int64_t now = ch_now_ms();
        if (!e->poked && next_due > now) {
            int64_t wait = next_due - now;
            if (wait > SCHED_TICK_MS) wait = SCHED_TICK_MS;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&e->wake, &e->lock, &ts);
            continue;
        }
        e->poked = false;
        /* room: the queue holds a few jobs per worker, no more */
        int room = e->nworkers * 2 - (int)e->stats.queued;
        ch_due_job *due = NULL, *late = NULL;
        size_t n = 0, nlate = 0;
        int64_t nd = CH_TIME_UNSET;
        now = ch_now_ms();
        /* the scan runs with the lock held so skip_taken sees a stable set; it is a read on
         * the read pool, never waiting on the writer */
        char *busy = room > 0 ? busy_tenants(e) : NULL;
        if (room > 0 &&
            ch_store_jobs_due(e->s, now, room, busy, skip_taken, e, &due, &n, &nd) == CH_OK)
            for (size_t i = 0; i < n; i++)
                enqueue(e, &due[i], false);
        free(busy);
        bool check_late = now >= next_late;
        if (check_late) next_late = now + 500; /* deadlines are seconds apart: twice a second */
        if (check_late && ch_store_jobs_expired(e->s, now, 16, &late, &nlate) == CH_OK)
            for (size_t i = 0; i < nlate; i++)
                if (!is_taken(e, &late[i], true)) enqueue(e, &late[i], true);
        free(due);
        free(late);
        if (now >= next_sweep) { /* recordings past their tenant's retention */
            ch_expired_recording *old = NULL;
            size_t nold = 0;
            if (ch_store_recordings_expired(e->s, now, 32, &old, &nold) == CH_OK)
                for (size_t i = 0; i < nold; i++) {
                    ch_due_job j = {.tenant_id = old[i].tenant_id, .stage = -2};
                    memcpy(j.call_id, old[i].call_id, sizeof j.call_id);
                    if (is_taken(e, &j, false)) continue;
                    job_slot *sl = enqueue(e, &j, false);
                    sl->forget = true;
                    memcpy(sl->sha256, old[i].sha256, sizeof sl->sha256);
                }
            free(old);
            /* a full page: more are waiting, come back soon */
            next_sweep = now + (nold == 32 ? 1000 : e->opts.sweep_interval_ms);
        }
        next_due = nd == CH_TIME_UNSET ? now + SCHED_TICK_MS : nd;
        if (room <= 0 && next_due < now + 50) next_due = now + 50; /* the queue is full */
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

int ch_enrich_start(ch_enrich **out, ch_store *s, const ch_enrich_opts *o)
{
    ch_enrich *e = ch_calloc(1, sizeof *e);
    e->s = s;
    e->opts = *o;
    e->allow_private = ch_strdup(o->allow_private ? o->allow_private : "");
    e->recordings_dir = ch_strdup(o->recordings_dir ? o->recordings_dir : "recordings");
    e->opts.allow_private = e->allow_private;
    e->opts.recordings_dir = e->recordings_dir;
    if (e->opts.threads <= 0) e->opts.threads = 2;
    if (e->opts.cpu_threads <= 0) e->opts.cpu_threads = 1;
    if (e->opts.timeout_ms <= 0) e->opts.timeout_ms = 60000;
    if (e->opts.sweep_interval_ms <= 0) e->opts.sweep_interval_ms = 600000;
    if (e->opts.max_recording_bytes <= 0) e->opts.max_recording_bytes = CH_RECORDING_MAX_BYTES;
    char err[160];
    if (ch_retry_schedule_parse(o->retry_schedule && o->retry_schedule[0] ? o->retry_schedule
                                                                          : "10s,1m,5m",
                                &e->sched, err, sizeof err) != CH_OK) {
        free(e->allow_private);
        free(e->recordings_dir);
        free(e);
        return CH_EINVAL;
    }
    int swept = ch_recording_sweep_temp(e->recordings_dir); /* before any worker stores */
    if (swept > 0) {
        ch_logline l;
        if (ch_log_begin(&l, CH_LOG_INFO, "recording_temp_removed", NULL)) {
            ch_log_int(&l, "files", swept);
            ch_log_end(&l);
        }
    }
    e->env = ch_stage_env_new(s, &e->opts);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->all_done, NULL);
    e->poked = true; /* what is pending from before a restart */
    e->nworkers = e->opts.threads;
    e->workers = ch_calloc((size_t)e->nworkers, sizeof *e->workers);
    for (int i = 0; i < e->nworkers; i++)
        if (pthread_create(&e->workers[i], NULL, worker_main, e) != 0) abort();
    if (pthread_create(&e->scheduler, NULL, scheduler_main, e) != 0) abort();
    e->feed = ch_feed_subscribe(ch_store_feed(s), CH_CHANGE_MASK(CH_CHANGE_JOB_DUE), 0, on_feed, e);
    *out = e;
    return CH_OK;
}

void ch_enrich_stop(ch_enrich *e, int grace_ms)
{
    if (!e) return;
    ch_feed_unsubscribe(e->feed);
    pthread_mutex_lock(&e->lock);
    e->stopping = true;
    pthread_cond_broadcast(&e->wake);
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->scheduler, NULL);
    for (int i = 0; i < e->nworkers; i++)
        pthread_join(e->workers[i], NULL); /* a running stage finishes (bounded by timeouts) */
    /* the queued ones were never run: still pending in the store */
    pthread_mutex_lock(&e->lock);
    while (e->queue_head) {
        job_slot *sl = e->queue_head;
        e->queue_head = sl->next;
        for (size_t i = 0; i < e->ntaken; i++)
            if (e->taken[i] == sl) {
                e->taken[i] = e->taken[--e->ntaken];
                break;
            }
        free(sl);
    }
    e->queue_tail = NULL;
    /* outcomes submitted wait for their commit (the writer still runs) */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += grace_ms / 1000 + 1;
    while (e->ntaken > 0)
        if (pthread_cond_timedwait(&e->all_done, &e->lock, &ts) == ETIMEDOUT) break;
    bool left = e->ntaken > 0;
    pthread_mutex_unlock(&e->lock);
    if (left)
        return; /* a write job still points at us: leak rather than crash (the store
                 * is closing and will call its done) */
    ch_stage_env_free(e->env);
    free(e->workers);
    free(e->taken);
    free(e->allow_private);
    free(e->recordings_dir);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void ch_enrich_get_stats(ch_enrich *e, ch_enrich_stats *out)
{
    pthread_mutex_lock(&e->lock);
    *out = e->stats;
    pthread_mutex_unlock(&e->lock);
}
