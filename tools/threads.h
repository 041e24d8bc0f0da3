/* threads.h — by default, as many threads as make the run faster now.

   OpenMP's threads wait for each other at the end of every parallel loop,
   and a step has dozens. When another process competes for the cores, one
   of them is often descheduled and the others wait for it: two threads
   can then take several times as long as one. And small steps may not
   gain from threads at all. So the trainer watches, in windows of a tenth
   of a second:
   - on c > 1 threads, the CPU time the process got: less than c - 0.5
     cores' worth means others compete, and it drops to one thread;
   - on one thread, the time the other cores stood idle (Linux's
     /proc/stat; elsewhere it assumes all are): with n idle, it tries
     1 + n threads (up to the ceiling) for a window, and keeps them only if
     that window's steps were 5% faster; if not, it tries again after 2 s,
     then after twice as long each time they lose, up to 64 s.
   A window on a losing setting is all that trying costs, and it is never
   spent while another process holds the cores. Results do not depend on
   the thread count, so switching changes no bit. */
#ifndef VAE_TOOLS_THREADS_H
#define VAE_TOOLS_THREADS_H

typedef struct {
    int most;                /* the ceiling */
    int fixed;               /* --threads given, or a ceiling of 1: never change */
    int now;                 /* threads in use */
    double wall, cpu, idle;  /* at the window's start: clocks, idle seconds of all cores (-1: unknown) */
    int steps;               /* in the window */
    int probing;             /* this window tries more threads */
    double ref;              /* seconds per step on one thread, before the try */
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
