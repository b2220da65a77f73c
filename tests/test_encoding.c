/*
 * tests/test_encoding.c — engine/encoding*.c: the DeepSeek-V3.2 chat encoding against
 * DeepSeek's golden vectors, the DSML parser, and Python-compatible JSON printing.
 *
 * Golden vectors: ../shared/fixtures/dsv32-encoding/ (English) and its zh/ (Chinese), or
 * the unchanged copy in tests/fixtures/dsv32-encoding/ when the shared folder is absent.
 * Settings as in DeepSeek's test: tools attached to the first message, thinking mode,
 * earlier reasoning dropped, BOS added, compared with the output file stripped of its
 * final newline. Parse-back: every assistant turn, encoded after the turns before it, must
 * parse back to the same role, reasoning, content and tool calls (ids aside).
 */
#define _POSIX_C_SOURCE 200809L /* popen */
#include "common/json.h"
#include "engine/encoding.h"
#include "tests/testlib.h"

static ef_ctx *ctx;
static char golden_dir[1024];

static int dir_has(const char *dir, const char *name)
{
    char p[2600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

static void find_golden(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    src = src ? src : ".";
    snprintf(golden_dir, sizeof golden_dir, "%s/tests/fixtures/dsv32-encoding", src);
    if (dir_has(golden_dir, "test_input.json"))
        return;
    snprintf(golden_dir, sizeof golden_dir, "%s/../shared/fixtures/dsv32-encoding", src);
    if (!dir_has(golden_dir, "test_input.json"))
        golden_dir[0] = 0;
}

static cJSON *read_json(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    if (ef_file_read(ctx, path, 1 << 24, &text, &len) == 0)
        ef_json_parse(ctx, text, len, path, &doc);
    ef_free(text);
    return doc;
}

static void check_golden(const char *sub)
{
    char in[1300], outp[1300];
    snprintf(in, sizeof in, "%s/%stest_input.json", golden_dir, sub);
    snprintf(outp, sizeof outp, "%s/%stest_output.txt", golden_dir, sub);
    cJSON *doc = read_json(in);
    char *gold = NULL;
    size_t gold_len = 0;
    EF_CHECK_OK(ctx, ef_file_read(ctx, outp, 1 << 24, &gold, &gold_len));
    EF_CHECK(doc != NULL);
    if (!doc || !gold) {
        cJSON_Delete(doc);
        ef_free(gold);
        return;
    }
    while (gold_len > 0 && (gold[gold_len - 1] == '\n' || gold[gold_len - 1] == ' ' ||
                            gold[gold_len - 1] == '\r' || gold[gold_len - 1] == '\t'))
        gold[--gold_len] = 0;
    char *prompt = NULL;
    size_t len = 0;
    ef_chat_encode_options opt = EF_CHAT_ENCODE_OPTIONS_INIT;
    EF_CHECK_OK(ctx, ef_engine_chat_encode_doc(ctx, doc, &opt, &prompt, &len));
    if (prompt) {
        size_t k = 0;
        while (k < len && k < gold_len && prompt[k] == gold[k])
            k++;
        EF_CHECK_MSG(len == gold_len && k == len,
                     "%s: %zu bytes vs golden %zu; first difference at byte %zu:\n"
                     "      ours:   \"%.80s\"\n      golden: \"%.80s\"",
                     in, len, gold_len, k, prompt + k, gold + (k < gold_len ? k : gold_len));
        printf("    %stest_output.txt: %zu bytes, %s\n", sub, len,
               len == gold_len && k == len ? "byte-identical" : "DIFFERENT");
    }
    ef_free(prompt);
    ef_free(gold);
    cJSON_Delete(doc);
}

static void test_golden_en(void)
{
    if (!golden_dir[0])
        EF_SKIP_CASE("no golden vectors (tests/fixtures/dsv32-encoding or ../shared)");
    check_golden("");
}

static void test_golden_zh(void)
{
    if (!golden_dir[0])
        EF_SKIP_CASE("no golden vectors");
    check_golden("zh/");
}

/* The committed copy must equal the shared originals, byte for byte. */
static void test_copy_matches_shared(void)
{
    const char *src = getenv("EF_SOURCE_DIR");
    static const char *files[] = {"SOURCE.md", "test_input.json", "test_output.txt",
                                  "zh/test_input.json", "zh/test_output.txt"};
    char shared[1200], copy[1200];
    snprintf(shared, sizeof shared, "%s/../shared/fixtures/dsv32-encoding", src ? src : ".");
    snprintf(copy, sizeof copy, "%s/tests/fixtures/dsv32-encoding", src ? src : ".");
    if (!dir_has(shared, "test_input.json"))
        EF_SKIP_CASE("../shared/fixtures/dsv32-encoding is absent");
    for (size_t i = 0; i < EF_ARRAY_LEN(files); i++) {
        char a[1300 + 32], b[1300 + 32];
        snprintf(a, sizeof a, "%s/%s", shared, files[i]);
        snprintf(b, sizeof b, "%s/%s", copy, files[i]);
        char *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0;
        EF_CHECK_OK(ctx, ef_file_read(ctx, a, 1 << 24, &x, &nx));
        EF_CHECK_OK(ctx, ef_file_read(ctx, b, 1 << 24, &y, &ny));
        EF_CHECK_MSG(x && y && nx == ny && memcmp(x, y, nx) == 0, "%s differs from %s", b, a);
        ef_free(x);
        ef_free(y);
    }
}

static const char *str_or_empty(const cJSON *m, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(m, key);
    return cJSON_IsString(x) ? x->valuestring : "";
}

/* Encodes messages[i] after messages[:i], parses it back, compares. Returns 1 if equal. */
static int parse_back_one(const cJSON *messages, int i)
{
    cJSON *context = cJSON_CreateArray(), *one = cJSON_CreateArray();
    int k = 0, ok = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (k < i)
            cJSON_AddItemToArray(context, cJSON_Duplicate(m, 1));
        else if (k == i)
            cJSON_AddItemToArray(one, cJSON_Duplicate(m, 1));
        k++;
    }
    const cJSON *msg = one->child;
    char *text = NULL;
    size_t len = 0;
    ef_chat_encode_options eo = EF_CHAT_ENCODE_OPTIONS_INIT;
    ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
    cJSON *parsed = NULL;
    int rc = ef_engine_chat_encode(ctx, one, context, &eo, &text, &len);
    if (rc == 0)
        rc = ef_engine_chat_parse(ctx, text, len, &po, &parsed);
    if (rc != 0) {
        EF_CHECK_MSG(0, "messages[%d]: %s", i, ef_errmsg(ctx));
        goto done;
    }
    ok = strcmp(str_or_empty(parsed, "role"), "assistant") == 0 &&
         strcmp(str_or_empty(parsed, "content"), str_or_empty(msg, "content")) == 0 &&
         strcmp(str_or_empty(parsed, "reasoning_content"),
                str_or_empty(msg, "reasoning_content")) == 0;
    const cJSON *want = cJSON_GetObjectItem(msg, "tool_calls");
    const cJSON *got = cJSON_GetObjectItem(parsed, "tool_calls");
    int n_want = cJSON_IsArray(want) ? cJSON_GetArraySize(want) : 0;
    ok = ok && cJSON_GetArraySize(got) == n_want;
    for (int c = 0; ok && c < n_want; c++) {
        const cJSON *wf = cJSON_GetObjectItem(cJSON_GetArrayItem(want, c), "function");
        const cJSON *gc = cJSON_GetArrayItem(got, c);
        const cJSON *gf = cJSON_GetObjectItem(gc, "function");
        ok = strcmp(str_or_empty(gc, "type"), "function") == 0 &&
             strcmp(str_or_empty(gf, "name"), str_or_empty(wf, "name")) == 0 &&
             strcmp(str_or_empty(gf, "arguments"), str_or_empty(wf, "arguments")) == 0;
    }
    if (!ok) {
        char *p = cJSON_PrintUnformatted(parsed);
        EF_CHECK_MSG(0, "messages[%d] parses back as %s", i, p);
        cJSON_free(p);
    }
done:
    cJSON_Delete(parsed);
    ef_free(text);
    cJSON_Delete(context);
    cJSON_Delete(one);
    return ok;
}

static void check_parse_back(const char *sub)
{
    char in[1300];
    snprintf(in, sizeof in, "%s/%stest_input.json", golden_dir, sub);
    cJSON *doc = read_json(in);
    EF_CHECK(doc != NULL);
    if (!doc)
        return;
    cJSON *messages = cJSON_GetObjectItem(doc, "messages");
    cJSON_AddItemToObject(messages->child, "tools",
                          cJSON_Duplicate(cJSON_GetObjectItem(doc, "tools"), 1));
    int n = 0, good = 0, i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages)
    {
        if (strcmp(str_or_empty(m, "role"), "assistant") == 0) {
            n++;
            good += parse_back_one(messages, i);
        }
        i++;
    }
    printf("    %stest_input.json: %d of %d assistant turns parse back equal\n", sub, good, n);
    EF_CHECK(n >= 4 && good == n);
    cJSON_Delete(doc);
}

static void test_parse_back_en(void)
{
    if (!golden_dir[0])
        EF_SKIP_CASE("no golden vectors");
    check_parse_back("");
}

static void test_parse_back_zh(void)
{
    if (!golden_dir[0])
        EF_SKIP_CASE("no golden vectors");
    check_parse_back("zh/");
}

/* Runs cmd, returns its stdout (ef_free) or NULL. */
static char *run_capture(const char *cmd, size_t *len, int *status)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    ef_buf b = EF_BUF_INIT(1 << 24);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        ef_buf_append(&b, chunk, n);
    *status = pclose(p);
    ef_buf_append(&b, "", 0);
    *len = b.len;
    return ef_buf_detach(&b);
}

/* `envforge engine encode FILE` prints the golden text exactly. */
static void test_cli_encode(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || !golden_dir[0])
        EF_SKIP_CASE("EF_BIN or the golden vectors are missing");
    char cmd[3000];
    size_t len = 0;
    int status = 0;
    snprintf(cmd, sizeof cmd, "'%s' engine encode --help 2>/dev/null", bin);
    char *help = run_capture(cmd, &len, &status);
    int landed = help && strstr(help, "Prints the DeepSeek-V3.2 prompt text") != NULL;
    ef_free(help);
    if (!landed)
        EF_SKIP_CASE("cli/cmd_engine.c does not dispatch `engine encode` yet");
    const char *subs[2] = {"", "zh/"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "'%s' engine encode '%s/%stest_input.json'", bin, golden_dir,
                 subs[i]);
        char *out = run_capture(cmd, &len, &status);
        char path[1300], *gold = NULL;
        size_t gold_len = 0;
        snprintf(path, sizeof path, "%s/%stest_output.txt", golden_dir, subs[i]);
        ef_file_read(ctx, path, 1 << 24, &gold, &gold_len);
        while (gold && gold_len > 0 && gold[gold_len - 1] == '\n')
            gold_len--;
        EF_CHECK_MSG(status == 0 && out && gold && len == gold_len && memcmp(out, gold, len) == 0,
                     "%s: exit %d, %zu bytes vs %zu golden", cmd, status, len, gold_len);
        ef_free(out);
        ef_free(gold);
    }
    /* A missing file is a clear failure. */
    snprintf(cmd, sizeof cmd, "'%s' engine encode /nonexistent/x.json 2>&1", bin);
    char *out = run_capture(cmd, &len, &status);
    EF_CHECK(status != 0);
    EF_CHECK_CONTAINS(out, "/nonexistent/x.json");
    ef_free(out);
}

/* ---- Python-compatible JSON ------------------------------------------------------------- */

static void test_pyjson_redump(void)
{
    static const char *cases[][2] = {
        {"1.0", "1.0"},
        {"1e16", "1e+16"},
        {"1e-5", "1e-05"},
        {"0.0001", "0.0001"},
        {"123.456", "123.456"},
        {"-0.0", "-0.0"},
        {"1.5e300", "1.5e+300"},
        {"2.5e-8", "2.5e-08"},
        {"1234567890123456.0", "1234567890123456.0"},
        {"12345678901234567.0", "1.2345678901234568e+16"},
        {"0.1", "0.1"},
        {"0.3333333333333333", "0.3333333333333333"},
        {"1E400", "Infinity"},
        {"-1e-400", "-0.0"},
        {"5e-324", "5e-324"},
        {"100", "100"},
        {"-0", "0"},
        {"12345678901234567890123", "12345678901234567890123"},
        {"[1, 2.50, {\"a\" :\"\\u00e9\\n\\ud83d\\ude00\\u0001\\/\"}]",
         "[1, 2.5, {\"a\": \"é\\n😀\\u0001/\"}]"},
        {"NaN", "NaN"},
        {"-Infinity", "-Infinity"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"9007199254740993.0", "9007199254740992.0"},
        {"0.000123", "0.000123"},
        {"1e-4", "0.0001"},
        {"99999999999999999.0", "1e+17"},
        {"1e15", "1000000000000000.0"},
        {" {\"k\":[true,false,null],\"\":{}} ", "{\"k\": [true, false, null], \"\": {}}"},
        {"\"tab\\there\\u007f\"", "\"tab\\there\x7f\""},
        {"{\"a\":{\"x\":1,\"x\":2,\"y\":[{\"k\":1,\"k\":\"s\"}]},\"a\":{\"z\":1.0}}",
         "{\"a\": {\"z\": 1.0}}"},
        {"[{\"b\":1,\"a\":2,\"b\":3}, {\"x\": {\"y\": 1, \"y\": [2]}}]",
         "[{\"b\": 3, \"a\": 2}, {\"x\": {\"y\": [2]}}]"},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        ef_buf b = EF_BUF_INIT(1 << 16);
        int rc = ef_engine_pyjson_redump(ctx, cases[i][0], strlen(cases[i][0]), &b);
        EF_CHECK_MSG(rc == 0 && b.data && strcmp(b.data, cases[i][1]) == 0, "%s -> %s (want %s) %s",
                     cases[i][0], b.data ? b.data : "(null)", cases[i][1], ef_errmsg(ctx));
        ef_buf_free(&b);
    }
    static const char *bad[] = {"",           "01",          "1.",       "[1,]",
                                "{\"a\" 1}",  "\"\\ud800\"", "\"a\nb\"", "tru",
                                "{\"a\":1}x", "\"\\x\"",     "-",        "\"\xff\""};
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
        ef_buf b = EF_BUF_INIT(1 << 16);
        EF_CHECK_MSG(ef_engine_pyjson_redump(ctx, bad[i], strlen(bad[i]), &b) == EF_EPARSE,
                     "'%s' should be rejected", bad[i]);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), "JSON: ");
        ef_buf_free(&b);
    }
    /* Deep nesting is a limit, not a stack overflow. */
    ef_buf deep = EF_BUF_INIT(1 << 20);
    for (int i = 0; i < 100000; i++)
        ef_buf_putc(&deep, '[');
    EF_CHECK(ef_engine_pyjson_redump(ctx, deep.data, deep.len, NULL) == EF_ELIMIT);
    ef_buf_free(&deep);
}

static void test_pyjson_members(void)
{
    const char *text = "{\"b\": 1, \"a\": \"x\\\"y\", \"b\": [1.0, {\"z\": null}], \"c\": \"\"}";
    ef_pyjson_member *m = NULL;
    size_t n = 0;
    EF_CHECK_OK(ctx, ef_engine_pyjson_object_members(ctx, text, strlen(text), &m, &n));
    EF_CHECK_EQ_INT(n, 3);
    if (n == 3) {
        EF_CHECK_EQ_STR(m[0].key, "b");
        EF_CHECK_EQ_STR(m[0].value, "[1.0, {\"z\": null}]");
        EF_CHECK(!m[0].is_string);
        EF_CHECK_EQ_STR(m[1].value, "x\"y");
        EF_CHECK(m[1].is_string);
        EF_CHECK_EQ_STR(m[2].value, "");
    }
    ef_engine_pyjson_members_free(m, n);
    EF_CHECK(ef_engine_pyjson_object_members(ctx, "[1]", 3, &m, &n) == EF_EPARSE);
    /* cJSON values print as Python prints them. */
    cJSON *v = cJSON_Parse("{\"s\": \"é\\u0002\", \"n\": [1, -2.5, 1e20, 0.1], \"o\": {}}");
    ef_buf b = EF_BUF_INIT(1 << 16);
    EF_CHECK_OK(ctx, ef_engine_pyjson_dump(v, &b));
    EF_CHECK_EQ_STR(b.data, "{\"s\": \"é\\u0002\", \"n\": [1, -2.5, 1e+20, 0.1], \"o\": {}}");
    ef_buf_free(&b);
    cJSON_Delete(v);
}

/* Documents read with ef_engine_pyjson_parse keep Python's number text. */
static void test_pyjson_parse(void)
{
    const char *text =
        "{\"a\": 1.0, \"b\": [2.50, 1e16, 10, -0, 12345678901234567890], "
        "\"c\": {\"d\": NaN, \"d\": -Infinity}, \"e\": \"é\\n\", \"f\": [true, null]}";
    cJSON *v = NULL;
    EF_CHECK_OK(ctx, ef_engine_pyjson_parse(ctx, text, strlen(text), &v));
    ef_buf b = EF_BUF_INIT(1 << 16);
    EF_CHECK_OK(ctx, ef_engine_pyjson_dump(v, &b));
    EF_CHECK_EQ_STR(b.data, "{\"a\": 1.0, \"b\": [2.5, 1e+16, 10, 0, 12345678901234567890], "
                            "\"c\": {\"d\": -Infinity}, \"e\": \"é\\n\", \"f\": [true, null]}");
    ef_buf_free(&b);
    cJSON_Delete(v);
    v = NULL;
    EF_CHECK_EQ_INT(ef_engine_pyjson_parse(ctx, "[1,]", 4, &v), EF_EPARSE);
    EF_CHECK_EQ_INT(ef_engine_pyjson_parse(ctx, "\"a\\u0000b\"", 10, &v), EF_EPARSE);
    EF_CHECK(v == NULL);
    /* Through the encoder: a tool schema's 0.5 and 1.0 print as Python prints them. */
    const char *doc_text =
        "{\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": "
        "{\"type\": \"number\", \"minimum\": 1.0, \"maximum\": 0.5}}}], \"messages\": "
        "[{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"q\"}]}";
    EF_CHECK_OK(ctx, ef_engine_pyjson_parse(ctx, doc_text, strlen(doc_text), &v));
    char *prompt = NULL;
    EF_CHECK_OK(ctx, ef_engine_chat_encode_doc(ctx, v, NULL, &prompt, NULL));
    EF_CHECK_CONTAINS(prompt, "{\"name\": \"f\", \"parameters\": {\"type\": \"number\", "
                              "\"minimum\": 1.0, \"maximum\": 0.5}}\n</functions>");
    ef_free(prompt);
    cJSON_Delete(v);
}

/* ---- encoder details ----------------------------------------------------------------------- */

static char *encode_text(const char *json, int thinking, int *rc_out)
{
    cJSON *msgs = cJSON_Parse(json);
    char *out = NULL;
    ef_chat_encode_options o = EF_CHAT_ENCODE_OPTIONS_INIT;
    o.thinking = thinking;
    *rc_out = ef_engine_chat_encode(ctx, msgs, NULL, &o, &out, NULL);
    cJSON_Delete(msgs);
    return out;
}

static void test_encode_modes(void)
{
    int rc;
    const char *conv =
        "[{\"role\": \"system\", \"content\": \"S\"},"
        " {\"role\": \"user\", \"content\": \"Q1\"},"
        " {\"role\": \"assistant\", \"content\": \"A1\", \"reasoning_content\": \"R1\"},"
        " {\"role\": \"user\", \"content\": \"Q2\"}]";
    char *t = encode_text(conv, 1, &rc);
    EF_CHECK_EQ_STR(
        t, "<｜begin▁of▁sentence｜>S<｜User｜>Q1<｜Assistant｜></think>A1<｜end▁of▁sentence｜>"
           "<｜User｜>Q2<｜Assistant｜><think>");
    ef_free(t);
    t = encode_text(conv, 0, &rc);
    EF_CHECK_EQ_STR(
        t, "<｜begin▁of▁sentence｜>S<｜User｜>Q1<｜Assistant｜></think>A1<｜end▁of▁sentence｜>"
           "<｜User｜>Q2<｜Assistant｜></think>");
    ef_free(t);
    /* A user turn without content prints None, as Python's format does. */
    t = encode_text("[{\"role\": \"user\"}]", 1, &rc);
    EF_CHECK_EQ_STR(t, "<｜begin▁of▁sentence｜><｜User｜>None<｜Assistant｜><think>");
    ef_free(t);
    /* Developer turn with a response format. */
    t = encode_text("[{\"role\": \"developer\", \"content\": \"D\", \"response_format\": "
                    "{\"type\": \"json\"}}]",
                    0, &rc);
    EF_CHECK_EQ_STR(t, "<｜begin▁of▁sentence｜><｜User｜>\n\n## Response Format:\n\nYou MUST "
                       "strictly adhere to the following schema to reply:\n{\"type\": \"json\"}"
                       "\n\n# The user's message is: D<｜Assistant｜></think>");
    ef_free(t);
    /* Arguments with nested JSON keep Python's spacing; key order is kept. */
    t = encode_text(
        "[{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", "
        "\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", "
        "\"arguments\": \"{\\\"z\\\":[1,2.0],\\\"a\\\":\\\"s\\\",\\\"t\\\":true}\"}}]}]",
        1, &rc);
    EF_CHECK_EQ_STR(t,
                    "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><think></think>\n\n"
                    "<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n"
                    "<｜DSML｜parameter name=\"z\" string=\"false\">[1, 2.0]</｜DSML｜parameter>\n"
                    "<｜DSML｜parameter name=\"a\" string=\"true\">s</｜DSML｜parameter>\n"
                    "<｜DSML｜parameter name=\"t\" string=\"false\">true</｜DSML｜parameter>\n"
                    "</｜DSML｜invoke>\n</｜DSML｜function_calls><｜end▁of▁sentence｜>");
    ef_free(t);
}

static void test_encode_errors(void)
{
    static const char *cases[][2] = {
        {"[{\"role\": \"wizard\", \"content\": \"x\"}]", "messages[0].role: unknown role"},
        {"[{\"content\": \"x\"}]", "messages[0].role: missing role"},
        {"[{\"role\": \"tool\", \"content\": \"x\"}]", "messages[0].role: a tool message"},
        {"[{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"content\": "
         "\"a\"}]",
         "messages[1].reasoning_content: thinking mode"},
        {"[{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"tool_calls\": "
         "[{\"function\": {\"name\": \"f\", \"arguments\": \"{bad\"}}]}]",
         "messages[1].tool_calls[0].function.arguments: JSON: expected a string key at byte 1"},
        {"[{\"role\": \"user\", \"content\": \"q\"}, {\"role\": \"assistant\", \"tool_calls\": "
         "[{\"function\": {\"arguments\": \"{}\"}}]}]",
         "messages[1].tool_calls[0].function.name: must be a string"},
        {"[{\"role\": \"developer\"}]", "messages[0].content: a developer message needs content"},
        {"[{\"role\": \"user\", \"content\": 5}]", "messages[0].content: must be a string"},
        {"[{\"role\": \"system\", \"content\": \"s\", \"tools\": [{\"type\": \"function\"}]}]",
         "messages[0].tools[0].function: missing"},
        {"{}", "messages must be an array"},
    };
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        int rc;
        char *t = encode_text(cases[i][0], 1, &rc);
        EF_CHECK_MSG(rc < 0 && t == NULL, "case %zu should fail", i);
        EF_CHECK_MSG(strstr(ef_errmsg(ctx), cases[i][1]) != NULL, "case %zu: \"%s\" lacks \"%s\"",
                     i, ef_errmsg(ctx), cases[i][1]);
        ef_free(t);
    }
    /* a document whose tools are not a list */
    cJSON *bad_doc = cJSON_Parse("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}], "
                                 "\"tools\": 5}");
    char *bp = NULL;
    EF_CHECK(ef_engine_chat_encode_doc(ctx, bad_doc, NULL, &bp, NULL) < 0 && bp == NULL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "\"tools\" must be an array of tool definitions, got number");
    cJSON_Delete(bad_doc);
    /* The byte cap. */
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"0123456789\"}]");
    ef_chat_encode_options o = EF_CHAT_ENCODE_OPTIONS_INIT;
    o.max_bytes = 16;
    char *out = NULL;
    EF_CHECK_EQ_INT(ef_engine_chat_encode(ctx, msgs, NULL, &o, &out, NULL), EF_ELIMIT);
    cJSON_Delete(msgs);
}

/* ---- parser -------------------------------------------------------------------------------- */

static void test_parse_ok(void)
{
    const char *text =
        "let me think</think>Sure.\n\n<｜DSML｜function_calls>\n"
        "<｜DSML｜invoke name=\"search\">\n"
        "<｜DSML｜parameter name=\"q\" string=\"true\">a \"quoted\"\nline</｜DSML｜parameter>\n"
        "<｜DSML｜parameter name=\"n\" string=\"false\">{\"k\": [1, 2]}</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n"
        "<｜DSML｜invoke name=\"noargs\">\n</｜DSML｜invoke>\n"
        "</｜DSML｜function_calls><｜end▁of▁sentence｜>";
    ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
    cJSON *m = NULL;
    EF_CHECK_OK(ctx, ef_engine_chat_parse(ctx, text, strlen(text), &po, &m));
    if (!m)
        return;
    EF_CHECK_EQ_STR(str_or_empty(m, "reasoning_content"), "let me think");
    EF_CHECK_EQ_STR(str_or_empty(m, "content"), "Sure.");
    const cJSON *calls = cJSON_GetObjectItem(m, "tool_calls");
    EF_CHECK_EQ_INT(cJSON_GetArraySize(calls), 2);
    const cJSON *f0 = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "function");
    EF_CHECK_EQ_STR(str_or_empty(f0, "name"), "search");
    EF_CHECK_EQ_STR(str_or_empty(f0, "arguments"),
                    "{\"q\": \"a \\\"quoted\\\"\\nline\", \"n\": {\"k\": [1, 2]}}");
    const cJSON *f1 = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 1), "function");
    EF_CHECK_EQ_STR(str_or_empty(f1, "arguments"), "{}");
    cJSON_Delete(m);
    /* DeepSeek's patterns also take Unicode space before name= and a newline after the
     * value's closing '<'. */
    const char *quirk =
        "r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke\x1c\u3000 name=\"f\">\n"
        "<｜DSML｜parameter name=\"a\" string=\"true\">v<\n/｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n</｜DSML｜function_calls><｜end▁of▁sentence｜>";
    EF_CHECK_OK(ctx, ef_engine_chat_parse(ctx, quirk, strlen(quirk), &po, &m));
    if (m) {
        const cJSON *fq = cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(m, "tool_calls"), 0), "function");
        EF_CHECK_EQ_STR(str_or_empty(fq, "name"), "f");
        EF_CHECK_EQ_STR(str_or_empty(fq, "arguments"), "{\"a\": \"v\"}");
        cJSON_Delete(m);
        m = NULL;
    }
    /* Chat mode, plain answer; EOS optional when asked. */
    po.thinking = 0;
    EF_CHECK_OK(ctx, ef_engine_chat_parse(ctx, "Hi<｜end▁of▁sentence｜>",
                                          strlen("Hi<｜end▁of▁sentence｜>"), &po, &m));
    EF_CHECK_EQ_STR(str_or_empty(m, "content"), "Hi");
    EF_CHECK_EQ_STR(str_or_empty(m, "reasoning_content"), "");
    cJSON_Delete(m);
    m = NULL;
    EF_CHECK(ef_engine_chat_parse(ctx, "Hi", 2, &po, &m) == EF_EPARSE);
    po.require_eos = 0;
    EF_CHECK_OK(ctx, ef_engine_chat_parse(ctx, "Hi", 2, &po, &m));
    cJSON_Delete(m);
}

static void test_parse_malformed(void)
{
    static const char *cases[][2] = {
        {"no end of thinking", "not closed by </think>"},
        {"r\n\n<｜DSML｜function_calls>\n", "function_calls block inside the reasoning"},
        {"r</think>answer", "missing <｜end▁of▁sentence｜>"},
        {"r</think>a<｜end▁of▁sentence｜>more", "unexpected text after"},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n",
         "unterminated <｜DSML｜invoke> block"},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n</｜DSML｜invoke>\n",
         "unterminated <｜DSML｜function_calls> block"},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜foo>\n</｜DSML｜function_calls>",
         "expected '>\\n' then <｜DSML｜invoke"},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke nam=\"f\">\n</｜DSML｜invoke>\n"
         "</｜DSML｜function_calls>",
         "expected name=\"...\""},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter "
         "name=\"x\" string=\"false\">San Francisco</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
         "</｜DSML｜function_calls>",
         "parameter 'x': string=\"false\" value is not JSON"},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter "
         "name=\"x\" string=\"maybe\">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n"
         "</｜DSML｜function_calls>",
         "parameter without string=\"true\""},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter "
         "name=\"x\" string=\"true\">1</｜DSML｜parameter>\n<｜DSML｜parameter name=\"x\" "
         "string=\"true\">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>",
         "duplicate parameter 'x'"},
        {"r</think>\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter "
         "name=\"x\" string=\"true\">1",
         "unterminated <｜DSML｜parameter>"},
        {"r</think>\n\n<｜DSML｜function_calls>\n</｜DSML｜function_calls>tail",
         "unexpected text after the function_calls block"},
        {"r<think></think>x<｜end▁of▁sentence｜>", "unexpected <think> inside the reasoning"},
        {"r</think>x</think><｜end▁of▁sentence｜>", "unexpected </think> inside the content"},
        {"r</think>x｜DSML｜y<｜end▁of▁sentence｜>", "unexpected ｜DSML｜ inside the content"},
        {"r</think>\xc3(<｜end▁of▁sentence｜>", "invalid UTF-8"},
    };
    ef_chat_parse_options po = EF_CHAT_PARSE_OPTIONS_INIT;
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        cJSON *m = NULL;
        int rc = ef_engine_chat_parse(ctx, cases[i][0], strlen(cases[i][0]), &po, &m);
        EF_CHECK_MSG(rc == EF_EPARSE && m == NULL, "case %zu should fail (rc %d)", i, rc);
        EF_CHECK_MSG(strstr(ef_errmsg(ctx), cases[i][1]) != NULL, "case %zu: \"%s\" lacks \"%s\"",
                     i, ef_errmsg(ctx), cases[i][1]);
        EF_CHECK_CONTAINS(ef_errmsg(ctx), "at byte");
        cJSON_Delete(m);
    }
    printf("    %zu malformed completions rejected with the expected message\n",
           EF_ARRAY_LEN(cases));
}

static void test_alloc_failure(void)
{
    const char *text =
        "why</think>ok\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n"
        "<｜DSML｜parameter name=\"a\" string=\"false\">[1, {\"b\": 2.5}]</｜DSML｜parameter>\n"
        "</｜DSML｜invoke>\n</｜DSML｜function_calls><｜end▁of▁sentence｜>";
    cJSON *msgs = cJSON_Parse(
        "[{\"role\": \"system\", \"content\": \"s\", \"tools\": [{\"type\": \"function\", "
        "\"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}]},"
        " {\"role\": \"user\", \"content\": \"q\"},"
        " {\"role\": \"assistant\", \"reasoning_content\": \"r\", \"tool_calls\": [{\"type\": "
        "\"function\", \"function\": {\"name\": \"f\", \"arguments\": \"{\\\"a\\\": [1]}\"}}]},"
        " {\"role\": \"tool\", \"content\": \"res\"}]");
    long runs = 0;
    EF_ALLOC_LOOP(n, 5000)
    {
        runs++;
        cJSON *m = NULL;
        if (ef_engine_chat_parse(ctx, text, strlen(text), NULL, &m) == 0)
            cJSON_Delete(m);
        char *out = NULL;
        if (ef_engine_chat_encode(ctx, msgs, NULL, NULL, &out, NULL) == 0)
            ef_free(out);
    }
    cJSON_Delete(msgs);
    printf("    %ld allocation-failure runs\n", runs);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    find_golden();
    if (golden_dir[0])
        printf("golden vectors: %s\n", golden_dir);
    EF_RUN(test_copy_matches_shared);
    EF_RUN(test_golden_en);
    EF_RUN(test_golden_zh);
    EF_RUN(test_parse_back_en);
    EF_RUN(test_parse_back_zh);
    EF_RUN(test_cli_encode);
    EF_RUN(test_pyjson_redump);
    EF_RUN(test_pyjson_members);
    EF_RUN(test_pyjson_parse);
    EF_RUN(test_encode_modes);
    EF_RUN(test_encode_errors);
    EF_RUN(test_parse_ok);
    EF_RUN(test_parse_malformed);
    EF_RUN(test_alloc_failure);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
