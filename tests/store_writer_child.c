/*
 * tests/store_writer_child.c — the process test_store kills. It sets up an env, a task
 * and a run named RUN in the store at PATH, prints "ready", then submits episode
 * bundles (tag = sample_idx = 0, 1, 2, ...) through an ef_store_writer that commits
 * exactly BATCH items per transaction, and prints "committed B" on stdout (unbuffered,
 * straight to the fd) after batch B's commit returns. It never stops on its own before
 * N_BATCHES batches; the parent SIGKILLs it somewhere in the middle.
 *
 *   store_writer_child PATH RUN BATCH N_BATCHES
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/hash.h"
#include "datasets/datasets.h"

#define N_TOKENS 1500
#define N_LAYERS 4
#define TOPK 2

typedef struct {
    size_t batch;
    int failed;
} child_state;

static void say(const char *line)
{
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t k = write(1, line + off, len - off);
        if (k <= 0)
            _exit(3);
        off += (size_t)k;
    }
}

static void on_commit(void *ud, const ef_store_commit_item *items, size_t n)
{
    child_state *cs = ud;
    for (size_t i = 0; i < n; i++)
        if (items[i].rc != 0 || items[i].tag / cs->batch != items[0].tag / cs->batch)
            cs->failed = 1;
    if (cs->failed || n != cs->batch) {
        say("bad batch\n");
        _exit(4);
    }
    char line[64];
    snprintf(line, sizeof line, "committed %llu\n", (unsigned long long)(items[0].tag / cs->batch));
    say(line);
}

static int setup(ef_ctx *ctx, const char *path, const char *run_name, int64_t *run_id,
                 int64_t *task_id)
{
    ef_store *s = NULL;
    int rc = ef_store_open(ctx, path, &s);
    if (rc < 0)
        return rc;
    char hex[EF_SHA256_HEX_LEN + 1];
    const char *src = "return {name='kill'}";
    ef_sha256_hex(src, strlen(src), hex);
    ef_env_row env = {.name = "kill", .version = 1, .content_hash = hex, .source = src};
    int64_t env_id = 0;
    const char *task_json = "{\"prompt\":\"survive\"}";
    char thex[EF_SHA256_HEX_LEN + 1];
    ef_sha256_hex(task_json, strlen(task_json), thex);
    rc = ef_store_env_insert(s, &env, &env_id);
    if (rc == 0) {
        ef_task_row t = {
            .env_id = env_id, .content_hash = thex, .prompt = "survive", .task_json = task_json};
        rc = ef_store_task_insert_batch(s, &t, 1, NULL, NULL);
    }
    ef_task_iter *it = NULL;
    if (rc == 0)
        rc = ef_store_task_iter_new(s, env_id, &it);
    const ef_task_row *row;
    if (rc == 0 && ef_store_task_iter_next(it, &row, task_id) != 1)
        rc = EF_ENOTFOUND;
    ef_store_task_iter_free(it);
    ef_run_row run = {.name = run_name, .model = "oracle", .group_size = 1};
    if (rc == 0)
        rc = ef_store_run_insert(s, &run, run_id);
    ef_store_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: store_writer_child PATH RUN BATCH N_BATCHES\n");
        return 2;
    }
    const char *path = argv[1], *run_name = argv[2];
    child_state cs = {(size_t)atol(argv[3]), 0};
    long n_batches = atol(argv[4]);
    ef_ctx *ctx = ef_ctx_new();
    int64_t run_id = 0, task_id = 0;
    if (setup(ctx, path, run_name, &run_id, &task_id) < 0) {
        fprintf(stderr, "store_writer_child: %s\n", ef_errmsg(ctx));
        return 1;
    }
    ef_store_writer_options o = EF_STORE_WRITER_OPTIONS_INIT;
    o.batch_items = cs.batch;
    o.batch_ms = 600000; /* batches close only when full */
    o.max_queue = cs.batch * 2;
    o.on_commit = on_commit;
    o.on_commit_ud = &cs;
    ef_store_writer *w = NULL;
    if (ef_store_writer_new(ctx, path, &o, &w) < 0) {
        fprintf(stderr, "store_writer_child: %s\n", ef_errmsg(ctx));
        return 1;
    }
    say("ready\n");

    static int32_t ids[N_TOKENS], offs[N_TOKENS + 1], topp[N_TOKENS * 2];
    static uint8_t mask[N_TOKENS];
    static float lps[N_TOKENS];
    static uint16_t routes[N_TOKENS * N_LAYERS * TOPK];
    for (int i = 0; i < N_TOKENS; i++) {
        ids[i] = 1000 + i;
        mask[i] = i >= 100;
        lps[i] = mask[i] ? -0.5f : 0.0f;
        offs[i] = 2 * i;
        topp[2 * i] = ids[i];
        topp[2 * i + 1] = ids[i] + 1;
    }
    offs[N_TOKENS] = 2 * N_TOKENS;
    for (int i = 0; i < N_TOKENS * N_LAYERS * TOPK; i++)
        routes[i] = (uint16_t)(i % 300);
    ef_token_stream tokens = {.n_tokens = N_TOKENS,
                              .token_ids = ids,
                              .loss_mask = mask,
                              .logprobs = lps,
                              .topp_offsets = offs,
                              .topp_ids = topp,
                              .route_layers = N_LAYERS,
                              .route_topk = TOPK,
                              .routes = routes};
    char long_text[4096];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    ef_message_row msgs[3] = {
        {.idx = -1, .role = "user", .content = "survive"},
        {.idx = -1,
         .role = "assistant",
         .content = long_text,
         .reasoning_content = "think",
         .tool_calls_json = "[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
                            "\"echo\",\"arguments\":\"{}\"}}]"},
        {.idx = -1, .role = "tool", .content = "ok", .tool_call_id = "c1"},
    };
    ef_tool_call_row calls[2] = {
        {.message_idx = 1, .call_id = "c1", .tool = "echo", .arguments_json = "{}", .result = "ok"},
        {.message_idx = 1,
         .call_id = "c2",
         .tool = "echo",
         .arguments_json = "{bad",
         .result = "invalid arguments",
         .is_error = 1},
    };
    ef_event_row ev = {.kind = "note", .payload_json = "{\"k\":1}"};
    for (uint64_t tag = 0; tag < (uint64_t)n_batches * cs.batch; tag++) {
        ef_episode_row ep = {.run_id = run_id,
                             .task_id = task_id,
                             .group_id = (int64_t)tag,
                             .sample_idx = (int64_t)tag,
                             .status = "ok",
                             .end_reason = "answer",
                             .reward = 1.0,
                             .verified = 1,
                             .answer = "survived",
                             .n_turns = 2};
        ef_episode_bundle b = {.episode = &ep,
                               .messages = msgs,
                               .n_messages = 3,
                               .tool_calls = calls,
                               .n_tool_calls = 2,
                               .tokens = &tokens,
                               .events = &ev,
                               .n_events = 1};
        if (ef_store_writer_submit(w, ctx, &b, tag) < 0) {
            fprintf(stderr, "store_writer_child: %s\n", ef_errmsg(ctx));
            return 1;
        }
    }
    int rc = ef_store_writer_close(w, ctx);
    say(rc == 0 ? "done\n" : "close failed\n");
    ef_ctx_free(ctx);
    return rc == 0 ? 0 : 1;
}
