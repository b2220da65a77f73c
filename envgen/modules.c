/*
 * envgen/modules.c — code an env shares with other envs: `require(NAME)` while the env
 * file loads, and the bundle that carries the modules it required.
 *
 * Rules (docs/envs.md): NAME is dot-separated names of letters, digits and _, read as a
 * path under the env file's folder ("harness.code_python" -> harness/code_python.lua);
 * the file must stay inside that folder once symbolic links are resolved; it is Lua text
 * (NUL bytes, hence binary chunks, refused; loaded in mode "t"), run once in the env's
 * own sandboxed state under the same memory and instruction budgets, and its result is
 * kept for later requires. There are no C modules and no package library. require exists
 * only while the env file's top level runs, so a task can never depend on a file read
 * later.
 *
 * The bundle: an env whose loading required modules is kept (ef_env_info.source, the
 * store's copy) as its own text followed by one section per module, in the order they
 * were first required:
 *
 *   \n--[==[envgen-module harness.code_python\n<module text>\n]==]\n
 *
 * (a Lua long comment whose level of '=' is one the module text does not close). Loading
 * a bundle takes the modules from its sections and never from disk, so an env runs from
 * the store alone; its content hash is the bundle's, so editing a module changes the
 * env's hash (and its task seeds) as editing the env file does. An env that requires
 * nothing is its own text, hashed as before.
 */
#define _GNU_SOURCE /* realpath */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "envgen/envgen_int.h"

#define MODULE_NAME_MAX 128
#define MODULES_MAX 64
#define MODULE_MAX_BYTES ((size_t)16 << 20)
#define SECTION_TAG "envgen-module "

static const char loaded_key[] = "envgen.modules"; /* registry: name -> value or "loading" */
#define LEVEL_MAX 64
static const char eqs[] = "================================================================";
_Static_assert(sizeof eqs - 1 == LEVEL_MAX, "one '=' per level");

/* ---- names ------------------------------------------------------------------------------ */

static int name_ok(const char *name, size_t len)
{
    if (len == 0 || len > MODULE_NAME_MAX)
        return 0;
    int at_start = 1;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '.') {
            if (at_start)
                return 0;
            at_start = 1;
            continue;
        }
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(c >= '0' && c <= '9' && !at_start))
            return 0;
        at_start = 0;
    }
    return !at_start;
}

/* ---- the bundle ------------------------------------------------------------------------- */

/* Reads "--[==[envgen-module NAME\n" at p (after the newline that precedes it); returns
 * the level of '=' (>= 0) and the name, or -1. */
static int section_open(const char *p, const char *end, const char **name, size_t *name_len,
                        const char **body)
{
    if (end - p < 4 || memcmp(p, "--[", 3) != 0)
        return -1;
    p += 3;
    int level = 0;
    while (p < end && *p == '=')
        p++, level++;
    size_t tag = sizeof SECTION_TAG - 1;
    if (p >= end || *p != '[' || (size_t)(end - p - 1) < tag || memcmp(p + 1, SECTION_TAG, tag))
        return -1;
    p += 1 + tag;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || !name_ok(p, (size_t)(nl - p)))
        return -1;
    *name = p;
    *name_len = (size_t)(nl - p);
    *body = nl + 1;
    return level;
}

/* Splits source into the env's own text and the sections that follow it. Returns the
 * number of sections (0: a plain env file; then *main_len = len), or -1 when the text
 * after the first section marker is not sections to its end (then it is a plain file
 * too: the marker is the author's text). */
static int bundle_split(ef_env *env, const char *source, size_t len, size_t *main_len)
{
    const char *end = source + len, *p = source;
    *main_len = len;
    for (;;) { /* the first "\n--[=*[envgen-module " */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return 0;
        const char *name, *body;
        size_t name_len;
        if (section_open(nl + 1, end, &name, &name_len, &body) >= 0) {
            p = nl;
            break;
        }
        p = nl + 1;
    }
    size_t split = (size_t)(p + 1 - source); /* the env's text keeps its last newline */
    int n = 0;
    while (p < end) {
        const char *name, *body;
        size_t name_len;
        int level = section_open(p + 1, end, &name, &name_len, &body);
        if (level < 0 || n >= MODULES_MAX)
            return -1;
        if (level > LEVEL_MAX)
            return -1;
        char close[LEVEL_MAX + 8];
        int cl = snprintf(close, sizeof close, "\n]%.*s]\n", level, eqs);
        const char *stop = memmem(body - 1, (size_t)(end - body + 1), close, (size_t)cl);
        if (!stop)
            return -1;
        ef_env_module *m = &env->modules[n];
        m->name = ef_strndup(name, name_len);
        m->text = ef_strndup(body, stop < body ? 0 : (size_t)(stop - body));
        m->len = stop < body ? 0 : (size_t)(stop - body);
        if (!m->name || !m->text) {
            ef_free(m->name);
            ef_free(m->text);
            return EF_ENOMEM;
        }
        n++;
        env->n_modules = n;
        p = stop + cl - 1; /* at the newline that ends the section */
        if (p + 1 == end)
            break;
    }
    *main_len = split;
    return n;
}

int ef_envgen__modules_split(ef_env *env, const char *source, size_t len, size_t *main_len)
{
    env->modules = ef_calloc(MODULES_MAX, sizeof *env->modules);
    if (!env->modules)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    int n = bundle_split(env, source, len, main_len);
    if (n == EF_ENOMEM)
        return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
    if (n < 0) { /* not a bundle after all */
        ef_envgen__modules_free(env);
        env->modules = ef_calloc(MODULES_MAX, sizeof *env->modules);
        if (!env->modules)
            return ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path);
        *main_len = len;
        n = 0;
    }
    env->from_bundle = n > 0;
    return 0;
}

void ef_envgen__modules_free(ef_env *env)
{
    for (int i = 0; env->modules && i < env->n_modules; i++) {
        ef_free(env->modules[i].name);
        ef_free(env->modules[i].text);
    }
    ef_free(env->modules);
    env->modules = NULL;
    env->n_modules = 0;
}

/* The '=' level for a long comment holding text: one whose closing "]==]" it lacks. */
static int comment_level(const char *text, size_t len)
{
    for (int level = 2; level <= LEVEL_MAX; level++) {
        char close[LEVEL_MAX + 8];
        int cl = snprintf(close, sizeof close, "\n]%.*s]", level, eqs);
        if (!memmem(text, len, close, (size_t)cl))
            return level;
    }
    return -1;
}

int ef_envgen__modules_bundle(ef_env *env, const char *main, size_t main_len, ef_buf *out)
{
    int rc = ef_buf_append(out, main, main_len);
    if (rc == 0 && main_len && main[main_len - 1] != '\n')
        rc = ef_buf_putc(out, '\n');
    for (int i = 0; rc == 0 && i < env->n_modules; i++) {
        const ef_env_module *m = &env->modules[i];
        int level = comment_level(m->text, m->len);
        if (level < 0)
            return ef_errorf(env->ctx, EF_EINVAL, "module '%s': its text cannot be bundled",
                             m->name);
        rc = ef_buf_appendf(out, "--[%.*s[" SECTION_TAG "%s\n", level, eqs, m->name);
        if (rc == 0)
            rc = ef_buf_append(out, m->text, m->len);
        if (rc == 0)
            rc = ef_buf_appendf(out, "\n]%.*s]\n", level, eqs);
    }
    return rc < 0 ? ef_errorf(env->ctx, EF_ENOMEM, "%s: out of memory", env->path) : 0;
}

/* ---- require ---------------------------------------------------------------------------- */

/* The folder of the env file ("." when the path has none). */
static void env_dir(const ef_env *env, char *buf, size_t cap)
{
    const char *slash = strrchr(env->path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == env->path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - env->path), env->path);
}

/* Reads module `name` from disk into a new slot; raises on any refusal. */
static ef_env_module *read_module(lua_State *L, ef_env *env, const char *name, char *rel,
                                  size_t rel_cap)
{
    char dir[PATH_MAX], file[PATH_MAX + MODULE_NAME_MAX + 8];
    env_dir(env, dir, sizeof dir);
    snprintf(rel, rel_cap, "%s", name);
    for (char *c = rel; *c; c++)
        if (*c == '.')
            *c = '/';
    snprintf(file, sizeof file, "%s/%s.lua", dir, rel);
    char real_dir[PATH_MAX], real_file[PATH_MAX];
    if (!realpath(dir, real_dir) || !realpath(file, real_file))
        luaL_error(L,
                   "require('%s'): no module file %s (a module is a .lua file under the env "
                   "file's folder)",
                   name, file);
    size_t dl = strlen(real_dir);
    if (strncmp(real_file, real_dir, dl) != 0 || (real_file[dl] != '/' && dl != 1))
        luaL_error(L,
                   "require('%s'): %s leads outside the env file's folder (%s); a module must "
                   "live under it",
                   name, file, real_dir);
    ef_env_module *m = &env->modules[env->n_modules];
    if (ef_file_read(NULL, real_file, MODULE_MAX_BYTES, &m->text, &m->len) < 0)
        luaL_error(L, "require('%s'): cannot read %s (or it is over %d MiB)", name, file,
                   (int)(MODULE_MAX_BYTES >> 20));
    if (memchr(m->text, 0, m->len)) {
        ef_free(m->text);
        m->text = NULL;
        luaL_error(L,
                   "require('%s'): %s holds NUL bytes (binary chunks are not allowed; a "
                   "module is Lua text)",
                   name, file);
    }
    if (!(m->name = ef_strdup(name))) {
        ef_free(m->text);
        m->text = NULL;
        luaL_error(L, "require('%s'): out of memory", name);
    }
    env->n_modules++;
    return m;
}

static int l_require(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    if (!env->loading)
        return luaL_error(L,
                          "require('%s'): modules are required while the env file loads (at "
                          "its top level), not from generate, solve, verify or a tool",
                          name);
    if (!name_ok(name, len))
        return luaL_error(L,
                          "require('%s'): a module name is dot-separated names of letters, "
                          "digits and _ (harness.code_python is harness/code_python.lua "
                          "under the env file's folder)",
                          name);
    lua_getfield(L, LUA_REGISTRYINDEX, loaded_key);
    int loaded = lua_gettop(L);
    lua_getfield(L, loaded, name);
    if (lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "loading") == 0)
        return luaL_error(L, "require('%s'): a module requires itself (through a cycle)", name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    ef_env_module *m = NULL;
    for (int i = 0; i < env->n_modules; i++)
        if (strcmp(env->modules[i].name, name) == 0)
            m = &env->modules[i];
    char rel[MODULE_NAME_MAX + 1], dir[PATH_MAX];
    snprintf(rel, sizeof rel, "%s", name);
    for (char *c = rel; *c; c++)
        if (*c == '.')
            *c = '/';
    if (!m && env->from_bundle)
        return luaL_error(L,
                          "require('%s'): the env's bundle holds no such module (it was "
                          "stored without it)",
                          name);
    if (!m && env->n_modules >= MODULES_MAX)
        return luaL_error(L, "require('%s'): more than %d modules", name, MODULES_MAX);
    if (!m)
        m = read_module(L, env, name, rel, sizeof rel);
    env_dir(env, dir, sizeof dir);
    lua_pushfstring(L, "@%s/%s.lua", dir, rel);
    const char *chunkname = lua_tostring(L, -1);
    int st = luaL_loadbufferx(L, m->text, m->len, chunkname, "t");
    if (st != LUA_OK)
        return lua_error(L); /* the syntax error names the module's file and line */
    lua_pushliteral(L, "loading");
    lua_setfield(L, loaded, name);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, loaded, name);
    return 1;
}

int ef_envgen__modules_open(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, loaded_key);
    lua_pushcfunction(L, l_require);
    lua_setglobal(L, "require");
    env->loading = 1;
    return 0;
}

void ef_envgen__modules_close(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    env->loading = 0;
    lua_pushnil(L);
    lua_setglobal(L, "require");
}
