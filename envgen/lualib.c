/*
 * envgen/lualib.c — the modules an env sees besides the Lua standard library: json
 * (encode, decode, null, array, object), the rng object handed to generate (backed by
 * common/rng.h, so streams are identical on every machine), and ef (exec through the
 * sandbox, search over an FTS5 index, verify.* backed by verifiers/).
 */
#include <math.h>
#include <string.h>
#include "common/hash.h"
#include "common/json.h"
#include "common/rng.h"
#include "envgen/envgen_int.h"
#include "verifiers/verifiers.h"


/* ---- json ------------------------------------------------------------------------ */

static int l_json_encode(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    luaL_checkany(L, 1);
    char err[512];
    ef_buf b = EF_BUF_INIT(env->limits.max_json_bytes);
    /* the buffer is C heap: copy the text into Lua before anything can raise */
    int rc = ef_envgen__encode(env, 1, NULL, &b, "json.encode: value", err, sizeof err);
    if (rc < 0) {
        ef_buf_free(&b);
        lua_pushstring(L, err);
        return lua_error(L);
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len); /* may raise: b leaks only on OOM */
    ef_buf_free(&b);
    return 1;
}

static int l_json_decode(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    char err[256];
    if (ef_envgen__decode(env, s, n, err, sizeof err) < 0)
        return luaL_error(L, "json.decode: %s", err);
    return 1;
}

static int mark(lua_State *L, int array)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    if (array)
        ef_envgen__push_array_mt(L);
    else
        ef_envgen__push_object_mt(L);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_json_array(lua_State *L)
{
    return mark(L, 1);
}

static int l_json_object(lua_State *L)
{
    return mark(L, 0);
}

int ef_envgen__open_json(lua_State *L)
{
    ef_envgen__json_registry_init(L);
    const luaL_Reg fns[] = {{"encode", l_json_encode}, {"decode", l_json_decode},
                            {"array", l_json_array},   {"object", l_json_object},
                            {NULL, NULL}};
    luaL_newlib(L, fns);
    ef_envgen__push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}

/* ---- rng --------------------------------------------------------------------------- */

#define RNG_MT "envforge.rng"

/* The methods carry the rng metatable as their upvalue: comparing with it is cheaper
 * than luaL_checkudata's registry lookup by name, on every draw. */
static ef_rng *check_rng(lua_State *L)
{
    ef_rng *r = lua_touserdata(L, 1);
    if (r && lua_getmetatable(L, 1)) {
        int ok = lua_rawequal(L, -1, lua_upvalueindex(1));
        lua_pop(L, 1);
        if (ok)
            return r;
    }
    return luaL_checkudata(L, 1, RNG_MT); /* raises the usual message */
}

void ef_envgen__push_rng(lua_State *L, uint64_t seed)
{
    ef_rng *r = lua_newuserdatauv(L, sizeof *r, 0);
    ef_rng_seed(r, seed);
    luaL_setmetatable(L, RNG_MT);
}

static int l_rng_int(lua_State *L)
{
    ef_rng *r = check_rng(L);
    lua_Integer lo = luaL_checkinteger(L, 2), hi = luaL_checkinteger(L, 3);
    if (lo > hi)
        return luaL_error(L, "rng:int(%I, %I): lo is greater than hi", lo, hi);
    lua_pushinteger(L, (lua_Integer)ef_rng_range(r, lo, hi));
    return 1;
}

static int l_rng_float(lua_State *L)
{
    lua_pushnumber(L, ef_rng_double(check_rng(L)));
    return 1;
}

static int l_rng_normal(lua_State *L)
{
    ef_rng *r = check_rng(L);
    double mu = luaL_optnumber(L, 2, 0.0), sigma = luaL_optnumber(L, 3, 1.0);
    lua_pushnumber(L, mu + sigma * ef_rng_normal(r));
    return 1;
}

static int l_rng_bool(lua_State *L)
{
    ef_rng *r = check_rng(L);
    double p = luaL_optnumber(L, 2, 0.5);
    lua_pushboolean(L, ef_rng_double(r) < p);
    return 1;
}

static int l_rng_choice(lua_State *L)
{
    ef_rng *r = check_rng(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    if (n <= 0)
        return luaL_error(L, "rng:choice: the list is empty");
    lua_rawgeti(L, 2, 1 + (lua_Integer)ef_rng_below(r, (uint64_t)n));
    return 1;
}

static int l_rng_shuffle(lua_State *L)
{
    ef_rng *r = check_rng(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    for (lua_Integer i = n; i >= 2; i--) {
        lua_Integer j = 1 + (lua_Integer)ef_rng_below(r, (uint64_t)i);
        lua_rawgeti(L, 2, i);
        lua_rawgeti(L, 2, j);
        lua_rawseti(L, 2, i);
        lua_rawseti(L, 2, j);
    }
    lua_settop(L, 2);
    return 1;
}

/* Lists up to this long are sampled without a Lua working copy. */
#define SAMPLE_SMALL 256

static int l_rng_sample(lua_State *L)
{
    ef_rng *r = check_rng(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    lua_Integer k = luaL_checkinteger(L, 3);
    if (k < 0 || k > n)
        return luaL_error(L, "rng:sample: k = %I but the list has %I elements", k, n);
    if (n <= SAMPLE_SMALL) {
        /* a partial shuffle of the positions on the C stack (the same draws as below),
         * then the picked items read once: no working copy of the list */
        lua_Integer pos[SAMPLE_SMALL];
        for (lua_Integer i = 0; i < n; i++)
            pos[i] = i + 1;
        lua_createtable(L, (int)k, 0);
        for (lua_Integer i = 1; i <= k; i++) {
            lua_Integer j = i + (lua_Integer)ef_rng_below(r, (uint64_t)(n - i + 1));
            lua_Integer t = pos[j - 1];
            pos[j - 1] = pos[i - 1];
            pos[i - 1] = t;
            lua_rawgeti(L, 2, t);
            lua_rawseti(L, -2, i);
        }
        return 1;
    }
    lua_createtable(L, (int)n, 0); /* working copy */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        lua_rawseti(L, -2, i);
    }
    lua_createtable(L, (int)k, 0);
    for (lua_Integer i = 1; i <= k; i++) {
        lua_Integer j = i + (lua_Integer)ef_rng_below(r, (uint64_t)(n - i + 1));
        lua_rawgeti(L, -2, j);
        lua_rawgeti(L, -3, i);
        lua_rawseti(L, -4, j);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, i);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

int ef_envgen__open_rng(lua_State *L)
{
    const luaL_Reg m[] = {{"int", l_rng_int},         {"float", l_rng_float},
                          {"normal", l_rng_normal},   {"bool", l_rng_bool},
                          {"choice", l_rng_choice},   {"shuffle", l_rng_shuffle},
                          {"sample", l_rng_sample},   {NULL, NULL}};
    luaL_newmetatable(L, RNG_MT);
    luaL_newlibtable(L, m);
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, m, 1);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "rng");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    return 0;
}

/* ---- ef.verify ---------------------------------------------------------------------- */

/* The text form of an answer: strings as is, numbers formatted exactly, nil as "",
 * anything else as its JSON. Pushes the string and returns it. `fname` and `role`
 * ("answer", "expected") name the argument in messages. An answer that is NaN or an
 * infinity is text no verifier accepts (it scores 0); an expected value that is nil or
 * not finite is the env's bug (task.answer missing, a 0/0) and raises. */
static const char *answer_text(lua_State *L, int idx, const char *fname, const char *role)
{
    idx = lua_absindex(L, idx);
    int expected = role[0] == 'e';
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        return lua_tostring(L, -1);
    }
    if (lua_isnoneornil(L, idx) || ef_envgen__is_null(L, idx)) {
        if (expected)
            luaL_error(L, "%s: the expected value is %s (a missing task field such as "
                       "task.answer?)", fname, lua_isnoneornil(L, idx) ? "nil" : "json.null");
        lua_pushliteral(L, "");
        return lua_tostring(L, -1);
    }
    if (lua_type(L, idx) == LUA_TNUMBER && !lua_isinteger(L, idx)) {
        double d = lua_tonumber(L, idx);
        if (d != d || d - d != 0) {
            if (expected)
                luaL_error(L, "%s: the expected value is %s, not a number one can answer",
                           fname, d != d ? "NaN" : "an infinity");
            lua_pushstring(L, d != d ? "nan" : d > 0 ? "inf" : "-inf");
            return lua_tostring(L, -1);
        }
    }
    ef_env *env = ef_envgen__env(L);
    char err[512], what[96];
    snprintf(what, sizeof what, "%s: %s", fname, role);
    ef_buf b = EF_BUF_INIT(env->limits.max_json_bytes);
    if (ef_envgen__encode(env, idx, NULL, &b, what, err, sizeof err) < 0) {
        ef_buf_free(&b);
        luaL_error(L, "%s", err);
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    ef_buf_free(&b);
    return lua_tostring(L, -1);
}

static double opt_num(lua_State *L, int tbl, const char *k, double def)
{
    if (lua_type(L, tbl) != LUA_TTABLE)
        return def;
    lua_getfield(L, tbl, k);
    double v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The option names of ef.verify's functions, kept as upvalues of each (in this order):
 * looking a key up by a string already made costs less than lua_getfield's making it from
 * the C text on every call (verify runs five times per candidate). Same lookups: both go
 * through the table's metamethods. */
enum { UP_CASE = 1, UP_WS, UP_RTOL, UP_ATOL, UP_EXTRACT, UP_SUBSET, N_OPT_NAMES = UP_SUBSET };
static const char *const opt_names[N_OPT_NAMES] = {"case", "ws", "rtol", "atol", "extract", "subset"};

static int opt_bool_up(lua_State *L, int tbl, int up, int def)
{
    if (lua_type(L, tbl) != LUA_TTABLE)
        return def;
    lua_pushvalue(L, lua_upvalueindex(up));
    int v = lua_gettable(L, tbl) == LUA_TNIL ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static double opt_num_up(lua_State *L, int tbl, int up, double def)
{
    if (lua_type(L, tbl) != LUA_TTABLE)
        return def;
    lua_pushvalue(L, lua_upvalueindex(up));
    double v = lua_gettable(L, tbl) == LUA_TNIL ? def : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The options argument at idx: nil, or a table whose keys are all among names[0..n).
 * A typo ({rtoll = 0}) or a bare value (ef.verify.numeric(a, e, 0.1)) would otherwise be
 * ignored silently and the default used. */
static void check_options(lua_State *L, int idx, const char *fname, const char *const *names,
                          size_t n)
{
    if (lua_isnoneornil(L, idx))
        return;
    char list[128] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", names[i]);
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: the options must be a table {%s = ...}, got %s (options: %s)", fname,
                   names[0], luaL_typename(L, idx), list);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1); /* the key is on top */
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = 0;
        for (size_t i = 0; k && i < n; i++)
            known |= strcmp(k, names[i]) == 0;
        if (known)
            continue;
        const char *sug = k ? ef_envgen__suggest(k, names, n) : NULL;
        char key[72];
        snprintf(key, sizeof key, "%.64s", k ? k : luaL_typename(L, -1));
        if (sug)
            luaL_error(L, "%s: unknown option '%s' (did you mean '%s'?)", fname, key, sug);
        luaL_error(L, "%s: unknown option '%s' (options: %s)", fname, key, list);
    }
}

static const char *const exact_opts[] = {"case", "ws"};
static const char *const numeric_opts[] = {"rtol", "atol", "extract"};
static const char *const regex_opts[] = {"case"};
static const char *const json_opts[] = {"subset", "extract"};

static int verifier_error(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    return luaL_error(L, "%s", ef_errmsg(env->ctx));
}

static int l_verify_exact(lua_State *L)
{
    lua_settop(L, 3); /* fixed slots: pushes below must not look like arguments */
    ef_env *env = ef_envgen__env(L);
    check_options(L, 3, "ef.verify.exact", exact_opts, EF_ARRAY_LEN(exact_opts));
    const char *a = answer_text(L, 1, "ef.verify.exact", "answer");
    const char *e = answer_text(L, 2, "ef.verify.exact", "expected");
    ef_verify_exact_options o = EF_VERIFY_EXACT_OPTIONS_INIT;
    o.case_sensitive = opt_bool_up(L, 3, UP_CASE, 0);
    o.normalize_ws = opt_bool_up(L, 3, UP_WS, 1);
    double r;
    if (ef_verify_exact(env->ctx, a, e, &o, &r) < 0)
        return verifier_error(L);
    lua_pushnumber(L, r);
    return 1;
}

static int l_verify_numeric(lua_State *L)
{
    lua_settop(L, 3); /* fixed slots: pushes below must not look like arguments */
    ef_env *env = ef_envgen__env(L);
    check_options(L, 3, "ef.verify.numeric", numeric_opts, EF_ARRAY_LEN(numeric_opts));
    const char *a = answer_text(L, 1, "ef.verify.numeric", "answer");
    const char *e = answer_text(L, 2, "ef.verify.numeric", "expected");
    ef_verify_numeric_options o = EF_VERIFY_NUMERIC_OPTIONS_INIT;
    o.rtol = opt_num_up(L, 3, UP_RTOL, o.rtol);
    o.atol = opt_num_up(L, 3, UP_ATOL, o.atol);
    o.extract = opt_bool_up(L, 3, UP_EXTRACT, 0);
    double r;
    if (ef_verify_numeric(env->ctx, a, e, &o, &r) < 0)
        return verifier_error(L);
    lua_pushnumber(L, r);
    return 1;
}

static int l_verify_regex(lua_State *L)
{
    lua_settop(L, 3); /* fixed slots: pushes below must not look like arguments */
    ef_env *env = ef_envgen__env(L);
    check_options(L, 3, "ef.verify.regex", regex_opts, EF_ARRAY_LEN(regex_opts));
    const char *a = answer_text(L, 1, "ef.verify.regex", "answer");
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "ef.verify.regex: the pattern must be a string, got %s",
                          luaL_typename(L, 2));
    const char *pat = lua_tostring(L, 2);
    double r;
    if (ef_verify_regex(env->ctx, a, pat, opt_bool_up(L, 3, UP_CASE, 1), &r) < 0)
        return verifier_error(L);
    lua_pushnumber(L, r);
    return 1;
}

/* JSON text of the value at idx (strings count as JSON values, not text). */
static const char *json_of(lua_State *L, int idx, const char *what)
{
    ef_env *env = ef_envgen__env(L);
    char err[512];
    ef_buf b = EF_BUF_INIT(env->limits.max_json_bytes);
    if (ef_envgen__encode(env, idx, NULL, &b, what, err, sizeof err) < 0) {
        ef_buf_free(&b);
        luaL_error(L, "%s", err);
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    ef_buf_free(&b);
    return lua_tostring(L, -1);
}

static int l_verify_json(lua_State *L)
{
    lua_settop(L, 4); /* fixed slots: pushes below must not look like arguments */
    ef_env *env = ef_envgen__env(L);
    check_options(L, 4, "ef.verify.json", json_opts, EF_ARRAY_LEN(json_opts));
    const char *a = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1)
                    : lua_isnoneornil(L, 1)      ? ""
                                                 : json_of(L, 1, "ef.verify.json: answer");
    const char *e = lua_isnoneornil(L, 2) ? NULL : json_of(L, 2, "ef.verify.json: expected");
    const char *s = NULL;
    if (lua_type(L, 3) == LUA_TSTRING)
        s = lua_tostring(L, 3);
    else if (lua_type(L, 3) == LUA_TTABLE)
        s = json_of(L, 3, "ef.verify.json: schema");
    else if (!lua_isnoneornil(L, 3))
        return luaL_error(L, "ef.verify.json: the schema must be a table or JSON text (or nil), "
                          "got %s", luaL_typename(L, 3));
    ef_verify_json_options o = EF_VERIFY_JSON_OPTIONS_INIT;
    o.subset = opt_bool_up(L, 4, UP_SUBSET, 0);
    o.extract = opt_bool_up(L, 4, UP_EXTRACT, 0);
    double r;
    if (ef_verify_json(env->ctx, a, e, s, &o, &r) < 0)
        return verifier_error(L);
    lua_pushnumber(L, r);
    return 1;
}

static int l_verify_state_hash(lua_State *L)
{
    const char *txt = json_of(L, 1, "ef.verify.state_hash: state");
    char hex[EF_SHA256_HEX_LEN + 1];
    ef_sha256_hex(txt, strlen(txt), hex);
    lua_pushstring(L, hex);
    return 1;
}

/* Reads spec.files ({name = content}) into parallel arrays kept alive on the stack. */
static size_t read_files(lua_State *L, int spec, const char ***names, const char ***contents)
{
    lua_getfield(L, spec, "files");
    int ft = lua_gettop(L);
    size_t n = 0;
    if (lua_type(L, ft) == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, ft)) {
            n++;
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, ft)) {
        luaL_error(L, "files must be a table {name = content}");
    }
    *names = lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);
    *contents = lua_newuserdatauv(L, (n + 1) * sizeof(char *), 0);
    size_t i = 0;
    if (n) {
        lua_pushnil(L);
        while (lua_next(L, ft)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "files: names and contents must be strings");
            (*names)[i] = lua_tostring(L, -2);
            (*contents)[i] = lua_tostring(L, -1);
            i++;
            lua_pop(L, 1);
        }
    }
    return n;
}

static void exec_options(lua_State *L, ef_env *env, ef_verify_unit_options *o, int need_argv);

static int l_verify_unit_tests(lua_State *L)
{
    ef_envgen__fast_forbid(L);
    ef_env *env = ef_envgen__env(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    ef_verify_unit_options o = EF_VERIFY_UNIT_OPTIONS_INIT;
    exec_options(L, env, &o, 0);
    double r;
    ef_unit_counts c;
    const char *status;
    if (ef_verify_unit_tests(env->ctx, &o, &r, &c, &status) < 0)
        return luaL_error(L, "ef.verify.unit_tests: %s", ef_errmsg(env->ctx));
    lua_pushnumber(L, r);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, c.passed);
    lua_setfield(L, -2, "passed");
    lua_pushinteger(L, c.failed + c.errors);
    lua_setfield(L, -2, "failed");
    lua_pushstring(L, status);
    lua_setfield(L, -2, "status");
    return 2;
}

/* ---- ef.exec -------------------------------------------------------------------------- */

/* Reads spec.argv (a list of strings) into a NULL-terminated array kept on the stack. */
static const char **read_argv(lua_State *L, int spec)
{
    lua_getfield(L, spec, "argv");
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_error(L, "argv must be a list of strings");
    int t = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, t);
    if (n < 1 || n > 256)
        luaL_error(L, "argv must hold 1..256 strings");
    const char **argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof(char *), 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "argv[%I] must be a string", i);
        argv[i - 1] = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays referenced by the argv table */
    }
    argv[n] = NULL;
    return argv;
}

static const char *const exec_keys[] = {"argv", "files", "stdin", "wall_ms", "mem_mb"};

static void exec_options(lua_State *L, ef_env *env, ef_verify_unit_options *o, int need_argv)
{
    const char **names, **contents;
    /* a misspelt key ({timeout_ms = ...}, {file = ...}) would leave its default silently */
    check_options(L, 1, need_argv ? "ef.exec" : "ef.verify.unit_tests", exec_keys,
                  EF_ARRAY_LEN(exec_keys));
    lua_getfield(L, 1, "argv");
    int has_argv = !lua_isnil(L, -1);
    lua_pop(L, 1);
    o->argv = (need_argv || has_argv) ? read_argv(L, 1) : NULL;
    o->n_files = read_files(L, 1, &names, &contents);
    o->file_names = names;
    o->file_contents = contents;
    o->wall_ms = (int64_t)opt_num(L, 1, "wall_ms", 10000);
    o->mem_mb = (int64_t)opt_num(L, 1, "mem_mb", 512);
    if (o->wall_ms < 1 || o->wall_ms > 600000)
        luaL_error(L, "wall_ms must be in 1..600000");
    if (o->mem_mb < 16 || o->mem_mb > 65536)
        luaL_error(L, "mem_mb must be in 16..65536");
    lua_getfield(L, 1, "stdin");
    if (lua_type(L, -1) == LUA_TSTRING)
        o->stdin_data = lua_tolstring(L, -1, &o->stdin_len);
    else if (!lua_isnil(L, -1))
        luaL_error(L, "%s: stdin must be a string, got %s", need_argv ? "ef.exec" : "ef.verify.unit_tests",
                   luaL_typename(L, -1));
    o->worker = ef_envgen__sandbox(env);
    if (!o->worker)
        luaL_error(L, "sandbox not available: %s", ef_errmsg(env->ctx));
}

static int l_exec(lua_State *L)
{
    ef_envgen__fast_forbid(L);
    ef_env *env = ef_envgen__env(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    ef_verify_unit_options o = EF_VERIFY_UNIT_OPTIONS_INIT;
    exec_options(L, env, &o, 1);
    ef_sandbox_result *res = NULL;
    if (ef_verify_exec(env->ctx, &o, &res) < 0)
        return luaL_error(L, "ef.exec: %s", ef_errmsg(env->ctx));
    /* copy into Lua; on a memory error here the result leaks (bounded by its caps) */
    lua_createtable(L, 0, 6);
    lua_pushstring(L, ef_sandbox_status_name(res->status));
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, res->exit_code);
    lua_setfield(L, -2, "exit_code");
    lua_pushlstring(L, res->out.data, res->out.len);
    lua_setfield(L, -2, "stdout");
    lua_pushlstring(L, res->err.data, res->err.len);
    lua_setfield(L, -2, "stderr");
    lua_pushinteger(L, (lua_Integer)res->wall_ms);
    lua_setfield(L, -2, "wall_ms");
    lua_pushstring(L, res->detail);
    lua_setfield(L, -2, "detail");
    ef_sandbox_result_free(res);
    return 1;
}

int ef_envgen__open_ef(lua_State *L)
{
    const luaL_Reg fns[] = {{"exec", l_exec}, {"search", ef_envgen__search}, {NULL, NULL}};
    const luaL_Reg ver[] = {{"exact", l_verify_exact},
                            {"numeric", l_verify_numeric},
                            {"regex", l_verify_regex},
                            {"json", l_verify_json},
                            {"state_hash", l_verify_state_hash},
                            {"unit_tests", l_verify_unit_tests},
                            {NULL, NULL}};
    luaL_newlib(L, fns);
    luaL_newlibtable(L, ver);
    for (int i = 0; i < N_OPT_NAMES; i++)
        lua_pushstring(L, opt_names[i]);
    luaL_setfuncs(L, ver, N_OPT_NAMES);
    lua_setfield(L, -2, "verify");
    lua_pushliteral(L, EF_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
