/*
 * datasets/grpo.c — GRPO advantages, the unbiased pass@k estimator and per-task
 * flakiness. Pure functions over arrays; the exporter and `envforge stats` call them.
 */
#include <math.h>
#include "datasets/grpo.h"

void ef_grpo_advantages(const double *rewards, size_t n, ef_grpo_norm norm, double *out)
{
    if (n == 0)
        return;
    if (n == 1) {
        out[0] = 0.0;
        return;
    }
    double mean = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += rewards[i];
    mean /= (double)n;
    double var = 0.0;
    for (size_t i = 0; i < n; i++)
        var += (rewards[i] - mean) * (rewards[i] - mean);
    double std = sqrt(var / (double)(n - 1));
    for (size_t i = 0; i < n; i++) {
        double a = rewards[i] - mean;
        out[i] = norm == EF_GRPO_STD ? a / (std + EF_GRPO_EPS) : a;
    }
}

double ef_pass_at_k(int n, int c, int k)
{
    if (k <= 0 || k > n || c < 0 || c > n)
        return NAN;
    if (n - c < k)
        return 1.0;
    /* C(n-c, k)/C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i) */
    double ratio = 1.0;
    for (int i = n - c + 1; i <= n; i++)
        ratio *= 1.0 - (double)k / (double)i;
    return 1.0 - ratio;
}

double ef_task_flakiness(int n, int c)
{
    if (n <= 0)
        return 0.0;
    double p = (double)c / (double)n;
    return 4.0 * p * (1.0 - p);
}
