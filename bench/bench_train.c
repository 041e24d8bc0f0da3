/* Training throughput of the reference network: seconds per 60,000-image
   epoch for (a) ELBO k=1 batch 20, (b) ELBO k=1 batch 128, (c) IWAE k=50
   batch 20. Usage: bench_train [a|b|c ...] [--images N] [--threads N|auto]
   [--kernel NAME] (the CPU's GEMM kernel, as vae devices lists them)
   (default 60000 images; fewer are timed and scaled up to an epoch). Data:
   the shipped MNIST digits (data/mnist), binarised and cycled through in
   order: real images matter, because near-constant pixels push optimiser
   state and gradients towards the denormal range that random images never
   reach.

   Without --threads: one thread, CPU time, the fastest of ten segments.
   With --threads N (fixed) or auto (the trainer's default: tools/threads.c
   picks the count as it goes): the wall time of all N images, unscaled,
   since how the count adapts over the run is what is measured. */
#define _POSIX_C_SOURCE 200809L

#include "digits.h"
#include "../tools/threads.h"
#include "../tools/platform.h"
#include "../tools/progress.h"
#include "../vae_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* CPU time of this process: on one thread it is the time a core spent on
   the work, and unlike wall time it does not count what a busy virtual
   machine host steals (often over half of it on shared cloud machines). */
#define SEGMENTS 10

static double now(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

/* the GEMM kernel to run on (NULL: the best) */
static vae_cpu_params cpu;

/* The reference network for configuration a, b or c; NULL after saying why. */
static vae *create(char which)
{
    vae_config cfg;
    vae_options opt;
    vae *m;
    memset(&opt, 0, sizeof opt);
    opt.backend_params = &cpu;
    vae_config_init(&cfg);
    cfg.max_batch = which == 'b' ? 128 : 20;
    if (which == 'c') {
        cfg.objective = VAE_IWAE;
        cfg.k = 50;
    }
    if (vae_create(&m, &cfg, &opt) != VAE_OK) {
        fprintf(stderr, "bench: %s\n", vae_error(m));
        vae_free(m);
        return NULL;
    }
    return m;
}

/* Wall seconds for `images` images with the threads as thread_arg says
   ("auto" or a count). */
static int run_wall(char which, int images, const float *data, int n_data, const char *thread_arg)
{
    vae *m;
    thread_governor gov;
    float bound = 0.0f;
    int i, n, steps, warm = 20, automatic = strcmp(thread_arg, "auto") == 0;
    double t0;
    if (!(m = create(which)))
        return 1;
    governor_init(&gov, automatic ? default_threads() : atoi(thread_arg), !automatic);
    n = vae_get_config(m)->max_batch;
    for (i = 0; i < warm; i++) {
        vae_train_step(m, data + (size_t)(i * n % (n_data - n)) * 784, n, NULL, &bound);
        governor_step_done(&gov);
    }
    steps = (images + n - 1) / n;
    t0 = platform_wall_seconds();
    for (i = 0; i < steps; i++) {
        vae_train_step(m, data + (size_t)(i * n % (n_data - n)) * 784, n, NULL, &bound);
        governor_step_done(&gov);
    }
    printf("threads %c %s %.3f\n", which, thread_arg, platform_wall_seconds() - t0);
    fflush(stdout);
    vae_free(m);
    return 0;
}

static int run(char which, int images, const float *data, int n_data)
{
    vae *m;
    float bound = 0.0f;
    int i, n, steps, seg, warm = 20;
    double t0, t, best, total;
    if (!(m = create(which)))
        return 1;
    n = vae_get_config(m)->max_batch;
    for (i = 0; i < warm; i++)
        vae_train_step(m, data + (size_t)(i * n % (n_data - n)) * 784, n, NULL, &bound);
    /* Ten segments, each timed on its own; the fastest one, scaled to an
       epoch, is the figure: on a shared machine the others measure the
       neighbours too. The mean is printed beside it. */
    steps = (images + n - 1) / n;
    seg = steps / SEGMENTS > 0 ? steps / SEGMENTS : 1;
    best = 1e30;
    total = 0.0;
    for (i = 0; i < steps; i += seg) {
        int j, c = i + seg < steps ? seg : steps - i;
        t0 = now();
        for (j = i; j < i + c; j++)
            vae_train_step(m, data + (size_t)(j * n % (n_data - n)) * 784, n, NULL, &bound);
        t = now() - t0;
        total += t;
        t = t / c;
        best = t < best ? t : best;
    }
    t = best * 60000.0 / n;
    printf("vae %c %.2f (mean %.2f)\n", which, t, total * 60000.0 / ((double)steps * n));
    fflush(stdout);
    vae_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int i, images = 60000, any = 0, rc = 0, n_data;
    const char *threads = NULL;
    float *data = shipped_digits(&n_data);
    if (!data)
        return 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--images") == 0 && i + 1 < argc)
            images = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = argv[++i];
        else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc)
            cpu.kernel = argv[++i];
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--images") == 0 || strcmp(argv[i], "--threads") == 0 ||
            strcmp(argv[i], "--kernel") == 0) {
            i++;
        } else if (strlen(argv[i]) == 1 && argv[i][0] >= 'a' && argv[i][0] <= 'c') {
            rc |= threads ? run_wall(argv[i][0], images, data, n_data, threads) : run(argv[i][0], images, data, n_data);
            any = 1;
        }
    }
    if (!any)
        rc = run('a', images, data, n_data) | run('b', images, data, n_data) | run('c', images, data, n_data);
    /* the process's peak, for make bench, which runs one configuration a
       process: the shipped digits as floats (31 MB) are part of it */
    {
        struct rusage u;
        if (any && getrusage(RUSAGE_SELF, &u) == 0)
            for (i = 1; i < argc; i++)
                if (strlen(argv[i]) == 1 && argv[i][0] >= 'a' && argv[i][0] <= 'c')
                    printf("vae_rss %c %.1f\n", argv[i][0], (double)u.ru_maxrss / 1024.0);
    }
    free(data);
    return rc;
}
