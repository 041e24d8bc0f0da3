/* The OpenCL backend: every op through the conformance suite
   (tests/conformance.h), the failure paths of loading it, and a training
   step against the CPU backend's. Where this machine has no OpenCL loader
   or device the checks that need one are counted as skipped, never as
   passed; CI installs PoCL (pocl-opencl-icd) so that they run there. */
#include "../vae.c"
#include "../opencl/vae_opencl.c"

#include <stdlib.h>

#include "conformance.h"

/* Under make test SAN=1, PoCL's compiled kernels allocate and are unloaded
   before LeakSanitizer looks, so their leaks cannot even be named for a
   suppression: this test runs with AddressSanitizer and UBSan but without
   leak detection (the CPU tests check the library for leaks). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

/* Creating on the backend fails with a status and a reason naming what
   is missing, with the environment variable set to value. */
static void refused(const char *var, const char *value, const char *expect)
{
    const char *old = getenv(var);
    char *saved = old ? strdup(old) : NULL, why[512] = "";
    void *dev = NULL;
    vae_status s;
    setenv(var, value, 1);
    s = vae_backend_opencl()->create(&dev, 1024, NULL, why, sizeof why);
    CHECK(s != VAE_OK && dev == NULL, "%s=%s: created anyway", var, value);
    CHECK(strstr(why, expect) != NULL, "%s=%s: reason \"%s\" does not say \"%s\"", var, value, why, expect);
    if (saved) {
        setenv(var, saved, 1);
        free(saved);
    } else {
        unsetenv(var);
    }
}

/* A step with the same eps on both backends: the bound within 1e-5
   relative and each gradient within 1e-4 of its tensor's largest
   magnitude. */
/* The course's two conv VAEs, as tools/conv_models.sh trains them. */
static const char *const conv_nets[][2] = {
    {"conv 32 5,relu,conv 32 5,relu", "fc 12800,view 32 20 20,relu,convt 32 5,relu,convt 1 5"},
    {"conv 32 3 s2 p1,relu,conv 64 3 s2 p1,relu,fc 256,relu",
     "fc 256,relu,fc 3136,relu,view 64 7 7,convt 32 3 s2 p1 o1,relu,convt 1 3 s2 p1 o1"},
};

static void same_step_net(int objective, int k, int lik, int pri, int kl, int net)
{
    vae_config cfg;
    vae_options opt = {0};
    vae_opencl_params params = {-1, -1};
    vae *cpu = NULL, *gpu = NULL;
    enum { N = 5 };
    float x[N * 784], eps[N * 50 * 8], bc = 0, bg = 0;
    vae_rng r;
    int i;
    char what[96];
    vae_config_init(&cfg);
    cfg.objective = objective;
    cfg.k = k;
    cfg.likelihood = lik;
    cfg.prior = pri;
    cfg.kl = kl;
    cfg.latent_dim = 8;
    cfg.max_batch = N;
    if (net >= 0) {
        cfg.image_rows = cfg.image_cols = 28;
        cfg.image_channels = 1;
        vae_config_set(&cfg, "encoder", conv_nets[net][0], NULL, 0);
        vae_config_set(&cfg, "decoder", conv_nets[net][1], NULL, 0);
        if (net == 0) {
            cfg.posterior = VAE_POSTERIOR_ISOTROPIC;
            cfg.mean = VAE_MEAN_LINEAR;
            cfg.latent_dim = 2;
        }
    }
    snprintf(what, sizeof what, "%s k=%d likelihood %d prior %d kl %d%s", objective == VAE_IWAE ? "iwae" : "elbo",
             k, lik, pri, kl, net < 0 ? "" : net ? " conv model b" : " conv model a");
    vae_rng_seed(&r, 7);
    for (i = 0; i < N * 784; i++)
        x[i] = lik == VAE_BERNOULLI ? (float)(vae_rng_uniform(&r) < 0.3) : (float)vae_rng_uniform(&r);
    vae_rng_normal(&r, eps, (size_t)N * k * 8);
    opt.backend = vae_backend_opencl();
    opt.backend_params = &params;
    CHECK(vae_create(&cpu, &cfg, NULL) == VAE_OK, "%s: cpu model", what);
    CHECK(vae_create(&gpu, &cfg, &opt) == VAE_OK, "%s: opencl model: %s", what, gpu ? vae_error(gpu) : "");
    if (cpu && gpu) {
        int t;
        CHECK(vae_gradient(cpu, x, N, eps, &bc) == VAE_OK, "%s: cpu step: %s", what, vae_error(cpu));
        CHECK(vae_gradient(gpu, x, N, eps, &bg) == VAE_OK, "%s: opencl step: %s", what, vae_error(gpu));
        CHECK_NEAR(bg, bc, 1e-5, what);
        for (t = 0; t < vae_tensor_count(cpu); t++) {
            const char *name;
            int ndim, shape[VAE_MAX_DIMS];
            size_t n, j;
            float *gc, *gg;
            double big = 0, worst = 0;
            vae_tensor_info(cpu, t, &name, &ndim, shape);
            n = (size_t)shape[0] * shape[1] * shape[2] * shape[3];
            gc = malloc(n * sizeof *gc);
            gg = malloc(n * sizeof *gg);
            CHECK(gc && gg && vae_get_gradient(cpu, name, gc, n) == VAE_OK &&
                      vae_get_gradient(gpu, name, gg, n) == VAE_OK,
                  "%s: gradient of %s", what, name);
            for (j = 0; gc && gg && j < n; j++) {
                big = fabs(gc[j]) > big ? fabs(gc[j]) : big;
                worst = fabs(gc[j] - gg[j]) > worst ? fabs(gc[j] - gg[j]) : worst;
            }
            CHECK(worst <= 1e-4 * big, "%s: %s differs by %g, largest %g", what, name, worst, big);
            free(gc);
            free(gg);
        }
    }
    vae_free(cpu);
    vae_free(gpu);
}

static void same_step(int objective, int k, int lik, int pri, int kl)
{
    same_step_net(objective, k, lik, pri, kl, -1);
}

/* The GEMM with K split into chunks, as a device with many compute units
   would split it, against the same reference. */
static void split_k(void)
{
    conf c;
    char why[200] = "";
    memset(&c, 0, sizeof c);
    c.be = vae_backend_opencl();
    c.align = VAE_BUFFER_ALIGN / sizeof(float);
    vae_rng_seed(&c.rng, 99);
    if (c.be->create(&c.dev, CONF_FLOATS, NULL, why, sizeof why) != VAE_OK) {
        CHECK(0, "create: %s", why);
        return;
    }
    ((ocl_dev *)c.dev)->units = 1000;
    CHECK(ocl_gemm_splits(c.dev, 1, 0, 784, 200, 1000) > 1 && ocl_gemm_splits(c.dev, 1, 0, 33, 17, 300) > 1,
          "K is split: %d and %d chunks", ocl_gemm_splits(c.dev, 1, 0, 784, 200, 1000),
          ocl_gemm_splits(c.dev, 1, 0, 33, 17, 300));
    c.op = "gemm, K split";
    conf_gemm_case(&c, 1, 0, 784, 200, 1000, 0, 0);
    conf_gemm_case(&c, 1, 0, 33, 17, 300, 1, 0);
    conf_gemm_case(&c, 1, 0, 65, 33, 1001, 0, 1); /* the split product accumulated */
    c.be->destroy(c.dev);
    printf("opencl backend: the GEMM with K split, worst relative error %.2e\n", c.worst);
}

/* A kernel that does not build: the reason carries the compiler's log. */
static void build_failure(void)
{
    static const char *const broken[] = {"__kernel void broken(__global float *m) { m[0] = undeclared_name; }\n"};
    char why[200] = "";
    void *dev = NULL;
    cl_program program = NULL;
    ocl_dev *d;
    if (vae_backend_opencl()->create(&dev, 1024, NULL, why, sizeof why) != VAE_OK) {
        CHECK(0, "create: %s", why);
        return;
    }
    d = dev;
    CHECK(ocl_build(d, d->device, broken, 1, "", &program) == VAE_ERR_BACKEND, "a broken kernel built");
    CHECK(strstr(d->why, "do not build") && strstr(d->why, "undeclared_name"), "the reason has no log: %s", d->why);
    if (program)
        d->cl.clReleaseProgram(program);
    vae_backend_opencl()->destroy(dev);
}

/* A training step of the reference model queues at most 50 kernels and
   waits for the device once, for its summary. */
static void launches_per_step(int objective, int k)
{
    vae_config cfg;
    vae_options opt = {0};
    vae *m = NULL;
    float *x = malloc(20 * 784 * sizeof *x);
    unsigned long launches, waits;
    int i;
    vae_config_init(&cfg);
    cfg.objective = objective;
    cfg.k = k;
    for (i = 0; x && i < 20 * 784; i++)
        x[i] = (float)(i % 7 < 2);
    opt.backend = vae_backend_opencl();
    if (!x || vae_create(&m, &cfg, &opt) != VAE_OK) {
        CHECK(0, "model: %s", m ? vae_error(m) : "no memory");
        vae_free(m);
        free(x);
        return;
    }
    vae_train_step(m, x, 20, NULL, NULL);
    launches = ((ocl_dev *)m->dev)->launches;
    waits = ((ocl_dev *)m->dev)->waits;
    CHECK(vae_train_step(m, x, 20, NULL, NULL) == VAE_OK, "a step: %s", vae_error(m));
    launches = ((ocl_dev *)m->dev)->launches - launches;
    waits = ((ocl_dev *)m->dev)->waits - waits;
    printf("opencl backend: a step of the reference model, %s k=%d batch 20: %lu kernels, %lu wait\n",
           objective == VAE_IWAE ? "IWAE" : "ELBO", k, launches, waits);
    CHECK(launches <= 50, "%lu kernels in a step", launches);
    CHECK(waits == 1, "the host waited %lu times in a step", waits);
    vae_free(m);
    free(x);
}

int main(void)
{
    char list[4096];
    vae_status s;
    int i;
    refused("VAE_OPENCL_LIB", "/nonexistent/libOpenCL.so", "cannot be opened");
    s = vae_opencl_devices(list, sizeof list);
    if (s != VAE_OK) {
        SKIP("no OpenCL here: %s", list);
        return check_summary();
    }
    printf("%s", list);
    refused("OCL_ICD_VENDORS", "/nonexistent-vendors-dir", "no OpenCL platform");
    {
        /* a block no device gives: a clear error, not a crash */
        char why[512] = "";
        void *dev = NULL;
        vae_status st = vae_backend_opencl()->create(&dev, (size_t)1 << 42, NULL, why, sizeof why);
        CHECK(st == VAE_ERR_NOMEM && dev == NULL && strstr(why, "clCreateBuffer"), "a 16 TB block: %d, %s",
              (int)st, why);
    }
    CHECK(conformance(vae_backend_opencl(), NULL), "the OpenCL backend could not be created");
    {
        /* both objectives at k = 1, 5 and 50, each likelihood and prior,
           and the analytic KL */
        static const int steps[][5] = {
            {VAE_ELBO, 1, VAE_BERNOULLI, VAE_PRIOR_NORMAL, VAE_KL_MC},
            {VAE_IWAE, 1, VAE_GAUSSIAN, VAE_PRIOR_NORMAL, VAE_KL_MC},
            {VAE_ELBO, 5, VAE_GAUSSIAN, VAE_PRIOR_MOG, VAE_KL_MC},
            {VAE_IWAE, 5, VAE_BERNOULLI, VAE_PRIOR_NORMAL, VAE_KL_MC},
            {VAE_ELBO, 50, VAE_BERNOULLI, VAE_PRIOR_MOG, VAE_KL_MC},
            {VAE_IWAE, 50, VAE_BERNOULLI, VAE_PRIOR_NORMAL, VAE_KL_MC},
            {VAE_IWAE, 50, VAE_GAUSSIAN, VAE_PRIOR_MOG, VAE_KL_MC},
            {VAE_ELBO, 5, VAE_BERNOULLI, VAE_PRIOR_NORMAL, VAE_KL_ANALYTIC},
        };
        for (i = 0; i < (int)(sizeof steps / sizeof steps[0]); i++)
            same_step(steps[i][0], steps[i][1], steps[i][2], steps[i][3], steps[i][4]);
        same_step_net(VAE_ELBO, 10, VAE_GAUSSIAN, VAE_PRIOR_NORMAL, VAE_KL_ANALYTIC, 0);
        same_step_net(VAE_ELBO, 1, VAE_BERNOULLI, VAE_PRIOR_NORMAL, VAE_KL_ANALYTIC, 1);
        same_step_net(VAE_IWAE, 5, VAE_BERNOULLI, VAE_PRIOR_NORMAL, VAE_KL_MC, 1);
    }
    split_k();
    build_failure();
    launches_per_step(VAE_ELBO, 1);
    launches_per_step(VAE_IWAE, 50);
    return check_summary();
}
