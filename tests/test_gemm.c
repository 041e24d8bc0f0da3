/* The blocked GEMM against the naive loop, for every transpose case on
   awkward sizes, with strides wider than the matrices, on each of the
   kernels this processor runs (VAE_TEST_KERNEL names one alone); and the
   dispatch: the best kernel is the first the processor has, and one it
   lacks is refused by name. */
#define VAE_TEST
#include "../vae.c"
#include "check.h"

/* 24 and 48: a last panel exactly half a 16- or 32-column tile wide */
static const int sizes[] = {1, 2, 3, 7, 17, 24, 48, 63, 65, 129, 257};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

static void fill(vae_rng *r, float *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (float)(2.0 * vae_rng_uniform(r) - 1.0);
}

static void test_kernel(const gemm_kernel *kern)
{
    enum { PAD = 3, MAXN = 257 + PAD };
    float *a = malloc(sizeof(float) * MAXN * MAXN), *b = malloc(sizeof(float) * MAXN * MAXN);
    float *c = malloc(sizeof(float) * MAXN * MAXN), *ref = malloc(sizeof(float) * MAXN * MAXN);
    int threads = OMP_MAX_THREADS() > 1 ? OMP_MAX_THREADS() : 2, thread_diffs = 0;
    float *pack = malloc(sizeof(float) * gemm_pack_floats(kern) * (threads + 1));
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
                        gemm_blocked(kern, pack, 1, ta, tb, m, n, k, a, lda, b, ldb, c1, ldc, NULL, VAE_ACT_NONE, 0);
                        /* and on one thread more every other time, for uneven splits */
                        gemm_blocked(kern, pack, threads + (ik & 1), ta, tb, m, n, k, a, lda, b, ldb, c, ldc, NULL,
                                     VAE_ACT_NONE, 0);
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
                        CHECK(bad == 0, "%s: ta=%d tb=%d m=%d n=%d k=%d: %d elements wrong", kern->name, ta, tb,
                              m, n, k, bad);
                    }
    printf("gemm %s (%d x %d): %d shapes x 4 transpose cases, worst abs error %.3g (case %d)\n", kern->name,
           kern->mr, kern->nr, NSIZES * NSIZES * NSIZES, worst, worst_case);
    CHECK(thread_diffs == 0, "%d products differ between 1 and %d or %d threads", thread_diffs, threads,
          threads + 1);
    free(a);
    free(b);
    free(c);
    free(ref);
    free(c1);
    free(pack);
}

int main(void)
{
    const char *only = getenv("VAE_TEST_KERNEL"), *runs = vae_cpu_kernels();
    const gemm_kernel *best = gemm_kernel_named(NULL);
    int i, tested = 0;
    CHECK(strncmp(runs, best->name, strlen(best->name)) == 0, "the best kernel, %s, heads the list %s",
          best->name, runs);
    for (i = 0; i < GEMM_KERNELS; i++) {
        const gemm_kernel *g = &gemm_kernels[i];
        int has = !g->available || g->available();
        char word[32], list[64];
        snprintf(word, sizeof word, " %s ", g->name);
        snprintf(list, sizeof list, " %s ", runs);
        CHECK((strstr(list, word) != NULL) == has, "%s is listed (%s) only where the processor has it (%d)",
              g->name, runs, has);
        CHECK(gemm_kernel_named(g->name) == (has ? g : NULL), "asking for %s", g->name);
        CHECK(g->mr * g->nr <= GEMM_TILE_MAX && g->mc % g->mr == 0, "%s's tile and blocks fit", g->name);
        if (has && (!only || strcmp(only, g->name) == 0)) {
            test_kernel(g);
            tested++;
        }
    }
    CHECK(tested > 0, "a kernel was tested (VAE_TEST_KERNEL=%s; this processor runs %s)", only ? only : "",
          runs);
    CHECK(gemm_kernel_named("sse9") == NULL, "no kernel sse9");
    return check_summary();
}
