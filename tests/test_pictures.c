/* The picture commands end to end: the vae program (beside this test in
   the build directory) trains a small model on the shipped digits, then
   each command writes its file, and each file is checked against the
   library itself:
   - every PNG is decoded by an independent decoder (tests/png_check.py,
     Python's zlib) and compared byte for byte with a grid this test lays
     out from vae_prior_sample / vae_encode / vae_decode, each pixel
     round(255 * clamp(p, 0, 1)), as pictures.h documents;
   - the CSV of `vae embed` against vae_encode, its labels against the
     label file; every SVG parsed as XML (tests/svg_check.py).
   Without python3 the decoding checks are skipped, and said so. */
#include "../vae.c"
#include "../mnist.c"
#include "../tools/common.h"
#include "check.h"

#include <stdlib.h>

#define DIR "build/test_pictures"
#define IMAGES "data/mnist/t10k-images-idx3-ubyte.gz"
#define LABELS "data/mnist/t10k-labels-idx1-ubyte.gz"
#define PAD 2
#define BACKGROUND 128

static char vae_bin[1024];
static int have_python;

static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int r;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    r = system(cmd);
    if (r != 0)
        printf("command failed (%d): %s\n", r, cmd);
    return r;
}

/* Runs svg_check.py on path with the expectations given as TAB-separated
   lines. */
static int svg_check(const char *path, const char *expect)
{
    char epath[256];
    FILE *f;
    snprintf(epath, sizeof epath, "%s.expect", path);
    f = fopen(epath, "w");
    if (!f)
        return -1;
    fputs(expect, f);
    fclose(f);
    return run("python3 tests/svg_check.py %s %s >%s.check 2>&1", path, epath, path);
}

static unsigned char byte_of(float p)
{
    p = p < 0.0f ? 0.0f : p > 1.0f ? 1.0f : p;
    return (unsigned char)floorf(255.0f * p + 0.5f);
}

/* The expected grid, laid out here (not by tools/pictures.c): down x
   across tiles of rows x cols, PAD apart, on BACKGROUND; tile t shows
   images[t] (D floats) or nothing when NULL. Compared with the PNG at path
   by the independent decoder. */
static void check_grid(const char *what, const char *path, const float *const *images, int down, int across,
                       int rows, int cols)
{
    int w = across * (cols + PAD) + PAD, h = down * (rows + PAD) + PAD, t, y, x;
    unsigned char *raw = malloc((size_t)w * h);
    char raw_path[256];
    FILE *f;
    memset(raw, BACKGROUND, (size_t)w * h);
    for (t = 0; t < down * across; t++) {
        int x0 = PAD + (t % across) * (cols + PAD), y0 = PAD + (t / across) * (rows + PAD);
        if (!images[t])
            continue;
        for (y = 0; y < rows; y++)
            for (x = 0; x < cols; x++)
                raw[(size_t)(y0 + y) * w + x0 + x] = byte_of(images[t][y * cols + x]);
    }
    snprintf(raw_path, sizeof raw_path, "%s.raw", path);
    f = fopen(raw_path, "wb");
    CHECK(f && fwrite(raw, 1, (size_t)w * h, f) == (size_t)w * h, "cannot write %s", raw_path);
    if (f)
        fclose(f);
    free(raw);
    if (!have_python) {
        SKIP("%s: no python3 to decode %s", what, path);
        return;
    }
    CHECK(run("python3 tests/png_check.py png %s %s %d %d 1 >%s.check 2>&1", path, raw_path, w, h, path) == 0,
          "%s: %s is not the library's decode, pixel for pixel (see %s.check)", what, path, path);
}

/* images[i] for i < n, then NULL up to cells. */
static const float **cells_of(const float *images, int n, int cells, int D)
{
    const float **c = calloc((size_t)cells, sizeof *c);
    int i;
    for (i = 0; i < n; i++)
        c[i] = images + (size_t)i * D;
    return c;
}

/* The first n test images of the run (the last 100 of the first 400
   digits), binarised as the model sees them. */
static float *test_images(int n)
{
    vae_dataset ds;
    int idx[100], i;
    float *x = malloc(sizeof(float) * 100 * 784);
    if (vae_dataset_load(&ds, IMAGES, NULL) != VAE_OK)
        return x;
    for (i = 0; i < 100; i++)
        idx[i] = 300 + i;
    vae_dataset_batch(&ds, idx, n < 100 ? n : 100, VAE_BINARY_STATIC, NULL, x);
    vae_dataset_free(&ds);
    return x;
}

static void test_samples(vae *m, int n, uint64_t seed, int binary, const char *path, const char *what)
{
    int Z = vae_get_config(m)->latent_dim, across = 1, i;
    float *z = malloc(sizeof(float) * n * Z), *mean = malloc(sizeof(float) * n * 784);
    const float **cells;
    while (across * across < n)
        across++;
    CHECK(vae_prior_sample(m, n, seed, z) == VAE_OK && vae_decode(m, z, n, mean) == VAE_OK, "%s", vae_error(m));
    if (binary) {
        vae_rng r;
        vae_rng_seed(&r, seed ^ SEED_PICTURES);
        for (i = 0; i < n * 784; i++)
            mean[i] = vae_rng_uniform(&r) < mean[i] ? 1.0f : 0.0f;
    }
    cells = cells_of(mean, n, ((n + across - 1) / across) * across, 784);
    check_grid(what, path, cells, (n + across - 1) / across, across, 28, 28);
    free(cells);
    free(z);
    free(mean);
}

static void test_reconstructions(vae *m, int n, const char *path, const char *what)
{
    int Z = vae_get_config(m)->latent_dim, across = n < 16 ? n : 16, blocks = (n + across - 1) / across, i;
    float *x = test_images(n), *mu = malloc(sizeof(float) * n * Z), *mean = malloc(sizeof(float) * n * 784);
    const float **cells = calloc((size_t)2 * blocks * across, sizeof *cells);
    CHECK(vae_encode(m, x, n, mu, NULL) == VAE_OK && vae_decode(m, mu, n, mean) == VAE_OK, "%s", vae_error(m));
    for (i = 0; i < n; i++) {
        cells[(2 * (i / across)) * across + i % across] = x + (size_t)i * 784;
        cells[(2 * (i / across) + 1) * across + i % across] = mean + (size_t)i * 784;
    }
    check_grid(what, path, cells, 2 * blocks, across, 28, 28);
    free(cells);
    free(x);
    free(mu);
    free(mean);
}

static void test_interpolation(vae *m)
{
    static const int pairs[2][2] = {{0, 1}, {5, 2}};
    const char *path = DIR "/interpolate.png";
    int Z = vae_get_config(m)->latent_dim, steps = 5, p, s, j;
    float *x = test_images(100), mu[2 * 8], z[2 * 5 * 8], mean[2 * 5 * 784];
    const float **cells;
    CHECK(run("%s interpolate --model " DIR "/run/model.vae --test " DIR "/test.idx --pair 0,1 --pair 5,2 "
              "--steps 5 --out %s >/dev/null",
              vae_bin, path) == 0,
          "vae interpolate runs");
    for (p = 0; p < 2; p++) {
        vae_encode(m, x + pairs[p][0] * 784, 1, mu, NULL);
        vae_encode(m, x + pairs[p][1] * 784, 1, mu + Z, NULL);
        for (s = 0; s < steps; s++) {
            double t = (double)s / (steps - 1);
            for (j = 0; j < Z; j++)
                z[(p * steps + s) * Z + j] = (float)((1.0 - t) * mu[j] + t * mu[Z + j]);
        }
    }
    vae_decode(m, z, 2 * steps, mean);
    cells = cells_of(mean, 2 * steps, 2 * steps, 784);
    check_grid("interpolate", path, cells, 2, steps, 28, 28);
    free(cells);
    free(x);
}

/* The standard normal quantile by bisection on erfc, independent of the
   program's rational approximation. */
static double quantile(double p)
{
    double lo = -10, hi = 10;
    int i;
    for (i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void test_manifold(vae *m)
{
    enum { G = 6 };
    const char *path = DIR "/manifold.png";
    float z[G * G * 2], mean[G * G * 784];
    const float **cells;
    int r, c;
    CHECK(run("%s manifold --model " DIR "/run/model.vae --grid 6 --dims 2,1 --out %s >/dev/null", vae_bin, path) ==
              0,
          "vae manifold runs");
    for (r = 0; r < G; r++)
        for (c = 0; c < G; c++) {
            z[(r * G + c) * 2 + 1] = (float)quantile((c + 0.5) / G); /* dimension 2 across */
            z[(r * G + c) * 2 + 0] = (float)quantile((G - 1 - r + 0.5) / G);
        }
    vae_decode(m, z, G * G, mean);
    cells = cells_of(mean, G * G, G * G, 784);
    check_grid("manifold", path, cells, G, G, 28, 28);
    free(cells);
}

static void test_embed(vae *m)
{
    const char *csv = DIR "/codes.csv", *svg = DIR "/codes.svg";
    float *x = test_images(100), mu[100 * 2];
    char line[512];
    int i, bad = 0, rows = 0, label;
    vae_dataset ds;
    FILE *f;
    CHECK(run("%s embed --model " DIR "/run/model.vae --test " DIR "/test.idx --labels " DIR
              "/test-labels.idx --out %s --plot %s >/dev/null",
              vae_bin, csv, svg) == 0,
          "vae embed runs");
    vae_encode(m, x, 100, mu, NULL);
    vae_dataset_load(&ds, DIR "/test.idx", DIR "/test-labels.idx");
    f = fopen(csv, "r");
    CHECK(f && fgets(line, sizeof line, f) && strcmp(line, "label,z1,z2\n") == 0, "CSV header: %s", line);
    for (i = 0; f && i < 100 && fgets(line, sizeof line, f); i++) {
        float z1, z2;
        rows++;
        if (sscanf(line, "%d,%f,%f", &label, &z1, &z2) != 3 || !ds.labels || label != ds.labels[i] ||
            fabsf(z1 - mu[2 * i]) > 1e-5f * (1 + fabsf(mu[2 * i])) ||
            fabsf(z2 - mu[2 * i + 1]) > 1e-5f * (1 + fabsf(mu[2 * i + 1])))
            bad++;
    }
    CHECK(rows == 100 && bad == 0, "%d of %d CSV rows differ from vae_encode or the labels", bad, rows);
    if (f)
        fclose(f);
    if (have_python) {
        char expect[512];
        int n = snprintf(expect, sizeof expect, "title\tlatent means of the test images\nxlabel\tz1\n"
                                                "ylabel\tz2\ncircles\t100\n");
        for (i = 0, label = 0; ds.labels && i < 100; i++)
            label = ds.labels[i] + 1 > label ? ds.labels[i] + 1 : label;
        for (i = 0; i < label; i++)
            n += snprintf(expect + n, sizeof expect - (size_t)n, "legend\t%d\n", i);
        CHECK(svg_check(svg, expect) == 0, "the scatter plot is XML with 100 points, a legend entry per digit "
                                           "(see %s.check)", svg);
    } else
        SKIP("no python3 to parse %s", svg);
    vae_dataset_free(&ds);
    free(x);
}

static void test_plot(void)
{
    const char *svg = DIR "/curves.svg";
    CHECK(run("%s plot " DIR "/run/log.csv " DIR "/run/log.csv --names one,two --out %s >/dev/null", vae_bin, svg) ==
              0,
          "vae plot runs");
    if (have_python)
        CHECK(svg_check(svg, "title\tbound per epoch (nats per image)\nxlabel\tepoch\nylabel\tbound\n"
                             "legend\tone test\nlegend\tone train\nlegend\ttwo test\nlegend\ttwo train\n"
                             "paths\t4\n") == 0,
              "the chart is XML with the train and test bounds of both runs (see %s.check)", svg);
    else
        SKIP("no python3 to parse %s", svg);
}

/* The run's test images, as an IDX file of their own for the commands. */
static void write_test_set(void)
{
    vae_dataset ds;
    unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28};
    unsigned char lhead[8] = {0, 0, 8, 1, 0, 0, 0, 100};
    FILE *f;
    if (vae_dataset_load(&ds, IMAGES, LABELS) != VAE_OK) {
        CHECK(0, "%s", ds.error);
        return;
    }
    f = fopen(DIR "/test.idx", "wb");
    fwrite(head, 1, 16, f);
    fwrite(ds.pixels + 300 * 784, 1, 100 * 784, f);
    fclose(f);
    f = fopen(DIR "/test-labels.idx", "wb");
    fwrite(lhead, 1, 8, f);
    fwrite(ds.labels + 300, 1, 100, f);
    fclose(f);
    vae_dataset_free(&ds);
}

int main(int argc, char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    vae *m = NULL;
    (void)argc;
    snprintf(vae_bin, sizeof vae_bin, "%.*s/vae", slash ? (int)(slash - argv[0]) : 1, slash ? argv[0] : ".");
    have_python = system("python3 -c 'import zlib' >/dev/null 2>&1") == 0;
    CHECK(run("mkdir -p " DIR " && OMP_NUM_THREADS=1 %s train --train " IMAGES " --train-labels " LABELS
              " --limit 400 --holdout 100 --hidden 32 --latent 2 --epochs 2 --out " DIR "/run >/dev/null",
              vae_bin) == 0,
          "a small run trains (from %s)", vae_bin);
    if (vae_load(&m, DIR "/run/model.vae") != VAE_OK) {
        CHECK(0, "%s", vae_error(m));
        vae_free(m);
        return check_summary();
    }
    write_test_set();
    /* what training wrote: the fixed latent points and the first test images */
    test_samples(m, 64, 1 ^ SEED_PICTURES, 0, DIR "/run/samples.png", "training's samples.png");
    test_reconstructions(m, 16, DIR "/run/reconstructions.png", "training's reconstructions.png");
    CHECK(run("%s sample --model " DIR "/run/model.vae --n 10 --seed 7 --out " DIR "/sample.png >/dev/null",
              vae_bin) == 0,
          "vae sample runs");
    test_samples(m, 10, 7, 0, DIR "/sample.png", "sample");
    CHECK(run("%s sample --model " DIR "/run/model.vae --n 9 --seed 3 --binary --out " DIR
              "/binary.png >/dev/null",
              vae_bin) == 0,
          "vae sample --binary runs");
    test_samples(m, 9, 3, 1, DIR "/binary.png", "sample --binary");
    CHECK(run("%s reconstruct --model " DIR "/run/model.vae --test " DIR "/test.idx --n 20 --out " DIR
              "/reconstruct.png >/dev/null",
              vae_bin) == 0,
          "vae reconstruct runs");
    test_reconstructions(m, 20, DIR "/reconstruct.png", "reconstruct");
    test_interpolation(m);
    test_manifold(m);
    test_embed(m);
    test_plot();
    vae_free(m);
    /* a mixture prior: its samples draw a component, then a Gaussian */
    CHECK(run("OMP_NUM_THREADS=1 %s train --train " IMAGES " --limit 400 --holdout 100 --hidden 32 --latent 2 "
              "--prior mog --components 3 --epochs 1 --out " DIR "/mog >/dev/null && "
              "%s sample --model " DIR "/mog/model.vae --n 9 --seed 11 --out " DIR "/mog.png >/dev/null",
              vae_bin, vae_bin) == 0,
          "a mixture-prior run and its samples");
    if (vae_load(&m, DIR "/mog/model.vae") == VAE_OK) {
        test_samples(m, 9, 11, 0, DIR "/mog.png", "sample (mixture prior)");
        test_samples(m, 64, 1 ^ SEED_PICTURES, 0, DIR "/mog/samples.png", "training's samples.png (mixture)");
    } else {
        CHECK(0, "%s", vae_error(m));
    }
    vae_free(m);
    return check_summary();
}
