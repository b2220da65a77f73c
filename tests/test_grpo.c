/*
 * tests/test_grpo.c — GRPO advantages and pass@k against values computed by hand,
 * including groups of one and groups whose rewards are all equal.
 */
#include "tests/testlib.h"
#include "datasets/grpo.h"

static double comb(int n, int k)
{
    if (k < 0 || k > n)
        return 0;
    double r = 1;
    for (int i = 1; i <= k; i++)
        r = r * (n - k + i) / i;
    return r;
}

static void test_pass_at_k_by_hand(void)
{
    /* n=5, c=2, k=1: 2/5 */
    EF_CHECK_NEAR(ef_pass_at_k(5, 2, 1), 0.4, 1e-12);
    /* n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10 */
    EF_CHECK_NEAR(ef_pass_at_k(5, 2, 2), 0.7, 1e-12);
    /* n=4, c=0: 0 for every k */
    EF_CHECK_NEAR(ef_pass_at_k(4, 0, 3), 0.0, 1e-12);
    /* n - c < k: 1 */
    EF_CHECK_NEAR(ef_pass_at_k(4, 3, 2), 1.0, 0);
    EF_CHECK_NEAR(ef_pass_at_k(1, 1, 1), 1.0, 0);
    EF_CHECK(isnan(ef_pass_at_k(3, 1, 4)));
    EF_CHECK(isnan(ef_pass_at_k(3, 1, 0)));
    for (int n = 1; n <= 30; n++)
        for (int c = 0; c <= n; c++)
            for (int k = 1; k <= n; k++) {
                double want = 1.0 - comb(n - c, k) / comb(n, k);
                EF_CHECK_NEAR(ef_pass_at_k(n, c, k), want, 1e-9);
            }
}

static void test_advantages_by_hand(void)
{
    double r[4] = {1, 0, 1, 1}, a[4];
    /* mean 0.75; squared deviations 3·0.0625 + 0.5625 = 0.75; sample std sqrt(0.75/3) = 0.5 */
    ef_grpo_advantages(r, 4, EF_GRPO_STD, a);
    double sd = sqrt(0.75 / 3.0);
    EF_CHECK_NEAR(a[0], 0.25 / (sd + 1e-6), 1e-12);
    EF_CHECK_NEAR(a[1], -0.75 / (sd + 1e-6), 1e-12);
    EF_CHECK_NEAR(a[0], 0.5, 1e-5);
    EF_CHECK_NEAR(a[1], -1.5, 1e-5);
    ef_grpo_advantages(r, 4, EF_GRPO_DR, a);
    EF_CHECK_NEAR(a[0], 0.25, 1e-15);
    EF_CHECK_NEAR(a[1], -0.75, 1e-15);
    double one = 0.7, a1 = 99;
    ef_grpo_advantages(&one, 1, EF_GRPO_STD, &a1);
    EF_CHECK_NEAR(a1, 0.0, 0);
    double same[3] = {0.5, 0.5, 0.5}, as[3];
    ef_grpo_advantages(same, 3, EF_GRPO_STD, as);
    for (int i = 0; i < 3; i++)
        EF_CHECK_NEAR(as[i], 0.0, 0);
    double sum = 0, r8[8] = {0.1, 0.9, 0.3, 0.3, 1, 0, 0.5, 0.2}, a8[8];
    ef_grpo_advantages(r8, 8, EF_GRPO_STD, a8);
    for (int i = 0; i < 8; i++)
        sum += a8[i];
    EF_CHECK_NEAR(sum, 0.0, 1e-12);
}

static void test_flakiness(void)
{
    EF_CHECK_NEAR(ef_task_flakiness(10, 0), 0, 0);
    EF_CHECK_NEAR(ef_task_flakiness(10, 10), 0, 0);
    EF_CHECK_NEAR(ef_task_flakiness(10, 5), 1, 1e-15);
    EF_CHECK_NEAR(ef_task_flakiness(4, 1), 0.75, 1e-15);
}

int main(int argc, char **argv)
{
    EF_TEST_BEGIN(argc, argv);
    EF_RUN(test_pass_at_k_by_hand);
    EF_RUN(test_advantages_by_hand);
    EF_RUN(test_flakiness);
    return EF_TEST_END();
}
