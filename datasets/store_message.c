/*
 * datasets/store_message.c — the messages and tool_calls tables: the conversation of an
 * episode in OpenAI chat form (one row per message, numbered by idx) and one row per
 * tool call with its arguments, result, error flag and time. Checks, inserts and lists.
 */
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

/* A field that may be empty (a model may leave an id out) but not NULL. */
static int need_nonnull(ef_ctx *ctx, const char *where, const char *field, const char *v)
{
    if (!v)
        return ef_errorf(ctx, EF_EINVAL, "%s: field '%s' is required (got NULL)", where, field);
    return 0;
}

int ef_datasets__message_validate(ef_ctx *ctx, const char *w, const ef_message_row *m, size_t i)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    char where[192];
    int rc;
    snprintf(where, sizeof where, "%s: messages[%zu]", w, i);
    if ((rc = ef_datasets__need_str(ctx, where, "role", m->role)) < 0)
        return rc;
    int known = 0;
    for (size_t k = 0; k < EF_ARRAY_LEN(roles); k++)
        known |= strcmp(m->role, roles[k]) == 0;
    if (!known)
        return ef_errorf(ctx, EF_EINVAL,
                         "%s: field 'role' = \"%.40s\" is not system, developer, user, "
                         "assistant or tool",
                         where, m->role);
    if (m->idx < -1)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'idx' = %lld must be >= 0 (or -1)", where,
                         (long long)m->idx);
    if (strcmp(m->role, "tool") == 0 &&
        (rc = need_nonnull(ctx, where, "tool_call_id", m->tool_call_id)) < 0)
        return rc;
    return ef_datasets__need_json(ctx, where, "tool_calls_json", m->tool_calls_json, 0);
}

int ef_datasets__tool_call_validate(ef_ctx *ctx, const char *w, const ef_tool_call_row *c, size_t i)
{
    char where[192];
    int rc;
    snprintf(where, sizeof where, "%s: tool_calls[%zu]", w, i);
    if ((rc = need_nonnull(ctx, where, "call_id", c->call_id)) < 0 ||
        (rc = need_nonnull(ctx, where, "tool", c->tool)) < 0)
        return rc;
    /* a failed call keeps the model's arguments as sent, broken or missing ("") */
    if (!c->is_error &&
        (rc = ef_datasets__need_json(ctx, where, "arguments_json", c->arguments_json, 1)) < 0)
        return rc;
    if (c->is_error != 0 && c->is_error != 1)
        return ef_errorf(ctx, EF_EINVAL, "%s: field 'is_error' must be 0 or 1", where);
    if (c->message_idx < 0 || c->wall_ms < 0)
        return ef_errorf(ctx, EF_EINVAL, "%s: fields 'message_idx' and 'wall_ms' must be >= 0",
                         where);
    return 0;
}

static int episode_must_exist(ef_store *s, int64_t episode_id, const char *what)
{
    int exists = 0;
    int rc = ef_datasets__row_exists(s, EF_ST_EPISODE_EXISTS, "episodes", episode_id, &exists);
    if (rc == 0 && !exists)
        rc = ef_errorf(s->ctx, EF_EINVAL, "%s: field 'episode_id' = %lld is not an episode in %s",
                       what, (long long)episode_id, s->path);
    return rc;
}

static int next_message_idx(ef_store *s, int64_t episode_id, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_MESSAGE_NEXT_IDX,
                               "SELECT coalesce(max(idx) + 1, 0) FROM messages "
                               "WHERE episode_id = ?1",
                               &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, episode_id);
    int src = sqlite3_step(st);
    *out = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(s, src, "numbering messages of episode %lld",
                                   (long long)episode_id);
    return 0;
}

static int messages_write(ef_store *s, int64_t episode_id, const ef_message_row *rows, size_t n)
{
    int64_t next = 0;
    int rc = next_message_idx(s, episode_id, &next);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const ef_message_row *m = &rows[i];
        int64_t idx = m->idx >= 0 ? m->idx : next;
        next = EF_MAX(next, idx + 1);
        sqlite3_stmt *st;
        rc = ef_datasets__stmt(s, EF_ST_MESSAGE_INSERT,
                               "INSERT INTO messages(episode_id, idx, role, content, "
                               "reasoning_content, tool_calls, tool_call_id, name) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               &st);
        if (rc < 0)
            break;
        sqlite3_bind_int64(st, 1, episode_id);
        sqlite3_bind_int64(st, 2, idx);
        ef_datasets__bind_text(st, 3, m->role);
        ef_datasets__bind_text(st, 4, m->content);
        ef_datasets__bind_text(st, 5, m->reasoning_content);
        ef_datasets__bind_text(st, 6, m->tool_calls_json);
        ef_datasets__bind_text(st, 7, m->tool_call_id);
        ef_datasets__bind_text(st, 8, m->name);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src == SQLITE_CONSTRAINT_PRIMARYKEY || src == SQLITE_CONSTRAINT_UNIQUE)
            rc = ef_errorf(s->ctx, EF_EEXISTS,
                           "%s: messages[%zu]: episode %lld already has a message with idx %lld",
                           s->path, i, (long long)episode_id, (long long)idx);
        else if (src != SQLITE_DONE)
            rc = ef_datasets__sqlerr(s, src, "inserting messages[%zu] of episode %lld", i,
                                     (long long)episode_id);
    }
    return rc;
}

int ef_store_message_insert(ef_store *s, int64_t episode_id, const ef_message_row *rows, size_t n)
{
    char w[64];
    int rc;
    snprintf(w, sizeof w, "episode %lld", (long long)episode_id);
    if (n && !rows)
        return ef_errorf(s->ctx, EF_EINVAL, "%s: messages is NULL for %zu rows", w, n);
    for (size_t i = 0; i < n; i++)
        if ((rc = ef_datasets__message_validate(s->ctx, w, &rows[i], i)) < 0)
            return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    rc = episode_must_exist(s, episode_id, "messages");
    if (rc == 0)
        rc = messages_write(s, episode_id, rows, n);
    return ef_datasets__tx_end(s, rc);
}

void ef_store_message_list_free(ef_message_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        ef_free((void *)rows[i].role);
        ef_free((void *)rows[i].content);
        ef_free((void *)rows[i].reasoning_content);
        ef_free((void *)rows[i].tool_calls_json);
        ef_free((void *)rows[i].tool_call_id);
        ef_free((void *)rows[i].name);
    }
    ef_free(rows);
}

static void message_read(sqlite3_stmt *st, void *row, int *ok)
{
    ef_message_row *m = row;
    m->idx = sqlite3_column_int64(st, 0);
    m->role = ef_datasets__col_strdup(st, 1, ok);
    m->content = ef_datasets__col_strdup(st, 2, ok);
    m->reasoning_content = ef_datasets__col_strdup(st, 3, ok);
    m->tool_calls_json = ef_datasets__col_strdup(st, 4, ok);
    m->tool_call_id = ef_datasets__col_strdup(st, 5, ok);
    m->name = ef_datasets__col_strdup(st, 6, ok);
}

int ef_store_message_list(ef_store *s, int64_t episode_id, ef_message_row **out, size_t *n_out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_MESSAGE_LIST,
                               "SELECT idx, role, content, reasoning_content, tool_calls, "
                               "tool_call_id, name FROM messages WHERE episode_id = ?1 "
                               "ORDER BY idx",
                               &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, episode_id);
    char what[64];
    snprintf(what, sizeof what, "messages of episode %lld", (long long)episode_id);
    void *rows = NULL;
    size_t n = 0;
    rc = ef_datasets__rows_read(s, st, 0, what, sizeof(ef_message_row), message_read, &rows, &n);
    if (rc < 0) {
        ef_store_message_list_free(rows, n);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

static int tool_calls_write(ef_store *s, int64_t episode_id, const ef_tool_call_row *rows, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const ef_tool_call_row *c = &rows[i];
        sqlite3_stmt *st;
        rc = ef_datasets__stmt(s, EF_ST_TOOL_CALL_INSERT,
                               "INSERT INTO tool_calls(episode_id, message_idx, call_id, tool, "
                               "arguments, result, is_error, wall_ms) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               &st);
        if (rc < 0)
            break;
        sqlite3_bind_int64(st, 1, episode_id);
        sqlite3_bind_int64(st, 2, c->message_idx);
        ef_datasets__bind_text(st, 3, c->call_id);
        ef_datasets__bind_text(st, 4, c->tool);
        ef_datasets__bind_text(st, 5, c->arguments_json ? c->arguments_json : "");
        ef_datasets__bind_text(st, 6, c->result);
        sqlite3_bind_int(st, 7, c->is_error ? 1 : 0);
        sqlite3_bind_int64(st, 8, c->wall_ms);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src != SQLITE_DONE)
            rc = ef_datasets__sqlerr(s, src, "inserting tool_calls[%zu] of episode %lld", i,
                                     (long long)episode_id);
    }
    return rc;
}

int ef_store_tool_call_insert(ef_store *s, int64_t episode_id, const ef_tool_call_row *rows,
                              size_t n)
{
    char w[64];
    int rc;
    snprintf(w, sizeof w, "episode %lld", (long long)episode_id);
    if (n && !rows)
        return ef_errorf(s->ctx, EF_EINVAL, "%s: tool_calls is NULL for %zu rows", w, n);
    for (size_t i = 0; i < n; i++)
        if ((rc = ef_datasets__tool_call_validate(s->ctx, w, &rows[i], i)) < 0)
            return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    rc = episode_must_exist(s, episode_id, "tool_calls");
    if (rc == 0)
        rc = tool_calls_write(s, episode_id, rows, n);
    return ef_datasets__tx_end(s, rc);
}

void ef_store_tool_call_list_free(ef_tool_call_row *rows, size_t n)
{
    if (!rows)
        return;
    for (size_t i = 0; i < n; i++) {
        ef_free((void *)rows[i].call_id);
        ef_free((void *)rows[i].tool);
        ef_free((void *)rows[i].arguments_json);
        ef_free((void *)rows[i].result);
    }
    ef_free(rows);
}

static void tool_call_read(sqlite3_stmt *st, void *row, int *ok)
{
    ef_tool_call_row *c = row;
    c->message_idx = sqlite3_column_int64(st, 0);
    c->call_id = ef_datasets__col_strdup(st, 1, ok);
    c->tool = ef_datasets__col_strdup(st, 2, ok);
    c->arguments_json = ef_datasets__col_strdup(st, 3, ok);
    c->result = ef_datasets__col_strdup(st, 4, ok);
    c->is_error = sqlite3_column_int(st, 5);
    c->wall_ms = sqlite3_column_int64(st, 6);
}

int ef_store_tool_call_list(ef_store *s, int64_t episode_id, ef_tool_call_row **out, size_t *n_out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__stmt(s, EF_ST_TOOL_CALL_LIST,
                               "SELECT message_idx, call_id, tool, arguments, result, is_error, "
                               "wall_ms FROM tool_calls WHERE episode_id = ?1 "
                               "ORDER BY message_idx, id",
                               &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, episode_id);
    char what[64];
    snprintf(what, sizeof what, "tool calls of episode %lld", (long long)episode_id);
    void *rows = NULL;
    size_t n = 0;
    rc =
        ef_datasets__rows_read(s, st, 0, what, sizeof(ef_tool_call_row), tool_call_read, &rows, &n);
    if (rc < 0) {
        ef_store_tool_call_list_free(rows, n);
        return rc;
    }
    *out = rows;
    *n_out = n;
    return 0;
}
