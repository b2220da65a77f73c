/*
 * tools/html.c — HTML to readable text for the fetch tool: a single forgiving pass that
 * drops markup, comments and the content of script, style, head-only and similar
 * elements, turns block elements into line breaks (list items into "- ", headings into
 * "# "), decodes character references and collapses runs of white space. It never fails
 * on malformed markup; it only runs out of memory.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include "common/utf8.h"
#include "tools/tools_int.h"

static const char *const skipped[] = {"script", "style", "noscript", "template", "svg",
                                      "head", "iframe", "object", "canvas"};

static const char *const blocks[] = {
    "p", "div", "br", "tr", "table", "section", "article", "header", "footer", "nav",
    "aside", "main", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote", "form", "hr",
    "figure", "figcaption", "title", "body", "html", "address", "details", "summary", "li",
    "h1", "h2", "h3", "h4", "h5", "h6"};

static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, list[i]) == 0)
            return 1;
    return 0;
}

typedef struct {
    ef_buf out;
    int pending_space; /* a space is owed before the next word */
    int newlines;      /* newlines at the end of out (0, 1, 2) */
    int pre;           /* inside <pre>: keep white space */
} writer;

static int put_break(writer *w, int n)
{
    w->pending_space = 0;
    if (w->out.len == 0)
        return 0;
    while (w->newlines < n) {
        if (ef_buf_putc(&w->out, '\n') < 0)
            return EF_ENOMEM;
        w->newlines++;
    }
    return 0;
}

static int put_text(writer *w, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!w->pre && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')) {
            w->pending_space = w->out.len > 0 && w->newlines == 0;
            continue;
        }
        if (w->pending_space) {
            if (ef_buf_putc(&w->out, ' ') < 0)
                return EF_ENOMEM;
            w->pending_space = 0;
        }
        if (ef_buf_putc(&w->out, (char)c) < 0)
            return EF_ENOMEM;
        w->newlines = c == '\n' ? w->newlines + 1 : 0;
    }
    return 0;
}

/* A character reference's code point as UTF-8; NUL, surrogates and values past U+10FFFF
 * become U+FFFD (as HTML parsers do). */
static size_t put_utf8(char *buf, unsigned long cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    return ef_utf8_put(buf, (uint32_t)cp);
}

static const struct {
    const char *name;
    unsigned long cp;
} entities[] = {{"amp", '&'},     {"lt", '<'},       {"gt", '>'},      {"quot", '"'},
                {"apos", '\''},   {"nbsp", ' '},     {"ndash", 0x2013}, {"mdash", 0x2014},
                {"hellip", 0x2026}, {"copy", 0xA9},  {"reg", 0xAE},    {"trade", 0x2122},
                {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D},
                {"laquo", 0xAB},  {"raquo", 0xBB},   {"middot", 0xB7}, {"bull", 0x2022},
                {"deg", 0xB0},    {"times", 0xD7},   {"euro", 0x20AC}, {"pound", 0xA3}};

/* Decodes the reference at s[0] == '&'; *used gets its length (0: not a reference). */
static size_t decode_ref(const char *s, size_t n, char *buf, size_t *used)
{
    *used = 0;
    size_t i = 1;
    if (i < n && s[i] == '#') {
        i++;
        int hex = i < n && (s[i] == 'x' || s[i] == 'X');
        if (hex)
            i++;
        unsigned long cp = 0;
        size_t start = i;
        while (i < n && i - start < 8 && (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))) {
            char c = s[i++];
            cp = cp * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
        }
        if (i == start)
            return 0;
        if (i < n && s[i] == ';')
            i++;
        *used = i;
        return put_utf8(buf, cp);
    }
    size_t start = i;
    while (i < n && i - start < 10 && isalnum((unsigned char)s[i]))
        i++;
    if (i == start || i >= n || s[i] != ';')
        return 0;
    for (size_t k = 0; k < EF_ARRAY_LEN(entities); k++) {
        if (strlen(entities[k].name) == i - start &&
            memcmp(entities[k].name, s + start, i - start) == 0) {
            *used = i + 1;
            return put_utf8(buf, entities[k].cp);
        }
    }
    return 0;
}

/* Text between tags, with references decoded. */
static int put_chars(writer *w, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : n - i;
        if (put_text(w, s + i, run) < 0)
            return EF_ENOMEM;
        i += run;
        if (i >= n)
            break;
        char u[4];
        size_t used = 0, k = decode_ref(s + i, n - i, u, &used);
        if (used == 0) {
            if (put_text(w, "&", 1) < 0)
                return EF_ENOMEM;
            i++;
            continue;
        }
        if (put_text(w, u, k) < 0)
            return EF_ENOMEM;
        i += used;
    }
    return 0;
}

/* Reads a tag name at s (after '<' and an optional '/'). */
static size_t tag_name(const char *s, size_t n, char *name, size_t cap)
{
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-') && i + 1 < cap) {
        name[i] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    name[i] = '\0';
    return i;
}

/* Finds the end of the element `name` that starts after pos (a </name> tag). */
static size_t skip_element(const char *s, size_t n, size_t pos, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = pos; i + 2 + len <= n; i++) {
        if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, len) == 0 &&
            !isalnum((unsigned char)s[i + 2 + len])) {
            const char *gt = memchr(s + i, '>', n - i);
            return gt ? (size_t)(gt - s) + 1 : n;
        }
    }
    return n;
}

static int extract_title(const char *s, size_t n, char **title_out)
{
    *title_out = NULL;
    for (size_t i = 0; i + 7 <= n; i++) {
        if (s[i] == '<' && strncasecmp(s + i + 1, "title", 5) == 0 &&
            (s[i + 6] == '>' || s[i + 6] == ' ')) {
            const char *gt = memchr(s + i, '>', n - i);
            if (!gt)
                return 0;
            size_t start = (size_t)(gt - s) + 1;
            size_t end = skip_element(s, n, start, "title");
            const char *lt = end > start ? memchr(s + start, '<', end - start) : NULL;
            size_t stop = lt ? (size_t)(lt - s) : end;
            writer w = {EF_BUF_INIT(4096), 0, 0, 0};
            if (put_chars(&w, s + start, stop - start) < 0) {
                ef_buf_free(&w.out);
                return EF_ENOMEM;
            }
            *title_out = w.out.data ? ef_buf_detach(&w.out) : NULL;
            return 0;
        }
    }
    return 0;
}

int ef_tools__html_to_text(const char *s, size_t n, char **text_out, char **title_out)
{
    writer w = {EF_BUF_INIT(n * 4 + 64), 0, 0, 0};
    char *title = NULL;
    if (title_out && extract_title(s, n, &title) < 0)
        return EF_ENOMEM;
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        const char *lt = memchr(s + i, '<', n - i);
        size_t run = lt ? (size_t)(lt - (s + i)) : n - i;
        if ((rc = put_chars(&w, s + i, run)) < 0)
            break;
        i += run;
        if (i >= n)
            break;
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
            const char *end = memmem(s + i + 4, n - i - 4, "-->", 3);
            i = end ? (size_t)(end - s) + 3 : n;
            continue;
        }
        size_t j = i + 1;
        int closing = j < n && s[j] == '/';
        if (closing)
            j++;
        char name[16];
        size_t nl = tag_name(s + j, n - j, name, sizeof name);
        if (nl == 0 && !(j < n && (s[j] == '!' || s[j] == '?'))) {
            rc = put_text(&w, "<", 1); /* a lone '<' in text */
            i++;
            continue;
        }
        const char *gt = memchr(s + j, '>', n - j);
        size_t after = gt ? (size_t)(gt - s) + 1 : n;
        if (!closing && nl && in_list(name, skipped, EF_ARRAY_LEN(skipped)) &&
            !(gt && gt[-1] == '/')) {
            i = skip_element(s, n, after, name);
            continue;
        }
        if (nl && in_list(name, blocks, EF_ARRAY_LEN(blocks))) {
            int para = strcmp(name, "p") == 0 || name[0] == 'h' || strcmp(name, "pre") == 0 ||
                       strcmp(name, "table") == 0 || strcmp(name, "blockquote") == 0;
            rc = put_break(&w, para ? 2 : 1);
            if (rc == 0 && strcmp(name, "pre") == 0)
                w.pre = !closing;
            if (rc == 0 && !closing && strcmp(name, "li") == 0)
                rc = put_text(&w, "- ", 2);
            if (rc == 0 && !closing && name[0] == 'h' && name[1] >= '1' && name[1] <= '6')
                rc = put_text(&w, "# ", 2);
        } else if (nl && (strcmp(name, "td") == 0 || strcmp(name, "th") == 0) && !closing) {
            w.pending_space = w.out.len > 0 && w.newlines == 0;
        }
        i = after;
    }
    if (rc < 0) {
        ef_buf_free(&w.out);
        ef_free(title);
        return EF_ENOMEM;
    }
    /* drop trailing white space */
    while (w.out.len > 0 && (w.out.data[w.out.len - 1] == '\n' || w.out.data[w.out.len - 1] == ' '))
        w.out.data[--w.out.len] = '\0';
    char *text = w.out.data ? ef_buf_detach(&w.out) : ef_strdup("");
    if (!text) {
        ef_free(title);
        return EF_ENOMEM;
    }
    *text_out = text;
    if (title_out)
        *title_out = title;
    return 0;
}
