/*
 * common/utf8.h — small UTF-8 helpers shared by the tools, the exporter and the engine:
 * strict validation of one sequence (RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF), the span a lossy repair replaces with one U+FFFD (as Rust's
 * String::from_utf8_lossy and Python's errors="replace" do), encoding one code point,
 * counting code points and cutting at a character boundary. Header-only (static inline).
 *
 *   uint32_t cp;
 *   size_t k = ef_utf8_next((const unsigned char *)s + i, len - i, &cp); // 0: invalid
 *   if (!k) i += ef_utf8_invalid_len((const unsigned char *)s + i, len - i); // one U+FFFD
 *   size_t chars = ef_utf8_count(s, len);        // code points (lead bytes) in s
 *   size_t at = ef_utf8_offset(s, len, 10);      // byte offset of the 10th code point
 *   size_t keep = ef_utf8_floor(s, 100);         // <= 100, never inside a character
 *   char out[4]; size_t n = ef_utf8_put(out, 0xfffd);
 */
#ifndef EF_UTF8_H
#define EF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The lead byte c's sequence length minus one and the allowed range of the second byte
 * (narrower after E0, ED, F0, F4); 0 when c cannot start a multi-byte sequence. */
static inline size_t ef_utf8__lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80, *hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        return 1;
    if (c >= 0xe0 && c <= 0xef) {
        *lo = c == 0xe0 ? 0xa0 : 0x80;
        *hi = c == 0xed ? 0x9f : 0xbf;
        return 2;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        *lo = c == 0xf0 ? 0x90 : 0x80;
        *hi = c == 0xf4 ? 0x8f : 0xbf;
        return 3;
    }
    return 0;
}

/* Length (1..4) of the valid UTF-8 sequence at s (n >= 1 bytes left) and, when cp is not
 * NULL, its code point; 0 when the bytes there are not valid UTF-8 (truncated, overlong,
 * a surrogate, past U+10FFFF, a stray continuation byte). */
static inline size_t ef_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0], lo, hi;
    if (c < 0x80) {
        if (cp)
            *cp = c;
        return 1;
    }
    size_t need = ef_utf8__lead(c, &lo, &hi);
    if (!need || n < need + 1)
        return 0;
    uint32_t v = c & (0x3f >> need);
    for (size_t i = 1; i <= need; i++) {
        unsigned char d = s[i];
        if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xbf))
            return 0;
        v = (v << 6) | (d & 0x3f);
    }
    if (cp)
        *cp = v;
    return need + 1;
}

/* How many bytes at s (n >= 1 left, not valid UTF-8 there) form the longest prefix of some
 * valid sequence (>= 1): the span a lossy decoder replaces with one U+FFFD. */
static inline size_t ef_utf8_invalid_len(const unsigned char *s, size_t n)
{
    unsigned char lo, hi;
    size_t need = ef_utf8__lead(s[0], &lo, &hi);
    if (!need)
        return 1;
    size_t i = 1;
    for (; i <= need && i < n; i++)
        if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
            break;
    return i;
}

/* Writes cp (at most U+10FFFF) as UTF-8 into out (room for 4 bytes); returns its length. */
static inline size_t ef_utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Whether byte c is a continuation byte (10xxxxxx). */
static inline int ef_utf8_is_cont(char c)
{
    return ((unsigned char)c & 0xc0) == 0x80;
}

/* Code points in s[0..len): the bytes that are not continuation bytes (for valid UTF-8,
 * the character count; what JSON Schema's minLength/maxLength count). */
static inline size_t ef_utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!ef_utf8_is_cont(s[i]))
            n++;
    return n;
}

/* Byte offset of the cp-th code point (from 0) of s[0..len); len when it is past the end. */
static inline size_t ef_utf8_offset(const char *s, size_t len, size_t cp)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (!ef_utf8_is_cont(s[i]) && n++ == cp)
            return i;
    return len;
}

/* The largest cut <= at that does not fall inside a character: steps back over
 * continuation bytes (s[at] must be readable). */
static inline size_t ef_utf8_floor(const char *s, size_t at)
{
    while (at > 0 && ef_utf8_is_cont(s[at]))
        at--;
    return at;
}

/* Whether s[0..n) is valid UTF-8 without NUL bytes. */
int ef_utf8_valid(const char *s, size_t n);

/* A copy of s[0..n) where each invalid sequence (the span ef_utf8_invalid_len gives) and
 * each NUL becomes one U+FFFD; NUL-terminated, its length in *out_len (may be NULL).
 * NULL when out of memory. */
char *ef_utf8_lossy(const char *s, size_t n, size_t *out_len);

/* Text of at most cap bytes (cap >= 256) made of the head of s[0..n), a line saying how
 * many bytes were cut from the middle, and the tail — so the end of a tool's output (its
 * exit status, the last lines of a traceback) survives a cap. Cuts on UTF-8 boundaries.
 * NULL when n <= cap (nothing to cut) or out of memory (*oom = 1). */
char *ef_utf8_cap_middle(const char *s, size_t n, size_t cap, int *oom);

#endif
