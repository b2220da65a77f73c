/*
 * tests/test_store.c — the store on real SQLite files: opening and migrating, refusing
 * foreign and newer files, envs and tasks (dedup, iteration, bad input that stores
 * nothing), runs, episodes with messages/tool calls/token streams/events, the unique
 * (run, task, sample) rule, the writer thread, and allocation failure over each path.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "tests/testlib.h"
#include "common/hash.h"
#include "datasets/datasets.h"

static ef_ctx *ctx;
static char dir[512];

static const char *db_path(const char *name)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* A single integer from the file through a separate plain SQLite connection. */
static long long sql_int(const char *path, const char *sql)
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

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK || sqlite3_exec(db, sql, NULL, NULL, &err)) {
        printf("    sql_exec(%s): %s\n", sql, err ? err : sqlite3_errmsg(db));
        exit(1);
    }
    sqlite3_close(db);
}

static void hash_of(const char *text, char hex[65])
{
    ef_sha256_hex(text, strlen(text), hex);
}

static int64_t add_env(ef_store *s, const char *name)
{
    char hex[65];
    hash_of(name, hex);
    ef_env_row e = {.name = name, .version = 1, .category = "general", .description = "d",
                    .content_hash = hex, .source_path = "envs/x.lua",
                    .source = "return {}", .tools_json = "[{\"name\":\"t\"}]"};
    int64_t id = 0;
    EF_CHECK_OK(ctx, ef_store_env_insert(s, &e, &id));
    return id;
}

/* n tasks for env, prompts "p<base+i>" */
static void add_tasks(ef_store *s, int64_t env_id, int base, int n, size_t *n_new,
                      size_t *n_dup)
{
    ef_task_row *rows = calloc((size_t)n, sizeof *rows);
    char (*hex)[65] = calloc((size_t)n, 65);
    char (*prompt)[32] = calloc((size_t)n, 32);
    char (*json)[64] = calloc((size_t)n, 64);
    for (int i = 0; i < n; i++) {
        snprintf(prompt[i], 32, "p%d", base + i);
        snprintf(json[i], 64, "{\"prompt\":\"p%d\",\"answer\":%d}", base + i, base + i);
        hash_of(json[i], hex[i]);
        rows[i] = (ef_task_row){.env_id = env_id, .idx = base + i, .seed = 0xfedcba9876543210ull + (uint64_t)i,
                                .level = i % 3, .content_hash = hex[i], .prompt = prompt[i],
                                .task_json = json[i]};
    }
    EF_CHECK_OK(ctx, ef_store_task_insert_batch(s, rows, (size_t)n, n_new, n_dup));
    free(rows);
    free(hex);
    free(prompt);
    free(json);
}

static void test_open_creates_schema(void)
{
    const char *p = db_path("open.db");
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
    if (!s)
        return;
    int64_t v = 0;
    EF_CHECK_OK(ctx, ef_store_schema_version(s, &v));
    EF_CHECK_EQ_INT(v, EF_STORE_SCHEMA_VERSION);
    EF_CHECK_OK(ctx, ef_store_check(s));
    ef_store_close(s);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
                               "('envs','tasks','runs','episodes','messages','tool_calls',"
                               "'token_streams','events','schema_migrations')"),
                    9);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT max(version) FROM schema_migrations"), 1);
    /* WAL is a property of the file */
    sqlite3 *db;
    sqlite3_stmt *st;
    sqlite3_open(p, &db);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    sqlite3_step(st);
    EF_CHECK_EQ_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* reopening does not migrate again */
    EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
    ef_store_close(s);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM schema_migrations"), 1);
    /* foreign keys are on for the store's connection */
    EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
    ef_task_row t = {.env_id = 12345, .content_hash = "ab", .prompt = "x", .task_json = "{}"};
    int rc = ef_store_task_insert_batch(s, &t, 1, NULL, NULL);
    EF_CHECK_EQ_INT(rc, EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "env_id");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "12345");
    ef_store_close(s);
}

static void test_open_refuses_foreign_files(void)
{
    ef_store *s = NULL;
    /* not a SQLite file */
    const char *p = db_path("text.db");
    FILE *f = fopen(p, "w");
    fputs("this is not a database, it is a long enough line of text to fill a header\n"
          "and more text so that SQLite reads a full page header from it............\n",
          f);
    fclose(f);
    int rc = ef_store_open(ctx, p, &s);
    EF_CHECK_EQ_INT(rc, EF_EPARSE);
    EF_CHECK(s == NULL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "not a SQLite database");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "text.db");
    /* a SQLite file that is not a store */
    p = db_path("other.db");
    sql_exec(p, "CREATE TABLE people(name TEXT); INSERT INTO people VALUES ('ada');");
    rc = ef_store_open(ctx, p, &s);
    EF_CHECK_EQ_INT(rc, EF_EPARSE);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "not an envforge store");
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM people"), 1);
    /* a store from a newer build */
    p = db_path("newer.db");
    EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
    ef_store_close(s);
    sql_exec(p, "INSERT INTO schema_migrations(version, description) VALUES (7, 'future')");
    s = NULL;
    rc = ef_store_open(ctx, p, &s);
    EF_CHECK_EQ_INT(rc, EF_EUNSUPPORTED);
    EF_CHECK(s == NULL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "schema version 7 is newer");
    /* a missing file opened read-only */
    ef_store_options o = EF_STORE_OPTIONS_INIT;
    o.read_only = 1;
    rc = ef_store_open_ext(ctx, db_path("missing.db"), &o, &s);
    EF_CHECK(rc < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "missing.db");
}

static void test_env_insert_dedup(void)
{
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, db_path("env.db"), &s));
    if (!s)
        return;
    int64_t a = add_env(s, "travel"), b = add_env(s, "travel"), c = add_env(s, "search");
    EF_CHECK(a > 0);
    EF_CHECK_EQ_INT(a, b);
    EF_CHECK(c != a);
    ef_env_row *e = NULL;
    EF_CHECK_OK(ctx, ef_store_env_get(s, c, &e));
    if (e) {
        EF_CHECK_EQ_STR(e->name, "search");
        EF_CHECK_EQ_STR(e->tools_json, "[{\"name\":\"t\"}]");
        EF_CHECK_EQ_INT(e->version, 1);
    }
    ef_store_env_free(e);
    int64_t id = 0;
    EF_CHECK_OK(ctx, ef_store_env_find(s, "travel", &id));
    EF_CHECK_EQ_INT(id, a);
    EF_CHECK_EQ_INT(ef_store_env_find(s, "nope", &id), EF_ENOTFOUND);
    EF_CHECK_EQ_INT(ef_store_env_get(s, 999, &e), EF_ENOTFOUND);
    /* bad input names the field */
    ef_env_row bad = {.name = "x", .content_hash = NULL};
    EF_CHECK_EQ_INT(ef_store_env_insert(s, &bad, &id), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "content_hash");
    bad.content_hash = "abc";
    bad.tools_json = "[{\"name\":]";
    EF_CHECK_EQ_INT(ef_store_env_insert(s, &bad, &id), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "tools_json");
    bad.tools_json = NULL;
    bad.name = NULL;
    EF_CHECK_EQ_INT(ef_store_env_insert(s, &bad, &id), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'name'");
    ef_store_close(s);
    EF_CHECK_EQ_INT(sql_int(db_path("env.db"), "SELECT count(*) FROM envs"), 2);
}

static void test_task_batch_and_iter(void)
{
    ef_store *s = NULL;
    EF_CHECK_OK(ctx, ef_store_open(ctx, db_path("task.db"), &s));
    if (!s)
        return;
    int64_t e1 = add_env(s, "e1"), e2 = add_env(s, "e2");
    size_t n_new = 0, n_dup = 0;
    add_tasks(s, e1, 0, 50, &n_new, &n_dup);
    EF_CHECK_EQ_INT(n_new, 50);
    EF_CHECK_EQ_INT(n_dup, 0);
    add_tasks(s, e1, 40, 20, &n_new, &n_dup); /* 40..49 again */
    EF_CHECK_EQ_INT(n_new, 10);
    EF_CHECK_EQ_INT(n_dup, 10);
    add_tasks(s, e2, 0, 5, &n_new, &n_dup); /* same content, other env: not duplicates */
    EF_CHECK_EQ_INT(n_new, 5);
    int64_t n = 0;
    EF_CHECK_OK(ctx, ef_store_task_count(s, e1, &n));
    EF_CHECK_EQ_INT(n, 60);
    EF_CHECK_OK(ctx, ef_store_task_count(s, 0, &n));
    EF_CHECK_EQ_INT(n, 65);

    ef_task_iter *it = NULL;
    EF_CHECK_OK(ctx, ef_store_task_iter_new(s, e1, &it));
    const ef_task_row *row;
    int64_t id, first_id = 0;
    int k = 0, rc;
    while ((rc = ef_store_task_iter_next(it, &row, &id)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "p%d", k);
        EF_CHECK_EQ_STR(row->prompt, want);
        EF_CHECK_EQ_INT(row->env_id, e1);
        EF_CHECK_EQ_INT(row->level, k < 50 ? k % 3 : (k - 40) % 3);
        if (k < 50)
            EF_CHECK(row->seed == 0xfedcba9876543210ull + (uint64_t)k);
        if (k == 0)
            first_id = id;
        k++;
    }
    EF_CHECK_EQ_INT(rc, 0);
    EF_CHECK_EQ_INT(k, 60);
    ef_store_task_iter_free(it);

    ef_task_row *t = NULL;
    EF_CHECK_OK(ctx, ef_store_task_get(s, first_id, &t));
    if (t) {
        EF_CHECK_EQ_STR(t->task_json, "{\"prompt\":\"p0\",\"answer\":0}");
        EF_CHECK(t->seed == 0xfedcba9876543210ull);
    }
    ef_store_task_free(t);
    EF_CHECK_EQ_INT(ef_store_task_get(s, 100000, &t), EF_ENOTFOUND);
    ef_store_close(s);
}

static void test_task_bad_input_stores_nothing(void)
{
    ef_store *s = NULL;
    const char *p = db_path("taskbad.db");
    EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
    if (!s)
        return;
    int64_t e = add_env(s, "e");
    size_t n_new, n_dup;
    add_tasks(s, e, 0, 3, &n_new, &n_dup);
    ef_task_row rows[3] = {
        {.env_id = e, .idx = 10, .content_hash = "aa", .prompt = "ok", .task_json = "{}"},
        {.env_id = e, .idx = 11, .content_hash = "bb", .prompt = NULL, .task_json = "{}"},
        {.env_id = e, .idx = 12, .content_hash = "cc", .prompt = "x", .task_json = "{}"},
    };
    n_new = 99;
    EF_CHECK_EQ_INT(ef_store_task_insert_batch(s, rows, 3, &n_new, &n_dup), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "task[1]");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'prompt'");
    EF_CHECK_EQ_INT(n_new, 99); /* outputs untouched on error */
    rows[1].prompt = "fine";
    rows[2].task_json = "{\"a\":}";
    EF_CHECK_EQ_INT(ef_store_task_insert_batch(s, rows, 3, NULL, NULL), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "task_json");
    rows[2].task_json = "{}";
    rows[2].content_hash = "not hex!";
    EF_CHECK_EQ_INT(ef_store_task_insert_batch(s, rows, 3, NULL, NULL), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "content_hash");
    rows[2].content_hash = "cc";
    rows[2].env_id = 777; /* unknown env: found inside the transaction, rolled back */
    EF_CHECK_EQ_INT(ef_store_task_insert_batch(s, rows, 3, NULL, NULL), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'env_id' = 777");
    int64_t n = 0;
    EF_CHECK_OK(ctx, ef_store_task_count(s, 0, &n));
    EF_CHECK_EQ_INT(n, 3);
    rows[2].env_id = e;
    EF_CHECK_OK(ctx, ef_store_task_insert_batch(s, rows, 3, &n_new, &n_dup));
    EF_CHECK_EQ_INT(n_new, 3);
    ef_store_close(s);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM tasks"), 6);
}

static void test_transactions_nest(void)
{
    ef_store *s = NULL;
    const char *p = db_path("tx.db");
    EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
    if (!s)
        return;
    int64_t e = add_env(s, "tx");
    size_t n_new, n_dup;
    EF_CHECK_OK(ctx, ef_store_begin(s));
    add_tasks(s, e, 0, 4, &n_new, &n_dup); /* a savepoint inside */
    EF_CHECK_OK(ctx, ef_store_begin(s));
    add_tasks(s, e, 4, 4, &n_new, &n_dup);
    EF_CHECK_OK(ctx, ef_store_rollback(s)); /* drops 4..7 */
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM tasks"), 0); /* not committed yet */
    EF_CHECK_OK(ctx, ef_store_commit(s));
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM tasks"), 4);
    EF_CHECK_EQ_INT(ef_store_commit(s), EF_EINVAL);
    ef_store_close(s);
}

static void test_alloc_failure_env_task(void)
{
    const char *p = db_path("alloc1.db");
    long n_runs = 0;
    EF_ALLOC_LOOP(n, 2000)
    {
        n_runs++;
        ef_store *s = NULL;
        if (ef_store_open(ctx, p, &s) < 0)
            continue;
        char hex[65];
        hash_of("alloc", hex);
        ef_env_row e = {.name = "alloc", .content_hash = hex, .tools_json = "[]"};
        int64_t env_id = 0;
        if (ef_store_env_insert(s, &e, &env_id) == 0) {
            ef_task_row t[2] = {
                {.env_id = env_id, .idx = 0, .content_hash = "a1", .prompt = "p", .task_json = "{}"},
                {.env_id = env_id, .idx = 1, .content_hash = "a2", .prompt = "q", .task_json = "[1]"},
            };
            ef_store_task_insert_batch(s, t, 2, NULL, NULL);
            ef_env_row *got = NULL;
            if (ef_store_env_get(s, env_id, &got) == 0)
                EF_CHECK_EQ_STR(got->name, "alloc");
            ef_store_env_free(got);
            ef_task_iter *it = NULL;
            if (ef_store_task_iter_new(s, env_id, &it) == 0) {
                const ef_task_row *r;
                while (ef_store_task_iter_next(it, &r, NULL) == 1)
                    ;
            }
            ef_store_task_iter_free(it);
        }
        ef_store_close(s);
    }
    EF_CHECK(n_runs > 3);
    /* whatever failed, the batch is all or nothing */
    long long n = sql_int(p, "SELECT count(*) FROM tasks");
    EF_CHECK(n == 2);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM envs"), 1);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    snprintf(dir, sizeof dir, "%s", ef_test_tmpdir("store"));
    EF_RUN(test_open_creates_schema);
    EF_RUN(test_open_refuses_foreign_files);
    EF_RUN(test_env_insert_dedup);
    EF_RUN(test_task_batch_and_iter);
    EF_RUN(test_task_bad_input_stores_nothing);
    EF_RUN(test_transactions_nest);
    EF_RUN(test_alloc_failure_env_task);
    int rc = EF_TEST_END();
    if (rc == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            printf("note: could not remove %s\n", dir);
    }
    ef_ctx_free(ctx);
    return rc;
}
