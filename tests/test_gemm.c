/* The blocked GEMM against the naive loop, for every transpose case on
   awkward sizes, with strides wider than the matrices. */
#define VAE_TEST
#include "../vae.c"
#include "check.h"

static const int sizes[] = {1, 2, 3, 7, 17, 63, 65, 129, 257};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void fill(vae_rng *r, float *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (float)(2.0 * vae_rng_uniform(r) - 1.0);
}

int main(void)
{
    enum { PAD = 3, MAXN = 257 + PAD };
    float *a = malloc(sizeof(float) * MAXN * MAXN), *b = malloc(sizeof(float) * MAXN * MAXN);
    float *c = malloc(sizeof(float) * MAXN * MAXN), *ref = malloc(sizeof(float) * MAXN * MAXN);
    int threads = OMP_MAX_THREADS() > 1 ? OMP_MAX_THREADS() : 2, thread_diffs = 0;
    float *pack = malloc(sizeof(float) * GEMM_PACK * (threads + 1));
    float *c1 = malloc(sizeof(float) * MAXN * MAXN);
    vae_rng r;
    int ta, tb, im, in, ik, worst_case = 0;
    double worst = 0.0;
    vae_rng_seed(&r, 3);
    fill(&r, a, (size_t)MAXN * MAXN);
    fill(&r, b, (size_t)MAXN * MAXN);
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (im = 0; im < NSIZES; im++)
                for (in = 0; in < NSIZES; in++)
                    for (ik = 0; ik < NSIZES; ik++) {
                        int m = sizes[im], n = sizes[in], k = sizes[ik], i, j, bad = 0;
                        int lda = (ta ? m : k) + PAD, ldb = (tb ? k : n) + PAD, ldc = n + PAD;
                        /* C starts full of NaN: it must be written, not read */
                        for (i = 0; i < m; i++)
                            for (j = 0; j < n; j++)
                                c[(size_t)i * ldc + j] = ref[(size_t)i * ldc + j] = NAN;
                        gemm_naive(ta, tb, m, n, k, a, lda, b, ldb, ref, ldc);
                        memcpy(c1, c, sizeof(float) * (size_t)m * ldc);
                        gemm_blocked(pack, 1, ta, tb, m, n, k, a, lda, b, ldb, c1, ldc);
                        /* and on one thread more every other time, for uneven splits */
                        gemm_blocked(pack, threads + (ik & 1), ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
                        /* Bit-identical whatever the thread count (NaN
                           compares unequal, so compare the bytes). */
                        thread_diffs += memcmp(c1, c, sizeof(float) * (size_t)m * ldc) != 0;
                        for (i = 0; i < m; i++)
                            for (j = 0; j < n; j++) {
                                /* float sums of k products of values in [-1, 1] */
                                double e = fabs(c[(size_t)i * ldc + j] - ref[(size_t)i * ldc + j]);
                                double tol = 1e-6 * (k + 4);
                                if (!(e <= tol))
                                    bad++;
                                if (!(e <= worst)) {
                                    worst = e;
                                    worst_case = ((ta * 2 + tb) * 1000 + m) * 1000 + n;
                                }
                            }
                        CHECK(bad == 0, "ta=%d tb=%d m=%d n=%d k=%d: %d elements wrong", ta, tb, m, n, k, bad);
                    }
    printf("gemm: %d shapes x 4 transpose cases, worst abs error %.3g (case %d)\n", NSIZES * NSIZES * NSIZES,
           worst, worst_case);
    CHECK(thread_diffs == 0, "%d products differ between 1 and %d or %d threads", thread_diffs, threads,
          threads + 1);
    free(a);
    free(b);
    free(c);
    free(ref);
    free(c1);
    free(pack);
    return check_summary();
}
