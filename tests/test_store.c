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
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include "tests/testlib.h"
#include "tests/store_testlib.h"
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

static void hash_of(const char *text, char hex[65])
{
    ef_sha256_hex(text, strlen(text), hex);
}

static int64_t add_env(ef_store *s, const char *name)
{
    char hex[65];
    hash_of(name, hex);
    ef_env_row e = {.name = name,
                    .version = 1,
                    .category = "general",
                    .description = "d",
                    .content_hash = hex,
                    .source_path = "envs/x.lua",
                    .source = "return {}",
                    .tools_json = "[{\"name\":\"t\"}]"};
    int64_t id = 0;
    EF_CHECK_OK(ctx, ef_store_env_insert(s, &e, &id));
    return id;
}

/* n tasks for env, prompts "p<base+i>" */
static void add_tasks(ef_store *s, int64_t env_id, int base, int n, size_t *n_new, size_t *n_dup)
{
    ef_task_row *rows = calloc((size_t)n, sizeof *rows);
    char(*hex)[65] = calloc((size_t)n, 65);
    char(*prompt)[32] = calloc((size_t)n, 32);
    char(*json)[64] = calloc((size_t)n, 64);
    for (int i = 0; i < n; i++) {
        snprintf(prompt[i], 32, "p%d", base + i);
        snprintf(json[i], 64, "{\"prompt\":\"p%d\",\"answer\":%d}", base + i, base + i);
        hash_of(json[i], hex[i]);
        rows[i] = (ef_task_row){.env_id = env_id,
                                .idx = base + i,
                                .seed = 0xfedcba9876543210ull + (uint64_t)i,
                                .level = i % 3,
                                .content_hash = hex[i],
                                .prompt = prompt[i],
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
    /* read-only: reads work, writes are refused with SQLite's reason */
    ef_store_options ro = EF_STORE_OPTIONS_INIT;
    ro.read_only = 1;
    s = NULL;
    EF_CHECK_OK(ctx, ef_store_open_ext(ctx, p, &ro, &s));
    if (!s)
        return;
    int64_t n = -1;
    EF_CHECK_OK(ctx, ef_store_task_count(s, 0, &n));
    EF_CHECK_EQ_INT(n, 0);
    ef_env_row e = {.name = "x", .content_hash = "ab"};
    EF_CHECK(ef_store_env_insert(s, &e, NULL) < 0);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "readonly");
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

static void keep_last_log(void *ud, ef_log_level level, const char *func, int line,
                          const char *msg)
{
    (void)level;
    (void)func;
    (void)line;
    snprintf((char *)ud, 512, "%s", msg);
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
    /* the same name and version with other content: kept, and said */
    char logged[512] = "";
    ef_ctx_set_log(ctx, EF_LOG_WARN, keep_last_log, logged);
    ef_env_row other = {.name = "travel", .version = 1, .content_hash = "0123abcd",
                        .source = "return {}"};
    int64_t d = 0;
    EF_CHECK_OK(ctx, ef_store_env_insert(s, &other, &d));
    EF_CHECK(d != a && d > 0);
    EF_CHECK_CONTAINS(logged, "env 'travel' version 1 is already in");
    EF_CHECK_CONTAINS(logged, "give a changed env a new version");
    ef_ctx_set_log(ctx, EF_LOG_WARN, NULL, NULL);
    ef_store_close(s);
    EF_CHECK_EQ_INT(sql_int(db_path("env.db"), "SELECT count(*) FROM envs"), 3);
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
    EF_CHECK_OK(ctx, ef_store_rollback(s));                       /* drops 4..7 */
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
                {.env_id = env_id,
                 .idx = 0,
                 .content_hash = "a1",
                 .prompt = "p",
                 .task_json = "{}"},
                {.env_id = env_id,
                 .idx = 1,
                 .content_hash = "a2",
                 .prompt = "q",
                 .task_json = "[1]"},
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
    printf("    %ld allocation-failure runs\n", n_runs);
    /* whatever failed, the batch is all or nothing */
    long long n = sql_int(p, "SELECT count(*) FROM tasks");
    EF_CHECK(n == 2);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM envs"), 1);
}

/* The store's JSON check (before writing) agrees with SQLite's json_valid (the schema's
 * CHECK), so bad JSON is always caught first, with a message naming the field. */
int ef_datasets__json_valid(const char *text);

static void test_json_check_matches_sqlite(void)
{
    static const char *const toks[] = {
        "{",       "}",     "[",    "]",     ",",    ":",          "\"a\"",       "\"\\u00e9\"",
        "\"\\x\"", "1",     "-0",   "1.5e3", "01",   "1.",         "-",           ".5",
        "true",    "false", "null", "nul",   " ",    "\t",         "\"\x01\"",    "\"\xc3\xa9\"",
        "\n",      "\"",    "\\",   "1e",    "[1,]", "{\"a\":1,}", "\"\\ud800\"", "1E+2"};
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    sqlite3_open(":memory:", &db);
    sqlite3_prepare_v2(db, "SELECT json_valid(?1)", -1, &st, NULL);
    uint64_t r = 88172645463325252ull;
    int n_valid = 0, n_differ = 0;
    char buf[512];
    for (int it = 0; it < 50000; it++) {
        buf[0] = '\0';
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int k = 1 + (int)(r % 8);
        for (int j = 0; j < k; j++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            strcat(buf, toks[r % EF_ARRAY_LEN(toks)]);
        }
        int mine = ef_datasets__json_valid(buf);
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, buf, -1, SQLITE_STATIC);
        sqlite3_step(st);
        int theirs = sqlite3_column_int(st, 0);
        n_valid += mine;
        if (mine != theirs && n_differ++ < 5)
            EF_CHECK_MSG(0, "[%s]: store says %d, SQLite says %d", buf, mine, theirs);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    EF_CHECK(n_valid > 1000);
    EF_CHECK_EQ_INT(n_differ, 0);
}

/* ---- runs, episodes, bundles ------------------------------------------------------------ */

typedef struct {
    ef_store *s;
    int64_t env_id, task_id[3], run_id;
} fixture;

static int fixture_open(fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    if (ef_store_open(ctx, db_path(name), &f->s) < 0) {
        EF_CHECK_MSG(0, "open: %s", ef_errmsg(ctx));
        return -1;
    }
    f->env_id = add_env(f->s, "fx");
    size_t n_new, n_dup;
    add_tasks(f->s, f->env_id, 0, 3, &n_new, &n_dup);
    ef_task_iter *it = NULL;
    EF_CHECK_OK(ctx, ef_store_task_iter_new(f->s, f->env_id, &it));
    const ef_task_row *row;
    for (int i = 0; i < 3 && it; i++)
        EF_CHECK_EQ_INT(ef_store_task_iter_next(it, &row, &f->task_id[i]), 1);
    ef_store_task_iter_free(it);
    ef_run_row run = {.name = "r1",
                      .model = "oracle",
                      .config_json = "{\"group\":4}",
                      .seed = 7,
                      .group_size = 4,
                      .shard_index = 0,
                      .shard_count = 1};
    EF_CHECK_OK(ctx, ef_store_run_insert(f->s, &run, &f->run_id));
    return 0;
}

static void test_runs(void)
{
    fixture f;
    if (fixture_open(&f, "runs.db") < 0)
        return;
    ef_run_row run = {.name = "r1", .model = "m"};
    int64_t id = 0;
    EF_CHECK_EQ_INT(ef_store_run_insert(f.s, &run, &id), EF_EEXISTS);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'r1' already exists");
    EF_CHECK_OK(ctx, ef_store_run_find(f.s, "r1", &id));
    EF_CHECK_EQ_INT(id, f.run_id);
    run.name = NULL;
    EF_CHECK_OK(ctx, ef_store_run_insert(f.s, &run, &id));
    ef_run_row *r = NULL;
    EF_CHECK_OK(ctx, ef_store_run_get(f.s, id, &r));
    if (r) {
        char want[32];
        snprintf(want, sizeof want, "run-%lld", (long long)id);
        EF_CHECK_EQ_STR(r->name, want);
        EF_CHECK_EQ_STR(r->status, "running");
        EF_CHECK_EQ_STR(r->model, "m");
        EF_CHECK_EQ_INT(r->shard_count, 1);
    }
    ef_store_run_free(r);
    EF_CHECK_OK(ctx, ef_store_run_set_status(f.s, id, "done"));
    EF_CHECK_EQ_INT(sql_int(db_path("runs.db"), "SELECT count(*) FROM runs WHERE status='done' "
                                                "AND finished_at IS NOT NULL"),
                    1);
    EF_CHECK_EQ_INT(ef_store_run_set_status(f.s, 999, "done"), EF_ENOTFOUND);
    run.model = NULL;
    EF_CHECK_EQ_INT(ef_store_run_insert(f.s, &run, &id), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'model'");
    run.model = "m";
    run.config_json = "{oops}";
    EF_CHECK_EQ_INT(ef_store_run_insert(f.s, &run, &id), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "config_json");
    ef_store_close(f.s);
}

#define NT 40
#define NL 3
#define NK 2
static int32_t tok_ids[NT], tok_offs[NT + 1], tok_topp[NT * 3];
static uint8_t tok_mask[NT];
static float tok_lp[NT];
static uint16_t tok_routes[NT * NL * NK];

static ef_token_stream make_tokens(int wide_routes)
{
    int k = 0;
    for (int i = 0; i < NT; i++) {
        tok_ids[i] = i == 0 ? 0x01020304 : (i == 1 ? -5 : 100 + i);
        tok_mask[i] = i >= 10;
        tok_lp[i] = tok_mask[i] ? -0.25f * (float)i : 0.0f;
        tok_offs[i] = k;
        for (int j = 0; j < i % 4; j++)
            tok_topp[k++] = 100 + i + j;
    }
    tok_offs[NT] = k;
    for (int i = 0; i < NT * NL * NK; i++)
        tok_routes[i] = (uint16_t)(wide_routes ? (i * 37) % 512 : (i * 37) % 256);
    ef_token_stream t = {.n_tokens = NT,
                         .token_ids = tok_ids,
                         .loss_mask = tok_mask,
                         .logprobs = tok_lp,
                         .topp_offsets = tok_offs,
                         .topp_ids = tok_topp,
                         .route_layers = NL,
                         .route_topk = NK,
                         .routes = tok_routes};
    return t;
}

static const ef_message_row test_msgs[4] = {
    {.idx = -1, .role = "system", .content = "You are careful."},
    {.idx = -1, .role = "user", .content = "What is 2+2?"},
    {.idx = -1,
     .role = "assistant",
     .content = "",
     .reasoning_content = "add them",
     .tool_calls_json = "[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
                        "\"python\",\"arguments\":\"{\\\"code\\\":\\\"print(2+2)\\\"}\"}}]"},
    {.idx = -1, .role = "tool", .content = "4\n", .tool_call_id = "call_1", .name = "python"},
};
static const ef_tool_call_row test_calls[2] = {
    {.message_idx = 2,
     .call_id = "call_1",
     .tool = "python",
     .arguments_json = "{\"code\":\"print(2+2)\"}",
     .result = "4\n",
     .wall_ms = 12},
    {.message_idx = 2,
     .call_id = "call_2",
     .tool = "python",
     .arguments_json = "{\"code\":",
     .result = "error: arguments are not JSON",
     .is_error = 1},
};
static const ef_event_row test_events[2] = {
    {.kind = "context_reset", .payload_json = "{\"policy\":\"discard-75\"}", .time = 1.7e9},
    {.kind = "model_retry", .payload_json = NULL, .time = 1.7e9 + 1},
};

static ef_episode_row make_episode(const fixture *f, int task, int sample, double reward)
{
    ef_episode_row ep = {.run_id = f->run_id,
                         .task_id = f->task_id[task],
                         .group_id = task,
                         .sample_idx = sample,
                         .status = "ok",
                         .end_reason = "answer",
                         .reward = reward,
                         .verified = 1,
                         .answer = "4",
                         .verify_info = "{\"match\":true}",
                         .n_turns = 2,
                         .n_tool_calls = 2,
                         .n_tool_errors = 1,
                         .n_prompt_tokens = 30,
                         .n_completion_tokens = 10,
                         .wall_ms = 1500,
                         .model_ms = 1000,
                         .tool_ms = 400,
                         .verify_ms = 3,
                         .started_at = 1763865600.25};
    return ep;
}

static void test_bundle_roundtrip(void)
{
    fixture f;
    if (fixture_open(&f, "bundle.db") < 0)
        return;
    ef_episode_row ep = make_episode(&f, 0, 0, 0.75);
    ef_token_stream tok = make_tokens(1);
    ef_episode_bundle b = {.episode = &ep,
                           .messages = test_msgs,
                           .n_messages = 4,
                           .tool_calls = test_calls,
                           .n_tool_calls = 2,
                           .tokens = &tok,
                           .events = test_events,
                           .n_events = 2};
    int64_t id = 0;
    EF_CHECK_OK(ctx, ef_store_bundle_insert(f.s, &b, &id));
    ef_episode_row *e = NULL;
    EF_CHECK_OK(ctx, ef_store_episode_get(f.s, id, &e));
    if (e) {
        EF_CHECK_EQ_INT(e->run_id, f.run_id);
        EF_CHECK_EQ_INT(e->task_id, f.task_id[0]);
        EF_CHECK_NEAR(e->reward, 0.75, 0);
        EF_CHECK_EQ_STR(e->model, "oracle"); /* from the run */
        EF_CHECK_EQ_STR(e->status, "ok");
        EF_CHECK_EQ_STR(e->verify_info, "{\"match\":true}");
        EF_CHECK(e->error == NULL);
        EF_CHECK_EQ_INT(e->n_tool_errors, 1);
        EF_CHECK_EQ_INT(e->wall_ms, 1500);
        EF_CHECK_NEAR(e->started_at, 1763865600.25, 0.002);
    }
    ef_store_episode_free(e);
    ef_message_row *m = NULL;
    size_t n = 0;
    EF_CHECK_OK(ctx, ef_store_message_list(f.s, id, &m, &n));
    EF_CHECK_EQ_INT(n, 4);
    for (size_t i = 0; i < n && i < 4; i++) {
        EF_CHECK_EQ_INT(m[i].idx, (long long)i);
        EF_CHECK_EQ_STR(m[i].role, test_msgs[i].role);
    }
    if (n == 4) {
        EF_CHECK_EQ_STR(m[2].reasoning_content, "add them");
        EF_CHECK_EQ_STR(m[2].tool_calls_json, test_msgs[2].tool_calls_json);
        EF_CHECK_EQ_STR(m[3].tool_call_id, "call_1");
        EF_CHECK(m[0].tool_call_id == NULL);
    }
    ef_store_message_list_free(m, n);
    /* more messages continue the numbering */
    ef_message_row more = {.idx = -1, .role = "assistant", .content = "4"};
    EF_CHECK_OK(ctx, ef_store_message_insert(f.s, id, &more, 1));
    EF_CHECK_EQ_INT(sql_int(db_path("bundle.db"), "SELECT max(idx) FROM messages"), 4);
    more.idx = 1;
    EF_CHECK_EQ_INT(ef_store_message_insert(f.s, id, &more, 1), EF_EEXISTS);

    ef_tool_call_row *c = NULL;
    EF_CHECK_OK(ctx, ef_store_tool_call_list(f.s, id, &c, &n));
    EF_CHECK_EQ_INT(n, 2);
    if (n == 2) {
        EF_CHECK_EQ_STR(c[0].arguments_json, "{\"code\":\"print(2+2)\"}");
        EF_CHECK_EQ_INT(c[0].wall_ms, 12);
        EF_CHECK_EQ_INT(c[1].is_error, 1);
        EF_CHECK_EQ_STR(c[1].arguments_json, "{\"code\":");
    }
    ef_store_tool_call_list_free(c, n);

    ef_token_stream *t = NULL;
    EF_CHECK_OK(ctx, ef_store_token_stream_get(f.s, id, &t));
    if (t) {
        EF_CHECK_EQ_INT(t->n_tokens, NT);
        EF_CHECK(memcmp(t->token_ids, tok_ids, sizeof tok_ids) == 0);
        EF_CHECK(memcmp(t->loss_mask, tok_mask, sizeof tok_mask) == 0);
        EF_CHECK(memcmp(t->logprobs, tok_lp, sizeof tok_lp) == 0);
        EF_CHECK(memcmp(t->topp_offsets, tok_offs, sizeof tok_offs) == 0);
        EF_CHECK(memcmp(t->topp_ids, tok_topp, (size_t)tok_offs[NT] * 4) == 0);
        EF_CHECK_EQ_INT(t->route_layers, NL);
        EF_CHECK_EQ_INT(t->route_topk, NK);
        EF_CHECK(memcmp(t->routes, tok_routes, sizeof tok_routes) == 0);
    }
    ef_store_token_stream_free(t);
    EF_CHECK_EQ_INT(ef_store_token_stream_insert(f.s, id, &tok), EF_EEXISTS);
    /* the documented little-endian layout, read with plain SQL */
    const char *p = db_path("bundle.db");
    EF_CHECK_EQ_INT(sql_int(p, "SELECT hex(substr(token_ids, 1, 8)) = '04030201FBFFFFFF' "
                               "FROM token_streams"),
                    1);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT length(token_ids) = 4 * n_tokens AND length(loss_mask) = "
                               "n_tokens AND length(logprobs) = 4 * n_tokens AND "
                               "length(topp_offsets) = 4 * (n_tokens + 1) FROM token_streams"),
                    1);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT route_bytes FROM token_streams"), 2);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT n_model_tokens FROM token_streams"), NT - 10);
    /* logprobs[10] = -2.5f = 0xC0200000 -> bytes 00 00 20 C0 */
    EF_CHECK_EQ_INT(sql_int(p, "SELECT hex(substr(logprobs, 41, 4)) = '000020C0' "
                               "FROM token_streams"),
                    1);

    ef_event_row *ev = NULL;
    EF_CHECK_OK(ctx, ef_store_event_list(f.s, 0, id, &ev, &n));
    EF_CHECK_EQ_INT(n, 2);
    if (n == 2) {
        EF_CHECK_EQ_STR(ev[0].kind, "context_reset");
        EF_CHECK_EQ_STR(ev[1].payload_json, "{}");
        EF_CHECK_EQ_INT(ev[0].run_id, f.run_id);
        EF_CHECK_NEAR(ev[0].time, 1.7e9, 0.002);
    }
    ef_store_event_list_free(ev, n);
    ef_event_row run_ev = {.run_id = f.run_id, .kind = "run_started"};
    EF_CHECK_OK(ctx, ef_store_event_insert(f.s, &run_ev, NULL));
    EF_CHECK_OK(ctx, ef_store_event_list(f.s, f.run_id, 0, &ev, &n));
    EF_CHECK_EQ_INT(n, 3);
    ef_store_event_list_free(ev, n);

    /* narrow routes take one byte each */
    ep = make_episode(&f, 1, 0, 1.0);
    tok = make_tokens(0);
    tok.logprobs = NULL;
    tok.topp_offsets = NULL;
    tok.topp_ids = NULL;
    b.tokens = &tok;
    EF_CHECK_OK(ctx, ef_store_bundle_insert(f.s, &b, &id));
    EF_CHECK_EQ_INT(sql_int(p, "SELECT route_bytes * 1000 + length(routes) FROM token_streams "
                               "WHERE logprobs IS NULL"),
                    1000 + NT * NL * NK);
    EF_CHECK_OK(ctx, ef_store_token_stream_get(f.s, id, &t));
    if (t) {
        EF_CHECK(t->logprobs == NULL && t->topp_offsets == NULL);
        EF_CHECK(memcmp(t->routes, tok_routes, sizeof tok_routes) == 0);
    }
    ef_store_token_stream_free(t);
    /* an empty stream is a stream of 0 tokens, not an absent one */
    ep = make_episode(&f, 2, 0, 0.0);
    EF_CHECK_OK(ctx, ef_store_episode_insert(f.s, &ep, &id));
    ef_token_stream empty = {.n_tokens = 0};
    EF_CHECK_OK(ctx, ef_store_token_stream_insert(f.s, id, &empty));
    EF_CHECK_OK(ctx, ef_store_token_stream_get(f.s, id, &t));
    if (t)
        EF_CHECK(t->n_tokens == 0 && t->logprobs == NULL && t->routes == NULL);
    ef_store_token_stream_free(t);
    EF_CHECK_EQ_INT(ef_store_token_stream_get(f.s, 424242, &t), EF_ENOTFOUND);
    EF_CHECK_EQ_INT(ef_store_token_stream_insert(f.s, 424242, &empty), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'episode_id' = 424242");
    EF_CHECK_OK(ctx, ef_store_check(f.s));
    ef_store_close(f.s);
}

static void test_episode_bad_input_and_unique(void)
{
    fixture f;
    if (fixture_open(&f, "epbad.db") < 0)
        return;
    const char *p = db_path("epbad.db");
    ef_episode_row ep = make_episode(&f, 0, 0, 1.0);
    ef_episode_bundle b = {.episode = &ep, .messages = test_msgs, .n_messages = 4};
    int64_t id = 0, id2 = 0;
    EF_CHECK_OK(ctx, ef_store_bundle_insert(f.s, &b, &id));
    /* the same (run, task, sample) again: refused, and nothing of it is added */
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EEXISTS);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "already stored");
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM messages"), 4);
    EF_CHECK_OK(ctx, ef_store_episode_find(f.s, f.run_id, f.task_id[0], 0, &id2));
    EF_CHECK_EQ_INT(id2, id);

    struct {
        const char *field;
        ef_episode_row ep;
    } bad[8];
    for (int i = 0; i < 8; i++) {
        bad[i].ep = make_episode(&f, 1, i, 0.5);
    }
    bad[0].field = "'reward' = 1.5";
    bad[0].ep.reward = 1.5;
    bad[1].field = "'reward' = nan";
    bad[1].ep.reward = NAN;
    bad[2].field = "'reward' = -0.1";
    bad[2].ep.reward = -0.1;
    bad[3].field = "'status'";
    bad[3].ep.status = NULL;
    bad[4].field = "'end_reason'";
    bad[4].ep.end_reason = "";
    bad[5].field = "'task_id' = 9999";
    bad[5].ep.task_id = 9999;
    bad[6].field = "'run_id' = 4242";
    bad[6].ep.run_id = 4242;
    bad[7].field = "'verify_info'";
    bad[7].ep.verify_info = "{not json";
    for (int i = 0; i < 8; i++) {
        b.episode = &bad[i].ep;
        int rc = ef_store_bundle_insert(f.s, &b, &id2);
        EF_CHECK_EQ_INT(rc, EF_EINVAL);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), bad[i].field);
        EF_CHECK_EQ_INT(ef_store_episode_insert(f.s, &bad[i].ep, &id2), EF_EINVAL);
    }
    /* bad parts of a bundle */
    ep = make_episode(&f, 2, 0, 0.0);
    b.episode = &ep;
    ef_message_row bm[2] = {{.idx = -1, .role = "user", .content = "x"},
                            {.idx = -1, .role = "robot", .content = "y"}};
    b.messages = bm;
    b.n_messages = 2;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "messages[1]");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'role'");
    bm[1].role = "tool";
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'tool_call_id' is required (got NULL)");
    b.n_messages = 1;
    ef_tool_call_row bc = {.message_idx = 0, .call_id = "c", .tool = "t", .arguments_json = "{x"};
    b.tool_calls = &bc;
    b.n_tool_calls = 1;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments_json");
    bc.arguments_json = "{}";
    bc.call_id = NULL;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "tool_calls[0]: field 'call_id' is required");
    b.n_tool_calls = 0;
    ef_token_stream bt = make_tokens(0);
    tok_mask[3] = 2;
    b.tokens = &bt;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "loss_mask[3]");
    tok_mask[3] = 0;
    tok_offs[5] = tok_offs[4] - 1;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "topp_offsets[5]");
    bt = make_tokens(0);
    bt.route_topk = 0;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "route_topk");
    bt = make_tokens(0);
    ef_event_row be = {.kind = NULL};
    b.events = &be;
    b.n_events = 1;
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &b, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "events[0]");
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'kind'");
    /* nothing of the refused rows was stored; what was stored is intact */
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes"), 1);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM messages"), 4);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM token_streams"), 0);
    be.kind = "fine";
    EF_CHECK_OK(ctx, ef_store_bundle_insert(f.s, &b, &id2));
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes"), 2);
    /* two messages of one bundle with the same idx: bad input, not a duplicate episode */
    ep = make_episode(&f, 2, 2, 0.0);
    ef_message_row twice[2] = {{.idx = 0, .role = "user", .content = "a"},
                               {.idx = 0, .role = "user", .content = "b"}};
    ef_episode_bundle tb = {.episode = &ep, .messages = twice, .n_messages = 2};
    EF_CHECK_EQ_INT(ef_store_bundle_insert(f.s, &tb, &id2), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "one idx");
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes"), 2);
    /* what a model may leave out: ids ("" is kept), a failed call's arguments */
    ep = make_episode(&f, 2, 1, 0.0);
    ef_message_row lax[2] = {{.idx = -1, .role = "assistant", .content = ""},
                             {.idx = -1, .role = "tool", .content = "?", .tool_call_id = ""}};
    ef_tool_call_row lax_call = {
        .message_idx = 0, .call_id = "", .tool = "", .arguments_json = NULL, .is_error = 1};
    ef_episode_bundle lb = {.episode = &ep,
                            .messages = lax,
                            .n_messages = 2,
                            .tool_calls = &lax_call,
                            .n_tool_calls = 1};
    EF_CHECK_OK(ctx, ef_store_bundle_insert(f.s, &lb, &id2));
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM tool_calls WHERE arguments = '' AND "
                               "call_id = '' AND is_error = 1"),
                    1);
    /* the schema's own checks stand behind the library's, for other writers */
    sqlite3 *db = NULL;
    sqlite3_open(p, &db);
    EF_CHECK(sqlite3_exec(db, "UPDATE episodes SET reward = 2 WHERE id = 1", NULL, NULL, NULL) ==
             SQLITE_CONSTRAINT);
    sqlite3_close(db);
    ef_store_close(f.s);
}

static void test_episode_iter(void)
{
    fixture f;
    if (fixture_open(&f, "iter.db") < 0)
        return;
    int64_t id;
    for (int task = 0; task < 3; task++)
        for (int sample = 3; sample >= 0; sample--) {
            ef_episode_row ep = make_episode(&f, task, sample, sample / 3.0);
            ep.verified = sample != 1;
            EF_CHECK_OK(ctx, ef_store_episode_insert(f.s, &ep, &id));
        }
    int64_t n = 0;
    EF_CHECK_OK(ctx, ef_store_episode_count(f.s, f.run_id, &n));
    EF_CHECK_EQ_INT(n, 12);
    ef_episode_filter flt = EF_EPISODE_FILTER_INIT;
    ef_episode_iter *it = NULL;
    const ef_episode_row *row;
    int k = 0, rc;
    EF_CHECK_OK(ctx, ef_store_episode_iter_new(f.s, NULL, &it));
    while ((rc = ef_store_episode_iter_next(it, &row, &id)) == 1) {
        EF_CHECK_EQ_INT(row->group_id, k / 4);
        EF_CHECK_EQ_INT(row->sample_idx, k % 4);
        EF_CHECK_EQ_STR(row->status, "ok");
        k++;
    }
    EF_CHECK_EQ_INT(rc, 0);
    EF_CHECK_EQ_INT(k, 12);
    ef_store_episode_iter_free(it);
    flt.group_id = 1;
    flt.verified_only = 1;
    flt.min_reward = 0.5;
    EF_CHECK_OK(ctx, ef_store_episode_iter_new(f.s, &flt, &it));
    k = 0;
    while (ef_store_episode_iter_next(it, &row, NULL) == 1) {
        EF_CHECK(row->reward >= 0.5 && row->verified && row->group_id == 1);
        k++;
    }
    EF_CHECK_EQ_INT(k, 2); /* samples 2 and 3 */
    ef_store_episode_iter_free(it);
    flt = (ef_episode_filter)EF_EPISODE_FILTER_INIT;
    flt.task_id = f.task_id[2];
    flt.env_id = f.env_id;
    EF_CHECK_OK(ctx, ef_store_episode_iter_new(f.s, &flt, &it));
    k = 0;
    while (ef_store_episode_iter_next(it, &row, NULL) == 1)
        k++;
    EF_CHECK_EQ_INT(k, 4);
    ef_store_episode_iter_free(it);
    ef_store_close(f.s);
}

/* ---- the writer ------------------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    size_t n_items, n_batches, n_dup, n_err;
} commit_log;

static void log_commit(void *ud, const ef_store_commit_item *items, size_t n)
{
    commit_log *l = ud;
    pthread_mutex_lock(&l->mu);
    l->n_batches++;
    for (size_t i = 0; i < n; i++) {
        l->n_items++;
        l->n_dup += items[i].rc == EF_EEXISTS;
        l->n_err += items[i].rc < 0 && items[i].rc != EF_EEXISTS;
    }
    pthread_mutex_unlock(&l->mu);
}

typedef struct {
    ef_store_writer *w;
    fixture *f;
    int thread;
    int n;
    int failures;
} submitter;

static void *submit_main(void *arg)
{
    submitter *sb = arg;
    ef_ctx *c = ef_ctx_new();
    for (int i = 0; i < sb->n; i++) {
        ef_episode_row ep = make_episode(sb->f, i % 3, sb->thread * 1000 + i, 1.0);
        ef_episode_bundle b = {.episode = &ep,
                               .messages = test_msgs,
                               .n_messages = 4,
                               .tool_calls = test_calls,
                               .n_tool_calls = 2,
                               .events = test_events,
                               .n_events = 1};
        if (ef_store_writer_submit(sb->w, c, &b, (uint64_t)(sb->thread * 1000 + i)) < 0)
            sb->failures++;
    }
    ef_ctx_free(c);
    return NULL;
}

static void test_writer_threads(void)
{
    fixture f;
    if (fixture_open(&f, "writer.db") < 0)
        return;
    const char *p = db_path("writer.db");
    commit_log log = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0};
    ef_store_writer_options o = EF_STORE_WRITER_OPTIONS_INIT;
    o.batch_items = 16;
    o.batch_ms = 20;
    o.max_queue = 32; /* small: submitters wait on a full queue */
    o.on_commit = log_commit;
    o.on_commit_ud = &log;
    ef_store_writer *w = NULL;
    EF_CHECK_OK(ctx, ef_store_writer_new(ctx, p, &o, &w));
    if (!w)
        return;
    enum { N_THREADS = 4, PER_THREAD = 120 };
    pthread_t th[N_THREADS];
    submitter sb[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        sb[i] = (submitter){w, &f, i, PER_THREAD, 0};
        pthread_create(&th[i], NULL, submit_main, &sb[i]);
    }
    /* the main connection reads while the writer writes (WAL: no blocking) */
    int64_t seen = 0;
    for (int i = 0; i < 20; i++)
        EF_CHECK_OK(ctx, ef_store_episode_count(f.s, f.run_id, &seen));
    for (int i = 0; i < N_THREADS; i++) {
        pthread_join(th[i], NULL);
        EF_CHECK_EQ_INT(sb[i].failures, 0);
    }
    EF_CHECK_OK(ctx, ef_store_writer_flush(w, ctx));
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes"), N_THREADS * PER_THREAD);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM messages"), 4 * N_THREADS * PER_THREAD);
    /* a resumed run submits some again: reported as duplicates, stored once */
    sb[0].n = 10;
    submit_main(&sb[0]);
    EF_CHECK_OK(ctx, ef_store_writer_flush(w, ctx));
    /* an item the writer cannot store is reported alone; its batch-mates commit */
    ef_episode_row ghost = make_episode(&f, 0, 5000, 1.0);
    ghost.task_id = 31337;
    ef_episode_bundle gb = {.episode = &ghost};
    EF_CHECK_OK(ctx, ef_store_writer_submit(w, ctx, &gb, 1));
    ef_episode_row fine = make_episode(&f, 0, 5001, 1.0);
    ef_episode_bundle fb = {.episode = &fine};
    EF_CHECK_OK(ctx, ef_store_writer_submit(w, ctx, &fb, 2));
    ef_event_row rev = {.run_id = f.run_id, .kind = "run_progress", .payload_json = "{\"n\":1}"};
    EF_CHECK_OK(ctx, ef_store_writer_submit_event(w, ctx, &rev, 3));
    EF_CHECK_EQ_INT(ef_store_writer_flush(w, ctx), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'task_id' = 31337");
    EF_CHECK_OK(ctx, ef_store_writer_flush(w, ctx)); /* the error was reported once */
    ef_store_writer_stats st;
    ef_store_writer_get_stats(w, &st);
    EF_CHECK_EQ_INT(st.n_submitted, N_THREADS * PER_THREAD + 10 + 3);
    EF_CHECK_EQ_INT(st.n_stored, N_THREADS * PER_THREAD + 2);
    EF_CHECK_EQ_INT(st.n_duplicate, 10);
    EF_CHECK_EQ_INT(st.n_failed, 1);
    EF_CHECK(st.n_commits >= (N_THREADS * PER_THREAD) / 16);
    /* bad input is refused at submit, on the submitter's ctx */
    ef_episode_row nan_ep = make_episode(&f, 0, 6000, NAN);
    ef_episode_bundle nb = {.episode = &nan_ep};
    EF_CHECK_EQ_INT(ef_store_writer_submit(w, ctx, &nb, 9), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'reward'");
    EF_CHECK_OK(ctx, ef_store_writer_close(w, ctx));
    EF_CHECK_EQ_INT(log.n_items, N_THREADS * PER_THREAD + 10 + 3);
    EF_CHECK_EQ_INT(log.n_dup, 10);
    EF_CHECK_EQ_INT(log.n_err, 1);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes"), N_THREADS * PER_THREAD + 1);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM events WHERE episode_id IS NULL"), 1);
    EF_CHECK_OK(ctx, ef_store_check(f.s));
    ef_store_close(f.s);
}

/* ---- allocation failure ------------------------------------------------------------------ */

static void test_alloc_failure_bundle(void)
{
    fixture f;
    if (fixture_open(&f, "alloc2.db") < 0)
        return;
    const char *p = db_path("alloc2.db");
    long n_runs = 0;
    EF_ALLOC_LOOP(n, 5000)
    {
        n_runs++;
        ef_episode_row ep = make_episode(&f, 0, (int)n, 0.5);
        ef_token_stream tok = make_tokens(1);
        ef_episode_bundle b = {.episode = &ep,
                               .messages = test_msgs,
                               .n_messages = 4,
                               .tool_calls = test_calls,
                               .n_tool_calls = 2,
                               .tokens = &tok,
                               .events = test_events,
                               .n_events = 2};
        int64_t id = 0;
        if (ef_store_bundle_insert(f.s, &b, &id) < 0)
            continue;
        ef_episode_row *e = NULL;
        if (ef_store_episode_get(f.s, id, &e) == 0)
            EF_CHECK_EQ_STR(e->answer, "4");
        ef_store_episode_free(e);
        ef_message_row *m = NULL;
        size_t k = 0;
        if (ef_store_message_list(f.s, id, &m, &k) == 0)
            EF_CHECK_EQ_INT(k, 4);
        ef_store_message_list_free(m, k);
        ef_tool_call_row *c = NULL;
        if (ef_store_tool_call_list(f.s, id, &c, &k) == 0)
            EF_CHECK_EQ_INT(k, 2);
        ef_store_tool_call_list_free(c, k);
        ef_token_stream *t = NULL;
        if (ef_store_token_stream_get(f.s, id, &t) == 0)
            EF_CHECK(memcmp(t->routes, tok_routes, sizeof tok_routes) == 0);
        ef_store_token_stream_free(t);
        ef_event_row *ev = NULL;
        if (ef_store_event_list(f.s, 0, id, &ev, &k) == 0)
            EF_CHECK_EQ_INT(k, 2);
        ef_store_event_list_free(ev, k);
        ef_run_row *r = NULL;
        if (ef_store_run_get(f.s, f.run_id, &r) == 0)
            EF_CHECK_EQ_STR(r->name, "r1");
        ef_store_run_free(r);
        ef_task_row *tr = NULL;
        if (ef_store_task_get(f.s, f.task_id[0], &tr) == 0)
            EF_CHECK_EQ_STR(tr->prompt, "p0");
        ef_store_task_free(tr);
        ef_episode_iter *it = NULL;
        if (ef_store_episode_iter_new(f.s, NULL, &it) == 0) {
            const ef_episode_row *row;
            while (ef_store_episode_iter_next(it, &row, NULL) == 1)
                ;
        }
        ef_store_episode_iter_free(it);
    }
    EF_CHECK(n_runs > 5);
    printf("    %ld allocation-failure runs\n", n_runs);
    /* each bundle is all or nothing */
    long long n_ep = sql_int(p, "SELECT count(*) FROM episodes");
    EF_CHECK(n_ep >= 1);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM messages"), 4 * n_ep);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM tool_calls"), 2 * n_ep);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM token_streams"), n_ep);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM events"), 2 * n_ep);
    EF_CHECK_OK(ctx, ef_store_check(f.s));
    ef_store_close(f.s);
}

static void test_alloc_failure_writer(void)
{
    fixture f;
    if (fixture_open(&f, "alloc3.db") < 0)
        return;
    const char *p = db_path("alloc3.db");
    ef_store_close(f.s);
    long n_runs = 0, n_stored = 0;
    EF_ALLOC_LOOP(n, 5000)
    {
        n_runs++;
        ef_store_writer *w = NULL;
        if (ef_store_writer_new(ctx, p, NULL, &w) < 0)
            continue;
        ef_episode_row ep = make_episode(&f, 1, (int)n, 0.5);
        ef_token_stream tok = make_tokens(0);
        ef_episode_bundle b = {.episode = &ep,
                               .messages = test_msgs,
                               .n_messages = 4,
                               .tool_calls = test_calls,
                               .n_tool_calls = 2,
                               .tokens = &tok};
        if (ef_store_writer_submit(w, ctx, &b, 1) == 0)
            n_stored++;
        ef_event_row ev = {.run_id = f.run_id, .kind = "k"};
        if (ef_store_writer_submit_event(w, ctx, &ev, 2) == 0)
            n_stored++;
        EF_CHECK_OK(ctx, ef_store_writer_close(w, ctx));
    }
    EF_CHECK(n_runs > 3);
    printf("    %ld allocation-failure runs\n", n_runs);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes") +
                        sql_int(p, "SELECT count(*) FROM events"),
                    n_stored);
    EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM messages"),
                    4 * sql_int(p, "SELECT count(*) FROM episodes"));
}

/* ---- a killed writer process ------------------------------------------------------------ */

#define KILL_BATCH 8

/* Runs the child until it has reported kill_after commits (0: right after "ready"),
 * SIGKILLs it, and returns the batches it reported (drained until EOF). */
static int run_and_kill(const char *path, const char *run_name, int kill_after, int *reported,
                        int max_reported, int *n_reported)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char batch[16];
        snprintf(batch, sizeof batch, "%d", KILL_BATCH);
        execl(EF_STORE_CHILD, EF_STORE_CHILD, path, run_name, batch, "100000", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    char line[128];
    int killed = 0, ready = 0;
    *n_reported = 0;
    while (fgets(line, sizeof line, in)) {
        int b;
        if (strcmp(line, "ready\n") == 0)
            ready = 1;
        else if (sscanf(line, "committed %d", &b) == 1 && *n_reported < max_reported) {
            reported[(*n_reported)++] = b;
            if (!killed) {
                /* a reader on its own connection sees the batch while the child writes */
                char sql[256];
                snprintf(sql, sizeof sql,
                         "SELECT count(*) FROM episodes e JOIN runs r ON r.id = e.run_id "
                         "WHERE r.name = '%s' AND e.sample_idx / %d = %d",
                         run_name, KILL_BATCH, b);
                EF_CHECK_EQ_INT(sql_int(path, sql), KILL_BATCH);
            }
        } else
            printf("    child said: %s", line);
        if (!killed && ready && *n_reported >= kill_after) {
            /* vary where in the next batch the kill lands (no timing is asserted) */
            usleep((useconds_t)((kill_after * 1237) % 4000));
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    EF_CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                 "child was not killed by SIGKILL (status 0x%x)", status);
    return ready ? 0 : -1;
}

/* Several processes create and fill the same new file at once: each waits its turn
 * (busy timeout, WAL switch retried), none fails, nothing is lost. */
static void test_processes_share_a_new_file(void)
{
    enum { N_PROCS = 6, TRIALS = 3 };
    for (int trial = 0; trial < TRIALS; trial++) {
        char name[32];
        snprintf(name, sizeof name, "shared-%d.db", trial);
        const char *p = db_path(name);
        pid_t pids[N_PROCS];
        for (int i = 0; i < N_PROCS; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                char run[32];
                snprintf(run, sizeof run, "proc-%d", i);
                if (!freopen("/dev/null", "w", stdout))
                    _exit(126);
                execl(EF_STORE_CHILD, EF_STORE_CHILD, p, run, "2", "3", (char *)NULL);
                _exit(127);
            }
        }
        for (int i = 0; i < N_PROCS; i++) {
            int status = 0;
            waitpid(pids[i], &status, 0);
            EF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                         "trial %d: process %d ended with status 0x%x", trial, i, status);
        }
        EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM runs"), N_PROCS);
        EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM episodes"), N_PROCS * 6);
        EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM envs"), 1);
        EF_CHECK_EQ_INT(sql_int(p, "SELECT count(*) FROM schema_migrations"), 1);
    }
}

static void test_writer_killed_mid_batch(void)
{
    const char *p = db_path("killed.db");
    const int kill_points[] = {0, 1, 3, 7, 12};
    int reported[4096];
    for (size_t r = 0; r < EF_ARRAY_LEN(kill_points); r++) {
        char run_name[32];
        snprintf(run_name, sizeof run_name, "kill-%zu", r);
        int n_rep = 0;
        if (run_and_kill(p, run_name, kill_points[r], reported, 4096, &n_rep) < 0) {
            EF_CHECK_MSG(0, "round %zu: the child did not start", r);
            return;
        }
        EF_CHECK(n_rep >= kill_points[r]);
        /* reopen: recovery, integrity, every reported batch complete, no partial batch */
        ef_store *s = NULL;
        EF_CHECK_OK(ctx, ef_store_open(ctx, p, &s));
        if (!s)
            return;
        EF_CHECK_OK(ctx, ef_store_check(s));
        int64_t run_id = 0;
        EF_CHECK_OK(ctx, ef_store_run_find(s, run_name, &run_id));
        char sql[512];
        for (int i = 0; i < n_rep; i++) {
            snprintf(sql, sizeof sql,
                     "SELECT count(*) FROM episodes WHERE run_id = %lld AND sample_idx / %d = %d",
                     (long long)run_id, KILL_BATCH, reported[i]);
            EF_CHECK_EQ_INT(sql_int(p, sql), KILL_BATCH);
        }
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM (SELECT sample_idx / %d AS b, count(*) AS n FROM episodes "
                 "WHERE run_id = %lld GROUP BY b HAVING n != %d)",
                 KILL_BATCH, (long long)run_id, KILL_BATCH);
        EF_CHECK_EQ_INT(sql_int(p, sql), 0);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM episodes e WHERE run_id = %lld AND ("
                 "(SELECT count(*) FROM messages WHERE episode_id = e.id) != 3 OR "
                 "(SELECT count(*) FROM tool_calls WHERE episode_id = e.id) != 2 OR "
                 "(SELECT count(*) FROM events WHERE episode_id = e.id) != 1 OR "
                 "(SELECT n_tokens FROM token_streams WHERE episode_id = e.id) IS NOT 1500)",
                 (long long)run_id);
        EF_CHECK_EQ_INT(sql_int(p, sql), 0);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM episodes WHERE run_id = %lld",
                 (long long)run_id);
        long long n_stored = sql_int(p, sql);
        EF_CHECK(n_stored >= (long long)n_rep * KILL_BATCH);
        printf("    round %zu: killed after %d reported batches; %lld episodes stored "
               "(%lld unreported committed batches)\n",
               r, n_rep, n_stored, n_stored / KILL_BATCH - n_rep);
        /* and it takes new writes: directly and through a new writer */
        ef_task_iter *it = NULL;
        const ef_task_row *row;
        int64_t task_id = 0;
        EF_CHECK_OK(ctx, ef_store_task_iter_new(s, 0, &it));
        if (it)
            EF_CHECK_EQ_INT(ef_store_task_iter_next(it, &row, &task_id), 1);
        ef_store_task_iter_free(it);
        ef_episode_row ep = {.run_id = run_id,
                             .task_id = task_id,
                             .sample_idx = 900000,
                             .status = "ok",
                             .end_reason = "answer",
                             .reward = 0.0};
        int64_t id;
        EF_CHECK_OK(ctx, ef_store_episode_insert(s, &ep, &id));
        ef_store_writer *w = NULL;
        EF_CHECK_OK(ctx, ef_store_writer_new(ctx, p, NULL, &w));
        ep.sample_idx = 900001;
        ef_episode_bundle b = {.episode = &ep};
        if (w)
            EF_CHECK_OK(ctx, ef_store_writer_submit(w, ctx, &b, 0));
        EF_CHECK_OK(ctx, ef_store_writer_close(w, ctx));
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM episodes WHERE run_id = %lld AND sample_idx >= 900000",
                 (long long)run_id);
        EF_CHECK_EQ_INT(sql_int(p, sql), 2);
        EF_CHECK_OK(ctx, ef_store_check(s));
        ef_store_close(s);
    }
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
    EF_RUN(test_json_check_matches_sqlite);
    EF_RUN(test_runs);
    EF_RUN(test_bundle_roundtrip);
    EF_RUN(test_episode_bad_input_and_unique);
    EF_RUN(test_episode_iter);
    EF_RUN(test_writer_threads);
    EF_RUN(test_alloc_failure_bundle);
    EF_RUN(test_alloc_failure_writer);
    EF_RUN(test_processes_share_a_new_file);
    EF_RUN(test_writer_killed_mid_batch);
    int rc = EF_TEST_END();
    if (rc == 0)
        remove_dir(dir);
    ef_ctx_free(ctx);
    return rc;
}
