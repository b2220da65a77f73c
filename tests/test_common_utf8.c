/*
 * tests/test_common_utf8.c — common/utf8.h: strict sequence validation against the
 * RFC 3629 table (overlongs, surrogates, past U+10FFFF, truncation), the lossy-repair span
 * (one U+FFFD per maximal invalid prefix, as from_utf8_lossy), encoding round trips over
 * every code point, counting, offsets and boundary cuts.
 */
#include "common/utf8.h"
#include "tests/testlib.h"

static size_t next(const char *s, size_t n, uint32_t *cp)
{
    return ef_utf8_next((const unsigned char *)s, n, cp);
}

static void test_next_valid(void)
{
    uint32_t cp = 0;
    EF_CHECK_EQ_INT(next("A", 1, &cp), 1);
    EF_CHECK_EQ_INT(cp, 'A');
    EF_CHECK_EQ_INT(next("\xc2\x80", 2, &cp), 2);
    EF_CHECK_EQ_INT(cp, 0x80);
    EF_CHECK_EQ_INT(next("\xdf\xbf", 2, &cp), 2);
    EF_CHECK_EQ_INT(cp, 0x7ff);
    EF_CHECK_EQ_INT(next("\xe0\xa0\x80", 3, &cp), 3);
    EF_CHECK_EQ_INT(cp, 0x800);
    EF_CHECK_EQ_INT(next("\xed\x9f\xbf", 3, &cp), 3);
    EF_CHECK_EQ_INT(cp, 0xd7ff);
    EF_CHECK_EQ_INT(next("\xee\x80\x80", 3, &cp), 3);
    EF_CHECK_EQ_INT(cp, 0xe000);
    EF_CHECK_EQ_INT(next("\xef\xbf\xbd", 3, &cp), 3);
    EF_CHECK_EQ_INT(cp, 0xfffd);
    EF_CHECK_EQ_INT(next("\xf0\x90\x80\x80", 4, &cp), 4);
    EF_CHECK_EQ_INT(cp, 0x10000);
    EF_CHECK_EQ_INT(next("\xf4\x8f\xbf\xbf", 4, &cp), 4);
    EF_CHECK_EQ_INT(cp, 0x10ffff);
    EF_CHECK_EQ_INT(next("\xf0\x9f\x98\x80", 4, NULL), 4); /* cp may be NULL */
}

static void test_next_invalid(void)
{
    uint32_t cp = 0;
    EF_CHECK_EQ_INT(next("\x80", 1, &cp), 0);             /* stray continuation */
    EF_CHECK_EQ_INT(next("\xc0\x80", 2, &cp), 0);         /* overlong NUL */
    EF_CHECK_EQ_INT(next("\xc1\xbf", 2, &cp), 0);         /* overlong */
    EF_CHECK_EQ_INT(next("\xe0\x9f\xbf", 3, &cp), 0);     /* overlong 3-byte */
    EF_CHECK_EQ_INT(next("\xed\xa0\x80", 3, &cp), 0);     /* surrogate D800 */
    EF_CHECK_EQ_INT(next("\xed\xbf\xbf", 3, &cp), 0);     /* surrogate DFFF */
    EF_CHECK_EQ_INT(next("\xf0\x8f\xbf\xbf", 4, &cp), 0); /* overlong 4-byte */
    EF_CHECK_EQ_INT(next("\xf4\x90\x80\x80", 4, &cp), 0); /* past U+10FFFF */
    EF_CHECK_EQ_INT(next("\xf5\x80\x80\x80", 4, &cp), 0);
    EF_CHECK_EQ_INT(next("\xff", 1, &cp), 0);
    EF_CHECK_EQ_INT(next("\xe2\x82", 2, &cp), 0);     /* truncated by n */
    EF_CHECK_EQ_INT(next("\xe2\x82\xac", 2, &cp), 0); /* n stops before the last byte */
    EF_CHECK_EQ_INT(next("\xe2\x28\xa1", 3, &cp), 0); /* bad continuation */
}

/* Every scalar value encodes to the sequence ef_utf8_next decodes back to it. */
static void test_put_roundtrip(void)
{
    int bad = 0;
    for (uint32_t c = 0; c <= 0x10ffff; c++) {
        if (c >= 0xd800 && c <= 0xdfff)
            continue;
        char b[4];
        uint32_t back = 0;
        size_t n = ef_utf8_put(b, c);
        size_t want = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
        if (n != want || next(b, n, &back) != n || back != c)
            bad++;
    }
    EF_CHECK_EQ_INT(bad, 0);
}

static void test_invalid_len(void)
{
    const unsigned char *u;
    u = (const unsigned char *)"\x80\x80";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 2), 1);
    u = (const unsigned char *)"\xe2\x82(";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 3), 2); /* E2 82 is a valid prefix */
    u = (const unsigned char *)"\xe2\x82";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 2), 2); /* truncated at the end */
    u = (const unsigned char *)"\xf0\x9f\x98(";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 4), 3);
    u = (const unsigned char *)"\xed\xa0\x80";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 3), 1); /* surrogate: A0 not allowed after ED */
    u = (const unsigned char *)"\xe0\x80\x80";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 3), 1); /* overlong: 80 not allowed after E0 */
    u = (const unsigned char *)"\xc0\x80";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 2), 1);
    u = (const unsigned char *)"\xf4\x90";
    EF_CHECK_EQ_INT(ef_utf8_invalid_len(u, 2), 1);
}

static void test_count_offset_floor(void)
{
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a é € 😀 z */
    size_t len = strlen(s);
    EF_CHECK_EQ_INT(ef_utf8_count(s, len), 5);
    EF_CHECK_EQ_INT(ef_utf8_count(s, 0), 0);
    EF_CHECK_EQ_INT(ef_utf8_count(s, 2), 2); /* a and the lead byte of é */
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 0), 0);
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 1), 1);
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 2), 3);
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 3), 6);
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 4), 10);
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 5), len);
    EF_CHECK_EQ_INT(ef_utf8_offset(s, len, 99), len);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 0), 0);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 1), 1);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 2), 1);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 4), 3);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 5), 3);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 9), 6);
    EF_CHECK_EQ_INT(ef_utf8_floor(s, 10), 10);
    EF_CHECK_EQ_INT(ef_utf8_floor("\x80\x80", 1), 0);
    EF_CHECK(ef_utf8_is_cont('\x80'));
    EF_CHECK(!ef_utf8_is_cont('a'));
    EF_CHECK(!ef_utf8_is_cont('\xc3'));
}

static void test_lossy_and_valid(void)
{
    EF_CHECK(ef_utf8_valid("caf\xc3\xa9", 5));
    EF_CHECK(!ef_utf8_valid("caf\xe9", 4));
    EF_CHECK(!ef_utf8_valid("a\0b", 3)); /* NUL is not text here */
    EF_CHECK(!ef_utf8_valid("\xed\xa0\x80", 3)); /* a surrogate */
    size_t n = 0;
    char *t = ef_utf8_lossy("caf\xe9 \xf0\x9f\x98 ok\0!", 13, &n);
    EF_CHECK_EQ_STR(t, "caf\xef\xbf\xbd \xef\xbf\xbd ok\xef\xbf\xbd!");
    EF_CHECK_EQ_INT(n, strlen(t));
    EF_CHECK(ef_utf8_valid(t, n));
    ef_free(t);
}

static void test_cap_middle(void)
{
    int oom = 1;
    EF_CHECK(ef_utf8_cap_middle("short", 5, 1000, &oom) == NULL && !oom);
    /* 3000 two-byte characters, then an end that must survive */
    char s[6100];
    size_t n = 0;
    for (int i = 0; i < 3000; i++) {
        s[n++] = (char)0xc3;
        s[n++] = (char)0xa9;
    }
    memcpy(s + n, "[exit code 3]", 13);
    n += 13;
    s[n] = 0;
    char *t = ef_utf8_cap_middle(s, n, 1001, &oom);
    EF_CHECK(t != NULL && !oom);
    if (t) {
        size_t m = strlen(t);
        EF_CHECK(m <= 1001 && m > 900);
        EF_CHECK(ef_utf8_valid(t, m)); /* both cuts on character boundaries */
        EF_CHECK(strcmp(t + m - 13, "[exit code 3]") == 0);
        EF_CHECK_CONTAINS(t, " bytes cut from the middle ...]\n");
        EF_CHECK(memcmp(t, "\xc3\xa9\xc3\xa9", 4) == 0);
    }
    ef_free(t);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    EF_RUN(test_next_valid);
    EF_RUN(test_next_invalid);
    EF_RUN(test_put_roundtrip);
    EF_RUN(test_invalid_len);
    EF_RUN(test_count_offset_floor);
    EF_RUN(test_lossy_and_valid);
    EF_RUN(test_cap_middle);
    return EF_TEST_END();
}
