/*
 * tests/testlib.h — the test harness every test program uses.
 *
 * A test program is a list of cases; each prints one line ("ok", "FAIL", "skip") and the
 * program ends with the closing line "N passed, N failed, N skipped". The exit code is
 * 0 when nothing failed, 1 when something did, and 77 (CTest's SKIP_RETURN_CODE) when
 * every case was skipped, e.g. GPU tests without a GPU.
 *
 *   static void test_add(void) { EF_CHECK(1 + 1 == 2); EF_CHECK_EQ_INT(add(2, 2), 4); }
 *   int main(int argc, char **argv) {
 *       EF_TEST_BEGIN(argc, argv);
 *       EF_RUN(test_add);
 *       if (!have_gpu) EF_SKIP(test_kernel, "no GPU");
 *       return EF_TEST_END();
 *   }
 *
 * A case may call EF_SKIP_CASE("why") to skip itself. `prog NAME` runs only the cases
 * whose name contains NAME.
 *
 * Allocation failure: EF_ALLOC_LOOP(n) { ... } runs the body with the n-th allocation
 * failing, for n = 1, 2, ... until a run completes without an injected failure; the body
 * must return or clean up on every error path (ASan then finds leaks and bad frees).
 */
#ifndef EF_TESTLIB_H
#define EF_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/ef.h"

typedef struct {
    int passed, failed, skipped;
    int case_failed, case_skipped, n_faults;
    const char *filter;
    const char *skip_reason;
} ef_test_state;

static ef_test_state ef_test_ = {0, 0, 0, 0, 0, 0, NULL, NULL};

#define EF_TEST_BEGIN(argc, argv)                                                                  \
    do {                                                                                           \
        setvbuf(stdout, NULL, _IOLBF, 0);                                                          \
        ef_test_.filter = (argc) > 1 ? (argv)[1] : NULL;                                           \
    } while (0)

#define EF_FAULT_(...)                                                                             \
    do {                                                                                           \
        ef_test_.case_failed = 1;                                                                  \
        if (ef_test_.n_faults++ < 10) {                                                            \
            printf("    %s:%d: ", __FILE__, __LINE__);                                             \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

#define EF_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            EF_FAULT_("check failed: %s", #cond);                                                  \
    } while (0)

#define EF_CHECK_MSG(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            EF_FAULT_("check failed: %s", #cond);                                                  \
            printf("      ");                                                                      \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

#define EF_CHECK_EQ_INT(a, b)                                                                      \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            EF_FAULT_("%s == %s: %lld != %lld", #a, #b, a_, b_);                                   \
    } while (0)

#define EF_CHECK_EQ_STR(a, b)                                                                      \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            EF_FAULT_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                    \
                      b_ ? b_ : "(null)");                                                         \
    } while (0)

#define EF_CHECK_NEAR(a, b, tol)                                                                   \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(fabs(a_ - b_) <= (tol)))                                                             \
            EF_FAULT_("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, (double)(tol));           \
    } while (0)

/* Checks a call returned 0; prints the code's name and ctx's message otherwise. */
#define EF_CHECK_OK(ctx, call)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0)                                                                              \
            EF_FAULT_("%s -> %s: %s", #call, ef_strerror(rc_), ef_errmsg(ctx));                    \
    } while (0)

#define EF_CHECK_CONTAINS(hay, needle)                                                             \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!h_ || !strstr(h_, n_))                                                                \
            EF_FAULT_("\"%s\" should contain \"%s\"", h_ ? h_ : "(null)", n_);                     \
    } while (0)

#define EF_SKIP_CASE(why)                                                                          \
    do {                                                                                           \
        ef_test_.case_skipped = 1;                                                                 \
        ef_test_.skip_reason = (why);                                                              \
        return;                                                                                    \
    } while (0)

static inline void ef_test_run_(void (*fn)(void), const char *name)
{
    if (ef_test_.filter && !strstr(name, ef_test_.filter))
        return;
    ef_test_.case_failed = ef_test_.case_skipped = ef_test_.n_faults = 0;
    ef_test_.skip_reason = NULL;
    double t0 = ef_now_s();
    fn();
    double dt = ef_now_s() - t0;
    if (ef_test_.case_failed) {
        ef_test_.failed++;
        printf("FAIL %s (%.3fs)\n", name, dt);
    } else if (ef_test_.case_skipped) {
        ef_test_.skipped++;
        printf("skip %s: %s\n", name, ef_test_.skip_reason ? ef_test_.skip_reason : "");
    } else {
        ef_test_.passed++;
        printf("ok   %s (%.3fs)\n", name, dt);
    }
}

#define EF_RUN(fn) ef_test_run_(fn, #fn)
#define EF_SKIP(fn, why)                                                                           \
    do {                                                                                           \
        (void)(fn);                                                                                \
        if (!ef_test_.filter || strstr(#fn, ef_test_.filter)) {                                    \
            ef_test_.skipped++;                                                                    \
            printf("skip %s: %s\n", #fn, (why));                                                   \
        }                                                                                          \
    } while (0)

static inline int ef_test_end_(void)
{
    printf("%d passed, %d failed, %d skipped\n", ef_test_.passed, ef_test_.failed,
           ef_test_.skipped);
    if (ef_test_.failed)
        return 1;
    if (ef_test_.passed == 0 && ef_test_.skipped > 0)
        return 77;
    return 0;
}
#define EF_TEST_END() ef_test_end_()

/* Allocation-failure loop: `EF_ALLOC_LOOP(n) { body }` — body runs with allocation n
 * failing, n = 1.., until a run sees no injected failure (at most max_n runs). */
#define EF_ALLOC_LOOP(n, max_n)                                                                    \
    for (long n = 1, ef_done_ = 0; !ef_done_ && n <= (max_n);                                      \
         ef_done_ = (ef_alloc_failed_count() == 0), ef_alloc_fail_after(0), n++)                   \
        for (int ef_once_ = (ef_alloc_fail_after(n), 1); ef_once_; ef_once_ = 0)

/* A path for scratch files: $TMPDIR or /tmp, plus a unique suffix (a static buffer, one
 * per thread, so test threads that each make a folder do not share one). */
static inline const char *ef_test_tmpdir(const char *tag)
{
    static _Thread_local char buf[512];
    const char *base = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/eftest-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(1);
    }
    return buf;
}

#endif
