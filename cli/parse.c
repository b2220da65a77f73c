/*
 * cli/parse.c — strict number parsing for the flags of every `envforge` subcommand.
 *
 * ef_cli_parse_u64, ef_cli_parse_int and ef_cli_parse_double accept exactly one decimal
 * number filling the whole text (no leading blanks, no trailing junk, no sign on an
 * unsigned value, no NaN or infinity) inside [lo, hi]. On anything else they print
 * "envforge CMD: --flag: 'text' is not ... (expected ... in [lo, hi])" on stderr and
 * return -1; the caller returns EF_EXIT_USAGE. Overflow (ERANGE) is out of range, never
 * a silently clamped value.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

static void bad(const char *cmd, const char *flag, const char *text, const char *what,
                const char *range)
{
    fprintf(stderr, "envforge %s: %s: '%s' is not %s (expected %s)\n", cmd ? cmd : "",
            flag ? flag : "value", text ? text : "", what, range);
}

int ef_cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t lo,
                     uint64_t hi, uint64_t *out)
{
    char range[96];
    snprintf(range, sizeof range, "an integer in [%" PRIu64 ", %" PRIu64 "]", lo, hi);
    if (!text || !isdigit((unsigned char)text[0])) {
        bad(cmd, flag, text, "a non-negative integer", range);
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end != '\0') {
        bad(cmd, flag, text, "an integer", range);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        bad(cmd, flag, text, "in range", range);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int ef_cli_parse_int(const char *cmd, const char *flag, const char *text, long long lo,
                     long long hi, long long *out)
{
    char range[96];
    snprintf(range, sizeof range, "an integer in [%lld, %lld]", lo, hi);
    const char *p = text;
    if (p && (*p == '-' || *p == '+'))
        p++;
    if (!text || !isdigit((unsigned char)*p)) {
        bad(cmd, flag, text, "an integer", range);
        return -1;
    }
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (*end != '\0') {
        bad(cmd, flag, text, "an integer", range);
        return -1;
    }
    if (errno == ERANGE || v < lo || v > hi) {
        bad(cmd, flag, text, "in range", range);
        return -1;
    }
    *out = v;
    return 0;
}

int ef_cli_parse_i32(const char *cmd, const char *flag, const char *text, int lo, int hi,
                     int *out)
{
    long long v = 0;
    if (ef_cli_parse_int(cmd, flag, text, lo, hi, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *cmd, const char *flag, const char *text, double lo,
                        int lo_open, double hi, double *out)
{
    char range[96];
    snprintf(range, sizeof range, "a number in %c%g, %g]", lo_open ? '(' : '[', lo, hi);
    const char *p = text;
    if (p && (*p == '-' || *p == '+'))
        p++;
    /* a digit or ".digit" first (refuses "", " 1", "nan", "inf"); no hex floats */
    if (!text || !(isdigit((unsigned char)p[0]) ||
                   (p[0] == '.' && isdigit((unsigned char)p[1]))) ||
        (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))) {
        bad(cmd, flag, text, "a number", range);
        return -1;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (*end != '\0') {
        bad(cmd, flag, text, "a number", range);
        return -1;
    }
    if (errno == ERANGE || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi) {
        bad(cmd, flag, text, "in range", range);
        return -1;
    }
    *out = v;
    return 0;
}

int ef_cli_parse_double(const char *cmd, const char *flag, const char *text, double lo,
                        double hi, double *out)
{
    return parse_double(cmd, flag, text, lo, 0, hi, out);
}

int ef_cli_parse_fraction(const char *cmd, const char *flag, const char *text, double *out)
{
    return parse_double(cmd, flag, text, 0, 1, 1, out);
}
