/* The thread governor's rule (tools/threads.c): on several threads it
   drops to one when the process got less than c - 0.5 cores of CPU time;
   on one thread it takes as many more as cores stood idle, up to the
   ceiling. The governor on simulated two-core machines, loaded as people
   load theirs: no epoch more than 5% slower than on one thread, and two
   threads used where they help. And a governed training run is the same,
   bit for bit, as one on a single thread. */
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

/* A simulated two-core machine: steps of `step` seconds on one thread,
   `speedup` times faster on two threads on free cores, `stall` times
   slower on two beside a competitor (each parallel loop waits for the
   thread it descheduled). The competitor runs for busy_on seconds and
   sleeps for busy_off (busy_on 0: none; busy_off 0: always); /proc/stat
   shows the other core idle while it sleeps, or always when idle_lies.
   The governed run must take at most `at_most` of one thread's time in
   all, and no epoch more than 1.05 of it. */
typedef struct {
    const char *name;
    double step, speedup, stall, busy_on, busy_off;
    int idle_lies;
    double at_most;
} machine;

typedef struct {
    double wall, cpu, idle;
} clocks;

static int competitor_runs(const machine *m, double t)
{
    if (m->busy_on <= 0.0)
        return 0;
    return m->busy_off <= 0.0 || fmod(t, m->busy_on + m->busy_off) < m->busy_on;
}

static void simulated_step(const machine *m, int threads, clocks *c)
{
    int busy = competitor_runs(m, c->wall);
    double dt = threads == 1 ? m->step : busy ? m->step * m->stall : m->step / m->speedup;
    c->wall += dt;
    c->cpu += threads == 1 ? dt : busy ? 1.2 * dt : 2.0 * dt;
    if (threads == 1 && (!busy || m->idle_lies))
        c->idle += dt;
}

/* Seconds of each of `epochs` epochs of `steps` steps on the governed
   threads, with a pause of 0.3 s between epochs (evaluation, saving). */
static void simulated_run(const machine *m, int epochs, int steps, double *seconds)
{
    thread_governor g;
    clocks c = {100.0, 5.0, 1000.0};
    int e, i;
    governor_init(&g, 2, 0);
    new_window(&g, c.wall, c.cpu, c.idle);
    g.started = c.wall;
    for (e = 0; e < epochs; e++) {
        double t0 = c.wall;
        new_window(&g, c.wall, c.cpu, c.idle);
        for (i = 0; i < steps; i++) {
            simulated_step(m, g.now, &c);
            if (window_over(&g, c.wall))
                window_end(&g, c.wall, c.cpu, c.idle);
        }
        seconds[e] = c.wall - t0;
        c.wall += 0.3;
        c.cpu += 0.3;
    }
    governor_finish(&g);
}

static void test_simulated(void)
{
    static const machine loads[] = {
        {"beside a busy core", 5e-4, 1.8, 5.0, 1.0, 0.0, 0, 1.05},
        {"beside a busy core that /proc/stat shows idle", 5e-4, 1.8, 5.0, 1.0, 0.0, 1, 1.05},
        {"... ten times slower on two threads", 5e-4, 1.8, 10.0, 1.0, 0.0, 1, 1.05},
        {"beside a competitor of 50 ms on, 50 off", 5e-4, 1.8, 5.0, 0.05, 0.05, 0, 1.05},
        {"beside a competitor of 200 ms on, 200 off", 5e-4, 1.8, 5.0, 0.2, 0.2, 0, 1.05},
        {"beside a competitor of 1 s on, 0.5 off", 5e-4, 1.8, 5.0, 1.0, 0.5, 0, 1.05},
        {"beside a competitor of 3 s on, 1 off", 5e-4, 1.8, 5.0, 3.0, 1.0, 0, 1.05},
        {"beside a competitor of 0.3 s on, 3 off", 5e-4, 1.8, 5.0, 0.3, 3.0, 0, 0.75},
        {"alone, with steps that two threads do not speed up", 5e-4, 1.0, 5.0, 0.0, 0.0, 0, 1.05},
        {"alone, larger steps", 5e-3, 1.8, 5.0, 0.0, 0.0, 0, 0.6},
    };
    /* epochs of 2 s and of 30 s on one thread */
    static const int epoch_steps[] = {4000, 60000};
    double seconds[5];
    size_t l, s;
    int e;
    for (l = 0; l < sizeof loads / sizeof loads[0]; l++)
        for (s = 0; s < 2; s++) {
            const machine *m = &loads[l];
            int steps = (int)(epoch_steps[s] * 5e-4 / m->step);
            double one = steps * m->step, worst = 0.0, total = 0.0;
            simulated_run(m, 5, steps, seconds);
            for (e = 0; e < 5; e++) {
                worst = seconds[e] > worst ? seconds[e] : worst;
                total += seconds[e];
            }
            CHECK(worst <= 1.05 * one, "%s, epochs of %.0f s: the slowest epoch took %.3f s, one thread %.3f s",
                  m->name, one, worst, one);
            CHECK(total <= m->at_most * 5 * one, "%s, epochs of %.0f s: %.3f s in all, one thread %.3f s", m->name,
                  one, total, 5 * one);
        }
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
    test_simulated();
    test_same_bits();
    return check_summary();
}
