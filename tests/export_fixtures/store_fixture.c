/*
 * tests/export_fixtures/store_fixture.c — writes the fixture stores described in
 * store_fixture.h through the store API (real SQLite files).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "datasets/datasets.h"
#include "tests/export_fixtures/store_fixture.h"

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

int ef_fixture_stream_make(uint64_t seed, size_t n_prompt, size_t n, int wide_routes,
                           ef_fixture_stream *t)
{
    memset(t, 0, sizeof(*t));
    t->n = n;
    t->L = 4;
    t->K = wide_routes ? 2 : 8;
    t->ids = malloc(4 * n + 4);
    t->mask = malloc(n + 1);
    t->logprobs = malloc(4 * n + 4);
    t->offs = malloc(4 * (n + 1));
    t->topp = malloc(4 * (8 * n + 1));
    t->routes = malloc(2 * (n * (size_t)(t->L * t->K)) + 2);
    if (!t->ids || !t->mask || !t->logprobs || !t->offs || !t->topp || !t->routes) {
        ef_fixture_stream_free(t);
        return EF_ENOMEM;
    }
    /* prompt | model (1/3) | tool (1/6) | model (rest) */
    size_t rest = n > n_prompt ? n - n_prompt : 0;
    size_t m1 = n_prompt + rest / 3, tool_end = m1 + rest / 6;
    t->offs[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = mix(seed * 1000003ULL + i);
        t->ids[i] = (int32_t)(h % 129280);
        t->mask[i] = i >= n_prompt && (i < m1 || i >= tool_end);
        t->logprobs[i] = t->mask[i] ? -(float)((h >> 20) % 10000) / 1000.0f : 0.0f;
        int32_t k = t->mask[i] ? (int32_t)(1 + (h >> 40) % 8) : 0;
        for (int32_t j = 0; j < k; j++)
            t->topp[t->offs[i] + j] = j == 0 ? t->ids[i] : (int32_t)((h >> (j * 3)) % 129280);
        t->offs[i + 1] = t->offs[i] + k;
        for (int64_t r = 0; r < t->L * t->K; r++)
            t->routes[i * (size_t)(t->L * t->K) + (size_t)r] =
                (uint16_t)(wide_routes ? 200 + (h >> (r % 48)) % 56 + (r % 2) * 100
                                       : (h >> (r % 56)) % 256);
    }
    return 0;
}

void ef_fixture_stream_free(ef_fixture_stream *t)
{
    free(t->ids);
    free(t->mask);
    free(t->logprobs);
    free(t->offs);
    free(t->topp);
    free(t->routes);
    memset(t, 0, sizeof(*t));
}

static const char calc_tools[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"calc\",\"description\":\"Evaluate an "
    "expression\",\"parameters\":{\"type\":\"object\",\"properties\":{\"expression\":{\"type\":"
    "\"string\"}},\"required\":[\"expression\"]}}},{\"type\":\"function\",\"function\":{\"name\":"
    "\"lookup\",\"description\":\"Look a constant up\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}}}]";
static const char lookup_tools[] =
    "[{\"name\":\"calc\",\"description\":\"Evaluate an expression\",\"parameters\":{\"type\":"
    "\"object\",\"properties\":{\"expression\":{\"type\":\"string\"}},\"required\":"
    "[\"expression\"]}},{\"name\":\"lookup\",\"description\":\"Look a constant up\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},"
    "\"required\":[\"name\"]}}]";

typedef struct {
    ef_store *s;
    int64_t env_id[2], run_id[2], task_id[8];
} fx;

static int add_episode(fx *f, int64_t run, int64_t task, int64_t group, int64_t sample,
                       double reward, int verified, int tokens, int wide, size_t n_tokens)
{
    char prompt[64], answer[32], reasoning1[128], reasoning2[128], calls[512], vinfo[128];
    snprintf(prompt, sizeof(prompt), "Compute task %lld: what is 6 * 7 + pi?", (long long)task);
    snprintf(answer, sizeof(answer), "%s", reward >= 1 ? "45.14159" : "44");
    snprintf(reasoning1, sizeof(reasoning1),
             "I need pi first, then 6 * 7 (sample %lld). </script> <b>not markup</b>",
             (long long)sample);
    snprintf(reasoning2, sizeof(reasoning2), "42 + 3.14159 = 45.14159; answer now. caf\xc3\xa9");
    snprintf(calls, sizeof(calls),
             "[{\"id\":\"call_%lld_0\",\"type\":\"function\",\"function\":{\"name\":\"calc\","
             "\"arguments\":\"{\\\"expression\\\":\\\"6 * 7\\\"}\"}},{\"id\":\"call_%lld_1\","
             "\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"arguments\":"
             "{\"name\":\"pi\"}}}]",
             (long long)sample, (long long)sample);
    char id0[32], id1[32];
    snprintf(id0, sizeof(id0), "call_%lld_0", (long long)sample);
    snprintf(id1, sizeof(id1), "call_%lld_1", (long long)sample);
    snprintf(vinfo, sizeof(vinfo), "{\"expected\":\"45.14159\",\"got\":\"%s\",\"match\":%s}",
             answer, reward >= 1 ? "true" : "false");
    ef_message_row msgs[] = {
        {0, "system", "You are a careful calculator agent.", NULL, NULL, NULL, NULL},
        {1, "user", prompt, NULL, NULL, NULL, NULL},
        {2, "assistant", "", reasoning1, calls, NULL, NULL},
        {3, "tool", "42", NULL, NULL, id0, "calc"},
        {4, "tool", "error: unknown constant 'pi' \x01", NULL, NULL, id1, "lookup"},
        {5, "assistant", answer, reasoning2, NULL, NULL, NULL},
    };
    ef_tool_call_row tc[] = {
        {2, id0, "calc", "{\"expression\":\"6 * 7\"}", "42", 0, 3},
        {2, id1, "lookup", "{\"name\":\"pi\"}", "error: unknown constant 'pi'", 1, 1},
    };
    ef_episode_row ep;
    memset(&ep, 0, sizeof(ep));
    ep.run_id = run;
    ep.task_id = task;
    ep.group_id = group;
    ep.sample_idx = sample;
    ep.status = "completed";
    ep.end_reason = sample == 3 ? "max_turns" : "answer";
    ep.reward = reward;
    ep.verified = verified;
    ep.answer = answer;
    ep.verify_info = vinfo;
    ep.n_turns = 2;
    ep.n_tool_calls = 2;
    ep.n_tool_errors = 1;
    ep.n_prompt_tokens = 40;
    ep.n_completion_tokens = (int64_t)n_tokens - 20;
    ep.wall_ms = 1200;
    ep.started_at = 1.7e9;
    ef_fixture_stream st;
    int rc = 0;
    ef_token_stream ts;
    memset(&ts, 0, sizeof(ts));
    if (tokens) {
        if ((rc = ef_fixture_stream_make((uint64_t)(task * 100 + sample + run * 10000), 20,
                                         n_tokens, wide, &st)) < 0)
            return rc;
        ts.n_tokens = st.n;
        ts.token_ids = st.ids;
        ts.loss_mask = st.mask;
        ts.logprobs = st.logprobs;
        ts.topp_offsets = st.offs;
        ts.topp_ids = st.topp;
        ts.route_layers = st.L;
        ts.route_topk = st.K;
        ts.routes = st.routes;
    }
    ef_episode_bundle b = {&ep, msgs, 6, tc, 2, tokens ? &ts : NULL, NULL, 0};
    int64_t id;
    rc = ef_store_bundle_insert(f->s, &b, &id);
    if (tokens)
        ef_fixture_stream_free(&st);
    return rc;
}

int ef_fixture_small(ef_ctx *ctx, const char *path)
{
    fx f;
    memset(&f, 0, sizeof(f));
    int rc = ef_store_open(ctx, path, &f.s);
    if (rc < 0)
        return rc;
    ef_env_row envs[2] = {
        {"calc", 1, "interpreter", "calculator tasks", "aa01", "calc.lua", "return {}", calc_tools},
        {"lookup", 1, NULL, "lookup tasks", "aa02", "lookup.lua", "return {}", lookup_tools},
    };
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = ef_store_env_insert(f.s, &envs[i], &f.env_id[i]);
    /* tasks A..F in calc (levels 1,1,1,2,2,2), G, H in lookup (level 1) */
    for (int i = 0; i < 8 && rc == 0; i++) {
        char hash[16], prompt[64], json[160];
        snprintf(hash, sizeof(hash), "%02x", i);
        snprintf(prompt, sizeof(prompt), "Compute task %c: what is 6 * 7 + pi?", 'A' + i);
        snprintf(json, sizeof(json), "{\"prompt\":\"%s\",\"answer\":%s,\"state\":{\"k\":%d}}",
                 prompt, i == 2 ? "{\"value\":45.14159,\"tol\":0.001}" : "\"45.14159\"", i);
        ef_task_row t = {f.env_id[i < 6 ? 0 : 1],
                         i,
                         1000 + (uint64_t)i,
                         i < 3 || i >= 6 ? 1 : 2,
                         hash,
                         prompt,
                         json};
        size_t n_new;
        rc = ef_store_task_insert_batch(f.s, &t, 1, &n_new, NULL);
        f.task_id[i] = i + 1;
    }
    ef_run_row r1 = {
        "r1",  "replay:fixture.jsonl", "{\"group\":4,\"submit_tool\":false}", 7, 4, 0, 1, "done",
        "host"};
    ef_run_row r2 = {
        "r2",  "http://127.0.0.1:1/v1#m", "{\"group\":1,\"submit_tool\":true,\"builtin_tools\":[{\"type\":\"function\",\"function\":{\"name\":\"python\",\"description\":\"Run Python\",\"parameters\":{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\"}},\"required\":[\"code\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"calc\",\"parameters\":{\"type\":\"object\"}}}]}", 8, 1, 0, 1, "done",
        "host"};
    if (rc == 0)
        rc = ef_store_run_insert(f.s, &r1, &f.run_id[0]);
    if (rc == 0)
        rc = ef_store_run_insert(f.s, &r2, &f.run_id[1]);
    static const double rw[6][4] = {{1, 0, 1, 1},  {1, 1, 1, 1}, {0, 0.5, 1, 0.25},
                                    {1, 0, 1, -1}, {1, 1, 0, 1}, {0, 1, 1, 0}};
    /* insert out of order (sample 3 before 0) to check the export sorts */
    for (int t = 0; t < 6 && rc == 0; t++)
        for (int k = 3; k >= 0 && rc == 0; k--) {
            if (rw[t][k] < 0)
                continue;
            int verified = !(t == 4 && k == 2);
            int tokens = !(t == 5 && k == 1);
            rc = add_episode(&f, f.run_id[0], f.task_id[t], 100 + t, k, rw[t][k], verified, tokens,
                             t == 2, 64 + 16 * (size_t)k);
        }
    for (int t = 6; t < 8 && rc == 0; t++)
        rc =
            add_episode(&f, f.run_id[1], f.task_id[t], 200 + t, 0, t == 6 ? 1.0 : 0.0, 1, 1, 0, 48);
    ef_store_close(f.s);
    return rc;
}

int ef_fixture_large(ef_ctx *ctx, const char *path, int64_t n_groups, int64_t group_size,
                     int64_t n_tokens)
{
    fx f;
    memset(&f, 0, sizeof(f));
    int rc = ef_store_open(ctx, path, &f.s);
    if (rc < 0)
        return rc;
    ef_env_row env = {"calc", 1,          "interpreter", "calculator tasks",
                      "bb01", "calc.lua", "return {}",   calc_tools};
    rc = ef_store_env_insert(f.s, &env, &f.env_id[0]);
    ef_run_row r = {"bench", "replay:bench.jsonl", "{}", 1, group_size, 0, 1, "done", "host"};
    if (rc == 0)
        rc = ef_store_run_insert(f.s, &r, &f.run_id[0]);
    for (int64_t g = 0; g < n_groups && rc == 0; g++) {
        char hash[32], prompt[64], json[160];
        snprintf(hash, sizeof(hash), "%llx", (long long)g + 1);
        snprintf(prompt, sizeof(prompt), "Compute task %lld", (long long)g);
        snprintf(json, sizeof(json), "{\"prompt\":\"%s\",\"answer\":\"1\"}", prompt);
        ef_task_row t = {f.env_id[0], g, (uint64_t)g, 1, hash, prompt, json};
        if ((rc = ef_store_task_insert_batch(f.s, &t, 1, NULL, NULL)) < 0)
            break;
        if ((rc = ef_store_begin(f.s)) < 0)
            break;
        for (int64_t k = 0; k < group_size && rc == 0; k++)
            rc = add_episode(&f, f.run_id[0], g + 1, g + 1, k, (double)((g + k) % 3) / 2.0, 1, 1, 0,
                             (size_t)n_tokens);
        if (rc == 0)
            rc = ef_store_commit(f.s);
        else
            ef_store_rollback(f.s);
    }
    ef_store_close(f.s);
    return rc;
}
