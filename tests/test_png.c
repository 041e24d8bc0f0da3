/* test_png.c — tools/png.c: every PNG it writes is decoded by an independent
   decoder, tests/png_check.py (CRCs, Python's zlib, its own small inflater,
   the five filters), and compared with the pixels byte for byte; pngcheck
   checks each file too when installed. The zlib streams are tested on their
   own for the window's edge, the longest matches and random copies, and the
   sizes show the matcher at work: a grid of real MNIST digits, long runs,
   noise (stored blocks). A 600x600 RGB image must take under 100 ms.

   Run from the repository root; files go to a mkdtemp directory in build/,
   removed when everything passed. Without python3 (or pngcheck) those
   checks are skipped, and said so. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, popen, clock_gettime */
#include "../tools/png.c"
#include "../vae.c"
#include "../mnist.c"
#include "check.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IMAGES_GZ "data/mnist/t10k-images-idx3-ubyte.gz"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

static char tmpdir[256];
static int have_python, have_pngcheck;
static int filters_seen[5]; /* rows with each filter type, over all images */

typedef struct {
    int fixed, stored, matches, maxlen, maxdist;
} stream_stats;

// ---- helpers ----

static uint32_t rnd_state = 2463534242u;

/* xorshift32: noise that no deflate can shrink. */
static unsigned char rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 17;
    rnd_state ^= rnd_state << 5;
    return (unsigned char)(rnd_state >> 24);
}

static const char *tmp(const char *name, const char *ext)
{
    static char buf[2][512];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s.%s", tmpdir, name, ext);
    return buf[k];
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f)
        return;
    if (n)
        CHECK(fwrite(p, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Runs png_check.py with the arguments after "tests/png_check.py" and
   reads its statistics into st. 1 when it said "ok"; else its output is
   printed as a failure. */
static int run_checker(stream_stats *st, const char *fmt, ...)
{
    char cmd[2048], line[512] = "", *at;
    int n, k, f[5], ok;
    FILE *p;
    va_list ap;
    n = snprintf(cmd, sizeof cmd, "python3 tests/png_check.py ");
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p))
        line[0] = '\0';
    ok = (p ? pclose(p) : -1) == 0 &&
         sscanf(line, "ok fixed=%d stored=%d matches=%d maxlen=%d maxdist=%d filters=%d,%d,%d,%d,%d", &st->fixed,
                &st->stored, &st->matches, &st->maxlen, &st->maxdist, &f[0], &f[1], &f[2], &f[3], &f[4]) == 10;
    if ((at = strchr(line, '\n')))
        *at = '\0';
    CHECK(ok, "%s: %s", cmd, line[0] ? line : "no output");
    for (k = 0; ok && k < 5; k++)
        filters_seen[k] += f[k];
    return ok;
}

/* Encodes the image, writes NAME.png and NAME.raw, and has it decoded and
   compared; returns the PNG's size (0 when encoding failed), its stream's
   statistics in *st (zeros when not checked). */
static size_t check_image(const char *name, const unsigned char *pixels, int w, int h, int c, stream_stats *st)
{
    unsigned char *png = NULL;
    size_t len = 0;
    memset(st, 0, sizeof *st);
    CHECK(png_encode(pixels, w, h, c, &png, &len) == 0, "%s: png_encode failed", name);
    if (!png)
        return 0;
    write_file(tmp(name, "png"), png, len);
    write_file(tmp(name, "raw"), pixels, (size_t)w * (size_t)h * (size_t)c);
    free(png);
    if (have_python)
        run_checker(st, "png '%s' '%s' %d %d %d", tmp(name, "png"), tmp(name, "raw"), w, h, c);
    else
        SKIP("%s: no python3 to decode it", name);
    if (have_pngcheck) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "pngcheck -q '%s'", tmp(name, "png"));
        CHECK(system(cmd) == 0, "%s: pngcheck found a problem", name);
    } else {
        SKIP("%s: no pngcheck", name);
    }
    return len;
}

/* The same for a bare zlib stream of data[0..n). */
static size_t check_stream(const char *name, const unsigned char *data, size_t n, stream_stats *st)
{
    unsigned char *z = NULL;
    size_t len = 0;
    memset(st, 0, sizeof *st);
    CHECK(zlib_compress(data, n, &z, &len) == 0, "%s: zlib_compress failed", name);
    if (!z)
        return 0;
    write_file(tmp(name, "z"), z, len);
    write_file(tmp(name, "raw"), data, n);
    free(z);
    if (have_python)
        run_checker(st, "zlib '%s' '%s'", tmp(name, "z"), tmp(name, "raw"));
    else
        SKIP("%s: no python3 to decode it", name);
    return len;
}

// ---- images ----

static void test_small_and_odd(void)
{
    static const unsigned char one[3] = {7, 200, 33};
    static unsigned char px[301 * 300 * 3];
    stream_stats st;
    size_t i;
    static const struct {
        const char *name;
        int w, h, c;
    } shapes[] = {{"grey_1x1", 1, 1, 1}, {"rgb_1x1", 1, 1, 3},     {"grey_7x5", 7, 5, 1},
                  {"rgb_13x3", 13, 3, 3}, {"grey_1x300", 1, 300, 1}, {"rgb_301x2", 301, 2, 3},
                  {"grey_301x300", 301, 300, 1}};
    check_image("grey_1x1_const", one, 1, 1, 1, &st);
    check_image("rgb_1x1_const", one, 1, 1, 3, &st);
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int w = shapes[i].w, h = shapes[i].h, c = shapes[i].c, x, y, k;
        /* smooth parts, noisy parts and edges, so that every filter wins somewhere */
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++)
                for (k = 0; k < c; k++) {
                    unsigned char *p = &px[((size_t)y * w + x) * c + k];
                    if (y % 40 < 10)
                        *p = (unsigned char)(x * 3 + y * 2 + k * 50);
                    else if (y % 40 < 20)
                        *p = (unsigned char)((x + y) / 2 + rnd() % 4);
                    else if (y % 40 < 30)
                        *p = (unsigned char)(x / 7 % 2 ? 255 - y : y * 5);
                    else
                        *p = rnd();
                }
        check_image(shapes[i].name, px, w, h, c, &st);
    }
}

/* 100 real digits in a 10 x 10 grid, the pictures the program writes:
   grey, and binarised as the models see them. Grey digits are ~20% ink
   with soft edges; even zlib -9, with dynamic codes, keeps 20% of them. */
static void test_digit_grid(void)
{
    vae_dataset ds;
    static unsigned char grid[280 * 280];
    stream_stats st;
    size_t len, i;
    int r;
    if (vae_dataset_load(&ds, IMAGES_GZ, NULL) != VAE_OK) {
        CHECK(0, "%s", ds.error);
        return;
    }
    for (i = 0; i < 100; i++)
        for (r = 0; r < 28; r++)
            memcpy(grid + (i / 10 * 28 + (size_t)r) * 280 + i % 10 * 28, ds.pixels + i * 784 + (size_t)r * 28, 28);
    vae_dataset_free(&ds);
    len = check_image("digits_grey", grid, 280, 280, 1, &st);
    printf("digit grid 280x280 grey: %zu bytes, %.1f%% of %d\n", len, 100.0 * (double)len / sizeof grid,
           (int)sizeof grid);
    CHECK(len > 0 && len < sizeof grid / 4, "grey digits: %zu bytes, not under 25%% of raw", len);
    for (i = 0; i < sizeof grid; i++)
        grid[i] = grid[i] >= 128 ? 255 : 0;
    len = check_image("digits_binary", grid, 280, 280, 1, &st);
    printf("digit grid 280x280 binarised: %zu bytes, %.1f%% of %d\n", len, 100.0 * (double)len / sizeof grid,
           (int)sizeof grid);
    CHECK(len > 0 && len < sizeof grid / 8, "binary digits: %zu bytes, not under 12.5%% of raw", len);
}

static void test_noise(void)
{
    enum { W = 200, H = 150 };
    static unsigned char px[W * H * 3];
    stream_stats st;
    size_t i, len, filtered = (size_t)H * (1 + W * 3);
    for (i = 0; i < sizeof px; i++)
        px[i] = rnd();
    len = check_image("noise_rgb", px, W, H, 3, &st);
    printf("noise %dx%d rgb: %zu bytes for %zu filtered\n", W, H, len, filtered);
    /* signature, IHDR, IEND, 2 IDAT headers, zlib, 2 stored block headers */
    CHECK(len <= filtered + 8 + 25 + 12 + 2 * 12 + 6 + 2 * 5, "noise grew to %zu bytes", len);
    CHECK(!have_python || st.stored >= 1, "noise: no stored block");
}

/* A 600x600 RGB gradient: the size of the largest pictures, timed. */
static void test_gradient(void)
{
    enum { W = 600, H = 600 };
    unsigned char *px = malloc(W * H * 3), *png = NULL;
    double best = 1e9, t;
    stream_stats st;
    size_t len = 0;
    int x, y, run;
    if (!px) {
        CHECK(0, "out of memory");
        return;
    }
    for (y = 0; y < H; y++)
        for (x = 0; x < W; x++) {
            unsigned char *p = px + ((size_t)y * W + x) * 3;
            p[0] = (unsigned char)(x * 255 / (W - 1));
            p[1] = (unsigned char)(y * 255 / (H - 1));
            p[2] = (unsigned char)((x + y) * 255 / (W + H - 2));
        }
    for (run = 0; run < 3; run++) {
        t = now();
        CHECK(png_encode(px, W, H, 3, &png, &len) == 0, "gradient: png_encode failed");
        t = now() - t;
        best = t < best ? t : best;
        free(png);
    }
    len = check_image("gradient_600x600", px, W, H, 3, &st);
    printf("gradient 600x600 rgb: %zu bytes, %.2f%% of %d, %.1f ms\n", len, 100.0 * (double)len / (W * H * 3),
           W * H * 3, best * 1e3);
#ifdef SANITIZED
    (void)best;
#else
    CHECK(best < 0.1, "600x600 RGB took %.1f ms", best * 1e3);
#endif
    CHECK(len < (size_t)W * H * 3 / 20, "gradient: %zu bytes", len);
    free(px);
}

/* A white page with a few dots: runs of hundreds of KB, 258-byte matches. */
static void test_long_runs(void)
{
    enum { W = 2000, H = 300 };
    unsigned char *px = malloc(W * H);
    stream_stats st;
    size_t len;
    int i;
    if (!px) {
        CHECK(0, "out of memory");
        return;
    }
    memset(px, 255, W * H);
    for (i = 0; i < 50; i++)
        px[(size_t)(i * 6 % H) * W + (size_t)(i * 37 % W)] = 0;
    len = check_image("white_2000x300", px, W, H, 1, &st);
    printf("white page 2000x300 grey: %zu bytes, %.2f%% of %d\n", len, 100.0 * (double)len / (W * H), W * H);
    CHECK(len < W * H / 100, "white page: %zu bytes", len);
    CHECK(!have_python || st.maxlen == 258, "longest match %d", st.maxlen);
    free(px);
}

// ---- zlib streams ----

/* Copies of earlier data at every length and distance: random
   back-references with random literals between them. */
static void test_random_copies(void)
{
    enum { N = 200000 };
    unsigned char *d = malloc(N);
    stream_stats st;
    size_t n = 0, len;
    int seed;
    if (!d) {
        CHECK(0, "out of memory");
        return;
    }
    for (seed = 0; seed < 3; seed++) {
        char name[32];
        n = 0;
        while (n < N) {
            size_t lits = rnd() % 16, copy = 3 + (rnd() << 8 | rnd()) % 256, dist, i;
            for (i = 0; i < lits && n < N; i++)
                d[n++] = rnd();
            if (n < 4)
                continue;
            dist = 1 + ((size_t)rnd() << 16 | (size_t)rnd() << 8 | rnd()) % (n < 32768 ? n : 32768);
            if (seed == 1)
                dist = 1 + dist % 8; /* overlapping copies: runs of a short pattern */
            for (i = 0; i < copy && n < N; i++, n++)
                d[n] = d[n - dist];
        }
        snprintf(name, sizeof name, "copies_%d", seed);
        len = check_stream(name, d, n, &st);
        printf("%s: %zu bytes for %zu, %d matches, longest %d, farthest %d\n", name, len, n, st.matches, st.maxlen,
               st.maxdist);
        CHECK(len < n / 2, "%s: %zu bytes", name, len);
        CHECK(!have_python || (st.maxlen == 258 && st.fixed >= 1), "%s: longest match %d", name, st.maxlen);
        CHECK(!have_python || seed == 1 || st.maxdist > 30000, "%s: farthest match %d", name, st.maxdist);
    }
    free(d);
}

/* The window's edge: A A with A 32768 random bytes is found a copy exactly
   32768 back; B B with B 32769 bytes is out of reach (zlib would refuse the
   distance) and stays mostly literal. */
static void test_window(void)
{
    enum { W = 32768 };
    unsigned char *d = malloc(2 * (W + 1));
    stream_stats st;
    size_t len, i;
    if (!d) {
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < W + 1; i++)
        d[i] = rnd();
    memcpy(d + W, d, W);
    len = check_stream("window_32768", d, 2 * W, &st);
    printf("window_32768: %zu bytes for %d\n", len, 2 * W);
    CHECK(!have_python || st.maxdist == W, "farthest match %d, not 32768", st.maxdist);
    /* literals cost at most 9 bits; the copy, next to nothing */
    CHECK(len < W * 9 / 8 + 1000, "window_32768: %zu bytes", len);
    memcpy(d + W + 1, d, W + 1);
    len = check_stream("window_32769", d, 2 * (W + 1), &st);
    printf("window_32769: %zu bytes for %d\n", len, 2 * (W + 1));
    CHECK(len > 2 * W - W / 50, "window_32769: %zu bytes: matched past the window?", len);
    free(d);
}

static void test_streams(void)
{
    unsigned char *zeros = calloc(1, 1 << 20);
    stream_stats st;
    size_t len;
    check_stream("empty", (const unsigned char *)"", 0, &st);
    check_stream("one_byte", (const unsigned char *)"x", 1, &st);
    check_stream("abc", (const unsigned char *)"abcabcabcabcabcabcabc", 21, &st);
    if (!zeros) {
        CHECK(0, "out of memory");
        return;
    }
    len = check_stream("zeros_1M", zeros, 1 << 20, &st);
    printf("zeros_1M: %zu bytes\n", len);
    CHECK(len < (1 << 20) / 100, "1 MB of zeros: %zu bytes", len);
    free(zeros);
    test_random_copies();
    test_window();
}

// ---- arguments ----

static void test_refusals(void)
{
    unsigned char px[12] = {0}, *out = NULL;
    size_t len = 0;
    CHECK(png_encode(px, 0, 1, 1, &out, &len) == -1, "width 0");
    CHECK(png_encode(px, 1, 0, 1, &out, &len) == -1, "height 0");
    CHECK(png_encode(px, -3, 2, 1, &out, &len) == -1, "negative width");
    CHECK(png_encode(px, 2, -3, 3, &out, &len) == -1, "negative height");
    CHECK(png_encode(px, 1, 1, 0, &out, &len) == -1, "0 channels");
    CHECK(png_encode(px, 1, 1, 2, &out, &len) == -1, "2 channels");
    CHECK(png_encode(px, 1, 1, 4, &out, &len) == -1, "4 channels");
    CHECK(png_encode(NULL, 1, 1, 1, &out, &len) == -1, "no pixels");
    CHECK(png_encode(px, 1, 1, 1, NULL, &len) == -1, "no out");
    CHECK(png_encode(px, 1, 1, 1, &out, NULL) == -1, "no len");
    /* refused before anything is allocated: these would need gigabytes */
    CHECK(png_encode(px, INT_MAX, INT_MAX, 3, &out, &len) == -1, "INT_MAX^2 RGB");
    CHECK(png_encode(px, INT_MAX, 1, 1, &out, &len) == -1, "INT_MAX wide");
    CHECK(png_encode(px, 65536, 32768, 1, &out, &len) == -1, "just over 2^31 bytes");
    CHECK(out == NULL && len == 0, "a refusal touched *out or *len");
}

int main(void)
{
    const char *base = "build";
    int k;
    snprintf(tmpdir, sizeof tmpdir, "%s/test_png.XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        printf("FAIL cannot create a temporary directory %s (run from the repository root)\n", tmpdir);
        return 1;
    }
    have_python = system("python3 -c 'import zlib' >/dev/null 2>&1") == 0;
    have_pngcheck = system("command -v pngcheck >/dev/null 2>&1") == 0;
    if (!have_python)
        printf("no python3: the PNGs are not decoded (Debian: apt-get install python3)\n");
    if (!have_pngcheck)
        printf("no pngcheck: not run (Debian: apt-get install pngcheck)\n");

    test_refusals();
    test_small_and_odd();
    test_digit_grid();
    test_noise();
    test_gradient();
    test_long_runs();
    test_streams();

    if (have_python) {
        printf("rows per filter type: none %d, sub %d, up %d, average %d, paeth %d\n", filters_seen[0],
               filters_seen[1], filters_seen[2], filters_seen[3], filters_seen[4]);
        for (k = 0; k < 5; k++)
            CHECK(filters_seen[k] > 0, "no row chose filter type %d", k);
    }
    if (!check_failed) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        system(cmd);
    } else {
        printf("files kept in %s\n", tmpdir);
    }
    return check_summary();
}
