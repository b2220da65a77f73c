/*
 * envgen/vm.c — the sandboxed Lua virtual machine of one env: a counting allocator with a
 * memory cap, an instruction budget enforced by a count hook (which also remembers the
 * last file:line for messages), the restricted library set (no io, os, package, debug,
 * dofile/loadfile, binary chunks, math.random), protected calls with a message handler
 * that names the env file and line.
 */
#define _GNU_SOURCE /* timer_create with SIGEV_THREAD_ID, gettid */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <lualib.h>
#include "envgen/envgen_int.h"

/* Instructions between count-hook calls (fewer when the budget is smaller). The hook's
 * lua_getinfo costs about as much as a few hundred instructions, so a short step is
 * felt; the cost Lua 5.4 pays on every instruction while any count hook is set
 * (luaG_traceexec) is the same for any step. */
#define HOOK_STEP 10000

static int hook_step(const ef_env *env)
{
    return env->limits.instr_limit < HOOK_STEP ? (int)env->limits.instr_limit : HOOK_STEP;
}

ef_env *ef_envgen__env(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

/* Small blocks (most of Lua's: strings, tables, closures) come from per-state free
 * lists carved out of 64 KiB chunks, which saves the general allocator's work; bigger
 * ones go to ef_realloc. The memory cap counts the sizes Lua asked for. */
#define SMALL_MAX 256
#define SMALL_STEP 16
#define CHUNK_BYTES ((size_t)64 << 10)

typedef struct chunk {
    struct chunk *next;
    size_t used;
    max_align_t data[];
} chunk;

static size_t small_class(size_t n)
{
    return (n + SMALL_STEP - 1) / SMALL_STEP; /* 1..SMALL_MAX/SMALL_STEP */
}

static void *small_alloc(ef_env *env, size_t cls)
{
    void *p = env->free_lists[cls];
    if (p) {
        env->free_lists[cls] = *(void **)p;
        return p;
    }
    size_t bytes = cls * SMALL_STEP;
    chunk *c = env->chunks;
    if (!c || c->used + bytes > CHUNK_BYTES - sizeof(chunk)) {
        c = ef_malloc(CHUNK_BYTES);
        if (!c)
            return NULL;
        c->next = env->chunks;
        c->used = 0;
        env->chunks = c;
    }
    p = (char *)c->data + c->used;
    c->used += bytes;
    return p;
}

static void small_free(ef_env *env, void *p, size_t cls)
{
    *(void **)p = env->free_lists[cls];
    env->free_lists[cls] = p;
}

void ef_envgen__vm_free_chunks(ef_env *env)
{
    chunk *c = env->chunks;
    while (c) {
        chunk *n = c->next;
        ef_free(c);
        c = n;
    }
    env->chunks = NULL;
    memset(env->free_lists, 0, sizeof env->free_lists);
}

static void *env_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    ef_env *env = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        if (ptr) {
            if (old <= SMALL_MAX)
                small_free(env, ptr, small_class(old));
            else
                ef_free(ptr);
        }
        env->mem_used -= old;
        return NULL;
    }
    if (nsize > old && env->mem_used - old + nsize > env->limits.mem_limit_bytes) {
        env->mem_hit = 1;
        env->mem_hit_any = 1;
        return NULL;
    }
    void *p;
    if (ptr && old > SMALL_MAX && nsize > SMALL_MAX) {
        p = ef_realloc(ptr, nsize);
        if (!p)
            return nsize <= old ? ptr : NULL; /* Lua needs shrinking to succeed */
    } else if (ptr && old <= SMALL_MAX && nsize <= SMALL_MAX &&
               small_class(old) == small_class(nsize)) {
        p = ptr;
    } else {
        p = nsize <= SMALL_MAX ? small_alloc(env, small_class(nsize)) : ef_malloc(nsize);
        if (!p)
            return (ptr && nsize <= old) ? ptr : NULL;
        if (ptr) {
            memcpy(p, ptr, old < nsize ? old : nsize);
            if (old <= SMALL_MAX)
                small_free(env, ptr, small_class(old));
            else
                ef_free(ptr);
        }
    }
    env->mem_used = env->mem_used - old + nsize;
    return p;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    ef_env *env = ef_envgen__env(L);
    env->instr_used += (uint64_t)hook_step(env);
    if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0) {
        memcpy(env->where_src, ar->short_src, sizeof env->where_src);
        env->where_line = ar->currentline;
    }
    if (env->instr_used > env->limits.instr_limit) {
        env->instr_hit = 1;
        ef_envgen__where_format(env);
        lua_pushfstring(L, "%s: instruction budget of %I instructions exceeded (an endless loop?)",
                        env->where, (lua_Integer)env->limits.instr_limit);
        lua_error(L);
    }
}

void ef_envgen__where(lua_State *L, char *buf, size_t cap)
{
    lua_Debug ar;
    buf[0] = 0;
    for (int level = 0; level < 64 && lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            snprintf(buf, cap, "%s:%d", ar.short_src, ar.currentline);
            return;
        }
    }
}

/* The message handler: a string message keeps its "file:line:" (Lua adds it); other
 * error objects are described; errors without a position get the innermost one. */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else if (lua_type(L, 1) == LUA_TTABLE && lua_getfield(L, 1, "message") == LUA_TSTRING)
            msg = lua_pushfstring(L, "%s (raised as a table; error(\"message\") is the usual form)",
                                  lua_tostring(L, -1));
        else
            msg = lua_pushfstring(L, "error() was given a %s value, not a message: raise "
                                  "error(\"message\") with a string", luaL_typename(L, 1));
    }
    char where[256];
    ef_envgen__where(L, where, sizeof where);
    ef_env *env = ef_envgen__env(L);
    /* "path:12: message" already has a position when it starts with the short source */
    const char *colon = strchr(msg, ':');
    int has_pos = colon && colon != msg && colon[1] >= '0' && colon[1] <= '9';
    if (!has_pos && where[0])
        lua_pushfstring(L, "%s: %s", where, msg);
    else
        lua_pushstring(L, msg);
    (void)env;
    return 1;
}

static int fail_message(ef_env *env, int status, const char *what)
{
    lua_State *L = env->L;
    const char *m = lua_tostring(L, -1);
    int code = (env->instr_hit || env->mem_hit || status == LUA_ERRMEM) ? EF_ELIMIT : EF_ELUA;
    ef_envgen__where_format(env);
    if (status == LUA_ERRMEM)
        ef_errorf(env->ctx, code, "%s: %s: memory cap of %zu MiB exceeded (%s)", what,
                  env->where[0] ? env->where : env->path, env->limits.mem_limit_bytes >> 20,
                  m ? m : "not enough memory");
    else
        ef_errorf(env->ctx, code, "%s: %s", what, m ? m : "unknown error");
    lua_pop(L, 1);
    return code;
}

int ef_envgen__call(ef_env *env, int nargs, int nres, const char *what)
{
    lua_State *L = env->L;
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msgh);
    lua_insert(L, base);
    int st = lua_pcall(L, nargs, nres, base);
    lua_remove(L, base);
    if (st != LUA_OK)
        return fail_message(env, st, what);
    return 0;
}

void ef_envgen__vm_reset_budget(ef_env *env)
{
    env->instr_used = 0;
    env->instr_hit = 0;
    env->mem_hit = 0;
    env->where[0] = 0;
    env->where_line = 0;
}

void ef_envgen__where_format(ef_env *env)
{
    if (env->where_line > 0)
        snprintf(env->where, sizeof env->where, "%.*s:%d", (int)sizeof env->where_src,
                 env->where_src, env->where_line);
}

typedef struct {
    ef_envgen_fn fn;
    void *ud;
    int rc;
} protect_args;

static int trampoline(lua_State *L)
{
    protect_args *a = lua_touserdata(L, 1);
    lua_settop(L, 0);
    a->rc = a->fn(L, a->ud);
    return 0;
}

int ef_envgen__protect(ef_env *env, ef_envgen_fn fn, void *ud)
{
    lua_State *L = env->L;
    protect_args a = {fn, ud, 0};
    ef_envgen__vm_reset_budget(env);
    lua_settop(L, 0);
    lua_pushcfunction(L, trampoline);
    lua_pushlightuserdata(L, &a);
    if (env->fast_active) {
        env->call_seq++;
        env->in_call = 1;
    }
    int st = lua_pcall(L, 1, 0, 0);
    env->in_call = 0;
    if (st != LUA_OK) {
        int rc = fail_message(env, st, env->path);
        lua_settop(L, 0);
        return rc;
    }
    lua_settop(L, 0);
    return a.rc;
}

/* ---- fast mode -------------------------------------------------------------------------- */

_Static_assert(sizeof(timer_t) == sizeof(void *), "timer_t is kept as a pointer in ef_env");

#define FAST_MIN_BUDGET 100000000ULL
#define TICK_NS 20000000L

static _Thread_local ef_env *tl_fast_env; /* the env this thread runs in fast mode */
static int tick_signo;
static pthread_once_t tick_once = PTHREAD_ONCE_INIT;

static void abort_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    ef_env *env = ef_envgen__env(L);
    env->fast_aborted = 1;
    lua_pushliteral(L, "envgen: a long call in fast mode (the candidate is redone with the "
                       "instruction budget)");
    lua_error(L);
}

/* On the worker thread, every 20 ms of its CPU time. Only sets a hook (as lua.c does from
 * its SIGINT handler); the hook raises at the call's next Lua instruction. */
static void tick_handler(int sig)
{
    (void)sig;
    ef_env *env = tl_fast_env;
    if (!env || !env->fast_active || !env->in_call)
        return;
    if (env->seen_seq == env->call_seq) {
        env->aborting = 1;
        lua_sethook(env->L, abort_hook, LUA_MASKCOUNT, 1);
    } else {
        env->seen_seq = env->call_seq;
    }
}

static void tick_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tick_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    int signo = SIGRTMIN + 6;
    if (signo <= SIGRTMAX && sigaction(signo, &sa, NULL) == 0)
        tick_signo = signo;
}

void ef_envgen__fast_free(ef_env *env)
{
    if (env->has_timer)
        timer_delete((timer_t)env->timer);
    env->has_timer = 0;
    if (tl_fast_env == env)
        tl_fast_env = NULL;
}

static void timer_arm(ef_env *env, long ns)
{
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = ns;
    its.it_interval.tv_nsec = ns;
    timer_settime((timer_t)env->timer, 0, &its, NULL);
}

int ef_envgen__fast(ef_env *env, int on)
{
    if (!on) {
        env->fast_active = 0;
        lua_sethook(env->L, count_hook, LUA_MASKCOUNT, hook_step(env));
        env->aborting = 0;
        env->fast_aborted = 0;
        env->mem_hit_any = 0;
        if (env->fast_disabled && env->has_timer)
            timer_arm(env, 0); /* exact for good: no more ticks on this thread */
        return 0;
    }
    if (env->fast_disabled || env->limits.instr_limit < FAST_MIN_BUDGET)
        return EF_ELIMIT;
    pthread_once(&tick_once, tick_install);
    if (!tick_signo)
        return EF_ERROR;
    if (!env->has_timer) {
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = tick_signo;
        sev._sigev_un._tid = gettid(); /* sigev_notify_thread_id: this glibc has no macro for it */
        timer_t t;
        if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) != 0) {
            env->fast_disabled = 1;
            return EF_ERROR;
        }
        env->timer = (void *)t;
        env->has_timer = 1;
        timer_arm(env, TICK_NS);
    }
    tl_fast_env = env;
    env->aborting = 0;
    env->fast_aborted = 0;
    env->mem_hit_any = 0;
    env->seen_seq = -1;
    lua_sethook(env->L, NULL, 0, 0);
    env->fast_active = 1;
    return 0;
}

void ef_envgen__fast_forbid(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    env->fast_disabled = 1;
    if (!env->fast_active) {
        if (env->has_timer)
            timer_arm(env, 0); /* no ticks during the sandbox call */
        return;
    }
    env->fast_active = 0;
    env->fast_aborted = 1;
    /* every instruction raises from here on, so no pcall in the env can keep it going */
    lua_sethook(L, abort_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "envgen: sandbox or search call in fast mode (the candidate is redone with "
                  "the instruction budget)");
}

/* ---- the restricted library set ---------------------------------------------------- */

/* load(chunk [, chunkname [, mode [, env]]]) for text chunks only. */
static int safe_load(lua_State *L)
{
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    if (!s || lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load: only string chunks are allowed here");
    const char *name = luaL_optstring(L, 2, "=(load)");
    const char *mode = luaL_optstring(L, 3, "t");
    if (!strchr(mode, 't'))
        return luaL_error(L, "load: binary chunks are not allowed (mode must be \"t\")");
    int has_env = !lua_isnone(L, 4);
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env) {
        lua_pushvalue(L, 4);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

static int safe_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") == 0) {
        lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                              (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    if (strcmp(opt, "collect") == 0 || strcmp(opt, "step") == 0) {
        lua_gc(L, strcmp(opt, "collect") == 0 ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
        lua_pushinteger(L, 0);
        return 1;
    }
    return luaL_error(L, "collectgarbage('%s') is not available in envs", opt);
}

/* print(...) goes to stderr, prefixed with the env file. */
static int safe_print(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_addvalue(&b);
        (void)s;
    }
    luaL_pushresult(&b);
    fprintf(stderr, "[%s] %s\n", env->path, lua_tostring(L, -1));
    return 0;
}

static int global_newindex(lua_State *L)
{
    const char *k = lua_tostring(L, 2);
    return luaL_error(L,
                      "assignment to undeclared global '%s' (use local; env code must not keep "
                      "state between tasks)",
                      k ? k : "?");
}

/* A new key in a library table after load (ef.count = ..., string.cache = ...) is state
 * kept between tasks just like a new global, and escaped the globals' check. */
static int library_newindex(lua_State *L)
{
    const char *lib = lua_tostring(L, lua_upvalueindex(1));
    const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : luaL_typename(L, 2);
    return luaL_error(L,
                      "assignment to new field '%s' of the library table '%s' (use a local; env "
                      "code must not keep state between tasks)",
                      k, lib ? lib : "?");
}

static void freeze_library(lua_State *L, int t, const char *name)
{
    if (lua_getmetatable(L, t)) { /* one with a metatable of its own is left as it is */
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    lua_pushstring(L, name);
    lua_pushcclosure(L, library_newindex, 1);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, t);
}

/* pairs() in a fixed order: Lua 5.4 seeds its string hashes from the clock and
 * addresses, so next() visits keys in a different order in every state. Iteration here
 * is over a sorted snapshot of the keys (numbers, then strings, then booleans), which
 * keeps generate deterministic even when it draws random numbers inside such a loop. */
static const char prelude[] =
    "local next, type, tsort, getmetatable = next, type, table.sort, getmetatable\n"
    "local rank = {number = 1, string = 2, boolean = 3}\n"
    "local function before(a, b)\n"
    "  local ta, tb = type(a), type(b)\n"
    "  if ta ~= tb then return (rank[ta] or 4) < (rank[tb] or 4) end\n"
    "  if ta == 'number' or ta == 'string' then return a < b end\n"
    "  if ta == 'boolean' then return b and not a end\n"
    "  return false\n"
    "end\n"
    "function pairs(t)\n"
    "  local mt = getmetatable(t)\n"
    "  if mt and mt.__pairs then return mt.__pairs(t) end\n"
    "  if type(t) ~= 'table' then error('bad argument #1 to \\'pairs\\' (table expected, got ' .. type(t) .. ')', 2) end\n"
    "  local keys, n = {}, 0\n"
    "  for k in next, t do n = n + 1; keys[n] = k end\n"
    "  if n > 1 then tsort(keys, before) end\n"
    "  local i = 0\n"
    "  return function()\n"
    "    while true do\n"
    "      i = i + 1\n"
    "      local k = keys[i]\n"
    "      if k == nil then return nil end\n"
    "      local v = t[k]\n"
    "      if v ~= nil then return k, v end\n"
    "    end\n"
    "  end, t, nil\n"
    "end\n";

/* tostring() as the base library's, with integers formatted here: the same digits
 * ("%lld") without a trip through snprintf, which generators pay for every number they
 * put in a prompt. Numbers have no metatable here (no debug library), so no __tostring
 * can apply to them; everything else goes to luaL_tolstring. */
static int fast_tostring(lua_State *L)
{
    luaL_checkany(L, 1);
    if (lua_isinteger(L, 1)) {
        lua_Integer v = lua_tointeger(L, 1);
        char buf[24], *p = buf + sizeof buf;
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        do
            *--p = (char)('0' + u % 10);
        while ((u /= 10) != 0);
        if (v < 0)
            *--p = '-';
        lua_pushlstring(L, p, (size_t)(buf + sizeof buf - p));
        return 1;
    }
    luaL_tolstring(L, 1, NULL);
    return 1;
}

static int open_libs(lua_State *L)
{
    const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
                             {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                             {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine},
                             {NULL, NULL}};
    for (const luaL_Reg *l = libs; l->func; l++) {
        luaL_requiref(L, l->name, l->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    const char *drop[] = {"dofile", "loadfile", "require", "module"};
    for (size_t i = 0; i < EF_ARRAY_LEN(drop); i++) {
        lua_pushnil(L);
        lua_setfield(L, -2, drop[i]);
    }
    lua_pushcfunction(L, safe_load);
    lua_setfield(L, -2, "load");
    lua_pushcfunction(L, safe_collectgarbage);
    lua_setfield(L, -2, "collectgarbage");
    lua_pushcfunction(L, safe_print);
    lua_setfield(L, -2, "print");
    lua_pushcfunction(L, fast_tostring);
    lua_setfield(L, -2, "tostring");
    lua_getfield(L, -1, "string");
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_pop(L, 1);
    lua_getfield(L, -1, "math");
    lua_pushnil(L);
    lua_setfield(L, -2, "random");
    lua_pushnil(L);
    lua_setfield(L, -2, "randomseed");
    lua_pop(L, 1);
    ef_envgen__open_json(L);
    lua_setfield(L, -2, "json");
    ef_envgen__open_ef(L);
    lua_setfield(L, -2, "ef");
    ef_envgen__open_rng(L);
    lua_pop(L, 1); /* global table */
    if (luaL_loadbufferx(L, prelude, sizeof prelude - 1, "=envgen", "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 0);
    return 0;
}

static int open_libs_fn(lua_State *L, void *ud)
{
    (void)ud;
    return open_libs(L);
}

/* Makes new globals an error from now on (called after the env file ran). */
int ef_envgen__freeze_globals(lua_State *L)
{
    static const char *const libs[] = {"string", "table", "math", "utf8", "coroutine", "json", "ef"};
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    for (size_t i = 0; i < EF_ARRAY_LEN(libs); i++) {
        if (lua_getfield(L, g, libs[i]) == LUA_TTABLE) {
            int t = lua_gettop(L);
            freeze_library(L, t, libs[i]);
            if (strcmp(libs[i], "ef") == 0 && lua_getfield(L, t, "verify") == LUA_TTABLE)
                freeze_library(L, lua_gettop(L), "ef.verify");
        }
        lua_settop(L, g);
    }
    lua_newtable(L);
    lua_pushcfunction(L, global_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
    return 0;
}

int ef_envgen__vm_new(ef_env *env)
{
    env->mem_used = 0;
    env->L = lua_newstate(env_alloc, env);
    if (!env->L)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: cannot create a Lua state (memory cap %zu MiB)",
                         env->path, env->limits.mem_limit_bytes >> 20);
    lua_sethook(env->L, count_hook, LUA_MASKCOUNT, hook_step(env));
    /* generational collection: most objects (decoded tasks, copies, the strings of one
     * call) die young, and minor collections touch only those */
    lua_gc(env->L, LUA_GCGEN, 0, 0);
    return ef_envgen__protect(env, open_libs_fn, NULL);
}
