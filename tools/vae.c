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

   The library is C99 only; what this program needs of the operating
   system (POSIX or Windows) is in platform.c.
*/
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "common.h"
#include "export.h"
#include "mnist.h"
#include "opts.h"
#include "pictures.h"
#include "platform.h"
#include "progress.h"
#include "train.h"
#include "vae.h"

// ---- vae eval ----

typedef struct {
    const char *model, *data, *test, *per_image, *device;
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
    "--per-image FILE.csv writes each test image's values, one row per image:\n"
    "image (its index in the file, from 0),bound and, with --nll,\n"
    "log_likelihood (nats, so that test_nll is minus their mean).\n"
    "\n"
    "options:\n";

static int eval_parse(eval_args *a, int argc, char **argv, int *status)
{
    opt table[] = {
        {.name = "model", .kind = OPT_STR, .dst = &a->model, .meta = "FILE",
         .help = "model written by vae train", .required = 1},
        DEVICE_OPT(&a->device),
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
        {.name = "per-image", .kind = OPT_STR, .dst = &a->per_image, .meta = "FILE",
         .help = "write each image's bound (and log-likelihood) as CSV", .def = "none"},
        {.name = "seed", .kind = OPT_U64, .dst = &a->seed, .meta = "N",
         .help = "restart the model's noise generator from N", .def = "the model's",
         .given = &a->seed_given},
        {.name = "threads", .kind = OPT_INT, .dst = &a->threads, .meta = "N",
         .help = "use exactly N threads", .def = "up to all cores, one while others compete", .min = 1, .max = 4096},
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

static double mean_of(const double *v, int n)
{
    double sum = 0.0;
    int i;
    for (i = 0; i < n; i++)
        sum += v[i];
    return sum / n;
}

/* The --per-image CSV, written whole. 0, or -1 with errno. */
static int write_per_image(const char *path, const double *bound, const double *ll, int n)
{
    /* %.10g takes at most 17 characters: a row fits in 11 + 2 * 18 + 1 */
    size_t cap = 32 + (size_t)n * 64, len;
    char *csv = malloc(cap);
    int i, r;
    if (!csv) {
        errno = ENOMEM;
        return -1;
    }
    len = (size_t)sprintf(csv, "image,bound%s\n", ll ? ",log_likelihood" : "");
    for (i = 0; i < n; i++) {
        len += (size_t)sprintf(csv + len, "%d,%.10g", i, bound[i]);
        if (ll)
            len += (size_t)sprintf(csv + len, ",%.10g", ll[i]);
        csv[len++] = '\n';
    }
    r = write_atomic(path, csv, len);
    free(csv);
    return r;
}

static int cmd_eval(int argc, char **argv)
{
    eval_args a;
    vae_dataset ds;
    vae *m = NULL;
    const vae_config *cfg;
    image_source src = {0};
    char path[MAX_PATH];
    double *bounds = NULL, *lls = NULL, mean;
    thread_governor gov;
    int status;

    memset(&ds, 0, sizeof ds);
    if (eval_parse(&a, argc, argv, &status) != OPT_OK)
        return status;
    set_threads(a.threads);
    status = EXIT_RUNTIME;

    if ((status = load_model(a.model, a.device, &m)) != 0)
        goto done;
    status = EXIT_RUNTIME;
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
    if (a.per_image && can_write(a.per_image) != 0) {
        cli_error("cannot write '%s': %s", a.per_image, strerror(errno));
        goto done;
    }
    if (a.binarize < 0)
        a.binarize = cfg->likelihood == VAE_GAUSSIAN;
    if (image_source_init(&src, &ds, a.binarize ? VAE_GRAY : VAE_BINARY_STATIC, 0) != 0) {
        cli_error("out of memory");
        goto done;
    }

    bounds = malloc((size_t)ds.n * sizeof *bounds);
    lls = a.nll ? malloc((size_t)ds.n * sizeof *lls) : NULL;
    if (!bounds || (a.nll && !lls)) {
        cli_error("out of memory");
        goto done;
    }
    if (source_bounds(m, &src, ds.n, a.objective >= 0 ? (vae_objective)a.objective : cfg->objective,
                      a.k ? a.k : cfg->k, bounds, &mean) != VAE_OK) {
        cli_error("test bound failed: %s", vae_error(m));
        goto done;
    }
    printf("test_bound %.4f\n", mean);
    fflush(stdout);
    if (a.nll) {
        governor_init(&gov, a.threads ? a.threads : default_threads(), a.threads != 0);
        if (log_likelihoods(m, &src, ds.n, a.nll, lls, &gov) != VAE_OK) {
            cli_error("test_nll failed: %s", vae_error(m));
            goto done;
        }
        printf("test_nll %.4f\n", -mean_of(lls, ds.n));
    }
    if (a.per_image && write_per_image(a.per_image, bounds, lls, ds.n) != 0) {
        cli_error("cannot write '%s': %s", a.per_image, strerror(errno));
        goto done;
    }
    status = 0;

done:
    vae_free(m);
    vae_dataset_free(&ds);
    image_source_free(&src);
    free(bounds);
    free(lls);
    return status;
}

// ---- vae info ----

static const char info_usage[] =
    "usage: vae info MODEL   (or --model MODEL)\n"
    "\n"
    "Prints a trained model's network as a table, as torchsummary does: each\n"
    "layer with its output shape (channels x rows x cols, or a count of\n"
    "values), its activation and its parameter count, then the totals and\n"
    "the parts besides the layers.\n";

static void shape_text(const int s[3], char *buf, size_t size)
{
    if (s[1] == 1 && s[2] == 1)
        snprintf(buf, size, "%d", s[0]);
    else
        snprintf(buf, size, "%d x %d x %d", s[0], s[1], s[2]);
}

static int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    const vae_config *c;
    vae *m;
    char in[48], out[48], what[64], t[3][32];
    long layers_params = 0, total = 0;
    int i, st;
    if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(info_usage, stdout);
        return 0;
    }
    if (argc == 1 && argv[0][0] != '-')
        path = argv[0];
    else if (argc == 2 && strcmp(argv[0], "--model") == 0)
        path = argv[1];
    if (!path) {
        cli_error("vae info takes one model file: vae info MODEL");
        return EXIT_USAGE;
    }
    if ((st = load_model(path, NULL, &m)) != 0)
        return st;
    c = vae_get_config(m);
    printf("%-10s %-6s %-16s %-16s %-16s %-10s %12s\n", "layer", "kind", "input", "output", "kernel", "activation",
           "parameters");
    for (i = 0; i < vae_layer_count(m); i++) {
        vae_layer L;
        vae_layer_info(m, i, &L);
        shape_text(L.in, in, sizeof in);
        shape_text(L.out, out, sizeof out);
        if (L.kernel) /* as the specs write them: k x k, stride, padding, output padding */
            snprintf(what, sizeof what, "%dx%d s%d p%d o%d", L.kernel, L.kernel, L.stride, L.pad, L.out_pad);
        else
            snprintf(what, sizeof what, "-");
        if (L.kernel && strcmp(L.kind, "conv") == 0)
            what[strlen(what) - 3] = '\0'; /* no output padding */
        printf("%-10s %-6s %-16s %-16s %-16s %-10s %12ld\n", L.name, L.kind, in, out, what, L.activation, L.params);
        layers_params += L.params;
    }
    for (i = 0; i < vae_tensor_count(m); i++) {
        int ndim, shape[VAE_MAX_DIMS];
        vae_tensor_info(m, i, NULL, &ndim, shape);
        total += (long)shape[0] * shape[1] * shape[2] * shape[3];
    }
    printf("layers: %ld parameters; likelihood and prior: %ld; total %ld (%.1f MB as float32)\n", layers_params,
           total - layers_params, total, total * 4.0 / 1e6);
    printf("latent %d, %s posterior, %s likelihood%s, %s prior\n", c->latent_dim,
           field_text(c, "posterior", t[0], sizeof t[0]), field_text(c, "likelihood", t[1], sizeof t[1]),
           c->likelihood != VAE_GAUSSIAN ? "" : c->mean == VAE_MEAN_LINEAR ? " (linear mean)" : " (sigmoid mean)",
           field_text(c, "prior", t[2], sizeof t[2]));
    vae_free(m);
    return 0;
}

// ---- vae devices ----

static int cmd_devices(int argc, char **argv)
{
    char list[8192];
    (void)argv;
    if (argc > 0 && strcmp(argv[0], "--help") != 0 && strcmp(argv[0], "-h") != 0) {
        cli_error("vae devices takes no options");
        return EXIT_USAGE;
    }
    if (argc > 0) {
        fputs("usage: vae devices\n\nLists the CPU's GEMM kernels (cpu:KERNEL; cpu alone is the first)\n"
              "and the OpenCL platforms and devices, each as --device takes it\n"
              "(opencl:P.D), with its memory and compute units. --device cpu, the\n"
              "default, is always there.\n", stdout);
        return 0;
    }
    printf("cpu  (always), GEMM kernels: %s\n", vae_cpu_kernels());
    if (vae_opencl_devices(list, sizeof list) != VAE_OK) {
        cli_error("%s", list);
        return EXIT_RUNTIME;
    }
    fputs(list, stdout);
    return 0;
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
    {"info", cmd_info, "a trained model's network: layers, shapes, parameters"},
    {"export", cmd_export, "a trained model's decoder and encoder as C source or ONNX"},
    {"devices", cmd_devices, "the CPU kernels and OpenCL devices that --device can pick"},
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
    "'vae help COMMAND' or 'vae COMMAND --help' describes one command;\n"
    "'vae --version' prints the version.\n";

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : NULL;
    char *help[] = {"--help"};
    int i;
    platform_init();
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
    if (strcmp(cmd, "--version") == 0) {
        printf("vae %s\n", vae_version());
        return 0;
    }
    cli_error("unknown command '%s'; try 'vae --help'", cmd);
    return EXIT_USAGE;
}
