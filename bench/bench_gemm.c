/* GEMM throughput on one thread: the FMA peak of this core (a loop of
   independent FMAs, per vector width), each micro-kernel alone on panels
   that sit in L1 and its share of that peak, then every product one
   training step of the reference network makes (batch 20 for ELBO k=1,
   1000 decoder rows for IWAE k=50, batch 20) on each kernel this processor
   runs and, where libopenblas.so.0 is installed (Debian:
   libopenblas0-openmp or -pthread), on OpenBLAS's cblas_sgemm, called
   through dlopen and never linked. Each figure is the best of five timings
   in CPU time.

       bench_gemm [--kernel NAME]     (default: every kernel) */
#include "../vae.c"

#include <time.h>
#ifndef _WIN32
#include <dlfcn.h>
#endif

static double cpu_seconds(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

#define TRIALS 5

/* ---- the FMA peak: chains of independent FMAs, more than the FMA units'
   latency x throughput, so that they never wait for each other ---- */

#ifdef GEMM_X86
#define PEAK_REPS 2000000L
/* named accumulators, one register each (an array of vectors goes to the
   stack at every step, and halves the rate) */
#define PEAK_CHAINS12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define PEAK_CHAINS24(X) PEAK_CHAINS12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define PEAK_LOOP(VEC, SET1, ADD, STORE, LANES, CHAINS, DECLARE, FMA)       \
    {                                                                          \
        VEC x = SET1(1.0f - 1e-7f), y = SET1(1e-7f), sum = SET1(0.0f);         \
        double best = 1e30, t;                                                 \
        float out[LANES];                                                      \
        long r;                                                                \
        int trial, chains = 0;                                                 \
        CHAINS(DECLARE)                                                        \
        for (trial = 0; trial < TRIALS; trial++) {                             \
            t = cpu_seconds();                                                 \
            for (r = 0; r < PEAK_REPS; r++) {                                  \
                CHAINS(FMA)                                                    \
            }                                                                  \
            t = cpu_seconds() - t;                                             \
            best = t < best ? t : best;                                        \
        }                                                                      \
        CHAINS(PEAK_SUM_##VEC)                                                 \
        STORE(out, sum);                                                       \
        if (out[0] == 12345.0f) /* never: keeps the chains */                 \
            printf("%g\n", out[0]);                                            \
        return 2.0 * LANES * chains * PEAK_REPS / best / 1e9;                  \
    }

#define AVX2_PEAK_DECLARE(i) __m256 v##i = _mm256_set1_ps((float)(i));
#define AVX2_PEAK_FMA(i) v##i = _mm256_fmadd_ps(v##i, x, y);
#define PEAK_SUM___m256(i) sum = _mm256_add_ps(sum, v##i), chains++;
__attribute__((target("avx2,fma"))) static double peak_avx2(void)
PEAK_LOOP(__m256, _mm256_set1_ps, _mm256_add_ps, _mm256_storeu_ps, 8, PEAK_CHAINS12, AVX2_PEAK_DECLARE,
          AVX2_PEAK_FMA)

#define AVX512_PEAK_DECLARE(i) __m512 v##i = _mm512_set1_ps((float)(i));
#define AVX512_PEAK_FMA(i) v##i = _mm512_fmadd_ps(v##i, x, y);
#define PEAK_SUM___m512(i) sum = _mm512_add_ps(sum, v##i), chains++;
__attribute__((target("avx512f"))) static double peak_avx512(void)
PEAK_LOOP(__m512, _mm512_set1_ps, _mm512_add_ps, _mm512_storeu_ps, 16, PEAK_CHAINS24, AVX512_PEAK_DECLARE,
          AVX512_PEAK_FMA)
#endif

/* The peak of the vector width kern uses, or 0 when not measured. */
static double peak_of(const gemm_kernel *kern)
{
#ifdef GEMM_X86
    if (strcmp(kern->name, "avx512") == 0)
        return peak_avx512();
    if (strcmp(kern->name, "avx2") == 0)
        return peak_avx2();
#endif
    (void)kern;
    return 0.0;
}

/* ---- OpenBLAS, if installed ---- */

typedef void cblas_sgemm_fn(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                            const float *b, int ldb, float beta, float *c, int ldc);
static cblas_sgemm_fn *openblas_sgemm(void)
{
#ifndef _WIN32
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    void (*set_threads)(int);
    cblas_sgemm_fn *f;
    if (!lib)
        return NULL;
    *(void **)&set_threads = dlsym(lib, "openblas_set_num_threads");
    *(void **)&f = dlsym(lib, "cblas_sgemm");
    if (set_threads)
        set_threads(1);
    return f;
#else
    return NULL;
#endif
}

int main(int argc, char **argv)
{
    /* ta, tb, m, n, k: forward X W^T (NT), weight gradient dY^T X (TN),
       input gradient dY W (NN) */
    static const int shapes[][5] = {
        {0, 1, 20, 200, 784}, {0, 1, 20, 784, 200}, {1, 0, 200, 784, 20}, {1, 0, 784, 200, 20},
        {0, 0, 20, 200, 784}, {0, 1, 1000, 200, 50}, {0, 1, 1000, 200, 200}, {0, 1, 1000, 784, 200},
        {1, 0, 784, 200, 1000}, {1, 0, 200, 200, 1000}, {0, 0, 1000, 200, 784}, {0, 0, 1000, 50, 200},
        /* the conv models' products, one pass of the im2col buffer: model
           A's 32-channel conv and convt (windows of 800, 6 images of 400
           pixels), model B's 64-channel conv and convt (windows of 288, 42
           images of 49 pixels), and the one-channel layers (A's 25-wide
           windows, 18 images; B's 9-wide, 128 images) */
        {0, 1, 2400, 32, 800}, {1, 0, 32, 800, 2400}, {0, 0, 2400, 800, 32}, {0, 1, 2058, 64, 288},
        {1, 0, 64, 288, 2058}, {0, 0, 2058, 288, 64}, {0, 1, 10368, 32, 25}, {0, 1, 25088, 32, 9},
        {0, 0, 25088, 9, 32},
    };
    const gemm_kernel *kerns[GEMM_KERNELS];
    const char *only = argc == 3 && strcmp(argv[1], "--kernel") == 0 ? argv[2] : NULL;
    cblas_sgemm_fn *blas = openblas_sgemm();
    size_t big = (size_t)1 << 21, s, most = 0;
    float *a = malloc(big * sizeof *a), *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c), *pack;
    int nk = 0, i;
    if (argc != 1 && !only) {
        fprintf(stderr, "usage: bench_gemm [--kernel NAME]\n");
        return 2;
    }
    for (i = 0; i < GEMM_KERNELS; i++)
        if ((!only || strcmp(only, gemm_kernels[i].name) == 0) && gemm_kernel_named(gemm_kernels[i].name))
            kerns[nk++] = &gemm_kernels[i];
    if (nk == 0) {
        fprintf(stderr, "bench_gemm: no kernel '%s' here (this processor runs: %s)\n", only, vae_cpu_kernels());
        return 2;
    }
    for (i = 0; i < nk; i++)
        most = gemm_pack_floats(kerns[i]) > most ? gemm_pack_floats(kerns[i]) : most;
    pack = malloc(most * sizeof *pack);
    if (!a || !b || !c || !pack)
        return 1;
    for (s = 0; s < big; s++) {
        a[s] = (float)(s % 100) * 1e-3f;
        b[s] = (float)(s % 77) * 1e-3f;
    }
    printf("# GEMM, one thread; kernels this processor runs: %s\n", vae_cpu_kernels());
    for (i = 0; i < nk; i++) {
        /* The micro-kernel alone on packed panels that sit in L1: the most
           the GEMM can give. On a shared virtual machine it moves by 1.5x
           from one minute to the next, so read the shapes below as
           fractions of it. */
        const gemm_kernel *g = kerns[i];
        double flops = 2.0 * g->mr * g->nr * g->kc * 20000, best = 1e30, t, peak = peak_of(g);
        float acc[GEMM_TILE_MAX], sink = 0.0f;
        int r, trial;
        for (trial = 0; trial < TRIALS; trial++) {
            t = cpu_seconds();
            for (r = 0; r < 20000; r++) {
                g->fns[0][0][g->mr](g->kc, a + (r & 7), g->mr, b, g->nr, acc, g->nr, 0);
                sink += acc[r % (g->mr * g->nr)];
            }
            t = cpu_seconds() - t;
            best = t < best ? t : best;
        }
        printf("%-7s %2d x %-2d KC %3d MC %3d: micro-kernel %6.1f GFLOP/s", g->name, g->mr, g->nr, g->kc, g->mc,
               flops / best / 1e9);
        if (peak > 0.0)
            printf(", FMA peak %6.1f GFLOP/s, %3.0f%% of it", peak, 100.0 * flops / best / 1e9 / peak);
        printf("%s\n", sink == 12345.0f ? " " : "");
    }
    printf("\nGFLOP/s       shape          ");
    for (i = 0; i < nk; i++)
        printf(" %7s", kerns[i]->name);
    printf("%s\n", blas ? "  OpenBLAS  best/OpenBLAS" : "  (no libopenblas.so.0: no OpenBLAS column)");
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int ta = shapes[s][0], tb = shapes[s][1], m = shapes[s][2], n = shapes[s][3], k = shapes[s][4];
        double flops = 2.0 * m * n * k, mine = 0.0;
        int reps = (int)(2e9 / flops) + 1, r, trial, which;
        printf("%c%c m=%4d n=%4d k=%4d", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k);
        for (which = 0; which <= nk; which++) {
            double best = 1e30, rate;
            if (which == nk && !blas)
                break;
            for (trial = 0; trial < TRIALS; trial++) {
                double t = cpu_seconds();
                for (r = 0; r < reps; r++)
                    if (which < nk)
                        gemm_blocked(kerns[which], pack, 1, ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n, NULL, VAE_ACT_NONE, 0);
                    else
                        blas(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n,
                             0.0f, c, n);
                t = cpu_seconds() - t;
                best = t < best ? t : best;
            }
            rate = flops * reps / best / 1e9;
            printf(which < nk ? " %7.1f" : "  %8.1f  %8.2fx", rate, mine / rate);
            mine = which < nk && rate > mine ? rate : mine;
        }
        printf("\n");
    }
    free(a);
    free(b);
    free(c);
    free(pack);
    return 0;
}
