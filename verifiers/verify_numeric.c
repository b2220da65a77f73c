/*
 * verifiers/verify_numeric.c — numeric and math-answer verification: parses integers of
 * any length, decimals, scientific notation, fractions (a/b, \frac{a}{b}), thousands
 * separators, \boxed{} and $...$ wrappers, then compares exactly (integers, small
 * rationals) or within a relative/absolute tolerance.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "verifiers/verifiers.h"

typedef struct {
    const char *p;
    size_t n;
} span;

static int sp_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static span trim(span s)
{
    while (s.n && sp_ws(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && sp_ws(s.p[s.n - 1]))
        s.n--;
    return s;
}

static int starts(span s, const char *lit)
{
    size_t k = strlen(lit);
    return s.n >= k && memcmp(s.p, lit, k) == 0;
}

/* The content of a {...} group starting at s.p[0] == '{'; len of group incl. braces. */
static int brace_group(span s, span *inner, size_t *group_len)
{
    if (!s.n || s.p[0] != '{')
        return -1;
    int depth = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] == '{')
            depth++;
        else if (s.p[i] == '}' && --depth == 0) {
            inner->p = s.p + 1;
            inner->n = i - 1;
            *group_len = i + 1;
            return 0;
        }
    }
    return -1;
}

/* Last \boxed{...} (or \fbox{...}) content, if any. */
static int find_boxed(span s, span *out)
{
    const char *best = NULL;
    size_t best_k = 0;
    /* every backslash in the text, found with memchr, is a candidate start */
    const char *p = s.p, *end = s.p + s.n;
    while (p < end && (p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        size_t left = (size_t)(end - p);
        if (left >= 6 && memcmp(p, "\\boxed", 6) == 0) {
            best = p;
            best_k = 6;
        } else if (left >= 5 && memcmp(p, "\\fbox", 5) == 0) {
            best = p;
            best_k = 5;
        }
        p++;
    }
    if (!best)
        return -1;
    span rest = {best + best_k, (size_t)(s.p + s.n - (best + best_k))};
    rest = trim(rest);
    size_t gl;
    return brace_group(rest, out, &gl);
}

static int64_t gcd64(int64_t a, int64_t b)
{
    if (a < 0)
        a = -a;
    if (b < 0)
        b = -b;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void set_ratio(ef_number *x, __int128 num, __int128 den)
{
    if (den < 0) {
        num = -num;
        den = -den;
    }
    if (den == 0 || num > INT64_MAX || num < -INT64_MAX || den > INT64_MAX) {
        x->is_ratio = 0;
        return;
    }
    int64_t g = gcd64((int64_t)num, (int64_t)den);
    if (g == 0)
        g = 1;
    x->num = (int64_t)num / g;
    x->den = (int64_t)den / g;
    x->is_ratio = 1;
}

/* A plain decimal: [sign] digits[,ddd]* [. digits] [e[sign]digits | x10^[sign]digits]. */
static int parse_decimal(span s, ef_number *x)
{
    memset(x, 0, sizeof *x);
    size_t i = 0;
    int neg = 0;
    if (i < s.n && (s.p[i] == '-' || s.p[i] == '+')) {
        neg = s.p[i] == '-';
        i++;
    } else if (s.n >= 3 && (unsigned char)s.p[0] == 0xE2 && (unsigned char)s.p[1] == 0x88 &&
               (unsigned char)s.p[2] == 0x92) { /* U+2212 minus sign */
        neg = 1;
        i = 3;
    }
    char intd[256];
    size_t n_int = 0, n_frac = 0, group = 0;
    int seen_sep = 0, overflow = 0;
    char buf[512];
    size_t nb = 0;
    while (i < s.n && (isdigit((unsigned char)s.p[i]) || s.p[i] == ',')) {
        if (s.p[i] == ',') {
            /* a thousands separator: needs 1-3 digits before the first, 3 between */
            if (n_int == 0 || (seen_sep && group != 3) || (!seen_sep && group > 3))
                return EF_EPARSE;
            seen_sep = 1;
            group = 0;
        } else {
            if (n_int < sizeof intd - 1)
                intd[n_int] = s.p[i];
            else
                overflow = 1;
            n_int++;
            group++;
            if (nb < sizeof buf - 1)
                buf[nb++] = s.p[i];
        }
        i++;
    }
    if (seen_sep && group != 3)
        return EF_EPARSE;
    char fracd[40];
    int frac_overflow = 0;
    if (i < s.n && s.p[i] == '.') {
        i++;
        if (nb < sizeof buf - 1)
            buf[nb++] = '.';
        while (i < s.n && isdigit((unsigned char)s.p[i])) {
            if (n_frac < sizeof fracd)
                fracd[n_frac] = s.p[i];
            else
                frac_overflow = 1;
            n_frac++;
            if (nb < sizeof buf - 1)
                buf[nb++] = s.p[i];
            i++;
        }
    }
    if (n_int == 0 && n_frac == 0)
        return EF_EPARSE;
    long exp10 = 0;
    int has_exp = 0;
    span rest = {s.p + i, s.n - i};
    rest = trim(rest);
    const char *times[] = {"x10^", "x 10^", "*10^", "\\times10^", "\\times 10^", "\xC3\x97" "10^",
                           "\xC3\x97" " 10^"};
    size_t tl = 0;
    if (rest.n && (rest.p[0] == 'e' || rest.p[0] == 'E')) {
        tl = 1;
    } else {
        for (size_t k = 0; k < EF_ARRAY_LEN(times); k++)
            if (starts(rest, times[k])) {
                tl = strlen(times[k]);
                break;
            }
    }
    if (tl) {
        span e = {rest.p + tl, rest.n - tl};
        span inner;
        size_t gl;
        if (e.n && e.p[0] == '{' && brace_group(e, &inner, &gl) == 0) {
            if (gl != e.n)
                return EF_EPARSE;
            e = trim(inner);
        }
        size_t j = 0;
        int eneg = 0;
        if (j < e.n && (e.p[j] == '-' || e.p[j] == '+'))
            eneg = e.p[j++] == '-';
        if (j >= e.n)
            return EF_EPARSE;
        for (; j < e.n; j++) {
            if (!isdigit((unsigned char)e.p[j]))
                return EF_EPARSE;
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (e.p[j] - '0');
        }
        if (eneg)
            exp10 = -exp10;
        has_exp = 1;
    } else if (rest.n) {
        return EF_EPARSE;
    }
    buf[nb] = 0;
    if (!has_exp && !overflow && !frac_overflow && n_int + n_frac <= 15) {
        /* at most 15 digits: numerator and 10^n_frac are exact doubles and one division
         * rounds correctly, the same value strtod gives */
        double num = 0, den = 1;
        for (size_t k = 0; k < n_int; k++)
            num = num * 10 + (intd[k] - '0');
        for (size_t k = 0; k < n_frac; k++) {
            num = num * 10 + (fracd[k] - '0');
            den *= 10;
        }
        x->value = neg ? -(num / den) : num / den;
    } else {
        char ebuf[600];
        snprintf(ebuf, sizeof ebuf, "%s%se%ld", neg ? "-" : "", nb ? buf : "0", exp10);
        x->value = strtod(ebuf, NULL);
    }
    x->negative = neg;
    /* exact integer digits */
    if (!has_exp && n_frac == 0 && !overflow) {
        size_t k = 0;
        while (k + 1 < n_int && intd[k] == '0')
            k++;
        memcpy(x->digits, intd + k, n_int - k);
        x->digits[n_int - k] = 0;
        x->is_int = 1;
        if (strcmp(x->digits, "0") == 0)
            x->negative = 0;
    }
    /* exact rational for short decimals without exponent */
    if (!has_exp && !overflow && !frac_overflow && n_int + n_frac <= 18) {
        __int128 num = 0, den = 1;
        for (size_t k = 0; k < n_int; k++)
            num = num * 10 + (intd[k] - '0');
        for (size_t k = 0; k < n_frac; k++) {
            num = num * 10 + (fracd[k] - '0');
            den *= 10;
        }
        set_ratio(x, neg ? -num : num, den);
    }
    return 0;
}

static int parse_number_span(span s, ef_number *x, int depth);

/* x = (neg ? -1 : 1) * a / b, exact when both are rationals. */
static void divide(ef_number *x, const ef_number *a, const ef_number *b, int neg)
{
    memset(x, 0, sizeof *x);
    x->value = a->value / b->value * (neg ? -1 : 1);
    x->negative = x->value < 0;
    if (a->is_ratio && b->is_ratio && b->num != 0)
        set_ratio(x, (__int128)a->num * b->den * (neg ? -1 : 1), (__int128)a->den * b->num);
}

/* \frac{a}{b}, \dfrac, \tfrac, or a/b. */
static int parse_fraction(span s, ef_number *x, int depth)
{
    int neg = 0;
    span t = s;
    if (t.n && (t.p[0] == '-' || t.p[0] == '+')) {
        neg = t.p[0] == '-';
        t.p++;
        t.n--;
        t = trim(t);
    }
    const char *fr[] = {"\\frac", "\\dfrac", "\\tfrac"};
    for (size_t k = 0; k < 3; k++) {
        if (!starts(t, fr[k]))
            continue;
        span r = {t.p + strlen(fr[k]), t.n - strlen(fr[k])};
        span a, b;
        size_t ga, gb;
        r = trim(r);
        if (brace_group(r, &a, &ga) < 0)
            return EF_EPARSE;
        r.p += ga;
        r.n -= ga;
        r = trim(r);
        if (brace_group(r, &b, &gb) < 0 || gb != r.n)
            return EF_EPARSE;
        ef_number na, nb;
        if (parse_number_span(trim(a), &na, depth + 1) < 0 ||
            parse_number_span(trim(b), &nb, depth + 1) < 0 || nb.value == 0)
            return EF_EPARSE;
        divide(x, &na, &nb, neg);
        return 0;
    }
    const char *slash = memchr(s.p, '/', s.n);
    if (!slash)
        return EF_EPARSE;
    span a = trim((span){s.p, (size_t)(slash - s.p)});
    span b = trim((span){slash + 1, s.n - (size_t)(slash - s.p) - 1});
    ef_number na, nb;
    if (parse_decimal(a, &na) < 0 || parse_decimal(b, &nb) < 0 || nb.value == 0)
        return EF_EPARSE;
    divide(x, &na, &nb, 0);
    return 0;
}

static int parse_number_span(span s, ef_number *x, int depth)
{
    if (depth > 4)
        return EF_EPARSE;
    s = trim(s);
    /* unwrap $...$, \(...\), a trailing period, \boxed{...} */
    for (int k = 0; k < 4; k++) {
        span inner;
        if (find_boxed(s, &inner) == 0) {
            s = trim(inner);
            continue;
        }
        if (s.n >= 2 && s.p[0] == '$' && s.p[s.n - 1] == '$') {
            s = trim((span){s.p + 1, s.n - 2});
            continue;
        }
        if (s.n >= 4 && starts(s, "\\(") && s.p[s.n - 2] == '\\' && s.p[s.n - 1] == ')') {
            s = trim((span){s.p + 2, s.n - 4});
            continue;
        }
        if (s.n >= 2 && s.p[s.n - 1] == '.') {
            s.n--;
            s = trim(s);
            continue;
        }
        break;
    }
    if (!s.n)
        return EF_EPARSE;
    if (parse_decimal(s, x) == 0)
        return 0;
    return parse_fraction(s, x, depth);
}

/* The last number-looking token in text (for extract mode). */
static int last_number(span s, span *out)
{
    size_t i = s.n;
    while (i > 0 && !isdigit((unsigned char)s.p[i - 1]))
        i--;
    if (i == 0)
        return -1;
    size_t end = i, b = i;
    while (b > 0 && (isdigit((unsigned char)s.p[b - 1]) || s.p[b - 1] == '.' ||
                     s.p[b - 1] == ',' || s.p[b - 1] == '/'))
        b--;
    if (b > 0 && s.p[b - 1] == '-')
        b--;
    while (b < end && (s.p[b] == '.' || s.p[b] == ',' || s.p[b] == '/'))
        b++;
    out->p = s.p + b;
    out->n = end - b;
    return 0;
}

/* The common case of a bare integer of at most 15 digits ("-?[0-9]{1,15}", nothing
 * around it): the same result parse_decimal gives, without its scans and buffers
 * (generators verify millions of such answers). Returns -1 when the text is anything
 * else. */
static int parse_plain_int(const char *t, ef_number *x)
{
    const char *p = t;
    int neg = *p == '-';
    p += neg;
    const char *d = p;
    while (*p >= '0' && *p <= '9')
        p++;
    size_t n = (size_t)(p - d);
    if (*p || n == 0 || n > 15)
        return -1;
    memset(x, 0, sizeof *x);
    while (n > 1 && *d == '0') {
        d++;
        n--;
    }
    int64_t v = 0;
    for (size_t k = 0; k < n; k++)
        v = v * 10 + (d[k] - '0');
    memcpy(x->digits, d, n);
    x->digits[n] = 0;
    x->is_int = 1;
    x->value = neg ? -(double)v : (double)v;
    x->negative = neg && v != 0;
    x->num = neg ? -v : v;
    x->den = 1;
    x->is_ratio = 1;
    return 0;
}

int ef_verify_number_parse(const char *text, int extract, ef_number *out)
{
    if (!text)
        return EF_EPARSE;
    if (parse_plain_int(text, out) == 0)
        return 0;
    span s = {text, strlen(text)};
    ef_number x;
    if (parse_number_span(s, &x, 0) == 0) {
        *out = x;
        return 0;
    }
    if (!extract)
        return EF_EPARSE;
    span inner, tok;
    if (find_boxed(s, &inner) == 0)
        s = inner;
    if (last_number(s, &tok) < 0 || parse_number_span(tok, &x, 0) < 0)
        return EF_EPARSE;
    *out = x;
    return 0;
}

int ef_verify_numeric(ef_ctx *ctx, const char *answer, const char *expected,
                      const ef_verify_numeric_options *opts, double *reward)
{
    ef_verify_numeric_options def = EF_VERIFY_NUMERIC_OPTIONS_INIT;
    if (!opts)
        opts = &def;
    ef_number e, a;
    if (!expected || ef_verify_number_parse(expected, 0, &e) < 0)
        return ef_errorf(ctx, EF_EINVAL, "verify.numeric: expected value '%s' is not a number",
                         expected ? expected : "(null)");
    if (!(opts->rtol >= 0) || !(opts->atol >= 0))
        return ef_errorf(ctx, EF_EINVAL, "verify.numeric: tolerances must be >= 0 (rtol %g, atol %g)",
                         opts->rtol, opts->atol);
    *reward = 0;
    if (ef_verify_number_parse(answer, opts->extract, &a) < 0)
        return 0;
    if (a.is_int && e.is_int) {
        *reward = (a.negative == e.negative && strcmp(a.digits, e.digits) == 0) ? 1 : 0;
        return 0;
    }
    if (a.is_ratio && e.is_ratio &&
        (__int128)a.num * e.den == (__int128)e.num * a.den) {
        *reward = 1;
        return 0;
    }
    if (!isfinite(a.value) || !isfinite(e.value)) {
        *reward = a.value == e.value ? 1 : 0;
        return 0;
    }
    *reward = fabs(a.value - e.value) <= opts->atol + opts->rtol * fabs(e.value) ? 1 : 0;
    return 0;
}
