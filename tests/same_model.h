/* same_model.h — whether two models hold the same tensors, bit for bit,
   for the tests that compare a model with its copy or its twin. Include it
   after vae.h (or vae.c). */
#ifndef VAE_SAME_MODEL_H
#define VAE_SAME_MODEL_H

#include <stdlib.h>
#include <string.h>

/* 1 when a and b have the same tensors with the same values: parameters,
   or with grads the gradients of the last step. */
static int same_tensors(vae *a, vae *b, int grads)
{
    int t, same = vae_tensor_count(a) == vae_tensor_count(b);
    for (t = 0; same && t < vae_tensor_count(a); t++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n;
        float *x, *y;
        vae_tensor_info(a, t, &name, &ndim, shape);
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        x = malloc(n * sizeof *x);
        y = malloc(n * sizeof *y);
        if (grads)
            same = vae_get_gradient(a, name, x, n) == VAE_OK && vae_get_gradient(b, name, y, n) == VAE_OK;
        else
            same = vae_get_tensor(a, name, x, n) == VAE_OK && vae_get_tensor(b, name, y, n) == VAE_OK;
        same = same && memcmp(x, y, n * sizeof *x) == 0;
        free(x);
        free(y);
    }
    return same;
}

#endif
