/*
 * common/rng.c — xoshiro256** seeded by SplitMix64; integer-only so every machine gives
 * the same stream for the same seed. Splitting mixes (seed, keys) with SplitMix64.
 */
#include <math.h>
#include <string.h>
#include "common/rng.h"

uint64_t ef_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ef_rng_seed(ef_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = ef_splitmix64(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1; /* the all-zero state is the one xoshiro must avoid */
}

uint64_t ef_rng_derive(uint64_t seed, uint64_t key1, uint64_t key2)
{
    uint64_t x = seed;
    uint64_t a = ef_splitmix64(&x);
    x = a ^ key1;
    uint64_t b = ef_splitmix64(&x);
    x = b ^ key2;
    return ef_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ef_rng_u64(ef_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void ef_rng_split(ef_rng *r, ef_rng *child)
{
    uint64_t a = ef_rng_u64(r), b = ef_rng_u64(r);
    ef_rng_seed(child, ef_rng_derive(a, b, 0x5eedull));
}

uint64_t ef_rng_below(ef_rng *r, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Lemire: multiply-high with rejection of the biased low region */
    uint64_t x = ef_rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            x = ef_rng_u64(r);
            m = (__uint128_t)x * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

int64_t ef_rng_range(ef_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    if (span == UINT64_MAX)
        return (int64_t)ef_rng_u64(r);
    return (int64_t)((uint64_t)lo + ef_rng_below(r, span + 1));
}

double ef_rng_double(ef_rng *r)
{
    return (double)(ef_rng_u64(r) >> 11) * 0x1.0p-53;
}

double ef_rng_normal(ef_rng *r)
{
    double u1 = ef_rng_double(r), u2 = ef_rng_double(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ef_rng_shuffle(ef_rng *r, void *base, size_t n, size_t elem_size)
{
    unsigned char tmp[256], *a = base;
    if (elem_size > sizeof tmp || n < 2)
        return;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)ef_rng_below(r, i + 1);
        if (j != i) {
            memcpy(tmp, a + i * elem_size, elem_size);
            memcpy(a + i * elem_size, a + j * elem_size, elem_size);
            memcpy(a + j * elem_size, tmp, elem_size);
        }
    }
}
