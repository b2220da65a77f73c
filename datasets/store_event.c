/*
 * datasets/store_event.c — the events table: things that happened during a run or an
 * episode (context resets, model errors, retries, budget warnings), each a kind, a JSON
 * payload and a time. Insert one, list those of an episode or of a run.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

int ef_datasets__event_validate(ef_ctx *ctx, const ef_event_row *ev, const char *where)
{
    int rc;
    if (!ev)
        return ef_errorf(ctx, EF_EINVAL, "%s: the row is NULL", where);
    if ((rc = ef_datasets__need_str(ctx, where, "kind", ev->kind)) < 0 ||
        (rc = ef_datasets__need_json(ctx, where, "payload_json", ev->payload_json, 0)) < 0)
        return rc;
    if (isnan(ev->time) || ev->time < 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'time' must be unix seconds >= 0", where);
    if (ev->run_id < 0 || ev->episode_id < 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: fields 'run_id' and 'episode_id' must be >= 0",
                         where);
    return 0;
}

int ef_datasets__event_write(ef_store *s, const ef_event_row *ev, int64_t run_id,
                             int64_t episode_id, int64_t *out_id)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_EVENT_INSERT,
                               "INSERT INTO events(run_id, episode_id, kind, payload, time) "
                               "VALUES (?1, ?2, ?3, coalesce(?4, '{}'), ?5)",
                               &st);
    if (rc < 0)
        return rc;
    char when[40];
    ef_datasets__iso_time(ev->time, when, sizeof when);
    if (run_id > 0)
        sqlite3_bind_int64(st, 1, run_id);
    if (episode_id > 0)
        sqlite3_bind_int64(st, 2, episode_id);
    ef_datasets__bind_text(st, 3, ev->kind);
    ef_datasets__bind_text(st, 4, ev->payload_json);
    sqlite3_bind_text(st, 5, when, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "inserting event '%s'", ev->kind);
    if (out_id)
        *out_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int ef_store_event_insert(ef_store *s, const ef_event_row *ev, int64_t *out_id)
{
    int rc = ef_datasets__event_validate(s->ctx, ev, "event");
    if (rc < 0)
        return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    int64_t run_id = ev->run_id, id = 0;
    int exists = 1;
    if (ev->episode_id > 0) {
        rc = ef_datasets__row_exists(s, EF_ST_EPISODE_EXISTS, "episodes", ev->episode_id, &exists);
        if (rc == 0 && !exists)
            rc = ef_errorf(s->ctx, EF_EINVAL,
                           "event '%s': field 'episode_id' = %lld is not an "
                           "episode in %s",
                           ev->kind, (long long)ev->episode_id, s->path);
    }
    if (rc == 0 && run_id > 0) {
        rc = ef_datasets__row_exists(s, EF_ST_RUN_EXISTS, "runs", run_id, &exists);
        if (rc == 0 && !exists)
            rc = ef_errorf(s->ctx, EF_EINVAL,
                           "event '%s': field 'run_id' = %lld is not a run "
                           "in %s",
                           ev->kind, (long long)run_id, s->path);
    }
    if (rc == 0 && run_id == 0 && ev->episode_id > 0) {
        /* an episode's event belongs to the episode's run */
        sqlite3_stmt *st = NULL;
        int src =
            sqlite3_prepare_v2(s->db, "SELECT run_id FROM episodes WHERE id = ?1", -1, &st, NULL);
        if (src == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, ev->episode_id);
            src = sqlite3_step(st);
            if (src == SQLITE_ROW)
                run_id = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        if (src != SQLITE_ROW)
            rc = ef_datasets__sqlerr(s, src, "finding the run of episode %lld",
                                     (long long)ev->episode_id);
    }
    if (rc == 0)
        rc = ef_datasets__event_write(s, ev, run_id, ev->episode_id, &id);
    rc = ef_datasets__tx_end(s, rc);
    if (rc == 0 && out_id)
        *out_id = id;
    return rc;
}

void ef_store_event_list_free(ef_event_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        ef_free((void *)rows[i].kind);
        ef_free((void *)rows[i].payload_json);
    }
    ef_free(rows);
}

static void event_read(sqlite3_stmt *st, void *row, int *ok)
{
    ef_event_row *e = row;
    e->run_id = sqlite3_column_int64(st, 0);
    e->episode_id = sqlite3_column_int64(st, 1);
    e->kind = ef_datasets__col_strdup(st, 2, ok);
    e->payload_json = ef_datasets__col_strdup(st, 3, ok);
    e->time = sqlite3_column_double(st, 4);
}

int ef_store_event_list(ef_store *s, int64_t run_id, int64_t episode_id, ef_event_row **out,
                        size_t *n_out)
{
    if (episode_id <= 0 && run_id <= 0)
        return ef_errorf(s->ctx, EF_EINVAL, "event_list: give a run_id or an episode_id");
    const char *sql = episode_id > 0 ? "SELECT run_id, episode_id, kind, payload, "
                                       "(julianday(time) - 2440587.5) * 86400.0 FROM events "
                                       "WHERE episode_id = ?1 ORDER BY time, id"
                                     : "SELECT run_id, episode_id, kind, payload, "
                                       "(julianday(time) - 2440587.5) * 86400.0 FROM events "
                                       "WHERE run_id = ?1 ORDER BY time, id";
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src != SQLITE_OK) {
        sqlite3_finalize(st);
        return ef_datasets__sqlerr(s, src, "listing events");
    }
    sqlite3_bind_int64(st, 1, episode_id > 0 ? episode_id : run_id);
    void *rows = NULL;
    size_t n = 0;
    int rc =
        ef_datasets__rows_read(s, st, 1, "events", sizeof(ef_event_row), event_read, &rows, &n);
    if (rc < 0) {
        ef_store_event_list_free(rows, n);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}
