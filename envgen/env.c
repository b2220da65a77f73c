/*
 * envgen/env.c — loading an env: reads the file, hashes it, runs it in a fresh sandboxed
 * lua_State (text chunks only), and checks the returned table field by field (name,
 * version, category, description, levels, tools with JSON Schema parameters and run
 * functions, generate, solve, verify). Errors carry "file:line"; for table fields the
 * line is found in the source text (where the field is written).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/hash.h"
#include "common/json.h"
#include "envgen/envgen_int.h"
#include "sandbox/sandbox.h"
#include "verifiers/verifiers.h"


#define MAX_SOURCE_BYTES ((size_t)16 << 20)

int ef_envgen_available(void)
{
    return 1;
}

const char *ef_envgen_missing(void)
{
    return "";
}

static int ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* 1 when line text writes key: `key =`, `["key"] =`, `function x.key`, `function x:key`. */
static int line_has_key(const char *s, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl <= n; i++) {
        if (memcmp(s + i, key, kl) != 0)
            continue;
        char before = i ? s[i - 1] : ' ';
        char after = i + kl < n ? s[i + kl] : ' ';
        if (ident_char(after))
            continue;
        if (before == '"' || before == '\'') {
            if (i >= 2 && s[i - 2] == '[')
                return 1;
            continue;
        }
        if (ident_char(before))
            continue;
        if (before == '.' || before == ':') {
            /* function env.key / function M:key */
            size_t j = i - 1;
            while (j > 0 && ident_char(s[j - 1]))
                j--;
            while (j > 0 && s[j - 1] == ' ')
                j--;
            if (j >= 8 && memcmp(s + j - 8, "function", 8) == 0)
                return 1;
        }
        size_t j = i + kl;
        while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
        if (j < n && s[j] == '=' && (j + 1 >= n || s[j + 1] != '='))
            return 1;
    }
    return 0;
}

int ef_envgen__find_line(const char *source, const char *key, int from_line)
{
    int line = 1;
    const char *p = source;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (line >= from_line && line_has_key(p, n, key))
            return line;
        if (!e)
            break;
        p = e + 1;
        line++;
    }
    return 0;
}

/* The line of the file's last top-level `return`. */
static int return_line(const char *source)
{
    int line = 1, best = 0;
    const char *p = source;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (strncmp(p, "return", 6) == 0 && !ident_char(p[6]))
            best = line;
        if (!e)
            break;
        p = e + 1;
        line++;
    }
    return best;
}

/* "path:line" for a dotted field path such as tools.book.parameters.properties.date. */
static void field_where(ef_env *env, const char *field_path, char *buf, size_t cap)
{
    int line = 0, from = 1;
    char comp[128];
    const char *p = field_path;
    while (*p) {
        size_t n = strcspn(p, ".[");
        if (n && n < sizeof comp) {
            memcpy(comp, p, n);
            comp[n] = 0;
            int l = ef_envgen__find_line(env->source, comp, from);
            if (l) {
                line = l;
                from = l;
            }
        }
        p += n;
        while (*p == '.' || *p == '[' || *p == ']' || isdigit((unsigned char)*p))
            p++;
    }
    if (!line)
        line = return_line(env->source);
    if (line)
        snprintf(buf, cap, "%s:%d", env->path, line);
    else
        snprintf(buf, cap, "%s", env->path);
}

static int field_error(ef_env *env, const char *field_path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int field_error(ef_env *env, const char *field_path, const char *fmt, ...)
{
    char where[600], msg[1024];
    field_where(env, field_path, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ef_errorf(env->ctx, EF_EINVAL, "%s: %s", where, msg);
}

/* ---- the checks ---------------------------------------------------------------------- */

static int get_string(ef_env *env, int t, const char *k, int required, const char *def,
                      char **out)
{
    lua_State *L = env->L;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1) && !required) {
        lua_pop(L, 1);
        *out = ef_strdup(def);
        return *out ? 0 : EF_ENOMEM;
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
        const char *tn = luaL_typename(L, -1);
        lua_pop(L, 1);
        return field_error(env, k, "env.%s must be a string, got %s", k, tn);
    }
    *out = ef_strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return *out ? 0 : EF_ENOMEM;
}

static int get_int(ef_env *env, int t, const char *k, int64_t def, int64_t lo, int64_t hi,
                   int64_t *out)
{
    lua_State *L = env->L;
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        *out = def;
        return 0;
    }
    int ok = lua_isinteger(L, -1) ||
             (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == (double)(int64_t)lua_tonumber(L, -1));
    if (!ok) {
        const char *tn = luaL_typename(L, -1);
        lua_pop(L, 1);
        return field_error(env, k, "env.%s must be an integer, got %s", k, tn);
    }
    int64_t v = (int64_t)lua_tonumber(L, -1);
    if (lua_isinteger(L, -1))
        v = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (v < lo || v > hi)
        return field_error(env, k, "env.%s = %lld is out of range %lld..%lld", k, (long long)v,
                           (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

static int check_function(ef_env *env, int t, const char *k, const char *signature)
{
    lua_State *L = env->L;
    lua_getfield(L, t, k);
    int ty = lua_type(L, -1);
    lua_pop(L, 1);
    if (ty == LUA_TNIL) {
        /* a key written instead of it (verfy, generte) names the line to fix */
        const char *one[1] = {k};
        lua_pushnil(L);
        while (lua_next(L, t)) {
            lua_pop(L, 1); /* the key is on top */
            if (lua_type(L, -1) == LUA_TSTRING && ef_envgen__suggest(lua_tostring(L, -1), one, 1)) {
                char near[80];
                snprintf(near, sizeof near, "%.64s", lua_tostring(L, -1));
                lua_pop(L, 1);
                return field_error(env, near, "the env table has no '%s' (expected function %s); "
                                   "'%s' is written instead — a misspelling?", k, signature, near);
            }
        }
        return field_error(env, k, "the env table has no '%s' (expected function %s)", k,
                           signature);
    }
    if (ty != LUA_TFUNCTION)
        return field_error(env, k, "env.%s must be a function %s, got %s", k, signature,
                           lua_typename(L, ty));
    return 0;
}

/* Normalizes schema keywords whose empty Lua table must be an array. */
static void fix_empty_arrays(cJSON *s)
{
    if (!cJSON_IsObject(s))
        return;
    const char *arr_kw[] = {"required", "enum", "allOf", "anyOf", "oneOf", "examples"};
    for (size_t i = 0; i < EF_ARRAY_LEN(arr_kw); i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(s, arr_kw[i]);
        if (cJSON_IsObject(v) && !v->child)
            cJSON_ReplaceItemInObjectCaseSensitive(s, arr_kw[i], cJSON_CreateArray());
    }
    cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    cJSON *it;
    if (cJSON_IsObject(props))
        cJSON_ArrayForEach(it, props) fix_empty_arrays(it);
    fix_empty_arrays(cJSON_GetObjectItemCaseSensitive(s, "items"));
    fix_empty_arrays(cJSON_GetObjectItemCaseSensitive(s, "additionalProperties"));
    fix_empty_arrays(cJSON_GetObjectItemCaseSensitive(s, "not"));
    const char *lists[] = {"allOf", "anyOf", "oneOf"};
    for (size_t i = 0; i < 3; i++) {
        cJSON *l = cJSON_GetObjectItemCaseSensitive(s, lists[i]);
        if (cJSON_IsArray(l))
            cJSON_ArrayForEach(it, l) fix_empty_arrays(it);
    }
}

static int check_tool(ef_env *env, int tools, const char *name, cJSON *list)
{
    lua_State *L = env->L;
    int tool = lua_gettop(L);
    char fp[256];
    snprintf(fp, sizeof fp, "tools.%s", name);
    if (lua_type(L, tool) != LUA_TTABLE)
        return field_error(env, fp, "tools.%s must be a table {description, parameters, run}, got %s",
                           name, luaL_typename(L, tool));
    for (const char *c = name; *c; c++)
        if (!ident_char(*c) && *c != '-')
            return field_error(env, fp, "tool name '%s' may only hold letters, digits, _ and -",
                               name);
    lua_pushnil(L);
    while (lua_next(L, tool)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (!k || (strcmp(k, "description") && strcmp(k, "parameters") && strcmp(k, "run"))) {
            static const char *const tool_fields[] = {"description", "parameters", "run"};
            const char *sug = k ? ef_envgen__suggest(k, tool_fields, 3) : NULL;
            char key[80];
            snprintf(key, sizeof key, "%.64s", k ? k : "(non-string key)");
            lua_pop(L, 2);
            char kp[400];
            snprintf(kp, sizeof kp, "%s.%s", fp, key);
            if (sug)
                return field_error(env, kp, "tools.%s has an unknown field '%s' (did you mean '%s'?)",
                                   name, key, sug);
            return field_error(env, kp, "tools.%s has an unknown field '%s' (fields: description, parameters, run)",
                               name, key);
        }
        lua_pop(L, 1);
    }
    lua_getfield(L, tool, "description");
    if (lua_type(L, -1) != LUA_TSTRING) {
        snprintf(fp, sizeof fp, "tools.%s.description", name);
        return field_error(env, fp, "tools.%s.description must be a string, got %s", name,
                           luaL_typename(L, -1));
    }
    const char *desc = lua_tostring(L, -1);
    lua_getfield(L, tool, "run");
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        snprintf(fp, sizeof fp, "tools.%s.run", name);
        return field_error(env, fp, "tools.%s.run must be a function(state, args), got %s",
                           name, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    lua_getfield(L, tool, "parameters");
    snprintf(fp, sizeof fp, "tools.%s.parameters", name);
    if (lua_type(L, -1) != LUA_TTABLE)
        return field_error(env, fp, "tools.%s.parameters must be a JSON Schema table, got %s",
                           name, luaL_typename(L, -1));
    char err[512];
    ef_buf b = EF_BUF_INIT(1 << 20);
    int rc = ef_envgen__encode(env, -1, NULL, &b, fp, err, sizeof err);
    cJSON *schema = rc == 0 ? cJSON_Parse(b.data) : NULL;
    ef_buf_free(&b);
    if (rc < 0)
        return field_error(env, fp, "%s", err);
    if (!schema)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    fix_empty_arrays(schema);
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "object") != 0) {
        cJSON_Delete(schema);
        snprintf(fp, sizeof fp, "tools.%s.parameters.type", name);
        return field_error(env, fp, "tools.%s.parameters must have type = \"object\"", name);
    }
    if (ef_verify_schema_check(env->ctx, schema, fp) < 0) {
        char path_msg[1024];
        snprintf(path_msg, sizeof path_msg, "%s", ef_errmsg(env->ctx));
        cJSON_Delete(schema);
        /* the message starts with the schema path: locate its last field in the source */
        char where_path[512];
        size_t n = strcspn(path_msg, ": ");
        snprintf(where_path, sizeof where_path, "%.*s", (int)EF_MIN(n, sizeof where_path - 1),
                 path_msg);
        return field_error(env, where_path, "invalid JSON Schema: %s", path_msg);
    }
    /* {"type":"function","function":{name, description, parameters}}; on any failure
     * everything made here is freed (cJSON_Add* does not take the item when it fails) */
    cJSON *fn = cJSON_CreateObject(), *entry = cJSON_CreateObject();
    cJSON *dup = cJSON_Duplicate(schema, 1);
    int ok = fn && entry && dup && cJSON_AddStringToObject(fn, "name", name) &&
             cJSON_AddStringToObject(fn, "description", desc) &&
             cJSON_AddStringToObject(entry, "type", "function");
    if (ok && cJSON_AddItemToObject(fn, "parameters", dup))
        dup = NULL;
    else
        ok = 0;
    if (ok && cJSON_AddItemToObject(entry, "function", fn))
        fn = NULL;
    else
        ok = 0;
    if (ok && cJSON_AddItemToArray(list, entry))
        entry = NULL;
    else
        ok = 0;
    if (ok && cJSON_AddItemToObject(env->tool_schemas, name, schema))
        schema = NULL;
    else
        ok = 0;
    cJSON_Delete(fn);
    cJSON_Delete(entry);
    cJSON_Delete(dup);
    cJSON_Delete(schema);
    if (!ok)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    lua_pop(L, 2);
    (void)tools;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_tools(ef_env *env, int t)
{
    lua_State *L = env->L;
    lua_getfield(L, t, "tools");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        return field_error(env, "tools", "env.tools must be a table of tools, got %s",
                           luaL_typename(L, -1));
    int tools = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, tools)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            return field_error(env, "tools", "env.tools must be keyed by tool name (a list was given?)");
        }
        n++;
        lua_pop(L, 1);
    }
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof(char *), 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, tools)) {
        names[i++] = lua_tostring(L, -2);
        lua_pop(L, 1);
    }
    qsort(names, n, sizeof *names, cmp_str);
    /* both live on env: a Lua memory error between tools must not leak them */
    cJSON *list = env->tools_list = cJSON_CreateArray();
    env->tool_schemas = cJSON_CreateObject();
    if (!list || !env->tool_schemas)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    for (i = 0; i < n; i++) {
        lua_getfield(L, tools, names[i]);
        int rc = check_tool(env, tools, names[i], list);
        if (rc < 0)
            return rc;
        lua_settop(L, tools + 1);
    }
    env->tools_json = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    env->tools_list = NULL;
    if (!env->tools_json)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    lua_pop(L, 1); /* names */
    lua_pushvalue(L, tools);
    env->tools_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, tools - 1);
    return 0;
}

static int check_name(ef_env *env)
{
    size_t n = strlen(env->name);
    if (n == 0 || n > 64)
        return field_error(env, "name", "env.name must be 1 to 64 characters");
    for (const char *c = env->name; *c; c++)
        if (!ident_char(*c) && *c != '-' && *c != '.')
            return field_error(env, "name",
                               "env.name '%s' may only hold letters, digits, '_', '-' and '.'",
                               env->name);
    return 0;
}

/* Edit distance between short names (a transposition counts as one edit), capped. */
static int name_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 32 || lb > 32)
        return 99;
    int d[33][33];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            c = EF_MIN(c, d[i - 1][j] + 1);
            c = EF_MIN(c, d[i][j - 1] + 1);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                c = EF_MIN(c, d[i - 2][j - 2] + 1);
            d[i][j] = c;
        }
    return d[la][lb];
}

const char *ef_envgen__suggest(const char *name, const char *const *known, size_t n)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < n; i++) {
        int d = name_distance(name, known[i]);
        if (d < best_d) {
            best_d = d;
            best = known[i];
        }
    }
    /* one edit for short names, two for longer ones */
    if (best && best_d == 2 && strlen(name) < 6)
        best = NULL;
    return best;
}

static const char *const env_fields[] = {"name",  "version", "category", "description", "levels",
                                         "tools", "generate", "solve",   "verify"};

/* A misspelt field (levles, descripton, verfy) would otherwise be ignored, leaving its
 * default in place: every key of the env table must be one of env_fields. */
static int check_unknown_fields(ef_env *env, int t)
{
    lua_State *L = env->L;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1); /* the key is on top */
        if (lua_type(L, -1) != LUA_TSTRING) {
            const char *tn = luaL_typename(L, -1);
            lua_pop(L, 1);
            return field_error(env, "", "the env table has a key that is a %s, not a field name "
                               "(fields: name, version, category, description, levels, tools, "
                               "generate, solve, verify)", tn);
        }
        const char *k = lua_tostring(L, -1);
        int known = 0;
        for (size_t i = 0; i < EF_ARRAY_LEN(env_fields); i++)
            known |= strcmp(k, env_fields[i]) == 0;
        if (known)
            continue;
        const char *sug = ef_envgen__suggest(k, env_fields, EF_ARRAY_LEN(env_fields));
        char key[80];
        snprintf(key, sizeof key, "%.64s", k);
        lua_pop(L, 1);
        if (sug)
            return field_error(env, key, "the env table has an unknown field '%s' (did you mean "
                               "'%s'?)", key, sug);
        return field_error(env, key, "the env table has an unknown field '%s' (fields: name, "
                           "version, category, description, levels, tools, generate, solve, "
                           "verify; keep helpers in locals)", key);
    }
    return 0;
}

static int check_table(ef_env *env, int t)
{
    int rc;
    int64_t v;
    if ((rc = get_string(env, t, "name", 1, NULL, &env->name)) < 0 || (rc = check_name(env)) < 0)
        return rc;
    if ((rc = get_int(env, t, "version", 1, 0, INT32_MAX, &env->info.version)) < 0)
        return rc;
    if ((rc = get_string(env, t, "category", 1, NULL, &env->category)) < 0)
        return rc;
    const char *cats[] = {"general", "search", "interpreter", "code"};
    int ok = 0;
    for (size_t i = 0; i < 4; i++)
        ok |= strcmp(env->category, cats[i]) == 0;
    if (!ok)
        return field_error(env, "category",
                           "env.category '%s' must be general, search, interpreter or code",
                           env->category);
    if ((rc = get_string(env, t, "description", 0, "", &env->description)) < 0)
        return rc;
    if ((rc = get_int(env, t, "levels", 1, 1, 100, &v)) < 0)
        return rc;
    env->info.n_levels = (int)v;
    if ((rc = check_function(env, t, "generate", "(rng, level) -> task")) < 0 ||
        (rc = check_function(env, t, "solve", "(task, call) -> answer")) < 0 ||
        (rc = check_function(env, t, "verify", "(task, answer, state) -> reward, info")) < 0)
        return rc;
    if ((rc = check_unknown_fields(env, t)) < 0)
        return rc;
    return check_tools(env, t);
}

static int load_fn(lua_State *L, void *ud)
{
    ef_env *env = ud;
    ef_envgen__modules_open(L);
    int st = luaL_loadbufferx(L, env->source, env->source_len, env->chunkname, "t");
    if (st != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        return ef_errorf(env->ctx, st == LUA_ERRSYNTAX ? EF_ELUA : EF_ELIMIT, "%s",
                         m ? m : "cannot load");
    }
    int rc = ef_envgen__call(env, 0, 1, "loading the env");
    if (rc < 0)
        return rc;
    if (lua_type(L, -1) != LUA_TTABLE) {
        int line = return_line(env->source);
        return ef_errorf(env->ctx, EF_EINVAL, "%s:%d: the env file must return a table, got %s",
                         env->path, line, luaL_typename(L, -1));
    }
    int t = lua_gettop(L);
    rc = check_table(env, t);
    if (rc < 0)
        return rc;
    lua_pushvalue(L, t);
    env->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    static const char *const fns[3] = {"generate", "solve", "verify"};
    for (int i = 0; i < 3; i++) {
        lua_getfield(L, t, fns[i]);
        lua_Debug ar;
        lua_pushvalue(L, -1);
        env->fn_line[i] = lua_getinfo(L, ">S", &ar) ? ar.linedefined : 0;
        env->fn_ref[i] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    ef_envgen__modules_close(L);
    ef_envgen__freeze_globals(L);
    return 0;
}

void ef_env_free(ef_env *env)
{
    if (!env)
        return;
    ef_envgen__fast_free(env);
    ef_envgen__episode_spare_free(env);
    if (env->L)
        lua_close(env->L);
    ef_envgen__vm_free_chunks(env);
    ef_sandbox_worker_free(env->sandbox);
    cJSON_Delete(env->tool_schemas);
    cJSON_Delete(env->tools_list);
    ef_free(env->path);
    ef_free(env->chunkname);
    ef_free(env->source);
    ef_free(env->bundle);
    ef_envgen__modules_free(env);
    ef_free(env->name);
    ef_free(env->category);
    ef_free(env->description);
    ef_free(env->tools_json);
    ef_buf_free(&env->scratch);
    ef_buf_free(&env->out);
    ef_free(env);
}

int ef_env_load_buffer(ef_ctx *ctx, const char *path, const char *source, size_t len,
                       const ef_env_limits *limits, ef_env **out)
{
    ef_env_limits def = EF_ENV_LIMITS_INIT;
    ef_env *env = ef_calloc(1, sizeof *env);
    if (!env)
        return ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    env->ctx = ctx;
    env->limits = limits ? *limits : def;
    env->env_ref = env->tools_ref = env->gen_task_ref = LUA_NOREF;
    env->fn_ref[0] = env->fn_ref[1] = env->fn_ref[2] = LUA_NOREF;
    env->path = ef_strdup(path);
    env->chunkname = ef_asprintf("@%s", path);
    if (!env->path || !env->chunkname) {
        rc = ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    ef_buf_init(&env->scratch, env->limits.max_json_bytes);
    ef_buf_init(&env->out, env->limits.max_json_bytes);
    if (memchr(source, 0, len)) {
        rc = ef_errorf(ctx, EF_EINVAL, "%s: the env file holds NUL bytes (binary chunks are not allowed)", path);
        goto cleanup;
    }
    /* a bundle (envgen/modules.c) runs its own text and takes its modules from itself */
    if ((rc = ef_envgen__modules_split(env, source, len, &env->source_len)) < 0)
        goto cleanup;
    if (!(env->source = ef_strndup(source, env->source_len))) {
        rc = ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if ((rc = ef_envgen__vm_new(env)) < 0)
        goto cleanup;
    if ((rc = ef_envgen__protect(env, load_fn, env)) < 0)
        goto cleanup;
    /* what the store keeps and the content hash covers: the text as given, or the env's
     * text followed by the modules it required from disk */
    if (env->from_bundle) {
        env->bundle = ef_strndup(source, len);
    } else if (env->n_modules > 0) {
        ef_buf b = EF_BUF_INIT(MAX_SOURCE_BYTES * 2);
        env->ctx = ctx;
        rc = ef_envgen__modules_bundle(env, env->source, env->source_len, &b);
        env->bundle = rc == 0 ? ef_buf_detach(&b) : NULL;
        ef_buf_free(&b);
        if (rc < 0)
            goto cleanup;
    }
    if ((env->from_bundle || env->n_modules > 0) && !env->bundle) {
        rc = ef_errorf(ctx, EF_ENOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    env->info.source = env->bundle ? env->bundle : env->source;
    env->info.source_len = env->bundle ? strlen(env->bundle) : env->source_len;
    uint8_t digest[EF_SHA256_LEN];
    ef_sha256(env->info.source, env->info.source_len, digest);
    ef_hex_encode(digest, EF_SHA256_LEN, env->info.content_hash);
    env->info.hash_u64 = ef_sha256_u64(env->info.source, env->info.source_len);
    env->info.path = env->path;
    env->info.name = env->name;
    env->info.category = env->category;
    env->info.description = env->description;
    env->info.tools_json = env->tools_json;
    *out = env;
    return 0;
cleanup:
    ef_env_free(env);
    return rc;
}

int ef_env_load(ef_ctx *ctx, const char *path, const ef_env_limits *limits, ef_env **out)
{
    char *src;
    size_t len;
    int rc = ef_file_read(ctx, path, MAX_SOURCE_BYTES, &src, &len);
    if (rc < 0)
        return rc;
    rc = ef_env_load_buffer(ctx, path, src, len, limits, out);
    ef_free(src);
    return rc;
}

const ef_env_info *ef_env_get_info(const ef_env *env)
{
    return &env->info;
}

size_t ef_env_mem_used(const ef_env *env)
{
    return env->mem_used;
}

ef_sandbox_worker *ef_envgen__sandbox(ef_env *env)
{
    if (!env->sandbox) {
        ef_sandbox_worker_options wo = EF_SANDBOX_WORKER_OPTIONS_INIT;
        wo.slot = env->sandbox_slot;
        if (ef_sandbox_worker_new(env->ctx, &wo, &env->sandbox) < 0)
            env->sandbox = NULL;
    }
    return env->sandbox;
}
