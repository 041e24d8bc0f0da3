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

/* Marsaglia's polar method draws points (u, v) uniformly from the unit
   disc, s = u^2 + v^2 in (0, 1), and turns each into two normals, u f and
   v f with f = sqrt(-2 ln s / s). The points must be drawn in order; the
   turning, where the time goes (a log, a division, a root), need not be:
   vae_rng_polar draws the next count points into uvs, three doubles each
   (u, v, s), and vae_rng_polar_normals turns one into out[0], and into
   out[1] too unless only one is asked for. A caller may spread the turning
   over threads and get the values vae_rng_normal gives. */
static inline void vae_rng_polar(vae_rng *r, double *uvs, size_t count)
{
    size_t i = 0;
    /* A rejected point (one in five) is written and then written over:
       cheaper than the mispredicted branch of a retry loop. */
    while (i < count) {
        double u = 2.0 * vae_rng_uniform(r) - 1.0, v = 2.0 * vae_rng_uniform(r) - 1.0, s = u * u + v * v;
        uvs[3 * i] = u;
        uvs[3 * i + 1] = v;
        uvs[3 * i + 2] = s;
        i += s < 1.0 && s != 0.0;
    }
}

static inline void vae_rng_polar_normals(const double *uvs, float *out, int two)
{
    double f = sqrt(-2.0 * log(uvs[2]) / uvs[2]);
    out[0] = (float)(uvs[0] * f);
    if (two)
        out[1] = (float)(uvs[1] * f);
}

/* Fills out[0..n) with independent N(0, 1) draws, two from each point; an
   odd n uses half of the last point and drops the other half, so a call's
   output depends only on the state and n. */
static inline void vae_rng_normal(vae_rng *r, float *out, size_t n)
{
    double uvs[3];
    size_t i;
    for (i = 0; i < n; i += 2) {
        vae_rng_polar(r, uvs, 1);
        vae_rng_polar_normals(uvs, out + i, i + 1 < n);
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
