/*
 * datasets/store.c — opening and closing a store, in order: open the SQLite file,
 * make sure it is a SQLite database and an envforge store, set WAL, the busy timeout,
 * foreign keys and the sync level, then bring the schema up to this build's version.
 * Also the shared plumbing: SQLite error mapping, the prepared-statement cache,
 * nested transactions and integrity checks.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "datasets/datasets_int.h"

int ef_datasets_available(void)
{
    return 1;
}

const char *ef_datasets_missing(void)
{
    return "this part of the datasets component (export, stats, report) has not landed yet; "
           "the store itself is available";
}

/* ---- errors ------------------------------------------------------------------------ */

int ef_datasets__code(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
        return EF_OK;
    case SQLITE_NOMEM:
        return EF_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EF_ETIMEOUT;
    case SQLITE_NOTADB:
        return EF_EPARSE;
    case SQLITE_CANTOPEN:
        return EF_ENOTFOUND;
    case SQLITE_IOERR:
    case SQLITE_FULL:
        return EF_EIO;
    case SQLITE_CONSTRAINT:
        if (sqlite_rc == SQLITE_CONSTRAINT_UNIQUE || sqlite_rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return EF_EEXISTS;
        return EF_EINVAL;
    default:
        return EF_ESTORE;
    }
}

int ef_datasets__sqlerr(ef_store *s, int sqlite_rc, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(sqlite_rc);
    int code = ef_datasets__code(sqlite_rc);
    return ef_errorf(s->ctx, code, "%s: %s: %s", s->path ? s->path : "(store)", what,
                     msg ? msg : sqlite3_errstr(sqlite_rc));
}

/* ---- statements ---------------------------------------------------------------------- */

int ef_datasets__stmt(ef_store *s, int id, const char *sql, sqlite3_stmt **out)
{
    sqlite3_stmt *st = s->stmts[id];
    if (!st) {
        int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
            return ef_datasets__sqlerr(s, rc, "preparing statement %d", id);
        s->stmts[id] = st;
    } else {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    *out = st;
    return 0;
}

int ef_datasets__exec(ef_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "running \"%.60s\"", sql);
    return 0;
}

int ef_datasets__bind_text(sqlite3_stmt *st, int i, const char *text)
{
    if (!text)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
}

char *ef_datasets__col_strdup(sqlite3_stmt *st, int i, int *ok)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    const char *t = (const char *)sqlite3_column_text(st, i);
    int len = sqlite3_column_bytes(st, i);
    if (!t) {
        *ok = 0;
        return NULL;
    }
    char *d = ef_strndup(t, (size_t)len);
    if (!d)
        *ok = 0;
    return d;
}

/* Grows *rows (of elem bytes) to hold one more; 0 or EF_ENOMEM. */
int ef_datasets__grow(void **rows, size_t elem, size_t n, size_t *cap)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = ef_realloc(*rows, ncap * elem);
    if (!p)
        return EF_ENOMEM;
    memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
    *rows = p;
    *cap = ncap;
    return 0;
}

void ef_datasets__iso_time(double t, char *buf, size_t cap)
{
    struct timespec ts;
    if (t > 0) {
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
    }
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

int ef_datasets__row_exists(ef_store *s, int stmt_id, const char *table, int64_t id, int *exists)
{
    /* table is one of a fixed set of names, never user text */
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?1", table);
    sqlite3_stmt *st = NULL;
    int rc = ef_datasets__stmt(s, stmt_id, sql, &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "looking up %s id %lld", table, (long long)id);
    *exists = src == SQLITE_ROW;
    return 0;
}

int ef_datasets__row_get(ef_store *s, int stmt_id, const char *sql, const char *what, int64_t id,
                         sqlite3_stmt **out)
{
    sqlite3_stmt *st = NULL;
    int rc = ef_datasets__stmt(s, stmt_id, sql, &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        sqlite3_reset(st);
        if (src == SQLITE_DONE)
            return ef_errorf(s->ctx, EF_ENOTFOUND, "%s: no %s with id %lld", s->path, what,
                             (long long)id);
        return ef_datasets__sqlerr(s, src, "reading %s %lld", what, (long long)id);
    }
    *out = st;
    return 0;
}

int ef_datasets__row_end(ef_store *s, sqlite3_stmt *st, int ok, const char *what, int64_t id)
{
    sqlite3_reset(st);
    if (!ok)
        return ef_errorf(s->ctx, EF_ENOMEM, "%s: out of memory reading %s %lld", s->path, what,
                         (long long)id);
    return 0;
}

int ef_datasets__rows_read(ef_store *s, sqlite3_stmt *st, int finalize, const char *what,
                           size_t row_bytes, ef_datasets__row_read_fn read_row, void **rows,
                           size_t *n)
{
    size_t cap = 0;
    int src, ok = 1;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (ef_datasets__grow(rows, row_bytes, *n, &cap) < 0) {
            ok = 0;
            break;
        }
        read_row(st, (char *)*rows + row_bytes * (*n)++, &ok);
        if (!ok)
            break;
    }
    if (finalize)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
    if (!ok)
        return ef_errorf(s->ctx, EF_ENOMEM, "%s: out of memory listing %s", s->path, what);
    if (src != SQLITE_DONE)
        return ef_datasets__sqlerr(s, src, "listing %s", what);
    return 0;
}

int ef_datasets__id_by_name(ef_store *s, int stmt_id, const char *sql, const char *what,
                            const char *name, int64_t *out_id)
{
    char where[64];
    snprintf(where, sizeof where, "%s_find", what);
    int rc = ef_datasets__need_str(s->ctx, where, "name", name);
    if (rc < 0)
        return rc;
    sqlite3_stmt *st;
    if ((rc = ef_datasets__stmt(s, stmt_id, sql, &st)) < 0)
        return rc;
    ef_datasets__bind_text(st, 1, name);
    int src = sqlite3_step(st);
    int64_t id = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (src == SQLITE_DONE)
        return ef_errorf(s->ctx, EF_ENOTFOUND, "%s: no %s named '%s'", s->path, what, name);
    if (src != SQLITE_ROW)
        return ef_datasets__sqlerr(s, src, "looking up %s '%s'", what, name);
    *out_id = id;
    return 0;
}

/* ---- transactions -------------------------------------------------------------------- */

int ef_datasets__tx_begin(ef_store *s)
{
    char sql[48];
    if (s->tx_depth == 0)
        snprintf(sql, sizeof sql, "BEGIN IMMEDIATE");
    else
        snprintf(sql, sizeof sql, "SAVEPOINT ef_sp%d", s->tx_depth);
    int rc = ef_datasets__exec(s, sql);
    if (rc < 0)
        return rc;
    s->tx_depth++;
    return 0;
}

static int tx_commit(ef_store *s)
{
    char sql[48];
    if (s->tx_depth <= 0)
        return ef_errorf(s->ctx, EF_EINVAL, "%s: commit without a transaction", s->path);
    if (s->tx_depth == 1)
        snprintf(sql, sizeof sql, "COMMIT");
    else
        snprintf(sql, sizeof sql, "RELEASE ef_sp%d", s->tx_depth - 1);
    int rc = ef_datasets__exec(s, sql);
    if (rc < 0) {
        /* A failed COMMIT leaves the transaction open (e.g. busy): undo it so the
         * connection stays usable; the caller sees the commit's error. */
        if (s->tx_depth == 1 && !sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->tx_depth--;
        return rc;
    }
    s->tx_depth--;
    return 0;
}

static int tx_rollback(ef_store *s)
{
    char sql[80];
    if (s->tx_depth <= 0)
        return ef_errorf(s->ctx, EF_EINVAL, "%s: rollback without a transaction", s->path);
    if (s->tx_depth == 1)
        snprintf(sql, sizeof sql, "ROLLBACK");
    else
        snprintf(sql, sizeof sql, "ROLLBACK TO ef_sp%d; RELEASE ef_sp%d", s->tx_depth - 1,
                 s->tx_depth - 1);
    s->tx_depth--;
    /* SQLite may already have rolled back by itself (some errors do that). */
    if (s->tx_depth == 0 && sqlite3_get_autocommit(s->db))
        return 0;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "rolling back");
    return 0;
}

int ef_datasets__tx_end(ef_store *s, int rc)
{
    if (rc == 0)
        return tx_commit(s);
    /* keep the first error's message: the rollback's own error is secondary */
    tx_rollback(s);
    return rc;
}

int ef_store_begin(ef_store *s)
{
    return ef_datasets__tx_begin(s);
}

int ef_store_commit(ef_store *s)
{
    return tx_commit(s);
}

int ef_store_rollback(ef_store *s)
{
    return tx_rollback(s);
}

/* ---- opening --------------------------------------------------------------------------- */

/* A first read: SQLite opens lazily, so a file that is not a database shows here. */
static int probe_database(ef_store *s)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if ((rc & 0xff) == SQLITE_NOTADB)
        return ef_errorf(s->ctx, EF_EPARSE,
                         "%s: not a SQLite database (%s); give the path of an envforge store "
                         "or of a file to create",
                         s->path, sqlite3_errmsg(s->db));
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "reading the database header");
    return 0;
}

static int pragma_text(ef_store *s, const char *sql, char *buf, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        snprintf(buf, cap, "%s", t ? t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        buf[0] = '\0';
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "running \"%s\"", sql);
    return 0;
}

static int configure(ef_store *s, const ef_store_options *o)
{
    int rc;
    if (!s->read_only) {
        char mode[32];
        /* Switching a new file to WAL needs it to itself, and SQLite answers "locked"
         * at once instead of calling the busy handler: retry within the busy timeout. */
        uint64_t until = ef_now_ns() + (uint64_t)o->busy_timeout_ms * 1000000ull;
        while ((rc = pragma_text(s, "PRAGMA journal_mode=WAL", mode, sizeof mode)) == EF_ETIMEOUT &&
               ef_now_ns() < until) {
            struct timespec nap = {0, 5 * 1000 * 1000};
            nanosleep(&nap, NULL);
        }
        if (rc < 0)
            return rc;
        if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
            return ef_errorf(s->ctx, EF_ESTORE,
                             "%s: could not switch the journal to WAL (got \"%s\"); the "
                             "file system may not support shared memory (network mounts)",
                             s->path, mode);
    }
    if ((rc = ef_datasets__exec(s, "PRAGMA foreign_keys=ON")) < 0)
        return rc;
    /* after a checkpoint, cut a WAL that big batches grew back to 64 MiB */
    if (!s->read_only && (rc = ef_datasets__exec(s, "PRAGMA journal_size_limit=67108864")) < 0)
        return rc;
    return ef_datasets__exec(s, o->synchronous_full ? "PRAGMA synchronous=FULL"
                                                    : "PRAGMA synchronous=NORMAL");
}

int ef_store_open_ext(ef_ctx *ctx, const char *path, const ef_store_options *opts, ef_store **out)
{
    ef_store_options o = EF_STORE_OPTIONS_INIT;
    ef_store *s = NULL;
    int rc;
    if (!path || !*path || !out)
        return ef_errorf(ctx, EF_EINVAL, "ef_store_open: path and out are required");
    if (opts) {
        if (opts->version != EF_STORE_OPTIONS_VERSION)
            return ef_errorf(ctx, EF_EINVAL, "ef_store_open: options version %u, expected %u",
                             opts->version, EF_STORE_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.busy_timeout_ms < 0)
        o.busy_timeout_ms = 0;
    s = ef_calloc(1, sizeof *s);
    if (!s)
        return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory opening the store", path);
    s->ctx = ctx;
    s->read_only = o.read_only;
    s->path = ef_strdup(path);
    if (!s->path) {
        rc = ef_errorf(ctx, EF_ENOMEM, "%s: out of memory opening the store", path);
        goto cleanup;
    }
    int flags = o.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int src = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (src != SQLITE_OK) {
        if (!s->db)
            src = SQLITE_NOMEM;
        rc = ef_errorf(ctx, ef_datasets__code(src), "%s: cannot open the store: %s", path,
                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
        goto cleanup;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* before the first read: another process may be creating the same file right now */
    sqlite3_busy_timeout(s->db, o.busy_timeout_ms);
    if ((rc = probe_database(s)) < 0)
        goto cleanup;
    /* refuse a foreign database before configure() switches its journal to WAL */
    int empty = 0;
    if ((rc = ef_datasets__check_ours(s, &empty)) < 0)
        goto cleanup;
    if ((rc = configure(s, &o)) < 0)
        goto cleanup;
    if ((rc = ef_datasets__migrate(s)) < 0)
        goto cleanup;
    *out = s;
    return 0;
cleanup:
    ef_store_close(s);
    return rc;
}

int ef_store_open(ef_ctx *ctx, const char *path, ef_store **out)
{
    return ef_store_open_ext(ctx, path, NULL, out);
}

void ef_store_close(ef_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < EF_ST_COUNT_; i++)
        sqlite3_finalize(s->stmts[i]);
    if (s->db) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(s->db);
    }
    ef_free(s->path);
    ef_free(s);
}

ef_ctx *ef_store_ctx(ef_store *s)
{
    return s->ctx;
}

const char *ef_store_path(const ef_store *s)
{
    return s->path;
}

int ef_store_check(ef_store *s)
{
    char res[256];
    int rc = pragma_text(s, "PRAGMA integrity_check", res, sizeof res);
    if (rc < 0)
        return rc;
    if (strcmp(res, "ok") != 0)
        return ef_errorf(s->ctx, EF_ESTORE, "%s: integrity_check failed: %s", s->path, res);
    rc = pragma_text(s, "PRAGMA foreign_key_check", res, sizeof res);
    if (rc < 0)
        return rc;
    if (res[0])
        return ef_errorf(s->ctx, EF_ESTORE,
                         "%s: foreign_key_check: a row of table %s "
                         "points at a missing parent",
                         s->path, res);
    return 0;
}
