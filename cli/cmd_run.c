/*
 * cli/cmd_run.c — `envforge run`: parse the options, run the store's tasks × group with
 * the model (agent/agent.h ef_agent_run_store), print the summary on stdout. SIGINT and
 * SIGTERM stop the run after the episodes in flight; the same command resumes it.
 * Numbers are parsed strictly (cli.h ef_cli_parse_*) and the options checked
 * (ef_agent_run_options_check) before any run is made: exit 2. A resume with other
 * settings is exit 2 too; a run whose every episode was a model error is exit 1, with
 * the first error on stderr.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "agent/agent.h"
#include "cli/cli.h"
#include "common/ef.h"

static const char usage_text[] =
    "usage: envforge run --db FILE --model M [--group G] [--concurrency C] [--shard i/N]\n"
    "                    [--max-turns N] [--max-tokens N] [--timeout-s S] [options]\n"
    "Runs G episodes per task of the store with model M, verifies each with its env's\n"
    "verifier and stores it (messages, tool calls, tokens, events, reward). Resumable: the\n"
    "same command after a crash or a kill finishes the rest without duplicates, and runs\n"
    "again the episodes that ended in model_error or whose verifier failed (an error, not\n"
    "a verdict: say the sandbox refused). Resuming a run with other settings\n"
    "(model, group, seed, shard, sampling, budgets, tools, system prompt, env...) is\n"
    "refused (exit 2), naming each difference.\n"
    "\n"
    "models: oracle (the env's reference solver through the tool path: demonstrations),\n"
    "        replay:FILE.jsonl (scripted responses), http://host:port/v1[#model] (an\n"
    "        OpenAI-compatible server; key from $EF_API_KEY or $OPENAI_API_KEY),\n"
    "        engine:DIR (the built-in engine on a Hugging Face folder)\n"
    "\n"
    "  --db FILE             the store (tasks from envforge gen; episodes go here)\n"
    "  --model M             the model (above)\n"
    "  --group G             samples per task (GRPO group size; default 1)\n"
    "  --concurrency C       episodes in flight (worker threads; default 1)\n"
    "  --shard i/N           run only tasks with id mod N == i (default 0/1)\n"
    "  --env NAME            only tasks of this env\n"
    "  --limit N             only the first N tasks (by id)\n"
    "  --run NAME            the run's name (default: model, group, seed, shard, env,\n"
    "                        limit and \"cfg\" + 8 hex digits hashing the other settings,\n"
    "                        so the same command resumes and other settings make a new run)\n"
    "  --seed S              run seed; episode seeds derive from it (default 0)\n"
    "  --max-turns N         model calls per episode (default 16; 0: no limit); for the\n"
    "                        oracle each solver call is a turn and so is its answer\n"
    "  --max-tokens N        completion tokens per episode (default 0: no limit)\n"
    "  --timeout-s S         wall time per episode (default 0: no limit)\n"
    "  --context-window N    tokens (default 131072)\n"
    "  --context-threshold X share of the window that triggers the policy (default 0.8)\n"
    "  --context-policy P    summary | discard-75 | discard-all | none (default discard-75)\n"
    "  --max-tool-errors N   turns in a row without a valid call or answer before the\n"
    "                        episode ends with tool_error (default 8)\n"
    "  --tools LIST          add built-in tools to every env, comma-separated: python,\n"
    "                        bash, editor, search, fetch, git (each episode gets its own\n"
    "                        working directory; python and bash run in the sandbox);\n"
    "                        an unknown name is a usage error\n"
    "  --corpus FILE         the search tool's local corpus (envforge corpus build)\n"
    "  --no-submit-tool      do not offer the `submit` tool\n"
    "  --no-thinking         drop reasoning_content from the context (default: kept while\n"
    "                        only tool results follow it, as DeepSeek-V3.2)\n"
    "  --system TEXT         the system prompt\n"
    "  --temperature T, --top-p P, --max-completion-tokens N, --logprobs\n"
    "                        sampling parameters sent to the model (T in [0, 100],\n"
    "                        P in (0, 1], N >= 1; default: the server's)\n"
    "  --request-timeout-s S http: per attempt (default 120)\n"
    "  --retries N           http: extra attempts on 429, 5xx, connection errors (default 5)\n"
    "  --retry-backoff-ms N  http: first backoff, doubled per retry, jittered (default 500)\n"
    "  --max-requests N      http: attempts for the whole run (default 0: no limit)\n"
    "  --tokenizer PATH      http: token-in/token-out through /v1/completions: the prompt\n"
    "                        rendered with the DeepSeek-V3.2 encoder and tokenized with\n"
    "                        this tokenizer.json (or model folder); sampled ids and\n"
    "                        log-probs stored as the episode's token stream\n"
    "  --chat-mode           with --tokenizer: non-thinking encoding\n"
    "  --json                print the summary as JSON\n"
    "  --no-progress         no progress bar on stderr\n"
    "The first model error and tool error of the run are printed on stderr.\n"
    "exit: 0 all planned episodes stored (whatever their rewards), 1 failure, interrupted,\n"
    "      or every episode run ended in model_error, 2 usage (also: the run exists with\n"
    "      other settings)\n";

/* Set by the signal handler; the runner polls it. A signal handler can only reach
 * process state, hence the one file-scope variable. */
static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* Where an int64 flag goes and its range, or NULL when a is not one of them. */
static int64_t *int_flag(const char *a, ef_agent_run_options *o, long long *lo, long long *hi)
{
    *lo = 0;
    *hi = INT64_MAX;
    if (!strcmp(a, "--limit"))
        return &o->limit_tasks;
    if (!strcmp(a, "--max-tokens"))
        return &o->agent.max_tokens;
    if (!strcmp(a, "--max-requests"))
        return &o->model_opts.max_requests;
    *hi = 1000000000;
    if (!strcmp(a, "--max-turns"))
        return &o->agent.max_turns; /* 0: no limit */
    *lo = 1;
    if (!strcmp(a, "--context-window"))
        return &o->agent.context_window;
    if (!strcmp(a, "--max-completion-tokens"))
        return &o->agent.sampling.max_tokens;
    return NULL;
}

static void print_summary(const ef_agent_run_summary *s, int json, FILE *f)
{
    const ef_agent_runner_stats *r = &s->runner;
    double rate = r->wall_s > 0 ? (double)r->n_run / r->wall_s : 0;
    double tps = r->wall_s > 0 ? (double)r->n_completion_tokens / r->wall_s : 0;
    if (json) {
        cJSON *j = cJSON_CreateObject(), *ends = NULL;
        char *text = NULL;
        if (j) {
            cJSON_AddNumberToObject(j, "run_id", (double)s->run_id);
            cJSON_AddStringToObject(j, "run", s->run_name);
            cJSON_AddBoolToObject(j, "resumed", s->resumed);
            cJSON_AddNumberToObject(j, "planned", (double)r->n_planned);
            cJSON_AddNumberToObject(j, "skipped", (double)r->n_skipped);
            cJSON_AddNumberToObject(j, "retried", (double)s->n_retried);
            cJSON_AddNumberToObject(j, "run_now", (double)r->n_run);
            cJSON_AddNumberToObject(j, "stored", (double)s->n_stored);
            cJSON_AddNumberToObject(j, "passed", (double)r->n_passed);
            cJSON_AddNumberToObject(j, "verified", (double)r->n_verified);
            cJSON_AddNumberToObject(j, "failed", (double)r->n_failed);
            cJSON_AddNumberToObject(j, "wall_s", r->wall_s);
            cJSON_AddNumberToObject(j, "episodes_per_s", rate);
            cJSON_AddNumberToObject(j, "prompt_tokens", (double)r->n_prompt_tokens);
            cJSON_AddNumberToObject(j, "completion_tokens", (double)r->n_completion_tokens);
            cJSON_AddNumberToObject(j, "tokens_per_s", tps);
            cJSON_AddNumberToObject(j, "tool_calls", (double)r->n_tool_calls);
            cJSON_AddNumberToObject(j, "tool_errors", (double)r->n_tool_errors);
            if (r->n_tool_calls) /* null without calls, as stats */
                cJSON_AddNumberToObject(j, "tool_error_rate",
                                        (double)r->n_tool_errors / (double)r->n_tool_calls);
            else
                cJSON_AddNullToObject(j, "tool_error_rate");
            cJSON_AddNumberToObject(j, "parse_errors", (double)r->n_parse_errors);
            cJSON_AddNumberToObject(j, "http_requests", (double)s->http.n_requests);
            cJSON_AddNumberToObject(j, "http_retries", (double)s->http.n_retries);
            if (s->first_model_error[0])
                cJSON_AddStringToObject(j, "first_model_error", s->first_model_error);
            if (s->first_tool_error[0])
                cJSON_AddStringToObject(j, "first_tool_error", s->first_tool_error);
            if (s->first_verify_error[0])
                cJSON_AddStringToObject(j, "first_verify_error", s->first_verify_error);
            cJSON_AddNumberToObject(j, "verify_errors", (double)s->n_verify_errors);
            ends = cJSON_AddObjectToObject(j, "end_reasons");
            for (int i = 0; ends && i < EF_END_COUNT_; i++)
                cJSON_AddNumberToObject(ends, ef_agent_end_reason_name(i), (double)r->n_end[i]);
            text = cJSON_PrintUnformatted(j);
        }
        if (text)
            fprintf(f, "%s\n", text);
        cJSON_free(text);
        cJSON_Delete(j);
        return;
    }
    fprintf(f, "run %s (id %lld)%s\n", s->run_name, (long long)s->run_id,
            s->resumed ? ", resumed" : "");
    fprintf(f,
            "  episodes: %lld planned, %lld already stored, %lld run now in %.2f s "
            "(%.1f episodes/s); %lld in the store\n",
            (long long)r->n_planned, (long long)r->n_skipped, (long long)r->n_run, r->wall_s, rate,
            (long long)s->n_stored);
    if (s->n_retried)
        fprintf(f, "  retried %lld episodes stored with end reason model_error\n",
                (long long)s->n_retried);
    fprintf(f, "  passed %lld of %lld (%.1f%%), verified %lld, failed %lld\n",
            (long long)r->n_passed, (long long)r->n_run,
            r->n_run ? 100.0 * (double)r->n_passed / (double)r->n_run : 0.0,
            (long long)r->n_verified, (long long)r->n_failed);
    fprintf(f, "  end reasons:");
    for (int i = 0; i < EF_END_COUNT_; i++)
        if (r->n_end[i])
            fprintf(f, " %s %lld", ef_agent_end_reason_name(i), (long long)r->n_end[i]);
    fprintf(f, "\n  tokens: %lld prompt, %lld completion (%.0f tok/s)\n",
            (long long)r->n_prompt_tokens, (long long)r->n_completion_tokens, tps);
    /* the figures and names of `envforge stats` (docs/export.md) */
    fprintf(f, "  tool calls %lld, tool errors %lld", (long long)r->n_tool_calls,
            (long long)r->n_tool_errors);
    if (r->n_tool_calls)
        fprintf(f, " (%.1f%%)", 100.0 * (double)r->n_tool_errors / (double)r->n_tool_calls);
    fprintf(f, ", parse errors %lld\n", (long long)r->n_parse_errors);
    if (s->http.n_requests)
        fprintf(f,
                "  http: %lld requests, %lld attempts, %lld retries, %lld failed; at most "
                "%lld in flight\n",
                (long long)s->http.n_requests, (long long)s->http.n_attempts,
                (long long)s->http.n_retries, (long long)s->http.n_failed,
                (long long)s->http.max_inflight);
}

int ef_cli_run(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(usage_text, stdout);
        return EF_EXIT_OK;
    }
    ef_agent_run_options o = EF_AGENT_RUN_OPTIONS_INIT;
    ef_tools_config tools_cfg = EF_TOOLS_CONFIG_INIT;
    const char *tool_names[16];
    char tools_buf[256] = "";
    size_t n_tools = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t *dst;
        long long lo, hi;
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        } else if (!strcmp(a, "--no-submit-tool")) {
            o.agent.submit_tool = 0;
            continue;
        } else if (!strcmp(a, "--no-thinking")) {
            o.agent.retain_reasoning = 0;
            continue;
        } else if (!strcmp(a, "--chat-mode")) {
            o.model_opts.thinking = 0;
            continue;
        } else if (!strcmp(a, "--logprobs")) {
            o.agent.sampling.logprobs = 1;
            continue;
        } else if (!strcmp(a, "--no-progress")) {
            o.runner.progress_label = "";
            continue;
        }
        if (!val)
            return ef_cli_usage_error("run", "%s needs a value (or is unknown)", a);
        i++;
        if (!strcmp(a, "--db"))
            o.db_path = val;
        else if (!strcmp(a, "--model"))
            o.model = val;
        else if (!strcmp(a, "--run"))
            o.run_name = val;
        else if (!strcmp(a, "--env"))
            o.env_name = val;
        else if (!strcmp(a, "--system"))
            o.agent.system_prompt = val;
        else if (!strcmp(a, "--tokenizer"))
            o.model_opts.tokenizer_path = val;
        else if (!strcmp(a, "--corpus"))
            tools_cfg.corpus_path = val;
        else if (!strcmp(a, "--tools")) {
            if (strlen(val) >= sizeof(tools_buf))
                return ef_cli_usage_error("run", "--tools: list too long");
            strcpy(tools_buf, val);
            n_tools = 0;
            for (char *save = NULL, *t = strtok_r(tools_buf, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                if (n_tools + 1 >= EF_ARRAY_LEN(tool_names))
                    return ef_cli_usage_error("run", "--tools: too many names");
                tool_names[n_tools++] = t;
            }
        } else if (!strcmp(a, "--shard")) {
            ef_ctx *c = ef_ctx_new();
            int rc = c ? ef_agent_shard_parse(c, val, &o.runner.shard_index, &o.runner.shard_count)
                       : EF_ENOMEM;
            ef_ctx_free(c);
            if (rc < 0)
                return ef_cli_usage_error("run", "--shard '%s': expected i/N with 0 <= i < N", val);
        } else if (!strcmp(a, "--context-policy")) {
            if (ef_agent_context_policy_parse(val, &o.agent.context_policy) < 0)
                return ef_cli_usage_error("run",
                                          "--context-policy '%s': expected summary, "
                                          "discard-75, discard-all or none",
                                          val);
        } else if (!strcmp(a, "--group")) {
            long long n;
            if (ef_cli_parse_int("run", a, val, 1, 1000000, &n) < 0)
                return EF_EXIT_USAGE;
            o.runner.group_size = n;
        } else if (!strcmp(a, "--concurrency")) {
            if (ef_cli_parse_i32("run", a, val, 1, 65536, &o.runner.concurrency) < 0)
                return EF_EXIT_USAGE;
        } else if (!strcmp(a, "--seed")) {
            if (ef_cli_parse_u64("run", a, val, 0, UINT64_MAX, &o.runner.seed) < 0)
                return EF_EXIT_USAGE;
        } else if (!strcmp(a, "--retries")) {
            if (ef_cli_parse_i32("run", a, val, 0, 1000, &o.model_opts.max_retries) < 0)
                return EF_EXIT_USAGE;
        } else if (!strcmp(a, "--retry-backoff-ms")) {
            if (ef_cli_parse_i32("run", a, val, 0, 3600000, &o.model_opts.backoff_ms) < 0)
                return EF_EXIT_USAGE;
        } else if (!strcmp(a, "--max-tool-errors")) {
            if (ef_cli_parse_i32("run", a, val, 0, 1000000, &o.agent.max_tool_errors) < 0)
                return EF_EXIT_USAGE;
        } else if ((dst = int_flag(a, &o, &lo, &hi)) != NULL) {
            long long n;
            if (ef_cli_parse_int("run", a, val, lo, hi, &n) < 0)
                return EF_EXIT_USAGE;
            *dst = n;
        } else if (!strcmp(a, "--timeout-s") || !strcmp(a, "--request-timeout-s")) {
            double sec;
            if (ef_cli_parse_double("run", a, val, 0, 2000000, &sec) < 0)
                return EF_EXIT_USAGE;
            if (!strcmp(a, "--timeout-s"))
                o.agent.max_wall_ms = (int64_t)(sec * 1000);
            else
                o.model_opts.timeout_ms = (int)(sec * 1000);
        } else if (!strcmp(a, "--temperature")) {
            if (ef_cli_parse_double("run", a, val, 0, 100, &o.agent.sampling.temperature) < 0)
                return EF_EXIT_USAGE;
        } else if (!strcmp(a, "--top-p") || !strcmp(a, "--context-threshold")) {
            double x;
            if (ef_cli_parse_fraction("run", a, val, &x) < 0)
                return EF_EXIT_USAGE;
            *(!strcmp(a, "--top-p") ? &o.agent.sampling.top_p : &o.agent.context_threshold) = x;
        } else
            return ef_cli_usage_error("run", "unknown option %s", a);
    }
    if (!o.db_path || !o.model)
        return ef_cli_usage_error("run", "--db and --model are required");
    tool_names[n_tools] = NULL;
    if (n_tools) {
        o.builtin_tools = tool_names;
        o.tools_cfg = &tools_cfg;
    }
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    if (ef_agent_run_options_check(ctx, &o) < 0) {
        int urc = ef_cli_usage_error("run", "%s", ef_errmsg(ctx));
        ef_ctx_free(ctx);
        return urc;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    o.runner.stop = &g_stop;
    ef_agent_run_summary sum;
    int rc = ef_agent_run_store(ctx, &o, &sum);
    if (sum.run_id > 0)
        print_summary(&sum, json, stdout);
    /* the reasons behind failed episodes, which the counts alone hide */
    if (sum.first_model_error[0])
        fprintf(stderr, "envforge run: %lld episode(s) ended in model_error; the first: %s\n",
                (long long)sum.runner.n_end[EF_END_MODEL_ERROR], sum.first_model_error);
    if (sum.first_tool_error[0])
        fprintf(stderr, "envforge run: %lld episode(s) ended in tool_error; the first: %s\n",
                (long long)sum.runner.n_end[EF_END_TOOL_ERROR], sum.first_tool_error);
    if (sum.first_verify_error[0])
        fprintf(stderr,
                "envforge run: the verifier failed on %lld episode(s), stored unverified and "
                "run again on resume; the first: %s\n",
                (long long)sum.n_verify_errors, sum.first_verify_error);
    int all_model_errors = rc == 0 && sum.runner.n_run > 0 &&
                           sum.runner.n_end[EF_END_MODEL_ERROR] == sum.runner.n_run;
    if (rc < 0)
        fprintf(stderr, "envforge run: %s\n", ef_errmsg(ctx));
    else if (all_model_errors)
        fprintf(stderr,
                "envforge run: every episode run ended in model_error (is the model up and "
                "its settings right?); the same command runs them again\n");
    ef_ctx_free(ctx);
    if (rc == EF_ECONFLICT)
        return EF_EXIT_USAGE;
    return rc < 0 || all_model_errors ? EF_EXIT_FAIL : EF_EXIT_OK;
}
