/*
 * datasets/store_task.c — the tasks table: batched inserts that skip (and count) tasks
 * already stored for their env, counting, fetching one task, and an iterator over an
 * env's tasks whose rows point straight into SQLite's column buffers.
 */
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

struct ef_task_iter {
    ef_store *s;
    sqlite3_stmt *st;
    ef_task_row row;
};

static int task_validate(ef_ctx *ctx, const ef_task_row *t, size_t i)
{
    char where[96];
    int rc;
    snprintf(where, sizeof where, "task[%zu] (env_id %lld, idx %lld)", i, (long long)t->env_id,
             (long long)t->idx);
    if (t->env_id <= 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'env_id' must be an env id (got %lld)", where,
                         (long long)t->env_id);
    if ((rc = ef_datasets__need_hex(ctx, where, "content_hash", t->content_hash)) < 0 ||
        (rc = ef_datasets__need_str(ctx, where, "prompt", t->prompt)) < 0 ||
        (rc = ef_datasets__need_json(ctx, where, "task_json", t->task_json, 1)) < 0)
        return rc;
    return 0;
}

static int insert_one(ef_store *s, const ef_task_row *t, size_t i, int *inserted)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_TASK_INSERT,
                               "INSERT INTO tasks(env_id, idx, seed, level, content_hash, "
                               "prompt, task_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                               "ON CONFLICT(env_id, content_hash) DO NOTHING",
                               &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, t->env_id);
    sqlite3_bind_int64(st, 2, t->idx);
    sqlite3_bind_int64(st, 3, (int64_t)t->seed);
    sqlite3_bind_int(st, 4, t->level);
    ef_datasets__bind_text(st, 5, t->content_hash);
    ef_datasets__bind_text(st, 6, t->prompt);
    ef_datasets__bind_text(st, 7, t->task_json);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "inserting task[%zu] (env_id %lld, idx %lld)", i,
                                   (long long)t->env_id, (long long)t->idx);
    *inserted = sqlite3_changes(s->db) > 0;
    return 0;
}

int ef_store_task_insert_batch(ef_store *s, const ef_task_row *rows, size_t n, size_t *n_inserted,
                               size_t *n_duplicate)
{
    int rc;
    if (n > 0 && !rows)
        return ef_errorf(s->ctx, EF_EINVAL, "task_insert_batch: rows is NULL for %zu rows", n);
    for (size_t i = 0; i < n; i++)
        if ((rc = task_validate(s->ctx, &rows[i], i)) < 0)
            return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    size_t n_new = 0, n_dup = 0;
    int64_t env_ok = 0; /* the last env id known to exist */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ef_task_row *t = &rows[i];
        if (t->env_id != env_ok) {
            int exists = 0;
            rc = ef_datasets__row_exists(s, EF_ST_ENV_EXISTS, "envs", t->env_id, &exists);
            if (rc == 0 && !exists)
                rc = ef_errorf(s->ctx, EF_EINVAL,
                               "task[%zu] (idx %lld): field 'env_id' = %lld is not an env in "
                               "%s; insert the env first",
                               i, (long long)t->idx, (long long)t->env_id, s->path);
            if (rc < 0)
                break;
            env_ok = t->env_id;
        }
        int inserted = 0;
        rc = insert_one(s, t, i, &inserted);
        if (inserted)
            n_new++;
        else
            n_dup++;
    }
    rc = ef_datasets__tx_end(s, rc);
    if (rc < 0)
        return rc;
    if (n_inserted)
        *n_inserted = n_new;
    if (n_duplicate)
        *n_duplicate = n_dup;
    return 0;
}

int ef_store_task_count(ef_store *s, int64_t env_id, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    const char *sql =
        env_id > 0 ? "SELECT count(*) FROM tasks WHERE env_id = ?1" : "SELECT count(*) FROM tasks";
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        if (env_id > 0)
            sqlite3_bind_int64(st, 1, env_id);
        src = sqlite3_step(st);
    }
    int64_t n = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(s, src, "counting tasks");
    *out = n;
    return 0;
}

void ef_store_task_free(ef_task_row *task)
{
    if (!task)
        return;
    ef_free((void *)task->content_hash);
    ef_free((void *)task->prompt);
    ef_free((void *)task->task_json);
    ef_free(task);
}

#define TASK_COLUMNS "env_id, idx, seed, level, content_hash, prompt, task_json"

static void task_from_columns(sqlite3_stmt *st, ef_task_row *t)
{
    t->env_id = sqlite3_column_int64(st, 0);
    t->idx = sqlite3_column_int64(st, 1);
    t->seed = (uint64_t)sqlite3_column_int64(st, 2);
    t->level = sqlite3_column_int(st, 3);
}

int ef_store_task_get(ef_store *s, int64_t id, ef_task_row **out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__row_get(s, EF_ST_TASK_GET,
                                  "SELECT " TASK_COLUMNS " FROM tasks WHERE id = ?1",
                                  "task", id, &st);
    if (rc < 0)
        return rc;
    ef_task_row *t = ef_calloc(1, sizeof *t);
    int ok = t != NULL;
    if (ok) {
        task_from_columns(st, t);
        t->content_hash = ef_datasets__col_strdup(st, 4, &ok);
        t->prompt = ef_datasets__col_strdup(st, 5, &ok);
        t->task_json = ef_datasets__col_strdup(st, 6, &ok);
    }
    rc = ef_datasets__row_end(s, st, ok, "task", id);
    if (rc < 0) {
        ef_store_task_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int ef_store_task_iter_new(ef_store *s, int64_t env_id, ef_task_iter **out)
{
    ef_task_iter *it = ef_calloc(1, sizeof *it);
    if (!it)
        return ef_errorf(s->ctx, EF_ENOMEM, "%s: out of memory starting a task iterator", s->path);
    it->s = s;
    const char *sql = env_id > 0 ? "SELECT " TASK_COLUMNS
                                   ", id FROM tasks WHERE env_id = ?1 ORDER BY id"
                                 : "SELECT " TASK_COLUMNS ", id FROM tasks ORDER BY id";
    int src = sqlite3_prepare_v2(s->db, sql, -1, &it->st, NULL);
    if (src != SQLITE_OK) {
        int rc = ef_datasets__sqlerr(s, src, "listing tasks");
        ef_store_task_iter_free(it);
        return rc;
    }
    if (env_id > 0)
        sqlite3_bind_int64(it->st, 1, env_id);
    *out = it;
    return 0;
}

int ef_store_task_iter_next(ef_task_iter *it, const ef_task_row **row, int64_t *task_id)
{
    int src = sqlite3_step(it->st);
    if (src == SQLITE_DONE)
        return 0;
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(it->s, src, "reading tasks");
    ef_task_row *t = &it->row;
    task_from_columns(it->st, t);
    t->content_hash = (const char *)sqlite3_column_text(it->st, 4);
    t->prompt = (const char *)sqlite3_column_text(it->st, 5);
    t->task_json = (const char *)sqlite3_column_text(it->st, 6);
    if (!t->content_hash || !t->prompt || !t->task_json)
        return ef_errorf(it->s->ctx, EF_ENOMEM, "%s: out of memory reading a task", it->s->path);
    *row = t;
    if (task_id)
        *task_id = sqlite3_column_int64(it->st, 7);
    return 1;
}

void ef_store_task_iter_free(ef_task_iter *it)
{
    if (!it)
        return;
    sqlite3_finalize(it->st);
    ef_free(it);
}
