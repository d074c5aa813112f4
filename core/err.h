/* err.h: errors are values.
 *
 * Every fallible function in vaerun returns an int status (0 on success,
 * -1 on failure) and, on failure, fills a vr_err with a one-line message that
 * carries its own context ("data/mnist/train-images-idx3-ubyte: truncated:
 * ..."). Only the CLI prints it, once. Nothing below the CLI calls exit().
 */
#ifndef VR_ERR_H
#define VR_ERR_H

#include <stdarg.h>

#define VR_ERR_MAX 1024

typedef struct {
    char msg[VR_ERR_MAX];
} vr_err;

/* Fills err (if not NULL) with a printf-style message; returns -1 so that a
 * caller can write `return vr_fail(err, "...", ...);`. */
int vr_fail(vr_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepends "prefix: " to the message already in err; returns -1. Used to add
 * context on the way up ("run seed0: " + "step 12: loss is NaN"). */
int vr_wrap(vr_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
