/*
 * agent/agent.h — conversations, tool-call parsing, model backends, the episode loop and
 * the rollout runner.
 *
 * Overview
 *   - Conversation (ef_agent_conv): an ordered list of messages — system, user, assistant
 *     (content, reasoning_content, tool_calls with ids) and tool (tool_call_id) — that
 *     round-trips through OpenAI chat JSON (ef_agent_conv_to_json / _from_json).
 *   - Model (ef_model): a table of function pointers like a ggml backend. A request is the
 *     messages, the tools (OpenAI JSON), sampling parameters and a seed; a response is one
 *     assistant message plus, where the backend has them, token ids, log-probs, the kept
 *     top-p sets and expert routes, usage and a finish reason. Backends, by model name:
 *       http://host:port/v1[#model]  OpenAI-compatible /v1/chat/completions (vLLM, SGLang,
 *                                    the DeepSeek API, `envforge serve`); key from
 *                                    $EF_API_KEY or $OPENAI_API_KEY, never logged
 *       replay:FILE.jsonl            scripted responses (tests, reproducing an episode)
 *       oracle                       the env's reference solver acting through tool calls
 *     The built-in engine slots in by filling the same table.
 *   - Env (ef_agent_env): what the loop needs from an environment: its tools as OpenAI
 *     JSON, per-episode state made from a task, running one tool call, the reference
 *     solver (for the oracle) and the verifier. The Lua envs of envgen fill it; tests may
 *     fill it in C.
 *   - Episode (ef_agent_episode_run): system + user prompt → model → tool calls (OpenAI
 *     JSON, or DSML text) → tool results → ... until an answer, a submit call or a budget
 *     ends it; then the verifier. Everything is recorded in an ef_agent_episode: messages,
 *     tool calls, events (context resets, model errors), counters, the end reason.
 *   - Runner (ef_agent_runner_run): tasks × group size over C worker threads, skipping
 *     (task, sample) pairs already stored, handing each finished episode to a sink (the
 *     store writer in `envforge run`).
 *
 * Example
 *   ef_model *m;
 *   if (ef_model_open(ctx, "replay:script.jsonl", NULL, &m) < 0) ... ef_errmsg(ctx) ...
 *   ef_agent_config cfg = EF_AGENT_CONFIG_INIT;
 *   cfg.max_turns = 16;
 *   ef_agent_episode *ep;
 *   ef_agent_episode_run(ctx, &cfg, m, env, "{\"prompt\":\"2+2?\"}", 7, &ep);
 *   printf("%s reward %.2f\n", ef_agent_end_reason_name(ep->end_reason), ep->reward);
 *   ef_agent_episode_free(ep);
 *   ef_model_free(m);
 *
 * Threads: an ef_model may be shared by threads (complete() is thread-safe in every
 * backend here); an env instance belongs to one thread; contexts are per thread.
 */
#ifndef EF_AGENT_H
#define EF_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "common/ef.h"
#include "tools/tools.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1: the agent is built. */
int ef_agent_available(void);
/* What is still missing, for messages. Borrowed. */
const char *ef_agent_missing(void);

/* ---- conversations ------------------------------------------------------------- */

typedef enum {
    EF_ROLE_SYSTEM = 0,
    EF_ROLE_USER = 1,
    EF_ROLE_ASSISTANT = 2,
    EF_ROLE_TOOL = 3
} ef_agent_role;

typedef struct {
    char *id;        /* "call_3"; never NULL in a conversation */
    char *name;      /* tool name as the model wrote it */
    char *arguments; /* argument text as the model wrote it (should be a JSON object) */
} ef_agent_tool_call;

typedef struct {
    ef_agent_role role;
    char *content;           /* may be NULL (assistant with only tool calls) */
    char *reasoning_content; /* assistant thinking; NULL when none or dropped */
    ef_agent_tool_call *tool_calls;
    size_t n_tool_calls;
    char *tool_call_id; /* role tool */
    char *name;         /* role tool: the tool's name (optional) */
    /* role user: the harness's own error feedback (a tool call that could not be parsed,
     * an empty reply), not a new user turn: thinking retention keeps the reasoning before
     * it and token backends append it to the episode's ids (docs/agent.md). Not part of
     * the OpenAI JSON. */
    int feedback;
} ef_agent_msg;

typedef struct {
    ef_agent_msg *msgs;
    size_t n, cap;
} ef_agent_conv;

#define EF_AGENT_CONV_INIT                                                                         \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

const char *ef_agent_role_name(ef_agent_role role);
/* Parses "system"/"user"/"assistant"/"tool" ("developer" reads as system). */
int ef_agent_role_parse(const char *name, ef_agent_role *out);

/* Appends a deep copy of msg. */
int ef_agent_conv_push(ef_agent_conv *c, const ef_agent_msg *msg);
/* Appends a message of role with content (copied). */
int ef_agent_conv_push_text(ef_agent_conv *c, ef_agent_role role, const char *content);
/* Removes message i (freeing it). */
void ef_agent_conv_remove(ef_agent_conv *c, size_t i);
/* Frees every message; the conversation is empty and reusable after. Accepts NULL. */
void ef_agent_conv_clear(ef_agent_conv *c);
int ef_agent_conv_copy(const ef_agent_conv *src, ef_agent_conv *dst);

void ef_agent_msg_free(ef_agent_msg *m); /* frees the fields, not m */
int ef_agent_msg_copy(const ef_agent_msg *src, ef_agent_msg *dst);

/* One message as OpenAI chat JSON: {"role", "content", "reasoning_content"?,
 * "tool_calls"?: [{"id","type":"function","function":{"name","arguments"}}],
 * "tool_call_id"?, "name"?}. *out: cJSON_Delete. */
int ef_agent_msg_to_json(const ef_agent_msg *m, int with_reasoning, cJSON **out);
/* Reads one message; `what` names it in errors ("messages[3]"). Tool call arguments
 * given as an object are printed to text; missing ids are left NULL. */
int ef_agent_msg_from_json(ef_ctx *ctx, const cJSON *j, const char *what, ef_agent_msg *out);
/* The conversation as a JSON array. with_reasoning 0 leaves reasoning_content out. */
int ef_agent_conv_to_json(const ef_agent_conv *c, int with_reasoning, cJSON **out);
int ef_agent_conv_from_json(ef_ctx *ctx, const cJSON *arr, ef_agent_conv *out);

/* ---- tool-call parsing ---------------------------------------------------------- */

/* Why a tool call could not run; counted per episode. */
typedef enum {
    EF_CALL_OK = 0,
    EF_CALL_MALFORMED = 1, /* no name, or arguments that are not a JSON object */
    EF_CALL_UNKNOWN = 2,   /* no tool of that name */
    EF_CALL_BAD_ARGS = 3,  /* arguments do not fit the tool's schema */
    EF_CALL_TOOL_ERROR = 4 /* the tool ran and failed */
} ef_agent_call_status;

/* Extracts tool calls written as DeepSeek DSML text in content (the
 * <｜DSML｜function_calls> block) into msg->tool_calls, removing the block from
 * msg->content, through the engine's DSML parser (engine/encoding.h). Returns the number
 * of calls found (0 when none), EF_EPARSE (message on ctx) when a block is there but
 * broken. */
int ef_agent_parse_dsml(ef_ctx *ctx, ef_agent_msg *msg);

/* Checks one call's arguments: a JSON object (returned in *args, cJSON_Delete) or
 * EF_CALL_MALFORMED with a message for the model in *why (ef_free). */
ef_agent_call_status ef_agent_call_args_parse(const char *arguments, cJSON **args, char **why);

/* ---- models -------------------------------------------------------------------- */

typedef struct {
    double temperature; /* < 0: the server's default */
    double top_p;       /* <= 0: the server's default */
    int64_t max_tokens; /* completion tokens per call; <= 0: the server's default */
    int logprobs;       /* 1: ask for token log-probs where the backend has them */
    int top_logprobs;   /* alternatives per position (0: none) */
} ef_sampling;

#define EF_SAMPLING_INIT                                                                           \
    {                                                                                              \
        -1.0, 0.0, 0, 0, 0                                                                         \
    }

typedef struct {
    const ef_agent_conv *conv; /* the messages, in order */
    const char *tools_json;    /* OpenAI tools array text; NULL or "[]": none */
    ef_sampling sampling;
    uint64_t seed;      /* per call: episode seed mixed with the turn */
    int with_reasoning; /* 1: send reasoning_content of kept assistant turns */
    /* Where the request comes from (replay scripts key on it; logs). */
    int64_t task_id, sample_idx, turn;
    /* Token-in/token-out: the episode's token stream so far (prompt and sampled ids, as
     * the model saw them) and how many messages of conv it covers (through the last
     * assistant message). NULL / 0 when there is none. A backend that works in tokens
     * renders only the messages after those (tool results, feedback) and appends their
     * ids, so what the model saw stays what the stream holds. */
    const int32_t *context_ids;
    size_t n_context_ids, n_context_msgs;
} ef_model_request;

typedef struct {
    ef_agent_msg message; /* role assistant */
    char *finish_reason;  /* "stop", "tool_calls", "length", ... (may be NULL) */
    int64_t prompt_tokens, completion_tokens; /* usage; -1 when unknown */
    /* Token-level data, where the backend has it (NULL / 0 otherwise). */
    int32_t *prompt_ids;
    size_t n_prompt_ids;
    int32_t *token_ids; /* completion tokens */
    float *logprobs;
    size_t n_tokens;
    int32_t *topp_offsets; /* n_tokens + 1 */
    int32_t *topp_ids;
    uint16_t *routes; /* n_tokens * route_layers * route_topk */
    int64_t route_layers, route_topk;
    int64_t latency_ms;
    int n_attempts; /* HTTP attempts it took */
} ef_model_response;

void ef_model_response_free(ef_model_response *r); /* frees fields; accepts NULL */

typedef struct ef_model ef_model;

/* The backend table. complete() is required and must be thread-safe; errors go to ctx
 * (the caller's). A model error (the server refused, a broken response, the request
 * budget spent) returns < 0; the loop ends the episode with end reason model_error. */
typedef struct {
    const char *kind; /* "http", "replay", "oracle", "engine" */
    int (*complete)(ef_model *m, ef_ctx *ctx, const ef_model_request *req, ef_model_response *out);
    void (*free)(ef_model *m);
    /* Optional: 1 when this model drives the env's reference solver instead of
     * answering requests (the oracle); the loop then calls ef_agent_env.solve. */
    int (*is_oracle)(const ef_model *m);
} ef_model_iface;

struct ef_model {
    const ef_model_iface *iface;
    char *name; /* as given to ef_model_open */
    void *impl; /* the backend's state */
};

/* Options of the backends that need them. */
typedef struct {
    unsigned version;
    int timeout_ms;            /* http: per attempt (default 120000) */
    int connect_timeout_ms;    /* http (default 10000) */
    int max_retries;           /* http: extra attempts on 429, 5xx, connection errors (5) */
    int backoff_ms;            /* http: first backoff, doubled per retry, with jitter (500) */
    int backoff_max_ms;        /* http: cap on one backoff (30000) */
    int64_t max_requests;      /* http: request budget for the model's life (0: none) */
    size_t max_response_bytes; /* http: body cap (default 16 MiB) */
    const char *api_key;       /* NULL: $EF_API_KEY, then $OPENAI_API_KEY */
    /* http token-in/token-out: when set, requests go to /v1/completions with the prompt
     * as token ids: the conversation rendered by the DeepSeek-V3.2 chat encoder
     * (engine/encoding.h) and tokenized with this tokenizer.json; the completion's ids
     * and log-probs come back (vLLM return_token_ids / return_tokens_as_token_ids) and
     * its text is parsed by the DSML parser. Later turns extend the episode's ids instead
     * of re-tokenizing what the model sampled. */
    const char *tokenizer_path;
    int thinking; /* completions: thinking mode (default 1) */
} ef_model_options;

#define EF_MODEL_OPTIONS_VERSION 1
#define EF_MODEL_OPTIONS_INIT                                                                      \
    {                                                                                              \
        EF_MODEL_OPTIONS_VERSION, 120000, 10000, 5, 500, 30000, 0, 16u << 20, NULL, NULL, 1        \
    }

/* Opens a model by name (see the overview). opts may be NULL. *out: ef_model_free. */
int ef_model_open(ef_ctx *ctx, const char *name, const ef_model_options *opts, ef_model **out);
int ef_model_complete(ef_model *m, ef_ctx *ctx, const ef_model_request *req,
                      ef_model_response *out);
int ef_model_is_oracle(const ef_model *m);
void ef_model_free(ef_model *m);

typedef struct {
    int64_t n_requests, n_attempts, n_retries, n_failed;
    int64_t max_inflight; /* most transfers the multi handle ran at once */
} ef_model_http_stats;
/* Counters of an http model (zeros for other kinds). */
void ef_model_http_get_stats(ef_model *m, ef_model_http_stats *out);

/* ---- envs as the loop sees them ------------------------------------------------- */

typedef struct {
    char *text;       /* what the model sees (ef_malloc'd) */
    int is_error;     /* the tool failed (its message in text) */
    int ends_episode; /* submit: text is the answer */
} ef_agent_tool_out;

typedef struct ef_agent_env ef_agent_env;

/* What the loop needs from an env. One instance belongs to one thread. */
typedef struct {
    /* The tools as an OpenAI tools array (borrowed text, valid for the env's life). */
    const char *(*tools_json)(ef_agent_env *env);
    /* 1 when the env has a tool of this name; fills *schema (borrowed) when it has one. */
    int (*has_tool)(ef_agent_env *env, const char *name, const cJSON **schema);
    /* Per-episode state from the task's JSON ({"prompt","state","answer","meta"}). */
    int (*episode_new)(ef_agent_env *env, ef_ctx *ctx, const char *task_json, void **st);
    void (*episode_free)(ef_agent_env *env, void *st);
    /* The task's prompt (borrowed from st). */
    const char *(*prompt)(ef_agent_env *env, void *st);
    /* Runs a tool with parsed arguments (schema already checked). A tool's own failure
     * is out->is_error with its message; < 0 only when the host failed. */
    int (*call)(ef_agent_env *env, ef_ctx *ctx, void *st, const char *name, const cJSON *args,
                ef_agent_tool_out *out);
    /* The reference solver, run on the episode's state through the env's own tool path.
     * *answer_json: its answer as JSON text; *calls_json: the calls it made, in order,
     * [{"name", "arguments" (object or text), "result" | "error"}] (both ef_free; calls
     * may be NULL). The loop records them as assistant tool calls and tool messages.
     * max_calls > 0 is the episode's turn budget: the solver makes at most that many
     * calls, and one that wants more is stopped before its next call runs, with
     * *answer_json NULL (the state is what the calls made left). */
    int (*solve)(ef_agent_env *env, ef_ctx *ctx, void *st, int64_t max_calls, char **answer_json,
                 char **calls_json);
    /* The verifier on the final answer (JSON text: a model's plain answer is a JSON
     * string) and the episode's state. *info_json may be NULL (ef_free). */
    int (*verify)(ef_agent_env *env, ef_ctx *ctx, void *st, const char *answer_json, double *reward,
                  char **info_json);
    void (*free)(ef_agent_env *env);
} ef_agent_env_iface;

struct ef_agent_env {
    const ef_agent_env_iface *iface;
    void *impl;
};

void ef_agent_env_free(ef_agent_env *env); /* accepts NULL */

/* A Lua env (envgen) as an ef_agent_env: from source text in memory (path names it in
 * messages), or from the file at path when source is NULL. One per thread. */
int ef_agent_env_lua_open(ef_ctx *ctx, const char *path, const char *source, size_t len,
                          ef_agent_env **out);

/* inner with the named built-in tools of tools/ added (python, bash, editor, search,
 * fetch, git; names NULL-terminated; "submit" is skipped: the loop offers its own). Each
 * episode gets a fresh working directory under $TMPDIR (removed at its end) and its own
 * tool context from cfg (NULL: EF_TOOLS_CONFIG_INIT; cfg->workdir is ignored). Takes
 * ownership of inner, also on failure. */
int ef_agent_env_with_tools(ef_ctx *ctx, ef_agent_env *inner, const char *const *names,
                            const ef_tools_config *cfg, ef_agent_env **out);

/* ---- the episode ----------------------------------------------------------------- */

typedef enum {
    EF_END_ANSWER = 0,
    EF_END_SUBMIT,
    EF_END_MAX_TURNS,
    EF_END_MAX_TOKENS,
    EF_END_TIMEOUT,
    EF_END_CONTEXT_OVERFLOW,
    EF_END_MODEL_ERROR,
    EF_END_TOOL_ERROR,
    EF_END_COUNT_
} ef_agent_end_reason;

const char *ef_agent_end_reason_name(ef_agent_end_reason r);

typedef enum {
    EF_CONTEXT_NONE = 0,   /* let the prompt grow; overflow ends the episode */
    EF_CONTEXT_SUMMARY,    /* the model summarizes; restart from the summary */
    EF_CONTEXT_DISCARD_75, /* drop the oldest 75% of tool turns */
    EF_CONTEXT_DISCARD_ALL /* back to the task prompt */
} ef_agent_context_policy;

int ef_agent_context_policy_parse(const char *name, ef_agent_context_policy *out);
const char *ef_agent_context_policy_name(ef_agent_context_policy p);

typedef struct {
    unsigned version;
    const char *system_prompt; /* NULL: a short default naming the answer/submit rules */
    int64_t max_turns;         /* model calls per episode (default 16) */
    int64_t max_tokens;        /* completion tokens per episode (0: no limit) */
    int64_t max_wall_ms;       /* wall time per episode (0: no limit) */
    int64_t context_window;    /* tokens (default 131072) */
    double context_threshold;  /* share of the window that triggers the policy (0.8) */
    ef_agent_context_policy context_policy;
    int64_t max_context_resets;   /* then context_overflow (default 3) */
    int max_tool_errors;          /* consecutive bad calls before tool_error (default 8) */
    int submit_tool;              /* 1: offer a `submit` tool (answer string) (default 1) */
    int parse_dsml;               /* 1: look for DSML tool calls in content (default 1) */
    int retain_reasoning;         /* 1: DeepSeek-V3.2 thinking retention (default 1) */
    size_t max_tool_output_bytes; /* cap on a tool result the model sees (64 KiB) */
    ef_sampling sampling;
} ef_agent_config;

#define EF_AGENT_CONFIG_VERSION 1
#define EF_AGENT_CONFIG_INIT                                                                       \
    {                                                                                              \
        EF_AGENT_CONFIG_VERSION, NULL, 16, 0, 0, 131072, 0.8, EF_CONTEXT_DISCARD_75, 3, 8, 1, 1,   \
            1, 64u << 10, EF_SAMPLING_INIT                                                         \
    }

typedef struct {
    int64_t message_idx; /* the assistant message that made the call */
    char *call_id, *tool, *arguments, *result;
    ef_agent_call_status status;
    int64_t wall_ms;
} ef_agent_call_record;

typedef struct {
    char *kind; /* "context_reset", "model_error", "parse_error", ... */
    char *payload_json;
    double time; /* unix seconds */
} ef_agent_event;

typedef struct {
    ef_agent_conv transcript; /* every message in order, as it happened */
    ef_agent_call_record *calls;
    size_t n_calls, cap_calls;
    ef_agent_event *events;
    size_t n_events, cap_events;
    ef_agent_end_reason end_reason;
    char *answer; /* NULL when the episode ended without one */
    char *error;  /* what went wrong (model error, ...) or NULL */
    double reward;
    int verified;      /* the verifier ran on an answer (episodes without one
                          are verified too, on "" and the final state: their
                          reward is that verdict, verified 0) */
    char *verify_info; /* JSON or NULL */
    int64_t n_turns, n_tool_calls, n_tool_errors, n_parse_errors, n_unknown_tools, n_bad_args,
        n_context_resets;
    int64_t n_prompt_tokens, n_completion_tokens;
    int64_t wall_ms, model_ms, tool_ms, verify_ms;
    double started_at; /* unix seconds */
    /* Token stream, when every turn carried token ids and each prompt extended the
     * last: ids, loss mask (1 = sampled), log-probs, top-p CSR, routes. */
    int32_t *tok_ids;
    uint8_t *tok_mask;
    float *tok_logprobs;
    size_t n_tok, cap_tok;
    int tok_valid;
    /* every turn's reply carried log-probs; else the stream is stored without them (a
     * 0.0 would read as probability 1 to a trainer's importance ratio) */
    int tok_has_logprobs;
    /* ... with, when every turn had them, the kept top-p set of each position (CSR:
     * tok_topp_offsets[n_tok + 1], empty for prompt positions) and the MoE routes of each
     * position (n_tok × route_layers × route_topk; 0xFFFF where a layer is dense or a
     * position has none). */
    int tok_has_topp, tok_has_routes;
    int32_t *tok_topp_offsets, *tok_topp_ids;
    size_t n_topp_ids, cap_topp_ids;
    uint16_t *tok_routes;
    int64_t route_layers, route_topk;
} ef_agent_episode;

/* Runs one episode of task_json on env with model m. Returns 0 when the episode ran to
 * an end (whatever its reason; model errors included), < 0 only when the host failed
 * (out of memory, the env could not make its state) — message on ctx. *out:
 * ef_agent_episode_free. */
int ef_agent_episode_run(ef_ctx *ctx, const ef_agent_config *cfg, ef_model *m, ef_agent_env *env,
                         const char *task_json, uint64_t seed, ef_agent_episode **out);
/* The same with the task's place (replay scripts and logs use it). */
int ef_agent_episode_run_ext(ef_ctx *ctx, const ef_agent_config *cfg, ef_model *m,
                             ef_agent_env *env, const char *task_json, uint64_t seed,
                             int64_t task_id, int64_t sample_idx, ef_agent_episode **out);
void ef_agent_episode_free(ef_agent_episode *ep);
/* Status for the store, as slime's Sample.status: "completed" (answer, submit),
 * "truncated" (a budget or the context ended it), "failed" (model_error, tool_error). */
const char *ef_agent_episode_status(const ef_agent_episode *ep);

/* ---- the runner ------------------------------------------------------------------ */

typedef struct {
    int64_t task_id;
    int64_t env_id; /* which env instance runs it */
    const char *task_json;
    int64_t idx; /* the task's ordinal (for seeds) */
} ef_agent_task;

/* Makes an env instance (one per worker thread and env_id). */
typedef int (*ef_agent_env_open_fn)(void *ud, ef_ctx *ctx, int64_t env_id, ef_agent_env **out);

typedef struct {
    /* 1 when (task_id, sample_idx) is already stored (resume); may be NULL. Called
     * before any worker starts, from the caller's thread. */
    int (*is_done)(void *ud, int64_t task_id, int64_t sample_idx);
    /* Takes one finished episode; called from worker threads (must be thread-safe).
     * < 0 stops the run (message on ctx). */
    int (*put)(void *ud, ef_ctx *ctx, const ef_agent_task *task, int64_t sample_idx,
               const ef_agent_episode *ep);
    void *ud;
} ef_agent_sink;

typedef struct {
    unsigned version;
    int64_t group_size;               /* samples per task (default 1) */
    int concurrency;                  /* worker threads (default 1) */
    int64_t shard_index, shard_count; /* this shard: tasks whose ordinal % count == index */
    uint64_t seed;                    /* run seed: episode seeds derive from it */
    const char *progress_label;       /* NULL: "run"; "" : no progress bar */
    const volatile int *stop;         /* set non-zero to stop early (signal handler) */
} ef_agent_runner_options;

#define EF_AGENT_RUNNER_OPTIONS_VERSION 1
#define EF_AGENT_RUNNER_OPTIONS_INIT                                                               \
    {                                                                                              \
        EF_AGENT_RUNNER_OPTIONS_VERSION, 1, 1, 0, 1, 0, NULL, NULL                                 \
    }

typedef struct {
    int64_t n_planned;                             /* tasks × group in this shard */
    int64_t n_skipped;                             /* already stored */
    int64_t n_run, n_passed, n_verified, n_failed; /* failed: status "failed" */
    int64_t n_end[EF_END_COUNT_];
    int64_t n_prompt_tokens, n_completion_tokens;
    /* As `envforge stats` defines them (docs/export.md): tool calls made; tool calls
     * answered with an error, whatever the reason (no name, arguments that are not a JSON
     * object, an unknown tool, arguments the schema refuses, the tool failing); parse
     * errors: the episodes' n_parse_errors (empty replies, broken DSML blocks, calls
     * whose arguments did not parse — these are tool errors too). */
    int64_t n_tool_calls, n_tool_errors, n_parse_errors;
    double wall_s;
} ef_agent_runner_stats;

/* Runs every (task, sample) of this shard not yet done; returns when all are handed
 * to the sink, a sink call fails, or *stop is set (EF_EINTR). */
int ef_agent_runner_run(ef_ctx *ctx, const ef_agent_runner_options *opts,
                        const ef_agent_config *cfg, ef_model *m, const ef_agent_task *tasks,
                        size_t n_tasks, ef_agent_env_open_fn env_open, void *env_ud,
                        const ef_agent_sink *sink, ef_agent_runner_stats *stats);

/* ---- a whole run against the store (`envforge run`) ------------------------------- */

typedef struct {
    unsigned version;
    const char *db_path;              /* the store: tasks and envs in, episodes out */
    const char *model;                /* model name (ef_model_open) */
    const char *run_name;             /* NULL: derived from model, group, seed, shard, env,
                                         limit and a hash of the other settings that shape
                                         episodes — the same command resumes the same run */
    const char *env_name;             /* only tasks of this env (NULL: all) */
    int64_t limit_tasks;              /* the first N tasks by id (0: all) */
    const char *const *builtin_tools; /* NULL-terminated names of tools/ built-ins to add
                                         to every env (NULL: none) */
    const ef_tools_config *tools_cfg; /* their settings (NULL: defaults) */
    ef_agent_runner_options runner;
    ef_agent_config agent;
    ef_model_options model_opts;
} ef_agent_run_options;

#define EF_AGENT_RUN_OPTIONS_VERSION 1
#define EF_AGENT_RUN_OPTIONS_INIT                                                                  \
    {                                                                                              \
        EF_AGENT_RUN_OPTIONS_VERSION, NULL, NULL, NULL, NULL, 0, NULL, NULL,                       \
            EF_AGENT_RUNNER_OPTIONS_INIT, EF_AGENT_CONFIG_INIT, EF_MODEL_OPTIONS_INIT              \
    }

typedef struct {
    int64_t run_id;
    char run_name[512];
    int resumed;      /* the run existed: this call finished it */
    int64_t n_stored; /* episodes of the run in the store now */
    ef_agent_runner_stats runner;
    ef_model_http_stats http;
    int64_t n_retried; /* episodes stored with end reason model_error that this call
                          deleted and ran again */
    /* The first episode error of this call that ended in model_error, and the first
     * that ended in tool_error (e.g. the env or its tools could not be set up); "" when
     * none. */
    char first_model_error[512];
    char first_tool_error[512];
    /* The first episode whose verifier failed (an error, not a verdict: the sandbox
     * refused, the env raised); such episodes are stored unverified with reward 0 and,
     * like model_error ones, run again on resume. n_verify_errors counts them. */
    char first_verify_error[512];
    int64_t n_verify_errors;
} ef_agent_run_summary;

/* Runs this shard's tasks × group with the model, verifies and stores every episode
 * through the store's writer; resumes a run of the same name. *sum is filled whenever
 * the run started (also on failure and interruption: EF_EINTR).
 *
 * Resuming checks that the run was made with the same settings: the model, group size,
 * seed, shard and every setting that changes episodes (sampling, budgets, context,
 * tools, system prompt, env filter, tokenizer); on any difference nothing is run and
 * EF_ECONFLICT comes back with a message naming each differing setting, stored and
 * new. Unknown --tools names and out-of-range sampling values give EF_EINVAL before
 * anything is written. Episodes of the run that ended in model_error are not done:
 * they are deleted and run again (sum->n_retried). */
int ef_agent_run_store(ef_ctx *ctx, const ef_agent_run_options *o, ef_agent_run_summary *sum);

/* Checks the options before a run: known --tools names (built-ins and `submit`) and
 * sampling values in range (temperature in [0, 100] as the engine, top_p in (0, 1],
 * completion tokens >= 1, where set; context threshold in (0, 1]). EF_EINVAL naming the
 * flag and the value. */
int ef_agent_run_options_check(ef_ctx *ctx, const ef_agent_run_options *o);

/* Parses "i/N" (0 <= i < N). */
int ef_agent_shard_parse(ef_ctx *ctx, const char *text, int64_t *index, int64_t *count);

#ifdef __cplusplus
}
#endif
#endif /* EF_AGENT_H */
