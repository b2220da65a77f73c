/*
 * tests/test_verifiers.c — the verifiers: exact, numeric (forms, tolerances, exact big
 * integers and fractions, \boxed{}), regex, JSON (equality, subset, schema, fences), JSON
 * Schema checking of schemas themselves, final-state hashes, unit-test output parsing, and
 * malformed inputs for each (a bad answer scores 0; a bad reference is an error).
 */
#include <cjson/cJSON.h>
#include "common/json.h"
#include "sandbox/sandbox.h"
#include "tests/testlib.h"
#include "verifiers/verifiers.h"

static ef_ctx *ctx;

static double exact(const char *a, const char *e, int cs, int ws)
{
    ef_verify_exact_options o = EF_VERIFY_EXACT_OPTIONS_INIT;
    o.case_sensitive = cs;
    o.normalize_ws = ws;
    double r = -1;
    EF_CHECK_OK(ctx, ef_verify_exact(ctx, a, e, &o, &r));
    return r;
}

static void test_exact(void)
{
    EF_CHECK(exact("Paris", "paris", 0, 1) == 1);
    EF_CHECK(exact("Paris", "paris", 1, 1) == 0);
    EF_CHECK(exact("  New   York\n", "new york", 0, 1) == 1);
    EF_CHECK(exact("  New   York\n", "New York", 1, 0) == 0);
    EF_CHECK(exact("NewYork", "New York", 0, 1) == 0);
    EF_CHECK(exact("", "x", 0, 1) == 0);
    EF_CHECK(exact("   ", "", 0, 1) == 1);
    EF_CHECK(exact("x", "", 0, 1) == 0);
    double r;
    EF_CHECK(ef_verify_exact(ctx, NULL, "x", NULL, &r) == 0 && r == 0);
    EF_CHECK(ef_verify_exact(ctx, "x", NULL, NULL, &r) == EF_EINVAL);
}

static double num(const char *a, const char *e, double rtol, double atol)
{
    ef_verify_numeric_options o = EF_VERIFY_NUMERIC_OPTIONS_INIT;
    o.rtol = rtol;
    o.atol = atol;
    double r = -1;
    EF_CHECK_OK(ctx, ef_verify_numeric(ctx, a, e, &o, &r));
    return r;
}

static void test_numeric(void)
{
    EF_CHECK(num("42", "42", 0, 0) == 1);
    EF_CHECK(num("42.0", "42", 0, 0) == 1);
    EF_CHECK(num("-0", "0", 0, 0) == 1);
    EF_CHECK(num("007", "7", 0, 0) == 1);
    EF_CHECK(num("41", "42", 0, 0) == 0);
    EF_CHECK(num("1,234,567", "1234567", 0, 0) == 1);
    EF_CHECK(num("1,23,4", "1234", 0, 0) == 0);
    EF_CHECK(num("3/4", "0.75", 0, 0) == 1);
    EF_CHECK(num("\\frac{3}{4}", "0.75", 0, 0) == 1);
    EF_CHECK(num("-\\dfrac{6}{8}", "-3/4", 0, 0) == 1);
    EF_CHECK(num("The answer is \\boxed{12}.", "12", 0, 0) == 1);
    EF_CHECK(num("\\boxed{\\frac{1}{3}}", "0.333333333", 1e-6, 0) == 1);
    EF_CHECK(num("1/3", "0.33", 1e-6, 0) == 0);
    EF_CHECK(num("1.5e3", "1500", 0, 0) == 1);
    EF_CHECK(num("1.5x10^3", "1500", 0, 0) == 1);
    EF_CHECK(num("1.5 \\times 10^{-3}", "0.0015", 1e-12, 0) == 1);
    EF_CHECK(num("$42$", "42", 0, 0) == 1);
    EF_CHECK(num("42.", "42", 0, 0) == 1);
    EF_CHECK(num("3.14159", "3.14", 0, 0.01) == 1);
    EF_CHECK(num("3.2", "3.14", 0, 0.01) == 0);
    EF_CHECK(num("100.00001", "100", 1e-6, 0) == 1);
    /* big integers compare exactly, whatever the tolerance */
    EF_CHECK(num("123456789012345678901234567890", "123456789012345678901234567890", 1e-3, 0) == 1);
    EF_CHECK(num("123456789012345678901234567891", "123456789012345678901234567890", 1e-3, 0) == 0);
    EF_CHECK(num("-5", "5", 0, 0) == 0);
    /* malformed answers score 0 */
    const char *bad[] = {"", "abc", "4 2", "1/0", "\\frac{1}{}", "\\boxed{", "1e", "--3",
                         "1.2.3", "0x10", "nan", "inf", "3/", "/3", "\xff\xfe", "1,2"};
    for (size_t i = 0; i < EF_ARRAY_LEN(bad); i++)
        EF_CHECK_MSG(num(bad[i], "3", 0, 0) == 0, "answer '%s'", bad[i]);
    /* extraction only when asked */
    ef_verify_numeric_options o = EF_VERIFY_NUMERIC_OPTIONS_INIT;
    double r;
    EF_CHECK_OK(ctx, ef_verify_numeric(ctx, "so it is 17 apples", "17", &o, &r));
    EF_CHECK(r == 0);
    o.extract = 1;
    EF_CHECK_OK(ctx, ef_verify_numeric(ctx, "so it is 17 apples", "17", &o, &r));
    EF_CHECK(r == 1);
    /* a malformed reference is an error */
    EF_CHECK(ef_verify_numeric(ctx, "1", "one", NULL, &r) == EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "'one'");
    o.rtol = -1;
    EF_CHECK(ef_verify_numeric(ctx, "1", "1", &o, &r) == EF_EINVAL);
}

/* Bare integers take a short path in ef_verify_number_parse; it must give exactly what
 * the general parser gives (which a leading space forces). */
static void test_number_fast_path(void)
{
    const char *cases[] = {"0", "-0", "7", "-7", "007", "-000120", "999999999999999",
                           "-999999999999999", "123456789012345", "100000000000000"};
    for (size_t i = 0; i < EF_ARRAY_LEN(cases); i++) {
        char spaced[64];
        snprintf(spaced, sizeof spaced, " %s", cases[i]);
        ef_number a, b;
        EF_CHECK_EQ_INT(ef_verify_number_parse(cases[i], 0, &a), 0);
        EF_CHECK_EQ_INT(ef_verify_number_parse(spaced, 0, &b), 0);
        EF_CHECK_EQ_STR(a.digits, b.digits);
        EF_CHECK_EQ_INT(a.is_int, b.is_int);
        EF_CHECK_EQ_INT(a.is_ratio, b.is_ratio);
        EF_CHECK_EQ_INT(a.negative, b.negative);
        EF_CHECK_EQ_INT(a.num, b.num);
        EF_CHECK_EQ_INT(a.den, b.den);
        EF_CHECK(memcmp(&a.value, &b.value, sizeof a.value) == 0); /* -0.0 too */
    }
    /* not bare integers: the general parser's answers */
    ef_number x;
    EF_CHECK_EQ_INT(ef_verify_number_parse("1234567890123456", 0, &x), 0); /* 16 digits */
    EF_CHECK_EQ_STR(x.digits, "1234567890123456");
    EF_CHECK_EQ_INT(ef_verify_number_parse("+5", 0, &x), 0);
    EF_CHECK_EQ_INT(x.num, 5);
    EF_CHECK_EQ_INT(ef_verify_number_parse("-", 0, &x), EF_EPARSE);
    EF_CHECK_EQ_INT(ef_verify_number_parse("", 0, &x), EF_EPARSE);
    EF_CHECK_EQ_INT(ef_verify_number_parse("12a", 0, &x), EF_EPARSE);
}

static void test_regex(void)
{
    double r;
    EF_CHECK_OK(ctx, ef_verify_regex(ctx, "flight AB123 booked", "[A-Z]{2}[0-9]{3}", 1, &r));
    EF_CHECK(r == 1);
    EF_CHECK_OK(ctx, ef_verify_regex(ctx, "ab123", "^[A-Z]{2}[0-9]{3}$", 1, &r));
    EF_CHECK(r == 0);
    EF_CHECK_OK(ctx, ef_verify_regex(ctx, "ab123", "^[A-Z]{2}[0-9]{3}$", 0, &r));
    EF_CHECK(r == 1);
    EF_CHECK_OK(ctx, ef_verify_regex(ctx, NULL, "x", 1, &r));
    EF_CHECK(r == 0);
    EF_CHECK(ef_verify_regex(ctx, "x", "([a-z", 1, &r) == EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "does not compile");
}

static double vjson(const char *a, const char *e, const char *s, int subset)
{
    ef_verify_json_options o = EF_VERIFY_JSON_OPTIONS_INIT;
    o.subset = subset;
    double r = -1;
    EF_CHECK_OK(ctx, ef_verify_json(ctx, a, e, s, &o, &r));
    return r;
}

static void test_json(void)
{
    EF_CHECK(vjson("{\"a\": 1, \"b\": [1, 2]}", "{\"b\":[1,2],\"a\":1.0}", NULL, 0) == 1);
    EF_CHECK(vjson("{\"a\": 1, \"b\": [2, 1]}", "{\"b\":[1,2],\"a\":1}", NULL, 0) == 0);
    EF_CHECK(vjson("{\"a\": 1, \"c\": 3}", "{\"a\":1}", NULL, 0) == 0);
    EF_CHECK(vjson("{\"a\": 1, \"c\": 3}", "{\"a\":1}", NULL, 1) == 1);
    EF_CHECK(vjson("```json\n{\"a\": true}\n```", "{\"a\":true}", NULL, 0) == 1);
    EF_CHECK(vjson("{\"a\": true", "{\"a\":true}", NULL, 0) == 0);
    EF_CHECK(vjson("", "{}", NULL, 0) == 0);
    EF_CHECK(vjson("null", "null", NULL, 0) == 1);
    const char *schema = "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
                         "\"minLength\":2},\"n\":{\"type\":\"integer\",\"minimum\":1}},"
                         "\"required\":[\"city\",\"n\"],\"additionalProperties\":false}";
    EF_CHECK(vjson("{\"city\":\"Oslo\",\"n\":2}", NULL, schema, 0) == 1);
    EF_CHECK(vjson("{\"city\":\"Oslo\",\"n\":2.5}", NULL, schema, 0) == 0);
    EF_CHECK(vjson("{\"city\":\"O\",\"n\":2}", NULL, schema, 0) == 0);
    EF_CHECK(vjson("{\"city\":\"Oslo\"}", NULL, schema, 0) == 0);
    EF_CHECK(vjson("{\"city\":\"Oslo\",\"n\":2,\"x\":1}", NULL, schema, 0) == 0);
    EF_CHECK(vjson("{\"city\":\"Oslo\",\"n\":0}", NULL, schema, 0) == 0);
    double r;
    EF_CHECK(ef_verify_json(ctx, "{}", "{bad", NULL, NULL, &r) == EF_EINVAL);
    EF_CHECK(ef_verify_json(ctx, "{}", NULL, "{\"type\":\"strin\"}", NULL, &r) == EF_EINVAL);
}

static double vjson_extract(const char *a, const char *e)
{
    ef_verify_json_options o = EF_VERIFY_JSON_OPTIONS_INIT;
    o.extract = 1;
    double r = -1;
    EF_CHECK_OK(ctx, ef_verify_json(ctx, a, e, NULL, &o, &r));
    return r;
}

/* extract: the last top-level object or array in prose; an inner object is not taken
 * for the last value, and broken JSON still scores 0 */
static void test_json_extract(void)
{
    EF_CHECK(vjson("Here it is: {\"a\": 1}", "{\"a\":1}", NULL, 0) == 0);
    EF_CHECK(vjson_extract("Here it is: {\"a\": 1}", "{\"a\":1}") == 1);
    EF_CHECK(vjson_extract("Plan:\n```json\n[1, 2]\n```\nDone.", "[1,2]") == 1);
    EF_CHECK(vjson_extract("first {\"a\": 1} then {\"a\": 2}.", "{\"a\":2}") == 1);
    EF_CHECK(vjson_extract("{\"outer\": {\"a\": 1}}", "{\"a\":1}") == 0);
    EF_CHECK(vjson_extract("x {\"outer\": {\"a\": 1}} y", "{\"outer\":{\"a\":1}}") == 1);
    EF_CHECK(vjson_extract("{\"a\": 1", "{\"a\":1}") == 0);
    EF_CHECK(vjson_extract("no json at all {{[", "{}") == 0);
    EF_CHECK(vjson_extract("", "{}") == 0);
    EF_CHECK(vjson_extract("{\"a\": 1}", "{\"a\":1}") == 1);
}

static int schema_err(const char *text, const char *needle)
{
    cJSON *s = cJSON_Parse(text);
    if (!s)
        return 0;
    int rc = ef_verify_schema_check(ctx, s, "p");
    cJSON_Delete(s);
    if (rc == 0)
        return 0;
    if (needle && !strstr(ef_errmsg(ctx), needle)) {
        printf("    message: %s\n", ef_errmsg(ctx));
        return 0;
    }
    return 1;
}

static void test_schema_check(void)
{
    cJSON *ok = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\","
                            "\"null\"]},\"b\":{\"type\":\"array\",\"items\":{\"enum\":[1,2]}}},"
                            "\"required\":[\"a\"],\"description\":\"x\"}");
    EF_CHECK_OK(ctx, ef_verify_schema_check(ctx, ok, "p"));
    cJSON_Delete(ok);
    EF_CHECK(schema_err("{\"type\":\"strin\"}", "p.type: 'strin'"));
    EF_CHECK(schema_err("{\"type\":3}", "p.type"));
    EF_CHECK(schema_err("{\"properties\":[]}", "p.properties"));
    EF_CHECK(schema_err("{\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"b\"]}",
                        "'b' is required"));
    EF_CHECK(schema_err("{\"required\":\"a\"}", "p.required"));
    EF_CHECK(schema_err("{\"minLength\":-1}", "p.minLength"));
    EF_CHECK(schema_err("{\"pattern\":\"([\"}", "p.pattern"));
    EF_CHECK(schema_err("{\"enum\":[]}", "p.enum"));
    EF_CHECK(schema_err("{\"requird\":[]}", "unknown JSON Schema keyword 'requird'"));
    EF_CHECK(schema_err("{\"items\":{\"properties\":{\"x\":{\"type\":\"nope\"}}}}",
                        "p.items.properties.x.type"));
    EF_CHECK(schema_err("[1]", "must be an object"));
    /* instance validation messages name the path */
    cJSON *s = cJSON_Parse("{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\"}},"
                           "\"required\":[\"d\"]}");
    cJSON *i = cJSON_Parse("{\"d\":5}");
    EF_CHECK(ef_verify_schema_validate(ctx, s, i, "arguments") == EF_EINVAL);
    EF_CHECK_CONTAINS(ef_errmsg(ctx), "arguments.d: expected string, got integer");
    cJSON_Delete(i);
    cJSON_Delete(s);
}

static void test_state(void)
{
    double r;
    EF_CHECK_OK(ctx, ef_verify_state_match(ctx, "{\"b\":[1,{\"x\":2}],\"a\":\"é\"}",
                                           "{\"a\":\"é\",\"b\":[1,{\"x\":2}]}", &r));
    EF_CHECK(r == 1);
    EF_CHECK_OK(ctx, ef_verify_state_match(ctx, "{\"b\":[1,{\"x\":3}],\"a\":\"é\"}",
                                           "{\"a\":\"é\",\"b\":[1,{\"x\":2}]}", &r));
    EF_CHECK(r == 0);
    EF_CHECK_OK(ctx, ef_verify_state_match(ctx, "not json", "{}", &r));
    EF_CHECK(r == 0);
    EF_CHECK(ef_verify_state_match(ctx, "{}", "{", &r) == EF_EINVAL);
    cJSON *v = cJSON_Parse("{\"k\":[true,null]}");
    char hex[65];
    EF_CHECK_OK(ctx, ef_verify_state_hash(ctx, v, hex));
    EF_CHECK_EQ_INT(strlen(hex), 64);
    cJSON_Delete(v);
}

static void test_unit_parse(void)
{
    ef_unit_counts c;
    ef_verify_unit_parse("....F.\n=== 5 passed, 1 failed, 2 warnings in 0.12s ===\n", 1, &c);
    EF_CHECK(c.found && c.passed == 5 && c.failed == 1 && c.errors == 0);
    EF_CHECK_NEAR(ef_verify_unit_reward(&c, 1), 5.0 / 6.0, 1e-12);
    ef_verify_unit_parse("== 3 passed, 1 error in 1.00s ==", 1, &c);
    EF_CHECK(c.passed == 3 && c.errors == 1);
    ef_verify_unit_parse("== 2 failed, 2 errors in 1.00s ==", 1, &c);
    EF_CHECK(c.failed == 2 && c.errors == 2 && c.passed == 0);
    ef_verify_unit_parse("..\n---------\nRan 4 tests in 0.001s\n\nFAILED (failures=1, errors=1)\n", 1, &c);
    EF_CHECK(c.found && c.passed == 2 && c.failed == 1 && c.errors == 1);
    ef_verify_unit_parse("Ran 3 tests in 0.001s\n\nOK\n", 0, &c);
    EF_CHECK(c.passed == 3 && c.failed == 0);
    EF_CHECK(ef_verify_unit_reward(&c, 0) == 1);
    EF_CHECK(ef_verify_unit_reward(&c, 1) == 0); /* crashed after its tests */
    ef_verify_unit_parse("1..3\nok 1 a\nnot ok 2 b\nok 3 c\n", 1, &c);
    EF_CHECK(c.passed == 2 && c.failed == 1);
    ef_verify_unit_parse("garbage \x01\x02 with no summary", 0, &c);
    EF_CHECK(!c.found && c.passed == 1);
    ef_verify_unit_parse(NULL, 3, &c);
    EF_CHECK(!c.found && c.failed == 1);
    EF_CHECK(ef_verify_unit_reward(&c, 3) == 0);
    ef_verify_unit_parse("", 0, &c);
    EF_CHECK(c.passed == 1);
}

static void test_unit_sandbox(void)
{
    const char *names[] = {"test_x.py"};
    const char *contents[] = {"import unittest\n"
                              "class T(unittest.TestCase):\n"
                              "    def test_a(self): self.assertEqual(1 + 1, 2)\n"
                              "    def test_b(self): self.assertEqual(1 + 1, 3)\n"
                              "    def test_c(self): pass\n"
                              "unittest.main()\n"};
    const char *argv[] = {"python3", "test_x.py", NULL};
    ef_verify_unit_options o = EF_VERIFY_UNIT_OPTIONS_INIT;
    o.argv = argv;
    o.file_names = names;
    o.file_contents = contents;
    o.n_files = 1;
    double r = -1;
    ef_unit_counts c;
    const char *status = NULL;
    int rc = ef_verify_unit_tests(ctx, &o, &r, &c, &status);
    if (rc == EF_EUNSUPPORTED || rc == EF_ESANDBOX)
        EF_SKIP_CASE("sandbox cannot run here");
    EF_CHECK_OK(ctx, rc);
    if (status && strcmp(status, "setup-error") == 0)
        EF_SKIP_CASE("sandbox setup fails on this machine");
    EF_CHECK_MSG(c.found && c.passed == 2 && c.failed == 1, "passed %d failed %d status %s",
                 c.passed, c.failed, status ? status : "?");
    EF_CHECK_NEAR(r, 2.0 / 3.0, 1e-12);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    ctx = ef_ctx_new();
    EF_RUN(test_exact);
    EF_RUN(test_numeric);
    EF_RUN(test_number_fast_path);
    EF_RUN(test_regex);
    EF_RUN(test_json);
    EF_RUN(test_json_extract);
    EF_RUN(test_schema_check);
    EF_RUN(test_state);
    EF_RUN(test_unit_parse);
    EF_RUN(test_unit_sandbox);
    ef_ctx_free(ctx);
    return EF_TEST_END();
}
