/* The CPU backend through the conformance suite that every backend must
   pass (tests/conformance.h), and the model's checks on the backend tables
   it is given: a wrong interface version or an empty slot is refused with
   a message, never called. */
#include "../vae.c"
#include "conformance.h"

static void test_refused_tables(void)
{
    vae_backend bad = *vae_backend_cpu();
    vae_options opt = {0};
    vae_config cfg;
    vae *m;
    vae_config_init(&cfg);
    opt.backend = &bad;
    bad.version = VAE_BACKEND_VERSION + 1;
    CHECK(vae_create(&m, &cfg, &opt) == VAE_ERR_ARG && strstr(vae_error(m), "version"), "wrong version: %s",
          vae_error(m));
    vae_free(m);
    bad = *vae_backend_cpu();
    bad.mog_backward = NULL;
    CHECK(vae_create(&m, &cfg, &opt) == VAE_ERR_ARG && strstr(vae_error(m), "mog_backward"), "empty slot: %s",
          vae_error(m));
    vae_free(m);
    bad = *vae_backend_cpu();
    bad.alignment = 96; /* not a power of two */
    CHECK(vae_create(&m, &cfg, &opt) == VAE_ERR_ARG && strstr(vae_error(m), "alignment"), "odd alignment: %s",
          vae_error(m));
    vae_free(m);
    opt.backend = NULL;
    opt.k = 3;
    CHECK(vae_create(&m, &cfg, &opt) == VAE_ERR_ARG, "vae_create refuses sizes in the options: %s", vae_error(m));
    vae_free(m);
}

/* A backend whose every op fails after a number of calls, as a lost GPU
   would: the model reports it, names the backend, and a failed step leaves
   nothing half-done that a later call trips on. */
static int fail_after;
static const char *failing_error(void *dev)
{
    (void)dev;
    return "device lost";
}
static vae_status failing_gemm(void *dev, int ta, int tb, int m, int n, int k, vae_ref a, int lda, vae_ref b, int ldb,
                               vae_ref c, int ldc, vae_ref bias, int act, int accumulate)
{
    if (fail_after-- <= 0)
        return VAE_ERR_BACKEND;
    return vae_backend_cpu()->gemm(dev, ta, tb, m, n, k, a, lda, b, ldb, c, ldc, bias, act, accumulate);
}

static void test_failing_backend(void)
{
    vae_backend failing = *vae_backend_cpu();
    vae_options opt = {0};
    vae_config cfg;
    vae *m;
    float x[20 * 784], bound;
    int i, failures = 0, gemms;
    failing.name = "flaky";
    failing.gemm = failing_gemm;
    failing.error = failing_error;
    opt.backend = &failing;
    vae_config_init(&cfg);
    for (i = 0; i < 20 * 784; i++)
        x[i] = (float)(i % 3 == 0);
    fail_after = 1 << 30;
    CHECK(vae_create(&m, &cfg, &opt) == VAE_OK, "create: %s", vae_error(m));
    CHECK(vae_train_step(m, x, 20, NULL, &bound) == VAE_OK, "a step: %s", vae_error(m));
    gemms = (1 << 30) - fail_after;
    /* every gemm of a step in turn */
    for (i = 0; i <= gemms; i++) {
        vae_status st;
        fail_after = i;
        st = vae_train_step(m, x, 20, NULL, &bound);
        if (st != VAE_OK) {
            failures++;
            CHECK(st == VAE_ERR_BACKEND && strstr(vae_error(m), "flaky") && strstr(vae_error(m), "device lost"),
                  "gemm %d failing: status %d, %s", i, (int)st, vae_error(m));
        }
    }
    CHECK(gemms == 17 && failures == gemms, "%d of %d steps failed (a step has 17 products)", failures, gemms + 1);
    fail_after = 1 << 30;
    CHECK(vae_train_step(m, x, 20, NULL, &bound) == VAE_OK, "a step after the failures: %s", vae_error(m));
    vae_free(m);
}

/* An update that fails leaves the step counter, which Adam's bias
   correction follows, where it was. */
static vae_status failing_adam(void *dev, vae_ref p, vae_ref g, vae_ref m1, vae_ref m2, size_t n, float lr, float b1,
                               float b2, float eps, long t, int adamax, vae_ref ok)
{
    (void)dev, (void)p, (void)g, (void)m1, (void)m2, (void)n, (void)lr, (void)b1, (void)b2, (void)eps, (void)t;
    (void)adamax, (void)ok;
    return VAE_ERR_BACKEND;
}

static void test_failing_update(void)
{
    vae_backend failing = *vae_backend_cpu();
    vae_options opt = {0};
    vae_config cfg;
    vae *m;
    float x[20 * 784];
    int i;
    failing.adam = failing_adam;
    opt.backend = &failing;
    vae_config_init(&cfg);
    for (i = 0; i < 20 * 784; i++)
        x[i] = (float)(i % 2);
    CHECK(vae_create(&m, &cfg, &opt) == VAE_OK, "%s", vae_error(m));
    CHECK(vae_train_step(m, x, 20, NULL, NULL) == VAE_ERR_BACKEND && vae_steps(m) == 0,
          "a failed update takes no step (steps %ld)", vae_steps(m));
    vae_free(m);
}

int main(void)
{
    test_failing_update();
    CHECK(conformance(vae_backend_cpu(), NULL), "the CPU backend could not be created");
    test_refused_tables();
    test_failing_backend();
    return check_summary();
}
