/* check.h — the tests' assertion macros. Each test program counts checks,
   prints one line per failure, ends with "N passed, N failed" (and
   ", N skipped" when a check could not run here) and exits
   non-zero when anything failed; tests/run.sh adds the programs up. */
#ifndef VAE_CHECK_H
#define VAE_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed, check_failed, check_skipped;

/* A check that cannot run here (a tool or locale missing): counted and
   said, never passed. */
#define SKIP(...)                                                              \
    do {                                                                       \
        check_skipped++;                                                       \
        printf("SKIP %s:%d: ", __FILE__, __LINE__);                            \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
    } while (0)

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) {                                                            \
            check_passed++;                                                    \
        } else {                                                               \
            check_failed++;                                                    \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

/* |a - b| <= tol * max(1, |b|): relative for large values, absolute near 0. */
#define CHECK_NEAR(a, b, tol, what)                                            \
    do {                                                                       \
        double check_a_ = (a), check_b_ = (b);                                 \
        double check_s_ = fabs(check_b_) > 1.0 ? fabs(check_b_) : 1.0;         \
        CHECK(fabs(check_a_ - check_b_) <= (tol) * check_s_,                   \
              "%s: %.9g vs %.9g", what, check_a_, check_b_);                  \
    } while (0)

static int check_summary(void)
{
    if (check_skipped)
        printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    else
        printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
