/* The OpenCL backend's speed on the first device (or $VAE_BENCH_DEVICE,
   "P.D"): the GEMM's GFLOP/s on the reference model's shapes and on
   4096^3, then seconds per 60,000-image training epoch of the reference
   network for (a) ELBO k=1 batch 20, (b) ELBO k=1 batch 128, (c) IWAE
   k=50 batch 20, (d) IWAE k=50 batch 100, with the kernels each step
   queues. Usage: bench_opencl [--images N] [--big 0|1] (default 2000
   images, timed and scaled to an epoch: PoCL on a laptop's CPU takes
   minutes for more; use 60000 on a GPU). Wall time: a device's work is
   not this process's CPU time. */
#define _POSIX_C_SOURCE 200809L

#include "../vae.c"
#include "../opencl/vae_opencl.c"
#include "digits.h"

#include <time.h>

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* Seconds a product takes, the fastest of a few rounds, each ended by a
   read (the queue runs asynchronously). */
static double time_gemm(ocl_dev *d, int ta, int tb, int m, int n, int k, vae_ref a, vae_ref b, vae_ref c)
{
    double best = 1e30;
    int round, reps = 1, i;
    float sink;
    for (round = 0; round < 4 && (round < 2 || best < 1.0); round++) {
        double t0 = wall(), t;
        for (i = 0; i < reps; i++)
            ocl_gemm(d, ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c, n, VAE_NO_REF, VAE_ACT_NONE, 0);
        if (ocl_read(d, c, &sink, 1) != VAE_OK)
            return -1.0;
        t = (wall() - t0) / reps;
        best = t < best ? t : best;
        /* rounds of at least a tenth of a second */
        while (reps * t < 0.1 && reps < 1 << 16)
            reps *= 2;
    }
    return best;
}

static int bench_gemm(const vae_opencl_params *params, int big)
{
    static const int shapes[][5] = {
        /* ta, tb, m, n, k: forward (NT), input gradient (NN), weight gradient (TN) */
        {0, 1, 20, 200, 784},   {0, 1, 1000, 784, 200},  {0, 0, 1000, 200, 784},
        {1, 0, 784, 200, 1000}, {1, 0, 200, 784, 20},    {0, 1, 128, 200, 784},
        {0, 1, 5000, 784, 200}, {1, 0, 784, 200, 5000},  {0, 0, 4096, 4096, 4096},
    };
    size_t floats = (size_t)3 * 4096 * 4096, i;
    void *dev = NULL;
    char why[2048];
    float *fill;
    ocl_dev *d;
    if (ocl_create(&dev, floats, params, why, sizeof why) != VAE_OK) {
        fprintf(stderr, "bench_opencl: %s\n", why);
        return 1;
    }
    d = dev;
    /* values in the buffer, so that no NaN or denormal slows anything */
    fill = malloc((size_t)4096 * 4096 * sizeof *fill);
    if (!fill)
        return 1;
    for (i = 0; i < (size_t)4096 * 4096; i++)
        fill[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (i = 0; i < 3; i++)
        ocl_write(d, i * 4096 * 4096, fill, (size_t)4096 * 4096);
    free(fill);
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *s = shapes[i];
        double t, flops = 2.0 * s[2] * s[3] * s[4];
        if (s[2] == 4096 && !big)
            continue;
        t = time_gemm(d, s[0], s[1], s[2], s[3], s[4], 0, (size_t)4096 * 4096, (size_t)2 * 4096 * 4096);
        if (t < 0) {
            fprintf(stderr, "bench_opencl: %s\n", d->why);
            break;
        }
        printf("opencl gemm %c%c m=%4d n=%4d k=%4d  %8.1f GFLOP/s  %8.1f us\n", s[0] ? 'T' : 'N', s[1] ? 'T' : 'N',
               s[2], s[3], s[4], flops / t / 1e9, t * 1e6);
        fflush(stdout);
    }
    ocl_destroy(dev);
    return 0;
}

static int bench_train(const vae_opencl_params *params, char which, int images, const float *data, int n_data)
{
    vae_config cfg;
    vae_options opt = {0};
    vae *m = NULL;
    float bound = 0.0f;
    int i, n, steps;
    unsigned long launches;
    double t0, t;
    vae_config_init(&cfg);
    cfg.max_batch = which == 'b' ? 128 : which == 'd' ? 100 : 20;
    if (which == 'c' || which == 'd') {
        cfg.objective = VAE_IWAE;
        cfg.k = 50;
    }
    opt.backend = vae_backend_opencl();
    opt.backend_params = params;
    if (vae_create(&m, &cfg, &opt) != VAE_OK) {
        fprintf(stderr, "bench_opencl: %s\n", vae_error(m));
        vae_free(m);
        return 1;
    }
    n = cfg.max_batch;
    for (i = 0; i < 5; i++)
        vae_train_step(m, data + (size_t)(i * n % (n_data - n)) * 784, n, NULL, &bound);
    launches = ((ocl_dev *)m->dev)->launches;
    steps = (images + n - 1) / n;
    t0 = wall();
    for (i = 0; i < steps; i++)
        if (vae_train_step(m, data + (size_t)(i * n % (n_data - n)) * 784, n, NULL, &bound) != VAE_OK) {
            fprintf(stderr, "bench_opencl: %s\n", vae_error(m));
            vae_free(m);
            return 1;
        }
    t = wall() - t0;
    printf("opencl %c %.2f s per 60,000-image epoch (%d images timed, %lu kernels a step, bound %.2f)\n", which,
           t * 60000.0 / ((double)steps * n), steps * n, (((ocl_dev *)m->dev)->launches - launches) / steps,
           bound);
    fflush(stdout);
    vae_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    vae_opencl_params params = {-1, -1};
    const char *want = getenv("VAE_BENCH_DEVICE");
    int i, images = 2000, big = 1, rc = 0, n_data;
    char list[4096];
    float *data;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--images") == 0)
            images = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--big") == 0)
            big = atoi(argv[i + 1]);
    }
    if (want && sscanf(want, "%d.%d", &params.platform, &params.device) != 2) {
        fprintf(stderr, "bench_opencl: VAE_BENCH_DEVICE=%s is not P.D\n", want);
        return 2;
    }
    if (vae_opencl_devices(list, sizeof list) != VAE_OK) {
        printf("# no OpenCL device: %s\n", list);
        return 0;
    }
    printf("# %s", list);
    if (!(data = shipped_digits(&n_data)))
        return 1;
    rc |= bench_gemm(&params, big);
    for (i = 0; i < 4 && !rc; i++)
        rc |= bench_train(&params, "abcd"[i], images, data, n_data);
    free(data);
    return rc;
}
