/* vae.c — the vae library in one translation unit. See vae.h for the API,
   vae_backend.h for the backend interface and docs/DESIGN.md for how it
   works and why: the data flow of one step, the buffer map, the row
   convention, the GEMM's blocking and the places that wait for the device.

   Sections, in order:
     fast math          exp, tanh, sigmoid, log1p that vectorise
     GEMM               the CPU's blocked matrix product
     CPU backend        every op of vae_backend.h in portable C
     configuration      the one table of vae_config's fields
     the model          layers, likelihoods, priors, the buffer layout
     forward, backward  a training step, evaluation, sampling
     files              CRC-32, whole-file reads, checkpoints

   Principles: the model code above the backend never touches a float (it
   sees vae_ref offsets), so that a GPU backend runs the same model; one
   allocation holds every buffer, sized once for the largest batch, so
   that a step allocates nothing; threads split work by output, so results
   do not depend on their number; no fast-math, because logsumexp relies
   on inf and NaN behaving.
*/
/* fsync and fileno are POSIX, which strict C99 modes hide (see
   write_durably). */
#if defined(__unix__) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "vae.h"
#include "vae_backend.h"
#include "rng.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <locale.h>
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

#define VAE_LEAKY_SLOPE 0.01f

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static int min_int(int a, int b) { return a < b ? a : b; }
static int max_int(int a, int b) { return a > b ? a : b; }

/* Every call that can fail returns a status; the first failure ends the call. */
#define TRY(call)                                                              \
    do {                                                                       \
        vae_status try_status_ = (call);                                       \
        if (try_status_ != VAE_OK)                                             \
            return try_status_;                                                \
    } while (0)

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
   MR x NR accumulators held in vector registers.

   Packing only rearranges, and where it would not pay the micro-kernel
   reads an operand in place instead: MR rows of A, MR columns of A^T or NR
   columns of B, a stride apart (B^T must always be packed, and so must the
   ragged last panels). See gemm_blocked for when.

   There is one micro-kernel per instruction set (gemm_kernels below), each
   with the tile and blocking its registers and caches want; the CPU
   backend picks the best one the processor has when a model is created
   (cpuid), so a library built for any x86-64 runs AVX2 or AVX-512 code
   where they exist. The plain-C kernel is the reference and the fallback.

   Each C element is summed in the same order whatever the tiling of
   threads, so results do not depend on the thread count. Kernels differ in
   rounding only: every one sums each K block in order, from a product, and
   most fuse each multiply-add. */

/* The plain-C kernel's tile: MR x NR accumulators fill most of the vector
   registers of what the compiler was told it may use; 10 rows also divide
   the batch sizes (20) and widths (200, 100) used most. */
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
#define GEMM_TILE_MAX (16 * 32) /* the largest tile of any kernel */
#define GEMM_AHEAD 8            /* rows fetched ahead by pack_along */

/* The x86-64 kernels are written with intrinsics in functions compiled for
   their instruction set alone (target attributes), so that a build for
   any x86-64 has them; gcc 5 and clang 3.8 have both. 32-bit x86 has too
   few vector registers for their tiles. */
#if defined(__x86_64__) && !defined(__TINYC__) && !defined(VAE_NO_SIMD) &&                                      \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define GEMM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(VAE_NO_SIMD)
#define GEMM_NEON 1
#include <arm_neon.h>
#endif

/* c (rows x NR tile, row stride ldc) = a * b, or += with add, for b: kc
   rows of NR values, bs floats apart (NR when packed), and a: rows x kc
   values. The first step sets the accumulators (kc >= 1 always). Each
   kernel comes in two layouts of A: panels, whose MR values per step are
   side by side, ld apart (packed, or A^T in place), and rows of A in
   place, ld apart. */
typedef void gemm_micro_fn(int kc, const float *restrict a, size_t ld, const float *restrict b, size_t bs,
                           float *restrict c, int ldc, int add);

/* d[j * ldd + i] = s[i * ld + j] for an 8 x 8 block: the transposing
   copy's step, with vector shuffles where the kernel has them. */
typedef void gemm_transpose_fn(const float *restrict s, size_t ld, float *restrict d, size_t ldd);

typedef struct {
    const char *name;
    int mr, nr;     /* the register tile */
    int kc, mc, nc; /* blocks: a KC x NR panel of B stays in L1, MC x KC of A in L2; NC columns of B at a time */
    /* [half][by_rows][r]: the kernel for the first r rows of a tile,
       1 <= r <= mr, NR (half: NR / 2) columns wide, A as panels or as rows;
       NULL below mr where there is none (a ragged tile then goes through a
       buffer), and no half table where there is no half kernel */
    gemm_micro_fn *const *fns[2][2];
    gemm_transpose_fn *transpose8; /* NULL: element by element */
    int (*available)(void);        /* NULL: always */
} gemm_kernel;

/* The plain-C kernel, whole tiles only. The j loop outside the i loop,
   over one flat accumulator array, is the form that both gcc and clang
   turn into MR x (NR / vector width) register accumulators with broadcast
   FMAs. The body is written once, as a macro, for the two layouts of A
   (element (i, p) at a[i * ROW + p * STEP]), so that each loop's
   addressing is known at compile time. */
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

GEMM_MICRO(gemm_c_panel, 1, ld)
GEMM_MICRO(gemm_c_row, ld, 1)
static gemm_micro_fn *const gemm_c_panels[GEMM_MR + 1] = {[GEMM_MR] = gemm_c_panel};
static gemm_micro_fn *const gemm_c_rows[GEMM_MR + 1] = {[GEMM_MR] = gemm_c_row};

/* The SIMD kernels keep their accumulators in named variables, one
   register each (gcc spilled an array of vectors to the stack at every
   step), written out from these row lists: one body per instruction set,
   instantiated for each row count and both layouts of A, with the strides
   known at compile time. Kernels of fewer rows than the tile serve a
   ragged last panel of A without a buffer. */
#define GEMM_ROWS1(X) X(0)
#define GEMM_ROWS2(X) GEMM_ROWS1(X) X(1)
#define GEMM_ROWS3(X) GEMM_ROWS2(X) X(2)
#define GEMM_ROWS4(X) GEMM_ROWS3(X) X(3)
#define GEMM_ROWS5(X) GEMM_ROWS4(X) X(4)
#define GEMM_ROWS6(X) GEMM_ROWS5(X) X(5)
#define GEMM_ROWS7(X) GEMM_ROWS6(X) X(6)
#define GEMM_ROWS8(X) GEMM_ROWS7(X) X(7)
#define GEMM_ROWS9(X) GEMM_ROWS8(X) X(8)
#define GEMM_ROWS10(X) GEMM_ROWS9(X) X(9)
/* the row counts 1 .. R, for the instances */
#define GEMM_COUNTS6(X) X(1) X(2) X(3) X(4) X(5) X(6)
#define GEMM_COUNTS8(X) GEMM_COUNTS6(X) X(7) X(8)
#define GEMM_COUNTS10(X) GEMM_COUNTS8(X) X(9) X(10)

/* name_p<R> and name_r<R>: BODY(GEMM_ROWS<R>) with A as panels and as
   rows (row: floats from one row of the tile to the next; step: from one
   p to the next), V vectors of B wide: 2, the tile, or 1, the half tile
   that a ragged last panel of at most NR / 2 columns takes (n = 50 on 16
   columns: 14 of the last panel's 16 would be computed for nothing). The
   bodies test `vecs` where the widths differ; it is a constant. */
#define GEMM_INSTANCES(name, TARGET, BODY, R, V)                               \
    TARGET static void name##_p##R(int kc, const float *restrict a, size_t ld, const float *restrict b,   \
                                   size_t bs, float *restrict c, int ldc, int add)                       \
    {                                                                          \
        const size_t row = 1, step = ld;                                       \
        const int vecs = V;                                                    \
        BODY(GEMM_ROWS##R)                                                     \
    }                                                                          \
    TARGET static void name##_r##R(int kc, const float *restrict a, size_t ld, const float *restrict b,   \
                                   size_t bs, float *restrict c, int ldc, int add)                       \
    {                                                                          \
        const size_t row = ld, step = 1;                                       \
        const int vecs = V;                                                    \
        BODY(GEMM_ROWS##R)                                                     \
    }

#ifdef GEMM_X86
/* The processor's and the operating system's support: cpuid's feature
   bits, and XCR0's saying that the OS saves the vector registers. */
static unsigned long long x86_xcr0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static int x86_avx2(void)
{
    unsigned a, b, c, d;
    int fma, osxsave;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    fma = (c >> 12) & 1;
    osxsave = (c >> 27) & 1;
    if (!fma || !osxsave || (x86_xcr0() & 6) != 6) /* XMM and YMM state */
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 5) & 1);
}

static int x86_avx512(void)
{
    unsigned a, b, c, d;
    return x86_avx2() && (x86_xcr0() & 0xe6) == 0xe6 /* and opmask, ZMM0-15 high halves, ZMM16-31 */ &&
           __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((b >> 16) & 1);
}

/* AVX2 + FMA: 6 x 16, as BLIS and OpenBLAS use on Haswell and Zen. Twelve
   ymm accumulators, two loads of B and a broadcast of A per row: 15 of the
   16 registers; 12 FMAs per step against 2 loads and 6 broadcasts, which
   the load ports issue in the FMAs' shadow. KC 256: the 16 KB panel of B
   and the 6 KB panel of A fit a 32 KB L1. */
#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX2_DECLARE(i) __m256 c##i##_0, c##i##_1 = _mm256_setzero_ps();
#define AVX2_FIRST(i)                                                          \
    x = _mm256_broadcast_ss(a + (i) * row);                                    \
    c##i##_0 = _mm256_mul_ps(x, b0);                                           \
    if (vecs == 2)                                                             \
        c##i##_1 = _mm256_mul_ps(x, b1);
#define AVX2_NEXT(i)                                                           \
    x = _mm256_broadcast_ss(ap + (i) * row);                                   \
    c##i##_0 = _mm256_fmadd_ps(x, b0, c##i##_0);                               \
    if (vecs == 2)                                                             \
        c##i##_1 = _mm256_fmadd_ps(x, b1, c##i##_1);
#define AVX2_STORE(i)                                                          \
    if (add)                                                                   \
        c##i##_0 = _mm256_add_ps(_mm256_loadu_ps(c + (size_t)(i) * ldc), c##i##_0);                      \
    _mm256_storeu_ps(c + (size_t)(i) * ldc, c##i##_0);                         \
    if (vecs == 2) {                                                           \
        if (add)                                                               \
            c##i##_1 = _mm256_add_ps(_mm256_loadu_ps(c + (size_t)(i) * ldc + 8), c##i##_1);              \
        _mm256_storeu_ps(c + (size_t)(i) * ldc + 8, c##i##_1);                 \
    }
#define AVX2_BODY(ROWS)                                                        \
    __m256 x, b0 = _mm256_loadu_ps(b), b1 = vecs == 2 ? _mm256_loadu_ps(b + 8) : b0;                     \
    int p;                                                                     \
    ROWS(AVX2_DECLARE)                                                         \
    ROWS(AVX2_FIRST)                                                           \
    for (p = 1; p < kc; p++) {                                                 \
        const float *ap = a + p * step;                                        \
        b0 = _mm256_loadu_ps(b + p * bs);                                      \
        if (vecs == 2)                                                         \
            b1 = _mm256_loadu_ps(b + p * bs + 8);                              \
        ROWS(AVX2_NEXT)                                                        \
    }                                                                          \
    ROWS(AVX2_STORE)
#define AVX2_INSTANCES(R)                                                      \
    GEMM_INSTANCES(gemm_avx2, AVX2_TARGET, AVX2_BODY, R, 2)                    \
    GEMM_INSTANCES(gemm_avx2_half, AVX2_TARGET, AVX2_BODY, R, 1)
GEMM_COUNTS6(AVX2_INSTANCES)
#define AVX2_P(R) gemm_avx2_p##R,
#define AVX2_R(R) gemm_avx2_r##R,
#define AVX2_HALF_P(R) gemm_avx2_half_p##R,
#define AVX2_HALF_R(R) gemm_avx2_half_r##R,
static gemm_micro_fn *const gemm_avx2_fns[][7] = {
    {NULL, GEMM_COUNTS6(AVX2_P)},
    {NULL, GEMM_COUNTS6(AVX2_R)},
    {NULL, GEMM_COUNTS6(AVX2_HALF_P)},
    {NULL, GEMM_COUNTS6(AVX2_HALF_R)},
};

/* 8 loads, 24 shuffles and 8 stores in place of 64 loads and 64 stores */
AVX2_TARGET static void gemm_avx_transpose8(const float *restrict s, size_t ld, float *restrict d, size_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld), r2 = _mm256_loadu_ps(s + 2 * ld);
    __m256 r3 = _mm256_loadu_ps(s + 3 * ld), r4 = _mm256_loadu_ps(s + 4 * ld), r5 = _mm256_loadu_ps(s + 5 * ld);
    __m256 r6 = _mm256_loadu_ps(s + 6 * ld), r7 = _mm256_loadu_ps(s + 7 * ld);
    /* pairs of rows interleaved, then quadruples: each 128-bit half of
       u<i> holds four rows' elements i and i + 4 ... */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    /* ... and the halves of rows 0-3 and 4-7 are joined */
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* AVX-512: 10 x 32, twenty zmm accumulators of the 32 (the plain-C
   kernel's tile when compiled for AVX-512, where 8x32, 12x32, 6x64 and
   14x32 were slower). */
#define AVX512_TARGET __attribute__((target("avx512f")))
#define AVX512_DECLARE(i) __m512 c##i##_0, c##i##_1 = _mm512_setzero_ps();
#define AVX512_FIRST(i)                                                        \
    x = _mm512_set1_ps(a[(i) * row]);                                          \
    c##i##_0 = _mm512_mul_ps(x, b0);                                           \
    if (vecs == 2)                                                             \
        c##i##_1 = _mm512_mul_ps(x, b1);
#define AVX512_NEXT(i)                                                         \
    x = _mm512_set1_ps(ap[(i) * row]);                                         \
    c##i##_0 = _mm512_fmadd_ps(x, b0, c##i##_0);                               \
    if (vecs == 2)                                                             \
        c##i##_1 = _mm512_fmadd_ps(x, b1, c##i##_1);
#define AVX512_STORE(i)                                                        \
    if (add)                                                                   \
        c##i##_0 = _mm512_add_ps(_mm512_loadu_ps(c + (size_t)(i) * ldc), c##i##_0);                      \
    _mm512_storeu_ps(c + (size_t)(i) * ldc, c##i##_0);                         \
    if (vecs == 2) {                                                           \
        if (add)                                                               \
            c##i##_1 = _mm512_add_ps(_mm512_loadu_ps(c + (size_t)(i) * ldc + 16), c##i##_1);             \
        _mm512_storeu_ps(c + (size_t)(i) * ldc + 16, c##i##_1);                \
    }
#define AVX512_BODY(ROWS)                                                      \
    __m512 x, b0 = _mm512_loadu_ps(b), b1 = vecs == 2 ? _mm512_loadu_ps(b + 16) : b0;                    \
    int p;                                                                     \
    ROWS(AVX512_DECLARE)                                                       \
    ROWS(AVX512_FIRST)                                                         \
    for (p = 1; p < kc; p++) {                                                 \
        const float *ap = a + p * step;                                        \
        b0 = _mm512_loadu_ps(b + p * bs);                                      \
        if (vecs == 2)                                                         \
            b1 = _mm512_loadu_ps(b + p * bs + 16);                             \
        ROWS(AVX512_NEXT)                                                      \
    }                                                                          \
    ROWS(AVX512_STORE)
#define AVX512_INSTANCES(R)                                                    \
    GEMM_INSTANCES(gemm_avx512, AVX512_TARGET, AVX512_BODY, R, 2)              \
    GEMM_INSTANCES(gemm_avx512_half, AVX512_TARGET, AVX512_BODY, R, 1)
GEMM_COUNTS10(AVX512_INSTANCES)
#define AVX512_P(R) gemm_avx512_p##R,
#define AVX512_R(R) gemm_avx512_r##R,
#define AVX512_HALF_P(R) gemm_avx512_half_p##R,
#define AVX512_HALF_R(R) gemm_avx512_half_r##R,
static gemm_micro_fn *const gemm_avx512_fns[][11] = {
    {NULL, GEMM_COUNTS10(AVX512_P)},
    {NULL, GEMM_COUNTS10(AVX512_R)},
    {NULL, GEMM_COUNTS10(AVX512_HALF_P)},
    {NULL, GEMM_COUNTS10(AVX512_HALF_R)},
};
#endif

#ifdef GEMM_NEON
/* NEON: 8 x 8, sixteen q accumulators of the 32, two loads of B and a
   broadcast of A per row. */
#define NEON_DECLARE(i) float32x4_t c##i##_0, c##i##_1 = vdupq_n_f32(0.0f);
#define NEON_FIRST(i)                                                          \
    x = vld1q_dup_f32(a + (i) * row);                                          \
    c##i##_0 = vmulq_f32(x, b0);                                               \
    if (vecs == 2)                                                             \
        c##i##_1 = vmulq_f32(x, b1);
#define NEON_NEXT(i)                                                           \
    x = vld1q_dup_f32(ap + (i) * row);                                         \
    c##i##_0 = vfmaq_f32(c##i##_0, x, b0);                                     \
    if (vecs == 2)                                                             \
        c##i##_1 = vfmaq_f32(c##i##_1, x, b1);
#define NEON_STORE(i)                                                          \
    if (add)                                                                   \
        c##i##_0 = vaddq_f32(vld1q_f32(c + (size_t)(i) * ldc), c##i##_0);      \
    vst1q_f32(c + (size_t)(i) * ldc, c##i##_0);                                \
    if (vecs == 2) {                                                           \
        if (add)                                                               \
            c##i##_1 = vaddq_f32(vld1q_f32(c + (size_t)(i) * ldc + 4), c##i##_1);                        \
        vst1q_f32(c + (size_t)(i) * ldc + 4, c##i##_1);                        \
    }
#define NEON_BODY(ROWS)                                                        \
    float32x4_t x, b0 = vld1q_f32(b), b1 = vecs == 2 ? vld1q_f32(b + 4) : b0;  \
    int p;                                                                     \
    ROWS(NEON_DECLARE)                                                         \
    ROWS(NEON_FIRST)                                                           \
    for (p = 1; p < kc; p++) {                                                 \
        const float *ap = a + p * step;                                        \
        b0 = vld1q_f32(b + p * bs);                                            \
        if (vecs == 2)                                                         \
            b1 = vld1q_f32(b + p * bs + 4);                                    \
        ROWS(NEON_NEXT)                                                        \
    }                                                                          \
    ROWS(NEON_STORE)
#define NEON_INSTANCES(R)                                                      \
    GEMM_INSTANCES(gemm_neon, , NEON_BODY, R, 2)                               \
    GEMM_INSTANCES(gemm_neon_half, , NEON_BODY, R, 1)
GEMM_COUNTS8(NEON_INSTANCES)
#define NEON_P(R) gemm_neon_p##R,
#define NEON_R(R) gemm_neon_r##R,
#define NEON_HALF_P(R) gemm_neon_half_p##R,
#define NEON_HALF_R(R) gemm_neon_half_r##R,
static gemm_micro_fn *const gemm_neon_fns[][9] = {
    {NULL, GEMM_COUNTS8(NEON_P)},
    {NULL, GEMM_COUNTS8(NEON_R)},
    {NULL, GEMM_COUNTS8(NEON_HALF_P)},
    {NULL, GEMM_COUNTS8(NEON_HALF_R)},
};
#endif

/* Best first. Blocking: the KC x NR panel of B and the MR x KC panels of A
   streaming past it fit a 32 KB L1 (a whole MC x KC block of A too, for
   the narrow tiles); MC rows of A and NC columns of B are few enough that
   the model's products (n <= 784) pack B once per K block. */
static const gemm_kernel gemm_kernels[] = {
#ifdef GEMM_X86
    {"avx512", 10, 32, 128, 30, 1024, {{gemm_avx512_fns[0], gemm_avx512_fns[1]}, {gemm_avx512_fns[2], gemm_avx512_fns[3]}},
     gemm_avx_transpose8, x86_avx512},
    {"avx2", 6, 16, 256, 72, 1024, {{gemm_avx2_fns[0], gemm_avx2_fns[1]}, {gemm_avx2_fns[2], gemm_avx2_fns[3]}},
     gemm_avx_transpose8, x86_avx2},
#endif
#ifdef GEMM_NEON
    {"neon", 8, 8, 256, 64, 1024, {{gemm_neon_fns[0], gemm_neon_fns[1]}, {gemm_neon_fns[2], gemm_neon_fns[3]}}, NULL, NULL},
#endif
    {"c", GEMM_MR, GEMM_NR, 128, GEMM_MR == 4 ? 32 : 30, 1024, {{gemm_c_panels, gemm_c_rows}, {NULL, NULL}}, NULL, NULL},
};
#define GEMM_KERNELS ((int)(sizeof gemm_kernels / sizeof gemm_kernels[0]))

/* The kernel called name ("auto" or NULL: the best this processor runs),
   or NULL when there is no such kernel or the processor lacks it. */
static const gemm_kernel *gemm_kernel_named(const char *name)
{
    int i;
    for (i = 0; i < GEMM_KERNELS; i++) {
        const gemm_kernel *g = &gemm_kernels[i];
        int wanted = !name || strcmp(name, "auto") == 0 || strcmp(name, g->name) == 0;
        if (wanted && (!g->available || g->available()))
            return g;
    }
    return NULL;
}

/* Floats of one thread's packing buffers: an MC x KC block of A and a
   KC x NC block of B. */
static size_t gemm_pack_floats(const gemm_kernel *g)
{
    return (size_t)g->mc * g->kc + (size_t)g->kc * g->nc;
}

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
   prefetchers do not follow, so the copy asks for rows GEMM_AHEAD ahead. */
#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define ALWAYS_INLINE inline
#endif
static ALWAYS_INLINE void pack_along_w(const float *src, int ld, int p0, int kc, int x0, int xc, int w,
                                       int in_place, float *out)
{
    int p, x, whole = xc / w * w, rest = xc - whole;
    size_t panel = (size_t)w * kc;
    float *tail = out + (size_t)whole * kc;
    if (in_place) { /* only a ragged last panel is copied */
        if (rest == 0)
            return;
        x0 += whole;
        xc = rest;
        whole = 0;
    }
    for (p = 0; p < kc; p++) {
        const float *row = src + (size_t)(p0 + p) * ld + x0, *end = row + whole;
        float *dst = out + (size_t)p * w;
        if (p + GEMM_AHEAD < kc) {
            for (x = 0; x < xc; x += 16)
                PREFETCH(row + (size_t)GEMM_AHEAD * ld + x);
            PREFETCH(row + (size_t)GEMM_AHEAD * ld + xc - 1);
        }
        for (; row < end; row += w, dst += panel)
            memcpy(dst, row, sizeof(float) * (size_t)w);
        if (rest) {
            float *t = tail + (size_t)p * w;
            memcpy(t, row, sizeof(float) * (size_t)rest);
            memset(t + rest, 0, sizeof(float) * (size_t)(w - rest));
        }
    }
}

/* (The copy of w floats per panel is a call to memcpy unless w is known
   at compile time: each width the kernels use gets its own copy of the
   loop, here and in pack_across.) */
static void pack_along(const float *src, int ld, int p0, int kc, int x0, int xc, int w, int in_place, float *out)
{
#define PACK_ALONG(W)                                                          \
    case W:                                                                    \
        pack_along_w(src, ld, p0, kc, x0, xc, W, in_place, out);               \
        break;
    switch (w) {
        PACK_ALONG(4) PACK_ALONG(5) PACK_ALONG(6) PACK_ALONG(7) PACK_ALONG(8) PACK_ALONG(9) PACK_ALONG(10)
        PACK_ALONG(16) PACK_ALONG(32)
    default:
        pack_along_w(src, ld, p0, kc, x0, xc, w, in_place, out);
    }
#undef PACK_ALONG
}

/* The same panels from src with element (p, x) at src[x * ld + p]: a
   transpose, done in 8 x 8 blocks so that reads and writes both stay within
   a few cache lines. With in_place, whole panels are left out. */
static ALWAYS_INLINE void pack_across_w(gemm_transpose_fn *transpose8, const float *src, int ld, int p0, int kc,
                                        int x0, int xc, int w, int in_place, float *out)
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
                if (transpose8)
                    transpose8(s + (size_t)xb * ld + pb, (size_t)ld, dst + (size_t)pb * w + xb, (size_t)w);
                else
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

static void pack_across(gemm_transpose_fn *transpose8, const float *src, int ld, int p0, int kc, int x0, int xc,
                        int w, int in_place, float *out)
{
#define PACK_ACROSS(W)                                                         \
    case W:                                                                    \
        pack_across_w(transpose8, src, ld, p0, kc, x0, xc, W, in_place, out);  \
        break;
    switch (w) {
        PACK_ACROSS(4) PACK_ACROSS(5) PACK_ACROSS(6) PACK_ACROSS(7) PACK_ACROSS(8) PACK_ACROSS(9) PACK_ACROSS(10)
        PACK_ACROSS(16) PACK_ACROSS(32)
    default:
        pack_across_w(transpose8, src, ld, p0, kc, x0, xc, w, in_place, out);
    }
#undef PACK_ACROSS
}

/* op(A)[i0 .. i0+mc, p0 .. p0+kc) into mr-row panels. */
static void pack_a(const gemm_kernel *kern, int ta, int in_place, const float *a, int lda, int i0, int mc, int p0,
                   int kc, int mr, float *out)
{
    if (ta)
        pack_along(a, lda, p0, kc, i0, mc, mr, in_place, out);
    else
        pack_across(kern->transpose8, a, lda, p0, kc, i0, mc, mr, in_place, out);
}

/* op(B)[p0 .. p0+kc, j0 .. j0+nc) into nr-column panels. */
static void pack_b(const gemm_kernel *kern, int tb, int in_place, const float *b, int ldb, int p0, int kc, int j0,
                   int nc, float *out)
{
    int nr = kern->nr;
    if (tb)
        pack_across(kern->transpose8, b, ldb, p0, kc, j0, nc, nr, 0, out);
    else
        pack_along(b, ldb, p0, kc, j0, nc, nr, in_place, out);
}


/* A tile of rows x cols in c, with the kernel for those rows, half as
   wide where cols allow (or a whole tile's, into a buffer, where cols is
   less than the kernel's width or there is none). */
static void gemm_tile(const gemm_kernel *kern, int by_rows, int kc, const float *a, size_t ld, const float *b,
                      size_t bs, float *c, int ldc, int rows, int cols, int add)
{
    int half = 2 * cols <= kern->nr && kern->fns[1][by_rows];
    gemm_micro_fn *const *fns = kern->fns[half][by_rows];
    float t[GEMM_TILE_MAX];
    int i, j, width = half ? kern->nr / 2 : kern->nr;
    if (cols == width && fns[rows]) {
        fns[rows](kc, a, ld, b, bs, c, ldc, add);
        return;
    }
    fns[fns[rows] ? rows : kern->mr](kc, a, ld, b, bs, t, width, 0);
    for (i = 0; i < rows; i++)
        for (j = 0; j < cols; j++)
            c[(size_t)i * ldc + j] = add ? c[(size_t)i * ldc + j] + t[i * width + j] : t[i * width + j];
}

static float relu(float v)
{
    return v > 0.0f ? v : 0.0f;
}

static float leaky_relu(float v)
{
    return v > 0.0f ? v : VAE_LEAKY_SLOPE * v;
}

static float identity(float v)
{
    return v;
}

/* y (rows, cols, row stride ld) = act(y + bias), bias NULL for none. One
   loop per activation and case, so that each one vectorises. */
#define BIAS_ACT_ROW(f)                                                                                          \
    do {                                                                                                         \
        if (b)                                                                                                   \
            for (c = 0; c < cols; c++) row[c] = f(row[c] + b[c]);                                                \
        else                                                                                                     \
            for (c = 0; c < cols; c++) row[c] = f(row[c]);                                                       \
    } while (0)

static void bias_act_rows(float *y, int ld, const float *b, int rows, int cols, int act)
{
    int r, c;
    if (!b && act == VAE_ACT_NONE)
        return;
    for (r = 0; r < rows; r++) {
        float *row = y + (size_t)r * ld;
        switch (act) {
        case VAE_TANH: BIAS_ACT_ROW(fast_tanh); break;
        case VAE_RELU: BIAS_ACT_ROW(relu); break;
        case VAE_LEAKY_RELU: BIAS_ACT_ROW(leaky_relu); break;
        case VAE_ACT_SIGMOID: BIAS_ACT_ROW(fast_sigmoid); break;
        default: BIAS_ACT_ROW(identity);
        }
    }
}

#undef BIAS_ACT_ROW

/* One GEMM's shape, operands and kernel, as gemm_blocked's parts see them. */
typedef struct {
    const gemm_kernel *kern;
    int mr, mc; /* the tile's rows for this product (kern->mr, or fewer where m divides better), and
                   the rows of A packed at a time: a multiple of mr */
    int ta, tb, m, n, k, lda, ldb, ldc;
    int a_in_place, b_in_place;
    const float *a, *b;
    float *c;
    const float *bias; /* the epilogue: NULL for none */
    int act;           /* the epilogue's activation */
    int accumulate;    /* c += the product */
} gemm_job;

/* C's rows ic .. ic+mc (mc <= MC) for the packed (or in-place) B block of
   columns jc .. jc+nc and depths pc .. pc+kc, packing that A block into ap. */
static void gemm_row_block(const gemm_job *g, float *ap, const float *bpack, int ic, int mc, int jc, int nc, int pc,
                           int kc)
{
    const gemm_kernel *kern = g->kern;
    int add = pc > 0 || g->accumulate; /* later K blocks accumulate */
    int last = pc + kc == g->k;
    int mr = g->mr, nr = kern->nr, mpanels = (mc + mr - 1) / mr, npanels = (nc + nr - 1) / nr, t;
    pack_a(kern, g->ta, g->a_in_place, g->a, g->lda, ic, mc, pc, kc, mr, ap);
    for (t = 0; t < npanels * mpanels; t++) {
        int jr = t / mpanels, ir = t % mpanels;
        int i = ir * mr, j = jr * nr;
        int rows = min_int(mr, mc - i), cols = min_int(nr, nc - j);
        int a_direct = g->a_in_place && rows == mr, b_direct = g->b_in_place && cols == nr;
        int by_rows = a_direct && !g->ta;
        const float *pa = !a_direct ? ap + (size_t)i * kc
                          : g->ta   ? g->a + (size_t)pc * g->lda + ic + i
                                    : g->a + (size_t)(ic + i) * g->lda + pc;
        const float *pb = b_direct ? g->b + (size_t)pc * g->ldb + jc + j : bpack + (size_t)j * kc;
        size_t as = a_direct ? (size_t)g->lda : (size_t)mr, bs = b_direct ? (size_t)g->ldb : (size_t)nr;
        float *ct = g->c + (size_t)(ic + i) * g->ldc + jc + j;
        gemm_tile(kern, by_rows, kc, pa, as, pb, bs, ct, g->ldc, rows, cols, add);
        /* the epilogue while the tile is in L1: a pass over C afterwards
           cost the decoder's output layer 5% of an IWAE step */
        if (last)
            bias_act_rows(ct, g->ldc, g->bias ? g->bias + jc + j : NULL, rows, cols, g->act);
    }
}

/* Rows i0 .. i1 and columns j0 .. j1 of C (j0 a multiple of the tile's
   width, so that every tile is the one a whole product has), with pack
   (gemm_pack_floats) to itself. */
static void gemm_part(const gemm_job *g, float *pack, int i0, int i1, int j0, int j1)
{
    const gemm_kernel *kern = g->kern;
    float *ap = pack, *bp = pack + (size_t)kern->mc * kern->kc;
    int jc, pc, ic, jr, nr = kern->nr;
    for (jc = j0; jc < j1; jc += kern->nc) {
        int nc = min_int(kern->nc, j1 - jc), npanels = (nc + nr - 1) / nr;
        for (pc = 0; pc < g->k; pc += kern->kc) {
            int kc = min_int(kern->kc, g->k - pc);
            for (jr = 0; jr < npanels; jr++) {
                int j = jr * nr;
                pack_b(kern, g->tb, g->b_in_place, g->b, g->ldb, pc, kc, jc + j, min_int(nr, nc - j),
                       bp + (size_t)j * kc);
            }
            for (ic = i0; ic < i1; ic += g->mc)
                gemm_row_block(g, ap, bp, ic, min_int(g->mc, i1 - ic), jc, nc, pc, kc);
        }
    }
}

/* The rows of a tile for a product of m rows: of the row counts the kernel
   has, down to two thirds of its tile (fewer would leave too few FMAs in
   flight to hide their latency), the one that computes the fewest rows,
   counting the padding of a ragged last panel, with a row's cost for each
   panel's stores and calls: m = 20 on a 6-row kernel takes four tiles of
   5 rows, not 6 + 6 + 6 + 2, and m = 200 takes 6-row tiles. */
static int gemm_tile_rows(const gemm_kernel *kern, int m)
{
    int best = kern->mr, r;
    double best_cost = 1e300;
    for (r = kern->mr; 3 * r >= 2 * kern->mr; r--) {
        double panels = (double)((m + r - 1) / r), cost = panels * r + panels;
        if (kern->fns[0][0][r] && kern->fns[0][1][r] && cost < best_cost) {
            best = r;
            best_cost = cost;
        }
    }
    return best;
}

/* pack: gemm_pack_floats(kern) floats for each of `threads` threads.
   Threads split C by rows, in whole MR panels, and each packs all of B for
   itself; a product of few rows (a conv layer's weight gradient: its
   output channels by k k c, summed over every pixel of the batch) they
   split by columns instead, in whole tiles, each packing all of A. Packing
   is per thread because a packed B shared between threads costs more than
   packing it twice, as each thread reads the panels the other wrote from
   the other core's cache, and the next K block writes them again under it (two
   threads gained 1.0x on the 200 x 200 weight gradient with K = 1000, and
   1.7x in place of 1.9x on the decoder's products). Nor do the threads
   wait for each other before the end. Every C tile has one owner and the
   same sums in the same order as on one thread. */
static void gemm_blocked(const gemm_kernel *kern, float *pack, int threads, int ta, int tb, int m, int n, int k,
                         const float *a, int lda, const float *b, int ldb, float *c, int ldc, const float *bias,
                         int act, int accumulate)
{
    gemm_job g;
    if (m <= 0 || n <= 0 || (k <= 0 && accumulate))
        return;
    if (k <= 0) {
        int i;
        for (i = 0; i < m; i++)
            memset(c + (size_t)i * ldc, 0, (size_t)n * sizeof *c);
        bias_act_rows(c, ldc, bias, m, n, act);
        return;
    }
    g.kern = kern;
    g.mr = gemm_tile_rows(kern, m);
    g.mc = kern->mc / g.mr * g.mr;
    g.ta = ta;
    g.tb = tb;
    g.m = m;
    g.n = n;
    g.k = k;
    g.a = a;
    g.b = b;
    g.c = c;
    g.lda = lda;
    g.ldb = ldb;
    g.ldc = ldc;
    g.bias = bias;
    g.act = act;
    g.accumulate = accumulate;
    /* In place, an operand costs no copy but is read from a strided,
       unaligned layout (B's rows then often straddle cache lines), from
       more cache lines than packed. That pays where a packed panel would be
       used only a few times (few panels of the other operand) or the panels
       are short enough to stay in L1 anyway (small k). Rows of A always
       pay, as their transposing copy is the dearest: A^T in place touches
       a new cache line at every step, MR rows of A one each per 16 steps. */
    g.a_in_place = !ta || k <= 32 || n <= 2 * kern->nr;
    g.b_in_place = !tb && (k <= 32 || m <= 4 * kern->mr);
#ifdef _OPENMP
    if (threads > 1 && m > kern->mc &&
        (double)m * min_int(n, kern->nc) * min_int(k, kern->kc) >= 8.0 * OMP_MIN_WORK) {
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads(), panels = (m + g.mr - 1) / g.mr;
            int i0 = (int)((long)panels * t / nt) * g.mr, i1 = (int)((long)panels * (t + 1) / nt) * g.mr;
            gemm_part(&g, pack + (size_t)t * gemm_pack_floats(kern), i0, min_int(i1, m), 0, n);
        }
        return;
    }
    if (threads > 1 && n >= 2 * kern->nr && (double)m * n * min_int(k, kern->kc) >= 8.0 * OMP_MIN_WORK) {
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads(), panels = (n + kern->nr - 1) / kern->nr;
            int j0 = (int)((long)panels * t / nt) * kern->nr, j1 = (int)((long)panels * (t + 1) / nt) * kern->nr;
            gemm_part(&g, pack + (size_t)t * gemm_pack_floats(kern), 0, m, j0, min_int(j1, n));
        }
        return;
    }
#else
    (void)threads;
#endif
    gemm_part(&g, pack, 0, m, 0, n);
}

/* ---- CPU backend ----------------------------------------------------------

   Every op of vae_backend.h on the host. None can fail once the memory
   exists; they return VAE_OK so that the model treats every backend alike. */

typedef struct {
    float *mem;      /* the model's floats, VAE_BUFFER_ALIGN-aligned inside block */
    void *block;
    const gemm_kernel *kern;
    float *pack;     /* gemm_pack_floats(kern) per thread */
    int threads;     /* threads the packing buffers were sized for */
} cpu_dev;

const char *vae_cpu_kernels(void)
{
#if defined(GEMM_X86)
    if (x86_avx512())
        return "avx512 avx2 c";
    if (x86_avx2())
        return "avx2 c";
#elif defined(GEMM_NEON)
    return "neon c";
#endif
    return "c";
}

static vae_status cpu_create(void **out, size_t n, const void *params, char *why, size_t why_len)
{
    const vae_cpu_params *p = params;
    const gemm_kernel *kern = gemm_kernel_named(p ? p->kernel : NULL);
    cpu_dev *d;
    *out = NULL;
    if (!kern) {
        if (why_len)
            snprintf(why, why_len, "no GEMM kernel '%.20s' on this processor (it runs: %s)", p->kernel,
                     vae_cpu_kernels());
        return VAE_ERR_ARG;
    }
    if (why_len)
        snprintf(why, why_len, "out of memory");
    if (!(d = VAE_MALLOC(sizeof *d)))
        return VAE_ERR_NOMEM;
    d->block = n <= (SIZE_MAX - VAE_BUFFER_ALIGN) / sizeof(float) ? VAE_MALLOC(n * sizeof(float) + VAE_BUFFER_ALIGN)
                                                                  : NULL;
    d->kern = kern;
    d->threads = OMP_MAX_THREADS();
    d->pack = VAE_MALLOC(gemm_pack_floats(kern) * sizeof(float) * (size_t)d->threads);
    if (!d->block || !d->pack) {
        VAE_FREE(d->block);
        VAE_FREE(d->pack);
        VAE_FREE(d);
        return VAE_ERR_NOMEM;
    }
    /* malloc promises alignment for any type, often 16 bytes: tensors
       aligned relative to mem are aligned in memory only if mem is. */
    d->mem = (float *)((char *)d->block + (VAE_BUFFER_ALIGN - (uintptr_t)d->block % VAE_BUFFER_ALIGN));
    *out = d;
    return VAE_OK;
}

static void cpu_destroy(void *dev)
{
    cpu_dev *d = dev;
    if (!d)
        return;
    VAE_FREE(d->block);
    VAE_FREE(d->pack);
    VAE_FREE(d);
}

static const char *cpu_error(void *dev)
{
    (void)dev;
    return NULL;
}

#define MEM(ref) (((cpu_dev *)dev)->mem + (ref))

static vae_status cpu_write(void *dev, vae_ref dst, const float *src, size_t n)
{
    memcpy(MEM(dst), src, n * sizeof(float));
    return VAE_OK;
}

static vae_status cpu_read(void *dev, vae_ref src, float *dst, size_t n)
{
    memcpy(dst, MEM(src), n * sizeof(float));
    return VAE_OK;
}

static vae_status cpu_zero(void *dev, vae_ref dst, size_t n)
{
    memset(MEM(dst), 0, n * sizeof(float));
    return VAE_OK;
}


static vae_status cpu_gemm(void *dev, int ta, int tb, int m, int n, int k, vae_ref a, int lda, vae_ref b, int ldb,
                           vae_ref c, int ldc, vae_ref bias, int act, int accumulate)
{
    cpu_dev *d = dev;
    /* Never more threads than there are packing buffers, even if the
       caller raised the thread count after the model was made. */
    int threads = min_int(d->threads, OMP_MAX_THREADS());
    gemm_blocked(d->kern, d->pack, threads, ta, tb, m, n, k, MEM(a), lda, MEM(b), ldb, MEM(c), ldc,
                 bias == VAE_NO_REF ? NULL : MEM(bias), act, accumulate);
    return VAE_OK;
}

static vae_status cpu_act_backward(void *dev, vae_ref dy, vae_ref y, vae_ref scale, vae_ref dbias, int rows,
                                   int cols, int act, int group)
{
    float *g = MEM(dy), *db = MEM(dbias);
    const float *out = MEM(y), *sc = scale == VAE_NO_REF ? NULL : MEM(scale);
    int c0;
    /* Threads own column blocks, so each bias sum has one owner and order.
       The sums live in a local array, which the compiler knows no row
       pointer can reach: one fused pass per row. */
    OMP_FOR_IF((size_t)rows * cols >= OMP_MIN_WORK)
    for (c0 = 0; c0 < cols; c0 += 64) {
        float sum[64] = {0};
        int w = min_int(cols - c0, 64), r, c;
        for (r = 0; r < rows; r++) {
            float *restrict gr = g + (size_t)r * cols + c0;
            const float *restrict yr = out + (size_t)r * cols + c0;
            const float f = sc ? sc[r / group] : 1.0f;
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
            case VAE_ACT_SIGMOID:
                for (c = 0; c < w; c++) {
                    float v = f * gr[c] * yr[c] * (1.0f - yr[c]);
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
    return VAE_OK;
}

/* Where few channels make a window row's run of k c floats short, im2col
   goes along the row of windows for each of its entries instead: a copy
   call of 3 floats per window made model B's first layer's forward pass
   20% slower. (col2im's short runs are additions, not calls, and going
   along the row made them no faster.) */
#define SHORT_RUN_CHANNELS 4

/* The windows ox of a row whose column kx lies inside the image:
   [*lo, *hi). */
static void inside_windows(const vae_conv_geom *g, int kx, int *lo, int *hi)
{
    int first = g->pad - kx, last = g->w - 1 + g->pad - kx; /* ox stride in [first, last] */
    *lo = first <= 0 ? 0 : (first + g->stride - 1) / g->stride;
    *hi = last < 0 ? 0 : min_int(last / g->stride + 1, g->ow);
    *lo = min_int(*lo, *hi);
}

/* Window row (b, oy) entry by entry: for each (ky, kx, channel), that
   entry of every window in the row. */
static void im2col_short_row(const float *img, float *dst, int b, int oy, const vae_conv_geom *g)
{
    size_t c = (size_t)g->c, run = (size_t)g->k * c, width = (size_t)g->k * run, ch;
    int ky, kx, ox, lo, hi;
    for (ky = 0; ky < g->k; ky++) {
        int y = oy * g->stride - g->pad + ky;
        const float *src = img + ((size_t)b * g->h + (size_t)(y < 0 ? 0 : y)) * g->w * c;
        for (kx = 0; kx < g->k; kx++) {
            inside_windows(g, kx, &lo, &hi);
            if (y < 0 || y >= g->h)
                lo = hi = 0;
            for (ch = 0; ch < c; ch++) {
                float *d = dst + (size_t)ky * run + (size_t)kx * c + ch;
                /* the first inside window's pixel; src itself when none is */
                const float *s = lo < hi ? src + ((long)g->stride * lo - g->pad + kx) * (long)c + (long)ch : src;
                for (ox = 0; ox < lo; ox++)
                    d[(size_t)ox * width] = 0.0f;
                for (; ox < hi; ox++, s += (size_t)g->stride * c)
                    d[(size_t)ox * width] = *s;
                for (; ox < g->ow; ox++)
                    d[(size_t)ox * width] = 0.0f;
            }
        }
    }
}

/* Rows (b, oy) of windows at a time: each thread writes its own rows. A
   window's row ky inside the image is k c contiguous floats there and in
   the window, one copy; only windows over the border go entry by entry. */
static vae_status cpu_im2col(void *dev, vae_ref images, vae_ref cols, int n, const vae_conv_geom *g)
{
    const float *img = MEM(images);
    float *col = MEM(cols);
    size_t c = (size_t)g->c, run = (size_t)g->k * c, width = (size_t)g->k * run;
    long row, rows = (long)n * g->oh;
    OMP_FOR_IF((double)rows * g->ow * width >= OMP_MIN_WORK)
    for (row = 0; row < rows; row++) {
        int b = (int)(row / g->oh), oy = (int)(row % g->oh), ox, ky, kx;
        if (g->c <= SHORT_RUN_CHANNELS) {
            im2col_short_row(img, col + (size_t)row * g->ow * width, b, oy, g);
            continue;
        }
        for (ox = 0; ox < g->ow; ox++) {
            float *dst = col + ((size_t)row * g->ow + ox) * width;
            int x0 = ox * g->stride - g->pad, inside = x0 >= 0 && x0 + g->k <= g->w;
            for (ky = 0; ky < g->k; ky++, dst += run) {
                int y = oy * g->stride - g->pad + ky;
                size_t at = ((size_t)b * g->h + (size_t)y) * g->w; /* the image row, when y is in it */
                if (y < 0 || y >= g->h) {
                    memset(dst, 0, run * sizeof *dst);
                } else if (inside) {
                    memcpy(dst, img + (at + (size_t)x0) * c, run * sizeof *dst);
                } else {
                    for (kx = 0; kx < g->k; kx++) {
                        int x = x0 + kx;
                        if (x < 0 || x >= g->w)
                            memset(dst + kx * c, 0, c * sizeof *dst);
                        else
                            memcpy(dst + kx * c, img + (at + (size_t)x) * c, c * sizeof *dst);
                    }
                }
            }
        }
    }
    return VAE_OK;
}

/* Image row (b, y) at a time, each thread its own rows: the window rows
   oy that reach y (their kernel row ky = y + pad - oy stride) are added in
   order, each window's row ky as k c contiguous floats where it lies
   inside the image. An element's sum thus runs over the windows in order
   (decreasing ky, then decreasing kx), one thread's, whatever the thread
   count. A gather by element made model B's last layer 7x slower: a
   division and a short loop for every window entry. */
static vae_status cpu_col2im(void *dev, vae_ref cols, vae_ref images, vae_ref bias, int act, int n,
                             const vae_conv_geom *g)
{
    const float *col = MEM(cols), *b = bias == VAE_NO_REF ? NULL : MEM(bias);
    float *img = MEM(images);
    size_t c = (size_t)g->c, run = (size_t)g->k * c, width = (size_t)g->k * run;
    int st = g->stride;
    long row, rows = (long)n * g->h;
    OMP_FOR_IF((double)rows * g->w * width >= OMP_MIN_WORK)
    for (row = 0; row < rows; row++) {
        int im = (int)(row / g->h), y = (int)(row % g->h), u = y + g->pad, oy, ox, kx;
        /* oy stride <= u and u - oy stride < k */
        int oy0 = u >= g->k ? (u - g->k) / st + 1 : 0, oy1 = min_int(u / st, g->oh - 1);
        float *dst = img + (size_t)row * g->w * c;
        memset(dst, 0, (size_t)g->w * c * sizeof *dst);
        for (oy = oy0; oy <= oy1; oy++) {
            int ky = u - oy * st;
            const float *src = col + ((size_t)im * g->oh + oy) * g->ow * width + (size_t)ky * run;
            for (ox = 0; ox < g->ow; ox++, src += width) {
                int x0 = ox * st - g->pad;
                if (x0 >= 0 && x0 + g->k <= g->w) {
                    float *restrict d = dst + (size_t)x0 * c;
                    size_t j;
                    for (j = 0; j < run; j++)
                        d[j] += src[j];
                } else {
                    for (kx = 0; kx < g->k; kx++) {
                        int x = x0 + kx;
                        size_t ch;
                        if (x < 0 || x >= g->w)
                            continue;
                        for (ch = 0; ch < c; ch++)
                            dst[(size_t)x * c + ch] += src[(size_t)kx * c + ch];
                    }
                }
            }
        }
        bias_act_rows(dst, (int)c, b, g->w, (int)c, act);
    }
    return VAE_OK;
}

static vae_status cpu_reparam(void *dev, vae_ref mu_logvar, vae_ref eps, vae_ref std, vae_ref z,
                              vae_ref log_p_minus_q, int n, int k, int zdim)
{
    const float *st = MEM(mu_logvar), *e = MEM(eps);
    float *sd = MEM(std), *zz = MEM(z), *lpq = MEM(log_p_minus_q);
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
            /* log N(z; 0, I) - log q(z|x) = sum -z^2/2 + eps^2/2 + logvar/2:
               the log(2 pi) terms cancel, and log q is exact in terms of eps
               (z - mu = std eps). */
            for (j = 0; j < zdim; j++) {
                zr[j] = mu[j] + sb[j] * er[j];
                s += 0.5f * (er[j] * er[j] + lv[j] - zr[j] * zr[j]);
            }
            lpq[r] = s;
        }
    }
    return VAE_OK;
}

static vae_status cpu_reparam_backward(void *dev, vae_ref dz, vae_ref z, vae_ref eps, vae_ref std, vae_ref weight,
                                       vae_ref dmu_logvar, int n, int k, int zdim)
{
    const float *zz = MEM(z), *e = MEM(eps), *sd = MEM(std), *wt = weight == VAE_NO_REF ? NULL : MEM(weight);
    float *g = MEM(dz), *ds = MEM(dmu_logvar);
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
            /* -z^2/2 of log N(z; 0, I) gives the loss weight z; the
               +logvar/2 of -log q gives it -weight/2 */
            const float w = wt ? wt[r] : 0.0f;
            for (j = 0; j < zdim; j++) {
                gr[j] += w * zr[j];
                dmu[j] += gr[j];
                dlv[j] += 0.5f * (gr[j] * sb[j] * er[j] - w);
            }
        }
    }
    return VAE_OK;
}

/* The mixture's log weights, log softmax(logit), into out (K): the max is
   subtracted first so that exp cannot overflow. */
static void log_softmax(const float *logit, int K, float *out)
{
    float mx = logit[0], s = 0.0f;
    int c;
    for (c = 1; c < K; c++)
        mx = logit[c] > mx ? logit[c] : mx;
    for (c = 0; c < K; c++)
        s += expf(logit[c] - mx);
    for (c = 0; c < K; c++)
        out[c] = logit[c] - mx - logf(s);
}

static vae_status cpu_mog_log_prob(void *dev, vae_ref z, vae_ref mean, vae_ref logvar, vae_ref logit,
                                   vae_ref cache, vae_ref resp, vae_ref log_p_minus_q, int rows, int zdim, int K)
{
    const float *zz = MEM(z), *mu = MEM(mean), *lv = MEM(logvar);
    float *iv = MEM(cache), *logw = iv + (size_t)K * zdim, *rs = MEM(resp), *lpq = MEM(log_p_minus_q);
    size_t i;
    int r;
    for (i = 0; i < (size_t)K * zdim; i++)
        iv[i] = expf(-lv[i]);
    log_softmax(MEM(logit), K, logw);
    OMP_FOR_IF((size_t)rows * K * zdim >= OMP_MIN_WORK)
    for (r = 0; r < rows; r++) {
        const float *zr = zz + (size_t)r * zdim;
        float *a = rs + (size_t)r * K, mx = -INFINITY, s = 0.0f, s2 = 0.0f;
        int c, j;
        /* a_c = log w_c + log N(z; mean_c, var_c) */
        for (c = 0; c < K; c++) {
            const float *m = mu + (size_t)c * zdim, *v = iv + (size_t)c * zdim, *l = lv + (size_t)c * zdim;
            float t = 0.0f;
            for (j = 0; j < zdim; j++) {
                float d = zr[j] - m[j];
                t += d * d * v[j] + l[j];
            }
            a[c] = logw[c] - 0.5f * t;
            mx = a[c] > mx ? a[c] : mx;
        }
        /* logsumexp over components; the responsibilities are its softmax */
        for (c = 0; c < K; c++)
            s += expf(a[c] - mx);
        for (c = 0; c < K; c++)
            a[c] = expf(a[c] - mx) / s;
        /* relative to N(0, I), whose -z^2/2 the reparameterisation put in */
        for (j = 0; j < zdim; j++)
            s2 += 0.5f * zr[j] * zr[j];
        lpq[r] += mx + logf(s) + s2;
    }
    return VAE_OK;
}

static vae_status cpu_mog_backward(void *dev, vae_ref z, vae_ref mean, vae_ref cache, vae_ref resp, vae_ref weight,
                                   vae_ref dz, vae_ref dmean, vae_ref dlogvar, vae_ref dlogit, int rows, int zdim,
                                   int K)
{
    const float *zz = MEM(z), *mu = MEM(mean), *iv = MEM(cache), *logw = iv + (size_t)K * zdim;
    const float *rs = MEM(resp), *wt = MEM(weight);
    float *g = MEM(dz), *dm = MEM(dmean), *dl = MEM(dlogvar), *dg = MEM(dlogit);
    int r, c;
    /* d log p / dz = -sum_c resp_c (z - mean_c) / var_c, less -z for the
       N(0, I) it is relative to; the loss takes -weight times it. Threads
       own rows here and components below, so every sum has one owner and
       one order. */
    OMP_FOR_IF((size_t)rows * K * zdim >= OMP_MIN_WORK)
    for (r = 0; r < rows; r++) {
        const float *zr = zz + (size_t)r * zdim, *a = rs + (size_t)r * K;
        float *gr = g + (size_t)r * zdim;
        int cc, j;
        for (j = 0; j < zdim; j++)
            gr[j] -= wt[r] * zr[j];
        for (cc = 0; cc < K; cc++) {
            const float *m = mu + (size_t)cc * zdim, *v = iv + (size_t)cc * zdim;
            const float f = wt[r] * a[cc];
            for (j = 0; j < zdim; j++)
                gr[j] += f * (zr[j] - m[j]) * v[j];
        }
    }
    OMP_FOR_IF((size_t)rows * K * zdim >= OMP_MIN_WORK)
    for (c = 0; c < K; c++) {
        const float *m = mu + (size_t)c * zdim, *v = iv + (size_t)c * zdim;
        float *dmc = dm + (size_t)c * zdim, *dlc = dl + (size_t)c * zdim;
        float weight_sum = 0.0f, resp_sum = 0.0f;
        int rr, j;
        for (j = 0; j < zdim; j++)
            dmc[j] = dlc[j] = 0.0f;
        for (rr = 0; rr < rows; rr++) {
            const float *zr = zz + (size_t)rr * zdim;
            const float f = wt[rr] * rs[(size_t)rr * K + c];
            for (j = 0; j < zdim; j++) {
                float d = zr[j] - m[j];
                dmc[j] -= f * d * v[j];
                dlc[j] -= 0.5f * f * (d * d * v[j] - 1.0f);
            }
            weight_sum += wt[rr];
            resp_sum += f;
        }
        /* d log p / d logit_c = resp_c - w_c */
        dg[c] = weight_sum * expf(logw[c]) - resp_sum;
    }
    return VAE_OK;
}

static vae_status cpu_kl_normal(void *dev, vae_ref mu_logvar, vae_ref log_p_minus_q, int n, int k, int zdim)
{
    const float *st = MEM(mu_logvar);
    float *lpq = MEM(log_p_minus_q);
    int b, i, j;
    for (b = 0; b < n; b++) {
        const float *mu = st + (size_t)b * 2 * zdim, *lv = mu + zdim;
        float kl = 0.0f;
        for (j = 0; j < zdim; j++)
            kl += 0.5f * (mu[j] * mu[j] + expf(lv[j]) - 1.0f - lv[j]);
        for (i = 0; i < k; i++)
            lpq[(size_t)b * k + i] = -kl;
    }
    return VAE_OK;
}

static vae_status cpu_kl_normal_backward(void *dev, vae_ref mu_logvar, vae_ref weight, vae_ref dmu_logvar, int n,
                                         int k, int zdim)
{
    const float *st = MEM(mu_logvar), *wt = MEM(weight);
    float *ds = MEM(dmu_logvar);
    int b, i, j;
    for (b = 0; b < n; b++) {
        const float *mu = st + (size_t)b * 2 * zdim, *lv = mu + zdim;
        float *dmu = ds + (size_t)b * 2 * zdim, *dlv = dmu + zdim, w = 0.0f;
        for (i = 0; i < k; i++)
            w += wt[(size_t)b * k + i];
        for (j = 0; j < zdim; j++) {
            dmu[j] += w * mu[j];
            dlv[j] += w * 0.5f * (expf(lv[j]) - 1.0f);
        }
    }
    return VAE_OK;
}

/* Lanes for sums that must vectorise without reassociating: each lane is
   its own accumulator, and the lanes are added in a fixed order at the end. */
#define LANES 16

static vae_status cpu_bernoulli(void *dev, vae_ref logits, vae_ref x, vae_ref log_px, int rows, int k, int d,
                                int grad)
{
    float *l = MEM(logits), *lp = MEM(log_px);
    const float *xs = MEM(x);
    int r;
    OMP_FOR_IF((size_t)rows * d >= OMP_MIN_WORK)
    for (r = 0; r < rows; r++) {
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
                float v = lr[c0 + j], e = fast_exp(-fabsf(v));
                float sp = (v > 0.0f ? v : 0.0f) + log1p_unit(e);
                acc[j] += xr[c0 + j] * v - sp;
                if (grad)
                    lr[c0 + j] = (v >= 0.0f ? 1.0f : e) / (1.0f + e) - xr[c0 + j];
            }
        }
        for (c = c0; c < d; c++) {
            float v = lr[c], e = fast_exp(-fabsf(v));
            s += xr[c] * v - ((v > 0.0f ? v : 0.0f) + log1p_unit(e));
            if (grad)
                lr[c] = (v >= 0.0f ? 1.0f : e) / (1.0f + e) - xr[c];
        }
        for (j = 0; j < LANES; j++)
            s += acc[j];
        lp[r] = s;
    }
    return VAE_OK;
}

/* The Gaussian's squared error for one row and, with grad, the gradient
   of -log p with respect to its parameters l: the mean sigmoid(l), whose
   slope mean (1 - mean) = e / (1 + e)^2 comes from e = exp(-|l|), which
   cannot overflow; or with linear the mean l itself. */
#define GAUSSIAN_ROW(MEAN_AND_GRAD)                                                                              \
    do {                                                                                                         \
        for (c0 = 0; c0 + LANES <= d; c0 += LANES)                                                              \
            for (j = 0; j < LANES; j++) {                                                                        \
                float v = lr[c0 + j], diff, g;                                                                   \
                MEAN_AND_GRAD(v, xr[c0 + j]);                                                                    \
                acc[j] += diff * diff;                                                                           \
                if (grad)                                                                                        \
                    lr[c0 + j] = g;                                                                              \
            }                                                                                                    \
        for (c = c0; c < d; c++) {                                                                               \
            float v = lr[c], diff, g;                                                                            \
            MEAN_AND_GRAD(v, xr[c]);                                                                             \
            s += diff * diff;                                                                                    \
            if (grad)                                                                                            \
                lr[c] = g;                                                                                       \
        }                                                                                                        \
    } while (0)
#define SIGMOID_MEAN(v, x)                                                                                       \
    float e = fast_exp(-fabsf(v)), q = 1.0f / (1.0f + e);                                                       \
    diff = (v >= 0.0f ? q : e * q) - (x);                                                                        \
    g = diff * inv_var * e * q * q
#define LINEAR_MEAN(v, x)                                                                                        \
    diff = (v) - (x);                                                                                            \
    g = diff * inv_var

static vae_status cpu_gaussian(void *dev, vae_ref logits, vae_ref x, vae_ref log_sigma, vae_ref log_px,
                               vae_ref sq_err, int rows, int k, int d, int linear, int grad)
{
    float *l = MEM(logits), *lp = MEM(log_px), *se = MEM(sq_err);
    const float *xs = MEM(x);
    const float ls = *MEM(log_sigma), inv_var = expf(-2.0f * ls);
    /* -d/2 log(2 pi sigma^2), the same for every row */
    const float norm = -(float)d * (0.91893853320467274f + ls);
    int r;
    OMP_FOR_IF((size_t)rows * d >= OMP_MIN_WORK)
    for (r = 0; r < rows; r++) {
        float *lr = l + (size_t)r * d;
        const float *xr = xs + (size_t)(r / k) * d;
        float acc[LANES] = {0};
        float s = 0.0f;
        int c0, c, j;
        if (linear)
            GAUSSIAN_ROW(LINEAR_MEAN);
        else
            GAUSSIAN_ROW(SIGMOID_MEAN);
        for (j = 0; j < LANES; j++)
            s += acc[j];
        se[r] = s;
        lp[r] = norm - 0.5f * s * inv_var;
    }
    return VAE_OK;
}

#undef GAUSSIAN_ROW
#undef SIGMOID_MEAN
#undef LINEAR_MEAN

static vae_status cpu_gaussian_backward(void *dev, vae_ref sq_err, vae_ref weight, vae_ref log_sigma,
                                        vae_ref dlog_sigma, int rows, int d)
{
    const float *se = MEM(sq_err), *wt = MEM(weight);
    const float inv_var = expf(-2.0f * *MEM(log_sigma));
    double s = 0.0;
    int r;
    for (r = 0; r < rows; r++)
        s += (double)wt[r] * ((float)d - se[r] * inv_var);
    *MEM(dlog_sigma) = (float)s;
    return VAE_OK;
}

static vae_status cpu_combine(void *dev, vae_ref log_px, vae_ref log_p_minus_q, float beta, vae_ref logw,
                              vae_ref bound, vae_ref objective, vae_ref weight, vae_ref latent_weight, int n, int k,
                              int iwae)
{
    const float *lx = MEM(log_px), *lpq = MEM(log_p_minus_q);
    float *lw = MEM(logw), *bd = MEM(bound), *ob = MEM(objective), *wt = MEM(weight), *lt = MEM(latent_weight);
    int b, i;
    for (b = 0; b < n; b++) {
        float *w = lw + (size_t)b * k, *c = wt + (size_t)b * k;
        for (i = 0; i < k; i++)
            w[i] = lpq[(size_t)b * k + i] + lx[(size_t)b * k + i];
        if (!iwae) {
            double s = 0.0, o = 0.0;
            for (i = 0; i < k; i++) {
                s += w[i];
                o += lx[(size_t)b * k + i] + (double)beta * lpq[(size_t)b * k + i];
                c[i] = 1.0f / ((float)n * k);
            }
            bd[b] = (float)(s / k);
            ob[b] = beta == 1.0f ? bd[b] : (float)(o / k);
        } else {
            /* logsumexp: subtract the max so that exp cannot overflow; the
               normalised weights are the softmax of log w. */
            double mx = w[0], s = 0.0;
            for (i = 1; i < k; i++)
                mx = w[i] > mx ? w[i] : mx;
            for (i = 0; i < k; i++)
                s += exp(w[i] - mx);
            bd[b] = (float)(mx + log(s) - log((double)k));
            /* A weight below 2^-60 of the total changes no float gradient;
               flushed to zero, its sample stays out of the denormal range,
               where x86 arithmetic is ~100x slower, and out of the
               decoder's backward pass. */
            for (i = 0; i < k; i++) {
                double wi = exp(w[i] - mx) / s;
                c[i] = wi < 0x1p-60 ? 0.0f : (float)(wi / n);
            }
            ob[b] = bd[b];
        }
        for (i = 0; i < k; i++)
            lt[(size_t)b * k + i] = beta * c[i];
    }
    return VAE_OK;
}

/* kept holds int32 indices: memory from malloc takes the type it is
   written with, and this region is only ever written and read as int32. */
static vae_status cpu_select_rows(void *dev, vae_ref weight, int rows, vae_ref kept, int *count)
{
    const float *wt = MEM(weight);
    int32_t *kp = (int32_t *)MEM(kept);
    int r, n = 0;
    for (r = 0; r < rows; r++)
        if (wt[r] != 0.0f)
            kp[n++] = r;
    *count = n;
    return VAE_OK;
}

static vae_status cpu_gather_rows(void *dev, vae_ref dst, vae_ref src, vae_ref kept, int count, int width)
{
    const int32_t *kp = (const int32_t *)MEM(kept);
    float *d = MEM(dst);
    const float *s = MEM(src);
    size_t w = (size_t)width;
    int j;
    for (j = 0; j < count; j++)
        if (dst != src || kp[j] != j)
            memcpy(d + j * w, s + (size_t)kp[j] * w, w * sizeof *d);
    return VAE_OK;
}

static vae_status cpu_scatter_rows(void *dev, vae_ref x, vae_ref kept, int count, int rows, int width)
{
    const int32_t *kp = (const int32_t *)MEM(kept);
    float *v = MEM(x);
    size_t w = (size_t)width;
    int j, r;
    /* kept[j] >= j: from the last row down, no row is overwritten before
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
    return VAE_OK;
}

/* v[0..n) summed in order, in double precision, as hi + lo. */
static void sum_in_order(const float *v, int n, float *hi_lo)
{
    double s = 0.0;
    int i;
    for (i = 0; i < n; i++)
        s += v[i];
    hi_lo[0] = (float)s;
    hi_lo[1] = (float)(s - hi_lo[0]);
}

static vae_status cpu_check_step(void *dev, vae_ref bound, vae_ref objective, int n, vae_ref g, size_t count,
                                 vae_ref summary)
{
    const float *v = MEM(g);
    float *out = MEM(summary), acc[LANES] = {0};
    size_t i;
    int j;
    sum_in_order(MEM(bound), n, out + VAE_STEP_BOUND);
    sum_in_order(MEM(objective), n, out + VAE_STEP_OBJECTIVE);
    /* v * 0 is 0 for finite v and NaN for inf or NaN, and NaN sticks. */
    for (i = 0; i + LANES <= count; i += LANES)
        for (j = 0; j < LANES; j++)
            acc[j] += v[i + j] * 0.0f;
    for (; i < count; i++)
        acc[0] += v[i] * 0.0f;
    out[VAE_STEP_OK] = isfinite(out[VAE_STEP_BOUND]) && isfinite(out[VAE_STEP_OBJECTIVE]) ? 1.0f : 0.0f;
    for (j = 0; j < LANES; j++)
        if (acc[j] != 0.0f)
            out[VAE_STEP_OK] = 0.0f;
    return VAE_OK;
}

static vae_status cpu_adam(void *dev, vae_ref p, vae_ref g, vae_ref m1, vae_ref m2, size_t n, float lr, float b1,
                           float b2, float eps, long t, int adamax, vae_ref ok)
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
    if (ok != VAE_NO_REF && *MEM(ok) == 0.0f)
        return VAE_OK;
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
    return VAE_OK;
}

#undef MEM

static const vae_backend cpu_backend = {
    .version = VAE_BACKEND_VERSION,
    .name = "cpu",
    .alignment = VAE_BUFFER_ALIGN,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .error = cpu_error,
    .write = cpu_write,
    .read = cpu_read,
    .zero = cpu_zero,
    .gemm = cpu_gemm,
    .act_backward = cpu_act_backward,
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
    .reparam = cpu_reparam,
    .reparam_backward = cpu_reparam_backward,
    .mog_log_prob = cpu_mog_log_prob,
    .mog_backward = cpu_mog_backward,
    .kl_normal = cpu_kl_normal,
    .kl_normal_backward = cpu_kl_normal_backward,
    .bernoulli = cpu_bernoulli,
    .gaussian = cpu_gaussian,
    .gaussian_backward = cpu_gaussian_backward,
    .combine = cpu_combine,
    .select_rows = cpu_select_rows,
    .gather_rows = cpu_gather_rows,
    .scatter_rows = cpu_scatter_rows,
    .check_step = cpu_check_step,
    .adam = cpu_adam,
};

const vae_backend *vae_backend_cpu(void)
{
    return &cpu_backend;
}

/* ---- configuration ---------------------------------------------------------

   One table describes every field of vae_config. vae_config_init reads the
   defaults from it, check_config the ranges, checkpoints store and read
   the fields by its keys, and the vae program makes its options from it. */

static const char *const activation_names[] = {"tanh", "relu", "leakyrelu", NULL};
static const char *const likelihood_names[] = {"bernoulli", "gaussian", NULL};
static const char *const prior_names[] = {"normal", "mog", NULL};
static const char *const kl_names[] = {"mc", "analytic", NULL};
static const char *const objective_names[] = {"elbo", "iwae", NULL};
static const char *const optimizer_names[] = {"adam", "adamax", NULL};
static const char *const posterior_names[] = {"diagonal", "isotropic", NULL};
static const char *const mean_names[] = {"sigmoid", "linear", NULL};

/* Choice fields are enums, read and written as int: that needs enums the
   size of an int (compilers give them that unless told otherwise). */
typedef char enums_are_ints[sizeof(vae_activation) == sizeof(int) && sizeof(vae_likelihood) == sizeof(int) &&
                                    sizeof(vae_prior) == sizeof(int) && sizeof(vae_kl) == sizeof(int) &&
                                    sizeof(vae_objective) == sizeof(int) && sizeof(vae_optimizer) == sizeof(int) &&
                                    sizeof(vae_posterior) == sizeof(int) && sizeof(vae_mean) == sizeof(int)
                                ? 1
                                : -1];

#define FIELD_AT(member) offsetof(vae_config, member)

static const vae_field config_fields[] = {
    {.key = "input_dim", .type = VAE_FIELD_INT, .min = 1, .max = 1 << 24, .def = "784",
     .help = "values per image", .since = 1, .offset = FIELD_AT(input_dim)},
    {.key = "image_rows", .type = VAE_FIELD_INT, .min = 0, .max = 1 << 24, .def = "0",
     .help = "image height (0: not known)", .since = 2, .offset = FIELD_AT(image_rows)},
    {.key = "image_cols", .type = VAE_FIELD_INT, .min = 0, .max = 1 << 24, .def = "0",
     .help = "image width (0: not known)", .since = 2, .offset = FIELD_AT(image_cols)},
    {.key = "image_channels", .type = VAE_FIELD_INT, .min = 0, .max = 4096, .def = "0",
     .help = "channels per pixel (0: not known)", .since = 2, .offset = FIELD_AT(image_channels)},
    {.key = "latent_dim", .option = "latent", .type = VAE_FIELD_INT, .min = 1, .max = 65536, .def = "50",
     .help = "dimensions of z", .since = 1, .offset = FIELD_AT(latent_dim)},
    {.key = "hidden", .option = "hidden", .type = VAE_FIELD_LIST, .min = 1, .max = 65536, .def = "200,200",
     .help = "hidden widths, input side first; the decoder mirrors them", .since = 1,
     .offset = FIELD_AT(n_hidden)},
    {.key = "activation", .option = "act", .type = VAE_FIELD_CHOICE, .choices = activation_names, .def = "tanh",
     .help = "hidden activation", .since = 1, .offset = FIELD_AT(activation)},
    {.key = "encoder", .option = "encoder", .type = VAE_FIELD_TEXT, .max = VAE_MAX_SPEC - 1, .def = "",
     .help = "the encoder's layers, \"conv 32 5 s2 p1,relu,fc 256\" (\"\": the MLP of hidden)", .since = 4,
     .offset = FIELD_AT(encoder)},
    {.key = "decoder", .option = "decoder", .type = VAE_FIELD_TEXT, .max = VAE_MAX_SPEC - 1, .def = "",
     .help = "the decoder's layers, from z to the image's shape (\"\": the MLP of hidden)", .since = 4,
     .offset = FIELD_AT(decoder)},
    {.key = "posterior", .option = "posterior", .type = VAE_FIELD_CHOICE, .choices = posterior_names,
     .def = "diagonal", .help = "q(z|x): a variance per dimension, or one per image", .since = 4,
     .offset = FIELD_AT(posterior)},
    {.key = "likelihood", .option = "likelihood", .type = VAE_FIELD_CHOICE, .choices = likelihood_names,
     .def = "bernoulli", .help = "p(x|z): binary pixels, or grey ones with a Gaussian", .since = 2,
     .offset = FIELD_AT(likelihood)},
    {.key = "sigma", .option = "sigma", .type = VAE_FIELD_REAL, .min = 0, .max = 1000, .def = "0",
     .help = "the Gaussian's fixed sigma, at least 0.001; 0 learns it", .since = 2, .offset = FIELD_AT(sigma)},
    {.key = "mean", .option = "mean", .type = VAE_FIELD_CHOICE, .choices = mean_names, .def = "sigmoid",
     .help = "the Gaussian's mean: sigmoid of the decoder's output, or the output itself", .since = 4,
     .offset = FIELD_AT(mean)},
    {.key = "prior", .option = "prior", .type = VAE_FIELD_CHOICE, .choices = prior_names, .def = "normal",
     .help = "p(z): N(0, I) or a learned mixture of Gaussians", .since = 2, .offset = FIELD_AT(prior)},
    {.key = "components", .option = "components", .type = VAE_FIELD_INT, .min = 1, .max = 1024, .def = "16",
     .help = "components of the mixture prior", .since = 2, .offset = FIELD_AT(components)},
    {.key = "kl", .option = "kl", .type = VAE_FIELD_CHOICE, .choices = kl_names, .def = "mc",
     .help = "the ELBO's KL term: sampled, or exact (elbo with the normal prior)", .since = 2,
     .offset = FIELD_AT(kl)},
    {.key = "beta", .option = "beta", .type = VAE_FIELD_REAL, .min = 0, .max = 1000, .def = "1",
     .help = "weight of the ELBO's log p(z) - log q(z|x) term in training (elbo only)", .since = 3,
     .offset = FIELD_AT(beta)},
    {.key = "objective", .option = "objective", .type = VAE_FIELD_CHOICE, .choices = objective_names,
     .def = "elbo", .help = "bound to maximise", .since = 1, .offset = FIELD_AT(objective)},
    {.key = "k", .option = "k", .type = VAE_FIELD_INT, .min = 1, .max = 1 << 20, .def = "1",
     .help = "samples of z per image", .since = 1, .offset = FIELD_AT(k)},
    {.key = "max_batch", .option = "batch", .type = VAE_FIELD_INT, .min = 1, .max = 1 << 20, .def = "20",
     .help = "images per optimiser step", .since = 1, .offset = FIELD_AT(max_batch)},
    {.key = "optimizer", .option = "optimizer", .type = VAE_FIELD_CHOICE, .choices = optimizer_names,
     .def = "adam", .help = "update rule", .since = 1, .offset = FIELD_AT(optimizer)},
    {.key = "lr", .option = "lr", .type = VAE_FIELD_REAL, .min = 0, .max = 1000, .min_open = 1, .def = "0.001",
     .help = "learning rate", .since = 1, .offset = FIELD_AT(lr)},
    {.key = "beta1", .option = "beta1", .type = VAE_FIELD_REAL, .min = 0, .max = 1, .def = "0.9",
     .help = "decay of the optimiser's first moment", .since = 1, .offset = FIELD_AT(beta1)},
    {.key = "beta2", .option = "beta2", .type = VAE_FIELD_REAL, .min = 0, .max = 1, .def = "0.999",
     .help = "decay of its second moment", .since = 1, .offset = FIELD_AT(beta2)},
    {.key = "eps", .option = "adam-eps", .type = VAE_FIELD_REAL, .min = 0, .max = 1, .min_open = 1,
     .def = "0.0001", .help = "epsilon of Adam and Adamax", .since = 1, .offset = FIELD_AT(eps)},
    {.key = "seed", .option = "seed", .type = VAE_FIELD_U64, .def = "1", .help = "seed of weights and noise",
     .since = 1, .offset = FIELD_AT(seed)},
};

#define N_FIELDS ((int)(sizeof config_fields / sizeof config_fields[0]))

int vae_config_fields(const vae_field **fields)
{
    if (fields)
        *fields = config_fields;
    return N_FIELDS;
}

static const vae_field *find_field(const char *key)
{
    int i;
    for (i = 0; key && i < N_FIELDS; i++)
        if (strcmp(config_fields[i].key, key) == 0)
            return &config_fields[i];
    return NULL;
}

static int choice_count(const char *const *choices)
{
    int n = 0;
    while (choices[n])
        n++;
    return n;
}

/* why (why_len bytes, may be NULL) = the formatted text; returns s. */
static vae_status say(vae_status s, char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    if (why && why_len) {
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* Decimal integers with nothing around them: strtol alone takes leading
   space and stops quietly at junk. */
static int parse_long(const char *s, long *out)
{
    char *end;
    if (!(s[0] == '-' || s[0] == '+' || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    errno = 0;
    *out = strtol(s, &end, 10);
    return end != s && *end == '\0' && errno == 0;
}

/* A decimal number, [+-]digits[.digits][(e|E)[+-]digits], read the same
   whatever the locale: strtod's decimal point is LC_NUMERIC's, so the
   digits are moved into an integer mantissa and a power of ten, which
   strtod reads exactly and correctly rounded. */
static int parse_decimal(const char *s, double *out)
{
    char buf[80];
    size_t n = 0;
    long shift = 0, e = 0;
    int digits = 0, kept = 0, esign = 1;
    if (*s == '+' || *s == '-')
        buf[n++] = *s++;
    /* leading zeros are dropped, and digits past 40 (more than any double
       holds) only scale */
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (kept == 0 && *s == '0')
            continue;
        if (kept < 40)
            buf[n++] = *s, kept++;
        else
            shift++;
    }
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
            if (kept == 0 && *s == '0')
                shift--;
            else if (kept < 40)
                buf[n++] = *s, kept++, shift--;
        }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            esign = *s++ == '-' ? -1 : 1;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        for (; *s >= '0' && *s <= '9'; s++)
            e = e < 100000 ? 10 * e + (*s - '0') : e;
    }
    if (*s)
        return 0;
    if (!kept)
        buf[n++] = '0';
    snprintf(buf + n, sizeof buf - n, "e%ld", shift + esign * e);
    *out = strtod(buf, NULL);
    return 1;
}

/* printf's decimal point is LC_NUMERIC's: a '.' goes back in its place. */
static void dot_decimal(char *s)
{
    const char *dp = localeconv()->decimal_point;
    size_t dl = dp ? strlen(dp) : 0;
    char *at;
    if (dl == 0 || (dl == 1 && dp[0] == '.') || !(at = strstr(s, dp)))
        return;
    *at = '.';
    memmove(at + 1, at + dl, strlen(at + dl) + 1);
}

static vae_status set_list(vae_config *c, const vae_field *f, const char *value, char *why, size_t why_len)
{
    int v[VAE_MAX_HIDDEN], n = 0;
    const char *s = value;
    if (strcmp(value, "none") == 0) {
        c->n_hidden = 0;
        return VAE_OK;
    }
    for (;;) {
        char item[32];
        size_t len = strcspn(s, ",");
        long x;
        if (len == 0 || len >= sizeof item || n == VAE_MAX_HIDDEN)
            break;
        memcpy(item, s, len);
        item[len] = '\0';
        if (!parse_long(item, &x) || x < f->min || x > f->max)
            break;
        v[n++] = (int)x;
        if (s[len] == '\0') {
            c->n_hidden = n;
            memcpy(c->hidden, v, sizeof(int) * (size_t)n);
            return VAE_OK;
        }
        s += len + 1;
    }
    return say(VAE_ERR_ARG, why, why_len, "must be 1 to %d comma-separated integers from %.0f to %.0f, or none, not '%s'",
               VAE_MAX_HIDDEN, f->min, f->max, value);
}

/* ---- network descriptions ----

   "conv 32 5 s2 p1,relu,fc 256": items separated by commas, words by
   spaces. Parsing checks each item alone; what ties them to the image
   and to each other (shapes) is checked when the network is planned. */

enum { SPEC_FC, SPEC_CONV, SPEC_CONVT, SPEC_VIEW, SPEC_ACT };
#define SPEC_MAX_ITEMS (4 * VAE_MAX_LAYERS)
#define SPEC_MAX_CHANNELS 4096
#define SPEC_MAX_KERNEL 64
#define SPEC_MAX_UNITS (1 << 24)

typedef struct {
    int kind;
    int n[3];                       /* fc: n[0] units; conv, convt: n[0] channels; view: c, h, w */
    int k, stride, pad, out_pad;    /* conv, convt */
    int act;                        /* SPEC_ACT: a vae_activation */
} spec_item;

static const char *const spec_act_names[] = {"tanh", "relu", "leakyrelu", NULL};

/* A whole decimal number from lo to hi, the entire word. */
static int spec_number(const char *word, long lo, long hi, int *out)
{
    long v;
    if (!parse_long(word, &v) || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static vae_status parse_item(const char *text, spec_item *it, char *why, size_t why_len)
{
    char buf[VAE_MAX_SPEC], *w[8], *save = buf;
    int nw = 0, i;
    snprintf(buf, sizeof buf, "%s", text);
    while (nw < 8) {
        while (*save == ' ')
            *save++ = '\0';
        if (!*save)
            break;
        w[nw++] = save;
        while (*save && *save != ' ')
            save++;
    }
    if (nw == 0)
        return say(VAE_ERR_ARG, why, why_len, "has an empty layer (two commas, or one at an end)");
    memset(it, 0, sizeof *it);
    it->stride = 1;
    for (i = 0; spec_act_names[i]; i++)
        if (strcmp(w[0], spec_act_names[i]) == 0) {
            if (nw != 1)
                return say(VAE_ERR_ARG, why, why_len, "'%s': an activation takes nothing after it", text);
            it->kind = SPEC_ACT;
            it->act = i;
            return VAE_OK;
        }
    if (strcmp(w[0], "fc") == 0) {
        it->kind = SPEC_FC;
        if (nw != 2 || !spec_number(w[1], 1, SPEC_MAX_UNITS, &it->n[0]))
            return say(VAE_ERR_ARG, why, why_len, "'%s': fc takes a number of units, 1 to %d", text,
                       SPEC_MAX_UNITS);
        return VAE_OK;
    }
    if (strcmp(w[0], "view") == 0) {
        it->kind = SPEC_VIEW;
        if (nw != 4 || !spec_number(w[1], 1, SPEC_MAX_CHANNELS, &it->n[0]) ||
            !spec_number(w[2], 1, SPEC_MAX_UNITS, &it->n[1]) || !spec_number(w[3], 1, SPEC_MAX_UNITS, &it->n[2]))
            return say(VAE_ERR_ARG, why, why_len, "'%s': view takes channels (1 to %d), rows and columns", text,
                       SPEC_MAX_CHANNELS);
        return VAE_OK;
    }
    if (strcmp(w[0], "conv") == 0 || strcmp(w[0], "convt") == 0) {
        int t = w[0][4] == 't';
        it->kind = t ? SPEC_CONVT : SPEC_CONV;
        if (nw < 3 || !spec_number(w[1], 1, SPEC_MAX_CHANNELS, &it->n[0]) ||
            !spec_number(w[2], 1, SPEC_MAX_KERNEL, &it->k))
            return say(VAE_ERR_ARG, why, why_len, "'%s': %s takes channels (1 to %d) and a kernel size (1 to %d)%s",
                       text, w[0], SPEC_MAX_CHANNELS, SPEC_MAX_KERNEL, t ? ", then sS pP oO" : ", then sS pP");
        for (i = 3; i < nw; i++) {
            int *at = w[i][0] == 's' ? &it->stride : w[i][0] == 'p' ? &it->pad : w[i][0] == 'o' && t ? &it->out_pad : NULL;
            long lo = w[i][0] == 's' ? 1 : 0;
            if (!at)
                return say(VAE_ERR_ARG, why, why_len, "'%s': '%s' is not sS (stride), pP (padding)%s", text, w[i],
                           t ? " or oO (output padding)" : "");
            if (!spec_number(w[i] + 1, lo, SPEC_MAX_KERNEL, at))
                return say(VAE_ERR_ARG, why, why_len, "'%s': the %s in '%s' must be %ld to %d", text,
                           w[i][0] == 's' ? "stride" : w[i][0] == 'p' ? "padding" : "output padding", w[i], lo,
                           SPEC_MAX_KERNEL);
        }
        if (it->out_pad >= it->stride)
            return say(VAE_ERR_ARG, why, why_len, "'%s': the output padding %d must be less than the stride %d", text,
                       it->out_pad, it->stride);
        return VAE_OK;
    }
    return say(VAE_ERR_ARG, why, why_len, "'%s' is not a layer (fc, conv, convt, view, relu, tanh, leakyrelu)", text);
}

/* The items of a description, in order; "" has none. */
static vae_status parse_spec(const char *text, spec_item *items, int *count, char *why, size_t why_len)
{
    const char *p = text;
    *count = 0;
    if (!text[strspn(text, " ")])
        return VAE_OK;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[VAE_MAX_SPEC];
        if (*count == SPEC_MAX_ITEMS)
            return say(VAE_ERR_ARG, why, why_len, "has more than %d items", SPEC_MAX_ITEMS);
        memcpy(item, p, len);
        item[len] = '\0';
        TRY(parse_item(item, &items[*count], why, why_len));
        ++*count;
        if (!end)
            return VAE_OK;
        p = end + 1;
    }
}

vae_status vae_config_set(vae_config *c, const char *key, const char *value, char *why, size_t why_len)
{
    const vae_field *f = find_field(key);
    char *at;
    if (why && why_len)
        why[0] = '\0';
    if (!c || !f || !value)
        return say(VAE_ERR_ARG, why, why_len, "no configuration field '%s'", key ? key : "(null)");
    at = (char *)c + f->offset;
    switch (f->type) {
    case VAE_FIELD_INT: {
        long v;
        if (!parse_long(value, &v) || v < f->min || v > f->max)
            return say(VAE_ERR_ARG, why, why_len, "must be an integer from %.0f to %.0f, not '%s'", f->min, f->max,
                       value);
        *(int *)at = (int)v;
        return VAE_OK;
    }
    case VAE_FIELD_REAL: {
        double v = NAN;
        float fv;
        int ok = parse_decimal(value, &v);
        fv = (float)v; /* the range is checked on what is stored */
        if (!ok || !isfinite(fv) || fv < f->min || (f->min_open && fv == f->min) || fv >= f->max)
            return say(VAE_ERR_ARG, why, why_len, "must be a number %s %g and below %g, not '%s'",
                       f->min_open ? ">" : ">=", f->min, f->max, value);
        *(float *)at = fv;
        return VAE_OK;
    }
    case VAE_FIELD_U64: {
        char *end;
        unsigned long long v;
        errno = 0;
        v = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
        if (!(value[0] >= '0' && value[0] <= '9') || *end != '\0' || errno || v > UINT64_MAX)
            return say(VAE_ERR_ARG, why, why_len, "must be an integer from 0 to 2^64 - 1, not '%s'", value);
        *(uint64_t *)at = (uint64_t)v;
        return VAE_OK;
    }
    case VAE_FIELD_CHOICE: {
        int i, n = choice_count(f->choices), len = 0;
        char names[128];
        for (i = 0; i < n; i++)
            if (strcmp(value, f->choices[i]) == 0) {
                *(int *)at = i;
                return VAE_OK;
            }
        for (i = 0; i < n && len < (int)sizeof names; i++)
            len += snprintf(names + len, sizeof names - (size_t)len, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ",
                            f->choices[i]);
        return say(VAE_ERR_ARG, why, why_len, "must be %s, not '%s'", names, value);
    }
    case VAE_FIELD_LIST:
        return set_list(c, f, value, why, why_len);
    case VAE_FIELD_TEXT: {
        size_t len = strlen(value), i;
        spec_item items[SPEC_MAX_ITEMS];
        int n;
        if (len > (size_t)f->max)
            return say(VAE_ERR_ARG, why, why_len, "is %lu characters long, over %.0f", (unsigned long)len, f->max);
        for (i = 0; i < len; i++)
            if ((unsigned char)value[i] < ' ')
                return say(VAE_ERR_ARG, why, why_len, "holds a control character");
        TRY(parse_spec(value, items, &n, why, why_len));
        memcpy(at, value, len + 1);
        return VAE_OK;
    }
    }
    return say(VAE_ERR_ARG, why, why_len, "unknown field type");
}

int vae_config_get(const vae_config *c, const char *key, char *buf, size_t size)
{
    const vae_field *f = find_field(key);
    const char *at;
    int n = -1, i;
    if (!c || !f || !buf || size == 0)
        return -1;
    at = (const char *)c + f->offset;
    switch (f->type) {
    case VAE_FIELD_INT:
        n = snprintf(buf, size, "%d", *(const int *)at);
        break;
    case VAE_FIELD_REAL:
        n = snprintf(buf, size, "%.9g", (double)*(const float *)at);
        if (n >= 0 && (size_t)n < size) {
            dot_decimal(buf);
            n = (int)strlen(buf);
        }
        break;
    case VAE_FIELD_U64:
        n = snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)at);
        break;
    case VAE_FIELD_CHOICE:
        i = *(const int *)at;
        if (i >= 0 && i < choice_count(f->choices))
            n = snprintf(buf, size, "%s", f->choices[i]);
        else
            n = snprintf(buf, size, "%d", i); /* which vae_config_set refuses */
        break;
    case VAE_FIELD_TEXT:
        if (!memchr(at, '\0', (size_t)f->max + 1))
            return -1;
        n = snprintf(buf, size, "%s", at);
        break;
    case VAE_FIELD_LIST:
        if (c->n_hidden < 0 || c->n_hidden > VAE_MAX_HIDDEN)
            return -1;
        n = snprintf(buf, size, "%s", c->n_hidden ? "" : "none");
        for (i = 0; i < c->n_hidden && n >= 0 && (size_t)n < size; i++)
            n += snprintf(buf + n, size - (size_t)n, "%s%d", i ? "," : "", c->hidden[i]);
        break;
    }
    return n >= 0 && (size_t)n < size ? n : -1;
}

void vae_config_init(vae_config *cfg)
{
    int i;
    memset(cfg, 0, sizeof *cfg);
    for (i = 0; i < N_FIELDS; i++)
        vae_config_set(cfg, config_fields[i].key, config_fields[i].def, NULL, 0);
}

/* ---- the model --------------------------------------------------------------

   Parts with small interfaces: layers (a table of kinds), a likelihood
   p(x|z) and a prior p(z), around the reparameterisation step. Each part
   reaches the backend only through m->be; docs/DESIGN.md has the buffer
   map. */

/* A tensor's shape as (channels, rows, cols); n values are (n, 1, 1). In
   memory an image is channels last. */
typedef struct {
    int c, h, w;
} dims3;

static double dims_size(dims3 d)
{
    return (double)d.c * d.h * d.w;
}

typedef struct layer_kind layer_kind;

typedef struct {
    const layer_kind *kind;
    dims3 in, out;
    int image_in, image_out; /* the input (output) is an image: a conv's, or an fc's before a view */
    int k, stride, pad, out_pad; /* conv and convt */
    int act;                 /* applied after the bias: a vae_activation, or VAE_ACT_NONE */
    vae_conv_geom geom;      /* conv, convt: the convolution that im2col and col2im walk */
    int chunk;               /* conv, convt: images per pass through the im2col buffer */
    vae_ref w, b;            /* weight, bias; gradients n_params later */
    char name[16];           /* "enc.0", "enc.head", "dec.out" */
} layer;

typedef struct {
    char name[32];
    vae_ref ref;
    int ndim, shape[VAE_MAX_DIMS]; /* as PyTorch has it */
    int rows, cols;          /* in memory, a rows x cols matrix */
    dims3 row_image, col_image; /* c != 0: that index runs over an image (c, h, w), kept channels last */
} tensor;

typedef struct likelihood likelihood;
typedef struct prior prior;

/* What a likelihood or a prior owns, as its table's shape() declares it:
   parameter tensors, laid out after the layers' biases (so that their
   gradients are in the checked range), and scratch buffers after the
   activations. The model keeps the refs of each in a part_refs. */
#define PART_TENSORS 3
#define PART_BUFFERS 2
typedef struct {
    const char *name;        /* in checkpoints and vae_tensor_info */
    int ndim, rows, cols;    /* rows x cols; ndim 1 is a vector of rows */
    int normal_init;         /* 1: N(0, 1) when the model is created, else 0 */
} part_tensor;

typedef struct {
    int n_params;
    part_tensor param[PART_TENSORS];
    double buffer[PART_BUFFERS]; /* floats of each buffer; 0: none */
} part_shape;

typedef struct {
    vae_ref param[PART_TENSORS], buffer[PART_BUFFERS];
} part_refs;

/* a weight and a bias per layer, the head's split in two; then log sigma
   and the mixture's three */
#define MAX_TENSORS (4 * VAE_MAX_LAYERS + 2 + 1 + 3)
/* Evaluation pushes at least this many decoder rows through at once, so that
   a model trained with small batches still evaluates with efficient GEMMs. */
#define VAE_EVAL_ROWS 256
/* The im2col buffer: a conv layer goes through it this many floats of
   windows at a time (1 MB), whole images, at least one. Passes that stay
   in L2 made model B's conv-transpose forward pass 1.6x faster than
   passes of 16 MB (col2im gathers from all over its windows). The count
   of images per pass depends on the layer alone, so results do not
   depend on the batch the buffers were sized for. */
#define COL_FLOATS ((size_t)1 << 18)
/* ... but at least this many windows (GEMM rows): fewer, and the GEMM
   runs on one thread (model A's 32-channel conv-transpose has 400 windows
   an image, each 800 floats) */
#define COL_ROWS 2048

struct vae {
    vae_config cfg;
    int usable;              /* 0: create or load failed; only the message is valid */
    char error[256];
    const vae_backend *be;
    void *dev;
    size_t align;            /* floats every tensor starts at a multiple of */
    size_t n_params;         /* P: parameters at 0, gradients at P, Adam's m at 2P, v at 3P */
    vae_ref check_from;      /* gradients from here to P are checked for finiteness */
    double layout_floats;    /* what layout() summed, counted in double */
    long steps;
    double last_objective;   /* the last step's mean objective per image */
    vae_rng rng;
    int b_cap, r_cap;        /* images and decoder rows the buffers hold */
    int eval_rows;           /* the least of r_cap, normally VAE_EVAL_ROWS */
    int row_cap;             /* the most of r_cap: vae_load's limit, else INT_MAX */
    const likelihood *lik;
    const prior *pri;
    int mean_act;            /* the output layer's activation that gives E[x|z] */

    int n_enc, n_dec;        /* layers: the encoder's, its head last; the decoder's, its output last */
    layer enc[VAE_MAX_LAYERS], dec[VAE_MAX_LAYERS];
    part_refs lik_at, pri_at; /* what the likelihood and the prior own */
    int n_tensors;
    tensor tensors[MAX_TENSORS];
    int widest_tensor_row;   /* the most cols of a tensor whose order differs in memory */

    /* activations (rows, width), rows b*k + i as in vae_backend.h */
    vae_ref x;               /* (b_cap, D) */
    vae_ref enc_h[VAE_MAX_LAYERS]; /* layer outputs; the last is the head's */
    vae_ref mu_logvar;       /* (b_cap, 2Z) = [mu | logvar]: the head's output, or from it (isotropic) */
    vae_ref expand;          /* isotropic: (2Z, Z + 1), mu_logvar = head expand^T */
    vae_ref dhead;           /* isotropic: (b_cap, Z + 1) */
    vae_ref eps, z;          /* (r_cap, Z) */
    vae_ref std;             /* (b_cap, Z): exp(logvar / 2) */
    vae_ref log_p_minus_q;   /* (r_cap): log p(z) - log q(z|x), or -KL */
    vae_ref log_px;          /* (r_cap): log p(x|z) */
    vae_ref logw, weight;    /* (r_cap): log importance weights; each sample's weight in the loss */
    vae_ref latent_weight;   /* (r_cap): beta times weight, for the terms of log p(z) - log q(z|x) */
    vae_ref bound, objective; /* (b_cap): per image, the bound and the objective (beta-weighted) */
    vae_ref summary;          /* (VAE_STEP_SUMMARY): check_step's, the one value a step reads back */
    vae_ref dec_h[VAE_MAX_LAYERS]; /* layer outputs; the last is the likelihood's parameters (r_cap, D) */
    vae_ref grad_scratch[2]; /* gradients of hidden outputs, in turn: the widest layer's, for its rows */
    vae_ref col;             /* the im2col buffer */
    vae_ref dz;              /* (r_cap, Z) */
    vae_ref kept_rows;       /* (r_cap) int32: rows the decoder's backward pass needs */
    vae_ref z_kept, weight_kept; /* (r_cap, Z), (r_cap): z and weight of those rows */
    vae_ref dmu_logvar;      /* (b_cap, 2Z) */

    float *host;             /* host scratch: host_len floats */
    size_t host_len;
    unsigned char *app;      /* vae_set_app_data's bytes */
    size_t app_len;
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

/* A backend op that failed left no message: name the backend and, where
   it can tell, the reason. */
static vae_status finish(vae *m, vae_status s)
{
    if (s != VAE_OK && !m->error[0]) {
        const char *why = m->dev ? m->be->error(m->dev) : NULL;
        fail(m, s, "%s backend: %s", m->be->name, why ? why : "an operation failed");
    }
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

/* The largest checkpoint vae_load reads. */
#define CKPT_MAX_BYTES ((size_t)1 << 31)
/* The smallest fixed sigma: below it, squared errors over sigma^2 give
   gradients whose squares overflow Adam's second moment. */
#define VAE_MIN_SIGMA 1e-3f

/* ---- layers ------------------------------------------------------------------

   A table of kinds. Each kind gives, side by side, its output shape, its
   parameters (and how PyTorch orders them), its scratch, and its forward
   and backward passes; the model loops over layers and never asks which
   kind it has. A conv layer is im2col, the blocked GEMM and col2im, with
   images channels last, so that the GEMM's bias-and-activation epilogue
   and act_backward's bias sums serve it as they serve a dense layer:
   channels are the GEMM's columns, and each pixel of each image a row. */

struct layer_kind {
    const char *name;
    int spatial;  /* its output is an image whose pixels are the GEMM's rows */
    /* L->out (and the geometry) from L->in and the layer's numbers */
    vae_status (*shape)(layer *L, char *why, size_t why_len);
    double (*weights)(const layer *L);
    /* inputs per output, for the initial weights' bound 1/sqrt(fan_in) */
    double (*fan_in)(const layer *L);
    /* the weight's tensor: its PyTorch shape and how memory orders it */
    void (*weight_tensor)(const layer *L, tensor *t);
    /* floats of im2col windows per image (0: none) */
    double (*col_floats)(const layer *L);
    /* out (rows images) = act(layer(in) + bias), or without add_bias the
       layer alone (act must then be VAE_ACT_NONE) */
    vae_status (*forward)(vae *m, const layer *L, vae_ref in, vae_ref out, int rows, int add_bias, int act);
    /* dout (rows, out) holds d(loss)/d(out), times scale[image] unless
       VAE_NO_REF; overwrites it with the gradient before the activation,
       writes the weight and bias gradients and, unless din is VAE_NO_REF,
       d(loss)/d(in) */
    vae_status (*backward)(vae *m, const layer *L, vae_ref in, vae_ref out, vae_ref dout, vae_ref scale,
                           vae_ref din, int rows);
};

/* Channels, the GEMM's columns, and pixels per image, its rows. */
static int layer_pixels(const layer *L)
{
    return L->kind->spatial ? L->out.h * L->out.w : 1;
}

static int layer_channels(const layer *L)
{
    return L->kind->spatial ? L->out.c : (int)dims_size(L->out);
}

static vae_status layer_act_backward(vae *m, const layer *L, vae_ref dout, vae_ref out, vae_ref scale, int rows)
{
    int px = layer_pixels(L);
    return m->be->act_backward(m->dev, dout, out, scale, L->b + m->n_params, rows * px, layer_channels(L), L->act,
                               px);
}

/* An index that runs over an image (c, h, w) in PyTorch's order is kept
   channels last; images of one channel or one pixel need no reordering. */
static dims3 reordered(dims3 d)
{
    dims3 none = {0, 0, 0};
    return d.c > 1 && (double)d.h * d.w > 1 ? d : none;
}

/* -- fc: out (rows, N) = act(in (rows, in) W^T + b), W (N, in) -- */

static vae_status fc_shape(layer *L, char *why, size_t why_len)
{
    (void)why;
    (void)why_len;
    L->out.h = L->out.w = 1; /* out.c is the units; a view makes it an image after */
    return VAE_OK;
}

static double fc_weights(const layer *L)
{
    return dims_size(L->in) * dims_size(L->out);
}

static double fc_fan_in(const layer *L)
{
    return dims_size(L->in);
}

static void fc_weight_tensor(const layer *L, tensor *t)
{
    t->ndim = 2;
    t->shape[0] = t->rows = (int)dims_size(L->out);
    t->shape[1] = t->cols = (int)dims_size(L->in);
    if (L->image_out)
        t->row_image = reordered(L->out);
    if (L->image_in)
        t->col_image = reordered(L->in);
}

static double no_cols(const layer *L)
{
    (void)L;
    return 0.0;
}

static vae_status fc_forward(vae *m, const layer *L, vae_ref in, vae_ref out, int rows, int add_bias, int act)
{
    int n = (int)dims_size(L->out), k = (int)dims_size(L->in);
    return m->be->gemm(m->dev, 0, 1, rows, n, k, in, k, L->w, k, out, n, add_bias ? L->b : VAE_NO_REF, act, 0);
}

static vae_status fc_backward(vae *m, const layer *L, vae_ref in, vae_ref out, vae_ref dout, vae_ref scale,
                              vae_ref din, int rows)
{
    int n = (int)dims_size(L->out), k = (int)dims_size(L->in);
    TRY(layer_act_backward(m, L, dout, out, scale, rows));
    /* dW (n, k) = dout^T (n, rows) in (rows, k) */
    TRY(m->be->gemm(m->dev, 1, 0, n, k, rows, dout, n, in, k, L->w + m->n_params, k, VAE_NO_REF, VAE_ACT_NONE, 0));
    if (din != VAE_NO_REF)
        TRY(m->be->gemm(m->dev, 0, 0, rows, k, n, dout, n, L->w, k, din, k, VAE_NO_REF, VAE_ACT_NONE, 0));
    return VAE_OK;
}

/* -- conv: windows (pixels, k k c) of each image times W^T, W (out c, k k c) -- */

static vae_status conv_shape(layer *L, char *why, size_t why_len)
{
    int h = L->in.h + 2 * L->pad, w = L->in.w + 2 * L->pad;
    if (h < L->k || w < L->k)
        return say(VAE_ERR_ARG, why, why_len, "a %dx%d kernel is larger than its %dx%d input padded by %d", L->k, L->k,
                   L->in.h, L->in.w, L->pad);
    L->out.h = (h - L->k) / L->stride + 1;
    L->out.w = (w - L->k) / L->stride + 1;
    L->geom.h = L->in.h;
    L->geom.w = L->in.w;
    L->geom.c = L->in.c;
    L->geom.oh = L->out.h;
    L->geom.ow = L->out.w;
    L->geom.k = L->k;
    L->geom.stride = L->stride;
    L->geom.pad = L->pad;
    return VAE_OK;
}

/* Both kinds' weights are (rows, k k c) in memory: (out, in) channels
   for conv, (in, out) for convt, as PyTorch shapes them. */
static double conv_weights(const layer *L)
{
    return (double)L->in.c * L->out.c * L->k * L->k;
}

static double conv_fan_in(const layer *L)
{
    return (double)L->geom.c * L->k * L->k;
}

/* (rows, c, k, k) in PyTorch, (rows, k, k, c) in memory, c the
   channels of the images that im2col walks */
static void window_tensor(const layer *L, int rows, tensor *t)
{
    dims3 window;
    t->ndim = 4;
    t->shape[0] = t->rows = rows;
    t->shape[1] = L->geom.c;
    t->shape[2] = t->shape[3] = L->k;
    t->cols = L->geom.c * L->k * L->k;
    window.c = L->geom.c;
    window.h = window.w = L->k;
    t->col_image = reordered(window);
}

static void conv_weight_tensor(const layer *L, tensor *t)
{
    window_tensor(L, L->out.c, t);
}

static void convt_weight_tensor(const layer *L, tensor *t)
{
    window_tensor(L, L->in.c, t);
}

static double conv_col_floats(const layer *L)
{
    return (double)L->geom.oh * L->geom.ow * L->k * L->k * L->geom.c;
}

static vae_status conv_forward(vae *m, const layer *L, vae_ref in, vae_ref out, int rows, int add_bias, int act)
{
    const vae_conv_geom *g = &L->geom;
    int width = g->k * g->k * g->c, px = g->oh * g->ow, b0, nb;
    size_t in_size = (size_t)dims_size(L->in), out_size = (size_t)dims_size(L->out);
    for (b0 = 0; b0 < rows; b0 += nb) {
        nb = min_int(L->chunk, rows - b0);
        TRY(m->be->im2col(m->dev, in + b0 * in_size, m->col, nb, g));
        TRY(m->be->gemm(m->dev, 0, 1, nb * px, L->out.c, width, m->col, width, L->w, width, out + b0 * out_size,
                        L->out.c, add_bias ? L->b : VAE_NO_REF, act, 0));
    }
    return VAE_OK;
}

/* The windows once more per pass (they are not kept from the forward
   pass): the weight gradient sums over the passes, and the input's is
   col2im of the windows' gradient. */
static vae_status conv_backward(vae *m, const layer *L, vae_ref in, vae_ref out, vae_ref dout, vae_ref scale,
                                vae_ref din, int rows)
{
    const vae_conv_geom *g = &L->geom;
    int width = g->k * g->k * g->c, px = g->oh * g->ow, oc = L->out.c, b0, nb;
    size_t in_size = (size_t)dims_size(L->in), out_size = (size_t)dims_size(L->out);
    TRY(layer_act_backward(m, L, dout, out, scale, rows));
    for (b0 = 0; b0 < rows; b0 += nb) {
        vae_ref d = dout + b0 * out_size;
        nb = min_int(L->chunk, rows - b0);
        TRY(m->be->im2col(m->dev, in + b0 * in_size, m->col, nb, g));
        TRY(m->be->gemm(m->dev, 1, 0, oc, width, nb * px, d, oc, m->col, width, L->w + m->n_params, width,
                        VAE_NO_REF, VAE_ACT_NONE, b0 > 0));
        if (din == VAE_NO_REF)
            continue;
        TRY(m->be->gemm(m->dev, 0, 0, nb * px, width, oc, d, oc, L->w, width, m->col, width, VAE_NO_REF,
                        VAE_ACT_NONE, 0));
        TRY(m->be->col2im(m->dev, m->col, din + b0 * in_size, VAE_NO_REF, VAE_ACT_NONE, nb, g));
    }
    return VAE_OK;
}

/* -- convt: the adjoint of the conv from its output to its input: its
   forward pass is conv's backward-data, its backward conv's forward -- */

static vae_status convt_shape(layer *L, char *why, size_t why_len)
{
    double h = (double)(L->in.h - 1) * L->stride - 2.0 * L->pad + L->k + L->out_pad;
    double w = (double)(L->in.w - 1) * L->stride - 2.0 * L->pad + L->k + L->out_pad;
    if (h < 1 || w < 1 || h > SPEC_MAX_UNITS || w > SPEC_MAX_UNITS)
        return say(VAE_ERR_ARG, why, why_len, "a %dx%d input gives a %.0fx%.0f output", L->in.h, L->in.w, h, w);
    L->out.h = (int)h;
    L->out.w = (int)w;
    L->geom.h = L->out.h;
    L->geom.w = L->out.w;
    L->geom.c = L->out.c;
    L->geom.oh = L->in.h;
    L->geom.ow = L->in.w;
    L->geom.k = L->k;
    L->geom.stride = L->stride;
    L->geom.pad = L->pad;
    return VAE_OK;
}

static vae_status convt_forward(vae *m, const layer *L, vae_ref in, vae_ref out, int rows, int add_bias, int act)
{
    const vae_conv_geom *g = &L->geom;
    int width = g->k * g->k * g->c, px = g->oh * g->ow, ic = L->in.c, b0, nb;
    size_t in_size = (size_t)dims_size(L->in), out_size = (size_t)dims_size(L->out);
    for (b0 = 0; b0 < rows; b0 += nb) {
        nb = min_int(L->chunk, rows - b0);
        TRY(m->be->gemm(m->dev, 0, 0, nb * px, width, ic, in + b0 * in_size, ic, L->w, width, m->col, width,
                        VAE_NO_REF, VAE_ACT_NONE, 0));
        TRY(m->be->col2im(m->dev, m->col, out + b0 * out_size, add_bias ? L->b : VAE_NO_REF, act, nb, g));
    }
    return VAE_OK;
}

static vae_status convt_backward(vae *m, const layer *L, vae_ref in, vae_ref out, vae_ref dout, vae_ref scale,
                                 vae_ref din, int rows)
{
    const vae_conv_geom *g = &L->geom;
    int width = g->k * g->k * g->c, px = g->oh * g->ow, ic = L->in.c, b0, nb;
    size_t in_size = (size_t)dims_size(L->in), out_size = (size_t)dims_size(L->out);
    TRY(layer_act_backward(m, L, dout, out, scale, rows));
    for (b0 = 0; b0 < rows; b0 += nb) {
        vae_ref x = in + b0 * in_size;
        nb = min_int(L->chunk, rows - b0);
        TRY(m->be->im2col(m->dev, dout + b0 * out_size, m->col, nb, g));
        TRY(m->be->gemm(m->dev, 1, 0, ic, width, nb * px, x, ic, m->col, width, L->w + m->n_params, width,
                        VAE_NO_REF, VAE_ACT_NONE, b0 > 0));
        if (din != VAE_NO_REF)
            TRY(m->be->gemm(m->dev, 0, 1, nb * px, ic, width, m->col, width, L->w, width, din + b0 * in_size, ic,
                            VAE_NO_REF, VAE_ACT_NONE, 0));
    }
    return VAE_OK;
}

enum { LAYER_FC, LAYER_CONV, LAYER_CONVT };

static const layer_kind layer_kinds[] = {
    [LAYER_FC] = {.name = "fc", .spatial = 0, .shape = fc_shape, .weights = fc_weights, .fan_in = fc_fan_in,
                  .weight_tensor = fc_weight_tensor, .col_floats = no_cols, .forward = fc_forward,
                  .backward = fc_backward},
    [LAYER_CONV] = {.name = "conv", .spatial = 1, .shape = conv_shape, .weights = conv_weights, .fan_in = conv_fan_in,
                    .weight_tensor = conv_weight_tensor, .col_floats = conv_col_floats, .forward = conv_forward,
                    .backward = conv_backward},
    [LAYER_CONVT] = {.name = "convt", .spatial = 1, .shape = convt_shape, .weights = conv_weights,
                     .fan_in = conv_fan_in, .weight_tensor = convt_weight_tensor, .col_floats = conv_col_floats, .forward = convt_forward,
                     .backward = convt_backward},
};

static double layer_params(const layer *L)
{
    return L->kind->weights(L) + layer_channels(L);
}

/* ---- likelihoods ---- */

struct likelihood {
    const char *name;
    int outputs_per_pixel;  /* the decoder's outputs per input value */
    /* Its parameters and buffers for configuration c and r_cap decoder
       rows (0 when only the parameters matter); NULL: none. */
    void (*shape)(const vae_config *c, int r_cap, part_shape *s);
    /* Writes its constants once the block exists; NULL: none. */
    vae_status (*start)(vae *m);
    /* log_px (rows) from the decoder's output (rows of m->dec_h[last])
       for images r / k; with grad, that output becomes the gradient of
       -log p(x|z) with respect to it. */
    vae_status (*log_prob)(vae *m, int rows, int k, int grad);
    /* The loss's gradient for the likelihood's own parameters, once
       m->weight is known; NULL when it has none. */
    vae_status (*backward)(vae *m, int rows);
    /* The output layer's activation that makes its output the mean
       E[x|z]; NULL: VAE_ACT_SIGMOID. */
    int (*mean_act)(const vae_config *c);
};

static vae_status bernoulli_log_prob(vae *m, int rows, int k, int grad)
{
    return m->be->bernoulli(m->dev, m->dec_h[m->n_dec - 1], m->x, m->log_px, rows, k, m->cfg.input_dim, grad);
}

/* A learned log sigma is a parameter; a fixed one, a constant in the
   second buffer. The first holds each row's squared error. */
static void gaussian_shape(const vae_config *c, int r_cap, part_shape *s)
{
    static const part_tensor log_sigma = {"lik.log_sigma", 1, 1, 1, 0};
    s->n_params = c->sigma == 0.0f;
    s->param[0] = log_sigma;
    s->buffer[0] = r_cap;
    s->buffer[1] = c->sigma != 0.0f;
}

static vae_ref gaussian_log_sigma(const vae *m)
{
    return m->cfg.sigma != 0.0f ? m->lik_at.buffer[1] : m->lik_at.param[0];
}

static vae_status gaussian_start(vae *m)
{
    float log_sigma = logf(m->cfg.sigma);
    return m->cfg.sigma != 0.0f ? m->be->write(m->dev, m->lik_at.buffer[1], &log_sigma, 1) : VAE_OK;
}

static vae_status gaussian_log_prob(vae *m, int rows, int k, int grad)
{
    return m->be->gaussian(m->dev, m->dec_h[m->n_dec - 1], m->x, gaussian_log_sigma(m), m->log_px,
                           m->lik_at.buffer[0], rows, k, m->cfg.input_dim, m->cfg.mean == VAE_MEAN_LINEAR, grad);
}

static int sigmoid_mean(const vae_config *c)
{
    (void)c;
    return VAE_ACT_SIGMOID;
}

static int gaussian_mean(const vae_config *c)
{
    return c->mean == VAE_MEAN_LINEAR ? VAE_ACT_NONE : VAE_ACT_SIGMOID;
}

static vae_status gaussian_backward(vae *m, int rows)
{
    if (m->cfg.sigma != 0.0f)
        return VAE_OK; /* fixed: nothing to learn */
    return m->be->gaussian_backward(m->dev, m->lik_at.buffer[0], m->weight, m->lik_at.param[0],
                                    m->lik_at.param[0] + m->n_params, rows, m->cfg.input_dim);
}

static const likelihood likelihoods[] = {
    [VAE_BERNOULLI] = {.name = "bernoulli", .outputs_per_pixel = 1, .shape = NULL, .start = NULL,
                       .log_prob = bernoulli_log_prob, .backward = NULL, .mean_act = sigmoid_mean},
    [VAE_GAUSSIAN] = {.name = "gaussian", .outputs_per_pixel = 1, .shape = gaussian_shape, .start = gaussian_start,
                      .log_prob = gaussian_log_prob, .backward = gaussian_backward, .mean_act = gaussian_mean},
};

static int outputs_per_pixel(const vae_config *c)
{
    return likelihoods[c->likelihood].outputs_per_pixel;
}

/* ---- priors ---- */

struct prior {
    const char *name;
    /* as a likelihood's shape() */
    void (*shape)(const vae_config *c, int r_cap, part_shape *s);
    /* m->log_p_minus_q[r] += log p(z_r) - log N(z_r; 0, I) for rows of m->z
       (the reparameterisation counts log N(z; 0, I)); NULL for N(0, I) */
    vae_status (*log_prob)(vae *m, int rows);
    /* adds the loss's gradient through that difference to m->dz and writes
       the gradients of the prior's own parameters; NULL for N(0, I) */
    vae_status (*backward)(vae *m, int rows);
    /* rows draws from the prior, from rng, into z (rows, Z) on the host;
       m->host starts with its parameters (see prior_sample) */
    vae_status (*sample)(vae *m, vae_rng *rng, int rows, float *z);
};

/* Row by row, so that the stream does not depend on how rows are split
   into calls (vae_rng_normal drops half a pair after an odd count). */
static vae_status normal_sample(vae *m, vae_rng *rng, int rows, float *z)
{
    size_t Z = (size_t)m->cfg.latent_dim;
    int r;
    for (r = 0; r < rows; r++)
        vae_rng_normal(rng, z + (size_t)r * Z, Z);
    return VAE_OK;
}

/* Means (K, Z), log-variances (K, Z) and logits (K); buffers for the
   responsibilities (rows, K) and mog_log_prob's cache (K (Z + 1)). */
enum { MOG_MEAN, MOG_LOGVAR, MOG_LOGIT };
enum { MOG_RESP, MOG_CACHE };

static void mog_shape(const vae_config *c, int r_cap, part_shape *s)
{
    int K = c->components, Z = c->latent_dim;
    part_tensor mean = {"prior.mean", 2, 0, 0, 1}, logvar = {"prior.logvar", 2, 0, 0, 0},
                logit = {"prior.logit", 1, 0, 1, 0};
    mean.rows = logvar.rows = logit.rows = K;
    mean.cols = logvar.cols = Z;
    s->n_params = 3;
    s->param[MOG_MEAN] = mean;
    s->param[MOG_LOGVAR] = logvar;
    s->param[MOG_LOGIT] = logit;
    s->buffer[MOG_RESP] = (double)r_cap * K;
    s->buffer[MOG_CACHE] = (double)K * (Z + 1);
}

static vae_status mog_log_prob(vae *m, int rows)
{
    const vae_ref *p = m->pri_at.param, *b = m->pri_at.buffer;
    return m->be->mog_log_prob(m->dev, m->z, p[MOG_MEAN], p[MOG_LOGVAR], p[MOG_LOGIT], b[MOG_CACHE], b[MOG_RESP],
                               m->log_p_minus_q, rows, m->cfg.latent_dim, m->cfg.components);
}

static vae_status mog_backward(vae *m, int rows)
{
    const vae_ref *p = m->pri_at.param, *b = m->pri_at.buffer;
    size_t P = m->n_params;
    return m->be->mog_backward(m->dev, m->z, p[MOG_MEAN], b[MOG_CACHE], b[MOG_RESP], m->latent_weight, m->dz,
                               p[MOG_MEAN] + P, p[MOG_LOGVAR] + P, p[MOG_LOGIT] + P, rows, m->cfg.latent_dim,
                               m->cfg.components);
}

/* A component from the weights, then a Gaussian draw from it, on the host:
   sampling is not a training step, and the mixture is small. m->host
   holds the mixture's parameters, read by vae_sample. */
static vae_status mog_sample(vae *m, vae_rng *rng, int rows, float *z)
{
    int Z = m->cfg.latent_dim, K = m->cfg.components, r, c, j;
    size_t KZ = (size_t)K * Z;
    const float *mean = m->host, *logvar = mean + KZ, *logit = logvar + KZ;
    double total = 0.0, mx;
    mx = logit[0];
    for (c = 1; c < K; c++)
        mx = logit[c] > mx ? logit[c] : mx;
    for (c = 0; c < K; c++)
        total += exp(logit[c] - mx);
    for (r = 0; r < rows; r++) {
        double u = vae_rng_uniform(rng) * total, acc = 0.0;
        float *zr = z + (size_t)r * Z;
        for (c = 0; c < K - 1; c++) {
            acc += exp(logit[c] - mx);
            if (u < acc)
                break;
        }
        vae_rng_normal(rng, zr, (size_t)Z);
        for (j = 0; j < Z; j++)
            zr[j] = mean[(size_t)c * Z + j] + expf(0.5f * logvar[(size_t)c * Z + j]) * zr[j];
    }
    return VAE_OK;
}

static const prior priors[] = {
    [VAE_PRIOR_NORMAL] = {.name = "normal", .shape = NULL, .log_prob = NULL, .backward = NULL,
                          .sample = normal_sample},
    [VAE_PRIOR_MOG] = {.name = "mog", .shape = mog_shape, .log_prob = mog_log_prob, .backward = mog_backward,
                       .sample = mog_sample},
};

/* The likelihood's (part 0) or the prior's (1) shape for c. */
static part_shape part_shape_of(const vae_config *c, int part, int r_cap)
{
    part_shape s;
    void (*shape)(const vae_config *, int, part_shape *) =
        part == 0 ? likelihoods[c->likelihood].shape : priors[c->prior].shape;
    memset(&s, 0, sizeof s);
    if (shape)
        shape(c, r_cap, &s);
    return s;
}

static double part_tensor_size(const part_tensor *t)
{
    return (double)t->rows * t->cols;
}

/* The parameters of the likelihood and the prior, for c. */
static double part_params(const vae_config *c)
{
    double n = 0.0;
    int part, i;
    for (part = 0; part < 2; part++) {
        part_shape s = part_shape_of(c, part, 0);
        for (i = 0; i < s.n_params; i++)
            n += part_tensor_size(&s.param[i]);
    }
    return n;
}

/* Host floats at the start of m->host that hold the prior's parameters
   while it samples. */
static double prior_host_floats(const vae_config *c)
{
    part_shape s = part_shape_of(c, 1, 0);
    double n = 0.0;
    int i;
    for (i = 0; i < s.n_params; i++)
        n += part_tensor_size(&s.param[i]);
    return n;
}

/* rows draws from the prior into z on the host, its parameters read to
   the start of m->host first. */
static vae_status prior_sample(vae *m, vae_rng *rng, int rows, float *z)
{
    part_shape s = part_shape_of(&m->cfg, 1, 0);
    size_t at = 0, n;
    int i;
    for (i = 0; i < s.n_params; i++, at += n) {
        n = (size_t)part_tensor_size(&s.param[i]);
        TRY(m->be->read(m->dev, m->pri_at.param[i], m->host + at, n));
    }
    return m->pri->sample(m, rng, rows, z);
}

/* ---- planning a network ----

   The layers of one side from its description (or the MLP of hidden),
   with every shape; what vae_config_check, the layout and vae info all
   use, so that the parameter count comes from the layers themselves. */

typedef struct {
    int n_enc, n_dec;
    layer enc[VAE_MAX_LAYERS], dec[VAE_MAX_LAYERS];
} network;

static void describe_dims(dims3 d, int image, char *buf, size_t len)
{
    if (image)
        snprintf(buf, len, "%dx%dx%d", d.c, d.h, d.w);
    else
        snprintf(buf, len, "%.0f values", dims_size(d));
}

/* The MLP of hidden widths as items: the encoder's, or mirrored with the
   output layer of out units for the decoder. */
static int mlp_items(const vae_config *c, int decoder, int out, spec_item *items)
{
    int i, n = 0;
    for (i = 0; i < c->n_hidden; i++) {
        memset(&items[n], 0, sizeof items[n]);
        items[n].kind = SPEC_FC;
        items[n++].n[0] = c->hidden[decoder ? c->n_hidden - 1 - i : i];
        memset(&items[n], 0, sizeof items[n]);
        items[n].kind = SPEC_ACT;
        items[n++].act = (int)c->activation;
    }
    if (decoder) {
        memset(&items[n], 0, sizeof items[n]);
        items[n].kind = SPEC_FC;
        items[n++].n[0] = out;
    }
    return n;
}

static vae_status plan_side(const vae_config *c, int decoder, int outputs_per_pixel, layer *L, int *count,
                            char *why, size_t why_len)
{
    const char *side = decoder ? "decoder" : "encoder", *spec = decoder ? c->decoder : c->encoder;
    spec_item items[SPEC_MAX_ITEMS];
    int image_known = c->image_rows > 0 && c->image_cols > 0 && c->image_channels > 0;
    dims3 cur, want;
    int n, i, nl = 0, image = 0;
    char reason[160], a[48], b[48];
    if (spec[0]) {
        if (parse_spec(spec, items, &n, reason, sizeof reason) != VAE_OK)
            return say(VAE_ERR_ARG, why, why_len, "%s: %s", side, reason);
    } else {
        n = mlp_items(c, decoder, c->input_dim * outputs_per_pixel, items);
    }
    if (decoder) {
        cur.c = c->latent_dim;
        cur.h = cur.w = 1;
    } else if (image_known) {
        cur.c = c->image_channels;
        cur.h = c->image_rows;
        cur.w = c->image_cols;
        image = 1;
    } else {
        cur.c = c->input_dim;
        cur.h = cur.w = 1;
    }
    for (i = 0; i < n; i++) {
        const spec_item *it = &items[i];
        layer *p = nl ? &L[nl - 1] : NULL;
        if (it->kind == SPEC_ACT) {
            if (!p || p->act != VAE_ACT_NONE)
                return say(VAE_ERR_ARG, why, why_len, "%s: %s needs a layer before it, and one activation a layer",
                           side, spec_act_names[it->act]);
            p->act = it->act;
            continue;
        }
        if (it->kind == SPEC_VIEW) {
            if (!p || p->kind != &layer_kinds[LAYER_FC] || p->image_out)
                return say(VAE_ERR_ARG, why, why_len, "%s: view %d %d %d must follow an fc layer", side, it->n[0],
                           it->n[1], it->n[2]);
            if ((double)it->n[0] * it->n[1] * it->n[2] != dims_size(p->out))
                return say(VAE_ERR_ARG, why, why_len, "%s: view %d %d %d has %.0f values, and the fc before it %.0f",
                           side, it->n[0], it->n[1], it->n[2], (double)it->n[0] * it->n[1] * it->n[2],
                           dims_size(p->out));
            p->out.c = it->n[0];
            p->out.h = it->n[1];
            p->out.w = it->n[2];
            p->image_out = image = 1;
            cur = p->out;
            continue;
        }
        if (nl == VAE_MAX_LAYERS - !decoder)
            return say(VAE_ERR_ARG, why, why_len, "%s: more than %d layers", side, VAE_MAX_LAYERS - !decoder);
        p = &L[nl];
        memset(p, 0, sizeof *p);
        p->kind = &layer_kinds[it->kind == SPEC_FC ? LAYER_FC : it->kind == SPEC_CONV ? LAYER_CONV : LAYER_CONVT];
        p->in = cur;
        p->image_in = image;
        p->act = VAE_ACT_NONE;
        p->k = it->k;
        p->stride = it->stride;
        p->pad = it->pad;
        p->out_pad = it->out_pad;
        p->out.c = it->n[0];
        if (it->kind != SPEC_FC && !image)
            return say(VAE_ERR_ARG, why, why_len, "%s: %s needs an image input, and %s has %.0f values: put view C H W "
                       "after an fc layer%s", side, p->kind->name, nl ? "the layer before it" : "its input",
                       dims_size(cur), decoder || nl ? "" : ", or give the image's shape");
        if (p->kind->shape(p, reason, sizeof reason) != VAE_OK)
            return say(VAE_ERR_ARG, why, why_len, "%s: %s %d %d: %s", side, p->kind->name, it->n[0], it->k, reason);
        if (dims_size(p->out) > SPEC_MAX_UNITS || layer_params(p) > 1e12)
            return say(VAE_ERR_ARG, why, why_len, "%s: %s %d makes %.0f values per image, over %d", side, p->kind->name,
                       it->n[0], dims_size(p->out), SPEC_MAX_UNITS);
        image = it->kind != SPEC_FC;
        p->image_out = image;
        cur = p->out;
        nl++;
    }
    if (!decoder) {
        layer *h = &L[nl];
        memset(h, 0, sizeof *h);
        h->kind = &layer_kinds[LAYER_FC];
        h->in = cur;
        h->image_in = image;
        h->act = VAE_ACT_NONE;
        h->out.c = c->posterior == VAE_POSTERIOR_ISOTROPIC ? c->latent_dim + 1 : 2 * c->latent_dim;
        h->out.h = h->out.w = 1;
        snprintf(h->name, sizeof h->name, "enc.head");
        for (i = 0; i < nl; i++)
            snprintf(L[i].name, sizeof L[i].name, "enc.%d", i);
        *count = nl + 1;
        return VAE_OK;
    }
    if (nl == 0)
        return say(VAE_ERR_ARG, why, why_len, "decoder: no layer makes the image");
    want.c = image_known ? c->image_channels * outputs_per_pixel : c->input_dim * outputs_per_pixel;
    want.h = image_known ? c->image_rows : 1;
    want.w = image_known ? c->image_cols : 1;
    if (image ? cur.c != want.c || cur.h != want.h || cur.w != want.w
              : dims_size(cur) != dims_size(want)) {
        describe_dims(cur, image, a, sizeof a);
        describe_dims(want, image_known, b, sizeof b);
        return say(VAE_ERR_ARG, why, why_len, "decoder: ends at %s, not the image's %s%s", a, b,
                   outputs_per_pixel > 1 ? " times the likelihood's outputs per value" : "");
    }
    if (L[nl - 1].act != VAE_ACT_NONE)
        return say(VAE_ERR_ARG, why, why_len, "decoder: its last layer feeds the likelihood, which applies its own "
                                              "mean: drop the %s after it", spec_act_names[L[nl - 1].act]);
    for (i = 0; i < nl; i++)
        snprintf(L[i].name, sizeof L[i].name, i == nl - 1 ? "dec.out" : "dec.%d", i);
    *count = nl;
    return VAE_OK;
}


static vae_status plan_network(const vae_config *c, network *net, char *why, size_t why_len)
{
    TRY(plan_side(c, 0, outputs_per_pixel(c), net->enc, &net->n_enc, why, why_len));
    return plan_side(c, 1, outputs_per_pixel(c), net->dec, &net->n_dec, why, why_len);
}

/* The parameters of a planned network and the configuration's other
   parts, counted in double so that no size can wrap before it is checked
   (32-bit size_t included). */
static double network_params(const vae_config *c, const network *net)
{
    double p = 0.0;
    int i;
    for (i = 0; i < net->n_enc; i++)
        p += layer_params(&net->enc[i]);
    for (i = 0; i < net->n_dec; i++)
        p += layer_params(&net->dec[i]);
    return p + part_params(c);
}

/* Each field through the table's own parser (so that its range is checked
   in one place), then what ties fields together. */
vae_status vae_config_check(const vae_config *c, char *why, size_t why_len)
{
    char text[VAE_MAX_SPEC + 16], reason[160];
    vae_config scratch;
    network net;
    double params;
    int i;
    if (!c)
        return say(VAE_ERR_ARG, why, why_len, "no configuration given");
    for (i = 0; i < N_FIELDS; i++) {
        const char *key = config_fields[i].key;
        if (vae_config_get(c, key, text, sizeof text) < 0)
            return say(VAE_ERR_ARG, why, why_len, "%s is out of range", key);
        if (vae_config_set(&scratch, key, text, reason, sizeof reason) != VAE_OK)
            return say(VAE_ERR_ARG, why, why_len, "%s %s", key, reason);
    }
    if ((c->image_rows || c->image_cols || c->image_channels) &&
        (double)c->image_rows * c->image_cols * c->image_channels != (double)c->input_dim)
        return say(VAE_ERR_ARG, why, why_len, "images of %dx%dx%d do not have input_dim %d values", c->image_rows,
                   c->image_cols, c->image_channels, c->input_dim);
    if ((double)c->max_batch * c->k > (double)VAE_MAX_ROWS)
        return say(VAE_ERR_ARG, why, why_len, "max_batch * k = %.0f is over %d rows", (double)c->max_batch * c->k,
                   VAE_MAX_ROWS);
    if (c->sigma != 0.0f && c->likelihood != VAE_GAUSSIAN)
        return say(VAE_ERR_ARG, why, why_len, "sigma is for the gaussian likelihood only");
    if (c->sigma != 0.0f && c->sigma < VAE_MIN_SIGMA)
        return say(VAE_ERR_ARG, why, why_len, "sigma %g is below %g (0 learns it)", (double)c->sigma,
                   (double)VAE_MIN_SIGMA);
    if (c->mean != VAE_MEAN_SIGMOID && c->likelihood != VAE_GAUSSIAN)
        return say(VAE_ERR_ARG, why, why_len, "mean linear is for the gaussian likelihood only");
    TRY(plan_network(c, &net, why, why_len));
    /* The parameters and both moments as float32, with room for names, the
       configuration and the application's data. */
    params = network_params(c, &net);
    if (12.0 * params > (double)(CKPT_MAX_BYTES - 2 * VAE_MAX_APP_DATA))
        return say(VAE_ERR_ARG, why, why_len, "%.0f parameters are too many for a checkpoint (%.0f at most)", params,
                   (double)(CKPT_MAX_BYTES - 2 * VAE_MAX_APP_DATA) / 12.0);
    if (c->beta != 1.0f && c->objective != VAE_ELBO)
        return say(VAE_ERR_ARG, why, why_len, "beta weights the ELBO's KL term; the iwae bound has none to weight "
                                              "(use beta 1)");
    if (c->kl == VAE_KL_ANALYTIC && (c->objective != VAE_ELBO || c->prior != VAE_PRIOR_NORMAL))
        return say(VAE_ERR_ARG, why, why_len, "the analytic KL needs the elbo objective and the normal prior "
                                              "(the iwae bound and the mog prior have no closed form)");
    return VAE_OK;
}

static vae_status check_config(vae *m, const vae_config *c)
{
    char why[sizeof m->error];
    vae_status s = vae_config_check(c, why, sizeof why);
    return s == VAE_OK ? s : fail(m, s, "%s", why);
}

/* ---- the buffer layout ---- */

static size_t align_up(const vae *m, size_t off)
{
    return (off + m->align - 1) / m->align * m->align;
}

/* A tensor of the table: t's shape and memory order, with its name and
   ref. */
static vae_status add_tensor(vae *m, const char *name, vae_ref ref, const tensor *t)
{
    tensor *dst;
    int d;
    if (m->n_tensors == MAX_TENSORS)
        return fail(m, VAE_ERR_ARG, "more than %d tensors", MAX_TENSORS);
    dst = &m->tensors[m->n_tensors++];
    *dst = *t;
    snprintf(dst->name, sizeof dst->name, "%s", name);
    dst->ref = ref;
    for (d = dst->ndim; d < VAE_MAX_DIMS; d++)
        dst->shape[d] = 1;
    if ((dst->row_image.c || dst->col_image.c) && dst->cols > m->widest_tensor_row)
        m->widest_tensor_row = dst->cols;
    return VAE_OK;
}

/* A plain vector or matrix, in the same order in memory as in PyTorch. */
static tensor plain_tensor(int ndim, int rows, int cols)
{
    tensor t;
    memset(&t, 0, sizeof t);
    t.ndim = ndim;
    t.rows = ndim == 1 ? 1 : rows;
    t.cols = ndim == 1 ? rows : cols;
    t.shape[0] = rows;
    t.shape[1] = ndim == 1 ? 1 : cols;
    return t;
}

/* One parameter tensor at *off, aligned; returns its ref. */
static vae_ref take_param(vae *m, size_t *off, size_t count)
{
    vae_ref ref = *off;
    *off = align_up(m, *off + count);
    return ref;
}

/* A layer's weight and bias tensors; the encoder's head is two of each,
   mu's rows and then logvar's (or log sigma's). */
static vae_status layer_tensors(vae *m, const layer *L, int head)
{
    tensor w, b;
    char name[32];
    memset(&w, 0, sizeof w);
    L->kind->weight_tensor(L, &w);
    b = plain_tensor(1, layer_channels(L), 1);
    if (L->image_out && !L->kind->spatial)
        b.col_image = reordered(L->out);
    if (head) {
        int Z = m->cfg.latent_dim, iso = m->cfg.posterior == VAE_POSTERIOR_ISOTROPIC;
        const char *second = iso ? "enc.log_sigma" : "enc.logvar";
        w.shape[0] = w.rows = Z;
        b = plain_tensor(1, Z, 1);
        TRY(add_tensor(m, "enc.mu.weight", L->w, &w));
        TRY(add_tensor(m, "enc.mu.bias", L->b, &b));
        w.shape[0] = w.rows = b.shape[0] = b.cols = iso ? 1 : Z;
        snprintf(name, sizeof name, "%s.weight", second);
        TRY(add_tensor(m, name, L->w + (size_t)Z * w.cols, &w));
        snprintf(name, sizeof name, "%s.bias", second);
        return add_tensor(m, name, L->b + Z, &b);
    }
    snprintf(name, sizeof name, "%s.weight", L->name);
    TRY(add_tensor(m, name, L->w, &w));
    snprintf(name, sizeof name, "%s.bias", L->name);
    return add_tensor(m, name, L->b, &b);
}

/* The parameters: all weights, then all biases and the likelihood's and
   prior's parameters, so that the gradients from the first bias on form
   one range to check for NaN (the biases' gradients are the column sums
   of every layer's pre-activation gradient, so a non-finite weight
   gradient shows there too). Then the tensor table, by name. */
static vae_status layout_params(vae *m)
{
    int i, part;
    size_t off = 0;
    part_shape shape[2];
    for (part = 0; part < 2; part++)
        for (i = 0; i < m->n_enc + m->n_dec; i++) {
            layer *L = i < m->n_enc ? &m->enc[i] : &m->dec[i - m->n_enc];
            if (part == 0)
                L->w = take_param(m, &off, (size_t)L->kind->weights(L));
            else
                L->b = take_param(m, &off, (size_t)layer_channels(L));
        }
    m->check_from = m->enc[0].b;
    for (part = 0; part < 2; part++) {
        part_refs *at = part == 0 ? &m->lik_at : &m->pri_at;
        shape[part] = part_shape_of(&m->cfg, part, 0);
        for (i = 0; i < PART_TENSORS; i++)
            at->param[i] = i < shape[part].n_params
                               ? take_param(m, &off, (size_t)part_tensor_size(&shape[part].param[i]))
                               : VAE_NO_REF;
    }
    m->n_params = off;

    m->n_tensors = 0;
    m->widest_tensor_row = 0;
    for (i = 0; i < m->n_enc; i++)
        TRY(layer_tensors(m, &m->enc[i], i == m->n_enc - 1));
    for (i = 0; i < m->n_dec; i++)
        TRY(layer_tensors(m, &m->dec[i], 0));
    for (part = 0; part < 2; part++)
        for (i = 0; i < shape[part].n_params; i++) {
            const part_tensor *p = &shape[part].param[i];
            tensor t = plain_tensor(p->ndim, p->rows, p->cols);
            TRY(add_tensor(m, p->name, (part == 0 ? m->lik_at : m->pri_at).param[i], &t));
        }
    return VAE_OK;
}

/* Activations and scratch after the four copies of the parameters, each
   aligned; sizes are also summed in double, so that build() can refuse a
   model whose size_t sums could have wrapped (32-bit size_t). */
static size_t layout_activations(vae *m)
{
    const vae_config *c = &m->cfg;
    int D = c->input_dim, Z = c->latent_dim, i, part;
    int iso = c->posterior == VAE_POSTERIOR_ISOTROPIC;
    double grad_floats = 0.0, col_floats = 0.0;
    size_t off = 4 * m->n_params;
    m->b_cap = max_int(c->max_batch, min_int(m->eval_rows, m->row_cap));
    m->r_cap = min_int(max_int(c->max_batch * c->k, m->eval_rows), m->row_cap);
    /* The gradients of hidden outputs (not the images', z's or the head's,
       which have their own), and the im2col buffer: whole images, as many
       as COL_FLOATS holds and the rows need. */
    for (i = 0; i < m->n_enc + m->n_dec; i++) {
        layer *L = i < m->n_enc ? &m->enc[i] : &m->dec[i - m->n_enc];
        int rows = i < m->n_enc ? m->b_cap : m->r_cap;
        double per = L->kind->col_floats(L);
        if (i != m->n_enc - 1 && i != m->n_enc + m->n_dec - 1)
            grad_floats = fmax(grad_floats, (double)rows * dims_size(L->out));
        /* at least COL_ROWS GEMM rows a pass, for the GEMM's threads */
        L->chunk = per > 0 ? (int)fmax(ceil((double)COL_ROWS / (L->geom.oh * L->geom.ow)),
                                       floor((double)COL_FLOATS / per))
                           : 0;
        col_floats = fmax(col_floats, per * min_int(L->chunk, rows));
    }
    m->layout_floats = 4.0 * (double)m->n_params;
#define TAKE(ref, count)                                                       \
    (ref = off, off = align_up(m, off + (size_t)(count)), m->layout_floats += (double)(count) + (double)m->align)
    TAKE(m->x, (double)m->b_cap * D);
    for (i = 0; i < m->n_enc; i++)
        TAKE(m->enc_h[i], (double)m->b_cap * dims_size(m->enc[i].out));
    if (iso) {
        TAKE(m->mu_logvar, (double)m->b_cap * 2 * Z);
        TAKE(m->expand, 2.0 * Z * (Z + 1));
        TAKE(m->dhead, (double)m->b_cap * (Z + 1));
    } else {
        m->mu_logvar = m->enc_h[m->n_enc - 1];
        m->expand = m->dhead = VAE_NO_REF;
    }
    TAKE(m->eps, (double)m->r_cap * Z);
    TAKE(m->std, (double)m->b_cap * Z);
    TAKE(m->z, (double)m->r_cap * Z);
    TAKE(m->log_p_minus_q, m->r_cap);
    TAKE(m->log_px, m->r_cap);
    TAKE(m->logw, m->r_cap);
    TAKE(m->weight, m->r_cap);
    TAKE(m->latent_weight, m->r_cap);
    TAKE(m->bound, m->b_cap);
    TAKE(m->objective, m->b_cap);
    TAKE(m->summary, VAE_STEP_SUMMARY);
    for (i = 0; i < m->n_dec; i++)
        TAKE(m->dec_h[i], (double)m->r_cap * dims_size(m->dec[i].out));
    TAKE(m->grad_scratch[0], grad_floats);
    TAKE(m->grad_scratch[1], grad_floats);
    TAKE(m->col, col_floats);
    TAKE(m->dz, (double)m->r_cap * Z);
    TAKE(m->kept_rows, m->r_cap);
    TAKE(m->z_kept, (double)m->r_cap * Z);
    TAKE(m->weight_kept, m->r_cap);
    TAKE(m->dmu_logvar, (double)m->b_cap * 2 * Z);
    for (part = 0; part < 2; part++) {
        part_shape shape = part_shape_of(c, part, m->r_cap);
        part_refs *at = part == 0 ? &m->lik_at : &m->pri_at;
        for (i = 0; i < PART_BUFFERS; i++)
            if (shape.buffer[i] > 0)
                TAKE(at->buffer[i], shape.buffer[i]);
            else
                at->buffer[i] = VAE_NO_REF;
    }
#undef TAKE
    return off;
}

/* Lays out every buffer without allocating; returns the floats needed. */
static vae_status layout(vae *m, size_t *total)
{
    network net;
    int i;
    m->lik = &likelihoods[m->cfg.likelihood];
    m->pri = &priors[m->cfg.prior];
    m->mean_act = m->lik->mean_act(&m->cfg);
    if (plan_network(&m->cfg, &net, m->error, sizeof m->error) != VAE_OK)
        return VAE_ERR_ARG; /* vae_config_check said so first */
    m->n_enc = net.n_enc;
    m->n_dec = net.n_dec;
    memcpy(m->enc, net.enc, sizeof net.enc);
    memcpy(m->dec, net.dec, sizeof net.dec);
    TRY(layout_params(m));
    *total = layout_activations(m);
    /* the GEMMs' and act_backward's row counts are ints */
    for (i = 0; i < m->n_enc + m->n_dec; i++) {
        const layer *L = i < m->n_enc ? &m->enc[i] : &m->dec[i - m->n_enc];
        double rows = (double)(i < m->n_enc ? m->b_cap : m->r_cap) * layer_pixels(L);
        if (rows > INT_MAX)
            return fail(m, VAE_ERR_ARG, "%.0f rows of %s's %d channels are too many: use a smaller batch or k",
                        rows, L->name, layer_channels(L));
    }
    return VAE_OK;
}

/* Bytes of everything but the parameters and their three copies. */
static double activation_bytes(const vae *m)
{
    return (m->layout_floats - 4.0 * (double)m->n_params) * sizeof(float);
}

/* A model object that can carry an error message, even if nothing else. */
static vae *new_model(void)
{
    vae *m = VAE_MALLOC(sizeof *m);
    if (m) {
        memset(m, 0, sizeof *m);
        m->be = &cpu_backend;
        m->align = VAE_BUFFER_ALIGN / sizeof(float);
        m->eval_rows = VAE_EVAL_ROWS;
        m->row_cap = INT_MAX;
    }
    return m;
}

/* The backend's table must be whole and of this version: a slot left NULL
   would crash the first step that needs it. */
static vae_status use_options(vae *m, const vae_options *opt)
{
    const vae_backend *be = opt && opt->backend ? opt->backend : &cpu_backend;
    size_t bytes = be->alignment > VAE_BUFFER_ALIGN ? be->alignment : VAE_BUFFER_ALIGN;
    if (!be->name)
        return fail(m, VAE_ERR_ARG, "a backend without a name");
    if (be->version != VAE_BACKEND_VERSION)
        return fail(m, VAE_ERR_ARG, "backend %s has interface version %d, not %d", be->name, be->version,
                    VAE_BACKEND_VERSION);
#define CHECK_SLOT(slot)                                                       \
    if (!be->slot)                                                             \
        return fail(m, VAE_ERR_ARG, "backend %s has no %s", be->name, #slot);
    VAE_BACKEND_OPS(CHECK_SLOT)
#undef CHECK_SLOT
    if ((be->alignment & (be->alignment - 1)) || be->alignment > 1 << 20)
        return fail(m, VAE_ERR_ARG, "backend %s asks for an alignment of %lu bytes, not a power of two up to 1 MB",
                    be->name, (unsigned long)be->alignment);
    m->be = be;
    m->align = bytes / sizeof(float);
    return VAE_OK;
}

/* Allocates everything for m->cfg (already checked) and zeroes the
   parameters, gradients and moments; activations are always written
   before they are read (GEMM writes C without reading it). */
static vae_status build(vae *m, const vae_options *opt)
{
    size_t total, Z = (size_t)m->cfg.latent_dim;
    double host;
    char why[128];
    vae_status s;
    TRY(layout(m, &total));
    host = (double)m->r_cap * (double)(Z > 2 ? Z : 2);
    if (host < (double)m->b_cap * 2 * Z)
        host = (double)m->b_cap * 2 * Z;
    /* fresh noise: the normals, then 3 doubles a point (noise_points) */
    if (host < (double)m->r_cap * (Z + 6.0 * ((Z + 1) / 2)) + 1.0)
        host = (double)m->r_cap * (Z + 6.0 * ((Z + 1) / 2)) + 1.0;
    host += prior_host_floats(&m->cfg); /* the prior's parameters, for sampling */
    /* a tensor row in each order; the isotropic head's expansion */
    host = fmax(host, fmax(2.0 * m->widest_tensor_row, 2.0 * Z * (Z + 1)));
    if ((m->layout_floats + host) * sizeof(float) >= (double)SIZE_MAX)
        return fail(m, VAE_ERR_NOMEM, "a model of %.0f floats does not fit in this address space",
                    m->layout_floats + host);
    m->host_len = (size_t)host;
    m->host = VAE_MALLOC(m->host_len * sizeof(float));
    if (!m->host)
        return fail(m, VAE_ERR_NOMEM, "out of memory for a model of %.0f floats", (double)total);
    why[0] = '\0';
    s = m->be->create(&m->dev, total, opt ? opt->backend_params : NULL, why, sizeof why);
    if (s != VAE_OK || !m->dev) {
        m->dev = NULL;
        return s == VAE_ERR_NOMEM ? fail(m, s, "%s backend: no memory for a model of %.0f floats: %s", m->be->name,
                                         (double)total, why)
                                  : fail(m, s != VAE_OK ? s : VAE_ERR_BACKEND, "%s backend: %s", m->be->name, why);
    }
    TRY(m->be->zero(m->dev, 0, 4 * m->n_params));
    if (m->lik->start)
        TRY(m->lik->start(m));
    if (m->expand != VAE_NO_REF) {
        /* mu_logvar = head (n, Z + 1) expand^T: mu_j = head_j, logvar_j =
           2 log sigma = 2 head_Z; a GEMM, so that every backend has it */
        size_t j, E = 2 * Z * (Z + 1);
        memset(m->host, 0, E * sizeof *m->host);
        for (j = 0; j < Z; j++) {
            m->host[j * (Z + 1) + j] = 1.0f;
            m->host[(Z + j) * (Z + 1) + Z] = 2.0f;
        }
        TRY(m->be->write(m->dev, m->expand, m->host, E));
    }
    vae_rng_seed(&m->rng, m->cfg.seed);
    return VAE_OK;
}

/* count values, uniform in +-bound or standard normal, through the host
   buffer into dst. */
static vae_status fill_random(vae *m, vae_ref dst, size_t count, double bound, int gaussian)
{
    size_t done, q;
    for (done = 0; done < count; done += m->host_len) {
        size_t n = min_sz(m->host_len, count - done);
        if (gaussian)
            vae_rng_normal(&m->rng, m->host, n);
        else
            for (q = 0; q < n; q++)
                m->host[q] = (float)((2.0 * vae_rng_uniform(&m->rng) - 1.0) * bound);
        TRY(m->be->write(m->dev, dst + done, m->host, n));
    }
    return VAE_OK;
}

/* PyTorch's initialisation of Linear, Conv2d and ConvTranspose2d: weights
   and biases uniform in +-1/sqrt(fan_in) (for ConvTranspose2d PyTorch
   counts its output channels as the fan-in), drawn layer by layer
   (weights, then biases), encoder first, from the model's generator;
   then the likelihood's and the prior's tensors that ask for N(0, 1)
   (the mixture's means). Every other parameter starts at 0. */
static vae_status init_weights(vae *m)
{
    int i, part;
    for (i = 0; i < m->n_enc + m->n_dec; i++) {
        const layer *L = i < m->n_enc ? &m->enc[i] : &m->dec[i - m->n_enc];
        double bound = 1.0f / sqrtf((float)L->kind->fan_in(L));
        TRY(fill_random(m, L->w, (size_t)L->kind->weights(L), bound, 0));
        TRY(fill_random(m, L->b, (size_t)layer_channels(L), bound, 0));
    }
    for (part = 0; part < 2; part++) {
        part_shape shape = part_shape_of(&m->cfg, part, 0);
        for (i = 0; i < shape.n_params; i++)
            if (shape.param[i].normal_init)
                TRY(fill_random(m, (part == 0 ? m->lik_at : m->pri_at).param[i],
                                (size_t)part_tensor_size(&shape.param[i]), 0.0, 1));
    }
    return VAE_OK;
}

/* Frees what build() allocated, leaving the message: a half-made model must
   not be used. */
static void unbuild(vae *m)
{
    if (m->dev)
        m->be->destroy(m->dev);
    VAE_FREE(m->host);
    m->dev = NULL;
    m->host = NULL;
}

vae_status vae_create(vae **out, const vae_config *cfg, const vae_options *opt)
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
    if (opt && (opt->max_batch || opt->k))
        return fail(m, VAE_ERR_ARG, "vae_create takes max_batch and k from the configuration, not the options");
    if ((s = use_options(m, opt)) != VAE_OK || (s = check_config(m, cfg)) != VAE_OK)
        return s;
    m->cfg = *cfg;
    if ((s = build(m, opt)) != VAE_OK || (s = init_weights(m)) != VAE_OK) {
        finish(m, s);
        unbuild(m);
        return s;
    }
    m->usable = 1;
    return VAE_OK;
}

void vae_free(vae *m)
{
    if (!m)
        return;
    unbuild(m);
    VAE_FREE(m->app);
    VAE_FREE(m);
}

#define VAE_STRING_OF(x) #x
#define VAE_VERSION_TEXT(major, minor, patch) VAE_STRING_OF(major) "." VAE_STRING_OF(minor) "." VAE_STRING_OF(patch)

const char *vae_version(void)
{
    return VAE_VERSION_TEXT(VAE_VERSION_MAJOR, VAE_VERSION_MINOR, VAE_VERSION_PATCH);
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

vae_status vae_set_app_data(vae *m, const void *data, size_t len)
{
    unsigned char *copy = NULL;
    REQUIRE_USABLE(m);
    if (len > VAE_MAX_APP_DATA || (len && !data))
        return fail(m, VAE_ERR_ARG, "application data of %lu bytes (at most %lu)", (unsigned long)len,
                    (unsigned long)VAE_MAX_APP_DATA);
    if (len && !(copy = VAE_MALLOC(len)))
        return fail(m, VAE_ERR_NOMEM, "out of memory for %lu bytes of application data", (unsigned long)len);
    if (len)
        memcpy(copy, data, len);
    VAE_FREE(m->app);
    m->app = copy;
    m->app_len = len;
    return VAE_OK;
}

const void *vae_get_app_data(const vae *m, size_t *len)
{
    if (len)
        *len = m ? m->app_len : 0;
    return m ? m->app : NULL;
}

/* ---- forward and backward -------------------------------------------------- */

/* The encoder through its head, and with the isotropic posterior the
   head's mu and log sigma spread to mu_logvar. */
static vae_status encode(vae *m, int n)
{
    int i, Z = m->cfg.latent_dim;
    vae_ref in = m->x;
    for (i = 0; i < m->n_enc; i++) {
        const layer *L = &m->enc[i];
        TRY(L->kind->forward(m, L, in, m->enc_h[i], n, 1, L->act));
        in = m->enc_h[i];
    }
    if (m->expand != VAE_NO_REF)
        TRY(m->be->gemm(m->dev, 0, 1, n, 2 * Z, Z + 1, in, Z + 1, m->expand, Z + 1, m->mu_logvar, 2 * Z, VAE_NO_REF,
                        VAE_ACT_NONE, 0));
    return VAE_OK;
}

/* Decodes rows of m->z to the likelihood's parameters, or with means to
   its mean. */
static vae_status decode(vae *m, int rows, int means)
{
    int i;
    vae_ref in = m->z;
    for (i = 0; i < m->n_dec; i++) {
        const layer *L = &m->dec[i];
        int top = i == m->n_dec - 1;
        TRY(L->kind->forward(m, L, in, m->dec_h[i], rows, 1, !top ? L->act : means ? m->mean_act : VAE_ACT_NONE));
        in = m->dec_h[i];
    }
    return VAE_OK;
}

/* Fresh noise comes in two passes. The points of the polar method come
   from the one generator, in order, row after row (so that the stream does
   not depend on how rows are grouped into calls); turning them into
   normals, the dearer part, is spread over the threads. m->host holds the
   r_cap x Z normals, then 3 doubles for each point (noise_points). */
static double *noise_points(const vae *m)
{
    size_t at = (size_t)m->r_cap * (size_t)m->cfg.latent_dim;
    return (double *)(void *)(m->host + (at + 1) / 2 * 2); /* 8-byte aligned, as malloc's block is */
}

/* rows x Z standard normals into dst: the caller's eps, or fresh draws. */
static vae_status put_noise(vae *m, vae_ref dst, const float *eps, size_t rows)
{
    size_t Z = (size_t)m->cfg.latent_dim, points = (Z + 1) / 2;
    if (!eps) {
        double *uvs = noise_points(m);
        long i, count = (long)(rows * points);
        vae_rng_polar(&m->rng, uvs, rows * points);
        OMP_FOR_IF((size_t)count >= OMP_MIN_WORK / 16)
        for (i = 0; i < count; i++) {
            size_t row = (size_t)i / points, j = 2 * ((size_t)i % points);
            vae_rng_polar_normals(uvs + 3 * i, m->host + row * Z + j, j + 1 < Z);
        }
        eps = m->host;
    }
    return m->be->write(m->dev, dst, eps, rows * Z);
}

/* The latent step for k samples of each of n encoded images: z by the
   reparameterisation, and log p(z) - log q(z|x), or with analytic the
   ELBO's -KL of each image. */
static vae_status latent_forward(vae *m, int n, int k, const float *eps, int analytic)
{
    int Z = m->cfg.latent_dim;
    TRY(put_noise(m, m->eps, eps, (size_t)n * k));
    TRY(m->be->reparam(m->dev, m->mu_logvar, m->eps, m->std, m->z, m->log_p_minus_q, n, k, Z));
    if (analytic)
        return m->be->kl_normal(m->dev, m->mu_logvar, m->log_p_minus_q, n, k, Z);
    return m->pri->log_prob ? m->pri->log_prob(m, n * k) : VAE_OK;
}

/* log w for k samples of each of the n images already encoded, with the
   bound and sample weights of the objective; grad leaves the gradient of
   -log p(x|z) in the decoder's output for backward. */
static vae_status log_weights(vae *m, int n, int k, const float *eps, int grad, int iwae)
{
    int analytic = !iwae && m->cfg.kl == VAE_KL_ANALYTIC;
    TRY(latent_forward(m, n, k, eps, analytic));
    TRY(decode(m, n * k, 0));
    TRY(m->lik->log_prob(m, n * k, k, grad));
    return m->be->combine(m->dev, m->log_px, m->log_p_minus_q, iwae ? 1.0f : m->cfg.beta, m->logw, m->bound,
                          m->objective, m->weight, m->latent_weight, n, k, iwae);
}

/* The decoder's backward pass over the rows that matter, ending in dz
   (rows, Z). A sample whose weight in the bound is zero (IWAE weights below
   2^-60 are, see combine) adds exactly nothing to any gradient: once
   trained a little, an IWAE with k = 50 has a third to a half of such
   samples, and the pass runs on the others only, moved up to the front.
   Fewer than an eighth are not worth the moving. */
static vae_status decoder_backward(vae *m, int rows)
{
    int i, kept = rows, cur = 0, Z = m->cfg.latent_dim;
    vae_ref dout, din, z = m->z, weight = m->weight;
    if (m->cfg.objective == VAE_IWAE)
        TRY(m->be->select_rows(m->dev, m->weight, rows, m->kept_rows, &kept));
    if (kept >= rows - rows / 8) {
        kept = rows;
    } else {
        for (i = 0; i < m->n_dec; i++)
            TRY(m->be->gather_rows(m->dev, m->dec_h[i], m->dec_h[i], m->kept_rows, kept,
                                   (int)dims_size(m->dec[i].out)));
        TRY(m->be->gather_rows(m->dev, m->z_kept, m->z, m->kept_rows, kept, Z));
        TRY(m->be->gather_rows(m->dev, m->weight_kept, m->weight, m->kept_rows, kept, 1));
        z = m->z_kept;
        weight = m->weight_kept;
    }
    /* The output holds the likelihood's gradient, to be scaled by each
       row's weight in the bound. */
    dout = m->dec_h[m->n_dec - 1];
    for (i = m->n_dec - 1; i >= 0; i--) {
        const layer *L = &m->dec[i];
        int top = i == m->n_dec - 1;
        vae_ref in = i ? m->dec_h[i - 1] : z;
        din = i ? m->grad_scratch[cur] : m->dz;
        TRY(L->kind->backward(m, L, in, m->dec_h[i], dout, top ? weight : VAE_NO_REF, din, kept));
        dout = din;
        cur ^= 1;
    }
    if (kept < rows)
        TRY(m->be->scatter_rows(m->dev, m->dz, m->kept_rows, kept, rows, Z));
    return VAE_OK;
}

static vae_status backward(vae *m, int n)
{
    int k = m->cfg.k, rows = n * k, i, cur = 0, Z = m->cfg.latent_dim;
    int analytic = m->cfg.kl == VAE_KL_ANALYTIC;
    vae_ref mu_logvar = m->mu_logvar, dout, din;
    TRY(decoder_backward(m, rows));
    if (m->lik->backward)
        TRY(m->lik->backward(m, rows));
    /* the latent step: the prior's gradient through z joins the decoder's,
       then both go back through the reparameterisation */
    if (!analytic && m->pri->backward)
        TRY(m->pri->backward(m, rows));
    TRY(m->be->reparam_backward(m->dev, m->dz, m->z, m->eps, m->std, analytic ? VAE_NO_REF : m->latent_weight,
                                m->dmu_logvar, n, k, Z));
    if (analytic)
        TRY(m->be->kl_normal_backward(m->dev, mu_logvar, m->latent_weight, m->dmu_logvar, n, k, Z));
    dout = m->dmu_logvar;
    if (m->expand != VAE_NO_REF) {
        TRY(m->be->gemm(m->dev, 0, 0, n, Z + 1, 2 * Z, dout, 2 * Z, m->expand, Z + 1, m->dhead, Z + 1, VAE_NO_REF,
                        VAE_ACT_NONE, 0));
        dout = m->dhead;
    }
    for (i = m->n_enc - 1; i >= 0; i--) {
        const layer *L = &m->enc[i];
        vae_ref in = i ? m->enc_h[i - 1] : m->x;
        /* The input images need no gradient. */
        din = i ? m->grad_scratch[cur] : VAE_NO_REF;
        TRY(L->kind->backward(m, L, in, m->enc_h[i], dout, VAE_NO_REF, din, n));
        dout = din;
        cur ^= 1;
    }
    return VAE_OK;
}

static vae_status check_batch(vae *m, const float *x, int n, int cap)
{
    if (!x)
        return fail(m, VAE_ERR_ARG, "no images given");
    if (n < 1 || n > cap)
        return fail(m, VAE_ERR_ARG, "batch of %d images is not in 1..%d", n, cap);
    return VAE_OK;
}

/* Forward and backward for one batch, and check_step's summary, not yet
   read: the update can be queued behind it. */
static vae_status gradient(vae *m, const float *x, int n, const float *eps)
{
    size_t P = m->n_params;
    TRY(check_batch(m, x, n, m->cfg.max_batch));
    if ((double)n * m->cfg.k > (double)m->r_cap)
        return fail(m, VAE_ERR_ARG, "the buffers hold %d decoder rows, fewer than %d images times k = %d: "
                                    "load the model with vae_load_ex to train it", m->r_cap, n, m->cfg.k);
    TRY(m->be->write(m->dev, m->x, x, (size_t)n * m->cfg.input_dim));
    TRY(encode(m, n));
    TRY(log_weights(m, n, m->cfg.k, eps, 1, m->cfg.objective == VAE_IWAE));
    TRY(backward(m, n));
    return m->be->check_step(m->dev, m->bound, m->objective, n, P + m->check_from, P - m->check_from, m->summary);
}

/* The step's one wait: the mean bound to *bound, and whether it and the
   gradients were finite. */
static vae_status read_summary(vae *m, int n, float *bound)
{
    float v[VAE_STEP_SUMMARY];
    double s;
    TRY(m->be->read(m->dev, m->summary, v, VAE_STEP_SUMMARY));
    s = ((double)v[VAE_STEP_BOUND] + v[VAE_STEP_BOUND + 1]) / n;
    if (bound)
        *bound = (float)s;
    if (!isfinite(s))
        return fail(m, VAE_ERR_NUMERIC, "the bound is not finite (%g)", s);
    if (v[VAE_STEP_OK] != 1.0f)
        return fail(m, VAE_ERR_NUMERIC, "a gradient is not finite");
    m->last_objective = ((double)v[VAE_STEP_OBJECTIVE] + v[VAE_STEP_OBJECTIVE + 1]) / n;
    return VAE_OK;
}

vae_status vae_gradient(vae *m, const float *x, int n, const float *eps, float *bound)
{
    REQUIRE_USABLE(m);
    TRY(finish(m, gradient(m, x, n, eps)));
    return finish(m, read_summary(m, n, bound));
}

vae_status vae_train_step(vae *m, const float *x, int n, const float *eps, float *bound)
{
    const vae_config *c;
    size_t P;
    REQUIRE_USABLE(m);
    c = &m->cfg;
    P = m->n_params;
    if (m->steps == LONG_MAX)
        return fail(m, VAE_ERR_ARG, "the step counter is at its limit");
    TRY(finish(m, gradient(m, x, n, eps)));
    /* queued before the summary is read, and skipped on the device when
       the step was not finite */
    TRY(finish(m, m->be->adam(m->dev, 0, P, 2 * P, 3 * P, P, c->lr, c->beta1, c->beta2, c->eps, m->steps + 1,
                              c->optimizer == VAE_ADAMAX, m->summary + VAE_STEP_OK)));
    TRY(finish(m, read_summary(m, n, bound)));
    m->steps++;
    return VAE_OK;
}

/* ---- evaluation ------------------------------------------------------------ */

/* Calls visit(ctx, logw, count) for consecutive log-weights of k samples of
   each image, in order, for all n images: many images at once when k is
   small, chunks of one image's samples when k exceeds the buffers. */
typedef void (*logw_visitor)(void *ctx, int image, const float *logw, int count);

static vae_status each_log_weight(vae *m, const float *x, int n, int k, int iwae, logw_visitor visit, void *ctx)
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
        TRY(m->be->write(m->dev, m->x, x + (size_t)b0 * D, (size_t)nb * D));
        TRY(encode(m, nb));
        if (k <= m->r_cap) {
            int i;
            TRY(log_weights(m, nb, k, NULL, 0, iwae));
            TRY(m->be->read(m->dev, m->logw, m->host, (size_t)nb * k));
            for (i = 0; i < nb; i++)
                visit(ctx, b0 + i, m->host + (size_t)i * k, k);
            continue;
        }
        /* One image, many samples: its encoding is reused for every chunk. */
        for (done = 0; done < k; done += c) {
            c = min_int(m->r_cap, k - done);
            TRY(log_weights(m, 1, c, NULL, 0, iwae));
            TRY(m->be->read(m->dev, m->logw, m->host, (size_t)c));
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
    double *each;      /* each image's bound, or NULL */
} reducer;

static void reducer_finish(reducer *r)
{
    double b;
    if (r->image < 0)
        return;
    b = r->iwae ? r->max + log(r->sum) - log((double)r->k) : r->mean_sum / r->k;
    r->total += b;
    if (r->each)
        r->each[r->image] = b;
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

/* The mean bound over the images into *out, and each one's into each
   (n) unless it is NULL. */
static vae_status reduce_bound(vae *m, const float *x, int n, int k, int iwae, double *out, double *each)
{
    reducer r;
    r.image = -1;
    r.iwae = iwae;
    r.k = k;
    r.total = 0.0;
    r.max = r.sum = r.mean_sum = 0.0;
    r.each = each;
    TRY(each_log_weight(m, x, n, k, iwae, reduce_visit, &r));
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
    return finish(m, reduce_bound(m, x, n, k, obj == VAE_IWAE, bound, NULL));
}

vae_status vae_bound_images(vae *m, const float *x, int n, vae_objective obj, int k, double *each)
{
    double mean;
    REQUIRE_USABLE(m);
    if (!each)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    if (obj != VAE_ELBO && obj != VAE_IWAE)
        return fail(m, VAE_ERR_ARG, "unknown objective %d", (int)obj);
    return finish(m, reduce_bound(m, x, n, k, obj == VAE_IWAE, &mean, each));
}

vae_status vae_log_likelihood(vae *m, const float *x, int n, int k, double *ll)
{
    REQUIRE_USABLE(m);
    if (!ll)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    /* log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i | x): the IWAE bound with
       k samples, which tends to log p(x) as k grows. */
    return finish(m, reduce_bound(m, x, n, k, 1, ll, NULL));
}

vae_status vae_log_likelihood_images(vae *m, const float *x, int n, int k, double *each)
{
    double mean;
    REQUIRE_USABLE(m);
    if (!each)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    return finish(m, reduce_bound(m, x, n, k, 1, &mean, each));
}

static vae_status encode_to_host(vae *m, const float *x, int n, float *mu, float *logvar)
{
    int Z = m->cfg.latent_dim, b0, i, nb;
    for (b0 = 0; b0 < n; b0 += nb) {
        nb = min_int(m->b_cap, n - b0);
        TRY(m->be->write(m->dev, m->x, x + (size_t)b0 * m->cfg.input_dim, (size_t)nb * m->cfg.input_dim));
        TRY(encode(m, nb));
        TRY(m->be->read(m->dev, m->mu_logvar, m->host, (size_t)nb * 2 * Z));
        for (i = 0; i < nb; i++) {
            if (mu)
                memcpy(mu + (size_t)(b0 + i) * Z, m->host + (size_t)i * 2 * Z, Z * sizeof(float));
            if (logvar)
                memcpy(logvar + (size_t)(b0 + i) * Z, m->host + (size_t)i * 2 * Z + Z, Z * sizeof(float));
        }
    }
    return VAE_OK;
}

vae_status vae_encode(vae *m, const float *x, int n, float *mu, float *logvar)
{
    REQUIRE_USABLE(m);
    TRY(check_batch(m, x, n, INT_MAX));
    return finish(m, encode_to_host(m, x, n, mu, logvar));
}

/* Decodes rows of z already in m->z into the likelihood's mean. */
static vae_status decode_to_host(vae *m, int rows, float *mean)
{
    TRY(decode(m, rows, 1));
    return m->be->read(m->dev, m->dec_h[m->n_dec - 1], mean, (size_t)rows * m->cfg.input_dim);
}

/* n rows of z, each from the caller (z not NULL) or drawn from the prior
   with the model's generator, into the host after the prior's own floats. */
static vae_status decode_rows(vae *m, const float *z, int n, float *mean)
{
    int r0, rows, Z = m->cfg.latent_dim;
    size_t at = (size_t)prior_host_floats(&m->cfg);
    int per = (int)min_sz((size_t)m->r_cap, (m->host_len - at) / (size_t)Z);
    /* r0 += rows, not += per: r0 never passes n, so it cannot overflow */
    for (r0 = 0; r0 < n; r0 += rows) {
        rows = min_int(per, n - r0);
        if (z) {
            TRY(m->be->write(m->dev, m->z, z + (size_t)r0 * Z, (size_t)rows * Z));
        } else {
            TRY(prior_sample(m, &m->rng, rows, m->host + at));
            TRY(m->be->write(m->dev, m->z, m->host + at, (size_t)rows * Z));
        }
        TRY(decode_to_host(m, rows, mean + (size_t)r0 * m->cfg.input_dim));
    }
    return VAE_OK;
}

vae_status vae_decode(vae *m, const float *z, int n, float *mean)
{
    REQUIRE_USABLE(m);
    TRY(check_batch(m, z, n, INT_MAX));
    if (!mean)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    return finish(m, decode_rows(m, z, n, mean));
}

vae_status vae_sample(vae *m, int n, float *mean)
{
    REQUIRE_USABLE(m);
    if (n < 1 || !mean)
        return fail(m, VAE_ERR_ARG, "need n >= 1 and a place for the result");
    return finish(m, decode_rows(m, NULL, n, mean));
}

vae_status vae_set_beta(vae *m, float beta)
{
    vae_config c;
    char why[160];
    REQUIRE_USABLE(m);
    c = m->cfg;
    c.beta = beta;
    if (vae_config_check(&c, why, sizeof why) != VAE_OK)
        return fail(m, VAE_ERR_ARG, "%s", why);
    m->cfg.beta = beta;
    return VAE_OK;
}

double vae_last_objective(const vae *m)
{
    return m ? m->last_objective : 0.0;
}

vae_status vae_prior_sample(vae *m, int n, uint64_t seed, float *z)
{
    vae_rng rng;
    REQUIRE_USABLE(m);
    if (n < 1 || !z)
        return fail(m, VAE_ERR_ARG, "need n >= 1 and a place for the result");
    vae_rng_seed(&rng, seed);
    return finish(m, prior_sample(m, &rng, n, z));
}

vae_status vae_prior_perplexity(vae *m, double *perplexity)
{
    int K = m ? m->cfg.components : 0, c;
    double mx, total = 0.0, entropy = 0.0;
    REQUIRE_USABLE(m);
    if (!perplexity)
        return fail(m, VAE_ERR_ARG, "no place for the result");
    if (m->cfg.prior != VAE_PRIOR_MOG) {
        *perplexity = 1.0;
        return VAE_OK;
    }
    TRY(finish(m, m->be->read(m->dev, m->pri_at.param[MOG_LOGIT], m->host, (size_t)K)));
    mx = m->host[0];
    for (c = 1; c < K; c++)
        mx = m->host[c] > mx ? m->host[c] : mx;
    for (c = 0; c < K; c++)
        total += exp(m->host[c] - mx);
    /* entropy of p = softmax(logit): -sum p log p, log p = l - mx - log total */
    for (c = 0; c < K; c++) {
        double lp = m->host[c] - mx - log(total);
        entropy -= exp(lp) * lp;
    }
    *perplexity = exp(entropy);
    return VAE_OK;
}

/* ---- tensors by name ------------------------------------------------------ */

int vae_tensor_count(const vae *m)
{
    return m && m->usable ? m->n_tensors : 0;
}

vae_status vae_tensor_info(const vae *m, int i, const char **name, int *ndim, int shape[VAE_MAX_DIMS])
{
    const tensor *t;
    int d;
    if (!m || !m->usable || i < 0 || i >= m->n_tensors)
        return VAE_ERR_ARG;
    t = &m->tensors[i];
    if (name)
        *name = t->name;
    if (ndim)
        *ndim = t->ndim;
    if (shape)
        for (d = 0; d < VAE_MAX_DIMS; d++)
            shape[d] = t->shape[d];
    return VAE_OK;
}

int vae_layer_count(const vae *m)
{
    return m && m->usable ? m->n_enc + m->n_dec : 0;
}

vae_status vae_layer_info(const vae *m, int i, vae_layer *info)
{
    const layer *L;
    if (!m || !m->usable || !info || i < 0 || i >= m->n_enc + m->n_dec)
        return VAE_ERR_ARG;
    L = i < m->n_enc ? &m->enc[i] : &m->dec[i - m->n_enc];
    memset(info, 0, sizeof *info);
    info->kind = L->kind->name;
    info->decoder = i >= m->n_enc;
    info->in[0] = L->in.c;
    info->in[1] = L->in.h;
    info->in[2] = L->in.w;
    info->out[0] = L->out.c;
    info->out[1] = L->out.h;
    info->out[2] = L->out.w;
    if (L->kind->spatial) {
        info->kernel = L->k;
        info->stride = L->stride;
        info->pad = L->pad;
        info->out_pad = L->out_pad;
    }
    info->activation = L->act == VAE_ACT_NONE ? "none" : spec_act_names[L->act];
    info->params = (long)layer_params(L);
    info->name = L->name;
    return VAE_OK;
}

static size_t tensor_size(const tensor *t)
{
    return (size_t)t->rows * (size_t)t->cols;
}

/* Where PyTorch's index i of a dimension that runs over image d (c, h, w)
   lies in memory, channels last; d.c == 0: i itself. */
static size_t in_memory(dims3 d, size_t i)
{
    size_t px = (size_t)d.h * d.w;
    return d.c ? i % px * d.c + i / px : i;
}

/* Rows r0 .. r0 + n of tensor set `which` of t, in PyTorch's order, from
   the backend into dst or from src into the backend. A tensor kept in
   another order goes a row at a time through the first t->cols floats
   of m->host, which the caller leaves alone. */
static vae_status tensor_rows(vae *m, const tensor *t, size_t base, int r0, int n, float *dst, const float *src)
{
    size_t cols = (size_t)t->cols, j;
    int r;
    vae_ref ref = t->ref + base;
    if (!t->row_image.c && !t->col_image.c)
        return dst ? m->be->read(m->dev, ref + (size_t)r0 * cols, dst, (size_t)n * cols)
                   : m->be->write(m->dev, ref + (size_t)r0 * cols, src, (size_t)n * cols);
    for (r = r0; r < r0 + n; r++) {
        vae_ref row = ref + in_memory(t->row_image, (size_t)r) * cols;
        size_t at = (size_t)(r - r0) * cols;
        if (dst) {
            TRY(m->be->read(m->dev, row, m->host, cols));
            for (j = 0; j < cols; j++)
                dst[at + j] = m->host[in_memory(t->col_image, j)];
        } else {
            for (j = 0; j < cols; j++)
                m->host[in_memory(t->col_image, j)] = src[at + j];
            TRY(m->be->write(m->dev, row, m->host, cols));
        }
    }
    return VAE_OK;
}

static const tensor *find_tensor(vae *m, const char *name, size_t count)
{
    int i;
    for (i = 0; i < m->n_tensors; i++) {
        const tensor *t = &m->tensors[i];
        if (name && strcmp(t->name, name) == 0) {
            if (count != tensor_size(t)) {
                fail(m, VAE_ERR_ARG, "tensor %s has %lu values, not %lu", name, (unsigned long)tensor_size(t),
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
    return finish(m, tensor_rows(m, t, base, 0, t->rows, dst, src));
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

/* ---- CRC-32, byte order, whole files -------------------------------------- */

/* Byte-table CRC (reflected polynomial 0xEDB88320). The table is built on
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

/* Byte by byte, so that the host's byte order never matters. */
uint32_t vae_get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* buf (used bytes of it) moved into a block of cap bytes; NULL, with buf
   untouched, when there is no memory. The allocator hooks have no realloc. */
static unsigned char *grow_bytes(unsigned char *buf, size_t used, size_t cap)
{
    unsigned char *p = VAE_MALLOC(cap);
    if (p && buf) {
        memcpy(p, buf, used);
        VAE_FREE(buf);
    }
    return p;
}

vae_status vae_read_file(const char *path, size_t max, unsigned char **data, size_t *len, char *why,
                         size_t why_len)
{
    FILE *f;
    unsigned char *buf = NULL, *p;
    size_t n = 0, cap = 65536;
    long size;
    vae_status st = VAE_OK;
    *data = NULL;
    *len = 0;
    errno = 0;
    f = fopen(path, "rb");
    if (!f)
        return say(VAE_ERR_IO, why, why_len, "%s: cannot open: %s", path, errno ? strerror(errno) : "unknown error");
    /* The size, where the stream tells it, saves copies; it is only a guess:
       the loop reads to the end of the file whatever it said. */
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && (unsigned long)size < max)
        cap = (size_t)size + 1;
    rewind(f);
    for (;;) {
        size_t got;
        if (!buf || n == cap) {
            size_t want = !buf ? cap : cap > max / 2 ? max + 1 : cap * 2;
            if (buf && n > max) {
                st = say(VAE_ERR_FORMAT, why, why_len, "%s: larger than the limit of %lu bytes", path,
                         (unsigned long)max);
                break;
            }
            if (!(p = grow_bytes(buf, n, want))) {
                st = say(VAE_ERR_NOMEM, why, why_len, "%s: out of memory", path);
                break;
            }
            buf = p;
            cap = want;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (st == VAE_OK && ferror(f))
        st = say(VAE_ERR_IO, why, why_len, "%s: read failed: %s", path, errno ? strerror(errno) : "unknown error");
    else if (st == VAE_OK && n > max)
        st = say(VAE_ERR_FORMAT, why, why_len, "%s: larger than the limit of %lu bytes", path, (unsigned long)max);
    fclose(f);
    if (st != VAE_OK) {
        VAE_FREE(buf);
        return st;
    }
    *data = buf;
    *len = n;
    return VAE_OK;
}

/* ---- checkpoints -----------------------------------------------------------

   Little-endian whatever the host, written byte by byte:
     "VAEMODEL", u32 version,
     u32 length + text: the configuration as "key value" lines,
     u64 steps, 4 x u64 generator state,
     u32 tensor count, then per tensor: u32 name length + name, u32 ndim,
       ndim x u32 shape, the float32 values,
     (version 2 on) u32 length + the application's bytes,
     u32 CRC-32 of everything before it.
   Tensors are the parameters by their names and the optimiser moments as
   opt.m.<name> and opt.v.<name>. A reader checks the CRC before trusting
   anything, then requires every tensor exactly once with its shape. A
   version-1 file lacks the keys that version 2 added (config_fields says
   which) and the application section; they take their defaults. */

#define CKPT_MAGIC "VAEMODEL"
#define CKPT_VERSION 4u
#define CKPT_MAX_CONFIG 4096

static const char *const moment_prefix[3] = {"", "opt.m.", "opt.v."};

/* Where tensor set `which` (parameters, first moments, second moments)
   starts: gradients sit between the parameters and the moments. */
static size_t moment_base(const vae *m, int which)
{
    return which == 0 ? 0 : (size_t)(which + 1) * m->n_params;
}

/* An output buffer sized up front, so that emitting cannot overflow. */
typedef struct {
    unsigned char *p;
    size_t len;
} bytes;

static void emit(bytes *b, const void *src, size_t n)
{
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void emit_u32(bytes *b, uint32_t v)
{
    put_le32(b->p + b->len, v);
    b->len += 4;
}

static void emit_u64(bytes *b, uint64_t v)
{
    emit_u32(b, (uint32_t)v);
    emit_u32(b, (uint32_t)(v >> 32));
}

/* The configuration as "key value" lines; its length, or -1 when it does
   not fit in cap bytes. */
static int config_text(const vae_config *c, char *out, size_t cap)
{
    size_t n = 0;
    int i;
    for (i = 0; i < N_FIELDS; i++) {
        int len = snprintf(out + n, cap - n, "%s ", config_fields[i].key);
        if (len < 0 || (size_t)len >= cap - n)
            return -1;
        n += (size_t)len;
        len = vae_config_get(c, config_fields[i].key, out + n, cap - n);
        if (len < 0 || (size_t)len + 1 >= cap - n)
            return -1;
        n += (size_t)len;
        out[n++] = '\n';
        out[n] = '\0';
    }
    return (int)n;
}

/* A checkpoint moves tensors through m->host in pieces of whole rows:
   the floats per piece, and where in m->host they go (after tensor_rows'
   row of scratch). build() gives m->host room for two such rows. */
static size_t piece_floats(const vae *m, const tensor *t)
{
    size_t cols = (size_t)t->cols, scratch = t->row_image.c || t->col_image.c ? cols : 0;
    return scratch ? (m->host_len - scratch) / cols * cols : m->host_len;
}

static float *piece_buffer(const vae *m, const tensor *t)
{
    return m->host + (t->row_image.c || t->col_image.c ? (size_t)t->cols : 0);
}

/* count floats from index at of the tensor (at and count whole rows when
   it is kept in another order) */
static vae_status tensor_piece(vae *m, const tensor *t, size_t base, size_t at, size_t count, float *dst,
                               const float *src)
{
    size_t cols = (size_t)t->cols;
    if (!t->row_image.c && !t->col_image.c)
        return dst ? m->be->read(m->dev, t->ref + base + at, dst, count)
                   : m->be->write(m->dev, t->ref + base + at, src, count);
    return tensor_rows(m, t, base, (int)(at / cols), (int)(count / cols), dst, src);
}

static size_t tensor_record_bytes(const tensor *t, int which)
{
    return 4 + strlen(moment_prefix[which]) + strlen(t->name) + 4 + 4 * (size_t)t->ndim + 4 * tensor_size(t);
}

/* A tensor's record; refuses a non-finite value, which vae_load would
   refuse in turn: the file on disk then stays as it was. */
static vae_status emit_tensor(vae *m, bytes *b, const tensor *t, int which)
{
    size_t count = tensor_size(t), j, q;
    char name[48];
    int d, nlen = snprintf(name, sizeof name, "%s%s", moment_prefix[which], t->name);
    emit_u32(b, (uint32_t)nlen);
    emit(b, name, (size_t)nlen);
    emit_u32(b, (uint32_t)t->ndim);
    for (d = 0; d < t->ndim; d++)
        emit_u32(b, (uint32_t)t->shape[d]);
    for (j = 0; j < count; j += piece_floats(m, t)) {
        size_t c = min_sz(piece_floats(m, t), count - j);
        float *buf = piece_buffer(m, t);
        TRY(tensor_piece(m, t, moment_base(m, which), j, c, buf, NULL));
        for (q = 0; q < c; q++) {
            uint32_t u;
            if (!isfinite(buf[q]))
                return fail(m, VAE_ERR_NUMERIC, "%s holds a non-finite value: not saved", name);
            memcpy(&u, &buf[q], 4);
            emit_u32(b, u);
        }
    }
    return VAE_OK;
}

/* The whole checkpoint into b->p, allocated here. */
static vae_status serialise(vae *m, bytes *b)
{
    char cfg[CKPT_MAX_CONFIG];
    int clen = config_text(&m->cfg, cfg, sizeof cfg), i, which;
    size_t need;
    if (clen < 0)
        return fail(m, VAE_ERR_ARG, "the configuration does not fit in a checkpoint");
    need = 8 + 4 + 4 + (size_t)clen + 8 + 32 + 4 + 4 + m->app_len + 4;
    for (which = 0; which < 3; which++)
        for (i = 0; i < m->n_tensors; i++)
            need += tensor_record_bytes(&m->tensors[i], which);
    if (need > CKPT_MAX_BYTES) /* vae_config_check keeps models below it */
        return fail(m, VAE_ERR_ARG, "a checkpoint of %lu bytes is over the %lu that vae_load reads",
                    (unsigned long)need, (unsigned long)CKPT_MAX_BYTES);
    if (!(b->p = VAE_MALLOC(need)))
        return fail(m, VAE_ERR_NOMEM, "out of memory for a checkpoint of %lu bytes", (unsigned long)need);
    b->len = 0;
    emit(b, CKPT_MAGIC, 8);
    emit_u32(b, CKPT_VERSION);
    emit_u32(b, (uint32_t)clen);
    emit(b, cfg, (size_t)clen);
    emit_u64(b, (uint64_t)m->steps);
    for (i = 0; i < 4; i++)
        emit_u64(b, m->rng.s[i]);
    emit_u32(b, (uint32_t)(3 * m->n_tensors));
    for (which = 0; which < 3; which++)
        for (i = 0; i < m->n_tensors; i++)
            TRY(emit_tensor(m, b, &m->tensors[i], which));
    emit_u32(b, (uint32_t)m->app_len);
    if (m->app_len)
        emit(b, m->app, m->app_len);
    emit_u32(b, vae_crc32(0, b->p, b->len));
    return VAE_OK;
}

/* Durability. A file that vae_write_file writes reaches the disk before
   it replaces the old one, in one step, and the rename is made durable
   after, where the platform can do it: POSIX fsync of the file, rename,
   fsync of its directory; on Windows _commit of the file and MoveFileEx,
   which replaces the old file and returns once the move is on the disk.
   Elsewhere (plain C99 and nothing more) rename, which C leaves free to
   refuse an existing target: the write is still atomic against a crash of
   the program, but a power cut may lose the latest file. */
#if defined(__unix__) || (defined(__APPLE__) && defined(__MACH__))
#include <fcntl.h>
#include <unistd.h>

/* File systems that cannot sync (some network and FUSE ones) say EINVAL
   or ENOTSUP: the save goes on as it would without fsync. */
static int sync_file(FILE *f)
{
    return fsync(fileno(f)) == 0 || errno == EINVAL || errno == ENOTSUP ? 0 : -1;
}

/* Makes the directory entry of path durable. Some file systems cannot
   sync a directory; the file is in place by then, so that is no error. */
static int replace_file(const char *from, const char *to)
{
    return rename(from, to);
}

static void sync_directory(const char *path)
{
    size_t cut = strlen(path);
    char *dir;
    int fd;
    while (cut > 0 && path[cut - 1] != '/')
        cut--;
    if (cut == 0) {
        fd = open(".", O_RDONLY);
    } else {
        if (!(dir = VAE_MALLOC(cut + 1)))
            return;
        memcpy(dir, path, cut);
        dir[cut] = '\0';
        fd = open(dir, O_RDONLY);
        VAE_FREE(dir);
    }
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}
#elif defined(_WIN32)
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <io.h>
#include <windows.h>

static int sync_file(FILE *f)
{
    return _commit(_fileno(f));
}

static int replace_file(const char *from, const char *to)
{
    DWORD e;
    if (MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return 0;
    e = GetLastError();
    errno = e == ERROR_ACCESS_DENIED || e == ERROR_SHARING_VIOLATION ? EACCES
            : e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ? ENOENT
                                                                      : EIO;
    return -1;
}

static void sync_directory(const char *path)
{
    (void)path;
}
#else
static int sync_file(FILE *f)
{
    (void)f;
    return 0;
}

static int replace_file(const char *from, const char *to)
{
    return rename(from, to);
}

static void sync_directory(const char *path)
{
    (void)path;
}
#endif

vae_status vae_write_file(const char *path, const void *data, size_t len, char *why, size_t why_len)
{
    size_t plen;
    char *tmp;
    FILE *f;
    int failed, saved;
    if (!path || !*path || (!data && len)) {
        errno = EINVAL;
        return say(VAE_ERR_ARG, why, why_len, "no file or no data to write");
    }
    plen = strlen(path);
    if (!(tmp = VAE_MALLOC(plen + 5))) {
        errno = ENOMEM;
        return say(VAE_ERR_NOMEM, why, why_len, "%s: out of memory", path);
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    errno = 0;
    if (!(f = fopen(tmp, "wb"))) {
        saved = errno;
        say(VAE_ERR_IO, why, why_len, "%s: cannot create: %s", tmp, saved ? strerror(saved) : "unknown error");
        VAE_FREE(tmp);
        errno = saved;
        return VAE_ERR_IO;
    }
    failed = (len && fwrite(data, 1, len, f) != len) || fflush(f) != 0 || sync_file(f) != 0;
    saved = failed ? errno : 0;
    if (fclose(f) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (failed) {
        saved = saved ? saved : EIO;
        say(VAE_ERR_IO, why, why_len, "%s: write failed: %s", tmp, strerror(saved));
        remove(tmp);
    } else if (replace_file(tmp, path) != 0) {
        failed = 1;
        saved = errno;
        remove(tmp);
        say(VAE_ERR_IO, why, why_len, "%s: cannot rename %s into place: %s", path, tmp, strerror(saved));
    }
    VAE_FREE(tmp);
    if (failed) {
        errno = saved;
        return VAE_ERR_IO;
    }
    sync_directory(path);
    return VAE_OK;
}

vae_status vae_save(vae *m, const char *path)
{
    bytes b = {NULL, 0};
    vae_status st;
    REQUIRE_USABLE(m);
    if (!path || !*path)
        return fail(m, VAE_ERR_ARG, "no checkpoint path given");
    st = serialise(m, &b);
    if (st == VAE_OK) {
        char why[sizeof m->error];
        st = vae_write_file(path, b.p, b.len, why, sizeof why);
        if (st != VAE_OK)
            st = fail(m, st, "%s", why);
    }
    VAE_FREE(b.p);
    return finish(m, st);
}

/* A bounds-checked reader over the checkpoint's bytes: a read past the end
   sets bad and yields zeros, so that callers check once. */
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
    return p ? vae_get_le32(p) : 0;
}

static uint64_t take_u64(reader *r)
{
    uint64_t lo = take_u32(r);
    return lo | (uint64_t)take_u32(r) << 32;
}

/* Magic, checksum and version; r is set to read what follows them, short
   of the CRC. */
static vae_status read_header(vae *m, const char *path, const unsigned char *data, size_t len, reader *r,
                              uint32_t *version)
{
    if (len < 8 + 4 + 4 || memcmp(data, CKPT_MAGIC, 8) != 0)
        return fail(m, VAE_ERR_FORMAT, "%s: not a vae checkpoint", path);
    if (vae_crc32(0, data, len - 4) != vae_get_le32(data + len - 4))
        return fail(m, VAE_ERR_FORMAT, "%s: checksum mismatch: the file is corrupt or truncated", path);
    r->p = data;
    r->len = len - 4;
    r->pos = 8;
    r->bad = 0;
    *version = take_u32(r);
    if (*version < 1 || *version > CKPT_VERSION)
        return fail(m, VAE_ERR_FORMAT, "%s: checkpoint version %lu is not 1 to %u", path, (unsigned long)*version,
                    CKPT_VERSION);
    return VAE_OK;
}

/* The "key value" lines: each key known and given once, every key of its
   version present; keys a later version added take their defaults. */
static vae_status read_config(vae *m, const char *path, reader *r, uint32_t version, vae_config *c)
{
    char text[CKPT_MAX_CONFIG + 1], why[160], *line, *next;
    unsigned char seen[N_FIELDS];
    const unsigned char *p;
    uint32_t clen = take_u32(r);
    int i;
    if (clen > CKPT_MAX_CONFIG || !(p = take(r, clen)))
        return fail(m, VAE_ERR_FORMAT, "%s: bad configuration length", path);
    memcpy(text, p, clen);
    text[clen] = '\0';
    if (strlen(text) != clen)
        return fail(m, VAE_ERR_FORMAT, "%s: unreadable configuration", path);
    memset(seen, 0, sizeof seen);
    vae_config_init(c);
    for (line = text; *line; line = next) {
        const vae_field *f;
        char *value;
        next = strchr(line, '\n');
        value = next ? strchr(line, ' ') : NULL;
        if (!value || value > next)
            return fail(m, VAE_ERR_FORMAT, "%s: unreadable configuration", path);
        *next++ = '\0';
        *value++ = '\0';
        f = find_field(line);
        if (!f || seen[f - config_fields]++)
            return fail(m, VAE_ERR_FORMAT, "%s: unexpected or repeated configuration key '%.40s'", path, line);
        if (vae_config_set(c, line, value, why, sizeof why) != VAE_OK)
            return fail(m, VAE_ERR_FORMAT, "%s: bad configuration: %s %s", path, line, why);
    }
    for (i = 0; i < N_FIELDS; i++)
        if (!seen[i] && config_fields[i].since <= (int)version)
            return fail(m, VAE_ERR_FORMAT, "%s: the configuration lacks %s", path, config_fields[i].key);
    if (check_config(m, c) != VAE_OK)
        return fail(m, VAE_ERR_FORMAT, "%s: bad configuration: %.150s", path, m->error);
    return VAE_OK;
}

/* The batch and k the buffers are sized for: the caller's where given.
   Otherwise the saved ones, but while the decoder rows or activations
   exceed vae_load's limits the batch halves, and then the rows the
   buffers hold: k, the objective, never changes. A model whose k alone is
   over the limit can be evaluated (k goes through in chunks) but not
   trained; a training step then says so. */
static vae_status size_for_run(vae *m, const char *path, const vae_options *opt)
{
    vae_config *c = &m->cfg;
    int given = opt && (opt->max_batch || opt->k);
    size_t total;
    if (opt && opt->max_batch)
        c->max_batch = opt->max_batch;
    if (opt && opt->k)
        c->k = opt->k;
    if (given) {
        vae_status st = check_config(m, c);
        if (st != VAE_OK)
            return fail(m, st, "%s: cannot run with these options: %.150s", path, m->error);
    }
    for (;;) {
        TRY(layout(m, &total));
        if (given || (m->r_cap <= VAE_LOAD_ROWS && activation_bytes(m) <= (double)VAE_LOAD_BYTES))
            break;
        if (c->max_batch > 1) {
            c->max_batch = (c->max_batch + 1) / 2;
        } else if (m->r_cap > 1) {
            m->row_cap = m->r_cap / 2;
            m->eval_rows = min_int(m->eval_rows, m->row_cap);
        } else {
            break;
        }
    }
    return VAE_OK;
}

static vae_status read_state(vae *m, const char *path, reader *r)
{
    uint64_t steps = take_u64(r);
    int i;
    for (i = 0; i < 4; i++)
        m->rng.s[i] = take_u64(r);
    if (r->bad || steps >= (uint64_t)LONG_MAX)
        return fail(m, VAE_ERR_FORMAT, "%s: bad step counter", path);
    /* An all-zero state is the one xoshiro256** cannot leave: every draw
       would be 0 and the Gaussian sampler would never return. */
    if ((m->rng.s[0] | m->rng.s[1] | m->rng.s[2] | m->rng.s[3]) == 0)
        return fail(m, VAE_ERR_FORMAT, "%s: invalid random generator state", path);
    m->steps = (long)steps;
    return VAE_OK;
}

/* The tensor named name (with its moment prefix), as which * MAX_TENSORS +
   its index; -1 when there is none. */
static int tensor_slot(const vae *m, const char *name)
{
    int which, i;
    for (which = 2; which >= 0; which--) {
        size_t pl = strlen(moment_prefix[which]);
        if (strncmp(name, moment_prefix[which], pl) != 0)
            continue;
        for (i = 0; i < m->n_tensors; i++)
            if (strcmp(name + pl, m->tensors[i].name) == 0)
                return which * MAX_TENSORS + i;
    }
    return -1;
}

static vae_status read_tensors(vae *m, const char *path, reader *r)
{
    unsigned char seen[3 * MAX_TENSORS];
    uint32_t count = take_u32(r), t;
    if (r->bad || count != 3u * (uint32_t)m->n_tensors)
        return fail(m, VAE_ERR_FORMAT, "%s: expected %d tensors", path, 3 * m->n_tensors);
    memset(seen, 0, sizeof seen);
    for (t = 0; t < count; t++) {
        char name[64];
        const unsigned char *p;
        uint32_t nlen = take_u32(r), ndim;
        int slot, d;
        size_t n, j;
        const tensor *tt;
        if (nlen == 0 || nlen >= sizeof name || !(p = take(r, nlen)))
            return fail(m, VAE_ERR_FORMAT, "%s: bad tensor name", path);
        memcpy(name, p, nlen);
        name[nlen] = '\0';
        slot = tensor_slot(m, name);
        if (slot < 0 || seen[slot]++)
            return fail(m, VAE_ERR_FORMAT, "%s: unexpected or repeated tensor %s", path, name);
        tt = &m->tensors[slot % MAX_TENSORS];
        ndim = take_u32(r);
        if (ndim != (uint32_t)tt->ndim)
            return fail(m, VAE_ERR_FORMAT, "%s: tensor %s has %lu dimensions, not %d", path, name,
                        (unsigned long)ndim, tt->ndim);
        for (d = 0; d < tt->ndim; d++)
            if (take_u32(r) != (uint32_t)tt->shape[d])
                return fail(m, VAE_ERR_FORMAT, "%s: tensor %s has the wrong shape for the network its configuration "
                                               "describes", path, name);
        n = tensor_size(tt);
        if (!(p = take(r, 4 * n)))
            return fail(m, VAE_ERR_FORMAT, "%s: truncated in tensor %s", path, name);
        for (j = 0; j < n; j += piece_floats(m, tt)) {
            size_t c = min_sz(piece_floats(m, tt), n - j), q;
            float *buf = piece_buffer(m, tt);
            for (q = 0; q < c; q++) {
                uint32_t u = vae_get_le32(p + 4 * (j + q));
                memcpy(&buf[q], &u, 4);
                if (!isfinite(buf[q]))
                    return fail(m, VAE_ERR_FORMAT, "%s: tensor %s holds a non-finite value", path, name);
            }
            TRY(tensor_piece(m, tt, moment_base(m, slot / MAX_TENSORS), j, c, NULL, buf));
        }
    }
    return VAE_OK;
}

static vae_status read_app_data(vae *m, const char *path, reader *r)
{
    uint32_t len = take_u32(r);
    const unsigned char *p;
    if (r->bad || len > VAE_MAX_APP_DATA || !(p = take(r, len)))
        return fail(m, VAE_ERR_FORMAT, "%s: bad application data", path);
    if (len && !(m->app = VAE_MALLOC(len)))
        return fail(m, VAE_ERR_NOMEM, "%s: out of memory", path);
    if (len)
        memcpy(m->app, p, len);
    m->app_len = len;
    return VAE_OK;
}

/* A checkpoint from memory into m, which new_model made; path only names
   it in messages. */
static vae_status load_into(vae *m, const char *path, const unsigned char *data, size_t len, const vae_options *opt)
{
    reader r;
    uint32_t version = 0;
    double param_bytes = 0.0;
    int i;
    TRY(use_options(m, opt));
    TRY(read_header(m, path, data, len, &r, &version));
    TRY(read_config(m, path, &r, version, &m->cfg));
    TRY(size_for_run(m, path, opt));
    /* The file must hold the parameters and both moments before anything
       is allocated for them: a small hostile file cannot ask for a big
       model. */
    for (i = 0; i < m->n_tensors; i++)
        param_bytes += 12.0 * (double)tensor_size(&m->tensors[i]);
    if (param_bytes > (double)(r.len - r.pos))
        return fail(m, VAE_ERR_FORMAT, "%s: too short for the model its configuration describes", path);
    TRY(build(m, opt));
    TRY(read_state(m, path, &r));
    TRY(read_tensors(m, path, &r));
    if (version >= 2)
        TRY(read_app_data(m, path, &r));
    if (r.pos != r.len)
        return fail(m, VAE_ERR_FORMAT, "%s: %lu unexpected bytes after the tensors", path,
                    (unsigned long)(r.len - r.pos));
    return VAE_OK;
}

vae_status vae_load_ex(vae **out, const char *path, const vae_options *opt)
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
    if ((st = vae_read_file(path, CKPT_MAX_BYTES, &data, &len, m->error, sizeof m->error)) != VAE_OK)
        return st;
    st = finish(m, load_into(m, path, data, len, opt));
    VAE_FREE(data);
    if (st != VAE_OK) {
        unbuild(m);
        return st;
    }
    m->usable = 1;
    return VAE_OK;
}

vae_status vae_load(vae **out, const char *path)
{
    return vae_load_ex(out, path, NULL);
}
