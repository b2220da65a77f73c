/*
 * tests/test_agent.c — the agent: conversations through OpenAI JSON, response parsing,
 * argument checks, thinking retention, the episode loop over a scripted model that
 * misbehaves in every way (tests/agent_fixtures/misbehave.jsonl), context policies, the
 * oracle path, the runner (groups, shards, resume), and the http backend against a flaky
 * server on 127.0.0.1 (tests/agent_fixtures/http_server.py).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "common/json.h"
#include "engine/encoding.h"
#include "engine/tokenizer.h"
#include "tests/agent_testenv.h"
#include "tests/testlib.h"

static ef_ctx *g_ctx;

static char *fixture(const char *name)
{
    const char *src = getenv("EF_SOURCE_DIR");
    return ef_asprintf("%s/tests/agent_fixtures/%s", src ? src : ".", name);
}

/* ---- conversations ---------------------------------------------------------------- */

static void test_conv_roundtrip(void)
{
    const char *text =
        "[{\"role\":\"system\",\"content\":\"sys\"},{\"role\":\"user\",\"content\":\"hi\"},"
        "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"think\","
        "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"add\","
        "\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "{\"role\":\"tool\",\"content\":\"2\",\"tool_call_id\":\"c1\",\"name\":\"add\"},"
        "{\"role\":\"assistant\",\"content\":\"2\"}]";
    cJSON *j = cJSON_Parse(text);
    ef_agent_conv c = EF_AGENT_CONV_INIT;
    EF_CHECK_EQ_INT(ef_agent_conv_from_json(g_ctx, j, &c), 0);
    EF_CHECK_EQ_INT(c.n, 5);
    EF_CHECK(c.msgs[2].role == EF_ROLE_ASSISTANT && c.msgs[2].n_tool_calls == 1);
    EF_CHECK(strcmp(c.msgs[2].tool_calls[0].arguments, "{\"a\":1}") == 0);
    EF_CHECK(strcmp(c.msgs[2].reasoning_content, "think") == 0);
    EF_CHECK(strcmp(c.msgs[3].tool_call_id, "c1") == 0);
    cJSON *back;
    EF_CHECK_EQ_INT(ef_agent_conv_to_json(&c, 1, &back), 0);
    EF_CHECK_MSG(cJSON_Compare(j, back, 1), "round trip differs");
    cJSON_Delete(back);
    /* without reasoning */
    EF_CHECK_EQ_INT(ef_agent_conv_to_json(&c, 0, &back), 0);
    EF_CHECK(!cJSON_GetObjectItem(cJSON_GetArrayItem(back, 2), "reasoning_content"));
    cJSON_Delete(back);
    ef_agent_conv_clear(&c);
    cJSON_Delete(j);
}

static void test_conv_malformed(void)
{
    const char *bad[] = {"{}",
                         "[1]",
                         "[{\"role\":\"robot\"}]",
                         "[{\"role\":\"user\",\"content\":5}]",
                         "[{\"role\":\"assistant\",\"tool_calls\":{}}]",
                         "[{\"role\":\"assistant\",\"tool_calls\":[3]}]"};
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        ef_agent_conv c = EF_AGENT_CONV_INIT;
        EF_CHECK_MSG(ef_agent_conv_from_json(g_ctx, j, &c) < 0, "accepted %s", bad[i]);
        EF_CHECK(c.n == 0);
        cJSON_Delete(j);
    }
    /* arguments given as an object are printed to text */
    cJSON *j = cJSON_Parse("[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"x\","
                           "\"function\":{\"name\":\"f\",\"arguments\":{\"k\":[1,2]}}}]}]");
    ef_agent_conv c = EF_AGENT_CONV_INIT;
    EF_CHECK_EQ_INT(ef_agent_conv_from_json(g_ctx, j, &c), 0);
    EF_CHECK(c.n == 1 && strcmp(c.msgs[0].tool_calls[0].arguments, "{\"k\":[1,2]}") == 0);
    ef_agent_conv_clear(&c);
    cJSON_Delete(j);
}

static void test_conv_alloc_failure(void)
{
    const char *text = "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\","
                       "\"content\":\"x\",\"tool_calls\":[{\"id\":\"c\",\"function\":{\"name\":"
                       "\"f\",\"arguments\":\"{}\"}}]}]";
    cJSON *j = cJSON_Parse(text);
    long n;
    for (n = 1; n < 200; n++) {
        ef_agent_conv c = EF_AGENT_CONV_INIT;
        ef_alloc_fail_after(n);
        int rc = ef_agent_conv_from_json(g_ctx, j, &c);
        cJSON *out = NULL;
        int rc2 = rc == 0 ? ef_agent_conv_to_json(&c, 1, &out) : -1;
        long failed = ef_alloc_failed_count();
        ef_alloc_fail_after(0);
        cJSON_Delete(out);
        ef_agent_conv_clear(&c);
        if (failed == 0) {
            EF_CHECK(rc == 0 && rc2 == 0);
            break;
        }
    }
    EF_CHECK(n < 200);
    cJSON_Delete(j);
}

static void test_args_check(void)
{
    cJSON *args;
    char *why;
    EF_CHECK_EQ_INT(ef_agent_call_args_parse("{\"a\":1}", &args, &why), EF_CALL_OK);
    cJSON_Delete(args);
    EF_CHECK_EQ_INT(ef_agent_call_args_parse("", &args, &why), EF_CALL_OK);
    cJSON_Delete(args);
    /* an escaped backslash before u0000 is text, not a NUL */
    EF_CHECK_EQ_INT(ef_agent_call_args_parse("{\"code\":\"print('\\\\u0000')\"}", &args, &why),
                    EF_CALL_OK);
    cJSON_Delete(args);
    const char *bad[] = {"{a:1}", "[1,2]", "\"x\"", "{\"a\":1", "{\"a\":1} trailing",
                         "{\"path\":\"a.txt\\u0000/../x\"}"};
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
        EF_CHECK_MSG(ef_agent_call_args_parse(bad[i], &args, &why) == EF_CALL_MALFORMED, "%s",
                     bad[i]);
        EF_CHECK(args == NULL && why != NULL);
        ef_free(why);
    }
}

static void test_retention(void)
{
    ef_agent_conv c = EF_AGENT_CONV_INIT;
    ef_agent_msg a;
    memset(&a, 0, sizeof(a));
    a.role = EF_ROLE_ASSISTANT;
    a.content = "x";
    a.reasoning_content = "r1";
    ef_agent_conv_push_text(&c, EF_ROLE_USER, "q1");
    ef_agent_conv_push(&c, &a);
    ef_agent_conv_push_text(&c, EF_ROLE_TOOL, "t");
    a.reasoning_content = "r2";
    ef_agent_conv_push(&c, &a);
    ef_agent__retain_reasoning(&c);
    EF_CHECK(c.msgs[1].reasoning_content && c.msgs[3].reasoning_content); /* only tools follow */
    /* the harness's error feedback is not a new user turn: the reasoning stays */
    ef_agent_msg fb;
    memset(&fb, 0, sizeof(fb));
    fb.role = EF_ROLE_USER;
    fb.content = "error: your reply was empty";
    fb.feedback = 1;
    ef_agent_conv_push(&c, &fb);
    EF_CHECK(c.msgs[4].feedback == 1);
    ef_agent__retain_reasoning(&c);
    EF_CHECK(c.msgs[1].reasoning_content && c.msgs[3].reasoning_content);
    ef_agent_conv_push_text(&c, EF_ROLE_USER, "q2");
    ef_agent__retain_reasoning(&c);
    EF_CHECK(!c.msgs[1].reasoning_content && !c.msgs[3].reasoning_content); /* new user turn */
    EF_CHECK(c.msgs[5].feedback == 0);
    ef_agent_conv_clear(&c);
}

/* ---- the episode loop over the misbehaving script ------------------------------------ */

typedef struct {
    const char *script;
    ef_agent_end_reason end;
    double reward;
    int64_t parse, unknown, bad, tool_err;
} expect;

static const expect expects[] = {
    {"answer", EF_END_ANSWER, 1, 0, 0, 0, 0},
    {"tool_then_answer", EF_END_ANSWER, 1, 0, 0, 0, 0},
    {"malformed", EF_END_ANSWER, 1, 1, 0, 0, 0},
    {"unknown", EF_END_ANSWER, 1, 0, 1, 0, 0},
    {"bad_args", EF_END_ANSWER, 1, 0, 0, 1, 0},
    {"empty", EF_END_ANSWER, 1, 1, 0, 0, 0},
    {"empty_forever", EF_END_TOOL_ERROR, 0, 8, 0, 0, 0},
    {"loop", EF_END_MAX_TURNS, 0, 0, 0, 0, 0},
    {"malformed_forever", EF_END_TOOL_ERROR, 0, 8, 0, 0, 0},
    {"model_error", EF_END_MODEL_ERROR, 0, 0, 0, 0, 0},
    {"exhausted", EF_END_MODEL_ERROR, 0, 0, 0, 0, 0},
    {"submit", EF_END_SUBMIT, 1, 0, 0, 0, 0},
    {"length", EF_END_MAX_TOKENS, 0, 0, 0, 0, 0},
    {"tokens", EF_END_MAX_TOKENS, 0, 0, 0, 0, 0},
    {"reasoning", EF_END_ANSWER, 1, 0, 0, 0, 0},
    {"fail_tool", EF_END_ANSWER, 1, 0, 0, 0, 1},
    {"openai_full", EF_END_ANSWER, 1, 0, 0, 0, 0},
    {"no_name", EF_END_ANSWER, 1, 1, 0, 0, 0},
    {"wrong_answer", EF_END_ANSWER, 0, 0, 0, 0, 0},
    {"dsml", EF_END_ANSWER, 1, 0, 0, 0, 0},
    {"dsml_broken", EF_END_ANSWER, 1, 1, 0, 0, 0},
    {"no_args", EF_END_ANSWER, 1, 0, 0, 0, 0},
};

static void test_replay_misbehave(void)
{
    char *path = fixture("misbehave.jsonl"), *name = ef_asprintf("replay:%s", path);
    ef_model *m;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, name, NULL, &m), 0);
    ef_agent_env *env;
    agent_testenv_open(NULL, g_ctx, 1, &env);
    ef_agent_config cfg = EF_AGENT_CONFIG_INIT;
    cfg.max_tokens = 10000;
    char *task = agent_testenv_task(2, 3);
    for (size_t i = 0; m && i < EF_ARRAY_LEN(expects); i++) {
        const expect *e = &expects[i];
        ef_agent_episode *ep = NULL;
        int rc = ef_agent_episode_run_ext(g_ctx, &cfg, m, env, task, 7, (int64_t)i + 1, 0, &ep);
        EF_CHECK_MSG(rc == 0, "%s: %s", e->script, ef_errmsg(g_ctx));
        if (rc < 0)
            continue;
        EF_CHECK_MSG(ep->end_reason == e->end, "%s: end %s, want %s", e->script,
                     ef_agent_end_reason_name(ep->end_reason), ef_agent_end_reason_name(e->end));
        EF_CHECK_MSG(ep->reward == e->reward, "%s: reward %g", e->script, ep->reward);
        EF_CHECK_MSG(ep->n_parse_errors == e->parse && ep->n_unknown_tools == e->unknown &&
                         ep->n_bad_args == e->bad && ep->n_tool_errors == e->tool_err,
                     "%s: parse %lld unknown %lld bad %lld tool %lld", e->script,
                     (long long)ep->n_parse_errors, (long long)ep->n_unknown_tools,
                     (long long)ep->n_bad_args, (long long)ep->n_tool_errors);
        EF_CHECK(ep->verified == (ep->answer != NULL));
        EF_CHECK(ep->verified == (e->end == EF_END_ANSWER || e->end == EF_END_SUBMIT));
        if (strcmp(e->script, "loop") == 0)
            EF_CHECK_EQ_INT(ep->n_turns, cfg.max_turns);
        if (strcmp(e->script, "model_error") == 0) {
            EF_CHECK(strcmp(ef_agent_episode_status(ep), "failed") == 0);
            EF_CHECK(ep->error && strstr(ep->error, "server exploded"));
            EF_CHECK(ep->n_events == 1 && strcmp(ep->events[0].kind, "model_error") == 0);
        }
        if (strcmp(e->script, "reasoning") == 0) {
            /* transcript: system, user, assistant(r1, call), tool, assistant */
            EF_CHECK_EQ_INT(ep->transcript.n, 5);
            EF_CHECK(ep->transcript.msgs[2].reasoning_content &&
                     strcmp(ep->transcript.msgs[2].reasoning_content, "I should add.") == 0);
            EF_CHECK(strcmp(ep->transcript.msgs[3].tool_call_id, "r1") == 0);
            EF_CHECK(ep->n_calls == 1 && strcmp(ep->calls[0].result, "5") == 0);
        }
        if (strcmp(e->script, "no_args") == 0)
            EF_CHECK(ep->n_calls == 1 && strcmp(ep->calls[0].arguments, "{}") == 0 &&
                     strcmp(ep->calls[0].result, "pong") == 0);
        if (strcmp(e->script, "dsml") == 0) {
            EF_CHECK(ep->n_calls == 1 && strcmp(ep->calls[0].tool, "add") == 0 &&
                     strcmp(ep->calls[0].result, "5") == 0);
            EF_CHECK(ep->transcript.msgs[2].content &&
                     !strstr(ep->transcript.msgs[2].content, "DSML"));
        }
        if (strcmp(e->script, "tool_then_answer") == 0)
            EF_CHECK(ep->n_calls == 1 && ep->calls[0].message_idx == 2);
        if (strcmp(e->script, "openai_full") == 0)
            EF_CHECK_EQ_INT(ep->n_prompt_tokens, 20);
        if (strcmp(e->script, "unknown") == 0)
            EF_CHECK(strstr(ep->transcript.msgs[3].content, "unknown tool 'multiply'"));
        if (strcmp(e->script, "bad_args") == 0)
            EF_CHECK(strstr(ep->transcript.msgs[3].content, "arguments.a: expected integer"));
        ef_agent_episode_free(ep);
    }
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
    ef_free(name);
    ef_free(path);
}

static char *write_tmp(const char *text)
{
    char tmpl[] = "/tmp/ef_agent_test_XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) {
        close(fd);
        return NULL;
    }
    close(fd);
    return ef_strdup(tmpl);
}

/* Every allocation of an episode (model call, tool calls, recording, verify) failing in
 * turn: the episode fails cleanly (ASan finds leaks), then succeeds. */
static void test_episode_alloc_failure(void)
{
    char *path = fixture("misbehave.jsonl"), *name = ef_asprintf("replay:%s", path);
    ef_model *m = NULL;
    ef_agent_env *env;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, name, NULL, &m), 0);
    agent_testenv_open(NULL, g_ctx, 1, &env);
    char *task = agent_testenv_task(2, 3);
    long n;
    /* tool_then_answer, malformed, empty, reasoning, dsml, dsml_broken (the last two and
     * empty reach the loop's feedback path) */
    int64_t scripts[] = {2, 3, 6, 15, 20, 21};
    for (size_t k = 0; m && k < EF_ARRAY_LEN(scripts); k++) {
        for (n = 1; n < 5000; n++) {
            ef_agent_episode *ep = NULL;
            ef_alloc_fail_after(n);
            int rc = ef_agent_episode_run_ext(g_ctx, NULL, m, env, task, 1, scripts[k], 0, &ep);
            long failed = ef_alloc_failed_count();
            ef_alloc_fail_after(0);
            if (rc == 0 && failed == 0) {
                EF_CHECK(ep->reward == 1.0);
                ef_agent_episode_free(ep);
                break;
            }
            /* a failed allocation fails the call, never as the model's broken reply (the
             * test env reports its own as bad input) */
            EF_CHECK_MSG(rc == 0 ? ep != NULL : rc != EF_EPARSE, "script %lld, allocation %ld: %s",
                         (long long)scripts[k], n, ef_strerror(rc));
            ef_agent_episode_free(ep);
        }
        EF_CHECK(n < 5000);
    }
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
    ef_free(name);
    ef_free(path);
}

static void test_context_policies(void)
{
    char line[1024], pad[301];
    memset(pad, 'w', 300);
    pad[300] = 0;
    snprintf(line, sizeof(line),
             "{\"content\":\"summary of %s\",\"tool_calls\":[{\"id\":\"a\",\"function\":"
             "{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":1,\\\"b\\\":1}\"}}],"
             "\"repeat\":true}\n",
             pad);
    char *path = write_tmp(line);
    char *name = ef_asprintf("replay:%s", path);
    ef_model *m;
    ef_agent_env *env;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, name, NULL, &m), 0);
    agent_testenv_open(NULL, g_ctx, 1, &env);
    char *task = agent_testenv_task(2, 3);
    ef_agent_context_policy pols[] = {EF_CONTEXT_NONE, EF_CONTEXT_DISCARD_75,
                                      EF_CONTEXT_DISCARD_ALL, EF_CONTEXT_SUMMARY};
    for (size_t i = 0; m && i < EF_ARRAY_LEN(pols); i++) {
        ef_agent_config cfg = EF_AGENT_CONFIG_INIT;
        cfg.context_window = 400; /* ~1600 bytes */
        cfg.max_turns = 40;
        cfg.context_policy = pols[i];
        cfg.max_context_resets = 2;
        ef_agent_episode *ep = NULL;
        EF_CHECK_EQ_INT(ef_agent_episode_run_ext(g_ctx, &cfg, m, env, task, 1, 1, 0, &ep), 0);
        if (!ep)
            continue;
        EF_CHECK_MSG(ep->end_reason == EF_END_CONTEXT_OVERFLOW, "%s: %s",
                     ef_agent_context_policy_name(pols[i]),
                     ef_agent_end_reason_name(ep->end_reason));
        int64_t want = pols[i] == EF_CONTEXT_NONE ? 0 : 2;
        EF_CHECK_MSG(ep->n_context_resets == want, "%s: %lld resets",
                     ef_agent_context_policy_name(pols[i]), (long long)ep->n_context_resets);
        int64_t n_ev = 0;
        for (size_t k = 0; k < ep->n_events; k++)
            n_ev += strcmp(ep->events[k].kind, "context_reset") == 0;
        EF_CHECK_EQ_INT(n_ev, want);
        EF_CHECK(ep->n_turns > 2);
        ef_agent_episode_free(ep);
    }
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
    unlink(path);
    ef_free(name);
    ef_free(path);
}

static void test_oracle(void)
{
    ef_model *m;
    ef_agent_env *env;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, "oracle", NULL, &m), 0);
    EF_CHECK(ef_model_is_oracle(m));
    agent_testenv_open(NULL, g_ctx, 1, &env);
    char *task = agent_testenv_task(20, 22);
    ef_agent_episode *ep = NULL;
    EF_CHECK_EQ_INT(ef_agent_episode_run(g_ctx, NULL, m, env, task, 1, &ep), 0);
    if (ep) {
        EF_CHECK_EQ_INT(ep->end_reason, EF_END_ANSWER);
        EF_CHECK(ep->verified && ep->reward == 1.0);
        EF_CHECK(strcmp(ep->answer, "42") == 0);
        /* system, user, assistant(call add), tool "42", assistant "42" */
        EF_CHECK_EQ_INT(ep->transcript.n, 5);
        EF_CHECK(ep->transcript.n == 5 && ep->transcript.msgs[2].n_tool_calls == 1 &&
                 strcmp(ep->transcript.msgs[3].content, "42") == 0);
        EF_CHECK(ep->n_calls == 1 && ep->n_tool_calls == 1);
    }
    ef_agent_episode_free(ep);
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
}

/* The oracle meets --max-turns as a model does: each of the solver's calls is a turn and
 * so is its answer. With fewer turns than the solution needs, the solver is stopped
 * before its next call runs: the episode ends max_turns (truncated), no answer, verified
 * 0, and the verifier sees only the state the allowed calls made. The shop fixture's
 * solve calls price then buy per item; verify gives 0.5 for a full cart without the
 * answer, 0 for a partial cart. */
static void test_oracle_max_turns(void)
{
    ef_model *m;
    ef_agent_env *tenv;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, "oracle", NULL, &m), 0);
    agent_testenv_open(NULL, g_ctx, 1, &tenv);
    char *task = agent_testenv_task(20, 22);
    ef_agent_config cfg = EF_AGENT_CONFIG_INIT;
    cfg.max_turns = 1; /* the C env's one call fits; its answer does not */
    ef_agent_episode *ep = NULL;
    EF_CHECK_EQ_INT(ef_agent_episode_run(g_ctx, &cfg, m, tenv, task, 1, &ep), 0);
    if (ep) {
        EF_CHECK_EQ_INT(ep->end_reason, EF_END_MAX_TURNS);
        EF_CHECK_EQ_STR(ef_agent_episode_status(ep), "truncated");
        EF_CHECK(!ep->answer && !ep->verified && ep->reward == 0.0);
        EF_CHECK_EQ_INT(ep->n_turns, 1);
        EF_CHECK_EQ_INT(ep->transcript.n, 4); /* system, user, assistant(call), tool */
    }
    ef_agent_episode_free(ep);
    ef_free(task);
    ef_agent_env_free(tenv);

    const char *src = getenv("EF_SOURCE_DIR");
    char *shop = ef_asprintf("%s/tests/fixtures/envs/shop.lua", src ? src : ".");
    ef_agent_env *env = NULL;
    EF_CHECK_EQ_INT(ef_agent_env_lua_open(g_ctx, shop, NULL, 0, &env), 0);
    ef_free(shop);
    /* two items: price, buy, price, buy, then the answer (5 turns) */
    const char *shop_task =
        "{\"prompt\":\"Buy 2 x apple, 3 x bread. Answer with the total in cents.\","
        "\"state\":{\"prices\":{\"apple\":100,\"bread\":200},\"cart\":[]},\"answer\":800,"
        "\"meta\":{\"want\":[{\"item\":\"apple\",\"qty\":2},{\"item\":\"bread\",\"qty\":3}]}}";
    struct {
        int64_t max_turns;
        ef_agent_end_reason end;
        int64_t n_calls;
        double reward;
        const char *info;
    } cases[] = {
        {1, EF_END_MAX_TURNS, 1, 0.0, "\"state\":false"},
        {3, EF_END_MAX_TURNS, 3, 0.0, "\"state\":false"}, /* the second buy never ran */
        {4, EF_END_MAX_TURNS, 4, 0.5, "\"state\":true"},  /* every call, no answer turn */
        {5, EF_END_ANSWER, 4, 1.0, "\"answer\":true"},
        {0, EF_END_ANSWER, 4, 1.0, "\"answer\":true"}, /* 0: no limit */
    };
    for (size_t i = 0; env && i < sizeof cases / sizeof cases[0]; i++) {
        cfg.max_turns = cases[i].max_turns;
        ep = NULL;
        EF_CHECK_EQ_INT(ef_agent_episode_run(g_ctx, &cfg, m, env, shop_task, 1, &ep), 0);
        if (!ep)
            continue;
        EF_CHECK_MSG(ep->end_reason == cases[i].end && ep->n_tool_calls == cases[i].n_calls &&
                         ep->reward == cases[i].reward,
                     "max_turns %lld: end %s, %lld calls, reward %g (%s)",
                     (long long)cases[i].max_turns, ef_agent_end_reason_name(ep->end_reason),
                     (long long)ep->n_tool_calls, ep->reward, ep->error ? ep->error : "");
        EF_CHECK_CONTAINS(ep->verify_info ? ep->verify_info : "", cases[i].info);
        int ended = cases[i].end == EF_END_MAX_TURNS;
        EF_CHECK(ended ? !ep->answer && !ep->verified : ep->answer && ep->verified);
        EF_CHECK(ended ? ep->n_turns == cases[i].max_turns : ep->n_turns == 5);
        EF_CHECK_EQ_INT((int64_t)ep->n_calls, cases[i].n_calls);
        ef_agent_episode_free(ep);
    }
    ef_agent_env_free(env);
    ef_model_free(m);
}

static void test_builtin_tools(void)
{
    char *path =
        write_tmp("{\"tool_calls\":[{\"id\":\"e1\",\"function\":{\"name\":\"editor\",\"arguments\":"
                  "\"{\\\"command\\\":\\\"create\\\",\\\"path\\\":\\\"n.txt\\\",\\\"file_text\\\":"
                  "\\\"forty-two\\\\n\\\"}\"}}]}\n"
                  "{\"tool_calls\":[{\"id\":\"e2\",\"function\":{\"name\":\"editor\",\"arguments\":"
                  "\"{\\\"command\\\":\\\"view\\\",\\\"path\\\":\\\"n.txt\\\"}\"}},"
                  "{\"id\":\"e3\",\"function\":{\"name\":\"add\",\"arguments\":\"{\\\"a\\\":40,"
                  "\\\"b\\\":2}\"}}]}\n"
                  "{\"content\":\"42\"}\n");
    char *name = ef_asprintf("replay:%s", path);
    ef_model *m = NULL;
    ef_agent_env *inner, *env = NULL;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, name, NULL, &m), 0);
    agent_testenv_open(NULL, g_ctx, 1, &inner);
    const char *names[] = {"editor", "submit", NULL};
    EF_CHECK_EQ_INT(ef_agent_env_with_tools(g_ctx, inner, names, NULL, &env), 0);
    const char *bad[] = {"nonesuch", NULL};
    ef_agent_env *x = NULL, *inner2;
    agent_testenv_open(NULL, g_ctx, 1, &inner2);
    EF_CHECK(ef_agent_env_with_tools(g_ctx, inner2, bad, NULL, &x) == EF_EINVAL);
    if (env) {
        const char *tj = env->iface->tools_json(env);
        EF_CHECK(strstr(tj, "\"add\"") && strstr(tj, "\"editor\""));
        char *task = agent_testenv_task(40, 2);
        ef_agent_episode *ep = NULL;
        EF_CHECK_EQ_INT(ef_agent_episode_run_ext(g_ctx, NULL, m, env, task, 1, 1, 0, &ep), 0);
        if (ep) {
            EF_CHECK_EQ_INT(ep->end_reason, EF_END_ANSWER);
            EF_CHECK(ep->reward == 1.0);
            EF_CHECK_EQ_INT(ep->n_calls, 3);
            EF_CHECK_MSG(ep->n_calls == 3 && ep->calls[0].status == EF_CALL_OK &&
                             strstr(ep->calls[1].result, "forty-two"),
                         "editor: %s / %s", ep->n_calls ? ep->calls[0].result : "",
                         ep->n_calls > 1 ? ep->calls[1].result : "");
            EF_CHECK(ep->n_calls == 3 && strcmp(ep->calls[2].result, "42") == 0);
        }
        ef_agent_episode_free(ep);
        ef_free(task);
    }
    ef_agent_env_free(env);
    ef_model_free(m);
    unlink(path);
    ef_free(name);
    ef_free(path);
}

/* Sandboxed built-ins (bash) in several episodes of one env wrapper: each episode has its
 * own working directory at /work and runs as the sandbox's uid; the wrapper's sandbox
 * worker serves them all and is freed with it (ASan watches that). */
static void test_builtin_sandbox_tools(void)
{
    if (geteuid() != 0) {
        EF_SKIP_CASE("sandboxed tools need root for full isolation here");
        return;
    }
    char *path =
        write_tmp("{\"tool_calls\":[{\"id\":\"b1\",\"function\":{\"name\":\"bash\",\"arguments\":"
                  "\"{\\\"command\\\":\\\"ls /work | wc -l; id -u; echo hi > /work/f; cat /work/f\\\"}\"}}],"
                  "\"repeat\":false}\n"
                  "{\"content\":\"42\"}\n");
    char *name = ef_asprintf("replay:%s", path);
    ef_model *m = NULL;
    ef_agent_env *inner, *env = NULL;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, name, NULL, &m), 0);
    agent_testenv_open(NULL, g_ctx, 1, &inner);
    const char *names[] = {"bash", NULL};
    EF_CHECK_EQ_INT(ef_agent_env_with_tools(g_ctx, inner, names, NULL, &env), 0);
    for (int k = 0; env && k < 3; k++) {
        char *task = agent_testenv_task(40, 2);
        ef_agent_episode *ep = NULL;
        EF_CHECK_EQ_INT(ef_agent_episode_run_ext(g_ctx, NULL, m, env, task, 1, 1, k, &ep), 0);
        if (ep) {
            EF_CHECK_EQ_INT(ep->end_reason, EF_END_ANSWER);
            EF_CHECK_MSG(ep->n_calls >= 1 && ep->calls[0].status == EF_CALL_OK &&
                             strstr(ep->calls[0].result, "0\n1000\nhi") != NULL,
                         "episode %d bash: %s", k, ep->n_calls ? ep->calls[0].result : "(none)");
        }
        ef_agent_episode_free(ep);
        ef_free(task);
    }
    ef_agent_env_free(env);
    ef_model_free(m);
    unlink(path);
    ef_free(name);
    ef_free(path);
}

static void test_model_names(void)
{
    ef_model *m;
    EF_CHECK(ef_model_open(g_ctx, "nonsense", NULL, &m) == EF_EINVAL);
    EF_CHECK(ef_model_open(g_ctx, "", NULL, &m) == EF_EINVAL);
    EF_CHECK(ef_model_open(g_ctx, "replay:/nonexistent/file.jsonl", NULL, &m) < 0);
    char *p = write_tmp("{\"content\":\"x\"}\nnot json\n");
    char *n = ef_asprintf("replay:%s", p);
    EF_CHECK(ef_model_open(g_ctx, n, NULL, &m) == EF_EPARSE);
    EF_CHECK(strstr(ef_errmsg(g_ctx), ":2") != NULL);
    unlink(p);
    ef_free(p);
    ef_free(n);
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, "http://127.0.0.1:9/v1#m", NULL, &m), 0);
    ef_model_free(m);
}

/* ---- the runner -------------------------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int64_t n_tasks, group;
    int *count; /* [task_id * group + sample] */
    int *done;  /* preset "already stored" */
    int64_t n_put;
    int64_t n_end[EF_END_COUNT_];
    int64_t n_with_error, n_reward1;
} mem_sink;

static int mem_is_done(void *ud, int64_t task_id, int64_t sample)
{
    mem_sink *s = ud;
    return s->done && s->done[task_id * s->group + sample];
}

static int mem_put(void *ud, ef_ctx *ctx, const ef_agent_task *t, int64_t sample,
                   const ef_agent_episode *ep)
{
    (void)ctx;
    mem_sink *s = ud;
    pthread_mutex_lock(&s->mu);
    s->count[t->task_id * s->group + sample]++;
    s->n_put++;
    s->n_end[ep->end_reason]++;
    if (ep->end_reason == EF_END_MODEL_ERROR && ep->error && *ep->error)
        s->n_with_error++;
    if (ep->end_reason == EF_END_ANSWER && ep->reward == 1.0)
        s->n_reward1++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static ef_agent_task *make_tasks(int64_t n)
{
    ef_agent_task *t = ef_calloc((size_t)n, sizeof(*t));
    for (int64_t i = 0; i < n; i++) {
        t[i].task_id = i + 1;
        t[i].env_id = 1 + (i % 2);
        t[i].idx = i;
        t[i].task_json = agent_testenv_task((int)i, (int)(2 * i));
    }
    return t;
}

static void free_tasks(ef_agent_task *t, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        ef_free((char *)t[i].task_json);
    ef_free(t);
}

static void test_runner_groups_shards_resume(void)
{
    const int64_t n = 60, G = 3;
    ef_agent_task *tasks = make_tasks(n);
    ef_model *m;
    ef_model_open(g_ctx, "oracle", NULL, &m);
    int *total = ef_calloc((size_t)((n + 1) * G), sizeof(int));
    /* three shards, run one after the other; the middle one resumes half-done */
    for (int64_t sh = 0; sh < 3; sh++) {
        mem_sink s = {PTHREAD_MUTEX_INITIALIZER,
                      n,
                      G,
                      ef_calloc((size_t)((n + 1) * G), sizeof(int)),
                      NULL,
                      0,
                      {0},
                      0,
                      0};
        if (sh == 1) {
            s.done = ef_calloc((size_t)((n + 1) * G), sizeof(int));
            for (int64_t i = 1; i <= n; i += 2)
                s.done[i * G + 0] = 1;
        }
        ef_agent_sink sink = {mem_is_done, mem_put, &s};
        ef_agent_runner_options o = EF_AGENT_RUNNER_OPTIONS_INIT;
        o.group_size = G;
        o.concurrency = 4;
        o.shard_index = sh;
        o.shard_count = 3;
        o.progress_label = "";
        ef_agent_runner_stats st;
        EF_CHECK_EQ_INT(ef_agent_runner_run(g_ctx, &o, NULL, m, tasks, (size_t)n,
                                            agent_testenv_open, NULL, &sink, &st),
                        0);
        EF_CHECK_EQ_INT(st.n_planned, n / 3 * G);
        EF_CHECK_EQ_INT(st.n_run + st.n_skipped, st.n_planned);
        EF_CHECK_EQ_INT(st.n_passed, st.n_run);
        for (int64_t i = 1; i <= n; i++)
            for (int64_t k = 0; k < G; k++) {
                int c = s.count[i * G + k];
                int in_shard = i % 3 == sh;
                int skipped = s.done && s.done[i * G + k];
                EF_CHECK(c == (in_shard && !skipped ? 1 : 0));
                total[i * G + k] += c + (in_shard && skipped);
            }
        ef_free(s.count);
        ef_free(s.done);
    }
    for (int64_t i = 1; i <= n; i++)
        for (int64_t k = 0; k < G; k++)
            EF_CHECK(total[i * G + k] == 1);
    ef_free(total);
    ef_model_free(m);
    free_tasks(tasks, n);
}

/* ---- http against a flaky server ------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
    int fd; /* the server's stdout, kept open while it runs */
} server;

static int server_start_tok(server *s, const char *schedule, const char *tokenizer)
{
    int fds[2];
    if (access("/usr/bin/python3", X_OK) != 0 || pipe(fds) < 0)
        return -1;
    char *script = fixture("http_server.py");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 2);
        close(fds[0]);
        execl("/usr/bin/python3", "python3", script, schedule, tokenizer, (char *)NULL);
        _exit(127);
    }
    ef_free(script);
    close(fds[1]);
    char buf[32] = {0};
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    s->fd = fds[0];
    s->pid = pid;
    s->port = n > 0 ? atoi(buf) : 0;
    return s->port > 0 ? 0 : -1;
}

static int server_start(server *s, const char *schedule)
{
    return server_start_tok(s, schedule, NULL);
}

static void server_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    close(s->fd);
}

static void run_http(const char *schedule, int max_retries, int64_t max_requests, int64_t n,
                     ef_agent_runner_stats *st, mem_sink *s, ef_model_http_stats *hs)
{
    server srv;
    if (server_start(&srv, schedule) < 0) {
        EF_SKIP_CASE("python3 not available to run the test server");
        return;
    }
    char *url = ef_asprintf("http://127.0.0.1:%d/v1#test-model", srv.port);
    ef_model_options mo = EF_MODEL_OPTIONS_INIT;
    mo.timeout_ms = 500;
    mo.max_retries = max_retries;
    mo.backoff_ms = 5;
    mo.backoff_max_ms = 50;
    mo.max_requests = max_requests;
    ef_model *m = NULL;
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, url, &mo, &m), 0);
    ef_agent_task *tasks = make_tasks(n);
    ef_agent_sink sink = {NULL, mem_put, s};
    ef_agent_runner_options o = EF_AGENT_RUNNER_OPTIONS_INIT;
    o.concurrency = 8;
    o.progress_label = "";
    if (m)
        EF_CHECK_EQ_INT(ef_agent_runner_run(g_ctx, &o, NULL, m, tasks, (size_t)n,
                                            agent_testenv_open, NULL, &sink, st),
                        0);
    ef_model_http_get_stats(m, hs);
    free_tasks(tasks, n);
    ef_model_free(m);
    ef_free(url);
    server_stop(&srv);
}

static void test_http_flaky(void)
{
    const int64_t n = 24;
    mem_sink s = {PTHREAD_MUTEX_INITIALIZER,
                  n,
                  1,
                  ef_calloc((size_t)(n + 1), sizeof(int)),
                  NULL,
                  0,
                  {0},
                  0,
                  0};
    ef_agent_runner_stats st;
    ef_model_http_stats hs;
    memset(&st, 0, sizeof(st));
    run_http("429,ok,500,ok,slow,ok,drop,ok,trunc,ok", 10, 0, n, &st, &s, &hs);
    EF_CHECK_EQ_INT(s.n_put, n);
    for (int64_t i = 1; i <= n; i++)
        EF_CHECK(s.count[i] == 1);
    /* each episode answered (and passed) or failed as a model error with its message */
    EF_CHECK_EQ_INT(s.n_end[EF_END_ANSWER] + s.n_end[EF_END_MODEL_ERROR], n);
    EF_CHECK_EQ_INT(s.n_reward1, s.n_end[EF_END_ANSWER]);
    EF_CHECK_EQ_INT(s.n_with_error, s.n_end[EF_END_MODEL_ERROR]);
    EF_CHECK(s.n_end[EF_END_ANSWER] > 0);
    EF_CHECK_EQ_INT(st.n_passed, s.n_end[EF_END_ANSWER]);
    printf("    http flaky: %lld answered, %lld model errors\n", (long long)s.n_end[EF_END_ANSWER],
           (long long)s.n_end[EF_END_MODEL_ERROR]);
    EF_CHECK(hs.n_retries > 0 && hs.n_attempts > hs.n_requests);
    printf("    http flaky: %lld requests, %lld attempts, %lld retries, at most %lld in flight\n",
           (long long)hs.n_requests, (long long)hs.n_attempts, (long long)hs.n_retries,
           (long long)hs.max_inflight);
    EF_CHECK(hs.max_inflight >= 1);
    ef_free(s.count);
}

static void test_http_down_and_budget(void)
{
    const int64_t n = 10;
    mem_sink s = {PTHREAD_MUTEX_INITIALIZER,
                  n,
                  1,
                  ef_calloc((size_t)(n + 1), sizeof(int)),
                  NULL,
                  0,
                  {0},
                  0,
                  0};
    ef_agent_runner_stats st;
    ef_model_http_stats hs;
    run_http("500", 2, 0, n, &st, &s, &hs);
    EF_CHECK_EQ_INT(s.n_put, n);
    EF_CHECK_EQ_INT(s.n_end[EF_END_MODEL_ERROR], n);
    EF_CHECK_EQ_INT(s.n_with_error, n);
    EF_CHECK_EQ_INT(hs.n_attempts, 3 * n);
    EF_CHECK_EQ_INT(st.n_failed, n);
    ef_free(s.count);
    /* a budget of 5 attempts: the rest fail as model errors, none lost */
    mem_sink s2 = {PTHREAD_MUTEX_INITIALIZER,
                   n,
                   1,
                   ef_calloc((size_t)(n + 1), sizeof(int)),
                   NULL,
                   0,
                   {0},
                   0,
                   0};
    run_http("ok", 0, 5, n, &st, &s2, &hs);
    EF_CHECK_EQ_INT(s2.n_put, n);
    EF_CHECK(s2.n_end[EF_END_MODEL_ERROR] >= n - 3);
    ef_free(s2.count);
}

typedef struct {
    char text[8192];
    size_t len;
} log_capture;

static void capture_log(void *ud, ef_log_level level, const char *func, int line, const char *msg)
{
    (void)level;
    (void)func;
    (void)line;
    log_capture *c = ud;
    int n = snprintf(c->text + c->len, sizeof(c->text) - c->len, "%s\n", msg);
    if (n > 0 && c->len + (size_t)n < sizeof(c->text))
        c->len += (size_t)n;
}

/* The key goes in the Authorization header (the server checks it) and nowhere else: not
 * in logs, not in error messages. */
static void test_http_api_key(void)
{
    setenv("EF_TEST_EXPECT_KEY", "sk-test-7f3a9", 1);
    server srv;
    int started = server_start(&srv, "500,ok") == 0;
    unsetenv("EF_TEST_EXPECT_KEY");
    if (!started) {
        EF_SKIP_CASE("python3 not available to run the test server");
        return;
    }
    ef_ctx *ctx = ef_ctx_new();
    log_capture cap = {{0}, 0};
    ef_ctx_set_log(ctx, EF_LOG_DEBUG, capture_log, &cap);
    char *url = ef_asprintf("http://127.0.0.1:%d/v1", srv.port);
    ef_agent_conv conv = EF_AGENT_CONV_INIT;
    ef_agent_conv_push_text(&conv, EF_ROLE_USER, "Add 1 and 2.");
    ef_model_request req = {&conv, NULL, EF_SAMPLING_INIT, 1, 1, 1, 0, 0, NULL, 0, 0};
    for (int pass = 0; pass < 2; pass++) {
        ef_model_options mo = EF_MODEL_OPTIONS_INIT;
        mo.backoff_ms = 1;
        mo.max_retries = 2;
        setenv("EF_API_KEY", pass == 0 ? "sk-test-7f3a9" : "sk-wrong-5521", 1);
        ef_model *m = NULL;
        ef_model_response resp;
        EF_CHECK_EQ_INT(ef_model_open(ctx, url, &mo, &m), 0);
        int rc = m ? ef_model_complete(m, ctx, &req, &resp) : -1;
        if (pass == 0) {
            EF_CHECK_MSG(rc == 0, "%s", ef_errmsg(ctx));
            if (rc == 0) {
                EF_CHECK(resp.n_attempts == 2); /* a 500, then the answer */
                EF_CHECK(resp.message.n_tool_calls == 1);
                ef_model_response_free(&resp);
            }
        } else {
            EF_CHECK(rc == EF_EHTTP && strstr(ef_errmsg(ctx), "HTTP 401"));
            EF_CHECK(!strstr(ef_errmsg(ctx), "sk-wrong-5521"));
        }
        ef_model_free(m);
    }
    unsetenv("EF_API_KEY");
    EF_CHECK(cap.len > 0); /* the retry was logged ... */
    EF_CHECK(!strstr(cap.text, "sk-test-7f3a9") && !strstr(cap.text, "sk-wrong-5521"));
    ef_agent_conv_clear(&conv);
    ef_free(url);
    ef_ctx_free(ctx);
    server_stop(&srv);
}

/* Token-in/token-out: the prompt as ids (rendered + tokenized here), the sampled ids and
 * log-probs back; the second turn extends the first turn's ids. */
static void test_http_token_io(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    char *tokp = ef_asprintf("%s/tests/fixtures/tokenizer/tokenizer.json", src ? src : ".");
    server srv;
    if (access(tokp, R_OK) != 0 || server_start_tok(&srv, "ok,500,ok", tokp) < 0) {
        ef_free(tokp);
        EF_SKIP_CASE("python3 or the tokenizer fixture is missing");
        return;
    }
    char *url = ef_asprintf("http://127.0.0.1:%d/v1#tiny", srv.port);
    ef_model_options mo = EF_MODEL_OPTIONS_INIT;
    mo.tokenizer_path = tokp;
    mo.backoff_ms = 5;
    ef_model *m = NULL;
    ef_agent_env *env;
    agent_testenv_open(NULL, g_ctx, 1, &env);
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, url, &mo, &m), 0);
    char *task = agent_testenv_task(20, 22);
    ef_agent_episode *ep = NULL;
    if (m)
        EF_CHECK_EQ_INT(ef_agent_episode_run_ext(g_ctx, NULL, m, env, task, 3, 1, 0, &ep), 0);
    if (ep) {
        EF_CHECK_MSG(ep->end_reason == EF_END_ANSWER && ep->reward == 1.0, "%s %g %s",
                     ef_agent_end_reason_name(ep->end_reason), ep->reward,
                     ep->error ? ep->error : "");
        EF_CHECK_EQ_INT(ep->n_turns, 2);
        /* reasoning and the DSML call were parsed from the completion text */
        EF_CHECK(ep->transcript.n == 5 && ep->transcript.msgs[2].n_tool_calls == 1 &&
                 ep->transcript.msgs[2].reasoning_content &&
                 strcmp(ep->transcript.msgs[2].reasoning_content, "adding") == 0);
        EF_CHECK_MSG(ep->tok_valid && ep->n_tok > 0, "no token stream");
        size_t n_model = 0, n_lp = 0;
        for (size_t i = 0; i < ep->n_tok; i++) {
            n_model += ep->tok_mask[i];
            n_lp += ep->tok_mask[i] && ep->tok_logprobs[i] == -0.5f;
        }
        EF_CHECK(n_model > 10 && n_model == n_lp && n_model < ep->n_tok);
        EF_CHECK(ep->n_completion_tokens == (int64_t)n_model);
    }
    ef_agent_episode_free(ep);
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
    ef_free(url);
    ef_free(tokp);
    server_stop(&srv);
}

/* The prompt ids of a later turn continue the stream: after tool results they equal the
 * whole conversation rendered and tokenized (the continuation renders as the encoder
 * renders the whole), and after the harness's feedback they are the stream followed by
 * the feedback as a user turn — where rendering the whole again would drop the reasoning
 * the model saw. */
static void test_chat_prompt_continuation(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    char *tokp = ef_asprintf("%s/tests/fixtures/tokenizer/tokenizer.json", src ? src : ".");
    ef_tokenizer *tok = NULL;
    if (access(tokp, R_OK) != 0 || ef_engine_tok_load(g_ctx, tokp, &tok) < 0) {
        ef_free(tokp);
        EF_SKIP_CASE("the tokenizer fixture is missing");
        return;
    }
    ef_agent__chat_tok ct = {tok, ef_engine_tok_token_id(tok, EF_DSV32_EOS), 1};
    ef_agent_conv c = EF_AGENT_CONV_INIT;
    ef_agent_conv_push_text(&c, EF_ROLE_SYSTEM, "Add.");
    ef_agent_conv_push_text(&c, EF_ROLE_USER, "Add 2 and 3.");
    ef_agent_tool_call call = {"call_0", "add", "{\"a\": 2, \"b\": 3}"};
    ef_agent_msg a;
    memset(&a, 0, sizeof(a));
    a.role = EF_ROLE_ASSISTANT;
    a.reasoning_content = "adding";
    a.tool_calls = &call;
    a.n_tool_calls = 1;
    ef_agent_conv_push(&c, &a);
    ef_agent_conv_push_text(&c, EF_ROLE_TOOL, "5");
    c.msgs[3].tool_call_id = ef_strdup("call_0");
    const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"add\","
                        "\"parameters\":{\"type\":\"object\"}}}]";
    ef_model_request req;
    memset(&req, 0, sizeof(req));
    req.conv = &c;
    req.tools_json = tools;
    req.with_reasoning = 1;
    /* the stream through the assistant turn: its whole rendering (ends in EOS) */
    int32_t *ctx_ids = NULL, *ids = NULL, *full = NULL, *fb_ids = NULL;
    size_t n_ctx = 0, n_ids = 0, n_full = 0, n_fb = 0;
    c.n = 3;
    EF_CHECK_OK(g_ctx, ef_agent__chat_prompt_ids(g_ctx, &ct, &req, &ctx_ids, &n_ctx));
    c.n = 4;
    EF_CHECK_OK(g_ctx, ef_agent__chat_prompt_ids(g_ctx, &ct, &req, &full, &n_full));
    req.context_ids = ctx_ids;
    req.n_context_ids = n_ctx;
    req.n_context_msgs = 3;
    EF_CHECK_OK(g_ctx, ef_agent__chat_prompt_ids(g_ctx, &ct, &req, &ids, &n_ids));
    EF_CHECK(n_ctx > 0 && ctx_ids[n_ctx - 1] == ct.eos_id);
    EF_CHECK_MSG(n_ids == n_full && ids && full && memcmp(ids, full, n_ids * sizeof(*ids)) == 0,
                 "a tool result continues the stream as the whole renders (%zu vs %zu ids)", n_ids,
                 n_full);
    ef_free(ids);
    ids = NULL;
    /* feedback instead of the tool result */
    ef_agent_conv_remove(&c, 3);
    ef_agent_msg fb;
    memset(&fb, 0, sizeof(fb));
    fb.role = EF_ROLE_USER;
    fb.content = "error: your reply was empty.";
    fb.feedback = 1;
    ef_agent_conv_push(&c, &fb);
    EF_CHECK_OK(g_ctx, ef_agent__chat_prompt_ids(g_ctx, &ct, &req, &ids, &n_ids));
    const char *want =
        EF_DSV32_USER "error: your reply was empty." EF_DSV32_ASSISTANT EF_DSV32_THINK;
    EF_CHECK_OK(g_ctx, ef_engine_tok_encode(g_ctx, tok, want, strlen(want), 0, &fb_ids, &n_fb));
    EF_CHECK(ids && n_ids == n_ctx + n_fb && memcmp(ids, ctx_ids, n_ctx * sizeof(*ids)) == 0 &&
             memcmp(ids + n_ctx, fb_ids, n_fb * sizeof(*ids)) == 0);
    ef_free(ids);
    ids = NULL;
    /* without the stream the whole is rendered as DeepSeek's encoder does: the reasoning
     * before the (last) user message is gone, so it could not extend the stream */
    req.context_ids = NULL;
    req.n_context_ids = req.n_context_msgs = 0;
    EF_CHECK_OK(g_ctx, ef_agent__chat_prompt_ids(g_ctx, &ct, &req, &ids, &n_ids));
    EF_CHECK(ids && (n_ids < n_ctx || memcmp(ids, ctx_ids, n_ctx * sizeof(*ids)) != 0));
    ef_free(ids);
    ef_free(fb_ids);
    ef_free(full);
    ef_free(ctx_ids);
    ef_agent_conv_clear(&c);
    ef_engine_tok_free(tok);
    ef_free(tokp);
}

/* Reads the ids of a JSON array into v (at most cap); the count, or -1. */
static int json_ids(const cJSON *a, int32_t *v, int cap)
{
    int n = 0;
    const cJSON *x;
    if (!cJSON_IsArray(a))
        return -1;
    cJSON_ArrayForEach(x, a)
    {
        if (n >= cap || !cJSON_IsNumber(x))
            return -1;
        v[n++] = (int32_t)x->valuedouble;
    }
    return n;
}

/* A turn the loop answers with its own feedback (a DSML call cut off, an empty reply)
 * keeps an exact token stream: the server logs every prompt it was given and every id it
 * sampled, and the stored stream is exactly those — each prompt is the stream so far plus
 * prompt tokens (mask 0), each completion follows it with mask 1 and its log-probs, the
 * bad turn's tokens included — and the feedback is appended as a user turn after which
 * the model thinks again. */
static void http_token_feedback(const char *first_mode, const char *feedback)
{
    const char *src = getenv("EF_SOURCE_DIR");
    char *tokp = ef_asprintf("%s/tests/fixtures/tokenizer/tokenizer.json", src ? src : ".");
    char *log = ef_asprintf("%s/prompts.jsonl", ef_test_tmpdir("tokfb"));
    char *schedule = ef_asprintf("%s,ok,ok", first_mode);
    server srv;
    setenv("EF_TEST_PROMPT_LOG", log, 1);
    int started = access(tokp, R_OK) == 0 && server_start_tok(&srv, schedule, tokp) == 0;
    unsetenv("EF_TEST_PROMPT_LOG");
    if (!started) {
        ef_free(tokp);
        ef_free(log);
        ef_free(schedule);
        EF_SKIP_CASE("python3 or the tokenizer fixture is missing");
        return;
    }
    char *url = ef_asprintf("http://127.0.0.1:%d/v1#tiny", srv.port);
    ef_model_options mo = EF_MODEL_OPTIONS_INIT;
    mo.tokenizer_path = tokp;
    ef_model *m = NULL;
    ef_tokenizer *tok = NULL;
    ef_agent_env *env;
    agent_testenv_open(NULL, g_ctx, 1, &env);
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, url, &mo, &m), 0);
    EF_CHECK_EQ_INT(ef_engine_tok_load(g_ctx, tokp, &tok), 0);
    char *task = agent_testenv_task(20, 22);
    ef_agent_episode *ep = NULL;
    if (m)
        EF_CHECK_EQ_INT(ef_agent_episode_run_ext(g_ctx, NULL, m, env, task, 3, 1, 0, &ep), 0);
    char *text = NULL;
    size_t len = 0;
    EF_CHECK_EQ_INT(ef_file_read(g_ctx, log, 1u << 24, &text, &len), 0);
    if (ep && text && tok) {
        EF_CHECK_MSG(ep->end_reason == EF_END_ANSWER && ep->reward == 1.0, "%s %g %s",
                     ef_agent_end_reason_name(ep->end_reason), ep->reward,
                     ep->error ? ep->error : "");
        EF_CHECK_EQ_INT(ep->n_turns, 3);
        EF_CHECK_EQ_INT(ep->n_parse_errors, 1);
        /* system, task, the bad turn, the feedback, the call, its result, the answer */
        EF_CHECK_EQ_INT(ep->transcript.n, 7);
        if (ep->transcript.n == 7) {
            const ef_agent_msg *fb = &ep->transcript.msgs[3];
            EF_CHECK(fb->role == EF_ROLE_USER && fb->feedback && fb->content &&
                     strncmp(fb->content, feedback, strlen(feedback)) == 0);
            EF_CHECK(ep->transcript.msgs[2].role == EF_ROLE_ASSISTANT &&
                     ep->transcript.msgs[2].n_tool_calls == 0);
        }
        EF_CHECK_MSG(ep->tok_valid && ep->n_tok > 0, "the episode kept no token stream");
        int32_t *p = ef_malloc(65536 * sizeof(int32_t)), *c = ef_malloc(4096 * sizeof(int32_t));
        size_t done = 0, n_turns = 0, n_sampled = 0, first_end = 0, second_prompt = 0;
        for (char *line = strtok(text, "\n"); p && c && ep->tok_valid && line;
             line = strtok(NULL, "\n"), n_turns++) {
            cJSON *j = cJSON_Parse(line);
            int np = json_ids(cJSON_GetObjectItemCaseSensitive(j, "prompt"), p, 65536);
            int nc = json_ids(cJSON_GetObjectItemCaseSensitive(j, "token_ids"), c, 4096);
            cJSON_Delete(j);
            EF_CHECK_MSG(np > 0 && nc > 0 && (size_t)(np + nc) <= ep->n_tok, "turn %zu", n_turns);
            if (np <= 0 || nc <= 0 || (size_t)(np + nc) > ep->n_tok)
                break;
            /* the prompt the model was given is the stream so far, then prompt tokens */
            EF_CHECK_MSG(memcmp(ep->tok_ids, p, (size_t)np * sizeof(int32_t)) == 0,
                         "turn %zu: the prompt given is not the stored stream", n_turns);
            EF_CHECK((size_t)np > done);
            for (size_t i = done; i < (size_t)np; i++)
                EF_CHECK(ep->tok_mask[i] == 0 && ep->tok_logprobs[i] == 0.0f);
            /* the sampled ids follow with mask 1 and their log-probs */
            EF_CHECK_MSG(memcmp(ep->tok_ids + np, c, (size_t)nc * sizeof(int32_t)) == 0,
                         "turn %zu: the sampled ids are not in the stream", n_turns);
            for (size_t i = (size_t)np; i < (size_t)(np + nc); i++)
                EF_CHECK(ep->tok_mask[i] == 1 && ep->tok_logprobs[i] == -0.5f);
            if (n_turns == 0)
                first_end = (size_t)(np + nc);
            if (n_turns == 1)
                second_prompt = (size_t)np;
            done = (size_t)(np + nc);
            n_sampled += (size_t)nc;
        }
        EF_CHECK_EQ_INT(n_turns, 3);
        EF_CHECK_EQ_INT(done, ep->n_tok);
        size_t n_model = 0;
        for (size_t i = 0; i < ep->n_tok; i++)
            n_model += ep->tok_mask[i];
        EF_CHECK_EQ_INT(n_model, n_sampled);
        EF_CHECK_EQ_INT(ep->n_completion_tokens, (int64_t)n_sampled);
        /* between the bad turn and the next completion: the feedback as a user turn,
         * after which the model thinks again */
        char *fbtext = NULL;
        size_t fblen = 0;
        if (first_end && second_prompt > first_end &&
            ef_engine_tok_decode(g_ctx, tok, ep->tok_ids + first_end, second_prompt - first_end, 0,
                                 &fbtext, &fblen) == 0) {
            char *want = ef_asprintf(EF_DSV32_USER "%s", feedback);
            EF_CHECK_MSG(strncmp(fbtext, want, strlen(want)) == 0, "%s", fbtext);
            const char *tailw = EF_DSV32_ASSISTANT EF_DSV32_THINK;
            EF_CHECK(fblen > strlen(tailw) && strcmp(fbtext + fblen - strlen(tailw), tailw) == 0);
            ef_free(want);
        } else
            EF_CHECK_MSG(0, "no feedback tokens between the turns");
        ef_free(fbtext);
        ef_free(p);
        ef_free(c);
    }
    ef_free(text);
    ef_agent_episode_free(ep);
    ef_free(task);
    ef_agent_env_free(env);
    ef_engine_tok_free(tok);
    ef_model_free(m);
    ef_free(url);
    remove(log);
    char *dir = ef_strdup(log);
    if (dir && strrchr(dir, '/')) {
        *strrchr(dir, '/') = 0;
        rmdir(dir);
    }
    ef_free(dir);
    ef_free(log);
    ef_free(schedule);
    ef_free(tokp);
    server_stop(&srv);
}

static void test_http_token_badcall(void)
{
    http_token_feedback("badcall",
                        "error: your tool call could not be parsed: DSML tool calls: DSML parse:");
}

static void test_http_token_empty_reply(void)
{
    http_token_feedback("empty", "error: your reply was empty.");
}

/* A server that returns text without token ids: the turn has no ids, so the episode keeps
 * no stream (tokenizing the text again would store a guess). */
static void test_http_token_text_only(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    char *tokp = ef_asprintf("%s/tests/fixtures/tokenizer/tokenizer.json", src ? src : ".");
    server srv;
    if (access(tokp, R_OK) != 0 || server_start_tok(&srv, "ok,noids,ok", tokp) < 0) {
        ef_free(tokp);
        EF_SKIP_CASE("python3 or the tokenizer fixture is missing");
        return;
    }
    char *url = ef_asprintf("http://127.0.0.1:%d/v1#tiny", srv.port);
    ef_model_options mo = EF_MODEL_OPTIONS_INIT;
    mo.tokenizer_path = tokp;
    ef_model *m = NULL;
    ef_agent_env *env;
    agent_testenv_open(NULL, g_ctx, 1, &env);
    EF_CHECK_EQ_INT(ef_model_open(g_ctx, url, &mo, &m), 0);
    char *task = agent_testenv_task(2, 3);
    ef_agent_episode *ep = NULL;
    if (m)
        EF_CHECK_EQ_INT(ef_agent_episode_run_ext(g_ctx, NULL, m, env, task, 3, 1, 0, &ep), 0);
    if (ep) {
        EF_CHECK(ep->end_reason == EF_END_ANSWER && ep->reward == 1.0 && ep->n_turns == 2);
        EF_CHECK_MSG(!ep->tok_valid, "a turn without ids left a stream of %zu", ep->n_tok);
    }
    ef_agent_episode_free(ep);
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
    ef_free(url);
    ef_free(tokp);
    server_stop(&srv);
}

/* The built-in engine on the tiny random checkpoint: an episode runs end to end and its
 * token stream carries ids, the loss mask, log-probs, kept top-p sets and routes. */
static void test_engine_backend(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    char *dir = ef_asprintf("%s/tests/fixtures/tiny_model", src ? src : ".");
    char *name = ef_asprintf("engine:%s", dir);
    char *cfgp = ef_asprintf("%s/config.json", dir);
    if (access(cfgp, R_OK) != 0) {
        ef_free(dir);
        ef_free(name);
        ef_free(cfgp);
        EF_SKIP_CASE("no tiny model fixture");
        return;
    }
    ef_model *m = NULL;
    EF_CHECK_MSG(ef_model_open(g_ctx, name, NULL, &m) == 0, "%s", ef_errmsg(g_ctx));
    ef_agent_env *env;
    agent_testenv_open(NULL, g_ctx, 1, &env);
    ef_agent_config cfg = EF_AGENT_CONFIG_INIT;
    cfg.max_turns = 2;
    cfg.sampling.max_tokens = 12;
    cfg.sampling.temperature = 1.0;
    cfg.sampling.top_p = 0.9;
    cfg.system_prompt = "Add.";
    char *task = agent_testenv_task(1, 2);
    ef_agent_episode *ep = NULL;
    if (m)
        EF_CHECK_MSG(ef_agent_episode_run_ext(g_ctx, &cfg, m, env, task, 5, 1, 0, &ep) == 0, "%s",
                     ef_errmsg(g_ctx));
    if (ep) {
        EF_CHECK_MSG(ep->end_reason != EF_END_MODEL_ERROR, "%s", ep->error ? ep->error : "");
        EF_CHECK(ep->n_turns >= 1 && ep->n_completion_tokens > 0);
        EF_CHECK(ep->tok_valid && ep->n_tok > 0);
        size_t n_model = 0, bad_lp = 0, in_set = 0;
        for (size_t i = 0; ep->tok_valid && i < ep->n_tok; i++) {
            if (!ep->tok_mask[i])
                continue;
            n_model++;
            bad_lp += !(ep->tok_logprobs[i] <= 0.0f);
            for (int32_t k = ep->tok_topp_offsets[i];
                 ep->tok_has_topp && k < ep->tok_topp_offsets[i + 1]; k++)
                in_set += ep->tok_topp_ids[k] == ep->tok_ids[i];
        }
        EF_CHECK_EQ_INT(n_model, ep->n_completion_tokens);
        EF_CHECK_EQ_INT(bad_lp, 0);
        EF_CHECK(ep->tok_has_topp && in_set == n_model);
        EF_CHECK(ep->tok_has_routes && ep->route_layers == 3 && ep->route_topk == 2);
    }
    ef_agent_episode_free(ep);
    ef_free(task);
    ef_agent_env_free(env);
    ef_model_free(m);
    ef_free(dir);
    ef_free(name);
    ef_free(cfgp);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    g_ctx = ef_ctx_new();
    ef_ctx_set_log(g_ctx, EF_LOG_ERROR, NULL, NULL);
    EF_RUN(test_conv_roundtrip);
    EF_RUN(test_conv_malformed);
    EF_RUN(test_conv_alloc_failure);
    EF_RUN(test_args_check);
    EF_RUN(test_retention);
    EF_RUN(test_model_names);
    EF_RUN(test_replay_misbehave);
    EF_RUN(test_context_policies);
    EF_RUN(test_episode_alloc_failure);
    EF_RUN(test_oracle);
    EF_RUN(test_oracle_max_turns);
    EF_RUN(test_builtin_tools);
    EF_RUN(test_builtin_sandbox_tools);
    EF_RUN(test_runner_groups_shards_resume);
    EF_RUN(test_http_flaky);
    EF_RUN(test_http_down_and_budget);
    EF_RUN(test_http_api_key);
    EF_RUN(test_chat_prompt_continuation);
    EF_RUN(test_http_token_io);
    EF_RUN(test_http_token_badcall);
    EF_RUN(test_http_token_empty_reply);
    EF_RUN(test_http_token_text_only);
    EF_RUN(test_engine_backend);
    ef_ctx_free(g_ctx);
    return EF_TEST_END();
}
