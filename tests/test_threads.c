/* The thread governor's rule (tools/threads.c): on several threads it
   drops to one when the process got less than c - 0.5 cores of CPU time;
   on one thread it takes as many more as cores stood idle, up to the
   ceiling. And a governed training run is the same, bit for bit, as one
   on a single thread. */
#include "../tools/platform.c" /* first: it asks for POSIX */
#include "../tools/threads.c"
#include "../tools/progress.c"
#include "../vae.c"
#include "check.h"

static void test_rule(void)
{
    /* two threads on two cores, alone: 1.95 cores of CPU time */
    CHECK(threads_for(2, 2, 0.1, 0.195, 0.0) == 2, "alone, two threads stay");
    /* another process took a core's half: 1.3 cores */
    CHECK(threads_for(2, 2, 0.1, 0.13, 0.0) == 1, "competing, one thread");
    CHECK(threads_for(8, 8, 0.1, 0.76, 0.0) == 8, "eight threads that got 7.6 cores stay");
    CHECK(threads_for(8, 8, 0.1, 0.7, 0.0) == 1, "eight threads that got 7 cores drop to one");
    /* one thread: the idle time of the other cores decides */
    CHECK(threads_for(1, 2, 0.1, 0.1, 0.0) == 1, "no idle core: one thread");
    CHECK(threads_for(1, 2, 0.1, 0.1, 0.02) == 1, "a fifth of a core idle: one thread");
    CHECK(threads_for(1, 2, 0.1, 0.1, 0.09) == 2, "a core idle: two");
    CHECK(threads_for(1, 16, 0.1, 0.1, 0.52) == 6, "five idle cores of 16: six threads");
    CHECK(threads_for(1, 4, 0.1, 0.1, 1.5) == 4, "never above the ceiling");
}

/* Steps whose thread count changes from one to the next, as the
   governor changes it, give the bits of one thread throughout. */
static void test_same_bits(void)
{
    enum { D = 64, H = 300, N = 20 };
    vae_config cfg;
    vae *a, *b;
    thread_governor one;
    static float x[N * D], wa[D * H], wb[D * H];
    float bound_a = 0.0f, bound_b = 0.0f;
    vae_rng r;
    int i, step, most = default_threads();
    vae_rng_seed(&r, 3);
    for (i = 0; i < N * D; i++)
        x[i] = vae_rng_uniform(&r) < 0.3 ? 1.0f : 0.0f;
    vae_config_init(&cfg);
    cfg.input_dim = D;
    cfg.hidden[0] = H;
    cfg.hidden[1] = H;
    cfg.latent_dim = 8;
    cfg.max_batch = N;
    cfg.objective = VAE_IWAE;
    cfg.k = 10;
    CHECK(vae_create(&a, &cfg, NULL) == VAE_OK, "create");
    CHECK(vae_create(&b, &cfg, NULL) == VAE_OK, "create");
    for (step = 0; step < 20; step++) {
        governor_init(&one, step % 2 ? most : 1, 1);
        CHECK(vae_train_step(a, x, N, NULL, &bound_a) == VAE_OK, "step");
    }
    governor_init(&one, 1, 1);
    for (step = 0; step < 20; step++)
        CHECK(vae_train_step(b, x, N, NULL, &bound_b) == VAE_OK, "step");
    CHECK(memcmp(&bound_a, &bound_b, sizeof bound_a) == 0, "the same bound on 1 and %d threads: %.9g and %.9g",
          most, bound_a, bound_b);
    CHECK(vae_get_tensor(a, "dec.out.weight", wa, D * H) == VAE_OK &&
              vae_get_tensor(b, "dec.out.weight", wb, D * H) == VAE_OK && memcmp(wa, wb, sizeof wa) == 0,
          "the same weights");
    governor_finish(&one);
    vae_free(a);
    vae_free(b);
}

int main(void)
{
    test_rule();
    test_same_bits();
    return check_summary();
}
