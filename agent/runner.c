/*
 * agent/runner.c — the rollout runner: every (task, sample) of this shard that the sink
 * does not already hold, run over C worker threads, each finished episode handed to the
 * sink (in `envforge run`, the store's single writer).
 *
 * Order of work: the plan (this shard's tasks × group size, minus what is done) is
 * built first on the caller's thread; workers then take items by an atomic counter.
 * Each worker owns its context and one env instance per env id (Lua states are not
 * shared between threads). The episode seed is derived from the run seed, the task id
 * and the sample index, so a resumed or re-sharded run gives each episode the same seed.
 * The shard of a task is task_id mod N — stable across resumes and merges.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "agent/agent_int.h"
#include "common/progress.h"
#include "common/rng.h"

typedef struct {
    size_t task;
    int64_t sample;
} work_item;

typedef struct {
    ef_ctx *ctx;
    const ef_agent_runner_options *opts;
    const ef_agent_config *cfg;
    ef_model *m;
    const ef_agent_task *tasks;
    ef_agent_env_open_fn env_open;
    void *env_ud;
    const ef_agent_sink *sink;
    work_item *work;
    size_t n_work;
    _Atomic size_t next;
    _Atomic int stop;
    pthread_mutex_t mu;
    ef_agent_runner_stats *stats;
    int first_rc;
    char first_err[1024];
    ef_progress *progress;
    double t0;
} runner;

typedef struct {
    int64_t env_id;
    ef_agent_env *env;
} env_slot;

typedef struct {
    runner *R;
    ef_ctx *ctx;
    env_slot *envs;
    size_t n_envs;
} worker;

static void fail(runner *R, ef_ctx *ctx, int rc)
{
    pthread_mutex_lock(&R->mu);
    if (R->first_rc == 0) {
        R->first_rc = rc;
        snprintf(R->first_err, sizeof(R->first_err), "%s", ef_errmsg(ctx));
    }
    pthread_mutex_unlock(&R->mu);
    atomic_store(&R->stop, 1);
}

static int env_get(worker *W, int64_t env_id, ef_agent_env **out)
{
    for (size_t i = 0; i < W->n_envs; i++)
        if (W->envs[i].env_id == env_id) {
            *out = W->envs[i].env;
            return 0;
        }
    env_slot *p = ef_realloc(W->envs, (W->n_envs + 1) * sizeof(*p));
    if (!p)
        return ef_errorf(W->ctx, EF_ENOMEM, "runner: out of memory");
    W->envs = p;
    ef_agent_env *env;
    int rc = W->R->env_open(W->R->env_ud, W->ctx, env_id, &env);
    if (rc < 0)
        return rc;
    W->envs[W->n_envs].env_id = env_id;
    W->envs[W->n_envs].env = env;
    W->n_envs++;
    *out = env;
    return 0;
}

/* An episode the loop could not even start (the env failed on the task): recorded as a
 * failed episode so that nothing planned goes missing. */
static ef_agent_episode *failed_episode(const char *why)
{
    ef_agent_episode *ep = ef_calloc(1, sizeof(*ep));
    if (!ep)
        return NULL;
    ep->end_reason = EF_END_TOOL_ERROR;
    ep->error = ef_strdup(why && *why ? why : "the env failed on this task");
    if (!ep->error) {
        ef_free(ep);
        return NULL;
    }
    return ep;
}

static void account(runner *R, const ef_agent_episode *ep)
{
    ef_agent_runner_stats *s = R->stats;
    pthread_mutex_lock(&R->mu);
    s->n_run++;
    s->n_verified += ep->verified;
    s->n_passed += ep->verified && ep->reward >= 1.0;
    s->n_failed += strcmp(ef_agent_episode_status(ep), "failed") == 0;
    if ((unsigned)ep->end_reason < EF_END_COUNT_)
        s->n_end[ep->end_reason]++;
    s->n_prompt_tokens += ep->n_prompt_tokens;
    s->n_completion_tokens += ep->n_completion_tokens;
    /* as `envforge stats` counts them (docs/export.md): the recorded tool calls, and those
     * answered with an error for any reason (a call whose arguments did not parse is also
     * a parse error) */
    s->n_tool_calls += (int64_t)ep->n_calls;
    for (size_t i = 0; i < ep->n_calls; i++)
        s->n_tool_errors += ep->calls[i].status != EF_CALL_OK;
    s->n_parse_errors += ep->n_parse_errors;
    int64_t n_run = s->n_run, n_passed = s->n_passed;
    int64_t toks = s->n_completion_tokens;
    pthread_mutex_unlock(&R->mu);
    if (R->progress) {
        double dt = ef_now_s() - R->t0;
        ef_progress_note(R->progress, "pass %.1f%% %.0f tok/s",
                         n_run ? 100.0 * (double)n_passed / (double)n_run : 0.0,
                         dt > 0 ? (double)toks / dt : 0.0);
        ef_progress_add(R->progress, 1);
    }
}

static void *worker_main(void *arg)
{
    worker *W = arg;
    runner *R = W->R;
    for (;;) {
        if (atomic_load(&R->stop) || (R->opts->stop && *R->opts->stop))
            break;
        size_t k = atomic_fetch_add(&R->next, 1);
        if (k >= R->n_work)
            break;
        const work_item *wi = &R->work[k];
        const ef_agent_task *t = &R->tasks[wi->task];
        ef_agent_env *env = NULL;
        ef_agent_episode *ep = NULL;
        ef_error_clear(W->ctx);
        int rc = env_get(W, t->env_id, &env);
        if (rc == 0) {
            uint64_t seed =
                ef_rng_derive(R->opts->seed, (uint64_t)t->task_id, (uint64_t)wi->sample);
            rc = ef_agent_episode_run_ext(W->ctx, R->cfg, R->m, env, t->task_json, seed, t->task_id,
                                          wi->sample, &ep);
        }
        if (rc == EF_ENOMEM) {
            fail(R, W->ctx, rc);
            break;
        }
        if (rc < 0 && !(ep = failed_episode(ef_errmsg(W->ctx)))) {
            fail(R, W->ctx, ef_errorf(W->ctx, EF_ENOMEM, "runner: out of memory"));
            break;
        }
        rc = R->sink->put(R->sink->ud, W->ctx, t, wi->sample, ep);
        if (rc == 0)
            account(R, ep);
        ef_agent_episode_free(ep);
        if (rc < 0) {
            fail(R, W->ctx, rc);
            break;
        }
    }
    return NULL;
}

int ef_agent_runner_run(ef_ctx *ctx, const ef_agent_runner_options *opts,
                        const ef_agent_config *cfg, ef_model *m, const ef_agent_task *tasks,
                        size_t n_tasks, ef_agent_env_open_fn env_open, void *env_ud,
                        const ef_agent_sink *sink, ef_agent_runner_stats *stats)
{
    ef_agent_runner_options def = EF_AGENT_RUNNER_OPTIONS_INIT;
    ef_agent_runner_stats local;
    if (!opts)
        opts = &def;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    if (opts->group_size < 1 || opts->concurrency < 1 || opts->shard_count < 1 ||
        opts->shard_index < 0 || opts->shard_index >= opts->shard_count)
        return ef_errorf(ctx, EF_EINVAL,
                         "runner: group %lld, concurrency %d, shard %lld/%lld: need group >= 1, "
                         "concurrency >= 1, 0 <= i < N",
                         (long long)opts->group_size, opts->concurrency,
                         (long long)opts->shard_index, (long long)opts->shard_count);
    runner R;
    memset(&R, 0, sizeof(R));
    R.ctx = ctx;
    R.opts = opts;
    R.cfg = cfg;
    R.m = m;
    R.tasks = tasks;
    R.env_open = env_open;
    R.env_ud = env_ud;
    R.sink = sink;
    R.stats = stats;
    double t0 = ef_now_s();
    R.t0 = t0;
    /* the plan */
    size_t cap = 0;
    for (size_t i = 0; i < n_tasks; i++) {
        if (tasks[i].task_id % opts->shard_count != opts->shard_index)
            continue;
        for (int64_t s = 0; s < opts->group_size; s++) {
            stats->n_planned++;
            if (sink->is_done && sink->is_done(sink->ud, tasks[i].task_id, s)) {
                stats->n_skipped++;
                continue;
            }
            if (ef_agent__reserve((void **)&R.work, sizeof(*R.work), R.n_work + 1, &cap, 1024) <
                0) {
                ef_free(R.work);
                return ef_errorf(ctx, EF_ENOMEM, "runner: out of memory");
            }
            R.work[R.n_work].task = i;
            R.work[R.n_work].sample = s;
            R.n_work++;
        }
    }
    pthread_mutex_init(&R.mu, NULL);
    const char *label = opts->progress_label ? opts->progress_label : "run";
    if (*label && R.n_work)
        R.progress = ef_progress_new(label, R.n_work, "episodes");
    int n_threads = opts->concurrency;
    if ((size_t)n_threads > R.n_work)
        n_threads = (int)(R.n_work ? R.n_work : 1);
    worker *W = ef_calloc((size_t)n_threads, sizeof(*W));
    pthread_t *th = ef_calloc((size_t)n_threads, sizeof(*th));
    int rc = 0, n_started = 0;
    if (!W || !th) {
        rc = ef_errorf(ctx, EF_ENOMEM, "runner: out of memory");
        goto cleanup;
    }
    for (int i = 0; i < n_threads; i++) {
        W[i].R = &R;
        if (!(W[i].ctx = ef_ctx_new())) {
            rc = ef_errorf(ctx, EF_ENOMEM, "runner: out of memory");
            goto join;
        }
        ef_ctx_set_log(W[i].ctx, ef_ctx_log_level(ctx), NULL, NULL);
    }
    if (n_threads == 1) {
        worker_main(&W[0]);
    } else {
        for (int i = 0; i < n_threads; i++) {
            if (pthread_create(&th[i], NULL, worker_main, &W[i]) != 0) {
                atomic_store(&R.stop, 1);
                rc = ef_errorf(ctx, EF_EIO, "runner: cannot start worker thread %d", i);
                break;
            }
            n_started++;
        }
    }
join:
    for (int i = 0; i < n_started; i++)
        pthread_join(th[i], NULL);
cleanup:
    for (int i = 0; W && i < n_threads; i++) {
        for (size_t k = 0; k < W[i].n_envs; k++)
            ef_agent_env_free(W[i].envs[k].env);
        ef_free(W[i].envs);
        ef_ctx_free(W[i].ctx);
    }
    ef_free(W);
    ef_free(th);
    ef_progress_finish(R.progress);
    if (rc == 0 && R.first_rc)
        rc = ef_errorf(ctx, R.first_rc, "%s", R.first_err);
    if (rc == 0 && opts->stop && *opts->stop && stats->n_run + stats->n_skipped < stats->n_planned)
        rc = ef_errorf(ctx, EF_EINTR, "run interrupted after %lld of %lld episodes",
                       (long long)stats->n_run, (long long)(R.n_work));
    stats->wall_s = ef_now_s() - t0;
    pthread_mutex_destroy(&R.mu);
    ef_free(R.work);
    return rc;
}
