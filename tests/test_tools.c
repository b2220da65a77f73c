/*
 * tests/test_tools.c — the tool registry, the JSON Schema subset, the editor (its edge
 * cases and its refusal to leave the workdir), the FTS5 corpus, the git tool against the
 * git CLI on a real repository, submit, HTML to text, and `envforge tools --json`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/json.h"
#include "common/rng.h"
#include "common/utf8.h"
#include "sandbox/sandbox.h"
#include "tests/testlib.h"
#include "tests/tools_testlib.h"
#include "tools/tools.h"
#include "tools/tools_int.h"

/* ---- fixture ------------------------------------------------------------------- */

static void fx_open(fixture *f, const char *tag, const char *corpus)
{
    ef_tools_config cfg = EF_TOOLS_CONFIG_INIT;
    cfg.corpus_path = corpus;
    fx_open_cfg(f, tag, &cfg);
}

/* Writes a file into the fixture's workdir as the host, and says so to the context. */
static void put(const char *dir, const char *name, const char *text);
static void fput(fixture *f, const char *name, const char *text)
{
    put(f->dir, name, text);
    ef_tools_ctx_workdir_changed(f->tc);
}

static ef_tool_result call(fixture *f, const char *tool, const char *args)
{
    ef_tool_result r = EF_TOOL_RESULT_INIT;
    int rc = ef_tools_registry_call(f->reg, f->tc, tool, args, &r);
    if (rc != 0)
        printf("    call %s %s -> %s\n", tool, args, ef_strerror(rc));
    return r;
}

/* Calls and checks the outcome; returns the text (static copy) for further checks. */
static char last_text[1 << 16];
#define CALL_OK(f, tool, args)                                                                 \
    do {                                                                                       \
        ef_tool_result r_ = call((f), (tool), (args));                                         \
        EF_CHECK_MSG(r_.text && !r_.is_error, "%s %s: %s", tool, args,                         \
                     r_.text ? r_.text : "(null)");                                            \
        snprintf(last_text, sizeof last_text, "%s", r_.text ? r_.text : "");                   \
        ef_tools_result_free(&r_);                                                             \
    } while (0)
#define CALL_ERR(f, tool, args, needle)                                                        \
    do {                                                                                       \
        ef_tool_result r_ = call((f), (tool), (args));                                         \
        EF_CHECK_MSG(r_.text && r_.is_error, "%s %s should fail: %s", tool, args,              \
                     r_.text ? r_.text : "(null)");                                            \
        EF_CHECK_CONTAINS(r_.text, needle);                                                    \
        snprintf(last_text, sizeof last_text, "%s", r_.text ? r_.text : "");                   \
        ef_tools_result_free(&r_);                                                             \
    } while (0)

static char *slurp(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *data = NULL;
    size_t len = 0;
    if (ef_file_read(NULL, path, 1 << 24, &data, &len) < 0)
        return NULL;
    return data;
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (ef_file_write(NULL, path, text, strlen(text)) < 0)
        printf("    cannot write %s\n", path);
}

/* ---- schema ------------------------------------------------------------------- */

static int validate_text(ef_ctx *ctx, const char *schema, const char *value)
{
    cJSON *s = cJSON_Parse(schema), *v = cJSON_Parse(value);
    int rc = ef_tools_schema_check(ctx, s);
    if (rc == 0)
        rc = ef_tools_schema_validate(ctx, s, v, "arguments");
    cJSON_Delete(s);
    cJSON_Delete(v);
    return rc;
}

static void test_schema_types(void)
{
    ef_ctx *ctx = ef_ctx_new();
    const char *s = "{\"type\":\"object\",\"properties\":{"
                    "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10},"
                    "\"x\":{\"type\":\"number\",\"exclusiveMinimum\":0},"
                    "\"s\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},"
                    "\"e\":{\"enum\":[\"a\",\"b\",3]},"
                    "\"o\":{\"type\":[\"string\",\"null\"]},"
                    "\"l\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":"
                    "{\"p\":{\"type\":\"string\"}},\"required\":[\"p\"]},\"maxItems\":2}},"
                    "\"required\":[\"n\"],\"additionalProperties\":false}";
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":3}"), 0);
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":3,\"x\":0.5,\"s\":\"héé\",\"e\":3,\"o\":null,"
                                          "\"l\":[{\"p\":\"q\"}]}"),
                    0);
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.n: required field is missing");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":2.5}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.n: expected an integer, got 2.5");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":\"3\"}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.n: expected integer, got string");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":11}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "above the maximum 10");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":0}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "below the minimum 1");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"x\":0}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.x");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"s\":\"abcde\"}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.s: must be at most 4 characters");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"s\":\"a\"}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "at least 2");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"e\":\"c\"}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.e: \"c\" is not one of \"a\", \"b\", 3");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"o\":5}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "expected string or null, got number");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"l\":[{\"p\":\"a\"},{\"p\":1}]}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.l[1].p: expected string, got number");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"l\":[{}]}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.l[0].p: required field is missing");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"l\":[{\"p\":\"a\"},{\"p\":\"b\"},{\"p\":\"c\"}]}"),
                    EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "at most 2 items");
    EF_CHECK_EQ_INT(validate_text(ctx, s, "{\"n\":1,\"zzz\":1}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.zzz: unknown field");
    /* additionalProperties as a schema */
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"type\":\"object\",\"additionalProperties\":"
                                       "{\"type\":\"number\"}}",
                                  "{\"a\":1,\"b\":\"x\"}"),
                    EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.b: expected number, got string");
    /* pattern (POSIX ERE) and format (an annotation) */
    const char *ps = "{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\","
                     "\"format\":\"date\",\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}$\"}}}";
    EF_CHECK_EQ_INT(validate_text(ctx, ps, "{\"d\":\"2024-05-01\"}"), 0);
    EF_CHECK_EQ_INT(validate_text(ctx, ps, "{\"d\":\"May 1\"}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.d: \"May 1\" does not match the pattern");
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"properties\":{\"a\":{\"pattern\":\"([\"}}}", "{}"),
                    EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "$.properties.a.pattern: not a valid regular expression");
    ef_ctx_free(ctx);
}

static void test_schema_check(void)
{
    ef_ctx *ctx = ef_ctx_new();
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"type\":\"object\",\"oneOf\":[]}", "{}"),
                    EF_EUNSUPPORTED);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "\"oneOf\" is not supported");
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"type\":\"objekt\"}", "{}"), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "unknown type \"objekt\"");
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"type\":\"object\",\"required\":\"a\"}", "{}"),
                    EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "$.required");
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"properties\":{\"a\":{\"minLength\":-1}}}", "{}"),
                    EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "$.properties.a.minLength");
    EF_CHECK_EQ_INT(validate_text(ctx, "{\"properties\":{\"a\":{\"items\":{\"anyOf\":[]}}}}",
                                  "{}"),
                    EF_EUNSUPPORTED);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "$.properties.a.items");
    ef_ctx_free(ctx);
}

/* ---- registry ------------------------------------------------------------------ */

typedef struct {
    int calls;
    int freed;
} counter;

static int run_counter(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    counter *c = ud;
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(args, "by");
    c->calls += by ? (int)by->valuedouble : 1;
    if (c->calls > 100)
        return ef_errorf(ef_tools_ctx_ef(tc), EF_ELIMIT, "counter passed 100");
    out->data = cJSON_CreateNumber(c->calls);
    return ef_tools_result_setf(out, 0, "count=%d", c->calls);
}

static void free_counter(void *ud)
{
    ((counter *)ud)->freed = 1;
}

static int run_big(ef_tool_ctx *tc, void *ud, const cJSON *args, ef_tool_result *out)
{
    (void)tc;
    (void)ud;
    (void)args;
    char *t = ef_malloc(200001);
    if (!t)
        return EF_ENOMEM;
    memset(t, 'x', 200000);
    t[100] = (char)0xe9; /* a Latin-1 byte: not UTF-8 */
    memcpy(t + 200000 - 9, "[exit 3]\n", 9); /* the end must survive the cap */
    t[200000] = '\0';
    return ef_tools__result_take(out, 0, t);
}

static void test_registry(void)
{
    fixture f;
    fx_open(&f, "reg", NULL);
    counter c = {0, 0};
    ef_tool_registry *reg = NULL;
    EF_CHECK_OK(f.ctx, ef_tools_registry_new(f.ctx, &reg));
    ef_tool_def d = EF_TOOL_DEF_INIT;
    d.name = "count";
    d.description = "adds to a counter";
    d.parameters = "{\"type\":\"object\",\"properties\":{\"by\":{\"type\":\"integer\","
                   "\"minimum\":1}},\"additionalProperties\":false}";
    d.run = run_counter;
    d.ud = &c;
    d.ud_free = free_counter;
    EF_CHECK_OK(f.ctx, ef_tools_registry_add(reg, &d));
    EF_CHECK_EQ_INT(ef_tools_registry_add(reg, &d), EF_EEXISTS);
    ef_tool_def bad = d;
    bad.name = "bad name!";
    EF_CHECK_EQ_INT(ef_tools_registry_add(reg, &bad), EF_EINVAL);
    bad.name = "bad";
    bad.parameters = "{\"type\":\"string\"}";
    EF_CHECK_EQ_INT(ef_tools_registry_add(reg, &bad), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(f.ctx), "top level must be");
    bad.parameters = "{\"type\":\"object\",";
    EF_CHECK_EQ_INT(ef_tools_registry_add(reg, &bad), EF_EPARSE);
    ef_tool_def big = EF_TOOL_DEF_INIT;
    big.name = "big";
    big.run = run_big;
    EF_CHECK_OK(f.ctx, ef_tools_registry_add(reg, &big));
    EF_CHECK_EQ_INT(ef_tools_registry_count(reg), 2);

    ef_tool_result r = EF_TOOL_RESULT_INIT;
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "{\"by\": 2}", &r));
    EF_CHECK_EQ_STR(r.text, "count=2");
    EF_CHECK(!r.is_error && cJSON_IsNumber(r.data) && r.data->valuedouble == 2);
    ef_tools_result_free(&r);
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "", &r));
    EF_CHECK_EQ_STR(r.text, "count=3");
    ef_tools_result_free(&r);
    /* the model's mistakes come back as error results that name the field */
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "{\"by\": \"two\"}", &r));
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "invalid arguments for count: arguments.by: expected integer, got string");
    ef_tools_result_free(&r);
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "{\"by\": 2, \"and\": 1}", &r));
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "arguments.and: unknown field (expected: by)");
    ef_tools_result_free(&r);
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "{\"by\": 2", &r));
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "invalid JSON");
    ef_tools_result_free(&r);
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "[1]", &r));
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "expected an object, got array");
    ef_tools_result_free(&r);
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "nope", "{}", &r));
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "unknown tool \"nope\"; available tools: count, big");
    ef_tools_result_free(&r);
    /* a tool's own failure becomes an error result with its message */
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "count", "{\"by\": 200}", &r));
    EF_CHECK(r.is_error);
    EF_CHECK_CONTAINS(r.text, "count failed: counter passed 100");
    ef_tools_result_free(&r);
    /* output cap */
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(reg, f.tc, "big", "{}", &r));
    /* cut from the middle to the cap, the end kept; invalid UTF-8 replaced */
    EF_CHECK(r.truncated && strlen(r.text) <= 65536 && strlen(r.text) > 65000);
    EF_CHECK_CONTAINS(r.text, "bytes cut from the middle ...]");
    EF_CHECK(strlen(r.text) > 9 && strcmp(r.text + strlen(r.text) - 9, "[exit 3]\n") == 0);
    EF_CHECK(ef_utf8_valid(r.text, strlen(r.text)));
    EF_CHECK_CONTAINS(r.text, "xx\xef\xbf\xbdxx");
    ef_tools_result_free(&r);

    cJSON *defs = NULL;
    EF_CHECK_OK(f.ctx, ef_tools_registry_openai(reg, &defs));
    EF_CHECK_EQ_INT(cJSON_GetArraySize(defs), 2);
    const char *name = NULL;
    EF_CHECK_OK(f.ctx, ef_json_get_str(f.ctx, defs, "[0].function.name", &name));
    EF_CHECK_EQ_STR(name, "count");
    cJSON_Delete(defs);
    ef_tools_registry_free(reg);
    EF_CHECK_EQ_INT(c.freed, 1);
    fx_close(&f);
}

/* Garbage and mutated arguments: every call ends in a result, never a crash. */
static void test_registry_garbage(void)
{
    fixture f;
    fx_open(&f, "garbage", NULL);
    fput(&f, "a.txt", "one\ntwo\n");
    static const char *const bad[] = {
        "", "   ", "{", "}", "null", "[]", "\"x\"", "42", "{\"command\":null}",
        "{\"command\":\"view\",\"path\":{}}", "{\"a\":1,\"a\":2}", "{\"command\":\"view\"} x",
        "{\"command\":\"view\",\"path\":\"\\u0000a\"}", "{\"url\":\"\\ud800\"}",
        "{\"command\":\"str_replace\",\"path\":\"a.txt\",\"old_str\":\"\xff\xfe\"}",
        "{\"view_range\":[1e309, -1e309]}", "{\"k\":1e400}", "{\"n\":-0}"};
    static const char *const tools[] = {"editor", "search", "fetch", "git", "submit", "nope"};
    for (size_t t = 0; t < EF_ARRAY_LEN(tools); t++)
        for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++) {
            ef_tool_result r = EF_TOOL_RESULT_INIT;
            EF_CHECK_OK(f.ctx, ef_tools_registry_call(f.reg, f.tc, tools[t], bad[i], &r));
            EF_CHECK(r.text != NULL);
            ef_tools_result_free(&r);
        }
    /* deep nesting */
    ef_buf deep = EF_BUF_INIT(1 << 20);
    for (int i = 0; i < 5000; i++)
        ef_buf_appends(&deep, "{\"a\":");
    ef_tool_result r = EF_TOOL_RESULT_INIT;
    EF_CHECK_OK(f.ctx, ef_tools_registry_call(f.reg, f.tc, "editor", deep.data, &r));
    EF_CHECK(r.is_error);
    ef_tools_result_free(&r);
    ef_buf_free(&deep);
    /* random byte flips of valid editor and git calls (no URLs: nothing leaves the host) */
    static const char *const good[][2] = {
        {"editor", "{\"command\":\"view\",\"path\":\"a.txt\",\"view_range\":[1,2]}"},
        {"editor", "{\"command\":\"str_replace\",\"path\":\"a.txt\",\"old_str\":\"one\","
                   "\"new_str\":\"uno\"}"},
        {"editor", "{\"command\":\"insert\",\"path\":\"b/c.txt\",\"insert_line\":0,"
                   "\"new_str\":\"x\"}"},
        {"git", "{\"command\":\"log\",\"n\":3}"},
        {"submit", "{\"answer\":\"42\"}"}};
    /* ../a.txt is outside the workdir (in the shared temp directory, where another
     * program may have its own a.txt): it must be exactly as it was before */
    char *before = slurp(f.dir, "../a.txt");
    ef_rng rng;
    ef_rng_seed(&rng, 7);
    int n_calls = 0;
    for (int round = 0; round < 300; round++) {
        size_t g = (size_t)ef_rng_range(&rng, 0, EF_ARRAY_LEN(good) - 1);
        char args[256];
        snprintf(args, sizeof args, "%s", good[g][1]);
        size_t len = strlen(args);
        int flips = (int)ef_rng_range(&rng, 1, 4);
        for (int k = 0; k < flips; k++)
            args[ef_rng_range(&rng, 0, (int64_t)len - 1)] = (char)ef_rng_range(&rng, 1, 255);
        EF_CHECK_OK(f.ctx, ef_tools_registry_call(f.reg, f.tc, good[g][0], args, &r));
        EF_CHECK(r.text != NULL);
        ef_tools_result_free(&r);
        n_calls++;
    }
    EF_CHECK_EQ_INT(n_calls, 300);
    /* nothing was written outside the workdir by any of it */
    char *t = slurp(f.dir, "../a.txt");
    EF_CHECK((t == NULL && before == NULL) || (t && before && strcmp(t, before) == 0));
    ef_free(t);
    ef_free(before);
    /* builtins by name */
    ef_tool_registry *reg = NULL;
    ef_tools_registry_new(f.ctx, &reg);
    const char *names[] = {"editor", "nope", NULL};
    EF_CHECK_EQ_INT(ef_tools_add_builtins(reg, names), EF_ENOTFOUND);
    EF_CHECK_CONTAINS(ef_errmsg(f.ctx), "no built-in tool \"nope\"");
    ef_tools_registry_free(reg);
    fx_close(&f);
}

static void test_registry_alloc_failure(void)
{
    fixture f;
    fx_open(&f, "alloc", NULL);
    long n_ok = 0;
    EF_ALLOC_LOOP(n, 400)
    {
        ef_tool_result r = EF_TOOL_RESULT_INIT;
        int rc = ef_tools_registry_call(f.reg, f.tc, "editor",
                                        "{\"command\":\"view\",\"path\":\"nothing\",\"x\":[1,{}]}",
                                        &r);
        if (rc == 0) {
            EF_CHECK(r.text && r.is_error);
            n_ok++;
        } else {
            EF_CHECK_EQ_INT(rc, EF_ENOMEM);
        }
        ef_tools_result_free(&r);
    }
    EF_CHECK(n_ok >= 1);
    EF_ALLOC_LOOP(n, 400)
    {
        ef_tool_registry *reg = NULL;
        if (ef_tools_registry_new(f.ctx, &reg) == 0) {
            ef_tools_add_builtins(reg, NULL);
            cJSON *defs = NULL;
            if (ef_tools_registry_openai(reg, &defs) == 0)
                cJSON_Delete(defs);
            ef_tools_registry_free(reg);
        }
    }
    fx_close(&f);
}

/* ---- editor -------------------------------------------------------------------- */

static void test_editor_view_create(void)
{
    fixture f;
    fx_open(&f, "ed", NULL);
    CALL_OK(&f, "editor", "{\"command\":\"create\",\"path\":\"src/a.py\",\"file_text\":"
                          "\"one\\ntwo\\nthree\\nfour\\n\"}");
    EF_CHECK_CONTAINS(last_text, "Created src/a.py (4 lines");
    char *t = slurp(f.dir, "src/a.py");
    EF_CHECK_EQ_STR(t, "one\ntwo\nthree\nfour\n");
    ef_free(t);
    CALL_OK(&f, "editor", "{\"command\":\"view\",\"path\":\"src/a.py\"}");
    EF_CHECK_EQ_STR(last_text, "     1\tone\n     2\ttwo\n     3\tthree\n     4\tfour\n");
    CALL_OK(&f, "editor", "{\"command\":\"view\",\"path\":\"./src//a.py\",\"view_range\":[2,3]}");
    EF_CHECK_EQ_STR(last_text, "     2\ttwo\n     3\tthree\n");
    CALL_OK(&f, "editor", "{\"command\":\"view\",\"path\":\"src/a.py\",\"view_range\":[3,-1]}");
    EF_CHECK_EQ_STR(last_text, "     3\tthree\n     4\tfour\n");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"src/a.py\",\"view_range\":[5,6]}",
             "arguments.view_range[0]: 5 is outside the file's lines 1..4");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"src/a.py\",\"view_range\":[3,2]}",
             "arguments.view_range[1]");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"src/a.py\",\"view_range\":[3]}",
             "arguments.view_range: must have at least 2 items");
    CALL_OK(&f, "editor", "{\"command\":\"view\",\"path\":\".\"}");
    EF_CHECK_CONTAINS(last_text, "src/\nsrc/a.py\n");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"missing.txt\"}",
             "no such file or directory");
    CALL_ERR(&f, "editor", "{\"command\":\"create\",\"path\":\"b.txt\"}",
             "arguments.file_text: required for command \"create\"");
    CALL_ERR(&f, "editor", "{\"command\":\"delete\",\"path\":\"b.txt\"}",
             "arguments.command: \"delete\" is not one of");
    CALL_ERR(&f, "editor", "{\"path\":\"b.txt\"}", "arguments.command: required field is missing");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":7}",
             "arguments.path: expected string, got number");
    /* a NUL would cut the path's C string: refused, not truncated */
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"src/a.py\\u0000/../../x\"}",
             "NUL character");
    CALL_ERR(&f, "editor", "{\"command\":\"create\",\"path\":\"newdir/\",\"file_text\":\"x\"}",
             "ends with '/'");
    /* a big directory: sorted, the first entries shown */
    {
        char p[1024];
        for (int i = 1999; i >= 0; i--) {
            snprintf(p, sizeof p, "%s/many/f%04d", f.dir, i);
            if (i == 1999) {
                char d[1024];
                snprintf(d, sizeof d, "%s/many", f.dir);
                mkdir(d, 0755);
            }
            FILE *fp = fopen(p, "w");
            if (fp)
                fclose(fp);
        }
    }
    CALL_OK(&f, "editor", "{\"command\":\"view\",\"path\":\"many\"}");
    EF_CHECK_CONTAINS(last_text, ":\nf0000\nf0001\nf0002\n");
    EF_CHECK_CONTAINS(last_text, "... (more entries not shown)");
    /* binary files are not shown */
    fput(&f, "bin.dat", "ab");
    {
        char p[1024];
        snprintf(p, sizeof p, "%s/bin.dat", f.dir);
        FILE *fp = fopen(p, "wb");
        fwrite("a\0b", 1, 3, fp);
        fclose(fp);
    }
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"bin.dat\"}", "binary file");
    fx_close(&f);
}

static void test_editor_str_replace(void)
{
    fixture f;
    fx_open(&f, "sr", NULL);
    fput(&f, "f.txt", "alpha\nbeta\ngamma\nbeta\ndelta\n");
    /* several matches: refused, with line numbers, file unchanged */
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"old_str\":\"beta\","
                           "\"new_str\":\"B\"}",
             "occurs 2 times in f.txt (at lines 2, 4)");
    char *t = slurp(f.dir, "f.txt");
    EF_CHECK_EQ_STR(t, "alpha\nbeta\ngamma\nbeta\ndelta\n");
    ef_free(t);
    /* no match */
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"old_str\":\"Beta\","
                           "\"new_str\":\"B\"}",
             "arguments.old_str: not found in f.txt");
    /* whitespace matters */
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"old_str\":\"alpha \","
                           "\"new_str\":\"B\"}",
             "not found");
    /* empty old_str */
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"old_str\":\"\"}",
             "arguments.old_str: must not be empty");
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"new_str\":\"x\"}",
             "arguments.old_str: required");
    /* overlapping occurrences count: "aa" occurs twice in "aaa" */
    fput(&f, "o.txt", "xaaay\n");
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"o.txt\",\"old_str\":\"aa\","
                           "\"new_str\":\"b\"}",
             "occurs 2 times");
    /* unique multi-line match spanning lines; context makes it unique */
    CALL_OK(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"old_str\":"
                          "\"gamma\\nbeta\",\"new_str\":\"GAMMA\\nBETA\\nEXTRA\"}");
    EF_CHECK_CONTAINS(last_text, "     3\tGAMMA\n     4\tBETA\n     5\tEXTRA\n");
    t = slurp(f.dir, "f.txt");
    EF_CHECK_EQ_STR(t, "alpha\nbeta\nGAMMA\nBETA\nEXTRA\ndelta\n");
    ef_free(t);
    /* new_str omitted: deletion */
    CALL_OK(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"f.txt\",\"old_str\":\"EXTRA\\n\"}");
    t = slurp(f.dir, "f.txt");
    EF_CHECK_EQ_STR(t, "alpha\nbeta\nGAMMA\nBETA\ndelta\n");
    ef_free(t);
    /* the match at the very end of a file without a final newline */
    fput(&f, "n.txt", "x = 1\ny = 2");
    CALL_OK(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"n.txt\",\"old_str\":\"2\","
                          "\"new_str\":\"3\"}");
    t = slurp(f.dir, "n.txt");
    EF_CHECK_EQ_STR(t, "x = 1\ny = 3");
    ef_free(t);
    /* undo, twice, then nothing left */
    CALL_OK(&f, "editor", "{\"command\":\"undo_edit\",\"path\":\"f.txt\"}");
    t = slurp(f.dir, "f.txt");
    EF_CHECK_EQ_STR(t, "alpha\nbeta\nGAMMA\nBETA\nEXTRA\ndelta\n");
    ef_free(t);
    CALL_OK(&f, "editor", "{\"command\":\"undo_edit\",\"path\":\"./f.txt\"}");
    t = slurp(f.dir, "f.txt");
    EF_CHECK_EQ_STR(t, "alpha\nbeta\ngamma\nbeta\ndelta\n");
    ef_free(t);
    CALL_ERR(&f, "editor", "{\"command\":\"undo_edit\",\"path\":\"f.txt\"}", "no edit to undo");
    /* undo of a create removes the file */
    CALL_OK(&f, "editor", "{\"command\":\"create\",\"path\":\"new/x.txt\",\"file_text\":\"x\"}");
    CALL_OK(&f, "editor", "{\"command\":\"undo_edit\",\"path\":\"new/x.txt\"}");
    t = slurp(f.dir, "new/x.txt");
    EF_CHECK(t == NULL);
    ef_free(t);
    fx_close(&f);
}

static void test_editor_insert(void)
{
    fixture f;
    fx_open(&f, "ins", NULL);
    fput(&f, "f.txt", "a\nb\nc");
    CALL_OK(&f, "editor", "{\"command\":\"insert\",\"path\":\"f.txt\",\"insert_line\":0,"
                          "\"new_str\":\"top\"}");
    CALL_OK(&f, "editor", "{\"command\":\"insert\",\"path\":\"f.txt\",\"insert_line\":2,"
                          "\"new_str\":\"mid1\\nmid2\\n\"}");
    CALL_OK(&f, "editor", "{\"command\":\"insert\",\"path\":\"f.txt\",\"insert_line\":6,"
                          "\"new_str\":\"end\"}");
    char *t = slurp(f.dir, "f.txt");
    EF_CHECK_EQ_STR(t, "top\na\nmid1\nmid2\nb\nc\nend");
    ef_free(t);
    CALL_ERR(&f, "editor", "{\"command\":\"insert\",\"path\":\"f.txt\",\"insert_line\":9,"
                           "\"new_str\":\"x\"}",
             "arguments.insert_line: 9 is past the end; f.txt has 7 lines");
    CALL_ERR(&f, "editor", "{\"command\":\"insert\",\"path\":\"f.txt\",\"insert_line\":-1,"
                           "\"new_str\":\"x\"}",
             "arguments.insert_line: -1 is below the minimum 0");
    CALL_ERR(&f, "editor", "{\"command\":\"insert\",\"path\":\"f.txt\",\"new_str\":\"x\"}",
             "arguments.insert_line: required");
    fx_close(&f);
}

static void test_editor_confinement(void)
{
    fixture f;
    fx_open(&f, "conf", NULL);
    char outside[512], cmd[4096];
    snprintf(outside, sizeof outside, "%s", ef_test_tmpdir("outside"));
    put(outside, "secret.txt", "top secret\n");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"/etc/passwd\"}",
             "absolute paths are refused");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"../x\"}", "\"..\" is refused");
    CALL_ERR(&f, "editor", "{\"command\":\"create\",\"path\":\"a/../../x\",\"file_text\":\"x\"}",
             "\"..\" is refused");
    /* a symlinked directory and a symlinked file, both pointing outside */
    snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/dirlink' && ln -s '%s/secret.txt' '%s/filelink'",
             outside, f.dir, outside, f.dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"dirlink/secret.txt\"}",
             "\"dirlink\" is a symbolic link");
    CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"filelink\"}",
             "\"filelink\" is a symbolic link");
    CALL_ERR(&f, "editor", "{\"command\":\"create\",\"path\":\"dirlink/new.txt\",\"file_text\":\"x\"}",
             "symbolic link");
    CALL_ERR(&f, "editor", "{\"command\":\"create\",\"path\":\"filelink\",\"file_text\":\"pwned\"}",
             "symbolic link");
    CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"filelink\",\"old_str\":\"top\","
                           "\"new_str\":\"x\"}",
             "symbolic link");
    char *t = slurp(outside, "secret.txt");
    EF_CHECK_EQ_STR(t, "top secret\n");
    ef_free(t);
    t = slurp(outside, "new.txt");
    EF_CHECK(t == NULL);
    ef_free(t);
    /* a hard link to a file outside is not written through */
    snprintf(cmd, sizeof cmd, "ln '%s/secret.txt' '%s/hard' 2>/dev/null", outside, f.dir);
    if (system(cmd) == 0) {
        /* refused for its links (or, as the sandbox's uid, for its owner) */
        CALL_ERR(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"hard\",\"old_str\":\"top\","
                               "\"new_str\":\"x\"}",
                 "\"hard\"");
        t = slurp(outside, "secret.txt");
        EF_CHECK_EQ_STR(t, "top secret\n");
        ef_free(t);
    }
    /* a FIFO (the agent's shell can make one) neither hangs nor gets written */
    snprintf(cmd, sizeof cmd, "mkfifo '%s/fifo'", f.dir);
    if (system(cmd) == 0) {
        CALL_ERR(&f, "editor", "{\"command\":\"view\",\"path\":\"fifo\"}", "not a regular file");
        CALL_ERR(&f, "editor", "{\"command\":\"create\",\"path\":\"fifo\",\"file_text\":\"x\"}",
                 "fifo");
    }
    /* the directory listing shows links without following them */
    CALL_OK(&f, "editor", "{\"command\":\"view\",\"path\":\"\\u002e\"}");
    EF_CHECK_CONTAINS(last_text, "dirlink (symlink)");
    EF_CHECK(!strstr(last_text, "secret.txt"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    fx_close(&f);
}

/* ---- corpus and search ---------------------------------------------------------- */

static const char *docs_jsonl =
    "{\"id\":\"bio-1\",\"title\":\"Photosynthesis\",\"text\":\"Photosynthesis is the process by "
    "which green plants use chlorophyll to turn light, water and carbon dioxide into glucose and "
    "oxygen.\",\"url\":\"https://example.org/photo\"}\n"
    "{\"id\":\"bio-2\",\"title\":\"Cellular respiration\",\"text\":\"Cells break glucose down "
    "with oxygen to release energy as ATP; plants respire too.\"}\n"
    "\n"
    "{\"id\":\"geo-1\",\"title\":\"Volcanoes\",\"text\":\"A volcano is a rupture in the crust "
    "where lava, ash and gases escape. Mount Etna is in Sicily.\"}\n"
    "{\"id\":42,\"title\":\"Light\",\"text\":\"Light is electromagnetic radiation; green light "
    "has a wavelength near 530 nm.\"}\n"
    "{\"id\":\"hist-1\",\"title\":\"The printing press\",\"text\":\"Johannes Gutenberg built a "
    "movable-type printing press around 1440 in Mainz.\"}\n";

static void test_corpus(void)
{
    ef_ctx *ctx = ef_ctx_new();
    char dir[512], jsonl[600], db[600];
    snprintf(dir, sizeof dir, "%s", ef_test_tmpdir("corpus"));
    snprintf(jsonl, sizeof jsonl, "%s/docs.jsonl", dir);
    snprintf(db, sizeof db, "%s/corpus.db", dir);
    put(dir, "docs.jsonl", docs_jsonl);
    size_t n = 0;
    EF_CHECK_OK(ctx, ef_tools_corpus_build(ctx, jsonl, db, &n));
    EF_CHECK_EQ_INT(n, 5);
    cJSON *hits = NULL;
    EF_CHECK_OK(ctx, ef_tools_corpus_search(ctx, db, "How do plants make glucose with chlorophyll?",
                                            3, &hits));
    const char *id = NULL, *snippet = NULL;
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, hits, "[0].id", &id));
    EF_CHECK_EQ_STR(id, "bio-1");
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, hits, "[0].snippet", &snippet));
    EF_CHECK_CONTAINS(snippet, "[chlorophyll]");
    double s0 = 0, s1 = 0;
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, hits, "[0].score", &s0));
    EF_CHECK_OK(ctx, ef_json_get_num(ctx, hits, "[1].score", &s1));
    EF_CHECK(s0 > s1);
    cJSON_Delete(hits);
    /* stemming and punctuation in the query ("volcanoes" finds "volcano"; quotes are safe) */
    hits = NULL;
    EF_CHECK_OK(ctx, ef_tools_corpus_search(ctx, db, "\"Etna\" AND volcano's NEAR(", 2, &hits));
    EF_CHECK_OK(ctx, ef_json_get_str(ctx, hits, "[0].id", &id));
    EF_CHECK_EQ_STR(id, "geo-1");
    cJSON_Delete(hits);
    hits = NULL;
    EF_CHECK_OK(ctx, ef_tools_corpus_search(ctx, db, "zzzqqq", 2, &hits));
    EF_CHECK_EQ_INT(cJSON_GetArraySize(hits), 0);
    cJSON_Delete(hits);
    EF_CHECK_EQ_INT(ef_tools_corpus_search(ctx, db, "?!", 2, &hits), EF_EINVAL);

    /* bad input names file and line */
    put(dir, "bad.jsonl", "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\"}\n");
    snprintf(jsonl, sizeof jsonl, "%s/bad.jsonl", dir);
    char db2[600];
    snprintf(db2, sizeof db2, "%s/bad.db", dir);
    EF_CHECK_EQ_INT(ef_tools_corpus_build(ctx, jsonl, db2, NULL), EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "bad.jsonl:2: field \"text\" must be a string");
    EF_CHECK(access(db2, F_OK) != 0);
    put(dir, "dup.jsonl", "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"a\",\"text\":\"y\"}\n");
    snprintf(jsonl, sizeof jsonl, "%s/dup.jsonl", dir);
    EF_CHECK_EQ_INT(ef_tools_corpus_build(ctx, jsonl, db2, NULL), EF_ECONFLICT);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "dup.jsonl:2: duplicate document id \"a\"");
    put(dir, "broken.jsonl", "{\"id\":\"a\",\"text\":\"x\"\n");
    snprintf(jsonl, sizeof jsonl, "%s/broken.jsonl", dir);
    EF_CHECK_EQ_INT(ef_tools_corpus_build(ctx, jsonl, db2, NULL), EF_EPARSE);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "broken.jsonl:1");

    /* failing allocations on the query path */
    EF_ALLOC_LOOP(k, 200)
    {
        cJSON *h = NULL;
        int rc = ef_tools_corpus_search(ctx, db, "glucose oxygen", 3, &h);
        EF_CHECK(rc == 0 || rc == EF_ENOMEM);
        cJSON_Delete(h);
    }
    /* the search and fetch tools on the corpus */
    fixture f;
    fx_open(&f, "srch", db);
    CALL_OK(&f, "search", "{\"query\":\"Gutenberg printing\",\"k\":2}");
    EF_CHECK_CONTAINS(last_text, "1. The printing press\n   id: hist-1\n");
    CALL_OK(&f, "fetch", "{\"id\":\"hist-1\"}");
    EF_CHECK_CONTAINS(last_text, "Johannes Gutenberg built a movable-type printing press");
    CALL_OK(&f, "fetch", "{\"id\":\"42\",\"start\":9,\"max_chars\":100}");
    EF_CHECK_CONTAINS(last_text, "electromagnetic");
    CALL_ERR(&f, "fetch", "{\"id\":\"nope\"}", "arguments.id: no document \"nope\"");
    CALL_ERR(&f, "search", "{\"query\":\"x\",\"k\":50}", "arguments.k: 50 is above the maximum 20");
    CALL_ERR(&f, "search", "{\"query\":\"glucose\",\"source\":\"web\"}",
             "web search is not configured");
    fx_close(&f);
    snprintf(jsonl, sizeof jsonl, "rm -rf '%s'", dir);
    EF_CHECK_EQ_INT(system(jsonl), 0);
    ef_ctx_free(ctx);
}

/* Chinese, Japanese and Korean documents, which have no spaces between words: a word
 * inside a run is found (ranked first, highlighted), a sentence query finds the document
 * with most of its words, the same characters in another order find nothing. A corpus of
 * the earlier format (plain unicode61) is still read. */
static const char *cjk_jsonl =
    "{\"id\":\"bj\",\"title\":\"北京\",\"text\":\"北京是中华人民共和国的首都，天安门广场位于市中心。\"}\n"
    "{\"id\":\"sh\",\"title\":\"上海\",\"text\":\"上海是中国最大的城市之一，有著名的外滩和东方明珠电视塔。\"}\n"
    "{\"id\":\"tk\",\"title\":\"東京\",\"text\":\"東京は日本の首都です。スカイツリーが有名です。\"}\n"
    "{\"id\":\"ko\",\"title\":\"서울\",\"text\":\"서울은 대한민국의 수도입니다. 한강이 흐릅니다.\"}\n"
    "{\"id\":\"en\",\"title\":\"Volcanoes\",\"text\":\"Lava and ash erupted from volcanoes.\"}\n";

static void expect_first(ef_ctx *ctx, const char *db, const char *q, const char *id_want,
                         const char *snippet_has)
{
    cJSON *hits = NULL;
    EF_CHECK_OK(ctx, ef_tools_corpus_search(ctx, db, q, 3, &hits));
    const char *id = NULL, *snippet = NULL;
    if (ef_json_get_str(ctx, hits, "[0].id", &id) < 0) {
        EF_CHECK_MSG(0, "query %s: no hit", q);
    } else {
        EF_CHECK_MSG(strcmp(id, id_want) == 0, "query %s: first hit %s, want %s", q, id, id_want);
        EF_CHECK_OK(ctx, ef_json_get_str(ctx, hits, "[0].snippet", &snippet));
        if (snippet)
            EF_CHECK_CONTAINS(snippet, snippet_has);
    }
    cJSON_Delete(hits);
}

static void test_corpus_cjk(void)
{
    ef_ctx *ctx = ef_ctx_new();
    char dir[512], jsonl[600], db[600];
    snprintf(dir, sizeof dir, "%s", ef_test_tmpdir("corpuscjk"));
    snprintf(jsonl, sizeof jsonl, "%s/docs.jsonl", dir);
    snprintf(db, sizeof db, "%s/corpus.db", dir);
    put(dir, "docs.jsonl", cjk_jsonl);
    size_t n = 0;
    EF_CHECK_OK(ctx, ef_tools_corpus_build(ctx, jsonl, db, &n));
    EF_CHECK_EQ_INT(n, 5);
    expect_first(ctx, db, "天安门", "bj", "[天安门]");
    expect_first(ctx, db, "东方明珠", "sh", "[东方明珠]");
    expect_first(ctx, db, "スカイツリー", "tk", "[スカイツリー]");
    expect_first(ctx, db, "한강", "ko", "[한강]");
    expect_first(ctx, db, "天安门广场在哪里？", "bj", "[天安门广场]");
    expect_first(ctx, db, "volcano", "en", "[volcanoes]");
    cJSON *hits = NULL;
    EF_CHECK_OK(ctx, ef_tools_corpus_search(ctx, db, "门安天", 3, &hits));
    EF_CHECK_EQ_INT(cJSON_GetArraySize(hits), 0);
    cJSON_Delete(hits);
    hits = NULL;
    EF_CHECK_OK(ctx, ef_tools_corpus_search(ctx, db, "首都", 3, &hits)); /* in two documents */
    EF_CHECK_EQ_INT(cJSON_GetArraySize(hits), 2);
    cJSON_Delete(hits);

    /* a format-1 corpus as an earlier envforge built it */
    char old[600];
    snprintf(old, sizeof old, "%s/old.db", dir);
    sqlite3 *odb = NULL;
    EF_CHECK_EQ_INT(sqlite3_open(old, &odb), SQLITE_OK);
    EF_CHECK_EQ_INT(sqlite3_exec(odb,
                                 "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                                 "CREATE TABLE docs(rowid INTEGER PRIMARY KEY, id TEXT NOT NULL "
                                 "UNIQUE, title TEXT NOT NULL, url TEXT, text TEXT NOT NULL);"
                                 "CREATE VIRTUAL TABLE docs_fts USING fts5(title, text, "
                                 "content='docs', content_rowid='rowid', tokenize='porter "
                                 "unicode61');"
                                 "INSERT INTO docs(id, title, text) VALUES('v', 'Volcanoes', "
                                 "'Lava and ash.');"
                                 "INSERT INTO docs_fts(docs_fts) VALUES('rebuild');"
                                 "INSERT INTO meta VALUES('format', '1'), ('n_docs', '1');",
                                 NULL, NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(odb);
    expect_first(ctx, old, "volcano lava", "v", "[Lava]");
    /* a format from a newer envforge is refused by name */
    EF_CHECK_EQ_INT(sqlite3_open(old, &odb), SQLITE_OK);
    EF_CHECK_EQ_INT(sqlite3_exec(odb, "UPDATE meta SET value = '9' WHERE key = 'format'", NULL,
                                 NULL, NULL),
                    SQLITE_OK);
    sqlite3_close(odb);
    hits = NULL;
    EF_CHECK_EQ_INT(ef_tools_corpus_search(ctx, old, "lava", 3, &hits), EF_EPARSE);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "not an envforge corpus of format 1..2");
    snprintf(jsonl, sizeof jsonl, "rm -rf '%s'", dir);
    EF_CHECK_EQ_INT(system(jsonl), 0);
    ef_ctx_free(ctx);
}

/* ---- git ---------------------------------------------------------------------- */

static char *run_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    ef_buf b = EF_BUF_INIT(1 << 22);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        ef_buf_append(&b, chunk, n);
    int st = pclose(p);
    if (st != 0) {
        printf("    command failed (%d): %s\n", st, cmd);
        ef_buf_free(&b);
        return NULL;
    }
    return b.data ? ef_buf_detach(&b) : ef_strdup("");
}

static void test_git(void)
{
    if (system("git --version >/dev/null 2>&1") != 0)
        EF_SKIP_CASE("no git CLI");
    fixture f;
    fx_open(&f, "git", NULL);
    char cmd[2048];
    /* the repository ends up owned by the sandbox's uid: let the CLI (root) read it */
    const char *gitenv = "env -u GIT_DIR -u GIT_WORK_TREE GIT_CONFIG_NOSYSTEM=1 "
                         "GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t "
                         "GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t GIT_CONFIG_COUNT=1 "
                         "GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'";
    fput(&f, "main.c", "#include <stdio.h>\n\nint add(int a, int b)\n{\n    return a + b;\n}\n\n"
                         "int main(void)\n{\n    printf(\"%d\\n\", add(2, 2));\n    return 0;\n}\n");
    fput(&f, "README", "hello\nworld");
    fput(&f, "gone.txt", "bye\n");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s git init -q -b main . && %s git add -A && %s git commit -q -m "
             "'first commit'",
             f.dir, gitenv, gitenv, gitenv);
    EF_CHECK_EQ_INT(system(cmd), 0);
    ef_tools_ctx_workdir_changed(f.tc);
    /* edits through the editor tool, a deletion by hand */
    CALL_OK(&f, "editor", "{\"command\":\"str_replace\",\"path\":\"main.c\",\"old_str\":"
                          "\"return a + b;\",\"new_str\":\"return a - b; /* oops */\"}");
    CALL_OK(&f, "editor", "{\"command\":\"insert\",\"path\":\"README\",\"insert_line\":2,"
                          "\"new_str\":\"again\"}");
    snprintf(cmd, sizeof cmd, "%s/gone.txt", f.dir);
    unlink(cmd);
    CALL_OK(&f, "git", "{\"command\":\"diff\"}");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s git --no-pager diff", f.dir, gitenv);
    char *cli = run_capture(cmd);
    EF_CHECK(cli && strlen(cli) > 100);
    EF_CHECK_MSG(cli && strcmp(cli, last_text) == 0, "tool diff:\n%s\ngit diff:\n%s", last_text,
                 cli ? cli : "(null)");
    ef_free(cli);
    /* path-limited diff */
    CALL_OK(&f, "git", "{\"command\":\"diff\",\"paths\":[\"README\"]}");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s git --no-pager diff -- README", f.dir, gitenv);
    cli = run_capture(cmd);
    EF_CHECK_MSG(cli && strcmp(cli, last_text) == 0, "tool:\n%s\ngit:\n%s", last_text,
                 cli ? cli : "(null)");
    ef_free(cli);
    /* status, like git status --short */
    fput(&f, "new.txt", "fresh\n");
    CALL_OK(&f, "git", "{\"command\":\"status\"}");
    EF_CHECK_CONTAINS(last_text, "## main\n");
    EF_CHECK_CONTAINS(last_text, " M README\n");
    EF_CHECK_CONTAINS(last_text, " D gone.txt\n");
    EF_CHECK_CONTAINS(last_text, " M main.c\n");
    EF_CHECK_CONTAINS(last_text, "?? new.txt\n");
    /* staged diff equals git diff --cached */
    snprintf(cmd, sizeof cmd, "cd '%s' && %s git add main.c", f.dir, gitenv);
    EF_CHECK_EQ_INT(system(cmd), 0);
    ef_tools_ctx_workdir_changed(f.tc);
    CALL_OK(&f, "git", "{\"command\":\"diff\",\"staged\":true}");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s git --no-pager diff --cached", f.dir, gitenv);
    cli = run_capture(cmd);
    EF_CHECK_MSG(cli && strcmp(cli, last_text) == 0, "tool:\n%s\ngit:\n%s", last_text,
                 cli ? cli : "(null)");
    ef_free(cli);
    /* checkout restores README from the index */
    CALL_OK(&f, "git", "{\"command\":\"checkout\",\"paths\":[\"README\"]}");
    char *t = slurp(f.dir, "README");
    EF_CHECK_EQ_STR(t, "hello\nworld");
    ef_free(t);
    CALL_ERR(&f, "git", "{\"command\":\"checkout\"}", "arguments.paths: required");
    CALL_ERR(&f, "git", "{\"command\":\"checkout\",\"paths\":[\"../x\"]}", "arguments.paths[0]");
    /* commit everything; the CLI sees it */
    CALL_OK(&f, "git", "{\"command\":\"commit\",\"message\":\"fix things\"}");
    EF_CHECK_CONTAINS(last_text, "Committed ");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s git log --format=%%s%%n%%an && %s git status --porcelain",
             f.dir, gitenv, gitenv);
    cli = run_capture(cmd);
    EF_CHECK_EQ_STR(cli, "fix things\nenvforge agent\nfirst commit\nt\n");
    ef_free(cli);
    CALL_ERR(&f, "git", "{\"command\":\"commit\",\"message\":\"again\"}", "nothing to commit");
    CALL_OK(&f, "git", "{\"command\":\"log\",\"n\":5}");
    EF_CHECK_CONTAINS(last_text, "envforge agent: fix things\n");
    EF_CHECK_CONTAINS(last_text, "t: first commit\n");
    /* show HEAD: header, then the same patch git show prints */
    CALL_OK(&f, "git", "{\"command\":\"show\"}");
    EF_CHECK_CONTAINS(last_text, "    fix things\n");
    snprintf(cmd, sizeof cmd, "cd '%s' && %s git --no-pager show --format= HEAD", f.dir, gitenv);
    cli = run_capture(cmd);
    EF_CHECK(cli && strstr(last_text, cli + (cli[0] == '\n')) != NULL);
    ef_free(cli);
    /* checkout from a revision */
    CALL_OK(&f, "git", "{\"command\":\"checkout\",\"rev\":\"HEAD~1\",\"paths\":[\"main.c\"]}");
    t = slurp(f.dir, "main.c");
    EF_CHECK_CONTAINS(t, "return a + b;");
    ef_free(t);
    CALL_ERR(&f, "git", "{\"command\":\"show\",\"rev\":\"nosuchrev\"}", "unknown revision");
    fx_close(&f);
}

/* A planted repository config or layout that points outside the workdir is refused; the
 * host-side tools touch files with the sandbox's uid. */
static void test_git_confinement(void)
{
    if (system("git --version >/dev/null 2>&1") != 0)
        EF_SKIP_CASE("no git CLI");
    fixture f;
    fx_open(&f, "gitconf", NULL);
    char outside[512], cmd[4096];
    snprintf(outside, sizeof outside, "%s", ef_test_tmpdir("gitout"));
    put(outside, "host.txt", "host file\n");
    const char *g = "env GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=t "
                    "-c user.email=t@t -c safe.directory='*'";
    snprintf(cmd, sizeof cmd, "cd '%s' && %s init -q . && echo a > a && %s add a && %s commit -qm x",
             f.dir, g, g, g);
    EF_CHECK_EQ_INT(system(cmd), 0);
    ef_tools_ctx_workdir_changed(f.tc);
    CALL_OK(&f, "git", "{\"command\":\"status\"}");
    /* core.worktree pointing outside */
    snprintf(cmd, sizeof cmd, "cd '%s' && %s config core.worktree '%s'", f.dir, g, outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    CALL_ERR(&f, "git", "{\"command\":\"checkout\",\"paths\":[\"host.txt\"]}",
             "work tree");
    EF_CHECK_CONTAINS(last_text, "lies outside");
    CALL_ERR(&f, "git", "{\"command\":\"diff\"}", "lies outside");
    char *t = slurp(outside, "host.txt");
    EF_CHECK_EQ_STR(t, "host file\n");
    ef_free(t);
    snprintf(cmd, sizeof cmd, "cd '%s' && %s config --unset core.worktree", f.dir, g);
    EF_CHECK_EQ_INT(system(cmd), 0);
    CALL_OK(&f, "git", "{\"command\":\"status\"}");
    /* objects borrowed from another repository */
    snprintf(cmd, sizeof cmd, "echo '%s' > '%s/.git/objects/info/alternates'", outside, f.dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
    CALL_ERR(&f, "git", "{\"command\":\"log\"}", "alternates");
    snprintf(cmd, sizeof cmd, "rm '%s/.git/objects/info/alternates'", f.dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
    /* a .git file sending libgit2 to a repository elsewhere */
    /* (made readable to all, so that the location check, not the file modes, refuses it) */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s init -q . && chmod -R a+rX '%s' && cd '%s' && mv .git .git-moved && "
             "echo 'gitdir: %s/.git' > .git",
             outside, g, outside, f.dir, outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    ef_tools_ctx_workdir_changed(f.tc);
    CALL_ERR(&f, "git", "{\"command\":\"status\"}", "git directory");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    fx_close(&f);
}

/* A directory of a checked-out path replaced by a symbolic link to outside the work tree:
 * libgit2 would write through it (onto the host, as the sandbox's uid); the tool refuses.
 * A link in the file's own place is replaced inside the work tree. */
static void test_git_checkout_links(void)
{
    if (system("git --version >/dev/null 2>&1") != 0)
        EF_SKIP_CASE("no git CLI");
    fixture f;
    fx_open(&f, "gitlink", NULL);
    /* no repository yet: said without the host's path */
    CALL_ERR(&f, "git", "{\"command\":\"status\"}", "git: no repository in the workdir");
    EF_CHECK(strstr(last_text, f.dir) == NULL);
    char outside[512], cmd[4096];
    snprintf(outside, sizeof outside, "%s", ef_test_tmpdir("gitlinkout"));
    put(outside, "x.txt", "ORIGINAL\n");
    snprintf(cmd, sizeof cmd, "chmod 1777 '%s' && chmod 666 '%s/x.txt'", outside, outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    const char *g = "env GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git -c user.name=t "
                    "-c user.email=t@t -c safe.directory='*'";
    snprintf(cmd, sizeof cmd,
             "cd '%s' && %s init -q . && mkdir sub && echo PWNED > sub/x.txt && echo b > b.txt "
             "&& %s add . && %s commit -qm x && rm -rf sub && ln -s '%s' sub && rm b.txt && "
             "ln -s '%s/x.txt' b.txt",
             f.dir, g, g, g, outside, outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    ef_tools_ctx_workdir_changed(f.tc);
    CALL_ERR(&f, "git", "{\"command\":\"checkout\",\"paths\":[\"sub/x.txt\"]}",
             "'sub' is a symbolic link");
    CALL_ERR(&f, "git", "{\"command\":\"checkout\",\"rev\":\"HEAD\",\"paths\":[\"sub/x.txt\"]}",
             "symbolic link");
    char *t = slurp(outside, "x.txt");
    EF_CHECK_EQ_STR(t, "ORIGINAL\n");
    ef_free(t);
    /* b.txt is a link to the outside file: restoring it replaces the link */
    CALL_OK(&f, "git", "{\"command\":\"checkout\",\"paths\":[\"b.txt\"]}");
    t = slurp(outside, "x.txt");
    EF_CHECK_EQ_STR(t, "ORIGINAL\n");
    ef_free(t);
    t = slurp(f.dir, "b.txt");
    EF_CHECK_EQ_STR(t, "b\n");
    ef_free(t);
    char p[700];
    struct stat st;
    snprintf(p, sizeof p, "%s/b.txt", f.dir);
    EF_CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", outside);
    EF_CHECK_EQ_INT(system(cmd), 0);
    fx_close(&f);
}

/* 1: a non-root user in its own user namespace (sandbox/rootless.c): the sandbox's
 * programs run as our own uid outside, so tools keep our ids */
static int rootless;

static void test_fs_identity(void)
{
    if (geteuid() != 0 || rootless)
        EF_SKIP_CASE("not root: tools keep the caller's own ids");
    struct stat st;
    if (stat("/etc/shadow", &st) != 0 || (st.st_mode & 0004))
        EF_SKIP_CASE("no root-only /etc/shadow here");
    fixture f;
    fx_open(&f, "fsid", NULL);
    ef_tools__fsid ids;
    EF_CHECK_OK(f.ctx, ef_tools__fs_drop(f.tc, &ids));
    EF_CHECK(ids.active);
    int fd = open("/etc/shadow", O_RDONLY);
    EF_CHECK(fd < 0 && errno == EACCES);
    if (fd >= 0)
        close(fd);
    fd = open("/etc/envforge-should-not-exist", O_WRONLY | O_CREAT, 0644);
    EF_CHECK(fd < 0);
    if (fd >= 0)
        close(fd);
    ef_tools__fs_restore(&ids);
    fd = open("/etc/shadow", O_RDONLY);
    EF_CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* the editor's files belong to the sandbox's uid */
    CALL_OK(&f, "editor", "{\"command\":\"create\",\"path\":\"owned.txt\",\"file_text\":\"x\"}");
    char p[700];
    snprintf(p, sizeof p, "%s/owned.txt", f.dir);
    EF_CHECK(stat(p, &st) == 0 && st.st_uid != 0);
    fx_close(&f);
}

/* Episodes on several threads at once: each its own context, the per-thread file identity
 * switch and libgit2 shared underneath. */
typedef struct {
    int idx;
    int failures;
} thread_job;

static void *episode_thread(void *arg)
{
    thread_job *job = arg;
    fixture f;
    char tag[32];
    snprintf(tag, sizeof tag, "thr%d", job->idx);
    fx_open(&f, tag, NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && env GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git init -q .",
             f.dir);
    if (system(cmd) != 0)
        job->failures++;
    ef_tools_ctx_workdir_changed(f.tc);
    for (int i = 0; i < 10; i++) {
        char args[256];
        snprintf(args, sizeof args,
                 "{\"command\":\"create\",\"path\":\"d%d/f.txt\",\"file_text\":\"v%d\\n\"}", i, i);
        const char *calls[][2] = {
            {"editor", args},
            {"editor", "{\"command\":\"view\",\"path\":\".\"}"},
            {"git", "{\"command\":\"status\"}"},
            {"git", "{\"command\":\"commit\",\"message\":\"step\"}"}};
        for (size_t k = 0; k < EF_ARRAY_LEN(calls); k++) {
            ef_tool_result r = EF_TOOL_RESULT_INIT;
            if (ef_tools_registry_call(f.reg, f.tc, calls[k][0], calls[k][1], &r) != 0 ||
                r.is_error) {
                printf("    thread %d: %s %s: %s\n", job->idx, calls[k][0], calls[k][1],
                       r.text ? r.text : "?");
                job->failures++;
            }
            ef_tools_result_free(&r);
        }
    }
    fx_close(&f);
    return NULL;
}

static void test_threads(void)
{
    if (system("git --version >/dev/null 2>&1") != 0)
        EF_SKIP_CASE("no git CLI");
    pthread_t t[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].idx = i;
        jobs[i].failures = 0;
        EF_CHECK_EQ_INT(pthread_create(&t[i], NULL, episode_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        EF_CHECK_EQ_INT(jobs[i].failures, 0);
    }
}

/* ---- submit, html -------------------------------------------------------------- */

static void test_submit(void)
{
    fixture f;
    fx_open(&f, "sub", NULL);
    const char *answer = NULL;
    EF_CHECK_EQ_INT(ef_tools_ctx_submitted(f.tc, &answer), 0);
    ef_tool_result r = call(&f, "submit", "{\"answer\":\"42\"}");
    EF_CHECK(!r.is_error && r.ends_episode);
    ef_tools_result_free(&r);
    EF_CHECK_EQ_INT(ef_tools_ctx_submitted(f.tc, &answer), 1);
    EF_CHECK_EQ_STR(answer, "42");
    r = call(&f, "submit", "{\"answer\":\"43\"}");
    EF_CHECK(r.is_error && r.ends_episode);
    ef_tools_result_free(&r);
    ef_tools_ctx_submitted(f.tc, &answer);
    EF_CHECK_EQ_STR(answer, "42");
    CALL_ERR(&f, "submit", "{}", "arguments.answer: required field is missing");
    fx_close(&f);
}

static void test_html(void)
{
    const char *html =
        "<!DOCTYPE html><html><head><title>A &amp; B</title><style>p{x}</style>"
        "<script>var x = '<p>no</p>';</script></head><body><!-- hidden -->"
        "<h1>Main   title</h1><p>First&nbsp;para with <b>bold</b> and &#x263A; &#65;.</p>"
        "<ul><li>one</li><li>two</li></ul><p>x &lt; y &unknown; a&b</p><pre>  keep\n   this</pre>"
        "<table><tr><td>c1</td><td>c2</td></tr></table></body></html>";
    char *text = NULL, *title = NULL;
    EF_CHECK_EQ_INT(ef_tools__html_to_text(html, strlen(html), &text, &title), 0);
    EF_CHECK_EQ_STR(title, "A & B");
    EF_CHECK_EQ_STR(text, "# Main title\n\nFirst para with bold and \xe2\x98\xba A.\n\n- one\n- "
                          "two\n\nx < y &unknown; a&b\n\n  keep\n   this\n\nc1 c2");
    ef_free(text);
    ef_free(title);
    EF_ALLOC_LOOP(k, 200)
    {
        char *t2 = NULL, *ti2 = NULL;
        if (ef_tools__html_to_text(html, strlen(html), &t2, &ti2) == 0) {
            ef_free(t2);
            ef_free(ti2);
        }
    }
    /* malformed markup never fails */
    const char *bad = "<p>open <b>never closed <a href='x'>link < not a tag <script>alert(1)";
    EF_CHECK_EQ_INT(ef_tools__html_to_text(bad, strlen(bad), &text, NULL), 0);
    EF_CHECK_EQ_STR(text, "open never closed link < not a tag");
    ef_free(text);
}

/* ---- the CLI ------------------------------------------------------------------- */

static void test_cli_tools_json(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN not set");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' tools --json", bin);
    char *out = run_capture(cmd);
    EF_CHECK(out != NULL);
    ef_ctx *ctx = ef_ctx_new();
    cJSON *defs = NULL;
    EF_CHECK_OK(ctx, ef_json_parse(ctx, out ? out : "", out ? strlen(out) : 0, "tools --json", &defs));
    EF_CHECK(cJSON_IsArray(defs));
    int n = 0, seen[16] = {0};
    const cJSON *d;
    cJSON_ArrayForEach(d, defs)
    {
        n++;
        const char *type = NULL, *name = NULL, *desc = NULL;
        const cJSON *params = NULL;
        EF_CHECK_OK(ctx, ef_json_get_str(ctx, d, "type", &type));
        EF_CHECK_EQ_STR(type, "function");
        EF_CHECK_OK(ctx, ef_json_get_str(ctx, d, "function.name", &name));
        EF_CHECK_OK(ctx, ef_json_get_str(ctx, d, "function.description", &desc));
        EF_CHECK(desc && strlen(desc) > 10);
        EF_CHECK_OK(ctx, ef_json_get_obj(ctx, d, "function.parameters", &params));
        EF_CHECK_OK(ctx, ef_tools_schema_check(ctx, params));
        const char *ptype = NULL;
        EF_CHECK_OK(ctx, ef_json_get_str(ctx, params, "type", &ptype));
        EF_CHECK_EQ_STR(ptype, "object");
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
        EF_CHECK(cJSON_IsObject(props) && cJSON_GetArraySize(props) > 0);
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(params, "required"), *r;
        cJSON_ArrayForEach(r, req) /* every required name is a property */
        {
            EF_CHECK(cJSON_GetObjectItemCaseSensitive(props, r->valuestring) != NULL);
        }
        for (int i = 0; name && ef_tools_builtin_names[i]; i++)
            if (strcmp(name, ef_tools_builtin_names[i]) == 0)
                seen[i]++;
        size_t nl = name ? strlen(name) : 0;
        EF_CHECK(nl > 0 && nl <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == nl);
    }
    int n_builtin = 0;
    for (int i = 0; ef_tools_builtin_names[i]; i++, n_builtin++)
        EF_CHECK_MSG(seen[i] == 1, "tool %s listed %d times", ef_tools_builtin_names[i], seen[i]);
    EF_CHECK_EQ_INT(n, n_builtin);
    cJSON_Delete(defs);
    ef_free(out);
    snprintf(cmd, sizeof cmd, "'%s' tools", bin);
    out = run_capture(cmd);
    EF_CHECK_CONTAINS(out, "editor\n");
    ef_free(out);
    ef_ctx_free(ctx);
}

static void test_cli_corpus(void)
{
    const char *bin = getenv("EF_BIN");
    if (!bin || access(bin, X_OK) != 0)
        EF_SKIP_CASE("EF_BIN not set");
    char dir[512], cmd[2048];
    snprintf(dir, sizeof dir, "%s", ef_test_tmpdir("clicorpus"));
    put(dir, "docs.jsonl", docs_jsonl);
    snprintf(cmd, sizeof cmd,
             "'%s' corpus build '%s/docs.jsonl' -o '%s/c.db' 2>/dev/null && '%s' corpus search "
             "'%s/c.db' 'lava ash' -k 1 --json",
             bin, dir, dir, bin, dir);
    char *out = run_capture(cmd);
    EF_CHECK_CONTAINS(out, "\"id\":\"geo-1\"");
    ef_free(out);
    snprintf(cmd, sizeof cmd, "'%s' corpus build '%s/none.jsonl' -o '%s/d.db' 2>/dev/null", bin,
             dir, dir);
    EF_CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    EF_CHECK_EQ_INT(system(cmd), 0);
}

int main(int argc, char **argv)
{
    rootless = ef_sandbox_rootless_enter(); /* as a non-root user (tests/run_unprivileged.sh) */
    EF_TEST_BEGIN(argc, argv);
    ef_json_init();
    EF_RUN(test_schema_types);
    EF_RUN(test_schema_check);
    EF_RUN(test_registry);
    EF_RUN(test_registry_garbage);
    EF_RUN(test_registry_alloc_failure);
    EF_RUN(test_editor_view_create);
    EF_RUN(test_editor_str_replace);
    EF_RUN(test_editor_insert);
    EF_RUN(test_editor_confinement);
    EF_RUN(test_corpus);
    EF_RUN(test_corpus_cjk);
    EF_RUN(test_git);
    EF_RUN(test_git_confinement);
    EF_RUN(test_git_checkout_links);
    EF_RUN(test_fs_identity);
    EF_RUN(test_threads);
    EF_RUN(test_submit);
    EF_RUN(test_html);
    EF_RUN(test_cli_tools_json);
    EF_RUN(test_cli_corpus);
    return EF_TEST_END();
}
