/* vae.c — the vae command-line program.

     vae train   trains a VAE or IWAE on IDX images; after every epoch it
                 replaces OUT/model.vae and OUT/log.csv, each atomically
     vae eval    prints a saved model's test bound and, on request, its
                 importance-sampled negative log-likelihood

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

#include "mnist.h"
#include "opts.h"
#include "progress.h"
#include "vae.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

#define MAX_PATH 4096

/* Streams of random numbers the program draws besides the model's own,
   each seeded from --seed xor its constant so that they never coincide. */
#define SEED_SHUFFLE 0x73687566666c65ULL /* "shuffle" */
#define SEED_BINARIZE 0x62696e617279ULL /* "binary" */
#define SEED_TEST 0x74657374ULL          /* "test" */

static const char *const objective_names[] = {"elbo", "iwae", NULL};
static const vae_objective objectives[] = {VAE_ELBO, VAE_IWAE};
static const char *const optimizer_names[] = {"adam", "adamax", NULL};
static const vae_optimizer optimizers[] = {VAE_ADAM, VAE_ADAMAX};
static const char *const activation_names[] = {"tanh", "relu", "leakyrelu", NULL};
static const vae_activation activations[] = {VAE_TANH, VAE_RELU, VAE_LEAKY_RELU};
static const char *const binarize_names[] = {"static", "dynamic", NULL};
static const vae_binarize binarizations[] = {VAE_BINARY_STATIC, VAE_BINARY_DYNAMIC};

/* Set by SIGINT: training stops after the current step. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

// ---- small helpers ----

/* mkdir -p: creates path and any missing parents. 0, or -1 with errno. */
static int make_dirs(const char *path)
{
    char buf[MAX_PATH];
    struct stat st;
    size_t len = strlen(path), i;
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        buf[i] = path[i];
    }
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* dir/name into buf; 0 when it does not fit. */
static int join_path(char *buf, size_t size, const char *dir, const char *name)
{
    size_t len = strlen(dir);
    const char *sep = len > 0 && dir[len - 1] == '/' ? "" : "/";
    int n = snprintf(buf, size, "%s%s%s", dir, sep, name);
    return n > 0 && (size_t)n < size;
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* The whole dataset as floats, (n, dim), binarised by mode; NULL when out
   of memory. */
static float *dataset_floats(const vae_dataset *ds, vae_binarize mode, vae_rng *rng)
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

/* Applies --threads: OpenMP's thread count, or a warning in a build
   without OpenMP (where there is only one thread to use). */
static void set_threads(int threads)
{
    if (threads <= 0)
        return;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    fprintf(stderr, "vae: warning: built without OpenMP, --threads %d ignored\n", threads);
#endif
}

/* "784-200-200-50" */
static void describe_layers(const vae_config *c, char *buf, size_t size)
{
    int i, n = snprintf(buf, size, "%d", c->input_dim);
    for (i = 0; i < c->n_hidden && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "-%d", c->hidden[i]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "-%d", c->latent_dim);
}

// ---- vae train ----

typedef struct {
    const char *data, *train, *test, *out;
    int holdout, limit, threads;
    int epochs, batch, k, latent;
    int objective, optimizer, activation, binarize; /* indices into the name lists */
    double lr, adam_eps;
    opt_list hidden;
    uint64_t seed;
} train_args;

/* Defaults: the library's reference configuration, 10 epochs, out/. */
static void train_defaults(train_args *a)
{
    vae_config c;
    int i;
    vae_config_init(&c);
    memset(a, 0, sizeof *a);
    a->out = "out";
    a->epochs = 10;
    a->batch = c.max_batch;
    a->k = c.k;
    a->latent = c.latent_dim;
    a->objective = c.objective == VAE_IWAE;
    a->optimizer = c.optimizer == VAE_ADAMAX;
    a->activation = c.activation == VAE_RELU ? 1 : c.activation == VAE_LEAKY_RELU ? 2 : 0;
    a->binarize = 0;
    a->lr = c.lr;
    a->adam_eps = c.eps;
    a->hidden.n = c.n_hidden;
    for (i = 0; i < c.n_hidden; i++)
        a->hidden.v[i] = c.hidden[i];
    a->seed = c.seed;
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
    "OUT/log.csv (epoch,train_bound,test_bound,seconds; bounds in nats per\n"
    "image, seconds of training) are replaced atomically: an interrupted or\n"
    "diverged run keeps its last good epoch, and a run that fails before its\n"
    "first epoch leaves OUT as it was.\n"
    "\n"
    "Binarisation: static sets pixels >= 0.5 to 1; dynamic draws a fresh\n"
    "Bernoulli(pixel) image each time one is used, and the test set is then one\n"
    "fixed draw from --seed. A progress bar is drawn on stderr when it is a\n"
    "terminal; one line per epoch goes to stdout.\n"
    "\n"
    "Exit status: 0 done, 1 failed (files, memory, divergence), 2 bad usage.\n";

/* Parses the train command line into *a: OPT_OK, or the exit status. */
static int train_parse(train_args *a, int argc, char **argv, int *status)
{
    opt table[] = {
        {.name = "data", .kind = OPT_STR, .dst = &a->data, .meta = "DIR",
         .help = "read DIR/{train,t10k}-images-idx3-ubyte[.gz]"},
        {.name = "train", .kind = OPT_STR, .dst = &a->train, .meta = "FILE",
         .help = "training images (IDX, plain or .gz)"},
        {.name = "test", .kind = OPT_STR, .dst = &a->test, .meta = "FILE",
         .help = "test images, with --train"},
        {.name = "holdout", .kind = OPT_INT, .dst = &a->holdout, .meta = "N",
         .help = "test on the last N training images instead", .def = "none",
         .min = 1, .max = 2147483647},
        {.name = "limit", .kind = OPT_INT, .dst = &a->limit, .meta = "N",
         .help = "use only the first N training images, for quick tests", .def = "all",
         .min = 1, .max = 2147483647},
        {.name = "epochs", .kind = OPT_INT, .dst = &a->epochs, .meta = "N",
         .help = "passes over the training images", .min = 1, .max = 100000},
        {.name = "batch", .kind = OPT_INT, .dst = &a->batch, .meta = "N",
         .help = "images per optimiser step", .min = 1, .max = 1 << 20},
        {.name = "objective", .kind = OPT_CHOICE, .dst = &a->objective,
         .help = "bound to maximise", .choices = objective_names},
        {.name = "k", .kind = OPT_INT, .dst = &a->k, .meta = "N",
         .help = "samples of z per image", .min = 1, .max = 1 << 20},
        {.name = "optimizer", .kind = OPT_CHOICE, .dst = &a->optimizer,
         .help = "update rule", .choices = optimizer_names},
        {.name = "lr", .kind = OPT_REAL, .dst = &a->lr, .meta = "X",
         .help = "learning rate", .max = 1000},
        {.name = "adam-eps", .kind = OPT_REAL, .dst = &a->adam_eps, .meta = "X",
         .help = "epsilon of Adam and Adamax", .max = 1},
        {.name = "hidden", .kind = OPT_LIST, .dst = &a->hidden, .meta = "N,N,...",
         .help = "hidden widths, input side first; the decoder mirrors them",
         .min = 1, .max = 65536},
        {.name = "latent", .kind = OPT_INT, .dst = &a->latent, .meta = "N",
         .help = "dimensions of z", .min = 1, .max = 65536},
        {.name = "act", .kind = OPT_CHOICE, .dst = &a->activation,
         .help = "hidden activation", .choices = activation_names},
        {.name = "binarize", .kind = OPT_CHOICE, .dst = &a->binarize,
         .help = "pixel binarisation", .choices = binarize_names},
        {.name = "seed", .kind = OPT_U64, .dst = &a->seed, .meta = "N",
         .help = "seed of weights, noise, shuffling"},
        {.name = "out", .kind = OPT_STR, .dst = &a->out, .meta = "DIR",
         .help = "output directory, created if missing"},
        {.name = "threads", .kind = OPT_INT, .dst = &a->threads, .meta = "N",
         .help = "OpenMP threads", .def = "all cores", .min = 1, .max = 4096},
        {.name = "help", .kind = OPT_HELP, .help = "print this text and exit"},
        {.name = NULL},
    };
    int r;
    train_defaults(a);
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
    if (a->train && !a->test && !a->holdout) {
        cli_error("no test set: give --test FILE or --holdout N");
        return OPT_BAD;
    }
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
        if (vae_dataset_load(train, a->train, NULL) != VAE_OK) {
            cli_error("%s", train->error);
            return EXIT_RUNTIME;
        }
        if (a->test && vae_dataset_load(test, a->test, NULL) != VAE_OK) {
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

/* Rewrites the whole log (header and n rows) to path through tmp, so that
   the file on disk is always complete. 0, or -1 with errno. */
static int write_log(const char *path, const char *tmp, const double (*rows)[3], int n)
{
    FILE *f = fopen(tmp, "w");
    int i, ok;
    if (!f)
        return -1;
    fprintf(f, "epoch,train_bound,test_bound,seconds\n");
    for (i = 0; i < n; i++)
        fprintf(f, "%d,%.4f,%.4f,%.3f\n", i + 1, rows[i][0], rows[i][1], rows[i][2]);
    ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Draws the progress line during epoch e of a run. */
static void show_progress(progress *bar, const train_args *a, int e, int done, int n_train,
                          double bound_sum, double rate, double eval_seconds)
{
    char label[32], info[96], left[16], run_left[16];
    double epoch_left = (n_train - done) / rate;
    double per_epoch = n_train / rate + eval_seconds;
    snprintf(label, sizeof label, "epoch %d/%d", e, a->epochs);
    format_duration(epoch_left + eval_seconds, left, sizeof left);
    format_duration(epoch_left + eval_seconds + (a->epochs - e) * per_epoch, run_left,
                    sizeof run_left);
    snprintf(info, sizeof info, "%.2f  %.0f img/s  %s left (run %s)",
             done ? bound_sum / done : 0.0, rate, left, run_left);
    progress_show(bar, label, (double)done / n_train, info);
}

static int cmd_train(int argc, char **argv)
{
    train_args a;
    vae_dataset train, test;
    vae_config cfg;
    vae *m = NULL;
    vae_rng shuffle_rng, binarize_rng, test_rng;
    progress bar;
    float *test_x = NULL, *batch_x = NULL;
    int *idx = NULL;
    double (*rows)[3] = NULL;
    char model_path[MAX_PATH], log_path[MAX_PATH], log_tmp[MAX_PATH], layers[128];
    double trained_seconds = 0, eval_seconds = 0;
    long trained_images = 0;
    int status, i, e, saved = 0;
    vae_binarize mode;
    vae_status st;
    FILE *probe;

    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    if (train_parse(&a, argc, argv, &status) != OPT_OK)
        return status;
    set_threads(a.threads);
    mode = binarizations[a.binarize];

    status = train_load(&a, &train, &test);
    if (status)
        goto done;
    status = EXIT_RUNTIME;

    vae_config_init(&cfg);
    cfg.input_dim = train.dim;
    cfg.latent_dim = a.latent;
    cfg.n_hidden = a.hidden.n;
    for (i = 0; i < a.hidden.n; i++)
        cfg.hidden[i] = a.hidden.v[i];
    cfg.activation = activations[a.activation];
    cfg.objective = objectives[a.objective];
    cfg.k = a.k;
    cfg.max_batch = a.batch < train.n ? a.batch : train.n;
    cfg.optimizer = optimizers[a.optimizer];
    cfg.lr = (float)a.lr;
    cfg.eps = (float)a.adam_eps;
    cfg.seed = a.seed;
    if ((double)cfg.max_batch * cfg.k > VAE_MAX_ROWS) {
        cli_error("--batch times --k is %.0f samples per step (batch %d, k %d), over the "
                  "limit of %d", (double)cfg.max_batch * cfg.k, cfg.max_batch, cfg.k,
                  VAE_MAX_ROWS);
        status = EXIT_USAGE;
        goto done;
    }
    st = vae_create(&m, &cfg, NULL);
    if (st != VAE_OK) {
        /* the options were checked one by one; this is a combination, such
           as --batch times --k, that the library cannot hold */
        cli_error("cannot create the model: %s", vae_error(m));
        if (st == VAE_ERR_ARG)
            status = EXIT_USAGE;
        goto done;
    }

    // The output directory, checked for writing before any training.
    if (!join_path(model_path, sizeof model_path, a.out, "model.vae") ||
        !join_path(log_path, sizeof log_path, a.out, "log.csv") ||
        !join_path(log_tmp, sizeof log_tmp, a.out, "log.csv.tmp")) {
        cli_error("--out path is too long");
        goto done;
    }
    if (make_dirs(a.out) != 0) {
        cli_error("cannot create directory '%s': %s", a.out, strerror(errno));
        goto done;
    }
    probe = fopen(log_tmp, "w");
    if (!probe) {
        cli_error("cannot write in '%s': %s", a.out, strerror(errno));
        goto done;
    }
    fclose(probe);
    remove(log_tmp);

    vae_rng_seed(&shuffle_rng, a.seed ^ SEED_SHUFFLE);
    vae_rng_seed(&binarize_rng, a.seed ^ SEED_BINARIZE);
    vae_rng_seed(&test_rng, a.seed ^ SEED_TEST);
    test_x = dataset_floats(&test, mode, &test_rng);
    batch_x = malloc((size_t)cfg.max_batch * (size_t)train.dim * sizeof *batch_x);
    idx = malloc((size_t)train.n * sizeof *idx);
    rows = malloc((size_t)a.epochs * sizeof *rows);
    if (!test_x || !batch_x || !idx || !rows) {
        cli_error("out of memory");
        goto done;
    }
    for (i = 0; i < train.n; i++)
        idx[i] = i;

    describe_layers(&cfg, layers, sizeof layers);
    printf("model %s %s, %s k=%d, %s lr %g, batch %d, seed %llu\n", layers,
           activation_names[a.activation], objective_names[a.objective], a.k,
           optimizer_names[a.optimizer], a.lr, a.batch, (unsigned long long)a.seed);
    printf("data  %d training images, %d test images, %s binarisation\n", train.n, test.n,
           binarize_names[a.binarize]);
    fflush(stdout);

    progress_init(&bar);
    if (signal(SIGINT, on_interrupt) == SIG_IGN)
        signal(SIGINT, SIG_IGN); /* started in the background: leave it so */
    for (e = 1; e <= a.epochs; e++) {
        double t0 = clock_seconds(), bound_sum = 0, seconds, test_bound;
        int start, nb;
        vae_rng_shuffle(&shuffle_rng, idx, train.n);
        for (start = 0; start < train.n && !interrupted; start += nb) {
            float bound;
            nb = train.n - start < cfg.max_batch ? train.n - start : cfg.max_batch;
            vae_dataset_batch(&train, idx + start, nb, mode, &binarize_rng, batch_x);
            st = vae_train_step(m, batch_x, nb, NULL, &bound);
            if (st != VAE_OK) {
                progress_clear(&bar);
                if (st == VAE_ERR_NUMERIC && saved)
                    cli_error("training diverged at step %ld, in epoch %d: %s; %s keeps epoch %d",
                              vae_steps(m) + 1, e, vae_error(m), model_path, e - 1);
                else if (st == VAE_ERR_NUMERIC)
                    cli_error("training diverged at step %ld, in epoch 1: %s; nothing was saved",
                              vae_steps(m) + 1, vae_error(m));
                else
                    cli_error("training step failed: %s", vae_error(m));
                goto done;
            }
            bound_sum += (double)bound * nb;
            if (progress_due(&bar)) {
                double now = clock_seconds() - t0;
                double rate = (double)(trained_images + start + nb) / (trained_seconds + now);
                show_progress(&bar, &a, e, start + nb, train.n, bound_sum, rate, eval_seconds);
            }
        }
        if (interrupted) {
            progress_clear(&bar);
            if (saved)
                cli_error("interrupted in epoch %d; %s keeps epoch %d", e, model_path, e - 1);
            else
                cli_error("interrupted in epoch 1; nothing was saved");
            status = 130;
            goto done;
        }
        seconds = clock_seconds() - t0;
        trained_seconds += seconds;
        trained_images += train.n;

        if (bar.on) {
            char label[32];
            snprintf(label, sizeof label, "epoch %d/%d", e, a.epochs);
            progress_show(&bar, label, 1.0, "computing the test bound");
        }
        t0 = clock_seconds();
        st = vae_bound(m, test_x, test.n, cfg.objective, cfg.k, &test_bound);
        eval_seconds = clock_seconds() - t0;
        progress_clear(&bar);
        if (st != VAE_OK) {
            cli_error("test bound failed in epoch %d: %s", e, vae_error(m));
            goto done;
        }

        if (vae_save(m, model_path) != VAE_OK) {
            cli_error("cannot save the model: %s", vae_error(m));
            goto done;
        }
        saved = 1;
        rows[e - 1][0] = bound_sum / train.n;
        rows[e - 1][1] = test_bound;
        rows[e - 1][2] = seconds;
        if (write_log(log_path, log_tmp, (const double(*)[3])rows, e) != 0) {
            cli_error("cannot write '%s': %s", log_path, strerror(errno));
            goto done;
        }
        printf("epoch %d/%d  train %.2f  test %.2f  %.1f s  %.0f img/s\n", e, a.epochs,
               rows[e - 1][0], test_bound, seconds, train.n / seconds);
        fflush(stdout);
    }
    printf("log: %s\nmodel: %s\n", log_path, model_path);
    status = 0;

done:
    signal(SIGINT, SIG_DFL);
    vae_free(m);
    vae_dataset_free(&train);
    vae_dataset_free(&test);
    free(test_x);
    free(batch_x);
    free(idx);
    free(rows);
    return status;
}

// ---- vae eval ----

typedef struct {
    const char *model, *data, *test;
    int objective; /* index into objective_names, -1: the model's */
    int k, nll, limit, threads;
    uint64_t seed;
    int seed_given;
} eval_args;

static void eval_defaults(eval_args *a)
{
    memset(a, 0, sizeof *a);
    a->objective = -1;
}

static const char eval_usage[] =
    "usage: vae eval --model FILE (--data DIR | --test FILE) [options]\n"
    "\n"
    "Prints the test bound of a trained model, \"test_bound <nats>\", and with\n"
    "--nll K the importance-sampled negative log-likelihood, \"test_nll <nats>\"\n"
    "(positive; K = 5000 is the literature's convention). Test images are\n"
    "binarised statically. Noise comes from the generator saved in the model,\n"
    "so the same model gives the same numbers, unless --seed restarts it.\n"
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
         .help = "bound to print", .def = "the model's", .choices = objective_names},
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
    x = dataset_floats(&ds, VAE_BINARY_STATIC, NULL);
    if (!x) {
        cli_error("out of memory");
        goto done;
    }

    if (vae_bound(m, x, ds.n, a.objective >= 0 ? objectives[a.objective] : cfg->objective,
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

static const char usage[] =
    "usage: vae <command> [options]\n"
    "\n"
    "commands:\n"
    "  train   train a VAE or IWAE on IDX images; writes OUT/model.vae, OUT/log.csv\n"
    "  eval    print a trained model's test bound and negative log-likelihood\n"
    "  help    print this text; 'vae help train' prints one command's\n"
    "\n"
    "example:\n"
    "  vae train --train data/mnist/t10k-images-idx3-ubyte.gz --holdout 1000 \\\n"
    "      --out out/demo\n"
    "  vae eval --model out/demo/model.vae \\\n"
    "      --test data/mnist/t10k-images-idx3-ubyte.gz --nll 5000\n"
    "\n";

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    char *help[] = {"--help"};
    int status;
    if (!cmd) {
        cli_error("no command given; try 'vae --help'");
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "help") == 0 && argc > 2) {
        if (strcmp(argv[2], "train") == 0)
            return cmd_train(1, help);
        if (strcmp(argv[2], "eval") == 0)
            return cmd_eval(1, help);
        cli_error("unknown command '%s'; try 'vae --help'", argv[2]);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(usage, stdout);
        status = cmd_train(1, help);
        fputs("\n", stdout);
        return status | cmd_eval(1, help);
    }
    cli_error("unknown command '%s'; try 'vae --help'", cmd);
    return EXIT_USAGE;
}
