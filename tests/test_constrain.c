/*
 * tests/test_constrain.c — constrained DSML tool calls (engine/constrain.h) sampled from
 * the random tiny model (tests/fixtures/tiny_model) through the batch scheduler: every
 * completion must parse with the project's DSML parser (engine/encoding.h) and its
 * arguments must validate against the tool's JSON Schema (tools/tools.h). The count is
 * 1000 (EF_CONSTRAIN_N overrides it, e.g. under sanitizers). Also: the grammar refuses
 * tokens it does not allow, and bad schemas are errors.
 */
#include <stdlib.h>
#include "engine/serve.h"
#include "tools/tools.h"
#include "tests/testlib.h"

static const char TOOLS[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"w\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"location\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":12},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]},"
    "\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7}},"
    "\"required\":[\"location\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"search\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"query\":{\"type\":\"string\"},"
    "\"filters\":{\"type\":\"object\",\"properties\":{\"lang\":{\"type\":\"string\"},"
    "\"year\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},"
    "\"maxItems\":3}},\"required\":[\"lang\"]},"
    "\"limit\":{\"type\":\"integer\",\"minimum\":0}},\"required\":[\"query\",\"filters\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"set_flags\",\"parameters\":{\"type\":"
    "\"object\","
    "\"properties\":{\"flags\":{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":1}"
    ","
    "\"ratio\":{\"type\":\"number\"},\"mode\":{\"type\":[\"string\",\"null\"]},"
    "\"nested\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"object\",\"properties\":{\"b\":{\"enum\":[1,\"x\",null]}},\"required\":[\"b\"]}}}}"
    ","
    "\"any\":{}},"
    "\"required\":[\"flags\",\"nested\"]}}},"
    "{\"type\":\"function\",\"function\":{\"name\":\"noop\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{}}}}]";

static ef_engine_rt *rt;

static const cJSON *tool_schema(const cJSON *tools, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if (strcmp(cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring, name) == 0)
            return cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    }
    return NULL;
}

static void test_thousand_calls(void)
{
    ef_ctx *ctx = ef_ctx_new();
    cJSON *tools = cJSON_Parse(TOOLS);
    const ef_constrain_vocab *v;
    EF_CHECK(tools != NULL);
    EF_CHECK(ef_engine_rt_vocab(ctx, rt, &v) == 0);
    const char *env = getenv("EF_CONSTRAIN_N");
    int N = env ? atoi(env) : 1000, batch = 32;
    int32_t prompt[] = {0, 17, 42, 99, 100, 7};
    int32_t eos = ef_engine_rt_eos(rt);
    int parsed = 0, valid = 0, calls = 0, n_tok = 0, used[4] = {0};
    for (int base = 0; base < N; base += batch) {
        int m = EF_MIN(batch, N - base);
        ef_constrain *c[32] = {0};
        ef_gen_handle *h[32] = {0};
        for (int i = 0; i < m; i++) {
            ef_constrain_options o = EF_CONSTRAIN_OPTIONS_INIT;
            o.max_reasoning_bytes = 8 + (base + i) % 16;
            o.max_content_bytes = (base + i) % 3 == 0 ? 6 : 0;
            o.max_calls = 1 + (base + i) % 2;
            o.max_string_chars = 12;
            EF_CHECK(ef_engine_constrain_new(ctx, v, tools, &o, &c[i]) == 0);
            ef_gen_request rq = EF_GEN_REQUEST_INIT;
            rq.prompt = prompt;
            rq.n_prompt = 6;
            rq.seed = (uint64_t)(base + i) * 7919u + 1;
            rq.max_tokens = 1200;
            rq.stop_ids = &eos;
            rq.n_stop = 1;
            rq.constrain = c[i];
            rq.keep_routes = 0;
            EF_CHECK(ef_engine_batch_submit(ctx, ef_engine_rt_batch(rt), &rq, &h[i]) == 0);
        }
        for (int i = 0; i < m; i++) {
            int done = 0;
            while (!done)
                ef_engine_batch_wait(ef_engine_rt_batch(rt), h[i],
                                     ef_engine_batch_output(h[i])->n_tokens, &done);
            const ef_gen_output *o = ef_engine_batch_output(h[i]);
            n_tok += o->n_tokens;
            if (o->finish != EF_GEN_STOP) {
                EF_FAULT_("sample %d: finish %d (%s) after %d tokens", base + i, o->finish,
                          o->error, o->n_tokens);
            } else {
                char *text;
                size_t len;
                cJSON *msg = NULL;
                ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
                EF_CHECK(ef_engine_rt_detok(ctx, rt, o->tokens, o->n_tokens, 0, &text, &len) == 0);
                if (ef_engine_chat_parse(ctx, text, len, &po, &msg) < 0) {
                    EF_FAULT_("sample %d does not parse: %s\n%s", base + i, ef_errmsg(ctx), text);
                } else {
                    parsed++;
                    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls"), *call;
                    int ok = cJSON_GetArraySize(tc) >= 1;
                    cJSON_ArrayForEach(call, tc)
                    {
                        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
                        const char *name =
                            cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring;
                        const char *args =
                            cJSON_GetObjectItemCaseSensitive(fn, "arguments")->valuestring;
                        const cJSON *schema = tool_schema(tools, name);
                        cJSON *a = cJSON_Parse(args);
                        calls++;
                        for (int k = 0; k < 4; k++)
                            if (strcmp(name, (const char *[]){"get_weather", "search", "set_flags",
                                                              "noop"}[k]) == 0)
                                used[k]++;
                        if (!schema || !a ||
                            ef_tools_schema_validate(ctx, schema, a, "arguments") < 0) {
                            ok = 0;
                            EF_FAULT_("sample %d: %s(%s): %s", base + i, name, args,
                                      schema && a ? ef_errmsg(ctx) : "unknown tool or bad JSON");
                        }
                        cJSON_Delete(a);
                    }
                    valid += ok;
                }
                if (base + i < 2)
                    printf("    sample %d: %s\n", base + i, text);
                cJSON_Delete(msg);
                ef_free(text);
            }
            ef_engine_batch_release(ef_engine_rt_batch(rt), h[i]);
            ef_engine_constrain_free(c[i]);
        }
    }
    printf("    %d constrained completions: %d parse, %d validate; %d calls (get_weather %d, "
           "search %d, set_flags %d, noop %d); %d tokens\n",
           N, parsed, valid, calls, used[0], used[1], used[2], used[3], n_tok);
    EF_CHECK_EQ_INT(parsed, N);
    EF_CHECK_EQ_INT(valid, N);
    cJSON_Delete(tools);
    ef_ctx_free(ctx);
}

static void test_refuses(void)
{
    ef_ctx *ctx = ef_ctx_new();
    cJSON *tools = cJSON_Parse(TOOLS);
    const ef_constrain_vocab *v;
    EF_CHECK(ef_engine_rt_vocab(ctx, rt, &v) == 0);
    ef_constrain_options o = EF_CONSTRAIN_OPTIONS_INIT;
    o.thinking = 0;
    ef_constrain *c;
    EF_CHECK(ef_engine_constrain_new(ctx, v, tools, &o, &c) == 0);
    const int32_t *ids;
    int n;
    EF_CHECK(ef_engine_constrain_allowed(ctx, c, &ids, &n) == 0);
    /* chat mode, no content: every allowed token starts with "\n" */
    const ef_tokenizer *tok = ef_engine_rt_tok(rt);
    for (int i = 0; i < n; i++) {
        const char *b;
        size_t l;
        EF_CHECK(ef_engine_tok_token_bytes(tok, ids[i], &b, &l) == 0 && b[0] == '\n');
    }
    EF_CHECK(n > 0 && n < ef_engine_tok_vocab_size(tok) / 4);
    int32_t a_id = -1, eos = ef_engine_rt_eos(rt);
    for (int32_t t = 0; t < ef_engine_tok_vocab_size(tok); t++) {
        const char *b;
        size_t l;
        if (ef_engine_tok_token_bytes(tok, t, &b, &l) == 0 && l == 1 && b[0] == 'a')
            a_id = t;
    }
    EF_CHECK(a_id >= 0 && ef_engine_constrain_accept(ctx, c, a_id) == EF_EINVAL);
    EF_CHECK(ef_engine_constrain_accept(ctx, c, eos) == EF_EINVAL);
    ef_engine_constrain_free(c);
    /* bad tools */
    const char *bad[] = {"[]", "{}", "[{\"type\":\"function\",\"function\":{\"name\":\"a\\\"b\"}}]",
                         "[{\"function\":{\"name\":\"x\",\"parameters\":{\"type\":\"object\","
                         "\"properties\":{},\"required\":[\"y\"]}}}]"};
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
        cJSON *t = cJSON_Parse(bad[i]);
        ef_constrain *x = NULL;
        EF_CHECK_MSG(ef_engine_constrain_new(ctx, v, t, &o, &x) == EF_EINVAL, "%s", bad[i]);
        ef_engine_constrain_free(x);
        cJSON_Delete(t);
    }
    cJSON_Delete(tools);
    ef_ctx_free(ctx);
}

/* The plain-text shortcut gives the same masks as stepping every edge: the same seeds
 * sample the same completions either way. */
static void test_fast_masks_equal_slow(void)
{
    ef_ctx *ctx = ef_ctx_new();
    cJSON *tools = cJSON_Parse(TOOLS);
    const ef_constrain_vocab *v;
    EF_CHECK(ef_engine_rt_vocab(ctx, rt, &v) == 0);
    int32_t prompt[] = {0, 17, 42, 99};
    int32_t eos = ef_engine_rt_eos(rt);
    int same = 0, N = 24;
    uint64_t t_fast = 0, t_slow = 0;
    for (int i = 0; i < N; i++) {
        int32_t got[2][400];
        int n_got[2] = {0, 0};
        for (int slow = 0; slow < 2; slow++) {
            ef_constrain_options o = EF_CONSTRAIN_OPTIONS_INIT;
            o.slow_masks = slow;
            o.max_string_chars = 12;
            ef_constrain *c;
            EF_CHECK(ef_engine_constrain_new(ctx, v, tools, &o, &c) == 0);
            ef_gen_request rq = EF_GEN_REQUEST_INIT;
            rq.prompt = prompt;
            rq.n_prompt = 4;
            rq.seed = (uint64_t)i + 100;
            rq.max_tokens = 400;
            rq.stop_ids = &eos;
            rq.n_stop = 1;
            rq.constrain = c;
            rq.keep_routes = 0;
            ef_gen_handle *h = NULL;
            uint64_t t0 = ef_now_ns();
            EF_CHECK(ef_engine_batch_run(ctx, ef_engine_rt_batch(rt), &rq, &h) == 0);
            *(slow ? &t_slow : &t_fast) += ef_now_ns() - t0;
            if (h) {
                const ef_gen_output *o2 = ef_engine_batch_output(h);
                n_got[slow] = o2->n_tokens;
                memcpy(got[slow], o2->tokens, sizeof(int32_t) * (size_t)o2->n_tokens);
            }
            ef_engine_batch_release(ef_engine_rt_batch(rt), h);
            ef_engine_constrain_free(c);
        }
        same +=
            n_got[0] == n_got[1] && memcmp(got[0], got[1], sizeof(int32_t) * (size_t)n_got[0]) == 0;
    }
    printf("    %d/%d completions identical with and without the shortcut (%.2f s vs %.2f s)\n",
           same, N, (double)t_fast / 1e9, (double)t_slow / 1e9);
    EF_CHECK_EQ_INT(same, N);
    cJSON_Delete(tools);
    ef_ctx_free(ctx);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ef_ctx *ctx = ef_ctx_new();
    const char *src = getenv("EF_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/tiny_model", src ? src : ".");
    ef_rt_options ro = EF_RT_OPTIONS_INIT;
    ro.n_threads = 1;
    if (ef_engine_rt_open(ctx, dir, &ro, &rt) < 0) {
        printf("cannot open %s: %s\n", dir, ef_errmsg(ctx));
        return 1;
    }
    EF_RUN(test_refuses);
    EF_RUN(test_fast_masks_equal_slow);
    EF_RUN(test_thousand_calls);
    ef_engine_rt_free(rt);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
