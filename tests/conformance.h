/* conformance.h — every op of a vae backend against a plain-C reference.

   conformance(be, params) runs each operation of vae_backend.h on awkward
   sizes (1, odd, just over and under the CPU's vector widths and tile
   sizes) and compares what comes back with a straightforward double
   precision computation of what vae_backend.h says the op does. It takes
   any backend: test_backend.c runs it on the CPU one, and the OpenCL test
   on the GPU one. Needs check.h (CHECK) and rng.h. */
#ifndef VAE_CONFORMANCE_H
#define VAE_CONFORMANCE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../rng.h"
#include "../vae_backend.h"
#include "check.h"

#define CONF_FLOATS ((size_t)1 << 21)

/* Every slot of vae_backend.h, from its own list: each call goes through
   CONF_CALL, which marks the slot, and conformance() fails for a slot no
   case called, so that a new op cannot go without a case. */
#define CONF_OP_ENUM(slot) CONF_OP_##slot,
#define CONF_OP_NAME(slot) #slot,
enum { VAE_BACKEND_OPS(CONF_OP_ENUM) CONF_OPS };
static const char *const conf_op_names[CONF_OPS] = {VAE_BACKEND_OPS(CONF_OP_NAME)};
#define CONF_CALL(c, slot, ...) ((c)->called[CONF_OP_##slot] = 1, (c)->be->slot(__VA_ARGS__))

typedef struct {
    const vae_backend *be;
    void *dev;
    size_t next, align; /* bump allocation, in floats */
    vae_rng rng;
    const char *op;     /* for messages */
    double worst;       /* worst relative error seen in the current op */
    unsigned char called[CONF_OPS];
} conf;

/* An aligned region of n floats, or VAE_NO_REF when the block is full. */
static vae_ref conf_take(conf *c, size_t n)
{
    vae_ref r = c->next;
    if (n > CONF_FLOATS - c->next)
        return VAE_NO_REF;
    c->next = (c->next + n + c->align - 1) / c->align * c->align;
    return r;
}

static void conf_fill(conf *c, float *p, size_t n, double lo, double hi)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = (float)(lo + (hi - lo) * vae_rng_uniform(&c->rng));
}

/* Host values to a fresh region of the device. */
static vae_ref conf_put(conf *c, const float *p, size_t n)
{
    vae_ref r = conf_take(c, n);
    CHECK(r != VAE_NO_REF, "%s: conformance block full", c->op);
    if (r != VAE_NO_REF)
        CHECK(CONF_CALL(c, write, c->dev, r, p, n) == VAE_OK, "%s: write failed", c->op);
    return r;
}

static float *conf_get(conf *c, vae_ref r, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p && CONF_CALL(c, read, c->dev, r, p, n) != VAE_OK) {
        CHECK(0, "%s: read failed", c->op);
        memset(p, 0, n * sizeof *p);
    }
    return p;
}

/* got against want (n values), each within tol of it, relative to
   max(1, |want|); records the worst error. */
static void conf_compare(conf *c, const char *what, const float *got, const double *want, size_t n, double tol)
{
    size_t i, bad = 0, first = 0;
    for (i = 0; i < n; i++) {
        double s = fabs(want[i]) > 1.0 ? fabs(want[i]) : 1.0, e = fabs(got[i] - want[i]) / s;
        if (!(e <= tol)) { /* NaN counts as bad */
            if (!bad)
                first = i;
            bad++;
        }
        if (e > c->worst)
            c->worst = e;
    }
    CHECK(bad == 0, "%s: %s: %lu of %lu values off (first at %lu: %.9g, want %.9g)", c->op, what,
          (unsigned long)bad, (unsigned long)n, (unsigned long)first, bad ? got[first] : 0.0,
          bad ? want[first] : 0.0);
}

static double *conf_doubles(size_t n)
{
    return calloc(n ? n : 1, sizeof(double));
}

/* ---- memory ---- */

static void conf_memory(conf *c)
{
    enum { N = 1000 };
    float in[N], *out;
    vae_ref r;
    int i, same = 1, zero = 1;
    c->op = "write/read/zero";
    conf_fill(c, in, N, -5, 5);
    r = conf_put(c, in, N);
    CHECK(r % c->align == 0, "%s: region not aligned", c->op);
    out = conf_get(c, r, N);
    for (i = 0; i < N; i++)
        same &= out[i] == in[i];
    CHECK(same, "%s: values do not read back exactly", c->op);
    free(out);
    CHECK(CONF_CALL(c, zero, c->dev, r + 3, 500) == VAE_OK, "%s: zero failed", c->op);
    out = conf_get(c, r, N);
    for (i = 0; i < N; i++)
        zero &= (i >= 3 && i < 503) ? out[i] == 0.0f : out[i] == in[i];
    CHECK(zero, "%s: zero cleared the wrong range", c->op);
    free(out);
}

/* ---- layers ---- */

static double conf_act(int act, double v);

/* One product against a double reference: c only written, its padding
   kept; with epilogue, a bias and tanh after it. The tolerance is the
   float sum's error bound, k 2^-24 sum |a||b|, with |a|, |b| <= 1. */
static void conf_gemm_case(conf *c, int ta, int tb, int m, int n, int k, int epilogue, int accumulate)
{
    int i, j, p;
    int lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
    size_t na = (size_t)(ta ? k : m) * lda, nb = (size_t)(tb ? n : k) * ldb;
    size_t nc = (size_t)m * ldc, mark = c->next;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *cc, *nan = malloc(nc * 4), bias[800];
    double *want = conf_doubles(nc), tol = 1e-5 * sqrt((double)k + 1) + (double)k * 0x1p-24;
    vae_ref ra, rb, rc, rbias;
    conf_fill(c, a, na, -1, 1);
    conf_fill(c, b, nb, -1, 1);
    conf_fill(c, bias, (size_t)n, -1, 1);
    for (i = 0; i < (int)nc; i++) /* c is written, never read, unless accumulated into */
        nan[i] = accumulate && i % ldc < n ? (float)(vae_rng_uniform(&c->rng) - 0.5) : NAN;
    ra = conf_put(c, a, na);
    rb = conf_put(c, b, nb);
    rc = conf_put(c, nan, nc);
    rbias = conf_put(c, bias, (size_t)n);
    CHECK(CONF_CALL(c, gemm, c->dev, ta, tb, m, n, k, ra, lda, rb, ldb, rc, ldc, epilogue ? rbias : VAE_NO_REF,
                    epilogue ? VAE_TANH : VAE_ACT_NONE, accumulate) == VAE_OK,
          "gemm failed");
    cc = conf_get(c, rc, nc);
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) {
            double s = 0.0;
            for (p = 0; p < k; p++)
                s += (double)(ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]) *
                     (tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j]);
            if (accumulate)
                s += nan[(size_t)i * ldc + j];
            want[(size_t)i * ldc + j] = epilogue ? conf_act(VAE_TANH, s + bias[j]) : s;
        }
    for (i = 0; i < m; i++) {
        char what[80];
        snprintf(what, sizeof what, "ta=%d tb=%d %dx%dx%d%s row %d", ta, tb, m, n, k,
                 epilogue ? " +bias tanh" : accumulate ? " accumulated" : "", i);
        conf_compare(c, what, cc + (size_t)i * ldc, want + (size_t)i * ldc, (size_t)n, tol);
    }
    for (i = 0; i < m; i++)
        for (j = n; j < ldc; j++)
            CHECK(isnan(cc[(size_t)i * ldc + j]), "%s: ta=%d tb=%d %dx%dx%d wrote past n", c->op, ta, tb, m, n, k);
    c->next = mark;
    free(a);
    free(b);
    free(cc);
    free(nan);
    free(want);
}

static void conf_gemm(conf *c)
{
    static const int sizes[] = {1, 3, 17, 33, 65};
    /* the reference model's products, in the transposes it uses: forward
       NT, the input's gradient NN, the weights' TN with the batch as k */
    static const int model[][5] = {
        {0, 1, 20, 200, 784}, {0, 1, 1000, 784, 200}, {0, 0, 1000, 200, 784},
        {1, 0, 784, 200, 1000}, {1, 0, 200, 784, 20}, {1, 0, 100, 200, 20},
    };
    int ta, tb, im, in, ik, i;
    c->op = "gemm";
    for (ta = 0; ta < 2; ta++)
        for (tb = 0; tb < 2; tb++)
            for (im = 0; im < 5; im++)
                for (in = 0; in < 5; in++)
                    for (ik = 0; ik < 5; ik++)
                        conf_gemm_case(c, ta, tb, sizes[im], sizes[in], sizes[ik], (im + in + ik) % 4 == 0,
                                       (im + in + ik) % 4 == 2);
    for (i = 0; i < (int)(sizeof model / sizeof model[0]); i++)
        conf_gemm_case(c, model[i][0], model[i][1], model[i][2], model[i][3], model[i][4], i == 0, i == 3);
}

static double conf_act(int act, double v)
{
    switch (act) {
    case VAE_TANH: return tanh(v);
    case VAE_RELU: return v > 0 ? v : 0;
    case VAE_LEAKY_RELU: return v > 0 ? v : 0.01 * v;
    case VAE_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    default: return v;
    }
}

/* the derivative, given the output y */
static double conf_act_slope(int act, double y)
{
    switch (act) {
    case VAE_TANH: return 1.0 - y * y;
    case VAE_RELU: return y > 0 ? 1.0 : 0.0;
    case VAE_LEAKY_RELU: return y > 0 ? 1.0 : 0.01;
    case VAE_ACT_SIGMOID: return y * (1.0 - y);
    default: return 1.0;
    }
}

static void conf_activations(conf *c)
{
    static const int acts[] = {VAE_TANH, VAE_RELU, VAE_LEAKY_RELU, VAE_ACT_NONE, VAE_ACT_SIGMOID};
    static const int rows_[] = {1, 7, 33}, cols_[] = {1, 5, 70};
    int a, ir, ic, scaled;
    for (a = 0; a < 5; a++)
        for (ir = 0; ir < 3; ir++)
            for (ic = 0; ic < 3; ic++)
                for (scaled = 0; scaled < 3; scaled++) {
                    int rows = rows_[ir], cols = cols_[ic], r, j, act = acts[a];
                    /* scaled 2: one scale per group of rows, as for a conv's pixels */
                    int group = scaled == 2 ? (rows % 3 == 0 ? 3 : rows) : 1;
                    size_t n = (size_t)rows * cols, mark = c->next;
                    float *y = malloc(n * 4), *bias = malloc((size_t)cols * 4), *dy = malloc(n * 4);
                    float *scale = malloc((size_t)rows * 4), *eye = calloc((size_t)cols * cols, 4), *got, *gotd,
                          *gotb;
                    double *want = conf_doubles(n), *wantd = conf_doubles(n), *wantb = conf_doubles((size_t)cols);
                    vae_ref rx, ry, rb, rd, rs, rdb, reye;
                    char what[64];
                    conf_fill(c, y, n, -3, 3);
                    conf_fill(c, bias, (size_t)cols, -1, 1);
                    conf_fill(c, dy, n, -1, 1);
                    conf_fill(c, scale, (size_t)rows, 0, 2);
                    for (j = 0; j < cols; j++)
                        eye[j * cols + j] = 1.0f;
                    rx = conf_put(c, y, n);
                    ry = conf_take(c, n);
                    reye = conf_put(c, eye, (size_t)cols * cols);
                    rb = conf_put(c, bias, (size_t)cols);
                    rd = conf_put(c, dy, n);
                    rs = conf_put(c, scale, (size_t)rows);
                    rdb = conf_take(c, (size_t)cols);
                    /* y times the identity is y exactly: the epilogue alone */
                    c->op = "gemm's bias and activation";
                    CHECK(CONF_CALL(c, gemm, c->dev, 0, 0, rows, cols, cols, rx, cols, reye, cols, ry, cols, rb, act, 0) ==
                              VAE_OK,
                          "gemm failed");
                    got = conf_get(c, ry, n);
                    for (r = 0; r < rows; r++)
                        for (j = 0; j < cols; j++)
                            want[r * cols + j] = conf_act(act, (double)y[r * cols + j] + bias[j]);
                    snprintf(what, sizeof what, "act %d, %dx%d", act, rows, cols);
                    conf_compare(c, what, got, want, n, 2e-6);
                    c->op = "act_backward";
                    CHECK(CONF_CALL(c, act_backward, c->dev, rd, ry, scaled ? rs : VAE_NO_REF, rdb, rows, cols, act,
                                    group) ==
                              VAE_OK,
                          "act_backward failed");
                    gotd = conf_get(c, rd, n);
                    gotb = conf_get(c, rdb, (size_t)cols);
                    for (r = 0; r < rows; r++)
                        for (j = 0; j < cols; j++) {
                            double v = dy[r * cols + j] * conf_act_slope(act, got[r * cols + j]) *
                                       (scaled ? scale[r / group] : 1.0);
                            wantd[r * cols + j] = v;
                            wantb[j] += v;
                        }
                    snprintf(what, sizeof what, "act %d, %dx%d, scaled %d", act, rows, cols, scaled);
                    conf_compare(c, what, gotd, wantd, n, 1e-6);
                    conf_compare(c, what, gotb, wantb, (size_t)cols, 1e-5);
                    c->next = mark;
                    free(y), free(bias), free(dy), free(scale), free(eye), free(got), free(gotd), free(gotb);
                    free(want), free(wantd), free(wantb);
                }
}

/* ---- convolution ---- */

/* The window entry (row, col) of im2col for geometry g: the image element
   it copies, or -1 for padding. */
static long conf_window(const vae_conv_geom *g, long row, int col)
{
    int ch = col % g->c, kx = col / g->c % g->k, ky = col / g->c / g->k;
    int ox = (int)(row % g->ow), oy = (int)(row / g->ow % g->oh), b = (int)(row / g->ow / g->oh);
    int y = oy * g->stride - g->pad + ky, x = ox * g->stride - g->pad + kx;
    return y < 0 || y >= g->h || x < 0 || x >= g->w ? -1 : (((long)b * g->h + y) * g->w + x) * g->c + ch;
}

/* im2col against the definition, and col2im against its adjoint summed
   by scattering (as a reference would), with a bias and activation on
   some: odd sizes, kernels 1 to 7, strides 1 to 3, padding 0 to 2 (pad
   % stride != 0 included: the case that broke CMSIS-NN's transposed
   convolution), and channels 1, 3 and 5. */
static void conf_conv(conf *c)
{
    static const int cases[][7] = {
        /* n, h, w, c, k, stride, pad */
        {2, 7, 5, 1, 3, 1, 0}, {1, 9, 9, 3, 4, 2, 1}, {3, 8, 11, 5, 7, 3, 2}, {2, 6, 6, 3, 1, 1, 0},
        {1, 13, 7, 1, 5, 2, 2}, {2, 5, 5, 5, 3, 3, 1}, {1, 10, 10, 3, 4, 2, 0}, {2, 4, 9, 1, 2, 1, 1},
        {1, 28, 28, 1, 5, 1, 0}, {1, 14, 14, 32, 3, 2, 1},
    };
    int t;
    c->op = "im2col/col2im";
    for (t = 0; t < (int)(sizeof cases / sizeof cases[0]); t++) {
        vae_conv_geom g;
        int n = cases[t][0], width, act = t % 3 == 1 ? VAE_RELU : t % 3 == 2 ? VAE_TANH : VAE_ACT_NONE;
        size_t ni, nc, mark = c->next, e;
        float *img, *col, *bias, *got, *got2;
        double *want, *want2;
        vae_ref rimg, rcol, rbias, rout;
        long row;
        char what[96];
        g.h = cases[t][1];
        g.w = cases[t][2];
        g.c = cases[t][3];
        g.k = cases[t][4];
        g.stride = cases[t][5];
        g.pad = cases[t][6];
        g.oh = (g.h + 2 * g.pad - g.k) / g.stride + 1;
        g.ow = (g.w + 2 * g.pad - g.k) / g.stride + 1;
        width = g.k * g.k * g.c;
        ni = (size_t)n * g.h * g.w * g.c;
        nc = (size_t)n * g.oh * g.ow * width;
        img = malloc(ni * 4), col = malloc(nc * 4), bias = malloc((size_t)g.c * 4);
        want = conf_doubles(nc), want2 = conf_doubles(ni);
        conf_fill(c, img, ni, -1, 1);
        conf_fill(c, col, nc, -1, 1);
        conf_fill(c, bias, (size_t)g.c, -1, 1);
        rimg = conf_put(c, img, ni);
        rcol = conf_take(c, nc);
        rbias = conf_put(c, bias, (size_t)g.c);
        rout = conf_take(c, ni);
        CHECK(CONF_CALL(c, im2col, c->dev, rimg, rcol, n, &g) == VAE_OK, "im2col failed");
        got = conf_get(c, rcol, nc);
        for (row = 0; row < (long)n * g.oh * g.ow; row++)
            for (e = 0; e < (size_t)width; e++) {
                long at = conf_window(&g, row, (int)e);
                want[(size_t)row * width + e] = at < 0 ? 0.0 : img[at];
            }
        snprintf(what, sizeof what, "im2col n=%d %dx%dx%d k=%d s=%d p=%d", n, g.h, g.w, g.c, g.k, g.stride, g.pad);
        conf_compare(c, what, got, want, nc, 0.0);
        /* col2im of fresh windows, into the images */
        CHECK(c->be->write(c->dev, rcol, col, nc) == VAE_OK, "write failed");
        CHECK(CONF_CALL(c, col2im, c->dev, rcol, rout, act == VAE_ACT_NONE && t % 2 ? VAE_NO_REF : rbias, act, n, &g) ==
                  VAE_OK,
              "col2im failed");
        got2 = conf_get(c, rout, ni);
        for (row = 0; row < (long)n * g.oh * g.ow; row++)
            for (e = 0; e < (size_t)width; e++) {
                long at = conf_window(&g, row, (int)e);
                if (at >= 0)
                    want2[at] += col[(size_t)row * width + e];
            }
        for (e = 0; e < ni; e++)
            want2[e] = conf_act(act, want2[e] + (act == VAE_ACT_NONE && t % 2 ? 0.0 : bias[e % (size_t)g.c]));
        snprintf(what, sizeof what, "col2im n=%d %dx%dx%d k=%d s=%d p=%d act %d", n, g.h, g.w, g.c, g.k, g.stride,
                 g.pad, act);
        conf_compare(c, what, got2, want2, ni, 1e-6 * g.k * g.k);
        c->next = mark;
        free(img), free(col), free(bias), free(got), free(got2), free(want), free(want2);
    }
}

/* ---- latent variables ---- */

static void conf_reparam(conf *c)
{
    static const int ns[] = {1, 3, 7}, ks[] = {1, 3, 5}, zs[] = {1, 3, 17};
    int in, ik, iz, weighted;
    for (in = 0; in < 3; in++)
        for (ik = 0; ik < 3; ik++)
            for (iz = 0; iz < 3; iz++)
                for (weighted = 0; weighted < 2; weighted++) {
                    int n = ns[in], k = ks[ik], Z = zs[iz], R = n * k, b, i, j;
                    size_t mark = c->next;
                    float *st = malloc((size_t)n * 2 * Z * 4), *eps = malloc((size_t)R * Z * 4);
                    float *dz = malloc((size_t)R * Z * 4), *w = malloc((size_t)R * 4);
                    float *gstd, *gz, *glpq, *gds;
                    double *wstd = conf_doubles((size_t)n * Z), *wz = conf_doubles((size_t)R * Z);
                    double *wlpq = conf_doubles((size_t)R), *wds = conf_doubles((size_t)n * 2 * Z);
                    vae_ref rst, reps, rstd, rz, rlpq, rdz, rw, rds;
                    char what[64];
                    conf_fill(c, st, (size_t)n * 2 * Z, -1.5, 1.5);
                    conf_fill(c, eps, (size_t)R * Z, -2, 2);
                    conf_fill(c, dz, (size_t)R * Z, -1, 1);
                    conf_fill(c, w, (size_t)R, 0, 1);
                    rst = conf_put(c, st, (size_t)n * 2 * Z);
                    reps = conf_put(c, eps, (size_t)R * Z);
                    rdz = conf_put(c, dz, (size_t)R * Z);
                    rw = conf_put(c, w, (size_t)R);
                    rstd = conf_take(c, (size_t)n * Z);
                    rz = conf_take(c, (size_t)R * Z);
                    rlpq = conf_take(c, (size_t)R);
                    rds = conf_take(c, (size_t)n * 2 * Z);
                    c->op = "reparam";
                    CHECK(CONF_CALL(c, reparam, c->dev, rst, reps, rstd, rz, rlpq, n, k, Z) == VAE_OK, "reparam failed");
                    gstd = conf_get(c, rstd, (size_t)n * Z);
                    gz = conf_get(c, rz, (size_t)R * Z);
                    glpq = conf_get(c, rlpq, (size_t)R);
                    for (b = 0; b < n; b++)
                        for (j = 0; j < Z; j++)
                            wstd[b * Z + j] = exp(0.5 * st[b * 2 * Z + Z + j]);
                    for (b = 0; b < n; b++)
                        for (i = 0; i < k; i++) {
                            int r = b * k + i;
                            for (j = 0; j < Z; j++) {
                                double mu = st[b * 2 * Z + j], lv = st[b * 2 * Z + Z + j], e = eps[r * Z + j];
                                double z = mu + exp(0.5 * lv) * e;
                                wz[r * Z + j] = z;
                                /* log N(z; 0, 1) - log N(z; mu, exp(lv)), the 2 pi cancelling */
                                wlpq[r] += -0.5 * z * z + 0.5 * (z - mu) * (z - mu) / exp(lv) + 0.5 * lv;
                            }
                        }
                    snprintf(what, sizeof what, "n=%d k=%d Z=%d", n, k, Z);
                    conf_compare(c, what, gstd, wstd, (size_t)n * Z, 1e-6);
                    conf_compare(c, what, gz, wz, (size_t)R * Z, 1e-6);
                    conf_compare(c, what, glpq, wlpq, (size_t)R, 1e-5);
                    c->op = "reparam_backward";
                    CHECK(CONF_CALL(c, reparam_backward, c->dev, rdz, rz, reps, rstd, weighted ? rw : VAE_NO_REF, rds, n, k,
                                                  Z) == VAE_OK,
                          "reparam_backward failed");
                    gds = conf_get(c, rds, (size_t)n * 2 * Z);
                    for (b = 0; b < n; b++)
                        for (i = 0; i < k; i++) {
                            int r = b * k + i;
                            for (j = 0; j < Z; j++) {
                                double wr = weighted ? w[r] : 0.0, g = dz[r * Z + j] + wr * wz[r * Z + j];
                                wds[b * 2 * Z + j] += g;
                                wds[b * 2 * Z + Z + j] += 0.5 * (g * wstd[b * Z + j] * eps[r * Z + j] - wr);
                            }
                        }
                    snprintf(what, sizeof what, "n=%d k=%d Z=%d weighted %d", n, k, Z, weighted);
                    conf_compare(c, what, gds, wds, (size_t)n * 2 * Z, 1e-5);
                    c->next = mark;
                    free(st), free(eps), free(dz), free(w), free(gstd), free(gz), free(glpq), free(gds);
                    free(wstd), free(wz), free(wlpq), free(wds);
                }
}

static void conf_mog(conf *c)
{
    static const int rs_[] = {1, 5, 13}, zs[] = {1, 3, 18}, ks[] = {1, 3, 7};
    int ir, iz, ik;
    for (ir = 0; ir < 3; ir++)
        for (iz = 0; iz < 3; iz++)
            for (ik = 0; ik < 3; ik++) {
                int R = rs_[ir], Z = zs[iz], K = ks[ik], r, q, j;
                size_t KZ = (size_t)K * Z, mark = c->next;
                float *z = malloc((size_t)R * Z * 4), *mean = malloc(KZ * 4), *lv = malloc(KZ * 4);
                float *logit = malloc((size_t)K * 4), *lpq = malloc((size_t)R * 4), *w = malloc((size_t)R * 4);
                float *dz = malloc((size_t)R * Z * 4), *glpq, *gdz, *gdm, *gdl, *gdg;
                double *wlpq = conf_doubles((size_t)R), *wdz = conf_doubles((size_t)R * Z);
                double *wdm = conf_doubles(KZ), *wdl = conf_doubles(KZ), *wdg = conf_doubles((size_t)K);
                double *a = conf_doubles((size_t)K), *pi = conf_doubles((size_t)K), ls = 0.0, mx;
                vae_ref rz, rm, rl, rg, rc, rresp, rlpq, rw, rdz, rdm, rdl, rdg;
                char what[64];
                conf_fill(c, z, (size_t)R * Z, -2, 2);
                conf_fill(c, mean, KZ, -1.5, 1.5);
                conf_fill(c, lv, KZ, -1, 1);
                conf_fill(c, logit, (size_t)K, -1, 1);
                conf_fill(c, lpq, (size_t)R, -3, 3);
                conf_fill(c, w, (size_t)R, 0, 1);
                conf_fill(c, dz, (size_t)R * Z, -1, 1);
                rz = conf_put(c, z, (size_t)R * Z);
                rm = conf_put(c, mean, KZ);
                rl = conf_put(c, lv, KZ);
                rg = conf_put(c, logit, (size_t)K);
                rlpq = conf_put(c, lpq, (size_t)R);
                rw = conf_put(c, w, (size_t)R);
                rdz = conf_put(c, dz, (size_t)R * Z);
                rc = conf_take(c, (size_t)K * (Z + 1));
                rresp = conf_take(c, (size_t)R * K);
                rdm = conf_take(c, KZ);
                rdl = conf_take(c, KZ);
                rdg = conf_take(c, (size_t)K);
                c->op = "mog_log_prob";
                CHECK(CONF_CALL(c, mog_log_prob, c->dev, rz, rm, rl, rg, rc, rresp, rlpq, R, Z, K) == VAE_OK, "mog failed");
                c->op = "mog_backward";
                CHECK(CONF_CALL(c, mog_backward, c->dev, rz, rm, rc, rresp, rw, rdz, rdm, rdl, rdg, R, Z, K) == VAE_OK,
                      "mog_backward failed");
                glpq = conf_get(c, rlpq, (size_t)R);
                gdz = conf_get(c, rdz, (size_t)R * Z);
                gdm = conf_get(c, rdm, KZ);
                gdl = conf_get(c, rdl, KZ);
                gdg = conf_get(c, rdg, (size_t)K);
                for (q = 0; q < K; q++)
                    ls += exp(logit[q]);
                for (q = 0; q < K; q++)
                    pi[q] = exp(logit[q]) / ls;
                for (r = 0; r < R; r++) {
                    double s = 0.0, base = 0.0;
                    const float *zr = z + (size_t)r * Z;
                    mx = -HUGE_VAL;
                    for (q = 0; q < K; q++) {
                        a[q] = log(pi[q]);
                        for (j = 0; j < Z; j++) {
                            double d = zr[j] - mean[q * Z + j];
                            a[q] += -0.5 * (d * d / exp(lv[q * Z + j]) + lv[q * Z + j]);
                        }
                        mx = a[q] > mx ? a[q] : mx;
                    }
                    for (q = 0; q < K; q++)
                        s += exp(a[q] - mx);
                    for (j = 0; j < Z; j++)
                        base += -0.5 * zr[j] * zr[j];
                    wlpq[r] = lpq[r] + mx + log(s) - base;
                    for (j = 0; j < Z; j++)
                        wdz[r * Z + j] = dz[r * Z + j] - w[r] * zr[j];
                    for (q = 0; q < K; q++) {
                        double g = exp(a[q] - mx) / s; /* responsibility */
                        for (j = 0; j < Z; j++) {
                            double d = zr[j] - mean[q * Z + j], iv = exp(-lv[q * Z + j]);
                            wdz[r * Z + j] += w[r] * g * d * iv;
                            wdm[q * Z + j] -= w[r] * g * d * iv;
                            wdl[q * Z + j] -= w[r] * g * 0.5 * (d * d * iv - 1.0);
                        }
                        wdg[q] -= w[r] * (g - pi[q]);
                    }
                }
                snprintf(what, sizeof what, "rows=%d Z=%d K=%d", R, Z, K);
                conf_compare(c, what, glpq, wlpq, (size_t)R, 1e-5);
                conf_compare(c, what, gdz, wdz, (size_t)R * Z, 1e-5);
                conf_compare(c, what, gdm, wdm, KZ, 1e-5);
                conf_compare(c, what, gdl, wdl, KZ, 1e-5);
                conf_compare(c, what, gdg, wdg, (size_t)K, 1e-5);
                c->next = mark;
                free(z), free(mean), free(lv), free(logit), free(lpq), free(w), free(dz);
                free(glpq), free(gdz), free(gdm), free(gdl), free(gdg);
                free(wlpq), free(wdz), free(wdm), free(wdl), free(wdg), free(a), free(pi);
            }
}

static void conf_kl(conf *c)
{
    static const int ns[] = {1, 4}, ks[] = {1, 3}, zs[] = {1, 19};
    int in, ik, iz;
    for (in = 0; in < 2; in++)
        for (ik = 0; ik < 2; ik++)
            for (iz = 0; iz < 2; iz++) {
                int n = ns[in], k = ks[ik], Z = zs[iz], R = n * k, b, i, j;
                size_t mark = c->next;
                float *st = malloc((size_t)n * 2 * Z * 4), *ds = malloc((size_t)n * 2 * Z * 4);
                float *w = malloc((size_t)R * 4), *glpq, *gds;
                double *wlpq = conf_doubles((size_t)R), *wds = conf_doubles((size_t)n * 2 * Z);
                vae_ref rst, rds, rw, rlpq;
                char what[64];
                conf_fill(c, st, (size_t)n * 2 * Z, -1.5, 1.5);
                conf_fill(c, ds, (size_t)n * 2 * Z, -1, 1);
                conf_fill(c, w, (size_t)R, 0, 1);
                rst = conf_put(c, st, (size_t)n * 2 * Z);
                rds = conf_put(c, ds, (size_t)n * 2 * Z);
                rw = conf_put(c, w, (size_t)R);
                rlpq = conf_take(c, (size_t)R);
                c->op = "kl_normal";
                CHECK(CONF_CALL(c, kl_normal, c->dev, rst, rlpq, n, k, Z) == VAE_OK, "kl failed");
                c->op = "kl_normal_backward";
                CHECK(CONF_CALL(c, kl_normal_backward, c->dev, rst, rw, rds, n, k, Z) == VAE_OK, "kl backward failed");
                glpq = conf_get(c, rlpq, (size_t)R);
                gds = conf_get(c, rds, (size_t)n * 2 * Z);
                for (b = 0; b < n; b++) {
                    double kl = 0.0, wb = 0.0;
                    for (i = 0; i < k; i++)
                        wb += w[b * k + i];
                    for (j = 0; j < Z; j++) {
                        double mu = st[b * 2 * Z + j], lv = st[b * 2 * Z + Z + j];
                        kl += 0.5 * (mu * mu + exp(lv) - 1.0 - lv);
                        wds[b * 2 * Z + j] = ds[b * 2 * Z + j] + wb * mu;
                        wds[b * 2 * Z + Z + j] = ds[b * 2 * Z + Z + j] + wb * 0.5 * (exp(lv) - 1.0);
                    }
                    for (i = 0; i < k; i++)
                        wlpq[b * k + i] = -kl;
                }
                snprintf(what, sizeof what, "n=%d k=%d Z=%d", n, k, Z);
                conf_compare(c, what, glpq, wlpq, (size_t)R, 1e-5);
                conf_compare(c, what, gds, wds, (size_t)n * 2 * Z, 1e-5);
                c->next = mark;
                free(st), free(ds), free(w), free(glpq), free(gds), free(wlpq), free(wds);
            }
}

/* ---- likelihoods ---- */

static void conf_likelihoods(conf *c)
{
    static const int ns[] = {1, 3}, ks[] = {1, 3}, ds[] = {1, 15, 16, 17, 40};
    int in, ik, id, gauss, grad;
    /* gauss 2: the Gaussian with a linear mean */
    for (gauss = 0; gauss < 3; gauss++)
        for (in = 0; in < 2; in++)
            for (ik = 0; ik < 2; ik++)
                for (id = 0; id < 5; id++)
                    for (grad = 0; grad < 2; grad++) {
                        int n = ns[in], k = ks[ik], d = ds[id], R = n * k, r, j;
                        size_t mark = c->next;
                        float *out = malloc((size_t)R * d * 4);
                        float *x = malloc((size_t)n * d * 4), *w = malloc((size_t)R * 4), log_sigma = -0.7f;
                        float *glp, *gout, *gse = NULL, *gdls = NULL;
                        double *wlp = conf_doubles((size_t)R), *wout = conf_doubles((size_t)R * d);
                        double *wse = conf_doubles((size_t)R), wdls = 0.0, sigma = exp(log_sigma);
                        vae_ref rout, rx, rls, rlp, rse, rw, rdls;
                        char what[80];
                        conf_fill(c, out, (size_t)R * d, -6, 6);
                        conf_fill(c, x, (size_t)n * d, 0, 1);
                        conf_fill(c, w, (size_t)R, 0, 1);
                        if (!gauss)
                            for (j = 0; j < n * d; j++)
                                x[j] = x[j] < 0.5f ? 0.0f : 1.0f;
                        rout = conf_put(c, out, (size_t)R * d);
                        rx = conf_put(c, x, (size_t)n * d);
                        rls = conf_put(c, &log_sigma, 1);
                        rw = conf_put(c, w, (size_t)R);
                        rlp = conf_take(c, (size_t)R);
                        rse = conf_take(c, (size_t)R);
                        rdls = conf_take(c, 1);
                        c->op = gauss ? "gaussian" : "bernoulli";
                        if (gauss)
                            CHECK(CONF_CALL(c, gaussian, c->dev, rout, rx, rls, rlp, rse, R, k, d, gauss == 2, grad) ==
                                      VAE_OK,
                                  "gaussian failed");
                        else
                            CHECK(CONF_CALL(c, bernoulli, c->dev, rout, rx, rlp, R, k, d, grad) == VAE_OK,
                                  "bernoulli failed");
                        glp = conf_get(c, rlp, (size_t)R);
                        gout = conf_get(c, rout, (size_t)R * d);
                        for (r = 0; r < R; r++)
                            for (j = 0; j < d; j++) {
                                double l = (double)out[r * d + j], xv = x[(r / k) * d + j];
                                double p = 1.0 / (1.0 + exp(-l)), mean = gauss == 2 ? l : p;
                                double slope = gauss == 2 ? 1.0 : p * (1 - p);
                                if (gauss) {
                                    wse[r] += (xv - mean) * (xv - mean);
                                    wout[r * d + j] = grad ? (mean - xv) / (sigma * sigma) * slope : out[r * d + j];
                                } else {
                                    wlp[r] += xv * l - (l > 0 ? l + log1p(exp(-l)) : log1p(exp(l)));
                                    wout[r * d + j] = grad ? p - xv : out[r * d + j];
                                }
                            }
                        if (gauss)
                            for (r = 0; r < R; r++) {
                                wlp[r] = -0.5 * d * log(2 * 3.14159265358979323846 * sigma * sigma) -
                                         wse[r] / (2 * sigma * sigma);
                                wdls += w[r] * (d - wse[r] / (sigma * sigma));
                            }
                        snprintf(what, sizeof what, "n=%d k=%d d=%d grad %d%s", n, k, d, grad,
                                 gauss == 2 ? " linear" : "");
                        conf_compare(c, what, glp, wlp, (size_t)R, 1e-5);
                        conf_compare(c, what, gout, wout, (size_t)R * d, 1e-5);
                        if (gauss) {
                            gse = conf_get(c, rse, (size_t)R);
                            conf_compare(c, what, gse, wse, (size_t)R, 1e-5);
                            c->op = "gaussian_backward";
                            CHECK(CONF_CALL(c, gaussian_backward, c->dev, rse, rw, rls, rdls, R, d) == VAE_OK,
                                  "gaussian_backward failed");
                            gdls = conf_get(c, rdls, 1);
                            conf_compare(c, what, gdls, &wdls, 1, 1e-5);
                        }
                        c->next = mark;
                        free(out), free(x), free(w), free(glp), free(gout), free(gse), free(gdls);
                        free(wlp), free(wout), free(wse);
                    }
}

/* ---- the bound ---- */

static void conf_combine(conf *c)
{
    static const int ns[] = {1, 4}, ks[] = {1, 5, 50};
    int in, ik, iwae;
    c->op = "combine";
    for (iwae = 0; iwae < 2; iwae++)
        for (in = 0; in < 2; in++)
            for (ik = 0; ik < 3; ik++) {
                int n = ns[in], k = ks[ik], R = n * k, b, i;
                float beta = iwae ? 1.0f : ik == 1 ? 1.0f : 0.3f;
                size_t mark = c->next;
                float *lx = malloc((size_t)R * 4), *lpq = malloc((size_t)R * 4), *glw, *gb, *gw, *go, *glt;
                double *wlw = conf_doubles((size_t)R), *wb = conf_doubles((size_t)n), *ww = conf_doubles((size_t)R);
                double *wo = conf_doubles((size_t)n), *wlt = conf_doubles((size_t)R);
                vae_ref rlx, rlpq, rlw, rb, rw, ro, rlt;
                char what[64];
                conf_fill(c, lx, (size_t)R, -200, -100);
                conf_fill(c, lpq, (size_t)R, -20, 0);
                rlx = conf_put(c, lx, (size_t)R);
                rlpq = conf_put(c, lpq, (size_t)R);
                rlw = conf_take(c, (size_t)R);
                rb = conf_take(c, (size_t)n);
                rw = conf_take(c, (size_t)R);
                ro = conf_take(c, (size_t)n);
                rlt = conf_take(c, (size_t)R);
                CHECK(CONF_CALL(c, combine, c->dev, rlx, rlpq, beta, rlw, rb, ro, rw, rlt, n, k, iwae) == VAE_OK,
                      "combine failed");
                glw = conf_get(c, rlw, (size_t)R);
                gb = conf_get(c, rb, (size_t)n);
                gw = conf_get(c, rw, (size_t)R);
                go = conf_get(c, ro, (size_t)n);
                glt = conf_get(c, rlt, (size_t)R);
                for (b = 0; b < n; b++) {
                    double mx = -HUGE_VAL, s = 0.0, mean = 0.0, obj = 0.0;
                    for (i = 0; i < k; i++) {
                        double v = (double)lx[b * k + i] + lpq[b * k + i];
                        wlw[b * k + i] = v;
                        mx = v > mx ? v : mx;
                        mean += v / k;
                        obj += ((double)lx[b * k + i] + beta * lpq[b * k + i]) / k;
                    }
                    for (i = 0; i < k; i++)
                        s += exp(wlw[b * k + i] - mx);
                    wb[b] = iwae ? mx + log(s) - log((double)k) : mean;
                    for (i = 0; i < k; i++) {
                        double wi = exp(wlw[b * k + i] - mx) / s;
                        ww[b * k + i] = !iwae ? 1.0 / R : wi < 0x1p-60 ? 0.0 : wi / n;
                        wlt[b * k + i] = beta * ww[b * k + i];
                    }
                    wo[b] = iwae ? wb[b] : obj;
                }
                snprintf(what, sizeof what, "n=%d k=%d iwae %d beta %g", n, k, iwae, (double)beta);
                conf_compare(c, what, glw, wlw, (size_t)R, 1e-6);
                conf_compare(c, what, gb, wb, (size_t)n, 1e-6);
                conf_compare(c, what, gw, ww, (size_t)R, 1e-5);
                conf_compare(c, what, go, wo, (size_t)n, 1e-6);
                conf_compare(c, what, glt, wlt, (size_t)R, 1e-5);
                c->next = mark;
                free(lx), free(lpq), free(glw), free(gb), free(gw), free(go), free(glt);
                free(wlw), free(wb), free(ww), free(wo), free(wlt);
            }
}

static void conf_rows(conf *c)
{
    enum { ROWS = 23, WIDTH = 5 };
    float weight[ROWS], x[ROWS * WIDTH], *got;
    int kept_want[ROWS], n_want = 0, count = -1, r, j, same = 1;
    vae_ref rw, rk, rx, rd;
    size_t mark = c->next;
    c->op = "select/gather/scatter_rows";
    conf_fill(c, weight, ROWS, 0, 1);
    for (r = 0; r < ROWS; r++) {
        if (r % 3 == 1 || r == ROWS - 1)
            weight[r] = 0.0f;
        else
            kept_want[n_want++] = r;
    }
    conf_fill(c, x, ROWS * WIDTH, -1, 1);
    rw = conf_put(c, weight, ROWS);
    rk = conf_take(c, ROWS);
    rx = conf_put(c, x, ROWS * WIDTH);
    rd = conf_take(c, ROWS * WIDTH);
    CHECK(CONF_CALL(c, select_rows, c->dev, rw, ROWS, rk, &count) == VAE_OK, "select_rows failed");
    if (count == ROWS) {
        /* a backend that keeps every row: its gather and scatter still
           work, on indices from here */
        for (r = 0; r < n_want; r++) {
            int32_t i = kept_want[r];
            float f;
            memcpy(&f, &i, sizeof f);
            CONF_CALL(c, write, c->dev, rk + (size_t)r, &f, 1);
        }
        count = n_want;
    }
    CHECK(count == n_want, "%s: %d rows kept, want %d", c->op, count, n_want);
    if (count != n_want) {
        c->next = mark;
        return;
    }
    /* gather to another place, and in place */
    CHECK(CONF_CALL(c, gather_rows, c->dev, rd, rx, rk, count, WIDTH) == VAE_OK, "gather failed");
    got = conf_get(c, rd, (size_t)count * WIDTH);
    for (j = 0; j < count; j++)
        for (r = 0; r < WIDTH; r++)
            same &= got[j * WIDTH + r] == x[kept_want[j] * WIDTH + r];
    free(got);
    CHECK(CONF_CALL(c, gather_rows, c->dev, rx, rx, rk, count, WIDTH) == VAE_OK, "gather in place failed");
    got = conf_get(c, rx, (size_t)count * WIDTH);
    for (j = 0; j < count; j++)
        for (r = 0; r < WIDTH; r++)
            same &= got[j * WIDTH + r] == x[kept_want[j] * WIDTH + r];
    free(got);
    CHECK(same, "%s: gathered rows differ", c->op);
    CHECK(CONF_CALL(c, scatter_rows, c->dev, rx, rk, count, ROWS, WIDTH) == VAE_OK, "scatter failed");
    got = conf_get(c, rx, ROWS * WIDTH);
    for (r = 0; r < ROWS; r++)
        for (j = 0; j < WIDTH; j++)
            same &= got[r * WIDTH + j] == (weight[r] != 0.0f ? x[r * WIDTH + j] : 0.0f);
    free(got);
    CHECK(same, "%s: scattered rows differ", c->op);
    c->next = mark;
}

/* ---- the update ---- */

/* check_step's summary of bound (n), objective (n) and g (count): the
   sums in index order, hi + lo, and the finite flag. */
static void conf_check(conf *c, vae_ref bound, vae_ref objective, int n, vae_ref g, size_t count, float *summary)
{
    vae_ref rs = conf_take(c, VAE_STEP_SUMMARY);
    float *got;
    CHECK(CONF_CALL(c, check_step, c->dev, bound, objective, n, g, count, rs) == VAE_OK, "check_step failed");
    got = conf_get(c, rs, VAE_STEP_SUMMARY);
    memcpy(summary, got, VAE_STEP_SUMMARY * sizeof *got);
    free(got);
}

static void conf_check_step(conf *c)
{
    static const size_t lens[] = {1, 15, 16, 17, 100, 4099};
    static float v[4099], b[33], o[33];
    int li, pos, kind;
    float sum[VAE_STEP_SUMMARY];
    c->op = "check_step";
    conf_fill(c, b, 33, -300, 10);
    conf_fill(c, o, 33, -300, 10);
    for (li = 0; li < 6; li++) {
        size_t n = lens[li], mark = c->next;
        int nb = (int)(n % 33) + 1, i;
        double wb = 0.0, wo = 0.0;
        vae_ref r, rb, ro;
        conf_fill(c, v, n, -1e30, 1e30);
        r = conf_put(c, v, n);
        rb = conf_put(c, b, (size_t)nb);
        ro = conf_put(c, o, (size_t)nb);
        for (i = 0; i < nb; i++)
            wb += b[i], wo += o[i];
        conf_check(c, rb, ro, nb, r, n, sum);
        CHECK(sum[VAE_STEP_OK] == 1.0f, "%s: n=%lu finite", c->op, (unsigned long)n);
        CHECK((double)sum[VAE_STEP_BOUND] + sum[VAE_STEP_BOUND + 1] == wb &&
                  (double)sum[VAE_STEP_OBJECTIVE] + sum[VAE_STEP_OBJECTIVE + 1] == wo,
              "%s: sums %.17g %.17g, not %.17g %.17g in order", c->op,
              (double)sum[VAE_STEP_BOUND] + sum[VAE_STEP_BOUND + 1],
              (double)sum[VAE_STEP_OBJECTIVE] + sum[VAE_STEP_OBJECTIVE + 1], wb, wo);
        for (kind = 0; kind < 3; kind++)
            for (pos = 0; pos < (int)n; pos += (int)n / 3 + 1) {
                float bad = kind == 0 ? NAN : kind == 1 ? INFINITY : -INFINITY, keep = v[pos];
                CONF_CALL(c, write, c->dev, r + (size_t)pos, &bad, 1);
                conf_check(c, rb, ro, nb, r, n, sum);
                CHECK(sum[VAE_STEP_OK] == 0.0f, "%s: n=%lu, a non-finite value at %d missed", c->op,
                      (unsigned long)n, pos);
                CONF_CALL(c, write, c->dev, r + (size_t)pos, &keep, 1);
            }
        /* a bound or objective that is not finite */
        for (kind = 0; kind < 2; kind++) {
            float bad = NAN;
            vae_ref at = (kind ? ro : rb) + (size_t)(nb - 1);
            CONF_CALL(c, write, c->dev, at, &bad, 1);
            conf_check(c, rb, ro, nb, r, n, sum);
            CHECK(sum[VAE_STEP_OK] == 0.0f, "%s: a NaN %s missed", c->op, kind ? "objective" : "bound");
            CONF_CALL(c, write, c->dev, at, kind ? &o[nb - 1] : &b[nb - 1], 1);
        }
        /* values just past the range do not count */
        if (n > 1) {
            float bad = NAN;
            CONF_CALL(c, write, c->dev, r + n - 1, &bad, 1);
            conf_check(c, rb, ro, nb, r, n - 1, sum);
            CHECK(sum[VAE_STEP_OK] == 1.0f, "%s: looked past n", c->op);
        }
        c->next = mark;
    }
}

static void conf_adam(conf *c)
{
    enum { N = 37 };
    int adamax, t;
    c->op = "adam";
    for (adamax = 0; adamax < 2; adamax++)
        for (t = 1; t <= 5; t += 4) {
            float p[N], g[N], m1[N], m2[N], *gp, *gm1, *gm2;
            double wp[N], wm1[N], wm2[N], lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-4;
            size_t mark = c->next;
            vae_ref rp, rg, rm1, rm2, zero, one;
            float zero_flag = 0.0f, one_flag = 1.0f;
            char what[48];
            int i;
            conf_fill(c, p, N, -1, 1);
            conf_fill(c, g, N, -1, 1);
            conf_fill(c, m1, N, -0.1, 0.1);
            conf_fill(c, m2, N, 0, 0.1);
            rp = conf_put(c, p, N);
            rg = conf_put(c, g, N);
            rm1 = conf_put(c, m1, N);
            rm2 = conf_put(c, m2, N);
            /* a step whose check failed changes nothing */
            zero = conf_put(c, &zero_flag, 1);
            CHECK(CONF_CALL(c, adam, c->dev, rp, rg, rm1, rm2, N, (float)lr, (float)b1, (float)b2, (float)eps, t, adamax,
                              zero) == VAE_OK,
                  "adam failed");
            gp = conf_get(c, rp, N);
            gm1 = conf_get(c, rm1, N);
            CHECK(!memcmp(gp, p, sizeof p) && !memcmp(gm1, m1, sizeof m1), "%s: updated with its flag 0", c->op);
            free(gp), free(gm1);
            one = conf_put(c, &one_flag, 1);
            CHECK(CONF_CALL(c, adam, c->dev, rp, rg, rm1, rm2, N, (float)lr, (float)b1, (float)b2, (float)eps, t, adamax,
                              t == 1 ? one : VAE_NO_REF) == VAE_OK,
                  "adam failed");
            gp = conf_get(c, rp, N);
            gm1 = conf_get(c, rm1, N);
            gm2 = conf_get(c, rm2, N);
            for (i = 0; i < N; i++) {
                double c1 = 1.0 - pow(b1, t);
                wm1[i] = b1 * m1[i] + (1 - b1) * g[i];
                if (!adamax) {
                    wm2[i] = b2 * m2[i] + (1 - b2) * g[i] * g[i];
                    wp[i] = p[i] - lr / c1 * wm1[i] / (sqrt(wm2[i] / (1.0 - pow(b2, t))) + eps);
                } else {
                    double u = fabs(g[i]) + eps;
                    wm2[i] = b2 * m2[i] > u ? b2 * m2[i] : u;
                    wp[i] = p[i] - lr / c1 * wm1[i] / wm2[i];
                }
            }
            snprintf(what, sizeof what, "adamax %d t=%d", adamax, t);
            conf_compare(c, what, gp, wp, N, 1e-6);
            conf_compare(c, what, gm1, wm1, N, 1e-6);
            conf_compare(c, what, gm2, wm2, N, 1e-6);
            free(gp), free(gm1), free(gm2);
            c->next = mark;
        }
}

/* Runs every op of be; params go to its create. Returns 0 when the
   backend could not be created (nothing was checked). */
static int conformance(const vae_backend *be, const void *params)
{
    conf c;
    char why[200] = "";
    memset(&c, 0, sizeof c);
    c.be = be;
    c.align = (be->alignment > VAE_BUFFER_ALIGN ? be->alignment : VAE_BUFFER_ALIGN) / sizeof(float);
    vae_rng_seed(&c.rng, 2024);
    CHECK(be->version == VAE_BACKEND_VERSION, "%s: interface version %d", be->name, be->version);
    if (be->create(&c.dev, CONF_FLOATS, params, why, sizeof why) != VAE_OK) {
        printf("%s backend: cannot create: %s\n", be->name, why);
        return 0;
    }
    conf_memory(&c);
    conf_gemm(&c);
    conf_activations(&c);
    conf_conv(&c);
    conf_reparam(&c);
    conf_mog(&c);
    conf_kl(&c);
    conf_likelihoods(&c);
    conf_combine(&c);
    conf_rows(&c);
    conf_check_step(&c);
    conf_adam(&c);
    c.called[CONF_OP_create] = c.called[CONF_OP_destroy] = 1;
    c.op = "error";
    (void)CONF_CALL(&c, error, c.dev);
    be->destroy(c.dev);
    {
        int i;
        for (i = 0; i < CONF_OPS; i++)
            CHECK(c.called[i], "%s backend: no conformance case calls %s", be->name, conf_op_names[i]);
    }
    printf("%s backend: every op against the reference, worst relative error %.2e\n", be->name, c.worst);
    return 1;
}

#endif
