/* The allocator hooks: with VAE_MALLOC and VAE_FREE defined, everything
   vae.c and mnist.c allocate goes through them and comes back; and running
   out of memory at any one of those allocations is a clean VAE_ERR_NOMEM
   with nothing leaked and the checkpoint already on disk intact. */
#define _POSIX_C_SOURCE 200809L /* for vae.c's fsync, before the first header */
#include <stdlib.h>

static long hook_calls, hook_live, hook_budget = -1;

/* malloc that fails from call hook_budget + 1 on (never when negative). */
static void *hook_malloc(size_t n)
{
    void *p;
    hook_calls++;
    if (hook_budget >= 0 && hook_calls > hook_budget)
        return NULL;
    p = malloc(n);
    hook_live += p != NULL;
    return p;
}

static void hook_free(void *p)
{
    hook_live -= p != NULL;
    free(p);
}

#define VAE_MALLOC(n) hook_malloc(n)
#define VAE_FREE(p) hook_free(p)
#include "../vae.c"
#include "../mnist.c"
#include "check.h"

#define IMAGES "data/mnist/t10k-images-idx3-ubyte.gz"
#define LABELS "data/mnist/t10k-labels-idx1-ubyte.gz"
#define SAVED "build/test_alloc.vae"
#define BATCH 10

/* Loads the shipped digits, holds some out, trains a step, saves over SAVED,
   loads it back and evaluates: the first status that is not VAE_OK, with
   everything freed whatever happened. */
static vae_status scenario(void)
{
    vae_dataset train, test;
    vae_config cfg;
    vae *m = NULL, *back = NULL;
    float x[BATCH * 784], bound;
    int idx[BATCH], i;
    double b1, b2;
    vae_status st;

    memset(&test, 0, sizeof test);
    st = vae_dataset_load(&train, IMAGES, LABELS);
    if (!st)
        st = vae_dataset_holdout(&train, &test, 1000);
    if (!st) {
        vae_config_init(&cfg);
        cfg.hidden[0] = 32;
        cfg.hidden[1] = 16;
        cfg.latent_dim = 4;
        cfg.max_batch = BATCH;
        st = vae_create(&m, &cfg, NULL);
    }
    if (!st) {
        for (i = 0; i < BATCH; i++)
            idx[i] = i;
        vae_dataset_batch(&train, idx, BATCH, VAE_BINARY_STATIC, NULL, x);
        st = vae_train_step(m, x, BATCH, NULL, &bound);
    }
    if (!st)
        st = vae_save(m, SAVED);
    if (!st)
        st = vae_load(&back, SAVED);
    if (!st)
        st = vae_bound(m, x, BATCH, VAE_ELBO, 1, &b1);
    if (!st)
        st = vae_bound(back, x, BATCH, VAE_ELBO, 1, &b2);
    vae_free(back);
    vae_free(m);
    vae_dataset_free(&test);
    vae_dataset_free(&train);
    return st;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n = -1;
    if (f && fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (f)
        fclose(f);
    return n;
}

int main(void)
{
    long total, budget, saved_size;
    int nomem = 0, others = 0, leaks = 0;
    vae *m = NULL;

    hook_calls = hook_live = 0;
    CHECK(scenario() == VAE_OK, "the whole scenario with memory to spare");
    total = hook_calls;
    CHECK(total >= 10, "%ld allocations pass through the hooks", total);
    CHECK(hook_live == 0, "%ld blocks still live after freeing everything", hook_live);
    saved_size = file_size(SAVED);

    /* Fail each allocation in turn: every one must be reported, and every
       block allocated before it given back. */
    for (budget = 0; budget < total; budget++) {
        vae_status st;
        hook_calls = hook_live = 0;
        hook_budget = budget;
        st = scenario();
        hook_budget = -1;
        nomem += st == VAE_ERR_NOMEM;
        if (st != VAE_ERR_NOMEM) {
            others++;
            printf("allocation %ld of %ld failing gave status %d\n", budget + 1, total, (int)st);
        }
        if (hook_live != 0) {
            leaks++;
            printf("allocation %ld of %ld failing leaked %ld blocks\n", budget + 1, total, hook_live);
        }
    }
    CHECK(nomem == total && others == 0, "%d of %ld failures reported as out of memory", nomem, total);
    CHECK(leaks == 0, "%d of %ld failures leaked memory", leaks, total);

    /* A save that failed for memory left the earlier checkpoint whole. */
    CHECK(file_size(SAVED) == saved_size, "checkpoint size %ld after failed saves, %ld before",
          file_size(SAVED), saved_size);
    CHECK(vae_load(&m, SAVED) == VAE_OK, "the checkpoint still loads: %s", vae_error(m));
    vae_free(m);
    CHECK(hook_live == 0, "%ld blocks live at the end", hook_live);
    remove(SAVED);

    /* Without memory for the handle itself, vae_create still says why. */
    {
        vae_config cfg;
        vae_status st;
        vae_config_init(&cfg);
        hook_budget = 0;
        hook_calls = 0;
        st = vae_create(&m, &cfg, NULL);
        hook_budget = -1;
        CHECK(st == VAE_ERR_NOMEM && strstr(vae_error(m), "memory"), "status %d, %s", (int)st,
              vae_error(m));
        vae_free(m);
    }
    return check_summary();
}
