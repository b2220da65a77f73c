/*
 * datasets/store_json.c — a JSON syntax check (RFC 8259) for the store's JSON columns,
 * done before any row is written so a bad field gets a message naming it. It allocates
 * nothing: it only scans, with a nesting limit.
 */
#include <string.h>
#include "datasets/datasets_int.h"

#define MAX_DEPTH 512

typedef struct {
    const char *p;
} scan;

static void skip_ws(scan *s)
{
    while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
        s->p++;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int string_ok(scan *s)
{
    s->p++; /* opening quote */
    for (;;) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            return 1;
        }
        if (c < 0x20)
            return 0; /* control character or end of text */
        if (c == '\\') {
            s->p++;
            c = (unsigned char)*s->p;
            if (c == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!is_hex(s->p[i]))
                        return 0;
                s->p += 5;
                continue;
            }
            if (!c || !strchr("\"\\/bfnrt", c))
                return 0;
        }
        s->p++;
    }
}

static int digits(scan *s)
{
    if (*s->p < '0' || *s->p > '9')
        return 0;
    while (*s->p >= '0' && *s->p <= '9')
        s->p++;
    return 1;
}

static int number_ok(scan *s)
{
    if (*s->p == '-')
        s->p++;
    if (*s->p == '0')
        s->p++;
    else if (!digits(s))
        return 0;
    if (*s->p == '.') {
        s->p++;
        if (!digits(s))
            return 0;
    }
    if (*s->p == 'e' || *s->p == 'E') {
        s->p++;
        if (*s->p == '+' || *s->p == '-')
            s->p++;
        if (!digits(s))
            return 0;
    }
    return 1;
}

static int literal_ok(scan *s, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(s->p, word, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static int value_ok(scan *s, int depth);

static int container_ok(scan *s, int depth, char close, int is_object)
{
    if (depth > MAX_DEPTH)
        return 0;
    s->p++;
    skip_ws(s);
    if (*s->p == close) {
        s->p++;
        return 1;
    }
    for (;;) {
        skip_ws(s);
        if (is_object) {
            if (*s->p != '"' || !string_ok(s))
                return 0;
            skip_ws(s);
            if (*s->p != ':')
                return 0;
            s->p++;
        }
        if (!value_ok(s, depth + 1))
            return 0;
        skip_ws(s);
        if (*s->p == ',') {
            s->p++;
            continue;
        }
        if (*s->p == close) {
            s->p++;
            return 1;
        }
        return 0;
    }
}

static int value_ok(scan *s, int depth)
{
    skip_ws(s);
    switch (*s->p) {
    case '{':
        return container_ok(s, depth, '}', 1);
    case '[':
        return container_ok(s, depth, ']', 0);
    case '"':
        return string_ok(s);
    case 't':
        return literal_ok(s, "true");
    case 'f':
        return literal_ok(s, "false");
    case 'n':
        return literal_ok(s, "null");
    default:
        return number_ok(s);
    }
}

int ef_datasets__json_valid(const char *text)
{
    if (!text)
        return 0;
    scan s = {text};
    if (!value_ok(&s, 0))
        return 0;
    skip_ws(&s);
    return *s.p == '\0';
}
