/* vae_backend.h — the interface between the vae model and what runs it.

   For people who write a backend (the OpenCL one in opencl/ is the second)
   or choose one; vae.h alone is enough to train and use a model.

   A backend is a table of function pointers, filled with designated
   initialisers:

       static const vae_backend my_backend = {
           .version = VAE_BACKEND_VERSION,
           .name = "mine",
           .create = my_create,
           .gemm = my_gemm,
           ...
       };

   and handed to vae_create or vae_load_ex in vae_options.backend. Every
   slot is required. vae_backend_cpu() returns the built-in one.

   MEMORY. The model asks for one block of `floats` floats when it is
   created and addresses everything in it by vae_ref, an offset counted in
   floats. Every tensor starts at a multiple of the model's alignment:
   max(VAE_BUFFER_ALIGN, .alignment) bytes, so a backend that maps tensors
   to sub-buffers (OpenCL's base-address alignment) can set .alignment.
   A tensor is one of: parameters, their gradients and optimiser moments
   (each a contiguous range), activations, or scratch. The model never
   touches a float directly: values cross only through write and read.

   ERRORS. Every operation returns VAE_OK or a failure status (a kernel
   launch can fail on a GPU). After a failure the model stops the call in
   progress and reports it; .error may give a reason (or NULL).

   SYNCHRONISATION. Operations may run asynchronously, in order. Values
   come back to the host in two places only, and a backend must finish the
   work before them there:
     read         a training step's summary (check_step: the sums of its
                  bounds and a finite flag, once per step); evaluation's
                  log-weights; encodings and decodings; checkpoints
     select_rows  the count of IWAE samples with non-zero weight, once per
                  step of the IWAE objective; a backend for which that wait
                  costs more than the rows it saves (a GPU) keeps every row
                  and does not wait
   write is the only other transfer: the batch and, when the host draws
   it, the noise. It may return before the copy is made, so a backend that
   does so copies src first: the caller may reuse it at once.

   SHAPES. Matrices are row-major, rows first in the comments. In training
   and evaluation the encoder sees n images and the decoder R = n * k rows,
   where row r = b * k + i is sample i of image b. Densities over z omit
   the -Z/2 log(2 pi) that every Gaussian here shares: it cancels in
   log p(z) - log q(z|x).

   CONFORMANCE. tests/test_backend.c runs every operation of a backend
   against a plain-C reference on awkward sizes; a backend passes it
   before it is used.
*/
#ifndef VAE_BACKEND_H
#define VAE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "vae.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Changes whenever a slot is added, removed or changes meaning; the model
   refuses a table of another version. */
#define VAE_BACKEND_VERSION 4

/* The least alignment of every tensor, in bytes: a cache line. */
#define VAE_BUFFER_ALIGN 64

/* An offset into the backend's memory, in floats. */
typedef size_t vae_ref;
#define VAE_NO_REF ((vae_ref)-1)

/* The activations that gemm and act_backward apply: the hidden ones of
   vae_activation, and these two. */
enum { VAE_ACT_NONE = 16, VAE_ACT_SIGMOID = 17 };

/* A convolution's geometry: images of h x w pixels of c channels, and
   the oh x ow positions of a k x k window that moves stride pixels at a
   time over them padded by pad zeros on every side: oh = (h + 2 pad - k)
   / stride + 1. A transposed convolution runs on the geometry of the
   convolution it reverses, its output as the images. */
typedef struct {
    int h, w, c, oh, ow, k, stride, pad;
} vae_conv_geom;

/* check_step's summary: where each value is, and how many floats. */
enum { VAE_STEP_BOUND = 0, VAE_STEP_OBJECTIVE = 2, VAE_STEP_OK = 4, VAE_STEP_SUMMARY = 5 };

struct vae_backend {
    int version;          /* VAE_BACKEND_VERSION */
    const char *name;     /* for messages */
    size_t alignment;     /* a power of two: bytes every tensor must start at a multiple of (0: VAE_BUFFER_ALIGN) */

    /* ---- memory ---- */

    /* *dev gets a block of `floats` floats, contents undefined. params is
       vae_options.backend_params, for the backend to interpret. On failure
       why (why_len bytes) says why. */
    vae_status (*create)(void **dev, size_t floats, const void *params, char *why, size_t why_len);
    void (*destroy)(void *dev); /* dev may be NULL */
    /* Why the last operation failed, or NULL. */
    const char *(*error)(void *dev);
    vae_status (*write)(void *dev, vae_ref dst, const float *src, size_t n);
    vae_status (*read)(void *dev, vae_ref src, float *dst, size_t n);
    vae_status (*zero)(void *dev, vae_ref dst, size_t n);

    /* ---- layers ---- */

    /* c (m, n) = act(op(a) (m, k) op(b) (k, n) + bias (n)), op(x) = x or
       x^T as ta, tb say; bias VAE_NO_REF adds none, act VAE_ACT_NONE
       applies none (a layer's forward pass is one call). Unless
       accumulate, c is only written (it may hold NaN before); with
       accumulate, c += op(a) op(b), and bias and act must be none (a
       weight gradient summed over chunks of rows). lda, ldb, ldc are row
       strides. */
    vae_status (*gemm)(void *dev, int ta, int tb, int m, int n, int k, vae_ref a, int lda, vae_ref b, int ldb,
                       vae_ref c, int ldc, vae_ref bias, int act, int accumulate);
    /* Given dy (rows, cols), the gradient of the loss with respect to the
       output y = act(a) (rows, cols), replaces dy by the gradient with
       respect to a, times scale[r / group] for row r (scale (rows /
       group), or VAE_NO_REF for 1: a sample's weight applies to each of
       its group pixels of a convolution's output); dbias (cols) = its
       column sums. */
    vae_status (*act_backward)(void *dev, vae_ref dy, vae_ref y, vae_ref scale, vae_ref dbias, int rows, int cols,
                               int act, int group);
    /* Convolution as im2col, GEMM and col2im. Images are channels last:
       image b, row y, column x, channel ch at ((b h + y) w + x) c + ch. */
    /* im2col: cols (n oh ow, k k c) gets the windows of images (n, h, w,
       c): row (b oh + oy) ow + ox, column (ky k + kx) c + ch holds image b
       at row oy stride - pad + ky, column ox stride - pad + kx, channel
       ch, or 0 where that is outside the image. */
    vae_status (*im2col)(void *dev, vae_ref images, vae_ref cols, int n, const vae_conv_geom *g);
    /* col2im, im2col's adjoint: images (n, h, w, c) = act(bias (c) + the
       sum of every entry of cols (n oh ow, k k c) that im2col would have
       copied from that element), summed over the windows in order
       (decreasing ky, then decreasing kx); bias
       VAE_NO_REF adds none, act VAE_ACT_NONE applies none. */
    vae_status (*col2im)(void *dev, vae_ref cols, vae_ref images, vae_ref bias, int act, int n,
                         const vae_conv_geom *g);

    /* ---- latent variables ---- */

    /* From mu_logvar (n, 2Z) = [mu | logvar] and eps (R, Z): std (n, Z) =
       exp(logvar / 2), z (R, Z) = mu_b + std_b eps_r, and log_p_minus_q (R)
       = log N(z_r; 0, I) - log q(z_r | x_b) = sum (eps^2 + logvar - z^2) / 2.
       Priors are densities relative to N(0, I): one other than N(0, I)
       then adds its log p(z) - log N(z; 0, I). */
    vae_status (*reparam)(void *dev, vae_ref mu_logvar, vae_ref eps, vae_ref std, vae_ref z, vae_ref log_p_minus_q,
                          int n, int k, int zdim);
    /* The reverse: dmu_logvar (n, 2Z) from dz (R, Z), the loss's gradient
       with respect to z. Unless weight (R: each sample's weight in the
       loss) is VAE_NO_REF, dz first gets the gradient of the loss's
       -weight[r] (log N(z_r; 0, I) - log q) added: weight[r] z_r, and
       -weight[r] / 2 for logvar; weight is VAE_NO_REF when the bound holds
       no such term (the analytic KL). Then dmu = sum_i dz, dlogvar =
       sum_i dz std eps / 2. */
    vae_status (*reparam_backward)(void *dev, vae_ref dz, vae_ref z, vae_ref eps, vae_ref std, vae_ref weight,
                                   vae_ref dmu_logvar, int n, int k, int zdim);
    /* A mixture of K diagonal Gaussians: mean, logvar (K, Z), logit (K),
       weights softmax(logit). log_p_minus_q[r] += log p(z_r) - log N(z_r;
       0, I). For the backward pass, resp (R, K) gets each row's
       responsibilities and cache (K (Z + 1)) exp(-logvar) and the log
       weights. The backward adds weight[r] times the gradient of
       -(log p(z_r) - log N(z_r; 0, I)) to dz (R, Z) and writes the
       gradients of the loss, -sum_r weight[r] d log p(z_r), to dmean,
       dlogvar (K, Z) and dlogit (K). */
    vae_status (*mog_log_prob)(void *dev, vae_ref z, vae_ref mean, vae_ref logvar, vae_ref logit, vae_ref cache,
                               vae_ref resp, vae_ref log_p_minus_q, int rows, int zdim, int components);
    vae_status (*mog_backward)(void *dev, vae_ref z, vae_ref mean, vae_ref cache, vae_ref resp, vae_ref weight,
                               vae_ref dz, vae_ref dmean, vae_ref dlogvar, vae_ref dlogit, int rows, int zdim,
                               int components);
    /* Analytic KL(q(z|x_b) || N(0, I)) = sum 0.5 (mu^2 + exp(logvar) - 1 -
       logvar): log_p_minus_q[r] = -KL of the row's image. The backward
       adds each image's total row weight times KL's gradient to
       dmu_logvar (n, 2Z). */
    vae_status (*kl_normal)(void *dev, vae_ref mu_logvar, vae_ref log_p_minus_q, int n, int k, int zdim);
    vae_status (*kl_normal_backward)(void *dev, vae_ref mu_logvar, vae_ref weight, vae_ref dmu_logvar, int n, int k,
                                     int zdim);

    /* ---- likelihoods ---- */

    /* The decoder's output l (R, D) is the likelihood's parameters (the
       output layer has added its bias), and x (n, D) the images (image
       r / k for row r). */
    /* Bernoulli with logits l: log_px[r] = sum x l - softplus(l). With
       grad, l is replaced by the gradient of -log p(x|z) with respect to
       it, sigmoid(l) - x. */
    vae_status (*bernoulli)(void *dev, vae_ref l, vae_ref x, vae_ref log_px, int rows, int k, int d, int grad);
    /* Gaussian with mean sigmoid(l), or l itself with linear, and sigma =
       exp(log_sigma[0]): log_px[r] = -d/2 log(2 pi sigma^2) - sq_err[r] /
       (2 sigma^2), with sq_err[r] = sum (x - mean)^2. With grad, l is
       replaced by the gradient of -log p(x|z) with respect to it. */
    vae_status (*gaussian)(void *dev, vae_ref l, vae_ref x, vae_ref log_sigma, vae_ref log_px, vae_ref sq_err,
                           int rows, int k, int d, int linear, int grad);
    /* dlog_sigma[0] = sum_r weight[r] (d - sq_err[r] / sigma^2), the
       gradient of the loss with respect to log sigma. */
    vae_status (*gaussian_backward)(void *dev, vae_ref sq_err, vae_ref weight, vae_ref log_sigma,
                                    vae_ref dlog_sigma, int rows, int d);

    /* ---- the bound ---- */

    /* logw (R) = log_px + log_p_minus_q; bound (n) per image: the mean of
       its k log-weights (ELBO) or their logsumexp - log k (IWAE);
       objective (n): the ELBO's with beta weighting log_p_minus_q, the
       mean of log_px + beta log_p_minus_q (with beta 1, or IWAE, the
       bound); weight (R) = each sample's weight in the loss, the batch's
       mean of -objective: 1 / (n k) (ELBO), the normalised importance
       weight / n (IWAE), flushed to exactly 0 below 2^-60 / n; and
       latent_weight (R) = beta weight, the weight of the log_p_minus_q
       terms, which the latent backward ops take. */
    vae_status (*combine)(void *dev, vae_ref log_px, vae_ref log_p_minus_q, float beta, vae_ref logw,
                          vae_ref bound, vae_ref objective, vae_ref weight, vae_ref latent_weight, int n, int k,
                          int iwae);
    /* kept (rows, int32) gets the indices of the rows whose weight is not
       0, in order, and *count their number; or, for a backend that keeps
       every row rather than wait for the count, *count = rows and kept is
       left alone. */
    vae_status (*select_rows)(void *dev, vae_ref weight, int rows, vae_ref kept, int *count);
    /* dst row j = src row kept[j], j < count, rows of width floats; dst may
       be src. */
    vae_status (*gather_rows)(void *dev, vae_ref dst, vae_ref src, vae_ref kept, int count, int width);
    /* The inverse, in place: x row kept[j] = x row j for j < count, and
       the other of its `rows` rows 0. */
    vae_status (*scatter_rows)(void *dev, vae_ref x, vae_ref kept, int count, int rows, int width);

    /* ---- the update ---- */

    /* Sums a step up, for the one read that ends it (VAE_STEP_SUMMARY
       floats): the sums of bound[0..n) and objective[0..n), each in index
       order in double precision and stored as two floats, hi + lo; and
       summary[VAE_STEP_OK] = 1 when both sums and every g[0..count) are
       finite, else 0. */
    vae_status (*check_step)(void *dev, vae_ref bound, vae_ref objective, int n, vae_ref g, size_t count,
                             vae_ref summary);
    /* One step of Adam (adamax 0) or Adamax on n parameters p with
       gradients g and moments m1, m2, as PyTorch computes it; t counts the
       steps from 1. Nothing changes where ok (one float, check_step's
       flag) holds 0; ok VAE_NO_REF always updates. */
    vae_status (*adam)(void *dev, vae_ref p, vae_ref g, vae_ref m1, vae_ref m2, size_t n, float lr, float beta1,
                       float beta2, float eps, long t, int adamax, vae_ref ok);
};

/* Every slot, in order: the model checks that a table fills each one, and
   the conformance test that it has a case for each. */
#define VAE_BACKEND_OPS(X)                                                     \
    X(create) X(destroy) X(error) X(write) X(read) X(zero) X(gemm) X(act_backward) X(im2col) X(col2im)        \
    X(reparam) X(reparam_backward) X(mog_log_prob) X(mog_backward) X(kl_normal) X(kl_normal_backward)        \
    X(bernoulli) X(gaussian) X(gaussian_backward) X(combine) X(select_rows) X(gather_rows) X(scatter_rows)   \
    X(check_step) X(adam)

/* The built-in backend: portable C, OpenMP where the compiler has it, and
   a GEMM micro-kernel for each instruction set (AVX-512, AVX2 + FMA on
   x86-64; NEON on ARM64; plain C everywhere), chosen by the processor it
   runs on when a model is created. */
const vae_backend *vae_backend_cpu(void);

/* The CPU backend's vae_options.backend_params (NULL: the best kernel).
   kernel: NULL or "auto" for the best, or one of vae_cpu_kernels()'s
   names, such as "c" for the plain-C reference, whose results are the
   same on every platform built without -march=native and with
   -ffp-contract=off. A kernel this processor lacks fails the creation
   with VAE_ERR_ARG. */
typedef struct {
    const char *kernel;
} vae_cpu_params;

/* The GEMM kernels this build can run on this processor, best first,
   separated by spaces: "avx512 avx2 c", "neon c" or "c". */
const char *vae_cpu_kernels(void);

#ifdef __cplusplus
}
#endif

#endif
