/* pictures.c — pictures of a model, and the commands that write them; see
   pictures.h. Every number shown comes from the library's public API:
   vae_prior_sample, vae_encode and vae_decode. */
#define _POSIX_C_SOURCE 200809L

#include "pictures.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "png.h"
#include "rng.h"
#include "svg.h"

/* Tiles in a row of a reconstruction picture. */
#define RECON_ACROSS 16

// ---- grids ----

int picture_grid(picture *p, const float *const *cells, int down, int across, const geometry *g)
{
    size_t w = (size_t)across * (g->cols + GRID_PAD) + GRID_PAD, h = (size_t)down * (g->rows + GRID_PAD) + GRID_PAD;
    int r, c, y, x, k;
    memset(p, 0, sizeof *p);
    if (down < 1 || across < 1 || w > 1 << 15 || h > 1 << 15)
        return -1;
    p->pixels = malloc(w * h * (size_t)g->channels);
    if (!p->pixels)
        return -1;
    p->width = (int)w;
    p->height = (int)h;
    p->channels = g->channels;
    memset(p->pixels, GRID_BACKGROUND, w * h * (size_t)g->channels);
    for (r = 0; r < down; r++)
        for (c = 0; c < across; c++) {
            const float *img = cells[r * across + c];
            size_t x0 = GRID_PAD + (size_t)c * (g->cols + GRID_PAD), y0 = GRID_PAD + (size_t)r * (g->rows + GRID_PAD);
            if (!img)
                continue;
            /* the model's values are (row, col, channel), as PNG's */
            for (y = 0; y < g->rows; y++)
                for (x = 0; x < g->cols; x++)
                    for (k = 0; k < g->channels; k++)
                        p->pixels[((y0 + y) * w + x0 + x) * g->channels + k] =
                            pixel_byte(img[((size_t)y * g->cols + x) * g->channels + k]);
        }
    return 0;
}

int picture_save(const picture *p, const char *path, unsigned char **png, size_t *len)
{
    unsigned char *data;
    size_t n;
    int r;
    if (png_encode(p->pixels, p->width, p->height, p->channels, &data, &n) != 0) {
        errno = ENOMEM;
        return -1;
    }
    r = write_atomic(path, data, n);
    if (r == 0 && png) {
        *png = data;
        *len = n;
    } else {
        free(data);
    }
    return r;
}

void picture_free(picture *p)
{
    free(p->pixels);
    memset(p, 0, sizeof *p);
}

/* The smallest number of columns c with c * c >= n. */
static int square_side(int n)
{
    int c = (int)sqrt((double)n);
    while (c * c < n)
        c++;
    return c;
}

/* A grid of n images (n, D), across columns, row after row. */
static int grid_of(picture *p, const float *images, int n, int across, const geometry *g, int D)
{
    int down = (n + across - 1) / across, i, r;
    const float **cells = calloc((size_t)down * across, sizeof *cells);
    if (!cells)
        return -1;
    for (i = 0; i < n; i++)
        cells[i] = images + (size_t)i * D;
    r = picture_grid(p, cells, down, across, g);
    free(cells);
    return r;
}

// ---- pictures of a model ----

int sample_picture(vae *m, int n, uint64_t seed, int binary, picture *p)
{
    const vae_config *c = vae_get_config(m);
    int D = c->input_dim, status = EXIT_RUNTIME;
    size_t i;
    geometry g;
    float *z = malloc((size_t)n * c->latent_dim * sizeof *z), *means = malloc((size_t)n * D * sizeof *means);
    if (!z || !means) {
        cli_error("out of memory");
        goto done;
    }
    if (vae_prior_sample(m, n, seed, z) != VAE_OK || vae_decode(m, z, n, means) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    if (binary) {
        vae_rng rng;
        vae_rng_seed(&rng, seed ^ SEED_PICTURES);
        for (i = 0; i < (size_t)n * D; i++)
            means[i] = vae_rng_uniform(&rng) < means[i] ? 1.0f : 0.0f;
    }
    model_geometry(c, &g);
    if (grid_of(p, means, n, square_side(n), &g, D) != 0) {
        cli_error("out of memory for a picture of %d images", n);
        goto done;
    }
    status = 0;
done:
    free(z);
    free(means);
    return status;
}

int reconstruction_picture(vae *m, const float *x, int n, picture *p)
{
    const vae_config *c = vae_get_config(m);
    int D = c->input_dim, across = n < RECON_ACROSS ? n : RECON_ACROSS, blocks = (n + across - 1) / across, i;
    int status = EXIT_RUNTIME;
    geometry g;
    float *mu = malloc((size_t)n * c->latent_dim * sizeof *mu), *means = malloc((size_t)n * D * sizeof *means);
    const float **cells = calloc((size_t)2 * blocks * across, sizeof *cells);
    if (!mu || !means || !cells) {
        cli_error("out of memory");
        goto done;
    }
    if (vae_encode(m, x, n, mu, NULL) != VAE_OK || vae_decode(m, mu, n, means) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    /* block b: a row of originals, then their reconstructions */
    for (i = 0; i < n; i++) {
        int b = i / across, col = i % across;
        cells[(2 * b) * across + col] = x + (size_t)i * D;
        cells[(2 * b + 1) * across + col] = means + (size_t)i * D;
    }
    model_geometry(c, &g);
    if (picture_grid(p, cells, 2 * blocks, across, &g) != 0) {
        cli_error("out of memory for a picture of %d images", 2 * n);
        goto done;
    }
    status = 0;
done:
    free(mu);
    free(means);
    free(cells);
    return status;
}

/* The standard normal's quantile function: Acklam's rational
   approximation (relative error 1.2e-9), then one Halley step on erfc. */
static double normal_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double q, r, x, e, u;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p <= 1 - 0.02425) {
        q = p - 0.5;
        r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    e = 0.5 * erfc(-x / sqrt(2)) - p;
    u = e * sqrt(2 * 3.14159265358979323846) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

int principal_directions(const float *x, int n, int d, double *mean, double *dir, double *variance, double *total)
{
    double *w = malloc((size_t)d * sizeof *w);
    int r, j, comp, it;
    if (!w)
        return -1;
    for (j = 0; j < d; j++)
        mean[j] = 0.0;
    for (r = 0; r < n; r++)
        for (j = 0; j < d; j++)
            mean[j] += x[(size_t)r * d + j] / n;
    *total = 0.0;
    for (r = 0; r < n; r++)
        for (j = 0; j < d; j++)
            *total += (x[(size_t)r * d + j] - mean[j]) * (x[(size_t)r * d + j] - mean[j]) / n;
    /* Power iteration on the covariance, applied through the data (n d a
       step, never d^2), the second direction kept orthogonal to the first. */
    for (comp = 0; comp < 2; comp++) {
        double *v = dir + (size_t)comp * d, norm = 0.0, lambda = 0.0, big = 0.0;
        for (j = 0; j < d; j++)
            v[j] = 1.0 / sqrt((double)d) * (1.0 + 0.1 * ((j * 7 + comp * 3) % 5));
        for (it = 0; it < 300; it++) {
            for (j = 0; j < d; j++)
                w[j] = 0.0;
            for (r = 0; r < n; r++) {
                double t = 0.0;
                for (j = 0; j < d; j++)
                    t += (x[(size_t)r * d + j] - mean[j]) * v[j];
                for (j = 0; j < d; j++)
                    w[j] += t * (x[(size_t)r * d + j] - mean[j]) / n;
            }
            if (comp == 1) {
                double t = 0.0;
                for (j = 0; j < d; j++)
                    t += w[j] * dir[j];
                for (j = 0; j < d; j++)
                    w[j] -= t * dir[j];
            }
            for (j = 0, norm = 0.0; j < d; j++)
                norm += w[j] * w[j];
            norm = sqrt(norm);
            lambda = norm;
            if (norm == 0.0)
                break;
            for (j = 0; j < d; j++)
                v[j] = w[j] / norm;
        }
        /* a sign that does not depend on the start: largest entry positive */
        for (j = 0; j < d; j++)
            if (fabs(v[j]) > fabs(big))
                big = v[j];
        for (j = 0; big < 0 && j < d; j++)
            v[j] = -v[j];
        variance[comp] = lambda;
    }
    free(w);
    return 0;
}

int latent_scatter(vae *m, const float *x, const unsigned char *labels, int n, char **svg)
{
    static const char *const digits[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    int Z = vae_get_config(m)->latent_dim, i, j, classes = 0, status = EXIT_RUNTIME;
    float *mu = malloc((size_t)n * Z * sizeof *mu);
    double *px = malloc((size_t)n * sizeof *px), *py = malloc((size_t)n * sizeof *py);
    double *mean = malloc((size_t)Z * sizeof *mean), *dir = malloc((size_t)2 * Z * sizeof *dir), var[2], total;
    int *cls = labels ? malloc((size_t)n * sizeof *cls) : NULL;
    char xl[64], yl[64];
    const char *const *names = NULL;
    if (!mu || !px || !py || !mean || !dir || (labels && !cls)) {
        cli_error("out of memory");
        goto done;
    }
    if (vae_encode(m, x, n, mu, NULL) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    if (Z > 2) {
        if (principal_directions(mu, n, Z, mean, dir, var, &total) != 0) {
            cli_error("out of memory");
            goto done;
        }
        for (i = 0; i < n; i++) {
            px[i] = py[i] = 0.0;
            for (j = 0; j < Z; j++) {
                px[i] += (mu[(size_t)i * Z + j] - mean[j]) * dir[j];
                py[i] += (mu[(size_t)i * Z + j] - mean[j]) * dir[Z + j];
            }
        }
        snprintf(xl, sizeof xl, "principal component 1 of z (%.0f%% of the variance)",
                 total > 0 ? 100 * var[0] / total : 0.0);
        snprintf(yl, sizeof yl, "principal component 2 of z (%.0f%% of the variance)",
                 total > 0 ? 100 * var[1] / total : 0.0);
    } else {
        for (i = 0; i < n; i++) {
            px[i] = mu[(size_t)i * Z];
            py[i] = Z > 1 ? mu[(size_t)i * Z + 1] : 0.0;
        }
        snprintf(xl, sizeof xl, "z1");
        snprintf(yl, sizeof yl, Z > 1 ? "z2" : "(z has one dimension)");
    }
    if (labels) {
        for (i = 0; i < n; i++) {
            cls[i] = labels[i];
            classes = cls[i] + 1 > classes ? cls[i] + 1 : classes;
        }
        names = classes <= 10 ? digits : NULL;
    }
    if (svg_scatter("latent means of the test images", xl, yl, px, py, cls, n, labels ? classes : 1, names, svg) !=
        0) {
        cli_error("out of memory for the scatter plot");
        goto done;
    }
    status = 0;
done:
    free(mu);
    free(px);
    free(py);
    free(mean);
    free(dir);
    free(cls);
    return status;
}

// ---- logs ----

typedef struct {
    double *v[3]; /* epoch, train_bound, test_bound */
    int n;
} log_series;

static void log_free(log_series *s)
{
    free(s->v[0]);
    free(s->v[1]);
    free(s->v[2]);
    memset(s, 0, sizeof *s);
}

/* Appends one row; 0, or -1 when out of memory. */
static int log_append(log_series *s, const double *v)
{
    int k;
    if ((s->n & (s->n - 1)) == 0) { /* at 0, 1, 2, 4, ...: double the room */
        size_t cap = s->n ? 2 * (size_t)s->n : 1;
        for (k = 0; k < 3; k++) {
            double *more = realloc(s->v[k], cap * sizeof *more);
            if (!more)
                return -1;
            s->v[k] = more;
        }
    }
    for (k = 0; k < 3; k++)
        s->v[k][s->n] = v[k];
    s->n++;
    return 0;
}

/* The epoch, train_bound and test_bound columns of a log, found by their
   header names (later columns come and go). 0, or an exit status after
   printing why. */
static int read_log(const char *path, log_series *s)
{
    static const char *const want[3] = {"epoch", "train_bound", "test_bound"};
    unsigned char *data;
    size_t len;
    char why[300], *text, *line, *next;
    int col[3] = {-1, -1, -1}, row = 0, status = EXIT_RUNTIME;
    memset(s, 0, sizeof *s);
    if (vae_read_file(path, (size_t)1 << 26, &data, &len, why, sizeof why) != VAE_OK) {
        cli_error("%s", why);
        return EXIT_RUNTIME;
    }
    text = malloc(len + 1); /* as a string */
    if (!text) {
        free(data);
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    free(data);
    for (line = text; *line; line = next) {
        char *field = line;
        int c, got = 0, k;
        double v[3] = {0, 0, 0};
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = '\0';
        if (line[strcspn(line, "\r")] == '\r')
            line[strcspn(line, "\r")] = '\0';
        if (*line == '\0')
            continue;
        for (c = 0;; c++) {
            char *end = field + strcspn(field, ","), keep = *end;
            *end = '\0';
            for (k = 0; k < 3; k++) {
                if (row == 0 && strcmp(field, want[k]) == 0) {
                    col[k] = c;
                } else if (row > 0 && col[k] == c) {
                    char *e;
                    v[k] = strtod(field, &e);
                    got += e != field && *e == '\0' && isfinite(v[k]);
                }
            }
            if (keep != ',')
                break;
            field = end + 1;
        }
        if (row++ == 0) {
            for (k = 0; k < 3; k++)
                if (col[k] < 0) {
                    cli_error("%s: no %s column in its header (not a log of vae train?)", path, want[k]);
                    goto done;
                }
            continue;
        }
        if (got != 3) {
            cli_error("%s: line %d has no numbers in epoch, train_bound and test_bound", path, row);
            goto done;
        }
        if (log_append(s, v) != 0) {
            cli_error("out of memory");
            goto done;
        }
    }
    if (row == 0)
        cli_error("%s: empty (not a log of vae train?)", path);
    else if (s->n == 0)
        cli_error("%s: no epoch logged yet", path);
    else
        status = 0;
done:
    free(text);
    if (status)
        log_free(s);
    return status;
}

/* The name a log goes by: its directory's last part, else the file's. */
static void log_name(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/'), *start = path;
    size_t len = strlen(path);
    if (slash) {
        const char *prev = slash;
        while (prev > path && prev[-1] != '/')
            prev--;
        start = prev;
        len = (size_t)(slash - prev);
    }
    if (len == 0 || (len == 1 && start[0] == '.'))
        start = slash ? slash + 1 : path, len = strlen(start);
    snprintf(buf, size, "%.*s", (int)len, start);
}

int curves_chart(const char *const *logs, const char *const *names, int n_logs, char **svg)
{
    log_series *s = calloc((size_t)n_logs, sizeof *s);
    svg_series *lines = calloc((size_t)2 * n_logs, sizeof *lines);
    char(*label)[2][96] = calloc((size_t)n_logs, sizeof *label);
    int i, status = EXIT_RUNTIME;
    if (!s || !lines || !label) {
        cli_error("out of memory");
        goto done;
    }
    for (i = 0; i < n_logs; i++) {
        char name[64];
        if (read_log(logs[i], &s[i]) != 0)
            goto done;
        if (names)
            snprintf(name, sizeof name, "%s", names[i]);
        else
            log_name(logs[i], name, sizeof name);
        snprintf(label[i][0], sizeof label[i][0], "%s test", name);
        snprintf(label[i][1], sizeof label[i][1], "%s train", name);
        lines[2 * i].name = label[i][0];
        lines[2 * i].x = s[i].v[0];
        lines[2 * i].y = s[i].v[2];
        lines[2 * i].n = s[i].n;
        lines[2 * i].colour = i;
        lines[2 * i + 1] = lines[2 * i];
        lines[2 * i + 1].name = label[i][1];
        lines[2 * i + 1].y = s[i].v[1];
        lines[2 * i + 1].dashed = 1;
    }
    if (svg_line_chart("bound per epoch (nats per image)", "epoch", "bound", lines, 2 * n_logs, svg) != 0) {
        cli_error("out of memory for the chart");
        goto done;
    }
    status = 0;
done:
    for (i = 0; s && i < n_logs; i++)
        log_free(&s[i]);
    free(s);
    free(lines);
    free(label);
    return status;
}

// ---- the commands ----

/* What every picture command parses besides its own options. */
typedef struct {
    const char *model, *test, *out, *device;
} common_args;

/* Parses argv against table; prints usage (then the notes) for --help.
   OPT_OK to go on; otherwise *status is the exit status. */
static int parse_command(const opt *table, int argc, char **argv, const char *command, const char *usage,
                         char **rest, int *n_rest, int *status)
{
    int r = opt_parse_rest(table, argc, argv, command, rest, n_rest);
    if (r == OPT_SHOW_HELP) {
        fputs(usage, stdout);
        opt_help(stdout, table);
        *status = 0;
        return r;
    }
    *status = r == OPT_OK ? 0 : EXIT_USAGE;
    return r;
}

/* Writes p as a PNG at path, or says why not. */
static int save_picture(const picture *p, const char *path, const char *what)
{
    if (picture_save(p, path, NULL, NULL) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    printf("%s: %s (%dx%d pixels)\n", what, path, p->width, p->height);
    return 0;
}

#define MODEL_OPT(a)                                                           \
    {.name = "model", .kind = OPT_STR, .dst = &(a).model, .meta = "FILE", .help = "model written by vae train", \
     .required = 1},                                                           \
        DEVICE_OPT(&(a).device)
#define TEST_OPT(a)                                                            \
    {.name = "test", .kind = OPT_STR, .dst = &(a).test, .meta = "FILE",      \
     .help = "IDX images of the model's size, plain or .gz", .required = 1}
#define OUT_OPT(a, what)                                                       \
    {.name = "out", .kind = OPT_STR, .dst = &(a).out, .meta = "FILE", .help = what, .required = 1}
#define HELP_OPT {.name = "help", .kind = OPT_HELP, .help = "print this text and exit"}

int cmd_sample(int argc, char **argv)
{
    common_args a = {NULL, NULL, NULL, NULL};
    int n = 64, binary = 0, status;
    uint64_t seed = 1;
    vae *m = NULL;
    picture p = {NULL, 0, 0, 0};
    opt table[] = {
        MODEL_OPT(a),
        {.name = "n", .kind = OPT_INT, .dst = &n, .meta = "N", .help = "samples", .min = 1, .max = 10000},
        {.name = "seed", .kind = OPT_U64, .dst = &seed, .meta = "N", .help = "seed of the latent points"},
        {.name = "binary", .kind = OPT_FLAG, .dst = &binary,
         .help = "draw binary pixels from the Bernoulli probabilities"},
        OUT_OPT(a, "the PNG to write"),
        HELP_OPT,
        {.name = NULL},
    };
    static const char usage[] =
        "usage: vae sample --model FILE --out FILE.png [options]\n"
        "\n"
        "Draws latent points from the model's prior (a standard normal, or its\n"
        "mixture) and shows what the decoder makes of them: the likelihood's mean\n"
        "(Bernoulli probabilities or the Gaussian's mean), or with --binary a\n"
        "draw of binary pixels. The same seed gives the same picture.\n"
        "\n"
        "options:\n";
    if (parse_command(table, argc, argv, "vae sample", usage, NULL, NULL, &status) != OPT_OK)
        return status;
    if ((status = load_model(a.model, a.device, &m)) != 0)
        return status;
    if (binary && vae_get_config(m)->likelihood != VAE_BERNOULLI) {
        cli_error("--binary draws Bernoulli pixels, but '%s' has a gaussian likelihood", a.model);
        vae_free(m);
        return EXIT_USAGE;
    }
    if ((status = sample_picture(m, n, seed, binary, &p)) == 0)
        status = save_picture(&p, a.out, "samples");
    picture_free(&p);
    vae_free(m);
    return status;
}

int cmd_reconstruct(int argc, char **argv)
{
    common_args a = {NULL, NULL, NULL, NULL};
    int n = 16, n_test, status;
    float *x = NULL;
    vae *m = NULL;
    picture p = {NULL, 0, 0, 0};
    opt table[] = {
        MODEL_OPT(a),
        TEST_OPT(a),
        {.name = "n", .kind = OPT_INT, .dst = &n, .meta = "N", .help = "images, the first of the test file",
         .min = 1, .max = 10000},
        OUT_OPT(a, "the PNG to write"),
        HELP_OPT,
        {.name = NULL},
    };
    static const char usage[] =
        "usage: vae reconstruct --model FILE --test FILE --out FILE.png [options]\n"
        "\n"
        "Shows the first N test images, as the model sees them (binarised for a\n"
        "Bernoulli likelihood), in rows of up to 16, each with its reconstruction\n"
        "below it: the decoder's mean at the encoder's mean.\n"
        "\n"
        "options:\n";
    if (parse_command(table, argc, argv, "vae reconstruct", usage, NULL, NULL, &status) != OPT_OK)
        return status;
    if ((status = load_model(a.model, a.device, &m)) != 0 || (status = load_images(m, a.test, NULL, n, &x, &n_test, NULL)) != 0)
        goto done;
    if (n > n_test) {
        cli_error("--n %d: '%s' has only %d images", n, a.test, n_test);
        status = EXIT_USAGE;
        goto done;
    }
    if ((status = reconstruction_picture(m, x, n, &p)) == 0)
        status = save_picture(&p, a.out, "reconstructions");
done:
    picture_free(&p);
    free(x);
    vae_free(m);
    return status;
}

/* "i,j" with both in 0..limit-1. */
static int parse_pair(const char *s, int limit, int *i, int *j)
{
    char *end;
    long a, b;
    if (!(*s >= '0' && *s <= '9'))
        return 0;
    a = strtol(s, &end, 10);
    if (*end != ',' || !(end[1] >= '0' && end[1] <= '9'))
        return 0;
    b = strtol(end + 1, &end, 10);
    if (*end || a >= limit || b >= limit)
        return 0;
    *i = (int)a;
    *j = (int)b;
    return 1;
}

int cmd_interpolate(int argc, char **argv)
{
    common_args a = {NULL, NULL, NULL, NULL};
    opt_many pairs = {0, {NULL}};
    int steps = 10, n_test, status, Z, D, r, s, j;
    geometry g;
    float *x = NULL, *mu = NULL, *z = NULL, *means = NULL;
    vae *m = NULL;
    picture p = {NULL, 0, 0, 0};
    opt table[] = {
        MODEL_OPT(a),
        TEST_OPT(a),
        {.name = "pair", .kind = OPT_MANY, .dst = &pairs, .meta = "I,J",
         .help = "test images to go between, counted from 0; give it once per row", .required = 1},
        {.name = "steps", .kind = OPT_INT, .dst = &steps, .meta = "N", .help = "images per row, both ends included",
         .min = 2, .max = 100},
        OUT_OPT(a, "the PNG to write"),
        HELP_OPT,
        {.name = NULL},
    };
    static const char usage[] =
        "usage: vae interpolate --model FILE --test FILE --pair I,J [--pair I,J ...]\n"
        "                       --out FILE.png [options]\n"
        "\n"
        "Decodes evenly spaced points on the line between the latent means of test\n"
        "images I and J, from I's (left) to J's (right): one row per --pair.\n"
        "\n"
        "options:\n";
    if (parse_command(table, argc, argv, "vae interpolate", usage, NULL, NULL, &status) != OPT_OK)
        return status;
    if ((status = load_model(a.model, a.device, &m)) != 0 || (status = load_images(m, a.test, NULL, 0, &x, &n_test, NULL)) != 0)
        goto done;
    status = EXIT_RUNTIME;
    Z = vae_get_config(m)->latent_dim;
    D = vae_get_config(m)->input_dim;
    mu = malloc((size_t)2 * Z * sizeof *mu);
    z = malloc((size_t)pairs.n * steps * Z * sizeof *z);
    means = malloc((size_t)pairs.n * steps * D * sizeof *means);
    if (!mu || !z || !means) {
        cli_error("out of memory");
        goto done;
    }
    for (r = 0; r < pairs.n; r++) {
        int i0, i1;
        if (!parse_pair(pairs.v[r], n_test, &i0, &i1)) {
            cli_error("--pair '%s' is not two image numbers from 0 to %d, as I,J", pairs.v[r], n_test - 1);
            status = EXIT_USAGE;
            goto done;
        }
        if (vae_encode(m, x + (size_t)i0 * D, 1, mu, NULL) != VAE_OK ||
            vae_encode(m, x + (size_t)i1 * D, 1, mu + Z, NULL) != VAE_OK) {
            cli_error("%s", vae_error(m));
            goto done;
        }
        for (s = 0; s < steps; s++) {
            double t = (double)s / (steps - 1);
            for (j = 0; j < Z; j++)
                z[((size_t)r * steps + s) * Z + j] = (float)((1.0 - t) * mu[j] + t * mu[Z + j]);
        }
    }
    if (vae_decode(m, z, pairs.n * steps, means) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    model_geometry(vae_get_config(m), &g);
    if (grid_of(&p, means, pairs.n * steps, steps, &g, D) != 0) {
        cli_error("out of memory for the picture");
        goto done;
    }
    status = save_picture(&p, a.out, "interpolations");
done:
    picture_free(&p);
    free(x);
    free(mu);
    free(z);
    free(means);
    vae_free(m);
    return status;
}

int cmd_manifold(int argc, char **argv)
{
    common_args a = {NULL, NULL, NULL, NULL};
    const char *dims = "1,2";
    int grid = 20, status, Z, da, db, r, c;
    geometry g;
    float *z = NULL, *means = NULL;
    double *q = NULL;
    vae *m = NULL;
    picture p = {NULL, 0, 0, 0};
    opt table[] = {
        MODEL_OPT(a),
        {.name = "grid", .kind = OPT_INT, .dst = &grid, .meta = "N", .help = "points along each side", .min = 2,
         .max = 100},
        {.name = "dims", .kind = OPT_STR, .dst = &dims, .meta = "A,B",
         .help = "the latent dimensions to vary, counted from 1 (across, down)"},
        OUT_OPT(a, "the PNG to write"),
        HELP_OPT,
        {.name = NULL},
    };
    static const char usage[] =
        "usage: vae manifold --model FILE --out FILE.png [options]\n"
        "\n"
        "The 2-D latent manifold, as in Kingma & Welling's figure: the decoder's\n"
        "mean on a grid over the standard normal's quantiles, (i + 1/2) / N for\n"
        "i = 0 .. N-1, in dimension A (left to right, increasing) and B (top to\n"
        "bottom, decreasing), with every other dimension at 0.\n"
        "\n"
        "options:\n";
    if (parse_command(table, argc, argv, "vae manifold", usage, NULL, NULL, &status) != OPT_OK)
        return status;
    if ((status = load_model(a.model, a.device, &m)) != 0)
        return status;
    Z = vae_get_config(m)->latent_dim;
    if (sscanf(dims, "%d,%d%n", &da, &db, &r) != 2 || dims[r] != '\0' || da < 1 || db < 1 || da > Z || db > Z ||
        da == db) {
        cli_error("--dims '%s' is not two different dimensions from 1 to %d, as A,B", dims, Z);
        vae_free(m);
        return EXIT_USAGE;
    }
    status = EXIT_RUNTIME;
    z = calloc((size_t)grid * grid * Z, sizeof *z);
    means = malloc((size_t)grid * grid * vae_get_config(m)->input_dim * sizeof *means);
    q = malloc((size_t)grid * sizeof *q);
    if (!z || !means || !q) {
        cli_error("out of memory");
        goto done;
    }
    for (r = 0; r < grid; r++)
        q[r] = normal_quantile((r + 0.5) / grid);
    for (r = 0; r < grid; r++)
        for (c = 0; c < grid; c++) {
            float *zr = z + ((size_t)r * grid + c) * Z;
            zr[da - 1] = (float)q[c];
            zr[db - 1] = (float)q[grid - 1 - r];
        }
    if (vae_decode(m, z, grid * grid, means) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    model_geometry(vae_get_config(m), &g);
    if (grid_of(&p, means, grid * grid, grid, &g, vae_get_config(m)->input_dim) != 0) {
        cli_error("out of memory for the picture");
        goto done;
    }
    status = save_picture(&p, a.out, "manifold");
done:
    picture_free(&p);
    free(z);
    free(means);
    free(q);
    vae_free(m);
    return status;
}

/* The latent means as CSV: label (empty without labels), z1 .. zZ. */
static char *codes_csv(const float *mu, const unsigned char *labels, int n, int Z, size_t *len)
{
    size_t cap = 64 + (size_t)Z * 8 + (size_t)n * (4 + (size_t)Z * 16), at = 0;
    char *buf = malloc(cap);
    int i, j;
    if (!buf)
        return NULL;
    at += (size_t)snprintf(buf, cap, "label");
    for (j = 0; j < Z; j++)
        at += (size_t)snprintf(buf + at, cap - at, ",z%d", j + 1);
    buf[at++] = '\n';
    for (i = 0; i < n; i++) {
        if (labels)
            at += (size_t)snprintf(buf + at, cap - at, "%d", labels[i]);
        for (j = 0; j < Z; j++)
            at += (size_t)snprintf(buf + at, cap - at, ",%.6g", mu[(size_t)i * Z + j]);
        buf[at++] = '\n';
    }
    *len = at;
    return buf;
}

int cmd_embed(int argc, char **argv)
{
    common_args a = {NULL, NULL, NULL, NULL};
    const char *labels_path = NULL, *plot = NULL;
    int limit = 0, n, status, Z;
    float *x = NULL, *mu = NULL;
    unsigned char *labels = NULL;
    char *csv = NULL, *svg = NULL;
    size_t len;
    vae *m = NULL;
    opt table[] = {
        MODEL_OPT(a),
        TEST_OPT(a),
        {.name = "labels", .kind = OPT_STR, .dst = &labels_path, .meta = "FILE",
         .help = "the test images' IDX labels, to colour the plot by", .def = "none"},
        {.name = "limit", .kind = OPT_INT, .dst = &limit, .meta = "N", .help = "only the first N test images",
         .def = "all", .min = 1, .max = 2147483647},
        OUT_OPT(a, "the CSV to write: label, z1 .. zZ per image"),
        {.name = "plot", .kind = OPT_STR, .dst = &plot, .meta = "FILE.svg",
         .help = "also a scatter plot of the codes", .def = "none"},
        HELP_OPT,
        {.name = NULL},
    };
    static const char usage[] =
        "usage: vae embed --model FILE --test FILE --out codes.csv [options]\n"
        "\n"
        "Writes the latent mean of every test image as CSV (label, z1 .. zZ; the\n"
        "label empty without --labels) and, with --plot, a scatter plot coloured\n"
        "by label: of z1 and z2, or when Z > 2 of the first two principal\n"
        "components of the codes, as its axes say.\n"
        "\n"
        "options:\n";
    if (parse_command(table, argc, argv, "vae embed", usage, NULL, NULL, &status) != OPT_OK)
        return status;
    if ((status = load_model(a.model, a.device, &m)) != 0 ||
        (status = load_images(m, a.test, labels_path, limit, &x, &n, labels_path ? &labels : NULL)) != 0)
        goto done;
    status = EXIT_RUNTIME;
    Z = vae_get_config(m)->latent_dim;
    if (!(mu = malloc((size_t)n * Z * sizeof *mu))) {
        cli_error("out of memory");
        goto done;
    }
    if (vae_encode(m, x, n, mu, NULL) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    if (!(csv = codes_csv(mu, labels, n, Z, &len))) {
        cli_error("out of memory");
        goto done;
    }
    if (plot && (status = latent_scatter(m, x, labels, n, &svg)) != 0)
        goto done;
    status = EXIT_RUNTIME;
    if (write_atomic(a.out, csv, len) != 0) {
        cli_error("cannot write '%s': %s", a.out, strerror(errno));
        goto done;
    }
    if (plot && write_atomic(plot, svg, strlen(svg)) != 0) {
        cli_error("cannot write '%s': %s", plot, strerror(errno));
        goto done;
    }
    printf("codes: %s (%d images, %d dimensions)\n", a.out, n, Z);
    if (plot)
        printf("plot: %s\n", plot);
    status = 0;
done:
    free(x);
    free(mu);
    free(labels);
    free(csv);
    free(svg);
    vae_free(m);
    return status;
}

/* Comma-separated names into v (at most max), in buf. */
static int split_names(char *buf, const char **v, int max)
{
    int n = 0;
    char *s = buf;
    while (n < max) {
        v[n++] = s;
        s = strchr(s, ',');
        if (!s)
            break;
        *s++ = '\0';
    }
    return n;
}

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *names_arg = NULL, *names[OPT_MANY_MAX];
    char **logs = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *logs), *names_buf = NULL, *svg = NULL;
    int n_logs = 0, status, n_names = 0;
    opt table[] = {
        {.name = "names", .kind = OPT_STR, .dst = &names_arg, .meta = "A,B,...",
         .help = "a name per log, for the legend", .def = "each log's directory"},
        {.name = "out", .kind = OPT_STR, .dst = &out, .meta = "FILE.svg", .help = "the SVG to write", .required = 1},
        HELP_OPT,
        {.name = NULL},
    };
    static const char usage[] =
        "usage: vae plot LOG.csv [LOG.csv ...] --out FILE.svg [--names A,B,...]\n"
        "\n"
        "Draws the train (dashed) and test (solid) bounds per epoch of each log\n"
        "written by vae train on one chart, a colour per run, like the course\n"
        "notebook's VAE-versus-IWAE figure. Columns are found by their names\n"
        "(epoch, train_bound, test_bound).\n"
        "\n"
        "options:\n";
    if (!logs) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    if (parse_command(table, argc, argv, "vae plot", usage, logs, &n_logs, &status) != OPT_OK)
        goto done;
    status = EXIT_USAGE;
    if (n_logs == 0) {
        cli_error("plot needs at least one LOG.csv (see 'vae plot --help')");
        goto done;
    }
    if (n_logs > OPT_MANY_MAX) {
        cli_error("at most %d logs on one chart", OPT_MANY_MAX);
        goto done;
    }
    if (names_arg) {
        names_buf = malloc(strlen(names_arg) + 1);
        if (!names_buf) {
            cli_error("out of memory");
            status = EXIT_RUNTIME;
            goto done;
        }
        strcpy(names_buf, names_arg);
        n_names = split_names(names_buf, names, OPT_MANY_MAX);
        if (n_names != n_logs) {
            cli_error("--names gives %d names for %d logs", n_names, n_logs);
            goto done;
        }
    }
    if ((status = curves_chart((const char *const *)logs, names_arg ? names : NULL, n_logs, &svg)) != 0)
        goto done;
    if (write_atomic(out, svg, strlen(svg)) != 0) {
        cli_error("cannot write '%s': %s", out, strerror(errno));
        status = EXIT_RUNTIME;
        goto done;
    }
    printf("curves: %s (%d runs)\n", out, n_logs);
    status = 0;
done:
    free(logs);
    free(names_buf);
    free(svg);
    return status;
}
