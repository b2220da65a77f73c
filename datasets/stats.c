/*
 * datasets/stats.c — `envforge stats`: figures per env and level computed with SQL
 * aggregates (the store is never loaded): tasks, episodes, pass@1/pass@k with the
 * unbiased estimator over each task's samples, mean reward and its histogram, turns,
 * tokens, tool-error rates per tool, end reasons and statuses, per-task flakiness; and
 * the same main figures per run. Memory grows with the number of env/level groups, runs,
 * tools and end reasons only. The result is a cJSON tree (the --json output);
 * stats_table.c prints it as text and report.c draws it.
 */
#include <math.h>
#include <string.h>
#include "common/json.h"
#include "datasets/export_int.h"

#define N_HIST 10
#define MAX_FLAKY 100

typedef struct {
    int64_t task_id, n, c;
    double f;
} flaky_task;

typedef struct {
    char *env;
    int level;
    int64_t tasks, tasks_sampled, episodes, verified, solved;
    double reward_sum;
    int64_t hist[N_HIST];
    int64_t turns_sum, turns_max;
    int64_t prompt_tokens, completion_tokens;
    int64_t tool_calls, tool_errors, parse_errors, resets;
    double pass_sum[EF_STATS_MAX_K];
    int64_t pass_n[EF_STATS_MAX_K];
    double flaky_sum;
    int64_t flaky_tasks;
    flaky_task top[MAX_FLAKY];
    int n_top;
    cJSON *turns_hist, *end_reasons, *status, *tools; /* objects: name -> count */
} bucket;

typedef struct {
    ef_store *s;
    const ef_stats_options *o;
    bucket *b;
    size_t n, cap;
    bucket total;
    int oom;
} stats_acc;

static int bucket_init(bucket *b, const char *env, int level)
{
    memset(b, 0, sizeof(*b));
    b->env = ef_strdup(env ? env : "");
    b->level = level;
    b->turns_hist = cJSON_CreateObject();
    b->end_reasons = cJSON_CreateObject();
    b->status = cJSON_CreateObject();
    b->tools = cJSON_CreateObject();
    return b->env && b->turns_hist && b->end_reasons && b->status && b->tools ? 0 : EF_ENOMEM;
}

static void bucket_free(bucket *b)
{
    ef_free(b->env);
    cJSON_Delete(b->turns_hist);
    cJSON_Delete(b->end_reasons);
    cJSON_Delete(b->status);
    cJSON_Delete(b->tools);
}

/* The bucket of (env, level), created in sorted place when new; NULL when out of memory. */
static bucket *bucket_of(stats_acc *a, const char *env, int level)
{
    env = env ? env : "";
    size_t i = 0;
    for (; i < a->n; i++) {
        int c = strcmp(a->b[i].env, env);
        if (c == 0 && a->b[i].level == level)
            return &a->b[i];
        if (c > 0 || (c == 0 && a->b[i].level > level))
            break;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        bucket *nb = ef_realloc(a->b, cap * sizeof(*nb));
        if (!nb)
            return NULL;
        a->b = nb;
        a->cap = cap;
    }
    memmove(&a->b[i + 1], &a->b[i], (a->n - i) * sizeof(bucket));
    a->n++;
    if (bucket_init(&a->b[i], env, level) < 0) {
        bucket_free(&a->b[i]);
        memmove(&a->b[i], &a->b[i + 1], (a->n - i - 1) * sizeof(bucket));
        a->n--;
        return NULL;
    }
    return &a->b[i];
}

static int count_add(cJSON *obj, const char *key, double v)
{
    key = key ? key : "";
    cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (it) {
        cJSON_SetNumberValue(it, it->valuedouble + v);
        return 0;
    }
    return cJSON_AddNumberToObject(obj, key, v) ? 0 : EF_ENOMEM;
}

/* ---- the queries --------------------------------------------------------------------- */

#define FROM_EPISODES                                                                              \
    " FROM episodes ep JOIN tasks t ON t.id = ep.task_id JOIN envs e ON e.id = t.env_id "          \
    "JOIN runs r ON r.id = ep.run_id WHERE (?1 IS NULL OR r.name = ?1) "                           \
    "AND (?2 IS NULL OR e.name = ?2) "

typedef int (*row_fn)(stats_acc *a, bucket *b, sqlite3_stmt *st);

/* Runs sql (columns 0, 1 = env name, level) and hands each row to fn with its bucket and
 * the total. */
static int each_row(stats_acc *a, const char *sql, row_fn fn)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(a->s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(a->s, rc, "stats: prepare");
    if (a->o->run)
        sqlite3_bind_text(st, 1, a->o->run, -1, SQLITE_STATIC);
    if (a->o->env)
        sqlite3_bind_text(st, 2, a->o->env, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 3, a->o->success_reward);
    int step;
    rc = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        bucket *b =
            bucket_of(a, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
        if (!b || fn(a, b, st) < 0 || fn(a, &a->total, st) < 0) {
            rc = ef_errorf(ef_store_ctx(a->s), EF_ENOMEM, "stats: out of memory");
            break;
        }
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = ef_datasets__sqlerr(a->s, step, "stats: query");
    sqlite3_finalize(st);
    return rc;
}

static int on_tasks(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    b->tasks += sqlite3_column_int64(st, 2);
    return 0;
}

static int on_episodes(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    b->episodes += sqlite3_column_int64(st, 2);
    b->verified += sqlite3_column_int64(st, 3);
    b->solved += sqlite3_column_int64(st, 4);
    b->reward_sum += sqlite3_column_double(st, 5);
    b->turns_sum += sqlite3_column_int64(st, 6);
    if (sqlite3_column_int64(st, 7) > b->turns_max)
        b->turns_max = sqlite3_column_int64(st, 7);
    b->prompt_tokens += sqlite3_column_int64(st, 8);
    b->completion_tokens += sqlite3_column_int64(st, 9);
    b->parse_errors += sqlite3_column_int64(st, 10);
    b->resets += sqlite3_column_int64(st, 11);
    return 0;
}

static int on_hist(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    int bin = sqlite3_column_int(st, 2);
    bin = bin < 0 ? 0 : bin >= N_HIST ? N_HIST - 1 : bin;
    b->hist[bin] += sqlite3_column_int64(st, 3);
    return 0;
}

static int on_turns(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)sqlite3_column_int64(st, 2));
    return count_add(b->turns_hist, key, (double)sqlite3_column_int64(st, 3));
}

static int on_end(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    return count_add(b->end_reasons, (const char *)sqlite3_column_text(st, 2),
                     (double)sqlite3_column_int64(st, 3));
}

static int on_status(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    return count_add(b->status, (const char *)sqlite3_column_text(st, 2),
                     (double)sqlite3_column_int64(st, 3));
}

/* tools: {"name": [calls, errors]}. The group's tool_calls and tool_errors are their
 * sums, so the figures per tool always add up to the group's: both count the stored
 * tool calls, and an error is any call answered with one (episodes.n_tool_errors leaves
 * out the calls whose arguments did not parse, which it counts as parse errors). */
static int on_tools(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    (void)a;
    b->tool_calls += sqlite3_column_int64(st, 3);
    b->tool_errors += sqlite3_column_int64(st, 4);
    const char *tool = (const char *)sqlite3_column_text(st, 2);
    tool = tool ? tool : "";
    cJSON *it = cJSON_GetObjectItemCaseSensitive(b->tools, tool);
    if (!it) {
        it = cJSON_AddArrayToObject(b->tools, tool);
        if (!it || !cJSON_AddItemToArray(it, cJSON_CreateNumber(0)) ||
            !cJSON_AddItemToArray(it, cJSON_CreateNumber(0)))
            return EF_ENOMEM;
    }
    cJSON *calls = cJSON_GetArrayItem(it, 0), *errs = cJSON_GetArrayItem(it, 1);
    if (!calls || !errs)
        return EF_ENOMEM;
    cJSON_SetNumberValue(calls, calls->valuedouble + (double)sqlite3_column_int64(st, 3));
    cJSON_SetNumberValue(errs, errs->valuedouble + (double)sqlite3_column_int64(st, 4));
    return 0;
}

static void top_insert(bucket *b, int cap, const flaky_task *t)
{
    int pos = b->n_top;
    while (pos > 0 && (b->top[pos - 1].f < t->f ||
                       (b->top[pos - 1].f == t->f && b->top[pos - 1].task_id > t->task_id)))
        pos--;
    if (pos >= cap)
        return;
    int n = b->n_top < cap ? b->n_top : cap - 1;
    memmove(&b->top[pos + 1], &b->top[pos], (size_t)(n - pos) * sizeof(flaky_task));
    b->top[pos] = *t;
    if (b->n_top < cap)
        b->n_top++;
}

static int on_task(stats_acc *a, bucket *b, sqlite3_stmt *st)
{
    int64_t n = sqlite3_column_int64(st, 3), c = sqlite3_column_int64(st, 4);
    b->tasks_sampled++;
    for (int i = 0; i < a->o->n_ks; i++) {
        int k = a->o->ks[i];
        if (n >= k) {
            b->pass_sum[i] += ef_pass_at_k((int)n, (int)c, k);
            b->pass_n[i]++;
        }
    }
    flaky_task t = {sqlite3_column_int64(st, 2), n, c, ef_task_flakiness((int)n, (int)c)};
    b->flaky_sum += t.f;
    if (c > 0 && c < n) {
        b->flaky_tasks++;
        int cap = a->o->n_flaky_listed < MAX_FLAKY ? a->o->n_flaky_listed : MAX_FLAKY;
        if (cap > 0)
            top_insert(b, cap, &t);
    }
    return 0;
}

/* ---- to JSON ------------------------------------------------------------------------ */

static double ratio(double a, double b)
{
    return b > 0 ? a / b : NAN;
}

/* Builders that note a failed allocation in *oom instead of losing the node silently. */
static void add_num(int *oom, cJSON *o, const char *k, double v)
{
    if (!(isfinite(v) ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k)))
        *oom = 1;
}

static void add_str(int *oom, cJSON *o, const char *k, const char *v)
{
    if (!cJSON_AddStringToObject(o, k, v))
        *oom = 1;
}

static void add_item(int *oom, cJSON *parent, const char *k, cJSON *item)
{
    if (!item || !parent ||
        !(k ? cJSON_AddItemToObject(parent, k, item) : cJSON_AddItemToArray(parent, item))) {
        cJSON_Delete(item);
        *oom = 1;
    }
}

static cJSON *add_container(int *oom, cJSON *parent, const char *k, int array)
{
    cJSON *c = array ? cJSON_CreateArray() : cJSON_CreateObject();
    if (!c || !parent || !cJSON_AddItemToObject(parent, k, c)) {
        cJSON_Delete(c);
        *oom = 1;
        return NULL;
    }
    return c;
}

/* Moves *src (a map the bucket owns) into parent under k. */
static void add_owned(int *oom, cJSON *parent, const char *k, cJSON **src)
{
    if (parent && *src && cJSON_AddItemToObject(parent, k, *src))
        *src = NULL;
    else
        *oom = 1;
}

static cJSON *bucket_json(const stats_acc *a, bucket *b)
{
    int oom = 0;
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    add_str(&oom, j, "env", b->env);
    add_num(&oom, j, "level", b->level);
    add_num(&oom, j, "tasks", (double)b->tasks);
    add_num(&oom, j, "tasks_sampled", (double)b->tasks_sampled);
    add_num(&oom, j, "episodes", (double)b->episodes);
    add_num(&oom, j, "verified", (double)b->verified);
    add_num(&oom, j, "solved", (double)b->solved);
    add_num(&oom, j, "mean_reward", ratio(b->reward_sum, (double)b->episodes));
    cJSON *pk = add_container(&oom, j, "pass_at_k", 0);
    cJSON *nk = add_container(&oom, j, "tasks_at_k", 0);
    for (int i = 0; i < a->o->n_ks && pk && nk; i++) {
        char key[16];
        snprintf(key, sizeof(key), "%d", a->o->ks[i]);
        add_num(&oom, pk, key, ratio(b->pass_sum[i], (double)b->pass_n[i]));
        add_num(&oom, nk, key, (double)b->pass_n[i]);
    }
    cJSON *h = add_container(&oom, j, "reward_histogram", 1);
    for (int i = 0; i < N_HIST && h; i++)
        add_item(&oom, h, NULL, cJSON_CreateNumber((double)b->hist[i]));
    cJSON *turns = add_container(&oom, j, "turns", 0);
    if (turns) {
        add_num(&oom, turns, "mean", ratio((double)b->turns_sum, (double)b->episodes));
        add_num(&oom, turns, "max", (double)b->turns_max);
        add_owned(&oom, turns, "histogram", &b->turns_hist);
    }
    cJSON *tok = add_container(&oom, j, "tokens", 0);
    if (tok) {
        add_num(&oom, tok, "prompt", (double)b->prompt_tokens);
        add_num(&oom, tok, "completion", (double)b->completion_tokens);
        add_num(&oom, tok, "mean_completion",
                ratio((double)b->completion_tokens, (double)b->episodes));
    }
    add_num(&oom, j, "tool_calls", (double)b->tool_calls);
    add_num(&oom, j, "tool_errors", (double)b->tool_errors);
    add_num(&oom, j, "tool_error_rate", ratio((double)b->tool_errors, (double)b->tool_calls));
    add_num(&oom, j, "parse_errors", (double)b->parse_errors);
    add_num(&oom, j, "context_resets", (double)b->resets);
    cJSON *tools = add_container(&oom, j, "tools", 1);
    const cJSON *t, *tool_map = tools ? b->tools : NULL;
    cJSON_ArrayForEach(t, tool_map)
    {
        cJSON *o = cJSON_CreateObject();
        double calls = cJSON_GetArrayItem(t, 0)->valuedouble;
        double errs = cJSON_GetArrayItem(t, 1)->valuedouble;
        if (o) {
            add_str(&oom, o, "tool", t->string);
            add_num(&oom, o, "calls", calls);
            add_num(&oom, o, "errors", errs);
            add_num(&oom, o, "error_rate", ratio(errs, calls));
        }
        add_item(&oom, tools, NULL, o);
    }
    add_owned(&oom, j, "end_reasons", &b->end_reasons);
    add_owned(&oom, j, "status", &b->status);
    cJSON *fl = add_container(&oom, j, "flakiness", 0);
    if (fl) {
        add_num(&oom, fl, "mean", ratio(b->flaky_sum, (double)b->tasks_sampled));
        add_num(&oom, fl, "flaky_tasks", (double)b->flaky_tasks);
    }
    cJSON *ft = add_container(&oom, fl, "tasks", 1);
    for (int i = 0; i < b->n_top && ft; i++) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            add_num(&oom, o, "task_id", (double)b->top[i].task_id);
            add_num(&oom, o, "n", (double)b->top[i].n);
            add_num(&oom, o, "c", (double)b->top[i].c);
            add_num(&oom, o, "flakiness", b->top[i].f);
        }
        add_item(&oom, ft, NULL, o);
    }
    if (oom) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* ---- per run ------------------------------------------------------------------------ */

static int prepare_bound(ef_store *s, const ef_stats_options *o, const char *sql,
                         sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);
    if (rc != SQLITE_OK)
        return ef_datasets__sqlerr(s, rc, "stats: prepare");
    if (o->run)
        sqlite3_bind_text(*out, 1, o->run, -1, SQLITE_STATIC);
    if (o->env)
        sqlite3_bind_text(*out, 2, o->env, -1, SQLITE_STATIC);
    sqlite3_bind_double(*out, 3, o->success_reward);
    return 0;
}

/* One row per run (in id order) with the figures `stats --by run` prints. */
static cJSON *run_row(int *oom, sqlite3_stmt *st)
{
    cJSON *r = cJSON_CreateObject();
    if (!r) {
        *oom = 1;
        return NULL;
    }
    const char *nm = (const char *)sqlite3_column_text(st, 1);
    const char *md = (const char *)sqlite3_column_text(st, 2);
    double eps = (double)sqlite3_column_int64(st, 4), passed = (double)sqlite3_column_int64(st, 5);
    double completion = (double)sqlite3_column_int64(st, 9);
    add_str(oom, r, "name", nm ? nm : "");
    add_str(oom, r, "model", md ? md : "");
    add_num(oom, r, "group_size", sqlite3_column_int(st, 3));
    add_num(oom, r, "episodes", eps);
    add_num(oom, r, "verified", (double)sqlite3_column_int64(st, 7));
    add_num(oom, r, "passed", passed);
    add_num(oom, r, "pass_rate", ratio(passed, eps));
    add_num(oom, r, "mean_reward", ratio(sqlite3_column_double(st, 6), eps));
    cJSON *tok = add_container(oom, r, "tokens", 0);
    if (tok) {
        add_num(oom, tok, "prompt", (double)sqlite3_column_int64(st, 8));
        add_num(oom, tok, "completion", completion);
        add_num(oom, tok, "mean_completion", ratio(completion, eps));
    }
    /* tool figures come from the second query; 0 for a run without tool calls */
    add_num(oom, r, "tool_calls", 0);
    add_num(oom, r, "tool_errors", 0);
    add_num(oom, r, "tool_error_rate", NAN);
    add_num(oom, r, "parse_errors", (double)sqlite3_column_int64(st, 10));
    add_num(oom, r, "episode_errors", (double)sqlite3_column_int64(st, 11));
    return r;
}

static void set_num(int *oom, cJSON *o, const char *k, double v)
{
    cJSON *n = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
    if (!n || !cJSON_ReplaceItemInObjectCaseSensitive(o, k, n)) {
        cJSON_Delete(n);
        *oom = 1;
    }
}

/* The runs the figures pool, as an array of run rows; the same filters as the rest. */
static int runs_json(ef_store *s, const ef_stats_options *o, cJSON **out)
{
    ef_ctx *ctx = ef_store_ctx(s);
    static const char *const runs_sql =
        "SELECT r.id, r.name, r.model, r.group_size, count(*), sum(ep.reward >= ?3), "
        "sum(ep.reward), sum(ep.verified), sum(ep.n_prompt_tokens), "
        "sum(ep.n_completion_tokens), sum(ep.n_parse_errors), "
        "sum(ep.end_reason = 'model_error' OR coalesce(ep.error LIKE 'verify: %', 0))" FROM_EPISODES
        "GROUP BY r.id ORDER BY r.id";
    static const char *const tools_sql =
        "SELECT r.id, count(*), sum(tc.is_error) FROM tool_calls tc "
        "JOIN episodes ep ON ep.id = tc.episode_id JOIN tasks t ON t.id = ep.task_id "
        "JOIN envs e ON e.id = t.env_id JOIN runs r ON r.id = ep.run_id "
        "WHERE (?1 IS NULL OR r.name = ?1) AND (?2 IS NULL OR e.name = ?2) AND ?3 = ?3 "
        "GROUP BY r.id ORDER BY r.id";
    sqlite3_stmt *st = NULL;
    cJSON *runs = cJSON_CreateArray();
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int oom = !runs, step = SQLITE_DONE;
    int rc = prepare_bound(s, o, runs_sql, &st);
    while (rc == 0 && !oom && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            int64_t *p = ef_realloc(ids, nc * sizeof(*p));
            if (!p) {
                oom = 1;
                break;
            }
            ids = p;
            cap = nc;
        }
        ids[n++] = sqlite3_column_int64(st, 0);
        add_item(&oom, runs, NULL, run_row(&oom, st));
    }
    if (rc == 0 && !oom && step != SQLITE_DONE)
        rc = ef_datasets__sqlerr(s, step, "stats: runs");
    sqlite3_finalize(st);
    st = NULL;
    if (rc == 0 && !oom)
        rc = prepare_bound(s, o, tools_sql, &st);
    while (rc == 0 && !oom && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        double calls = (double)sqlite3_column_int64(st, 1);
        double errs = (double)sqlite3_column_int64(st, 2);
        for (size_t i = 0; i < n; i++)
            if (ids[i] == id) {
                cJSON *r = cJSON_GetArrayItem(runs, (int)i);
                set_num(&oom, r, "tool_calls", calls);
                set_num(&oom, r, "tool_errors", errs);
                set_num(&oom, r, "tool_error_rate", ratio(errs, calls));
            }
    }
    if (rc == 0 && !oom && step != SQLITE_DONE)
        rc = ef_datasets__sqlerr(s, step, "stats: tool calls per run");
    sqlite3_finalize(st);
    ef_free(ids);
    if (rc == 0 && oom)
        rc = ef_errorf(ctx, EF_ENOMEM, "stats: out of memory");
    if (rc < 0) {
        cJSON_Delete(runs);
        return rc;
    }
    *out = runs;
    return 0;
}

int ef_stats_compute(ef_store *s, const ef_stats_options *o, cJSON **out)
{
    ef_ctx *ctx = ef_store_ctx(s);
    if (!o || o->version != EF_STATS_OPTIONS_VERSION)
        return ef_errorf(ctx, EF_EINVAL, "stats: options version %u, expected %u",
                         o ? o->version : 0, EF_STATS_OPTIONS_VERSION);
    if (o->n_ks < 0 || o->n_ks > EF_STATS_MAX_K)
        return ef_errorf(ctx, EF_EINVAL, "stats: %d values of k (at most %d)", o->n_ks,
                         EF_STATS_MAX_K);
    for (int i = 0; i < o->n_ks; i++)
        if (o->ks[i] <= 0)
            return ef_errorf(ctx, EF_EINVAL, "stats: k = %d: each k must be >= 1", o->ks[i]);
    stats_acc a;
    memset(&a, 0, sizeof(a));
    a.s = s;
    a.o = o;
    cJSON *root = NULL;
    int rc = bucket_init(&a.total, "all", -1);
    if (rc < 0) {
        rc = ef_errorf(ctx, EF_ENOMEM, "stats: out of memory");
        goto cleanup;
    }
    if ((rc = ef_export__read_begin(s)) < 0)
        goto cleanup;
    static const char *const tasks_sql =
        "SELECT e.name, t.level, count(*) FROM tasks t JOIN envs e ON e.id = t.env_id "
        "WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM episodes ep JOIN runs r ON r.id = "
        "ep.run_id WHERE ep.task_id = t.id AND r.name = ?1)) AND (?2 IS NULL OR e.name = ?2) "
        "AND ?3 = ?3 GROUP BY 1, 2";
    static const char *const ep_sql =
        "SELECT e.name, t.level, count(*), sum(ep.verified), sum(ep.reward >= ?3), "
        "sum(ep.reward), sum(ep.n_turns), max(ep.n_turns), sum(ep.n_prompt_tokens), "
        "sum(ep.n_completion_tokens), sum(ep.n_parse_errors), "
        "sum(ep.n_context_resets)" FROM_EPISODES "GROUP BY 1, 2";
    static const char *const hist_sql =
        "SELECT e.name, t.level, min(CAST(ep.reward * 10 AS INTEGER), 9), count(*)" FROM_EPISODES
        "AND ?3 = ?3 GROUP BY 1, 2, 3";
    static const char *const turns_sql =
        "SELECT e.name, t.level, ep.n_turns, count(*)" FROM_EPISODES "AND ?3 = ?3 GROUP BY 1, 2, 3";
    static const char *const end_sql =
        "SELECT e.name, t.level, ep.end_reason, count(*)" FROM_EPISODES
        "AND ?3 = ?3 GROUP BY 1, 2, 3";
    static const char *const status_sql =
        "SELECT e.name, t.level, ep.status, count(*)" FROM_EPISODES "AND ?3 = ?3 GROUP BY 1, 2, 3";
    static const char *const tools_sql =
        "SELECT e.name, t.level, tc.tool, count(*), sum(tc.is_error) FROM tool_calls tc "
        "JOIN episodes ep ON ep.id = tc.episode_id JOIN tasks t ON t.id = ep.task_id "
        "JOIN envs e ON e.id = t.env_id JOIN runs r ON r.id = ep.run_id "
        "WHERE (?1 IS NULL OR r.name = ?1) AND (?2 IS NULL OR e.name = ?2) AND ?3 = ?3 "
        "GROUP BY 1, 2, 3";
    static const char *const task_sql =
        "SELECT e.name, t.level, ep.task_id, count(*), sum(ep.reward >= ?3)" FROM_EPISODES
        "GROUP BY ep.task_id";
    if ((rc = each_row(&a, tasks_sql, on_tasks)) < 0 ||
        (rc = each_row(&a, ep_sql, on_episodes)) < 0 ||
        (rc = each_row(&a, hist_sql, on_hist)) < 0 ||
        (rc = each_row(&a, turns_sql, on_turns)) < 0 || (rc = each_row(&a, end_sql, on_end)) < 0 ||
        (rc = each_row(&a, status_sql, on_status)) < 0 ||
        (rc = each_row(&a, tools_sql, on_tools)) < 0 ||
        (rc = each_row(&a, task_sql, on_task)) < 0) {
        ef_export__read_end(s);
        goto cleanup;
    }
    /* the runs the figures pool (pass@k over several models or settings mixes them) */
    cJSON *runs = NULL;
    rc = runs_json(s, o, &runs);
    ef_export__read_end(s);
    if (rc < 0) {
        cJSON_Delete(runs);
        goto cleanup;
    }
    root = cJSON_CreateObject();
    int oom = !root || !runs;
    if (!root || !runs || !cJSON_AddItemToObject(root, "runs", runs)) {
        cJSON_Delete(runs); /* not attached: ours to free */
        oom = 1;
    }
    cJSON *groups = add_container(&oom, root, "groups", 1);
    if (root) {
        add_str(&oom, root, "store", ef_store_path(s));
        if (o->run)
            add_str(&oom, root, "run", o->run);
        add_num(&oom, root, "success_reward", o->success_reward);
    }
    cJSON *ks = add_container(&oom, root, "ks", 1);
    for (int i = 0; i < o->n_ks && ks; i++)
        add_item(&oom, ks, NULL, cJSON_CreateNumber(o->ks[i]));
    for (size_t i = 0; i < a.n && groups; i++)
        add_item(&oom, groups, NULL, bucket_json(&a, &a.b[i]));
    if (root)
        add_item(&oom, root, "total", bucket_json(&a, &a.total));
    if (oom) {
        rc = ef_errorf(ctx, EF_ENOMEM, "stats: out of memory");
        goto cleanup;
    }
    *out = root;
    root = NULL;
cleanup:
    cJSON_Delete(root);
    for (size_t i = 0; i < a.n; i++)
        bucket_free(&a.b[i]);
    ef_free(a.b);
    bucket_free(&a.total);
    return rc;
}
