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
/* More threads must be 5% faster than one to stay. */
#define WIN 0.95
/* A window on more threads ends as soon as it has lost this much against
   one thread: a competitor that stalls every parallel loop can make two
   threads ten times slower, and a whole window of that would cost 90 ms. */
#define LOSS_EARLY 0.02
/* Tries start only while the run has lost under this share of its time. */
#define BUDGET 0.02
/* After a loss, no try for HOLD_FIRST seconds, then twice as long after
   each further loss, up to HOLD_MOST. */
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

static void new_window(thread_governor *g, double wall, double cpu, double idle)
{
    g->wall = wall;
    g->cpu = cpu;
    g->idle = idle;
    g->steps = 0;
}

static void new_window_now(thread_governor *g)
{
    new_window(g, platform_wall_seconds(), platform_cpu_seconds(), platform_idle_seconds());
}

void governor_init(thread_governor *g, int most, int fixed)
{
    memset(g, 0, sizeof *g);
    g->most = most < 1 ? 1 : most;
    g->fixed = fixed || g->most == 1;
    g->hold = HOLD_FIRST;
    use(g, g->fixed ? g->most : 1);
    new_window_now(g);
    g->started = g->wall;
}

void governor_start(thread_governor *g)
{
    if (!g->fixed)
        new_window_now(g);
}

/* More threads lost: one thread, and no try for a while. */
static void back_off(thread_governor *g, double t)
{
    use(g, 1);
    g->next_try = t + g->hold;
    g->hold = g->hold * 2 < HOLD_MOST ? g->hold * 2 : HOLD_MOST;
}

/* After a step that ended at wall_now: 1 when the window is over. A
   window on more threads ends early once it has lost LOSS_EARLY. Only the
   wall clock is read every step; the CPU time is a system call and the
   idle time a read of /proc/stat, each dearer than a small step's share. */
static int window_over(thread_governor *g, double wall_now)
{
    double wall = wall_now - g->wall;
    g->steps++;
    return (wall >= WINDOW_SECONDS && g->steps >= MIN_STEPS) ||
           (g->now > 1 && wall - g->steps * g->one_thread_step >= LOSS_EARLY);
}

/* The window's verdict, given the clocks' readings at its end: the wall
   clock, the process's CPU seconds and the idle seconds of all cores (-1:
   unknown). Tests drive this and window_over with a simulated machine. */
static void window_end(thread_governor *g, double wall_now, double cpu_now, double idle_now)
{
    double wall = wall_now - g->wall, cpu = cpu_now - g->cpu, step = wall / g->steps;
    double idle = g->idle >= 0.0 && idle_now >= 0.0 ? idle_now - g->idle : -1.0;
    if (g->now > 1) {
        /* more threads must be faster, not only possible */
        double lost = wall - g->steps * g->one_thread_step;
        int losing = threads_for(g->now, g->most, wall, cpu, 0.0) == 1 || lost >= LOSS_EARLY;
        g->lost += lost;
        if (g->trying && (losing || step >= WIN * g->one_thread_step))
            back_off(g, wall_now);
        else if (g->trying)
            g->hold = HOLD_FIRST;
        else if (losing)
            use(g, 1); /* kept threads that now lose: tried again when cores are idle, within the budget */
        g->trying = 0;
    } else {
        g->one_thread_step = step;
        if (wall_now >= g->next_try && g->lost < BUDGET * (wall_now - g->started)) {
            /* without an idle count, try the ceiling */
            int more = idle >= 0.0 ? threads_for(1, g->most, wall, cpu, idle) : g->most;
            if (more > 1) {
                use(g, more);
                g->trying = 1;
            }
        }
    }
    new_window(g, wall_now, cpu_now, idle_now);
}

void governor_step_done(thread_governor *g)
{
    double t;
    if (!g->fixed && window_over(g, t = platform_wall_seconds()))
        window_end(g, t, platform_cpu_seconds(), platform_idle_seconds());
}

void governor_finish(thread_governor *g)
{
    use(g, g->most);
}
