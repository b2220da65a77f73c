/*
 * tests/fuzz/tokenizer_fuzz.c — fuzz target for engine/tokenizer.c.
 *
 * Input: byte 0 picks the mode. Even: the rest is text, encoded with the fixture
 * tokenizer (tests/fixtures/tokenizer/tokenizer.json, found through EF_SOURCE_DIR or
 * EF_TOKENIZER) and decoded back; for valid UTF-8 the round trip must give the same
 * bytes, for invalid UTF-8 encode must fail with a message. Odd: the rest is a
 * tokenizer.json document; loading must succeed or fail with a message, and a loaded
 * tokenizer must encode and decode a fixed text without crashing.
 *
 * Built with -DEF_LIBFUZZER (cmake -DEF_FUZZ=ON, clang) it is a libFuzzer target;
 * without it, main() replays the files given as arguments, the malformed tokenizer corpus
 * and deterministic mutations of seeds, so CI runs the same checks.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "engine/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ef_ctx *ctx;
static ef_tokenizer *fixture_tok;

static void die(const char *what, const uint8_t *data, size_t len)
{
    fprintf(stderr, "tokenizer_fuzz: %s (%s)\ninput (%zu bytes): %.*s\n", what, ef_errmsg(ctx), len,
            (int)len, (const char *)data);
    abort();
}

static void setup(void)
{
    if (ctx)
        return;
    ctx = ef_ctx_new();
    const char *path = getenv("EF_TOKENIZER");
    char buf[2048];
    if (!path) {
        const char *src = getenv("EF_SOURCE_DIR");
        snprintf(buf, sizeof buf, "%s/tests/fixtures/tokenizer/tokenizer.json", src ? src : ".");
        path = buf;
    }
    if (ef_engine_tok_load(ctx, path, &fixture_tok) != 0) {
        fprintf(stderr, "tokenizer_fuzz: %s\n", ef_errmsg(ctx));
        abort();
    }
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = c == 0xe0 ? 0xa0 : 0x80;
            hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = c == 0xf0 ? 0x90 : 0x80;
            hi = c == 0xf4 ? 0x8f : 0xbf;
        } else
            return 0;
        if (n - i < need + 1)
            return 0;
        for (size_t k = 1; k <= need; k++)
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xbf))
                return 0;
        i += need + 1;
    }
    return 1;
}

static void encode_decode(const ef_tokenizer *tok, const uint8_t *text, size_t len, int strict)
{
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = ef_engine_tok_encode(ctx, tok, (const char *)text, len, 0, &ids, &n);
    int valid = valid_utf8(text, len);
    if (rc != 0) {
        if (valid && strict)
            die("valid UTF-8 failed to encode", text, len);
        if (!ef_errmsg(ctx)[0])
            die("error without a message", text, len);
        return;
    }
    if (!valid)
        die("invalid UTF-8 encoded", text, len);
    char *back = NULL;
    size_t back_len = 0;
    if (ef_engine_tok_decode(ctx, tok, ids, n, 0, &back, &back_len) != 0)
        die("decode of encoded ids failed", text, len);
    if (strict && (back_len != len || memcmp(back, text, len) != 0))
        die("decode(encode(text)) != text", text, len);
    ef_free(back);
    ef_free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size == 0)
        return 0;
    const uint8_t *rest = data + 1;
    size_t len = size - 1;
    if ((data[0] & 1) == 0) {
        encode_decode(fixture_tok, rest, len, 1);
        return 0;
    }
    if (len > (1 << 20))
        return 0;
    ef_tokenizer *t = NULL;
    if (ef_engine_tok_load_json(ctx, (const char *)rest, len, "fuzz", &t) == 0) {
        static const char text[] = "Hello 123 天气 <s> \t\n  end😀";
        encode_decode(t, (const uint8_t *)text, sizeof text - 1, 0);
        ef_engine_tok_free(t);
    } else if (!ef_errmsg(ctx)[0] || t) {
        die("load error without a message", data, size);
    }
    return 0;
}

#ifndef EF_LIBFUZZER
static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void mutate_and_run(const uint8_t *seed, size_t n, int rounds)
{
    uint8_t *buf = malloc(n + 64);
    for (int r = 0; r < rounds; r++) {
        size_t len = n;
        memcpy(buf, seed, n);
        int edits = 1 + (int)(next_rand() % 4);
        for (int e = 0; e < edits && len > 1; e++) {
            size_t pos = 1 + (size_t)(next_rand() % (len - 1));
            switch (next_rand() % 3) {
            case 0:
                buf[pos] = (uint8_t)next_rand();
                break;
            case 1:
                len = pos + 1;
                break;
            default: {
                size_t k = (size_t)(next_rand() % 8);
                if (pos + k > len)
                    k = len - pos;
                memmove(buf + pos, buf + pos + k, len - pos - k);
                len -= k;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
}

static const char *const TEXT_SEEDS[] = {
    "\x00Hello, world! 123456 天气很好 😀👍🏽 \t\t\n\n  code(x) { return y->z; }",
    "\x00<｜User｜>hi<｜Assistant｜><think>hmm</think>ok<｜end▁of▁sentence｜>",
    "\x00\xe2\x80\xa8 \xc2\x85 \xe3\x80\x80 \xef\xbb\xbf mixed Ελληνικά١٢٣",
};

static const char *const JSON_SEEDS[] = {
    "\x01{\"added_tokens\": [{\"id\": 4, \"content\": \"<s>\", \"special\": true, \"lstrip\": "
    "true, \"rstrip\": true}], \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": []},"
    " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\","
    " \"pattern\": {\"Regex\": \"\\\\p{N}{1,3}\"}, \"behavior\": \"Isolated\", \"invert\":"
    " false}, {\"type\": \"Split\", \"pattern\": {\"String\": \" \"}, \"behavior\": "
    "\"MergedWithNext\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\":"
    " false, \"use_regex\": false}]}, \"post_processor\": {\"type\": \"TemplateProcessing\","
    " \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": "
    "{\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", "
    "\"ids\": [4], \"tokens\": [\"<s>\"]}}}, \"decoder\": {\"type\": \"ByteLevel\"}, "
    "\"model\": {\"type\": \"BPE\", \"unk_token\": \"?\", \"byte_fallback\": true, "
    "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"1\": 3, \"?\": 5, \"<0x41>\": 6}, "
    "\"merges\": [\"a b\"]}}",
};

int main(int argc, char **argv)
{
    setup();
    int n_inputs = 0, rounds = 5000;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static uint8_t data[1 << 20];
        size_t n = fread(data, 1, sizeof data, f);
        fclose(f);
        LLVMFuzzerTestOneInput(data, n);
        n_inputs++;
    }
    /* The malformed tokenizer.json corpus, as load inputs. */
    const char *src = getenv("EF_SOURCE_DIR");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/tokenizer/malformed", src ? src : ".");
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (!strstr(de->d_name, ".json"))
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "rb");
        if (!f)
            continue;
        static uint8_t data[1 << 16];
        data[0] = 1;
        size_t n = fread(data + 1, 1, sizeof data - 1, f) + 1;
        fclose(f);
        LLVMFuzzerTestOneInput(data, n);
        mutate_and_run(data, n, 200);
        n_inputs++;
    }
    if (d)
        closedir(d);
    for (size_t i = 0; i < sizeof TEXT_SEEDS / sizeof *TEXT_SEEDS; i++) {
        size_t n = strlen(TEXT_SEEDS[i] + 1) + 1;
        mutate_and_run((const uint8_t *)TEXT_SEEDS[i], n, rounds);
        n_inputs++;
    }
    for (size_t i = 0; i < sizeof JSON_SEEDS / sizeof *JSON_SEEDS; i++) {
        size_t n = strlen(JSON_SEEDS[i]);
        LLVMFuzzerTestOneInput((const uint8_t *)JSON_SEEDS[i], n);
        mutate_and_run((const uint8_t *)JSON_SEEDS[i], n, rounds);
        n_inputs++;
    }
    printf("tokenizer_fuzz: %d inputs with mutations: no crash, round trips hold\n", n_inputs);
    printf("1 passed, 0 failed, 0 skipped\n");
    ef_engine_tok_free(fixture_tok);
    ef_ctx_free(ctx);
    return 0;
}
#endif
