/*
 * tests/test_store_merge.c — joining shard stores: two shards of one run merge into a
 * new store with everything (episodes, messages, tool calls, token BLOBs, events); a
 * second merge of the same shard adds nothing; a shard whose task, episode or env differs
 * under the same key is reported as conflicts and never overwrites; bad inputs leave the
 * output as it was; and `envforge merge` says so with its exit code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include "tests/testlib.h"
#include "tests/store_testlib.h"
#include "common/hash.h"
#include "datasets/datasets.h"

static ef_ctx *ctx;
static char dir[512];

static const char *path_of(const char *name)
{
    static char bufs[8][600];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 600, "%s/%s", dir, name);
    return b;
}

static void copy_file(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    if (ef_file_read(ctx, from, 1 << 28, &data, &len) < 0 ||
        ef_file_write(ctx, to, data, len) < 0) {
        printf("    copy %s -> %s: %s\n", from, to, ef_errmsg(ctx));
        exit(1);
    }
    ef_free(data);
}

/* A shard: env "arith", 4 tasks, run "grpo" shard i of 2 with 2 samples of the tasks
 * i and i+2, each with messages, tool calls, a token stream and an event; one run event. */
static void make_shard(const char *path, int shard)
{
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, path, &s));
    if (!s)
        exit(1);
    const char *src = "return {name='arith'}";
    char hex[65];
    ef_sha256_hex(src, strlen(src), hex);
    ef_env_row env = {.name = "arith", .version = 1, .content_hash = hex, .source = src};
    int64_t env_id = 0, task_ids[4], run_id = 0;
    EF_CHECK_OK(ctx, ef_store_env_insert(s, &env, &env_id));
    ef_task_row tasks[4];
    char json[4][64], thex[4][65], prompt[4][16];
    for (int i = 0; i < 4; i++) {
        snprintf(prompt[i], 16, "%d+%d", i, i);
        snprintf(json[i], 64, "{\"prompt\":\"%d+%d\",\"answer\":%d}", i, i, 2 * i);
        ef_sha256_hex(json[i], strlen(json[i]), thex[i]);
        tasks[i] = (ef_task_row){.env_id = env_id,
                                 .idx = i,
                                 .seed = 99 + (uint64_t)i,
                                 .content_hash = thex[i],
                                 .prompt = prompt[i],
                                 .task_json = json[i]};
    }
    EF_CHECK_OK(ctx, ef_store_task_insert_batch(s, tasks, 4, NULL, NULL));
    ef_task_iter *it = NULL;
    const ef_task_row *row;
    EF_CHECK_OK(ctx, ef_store_task_iter_new(s, env_id, &it));
    for (int i = 0; i < 4; i++)
        EF_CHECK_EQ_INT(ef_store_task_iter_next(it, &row, &task_ids[i]), 1);
    ef_store_task_iter_free(it);
    ef_run_row run = {
        .name = "grpo", .model = "oracle", .group_size = 2, .shard_index = shard, .shard_count = 2};
    EF_CHECK_OK(ctx, ef_store_run_insert(s, &run, &run_id));
    ef_event_row rev = {
        .run_id = run_id, .kind = "run_started", .payload_json = "{}", .time = 1.7e9 + shard};
    EF_CHECK_OK(ctx, ef_store_event_insert(s, &rev, NULL));
    int32_t ids[6] = {1, 2, 3, 4, 5, 6};
    uint8_t mask[6] = {0, 0, 1, 1, 0, 1};
    float lp[6] = {0, 0, -0.5f, -0.25f, 0, -1};
    uint16_t routes[6 * 2] = {1, 2, 300, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    ef_token_stream tok = {.n_tokens = 6,
                           .token_ids = ids,
                           .loss_mask = mask,
                           .logprobs = lp,
                           .route_layers = 1,
                           .route_topk = 2,
                           .routes = routes};
    ef_message_row msgs[3] = {{.idx = -1, .role = "user", .content = "1+1"},
                              {.idx = -1, .role = "assistant", .content = "2"},
                              {.idx = -1, .role = "tool", .content = "ok", .tool_call_id = "c"}};
    ef_tool_call_row call = {.message_idx = 1,
                             .call_id = "c",
                             .tool = "calc",
                             .arguments_json = "{\"x\":1}",
                             .result = "ok"};
    ef_event_row ev = {.kind = "context_reset", .payload_json = "{\"policy\":\"summary\"}"};
    for (int t = shard; t < 4; t += 2)
        for (int k = 0; k < 2; k++) {
            ef_episode_row ep = {.run_id = run_id,
                                 .task_id = task_ids[t],
                                 .group_id = t,
                                 .sample_idx = k,
                                 .status = "completed",
                                 .end_reason = "answer",
                                 .reward = k ? 1.0 : 0.0,
                                 .verified = 1,
                                 .answer = k ? "right" : "wrong",
                                 .n_completion_tokens = 3};
            ef_episode_bundle b = {.episode = &ep,
                                   .messages = msgs,
                                   .n_messages = 3,
                                   .tool_calls = &call,
                                   .n_tool_calls = 1,
                                   .tokens = &tok,
                                   .events = &ev,
                                   .n_events = 1};
            EF_CHECK_OK(ctx, ef_store_bundle_insert(s, &b, NULL));
        }
    ef_store_close(s);
}

typedef struct {
    int n_conflicts, n_notes;
    char last[1024];
} reports;

static void collect(void *ud, int conflict, const char *msg)
{
    reports *r = ud;
    if (conflict)
        r->n_conflicts++;
    else
        r->n_notes++;
    snprintf(r->last, sizeof r->last, "%s", msg);
}

static void test_merge_shards(void)
{
    const char *a = path_of("a.db"), *b = path_of("b.db"), *out = path_of("out.db");
    make_shard(a, 0);
    make_shard(b, 1);
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, out, &s));
    if (!s)
        return;
    reports r = {0, 0, ""};
    ef_store_merge_stats st;
    EF_CHECK_OK(ctx, ef_store_merge(s, a, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_envs, 1);
    EF_CHECK_EQ_INT(st.n_tasks, 4);
    EF_CHECK_EQ_INT(st.n_runs, 1);
    EF_CHECK_EQ_INT(st.n_episodes, 4);
    EF_CHECK_EQ_INT(st.n_events, 5); /* 4 episode events + 1 run event */
    EF_CHECK_EQ_INT(st.n_conflicts, 0);
    EF_CHECK_OK(ctx, ef_store_merge(s, b, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_envs, 0);
    EF_CHECK_EQ_INT(st.n_same_envs, 1);
    EF_CHECK_EQ_INT(st.n_tasks, 0);
    EF_CHECK_EQ_INT(st.n_same_tasks, 4);
    EF_CHECK_EQ_INT(st.n_runs, 1);
    EF_CHECK_EQ_INT(st.n_episodes, 4);
    EF_CHECK_EQ_INT(st.n_conflicts, 0);
    /* shard 1's run has the same name as shard 0's: kept apart under a shard name */
    EF_CHECK_EQ_INT(r.n_notes, 1);
    EF_CHECK_CONTAINS(r.last, "grpo/shard-1-of-2");
    int64_t run_b = 0;
    EF_CHECK_OK(ctx, ef_store_run_find(s, "grpo/shard-1-of-2", &run_b));
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 8);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM messages"), 24);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM tool_calls"), 8);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM token_streams"), 8);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events"), 10);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events WHERE run_id IS NULL"), 0);
    /* every episode points at the merged task of the same content, and its BLOBs match */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes e JOIN tasks t ON t.id = "
                                 "e.task_id WHERE t.idx != e.group_id"),
                    0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(DISTINCT hex(token_ids) || hex(routes)) "
                                 "FROM token_streams"),
                    1);
    ef_token_stream *t = NULL;
    int64_t ep_id = 0, task3 = 0;
    EF_CHECK_EQ_INT((task3 = sql_int(out, "SELECT id FROM tasks WHERE idx = 3")) > 0, 1);
    EF_CHECK_OK(ctx, ef_store_episode_find(s, run_b, task3, 1, &ep_id));
    EF_CHECK_OK(ctx, ef_store_token_stream_get(s, ep_id, &t));
    if (t) {
        EF_CHECK_EQ_INT(t->n_tokens, 6);
        EF_CHECK_EQ_INT(t->routes[2], 300);
        EF_CHECK_NEAR(t->logprobs[3], -0.25, 0);
    }
    ef_store_token_stream_free(t);
    /* merging a shard again adds nothing */
    EF_CHECK_OK(ctx, ef_store_merge(s, a, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_episodes + st.n_tasks + st.n_runs + st.n_envs + st.n_events, 0);
    EF_CHECK_EQ_INT(st.n_same_episodes, 4);
    EF_CHECK_EQ_INT(st.n_same_runs, 1);
    EF_CHECK_OK(ctx, ef_store_merge(s, b, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_episodes + st.n_runs + st.n_events, 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 8);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM runs"), 2);
    EF_CHECK_OK(ctx, ef_store_check(s));
    ef_store_close(s);
}

/* A copy of shard a that differs in one episode's outcome, one task's JSON (under the
 * same hash) and the env's name. */
static void make_conflicting_copy(const char *a, const char *c)
{
    copy_file(a, c);
    sql_exec(c, "UPDATE episodes SET reward = 0.5 WHERE task_id = (SELECT id FROM tasks WHERE "
                "idx = 0) AND sample_idx = 1;"
                "UPDATE tasks SET task_json = '{\"prompt\":\"2+2\",\"answer\":5}' WHERE idx = 2;"
                "UPDATE envs SET name = 'arith2';");
}

static void test_merge_conflicts(void)
{
    const char *a = path_of("ca.db"), *c = path_of("cc.db"), *out = path_of("cout.db");
    make_shard(a, 0);
    make_conflicting_copy(a, c);
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, out, &s));
    if (!s)
        return;
    reports r = {0, 0, ""};
    ef_store_merge_stats st;
    EF_CHECK_OK(ctx, ef_store_merge(s, a, collect, &r, &st));
    EF_CHECK_EQ_INT(r.n_conflicts, 0);
    EF_CHECK_OK(ctx, ef_store_merge(s, c, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_conflicts, 3);
    EF_CHECK_EQ_INT(r.n_conflicts, 3);
    EF_CHECK_EQ_INT(st.n_same_episodes, 1); /* task 0 sample 0; task 2's are skipped */
    EF_CHECK_EQ_INT(st.n_episodes, 0);
    /* nothing was overwritten */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes WHERE reward = 0.5"), 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM tasks WHERE task_json LIKE '%5}'"), 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM envs WHERE name = 'arith'"), 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM envs"), 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM tasks"), 4);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 4);

    /* inputs that cannot be merged leave the output as it was */
    const char *junk = path_of("junk.db");
    ef_file_write(ctx, junk, "not a database at all, just some text in a file......", 53);
    EF_CHECK(ef_store_merge(s, junk, collect, &r, &st) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "junk.db");
    EF_CHECK(ef_store_merge(s, path_of("nope.db"), collect, &r, &st) < 0);
    EF_CHECK_EQ_INT(ef_store_merge(s, out, collect, &r, &st), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "the store itself");
    const char *newer = path_of("newer.db");
    copy_file(a, newer);
    sql_exec(newer, "INSERT INTO schema_migrations(version, description) VALUES (9, 'x')");
    EF_CHECK_EQ_INT(ef_store_merge(s, newer, collect, &r, &st), EF_EUNSUPPORTED);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 4);
    EF_CHECK_OK(ctx, ef_store_check(s));
    ef_store_close(s);
}

static void test_merge_alloc_failure(void)
{
    const char *a = path_of("fa.db"), *out = path_of("fout.db");
    make_shard(a, 0);
    long n_runs = 0;
    EF_ALLOC_LOOP(n, 1000)
    {
        n_runs++;
        ef_store *s = NULL;
        if (ef_store_open(ctx, out, &s) < 0)
            continue;
        ef_store_merge_stats st;
        ef_store_merge(s, a, NULL, NULL, &st);
        ef_store_close(s);
    }
    EF_CHECK(n_runs > 2);
    /* whichever attempt got through merged all of it, once */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 4);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM messages"), 12);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events"), 5);
}

/* Runs `envforge ARGS` with stdout/stderr to files; returns the exit code. */
static int run_cli(const char *const *args, const char *out_file, const char *err_file)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(out_file, "w", stdout) || !freopen(err_file, "w", stderr))
            _exit(126);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_merge_cli(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("the envforge binary is not built");
    const char *a = path_of("a.db"), *b = path_of("b.db"), *c = path_of("cli-c.db");
    const char *out = path_of("cli.db"), *o = path_of("cli.out"), *e = path_of("cli.err");
    if (access(a, F_OK) != 0)
        make_shard(a, 0);
    if (access(b, F_OK) != 0)
        make_shard(b, 1);
    make_conflicting_copy(a, c);
    const char *args1[] = {bin, "merge", out, a, b, NULL};
    EF_CHECK_EQ_INT(run_cli(args1, o, e), 0);
    char *text = NULL;
    size_t len = 0;
    if (ef_file_read(ctx, o, 1 << 20, &text, &len) == 0) {
        EF_CHECK_CONTAINS(text, "a.db: +1 envs +4 tasks +1 runs +4 episodes");
        EF_CHECK_CONTAINS(text, "b.db: +0 envs +0 tasks +1 runs +4 episodes");
    }
    ef_free(text);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 8);
    const char *args2[] = {bin, "merge", out, c, NULL};
    EF_CHECK_EQ_INT(run_cli(args2, o, e), 1);
    if (ef_file_read(ctx, e, 1 << 20, &text, &len) == 0)
        EF_CHECK_CONTAINS(text, "envforge merge: conflict: ");
    ef_free(text);
    const char *args3[] = {bin, "merge", out, NULL};
    EF_CHECK_EQ_INT(run_cli(args3, o, e), 2);
    const char *args4[] = {bin, "merge", "--help", NULL};
    EF_CHECK_EQ_INT(run_cli(args4, o, e), 0);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    snprintf(dir, sizeof dir, "%s", ef_test_tmpdir("merge"));
    EF_RUN(test_merge_shards);
    EF_RUN(test_merge_conflicts);
    EF_RUN(test_merge_alloc_failure);
    EF_RUN(test_merge_cli);
    int rc = EF_TEST_END();
    if (rc == 0)
        remove_dir(dir);
    ef_ctx_free(ctx);
    return rc;
}
