/* End to end: training improves the bound on real digits; IWAE with k = 1
   is the ELBO exactly; same seed, same run; save/load round trips exactly
   and resumes exactly; evaluation in chunks equals evaluation at once; bad
   input is reported, never fatal. */
#include "../vae.c"
#include "../mnist.c"
#include "check.h"
#include "same_model.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static vae_config small_config(void)
{
    vae_config c;
    vae_config_init(&c);
    c.hidden[0] = 64;
    c.hidden[1] = 32;
    c.latent_dim = 8;
    c.max_batch = 50;
    c.seed = 5;
    return c;
}

static void train_steps(vae *m, const float *x, int n_images, int steps)
{
    int s, bs = vae_get_config(m)->max_batch;
    for (s = 0; s < steps; s++) {
        int off = (s * bs) % (n_images - bs);
        vae_status st = vae_train_step(m, x + (size_t)off * 784, bs, NULL, NULL);
        if (st != VAE_OK) {
            CHECK(st == VAE_OK, "train step: %s", vae_error(m));
            return;
        }
    }
}

static void test_training(const float *x, int n_train, const float *xt, int n_test)
{
    vae_config c = small_config();
    vae *m;
    double before, after;
    vae_create(&m, &c, NULL);
    vae_bound(m, xt, n_test, VAE_ELBO, 1, &before);
    train_steps(m, x, n_train, 300);
    vae_bound(m, xt, n_test, VAE_ELBO, 1, &after);
    printf("training: test ELBO %.2f -> %.2f after 300 steps\n", before, after);
    CHECK(after > before + 200.0, "test bound improved from %.2f to %.2f", before, after);
    CHECK(after > -230.0, "test bound %.2f is plausible for MNIST after 300 steps", after);
    {
        double iw, ll;
        vae_bound(m, xt, n_test, VAE_IWAE, 20, &iw);
        vae_log_likelihood(m, xt, n_test, 100, &ll);
        printf("          IWAE k=20 %.2f, log p(x) estimate k=100 %.2f\n", iw, ll);
        CHECK(iw > after, "IWAE k=20 (%.2f) is tighter than the ELBO (%.2f)", iw, after);
        CHECK(ll > iw - 0.5, "k=100 estimate (%.2f) is at least the k=20 bound (%.2f)", ll, iw);
    }
    vae_free(m);
}

static void test_iwae_k1_is_elbo(const float *x)
{
    vae_config c = small_config();
    vae *a, *b;
    float eps[50 * 8], ba, bb;
    vae_rng r;
    vae_rng_seed(&r, 9);
    vae_rng_normal(&r, eps, 50 * 8);
    vae_create(&a, &c, NULL);
    c.objective = VAE_IWAE;
    vae_create(&b, &c, NULL);
    vae_gradient(a, x, 50, eps, &ba);
    vae_gradient(b, x, 50, eps, &bb);
    CHECK(ba == bb, "IWAE k=1 bound %.9g equals the ELBO %.9g", bb, ba);
    CHECK(same_tensors(a, b, 1), "IWAE k=1 gradients equal the ELBO's");
    vae_free(a);
    vae_free(b);
}

/* select_rows for a model that skips nothing, as a backend may answer:
   what the decoder's backward pass computed before it skipped samples of
   weight zero. */
static vae_status keep_every_row(void *dev, vae_ref weight, int rows, vae_ref kept, int *count)
{
    (void)dev, (void)weight, (void)kept;
    *count = rows;
    return VAE_OK;
}

/* IWAE samples of weight zero are left out of the decoder's backward pass;
   the gradients must be exactly those of the pass over every row. A tiny
   posterior variance makes log w differ by eps^2 / 2 per dimension, so the
   samples with eps = 5 outweigh the others by about 100 nats: those others
   get weights below 2^-60, which are flushed to zero. */
static void test_skipped_samples(const float *x)
{
    enum { N = 12, K = 9, Z = 8 };
    vae_config c = small_config();
    vae_backend every_row = *vae_backend_cpu();
    vae_options opt = {0};
    vae *a, *b;
    float eps[N * K * Z], lv[Z], ba, bb, weight[N * K];
    int i, j, zeros = 0;
    vae_rng r;
    c.objective = VAE_IWAE;
    c.k = K;
    vae_rng_seed(&r, 11);
    vae_rng_normal(&r, eps, N * K * Z);
    for (i = 0; i < N * K; i += 3)
        for (j = 0; j < Z; j++)
            eps[i * Z + j] = j % 2 ? 5.0f : -5.0f;
    for (j = 0; j < Z; j++)
        lv[j] = -30.0f;
    every_row.select_rows = keep_every_row;
    opt.backend = &every_row;
    vae_create(&a, &c, NULL);
    vae_create(&b, &c, &opt);
    CHECK(vae_set_tensor(a, "enc.logvar.bias", lv, Z) == VAE_OK, "%s", vae_error(a));
    CHECK(vae_set_tensor(b, "enc.logvar.bias", lv, Z) == VAE_OK, "%s", vae_error(b));
    CHECK(vae_gradient(a, x, N, eps, &ba) == VAE_OK, "gradient: %s", vae_error(a));
    CHECK(vae_gradient(b, x, N, eps, &bb) == VAE_OK, "gradient: %s", vae_error(b));
    a->be->read(a->dev, a->weight, weight, N * K);
    for (i = 0; i < N * K; i++)
        zeros += weight[i] == 0.0f;
    CHECK(zeros == N * K * 2 / 3, "%d of %d samples have weight zero", zeros, N * K);
    CHECK(ba == bb, "bound %.9g with samples skipped, %.9g without", ba, bb);
    CHECK(same_tensors(a, b, 1), "gradients with samples skipped equal those without");
    vae_free(a);
    vae_free(b);
}

static void test_determinism_and_checkpoints(const float *x, int n, const float *xt)
{
    const char *path = "build/test_train.vae";
    vae_config c = small_config();
    vae *a, *b, *l;
    double ba, bl;
    c.objective = VAE_IWAE;
    c.k = 3;
    vae_create(&a, &c, NULL);
    vae_create(&b, &c, NULL);
    train_steps(a, x, n, 40);
    train_steps(b, x, n, 40);
    CHECK(same_tensors(a, b, 0), "same seed, same weights after 40 steps");

    CHECK(vae_save(a, path) == VAE_OK, "save: %s", vae_error(a));
    CHECK(vae_load(&l, path) == VAE_OK, "load: %s", vae_error(l));
    if (!l || !vae_get_config(l) || vae_error(l)[0])
        return;
    CHECK(same_tensors(a, l, 0), "loaded weights are identical");
    CHECK(vae_steps(l) == vae_steps(a), "step counter restored");
    CHECK(memcmp(vae_get_config(l), vae_get_config(a), sizeof(vae_config)) == 0, "config restored");
    vae_bound(a, xt, 200, VAE_ELBO, 2, &ba);
    vae_bound(l, xt, 200, VAE_ELBO, 2, &bl);
    CHECK(ba == bl, "bounds after load are identical: %.9g vs %.9g", ba, bl);
    /* resume: both continue with the same noise and optimiser state */
    train_steps(a, x, n, 10);
    train_steps(l, x, n, 10);
    CHECK(same_tensors(a, l, 0), "training resumes exactly after load");

    /* a failed save leaves the old checkpoint as it was */
    {
        vae *l2;
        CHECK(vae_save(a, "build/no/such/dir/x.vae") == VAE_ERR_IO, "save into a missing directory fails");
        CHECK(strstr(vae_error(a), "build/no/such/dir") != NULL, "message names the path: %s", vae_error(a));
        CHECK(vae_load(&l2, path) == VAE_OK, "old checkpoint still loads");
        vae_free(l2);
    }
    vae_free(a);
    vae_free(b);
    vae_free(l);
}

static void test_corrupt_checkpoints(void)
{
    const char *path = "build/test_train.vae", *bad = "build/test_train_bad.vae";
    FILE *f = fopen(path, "rb");
    unsigned char *data;
    long len, cut, failures = 0, tried = 0, i;
    vae *m;
    if (!f) {
        CHECK(0, "no checkpoint to corrupt");
        return;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    data = malloc((size_t)len);
    if (fread(data, 1, (size_t)len, f) != (size_t)len)
        len = 0;
    fclose(f);
    /* truncations and single bit flips all over the file */
    for (cut = 0; cut < len; cut += 1 + len / 97) {
        f = fopen(bad, "wb");
        fwrite(data, 1, (size_t)cut, f);
        fclose(f);
        tried++;
        if (vae_load(&m, bad) == VAE_ERR_FORMAT && vae_error(m)[0])
            failures++;
        vae_free(m);
    }
    for (i = 0; i < len * 8; i += 1 + len * 8 / 301) {
        data[i / 8] ^= (unsigned char)(1u << (i % 8));
        f = fopen(bad, "wb");
        fwrite(data, 1, (size_t)len, f);
        fclose(f);
        data[i / 8] ^= (unsigned char)(1u << (i % 8));
        tried++;
        if (vae_load(&m, bad) == VAE_ERR_FORMAT && vae_error(m)[0])
            failures++;
        vae_free(m);
    }
    CHECK(failures == tried, "%ld of %ld damaged checkpoints rejected", failures, tried);
    {
        /* Damage that keeps the CRC valid: a zero generator state (which
           would hang the Gaussian sampler), a step counter at LONG_MAX, a
           NaN weight. Each must be refused by content, not checksum. */
        size_t clen = vae_get_le32(data + 12), rng_at = 16 + clen + 8, steps_at = 16 + clen;
        size_t last_value = (size_t)len - 8; /* the last float of the last tensor */
        const float nan = NAN;
        uint32_t u;
        int what;
        for (what = 0; what < 3; what++) {
            unsigned char *copy = malloc((size_t)len);
            memcpy(copy, data, (size_t)len);
            if (what == 0)
                memset(copy + rng_at, 0, 32);
            else if (what == 1)
                put_le32(copy + steps_at, 0xffffffffu), put_le32(copy + steps_at + 4, 0x7fffffffu);
            else
                memcpy(&u, &nan, 4), put_le32(copy + last_value, u);
            put_le32(copy + len - 4, vae_crc32(0, copy, (size_t)len - 4));
            f = fopen(bad, "wb");
            fwrite(copy, 1, (size_t)len, f);
            fclose(f);
            CHECK(vae_load(&m, bad) == VAE_ERR_FORMAT, "CRC-valid damage %d refused: %s", what, vae_error(m));
            vae_free(m);
            free(copy);
        }
    }
    CHECK(vae_load(&m, "build/does-not-exist.vae") == VAE_ERR_IO, "missing checkpoint is an I/O error");
    CHECK(strstr(vae_error(m), "does-not-exist") != NULL, "message names the file: %s", vae_error(m));
    CHECK(vae_train_step(m, NULL, 1, NULL, NULL) == VAE_ERR_ARG, "a failed load cannot be trained");
    vae_free(m);
    remove(bad);
    free(data);
}

static void test_chunked_evaluation(const float *xt)
{
    /* Model a holds 256 decoder rows, b 1000: k = 600 goes through a in
       three chunks per image and through b at once, with the same noise,
       also with an odd latent size (the Gaussian sampler works in pairs). */
    vae_config c = small_config();
    vae *a, *b;
    double la, lb;
    c.latent_dim = 7;
    vae_create(&a, &c, NULL);
    c.max_batch = 1000;
    vae_create(&b, &c, NULL);
    vae_log_likelihood(a, xt, 3, 600, &la);
    vae_log_likelihood(b, xt, 3, 600, &lb);
    CHECK(fabs(la - lb) <= 1e-9 * fabs(lb), "chunked estimate %.12g equals one-pass %.12g", la, lb);
    vae_seed(a, 3);
    vae_seed(b, 3);
    vae_bound(a, xt, 300, VAE_IWAE, 3, &la);
    vae_bound(b, xt, 300, VAE_IWAE, 3, &lb);
    CHECK(fabs(la - lb) <= 1e-9 * fabs(lb), "bound in passes of 85 and 300 images agree: %.12g vs %.12g", la, lb);
    {
        /* each image's value, with the same noise, adds up to the mean */
        double each[300], sum = 0.0, ll, ll_each[3];
        int i, bad = 0;
        vae_seed(a, 3);
        CHECK(vae_bound_images(a, xt, 300, VAE_IWAE, 3, each) == VAE_OK, "%s", vae_error(a));
        for (i = 0; i < 300; i++) {
            sum += each[i];
            bad += !(each[i] < 0.0);
        }
        CHECK(bad == 0 && fabs(sum / 300 - la) <= 1e-9 * fabs(la), "per-image bounds average to %.12g, not %.12g",
              sum / 300, la);
        vae_seed(a, 4);
        vae_log_likelihood(a, xt, 3, 600, &ll);
        vae_seed(a, 4);
        CHECK(vae_log_likelihood_images(a, xt, 3, 600, ll_each) == VAE_OK, "%s", vae_error(a));
        CHECK(fabs((ll_each[0] + ll_each[1] + ll_each[2]) / 3 - ll) <= 1e-9 * fabs(ll),
              "per-image log-likelihoods average to the estimate");
    }
    vae_free(a);
    vae_free(b);
}

static void test_bad_input(const float *x)
{
    vae_config c = small_config();
    vae *m;
    float *nan_x = malloc(sizeof(float) * 50 * 784), before[8];
    c.latent_dim = 0;
    CHECK(vae_create(&m, &c, NULL) == VAE_ERR_ARG && strstr(vae_error(m), "latent"), "latent 0: %s", vae_error(m));
    vae_free(m);
    c = small_config();
    c.lr = NAN;
    CHECK(vae_create(&m, &c, NULL) == VAE_ERR_ARG, "lr NaN is refused");
    vae_free(m);
    c = small_config();
    c.k = 1 << 21;
    CHECK(vae_create(&m, &c, NULL) == VAE_ERR_ARG, "k too large is refused");
    vae_free(m);
    c = small_config();
    vae_create(&m, &c, NULL);
    CHECK(vae_train_step(m, x, 51, NULL, NULL) == VAE_ERR_ARG, "batch over max_batch refused");
    CHECK(vae_train_step(m, x, 0, NULL, NULL) == VAE_ERR_ARG, "empty batch refused");
    CHECK(vae_get_tensor(m, "enc.0.weight", before, 8) == VAE_ERR_ARG, "wrong tensor size refused");
    CHECK(vae_get_tensor(m, "nope", before, 8) == VAE_ERR_ARG, "unknown tensor refused");
    memcpy(nan_x, x, sizeof(float) * 50 * 784);
    nan_x[100] = NAN;
    {
        float *w0 = malloc(sizeof(float) * 784), *w1 = malloc(sizeof(float) * 784);
        vae_get_tensor(m, "dec.out.bias", w0, 784);
        CHECK(vae_train_step(m, nan_x, 50, NULL, NULL) == VAE_ERR_NUMERIC, "NaN input is a numeric error");
        vae_get_tensor(m, "dec.out.bias", w1, 784);
        CHECK(memcmp(w0, w1, sizeof(float) * 784) == 0, "weights unchanged after a NaN step");
        CHECK(vae_steps(m) == 0, "a NaN step is not counted (steps %ld)", vae_steps(m));
        CHECK(vae_train_step(m, x, 50, NULL, NULL) == VAE_OK, "training goes on after a refused step");
        free(w0);
        free(w1);
    }
    vae_free(m);
    free(nan_x);
}

static void test_threads(const float *x, int n)
{
#ifdef _OPENMP
    vae_config c = small_config();
    vae *a, *b;
    int keep = omp_get_max_threads();
    vae_create(&a, &c, NULL);
    vae_create(&b, &c, NULL);
    omp_set_num_threads(1);
    train_steps(a, x, n, 20);
    omp_set_num_threads(2);
    train_steps(b, x, n, 20);
    omp_set_num_threads(keep);
    CHECK(same_tensors(a, b, 0), "1 and 2 threads give identical weights");
    vae_free(a);
    vae_free(b);
#else
    (void)x;
    (void)n;
#endif
}

int main(void)
{
    vae_dataset ds;
    float *x, *xt;
    int i, n_train = 3000, n_test = 500;
    int *idx;
    if (vae_dataset_load(&ds, "data/mnist/t10k-images-idx3-ubyte.gz", NULL) != VAE_OK) {
        CHECK(0, "cannot load the shipped digits: %s", ds.error);
        return check_summary();
    }
    idx = malloc(sizeof(int) * (n_train + n_test));
    for (i = 0; i < n_train + n_test; i++)
        idx[i] = i;
    x = malloc(sizeof(float) * 784 * (n_train + n_test));
    vae_dataset_batch(&ds, idx, n_train + n_test, VAE_BINARY_STATIC, NULL, x);
    xt = x + (size_t)n_train * 784;

    test_training(x, n_train, xt, n_test);
    test_iwae_k1_is_elbo(x);
    test_skipped_samples(x);
    test_determinism_and_checkpoints(x, n_train, xt);
    test_corrupt_checkpoints();
    test_chunked_evaluation(xt);
    test_bad_input(x);
    test_threads(x, n_train);

    remove("build/test_train.vae");
    free(idx);
    free(x);
    vae_dataset_free(&ds);
    return check_summary();
}
