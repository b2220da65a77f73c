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
#include "datasets/export.h"

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

/* ---- stores built case by case: envs, tasks, a run, episodes with all their parts ---- */

/* The env named name (its source says so) with n tasks "name i" (the same content in
 * every store that makes them); task ids go to ids. */
static int64_t add_env_tasks(ef_store *s, const char *name, int n, int64_t *ids)
{
    char src[128], hex[65];
    snprintf(src, sizeof src, "return {name='%s'}", name);
    ef_sha256_hex(src, strlen(src), hex);
    ef_env_row env = {.name = name, .version = 1, .content_hash = hex, .source = src};
    int64_t env_id = 0;
    EF_CHECK_OK(ctx, ef_store_env_insert(s, &env, &env_id));
    for (int i = 0; i < n; i++) {
        char json[128], thex[65], prompt[64];
        snprintf(prompt, sizeof prompt, "%s %d", name, i);
        snprintf(json, sizeof json, "{\"prompt\":\"%s %d\",\"answer\":%d}", name, i, i);
        ef_sha256_hex(json, strlen(json), thex);
        ef_task_row t = {.env_id = env_id,
                         .idx = i,
                         .seed = (uint64_t)i,
                         .content_hash = thex,
                         .prompt = prompt,
                         .task_json = json};
        EF_CHECK_OK(ctx, ef_store_task_insert_batch(s, &t, 1, NULL, NULL));
        ids[i] = sql_int(ef_store_path(s), "SELECT max(id) FROM tasks");
    }
    return env_id;
}

#define RUN_CONFIG "{\"max_turns\":16,\"temperature\":null,\"env\":null,\"settings\":1}"

static int64_t add_run(ef_store *s, const char *config)
{
    ef_run_row run = {.name = "grpo",
                      .model = "oracle",
                      .config_json = config,
                      .seed = 7,
                      .group_size = 2,
                      .shard_index = 0,
                      .shard_count = 1};
    int64_t id = 0;
    EF_CHECK_OK(ctx, ef_store_run_insert(s, &run, &id));
    ef_event_row rev = {.run_id = id, .kind = "run_started", .payload_json = "{}", .time = 1.8e9};
    EF_CHECK_OK(ctx, ef_store_event_insert(s, &rev, NULL));
    return id;
}

/* One episode with 2 messages, a token stream and an event. failed: "" none,
 * "model" an episode that ended in model_error, "verify" one whose verifier failed. */
static void add_episode(ef_store *s, int64_t run_id, int64_t task_id, int64_t group_id,
                        int64_t sample, const char *answer, const char *failed)
{
    int model_error = !strcmp(failed, "model"), verify_error = !strcmp(failed, "verify");
    int good = !model_error && !verify_error;
    ef_episode_row ep = {.run_id = run_id,
                         .task_id = task_id,
                         .group_id = group_id,
                         .sample_idx = sample,
                         .status = model_error ? "failed" : "completed",
                         .end_reason = model_error ? "model_error" : "answer",
                         .reward = good ? 1.0 : 0.0,
                         .verified = good,
                         .answer = answer,
                         .error = model_error    ? "model http://h/v1: HTTP 502"
                                  : verify_error ? "verify: the sandbox refused"
                                                 : NULL,
                         .n_completion_tokens = 2};
    int32_t ids[4] = {1, 2, 3, 4};
    uint8_t mask[4] = {0, 0, 1, 1};
    ef_token_stream tok = {.n_tokens = 4, .token_ids = ids, .loss_mask = mask};
    ef_message_row msgs[2] = {{.idx = -1, .role = "user", .content = "q"},
                              {.idx = -1, .role = "assistant", .content = answer}};
    ef_event_row ev = {.kind = model_error ? "model_error" : "answer", .payload_json = "{}"};
    ef_episode_bundle b = {.episode = &ep,
                           .messages = msgs,
                           .n_messages = 2,
                           .tokens = &tok,
                           .events = &ev,
                           .n_events = 1};
    EF_CHECK_OK(ctx, ef_store_bundle_insert(s, &b, NULL));
}

static ef_store *open_new(const char *path)
{
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, path, &s));
    if (!s)
        exit(1);
    return s;
}

/* The number of (run, group) pairs whose episodes are not all of one task. */
#define MIXED_GROUPS                                                                               \
    "SELECT count(*) FROM (SELECT run_id, group_id FROM episodes GROUP BY 1, 2 "                   \
    "HAVING count(DISTINCT task_id) > 1)"

/* Two machines ran the same run on stores whose task ids differ (the second store made
 * env "other" first): merged into the first, each task's episodes form one group of
 * their own, the samples of a task done on both machines join one group, a new group
 * never takes the id of a group the run has, and every group exports whole. */
static void test_merge_groups_renumbered(void)
{
    const char *x = path_of("gx.db"), *y = path_of("gy.db"), *out = path_of("gout.db");
    int64_t ax[4], ay[4], oy[2];
    ef_store *s = open_new(x);
    add_env_tasks(s, "arith", 4, ax);
    int64_t run = add_run(s, RUN_CONFIG);
    add_episode(s, run, ax[0], ax[0], 0, "0", "");
    /* a group id that is not the task's: the id y's first "other" task gets in x */
    add_episode(s, run, ax[1], 5, 0, "1", "");
    add_episode(s, run, ax[1], 5, 1, "1", "");
    ef_store_close(s);
    s = open_new(y);
    add_env_tasks(s, "other", 2, oy);
    add_env_tasks(s, "arith", 4, ay); /* ids 3..6 here, 1..4 in x */
    run = add_run(s, RUN_CONFIG);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 2; k++)
            add_episode(s, run, oy[t], oy[t], k, "o", "");
    add_episode(s, run, ay[0], ay[0], 1, "0", ""); /* the other sample of x's task 0 */
    add_episode(s, run, ay[2], ay[2], 0, "2", "");
    add_episode(s, run, ay[2], ay[2], 1, "2", "");
    ef_store_close(s);

    copy_file(x, out);
    s = open_new(out);
    reports r = {0, 0, ""};
    ef_store_merge_stats st;
    EF_CHECK_OK(ctx, ef_store_merge(s, y, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_same_runs, 1);
    EF_CHECK_EQ_INT(st.n_episodes, 7);
    EF_CHECK_EQ_INT(st.n_conflicts, 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM runs"), 1);
    EF_CHECK_EQ_INT(sql_int(out, MIXED_GROUPS), 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(DISTINCT group_id) FROM episodes"), 5);
    /* task 0's samples from both machines are one group, the one x gave it */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(DISTINCT group_id) || count(*) || min(group_id) "
                                 "FROM episodes e JOIN tasks t ON t.id = e.task_id "
                                 "WHERE t.prompt = 'arith 0'"),
                    121);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT group_id FROM episodes e JOIN tasks t ON t.id = "
                                 "e.task_id WHERE t.prompt = 'arith 1' LIMIT 1"),
                    5);
    /* new groups take their task's id in the store, or one past the largest when taken:
     * "other 0" is task 5 here, and group 5 is arith 1's */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes e JOIN tasks t ON t.id = "
                                 "e.task_id WHERE t.prompt = 'arith 2' AND e.group_id = t.id"),
                    2);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT id FROM tasks WHERE prompt = 'other 0'"), 5);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT min(e.group_id) * 10 + max(e.group_id) FROM episodes e "
                                 "JOIN tasks t ON t.id = e.task_id WHERE t.prompt LIKE 'other %'"),
                    67);
    /* the exporter sees 5 whole groups of 2 */
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_RL;
    ef_export_stats es;
    FILE *devnull = fopen("/dev/null", "w");
    EF_CHECK_OK(ctx, ef_export_write(s, &o, devnull, &es));
    fclose(devnull);
    EF_CHECK_EQ_INT(es.n_groups, 5);
    EF_CHECK_EQ_INT(es.n_groups_incomplete, 0);
    EF_CHECK_EQ_INT(es.n_rows, 10);
    /* merging both again: every episode is already there, in its group */
    EF_CHECK_OK(ctx, ef_store_merge(s, y, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_same_episodes, 7);
    EF_CHECK_EQ_INT(st.n_conflicts, 0);
    EF_CHECK_OK(ctx, ef_store_merge(s, x, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_same_episodes, 3);
    EF_CHECK_EQ_INT(st.n_same_runs, 1);
    EF_CHECK_EQ_INT(r.n_conflicts, 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 10);
    EF_CHECK_OK(ctx, ef_store_check(s));
    ef_store_close(s);
}

/* The same run (name, model, shard) with other settings on another machine is a
 * conflict naming the field, left out with its episodes and run events; the same
 * settings written otherwise (key order, 16 as 16.0, a null key left out) join. */
static void test_merge_run_settings(void)
{
    char x[600], out[600];
    snprintf(x, sizeof x, "%s", path_of("sx.db"));
    snprintf(out, sizeof out, "%s", path_of("sout.db"));
    int64_t t[2];
    ef_store *s = open_new(x);
    add_env_tasks(s, "arith", 2, t);
    int64_t run = add_run(s, RUN_CONFIG);
    add_episode(s, run, t[0], t[0], 0, "0", "");
    ef_store_close(s);
    static const struct {
        const char *file, *sql, *field;
    } cases[] = {
        {"s_temp.db", "UPDATE runs SET config_json = json_set(config_json, '$.temperature', 0.7)",
         "temperature 0.7 here, null in the store"},
        {"s_turns.db", "UPDATE runs SET config_json = json_set(config_json, '$.max_turns', 4)",
         "max_turns 4 here, 16 in the store"},
        {"s_env.db", "UPDATE runs SET config_json = json_set(config_json, '$.env', 'maze')",
         "env \"maze\" here, null in the store"},
        {"s_seed.db", "UPDATE runs SET seed = 8", "seed 8 here, 7 in the store"},
        {"s_group.db", "UPDATE runs SET group_size = 4", "group_size 4 here, 2 in the store"},
    };
    s = open_new(out);
    reports r = {0, 0, ""};
    ef_store_merge_stats st;
    EF_CHECK_OK(ctx, ef_store_merge(s, x, collect, &r, &st));
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        const char *c = path_of(cases[i].file);
        copy_file(x, c);
        /* the other machine's own episode and run event: neither may come in */
        sql_exec(c, cases[i].sql);
        sql_exec(c, "UPDATE episodes SET task_id = task_id + 1, group_id = group_id + 1;"
                    "UPDATE events SET time = '2030-01-01T00:00:00.000Z' WHERE episode_id IS NULL");
        r = (reports){0, 0, ""};
        EF_CHECK_OK(ctx, ef_store_merge(s, c, collect, &r, &st));
        EF_CHECK_EQ_INT(st.n_conflicts, 1);
        EF_CHECK_EQ_INT(st.n_episodes + st.n_events + st.n_runs + st.n_same_runs, 0);
        EF_CHECK_CONTAINS(r.last, "run 'grpo' of ");
        EF_CHECK_CONTAINS(r.last, cases[i].field);
        EF_CHECK_CONTAINS(r.last, "skipped it and its 1 episodes");
    }
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM runs"), 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events WHERE episode_id IS NULL"), 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events WHERE run_id IS NULL"), 0);
    /* equal settings, written otherwise: the same run */
    const char *same = path_of("s_same.db");
    copy_file(x, same);
    sql_exec(same, "UPDATE runs SET config_json = '{\"settings\":1,\"max_turns\":16.0}';"
                   "UPDATE episodes SET task_id = task_id + 1, group_id = group_id + 1");
    EF_CHECK_OK(ctx, ef_store_merge(s, same, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_conflicts, 0);
    EF_CHECK_EQ_INT(st.n_same_runs, 1);
    EF_CHECK_EQ_INT(st.n_episodes, 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM runs"), 1);
    EF_CHECK_OK(ctx, ef_store_check(s));
    ef_store_close(s);
}

/* A retry on another machine: the input's good episode replaces the store's failed one
 * (model_error, or a verifier error) with its messages, tokens and events; a failed
 * input episode never replaces a store one (good or failed); two different good ones
 * stay a conflict. The order of the inputs does not change the result. */
static void test_merge_failed_replaced(void)
{
    const char *x = path_of("fx.db"), *y = path_of("fy.db");
    int64_t t[3];
    ef_store *s = open_new(x);
    add_env_tasks(s, "arith", 3, t);
    int64_t run = add_run(s, RUN_CONFIG);
    add_episode(s, run, t[0], t[0], 0, NULL, "model");
    add_episode(s, run, t[0], t[0], 1, "0", "verify");
    add_episode(s, run, t[1], t[1], 0, "1", "");
    add_episode(s, run, t[2], t[2], 0, NULL, "model");
    ef_store_close(s);
    s = open_new(y);
    add_env_tasks(s, "arith", 3, t);
    run = add_run(s, RUN_CONFIG);
    add_episode(s, run, t[0], t[0], 0, "0", "");
    add_episode(s, run, t[0], t[0], 1, "0", "");
    add_episode(s, run, t[1], t[1], 0, "one", "");     /* another good answer: a conflict */
    add_episode(s, run, t[2], t[2], 0, "2", "verify"); /* failed on both: the store's stays */
    add_episode(s, run, t[1], t[1], 1, "1", "");
    ef_store_close(s);

    const char *out = path_of("rout.db");
    s = open_new(out);
    reports r = {0, 0, ""};
    ef_store_merge_stats st;
    EF_CHECK_OK(ctx, ef_store_merge(s, x, collect, &r, &st));
    r = (reports){0, 0, ""};
    EF_CHECK_OK(ctx, ef_store_merge(s, y, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_replaced_episodes, 2);
    EF_CHECK_EQ_INT(st.n_failed_episodes, 1);
    EF_CHECK_EQ_INT(st.n_conflicts, 1);
    EF_CHECK_EQ_INT(st.n_episodes, 1); /* task 1 sample 1 */
    EF_CHECK_EQ_INT(r.n_notes, 2);
    EF_CHECK_EQ_INT(r.n_conflicts, 1);
    EF_CHECK_EQ_INT(st.n_events, 3); /* the replacing and the new episodes' own */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 5);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes WHERE end_reason = 'model_error' "
                                 "OR error IS NOT NULL"),
                    1); /* task 2's, failed on both */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes e JOIN tasks t ON t.id = "
                                 "e.task_id WHERE t.idx = 0 AND e.reward = 1 AND e.verified = 1"),
                    2);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes WHERE answer = 'one'"), 0);
    /* the failed episodes' parts went with them; the new ones have theirs */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM messages"), 10);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM token_streams"), 5);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events WHERE kind = 'model_error'"), 1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM events WHERE episode_id IS NOT NULL"), 5);
    EF_CHECK_EQ_INT(sql_int(out, MIXED_GROUPS), 0);
    /* the failed input again: nothing replaced back, no conflict for the failed ones */
    r = (reports){0, 0, ""};
    EF_CHECK_OK(ctx, ef_store_merge(s, x, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_replaced_episodes, 0);
    EF_CHECK_EQ_INT(st.n_failed_episodes, 2);
    EF_CHECK_EQ_INT(st.n_same_episodes, 2); /* task 1 sample 0, task 2 */
    EF_CHECK_EQ_INT(st.n_conflicts, 0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes WHERE reward = 1"), 4);
    EF_CHECK_OK(ctx, ef_store_check(s));
    ef_store_close(s);

    /* the other order ends the same way */
    const char *out2 = path_of("rout2.db");
    s = open_new(out2);
    EF_CHECK_OK(ctx, ef_store_merge(s, y, collect, &r, &st));
    EF_CHECK_OK(ctx, ef_store_merge(s, x, collect, &r, &st));
    EF_CHECK_EQ_INT(st.n_replaced_episodes, 0);
    EF_CHECK_EQ_INT(st.n_failed_episodes, 3); /* task 0's two, and task 2's (failed on both) */
    EF_CHECK_EQ_INT(st.n_conflicts, 1);
    ef_store_close(s);
    EF_CHECK_EQ_INT(sql_int(out2, "SELECT count(*) FROM episodes WHERE reward = 1"), 4);
    EF_CHECK_EQ_INT(sql_int(out2, "SELECT count(*) FROM episodes WHERE error IS NOT NULL"), 1);
}

/* Inputs that are not stores are named as such, whatever they are, and the store keeps
 * what it had. */
static void test_merge_not_a_store(void)
{
    char out[600], a[600], text[600], empty[600], nodb[600], foreign[600], bare[600], torn[600];
    snprintf(out, sizeof out, "%s", path_of("nout.db"));
    snprintf(a, sizeof a, "%s", path_of("na.db"));
    snprintf(text, sizeof text, "%s", path_of("notes.txt"));
    snprintf(empty, sizeof empty, "%s", path_of("empty.db"));
    snprintf(nodb, sizeof nodb, "%s", path_of("none.db"));
    snprintf(foreign, sizeof foreign, "%s", path_of("foreign.db"));
    snprintf(bare, sizeof bare, "%s", path_of("bare.db"));
    snprintf(torn, sizeof torn, "%s", path_of("torn.db"));
    make_shard(a, 0);
    ef_store *s = open_new(out);
    ef_store_merge_stats st;
    EF_CHECK_OK(ctx, ef_store_merge(s, a, NULL, NULL, &st));
    ef_file_write(ctx, text, "run notes\nshard 0 done\n", 23);
    ef_file_write(ctx, empty, "", 0);
    sql_exec(foreign, "CREATE TABLE t(x); CREATE TABLE u(y)");
    sql_exec(bare, "PRAGMA user_version = 3");
    /* the SQLite header followed by garbage */
    char junk[4096];
    memset(junk, 'z', sizeof junk);
    memcpy(junk, "SQLite format 3", 16);
    ef_file_write(ctx, torn, junk, sizeof junk);
    static const struct {
        const char *name, *why;
        int code;
    } cases[] = {
        {"notes.txt", "(not a SQLite database", EF_EPARSE},
        {"empty.db", "(an empty file)", EF_EPARSE},
        {"none.db", "(no such file)", EF_ENOTFOUND},
        {"", "(a directory)", EF_EINVAL},
        {"foreign.db", "(a SQLite database with 2 tables but no schema_migrations table)",
         EF_EPARSE},
        {"bare.db", "(a SQLite database with no tables)", EF_EPARSE},
        {"torn.db", "(a damaged SQLite database", EF_EPARSE},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        const char *p = cases[i].name[0] ? path_of(cases[i].name) : dir;
        char want[700];
        snprintf(want, sizeof want, "%s: not an envforge store %s", p, cases[i].why);
        EF_CHECK_EQ_INT(ef_store_merge(s, p, NULL, NULL, &st), cases[i].code);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), want);
        EF_CHECK_EQ_INT(ef_store_merge_check_input(ctx, p), cases[i].code);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), want);
    }
    EF_CHECK_OK(ctx, ef_store_merge_check_input(ctx, a));
    ef_store_close(s);
    /* the checks wrote nothing into the files they looked at */
    EF_CHECK_EQ_INT(sql_int(bare, "PRAGMA user_version"), 3);
    EF_CHECK_EQ_INT(sql_int(foreign, "SELECT count(*) FROM sqlite_master"), 2);
    EF_CHECK_EQ_INT(access(nodb, F_OK), -1);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes"), 4);
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
    /* every episode points at the merged task of the same content, in a group of its own
     * task (renumbered to the store's task id), and its BLOBs match */
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM episodes e JOIN tasks t ON t.id = "
                                 "e.task_id WHERE t.idx != (SELECT idx FROM tasks WHERE id = "
                                 "e.group_id)"),
                    0);
    EF_CHECK_EQ_INT(sql_int(out, "SELECT count(*) FROM (SELECT run_id, group_id FROM episodes "
                                 "GROUP BY 1, 2 HAVING count(DISTINCT task_id) = 1 AND "
                                 "count(*) = 2)"),
                    4);
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
    /* the episode's conflict (reported last) names what differs */
    EF_CHECK_CONTAINS(r.last, "differs from the store's episode");
    EF_CHECK_CONTAINS(r.last, "in: reward; kept the store's");
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
    EF_RUN(test_merge_groups_renumbered);
    EF_RUN(test_merge_run_settings);
    EF_RUN(test_merge_failed_replaced);
    EF_RUN(test_merge_not_a_store);
    EF_RUN(test_merge_alloc_failure);
    EF_RUN(test_merge_cli);
    int rc = EF_TEST_END();
    if (rc == 0)
        remove_dir(dir);
    ef_ctx_free(ctx);
    return rc;
}
