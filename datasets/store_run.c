/*
 * datasets/store_run.c — the runs table: one row per `envforge run` (or shard of one),
 * named so that a restarted run finds itself and resumes, with its status and times.
 */
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

static int run_validate(ef_ctx *ctx, const ef_run_row *r)
{
    int rc;
    if (!r)
        return ef_errorf(ctx, EF_EINVAL, "run: the row is NULL");
    char where[160];
    snprintf(where, sizeof where, "run '%s'", r->name ? r->name : "(unnamed)");
    if ((rc = ef_datasets__need_str(ctx, where, "model", r->model)) < 0 ||
        (rc = ef_datasets__need_json(ctx, where, "config_json", r->config_json, 0)) < 0)
        return rc;
    if (r->name && !*r->name)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'name' is empty (give NULL for a default)",
                         where);
    if (r->group_size < 0 || r->shard_index < 0 || r->shard_count < 0 ||
        (r->shard_count > 0 && r->shard_index >= r->shard_count))
        return ef_errorf(ctx, EF_EINVAL,
                         "%s: fields 'group_size' (%lld), 'shard_index' (%lld), 'shard_count' "
                         "(%lld) must be >= 0 with shard_index < shard_count",
                         where, (long long)r->group_size, (long long)r->shard_index,
                         (long long)r->shard_count);
    return 0;
}

int ef_store_run_insert(ef_store *s, const ef_run_row *run, int64_t *out_id)
{
    int rc = run_validate(s->ctx, run);
    if (rc < 0)
        return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    sqlite3_stmt *st;
    int64_t id = 0;
    rc = ef_datasets__stmt(s, EF_ST_RUN_INSERT,
                           "INSERT INTO runs(name, model, config_json, seed, group_size, "
                           "shard_index, shard_count, status, host) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, coalesce(?8, 'running'), ?9)",
                           &st);
    if (rc == 0) {
        ef_datasets__bind_text(st, 1, run->name);
        ef_datasets__bind_text(st, 2, run->model);
        ef_datasets__bind_text(st, 3, run->config_json);
        sqlite3_bind_int64(st, 4, (int64_t)run->seed);
        sqlite3_bind_int64(st, 5, run->group_size > 0 ? run->group_size : 1);
        sqlite3_bind_int64(st, 6, run->shard_index);
        sqlite3_bind_int64(st, 7, run->shard_count > 0 ? run->shard_count : 1);
        ef_datasets__bind_text(st, 8, run->status);
        ef_datasets__bind_text(st, 9, run->host);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src == SQLITE_CONSTRAINT_UNIQUE)
            rc = ef_errorf(s->ctx, EF_EEXISTS,
                           "%s: a run named '%s' already exists; find it with "
                           "ef_store_run_find to resume it, or pick another name",
                           s->path, run->name);
        else if (src != SQLITE_DONE)
            rc = ef_datasets__sqlerr(s, src, "inserting run '%s'",
                                     run->name ? run->name : "(unnamed)");
        else
            id = sqlite3_last_insert_rowid(s->db);
    }
    if (rc == 0 && !run->name) {
        rc = ef_datasets__stmt(s, EF_ST_RUN_NAME,
                               "UPDATE runs SET name = 'run-' || id WHERE id = ?1", &st);
        if (rc == 0) {
            sqlite3_bind_int64(st, 1, id);
            int src = sqlite3_step(st);
            sqlite3_reset(st);
            if (src != SQLITE_DONE)
                rc = ef_datasets__sqlerr(s, src, "naming run %lld", (long long)id);
        }
    }
    rc = ef_datasets__tx_end(s, rc);
    if (rc == 0 && out_id)
        *out_id = id;
    return rc;
}

int ef_store_run_find(ef_store *s, const char *name, int64_t *out_id)
{
    return ef_datasets__id_by_name(s, EF_ST_RUN_FIND, "SELECT id FROM runs WHERE name = ?1", "run",
                                   name, out_id);
}

void ef_store_run_free(ef_run_row *run)
{
    if (!run)
        return;
    ef_free((void *)run->name);
    ef_free((void *)run->model);
    ef_free((void *)run->config_json);
    ef_free((void *)run->status);
    ef_free((void *)run->host);
    ef_free(run);
}

int ef_store_run_get(ef_store *s, int64_t id, ef_run_row **out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__row_get(s, EF_ST_RUN_GET,
                                  "SELECT name, model, config_json, seed, group_size, shard_index, "
                                  "shard_count, status, host FROM runs WHERE id = ?1",
                                  "run", id, &st);
    if (rc < 0)
        return rc;
    ef_run_row *r = ef_calloc(1, sizeof *r);
    int ok = r != NULL;
    if (ok) {
        r->name = ef_datasets__col_strdup(st, 0, &ok);
        r->model = ef_datasets__col_strdup(st, 1, &ok);
        r->config_json = ef_datasets__col_strdup(st, 2, &ok);
        r->seed = (uint64_t)sqlite3_column_int64(st, 3);
        r->group_size = sqlite3_column_int64(st, 4);
        r->shard_index = sqlite3_column_int64(st, 5);
        r->shard_count = sqlite3_column_int64(st, 6);
        r->status = ef_datasets__col_strdup(st, 7, &ok);
        r->host = ef_datasets__col_strdup(st, 8, &ok);
    }
    rc = ef_datasets__row_end(s, st, ok, "run", id);
    if (rc < 0) {
        ef_store_run_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int ef_store_run_set_status(ef_store *s, int64_t id, const char *status)
{
    int rc = ef_datasets__need_str(s->ctx, "run_set_status", "status", status);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    rc = ef_datasets__stmt(s, EF_ST_RUN_STATUS,
                           "UPDATE runs SET status = ?2, finished_at = CASE WHEN ?2 = 'running' "
                           "THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ','now') END "
                           "WHERE id = ?1",
                           &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    ef_datasets__bind_text(st, 2, status);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "setting the status of run %lld", (long long)id);
    if (sqlite3_changes(s->db) == 0)
        return ef_errorf(s->ctx, EF_ENOTFOUND, "%s: no run with id %lld", s->path, (long long)id);
    return 0;
}
