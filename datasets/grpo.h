/*
 * datasets/grpo.h — the arithmetic of RL exports: GRPO advantages per group, pass@k with
 * the unbiased estimator, and per-task flakiness.
 *
 *   double r[4] = {1, 0, 1, 1}, adv[4];
 *   ef_grpo_advantages(r, 4, EF_GRPO_STD, adv);   // (r - mean) / (std_{N-1} + 1e-6), as verl
 *   ef_grpo_advantages(r, 4, EF_GRPO_DR, adv);    // r - mean (Dr. GRPO: no division)
 *   double p = ef_pass_at_k(10, 3, 5);            // 1 - C(n-c, k) / C(n, k)
 */
#ifndef EF_GRPO_H
#define EF_GRPO_H

#include <stddef.h>

typedef enum {
    EF_GRPO_STD = 0, /* mean-centred, divided by the group's std (N-1) + eps, as verl */
    EF_GRPO_DR = 1,  /* mean-centred only (Dr. GRPO) */
} ef_grpo_norm;

#define EF_GRPO_EPS 1e-6

/* Advantages for one group of n rewards. A group of 1 gets advantage 0 (no baseline);
 * a group whose rewards are all equal gets 0 everywhere. */
void ef_grpo_advantages(const double *rewards, size_t n, ef_grpo_norm norm, double *out);
/* pass@k for n samples of which c are correct: 1 - C(n-c, k)/C(n, k), computed as a
 * stable product; 1 when n - c < k; NaN when k > n or k == 0. */
double ef_pass_at_k(int n, int c, int k);
/* Flakiness of a task over n samples with c successes: 4·p·(1-p), 0 when every sample
 * agrees and 1 at a 50/50 split. */
double ef_task_flakiness(int n, int c);

#endif
