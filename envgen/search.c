/*
 * envgen/search.c — ef.search(docs, query, k): BM25 search over a list of documents
 * {id, title, text} with an in-memory SQLite FTS5 index. The index is built the first
 * time a docs table is searched and cached (weakly keyed by that table) for as long as
 * the table lives, so an episode's repeated searches reuse it. The index uses the ef_cjk
 * tokenizer (common/fts.h), so text in Chinese, Japanese or Korean is found by its words.
 */
#include <sqlite3.h>
#include <string.h>
#include "common/fts.h"
#include "envgen/envgen_int.h"

#define INDEX_MT "envforge.search_index"
static const char CACHE_KEY = 'c';

typedef struct {
    sqlite3 *db;
} search_index;

static int index_gc(lua_State *L)
{
    search_index *ix = luaL_checkudata(L, 1, INDEX_MT);
    if (ix->db)
        sqlite3_close_v2(ix->db);
    ix->db = NULL;
    return 0;
}

/* Pushes the weak cache table (docs table -> index userdata). */
static void push_cache(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &CACHE_KEY) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_newtable(L);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CACHE_KEY);
    if (luaL_newmetatable(L, INDEX_MT)) {
        lua_pushcfunction(L, index_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}

static const char *field_text(lua_State *L, int doc, const char *k, lua_Integer i, int required)
{
    lua_getfield(L, doc, k);
    int t = lua_type(L, -1);
    if (t == LUA_TNIL && !required) {
        lua_pop(L, 1);
        return "";
    }
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
        luaL_error(L, "ef.search: docs[%I].%s must be a string, got %s", i, k,
                   luaL_typename(L, -1));
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in the doc table (numbers: converted in place) */
    return s;
}

static void build_index(lua_State *L, int docs, search_index *ix)
{
    if (sqlite3_open_v2(":memory:", &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        luaL_error(L, "ef.search: cannot open an in-memory SQLite database");
    if (ef_fts_register(ix->db) != SQLITE_OK)
        luaL_error(L, "ef.search: FTS5 unavailable: %s", sqlite3_errmsg(ix->db));
    char *err = NULL;
    if (sqlite3_exec(ix->db,
                     "CREATE VIRTUAL TABLE d USING fts5(title, text, tokenize='ef_cjk');"
                     "BEGIN;",
                     NULL, NULL, &err) != SQLITE_OK) {
        lua_pushfstring(L, "ef.search: FTS5 unavailable: %s", err ? err : "?");
        sqlite3_free(err);
        lua_error(L);
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ix->db, "INSERT INTO d(rowid, title, text) VALUES(?1, ?2, ?3)", -1,
                           &st, NULL) != SQLITE_OK)
        luaL_error(L, "ef.search: %s", sqlite3_errmsg(ix->db));
    lua_Integer n = (lua_Integer)lua_rawlen(L, docs);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, docs, i);
        int doc = lua_gettop(L);
        if (lua_type(L, doc) != LUA_TTABLE) {
            sqlite3_finalize(st);
            luaL_error(L, "ef.search: docs[%I] must be a table {id, title, text}", i);
        }
        const char *title = field_text(L, doc, "title", i, 0);
        const char *text = field_text(L, doc, "text", i, 1);
        sqlite3_bind_int64(st, 1, i);
        sqlite3_bind_text(st, 2, title, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        lua_pop(L, 1);
        if (rc != SQLITE_DONE) {
            sqlite3_finalize(st);
            luaL_error(L, "ef.search: indexing docs[%I]: %s", i, sqlite3_errmsg(ix->db));
        }
    }
    sqlite3_finalize(st);
    sqlite3_exec(ix->db, "COMMIT;", NULL, NULL, NULL);
}

typedef struct {
    luaL_Buffer *b;
    int n;
} query_terms;

static int add_term(void *ud, const char *t, size_t n)
{
    query_terms *q = ud;
    if (q->n >= 64)
        return 1;
    if (q->n++)
        luaL_addstring(q->b, " OR ");
    luaL_addchar(q->b, '"');
    luaL_addlstring(q->b, t, n);
    luaL_addchar(q->b, '"');
    return 0;
}

/* An FTS5 query from free text: each word quoted, CJK runs as their bigrams
 * (ef_fts_terms), joined with OR; at most 64 terms. */
static void make_query(lua_State *L, const char *q)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    query_terms qt = {&b, 0};
    const unsigned char *p = (const unsigned char *)q;
    while (*p) {
        while (*p && !(*p >= 0x80 || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                       (*p >= 'A' && *p <= 'Z')))
            p++;
        const unsigned char *s = p;
        while (*p && (*p >= 0x80 || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= 'A' && *p <= 'Z')))
            p++;
        if (p > s && ef_fts_terms((const char *)s, (size_t)(p - s), add_term, &qt) != 0)
            break;
    }
    luaL_pushresult(&b);
}

int ef_envgen__search(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *query = luaL_checkstring(L, 2);
    lua_Integer k = luaL_optinteger(L, 3, 5);
    if (k < 1 || k > 1000)
        return luaL_error(L, "ef.search: k must be in 1..1000 (got %I)", k);
    lua_settop(L, 3);
    push_cache(L); /* 4 */
    lua_pushvalue(L, 1);
    lua_rawget(L, 4);
    search_index *ix;
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        ix = lua_newuserdatauv(L, sizeof *ix, 0);
        ix->db = NULL;
        luaL_setmetatable(L, INDEX_MT);
        lua_pushvalue(L, 1);
        lua_pushvalue(L, -2);
        lua_rawset(L, 4); /* cached before building: a failed build is closed by __gc */
        build_index(L, 1, ix);
    } else {
        ix = luaL_checkudata(L, -1, INDEX_MT);
    }
    make_query(L, query);
    const char *fq = lua_tostring(L, -1);
    lua_newtable(L);
    ef_envgen__push_array_mt(L);
    lua_setmetatable(L, -2);
    int out = lua_gettop(L);
    if (!fq[0])
        return 1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ix->db,
                           "SELECT rowid, snippet(d, 1, '', '', '...', 24), bm25(d) FROM d "
                           "WHERE d MATCH ?1 ORDER BY bm25(d), rowid LIMIT ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return luaL_error(L, "ef.search: %s", sqlite3_errmsg(ix->db));
    sqlite3_bind_text(st, 1, fq, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, k);
    lua_Integer n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        lua_Integer row = sqlite3_column_int64(st, 0);
        const char *snip = (const char *)sqlite3_column_text(st, 1);
        double score = -sqlite3_column_double(st, 2);
        lua_createtable(L, 0, 4);
        lua_rawgeti(L, 1, row);
        lua_getfield(L, -1, "id");
        lua_setfield(L, -3, "id");
        lua_getfield(L, -1, "title");
        lua_setfield(L, -3, "title");
        lua_pop(L, 1);
        lua_pushstring(L, snip ? snip : "");
        lua_setfield(L, -2, "snippet");
        lua_pushnumber(L, score);
        lua_setfield(L, -2, "score");
        lua_rawseti(L, out, ++n);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return luaL_error(L, "ef.search: %s", sqlite3_errmsg(ix->db));
    return 1;
}
