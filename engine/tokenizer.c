/*
 * engine/tokenizer.c — Hugging Face tokenizer.json (byte-level BPE): loading, encoding,
 * decoding.
 *
 * Loading checks the document and builds immutable tables: the model vocabulary (string
 * hash -> id, id -> text), the merge table ((left id, right id) -> (rank, merged id) in an
 * open-addressing hash), the added tokens and their byte trie, the pre-tokenizer steps
 * (Split regexes compiled with PCRE2, ByteLevel), the post-processor template and the
 * bytes each id decodes to. Every unsupported component or malformed field is an error
 * naming its JSON path.
 *
 * Encoding follows `tokenizers`: added tokens are split out first (non-normalized ones on
 * the raw text, then normalized ones; leftmost-longest, lstrip/rstrip), each remaining
 * segment is pre-tokenized into pieces (Split behaviours as in tokenizers, empty pieces
 * dropped; ByteLevel maps bytes to its printable alphabet), and each piece goes through
 * BPE: its characters become symbols and the adjacent pair of lowest merge rank (leftmost
 * on ties) is merged until none is left, with a binary heap so long pieces stay
 * O(n log n). Pieces are cached per call, so repeated words cost one lookup.
 *
 * Decoding maps ids to their bytes (ByteLevel: each character back to its byte; a token
 * with a character outside the alphabet keeps its UTF-8 text) and repairs invalid UTF-8
 * the way Rust's String::from_utf8_lossy does (one U+FFFD per maximal invalid prefix).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "common/utf8.h"
#include "engine/tokenizer.h"

/* ---- small containers ------------------------------------------------------------------ */

typedef struct {
    const char *key; /* points into the tokenizer's string arena */
    uint32_t len;
    int32_t id;
} str_slot;

typedef struct {
    str_slot *slots;
    size_t cap; /* power of two */
    size_t n;
} str_map;

typedef struct {
    uint64_t key; /* (left << 32) | right; UINT64_MAX marks empty */
    int32_t rank;
    int32_t new_id;
} pair_slot;

typedef struct {
    pair_slot *slots;
    size_t cap;
    size_t n;
} pair_map;

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static int str_map_init(str_map *m, size_t n_expected)
{
    size_t cap = 16;
    while (cap < n_expected * 2 + 16)
        cap <<= 1;
    m->slots = ef_calloc(cap, sizeof *m->slots);
    if (!m->slots)
        return EF_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        m->slots[i].id = -1;
    m->cap = cap;
    m->n = 0;
    return 0;
}

static int32_t str_map_get(const str_map *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    size_t i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    for (;;) {
        const str_slot *s = &m->slots[i];
        if (s->id < 0)
            return -1;
        if (s->len == len && memcmp(s->key, key, len) == 0)
            return s->id;
        i = (i + 1) & (m->cap - 1);
    }
}

/* Inserts unless present; the map is sized at init, so it never fills. Returns the id
 * already there, or -1 when inserted. */
static int32_t str_map_put(str_map *m, const char *key, size_t len, int32_t id)
{
    size_t i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    for (;;) {
        str_slot *s = &m->slots[i];
        if (s->id < 0) {
            s->key = key;
            s->len = (uint32_t)len;
            s->id = id;
            m->n++;
            return -1;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0)
            return s->id;
        i = (i + 1) & (m->cap - 1);
    }
}

static int pair_map_init(pair_map *m, size_t n_expected)
{
    size_t cap = 16;
    while (cap < n_expected * 2 + 16)
        cap <<= 1;
    m->slots = ef_malloc(cap * sizeof *m->slots);
    if (!m->slots)
        return EF_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        m->slots[i].key = UINT64_MAX;
    m->cap = cap;
    m->n = 0;
    return 0;
}

static const pair_slot *pair_map_get(const pair_map *m, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)hash_u64(key) & (m->cap - 1);
    for (;;) {
        const pair_slot *s = &m->slots[i];
        if (s->key == UINT64_MAX)
            return NULL;
        if (s->key == key)
            return s;
        i = (i + 1) & (m->cap - 1);
    }
}

/* First insertion wins (tokenizers keeps the first rank of a repeated merge). */
static void pair_map_put(pair_map *m, int32_t a, int32_t b, int32_t rank, int32_t new_id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)hash_u64(key) & (m->cap - 1);
    for (;;) {
        pair_slot *s = &m->slots[i];
        if (s->key == UINT64_MAX) {
            s->key = key;
            s->rank = rank;
            s->new_id = new_id;
            m->n++;
            return;
        }
        if (s->key == key)
            return;
        i = (i + 1) & (m->cap - 1);
    }
}

typedef struct {
    int32_t *v;
    size_t n, cap;
} ivec;

static int ivec_push(ivec *a, int32_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *p = ef_realloc(a->v, cap * sizeof *p);
        if (!p)
            return EF_ENOMEM;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* ---- the tokenizer ---------------------------------------------------------------------- */

enum { BEH_ISOLATED, BEH_REMOVED, BEH_MERGED_PREV, BEH_MERGED_NEXT, BEH_CONTIGUOUS };

typedef struct {
    int is_byte_level;
    /* Split */
    pcre2_code *re;
    int behavior;
    int invert;
    /* ByteLevel */
    int add_prefix_space;
} pre_step;

typedef struct {
    const char *content; /* arena */
    size_t len;
    int32_t id;
    int special, normalized, lstrip, rstrip, single_word;
} added_tok;

typedef struct {
    int32_t first_child, next_sibling;
    int32_t tok; /* index into added[], -1 when no token ends here */
    unsigned char byte;
} trie_node;

typedef struct {
    trie_node *nodes;
    size_t n, cap;
} trie;

struct ef_tokenizer {
    char *arena; /* all strings, NUL-terminated, back to back */
    size_t arena_len, arena_cap;

    str_map vocab;          /* model vocabulary */
    str_map added_map;      /* added token content -> id */
    const char **id_text;   /* id -> text (added tokens take precedence) */
    unsigned char *special; /* id -> 1 when an added special token */
    int32_t n_ids;          /* max id + 1 */
    pair_map merges;

    added_tok *added;
    size_t n_added;
    trie trie_raw, trie_norm; /* non-normalized / normalized added tokens */

    pre_step *steps;
    size_t n_steps;

    int32_t unk_id; /* -1 when none */
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_fallback_ids[256];
    int32_t cp_ids[512]; /* single-character tokens for code points < 512 (fast path) */

    int decoder_byte_level; /* 0: join tokens with ' ' (no decoder) */
    char *dec_bytes;        /* per-id decoded bytes, back to back */
    size_t *dec_off;        /* n_ids + 1 offsets */

    pcre2_code *word_re;  /* a regex \w character, for single_word added tokens */
    int32_t *post_single; /* template: -1 = the sequence, else an id */
    size_t n_post_single;
};

/* GPT-2's byte-to-character map used by ByteLevel. */
static void byte_level_map(uint32_t map[256])
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        map[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

/* Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s accept). */
static int is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

static const char *arena_add(ef_tokenizer *t, const char *s, size_t len)
{
    /* The arena is sized before any string is added, so pointers stay valid. */
    if (t->arena_len + len + 1 > t->arena_cap)
        return NULL;
    char *p = t->arena + t->arena_len;
    memcpy(p, s, len);
    p[len] = 0;
    t->arena_len += len + 1;
    return p;
}

/* ---- errors that name the JSON path ------------------------------------------------------ */

typedef struct {
    ef_ctx *ctx;
    const char *what;
} loadctx;

static int perr(const loadctx *lc, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(const loadctx *lc, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ef_errorf(lc->ctx, EF_EPARSE, "%s: %s: %s", lc->what, path, msg);
}

static const cJSON *field(const cJSON *obj, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static int is_null(const cJSON *x)
{
    return !x || cJSON_IsNull(x);
}

static int get_bool(const loadctx *lc, const cJSON *obj, const char *path, const char *name,
                    int def, int *out)
{
    const cJSON *x = field(obj, name);
    if (is_null(x)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(x))
        return perr(lc, path, "field '%s' must be true or false, not %s", name,
                    ef_json_type_name(x));
    *out = cJSON_IsTrue(x);
    return 0;
}

static int get_id(const loadctx *lc, const cJSON *x, const char *path, int32_t *out)
{
    if (!cJSON_IsNumber(x))
        return perr(lc, path, "expected a token id (integer), got %s", ef_json_type_name(x));
    double d = x->valuedouble;
    if (!(d >= 0 && d < 16777216.0) || d != (double)(int32_t)d)
        return perr(lc, path, "token id %g is not an integer in [0, 16777216)", d);
    *out = (int32_t)d;
    return 0;
}

/* ---- pre-tokenizer ------------------------------------------------------------------------ */

static const char ONIG_WS[] =
    "\\t\\n\\x0b\\f\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}"
    "\\x{205f}\\x{3000}";

/* Rewrites \s and \S (outside classes) and \s (inside classes) to Oniguruma's
 * White_Space set: PCRE2's Unicode \s also takes U+180E. ef_free the result. */
static char *rewrite_pattern(const char *pat, size_t len)
{
    ef_buf b = EF_BUF_INIT(len * 16 + 64);
    int in_class = 0, rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char e = pat[i + 1];
            if (e == 's')
                rc = ef_buf_appendf(&b, in_class ? "%s" : "[%s]", ONIG_WS);
            else if (e == 'S' && !in_class)
                rc = ef_buf_appendf(&b, "[^%s]", ONIG_WS);
            else
                rc = ef_buf_append(&b, pat + i, 2);
            i++;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = 1;
            rc = ef_buf_putc(&b, c);
            /* A ']' right after '[' or '[^' is a literal. */
            if (rc == 0 && i + 1 < len && pat[i + 1] == '^') {
                rc = ef_buf_putc(&b, '^');
                i++;
            }
            if (rc == 0 && i + 1 < len && pat[i + 1] == ']') {
                rc = ef_buf_putc(&b, ']');
                i++;
            }
            continue;
        }
        if (c == '[' && in_class && i + 1 < len && pat[i + 1] == ':') {
            const char *end = strstr(pat + i + 2, ":]");
            if (end && (size_t)(end - pat) < len) {
                size_t n = (size_t)(end - (pat + i)) + 2;
                rc = ef_buf_append(&b, pat + i, n);
                i += n - 1;
                continue;
            }
        }
        if (c == ']' && in_class)
            in_class = 0;
        rc = ef_buf_putc(&b, c);
    }
    if (rc == 0 && !b.data)
        rc = ef_buf_appends(&b, "");
    if (rc) {
        ef_buf_free(&b);
        return NULL;
    }
    return ef_buf_detach(&b);
}

static int compile_re(const loadctx *lc, const char *path, const char *pat, size_t len, int literal,
                      pcre2_code **out)
{
    char *rewritten = literal ? ef_strndup(pat, len) : rewrite_pattern(pat, len);
    if (!rewritten)
        return ef_errorf(lc->ctx, EF_ENOMEM, "out of memory compiling %s", path);
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)rewritten, strlen(rewritten), opts, &errcode, &erroff, NULL);
    ef_free(rewritten);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        return perr(lc, path, "regex does not compile: %s (near offset %zu)", (char *)msg,
                    (size_t)erroff);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    *out = re;
    return 0;
}

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int push_step(ef_tokenizer *t, pre_step st)
{
    pre_step *p = ef_realloc(t->steps, (t->n_steps + 1) * sizeof *p);
    if (!p) {
        if (st.re)
            pcre2_code_free(st.re);
        return EF_ENOMEM;
    }
    t->steps = p;
    t->steps[t->n_steps++] = st;
    return 0;
}

static int load_pre(const loadctx *lc, ef_tokenizer *t, const cJSON *x, const char *path, int depth)
{
    char sub[256];
    if (is_null(x))
        return 0;
    if (!cJSON_IsObject(x))
        return perr(lc, path, "expected an object, got %s", ef_json_type_name(x));
    const cJSON *type = field(x, "type");
    if (!cJSON_IsString(type))
        return perr(lc, path, "field 'type' must be a string");
    const char *ty = type->valuestring;
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = field(x, "pretokenizers");
        if (!cJSON_IsArray(list))
            return perr(lc, path, "field 'pretokenizers' must be an array");
        if (depth > 8)
            return perr(lc, path, "Sequence nested too deeply");
        int i = 0;
        const cJSON *el;
        cJSON_ArrayForEach(el, list)
        {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i++);
            int rc = load_pre(lc, t, el, sub, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    pre_step st;
    memset(&st, 0, sizeof st);
    if (strcmp(ty, "Split") == 0) {
        const cJSON *pat = field(x, "pattern");
        const cJSON *re = pat ? field(pat, "Regex") : NULL;
        const cJSON *lit = pat ? field(pat, "String") : NULL;
        snprintf(sub, sizeof sub, "%s.pattern", path);
        if (!cJSON_IsObject(pat) || (!cJSON_IsString(re) && !cJSON_IsString(lit)))
            return perr(lc, sub, "expected {\"Regex\": \"...\"} or {\"String\": \"...\"}");
        const cJSON *beh = field(x, "behavior");
        if (!cJSON_IsString(beh))
            return perr(lc, path, "field 'behavior' must be a string");
        const char *b = beh->valuestring;
        if (strcmp(b, "Isolated") == 0)
            st.behavior = BEH_ISOLATED;
        else if (strcmp(b, "Removed") == 0)
            st.behavior = BEH_REMOVED;
        else if (strcmp(b, "MergedWithPrevious") == 0)
            st.behavior = BEH_MERGED_PREV;
        else if (strcmp(b, "MergedWithNext") == 0)
            st.behavior = BEH_MERGED_NEXT;
        else if (strcmp(b, "Contiguous") == 0)
            st.behavior = BEH_CONTIGUOUS;
        else
            return perr(lc, path,
                        "unknown behavior '%s' (Isolated, Removed, "
                        "MergedWithPrevious, MergedWithNext, Contiguous)",
                        b);
        int rc = get_bool(lc, x, path, "invert", 0, &st.invert);
        if (rc)
            return rc;
        const char *p = cJSON_IsString(re) ? re->valuestring : lit->valuestring;
        snprintf(sub, sizeof sub, "%s.pattern.%s", path, cJSON_IsString(re) ? "Regex" : "String");
        rc = compile_re(lc, sub, p, strlen(p), !cJSON_IsString(re), &st.re);
        if (rc)
            return rc;
        return push_step(t, st);
    }
    if (strcmp(ty, "ByteLevel") == 0) {
        int use_regex = 1;
        int rc = get_bool(lc, x, path, "add_prefix_space", 1, &st.add_prefix_space);
        if (!rc)
            rc = get_bool(lc, x, path, "use_regex", 1, &use_regex);
        if (rc)
            return rc;
        if (use_regex) {
            pre_step sp;
            memset(&sp, 0, sizeof sp);
            sp.behavior = BEH_ISOLATED;
            rc = compile_re(lc, path, GPT2_PATTERN, strlen(GPT2_PATTERN), 0, &sp.re);
            if (rc)
                return rc;
            /* tokenizers adds the prefix space before splitting: keep that order by
             * a prefix-only ByteLevel step first. */
            if (st.add_prefix_space) {
                pre_step pf;
                memset(&pf, 0, sizeof pf);
                pf.is_byte_level = 2; /* prefix space only */
                if ((rc = push_step(t, pf))) {
                    pcre2_code_free(sp.re);
                    return rc;
                }
                st.add_prefix_space = 0;
            }
            if ((rc = push_step(t, sp)))
                return rc;
        }
        st.is_byte_level = 1;
        return push_step(t, st);
    }
    return perr(lc, path, "pre-tokenizer type '%s' is not supported (Sequence, Split, ByteLevel)",
                ty);
}

static int load_normalizer(const loadctx *lc, const cJSON *x, const char *path, int depth)
{
    if (is_null(x))
        return 0;
    if (!cJSON_IsObject(x))
        return perr(lc, path, "expected an object or null, got %s", ef_json_type_name(x));
    const cJSON *type = field(x, "type");
    if (!cJSON_IsString(type))
        return perr(lc, path, "field 'type' must be a string");
    if (strcmp(type->valuestring, "Sequence") != 0)
        return perr(lc, path, "normalizer type '%s' is not supported (null or Sequence)",
                    type->valuestring);
    const cJSON *list = field(x, "normalizers");
    if (!cJSON_IsArray(list))
        return perr(lc, path, "field 'normalizers' must be an array");
    if (depth > 8)
        return perr(lc, path, "Sequence nested too deeply");
    int i = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, list)
    {
        char sub[256];
        snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i++);
        int rc = load_normalizer(lc, el, sub, depth + 1);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_decoder(const loadctx *lc, ef_tokenizer *t, const cJSON *x, const char *path)
{
    if (is_null(x)) {
        t->decoder_byte_level = 0;
        return 0;
    }
    const cJSON *type = cJSON_IsObject(x) ? field(x, "type") : NULL;
    if (!cJSON_IsString(type))
        return perr(lc, path, "expected an object with a string 'type'");
    if (strcmp(type->valuestring, "ByteLevel") != 0)
        return perr(lc, path, "decoder type '%s' is not supported (null or ByteLevel)",
                    type->valuestring);
    t->decoder_byte_level = 1;
    return 0;
}

static int load_post(const loadctx *lc, ef_tokenizer *t, const cJSON *x, const char *path,
                     int depth)
{
    char sub[256];
    if (is_null(x))
        return 0;
    const cJSON *type = cJSON_IsObject(x) ? field(x, "type") : NULL;
    if (!cJSON_IsString(type))
        return perr(lc, path, "expected an object with a string 'type'");
    const char *ty = type->valuestring;
    if (strcmp(ty, "ByteLevel") == 0)
        return 0; /* changes offsets only */
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = field(x, "processors");
        if (!cJSON_IsArray(list))
            return perr(lc, path, "field 'processors' must be an array");
        if (depth > 8)
            return perr(lc, path, "Sequence nested too deeply");
        int i = 0;
        const cJSON *el;
        cJSON_ArrayForEach(el, list)
        {
            snprintf(sub, sizeof sub, "%s.processors[%d]", path, i++);
            int rc = load_post(lc, t, el, sub, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (strcmp(ty, "TemplateProcessing") != 0)
        return perr(lc, path,
                    "post-processor type '%s' is not supported (null, ByteLevel, "
                    "TemplateProcessing, Sequence)",
                    ty);
    if (t->post_single)
        return perr(lc, path, "more than one TemplateProcessing");
    const cJSON *single = field(x, "single");
    const cJSON *specials = field(x, "special_tokens");
    if (!cJSON_IsArray(single))
        return perr(lc, path, "field 'single' must be an array");
    ivec v = {0};
    int i = 0, rc = 0, n_seq = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, single)
    {
        snprintf(sub, sizeof sub, "%s.single[%d]", path, i++);
        const cJSON *sp = cJSON_IsObject(el) ? field(el, "SpecialToken") : NULL;
        const cJSON *sq = cJSON_IsObject(el) ? field(el, "Sequence") : NULL;
        if (sq) {
            const cJSON *sid = field(sq, "id");
            if (!cJSON_IsString(sid) || strcmp(sid->valuestring, "A") != 0) {
                rc = perr(lc, sub, "Sequence id must be \"A\" in a single template");
                break;
            }
            n_seq++;
            if ((rc = ivec_push(&v, -1)))
                break;
            continue;
        }
        const cJSON *name = sp ? field(sp, "id") : NULL;
        if (!cJSON_IsString(name)) {
            rc = perr(lc, sub, "expected {\"SpecialToken\": {\"id\": ...}} or {\"Sequence\": ...}");
            break;
        }
        const cJSON *def = cJSON_IsObject(specials) ? field(specials, name->valuestring) : NULL;
        const cJSON *ids = def ? field(def, "ids") : NULL;
        if (!cJSON_IsArray(ids)) {
            rc = perr(lc, sub, "special token '%s' has no ids in %s.special_tokens",
                      name->valuestring, path);
            break;
        }
        int j = 0;
        const cJSON *idj;
        cJSON_ArrayForEach(idj, ids)
        {
            int32_t id = 0;
            char sub2[300];
            snprintf(sub2, sizeof sub2, "%s.special_tokens.%s.ids[%d]", path, name->valuestring,
                     j++);
            if ((rc = get_id(lc, idj, sub2, &id)) || (rc = ivec_push(&v, id)))
                break;
        }
        if (rc)
            break;
    }
    if (!rc && n_seq != 1)
        rc = perr(lc, path, "the single template must hold the sequence exactly once");
    if (rc) {
        ef_free(v.v);
        return rc;
    }
    t->post_single = v.v;
    t->n_post_single = v.n;
    return 0;
}

/* ---- model and added tokens ---------------------------------------------------------------- */

static int trie_add(trie *tr, const char *s, size_t len, int32_t tok)
{
    if (tr->n == 0) {
        tr->cap = 64;
        tr->nodes = ef_malloc(tr->cap * sizeof *tr->nodes);
        if (!tr->nodes)
            return EF_ENOMEM;
        tr->nodes[0] = (trie_node){-1, -1, -1, 0};
        tr->n = 1;
    }
    int32_t cur = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int32_t ch = tr->nodes[cur].first_child;
        while (ch >= 0 && tr->nodes[ch].byte != c)
            ch = tr->nodes[ch].next_sibling;
        if (ch < 0) {
            if (tr->n == tr->cap) {
                trie_node *p = ef_realloc(tr->nodes, tr->cap * 2 * sizeof *p);
                if (!p)
                    return EF_ENOMEM;
                tr->nodes = p;
                tr->cap *= 2;
            }
            ch = (int32_t)tr->n++;
            tr->nodes[ch] = (trie_node){-1, tr->nodes[cur].first_child, -1, c};
            tr->nodes[cur].first_child = ch;
        }
        cur = ch;
    }
    if (tr->nodes[cur].tok < 0)
        tr->nodes[cur].tok = tok;
    return 0;
}

static int load_added(const loadctx *lc, ef_tokenizer *t, const cJSON *list)
{
    if (is_null(list))
        return 0;
    if (!cJSON_IsArray(list))
        return perr(lc, "added_tokens", "expected an array, got %s", ef_json_type_name(list));
    size_t n = (size_t)cJSON_GetArraySize(list);
    t->added = ef_calloc(n ? n : 1, sizeof *t->added);
    if (!t->added)
        return EF_ENOMEM;
    int i = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, list)
    {
        char path[64];
        snprintf(path, sizeof path, "added_tokens[%d]", i++);
        if (!cJSON_IsObject(el))
            return perr(lc, path, "expected an object, got %s", ef_json_type_name(el));
        added_tok a;
        memset(&a, 0, sizeof a);
        const cJSON *content = field(el, "content");
        if (!cJSON_IsString(content) || !content->valuestring[0])
            return perr(lc, path, "field 'content' must be a non-empty string");
        char sub[96];
        snprintf(sub, sizeof sub, "%s.id", path);
        int rc = get_id(lc, field(el, "id"), sub, &a.id);
        if (!rc)
            rc = get_bool(lc, el, path, "special", 0, &a.special);
        if (!rc)
            rc = get_bool(lc, el, path, "normalized", !a.special, &a.normalized);
        if (!rc)
            rc = get_bool(lc, el, path, "lstrip", 0, &a.lstrip);
        if (!rc)
            rc = get_bool(lc, el, path, "rstrip", 0, &a.rstrip);
        if (!rc)
            rc = get_bool(lc, el, path, "single_word", 0, &a.single_word);
        if (rc)
            return rc;
        a.len = strlen(content->valuestring);
        a.content = arena_add(t, content->valuestring, a.len);
        if (!a.content)
            return ef_errorf(lc->ctx, EF_ENOMEM, "out of memory");
        int32_t prev = str_map_put(&t->added_map, a.content, a.len, a.id);
        if (prev >= 0 && prev != a.id)
            return perr(lc, path, "token '%s' already added with id %d", a.content, prev);
        int32_t idx = (int32_t)t->n_added;
        t->added[t->n_added++] = a;
        rc = trie_add(a.normalized ? &t->trie_norm : &t->trie_raw, a.content, a.len, idx);
        if (rc)
            return ef_errorf(lc->ctx, rc, "out of memory");
    }
    return 0;
}

/* Splits a merge "A B" (string form) or ["A", "B"] (pair form). */
static int merge_parts(const loadctx *lc, const cJSON *m, const char *path, const char **a,
                       size_t *alen, const char **b, size_t *blen)
{
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring;
        const char *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return perr(lc, path, "merge '%s' must be two tokens separated by one space", s);
        *a = s;
        *alen = (size_t)(sp - s);
        *b = sp + 1;
        *blen = strlen(sp + 1);
        return 0;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
        cJSON_IsString(m->child->next)) {
        *a = m->child->valuestring;
        *alen = strlen(*a);
        *b = m->child->next->valuestring;
        *blen = strlen(*b);
        return 0;
    }
    return perr(lc, path, "a merge must be \"A B\" or [\"A\", \"B\"], got %s",
                ef_json_type_name(m));
}

static int load_model(const loadctx *lc, ef_tokenizer *t, const cJSON *model)
{
    if (!cJSON_IsObject(model))
        return perr(lc, "model", "expected an object, got %s", ef_json_type_name(model));
    const cJSON *type = field(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0))
        return perr(lc, "model.type", "model type '%s' is not supported (BPE)",
                    cJSON_IsString(type) ? type->valuestring : ef_json_type_name(type));
    const cJSON *dropout = field(model, "dropout");
    if (!is_null(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return perr(lc, "model.dropout", "BPE dropout is not supported (must be null)");
    const char *no_affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *x = field(model, no_affix[i]);
        if (!is_null(x) && !(cJSON_IsString(x) && !x->valuestring[0]))
            return perr(lc, "model", "field '%s' is not supported (must be null)", no_affix[i]);
    }
    int rc = get_bool(lc, model, "model", "fuse_unk", 0, &t->fuse_unk);
    if (!rc)
        rc = get_bool(lc, model, "model", "byte_fallback", 0, &t->byte_fallback);
    if (!rc)
        rc = get_bool(lc, model, "model", "ignore_merges", 0, &t->ignore_merges);
    if (rc)
        return rc;

    const cJSON *vocab = field(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return perr(lc, "model.vocab", "expected an object of token -> id, got %s",
                    ef_json_type_name(vocab));
    const cJSON *el;
    cJSON_ArrayForEach(el, vocab)
    {
        char path[160];
        snprintf(path, sizeof path, "model.vocab[\"%.100s\"]", el->string ? el->string : "");
        int32_t id = 0;
        if ((rc = get_id(lc, el, path, &id)))
            return rc;
        size_t len = strlen(el->string);
        const char *key = arena_add(t, el->string, len);
        if (!key)
            return ef_errorf(lc->ctx, EF_ENOMEM, "out of memory");
        if (str_map_put(&t->vocab, key, len, id) >= 0)
            return perr(lc, path, "token appears twice in the vocabulary");
        if (id + 1 > t->n_ids)
            t->n_ids = id + 1;
    }

    const cJSON *unk = field(model, "unk_token");
    t->unk_id = -1;
    if (!is_null(unk)) {
        if (!cJSON_IsString(unk))
            return perr(lc, "model.unk_token", "expected a string or null");
        t->unk_id = str_map_get(&t->vocab, unk->valuestring, strlen(unk->valuestring));
        if (t->unk_id < 0)
            return perr(lc, "model.unk_token", "'%s' is not in model.vocab", unk->valuestring);
    }

    const cJSON *merges = field(model, "merges");
    if (!cJSON_IsArray(merges))
        return perr(lc, "model.merges", "expected an array, got %s", ef_json_type_name(merges));
    int32_t rank = 0;
    char *joined = NULL;
    size_t joined_cap = 0;
    cJSON_ArrayForEach(el, merges)
    {
        char path[64];
        snprintf(path, sizeof path, "model.merges[%d]", rank);
        const char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        if ((rc = merge_parts(lc, el, path, &a, &alen, &b, &blen)))
            break;
        int32_t ia = str_map_get(&t->vocab, a, alen), ib = str_map_get(&t->vocab, b, blen);
        if (ia < 0 || ib < 0) {
            rc = perr(lc, path, "token '%.*s' is not in model.vocab", (int)(ia < 0 ? alen : blen),
                      ia < 0 ? a : b);
            break;
        }
        if (alen + blen + 1 > joined_cap) {
            joined_cap = (alen + blen + 1) * 2;
            char *p = ef_realloc(joined, joined_cap);
            if (!p) {
                rc = ef_errorf(lc->ctx, EF_ENOMEM, "out of memory");
                break;
            }
            joined = p;
        }
        memcpy(joined, a, alen);
        memcpy(joined + alen, b, blen);
        int32_t inew = str_map_get(&t->vocab, joined, alen + blen);
        if (inew < 0) {
            rc = perr(lc, path, "merged token '%.*s' is not in model.vocab", (int)(alen + blen),
                      joined);
            break;
        }
        pair_map_put(&t->merges, ia, ib, rank, inew);
        rank++;
    }
    ef_free(joined);
    return rc;
}

/* Sum of string lengths the arena must hold (vocab keys and added contents). */
static size_t arena_need(const cJSON *doc)
{
    size_t need = 64;
    const cJSON *model = field(doc, "model");
    const cJSON *vocab = cJSON_IsObject(model) ? field(model, "vocab") : NULL;
    const cJSON *el;
    if (cJSON_IsObject(vocab))
        cJSON_ArrayForEach(el, vocab) need += strlen(el->string) + 1;
    const cJSON *added = field(doc, "added_tokens");
    if (cJSON_IsArray(added))
        cJSON_ArrayForEach(el, added)
        {
            const cJSON *c = cJSON_IsObject(el) ? field(el, "content") : NULL;
            if (cJSON_IsString(c))
                need += strlen(c->valuestring) + 1;
        }
    return need;
}

/* Fills id -> text, specials, the single-character fast path and the decoded bytes. */
static int build_tables(const loadctx *lc, ef_tokenizer *t)
{
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id + 1 > t->n_ids)
            t->n_ids = t->added[i].id + 1;
    size_t n = (size_t)t->n_ids;
    t->id_text = ef_calloc(n ? n : 1, sizeof *t->id_text);
    t->special = ef_calloc(n ? n : 1, 1);
    t->dec_off = ef_calloc(n + 1, sizeof *t->dec_off);
    if (!t->id_text || !t->special || !t->dec_off)
        return ef_errorf(lc->ctx, EF_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->vocab.cap; i++)
        if (t->vocab.slots[i].id >= 0)
            t->id_text[t->vocab.slots[i].id] = t->vocab.slots[i].key;
    for (size_t i = 0; i < t->n_added; i++) {
        t->id_text[t->added[i].id] = t->added[i].content;
        t->special[t->added[i].id] = (unsigned char)t->added[i].special;
    }
    for (int cp = 0; cp < 512; cp++) {
        char s[4];
        size_t len = ef_utf8_put(s, (uint32_t)cp);
        t->cp_ids[cp] = str_map_get(&t->vocab, s, len);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_fallback_ids[b] = str_map_get(&t->vocab, s, 6);
    }
    /* Decoded bytes: never longer than the text. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += t->id_text[i] ? strlen(t->id_text[i]) : 0;
    t->dec_bytes = ef_malloc(total + 1);
    if (!t->dec_bytes)
        return ef_errorf(lc->ctx, EF_ENOMEM, "out of memory");
    uint32_t map[256];
    int32_t inv[324];
    byte_level_map(map);
    for (int i = 0; i < 324; i++)
        inv[i] = -1;
    for (int b = 0; b < 256; b++)
        inv[map[b]] = b;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        t->dec_off[i] = off;
        const char *s = t->id_text[i];
        if (!s)
            continue;
        size_t len = strlen(s), start = off;
        int mapped = t->decoder_byte_level;
        for (size_t k = 0; mapped && k < len;) {
            uint32_t cp;
            size_t step = ef_utf8_next((const unsigned char *)s + k, len - k, &cp);
            if (!step || cp >= 324 || inv[cp] < 0) {
                mapped = 0;
                break;
            }
            t->dec_bytes[off++] = (char)inv[cp];
            k += step;
        }
        if (!mapped) {
            off = start;
            memcpy(t->dec_bytes + off, s, len);
            off += len;
        }
    }
    t->dec_off[n] = off;
    return 0;
}

void ef_engine_tok_free(ef_tokenizer *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_steps; i++)
        if (t->steps[i].re)
            pcre2_code_free(t->steps[i].re);
    ef_free(t->steps);
    ef_free(t->arena);
    ef_free(t->vocab.slots);
    ef_free(t->added_map.slots);
    ef_free(t->id_text);
    ef_free(t->special);
    ef_free(t->merges.slots);
    ef_free(t->added);
    ef_free(t->trie_raw.nodes);
    ef_free(t->trie_norm.nodes);
    ef_free(t->dec_bytes);
    ef_free(t->dec_off);
    if (t->word_re)
        pcre2_code_free(t->word_re);
    ef_free(t->post_single);
    ef_free(t);
}

int ef_engine_tok_load_doc(ef_ctx *ctx, const cJSON *doc, const char *what, ef_tokenizer **out)
{
    loadctx lc = {ctx, what ? what : "tokenizer.json"};
    if (!cJSON_IsObject(doc))
        return perr(&lc, "(root)", "expected an object, got %s", ef_json_type_name(doc));
    ef_tokenizer *t = ef_calloc(1, sizeof *t);
    if (!t)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory loading %s", lc.what);
    int rc = 0;
    const cJSON *model = field(doc, "model");
    const cJSON *vocab = cJSON_IsObject(model) ? field(model, "vocab") : NULL;
    const cJSON *merges = cJSON_IsObject(model) ? field(model, "merges") : NULL;
    const cJSON *added = field(doc, "added_tokens");
    t->arena_cap = arena_need(doc);
    t->arena = ef_malloc(t->arena_cap);
    if (!t->arena ||
        str_map_init(&t->vocab, cJSON_IsObject(vocab) ? (size_t)cJSON_GetArraySize(vocab) : 0) ||
        str_map_init(&t->added_map, cJSON_IsArray(added) ? (size_t)cJSON_GetArraySize(added) : 0) ||
        pair_map_init(&t->merges, cJSON_IsArray(merges) ? (size_t)cJSON_GetArraySize(merges) : 0)) {
        rc = ef_errorf(ctx, EF_ENOMEM, "out of memory loading %s", lc.what);
        goto cleanup;
    }
    if ((rc = load_model(&lc, t, model)))
        goto cleanup;
    if ((rc = load_added(&lc, t, added)))
        goto cleanup;
    if ((rc = load_normalizer(&lc, field(doc, "normalizer"), "normalizer", 0)))
        goto cleanup;
    if ((rc = load_pre(&lc, t, field(doc, "pre_tokenizer"), "pre_tokenizer", 0)))
        goto cleanup;
    if ((rc = load_decoder(&lc, t, field(doc, "decoder"), "decoder")))
        goto cleanup;
    if ((rc = load_post(&lc, t, field(doc, "post_processor"), "post_processor", 0)))
        goto cleanup;
    if ((rc = build_tables(&lc, t)))
        goto cleanup;
    for (size_t i = 0; i < t->n_added && !t->word_re; i++) {
        static const char word[] = "[\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}\\x{200C}\\x{200D}"
                                   "\\x{24B6}-\\x{24E9}\\x{1F130}-\\x{1F149}\\x{1F150}-"
                                   "\\x{1F169}\\x{1F170}-\\x{1F189}]";
        if (t->added[i].single_word && (rc = compile_re(&lc, "added_tokens (single_word)", word,
                                                        strlen(word), 0, &t->word_re)))
            goto cleanup;
    }
    for (size_t i = 0; i < t->n_post_single; i++)
        if (t->post_single[i] >= t->n_ids) {
            rc = perr(&lc, "post_processor", "template id %d is not a token", t->post_single[i]);
            goto cleanup;
        }
    *out = t;
    return 0;
cleanup:
    if (rc == EF_ENOMEM && !ef_errmsg(ctx)[0])
        ef_errorf(ctx, EF_ENOMEM, "out of memory loading %s", lc.what);
    ef_engine_tok_free(t);
    return rc;
}

int ef_engine_tok_load_json(ef_ctx *ctx, const char *text, size_t len, const char *what,
                            ef_tokenizer **out)
{
    cJSON *doc;
    /* A NUL-terminated copy: ef_json_parse's error message reads the text near the
     * error as a C string. */
    char *copy = ef_malloc(len + 1);
    if (!copy)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory loading %s", what ? what : "tokenizer");
    memcpy(copy, text, len);
    copy[len] = 0;
    int rc = ef_json_parse(ctx, copy, len, what ? what : "tokenizer.json", &doc);
    ef_free(copy);
    if (rc)
        return rc;
    rc = ef_engine_tok_load_doc(ctx, doc, what, out);
    cJSON_Delete(doc);
    return rc;
}

int ef_engine_tok_load(ef_ctx *ctx, const char *path, ef_tokenizer **out)
{
    char *text = NULL, *file = NULL;
    size_t len = 0;
    int rc = ef_file_read(ctx, path, EF_TOK_MAX_FILE_BYTES, &text, &len);
    if (rc == EF_EIO || rc == EF_ENOTFOUND || rc == EF_EINVAL) {
        /* Perhaps a folder: try path/tokenizer.json. */
        file = ef_asprintf("%s/tokenizer.json", path);
        if (!file)
            return ef_errorf(ctx, EF_ENOMEM, "out of memory");
        int rc2 = ef_file_read(ctx, file, EF_TOK_MAX_FILE_BYTES, &text, &len);
        if (rc2 == 0) {
            path = file;
            rc = 0;
        } else {
            rc = rc2 == EF_ENOTFOUND && rc != EF_EIO
                     ? ef_errorf(ctx, rc2, "%s: no such tokenizer.json file or model folder", path)
                     : rc2;
            ef_free(file);
            return rc;
        }
    }
    if (rc == 0)
        rc = ef_engine_tok_load_json(ctx, text, len, path, out);
    ef_free(text);
    ef_free(file);
    return rc;
}

/* ---- lookups ------------------------------------------------------------------------------ */

int32_t ef_engine_tok_vocab_size(const ef_tokenizer *t)
{
    return t->n_ids;
}

int32_t ef_engine_tok_token_id(const ef_tokenizer *t, const char *content)
{
    size_t len = strlen(content);
    int32_t id = str_map_get(&t->added_map, content, len);
    return id >= 0 ? id : str_map_get(&t->vocab, content, len);
}

const char *ef_engine_tok_token_text(const ef_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_ids ? t->id_text[id] : NULL;
}

int ef_engine_tok_token_bytes(const ef_tokenizer *t, int32_t id, const char **bytes, size_t *len)
{
    if (id < 0 || id >= t->n_ids || !t->id_text[id])
        return EF_EINVAL;
    *bytes = t->dec_bytes + t->dec_off[id];
    *len = t->dec_off[id + 1] - t->dec_off[id];
    return 0;
}

int ef_engine_tok_is_special(const ef_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_ids && t->special[id];
}

/* ---- decode ------------------------------------------------------------------------------- */

int ef_engine_tok_decode(ef_ctx *ctx, const ef_tokenizer *t, const int32_t *ids, size_t n_ids,
                         unsigned flags, char **out, size_t *out_len)
{
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->id_text[id])
            return ef_errorf(ctx, EF_EINVAL,
                             "decode: id %d at position %zu is not a token "
                             "(vocabulary size %d)",
                             id, i, t->n_ids);
        total += t->dec_off[id + 1] - t->dec_off[id] + 1;
    }
    char *raw = ef_malloc(total + 1);
    if (!raw)
        return ef_errorf(ctx, EF_ENOMEM, "out of memory decoding %zu ids", n_ids);
    size_t len = 0, n_kept = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if ((flags & EF_TOK_SKIP_SPECIAL) && t->special[id])
            continue;
        if (!t->decoder_byte_level && n_kept++ > 0)
            raw[len++] = ' ';
        size_t n = t->dec_off[id + 1] - t->dec_off[id];
        memcpy(raw + len, t->dec_bytes + t->dec_off[id], n);
        len += n;
    }
    /* Lossy UTF-8 repair: at most 3 output bytes per input byte. */
    char *res = ef_malloc(len * 3 + 1);
    if (!res) {
        ef_free(raw);
        return ef_errorf(ctx, EF_ENOMEM, "out of memory decoding %zu ids", n_ids);
    }
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t step = ef_utf8_next((const unsigned char *)raw + i, len - i, &cp);
        if (step) {
            memcpy(res + o, raw + i, step);
            o += step;
            i += step;
        } else {
            o += ef_utf8_put(res + o, 0xfffd);
            i += ef_utf8_invalid_len((const unsigned char *)raw + i, len - i);
        }
    }
    res[o] = 0;
    ef_free(raw);
    *out = res;
    if (out_len)
        *out_len = o;
    return 0;
}

/* ---- encode: added tokens ------------------------------------------------------------------ */

typedef struct {
    size_t start, end; /* byte span in the text */
    int32_t id;        /* >= 0: an added token; -1: text to pre-tokenize */
} segment;

typedef struct {
    segment *v;
    size_t n, cap;
} segvec;

static int seg_push(segvec *s, size_t start, size_t end, int32_t id)
{
    if (id < 0 && start == end)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        segment *p = ef_realloc(s->v, cap * sizeof *p);
        if (!p)
            return EF_ENOMEM;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = (segment){start, end, id};
    return 0;
}

/* The longest added token of the trie starting at text[i]; its index or -1. */
static int32_t trie_longest(const trie *tr, const char *text, size_t i, size_t end, size_t *len)
{
    if (!tr->n)
        return -1;
    int32_t cur = 0, best = -1;
    for (size_t k = i; k < end; k++) {
        unsigned char c = (unsigned char)text[k];
        int32_t ch = tr->nodes[cur].first_child;
        while (ch >= 0 && tr->nodes[ch].byte != c)
            ch = tr->nodes[ch].next_sibling;
        if (ch < 0)
            break;
        cur = ch;
        if (tr->nodes[cur].tok >= 0) {
            best = tr->nodes[cur].tok;
            *len = k + 1 - i;
        }
    }
    return best;
}

static size_t prev_char_start(const char *text, size_t pos, size_t floor)
{
    size_t p = pos - 1;
    while (p > floor && ((unsigned char)text[p] & 0xc0) == 0x80)
        p--;
    return p;
}

/* Whether the character at pos is a word character as tokenizers' single_word test sees
 * it (the regex \w of Unicode: Alphabetic, marks, decimal digits, connector punctuation,
 * joiners; Alphabetic approximated by letters, letter numbers and the enclosed letters). */
static int is_word_at(const ef_tokenizer *t, pcre2_match_data *md, const char *text, size_t pos,
                      size_t end)
{
    if (pos >= end || !t->word_re)
        return 0;
    return pcre2_match(t->word_re, (PCRE2_SPTR)text, end, pos, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK,
                       md, NULL) > 0;
}

/* Splits text[seg.start, seg.end) around the added tokens of one trie. */
static int split_added(const ef_tokenizer *t, const trie *tr, const char *text, segment seg,
                       pcre2_match_data *md, segvec *out)
{
    if (seg.id >= 0 || !tr->n)
        return seg_push(out, seg.start, seg.end, seg.id);
    size_t i = seg.start, last = seg.start;
    while (i < seg.end) {
        size_t mlen = 0;
        int32_t k = trie_longest(tr, text, i, seg.end, &mlen);
        if (k < 0) {
            i++;
            continue;
        }
        const added_tok *a = &t->added[k];
        size_t ms = i, me = i + mlen;
        if (a->single_word) {
            int before =
                ms > seg.start && is_word_at(t, md, text, prev_char_start(text, ms, seg.start), ms);
            if (before || is_word_at(t, md, text, me, seg.end)) {
                i++;
                continue;
            }
        }
        if (a->lstrip) {
            while (ms > last) {
                size_t p = prev_char_start(text, ms, last);
                uint32_t cp;
                if (!ef_utf8_next((const unsigned char *)text + p, seg.end - p, &cp) ||
                    !is_white_space(cp))
                    break;
                ms = p;
            }
        }
        if (a->rstrip) {
            while (me < seg.end) {
                uint32_t cp;
                size_t n = ef_utf8_next((const unsigned char *)text + me, seg.end - me, &cp);
                if (!n || !is_white_space(cp))
                    break;
                me += n;
            }
        }
        int rc = seg_push(out, last, ms, -1);
        if (!rc)
            rc = seg_push(out, ms, me, a->id);
        if (rc)
            return rc;
        i = last = me;
    }
    return seg_push(out, last, seg.end, -1);
}

/* ---- encode: pre-tokenizer ------------------------------------------------------------------ */

typedef struct {
    size_t off, len;
} span;

typedef struct {
    span *v;
    size_t n, cap;
} spanvec;

static int span_push(spanvec *s, size_t off, size_t len)
{
    if (len == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        span *p = ef_realloc(s->v, cap * sizeof *p);
        if (!p)
            return EF_ENOMEM;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = (span){off, len};
    return 0;
}

typedef struct {
    size_t start, end;
    int is_match;
} mpiece;

typedef struct {
    mpiece *v;
    size_t n, cap;
} mvec;

static int mpush(mvec *m, size_t start, size_t end, int is_match)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        mpiece *p = ef_realloc(m->v, cap * sizeof *p);
        if (!p)
            return EF_ENOMEM;
        m->v = p;
        m->cap = cap;
    }
    m->v[m->n++] = (mpiece){start, end, is_match};
    return 0;
}

/* One Split step over one piece: matches and gaps, then the behaviour. */
static int split_piece(const pre_step *st, const char *buf, span sp, pcre2_match_data *md, mvec *m,
                       spanvec *out)
{
    const char *s = buf + sp.off;
    size_t n = sp.len, prev = 0, pos = 0;
    m->n = 0;
    while (pos <= n) {
        int r = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (r == PCRE2_ERROR_NOMATCH)
            break;
        if (r < 0)
            return r == PCRE2_ERROR_NOMEMORY ? EF_ENOMEM : EF_ELIMIT;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > prev && mpush(m, prev, ms, 0))
            return EF_ENOMEM;
        if (mpush(m, ms, me, 1))
            return EF_ENOMEM;
        prev = me;
        if (me == ms) {
            /* Empty match: step over one character. */
            if (me >= n)
                break;
            pos = me + 1;
            while (pos < n && ((unsigned char)s[pos] & 0xc0) == 0x80)
                pos++;
        } else {
            pos = me;
        }
    }
    if (prev < n && mpush(m, prev, n, 0))
        return EF_ENOMEM;
    if (st->invert)
        for (size_t i = 0; i < m->n; i++)
            m->v[i].is_match = !m->v[i].is_match;
    /* Behaviour: rewrite the list in place into spans. */
    size_t k = 0;
    switch (st->behavior) {
    case BEH_ISOLATED:
        k = m->n;
        break;
    case BEH_REMOVED:
        for (size_t i = 0; i < m->n; i++)
            if (!m->v[i].is_match)
                m->v[k++] = m->v[i];
        break;
    case BEH_MERGED_PREV: {
        int prev_match = 0;
        for (size_t i = 0; i < m->n; i++) {
            mpiece p = m->v[i];
            if (p.is_match && !prev_match && k > 0)
                m->v[k - 1].end = p.end;
            else
                m->v[k++] = p;
            prev_match = p.is_match;
        }
        break;
    }
    case BEH_MERGED_NEXT: {
        /* Mirror image: walk from the right, then the kept pieces are in reverse. */
        int prev_match = 0;
        size_t w = m->n;
        for (size_t i = m->n; i-- > 0;) {
            mpiece p = m->v[i];
            if (p.is_match && !prev_match && w < m->n)
                m->v[w].start = p.start;
            else
                m->v[--w] = p;
            prev_match = p.is_match;
        }
        for (size_t i = w; i < m->n; i++)
            m->v[k++] = m->v[i];
        break;
    }
    case BEH_CONTIGUOUS: {
        int prev_match = 0;
        for (size_t i = 0; i < m->n; i++) {
            mpiece p = m->v[i];
            if (p.is_match && prev_match && k > 0)
                m->v[k - 1].end = p.end;
            else
                m->v[k++] = p;
            prev_match = p.is_match;
        }
        break;
    }
    }
    for (size_t i = 0; i < k; i++)
        if (span_push(out, sp.off + m->v[i].start, m->v[i].end - m->v[i].start))
            return EF_ENOMEM;
    return 0;
}

/* Maps every piece to the ByteLevel alphabet (optionally with a leading space) into a
 * new buffer. step->is_byte_level == 2: only the prefix space, no mapping. */
static int byte_level_pieces(const pre_step *st, const char *buf, const spanvec *in, char **nbuf,
                             spanvec *out)
{
    size_t total = 0;
    for (size_t i = 0; i < in->n; i++)
        total += in->v[i].len * 2 + 2;
    char *b = ef_malloc(total + 1);
    if (!b)
        return EF_ENOMEM;
    uint32_t map[256];
    byte_level_map(map);
    size_t o = 0;
    int map_bytes = st->is_byte_level == 1;
    int prefix = st->add_prefix_space || st->is_byte_level == 2;
    for (size_t i = 0; i < in->n; i++) {
        size_t start = o;
        const unsigned char *s = (const unsigned char *)buf + in->v[i].off;
        if (prefix && s[0] != ' ')
            o += map_bytes ? ef_utf8_put(b + o, map[' ']) : (b[o] = ' ', 1);
        for (size_t k = 0; k < in->v[i].len; k++) {
            if (map_bytes)
                o += ef_utf8_put(b + o, map[s[k]]);
            else
                b[o++] = (char)s[k];
        }
        if (span_push(out, start, o - start)) {
            ef_free(b);
            return EF_ENOMEM;
        }
    }
    b[o] = 0;
    *nbuf = b;
    return 0;
}

/* ---- encode: BPE ---------------------------------------------------------------------------- */

typedef struct {
    int32_t rank, pos, new_id;
} heap_item;

typedef struct {
    heap_item *v;
    size_t n, cap;
} heap;

static int heap_less(heap_item a, heap_item b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static int heap_push(heap *h, heap_item x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        heap_item *p = ef_realloc(h->v, cap * sizeof *p);
        if (!p)
            return EF_ENOMEM;
        h->v = p;
        h->cap = cap;
    }
    size_t i = h->n++;
    h->v[i] = x;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(h->v[i], h->v[parent]))
            break;
        heap_item tmp = h->v[i];
        h->v[i] = h->v[parent];
        h->v[parent] = tmp;
        i = parent;
    }
    return 0;
}

static heap_item heap_pop(heap *h)
{
    heap_item top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && heap_less(h->v[l], h->v[m]))
            m = l;
        if (r < h->n && heap_less(h->v[r], h->v[m]))
            m = r;
        if (m == i)
            break;
        heap_item tmp = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = tmp;
        i = m;
    }
    return top;
}

typedef struct {
    int32_t *id, *prev, *next;
    size_t cap;
    heap h;
} bpe_work;

static int work_reserve(bpe_work *w, size_t n)
{
    if (n <= w->cap)
        return 0;
    size_t cap = n * 2;
    int32_t *a = ef_realloc(w->id, cap * sizeof *a);
    if (!a)
        return EF_ENOMEM;
    w->id = a;
    a = ef_realloc(w->prev, cap * sizeof *a);
    if (!a)
        return EF_ENOMEM;
    w->prev = a;
    a = ef_realloc(w->next, cap * sizeof *a);
    if (!a)
        return EF_ENOMEM;
    w->next = a;
    w->cap = cap;
    return 0;
}

static int push_pair(const ef_tokenizer *t, bpe_work *w, int32_t pos)
{
    int32_t nx = w->next[pos];
    if (nx < 0)
        return 0;
    const pair_slot *m = pair_map_get(&t->merges, w->id[pos], w->id[nx]);
    if (!m)
        return 0;
    return heap_push(&w->h, (heap_item){m->rank, pos, m->new_id});
}

/* BPE over one piece (UTF-8 text in the model's alphabet); appends ids to out. */
static int bpe_piece(const ef_tokenizer *t, const char *s, size_t len, bpe_work *w, ivec *out)
{
    if (t->ignore_merges) {
        int32_t id = str_map_get(&t->vocab, s, len);
        if (id >= 0)
            return ivec_push(out, id);
    }
    if (work_reserve(w, len + 1))
        return EF_ENOMEM;
    /* Initial symbols: one per character. */
    int32_t n = 0;
    int prev_unk = 0;
    for (size_t k = 0; k < len;) {
        uint32_t cp;
        size_t step = ef_utf8_next((const unsigned char *)s + k, len - k, &cp);
        if (!step)
            step = 1, cp = 0xfffd;
        int32_t id = cp < 512 ? t->cp_ids[cp] : str_map_get(&t->vocab, s + k, step);
        if (id >= 0) {
            w->id[n++] = id;
            prev_unk = 0;
        } else if (t->byte_fallback) {
            int ok = 1;
            for (size_t b = 0; b < step; b++)
                ok = ok && t->byte_fallback_ids[(unsigned char)s[k + b]] >= 0;
            if (ok) {
                if (work_reserve(w, (size_t)n + len + 4))
                    return EF_ENOMEM;
                for (size_t b = 0; b < step; b++)
                    w->id[n++] = t->byte_fallback_ids[(unsigned char)s[k + b]];
                prev_unk = 0;
            } else if (t->unk_id >= 0 && !(t->fuse_unk && prev_unk)) {
                w->id[n++] = t->unk_id;
                prev_unk = 1;
            }
        } else if (t->unk_id >= 0) {
            if (!(t->fuse_unk && prev_unk))
                w->id[n++] = t->unk_id;
            prev_unk = 1;
        }
        k += step;
    }
    for (int32_t i = 0; i < n; i++) {
        w->prev[i] = i - 1;
        w->next[i] = i + 1 < n ? i + 1 : -1;
    }
    w->h.n = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        if (push_pair(t, w, i))
            return EF_ENOMEM;
    while (w->h.n) {
        heap_item it = heap_pop(&w->h);
        int32_t pos = it.pos, nx;
        if (w->id[pos] < 0 || (nx = w->next[pos]) < 0)
            continue;
        const pair_slot *m = pair_map_get(&t->merges, w->id[pos], w->id[nx]);
        if (!m || m->rank != it.rank || m->new_id != it.new_id)
            continue;
        w->id[pos] = it.new_id;
        w->id[nx] = -1;
        w->next[pos] = w->next[nx];
        if (w->next[nx] >= 0)
            w->prev[w->next[nx]] = pos;
        if (w->prev[pos] >= 0 && push_pair(t, w, w->prev[pos]))
            return EF_ENOMEM;
        if (push_pair(t, w, pos))
            return EF_ENOMEM;
    }
    for (int32_t i = 0; i >= 0 && n > 0; i = w->next[i])
        if (ivec_push(out, w->id[i]))
            return EF_ENOMEM;
    return 0;
}

/* Per-call cache: piece text -> the ids it gave. */
typedef struct {
    const char *key; /* points into the call's piece buffers, which outlive the cache */
    uint32_t len, first, count;
    int used;
} cache_slot;

typedef struct {
    cache_slot *v;
    size_t cap, n;
    ivec ids;
} piece_cache;

static int cache_grow(piece_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    cache_slot *v = ef_calloc(cap, sizeof *v);
    if (!v)
        return EF_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (!c->v[i].used)
            continue;
        size_t j = (size_t)hash_bytes(c->v[i].key, c->v[i].len) & (cap - 1);
        while (v[j].used)
            j = (j + 1) & (cap - 1);
        v[j] = c->v[i];
    }
    ef_free(c->v);
    c->v = v;
    c->cap = cap;
    return 0;
}

#define CACHE_MAX_PIECE 256

static int encode_piece(const ef_tokenizer *t, const char *s, size_t len, bpe_work *w,
                        piece_cache *c, ivec *out)
{
    if (len > CACHE_MAX_PIECE)
        return bpe_piece(t, s, len, w, out);
    if ((c->n + 1) * 2 > c->cap && cache_grow(c))
        return EF_ENOMEM;
    size_t j = (size_t)hash_bytes(s, len) & (c->cap - 1);
    while (c->v[j].used) {
        if (c->v[j].len == len && memcmp(c->v[j].key, s, len) == 0) {
            for (uint32_t k = 0; k < c->v[j].count; k++)
                if (ivec_push(out, c->ids.v[c->v[j].first + k]))
                    return EF_ENOMEM;
            return 0;
        }
        j = (j + 1) & (c->cap - 1);
    }
    size_t before = out->n;
    int rc = bpe_piece(t, s, len, w, out);
    if (rc)
        return rc;
    uint32_t first = (uint32_t)c->ids.n;
    for (size_t k = before; k < out->n; k++)
        if (ivec_push(&c->ids, out->v[k]))
            return EF_ENOMEM;
    c->v[j] = (cache_slot){s, (uint32_t)len, first, (uint32_t)(out->n - before), 1};
    c->n++;
    return 0;
}

/* Pre-tokenizes one text segment and runs BPE over its pieces. Piece buffers made by
 * ByteLevel steps are kept in `keep` until the call ends (the cache points into them). */
typedef struct {
    char **v;
    size_t n, cap;
} bufvec;

static int keep_buf(bufvec *k, char *b)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        char **p = ef_realloc(k->v, cap * sizeof *p);
        if (!p)
            return EF_ENOMEM;
        k->v = p;
        k->cap = cap;
    }
    k->v[k->n++] = b;
    return 0;
}

static int encode_segment(const ef_tokenizer *t, const char *text, size_t start, size_t end,
                          pcre2_match_data *md, bpe_work *w, piece_cache *c, bufvec *keep,
                          ivec *out)
{
    spanvec a = {0}, b = {0};
    mvec m = {0};
    const char *buf = text;
    int rc = span_push(&a, start, end - start);
    for (size_t i = 0; rc == 0 && i < t->n_steps; i++) {
        const pre_step *st = &t->steps[i];
        b.n = 0;
        if (st->is_byte_level) {
            char *nb = NULL;
            rc = byte_level_pieces(st, buf, &a, &nb, &b);
            if (rc == 0 && (rc = keep_buf(keep, nb)) != 0)
                ef_free(nb);
            if (rc == 0)
                buf = nb;
        } else {
            for (size_t k = 0; rc == 0 && k < a.n; k++)
                rc = split_piece(st, buf, a.v[k], md, &m, &b);
        }
        spanvec tmp = a;
        a = b;
        b = tmp;
    }
    for (size_t k = 0; rc == 0 && k < a.n; k++)
        rc = encode_piece(t, buf + a.v[k].off, a.v[k].len, w, c, out);
    ef_free(a.v);
    ef_free(b.v);
    ef_free(m.v);
    return rc;
}

int ef_engine_tok_encode(ef_ctx *ctx, const ef_tokenizer *t, const char *text, size_t len,
                         unsigned flags, int32_t **ids, size_t *n_ids)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t step = ef_utf8_next((const unsigned char *)text + i, len - i, &cp);
        if (!step)
            return ef_errorf(ctx, EF_EINVAL, "encode: invalid UTF-8 at byte %zu (0x%02x)", i,
                             (unsigned char)text[i]);
        i += step;
    }
    segvec s1 = {0}, s2 = {0};
    ivec out = {0};
    bpe_work w = {0};
    piece_cache cache = {0};
    bufvec keep = {0};
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    int rc = md ? 0 : EF_ENOMEM;
    if (rc == 0) {
        segment all = {0, len, -1};
        if (flags & EF_TOK_SPLIT_SPECIAL) {
            rc = seg_push(&s2, 0, len, -1);
        } else {
            rc = split_added(t, &t->trie_raw, text, all, md, &s1);
            for (size_t i = 0; rc == 0 && i < s1.n; i++)
                rc = split_added(t, &t->trie_norm, text, s1.v[i], md, &s2);
        }
    }
    if (rc == 0 && (flags & EF_TOK_ADD_SPECIAL) && t->post_single) {
        /* Template tokens before the sequence. */
        for (size_t i = 0; rc == 0 && i < t->n_post_single && t->post_single[i] >= 0; i++)
            rc = ivec_push(&out, t->post_single[i]);
    }
    for (size_t i = 0; rc == 0 && i < s2.n; i++) {
        if (s2.v[i].id >= 0)
            rc = ivec_push(&out, s2.v[i].id);
        else
            rc = encode_segment(t, text, s2.v[i].start, s2.v[i].end, md, &w, &cache, &keep, &out);
    }
    if (rc == 0 && (flags & EF_TOK_ADD_SPECIAL) && t->post_single) {
        size_t i = 0;
        while (i < t->n_post_single && t->post_single[i] >= 0)
            i++;
        for (i++; rc == 0 && i < t->n_post_single; i++)
            rc = ivec_push(&out, t->post_single[i]);
    }
    if (rc == 0 && !out.v) {
        rc = ivec_push(&out, 0); /* a valid allocation even for no ids */
        out.n = 0;
    }
    if (md)
        pcre2_match_data_free(md);
    ef_free(s1.v);
    ef_free(s2.v);
    ef_free(w.id);
    ef_free(w.prev);
    ef_free(w.next);
    ef_free(w.h.v);
    ef_free(cache.v);
    ef_free(cache.ids.v);
    for (size_t i = 0; i < keep.n; i++)
        ef_free(keep.v[i]);
    ef_free(keep.v);
    if (rc) {
        ef_free(out.v);
        if (rc == EF_ENOMEM)
            return ef_errorf(ctx, rc, "out of memory encoding %zu bytes", len);
        return ef_errorf(ctx, rc, "encode: a pre-tokenizer regex failed (match limit)");
    }
    *ids = out.v;
    *n_ids = out.n;
    return 0;
}
