/* The course's two conv VAEs: seconds per 60,000-image training epoch and,
   layer by layer, the GFLOP/s of the forward and backward passes beside
   those of the forward pass's GEMMs alone on the same products (what the
   im2col and col2im around them cost). Usage: bench_conv [a] [b]
   [--images N] [--threads N] (default 2560 images, scaled to an epoch;
   one thread). Wall time, the fastest of three runs of the images. */
#define _POSIX_C_SOURCE 200809L

#include "../vae.c"
#include "digits.h"

#include <time.h>

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *const specs[2][3] = {
    {"conv 32 5,relu,conv 32 5,relu", "fc 12800,view 32 20 20,relu,convt 32 5,relu,convt 1 5", "a"},
    {"conv 32 3 s2 p1,relu,conv 64 3 s2 p1,relu,fc 256,relu",
     "fc 256,relu,fc 3136,relu,view 64 7 7,convt 32 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1", "b"},
};

static vae *create(int which)
{
    vae_config cfg;
    vae *m;
    vae_config_init(&cfg);
    cfg.image_rows = cfg.image_cols = 28;
    cfg.image_channels = 1;
    vae_config_set(&cfg, "encoder", specs[which][0], NULL, 0);
    vae_config_set(&cfg, "decoder", specs[which][1], NULL, 0);
    cfg.kl = VAE_KL_ANALYTIC;
    cfg.eps = 1e-8f;
    if (which == 0) {
        cfg.posterior = VAE_POSTERIOR_ISOTROPIC;
        cfg.likelihood = VAE_GAUSSIAN;
        cfg.mean = VAE_MEAN_LINEAR;
        cfg.latent_dim = 2;
        cfg.k = 10;
        cfg.max_batch = 256;
    } else {
        cfg.latent_dim = 20;
        cfg.max_batch = 128;
    }
    if (vae_create(&m, &cfg, NULL) != VAE_OK) {
        fprintf(stderr, "bench_conv: %s\n", vae_error(m));
        vae_free(m);
        return NULL;
    }
    return m;
}

/* 2 x multiply-adds of the layer's forward pass over rows images */
static double layer_flops(const layer *L, int rows)
{
    double px = L->kind == &layer_kinds[LAYER_CONV]    ? (double)L->out.h * L->out.w
                : L->kind == &layer_kinds[LAYER_CONVT] ? (double)L->in.h * L->in.w
                                                       : 1.0;
    return 2.0 * rows * L->kind->weights(L) * px;
}

/* The forward pass's GEMMs alone, on whatever the im2col buffer holds. */
static void gemms_only(vae *m, const layer *L, vae_ref in, vae_ref out, int rows)
{
    const vae_conv_geom *g = &L->geom;
    int width = g->k * g->k * g->c, px = g->oh * g->ow, b0, nb;
    size_t in_size = (size_t)dims_size(L->in), out_size = (size_t)dims_size(L->out);
    for (b0 = 0; b0 < rows; b0 += nb) {
        nb = min_int(L->chunk, rows - b0);
        if (L->kind == &layer_kinds[LAYER_CONV])
            m->be->gemm(m->dev, 0, 1, nb * px, L->out.c, width, m->col, width, L->w, width, out + b0 * out_size,
                        L->out.c, L->b, L->act, 0);
        else
            m->be->gemm(m->dev, 0, 0, nb * px, width, L->in.c, in + b0 * in_size, L->in.c, L->w, width, m->col,
                        width, VAE_NO_REF, VAE_ACT_NONE, 0);
    }
}

static void per_layer(vae *m)
{
    int i, n = m->cfg.max_batch, reps = 7, r;
    printf("layer      kind   rows   forward GFLOP/s  backward GFLOP/s  forward GEMMs alone  conv/GEMM\n");
    for (i = 0; i < m->n_enc + m->n_dec; i++) {
        int enc = i < m->n_enc, j = enc ? i : i - m->n_enc;
        const layer *L = enc ? &m->enc[j] : &m->dec[j];
        int rows = enc ? n : n * m->cfg.k, top = !enc && j == m->n_dec - 1, first = j == 0;
        vae_ref in = enc ? (first ? m->x : m->enc_h[j - 1]) : (first ? m->z : m->dec_h[j - 1]);
        vae_ref out = enc ? m->enc_h[j] : m->dec_h[j];
        vae_ref dout = top || (enc && j == m->n_enc - 1) ? out : m->grad_scratch[0];
        vae_ref din = enc && first ? VAE_NO_REF : !enc && first ? m->dz : m->grad_scratch[1];
        double f = layer_flops(L, rows), t0, tf = 1e30, tb = 1e30, tg = 1e30;
        /* the fastest of the repetitions, each pass in turn, so that all
           three see the same state of the machine */
        for (r = 0; r < reps; r++) {
            t0 = wall();
            L->kind->forward(m, L, in, out, rows, 1, L->act);
            tf = fmin(tf, wall() - t0);
            t0 = wall();
            L->kind->backward(m, L, in, out, dout, VAE_NO_REF, din, rows);
            tb = fmin(tb, wall() - t0);
            if (L->kind->spatial) {
                t0 = wall();
                gemms_only(m, L, in, out, rows);
                tg = fmin(tg, wall() - t0);
            }
        }
        if (!L->kind->spatial)
            tg = 0.0;
        printf("%-10s %-6s %5d %13.1f %17.1f", L->name, L->kind->name, rows, f / tf * 1e-9,
               f * (din == VAE_NO_REF ? 1 : 2) / tb * 1e-9);
        if (tg > 0)
            printf(" %20.1f %10.2f\n", f / tg * 1e-9, tg / tf);
        else
            printf("\n");
    }
}

int main(int argc, char **argv)
{
    int i, images = 2560, n_data, any = 0, w;
    float *data = shipped_digits(&n_data);
    if (!data)
        return 1;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], "--images") == 0 && i + 1 < argc)
            images = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
#ifdef _OPENMP
            omp_set_num_threads(atoi(argv[i + 1]));
#endif
            i++;
        }
    for (w = 0; w < 2; w++) {
        vae *m;
        int n, steps, s, run;
        double best = 1e30;
        int wanted = 1, named = 0;
        for (i = 1; i < argc; i++)
            if (strcmp(argv[i], "a") == 0 || strcmp(argv[i], "b") == 0) {
                wanted = named ? wanted : 0;
                named = 1;
                wanted |= strcmp(argv[i], specs[w][2]) == 0;
            }
        if (!wanted)
            continue;
        any = 1;
        if (!(m = create(w)))
            return 1;
        n = m->cfg.max_batch;
        steps = (images + n - 1) / n;
        vae_train_step(m, data, n, NULL, NULL);
        for (run = 0; run < 3; run++) {
            double t0 = wall();
            for (s = 0; s < steps; s++)
                vae_train_step(m, data + (size_t)(s * n % (n_data - n)) * 784, n, NULL, NULL);
            best = fmin(best, (wall() - t0) / ((double)steps * n) * 60000.0);
        }
        printf("vae_conv %s %.1f s per 60,000 images (%d threads)\n", specs[w][2], best, OMP_MAX_THREADS());
        per_layer(m);
        vae_free(m);
    }
    free(data);
    return any ? 0 : 2;
}
