/* check.h: the assertions every test uses.
 *
 * A failed CHECK prints file:line, the expression and a message, and marks
 * the test failed; the test goes on so that one run shows every failure.
 * main() ends with `return check_result();` (1 if anything failed). */
#ifndef VR_CHECK_H
#define VR_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures_;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
            check_failures_++;                                               \
        }                                                                    \
    } while (0)

/* |a - b| <= tol, with a message showing both. */
#define CHECK_NEAR(a, b, tol, what)                                          \
    do {                                                                     \
        double a_ = (a), b_ = (b);                                           \
        CHECK(fabs(a_ - b_) <= (tol), "%s: %.9g vs %.9g (tol %.3g)", what,   \
              a_, b_, (double)(tol));                                        \
    } while (0)

static inline int check_result(void)
{
    if (check_failures_) fprintf(stderr, "%d check(s) failed\n", check_failures_);
    return check_failures_ ? 1 : 0;
}

#endif
