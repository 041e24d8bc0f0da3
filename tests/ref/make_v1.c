/* make_v1.c — wrote tests/ref/v1_*.vae and tests/ref/v1_expect.txt with the
   library as it was at commit 41a1781, the last one whose checkpoints were
   version 1. test_v1.c loads those files with today's library and requires
   the same bound and gradients, to 1e-6 relative.

       git worktree add /tmp/v1 41a1781
       cc -std=c99 -O2 -I/tmp/v1 -o /tmp/make_v1 tests/ref/make_v1.c /tmp/v1/vae.c -lm
       /tmp/make_v1 tests/ref

   Each case is a small model (20-16-12-4) trained for five steps on random
   binary images, so that the optimiser moments and step counter are not
   trivial; the expected values are those of vae_gradient on a batch and
   noise that test_v1.c regenerates from the same seeds, and of vae_bound
   with the generator state saved in the checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "vae.h"

enum { D = 20, Z = 4, B = 3, KMAX = 5 };

static void batch(uint64_t seed, int k, float *x, float *eps)
{
    vae_rng r;
    int i;
    vae_rng_seed(&r, seed);
    for (i = 0; i < B * D; i++)
        x[i] = vae_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f;
    vae_rng_normal(&r, eps, (size_t)B * k * Z);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *file;
        vae_activation act;
        vae_objective obj;
        int k;
    } cases[] = {
        {"v1_tanh_elbo1.vae", VAE_TANH, VAE_ELBO, 1},
        {"v1_relu_elbo5.vae", VAE_RELU, VAE_ELBO, 5},
        {"v1_leakyrelu_iwae5.vae", VAE_LEAKY_RELU, VAE_IWAE, 5},
    };
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[512];
    FILE *out;
    int c;
    snprintf(path, sizeof path, "%s/v1_expect.txt", dir);
    out = fopen(path, "w");
    if (!out)
        return 1;
    fprintf(out, "# written by tests/ref/make_v1.c with the library at commit 41a1781\n");
    for (c = 0; c < 3; c++) {
        vae_config cfg;
        vae *m;
        float x[B * D], eps[B * KMAX * Z], bound;
        double eval;
        int s, t;
        vae_config_init(&cfg);
        cfg.input_dim = D;
        cfg.latent_dim = Z;
        cfg.hidden[0] = 16;
        cfg.hidden[1] = 12;
        cfg.activation = cases[c].act;
        cfg.objective = cases[c].obj;
        cfg.k = cases[c].k;
        cfg.max_batch = B;
        cfg.lr = 0.01f;
        cfg.seed = 100 + (uint64_t)c;
        if (vae_create(&m, &cfg) != VAE_OK)
            return 1;
        for (s = 0; s < 5; s++) {
            batch(1000 + (uint64_t)s, cfg.k, x, eps);
            if (vae_train_step(m, x, B, NULL, NULL) != VAE_OK)
                return 1;
        }
        snprintf(path, sizeof path, "%s/%s", dir, cases[c].file);
        if (vae_save(m, path) != VAE_OK)
            return 1;
        vae_free(m);
        /* The expected values come from the file as loaded, as the test
           will compute them. */
        if (vae_load(&m, path) != VAE_OK)
            return 1;
        batch(77, cfg.k, x, eps);
        if (vae_bound(m, x, B, VAE_IWAE, 7, &eval) != VAE_OK)
            return 1;
        if (vae_gradient(m, x, B, eps, &bound) != VAE_OK)
            return 1;
        fprintf(out, "case %s\nbound %.9g\neval_iwae7 %.17g\n", cases[c].file, (double)bound, eval);
        for (t = 0; t < vae_tensor_count(m); t++) {
            const char *name;
            int ndim, shape[VAE_MAX_DIMS];
            size_t n, j;
            float *g;
            vae_tensor_info(m, t, &name, &ndim, shape);
            n = (size_t)shape[0] * shape[1];
            g = malloc(n * sizeof *g);
            vae_get_gradient(m, name, g, n);
            fprintf(out, "grad %s %lu", name, (unsigned long)n);
            for (j = 0; j < n; j++)
                fprintf(out, "%s%.9g", j % 8 ? " " : "\n", (double)g[j]);
            fprintf(out, "\n");
            free(g);
        }
        fprintf(out, "end\n");
        vae_free(m);
    }
    fclose(out);
    return 0;
}
