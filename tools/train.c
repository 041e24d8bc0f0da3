/* train.c — `vae train`: the training loop as people run it, for hours on
   a laptop.

   After every epoch the run's directory gets model.vae (with the trainer's
   state in its application section), log.csv, best.vae with --val, and
   the pictures; each file is replaced atomically. A run can stop at any
   step (Ctrl-C, SIGTERM) and go on with `vae train --resume OUT`, which
   continues it exactly: the same data order, noise, optimiser state and
   position, so that its log and model are bit for bit those of a run that
   was never stopped.

   The trainer's state, kept in the checkpoint as text lines:
     vae-train 1                       the format
     cwd PATH                          where the run started
     arg WORD                          the command line, one word a line,
                                       without --out, --threads, --pictures
                                       and --epochs
     epochs N                          the epochs to train (--resume may raise it)
     data_crc HEX                      of every image and label used
     at EPOCH POSITION DONE            the epoch in progress, images of it done,
                                       1 once the run has ended
     sums BOUND OBJECTIVE              of that epoch so far
     rng shuffle|binarize S0 S1 S2 S3  the trainer's generators
     best EPOCH VAL SINCE              the best validation bound, when, epochs since
     row TRAIN TEST VAL OBJECTIVE PERPLEXITY   a finished epoch
     order N I0 I1 ...                 the order of the training images
   Numbers are written so that they read back exactly (%.17g, hex). Nothing
   in it depends on where the run writes, its threads, pictures or clock:
   two runs with the same options and data save the same model.vae, and so
   does a run of 4 epochs resumed with --epochs 5 and a run of 5.
*/
#define _POSIX_C_SOURCE 200809L

#include "train.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "opts.h"
#include "pictures.h"
#include "platform.h"
#include "progress.h"
#include "report.h"

static const char *const binarize_names[] = {"static", "dynamic", "none", NULL};
static const vae_binarize binarizations[] = {VAE_BINARY_STATIC, VAE_BINARY_DYNAMIC, VAE_GRAY};
enum { BINARIZE_STATIC, BINARIZE_DYNAMIC, BINARIZE_NONE };
static const char *const on_off[] = {"on", "off", NULL};

#define SEED_VAL 0x76616c6964ULL /* "valid" */
#define MAX_FIELDS 32
#define MAX_ARGS 256
/* Pictures and the report show at most this many test images' codes. */
#define REPORT_CODES 2000
/* Samples in samples.png, and z vectors the report's self-test decodes. */
#define REPORT_SAMPLES 64

/* The signal that asked the run to stop after its current step (SIGINT,
   SIGTERM), or 0. */
static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

// ---- options ----

typedef struct {
    const char *data, *train, *train_labels, *test, *test_labels, *out, *resume, *device;
    int holdout, limit, val, patience, threads, epochs, nll, nll_limit;
    double kl_warmup;
    int binarize;              /* index into binarize_names; -1: by the likelihood */
    int pictures;              /* index into on_off: 0 on */
    vae_config cfg;            /* the model; the data set its input size and geometry */
    int given[MAX_FIELDS];     /* which fields of cfg the command line set */
    int epochs_given, threads_given, out_given, pictures_given, device_given;
} train_args;

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
    "       vae train --resume DIR [--epochs N] [--threads N]\n"
    "\n"
    "Trains a variational (elbo) or importance-weighted (iwae) autoencoder on\n"
    "IDX images (MNIST, Fashion-MNIST), plain or gzip-compressed.\n"
    "\n"
    "options:\n";

static const char train_notes[] =
    "\n"
    "The test set is required: the t10k files of --data, --test FILE, or\n"
    "--holdout N (which replaces the t10k files of --data). --holdout is taken\n"
    "from the images that --limit keeps; --val N then takes the last N of what\n"
    "remains for validation. After every epoch the test (and validation) bound\n"
    "is computed with the training objective and k, and OUT/model.vae,\n"
    "OUT/log.csv (epoch,train_bound,test_bound,seconds, then val_bound with\n"
    "--val, train_objective with --beta or --kl-warmup, perplexity with --prior\n"
    "mog; bounds in nats per image) and, with --val, OUT/best.vae (the model of\n"
    "the best validation bound so far) are replaced atomically. At the end the\n"
    "final model (best.vae with --val) gives the test bound and, with --nll K,\n"
    "the test NLL: printed, and in OUT/summary.txt.\n"
    "\n"
    "Ctrl-C or SIGTERM stops after the current step, saves the position\n"
    "inside the epoch and prints how to go on: --resume DIR continues the run\n"
    "exactly as if it had not stopped (its log and model come out bit for bit\n"
    "the same), with the same data and options; only --epochs (to train\n"
    "longer) and --threads may be given again.\n"
    "\n"
    "Likelihoods: bernoulli models binary pixels; gaussian models grey ones\n"
    "(pixel / 255) with mean sigmoid(output) and one sigma, learned unless\n"
    "--sigma fixes it, and gives bounds that are log-densities (positive).\n"
    "Binarisation: static sets pixels >= 0.5 to 1; dynamic draws a fresh\n"
    "Bernoulli(pixel) image each time one is used, and the test set is then one\n"
    "fixed draw from --seed; none keeps pixel / 255 (the gaussian's default).\n"
    "--kl analytic computes the ELBO's KL term exactly (elbo, normal prior).\n"
    "--beta B weights the ELBO's log p(z) - log q(z|x) in training (a\n"
    "beta-VAE); --kl-warmup E raises that weight from 0 to B over E epochs,\n"
    "step by step. The log's bounds stay the true ELBO (beta 1). Both need the\n"
    "elbo objective: the IWAE bound has no KL term to weight.\n"
    "\n"
    "Threads: by default the run measures as it goes and uses all cores while\n"
    "they are free, one thread while other processes compete for them (where\n"
    "threads waiting for each other would make it slower); --threads N fixes\n"
    "N. Results are the same bits on any number of threads.\n"
    "\n"
    "A progress bar is drawn on stderr when it is a terminal; one line per\n"
    "epoch goes to stdout.\n"
    "\n"
    "Exit status: 0 done, 1 failed (files, memory, divergence), 2 bad usage,\n"
    "130 or 143 stopped by SIGINT or SIGTERM (resumable).\n";

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
    if (a->patience && !a->val) {
        cli_error("--patience stops on the validation bound: give --val N too");
        return OPT_BAD;
    }
    if (a->nll_limit && !a->nll) {
        cli_error("--nll-limit goes with --nll K");
        return OPT_BAD;
    }
    if (a->kl_warmup > 0 && a->cfg.objective != VAE_ELBO) {
        cli_error("--kl-warmup weights the ELBO's KL term; the iwae bound has none to weight");
        return OPT_BAD;
    }
    if (field_given(a, "hidden") && a->cfg.encoder[0] && a->cfg.decoder[0]) {
        cli_error("--hidden makes an MLP; with --encoder and --decoder both given it describes nothing");
        return OPT_BAD;
    }
    /* The rest of the configuration, before any data are read; the batch
       is checked against k, and the networks against the images' shape,
       once the data have said what they are. */
    probe.max_batch = 1;
    probe.encoder[0] = probe.decoder[0] = '\0';
    if (vae_config_check(&probe, why, sizeof why) != VAE_OK) {
        cli_error("%s", why);
        return OPT_BAD;
    }
    if (a->binarize < 0)
        a->binarize = a->cfg.likelihood == VAE_GAUSSIAN ? BINARIZE_NONE : BINARIZE_STATIC;
    return OPT_OK;
}

/* Parses the train command line into *a: OPT_OK, or the exit status (in
   *status). With --resume, the other options must be absent but --epochs
   and --threads. */
static int train_parse(train_args *a, int argc, char **argv, int *status)
{
    opt head[] = {
        {.name = "data", .kind = OPT_STR, .dst = &a->data, .meta = "DIR",
         .help = "read DIR/{train,t10k}-images-idx3-ubyte[.gz] and their labels"},
        {.name = "train", .kind = OPT_STR, .dst = &a->train, .meta = "FILE",
         .help = "training images (IDX, plain or .gz)"},
        {.name = "train-labels", .kind = OPT_STR, .dst = &a->train_labels, .meta = "FILE",
         .help = "their labels (with --holdout, they colour the latent scatter)", .def = "none"},
        {.name = "test", .kind = OPT_STR, .dst = &a->test, .meta = "FILE", .help = "test images, with --train"},
        {.name = "test-labels", .kind = OPT_STR, .dst = &a->test_labels, .meta = "FILE",
         .help = "their labels, to colour the latent scatter", .def = "none"},
        {.name = "holdout", .kind = OPT_INT, .dst = &a->holdout, .meta = "N",
         .help = "test on the last N training images instead", .def = "none", .min = 1, .max = 2147483647},
        {.name = "val", .kind = OPT_INT, .dst = &a->val, .meta = "N",
         .help = "validate on the last N training images (after --holdout)", .def = "none", .min = 1,
         .max = 2147483647},
        {.name = "patience", .kind = OPT_INT, .dst = &a->patience, .meta = "P",
         .help = "stop when the validation bound has not improved for P epochs", .def = "never", .min = 1,
         .max = 100000},
        {.name = "limit", .kind = OPT_INT, .dst = &a->limit, .meta = "N",
         .help = "use only the first N training images, for quick tests", .def = "all", .min = 1,
         .max = 2147483647},
        {.name = "epochs", .kind = OPT_INT, .dst = &a->epochs, .meta = "N", .help = "passes over the training images",
         .min = 1, .max = 100000, .given = &a->epochs_given},
        {.name = "kl-warmup", .kind = OPT_REAL, .dst = &a->kl_warmup, .meta = "E",
         .help = "raise beta from 0 to its value over E epochs", .def = "none", .max = 100000},
        {.name = "nll", .kind = OPT_INT, .dst = &a->nll, .meta = "K",
         .help = "at the end, the test NLL with K importance samples per image", .def = "off", .min = 1,
         .max = 10000000},
        {.name = "nll-limit", .kind = OPT_INT, .dst = &a->nll_limit, .meta = "N",
         .help = "that NLL on the first N test images only", .def = "all", .min = 1, .max = 2147483647},
    };
    opt tail[] = {
        {.name = "binarize", .kind = OPT_CHOICE, .dst = &a->binarize, .help = "pixels: binarised, or pixel / 255",
         .def = "static; none for gaussian", .choices = binarize_names},
        {.name = "out", .kind = OPT_STR, .dst = &a->out, .meta = "DIR", .help = "output directory, created if missing",
         .given = &a->out_given},
        {.name = "pictures", .kind = OPT_CHOICE, .dst = &a->pictures,
         .help = "write samples.png, reconstructions.png, curves.svg and report.html after every epoch",
         .choices = on_off, .given = &a->pictures_given},
        {.name = "resume", .kind = OPT_STR, .dst = &a->resume, .meta = "DIR",
         .help = "continue the stopped run in DIR exactly", .def = "none"},
        {.name = "threads", .kind = OPT_INT, .dst = &a->threads, .meta = "N", .help = "use exactly N threads",
         .def = "up to all cores, one while others compete", .min = 1, .max = 4096, .given = &a->threads_given},
        {.name = "device", .kind = OPT_STR, .dst = &a->device, .meta = "cpu[:K]|opencl[:P.D]",
         .help = "where the model runs: opencl is the first GPU, else the first device (vae devices)", .def = "cpu",
         .given = &a->device_given},
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
    if (r != OPT_OK)
        return r;
    if (a->resume) {
        /* everything but --resume, --epochs, --threads, --pictures and
           --device must be absent */
        int words = 1 + a->epochs_given + a->threads_given + a->pictures_given + a->device_given;
        for (i = 0; i < argc; i++)
            if (strncmp(argv[i], "--", 2) == 0)
                words -= 1;
        if (words != 0) {
            cli_error("--resume DIR goes alone (with --epochs, --threads, --pictures or --device at most): the run's options "
                      "are in DIR/model.vae");
            return OPT_BAD;
        }
        *status = 0;
        return OPT_OK;
    }
    if ((r = train_check(a)) != OPT_OK)
        return r;
    *status = 0;
    return OPT_OK;
}

// ---- data ----

typedef struct {
    vae_dataset train, val, test;
    image_source val_src, test_src; /* fixed, binarised once */
    double *each;                   /* (the larger set): each image's bound */
} run_data;

static void data_free(run_data *d)
{
    vae_dataset_free(&d->train);
    vae_dataset_free(&d->val);
    vae_dataset_free(&d->test);
    image_source_free(&d->val_src);
    image_source_free(&d->test_src);
    free(d->each);
    memset(d, 0, sizeof *d);
}

/* Loads the training, validation and test sets as the options say. 0, or
   the exit status after printing why. */
static int load_data(const train_args *a, run_data *d)
{
    vae_dataset *train = &d->train, *test = &d->test;
    memset(d, 0, sizeof *d);
    if (a->data) {
        if (vae_dataset_load_dir(train, test, a->data) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
        if (a->holdout) {
            vae_dataset_free(test);
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
            cli_error("--holdout %d leaves no training images (there are %d)", a->holdout, train->n);
            return EXIT_USAGE;
        }
        if (vae_dataset_holdout(train, test, a->holdout) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
    }
    if (a->val) {
        if (a->val >= train->n) {
            cli_error("--val %d leaves no training images (there are %d%s)", a->val, train->n,
                      a->holdout ? " after --holdout" : "");
            return EXIT_USAGE;
        }
        if (vae_dataset_holdout(train, &d->val, a->val) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
    }
    if (test->rows != train->rows || test->cols != train->cols) {
        cli_error("test images are %dx%d but training images are %dx%d", test->rows, test->cols, train->rows,
                  train->cols);
        return EXIT_RUNTIME;
    }
    /* each one fixed draw from its own stream when binarisation is dynamic */
    d->each = malloc((size_t)(test->n > d->val.n ? test->n : d->val.n) * sizeof *d->each);
    if (!d->each || image_source_init(&d->test_src, test, binarizations[a->binarize], a->cfg.seed ^ SEED_TEST) ||
        (a->val && image_source_init(&d->val_src, &d->val, binarizations[a->binarize], a->cfg.seed ^ SEED_VAL))) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    return 0;
}

/* A checksum of every image and label the run uses, in order. */
static uint32_t data_crc(const run_data *d)
{
    const vae_dataset *sets[3];
    uint32_t crc = 0;
    int i;
    sets[0] = &d->train;
    sets[1] = &d->val;
    sets[2] = &d->test;
    for (i = 0; i < 3; i++) {
        uint32_t n = (uint32_t)sets[i]->n;
        crc = vae_crc32(crc, &n, sizeof n);
        if (sets[i]->n > 0) {
            crc = vae_crc32(crc, sets[i]->pixels, (size_t)sets[i]->n * (size_t)sets[i]->dim);
            if (sets[i]->labels)
                crc = vae_crc32(crc, sets[i]->labels, (size_t)sets[i]->n);
        }
    }
    return crc;
}

/* The model for the data: their size and geometry, a batch no larger than
   the training set. 0, or the exit status after printing why. */
static int create_model(const train_args *a, const vae_dataset *train, vae **m)
{
    vae_config cfg = a->cfg;
    vae_status st;
    tool_device d;
    if (parse_device(a->device, &d) != 0)
        return EXIT_USAGE;
    cfg.input_dim = train->dim;
    cfg.image_rows = train->rows;
    cfg.image_cols = train->cols;
    cfg.image_channels = 1;
    if (cfg.max_batch > train->n)
        cfg.max_batch = train->n;
    if ((double)cfg.max_batch * cfg.k > VAE_MAX_ROWS) {
        cli_error("--batch times --k is %.0f samples per step (batch %d, k %d), over the limit of %d",
                  (double)cfg.max_batch * cfg.k, cfg.max_batch, cfg.k, VAE_MAX_ROWS);
        return EXIT_USAGE;
    }
    if (a->kl_warmup > 0)
        cfg.beta = 0.0f; /* the warm-up starts from 0 */
    st = vae_create(m, &cfg, &d.opt);
    if (st != VAE_OK) {
        /* the options were checked; this is what the data added */
        cli_error("cannot create the model: %s", vae_error(*m));
        return st == VAE_ERR_ARG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    return 0;
}

// ---- files ----

/* What a run writes, and where. */
typedef struct {
    char model[MAX_PATH], best[MAX_PATH], log[MAX_PATH], summary[MAX_PATH];
    char samples[MAX_PATH], recon[MAX_PATH], curves[MAX_PATH], report[MAX_PATH];
} run_paths;

/* Creates dir and checks that it can be written, before any training. 0,
   or the exit status after printing why. */
static int prepare_output(const char *dir, run_paths *p)
{
    if (!join_path(p->model, sizeof p->model, dir, "model.vae") ||
        !join_path(p->best, sizeof p->best, dir, "best.vae") || !join_path(p->log, sizeof p->log, dir, "log.csv") ||
        !join_path(p->summary, sizeof p->summary, dir, "summary.txt") ||
        !join_path(p->samples, sizeof p->samples, dir, "samples.png") ||
        !join_path(p->recon, sizeof p->recon, dir, "reconstructions.png") ||
        !join_path(p->curves, sizeof p->curves, dir, "curves.svg") ||
        !join_path(p->report, sizeof p->report, dir, "report.html")) {
        cli_error("--out path is too long");
        return EXIT_RUNTIME;
    }
    if (make_dirs(dir) != 0) {
        cli_error("cannot create directory '%s': %s", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    if (can_write(p->log) != 0) {
        cli_error("cannot write in '%s': %s", dir, strerror(errno));
        return EXIT_RUNTIME;
    }
    return 0;
}

/* One epoch's line of log.csv. */
typedef struct {
    double train_bound, test_bound, val_bound, seconds, objective, perplexity;
} log_row;

/* A growing text in memory. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} text;

static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (t->failed)
        return;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if ((size_t)n < room && t->p) {
            t->len += (size_t)n;
            return;
        }
        {
            size_t cap = t->cap ? t->cap : 4096;
            char *q;
            while (cap - t->len <= (size_t)n)
                cap *= 2;
            if (!(q = realloc(t->p, cap))) {
                t->failed = 1;
                return;
            }
            t->p = q;
            t->cap = cap;
        }
    }
}

// ---- the run ----

/* Everything a run is, between two steps: what --resume restores. */
typedef struct {
    train_args a;
    char **argv;               /* the command line, for the checkpoint */
    int argc;
    char cwd[MAX_PATH];
    run_data d;
    run_paths paths;
    vae *m;
    vae_binarize mode;
    vae_rng shuffle_rng, binarize_rng;
    int *idx;                  /* the order of the training images */
    float *batch;              /* (max_batch, D) */
    uint32_t crc;
    int epoch, position, done; /* the epoch in progress, images of it done; the run ended */
    double bound_sum, objective_sum;
    log_row *rows;             /* the finished epochs */
    int best_epoch, since_best;
    double best_val;
    double trained_seconds, eval_seconds;
    long trained_images;       /* by this process, in trained_seconds */
    thread_governor gov;
    int started_at;            /* the position where this process took up the epoch */
    progress bar;
} run;

static void run_free(run *r)
{
    vae_free(r->m);
    data_free(&r->d);
    free(r->idx);
    free(r->batch);
    free(r->rows);
    if (r->argv) {
        int i;
        for (i = 0; i < r->argc; i++)
            free(r->argv[i]);
        free(r->argv);
    }
}

static int with_objective(const run *r)
{
    return r->a.cfg.beta != 1.0f || r->a.kl_warmup > 0;
}

/* The log of the finished epochs, header and rows, written whole. */
static int write_log(const run *r)
{
    text t = {NULL, 0, 0, 0};
    int e, val = r->a.val > 0, obj = with_objective(r), mog = r->a.cfg.prior == VAE_PRIOR_MOG, ok;
    add(&t, "epoch,train_bound,test_bound,seconds%s%s%s\n", val ? ",val_bound" : "", obj ? ",train_objective" : "",
        mog ? ",perplexity" : "");
    for (e = 0; e < r->epoch - 1; e++) {
        const log_row *w = &r->rows[e];
        add(&t, "%d,%.4f,%.4f,%.3f", e + 1, w->train_bound, w->test_bound, w->seconds);
        if (val)
            add(&t, ",%.4f", w->val_bound);
        if (obj)
            add(&t, ",%.4f", w->objective);
        if (mog)
            add(&t, ",%.4f", w->perplexity);
        add(&t, "\n");
    }
    ok = !t.failed && write_atomic(r->paths.log, t.p, t.len) == 0;
    free(t.p);
    return ok ? 0 : -1;
}

static void add_rng(text *t, const char *name, const vae_rng *g)
{
    add(t, "rng %s %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 "\n", name, g->s[0], g->s[1], g->s[2],
        g->s[3]);
}

/* The trainer's state as text (the format is at the top of this file). */
static char *state_text(const run *r, size_t *len)
{
    text t = {NULL, 0, 0, 0};
    int i;
    add(&t, "vae-train 1\ncwd %s\n", r->cwd);
    for (i = 0; i < r->argc; i++)
        add(&t, "arg %s\n", r->argv[i]);
    add(&t, "epochs %d\n", r->a.epochs);
    add(&t, "data_crc %08" PRIx32 "\nat %d %d %d\nsums %.17g %.17g\n", r->crc, r->epoch, r->position, r->done,
        r->bound_sum, r->objective_sum);
    add_rng(&t, "shuffle", &r->shuffle_rng);
    add_rng(&t, "binarize", &r->binarize_rng);
    add(&t, "best %d %.17g %d\n", r->best_epoch, r->best_val, r->since_best);
    for (i = 0; i < r->epoch - 1; i++) {
        const log_row *w = &r->rows[i];
        add(&t, "row %.17g %.17g %.17g %.17g %.17g\n", w->train_bound, w->test_bound, w->val_bound, w->objective,
            w->perplexity);
    }
    add(&t, "order %d", r->d.train.n);
    for (i = 0; i < r->d.train.n; i++)
        add(&t, " %d", r->idx[i]);
    add(&t, "\n");
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}

/* model.vae with the trainer's state. 0, or the exit status after
   printing why. */
static int save_run(run *r)
{
    size_t len;
    char *state = state_text(r, &len);
    int ok = state && vae_set_app_data(r->m, state, len) == VAE_OK && vae_save(r->m, r->paths.model) == VAE_OK;
    free(state);
    if (!ok) {
        cli_error("cannot save the model: %s", state ? vae_error(r->m) : "out of memory");
        return EXIT_RUNTIME;
    }
    return 0;
}

/* beta for the step about to start: with a warm-up, rising linearly from 0
   over kl_warmup epochs, counted in images. */
static float beta_now(const run *r)
{
    double t;
    if (r->a.kl_warmup <= 0)
        return r->a.cfg.beta;
    t = (r->epoch - 1 + (double)r->position / r->d.train.n) / r->a.kl_warmup;
    return t >= 1.0 ? r->a.cfg.beta : (float)(t * r->a.cfg.beta);
}

/* Draws the progress line. */
static void show_progress(run *r, double rate)
{
    char label[32], info[96], left[16], run_left[16];
    int n = r->d.train.n;
    double epoch_left = (n - r->position) / rate, per_epoch = n / rate + r->eval_seconds;
    snprintf(label, sizeof label, "epoch %d/%d", r->epoch, r->a.epochs);
    format_duration(epoch_left + r->eval_seconds, left, sizeof left);
    format_duration(epoch_left + r->eval_seconds + (r->a.epochs - r->epoch) * per_epoch, run_left, sizeof run_left);
    snprintf(info, sizeof info, "%.2f  %.0f img/s  %s left (run %s)",
             r->position ? r->bound_sum / r->position : 0.0, rate, left, run_left);
    progress_show(&r->bar, label, (double)r->position / n, info);
}

/* The rest of the epoch in progress, from r->position; the images are
   shuffled when it starts at 0. Returns early, with VAE_OK, when a signal
   asks to stop. */
static vae_status train_epoch(run *r, double *seconds)
{
    double t0 = platform_wall_seconds();
    int n = r->d.train.n, batch = vae_get_config(r->m)->max_batch, nb;
    *seconds = 0.0;
    if (stop_signal)
        return VAE_OK; /* before the shuffle, which the saved position 0 must not include */
    r->started_at = r->position;
    if (r->position == 0)
        vae_rng_shuffle(&r->shuffle_rng, r->idx, n);
    governor_start(&r->gov);
    for (; r->position < n && !stop_signal; r->position += nb) {
        float b;
        vae_status st;
        nb = n - r->position < batch ? n - r->position : batch;
        if (r->a.kl_warmup > 0 && (st = vae_set_beta(r->m, beta_now(r))) != VAE_OK)
            return st;
        vae_dataset_batch(&r->d.train, r->idx + r->position, nb, r->mode, &r->binarize_rng, r->batch);
        if ((st = vae_train_step(r->m, r->batch, nb, NULL, &b)) != VAE_OK)
            return st;
        governor_step_done(&r->gov);
        r->bound_sum += (double)b * nb;
        r->objective_sum += vae_last_objective(r->m) * nb;
        if (progress_due(&r->bar)) {
            double done = (double)r->trained_images + r->position + nb - r->started_at;
            show_progress(r, done / (r->trained_seconds + platform_wall_seconds() - t0));
        }
    }
    *seconds = platform_wall_seconds() - t0;
    return VAE_OK;
}

/* Why a step failed, in one line naming what was kept. */
static void report_step_failure(run *r, vae_status st)
{
    progress_clear(&r->bar);
    if (st == VAE_ERR_NUMERIC && r->epoch > 1)
        cli_error("training diverged at step %ld, in epoch %d: %s; %s keeps epoch %d", vae_steps(r->m) + 1, r->epoch,
                  vae_error(r->m), r->paths.model, r->epoch - 1);
    else if (st == VAE_ERR_NUMERIC)
        cli_error("training diverged at step %ld, in epoch 1: %s; nothing was saved", vae_steps(r->m) + 1,
                  vae_error(r->m));
    else
        cli_error("training step failed: %s", vae_error(r->m));
}

// ---- pictures ----

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

/* After an epoch: samples.png, reconstructions.png, curves.svg and
   report.html, each written whole. They show a fixed set of latent points
   (from the run's seed) and the first test images, and draw no noise from
   the model's generator, so that the run trains exactly as without them.
   0, or the exit status after printing why. */
static int write_pictures(run *r, const log_row *row, int e)
{
    const vae_config *c = vae_get_config(r->m);
    const run_paths *p = &r->paths;
    int Z = c->latent_dim, n_test = r->d.test.n, n_codes = n_test < REPORT_CODES ? n_test : REPORT_CODES;
    int status = EXIT_RUNTIME;
    uint64_t seed = r->a.cfg.seed ^ SEED_PICTURES;
    picture samples = {NULL, 0, 0, 0}, recon = {NULL, 0, 0, 0};
    unsigned char *samples_png = NULL, *recon_png = NULL;
    size_t samples_len = 0, recon_len = 0;
    char *curves = NULL, *scatter = NULL, *html = NULL, config[4096], summary[160];
    const char *logs[1], *title = r->a.out;
    double *mean = malloc((size_t)Z * sizeof *mean), *dir = malloc((size_t)2 * Z * sizeof *dir);
    float *check_z = malloc((size_t)REPORT_SAMPLES * Z * sizeof *check_z);
    /* the first test images, for as long as the pictures take */
    float *codes_x = malloc((size_t)n_codes * (size_t)c->input_dim * sizeof *codes_x);
    report_inputs in;
    logs[0] = p->log;
    memset(&in, 0, sizeof in);
    if (!mean || !dir || !check_z || !codes_x) {
        cli_error("out of memory for the pictures");
        goto done;
    }
    image_source_get(&r->d.test_src, 0, n_codes, codes_x);
    if (sample_picture(r->m, REPORT_SAMPLES, seed, 0, &samples) != 0 ||
        reconstruction_picture(r->m, codes_x, n_test < 16 ? n_test : 16, &recon) != 0 ||
        curves_chart(logs, &title, 1, &curves) != 0 ||
        latent_scatter(r->m, codes_x, r->d.test.labels, n_codes, &scatter) != 0)
        goto done;
    if (picture_save(&samples, p->samples, &samples_png, &samples_len) != 0 ||
        picture_save(&recon, p->recon, &recon_png, &recon_len) != 0 ||
        write_atomic(p->curves, curves, strlen(curves)) != 0) {
        cli_error("cannot write the pictures in '%s': %s", r->a.out, strerror(errno));
        goto done;
    }
    if ((Z > 2 && explorer_plane(r->m, codes_x, n_codes, mean, dir, in.extent) != 0) ||
        vae_prior_sample(r->m, REPORT_SAMPLES, seed, check_z) != VAE_OK) {
        cli_error("cannot make the report's explorer: %s", vae_error(r->m));
        goto done;
    }
    config_lines(c, config, sizeof config);
    snprintf(summary, sizeof summary, "epoch %d of %d: train %.2f, test %.2f nats per image", e, r->a.epochs,
             row->train_bound, row->test_bound);
    in.title = title;
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
    free(codes_x);
    return status;
}

// ---- epochs ----

/* What ends an epoch: the test and validation bounds, best.vae, the
   checkpoint, the log, the pictures. 0, or the exit status. */
static int end_epoch(run *r, double seconds)
{
    const vae_config *c = vae_get_config(r->m);
    log_row *row = &r->rows[r->epoch - 1];
    int e = r->epoch, n = r->d.train.n, improved = 0, status;
    double t0;
    vae_status st;
    row->train_bound = r->bound_sum / n;
    row->objective = r->objective_sum / n;
    row->seconds = seconds;
    r->trained_seconds += seconds;
    r->trained_images += n - r->started_at;
    if (r->bar.on) {
        char label[32];
        snprintf(label, sizeof label, "epoch %d/%d", e, r->a.epochs);
        progress_show(&r->bar, label, 1.0, "computing the test bound");
    }
    t0 = platform_wall_seconds();
    st = source_bounds(r->m, &r->d.test_src, r->d.test.n, c->objective, c->k, r->d.each, &row->test_bound);
    if (st == VAE_OK && r->a.val)
        st = source_bounds(r->m, &r->d.val_src, r->d.val.n, c->objective, c->k, r->d.each, &row->val_bound);
    if (st == VAE_OK)
        st = vae_prior_perplexity(r->m, &row->perplexity);
    r->eval_seconds = platform_wall_seconds() - t0;
    progress_clear(&r->bar);
    if (st != VAE_OK) {
        cli_error("evaluation failed in epoch %d: %s", e, vae_error(r->m));
        return EXIT_RUNTIME;
    }
    if (r->a.val) {
        improved = r->best_epoch == 0 || row->val_bound > r->best_val;
        if (improved) {
            r->best_epoch = e;
            r->best_val = row->val_bound;
            r->since_best = 0;
        } else {
            r->since_best++;
        }
    }
    /* the next epoch starts from here */
    r->epoch = e + 1;
    r->position = 0;
    r->bound_sum = r->objective_sum = 0.0;
    r->done = e >= r->a.epochs || (r->a.patience && r->since_best >= r->a.patience);
    if (improved && (vae_set_app_data(r->m, NULL, 0) != VAE_OK || vae_save(r->m, r->paths.best) != VAE_OK)) {
        cli_error("cannot save the best model: %s", vae_error(r->m));
        return EXIT_RUNTIME;
    }
    if ((status = save_run(r)) != 0)
        return status;
    if (write_log(r) != 0) {
        cli_error("cannot write '%s': %s", r->paths.log, strerror(errno));
        return EXIT_RUNTIME;
    }
    printf("epoch %d/%d  train %.2f  test %.2f", e, r->a.epochs, row->train_bound, row->test_bound);
    if (r->a.val)
        printf("  val %.2f%s", row->val_bound, improved ? " (best)" : "");
    if (with_objective(r))
        printf("  objective %.2f (beta %.3g)", row->objective, (double)vae_get_config(r->m)->beta);
    printf("  %.1f s  %.0f img/s", row->seconds, (n - r->started_at) / row->seconds);
    if (c->prior == VAE_PRIOR_MOG)
        printf("  perplexity %.2f", row->perplexity);
    printf("\n");
    fflush(stdout);
    if (r->a.pictures == 0 && (status = write_pictures(r, row, e)) != 0)
        return status;
    return 0;
}

/* The test bound and, with --nll, the test NLL of the final model:
   best.vae with --val, else the last. Printed, and in summary.txt. */
static int finish_run(run *r)
{
    vae *final = r->m;
    const vae_config *c;
    double bound, ll = 0.0;
    int n_nll = r->d.test.n, status = EXIT_RUNTIME, epoch = r->epoch - 1, i;
    double *each = NULL;
    text t = {NULL, 0, 0, 0};
    /* best.vae sizes its buffers for the threads it may get */
    governor_finish(&r->gov);
    if (r->a.val && load_model(r->paths.best, r->a.device, &final) != 0)
        return EXIT_RUNTIME;
    if (r->a.val)
        epoch = r->best_epoch;
    c = vae_get_config(final);
    if (r->a.nll_limit && r->a.nll_limit < n_nll)
        n_nll = r->a.nll_limit;
    if (source_bounds(final, &r->d.test_src, r->d.test.n, c->objective, c->k, r->d.each, &bound) != VAE_OK) {
        cli_error("evaluating the final model failed: %s", vae_error(final));
        goto done;
    }
    if (r->a.nll) {
        if (!(each = malloc((size_t)n_nll * sizeof *each))) {
            cli_error("out of memory");
            goto done;
        }
        governor_init(&r->gov, r->gov.most, r->gov.fixed);
        if (log_likelihoods(final, &r->d.test_src, n_nll, r->a.nll, each, &r->gov) != VAE_OK) {
            cli_error("the test NLL failed: %s", vae_error(final));
            goto done;
        }
    }
    for (i = 0; i < n_nll && r->a.nll; i++)
        ll += each[i];
    ll /= n_nll;
    add(&t, "model %s\nepoch %d\n", r->a.val ? "best.vae" : "model.vae", epoch);
    if (r->a.val)
        add(&t, "val_bound %.4f\n", r->best_val);
    add(&t, "test_bound %.4f\n", bound);
    if (r->a.nll)
        add(&t, "test_nll %.4f\nnll_k %d\nnll_images %d\n", -ll, r->a.nll, n_nll);
    if (t.failed || write_atomic(r->paths.summary, t.p, t.len) != 0) {
        cli_error("cannot write '%s': %s", r->paths.summary, strerror(errno));
        goto done;
    }
    printf("final: %s of epoch %d: test bound %.2f", r->a.val ? "the best model" : "the model", epoch, bound);
    if (r->a.nll)
        printf(", test NLL %.2f (K = %d, %d images)", -ll, r->a.nll, n_nll);
    printf("\nlog: %s\nmodel: %s\n", r->paths.log, r->paths.model);
    if (r->a.val)
        printf("best: %s\n", r->paths.best);
    printf("summary: %s\n", r->paths.summary);
    if (r->a.pictures == 0)
        printf("report: %s\npictures: %s, %s, %s\n", r->paths.report, r->paths.samples, r->paths.recon,
               r->paths.curves);
    status = 0;
done:
    free(t.p);
    free(each);
    if (final != r->m)
        vae_free(final);
    return status;
}

/* Trains until the run's last epoch, its patience, a failure or a signal. */
static int run_epochs(run *r)
{
    int status;
    platform_catch_stop(on_stop);
    progress_init(&r->bar);
    governor_init(&r->gov, r->a.threads_given ? r->a.threads : default_threads(), r->a.threads_given);
    status = 0;
    while (!r->done && !status) {
        double seconds;
        vae_status st = train_epoch(r, &seconds);
        if (st != VAE_OK) {
            report_step_failure(r, st);
            status = EXIT_RUNTIME;
        } else if (stop_signal) {
            /* the position inside the epoch goes into model.vae */
            progress_clear(&r->bar);
            if (save_run(r) == 0) {
                fprintf(stderr, "vae: stopped in epoch %d after %d of %d images; go on with: vae train --resume %s\n",
                        r->epoch, r->position, r->d.train.n, r->a.out);
                status = stop_signal == SIGTERM ? 143 : 130;
            } else {
                status = EXIT_RUNTIME;
            }
        } else {
            status = end_epoch(r, seconds);
        }
    }
    platform_release_stop();
    if (status == 0 && stop_signal) {
        /* asked to stop during the last epoch's end: the state is saved,
           and a resume does the final evaluation */
        fprintf(stderr, "vae: stopped before the final evaluation; go on with: vae train --resume %s\n", r->a.out);
        return stop_signal == SIGTERM ? 143 : 130;
    }
    if (status == 0 && r->a.patience && r->since_best >= r->a.patience)
        printf("stopped: the validation bound has not improved for %d epochs\n", r->a.patience);
    return status ? status : finish_run(r);
}

/* Buffers and the first epoch's state of a run whose model and data are
   loaded. 0, or the exit status. */
static int start_run(run *r)
{
    int n = r->d.train.n, i;
    r->mode = binarizations[r->a.binarize];
    r->idx = malloc((size_t)n * sizeof *r->idx);
    r->batch = malloc((size_t)vae_get_config(r->m)->max_batch * (size_t)r->d.train.dim * sizeof *r->batch);
    r->rows = calloc((size_t)r->a.epochs, sizeof *r->rows);
    if (!r->idx || !r->batch || !r->rows) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    for (i = 0; i < n; i++)
        r->idx[i] = i;
    vae_rng_seed(&r->shuffle_rng, r->a.cfg.seed ^ SEED_SHUFFLE);
    vae_rng_seed(&r->binarize_rng, r->a.cfg.seed ^ SEED_BINARIZE);
    r->epoch = 1;
    return 0;
}

static void describe(const run *r)
{
    const vae_config *c = vae_get_config(r->m);
    char what[1024], layers[640], t[5][32];
    int i, n = snprintf(layers, sizeof layers, "%d", c->input_dim);
    for (i = 0; i < c->n_hidden && n > 0 && (size_t)n < sizeof layers; i++)
        n += snprintf(layers + n, sizeof layers - (size_t)n, "-%d", c->hidden[i]);
    snprintf(layers + n, sizeof layers - (size_t)n, "-%d %s", c->latent_dim,
             field_text(c, "activation", t[0], sizeof t[0]));
    if (c->encoder[0] || c->decoder[0]) /* the layers as given; vae info MODEL tabulates them */
        snprintf(layers, sizeof layers, "encoder \"%s\", z %d%s, decoder \"%s\"", c->encoder[0] ? c->encoder : "mlp",
                 c->latent_dim, c->posterior == VAE_POSTERIOR_ISOTROPIC ? " (isotropic)" : "",
                 c->decoder[0] ? c->decoder : "mlp");
    snprintf(what, sizeof what, "%s, %s likelihood%s, %s prior", layers, field_text(c, "likelihood", t[1], sizeof t[1]),
             c->likelihood != VAE_GAUSSIAN                 ? ""
             : c->mean == VAE_MEAN_LINEAR ? c->sigma == 0.0f ? " (linear mean, sigma learned)" : " (linear mean, sigma fixed)"
             : c->sigma == 0.0f            ? " (sigma learned)"
                                           : " (sigma fixed)",
             field_text(c, "prior", t[2], sizeof t[2]));
    printf("model %s%s, %s k=%d%s", what, c->prior == VAE_PRIOR_MOG ? " (mixture)" : "",
           field_text(c, "objective", t[3], sizeof t[3]), c->k, c->kl == VAE_KL_ANALYTIC ? " (analytic KL)" : "");
    if (with_objective(r))
        printf(", beta %g%s", (double)r->a.cfg.beta, r->a.kl_warmup > 0 ? " after a warm-up" : "");
    printf(", %s lr %g, batch %d, seed %" PRIu64 "\n", field_text(c, "optimizer", t[4], sizeof t[4]), (double)c->lr,
           c->max_batch, r->a.cfg.seed);
    printf("data  %d training images, ", r->d.train.n);
    if (r->a.val)
        printf("%d validation images, ", r->d.val.n);
    printf("%d test images, %s\n", r->d.test.n,
           r->a.binarize == BINARIZE_NONE      ? "pixels as pixel / 255"
           : r->a.binarize == BINARIZE_DYNAMIC ? "dynamic binarisation"
                                               : "static binarisation");
    fflush(stdout);
}

// ---- resuming ----

/* Reads the trainer's state from text (NUL-terminated, modified) into r,
   whose options, data and buffers are in place. 0, or -1 when it is not
   the state this program writes. */
static int parse_state(run *r, char *s)
{
    /* each key but row once, all of them there */
    enum { VERSION = 1, CRC = 2, AT = 4, SUMS = 8, SHUFFLE = 16, BINARIZE = 32, BEST = 64, ORDER = 128, ALL = 255 };
    char *line, *next, *seen = calloc((size_t)r->d.train.n, 1);
    int rows = 0, got = 0, key, batch = vae_get_config(r->m)->max_batch, ok = seen != NULL;
    for (line = s; ok && *line; line = next) {
        char *v;
        if (!(next = strchr(line, '\n')) || !(v = strchr(line, ' ')) || v > next)
            break;
        *next++ = '\0';
        *v++ = '\0';
        key = 0;
        if (strcmp(line, "vae-train") == 0) {
            key = VERSION;
            ok = atoi(v) == 1;
        } else if (strcmp(line, "data_crc") == 0) {
            key = CRC;
            r->crc = (uint32_t)strtoul(v, NULL, 16);
        } else if (strcmp(line, "at") == 0) {
            key = AT;
            ok = sscanf(v, "%d %d %d", &r->epoch, &r->position, &r->done) == 3;
        } else if (strcmp(line, "sums") == 0) {
            key = SUMS;
            ok = sscanf(v, "%lf %lf", &r->bound_sum, &r->objective_sum) == 2;
        } else if (strcmp(line, "rng") == 0) {
            char which[16];
            vae_rng g;
            ok = sscanf(v, "%15s %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, which, &g.s[0], &g.s[1], &g.s[2],
                        &g.s[3]) == 5 &&
                 (g.s[0] | g.s[1] | g.s[2] | g.s[3]) != 0; /* xoshiro's one fixed point */
            key = strcmp(which, "shuffle") == 0 ? SHUFFLE : strcmp(which, "binarize") == 0 ? BINARIZE : 0;
            if (key == SHUFFLE)
                r->shuffle_rng = g;
            else if (key == BINARIZE)
                r->binarize_rng = g;
            else
                ok = 0;
        } else if (strcmp(line, "best") == 0) {
            key = BEST;
            ok = sscanf(v, "%d %lf %d", &r->best_epoch, &r->best_val, &r->since_best) == 3;
        } else if (strcmp(line, "row") == 0) {
            log_row w;
            ok = rows < r->a.epochs && sscanf(v, "%lf %lf %lf %lf %lf", &w.train_bound, &w.test_bound, &w.val_bound,
                                             &w.objective, &w.perplexity) == 5;
            w.seconds = 0.0; /* read from log.csv, which has them */
            if (ok)
                r->rows[rows++] = w;
        } else if (strcmp(line, "order") == 0) {
            /* a permutation of the training images */
            char *p = v, *end;
            long count = strtol(p, &end, 10), i;
            key = ORDER;
            ok = count == r->d.train.n;
            for (i = 0, p = end; ok && i < count; i++, p = end) {
                long k = strtol(p, &end, 10);
                ok = end != p && k >= 0 && k < count && !seen[k];
                if (ok) {
                    seen[k] = 1;
                    r->idx[i] = (int)k;
                }
            }
            ok = ok && *end == '\0';
        }
        if (key & got)
            ok = 0;
        got |= key;
    }
    free(seen);
    /* the epoch in progress is one of the run's (or, the run done, the
       one after them), at a step's start */
    return ok && !*line && got == ALL && rows == r->epoch - 1 && r->epoch >= 1 &&
                   (r->done == 1 || (r->done == 0 && r->epoch <= r->a.epochs)) && r->position >= 0 &&
                   r->position < r->d.train.n && r->position % batch == 0 && r->best_epoch >= 0 &&
                   r->best_epoch < r->epoch && r->since_best >= 0
               ? 0
               : -1;
}

/* The seconds of the finished epochs, which the state leaves out, from the
   run's log.csv (0 where it cannot tell). */
static void recover_seconds(run *r)
{
    unsigned char *data;
    size_t len;
    char why[300], *csv, *line, *next;
    int col_epoch = -1, col_seconds = -1, row = 0;
    if (vae_read_file(r->paths.log, (size_t)1 << 24, &data, &len, why, sizeof why) != VAE_OK)
        return;
    if ((csv = malloc(len + 1)) != NULL) {
        memcpy(csv, data, len);
        csv[len] = '\0';
        for (line = csv; *line; line = next, row++) {
            char *field = line;
            int c, epoch = 0;
            double seconds = 0.0;
            next = line + strcspn(line, "\n");
            if (*next)
                *next++ = '\0';
            for (c = 0;; c++) {
                char *end = field + strcspn(field, ","), keep = *end;
                *end = '\0';
                if (row == 0 && strcmp(field, "epoch") == 0)
                    col_epoch = c;
                else if (row == 0 && strcmp(field, "seconds") == 0)
                    col_seconds = c;
                else if (row > 0 && c == col_epoch)
                    epoch = atoi(field);
                else if (row > 0 && c == col_seconds)
                    seconds = atof(field);
                if (keep != ',')
                    break;
                field = end + 1;
            }
            if (row > 0 && epoch >= 1 && epoch < r->epoch)
                r->rows[epoch - 1].seconds = seconds;
        }
        free(csv);
    }
    free(data);
}

/* A path from the stopped run's command line, as seen from here: relative
   ones are relative to where that run started. */
static const char *from_cwd(const run *r, const char *path, char *buf, size_t size)
{
    if (!path || path[0] == '/' || !r->cwd[0])
        return path;
    return join_path(buf, size, r->cwd, path) ? buf : path;
}

/* `vae train --resume DIR`: the run in DIR, as it stopped. 0, or the exit
   status after printing why. */
static int resume_run(run *r, const train_args *now)
{
    static char bufs[5][MAX_PATH]; /* the data paths, which r->a points into */
    char path[MAX_PATH], *state = NULL;
    const void *app;
    size_t len;
    int status = EXIT_RUNTIME, stored_epochs = 0, finish_only = 0;
    const char *dir = now->resume;
    vae_options sizes = {0};
    tool_device device;
    if (!join_path(path, sizeof path, dir, "model.vae") || !file_exists(path)) {
        cli_error("--resume %s: no model.vae there to go on from", dir);
        return EXIT_USAGE;
    }
    if ((status = load_model(path, NULL, &r->m)) != 0)
        return status;
    status = EXIT_RUNTIME;
    app = vae_get_app_data(r->m, &len);
    if (!app || len < 10 || memcmp(app, "vae-train ", 10) != 0) {
        cli_error("%s: not a checkpoint of vae train (no training state in it)", path);
        return EXIT_USAGE;
    }
    if (!(state = malloc(len + 1))) {
        cli_error("out of memory");
        return EXIT_RUNTIME;
    }
    memcpy(state, app, len);
    state[len] = '\0';
    /* The options first, as the run's own words: they say what data to
       load, and the state after them needs the data's sizes. */
    {
        char *line = state, *next;
        int st;
        r->argv = calloc(MAX_ARGS, sizeof *r->argv);
        for (; r->argv && *line; line = next) {
            size_t n;
            next = line + strcspn(line, "\n");
            n = (size_t)(next - line);
            if (*next)
                next++;
            if (n > 7 && strncmp(line, "epochs ", 7) == 0) {
                stored_epochs = atoi(line + 7);
            } else if (n > 4 && strncmp(line, "cwd ", 4) == 0 && n - 4 < sizeof r->cwd) {
                memcpy(r->cwd, line + 4, n - 4);
                r->cwd[n - 4] = '\0';
            } else if (n >= 4 && strncmp(line, "arg ", 4) == 0) {
                if (r->argc == MAX_ARGS || !(r->argv[r->argc] = malloc(n - 3)))
                    break;
                memcpy(r->argv[r->argc], line + 4, n - 4);
                r->argv[r->argc++][n - 4] = '\0';
            }
        }
        if (!r->argv || *line) {
            cli_error("%s: its training state is damaged (or memory ran out)", path);
            goto done;
        }
        if (train_parse(&r->a, r->argc, r->argv, &st) != OPT_OK) {
            cli_error("%s: the run's options no longer parse", path);
            status = EXIT_USAGE;
            goto done;
        }
    }
    r->a.data = from_cwd(r, r->a.data, bufs[0], sizeof bufs[0]);
    r->a.train = from_cwd(r, r->a.train, bufs[1], sizeof bufs[1]);
    r->a.train_labels = from_cwd(r, r->a.train_labels, bufs[2], sizeof bufs[2]);
    r->a.test = from_cwd(r, r->a.test, bufs[3], sizeof bufs[3]);
    r->a.test_labels = from_cwd(r, r->a.test_labels, bufs[4], sizeof bufs[4]);
    r->a.out = dir;
    /* the state leaves pictures out (they change no bit of the model): the
       run had them on if it wrote its report */
    r->a.threads = now->threads;
    r->a.threads_given = now->threads_given;
    r->a.device = now->device;
    if (now->pictures_given)
        r->a.pictures = now->pictures;
    else
        r->a.pictures = join_path(path, sizeof path, dir, "report.html") && file_exists(path) ? 0 : 1;
    if (!join_path(path, sizeof path, dir, "model.vae"))
        goto done;
    if ((status = load_data(&r->a, &r->d)) != 0)
        goto done;
    status = EXIT_RUNTIME;
    if (r->d.train.dim != vae_get_config(r->m)->input_dim) {
        cli_error("--resume %s: the data now have %dx%d images, the model %d values per image", dir,
                  r->d.train.rows, r->d.train.cols, vae_get_config(r->m)->input_dim);
        status = EXIT_USAGE;
        goto done;
    }
    if (stored_epochs < 1 || stored_epochs > 100000) {
        cli_error("%s: its training state is damaged", path);
        goto done;
    }
    r->a.epochs = stored_epochs;
    if (now->epochs_given) {
        if (now->epochs < stored_epochs) {
            cli_error("--epochs %d: the run was for %d; it may only be raised", now->epochs, stored_epochs);
            status = EXIT_USAGE;
            goto done;
        }
        r->a.epochs = now->epochs;
    }
    /* buffers for the run's batch (the data capped it, as when it was
       made), whatever vae_load's own limits made of them */
    vae_free(r->m);
    r->m = NULL;
    sizes.max_batch = r->a.cfg.max_batch < r->d.train.n ? r->a.cfg.max_batch : r->d.train.n;
    if (parse_device(now->device, &device) != 0) {
        status = EXIT_USAGE;
        goto done;
    }
    sizes.backend = device.opt.backend;
    sizes.backend_params = device.opt.backend_params;
    if (vae_load_ex(&r->m, path, &sizes) != VAE_OK) {
        cli_error("%s", vae_error(r->m));
        goto done;
    }
    if (start_run(r) != 0)
        goto done;
    {
        uint32_t crc = data_crc(&r->d);
        if (parse_state(r, state) != 0) {
            cli_error("%s: its training state is damaged", path);
            goto done;
        }
        if (r->crc != crc) {
            cli_error("--resume %s: the data changed since the run started (checksum %08" PRIx32 ", now %08" PRIx32
                      "): it cannot go on exactly",
                      dir, r->crc, crc);
            status = EXIT_USAGE;
            goto done;
        }
    }
    if (r->done) {
        int stopped = r->a.patience && r->since_best >= r->a.patience;
        char summary[MAX_PATH];
        /* a run that stopped in its final evaluation (the NLL takes
           minutes) has only that left to do */
        if ((stopped || r->epoch > r->a.epochs) && join_path(summary, sizeof summary, dir, "summary.txt") &&
            !file_exists(summary)) {
            finish_only = 1;
        } else if (stopped) {
            cli_error("--resume %s: the run stopped after %d epochs, the validation bound no better for %d", dir,
                      r->epoch - 1, r->a.patience);
            status = EXIT_USAGE;
            goto done;
        } else if (r->epoch > r->a.epochs) {
            cli_error("--resume %s: the run ended after %d epochs; give --epochs N to train on", dir,
                      r->epoch - 1);
            status = EXIT_USAGE;
            goto done;
        }
    }
    r->done = finish_only;
    if (!join_path(r->paths.log, sizeof r->paths.log, dir, "log.csv"))
        goto done;
    recover_seconds(r);
    if (finish_only)
        printf("resuming %s: its %d epochs are done, its final evaluation is not\n", dir, r->epoch - 1);
    else
        printf("resuming %s in epoch %d after %d of %d images\n", dir, r->epoch, r->position, r->d.train.n);
    status = 0;
done:
    free(state);
    return status;
}

/* How many words an option that the state leaves out of its "arg" lines
   takes (1 with "=value", else 2), or 0: --out, --threads and --pictures
   change nothing the run computes, and --epochs has a line of its own. */
static int unstored_option(const char *word)
{
    static const char *const names[] = {"--out", "--threads", "--pictures", "--epochs", "--device"};
    int i;
    for (i = 0; i < 5; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(word, names[i], n) == 0 && (word[n] == '\0' || word[n] == '='))
            return word[n] == '=' ? 1 : 2;
    }
    return 0;
}

int cmd_train(int argc, char **argv)
{
    run r;
    train_args now;
    int status, i;
    memset(&r, 0, sizeof r);
    if (train_parse(&now, argc, argv, &status) != OPT_OK)
        return status;
    set_threads(now.threads);
    stop_signal = 0;
    if (now.resume) {
        status = resume_run(&r, &now);
    } else {
        r.a = now;
        r.argv = calloc((size_t)(argc > 0 ? argc : 1), sizeof *r.argv);
        if (platform_cwd(r.cwd, sizeof r.cwd) != 0)
            r.cwd[0] = '\0';
        status = r.argv ? 0 : EXIT_RUNTIME;
        for (i = 0; i < argc && status == 0; i++) {
            int skip = unstored_option(argv[i]);
            if (skip) {
                i += skip - 1;
            } else if (strchr(argv[i], '\n')) {
                cli_error("an option holds a line break, which a run cannot keep: '%s'", argv[i]);
                status = EXIT_USAGE;
            } else if ((r.argv[r.argc] = malloc(strlen(argv[i]) + 1)) == NULL) {
                status = EXIT_RUNTIME;
            } else {
                strcpy(r.argv[r.argc++], argv[i]);
            }
        }
        if (status == 0 && (status = load_data(&r.a, &r.d)) == 0 && (status = create_model(&r.a, &r.d.train, &r.m)) == 0)
            status = start_run(&r);
        r.crc = status == 0 ? data_crc(&r.d) : 0;
    }
    if (status == 0)
        status = prepare_output(r.a.out, &r.paths);
    if (status == 0) {
        describe(&r);
        status = run_epochs(&r);
    }
    run_free(&r);
    return status;
}
