/*
 * envgen/envgen.h — the Lua runtime for environments, task generation, validation,
 * dedup and difficulty levels.
 *
 * An env is a Lua file returning a table (name, version, category, description, levels,
 * tools, generate, solve, verify; the contract is docs/envs.md). ef_env_load runs it in
 * its own lua_State with a memory cap and an instruction budget and checks the table;
 * every error names the file and line. An ef_env is used by one thread at a time; for
 * parallel work load one per worker (ef_envgen_run does).
 *
 * One task:
 *   ef_env *env;
 *   ef_env_limits lim = EF_ENV_LIMITS_INIT;
 *   if (ef_env_load(ctx, "examples/envs/arith.lua", &lim, &env) < 0) die(ef_errmsg(ctx));
 *   const ef_env_info *info = ef_env_get_info(env);
 *   ef_env_task t;
 *   ef_env_generate(ctx, env, ef_envgen_task_seed(1, info, 0), 1, &t);   // t.task_json
 *   ef_envgen_check chk;
 *   ef_envgen_validate(ctx, env, &t, &chk);          // chk.drop == EF_DROP_NONE: keep it
 *   ef_envgen_check_clear(&chk); ef_env_task_clear(&t); ef_env_free(env);
 *
 * An episode (what the agent runner and the oracle policy use):
 *   ef_env_episode *ep;
 *   ef_env_episode_new(ctx, env, task_json, &ep);     // state = a copy of task.state
 *   ef_env_episode_call(ctx, ep, "calc", "{\"expression\":\"1+2\"}", &result, &is_error);
 *   ef_env_episode_verify(ctx, ep, "\"3\"", &reward, &info_json);
 *   ef_env_episode_free(ep);
 *
 * Many tasks (parallel, deduplicated, sent in batches to a sink such as the store):
 *   ef_envgen_options o = EF_ENVGEN_OPTIONS_INIT;
 *   o.seed = 1; o.n_tasks = 1000; o.sink = my_sink; o.sink_ud = store;
 *   ef_envgen_summary sum;
 *   ef_envgen_run(ctx, "examples/envs/arith.lua", &o, &sum);
 *   ef_envgen_summary_print(&sum, stdout); ef_envgen_summary_clear(&sum);
 */
#ifndef EF_ENVGEN_H
#define EF_ENVGEN_H

#include <stdint.h>
#include <stdio.h>
#include "common/ef.h"

/* 1: the envgen runtime is built. Kept for the CLI's capability checks. */
int ef_envgen_available(void);
/* What is missing, for messages ("" now). Borrowed. */
const char *ef_envgen_missing(void);

/* Deepest JSON nesting accepted in either direction (Lua -> JSON, JSON -> Lua). */
#define EF_ENVGEN_JSON_MAX_DEPTH 64

/* ---- loading ------------------------------------------------------------------------- */

typedef struct {
    int version;
    size_t mem_limit_bytes; /* cap on one lua_State's memory */
    uint64_t instr_limit;   /* Lua VM instructions per call into the env (load, generate,
                               solve with its tool calls, verify) */
    size_t max_json_bytes;  /* cap on a task, a tool result, an answer as JSON text */
} ef_env_limits;
#define EF_ENV_LIMITS_INIT {1, (size_t)256 << 20, 200000000u, (size_t)16 << 20}

typedef struct ef_env ef_env;

typedef struct {
    const char *path;        /* as given to ef_env_load */
    const char *name;
    const char *category;    /* general | search | interpreter | code */
    const char *description;
    int64_t version;
    int n_levels;            /* levels 1..n_levels */
    char content_hash[65];   /* hex SHA-256 of source */
    uint64_t hash_u64;       /* its first 8 bytes, little-endian (seeds) */
    const char *tools_json;  /* [{"type":"function","function":{name,description,parameters}}] */
    const char *source;      /* the Lua text; with the modules it required appended
                                (a bundle, envgen/modules.c) when it required any */
    size_t source_len;
} ef_env_info;

/* Loads and checks an env file. Errors (syntax, runtime, missing or ill-typed fields,
 * invalid tool schemas) are EF_ELUA/EF_EINVAL with "path:line: ..." on ctx. limits may
 * be NULL (defaults). *out: ef_env_free. */
int ef_env_load(ef_ctx *ctx, const char *path, const ef_env_limits *limits, ef_env **out);
/* The same from a source text in memory; path names it in messages. */
int ef_env_load_buffer(ef_ctx *ctx, const char *path, const char *source, size_t len,
                       const ef_env_limits *limits, ef_env **out);
void ef_env_free(ef_env *env);
/* Borrowed; valid while env lives. */
const ef_env_info *ef_env_get_info(const ef_env *env);
/* Memory the env's lua_State holds now (bytes). */
size_t ef_env_mem_used(const ef_env *env);

/* ---- tasks --------------------------------------------------------------------------- */

typedef struct {
    int64_t idx;            /* candidate index in its run (or line number on import) */
    uint64_t seed;
    int level;
    char *task_json;        /* canonical JSON {prompt, state, answer, meta} (keys sorted) */
    char *prompt;
    char content_hash[65];  /* hex SHA-256 of task_json */
} ef_env_task;

/* Task i's seed: ef_rng_derive(run_seed, env->hash_u64, i). */
uint64_t ef_envgen_task_seed(uint64_t run_seed, const ef_env_info *env, uint64_t i);

/* Runs env.generate(rng, level) with rng seeded from seed; fills *out (clear with
 * ef_env_task_clear). Same (env source, seed, level) -> same bytes on any machine. */
int ef_env_generate(ef_ctx *ctx, ef_env *env, uint64_t seed, int level, ef_env_task *out);
/* Re-encodes a task given as JSON (an import) into canonical form and hashes it. */
int ef_env_task_from_json(ef_ctx *ctx, ef_env *env, const char *json, size_t len,
                          ef_env_task *out);
void ef_env_task_clear(ef_env_task *t);

/* ---- episodes -------------------------------------------------------------------------- */

typedef struct ef_env_episode ef_env_episode;

/* A fresh episode of a task: its own copy of task.state. *out: ef_env_episode_free. */
int ef_env_episode_new(ef_ctx *ctx, ef_env *env, const char *task_json, ef_env_episode **out);
void ef_env_episode_free(ef_env_episode *ep);
/* Calls a tool with JSON arguments (checked against its schema). A tool-level failure
 * (unknown tool, bad arguments, the tool raised an error) returns 0 with *is_error = 1
 * and *result_json a JSON string holding the message; negative returns are runtime
 * failures (budget, memory, a tool returning a non-JSON value). *result_json: ef_free. */
int ef_env_episode_call(ef_ctx *ctx, ef_env_episode *ep, const char *tool, const char *args_json,
                        char **result_json, int *is_error);
/* Runs env.solve(task, call) on the episode; *answer_json (ef_free) is its answer, and
 * *calls_json (ef_free, may be NULL) the list of its tool calls
 * [{"name","arguments","result"|"error"}]. */
int ef_env_episode_solve(ef_ctx *ctx, ef_env_episode *ep, char **answer_json, char **calls_json);
/* The same with a budget of max_calls tool calls (0: none beyond the usual cap): a
 * call() past it runs no tool and raises, which stops solve there (and every call()
 * after it raises too, should solve catch the error). Then it returns 0 with
 * *answer_json NULL and *calls_json the max_calls calls made; the state is the one
 * those calls left. */
int ef_env_episode_solve_capped(ef_ctx *ctx, ef_env_episode *ep, size_t max_calls,
                                char **answer_json, char **calls_json);
/* Runs env.verify(task, answer, state) with the episode's current state. answer_json is
 * JSON text (a model's plain-text answer is a JSON string). *info_json may be NULL. */
int ef_env_episode_verify(ef_ctx *ctx, ef_env_episode *ep, const char *answer_json,
                          double *reward, char **info_json);
/* The episode's current state as canonical JSON (ef_free). */
int ef_env_episode_state(ef_ctx *ctx, ef_env_episode *ep, char **state_json);

/* ---- validation ------------------------------------------------------------------------- */

typedef enum {
    EF_DROP_NONE = 0,
    EF_DROP_GENERATE,       /* generate raised an error or returned a bad task */
    EF_DROP_SOLVE,          /* solve raised an error (or a tool broke) */
    EF_DROP_VERIFY,         /* verify raised an error or returned a bad reward */
    EF_DROP_REFERENCE,      /* the reference solution scored below 1 */
    EF_DROP_TRIVIAL_EMPTY,  /* the empty answer scored 1 */
    EF_DROP_TRIVIAL_CONST,  /* the constant answer "0" scored 1 */
    EF_DROP_TRIVIAL_ECHO,   /* the prompt echoed back scored 1 */
    EF_DROP_TRIVIAL_RANDOM, /* a random answer shaped like the reference scored 1 */
    EF_DROP_DUPLICATE,      /* same content hash as a task kept earlier */
    EF_DROP_N_
} ef_drop_reason;

/* "generate_error", "reference_fails", "trivial_empty", ... */
const char *ef_envgen_drop_name(int reason);

#define EF_ENVGEN_N_TRIVIAL 4

/* A level whose candidates, at least this many, all dropped fails the run. */
#define EF_ENVGEN_LEVEL_MIN_TRIED 20

typedef struct {
    int drop;                        /* ef_drop_reason; EF_DROP_NONE: keep */
    char *message;                   /* why it was dropped (ef_free'd by clear) */
    double ref_reward;               /* -1 when solve did not finish */
    double trivial_reward[EF_ENVGEN_N_TRIVIAL]; /* -1: not run */
    char *answer_json;               /* the reference answer */
    char *calls_json;                /* the reference solution's tool calls */
    size_t n_calls;
    char *first_tool_error;          /* the reference solution's first failed tool call
                                      * ("path:line: call('x'): message"), NULL if none */
} ef_envgen_check;

/* Solves t through call(), verifies the answer (must be 1), then verifies the trivial
 * answers on fresh states (each must be below 1). Returns 0 with chk->drop set; negative
 * only when out of memory. */
int ef_envgen_validate(ef_ctx *ctx, ef_env *env, const ef_env_task *t, ef_envgen_check *chk);
void ef_envgen_check_clear(ef_envgen_check *chk);

/* ---- runs ------------------------------------------------------------------------------ */

/* Receives kept tasks in candidate order, in batches, one batch at a time on a thread
 * ef_envgen_run starts for it (so a store needs only one writer; the caller must not use
 * what the sink uses until the run returns). ctx is the sink's own; a failure's message
 * reaches the run's ctx. *n_stored / *n_dup: how many the sink inserted and how many it
 * already held. Return <0 to stop the run (tasks of earlier batches stay stored). */
typedef int (*ef_envgen_sink)(void *ud, ef_ctx *ctx, const ef_env_info *env,
                              const ef_env_task *tasks, size_t n, size_t *n_stored,
                              size_t *n_dup);

typedef struct {
    int version;
    uint64_t seed;
    size_t n_tasks;        /* tasks to keep (import: 0 = every line) */
    int level_lo, level_hi; /* 0, 0: every level of the env (tasks cycle through them) */
    int n_jobs;            /* worker threads; 0: one per core */
    size_t max_attempts;   /* candidates before giving up; 0: 10 n + 100 */
    ef_env_limits limits;
    int show_progress;     /* progress bar on stderr */
    const char *from_jsonl; /* import these tasks instead of generating */
    ef_envgen_sink sink;
    void *sink_ud;
    int exact;             /* 1: every call under the count hook (no fast mode; the kept
                            * tasks are the same either way, only slower) */
} ef_envgen_options;
#define EF_ENVGEN_OPTIONS_INIT {1, 0, 0, 0, 0, 0, 0, EF_ENV_LIMITS_INIT, 0, NULL, NULL, NULL, 0}

typedef struct {
    char *env_name, *path, *content_hash;
    size_t n_requested, n_kept, n_candidates, n_stored, n_store_dup;
    size_t n_kept_nolevel;   /* imported tasks that carried no level */
    size_t n_import_skipped; /* imported lines outside --level (or without a level) */
    size_t n_dropped[EF_DROP_N_];
    char *first_message[EF_DROP_N_]; /* first drop message per reason */
    int level_lo, level_hi;
    size_t *kept_per_level;          /* [level - level_lo] */
    double wall_s;
    int n_jobs;
    /* verifier self-check over every candidate that generated */
    size_t sc_checked, sc_ref_ok, sc_trivial_pass[EF_ENVGEN_N_TRIVIAL];
    int sc_pass;                     /* reference >= 99% and every trivial kind <= 1% */
    size_t n_fast, n_redone;         /* candidates made without the count hook / made
                                      * again with it (see ef_envgen_options.exact) */
    size_t *candidates_per_level;    /* [level - level_lo]: candidates made (generating) */
    char **first_drop_per_level;     /* [level - level_lo]: first drop message, or NULL */
    size_t n_ref_no_calls;           /* kept tasks whose reference made no tool call */
    size_t n_ref_tool_errors;        /* kept tasks whose reference got a tool error */
    char **warnings;                 /* things an env author should fix that do not stop
                                      * the run ("solve made no tool calls", ...) */
    size_t n_warnings;
} ef_envgen_summary;

/* Generates (or imports) and validates until n_tasks are kept, in parallel; kept tasks
 * go to opts->sink in order. Fails (EF_ELIMIT) when max_attempts candidates keep fewer,
 * when the first candidates all fail, or when a level kept none of its candidates (at
 * least EF_ENVGEN_LEVEL_MIN_TRIED of them; generating, not importing), with the reasons
 * and the first messages on ctx;
 * *out is filled in either case (clear it with ef_envgen_summary_clear). */
int ef_envgen_run(ef_ctx *ctx, const char *env_path, const ef_envgen_options *opts,
                  ef_envgen_summary *out);
void ef_envgen_summary_clear(ef_envgen_summary *s);
void ef_envgen_summary_print(const ef_envgen_summary *s, FILE *f);
/* The summary as a JSON object (ef_free). */
char *ef_envgen_summary_json(const ef_envgen_summary *s);

/* ---- JSONL ----------------------------------------------------------------------------- */

/* One tasks-JSONL line (no newline) into out: {"env","env_hash","idx","seed","level",
 * "content_hash","task"}; seed is a decimal string (64-bit exact). `gen --from-jsonl`
 * reads these lines back, and bare task objects ({"prompt": ...}) too. */
int ef_envgen_task_jsonl(ef_ctx *ctx, ef_buf *out, const char *env_name, const char *env_hash,
                         const ef_env_task *t);

#endif
