/*
 * tests/agent_fuzz/episode_fuzz.c — fuzz target for everything the agent reads from a
 * model: the response reader (OpenAI chat completions, bare messages, token fields), tool
 * call arguments, DSML text in content, and the episode loop acting on all of it.
 *
 * Input: lines of text, each one model response as the model would send it (JSON or not).
 * An in-memory model answers turn k with line k (past the end: the last line again), and
 * one episode runs on the C test env with a small turn budget and a tiny context window.
 * Whatever the bytes, the episode must end with a known end reason, or fail with an error
 * code and a message, never crash or leak; a conversation printed to JSON must read back
 * to the same JSON.
 *
 * Built with -DEF_LIBFUZZER (cmake -DEF_FUZZ=ON, clang) it is a libFuzzer target; without
 * it, main() replays tests/agent_fixtures/misbehave.jsonl line by line (or files given as
 * arguments) and 10000 deterministic mutations of them, so CI runs the same
 * checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_int.h"
#include "common/rng.h"
#include "tests/agent_testenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const char *text;
    size_t len;
} fuzz_model;

static int fz_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                       ef_model_response *out)
{
    fuzz_model *f = m->impl;
    const char *p = f->text, *end = f->text + f->len, *line = p;
    size_t line_len = 0;
    for (int64_t k = 0; p <= end; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        line = p;
        line_len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (k == req->turn || !nl)
            break;
        p = nl + 1;
    }
    cJSON *j;
    int rc = ef_json_parse(ctx, line, line_len, "fuzz response", &j);
    if (rc < 0)
        return rc;
    rc = ef_agent__response_from_json(ctx, j, "fuzz response", out);
    cJSON_Delete(j);
    return rc;
}

static void fz_free(ef_model *m)
{
    (void)m;
}

static const ef_model_iface fuzz_iface = {"fuzz", fz_complete, fz_free, NULL};

static void die(const char *what)
{
    fprintf(stderr, "episode_fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ef_ctx *ctx;
    static ef_agent_env *env;
    if (!ctx) {
        ctx = ef_ctx_new();
        ef_ctx_set_log(ctx, EF_LOG_ERROR + 1, NULL, NULL);
        if (agent_testenv_open(NULL, ctx, 1, &env) < 0)
            die("test env");
    }
    fuzz_model f = {(const char *)data, size};
    ef_model m = {&fuzz_iface, (char *)"fuzz", &f};
    ef_agent_config cfg = EF_AGENT_CONFIG_INIT;
    cfg.max_turns = 6;
    cfg.max_tool_errors = 3;
    cfg.context_window = 300;
    cfg.max_tool_output_bytes = 64;
    char task[] = "{\"prompt\":\"Add 2 and 3.\",\"answer\":\"5\",\"meta\":{\"a\":2,\"b\":3}}";
    ef_agent_episode *ep = NULL;
    int rc = ef_agent_episode_run(ctx, &cfg, &m, env, task, 1, &ep);
    if (rc < 0) {
        if (!ef_errmsg(ctx)[0])
            die("an error without a message");
        return 0;
    }
    if ((unsigned)ep->end_reason >= EF_END_COUNT_)
        die("unknown end reason");
    if (ep->n_turns > cfg.max_turns)
        die("turn budget passed");
    if (!(ep->reward >= 0 && ep->reward <= 1))
        die("reward out of range");
    /* the transcript round-trips through OpenAI JSON */
    cJSON *j = NULL, *j2 = NULL;
    ef_agent_conv back = EF_AGENT_CONV_INIT;
    if (ef_agent_conv_to_json(&ep->transcript, 1, &j) == 0) {
        if (ef_agent_conv_from_json(ctx, j, &back) != 0)
            die(ef_errmsg(ctx));
        if (ef_agent_conv_to_json(&back, 1, &j2) == 0 && !cJSON_Compare(j, j2, 1))
            die("transcript JSON round trip differs");
    }
    cJSON_Delete(j);
    cJSON_Delete(j2);
    ef_agent_conv_clear(&back);
    ef_agent_episode_free(ep);
    return 0;
}

#ifndef EF_LIBFUZZER
static void mutate(ef_rng *r, char *buf, size_t *len, size_t cap)
{
    static const char *const frags[] = {"{",
                                        "}",
                                        "[",
                                        "]",
                                        "\"",
                                        ",",
                                        ":",
                                        "null",
                                        "true",
                                        "1e999",
                                        "\\u0000",
                                        "\\ud800",
                                        "tool_calls",
                                        "arguments",
                                        "\xef\xbd\x9c"
                                        "DSML"
                                        "\xef\xbd\x9c",
                                        "function_calls",
                                        "\n",
                                        "\xff",
                                        "-1",
                                        "{}",
                                        "\"\""};
    int n = 1 + (int)ef_rng_below(r, 4);
    for (int k = 0; k < n; k++) {
        size_t at = *len ? (size_t)ef_rng_below(r, *len + 1) : 0;
        switch (ef_rng_below(r, 4)) {
        case 0: /* flip a byte */
            if (*len)
                buf[ef_rng_below(r, *len)] ^= (char)(1u << ef_rng_below(r, 8));
            break;
        case 1: /* cut */
            *len = at;
            break;
        case 2: { /* insert a fragment */
            const char *f = frags[ef_rng_below(r, EF_ARRAY_LEN(frags))];
            size_t fl = strlen(f);
            if (*len + fl < cap) {
                memmove(buf + at + fl, buf + at, *len - at);
                memcpy(buf + at, f, fl);
                *len += fl;
            }
            break;
        }
        default: /* delete a span */
            if (at < *len) {
                size_t want = (size_t)ef_rng_below(r, 16) + 1; /* once: EF_MIN evaluates twice */
                size_t d = EF_MIN(*len - at, want);
                memmove(buf + at, buf + at + d, *len - at - d);
                *len -= d;
            }
        }
    }
}

int main(int argc, char **argv)
{
    const char *src = getenv("EF_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/agent_fixtures/misbehave.jsonl", src ? src : ".");
    const char *files[64];
    int n_files = 0;
    for (int i = 1; i < argc && n_files < 64; i++)
        files[n_files++] = argv[i];
    if (!n_files)
        files[n_files++] = path;
    ef_rng r;
    ef_rng_seed(&r, 20261123);
    long n_runs = 0;
    for (int fi = 0; fi < n_files; fi++) {
        FILE *f = fopen(files[fi], "rb");
        if (!f) {
            fprintf(stderr, "episode_fuzz: cannot open %s\n", files[fi]);
            return 1;
        }
        static char seeds[256][2048];
        size_t seed_len[256];
        int n_seeds = 0;
        while (n_seeds < 256 && fgets(seeds[n_seeds], sizeof(seeds[0]), f))
            seed_len[n_seeds] = strlen(seeds[n_seeds]), n_seeds++;
        fclose(f);
        /* each line alone, then pairs, then mutations of pairs */
        for (int i = 0; i < n_seeds; i++, n_runs++)
            LLVMFuzzerTestOneInput((const uint8_t *)seeds[i], seed_len[i]);
        static char buf[8192];
        for (int k = 0; k < 10000; k++, n_runs++) {
            int a = (int)ef_rng_below(&r, (uint64_t)n_seeds),
                b = (int)ef_rng_below(&r, (uint64_t)n_seeds);
            size_t len = 0;
            memcpy(buf, seeds[a], seed_len[a]);
            len = seed_len[a];
            memcpy(buf + len, seeds[b], seed_len[b]);
            len += seed_len[b];
            mutate(&r, buf, &len, sizeof(buf));
            LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
        }
    }
    printf("episode_fuzz: %ld inputs, no crash\n", n_runs);
    printf("1 passed, 0 failed, 0 skipped\n");
    return 0;
}
#endif
