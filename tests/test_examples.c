/*
 * tests/test_examples.c — example environments beyond generation: pinned task hashes (the
 * same file and seed give the same bytes on any machine), every level kept, and verifiers
 * that reward following the task's rules and nothing less:
 *   bank    — an agent that ignores the written policy (pays a payee under review, breaks
 *             the daily limit, moves more than the shortfall, skips the duplicate charge)
 *             scores 0 — on every level-3 task, which generate keeps only when the policy
 *             matters — and following it scores 1;
 *   courses — a feasible plan one semester longer than the optimum scores 0; the optimum
 *             written as JSON or with markdown bullets scores 1;
 *   repo_fix — (real sandbox runs) the reference fix scores 1 and the untouched repository
 *             0; visible tests rewritten to pass score 0, even with the bug fixed; half
 *             of a level-3 fix, or a wrapper special-casing the issue's example (which
 *             turns its visible test green), scores 0; the tools' errors say why.
 * Each env's rules are exercised through the same episode calls a model makes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "envgen/envgen.h"
#include "tests/testlib.h"

static ef_ctx *ctx;
static char src_dir[1024];

typedef struct {
    char hashes[64][65];
    char *tasks[64];
    int levels[64];
    size_t n;
} collect;

static int collect_sink(void *ud, ef_ctx *c, const ef_env_info *env, const ef_env_task *tasks,
                        size_t n, size_t *n_stored, size_t *n_dup)
{
    collect *col = ud;
    (void)c;
    (void)env;
    for (size_t i = 0; i < n && col->n < 64; i++, col->n++) {
        memcpy(col->hashes[col->n], tasks[i].content_hash, 65);
        col->tasks[col->n] = ef_strdup(tasks[i].task_json);
        col->levels[col->n] = tasks[i].level;
    }
    *n_stored = n;
    *n_dup = 0;
    return 0;
}

static void collect_free(collect *col)
{
    for (size_t i = 0; i < col->n; i++)
        ef_free(col->tasks[i]);
    memset(col, 0, sizeof *col);
}

static void env_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/examples/envs/%s.lua", src_dir, name);
}

/* gen NAME -n n --seed 1 with 2 jobs into col; every level kept, self-check passed */
static int gen(const char *name, size_t n, collect *col)
{
    char path[1200];
    env_path(path, sizeof path, name);
    ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
    o.seed = 1;
    o.n_tasks = n;
    o.n_jobs = 2;
    o.sink = collect_sink;
    o.sink_ud = col;
    ef_envgen_summary s;
    int rc = ef_envgen_run(ctx, path, &o, &s);
    EF_CHECK_MSG(rc == 0, "%s: %s", name, ef_errmsg(ctx));
    if (rc == 0) {
        EF_CHECK(s.sc_pass);
        EF_CHECK_EQ_INT(s.n_warnings, 0);
        for (int l = s.level_lo; l <= s.level_hi; l++)
            EF_CHECK_MSG(s.kept_per_level[l - s.level_lo] > 0, "%s: level %d kept nothing", name, l);
    }
    ef_envgen_summary_clear(&s);
    return rc;
}

/* ---- pinned hashes ------------------------------------------------------------------------ */

static const struct {
    const char *env;
    const char *hash[3]; /* tasks 0, 1, 2 of `gen ENV -n 8 --seed 1` (levels 1, 2, 3) */
} pins[] = {
    {"bank", {"64638a43dd7860adfb3a08b3fb5dfe53ff1b0c04b2da93236bcd926ffc2de2bd",
              "98fe31daf84df5e0667fabeef420323f8656dd0b3925c249d0ce6fe37ac031af",
              "ec56172af350758b6793b98c4789e680edcd50394067331c69897c31867eca35"}},
    {"courses", {"1e591dd64803cc9fe0a026bd7d4ff9ab593bc16ac332416b29faa8d4b8962372",
                 "8bce45148e5f60433d461760e5eb47877e3b30b32e6732d88a135ca1691b35cf",
                 "b22c416225ac2cba662c7173a15e4134fe3999a175d25f1b69a70bbaf8df47d9"}},
};

static void test_pinned(void)
{
    for (size_t i = 0; i < EF_ARRAY_LEN(pins); i++) {
        collect col;
        memset(&col, 0, sizeof col);
        if (gen(pins[i].env, 8, &col) == 0 && col.n == 8) {
            for (int k = 0; k < 3; k++) {
                EF_CHECK_MSG(strcmp(col.hashes[k], pins[i].hash[k]) == 0, "%s task %d: %s", pins[i].env,
                             k, col.hashes[k]);
                EF_CHECK_EQ_INT(col.levels[k], k + 1);
            }
        }
        collect_free(&col);
    }
}

/* ---- episodes ------------------------------------------------------------------------------- */

/* Calls a tool; returns its parsed result (NULL on a tool error). cJSON_Delete it. */
static cJSON *call(ef_env_episode *ep, const char *tool, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cJSON *call(ef_env_episode *ep, const char *tool, const char *fmt, ...)
{
    char args[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *res = NULL;
    int is_err = 0;
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, tool, args, &res, &is_err));
    cJSON *v = res && !is_err ? cJSON_Parse(res) : NULL;
    ef_free(res);
    return v;
}

static double verify_text(ef_env_episode *ep, const char *text)
{
    cJSON *s = cJSON_CreateString(text);
    char *ans = ef_json_print(s);
    cJSON_Delete(s);
    double r = -1;
    char *info = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_verify(ctx, ep, ans, &r, &info));
    ef_free(info);
    ef_free(ans);
    return r;
}

static const char *str_at(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static long long num_at(const cJSON *o, const char *k)
{
    return (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Serves a bank task with the policy's top-up rule but none of its declines (every bill
 * paid when money allows); extra_cents is moved on top of every top-up. Returns the reward
 * for an answer stating the real final checking balance; *violations counts the transfers
 * and payments that went through where the policy moves nothing (a declined bill) or less
 * (extra_cents). With none, the agent did what the policy does. */
static double bank_agent(ef_env *env, const char *task_json, long long extra_cents, int *violations)
{
    *violations = 0;
    cJSON *task = cJSON_Parse(task_json);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(task, "meta");
    ef_env_episode *ep = NULL;
    double r = -1;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, task_json, &ep));
    if (!ep || !meta) {
        cJSON_Delete(task);
        return r;
    }
    cJSON_Delete(call(ep, "verify_identity", "{\"name\":\"%s\",\"dob\":\"%s\"}", str_at(meta, "name"),
                      str_at(meta, "dob")));
    char chk[32] = "", sav[32] = "";
    cJSON *accs = call(ep, "get_accounts", "{}");
    const cJSON *a;
    cJSON_ArrayForEach(a, accs)
    {
        if (strcmp(str_at(a, "kind"), "checking") == 0)
            snprintf(chk, sizeof chk, "%s", str_at(a, "account_id"));
        else
            snprintf(sav, sizeof sav, "%s", str_at(a, "account_id"));
    }
    cJSON_Delete(accs);
    const cJSON *req;
    int k = 0;
    cJSON_ArrayForEach(req, cJSON_GetObjectItemCaseSensitive(meta, "requests"))
    {
        const char *outcome = cJSON_GetStringValue(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(meta, "outcomes"), k++));
        int declined = outcome && strncmp(outcome, "decline", 7) == 0;
        long long amount = num_at(req, "amount");
        cJSON *hits = call(ep, "find_payee", "{\"name\":\"%s\"}", str_at(req, "payee"));
        const cJSON *h, *p = NULL;
        cJSON_ArrayForEach(h, hits) if (strcmp(str_at(h, "name"), str_at(req, "payee")) == 0) p = h;
        long long bal = -1;
        accs = call(ep, "get_accounts", "{}");
        cJSON_ArrayForEach(a, accs) if (strcmp(str_at(a, "account_id"), chk) == 0) bal = num_at(a, "balance_cents");
        cJSON_Delete(accs);
        if (bal < amount) {
            cJSON *t = call(ep, "transfer", "{\"from_account\":\"%s\",\"to_account\":\"%s\",\"amount_cents\":%lld}",
                            sav, chk, (amount - bal + 99) / 100 * 100 + extra_cents);
            *violations += t && (declined || extra_cents);
            cJSON_Delete(t);
        }
        if (p) {
            cJSON *t = call(ep, "pay_bill", "{\"account_id\":\"%s\",\"payee_id\":\"%s\",\"amount_cents\":%lld}",
                            chk, str_at(p, "id"), amount);
            *violations += t && declined;
            cJSON_Delete(t);
        }
        cJSON_Delete(hits);
    }
    long long bal = 0;
    accs = call(ep, "get_accounts", "{}");
    cJSON_ArrayForEach(a, accs) if (strcmp(str_at(a, "account_id"), chk) == 0) bal = num_at(a, "balance_cents");
    cJSON_Delete(accs);
    char text[128];
    snprintf(text, sizeof text, "All done.\nChecking balance: %lld.%02lld", bal / 100, bal % 100);
    r = verify_text(ep, text);
    ef_env_episode_free(ep);
    cJSON_Delete(task);
    return r;
}

static void test_bank_policy(void)
{
    collect col;
    memset(&col, 0, sizeof col);
    char path[1200];
    env_path(path, sizeof path, "bank");
    ef_env *env = NULL;
    if (gen("bank", 40, &col) != 0 || ef_env_load(ctx, path, NULL, &env) < 0) {
        EF_CHECK_MSG(0, "bank: %s", ef_errmsg(ctx));
        collect_free(&col);
        return;
    }
    int n_l12 = 0, n_broke = 0, n_same = 0, v = 0;
    for (size_t i = 0; i < col.n; i++) {
        const char *tj = col.tasks[i];
        if (col.levels[i] <= 2) {
            /* one bill: following the top-up rule is the policy; one dollar more is not */
            EF_CHECK_MSG(bank_agent(env, tj, 0, &v) == 1.0 && v == 0,
                         "task %zu: the policy's actions scored below 1", i);
            EF_CHECK_MSG(col.levels[i] == 1 || (bank_agent(env, tj, 100, &v) == 0.0 && v == 1),
                         "task %zu: moving more than the shortfall scored", i);
            n_l12++;
        } else if (col.levels[i] == 3) {
            /* paying (or topping up for) what the policy declines scores 0; an agent whose
             * every such attempt failed for lack of money ends where the policy does */
            double r = bank_agent(env, tj, 0, &v);
            EF_CHECK_MSG(v ? r == 0.0 : r == 1.0, "task %zu: %d policy breaches, reward %g", i, v, r);
            n_broke += v > 0;
            n_same += v == 0;
        } else {
            /* level 4 without the duplicate charge's dispute */
            EF_CHECK_MSG(bank_agent(env, tj, 0, &v) == 0.0, "task %zu: skipping the dispute scored", i);
        }
    }
    EF_CHECK(n_l12 >= 10 && n_broke >= 10 && n_same == 0);
    printf("    bank level 3: %d of %d naive agents broke the policy (0), %d ended where it does (1)\n",
           n_broke, n_broke + n_same, n_same);
    /* the right actions with a wrong balance in the answer, and without the balance */
    ef_env_episode *ep = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, col.tasks[0], &ep));
    char *ans = NULL, *calls = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_solve(ctx, ep, &ans, &calls));
    cJSON *a = ans ? cJSON_Parse(ans) : NULL;
    const char *text = cJSON_GetStringValue(a);
    EF_CHECK(text && verify_text(ep, text) == 1.0);
    EF_CHECK(verify_text(ep, "Done, all paid.") == 0.0);
    EF_CHECK(verify_text(ep, "Checking balance: 0.01") == 0.0);
    cJSON_Delete(a);
    ef_free(ans);
    ef_free(calls);
    ef_env_episode_free(ep);
    ef_env_free(env);
    collect_free(&col);
}

/* ---- courses -------------------------------------------------------------------------------- */

/* One course per semester in an order that respects prerequisites (feasible where there is
 * no offering rule, and as long as the course count). */
static char *one_per_semester(const cJSON *courses)
{
    int n = cJSON_GetArraySize(courses);
    int done[64] = {0};
    ef_buf b = EF_BUF_INIT(1 << 16);
    for (int sem = 1; sem <= n; sem++) {
        for (int i = 0; i < n; i++) {
            const cJSON *c = cJSON_GetArrayItem(courses, i);
            if (done[i])
                continue;
            int ready = 1;
            const cJSON *p;
            cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "prereqs"))
            {
                int found = 0;
                for (int j = 0; j < n; j++)
                    if (done[j] && done[j] < sem &&
                        strcmp(str_at(cJSON_GetArrayItem(courses, j), "code"), cJSON_GetStringValue(p)) == 0)
                        found = 1;
                ready &= found;
            }
            if (ready) {
                done[i] = sem;
                ef_buf_appendf(&b, "Semester %d: %s\n", sem, str_at(c, "code"));
                break;
            }
        }
    }
    return ef_buf_detach(&b);
}

static double verify_on(ef_env *env, const char *task_json, const char *text)
{
    ef_env_episode *ep = NULL;
    double r = -1;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, task_json, &ep));
    if (ep)
        r = verify_text(ep, text);
    ef_env_episode_free(ep);
    return r;
}

static void test_courses_optimum(void)
{
    collect col;
    memset(&col, 0, sizeof col);
    char path[1200];
    env_path(path, sizeof path, "courses");
    ef_env *env = NULL;
    if (gen("courses", 24, &col) != 0 || ef_env_load(ctx, path, NULL, &env) < 0) {
        EF_CHECK_MSG(0, "courses: %s", ef_errmsg(ctx));
        collect_free(&col);
        return;
    }
    int n_longer = 0;
    for (size_t i = 0; i < col.n; i++) {
        cJSON *t = cJSON_Parse(col.tasks[i]);
        const char *ref = str_at(t, "answer");
        const cJSON *courses = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "state"), "courses");
        long long opt = num_at(cJSON_GetObjectItemCaseSensitive(t, "meta"), "optimum");
        EF_CHECK(verify_on(env, col.tasks[i], ref) == 1.0);
        /* the same plan as JSON, and in markdown with bullets and bold */
        ef_buf j = EF_BUF_INIT(1 << 16), md = EF_BUF_INIT(1 << 16);
        ef_buf_appends(&j, "```json\n[");
        const char *line = ref;
        int first = 1;
        while (line && *line) {
            const char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            const char *colon = memchr(line, ':', len);
            int sem = atoi(line + 9);
            ef_buf_appendf(&md, "- **%.*s (%s):** %.*s\n", (int)(colon - line), line,
                           sem % 2 ? "fall" : "spring", (int)(len - (size_t)(colon - line) - 1), colon + 1);
            ef_buf_appends(&j, first ? "[" : ",[");
            first = 0;
            const char *p = colon + 1;
            int fc = 1;
            while (p < line + len) {
                while (p < line + len && (*p == ' ' || *p == ','))
                    p++;
                const char *q = p;
                while (q < line + len && *q != ',' && *q != ' ')
                    q++;
                if (q > p) {
                    ef_buf_appendf(&j, "%s\"%.*s\"", fc ? "" : ",", (int)(q - p), p);
                    fc = 0;
                }
                p = q;
            }
            ef_buf_appends(&j, "]");
            line = nl ? nl + 1 : NULL;
        }
        ef_buf_appends(&j, "]\n```");
        EF_CHECK_MSG(verify_on(env, col.tasks[i], j.data) == 1.0, "task %zu as JSON: %s", i, j.data);
        EF_CHECK_MSG(verify_on(env, col.tasks[i], md.data) == 1.0, "task %zu in markdown: %s", i, md.data);
        ef_buf_free(&j);
        ef_buf_free(&md);
        /* feasible but longer: one course per semester (levels 1-2, no offering rule) */
        if (col.levels[i] <= 2 && cJSON_GetArraySize(courses) > opt) {
            char *slow = one_per_semester(courses);
            EF_CHECK_MSG(verify_on(env, col.tasks[i], slow) == 0.0, "task %zu: a longer plan scored", i);
            ef_free(slow);
            n_longer++;
        }
        cJSON_Delete(t);
    }
    EF_CHECK(n_longer >= 8);
    ef_env_free(env);
    collect_free(&col);
}

/* ---- repo_fix ------------------------------------------------------------------------------ */

/* tasks 0, 1, 2 of `gen repo_fix -n 8 --seed 1` (levels 1, 2, 3); made with the sandbox */
static const char *const repo_fix_pins[3] = {
    "689396965673bf1435f2d2f8bd05528e442139adc16709dbccbf837e62f12f58",
    "1d65e9f00f3ed1dead98a034566327354f8427cd2d4c256dc675449cd364f169",
    "23c93add797b9919ddc121d63b0c604a191b8e845728eb2237120514b12fa3ad"};

/* Calls a tool with args (consumed); returns the result, or the error message as a JSON
 * string with *is_err set. cJSON_Delete it. */
static cJSON *tool(ef_env_episode *ep, const char *name, cJSON *args, int *is_err)
{
    char *a = ef_json_print(args);
    cJSON_Delete(args);
    char *res = NULL;
    *is_err = 0;
    EF_CHECK_OK(ctx, ef_env_episode_call(ctx, ep, name, a, &res, is_err));
    cJSON *v = res ? cJSON_Parse(res) : NULL;
    ef_free(res);
    ef_free(a);
    return v;
}

static cJSON *args2(const char *k1, const char *v1, const char *k2, const char *v2)
{
    cJSON *o = cJSON_CreateObject();
    if (k1)
        cJSON_AddStringToObject(o, k1, v1);
    if (k2)
        cJSON_AddStringToObject(o, k2, v2);
    return o;
}

/* run_tests on the episode; *failed gets the failure count; returns passed (-1: tool error) */
static int run_tests_on(ef_env_episode *ep, int *failed)
{
    int err = 0;
    cJSON *r = tool(ep, "run_tests", cJSON_CreateObject(), &err);
    int passed = r && !err ? (int)num_at(r, "passed") : -1;
    *failed = r && !err ? (int)num_at(r, "failed") : -1;
    cJSON_Delete(r);
    return passed;
}

/* The episode's files as a cJSON object (cJSON_Delete). */
static cJSON *episode_files(ef_env_episode *ep)
{
    char *st = NULL;
    EF_CHECK_OK(ctx, ef_env_episode_state(ctx, ep, &st));
    cJSON *s = st ? cJSON_Parse(st) : NULL;
    ef_free(st);
    cJSON *f = cJSON_DetachItemFromObjectCaseSensitive(s, "files");
    cJSON_Delete(s);
    return f;
}

/* Applies fixes[i] of the task's meta with edit_file; returns 1 when the tool accepted it. */
static int apply_fix(ef_env_episode *ep, const cJSON *fix)
{
    cJSON *a = args2("path", str_at(fix, "path"), "old", str_at(fix, "old"));
    cJSON_AddStringToObject(a, "new", str_at(fix, "new"));
    int err = 0;
    cJSON *r = tool(ep, "edit_file", a, &err);
    cJSON_Delete(r);
    return !err;
}

static void test_repo_fix(void)
{
    char path[1200];
    env_path(path, sizeof path, "repo_fix");
    ef_env *env = NULL;
    EF_CHECK_OK(ctx, ef_env_load(ctx, path, NULL, &env));
    if (!env)
        return;
    ef_env_task t0;
    memset(&t0, 0, sizeof t0);
    if (ef_env_generate(ctx, env, 1, 1, &t0) < 0 && strstr(ef_errmsg(ctx), "sandbox")) {
        ef_env_free(env);
        EF_SKIP_CASE("no sandbox here");
    }
    ef_env_task_clear(&t0);
    collect col;
    memset(&col, 0, sizeof col);
    if (gen("repo_fix", 8, &col) != 0 || col.n != 8) {
        ef_env_free(env);
        collect_free(&col);
        return;
    }
    for (int k = 0; k < 3; k++) {
        EF_CHECK_MSG(strcmp(col.hashes[k], repo_fix_pins[k]) == 0, "repo_fix task %d: %s", k, col.hashes[k]);
        EF_CHECK_EQ_INT(col.levels[k], k + 1);
    }
    int n_hack = 0, n_half = 0;
    for (size_t i = 0; i < col.n; i++) {
        cJSON *task = cJSON_Parse(col.tasks[i]);
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(task, "meta");
        const cJSON *fixes = cJSON_GetObjectItemCaseSensitive(meta, "fixes");
        const cJSON *issue = cJSON_GetObjectItemCaseSensitive(meta, "issue");
        const cJSON *files0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(task, "state"), "files");
        const char *pkg = str_at(meta, "pkg");
        int level = col.levels[i];
        ef_env_episode *ep = NULL;
        int err = 0, failed = 0, passed = 0;

        /* the reference agent scores 1; the untouched repository 0 */
        EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, col.tasks[i], &ep));
        EF_CHECK_MSG(verify_text(ep, "Fixed it.") == 0.0, "task %zu: the untouched repository scored", i);
        char *ans = NULL, *calls = NULL;
        EF_CHECK_OK(ctx, ef_env_episode_solve(ctx, ep, &ans, &calls));
        EF_CHECK_MSG(verify_text(ep, "Fixed it.") == 1.0, "task %zu: the reference fix scored below 1", i);
        ef_free(ans);
        ef_free(calls);
        ef_env_episode_free(ep);

        /* replacing the visible tests by ones that pass scores 0, though run_tests is green */
        EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, col.tasks[i], &ep));
        const cJSON *f;
        cJSON_ArrayForEach(f, files0)
        {
            if (strncmp(f->string, "tests/test_", 11) == 0) {
                cJSON_Delete(tool(ep, "write_file",
                                  args2("path", f->string, "content",
                                        "import unittest\n\n\nclass TestFine(unittest.TestCase):\n"
                                        "    def test_fine(self):\n        pass\n"),
                                  &err));
                EF_CHECK(!err);
            }
        }
        passed = run_tests_on(ep, &failed);
        EF_CHECK_MSG(passed > 0 && failed == 0, "task %zu: stub tests %d passed, %d failed", i, passed, failed);
        EF_CHECK_MSG(verify_text(ep, "Fixed it.") == 0.0, "task %zu: rewritten tests scored", i);
        /* ... and so does editing one expected value while also fixing the bug */
        cJSON_ArrayForEach(f, fixes) EF_CHECK(apply_fix(ep, f));
        EF_CHECK_MSG(verify_text(ep, "Fixed it.") == 0.0, "task %zu: a fix with rewritten tests scored", i);
        ef_env_episode_free(ep);

        /* level 3: fixing one of the two bugs scores 0 */
        if (level == 3) {
            EF_CHECK_EQ_INT(cJSON_GetArraySize(fixes), 2);
            for (int which = 0; which < 2; which++) {
                EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, col.tasks[i], &ep));
                EF_CHECK(apply_fix(ep, cJSON_GetArrayItem(fixes, which)));
                EF_CHECK_MSG(verify_text(ep, "Fixed it.") == 0.0, "task %zu: half a fix scored", i);
                ef_env_episode_free(ep);
                n_half++;
            }
        }
        /* levels 1-2: special-casing the issue's example (a wrapper that returns the expected
         * value for exactly those arguments) turns that visible test green, and scores 0 */
        const char *entry = str_at(issue, "entry"), *mod = str_at(issue, "mod"), *expr = str_at(issue, "expr");
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s.%s(", mod, entry);
        if (level <= 2 && strncmp(expr, prefix, strlen(prefix)) == 0) {
            EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, col.tasks[i], &ep));
            int failed0 = 0;
            run_tests_on(ep, &failed0);
            char file[256];
            snprintf(file, sizeof file, "%s/%s.py", pkg, mod);
            cJSON *files = episode_files(ep);
            size_t n_args = strlen(expr) - strlen(prefix) - 1;
            char *hack = ef_asprintf("%s\n\n_wrong_fix_orig = %s\n\n\ndef %s(*args, **kw):\n"
                                     "    def _probe(*a, **k):\n        return list(a), k\n"
                                     "    if (list(args), kw) == _probe(%.*s):\n        return %s\n"
                                     "    return _wrong_fix_orig(*args, **kw)\n",
                                     str_at(files, file), entry, entry, (int)n_args, expr + strlen(prefix),
                                     str_at(issue, "expected"));
            cJSON_Delete(tool(ep, "write_file", args2("path", file, "content", hack), &err));
            EF_CHECK(!err);
            run_tests_on(ep, &failed);
            EF_CHECK_MSG(failed < failed0, "task %zu: the special case left %d of %d failures", i, failed, failed0);
            EF_CHECK_MSG(verify_text(ep, "Fixed it.") == 0.0, "task %zu: special-casing the issue scored", i);
            ef_free(hack);
            cJSON_Delete(files);
            ef_env_episode_free(ep);
            n_hack++;
        }
        cJSON_Delete(task);
    }
    EF_CHECK(n_half >= 4 && n_hack >= 2);

    /* the tools' errors say why; diff shows the fix */
    cJSON *task = cJSON_Parse(col.tasks[0]);
    const cJSON *fix = cJSON_GetArrayItem(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(task, "meta"), "fixes"), 0);
    const char *fpath = str_at(fix, "path");
    ef_env_episode *ep = NULL;
    int err = 0;
    EF_CHECK_OK(ctx, ef_env_episode_new(ctx, env, col.tasks[0], &ep));
    cJSON *r = tool(ep, "edit_file", args2("path", fpath, "old", "no such text anywhere"), &err);
    EF_CHECK(err); /* missing 'new' breaks the schema */
    cJSON_Delete(r);
    cJSON *a = args2("path", fpath, "old", "no such text anywhere");
    cJSON_AddStringToObject(a, "new", "x");
    r = tool(ep, "edit_file", a, &err);
    EF_CHECK(err);
    EF_CHECK_CONTAINS(cJSON_GetStringValue(r), "old text not found in");
    cJSON_Delete(r);
    a = args2("path", fpath, "old", "    return ");
    cJSON_AddStringToObject(a, "new", "    return 0 + ");
    r = tool(ep, "edit_file", a, &err);
    EF_CHECK(err);
    EF_CHECK_CONTAINS(cJSON_GetStringValue(r), "include more surrounding lines so that it is unique");
    cJSON_Delete(r);
    a = args2("path", "nowhere.py", "old", "a");
    cJSON_AddStringToObject(a, "new", "b");
    r = tool(ep, "edit_file", a, &err);
    EF_CHECK(err);
    EF_CHECK_CONTAINS(cJSON_GetStringValue(r), "no file 'nowhere.py' (files: ");
    cJSON_Delete(r);
    r = tool(ep, "write_file", args2("path", "../escape.py", "content", "x = 1\n"), &err);
    EF_CHECK(err);
    EF_CHECK_CONTAINS(cJSON_GetStringValue(r), "has an empty, '.' or '..' part");
    cJSON_Delete(r);
    r = tool(ep, "read_file", args2("path", fpath, NULL, NULL), &err);
    EF_CHECK(!err);
    EF_CHECK_CONTAINS(str_at(r, "text"), "   1| ");
    cJSON_Delete(r);
    r = tool(ep, "diff", cJSON_CreateObject(), &err);
    EF_CHECK(!err && strcmp(str_at(r, "diff"), "(no changes)") == 0);
    cJSON_Delete(r);
    EF_CHECK(apply_fix(ep, fix));
    r = tool(ep, "diff", cJSON_CreateObject(), &err);
    char *want_old = ef_asprintf("\n-%s\n+%s\n", str_at(fix, "old"), str_at(fix, "new"));
    EF_CHECK(!err);
    if (!strchr(str_at(fix, "old"), '\n')) /* a one-line fix: its lines, one after the other */
        EF_CHECK_CONTAINS(str_at(r, "diff"), want_old);
    ef_free(want_old);
    cJSON_Delete(r);
    /* the same final state verified twice (the second from the cache) gives the same verdict */
    EF_CHECK(verify_text(ep, "done") == 1.0 && verify_text(ep, "done") == 1.0);
    ef_env_episode_free(ep);
    cJSON_Delete(task);
    collect_free(&col);
    ef_env_free(env);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    const char *s = getenv("EF_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : "..");
    EF_RUN(test_pinned);
    EF_RUN(test_bank_policy);
    EF_RUN(test_courses_optimum);
    EF_RUN(test_repo_fix);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
