/* vae.h — variational and importance-weighted autoencoders in C99.

   The whole public API of the library. vae.c is one translation unit that
   needs only libc and libm; drop vae.h, vae.c and rng.h into a project (add
   mnist.h/mnist.c to read IDX files) and compile them with any C99 compiler.

   EMBEDDING, IN TEN LINES

       #include "vae.h"
       vae *m;
       if (vae_load(&m, "model.vae") != VAE_OK) {      // a trained model
           fprintf(stderr, "%s\n", vae_error(m));
           vae_free(m);
           return 1;
       }
       float probs[16 * 784];
       vae_sample(m, 16, probs);                       // 16 new digits
       vae_free(m);

   MODEL
   Encoder: x (D) -> hidden layers -> mu, logvar (Z), a diagonal Gaussian
   q(z|x). Decoder: z (Z) -> the hidden layers in reverse order -> D logits of
   a Bernoulli p(x|z). Prior p(z) = N(0, I). Training maximises the k-sample
   ELBO, the mean of log w_i, or the IWAE bound, logsumexp(log w_i) - log k,
   where log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) and
   z_i = mu + exp(logvar / 2) * eps_i. The encoder runs once per image and the
   decoder k times. Pixels are floats in [0, 1] (binary for a true Bernoulli
   likelihood); images are rows of a row-major (n, D) array.

   ERRORS
   Every function that can fail returns a vae_status; VAE_OK is 0. The reason
   for the last failure on a model is vae_error(m). vae_create and vae_load
   return a model even when they fail (like sqlite3_open), so that the reason
   can be read; free it with vae_free. Only when memory for the model itself
   cannot be had is *out NULL, and vae_error(NULL) then says so. The library
   never prints, exits or aborts, and a failed save leaves an existing file
   untouched.

   THREADS
   A model is not safe to use from two threads at once; distinct models are
   independent (there is no global state). When built with OpenMP the heavy
   kernels use omp_get_max_threads() threads, and results are bit-identical
   whatever the number of threads.

   MEMORY
   Every buffer a model needs is allocated by vae_create / vae_load: training
   steps and evaluation allocate nothing. Define VAE_MALLOC and VAE_FREE
   (both or neither; VAE_FREE must accept NULL, as free does) when compiling
   vae.c and mnist.c to use another allocator: they then allocate nothing
   else.
*/
#ifndef VAE_H
#define VAE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    VAE_OK = 0,
    VAE_ERR_ARG,     /* an argument or configuration is impossible */
    VAE_ERR_NOMEM,   /* out of memory */
    VAE_ERR_IO,      /* a file could not be opened, read or written */
    VAE_ERR_FORMAT,  /* a file is truncated, corrupt or not what was expected */
    VAE_ERR_NUMERIC  /* a bound or gradient became NaN or infinite */
} vae_status;

typedef enum { VAE_TANH, VAE_RELU, VAE_LEAKY_RELU } vae_activation;
typedef enum { VAE_ELBO, VAE_IWAE } vae_objective;
typedef enum { VAE_ADAM, VAE_ADAMAX } vae_optimizer;

#define VAE_MAX_HIDDEN 8
/* Limits that vae_create enforces, so that size arithmetic cannot overflow. */
#define VAE_MAX_ROWS (1 << 22)  /* max_batch * k */

typedef struct {
    int input_dim;              /* D, pixels per image */
    int latent_dim;             /* Z */
    int n_hidden;               /* hidden layers in the encoder (decoder mirrors) */
    int hidden[VAE_MAX_HIDDEN]; /* their widths, input side first */
    vae_activation activation;  /* LeakyReLU has slope 0.01 */
    vae_objective objective;    /* what vae_train_step maximises */
    int k;                      /* samples per image in training, >= 1 */
    int max_batch;              /* largest n given to vae_train_step */
    vae_optimizer optimizer;
    float lr, beta1, beta2, eps; /* optimiser settings; eps is Adam's epsilon */
    uint64_t seed;              /* initial weights and the noise stream */
} vae_config;

typedef struct vae vae;

/* Fills *cfg with the reference configuration: 784-200-200-50, tanh, ELBO
   k = 1, batch 20, Adam lr 1e-3, betas 0.9 / 0.999, eps 1e-4, seed 1. */
void vae_config_init(vae_config *cfg);

/* Creates a model with fresh weights (PyTorch's Linear initialisation:
   uniform in +-1/sqrt(fan_in)) drawn from cfg->seed. */
vae_status vae_create(vae **out, const vae_config *cfg);

/* Reads a checkpoint written by vae_save: configuration, weights, optimiser
   state, noise generator and step counter, so training resumes exactly. */
vae_status vae_load(vae **out, const char *path);

/* Writes a checkpoint atomically: to path.tmp, then renamed over path. */
vae_status vae_save(vae *m, const char *path);

void vae_free(vae *m);

/* Why the last call on m failed; "" when it did not. Valid until the next
   call on m. */
const char *vae_error(const vae *m);

/* The model's configuration. */
const vae_config *vae_get_config(const vae *m);

/* Number of optimiser steps taken so far. */
long vae_steps(const vae *m);

/* Restarts the model's noise generator (eps, samples) from seed; the
   weights are not touched. */
vae_status vae_seed(vae *m, uint64_t seed);

/* One optimiser step on a batch x (n, D), 1 <= n <= max_batch. eps is the
   noise, (n * k, Z) with row b * k + i for sample i of image b, or NULL to
   draw it from the model's generator. *bound, if not NULL, receives the
   batch's mean bound per image (before the update), in nats. Fails with
   VAE_ERR_NUMERIC, leaving the weights as they were, if the bound or a
   gradient is not finite. */
vae_status vae_train_step(vae *m, const float *x, int n, const float *eps, float *bound);

/* As vae_train_step without the update: leaves the gradient of the loss
   (minus the batch's mean bound) for vae_get_gradient. */
vae_status vae_gradient(vae *m, const float *x, int n, const float *eps, float *bound);

/* Mean bound per image over x (n, D), any n >= 1, with objective obj and
   k >= 1 samples per image, noise from the model's generator. */
vae_status vae_bound(vae *m, const float *x, int n, vae_objective obj, int k, double *bound);

/* Importance-sampled estimate of the mean log p(x) over x (n, D), with k
   samples per image from q(z|x) (k = 5000 is the literature's convention).
   Any k works: samples go through the decoder in chunks that fit the model's
   buffers. */
vae_status vae_log_likelihood(vae *m, const float *x, int n, int k, double *ll);

/* mu, logvar: (n, Z) for x (n, D). Either output may be NULL. */
vae_status vae_encode(vae *m, const float *x, int n, float *mu, float *logvar);

/* Bernoulli means p(x = 1 | z), (n, D), for z (n, Z). */
vae_status vae_decode(vae *m, const float *z, int n, float *probs);

/* Decodes n draws from the prior: probs (n, D). */
vae_status vae_sample(vae *m, int n, float *probs);

/* Parameter tensors, for reading, writing and comparing with other
   implementations. Names are PyTorch-like: enc.0.weight (out, in),
   enc.0.bias (out), ..., enc.mu.weight, enc.logvar.weight, dec.0.weight, ...,
   dec.out.weight, dec.out.bias. Weights are (out, in), row-major. */
int vae_tensor_count(const vae *m);

/* Name and shape of tensor i: ndim is 1 or 2, shape[1] is 1 when ndim is 1. */
vae_status vae_tensor_info(const vae *m, int i, const char **name, int *ndim, int shape[2]);

/* Copy a parameter tensor out or in; count must equal its size. */
vae_status vae_get_tensor(vae *m, const char *name, float *dst, size_t count);
vae_status vae_set_tensor(vae *m, const char *name, const float *src, size_t count);

/* Copy out the gradient left by the last vae_gradient / vae_train_step. */
vae_status vae_get_gradient(vae *m, const char *name, float *dst, size_t count);

/* CRC-32 (IEEE 802.3, as in gzip and PNG) of p[0..n), continuing from crc
   (start with 0). */
uint32_t vae_crc32(uint32_t crc, const void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif
