/* Training throughput of the reference network: seconds per 60,000-image
   epoch for (a) ELBO k=1 batch 20, (b) ELBO k=1 batch 128, (c) IWAE k=50
   batch 20. Usage: bench_train [a|b|c ...] [--images N] (default 60000;
   fewer images are timed and scaled up to an epoch). Data: the shipped
   MNIST digits (data/mnist), binarised and cycled through in order: real
   images matter, because near-constant pixels push optimiser state and
   gradients towards the denormal range that random images never reach. */
#include "../mnist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of this process: on one thread it is the time a core spent on
   the work, and unlike wall time it does not count what a busy virtual
   machine host steals (often over half of it on shared cloud machines). */
#define SEGMENTS 10

static double now(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

static int run(char which, int images, const float *data, int n_data)
{
    vae_config cfg;
    vae *m;
    float bound = 0.0f;
    int i, n, steps, seg, warm = 20;
    double t0, t, best, total;
    vae_config_init(&cfg);
    cfg.max_batch = which == 'b' ? 128 : 20;
    if (which == 'c') {
        cfg.objective = VAE_IWAE;
        cfg.k = 50;
    }
    if (vae_create(&m, &cfg, NULL) != VAE_OK) {
        fprintf(stderr, "bench: %s\n", vae_error(m));
        vae_free(m);
        return 1;
    }
    n = cfg.max_batch;
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
    int i, images = 60000, any = 0, rc = 0, *idx;
    vae_dataset ds;
    float *data;
    if (vae_dataset_load(&ds, "data/mnist/t10k-images-idx3-ubyte.gz", NULL) != VAE_OK) {
        fprintf(stderr, "bench: %s\n", ds.error);
        return 1;
    }
    idx = malloc(sizeof(int) * ds.n);
    data = malloc(sizeof(float) * (size_t)ds.n * ds.dim);
    if (!idx || !data)
        return 1;
    for (i = 0; i < ds.n; i++)
        idx[i] = i;
    vae_dataset_batch(&ds, idx, ds.n, VAE_BINARY_STATIC, NULL, data);
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--images") == 0 && i + 1 < argc)
            images = atoi(argv[++i]);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--images") == 0) {
            i++;
        } else if (strlen(argv[i]) == 1 && argv[i][0] >= 'a' && argv[i][0] <= 'c') {
            rc |= run(argv[i][0], images, data, ds.n);
            any = 1;
        }
    }
    if (!any)
        rc = run('a', images, data, ds.n) | run('b', images, data, ds.n) | run('c', images, data, ds.n);
    free(idx);
    free(data);
    vae_dataset_free(&ds);
    return rc;
}
