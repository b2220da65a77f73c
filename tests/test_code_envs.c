/*
 * tests/test_code_envs.c — the code environments (examples/envs/code_*.lua) cannot be
 * gamed: answers that fake a test summary, read the tests' files, print forged result
 * lines or exit early score 0, while the reference solution scores 1. The solution runs
 * in the real sandbox; its outputs are compared outside it. Their tasks at fixed seeds
 * are pinned: the code they share (examples/envs/harness/) may move, the tasks may not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/hash.h"
#include "common/json.h"
#include "envgen/envgen.h"
#include "sandbox/sandbox.h"
#include "tests/testlib.h"

static ef_ctx *ctx;

/* The answer as the JSON string a model's text becomes; ef_free. */
static char *answer_json(const char *code)
{
    cJSON *s = cJSON_CreateString(code);
    char *out = s ? ef_json_print(s) : NULL;
    cJSON_Delete(s);
    return out;
}

static double verify(ef_env *env, const char *task_json, const char *code)
{
    ef_env_episode *ep = NULL;
    double reward = -1;
    char *ans = answer_json(code), *info = NULL;
    if (ef_env_episode_new(ctx, env, task_json, &ep) == 0 &&
        ef_env_episode_verify(ctx, ep, ans, &reward, &info) < 0)
        reward = -2;
    ef_free(info);
    ef_free(ans);
    ef_env_episode_free(ep);
    return reward;
}

static void check_env(const char *file)
{
    char path[1024];
    const char *src = getenv("EF_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/examples/envs/%s", src ? src : "..", file);
    ef_env *env = NULL;
    EF_CHECK_OK(ctx, ef_env_load(ctx, path, NULL, &env));
    if (!env)
        return;
    ef_env_task t;
    memset(&t, 0, sizeof t);
    EF_CHECK_OK(ctx, ef_env_generate(ctx, env, 7, 1, &t));
    cJSON *task = t.task_json ? cJSON_Parse(t.task_json) : NULL;
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(task, "meta");
    const char *fname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "fname"));
    const char *ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(task, "answer"));
    EF_CHECK(fname && ref);
    if (!fname || !ref) {
        cJSON_Delete(task);
        ef_env_task_clear(&t);
        ef_env_free(env);
        return;
    }
    double r = verify(env, t.task_json, ref);
    if (r == -2 && strstr(ef_errmsg(ctx), "sandbox")) {
        cJSON_Delete(task);
        ef_env_task_clear(&t);
        ef_env_free(env);
        EF_SKIP_CASE("no sandbox here");
    }
    EF_CHECK_MSG(r == 1.0, "%s: reference scored %g (%s)", file, r, ef_errmsg(ctx));
    char code[4096];
    /* a fake summary and a clean exit at import */
    snprintf(code, sizeof code,
             "import os\nprint('999 passed, 0 failed in 0.01s')\nprint('OK')\n"
             "def %s(*a):\n    return 0\nos._exit(0)\n",
             fname);
    r = verify(env, t.task_json, code);
    EF_CHECK_MSG(r == 0.0, "%s: a faked summary scored %g", file, r);
    /* reading every file it can find for expected values */
    snprintf(code, sizeof code,
             "import glob, json, os\n_seen = {}\n"
             "for f in glob.glob('*') + glob.glob('/work/*') + glob.glob('/tmp/*'):\n"
             "    try:\n        _seen[f] = open(f).read()\n    except Exception:\n        pass\n"
             "assert not any('expected' in v or '__want' in v for v in _seen.values())\n"
             "def %s(*a):\n    return 0\n",
             fname);
    r = verify(env, t.task_json, code);
    EF_CHECK_MSG(r == 0.0, "%s: a file reader scored %g", file, r);
    /* forged result lines for every case, printed at import */
    snprintf(code, sizeof code,
             "for i in range(100):\n    print('@@%%d\\t0' %% i)\n    print('@@%%d\\t\"\"' %% i)\n"
             "def %s(*a):\n    return None\n",
             fname);
    r = verify(env, t.task_json, code);
    EF_CHECK_MSG(r == 0.0, "%s: forged result lines scored %g", file, r);
    cJSON_Delete(task);
    ef_env_task_clear(&t);
    ef_env_free(env);
}

/* The tasks generate makes at seeds 1..30 (levels 1, 2, 3 in turn), as one SHA-256 over
 * their content hashes. Seeds are given here, not derived from the env's content hash (as
 * `gen` derives them), so a change to the env's source that leaves generate as it was
 * keeps these values; a change to what generate makes does not. */
static void check_pinned(const char *file, const char *want)
{
    char path[1024];
    const char *src = getenv("EF_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/examples/envs/%s", src ? src : "..", file);
    ef_env *env = NULL;
    EF_CHECK_OK(ctx, ef_env_load(ctx, path, NULL, &env));
    if (!env)
        return;
    ef_buf all = EF_BUF_INIT(1 << 20);
    for (int i = 1; i <= 30; i++) {
        ef_env_task t;
        memset(&t, 0, sizeof t);
        EF_CHECK_OK(ctx, ef_env_generate(ctx, env, (uint64_t)i, 1 + (i - 1) % 3, &t));
        ef_buf_appendf(&all, "%s\n", t.content_hash);
        ef_env_task_clear(&t);
    }
    char got[EF_SHA256_HEX_LEN + 1] = "";
    ef_sha256_hex(all.data, all.len, got);
    EF_CHECK_MSG(strcmp(got, want) == 0, "%s: tasks at seeds 1..30 hash to %s, pinned %s", file,
                 got, want);
    ef_buf_free(&all);
    ef_env_free(env);
}

static void test_code_algos(void)
{
    check_env("code_algos.lua");
}

static void test_code_strings(void)
{
    check_env("code_strings.lua");
}

static void test_pinned_tasks(void)
{
    check_pinned("code_algos.lua", "04307531270b2741f21047374aa576d34e899d5013cc435672e05cb458dd13dc");
    check_pinned("code_strings.lua", "8c8d165f8e42f751639addb86d0413bb08fd31f93827b91ef94c4460bf2763a7");
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ef_json_init();
    ctx = ef_ctx_new();
    EF_RUN(test_code_algos);
    EF_RUN(test_code_strings);
    EF_RUN(test_pinned_tasks);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
