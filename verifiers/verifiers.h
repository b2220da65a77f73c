/*
 * verifiers/verifiers.h — reward functions: exact, numeric/math, regex, JSON (schema and
 * field equality), final-state match, unit tests in the sandbox. (Lua-defined verifiers —
 * an env's own verify — run in envgen/, which calls these through ef.verify.*.)
 *
 * Every verifier gives a reward in [0, 1] through *reward and returns 0; a malformed
 * *answer* is never an error (it scores 0). A malformed *reference* (expected value,
 * pattern, schema) is the env's bug and returns EF_EINVAL with a message on ctx.
 *
 *   double r;
 *   ef_verify_numeric_options no = EF_VERIFY_NUMERIC_OPTIONS_INIT;
 *   no.rtol = 1e-6;
 *   if (ef_verify_numeric(ctx, "\\boxed{3/4}", "0.75", &no, &r) < 0) ...;   // r == 1
 *
 *   ef_verify_exact_options eo = EF_VERIFY_EXACT_OPTIONS_INIT;     // ignore case, squeeze ws
 *   ef_verify_exact(ctx, "  Paris ", "paris", &eo, &r);            // r == 1
 *
 *   ef_verify_json(ctx, "{\"a\": 1}", "{\"a\": 1.0}", NULL, NULL, &r);   // r == 1
 *
 *   ef_unit_counts c;
 *   ef_verify_unit_parse("=== 3 passed, 1 failed in 0.2s ===", 1, &c);   // 3 passed, 1 failed
 */
#ifndef EF_VERIFIERS_H
#define EF_VERIFIERS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "common/ef.h"
#include "sandbox/sandbox.h"

/* 1: the verifiers are built. Kept for the CLI's capability checks. */
int ef_verifiers_available(void);
/* What is missing, for messages ("" now). Borrowed. */
const char *ef_verifiers_missing(void);

/* ---- exact ------------------------------------------------------------------------- */

typedef struct {
    int version;
    int case_sensitive; /* 0 (default): compare with ASCII case folded */
    int normalize_ws;   /* 1 (default): trim and squeeze runs of white space to one space */
} ef_verify_exact_options;
#define EF_VERIFY_EXACT_OPTIONS_INIT {1, 0, 1}

int ef_verify_exact(ef_ctx *ctx, const char *answer, const char *expected,
                    const ef_verify_exact_options *opts, double *reward);

/* ---- numeric / math ------------------------------------------------------------------ */

typedef struct {
    int version;
    double rtol;  /* relative tolerance (default 1e-6) */
    double atol;  /* absolute tolerance (default 0) */
    int extract;  /* 1: when the whole answer is not a number, take the last number in it */
} ef_verify_numeric_options;
#define EF_VERIFY_NUMERIC_OPTIONS_INIT {1, 1e-6, 0.0, 0}

/* Accepted forms (answer and expected): integers of any length (compared exactly when
 * both sides are integers), decimals, scientific notation (1.5e-3, 1.5x10^-3), fractions
 * a/b and \frac{a}{b} (compared exactly when both sides are fractions of 64-bit integers),
 * thousands separators (1,234,567), surrounding $...$, a trailing period, and
 * \boxed{...} (the last one in the text). */
int ef_verify_numeric(ef_ctx *ctx, const char *answer, const char *expected,
                      const ef_verify_numeric_options *opts, double *reward);

/* A parsed number: the exact digits when it is an integer, num/den when a fraction that
 * fits, and its double value. Returns 0, or EF_EPARSE when text is not a number. */
typedef struct {
    double value;
    int is_int;      /* integer literal: digits holds it exactly */
    int is_ratio;    /* num/den valid (integers and small fractions) */
    int negative;
    int64_t num, den; /* den > 0, reduced */
    char digits[256]; /* integer magnitude without leading zeros ("0" for zero) */
} ef_number;
int ef_verify_number_parse(const char *text, int extract, ef_number *out);

/* ---- regex (POSIX extended) ------------------------------------------------------------ */

/* 1 when pattern matches anywhere in answer (anchor it with ^...$ for a full match). */
int ef_verify_regex(ef_ctx *ctx, const char *answer, const char *pattern, int case_sensitive,
                    double *reward);

/* ---- JSON ---------------------------------------------------------------------------- */

typedef struct {
    int version;
    int subset;  /* 1: only the fields present in expected must match (extra fields ok) */
    int extract; /* 1: when the whole answer is not JSON, take the last JSON object or
                  * array in it ("Here is the plan: {...}"; a fenced block in prose) */
} ef_verify_json_options;
#define EF_VERIFY_JSON_OPTIONS_INIT {1, 0, 0}

/* answer: JSON text (a ```json fence around it is accepted). expected: JSON text or NULL
 * (then only the schema is checked). schema: JSON Schema text or NULL. Numbers compare by
 * value (1 == 1.0), objects ignore key order. */
int ef_verify_json(ef_ctx *ctx, const char *answer, const char *expected, const char *schema,
                   const ef_verify_json_options *opts, double *reward);

/* Deep equality of two JSON values (numbers by value, objects unordered); subset as above.
 * The same as ef_json_equal (common/json.h). */
int ef_verify_json_equal(const cJSON *a, const cJSON *expected, int subset);

/* Checks that schema is a JSON Schema this project understands (known keywords, right
 * types, required names declared in properties, patterns that compile). `where` names it
 * in messages ("tools.book.parameters"); the message gives the path inside it. */
int ef_verify_schema_check(ef_ctx *ctx, const cJSON *schema, const char *where);

/* Validates instance against schema: 0 when valid; EF_EINVAL with the first violation's
 * path on ctx when not ("arguments.date: expected string, got number"). `where` names
 * the instance's root in messages. */
int ef_verify_schema_validate(ef_ctx *ctx, const cJSON *schema, const cJSON *instance,
                              const char *where);

/* ---- final state ------------------------------------------------------------------------ */

/* SHA-256 (hex) of the canonical JSON of state (keys sorted, compact). */
int ef_verify_state_hash(ef_ctx *ctx, const cJSON *state, char out[65]);
/* 1 when both states have the same canonical hash (tau-bench's final-state match). */
int ef_verify_state_match(ef_ctx *ctx, const char *state_json, const char *expected_json,
                          double *reward);

/* ---- unit tests ------------------------------------------------------------------------ */

typedef struct {
    int passed, failed, errors, skipped;
    int found; /* 1 when a pytest/unittest/TAP summary was recognised in the output */
} ef_unit_counts;

/* Parses pytest ("3 passed, 1 failed, 2 errors in 0.1s"), unittest ("Ran 5 tests ...
 * OK" / "FAILED (failures=1, errors=2)") and TAP ("ok 1", "not ok 2") output. Without a
 * recognised summary the exit status decides: 0 -> 1 passed, else 1 failed. */
void ef_verify_unit_parse(const char *output, int exit_code, ef_unit_counts *out);

/* Reward from counts: passed / (passed + failed + errors); 0 when nothing ran. A non-zero
 * exit with every parsed test passing still scores 0 (the run crashed after them). */
double ef_verify_unit_reward(const ef_unit_counts *c, int exit_code);

/* A program run in the sandbox with files written into a fresh work dir (bound at /work,
 * the cwd); the dir is removed afterwards. */
typedef struct {
    int version;
    const char *const *argv;  /* NULL-terminated, e.g. {"python3", "-m", "pytest", "-q", NULL};
                                 NULL for unit tests: python3 -m unittest
                                 discover -s . -p "test*.py" */
    const char *const *file_names;    /* plain names (no '/', not "." or "..") */
    const char *const *file_contents; /* NUL-terminated */
    size_t n_files;
    int64_t wall_ms;
    int64_t mem_mb;
    const char *stdin_data;   /* may be NULL */
    size_t stdin_len;
    ef_sandbox_worker *worker; /* NULL: a temporary worker for this call */
} ef_verify_unit_options;
#define EF_VERIFY_UNIT_OPTIONS_INIT {1, NULL, NULL, NULL, 0, 10000, 512, NULL, 0, NULL}

/* Runs the program; *out: ef_sandbox_result_free. EF_ESANDBOX when the sandbox cannot be
 * set up here, EF_EINVAL for bad file names. */
int ef_verify_exec(ef_ctx *ctx, const ef_verify_unit_options *opts, ef_sandbox_result **out);

/* Runs the tests in the sandbox and scores them (ef_verify_unit_reward over the parsed
 * stdout + stderr). status_out (optional, static string): the sandbox status name. */
int ef_verify_unit_tests(ef_ctx *ctx, const ef_verify_unit_options *opts, double *reward,
                         ef_unit_counts *counts, const char **status_out);

#endif
