/*
 * engine/constrain.c — constrained decoding of DSML tool calls (engine/constrain.h).
 *
 * Three parts. The compiler turns the tools' JSON Schemas into a graph of schema nodes
 * and candidate lists (every fixed piece of text the output may take at a branch: tool
 * names with their closing '">\n', parameter tags, object keys with their separators,
 * enum values as JSON text). The grammar is a byte-level pushdown automaton: leaf frames
 * consume bytes (a choice among candidates, a JSON string, a raw DSML string, free text,
 * a number), structural frames (the completion, an invoke, an object, an array) push
 * their next child when the previous one completes. A leaf that cannot take a byte but
 * may end (a number, free text, a candidate that is a prefix of another) completes and
 * hands the byte to its parent. The mask walk copies the state down a trie of token byte
 * strings and keeps the tokens whose every byte the grammar accepts.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/constrain.h"
#include "engine/encoding.h"

/* ---- the vocabulary trie ------------------------------------------------------------ */

typedef struct {
    int32_t first_child, next_sibling, first_tok;
    uint8_t byte;
} tnode;

struct ef_constrain_vocab {
    tnode *nodes;
    int32_t n_nodes, cap_nodes;
    int32_t *tok_next; /* per id: next token ending at the same node */
    char *blob;        /* every token's bytes */
    uint32_t *tok_off, *tok_len;
    int32_t n_vocab, eos, max_len;
    /* Fast path for free text: per node, 1 when every token below it is plain text (see
     * plain_token), the longest such token, and the node's tokens and its subtree's as a
     * range of sub_toks (preorder). */
    uint8_t *plain_sub;
    int32_t *sub_max_len, *sub_first, *sub_end, *sub_toks;
};

/* A token every text frame takes whole: printable ASCII other than '<', '"', '\\' and
 * complete UTF-8 characters with the leads the grammar allows (C2-DF, E1-EC, EE). */
static int plain_token(const uint8_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n;) {
        uint8_t c = b[i];
        uint32_t need;
        if (c >= 0x20 && c < 0x7f) {
            if (c == '<' || c == '"' || c == '\\')
                return 0;
            need = 1;
        } else if (c >= 0xc2 && c <= 0xdf)
            need = 2;
        else if ((c >= 0xe1 && c <= 0xec) || c == 0xee)
            need = 3;
        else
            return 0;
        if (i + need > n)
            return 0;
        for (uint32_t k = 1; k < need; k++)
            if (b[i + k] < 0x80 || b[i + k] > 0xbf)
                return 0;
        i += need;
    }
    return 1;
}

/* Fills the fast-path tables: a preorder walk with an explicit stack. */
static int subtree_tables(ef_constrain_vocab *v)
{
    int32_t nn = v->n_nodes;
    v->plain_sub = ef_malloc((size_t)nn);
    v->sub_max_len = ef_malloc(sizeof(int32_t) * (size_t)nn);
    v->sub_first = ef_malloc(sizeof(int32_t) * (size_t)nn);
    v->sub_end = ef_malloc(sizeof(int32_t) * (size_t)nn);
    v->sub_toks = ef_malloc(sizeof(int32_t) * (size_t)(v->n_vocab > 0 ? v->n_vocab : 1));
    int32_t *stack = ef_malloc(sizeof(int32_t) * (size_t)nn * 2);
    if (!v->plain_sub || !v->sub_max_len || !v->sub_first || !v->sub_end || !v->sub_toks ||
        !stack) {
        ef_free(stack);
        return EF_ENOMEM;
    }
    /* preorder: token ranges */
    int32_t sp = 0, n_out = 0;
    stack[sp++] = 0;
    while (sp > 0) {
        int32_t x = stack[--sp];
        if (x < 0) { /* post: close the range, fold the children */
            x = -x - 1;
            v->sub_end[x] = n_out;
            uint8_t plain = 1;
            int32_t mx = 0;
            for (int32_t t = v->nodes[x].first_tok; t >= 0; t = v->tok_next[t]) {
                plain &=
                    (uint8_t)plain_token((const uint8_t *)v->blob + v->tok_off[t], v->tok_len[t]);
                mx = EF_MAX(mx, (int32_t)v->tok_len[t]);
            }
            for (int32_t ch = v->nodes[x].first_child; ch >= 0; ch = v->nodes[ch].next_sibling) {
                plain &= v->plain_sub[ch];
                mx = EF_MAX(mx, v->sub_max_len[ch]);
            }
            v->plain_sub[x] = plain;
            v->sub_max_len[x] = mx;
            continue;
        }
        v->sub_first[x] = n_out;
        for (int32_t t = v->nodes[x].first_tok; t >= 0; t = v->tok_next[t])
            v->sub_toks[n_out++] = t;
        stack[sp++] = -x - 1;
        for (int32_t ch = v->nodes[x].first_child; ch >= 0; ch = v->nodes[ch].next_sibling)
            stack[sp++] = ch;
    }
    ef_free(stack);
    return 0;
}

static int32_t trie_child(ef_constrain_vocab *v, int32_t node, uint8_t b, int create)
{
    for (int32_t c = v->nodes[node].first_child; c >= 0; c = v->nodes[c].next_sibling)
        if (v->nodes[c].byte == b)
            return c;
    if (!create)
        return -1;
    if (v->n_nodes == v->cap_nodes) {
        int32_t cap = v->cap_nodes * 2;
        tnode *nn = ef_realloc(v->nodes, (size_t)cap * sizeof(*nn));
        if (!nn)
            return -2;
        v->nodes = nn;
        v->cap_nodes = cap;
    }
    int32_t id = v->n_nodes++;
    v->nodes[id] = (tnode){-1, v->nodes[node].first_child, -1, b};
    v->nodes[node].first_child = id;
    return id;
}

int ef_engine_constrain_vocab_new(ef_ctx *ctx, const ef_tokenizer *tok, ef_constrain_vocab **out)
{
    ef_constrain_vocab *v = ef_calloc(1, sizeof(*v));
    int32_t n = ef_engine_tok_vocab_size(tok);
    if (!v)
        return ef_errorf(ctx, EF_ENOMEM, "constrain: out of memory");
    v->n_vocab = n;
    v->cap_nodes = 1024;
    v->nodes = ef_malloc((size_t)v->cap_nodes * sizeof(*v->nodes));
    v->tok_next = ef_malloc((size_t)(n > 0 ? n : 1) * sizeof(*v->tok_next));
    v->tok_off = ef_calloc((size_t)(n > 0 ? n : 1), sizeof(*v->tok_off));
    v->tok_len = ef_calloc((size_t)(n > 0 ? n : 1), sizeof(*v->tok_len));
    ef_buf blob = EF_BUF_INIT((size_t)1 << 30);
    if (!v->nodes || !v->tok_next || !v->tok_off || !v->tok_len) {
        ef_engine_constrain_vocab_free(v);
        return ef_errorf(ctx, EF_ENOMEM, "constrain: out of memory");
    }
    v->nodes[0] = (tnode){-1, -1, -1, 0};
    v->n_nodes = 1;
    v->eos = ef_engine_tok_token_id(tok, EF_DSV32_EOS);
    for (int32_t id = 0; id < n; id++) {
        const char *bytes;
        size_t len;
        v->tok_next[id] = -1;
        if (ef_engine_tok_is_special(tok, id) ||
            ef_engine_tok_token_bytes(tok, id, &bytes, &len) < 0 || len == 0)
            continue;
        v->tok_off[id] = (uint32_t)blob.len;
        v->tok_len[id] = (uint32_t)len;
        if (ef_buf_append(&blob, bytes, len) < 0) {
            ef_buf_free(&blob);
            ef_engine_constrain_vocab_free(v);
            return ef_errorf(ctx, EF_ENOMEM, "constrain: out of memory building the trie");
        }
        int32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            node = trie_child(v, node, (uint8_t)bytes[i], 1);
            if (node < 0) {
                ef_buf_free(&blob);
                ef_engine_constrain_vocab_free(v);
                return ef_errorf(ctx, EF_ENOMEM, "constrain: out of memory building the trie");
            }
        }
        v->tok_next[id] = v->nodes[node].first_tok;
        v->nodes[node].first_tok = id;
        if ((int32_t)len > v->max_len)
            v->max_len = (int32_t)len;
    }
    /* tok_off/len of special and unused ids stay 0 */
    v->blob = ef_buf_detach(&blob);
    ef_buf_free(&blob);
    if (!v->blob || subtree_tables(v) < 0) {
        ef_engine_constrain_vocab_free(v);
        return ef_errorf(ctx, EF_ENOMEM, "constrain: out of memory building the trie");
    }
    *out = v;
    return 0;
}

void ef_engine_constrain_vocab_free(ef_constrain_vocab *v)
{
    if (!v)
        return;
    ef_free(v->nodes);
    ef_free(v->tok_next);
    ef_free(v->tok_off);
    ef_free(v->tok_len);
    ef_free(v->blob);
    ef_free(v->plain_sub);
    ef_free(v->sub_max_len);
    ef_free(v->sub_first);
    ef_free(v->sub_end);
    ef_free(v->sub_toks);
    ef_free(v);
}

int32_t ef_engine_constrain_eos(const ef_constrain_vocab *v)
{
    return v->eos;
}

/* ---- compiled grammar ---------------------------------------------------------------- */

#define MAX_CAND 64
#define MAX_DEPTH 40
#define MAX_SCHEMA_DEPTH 12

enum {
    T_OBJ = 1,
    T_ARR = 2,
    T_STR = 4,
    T_INT = 8,
    T_NUM = 16,
    T_BOOL = 32,
    T_NULL = 64,
    T_ANY = 127
};

typedef struct {
    int n;
    char **s;
    size_t *len;
} clist;

typedef struct snode {
    unsigned types;
    clist *en;     /* enum/const as JSON text */
    clist *raw_en; /* string enum, raw (DSML string="true") */
    int nonneg;
    int n_props;
    uint64_t required;
    struct snode **props;
    clist *obj_first, *obj_next;
    struct snode *items;
    int min_items, max_items;
    int min_len, max_len;
} snode;

typedef struct {
    int n_params;
    snode **params;
    int *raw;
    uint64_t required;
    clist *first, *next;
} tool;

typedef struct {
    ef_constrain_options o;
    void **allocs;
    size_t n_allocs, cap_allocs;
    int n_tools;
    tool *tools;
    clist *names, *more, *think_end, *calls_open, *param_close, *lbool, *lnull, *arr_open,
        *arr_next;
    snode *any;
} grammar;

enum { K_TOP, K_INVOKE, K_OBJ, K_ARR, K_CHOICE, K_STR, K_RAW, K_FREE, K_NUM, K_VALUE };

typedef struct {
    uint8_t kind, phase, flag, pad;
    int32_t a, b, c, budget;
    uint64_t mask;
    const void *ref;
} frame;

typedef struct {
    int depth, final, ret;
    frame st[MAX_DEPTH];
} gstate;

struct ef_constrain {
    const ef_constrain_vocab *v;
    grammar g;
    gstate cur;
    gstate *stk; /* max_len + 2 states for the walk */
    int32_t *allowed;
    int n_allowed;
    int done;
};

static void *galloc(grammar *G, size_t n)
{
    if (G->n_allocs == G->cap_allocs) {
        size_t cap = G->cap_allocs ? G->cap_allocs * 2 : 64;
        void **a = ef_realloc(G->allocs, cap * sizeof(*a));
        if (!a)
            return NULL;
        G->allocs = a;
        G->cap_allocs = cap;
    }
    void *p = ef_calloc(1, n ? n : 1);
    if (p)
        G->allocs[G->n_allocs++] = p;
    return p;
}

static void grammar_free(grammar *G)
{
    for (size_t i = 0; i < G->n_allocs; i++)
        ef_free(G->allocs[i]);
    ef_free(G->allocs);
    memset(G, 0, sizeof(*G));
}

static clist *clist_new(grammar *G, int n)
{
    clist *L = galloc(G, sizeof(*L));
    if (!L)
        return NULL;
    L->s = galloc(G, sizeof(char *) * (size_t)(n ? n : 1));
    L->len = galloc(G, sizeof(size_t) * (size_t)(n ? n : 1));
    if (!L->s || !L->len)
        return NULL;
    L->n = 0;
    return L;
}

static int clist_add(grammar *G, clist *L, const char *a, size_t alen, const char *b, size_t blen,
                     const char *c)
{
    size_t clen = c ? strlen(c) : 0;
    char *s = galloc(G, alen + blen + clen + 1);
    if (!s)
        return EF_ENOMEM;
    memcpy(s, a, alen);
    if (blen)
        memcpy(s + alen, b, blen);
    if (clen)
        memcpy(s + alen + blen, c, clen);
    L->s[L->n] = s;
    L->len[L->n] = alen + blen + clen;
    L->n++;
    return 0;
}

static clist *lit(grammar *G, const char *s)
{
    clist *L = clist_new(G, 1);
    if (!L || clist_add(G, L, s, strlen(s), NULL, 0, NULL) < 0)
        return NULL;
    return L;
}

static unsigned type_bit(const char *t)
{
    static const char *const names[] = {"object", "array",   "string", "integer",
                                        "number", "boolean", "null"};
    for (unsigned i = 0; i < EF_ARRAY_LEN(names); i++)
        if (strcmp(t, names[i]) == 0)
            return 1u << i;
    return 0;
}

static int num_of(const cJSON *s, const char *key, double *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, key);
    if (!cJSON_IsNumber(x))
        return 0;
    *v = x->valuedouble;
    return 1;
}

static int compile_schema(ef_ctx *ctx, grammar *G, const cJSON *s, int depth, const char *path,
                          snode **out);

static int compile_object(ef_ctx *ctx, grammar *G, const cJSON *s, int depth, const char *path,
                          snode *n)
{
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    int np = cJSON_IsObject(props) ? cJSON_GetArraySize(props) : 0;
    if (np >= MAX_CAND)
        return ef_errorf(ctx, EF_EINVAL, "constrain: %s: %d properties (at most %d)", path, np,
                         MAX_CAND - 1);
    n->n_props = np;
    n->props = galloc(G, sizeof(snode *) * (size_t)(np ? np : 1));
    n->obj_first = clist_new(G, np + 1);
    n->obj_next = clist_new(G, np + 1);
    if (!n->props || !n->obj_first || !n->obj_next)
        return EF_ENOMEM;
    int i = 0, rc;
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        ef_buf key = EF_BUF_INIT(1 << 16);
        if ((rc = ef_engine_pyjson_dump_str(p->string, strlen(p->string), &key)) < 0 ||
            (rc = ef_buf_appends(&key, ": ")) < 0 ||
            (rc = clist_add(G, n->obj_first, "{", 1, key.data, key.len, NULL)) < 0 ||
            (rc = clist_add(G, n->obj_next, ", ", 2, key.data, key.len, NULL)) < 0) {
            ef_buf_free(&key);
            return rc == EF_EINVAL ? ef_errorf(ctx, rc, "constrain: %s: key is not UTF-8", path)
                                   : EF_ENOMEM;
        }
        ef_buf_free(&key);
        char *sub = ef_asprintf("%s.%s", path, p->string);
        if (!sub)
            return EF_ENOMEM;
        rc = compile_schema(ctx, G, p, depth + 1, sub, &n->props[i]);
        ef_free(sub);
        if (rc < 0)
            return rc;
        i++;
    }
    if ((rc = clist_add(G, n->obj_first, "{}", 2, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, n->obj_next, "}", 1, NULL, 0, NULL)) < 0)
        return rc;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(s, "required"), *r;
    cJSON_ArrayForEach(r, req)
    {
        if (!cJSON_IsString(r))
            continue;
        int k = 0, found = 0;
        cJSON_ArrayForEach(p, props)
        {
            if (strcmp(p->string, r->valuestring) == 0) {
                n->required |= 1ull << k;
                found = 1;
            }
            k++;
        }
        if (!found)
            return ef_errorf(ctx, EF_EINVAL,
                             "constrain: %s: required property '%s' is not in properties", path,
                             r->valuestring);
    }
    return 0;
}

static int compile_schema(ef_ctx *ctx, grammar *G, const cJSON *s, int depth, const char *path,
                          snode **out)
{
    if (depth > MAX_SCHEMA_DEPTH)
        return ef_errorf(ctx, EF_EINVAL, "constrain: %s: schema nested deeper than %d", path,
                         MAX_SCHEMA_DEPTH);
    snode *n = galloc(G, sizeof(*n));
    if (!n)
        return EF_ENOMEM;
    *out = n;
    n->max_len = G->o.max_string_chars;
    n->max_items = G->o.max_array_items;
    if (!cJSON_IsObject(s)) {
        n->types = T_ANY;
        return 0;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type"), *x;
    if (cJSON_IsString(t))
        n->types = type_bit(t->valuestring);
    else if (cJSON_IsArray(t))
        cJSON_ArrayForEach(x, t) if (cJSON_IsString(x)) n->types |= type_bit(x->valuestring);
    if (!n->types) {
        if (cJSON_GetObjectItemCaseSensitive(s, "properties"))
            n->types = T_OBJ;
        else if (cJSON_GetObjectItemCaseSensitive(s, "items"))
            n->types = T_ARR;
        else
            n->types = T_ANY;
    }
    int rc;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(s, "const");
    if (cJSON_IsArray(en) || cn) {
        int k = cn ? 1 : cJSON_GetArraySize(en);
        if (k < 1 || k > MAX_CAND)
            return ef_errorf(ctx, EF_EINVAL, "constrain: %s: enum of %d values (1..%d)", path, k,
                             MAX_CAND);
        n->en = clist_new(G, k);
        n->raw_en = clist_new(G, k);
        if (!n->en || !n->raw_en)
            return EF_ENOMEM;
        const cJSON *vals = cn ? NULL : en;
        for (int i = 0; i < k; i++) {
            const cJSON *v = cn ? cn : cJSON_GetArrayItem(vals, i);
            ef_buf b = EF_BUF_INIT(1 << 16);
            if ((rc = ef_engine_pyjson_dump(v, &b)) < 0 ||
                (rc = clist_add(G, n->en, b.data, b.len, NULL, 0, NULL)) < 0) {
                ef_buf_free(&b);
                return rc == EF_ENOMEM ? rc : ef_errorf(ctx, rc, "constrain: %s: bad enum", path);
            }
            ef_buf_free(&b);
            if (cJSON_IsString(v) && (rc = clist_add(G, n->raw_en, v->valuestring,
                                                     strlen(v->valuestring), NULL, 0, NULL)) < 0)
                return rc;
        }
    }
    double lo = 0, hi = 0;
    int has_lo = num_of(s, "minimum", &lo), has_hi = num_of(s, "maximum", &hi);
    n->nonneg = has_lo && lo >= 0;
    if (!n->en && n->types == T_INT && has_lo && has_hi && hi >= lo && hi - lo < MAX_CAND) {
        long a = (long)lo + (lo > (double)(long)lo), z = (long)hi;
        n->en = clist_new(G, (int)(z - a + 1));
        if (!n->en)
            return EF_ENOMEM;
        for (long v = a; v <= z; v++) {
            char tmp[32];
            int len = snprintf(tmp, sizeof tmp, "%ld", v);
            if ((rc = clist_add(G, n->en, tmp, (size_t)len, NULL, 0, NULL)) < 0)
                return rc;
        }
        if (n->en->n == 0)
            return ef_errorf(ctx, EF_EINVAL, "constrain: %s: no integer in [%g, %g]", path, lo, hi);
    }
    if (num_of(s, "minLength", &lo))
        n->min_len = (int)lo;
    if (num_of(s, "maxLength", &hi))
        n->max_len = (int)hi;
    if (n->max_len < n->min_len)
        n->max_len = n->min_len;
    if (num_of(s, "minItems", &lo))
        n->min_items = (int)lo;
    if (num_of(s, "maxItems", &hi))
        n->max_items = (int)hi;
    if (n->max_items < n->min_items)
        n->max_items = n->min_items;
    if (n->types & T_OBJ)
        if ((rc = compile_object(ctx, G, s, depth, path, n)) < 0)
            return rc;
    if (n->types & T_ARR) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(s, "items");
        if (items) {
            char *sub = ef_asprintf("%s[]", path);
            if (!sub)
                return EF_ENOMEM;
            rc = compile_schema(ctx, G, items, depth + 1, sub, &n->items);
            ef_free(sub);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int compile_tool(ef_ctx *ctx, grammar *G, const cJSON *fn, int idx, tool *t)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    if (!cJSON_IsString(name) || !*name->valuestring || strpbrk(name->valuestring, "\"<\n"))
        return ef_errorf(ctx, EF_EINVAL,
                         "constrain: tools[%d]: name missing or holding '\"', "
                         "'<' or a newline",
                         idx);
    int rc = clist_add(G, G->names, name->valuestring, strlen(name->valuestring), "\">\n", 3, NULL);
    if (rc < 0)
        return rc;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(fn, "parameters");
    snode *root;
    char path[300];
    snprintf(path, sizeof path, "tools[%d](%.200s).parameters", idx, name->valuestring);
    cJSON *empty = NULL;
    if (!params)
        params = empty = cJSON_Parse("{\"type\":\"object\",\"properties\":{}}");
    if (!params)
        return EF_ENOMEM;
    rc = compile_schema(ctx, G, params, 0, path, &root);
    cJSON_Delete(empty);
    if (rc < 0)
        return rc;
    if (!(root->types & T_OBJ))
        return ef_errorf(ctx, EF_EINVAL, "constrain: %s: must be an object schema", path);
    t->n_params = root->n_props;
    t->params = root->props;
    t->required = root->required;
    t->raw = galloc(G, sizeof(int) * (size_t)(t->n_params ? t->n_params : 1));
    t->first = clist_new(G, t->n_params + 1);
    t->next = clist_new(G, t->n_params + 1);
    if (!t->raw || !t->first || !t->next)
        return EF_ENOMEM;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties"), *p;
    int i = 0;
    cJSON_ArrayForEach(p, props)
    {
        if (strpbrk(p->string, "\"<\n"))
            return ef_errorf(ctx, EF_EINVAL,
                             "constrain: %s: parameter name '%s' holds '\"', '<' "
                             "or a newline",
                             path, p->string);
        snode *ps = t->params[i];
        t->raw[i] = ps->types == T_STR && (!ps->en || ps->raw_en->n == ps->en->n);
        const char *tail = t->raw[i] ? "\" string=\"true\">" : "\" string=\"false\">";
        static const char open[] = "<" EF_DSV32_DSML "parameter name=\"";
        if ((rc = clist_add(G, t->first, open, sizeof open - 1, p->string, strlen(p->string),
                            tail)) < 0 ||
            (rc = clist_add(G, t->next, "\n", 1, open, sizeof open - 1, NULL)) < 0)
            return rc;
        /* next: "\n" + open + name + tail */
        char *s = galloc(G, t->next->len[i] + strlen(p->string) + strlen(tail) + 1);
        if (!s)
            return EF_ENOMEM;
        size_t l = t->next->len[i];
        memcpy(s, t->next->s[i], l);
        memcpy(s + l, p->string, strlen(p->string));
        l += strlen(p->string);
        memcpy(s + l, tail, strlen(tail));
        l += strlen(tail);
        t->next->s[i] = s;
        t->next->len[i] = l;
        i++;
    }
    static const char close[] = "\n</" EF_DSV32_DSML "invoke>";
    if ((rc = clist_add(G, t->first, close, sizeof close - 1, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, t->next, close, sizeof close - 1, NULL, 0, NULL)) < 0)
        return rc;
    return 0;
}

static int compile(ef_ctx *ctx, grammar *G, const cJSON *tools)
{
    int n = cJSON_GetArraySize(tools);
    if (!cJSON_IsArray(tools) || n < 1 || n > MAX_CAND)
        return ef_errorf(ctx, EF_EINVAL, "constrain: tools must be an array of 1..%d tools",
                         MAX_CAND);
    G->n_tools = n;
    G->tools = galloc(G, sizeof(tool) * (size_t)n);
    G->names = clist_new(G, n);
    G->more = clist_new(G, 2);
    G->arr_open = clist_new(G, 2);
    G->arr_next = clist_new(G, 2);
    G->lbool = clist_new(G, 2);
    G->any = galloc(G, sizeof(snode));
    if (!G->tools || !G->names || !G->more || !G->arr_open || !G->arr_next || !G->lbool || !G->any)
        return EF_ENOMEM;
    G->any->types = T_ANY;
    G->any->max_len = G->o.max_string_chars;
    G->any->max_items = G->o.max_array_items;
    G->any->obj_first = lit(G, "{}");
    G->any->obj_next = lit(G, "}");
    static const char more0[] = "\n<" EF_DSV32_DSML "invoke name=\"";
    static const char more1[] = "\n</" EF_DSV32_DSML "function_calls>";
    int rc;
    if ((rc = clist_add(G, G->more, more0, sizeof more0 - 1, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->more, more1, sizeof more1 - 1, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->arr_open, "[", 1, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->arr_open, "[]", 2, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->arr_next, ", ", 2, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->arr_next, "]", 1, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->lbool, "true", 4, NULL, 0, NULL)) < 0 ||
        (rc = clist_add(G, G->lbool, "false", 5, NULL, 0, NULL)) < 0)
        return rc;
    if (!(G->think_end = lit(G, EF_DSV32_THINK_END)) ||
        !(G->calls_open =
              lit(G, "\n\n<" EF_DSV32_DSML "function_calls>\n<" EF_DSV32_DSML "invoke name=\"")) ||
        !(G->param_close = lit(G, "</" EF_DSV32_DSML "parameter>")) ||
        !(G->lnull = lit(G, "null")) || !G->any->obj_first || !G->any->obj_next)
        return EF_ENOMEM;
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        if ((rc = compile_tool(ctx, G, fn ? fn : t, i, &G->tools[i])) < 0)
            return rc;
        i++;
    }
    return 0;
}

/* ---- the automaton -------------------------------------------------------------------- */

enum { R_REJ = -1, R_OK = 0, R_DONE = 1, R_PASS = 2 };

static uint64_t all_bits(int n)
{
    return n >= 64 ? ~0ull : (1ull << n) - 1;
}

static frame *push(gstate *g, int kind, const void *ref)
{
    if (g->depth >= MAX_DEPTH)
        return NULL;
    frame *f = &g->st[g->depth++];
    memset(f, 0, sizeof(*f));
    f->kind = (uint8_t)kind;
    f->ref = ref;
    return f;
}

static int push_choice(gstate *g, const clist *L, uint64_t mask)
{
    if (!mask)
        return -1;
    frame *f = push(g, K_CHOICE, L);
    if (!f)
        return -1;
    f->mask = mask;
    return 0;
}

static int next_struct(const grammar *G, gstate *g, frame *f, int ret);

static int push_struct(const grammar *G, gstate *g, int kind, const void *ref)
{
    frame *f = push(g, kind, ref);
    if (!f)
        return -1;
    int r = next_struct(G, g, f, -1);
    return r == 0 ? 0 : -1;
}

static int push_typed(const grammar *G, gstate *g, const snode *s, unsigned type)
{
    frame *f;
    switch (type) {
    case T_OBJ:
        return push_struct(G, g, K_OBJ, s->obj_first ? s : G->any);
    case T_ARR:
        return push_struct(G, g, K_ARR, s);
    case T_STR:
        if (!(f = push(g, K_STR, s)))
            return -1;
        f->budget = s->max_len;
        f->c = s->min_len;
        return 0;
    case T_INT:
    case T_NUM:
        if (!(f = push(g, K_NUM, s)))
            return -1;
        f->flag = type == T_INT;
        return 0;
    case T_BOOL:
        return push_choice(g, G->lbool, 3);
    case T_NULL:
        return push_choice(g, G->lnull, 1);
    }
    return -1;
}

static int push_value(const grammar *G, gstate *g, const snode *s)
{
    if (s->en)
        return push_choice(g, s->en, all_bits(s->en->n));
    unsigned types = s->types;
    if (g->depth > MAX_DEPTH - 8)
        types &= ~(unsigned)(T_OBJ | T_ARR);
    if ((types & T_INT) && (types & T_NUM))
        types &= ~(unsigned)T_INT;
    if (!types)
        return -1;
    if ((types & (types - 1)) == 0)
        return push_typed(G, g, s, types);
    frame *f = push(g, K_VALUE, s);
    if (!f)
        return -1;
    f->a = (int32_t)types;
    return 0;
}

static int push_text(gstate *g, int kind, int budget, int min, int allow_nl, const void *ref)
{
    frame *f = push(g, kind, ref);
    if (!f)
        return -1;
    f->budget = budget;
    f->c = min;
    f->flag = (uint8_t)allow_nl;
    return 0;
}

static uint64_t invoke_live(const tool *t, uint64_t emitted)
{
    uint64_t live = all_bits(t->n_params) & ~emitted;
    if ((t->required & ~emitted) == 0)
        live |= 1ull << t->n_params;
    return live;
}

static uint64_t obj_live(const snode *s, uint64_t emitted)
{
    uint64_t live = all_bits(s->n_props) & ~emitted;
    if ((s->required & ~emitted) == 0)
        live |= 1ull << s->n_props;
    return live;
}

/* A structural frame continues after its child returned ret (-1: just created).
 * 0: something was pushed (or the completion is final); 1: the frame is done (g->ret);
 * -1: dead end. */
static int next_struct(const grammar *G, gstate *g, frame *f, int ret)
{
    const ef_constrain_options *o = &G->o;
    switch (f->kind) {
    case K_TOP:
        for (;;) {
            switch (f->phase) {
            case 0:
                if (!o->thinking) {
                    f->phase = 2;
                    continue;
                }
                f->phase = 1;
                if (o->max_reasoning_bytes > 0)
                    return push_text(g, K_FREE, o->max_reasoning_bytes, 0, 1, NULL);
                continue;
            case 1:
                f->phase = 2;
                return push_choice(g, G->think_end, 1);
            case 2:
                f->phase = 3;
                if (o->max_content_bytes > 0)
                    return push_text(g, K_FREE, o->max_content_bytes, 0, 0, NULL);
                continue;
            case 3:
                f->phase = 4;
                return push_choice(g, G->calls_open, 1);
            case 4:
                f->phase = 5;
                return push_choice(g, G->names, all_bits(G->n_tools));
            case 5:
                f->phase = 6;
                return push_struct(G, g, K_INVOKE, &G->tools[ret]);
            case 6:
                f->a++;
                f->phase = 7;
                return push_choice(g, G->more, (f->a < o->max_calls ? 1u : 0u) | 2u);
            case 7:
                if (ret == 0) {
                    f->phase = 5;
                    return push_choice(g, G->names, all_bits(G->n_tools));
                }
                f->phase = 8;
                g->final = 1;
                return 0;
            default:
                return -1;
            }
        }
    case K_INVOKE: {
        const tool *t = f->ref;
        switch (f->phase) {
        case 0:
            f->phase = 1;
            return push_choice(g, t->first, invoke_live(t, f->mask));
        case 1:
            if (ret == t->n_params) {
                g->ret = 0;
                return 1;
            }
            f->mask |= 1ull << ret;
            f->phase = 2;
            if (t->raw[ret]) {
                const snode *s = t->params[ret];
                if (s->raw_en)
                    return push_choice(g, s->raw_en, all_bits(s->raw_en->n));
                return push_text(g, K_RAW, s->max_len, s->min_len, 1, s);
            }
            return push_value(G, g, t->params[ret]);
        case 2:
            f->phase = 3;
            return push_choice(g, G->param_close, 1);
        case 3:
            f->phase = 1;
            return push_choice(g, t->next, invoke_live(t, f->mask));
        }
        return -1;
    }
    case K_OBJ: {
        const snode *s = f->ref;
        switch (f->phase) {
        case 0:
            f->phase = 1;
            return push_choice(g, s->obj_first, obj_live(s, f->mask));
        case 1:
            if (ret == s->n_props) {
                g->ret = 0;
                return 1;
            }
            f->mask |= 1ull << ret;
            f->phase = 2;
            return push_value(G, g, s->props[ret]);
        case 2:
            f->phase = 1;
            return push_choice(g, s->obj_next, obj_live(s, f->mask));
        }
        return -1;
    }
    case K_ARR: {
        const snode *s = f->ref;
        const snode *items = s->items ? s->items : G->any;
        switch (f->phase) {
        case 0:
            f->phase = 1;
            return push_choice(g, G->arr_open,
                               (s->max_items > 0 ? 1u : 0u) | (s->min_items == 0 ? 2u : 0u));
        case 1:
        case 3:
            if (ret == 1) {
                g->ret = 0;
                return 1;
            }
            f->a++;
            f->phase = 2;
            return push_value(G, g, items);
        case 2:
            f->phase = 3;
            return push_choice(g, G->arr_next,
                               (f->a < s->max_items ? 1u : 0u) | (f->a >= s->min_items ? 2u : 0u));
        }
        return -1;
    }
    }
    return -1;
}

static int choice_step(frame *f, unsigned b, int *ret)
{
    const clist *L = f->ref;
    size_t pos = (size_t)f->a;
    uint64_t nm = 0;
    for (uint64_t m = f->mask; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        if (pos < L->len[i] && (uint8_t)L->s[i][pos] == b)
            nm |= 1ull << i;
    }
    if (nm) {
        f->a = (int32_t)++pos;
        f->mask = nm;
        int longer = 0, done = -1;
        for (uint64_t m = nm; m; m &= m - 1) {
            int i = __builtin_ctzll(m);
            if (L->len[i] > pos)
                longer = 1;
            else
                done = i;
        }
        if (!longer && done >= 0) {
            *ret = done;
            return R_DONE;
        }
        return R_OK;
    }
    for (uint64_t m = f->mask; m; m &= m - 1) {
        int i = __builtin_ctzll(m);
        if (L->len[i] == pos) {
            *ret = i;
            return R_PASS;
        }
    }
    return R_REJ;
}

/* One byte of text: a = units used (chars, or bytes when count_bytes), b = continuation
 * bytes still due. 1: consumed; 0: not a text byte here. */
static int text_byte(frame *f, unsigned b, int json, int count_bytes)
{
    if (f->b > 0) {
        if (b >= 0x80 && b <= 0xbf) {
            f->b--;
            return 1;
        }
        return 0;
    }
    int need;
    if (b >= 0x20 && b < 0x7f) {
        if (b == '<' || (json && (b == '"' || b == '\\')))
            return 0;
        need = 1;
    } else if ((b == '\n' || b == '\t') && f->flag && !json)
        need = 1;
    else if (b >= 0xc2 && b <= 0xdf)
        need = 2;
    else if ((b >= 0xe1 && b <= 0xec) || b == 0xee)
        need = 3;
    else
        return 0;
    int cost = count_bytes ? need : 1;
    if (f->a + cost > f->budget)
        return 0;
    f->a += cost;
    f->b = need - 1;
    return 1;
}

static int leaf_step(frame *f, unsigned b, int *ret)
{
    *ret = 0;
    switch (f->kind) {
    case K_CHOICE:
        return choice_step(f, b, ret);
    case K_FREE:
        if (text_byte(f, b, 0, 1))
            return R_OK;
        return f->b == 0 ? R_PASS : R_REJ;
    case K_RAW:
        if (text_byte(f, b, 0, 0))
            return R_OK;
        return f->b == 0 && f->a >= f->c ? R_PASS : R_REJ;
    case K_STR:
        if (f->phase == 0)
            return b == '"' ? (f->phase = 1, R_OK) : R_REJ;
        if (b == '"')
            return f->b == 0 && f->a >= f->c ? R_DONE : R_REJ;
        return text_byte(f, b, 1, 0) ? R_OK : R_REJ;
    case K_NUM: {
        const snode *s = f->ref;
        int digit = b >= '0' && b <= '9';
        switch (f->phase) {
        case 0:
        case 1:
            if (b == '-' && f->phase == 0 && !s->nonneg)
                return f->phase = 1, R_OK;
            if (b == '0')
                return f->phase = 3, R_OK;
            if (digit)
                return f->phase = 2, f->a = 1, R_OK;
            return R_REJ;
        case 2:
            if (digit && f->a < 6)
                return f->a++, R_OK;
            /* fallthrough */
        case 3:
            if (b == '.' && !f->flag)
                return f->phase = 4, R_OK;
            return R_PASS;
        case 4:
            return digit ? (f->phase = 5, f->a = 1, R_OK) : R_REJ;
        case 5:
            if (digit && f->a < 4)
                return f->a++, R_OK;
            return R_PASS;
        }
        return R_REJ;
    }
    }
    return R_REJ;
}

/* The top frame finished with ret: pop it and continue the structural frames above. */
static int complete(const grammar *G, gstate *g, int ret)
{
    g->depth--;
    for (;;) {
        if (g->depth <= 0)
            return -1;
        frame *f = &g->st[g->depth - 1];
        int r = next_struct(G, g, f, ret);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        ret = g->ret;
        g->depth--;
    }
}

static int gstep(const grammar *G, gstate *g, unsigned b)
{
    for (int guard = 0; guard < 4 * MAX_DEPTH; guard++) {
        if (g->depth <= 0 || g->final)
            return -1;
        frame *f = &g->st[g->depth - 1];
        if (f->kind == K_VALUE) {
            const snode *s = f->ref;
            unsigned types = (unsigned)f->a, pick = 0;
            if (b == '"')
                pick = T_STR;
            else if (b == '-' || (b >= '0' && b <= '9'))
                pick = (types & T_NUM) ? T_NUM : T_INT;
            else if (b == 't' || b == 'f')
                pick = T_BOOL;
            else if (b == 'n')
                pick = T_NULL;
            else if (b == '{')
                pick = T_OBJ;
            else if (b == '[')
                pick = T_ARR;
            if (!(types & pick))
                return -1;
            g->depth--;
            if (push_typed(G, g, s, pick) < 0)
                return -1;
            continue;
        }
        if (f->kind < K_CHOICE)
            return -1;
        int ret, r = leaf_step(f, b, &ret);
        if (r == R_REJ)
            return -1;
        if (r == R_OK)
            return 0;
        if (complete(G, g, ret) < 0)
            return -1;
        if (r == R_DONE)
            return 0;
    }
    return -1;
}

static void state_copy(gstate *dst, const gstate *src)
{
    memcpy(dst, src, offsetof(gstate, st) + (size_t)src->depth * sizeof(frame));
}

/* ---- the public side ------------------------------------------------------------------- */

int ef_engine_constrain_new(ef_ctx *ctx, const ef_constrain_vocab *v, const cJSON *tools,
                            const ef_constrain_options *opts, ef_constrain **out)
{
    ef_constrain_options def = EF_CONSTRAIN_OPTIONS_INIT;
    ef_constrain *c = ef_calloc(1, sizeof(*c));
    if (!c)
        return ef_errorf(ctx, EF_ENOMEM, "constrain: out of memory");
    c->v = v;
    c->g.o = opts ? *opts : def;
    if (c->g.o.max_calls < 1)
        c->g.o.max_calls = 1;
    c->stk = ef_malloc(sizeof(gstate) * (size_t)(v->max_len + 2));
    c->allowed = ef_malloc(sizeof(int32_t) * (size_t)(v->n_vocab + 1));
    int rc = c->stk && c->allowed ? compile(ctx, &c->g, tools) : EF_ENOMEM;
    if (rc == 0) {
        frame *f = push(&c->cur, K_TOP, NULL);
        rc = f && next_struct(&c->g, &c->cur, f, -1) == 0
                 ? 0
                 : ef_errorf(ctx, EF_EINVAL, "constrain: the grammar cannot start");
    }
    if (rc < 0) {
        if (rc == EF_ENOMEM)
            ef_errorf(ctx, rc, "constrain: out of memory compiling the tools");
        ef_engine_constrain_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ef_engine_constrain_free(ef_constrain *c)
{
    if (!c)
        return;
    grammar_free(&c->g);
    ef_free(c->stk);
    ef_free(c->allowed);
    ef_free(c);
}

/* Bytes a text frame on top of g can still take whole (0 when the top is not text, or
 * is inside a character). */
static int32_t text_room(const gstate *g)
{
    if (g->depth <= 0 || g->final)
        return 0;
    const frame *f = &g->st[g->depth - 1];
    if (f->b != 0 ||
        !(f->kind == K_FREE || f->kind == K_RAW || (f->kind == K_STR && f->phase == 1)))
        return 0;
    return f->budget - f->a; /* chars (STR, RAW) or bytes (FREE): bytes bound both */
}

static void walk(ef_constrain *c, int32_t node, int depth)
{
    const ef_constrain_vocab *v = c->v;
    int32_t room = c->g.o.slow_masks ? 0 : text_room(&c->stk[depth]);
    for (int32_t ch = v->nodes[node].first_child; ch >= 0; ch = v->nodes[ch].next_sibling) {
        if (room > 0 && v->plain_sub[ch] && v->sub_max_len[ch] - depth <= room) {
            /* every token below is plain text the frame takes whole: no stepping */
            for (int32_t k = v->sub_first[ch]; k < v->sub_end[ch]; k++)
                c->allowed[c->n_allowed++] = v->sub_toks[k];
            continue;
        }
        gstate *s = &c->stk[depth + 1];
        state_copy(s, &c->stk[depth]);
        if (gstep(&c->g, s, v->nodes[ch].byte) < 0)
            continue;
        for (int32_t t = v->nodes[ch].first_tok; t >= 0; t = v->tok_next[t])
            c->allowed[c->n_allowed++] = t;
        walk(c, ch, depth + 1);
    }
}

int ef_engine_constrain_allowed(ef_ctx *ctx, ef_constrain *c, const int32_t **ids, int *n)
{
    c->n_allowed = 0;
    if (c->done)
        return ef_errorf(ctx, EF_EINVAL, "constrain: the completion is already closed");
    if (c->cur.final) {
        if (c->v->eos < 0)
            return ef_errorf(ctx, EF_EINVAL, "constrain: the vocabulary has no EOS token");
        c->allowed[c->n_allowed++] = c->v->eos;
    } else {
        state_copy(&c->stk[0], &c->cur);
        walk(c, 0, 0);
    }
    if (c->n_allowed == 0)
        return ef_errorf(ctx, EF_EINVAL,
                         "constrain: no token of the vocabulary continues the "
                         "tool call here");
    *ids = c->allowed;
    *n = c->n_allowed;
    return 0;
}

int ef_engine_constrain_accept(ef_ctx *ctx, ef_constrain *c, int32_t token)
{
    const ef_constrain_vocab *v = c->v;
    if (c->done)
        return ef_errorf(ctx, EF_EINVAL, "constrain: token %d after the end", token);
    if (token == v->eos && v->eos >= 0) {
        if (!c->cur.final)
            return ef_errorf(ctx, EF_EINVAL, "constrain: EOS before the tool call is closed");
        c->done = 1;
        return 0;
    }
    if (token < 0 || token >= v->n_vocab)
        return ef_errorf(ctx, EF_EINVAL, "constrain: token %d outside the vocabulary", token);
    if (v->tok_len[token] == 0)
        return ef_errorf(ctx, EF_EINVAL, "constrain: token %d is special or unused", token);
    gstate *s = &c->stk[0];
    state_copy(s, &c->cur);
    const uint8_t *bytes = (const uint8_t *)v->blob + v->tok_off[token];
    for (uint32_t i = 0; i < v->tok_len[token]; i++)
        if (gstep(&c->g, s, bytes[i]) < 0)
            return ef_errorf(ctx, EF_EINVAL,
                             "constrain: token %d does not continue the tool call (byte %u)", token,
                             i);
    state_copy(&c->cur, s);
    return 0;
}

int ef_engine_constrain_done(const ef_constrain *c)
{
    return c->done;
}
