/*
 * cli/cmd_engine_text.c — `envforge engine encode` (DeepSeek-V3.2 chat encoding of a
 * messages file) and `envforge engine tokenize` (tokenizer.json encode/decode), called by
 * cli/cmd_engine.c with argv[0] the subcommand name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "common/json.h"
#include "engine/encoding.h"
#include "engine/tokenizer.h"

#define MAX_INPUT_BYTES ((size_t)256 << 20)

static const char encode_usage[] =
    "usage: envforge engine encode FILE.json [--chat] [--keep-thinking] [--no-bos]\n"
    "Prints the DeepSeek-V3.2 prompt text for a conversation, exactly (no newline added).\n"
    "FILE.json is {\"tools\": [...], \"messages\": [...]} (OpenAI form; the top-level tools\n"
    "belong to the first message), or a bare messages array; '-' reads stdin.\n"
    "Defaults are DeepSeek's test settings: thinking mode, reasoning of turns before the\n"
    "last user turn dropped, BOS added.\n"
    "  --chat            chat (non-thinking) mode\n"
    "  --keep-thinking   keep the reasoning of earlier turns\n"
    "  --no-bos          leave out the BOS token\n";

static const char tokenize_usage[] =
    "usage: envforge engine tokenize --model DIR|tokenizer.json [options] [TEXT]\n"
    "Encodes TEXT with the model's tokenizer.json and prints the ids as a JSON array.\n"
    "  --file F          read the text from F ('-' for stdin) instead of TEXT\n"
    "  --no-add-special  do not run the post-processor (e.g. a BOS template)\n"
    "  --split-special   treat special-token text as ordinary text\n"
    "  --decode          TEXT (or F) is a JSON array of ids: print the decoded text\n"
    "  --skip-special    with --decode: leave out special tokens\n";

static int read_input(ef_ctx *ctx, const char *path, char **out, size_t *len)
{
    if (strcmp(path, "-") != 0)
        return ef_file_read(ctx, path, MAX_INPUT_BYTES, out, len);
    ef_buf b = EF_BUF_INIT(MAX_INPUT_BYTES);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        rc = ef_buf_append(&b, chunk, n);
    if (rc == 0 && !b.data)
        rc = ef_buf_append(&b, "", 0);
    if (rc) {
        ef_buf_free(&b);
        return ef_errorf(ctx, rc, "stdin: %s", rc == EF_ELIMIT ? "input too large" : "read failed");
    }
    *len = b.len;
    *out = ef_buf_detach(&b);
    return 0;
}

static int fail(ef_ctx *ctx, const char *cmd)
{
    fprintf(stderr, "envforge engine %s: %s\n", cmd, ef_errmsg(ctx));
    ef_ctx_free(ctx);
    return EF_EXIT_FAIL;
}

int ef_cli_engine_encode(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(encode_usage, stdout);
        return EF_EXIT_OK;
    }
    ef_chat_encode_options opt = EF_CHAT_ENCODE_OPTIONS_INIT;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--chat") == 0)
            opt.thinking = 0;
        else if (strcmp(argv[i], "--keep-thinking") == 0)
            opt.drop_thinking = 0;
        else if (strcmp(argv[i], "--no-bos") == 0)
            opt.add_bos = 0;
        else if (argv[i][0] == '-' && argv[i][1] != 0)
            return ef_cli_usage_error("engine encode", "unknown option '%s'", argv[i]);
        else if (!file)
            file = argv[i];
        else
            return ef_cli_usage_error("engine encode", "more than one input file");
    }
    if (!file)
        return ef_cli_usage_error("engine encode", "missing FILE.json");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    char *text = NULL, *prompt = NULL;
    size_t len = 0, prompt_len = 0;
    cJSON *doc = NULL;
    /* Read as Python reads it, so numbers print as DeepSeek's encoder prints them. */
    if (read_input(ctx, file, &text, &len) < 0 ||
        ef_engine_pyjson_parse(ctx, text, len, &doc) < 0) {
        if (text)
            ef_error_wrap(ctx, ef_errcode(ctx), "%s", file);
        ef_free(text);
        return fail(ctx, "encode");
    }
    ef_free(text);
    int rc = cJSON_IsArray(doc) ? ef_engine_chat_encode(ctx, doc, NULL, &opt, &prompt, &prompt_len)
                                : ef_engine_chat_encode_doc(ctx, doc, &opt, &prompt, &prompt_len);
    cJSON_Delete(doc);
    if (rc < 0)
        return fail(ctx, "encode");
    int ok = fwrite(prompt, 1, prompt_len, stdout) == prompt_len && fflush(stdout) == 0;
    ef_free(prompt);
    ef_ctx_free(ctx);
    if (!ok) {
        perror("envforge engine encode: stdout");
        return EF_EXIT_FAIL;
    }
    return EF_EXIT_OK;
}

/* Reads a JSON array of ids. */
static int parse_ids(ef_ctx *ctx, const char *text, size_t len, int32_t **ids, size_t *n)
{
    cJSON *doc;
    if (ef_json_parse(ctx, text, len, "ids", &doc) < 0)
        return ef_errcode(ctx);
    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        return ef_errorf(ctx, EF_EINVAL, "--decode wants a JSON array of token ids");
    }
    size_t cnt = (size_t)cJSON_GetArraySize(doc), k = 0;
    int32_t *v = ef_malloc((cnt + 1) * sizeof *v);
    if (!v) {
        cJSON_Delete(doc);
        return ef_errorf(ctx, EF_ENOMEM, "out of memory");
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, doc)
    {
        if (!cJSON_IsNumber(x) || x->valuedouble != (double)(int32_t)x->valuedouble) {
            ef_free(v);
            cJSON_Delete(doc);
            return ef_errorf(ctx, EF_EINVAL, "ids[%zu] is not an integer token id", k);
        }
        v[k++] = (int32_t)x->valuedouble;
    }
    cJSON_Delete(doc);
    *ids = v;
    *n = cnt;
    return 0;
}

int ef_cli_engine_tokenize(int argc, char **argv)
{
    if (ef_cli_wants_help(argc, argv)) {
        fputs(tokenize_usage, stdout);
        return EF_EXIT_OK;
    }
    const char *model = NULL, *file = NULL, *text_arg = NULL;
    unsigned enc_flags = EF_TOK_ADD_SPECIAL, dec_flags = 0;
    int decode = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc)
            model = argv[++i];
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--no-add-special") == 0)
            enc_flags &= ~EF_TOK_ADD_SPECIAL;
        else if (strcmp(argv[i], "--split-special") == 0)
            enc_flags |= EF_TOK_SPLIT_SPECIAL;
        else if (strcmp(argv[i], "--decode") == 0)
            decode = 1;
        else if (strcmp(argv[i], "--skip-special") == 0)
            dec_flags |= EF_TOK_SKIP_SPECIAL;
        else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !text_arg)
            text_arg = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] == '-')
            return ef_cli_usage_error("engine tokenize", "unknown option or missing value '%s'",
                                      argv[i]);
        else if (!text_arg)
            text_arg = argv[i];
        else
            return ef_cli_usage_error("engine tokenize", "more than one TEXT (quote it)");
    }
    if (!model)
        return ef_cli_usage_error("engine tokenize", "missing --model DIR");
    if (!file && !text_arg)
        return ef_cli_usage_error("engine tokenize", "missing TEXT or --file F");
    ef_ctx *ctx = ef_ctx_new();
    if (!ctx)
        return EF_EXIT_FAIL;
    ef_tokenizer *tok = NULL;
    char *text = NULL;
    size_t len = 0;
    if (file) {
        if (read_input(ctx, file, &text, &len) < 0)
            return fail(ctx, "tokenize");
    } else {
        len = strlen(text_arg);
        text = ef_strndup(text_arg, len);
    }
    if (!text || ef_engine_tok_load(ctx, model, &tok) < 0) {
        ef_free(text);
        return fail(ctx, "tokenize");
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc;
    if (decode) {
        char *out = NULL;
        size_t out_len = 0;
        rc = parse_ids(ctx, text, len, &ids, &n);
        if (rc == 0)
            rc = ef_engine_tok_decode(ctx, tok, ids, n, dec_flags, &out, &out_len);
        if (rc == 0)
            fwrite(out, 1, out_len, stdout);
        ef_free(out);
    } else {
        rc = ef_engine_tok_encode(ctx, tok, text, len, enc_flags, &ids, &n);
        if (rc == 0) {
            putchar('[');
            for (size_t i = 0; i < n; i++)
                printf(i ? ", %d" : "%d", ids[i]);
            puts("]");
        }
    }
    ef_free(ids);
    ef_free(text);
    ef_engine_tok_free(tok);
    if (rc < 0)
        return fail(ctx, "tokenize");
    ef_ctx_free(ctx);
    return fflush(stdout) == 0 ? EF_EXIT_OK : EF_EXIT_FAIL;
}
