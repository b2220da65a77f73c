/*
 * envgen/luajson.c — exact conversion between Lua values and JSON text.
 *
 * Lua -> JSON is canonical: object keys sorted bytewise, integers printed as integers,
 * floats in the shortest form that reads back to the same double (with ".0" when
 * integral, so 3.0 stays a float), strings checked as UTF-8. A table is an array when it
 * carries the json.array marker or its keys are exactly 1..n; an object when it carries
 * json.object or all keys are strings; an empty unmarked table follows the schema hint
 * ("type": "array") and is an object otherwise. Sparse arrays, mixed keys, functions,
 * userdata, NaN and infinities are errors naming the path. JSON -> Lua keeps integers as
 * integers (when they fit in 64 bits), marks every array and object, and maps null to
 * json.null. Both directions stop at EF_ENVGEN_JSON_MAX_DEPTH levels.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "envgen/envgen_int.h"

static const char ARRAY_KEY = 'a', OBJECT_KEY = 'o', NULL_KEY = 'n';

void ef_envgen__push_array_mt(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
}

void ef_envgen__push_object_mt(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &OBJECT_KEY);
}

void ef_envgen__push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&NULL_KEY);
}

int ef_envgen__is_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &NULL_KEY;
}

int ef_envgen__marker(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx))
        return 0;
    const void *mt = lua_topointer(L, -1);
    lua_pop(L, 1);
    const ef_env *env = ef_envgen__env(L);
    return mt == env->array_mt ? 1 : mt == env->object_mt ? 2 : 0;
}

int ef_envgen__utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    /* ASCII fast path: eight bytes at a time while no byte has its high bit set */
    while ((size_t)(e - p) >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (w & 0x8080808080808080ULL)
            break;
        p += 8;
    }
    while (p < e) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t k;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(e - p) <= k)
            return 0;
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += k + 1;
    }
    return 1;
}

/* ef_buf_append and ef_buf_putc with the common case inline (room in the buffer, under
 * its cap); the rest, growing and the cap's error, is theirs. */
static inline int buf_append(ef_buf *b, const void *s, size_t n)
{
    if (n < b->cap - b->len && b->len + n <= b->max_bytes) { /* cap > len when data is set */
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return ef_buf_append(b, s, n);
}

static inline int buf_putc(ef_buf *b, char c)
{
    if (b->len + 1 < b->cap && b->len + 1 <= b->max_bytes) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return ef_buf_append(b, &c, 1);
}

static inline int buf_appends(ef_buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

/* Appends the decimal digits of v (any int64). */
static int fmt_int(ef_buf *b, long long v)
{
    char tmp[24];
    char *q = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    return buf_append(b, q, (size_t)(tmp + sizeof tmp - q));
}

int ef_envgen__fmt_double(ef_buf *b, double d)
{
    char tmp[40];
    /* integral doubles below 2^53 print exactly as their integer digits plus ".0" (the
     * shortest form that reads back, as %.17g would find); -0.0 keeps its sign below */
    if (d == (double)(long long)d && fabs(d) < 9007199254740992.0 && !(d == 0 && signbit(d))) {
        if (fabs(d) < 1e15) {
            int rc = fmt_int(b, (long long)d);
            return rc < 0 ? rc : buf_append(b, ".0", 2);
        }
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (!strpbrk(tmp, ".eE"))
        strcat(tmp, ".0");
    return buf_appends(b, tmp);
}

/* ---- encoding ---------------------------------------------------------------------- */

/* One step of the path to the value being encoded: an array index or an object key
 * (pointing into a Lua string the table being walked keeps alive). Formatted into text
 * only when a message needs it. */
typedef struct {
    const char *key; /* NULL for an index */
    size_t klen;
    size_t index;
} path_step;

typedef struct {
    ef_env *env;
    lua_State *L;
    ef_buf *b;
    path_step steps[EF_ENVGEN_JSON_MAX_DEPTH + 1];
    const void *tabs[EF_ENVGEN_JSON_MAX_DEPTH + 1]; /* the tables open at each depth */
    int n_steps;
    char *err;
    size_t errcap;
    const char *what;
    int depth;
} enc;

static int enc_fail(enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int enc_fail(enc *e, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char path[256];
    size_t pl = 0;
    path[0] = 0;
    for (int i = 0; i < e->n_steps && pl < sizeof path - 1; i++) {
        const path_step *st = &e->steps[i];
        int n = st->key ? snprintf(path + pl, sizeof path - pl, ".%.*s", (int)EF_MIN(st->klen, 64),
                                   st->key)
                        : snprintf(path + pl, sizeof path - pl, "[%zu]", st->index);
        if (n > 0)
            pl = EF_MIN(pl + (size_t)n, sizeof path - 1);
    }
    snprintf(e->err, e->errcap, "%s%s: %s", e->what, path, msg);
    return EF_EINVAL;
}

static int put(enc *e, int rc)
{
    if (rc < 0)
        return enc_fail(e, "JSON text exceeds %zu bytes", e->b->max_bytes);
    return 0;
}

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\' || c == 0x7F;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when one of the 8 bytes of w is below 0x20, '"', '\\' or 0x7F (a word at a
 * time; a borrow may flag a byte after a true hit, never a block without one). */
static uint64_t special8(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\'), d = w ^ (ONES * 0x7F);
    return ((w - ONES * 0x20) & ~w & HIGHS) | ((q - ONES) & ~q & HIGHS) |
           ((b - ONES) & ~b & HIGHS) | ((d - ONES) & ~d & HIGHS);
}

/* How many bytes at the start of s[0..n) need no escaping (the index of the first that
 * does, or n): eight bytes at a time, and within the word where special8 flags one, byte
 * by byte (text with a newline every few bytes, like a grid, would otherwise be tested a
 * word per byte). */
static size_t plain_run(const char *s, size_t n)
{
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (special8(w)) {
            while (!needs_escape((unsigned char)s[i]))
                i++; /* the word holds one: special8 never flags a word without */
            return i;
        }
        i += 8;
    }
    while (i < n && !needs_escape((unsigned char)s[i]))
        i++;
    return i;
}

static int enc_string(enc *e, const char *s, size_t n)
{
    if (!ef_envgen__utf8_valid(s, n))
        return enc_fail(e, "string is not valid UTF-8");
    ef_buf *b = e->b;
    if (put(e, buf_putc(b, '"')) < 0)
        return EF_ELIMIT;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = plain_run(s + i, n - i);
        i += k;
        run += k;
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i]; /* needs escaping */
        const char *esc;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\t': esc = "\\t"; break;
        case '\r': esc = "\\r"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            u[0] = '\\';
            u[1] = 'u';
            u[2] = '0';
            u[3] = '0';
            u[4] = "0123456789abcdef"[c >> 4];
            u[5] = "0123456789abcdef"[c & 15];
            u[6] = 0;
            esc = u;
        }
        if (put(e, buf_append(b, s + i - run, run)) < 0 || put(e, buf_appends(b, esc)) < 0)
            return EF_ELIMIT;
        run = 0;
    }
    if (put(e, buf_append(b, s + n - run, run)) < 0 || put(e, buf_putc(b, '"')) < 0)
        return EF_ELIMIT;
    return 0;
}

int ef_envgen__json_quote(ef_buf *b, const char *s, size_t n)
{
    int rc = buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t k = plain_run(s + i, n - i);
        i += k;
        run += k;
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i]; /* needs escaping */
        char u[8] = {'\\', (char)c, 0};
        switch (c) {
        case '\n': u[1] = 'n'; break;
        case '\t': u[1] = 't'; break;
        case '\r': u[1] = 'r'; break;
        case '\b': u[1] = 'b'; break;
        case '\f': u[1] = 'f'; break;
        case '"':
        case '\\': break;
        default:
            memcpy(u + 1, "u00", 3);
            u[4] = "0123456789abcdef"[c >> 4];
            u[5] = "0123456789abcdef"[c & 15];
            u[6] = 0;
        }
        rc = buf_append(b, s + i - run, run);
        if (rc == 0)
            rc = buf_appends(b, u);
        run = 0;
    }
    if (rc == 0)
        rc = buf_append(b, s + n - run, run);
    if (rc == 0)
        rc = buf_putc(b, '"');
    return rc;
}

static void step_push(enc *e, const char *key, size_t klen, size_t index)
{
    path_step *st = &e->steps[e->n_steps++];
    st->key = key;
    st->klen = klen;
    st->index = index;
}

static int enc_value(enc *e, int idx, const cJSON *schema);

typedef struct {
    const char *s;
    size_t n;
    int slot; /* stack index of the value (small objects) */
} keyref;

/* Objects with at most this many keys are encoded from values kept on the Lua stack. */
#define SMALL_OBJECT 32

static int keycmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static const cJSON *schema_child(const cJSON *schema, const char *field, const char *key)
{
    if (!schema)
        return NULL;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(schema, field);
    if (key && c)
        c = cJSON_GetObjectItemCaseSensitive(c, key);
    return cJSON_IsObject(c) ? c : NULL;
}

static int schema_says_array(const cJSON *schema)
{
    const cJSON *t = schema ? cJSON_GetObjectItemCaseSensitive(schema, "type") : NULL;
    return cJSON_IsString(t) && strcmp(t->valuestring, "array") == 0;
}

static int enc_table(enc *e, int idx, const cJSON *schema)
{
    lua_State *L = e->L;
    idx = lua_absindex(L, idx);
    if (e->depth >= EF_ENVGEN_JSON_MAX_DEPTH) {
        /* a table among its own ancestors is a cycle: name the shortest path to it */
        e->tabs[e->depth] = lua_topointer(L, idx);
        for (int k = 1; k <= e->depth; k++)
            for (int m = 0; m < k; m++)
                if (e->tabs[k] == e->tabs[m] && k <= e->n_steps) {
                    e->n_steps = k;
                    return enc_fail(e, "a table that contains itself (a cycle), which JSON "
                                       "cannot hold");
                }
        return enc_fail(e, "nested deeper than %d levels", EF_ENVGEN_JSON_MAX_DEPTH);
    }
    luaL_checkstack(L, SMALL_OBJECT + 8, "json encode");
    int marker = ef_envgen__marker(L, idx); /* 1 array, 2 object */
    int top = lua_gettop(L);
    /* One walk for a small table (the usual one): each entry's key noted and its value
     * left on the Lua stack (slot), so neither a counting walk nor a second lookup per
     * value is needed. A table with more entries is counted here and walked again below. */
    keyref small[SMALL_OBJECT];
    lua_Integer ikey[SMALL_OBJECT]; /* an entry's integer key (>= 1), or 0 */
    size_t n_keys = 0, n_str = 0, n_int = 0;
    lua_Integer max_int = 0;
    int walked = 1;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (n_keys == SMALL_OBJECT) {
            walked = 0;
            break;
        }
        keyref *kr = &small[n_keys];
        kr->s = NULL;
        kr->n = 0;
        ikey[n_keys] = 0;
        if (lua_type(L, -2) == LUA_TSTRING) {
            kr->s = lua_tolstring(L, -2, &kr->n);
            n_str++;
        } else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
            ikey[n_keys] = lua_tointeger(L, -2);
            n_int++;
            if (ikey[n_keys] > max_int)
                max_int = ikey[n_keys];
        }
        lua_insert(L, -2); /* the value stays below; the key goes on to lua_next */
        kr->slot = lua_gettop(L) - 1;
        n_keys++;
    }
    if (!walked) {
        lua_settop(L, top);
        n_keys = n_str = n_int = 0;
        max_int = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            n_keys++;
            if (lua_type(L, -2) == LUA_TSTRING)
                n_str++;
            else if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
                n_int++;
                if (lua_tointeger(L, -2) > max_int)
                    max_int = lua_tointeger(L, -2);
            }
            lua_pop(L, 1);
        }
    }
    int is_array;
    if (marker == 1) {
        if (n_int != n_keys || (size_t)max_int != n_keys)
            return enc_fail(e, "table marked json.array has keys other than 1..n");
        is_array = 1;
    } else if (marker == 2) {
        if (n_str != n_keys)
            return enc_fail(e, "table marked json.object has non-string keys");
        is_array = 0;
    } else if (n_keys == 0) {
        is_array = schema_says_array(schema);
    } else if (n_int == n_keys && (size_t)max_int == n_keys) {
        is_array = 1;
    } else if (n_str == n_keys) {
        is_array = 0;
    } else if (n_int == n_keys) {
        return enc_fail(e, "sparse array (keys are integers but not 1..%zu); use string keys "
                           "for a map",
                        n_keys);
    } else {
        return enc_fail(e, "table mixes key types (array items and string keys, or keys that "
                           "are neither strings nor 1..n)");
    }
    ef_buf *b = e->b;
    e->tabs[e->depth] = lua_topointer(L, idx);
    e->depth++;
    if (is_array) {
        /* keys exactly 1..n: item i's slot (walked), or a lookup per item */
        int pos[SMALL_OBJECT];
        if (walked)
            for (size_t j = 0; j < n_keys; j++)
                pos[ikey[j] - 1] = small[j].slot;
        if (put(e, buf_putc(b, '[')) < 0)
            return EF_ELIMIT;
        const cJSON *items = schema_child(schema, "items", NULL);
        for (size_t i = 1; i <= n_keys; i++) {
            if (i > 1 && put(e, buf_putc(b, ',')) < 0)
                return EF_ELIMIT;
            step_push(e, NULL, 0, i);
            int rc;
            if (walked) {
                rc = enc_value(e, pos[i - 1], items);
            } else {
                lua_rawgeti(L, idx, (lua_Integer)i);
                rc = enc_value(e, -1, items);
                lua_pop(L, 1);
            }
            e->n_steps--;
            if (rc < 0)
                return rc;
        }
        lua_settop(L, top);
        e->depth--;
        return put(e, buf_putc(b, ']'));
    }
    /* The keys, sorted: the walk's list, or (a big object) a list in a userdata made by a
     * second walk, each value then looked up by its key. */
    keyref *keys = small;
    if (!walked) {
        keys = lua_newuserdatauv(L, n_keys * sizeof *keys, 0);
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            keys[k].s = lua_tolstring(L, -2, &keys[k].n);
            lua_pop(L, 1);
            k++;
        }
    }
    if (n_keys <= 8) { /* few keys (the usual object): an insertion sort, no qsort call */
        for (size_t i = 1; i < n_keys; i++) {
            keyref t = keys[i];
            size_t j = i;
            for (; j > 0 && keycmp(&keys[j - 1], &t) > 0; j--)
                keys[j] = keys[j - 1];
            keys[j] = t;
        }
    } else {
        qsort(keys, n_keys, sizeof *keys, keycmp);
    }
    if (put(e, buf_putc(b, '{')) < 0)
        return EF_ELIMIT;
    for (size_t i = 0; i < n_keys; i++) {
        if (i && put(e, buf_putc(b, ',')) < 0)
            return EF_ELIMIT;
        step_push(e, keys[i].s, keys[i].n, 0);
        int rc = enc_string(e, keys[i].s, keys[i].n);
        if (rc == 0)
            rc = put(e, buf_putc(b, ':'));
        if (rc == 0) {
            const cJSON *sub = NULL;
            if (schema) {
                char kz[80]; /* the key as a C string, cut at 79 bytes (or a NUL) */
                size_t kn = EF_MIN(keys[i].n, sizeof kz - 1);
                memcpy(kz, keys[i].s, kn);
                kz[kn] = 0;
                sub = schema_child(schema, "properties", kz);
            }
            if (walked) {
                rc = enc_value(e, keys[i].slot, sub);
            } else {
                lua_pushlstring(L, keys[i].s, keys[i].n);
                lua_rawget(L, idx);
                rc = enc_value(e, -1, sub);
                lua_pop(L, 1);
            }
        }
        e->n_steps--;
        if (rc < 0)
            return rc;
    }
    lua_settop(L, top); /* the values, or the key list */
    e->depth--;
    return put(e, buf_putc(b, '}'));
}

static int enc_value(enc *e, int idx, const cJSON *schema)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return put(e, buf_appends(e->b, "null"));
    case LUA_TBOOLEAN:
        return put(e, buf_appends(e->b, lua_toboolean(L, idx) ? "true" : "false"));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            return put(e, fmt_int(e->b, (long long)lua_tointeger(L, idx)));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d))
                return enc_fail(e, "%s is not a JSON number", isnan(d) ? "NaN" : "infinity");
            return put(e, ef_envgen__fmt_double(e->b, d));
        }
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return enc_string(e, s, n);
    }
    case LUA_TTABLE:
        return enc_table(e, idx, schema);
    case LUA_TLIGHTUSERDATA:
        if (ef_envgen__is_null(L, idx))
            return put(e, buf_appends(e->b, "null"));
        /* fall through */
    default:
        return enc_fail(e, "a %s value is not JSON", luaL_typename(L, idx));
    }
}

int ef_envgen__encode(ef_env *env, int idx, const cJSON *schema, ef_buf *out, const char *what,
                      char *err, size_t errcap)
{
    enc e;
    memset(&e, 0, sizeof e);
    e.env = env;
    e.L = env->L;
    e.b = out;
    e.err = err;
    e.errcap = errcap;
    e.what = what ? what : "value";
    ef_buf_reset(out);
    int rc = enc_value(&e, lua_absindex(env->L, idx), schema);
    return rc < 0 ? rc : 0;
}

/* ---- the decoded form without the text ------------------------------------------------ */

void ef_envgen__json_copy(lua_State *L, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 6, "json copy");
    if (lua_type(L, idx) != LUA_TTABLE || depth > EF_ENVGEN_JSON_MAX_DEPTH) {
        lua_pushvalue(L, idx); /* strings, numbers (integer or float kept), booleans, null */
        return;
    }
    /* array or object, decided as enc_table decides (schema-less: an empty unmarked
     * table is an object) */
    int marker = ef_envgen__marker(L, idx);
    size_t n_keys = 0, n_int = 0;
    lua_Integer max_int = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n_keys++;
        if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
            n_int++;
            if (lua_tointeger(L, -2) > max_int)
                max_int = lua_tointeger(L, -2);
        }
        lua_pop(L, 1);
    }
    int is_array = marker == 1 || (marker == 0 && n_keys > 0 && n_int == n_keys &&
                                   (size_t)max_int == n_keys);
    lua_createtable(L, is_array ? (int)n_keys : 0, is_array ? 0 : (int)n_keys);
    int t = lua_gettop(L);
    if (is_array) {
        for (lua_Integer i = 1; i <= (lua_Integer)n_keys; i++) {
            lua_rawgeti(L, idx, i);
            ef_envgen__json_copy(L, -1, depth + 1);
            lua_rawseti(L, t, i);
            lua_pop(L, 1);
        }
        ef_envgen__push_array_mt(L);
    } else {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            ef_envgen__json_copy(L, -1, depth + 1);
            lua_pushvalue(L, -3); /* key */
            lua_insert(L, -2);
            lua_rawset(L, t);
            lua_pop(L, 1);
        }
        ef_envgen__push_object_mt(L);
    }
    lua_setmetatable(L, t);
}

/* ---- decoding ---------------------------------------------------------------------- */

typedef struct {
    ef_env *env;
    lua_State *L;
    const char *start, *p, *end;
    char *err;
    size_t errcap;
    int depth;
    ef_buf *scratch;
} dec;

static int dec_fail(dec *d, const char *msg)
{
    snprintf(d->err, d->errcap, "JSON at byte %zu: %s", (size_t)(d->p - d->start), msg);
    return EF_EPARSE;
}

static void skip_ws(dec *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static int put_utf8(ef_buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* Decodes a string at d->p (on '"') into d->scratch. */
static int dec_string(dec *d)
{
    ef_buf *b = d->scratch;
    ef_buf_reset(b);
    if (buf_append(b, "", 0) < 0)
        return dec_fail(d, "out of memory");
    d->p++;
    const char *run = d->p;
    for (;;) {
        d->p += plain_run(d->p, (size_t)(d->end - d->p));
        if (d->p >= d->end)
            return dec_fail(d, "unterminated string");
        unsigned char c = (unsigned char)*d->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return dec_fail(d, "control character in string");
        if (c != '\\') {
            d->p++;
            continue;
        }
        if (buf_append(b, run, (size_t)(d->p - run)) < 0)
            return dec_fail(d, "string too long");
        d->p++;
        if (d->p >= d->end)
            return dec_fail(d, "unterminated escape");
        char e = *d->p++;
        int rc = 0;
        switch (e) {
        case '"': rc = buf_putc(b, '"'); break;
        case '\\': rc = buf_putc(b, '\\'); break;
        case '/': rc = buf_putc(b, '/'); break;
        case 'b': rc = buf_putc(b, '\b'); break;
        case 'f': rc = buf_putc(b, '\f'); break;
        case 'n': rc = buf_putc(b, '\n'); break;
        case 'r': rc = buf_putc(b, '\r'); break;
        case 't': rc = buf_putc(b, '\t'); break;
        case 'u': {
            unsigned cp, lo;
            if (d->end - d->p < 4 || hex4(d->p, &cp) < 0)
                return dec_fail(d, "bad \\u escape");
            d->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (d->end - d->p < 6 || d->p[0] != '\\' || d->p[1] != 'u' ||
                    hex4(d->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                    return dec_fail(d, "unpaired UTF-16 surrogate in \\u escape");
                d->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return dec_fail(d, "unpaired UTF-16 surrogate in \\u escape");
            }
            rc = put_utf8(b, cp);
            break;
        }
        default:
            return dec_fail(d, "unknown escape");
        }
        if (rc < 0)
            return dec_fail(d, "string too long");
        run = d->p;
    }
    if (buf_append(b, run, (size_t)(d->p - run)) < 0)
        return dec_fail(d, "string too long");
    d->p++;
    if (!ef_envgen__utf8_valid(b->data, b->len))
        return dec_fail(d, "string is not valid UTF-8");
    return 0;
}

static int dec_number(dec *d)
{
    const char *s = d->p;
    int is_float = 0;
    if (d->p < d->end && *d->p == '-')
        d->p++;
    if (d->p >= d->end || *d->p < '0' || *d->p > '9')
        return dec_fail(d, "bad number");
    if (*d->p == '0' && d->p + 1 < d->end && d->p[1] >= '0' && d->p[1] <= '9')
        return dec_fail(d, "leading zero in number");
    while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
        d->p++;
    if (d->p < d->end && *d->p == '.') {
        is_float = 1;
        d->p++;
        if (d->p >= d->end || *d->p < '0' || *d->p > '9')
            return dec_fail(d, "bad fraction in number");
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
            d->p++;
    }
    if (d->p < d->end && (*d->p == 'e' || *d->p == 'E')) {
        is_float = 1;
        d->p++;
        if (d->p < d->end && (*d->p == '+' || *d->p == '-'))
            d->p++;
        if (d->p >= d->end || *d->p < '0' || *d->p > '9')
            return dec_fail(d, "bad exponent in number");
        while (d->p < d->end && *d->p >= '0' && *d->p <= '9')
            d->p++;
    }
    size_t n = (size_t)(d->p - s);
    if (!is_float && n <= 19) {
        /* up to 18 digits always fit in 64 bits: no strtoll needed */
        const char *q = s;
        int neg = *q == '-';
        q += neg;
        if ((size_t)(d->p - q) <= 18) {
            long long v = 0;
            for (; q < d->p; q++)
                v = v * 10 + (*q - '0');
            lua_pushinteger(d->L, (lua_Integer)(neg ? -v : v));
            return 0;
        }
    }
    char tmp[400];
    if (n >= sizeof tmp)
        return dec_fail(d, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!is_float) {
        char *endp;
        errno = 0;
        long long v = strtoll(tmp, &endp, 10);
        if (errno == 0) {
            lua_pushinteger(d->L, (lua_Integer)v);
            return 0;
        }
    }
    lua_pushnumber(d->L, strtod(tmp, NULL));
    return 0;
}

static int dec_value(dec *d);

/* Items wait on the Lua stack (up to BATCH values or key/value pairs) so the table is made
 * at its final size in one step when it is small, without rehashing while it fills. */
#define BATCH 32

/* Moves the k pending items (values for an array, key/value pairs for an object) from
 * the stack top into the table below them; *next is the next array index. */
static void flush(lua_State *L, int is_array, int k, lua_Integer *next)
{
    int tbl = lua_gettop(L) - (is_array ? k : 2 * k);
    if (is_array) {
        for (int i = 0; i < k; i++) {
            lua_pushvalue(L, tbl + 1 + i);
            lua_rawseti(L, tbl, (*next)++);
        }
    } else {
        for (int i = 0; i < k; i++) {
            lua_pushvalue(L, tbl + 1 + 2 * i);
            lua_pushvalue(L, tbl + 2 + 2 * i);
            lua_rawset(L, tbl);
        }
    }
    lua_settop(L, tbl);
}

static int dec_container(dec *d, int is_array)
{
    lua_State *L = d->L;
    if (d->depth >= EF_ENVGEN_JSON_MAX_DEPTH)
        return dec_fail(d, "nested too deeply");
    luaL_checkstack(L, 2 * BATCH + 8, "json decode");
    d->depth++;
    d->p++;
    int base = lua_gettop(L); /* the table goes at base + 1 once made */
    int made = 0, pending = 0, rc;
    lua_Integer next = 1;
    skip_ws(d);
    char close = is_array ? ']' : '}';
    if (d->p < d->end && *d->p == close) {
        d->p++;
    } else {
        for (;;) {
            skip_ws(d);
            if (pending == BATCH) {
                if (!made) {
                    lua_createtable(L, is_array ? 2 * BATCH : 0, is_array ? 0 : 2 * BATCH);
                    lua_insert(L, base + 1);
                    made = 1;
                }
                flush(L, is_array, pending, &next);
                pending = 0;
            }
            if (is_array) {
                if ((rc = dec_value(d)) < 0)
                    goto fail;
            } else {
                if (d->p >= d->end || *d->p != '"') {
                    rc = dec_fail(d, "expected a string key");
                    goto fail;
                }
                if ((rc = dec_string(d)) < 0)
                    goto fail;
                lua_pushlstring(L, d->scratch->data, d->scratch->len);
                skip_ws(d);
                if (d->p >= d->end || *d->p != ':') {
                    rc = dec_fail(d, "expected ':'");
                    goto fail;
                }
                d->p++;
                skip_ws(d);
                if ((rc = dec_value(d)) < 0)
                    goto fail;
            }
            pending++;
            skip_ws(d);
            if (d->p < d->end && *d->p == ',') {
                d->p++;
                continue;
            }
            if (d->p < d->end && *d->p == close) {
                d->p++;
                break;
            }
            rc = dec_fail(d, is_array ? "expected ',' or ']'" : "expected ',' or '}'");
            goto fail;
        }
    }
    if (!made) {
        lua_createtable(L, is_array ? pending : 0, is_array ? 0 : pending);
        lua_insert(L, base + 1);
    }
    flush(L, is_array, pending, &next);
    if (is_array)
        ef_envgen__push_array_mt(L);
    else
        ef_envgen__push_object_mt(L);
    lua_setmetatable(L, -2);
    d->depth--;
    return 0;
fail:
    lua_settop(L, base);
    return rc;
}

static int dec_value(dec *d)
{
    skip_ws(d);
    if (d->p >= d->end)
        return dec_fail(d, "unexpected end of text");
    char c = *d->p;
    if (c == '{')
        return dec_container(d, 0);
    if (c == '[')
        return dec_container(d, 1);
    if (c == '"') {
        int rc = dec_string(d);
        if (rc == 0)
            lua_pushlstring(d->L, d->scratch->data, d->scratch->len);
        return rc;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return dec_number(d);
    if (d->end - d->p >= 4 && memcmp(d->p, "true", 4) == 0) {
        d->p += 4;
        lua_pushboolean(d->L, 1);
        return 0;
    }
    if (d->end - d->p >= 5 && memcmp(d->p, "false", 5) == 0) {
        d->p += 5;
        lua_pushboolean(d->L, 0);
        return 0;
    }
    if (d->end - d->p >= 4 && memcmp(d->p, "null", 4) == 0) {
        d->p += 4;
        ef_envgen__push_null(d->L);
        return 0;
    }
    return dec_fail(d, "unexpected character");
}

int ef_envgen__decode(ef_env *env, const char *text, size_t len, char *err, size_t errcap)
{
    dec d;
    memset(&d, 0, sizeof d);
    d.env = env;
    d.L = env->L;
    d.start = d.p = text;
    d.end = text + len;
    d.err = err;
    d.errcap = errcap;
    d.scratch = &env->scratch;
    int rc = dec_value(&d);
    if (rc < 0)
        return rc;
    skip_ws(&d);
    if (d.p != d.end) {
        lua_pop(env->L, 1);
        return dec_fail(&d, "trailing characters after the value");
    }
    return 0;
}

/* Sets up the markers in the registry (called once per state by the json module). */
int ef_envgen__json_registry_init(lua_State *L)
{
    ef_env *env = ef_envgen__env(L);
    lua_newtable(L);
    lua_pushliteral(L, "array");
    lua_setfield(L, -2, "__jsontype");
    env->array_mt = lua_topointer(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    lua_newtable(L);
    lua_pushliteral(L, "object");
    lua_setfield(L, -2, "__jsontype");
    env->object_mt = lua_topointer(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &OBJECT_KEY);
    return 0;
}
