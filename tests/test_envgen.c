/*
 * tests/test_envgen.c — the env runtime: exact JSON <-> Lua conversion (and its malformed
 * inputs), the restricted globals, episodes (call/solve/verify through the C API),
 * deterministic generation (pinned content hashes, identical across worker counts),
 * levels, validation, ef.search, JSONL import, the corpus of broken envs (each ends with
 * an error naming file and line, nothing crashes or hangs), a store that keeps its tasks
 * when a later run fails, allocation failures while loading, and modules (require, the
 * bundle the store keeps).
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "common/hash.h"
#include "common/json.h"
#include "datasets/datasets.h"
#include "envgen/envgen.h"
#include "tests/testlib.h"

static ef_ctx *ctx;
static char shop_path[1024], broken_dir[1024];

static ef_env_limits small_limits(void)
{
    ef_env_limits l = EF_ENV_LIMITS_INIT;
    l.mem_limit_bytes = (size_t)32 << 20;
    l.instr_limit = 5000000;
    return l;
}

static ef_env *load_src(const char *src)
{
    ef_env *env = NULL;
    ef_env_limits l = small_limits();
    int rc = ef_env_load_buffer(ctx, "test.lua", src, strlen(src), &l, &env);
    if (rc < 0)
        printf("    load: %s\n", ef_errmsg(ctx));
    return env;
}

/* An env whose generate returns `expr` as task.meta (prompt fixed). */
static char *env_returning(const char *expr)
{
    return ef_asprintf("local env = {name='t', version=1, category='general'}\n"
                       "env.tools = {}\n"
                       "function env.generate(rng, level) return {prompt='p', meta=%s} end\n"
                       "function env.solve(task, call) return 'x' end\n"
                       "function env.verify(task, answer, state) return answer == 'x' and 1 or 0 end\n"
                       "return env\n",
                       expr);
}

static int gen_meta(const char *expr, char **task_json)
{
    char *src = env_returning(expr);
    ef_env *env = load_src(src);
    ef_free(src);
    if (!env)
        return -100;
    ef_env_task t;
    int rc = ef_env_generate(ctx, env, 1, 1, &t);
    if (rc == 0) {
        *task_json = ef_strdup(t.task_json);
        ef_env_task_clear(&t);
    }
    ef_env_free(env);
    return rc;
}

static void check_meta(const char *expr, const char *expected_meta)
{
    char *tj = NULL;
    int rc = gen_meta(expr, &tj);
    EF_CHECK_MSG(rc == 0, "%s -> %s", expr, ef_errmsg(ctx));
    if (rc == 0) {
        char *want = ef_asprintf("{\"meta\":%s,\"prompt\":\"p\"}", expected_meta);
        EF_CHECK_EQ_STR(tj, want);
        ef_free(want);
    }
    ef_free(tj);
}

static void test_json_exact(void)
{
    check_meta("{i=3, f=3.0, h=0.1, big=math.maxinteger, neg=-7, e=1e300, tiny=5e-324}",
               "{\"big\":9223372036854775807,\"e\":1e+300,\"f\":3.0,\"h\":0.1,\"i\":3,"
               "\"neg\":-7,\"tiny\":4.94065645841247e-324}");
    check_meta("{s='caf\\u{e9} \\u{1F600} \"q\" \\\\ \\n \\t \\1'}",
               "{\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\\"q\\\" \\\\ \\n \\t \\u0001\"}");
    check_meta("{a=json.array(), o=json.object(), e={}, l={1,2,{3}}, n=json.null, t=true}",
               "{\"a\":[],\"e\":{},\"l\":[1,2,[3]],\"n\":null,\"o\":{},\"t\":true}");
    check_meta("{z=1, a=2, B=3, ['a b']=4}", "{\"B\":3,\"a\":2,\"a b\":4,\"z\":1}");
    check_meta("json.decode('{\"x\":[1,2.0,-0,1e2,12345678901234567890],\"y\":{}}')",
               "{\"x\":[1,2.0,0,100.0,1.2345678901234567e+19],\"y\":{}}");
    check_meta("json.decode(json.encode({a={json.array(), {k=json.null}}}))",
               "{\"a\":[[],{\"k\":null}]}");
}

static void check_meta_error(const char *expr, const char *needle)
{
    char *tj = NULL;
    int rc = gen_meta(expr, &tj);
    EF_CHECK_MSG(rc < 0, "%s should fail, gave %s", expr, tj ? tj : "");
    if (rc < 0)
        EF_CHECK_CONTAINS(ef_errmsg(ctx), needle);
    ef_free(tj);
}

static void test_json_errors(void)
{
    check_meta_error("{f=function() end}", "task.meta.f: a function value is not JSON");
    check_meta_error("{x={1, 2, nil, 4}}", "task.meta.x");
    check_meta_error("{x={[1]=1, [3]=3}}", "sparse array");
    check_meta_error("{x={1, a=2}}", "mixes key types");
    check_meta_error("{x=0/0}", "NaN");
    check_meta_error("{x=1/0}", "infinity");
    check_meta_error("{x='\\xff'}", "not valid UTF-8");
    check_meta_error("{x={[true]=1}}", "mixes key types");
    /* a cycle is named as one, at the shortest path that closes it; plain depth is not */
    check_meta_error("(function() local t = {} t.self = t return t end)()",
                     "task.meta.self: a table that contains itself (a cycle)");
    check_meta_error("(function() local t = {a = {}} t.a.b = {up = t.a} return t end)()",
                     "task.meta.a.b.up: a table that contains itself (a cycle)");
    check_meta_error("(function() local t = {} for i = 1, 70 do t = {t} end return t end)()",
                     "nested deeper than 64 levels");
    check_meta_error("{x=json.array({a=1})}", "json.array has keys other than 1..n");
    check_meta_error("{x=coroutine.create(print)}", "a thread value is not JSON");
    /* decode errors surface as Lua errors with the reason */
    const char *bad[] = {"{\"a\":1,}", "[1,2", "\"abc", "{\"a\" 1}", "01", "1.", "-",
                         "\"\\ud800\"", "\"\\x\"", "\"a\x01\"", "\"\xc0\xaf\"", "tru", "[1]x",
                         "", "{1:2}"};
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
        ef_env *env = load_src("local env = {name='t', category='general'}\n"
                               "function env.generate() return {prompt='p'} end\n"
                               "function env.solve() return '' end\n"
                               "function env.verify() return 0 end\nreturn env\n");
        if (!env)
            return;
        ef_env_task t;
        int rc = ef_env_task_from_json(ctx, env, bad[i], strlen(bad[i]), &t);
        EF_CHECK_MSG(rc == EF_EPARSE, "'%s' -> %d", bad[i], rc);
        if (rc == 0)
            ef_env_task_clear(&t);
        ef_env_free(env);
    }
    /* nesting limit on decode */
    ef_buf deep = EF_BUF_INIT(1 << 20);
    for (int i = 0; i < 100; i++)
        ef_buf_putc(&deep, '[');
    for (int i = 0; i < 100; i++)
        ef_buf_putc(&deep, ']');
    char *src = ef_asprintf("json.decode('%s')", deep.data);
    check_meta_error(src, "nested too deeply");
    ef_free(src);
    ef_buf_free(&deep);
}

static void test_globals(void)
{
    char *tj = NULL;
    int rc = gen_meta("{io=type(io), os=type(os), req=type(require), dofile=type(dofile), "
                      "loadfile=type(loadfile), dump=type(string.dump), rnd=type(math.random), "
                      "pkg=type(package), dbg=type(debug), "
                      "txt=load('return 1+1')()}",
                      &tj);
    EF_CHECK_OK(ctx, rc);
    EF_CHECK_EQ_STR(tj, "{\"meta\":{\"dbg\":\"nil\",\"dofile\":\"nil\",\"dump\":"
                        "\"nil\",\"io\":\"nil\",\"loadfile\":\"nil\",\"os\":\"nil\",\"pkg\":\"nil\","
                        "\"req\":\"nil\",\"rnd\":\"nil\",\"txt\":2},\"prompt\":\"p\"}");
    ef_free(tj);
}

/* pairs() visits keys in sorted order in every Lua state (string hashes are seeded
 * randomly per state, so plain next() order would differ between workers and runs). */
static void test_pairs_order(void)
{
    check_meta("(function() local t = {b = 1, a = 2, c = 3, [2] = 0, [1.5] = 0, [true] = 0, zz = 0} "
               "local o = {} for k in pairs(t) do o[#o + 1] = tostring(k) end "
               "return table.concat(o, ',') end)()",
               "\"1.5,2,a,b,c,zz,true\"");
}

/* tostring formats integers itself: the text must be what "%lld" / the base library
 * give, and everything else must go the base library's way. */
static void test_tostring(void)
{
    check_meta("table.concat({tostring(0), tostring(-0), tostring(7), tostring(-7), "
               "tostring(math.maxinteger), tostring(math.mininteger), tostring(1.5), "
               "tostring(-0.0), tostring(2^53), tostring(1e300), tostring(0/0 ~= 0/0), "
               "tostring('12'), tostring(nil), tostring(3 // 1), tostring(3 / 1)}, ' ')",
               "\"0 0 7 -7 9223372036854775807 -9223372036854775808 1.5 -0.0 9.007199254741e+15 "
               "1e+300 true 12 nil 3 3.0\"");
    check_meta("(function() local mt = {__tostring = function() return 'custom' end} "
               "return tostring(setmetatable({}, mt)) .. ' ' .. "
               "tostring(print):sub(1, 9) .. ' ' .. select('#', pcall(tostring)) end)()",
               "\"custom function: 2\"");
}

static void test_binary_load_refused(void)
{
    char *tj = NULL;
    EF_CHECK(gen_meta("load('\\27Lua', 'x', 'b')", &tj) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "binary chunks are not allowed");
    ef_free(tj);
    EF_CHECK(gen_meta("load(string.char(27) .. 'LuaT')", &tj) >= 0); /* text mode: a syntax error */
    ef_free(tj);
}

static void test_episode(void)
{
    ef_env *env = NULL;
    EF_CHECK_OK(ctx, ef_env_load(ctx, shop_path, NULL, &env));
    if (!env)
        return;
    const ef_env_info *info = ef_env_get_info(env);
    EF_CHECK_EQ_STR(info->name, "fixture_shop");
    EF_CHECK_EQ_INT(info->n_levels, 2);
    EF_CHECK_CONTAINS(info->tools_json, "\"name\":\"buy\"");
    ef_env_task t;
    EF_CHECK_OK(ctx, ef_env_generate(ctx, env, 99, 2, &t));
    ef_env_episode *ep = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, t.task_json, &ep));
    char *res = NULL;
    int is_err = -1;
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "price", "{\"item\":\"nothing\"}", &res, &is_err));
    EF_CHECK(is_err == 1);
    EF_CHECK_EQ_STR(res, "\"no such item: nothing\"");
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "price", "{\"itm\":\"apple\"}", &res, &is_err));
    EF_CHECK(is_err == 1);
    EF_CHECK_CONTAINS(res, "missing required property 'item'");
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "fly", "{}", &res, &is_err));
    EF_CHECK(is_err == 1);
    EF_CHECK_CONTAINS(res, "unknown tool 'fly' (tools: buy, price)");
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "buy", "{\"item\":\"apple\",\"qty\":0}", &res, &is_err));
    EF_CHECK(is_err == 1);
    EF_CHECK_CONTAINS(res, "below the minimum");
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "buy", "not json", &res, &is_err));
    EF_CHECK(is_err == 1);
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "price", "{\"item\":\"apple\"}", &res, &is_err));
    EF_CHECK(is_err == 0);
    EF_CHECK_CONTAINS(res, "\"cents\":");
    ef_free(res);
    double r = -1;
    EF_CHECK_OK(ctx, ef_env_episode_verify(ctx, ep, "\"0\"", &r, NULL));
    EF_CHECK(r == 0);
    ef_env_episode_free(ep);
    /* the reference solution through a fresh episode scores 1 and leaves the cart filled */
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, t.task_json, &ep));
    char *ans = NULL, *calls = NULL, *info_json = NULL, *state = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_solve(ctx, ep, &ans, &calls));
    EF_CHECK_CONTAINS(calls, "{\"name\":\"buy\",\"arguments\":{\"item\":");
    EF_CHECK_OK(ctx, ef_env_episode_verify(ctx, ep, ans, &r, &info_json));
    EF_CHECK(r == 1);
    EF_CHECK_EQ_STR(info_json, "{\"answer\":true,\"state\":true}");
    EF_CHECK_OK(ctx, ef_env_episode_state(ctx, ep, &state));
    EF_CHECK_CONTAINS(state, "\"cart\":[{\"item\":");
    ef_free(ans);
    ef_free(calls);
    ef_free(info_json);
    ef_free(state);
    ef_env_episode_free(ep);
    ef_envgen_check chk;
    EF_CHECK_OK(ctx, ef_envgen_validate(ctx, env, &t, &chk));
    EF_CHECK_EQ_INT(chk.drop, EF_DROP_NONE);
    EF_CHECK(chk.ref_reward == 1);
    for (int i = 0; i < EF_ENVGEN_N_TRIVIAL; i++)
        EF_CHECK(chk.trivial_reward[i] >= 0 && chk.trivial_reward[i] < 1);
    ef_envgen_check_clear(&chk);
    ef_env_task_clear(&t);
    ef_env_free(env);
}

/* ---- runs ------------------------------------------------------------------------------ */

typedef struct {
    char hashes[64][65];
    int levels[64];
    size_t n;
    ef_store *store;
    int64_t env_id;
} collect;

static int collect_sink(void *ud, ef_ctx *c, const ef_env_info *env, const ef_env_task *tasks,
                        size_t n, size_t *n_stored, size_t *n_dup)
{
    collect *col = ud;
    for (size_t i = 0; i < n; i++) {
        if (col->n < 64) {
            memcpy(col->hashes[col->n], tasks[i].content_hash, 65);
            col->levels[col->n] = tasks[i].level;
        }
        col->n++;
    }
    *n_stored = 0;
    *n_dup = 0;
    if (col->store) {
        ef_env_row row = {env->name, env->version, env->category, env->description,
                          env->content_hash, env->path, env->source, env->tools_json};
        if (ef_store_env_insert(col->store, &row, &col->env_id) < 0)
            return EF_ESTORE;
        ef_task_row rows[64];
        for (size_t i = 0; i < n && i < 64; i++) {
            rows[i] = (ef_task_row){col->env_id, tasks[i].idx, tasks[i].seed, tasks[i].level,
                                    tasks[i].content_hash, tasks[i].prompt, tasks[i].task_json};
        }
        (void)c;
        return ef_store_task_insert_batch(col->store, rows, n < 64 ? n : 64, n_stored, n_dup);
    }
    return 0;
}

static int run_env(const char *path, uint64_t seed, size_t n, int jobs, collect *col,
                   ef_envgen_summary *sum)
{
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.seed = seed;
    o.n_tasks = n;
    o.n_jobs = jobs;
    o.limits = small_limits();
    o.sink = collect_sink;
    o.sink_ud = col;
    return ef_envgen_run(ctx, path, &o, sum);
}

static void test_deterministic_pinned(void)
{
    collect a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    ef_envgen_summary s1, s2;
    EF_CHECK_OK(ctx, run_env(shop_path, 7, 24, 1, &a, &s1));
    EF_CHECK_OK(ctx, run_env(shop_path, 7, 24, 2, &b, &s2));
    EF_CHECK_EQ_INT(a.n, 24);
    EF_CHECK_EQ_INT(b.n, 24);
    for (size_t i = 0; i < a.n && i < 24; i++)
        EF_CHECK_EQ_STR(a.hashes[i], b.hashes[i]);
    /* pinned: these bytes must not change on any machine, compiler or worker count */
    EF_CHECK_EQ_STR(s1.content_hash, "74669ee0f6fb12e3eeb6007cd6751fec251e131cb0ed334eb5ef7cc4a06d8fe8");
    EF_CHECK_EQ_STR(a.hashes[0], "668b2e610a445e7fce742a48b6eca339a8e3e82a47ba6fa3512f34c17cef0333");
    EF_CHECK_EQ_STR(a.hashes[1], "400df2ff81cad02676e5a3af1cf578b43980911739dfb4b89fe7cf050ca9c106");
    EF_CHECK_EQ_STR(a.hashes[23], "be29ce473ca3f870ac303a6bba7bdedf041e9b809bc194942677e7237eb6b835");
    for (size_t i = 0; i < 24; i++)
        EF_CHECK_EQ_INT(a.levels[i], 1 + (int)(i % 2));
    EF_CHECK_EQ_INT(s1.kept_per_level[0], 12);
    EF_CHECK_EQ_INT(s1.kept_per_level[1], 12);
    EF_CHECK(s1.sc_pass);
    EF_CHECK_EQ_INT(s1.sc_checked, s1.n_candidates);
    ef_envgen_summary_clear(&s1);
    ef_envgen_summary_clear(&s2);
}

/* Fast mode (no count hook; a CPU-time tick aborts long calls and the candidate is made
 * again with the hook): the kept tasks, drops and messages are those of exact mode. The
 * env spins 10M loop steps on one task in four (tens of ms or more: redone), allocates
 * past the memory cap in verify on one in five (a verify error whose message names the
 * line the count hook saw: redone), and is quick otherwise. */
static const char fast_env_src[] =
    "local env = {name='fast', version=1, category='general', levels=1}\n"
    "env.tools = {}\n"
    "function env.generate(rng, level)\n"
    "  local v = rng:int(2, 1000000000)\n"
    "  local spin = rng:int(1, 4) == 1 and 10000000 or 10\n"
    "  local x = 0\n"
    "  for i = 1, spin do x = (x + i) % 7 end\n"
    "  return {prompt = 'v' .. v, answer = tostring(v + x), meta = {hog = rng:int(1, 5) == 1}}\n"
    "end\n"
    "function env.solve(task, call) return task.answer end\n"
    "function env.verify(task, answer)\n"
    "  if task.meta.hog then local t = {} for i = 1, 1e8 do t[i] = i end end\n"
    "  return answer == task.answer and 1 or 0\n"
    "end\n"
    "return env\n";

static int run_fast_env(const char *path, int exact, collect *col, ef_envgen_summary *sum)
{
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.seed = 3;
    o.n_tasks = 10;
    o.n_jobs = 2;
    o.limits.mem_limit_bytes = (size_t)64 << 20;
    o.exact = exact;
    o.sink = collect_sink;
    o.sink_ud = col;
    return ef_envgen_run(ctx, path, &o, sum);
}

static void test_fast_mode(void)
{
    const char *dir = ef_test_tmpdir("envgen_fast");
    char path[1100];
    snprintf(path, sizeof path, "%s/fast.lua", dir);
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, fast_env_src, strlen(fast_env_src)));
    collect a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    ef_envgen_summary sf, se;
    EF_CHECK_OK(ctx, run_fast_env(path, 0, &a, &sf));
    EF_CHECK_OK(ctx, run_fast_env(path, 1, &b, &se));
    EF_CHECK_EQ_INT(a.n, 10);
    EF_CHECK_EQ_INT(b.n, 10);
    for (size_t i = 0; i < a.n && i < b.n; i++)
        EF_CHECK_EQ_STR(a.hashes[i], b.hashes[i]);
    EF_CHECK_EQ_INT(sf.n_candidates, se.n_candidates);
    EF_CHECK(sf.n_dropped[EF_DROP_VERIFY] > 0);
    EF_CHECK_EQ_INT(sf.n_dropped[EF_DROP_VERIFY], se.n_dropped[EF_DROP_VERIFY]);
    if (sf.first_message[EF_DROP_VERIFY] && se.first_message[EF_DROP_VERIFY])
        EF_CHECK_EQ_STR(sf.first_message[EF_DROP_VERIFY], se.first_message[EF_DROP_VERIFY]);
    EF_CHECK(sf.n_fast > 0);     /* the quick candidates ran without the hook */
    EF_CHECK(sf.n_redone > 0);   /* the spinning and hogging ones were made again */
    EF_CHECK_EQ_INT(se.n_fast, 0);
    ef_envgen_summary_clear(&sf);
    ef_envgen_summary_clear(&se);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
}

static void test_levels(void)
{
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.seed = 3;
    o.n_tasks = 5;
    o.level_lo = o.level_hi = 2;
    o.n_jobs = 2;
    ef_envgen_summary s;
    EF_CHECK_OK(ctx, ef_envgen_run(ctx, shop_path, &o, &s));
    EF_CHECK_EQ_INT(s.kept_per_level[0], 5);
    ef_envgen_summary_clear(&s);
    o.level_lo = 1;
    o.level_hi = 3;
    EF_CHECK(ef_envgen_run(ctx, shop_path, &o, &s) == EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "outside the env's levels 1..2");
    ef_envgen_summary_clear(&s);
    char *json = NULL;
    o.level_lo = o.level_hi = 0;
    EF_CHECK_OK(ctx, ef_envgen_run(ctx, shop_path, &o, &s));
    json = ef_envgen_summary_json(&s);
    EF_CHECK_CONTAINS(json, "\"per_level\":{\"1\":3,\"2\":2}");
    ef_free(json);
    ef_envgen_summary_clear(&s);
}

static void test_dedup(void)
{
    /* an env with only 3 distinct tasks: asking for 3 keeps 3 and drops repeats */
    const char *src = "local env = {name='few', category='general'}\n"
                      "function env.generate(rng) local k = rng:int(1, 3) return {prompt='n'..k, answer=k} end\n"
                      "function env.solve(task) return task.answer end\n"
                      "function env.verify(task, a) return tonumber(a) == task.answer and 1 or 0 end\n"
                      "return env\n";
    const char *dir = ef_test_tmpdir("envgen-dedup");
    char path[600];
    snprintf(path, sizeof path, "%s/few.lua", dir);
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, src, strlen(src)));
    collect col;
    memset(&col, 0, sizeof col);
    ef_envgen_summary s;
    EF_CHECK_OK(ctx, run_env(path, 1, 3, 2, &col, &s));
    EF_CHECK_EQ_INT(s.n_kept, 3);
    EF_CHECK(s.n_dropped[EF_DROP_DUPLICATE] > 0);
    ef_envgen_summary_clear(&s);
    /* asking for 4 cannot succeed: the attempt cap ends it with an error */
    memset(&col, 0, sizeof col);
    EF_CHECK(run_env(path, 1, 4, 2, &col, &s) == EF_ELIMIT);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "kept 3 of 4 tasks after 140 candidates");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "duplicate");
    ef_envgen_summary_clear(&s);
    remove(path);
}

/* Tool arguments from solve's call(): those a plain typed-leaf schema accepts are checked on
 * the decoded table (no JSON Schema pass); everything else goes through the validator,
 * whose messages these are. Both must say what the validator says. */
static void test_call_arguments(void)
{
    const char *src =
        "local env = {name='a', category='general'}\n"
        "env.tools = {\n"
        "  t = {description='typed', parameters={type='object', description='d',\n"
        "    properties={s={type='string', description='x'}, n={type='number'}, i={type='integer', title='i'},\n"
        "      b={type='boolean'}}, required={'s'}},\n"
        "    run=function(state, args) local ks = {} for k, v in pairs(args) do\n"
        "      ks[#ks + 1] = k .. '=' .. (type(v) == 'table' and 'table' or tostring(v)) end\n"
        "      return {got=table.concat(ks, ',')} end},\n"
        "  m = {description='minimum', parameters={type='object', properties={q={type='integer', minimum=2}},\n"
        "    required={'q'}}, run=function(state, args) return {got=tostring(args.q)} end},\n"
        "  e = {description='enum', parameters={type='object', properties={c={type='string', enum={'a', 'b'}}}},\n"
        "    run=function(state, args) return {got=args.c} end}}\n"
        "function env.generate(rng) return {prompt='p ' .. rng:int(1, 1e9)} end\n"
        "function env.solve(task, call)\n"
        "  local out = {}\n"
        "  local function try(name, args)\n"
        "    local r, err = call(name, args)\n"
        "    out[#out + 1] = r and ('ok ' .. r.got) or ('err ' .. tostring(err))\n"
        "  end\n"
        "  try('t', {s='x'}); try('t', {s='x', n=1.5, i=3, b=true, extra={1, 2}}); try('t', {n=1})\n"
        "  try('t', {s=1}); try('t', {s='x', i=2.5}); try('t', {s='x', i=2.0}); try('t', {s='x', n='1'})\n"
        "  try('t', {s='x', b=0}); try('t', 'str'); try('t', {1, 2}); try('t', {}); try('t')\n"
        "  try('t', {s=json.null}); try('m', {q=1}); try('m', {q=3}); try('e', {c='z'}); try('e', {c='a'})\n"
        "  return table.concat(out, '|')\n"
        "end\n"
        "function env.verify(task, a) return 0 end\n"
        "return env\n";
    ef_env *env = load_src(src);
    if (!env)
        return;
    ef_env_task t;
    EF_CHECK_OK(ctx, ef_env_generate(ctx, env, 3, 1, &t));
    ef_env_episode *ep = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, t.task_json, &ep));
    char *ans = NULL, *calls = NULL;
    if (ep)
        EF_CHECK_OK(ctx, ef_env_episode_solve(ctx, ep, &ans, &calls));
    EF_CHECK_EQ_STR(ans ? ans : "",
                    "\"ok s=x"
                    "|ok b=true,extra=table,i=3,n=1.5,s=x"
                    "|err invalid arguments for 't': arguments: missing required property 's'"
                    "|err invalid arguments for 't': arguments.s: expected string, got integer"
                    "|err invalid arguments for 't': arguments.i: expected integer, got number"
                    "|ok i=2.0,s=x"
                    "|err invalid arguments for 't': arguments.n: expected number, got string"
                    "|err invalid arguments for 't': arguments.b: expected boolean, got integer"
                    "|err arguments of 't' must be a JSON object"
                    "|err arguments of 't' must be a JSON object"
                    "|err invalid arguments for 't': arguments: missing required property 's'"
                    "|err invalid arguments for 't': arguments: missing required property 's'"
                    "|err invalid arguments for 't': arguments.s: expected string, got null"
                    "|err invalid arguments for 'm': arguments.q: 1 is below the minimum 2"
                    "|ok 3"
                    "|err invalid arguments for 'e': arguments.c: \\\"z\\\" is not one of the allowed values"
                    "|ok a\"");
    ef_free(ans);
    ef_free(calls);
    ef_env_episode_free(ep);
    ef_env_task_clear(&t);
    ef_env_free(env);
}

static void test_search(void)
{
    const char *src =
        "local env = {name='s', category='search'}\n"
        "local DOCS = {{id='d1', title='Oslo', text='Oslo is the capital of Norway.'},\n"
        "  {id='d2', title='Bergen', text='Bergen is a rainy city on the west coast of Norway.'},\n"
        "  {id='d3', title='Paris', text='Paris is the capital of France.'}}\n"
        "env.tools = {search = {description='search', parameters={type='object',\n"
        "  properties={q={type='string'}}, required={'q'}},\n"
        "  run=function(state, args) return ef.search(DOCS, args.q, 2) end}}\n"
        "function env.generate(rng) return {prompt='Which city is rainy? ' .. rng:int(1, 1e9)} end\n"
        "function env.solve(task, call) local h = call('search', {q='rainy city?'}) return h[1].title end\n"
        "function env.verify(task, a) return a == 'Bergen' and 1 or 0 end\n"
        "return env\n";
    ef_env *env = load_src(src);
    if (!env)
        return;
    ef_env_task t;
    EF_CHECK_OK(ctx, ef_env_generate(ctx, env, 5, 1, &t));
    ef_envgen_check chk;
    EF_CHECK_OK(ctx, ef_envgen_validate(ctx, env, &t, &chk));
    EF_CHECK_MSG(chk.drop == EF_DROP_NONE, "%s", chk.message ? chk.message : "");
    EF_CHECK_EQ_STR(chk.answer_json, "\"Bergen\"");
    EF_CHECK_CONTAINS(chk.calls_json, "\"id\":\"d2\"");
    ef_env_episode *ep;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, t.task_json, &ep));
    char *res;
    int is_err;
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "search", "{\"q\":\"***\"}", &res, &is_err));
    EF_CHECK_EQ_STR(res, "[]");
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "search", "{\"q\":\"capital NEAR(\\\"x\"}", &res, &is_err));
    EF_CHECK(is_err == 0);
    EF_CHECK_CONTAINS(res, "\"title\":\"Oslo\"");
    ef_free(res);
    ef_env_episode_free(ep);
    ef_envgen_check_clear(&chk);
    ef_env_task_clear(&t);
    ef_env_free(env);
}

/* ef.search over Chinese and Japanese documents: words inside runs without spaces are
 * found, a question in the same script ranks the right document first. */
static void test_search_cjk(void)
{
    const char *src =
        "local env = {name='s', category='search'}\n"
        "local DOCS = {{id='bj', title='北京', text='北京是中国的首都，天安门广场位于市中心。'},\n"
        "  {id='sh', title='上海', text='上海有著名的外滩和东方明珠电视塔。'},\n"
        "  {id='tk', title='東京', text='東京は日本の首都です。スカイツリーが有名です。'}}\n"
        "env.tools = {search = {description='search', parameters={type='object',\n"
        "  properties={q={type='string'}}, required={'q'}},\n"
        "  run=function(state, args) return ef.search(DOCS, args.q, 3) end}}\n"
        "function env.generate(rng) return {prompt='外滩在哪个城市？' .. rng:int(1, 1e9)} end\n"
        "function env.solve(task, call) local h = call('search', {q='外滩在哪个城市？'}) return h[1].title end\n"
        "function env.verify(task, a) return a == '上海' and 1 or 0 end\n"
        "return env\n";
    ef_env *env = load_src(src);
    if (!env)
        return;
    ef_env_task t;
    EF_CHECK_OK(ctx, ef_env_generate(ctx, env, 5, 1, &t));
    ef_envgen_check chk;
    EF_CHECK_OK(ctx, ef_envgen_validate(ctx, env, &t, &chk));
    EF_CHECK_MSG(chk.drop == EF_DROP_NONE, "%s", chk.message ? chk.message : "");
    EF_CHECK_EQ_STR(chk.answer_json, "\"上海\"");
    ef_env_episode *ep;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, t.task_json, &ep));
    char *res;
    int is_err;
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "search", "{\"q\":\"スカイツリー\"}", &res, &is_err));
    EF_CHECK(is_err == 0);
    EF_CHECK_CONTAINS(res, "\"id\":\"tk\"");
    EF_CHECK(!strstr(res, "\"id\":\"bj\""));
    ef_free(res);
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, "search", "{\"q\":\"首都\"}", &res, &is_err));
    EF_CHECK_CONTAINS(res, "\"id\":\"bj\"");
    EF_CHECK_CONTAINS(res, "\"id\":\"tk\"");
    EF_CHECK(!strstr(res, "\"id\":\"sh\""));
    ef_free(res);
    ef_env_episode_free(ep);
    ef_envgen_check_clear(&chk);
    ef_env_task_clear(&t);
    ef_env_free(env);
}

/* ---- mistakes that do not stop every candidate -------------------------------------------- */

static int run_src(const char *name, const char *src, size_t n, ef_envgen_summary *sum)
{
    const char *dir = ef_test_tmpdir("envgen-authoring");
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, src, strlen(src)));
    collect col;
    memset(&col, 0, sizeof col);
    int rc = run_env(path, 3, n, 2, &col, sum);
    unlink(path);
    rmdir(dir);
    return rc;
}

/* One level whose every candidate fails, the others filling -n: the run fails naming the
 * level and its first drop (it used to say "kept 60 of 60 ... PASS"). Fewer candidates
 * than EF_ENVGEN_LEVEL_MIN_TRIED at the level are not judged. */
static void test_level_all_dropped(void)
{
    const char *src =
        "local env = {name = 'lv', version = 1, category = 'general', levels = 3}\n"
        "function env.generate(rng, level)\n"
        "  if level == 3 then error('level 3 is not written yet') end\n"
        "  local x = rng:int(1, 1000000)\n"
        "  return {prompt = 'Say ' .. x, answer = tostring(x)}\n"
        "end\n"
        "function env.solve(task, call) return task.answer end\n"
        "function env.verify(task, answer, state) return answer == task.answer and 1 or 0 end\n"
        "return env\n";
    ef_envgen_summary s;
    int rc = run_src("lv.lua", src, 60, &s);
    EF_CHECK(rc < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "level 3 kept none of its 29 candidates");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "lv.lua:3: level 3 is not written yet");
    EF_CHECK_EQ_INT(s.n_kept, 60);
    EF_CHECK_EQ_INT(s.candidates_per_level[2], 29);
    ef_envgen_summary_clear(&s);
    EF_CHECK_OK(ctx, run_src("lv.lua", src, 20, &s)); /* 9 candidates at level 3: too few */
    EF_CHECK_EQ_INT(s.kept_per_level[2], 0);
    ef_envgen_summary_clear(&s);
}

/* Warnings name what would spoil the oracle's demonstrations: a solve that never calls
 * the env's tools, and reference solutions whose tool calls fail. A tool raising a table
 * gets a message that says so. */
static void test_reference_warnings(void)
{
    const char *no_calls =
        "local env = {name = 'nc', version = 1, category = 'general'}\n"
        "env.tools = {look = {description = 'd', parameters = {type = 'object', properties = {}},\n"
        "                     run = function(state, args) return 1 end}}\n"
        "function env.generate(rng, level) local x = rng:int(1, 1000000)\n"
        "  return {prompt = 'Say ' .. x, answer = tostring(x)} end\n"
        "function env.solve(task, call) return task.answer end\n"
        "function env.verify(task, answer, state) return answer == task.answer and 1 or 0 end\n"
        "return env\n";
    ef_envgen_summary s;
    EF_CHECK_OK(ctx, run_src("nc.lua", no_calls, 10, &s));
    EF_CHECK_EQ_INT(s.n_warnings, 1);
    EF_CHECK_EQ_INT(s.n_ref_no_calls, 10);
    if (s.n_warnings)
        EF_CHECK_CONTAINS(s.warnings[0], "nc.lua:6: solve made no tool calls on any of the 10 kept tasks");
    char *j = ef_envgen_summary_json(&s);
    EF_CHECK_CONTAINS(j, "\"warnings\"");
    ef_free(j);
    ef_envgen_summary_clear(&s);

    const char *bad_calls =
        "local env = {name = 'bc', version = 1, category = 'general'}\n"
        "env.tools = {look = {description = 'd', parameters = {type = 'object', properties = {}},\n"
        "                     run = function(state, args) error({code = 7}) end}}\n"
        "function env.generate(rng, level) local x = rng:int(1, 1000000)\n"
        "  return {prompt = 'Say ' .. x, answer = tostring(x)} end\n"
        "function env.solve(task, call)\n"
        "  call('look', {})\n"
        "  return task.answer end\n"
        "function env.verify(task, answer, state) return answer == task.answer and 1 or 0 end\n"
        "return env\n";
    EF_CHECK_OK(ctx, run_src("bc.lua", bad_calls, 10, &s));
    EF_CHECK_EQ_INT(s.n_warnings, 1);
    EF_CHECK_EQ_INT(s.n_ref_tool_errors, 10);
    if (s.n_warnings) {
        EF_CHECK_CONTAINS(s.warnings[0], "tool errors on 10 of the 10 kept tasks");
        EF_CHECK_CONTAINS(s.warnings[0], "bc.lua:7: call('look') raised: ");
        EF_CHECK_CONTAINS(s.warnings[0], "bc.lua:3: error() was given a table value, not a message");
    }
    ef_envgen_summary_clear(&s);
}

/* did-you-mean hints for misspelt tool fields, and none for names far from any field */
static void test_field_hints(void)
{
    const char *tmpl =
        "local env = {name = 'h', version = 1, category = 'general'%s}\n"
        "env.tools = {look = {description = 'd', %s = {type = 'object'},\n"
        "                     run = function(state, args) return 1 end}}\n"
        "function env.generate(rng, level) return {prompt = 'p'} end\n"
        "function env.solve(task, call) return '' end\n"
        "function env.verify(task, answer, state) return 0 end\n"
        "return env\n";
    struct { const char *extra, *param, *needle; } cases[] = {
        {"", "paramters", "h.lua:2: tools.look has an unknown field 'paramters' (did you mean 'parameters'?)"},
        {"", "schema", "h.lua:2: tools.look has an unknown field 'schema' (fields: description, parameters, run)"},
        {", catgeory = 'x'", "parameters", "h.lua:1: the env table has an unknown field 'catgeory' (did you mean 'category'?)"},
        {", helper = 1", "parameters", "h.lua:1: the env table has an unknown field 'helper' (fields: name,"},
        {", [1] = 2", "parameters", "the env table has a key that is a number, not a field name"},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        char src[2048];
        snprintf(src, sizeof src, tmpl, cases[i].extra, cases[i].param);
        ef_env *env = NULL;
        int rc = ef_env_load_buffer(ctx, "h.lua", src, strlen(src), NULL, &env);
        EF_CHECK_MSG(rc < 0, "case %zu loaded", i);
        if (rc < 0)
            EF_CHECK_CONTAINS(ef_errmsg(ctx), cases[i].needle);
        ef_env_free(env);
    }
}

/* ---- the corpus of broken envs --------------------------------------------------------- */

static void check_broken(const char *dir, const char *name)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *src;
    size_t len;
    if (ef_file_read(ctx, path, 1 << 20, &src, &len) < 0) {
        EF_CHECK_MSG(0, "cannot read %s", path);
        return;
    }
    int line = -1;
    char expect[256] = "";
    if (sscanf(src, "-- expect-line: %d expect: %255[^\n]", &line, expect) != 2) {
        EF_CHECK_MSG(0, "%s: first line must be '-- expect-line: N expect: TEXT'", name);
        ef_free(src);
        return;
    }
    ef_free(src);
    collect col;
    memset(&col, 0, sizeof col);
    ef_envgen_summary s;
    int rc = run_env(path, 1, 5, 2, &col, &s);
    EF_CHECK_MSG(rc < 0, "%s: the run should fail", name);
    EF_CHECK_EQ_INT(col.n, 0);
    const char *msg = ef_errmsg(ctx);
    EF_CHECK_MSG(strstr(msg, expect) != NULL, "%s: message lacks '%s': %s", name, expect, msg);
    if (line > 0) {
        char where[1400];
        snprintf(where, sizeof where, "%s:%d:", name, line);
        EF_CHECK_MSG(strstr(msg, where) != NULL, "%s: message lacks '%s': %s", name, where, msg);
    }
    printf("    %s -> %.200s\n", name, msg);
    ef_envgen_summary_clear(&s);
}

static void test_broken_corpus(void)
{
    DIR *d = opendir(broken_dir);
    if (!d) {
        EF_CHECK_MSG(0, "no %s", broken_dir);
        return;
    }
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".lua") == 0) {
            check_broken(broken_dir, e->d_name);
            n++;
        }
    }
    closedir(d);
    EF_CHECK(n >= 12);
}

/* Tasks already in a store stay when a later gen fails, and a later gen adds to them. */
static void test_store_keeps_tasks(void)
{
    const char *dir = ef_test_tmpdir("envgen-store");
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", dir);
    ef_store *st = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, db, &st));
    if (!st)
        return;
    collect col;
    memset(&col, 0, sizeof col);
    col.store = st;
    ef_envgen_summary s;
    EF_CHECK_OK(ctx, run_env(shop_path, 11, 10, 2, &col, &s));
    EF_CHECK_EQ_INT(s.n_stored, 10);
    ef_envgen_summary_clear(&s);
    char broken[1400];
    const char *names[] = {"infinite_loop.lua", "generate_error.lua",
                           "tool_returns_function.lua"};
    for (size_t i = 0; i < EF_ARRAY_LEN(names); i++) {
        snprintf(broken, sizeof broken, "%s/%s", broken_dir, names[i]);
        collect bc;
        memset(&bc, 0, sizeof bc);
        bc.store = st;
        EF_CHECK(run_env(broken, 1, 5, 2, &bc, &s) < 0);
        ef_envgen_summary_clear(&s);
    }
    int64_t n = -1;
    EF_CHECK_OK(ctx, ef_store_task_count(st, 0, &n));
    EF_CHECK_EQ_INT(n, 10);
    /* the same run again stores nothing new; another seed adds */
    memset(&col, 0, sizeof col);
    col.store = st;
    EF_CHECK_OK(ctx, run_env(shop_path, 11, 10, 1, &col, &s));
    EF_CHECK_EQ_INT(s.n_stored, 0);
    EF_CHECK_EQ_INT(s.n_store_dup, 10);
    ef_envgen_summary_clear(&s);
    memset(&col, 0, sizeof col);
    col.store = st;
    EF_CHECK_OK(ctx, run_env(shop_path, 12, 10, 2, &col, &s));
    ef_envgen_summary_clear(&s);
    EF_CHECK_OK(ctx, ef_store_task_count(st, 0, &n));
    EF_CHECK_EQ_INT(n, 20);
    ef_store_close(st);
    remove(db);
}

/* A sink that stores the first batch into a real store and fails on the second: the run
 * stops with the sink's message, and what the first batch stored stays. */
typedef struct {
    collect col;
    int batches;
} failing;

static int failing_sink(void *ud, ef_ctx *c, const ef_env_info *env, const ef_env_task *tasks,
                        size_t n, size_t *n_stored, size_t *n_dup)
{
    failing *f = ud;
    if (++f->batches == 2)
        return ef_errorf(c, EF_EIO, "the disk is full at batch %d", f->batches);
    return collect_sink(&f->col, c, env, tasks, n, n_stored, n_dup);
}

static void test_sink_failure(void)
{
    const char *dir = ef_test_tmpdir("envgen-sinkfail");
    char db[600];
    snprintf(db, sizeof db, "%s/t.db", dir);
    ef_store *st = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, db, &st));
    if (!st)
        return;
    failing f;
    memset(&f, 0, sizeof f);
    f.col.store = st;
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.seed = 5;
    o.n_tasks = 40; /* two rounds: 8 candidates, then the rest */
    o.n_jobs = 2;
    o.limits = small_limits();
    o.sink = failing_sink;
    o.sink_ud = &f;
    ef_envgen_summary s;
    int rc = ef_envgen_run(ctx, shop_path, &o, &s);
    EF_CHECK_EQ_INT(rc, EF_EIO);
    EF_CHECK(strstr(ef_errmsg(ctx), "the disk is full at batch 2") != NULL);
    EF_CHECK_EQ_INT(f.batches, 2);
    EF_CHECK_EQ_INT(f.col.n, 8);
    EF_CHECK_EQ_INT(s.n_stored, 8);
    ef_envgen_summary_clear(&s);
    int64_t n = -1;
    EF_CHECK_OK(ctx, ef_store_task_count(st, 0, &n));
    EF_CHECK_EQ_INT(n, 8);
    ef_store_close(st);
    remove(db);
}

static void test_jsonl_roundtrip(void)
{
    collect a;
    memset(&a, 0, sizeof a);
    ef_envgen_summary s;
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.seed = 21;
    o.n_tasks = 6;
    o.n_jobs = 2;
    EF_CHECK_OK(ctx, ef_envgen_run(ctx, shop_path, &o, &s));
    ef_envgen_summary_clear(&s);
    /* write the tasks as JSONL by regenerating them one by one */
    ef_env *env = NULL;
    EF_CHECK_OK(ctx, ef_env_load(ctx, shop_path, NULL, &env));
    if (!env)
        return;
    const char *dir = ef_test_tmpdir("envgen-jsonl");
    char path[600];
    snprintf(path, sizeof path, "%s/tasks.jsonl", dir);
    ef_buf all = EF_BUF_INIT(1 << 24);
    char want[6][65];
    for (int i = 0; i < 6; i++) {
        ef_env_task t;
        EF_CHECK_OK(ctx, ef_env_generate(ctx, env, ef_envgen_task_seed(21, ef_env_get_info(env), (uint64_t)i),
                                         1 + i % 2, &t));
        t.idx = i;
        memcpy(want[i], t.content_hash, 65);
        EF_CHECK_OK(ctx, ef_envgen_task_jsonl(ctx, &all, "fixture_shop", ef_env_get_info(env)->content_hash, &t));
        ef_buf_putc(&all, '\n');
        if (i == 5) { /* a bare task line, as exported by other tools */
            ef_buf_appends(&all, t.task_json);
            ef_buf_putc(&all, '\n');
        }
        ef_env_task_clear(&t);
    }
    EF_CHECK_CONTAINS(all.data, "\"seed\":\"");
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, all.data, all.len));
    ef_buf_free(&all);
    ef_env_free(env);
    o.from_jsonl = path;
    o.n_tasks = 0;
    o.sink = collect_sink;
    o.sink_ud = &a;
    EF_CHECK_OK(ctx, ef_envgen_run(ctx, shop_path, &o, &s));
    EF_CHECK_EQ_INT(s.n_kept, 6);
    EF_CHECK_EQ_INT(s.n_dropped[EF_DROP_DUPLICATE], 1);
    for (int i = 0; i < 6; i++)
        EF_CHECK_EQ_STR(a.hashes[i], want[i]);
    ef_envgen_summary_clear(&s);
    remove(path);
}

/* Importing checks each export line: a task of another env and a level the env does
 * not have are errors naming file and line; --level keeps only its levels and counts the
 * rest; a bare task (no level) is counted as such. */
static void test_import_checks(void)
{
    ef_env *env = NULL;
    EF_CHECK_OK(ctx, ef_env_load(ctx, shop_path, NULL, &env));
    if (!env)
        return;
    const ef_env_info *info = ef_env_get_info(env);
    ef_buf good = EF_BUF_INIT(1 << 20), other = EF_BUF_INIT(1 << 20), badlv = EF_BUF_INIT(1 << 20);
    char bare[8192] = "";
    for (int i = 0; i < 4; i++) {
        ef_env_task t;
        EF_CHECK_OK(ctx, ef_env_generate(ctx, env, ef_envgen_task_seed(5, info, (uint64_t)i),
                                         1 + i % 2, &t));
        t.idx = i;
        EF_CHECK_OK(ctx, ef_envgen_task_jsonl(ctx, &good, info->name, info->content_hash, &t));
        ef_buf_putc(&good, '\n');
        if (i == 0) {
            EF_CHECK_OK(ctx, ef_envgen_task_jsonl(ctx, &other, "arith", info->content_hash, &t));
            ef_buf_putc(&other, '\n');
            snprintf(bare, sizeof bare, "%s\n", t.task_json);
            t.level = 7;
            ef_buf_appends(&badlv, "\n");
            EF_CHECK_OK(ctx, ef_envgen_task_jsonl(ctx, &badlv, info->name, info->content_hash, &t));
            ef_buf_putc(&badlv, '\n');
        }
        ef_env_task_clear(&t);
    }
    ef_env_free(env);
    const char *dir = ef_test_tmpdir("envgen-import");
    char p_good[600], p_other[600], p_bad[600], p_bare[600];
    snprintf(p_good, sizeof p_good, "%s/good.jsonl", dir);
    snprintf(p_other, sizeof p_other, "%s/other.jsonl", dir);
    snprintf(p_bad, sizeof p_bad, "%s/badlevel.jsonl", dir);
    snprintf(p_bare, sizeof p_bare, "%s/bare.jsonl", dir);
    EF_CHECK_OK(ctx, ef_file_write(ctx, p_good, good.data, good.len));
    EF_CHECK_OK(ctx, ef_file_write(ctx, p_other, other.data, other.len));
    EF_CHECK_OK(ctx, ef_file_write(ctx, p_bad, badlv.data, badlv.len));
    EF_CHECK_OK(ctx, ef_file_write(ctx, p_bare, bare, strlen(bare)));
    ef_buf_free(&good);
    ef_buf_free(&other);
    ef_buf_free(&badlv);
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.n_jobs = 2;
    ef_envgen_summary s;
    o.from_jsonl = p_other;
    EF_CHECK(ef_envgen_run(ctx, shop_path, &o, &s) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "other.jsonl:1: field 'env': this task belongs to env 'arith', not to 'fixture_shop'");
    ef_envgen_summary_clear(&s);
    o.from_jsonl = p_bad;
    EF_CHECK(ef_envgen_run(ctx, shop_path, &o, &s) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "badlevel.jsonl:2: field 'level' = 7 is not a level of env 'fixture_shop' (1..2)");
    ef_envgen_summary_clear(&s);
    o.from_jsonl = p_good; /* levels 1, 2, 1, 2: --level 2 keeps two */
    o.level_lo = o.level_hi = 2;
    EF_CHECK_OK(ctx, ef_envgen_run(ctx, shop_path, &o, &s));
    EF_CHECK_EQ_INT(s.n_kept, 2);
    EF_CHECK_EQ_INT(s.kept_per_level[0], 2);
    EF_CHECK_EQ_INT(s.n_import_skipped, 2);
    ef_envgen_summary_clear(&s);
    o.from_jsonl = p_bare;
    o.level_lo = o.level_hi = 0;
    EF_CHECK_OK(ctx, ef_envgen_run(ctx, shop_path, &o, &s));
    EF_CHECK_EQ_INT(s.n_kept, 1);
    EF_CHECK_EQ_INT(s.n_kept_nolevel, 1);
    ef_envgen_summary_clear(&s);
    remove(p_good);
    remove(p_other);
    remove(p_bad);
    remove(p_bare);
}

/* ---- modules (envgen/modules.c) ---------------------------------------------------- */

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, text, strlen(text)));
}

/* An env file in dir whose top level runs `top` and whose generate returns `meta`. */
static void write_env(const char *dir, const char *name, const char *top, const char *meta)
{
    char *src = ef_asprintf("%s\nlocal env = {name='m', version=1, category='general'}\n"
                            "env.tools = {}\n"
                            "function env.generate(rng, level) return {prompt='p', meta=%s} end\n"
                            "function env.solve(task, call) return 'x' end\n"
                            "function env.verify(task, answer, state) return answer == 'x' and 1 "
                            "or 0 end\nreturn env\n",
                            top, meta);
    write_text(dir, name, src);
    ef_free(src);
}

/* Loads dir/name; on failure checks the message holds `needle` (NULL: must load). */
static ef_env *load_in(const char *dir, const char *name, const char *needle)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ef_env *env = NULL;
    ef_env_limits l = small_limits();
    int rc = ef_env_load(ctx, path, &l, &env);
    if (!needle) {
        EF_CHECK_MSG(rc == 0, "%s: %s", name, ef_errmsg(ctx));
    } else {
        EF_CHECK_MSG(rc < 0, "%s loaded, expected an error with '%s'", name, needle);
        if (rc < 0)
            EF_CHECK_CONTAINS(ef_errmsg(ctx), needle);
    }
    return env;
}

static char *task_of(ef_env *env)
{
    ef_env_task t;
    if (ef_env_generate(ctx, env, 5, 1, &t) < 0)
        return ef_strdup(ef_errmsg(ctx));
    char *j = ef_strdup(t.task_json);
    ef_env_task_clear(&t);
    return j;
}

/* require: Lua text under the env file's folder, while the env file loads; the env is
 * kept as a bundle (its text and its modules) that loads without the module files, with
 * one content hash for both; names, links out of the folder, binary chunks, cycles and
 * requires after loading are refused with a message that says why. */
static void test_modules(void)
{
    const char *dir = ef_test_tmpdir("envgen-modules");
    char sub[1024], outside[1024], link[1100], path[1100];
    snprintf(sub, sizeof sub, "%s/lib", dir);
    snprintf(outside, sizeof outside, "%s-outside", dir);
    EF_CHECK_EQ_INT(mkdir(sub, 0755), 0);
    EF_CHECK_EQ_INT(mkdir(outside, 0755), 0);
    write_text(sub, "util.lua", "-- shared\nlocal M = {}\nfunction M.twice(x) return 2 * x end\n"
                                "M.name = ...\nreturn M\n");
    write_env(dir, "ok.lua", "local util = require('lib.util')\nlocal again = require('lib.util')",
              "{v = util.twice(21), same = util == again, name = util.name, "
              "req = type(require), pkg = type(package)}");
    ef_env *env = load_in(dir, "ok.lua", NULL);
    char *task = NULL, *bundle = NULL;
    char hash[65] = "";
    if (env) {
        const ef_env_info *info = ef_env_get_info(env);
        task = task_of(env);
        EF_CHECK_EQ_STR(task, "{\"meta\":{\"name\":\"lib.util\",\"pkg\":\"nil\",\"req\":\"nil\","
                              "\"same\":true,\"v\":42},\"prompt\":\"p\"}");
        EF_CHECK_CONTAINS(info->source, "\n--[==[envgen-module lib.util\n-- shared\n");
        bundle = ef_strdup(info->source);
        memcpy(hash, info->content_hash, sizeof hash);
        char *text;
        size_t len;
        snprintf(path, sizeof path, "%s/ok.lua", dir);
        if (ef_file_read(ctx, path, 1 << 20, &text, &len) == 0) {
            char own[65];
            ef_sha256_hex(text, len, own);
            EF_CHECK(strcmp(own, hash) != 0); /* the hash covers the module too */
            EF_CHECK(strncmp(bundle, text, len) == 0); /* the env's text comes first, as is */
            ef_free(text);
        }
        ef_env_free(env);
    }
    /* the bundle alone (the store's copy): no module file needed, same hash and tasks */
    snprintf(path, sizeof path, "%s/util.lua", sub);
    char moved[1100];
    snprintf(moved, sizeof moved, "%s/util.lua.away", sub);
    EF_CHECK_EQ_INT(rename(path, moved), 0);
    if (bundle) {
        ef_env *b = NULL;
        snprintf(path, sizeof path, "%s/ok.lua", dir);
        EF_CHECK_OK(ctx, ef_env_load_buffer(ctx, path, bundle, strlen(bundle), NULL, &b));
        if (b) {
            EF_CHECK_EQ_STR(ef_env_get_info(b)->content_hash, hash);
            EF_CHECK_EQ_STR(ef_env_get_info(b)->source, bundle);
            char *t2 = task_of(b);
            EF_CHECK_EQ_STR(t2, task);
            ef_free(t2);
            ef_env_free(b);
        }
        /* a bundle never reads a module it does not carry from disk */
        char *more = ef_asprintf("local x = require('lib.other')\n%s", bundle);
        EF_CHECK(ef_env_load_buffer(ctx, path, more, strlen(more), NULL, &b) < 0);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), "require('lib.other'): the env's bundle holds no such module");
        ef_free(more);
        /* malformed bundles: cut anywhere, or with text after the last section, a bundle
         * is plain Lua text (the sections are comments) — it loads, or fails with a
         * message, and never reads past its end */
        size_t blen = strlen(bundle);
        for (size_t cut = strlen("local util"); cut <= blen; cut += 7) {
            char *part = ef_strndup(bundle, cut);
            ef_env *x = NULL;
            int rc = ef_env_load_buffer(ctx, path, part, cut, NULL, &x);
            EF_CHECK_MSG(rc == 0 || ef_errmsg(ctx)[0], "cut at %zu: an error without a message", cut);
            ef_env_free(x);
            ef_free(part);
        }
        char *tail = ef_asprintf("%s-- a comment after the sections\n", bundle);
        ef_env *x = NULL;
        EF_CHECK(ef_env_load_buffer(ctx, path, tail, strlen(tail), NULL, &x) < 0);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), "require('lib.util'): no module file"); /* not a bundle */
        ef_env_free(x);
        ef_free(tail);
    }
    ef_env_free(load_in(dir, "ok.lua", "require('lib.util'): no module file")); /* moved away */
    /* editing the module changes the env's hash */
    write_text(sub, "util.lua", "-- shared, edited\nlocal M = {}\nfunction M.twice(x) return 2 * x end\n"
                                "M.name = ...\nreturn M\n");
    env = load_in(dir, "ok.lua", NULL);
    if (env) {
        EF_CHECK(strcmp(ef_env_get_info(env)->content_hash, hash) != 0);
        ef_env_free(env);
    }
    /* names are dot-separated identifiers: no paths, no escapes */
    const char *bad_names[] = {"../x", "/etc/passwd", "lib..util", "lib/util", "1lib", "lib.", ""};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        char *top = ef_asprintf("local m = require('%s')", bad_names[i]);
        write_env(dir, "badname.lua", top, "1");
        ef_free(top);
        ef_env_free(load_in(dir, "badname.lua", "a module name is dot-separated names"));
    }
    /* a link out of the env's folder */
    write_text(outside, "evil.lua", "return {}\n");
    snprintf(link, sizeof link, "%s/esc", dir);
    EF_CHECK_EQ_INT(symlink(outside, link), 0);
    write_env(dir, "link.lua", "local m = require('esc.evil')", "1");
    ef_env_free(load_in(dir, "link.lua", "leads outside the env file's folder"));
    /* binary chunks (a C module cannot be named at all: only NAME.lua is read) */
    snprintf(path, sizeof path, "%s/bin.lua", sub);
    EF_CHECK_OK(ctx, ef_file_write(ctx, path, "\x1bLuaT\0\x19\x93", 8));
    write_env(dir, "binary.lua", "local m = require('lib.bin')", "1");
    ef_env_free(load_in(dir, "binary.lua", "holds NUL bytes (binary chunks are not allowed"));
    /* a cycle, an error inside a module (named by the module's file and line), and a
     * require kept for later */
    write_text(sub, "a.lua", "return require('lib.b')\n");
    write_text(sub, "b.lua", "return require('lib.a')\n");
    write_env(dir, "cycle.lua", "local m = require('lib.a')", "1");
    ef_env_free(load_in(dir, "cycle.lua", "require('lib.a'): a module requires itself"));
    write_text(sub, "boom.lua", "local M = {}\nerror('boom')\nreturn M\n");
    write_env(dir, "boom.lua", "local m = require('lib.boom')", "1");
    ef_env_free(load_in(dir, "boom.lua", "lib/boom.lua:2: boom"));
    write_env(dir, "late.lua", "local req = require", "req('lib.util')");
    env = load_in(dir, "late.lua", NULL);
    if (env) {
        char *t = task_of(env);
        EF_CHECK_CONTAINS(t, "modules are required while the env file loads");
        ef_free(t);
        ef_env_free(env);
    }
    ef_free(task);
    ef_free(bundle);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
}

static void test_load_alloc_failures(void)
{
    char *src;
    size_t len;
    if (ef_file_read(ctx, shop_path, 1 << 20, &src, &len) < 0)
        return;
    int ok_runs = 0;
    EF_ALLOC_LOOP(n, 20000)
    {
        ef_env *env = NULL;
        int rc = ef_env_load_buffer(ctx, "shop.lua", src, len, NULL, &env);
        if (rc == 0) {
            ef_env_task t;
            if (ef_env_generate(ctx, env, 1, 1, &t) == 0)
                ef_env_task_clear(&t);
            ok_runs++;
        }
        ef_env_free(env);
    }
    ef_free(src);
    EF_CHECK(ok_runs >= 1);
}


static void test_lua_modules(void)
{
    char *tj = NULL;
    int rc = gen_meta("{ex=ef.verify.exact(' New  York ', 'new york'), "
                      "exc=ef.verify.exact('A', 'a', {case=true}), "
                      "num=ef.verify.numeric('\\\\boxed{3/4}', 0.75), "
                      "numbad=ef.verify.numeric('three', 3), "
                      "re=ef.verify.regex('ab12', '^[a-z]+[0-9]+$'), "
                      "js=ef.verify.json('{\"a\": 1.0, \"b\": [true]}', {a=1, b={true}}), "
                      "jsub=ef.verify.json({a=1, c=2}, {a=1}, nil, {subset=true}), "
                      "h=ef.verify.state_hash({b=1, a=2}), "
                      "r=rng:int(1, 1), f=rng:float() < 1, b=type(rng:bool(0.5)), "
                      "ch=rng:choice({'x'}), n=#rng:sample({1, 2, 3, 4, 5}, 2), "
                      "sh=#rng:shuffle({1, 2, 3}), nrm=type(rng:normal(0, 1))}",
                      &tj);
    EF_CHECK_OK(ctx, rc);
    /* sha256('{"a":2,"b":1}') */
    EF_CHECK_EQ_STR(tj, "{\"meta\":{\"b\":\"boolean\",\"ch\":\"x\",\"ex\":1.0,\"exc\":0.0,\"f\":true,"
                        "\"h\":\"d3626ac30a87e6f7a6428233b3c68299976865fa5508e4267c5415c76af7a772\","
                        "\"js\":1.0,\"jsub\":1.0,\"n\":2,\"nrm\":\"number\",\"num\":1.0,\"numbad\":0.0,"
                        "\"r\":1,\"re\":1.0,\"sh\":3},\"prompt\":\"p\"}");
    ef_free(tj);
    /* a malformed reference raises, naming the line */
    EF_CHECK(gen_meta("{x=ef.verify.numeric('1', 'one')}", &tj) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "test.lua:3:");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'one' is not a number");
    EF_CHECK(gen_meta("{x=ef.verify.regex('a', '([')}", &tj) < 0);
    EF_CHECK(gen_meta("{x=rng:int(5, 1)}", &tj) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "lo is greater than hi");
    EF_CHECK(gen_meta("{x=rng:choice({})}", &tj) < 0);
    EF_CHECK(gen_meta("{x=rng:sample({1}, 2)}", &tj) < 0);
}

/* ef.verify.* on what an author gets wrong: options misspelt or not a table, a missing
 * expected value, a schema of the wrong type each raise naming the line; a malformed
 * answer (nil, a table, NaN) scores 0; json's extract takes the last JSON value in prose;
 * library tables take no new fields after load. */
static void test_verify_misuse(void)
{
    static const struct { const char *expr, *needle; } bad[] = {
        {"ef.verify.numeric('5.1', 5, {rtoll = 0.1})", "ef.verify.numeric: unknown option 'rtoll' (did you mean 'rtol'?)"},
        {"ef.verify.numeric('5.1', 5, 0.1)", "ef.verify.numeric: the options must be a table {rtol = ...}, got number"},
        {"ef.verify.exact('A', 'a', {case_sensitive = true})", "ef.verify.exact: unknown option 'case_sensitive' (options: case, ws)"},
        {"ef.verify.regex('A', 'a', {icase = true})", "unknown option 'icase' (did you mean 'case'?)"},
        {"ef.verify.json('{}', {}, nil, {subst = true})", "unknown option 'subst' (did you mean 'subset'?)"},
        {"ef.verify.numeric('5', nil)", "ef.verify.numeric: the expected value is nil"},
        {"ef.verify.exact('x', nil)", "ef.verify.exact: the expected value is nil"},
        {"ef.verify.numeric('5', 0/0)", "ef.verify.numeric: the expected value is NaN"},
        {"ef.verify.regex('x', nil)", "ef.verify.regex: the pattern must be a string, got nil"},
        {"ef.verify.json('{}', nil, 5)", "ef.verify.json: the schema must be a table or JSON text"},
        {"ef.verify.exact(function() end, 'x')", "ef.verify.exact: answer: a function value is not JSON"},
        {"(function() ef.cache = {} end)()", "assignment to new field 'cache' of the library table 'ef'"},
        {"(function() string.memo = 1 end)()", "new field 'memo' of the library table 'string'"},
        {"(function() ef.verify.mine = 1 end)()", "new field 'mine' of the library table 'ef.verify'"},
        {"ef.exec{argv = {'true'}, timeout_ms = 100}", "ef.exec: unknown option 'timeout_ms' (options: argv, files, stdin, wall_ms, mem_mb)"},
        {"ef.verify.unit_tests{file = {}}", "ef.verify.unit_tests: unknown option 'file' (did you mean 'files'?)"},
        {"ef.exec{argv = {'cat'}, stdin = 5}", "ef.exec: stdin must be a string, got number"},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
        char *tj = NULL;
        int rc = gen_meta(bad[i].expr, &tj);
        EF_CHECK_MSG(rc < 0, "%s should raise, gave %s", bad[i].expr, tj ? tj : "");
        if (rc < 0) {
            EF_CHECK_CONTAINS(ef_errmsg(ctx), "test.lua:3:");
            EF_CHECK_CONTAINS(ef_errmsg(ctx), bad[i].needle);
        }
        ef_free(tj);
    }
    check_meta("{nil_ans = ef.verify.numeric(nil, 5), tab = ef.verify.numeric({1}, 5), "
               "nan = ef.verify.numeric(0/0, 5), inf = ef.verify.exact(1/0, 'inf'), "
               "jnil = ef.verify.json(nil, {a = 1}), jbad = ef.verify.json('{oops', {a = 1}), "
               "prose = ef.verify.json('Plan: {\"a\": 1}.', {a = 1}), "
               "prose_x = ef.verify.json('Plan: {\"a\": 1}.', {a = 1}, nil, {extract = true}), "
               "opts_ok = ef.verify.numeric('5.1', 5, {rtol = 0.1, atol = 0, extract = false})}",
               "{\"inf\":1.0,\"jbad\":0.0,\"jnil\":0.0,\"nan\":0.0,\"nil_ans\":0.0,"
               "\"opts_ok\":1.0,\"prose\":0.0,\"prose_x\":1.0,\"tab\":0.0}");
}

static void test_exec(void)
{
    char *tj = NULL;
    int rc = gen_meta("ef.exec{argv={'python3', 'main.py'}, files={['main.py']='print(6*7)'}, "
                      "wall_ms=5000}",
                      &tj);
    if (rc < 0 && strstr(ef_errmsg(ctx), "sandbox"))
        EF_SKIP_CASE("sandbox not available here");
    EF_CHECK_OK(ctx, rc);
    if (tj && strstr(tj, "setup-error")) {
        ef_free(tj);
        EF_SKIP_CASE("sandbox setup fails on this machine");
    }
    EF_CHECK_CONTAINS(tj, "\"status\":\"ok\"");
    EF_CHECK_CONTAINS(tj, "\"stdout\":\"42\\n\"");
    ef_free(tj);
    EF_CHECK(gen_meta("ef.exec{argv={'true'}, files={['../x']='y'}}", &tj) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "plain name");
    EF_CHECK(gen_meta("ef.exec{argv={}}", &tj) < 0);
}

/* The CLI end to end: gen into a store, inspect, and a broken env's exit code. */
static void test_cli(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || !*bin)
        EF_SKIP_CASE("EF_BIN not set");
    const char *dir = ef_test_tmpdir("envgen-cli");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s gen %s -n 12 --seed 5 --db %s/c.db -o %s/c.jsonl --no-progress > %s/out.txt 2> %s/err.txt",
             bin, shop_path, dir, dir, dir, dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
    char path[600], *text = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/out.txt", dir);
    if (ef_file_read(ctx, path, 1 << 20, &text, &len) == 0) {
        EF_CHECK_CONTAINS(text, "kept 12 of 12 requested");
        EF_CHECK_CONTAINS(text, "stored 12 new");
        EF_CHECK_CONTAINS(text, "per level: L1=6 L2=6");
        EF_CHECK_CONTAINS(text, "-> PASS");
        ef_free(text);
    }
    snprintf(cmd, sizeof cmd, "%s gen %s/broken_envs_x.lua -n 1 > /dev/null 2>&1", bin, dir);
    EF_CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 1);
    snprintf(cmd, sizeof cmd, "%s gen %s/infinite_loop.lua -n 3 --instr 100000 --no-progress > /dev/null 2> %s/err2.txt",
             bin, broken_dir, dir);
    EF_CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 1);
    snprintf(path, sizeof path, "%s/err2.txt", dir);
    if (ef_file_read(ctx, path, 1 << 20, &text, &len) == 0) {
        EF_CHECK_CONTAINS(text, "infinite_loop.lua:7: instruction budget of 100000");
        ef_free(text);
    }
    snprintf(cmd, sizeof cmd, "%s gen %s --from-jsonl %s/c.jsonl --db %s/d.db --no-progress > %s/out3.txt 2>&1",
             bin, shop_path, dir, dir, dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
    snprintf(path, sizeof path, "%s/out3.txt", dir);
    if (ef_file_read(ctx, path, 1 << 20, &text, &len) == 0) {
        EF_CHECK_CONTAINS(text, "kept 12 of 12");
        ef_free(text);
    }
    snprintf(cmd, sizeof cmd, "%s inspect %s -n 10 > %s/insp.txt 2>&1", bin, shop_path, dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
    snprintf(path, sizeof path, "%s/insp.txt", dir);
    if (ef_file_read(ctx, path, 1 << 20, &text, &len) == 0) {
        EF_CHECK_CONTAINS(text, "\"name\":\t\"price\"");
        EF_CHECK_CONTAINS(text, "reference tool calls:");
        EF_CHECK_CONTAINS(text, "verdict: reward 1;");
        ef_free(text);
    }
    snprintf(cmd, sizeof cmd, "%s gen --bogus x.lua > /dev/null 2>&1", bin);
    EF_CHECK_EQ_INT(WEXITSTATUS(system(cmd)), 2);
    snprintf(cmd, sizeof cmd, "%s gen --help > /dev/null 2>&1 && %s inspect --help > /dev/null 2>&1", bin, bin);
    EF_CHECK_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    const char *src_dir = getenv("EF_SOURCE_DIR");
    if (!src_dir)
        src_dir = ".";
    snprintf(shop_path, sizeof shop_path, "%s/tests/fixtures/envs/shop.lua", src_dir);
    snprintf(broken_dir, sizeof broken_dir, "%s/tests/broken_envs", src_dir);
    EF_RUN(test_json_exact);
    EF_RUN(test_json_errors);
    EF_RUN(test_globals);
    EF_RUN(test_pairs_order);
    EF_RUN(test_tostring);
    EF_RUN(test_binary_load_refused);
    EF_RUN(test_lua_modules);
    EF_RUN(test_verify_misuse);
    EF_RUN(test_exec);
    EF_RUN(test_episode);
    EF_RUN(test_deterministic_pinned);
    EF_RUN(test_level_all_dropped);
    EF_RUN(test_reference_warnings);
    EF_RUN(test_field_hints);
    EF_RUN(test_fast_mode);
    EF_RUN(test_levels);
    EF_RUN(test_dedup);
    EF_RUN(test_search);
    EF_RUN(test_search_cjk);
    EF_RUN(test_call_arguments);
    EF_RUN(test_broken_corpus);
    EF_RUN(test_store_keeps_tasks);
    EF_RUN(test_sink_failure);
    EF_RUN(test_jsonl_roundtrip);
    EF_RUN(test_import_checks);
    EF_RUN(test_modules);
    EF_RUN(test_load_alloc_failures);
    EF_RUN(test_cli);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
