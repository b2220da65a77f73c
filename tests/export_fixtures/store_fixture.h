/*
 * tests/export_fixtures/store_fixture.h — builds real store files for the export, stats
 * and report tests and for tests/bench/export.sh, through the store API.
 *
 * The small fixture (ef_fixture_small) holds, with hand-computed figures in the tests:
 *   env "calc" (OpenAI-form tools), env "lookup" (bare {name, description, parameters}
 *   tools, which the export wraps); run "r1" (group_size 4) and run "r2" (group_size 1).
 *   calc level 1, run r1: task A rewards {1, 0, 1, 1}, task B {1, 1, 1, 1},
 *     task C {0, 0.5, 1, 0.25} — complete groups with token streams;
 *   calc level 2, run r1: task D has 3 of 4 samples (incomplete), task E has one sample
 *     not verified, task F has one sample without a token stream;
 *   lookup level 1, run r2: tasks G (reward 1) and H (reward 0), groups of 1.
 *   Every episode has a system and user message, an assistant turn with reasoning and
 *   two tool calls (the second fails), two tool results, and a final assistant answer
 *   with reasoning; token streams have a prompt, model tokens, tool tokens and model
 *   tokens again, log-probs, top-p CSR sets and expert routes (uint16 ids > 255 in
 *   task C, uint8 elsewhere).
 */
#ifndef EF_STORE_FIXTURE_H
#define EF_STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include "common/ef.h"

int ef_fixture_small(ef_ctx *ctx, const char *path);

/* A large store for benchmarks: n_groups groups of group_size samples, each with a token
 * stream of n_tokens positions (routes 4 layers x 8, top-p sets of 1..8 ids). */
int ef_fixture_large(ef_ctx *ctx, const char *path, int64_t n_groups, int64_t group_size,
                     int64_t n_tokens);

/* The token stream the fixture stores for (episode seed, length, route bytes): the tests
 * compare exports against it. Arrays are malloc'd into *t; free with
 * ef_fixture_stream_free. */
typedef struct {
    size_t n;
    int32_t *ids;
    uint8_t *mask;
    float *logprobs;
    int32_t *offs, *topp;
    uint16_t *routes;
    int64_t L, K;
} ef_fixture_stream;
int ef_fixture_stream_make(uint64_t seed, size_t n_prompt, size_t n_tokens, int wide_routes,
                           ef_fixture_stream *t);
void ef_fixture_stream_free(ef_fixture_stream *t);

#endif
