/* threads.h — by default, as many threads as make the run faster now,
   and never a run much slower than one thread would have been.

   OpenMP's threads wait for each other at the end of every parallel loop,
   and a step has dozens. When another process competes for the cores, one
   of them is often descheduled and the others wait for it: two threads
   can then take several times as long as one. And small steps may not
   gain from threads at all. So the trainer watches, in windows of a tenth
   of a second:
   - on one thread, its speed (the reference) and the time the other
     cores stood idle (Linux's /proc/stat; elsewhere it assumes all were):
     with n idle, it tries 1 + n threads (up to the ceiling);
   - on c > 1 threads, the time lost against the reference: a window that
     has lost LOSS_EARLY seconds ends at once, and drops to one thread, as
     does one in which the process got less than c - 0.5 cores of CPU
     time (others compete); a tried setting stays only if its window was
     5% faster than the reference.
   Every window on more threads than one is booked against the reference:
   a new try starts only while the run has lost, in all, under 2% of its
   time so far (what the tries gained counts against what they lost), and
   after a loss not before a hold of 2 s, doubling with each loss up to
   64 s. So a run never loses more than 2% of its time to trying, plus one
   cut-short window, however the load on the machine comes and goes.
   Results do not depend on the thread count, so switching changes no
   bit. */
#ifndef VAE_TOOLS_THREADS_H
#define VAE_TOOLS_THREADS_H

typedef struct {
    int most;                /* the ceiling */
    int fixed;               /* --threads given, or a ceiling of 1: never change */
    int now;                 /* threads in use */
    double wall, cpu, idle;  /* at the window's start: clocks, idle seconds of all cores (-1: unknown) */
    int steps;               /* in the window */
    int trying;              /* this window tries more threads */
    double one_thread_step;  /* seconds per step on one thread, in its latest window (0: none yet) */
    double started;          /* wall clock at governor_init */
    double lost;             /* seconds lost on more threads against one (gained: negative) */
    double hold, next_try;   /* when to try more threads again */
} thread_governor;

/* Starts with one thread; most is the ceiling (all cores by default).
   fixed: use most throughout, measuring nothing. */
void governor_init(thread_governor *g, int most, int fixed);

/* Starts a window now: after a pause in the steps (evaluation, saving),
   which the speed of the steps must not include. */
void governor_start(thread_governor *g);

/* After each step: may change the thread count for the next. */
void governor_step_done(thread_governor *g);

/* Sets the ceiling's threads again, for work the governor does not see. */
void governor_finish(thread_governor *g);

/* After a window of wall seconds on `now` threads, in which the process
   got cpu seconds of CPU time and the machine's cores stood idle for idle
   seconds in all: on several threads, those to keep (1 when others
   compete); on one, the count worth trying. */
int threads_for(int now, int most, double wall, double cpu, double idle);

/* The threads OpenMP would use by default (1 without OpenMP). */
int default_threads(void);

#endif
