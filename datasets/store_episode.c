/*
 * datasets/store_episode.c — the episodes table and bundles. An episode row is checked
 * field by field (required strings, reward in [0,1] and not NaN, counts >= 0, known run
 * and task) before it is written; a bundle (episode + messages + tool calls + token
 * stream + events) is written in one transaction, so a reader or a crash sees all of it
 * or none. Also reading: one episode, a count, and a filtered iterator.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

struct ef_episode_iter {
    ef_store *s;
    sqlite3_stmt *st;
    ef_episode_row row;
};

#define EPISODE_COLUMNS                                                                            \
    "run_id, task_id, group_id, sample_idx, model, status, end_reason, reward, verified, "         \
    "answer, verify_info, error, n_turns, n_tool_calls, n_tool_errors, n_parse_errors, "           \
    "n_context_resets, n_prompt_tokens, n_completion_tokens, wall_ms, model_ms, tool_ms, "         \
    "verify_ms, (julianday(started_at) - 2440587.5) * 86400.0"

static void episode_where(const ef_episode_row *ep, char *buf, size_t cap)
{
    snprintf(buf, cap, "episode (run %lld, task %lld, sample %lld)", (long long)ep->run_id,
             (long long)ep->task_id, (long long)ep->sample_idx);
}

int ef_store_episode_validate(ef_ctx *ctx, const ef_episode_row *ep)
{
    if (!ep)
        return ef_errorf(ctx, EF_EINVAL, "episode: the row is NULL");
    char w[128];
    int rc;
    episode_where(ep, w, sizeof w);
    if (ep->run_id <= 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'run_id' must be a run id (got %lld)", w,
                         (long long)ep->run_id);
    if (ep->task_id <= 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'task_id' must be a task id (got %lld)", w,
                         (long long)ep->task_id);
    if (ep->sample_idx < 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'sample_idx' must be >= 0", w);
    if ((rc = ef_datasets__need_str(ctx, w, "status", ep->status)) < 0 ||
        (rc = ef_datasets__need_str(ctx, w, "end_reason", ep->end_reason)) < 0 ||
        (rc = ef_datasets__need_json(ctx, w, "verify_info", ep->verify_info, 0)) < 0)
        return rc;
    if (isnan(ep->reward) || ep->reward < 0.0 || ep->reward > 1.0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'reward' = %g is outside [0, 1]", w,
                         ep->reward);
    if (ep->verified != 0 && ep->verified != 1)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'verified' must be 0 or 1 (got %d)", w,
                         ep->verified);
    const struct {
        const char *name;
        int64_t v;
    } counts[] = {
        {"n_turns", ep->n_turns},
        {"n_tool_calls", ep->n_tool_calls},
        {"n_tool_errors", ep->n_tool_errors},
        {"n_parse_errors", ep->n_parse_errors},
        {"n_context_resets", ep->n_context_resets},
        {"n_prompt_tokens", ep->n_prompt_tokens},
        {"n_completion_tokens", ep->n_completion_tokens},
        {"wall_ms", ep->wall_ms},
        {"model_ms", ep->model_ms},
        {"tool_ms", ep->tool_ms},
        {"verify_ms", ep->verify_ms},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(counts); i++)
        if (counts[i].v < 0)
            return ef_errorf(ctx, EF_EINVAL, "%s: field '%s' = %lld must be >= 0", w,
                             counts[i].name, (long long)counts[i].v);
    if (isnan(ep->started_at) || ep->started_at < 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'started_at' must be unix seconds >= 0", w);
    return 0;
}

int ef_store_bundle_validate(ef_ctx *ctx, const ef_episode_bundle *b)
{
    if (!b)
        return ef_errorf(ctx, EF_EINVAL, "episode bundle: NULL");
    int rc = ef_store_episode_validate(ctx, b->episode);
    if (rc < 0)
        return rc;
    char w[128];
    episode_where(b->episode, w, sizeof w);
    if ((b->n_messages && !b->messages) || (b->n_tool_calls && !b->tool_calls) ||
        (b->n_events && !b->events))
        return ef_errorf(ctx, EF_EINVAL, "%s: a count is set but its array is NULL", w);
    for (size_t i = 0; i < b->n_messages; i++)
        if ((rc = ef_datasets__message_validate(ctx, w, &b->messages[i], i)) < 0)
            return rc;
    for (size_t i = 0; i < b->n_tool_calls; i++)
        if ((rc = ef_datasets__tool_call_validate(ctx, w, &b->tool_calls[i], i)) < 0)
            return rc;
    if (b->tokens && (rc = ef_store_token_stream_validate(ctx, b->tokens)) < 0)
        return ef_error_wrap(ctx, rc, "%s: tokens", w);
    for (size_t i = 0; i < b->n_events; i++) {
        char where[192];
        snprintf(where, sizeof where, "%s: events[%zu]", w, i);
        if ((rc = ef_datasets__event_validate(ctx, &b->events[i], where)) < 0)
            return rc;
    }
    return 0;
}

/* Writes the row (inside the caller's transaction); the run and task must exist. */
static int episode_write(ef_store *s, const ef_episode_row *ep, int64_t *out_id)
{
    char w[128];
    int rc, exists = 0;
    episode_where(ep, w, sizeof w);
    if ((rc = ef_datasets__row_exists(s, EF_ST_RUN_EXISTS, "runs", ep->run_id, &exists)) < 0)
        return rc;
    if (!exists)
        return ef_errorf(s->ctx, EF_EINVAL, "%s: field 'run_id' = %lld is not a run in %s", w,
                         (long long)ep->run_id, s->path);
    if ((rc = ef_datasets__row_exists(s, EF_ST_TASK_EXISTS, "tasks", ep->task_id, &exists)) < 0)
        return rc;
    if (!exists)
        return ef_errorf(s->ctx, EF_EINVAL, "%s: field 'task_id' = %lld is not a task in %s", w,
                         (long long)ep->task_id, s->path);
    sqlite3_stmt *st;
    rc = ef_datasets__stmt(
        s, EF_ST_EPISODE_INSERT,
        "INSERT INTO episodes(run_id, task_id, group_id, sample_idx, model, status, end_reason, "
        "reward, verified, answer, verify_info, error, n_turns, n_tool_calls, n_tool_errors, "
        "n_parse_errors, n_context_resets, n_prompt_tokens, n_completion_tokens, wall_ms, "
        "model_ms, tool_ms, verify_ms, started_at) VALUES (?1, ?2, ?3, ?4, "
        "coalesce(?5, (SELECT model FROM runs WHERE id = ?1)), ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
        "?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
        &st);
    if (rc < 0)
        return rc;
    char started[40];
    ef_datasets__iso_time(ep->started_at, started, sizeof started);
    sqlite3_bind_int64(st, 1, ep->run_id);
    sqlite3_bind_int64(st, 2, ep->task_id);
    sqlite3_bind_int64(st, 3, ep->group_id);
    sqlite3_bind_int64(st, 4, ep->sample_idx);
    ef_datasets__bind_text(st, 5, ep->model);
    ef_datasets__bind_text(st, 6, ep->status);
    ef_datasets__bind_text(st, 7, ep->end_reason);
    sqlite3_bind_double(st, 8, ep->reward);
    sqlite3_bind_int(st, 9, ep->verified);
    ef_datasets__bind_text(st, 10, ep->answer);
    ef_datasets__bind_text(st, 11, ep->verify_info);
    ef_datasets__bind_text(st, 12, ep->error);
    const int64_t nums[] = {ep->n_turns,
                            ep->n_tool_calls,
                            ep->n_tool_errors,
                            ep->n_parse_errors,
                            ep->n_context_resets,
                            ep->n_prompt_tokens,
                            ep->n_completion_tokens,
                            ep->wall_ms,
                            ep->model_ms,
                            ep->tool_ms,
                            ep->verify_ms};
    for (int i = 0; i < (int)EF_ARRAY_LEN(nums); i++)
        sqlite3_bind_int64(st, 13 + i, nums[i]);
    sqlite3_bind_text(st, 24, started, -1, SQLITE_TRANSIENT);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src == SQLITE_CONSTRAINT_UNIQUE) {
        int64_t old = 0;
        ef_store_episode_find(s, ep->run_id, ep->task_id, ep->sample_idx, &old);
        return ef_errorf(s->ctx, EF_EEXISTS, "%s: %s is already stored (episode id %lld)", s->path,
                         w, (long long)old);
    }
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "inserting %s", w);
    *out_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int ef_store_episode_insert(ef_store *s, const ef_episode_row *ep, int64_t *out_id)
{
    int rc = ef_store_episode_validate(s->ctx, ep);
    if (rc < 0)
        return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    int64_t id = 0;
    rc = ef_datasets__tx_end(s, episode_write(s, ep, &id));
    if (rc == 0 && out_id)
        *out_id = id;
    return rc;
}

int ef_datasets__bundle_write(ef_store *s, const ef_episode_bundle *b, int64_t *out_id)
{
    int64_t id = 0;
    int rc = episode_write(s, b->episode, &id);
    if (rc == 0 && b->n_messages) {
        rc = ef_store_message_insert(s, id, b->messages, b->n_messages);
        /* the episode is new: a taken idx can only be the bundle's own repeat */
        if (rc == EF_EEXISTS)
            rc = ef_error_wrap(s->ctx, EF_EINVAL, "two messages of the bundle have one idx");
    }
    if (rc == 0 && b->n_tool_calls)
        rc = ef_store_tool_call_insert(s, id, b->tool_calls, b->n_tool_calls);
    if (rc == 0 && b->tokens)
        rc = ef_store_token_stream_insert(s, id, b->tokens);
    for (size_t i = 0; rc == 0 && i < b->n_events; i++)
        rc = ef_datasets__event_write(s, &b->events[i], b->episode->run_id, id, NULL);
    if (rc == 0)
        *out_id = id;
    return rc;
}

int ef_store_bundle_insert(ef_store *s, const ef_episode_bundle *b, int64_t *out_id)
{
    int rc = ef_store_bundle_validate(s->ctx, b);
    if (rc < 0)
        return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    int64_t id = 0;
    rc = ef_datasets__tx_end(s, ef_datasets__bundle_write(s, b, &id));
    if (rc == 0 && out_id)
        *out_id = id;
    return rc;
}

int ef_store_episode_find(ef_store *s, int64_t run_id, int64_t task_id, int64_t sample_idx,
                          int64_t *out_id)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_EPISODE_FIND,
                               "SELECT id FROM episodes WHERE run_id = ?1 AND task_id = ?2 AND "
                               "sample_idx = ?3",
                               &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, run_id);
    sqlite3_bind_int64(st, 2, task_id);
    sqlite3_bind_int64(st, 3, sample_idx);
    int src = sqlite3_step(st);
    int64_t id = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (src == SQLITE_DONE)
        return ef_errorf(s->ctx, EF_ENOTFOUND, "%s: no episode (run %lld, task %lld, sample %lld)",
                         s->path, (long long)run_id, (long long)task_id, (long long)sample_idx);
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(s, src, "looking up an episode");
    *out_id = id;
    return 0;
}

int ef_store_episode_delete(ef_store *s, int64_t id)
{
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(s->db, "DELETE FROM episodes WHERE id = ?1", -1, &st, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        src = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "deleting episode %lld", (long long)id);
    if (sqlite3_changes(s->db) == 0)
        return ef_errorf(s->ctx, EF_ENOTFOUND, "%s: no episode %lld", s->path, (long long)id);
    return 0;
}

/* Numbers and times of the row from the EPISODE_COLUMNS result. */
static void episode_numbers(sqlite3_stmt *st, ef_episode_row *e)
{
    e->run_id = sqlite3_column_int64(st, 0);
    e->task_id = sqlite3_column_int64(st, 1);
    e->group_id = sqlite3_column_int64(st, 2);
    e->sample_idx = sqlite3_column_int64(st, 3);
    e->reward = sqlite3_column_double(st, 7);
    e->verified = sqlite3_column_int(st, 8);
    int64_t *nums[] = {&e->n_turns,
                       &e->n_tool_calls,
                       &e->n_tool_errors,
                       &e->n_parse_errors,
                       &e->n_context_resets,
                       &e->n_prompt_tokens,
                       &e->n_completion_tokens,
                       &e->wall_ms,
                       &e->model_ms,
                       &e->tool_ms,
                       &e->verify_ms};
    for (int i = 0; i < (int)EF_ARRAY_LEN(nums); i++)
        *nums[i] = sqlite3_column_int64(st, 12 + i);
    e->started_at = sqlite3_column_double(st, 23);
}

static const int episode_text_cols[] = {4, 5, 6, 9, 10, 11};

static const char **episode_text_field(ef_episode_row *e, int col)
{
    switch (col) {
    case 4:
        return &e->model;
    case 5:
        return &e->status;
    case 6:
        return &e->end_reason;
    case 9:
        return &e->answer;
    case 10:
        return &e->verify_info;
    default:
        return &e->error;
    }
}

void ef_store_episode_free(ef_episode_row *ep)
{
    if (!ep)
        return;
    for (size_t i = 0; i < EF_ARRAY_LEN(episode_text_cols); i++)
        ef_free((void *)*episode_text_field(ep, episode_text_cols[i]));
    ef_free(ep);
}

int ef_store_episode_get(ef_store *s, int64_t id, ef_episode_row **out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__row_get(s, EF_ST_EPISODE_GET,
                                  "SELECT " EPISODE_COLUMNS " FROM episodes WHERE id = ?1",
                                  "episode", id, &st);
    if (rc < 0)
        return rc;
    ef_episode_row *e = ef_calloc(1, sizeof *e);
    int ok = e != NULL;
    if (ok) {
        episode_numbers(st, e);
        for (size_t i = 0; i < EF_ARRAY_LEN(episode_text_cols); i++)
            *episode_text_field(e, episode_text_cols[i]) =
                ef_datasets__col_strdup(st, episode_text_cols[i], &ok);
    }
    rc = ef_datasets__row_end(s, st, ok, "episode", id);
    if (rc < 0) {
        ef_store_episode_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int ef_store_episode_count(ef_store *s, int64_t run_id, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    const char *sql = run_id > 0 ? "SELECT count(*) FROM episodes WHERE run_id = ?1"
                                 : "SELECT count(*) FROM episodes";
    int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        if (run_id > 0)
            sqlite3_bind_int64(st, 1, run_id);
        src = sqlite3_step(st);
    }
    int64_t n = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(s, src, "counting episodes");
    *out = n;
    return 0;
}

int ef_store_episode_iter_new(ef_store *s, const ef_episode_filter *filter, ef_episode_iter **out)
{
    ef_episode_filter f = EF_EPISODE_FILTER_INIT;
    if (filter) {
        if (filter->version != EF_EPISODE_FILTER_VERSION)
            return ef_errorf(s->ctx, EF_EINVAL, "episode filter: version %u, expected %u",
                             filter->version, EF_EPISODE_FILTER_VERSION);
        f = *filter;
    }
    if (isnan(f.min_reward))
        return ef_errorf(s->ctx, EF_EINVAL, "episode filter: field 'min_reward' is NaN");
    ef_episode_iter *it = ef_calloc(1, sizeof *it);
    if (!it)
        return ef_errorf(s->ctx, EF_ENOMEM, "%s: out of memory starting an episode iterator",
                         s->path);
    it->s = s;
    /* every filter is always bound; a disabled one compares against itself */
    static const char sql[] =
        "SELECT " EPISODE_COLUMNS ", id FROM episodes e WHERE "
        "(?1 = 0 OR run_id = ?1) AND (?2 = 0 OR task_id = ?2) AND "
        "(?3 = 0 OR task_id IN (SELECT id FROM tasks WHERE env_id = ?3)) AND "
        "(?4 < 0 OR group_id = ?4) AND (?5 = 0 OR verified = 1) AND reward >= ?6 "
        "ORDER BY run_id, group_id, sample_idx, id";
    int src = sqlite3_prepare_v2(s->db, sql, -1, &it->st, NULL);
    if (src != SQLITE_OK) {
        int rc = ef_datasets__sqlerr(s, src, "listing episodes");
        ef_store_episode_iter_free(it);
        return rc;
    }
    sqlite3_bind_int64(it->st, 1, f.run_id);
    sqlite3_bind_int64(it->st, 2, f.task_id);
    sqlite3_bind_int64(it->st, 3, f.env_id);
    sqlite3_bind_int64(it->st, 4, f.group_id);
    sqlite3_bind_int(it->st, 5, f.verified_only ? 1 : 0);
    sqlite3_bind_double(it->st, 6, f.min_reward);
    *out = it;
    return 0;
}

int ef_store_episode_iter_next(ef_episode_iter *it, const ef_episode_row **row, int64_t *episode_id)
{
    int src = sqlite3_step(it->st);
    if (src == SQLITE_DONE)
        return 0;
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(it->s, src, "reading episodes");
    ef_episode_row *e = &it->row;
    episode_numbers(it->st, e);
    for (size_t i = 0; i < EF_ARRAY_LEN(episode_text_cols); i++) {
        int col = episode_text_cols[i];
        const char *t = (const char *)sqlite3_column_text(it->st, col);
        if (!t && sqlite3_column_type(it->st, col) != SQLITE_NULL)
            return ef_errorf(it->s->ctx, EF_ENOMEM, "%s: out of memory reading an episode",
                             it->s->path);
        *episode_text_field(e, col) = t;
    }
    *row = e;
    if (episode_id)
        *episode_id = sqlite3_column_int64(it->st, 24);
    return 1;
}

void ef_store_episode_iter_free(ef_episode_iter *it)
{
    if (!it)
        return;
    sqlite3_finalize(it->st);
    ef_free(it);
}
