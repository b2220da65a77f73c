/*
 * datasets/store_merge.c — joining one store into another (shards of a run, or stores
 * made on several machines). The input is checked first (a file, a SQLite database, a
 * store whose schema this build reads: "PATH: not an envforge store (why)" otherwise),
 * then ATTACHed as `src`, and everything happens in one transaction, in order: envs (by
 * content hash), tasks (by env and content hash), runs (by name, model and shard; the
 * same run with other settings is a conflict and stays out), episodes (by run, task and
 * sample) in GRPO groups mapped whole to the store's, with their messages, tool calls,
 * token streams and episode events, then run-level events. Temporary tables map the
 * input's ids to the store's. Rows with the same key but different content are
 * conflicts: reported, counted, and skipped — the store's rows are never overwritten,
 * except a failed episode (model_error, verifier error), which the input's good one
 * for the same key replaces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* How a name is held in the store, for an input run. */
enum { SLOT_FREE, SLOT_SAME, SLOT_TAKEN, SLOT_OTHER_SETTINGS };

/* The settings of input run ?1 that differ from those of the store's run ?2, one row
 * each (order, field, input value, store value): the seed and group_size columns and
 * each key of config_json (compared as JSON values: key order does not matter, a
 * missing key counts as null, 1 and 1.0 are equal; a config_json that is not an object
 * is compared whole). */
static const char settings_diff_sql[] =
    "WITH r AS (SELECT s.seed AS s_seed, d.seed AS d_seed, s.group_size AS s_gs, "
    " d.group_size AS d_gs, s.config_json AS sc, d.config_json AS dc, "
    " coalesce(json_type(s.config_json) = 'object' AND json_type(d.config_json) = 'object', 0)"
    " AS objs FROM src.runs s, main.runs d WHERE s.id = ?1 AND d.id = ?2),"
    /* each side's keys, with the value as JSON text (containers are JSON text already) */
    " a AS (SELECT j.id, j.key, j.type, j.value, CASE j.type WHEN 'text' THEN "
    " json_quote(j.value) WHEN 'null' THEN 'null' WHEN 'true' THEN 'true' WHEN 'false' THEN "
    " 'false' ELSE CAST(j.value AS TEXT) END AS v FROM r, json_each(r.sc) j WHERE r.objs),"
    " b AS (SELECT j.id, j.key, j.type, j.value, CASE j.type WHEN 'text' THEN "
    " json_quote(j.value) WHEN 'null' THEN 'null' WHEN 'true' THEN 'true' WHEN 'false' THEN "
    " 'false' ELSE CAST(j.value AS TEXT) END AS v FROM r, json_each(r.dc) j WHERE r.objs),"
    " k AS (SELECT key, min(pos) AS pos FROM (SELECT key, id AS pos FROM a UNION ALL "
    " SELECT key, id + 1000000 FROM b) GROUP BY key) "
    "SELECT 0, 'seed', s_seed, d_seed FROM r WHERE s_seed IS NOT d_seed "
    "UNION ALL SELECT 1, 'group_size', s_gs, d_gs FROM r WHERE s_gs IS NOT d_gs "
    "UNION ALL SELECT 2, 'config_json', coalesce(sc, 'null'), coalesce(dc, 'null') FROM r "
    " WHERE NOT objs AND sc IS NOT dc "
    "UNION ALL SELECT 3 + k.pos, k.key, coalesce(a.v, 'null'), coalesce(b.v, 'null') FROM k "
    " LEFT JOIN a ON a.key = k.key LEFT JOIN b ON b.key = k.key "
    " WHERE NOT (coalesce(a.v, 'null') = coalesce(b.v, 'null') OR coalesce(a.type IN "
    " ('integer', 'real') AND b.type IN ('integer', 'real') AND a.value = b.value, 0)) "
    "ORDER BY 1";

/* Writes "FIELD X here, Y in the store; ..." for the differing settings into buf (empty
 * when they are equal). */
static int settings_diff(merge *m, int64_t src_id, int64_t dst_id, char *buf, size_t cap)
{
    sqlite3_stmt *st = NULL;
    size_t off = 0;
    buf[0] = '\0';
    int src = sqlite3_prepare_v2(m->s->db, settings_diff_sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, src_id);
        sqlite3_bind_int64(st, 2, dst_id);
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            if (off + 1 >= cap)
                continue;
            int n = snprintf(buf + off, cap - off, "%s%s %.80s here, %.80s in the store",
                             off ? "; " : "", txt(st, 1), txt(st, 2), txt(st, 3));
            off = n < 0 ? cap : off + (size_t)n;
        }
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(m->s, src, "comparing the settings of run %lld of %s",
                                   (long long)src_id, m->in_path);
    return 0;
}

/* Looks up name in the store for the input run src_row: SLOT_FREE, SLOT_SAME (model,
 * shard and settings match), SLOT_TAKEN (another model or shard), or SLOT_OTHER_SETTINGS
 * (model and shard match, settings differ: written to diff). */
static int run_slot(merge *m, const char *name, sqlite3_stmt *src_row, int64_t *dst_id, int *state,
                    char *diff, size_t diff_cap)
{
    sqlite3_stmt *st = NULL;
    int same = 0;
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
        same = sqlite3_column_int(st, 1);
        *state = same ? SLOT_SAME : SLOT_TAKEN;
    } else if (src == SQLITE_DONE) {
        *state = SLOT_FREE;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return ef_datasets__sqlerr(m->s, src, "merging runs of %s", m->in_path);
    if (same) {
        int rc = settings_diff(m, sqlite3_column_int64(src_row, 0), *dst_id, diff, diff_cap);
        if (rc < 0)
            return rc;
        if (diff[0])
            *state = SLOT_OTHER_SETTINGS;
    }
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

/* A run whose name, model and shard match a store run but whose settings differ: its
 * episodes would mix with another experiment's, so it is left out with them. */
static int run_conflict(merge *m, sqlite3_stmt *row, const char *dst_name, const char *diff)
{
    uint64_t n_episodes = 0;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM src.episodes WHERE run_id = %lld", num(row, 0));
    int rc = count(m, sql, &n_episodes);
    if (rc < 0)
        return rc;
    say(m, 1,
        "run '%s' of %s (model %s, shard %lld of %lld) has other settings than the store's run "
        "'%s' of the same model and shard: %s; skipped it and its %llu episodes (merge it "
        "into another store, or rename the run in the input)",
        txt(row, 1), m->in_path, txt(row, 2), num(row, 6), num(row, 7), dst_name, diff,
        (unsigned long long)n_episodes);
    return 0;
}

static int merge_one_run(merge *m, sqlite3_stmt *row)
{
    int64_t src_id = sqlite3_column_int64(row, 0), dst_id = 0;
    const char *name = txt(row, 1);
    char cand[600], diff[768];
    int rc = 0, state = SLOT_TAKEN;
    for (int k = 0; k < 1000 && state == SLOT_TAKEN; k++) {
        if (k == 0)
            snprintf(cand, sizeof cand, "%s", name);
        else if (k == 1)
            snprintf(cand, sizeof cand, "%s/shard-%lld-of-%lld", name, num(row, 6), num(row, 7));
        else
            snprintf(cand, sizeof cand, "%s/%d", name, k);
        if ((rc = run_slot(m, cand, row, &dst_id, &state, diff, sizeof diff)) < 0)
            return rc;
    }
    if (state == SLOT_TAKEN)
        return ef_errorf(m->s->ctx, EF_ECONFLICT, "%s: no free name for run '%s' of %s", m->s->path,
                         name, m->in_path);
    if (state == SLOT_OTHER_SETTINGS)
        return run_conflict(m, row, cand, diff); /* not mapped: its episodes are skipped */
    if (state == SLOT_FREE) {
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

/* ---- GRPO groups --------------------------------------------------------------------------- */

/* An input group is (run, group_id, task) — the task too, so that no store group ever
 * holds two tasks. Each gets the store group it continues, or a new one:
 *   1. the group of a store episode with the same (run, task, sample) as one of its own;
 *   2. else the one group the store run has for the task, when the input has one too;
 *   3. else a new id in the store run: the task's id (what `envforge run` writes, so a
 *      later resume of the run joins it) when free, else one past the largest used.
 * A store group from 1 or 2 that already holds another task is not joined (3 instead). */
static const char *const group_steps[] = {
    "INSERT INTO temp.ef_map_group(src_run, src_group, src_task, run_id, task_id) "
    "SELECT DISTINCT src_run, src_group, src_task, run_id, task_id FROM temp.ef_plan "
    "ORDER BY src_run, src_task, src_group",
    "UPDATE temp.ef_map_group AS g SET dst = (SELECT d.group_id FROM temp.ef_plan p "
    "JOIN main.episodes d ON d.id = p.existing WHERE p.src_run = g.src_run AND "
    "p.src_group = g.src_group AND p.src_task = g.src_task ORDER BY p.src LIMIT 1)",
    "UPDATE temp.ef_map_group AS g SET dst = (SELECT min(d.group_id) FROM main.episodes d "
    "WHERE d.run_id = g.run_id AND d.task_id = g.task_id) WHERE g.dst IS NULL AND "
    "(SELECT count(DISTINCT d.group_id) FROM main.episodes d WHERE d.run_id = g.run_id AND "
    "d.task_id = g.task_id) = 1 AND (SELECT count(*) FROM temp.ef_map_group g2 "
    "WHERE g2.src_run = g.src_run AND g2.src_task = g.src_task) = 1",
    "UPDATE temp.ef_map_group AS g SET dst = NULL WHERE g.dst IS NOT NULL AND EXISTS "
    "(SELECT 1 FROM main.episodes d WHERE d.run_id = g.run_id AND d.group_id = g.dst AND "
    "d.task_id IS NOT g.task_id)",
};

/* Step 3: new ids, one group at a time (each sees the ones given before it). */
static int new_groups(merge *m)
{
    static const char *const sql[] = {
        "SELECT id, run_id, task_id FROM temp.ef_map_group WHERE id > ?1 AND dst IS NULL "
        "ORDER BY id LIMIT 1",
        "SELECT NOT EXISTS (SELECT 1 FROM main.episodes WHERE run_id = ?1 AND group_id = ?2) "
        "AND NOT EXISTS (SELECT 1 FROM temp.ef_map_group WHERE run_id = ?1 AND dst = ?2), "
        "(SELECT max(group_id) FROM main.episodes WHERE run_id = ?1), "
        "(SELECT max(dst) FROM temp.ef_map_group WHERE run_id = ?1)",
        "UPDATE temp.ef_map_group SET dst = ?2 WHERE id = ?1",
    };
    sqlite3_stmt *st[3] = {NULL, NULL, NULL};
    int src = SQLITE_OK, rc = 0;
    for (int i = 0; i < 3 && src == SQLITE_OK; i++)
        src = sqlite3_prepare_v2(m->s->db, sql[i], -1, &st[i], NULL);
    int64_t last = 0;
    while (src == SQLITE_OK) {
        sqlite3_reset(st[0]);
        sqlite3_bind_int64(st[0], 1, last);
        if ((src = sqlite3_step(st[0])) != SQLITE_ROW)
            break;
        last = sqlite3_column_int64(st[0], 0);
        int64_t run_id = sqlite3_column_int64(st[0], 1), task_id = sqlite3_column_int64(st[0], 2);
        sqlite3_reset(st[1]);
        sqlite3_bind_int64(st[1], 1, run_id);
        sqlite3_bind_int64(st[1], 2, task_id);
        if ((src = sqlite3_step(st[1])) != SQLITE_ROW)
            break;
        int64_t dst = task_id, top = INT64_MIN;
        for (int c = 1; c <= 2; c++)
            if (sqlite3_column_type(st[1], c) != SQLITE_NULL &&
                sqlite3_column_int64(st[1], c) > top)
                top = sqlite3_column_int64(st[1], c);
        if (!sqlite3_column_int(st[1], 0)) {
            if (top == INT64_MAX) {
                rc = ef_errorf(m->s->ctx, EF_ELIMIT,
                               "%s: no free group id in run %lld for task %lld of %s", m->s->path,
                               (long long)run_id, (long long)task_id, m->in_path);
                break;
            }
            dst = top + 1;
        }
        sqlite3_reset(st[2]);
        sqlite3_bind_int64(st[2], 1, last);
        sqlite3_bind_int64(st[2], 2, dst);
        if ((src = sqlite3_step(st[2])) != SQLITE_DONE)
            break;
        src = SQLITE_OK;
    }
    for (int i = 0; i < 3; i++)
        sqlite3_finalize(st[i]);
    if (rc == 0 && src != SQLITE_DONE)
        rc = ef_datasets__sqlerr(m->s, src, "numbering the groups of %s", m->in_path);
    return rc;
}

static int map_groups(merge *m)
{
    int rc;
    for (size_t i = 0; i < EF_ARRAY_LEN(group_steps); i++)
        if ((rc = run(m, group_steps[i], NULL)) < 0)
            return rc;
    if ((rc = new_groups(m)) < 0)
        return rc;
    return run(m,
               "UPDATE temp.ef_plan AS p SET group_id = (SELECT g.dst FROM temp.ef_map_group g "
               "WHERE g.src_run = p.src_run AND g.src_group = p.src_group AND "
               "g.src_task = p.src_task)",
               NULL);
}

/* ---- episodes and what hangs off them ------------------------------------------------------ */

/* What each input episode becomes: new (no store episode with its key), same (the store
 * has it), replace (the store's failed, the input's did not), failed (the input's
 * failed where the store has one: left out), conflict (both have a verdict, and they
 * differ). Failed: no verdict on the model — the model call failed (model_error) or the
 * verifier did ("verify: ..."), what `envforge run` retries on resume and `envforge
 * export` leaves out. */
static const char classify_sql[] =
    "UPDATE temp.ef_plan AS p SET action = CASE WHEN p.existing IS NULL THEN 'new' ELSE "
    "(SELECT CASE WHEN NOT (s.status IS NOT d.status OR s.end_reason IS NOT d.end_reason OR "
    "s.reward IS NOT d.reward OR s.verified IS NOT d.verified OR s.answer IS NOT d.answer OR "
    "s.n_completion_tokens IS NOT d.n_completion_tokens OR p.group_id IS NOT d.group_id) "
    "THEN 'same' "
    "WHEN coalesce(d.end_reason = 'model_error' OR d.error LIKE 'verify: %', 0) AND NOT "
    "coalesce(s.end_reason = 'model_error' OR s.error LIKE 'verify: %', 0) THEN 'replace' "
    "WHEN coalesce(s.end_reason = 'model_error' OR s.error LIKE 'verify: %', 0) THEN 'failed' "
    "ELSE 'conflict' END "
    "FROM src.episodes s, main.episodes d WHERE s.id = p.src AND d.id = p.existing) END";

/* The fields in which the input's episode s and the store's d differ, for the message. */
static const char differing[] =
    "CASE WHEN s.status IS NOT d.status THEN ' status' ELSE '' END || "
    "CASE WHEN s.end_reason IS NOT d.end_reason THEN ' end_reason' ELSE '' END || "
    "CASE WHEN s.reward IS NOT d.reward THEN ' reward' ELSE '' END || "
    "CASE WHEN s.verified IS NOT d.verified THEN ' verified' ELSE '' END || "
    "CASE WHEN s.answer IS NOT d.answer THEN ' answer' ELSE '' END || "
    "CASE WHEN s.n_completion_tokens IS NOT d.n_completion_tokens THEN ' completion tokens' "
    "ELSE '' END || CASE WHEN p.group_id IS NOT d.group_id THEN ' group' ELSE '' END";

static void episode_conflict(merge *m, sqlite3_stmt *st)
{
    say(m, 1,
        "episode %lld of %s (run '%s', task %lld, sample %lld: %s/%s reward %g) differs from "
        "the store's episode %lld (%s/%s reward %g) in:%s; kept the store's",
        num(st, 0), m->in_path, txt(st, 1), num(st, 2), num(st, 3), txt(st, 4), txt(st, 5),
        sqlite3_column_double(st, 6), num(st, 7), txt(st, 8), txt(st, 9),
        sqlite3_column_double(st, 10), txt(st, 11));
}

static void episode_replaced(merge *m, sqlite3_stmt *st)
{
    say(m, 0,
        "episode %lld of %s (run '%s', task %lld, sample %lld: %s/%s reward %g) replaced the "
        "store's failed episode %lld (%s/%s: %.200s)",
        num(st, 0), m->in_path, txt(st, 1), num(st, 2), num(st, 3), txt(st, 4), txt(st, 5),
        sqlite3_column_double(st, 6), num(st, 7), txt(st, 8), txt(st, 9), txt(st, 10));
}

static int merge_episodes(merge *m)
{
    int rc;
    if ((rc = run(m,
                  "INSERT INTO temp.ef_plan(src, run_id, task_id, sample_idx, existing, src_run, "
                  "src_group, src_task) SELECT s.id, mr.dst, mt.dst, s.sample_idx, d.id, "
                  "s.run_id, s.group_id, s.task_id FROM src.episodes s "
                  "JOIN temp.ef_map_run mr ON mr.src = s.run_id "
                  "JOIN temp.ef_map_task mt ON mt.src = s.task_id "
                  "LEFT JOIN main.episodes d ON d.run_id = mr.dst AND d.task_id = mt.dst AND "
                  "d.sample_idx = s.sample_idx ORDER BY s.id",
                  NULL)) < 0)
        return rc;
    if ((rc = map_groups(m)) < 0 || (rc = run(m, classify_sql, NULL)) < 0)
        return rc;
    static const char pair[] = "FROM temp.ef_plan p JOIN src.episodes s ON s.id = p.src "
                               "JOIN main.episodes d ON d.id = p.existing ";
    char sql[1600];
    snprintf(sql, sizeof sql,
             "SELECT s.id, (SELECT name FROM main.runs WHERE id = p.run_id), p.task_id, "
             "p.sample_idx, s.status, s.end_reason, s.reward, d.id, d.status, d.end_reason, "
             "d.reward, %s %sWHERE p.action = 'conflict' ORDER BY s.id",
             differing, pair);
    if ((rc = each_row(m, sql, episode_conflict)) < 0)
        return rc;
    snprintf(sql, sizeof sql,
             "SELECT s.id, (SELECT name FROM main.runs WHERE id = p.run_id), p.task_id, "
             "p.sample_idx, s.status, s.end_reason, s.reward, d.id, d.status, d.end_reason, "
             "coalesce(d.error, '') %sWHERE p.action = 'replace' ORDER BY s.id",
             pair);
    if ((rc = each_row(m, sql, episode_replaced)) < 0)
        return rc;
    static const struct {
        const char *action;
        size_t off;
    } counts[] = {
        {"same", offsetof(ef_store_merge_stats, n_same_episodes)},
        {"replace", offsetof(ef_store_merge_stats, n_replaced_episodes)},
        {"failed", offsetof(ef_store_merge_stats, n_failed_episodes)},
        {"new", offsetof(ef_store_merge_stats, n_episodes)},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(counts); i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM temp.ef_plan WHERE action = '%s'",
                 counts[i].action);
        if ((rc = count(m, sql, (uint64_t *)((char *)&m->st + counts[i].off))) < 0)
            return rc;
    }
    static const char *const copy[] = {
        /* the failed episodes replaced go with their messages, calls, tokens and events */
        "DELETE FROM main.episodes WHERE id IN (SELECT existing FROM temp.ef_plan "
        "WHERE action = 'replace')",
        "INSERT INTO main.episodes(run_id, task_id, group_id, sample_idx, model, status, "
        "end_reason, reward, verified, answer, verify_info, error, n_turns, n_tool_calls, "
        "n_tool_errors, n_parse_errors, n_context_resets, n_prompt_tokens, "
        "n_completion_tokens, wall_ms, model_ms, tool_ms, verify_ms, started_at, created_at) "
        "SELECT p.run_id, p.task_id, p.group_id, s.sample_idx, s.model, s.status, "
        "s.end_reason, s.reward, s.verified, s.answer, s.verify_info, s.error, s.n_turns, "
        "s.n_tool_calls, s.n_tool_errors, s.n_parse_errors, s.n_context_resets, "
        "s.n_prompt_tokens, s.n_completion_tokens, s.wall_ms, s.model_ms, s.tool_ms, "
        "s.verify_ms, s.started_at, s.created_at FROM temp.ef_plan p "
        "JOIN src.episodes s ON s.id = p.src WHERE p.action IN ('new', 'replace') ORDER BY s.id",
        "INSERT INTO temp.ef_map_episode(src, dst) SELECT p.src, d.id FROM temp.ef_plan p "
        "JOIN main.episodes d ON d.run_id = p.run_id AND d.task_id = p.task_id AND "
        "d.sample_idx = p.sample_idx WHERE p.action IN ('new', 'replace')",
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
        if ((rc = run(m, copy[i], NULL)) < 0)
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
    /* run-level events, once each (merging the same input twice adds nothing); those of
     * a run left out (other settings) stay out with it */
    return run(m,
               "INSERT INTO main.events(run_id, episode_id, kind, payload, time) "
               "SELECT mr.dst, NULL, s.kind, s.payload, s.time FROM src.events s "
               "LEFT JOIN temp.ef_map_run mr ON mr.src = s.run_id WHERE s.episode_id IS NULL "
               "AND (s.run_id IS NULL OR mr.dst IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM "
               "main.events d WHERE d.episode_id IS NULL AND "
               "d.run_id IS mr.dst AND d.kind = s.kind AND d.payload = s.payload AND "
               "d.time = s.time) ORDER BY s.id",
               &m->st.n_events);
}

/* ---- the steps in order ---------------------------------------------------------------------- */

static const char drop_temp[] =
    "DROP TABLE IF EXISTS temp.ef_map_env; DROP TABLE IF EXISTS temp.ef_map_task;"
    "DROP TABLE IF EXISTS temp.ef_map_run; DROP TABLE IF EXISTS temp.ef_plan;"
    "DROP TABLE IF EXISTS temp.ef_map_group; DROP TABLE IF EXISTS temp.ef_map_episode;";

static const char temp_tables[] =
    "CREATE TEMP TABLE ef_map_env(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
    "CREATE TEMP TABLE ef_map_task(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
    "CREATE TEMP TABLE ef_map_run(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);"
    /* one row per input episode of a mapped run and task: its key in the store, the store
     * episode with that key (existing), its group there and what becomes of it (action) */
    "CREATE TEMP TABLE ef_plan(src INTEGER PRIMARY KEY, run_id INTEGER, task_id INTEGER,"
    "  sample_idx INTEGER, existing INTEGER, src_run INTEGER, src_group INTEGER,"
    "  src_task INTEGER, group_id INTEGER, action TEXT);"
    "CREATE INDEX temp.ef_plan_group ON ef_plan(src_run, src_group, src_task);"
    "CREATE INDEX temp.ef_plan_action ON ef_plan(action);"
    "CREATE TEMP TABLE ef_map_group(id INTEGER PRIMARY KEY, src_run INTEGER, src_group INTEGER,"
    "  src_task INTEGER, run_id INTEGER, task_id INTEGER, dst INTEGER,"
    "  UNIQUE (src_run, src_group, src_task));"
    "CREATE INDEX temp.ef_map_group_dst ON ef_map_group(run_id, dst);"
    "CREATE INDEX temp.ef_map_group_task ON ef_map_group(src_run, src_task);"
    "CREATE TEMP TABLE ef_map_episode(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL);";

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

/* "PATH: not an envforge store (WHY); ..." with code. */
static int not_a_store(ef_ctx *ctx, int code, const char *path, const char *why)
{
    return ef_errorf(ctx, code,
                     "%s: not an envforge store (%s); give the path of a store that `envforge "
                     "gen --db` or `envforge run --db` wrote",
                     path, why);
}

/* Looks into a file that begins like a SQLite database, on a connection of its own
 * (read-only, nothing written): a database SQLite cannot read, or one without a
 * store's schema_migrations table, is not a store. */
static int check_sqlite(ef_ctx *ctx, const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char why[400];
    int64_t has = 0, n_tables = 0;
    int src = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db,
                                 "SELECT coalesce(sum(name = 'schema_migrations'), 0), count(*) "
                                 "FROM sqlite_master WHERE type = 'table' AND "
                                 "name NOT LIKE 'sqlite_%'",
                                 -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        has = sqlite3_column_int64(st, 0);
        n_tables = sqlite3_column_int64(st, 1);
        src = SQLITE_OK;
    }
    snprintf(why, sizeof why, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    if (src == SQLITE_NOMEM)
        return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory reading it", path);
    if ((src & 0xff) == SQLITE_NOTADB || (src & 0xff) == SQLITE_CORRUPT) {
        char msg[512];
        snprintf(msg, sizeof msg, "a damaged SQLite database: %s", why);
        return not_a_store(ctx, EF_EPARSE, path, msg);
    }
    if (src != SQLITE_OK)
        return ef_errorf(ctx, EF_EIO, "%s: cannot read it: %s", path, why);
    if (n_tables == 0)
        return not_a_store(ctx, EF_EPARSE, path, "a SQLite database with no tables");
    if (!has) {
        snprintf(why, sizeof why,
                 "a SQLite database with %lld table%s but no schema_migrations table",
                 (long long)n_tables, n_tables == 1 ? "" : "s");
        return not_a_store(ctx, EF_EPARSE, path, why);
    }
    return 0;
}

int ef_store_merge_check_input(ef_ctx *ctx, const char *path)
{
    static const char header[16] = "SQLite format 3";
    char buf[16];
    struct stat sb;
    if (!path || !*path)
        return ef_errorf(ctx, EF_EINVAL, "merge: the input path is required");
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return not_a_store(ctx, EF_ENOTFOUND, path, "no such file");
        return ef_errorf(ctx, EF_EIO, "%s: cannot read it: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode))
        return not_a_store(ctx, EF_EINVAL, path, "a directory");
    if (!S_ISREG(sb.st_mode))
        return not_a_store(ctx, EF_EINVAL, path, "not a regular file");
    if (sb.st_size == 0)
        return not_a_store(ctx, EF_EPARSE, path, "an empty file");
    FILE *f = fopen(path, "rb");
    if (!f)
        return ef_errorf(ctx, EF_EIO, "%s: cannot read it: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf, f);
    int read_failed = ferror(f);
    fclose(f);
    if (read_failed)
        return ef_errorf(ctx, EF_EIO, "%s: cannot read it", path);
    if (n < sizeof buf || memcmp(buf, header, sizeof header) != 0)
        return not_a_store(ctx, EF_EPARSE, path,
                           "not a SQLite database: it does not begin with the SQLite header");
    int rc = check_sqlite(ctx, path);
    if (rc < 0)
        return rc;
    /* the rest as any open checks it: a schema this build reads */
    ef_store *in = NULL;
    ef_store_options ro = EF_STORE_OPTIONS_INIT;
    ro.read_only = 1;
    if ((rc = ef_store_open_ext(ctx, path, &ro, &in)) < 0)
        return rc;
    ef_store_close(in);
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
    /* the input must be a store this build reads */
    if ((rc = ef_store_merge_check_input(s->ctx, in_path)) < 0)
        return rc;
    if ((rc = attach(s, in_path)) < 0)
        return rc;
    merge m = {s, in_path, report, ud, {0}};
    rc = ef_datasets__exec(s, drop_temp);
    if (rc == 0)
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
