/*
 * agent/run_store.c — a whole `envforge run` against the store: load this shard's tasks
 * and their envs, find or create the run (by name, so the same command resumes it),
 * skip (task, sample) pairs already stored, run the rest through the runner, and store
 * every episode with its messages, tool calls, token stream and events through the
 * store's single writer. A killed run loses at most the episodes in flight; the store's
 * unique (run_id, task_id, sample_idx) keeps a resume from duplicating any.
 *
 * A resume must continue the same experiment: the run's model, group size, seed, shard
 * and the settings that shape episodes (run_settings) are compared with the stored ones
 * and any difference is refused (EF_ECONFLICT) before anything runs. The default name
 * carries a short hash of those settings, so that other settings make another run.
 * Episodes that ended in model_error (a server down, a bad request) are not counted as
 * done: a resume deletes and reruns them.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_int.h"
#include "common/hash.h"
#include "datasets/datasets.h"

typedef struct {
    int64_t env_id;
    char *path;
    char *source;
} env_src;

typedef struct {
    int64_t task_id, sample;
} pair;

typedef struct {
    int64_t task_id, sample, episode_id;
} stored_error;

typedef struct {
    ef_store_writer *w;
    int64_t run_id;
    const char *model;
    /* resume */
    pair *done;
    size_t n_done;
    /* envs */
    env_src *envs;
    size_t n_envs;
    const char *const *builtin_tools;
    const ef_tools_config *tools_cfg;
    /* resume: episodes stored with end reason model_error (run again) */
    stored_error *errs;
    size_t n_errs;
    /* the first model_error and tool_error of this call (sr_put runs on the workers) */
    pthread_mutex_t mu;
    char first_model_error[512], first_tool_error[512], first_verify_error[512];
    int64_t n_verify_errors;
} store_run;

static int pair_cmp(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->task_id != y->task_id)
        return x->task_id < y->task_id ? -1 : 1;
    return (x->sample > y->sample) - (x->sample < y->sample);
}

static int sr_is_done(void *ud, int64_t task_id, int64_t sample)
{
    store_run *S = ud;
    pair key = {task_id, sample};
    return S->n_done && bsearch(&key, S->done, S->n_done, sizeof(pair), pair_cmp) != NULL;
}

static int sr_env_open(void *ud, ef_ctx *ctx, int64_t env_id, ef_agent_env **out)
{
    store_run *S = ud;
    for (size_t i = 0; i < S->n_envs; i++)
        if (S->envs[i].env_id == env_id) {
            ef_agent_env *env;
            int rc = ef_agent_env_lua_open(ctx, S->envs[i].path, S->envs[i].source,
                                           strlen(S->envs[i].source), &env);
            if (rc < 0 || !S->builtin_tools || !S->builtin_tools[0]) {
                if (rc == 0)
                    *out = env;
                return rc;
            }
            return ef_agent_env_with_tools(ctx, env, S->builtin_tools, S->tools_cfg, out);
        }
    return ef_errorf(ctx, EF_ENOTFOUND, "env %lld: not in the store", (long long)env_id);
}

/* The assistant's tool calls as an OpenAI JSON array (ef_free), or NULL when none. */
static int tool_calls_json(const ef_agent_msg *m, char **out)
{
    *out = NULL;
    if (!m->n_tool_calls)
        return 0;
    cJSON *j;
    if (ef_agent_msg_to_json(m, 0, &j) < 0)
        return EF_ENOMEM;
    *out = ef_json_print(cJSON_GetObjectItemCaseSensitive(j, "tool_calls"));
    cJSON_Delete(j);
    return *out ? 0 : EF_ENOMEM;
}

static int sr_put(void *ud, ef_ctx *ctx, const ef_agent_task *t, int64_t sample,
                  const ef_agent_episode *ep)
{
    store_run *S = ud;
    if (ep->error && !strncmp(ep->error, "verify: ", 8)) {
        pthread_mutex_lock(&S->mu);
        S->n_verify_errors++;
        if (!S->first_verify_error[0])
            snprintf(S->first_verify_error, sizeof S->first_verify_error,
                     "task %lld sample %lld: %s", (long long)t->task_id, (long long)sample,
                     ep->error);
        pthread_mutex_unlock(&S->mu);
    } else if (ep->error &&
               (ep->end_reason == EF_END_MODEL_ERROR || ep->end_reason == EF_END_TOOL_ERROR)) {
        char *first =
            ep->end_reason == EF_END_MODEL_ERROR ? S->first_model_error : S->first_tool_error;
        pthread_mutex_lock(&S->mu);
        if (!first[0])
            snprintf(first, sizeof(S->first_model_error), "task %lld sample %lld: %s",
                     (long long)t->task_id, (long long)sample, ep->error);
        pthread_mutex_unlock(&S->mu);
    }
    size_t n_msg = ep->transcript.n;
    ef_message_row *msgs = ef_calloc(n_msg ? n_msg : 1, sizeof(*msgs));
    ef_tool_call_row *calls = ef_calloc(ep->n_calls ? ep->n_calls : 1, sizeof(*calls));
    ef_event_row *events = ef_calloc(ep->n_events ? ep->n_events : 1, sizeof(*events));
    char **tc_json = ef_calloc(n_msg ? n_msg : 1, sizeof(char *));
    int rc = 0;
    if (!msgs || !calls || !events || !tc_json) {
        rc = ef_errorf(ctx, EF_ENOMEM, "store: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n_msg; i++) {
        const ef_agent_msg *m = &ep->transcript.msgs[i];
        if (tool_calls_json(m, &tc_json[i]) < 0) {
            rc = ef_errorf(ctx, EF_ENOMEM, "store: out of memory");
            goto cleanup;
        }
        msgs[i].idx = (int64_t)i;
        msgs[i].role = ef_agent_role_name(m->role);
        msgs[i].content = m->content;
        msgs[i].reasoning_content = m->reasoning_content;
        msgs[i].tool_calls_json = tc_json[i];
        msgs[i].tool_call_id =
            m->role == EF_ROLE_TOOL ? (m->tool_call_id ? m->tool_call_id : "") : m->tool_call_id;
        msgs[i].name = m->name;
    }
    for (size_t i = 0; i < ep->n_calls; i++) {
        const ef_agent_call_record *c = &ep->calls[i];
        calls[i].message_idx = c->message_idx;
        calls[i].call_id = c->call_id;
        calls[i].tool = c->tool;
        calls[i].arguments_json = c->arguments;
        calls[i].result = c->result;
        calls[i].is_error = c->status != EF_CALL_OK;
        calls[i].wall_ms = c->wall_ms;
    }
    for (size_t i = 0; i < ep->n_events; i++) {
        events[i].kind = ep->events[i].kind;
        events[i].payload_json = ep->events[i].payload_json;
        events[i].time = ep->events[i].time;
    }
    ef_episode_row row;
    memset(&row, 0, sizeof(row));
    row.run_id = S->run_id;
    row.task_id = t->task_id;
    row.group_id = t->task_id;
    row.sample_idx = sample;
    row.model = S->model;
    row.status = ef_agent_episode_status(ep);
    row.end_reason = ef_agent_end_reason_name(ep->end_reason);
    row.reward = ep->reward;
    row.verified = ep->verified;
    row.answer = ep->answer;
    row.verify_info = ep->verify_info;
    row.error = ep->error;
    row.n_turns = ep->n_turns;
    row.n_tool_calls = ep->n_tool_calls;
    row.n_tool_errors = ep->n_tool_errors + ep->n_unknown_tools + ep->n_bad_args;
    row.n_parse_errors = ep->n_parse_errors;
    row.n_context_resets = ep->n_context_resets;
    row.n_prompt_tokens = ep->n_prompt_tokens;
    row.n_completion_tokens = ep->n_completion_tokens;
    row.wall_ms = ep->wall_ms;
    row.model_ms = ep->model_ms;
    row.tool_ms = ep->tool_ms;
    row.verify_ms = ep->verify_ms;
    row.started_at = ep->started_at;
    ef_token_stream ts;
    memset(&ts, 0, sizeof(ts));
    if (ep->tok_valid && ep->n_tok) {
        ts.n_tokens = ep->n_tok;
        ts.token_ids = ep->tok_ids;
        ts.loss_mask = ep->tok_mask;
        ts.logprobs = ep->tok_has_logprobs ? ep->tok_logprobs : NULL;
        static const int32_t no_ids[1] = {0};
        if (ep->tok_has_topp) {
            ts.topp_offsets = ep->tok_topp_offsets;
            ts.topp_ids = ep->tok_topp_ids ? ep->tok_topp_ids : no_ids;
        }
        if (ep->tok_has_routes) {
            ts.route_layers = ep->route_layers;
            ts.route_topk = ep->route_topk;
            ts.routes = ep->tok_routes;
        }
    }
    ef_episode_bundle b = {&row,   msgs,        n_msg, calls, ep->n_calls, ts.n_tokens ? &ts : NULL,
                           events, ep->n_events};
    uint64_t tag = ((uint64_t)t->task_id << 20) ^ (uint64_t)sample;
    rc = ef_store_writer_submit(S->w, ctx, &b, tag);
    if (rc == EF_EINVAL) {
        /* the store refused a detail (a message, a call): keep the episode itself, with
         * the reason, rather than lose it */
        char *why = ef_asprintf("the store refused the episode's details: %s", ef_errmsg(ctx));
        EF_LOG_W(ctx, "task %lld sample %lld: %s", (long long)t->task_id, (long long)sample,
                 why ? why : "out of memory");
        row.error = why;
        row.verify_info = NULL;
        ef_episode_bundle slim = {&row, NULL, 0, NULL, 0, NULL, NULL, 0};
        rc = ef_store_writer_submit(S->w, ctx, &slim, tag);
        ef_free(why);
    }
cleanup:
    for (size_t i = 0; tc_json && i < n_msg; i++)
        ef_free(tc_json[i]);
    ef_free(tc_json);
    ef_free(msgs);
    ef_free(calls);
    ef_free(events);
    return rc;
}

/* ---- loading ------------------------------------------------------------------------ */

static int load_tasks(ef_ctx *ctx, ef_store *s, int64_t env_id, int64_t limit, ef_agent_task **out,
                      size_t *n_out)
{
    ef_task_iter *it;
    int rc = ef_store_task_iter_new(s, env_id, &it);
    if (rc < 0)
        return rc;
    ef_agent_task *tasks = NULL;
    size_t n = 0, cap = 0;
    const ef_task_row *row;
    int64_t id;
    while ((rc = ef_store_task_iter_next(it, &row, &id)) == 1) {
        if (limit > 0 && (int64_t)n >= limit)
            break;
        if (ef_agent__reserve((void **)&tasks, sizeof(*tasks), n + 1, &cap, 1024) < 0) {
            rc = ef_errorf(ctx, EF_ENOMEM, "tasks: out of memory");
            break;
        }
        tasks[n].task_id = id;
        tasks[n].env_id = row->env_id;
        tasks[n].idx = (int64_t)n;
        if (!(tasks[n].task_json = ef_strdup(row->task_json))) {
            rc = ef_errorf(ctx, EF_ENOMEM, "tasks: out of memory");
            break;
        }
        n++;
    }
    ef_store_task_iter_free(it);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            ef_free((char *)tasks[i].task_json);
        ef_free(tasks);
        return rc;
    }
    *out = tasks;
    *n_out = n;
    return 0;
}

static int load_envs(ef_ctx *ctx, ef_store *s, const ef_agent_task *tasks, size_t n, store_run *S)
{
    for (size_t i = 0; i < n; i++) {
        int have = 0;
        for (size_t k = 0; k < S->n_envs; k++)
            have |= S->envs[k].env_id == tasks[i].env_id;
        if (have)
            continue;
        ef_env_row *row;
        int rc = ef_store_env_get(s, tasks[i].env_id, &row);
        if (rc < 0)
            return rc;
        if (!row->source) {
            rc = ef_errorf(ctx, EF_EINVAL, "env %lld (%s): the store holds no source for it",
                           (long long)tasks[i].env_id, row->name);
            ef_store_env_free(row);
            return rc;
        }
        env_src *p = ef_realloc(S->envs, (S->n_envs + 1) * sizeof(*p));
        if (!p) {
            ef_store_env_free(row);
            return ef_errorf(ctx, EF_ENOMEM, "envs: out of memory");
        }
        S->envs = p;
        p[S->n_envs].env_id = tasks[i].env_id;
        p[S->n_envs].path = ef_strdup(row->source_path ? row->source_path : row->name);
        p[S->n_envs].source = ef_strdup(row->source);
        ef_store_env_free(row);
        if (!p[S->n_envs].path || !p[S->n_envs].source) {
            ef_free(p[S->n_envs].path);
            ef_free(p[S->n_envs].source);
            return ef_errorf(ctx, EF_ENOMEM, "envs: out of memory");
        }
        S->n_envs++;
    }
    return 0;
}

static int load_done(ef_ctx *ctx, ef_store *s, int64_t run_id, store_run *S)
{
    ef_episode_filter f = EF_EPISODE_FILTER_INIT;
    f.run_id = run_id;
    ef_episode_iter *it;
    int rc = ef_store_episode_iter_new(s, &f, &it);
    if (rc < 0)
        return rc;
    const ef_episode_row *row;
    int64_t episode_id;
    size_t cap = 0, cap_errs = 0;
    while ((rc = ef_store_episode_iter_next(it, &row, &episode_id)) == 1) {
        /* run again: model errors, and episodes whose verifier failed (no verdict) */
        if ((row->end_reason && !strcmp(row->end_reason, "model_error")) ||
            (row->error && !strncmp(row->error, "verify: ", 8))) {
            if (ef_agent__reserve((void **)&S->errs, sizeof(*S->errs), S->n_errs + 1, &cap_errs,
                                  256) < 0) {
                rc = ef_errorf(ctx, EF_ENOMEM, "resume: out of memory");
                break;
            }
            S->errs[S->n_errs++] = (stored_error){row->task_id, row->sample_idx, episode_id};
            continue;
        }
        if (ef_agent__reserve((void **)&S->done, sizeof(*S->done), S->n_done + 1, &cap, 1024) < 0) {
            rc = ef_errorf(ctx, EF_ENOMEM, "resume: out of memory");
            break;
        }
        S->done[S->n_done].task_id = row->task_id;
        S->done[S->n_done].sample = row->sample_idx;
        S->n_done++;
    }
    ef_store_episode_iter_free(it);
    if (rc < 0)
        return rc;
    if (S->n_done)
        qsort(S->done, S->n_done, sizeof(pair), pair_cmp);
    return 0;
}

/* The OpenAI definitions of the run's built-in tools (--tools), so that exports can list
 * exactly the tools the model was shown. NULL when there are none or on failure. */
static cJSON *builtin_tool_defs(ef_ctx *ctx, const char *const *names)
{
    if (!names || !names[0])
        return NULL;
    ef_tool_registry *reg = NULL;
    cJSON *defs = NULL;
    if (ef_tools_registry_new(ctx, &reg) < 0)
        return NULL;
    int rc = 0;
    for (size_t i = 0; names[i] && rc == 0; i++)
        if (strcmp(names[i], "submit") != 0) {
            const char *one[2] = {names[i], NULL};
            rc = ef_tools_add_builtins(reg, one);
        }
    if (rc == 0 && ef_tools_registry_openai(reg, &defs) < 0)
        defs = NULL;
    ef_tools_registry_free(reg);
    return defs;
}

/* ---- settings: what a resume must share with the stored run ----------------------- */

/* The run's settings that shape its episodes, as the run's config_json keys, with the
 * flag that sets each (for messages). The model, seed, group size and shard are run
 * columns, compared apart. */
static const struct {
    const char *key, *flag;
} setting_keys[] = {
    {"max_turns", "--max-turns"},
    {"max_tokens", "--max-tokens"},
    {"max_wall_ms", "--timeout-s (in ms)"},
    {"context_window", "--context-window"},
    {"context_threshold", "--context-threshold"},
    {"context_policy", "--context-policy"},
    {"max_context_resets", "context resets allowed"},
    {"max_tool_errors", "--max-tool-errors"},
    {"temperature", "--temperature"},
    {"top_p", "--top-p"},
    {"max_completion_tokens", "--max-completion-tokens"},
    {"logprobs", "--logprobs"},
    {"submit_tool", "submit tool offered (--no-submit-tool)"},
    {"retain_reasoning", "reasoning kept (--no-thinking)"},
    {"system", "--system"},
    {"env", "--env"},
    {"tool_names", "--tools"},
    {"corpus", "--corpus"},
    {"tokenizer", "--tokenizer"},
    {"thinking", "thinking encoding (--chat-mode)"},
};

static cJSON *str_or_null(const char *v)
{
    return v ? cJSON_CreateString(v) : cJSON_CreateNull();
}

/* The settings object (setting_keys, in that order): null where unset or the default of
 * the server. */
static cJSON *run_settings(const ef_agent_run_options *o, int oracle)
{
    const ef_agent_config *c = &o->agent;
    cJSON *j = cJSON_CreateObject();
    char tools[512] = "";
    size_t off = 0;
    for (size_t i = 0; o->builtin_tools && o->builtin_tools[i] && off + 1 < sizeof(tools); i++)
        off += (size_t)snprintf(tools + off, sizeof(tools) - off, "%s%s", i ? "," : "",
                                o->builtin_tools[i]);
    if (!j)
        return NULL;
    cJSON_AddNumberToObject(j, "max_turns", (double)c->max_turns);
    cJSON_AddNumberToObject(j, "max_tokens", (double)c->max_tokens);
    cJSON_AddNumberToObject(j, "max_wall_ms", (double)c->max_wall_ms);
    cJSON_AddNumberToObject(j, "context_window", (double)c->context_window);
    cJSON_AddNumberToObject(j, "context_threshold", c->context_threshold);
    cJSON_AddStringToObject(j, "context_policy", ef_agent_context_policy_name(c->context_policy));
    cJSON_AddNumberToObject(j, "max_context_resets", (double)c->max_context_resets);
    cJSON_AddNumberToObject(j, "max_tool_errors", c->max_tool_errors);
    if (c->sampling.temperature >= 0)
        cJSON_AddNumberToObject(j, "temperature", c->sampling.temperature);
    else
        cJSON_AddNullToObject(j, "temperature");
    if (c->sampling.top_p > 0)
        cJSON_AddNumberToObject(j, "top_p", c->sampling.top_p);
    else
        cJSON_AddNullToObject(j, "top_p");
    if (c->sampling.max_tokens > 0)
        cJSON_AddNumberToObject(j, "max_completion_tokens", (double)c->sampling.max_tokens);
    else
        cJSON_AddNullToObject(j, "max_completion_tokens");
    cJSON_AddBoolToObject(j, "logprobs", c->sampling.logprobs);
    /* the oracle is offered no submit tool (agent/episode.c): record what it was shown */
    cJSON_AddBoolToObject(j, "submit_tool", c->submit_tool && !oracle);
    cJSON_AddBoolToObject(j, "retain_reasoning", c->retain_reasoning);
    cJSON_AddItemToObject(j, "system", str_or_null(c->system_prompt));
    cJSON_AddItemToObject(j, "env", str_or_null(o->env_name));
    cJSON_AddItemToObject(j, "tool_names", str_or_null(tools[0] ? tools : NULL));
    cJSON_AddItemToObject(j, "corpus", str_or_null(o->tools_cfg ? o->tools_cfg->corpus_path : NULL));
    cJSON_AddItemToObject(j, "tokenizer", str_or_null(o->model_opts.tokenizer_path));
    cJSON_AddBoolToObject(j, "thinking", o->model_opts.thinking);
    return j;
}

int ef_agent_run_options_check(ef_ctx *ctx, const ef_agent_run_options *o)
{
    const ef_sampling *sp = &o->agent.sampling;
    for (size_t i = 0; o->builtin_tools && o->builtin_tools[i]; i++) {
        const char *n = o->builtin_tools[i];
        int known = !strcmp(n, "submit");
        for (size_t k = 0; !known && ef_tools_builtin_names[k]; k++)
            known = !strcmp(n, ef_tools_builtin_names[k]);
        if (!known) {
            char list[256] = "";
            size_t off = 0;
            for (size_t k = 0; ef_tools_builtin_names[k] && off < sizeof(list); k++)
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", k ? ", " : "",
                                        ef_tools_builtin_names[k]);
            return ef_errorf(ctx, EF_EINVAL, "--tools: unknown tool '%s' (known: %s)", n, list);
        }
    }
    /* negative: the server's default */
    if (isnan(sp->temperature) || sp->temperature > 100)
        return ef_errorf(ctx, EF_EINVAL, "--temperature %g: expected a value in [0, 100]",
                         sp->temperature);
    if (isnan(sp->top_p) || sp->top_p > 1)
        return ef_errorf(ctx, EF_EINVAL, "--top-p %g: expected a value in (0, 1]", sp->top_p);
    if (!(o->agent.context_threshold > 0 && o->agent.context_threshold <= 1))
        return ef_errorf(ctx, EF_EINVAL, "--context-threshold %g: expected a value in (0, 1]",
                         o->agent.context_threshold);
    if (o->runner.group_size < 1 || o->runner.concurrency < 1)
        return ef_errorf(ctx, EF_EINVAL, "--group %lld, --concurrency %d: expected at least 1",
                         (long long)o->runner.group_size, o->runner.concurrency);
    return 0;
}

/* The settings' 8-hex-digit hash for the default run name (of the run columns too). */
static int settings_hash(const ef_agent_run_options *o, const cJSON *settings, char out[9])
{
    char *text = ef_json_print(settings);
    if (!text)
        return EF_ENOMEM;
    char *all = ef_asprintf("%s\n%lld\n%llu\n%s", o->model, (long long)o->runner.group_size,
                            (unsigned long long)o->runner.seed, text);
    ef_free(text);
    if (!all)
        return EF_ENOMEM;
    char hex[EF_SHA256_HEX_LEN + 1];
    int rc = ef_sha256_hex(all, strlen(all), hex);
    ef_free(all);
    if (rc < 0)
        return rc;
    memcpy(out, hex, 8);
    out[8] = 0;
    return 0;
}

/* Appends "  FLAG: stored X, now Y" to b (each value cut at 160 bytes). */
static int diff_line(ef_buf *b, const char *flag, const char *was, const char *now)
{
    int nw = (int)strlen(was), nn = (int)strlen(now);
    return ef_buf_appendf(b, "\n  %s: stored %.160s%s, now %.160s%s", flag, was,
                          nw > 160 ? "..." : "", now, nn > 160 ? "..." : "");
}

static char *json_text(const cJSON *v)
{
    return v ? cJSON_PrintUnformatted(v) : ef_strdup("(not recorded)");
}

/* Compares the stored run `was` with the new options; EF_ECONFLICT (message on ctx)
 * naming every differing setting. Settings a run of an older build did not record are
 * not compared. */
static int settings_compare(ef_ctx *ctx, const ef_run_row *was, const ef_agent_run_options *o,
                            const cJSON *now)
{
    ef_buf b = EF_BUF_INIT(64 << 10);
    int n = 0, rc = 0;
    char x[64], y[64];
    if (strcmp(was->model, o->model) != 0)
        rc |= diff_line(&b, "--model", was->model, o->model), n++;
    if (was->group_size != o->runner.group_size) {
        snprintf(x, sizeof(x), "%lld", (long long)was->group_size);
        snprintf(y, sizeof(y), "%lld", (long long)o->runner.group_size);
        rc |= diff_line(&b, "--group", x, y), n++;
    }
    if (was->seed != o->runner.seed) {
        snprintf(x, sizeof(x), "%llu", (unsigned long long)was->seed);
        snprintf(y, sizeof(y), "%llu", (unsigned long long)o->runner.seed);
        rc |= diff_line(&b, "--seed", x, y), n++;
    }
    if (was->shard_index != o->runner.shard_index || was->shard_count != o->runner.shard_count) {
        snprintf(x, sizeof(x), "%lld/%lld", (long long)was->shard_index,
                 (long long)was->shard_count);
        snprintf(y, sizeof(y), "%lld/%lld", (long long)o->runner.shard_index,
                 (long long)o->runner.shard_count);
        rc |= diff_line(&b, "--shard", x, y), n++;
    }
    cJSON *cfg = was->config_json ? cJSON_Parse(was->config_json) : NULL;
    /* runs of this build record "settings": 1 and every key (null when unset) */
    int full = cfg && cJSON_GetObjectItemCaseSensitive(cfg, "settings") != NULL;
    if (cfg && !full) {
        /* an older build's config: the server's defaults were numbers (temperature -1,
         * top_p 0), and submit_tool said true for the oracle too; leave that one out */
        cJSON *t = cJSON_GetObjectItemCaseSensitive(cfg, "temperature");
        if (cJSON_IsNumber(t) && t->valuedouble < 0)
            cJSON_ReplaceItemInObjectCaseSensitive(cfg, "temperature", cJSON_CreateNull());
        t = cJSON_GetObjectItemCaseSensitive(cfg, "top_p");
        if (cJSON_IsNumber(t) && t->valuedouble <= 0)
            cJSON_ReplaceItemInObjectCaseSensitive(cfg, "top_p", cJSON_CreateNull());
        cJSON_DeleteItemFromObjectCaseSensitive(cfg, "submit_tool");
    }
    for (size_t i = 0; cfg && i < EF_ARRAY_LEN(setting_keys); i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, setting_keys[i].key);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(now, setting_keys[i].key);
        /* an older run's config: env was written only when set; other keys unknown */
        if (!a && !full && strcmp(setting_keys[i].key, "env") != 0)
            continue;
        if (!a && cJSON_IsNull(c))
            continue;
        if (a && c && cJSON_Compare(a, c, 1))
            continue;
        char *ta = json_text(a), *tc = json_text(c);
        if (ta && tc)
            rc |= diff_line(&b, setting_keys[i].flag, ta, tc), n++;
        else
            rc = EF_ENOMEM;
        cJSON_free(ta);
        cJSON_free(tc);
    }
    cJSON_Delete(cfg);
    if (rc == 0 && n)
        rc = ef_errorf(ctx, EF_ECONFLICT,
                       "run '%s' exists in the store with other settings:%s\n"
                       "pick another --run name for these settings, or run with the stored "
                       "ones to resume it",
                       was->name, b.data ? b.data : "");
    else if (rc < 0)
        rc = ef_errorf(ctx, EF_ENOMEM, "run: out of memory");
    ef_buf_free(&b);
    return rc;
}

static char *config_json(ef_ctx *ctx, const ef_agent_run_options *o, const cJSON *settings)
{
    cJSON *j = cJSON_Duplicate(settings, 1);
    if (!j)
        return NULL;
    cJSON_AddNumberToObject(j, "group", (double)o->runner.group_size);
    cJSON_AddNumberToObject(j, "settings", 1);
    cJSON *defs = builtin_tool_defs(ctx, o->builtin_tools);
    if (defs)
        cJSON_AddItemToObject(j, "builtin_tools", defs);
    ef_error_clear(ctx);
    char *s = ef_json_print(j);
    cJSON_Delete(j);
    return s;
}

/* Resume: the run's model_error episodes of this plan (this shard's tasks, sample <
 * group) are deleted in one transaction, to be run again; those of tasks outside the
 * plan (another --limit) stay and count as done. */
static int retry_errors(ef_ctx *ctx, ef_store *s, const ef_agent_run_options *o,
                        const ef_agent_task *tasks, size_t n_tasks, store_run *S, int64_t *n_out)
{
    *n_out = 0;
    if (!S->n_errs)
        return 0;
    int rc = ef_store_begin(s);
    size_t cap = S->n_done;
    for (size_t i = 0; rc == 0 && i < S->n_errs; i++) {
        const stored_error *e = &S->errs[i];
        int planned = 0;
        if (e->task_id % o->runner.shard_count == o->runner.shard_index &&
            e->sample < o->runner.group_size)
            for (size_t k = 0; !planned && k < n_tasks; k++)
                planned = tasks[k].task_id == e->task_id;
        if (planned) {
            rc = ef_store_episode_delete(s, e->episode_id);
            (*n_out)++;
        } else if (ef_agent__reserve((void **)&S->done, sizeof(*S->done), S->n_done + 1, &cap,
                                     256) < 0) {
            rc = ef_errorf(ctx, EF_ENOMEM, "resume: out of memory");
        } else {
            S->done[S->n_done++] = (pair){e->task_id, e->sample};
        }
    }
    if (rc == 0)
        rc = ef_store_commit(s);
    else
        ef_store_rollback(s);
    if (rc < 0) {
        *n_out = 0;
        return rc;
    }
    if (S->n_done)
        qsort(S->done, S->n_done, sizeof(pair), pair_cmp);
    return 0;
}

int ef_agent_run_store(ef_ctx *ctx, const ef_agent_run_options *o, ef_agent_run_summary *sum)
{
    ef_store *s = NULL;
    ef_model *m = NULL;
    ef_agent_task *tasks = NULL;
    size_t n_tasks = 0;
    store_run S;
    char *name = NULL, *cfg_json = NULL;
    cJSON *settings = NULL;
    ef_run_row *was = NULL;
    int rc;
    memset(&S, 0, sizeof(S));
    memset(sum, 0, sizeof(*sum));
    pthread_mutex_init(&S.mu, NULL);
    if ((rc = ef_agent_run_options_check(ctx, o)) < 0)
        goto cleanup;
    if ((rc = ef_model_open(ctx, o->model, &o->model_opts, &m)) < 0)
        goto cleanup;
    if ((rc = ef_store_open(ctx, o->db_path, &s)) < 0)
        goto cleanup;
    int64_t env_id = 0;
    if (o->env_name && (rc = ef_store_env_find(s, o->env_name, &env_id)) < 0) {
        rc = ef_errorf(ctx, rc, "--env %s: no such env in %s", o->env_name, o->db_path);
        goto cleanup;
    }
    if ((rc = load_tasks(ctx, s, env_id, o->limit_tasks, &tasks, &n_tasks)) < 0)
        goto cleanup;
    if (n_tasks == 0) {
        rc = ef_errorf(ctx, EF_ENOTFOUND, "%s holds no tasks%s%s (make some with envforge gen)",
                       o->db_path, o->env_name ? " of env " : "", o->env_name ? o->env_name : "");
        goto cleanup;
    }
    if ((rc = load_envs(ctx, s, tasks, n_tasks, &S)) < 0)
        goto cleanup;
    /* the run: by name, so that the same command resumes it */
    char hash[9] = "";
    if (!(settings = run_settings(o, ef_model_is_oracle(m))) ||
        settings_hash(o, settings, hash) < 0) {
        rc = ef_errorf(ctx, EF_ENOMEM, "run: out of memory");
        goto cleanup;
    }
    if (o->run_name)
        name = ef_strdup(o->run_name);
    else {
        ef_buf nb = EF_BUF_INIT(8192);
        int brc =
            ef_buf_appendf(&nb, "%s g%lld seed%llu shard%lld/%lld", o->model,
                           (long long)o->runner.group_size, (unsigned long long)o->runner.seed,
                           (long long)o->runner.shard_index, (long long)o->runner.shard_count);
        if (brc == 0 && o->env_name)
            brc = ef_buf_appendf(&nb, " env=%s", o->env_name);
        if (brc == 0 && o->limit_tasks > 0)
            brc = ef_buf_appendf(&nb, " limit=%lld", (long long)o->limit_tasks);
        if (brc == 0)
            brc = ef_buf_appendf(&nb, " cfg%s", hash);
        name = brc == 0 ? ef_buf_detach(&nb) : NULL;
        ef_buf_free(&nb);
    }
    cfg_json = config_json(ctx, o, settings);
    if (!name || !cfg_json) {
        rc = ef_errorf(ctx, EF_ENOMEM, "run: out of memory");
        goto cleanup;
    }
    rc = ef_store_run_find(s, name, &S.run_id);
    if (rc == EF_ENOTFOUND) {
        ef_run_row run;
        memset(&run, 0, sizeof(run));
        run.name = name;
        run.model = o->model;
        run.config_json = cfg_json;
        run.seed = o->runner.seed;
        run.group_size = o->runner.group_size;
        run.shard_index = o->runner.shard_index;
        run.shard_count = o->runner.shard_count;
        rc = ef_store_run_insert(s, &run, &S.run_id);
    } else if (rc == 0) {
        sum->resumed = 1;
        if ((rc = ef_store_run_get(s, S.run_id, &was)) < 0 ||
            (rc = settings_compare(ctx, was, o, settings)) < 0) {
            S.run_id = 0; /* nothing ran: no summary */
            goto cleanup;
        }
        rc = ef_store_run_set_status(s, S.run_id, "running");
    }
    if (rc < 0 || (rc = load_done(ctx, s, S.run_id, &S)) < 0 ||
        (rc = retry_errors(ctx, s, o, tasks, n_tasks, &S, &sum->n_retried)) < 0)
        goto cleanup;
    S.model = o->model;
    S.builtin_tools = o->builtin_tools;
    S.tools_cfg = o->tools_cfg;
    ef_store_writer_options wo = EF_STORE_WRITER_OPTIONS_INIT;
    if ((rc = ef_store_writer_new(ctx, o->db_path, &wo, &S.w)) < 0)
        goto cleanup;
    ef_agent_sink sink = {sr_is_done, sr_put, &S};
    int run_rc = ef_agent_runner_run(ctx, &o->runner, &o->agent, m, tasks, n_tasks, sr_env_open, &S,
                                     &sink, &sum->runner);
    char run_err[1024] = "";
    if (run_rc < 0)
        snprintf(run_err, sizeof(run_err), "%s", ef_errmsg(ctx));
    rc = ef_store_writer_close(S.w, ctx);
    S.w = NULL;
    if (run_rc < 0) {
        rc = ef_errorf(ctx, run_rc, "%s", run_err);
        ef_store_run_set_status(s, S.run_id, run_rc == EF_EINTR ? "interrupted" : "failed");
    } else if (rc < 0)
        ef_store_run_set_status(s, S.run_id, "failed");
    int64_t n_stored = 0;
    ef_store_episode_count(s, S.run_id, &n_stored);
    sum->n_stored = n_stored;
    sum->run_id = S.run_id;
    snprintf(sum->run_name, sizeof(sum->run_name), "%s", name);
    ef_model_http_get_stats(m, &sum->http);
    snprintf(sum->first_model_error, sizeof(sum->first_model_error), "%s", S.first_model_error);
    snprintf(sum->first_tool_error, sizeof(sum->first_tool_error), "%s", S.first_tool_error);
    snprintf(sum->first_verify_error, sizeof(sum->first_verify_error), "%s", S.first_verify_error);
    sum->n_verify_errors = S.n_verify_errors;
    if (rc == 0) {
        /* done when every planned episode of this shard is stored */
        int64_t want = sum->runner.n_planned;
        ef_store_run_set_status(s, S.run_id, n_stored >= want ? "done" : "interrupted");
    }
cleanup:
    if (S.w)
        ef_store_writer_close(S.w, NULL);
    for (size_t i = 0; i < S.n_envs; i++) {
        ef_free(S.envs[i].path);
        ef_free(S.envs[i].source);
    }
    ef_free(S.envs);
    ef_free(S.done);
    ef_free(S.errs);
    pthread_mutex_destroy(&S.mu);
    cJSON_Delete(settings);
    ef_store_run_free(was);
    for (size_t i = 0; i < n_tasks; i++)
        ef_free((char *)tasks[i].task_json);
    ef_free(tasks);
    ef_free(name);
    ef_free(cfg_json);
    ef_store_close(s);
    ef_model_free(m);
    return rc;
}
