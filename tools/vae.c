/* vae.c — the vae command-line program.

     vae train   trains a VAE or IWAE on IDX images; after every epoch it
                 replaces OUT/model.vae and OUT/log.csv, each atomically
     vae eval    prints a saved model's test bound and, on request, its
                 importance-sampled negative log-likelihood
     vae sample, reconstruct, interpolate, manifold, embed, plot
                 pictures of a model (pictures.c)

   Exit status: 0 done; 1 something failed at run time (a file missing or
   corrupt, out of memory, training diverged); 2 the command line is wrong
   (unknown option, impossible value, options that do not fit the data).
   Every failure is one line "vae: <problem>" on stderr.

   The library is C99 only; this program also uses POSIX (clock_gettime,
   isatty, mkdir, stat).
*/
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "mnist.h"
#include "opts.h"
#include "pictures.h"
#include "progress.h"
#include "report.h"
#include "vae.h"

static const char *const binarize_names[] = {"static", "dynamic", "none", NULL};
static const char *const on_off[] = {"on", "off", NULL};
static const vae_binarize binarizations[] = {VAE_BINARY_STATIC, VAE_BINARY_DYNAMIC, VAE_GRAY};
enum { BINARIZE_STATIC, BINARIZE_DYNAMIC, BINARIZE_NONE };

/* Set by SIGINT: training stops after the current step. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

// ---- small helpers ----

/* "784-200-200-50 tanh, gaussian likelihood (sigma learned), mog prior (16
   components), elbo k=1 (analytic KL), adam lr 0.001" */
static void describe_model(const vae_config *c, char *buf, size_t size)
{
    char t[5][32];
    int i, n = snprintf(buf, size, "%d", c->input_dim);
    for (i = 0; i < c->n_hidden && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "-%d", c->hidden[i]);
    if (n <= 0 || (size_t)n >= size)
        return;
    n += snprintf(buf + n, size - (size_t)n, "-%d %s, %s likelihood", c->latent_dim,
                  field_text(c, "activation", t[0], sizeof t[0]), field_text(c, "likelihood", t[1], sizeof t[1]));
    if (c->likelihood == VAE_GAUSSIAN && n > 0 && (size_t)n < size)
        n += c->sigma == 0.0f ? snprintf(buf + n, size - (size_t)n, " (sigma learned)")
                              : snprintf(buf + n, size - (size_t)n, " (sigma %g)", (double)c->sigma);
    if (n > 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ", %s prior", field_text(c, "prior", t[2], sizeof t[2]));
    if (c->prior == VAE_PRIOR_MOG && n > 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, " (%d components)", c->components);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %s k=%d%s, %s lr %g", field_text(c, "objective", t[3], sizeof t[3]),
                 c->k, c->kl == VAE_KL_ANALYTIC ? " (analytic KL)" : "",
                 field_text(c, "optimizer", t[4], sizeof t[4]), (double)c->lr);
}

// ---- vae train ----

#define MAX_FIELDS 32

typedef struct {
    const char *data, *train, *train_labels, *test, *test_labels, *out;
    int holdout, limit, threads, epochs;
    int binarize;              /* index into binarize_names; -1: by the likelihood */
    int pictures;              /* index into on_off: 0 on */
    vae_config cfg;            /* the model; the data set its input size and geometry */
    int given[MAX_FIELDS];     /* which fields of cfg the command line set */
} train_args;

/* Defaults: the library's reference configuration, 10 epochs, out/. */
static void train_defaults(train_args *a)
{
    memset(a, 0, sizeof *a);
    a->out = "out";
    a->epochs = 10;
    a->binarize = -1;
    vae_config_init(&a->cfg);
}

/* Whether the command line set the configuration field key. */
static int field_given(const train_args *a, const char *key)
{
    const vae_field *fields;
    int count = vae_config_fields(&fields), i;
    for (i = 0; i < count && i < MAX_FIELDS; i++)
        if (strcmp(fields[i].key, key) == 0)
            return a->given[i];
    return 0;
}

static const char train_usage[] =
    "usage: vae train (--data DIR | --train FILE [--test FILE]) [options]\n"
    "\n"
    "Trains a variational (elbo) or importance-weighted (iwae) autoencoder on\n"
    "IDX images (MNIST, Fashion-MNIST), plain or gzip-compressed.\n"
    "\n"
    "options:\n";

static const char train_notes[] =
    "\n"
    "The test set is required: the t10k files of --data, --test FILE, or\n"
    "--holdout N (which replaces the t10k files of --data). --holdout is taken\n"
    "from the images that --limit keeps. After every epoch the test bound is\n"
    "computed with the training objective and k, and OUT/model.vae and\n"
    "OUT/log.csv (epoch,train_bound,test_bound,seconds, then perplexity with\n"
    "--prior mog; bounds in nats per image, seconds of training) are replaced\n"
    "atomically: an interrupted or diverged run keeps its last good epoch, and\n"
    "a run that fails before its first epoch leaves OUT as it was.\n"
    "\n"
    "Likelihoods: bernoulli models binary pixels; gaussian models grey ones\n"
    "(pixel / 255) with mean sigmoid(output) and one sigma, learned unless\n"
    "--sigma fixes it, and gives bounds that are log-densities (positive).\n"
    "Binarisation: static sets pixels >= 0.5 to 1; dynamic draws a fresh\n"
    "Bernoulli(pixel) image each time one is used, and the test set is then one\n"
    "fixed draw from --seed; none keeps pixel / 255 (the gaussian's default).\n"
    "--kl analytic computes the ELBO's KL term exactly (elbo, normal prior).\n"
    "A progress bar is drawn on stderr when it is a terminal; one line per\n"
    "epoch goes to stdout.\n"
    "\n"
    "Exit status: 0 done, 1 failed (files, memory, divergence), 2 bad usage.\n";

/* The command line's combinations that the options alone cannot check. */
static int train_check(train_args *a)
{
    vae_config probe = a->cfg;
    char why[200];
    if (!a->data && !a->train) {
        cli_error("train needs --data DIR or --train FILE (see 'vae train --help')");
        return OPT_BAD;
    }
    if (a->data && a->train) {
        cli_error("give --data DIR or --train FILE, not both");
        return OPT_BAD;
    }
    if (a->data && a->test) {
        cli_error("--test goes with --train; --data DIR reads its own t10k files");
        return OPT_BAD;
    }
    if (a->test && a->holdout) {
        cli_error("give --test FILE or --holdout N, not both");
        return OPT_BAD;
    }
    if (a->test_labels && !a->test) {
        cli_error("--test-labels goes with --test (--data reads the label files beside its images)");
        return OPT_BAD;
    }
    if (a->train_labels && !a->train) {
        cli_error("--train-labels goes with --train (--data reads the label files beside its images)");
        return OPT_BAD;
    }
    if (a->train && !a->test && !a->holdout) {
        cli_error("no test set: give --test FILE or --holdout N");
        return OPT_BAD;
    }
    if (field_given(a, "sigma") && a->cfg.likelihood != VAE_GAUSSIAN) {
        cli_error("--sigma goes with --likelihood gaussian");
        return OPT_BAD;
    }
    if (field_given(a, "components") && a->cfg.prior != VAE_PRIOR_MOG) {
        cli_error("--components goes with --prior mog");
        return OPT_BAD;
    }
    /* The rest of the configuration, before any data are read; the batch
       is checked against k once the data have said how large it can be. */
    probe.max_batch = 1;
    if (vae_config_check(&probe, why, sizeof why) != VAE_OK) {
        cli_error("%s", why);
        return OPT_BAD;
    }
    if (a->binarize < 0)
        a->binarize = a->cfg.likelihood == VAE_GAUSSIAN ? BINARIZE_NONE : BINARIZE_STATIC;
    return OPT_OK;
}

/* Parses the train command line into *a: OPT_OK, or the exit status. */
static int train_parse(train_args *a, int argc, char **argv, int *status)
{
    opt head[] = {
        {.name = "data", .kind = OPT_STR, .dst = &a->data, .meta = "DIR",
         .help = "read DIR/{train,t10k}-images-idx3-ubyte[.gz]"},
        {.name = "train", .kind = OPT_STR, .dst = &a->train, .meta = "FILE",
         .help = "training images (IDX, plain or .gz)"},
        {.name = "train-labels", .kind = OPT_STR, .dst = &a->train_labels, .meta = "FILE",
         .help = "their labels (with --holdout, they colour the latent scatter)", .def = "none"},
        {.name = "test", .kind = OPT_STR, .dst = &a->test, .meta = "FILE",
         .help = "test images, with --train"},
        {.name = "test-labels", .kind = OPT_STR, .dst = &a->test_labels, .meta = "FILE",
         .help = "their labels, to colour the latent scatter", .def = "none"},
        {.name = "holdout", .kind = OPT_INT, .dst = &a->holdout, .meta = "N",
         .help = "test on the last N training images instead", .def = "none",
         .min = 1, .max = 2147483647},
        {.name = "limit", .kind = OPT_INT, .dst = &a->limit, .meta = "N",
         .help = "use only the first N training images, for quick tests", .def = "all",
         .min = 1, .max = 2147483647},
        {.name = "epochs", .kind = OPT_INT, .dst = &a->epochs, .meta = "N",
         .help = "passes over the training images", .min = 1, .max = 100000},
    };
    opt tail[] = {
        {.name = "binarize", .kind = OPT_CHOICE, .dst = &a->binarize,
         .help = "pixels: binarised, or pixel / 255", .def = "static; none for gaussian",
         .choices = binarize_names},
        {.name = "out", .kind = OPT_STR, .dst = &a->out, .meta = "DIR",
         .help = "output directory, created if missing"},
        {.name = "pictures", .kind = OPT_CHOICE, .dst = &a->pictures,
         .help = "write samples.png, reconstructions.png, curves.svg and report.html after every epoch",
         .choices = on_off},
        {.name = "threads", .kind = OPT_INT, .dst = &a->threads, .meta = "N",
         .help = "OpenMP threads", .def = "all cores", .min = 1, .max = 4096},
        {.name = "help", .kind = OPT_HELP, .help = "print this text and exit"},
    };
    enum { NHEAD = sizeof head / sizeof head[0], NTAIL = sizeof tail / sizeof tail[0] };
    opt table[NHEAD + MAX_FIELDS + NTAIL + 1];
    int r, n = NHEAD, i;
    train_defaults(a);
    memcpy(table, head, sizeof head);
    opt_add_fields(table, &n, NHEAD + MAX_FIELDS + 1, &a->cfg, a->given);
    for (i = 0; i < NTAIL; i++)
        table[n++] = tail[i];
    table[n].name = NULL;
    r = opt_parse(table, argc, argv, "vae train");
    if (r == OPT_SHOW_HELP) {
        train_defaults(a); /* show defaults, not what came before --help */
        fputs(train_usage, stdout);
        opt_help(stdout, table);
        fputs(train_notes, stdout);
        *status = 0;
        return r;
    }
    *status = EXIT_USAGE;
    if (r != OPT_OK || (r = train_check(a)) != OPT_OK)
        return r;
    *status = 0;
    return OPT_OK;
}

/* Loads the training and test sets as the options say. 0, or the exit
   status after printing why. */
static int train_load(const train_args *a, vae_dataset *train, vae_dataset *test)
{
    if (a->data) {
        if (vae_dataset_load_dir(train, test, a->data) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
        if (a->holdout) {
            vae_dataset_free(test);
            memset(test, 0, sizeof *test);
        } else if (test->n == 0) {
            cli_error("no t10k-images-idx3-ubyte[.gz] in '%s': give --holdout N", a->data);
            return EXIT_USAGE;
        }
    } else {
        if (vae_dataset_load(train, a->train, a->train_labels) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
        if (a->test && vae_dataset_load(test, a->test, a->test_labels) != VAE_OK) {
            cli_error("%s", test->error);
            return EXIT_RUNTIME;
        }
    }
    if (a->limit && a->limit < train->n)
        train->n = a->limit; /* the rest stays allocated, unused */
    if (a->holdout) {
        if (a->holdout >= train->n) {
            cli_error("--holdout %d leaves no training images (there are %d)", a->holdout,
                      train->n);
            return EXIT_USAGE;
        }
        if (vae_dataset_holdout(train, test, a->holdout) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
    }
    if (test->rows != train->rows || test->cols != train->cols) {
        cli_error("test images are %dx%d but training images are %dx%d", test->rows,
                  test->cols, train->rows, train->cols);
        return EXIT_RUNTIME;
    }
    return 0;
}

/* The model for the data: their size and geometry, a batch no larger than
   the training set. 0, or the exit status after printing why. */
static int train_model(const train_args *a, const vae_dataset *train, vae **m)
{
    vae_config cfg = a->cfg;
    vae_status st;
    cfg.input_dim = train->dim;
    cfg.image_rows = train->rows;
    cfg.image_cols = train->cols;
    cfg.image_channels = 1;
    if (cfg.max_batch > train->n)
        cfg.max_batch = train->n;
    if ((double)cfg.max_batch * cfg.k > VAE_MAX_ROWS) {
        cli_error("--batch times --k is %.0f samples per step (batch %d, k %d), over the "
                  "limit of %d", (double)cfg.max_batch * cfg.k, cfg.max_batch, cfg.k,
                  VAE_MAX_ROWS);
        return EXIT_USAGE;
    }
    st = vae_create(m, &cfg, NULL);
    if (st != VAE_OK) {
        /* the options were checked; this is what the data added */
        cli_error("cannot create the model: %s", vae_error(*m));
        return st == VAE_ERR_ARG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return 0;
}

/* What a run writes, and where. */
typedef struct {
    char model[MAX_PATH], log[MAX_PATH], log_tmp[MAX_PATH];
    char samples[MAX_PATH], recon[MAX_PATH], curves[MAX_PATH], report[MAX_PATH];
} run_paths;

/* Creates --out and checks that it can be written, before any training.
   0, or the exit status after printing why. */
static int prepare_output(const char *out, run_paths *p)
{
    FILE *probe;
    if (!join_path(p->model, sizeof p->model, out, "model.vae") ||
        !join_path(p->log, sizeof p->log, out, "log.csv") ||
        !join_path(p->log_tmp, sizeof p->log_tmp, out, "log.csv.tmp") ||
        !join_path(p->samples, sizeof p->samples, out, "samples.png") ||
        !join_path(p->recon, sizeof p->recon, out, "reconstructions.png") ||
        !join_path(p->curves, sizeof p->curves, out, "curves.svg") ||
        !join_path(p->report, sizeof p->report, out, "report.html")) {
        cli_error("--out path is too long");
        return EXIT_RUNTIME;
    }
    if (make_dirs(out) != 0) {
        cli_error("cannot create directory '%s': %s", out, strerror(errno));
        return EXIT_RUNTIME;
    }
    probe = fopen(p->log_tmp, "w");
    if (!probe) {
        cli_error("cannot write in '%s': %s", out, strerror(errno));
        return EXIT_RUNTIME;
    }
    fclose(probe);
    remove(p->log_tmp);
    return 0;
}

/* One row of log.csv; perplexity is written when the prior has one. */
typedef struct {
    double train_bound, test_bound, seconds, perplexity;
} log_row;

/* Rewrites the whole log (header and n rows) through tmp, so that the file
   on disk is always complete. 0, or -1 with errno. */
static int write_log(const run_paths *p, const log_row *rows, int n, int with_perplexity)
{
    FILE *f = fopen(p->log_tmp, "w");
    int i, ok;
    if (!f)
        return -1;
    fprintf(f, "epoch,train_bound,test_bound,seconds%s\n", with_perplexity ? ",perplexity" : "");
    for (i = 0; i < n; i++) {
        fprintf(f, "%d,%.4f,%.4f,%.3f", i + 1, rows[i].train_bound, rows[i].test_bound, rows[i].seconds);
        if (with_perplexity)
            fprintf(f, ",%.4f", rows[i].perplexity);
        fputc('\n', f);
    }
    ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(p->log_tmp, p->log) != 0) {
        int e = errno;
        remove(p->log_tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* The state of a run between its epochs. */
typedef struct {
    vae *m;
    const vae_dataset *train;
    vae_binarize mode;
    vae_rng shuffle_rng, binarize_rng;
    int *idx;              /* the order of the training images */
    float *batch;          /* (max_batch, D) */
    progress bar;
    double trained_seconds, eval_seconds;
    long trained_images;
    int epochs;
    /* the pictures, when they are on */
    int pictures;
    uint64_t picture_seed;
    const char *title;
    const float *test_x;
    const unsigned char *test_labels;
    int n_test;
} run_state;

/* Draws the progress line during epoch e of a run. */
static void show_progress(run_state *r, int e, int done, double bound_sum, double rate)
{
    char label[32], info[96], left[16], run_left[16];
    int n = r->train->n;
    double epoch_left = (n - done) / rate, per_epoch = n / rate + r->eval_seconds;
    snprintf(label, sizeof label, "epoch %d/%d", e, r->epochs);
    format_duration(epoch_left + r->eval_seconds, left, sizeof left);
    format_duration(epoch_left + r->eval_seconds + (r->epochs - e) * per_epoch, run_left, sizeof run_left);
    snprintf(info, sizeof info, "%.2f  %.0f img/s  %s left (run %s)", done ? bound_sum / done : 0.0, rate, left,
             run_left);
    progress_show(&r->bar, label, (double)done / n, info);
}

/* One pass over the shuffled training images; the mean bound per image
   goes to *bound. Stops early, with VAE_OK, when interrupted. */
static vae_status train_epoch(run_state *r, int e, double *bound)
{
    double t0 = clock_seconds(), sum = 0.0;
    int start, nb, n = r->train->n, batch = vae_get_config(r->m)->max_batch;
    vae_rng_shuffle(&r->shuffle_rng, r->idx, n);
    for (start = 0; start < n && !interrupted; start += nb) {
        float b;
        vae_status st;
        nb = n - start < batch ? n - start : batch;
        vae_dataset_batch(r->train, r->idx + start, nb, r->mode, &r->binarize_rng, r->batch);
        if ((st = vae_train_step(r->m, r->batch, nb, NULL, &b)) != VAE_OK)
            return st;
        sum += (double)b * nb;
        if (progress_due(&r->bar)) {
            double rate = (double)(r->trained_images + start + nb) / (r->trained_seconds + clock_seconds() - t0);
            show_progress(r, e, start + nb, sum, rate);
        }
    }
    *bound = sum / n;
    return VAE_OK;
}

/* Why a step failed, in one line naming what was kept. */
static void report_step_failure(run_state *r, vae_status st, int e, const run_paths *p)
{
    progress_clear(&r->bar);
    if (st == VAE_ERR_NUMERIC && e > 1)
        cli_error("training diverged at step %ld, in epoch %d: %s; %s keeps epoch %d", vae_steps(r->m) + 1, e,
                  vae_error(r->m), p->model, e - 1);
    else if (st == VAE_ERR_NUMERIC)
        cli_error("training diverged at step %ld, in epoch 1: %s; nothing was saved", vae_steps(r->m) + 1,
                  vae_error(r->m));
    else
        cli_error("training step failed: %s", vae_error(r->m));
}

/* Pictures and the report show at most this many test images' codes. */
#define REPORT_CODES 2000
/* Samples in samples.png, and z vectors the report's self-test decodes. */
#define REPORT_SAMPLES 64

/* The configuration as "key value" lines, for the report. */
static void config_lines(const vae_config *c, char *buf, size_t size)
{
    const vae_field *fields;
    int count = vae_config_fields(&fields), i;
    size_t at = 0;
    buf[0] = '\0';
    for (i = 0; i < count && at < size; i++) {
        char value[200];
        int n = snprintf(buf + at, size - at, "%s %s\n", fields[i].key,
                         field_text(c, fields[i].key, value, sizeof value));
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

/* The explorer's plane in the report: the test codes' mean and two leading
   directions, three standard deviations either way. 0, or -1. */
static int explorer_plane(vae *m, const float *x, int n, double *mean, double *dir, double extent[2])
{
    int Z = vae_get_config(m)->latent_dim;
    double var[2], total;
    float *mu = malloc((size_t)n * Z * sizeof *mu);
    int r = -1;
    if (mu && vae_encode(m, x, n, mu, NULL) == VAE_OK && principal_directions(mu, n, Z, mean, dir, var, &total) == 0) {
        extent[0] = 3.0 * sqrt(var[0]);
        extent[1] = 3.0 * sqrt(var[1]);
        r = 0;
    }
    free(mu);
    return r;
}

/* After epoch e: samples.png, reconstructions.png, curves.svg and
   report.html, each written whole. They show a fixed set of latent points
   (from the run's seed) and the first test images, and draw no noise from
   the model's generator, so that the run trains exactly as without them.
   0, or the exit status after printing why. */
static int write_pictures(run_state *r, const log_row *row, int e, const run_paths *p)
{
    const vae_config *c = vae_get_config(r->m);
    int Z = c->latent_dim, n_codes = r->n_test < REPORT_CODES ? r->n_test : REPORT_CODES, status = EXIT_RUNTIME;
    picture samples = {NULL, 0, 0, 0}, recon = {NULL, 0, 0, 0};
    unsigned char *samples_png = NULL, *recon_png = NULL;
    size_t samples_len = 0, recon_len = 0;
    char *curves = NULL, *scatter = NULL, *html = NULL, config[4096], summary[160];
    const char *logs[1];
    double *mean = malloc((size_t)Z * sizeof *mean), *dir = malloc((size_t)2 * Z * sizeof *dir);
    float *check_z = malloc((size_t)REPORT_SAMPLES * Z * sizeof *check_z);
    report_inputs in;
    logs[0] = p->log;
    memset(&in, 0, sizeof in);
    if (!mean || !dir || !check_z) {
        cli_error("out of memory for the pictures");
        goto done;
    }
    if (sample_picture(r->m, REPORT_SAMPLES, r->picture_seed, 0, &samples) != 0 ||
        reconstruction_picture(r->m, r->test_x, r->n_test < 16 ? r->n_test : 16, &recon) != 0 ||
        curves_chart(logs, &r->title, 1, &curves) != 0 ||
        latent_scatter(r->m, r->test_x, r->test_labels, n_codes, &scatter) != 0)
        goto done;
    if (picture_save(&samples, p->samples, &samples_png, &samples_len) != 0 ||
        picture_save(&recon, p->recon, &recon_png, &recon_len) != 0 ||
        write_atomic(p->curves, curves, strlen(curves)) != 0) {
        cli_error("cannot write the pictures in '%s': %s", r->title, strerror(errno));
        goto done;
    }
    if ((Z > 2 && explorer_plane(r->m, r->test_x, n_codes, mean, dir, in.extent) != 0) ||
        vae_prior_sample(r->m, REPORT_SAMPLES, r->picture_seed, check_z) != VAE_OK) {
        cli_error("cannot make the report's explorer: %s", vae_error(r->m));
        goto done;
    }
    config_lines(c, config, sizeof config);
    snprintf(summary, sizeof summary, "epoch %d of %d: train %.2f, test %.2f nats per image", e, r->epochs,
             row->train_bound, row->test_bound);
    in.title = r->title;
    in.config_text = config;
    in.summary = summary;
    in.curves_svg = curves;
    in.samples_png = samples_png;
    in.samples_len = samples_len;
    in.recon_png = recon_png;
    in.recon_len = recon_len;
    in.scatter_svg = scatter;
    in.plane_mean = Z > 2 ? mean : NULL;
    in.plane_dir = Z > 2 ? dir : NULL;
    in.check_z = check_z;
    in.n_check = REPORT_SAMPLES;
    if (report_html(r->m, &in, &html) != 0) {
        cli_error("out of memory for the report");
        goto done;
    }
    if (write_atomic(p->report, html, strlen(html)) != 0) {
        cli_error("cannot write '%s': %s", p->report, strerror(errno));
        goto done;
    }
    status = 0;
done:
    picture_free(&samples);
    picture_free(&recon);
    free(samples_png);
    free(recon_png);
    free(curves);
    free(scatter);
    free(html);
    free(mean);
    free(dir);
    free(check_z);
    return status;
}

/* Trains for the run's epochs, evaluating, saving and logging after each.
   0, or the exit status after printing why. */
static int run_epochs(run_state *r, const float *test_x, int n_test, const run_paths *p)
{
    const vae_config *cfg = vae_get_config(r->m);
    int mog = cfg->prior == VAE_PRIOR_MOG, e;
    log_row *rows = malloc((size_t)r->epochs * sizeof *rows);
    if (!rows) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    for (e = 1; e <= r->epochs; e++) {
        double t0 = clock_seconds();
        log_row *row = &rows[e - 1];
        vae_status st = train_epoch(r, e, &row->train_bound);
        if (st != VAE_OK) {
            report_step_failure(r, st, e, p);
            break;
        }
        if (interrupted) {
            progress_clear(&r->bar);
            if (e > 1)
                cli_error("interrupted in epoch %d; %s keeps epoch %d", e, p->model, e - 1);
            else
                cli_error("interrupted in epoch 1; nothing was saved");
            free(rows);
            return 130;
        }
        row->seconds = clock_seconds() - t0;
        r->trained_seconds += row->seconds;
        r->trained_images += r->train->n;
        if (r->bar.on) {
            char label[32];
            snprintf(label, sizeof label, "epoch %d/%d", e, r->epochs);
            progress_show(&r->bar, label, 1.0, "computing the test bound");
        }
        t0 = clock_seconds();
        st = vae_bound(r->m, test_x, n_test, cfg->objective, cfg->k, &row->test_bound);
        r->eval_seconds = clock_seconds() - t0;
        progress_clear(&r->bar);
        if (st == VAE_OK)
            st = vae_prior_perplexity(r->m, &row->perplexity);
        if (st != VAE_OK) {
            cli_error("test bound failed in epoch %d: %s", e, vae_error(r->m));
            break;
        }
        if (vae_save(r->m, p->model) != VAE_OK) {
            cli_error("cannot save the model: %s", vae_error(r->m));
            break;
        }
        if (write_log(p, rows, e, mog) != 0) {
            cli_error("cannot write '%s': %s", p->log, strerror(errno));
            break;
        }
        if (r->pictures && write_pictures(r, row, e, p) != 0)
            break;
        printf("epoch %d/%d  train %.2f  test %.2f  %.1f s  %.0f img/s", e, r->epochs, row->train_bound,
               row->test_bound, row->seconds, r->train->n / row->seconds);
        if (mog)
            printf("  perplexity %.2f", row->perplexity);
        printf("\n");
        fflush(stdout);
    }
    free(rows);
    return e > r->epochs ? 0 : EXIT_RUNTIME;
}

static int cmd_train(int argc, char **argv)
{
    train_args a;
    vae_dataset train, test;
    run_state r;
    run_paths paths;
    vae_rng test_rng;
    float *test_x = NULL;
    char what[320];
    int status, i;

    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    memset(&r, 0, sizeof r);
    if (train_parse(&a, argc, argv, &status) != OPT_OK)
        return status;
    set_threads(a.threads);
    if ((status = train_load(&a, &train, &test)) != 0 || (status = train_model(&a, &train, &r.m)) != 0 ||
        (status = prepare_output(a.out, &paths)) != 0)
        goto done;
    status = EXIT_RUNTIME;

    r.train = &train;
    r.mode = binarizations[a.binarize];
    r.epochs = a.epochs;
    r.pictures = a.pictures == 0;
    r.picture_seed = a.cfg.seed ^ SEED_PICTURES;
    r.title = a.out;
    r.test_labels = test.labels;
    r.n_test = test.n;
    vae_rng_seed(&r.shuffle_rng, a.cfg.seed ^ SEED_SHUFFLE);
    vae_rng_seed(&r.binarize_rng, a.cfg.seed ^ SEED_BINARIZE);
    vae_rng_seed(&test_rng, a.cfg.seed ^ SEED_TEST);
    test_x = dataset_floats(&test, r.mode, &test_rng);
    r.batch = malloc((size_t)vae_get_config(r.m)->max_batch * (size_t)train.dim * sizeof *r.batch);
    r.idx = malloc((size_t)train.n * sizeof *r.idx);
    if (!test_x || !r.batch || !r.idx) {
        cli_error("out of memory");
        goto done;
    }
    for (i = 0; i < train.n; i++)
        r.idx[i] = i;
    r.test_x = test_x;

    describe_model(vae_get_config(r.m), what, sizeof what);
    printf("model %s, batch %d, seed %llu\n", what, vae_get_config(r.m)->max_batch,
           (unsigned long long)a.cfg.seed);
    printf("data  %d training images, %d test images, %s\n", train.n, test.n,
           a.binarize == BINARIZE_NONE ? "pixels as pixel / 255" : a.binarize == BINARIZE_DYNAMIC
                                                                     ? "dynamic binarisation"
                                                                     : "static binarisation");
    fflush(stdout);

    progress_init(&r.bar);
    if (signal(SIGINT, on_interrupt) == SIG_IGN)
        signal(SIGINT, SIG_IGN); /* started in the background: leave it so */
    status = run_epochs(&r, test_x, test.n, &paths);
    if (status == 0)
        printf("log: %s\nmodel: %s\n", paths.log, paths.model);
    if (status == 0 && r.pictures)
        printf("report: %s\npictures: %s, %s, %s\n", paths.report, paths.samples, paths.recon, paths.curves);

done:
    signal(SIGINT, SIG_DFL);
    vae_free(r.m);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    free(test_x);
    free(r.batch);
    free(r.idx);
    return status;
}

// ---- vae eval ----

typedef struct {
    const char *model, *data, *test;
    int objective; /* a vae_objective, -1: the model's */
    int binarize;  /* index into eval_binarize_names, -1: by the likelihood */
    int k, nll, limit, threads;
    uint64_t seed;
    int seed_given;
} eval_args;

static const char *const eval_binarize_names[] = {"static", "none", NULL};

static void eval_defaults(eval_args *a)
{
    memset(a, 0, sizeof *a);
    a->objective = -1;
    a->binarize = -1;
}

static const char eval_usage[] =
    "usage: vae eval --model FILE (--data DIR | --test FILE) [options]\n"
    "\n"
    "Prints the test bound of a trained model, \"test_bound <nats>\", and with\n"
    "--nll K the importance-sampled negative log-likelihood, \"test_nll <nats>\"\n"
    "(positive; K = 5000 is the literature's convention). Test images are\n"
    "binarised statically for a Bernoulli model and kept grey (pixel / 255) for\n"
    "a Gaussian one. Noise comes from the generator saved in the model, so the\n"
    "same model gives the same numbers, unless --seed restarts it.\n"
    "\n"
    "options:\n";

static int eval_parse(eval_args *a, int argc, char **argv, int *status)
{
    opt table[] = {
        {.name = "model", .kind = OPT_STR, .dst = &a->model, .meta = "FILE",
         .help = "model written by vae train", .required = 1},
        {.name = "data", .kind = OPT_STR, .dst = &a->data, .meta = "DIR",
         .help = "read DIR/t10k-images-idx3-ubyte[.gz]"},
        {.name = "test", .kind = OPT_STR, .dst = &a->test, .meta = "FILE",
         .help = "test images (IDX, plain or .gz)"},
        {.name = "limit", .kind = OPT_INT, .dst = &a->limit, .meta = "N",
         .help = "use only the first N test images", .def = "all", .min = 1,
         .max = 2147483647},
        {.name = "objective", .kind = OPT_CHOICE, .dst = &a->objective,
         .help = "bound to print", .def = "the model's", .choices = field_choices("objective")},
        {.name = "binarize", .kind = OPT_CHOICE, .dst = &a->binarize,
         .help = "test pixels: binarised, or pixel / 255", .def = "by the likelihood",
         .choices = eval_binarize_names},
        {.name = "k", .kind = OPT_INT, .dst = &a->k, .meta = "N",
         .help = "samples per image for the bound", .def = "the model's", .min = 1,
         .max = 10000000},
        {.name = "nll", .kind = OPT_INT, .dst = &a->nll, .meta = "K",
         .help = "also print test_nll with K samples per image", .def = "off", .min = 1,
         .max = 10000000},
        {.name = "seed", .kind = OPT_U64, .dst = &a->seed, .meta = "N",
         .help = "restart the model's noise generator from N", .def = "the model's",
         .given = &a->seed_given},
        {.name = "threads", .kind = OPT_INT, .dst = &a->threads, .meta = "N",
         .help = "OpenMP threads", .def = "all cores", .min = 1, .max = 4096},
        {.name = "help", .kind = OPT_HELP, .help = "print this text and exit"},
        {.name = NULL},
    };
    int r;
    eval_defaults(a);
    r = opt_parse(table, argc, argv, "vae eval");
    if (r == OPT_SHOW_HELP) {
        eval_defaults(a);
        fputs(eval_usage, stdout);
        opt_help(stdout, table);
        *status = 0;
        return r;
    }
    *status = EXIT_USAGE;
    if (r != OPT_OK)
        return r;
    if (!a->data == !a->test) {
        cli_error("eval needs one of --data DIR or --test FILE");
        return OPT_BAD;
    }
    *status = 0;
    return OPT_OK;
}

/* Mean log p(x) over x (n, dim) in chunks, so that a long run (K = 5000
   over 10,000 images) can show its progress. */
static vae_status log_likelihood(vae *m, const float *x, int n, int dim, int k, double *ll)
{
    enum { CHUNK = 100 };
    progress bar;
    double sum = 0, t0 = clock_seconds();
    int i, nb;
    progress_init(&bar);
    for (i = 0; i < n; i += nb) {
        double chunk_ll;
        vae_status st;
        nb = n - i < CHUNK ? n - i : CHUNK;
        st = vae_log_likelihood(m, x + (size_t)i * (size_t)dim, nb, k, &chunk_ll);
        if (st != VAE_OK) {
            progress_clear(&bar);
            return st;
        }
        sum += chunk_ll * nb;
        if (progress_due(&bar)) {
            char info[64], left[16];
            double rate = (i + nb) / (clock_seconds() - t0);
            format_duration((n - i - nb) / rate, left, sizeof left);
            snprintf(info, sizeof info, "%.0f img/s  %s left", rate, left);
            progress_show(&bar, "test_nll", (double)(i + nb) / n, info);
        }
    }
    progress_clear(&bar);
    *ll = sum / n;
    return VAE_OK;
}

static int cmd_eval(int argc, char **argv)
{
    eval_args a;
    vae_dataset ds;
    vae *m = NULL;
    const vae_config *cfg;
    float *x = NULL;
    char path[MAX_PATH];
    double bound, ll;
    int status;

    memset(&ds, 0, sizeof ds);
    if (eval_parse(&a, argc, argv, &status) != OPT_OK)
        return status;
    set_threads(a.threads);
    status = EXIT_RUNTIME;

    if (vae_load(&m, a.model) != VAE_OK) {
        cli_error("%s", vae_error(m));
        goto done;
    }
    cfg = vae_get_config(m);
    if (a.seed_given)
        vae_seed(m, a.seed);

    if (a.data) {
        if (!join_path(path, sizeof path, a.data, "t10k-images-idx3-ubyte")) {
            cli_error("--data path is too long");
            goto done;
        }
        if (!file_exists(path) && !join_path(path, sizeof path, a.data, "t10k-images-idx3-ubyte.gz")) {
            cli_error("--data path is too long");
            goto done;
        }
        if (!file_exists(path)) {
            cli_error("no t10k-images-idx3-ubyte[.gz] in '%s'", a.data);
            goto done;
        }
    } else if (snprintf(path, sizeof path, "%s", a.test) >= (int)sizeof path) {
        cli_error("--test path is too long");
        goto done;
    }
    if (vae_dataset_load(&ds, path, NULL) != VAE_OK) {
        cli_error("%s", ds.error);
        goto done;
    }
    if (a.limit && a.limit < ds.n)
        ds.n = a.limit;
    if (ds.dim != cfg->input_dim) {
        cli_error("the model takes %d pixels per image but '%s' has %dx%d", cfg->input_dim,
                  path, ds.rows, ds.cols);
        goto done;
    }
    if (a.binarize < 0)
        a.binarize = cfg->likelihood == VAE_GAUSSIAN;
    x = dataset_floats(&ds, a.binarize ? VAE_GRAY : VAE_BINARY_STATIC, NULL);
    if (!x) {
        cli_error("out of memory");
        goto done;
    }

    if (vae_bound(m, x, ds.n, a.objective >= 0 ? (vae_objective)a.objective : cfg->objective,
                  a.k ? a.k : cfg->k, &bound) != VAE_OK) {
        cli_error("test bound failed: %s", vae_error(m));
        goto done;
    }
    printf("test_bound %.4f\n", bound);
    fflush(stdout);
    if (a.nll) {
        if (log_likelihood(m, x, ds.n, ds.dim, a.nll, &ll) != VAE_OK) {
            cli_error("test_nll failed: %s", vae_error(m));
            goto done;
        }
        printf("test_nll %.4f\n", -ll);
    }
    status = 0;

done:
    vae_free(m);
    vae_dataset_free(&ds);
    free(x);
    return status;
}

// ---- main ----

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"train", cmd_train, "train a VAE or IWAE on IDX images, with a report"},
    {"eval", cmd_eval, "a trained model's test bound and negative log-likelihood"},
    {"sample", cmd_sample, "a grid of images decoded from the prior (PNG)"},
    {"reconstruct", cmd_reconstruct, "test images above their reconstructions (PNG)"},
    {"interpolate", cmd_interpolate, "decoded points between two test images' codes (PNG)"},
    {"manifold", cmd_manifold, "the 2-D latent manifold (PNG)"},
    {"embed", cmd_embed, "the latent means of test images (CSV, SVG scatter plot)"},
    {"plot", cmd_plot, "train and test bounds per epoch of logs (SVG)"},
};

#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static const char examples[] =
    "\n"
    "examples:\n"
    "  vae train --train data/mnist/t10k-images-idx3-ubyte.gz --holdout 1000 \\\n"
    "      --out out/demo\n"
    "  vae eval --model out/demo/model.vae \\\n"
    "      --test data/mnist/t10k-images-idx3-ubyte.gz --nll 5000\n"
    "  vae sample --model out/demo/model.vae --out samples.png\n"
    "\n"
    "'vae help COMMAND' or 'vae COMMAND --help' describes one command.\n";

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    char *help[] = {"--help"};
    int i;
    if (!cmd) {
        cli_error("no command given; try 'vae --help'");
        return EXIT_USAGE;
    }
    for (i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 && argc > 2) {
        for (i = 0; i < N_COMMANDS; i++)
            if (strcmp(argv[2], commands[i].name) == 0)
                return commands[i].run(1, help);
        cli_error("unknown command '%s'; try 'vae --help'", argv[2]);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        printf("usage: vae <command> [options]\n\ncommands:\n");
        for (i = 0; i < N_COMMANDS; i++)
            printf("  %-12s %s\n", commands[i].name, commands[i].summary);
        fputs(examples, stdout);
        return 0;
    }
    cli_error("unknown command '%s'; try 'vae --help'", cmd);
    return EXIT_USAGE;
}
