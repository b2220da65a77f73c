/*
 * envgen/gen.c — a generation run: loads the env once per worker thread (one lua_State
 * each), generates or imports candidates in rounds across the pool, validates each,
 * then walks every round in candidate order on the calling thread to drop failures and
 * duplicates and hand kept tasks to the sink in one batch, so the result is the same for
 * any number of workers. The sink runs on a thread of its own, one batch at a time and in
 * order, while the pool makes the next round: storing is then off the pool's critical
 * path (it used to leave the workers idle for about a third of a run of small tasks).
 * Ends with a summary: kept, dropped by reason with the first message of each, per level,
 * time, and the verifier self-check.
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include "common/hash.h"
#include "common/json.h"
#include "common/pool.h"
#include "common/progress.h"
#include "envgen/envgen_int.h"

/* ---- a set of content hashes ---------------------------------------------------------- */

typedef struct {
    uint8_t (*keys)[32];
    uint8_t *used;
    size_t cap, n;
} hash_set;

static int hex_digest(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            v <<= 4;
            v |= (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int set_grow(hash_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 1024;
    uint8_t(*keys)[32] = ef_calloc(cap, 32);
    uint8_t *used = ef_calloc(cap, 1);
    if (!keys || !used) {
        ef_free(keys);
        ef_free(used);
        return EF_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->used[i])
            continue;
        uint64_t h;
        memcpy(&h, s->keys[i], 8);
        size_t j = h & (cap - 1);
        while (used[j])
            j = (j + 1) & (cap - 1);
        memcpy(keys[j], s->keys[i], 32);
        used[j] = 1;
    }
    ef_free(s->keys);
    ef_free(s->used);
    s->keys = keys;
    s->used = used;
    s->cap = cap;
    return 0;
}

/* 1 if added, 0 if present, <0 on OOM. */
static int set_add(hash_set *s, const char *hex)
{
    if ((s->n + 1) * 2 > s->cap && set_grow(s) < 0)
        return EF_ENOMEM;
    uint8_t d[32];
    hex_digest(hex, d);
    uint64_t h;
    memcpy(&h, d, 8);
    size_t j = h & (s->cap - 1);
    while (s->used[j]) {
        if (memcmp(s->keys[j], d, 32) == 0)
            return 0;
        j = (j + 1) & (s->cap - 1);
    }
    memcpy(s->keys[j], d, 32);
    s->used[j] = 1;
    s->n++;
    return 1;
}

static void set_free(hash_set *s)
{
    ef_free(s->keys);
    ef_free(s->used);
}

/* ---- the run ------------------------------------------------------------------------- */

typedef struct {
    ef_env_task task;
    ef_envgen_check chk;
    int gen_failed;
    char *gen_message;
} candidate;

typedef struct {
    const ef_envgen_options *opts;
    const char *path;
    const char *source;
    size_t source_len;
    uint64_t env_hash;
    ef_env **envs;    /* per worker */
    ef_ctx **ctxs;    /* per worker */
    int *load_rc;
    char **load_msg;
    candidate *cands;
    candidate *prev; /* the last round's candidates, freed by the workers of the next */
    size_t n_prev;
    size_t base;
    int n_levels_run, level_lo;
    char **lines;     /* import mode */
    int *line_levels;
    size_t *line_nos; /* the file line of each imported task */
    size_t n_lines;
    uint64_t run_seed;
} run_state;

static void make_candidate(run_state *rs, ef_env *env, ef_ctx *ctx, candidate *c, uint64_t idx);
static void cand_clear(candidate *c);

static void work(void *ud, size_t i, int tid)
{
    run_state *rs = ud;
    candidate *c = &rs->cands[i];
    memset(c, 0, sizeof *c);
    if (i < rs->n_prev) /* spread the frees over the workers, off the serial walk */
        cand_clear(&rs->prev[i]);
    if (!rs->envs[tid] && !rs->load_rc[tid]) {
        rs->load_rc[tid] = ef_env_load_buffer(rs->ctxs[tid], rs->path, rs->source, rs->source_len,
                                              &rs->opts->limits, &rs->envs[tid]);
        if (rs->load_rc[tid] < 0)
            rs->load_msg[tid] = ef_strdup(ef_errmsg(rs->ctxs[tid]));
        else
            rs->envs[tid]->sandbox_slot = tid;
    }
    ef_env *env = rs->envs[tid];
    ef_ctx *ctx = rs->ctxs[tid];
    uint64_t idx = rs->base + i;
    if (!env) {
        c->gen_failed = 1;
        c->gen_message = ef_strdup(rs->load_msg[tid] ? rs->load_msg[tid] : "env failed to load");
        return;
    }
    /* fast mode when it can be on (see envgen_int.h); a candidate it cannot vouch for is
     * made again in exact mode, whose result is the one kept */
    int fast = !rs->opts->exact && ef_envgen__fast(env, 1) == 0;
    make_candidate(rs, env, ctx, c, idx);
    if (fast && (env->fast_aborted || env->aborting || env->mem_hit_any)) {
        cand_clear(c);
        ef_envgen__fast(env, 0);
        env->n_redone++;
        if (env->n_redone > 16 && env->n_redone * 20 > env->n_fast_runs)
            env->fast_disabled = 1; /* mostly long calls: not worth the double work */
        make_candidate(rs, env, ctx, c, idx);
    } else if (fast) {
        env->n_fast_runs++;
    }
}

static void make_candidate(run_state *rs, ef_env *env, ef_ctx *ctx, candidate *c, uint64_t idx)
{
    int rc;
    if (rs->lines) { /* messages name the file's line */
        const char *line = rs->lines[idx];
        rc = ef_env_task_from_json(ctx, env, line, strlen(line), &c->task);
        c->task.idx = (int64_t)idx;
        if (rc < 0) {
            c->gen_failed = 1;
            c->gen_message = ef_asprintf("%s:%zu: %s", rs->opts->from_jsonl, rs->line_nos[idx],
                                         ef_errmsg(ctx));
            return;
        }
        c->task.level = rs->line_levels[idx];
        ef_envgen_validate(ctx, env, &c->task, &c->chk);
        if (c->chk.message) {
            char *m = ef_asprintf("%s:%zu: %s", rs->opts->from_jsonl, rs->line_nos[idx],
                                  c->chk.message);
            if (m) {
                ef_free(c->chk.message);
                c->chk.message = m;
            }
        }
        return;
    } else {
        int level = rs->level_lo + (int)(idx % (uint64_t)rs->n_levels_run);
        uint64_t seed = ef_envgen_task_seed(rs->run_seed, ef_env_get_info(env), idx);
        rc = ef_env_generate(ctx, env, seed, level, &c->task);
        c->task.idx = (int64_t)idx;
    }
    if (rc < 0) {
        c->gen_failed = 1;
        c->gen_message = ef_asprintf("candidate %" PRIu64 ": %s", idx, ef_errmsg(ctx));
        return;
    }
    ef_envgen_validate(ctx, env, &c->task, &c->chk);
}

static void cand_clear(candidate *c)
{
    ef_env_task_clear(&c->task);
    ef_envgen_check_clear(&c->chk);
    ef_free(c->gen_message);
    memset(c, 0, sizeof *c);
}

void ef_envgen_summary_clear(ef_envgen_summary *s)
{
    if (!s)
        return;
    ef_free(s->env_name);
    ef_free(s->path);
    ef_free(s->content_hash);
    for (int i = 0; i < EF_DROP_N_; i++)
        ef_free(s->first_message[i]);
    ef_free(s->kept_per_level);
    for (int l = 0; s->first_drop_per_level && l <= s->level_hi - s->level_lo; l++)
        ef_free(s->first_drop_per_level[l]);
    ef_free(s->first_drop_per_level);
    ef_free(s->candidates_per_level);
    for (size_t i = 0; i < s->n_warnings; i++)
        ef_free(s->warnings[i]);
    ef_free(s->warnings);
    memset(s, 0, sizeof *s);
}

/* What a JSON value is, for messages ("a string", "an array", ...). */
static const char *json_kind(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return "an object";
}

/* Checks one line of an import and finds its task: the line's "task" object when it is
 * an export line ({env, level, task, ...}: a "task" member and no "prompt"), else the
 * line itself (a bare task). On success *task (ef_free) is the task's JSON and *level its
 * level (0: none given); on a bad line writes what is wrong, naming the field, to why and
 * returns EF_EPARSE or EF_EINVAL. */
static int check_line(const char *p, size_t l, const ef_env_info *info, char **task, int *level,
                      char *why, size_t why_len)
{
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(p, l, &end, 0);
    int rc = EF_EINVAL;
    *task = NULL;
    *level = 0;
    if (!doc) {
        size_t col = end && end >= p && end <= p + l ? (size_t)(end - p) + 1 : 1;
        snprintf(why, why_len, "not valid JSON (column %zu)", col);
        return EF_EPARSE;
    }
    if (!cJSON_IsObject(doc)) {
        snprintf(why, why_len, "%s, expected a JSON object (a task, or a line of `gen -o` or "
                 "`export --format tasks`)", json_kind(doc));
        goto done;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "task");
    int export_line = t && !cJSON_HasObjectItem(doc, "prompt");
    const char *pfx = export_line ? "task." : "";
    if (export_line) {
        if (!cJSON_IsObject(t)) {
            snprintf(why, why_len, "field 'task' is %s, expected an object (the task)", json_kind(t));
            goto done;
        }
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(doc, "env");
        if (en && !cJSON_IsString(en)) {
            snprintf(why, why_len, "field 'env' is %s, expected a string (the env's name)",
                     json_kind(en));
            goto done;
        }
        if (en && strcmp(en->valuestring, info->name) != 0) {
            snprintf(why, why_len,
                     "field 'env': this task belongs to env '%.100s', not to '%.100s' (%.200s); "
                     "import it with that env",
                     en->valuestring, info->name, info->path);
            goto done;
        }
        const cJSON *lv = cJSON_GetObjectItemCaseSensitive(doc, "level");
        if (lv && (!cJSON_IsNumber(lv) || lv->valuedouble != (double)lv->valueint ||
                   lv->valueint < 1 || lv->valueint > info->n_levels)) {
            char *shown = cJSON_PrintUnformatted(lv);
            snprintf(why, why_len, "field 'level' = %.60s is not a level of env '%.100s' (1..%d)",
                     shown ? shown : "?", info->name, info->n_levels);
            cJSON_free(shown);
            goto done;
        }
        if (lv)
            *level = lv->valueint;
    } else {
        t = doc;
    }
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(t, "prompt");
    if (!pr) {
        snprintf(why, why_len, "field '%sprompt' is missing (a task needs a non-empty string "
                 "prompt)", pfx);
        goto done;
    }
    if (!cJSON_IsString(pr) || !*pr->valuestring) {
        snprintf(why, why_len, "field '%sprompt' is %s, expected a non-empty string", pfx,
                 cJSON_IsString(pr) ? "empty" : json_kind(pr));
        goto done;
    }
    *task = export_line ? cJSON_PrintUnformatted(t) : ef_strndup(p, l);
    rc = *task ? 0 : EF_ENOMEM;
done:
    cJSON_Delete(doc);
    return rc;
}

/* Reads the tasks of a JSONL file: each line a task object, or an export line
 * {env, env_hash, level, task, ...} (`gen -o`, `export --format tasks`). The whole file
 * is checked before any task goes on (an import is all or nothing as far as its lines'
 * shape goes): a line that is not a JSON object, whose fields have the wrong type, that
 * has no prompt, that names another env or a level the env does not have fails the
 * import, naming file, line and field, and how many other lines are bad. With --level
 * (filter = 1), lines outside lo..hi, or without a level, are skipped and counted in
 * *n_skipped. (*line_nos)[k] is the file line of task k, for messages. */
static int read_lines(ef_ctx *ctx, const char *path, const ef_env_info *info, int lo, int hi,
                      int filter, char ***out, int **levels_out, size_t **line_nos_out,
                      size_t *n_out, size_t *n_skipped)
{
    int *levels = NULL;
    size_t *line_nos = NULL;
    size_t lineno = 0, n_bad = 0, first_bad = 0;
    int bad_rc = 0;
    char first_why[640] = "";
    *n_skipped = 0;
    char *text;
    size_t len;
    int rc = ef_file_read(ctx, path, (size_t)1 << 31, &text, &len);
    if (rc < 0)
        return rc;
    size_t n = 0, cap = 0;
    char **lines = NULL;
    char *p = text;
    while (p < text + len) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(text + len - p);
        size_t a = 0;
        lineno++;
        while (a < l && (p[a] == ' ' || p[a] == '\r' || p[a] == '\t'))
            a++;
        if (a < l) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                char **nl = ef_realloc(lines, cap * sizeof *lines);
                if (nl)
                    lines = nl;
                int *nv = ef_realloc(levels, cap * sizeof *levels);
                if (nv)
                    levels = nv;
                size_t *nn = ef_realloc(line_nos, cap * sizeof *line_nos);
                if (nn)
                    line_nos = nn;
                if (!nl || !nv || !nn) {
                    rc = EF_ENOMEM;
                    break;
                }
            }
            char *task = NULL, why[sizeof first_why];
            int level = 0;
            int lrc = check_line(p, l, info, &task, &level, why, sizeof why);
            if (lrc == EF_ENOMEM) {
                rc = lrc;
                break;
            }
            if (lrc < 0) { /* the first bad line is named; the rest are counted */
                if (n_bad++ == 0) {
                    first_bad = lineno;
                    bad_rc = lrc;
                    snprintf(first_why, sizeof first_why, "%s", why);
                }
            } else if (n_bad || (filter && (level < lo || level > hi))) {
                if (!n_bad)
                    (*n_skipped)++;
                ef_free(task);
            } else {
                levels[n] = level;
                line_nos[n] = lineno;
                lines[n++] = task;
            }
        }
        if (!e)
            break;
        p = e + 1;
    }
    ef_free(text);
    if (rc == 0 && n_bad) {
        char more[96] = "";
        if (n_bad > 1)
            snprintf(more, sizeof more, " (and %zu more bad line%s after it)", n_bad - 1,
                     n_bad > 2 ? "s" : "");
        rc = ef_errorf(ctx, bad_rc,
                       "%s:%zu: %s%s; nothing was imported from %s: its lines are all checked "
                       "before any is stored, and tasks already in the store stay as they were "
                       "(fix the line and run the import again)",
                       path, first_bad, first_why, more, path);
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            ef_free(lines[i]);
        ef_free(lines);
        ef_free(levels);
        ef_free(line_nos);
        return rc == EF_ENOMEM ? ef_errorf(ctx, rc, "%s: out of memory", path) : rc;
    }
    *out = lines;
    *levels_out = levels;
    *line_nos_out = line_nos;
    *n_out = n;
    return 0;
}

static void count_selfcheck(ef_envgen_summary *s, const candidate *c)
{
    if (c->gen_failed)
        return;
    s->sc_checked++;
    if (c->chk.ref_reward >= 1.0 - 1e-9)
        s->sc_ref_ok++;
    for (int k = 0; k < EF_ENVGEN_N_TRIVIAL; k++)
        if (c->chk.trivial_reward[k] >= 1.0 - 1e-9)
            s->sc_trivial_pass[k]++;
}

static int add_warning(ef_envgen_summary *s, char *w)
{
    char **nw = w ? ef_realloc(s->warnings, (s->n_warnings + 1) * sizeof *nw) : NULL;
    if (!nw) {
        ef_free(w);
        return EF_ENOMEM;
    }
    s->warnings = nw;
    s->warnings[s->n_warnings++] = w;
    return 0;
}

/* What an author should hear about the kept tasks' reference solutions: none of them
 * calls a tool although the env has some (the oracle's demonstrations then show no tool
 * use), or some of them got tool errors (the demonstrations show failed calls). */
static int reference_warnings(ef_envgen_summary *s, const ef_env *env, const char *first_err)
{
    const ef_env_info *info = ef_env_get_info(env);
    int has_tools = info->tools_json && strcmp(info->tools_json, "[]") != 0;
    if (has_tools && s->n_kept && s->n_ref_no_calls == s->n_kept &&
        add_warning(s, ef_asprintf("%s:%d: solve made no tool calls on any of the %zu kept tasks, "
                                   "though the env has tools: the oracle's demonstrations will "
                                   "show none (act through call(NAME, ARGS) as a model would)",
                                   info->path, env->fn_line[1], s->n_kept)) < 0)
        return EF_ENOMEM;
    if (s->n_ref_tool_errors && first_err &&
        add_warning(s, ef_asprintf("the reference solution got tool errors on %zu of the %zu kept "
                                   "tasks (the oracle's demonstrations show these failed calls); "
                                   "first: %.300s",
                                   s->n_ref_tool_errors, s->n_kept, first_err)) < 0)
        return EF_ENOMEM;
    return 0;
}

static char *fail_summary(const ef_envgen_summary *s)
{
    ef_buf b = EF_BUF_INIT(1 << 16);
    for (int r = 1; r < EF_DROP_N_; r++) {
        if (!s->n_dropped[r])
            continue;
        ef_buf_appendf(&b, "\n  %s: %zu", ef_envgen_drop_name(r), s->n_dropped[r]);
        if (s->first_message[r])
            ef_buf_appendf(&b, " — first: %s", s->first_message[r]);
    }
    return ef_buf_detach(&b);
}

/* ---- the sink's thread ----------------------------------------------------------------- */

/* One batch in flight at a time: post() hands it over, wait() collects the outcome and
 * frees the batch. The sink reports into its own ctx; a failure is copied to the run's. */
typedef struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, quit, pending; /* pending: a batch posted and not yet collected */
    int done;                   /* the thread finished the pending batch */
    const ef_envgen_options *opts;
    const ef_env_info *info;
    ef_ctx *ctx;
    ef_env_task *batch;
    size_t n;
    int rc;
    size_t n_stored, n_dup;
} sink_thread;

static void *sink_main(void *arg)
{
    sink_thread *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->quit && !(st->pending && !st->done))
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->quit)
            break;
        pthread_mutex_unlock(&st->mu);
        size_t n_stored = 0, n_dup = 0;
        int rc = st->opts->sink(st->opts->sink_ud, st->ctx, st->info, st->batch, st->n, &n_stored,
                                &n_dup);
        pthread_mutex_lock(&st->mu);
        st->rc = rc;
        st->n_stored = n_stored;
        st->n_dup = n_dup;
        st->done = 1;
        pthread_cond_broadcast(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static int sink_start(ef_ctx *ctx, sink_thread *st, const ef_envgen_options *opts,
                      const ef_env_info *info)
{
    memset(st, 0, sizeof *st);
    st->opts = opts;
    st->info = info;
    if (!(st->ctx = ef_ctx_new()))
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    if (pthread_create(&st->th, NULL, sink_main, st) != 0) {
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        ef_ctx_free(st->ctx);
        st->ctx = NULL;
        return ef_errorf(ctx, EF_ENOMEM, "cannot start the store's thread");
    }
    st->started = 1;
    return 0;
}

/* Waits for the batch in flight, adds its counts to the summary and frees it. Returns the
 * sink's rc (its message copied to ctx). */
static int sink_wait(ef_ctx *ctx, sink_thread *st, ef_envgen_summary *out)
{
    if (!st->started || !st->pending)
        return 0;
    pthread_mutex_lock(&st->mu);
    while (!st->done)
        pthread_cond_wait(&st->cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    out->n_stored += st->n_stored;
    out->n_store_dup += st->n_dup;
    for (size_t i = 0; i < st->n; i++)
        ef_env_task_clear(&st->batch[i]);
    ef_free(st->batch);
    st->batch = NULL;
    st->n = 0;
    st->pending = 0;
    int rc = st->rc;
    if (rc < 0)
        rc = ef_errorf(ctx, rc, "%s", ef_errmsg(st->ctx));
    return rc;
}

/* Hands a batch (and its ownership) to the thread; the previous one must be collected. */
static void sink_post(sink_thread *st, ef_env_task *batch, size_t n)
{
    pthread_mutex_lock(&st->mu);
    st->batch = batch;
    st->n = n;
    st->rc = 0;
    st->done = 0;
    st->pending = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static void sink_stop(ef_ctx *ctx, sink_thread *st, ef_envgen_summary *out)
{
    if (!st->started)
        return;
    sink_wait(ctx, st, out);
    pthread_mutex_lock(&st->mu);
    st->quit = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->th, NULL);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    ef_ctx_free(st->ctx);
    st->started = 0;
}

int ef_envgen_run(ef_ctx *ctx, const char *env_path, const ef_envgen_options *opts,
                  ef_envgen_summary *out)
{
    memset(out, 0, sizeof *out);
    double t0 = ef_now_s();
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.opts = opts;
    rs.path = env_path;
    rs.run_seed = opts->seed;
    ef_pool *pool = NULL;
    hash_set seen = {0};
    ef_progress *prog = NULL;
    ef_env *env0 = NULL;
    char *src = NULL, *first_ref_tool_error = NULL;
    int rc = 0, n_jobs = opts->n_jobs > 0 ? opts->n_jobs : ef_ncpu();
    ef_env_task *batch = NULL;
    sink_thread sinker;
    memset(&sinker, 0, sizeof sinker);

    if ((rc = ef_file_read(ctx, env_path, (size_t)16 << 20, &src, &rs.source_len)) < 0)
        goto cleanup;
    rs.source = src;
    if ((rc = ef_env_load_buffer(ctx, env_path, src, rs.source_len, &opts->limits, &env0)) < 0)
        goto cleanup;
    const ef_env_info *info = ef_env_get_info(env0);
    /* the workers load what env0 loaded: with its modules as env0 read them (a bundle),
     * never read from disk again */
    rs.source = info->source;
    rs.source_len = info->source_len;
    out->env_name = ef_strdup(info->name);
    out->path = ef_strdup(env_path);
    out->content_hash = ef_strdup(info->content_hash);
    out->n_jobs = n_jobs;
    int lo = opts->level_lo, hi = opts->level_hi;
    if (lo == 0 && hi == 0) {
        lo = 1;
        hi = info->n_levels;
    }
    if (hi < lo)
        hi = lo;
    if (lo < 1 || hi > info->n_levels) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: --level %d-%d is outside the env's levels 1..%d",
                       env_path, lo, hi, info->n_levels);
        goto cleanup;
    }
    rs.level_lo = lo;
    rs.n_levels_run = hi - lo + 1;
    out->level_lo = lo;
    out->level_hi = hi;
    out->kept_per_level = ef_calloc((size_t)(hi - lo + 2), sizeof(size_t));
    out->candidates_per_level = ef_calloc((size_t)(hi - lo + 2), sizeof(size_t));
    out->first_drop_per_level = ef_calloc((size_t)(hi - lo + 2), sizeof(char *));

    size_t n_target = opts->n_tasks;
    size_t max_attempts = opts->max_attempts ? opts->max_attempts : 10 * n_target + 100;
    if (opts->from_jsonl) {
        size_t n_skipped = 0;
        if ((rc = read_lines(ctx, opts->from_jsonl, info, lo, hi, opts->level_lo != 0, &rs.lines,
                             &rs.line_levels, &rs.line_nos, &rs.n_lines, &n_skipped)) < 0)
            goto cleanup;
        out->n_import_skipped = n_skipped;
        if (n_target == 0 || n_target > rs.n_lines)
            n_target = rs.n_lines;
        max_attempts = rs.n_lines;
    }
    out->n_requested = n_target;

    rs.envs = ef_calloc((size_t)n_jobs, sizeof *rs.envs);
    rs.ctxs = ef_calloc((size_t)n_jobs, sizeof *rs.ctxs);
    rs.load_rc = ef_calloc((size_t)n_jobs, sizeof *rs.load_rc);
    rs.load_msg = ef_calloc((size_t)n_jobs, sizeof *rs.load_msg);
    if (!out->kept_per_level || !out->candidates_per_level || !out->first_drop_per_level || !rs.envs || !rs.ctxs || !rs.load_rc || !rs.load_msg) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (int j = 0; j < n_jobs; j++)
        if (!(rs.ctxs[j] = ef_ctx_new())) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
    rs.envs[0] = env0; /* the main thread waits while the pool runs */
    env0 = NULL;
    if ((rc = ef_pool_new(&pool, n_jobs)) < 0) {
        rc = ef_errorf(ctx, rc, "cannot start %d worker threads", n_jobs);
        goto cleanup;
    }
    if (opts->sink && (rc = sink_start(ctx, &sinker, opts, info)) < 0)
        goto cleanup;
    if (opts->show_progress) {
        char label[128];
        snprintf(label, sizeof label, "gen %s", info->name);
        prog = ef_progress_new(label, n_target, "tasks");
    }
    size_t early_window = EF_MAX((size_t)64, (size_t)(4 * n_jobs));
    while (out->n_kept < n_target && out->n_candidates < max_attempts) {
        size_t need = n_target - out->n_kept;
        double keep_rate = out->n_candidates ? (double)(out->n_kept + 1) / (double)out->n_candidates : 1.0;
        size_t round = (size_t)((double)need / keep_rate * 1.1) + (size_t)n_jobs;
        if (round > 4096)
            round = 4096;
        if (round < (size_t)n_jobs * 4)
            round = (size_t)n_jobs * 4;
        if (out->n_kept == 0 && round > EF_MAX((size_t)32, (size_t)n_jobs * 4))
            round = EF_MAX((size_t)32, (size_t)n_jobs * 4); /* find a broken env early */
        if (out->n_candidates == 0 && round > EF_MAX((size_t)8, (size_t)n_jobs))
            round = EF_MAX((size_t)8, (size_t)n_jobs);
        if (out->n_candidates + round > max_attempts)
            round = max_attempts - out->n_candidates;
        rs.cands = ef_calloc(round, sizeof *rs.cands);
        batch = opts->sink ? ef_calloc(round, sizeof *batch) : NULL;
        if (!rs.cands || (opts->sink && !batch)) {
            rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
            goto cleanup;
        }
        rs.base = out->n_candidates;
        ef_pool_for(pool, round, work, &rs);
        for (size_t i = round; i < rs.n_prev; i++)
            cand_clear(&rs.prev[i]);
        ef_free(rs.prev);
        rs.prev = NULL;
        rs.n_prev = 0;
        size_t n_batch = 0;
        for (size_t i = 0; i < round && out->n_kept < n_target; i++) {
            candidate *c = &rs.cands[i];
            out->n_candidates++;
            count_selfcheck(out, c);
            int reason = c->gen_failed ? EF_DROP_GENERATE : c->chk.drop;
            char *msg = c->gen_failed ? c->gen_message : c->chk.message;
            /* the level candidate i was made at (generating: they cycle through the range) */
            int clv = opts->from_jsonl ? -1 : (int)((rs.base + i) % (size_t)rs.n_levels_run);
            if (clv >= 0)
                out->candidates_per_level[clv]++;
            if (clv >= 0 && reason != EF_DROP_NONE && msg && !out->first_drop_per_level[clv])
                out->first_drop_per_level[clv] = ef_strdup(msg);
            if (reason == EF_DROP_NONE) {
                int added = set_add(&seen, c->task.content_hash);
                if (added < 0) {
                    rc = ef_errorf(ctx, EF_ENOMEM, "out of memory");
                    goto cleanup;
                }
                if (!added) {
                    reason = EF_DROP_DUPLICATE;
                    msg = NULL;
                }
            }
            if (reason != EF_DROP_NONE) {
                out->n_dropped[reason]++;
                if (!out->first_message[reason]) {
                    out->first_message[reason] =
                        msg ? ef_strdup(msg)
                        : rs.lines
                            ? ef_asprintf("%s:%zu: repeats an earlier line", opts->from_jsonl,
                                          rs.line_nos[c->task.idx])
                            : ef_asprintf("candidate %" PRId64 " repeats an earlier task",
                                          c->task.idx);
                }
                continue;
            }
            out->n_kept++;
            if (c->chk.n_calls == 0)
                out->n_ref_no_calls++;
            if (c->chk.first_tool_error) {
                out->n_ref_tool_errors++;
                if (!first_ref_tool_error)
                    first_ref_tool_error = ef_strdup(c->chk.first_tool_error);
            }
            int lv = c->task.level - lo;
            if (lv >= 0 && lv <= hi - lo)
                out->kept_per_level[lv]++;
            else if (c->task.level == 0)
                out->n_kept_nolevel++; /* imported without a level */
            if (opts->sink) {
                batch[n_batch] = c->task; /* moved */
                memset(&c->task, 0, sizeof c->task);
            }
            n_batch++;
        }
        /* the previous batch is stored by now (or failed); this one goes to the sink's
         * thread while the pool makes the next round */
        rc = sink_wait(ctx, &sinker, out);
        if (rc == 0 && n_batch && opts->sink) {
            sink_post(&sinker, batch, n_batch);
            batch = NULL;
        }
        ef_progress_add(prog, n_batch);
        ef_progress_note(prog, "%zu candidates, %zu dropped", out->n_candidates,
                         out->n_candidates - out->n_kept);
        for (size_t i = 0; batch && opts->sink && i < n_batch; i++)
            ef_env_task_clear(&batch[i]);
        ef_free(batch);
        batch = NULL;
        rs.prev = rs.cands; /* the next round's workers free them */
        rs.n_prev = round;
        rs.cands = NULL;
        if (rc < 0)
            goto cleanup;
        if (out->n_kept == 0 && !opts->from_jsonl) {
            /* nothing kept: stop at once when every candidate raised an error (a broken
             * env), or after a window of candidates that all failed their checks */
            size_t n_err = out->n_dropped[EF_DROP_GENERATE] + out->n_dropped[EF_DROP_SOLVE] +
                           out->n_dropped[EF_DROP_VERIFY];
            if (n_err == out->n_candidates || out->n_candidates >= early_window)
                break;
        }
    }
    if ((rc = sink_wait(ctx, &sinker, out)) < 0)
        goto cleanup;
    if ((rc = reference_warnings(out, rs.envs[0], first_ref_tool_error)) < 0)
        goto cleanup;
    int short_ok = opts->from_jsonl && opts->n_tasks == 0 && out->n_kept > 0;
    for (int l = 0; !opts->from_jsonl && out->n_kept >= n_target && l <= hi - lo; l++) {
        /* every candidate of one level dropped, the others filling -n: the level is broken */
        if (out->kept_per_level[l] || out->candidates_per_level[l] < EF_ENVGEN_LEVEL_MIN_TRIED)
            continue;
        rc = ef_errorf(ctx, EF_ELIMIT,
                       "env '%s' (%s): level %d kept none of its %zu candidates (the other "
                       "levels made up the %zu tasks) — first: %s",
                       info->name, env_path, lo + l, out->candidates_per_level[l], n_target,
                       out->first_drop_per_level[l] ? out->first_drop_per_level[l] : "(no message)");
        goto cleanup;
    }
    if (out->n_kept < n_target && !short_ok) {
        char *why = fail_summary(out);
        rc = ef_errorf(ctx, EF_ELIMIT, "env '%s' (%s): kept %zu of %zu tasks after %zu candidates%s:%s",
                       info->name, env_path, out->n_kept, n_target, out->n_candidates,
                       out->n_kept == 0 ? " (every candidate failed; stopped early)" : "",
                       why ? why : "");
        ef_free(why);
    }
cleanup:
    if (sinker.started) {
        int sink_rc = sink_wait(rc < 0 ? NULL : ctx, &sinker, out);
        if (rc == 0)
            rc = sink_rc;
        sink_stop(NULL, &sinker, out);
    }
    out->wall_s = ef_now_s() - t0;
    if (out->sc_checked) {
        double ref = (double)out->sc_ref_ok / (double)out->sc_checked;
        int ok = ref >= 0.99;
        for (int k = 0; k < EF_ENVGEN_N_TRIVIAL; k++)
            ok &= (double)out->sc_trivial_pass[k] <= 0.01 * (double)out->sc_checked;
        out->sc_pass = ok;
    }
    if (prog)
        ef_progress_finish(prog);
    ef_pool_free(pool);
    ef_free(rs.cands);
    for (size_t i = 0; i < rs.n_prev; i++)
        cand_clear(&rs.prev[i]);
    ef_free(rs.prev);
    ef_free(batch);
    for (int j = 0; rs.envs && j < n_jobs; j++) {
        if (rs.envs[j]) {
            out->n_fast += rs.envs[j]->n_fast_runs;
            out->n_redone += rs.envs[j]->n_redone;
        }
        ef_env_free(rs.envs[j]);
    }
    for (int j = 0; rs.ctxs && j < n_jobs; j++)
        ef_ctx_free(rs.ctxs[j]);
    for (int j = 0; rs.load_msg && j < n_jobs; j++)
        ef_free(rs.load_msg[j]);
    ef_free(rs.envs);
    ef_free(rs.ctxs);
    ef_free(rs.load_rc);
    ef_free(rs.load_msg);
    for (size_t i = 0; i < rs.n_lines; i++)
        ef_free(rs.lines[i]);
    ef_free(rs.lines);
    ef_free(rs.line_levels);
    ef_free(rs.line_nos);
    ef_env_free(env0);
    ef_free(src);
    ef_free(first_ref_tool_error);
    set_free(&seen);
    return rc;
}

/* ---- reporting ------------------------------------------------------------------------- */

static const char *const trivial_short[EF_ENVGEN_N_TRIVIAL] = {"empty", "const", "echo",
                                                               "random"};

void ef_envgen_summary_print(const ef_envgen_summary *s, FILE *f)
{
    double rate = s->wall_s > 0 ? (double)s->n_candidates / s->wall_s : 0;
    fprintf(f, "env %s (%s)\n", s->env_name ? s->env_name : "?", s->path ? s->path : "?");
    fprintf(f, "  kept %zu of %zu requested; %zu candidates in %.2fs (%.0f candidates/s, %.0f kept/s, %d jobs)\n",
            s->n_kept, s->n_requested, s->n_candidates, s->wall_s, rate,
            s->wall_s > 0 ? (double)s->n_kept / s->wall_s : 0, s->n_jobs);
    fprintf(f, "  stored %zu new, %zu already in the store\n", s->n_stored, s->n_store_dup);
    fprintf(f, "  per level:");
    for (int l = s->level_lo; s->kept_per_level && l <= s->level_hi; l++)
        fprintf(f, " L%d=%zu", l, s->kept_per_level[l - s->level_lo]);
    if (s->n_kept_nolevel)
        fprintf(f, " (no level)=%zu", s->n_kept_nolevel);
    if (s->n_import_skipped)
        fprintf(f, "; %zu imported lines skipped (outside --level %d-%d or without a level)",
                s->n_import_skipped, s->level_lo, s->level_hi);
    fprintf(f, "\n  dropped:");
    int any = 0;
    for (int r = 1; r < EF_DROP_N_; r++)
        if (s->n_dropped[r]) {
            fprintf(f, " %s=%zu", ef_envgen_drop_name(r), s->n_dropped[r]);
            any = 1;
        }
    fprintf(f, "%s\n", any ? "" : " none");
    for (int r = 1; r < EF_DROP_N_; r++)
        if (s->first_message[r])
            fprintf(f, "    first %s: %.300s\n", ef_envgen_drop_name(r), s->first_message[r]);
    fprintf(f, "  self-check (%zu tasks): reference 1.0 on %zu (%.1f%%); trivial answers at 1.0:",
            s->sc_checked, s->sc_ref_ok,
            s->sc_checked ? 100.0 * (double)s->sc_ref_ok / (double)s->sc_checked : 0.0);
    for (int k = 0; k < EF_ENVGEN_N_TRIVIAL; k++)
        fprintf(f, " %s=%zu", trivial_short[k], s->sc_trivial_pass[k]);
    fprintf(f, " -> %s\n", s->sc_pass ? "PASS" : "FAIL");
    for (size_t i = 0; i < s->n_warnings; i++)
        fprintf(f, "  warning: %s\n", s->warnings[i]);
}

char *ef_envgen_summary_json(const ef_envgen_summary *s)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "env", s->env_name ? s->env_name : "");
    cJSON_AddStringToObject(o, "path", s->path ? s->path : "");
    cJSON_AddStringToObject(o, "content_hash", s->content_hash ? s->content_hash : "");
    cJSON_AddNumberToObject(o, "requested", (double)s->n_requested);
    cJSON_AddNumberToObject(o, "kept", (double)s->n_kept);
    cJSON_AddNumberToObject(o, "candidates", (double)s->n_candidates);
    cJSON_AddNumberToObject(o, "stored", (double)s->n_stored);
    cJSON_AddNumberToObject(o, "already_stored", (double)s->n_store_dup);
    cJSON_AddNumberToObject(o, "wall_s", s->wall_s);
    cJSON_AddNumberToObject(o, "jobs", s->n_jobs);
    cJSON *lv = cJSON_AddObjectToObject(o, "per_level");
    for (int l = s->level_lo; lv && s->kept_per_level && l <= s->level_hi; l++) {
        char k[16];
        snprintf(k, sizeof k, "%d", l);
        cJSON_AddNumberToObject(lv, k, (double)s->kept_per_level[l - s->level_lo]);
    }
    if (s->n_kept_nolevel)
        cJSON_AddNumberToObject(o, "kept_without_level", (double)s->n_kept_nolevel);
    if (s->n_import_skipped)
        cJSON_AddNumberToObject(o, "import_skipped", (double)s->n_import_skipped);
    cJSON *dr = cJSON_AddObjectToObject(o, "dropped");
    cJSON *fm = cJSON_AddObjectToObject(o, "first_message");
    for (int r = 1; r < EF_DROP_N_; r++) {
        if (dr && s->n_dropped[r])
            cJSON_AddNumberToObject(dr, ef_envgen_drop_name(r), (double)s->n_dropped[r]);
        if (fm && s->first_message[r])
            cJSON_AddStringToObject(fm, ef_envgen_drop_name(r), s->first_message[r]);
    }
    cJSON *sc = cJSON_AddObjectToObject(o, "self_check");
    if (sc) {
        cJSON_AddNumberToObject(sc, "checked", (double)s->sc_checked);
        cJSON_AddNumberToObject(sc, "reference_ok", (double)s->sc_ref_ok);
        for (int k = 0; k < EF_ENVGEN_N_TRIVIAL; k++) {
            char key[32];
            snprintf(key, sizeof key, "trivial_%s_pass", trivial_short[k]);
            cJSON_AddNumberToObject(sc, key, (double)s->sc_trivial_pass[k]);
        }
        cJSON_AddBoolToObject(sc, "pass", s->sc_pass);
    }
    if (s->n_warnings) {
        cJSON *w = cJSON_AddArrayToObject(o, "warnings");
        for (size_t i = 0; w && i < s->n_warnings; i++)
            cJSON_AddItemToArray(w, cJSON_CreateString(s->warnings[i]));
    }
    char *txt = ef_json_print(o);
    cJSON_Delete(o);
    return txt;
}

/* ---- JSONL ----------------------------------------------------------------------------- */

int ef_envgen_task_jsonl(ef_ctx *ctx, ef_buf *out, const char *env_name, const char *env_hash,
                         const ef_env_task *t)
{
    cJSON *name = cJSON_CreateString(env_name ? env_name : "");
    char *name_txt = name ? cJSON_PrintUnformatted(name) : NULL;
    cJSON_Delete(name);
    if (!name_txt)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    int rc = ef_buf_appendf(out,
                            "{\"env\":%s,\"env_hash\":\"%s\",\"idx\":%" PRId64
                            ",\"seed\":\"%" PRIu64 "\",\"level\":%d,\"content_hash\":\"%s\",\"task\":",
                            name_txt, env_hash ? env_hash : "", t->idx, t->seed, t->level,
                            t->content_hash);
    cJSON_free(name_txt);
    if (rc == 0)
        rc = ef_buf_appends(out, t->task_json);
    if (rc == 0)
        rc = ef_buf_putc(out, '}');
    if (rc < 0)
        return ef_errorf(ctx, rc, "tasks JSONL line exceeds %zu bytes", out->max_bytes);
    return 0;
}
