/*
 * datasets/store_env.c — the envs table: one row per distinct env source (by content
 * hash), inserted once and found again by hash or by name; plus the input checks the
 * other tables share (required strings, JSON, hex hashes).
 */
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

int ef_datasets__need_str(ef_ctx *ctx, const char *where, const char *field, const char *v)
{
    if (!v || !*v)
        return ef_errorf(ctx, EF_EINVAL, "%s: field '%s' is required (got %s)", where, field,
                         v ? "an empty string" : "NULL");
    return 0;
}

int ef_datasets__need_json(ef_ctx *ctx, const char *where, const char *field, const char *v,
                           int required)
{
    if (!v) {
        if (required)
            return ef_errorf(ctx, EF_EINVAL, "%s: field '%s' is required (got NULL)", where, field);
        return 0;
    }
    if (!ef_datasets__json_valid(v))
        return ef_errorf(ctx, EF_EINVAL, "%s: field '%s' is not valid JSON: \"%.80s%s\"", where,
                         field, v, strlen(v) > 80 ? "..." : "");
    return 0;
}

int ef_datasets__need_hex(ef_ctx *ctx, const char *where, const char *field, const char *v)
{
    int rc = ef_datasets__need_str(ctx, where, field, v);
    if (rc < 0)
        return rc;
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return ef_errorf(ctx, EF_EINVAL,
                             "%s: field '%s' must be hex digits (a sha256), got \"%.80s\"", where,
                             field, v);
    }
    return 0;
}

static int env_validate(ef_ctx *ctx, const ef_env_row *e)
{
    const char *w = "env";
    int rc;
    if (!e)
        return ef_errorf(ctx, EF_EINVAL, "env: the row is NULL");
    if ((rc = ef_datasets__need_str(ctx, w, "name", e->name)) < 0 ||
        (rc = ef_datasets__need_hex(ctx, w, "content_hash", e->content_hash)) < 0 ||
        (rc = ef_datasets__need_json(ctx, w, "tools_json", e->tools_json, 0)) < 0)
        return ef_error_wrap(ctx, rc, "env '%s'", e->name ? e->name : "(no name)");
    return 0;
}

static int env_by_hash(ef_store *s, const char *hash, int64_t *out, int *found)
{
    sqlite3_stmt *st;
    int rc =
        ef_datasets__stmt(s, EF_ST_ENV_BY_HASH, "SELECT id FROM envs WHERE content_hash = ?1", &st);
    if (rc < 0)
        return rc;
    ef_datasets__bind_text(st, 1, hash);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "looking up env by content_hash %s", hash);
    *found = src == SQLITE_ROW;
    return 0;
}

int ef_store_env_insert(ef_store *s, const ef_env_row *env, int64_t *out_id)
{
    int rc = env_validate(s->ctx, env);
    if (rc < 0)
        return rc;
    if ((rc = ef_datasets__tx_begin(s)) < 0)
        return rc;
    int64_t id = 0;
    int found = 0;
    rc = env_by_hash(s, env->content_hash, &id, &found);
    if (rc == 0 && !found) {
        /* the same name and version with other content: both are kept (tasks name their
         * env by id), but stats and exports group by name, so say so */
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(s->db,
                               "SELECT content_hash FROM envs WHERE name = ?1 AND version = ?2 "
                               "LIMIT 1",
                               -1, &q, NULL) == SQLITE_OK) {
            ef_datasets__bind_text(q, 1, env->name);
            sqlite3_bind_int64(q, 2, env->version);
            if (sqlite3_step(q) == SQLITE_ROW)
                EF_LOG_W(s->ctx,
                         "env '%s' version %lld is already in %s with other content (source "
                         "hash %.12s, now %.12s); both are kept, and statistics by env name "
                         "mix them: give a changed env a new version",
                         env->name, (long long)env->version, s->path,
                         (const char *)sqlite3_column_text(q, 0), env->content_hash);
        }
        sqlite3_finalize(q);
        sqlite3_stmt *st;
        rc = ef_datasets__stmt(s, EF_ST_ENV_INSERT,
                               "INSERT INTO envs(name, version, category, description, "
                               "content_hash, source_path, source, tools_json) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                               &st);
        if (rc == 0) {
            ef_datasets__bind_text(st, 1, env->name);
            sqlite3_bind_int64(st, 2, env->version);
            ef_datasets__bind_text(st, 3, env->category);
            ef_datasets__bind_text(st, 4, env->description);
            ef_datasets__bind_text(st, 5, env->content_hash);
            ef_datasets__bind_text(st, 6, env->source_path);
            ef_datasets__bind_text(st, 7, env->source);
            ef_datasets__bind_text(st, 8, env->tools_json);
            int src = sqlite3_step(st);
            sqlite3_reset(st);
            if (src != SQLITE_DONE)
                rc = ef_datasets__sqlerr(s, src, "inserting env '%s'", env->name);
            else
                id = sqlite3_last_insert_rowid(s->db);
        }
    }
    rc = ef_datasets__tx_end(s, rc);
    if (rc == 0 && out_id)
        *out_id = id;
    return rc;
}

void ef_store_env_free(ef_env_row *env)
{
    if (!env)
        return;
    ef_free((void *)env->name);
    ef_free((void *)env->category);
    ef_free((void *)env->description);
    ef_free((void *)env->content_hash);
    ef_free((void *)env->source_path);
    ef_free((void *)env->source);
    ef_free((void *)env->tools_json);
    ef_free(env);
}

int ef_store_env_get(ef_store *s, int64_t id, ef_env_row **out)
{
    sqlite3_stmt *st;
    int rc = ef_datasets__row_get(s, EF_ST_ENV_GET,
                                  "SELECT name, version, category, description, content_hash, "
                                  "source_path, source, tools_json FROM envs WHERE id = ?1",
                                  "env", id, &st);
    if (rc < 0)
        return rc;
    ef_env_row *e = ef_calloc(1, sizeof *e);
    int ok = e != NULL;
    if (ok) {
        e->name = ef_datasets__col_strdup(st, 0, &ok);
        e->version = sqlite3_column_int64(st, 1);
        e->category = ef_datasets__col_strdup(st, 2, &ok);
        e->description = ef_datasets__col_strdup(st, 3, &ok);
        e->content_hash = ef_datasets__col_strdup(st, 4, &ok);
        e->source_path = ef_datasets__col_strdup(st, 5, &ok);
        e->source = ef_datasets__col_strdup(st, 6, &ok);
        e->tools_json = ef_datasets__col_strdup(st, 7, &ok);
    }
    rc = ef_datasets__row_end(s, st, ok, "env", id);
    if (rc < 0) {
        ef_store_env_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

int ef_store_env_find(ef_store *s, const char *name, int64_t *out_id)
{
    return ef_datasets__id_by_name(s, EF_ST_ENV_FIND,
                                   "SELECT id FROM envs WHERE name = ?1 "
                                   "ORDER BY version DESC, id DESC LIMIT 1",
                                   "env", name, out_id);
}
