/* vae.c — the vae library in one translation unit. See vae.h for the API.

   Design, in short:
   - All heavy work goes through a small table of kernels (struct kernels):
     GEMM, bias + activation, their backward, the latent and likelihood
     kernels, the optimiser update. The model code above that table only
     sees tensor references (offsets into the backend's memory) and never
     touches a float itself, so a second backend (OpenCL) implements the same
     table and the model code stays as it is. The CPU backend below is plain
     C99 written so that gcc and clang vectorise it, with OpenMP pragmas that
     other compilers ignore.
   - One allocation per model for everything the backend holds: parameters,
     gradients, optimiser moments, activations and scratch, sized once for
     the largest batch. Nothing is allocated during training or evaluation.
   - The encoder runs once per image and the decoder k times (DESIGN.md,
     steps 2-4); the k decoder gradients reaching z are summed back into one
     gradient for mu and logvar per image.
   - Work is split by output: each thread owns whole GEMM tiles, rows or
     columns, so results do not depend on the number of threads.
   - No fast-math: logsumexp relies on inf and NaN behaving. The hot
     transcendental functions (exp, log1p, tanh) are our own branch-free
     polynomial versions so that they vectorise; they are accurate to a few
     ulp, far below what training or the parity test can see.
*/
#include "vae.h"
#include "rng.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Work splits by output element, row or column; compilers without OpenMP
   see nothing. Loops go parallel only above OMP_MIN_WORK elements (or
   multiply-adds): below it, starting threads costs more than it saves. */
#define OMP_MIN_WORK 65536
#ifdef _OPENMP
#define OMP_PRAGMA(x) _Pragma(#x)
#define OMP_FOR_IF(cond) OMP_PRAGMA(omp parallel for schedule(static) if (cond))
#define OMP_MAX_THREADS() omp_get_max_threads()
#else
#define OMP_FOR_IF(cond)
#define OMP_MAX_THREADS() 1
#endif

/* A hint to fetch the cache line holding p; nothing where unsupported. */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

#if defined(VAE_MALLOC) != defined(VAE_FREE)
#error "define both VAE_MALLOC and VAE_FREE, or neither"
#endif
#ifndef VAE_MALLOC
#define VAE_MALLOC(n) malloc(n)
#define VAE_FREE(p) free(p)
#endif

#define VAE_CHECKPOINT_VERSION 1u
/* Evaluation pushes at least this many decoder rows through at once, so that
   a model trained with small batches still evaluates with efficient GEMMs. */
#define VAE_EVAL_ROWS 256
#define VAE_LEAKY_SLOPE 0.01f

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* ---- fast, vectorisable math ---------------------------------------------

   exp: round x / ln 2 to n with the 1.5 * 2^23 trick (which also leaves n in
   the low mantissa bits, so no float-to-int conversion can overflow on NaN),
   reduce with a two-part ln 2, a degree-6 polynomial on [-ln2/2, ln2/2],
   then scale by 2^n built from bits. The clamp keeps 2^n a normal float;
   NaN passes through the clamps (comparisons are false) and comes out NaN. */
static inline float fast_exp(float x)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    float t, n, r, p, scale;
    uint32_t ti, si;
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    t = x * 1.44269504088896341f + shift;
    n = t - shift;
    r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    memcpy(&ti, &t, sizeof ti);
    si = (ti - 0x4b400000u + 127u) << 23; /* n + 127 in the exponent field */
    memcpy(&scale, &si, sizeof scale);
    return p * scale;
}

/* log(1 + e) for e in [0, 1]: with s = e / (2 + e) <= 1/3, log(1 + e) =
   2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...); eight terms leave an error below
   1e-9, and there is no cancellation when e is tiny. */
static inline float log1p_unit(float e)
{
    float s = e / (2.0f + e), s2 = s * s, p;
    p = 1.0f / 15.0f;
    p = p * s2 + 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    p = p * s2 + 1.0f;
    return 2.0f * s * p;
}

/* tanh: an odd polynomial near 0, where 1 - 2/(e^2x + 1) would cancel;
   beyond, the exponential form, which saturates cleanly to +-1. */
static inline float fast_tanh(float x)
{
    float ax = fabsf(x), s = x * x, small, big;
    small = -5.70498872745e-3f;
    small = small * s + 2.06390887954e-2f;
    small = small * s - 5.37397155531e-2f;
    small = small * s + 1.33314422036e-1f;
    small = small * s - 3.33332819422e-1f;
    small = small * s * x + x;
    big = 1.0f - 2.0f / (fast_exp(2.0f * ax) + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

static inline float fast_sigmoid(float x)
{
    float e = fast_exp(-fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* ---- GEMM -----------------------------------------------------------------

   C (m, n) = op(A) (m, k) * op(B) (k, n), row-major, with op(X) = X or X^T.
   C is only written, never read first (it may hold NaN). No alpha or beta:
   the model needs neither, and without them the store is a plain copy.

   The layout is the classic one of GotoBLAS/BLIS: B is packed, KC rows by
   NC columns at a time, into panels NR columns wide; A, MC rows by KC at a
   time, into panels MR rows tall; both zero-padded to whole panels. The
   micro-kernel then multiplies an MR x KC panel by a KC x NR panel with
   MR x NR accumulators that the compiler keeps in vector registers.

   Packing only rearranges, and where it would not pay the micro-kernel
   reads an operand in place instead: MR rows of A, MR columns of A^T or NR
   columns of B, a stride apart (B^T must always be packed, and so must the
   ragged last panels). See gemm_blocked for when.

   Each C element is summed in the same order whatever the tiling of
   threads, so results do not depend on the thread count. */

/* Tile sizes measured on an AVX-512 Xeon with gcc 12 and clang 14; 10 rows
   also divide the batch sizes (20) and widths (200, 100) used most. */
#if defined(__AVX512F__)
#define GEMM_MR 10
#define GEMM_NR 32
#elif defined(__AVX__)
#define GEMM_MR 6
#define GEMM_NR 16
#else
#define GEMM_MR 4
#define GEMM_NR 8
#endif
/* A B panel (KC x NR) stays in L1 while the MC / MR panels of A stream
   past it: with 32 KB of L1, KC 128 and MC 30 (16 + 15 KB) were 5% faster
   on the IWAE benchmark than MC 60, whose A panels pushed B out. */
#ifndef GEMM_KC
#define GEMM_KC 128
#endif
#ifndef GEMM_MC
#define GEMM_MC (GEMM_MR == 4 ? 32 : 30)
#endif
#if GEMM_MC % GEMM_MR
#error "GEMM_MC must be a multiple of GEMM_MR"
#endif
#define GEMM_NC 1024
#define GEMM_AHEAD 8 /* rows fetched ahead by pack_along */

#define GEMM_APACK ((size_t)GEMM_MC * GEMM_KC)
#define GEMM_BPACK ((size_t)GEMM_KC * GEMM_NC)

#ifdef VAE_TEST
/* The reference every fast path is tested against (tests define VAE_TEST
   and include this file). */
static void gemm_naive(int ta, int tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                       float *c, int ldc)
{
    int i, j, p;
    for (i = 0; i < m; i++) {
        for (j = 0; j < n; j++) {
            double s = 0.0;
            for (p = 0; p < k; p++) {
                float av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += (double)av * bv;
            }
            c[(size_t)i * ldc + j] = (float)s;
        }
    }
}
#endif

/* Packing. Both operands become panels of w values (w = MR rows of op(A),
   or NR columns of op(B)), each panel stored p-major (w values per p, kc
   of them) and zero-padded; a whole panel fills w * kc floats of out.
   An operand is stored one of two ways, and each way has its copy:
   pack_along when a panel's w values lie side by side (A^T, B), and
   pack_across when they lie a stride apart (A, B^T). */

/* Panels of x0 .. x0+xc, rows p0 .. p0+kc, of src with element (p, x) at
   src[p * ld + x]. With in_place, whole panels are left out: the
   micro-kernel reads them where they are. Rows are copied one at a time,
   each once for all panels, and rows lie a stride apart that the hardware
   prefetchers do not follow: without a hint GEMM_AHEAD rows ahead, the copy
   waited on memory for a third of the time of a weight-gradient product. */
static void pack_along(const float *src, int ld, int p0, int kc, int x0, int xc, int w, int in_place, float *out)
{
    int p, q, x;
    for (p = 0; p < kc; p++) {
        const float *row = src + (size_t)(p0 + p) * ld + x0;
        if (p + GEMM_AHEAD < kc) {
            for (x = 0; x < xc; x += 16)
                PREFETCH(row + (size_t)GEMM_AHEAD * ld + x);
            PREFETCH(row + (size_t)GEMM_AHEAD * ld + xc - 1);
        }
        for (q = 0; q < xc; q += w) {
            float *dst = out + (size_t)q * kc + (size_t)p * w;
            int width = min_int(w, xc - q);
            if (width == w) {
                if (!in_place)
                    memcpy(dst, row + q, sizeof(float) * (size_t)w);
            } else {
                memcpy(dst, row + q, sizeof(float) * (size_t)width);
                memset(dst + width, 0, sizeof(float) * (size_t)(w - width));
            }
        }
    }
}

/* The same panels from src with element (p, x) at src[x * ld + p]: a
   transpose, done in 8 x 8 blocks so that reads and writes both stay within
   a few cache lines. With in_place, whole panels are left out. */
static void pack_across(const float *src, int ld, int p0, int kc, int x0, int xc, int w, int in_place, float *out)
{
    int q, p, x;
    for (q = 0; q < xc; q += w) {
        int width = min_int(w, xc - q), xb, pb, xx, pp;
        const float *s = src + (size_t)(x0 + q) * ld + p0;
        float *dst = out + (size_t)q * kc;
        if (in_place && width == w)
            continue;
        if (width < w)
            memset(dst, 0, sizeof(float) * (size_t)w * kc);
        for (xb = 0; xb + 8 <= width; xb += 8) {
            for (pb = 0; pb + 8 <= kc; pb += 8)
                for (xx = 0; xx < 8; xx++)
                    for (pp = 0; pp < 8; pp++)
                        dst[(size_t)(pb + pp) * w + xb + xx] = s[(size_t)(xb + xx) * ld + pb + pp];
            for (pp = pb; pp < kc; pp++)
                for (xx = 0; xx < 8; xx++)
                    dst[(size_t)pp * w + xb + xx] = s[(size_t)(xb + xx) * ld + pp];
        }
        for (x = xb; x < width; x++)
            for (p = 0; p < kc; p++)
                dst[(size_t)p * w + x] = s[(size_t)x * ld + p];
    }
}

/* op(A)[i0 .. i0+mc, p0 .. p0+kc) into MR-row panels. */
static void pack_a(int ta, int in_place, const float *a, int lda, int i0, int mc, int p0, int kc, float *out)
{
    if (ta)
        pack_along(a, lda, p0, kc, i0, mc, GEMM_MR, in_place, out);
    else
        pack_across(a, lda, p0, kc, i0, mc, GEMM_MR, in_place, out);
}

/* op(B)[p0 .. p0+kc, j0 .. j0+nc) into NR-column panels. */
static void pack_b(int tb, int in_place, const float *b, int ldb, int p0, int kc, int j0, int nc, float *out)
{
    if (tb)
        pack_across(b, ldb, p0, kc, j0, nc, GEMM_NR, 0, out);
    else
        pack_along(b, ldb, p0, kc, j0, nc, GEMM_NR, in_place, out);
}

/* c (MR x NR tile, row stride ldc) = a * b, or += with add, for b: kc rows
   of NR values, bs floats apart (NR when packed), and a: MR x kc values,
   element (i, p) at a[i * ROW + p * STEP]. The j loop outside the i loop,
   over one flat accumulator array, is the form that both gcc and clang turn
   into MR x (NR / vector width) register accumulators with broadcast FMAs;
   other arrangements of the same arithmetic were 2-5x slower with one
   compiler or the other. The first step sets the accumulators (zeroing them
   first, gcc called memset and then ignored it); kc >= 1 always. Always a
   whole tile: edge tiles go through a buffer (gemm_edge), so this loop is
   the only one that must be fast.

   The body is written once, as a macro, for the two layouts of A: panels,
   whose MR values per step are side by side (packed, or A^T in place), and
   rows of A in place, one stride apart. Given the layout at run time
   instead, clang computed ten addresses at every step. */
#define GEMM_MICRO(name, ROW, STEP)                                            \
    static void name(int kc, const float *restrict a, size_t ld, const float *restrict b, size_t bs, \
                     float *restrict c, int ldc, int add)                      \
    {                                                                          \
        float t[GEMM_MR * GEMM_NR];                                            \
        int i, j, p;                                                           \
        for (j = 0; j < GEMM_NR; j++) {                                        \
            const float bj = b[j];                                             \
            for (i = 0; i < GEMM_MR; i++)                                      \
                t[i * GEMM_NR + j] = a[i * (ROW)] * bj;                        \
        }                                                                      \
        for (p = 1; p < kc; p++) {                                             \
            const float *restrict bp = b + p * bs;                             \
            const float *restrict ap = a + p * (STEP);                         \
            for (j = 0; j < GEMM_NR; j++) {                                    \
                const float bj = bp[j];                                        \
                for (i = 0; i < GEMM_MR; i++)                                  \
                    t[i * GEMM_NR + j] += ap[i * (ROW)] * bj;                  \
            }                                                                  \
        }                                                                      \
        if (add) {                                                             \
            for (i = 0; i < GEMM_MR; i++)                                      \
                for (j = 0; j < GEMM_NR; j++)                                  \
                    c[(size_t)i * ldc + j] += t[i * GEMM_NR + j];              \
        } else {                                                               \
            for (i = 0; i < GEMM_MR; i++)                                      \
                for (j = 0; j < GEMM_NR; j++)                                  \
                    c[(size_t)i * ldc + j] = t[i * GEMM_NR + j];               \
        }                                                                      \
    }

GEMM_MICRO(gemm_micro, 1, ld)      /* panel: MR values a step, steps ld apart */
GEMM_MICRO(gemm_micro_rows, ld, 1) /* MR rows of A, ld apart */

/* An edge tile, rows x cols of it in c: computed whole into a buffer. */
static void gemm_edge(int by_rows, int kc, const float *a, size_t ld, const float *b, size_t bs, float *c,
                      int ldc, int rows, int cols, int add)
{
    float t[GEMM_MR * GEMM_NR];
    int i, j;
    if (by_rows)
        gemm_micro_rows(kc, a, ld, b, bs, t, GEMM_NR, 0);
    else
        gemm_micro(kc, a, ld, b, bs, t, GEMM_NR, 0);
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            c[(size_t)i * ldc + j] = add ? c[(size_t)i * ldc + j] + t[i * GEMM_NR + j] : t[i * GEMM_NR + j];
}

/* apack: GEMM_APACK floats for each of `threads` threads; bpack: GEMM_BPACK
   floats. Threads share the packed B block and each packs and multiplies
   whole MC-row blocks of A, so every C tile has one owner. */
static void gemm_blocked(float *apack, int threads, float *bpack, int ta, int tb, int m, int n, int k,
                         const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    int jc, pc;
    /* In place, an operand costs no copy but is read from a strided,
       unaligned layout (B's rows then often straddle cache lines), from
       more cache lines than packed. That pays where a packed panel would be
       used only a few times (few panels of the other operand) or the panels
       are short enough to stay in L1 anyway (small k). Rows of A always
       pay, as their transposing copy is the dearest: A^T in place touches
       a new cache line at every step, MR rows of A one each per 16 steps. */
    int a_in_place = !ta || k <= 32 || n <= 2 * GEMM_NR;
    int b_in_place = !tb && (k <= 32 || m <= 4 * GEMM_MR);
    (void)threads; /* used only by the OpenMP pragma */
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        int i;
        for (i = 0; i < m; i++)
            memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof *c);
        return;
    }
    for (jc = 0; jc < n; jc += GEMM_NC) {
        int nc = min_int(GEMM_NC, n - jc);
        int npanels = (nc + GEMM_NR - 1) / GEMM_NR;
        for (pc = 0; pc < k; pc += GEMM_KC) {
            int kc = min_int(GEMM_KC, k - pc), ic;
            int add = pc > 0; /* later K blocks accumulate */
            pack_b(tb, b_in_place, b, ldb, pc, kc, jc, nc, bpack);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) \
    if (threads > 1 && m > GEMM_MC && (double)m * nc * kc >= 8.0 * OMP_MIN_WORK)
#endif
            for (ic = 0; ic < m; ic += GEMM_MC) {
                int mc = min_int(GEMM_MC, m - ic);
                int mpanels = (mc + GEMM_MR - 1) / GEMM_MR, t;
#ifdef _OPENMP
                float *ap = apack + (size_t)omp_get_thread_num() * GEMM_APACK;
#else
                float *ap = apack;
#endif
                pack_a(ta, a_in_place, a, lda, ic, mc, pc, kc, ap);
                for (t = 0; t < npanels * mpanels; t++) {
                    int jr = t / mpanels, ir = t % mpanels;
                    int i = ir * GEMM_MR, j = jr * GEMM_NR;
                    int rows = min_int(GEMM_MR, mc - i), cols = min_int(GEMM_NR, nc - j);
                    int a_direct = a_in_place && rows == GEMM_MR, b_direct = b_in_place && cols == GEMM_NR;
                    int by_rows = a_direct && !ta;
                    const float *pa = !a_direct ? ap + (size_t)i * kc
                                      : ta ? a + (size_t)pc * lda + ic + i : a + (size_t)(ic + i) * lda + pc;
                    const float *pb = b_direct ? b + (size_t)pc * ldb + jc + j : bpack + (size_t)j * kc;
                    size_t as = a_direct ? (size_t)lda : GEMM_MR, bs = b_direct ? (size_t)ldb : GEMM_NR;
                    float *ct = c + (size_t)(ic + i) * ldc + jc + j;
                    if (rows < GEMM_MR || cols < GEMM_NR)
                        gemm_edge(by_rows, kc, pa, as, pb, bs, ct, ldc, rows, cols, add);
                    else if (by_rows)
                        gemm_micro_rows(kc, pa, as, pb, bs, ct, ldc, add);
                    else
                        gemm_micro(kc, pa, as, pb, bs, ct, ldc, add);
                }
            }
        }
    }
}

/* ---- the kernel table -----------------------------------------------------

   What a backend implements. Tensors are vae_ref offsets, in floats, into
   the backend's one block of memory. Shapes are in the comments: rows first. */

typedef size_t vae_ref;
#define NO_REF ((vae_ref)-1)

enum { ACT_NONE = 100, ACT_SIGMOID };

typedef struct {
    /* Creates the backend's memory of n floats, uninitialised; NULL when out
       of memory. */
    void *(*create)(size_t n);
    void (*destroy)(void *dev);
    void (*write)(void *dev, vae_ref dst, const float *src, size_t n);
    void (*read)(void *dev, vae_ref src, float *dst, size_t n);
    void (*zero)(void *dev, vae_ref dst, size_t n);
    /* c = op(a) op(b), as gemm_blocked. */
    void (*gemm)(void *dev, int ta, int tb, int m, int n, int k, vae_ref a, int lda, vae_ref b, int ldb,
                 vae_ref c, int ldc);
    /* y (rows, cols) = act(y + bias (cols)). */
    void (*bias_act)(void *dev, vae_ref y, vae_ref bias, int rows, int cols, int act);
    /* dy (rows, cols) *= scale (rows, or NO_REF for none) * act'(.) given
       the output y; dbias (cols) = column sums of the result. */
    void (*act_backward)(void *dev, vae_ref dy, vae_ref y, vae_ref scale, vae_ref dbias, int rows, int cols,
                         int act);
    /* stats (n, 2Z) = [mu | logvar]; std (n, Z) = exp(logvar / 2); for rows
       r = b*k + i: z (R, Z) = mu_b + std_b eps_r, and
       prior (R) = log p(z_r) - log q(z_r | x_b). */
    void (*latent)(void *dev, vae_ref stats, vae_ref eps, vae_ref std, vae_ref z, vae_ref prior, int n, int k,
                   int zdim);
    /* logw (R) = prior + sum_d x_d l_d - softplus(l_d) over the logits
       l = raw (R, D) + bias (D) and x (n, D) (image r / k for row r). With
       grad, raw is replaced by sigmoid(l) - x, the gradient of -log p(x|z).
       Adding the output bias here saves a pass over the largest tensor. */
    void (*bernoulli)(void *dev, vae_ref raw, vae_ref bias, vae_ref x, vae_ref prior, vae_ref logw, int n,
                      int k, int d, int grad);
    /* bound (n) per image from logw (n*k): the mean (ELBO) or
       logsumexp - log k (IWAE); coef (n*k) = d(-mean bound)/d(-logw). */
    void (*combine)(void *dev, vae_ref logw, vae_ref bound, vae_ref coef, int n, int k, int iwae);
    /* The rows whose coef (rows) is not zero, in order: their indices into
       keep (rows, as int32); returns their count. */
    int (*select_rows)(void *dev, vae_ref coef, int rows, vae_ref keep);
    /* dst row j = src row keep[j] for j < count, rows of width floats; dst
       may be src. */
    void (*gather_rows)(void *dev, vae_ref dst, vae_ref src, vae_ref keep, int count, int width);
    /* The inverse in place: x row keep[j] = x row j for j < count, and the
       other rows of x's `rows` zero. */
    void (*scatter_rows)(void *dev, vae_ref x, vae_ref keep, int count, int rows, int width);
    /* Gradient of the loss for mu and logvar, (n, 2Z), from dz (R, Z), which
       gets the prior's share added first. */
    void (*latent_backward)(void *dev, vae_ref dz, vae_ref z, vae_ref eps, vae_ref std, vae_ref coef,
                            vae_ref dstats, int n, int k, int zdim);
    /* 1 when every x[0..n) is finite. */
    int (*all_finite)(void *dev, vae_ref x, size_t n);
    /* One Adam or Adamax step on n parameters; t is the step number from 1. */
    void (*adam)(void *dev, vae_ref p, vae_ref g, vae_ref m1, vae_ref m2, size_t n, float lr, float b1,
                 float b2, float eps, long t, int adamax);
} kernels;

/* ---- CPU backend ---------------------------------------------------------- */

typedef struct {
    float *mem;
    float *bpack;  /* GEMM_BPACK */
    float *apack;  /* GEMM_APACK per thread */
    int threads;   /* threads the packing buffers were sized for */
} cpu_dev;

static void *cpu_create(size_t n)
{
    cpu_dev *d = VAE_MALLOC(sizeof *d);
    if (!d)
        return NULL;
    d->mem = n <= SIZE_MAX / sizeof(float) ? VAE_MALLOC(n * sizeof(float)) : NULL;
    d->bpack = VAE_MALLOC(GEMM_BPACK * sizeof(float));
    d->threads = OMP_MAX_THREADS();
    d->apack = VAE_MALLOC(GEMM_APACK * sizeof(float) * (size_t)d->threads);
    if (!d->mem || !d->bpack || !d->apack) {
        VAE_FREE(d->mem);
        VAE_FREE(d->bpack);
        VAE_FREE(d->apack);
        VAE_FREE(d);
        return NULL;
    }
    return d;
}

static void cpu_destroy(void *dev)
{
    cpu_dev *d = dev;
    if (!d)
        return;
    VAE_FREE(d->mem);
    VAE_FREE(d->bpack);
    VAE_FREE(d->apack);
    VAE_FREE(d);
}

#define MEM(ref) (((cpu_dev *)dev)->mem + (ref))

static void cpu_write(void *dev, vae_ref dst, const float *src, size_t n)
{
    memcpy(MEM(dst), src, n * sizeof(float));
}

static void cpu_read(void *dev, vae_ref src, float *dst, size_t n)
{
    memcpy(dst, MEM(src), n * sizeof(float));
}

static void cpu_zero(void *dev, vae_ref dst, size_t n)
{
    memset(MEM(dst), 0, n * sizeof(float));
}

static void cpu_gemm(void *dev, int ta, int tb, int m, int n, int k, vae_ref a, int lda, vae_ref b, int ldb,
                     vae_ref c, int ldc)
{
    cpu_dev *d = dev;
    /* Never more threads than there are packing buffers, even if the
       caller raised the thread count after the model was made. */
    int threads = min_int(d->threads, OMP_MAX_THREADS());
    gemm_blocked(d->apack, threads, d->bpack, ta, tb, m, n, k, MEM(a), lda, MEM(b), ldb, MEM(c), ldc);
}

static void cpu_bias_act(void *dev, vae_ref y, vae_ref bias, int rows, int cols, int act)
{
    const float *b = MEM(bias);
    float *out = MEM(y);
    int r;
    OMP_FOR_IF((size_t)rows * cols >= OMP_MIN_WORK)
    for (r = 0; r < rows; r++) {
        float *row = out + (size_t)r * cols;
        int c;
        /* One loop per activation so that each one vectorises. */
        switch (act) {
        case VAE_TANH:
            for (c = 0; c < cols; c++) row[c] = fast_tanh(row[c] + b[c]);
            break;
        case VAE_RELU:
            for (c = 0; c < cols; c++) {
                float v = row[c] + b[c];
                row[c] = v > 0.0f ? v : 0.0f;
            }
            break;
        case VAE_LEAKY_RELU:
            for (c = 0; c < cols; c++) {
                float v = row[c] + b[c];
                row[c] = v > 0.0f ? v : VAE_LEAKY_SLOPE * v;
            }
            break;
        case ACT_SIGMOID:
            for (c = 0; c < cols; c++) row[c] = fast_sigmoid(row[c] + b[c]);
            break;
        default:
            for (c = 0; c < cols; c++) row[c] += b[c];
        }
    }
}

static void cpu_act_backward(void *dev, vae_ref dy, vae_ref y, vae_ref scale, vae_ref dbias, int rows, int cols,
                             int act)
{
    float *g = MEM(dy), *db = MEM(dbias);
    const float *out = MEM(y), *sc = scale == NO_REF ? NULL : MEM(scale);
    int c0;
    /* Threads own column blocks, so each bias sum has one owner and order.
       The sums live in a local array, which the compiler knows no row
       pointer can reach: one fused pass per row instead of three. */
    OMP_FOR_IF((size_t)rows * cols >= OMP_MIN_WORK)
    for (c0 = 0; c0 < cols; c0 += 64) {
        float sum[64] = {0};
        int w = min_int(cols - c0, 64), r, c;
        for (r = 0; r < rows; r++) {
            float *restrict gr = g + (size_t)r * cols + c0;
            const float *restrict yr = out + (size_t)r * cols + c0;
            const float f = sc ? sc[r] : 1.0f;
            switch (act) {
            case VAE_TANH:
                for (c = 0; c < w; c++) {
                    float v = f * gr[c] * (1.0f - yr[c] * yr[c]);
                    gr[c] = v;
                    sum[c] += v;
                }
                break;
            case VAE_RELU:
                for (c = 0; c < w; c++) {
                    float v = yr[c] > 0.0f ? f * gr[c] : 0.0f;
                    gr[c] = v;
                    sum[c] += v;
                }
                break;
            case VAE_LEAKY_RELU:
                for (c = 0; c < w; c++) {
                    float v = f * gr[c];
                    v = yr[c] > 0.0f ? v : VAE_LEAKY_SLOPE * v;
                    gr[c] = v;
                    sum[c] += v;
                }
                break;
            default:
                for (c = 0; c < w; c++) {
                    float v = f * gr[c];
                    gr[c] = v;
                    sum[c] += v;
                }
            }
        }
        for (c = 0; c < w; c++)
            db[c0 + c] = sum[c];
    }
}

static void cpu_latent(void *dev, vae_ref stats, vae_ref eps, vae_ref std, vae_ref z, vae_ref prior, int n,
                       int k, int zdim)
{
    const float *st = MEM(stats), *e = MEM(eps);
    float *sd = MEM(std), *zz = MEM(z), *pr = MEM(prior);
    int b;
    OMP_FOR_IF((size_t)n * k * zdim >= OMP_MIN_WORK)
    for (b = 0; b < n; b++) {
        const float *mu = st + (size_t)b * 2 * zdim, *lv = mu + zdim;
        float *sb = sd + (size_t)b * zdim;
        int i, j;
        for (j = 0; j < zdim; j++)
            sb[j] = expf(0.5f * lv[j]);
        for (i = 0; i < k; i++) {
            size_t r = (size_t)b * k + i;
            const float *er = e + r * zdim;
            float *zr = zz + r * zdim, s = 0.0f;
            /* log p(z) - log q(z|x) = sum -z^2/2 + eps^2/2 + logvar/2: the
               log(2 pi) terms cancel, and log q is exact in terms of eps. */
            for (j = 0; j < zdim; j++) {
                zr[j] = mu[j] + sb[j] * er[j];
                s += 0.5f * (er[j] * er[j] + lv[j] - zr[j] * zr[j]);
            }
            pr[r] = s;
        }
    }
}

/* Lanes for sums that must vectorise without reassociating: each lane is
   its own accumulator, and the lanes are added in a fixed order at the end. */
#define LANES 16

static void cpu_bernoulli(void *dev, vae_ref raw, vae_ref bias, vae_ref x, vae_ref prior, vae_ref logw, int n,
                          int k, int d, int grad)
{
    float *l = MEM(raw), *lw = MEM(logw);
    const float *xs = MEM(x), *pr = MEM(prior), *b = MEM(bias);
    int r;
    OMP_FOR_IF((size_t)n * k * d >= OMP_MIN_WORK)
    for (r = 0; r < n * k; r++) {
        float *lr = l + (size_t)r * d;
        const float *xr = xs + (size_t)(r / k) * d;
        float acc[LANES] = {0};
        float s = 0.0f;
        int c0, c, j;
        /* log p(x|z) = sum x l - softplus(l), softplus(l) = max(l, 0) +
           log1p(exp(-|l|)): never an exp of a positive number, never a log
           of a probability, so no clamp is needed anywhere. */
        for (c0 = 0; c0 + LANES <= d; c0 += LANES) {
            for (j = 0; j < LANES; j++) {
                float v = lr[c0 + j] + b[c0 + j], e = fast_exp(-fabsf(v));
                float sp = (v > 0.0f ? v : 0.0f) + log1p_unit(e);
                acc[j] += xr[c0 + j] * v - sp;
                if (grad)
                    lr[c0 + j] = (v >= 0.0f ? 1.0f : e) / (1.0f + e) - xr[c0 + j];
            }
        }
        for (c = c0; c < d; c++) {
            float v = lr[c] + b[c], e = fast_exp(-fabsf(v));
            s += xr[c] * v - ((v > 0.0f ? v : 0.0f) + log1p_unit(e));
            if (grad)
                lr[c] = (v >= 0.0f ? 1.0f : e) / (1.0f + e) - xr[c];
        }
        for (j = 0; j < LANES; j++)
            s += acc[j];
        lw[r] = pr[r] + s;
    }
}

static void cpu_combine(void *dev, vae_ref logw, vae_ref bound, vae_ref coef, int n, int k, int iwae)
{
    const float *lw = MEM(logw);
    float *bd = MEM(bound), *cf = MEM(coef);
    int b, i;
    for (b = 0; b < n; b++) {
        const float *w = lw + (size_t)b * k;
        float *c = cf + (size_t)b * k;
        if (!iwae) {
            double s = 0.0;
            for (i = 0; i < k; i++) {
                s += w[i];
                c[i] = 1.0f / ((float)n * k);
            }
            bd[b] = (float)(s / k);
        } else {
            /* logsumexp: subtract the max so that exp cannot overflow; the
               normalised weights are the softmax of log w. */
            double mx = w[0], s = 0.0;
            for (i = 1; i < k; i++)
                mx = w[i] > mx ? w[i] : mx;
            for (i = 0; i < k; i++)
                s += exp(w[i] - mx);
            bd[b] = (float)(mx + log(s) - log((double)k));
            /* A sample whose weight is below 2^-60 of the total changes no
               float gradient; dropping it keeps its rows of the backward
               pass out of the denormal range, where x86 FMAs are ~100x
               slower (IWAE weights of e^-100 are common early on). */
            for (i = 0; i < k; i++) {
                double wt = exp(w[i] - mx) / s;
                c[i] = wt < 0x1p-60 ? 0.0f : (float)(wt / n);
            }
        }
    }
}

/* keep holds int32 indices: memory from malloc takes the type it is
   written with, and this region is only ever written and read as int32. */
static int cpu_select_rows(void *dev, vae_ref coef, int rows, vae_ref keep)
{
    const float *cf = MEM(coef);
    int32_t *kp = (int32_t *)MEM(keep);
    int r, count = 0;
    for (r = 0; r < rows; r++)
        if (cf[r] != 0.0f)
            kp[count++] = r;
    return count;
}

static void cpu_gather_rows(void *dev, vae_ref dst, vae_ref src, vae_ref keep, int count, int width)
{
    const int32_t *kp = (const int32_t *)MEM(keep);
    float *d = MEM(dst);
    const float *s = MEM(src);
    size_t w = (size_t)width;
    int j;
    for (j = 0; j < count; j++)
        if (dst != src || kp[j] != j)
            memcpy(d + j * w, s + (size_t)kp[j] * w, w * sizeof *d);
}

static void cpu_scatter_rows(void *dev, vae_ref x, vae_ref keep, int count, int rows, int width)
{
    const int32_t *kp = (const int32_t *)MEM(keep);
    float *v = MEM(x);
    size_t w = (size_t)width;
    int j, r;
    /* keep[j] >= j: from the last row down, no row is overwritten before
       it has moved */
    for (j = count - 1; j >= 0; j--)
        if (kp[j] != j)
            memcpy(v + (size_t)kp[j] * w, v + j * w, w * sizeof *v);
    for (r = 0, j = 0; r < rows; r++) {
        if (j < count && kp[j] == r)
            j++;
        else
            memset(v + r * w, 0, w * sizeof *v);
    }
}

static void cpu_latent_backward(void *dev, vae_ref dz, vae_ref z, vae_ref eps, vae_ref std, vae_ref coef,
                                vae_ref dstats, int n, int k, int zdim)
{
    float *g = MEM(dz), *ds = MEM(dstats);
    const float *zz = MEM(z), *e = MEM(eps), *sd = MEM(std), *cf = MEM(coef);
    int b;
    OMP_FOR_IF((size_t)n * k * zdim >= OMP_MIN_WORK)
    for (b = 0; b < n; b++) {
        const float *sb = sd + (size_t)b * zdim;
        float *dmu = ds + (size_t)b * 2 * zdim, *dlv = dmu + zdim;
        int i, j;
        for (j = 0; j < zdim; j++)
            dmu[j] = dlv[j] = 0.0f;
        for (i = 0; i < k; i++) {
            size_t r = (size_t)b * k + i;
            float *gr = g + r * zdim;
            const float *zr = zz + r * zdim, *er = e + r * zdim;
            for (j = 0; j < zdim; j++) {
                /* The prior's -z^2/2 adds coef * z to the loss gradient; the
                   +logvar/2 of -log q adds -coef/2 to logvar's. */
                gr[j] += cf[r] * zr[j];
                dmu[j] += gr[j];
                dlv[j] += 0.5f * (gr[j] * sb[j] * er[j] - cf[r]);
            }
        }
    }
}

static int cpu_all_finite(void *dev, vae_ref x, size_t n)
{
    const float *v = MEM(x);
    float acc[LANES] = {0};
    size_t i;
    int j;
    /* v * 0 is 0 for finite v and NaN for inf or NaN, and NaN sticks. */
    for (i = 0; i + LANES <= n; i += LANES)
        for (j = 0; j < LANES; j++)
            acc[j] += v[i + j] * 0.0f;
    for (; i < n; i++)
        acc[0] += v[i] * 0.0f;
    for (j = 0; j < LANES; j++)
        if (acc[j] != 0.0f)
            return 0;
    return 1;
}

static void cpu_adam(void *dev, vae_ref p, vae_ref g, vae_ref m1, vae_ref m2, size_t n, float lr, float b1,
                     float b2, float eps, long t, int adamax)
{
    float *w = MEM(p), *mm = MEM(m1), *vv = MEM(m2);
    const float *gg = MEM(g);
    /* PyTorch's formulation, so that runs can be compared with it: Adam
       divides by sqrt(v / (1 - b2^t)) + eps, Adamax by max(b2 u, |g| + eps). */
    float c1 = 1.0f - (float)pow(b1, (double)t);
    float c2 = (float)sqrt(1.0 - pow(b2, (double)t));
    float step = lr / c1;
    ptrdiff_t i, nn = (ptrdiff_t)n; /* OpenMP wants a signed counter */
    /* Moments of a weight whose gradient is mostly zero (a border pixel's)
       decay geometrically into the denormal range, where x86 arithmetic is
       ~100x slower; below 1e-30 they are flushed to 0, which changes no
       update by more than 1e-26 of a step (v: by 1e-4 of eps at most). */
    const float tiny = 1e-30f;
    /* sqrt(v) must stay far below eps for a flushed v to change nothing */
    const float vtiny = eps * 1e-4f < 1e-15f ? (eps * 1e-4f) * (eps * 1e-4f) : tiny;
    if (!adamax) {
    OMP_FOR_IF(n >= OMP_MIN_WORK)
        for (i = 0; i < nn; i++) {
            float gi = gg[i];
            float mi = b1 * mm[i] + (1.0f - b1) * gi;
            float vi = b2 * vv[i] + (1.0f - b2) * gi * gi;
            mi = fabsf(mi) < tiny ? 0.0f : mi;
            vi = vi < vtiny ? 0.0f : vi;
            mm[i] = mi;
            vv[i] = vi;
            w[i] -= step * mi / (sqrtf(vi) / c2 + eps);
        }
    } else {
    OMP_FOR_IF(n >= OMP_MIN_WORK)
        for (i = 0; i < nn; i++) {
            float gi = gg[i], u = fabsf(gi) + eps, bu = b2 * vv[i];
            float mi = b1 * mm[i] + (1.0f - b1) * gi;
            mi = fabsf(mi) < tiny ? 0.0f : mi;
            mm[i] = mi;
            vv[i] = bu > u ? bu : u;
            w[i] -= step * mi / vv[i];
        }
    }
}

#undef MEM

static const kernels cpu_kernels = {
    cpu_create, cpu_destroy, cpu_write, cpu_read, cpu_zero, cpu_gemm, cpu_bias_act, cpu_act_backward,
    cpu_latent, cpu_bernoulli, cpu_combine, cpu_select_rows, cpu_gather_rows, cpu_scatter_rows,
    cpu_latent_backward, cpu_all_finite, cpu_adam,
};

/* ---- the model ------------------------------------------------------------ */

typedef struct {
    int in, out;
    vae_ref w, b;  /* weight (out, in), bias (out); gradients sit n_params later */
} layer;

typedef struct {
    char name[32];
    vae_ref ref;
    int ndim, shape[2];
} tensor;

#define MAX_LAYERS (VAE_MAX_HIDDEN + 1)
#define MAX_TENSORS (4 * MAX_LAYERS)

struct vae {
    vae_config cfg;
    int usable;              /* 0: create or load failed; only the message is valid */
    char error[256];
    const kernels *k;
    void *dev;
    size_t n_params;         /* params at 0, grads, Adam m, Adam v follow */
    double layout_floats;    /* what layout() summed, counted in double */
    long steps;
    vae_rng rng;
    int b_cap, r_cap;        /* images and decoder rows the buffers hold */

    int n_enc, n_dec;        /* layers: encoder hidden + heads, decoder hidden + output */
    layer enc[MAX_LAYERS], dec[MAX_LAYERS];
    int n_tensors;
    tensor tensors[MAX_TENSORS];

    /* activations (rows, width) and their gradients */
    vae_ref x;               /* (b_cap, D) */
    vae_ref enc_h[MAX_LAYERS]; /* hidden outputs; the last is stats (b_cap, 2Z) = [mu | logvar] */
    vae_ref eps, z;          /* (r_cap, Z) */
    vae_ref std;             /* (b_cap, Z): exp(logvar / 2) */
    vae_ref prior, logw, coef; /* (r_cap) */
    vae_ref bound;           /* (b_cap) */
    vae_ref dec_h[MAX_LAYERS]; /* hidden outputs; the last is logits (r_cap, D) */
    vae_ref dwork[2];        /* (r_cap, max width): ping-pong gradients */
    vae_ref dz;              /* (r_cap, Z) */
    vae_ref keep;            /* (r_cap) int32: rows the decoder's backward pass needs */
    vae_ref z_kept, coef_kept; /* (r_cap, Z), (r_cap): z and coef of those rows */
    vae_ref dstats;          /* (b_cap, 2Z) */

    float *host;             /* r_cap * max(Z, 1) floats of host scratch */
    size_t host_len;
};

/* Sets the message; the arguments may include m->error itself, so the
   text is built aside first. */
static vae_status fail(vae *m, vae_status s, const char *fmt, ...)
{
    char msg[sizeof m->error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(m->error, msg, sizeof msg);
    return s;
}

#define REQUIRE_USABLE(m)                                                      \
    do {                                                                       \
        if (!(m))                                                              \
            return VAE_ERR_ARG;                                                \
        if (!(m)->usable)                                                      \
            return fail((m), VAE_ERR_ARG, "model was not created successfully"); \
        (m)->error[0] = '\0';                                                  \
    } while (0)

void vae_config_init(vae_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->input_dim = 784;
    cfg->latent_dim = 50;
    cfg->n_hidden = 2;
    cfg->hidden[0] = cfg->hidden[1] = 200;
    cfg->activation = VAE_TANH;
    cfg->objective = VAE_ELBO;
    cfg->k = 1;
    cfg->max_batch = 20;
    cfg->optimizer = VAE_ADAM;
    cfg->lr = 1e-3f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-4f;
    cfg->seed = 1;
}

/* Limits keep every size product far from overflow: the largest model is
   2^24 pixels by 2^16 units, and buffers are computed in size_t. */
static vae_status check_config(vae *m, const vae_config *c)
{
    int i;
    if (c->input_dim < 1 || c->input_dim > (1 << 24))
        return fail(m, VAE_ERR_ARG, "input_dim %d is not in 1..2^24", c->input_dim);
    if (c->latent_dim < 1 || c->latent_dim > (1 << 16))
        return fail(m, VAE_ERR_ARG, "latent_dim %d is not in 1..65536", c->latent_dim);
    if (c->n_hidden < 0 || c->n_hidden > VAE_MAX_HIDDEN)
        return fail(m, VAE_ERR_ARG, "n_hidden %d is not in 0..%d", c->n_hidden, VAE_MAX_HIDDEN);
    for (i = 0; i < c->n_hidden; i++)
        if (c->hidden[i] < 1 || c->hidden[i] > (1 << 16))
            return fail(m, VAE_ERR_ARG, "hidden layer %d has width %d, not in 1..65536", i + 1, c->hidden[i]);
    if (c->activation != VAE_TANH && c->activation != VAE_RELU && c->activation != VAE_LEAKY_RELU)
        return fail(m, VAE_ERR_ARG, "unknown activation %d", (int)c->activation);
    if (c->objective != VAE_ELBO && c->objective != VAE_IWAE)
        return fail(m, VAE_ERR_ARG, "unknown objective %d", (int)c->objective);
    if (c->optimizer != VAE_ADAM && c->optimizer != VAE_ADAMAX)
        return fail(m, VAE_ERR_ARG, "unknown optimizer %d", (int)c->optimizer);
    if (c->k < 1 || c->k > (1 << 20))
        return fail(m, VAE_ERR_ARG, "k = %d is not in 1..2^20", c->k);
    if (c->max_batch < 1 || c->max_batch > (1 << 20))
        return fail(m, VAE_ERR_ARG, "max_batch %d is not in 1..2^20", c->max_batch);
    if ((double)c->max_batch * c->k > (double)VAE_MAX_ROWS)
        return fail(m, VAE_ERR_ARG, "max_batch * k = %.0f is over %d rows", (double)c->max_batch * c->k,
                    VAE_MAX_ROWS);
    if (!(c->lr > 0.0f && c->lr < 1e3f))
        return fail(m, VAE_ERR_ARG, "learning rate %g is not a positive number", (double)c->lr);
    if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f))
        return fail(m, VAE_ERR_ARG, "betas must be in [0, 1)");
    if (!(c->eps > 0.0f && c->eps < 1.0f))
        return fail(m, VAE_ERR_ARG, "optimiser eps %g is not in (0, 1)", (double)c->eps);
    return VAE_OK;
}

static void add_tensor(vae *m, const char *name, vae_ref ref, int ndim, int d0, int d1)
{
    tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ref = ref;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 1;
}

/* Lays out every buffer; with m->dev NULL it only counts. Weights come
   first and all biases after them, so that the bias gradients, whose sums
   cover every pre-activation gradient, form one range to check for NaN. */
static size_t layout(vae *m)
{
    const vae_config *c = &m->cfg;
    int D = c->input_dim, Z = c->latent_dim, nh = c->n_hidden, i, maxw = 0;
    size_t off = 0, P;
    char name[32];
    m->n_enc = nh + 1;
    m->n_dec = nh + 1;
    for (i = 0; i < nh; i++) {
        m->enc[i].in = i == 0 ? D : c->hidden[i - 1];
        m->enc[i].out = c->hidden[i];
        m->dec[i].in = i == 0 ? Z : c->hidden[nh - i];
        m->dec[i].out = c->hidden[nh - 1 - i];
        maxw = max_int(maxw, c->hidden[i]);
    }
    m->enc[nh].in = nh ? c->hidden[nh - 1] : D;
    m->enc[nh].out = 2 * Z; /* mu and logvar heads as one GEMM */
    m->dec[nh].in = nh ? c->hidden[0] : Z;
    m->dec[nh].out = D;
    for (i = 0; i <= nh; i++) {
        m->enc[i].w = off;
        off += (size_t)m->enc[i].in * m->enc[i].out;
    }
    for (i = 0; i <= nh; i++) {
        m->dec[i].w = off;
        off += (size_t)m->dec[i].in * m->dec[i].out;
    }
    for (i = 0; i <= nh; i++) {
        m->enc[i].b = off;
        off += (size_t)m->enc[i].out;
    }
    for (i = 0; i <= nh; i++) {
        m->dec[i].b = off;
        off += (size_t)m->dec[i].out;
    }
    P = m->n_params = off;
    off = 4 * P;

    m->n_tensors = 0;
    for (i = 0; i < nh; i++) {
        layer *L = &m->enc[i];
        snprintf(name, sizeof name, "enc.%d.weight", i);
        add_tensor(m, name, L->w, 2, L->out, L->in);
        snprintf(name, sizeof name, "enc.%d.bias", i);
        add_tensor(m, name, L->b, 1, L->out, 1);
    }
    add_tensor(m, "enc.mu.weight", m->enc[nh].w, 2, Z, m->enc[nh].in);
    add_tensor(m, "enc.mu.bias", m->enc[nh].b, 1, Z, 1);
    add_tensor(m, "enc.logvar.weight", m->enc[nh].w + (size_t)Z * m->enc[nh].in, 2, Z, m->enc[nh].in);
    add_tensor(m, "enc.logvar.bias", m->enc[nh].b + Z, 1, Z, 1);
    for (i = 0; i < nh; i++) {
        layer *L = &m->dec[i];
        snprintf(name, sizeof name, "dec.%d.weight", i);
        add_tensor(m, name, L->w, 2, L->out, L->in);
        snprintf(name, sizeof name, "dec.%d.bias", i);
        add_tensor(m, name, L->b, 1, L->out, 1);
    }
    add_tensor(m, "dec.out.weight", m->dec[nh].w, 2, D, m->dec[nh].in);
    add_tensor(m, "dec.out.bias", m->dec[nh].b, 1, D, 1);

    m->b_cap = max_int(c->max_batch, VAE_EVAL_ROWS);
    m->r_cap = max_int(c->max_batch * c->k, VAE_EVAL_ROWS);
    /* The same sum in double: build() refuses a model whose size_t sums
       could have wrapped (32-bit size_t with a large configuration). */
    m->layout_floats = 4.0 * (double)P;
#define TAKE(ref, count) (ref = off, off += (size_t)(count), m->layout_floats += (double)(count))
    TAKE(m->x, (double)m->b_cap * D);
    for (i = 0; i <= nh; i++)
        TAKE(m->enc_h[i], (double)m->b_cap * m->enc[i].out);
    TAKE(m->eps, (double)m->r_cap * Z);
    TAKE(m->std, (double)m->b_cap * Z);
    TAKE(m->z, (double)m->r_cap * Z);
    TAKE(m->prior, m->r_cap);
    TAKE(m->logw, m->r_cap);
    TAKE(m->coef, m->r_cap);
    TAKE(m->bound, m->b_cap);
    for (i = 0; i <= nh; i++)
        TAKE(m->dec_h[i], (double)m->r_cap * m->dec[i].out);
    /* gradients of hidden outputs only: the inputs and z have their own */
    TAKE(m->dwork[0], (double)m->r_cap * maxw);
    TAKE(m->dwork[1], (double)m->r_cap * maxw);
    TAKE(m->dz, (double)m->r_cap * Z);
    TAKE(m->keep, m->r_cap);
    TAKE(m->z_kept, (double)m->r_cap * Z);
    TAKE(m->coef_kept, m->r_cap);
    TAKE(m->dstats, (double)m->b_cap * 2 * Z);
#undef TAKE
    return off;
}

/* A model object that can carry an error message, even if nothing else. */
static vae *new_model(void)
{
    vae *m = VAE_MALLOC(sizeof *m);
    if (m) {
        memset(m, 0, sizeof *m);
        m->k = &cpu_kernels;
    }
    return m;
}

/* Allocates everything for m->cfg (already checked). */
static vae_status build(vae *m)
{
    size_t total = layout(m);
    double host = (double)m->r_cap * max_int(m->cfg.latent_dim, 2);
    if (host < (double)m->b_cap * 2 * m->cfg.latent_dim)
        host = (double)m->b_cap * 2 * m->cfg.latent_dim;
    if ((m->layout_floats + host) * sizeof(float) >= (double)SIZE_MAX)
        return fail(m, VAE_ERR_NOMEM, "a model of %.0f floats does not fit in this address space",
                    m->layout_floats + host);
    m->host_len = (size_t)host;
    m->host = VAE_MALLOC(m->host_len * sizeof(float));
    m->dev = m->k->create(total);
    if (!m->host || !m->dev)
        return fail(m, VAE_ERR_NOMEM, "out of memory for a model of %.0f floats", (double)total);
    /* Parameters, gradients and moments start at zero; activations are
       always written before they are read (GEMM writes C without reading it). */
    m->k->zero(m->dev, 0, 4 * m->n_params);
    vae_rng_seed(&m->rng, m->cfg.seed);
    return VAE_OK;
}

/* PyTorch's nn.Linear initialisation: weights and biases uniform in
   +-1/sqrt(fan_in), drawn layer by layer (weights, then biases) from the
   model's generator, through the host scratch buffer. */
static void init_weights(vae *m)
{
    int i, pass, part;
    for (pass = 0; pass < 2; pass++) {
        const layer *L = pass == 0 ? m->enc : m->dec;
        for (i = 0; i < m->n_enc; i++) {
            float bound = 1.0f / sqrtf((float)L[i].in);
            for (part = 0; part < 2; part++) {
                size_t len = part == 0 ? (size_t)L[i].in * L[i].out : (size_t)L[i].out, done, q;
                vae_ref dst = part == 0 ? L[i].w : L[i].b;
                for (done = 0; done < len; done += m->host_len) {
                    size_t c = min_sz(m->host_len, len - done);
                    for (q = 0; q < c; q++)
                        m->host[q] = (float)((2.0 * vae_rng_uniform(&m->rng) - 1.0) * bound);
                    m->k->write(m->dev, dst + done, m->host, c);
                }
            }
        }
    }
}

vae_status vae_create(vae **out, const vae_config *cfg)
{
    vae *m;
    vae_status s;
    if (!out)
        return VAE_ERR_ARG;
    *out = m = new_model();
    if (!m)
        return VAE_ERR_NOMEM;
    if (!cfg)
        return fail(m, VAE_ERR_ARG, "no configuration given");
    if ((s = check_config(m, cfg)) != VAE_OK)
        return s;
    m->cfg = *cfg;
    if ((s = build(m)) != VAE_OK)
        return s;
    init_weights(m);
    m->usable = 1;
    return VAE_OK;
}

void vae_free(vae *m)
{
    if (!m)
        return;
    if (m->dev)
        m->k->destroy(m->dev);
    VAE_FREE(m->host);
    VAE_FREE(m);
}

const char *vae_error(const vae *m)
{
    return m ? m->error : "out of memory";
}

const vae_config *vae_get_config(const vae *m)
{
    return m ? &m->cfg : NULL;
}

long vae_steps(const vae *m)
{
    return m ? m->steps : 0;
}

vae_status vae_seed(vae *m, uint64_t seed)
{
    REQUIRE_USABLE(m);
    vae_rng_seed(&m->rng, seed);
    return VAE_OK;
}

/* ---- forward and backward ---------------------------------------------- */

static void linear_forward(vae *m, const layer *L, vae_ref in, vae_ref out, int rows, int act)
{
    /* out (rows, L->out) = act(in (rows, L->in) W^T + b) */
    m->k->gemm(m->dev, 0, 1, rows, L->out, L->in, in, L->in, L->w, L->in, out, L->out);
    m->k->bias_act(m->dev, out, L->b, rows, L->out, act);
}

/* Given d(out) in dout (rows, L->out), times scale per row unless scale is
   NO_REF, which it overwrites with the pre-activation gradient, writes the
   weight and bias gradients and, unless din is NO_REF, d(in) (rows, L->in). */
static void linear_backward(vae *m, const layer *L, vae_ref in, vae_ref out, vae_ref dout, vae_ref scale,
                            vae_ref din, int rows, int act)
{
    size_t P = m->n_params;
    m->k->act_backward(m->dev, dout, out, scale, L->b + P, rows, L->out, act);
    /* dW (out, in) = dout^T (out, rows) in (rows, in) */
    m->k->gemm(m->dev, 1, 0, L->out, L->in, rows, dout, L->out, in, L->in, L->w + P, L->in);
    if (din != NO_REF)
        m->k->gemm(m->dev, 0, 0, rows, L->in, L->out, dout, L->out, L->w, L->in, din, L->in);
}

static void encode(vae *m, int n)
{
    int i, act = m->cfg.activation;
    vae_ref in = m->x;
    for (i = 0; i < m->n_enc; i++) {
        linear_forward(m, &m->enc[i], in, m->enc_h[i], n, i == m->n_enc - 1 ? ACT_NONE : act);
        in = m->enc_h[i];
    }
}

/* Decodes rows of m->z: to probabilities with probs, else to logits less
   the output bias, which the likelihood kernel adds as it reads them. */
static void decode(vae *m, int rows, int probs)
{
    int i, act = m->cfg.activation, last = m->n_dec - 1;
    const layer *L = &m->dec[last];
    vae_ref in = m->z;
    for (i = 0; i < last; i++) {
        linear_forward(m, &m->dec[i], in, m->dec_h[i], rows, act);
        in = m->dec_h[i];
    }
    if (probs)
        linear_forward(m, L, in, m->dec_h[last], rows, ACT_SIGMOID);
    else
        m->k->gemm(m->dev, 0, 1, rows, L->out, L->in, in, L->in, L->w, L->in, m->dec_h[last], L->out);
}

/* rows x Z standard normals into dst: the caller's, or fresh draws, one
   row at a time so that the stream does not depend on how rows are split
   into passes (vae_rng_normal drops half a pair after an odd count). */
static void put_noise(vae *m, vae_ref dst, const float *eps, size_t rows)
{
    size_t Z = (size_t)m->cfg.latent_dim, per = m->host_len / Z, r0, r;
    if (eps) {
        m->k->write(m->dev, dst, eps, rows * Z);
        return;
    }
    for (r0 = 0; r0 < rows; r0 += per) {
        size_t c = min_sz(per, rows - r0);
        for (r = 0; r < c; r++)
            vae_rng_normal(&m->rng, m->host + r * Z, Z);
        m->k->write(m->dev, dst + r0 * Z, m->host, c * Z);
    }
}

/* log w for k samples of each of the n images already encoded: fills logw
   (n*k); grad leaves sigmoid - x in the logits for backward. */
static void log_weights(vae *m, int n, int k, const float *eps, int grad)
{
    int Z = m->cfg.latent_dim;
    put_noise(m, m->eps, eps, (size_t)n * k);
    m->k->latent(m->dev, m->enc_h[m->n_enc - 1], m->eps, m->std, m->z, m->prior, n, k, Z);
    decode(m, n * k, 0);
    m->k->bernoulli(m->dev, m->dec_h[m->n_dec - 1], m->dec[m->n_dec - 1].b, m->x, m->prior, m->logw, n, k,
                    m->cfg.input_dim, grad);
}

static void backward(vae *m, int n)
{
    int k = m->cfg.k, rows = n * k, i, act = m->cfg.activation, cur = 0, Z = m->cfg.latent_dim;
    int kept = m->k->select_rows(m->dev, m->coef, rows, m->keep);
    vae_ref dout, din, z = m->z, coef = m->coef;
    /* A sample whose weight in the bound is zero (IWAE weights below 2^-60
       are, see combine) adds exactly nothing to any gradient. Once trained
       a little, an IWAE with k = 50 has a third to a half of such samples:
       the decoder's backward pass, two thirds of its arithmetic, runs on the
       others only, moved up to the front. Fewer than an eighth are not worth
       the moving. */
    if (kept > rows - rows / 8) {
        kept = rows;
    } else {
        for (i = 0; i < m->n_dec; i++)
            m->k->gather_rows(m->dev, m->dec_h[i], m->dec_h[i], m->keep, kept, m->dec[i].out);
        m->k->gather_rows(m->dev, m->z_kept, m->z, m->keep, kept, Z);
        m->k->gather_rows(m->dev, m->coef_kept, m->coef, m->keep, kept, 1);
        z = m->z_kept;
        coef = m->coef_kept;
    }
    /* decoder: the logits hold sigmoid - x, to be scaled by each row's
       weight in the bound */
    dout = m->dec_h[m->n_dec - 1];
    for (i = m->n_dec - 1; i >= 0; i--) {
        int top = i == m->n_dec - 1;
        vae_ref in = i ? m->dec_h[i - 1] : z;
        din = i ? m->dwork[cur] : m->dz;
        linear_backward(m, &m->dec[i], in, m->dec_h[i], dout, top ? coef : NO_REF, din, kept,
                        top ? ACT_NONE : act);
        dout = din;
        cur ^= 1;
    }
    if (kept < rows)
        m->k->scatter_rows(m->dev, m->dz, m->keep, kept, rows, Z);
    m->k->latent_backward(m->dev, m->dz, m->z, m->eps, m->std, m->coef, m->dstats, n, k, Z);
    dout = m->dstats;
    for (i = m->n_enc - 1; i >= 0; i--) {
        vae_ref in = i ? m->enc_h[i - 1] : m->x;
        /* The input images need no gradient. */
        din = i ? m->dwork[cur] : NO_REF;
        linear_backward(m, &m->enc[i], in, m->enc_h[i], dout, NO_REF, din, n,
                        i == m->n_enc - 1 ? ACT_NONE : act);
        dout = din;
        cur ^= 1;
    }
}

static vae_status check_batch(vae *m, const float *x, int n, int cap)
{
    if (!x)
        return fail(m, VAE_ERR_ARG, "no images given");
    if (n < 1 || n > cap)
        return fail(m, VAE_ERR_ARG, "batch of %d images is not in 1..%d", n, cap);
    return VAE_OK;
}

/* Forward and backward for one batch; the mean bound goes to *bound. */
static vae_status gradient(vae *m, const float *x, int n, const float *eps, float *bound)
{
    int i, k = m->cfg.k;
    double s = 0.0;
    vae_status st = check_batch(m, x, n, m->cfg.max_batch);
    if (st != VAE_OK)
        return st;
    m->k->write(m->dev, m->x, x, (size_t)n * m->cfg.input_dim);
    encode(m, n);
    log_weights(m, n, k, eps, 1);
    m->k->combine(m->dev, m->logw, m->bound, m->coef, n, k, m->cfg.objective == VAE_IWAE);
    m->k->read(m->dev, m->bound, m->host, n);
    for (i = 0; i < n; i++)
        s += m->host[i];
    s /= n;
    if (bound)
        *bound = (float)s;
    if (!isfinite(s))
        return fail(m, VAE_ERR_NUMERIC, "the bound is not finite (%g)", s);
    backward(m, n);
    if (!m->k->all_finite(m->dev, m->n_params + m->enc[0].b, m->n_params - m->enc[0].b))
        return fail(m, VAE_ERR_NUMERIC, "a gradient is not finite");
    return VAE_OK;
}

vae_status vae_gradient(vae *m, const float *x, int n, const float *eps, float *bound)
{
    REQUIRE_USABLE(m);
    return gradient(m, x, n, eps, bound);
}

vae_status vae_train_step(vae *m, const float *x, int n, const float *eps, float *bound)
{
    const vae_config *c;
    vae_status s;
    REQUIRE_USABLE(m);
    c = &m->cfg;
    if (m->steps == LONG_MAX)
        return fail(m, VAE_ERR_ARG, "the step counter is at its limit");
    if ((s = gradient(m, x, n, eps, bound)) != VAE_OK)
        return s;
    m->steps++;
    m->k->adam(m->dev, 0, m->n_params, 2 * m->n_params, 3 * m->n_params, m->n_params, c->lr, c->beta1,
               c->beta2, c->eps, m->steps, c->optimizer == VAE_ADAMAX);
    return VAE_OK;
}

/* Calls visit(ctx, logw, count) for consecutive log-weights of k samples of
   each image, in order, for all n images: many images at once when k is
   small, chunks of one image's samples when k exceeds the buffers. */
typedef void (*logw_visitor)(void *ctx, int image, const float *logw, int count);

static vae_status each_log_weight(vae *m, const float *x, int n, int k, logw_visitor visit, void *ctx)
{
    int D = m->cfg.input_dim, b0, nb;
    int per = min_int(m->b_cap, max_int(1, m->r_cap / k)); /* images per pass */
    if (!x)
        return fail(m, VAE_ERR_ARG, "no images given");
    if (n < 1)
        return fail(m, VAE_ERR_ARG, "need at least one image, got %d", n);
    if (k < 1)
        return fail(m, VAE_ERR_ARG, "need at least one sample per image, got k = %d", k);
    for (b0 = 0; b0 < n; b0 += nb) {
        int done, c;
        nb = min_int(per, n - b0);
        m->k->write(m->dev, m->x, x + (size_t)b0 * D, (size_t)nb * D);
        encode(m, nb);
        if (k <= m->r_cap) {
            int i;
            log_weights(m, nb, k, NULL, 0);
            m->k->read(m->dev, m->logw, m->host, (size_t)nb * k);
            for (i = 0; i < nb; i++)
                visit(ctx, b0 + i, m->host + (size_t)i * k, k);
            continue;
        }
        /* One image, many samples: its encoding is reused for every chunk. */
        for (done = 0; done < k; done += c) {
            c = min_int(m->r_cap, k - done);
            log_weights(m, 1, c, NULL, 0);
            m->k->read(m->dev, m->logw, m->host, (size_t)c);
            visit(ctx, b0, m->host, c);
        }
    }
    return VAE_OK;
}

/* Streaming logsumexp and mean of each image's log-weights. */
typedef struct {
    int image;
    double max, sum;   /* logsumexp = max + log(sum) */
    double mean_sum;   /* plain sum, for the ELBO */
    int iwae, k;
    double total;      /* sum over finished images of their bound */
} reducer;

static void reducer_finish(reducer *r)
{
    if (r->image >= 0)
        r->total += r->iwae ? r->max + log(r->sum) - log((double)r->k) : r->mean_sum / r->k;
}

static void reduce_visit(void *ctx, int image, const float *logw, int count)
{
    reducer *r = ctx;
    int i;
    if (image != r->image) {
        reducer_finish(r);
        r->image = image;
        r->max = -INFINITY;
        r->sum = 0.0;
        r->mean_sum = 0.0;
    }
    for (i = 0; i < count; i++) {
        double w = logw[i];
        r->mean_sum += w;
        if (w > r->max) {
            /* rescale what was summed so far to the new max */
            r->sum = r->sum * exp(r->max - w) + 1.0;
            r->max = w;
        } else {
            r->sum += exp(w - r->max);
        }
    }
}

static vae_status reduce_bound(vae *m, const float *x, int n, int k, int iwae, double *out)
{
    reducer r;
    vae_status s;
    r.image = -1;
    r.iwae = iwae;
    r.k = k;
    r.total = 0.0;
    r.max = r.sum = r.mean_sum = 0.0;
    if ((s = each_log_weight(m, x, n, k, reduce_visit, &r)) != VAE_OK)
        return s;
    reducer_finish(&r);
    *out = r.total / n;
    if (!isfinite(*out))
        return fail(m, VAE_ERR_NUMERIC, "the bound is not finite (%g)", *out);
    return VAE_OK;
}

vae_status vae_bound(vae *m, const float *x, int n, vae_objective obj, int k, double *bound)
{
    REQUIRE_USABLE(m);
    if (!bound)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    if (obj != VAE_ELBO && obj != VAE_IWAE)
        return fail(m, VAE_ERR_ARG, "unknown objective %d", (int)obj);
    return reduce_bound(m, x, n, k, obj == VAE_IWAE, bound);
}

vae_status vae_log_likelihood(vae *m, const float *x, int n, int k, double *ll)
{
    REQUIRE_USABLE(m);
    if (!ll)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    /* log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i | x): the IWAE bound with
       k samples, which tends to log p(x) as k grows. */
    return reduce_bound(m, x, n, k, 1, ll);
}

vae_status vae_encode(vae *m, const float *x, int n, float *mu, float *logvar)
{
    int Z, b0, i, nb;
    vae_status s;
    REQUIRE_USABLE(m);
    Z = m->cfg.latent_dim;
    if ((s = check_batch(m, x, n, INT_MAX)) != VAE_OK)
        return s;
    for (b0 = 0; b0 < n; b0 += nb) {
        nb = min_int(m->b_cap, n - b0);
        m->k->write(m->dev, m->x, x + (size_t)b0 * m->cfg.input_dim, (size_t)nb * m->cfg.input_dim);
        encode(m, nb);
        m->k->read(m->dev, m->enc_h[m->n_enc - 1], m->host, (size_t)nb * 2 * Z);
        for (i = 0; i < nb; i++) {
            if (mu)
                memcpy(mu + (size_t)(b0 + i) * Z, m->host + (size_t)i * 2 * Z, Z * sizeof(float));
            if (logvar)
                memcpy(logvar + (size_t)(b0 + i) * Z, m->host + (size_t)i * 2 * Z + Z, Z * sizeof(float));
        }
    }
    return VAE_OK;
}

/* Decodes rows of z already in m->z into probs. */
static void decode_to_host(vae *m, int rows, float *probs)
{
    decode(m, rows, 1);
    m->k->read(m->dev, m->dec_h[m->n_dec - 1], probs, (size_t)rows * m->cfg.input_dim);
}

vae_status vae_decode(vae *m, const float *z, int n, float *probs)
{
    int r0, Z, rows;
    vae_status s;
    REQUIRE_USABLE(m);
    Z = m->cfg.latent_dim;
    if ((s = check_batch(m, z, n, INT_MAX)) != VAE_OK)
        return s;
    if (!probs)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    for (r0 = 0; r0 < n; r0 += rows) {
        rows = min_int(m->r_cap, n - r0);
        m->k->write(m->dev, m->z, z + (size_t)r0 * Z, (size_t)rows * Z);
        decode_to_host(m, rows, probs + (size_t)r0 * m->cfg.input_dim);
    }
    return VAE_OK;
}

vae_status vae_sample(vae *m, int n, float *probs)
{
    int r0, rows;
    REQUIRE_USABLE(m);
    if (n < 1 || !probs)
        return fail(m, VAE_ERR_ARG, "need n >= 1 and a place for the result");
    /* r0 += rows, not += r_cap: r0 never passes n, so it cannot overflow */
    for (r0 = 0; r0 < n; r0 += rows) {
        rows = min_int(m->r_cap, n - r0);
        put_noise(m, m->z, NULL, (size_t)rows);
        decode_to_host(m, rows, probs + (size_t)r0 * m->cfg.input_dim);
    }
    return VAE_OK;
}

/* ---- tensors by name ------------------------------------------------------ */

int vae_tensor_count(const vae *m)
{
    return m && m->usable ? m->n_tensors : 0;
}

vae_status vae_tensor_info(const vae *m, int i, const char **name, int *ndim, int shape[2])
{
    const tensor *t;
    if (!m || !m->usable || i < 0 || i >= m->n_tensors)
        return VAE_ERR_ARG;
    t = &m->tensors[i];
    if (name)
        *name = t->name;
    if (ndim)
        *ndim = t->ndim;
    if (shape) {
        shape[0] = t->shape[0];
        shape[1] = t->shape[1];
    }
    return VAE_OK;
}

static const tensor *find_tensor(vae *m, const char *name, size_t count)
{
    int i;
    for (i = 0; i < m->n_tensors; i++) {
        const tensor *t = &m->tensors[i];
        if (name && strcmp(t->name, name) == 0) {
            size_t size = (size_t)t->shape[0] * t->shape[1];
            if (count != size) {
                fail(m, VAE_ERR_ARG, "tensor %s has %lu values, not %lu", name, (unsigned long)size,
                     (unsigned long)count);
                return NULL;
            }
            return t;
        }
    }
    fail(m, VAE_ERR_ARG, "no tensor named %s", name ? name : "(null)");
    return NULL;
}

static vae_status tensor_copy(vae *m, const char *name, float *dst, const float *src, size_t count,
                              size_t base)
{
    const tensor *t;
    REQUIRE_USABLE(m);
    if (!(t = find_tensor(m, name, count)))
        return VAE_ERR_ARG;
    if (!dst && !src)
        return fail(m, VAE_ERR_ARG, "no buffer given");
    if (src)
        m->k->write(m->dev, t->ref + base, src, count);
    else
        m->k->read(m->dev, t->ref + base, dst, count);
    return VAE_OK;
}

vae_status vae_get_tensor(vae *m, const char *name, float *dst, size_t count)
{
    return dst ? tensor_copy(m, name, dst, NULL, count, 0) : VAE_ERR_ARG;
}

vae_status vae_set_tensor(vae *m, const char *name, const float *src, size_t count)
{
    return src ? tensor_copy(m, name, NULL, src, count, 0) : VAE_ERR_ARG;
}

vae_status vae_get_gradient(vae *m, const char *name, float *dst, size_t count)
{
    return dst && m ? tensor_copy(m, name, dst, NULL, count, m->n_params) : VAE_ERR_ARG;
}

/* ---- CRC-32 ----------------------------------------------------------------

   Byte-table CRC (reflected polynomial 0xEDB88320). The table is built on
   the stack for each call, 256 x 8 shifts, so that there is no global state
   and no 256-entry literal to get wrong; that costs about a microsecond,
   nothing beside the megabytes a gzip member or checkpoint holds. */
uint32_t vae_crc32(uint32_t crc, const void *p, size_t n)
{
    uint32_t table[256];
    const unsigned char *b = p;
    int i, j;
    for (i = 0; i < 256; i++) {
        uint32_t c = (uint32_t)i;
        for (j = 0; j < 8; j++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
        table[i] = c;
    }
    crc = ~crc;
    while (n--)
        crc = (crc >> 8) ^ table[(crc ^ *b++) & 0xff];
    return ~crc;
}

/* ---- checkpoints -----------------------------------------------------------

   Little-endian whatever the host, written byte by byte:
     "VAEMODEL", u32 version,
     u32 length + text: the configuration as "key value" lines,
     u64 steps, 4 x u64 generator state,
     u32 tensor count, then per tensor: u32 name length + name, u32 ndim,
       ndim x u32 shape, the float32 values,
     u32 CRC-32 of everything before it.
   Tensors are the parameters by their names and the optimiser moments as
   opt.m.<name> and opt.v.<name>. A reader checks the CRC before trusting
   anything, then requires every tensor exactly once with its shape. */

#define CKPT_MAGIC "VAEMODEL"
#define CKPT_MAX_BYTES ((size_t)1 << 31)
#define CKPT_MAX_CONFIG 4096

static const char *const act_names[] = {"tanh", "relu", "leakyrelu"};
static const char *const obj_names[] = {"elbo", "iwae"};
static const char *const opt_names[] = {"adam", "adamax"};
static const char *const moment_prefix[3] = {"", "opt.m.", "opt.v."};

/* Where tensor set `which` (parameters, first moments, second moments)
   starts: gradients sit between the parameters and the moments. */
static size_t moment_base(const vae *m, int which)
{
    return which == 0 ? 0 : (size_t)(which + 1) * m->n_params;
}

typedef struct {
    unsigned char *p;
    size_t len, cap;
} bytes;

static void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Appends n bytes; the buffer was sized up front, so this cannot overflow. */
static void emit(bytes *b, const void *src, size_t n)
{
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void emit_u32(bytes *b, uint32_t v)
{
    put_u32(b->p + b->len, v);
    b->len += 4;
}

static void emit_u64(bytes *b, uint64_t v)
{
    emit_u32(b, (uint32_t)v);
    emit_u32(b, (uint32_t)(v >> 32));
}

static int config_text(const vae_config *c, char *out, size_t cap)
{
    char hidden[VAE_MAX_HIDDEN * 8 + 8] = "none";
    int i, n = 0;
    for (i = 0; i < c->n_hidden; i++)
        n += snprintf(hidden + n, sizeof hidden - n, "%s%d", i ? "," : "", c->hidden[i]);
    return snprintf(out, cap,
                    "input_dim %d\nlatent_dim %d\nhidden %s\nactivation %s\nobjective %s\nk %d\n"
                    "max_batch %d\noptimizer %s\nlr %.9g\nbeta1 %.9g\nbeta2 %.9g\neps %.9g\nseed %llu\n",
                    c->input_dim, c->latent_dim, hidden, act_names[c->activation], obj_names[c->objective],
                    c->k, c->max_batch, opt_names[c->optimizer], (double)c->lr, (double)c->beta1,
                    (double)c->beta2, (double)c->eps, (unsigned long long)c->seed);
}

static int name_index(const char *const *names, int count, const char *s)
{
    int i;
    for (i = 0; i < count; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}

/* Parses the configuration text of a checkpoint; every key is required. */
static int parse_config(char *text, vae_config *c)
{
    enum { NKEYS = 13 };
    static const char *const keys[NKEYS] = {"input_dim", "latent_dim", "hidden", "activation", "objective", "k",
                                            "max_batch", "optimizer", "lr", "beta1", "beta2", "eps", "seed"};
    int seen[NKEYS] = {0}, i;
    char *line = text, *next;
    memset(c, 0, sizeof *c);
    for (; *line; line = next) {
        char *val, *end;
        int key;
        next = strchr(line, '\n');
        if (!next)
            return 0;
        *next++ = '\0';
        val = strchr(line, ' ');
        if (!val)
            return 0;
        *val++ = '\0';
        key = name_index(keys, NKEYS, line);
        if (key < 0 || seen[key]++)
            return 0;
        switch (key) {
        case 0: if (!parse_int(val, &c->input_dim)) return 0; break;
        case 1: if (!parse_int(val, &c->latent_dim)) return 0; break;
        case 2:
            if (strcmp(val, "none") == 0)
                break;
            for (;;) {
                char *comma = strchr(val, ',');
                if (comma)
                    *comma = '\0';
                if (c->n_hidden == VAE_MAX_HIDDEN || !parse_int(val, &c->hidden[c->n_hidden++]))
                    return 0;
                if (!comma)
                    break;
                val = comma + 1;
            }
            break;
        case 3: if ((i = name_index(act_names, 3, val)) < 0) return 0; c->activation = (vae_activation)i; break;
        case 4: if ((i = name_index(obj_names, 2, val)) < 0) return 0; c->objective = (vae_objective)i; break;
        case 5: if (!parse_int(val, &c->k)) return 0; break;
        case 6: if (!parse_int(val, &c->max_batch)) return 0; break;
        case 7: if ((i = name_index(opt_names, 2, val)) < 0) return 0; c->optimizer = (vae_optimizer)i; break;
        case 12:
            errno = 0;
            c->seed = (uint64_t)strtoull(val, &end, 10);
            if (errno || end == val || *end)
                return 0;
            break;
        default: {
            float *f[4];
            f[0] = &c->lr; f[1] = &c->beta1; f[2] = &c->beta2; f[3] = &c->eps;
            *f[key - 8] = (float)strtod(val, &end);
            if (end == val || *end)
                return 0;
        }
        }
    }
    for (i = 0; i < NKEYS; i++)
        if (!seen[i])
            return 0;
    return 1;
}

vae_status vae_save(vae *m, const char *path)
{
    char cfg[CKPT_MAX_CONFIG], *tmp = NULL;
    bytes b = {NULL, 0, 0};
    size_t need, plen;
    int clen, i, which;
    FILE *f = NULL;
    vae_status st = VAE_OK;
    REQUIRE_USABLE(m);
    if (!path || !*path)
        return fail(m, VAE_ERR_ARG, "no checkpoint path given");
    clen = config_text(&m->cfg, cfg, sizeof cfg);
    need = 8 + 4 + 4 + (size_t)clen + 8 + 32 + 4 + 4;
    for (which = 0; which < 3; which++)
        for (i = 0; i < m->n_tensors; i++)
            need += 4 + 7 + strlen(m->tensors[i].name) + 4 + 8 +
                    4 * (size_t)m->tensors[i].shape[0] * m->tensors[i].shape[1];
    plen = strlen(path);
    b.p = VAE_MALLOC(need);
    tmp = VAE_MALLOC(plen + 5);
    if (!b.p || !tmp) {
        st = fail(m, VAE_ERR_NOMEM, "%s: out of memory for the checkpoint", path);
        goto free_buffers;
    }
    b.cap = need;
    emit(&b, CKPT_MAGIC, 8);
    emit_u32(&b, VAE_CHECKPOINT_VERSION);
    emit_u32(&b, (uint32_t)clen);
    emit(&b, cfg, (size_t)clen);
    emit_u64(&b, (uint64_t)m->steps);
    for (i = 0; i < 4; i++)
        emit_u64(&b, m->rng.s[i]);
    emit_u32(&b, (uint32_t)(3 * m->n_tensors));
    for (which = 0; which < 3; which++) {
        for (i = 0; i < m->n_tensors; i++) {
            const tensor *t = &m->tensors[i];
            size_t count = (size_t)t->shape[0] * t->shape[1], j;
            char name[48];
            int d, nlen = snprintf(name, sizeof name, "%s%s", moment_prefix[which], t->name);
            emit_u32(&b, (uint32_t)nlen);
            emit(&b, name, (size_t)nlen);
            emit_u32(&b, (uint32_t)t->ndim);
            for (d = 0; d < t->ndim; d++)
                emit_u32(&b, (uint32_t)t->shape[d]);
            for (j = 0; j < count; j += m->host_len) {
                size_t c = min_sz(m->host_len, count - j), q;
                m->k->read(m->dev, t->ref + moment_base(m, which) + j, m->host, c);
                for (q = 0; q < c; q++) {
                    uint32_t u;
                    memcpy(&u, &m->host[q], 4);
                    emit_u32(&b, u);
                }
            }
        }
    }
    emit_u32(&b, vae_crc32(0, b.p, b.len));

    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    f = fopen(tmp, "wb");
    if (!f) {
        st = fail(m, VAE_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto free_buffers;
    }
    if (fwrite(b.p, 1, b.len, f) != b.len || fflush(f) != 0) {
        st = fail(m, VAE_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(f);
        remove(tmp);
        goto free_buffers;
    }
    if (fclose(f) != 0) {
        st = fail(m, VAE_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
        remove(tmp);
        goto free_buffers;
    }
    /* rename replaces path atomically on POSIX. Windows refuses to replace,
       so there the old file must go first; if even then the rename fails,
       the new checkpoint stays in tmp rather than being lost too. */
    if (rename(tmp, path) != 0) {
#ifdef _WIN32
        if (remove(path) == 0 && rename(tmp, path) == 0)
            goto free_buffers;
        st = fail(m, VAE_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
#else
        st = fail(m, VAE_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        remove(tmp);
#endif
    }
free_buffers:
    VAE_FREE(tmp);
    VAE_FREE(b.p);
    return st;
}

/* A bounds-checked reader over the checkpoint's bytes. */
typedef struct {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} reader;

static const unsigned char *take(reader *r, size_t n)
{
    const unsigned char *p;
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint32_t take_u32(reader *r)
{
    const unsigned char *p = take(r, 4);
    return p ? get_u32(p) : 0;
}

static uint64_t take_u64(reader *r)
{
    uint64_t lo = take_u32(r);
    return lo | (uint64_t)take_u32(r) << 32;
}

/* Reads a whole file of at most max bytes into malloc'ed memory. */
static vae_status slurp(vae *m, const char *path, size_t max, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *len = 0;
    if (!f)
        return fail(m, VAE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        size_t got;
        if (n == cap) {
            unsigned char *nb;
            if (cap >= max) {
                fclose(f);
                VAE_FREE(buf);
                return fail(m, VAE_ERR_FORMAT, "%s: larger than %lu bytes, not a checkpoint", path,
                            (unsigned long)max);
            }
            cap = cap ? min_sz(cap * 2, max) : 65536;
            nb = VAE_MALLOC(cap);
            if (!nb) {
                fclose(f);
                VAE_FREE(buf);
                return fail(m, VAE_ERR_NOMEM, "%s: out of memory", path);
            }
            if (n)
                memcpy(nb, buf, n);
            VAE_FREE(buf);
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fclose(f);
        VAE_FREE(buf);
        return fail(m, VAE_ERR_IO, "%s: read failed", path);
    }
    fclose(f);
    *out = buf;
    *len = n;
    return VAE_OK;
}

static vae_status load_into(vae *m, const char *path, const unsigned char *data, size_t len)
{
    reader r;
    const unsigned char *p;
    char cfg[CKPT_MAX_CONFIG + 1];
    uint32_t clen, count, t;
    unsigned char seen[3 * MAX_TENSORS];
    uint64_t steps;
    vae_config c;
    vae_status st;
    int i;
    if (len < 8 + 4 + 4 || memcmp(data, CKPT_MAGIC, 8) != 0)
        return fail(m, VAE_ERR_FORMAT, "%s: not a vae checkpoint", path);
    if (vae_crc32(0, data, len - 4) != get_u32(data + len - 4))
        return fail(m, VAE_ERR_FORMAT, "%s: checksum mismatch: the file is corrupt or truncated", path);
    r.p = data;
    r.len = len - 4;
    r.pos = 8;
    r.bad = 0;
    if (take_u32(&r) != VAE_CHECKPOINT_VERSION)
        return fail(m, VAE_ERR_FORMAT, "%s: checkpoint version %u is not %u", path, get_u32(data + 8),
                    VAE_CHECKPOINT_VERSION);
    clen = take_u32(&r);
    if (clen > CKPT_MAX_CONFIG || !(p = take(&r, clen)))
        return fail(m, VAE_ERR_FORMAT, "%s: bad configuration length", path);
    memcpy(cfg, p, clen);
    cfg[clen] = '\0';
    if (strlen(cfg) != clen || !parse_config(cfg, &c))
        return fail(m, VAE_ERR_FORMAT, "%s: unreadable configuration", path);
    if ((st = check_config(m, &c)) != VAE_OK)
        return fail(m, VAE_ERR_FORMAT, "%s: bad configuration: %.150s", path, m->error);
    m->cfg = c;
    /* The file must hold the parameters and both moments before anything
       is allocated for them: a small hostile file cannot ask for a big
       model. */
    layout(m);
    if ((double)m->n_params * 12.0 > (double)(r.len - r.pos))
        return fail(m, VAE_ERR_FORMAT, "%s: too short for the model its configuration describes", path);
    if ((st = build(m)) != VAE_OK)
        return st;
    steps = take_u64(&r);
    for (i = 0; i < 4; i++)
        m->rng.s[i] = take_u64(&r);
    count = take_u32(&r);
    if (r.bad || steps >= (uint64_t)LONG_MAX)
        return fail(m, VAE_ERR_FORMAT, "%s: bad step counter", path);
    /* An all-zero state is the one xoshiro256** cannot leave: every draw
       would be 0 and the Gaussian sampler would never return. */
    if ((m->rng.s[0] | m->rng.s[1] | m->rng.s[2] | m->rng.s[3]) == 0)
        return fail(m, VAE_ERR_FORMAT, "%s: invalid random generator state", path);
    if (count != 3u * (uint32_t)m->n_tensors)
        return fail(m, VAE_ERR_FORMAT, "%s: expected %d tensors", path, 3 * m->n_tensors);
    m->steps = (long)steps;
    memset(seen, 0, sizeof seen);
    for (t = 0; t < count; t++) {
        char name[64];
        uint32_t nlen = take_u32(&r), ndim;
        int which, found = -1;
        size_t n, j;
        const tensor *tt;
        if (nlen == 0 || nlen >= sizeof name || !(p = take(&r, nlen)))
            return fail(m, VAE_ERR_FORMAT, "%s: bad tensor name", path);
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        for (which = 2; which >= 0 && found < 0; which--) {
            size_t pl = strlen(moment_prefix[which]);
            if (strncmp(name, moment_prefix[which], pl) != 0)
                continue;
            for (i = 0; i < m->n_tensors; i++)
                if (strcmp(name + pl, m->tensors[i].name) == 0)
                    found = which * MAX_TENSORS + i;
        }
        if (found < 0 || seen[found]++)
            return fail(m, VAE_ERR_FORMAT, "%s: unexpected or repeated tensor %s", path, name);
        which = found / MAX_TENSORS;
        tt = &m->tensors[found % MAX_TENSORS];
        ndim = take_u32(&r);
        if (ndim != (uint32_t)tt->ndim || take_u32(&r) != (uint32_t)tt->shape[0] ||
            (ndim == 2 && take_u32(&r) != (uint32_t)tt->shape[1]))
            return fail(m, VAE_ERR_FORMAT, "%s: tensor %s has the wrong shape", path, name);
        n = (size_t)tt->shape[0] * tt->shape[1];
        if (!(p = take(&r, 4 * n)))
            return fail(m, VAE_ERR_FORMAT, "%s: truncated in tensor %s", path, name);
        for (j = 0; j < n; j += m->host_len) {
            size_t c2 = min_sz(m->host_len, n - j), q;
            for (q = 0; q < c2; q++) {
                uint32_t u = get_u32(p + 4 * (j + q));
                memcpy(&m->host[q], &u, 4);
                if (!isfinite(m->host[q]))
                    return fail(m, VAE_ERR_FORMAT, "%s: tensor %s holds a non-finite value", path, name);
            }
            m->k->write(m->dev, tt->ref + moment_base(m, which) + j, m->host, c2);
        }
    }
    if (r.pos != r.len)
        return fail(m, VAE_ERR_FORMAT, "%s: %lu unexpected bytes after the tensors", path,
                    (unsigned long)(r.len - r.pos));
    return VAE_OK;
}

vae_status vae_load(vae **out, const char *path)
{
    vae *m;
    unsigned char *data;
    size_t len;
    vae_status st;
    if (!out)
        return VAE_ERR_ARG;
    *out = m = new_model();
    if (!m)
        return VAE_ERR_NOMEM;
    if (!path)
        return fail(m, VAE_ERR_ARG, "no checkpoint path given");
    if ((st = slurp(m, path, CKPT_MAX_BYTES, &data, &len)) != VAE_OK)
        return st;
    st = load_into(m, path, data, len);
    VAE_FREE(data);
    if (st != VAE_OK) {
        /* Leave only the message: a half-loaded model must not be used. */
        if (m->dev)
            m->k->destroy(m->dev);
        VAE_FREE(m->host);
        m->dev = NULL;
        m->host = NULL;
        return st;
    }
    m->usable = 1;
    return VAE_OK;
}
