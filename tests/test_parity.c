/* test_parity.c — vae.c against PyTorch.

   Reads tests/ref/golden.txt (written by tests/ref/golden.py with PyTorch in
   float64) and, for each of its cases on a small 20-16-12-4 model (tanh /
   ReLU / LeakyReLU x ELBO-1, ELBO-5, IWAE-5; then the Gaussian likelihood
   with learned and fixed sigma, the mixture prior and the analytic KL, as
   each case's model line says), builds the same model, loads the same
   weights, runs vae_gradient on the same batch and noise, and compares the
   mean bound and the gradient of every parameter.

   The criterion, per gradient tensor g against the reference r:
       max_i |g_i - r_i| <= 1e-4 * max_i |r_i|
   a relative error of at most 1e-4 in the max-norm. golden.py makes every
   reference gradient tensor's max-norm > 1e-3 (and this test checks it is not
   zero), so the bound is meaningful: a wrong gradient — a sign, a missing
   term, a transposed weight, a factor of k — moves entries by a sizeable
   fraction of max |r| and fails by orders of magnitude, while float32
   arithmetic lands around 1e-6 (golden.txt records, per case, the error of a
   float32 PyTorch run). The bound must match to a relative 1e-4 as well.

   Run from the repository root (as make test does); an optional argument
   names another golden file. */
#include "../vae.c"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define GOLDEN_PATH "tests/ref/golden.txt"
#define TOL 1e-4

typedef struct {
    char name[64];
    int ndim;
    int shape[2]; /* shape[1] is 1 when ndim is 1 */
    size_t n;
    double *v;
} gtensor;

typedef struct {
    char act[32], obj[32];
    int k, D, Z, B, n_hidden, hidden[VAE_MAX_HIDDEN];
    char likelihood[32], sigma[32], prior[32], components[32], kl[32]; /* the model line */
    gtensor *t;
    int nt, cap;
    double bound;
    int have_bound;
} gcase;

/* ---- reading golden.txt ---- */

/* Next whitespace-separated token into buf; '#' starts a comment that runs to
   the end of the line. Returns 0 at end of file. */
static int next_token(FILE *f, char *buf, size_t size)
{
    int c;
    size_t n = 0;
    for (;;) {
        c = fgetc(f);
        if (c == EOF)
            return 0;
        if (c == '#') {
            while (c != '\n' && c != EOF)
                c = fgetc(f);
            continue;
        }
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
    }
    while (c != EOF && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
        if (n + 1 < size)
            buf[n++] = (char)c;
        c = fgetc(f);
    }
    buf[n] = '\0';
    return 1;
}

static int next_int(FILE *f, int *out)
{
    char tok[64], *end;
    long v;
    if (!next_token(f, tok, sizeof tok))
        return 0;
    v = strtol(tok, &end, 10);
    if (*end != '\0' || v < 0 || v > 1000000)
        return 0;
    *out = (int)v;
    return 1;
}

static int next_double(FILE *f, double *out)
{
    char tok[64], *end;
    if (!next_token(f, tok, sizeof tok))
        return 0;
    *out = strtod(tok, &end);
    return *end == '\0';
}

static void case_free(gcase *c)
{
    int i;
    for (i = 0; i < c->nt; i++)
        free(c->t[i].v);
    free(c->t);
    memset(c, 0, sizeof *c);
}

/* Reads one "case ... end" block. Returns 1 on a case, 0 at a clean end of
   file, -1 on a malformed file (with a message printed). */
static int read_case(FILE *f, gcase *c)
{
    char tok[64];
    int i;
    memset(c, 0, sizeof *c);
    if (!next_token(f, tok, sizeof tok))
        return 0;
    if (strcmp(tok, "case") != 0 || !next_token(f, c->act, sizeof c->act) ||
        !next_token(f, c->obj, sizeof c->obj) || !next_int(f, &c->k)) {
        printf("golden: expected 'case <act> <objective> <k>', got '%s'\n", tok);
        return -1;
    }
    if (!next_token(f, tok, sizeof tok) || strcmp(tok, "dims") != 0 || !next_int(f, &c->D) ||
        !next_int(f, &c->Z) || !next_int(f, &c->B) || !next_int(f, &c->n_hidden) ||
        c->n_hidden > VAE_MAX_HIDDEN) {
        printf("golden: bad dims line in case %s %s %d\n", c->act, c->obj, c->k);
        return -1;
    }
    for (i = 0; i < c->n_hidden; i++)
        if (!next_int(f, &c->hidden[i])) {
            printf("golden: bad hidden width\n");
            return -1;
        }
    strcpy(c->likelihood, "bernoulli");
    strcpy(c->sigma, "0");
    strcpy(c->prior, "normal");
    strcpy(c->components, "16");
    strcpy(c->kl, "mc");
    for (;;) {
        gtensor *t;
        size_t j;
        if (!next_token(f, tok, sizeof tok)) {
            printf("golden: file ends inside case %s %s %d\n", c->act, c->obj, c->k);
            goto fail;
        }
        if (strcmp(tok, "end") == 0)
            break;
        if (strcmp(tok, "model") == 0) {
            if (!next_token(f, c->likelihood, sizeof c->likelihood) || !next_token(f, c->sigma, sizeof c->sigma) ||
                !next_token(f, c->prior, sizeof c->prior) ||
                !next_token(f, c->components, sizeof c->components) || !next_token(f, c->kl, sizeof c->kl)) {
                printf("golden: bad model line\n");
                goto fail;
            }
            if (strcmp(c->components, "0") == 0) /* the normal prior's: the library's default stands */
                strcpy(c->components, "16");
            continue;
        }
        if (strcmp(tok, "scalar") == 0) {
            if (!next_token(f, tok, sizeof tok) || strcmp(tok, "bound") != 0 ||
                !next_double(f, &c->bound)) {
                printf("golden: bad scalar line\n");
                goto fail;
            }
            c->have_bound = 1;
            continue;
        }
        if (strcmp(tok, "tensor") != 0) {
            printf("golden: unexpected '%s'\n", tok);
            goto fail;
        }
        if (c->nt == c->cap) {
            int cap = c->cap ? 2 * c->cap : 32;
            gtensor *nt = (gtensor *)realloc(c->t, (size_t)cap * sizeof *nt);
            if (!nt) {
                printf("golden: out of memory\n");
                goto fail;
            }
            c->t = nt;
            c->cap = cap;
        }
        t = &c->t[c->nt];
        memset(t, 0, sizeof *t);
        t->shape[1] = 1;
        if (!next_token(f, t->name, sizeof t->name) || !next_int(f, &t->ndim) || t->ndim < 1 ||
            t->ndim > 2 || !next_int(f, &t->shape[0]) ||
            (t->ndim == 2 && !next_int(f, &t->shape[1]))) {
            printf("golden: bad tensor header\n");
            goto fail;
        }
        t->n = (size_t)t->shape[0] * (size_t)t->shape[1];
        t->v = (double *)malloc((t->n ? t->n : 1) * sizeof *t->v);
        if (!t->v) {
            printf("golden: out of memory\n");
            goto fail;
        }
        c->nt++;
        for (j = 0; j < t->n; j++)
            if (!next_double(f, &t->v[j])) {
                printf("golden: tensor %s: bad or missing value %lu\n", t->name, (unsigned long)j);
                goto fail;
            }
    }
    if (!c->have_bound) {
        printf("golden: case %s %s %d has no bound\n", c->act, c->obj, c->k);
        goto fail;
    }
    return 1;
fail:
    case_free(c);
    return -1;
}

static const gtensor *find(const gcase *c, const char *name)
{
    int i;
    for (i = 0; i < c->nt; i++)
        if (strcmp(c->t[i].name, name) == 0)
            return &c->t[i];
    return NULL;
}

/* A parameter is every tensor but the inputs and the gradients. */
static int is_param(const gtensor *t)
{
    return strcmp(t->name, "x") != 0 && strcmp(t->name, "eps") != 0 &&
           strncmp(t->name, "grad.", 5) != 0;
}

static float *to_float(const gtensor *t)
{
    float *p = (float *)malloc((t->n ? t->n : 1) * sizeof *p);
    size_t i;
    if (p)
        for (i = 0; i < t->n; i++)
            p[i] = (float)t->v[i];
    return p;
}

/* Compares the bound and every gradient of m with case c. With checks set,
   each comparison is a CHECK (a line per failure); without, nothing is
   counted. Returns the worst relative error (inf when a gradient could not be
   read), its tensor's name in *worst_name. */
static double compare(vae *m, const gcase *c, const char *label, float bound, int checks,
                      const char **worst_name)
{
    double worst, rel;
    int i;
    float *buf;
    size_t maxn = 1;

    rel = fabs((double)bound - c->bound) / fabs(c->bound);
    worst = rel;
    *worst_name = "bound";
    if (checks)
        CHECK(rel <= TOL, "%s: bound %.9g, PyTorch %.9g (relative error %.3g)", label, bound,
              c->bound, rel);

    for (i = 0; i < c->nt; i++)
        if (c->t[i].n > maxn)
            maxn = c->t[i].n;
    buf = (float *)malloc(maxn * sizeof *buf);
    CHECK(buf != NULL, "%s: out of memory", label);
    if (!buf) /* counted even without checks: it ends the comparison */
        return HUGE_VAL;

    for (i = 0; i < c->nt; i++) {
        const gtensor *g = &c->t[i], *p;
        double maxdiff = 0.0, maxref = 0.0;
        size_t j, worst_j = 0;
        vae_status st;
        if (strncmp(g->name, "grad.", 5) != 0)
            continue;
        p = find(c, g->name + 5);
        if (checks)
            CHECK(p && is_param(p) && p->n == g->n, "%s: %s matches no parameter", label,
                  g->name);
        if (!p || !is_param(p) || p->n != g->n)
            continue;
        st = vae_get_gradient(m, p->name, buf, g->n);
        if (checks)
            CHECK(st == VAE_OK, "%s: vae_get_gradient(%s): %s", label, p->name, vae_error(m));
        if (st != VAE_OK) {
            worst = HUGE_VAL;
            continue;
        }
        for (j = 0; j < g->n; j++) {
            double d = fabs((double)buf[j] - g->v[j]);
            if (!(d <= maxdiff)) { /* written so that a NaN is kept */
                maxdiff = d;
                worst_j = j;
            }
            if (fabs(g->v[j]) > maxref)
                maxref = fabs(g->v[j]);
        }
        /* Guard: against an all-zero reference any gradient would pass. */
        if (checks)
            CHECK(maxref > 1e-6, "%s: reference %s is all zero", label, g->name);
        rel = maxdiff / (maxref > 1e-6 ? maxref : 1e-6);
        if (!(rel <= worst)) {
            worst = rel;
            *worst_name = p->name;
        }
        if (checks)
            CHECK(rel <= TOL,
                  "%s: gradient of %s: max |g - ref| / max |ref| = %.3g (element %lu: %.9g vs %.9g)",
                  label, p->name, rel, (unsigned long)worst_j, buf[worst_j], g->v[worst_j]);
    }
    free(buf);
    return worst;
}

/* ---- one case ---- */

static void run_case(const gcase *c)
{
    vae_config cfg;
    vae *m = NULL;
    vae_status st;
    const gtensor *gx = find(c, "x"), *geps = find(c, "eps");
    float *x = NULL, *eps = NULL, *buf = NULL, *buf2 = NULL;
    float bound = 0.0f, bound2 = 0.0f;
    char label[128];
    double worst;
    const char *worst_name = "bound";
    int i, n_params = 0, count, *seen = NULL;
    size_t maxn = 1;

    snprintf(label, sizeof label, "%s %s k=%d", c->act, c->obj, c->k);
    CHECK(gx && geps, "%s: golden case lacks x or eps", label);
    if (!gx || !geps)
        return;
    CHECK(gx->n == (size_t)c->B * (size_t)c->D && geps->n == (size_t)c->B * c->k * c->Z,
          "%s: x or eps has the wrong size", label);
    if (gx->n != (size_t)c->B * (size_t)c->D || geps->n != (size_t)c->B * c->k * c->Z)
        return;

    vae_config_init(&cfg);
    cfg.input_dim = c->D;
    cfg.latent_dim = c->Z;
    cfg.n_hidden = c->n_hidden;
    for (i = 0; i < c->n_hidden; i++)
        cfg.hidden[i] = c->hidden[i];
    if (strcmp(c->act, "tanh") == 0)
        cfg.activation = VAE_TANH;
    else if (strcmp(c->act, "relu") == 0)
        cfg.activation = VAE_RELU;
    else if (strcmp(c->act, "leaky_relu") == 0)
        cfg.activation = VAE_LEAKY_RELU;
    else {
        CHECK(0, "%s: unknown activation", label);
        return;
    }
    if (strcmp(c->obj, "elbo") == 0)
        cfg.objective = VAE_ELBO;
    else if (strcmp(c->obj, "iwae") == 0)
        cfg.objective = VAE_IWAE;
    else {
        CHECK(0, "%s: unknown objective", label);
        return;
    }
    cfg.k = c->k;
    cfg.max_batch = c->B;
    {
        /* the model line's words are the configuration's own */
        const char *keys[5] = {"likelihood", "sigma", "prior", "components", "kl"};
        const char *values[5];
        char why[160];
        values[0] = c->likelihood;
        values[1] = c->sigma;
        values[2] = c->prior;
        values[3] = c->components;
        values[4] = c->kl;
        for (i = 0; i < 5; i++) {
            st = vae_config_set(&cfg, keys[i], values[i], why, sizeof why);
            CHECK(st == VAE_OK, "%s: %s %s", label, keys[i], why);
            if (st != VAE_OK)
                return;
        }
        if (strcmp(c->likelihood, "bernoulli") != 0 || strcmp(c->prior, "normal") != 0 || strcmp(c->kl, "mc") != 0)
            snprintf(label, sizeof label, "%s %s k=%d %s/%s/%s", c->act, c->obj, c->k, c->likelihood, c->prior,
                     c->kl);
    }

    st = vae_create(&m, &cfg, NULL);
    CHECK(st == VAE_OK && m, "%s: vae_create: %s", label, vae_error(m));
    if (st != VAE_OK || !m)
        goto free_model;

    for (i = 0; i < c->nt; i++) {
        if (is_param(&c->t[i]))
            n_params++;
        if (c->t[i].n > maxn)
            maxn = c->t[i].n;
    }
    buf = (float *)malloc(maxn * sizeof *buf);
    buf2 = (float *)malloc(maxn * sizeof *buf2);
    seen = (int *)calloc((size_t)c->nt, sizeof *seen);
    x = to_float(gx);
    eps = to_float(geps);
    CHECK(buf && buf2 && seen && x && eps, "%s: out of memory", label);
    if (!buf || !buf2 || !seen || !x || !eps)
        goto free_buffers;

    /* The model's tensor table lists exactly the golden file's parameters,
       with their shapes. */
    count = vae_tensor_count(m);
    CHECK(count == n_params, "%s: vae_tensor_count %d, golden file has %d parameters", label,
          count, n_params);
    for (i = 0; i < count; i++) {
        const char *name = NULL;
        int ndim = 0, shape[VAE_MAX_DIMS] = {0, 0, 0, 0};
        const gtensor *t;
        st = vae_tensor_info(m, i, &name, &ndim, shape);
        CHECK(st == VAE_OK && name, "%s: vae_tensor_info(%d): %s", label, i, vae_error(m));
        if (st != VAE_OK || !name)
            continue;
        t = find(c, name);
        CHECK(t && is_param(t), "%s: model tensor %s is not in the golden file", label, name);
        if (!t || !is_param(t))
            continue;
        seen[t - c->t]++;
        CHECK(ndim == t->ndim && shape[0] == t->shape[0] && shape[1] == t->shape[1],
              "%s: %s has shape %d (%d, %d), golden %d (%d, %d)", label, name, ndim, shape[0],
              shape[1], t->ndim, t->shape[0], t->shape[1]);
    }
    for (i = 0; i < c->nt; i++)
        if (is_param(&c->t[i]))
            CHECK(seen[i] == 1, "%s: golden parameter %s listed %d times by the model", label,
                  c->t[i].name, seen[i]);

    /* Load the reference weights; reading them back gives them exactly. */
    for (i = 0; i < c->nt; i++) {
        const gtensor *t = &c->t[i];
        size_t j;
        int same = 1;
        if (!is_param(t))
            continue;
        for (j = 0; j < t->n; j++)
            buf[j] = (float)t->v[j];
        st = vae_set_tensor(m, t->name, buf, t->n);
        CHECK(st == VAE_OK, "%s: vae_set_tensor(%s): %s", label, t->name, vae_error(m));
        st = vae_get_tensor(m, t->name, buf2, t->n);
        CHECK(st == VAE_OK, "%s: vae_get_tensor(%s): %s", label, t->name, vae_error(m));
        for (j = 0; j < t->n; j++)
            same &= buf2[j] == buf[j];
        CHECK(same, "%s: %s does not read back as written", label, t->name);
    }

    st = vae_gradient(m, x, c->B, eps, &bound);
    CHECK(st == VAE_OK, "%s: vae_gradient: %s", label, vae_error(m));
    if (st != VAE_OK)
        goto free_buffers;

    worst = compare(m, c, label, bound, 1, &worst_name);

    /* A second call matches PyTorch again: gradients are the batch's, not
       accumulated over calls (checked only when the first call matched). */
    if (worst <= TOL) {
        st = vae_gradient(m, x, c->B, eps, &bound2);
        CHECK(st == VAE_OK, "%s: second vae_gradient: %s", label, vae_error(m));
        if (st == VAE_OK) {
            const char *name2 = "bound";
            double worst2 = compare(m, c, label, bound2, 0, &name2);
            CHECK(worst2 <= TOL,
                  "%s: a second vae_gradient call no longer matches (accumulated?): relative "
                  "error %.3g in %s", label, worst2, name2);
        }
    }

    printf("%-28s bound %.7f (PyTorch %.7f)  worst relative error %.2e (%s)\n", label, bound,
           c->bound, worst, worst_name);

free_buffers:
    free(seen);
    free(buf2);
    free(buf);
    free(eps);
    free(x);
free_model:
    vae_free(m);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : GOLDEN_PATH;
    FILE *f = fopen(path, "r");
    gcase c;
    int r, n_cases = 0;

    CHECK(f != NULL, "cannot open %s (run from the repository root; tests/ref/golden.py writes it)",
          path);
    if (!f)
        return check_summary();
    while ((r = read_case(f, &c)) == 1) {
        run_case(&c);
        case_free(&c);
        n_cases++;
    }
    fclose(f);
    CHECK(r == 0, "%s is malformed", path);
    CHECK(n_cases == 17, "%s has %d cases, expected 17", path, n_cases);
    return check_summary();
}
