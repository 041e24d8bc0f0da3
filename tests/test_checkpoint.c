/* Checkpoints, version 2 and before: version-1 files written by the
   library as it was (tests/ref/make_v1.c) load, take the defaults of the
   keys they lack, and give the same bound and gradients to TOL; every
   new part saves and loads exactly, application data included; eight
   hidden layers (the documented maximum) save and load; a small file that
   declares a huge batch is sized within vae_load's limits, and
   vae_load_ex sizes the buffers as its caller says. */
#include "../vae.c"
#include "check.h"
#include "portable.h"
#include "same_model.h"

#include <locale.h>

enum { D = 20, Z = 4, B = 3, KMAX = 5 };

/* make_v1.c was built with -O2 and no FMA; the same code built as make
   builds it (-O3, -march=native, contracted multiply-adds) moves these
   IWAE gradients by up to 2e-6 of their size, so the bound for any build
   is 1e-5. Built alike, today's library and that one agree to 1e-8. */
#define TOL 1e-5

/* The batch and noise make_v1.c used for the expected values. */
static void v1_batch(uint64_t seed, int k, float *x, float *eps)
{
    vae_rng r;
    int i;
    vae_rng_seed(&r, seed);
    for (i = 0; i < B * D; i++)
        x[i] = vae_rng_uniform(&r) < 0.4 ? 1.0f : 0.0f;
    vae_rng_normal(&r, eps, (size_t)B * k * Z);
}

/* Reads "case FILE" .. "end" blocks of v1_expect.txt and checks each. */
static void test_version1(void)
{
    FILE *f = fopen("tests/ref/v1_expect.txt", "r");
    char word[256];
    int cases = 0;
    CHECK(f != NULL, "cannot open tests/ref/v1_expect.txt (run from the repository root)");
    if (!f)
        return;
    while (fscanf(f, "%255s", word) == 1) {
        char path[300];
        vae *m;
        const vae_config *c;
        float x[B * D], eps[B * KMAX * Z], bound = 0.0f, want_bound;
        double want_eval, eval, worst = 0.0;
        if (word[0] == '#') {
            while (fgetc(f) != '\n' && !feof(f))
                ;
            continue;
        }
        if (strcmp(word, "case") != 0 || fscanf(f, "%255s", word) != 1)
            break;
        snprintf(path, sizeof path, "tests/ref/%s", word);
        cases++;
        CHECK(vae_load(&m, path) == VAE_OK, "%s: %s", path, vae_error(m));
        if (!vae_get_config(m) || vae_error(m)[0]) {
            vae_free(m);
            break;
        }
        c = vae_get_config(m);
        CHECK(c->likelihood == VAE_BERNOULLI && c->prior == VAE_PRIOR_NORMAL && c->kl == VAE_KL_MC &&
                  c->sigma == 0.0f && c->components == 16 && c->image_rows == 0 && c->image_channels == 0,
              "%s: the keys version 1 lacks take their defaults", path);
        CHECK(vae_steps(m) == 5, "%s: step counter %ld", path, vae_steps(m));
        CHECK(vae_get_app_data(m, NULL) == NULL, "%s: no application data in version 1", path);
        if (fscanf(f, " bound %f eval_iwae7 %lf", &want_bound, &want_eval) != 2)
            break;
        v1_batch(77, c->k, x, eps);
        CHECK(vae_bound(m, x, B, VAE_IWAE, 7, &eval) == VAE_OK, "%s", vae_error(m));
        CHECK(fabs(eval - want_eval) <= TOL * fabs(want_eval), "%s: bound with the saved generator %.9g, was %.9g",
              path, eval, want_eval);
        CHECK(vae_gradient(m, x, B, eps, &bound) == VAE_OK, "%s", vae_error(m));
        CHECK(fabs(bound - want_bound) <= TOL * fabs(want_bound), "%s: bound %.9g, was %.9g", path, bound,
              want_bound);
        while (fscanf(f, "%255s", word) == 1 && strcmp(word, "grad") == 0) {
            char name[64];
            unsigned long n, j;
            float *g;
            double dmax = 0.0, rmax = 0.0;
            if (fscanf(f, "%63s %lu", name, &n) != 2 || n > 100000)
                break;
            g = malloc(n * sizeof *g);
            CHECK(vae_get_gradient(m, name, g, n) == VAE_OK, "%s: %s", path, vae_error(m));
            for (j = 0; j < n; j++) {
                double want;
                if (fscanf(f, "%lf", &want) != 1)
                    break;
                if (fabs(g[j] - want) > dmax)
                    dmax = fabs(g[j] - want);
                if (fabs(want) > rmax)
                    rmax = fabs(want);
            }
            CHECK(rmax > 0 && dmax <= TOL * rmax, "%s: gradient of %s moved by %.3g of its size", path, name,
                  dmax / rmax);
            if (rmax > 0 && dmax / rmax > worst)
                worst = dmax / rmax;
            free(g);
        }
        printf("%s: loads; bound and gradients within %.2g of version 1's\n", path, worst);
        vae_free(m);
    }
    fclose(f);
    CHECK(cases == 3, "%d version-1 cases read, expected 3", cases);
}

/* Each part trained a few steps, saved with application data, loaded:
   everything equal, and the next steps equal too. */
static void test_round_trips(void)
{
    static const char *const setups[][4] = {
        {"gaussian", "0", "normal", "mc"},   {"gaussian", "0.25", "normal", "mc"},
        {"bernoulli", "0", "mog", "mc"},     {"bernoulli", "0", "normal", "analytic"},
        {"gaussian", "0", "mog", "mc"},
    };
    const char *path = "build/test_checkpoint.vae";
    const char app[] = "resume state\0with a zero byte";
    int s;
    for (s = 0; s < 5; s++) {
        vae_config cfg;
        vae *a, *b;
        float x[B * D];
        size_t len = 0;
        const void *got;
        int i, step;
        vae_config_init(&cfg);
        cfg.input_dim = D;
        cfg.image_rows = 4;
        cfg.image_cols = 5;
        cfg.image_channels = 1;
        cfg.latent_dim = Z;
        cfg.hidden[0] = 9;
        cfg.hidden[1] = 7;
        cfg.max_batch = B;
        cfg.k = 2;
        cfg.objective = VAE_ELBO;
        vae_config_set(&cfg, "likelihood", setups[s][0], NULL, 0);
        vae_config_set(&cfg, "sigma", setups[s][1], NULL, 0);
        vae_config_set(&cfg, "prior", setups[s][2], NULL, 0);
        vae_config_set(&cfg, "components", "5", NULL, 0);
        vae_config_set(&cfg, "kl", setups[s][3], NULL, 0);
        for (i = 0; i < B * D; i++)
            x[i] = (float)((i * 7) % 11) / 10.0f;
        CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "%s: %s", setups[s][0], vae_error(a));
        for (step = 0; step < 4; step++)
            vae_train_step(a, x, B, NULL, NULL);
        CHECK(vae_set_app_data(a, app, sizeof app) == VAE_OK, "%s", vae_error(a));
        CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
        CHECK(vae_load(&b, path) == VAE_OK, "%s/%s/%s: %s", setups[s][0], setups[s][2], setups[s][3], vae_error(b));
        if (!vae_get_config(b) || vae_error(b)[0]) {
            vae_free(a);
            vae_free(b);
            continue;
        }
        CHECK(memcmp(vae_get_config(a), vae_get_config(b), sizeof cfg) == 0, "%s: configuration restored",
              setups[s][0]);
        CHECK(same_tensors(a, b, 0), "%s/%s/%s: parameters restored", setups[s][0], setups[s][2], setups[s][3]);
        got = vae_get_app_data(b, &len);
        CHECK(len == sizeof app && got && memcmp(got, app, len) == 0, "application data restored (%lu bytes)",
              (unsigned long)len);
        for (step = 0; step < 3; step++) {
            vae_train_step(a, x, B, NULL, NULL);
            vae_train_step(b, x, B, NULL, NULL);
        }
        CHECK(same_tensors(a, b, 0), "%s/%s/%s: training resumes exactly", setups[s][0], setups[s][2], setups[s][3]);
        vae_free(a);
        vae_free(b);
    }
    remove(path);
}

/* Eight hidden layers: 38 tensors, over what the table held before. */
static void test_deepest(void)
{
    const char *path = "build/test_checkpoint_deep.vae";
    vae_config cfg;
    vae *a, *b;
    float x[2 * D], bound;
    int i;
    vae_config_init(&cfg);
    cfg.input_dim = D;
    cfg.latent_dim = Z;
    cfg.n_hidden = VAE_MAX_HIDDEN;
    for (i = 0; i < VAE_MAX_HIDDEN; i++)
        cfg.hidden[i] = 2 + i;
    cfg.max_batch = 2;
    for (i = 0; i < 2 * D; i++)
        x[i] = (float)(i % 2);
    CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "8 hidden layers: %s", vae_error(a));
    CHECK(vae_tensor_count(a) == 4 * VAE_MAX_HIDDEN + 6, "%d tensors", vae_tensor_count(a));
    CHECK(vae_train_step(a, x, 2, NULL, &bound) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_load(&b, path) == VAE_OK, "%s", vae_error(b));
    CHECK(same_tensors(a, b, 0), "8 hidden layers round trip");
    vae_free(a);
    vae_free(b);
    remove(path);
}

/* A small file with a valid CRC whose configuration declares eight hidden
   layers and holds no tensors: the layout it describes once overflowed the
   tensor table before any size was checked. Now it is refused as too
   short, having allocated nothing for the model. */
static void test_deep_and_empty(void)
{
    const char *path = "build/test_checkpoint_empty.vae";
    unsigned char buf[4096];
    size_t n = 0;
    vae_config cfg;
    vae *m;
    FILE *f;
    int i, clen;
    vae_config_init(&cfg);
    cfg.n_hidden = VAE_MAX_HIDDEN;
    for (i = 0; i < VAE_MAX_HIDDEN; i++)
        cfg.hidden[i] = 2;
    memcpy(buf, "VAEMODEL", 8);
    put_le32(buf + 8, 2);
    clen = config_text(&cfg, (char *)buf + 16, sizeof buf - 100);
    put_le32(buf + 12, (uint32_t)clen);
    n = 16 + (size_t)clen;
    for (i = 0; i < 10; i++) /* steps (2 words), generator state (8), all 1 */
        put_le32(buf + n + 4 * (size_t)i, 1);
    n += 40;
    put_le32(buf + n, 0); /* no tensors */
    put_le32(buf + n + 4, 0); /* no application data */
    n += 8;
    put_le32(buf + n, vae_crc32(0, buf, n));
    n += 4;
    f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, n, f) == n, "cannot write %s", path);
    if (f)
        fclose(f);
    CHECK(vae_load(&m, path) == VAE_ERR_FORMAT && strstr(vae_error(m), "too short"),
          "a %lu-byte file declaring 8 hidden layers: %s", (unsigned long)n, vae_error(m));
    vae_free(m);
    remove(path);
}

/* A valid file of a 784-1 model that declares max_batch 1,048,576 and k 4:
   plain vae_load keeps its buffers within VAE_LOAD_ROWS rows; vae_load_ex
   sizes them for what the caller says. */
static void test_hostile_sizes(void)
{
    const char *path = "build/test_checkpoint_big.vae";
    vae_config cfg;
    vae_options opt = {0};
    vae *a, *b;
    vae_config_init(&cfg);
    cfg.n_hidden = 0;
    cfg.latent_dim = 1;
    cfg.max_batch = 1 << 20;
    cfg.k = 4;
    /* made with a small batch; the batch in the file is rewritten below */
    cfg.max_batch = 2;
    CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "%s", vae_error(a));
    a->cfg.max_batch = 1 << 20;
    CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_load(&b, path) == VAE_OK, "%s", vae_error(b));
    if (vae_get_config(b) && !vae_error(b)[0]) {
        const vae_config *c = vae_get_config(b);
        CHECK((double)c->max_batch * c->k <= VAE_LOAD_ROWS, "vae_load sized for %d x %d rows", c->max_batch, c->k);
        CHECK(activation_bytes(b) <= (double)VAE_LOAD_BYTES, "%.0f bytes of activations", activation_bytes(b));
        CHECK(c->k == 4, "k kept at 4: %d", c->k);
    }
    vae_free(b);
    opt.max_batch = 50;
    opt.k = 7;
    CHECK(vae_load_ex(&b, path, &opt) == VAE_OK, "%s", vae_error(b));
    if (vae_get_config(b) && !vae_error(b)[0])
        CHECK(vae_get_config(b)->max_batch == 50 && vae_get_config(b)->k == 7, "vae_load_ex sizes %d x %d",
              vae_get_config(b)->max_batch, vae_get_config(b)->k);
    vae_free(b);
    opt.k = 0; /* keeps the saved k */
    CHECK(vae_load_ex(&b, path, &opt) == VAE_OK, "%s", vae_error(b));
    if (vae_get_config(b) && !vae_error(b)[0])
        CHECK(vae_get_config(b)->max_batch == 50 && vae_get_config(b)->k == 4, "vae_load_ex keeps k: %d x %d",
              vae_get_config(b)->max_batch, vae_get_config(b)->k);
    vae_free(b);
    opt.k = 1 << 21;
    CHECK(vae_load_ex(&b, path, &opt) == VAE_ERR_ARG, "vae_load_ex refuses k = 2^21: %s", vae_error(b));
    vae_free(b);
    vae_free(a);
    remove(path);
}

/* k is the objective, not a buffer size: a model saved with a k of 2^14
   loads with k kept and buffers within the limit; it evaluates, and its
   training steps are refused until vae_load_ex sizes it for them. */
static void test_large_k(void)
{
    const char *path = "build/test_checkpoint_k.vae";
    vae_config cfg;
    vae_options opt = {0};
    vae *a, *b;
    float x[D];
    double bound;
    int i;
    vae_config_init(&cfg);
    cfg.input_dim = D;
    cfg.n_hidden = 0;
    cfg.latent_dim = Z;
    cfg.max_batch = 1;
    cfg.k = 1 << 14;
    cfg.objective = VAE_IWAE;
    for (i = 0; i < D; i++)
        x[i] = (float)(i % 2);
    CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_load(&b, path) == VAE_OK, "%s", vae_error(b));
    if (vae_get_config(b) && !vae_error(b)[0]) {
        CHECK(vae_get_config(b)->k == 1 << 14, "k kept: %d", vae_get_config(b)->k);
        CHECK(b->r_cap <= VAE_LOAD_ROWS, "buffers of %d rows", b->r_cap);
        CHECK(vae_bound(b, x, 1, VAE_IWAE, 1 << 14, &bound) == VAE_OK, "evaluates: %s", vae_error(b));
        CHECK(vae_train_step(b, x, 1, NULL, NULL) == VAE_ERR_ARG && strstr(vae_error(b), "vae_load_ex"),
              "training refused: %s", vae_error(b));
        CHECK(vae_steps(b) == 0, "no step taken");
    }
    vae_free(b);
    opt.max_batch = 1;
    CHECK(vae_load_ex(&b, path, &opt) == VAE_OK, "%s", vae_error(b));
    CHECK(vae_train_step(b, x, 1, NULL, NULL) == VAE_OK, "vae_load_ex makes room to train: %s", vae_error(b));
    vae_free(b);
    vae_free(a);
    remove(path);
}

/* A model holding a non-finite value is not saved, and the checkpoint
   already on disk stays as it was. */
static void test_no_nan_saved(void)
{
    const char *path = "build/test_checkpoint_nan.vae";
    vae_config cfg;
    vae *a, *b;
    float bias[2 * Z];
    long before;
    FILE *f;
    vae_config_init(&cfg);
    cfg.input_dim = D;
    cfg.n_hidden = 0;
    cfg.latent_dim = Z;
    cfg.max_batch = 2;
    CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    before = ftell(f);
    fclose(f);
    memset(bias, 0, sizeof bias);
    bias[1] = INFINITY;
    vae_set_tensor(a, "enc.mu.bias", bias, Z);
    CHECK(vae_save(a, path) == VAE_ERR_NUMERIC && strstr(vae_error(a), "enc.mu.bias"), "save refused: %s",
          vae_error(a));
    CHECK(vae_load(&b, path) == VAE_OK, "the old checkpoint still loads: %s", vae_error(b));
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    CHECK(ftell(f) == before, "and is as long as before");
    fclose(f);
    vae_free(a);
    vae_free(b);
    remove(path);
}

static void test_app_data_limits(void)
{
    vae_config cfg;
    vae *m;
    size_t len = 1;
    vae_config_init(&cfg);
    vae_create(&m, &cfg, NULL);
    CHECK(vae_set_app_data(m, "x", VAE_MAX_APP_DATA + 1) == VAE_ERR_ARG, "too much application data refused");
    CHECK(vae_set_app_data(m, NULL, 3) == VAE_ERR_ARG, "NULL data of length 3 refused");
    CHECK(vae_set_app_data(m, "abc", 3) == VAE_OK && vae_set_app_data(m, NULL, 0) == VAE_OK, "set, then clear");
    CHECK(vae_get_app_data(m, &len) == NULL && len == 0, "cleared");
    vae_free(m);
}

/* Text that vae_config_set must refuse for a real field, as a checkpoint
   or a command line could hold it; a value with a leading space once read
   an uninitialised pointer (found by fuzz_checkpoint). */
static void test_config_text(void)
{
    static const char *const bad[] = {"",    " 0.1", "\t1", "\n1",    "\v1",  "0.1 ", "1e", "nan",
                                      "inf", "-0.5", "1000", "0",   "0x1p-10", "0,5", "1.2.3"};
    vae_config c;
    char why[160];
    float want;
    int i;
    vae_config_init(&c);
    for (i = 0; i < (int)(sizeof bad / sizeof bad[0]); i++) {
        vae_config before = c;
        CHECK(vae_config_set(&c, "lr", bad[i], why, sizeof why) == VAE_ERR_ARG && why[0], "lr '%s' refused", bad[i]);
        CHECK(memcmp(&before, &c, sizeof c) == 0, "a refused value leaves the configuration as it was");
    }
    /* compared through a float variable: where FLT_EVAL_METHOD is 1 (s390x)
       a float constant keeps double precision in an expression */
    want = 2.5e-3f;
    CHECK(vae_config_set(&c, "lr", "2.5E-3", why, sizeof why) == VAE_OK && c.lr == want, "exponents read");
    CHECK(vae_config_set(&c, "sigma", "0", why, sizeof why) == VAE_OK, "sigma 0 (learned) allowed");
    CHECK(vae_config_set(&c, "hidden", "none", why, sizeof why) == VAE_OK && c.n_hidden == 0, "no hidden layer");
    CHECK(vae_config_set(&c, "nonsense", "1", why, sizeof why) == VAE_ERR_ARG, "unknown key refused");
    CHECK(vae_config_check(&c, why, sizeof why) == VAE_OK, "%s", why);
    c.likelihood = VAE_GAUSSIAN;
    c.sigma = 1e-4f;
    CHECK(vae_config_check(&c, why, sizeof why) == VAE_ERR_ARG && strstr(why, "sigma"), "sigma 1e-4: %s", why);
    c.sigma = 1e-3f;
    CHECK(vae_config_check(&c, why, sizeof why) == VAE_OK, "sigma 1e-3: %s", why);
    /* 9500 x 9500 twice: 180 million parameters, a 2.2 GB checkpoint */
    vae_config_init(&c);
    CHECK(vae_config_set(&c, "hidden", "9500,9500", why, sizeof why) == VAE_OK, "%s", why);
    CHECK(vae_config_check(&c, why, sizeof why) == VAE_ERR_ARG && strstr(why, "too many"), "%s", why);
}

/* A program that runs in a locale whose decimal point is a comma reads and
   writes the same configuration text and checkpoints as any other. */
static void test_locale(void)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE", NULL};
    const char *path = "build/test_checkpoint_locale.vae";
    vae_config c;
    vae *a, *b;
    char text[64];
    float lr, beta2, eps;
    int i;
    for (i = 0; names[i] && !setlocale(LC_ALL, names[i]); i++)
        ;
    if (!names[i] || strcmp(localeconv()->decimal_point, ",") != 0) {
        setlocale(LC_ALL, "C");
        SKIP("no locale with a decimal comma is installed (localedef -i de_DE -f UTF-8 de_DE.UTF-8)");
        return;
    }
    vae_config_init(&c);
    lr = 1e-3f, beta2 = 0.999f, eps = 1e-4f; /* float variables: see test_config_text */
    CHECK(c.lr == lr && c.beta2 == beta2 && c.eps == eps, "defaults read in %s: lr %g", names[i], (double)c.lr);
    CHECK(vae_config_get(&c, "lr", text, sizeof text) > 0 && strcmp(text, "0.00100000005") == 0, "lr written as %s",
          text);
    CHECK(vae_config_set(&c, "lr", "0.5", NULL, 0) == VAE_OK && c.lr == 0.5f, "0.5 read in %s", names[i]);
    c.input_dim = 6;
    c.n_hidden = 1;
    c.hidden[0] = 3;
    c.latent_dim = 2;
    CHECK(vae_create(&a, &c, NULL) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
    setlocale(LC_ALL, "C");
    CHECK(vae_load(&b, path) == VAE_OK, "a checkpoint saved in %s loads in C: %s", names[i], vae_error(b));
    CHECK(vae_get_config(b) && vae_get_config(b)->lr == 0.5f, "with its learning rate");
    vae_free(a);
    vae_free(b);
    remove(path);
}

/* vae_write_file, which vae_save uses: it replaces a file whole, leaves
   no temporary file, and on failure keeps the old file and says why. */
static void test_write_file(void)
{
    const char *path = "build/test_checkpoint_write.txt", *tmp = "build/test_checkpoint_write.txt.tmp";
    unsigned char *back;
    size_t len;
    char why[200];
    CHECK(vae_write_file(path, "old", 3, why, sizeof why) == VAE_OK, "%s", why);
    CHECK(vae_write_file(path, "new contents", 12, why, sizeof why) == VAE_OK, "%s", why);
    CHECK(vae_read_file(path, 100, &back, &len, why, sizeof why) == VAE_OK && len == 12 &&
              memcmp(back, "new contents", 12) == 0,
          "the file is replaced whole");
    free(back);
    CHECK(!fopen(tmp, "rb"), "no temporary file is left");
    /* a directory where the temporary file would go: the write fails */
    CHECK(test_mkdir(tmp) == 0, "mkdir %s", tmp);
    errno = 0;
    CHECK(vae_write_file(path, "lost", 4, why, sizeof why) == VAE_ERR_IO && strstr(why, ".tmp") && errno != 0,
          "a failed write says why: %s", why);
    CHECK(vae_read_file(path, 100, &back, &len, why, sizeof why) == VAE_OK && len == 12 &&
              memcmp(back, "new contents", 12) == 0,
          "and keeps the old file");
    free(back);
    test_rmdir(tmp);
    CHECK(vae_write_file("build/no/such/dir/file", "x", 1, why, sizeof why) == VAE_ERR_IO &&
              strstr(why, "cannot create"),
          "a missing directory: %s", why);
    CHECK(vae_write_file(path, NULL, 5, why, sizeof why) == VAE_ERR_ARG, "no data for 5 bytes");
    CHECK(vae_write_file(path, NULL, 0, NULL, 0) == VAE_OK, "an empty file, no room for why");
    CHECK(vae_read_file(path, 100, &back, &len, why, sizeof why) == VAE_OK && len == 0, "is empty");
    free(back);
    remove(path);
}

/* A conv model (4-D tensors kept in another order in memory, views, the
   isotropic head) saves and loads exactly and resumes bit for bit; a
   file whose network description no longer matches its tensors is
   refused with the tensor named. */
static void test_conv(void)
{
    const char *path = "build/test_checkpoint_conv.vae";
    vae_config cfg;
    vae *a, *b;
    float x[2 * 36];
    unsigned char *data;
    size_t len, i;
    char why[160];
    int step;
    vae_config_init(&cfg);
    cfg.input_dim = 36;
    cfg.image_rows = cfg.image_cols = 6;
    cfg.image_channels = 1;
    cfg.latent_dim = 2;
    cfg.max_batch = 2;
    cfg.k = 3;
    CHECK(vae_config_set(&cfg, "encoder", "conv 3 3 s2 p1,relu,conv 4 2,tanh", why, sizeof why) == VAE_OK, "%s", why);
    CHECK(vae_config_set(&cfg, "decoder", "fc 12,tanh,view 3 2 2,convt 4 3 s2 p1 o1,relu,convt 1 3", why,
                         sizeof why) == VAE_OK,
          "%s", why);
    cfg.posterior = VAE_POSTERIOR_ISOTROPIC;
    for (i = 0; i < 2 * 36; i++)
        x[i] = (float)((i * 5) % 7 > 3);
    CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "conv create: %s", vae_error(a));
    for (step = 0; step < 3; step++)
        vae_train_step(a, x, 2, NULL, NULL);
    CHECK(vae_save(a, path) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_load(&b, path) == VAE_OK, "conv load: %s", vae_error(b));
    if (vae_get_config(b) && !vae_error(b)[0]) {
        CHECK(same_tensors(a, b, 0), "conv: parameters restored");
        for (step = 0; step < 3; step++) {
            vae_train_step(a, x, 2, NULL, NULL);
            vae_train_step(b, x, 2, NULL, NULL);
        }
        CHECK(same_tensors(a, b, 0), "conv: training resumes exactly");
    }
    vae_free(b);
    vae_free(a);
    /* conv 3 3 -> conv 5 3 in the configuration text, CRC made good */
    if (vae_read_file(path, (size_t)1 << 26, &data, &len, why, sizeof why) == VAE_OK) {
        for (i = 0; i + 8 < len && memcmp(data + i, "conv 3 3", 8) != 0; i++)
            ;
        CHECK(i + 8 < len, "the encoder's text in the file");
        data[i + 5] = '5';
        put_le32(data + len - 4, vae_crc32(0, data, len - 4));
        CHECK(vae_write_file(path, data, len, why, sizeof why) == VAE_OK, "%s", why);
        CHECK(vae_load(&b, path) == VAE_ERR_FORMAT && strstr(vae_error(b), "enc.0.weight") &&
                  strstr(vae_error(b), "wrong shape"),
              "a description that disagrees with the tensors: %s", vae_error(b));
        vae_free(b);
        VAE_FREE(data);
    }
    remove(path);
}

int main(void)
{
    test_conv();
    test_write_file();
    test_config_text();
    test_locale();
    test_version1();
    test_round_trips();
    test_deepest();
    test_deep_and_empty();
    test_hostile_sizes();
    test_large_k();
    test_no_nan_saved();
    test_app_data_limits();
    return check_summary();
}
