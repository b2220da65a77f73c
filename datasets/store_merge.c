/*
 * datasets/store_merge.c — joining one store into another (shards of a run, or stores
 * made on several machines). The input is checked by opening it read-only, then
 * ATTACHed as `src`, and everything happens in one transaction, in order: envs (by
 * content hash), tasks (by env and content hash), runs (by name, model and shard),
 * episodes (by run, task and sample) with their messages, tool calls, token streams and
 * episode events, then run-level events. Temporary tables map the input's ids to the
 * store's. Rows with the same key but different content are conflicts: reported,
 * counted, and skipped — the store's rows are never overwritten.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "datasets/datasets_int.h"

typedef struct {
    ef_store *s;
    const char *in_path;
    ef_store_merge_report_fn report;
    void *ud;
    ef_store_merge_stats st;
} merge;

static void say(merge *m, int conflict, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(merge *m, int conflict, const char *fmt, ...)
{
    if (conflict)
        m->st.n_conflicts++;
    if (!m->report)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    m->report(m->ud, conflict, msg);
}

/* Runs one statement; *changes gets the rows it changed (may be NULL). */
static int run(merge *m, const char *sql, uint64_t *changes)
{
    int rc = ef_datasets__exec(m->s, sql);
    if (rc == 0 && changes)
        *changes += (uint64_t)sqlite3_changes(m->s->db);
    return rc;
}

static int count(merge *m, const char *sql, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(m->s->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out += (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(m->s, src, "merging %s", m->in_path);
    return 0;
}

/* Steps a query whose rows each describe one conflict; fmt_row formats a row. */
static int each_row(merge *m, const char *sql, void (*fn)(merge *m, sqlite3_stmt *st))
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(m->s->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            fn(m, st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(m->s, src, "merging %s", m->in_path);
    return 0;
}

static const char *txt(sqlite3_stmt *st, int col)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    return t ? t : "(null)";
}

static long long num(sqlite3_stmt *st, int col)
{
    return (long long)sqlite3_column_int64(st, col);
}

/* ---- envs -------------------------------------------------------------------------------- */

static void env_conflict(merge *m, sqlite3_stmt *st)
{
    say(m, 1,
        "env %lld '%s' v%lld of %s has the content_hash %.16s... of the store's env %lld "
        "'%s' v%lld but differs (name, version or source); kept the store's",
        num(st, 0), txt(st, 1), num(st, 2), m->in_path, txt(st, 3), num(st, 4), txt(st, 5),
        num(st, 6));
}

static int merge_envs(merge *m)
{
    int rc;
    if ((rc = each_row(m,
                       "SELECT s.id, s.name, s.version, s.content_hash, d.id, d.name, d.version "
                       "FROM src.envs s JOIN main.envs d ON d.content_hash = s.content_hash "
                       "WHERE s.name IS NOT d.name OR s.version IS NOT d.version OR "
                       "s.source IS NOT d.source ORDER BY s.id",
                       env_conflict)) < 0)
        return rc;
    if ((rc = count(m,
                    "SELECT count(*) FROM src.envs s JOIN main.envs d "
                    "ON d.content_hash = s.content_hash",
                    &m->st.n_same_envs)) < 0)
        return rc;
    if ((rc = run(m,
                  "INSERT INTO main.envs(name, version, category, description, content_hash, "
                  "source_path, source, tools_json, created_at) SELECT name, version, category, "
                  "description, content_hash, source_path, source, tools_json, created_at "
                  "FROM src.envs s WHERE NOT EXISTS (SELECT 1 FROM main.envs d "
                  "WHERE d.content_hash = s.content_hash) ORDER BY s.id",
                  &m->st.n_envs)) < 0)
        return rc;
    return run(m,
               "INSERT INTO temp.ef_map_env(src, dst) SELECT s.id, d.id FROM src.envs s "
               "JOIN main.envs d ON d.content_hash = s.content_hash",
               NULL);
}

/* ---- tasks ------------------------------------------------------------------------------- */

static void task_conflict(merge *m, sqlite3_stmt *st)
{
    say(m, 1,
        "task %lld (env '%s', idx %lld) of %s has the content_hash of the store's task %lld "
        "but a different prompt or task_json; kept the store's and skipped its %lld "
        "episodes",
        num(st, 0), txt(st, 1), num(st, 2), m->in_path, num(st, 3), num(st, 4));
}

static int merge_tasks(merge *m)
{
    int rc;
    static const char same_key[] =
        "FROM src.tasks s JOIN temp.ef_map_env me ON me.src = s.env_id "
        "JOIN main.tasks d ON d.env_id = me.dst AND d.content_hash = s.content_hash ";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT s.id, (SELECT name FROM main.envs WHERE id = me.dst), s.idx, d.id, "
             "(SELECT count(*) FROM src.episodes WHERE task_id = s.id) %s"
             "WHERE s.prompt IS NOT d.prompt OR s.task_json IS NOT d.task_json ORDER BY s.id",
             same_key);
    if ((rc = each_row(m, sql, task_conflict)) < 0)
        return rc;
    snprintf(sql, sizeof sql,
             "SELECT count(*) %s WHERE s.prompt IS d.prompt AND s.task_json IS d.task_json",
             same_key);
    if ((rc = count(m, sql, &m->st.n_same_tasks)) < 0)
        return rc;
    if ((rc = run(m,
                  "INSERT INTO main.tasks(env_id, idx, seed, level, content_hash, prompt, "
                  "task_json, created_at) SELECT me.dst, s.idx, s.seed, s.level, "
                  "s.content_hash, s.prompt, s.task_json, s.created_at FROM src.tasks s "
                  "JOIN temp.ef_map_env me ON me.src = s.env_id WHERE NOT EXISTS (SELECT 1 "
                  "FROM main.tasks d WHERE d.env_id = me.dst AND "
                  "d.content_hash = s.content_hash) ORDER BY s.id",
                  &m->st.n_tasks)) < 0)
        return rc;
    snprintf(sql, sizeof sql,
             "INSERT INTO temp.ef_map_task(src, dst) SELECT s.id, d.id %s"
             "WHERE s.prompt IS d.prompt AND s.task_json IS d.task_json",
             same_key);
    return run(m, sql, NULL);
}

/* ---- runs -------------------------------------------------------------------------------- */

/* Looks up name in the store: 0 free, 1 the same run (model and shard match), 2 taken. */
static int run_slot(merge *m, const char *name, sqlite3_stmt *src_row, int64_t *dst_id, int *state)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(m->s->db,
                                 "SELECT id, model IS ?2 AND shard_index IS ?3 AND "
                                 "shard_count IS ?4 FROM main.runs WHERE name = ?1",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_value(st, 2, sqlite3_column_value(src_row, 2));
        sqlite3_bind_value(st, 3, sqlite3_column_value(src_row, 6));
        sqlite3_bind_value(st, 4, sqlite3_column_value(src_row, 7));
        src = sqlite3_step(st);
    }
    if (src == SQLITE_ROW) {
        *dst_id = sqlite3_column_int64(st, 0);
        *state = sqlite3_column_int(st, 1) ? 1 : 2;
    } else if (src == SQLITE_DONE) {
        *state = 0;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return ef_datasets__sqlerr(m->s, src, "merging runs of %s", m->in_path);
    return 0;
}

static int run_copy(merge *m, const char *name, int64_t src_id, int64_t *dst_id)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(m->s->db,
                                 "INSERT INTO main.runs(name, model, config_json, seed, "
                                 "group_size, shard_index, shard_count, status, host, "
                                 "started_at, finished_at) SELECT ?1, model, config_json, seed, "
                                 "group_size, shard_index, shard_count, status, host, "
                                 "started_at, finished_at FROM src.runs WHERE id = ?2",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, src_id);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(m->s, src, "copying run %lld of %s", (long long)src_id,
                                   m->in_path);
    *dst_id = sqlite3_last_insert_rowid(m->s->db);
    m->st.n_runs++;
    return 0;
}

static int map_run(merge *m, int64_t src_id, int64_t dst_id)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(m->s->db, "INSERT INTO temp.ef_map_run(src, dst) VALUES (?1, ?2)",
                                 -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, src_id);
        sqlite3_bind_int64(st, 2, dst_id);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(m->s, src, "mapping run %lld of %s", (long long)src_id,
                                   m->in_path);
    return 0;
}

static int merge_one_run(merge *m, sqlite3_stmt *row)
{
    int64_t src_id = sqlite3_column_int64(row, 0), dst_id = 0;
    const char *name = txt(row, 1);
    char cand[600];
    int rc = 0, state = 2;
    for (int k = 0; k < 1000 && state == 2; k++) {
        if (k == 0)
            snprintf(cand, sizeof cand, "%s", name);
        else if (k == 1)
            snprintf(cand, sizeof cand, "%s/shard-%lld-of-%lld", name, num(row, 6), num(row, 7));
        else
            snprintf(cand, sizeof cand, "%s/%d", name, k);
        if ((rc = run_slot(m, cand, row, &dst_id, &state)) < 0)
            return rc;
    }
    if (state == 2)
        return ef_errorf(m->s->ctx, EF_ECONFLICT, "%s: no free name for run '%s' of %s", m->s->path,
                         name, m->in_path);
    if (state == 0) {
        if ((rc = run_copy(m, cand, src_id, &dst_id)) < 0)
            return rc;
        if (strcmp(cand, name) != 0)
            say(m, 0,
                "run '%s' of %s (model %s, shard %lld of %lld) stored as '%s': the name is "
                "taken by a different run",
                name, m->in_path, txt(row, 2), num(row, 6), num(row, 7), cand);
    } else {
        m->st.n_same_runs++;
    }
    return map_run(m, src_id, dst_id);
}

static int merge_runs(merge *m)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    int src = sqlite3_prepare_v2(m->s->db,
                                 "SELECT id, name, model, config_json, seed, group_size, "
                                 "shard_index, shard_count FROM src.runs ORDER BY id",
                                 -1, &st, NULL);
    if (src == SQLITE_OK)
        while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW)
            rc = merge_one_run(m, st);
    sqlite3_finalize(st);
    if (rc == 0 && src != SQLITE_DONE)
        rc = ef_datasets__sqlerr(m->s, src, "reading the runs of %s", m->in_path);
    return rc;
}

/* ---- episodes and what hangs off them ------------------------------------------------------ */

static void episode_conflict(merge *m, sqlite3_stmt *st)
{
    say(m, 1,
        "episode %lld of %s (run '%s', task %lld, sample %lld: %s/%s reward %g) differs from "
        "the store's episode %lld (%s/%s reward %g); kept the store's",
        num(st, 0), m->in_path, txt(st, 1), num(st, 2), num(st, 3), txt(st, 4), txt(st, 5),
        sqlite3_column_double(st, 6), num(st, 7), txt(st, 8), txt(st, 9),
        sqlite3_column_double(st, 10));
}

static int merge_episodes(merge *m)
{
    int rc;
    static const char *const steps[] = {
        "INSERT INTO temp.ef_plan(src, run_id, task_id, sample_idx, existing) "
        "SELECT s.id, mr.dst, mt.dst, s.sample_idx, d.id FROM src.episodes s "
        "JOIN temp.ef_map_run mr ON mr.src = s.run_id "
        "JOIN temp.ef_map_task mt ON mt.src = s.task_id "
        "LEFT JOIN main.episodes d ON d.run_id = mr.dst AND d.task_id = mt.dst AND "
        "d.sample_idx = s.sample_idx ORDER BY s.id",
    };
    if ((rc = run(m, steps[0], NULL)) < 0)
        return rc;
    static const char differs[] =
        "(s.status IS NOT d.status OR s.end_reason IS NOT d.end_reason OR "
        "s.reward IS NOT d.reward OR s.verified IS NOT d.verified OR s.answer IS NOT d.answer OR "
        "s.n_completion_tokens IS NOT d.n_completion_tokens OR s.group_id IS NOT d.group_id)";
    char sql[1400];
    snprintf(sql, sizeof sql,
             "SELECT s.id, (SELECT name FROM main.runs WHERE id = p.run_id), p.task_id, "
             "p.sample_idx, s.status, s.end_reason, s.reward, d.id, d.status, d.end_reason, "
             "d.reward FROM temp.ef_plan p JOIN src.episodes s ON s.id = p.src "
             "JOIN main.episodes d ON d.id = p.existing WHERE %s ORDER BY s.id",
             differs);
    if ((rc = each_row(m, sql, episode_conflict)) < 0)
        return rc;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM temp.ef_plan p JOIN src.episodes s ON s.id = p.src "
             "JOIN main.episodes d ON d.id = p.existing WHERE NOT %s",
             differs);
    if ((rc = count(m, sql, &m->st.n_same_episodes)) < 0)
        return rc;
    static const char *const copy[] = {
        "INSERT INTO main.episodes(run_id, task_id, group_id, sample_idx, model, status, "
        "end_reason, reward, verified, answer, verify_info, error, n_turns, n_tool_calls, "
        "n_tool_errors, n_parse_errors, n_context_resets, n_prompt_tokens, "
        "n_completion_tokens, wall_ms, model_ms, tool_ms, verify_ms, started_at, created_at) "
        "SELECT p.run_id, p.task_id, s.group_id, s.sample_idx, s.model, s.status, "
        "s.end_reason, s.reward, s.verified, s.answer, s.verify_info, s.error, s.n_turns, "
        "s.n_tool_calls, s.n_tool_errors, s.n_parse_errors, s.n_context_resets, "
        "s.n_prompt_tokens, s.n_completion_tokens, s.wall_ms, s.model_ms, s.tool_ms, "
        "s.verify_ms, s.started_at, s.created_at FROM temp.ef_plan p "
        "JOIN src.episodes s ON s.id = p.src WHERE p.existing IS NULL ORDER BY s.id",
        "INSERT INTO temp.ef_map_episode(src, dst) SELECT p.src, d.id FROM temp.ef_plan p "
        "JOIN main.episodes d ON d.run_id = p.run_id AND d.task_id = p.task_id AND "
        "d.sample_idx = p.sample_idx WHERE p.existing IS NULL",
        "INSERT INTO main.messages(episode_id, idx, role, content, reasoning_content, "
        "tool_calls, tool_call_id, name) SELECT me.dst, s.idx, s.role, s.content, "
        "s.reasoning_content, s.tool_calls, s.tool_call_id, s.name FROM src.messages s "
        "JOIN temp.ef_map_episode me ON me.src = s.episode_id ORDER BY me.dst, s.idx",
        "INSERT INTO main.tool_calls(episode_id, message_idx, call_id, tool, arguments, "
        "result, is_error, wall_ms) SELECT me.dst, s.message_idx, s.call_id, s.tool, "
        "s.arguments, s.result, s.is_error, s.wall_ms FROM src.tool_calls s "
        "JOIN temp.ef_map_episode me ON me.src = s.episode_id ORDER BY s.id",
        "INSERT INTO main.token_streams(episode_id, n_tokens, n_model_tokens, token_ids, "
        "loss_mask, logprobs, topp_offsets, topp_ids, route_layers, route_topk, route_bytes, "
        "routes) SELECT me.dst, s.n_tokens, s.n_model_tokens, s.token_ids, s.loss_mask, "
        "s.logprobs, s.topp_offsets, s.topp_ids, s.route_layers, s.route_topk, "
        "s.route_bytes, s.routes FROM src.token_streams s "
        "JOIN temp.ef_map_episode me ON me.src = s.episode_id",
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(copy); i++)
        if ((rc = run(m, copy[i], i == 0 ? &m->st.n_episodes : NULL)) < 0)
            return rc;
    return 0;
}

static int merge_events(merge *m)
{
    int rc = run(m,
                 "INSERT INTO main.events(run_id, episode_id, kind, payload, time) "
                 "SELECT mr.dst, me.dst, s.kind, s.payload, s.time FROM src.events s "
                 "JOIN temp.ef_map_episode me ON me.src = s.episode_id "
                 "LEFT JOIN temp.ef_map_run mr ON mr.src = s.run_id ORDER BY s.id",
                 &m->st.n_events);
    if (rc < 0)
        return rc;
    /* run-level events, once each (merging the same input twice adds nothing) */
    return run(m,
               "INSERT INTO main.events(run_id, episode_id, kind, payload, time) "
               "SELECT mr.dst, NULL, s.kind, s.payload, s.time FROM src.events s "
               "LEFT JOIN temp.ef_map_run mr ON mr.src = s.run_id WHERE s.episode_id IS NULL "
               "AND NOT EXISTS (SELECT 1 FROM main.events d WHERE d.episode_id IS NULL AND "
               "d.run_id IS mr.dst AND d.kind = s.kind AND d.payload = s.payload AND "
               "d.time = s.time) ORDER BY s.id",
               &m->st.n_events);
}

/* ---- the steps in order ---------------------------------------------------------------------- */

static const char temp_tables[] =
    "DROP TABLE IF EXISTS temp.ef_map_env; DROP TABLE IF EXISTS temp.ef_map_task;"
    "DROP TABLE IF EXISTS temp.ef_map_run; DROP TABLE IF EXISTS temp.ef_plan;"
    "DROP TABLE IF EXISTS temp.ef_map_episode;"
    "CREATE TEMP TABLE ef_map_env(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
    "CREATE TEMP TABLE ef_map_task(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
    "CREATE TEMP TABLE ef_map_run(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
    "CREATE TEMP TABLE ef_plan(src INTEGER PRIMARY KEY, run_id INTEGER, task_id INTEGER,"
    "  sample_idx INTEGER, existing INTEGER);"
    "CREATE TEMP TABLE ef_map_episode(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);";

static const char drop_temp[] =
    "DROP TABLE IF EXISTS temp.ef_map_env; DROP TABLE IF EXISTS temp.ef_map_task;"
    "DROP TABLE IF EXISTS temp.ef_map_run; DROP TABLE IF EXISTS temp.ef_plan;"
    "DROP TABLE IF EXISTS temp.ef_map_episode;";

static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (!realpath(a, ra) || !realpath(b, rb))
        return 0;
    return strcmp(ra, rb) == 0;
}

static int attach(ef_store *s, const char *in_path)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "ATTACH DATABASE ?1 AS src", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(st, 1, in_path, -1, SQLITE_STATIC);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "attaching %s", in_path);
    return 0;
}

int ef_store_merge(ef_store *s, const char *in_path, ef_store_merge_report_fn report, void *ud,
                   ef_store_merge_stats *stats)
{
    int rc;
    if (!in_path || !*in_path)
        return ef_errorf(s->ctx, EF_EINVAL, "merge: the input path is required");
    if (s->tx_depth > 0)
        return ef_errorf(s->ctx, EF_EINVAL, "merge: %s is inside a transaction; merge outside",
                         s->path);
    if (s->read_only)
        return ef_errorf(s->ctx, EF_EINVAL, "merge: %s is open read-only", s->path);
    if (same_file(s->path, in_path))
        return ef_errorf(s->ctx, EF_EINVAL, "merge: %s is the store itself", in_path);
    /* the input must be a store this build reads (same checks as any open) */
    ef_store *in = NULL;
    ef_store_options ro = EF_STORE_OPTIONS_INIT;
    ro.read_only = 1;
    if ((rc = ef_store_open_ext(s->ctx, in_path, &ro, &in)) < 0)
        return ef_error_wrap(s->ctx, rc, "merge: input %s", in_path);
    ef_store_close(in);
    if ((rc = attach(s, in_path)) < 0)
        return rc;
    merge m = {s, in_path, report, ud, {0}};
    rc = ef_datasets__exec(s, temp_tables);
    if (rc == 0 && (rc = ef_datasets__tx_begin(s)) == 0) {
        if ((rc = merge_envs(&m)) == 0 && (rc = merge_tasks(&m)) == 0 &&
            (rc = merge_runs(&m)) == 0 && (rc = merge_episodes(&m)) == 0)
            rc = merge_events(&m);
        rc = ef_datasets__tx_end(s, rc);
    }
    sqlite3_exec(s->db, drop_temp, NULL, NULL, NULL);
    sqlite3_exec(s->db, "DETACH DATABASE src", NULL, NULL, NULL);
    if (rc < 0)
        return rc;
    if (stats)
        *stats = m.st;
    return 0;
}
