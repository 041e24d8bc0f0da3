/* common.c — helpers the vae program's commands share; see common.h. */
#define _POSIX_C_SOURCE 200809L

#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "opts.h"
#include "platform.h"
#include "progress.h"

int make_dirs(const char *path)
{
    char buf[MAX_PATH];
    size_t len = strlen(path), i;
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (!platform_is_separator(buf[i]) && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        /* a part that is there already, or that cannot be made but is a
           directory (a Windows drive, "C:") */
        if (platform_mkdir(buf) != 0 && errno != EEXIST && !platform_is_dir(buf))
            return -1;
        buf[i] = path[i];
    }
    if (!platform_is_dir(path)) {
        errno = ENOTDIR; /* made, or there: a file is in the way */
        return -1;
    }
    return 0;
}

int join_path(char *buf, size_t size, const char *dir, const char *name)
{
    size_t len = strlen(dir);
    const char *sep = len > 0 && platform_is_separator(dir[len - 1]) ? "" : "/";
    int n = snprintf(buf, size, "%s%s%s", dir, sep, name);
    return n > 0 && (size_t)n < size;
}

int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

int can_write(const char *path)
{
    char tmp[MAX_PATH];
    FILE *f;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (!(f = fopen(tmp, "wb")))
        return -1;
    fclose(f);
    remove(tmp);
    return 0;
}

int write_atomic(const char *path, const void *data, size_t len)
{
    return vae_write_file(path, data, len, NULL, 0) == VAE_OK ? 0 : -1;
}

float *dataset_floats(const vae_dataset *ds, vae_binarize mode, vae_rng *rng)
{
    int idx[256], i, j, nb;
    float *x;
    if (ds->n <= 0 || ds->dim <= 0 || (size_t)ds->n > SIZE_MAX / sizeof *x / (size_t)ds->dim)
        return NULL;
    x = malloc((size_t)ds->n * (size_t)ds->dim * sizeof *x);
    if (!x)
        return NULL;
    for (i = 0; i < ds->n; i += nb) {
        nb = ds->n - i < 256 ? ds->n - i : 256;
        for (j = 0; j < nb; j++)
            idx[j] = i + j;
        vae_dataset_batch(ds, idx, nb, mode, rng, x + (size_t)i * (size_t)ds->dim);
    }
    return x;
}

void set_threads(int threads)
{
    if (threads <= 0)
        return;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    fprintf(stderr, "vae: warning: built without OpenMP, --threads %d ignored\n", threads);
#endif
}

const char *const *field_choices(const char *key)
{
    const vae_field *fields;
    int count = vae_config_fields(&fields), i;
    for (i = 0; i < count; i++)
        if (strcmp(fields[i].key, key) == 0)
            return fields[i].choices;
    return NULL;
}

const char *field_text(const vae_config *c, const char *key, char *buf, size_t size)
{
    if (vae_config_get(c, key, buf, size) < 0)
        snprintf(buf, size, "?");
    return buf;
}

int parse_device(const char *text, tool_device *d)
{
    memset(d, 0, sizeof *d);
    d->cl.platform = d->cl.device = -1;
    if (!text || strcmp(text, "cpu") == 0)
        return 0;
    if (strncmp(text, "cpu:", 4) == 0) {
        /* auto, or a kernel this processor runs: one of vae_cpu_kernels()'s words */
        const char *name = text + 4, *runs = vae_cpu_kernels(), *at = runs;
        size_t len = strlen(name);
        while (len > 0 && strcmp(name, "auto") != 0 && *at) {
            if (strncmp(at, name, len) == 0 && (at[len] == ' ' || at[len] == '\0'))
                break;
            at += strcspn(at, " ");
            at += *at == ' ';
        }
        if (len == 0 || len >= sizeof d->kernel || (strcmp(name, "auto") != 0 && !*at)) {
            cli_error("--device %s: this processor runs the GEMM kernels %s (auto: the first)", text, runs);
            return EXIT_USAGE;
        }
        memcpy(d->kernel, name, len + 1);
        d->cpu.kernel = d->kernel;
        d->opt.backend_params = &d->cpu;
        return 0;
    }
    if (strncmp(text, "opencl", 6) == 0) {
        const char *p = text + 6;
        if (*p == ':') {
            char *end;
            long pl, dv;
            errno = 0;
            pl = strtol(p + 1, &end, 10);
            if (end == p + 1 || *end != '.' || pl < 0 || pl > 1000 || errno)
                goto bad;
            p = end + 1;
            dv = strtol(p, &end, 10);
            if (end == p || *end || dv < 0 || dv > 1000 || errno)
                goto bad;
            d->cl.platform = (int)pl;
            d->cl.device = (int)dv;
        } else if (*p) {
            goto bad;
        }
        d->opt.backend = vae_backend_opencl();
        d->opt.backend_params = &d->cl;
        return 0;
    }
bad:
    cli_error("--device %s: not cpu, cpu:KERNEL, opencl or opencl:P.D (as vae devices lists them)", text);
    return EXIT_USAGE;
}

int load_model(const char *path, const char *device, vae **m)
{
    tool_device d;
    *m = NULL;
    if (parse_device(device, &d) != 0)
        return EXIT_USAGE;
    if (vae_load_ex(m, path, &d.opt) == VAE_OK)
        return 0;
    cli_error("%s", vae_error(*m));
    vae_free(*m);
    *m = NULL;
    return EXIT_RUNTIME;
}

int load_images(const vae *m, const char *path, const char *labels_path, int limit, float **x, int *n,
                unsigned char **labels)
{
    const vae_config *c = vae_get_config(m);
    vae_dataset ds;
    *x = NULL;
    *n = 0;
    if (labels)
        *labels = NULL;
    if (vae_dataset_load(&ds, path, labels_path) != VAE_OK) {
        cli_error("%s", ds.error);
        return EXIT_RUNTIME;
    }
    if (ds.dim != c->input_dim) {
        cli_error("the model takes %d values per image but '%s' has %dx%d images", c->input_dim, path, ds.rows,
                  ds.cols);
        vae_dataset_free(&ds);
        return EXIT_RUNTIME;
    }
    if (limit > 0 && limit < ds.n)
        ds.n = limit;
    *x = dataset_floats(&ds, c->likelihood == VAE_GAUSSIAN ? VAE_GRAY : VAE_BINARY_STATIC, NULL);
    if (*x && labels && ds.labels && (*labels = malloc((size_t)ds.n)) != NULL)
        memcpy(*labels, ds.labels, (size_t)ds.n);
    if (!*x || (labels && ds.labels && !*labels)) {
        cli_error("out of memory");
        free(*x);
        *x = NULL;
        vae_dataset_free(&ds);
        return EXIT_RUNTIME;
    }
    *n = ds.n;
    vae_dataset_free(&ds);
    return 0;
}

void model_geometry(const vae_config *c, geometry *g)
{
    int side = (int)(sqrt((double)c->input_dim) + 0.5);
    if (c->image_rows > 0) {
        g->rows = c->image_rows;
        g->cols = c->image_cols;
        g->channels = c->image_channels;
    } else if (side * side == c->input_dim) {
        g->rows = g->cols = side;
        g->channels = 1;
    } else {
        g->rows = 1;
        g->cols = c->input_dim;
        g->channels = 1;
    }
}

unsigned char pixel_byte(float p)
{
    p = p < 0.0f ? 0.0f : p > 1.0f ? 1.0f : p; /* NaN stays NaN: (unsigned char) of it is undefined */
    return p == p ? (unsigned char)floorf(255.0f * p + 0.5f) : 0;
}

int image_source_init(image_source *s, const vae_dataset *ds, vae_binarize mode, uint64_t seed)
{
    s->ds = ds;
    s->mode = mode;
    s->seed = seed;
    s->next = 0;
    vae_rng_seed(&s->rng, seed);
    s->chunk = malloc((size_t)IMAGE_CHUNK * (size_t)ds->dim * sizeof *s->chunk);
    return s->chunk ? 0 : -1;
}

void image_source_free(image_source *s)
{
    free(s->chunk);
    s->chunk = NULL;
}

void image_source_get(image_source *s, int first, int n, float *x)
{
    int idx[256], j, nb;
    if (first < s->next) {
        vae_rng_seed(&s->rng, s->seed);
        s->next = 0;
    }
    /* the draws of the images before first, made and thrown away */
    for (; s->next < first; s->next += nb) {
        nb = first - s->next < 256 ? first - s->next : 256;
        nb = nb < IMAGE_CHUNK ? nb : IMAGE_CHUNK;
        for (j = 0; j < nb; j++)
            idx[j] = s->next + j;
        vae_dataset_batch(s->ds, idx, nb, s->mode, &s->rng, s->chunk);
    }
    for (; s->next < first + n; s->next += nb) {
        nb = first + n - s->next < 256 ? first + n - s->next : 256;
        for (j = 0; j < nb; j++)
            idx[j] = s->next + j;
        vae_dataset_batch(s->ds, idx, nb, s->mode, &s->rng, x + (size_t)(s->next - first) * (size_t)s->ds->dim);
    }
}

vae_status source_bounds(vae *m, image_source *s, int n, vae_objective obj, int k, double *each, double *mean)
{
    double sum = 0.0;
    int i, nb;
    for (i = 0; i < n; i += nb) {
        vae_status st;
        nb = n - i < IMAGE_CHUNK ? n - i : IMAGE_CHUNK;
        image_source_get(s, i, nb, s->chunk);
        if ((st = vae_bound_images(m, s->chunk, nb, obj, k, each + i)) != VAE_OK)
            return st;
    }
    for (i = 0; i < n; i++)
        sum += each[i];
    if (mean)
        *mean = sum / n;
    return VAE_OK;
}

vae_status log_likelihoods(vae *m, image_source *s, int n, int k, double *ll, thread_governor *gov)
{
    enum { CHUNK = 100 };
    progress bar;
    double t0 = platform_wall_seconds();
    int i, nb;
    progress_init(&bar);
    governor_start(gov);
    for (i = 0; i < n; i += nb) {
        vae_status st;
        nb = n - i < CHUNK ? n - i : CHUNK;
        image_source_get(s, i, nb, s->chunk);
        st = vae_log_likelihood_images(m, s->chunk, nb, k, ll + i);
        if (st != VAE_OK) {
            progress_clear(&bar);
            return st;
        }
        governor_step_done(gov);
        if (progress_due(&bar)) {
            char info[64], left[16];
            double rate = (i + nb) / (platform_wall_seconds() - t0);
            format_duration((n - i - nb) / rate, left, sizeof left);
            snprintf(info, sizeof info, "%.0f img/s  %s left", rate, left);
            progress_show(&bar, "test_nll", (double)(i + nb) / n, info);
        }
    }
    progress_clear(&bar);
    return VAE_OK;
}
