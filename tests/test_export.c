/*
 * tests/test_export.c — the exports, stats and report on real store files built by
 * tests/export_fixtures/store_fixture.c: sft rows in OpenAI form, rl rows against the
 * stored token streams, GRPO advantages and pass@k against hand-computed values
 * (groups of 1, all-equal rewards, incomplete groups), filters, order, the CLI
 * (same bytes as the library, usage errors), the HTML report's escaping and
 * self-containment, and allocation failures.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/json.h"
#include "datasets/export.h"
#include "tests/export_fixtures/store_fixture.h"
#include "tests/testlib.h"

static char g_dir[512], g_db[700];
static ef_ctx *g_ctx;

static int run_cmd(const char *cmd, char **out);

/* The export of g_db with o, as parsed lines (cJSON array); NULL on error. */
static cJSON *export_rows(const ef_export_options *o, ef_export_stats *st, char **text)
{
    ef_store_options so = EF_STORE_OPTIONS_INIT;
    so.read_only = 1;
    ef_store *s;
    if (ef_store_open_ext(g_ctx, g_db, &so, &s) < 0)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = ef_export_write(s, o, f, st);
    fclose(f);
    ef_store_close(s);
    if (rc < 0) {
        printf("    export: %s\n", ef_errmsg(g_ctx));
        free(buf);
        return NULL;
    }
    if (text)
        *text = strdup(buf);
    cJSON *rows = cJSON_CreateArray();
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) {
            printf("    unparsable line: %.200s\n", line);
            cJSON_Delete(rows);
            free(buf);
            if (text)
                free(*text);
            return NULL;
        }
        cJSON_AddItemToArray(rows, j);
    }
    free(buf);
    return rows;
}

static const cJSON *get(const cJSON *o, const char *path)
{
    const cJSON *out = NULL;
    ef_json_get(NULL, o, path, &out);
    return out;
}

static double getn(const cJSON *o, const char *path)
{
    const cJSON *j = get(o, path);
    return cJSON_IsNumber(j) ? j->valuedouble : NAN;
}

static const char *gets_(const cJSON *o, const char *path)
{
    const cJSON *j = get(o, path);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* ---- sft --------------------------------------------------------------------------- */

static void test_sft_rows(void)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    ef_export_stats st;
    cJSON *rows = export_rows(&o, &st, NULL);
    EF_CHECK(rows != NULL);
    if (!rows)
        return;
    EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), 25);
    EF_CHECK_EQ_INT(st.n_rows, 25);
    const cJSON *r = cJSON_GetArrayItem(rows, 0);
    EF_CHECK_EQ_STR(gets_(r, "env"), "calc");
    EF_CHECK_EQ_INT(getn(r, "task_id"), 1);
    EF_CHECK_EQ_INT(getn(r, "sample_idx"), 0);
    EF_CHECK_EQ_INT(getn(r, "reward"), 1);
    EF_CHECK(cJSON_IsTrue(get(r, "verified")));
    EF_CHECK_EQ_INT(cJSON_GetArraySize(get(r, "messages")), 6);
    EF_CHECK_EQ_STR(gets_(r, "messages[0].role"), "system");
    EF_CHECK_EQ_STR(gets_(r, "messages[2].role"), "assistant");
    EF_CHECK_CONTAINS(gets_(r, "messages[2].reasoning_content"), "I need pi first");
    EF_CHECK_EQ_STR(gets_(r, "messages[2].tool_calls[0].type"), "function");
    EF_CHECK_EQ_STR(gets_(r, "messages[2].tool_calls[0].function.name"), "calc");
    EF_CHECK_EQ_STR(gets_(r, "messages[2].tool_calls[0].function.arguments"),
                    "{\"expression\":\"6 * 7\"}");
    /* stored as an object: exported as a JSON string */
    EF_CHECK_EQ_STR(gets_(r, "messages[2].tool_calls[1].function.arguments"), "{\"name\":\"pi\"}");
    EF_CHECK_EQ_STR(gets_(r, "messages[3].role"), "tool");
    EF_CHECK_EQ_STR(gets_(r, "messages[3].tool_call_id"), "call_0_0");
    EF_CHECK_EQ_STR(gets_(r, "messages[4].content"), "error: unknown constant 'pi' \x01");
    EF_CHECK(get(r, "messages[3].reasoning_content") == NULL);
    EF_CHECK_EQ_STR(gets_(r, "messages[5].reasoning_content"),
                    "42 + 3.14159 = 45.14159; answer now. caf\xc3\xa9");
    /* tools: the env's (OpenAI form), no submit (run r1 had none) */
    EF_CHECK_EQ_INT(cJSON_GetArraySize(get(r, "tools")), 2);
    EF_CHECK_EQ_STR(gets_(r, "tools[1].function.name"), "lookup");
    EF_CHECK_EQ_STR(gets_(r, "verify_info"),
                    "{\"expected\":\"45.14159\",\"got\":\"45.14159\",\"match\":true}");
    /* order: run, group, sample (inserted 3..0) */
    const cJSON *row;
    double last = -1;
    int i = 0;
    cJSON_ArrayForEach(row, rows)
    {
        double key = getn(row, "group_id") * 100 + getn(row, "sample_idx");
        if (i < 23)
            EF_CHECK(key > last);
        last = key;
        i++;
    }
    /* lookup rows (run r2): bare tools wrapped, the run's built-in python added (its calc
     * is the env's own), then submit */
    r = cJSON_GetArrayItem(rows, 24);
    EF_CHECK_EQ_STR(gets_(r, "env"), "lookup");
    EF_CHECK_EQ_INT(cJSON_GetArraySize(get(r, "tools")), 4);
    EF_CHECK_EQ_STR(gets_(r, "tools[0].type"), "function");
    EF_CHECK_EQ_STR(gets_(r, "tools[0].function.name"), "calc");
    EF_CHECK(get(r, "tools[0].function.description") != NULL); /* the env's, not the run's */
    EF_CHECK_EQ_STR(gets_(r, "tools[2].function.name"), "python");
    EF_CHECK_EQ_STR(gets_(r, "tools[2].function.parameters.required[0]"), "code");
    EF_CHECK_EQ_STR(gets_(r, "tools[3].function.name"), "submit");
    cJSON_Delete(rows);
}

static int count_rows(ef_export_format fmt, double min_reward, int verified, const char *env,
                      int level, const char *run)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = fmt;
    o.min_reward = min_reward;
    o.verified_only = verified;
    o.env = env;
    o.level = level;
    o.run = run;
    cJSON *rows = export_rows(&o, NULL, NULL);
    int n = rows ? cJSON_GetArraySize(rows) : -1;
    cJSON_Delete(rows);
    return n;
}

static void test_sft_filters(void)
{
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, 1.0, 0, NULL, -1, NULL), 16);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, 0.5, 0, NULL, -1, NULL), 17);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, -1, 1, NULL, -1, NULL), 24);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, -1, 0, "lookup", -1, NULL), 2);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, -1, 0, NULL, 2, NULL), 11);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, -1, 0, NULL, -1, "r2"), 2);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, -1, 0, "nope", -1, NULL), 0);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_SFT, 1.0, 1, "calc", 1, "r1"), 8);
}

/* ---- rl ---------------------------------------------------------------------------- */

static const double adv_std_a[4] = {0.499999000002, -1.499997000006, 0.499999000002,
                                    0.499999000002};
static const double adv_std_c[4] = {-1.0246926766015811, 0.14638466808594017, 1.3174620127734615,
                                    -0.4391540042578205};
static const double adv_dr_a[4] = {0.25, -0.75, 0.25, 0.25};
static const double adv_dr_c[4] = {-0.4375, 0.0625, 0.5625, -0.1875};

/* The advantages of task_id's samples: want[sample_idx] for each of the n_seen written
 * (of n in the group). */
static void check_advantages_of(const cJSON *rows, int task_id, const double *want, int n,
                                int n_seen)
{
    const cJSON *r;
    int seen = 0;
    cJSON_ArrayForEach(r, rows)
    {
        if (getn(r, "metadata.task_id") != task_id)
            continue;
        int k = (int)getn(r, "metadata.sample_idx");
        EF_CHECK(k >= 0 && k < n);
        if (k >= 0 && k < n)
            EF_CHECK_NEAR(getn(r, "advantage"), want[k], 1e-12);
        seen++;
    }
    EF_CHECK_EQ_INT(seen, n_seen);
}

static void check_advantages(const cJSON *rows, int task_id, const double *want, int n)
{
    check_advantages_of(rows, task_id, want, n, n);
}

/* Task F: rewards {0, 1, 1, 0}, sample 1 without a token stream: written as samples 0, 2,
 * 3 with rewards {0, 1, 0}: mean 1/3, std_{N-1} sqrt(1/3). */
static const double adv_std_f[4] = {-0.5773492691913577, 0, 1.1546985383827155,
                                    -0.5773492691913577};
static const double adv_dr_f[4] = {-1.0 / 3, 0, 2.0 / 3, -1.0 / 3};

static void test_rl_groups_std(void)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_RL;
    ef_export_stats st;
    cJSON *rows = export_rows(&o, &st, NULL);
    EF_CHECK(rows != NULL);
    if (!rows)
        return;
    /* A, B, C, E (r1, size 4), F (3 of 4: one has no token stream) and G, H (r2, size
     * 1); D incomplete */
    EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), 21);
    EF_CHECK_EQ_INT(st.n_groups, 7);
    EF_CHECK_EQ_INT(st.n_groups_incomplete, 1);
    EF_CHECK_EQ_INT(st.n_groups_no_tokens, 0);
    EF_CHECK_EQ_INT(st.n_groups_filtered, 0);
    EF_CHECK_EQ_INT(st.n_samples_skipped, 3);
    EF_CHECK_EQ_INT(st.n_groups_short, 1);
    EF_CHECK_EQ_INT(st.n_samples_no_tokens, 1);
    EF_CHECK(st.first_no_tokens > 0);
    check_advantages_of(rows, 6, adv_std_f, 4, 3);
    check_advantages(rows, 1, adv_std_a, 4);
    static const double zeros[4] = {0, 0, 0, 0};
    check_advantages(rows, 2, zeros, 4); /* all rewards equal */
    check_advantages(rows, 3, adv_std_c, 4);
    static const double adv_e[4] = {0.499999000002, 0.499999000002, -1.499997000006,
                                    0.499999000002};
    check_advantages(rows, 5, adv_e, 4);
    check_advantages(rows, 7, zeros, 1); /* groups of 1 */
    check_advantages(rows, 8, zeros, 1);
    /* groups contiguous, numbered from 0, group_samples rows each (group_size but for F,
     * whose sample 1 is left out); index counts samples */
    const cJSON *r;
    int i = 0;
    double gi_last = -1, gid_last = -1;
    int in_group = 0;
    cJSON_ArrayForEach(r, rows)
    {
        EF_CHECK_EQ_INT(getn(r, "index"), i);
        double gi = getn(r, "group_index"), gid = getn(r, "metadata.group_id");
        if (gi != gi_last) {
            EF_CHECK_EQ_INT(gi, gi_last + 1);
            if (gi_last >= 0)
                EF_CHECK_EQ_INT(
                    in_group, (int)getn(cJSON_GetArrayItem(rows, i - 1), "metadata.group_samples"));
            in_group = 0;
        } else
            EF_CHECK_EQ_INT(gid, gid_last);
        int size = (int)getn(r, "metadata.group_size");
        EF_CHECK_EQ_INT(getn(r, "metadata.group_samples"), gid == 105 ? size - 1 : size);
        EF_CHECK_EQ_INT(getn(r, "metadata.sample_idx"),
                        gid == 105 && in_group ? in_group + 1 : in_group);
        in_group++;
        gi_last = gi;
        gid_last = gid;
        i++;
    }
    cJSON_Delete(rows);
}

static void test_rl_groups_dr_and_filters(void)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_RL;
    o.grpo = EF_GRPO_DR;
    o.verified_only = 1;
    ef_export_stats st;
    cJSON *rows = export_rows(&o, &st, NULL);
    EF_CHECK(rows != NULL);
    if (!rows)
        return;
    EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), 17); /* E filtered whole */
    EF_CHECK_EQ_INT(st.n_groups_filtered, 1);
    check_advantages(rows, 1, adv_dr_a, 4);
    check_advantages(rows, 3, adv_dr_c, 4);
    check_advantages_of(rows, 6, adv_dr_f, 4, 3);
    cJSON_Delete(rows);
    /* --full-groups: F skipped whole */
    o.full_groups = 1;
    rows = export_rows(&o, &st, NULL);
    EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), 14);
    EF_CHECK_EQ_INT(st.n_groups_no_tokens, 1);
    EF_CHECK_EQ_INT(st.n_groups_short, 0);
    EF_CHECK_EQ_INT(st.n_samples_no_tokens, 0);
    cJSON_Delete(rows);
    /* --min-reward keeps only groups whose every sample passes: B (all 1) and G */
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_RL, 1.0, 0, NULL, -1, NULL), 5);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_RL, -1, 0, "lookup", -1, NULL), 2);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_RL, -1, 0, NULL, 1, "r1"), 12);
}

static int sql_exec(const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(g_db, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* An episode that ended in model_error (or whose verifier failed) carries no verdict on
 * the model: rl skips its whole group, sft skips it, each counted. */
static void test_faulty_episodes(void)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_RL;
    ef_export_stats st;
    memset(&st, 0, sizeof st);
    cJSON *rows = export_rows(&o, &st, NULL);
    EF_CHECK(rows != NULL && cJSON_GetArraySize(rows) > 0);
    if (!rows)
        return;
    int n_before = cJSON_GetArraySize(rows);
    const cJSON *first = cJSON_GetArrayItem(rows, 0);
    int64_t ep = (int64_t)getn(first, "metadata.episode_id");
    int size = (int)getn(first, "metadata.group_size");
    cJSON_Delete(rows);
    char sql[512];
    /* the first written sample's episode; its end reason kept in a side table */
    snprintf(sql, sizeof sql,
             "CREATE TABLE keep AS SELECT id, end_reason FROM episodes WHERE id = %lld; "
             "UPDATE episodes SET end_reason = 'model_error' WHERE id = %lld",
             (long long)ep, (long long)ep);
    EF_CHECK_EQ_INT(sql_exec(sql), SQLITE_OK);
    memset(&st, 0, sizeof st);
    rows = export_rows(&o, &st, NULL);
    EF_CHECK(rows != NULL);
    if (rows)
        EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), n_before - size);
    EF_CHECK_EQ_INT(st.n_groups_faulty, 1);
    cJSON_Delete(rows);
    /* sft: the episode alone goes */
    ef_export_options so = EF_EXPORT_OPTIONS_INIT;
    ef_export_stats sst;
    memset(&sst, 0, sizeof sst);
    rows = export_rows(&so, &sst, NULL);
    EF_CHECK_EQ_INT(sst.n_faulty, 1);
    cJSON_Delete(rows);
    snprintf(sql, sizeof sql,
             "UPDATE episodes SET end_reason = (SELECT end_reason FROM keep) WHERE id = %lld; "
             "DROP TABLE keep",
             (long long)ep);
    EF_CHECK_EQ_INT(sql_exec(sql), SQLITE_OK);
    memset(&sst, 0, sizeof sst);
    rows = export_rows(&so, &sst, NULL);
    EF_CHECK_EQ_INT(sst.n_faulty, 0);
    cJSON_Delete(rows);
}

static int int_array_eq(const cJSON *arr, const int32_t *want, size_t n)
{
    if (cJSON_GetArraySize(arr) != (int)n)
        return 0;
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) if (v->valuedouble != want[i++]) return 0;
    return 1;
}

static void test_rl_consistency(void)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_RL;
    cJSON *rows = export_rows(&o, NULL, NULL);
    EF_CHECK(rows != NULL);
    const cJSON *r;
    int checked = 0;
    cJSON_ArrayForEach(r, rows)
    {
        int64_t task = (int64_t)getn(r, "metadata.task_id");
        int64_t k = (int64_t)getn(r, "metadata.sample_idx");
        int64_t run = (int64_t)getn(r, "metadata.run_id");
        size_t n = run == 1 ? 64 + 16 * (size_t)k : 48;
        ef_fixture_stream t;
        if (ef_fixture_stream_make((uint64_t)(task * 100 + k + run * 10000), 20, n, task == 3, &t) <
            0)
            continue;
        size_t p = 20, resp = n - p;
        EF_CHECK(int_array_eq(get(r, "tokens"), t.ids, n));
        EF_CHECK_EQ_INT(getn(r, "prompt_length"), p);
        EF_CHECK_EQ_INT(getn(r, "response_length"), resp);
        EF_CHECK_EQ_INT(cJSON_GetArraySize(get(r, "tokens")),
                        getn(r, "prompt_length") + getn(r, "response_length"));
        const cJSON *mask = get(r, "loss_mask"), *lp = get(r, "rollout_log_probs");
        const cJSON *offs = get(r, "rollout_top_p_token_offsets");
        const cJSON *ids = get(r, "rollout_top_p_token_ids");
        const cJSON *routes = get(r, "rollout_routed_experts");
        EF_CHECK_EQ_INT(cJSON_GetArraySize(mask), resp);
        EF_CHECK_EQ_INT(cJSON_GetArraySize(lp), resp);
        EF_CHECK_EQ_INT(cJSON_GetArraySize(offs), resp + 1);
        EF_CHECK_EQ_INT(cJSON_GetArraySize(routes), resp);
        int bad = 0;
        for (size_t i = 0; i < resp && !bad; i++) {
            size_t at = p + i;
            bad |= cJSON_GetArrayItem(mask, (int)i)->valueint != t.mask[at];
            bad |= (float)cJSON_GetArrayItem(lp, (int)i)->valuedouble != t.logprobs[at];
            int32_t o0 = (int32_t)cJSON_GetArrayItem(offs, (int)i)->valuedouble;
            int32_t o1 = (int32_t)cJSON_GetArrayItem(offs, (int)i + 1)->valuedouble;
            bad |= o1 - o0 != t.offs[at + 1] - t.offs[at];
            for (int32_t j = o0; j < o1 && !bad; j++)
                bad |= cJSON_GetArrayItem(ids, j)->valuedouble != t.topp[t.offs[at] + j - o0];
            const cJSON *pos = cJSON_GetArrayItem(routes, (int)i);
            bad |= cJSON_GetArraySize(pos) != t.L;
            for (int64_t l = 0; l < t.L && !bad; l++) {
                const cJSON *lay = cJSON_GetArrayItem(pos, (int)l);
                bad |= cJSON_GetArraySize(lay) != t.K;
                for (int64_t kk = 0; kk < t.K && !bad; kk++)
                    bad |= cJSON_GetArrayItem(lay, (int)kk)->valuedouble !=
                           t.routes[(at * (size_t)t.L + (size_t)l) * (size_t)t.K + (size_t)kk];
            }
            if (bad)
                EF_FAULT_("task %lld sample %lld: response position %zu differs", (long long)task,
                          (long long)k, i);
        }
        EF_CHECK_EQ_INT(getn(r, "rollout_top_p_token_offsets[0]"), 0);
        EF_CHECK_EQ_INT(cJSON_GetArraySize(ids), t.offs[n] - t.offs[p]);
        ef_fixture_stream_free(&t);
        checked++;
    }
    EF_CHECK_EQ_INT(checked, 21);
    cJSON_Delete(rows);
}

/* Samples without a token stream on a copy of the store: task A loses samples 1 and 3
 * (2 remain: written, advantages over those), task C samples 0, 1 and 2 (1 remains:
 * skipped), F's sample 1 as in the fixture; --full-groups skips A and F too. The CLI
 * says on stderr how many samples were left out and which episode came first. */
static void test_rl_samples_without_tokens(void)
{
    char path[600], cmd[2400], keep[700];
    snprintf(path, sizeof(path), "%s/no_tokens.db", g_dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", g_db, path);
    EF_CHECK(system(cmd) == 0);
    sqlite3 *db;
    EF_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    EF_CHECK(sqlite3_exec(db,
                          "DELETE FROM token_streams WHERE episode_id IN (SELECT id FROM "
                          "episodes WHERE (task_id = 1 AND sample_idx IN (1, 3)) OR "
                          "(task_id = 3 AND sample_idx < 3))",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *q;
    int64_t first = -1;
    if (sqlite3_prepare_v2(db, "SELECT id FROM episodes WHERE task_id = 1 AND sample_idx = 1", -1,
                           &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        first = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    snprintf(keep, sizeof(keep), "%s", g_db);
    snprintf(g_db, sizeof(g_db), "%s", path);
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_RL;
    ef_export_stats st;
    cJSON *rows = export_rows(&o, &st, NULL);
    EF_CHECK_EQ_INT(rows ? cJSON_GetArraySize(rows) : -1, 15);
    EF_CHECK_EQ_INT(st.n_groups, 6);
    EF_CHECK_EQ_INT(st.n_groups_short, 2);
    EF_CHECK_EQ_INT(st.n_samples_no_tokens, 3);
    EF_CHECK_EQ_INT(st.first_no_tokens, first);
    EF_CHECK_EQ_INT(st.n_groups_no_tokens, 1);
    EF_CHECK_EQ_INT(st.n_samples_skipped, 7); /* D (3) and C (4) */
    static const double zeros[4] = {0, 0, 0, 0};
    check_advantages_of(rows, 1, zeros, 4, 2); /* A: samples 0 and 2, rewards {1, 1} */
    check_advantages_of(rows, 3, zeros, 4, 0);
    check_advantages_of(rows, 6, adv_std_f, 4, 3);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) if (getn(r, "metadata.task_id") == 1)
    {
        EF_CHECK_EQ_INT(getn(r, "metadata.group_samples"), 2);
        EF_CHECK_EQ_INT(getn(r, "metadata.group_size"), 4);
    }
    cJSON_Delete(rows);
    o.full_groups = 1;
    rows = export_rows(&o, &st, NULL);
    EF_CHECK_EQ_INT(rows ? cJSON_GetArraySize(rows) : -1, 10); /* B, E, G, H */
    EF_CHECK_EQ_INT(st.n_groups_no_tokens, 3);
    cJSON_Delete(rows);
    snprintf(g_db, sizeof(g_db), "%s", keep);
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN (the envforge binary) is not built");
    char *out = NULL, want[256];
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format rl 2>&1 >/dev/null", bin, path);
    EF_CHECK_EQ_INT(run_cmd(cmd, &out), 0);
    snprintf(want, sizeof(want),
             "3 samples have no token stream (a context reset, a turn without token "
             "ids, or a model without them such as oracle or replay leaves none; first: "
             "episode %lld): 2 groups written",
             (long long)first);
    EF_CHECK_CONTAINS(out, "15 rows");
    EF_CHECK_CONTAINS(out, want);
    EF_CHECK_CONTAINS(out, "1 short of token streams (7 samples)");
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format rl --full-groups 2>&1 >/dev/null",
             bin, path);
    EF_CHECK_EQ_INT(run_cmd(cmd, &out), 0);
    EF_CHECK_CONTAINS(out, "10 rows");
    EF_CHECK(out && !strstr(out, "have no token stream"));
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format sft --full-groups 2>/dev/null", bin,
             path);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 2);
}

/* ---- tasks ------------------------------------------------------------------------- */

static void test_tasks_rows(void)
{
    ef_export_options o = EF_EXPORT_OPTIONS_INIT;
    o.format = EF_EXPORT_TASKS;
    cJSON *rows = export_rows(&o, NULL, NULL);
    EF_CHECK(rows != NULL);
    if (!rows)
        return;
    EF_CHECK_EQ_INT(cJSON_GetArraySize(rows), 8);
    const cJSON *r = cJSON_GetArrayItem(rows, 0);
    EF_CHECK_EQ_STR(gets_(r, "data_source"), "envforge/calc");
    EF_CHECK_EQ_STR(gets_(r, "prompt[0].role"), "user");
    EF_CHECK_EQ_STR(gets_(r, "prompt[0].content"), "Compute task A: what is 6 * 7 + pi?");
    EF_CHECK_EQ_STR(gets_(r, "ability"), "interpreter");
    EF_CHECK_EQ_STR(gets_(r, "reward_model.style"), "rule");
    EF_CHECK_EQ_STR(gets_(r, "reward_model.ground_truth"), "45.14159");
    EF_CHECK_EQ_STR(gets_(r, "extra_info.seed"), "1000");
    EF_CHECK_EQ_INT(getn(r, "extra_info.index"), 0);
    r = cJSON_GetArrayItem(rows, 2);
    EF_CHECK_EQ_STR(gets_(r, "reward_model.ground_truth"), "{\"value\":45.14159,\"tol\":0.001}");
    r = cJSON_GetArrayItem(rows, 7);
    EF_CHECK_EQ_STR(gets_(r, "data_source"), "envforge/lookup");
    EF_CHECK_EQ_STR(gets_(r, "ability"), "agent");
    EF_CHECK_EQ_INT(getn(r, "extra_info.task_id"), 8);
    cJSON_Delete(rows);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_TASKS, -1, 0, NULL, 2, NULL), 3);
    EF_CHECK_EQ_INT(count_rows(EF_EXPORT_TASKS, -1, 0, NULL, -1, "r2"), 2);
}

/* ---- CLI --------------------------------------------------------------------------- */

/* Runs the command, returns its exit code; stdout into *out (malloc'd). */
static int run_cmd(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_export(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN (the envforge binary) is not built");
    static const char *const fmts[] = {"sft", "rl", "tasks"};
    for (int f = 0; f < 3; f++) {
        ef_export_options o = EF_EXPORT_OPTIONS_INIT;
        o.format = (ef_export_format)f;
        char *lib = NULL;
        cJSON *rows = export_rows(&o, NULL, &lib);
        cJSON_Delete(rows);
        char cmd[4096], *a = NULL, *b = NULL;
        snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format %s 2>/dev/null", bin, g_db,
                 fmts[f]);
        EF_CHECK_EQ_INT(run_cmd(cmd, &a), 0);
        EF_CHECK_EQ_INT(run_cmd(cmd, &b), 0);
        EF_CHECK(a && b && lib && !strcmp(a, b) && !strcmp(a, lib));
        free(a);
        free(b);
        free(lib);
    }
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format xml 2>/dev/null", bin, g_db);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format tasks --min-reward 1 2>/dev/null",
             bin, g_db);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s' --format rl --grpo x 2>/dev/null", bin, g_db);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' export --db '%s/missing.db' --format rl 2>/dev/null", bin,
             g_dir);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 1);
    snprintf(cmd, sizeof(cmd), "'%s' export --help", bin);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 0);
    /* -o FILE and --min-reward through the CLI */
    char *out = NULL;
    snprintf(cmd, sizeof(cmd),
             "'%s' export --db '%s' --format sft --min-reward 1 --env calc -o '%s/x.jsonl' "
             "2>/dev/null && wc -l < '%s/x.jsonl'",
             bin, g_db, g_dir, g_dir);
    EF_CHECK_EQ_INT(run_cmd(cmd, &out), 0);
    EF_CHECK(out && atoi(out) == 15);
    free(out);
    /* -o into a folder that does not exist: one line naming the path, exit 1, for JSONL
     * and Parquet alike (the Parquet helper printed a Python traceback naming its
     * temporary file); nothing is created */
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "'%s' export --db '%s' --format rl -o '%s/no/such/dir/x.%s' %s 2>&1 >/dev/null",
                 bin, g_db, g_dir, i ? "parquet" : "jsonl", i ? "--parquet" : "");
        EF_CHECK_EQ_INT(run_cmd(cmd, &out), 1);
        char want[700];
        snprintf(want, sizeof(want),
                 "envforge export: cannot write %s/no/such/dir/x.%s: No such "
                 "file or directory\n",
                 g_dir, i ? "parquet" : "jsonl");
        EF_CHECK_EQ_STR(out, want);
        free(out);
    }
    snprintf(cmd, sizeof(cmd), "test ! -e '%s/no'", g_dir);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 0);
}

/* ---- stats ------------------------------------------------------------------------- */

static const cJSON *group_of(const cJSON *stats, const char *env, int level)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, get(stats, "groups")) if (!strcmp(gets_(g, "env"), env) &&
                                                    getn(g, "level") == level) return g;
    return NULL;
}

static void test_stats_pass_at_k(void)
{
    ef_store *s;
    EF_CHECK_OK(g_ctx, ef_store_open(g_ctx, g_db, &s));
    ef_stats_options o = EF_STATS_OPTIONS_INIT;
    o.ks[0] = 1, o.ks[1] = 2, o.ks[2] = 4, o.ks[3] = 8;
    o.n_ks = 4;
    o.run = "r1";
    cJSON *st = NULL;
    EF_CHECK_OK(g_ctx, ef_stats_compute(s, &o, &st));
    const cJSON *g = group_of(st, "calc", 1);
    EF_CHECK(g != NULL);
    /* A 3/4, B 4/4, C 1/4 */
    EF_CHECK_EQ_INT(getn(g, "tasks"), 3);
    EF_CHECK_EQ_INT(getn(g, "episodes"), 12);
    EF_CHECK_NEAR(getn(g, "pass_at_k.1"), 2.0 / 3.0, 1e-12);
    EF_CHECK_NEAR(getn(g, "pass_at_k.2"), 2.5 / 3.0, 1e-12);
    EF_CHECK_NEAR(getn(g, "pass_at_k.4"), 1.0, 1e-12);
    EF_CHECK(cJSON_IsNull(get(g, "pass_at_k.8")));
    EF_CHECK_EQ_INT(getn(g, "tasks_at_k.8"), 0);
    EF_CHECK_NEAR(getn(g, "mean_reward"), 8.75 / 12, 1e-12);
    EF_CHECK_NEAR(getn(g, "flakiness.mean"), 0.5, 1e-12);
    EF_CHECK_EQ_INT(getn(g, "flakiness.flaky_tasks"), 2);
    EF_CHECK_EQ_INT(getn(g, "flakiness.tasks[0].task_id"), 1);
    EF_CHECK_EQ_INT(getn(g, "reward_histogram[0]"), 2);
    EF_CHECK_EQ_INT(getn(g, "reward_histogram[2]"), 1);
    EF_CHECK_EQ_INT(getn(g, "reward_histogram[5]"), 1);
    EF_CHECK_EQ_INT(getn(g, "reward_histogram[9]"), 8);
    EF_CHECK_NEAR(getn(g, "tool_error_rate"), 0.5, 1e-12);
    EF_CHECK_EQ_INT(getn(g, "end_reasons.max_turns"), 3);
    EF_CHECK_EQ_INT(getn(g, "end_reasons.answer"), 9);
    EF_CHECK_EQ_INT(getn(g, "tools[0].calls"), 12);
    EF_CHECK_EQ_INT(getn(g, "tools[1].errors"), 12);
    EF_CHECK(group_of(st, "lookup", 1) == NULL); /* no r1 episodes there */
    /* level 2: D 2/3, E 3/4, F 2/4 -> pass@1 = (2/3 + 3/4 + 1/2) / 3 */
    g = group_of(st, "calc", 2);
    EF_CHECK_NEAR(getn(g, "pass_at_k.1"), (2.0 / 3 + 0.75 + 0.5) / 3, 1e-12);
    /* pass@4: only E and F have 4 samples: both 1 */
    EF_CHECK_NEAR(getn(g, "pass_at_k.4"), 1.0, 1e-12);
    EF_CHECK_EQ_INT(getn(g, "tasks_at_k.4"), 2);
    /* pass@2: D 1 - C(1,2)/C(3,2) = 1; E 1; F 1 - C(2,2)/C(4,2) = 5/6 */
    EF_CHECK_NEAR(getn(g, "pass_at_k.2"), (1 + 1 + 5.0 / 6) / 3, 1e-12);
    cJSON_Delete(st);
    /* groups of 1 (run r2): G 1/1, H 0/1 */
    o.run = "r2";
    EF_CHECK_OK(g_ctx, ef_stats_compute(s, &o, &st));
    g = group_of(st, "lookup", 1);
    EF_CHECK_NEAR(getn(g, "pass_at_k.1"), 0.5, 1e-12);
    EF_CHECK(cJSON_IsNull(get(g, "pass_at_k.2")));
    EF_CHECK_NEAR(getn(g, "flakiness.mean"), 0.0, 1e-12);
    EF_CHECK_EQ_INT(getn(st, "total.episodes"), 2);
    EF_CHECK_EQ_INT(cJSON_GetArraySize(get(st, "runs")), 1); /* one run: no pooling */
    cJSON_Delete(st);
    /* all runs: task G/H and the rest together; total pass@1 over 8 tasks */
    o.run = NULL;
    EF_CHECK_OK(g_ctx, ef_stats_compute(s, &o, &st));
    EF_CHECK_NEAR(getn(st, "total.pass_at_k.1"),
                  (0.75 + 1 + 0.25 + 2.0 / 3 + 0.75 + 0.5 + 1 + 0) / 8, 1e-12);
    EF_CHECK_EQ_INT(getn(st, "total.tasks"), 8);
    EF_CHECK_EQ_INT(getn(st, "total.episodes"), 25);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    EF_CHECK_OK(g_ctx, ef_stats_print_table(st, f));
    fclose(f);
    EF_CHECK_CONTAINS(buf, "calc/1");
    EF_CHECK_CONTAINS(buf, "pass@8");
    EF_CHECK_CONTAINS(buf, "lookup/1");
    /* the runs it pools, each with its episodes and pass rate */
    EF_CHECK_EQ_INT(cJSON_GetArraySize(get(st, "runs")), 2);
    EF_CHECK_EQ_INT(getn(st, "runs[0].episodes") + getn(st, "runs[1].episodes"), 25);
    EF_CHECK_CONTAINS(buf, "pooled over 2 runs");
    EF_CHECK_CONTAINS(buf, "r2: 2 episodes, passed 50.0%");
    free(buf);
    cJSON_Delete(st);
    o.ks[0] = 0;
    EF_CHECK(ef_stats_compute(s, &o, &st) == EF_EINVAL);
    ef_store_close(s);
}

static void test_cli_stats_json(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN (the envforge binary) is not built");
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof(cmd), "'%s' stats --db '%s' --json --k 1,2 --run r1", bin, g_db);
    EF_CHECK_EQ_INT(run_cmd(cmd, &out), 0);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    EF_CHECK(j != NULL);
    EF_CHECK_NEAR(getn(group_of(j, "calc", 1), "pass_at_k.2"), 2.5 / 3.0, 1e-12);
    cJSON_Delete(j);
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' stats --db '%s' --k 4,1 2>/dev/null", bin, g_db);
    EF_CHECK_EQ_INT(run_cmd(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' stats --db '%s'", bin, g_db);
    EF_CHECK_EQ_INT(run_cmd(cmd, &out), 0);
    EF_CHECK_CONTAINS(out, "env/level");
    free(out);
}

/* ---- report ------------------------------------------------------------------------ */

/* The report's embedded episodes (cJSON array; NULL when absent). */
static cJSON *embedded_episodes(const char *html)
{
    const char *d = html ? strstr(html, "id=\"episodes-data\">") : NULL;
    const char *e = d ? strstr(d, "</script>") : NULL;
    if (!d || !e)
        return NULL;
    d += strlen("id=\"episodes-data\">");
    return cJSON_ParseWithLength(d, (size_t)(e - d));
}

static void test_report_html(void)
{
    ef_store *s;
    EF_CHECK_OK(g_ctx, ef_store_open(g_ctx, g_db, &s));
    ef_report_options o = EF_REPORT_OPTIONS_INIT;
    o.max_episodes = 10;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    EF_CHECK_OK(g_ctx, ef_report_write(s, &o, f));
    fclose(f);
    ef_store_close(s);
    static const char *const want[] = {
        "<!DOCTYPE html>",    "id=\"chart-pass\"",    "id=\"chart-rewards\"", "id=\"chart-end\"",
        "id=\"chart-tools\"", "id=\"episodes-data\"", "<td>66.7%</td>"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        EF_CHECK_MSG(buf && strstr(buf, want[i]), "report lacks %s", want[i]);
    /* stored text never closes the script: "</script>" in reasoning is escaped */
    EF_CHECK(buf && !strstr(buf, "</script> <b>"));
    EF_CHECK(buf && strstr(buf, "\\u003c\\/script> \\u003cb>not markup"));
    /* self-contained: nothing is fetched */
    EF_CHECK(buf && !strstr(buf, " src=") && !strstr(buf, " href=") && !strstr(buf, "@import") &&
             !strstr(buf, "url("));
    /* 10 of the 25 episodes embedded */
    cJSON *eps = embedded_episodes(buf);
    EF_CHECK_EQ_INT(cJSON_GetArraySize(eps), 10);
    EF_CHECK_EQ_STR(gets_(cJSON_GetArrayItem(eps, 0), "messages[2].role"), "assistant");
    EF_CHECK(cJSON_IsTrue(get(cJSON_GetArrayItem(eps, 0), "calls[1].is_error")));
    cJSON_Delete(eps);
    EF_CHECK_CONTAINS(buf, "{\"shown\":10,\"total\":25,");
    free(buf);
}

/* The ids of the episodes a report with --max-episodes max embeds, in its order. */
static int report_ids(ef_store *s, int max, int64_t *ids, int cap)
{
    ef_report_options o = EF_REPORT_OPTIONS_INIT;
    o.max_episodes = max;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = ef_report_write(s, &o, f);
    fclose(f);
    cJSON *eps = rc == 0 ? embedded_episodes(buf) : NULL;
    int n = 0;
    const cJSON *ep;
    cJSON_ArrayForEach(ep, eps) if (n < cap) ids[n++] = (int64_t)getn(ep, "id");
    cJSON_Delete(eps);
    free(buf);
    return rc == 0 ? n : -1;
}

/* --max-episodes N embeds min(N, episodes), distinct, in export order, spread over the
 * store: the first episode, and one from its last N-th part. A stride of ceil(25 / N)
 * embedded 9 of 10, 13 of 24, 7 of 13. */
static void test_report_max_episodes(void)
{
    static const int maxes[] = {1, 2, 7, 10, 13, 24, 25, 26};
    ef_store *s;
    EF_CHECK_OK(g_ctx, ef_store_open(g_ctx, g_db, &s));
    int64_t all[64], ids[64];
    int n_all = report_ids(s, 300, all, 64);
    EF_CHECK_EQ_INT(n_all, 25);
    for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]) && n_all == 25; m++) {
        int n = report_ids(s, maxes[m], ids, 64), want = maxes[m] < 25 ? maxes[m] : 25;
        EF_CHECK_MSG(n == want, "--max-episodes %d: %d embedded, want %d", maxes[m], n, want);
        int last = -1;
        for (int i = 0; i < n; i++) {
            int pos = 0;
            while (pos < n_all && all[pos] != ids[i])
                pos++;
            EF_CHECK_MSG(pos > last && pos < n_all, "--max-episodes %d: episode %lld out of order",
                         maxes[m], (long long)ids[i]);
            if (i == 0)
                EF_CHECK_EQ_INT(pos, 0);
            last = pos;
        }
        EF_CHECK_MSG(last >= n_all - (n_all + want - 1) / want,
                     "--max-episodes %d: the last embedded is episode %d of %d", maxes[m], last + 1,
                     n_all);
    }
    ef_store_close(s);
}

/* ---- damaged stores ---------------------------------------------------------------- */

/* BLOBs the schema does not check (log-probs, top-p, routes) with the wrong length: the
 * rl export stops with EF_ESTORE naming the episode, it never reads past a BLOB. */
static void test_rl_damaged_blobs(void)
{
    static const char *const damage[] = {
        "UPDATE token_streams SET logprobs = zeroblob(3) WHERE episode_id = 2",
        "UPDATE token_streams SET topp_offsets = zeroblob(8) WHERE episode_id = 2",
        "UPDATE token_streams SET topp_ids = zeroblob(4) WHERE episode_id = 2",
        "UPDATE token_streams SET routes = zeroblob(10) WHERE episode_id = 2",
        "UPDATE token_streams SET route_topk = 3 WHERE episode_id = 2",
    };
    int n_checked = 0;
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        char path[700], cmd[2000];
        snprintf(path, sizeof(path), "%s/damaged%zu.db", g_dir, i);
        snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", g_db, path);
        EF_CHECK(system(cmd) == 0);
        sqlite3 *db;
        EF_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        int rc = sqlite3_exec(db, damage[i], NULL, NULL, NULL);
        sqlite3_close(db);
        if (rc != SQLITE_OK) /* a schema CHECK refused it: nothing to read */
            continue;
        ef_store *s;
        EF_CHECK_OK(g_ctx, ef_store_open(g_ctx, path, &s));
        ef_export_options o = EF_EXPORT_OPTIONS_INIT;
        o.format = EF_EXPORT_RL;
        FILE *devnull = fopen("/dev/null", "w");
        rc = ef_export_write(s, &o, devnull, NULL);
        fclose(devnull);
        EF_CHECK_MSG(rc == EF_ESTORE, "%s -> %d", damage[i], rc);
        EF_CHECK_CONTAINS(ef_errmsg(g_ctx), "episode 2");
        ef_store_close(s);
        n_checked++;
    }
    EF_CHECK_EQ_INT(n_checked, 5);
}

/* ---- allocation failures ----------------------------------------------------------- */

static void test_alloc_failures(void)
{
    ef_store_options so = EF_STORE_OPTIONS_INIT;
    so.read_only = 1;
    ef_store *s;
    EF_CHECK_OK(g_ctx, ef_store_open_ext(g_ctx, g_db, &so, &s));
    FILE *devnull = fopen("/dev/null", "w");
    int n_runs = 0;
    for (int f = 0; f < 3; f++) {
        ef_export_options o = EF_EXPORT_OPTIONS_INIT;
        o.format = (ef_export_format)f;
        EF_ALLOC_LOOP(n, 100000)
        {
            int rc = ef_export_write(s, &o, devnull, NULL);
            EF_CHECK(rc == 0 || rc == EF_ENOMEM);
            n_runs++;
        }
    }
    ef_stats_options so2 = EF_STATS_OPTIONS_INIT;
    EF_ALLOC_LOOP(n, 100000)
    {
        cJSON *st = NULL;
        int rc = ef_stats_compute(s, &so2, &st);
        EF_CHECK(rc == 0 || rc == EF_ENOMEM);
        cJSON_Delete(st);
        n_runs++;
    }
    ef_alloc_fail_after(0);
    EF_CHECK(n_runs > 10);
    fclose(devnull);
    ef_store_close(s);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    g_ctx = ef_ctx_new();
    snprintf(g_dir, sizeof(g_dir), "%s", ef_test_tmpdir("export"));
    snprintf(g_db, sizeof(g_db), "%s/fixture.db", g_dir);
    if (ef_fixture_small(g_ctx, g_db) < 0) {
        printf("fixture: %s\n", ef_errmsg(g_ctx));
        return 1;
    }
    EF_RUN(test_sft_rows);
    EF_RUN(test_sft_filters);
    EF_RUN(test_rl_groups_std);
    EF_RUN(test_rl_groups_dr_and_filters);
    EF_RUN(test_rl_consistency);
    EF_RUN(test_faulty_episodes);
    EF_RUN(test_rl_samples_without_tokens);
    EF_RUN(test_tasks_rows);
    EF_RUN(test_cli_export);
    EF_RUN(test_stats_pass_at_k);
    EF_RUN(test_cli_stats_json);
    EF_RUN(test_report_html);
    EF_RUN(test_report_max_episodes);
    EF_RUN(test_rl_damaged_blobs);
    EF_RUN(test_alloc_failures);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        printf("could not remove %s\n", g_dir);
    ef_ctx_free(g_ctx);
    return EF_TEST_END();
}
