/*
 * verifiers/verify_unit.c — unit-test verification: parses the summaries of pytest,
 * unittest and TAP output into pass/fail counts, turns counts and exit status into a
 * reward, and runs the tests in the sandbox (once the sandbox component's API exists).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "verifiers/verifiers.h"

/* The integer written just before `word` at position p (p points at word). */
static int number_before(const char *start, const char *p, int *out)
{
    const char *q = p;
    while (q > start && q[-1] == ' ')
        q--;
    const char *e = q;
    while (q > start && isdigit((unsigned char)q[-1]))
        q--;
    if (q == e)
        return -1;
    *out = atoi(q);
    return 0;
}

/* "3 passed, 1 failed, 2 errors in 0.12s": the last such line wins. */
static int parse_pytest(const char *out, ef_unit_counts *c)
{
    const char *line = out, *best = NULL;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        const char *in = NULL;
        for (size_t i = 0; i + 4 <= n; i++)
            if (memcmp(line + i, " in ", 4) == 0 && i + 4 < n && isdigit((unsigned char)line[i + 4]))
                in = line + i;
        const char *words[] = {" passed", " failed", " error"};
        int has = 0;
        for (size_t w = 0; w < 3 && in; w++)
            for (const char *q = line; q + strlen(words[w]) <= in; q++)
                if (memcmp(q, words[w], strlen(words[w])) == 0 && q > line &&
                    isdigit((unsigned char)q[-1]))
                    has = 1;
        if (has)
            best = line;
        line = end ? end + 1 : NULL;
    }
    if (!best)
        return -1;
    const char *end = strchr(best, '\n');
    size_t n = end ? (size_t)(end - best) : strlen(best);
    memset(c, 0, sizeof *c);
    struct {
        const char *w;
        int *dst;
    } map[] = {{" passed", &c->passed}, {" failed", &c->failed}, {" errors", &c->errors},
               {" error", &c->errors},  {" skipped", &c->skipped}};
    for (size_t k = 0; k < EF_ARRAY_LEN(map); k++) {
        size_t wl = strlen(map[k].w);
        for (size_t i = 0; i + wl <= n; i++) {
            if (memcmp(best + i, map[k].w, wl) != 0)
                continue;
            if (k == 3 && i + wl < n && best[i + wl] == 's')
                continue; /* " errors" handled above */
            int v;
            if (number_before(best, best + i, &v) == 0)
                *map[k].dst += v;
        }
    }
    c->found = 1;
    return 0;
}

/* unittest: "Ran N tests" then "OK" or "FAILED (failures=F, errors=E, skipped=S)". */
static int parse_unittest(const char *out, ef_unit_counts *c)
{
    const char *ran = NULL, *p = out;
    while ((p = strstr(p, "Ran ")) != NULL) {
        if (isdigit((unsigned char)p[4]))
            ran = p;
        p += 4;
    }
    if (!ran)
        return -1;
    int total = atoi(ran + 4);
    memset(c, 0, sizeof *c);
    const char *f = strstr(ran, "FAILED (");
    if (f) {
        const char *q;
        if ((q = strstr(f, "failures=")))
            c->failed = atoi(q + 9);
        if ((q = strstr(f, "errors=")))
            c->errors = atoi(q + 7);
    }
    const char *s = strstr(ran, "skipped=");
    if (s)
        c->skipped = atoi(s + 8);
    c->passed = total - c->failed - c->errors - c->skipped;
    if (c->passed < 0)
        c->passed = 0;
    if (!f && !strstr(ran, "\nOK") && !strstr(ran, "OK"))
        return -1;
    c->found = 1;
    return 0;
}

/* TAP: lines "ok N ..." and "not ok N ...". */
static int parse_tap(const char *out, ef_unit_counts *c)
{
    int ok = 0, notok = 0;
    const char *line = out;
    while (line && *line) {
        if (strncmp(line, "not ok ", 7) == 0 && isdigit((unsigned char)line[7]))
            notok++;
        else if (strncmp(line, "ok ", 3) == 0 && isdigit((unsigned char)line[3]))
            ok++;
        const char *end = strchr(line, '\n');
        line = end ? end + 1 : NULL;
    }
    if (ok + notok == 0)
        return -1;
    memset(c, 0, sizeof *c);
    c->passed = ok;
    c->failed = notok;
    c->found = 1;
    return 0;
}

void ef_verify_unit_parse(const char *output, int exit_code, ef_unit_counts *out)
{
    memset(out, 0, sizeof *out);
    if (output && (parse_pytest(output, out) == 0 || parse_unittest(output, out) == 0 ||
                   parse_tap(output, out) == 0))
        return;
    memset(out, 0, sizeof *out);
    if (exit_code == 0)
        out->passed = 1;
    else
        out->failed = 1;
}

double ef_verify_unit_reward(const ef_unit_counts *c, int exit_code)
{
    int total = c->passed + c->failed + c->errors;
    if (total <= 0)
        return 0;
    if (exit_code != 0 && c->failed + c->errors == 0)
        return 0;
    return (double)c->passed / total;
}

