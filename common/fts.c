/*
 * common/fts.c — the ef_cjk FTS5 tokenizer and query terms for CJK text (see fts.h).
 *
 * The tokenizer cuts the text into stretches: outside CJK runs it hands the stretch to a
 * unicode61 instance made with the same arguments and passes its tokens on with their
 * offsets moved back into the whole text; in a CJK run it emits, at each character, the
 * character itself and, colocated (FTS5_TOKEN_COLOCATED, the same position), the bigram
 * of it and the next character. Queries (FTS5_TOKENIZE_QUERY) emit one token per
 * position instead: the bigram where a next character exists, else the character, so
 * that a quoted run of n characters is a phrase of n positions that lines up with the
 * document's.
 */
#include "common/fts.h"

#include <stdlib.h>
#include <string.h>
#include "common/utf8.h"

size_t ef_fts_cjk_len(const unsigned char *p, size_t n)
{
    if (n == 0 || p[0] < 0xe1)
        return 0; /* ASCII, Latin, Greek, Cyrillic, ... end below U+1000 */
    uint32_t cp;
    size_t k = ef_utf8_next(p, n, &cp);
    if (!k)
        return 0;
    int cjk = (cp >= 0x1100 && cp <= 0x11ff) ||   /* Hangul Jamo */
              (cp >= 0x2e80 && cp <= 0x2fdf) ||   /* CJK and Kangxi radicals */
              (cp >= 0x3005 && cp <= 0x3007) ||   /* 々 〆 〇 */
              (cp >= 0x3041 && cp <= 0x30fa) ||   /* Hiragana, Katakana */
              (cp >= 0x30fc && cp <= 0x30ff) ||   /* ー and Katakana marks */
              (cp >= 0x3131 && cp <= 0x318e) ||   /* Hangul compatibility Jamo */
              (cp >= 0x31f0 && cp <= 0x31ff) ||   /* Katakana extension */
              (cp >= 0x3400 && cp <= 0x4dbf) ||   /* Han extension A */
              (cp >= 0x4e00 && cp <= 0x9fff) ||   /* Han */
              (cp >= 0xa960 && cp <= 0xa97f) ||   /* Hangul Jamo extended A */
              (cp >= 0xac00 && cp <= 0xd7ff) ||   /* Hangul syllables, Jamo extended B */
              (cp >= 0xf900 && cp <= 0xfaff) ||   /* Han compatibility */
              (cp >= 0xff66 && cp <= 0xff9f) ||   /* halfwidth Katakana */
              (cp >= 0x20000 && cp <= 0x3134f);  /* Han extensions B-G */
    return cjk ? k : 0;
}

/* The length of the character at p: its UTF-8 sequence, or 1 for a stray byte. */
static size_t char_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    uint32_t cp;
    size_t k = ef_utf8_next(p, n, &cp);
    return k ? k : 1;
}

int ef_fts_terms(const char *word, size_t n, int (*fn)(void *ud, const char *t, size_t tn),
                 void *ud)
{
    const unsigned char *w = (const unsigned char *)word;
    size_t i = 0, seg = 0;
    int rc;
    while (i < n) {
        size_t k = ef_fts_cjk_len(w + i, n - i);
        if (!k) {
            i += char_len(w + i, n - i);
            continue;
        }
        if (i > seg && (rc = fn(ud, word + seg, i - seg)) != 0)
            return rc;
        /* the run: each character with its successor, or alone when the run is one */
        size_t a = i, ka = k, terms = 0;
        for (;;) {
            size_t b = a + ka, kb = b < n ? ef_fts_cjk_len(w + b, n - b) : 0;
            if (!kb) {
                if (terms == 0 && (rc = fn(ud, word + a, ka)) != 0)
                    return rc;
                i = seg = b;
                break;
            }
            if ((rc = fn(ud, word + a, b + kb - a)) != 0)
                return rc;
            terms++;
            a = b, ka = kb;
        }
    }
    if (n > seg)
        return fn(ud, word + seg, n - seg);
    return 0;
}

/* ---- the tokenizer ------------------------------------------------------------------ */

typedef int (*token_fn)(void *ctx, int tflags, const char *tok, int n_tok, int start, int end);

typedef struct {
    fts5_tokenizer parent; /* unicode61's methods */
    Fts5Tokenizer *inst;   /* and its instance */
} cjk_tokenizer;

typedef struct {
    void *ctx;
    token_fn x_token;
    int base; /* where the stretch starts in the whole text */
} shifted;

static int shifted_token(void *p, int tflags, const char *tok, int n_tok, int start, int end)
{
    shifted *s = p;
    return s->x_token(s->ctx, tflags, tok, n_tok, start + s->base, end + s->base);
}

static int cjk_create(void *ud, const char **argv, int argc, Fts5Tokenizer **out)
{
    fts5_api *api = ud;
    cjk_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return SQLITE_NOMEM;
    void *parent_ud = NULL;
    int rc = api->xFindTokenizer(api, "unicode61", &parent_ud, &t->parent);
    if (rc == SQLITE_OK)
        rc = t->parent.xCreate(parent_ud, argv, argc, &t->inst);
    if (rc != SQLITE_OK) {
        free(t);
        return rc;
    }
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void cjk_delete(Fts5Tokenizer *p)
{
    cjk_tokenizer *t = (cjk_tokenizer *)p;
    if (t) {
        t->parent.xDelete(t->inst);
        free(t);
    }
}

static int cjk_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int n_text,
                        token_fn x_token)
{
    cjk_tokenizer *t = (cjk_tokenizer *)p;
    const unsigned char *s = (const unsigned char *)text;
    size_t n = n_text > 0 ? (size_t)n_text : 0, i = 0, seg = 0;
    int query = (flags & FTS5_TOKENIZE_QUERY) != 0, rc = SQLITE_OK;
    while (i < n) {
        size_t k = ef_fts_cjk_len(s + i, n - i);
        if (!k) {
            i += char_len(s + i, n - i);
            continue;
        }
        if (i > seg) {
            shifted sh = {ctx, x_token, (int)seg};
            rc = t->parent.xTokenize(t->inst, &sh, flags, text + seg, (int)(i - seg),
                                     shifted_token);
            if (rc != SQLITE_OK)
                return rc;
        }
        size_t a = i, ka = k;
        for (;;) {
            size_t b = a + ka, kb = b < n ? ef_fts_cjk_len(s + b, n - b) : 0;
            if (query) {
                size_t e = kb ? b + kb : b; /* the bigram where there is a next character */
                rc = x_token(ctx, 0, text + a, (int)(e - a), (int)a, (int)e);
            } else {
                rc = x_token(ctx, 0, text + a, (int)ka, (int)a, (int)b);
                if (rc == SQLITE_OK && kb)
                    rc = x_token(ctx, FTS5_TOKEN_COLOCATED, text + a, (int)(b + kb - a), (int)a,
                                 (int)(b + kb));
            }
            if (rc != SQLITE_OK)
                return rc;
            if (!kb) {
                i = seg = b;
                break;
            }
            a = b, ka = kb;
        }
    }
    if (n > seg) {
        shifted sh = {ctx, x_token, (int)seg};
        rc = t->parent.xTokenize(t->inst, &sh, flags, text + seg, (int)(n - seg), shifted_token);
    }
    return rc;
}

int ef_fts_register(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return rc;
    if (!api || api->iVersion < 2)
        return SQLITE_ERROR;
    static fts5_tokenizer methods = {cjk_create, cjk_delete, cjk_tokenize};
    return api->xCreateTokenizer(api, "ef_cjk", api, &methods, NULL);
}
