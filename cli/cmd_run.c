/*
 * cli/cmd_run.c — `envforge run`: parse the options, run the store's tasks × group with
 * the model (agent/agent.h ef_agent_run_store), print the summary on stdout. SIGINT and
 * SIGTERM stop the run after the episodes in flight; the same command resumes it.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
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
    "same command after a crash or a kill finishes the rest without duplicates.\n"
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
    "  --run NAME            the run's name (default: derived from model, group, seed,\n"
    "                        shard, env and limit, so the same command resumes)\n"
    "  --seed S              run seed; episode seeds derive from it (default 0)\n"
    "  --max-turns N         model calls per episode (default 16)\n"
    "  --max-tokens N        completion tokens per episode (default 0: no limit)\n"
    "  --timeout-s S         wall time per episode (default 0: no limit)\n"
    "  --context-window N    tokens (default 131072)\n"
    "  --context-threshold X share of the window that triggers the policy (default 0.8)\n"
    "  --context-policy P    summary | discard-75 | discard-all | none (default discard-75)\n"
    "  --max-tool-errors N   turns in a row without a valid call or answer before the\n"
    "                        episode ends with tool_error (default 8)\n"
    "  --tools LIST          add built-in tools to every env, comma-separated: python,\n"
    "                        bash, editor, search, fetch, git (each episode gets its own\n"
    "                        working directory; python and bash run in the sandbox)\n"
    "  --corpus FILE         the search tool's local corpus (envforge corpus build)\n"
    "  --no-submit-tool      do not offer the `submit` tool\n"
    "  --no-thinking         drop reasoning_content from the context (default: kept while\n"
    "                        only tool results follow it, as DeepSeek-V3.2)\n"
    "  --system TEXT         the system prompt\n"
    "  --temperature T, --top-p P, --max-completion-tokens N, --logprobs\n"
    "                        sampling parameters sent to the model\n"
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
    "exit: 0 all planned episodes stored, 1 failure or interrupted, 2 usage\n";

/* Set by the signal handler; the runner polls it. A signal handler can only reach
 * process state, hence the one file-scope variable. */
static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int num(const char *s, double lo, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || isnan(v) || v < lo)
        return -1;
    *out = v;
    return 0;
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
            cJSON_AddNumberToObject(j, "parse_errors", (double)r->n_parse_errors);
            cJSON_AddNumberToObject(j, "http_requests", (double)s->http.n_requests);
            cJSON_AddNumberToObject(j, "http_retries", (double)s->http.n_retries);
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
    fprintf(f, "  passed %lld of %lld (%.1f%%), verified %lld, failed %lld\n",
            (long long)r->n_passed, (long long)r->n_run,
            r->n_run ? 100.0 * (double)r->n_passed / (double)r->n_run : 0.0,
            (long long)r->n_verified, (long long)r->n_failed);
    fprintf(f, "  end reasons:");
    for (int i = 0; i < EF_END_COUNT_; i++)
        if (r->n_end[i])
            fprintf(f, " %s %lld", ef_agent_end_reason_name(i), (long long)r->n_end[i]);
    fprintf(f,
            "\n  tokens: %lld prompt, %lld completion (%.0f tok/s); tool calls %lld, "
            "tool errors %lld, parse errors %lld\n",
            (long long)r->n_prompt_tokens, (long long)r->n_completion_tokens, tps,
            (long long)r->n_tool_calls, (long long)r->n_tool_errors, (long long)r->n_parse_errors);
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
        double v = 0;
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
        } else if (num(val, 0, &v) < 0) {
            return ef_cli_usage_error("run", "%s '%s': expected a number >= 0", a, val);
        } else if (!strcmp(a, "--group"))
            o.runner.group_size = (int64_t)v;
        else if (!strcmp(a, "--concurrency"))
            o.runner.concurrency = (int)v;
        else if (!strcmp(a, "--limit"))
            o.limit_tasks = (int64_t)v;
        else if (!strcmp(a, "--seed"))
            o.runner.seed = (uint64_t)strtoull(val, NULL, 10);
        else if (!strcmp(a, "--max-turns"))
            o.agent.max_turns = (int64_t)v;
        else if (!strcmp(a, "--max-tokens"))
            o.agent.max_tokens = (int64_t)v;
        else if (!strcmp(a, "--timeout-s"))
            o.agent.max_wall_ms = (int64_t)(v * 1000);
        else if (!strcmp(a, "--context-window"))
            o.agent.context_window = (int64_t)v;
        else if (!strcmp(a, "--context-threshold"))
            o.agent.context_threshold = v;
        else if (!strcmp(a, "--max-tool-errors"))
            o.agent.max_tool_errors = (int)v;
        else if (!strcmp(a, "--temperature"))
            o.agent.sampling.temperature = v;
        else if (!strcmp(a, "--top-p"))
            o.agent.sampling.top_p = v;
        else if (!strcmp(a, "--max-completion-tokens"))
            o.agent.sampling.max_tokens = (int64_t)v;
        else if (!strcmp(a, "--request-timeout-s"))
            o.model_opts.timeout_ms = (int)(v * 1000);
        else if (!strcmp(a, "--retries"))
            o.model_opts.max_retries = (int)v;
        else if (!strcmp(a, "--retry-backoff-ms"))
            o.model_opts.backoff_ms = (int)v;
        else if (!strcmp(a, "--max-requests"))
            o.model_opts.max_requests = (int64_t)v;
        else
            return ef_cli_usage_error("run", "unknown option %s", a);
    }
    if (!o.db_path || !o.model)
        return ef_cli_usage_error("run", "--db and --model are required");
    if (o.runner.group_size < 1 || o.runner.concurrency < 1)
        return ef_cli_usage_error("run", "--group and --concurrency must be at least 1");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    o.runner.stop = &g_stop;
    tool_names[n_tools] = NULL;
    if (n_tools) {
        o.builtin_tools = tool_names;
        o.tools_cfg = &tools_cfg;
    }
    ef_agent_run_summary sum;
    int rc = ef_agent_run_store(ctx, &o, &sum);
    if (sum.run_id > 0)
        print_summary(&sum, json, stdout);
    if (rc < 0)
        fprintf(stderr, "envforge run: %s\n", ef_errmsg(ctx));
    ef_ctx_free(ctx);
    return rc < 0 ? EF_EXIT_FAIL : EF_EXIT_OK;
}
