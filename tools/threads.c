/* threads.c — the thread count that is fastest now; see threads.h. */
#include "threads.h"

#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "platform.h"

/* A window lasts this long, and at least MIN_STEPS steps: several of the
   scheduler's time slices, and several ticks of /proc/stat's clock. */
#define WINDOW_SECONDS 0.1
#define MIN_STEPS 2
/* Running on c threads, the process gets less than c - LOST cores of CPU
   time: others compete for the cores. */
#define LOST 0.5
/* More threads must be 5% faster than one to stay. When they are not,
   they are tried again after HOLD_FIRST seconds, then after twice as long
   each time they lose, up to HOLD_MOST. */
#define WIN 0.95
#define HOLD_FIRST 2.0
#define HOLD_MOST 64.0

int default_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int threads_for(int now, int most, double wall, double cpu, double idle)
{
    if (now > 1)
        /* a core lost to another process stalls every parallel loop */
        return cpu < (now - LOST) * wall ? 1 : now;
    /* one thread, and the cores that stood idle beside it */
    now = 1 + (int)(idle / wall + 0.25);
    return now < most ? now : most;
}

static void use(thread_governor *g, int threads)
{
    g->now = threads;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
}

static void new_window(thread_governor *g)
{
    g->wall = platform_wall_seconds();
    g->cpu = platform_cpu_seconds();
    g->idle = platform_idle_seconds();
    g->steps = 0;
}

void governor_init(thread_governor *g, int most, int fixed)
{
    memset(g, 0, sizeof *g);
    g->most = most < 1 ? 1 : most;
    g->fixed = fixed || g->most == 1;
    g->hold = HOLD_FIRST;
    use(g, g->fixed ? g->most : 1);
    new_window(g);
}

void governor_start(thread_governor *g)
{
    if (!g->fixed)
        new_window(g);
}

void governor_step_done(thread_governor *g)
{
    double wall, cpu, idle, rate, t;
    if (g->fixed)
        return;
    g->steps++;
    t = platform_wall_seconds();
    wall = t - g->wall;
    if (wall < WINDOW_SECONDS || g->steps < MIN_STEPS)
        return;
    cpu = platform_cpu_seconds() - g->cpu;
    idle = g->idle >= 0.0 ? platform_idle_seconds() - g->idle : -1.0;
    rate = wall / g->steps;
    if (g->probing) {
        /* more threads must be faster, not only possible */
        g->probing = 0;
        if (rate < WIN * g->ref && threads_for(g->now, g->most, wall, cpu, 0.0) == g->now) {
            g->hold = HOLD_FIRST;
        } else {
            use(g, 1);
            g->next_try = t + g->hold;
            g->hold = g->hold * 2 < HOLD_MOST ? g->hold * 2 : HOLD_MOST;
        }
    } else if (g->now > 1) {
        use(g, threads_for(g->now, g->most, wall, cpu, 0.0));
    } else if (t >= g->next_try) {
        /* without an idle count, try the ceiling */
        int more = idle >= 0.0 ? threads_for(1, g->most, wall, cpu, idle) : g->most;
        if (more > 1) {
            g->ref = rate;
            use(g, more);
            g->probing = 1;
        }
    }
    new_window(g);
}

void governor_finish(thread_governor *g)
{
    use(g, g->most);
}
