/*
 * tests/test_tokenizer.c — engine/tokenizer.c against Hugging Face `tokenizers`.
 *
 * The fixture tests/fixtures/tokenizer/ holds a small byte-level BPE tokenizer configured
 * like DeepSeek-V3's (made by scripts/make_tokenizer_fixtures.py) and the ids and decoded
 * texts `tokenizers` gave for a corpus with CJK, emoji, digits, whitespace runs, code,
 * mixed scripts and special tokens; every case must match exactly. Malformed
 * tokenizer.json files must fail with an error naming the JSON path; loading must survive
 * allocation failure at every step.
 */
#include <dirent.h>
#include "common/json.h"
#include "engine/tokenizer.h"
#include "tests/testlib.h"

static char fixture_dir[1024];
static ef_ctx *ctx;
static ef_tokenizer *tok;
static cJSON *expected;

static const char *fixture(const char *name)
{
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    return path;
}

static void test_load(void)
{
    EF_CHECK_OK(ctx, ef_engine_tok_load(ctx, fixture("tokenizer.json"), &tok));
    if (!tok)
        return;
    EF_CHECK_EQ_INT(ef_engine_tok_vocab_size(tok),
                    cJSON_GetObjectItem(expected, "vocab_size")->valuedouble);
    EF_CHECK_EQ_INT(ef_engine_tok_token_id(tok, "<｜begin▁of▁sentence｜>"), 0);
    EF_CHECK_EQ_INT(ef_engine_tok_token_id(tok, "<｜end▁of▁sentence｜>"), 1);
    EF_CHECK(ef_engine_tok_token_id(tok, "<think>") > 0);
    EF_CHECK_EQ_INT(ef_engine_tok_token_id(tok, "no such token here"), -1);
    EF_CHECK(ef_engine_tok_is_special(tok, 0));
    EF_CHECK(!ef_engine_tok_is_special(tok, ef_engine_tok_token_id(tok, "<think>")));
    EF_CHECK_EQ_STR(ef_engine_tok_token_text(tok, 1), "<｜end▁of▁sentence｜>");
    /* The folder form loads the same file. */
    ef_tokenizer *t2 = NULL;
    EF_CHECK_OK(ctx, ef_engine_tok_load(ctx, fixture_dir, &t2));
    ef_engine_tok_free(t2);
    const char *b;
    size_t n;
    EF_CHECK_OK(ctx, ef_engine_tok_token_bytes(tok, ef_engine_tok_token_id(tok, "Ġthe"), &b, &n));
    EF_CHECK(n == 4 && memcmp(b, " the", 4) == 0);
}

/* A row's hex field as bytes (ef_free); *len its length. */
static char *unhex(const cJSON *row, const char *key, size_t *len)
{
    const cJSON *h = cJSON_GetObjectItem(row, key);
    const char *s = cJSON_IsString(h) ? h->valuestring : "";
    size_t n = strlen(s) / 2;
    char *out = ef_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    out[n] = 0;
    *len = n;
    return out;
}

static int ids_equal(const int32_t *a, size_t na, const cJSON *arr)
{
    if ((size_t)cJSON_GetArraySize(arr) != na)
        return 0;
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        if (a[i++] != (int32_t)x->valuedouble)
            return 0;
    }
    return 1;
}

static void print_ids(const char *label, const int32_t *a, size_t n)
{
    printf("      %s:", label);
    for (size_t i = 0; i < n && i < 40; i++)
        printf(" %d", a[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

static void test_encode_matches_tokenizers(void)
{
    if (!tok)
        EF_SKIP_CASE("tokenizer did not load");
    const cJSON *rows = cJSON_GetObjectItem(expected, "encode"), *row;
    int n = 0, bad = 0;
    size_t n_ids = 0;
    cJSON_ArrayForEach(row, rows)
    {
        size_t text_len;
        char *text = unhex(row, "text_hex", &text_len);
        const cJSON *want = cJSON_GetObjectItem(row, "ids");
        int32_t *ids = NULL;
        size_t n_got = 0;
        int rc = ef_engine_tok_encode(ctx, tok, text, text_len, EF_TOK_ADD_SPECIAL, &ids, &n_got);
        n++;
        n_ids += n_got;
        if (rc != 0 || !ids_equal(ids, n_got, want)) {
            bad++;
            EF_CHECK_MSG(0, "case %d text \"%.60s\": rc %d %s", n - 1, text, rc, ef_errmsg(ctx));
            if (rc == 0) {
                print_ids("got ", ids, n_got);
                int32_t w[64];
                size_t k = 0;
                const cJSON *x;
                cJSON_ArrayForEach(x, want) if (k < 64) w[k++] = (int32_t)x->valuedouble;
                print_ids("want", w, k);
            }
        }
        ef_free(ids);
        ef_free(text);
    }
    printf("    %d texts, %zu ids, %d differ from tokenizers\n", n, n_ids, bad);
    EF_CHECK(n >= 100);
}

static void check_decode(const cJSON *row, const int32_t *ids, size_t n, int *bad)
{
    const char *keys[2] = {"decoded_hex", "decoded_skip_special_hex"};
    for (int k = 0; k < 2; k++) {
        char *text = NULL;
        size_t len = 0;
        int rc = ef_engine_tok_decode(ctx, tok, ids, n, k ? EF_TOK_SKIP_SPECIAL : 0, &text, &len);
        size_t want_len;
        char *want = unhex(row, keys[k], &want_len);
        if (rc != 0 || len != want_len || memcmp(text, want, len) != 0) {
            (*bad)++;
            EF_CHECK_MSG(0, "%s: got \"%.80s\" want \"%.80s\" (%s)", keys[k], text ? text : "",
                         want, ef_errmsg(ctx));
        }
        ef_free(want);
        ef_free(text);
    }
}

static void test_decode_matches_tokenizers(void)
{
    if (!tok)
        EF_SKIP_CASE("tokenizer did not load");
    int n = 0, bad = 0;
    const char *sections[2] = {"encode", "decode"};
    for (int s = 0; s < 2; s++) {
        const cJSON *row;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(expected, sections[s]))
        {
            const cJSON *arr = cJSON_GetObjectItem(row, "ids"), *x;
            size_t k = 0, cnt = (size_t)cJSON_GetArraySize(arr);
            int32_t *ids = ef_malloc((cnt + 1) * sizeof *ids);
            cJSON_ArrayForEach(x, arr) ids[k++] = (int32_t)x->valuedouble;
            check_decode(row, ids, cnt, &bad);
            ef_free(ids);
            n++;
        }
    }
    printf("    %d id lists decoded twice (with and without specials), %d differ\n", n, bad);
}

static void test_encode_edges(void)
{
    if (!tok)
        EF_SKIP_CASE("tokenizer did not load");
    int32_t *ids = NULL;
    size_t n = 99;
    /* Invalid UTF-8 is an error naming the offset. */
    EF_CHECK_EQ_INT(ef_engine_tok_encode(ctx, tok, "ab\xff", 3, 0, &ids, &n), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "byte 2");
    EF_CHECK_EQ_INT(ef_engine_tok_encode(ctx, tok, "\xe4\xb8", 2, 0, &ids, &n), EF_EINVAL);
    EF_CHECK_EQ_INT(ef_engine_tok_encode(ctx, tok, "\xed\xa0\x80", 3, 0, &ids, &n), EF_EINVAL);
    /* Empty text: no ids, a valid allocation. */
    EF_CHECK_OK(ctx, ef_engine_tok_encode(ctx, tok, "", 0, 0, &ids, &n));
    EF_CHECK_EQ_INT(n, 0);
    ef_free(ids);
    /* SPLIT_SPECIAL: special token text is ordinary text. */
    const char *s = "<｜User｜>";
    EF_CHECK_OK(ctx, ef_engine_tok_encode(ctx, tok, s, strlen(s), 0, &ids, &n));
    EF_CHECK(n == 1 && ids[0] == ef_engine_tok_token_id(tok, s));
    ef_free(ids);
    EF_CHECK_OK(ctx, ef_engine_tok_encode(ctx, tok, s, strlen(s), EF_TOK_SPLIT_SPECIAL, &ids, &n));
    EF_CHECK(n > 1);
    ef_free(ids);
    /* Unknown ids in decode. */
    int32_t badids[2] = {5, 1 << 20};
    char *text = NULL;
    EF_CHECK_EQ_INT(ef_engine_tok_decode(ctx, tok, badids, 2, 0, &text, NULL), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "position 1");
    /* Round trip of a long mixed text. */
    ef_buf b = EF_BUF_INIT(1 << 22);
    for (int i = 0; i < 2000; i++)
        ef_buf_appendf(&b, "line %d: 天气 %s\t😀 x=%d;\n", i, i % 3 ? "foo" : "  bar  ", i * 7);
    EF_CHECK_OK(ctx, ef_engine_tok_encode(ctx, tok, b.data, b.len, 0, &ids, &n));
    size_t len = 0;
    EF_CHECK_OK(ctx, ef_engine_tok_decode(ctx, tok, ids, n, 0, &text, &len));
    EF_CHECK(text && len == b.len && memcmp(text, b.data, len) == 0);
    ef_free(text);
    ef_free(ids);
    ef_buf_free(&b);
}

/* Small tokenizers with the other supported options (Split behaviours, inverted splits,
 * GPT-2 ByteLevel with prefix space, lstrip/rstrip added tokens, a template
 * post-processor, unk with fuse_unk, byte_fallback, ignore_merges, no decoder). */
static void test_variants_match_tokenizers(void)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    if (ef_file_read(ctx, fixture("variants.json"), 1 << 24, &text, &len) == 0)
        ef_json_parse(ctx, text, len, "variants.json", &doc);
    ef_free(text);
    EF_CHECK(doc != NULL);
    int n_var = 0, n_cases = 0, bad = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItem(doc, "variants"))
    {
        const char *name = cJSON_GetObjectItem(v, "name")->valuestring;
        ef_tokenizer *t = NULL;
        if (ef_engine_tok_load_doc(ctx, cJSON_GetObjectItem(v, "tokenizer"), name, &t) != 0) {
            EF_CHECK_MSG(0, "%s: %s", name, ef_errmsg(ctx));
            continue;
        }
        n_var++;
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(v, "cases"))
        {
            size_t tl, dl, n = 0, out_len = 0;
            char *in = unhex(c, "text_hex", &tl), *want = unhex(c, "decoded_hex", &dl), *out = NULL;
            int32_t *ids = NULL;
            int ok = ef_engine_tok_encode(ctx, t, in, tl, EF_TOK_ADD_SPECIAL, &ids, &n) == 0 &&
                     ids_equal(ids, n, cJSON_GetObjectItem(c, "ids"));
            if (!ok) {
                EF_CHECK_MSG(0, "%s: encode \"%s\" differs (%s)", name, in, ef_errmsg(ctx));
                if (ids)
                    print_ids("got ", ids, n);
            } else if (ef_engine_tok_decode(ctx, t, ids, n, 0, &out, &out_len) != 0 ||
                       out_len != dl || memcmp(out, want, dl) != 0) {
                ok = 0;
                EF_CHECK_MSG(0, "%s: decode \"%s\" gives \"%s\" want \"%s\"", name, in,
                             out ? out : "", want);
            }
            bad += !ok;
            n_cases++;
            ef_free(out);
            ef_free(ids);
            ef_free(in);
            ef_free(want);
        }
        ef_engine_tok_free(t);
    }
    printf("    %d variant tokenizers, %d texts, %d differ from tokenizers\n", n_var, n_cases, bad);
    EF_CHECK(n_var >= 9);
    cJSON_Delete(doc);
}

static void test_malformed_corpus(void)
{
    char dir[1200], listpath[1300];
    snprintf(dir, sizeof dir, "%s/malformed", fixture_dir);
    snprintf(listpath, sizeof listpath, "%s/EXPECTED.txt", dir);
    FILE *f = fopen(listpath, "r");
    EF_CHECK(f != NULL);
    if (!f)
        return;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = 0;
        char path[2600];
        snprintf(path, sizeof path, "%s/%s", dir, line);
        ef_tokenizer *t = NULL;
        int rc = ef_engine_tok_load(ctx, path, &t);
        EF_CHECK_MSG(rc < 0 && t == NULL, "%s loaded but should fail", line);
        EF_CHECK_MSG(strstr(ef_errmsg(ctx), tab + 1) != NULL, "%s: message \"%s\" lacks \"%s\"",
                     line, ef_errmsg(ctx), tab + 1);
        ef_engine_tok_free(t);
        n++;
    }
    fclose(f);
    printf("    %d malformed files rejected with the expected message\n", n);
    EF_CHECK(n >= 25);
}

static void test_alloc_failure(void)
{
    const char *json =
        "{\"added_tokens\": [{\"id\": 4, \"content\": \"<s>\", \"special\": true}],"
        " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
        "  {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}{1,3}\"}, \"behavior\": "
        "\"Isolated\", \"invert\": false},"
        "  {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
        " \"decoder\": {\"type\": \"ByteLevel\"},"
        " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"1\": 3},"
        " \"merges\": [\"a b\"]}}";
    long n_runs = 0;
    EF_ALLOC_LOOP(n, 2000)
    {
        n_runs++;
        ef_tokenizer *t = NULL;
        if (ef_engine_tok_load_json(ctx, json, strlen(json), "mini", &t) == 0) {
            int32_t *ids = NULL;
            size_t k = 0;
            if (ef_engine_tok_encode(ctx, t, "ab<s>11ab", 9, 0, &ids, &k) == 0) {
                char *text = NULL;
                if (ef_engine_tok_decode(ctx, t, ids, k, 0, &text, NULL) == 0)
                    ef_free(text);
                ef_free(ids);
            }
            ef_engine_tok_free(t);
        }
    }
    printf("    %ld allocation-failure runs\n", n_runs);
    /* Without failures the mini tokenizer gives ab, <s>, 11 (digits), ab. */
    ef_tokenizer *t = NULL;
    EF_CHECK_OK(ctx, ef_engine_tok_load_json(ctx, json, strlen(json), "mini", &t));
    if (t) {
        int32_t *ids = NULL;
        size_t k = 0;
        EF_CHECK_OK(ctx, ef_engine_tok_encode(ctx, t, "ab<s>11ab", 9, 0, &ids, &k));
        EF_CHECK(k == 5 && ids[0] == 2 && ids[1] == 4 && ids[2] == 3 && ids[3] == 3 && ids[4] == 2);
        ef_free(ids);
        ef_engine_tok_free(t);
    }
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    const char *src = getenv("EF_SOURCE_DIR");
    snprintf(fixture_dir, sizeof fixture_dir, "%s/tests/fixtures/tokenizer", src ? src : ".");
    ctx = ef_ctx_new();
    char *text = NULL;
    size_t len = 0;
    if (ef_file_read(ctx, fixture("expected.json"), 1 << 24, &text, &len) == 0)
        ef_json_parse(ctx, text, len, "expected.json", &expected);
    ef_free(text);
    if (!expected) {
        fprintf(stderr, "cannot read %s: %s\n", fixture("expected.json"), ef_errmsg(ctx));
        return 1;
    }
    EF_RUN(test_load);
    EF_RUN(test_encode_matches_tokenizers);
    EF_RUN(test_decode_matches_tokenizers);
    EF_RUN(test_encode_edges);
    EF_RUN(test_variants_match_tokenizers);
    EF_RUN(test_malformed_corpus);
    EF_RUN(test_alloc_failure);
    ef_engine_tok_free(tok);
    cJSON_Delete(expected);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
