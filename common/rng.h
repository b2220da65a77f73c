/*
 * common/rng.h — a seeded, splittable random number generator.
 *
 * Algorithm: xoshiro256** (Blackman & Vigna, 2018) for the stream, seeded through
 * SplitMix64; everything is integer arithmetic on uint64_t, so the same seed gives the
 * same stream on every machine and compiler. Splitting derives an independent child from
 * (seed, key) with SplitMix64 mixing, without advancing anything: task i of a run uses
 * ef_rng_derive(run_seed, env_hash, i).
 *
 *   ef_rng r;
 *   ef_rng_seed(&r, 42);
 *   uint64_t x = ef_rng_u64(&r);
 *   int64_t die = ef_rng_range(&r, 1, 6);  // unbiased, inclusive
 *   double u = ef_rng_double(&r);         // [0, 1), 53 bits
 */
#ifndef EF_RNG_H
#define EF_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} ef_rng;

/* One SplitMix64 step: advances *state and returns the mixed output. */
uint64_t ef_splitmix64(uint64_t *state);
void ef_rng_seed(ef_rng *r, uint64_t seed);
/* A seed for a child stream from a parent seed and keys; pure function. */
uint64_t ef_rng_derive(uint64_t seed, uint64_t key1, uint64_t key2);
/* A child generator drawn from r (advances r by two outputs). */
void ef_rng_split(ef_rng *r, ef_rng *child);
uint64_t ef_rng_u64(ef_rng *r);
/* Uniform in [0, n) without modulo bias (Lemire's method); n = 0 returns 0. */
uint64_t ef_rng_below(ef_rng *r, uint64_t n);
/* Uniform in [lo, hi], inclusive. */
int64_t ef_rng_range(ef_rng *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1) with 53 random bits. */
double ef_rng_double(ef_rng *r);
/* Standard normal (Box-Muller from two doubles; deterministic). */
double ef_rng_normal(ef_rng *r);
/* Fisher-Yates shuffle of n elements of elem_size bytes (elem_size <= 256). */
void ef_rng_shuffle(ef_rng *r, void *base, size_t n, size_t elem_size);

#endif
