/* export_c.c — a model's decoder and encoder as plain C99: const weight
   arrays, one function per layer kind the model uses, and NAME_decode /
   NAME_encode that run the layers through two ping-pong buffers in the
   caller's scratch. No malloc, no mutable globals, no printf; libm's
   expf and tanhf, or with no_libm the library's own approximations.

   Activations are (channels, rows, cols), PyTorch's order, so the
   weights are written as vae_get_tensor gives them. int8 weights are
   symmetric with one scale per output channel (TFLite's per-channel
   int8, zero point 0); products are summed in float and scaled once per
   output: activations stay float, so nothing needs calibrating, and on a
   Cortex-M4F a float multiply-add costs what an integer one does.
*/
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_c.h"

/* ---- a growing source_text ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int failed; /* out of memory: the source_text is incomplete */
} source_text;

/* Appends printf(fmt, ...). Where vsnprintf says -1 for a result that
   does not fit (old Windows C libraries), the room doubles until it does. */
static void src_printf(source_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    while (!t->failed) {
        size_t room = t->cap - t->len;
        if (room > 1) {
            va_start(ap, fmt);
            n = vsnprintf(t->s + t->len, room, fmt, ap);
            va_end(ap);
            if (n >= 0 && (size_t)n < room) {
                t->len += (size_t)n;
                return;
            }
        } else {
            n = -1;
        }
        {
            size_t cap = t->cap ? 2 * t->cap : 1 << 16;
            char *grown;
            while (n >= 0 && cap - t->len <= (size_t)n)
                cap *= 2;
            if (cap > (size_t)1 << 30 || !(grown = realloc(t->s, cap))) {
                t->failed = 1;
                return;
            }
            t->s = grown;
            t->cap = cap;
        }
    }
}

/* Puts src with each "$W" replaced by the weight type and "$S" by the
   scale factor of output channel o (nothing for float weights) and "$P"
   by the scale parameter. */
static void emit_template(source_text *t, const char *src, int int8)
{
    const char *p;
    for (p = src; *p; p++) {
        if (p[0] == '$' && p[1] == 'W')
            src_printf(t, "%s", int8 ? "signed char" : "float");
        else if (p[0] == '$' && p[1] == 'S')
            src_printf(t, "%s", int8 ? "scale[o] * " : "");
        else if (p[0] == '$' && p[1] == 'P')
            src_printf(t, "%s", int8 ? ", const float *scale" : "");
        else {
            src_printf(t, "%c", *p);
            continue;
        }
        p++;
    }
}

/* ---- the layer kinds, as the generated code has them ---- */

static const char fc_src[] =
    "/* y (out) = b + W x, W (out, in) as PyTorch's Linear */\n"
    "static void fc(const $W *w$P, const float *b, int in, int out,\n"
    "               const float *x, float *y)\n"
    "{\n"
    "    int o, i;\n"
    "    for (o = 0; o < out; o++) {\n"
    "        const $W *row = w + (long)o * in;\n"
    "        float s = 0.0f;\n"
    "        for (i = 0; i < in; i++)\n"
    "            s += row[i] * x[i];\n"
    "        y[o] = b[o] + $Ss;\n"
    "    }\n"
    "}\n\n";

static const char conv_src[] =
    "/* y (co, oh, ow) = b + W * x (ci, h, w), W (co, ci, k, k), stride s and\n"
    "   zero padding p, as PyTorch's Conv2d */\n"
    "static void conv(const $W *w$P, const float *b, int ci, int h, int wd,\n"
    "                 int co, int oh, int ow, int k, int s, int p, const float *x, float *y)\n"
    "{\n"
    "    int o, c, oy, ox, ky, kx;\n"
    "    for (o = 0; o < co; o++)\n"
    "        for (oy = 0; oy < oh; oy++)\n"
    "            for (ox = 0; ox < ow; ox++) {\n"
    "                float sum = 0.0f;\n"
    "                for (c = 0; c < ci; c++)\n"
    "                    for (ky = 0; ky < k; ky++) {\n"
    "                        int iy = oy * s - p + ky;\n"
    "                        const $W *wr = w + (((long)o * ci + c) * k + ky) * k;\n"
    "                        const float *xr;\n"
    "                        if (iy < 0 || iy >= h)\n"
    "                            continue;\n"
    "                        xr = x + ((long)c * h + iy) * wd;\n"
    "                        for (kx = 0; kx < k; kx++) {\n"
    "                            int ix = ox * s - p + kx;\n"
    "                            if (ix >= 0 && ix < wd)\n"
    "                                sum += wr[kx] * xr[ix];\n"
    "                        }\n"
    "                    }\n"
    "                y[((long)o * oh + oy) * ow + ox] = b[o] + $Ssum;\n"
    "            }\n"
    "}\n\n";

/* The gather form: each output sums the inputs whose windows reach it, so
   that it is written once, with no accumulation in y. */
static const char convt_src[] =
    "/* y (co, oh, ow) = b + the transposed convolution of x (ci, h, w) with W\n"
    "   (ci, co, k, k), stride s, padding p, as PyTorch's ConvTranspose2d (its\n"
    "   output padding is in oh and ow) */\n"
    "static void convt(const $W *w$P, const float *b, int ci, int h, int wd,\n"
    "                  int co, int oh, int ow, int k, int s, int p, const float *x, float *y)\n"
    "{\n"
    "    int o, c, oy, ox, ky, kx;\n"
    "    for (o = 0; o < co; o++)\n"
    "        for (oy = 0; oy < oh; oy++)\n"
    "            for (ox = 0; ox < ow; ox++) {\n"
    "                float sum = 0.0f;\n"
    "                for (c = 0; c < ci; c++)\n"
    "                    for (ky = (oy + p) % s; ky < k; ky += s) {\n"
    "                        int iy = (oy + p - ky) / s;\n"
    "                        const $W *wr = w + (((long)c * co + o) * k + ky) * k;\n"
    "                        const float *xr;\n"
    "                        if (oy + p - ky < 0 || iy >= h)\n"
    "                            continue;\n"
    "                        xr = x + ((long)c * h + iy) * wd;\n"
    "                        for (kx = (ox + p) % s; kx < k; kx += s) {\n"
    "                            int ix = (ox + p - kx) / s;\n"
    "                            if (ox + p - kx >= 0 && ix < wd)\n"
    "                                sum += wr[kx] * xr[ix];\n"
    "                        }\n"
    "                    }\n"
    "                y[((long)o * oh + oy) * ow + ox] = b[o] + $Ssum;\n"
    "            }\n"
    "}\n\n";

/* The library's approximations (vae.c: fast_exp, fast_tanh,
   fast_sigmoid), for --no-libm; test_export checks that they give the
   library's values bit for bit. */
static const char approx_src[] =
    "/* exp, as the vae library computes it: x / ln 2 rounded to n with the\n"
    "   1.5 * 2^23 trick, a degree-6 polynomial on the rest, times 2^n */\n"
    "static float approx_exp(float x)\n"
    "{\n"
    "    const float shift = 12582912.0f;\n"
    "    float t, n, r, p, scale;\n"
    "    uint32_t ti, si;\n"
    "    x = x < -87.0f ? -87.0f : x;\n"
    "    x = x > 88.0f ? 88.0f : x;\n"
    "    t = x * 1.44269504088896341f + shift;\n"
    "    n = t - shift;\n"
    "    r = x - n * 0.693359375f;\n"
    "    r = r - n * -2.12194440e-4f;\n"
    "    p = 1.9875691500e-4f;\n"
    "    p = p * r + 1.3981999507e-3f;\n"
    "    p = p * r + 8.3334519073e-3f;\n"
    "    p = p * r + 4.1665795894e-2f;\n"
    "    p = p * r + 1.6666665459e-1f;\n"
    "    p = p * r + 5.0000001201e-1f;\n"
    "    p = p * r * r + r + 1.0f;\n"
    "    ti = float_bits(t);\n"
    "    si = (uint32_t)((ti - 0x4b400000UL + 127UL) << 23);\n"
    "    scale = bits_float(si);\n"
    "    return p * scale;\n"
    "}\n\n";

static const char bits_src[] =
    "/* a float's 32 bits and back, through a union (C99 allows the pun) */\n"
    "static uint32_t float_bits(float f)\n"
    "{\n"
    "    union { float f; uint32_t u; } v;\n"
    "    v.f = f;\n"
    "    return v.u;\n"
    "}\n\n"
    "static float bits_float(uint32_t u)\n"
    "{\n"
    "    union { float f; uint32_t u; } v;\n"
    "    v.u = u;\n"
    "    return v.f;\n"
    "}\n\n";

static const char tanh_libm_src[] =
    "static void act_tanh(float *x, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        x[i] = tanhf(x[i]);\n"
    "}\n\n";

static const char tanh_approx_src[] =
    "/* an odd polynomial near 0, the exponential form beyond */\n"
    "static void act_tanh(float *x, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float v = x[i], ax = v < 0.0f ? -v : v, s = v * v, small, big;\n"
    "        small = -5.70498872745e-3f;\n"
    "        small = small * s + 2.06390887954e-2f;\n"
    "        small = small * s - 5.37397155531e-2f;\n"
    "        small = small * s + 1.33314422036e-1f;\n"
    "        small = small * s - 3.33332819422e-1f;\n"
    "        small = small * s * v + v;\n"
    "        big = 1.0f - 2.0f / (approx_exp(2.0f * ax) + 1.0f);\n"
    "        big = v < 0.0f ? -big : big;\n"
    "        x[i] = ax < 0.625f ? small : big;\n"
    "    }\n"
    "}\n\n";

static const char sigmoid_src[] =
    "/* e^-|x| never overflows */\n"
    "static void act_sigmoid(float *x, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        float e = EXP(x[i] < 0.0f ? x[i] : -x[i]);\n"
    "        x[i] = (x[i] >= 0.0f ? 1.0f : e) / (1.0f + e);\n"
    "    }\n"
    "}\n\n";

/* (c, hw) <-> (hw, c): the vae library keeps an image's channels last */
static const char channels_first_src[] =
    "/* (hw, c) -> (c, hw): the vae library keeps an image's channels last */\n"
    "static void channels_first(const float *x, float *y, int c, long hw)\n"
    "{\n"
    "    long p;\n"
    "    int ch;\n"
    "    for (ch = 0; ch < c; ch++)\n"
    "        for (p = 0; p < hw; p++)\n"
    "            y[ch * hw + p] = x[p * c + ch];\n"
    "}\n\n";

static const char channels_last_src[] =
    "/* (c, hw) -> (hw, c): the vae library keeps an image's channels last */\n"
    "static void channels_last(const float *x, float *y, int c, long hw)\n"
    "{\n"
    "    long p;\n"
    "    int ch;\n"
    "    for (ch = 0; ch < c; ch++)\n"
    "        for (p = 0; p < hw; p++)\n"
    "            y[p * c + ch] = x[ch * hw + p];\n"
    "}\n\n";

static const char relu_src[] =
    "static void act_relu(float *x, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        x[i] = x[i] > 0.0f ? x[i] : 0.0f;\n"
    "}\n\n";

static const char leakyrelu_src[] =
    "static void act_leakyrelu(float *x, long n)\n"
    "{\n"
    "    long i;\n"
    "    for (i = 0; i < n; i++)\n"
    "        x[i] = x[i] > 0.0f ? x[i] : 0.01f * x[i];\n"
    "}\n\n";

/* ---- what the parts use ---- */

static int uses(const export_part *const *parts, int n, const char *kind, const char *act)
{
    int i, j;
    for (i = 0; i < n; i++) {
        if (act && parts[i]->decoder && strcmp(parts[i]->mean_act, act) == 0)
            return 1;
        for (j = 0; j < parts[i]->n; j++) {
            const export_layer *L = &parts[i]->layer[j];
            if ((kind && strcmp(L->kind, kind) == 0) || (act && strcmp(L->act, act) == 0))
                return 1;
        }
    }
    return 0;
}

/* Whether the part's image meets the library's with several channels:
   the library keeps an image channels last, the layers here channels
   first, so the part converts at that end. */
static int interleaved(const export_part *p)
{
    const export_layer *L = p->decoder ? &p->layer[p->n - 1] : &p->layer[0];
    const int *s = p->decoder ? L->out : L->in;
    return p->image[0] > 1 && p->image[1] * p->image[2] > 1 && memcmp(s, p->image, sizeof p->image) == 0;
}

/* Floats of the two buffers a part needs: layer i's output (all but the
   last's) goes to buffer i % 2; a converted image goes to buffer 1 (the
   encoder's input) or to the last layer's buffer (the decoder's output). */
static void buffers(const export_part *p, long size[2])
{
    long d = export_size(p->image);
    int i;
    size[0] = size[1] = 0;
    for (i = 0; i < p->n - 1; i++) {
        long s = export_size(p->layer[i].out);
        size[i % 2] = s > size[i % 2] ? s : size[i % 2];
    }
    if (interleaved(p)) {
        int at = p->decoder ? (p->n - 1) % 2 : 1;
        size[at] = d > size[at] ? d : size[at];
    }
}

static long scratch_floats(const export_part *const *parts, int n)
{
    long most = 0, s[2];
    int i;
    for (i = 0; i < n; i++) {
        buffers(parts[i], s);
        most = s[0] + s[1] > most ? s[0] + s[1] : most;
    }
    return most > 0 ? most : 1;
}

/* "enc.0" -> "enc_0" */
static void c_name(const char *in, char *out, size_t size)
{
    size_t i;
    for (i = 0; in[i] && i + 1 < size; i++)
        out[i] = isalnum((unsigned char)in[i]) ? in[i] : '_';
    out[i] = '\0';
}

/* The output channel of weight q of layer L: its scale's index. */
static long out_channel(const export_layer *L, long q)
{
    long per;
    if (strcmp(L->kind, "convt") == 0) { /* (ci, co, k, k) */
        per = (long)L->kernel * L->kernel;
        return q / per % L->out[0];
    }
    per = L->nw / L->nb; /* (out, in) or (co, ci, k, k): rows */
    return q / per;
}

/* Per-channel symmetric scales (max |w| / 127; 1 for a channel of zeros)
   and the weights rounded to them. */
static int quantise(const export_layer *L, float **scale, signed char **q)
{
    long i, ch;
    *scale = calloc((size_t)L->nb, sizeof **scale);
    *q = malloc((size_t)(L->nw > 0 ? L->nw : 1));
    if (!*scale || !*q)
        return -1;
    for (i = 0; i < L->nw; i++) {
        float a = fabsf(L->w[i]);
        ch = out_channel(L, i);
        (*scale)[ch] = a > (*scale)[ch] ? a : (*scale)[ch];
    }
    for (ch = 0; ch < L->nb; ch++)
        (*scale)[ch] = (*scale)[ch] > 0.0f ? (*scale)[ch] / 127.0f : 1.0f;
    for (i = 0; i < L->nw; i++) {
        float v = L->w[i] / (*scale)[out_channel(L, i)];
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        (*q)[i] = (signed char)(v < 0.0f ? -(int)(0.5f - v) : (int)(v + 0.5f));
    }
    return 0;
}

static void emit_floats(source_text *t, const char *type, const char *name, const float *v, long n)
{
    long i;
    src_printf(t, "static const %s %s[%ld] = {", type, name, n);
    for (i = 0; i < n; i++)
        src_printf(t, "%s%.9gf,", i % 8 ? " " : "\n    ", (double)v[i]);
    src_printf(t, "\n};\n\n");
}

static int emit_weights(source_text *t, const char *prefix, const export_layer *L, int int8, export_sizes *sizes)
{
    char base[64], name[96];
    c_name(L->name, base, sizeof base);
    if (int8) {
        float *scale;
        signed char *q;
        long i;
        if (quantise(L, &scale, &q) != 0) {
            free(scale);
            free(q);
            return -1;
        }
        src_printf(t, "static const signed char %s_%s_w[%ld] = {", prefix, base, L->nw);
        for (i = 0; i < L->nw; i++)
            src_printf(t, "%s%d,", i % 16 ? " " : "\n    ", q[i]);
        src_printf(t, "\n};\n\n");
        snprintf(name, sizeof name, "%s_%s_scale", prefix, base);
        emit_floats(t, "float", name, scale, L->nb);
        sizes->weight_bytes += L->nw + 4 * L->nb;
        free(scale);
        free(q);
    } else {
        snprintf(name, sizeof name, "%s_%s_w", prefix, base);
        emit_floats(t, "float", name, L->w, L->nw);
        sizes->weight_bytes += 4 * L->nw;
    }
    snprintf(name, sizeof name, "%s_%s_b", prefix, base);
    emit_floats(t, "float", name, L->b, L->nb);
    sizes->weight_bytes += 4 * L->nb;
    return 0;
}

/* The call of layer L from x to y, then its activation. */
static void emit_layer_call(source_text *t, const char *prefix, const export_layer *L, int int8, const char *x,
                           const char *y)
{
    char base[64];
    c_name(L->name, base, sizeof base);
    if (strcmp(L->kind, "fc") == 0)
        src_printf(t, "    fc(%s_%s_w, ", prefix, base);
    else
        src_printf(t, "    %s(%s_%s_w, ", L->kind, prefix, base);
    if (int8)
        src_printf(t, "%s_%s_scale, ", prefix, base);
    if (strcmp(L->kind, "fc") == 0)
        src_printf(t, "%s_%s_b, %ld, %ld, %s, %s);\n", prefix, base, export_size(L->in), export_size(L->out), x, y);
    else
        src_printf(t, "%s_%s_b, %d, %d, %d, %d, %d, %d, %d, %d, %d, %s, %s);\n", prefix, base, L->in[0], L->in[1],
            L->in[2], L->out[0], L->out[1], L->out[2], L->kernel, L->stride, L->pad, x, y);
    if (strcmp(L->act, "none") != 0)
        src_printf(t, "    act_%s(%s, %ldL);\n", L->act, y, export_size(L->out));
}

static void emit_comment(source_text *t, const char *body)
{
    const char *p = body, *nl;
    while (*p) {
        nl = strchr(p, '\n');
        src_printf(t, "   %.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
        p = nl ? nl + 1 : p + strlen(p);
    }
}

static void emit_part_function(source_text *t, const char *name, const export_part *p, int int8)
{
    long size[2], hw = (long)p->image[1] * p->image[2];
    int i, swap = interleaved(p), last = p->n - 1;
    buffers(p, size);
    if (p->decoder)
        src_printf(t, "void %s_decode(const float *z, float *mean, float *scratch)\n{\n", name);
    else
        src_printf(t, "void %s_encode(const float *x, float *mu, float *logvar, float *scratch)\n{\n", name);
    if (size[1])
        src_printf(t, "    float *a = scratch, *b = scratch + %ld;\n", size[0]);
    else if (size[0])
        src_printf(t, "    float *a = scratch;\n");
    else
        src_printf(t, "    (void)scratch;\n");
    if (swap && !p->decoder)
        src_printf(t, "    channels_first(x, b, %d, %ldL);\n", p->image[0], hw);
    for (i = 0; i < p->n; i++) {
        const export_layer *L = &p->layer[i];
        const char *x = i > 0 ? ((i - 1) % 2 ? "b" : "a") : p->decoder ? "z" : swap ? "b" : "x";
        const char *y = i % 2 ? "b" : "a";
        if (i < last) {
            emit_layer_call(t, name, L, int8, x, y);
        } else if (p->decoder) {
            emit_layer_call(t, name, L, int8, x, swap ? y : "mean");
            if (swap)
                src_printf(t, "    channels_last(%s, mean, %d, %ldL);\n", y, p->image[0], hw);
            if (strcmp(p->mean_act, "sigmoid") == 0)
                src_printf(t, "    act_sigmoid(mean, %ldL);\n", export_size(L->out));
        } else {
            /* the head's two halves straight into mu and logvar */
            char base[64];
            long in = export_size(L->in);
            int half;
            c_name(L->name, base, sizeof base);
            for (half = 0; half < 2; half++) {
                long rows = half ? p->z : 0;
                src_printf(t, "    fc(%s_%s_w + %ldL, ", name, base, rows * in);
                if (int8)
                    src_printf(t, "%s_%s_scale + %ld, ", name, base, rows);
                src_printf(t, "%s_%s_b + %ld, %ld, %d, %s, %s);\n", name, base, rows, in, p->z, x, half ? "logvar" : "mu");
            }
        }
    }
    src_printf(t, "}\n\n");
}

int export_c(const export_part *const *parts, int n, const char *name, const char *model, int int8,
             int no_libm, char **h, char **c, export_sizes *sizes, char *why, size_t why_len)
{
    source_text ht = {0}, ct = {0};
    char upper[64], source[256];
    const export_part *dec = NULL, *enc = NULL;
    int i, j;
    *h = *c = NULL;
    memset(sizes, 0, sizeof *sizes);
    for (i = 0; name[i] && i < 63; i++)
        upper[i] = (char)toupper((unsigned char)name[i]);
    upper[i] = '\0';
    /* the model's path in a comment: nothing that could end it */
    for (i = 0; model[i] && i < 255; i++)
        source[i] = isprint((unsigned char)model[i]) && model[i] != '*' ? model[i] : '?';
    source[i] = '\0';
    for (i = 0; i < n; i++) {
        if (parts[i]->decoder)
            dec = parts[i];
        else
            enc = parts[i];
    }
    if (!dec && !enc) {
        snprintf(why, why_len, "nothing to export");
        return -1;
    }
    sizes->scratch_floats = scratch_floats(parts, n);

    /* the header */
    src_printf(&ht, "/* %s.h — generated by vae export from %s.\n", name, source);
    for (i = 0; i < n; i++)
        emit_comment(&ht, parts[i]->summary);
    src_printf(&ht, "   Images are (channels, rows, cols), row-major; %s weights. */\n", int8 ? "int8" : "float32");
    src_printf(&ht, "#ifndef %s_EXPORTED_H\n#define %s_EXPORTED_H\n\n", upper, upper);
    {
        const export_part *p = dec ? dec : enc;
        src_printf(&ht, "#define %s_Z %d\n#define %s_C %d\n#define %s_H %d\n#define %s_W %d\n#define %s_D %ld\n", upper,
            p->z, upper, p->image[0], upper, p->image[1], upper, p->image[2], upper, export_size(p->image));
    }
    src_printf(&ht, "/* floats of scratch each call needs: its two largest activations in turn */\n");
    src_printf(&ht, "#define %s_SCRATCH_FLOATS %ld\n\n", upper, sizes->scratch_floats);
    src_printf(&ht, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    if (dec)
        src_printf(&ht, "/* z (%s_Z) -> mean (%s_D): the likelihood's mean E[x|z] */\n"
                 "void %s_decode(const float *z, float *mean, float *scratch);\n\n", upper, upper, name);
    if (enc)
        src_printf(&ht, "/* x (%s_D) -> mu, logvar (%s_Z each): q(z|x) = N(mu, exp(logvar)) */\n"
                 "void %s_encode(const float *x, float *mu, float *logvar, float *scratch);\n\n",
            upper, upper, name);
    src_printf(&ht, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");

    /* the source: kinds used, then weights and functions */
    src_printf(&ct, "/* %s.c — generated by vae export from %s (see %s.h).\n", name, source, name);
    for (i = 0; i < n; i++)
        emit_comment(&ct, parts[i]->summary);
    src_printf(&ct, "   Layer outputs alternate between two buffers in the caller's scratch. */\n");
    src_printf(&ct, "#include \"%s.h\"\n\n", name);
    if (!no_libm && (uses(parts, n, NULL, "tanh") || uses(parts, n, NULL, "sigmoid")))
        src_printf(&ct, "#include <math.h>\n\n");
    if (no_libm && (uses(parts, n, NULL, "tanh") || uses(parts, n, NULL, "sigmoid"))) {
        src_printf(&ct, "#include <stdint.h>\n\n%s%s", bits_src, approx_src);
        src_printf(&ct, "#define EXP approx_exp\n\n");
    } else if (uses(parts, n, NULL, "sigmoid")) {
        src_printf(&ct, "#define EXP expf\n\n");
    }
    if (uses(parts, n, "fc", NULL))
        emit_template(&ct, fc_src, int8);
    if (uses(parts, n, "conv", NULL))
        emit_template(&ct, conv_src, int8);
    if (uses(parts, n, "convt", NULL))
        emit_template(&ct, convt_src, int8);
    for (i = 0; i < n; i++) /* only what is used: an unused static function warns */
        if (interleaved(parts[i]))
            src_printf(&ct, "%s", parts[i]->decoder ? channels_last_src : channels_first_src);
    if (uses(parts, n, NULL, "relu"))
        src_printf(&ct, "%s", relu_src);
    if (uses(parts, n, NULL, "leakyrelu"))
        src_printf(&ct, "%s", leakyrelu_src);
    if (uses(parts, n, NULL, "tanh"))
        src_printf(&ct, "%s", no_libm ? tanh_approx_src : tanh_libm_src);
    if (uses(parts, n, NULL, "sigmoid"))
        src_printf(&ct, "%s", sigmoid_src);
    for (i = 0; i < n; i++) {
        for (j = 0; j < parts[i]->n; j++)
            if (emit_weights(&ct, name, &parts[i]->layer[j], int8, sizes) != 0)
                ct.failed = 1;
        emit_part_function(&ct, name, parts[i], int8);
    }
    if (ht.failed || ct.failed) {
        free(ht.s);
        free(ct.s);
        snprintf(why, why_len, "no memory for the C source (or it would be over 1 GB)");
        return -1;
    }
    *h = ht.s;
    *c = ct.s;
    sizes->h_bytes = ht.len;
    sizes->c_bytes = ct.len;
    return 0;
}

int export_name_ok(const char *name)
{
    size_t i;
    if (!name[0] || strlen(name) > 32 || isdigit((unsigned char)name[0]))
        return 0;
    for (i = 0; name[i]; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return 0;
    return 1;
}
