/*
 * envgen/envgen_int.h — private declarations shared by the files of envgen/.
 *
 * Rule for Lua API use: every C function that touches the lua_State runs inside a
 * protected call (ef_envgen__protect), so a Lua memory error never escapes as a panic;
 * C heap memory used there lives in the caller's structs, never only on the C stack.
 */
#ifndef EF_ENVGEN_INT_H
#define EF_ENVGEN_INT_H

#include <signal.h>
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>
#include "envgen/envgen.h"

#define SMALL_CLASSES 16 /* 256 / 16 */

/* A module the env required (envgen/modules.c): its name and Lua text. */
typedef struct {
    char *name;
    char *text;
    size_t len;
} ef_env_module;

struct ef_env {
    ef_ctx *ctx;          /* the context of the call in progress */
    lua_State *L;
    ef_env_limits limits;
    size_t mem_used;
    int mem_hit;          /* the allocator refused a block since the last reset */
    uint64_t instr_used;
    int instr_hit;
    char where[256];      /* "path:line" (formatted from the two below when needed) */
    char where_src[LUA_IDSIZE]; /* short source and line last seen by the count hook */
    int where_line;
    void *free_lists[SMALL_CLASSES + 1]; /* the allocator's small blocks (vm.c) */
    struct chunk *chunks;
    char *chunkname;      /* "@path" */
    ef_env_info info;
    char *path, *source, *name, *category, *description, *tools_json;
    size_t source_len;    /* of source: the env's own text, what runs */
    char *bundle;         /* source and its modules (info.source) when it has modules */
    ef_env_module *modules; /* required (or carried by the bundle), in order */
    int n_modules;
    int from_bundle;      /* loaded from a bundle: modules come from it, never from disk */
    int loading;          /* the env file's top level is running: require is allowed */
    cJSON *tool_schemas;  /* name -> parameters */
    cJSON *tools_list;    /* while loading: the OpenAI-style tool list */
    int env_ref;          /* registry refs */
    int fn_ref[3];        /* generate, solve, verify (looked up once, at load) */
    int fn_line[3];       /* the lines they are defined on */
    int tools_ref;
    /* The task generate made last, as decoding its JSON would give it back (made while
     * the generated table is at hand, a copy cheaper than a decode), waiting for its
     * validation; LUA_NOREF when none. gen_task_hash: its content hash. */
    int gen_task_ref;
    char gen_task_hash[65];
    struct ef_env_episode *spare_episode; /* the last episode freed, kept for reuse */
    const void *array_mt, *object_mt; /* the json marker tables (identity, for
                                         ef_envgen__marker; the registry keeps them) */
    ef_buf scratch;       /* JSON decoding of strings */
    ef_buf out;           /* JSON encoding */
    struct ef_sandbox_worker *sandbox; /* for ef.exec, made on first use */
    int sandbox_slot;     /* picks the worker's outer uid (one per thread) */
    /* fast mode (envgen/vm.c): no count hook; a CPU-time tick aborts a long call */
    volatile sig_atomic_t fast_active; /* on for this env's thread */
    volatile sig_atomic_t in_call;     /* a protected call is running */
    volatile sig_atomic_t call_seq, seen_seq;
    volatile sig_atomic_t aborting;    /* the tick set the abort hook */
    int fast_aborted;     /* the candidate must be redone with the count hook */
    int fast_disabled;    /* this env stays in exact mode (uses the sandbox, or slow) */
    int mem_hit_any;      /* the allocator refused a block since the flag was cleared */
    size_t n_fast_runs, n_redone; /* candidates made in fast mode / made again */
    int has_timer;
    void *timer;          /* a timer_t (glibc: void *), made on the worker thread */
};

/* The env's sandbox worker (made on first use); NULL with a message on ctx. */
struct ef_sandbox_worker *ef_envgen__sandbox(ef_env *env);

struct ef_env_episode {
    ef_env *env;
    char *task_json;
    size_t task_json_cap; /* bytes allocated for task_json */
    int task_ref;  /* the decoded task, never handed out (copies are) */
    int task_used;
    int state_ref; /* the episode's state */
    int stash_task_ref, stash_state_ref; /* prepared copies (ef_envgen__episode_stash) */
    int n_stash_task, n_stash_state, n_stash_want, n_stash_want_state;
    int pristine_out; /* the pristine task itself was handed out (decode again before copying) */
    int state_none;   /* the task has no initial state: a reset is a new empty table */
    int from_generated; /* starts from env->gen_task_ref instead of decoding task_json */
    ef_buf calls;  /* JSON array text of the calls made through call() */
    ef_buf argbuf; /* arguments of the call in progress */
    ef_buf resbuf; /* result of the last call */
    size_t n_calls;
    size_t max_calls; /* solve: the calls allowed (0: only MAX_CALLS_PER_SOLVE) */
    int capped;       /* solve asked for a call past max_calls and was stopped */
    char *first_tool_error; /* "path:line: call('x'): message" */
};

/* Fast mode, for generation runs. Lua 5.4 pays for a count hook on every instruction
 * (luaG_traceexec), about a fifth of the CPU of Lua-heavy envs, so a worker may run
 * without it: a thread CPU-time timer ticks every 20 ms and a protected call still running
 * at two ticks in a row gets an abort hook (raising at its next instruction). The caller
 * then redoes the whole candidate in exact mode (count hook, instruction budget) and
 * keeps that result, so every outcome is the exact mode's: a call that ends in fast mode
 * ran under 40 ms of CPU, far below the 100M-instruction budgets fast mode needs (the
 * default is 200M), and memory-cap failures are redone too (their messages name the line
 * the count hook saw last). Sandbox calls switch the env to exact mode for good (search
 * stays: in-memory SQLite makes no interruptible system calls). ef_envgen__fast(env, 1) returns 0 when fast mode is on, <0 when it cannot be
 * (budget too small, disabled, no timer); ef_envgen__fast(env, 0) puts the count hook
 * back and clears the flags. Must be called on the thread that runs the env. */
int ef_envgen__fast(ef_env *env, int on);
/* Stops the tick timer (env free). */
void ef_envgen__fast_free(ef_env *env);
/* Inside a Lua call: leaves fast mode for good; when it was on, aborts the call (the
 * candidate is redone in exact mode). Used before sandbox calls (ef.exec, unit tests),
 * which must not see the tick signal. */
void ef_envgen__fast_forbid(lua_State *L);

/* Runs fn(L, ud) in a protected call with the instruction budget reset. On error,
 * returns EF_ELUA (EF_ELIMIT for budget/memory) with the message on env->ctx. */
typedef int (*ef_envgen_fn)(lua_State *L, void *ud);
int ef_envgen__protect(ef_env *env, ef_envgen_fn fn, void *ud);

/* Inside a protected call: calls the function at stack index -(nargs+1) with nargs
 * arguments under a message handler; on error leaves nothing, writes "what: message"
 * (with the env's file:line) to env->ctx and returns EF_ELUA/EF_ELIMIT. On success the
 * nres results are on the stack. */
int ef_envgen__call(ef_env *env, int nargs, int nres, const char *what);

/* A new lua_State with the sandboxed library set (base without file loading, string,
 * table, math without random, utf8, coroutine; json, ef). */
int ef_envgen__vm_new(ef_env *env);
void ef_envgen__vm_reset_budget(ef_env *env);
/* Formats env->where from the hook's last position. */
void ef_envgen__where_format(ef_env *env);
/* Frees the allocator's chunks (after lua_close). */
void ef_envgen__vm_free_chunks(ef_env *env);
/* "file:line" of the innermost Lua frame, or "" (buffer of cap bytes). */
void ef_envgen__where(lua_State *L, char *buf, size_t cap);

/* JSON <-> Lua (envgen/luajson.c). Encoding is canonical (object keys sorted bytewise,
 * integers as integers, floats in the shortest form that reads back, with ".0" when
 * integral). schema (may be NULL) resolves empty tables to [] where it says "array".
 * On failure writes "what: path: reason" into err and returns <0. */
int ef_envgen__encode(ef_env *env, int idx, const cJSON *schema, ef_buf *out, const char *what,
                      char *err, size_t errcap);
/* Pushes the decoded value; on failure pushes nothing and fills err. Decoded arrays and
 * objects carry the json.array / json.object markers. */
int ef_envgen__decode(ef_env *env, const char *text, size_t len, char *err, size_t errcap);
/* Appends s[0..n) as a JSON string (quoted, escaped; no UTF-8 check). */
int ef_envgen__json_quote(ef_buf *b, const char *s, size_t n);
/* 1 when s[0..n) is valid UTF-8. */
int ef_envgen__utf8_valid(const char *s, size_t n);
/* Appends the shortest round-trip form of a finite double. */
int ef_envgen__fmt_double(ef_buf *b, double d);
/* Pushes the marker tables / null sentinel (registry). */
void ef_envgen__push_array_mt(lua_State *L);
void ef_envgen__push_object_mt(lua_State *L);
void ef_envgen__push_null(lua_State *L);
int ef_envgen__is_null(lua_State *L, int idx);
/* The json marker of the table at idx: 1 json.array, 2 json.object, 0 neither. */
int ef_envgen__marker(lua_State *L, int idx);

/* Library registration (envgen/lualib.c, envgen/search.c). */
int ef_envgen__open_json(lua_State *L);
int ef_envgen__open_ef(lua_State *L);
int ef_envgen__open_rng(lua_State *L);
/* Pushes a new rng userdata seeded with seed. */
void ef_envgen__push_rng(lua_State *L, uint64_t seed);
/* ef.search(docs, query, k). */
int ef_envgen__search(lua_State *L);

/* Frees the env's spare episode (env free). */
void ef_envgen__episode_spare_free(ef_env *env);

/* ef_env_episode_new for a task generate made (validation): when t is the task this env
 * generated last, the episode starts from the copy kept then instead of decoding
 * t->task_json (the same table a decode gives); otherwise as ef_env_episode_new. */
int ef_envgen__episode_new_task(ef_ctx *ctx, ef_env *env, const ef_env_task *t,
                                ef_env_episode **out);
/* Pushes the value at idx as ef_envgen__decode(ef_envgen__encode(value)) would give it:
 * tables copied (a tree, every table its own) with the json.array marker where encode
 * writes an array and json.object elsewhere; every other value as it is. Only for values
 * that encode accepted without a schema. */
void ef_envgen__json_copy(lua_State *L, int idx, int depth);

/* ef_env_episode_verify; with fresh_state, a fresh copy of the initial state (as
 * ef_envgen__episode_reset) is put in first, in the same protected call. */
int ef_envgen__episode_verify(ef_ctx *ctx, ef_env_episode *ep, const char *answer_json,
                              int fresh_state, double *reward, char **info_json);
/* Prepares k_task copies of the task and k_state of its initial state, made in one walk
 * each, for the next uses (validation: the reference verify and the trivial answers'
 * verifies and resets). With give_pristine, the next push of the task hands out the
 * decoded original itself (solve), since every copy is already made; a later copy
 * beyond the stash decodes the task again first. */
int ef_envgen__episode_stash(ef_ctx *ctx, ef_env_episode *ep, int k_task, int k_state,
                             int give_pristine);
/* Puts a fresh copy of the task's initial state back into the episode (validation
 * verifies each trivial answer on its own initial state without decoding again). */
int ef_envgen__episode_reset(ef_ctx *ctx, ef_env_episode *ep);

/* Modules (envgen/modules.c). split: finds the sections of a bundle in source (none in a
 * plain env file), keeping their modules; *main_len is the length of the env's own text.
 * open: installs require for the env file's top level; close: removes it. bundle: the
 * env's text followed by a section per module, into out. */
int ef_envgen__modules_split(ef_env *env, const char *source, size_t len, size_t *main_len);
int ef_envgen__modules_open(lua_State *L);
void ef_envgen__modules_close(lua_State *L);
int ef_envgen__modules_bundle(ef_env *env, const char *main, size_t main_len, ef_buf *out);
void ef_envgen__modules_free(ef_env *env);

/* Makes assigning new globals an error (after the env file ran). */
int ef_envgen__freeze_globals(lua_State *L);
/* Sets up the json markers in the registry. */
int ef_envgen__json_registry_init(lua_State *L);

/* The env behind a lua_State. */
ef_env *ef_envgen__env(lua_State *L);

/* Source line finder for messages about table fields (envgen/env.c). */
int ef_envgen__find_line(const char *source, const char *key, int from_line);
/* The entry of known[0..n) closest to name (one edit, two for names of 6+ characters),
 * or NULL: for "did you mean" hints. */
const char *ef_envgen__suggest(const char *name, const char *const *known, size_t n);

#endif
