/*
 * tests/store_bench.c — store throughput, for tests/bench (not a CTest test: nothing is
 * asserted about time). Prints one line per measurement:
 *   tasks: N inserted in batches of 1000, rate
 *   bundles direct: one transaction per episode (messages, tool calls, tokens, events)
 *   bundles writer: T submitting threads through ef_store_writer (batch 64)
 *   episodes read: the episode iterator, and token streams decoded
 *
 *   bench_store [DIR] [N_EPISODES] [N_TOKENS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/hash.h"
#include "datasets/datasets.h"

static int n_tokens = 4096;
static int32_t *ids, *offs, *topp;
static uint8_t *mask;
static float *lps;
static uint16_t *routes;
enum { LAYERS = 8, TOPK = 8 };

static void make_tokens(void)
{
    ids = malloc(sizeof *ids * (size_t)n_tokens);
    offs = malloc(sizeof *offs * (size_t)(n_tokens + 1));
    topp = malloc(sizeof *topp * (size_t)n_tokens * 4);
    mask = malloc((size_t)n_tokens);
    lps = malloc(sizeof *lps * (size_t)n_tokens);
    routes = malloc(sizeof *routes * (size_t)n_tokens * LAYERS * TOPK);
    if (!ids || !offs || !topp || !mask || !lps || !routes)
        exit(1);
    for (int i = 0; i < n_tokens; i++) {
        ids[i] = i * 7 % 129280;
        mask[i] = i > n_tokens / 4;
        lps[i] = mask[i] ? -0.1f : 0.0f;
        offs[i] = 4 * i;
        for (int k = 0; k < 4; k++)
            topp[4 * i + k] = ids[i] + k;
    }
    offs[n_tokens] = 4 * n_tokens;
    for (size_t i = 0; i < (size_t)n_tokens * LAYERS * TOPK; i++)
        routes[i] = (uint16_t)(i % 256);
}

typedef struct {
    int64_t run_id, task_id;
} ids_t;

static const ef_message_row msgs[4] = {
    {.idx = -1, .role = "system", .content = "You are a careful agent."},
    {.idx = -1, .role = "user", .content = "Plan a trip from Paris to Rome under 300 EUR."},
    {.idx = -1,
     .role = "assistant",
     .content = "",
     .reasoning_content = "Search flights first.",
     .tool_calls_json = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                        "\"search_flights\",\"arguments\":\"{\\\"from\\\":\\\"PAR\\\"}\"}}]"},
    {.idx = -1,
     .role = "tool",
     .content = "[{\"flight\":\"AZ331\",\"eur\":120}]",
     .tool_call_id = "c1"},
};
static const ef_tool_call_row call = {.message_idx = 2,
                                      .call_id = "c1",
                                      .tool = "search_flights",
                                      .arguments_json = "{\"from\":\"PAR\"}",
                                      .result = "[{\"flight\":\"AZ331\",\"eur\":120}]",
                                      .wall_ms = 3};
static const ef_event_row event = {.kind = "note", .payload_json = "{\"k\":1}"};

static ef_episode_bundle bundle(ef_episode_row *ep, ef_token_stream *t, const ids_t *x,
                                int64_t sample)
{
    *ep = (ef_episode_row){.run_id = x->run_id,
                           .task_id = x->task_id,
                           .group_id = 0,
                           .sample_idx = sample,
                           .status = "completed",
                           .end_reason = "answer",
                           .reward = 1.0,
                           .verified = 1,
                           .answer = "AZ331",
                           .n_turns = 2};
    *t = (ef_token_stream){.n_tokens = (size_t)n_tokens,
                           .token_ids = ids,
                           .loss_mask = mask,
                           .logprobs = lps,
                           .topp_offsets = offs,
                           .topp_ids = topp,
                           .route_layers = LAYERS,
                           .route_topk = TOPK,
                           .routes = routes};
    ef_episode_bundle b = {ep, msgs, 4, &call, 1, t, &event, 1};
    return b;
}

typedef struct {
    ef_store_writer *w;
    const ids_t *x;
    int64_t first, n;
} submitter;

static void *submit_main(void *arg)
{
    submitter *sb = arg;
    ef_ctx *ctx = ef_ctx_new();
    for (int64_t i = 0; i < sb->n; i++) {
        ef_episode_row ep;
        ef_token_stream t;
        ef_episode_bundle b = bundle(&ep, &t, sb->x, sb->first + i);
        if (ef_store_writer_submit(sb->w, ctx, &b, (uint64_t)i) < 0) {
            fprintf(stderr, "submit: %s\n", ef_errmsg(ctx));
            exit(1);
        }
    }
    ef_ctx_free(ctx);
    return NULL;
}

#define DIE(ctx)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "bench_store: %s\n", ef_errmsg(ctx));                                      \
        return 1;                                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n_eps = argc > 2 ? atoi(argv[2]) : 2000;
    n_tokens = argc > 3 ? atoi(argv[3]) : 4096;
    make_tokens();
    char path[600];
    snprintf(path, sizeof path, "%s/bench_store_%d.db", dir, (int)getpid());
    ef_ctx *ctx = ef_ctx_new();
    ef_store *s = NULL;
    if (ef_store_open(ctx, path, &s) < 0)
        DIE(ctx);
    char hex[65];
    ef_sha256_hex("bench", 5, hex);
    ef_env_row env = {.name = "bench", .content_hash = hex, .source = "return {}"};
    int64_t env_id;
    if (ef_store_env_insert(s, &env, &env_id) < 0)
        DIE(ctx);

    /* tasks */
    enum { N_TASKS = 20000, BATCH = 1000 };
    ef_task_row *rows = calloc(BATCH, sizeof *rows);
    char(*th)[65] = calloc(BATCH, 65);
    char(*tj)[96] = calloc(BATCH, 96);
    double t0 = ef_now_s();
    for (int b = 0; b < N_TASKS / BATCH; b++) {
        for (int i = 0; i < BATCH; i++) {
            int k = b * BATCH + i;
            snprintf(tj[i], 96, "{\"prompt\":\"task %d\",\"answer\":%d}", k, k);
            ef_sha256_hex(tj[i], strlen(tj[i]), th[i]);
            rows[i] = (ef_task_row){.env_id = env_id,
                                    .idx = k,
                                    .seed = (uint64_t)k,
                                    .content_hash = th[i],
                                    .prompt = "task",
                                    .task_json = tj[i]};
        }
        if (ef_store_task_insert_batch(s, rows, BATCH, NULL, NULL) < 0)
            DIE(ctx);
    }
    double dt = ef_now_s() - t0;
    printf("tasks: %d inserted in batches of %d: %.0f tasks/s\n", N_TASKS, BATCH, N_TASKS / dt);
    ids_t x = {0, 0};
    ef_task_iter *it;
    const ef_task_row *row;
    if (ef_store_task_iter_new(s, env_id, &it) < 0 ||
        ef_store_task_iter_next(it, &row, &x.task_id) != 1)
        DIE(ctx);
    ef_store_task_iter_free(it);
    ef_run_row run = {.name = "bench", .model = "oracle"};
    if (ef_store_run_insert(s, &run, &x.run_id) < 0)
        DIE(ctx);

    /* bundles, one transaction each */
    int n_direct = n_eps / 4;
    t0 = ef_now_s();
    for (int i = 0; i < n_direct; i++) {
        ef_episode_row ep;
        ef_token_stream t;
        ef_episode_bundle b = bundle(&ep, &t, &x, 1000000 + i);
        if (ef_store_bundle_insert(s, &b, NULL) < 0)
            DIE(ctx);
    }
    dt = ef_now_s() - t0;
    printf("bundles direct: %d episodes of %d tokens (%d layers x %d experts routed), one "
           "transaction each: %.0f episodes/s, %.1f MB/s of token data\n",
           n_direct, n_tokens, LAYERS, TOPK, n_direct / dt,
           n_direct * (double)n_tokens * (4 + 1 + 4 + 4 + 16 + LAYERS * TOPK) / dt / 1e6);

    /* the writer, 4 submitting threads */
    enum { THREADS = 4 };
    ef_store_writer *w;
    if (ef_store_writer_new(ctx, path, NULL, &w) < 0)
        DIE(ctx);
    pthread_t th_ids[THREADS];
    submitter sb[THREADS];
    t0 = ef_now_s();
    for (int i = 0; i < THREADS; i++) {
        sb[i] = (submitter){w, &x, (int64_t)i * n_eps, n_eps / THREADS};
        pthread_create(&th_ids[i], NULL, submit_main, &sb[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th_ids[i], NULL);
    if (ef_store_writer_close(w, ctx) < 0)
        DIE(ctx);
    dt = ef_now_s() - t0;
    int n_writer = THREADS * (n_eps / THREADS);
    printf("bundles writer: %d episodes from %d threads, batches of 64: %.0f episodes/s\n",
           n_writer, THREADS, n_writer / dt);

    /* reading */
    t0 = ef_now_s();
    ef_episode_iter *ei;
    const ef_episode_row *er;
    int64_t id, n_read = 0, n_tok = 0;
    if (ef_store_episode_iter_new(s, NULL, &ei) < 0)
        DIE(ctx);
    while (ef_store_episode_iter_next(ei, &er, &id) == 1) {
        ef_token_stream *t;
        if (ef_store_token_stream_get(s, id, &t) < 0)
            DIE(ctx);
        n_tok += (int64_t)t->n_tokens;
        ef_store_token_stream_free(t);
        n_read++;
    }
    ef_store_episode_iter_free(ei);
    dt = ef_now_s() - t0;
    printf("episodes read: %lld with their token streams decoded: %.0f episodes/s, %.1f M "
           "tokens/s\n",
           (long long)n_read, n_read / dt, n_tok / dt / 1e6);
    ef_store_close(s);
    free(rows);
    free(th);
    free(tj);
    char wal[640];
    unlink(path);
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    ef_ctx_free(ctx);
    return 0;
}
