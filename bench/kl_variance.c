/* kl_variance.c — how much the analytic KL lowers the variance of the
   ELBO's estimate and gradient with k = 1, against the Monte-Carlo KL.

       build/rel/kl_variance [--steps N] [--draws N]

   Trains the reference model (784-200-200-50, tanh, batch 20) for --steps
   steps on the shipped digits (the posterior is then far from the prior,
   as in real training), copies its weights into a twin that uses the
   analytic KL, and on one fixed batch computes the bound and gradient
   --draws times with fresh noise in each. Prints the standard deviation of
   the bound over draws, and the variance of the gradient summed over every
   parameter, for each KL and for the encoder's logvar head alone (the part
   the KL term reaches most directly). Same weights, same batch: the
   difference is the estimator's. */
#include "../mnist.h"
#include "../vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 20 };

typedef struct {
    double bound_sum, bound_sq, total_var, logvar_var;
} stats;

/* Welford's running variance of every gradient element over draws. */
static int measure(vae *m, const float *x, int draws, stats *out)
{
    int nt = vae_tensor_count(m), t, d;
    size_t total = 0, off;
    double *mean, *m2;
    float *g;
    for (t = 0; t < nt; t++) {
        int ndim, shape[VAE_MAX_DIMS];
        vae_tensor_info(m, t, NULL, &ndim, shape);
        total += (size_t)shape[0] * shape[1] * shape[2] * shape[3];
    }
    mean = calloc(total, sizeof *mean);
    m2 = calloc(total, sizeof *m2);
    g = malloc(total * sizeof *g);
    if (!mean || !m2 || !g)
        return 1;
    memset(out, 0, sizeof *out);
    vae_seed(m, 99);
    for (d = 0; d < draws; d++) {
        float bound;
        if (vae_gradient(m, x, B, NULL, &bound) != VAE_OK) {
            fprintf(stderr, "kl_variance: %s\n", vae_error(m));
            return 1;
        }
        out->bound_sum += bound;
        out->bound_sq += (double)bound * bound;
        for (t = 0, off = 0; t < nt; t++) {
            const char *name;
            int ndim, shape[VAE_MAX_DIMS];
            size_t n, i;
            vae_tensor_info(m, t, &name, &ndim, shape);
            n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
            vae_get_gradient(m, name, g + off, n);
            for (i = 0; i < n; i++) {
                double delta = g[off + i] - mean[off + i];
                mean[off + i] += delta / (d + 1);
                m2[off + i] += delta * (g[off + i] - mean[off + i]);
            }
            off += n;
        }
    }
    for (t = 0, off = 0; t < nt; t++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n, i;
        double v = 0.0;
        vae_tensor_info(m, t, &name, &ndim, shape);
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        for (i = 0; i < n; i++)
            v += m2[off + i] / (draws - 1);
        out->total_var += v;
        if (strncmp(name, "enc.logvar.", 11) == 0)
            out->logvar_var += v;
        off += n;
    }
    free(mean);
    free(m2);
    free(g);
    return 0;
}

int main(int argc, char **argv)
{
    int steps = 3000, draws = 200, i, s, t;
    vae_dataset ds;
    vae_config cfg;
    vae *mc, *an;
    float *x;
    int idx[4000];
    stats a, b;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--steps") == 0)
            steps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--draws") == 0)
            draws = atoi(argv[i + 1]);
    }
    if (draws < 2 || steps < 0) {
        fprintf(stderr, "usage: kl_variance [--steps N] [--draws N >= 2]\n");
        return 2;
    }
    if (vae_dataset_load(&ds, "data/mnist/t10k-images-idx3-ubyte.gz", NULL) != VAE_OK) {
        fprintf(stderr, "kl_variance: %s\n", ds.error);
        return 1;
    }
    x = malloc(sizeof(float) * 4000 * 784);
    for (i = 0; i < 4000; i++)
        idx[i] = i;
    vae_dataset_batch(&ds, idx, 4000, VAE_BINARY_STATIC, NULL, x);
    vae_config_init(&cfg);
    if (vae_create(&mc, &cfg, NULL) != VAE_OK)
        return 1;
    for (s = 0; s < steps; s++)
        vae_train_step(mc, x + (size_t)(s * B % (4000 - 2 * B)) * 784, B, NULL, NULL);
    cfg.kl = VAE_KL_ANALYTIC;
    if (vae_create(&an, &cfg, NULL) != VAE_OK)
        return 1;
    for (t = 0; t < vae_tensor_count(mc); t++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n;
        float *w;
        vae_tensor_info(mc, t, &name, &ndim, shape);
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        w = malloc(n * sizeof *w);
        vae_get_tensor(mc, name, w, n);
        vae_set_tensor(an, name, w, n);
        free(w);
    }
    /* the last batch, never trained on */
    if (measure(mc, x + (size_t)(4000 - B) * 784, draws, &a) || measure(an, x + (size_t)(4000 - B) * 784, draws, &b))
        return 1;
    printf("# reference model after %d steps; one batch of %d images, %d noise draws, k = 1\n", steps, B, draws);
    printf("kl          bound mean   bound sd   gradient variance (all)   (enc.logvar)\n");
    printf("mc          %10.3f %10.4f   %24.5g %14.5g\n", a.bound_sum / draws,
           sqrt((a.bound_sq - a.bound_sum * a.bound_sum / draws) / (draws - 1)), a.total_var, a.logvar_var);
    printf("analytic    %10.3f %10.4f   %24.5g %14.5g\n", b.bound_sum / draws,
           sqrt((b.bound_sq - b.bound_sum * b.bound_sum / draws) / (draws - 1)), b.total_var, b.logvar_var);
    printf("ratio mc / analytic:  bound variance %.2f, gradient variance %.2f (enc.logvar %.2f)\n",
           (a.bound_sq - a.bound_sum * a.bound_sum / draws) / (b.bound_sq - b.bound_sum * b.bound_sum / draws),
           a.total_var / b.total_var, a.logvar_var / b.logvar_var);
    vae_free(mc);
    vae_free(an);
    free(x);
    vae_dataset_free(&ds);
    return 0;
}
