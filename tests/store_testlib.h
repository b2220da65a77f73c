/*
 * tests/store_testlib.h — helpers shared by the store's tests (test_store.c,
 * test_store_merge.c): looking into a store file through a separate, plain SQLite
 * connection, the way an outside reader sees it.
 *
 *   EF_CHECK_EQ_INT(sql_int(path, "SELECT count(*) FROM episodes"), 4);
 *   sql_exec(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
 *   if (rc == 0) remove_dir(dir);   // the test's scratch folder, when everything passed
 */
#ifndef EF_STORE_TESTLIB_H
#define EF_STORE_TESTLIB_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

/* A single integer from the file (-1, with the SQLite message printed, when the query
 * fails or returns no row). */
static inline long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        printf("    sql_int(%s): %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Runs SQL on the file; a failure ends the test program (exit 1). */
static inline void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, &err)) {
        printf("    sql_exec(%s): %s\n", sql, err ? err : sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_close(db);
}

/* Removes the scratch folder dir (rm -rf); says so when it cannot. */
static inline void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
}

#endif
