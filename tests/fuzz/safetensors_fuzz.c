/*
 * tests/fuzz/safetensors_fuzz.c — fuzz target for the engine's safetensors header parser
 * (engine/safetensors.c) and config.json parser (engine/config.c).
 *
 * Input: byte 0 picks the mode. Even: the rest is a whole safetensors file; parsing must
 * succeed or fail with a message, and on success every tensor's bytes must lie inside the
 * input (each one's first and last byte is read, so ASan catches a bad range) and match
 * shape x dtype size. Odd: the rest is a config.json; same rule.
 *
 * Built with -DEF_LIBFUZZER (cmake -DEF_FUZZ=ON, clang) it is a libFuzzer target:
 *   mkdir -p corpus && ./tests/fuzz_safetensors_lf -max_total_time=60 corpus tests/malformed/engine
 * Without it, main() replays the files given as arguments, or else the malformed corpus
 * (tests/malformed/engine/ *.safetensors, config*.json) and deterministic mutations of a
 * valid file, so CI runs the same checks.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "common/rng.h"
#include "engine/engine_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ef_ctx *ctx;

static void die(const char *what, size_t len)
{
    fprintf(stderr, "safetensors_fuzz: %s (%s), input %zu bytes\n", what, ef_errmsg(ctx), len);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        ctx = ef_ctx_new();
        ef_ctx_set_log(ctx, EF_LOG_ERROR, NULL, NULL);
    }
    if (size < 1)
        return 0;
    /* a private copy, exactly sized, so reads past the end are caught */
    size_t n = size - 1;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return 0;
    memcpy(buf, data + 1, n);
    ef_error_clear(ctx);
    if (data[0] % 2 == 0) {
        ef_st_file f;
        int rc = ef_engine__st_parse(ctx, "fuzz.safetensors", buf, n, &f);
        if (rc == 0) {
            volatile uint8_t sink = 0;
            for (int i = 0; i < f.n_tensors; i++) {
                const ef_st_tensor *t = &f.tensors[i];
                size_t want = ef_engine__dtype_bytes(t->dtype);
                for (int d = 0; d < t->n_dims; d++)
                    want *= (size_t)t->shape[d];
                if (want != t->n_bytes || t->data < buf || t->data + t->n_bytes > buf + n)
                    die("tensor range does not match its shape", size);
                if (t->n_bytes)
                    sink ^= t->data[0] ^ t->data[t->n_bytes - 1];
            }
            (void)sink;
            ef_engine__st_file_clear(&f);
        } else if (!ef_errmsg(ctx)[0]) {
            die("rejected without a message", size);
        }
    } else {
        ef_engine_config c;
        int rc = ef_engine_config_parse(ctx, (const char *)buf, n, "fuzz.json", &c);
        if (rc != 0 && !ef_errmsg(ctx)[0])
            die("config rejected without a message", size);
        if (rc == 0 && (c.hidden_size < 1 || c.index_quant_block < 1 || c.kv_quant_block < 1))
            die("config accepted with invalid sizes", size);
    }
    free(buf);
    return 0;
}

#ifndef EF_LIBFUZZER
static int run_file(const char *path, uint8_t mode)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    uint8_t *buf = malloc(1 << 20);
    size_t n = fread(buf + 1, 1, (1 << 20) - 1, fp);
    fclose(fp);
    buf[0] = mode;
    LLVMFuzzerTestOneInput(buf, n + 1);
    free(buf);
    return 1;
}

/* A valid two-tensor file, then n random mutations of it (bytes flipped, truncated,
 * digits changed inside the header). */
static int mutations(int n)
{
    static const char hdr[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                              "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                              "\"__metadata__\":{\"format\":\"pt\"}}";
    size_t hl = strlen(hdr), len = 1 + 8 + hl + 22;
    uint8_t *base = calloc(1, len), *m = malloc(len);
    for (int i = 0; i < 8; i++)
        base[1 + i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(base + 9, hdr, hl);
    ef_rng r;
    ef_rng_seed(&r, 20251123);
    LLVMFuzzerTestOneInput(base, len);
    for (int k = 0; k < n; k++) {
        memcpy(m, base, len);
        size_t cut = len;
        int edits = 1 + (int)ef_rng_below(&r, 4);
        for (int e = 0; e < edits; e++) {
            size_t at = 1 + ef_rng_below(&r, len - 1);
            switch (ef_rng_below(&r, 4)) {
            case 0:
                m[at] = (uint8_t)ef_rng_below(&r, 256);
                break;
            case 1:
                m[at] = (uint8_t)('0' + ef_rng_below(&r, 10));
                break;
            case 2:
                cut = 1 + ef_rng_below(&r, len - 1);
                break;
            default:
                m[1 + ef_rng_below(&r, 8)] = (uint8_t)ef_rng_below(&r, 256);
            }
        }
        LLVMFuzzerTestOneInput(m, cut);
    }
    free(base);
    free(m);
    return n;
}

int main(int argc, char **argv)
{
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            size_t l = strlen(argv[i]);
            n += run_file(argv[i], l > 5 && strcmp(argv[i] + l - 5, ".json") == 0 ? 1 : 0);
        }
    } else {
        const char *src = getenv("EF_SOURCE_DIR");
        char dir[1024], path[2048];
        snprintf(dir, sizeof dir, "%s/tests/malformed/engine", src ? src : ".");
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            int st = l > 12 && strcmp(e->d_name + l - 12, ".safetensors") == 0;
            int js = l > 5 && strcmp(e->d_name + l - 5, ".json") == 0;
            if (!st && !js)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            n += run_file(path, js ? 1 : 0);
        }
        if (d)
            closedir(d);
        n += mutations(20000);
    }
    ef_ctx_free(ctx);
    printf("safetensors_fuzz: %d inputs, no crash, every rejection had a message\n", n);
    printf("1 passed, 0 failed, 0 skipped\n");
    return 0;
}
#endif
