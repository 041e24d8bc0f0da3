/* vae.h — variational and importance-weighted autoencoders in C99.

   The whole public API of the library. vae.c is one translation unit that
   needs only libc and libm; drop vae.h, vae_backend.h, vae.c and rng.h
   into a project (add mnist.h/mnist.c to read IDX files) and compile them
   with any C99 compiler.

   EMBEDDING, IN TEN LINES

       #include "vae.h"
       vae *m;
       if (vae_load(&m, "model.vae") != VAE_OK) {      // a trained model
           fprintf(stderr, "%s\n", vae_error(m));
           vae_free(m);
           return 1;
       }
       float images[16 * 784];
       vae_sample(m, 16, images);                      // 16 new digits
       vae_free(m);

   MODEL
   Encoder: x (D) -> hidden layers -> mu, logvar (Z), a diagonal Gaussian
   q(z|x). Decoder: z (Z) -> the hidden layers in reverse order -> D outputs,
   the parameters of the likelihood p(x|z): Bernoulli logits (binary
   pixels), or the logits of a Gaussian's mean, with one sigma fixed or
   learned (grey pixels in [0, 1]). Prior p(z): N(0, I), or a learned
   mixture of Gaussians. Training maximises the k-sample ELBO, the mean of
   log w_i, or the IWAE bound, logsumexp(log w_i) - log k, where
   log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) and
   z_i = mu + exp(logvar / 2) * eps_i; with the standard normal prior the
   ELBO can use the analytic KL instead of log p(z_i) - log q(z_i|x). The
   encoder runs once per image and the decoder k times. Images are rows of
   a row-major (n, D) array of floats in [0, 1], each image channels last:
   row y, column x, channel c at (y cols + x) channels + c.

   NETWORKS
   The encoder and decoder are MLPs of the hidden widths and activation,
   or layers described by text, comma-separated, in vae_config.encoder
   and .decoder:
       fc N                    a dense layer of N outputs (flattening an image)
       conv C K [sS] [pP]      Conv2d to C channels, K x K, stride S (1), padding P (0)
       convt C K [sS] [pP] [oO] ConvTranspose2d, output padding O (0, less than S)
       view C H W              the dense layer before it makes an image of C x H x W
       relu, tanh, leakyrelu   the activation of the layer before
   as in PyTorch: the encoder's head (a dense layer to mu and logvar, or
   to mu and one log sigma with the isotropic posterior, whose logvar is
   then 2 log sigma for every dimension) follows its last layer, and the
   decoder starts from z and must end at the image's shape, without an
   activation (the likelihood applies its own). The model A of the conv
   VAE course: encoder "conv 32 5,relu,conv 32 5,relu", decoder
   "fc 12800,view 32 20 20,relu,convt 32 5,relu,convt 1 5".

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
   kernels use omp_get_max_threads() threads (at most as many as there were
   when the model was made), and results are bit-identical whatever the
   number of threads. Numbers in configuration text and checkpoints are
   read and written the same way whatever the locale.

   MEMORY
   Every buffer a model needs is allocated by vae_create / vae_load: training
   steps and evaluation allocate nothing. Define VAE_MALLOC and VAE_FREE
   (both or neither; VAE_FREE must accept NULL, as free does) when compiling
   vae.c and mnist.c to use another allocator: they then allocate nothing
   else.

   BACKENDS
   The heavy work runs on a backend: the built-in CPU one unless
   vae_options names another (vae_backend.h describes the interface).
*/
#ifndef VAE_H
#define VAE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version. MAJOR goes up when the ABI changes, and it is the
   shared library's soname: libvae.so.MAJOR. */
#define VAE_VERSION_MAJOR 2
#define VAE_VERSION_MINOR 0
#define VAE_VERSION_PATCH 0

/* "MAJOR.MINOR.PATCH" of the library linked in, which may be newer than
   the header compiled against. */
const char *vae_version(void);

typedef enum {
    VAE_OK = 0,
    VAE_ERR_ARG,     /* an argument or configuration is impossible */
    VAE_ERR_NOMEM,   /* out of memory */
    VAE_ERR_IO,      /* a file could not be opened, read or written */
    VAE_ERR_FORMAT,  /* a file is truncated, corrupt or not what was expected */
    VAE_ERR_NUMERIC, /* a bound or gradient became NaN or infinite */
    VAE_ERR_BACKEND  /* the backend failed (a device error) */
} vae_status;

typedef enum { VAE_TANH, VAE_RELU, VAE_LEAKY_RELU } vae_activation;
typedef enum { VAE_ELBO, VAE_IWAE } vae_objective;
typedef enum { VAE_ADAM, VAE_ADAMAX } vae_optimizer;
typedef enum { VAE_BERNOULLI, VAE_GAUSSIAN } vae_likelihood;
typedef enum { VAE_PRIOR_NORMAL, VAE_PRIOR_MOG } vae_prior;
typedef enum { VAE_KL_MC, VAE_KL_ANALYTIC } vae_kl;
typedef enum { VAE_POSTERIOR_DIAGONAL, VAE_POSTERIOR_ISOTROPIC } vae_posterior;
typedef enum { VAE_MEAN_SIGMOID, VAE_MEAN_LINEAR } vae_mean;

#define VAE_MAX_HIDDEN 8
/* A network description, "conv 32 5 s2 p1,relu,fc 256": see NETWORKS. */
#define VAE_MAX_SPEC 256
/* Layers with parameters in each network, the encoder's head and the
   decoder's output layer included. */
#define VAE_MAX_LAYERS 16
/* Limits that vae_create enforces, so that size arithmetic cannot overflow. */
#define VAE_MAX_ROWS (1 << 22)  /* max_batch * k */

typedef struct {
    int input_dim;              /* D, values per image */
    int image_rows, image_cols, image_channels; /* D = their product, or all 0: not known */
    int latent_dim;             /* Z */
    int n_hidden;               /* hidden layers in the encoder (decoder mirrors) */
    int hidden[VAE_MAX_HIDDEN]; /* their widths, input side first */
    vae_activation activation;  /* LeakyReLU has slope 0.01 */
    char encoder[VAE_MAX_SPEC]; /* the encoder's layers (NETWORKS), or "": the MLP of hidden and activation */
    char decoder[VAE_MAX_SPEC]; /* the decoder's, ending at the image's shape, or "": the MLP mirrored */
    vae_posterior posterior;    /* q(z|x): diagonal (mu and logvar heads) or isotropic (mu and one log sigma) */
    vae_likelihood likelihood;
    vae_mean mean;              /* the Gaussian's mean: sigmoid of the decoder's output, or the output itself */
    float sigma;                /* Gaussian: sigma, or 0 to learn it (from log sigma = 0); else 0 */
    vae_prior prior;
    int components;             /* of the mixture prior */
    vae_kl kl;                  /* analytic: ELBO with the normal prior only */
    float beta;                 /* training's weight on log p(z) - log q(z|x) in the ELBO; 1 is the ELBO */
    vae_objective objective;    /* what vae_train_step maximises */
    int k;                      /* samples per image in training, >= 1 */
    int max_batch;              /* largest n given to vae_train_step */
    vae_optimizer optimizer;
    float lr, beta1, beta2, eps; /* optimiser settings; eps is Adam's epsilon */
    uint64_t seed;              /* initial weights and the noise stream */
} vae_config;

typedef struct vae vae;
typedef struct vae_backend vae_backend;

/* How a model is run, as opposed to what it is. All zero means the CPU
   backend and the sizes of the configuration or checkpoint. */
typedef struct {
    const vae_backend *backend; /* NULL: vae_backend_cpu() */
    const void *backend_params; /* given to the backend's create */
    /* vae_load_ex only (vae_create takes them from the configuration, and
       refuses them here): the largest batch and the samples per image the
       caller will train with, replacing the checkpoint's; 0 keeps it. */
    int max_batch, k;
} vae_options;

/* Fills *cfg with the reference configuration (the table's defaults):
   784-200-200-50, tanh, Bernoulli, N(0, I) prior, ELBO k = 1, beta 1,
   batch 20, Adam lr 1e-3, betas 0.9 / 0.999, eps 1e-4, seed 1. */
void vae_config_init(vae_config *cfg);

/* Creates a model with fresh weights (PyTorch's Linear initialisation:
   uniform in +-1/sqrt(fan_in); mixture means N(0, 1), log-variances and
   logits 0; log sigma 0) drawn from cfg->seed. opt may be NULL. */
vae_status vae_create(vae **out, const vae_config *cfg, const vae_options *opt);

/* Reads a checkpoint written by vae_save (any version): configuration,
   weights, optimiser state, noise generator, step counter and application
   data, so training resumes exactly. Buffers are sized for the saved batch
   and k, but for at most VAE_LOAD_ROWS decoder rows and VAE_LOAD_BYTES of
   activations, so that a small file cannot ask for gigabytes: the batch
   shrinks first (vae_get_config tells what was kept). k, the objective,
   never changes; a model whose k alone is over the limit evaluates (k goes
   through in chunks) but its training steps are refused until it is
   loaded with vae_load_ex. */
#define VAE_LOAD_ROWS 4096
#define VAE_LOAD_BYTES ((size_t)1 << 28)
vae_status vae_load(vae **out, const char *path);

/* vae_load with a backend and the batch and k the caller will run (any
   allowed by the configuration's limits; the buffers are sized for exactly
   those, without vae_load's limits); opt may be NULL, and opt's max_batch
   or k 0 keeps the saved one. */
vae_status vae_load_ex(vae **out, const char *path, const vae_options *opt);

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

/* Bytes the application keeps with the model, such as a trainer's resume
   state: the checkpoint stores them untouched. set copies len
   bytes (at most VAE_MAX_APP_DATA; len 0 clears them); get returns them
   (NULL when there are none) and their length in *len. */
#define VAE_MAX_APP_DATA ((size_t)1 << 24)
vae_status vae_set_app_data(vae *m, const void *data, size_t len);
const void *vae_get_app_data(const vae *m, size_t *len);

/* One optimiser step on a batch x (n, D), 1 <= n <= max_batch. eps is the
   noise, (n * k, Z) with row b * k + i for sample i of image b, or NULL to
   draw it from the model's generator. *bound, if not NULL, receives the
   batch's mean bound per image (before the update), in nats: the true
   ELBO or IWAE bound, whatever beta is. Fails with VAE_ERR_NUMERIC,
   leaving the weights as they were, if the bound or a gradient is not
   finite. */
vae_status vae_train_step(vae *m, const float *x, int n, const float *eps, float *bound);

/* What the last vae_train_step or vae_gradient maximised, per image: the
   bound itself, or with beta != 1 the ELBO with beta weighting its
   log p(z) - log q(z|x) (a beta-VAE). */
double vae_last_objective(const vae *m);

/* Changes beta between steps (a KL warm-up raises it from 0), within the
   configuration's limits. */
vae_status vae_set_beta(vae *m, float beta);

/* As vae_train_step without the update: leaves the gradient of the loss
   (minus the batch's mean bound) for vae_get_gradient. */
vae_status vae_gradient(vae *m, const float *x, int n, const float *eps, float *bound);

/* Mean bound per image over x (n, D), any n >= 1, with objective obj and
   k >= 1 samples per image, noise from the model's generator. The ELBO
   uses the analytic KL when the model was configured so. */
vae_status vae_bound(vae *m, const float *x, int n, vae_objective obj, int k, double *bound);

/* Importance-sampled estimate of the mean log p(x) over x (n, D), with k
   samples per image from q(z|x) (k = 5000 is the literature's convention).
   Any k works: samples go through the decoder in chunks that fit the model's
   buffers. */
vae_status vae_log_likelihood(vae *m, const float *x, int n, int k, double *ll);

/* As vae_bound and vae_log_likelihood, each image's own value into each
   (n) instead of their mean. */
vae_status vae_bound_images(vae *m, const float *x, int n, vae_objective obj, int k, double *each);
vae_status vae_log_likelihood_images(vae *m, const float *x, int n, int k, double *each);

/* mu, logvar: (n, Z) for x (n, D). Either output may be NULL. */
vae_status vae_encode(vae *m, const float *x, int n, float *mu, float *logvar);

/* The likelihood's mean E[x|z], (n, D), for z (n, Z): Bernoulli
   probabilities, or the Gaussian's mean. */
vae_status vae_decode(vae *m, const float *z, int n, float *mean);

/* Decodes n draws from the prior (for a mixture: a component, then a
   Gaussian): mean (n, D) as vae_decode. */
vae_status vae_sample(vae *m, int n, float *mean);

/* n latent points drawn from the prior into z (n, Z), from a generator of
   their own seeded with seed (the model's noise stream is not touched):
   the same seed gives the same points. */
vae_status vae_prior_sample(vae *m, int n, uint64_t seed, float *z);

/* The prior's perplexity, exp(entropy of its mixture weights): how many
   components it uses in effect (1 for N(0, I)). */
vae_status vae_prior_perplexity(vae *m, double *perplexity);

/* Parameter tensors, for reading, writing and comparing with other
   implementations, in PyTorch's names, shapes and order whatever the
   library keeps in memory: enc.0.weight, enc.0.bias, ... for the
   encoder's layers, enc.mu.weight and .bias, then enc.logvar or, with the
   isotropic posterior, enc.log_sigma (1, in); dec.0, ... and dec.out for
   the decoder's last layer; then lik.log_sigma (1) for a learned sigma,
   prior.mean, prior.logvar (components, Z) and prior.logit (components)
   for the mixture prior. Dense weights are (out, in), conv weights (out,
   in, k, k) and conv-transpose weights (in, out, k, k); a dense layer's
   inputs from an image are in PyTorch's flattening order (channel, row,
   column), and so are its outputs before a view. Row-major. */
int vae_tensor_count(const vae *m);

/* Name and shape of tensor i: ndim is 1 to VAE_MAX_DIMS; shape[d] is 1
   for d >= ndim. */
#define VAE_MAX_DIMS 4
vae_status vae_tensor_info(const vae *m, int i, const char **name, int *ndim, int shape[VAE_MAX_DIMS]);

/* The network, layer by layer (encoder first, its head included; then the
   decoder, its output layer last), as `vae info` prints it. */
typedef struct {
    const char *kind;         /* "fc", "conv" or "convt" */
    int decoder;              /* 0 in the encoder, 1 in the decoder */
    int in[3], out[3];        /* shapes (channels, rows, cols); n values are (n, 1, 1) */
    int kernel, stride, pad, out_pad; /* conv and convt; else 0 */
    const char *activation;   /* "tanh", "relu", "leakyrelu" or "none" */
    long params;              /* weights and biases */
    const char *name;         /* "enc.0": its tensors are enc.0.weight and enc.0.bias; the encoder's
                                 head is "enc.head", whose tensors are enc.mu and enc.logvar (or
                                 enc.log_sigma) */
} vae_layer;
int vae_layer_count(const vae *m);
vae_status vae_layer_info(const vae *m, int i, vae_layer *layer);

/* Copy a parameter tensor out or in; count must equal its size. */
vae_status vae_get_tensor(vae *m, const char *name, float *dst, size_t count);
vae_status vae_set_tensor(vae *m, const char *name, const float *src, size_t count);

/* Copy out the gradient left by the last vae_gradient / vae_train_step. */
vae_status vae_get_gradient(vae *m, const char *name, float *dst, size_t count);

/* ---- the configuration as data ----

   One table describes every field of vae_config: its key (as checkpoints
   store it), the trainer's option, type, range and default. vae_config_init,
   the checks of vae_create, checkpoints and the vae program's options all
   follow it. */
typedef enum {
    VAE_FIELD_INT,    /* int, min to max inclusive */
    VAE_FIELD_REAL,   /* float, >= min (> min where min_open) and < max */
    VAE_FIELD_U64,    /* uint64_t */
    VAE_FIELD_CHOICE, /* an enum: the index of a name in choices */
    VAE_FIELD_LIST,   /* n_hidden and hidden: "200,200", "none" for no entries */
    VAE_FIELD_TEXT    /* a char array of max + 1 bytes: up to max characters, no newline */
} vae_field_type;

typedef struct {
    const char *key;             /* "latent_dim" */
    const char *option;          /* the trainer's option, "latent"; NULL where the data decide */
    vae_field_type type;
    const char *const *choices;  /* CHOICE: the names, NULL-terminated */
    double min, max;             /* INT, REAL, and LIST entries */
    int min_open;                /* REAL: min itself is not allowed */
    const char *def;             /* the default, as text */
    const char *help;            /* one line */
    int since;                   /* the checkpoint version that added it */
    size_t offset;               /* where it lives in vae_config */
} vae_field;

/* The table: *fields gets its first entry; returns the count. */
int vae_config_fields(const vae_field **fields);

/* Sets the field named key from its text, checking its type and range.
   On failure *c is unchanged and why (why_len bytes) says what is wrong. */
vae_status vae_config_set(vae_config *c, const char *key, const char *value, char *why, size_t why_len);

/* VAE_OK when vae_create would accept c; else why (why_len bytes) says
   what is wrong. */
vae_status vae_config_check(const vae_config *c, char *why, size_t why_len);

/* The field named key as text (as vae_config_set reads it) into buf;
   returns the text's length, or -1 when key names no field or buf is too
   small. */
int vae_config_get(const vae_config *c, const char *key, char *buf, size_t size);

/* ---- small helpers the library shares with mnist.c ---- */

/* CRC-32 (IEEE 802.3, as in gzip and PNG) of p[0..n), continuing from crc
   (start with 0). */
uint32_t vae_crc32(uint32_t crc, const void *p, size_t n);

/* The little-endian 32-bit number at p. */
uint32_t vae_get_le32(const unsigned char *p);

/* Reads the whole file at path into *data (from VAE_MALLOC, never NULL on
   success), its length into *len. VAE_ERR_IO when it cannot be opened or
   read, VAE_ERR_FORMAT when it is larger than max bytes, VAE_ERR_NOMEM;
   why (why_len bytes) then names the file and the problem. */
vae_status vae_read_file(const char *path, size_t max, unsigned char **data, size_t *len, char *why,
                         size_t why_len);

/* Writes len bytes to path through path.tmp and a rename, so that path
   holds its old contents or the new, never a part: the new file is flushed
   to the disk before the rename, and the directory after it, where the
   platform can (POSIX fsync, Windows _commit; nothing elsewhere). On
   failure the temporary file is removed, the old path untouched, errno
   left as the failing call set it, and why says what failed. vae_save
   writes checkpoints this way. */
vae_status vae_write_file(const char *path, const void *data, size_t len, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
