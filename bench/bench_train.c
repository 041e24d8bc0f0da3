/* Training throughput of the reference network: seconds per 60,000-image
   epoch for (a) ELBO k=1 batch 20, (b) ELBO k=1 batch 128, (c) IWAE k=50
   batch 20. Usage: bench_train [a|b|c ...] [--images N] (default 60000;
   fewer images are timed and scaled up to an epoch). Random binary images:
   the work per step does not depend on the pixels. */
#define _POSIX_C_SOURCE 200809L
#include "../vae.h"
#include "../rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int run(char which, int images)
{
    vae_config cfg;
    vae *m;
    vae_rng r;
    float *x, bound = 0.0f;
    int i, n, steps, warm = 20;
    double t0, t;
    vae_config_init(&cfg);
    cfg.max_batch = which == 'b' ? 128 : 20;
    if (which == 'c') {
        cfg.objective = VAE_IWAE;
        cfg.k = 50;
    }
    if (vae_create(&m, &cfg) != VAE_OK) {
        fprintf(stderr, "bench: %s\n", vae_error(m));
        vae_free(m);
        return 1;
    }
    n = cfg.max_batch;
    x = malloc(sizeof(float) * (size_t)n * cfg.input_dim);
    vae_rng_seed(&r, 5);
    for (i = 0; i < n * cfg.input_dim; i++)
        x[i] = vae_rng_uniform(&r) < 0.13 ? 1.0f : 0.0f;
    for (i = 0; i < warm; i++)
        vae_train_step(m, x, n, NULL, &bound);
    steps = (images + n - 1) / n;
    t0 = now();
    for (i = 0; i < steps; i++)
        vae_train_step(m, x, n, NULL, &bound);
    t = (now() - t0) * 60000.0 / ((double)steps * n);
    printf("vae %c %.2f\n", which, t);
    fflush(stdout);
    free(x);
    vae_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    int i, images = 60000, any = 0, rc = 0;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--images") == 0 && i + 1 < argc)
            images = atoi(argv[++i]);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--images") == 0) {
            i++;
        } else if (strlen(argv[i]) == 1 && argv[i][0] >= 'a' && argv[i][0] <= 'c') {
            rc |= run(argv[i][0], images);
            any = 1;
        }
    }
    if (!any)
        rc = run('a', images) | run('b', images) | run('c', images);
    return rc;
}
