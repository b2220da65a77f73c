/*
 * verifiers/verify_text.c — text verifiers: exact match (with case folding and white-space
 * normalization options) and POSIX extended regular expressions. Also the component's
 * capability probe for the CLI.
 */
#define _POSIX_C_SOURCE 200809L
#include <regex.h>
#include <string.h>
#include "verifiers/verifiers.h"

int ef_verifiers_available(void)
{
    return 1;
}

const char *ef_verifiers_missing(void)
{
    return "";
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char fold(char c, int case_sensitive)
{
    if (!case_sensitive && c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    return c;
}

/* Next significant character of s at *i under the options; 0 at the end. With ws
 * normalization, leading/trailing space vanish and inner runs read as one ' '. */
static char next_char(const char *s, size_t *i, int normalize_ws, int case_sensitive)
{
    if (!normalize_ws) {
        char c = s[*i];
        if (c)
            (*i)++;
        return fold(c, case_sensitive);
    }
    if (is_ws(s[*i])) {
        size_t j = *i;
        while (is_ws(s[j]))
            j++;
        if (s[j] == 0 || *i == 0) { /* trailing or leading run */
            *i = j;
            if (s[j] == 0)
                return 0;
        } else {
            *i = j;
            return ' ';
        }
    }
    char c = s[*i];
    if (c)
        (*i)++;
    return fold(c, case_sensitive);
}

int ef_verify_exact(ef_ctx *ctx, const char *answer, const char *expected,
                    const ef_verify_exact_options *opts, double *reward)
{
    ef_verify_exact_options def = EF_VERIFY_EXACT_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    if (!expected)
        return ef_errorf(ctx, EF_EINVAL, "verify.exact: expected value is missing");
    if (!answer) {
        *reward = 0;
        return 0;
    }
    size_t i = 0, j = 0;
    for (;;) {
        char a = next_char(answer, &i, opts->normalize_ws, opts->case_sensitive);
        char b = next_char(expected, &j, opts->normalize_ws, opts->case_sensitive);
        if (a != b) {
            *reward = 0;
            return 0;
        }
        if (a == 0)
            break;
    }
    *reward = 1;
    return 0;
}

int ef_verify_regex(ef_ctx *ctx, const char *answer, const char *pattern, int case_sensitive,
                    double *reward)
{
    if (!pattern)
        return ef_errorf(ctx, EF_EINVAL, "verify.regex: pattern is missing");
    regex_t re;
    int flags = REG_EXTENDED | REG_NOSUB | (case_sensitive ? 0 : REG_ICASE);
    int rc = regcomp(&re, pattern, flags);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &re, msg, sizeof msg);
        return ef_errorf(ctx, EF_EINVAL, "verify.regex: pattern '%s' does not compile: %s",
                         pattern, msg);
    }
    *reward = (answer && regexec(&re, answer, 0, NULL, 0) == 0) ? 1.0 : 0.0;
    regfree(&re);
    return 0;
}
