/* test_export.c — tools/export_c.c: the generated C against the library.

   For models of every layer kind and activation (the reference MLP, the
   course's conv models A and B, and odd ones: stride 3 with pad % stride
   != 0, output padding, LeakyReLU, three channels, a linear mean), with
   weights scaled up so that the activations leave their linear region,
   it writes NAME.h and NAME.c (float with libm, float without, int8),
   compiles them with -Wall -Wextra -pedantic -Werror by cc, clang and as
   C++ where those exist, runs 64 inputs through a driver, and checks:
   float outputs within 1e-5 of vae_decode and vae_encode; int8 means
   within 0.01 on average; the --no-libm approximations within 4 ulps of
   the library's own. Without a compiler the checks are skipped.

   Run from the repository root: files go to build/export/. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "../tools/export.c"
#include "../tools/export_c.c"
#include "../vae.c"
#include "check.h"

#include <stdlib.h>

#define N_IN 64
#define TOL 1e-5
#define DIR "build/export"

typedef struct {
    const char *name;
    int rows, cols, channels, latent;
    const char *encoder, *decoder, *hidden, *act, *likelihood, *mean, *posterior;
    float scale; /* of PyTorch's initial weights: tanh and sigmoid then leave their linear part */
} test_case;

static const test_case cases[] = {
    {"mlp", 28, 28, 1, 50, "", "", "200,200", "tanh", "bernoulli", "sigmoid", "diagonal", 3.0f},
    {"conv_a", 28, 28, 1, 2, "conv 32 5,relu,conv 32 5,relu",
     "fc 12800,view 32 20 20,relu,convt 32 5,relu,convt 1 5", "", "relu", "gaussian", "linear", "isotropic", 1.0f},
    {"conv_b", 28, 28, 1, 20, "conv 32 3 s2 p1,relu,conv 64 3 s2 p1,relu,fc 256,relu",
     "fc 256,relu,fc 3136,relu,view 64 7 7,convt 32 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1", "", "relu", "bernoulli",
     "sigmoid", "diagonal", 1.0f},
    /* stride 3 with pad % stride != 0 (the transposed case CMSIS-NN got
       wrong), output padding, LeakyReLU, tanh, colour */
    {"odd", 8, 8, 3, 3, "conv 4 4 s3 p1,leakyrelu,conv 5 1,relu",
     "fc 45,tanh,view 5 3 3,convt 4 4 s3 p2 o2,leakyrelu,convt 3 1", "", "relu", "bernoulli", "sigmoid",
     "diagonal", 3.0f},
    {"mlp_relu", 4, 5, 2, 4, "", "", "9", "leakyrelu", "gaussian", "linear", "isotropic", 3.0f},
};

static vae *make(const test_case *t, int seed)
{
    vae_config c;
    vae *m;
    char why[256];
    int i;
    vae_config_init(&c);
    c.image_rows = t->rows;
    c.image_cols = t->cols;
    c.image_channels = t->channels;
    c.input_dim = t->rows * t->cols * t->channels;
    c.latent_dim = t->latent;
    c.seed = (uint64_t)seed;
    c.max_batch = N_IN;
    if ((t->encoder[0] && vae_config_set(&c, "encoder", t->encoder, why, sizeof why) != VAE_OK) ||
        (t->decoder[0] && vae_config_set(&c, "decoder", t->decoder, why, sizeof why) != VAE_OK) ||
        (t->hidden[0] && vae_config_set(&c, "hidden", t->hidden, why, sizeof why) != VAE_OK) ||
        vae_config_set(&c, "activation", t->act, why, sizeof why) != VAE_OK ||
        vae_config_set(&c, "likelihood", t->likelihood, why, sizeof why) != VAE_OK ||
        vae_config_set(&c, "mean", t->mean, why, sizeof why) != VAE_OK ||
        vae_config_set(&c, "posterior", t->posterior, why, sizeof why) != VAE_OK) {
        printf("FAIL %s: %s\n", t->name, why);
        return NULL;
    }
    if (vae_create(&m, &c, NULL) != VAE_OK) {
        printf("FAIL %s: %s\n", t->name, vae_error(m));
        vae_free(m);
        return NULL;
    }
    /* ReLU is as nonlinear at any scale, and its models' sums of hundreds
       of terms lose digits when scaled up */
    for (i = 0; i < vae_tensor_count(m); i++) {
        const char *name;
        int ndim, shape[VAE_MAX_DIMS];
        size_t n, j;
        float *v;
        vae_tensor_info(m, i, &name, &ndim, shape);
        n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
        v = malloc(n * sizeof *v);
        vae_get_tensor(m, name, v, n);
        for (j = 0; j < n; j++)
            v[j] *= t->scale;
        vae_set_tensor(m, name, v, n);
        free(v);
    }
    return m;
}

static long parameters(const vae *m)
{
    long total = 0;
    int i, ndim, shape[VAE_MAX_DIMS];
    for (i = 0; i < vae_tensor_count(m); i++) {
        vae_tensor_info(m, i, NULL, &ndim, shape);
        total += (long)shape[0] * shape[1] * shape[2] * shape[3];
    }
    return total;
}

static int have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f)
        ok = fclose(f) == 0 && ok;
    return ok;
}

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc(n * sizeof *v);
    if (!f || !v || fread(v, sizeof *v, n, f) != n) {
        if (f)
            fclose(f);
        free(v);
        return NULL;
    }
    fclose(f);
    return v;
}

/* A driver for NAME: reads N_IN z vectors (and images) from in_z.bin and
   in_x.bin, writes the means, then mu and logvar. */
static void write_driver(const char *name, const char *upper)
{
    char path[256], src[4096];
    snprintf(src, sizeof src,
             "#include <stdio.h>\n#include \"%s.h\"\n"
             "static float z[%d][%s_Z], x[%d][%s_D], mean[%s_D], mu[%s_Z], lv[%s_Z], s[%s_SCRATCH_FLOATS];\n"
             "int main(void)\n{\n"
             "    FILE *fz = fopen(\"%s/in_z.bin\", \"rb\"), *fx = fopen(\"%s/in_x.bin\", \"rb\");\n"
             "    FILE *out = fopen(\"%s/%s.out\", \"wb\");\n    int i;\n"
             "    if (!fz || !fx || !out || fread(z, sizeof z, 1, fz) != 1 || fread(x, sizeof x, 1, fx) != 1)\n"
             "        return 1;\n"
             "    for (i = 0; i < %d; i++) {\n"
             "        %s_decode(z[i], mean, s);\n        fwrite(mean, sizeof mean, 1, out);\n    }\n"
             "    for (i = 0; i < %d; i++) {\n"
             "        %s_encode(x[i], mu, lv, s);\n"
             "        fwrite(mu, sizeof mu, 1, out);\n        fwrite(lv, sizeof lv, 1, out);\n    }\n"
             "    return fclose(out) != 0;\n}\n",
             name, N_IN, upper, N_IN, upper, upper, upper, upper, upper, DIR, DIR, DIR, name, N_IN, name, N_IN,
             name);
    snprintf(path, sizeof path, "%s/%s_main.c", DIR, name);
    write_file(path, src, strlen(src));
}

/* Compiles NAME with cc and, where small is set, with each other compiler
   there is (C++ too: the header's extern "C" and the code itself); the
   large models' sources (model B's is 20 MB) take cc alone. 1 when cc
   built the driver. */
static int compile_all(const char *name, int small)
{
    static const char *const compilers[] = {"cc -std=c99", "clang -std=c99", "g++ -x c++ -std=c++11",
                                            "clang++ -x c++ -std=c++11"};
    char cmd[1024];
    int i, built = 0;
    for (i = 0; i < (small ? 4 : 1); i++) {
        const char *cc = compilers[i];
        char tool[16];
        sscanf(cc, "%15s", tool);
        if (!have(tool)) {
            if (i == 0 || i == 2)
                SKIP("no %s here", tool);
            continue;
        }
        /* the C++ compilers only compile the generated file */
        if (i < 2)
            snprintf(cmd, sizeof cmd,
                     "%s -O1 -Wall -Wextra -pedantic -Werror -I%s -o %s/%s_%d %s/%s.c %s/%s_main.c -lm 2>&1", cc, DIR,
                     DIR, name, i, DIR, name, DIR, name);
        else
            snprintf(cmd, sizeof cmd, "%s -O1 -Wall -Wextra -pedantic -Werror -I%s -c -o %s/%s_%d.o %s/%s.c 2>&1", cc,
                     DIR, DIR, name, i, DIR, name);
        CHECK(system(cmd) == 0, "%s: %s", name, cmd);
        built |= i == 0;
    }
    return built;
}

/* Runs NAME's driver; its outputs, or NULL. */
static float *run_driver(const char *name, size_t n)
{
    char cmd[512], path[256];
    snprintf(cmd, sizeof cmd, "%s/%s_0", DIR, name);
    if (system(cmd) != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/%s.out", DIR, name);
    return read_floats(path, n);
}

static int export_files(vae *m, const char *name, int int8, int no_libm)
{
    export_part parts[2];
    const export_part *list[2] = {&parts[0], &parts[1]};
    export_sizes sizes;
    char why[256], path[256], *h, *c;
    int ok;
    if (export_part_load(m, 1, &parts[0], why, sizeof why) || export_part_load(m, 0, &parts[1], why, sizeof why)) {
        CHECK(0, "%s: %s", name, why);
        return 0;
    }
    ok = export_c(list, 2, name, "test_export", int8, no_libm, &h, &c, &sizes, why, sizeof why) == 0;
    CHECK(ok, "%s: %s", name, why);
    if (ok) {
        snprintf(path, sizeof path, "%s/%s.h", DIR, name);
        ok = write_file(path, h, strlen(h));
        snprintf(path, sizeof path, "%s/%s.c", DIR, name);
        ok = ok && write_file(path, c, strlen(c));
        CHECK(ok, "%s: writing the files", name);
        free(h);
        free(c);
    }
    export_part_free(&parts[0]);
    export_part_free(&parts[1]);
    return ok;
}

static void test_case_run(const test_case *t, int seed)
{
    vae *m = make(t, seed);
    int Z = t->latent, D = t->rows * t->cols * t->channels, variant, i;
    size_t per = (size_t)D + 2 * (size_t)Z, total = (size_t)N_IN * per;
    float *z = malloc(sizeof(float) * N_IN * Z), *x = malloc(sizeof(float) * N_IN * D);
    float *mean = malloc(sizeof(float) * N_IN * D), *mu = malloc(sizeof(float) * N_IN * Z);
    float *lv = malloc(sizeof(float) * N_IN * Z), *float_out = NULL;
    vae_rng r;
    char path[256];
    if (!m)
        return;
    vae_rng_seed(&r, (uint64_t)seed + 100);
    vae_rng_normal(&r, z, (size_t)N_IN * Z);
    for (i = 0; i < N_IN * D; i++)
        x[i] = (float)vae_rng_uniform(&r);
    CHECK(vae_decode(m, z, N_IN, mean) == VAE_OK && vae_encode(m, x, N_IN, mu, lv) == VAE_OK, "%s: %s", t->name,
          vae_error(m));
    snprintf(path, sizeof path, "%s/in_z.bin", DIR);
    write_file(path, z, sizeof(float) * N_IN * Z);
    snprintf(path, sizeof path, "%s/in_x.bin", DIR);
    write_file(path, x, sizeof(float) * N_IN * D);
    for (variant = 0; variant < 3; variant++) {
        /* float with libm, float without, int8 */
        char name[64], upper[64];
        float *out;
        double worst = 0.0, sum = 0.0, most = 0.0;
        int j;
        snprintf(name, sizeof name, "%s_%s", t->name, variant == 0 ? "f" : variant == 1 ? "nolibm" : "int8");
        for (j = 0; name[j]; j++)
            upper[j] = (char)toupper((unsigned char)name[j]);
        upper[j] = '\0';
        if (!export_files(m, name, variant == 2, variant == 1))
            continue;
        write_driver(name, upper);
        if (!compile_all(name, parameters(m) < 40000))
            continue;
        out = run_driver(name, total);
        CHECK(out != NULL, "%s: the driver ran", name);
        if (!out)
            continue;
        if (variant < 2) {
            for (i = 0; i < N_IN; i++)
                for (j = 0; j < D; j++)
                    worst = fmax(worst, fabs(out[(size_t)i * D + j] - mean[(size_t)i * D + j]) /
                                            fmax(1.0, fabs(mean[(size_t)i * D + j])));
            CHECK(worst <= TOL, "%s: decode differs from vae_decode by %.3g (relative)", name, worst);
            worst = 0.0;
            for (i = 0; i < N_IN; i++)
                for (j = 0; j < Z; j++) {
                    const float *e = out + (size_t)N_IN * D + (size_t)i * 2 * Z;
                    worst = fmax(worst, fabs(e[j] - mu[i * Z + j]) / fmax(1.0, fabs(mu[i * Z + j])));
                    worst = fmax(worst, fabs(e[Z + j] - lv[i * Z + j]) / fmax(1.0, fabs(lv[i * Z + j])));
                }
            CHECK(worst <= TOL, "%s: encode differs from vae_encode by %.3g (relative)", name, worst);
            if (variant == 0)
                float_out = out;
            else
                free(out);
        } else {
            for (i = 0; i < N_IN * D; i++) {
                double ref = float_out ? float_out[i] : mean[i], e = fabs(out[i] - ref) / fmax(1.0, fabs(ref));
                sum += e;
                most = fmax(most, e);
            }
            printf("%s: int8 means differ from float by %.4f on average, %.4f at most\n", name, sum / (N_IN * D),
                   most);
            CHECK(sum / (N_IN * D) <= 0.01, "%s: int8 mean error %.4f", name, sum / (N_IN * D));
            free(out);
        }
    }
    free(float_out);
    free(z);
    free(x);
    free(mean);
    free(mu);
    free(lv);
    vae_free(m);
}

/* The --no-libm functions against vae.c's fast_tanh and fast_sigmoid,
   over a sweep that covers both branches, the clamps and tiny values. */
static void test_approximations(void)
{
    char src[16384], path[256], cmd[512];
    float *got;
    const int n = 4001;
    int i, bad = 0;
    if (!have("cc")) {
        SKIP("no cc here");
        return;
    }
    snprintf(src, sizeof src,
             "#include <stdio.h>\n#include <stdint.h>\n%s%s#define EXP approx_exp\n%s%s"
             "int main(void)\n{\n    static float t[%d], s[%d];\n    int i;\n"
             "    for (i = 0; i < %d; i++)\n        t[i] = s[i] = (float)(i - %d) * 0.05f;\n"
             "    act_tanh(t, %d);\n    act_sigmoid(s, %d);\n"
             "    return fwrite(t, sizeof t, 1, stdout) != 1 || fwrite(s, sizeof s, 1, stdout) != 1;\n}\n",
             bits_src, approx_src, tanh_approx_src, sigmoid_src, n, n, n, n / 2, n, n);
    snprintf(path, sizeof path, "%s/approx.c", DIR);
    write_file(path, src, strlen(src));
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O1 -Wall -Wextra -pedantic -Werror -o %s/approx %s && %s/approx > %s/approx.out",
             DIR, path, DIR, DIR);
    CHECK(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/approx.out", DIR);
    got = read_floats(path, 2 * (size_t)n);
    CHECK(got != NULL, "the approximations ran");
    if (!got)
        return;
    for (i = 0; i < n; i++) {
        float v = (float)(i - n / 2) * 0.05f, t = fast_tanh(v), s = fast_sigmoid(v);
        if (fabsf(got[i] - t) > 4 * FLT_EPSILON * fmaxf(fabsf(t), FLT_MIN / FLT_EPSILON) ||
            fabsf(got[n + i] - s) > 4 * FLT_EPSILON * fmaxf(s, FLT_MIN / FLT_EPSILON))
            bad++;
    }
    CHECK(bad == 0, "%d of %d values differ from the library's by more than 4 ulps", bad, 2 * n);
    free(got);
}

int main(void)
{
    size_t i;
    if (system("mkdir -p " DIR) != 0) {
        printf("FAIL cannot make " DIR "\n0 passed, 1 failed\n");
        return 1;
    }
    test_approximations();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        test_case_run(&cases[i], (int)i + 1);
    CHECK(export_name_ok("vae_model") && export_name_ok("_x9") && !export_name_ok("9x") &&
              !export_name_ok("a-b") && !export_name_ok("") && !export_name_ok("abcdefghijabcdefghijabcdefghijabc"),
          "C identifiers of at most 32 characters");
    return check_summary();
}
