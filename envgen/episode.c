/*
 * envgen/episode.c — running an env's functions on tasks: generate (a task from a seed and
 * a level, encoded canonically and hashed), episodes (a task with its own copy of the
 * state), tool calls (arguments checked against the tool's JSON Schema and round-tripped
 * through JSON exactly as a model's call would be; results round-tripped too), solve
 * through call(), and verify.
 */
#include <math.h>
#include <string.h>
#include "common/hash.h"
#include "common/rng.h"
#include "envgen/envgen_int.h"
#include "verifiers/verifiers.h"

#define MAX_CALLS_PER_SOLVE 10000
/* Buffers up to this size stay with an env's spare episode. */
#define EPISODE_KEEP_BYTES ((size_t)64 << 10)

/* ---- content hashes --------------------------------------------------------------------- */

uint64_t ef_envgen_task_seed(uint64_t run_seed, const ef_env_info *env, uint64_t i)
{
    return ef_rng_derive(run_seed, env->hash_u64, i);
}

void ef_env_task_clear(ef_env_task *t)
{
    if (!t)
        return;
    ef_free(t->task_json);
    ef_free(t->prompt);
    memset(t, 0, sizeof *t);
}

/* Line where the function at idx was defined (0 if not a Lua function). */
static int fn_line(lua_State *L, int idx)
{
    lua_Debug ar;
    lua_pushvalue(L, idx);
    if (!lua_getinfo(L, ">S", &ar))
        return 0;
    return ar.linedefined;
}

enum { FN_GENERATE, FN_SOLVE, FN_VERIFY };

/* Pushes the env's generate/solve/verify (kept in the registry since load). */
static void push_env_fn(ef_env *env, int which)
{
    lua_rawgeti(env->L, LUA_REGISTRYINDEX, env->fn_ref[which]);
}

/* Encodes the task table at the top, checks it, fills t (no Lua calls after the copy). */
static int finish_task(ef_env *env, ef_env_task *t, int line, const char *what)
{
    lua_State *L = env->L;
    if (lua_type(L, -1) != LUA_TTABLE)
        return ef_errorf(env->ctx, EF_EINVAL,
                         "%s:%d: %s returned %s, expected a task table {prompt=STRING, state, "
                         "answer, meta}",
                         env->path, line, what, luaL_typename(L, -1));
    lua_getfield(L, -1, "prompt");
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
        return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: %s returned a task whose prompt is %s, "
                         "expected a non-empty string",
                         env->path, line, what,
                         lua_type(L, -1) == LUA_TSTRING ? "empty" : luaL_typename(L, -1));
    lua_pop(L, 1);
    char err[512];
    if (ef_envgen__encode(env, -1, NULL, &env->out, "task", err, sizeof err) < 0)
        return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: %s returned a task that is not JSON: %s",
                         env->path, line, what, err);
    lua_getfield(L, -1, "prompt");
    t->prompt = ef_strdup(lua_tostring(L, -1));
    t->task_json = ef_strndup(env->out.data, env->out.len);
    if (!t->prompt || !t->task_json) {
        ef_env_task_clear(t);
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    }
    if (ef_sha256_hex(env->out.data, env->out.len, t->content_hash) < 0) {
        ef_env_task_clear(t);
        return ef_errorf(env->ctx, EF_ERROR, "%s: SHA-256 failed", env->path);
    }
    return 0;
}

typedef struct {
    ef_env *env;
    uint64_t seed;
    int level;
    ef_env_task *t;
    const char *json;
    size_t len;
} gen_args;

static int generate_fn(lua_State *L, void *ud)
{
    gen_args *a = ud;
    push_env_fn(a->env, FN_GENERATE);
    int line = a->env->fn_line[FN_GENERATE];
    ef_envgen__push_rng(L, a->seed);
    lua_pushinteger(L, a->level);
    int rc = ef_envgen__call(a->env, 2, 1, "generate");
    if (rc < 0)
        return rc;
    /* a misspelt field (answr, stat) would be carried along silently, the real one absent */
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1); /* the key is on top */
        static const char *const fields[] = {"prompt", "state", "answer", "meta"};
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = 0;
        for (size_t i = 0; k && i < EF_ARRAY_LEN(fields); i++)
            known |= strcmp(k, fields[i]) == 0;
        if (known)
            continue;
        const char *sug = k ? ef_envgen__suggest(k, fields, EF_ARRAY_LEN(fields)) : NULL;
        return ef_errorf(a->env->ctx, EF_EINVAL,
                         "%s:%d: generate returned a task with an unknown field '%.64s'%s%s%s "
                         "(fields: prompt, state, answer, meta; put anything else in meta)",
                         a->env->path, line, k ? k : luaL_typename(L, -1),
                         sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
    }
    rc = finish_task(a->env, a->t, line, "generate");
    if (rc < 0)
        return rc;
    /* keep the decoded form for the validation that follows (ef_envgen__episode_new_task);
     * skipped when memory is tight, where the copy could meet the cap (validation then
     * decodes, as it always did) */
    ef_env *env = a->env;
    luaL_unref(L, LUA_REGISTRYINDEX, env->gen_task_ref);
    env->gen_task_ref = LUA_NOREF;
    size_t need = 64 * env->out.len + ((size_t)64 << 10);
    if (env->mem_used < env->limits.mem_limit_bytes &&
        need < env->limits.mem_limit_bytes - env->mem_used) {
        ef_envgen__json_copy(L, -2, 0); /* the task table (the prompt is above it) */
        env->gen_task_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        memcpy(env->gen_task_hash, a->t->content_hash, sizeof env->gen_task_hash);
    }
    return 0;
}

int ef_env_generate(ef_ctx *ctx, ef_env *env, uint64_t seed, int level, ef_env_task *out)
{
    if (level < 1 || level > env->info.n_levels)
        return ef_errorf(ctx, EF_EINVAL, "%s: level %d is outside the env's levels 1..%d",
                         env->path, level, env->info.n_levels);
    env->ctx = ctx;
    ef_env_task t;
    memset(&t, 0, sizeof t);
    gen_args a = {env, seed, level, &t, NULL, 0};
    int rc = ef_envgen__protect(env, generate_fn, &a);
    if (rc < 0) {
        ef_env_task_clear(&t);
        return rc;
    }
    t.seed = seed;
    t.level = level;
    *out = t;
    return 0;
}

static int from_json_fn(lua_State *L, void *ud)
{
    gen_args *a = ud;
    char err[256];
    (void)L;
    if (ef_envgen__decode(a->env, a->json, a->len, err, sizeof err) < 0)
        return ef_errorf(a->env->ctx, EF_EPARSE, "task: %s", err);
    return finish_task(a->env, a->t, 0, "the imported line");
}

int ef_env_task_from_json(ef_ctx *ctx, ef_env *env, const char *json, size_t len,
                          ef_env_task *out)
{
    env->ctx = ctx;
    ef_env_task t;
    memset(&t, 0, sizeof t);
    gen_args a = {env, 0, 0, &t, json, len};
    int rc = ef_envgen__protect(env, from_json_fn, &a);
    if (rc < 0) {
        ef_env_task_clear(&t);
        return rc;
    }
    *out = t;
    return 0;
}

/* ---- episodes -------------------------------------------------------------------------- */

static int decode_task(ef_env *env, const char *json)
{
    char err[256];
    if (ef_envgen__decode(env, json, strlen(json), err, sizeof err) < 0)
        return ef_errorf(env->ctx, EF_EPARSE, "task: %s", err);
    return 0;
}

/* Pushes n deep copies of the JSON-shaped value at idx (tables copied with their
 * markers; strings and numbers are values), walking the original once for all of them.
 * Cheaper than decoding the JSON again. A value that is not a table goes into each copy
 * straight from the original (no intermediate copies on the stack). */
static void deep_copy_n(lua_State *L, int idx, int n, int depth)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || depth > EF_ENVGEN_JSON_MAX_DEPTH) {
        luaL_checkstack(L, n, "deep copy");
        for (int j = 0; j < n; j++)
            lua_pushvalue(L, idx);
        return;
    }
    luaL_checkstack(L, 2 * n + 6, "deep copy");
    /* sized up front (no rehashing while filling): the sequence part by rawlen, the
     * rest by counting */
    lua_Integer n_seq = (lua_Integer)lua_rawlen(L, idx);
    int n_keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n_keys++;
        lua_pop(L, 1);
    }
    int n_rec = n_keys > n_seq ? n_keys - (int)n_seq : 0;
    int base = lua_gettop(L); /* the copies go at base + 1 .. base + n */
    for (int j = 0; j < n; j++) {
        lua_createtable(L, (int)n_seq, n_rec);
        if (lua_getmetatable(L, idx))
            lua_setmetatable(L, -2);
    }
    for (lua_Integer i = 1; i <= n_seq; i++) {
        if (lua_rawgeti(L, idx, i) == LUA_TTABLE) {
            deep_copy_n(L, -1, n, depth + 1);
            for (int j = n; j >= 1; j--)
                lua_rawseti(L, base + j, i);
        } else {
            int v = lua_gettop(L);
            for (int j = 1; j <= n; j++) {
                lua_pushvalue(L, v);
                lua_rawseti(L, base + j, i);
            }
        }
        lua_pop(L, 1);
    }
    if (n_keys == (int)n_seq)
        return;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= n_seq) {
            lua_pop(L, 1); /* copied above */
            continue;
        }
        int key = lua_gettop(L) - 1, v = key + 1;
        if (lua_type(L, v) == LUA_TTABLE) {
            deep_copy_n(L, v, n, depth + 1); /* copies at v + 1 .. v + n */
            for (int j = 1; j <= n; j++) {
                lua_pushvalue(L, key);
                lua_pushvalue(L, v + j);
                lua_rawset(L, base + j);
            }
        } else {
            for (int j = 1; j <= n; j++) {
                lua_pushvalue(L, key);
                lua_pushvalue(L, v);
                lua_rawset(L, base + j);
            }
        }
        lua_settop(L, key); /* the key, for lua_next */
    }
}

static void deep_copy(lua_State *L, int idx, int depth)
{
    deep_copy_n(L, idx, 1, depth);
}

/* Takes the last copy out of a stash (a list of prepared copies); 0 when it is empty. */
static int stash_pop(lua_State *L, int ref, int *n)
{
    if (*n <= 0)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_rawgeti(L, -1, *n);
    lua_pushnil(L);
    lua_rawseti(L, -3, *n);
    lua_remove(L, -2);
    (*n)--;
    return 1;
}

static int decode_task(ef_env *env, const char *json);
static int episode_new(ef_ctx *ctx, ef_env *env, const char *task_json, int from_generated,
                       ef_env_episode **out);

/* Makes sure the registry's pristine task is untouched: when it was handed out itself
 * (after the stash took its copies), decodes it again from the task's JSON. */
static int pristine(ef_env_episode *ep)
{
    if (!ep->pristine_out)
        return 0;
    int rc = decode_task(ep->env, ep->task_json);
    if (rc < 0)
        return rc;
    luaL_unref(ep->env->L, LUA_REGISTRYINDEX, ep->task_ref);
    ep->task_ref = luaL_ref(ep->env->L, LUA_REGISTRYINDEX);
    ep->pristine_out = 0;
    return 0;
}

/* Pushes a fresh copy of the episode's task: the pristine decoded task itself when it
 * is no longer needed for copies (see ef_envgen__episode_stash), else one prepared by
 * the stash, else a deep copy of the pristine task (so solve and each verify get their
 * own). */
static int push_task(ef_env_episode *ep)
{
    lua_State *L = ep->env->L;
    if (!ep->task_used) {
        ep->task_used = 1;
        ep->pristine_out = 1;
        lua_rawgeti(L, LUA_REGISTRYINDEX, ep->task_ref);
        return 0;
    }
    if (stash_pop(L, ep->stash_task_ref, &ep->n_stash_task))
        return 0;
    int rc = pristine(ep);
    if (rc < 0)
        return rc;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ep->task_ref);
    deep_copy(L, -1, 0);
    lua_remove(L, -2);
    return 0;
}

/* Makes the wanted copies of the task and of its initial state in one walk each. */
static int stash_fn(lua_State *L, void *ud)
{
    ef_env_episode *ep = ud;
    int rc = pristine(ep);
    if (rc < 0)
        return rc;
    int k = ep->n_stash_want;
    luaL_unref(L, LUA_REGISTRYINDEX, ep->stash_task_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, ep->stash_state_ref);
    ep->stash_task_ref = ep->stash_state_ref = LUA_NOREF;
    ep->n_stash_task = ep->n_stash_state = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ep->task_ref);
    int t = lua_gettop(L);
    lua_createtable(L, k, 0);
    deep_copy_n(L, t, k, 0);
    for (int j = k; j >= 1; j--)
        lua_rawseti(L, t + 1, j);
    ep->stash_task_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ep->n_stash_task = k;
    int ks = ep->n_stash_want_state;
    lua_getfield(L, t, "state");
    if (ks > 0 && !lua_isnil(L, -1) && !ef_envgen__is_null(L, -1)) {
        int st = lua_gettop(L);
        lua_createtable(L, ks, 0);
        deep_copy_n(L, st, ks, 0);
        for (int j = ks; j >= 1; j--)
            lua_rawseti(L, st + 1, j);
        ep->stash_state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        ep->n_stash_state = ks;
    }
    return 0;
}

int ef_envgen__episode_stash(ef_ctx *ctx, ef_env_episode *ep, int k_task, int k_state,
                             int give_pristine)
{
    ep->env->ctx = ctx;
    ep->n_stash_want = k_task;
    ep->n_stash_want_state = k_state;
    int rc = ef_envgen__protect(ep->env, stash_fn, ep);
    if (rc == 0 && give_pristine)
        ep->task_used = 0; /* every copy is made: the next use may have the original */
    return rc;
}

static int episode_new_fn(lua_State *L, void *ud)
{
    ef_env_episode *ep = ud;
    ef_env *env = ep->env;
    if (ep->from_generated) { /* the copy generate kept: what the decode below gives */
        lua_rawgeti(L, LUA_REGISTRYINDEX, env->gen_task_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, env->gen_task_ref);
        env->gen_task_ref = LUA_NOREF;
    } else {
        int rc = decode_task(env, ep->task_json);
        if (rc < 0)
            return rc;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        return ef_errorf(ep->env->ctx, EF_EINVAL, "task JSON must be an object");
    lua_getfield(L, -1, "state");
    ep->state_none = lua_isnil(L, -1) || ef_envgen__is_null(L, -1);
    if (ep->state_none) {
        lua_pop(L, 1);
        lua_newtable(L);
    } else {
        deep_copy(L, -1, 0);
        lua_remove(L, -2);
    }
    ep->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    ep->task_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* the pristine task */
    ep->task_used = 1; /* kept pristine: every use gets a copy */
    return 0;
}

static int episode_reset_fn(lua_State *L, void *ud)
{
    ef_env_episode *ep = ud;
    luaL_unref(L, LUA_REGISTRYINDEX, ep->state_ref);
    ep->state_ref = LUA_NOREF;
    if (stash_pop(L, ep->stash_state_ref, &ep->n_stash_state)) {
        ep->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    if (ep->state_none) { /* no need for the pristine task (a second decode) */
        lua_newtable(L);
        ep->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 0;
    }
    int rc = pristine(ep);
    if (rc < 0)
        return rc;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ep->task_ref);
    lua_getfield(L, -1, "state");
    if (lua_isnil(L, -1) || ef_envgen__is_null(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    } else {
        deep_copy(L, -1, 0);
        lua_remove(L, -2);
    }
    ep->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int ef_envgen__episode_reset(ef_ctx *ctx, ef_env_episode *ep)
{
    ep->env->ctx = ctx;
    ep->n_calls = 0;
    ef_buf_reset(&ep->calls);
    ef_free(ep->first_tool_error);
    ep->first_tool_error = NULL;
    return ef_envgen__protect(ep->env, episode_reset_fn, ep);
}

/* Frees an episode's C memory (its Lua references are gone by then). */
static void episode_destroy(ef_env_episode *ep)
{
    ef_free(ep->task_json);
    ef_buf_free(&ep->calls);
    ef_buf_free(&ep->argbuf);
    ef_buf_free(&ep->resbuf);
    ef_free(ep->first_tool_error);
    ef_free(ep);
}

/* A buffer worth keeping for the env's next episode (a small one; a big one goes). */
static void buf_keep_small(ef_buf *b)
{
    if (b->cap > EPISODE_KEEP_BYTES)
        ef_buf_free(b);
    else
        ef_buf_reset(b);
}

void ef_env_episode_free(ef_env_episode *ep)
{
    if (!ep)
        return;
    ef_env *env = ep->env;
    if (env && env->L) {
        luaL_unref(env->L, LUA_REGISTRYINDEX, ep->state_ref);
        luaL_unref(env->L, LUA_REGISTRYINDEX, ep->task_ref);
        luaL_unref(env->L, LUA_REGISTRYINDEX, ep->stash_task_ref);
        luaL_unref(env->L, LUA_REGISTRYINDEX, ep->stash_state_ref);
    }
    if (!env || env->spare_episode) {
        episode_destroy(ep);
        return;
    }
    /* kept, with its buffers, for the env's next episode (validation makes one per
     * candidate): fewer allocations per candidate */
    ef_free(ep->first_tool_error);
    ep->first_tool_error = NULL;
    buf_keep_small(&ep->calls);
    buf_keep_small(&ep->argbuf);
    buf_keep_small(&ep->resbuf);
    env->spare_episode = ep;
}

void ef_envgen__episode_spare_free(ef_env *env)
{
    if (env->spare_episode)
        episode_destroy(env->spare_episode);
    env->spare_episode = NULL;
}

int ef_env_episode_new(ef_ctx *ctx, ef_env *env, const char *task_json, ef_env_episode **out)
{
    return episode_new(ctx, env, task_json, 0, out);
}

int ef_envgen__episode_new_task(ef_ctx *ctx, ef_env *env, const ef_env_task *t,
                                ef_env_episode **out)
{
    int kept = env->gen_task_ref != LUA_NOREF &&
               strcmp(env->gen_task_hash, t->content_hash) == 0;
    return episode_new(ctx, env, t->task_json, kept, out);
}

static int episode_new(ef_ctx *ctx, ef_env *env, const char *task_json, int from_generated,
                       ef_env_episode **out)
{
    env->ctx = ctx;
    size_t json_len = strlen(task_json);
    ef_env_episode *ep = env->spare_episode;
    if (ep) { /* the last one freed, its buffers kept (ef_env_episode_free) */
        env->spare_episode = NULL;
        ef_buf calls = ep->calls, argbuf = ep->argbuf, resbuf = ep->resbuf;
        char *json = ep->task_json;
        size_t json_cap = ep->task_json_cap;
        memset(ep, 0, sizeof *ep);
        ep->calls = calls;
        ep->argbuf = argbuf;
        ep->resbuf = resbuf;
        ep->task_json = json;
        ep->task_json_cap = json_cap;
    } else {
        ep = ef_calloc(1, sizeof *ep);
        if (!ep)
            return ef_errorf(ctx, EF_ENOMEM, "out of memory");
        ef_buf_init(&ep->calls, env->limits.max_json_bytes);
        ef_buf_init(&ep->argbuf, env->limits.max_json_bytes);
        ef_buf_init(&ep->resbuf, env->limits.max_json_bytes);
    }
    ep->env = env;
    ep->state_ref = ep->task_ref = LUA_NOREF;
    ep->stash_task_ref = ep->stash_state_ref = LUA_NOREF;
    if (json_len + 1 > ep->task_json_cap || ep->task_json_cap > EPISODE_KEEP_BYTES) {
        ef_free(ep->task_json);
        ep->task_json = ef_malloc(json_len + 1);
        ep->task_json_cap = ep->task_json ? json_len + 1 : 0;
    }
    if (!ep->task_json) {
        ef_env_episode_free(ep);
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    }
    memcpy(ep->task_json, task_json, json_len + 1);
    ep->from_generated = from_generated;
    int rc = ef_envgen__protect(env, episode_new_fn, ep);
    if (rc < 0) {
        ef_env_episode_free(ep);
        return rc;
    }
    *out = ep;
    return 0;
}

/* "path:12: message" -> "message" when the prefix is this env's file. */
static const char *strip_position(const ef_env *env, const char *msg)
{
    size_t pl = strlen(env->path);
    if (strncmp(msg, env->path, pl) == 0 && msg[pl] == ':') {
        const char *p = msg + pl + 1;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == ':') {
            p++;
            while (*p == ' ')
                p++;
            return p;
        }
    }
    return msg;
}

static int log_call(ef_env_episode *ep, const char *name, const char *args, const char *result,
                    const char *error)
{
    ef_buf *b = &ep->calls;
    int rc = ef_buf_appends(b, b->len ? "," : "[");
    /* a known tool's name holds only letters, digits, _ and - (checked at load): no
     * escaping needed; any other name goes through cJSON */
    int plain = 1;
    for (const char *c = name; *c && plain; c++)
        plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                *c == '_' || *c == '-';
    cJSON *s;
    char *txt;
    if (plain) {
        rc |= ef_buf_appends(b, "{\"name\":\"");
        rc |= ef_buf_appends(b, name);
        rc |= ef_buf_appends(b, "\",\"arguments\":");
    } else {
        rc |= ef_buf_appends(b, "{\"name\":");
        s = cJSON_CreateString(name);
        txt = s ? cJSON_PrintUnformatted(s) : NULL;
        rc |= txt ? ef_buf_appends(b, txt) : -1;
        cJSON_free(txt);
        cJSON_Delete(s);
        rc |= ef_buf_appends(b, ",\"arguments\":");
    }
    rc |= ef_buf_appends(b, args);
    if (error) {
        s = cJSON_CreateString(error);
        txt = s ? cJSON_PrintUnformatted(s) : NULL;
        rc |= ef_buf_appends(b, ",\"error\":");
        rc |= txt ? ef_buf_appends(b, txt) : -1;
        cJSON_free(txt);
        cJSON_Delete(s);
    } else {
        rc |= ef_buf_appends(b, ",\"result\":");
        rc |= ef_buf_appends(b, result);
    }
    rc |= ef_buf_appends(b, "}");
    return rc ? EF_ELIMIT : 0;
}

/* The call site named in messages ("file:line" of solve's call(), or a fixed text),
 * found only when a message needs it: the C frame of call() stays the innermost one
 * while the tool runs and after it returns, so the position is the same either way. */
typedef struct {
    lua_State *L; /* NULL: fixed text */
    const char *fixed;
    char buf[300];
    int done;
} call_site;

static const char *site(call_site *w)
{
    if (!w->L)
        return w->fixed;
    if (!w->done) {
        ef_envgen__where(w->L, w->buf, sizeof w->buf);
        w->done = 1;
    }
    return w->buf;
}

/* The tool schema subset whose verdict can be read off the decoded arguments: an object
 * schema ("type": "object", "properties", "required", "description", "title") whose
 * properties, where an argument names one, are plain typed leaves ("type" one of string,
 * number, integer, boolean, with "description" or "title"). Pushes the decoded arguments
 * and returns 1 when they are an object that such a schema accepts — when the JSON Schema
 * validator would surely accept them too; otherwise pushes nothing and returns 0, and the
 * caller validates the JSON text as always (and reports what the validator finds). For
 * arguments encoded here from a Lua table (canonical: no repeated keys, so the decoded
 * table holds exactly the parsed object's members). */
static int decode_fast_checked(ef_env *env, const cJSON *schema, const char *args, size_t len)
{
    lua_State *L = env->L;
    const cJSON *type = NULL, *props = NULL, *req = NULL, *c;
    cJSON_ArrayForEach(c, schema)
    {
        const char *k = c->string;
        if (strcmp(k, "type") == 0)
            type = c;
        else if (strcmp(k, "properties") == 0)
            props = c;
        else if (strcmp(k, "required") == 0)
            req = c;
        else if (strcmp(k, "description") != 0 && strcmp(k, "title") != 0)
            return 0;
    }
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "object") != 0 ||
        (props && !cJSON_IsObject(props)) || (req && !cJSON_IsArray(req)))
        return 0;
    char err[256];
    if (ef_envgen__decode(env, args, len, err, sizeof err) < 0)
        return 0;
    int a = lua_gettop(L), ok = 0;
    luaL_checkstack(L, 4, "tool arguments");
    if (lua_type(L, a) != LUA_TTABLE || ef_envgen__marker(L, a) != 2) /* not a JSON object */
        goto done;
    ok = 1;
    cJSON_ArrayForEach(c, req)
    {
        if (!cJSON_IsString(c)) {
            ok = 0;
            goto done;
        }
        lua_pushstring(L, c->valuestring);
        ok = lua_rawget(L, a) != LUA_TNIL;
        lua_pop(L, 1);
        if (!ok)
            goto done;
    }
    lua_pushnil(L);
    while (ok && lua_next(L, a)) {
        const cJSON *ps = props && lua_type(L, -2) == LUA_TSTRING
                              ? cJSON_GetObjectItemCaseSensitive(props, lua_tostring(L, -2))
                              : NULL;
        if (ps) { /* a typed leaf, and the value of its type */
            const cJSON *pt = NULL;
            if (!cJSON_IsObject(ps))
                ok = 0;
            cJSON_ArrayForEach(c, ps)
            {
                if (strcmp(c->string, "type") == 0)
                    pt = c;
                else if (strcmp(c->string, "description") != 0 && strcmp(c->string, "title") != 0)
                    ok = 0;
            }
            const char *t = cJSON_IsString(pt) ? pt->valuestring : "";
            int vt = lua_type(L, -1);
            if (!((strcmp(t, "string") == 0 && vt == LUA_TSTRING) ||
                  (strcmp(t, "number") == 0 && vt == LUA_TNUMBER) ||
                  (strcmp(t, "integer") == 0 && lua_isinteger(L, -1)) ||
                  (strcmp(t, "boolean") == 0 && vt == LUA_TBOOLEAN)))
                ok = 0;
        }
        lua_pop(L, 1);
    }
    if (!ok)
        lua_settop(L, a); /* lua_next was left with its key */
done:
    if (!ok)
        lua_settop(L, a - 1);
    return ok;
}

/* Runs tool `name` with JSON arguments text. Returns 1 with the result's JSON in
 * ep->resbuf (and its Lua value pushed when push), 0 for a tool-level error (message
 * pushed as a string), and raises a Lua error for runtime failures. `w` names the
 * caller for messages. */
static int tool_invoke(lua_State *L, ef_env_episode *ep, const char *name, const char *args,
                       size_t args_len, int push, call_site *w)
{
    ef_env *env = ep->env;
    if (ep->max_calls > 0 && ep->n_calls >= ep->max_calls) {
        ep->capped = 1; /* no tool runs: the state stays as the allowed calls left it */
        return luaL_error(L, "%s: call('%s'): the episode's budget of %d tool calls is spent",
                          site(w), name, (int)ep->max_calls);
    }
    if (++ep->n_calls > MAX_CALLS_PER_SOLVE)
        return luaL_error(L, "%s: more than %d tool calls in one episode", site(w),
                          MAX_CALLS_PER_SOLVE);
    lua_rawgeti(L, LUA_REGISTRYINDEX, env->tools_ref);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(env->tool_schemas, name);
    char msg[1024];
    msg[0] = 0;
    int pre_decoded = 0;
    if (lua_isnil(L, -1) || !schema) {
        lua_pop(L, 1);
        char names[512] = "";
        const cJSON *it;
        cJSON_ArrayForEach(it, env->tool_schemas)
        {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", it->string);
        }
        snprintf(msg, sizeof msg, "unknown tool '%s' (tools: %s)", name, names);
    } else if (push && decode_fast_checked(env, schema, args, args_len)) {
        pre_decoded = 1; /* the arguments (decoded) sit above the tool */
    } else {
        cJSON *a = cJSON_ParseWithLength(args, args_len);
        if (!a || !cJSON_IsObject(a)) {
            snprintf(msg, sizeof msg, "arguments of '%s' must be a JSON object", name);
        } else if (ef_verify_schema_validate(env->ctx, schema, a, "arguments") < 0) {
            snprintf(msg, sizeof msg, "invalid arguments for '%s': %s", name, ef_errmsg(env->ctx));
        }
        cJSON_Delete(a);
        if (msg[0])
            lua_pop(L, 1);
    }
    if (msg[0]) {
        if (!ep->first_tool_error)
            ep->first_tool_error = ef_asprintf("%s: call('%s'): %s", site(w), name, msg);
        if (log_call(ep, name, args_len ? args : "{}", NULL, msg) < 0)
            return luaL_error(L, "%s: the tool-call log exceeds its cap", site(w));
        lua_pushstring(L, msg);
        return 0;
    }
    /* run(state, args) */
    int run_line = 0;
    char err[512];
    if (pre_decoded) { /* tool args -> run state args */
        lua_getfield(L, -2, "run");
        lua_rawgeti(L, LUA_REGISTRYINDEX, ep->state_ref);
        lua_rotate(L, -3, 2);
        lua_remove(L, -4);
    } else {
        lua_getfield(L, -1, "run");
        lua_remove(L, -2);
        lua_rawgeti(L, LUA_REGISTRYINDEX, ep->state_ref);
        if (ef_envgen__decode(env, args, args_len, err, sizeof err) < 0)
            return luaL_error(L, "%s: arguments of '%s': %s", site(w), name, err);
    }
    static const char what[] = "tool";
    int rc = ef_envgen__call(env, 2, 1, what);
    if (rc < 0) {
        const char *full = ef_errmsg(env->ctx) + strlen(what) + 2;
        if (env->instr_hit || env->mem_hit || rc == EF_ELIMIT)
            return luaL_error(L, "tool '%s': %s", name, full);
        snprintf(msg, sizeof msg, "%s", strip_position(env, full));
        if (!ep->first_tool_error)
            ep->first_tool_error = ef_asprintf("%s: call('%s') raised: %s", site(w), name, full);
        if (log_call(ep, name, args, NULL, msg) < 0)
            return luaL_error(L, "%s: the tool-call log exceeds its cap", site(w));
        lua_pushstring(L, msg);
        return 0;
    }
    if (ef_envgen__encode(env, -1, NULL, &ep->resbuf, "result", err, sizeof err) < 0) {
        /* the run function was used up by the call: look it up again for its line */
        lua_rawgeti(L, LUA_REGISTRYINDEX, env->tools_ref);
        lua_getfield(L, -1, name);
        lua_getfield(L, -1, "run");
        run_line = fn_line(L, -1);
        lua_pop(L, 2);
        lua_pushfstring(L, "%s:%d: tool '%s' returned a value that is not JSON: %s (called at %s)",
                        env->path, run_line, name, err, site(w));
        return lua_error(L);
    }
    lua_pop(L, 1);
    if (log_call(ep, name, args, ep->resbuf.data, NULL) < 0)
        return luaL_error(L, "%s: the tool-call log exceeds its cap", site(w));
    if (push && ef_envgen__decode(env, ep->resbuf.data, ep->resbuf.len, err, sizeof err) < 0)
        return luaL_error(L, "%s: tool '%s' result: %s", site(w), name, err);
    return 1;
}

/* call(name, args) as seen by solve: returns the result, or nil and a message. */
static int l_call(lua_State *L)
{
    ef_env_episode *ep = lua_touserdata(L, lua_upvalueindex(1));
    ef_env *env = ep->env;
    call_site w = {L, NULL, "", 0};
    if (lua_type(L, 1) != LUA_TSTRING) {
        luaL_pushfail(L);
        lua_pushfstring(L, "call: the tool name must be a string, got %s", luaL_typename(L, 1));
        if (!ep->first_tool_error)
            ep->first_tool_error = ef_asprintf("%s: call(): the tool name is not a string", site(&w));
        return 2;
    }
    const char *name = lua_tostring(L, 1);
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(env->tool_schemas, name);
    char err[512];
    if (lua_isnoneornil(L, 2)) {
        ef_buf_reset(&ep->argbuf);
        ef_buf_appends(&ep->argbuf, "{}");
    } else if (ef_envgen__encode(env, 2, schema, &ep->argbuf, "arguments", err, sizeof err) < 0) {
        /* no model could send these (a function, a cyclic table): a bug in solve, which
         * would otherwise go on with a silent nil and leave no trace in the call log */
        lua_pushfstring(L, "%s: call('%s'): the arguments are not JSON: %s", site(&w), name, err);
        return lua_error(L);
    }
    /* argbuf is reused by nested calls: keep this call's text in a Lua string */
    lua_pushlstring(L, ep->argbuf.data, ep->argbuf.len);
    size_t alen;
    const char *args = lua_tolstring(L, -1, &alen);
    int ok = tool_invoke(L, ep, name, args, alen, 1, &w);
    if (ok)
        return 1;
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
}

typedef struct {
    ef_env_episode *ep;
    const char *tool;
    const char *args;
    const char *answer;
    char **out1, **out2;
    int *is_error;
    double *reward;
    int reset_first; /* verify: put a fresh initial state in first (same protected call) */
} ep_args;

static int call_fn(lua_State *L, void *ud)
{
    ep_args *a = ud;
    call_site w = {NULL, "episode", "", 0};
    int ok = tool_invoke(L, a->ep, a->tool, a->args, strlen(a->args), 0, &w);
    ef_env_episode *ep = a->ep;
    if (ok) {
        *a->is_error = 0;
        *a->out1 = ef_strndup(ep->resbuf.data, ep->resbuf.len);
    } else {
        *a->is_error = 1;
        cJSON *s = cJSON_CreateString(lua_tostring(L, -1));
        *a->out1 = s ? cJSON_PrintUnformatted(s) : NULL;
        cJSON_Delete(s);
    }
    return *a->out1 ? 0 : ef_errorf(ep->env->ctx, EF_ENOMEM, "out of memory");
}

int ef_env_episode_call(ef_ctx *ctx, ef_env_episode *ep, const char *tool, const char *args_json,
                        char **result_json, int *is_error)
{
    ep->env->ctx = ctx;
    char *res = NULL;
    int err = 0;
    ep_args a = {ep, tool, args_json && *args_json ? args_json : "{}", NULL, &res, NULL, &err, NULL, 0};
    int rc = ef_envgen__protect(ep->env, call_fn, &a);
    if (rc < 0) {
        ef_free(res);
        return rc;
    }
    *result_json = res;
    *is_error = err;
    return 0;
}

static int solve_fn(lua_State *L, void *ud)
{
    ep_args *a = ud;
    ef_env_episode *ep = a->ep;
    ef_env *env = ep->env;
    push_env_fn(env, FN_SOLVE);
    int rc = push_task(ep);
    if (rc < 0)
        return rc;
    lua_pushlightuserdata(L, ep);
    lua_pushcclosure(L, l_call, 1);
    rc = ef_envgen__call(env, 2, 1, "solve");
    /* stopped at the call budget: no answer, whether solve raised or caught the error
     * (a budget, memory or instruction limit is still an error) */
    int stopped = ep->capped && !env->instr_hit && !env->mem_hit && !env->fast_aborted &&
                  rc != EF_ENOMEM;
    if (rc < 0 && !stopped)
        return rc;
    char err[512];
    if (stopped) {
        ef_error_clear(env->ctx);
    } else {
        if (ef_envgen__encode(env, -1, NULL, &env->out,
                              "solve returned an answer that is not JSON: answer", err,
                              sizeof err) < 0)
            return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: %s", env->path,
                             env->fn_line[FN_SOLVE], err);
        if (!(*a->out1 = ef_strndup(env->out.data, env->out.len)))
            return ef_errorf(env->ctx, EF_ENOMEM, "out of memory");
    }
    if (a->out2) {
        if (ep->calls.len) {
            char *c = ef_malloc(ep->calls.len + 2);
            if (c) {
                memcpy(c, ep->calls.data, ep->calls.len);
                c[ep->calls.len] = ']';
                c[ep->calls.len + 1] = 0;
            }
            *a->out2 = c;
        } else {
            *a->out2 = ef_strdup("[]");
        }
    }
    if (a->out2 && !*a->out2)
        return ef_errorf(env->ctx, EF_ENOMEM, "out of memory");
    return 0;
}

int ef_env_episode_solve(ef_ctx *ctx, ef_env_episode *ep, char **answer_json, char **calls_json)
{
    return ef_env_episode_solve_capped(ctx, ep, 0, answer_json, calls_json);
}

int ef_env_episode_solve_capped(ef_ctx *ctx, ef_env_episode *ep, size_t max_calls,
                                char **answer_json, char **calls_json)
{
    ep->env->ctx = ctx;
    char *ans = NULL, *calls = NULL;
    ep_args a = {ep, NULL, NULL, NULL, &ans, calls_json ? &calls : NULL, NULL, NULL, 0};
    ep->max_calls = max_calls;
    ep->capped = 0;
    int rc = ef_envgen__protect(ep->env, solve_fn, &a);
    ep->max_calls = 0; /* the budget is solve's: a model's calls do not meet it */
    if (rc < 0) {
        ef_free(ans);
        ef_free(calls);
        return rc;
    }
    *answer_json = ans;
    if (calls_json)
        *calls_json = calls;
    return 0;
}

static int verify_fn(lua_State *L, void *ud)
{
    ep_args *a = ud;
    ef_env_episode *ep = a->ep;
    ef_env *env = ep->env;
    if (a->reset_first)
        episode_reset_fn(L, ep);
    push_env_fn(env, FN_VERIFY);
    int line = env->fn_line[FN_VERIFY];
    int rc = push_task(ep);
    if (rc < 0)
        return rc;
    char err[256];
    if (ef_envgen__decode(env, a->answer, strlen(a->answer), err, sizeof err) < 0)
        return ef_errorf(env->ctx, EF_EPARSE, "answer: %s", err);
    if (ef_envgen__is_null(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, ep->state_ref);
    rc = ef_envgen__call(env, 3, 2, "verify");
    if (rc < 0)
        return rc;
    double r;
    if (lua_type(L, -2) == LUA_TBOOLEAN)
        r = lua_toboolean(L, -2) ? 1.0 : 0.0;
    else if (lua_type(L, -2) == LUA_TNUMBER)
        r = lua_tonumber(L, -2);
    else
        return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: verify returned %s, expected a reward in [0, 1]",
                         env->path, line, luaL_typename(L, -2));
    if (r != r)
        return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: verify returned NaN, expected a reward in "
                         "[0, 1] (a 0/0 somewhere?)", env->path, line);
    if (!(r >= 0.0 && r <= 1.0))
        return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: verify returned reward %g, outside [0, 1]",
                         env->path, line, r);
    *a->reward = r;
    if (a->out1 && !lua_isnil(L, -1)) {
        if (ef_envgen__encode(env, -1, NULL, &env->out, "verify info", err, sizeof err) < 0)
            return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: %s", env->path, line, err);
        *a->out1 = ef_strndup(env->out.data, env->out.len);
        if (!*a->out1)
            return ef_errorf(env->ctx, EF_ENOMEM, "out of memory");
    }
    return 0;
}

int ef_env_episode_verify(ef_ctx *ctx, ef_env_episode *ep, const char *answer_json,
                          double *reward, char **info_json)
{
    return ef_envgen__episode_verify(ctx, ep, answer_json, 0, reward, info_json);
}

int ef_envgen__episode_verify(ef_ctx *ctx, ef_env_episode *ep, const char *answer_json,
                              int fresh_state, double *reward, char **info_json)
{
    ep->env->ctx = ctx;
    char *info = NULL;
    double r = 0;
    if (fresh_state) {
        ep->n_calls = 0;
        ef_buf_reset(&ep->calls);
        ef_free(ep->first_tool_error);
        ep->first_tool_error = NULL;
    }
    ep_args a = {ep, NULL, NULL, answer_json ? answer_json : "null", info_json ? &info : NULL,
                 NULL, NULL, &r, fresh_state};
    int rc = ef_envgen__protect(ep->env, verify_fn, &a);
    if (rc < 0) {
        ef_free(info);
        return rc;
    }
    *reward = r;
    if (info_json)
        *info_json = info;
    return 0;
}

static int state_fn(lua_State *L, void *ud)
{
    ep_args *a = ud;
    ef_env *env = a->ep->env;
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->ep->state_ref);
    char err[512];
    if (ef_envgen__encode(env, -1, NULL, &env->out, "state", err, sizeof err) < 0)
        return ef_errorf(env->ctx, EF_EINVAL, "%s: %s", env->path, err);
    *a->out1 = ef_strndup(env->out.data, env->out.len);
    return *a->out1 ? 0 : ef_errorf(env->ctx, EF_ENOMEM, "out of memory");
}

int ef_env_episode_state(ef_ctx *ctx, ef_env_episode *ep, char **state_json)
{
    ep->env->ctx = ctx;
    char *s = NULL;
    ep_args a = {ep, NULL, NULL, NULL, &s, NULL, NULL, NULL, 0};
    int rc = ef_envgen__protect(ep->env, state_fn, &a);
    if (rc < 0) {
        ef_free(s);
        return rc;
    }
    *state_json = s;
    return 0;
}
