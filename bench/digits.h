/* digits.h — the shipped MNIST test digits, binarised, for the benchmarks:
   real images matter, because near-constant pixels push optimiser state and
   gradients towards the denormal range that random images never reach. */
#ifndef VAE_BENCH_DIGITS_H
#define VAE_BENCH_DIGITS_H

#include "../mnist.h"

#include <stdio.h>
#include <stdlib.h>

/* The digits as floats (*n of 784), or NULL after saying why. */
static float *shipped_digits(int *n)
{
    vae_dataset ds;
    float *data;
    int *idx, i;
    if (vae_dataset_load(&ds, "data/mnist/t10k-images-idx3-ubyte.gz", NULL) != VAE_OK) {
        fprintf(stderr, "bench: %s\n", ds.error);
        return NULL;
    }
    idx = malloc(sizeof(int) * ds.n);
    data = malloc(sizeof(float) * (size_t)ds.n * ds.dim);
    if (idx && data) {
        for (i = 0; i < ds.n; i++)
            idx[i] = i;
        vae_dataset_batch(&ds, idx, ds.n, VAE_BINARY_STATIC, NULL, data);
    } else {
        fprintf(stderr, "bench: out of memory\n");
        free(data);
        data = NULL;
    }
    *n = ds.n;
    free(idx);
    vae_dataset_free(&ds);
    return data;
}

#endif
