/* Conv networks against PyTorch in float64 (tests/ref/golden_conv.txt,
   written by tests/ref/golden_conv.py): through the public API alone, each
   case's configuration, weights in PyTorch's names, shapes and order, the
   images and noise; then the mean bound within 1e-5 and every parameter's
   gradient within 1e-4 of its tensor's largest value. The cases have
   strides, padding (pad % stride != 0 too), output padding, kernels of 1
   and 7, views, several channels, colour, both posteriors and both
   Gaussian means, the analytic KL and the IWAE bound. */
#include "../vae.c" /* one translation unit, as the other tests */
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN "tests/ref/golden_conv.txt"
#define MAX_T 64

typedef struct {
    char name[64];
    int ndim, shape[VAE_MAX_DIMS];
    size_t n;
    float *v;   /* what the library is given */
    double *d;  /* what it is compared with */
} gtensor;

static gtensor *find(gtensor *t, int nt, const char *name)
{
    int i;
    for (i = 0; i < nt; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

static void run_case(const char *label, vae_config *cfg, gtensor *t, int nt, double bound)
{
    vae *m;
    gtensor *x = find(t, nt, "x"), *eps = find(t, nt, "eps");
    float got = 0.0f;
    int i, params = 0;
    double worst = 0.0;
    const char *worst_name = "";
    if (vae_create(&m, cfg, NULL) != VAE_OK) {
        CHECK(0, "%s: create: %s", label, vae_error(m));
        vae_free(m);
        return;
    }
    for (i = 0; i < nt; i++)
        if (strcmp(t[i].name, "x") && strcmp(t[i].name, "eps") && strncmp(t[i].name, "grad.", 5)) {
            int j, ndim, shape[VAE_MAX_DIMS];
            const char *name = NULL;
            params++;
            CHECK(vae_set_tensor(m, t[i].name, t[i].v, t[i].n) == VAE_OK, "%s: set %s: %s", label, t[i].name,
                  vae_error(m));
            for (j = 0; j < vae_tensor_count(m); j++) {
                vae_tensor_info(m, j, &name, &ndim, shape);
                if (strcmp(name, t[i].name) == 0)
                    break;
            }
            CHECK(j < vae_tensor_count(m) && ndim == t[i].ndim && memcmp(shape, t[i].shape, sizeof shape) == 0,
                  "%s: %s has PyTorch's shape", label, t[i].name);
        }
    CHECK(params == vae_tensor_count(m), "%s: the model has %d tensors, PyTorch %d", label, vae_tensor_count(m),
          params);
    CHECK(x && eps && vae_gradient(m, x->v, cfg->max_batch, eps->v, &got) == VAE_OK, "%s: gradient: %s", label,
          vae_error(m));
    CHECK(fabs(got - bound) <= 1e-5 * fabs(bound), "%s: bound %.9g, PyTorch %.9g", label, got, bound);
    for (i = 0; i < nt; i++) {
        gtensor *g = &t[i];
        float *v;
        double big = 0.0, diff = 0.0;
        size_t j;
        if (strncmp(g->name, "grad.", 5) != 0)
            continue;
        v = malloc(g->n * sizeof *v);
        CHECK(v && vae_get_gradient(m, g->name + 5, v, g->n) == VAE_OK, "%s: %s", label, g->name);
        for (j = 0; v && j < g->n; j++) {
            big = fmax(big, fabs(g->d[j]));
            diff = fmax(diff, fabs(v[j] - g->d[j]));
        }
        CHECK(big > 0 && diff <= 1e-4 * big, "%s: %s off by %.3g of its largest %.3g", label, g->name, diff / big,
              big);
        if (big > 0 && diff / big > worst) {
            worst = diff / big;
            worst_name = g->name + 5;
        }
        free(v);
    }
    printf("%-16s bound %.7f (PyTorch %.7f), worst gradient error %.2e of its tensor's largest (%s)\n", label,
           (double)got, bound, worst, worst_name);
    vae_free(m);
}

int main(void)
{
    FILE *f = fopen(GOLDEN, "r");
    char line[512], label[64] = "";
    gtensor t[MAX_T];
    int nt = 0, cases = 0, i;
    vae_config cfg;
    CHECK(f != NULL, "cannot open " GOLDEN);
    if (!f)
        return check_summary();
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || !line[0])
            continue;
        if (strncmp(line, "case ", 5) == 0) {
            snprintf(label, sizeof label, "%.63s", line + 5);
            vae_config_init(&cfg);
            nt = 0;
        } else if (strncmp(line, "config ", 7) == 0) {
            char *key = line + 7, *value = strchr(key, ' '), why[160];
            if (value)
                *value++ = '\0';
            CHECK(value && vae_config_set(&cfg, key, value, why, sizeof why) == VAE_OK, "%s: config %s: %s", label,
                  key, value ? why : "no value");
        } else if (strncmp(line, "tensor ", 7) == 0 && nt < MAX_T) {
            gtensor *g = &t[nt++];
            char *p = line + 7, *end;
            size_t j;
            int d;
            memset(g, 0, sizeof *g);
            end = strchr(p, ' ');
            if (end)
                *end = '\0';
            snprintf(g->name, sizeof g->name, "%.63s", p);
            p = end ? end + 1 : p + strlen(p);
            g->ndim = (int)strtol(p, &p, 10);
            for (d = 0; d < VAE_MAX_DIMS; d++)
                g->shape[d] = d < g->ndim ? (int)strtol(p, &p, 10) : 1;
            g->n = (size_t)g->shape[0] * g->shape[1] * g->shape[2] * g->shape[3];
            if (strcmp(g->name, "x") == 0 || strcmp(g->name, "eps") == 0)
                g->ndim = 2; /* not tensors of the model */
            g->v = malloc(g->n * sizeof *g->v);
            g->d = malloc(g->n * sizeof *g->d);
            for (j = 0; g->v && g->d && j < g->n; j++) {
                CHECK(fscanf(f, "%lf", &g->d[j]) == 1, "%s: %s value %lu", label, g->name, (unsigned long)j);
                g->v[j] = (float)g->d[j];
            }
        } else if (strncmp(line, "scalar bound ", 13) == 0) {
            double bound = strtod(line + 13, NULL);
            run_case(label, &cfg, t, nt, bound);
            cases++;
            for (i = 0; i < nt; i++) {
                free(t[i].v);
                free(t[i].d);
            }
            nt = 0;
        }
    }
    fclose(f);
    CHECK(cases == 4, "%d cases in " GOLDEN ", expected 4", cases);
    return check_summary();
}
