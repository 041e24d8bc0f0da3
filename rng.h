/* rng.h — small, fast, seedable random numbers for vae. Header only, C99.

   Generator: xoshiro256** (Blackman & Vigna), 256 bits of state, period
   2^256 - 1, seeded by expanding one 64-bit seed with splitmix64 so that any
   seed, including 0, gives a well-mixed state. Gaussians: Marsaglia's polar
   method in double precision, so the tails are exact to the resolution of a
   53-bit uniform rather than cut off where a float uniform would stop.

   All state is in the caller's vae_rng: nothing global, safe to use one
   generator per thread. The same seed gives the same sequence on every
   platform; the Gaussian stream is bit-identical wherever libm's log and sqrt
   are correctly rounded (sqrt always is; glibc's log is).

   Known outputs, for ports to check themselves:
     vae_rng_seed(&r, 0);  vae_rng_next(&r) == 0x99ec5f36cb75f2b4
     vae_rng_seed(&r, 42); vae_rng_next(&r) == 0x15780b2e0c2ec716,
                           then             0x6104d9866d113a7e
*/
#ifndef VAE_RNG_H
#define VAE_RNG_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} vae_rng;

static inline uint64_t vae_rng__rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t vae_rng__splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seeds r from one 64-bit value. Distinct seeds give unrelated streams. */
static inline void vae_rng_seed(vae_rng *r, uint64_t seed)
{
    int i;
    for (i = 0; i < 4; i++)
        r->s[i] = vae_rng__splitmix64(&seed);
}

/* Next 64 uniformly random bits. */
static inline uint64_t vae_rng_next(vae_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = vae_rng__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = vae_rng__rotl(s[3], 45);
    return result;
}

/* Uniform double in [0, 1), 53 random bits. */
static inline double vae_rng_uniform(vae_rng *r)
{
    return (double)(vae_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method). */
static inline uint32_t vae_rng_below(vae_rng *r, uint32_t n)
{
    uint64_t m = (vae_rng_next(r) >> 32) * (uint64_t)n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (vae_rng_next(r) >> 32) * (uint64_t)n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Fills out[0..n) with independent N(0, 1) draws. Each pair of outputs comes
   from one accepted polar pair; an odd tail uses half a pair and drops the
   other half, so a call's output depends only on the state and n. */
static inline void vae_rng_normal(vae_rng *r, float *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        double u, v, s, f;
        do {
            u = 2.0 * vae_rng_uniform(r) - 1.0;
            v = 2.0 * vae_rng_uniform(r) - 1.0;
            s = u * u + v * v;
        } while (s >= 1.0 || s == 0.0);
        f = sqrt(-2.0 * log(s) / s);
        out[i++] = (float)(u * f);
        if (i < n)
            out[i++] = (float)(v * f);
    }
}

/* Fisher-Yates shuffle of idx[0..n). */
static inline void vae_rng_shuffle(vae_rng *r, int *idx, int n)
{
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)vae_rng_below(r, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

#endif
