/*
 * datasets/datasets_int.h — what the store's files share and nobody else sees: the
 * store struct, its cache of prepared statements, SQLite error mapping, transactions,
 * and small binding/copying helpers.
 */
#ifndef EF_DATASETS_INT_H
#define EF_DATASETS_INT_H

#include <sqlite3.h>
#include "datasets/datasets.h"

/* Cached statements, one slot each (prepared on first use, reset after each use). */
enum {
    EF_ST_ENV_BY_HASH,
    EF_ST_ENV_INSERT,
    EF_ST_ENV_GET,
    EF_ST_ENV_FIND,
    EF_ST_ENV_EXISTS,
    EF_ST_TASK_INSERT,
    EF_ST_TASK_GET,
    EF_ST_TASK_EXISTS,
    EF_ST_RUN_INSERT,
    EF_ST_RUN_NAME,
    EF_ST_RUN_FIND,
    EF_ST_RUN_GET,
    EF_ST_RUN_EXISTS,
    EF_ST_RUN_STATUS,
    EF_ST_EPISODE_INSERT,
    EF_ST_EPISODE_FIND,
    EF_ST_EPISODE_GET,
    EF_ST_EPISODE_EXISTS,
    EF_ST_MESSAGE_INSERT,
    EF_ST_MESSAGE_NEXT_IDX,
    EF_ST_MESSAGE_LIST,
    EF_ST_TOOL_CALL_INSERT,
    EF_ST_TOOL_CALL_LIST,
    EF_ST_TOKENS_INSERT,
    EF_ST_TOKENS_GET,
    EF_ST_EVENT_INSERT,
    EF_ST_COUNT_
};

struct ef_store {
    sqlite3 *db;
    ef_ctx *ctx;
    char *path;
    int tx_depth; /* 0: no transaction; 1: BEGIN IMMEDIATE; > 1: savepoints */
    int read_only;
    sqlite3_stmt *stmts[EF_ST_COUNT_];
};

/* Maps a SQLite result code to an ef_error code. */
int ef_datasets__code(int sqlite_rc);
/* Records "PATH: <what>: <sqlite message>" on the store's ctx; returns the mapped code. */
int ef_datasets__sqlerr(ef_store *s, int sqlite_rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The cached statement `id`, prepared from sql the first time. Reset, bindings cleared. */
int ef_datasets__stmt(ef_store *s, int id, const char *sql, sqlite3_stmt **out);
/* Runs SQL text without results. */
int ef_datasets__exec(ef_store *s, const char *sql);
/* Transaction helpers (the public begin/commit/rollback). end: commit when rc == 0,
 * roll back otherwise; returns rc, or the commit's error. */
int ef_datasets__tx_begin(ef_store *s);
int ef_datasets__tx_end(ef_store *s, int rc);

/* Binding: NULL text binds SQL NULL. */
int ef_datasets__bind_text(sqlite3_stmt *st, int i, const char *text);
/* Copies column i as a string (NULL for SQL NULL); *ok set to 0 when out of memory. */
char *ef_datasets__col_strdup(sqlite3_stmt *st, int i, int *ok);
/* Grows *rows (elements of elem bytes, zeroed) to hold n + 1; 0 or EF_ENOMEM. */
int ef_datasets__grow(void **rows, size_t elem, size_t n, size_t *cap);
/* "2026-11-23T02:14:05.123Z" for unix seconds t (0: now). buf >= 32 bytes. */
void ef_datasets__iso_time(double t, char *buf, size_t cap);
/* 1 when text is one valid JSON value (RFC 8259; nesting up to 512 deep). No allocation. */
int ef_datasets__json_valid(const char *text);
/* 1 when id is a row of table (envs, runs, tasks, episodes). */
int ef_datasets__row_exists(ef_store *s, int stmt_id, const char *table, int64_t id, int *exists);
/* Reading one row by id (the *_get functions): steps the cached statement stmt_id (sql
 * with ?1 = id) onto the row; on 0 the caller reads its columns and then calls
 * ef_datasets__row_end. Otherwise the statement is reset and the error is recorded:
 * EF_ENOTFOUND "PATH: no <what> with id N" or the SQLite error "reading <what> N". */
int ef_datasets__row_get(ef_store *s, int stmt_id, const char *sql, const char *what, int64_t id,
                         sqlite3_stmt **out);
/* Resets st after the columns were read; EF_ENOMEM "PATH: out of memory reading <what> N"
 * when ok is 0 (the caller frees its partial row), else 0. */
int ef_datasets__row_end(ef_store *s, sqlite3_stmt *st, int ok, const char *what, int64_t id);

/* Reading all rows (the *_list functions): steps st (bound by the caller) to the end,
 * growing *rows by row_bytes (zeroed) per row and letting read_row fill it (it sets *ok to
 * 0 when out of memory), then resets st, or finalizes it when finalize. On an error *rows
 * and *n hold what was read, for the caller's free, and the message is "PATH: out of
 * memory listing <what>" (EF_ENOMEM) or the SQLite error "listing <what>". */
typedef void (*ef_datasets__row_read_fn)(sqlite3_stmt *st, void *row, int *ok);
int ef_datasets__rows_read(ef_store *s, sqlite3_stmt *st, int finalize, const char *what,
                           size_t row_bytes, ef_datasets__row_read_fn read_row, void **rows,
                           size_t *n);
/* The id of the newest row named name (the *_find functions): stmt_id's sql selects id
 * with ?1 = name. EF_EINVAL for a NULL or empty name ("<what>_find: field 'name' ..."),
 * EF_ENOTFOUND "PATH: no <what> named 'NAME'", or the SQLite error. */
int ef_datasets__id_by_name(ef_store *s, int stmt_id, const char *sql, const char *what,
                            const char *name, int64_t *out_id);

/* Input checks; messages read "<where>: field 'name' ..." and return EF_EINVAL. */
int ef_datasets__need_str(ef_ctx *ctx, const char *where, const char *field, const char *v);
/* v may be NULL unless required; otherwise valid JSON. */
int ef_datasets__need_json(ef_ctx *ctx, const char *where, const char *field, const char *v,
                           int required);
/* v is a non-empty string of hex digits. */
int ef_datasets__need_hex(ef_ctx *ctx, const char *where, const char *field, const char *v);

/* Schema: the migrations in order; applies the missing ones. */
int ef_datasets__migrate(ef_store *s);
/* Before anything is changed in the file (journal mode, schema): 0 when it is an envforge
 * store or an empty database (*empty = 1: no tables yet); an error naming the file when
 * it is a foreign database. store_schema.c. */
int ef_datasets__check_ours(ef_store *s, int *empty);

/* Episodes: insert a bundle inside the caller's transaction (no begin/commit here);
 * validate first with ef_store_bundle_validate. */
int ef_datasets__bundle_write(ef_store *s, const ef_episode_bundle *b, int64_t *out_id);
int ef_datasets__event_write(ef_store *s, const ef_event_row *ev, int64_t run_id,
                             int64_t episode_id, int64_t *out_id);
int ef_datasets__message_validate(ef_ctx *ctx, const char *where, const ef_message_row *m,
                                  size_t i);
int ef_datasets__tool_call_validate(ef_ctx *ctx, const char *where, const ef_tool_call_row *c,
                                    size_t i);
int ef_datasets__event_validate(ef_ctx *ctx, const ef_event_row *ev, const char *where);

#endif
