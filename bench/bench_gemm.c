/* GEMM throughput, one thread, on the shapes one training step of the
   reference network uses: batch 20 (ELBO k=1) and 1000 decoder rows (IWAE
   k=50, batch 20). Prints GFLOP/s per shape, the best of five timings in CPU
   time. */
#include "../vae.c"

#include <time.h>

static double cpu_seconds(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

int main(void)
{
    /* ta, tb, m, n, k: forward X W^T (NT), weight gradient dY^T X (TN),
       input gradient dY W (NN) */
    static const int shapes[][5] = {
        {0, 1, 20, 200, 784}, {0, 1, 20, 784, 200}, {1, 0, 200, 784, 20}, {1, 0, 784, 200, 20},
        {0, 0, 20, 200, 784}, {0, 1, 1000, 200, 50}, {0, 1, 1000, 200, 200}, {0, 1, 1000, 784, 200},
        {1, 0, 784, 200, 1000}, {1, 0, 200, 200, 1000}, {0, 0, 1000, 200, 784}, {0, 0, 1000, 50, 200},
    };
    size_t big = (size_t)1 << 20, s;
    float *a = malloc(big * sizeof *a), *b = malloc(big * sizeof *b), *c = malloc(big * sizeof *c);
    float *pack = malloc(GEMM_PACK * sizeof *pack);
    if (!a || !b || !c || !pack)
        return 1;
    for (s = 0; s < big; s++) {
        a[s] = (float)(s % 100) * 1e-3f;
        b[s] = (float)(s % 77) * 1e-3f;
    }
    printf("# GEMM, one thread, MR x NR = %d x %d, KC %d, MC %d\n", GEMM_MR, GEMM_NR, GEMM_KC, GEMM_MC);
    {
        /* The micro-kernel alone on packed panels that sit in L1: the most
           this machine gives right now. On a shared virtual machine it
           moves by 1.5x from one minute to the next, so read the shapes
           below as fractions of it. */
        double flops = 2.0 * GEMM_MR * GEMM_NR * GEMM_KC * 20000, best = 1e30, t;
        float acc[GEMM_MR * GEMM_NR], sink = 0.0f;
        int r, trial;
        for (trial = 0; trial < 5; trial++) {
            t = cpu_seconds();
            for (r = 0; r < 20000; r++) {
                gemm_micro(GEMM_KC, a + (r & 7), GEMM_MR, b, GEMM_NR, acc, GEMM_NR, 0);
                sink += acc[r % (GEMM_MR * GEMM_NR)];
            }
            t = cpu_seconds() - t;
            best = t < best ? t : best;
        }
        printf("gemm micro-kernel alone      %6.1f GFLOP/s (%g)\n", flops / best / 1e9, (double)sink * 0.0);
    }
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int ta = shapes[s][0], tb = shapes[s][1], m = shapes[s][2], n = shapes[s][3], k = shapes[s][4];
        double flops = 2.0 * m * n * k, best = 1e30;
        int reps = (int)(2e9 / flops) + 1, r, trial;
        for (trial = 0; trial < 5; trial++) {
            double t = cpu_seconds();
            for (r = 0; r < reps; r++)
                gemm_blocked(pack, 1, ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n);
            t = cpu_seconds() - t;
            best = t < best ? t : best;
        }
        printf("gemm %c%c m=%4d n=%4d k=%4d  %6.1f GFLOP/s\n", ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k,
               flops * reps / best / 1e9);
    }
    free(a);
    free(b);
    free(c);
    free(pack);
    return 0;
}
