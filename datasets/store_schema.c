/*
 * datasets/store_schema.c — the schema and its migrations. Each migration is one SQL
 * script that takes the file from version v-1 to v, applied in its own BEGIN IMMEDIATE
 * transaction together with its row in `schema_migrations` (so two processes opening a
 * new file at once apply it once). A file whose recorded version is newer than this
 * build's is refused; a SQLite file with tables but no `schema_migrations` is not a store.
 * docs/store.md documents every table and column defined here.
 */
#include <stdio.h>
#include <string.h>
#include "datasets/datasets_int.h"

/* 'EFst': marks the file as an envforge store for tools like `file`. */
#define EF_STORE_APPLICATION_ID 0x45467374

#define NOW "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))"

static const char schema_v1[] =
    "CREATE TABLE envs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  version INTEGER NOT NULL DEFAULT 1,\n"
    "  category TEXT,\n"
    "  description TEXT,\n"
    "  content_hash TEXT NOT NULL UNIQUE,\n"
    "  source_path TEXT,\n"
    "  source TEXT,\n"
    "  tools_json TEXT CHECK (tools_json IS NULL OR json_valid(tools_json)),\n"
    "  created_at TEXT NOT NULL DEFAULT " NOW ");\n"
    "CREATE INDEX envs_name ON envs(name, version);\n"
    "CREATE TABLE tasks(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  env_id INTEGER NOT NULL REFERENCES envs(id),\n"
    "  idx INTEGER NOT NULL,\n"
    "  seed INTEGER NOT NULL,\n"
    "  level INTEGER NOT NULL DEFAULT 0,\n"
    "  content_hash TEXT NOT NULL,\n"
    "  prompt TEXT NOT NULL,\n"
    "  task_json TEXT NOT NULL CHECK (json_valid(task_json)),\n"
    "  created_at TEXT NOT NULL DEFAULT " NOW ",\n"
    "  UNIQUE (env_id, content_hash));\n"
    "CREATE INDEX tasks_env ON tasks(env_id, idx);\n"
    "CREATE INDEX tasks_env_level ON tasks(env_id, level);\n"
    "CREATE TABLE runs(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT UNIQUE,\n"
    "  model TEXT NOT NULL,\n"
    "  config_json TEXT CHECK (config_json IS NULL OR json_valid(config_json)),\n"
    "  seed INTEGER NOT NULL DEFAULT 0,\n"
    "  group_size INTEGER NOT NULL DEFAULT 1,\n"
    "  shard_index INTEGER NOT NULL DEFAULT 0,\n"
    "  shard_count INTEGER NOT NULL DEFAULT 1,\n"
    "  status TEXT NOT NULL DEFAULT 'running',\n"
    "  host TEXT,\n"
    "  started_at TEXT NOT NULL DEFAULT " NOW ",\n"
    "  finished_at TEXT);\n"
    "CREATE TABLE episodes(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id),\n"
    "  task_id INTEGER NOT NULL REFERENCES tasks(id),\n"
    "  group_id INTEGER NOT NULL,\n"
    "  sample_idx INTEGER NOT NULL CHECK (sample_idx >= 0),\n"
    "  model TEXT,\n"
    "  status TEXT NOT NULL,\n"
    "  end_reason TEXT NOT NULL,\n"
    "  reward REAL NOT NULL CHECK (reward >= 0.0 AND reward <= 1.0),\n"
    "  verified INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),\n"
    "  answer TEXT,\n"
    "  verify_info TEXT CHECK (verify_info IS NULL OR json_valid(verify_info)),\n"
    "  error TEXT,\n"
    "  n_turns INTEGER NOT NULL DEFAULT 0,\n"
    "  n_tool_calls INTEGER NOT NULL DEFAULT 0,\n"
    "  n_tool_errors INTEGER NOT NULL DEFAULT 0,\n"
    "  n_parse_errors INTEGER NOT NULL DEFAULT 0,\n"
    "  n_context_resets INTEGER NOT NULL DEFAULT 0,\n"
    "  n_prompt_tokens INTEGER NOT NULL DEFAULT 0,\n"
    "  n_completion_tokens INTEGER NOT NULL DEFAULT 0,\n"
    "  wall_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  model_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  tool_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  verify_ms INTEGER NOT NULL DEFAULT 0,\n"
    "  started_at TEXT NOT NULL,\n"
    "  created_at TEXT NOT NULL DEFAULT " NOW ",\n"
    "  UNIQUE (run_id, task_id, sample_idx));\n"
    "CREATE INDEX episodes_task ON episodes(task_id);\n"
    "CREATE INDEX episodes_group ON episodes(run_id, group_id, sample_idx);\n"
    "CREATE TABLE messages(\n"
    "  episode_id INTEGER NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,\n"
    "  idx INTEGER NOT NULL CHECK (idx >= 0),\n"
    "  role TEXT NOT NULL CHECK (role IN ('system','developer','user','assistant','tool')),\n"
    "  content TEXT,\n"
    "  reasoning_content TEXT,\n"
    "  tool_calls TEXT CHECK (tool_calls IS NULL OR json_valid(tool_calls)),\n"
    "  tool_call_id TEXT,\n"
    "  name TEXT,\n"
    "  PRIMARY KEY (episode_id, idx));\n"
    "CREATE TABLE tool_calls(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  episode_id INTEGER NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,\n"
    "  message_idx INTEGER NOT NULL,\n"
    "  call_id TEXT NOT NULL,\n"
    "  tool TEXT NOT NULL,\n"
    "  arguments TEXT NOT NULL,\n"
    "  result TEXT,\n"
    "  is_error INTEGER NOT NULL DEFAULT 0 CHECK (is_error IN (0, 1)),\n"
    "  wall_ms INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX tool_calls_episode ON tool_calls(episode_id, message_idx);\n"
    "CREATE INDEX tool_calls_tool ON tool_calls(tool, is_error);\n"
    "CREATE TABLE token_streams(\n"
    "  episode_id INTEGER PRIMARY KEY REFERENCES episodes(id) ON DELETE CASCADE,\n"
    "  n_tokens INTEGER NOT NULL,\n"
    "  n_model_tokens INTEGER NOT NULL,\n"
    "  token_ids BLOB NOT NULL,\n"
    "  loss_mask BLOB NOT NULL,\n"
    "  logprobs BLOB,\n"
    "  topp_offsets BLOB,\n"
    "  topp_ids BLOB,\n"
    "  route_layers INTEGER NOT NULL DEFAULT 0,\n"
    "  route_topk INTEGER NOT NULL DEFAULT 0,\n"
    "  route_bytes INTEGER NOT NULL DEFAULT 0 CHECK (route_bytes IN (0, 1, 2)),\n"
    "  routes BLOB,\n"
    "  CHECK (length(token_ids) = 4 * n_tokens AND length(loss_mask) = n_tokens));\n"
    "CREATE TABLE events(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER REFERENCES runs(id),\n"
    "  episode_id INTEGER REFERENCES episodes(id) ON DELETE CASCADE,\n"
    "  kind TEXT NOT NULL,\n"
    "  payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),\n"
    "  time TEXT NOT NULL);\n"
    "CREATE INDEX events_episode ON events(episode_id, time);\n"
    "CREATE INDEX events_run ON events(run_id, kind, time);\n";

typedef struct {
    int64_t version;
    const char *description;
    const char *sql;
} migration;

static const migration migrations[] = {
    {1, "envs, tasks, runs, episodes, messages, tool_calls, token_streams, events", schema_v1},
};

static int single_int(ef_store *s, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "running \"%s\"", sql);
    return 0;
}

/* The recorded version: 0 for an empty file; an error for a foreign database. Whether
 * schema_migrations exists and how many tables there are is read by one statement, so
 * both come from one snapshot: two reads could see another process's migration commit
 * between them and take a store being created for a foreign database. */
static int current_version(ef_store *s, int64_t *out)
{
    static const char sql[] =
        "SELECT coalesce(sum(type = 'table' AND name = 'schema_migrations'), 0),"
        " coalesce(sum(name NOT LIKE 'sqlite_%'), 0) FROM sqlite_master";
    sqlite3_stmt *st = NULL;
    int64_t has = 0, n_tables = 0;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        has = sqlite3_column_int64(st, 0);
        n_tables = sqlite3_column_int64(st, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "reading the schema");
    if (!has) {
        if (n_tables > 0)
            return ef_errorf(s->ctx, EF_EPARSE,
                             "%s: a SQLite database but not an envforge store (it has %lld "
                             "tables and no schema_migrations table); give another path",
                             s->path, (long long)n_tables);
        *out = 0;
        return 0;
    }
    return single_int(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", out);
}

int ef_datasets__check_ours(ef_store *s, int *empty)
{
    int64_t v = 0;
    int rc = current_version(s, &v);
    if (rc == 0)
        *empty = v == 0;
    return rc;
}

static int check_not_newer(ef_store *s, int64_t v)
{
    if (v > EF_STORE_SCHEMA_VERSION)
        return ef_errorf(s->ctx, EF_EUNSUPPORTED,
                         "%s: store schema version %lld is newer than this build of envforge "
                         "(%s) reads (version %d); use a newer envforge",
                         s->path, (long long)v, EF_VERSION, EF_STORE_SCHEMA_VERSION);
    return 0;
}

static int apply(ef_store *s, const migration *m)
{
    int rc = ef_datasets__tx_begin(s);
    if (rc < 0)
        return rc;
    int64_t v = 0;
    /* re-read inside the write lock: another process may have just migrated */
    rc = current_version(s, &v);
    if (rc == 0)
        rc = check_not_newer(s, v);
    if (rc == 0 && v < m->version) {
        if (v == 0)
            rc = ef_datasets__exec(s, "CREATE TABLE schema_migrations(\n"
                                      "  version INTEGER PRIMARY KEY,\n"
                                      "  description TEXT NOT NULL,\n"
                                      "  applied_at TEXT NOT NULL DEFAULT " NOW ");");
        if (rc == 0)
            rc = ef_datasets__exec(s, m->sql);
        if (rc == 0) {
            char sql[512];
            snprintf(sql, sizeof sql,
                     "INSERT INTO schema_migrations(version, description) VALUES (%lld, '%s');"
                     "PRAGMA user_version=%lld; PRAGMA application_id=%d;",
                     (long long)m->version, m->description, (long long)m->version,
                     EF_STORE_APPLICATION_ID);
            rc = ef_datasets__exec(s, sql);
        }
        if (rc < 0)
            ef_error_wrap(s->ctx, rc, "%s: migrating the schema to version %lld", s->path,
                          (long long)m->version);
    }
    return ef_datasets__tx_end(s, rc);
}

int ef_datasets__migrate(ef_store *s)
{
    int64_t v = 0;
    int rc = current_version(s, &v);
    if (rc < 0)
        return rc;
    if ((rc = check_not_newer(s, v)) < 0)
        return rc;
    for (size_t i = 0; i < EF_ARRAY_LEN(migrations); i++) {
        if (migrations[i].version <= v)
            continue;
        if (s->read_only && v == 0)
            return ef_errorf(s->ctx, EF_ENOTFOUND,
                             "%s: empty (no envforge store in it yet); give the path of a "
                             "store that `envforge gen --db` or `envforge run --db` wrote",
                             s->path);
        if (s->read_only)
            return ef_errorf(s->ctx, EF_EUNSUPPORTED,
                             "%s: store schema version %lld needs migrating to %lld; open it "
                             "once for writing",
                             s->path, (long long)v, (long long)migrations[i].version);
        if ((rc = apply(s, &migrations[i])) < 0)
            return rc;
    }
    return 0;
}

int ef_store_schema_version(ef_store *s, int64_t *out)
{
    int64_t v = 0;
    int rc = single_int(s, "SELECT coalesce(max(version), 0) FROM schema_migrations", &v);
    if (rc < 0)
        return rc;
    *out = v;
    return 0;
}
