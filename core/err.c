/* err.c: see err.h. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int vr_fail(vr_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int vr_wrap(vr_err *err, const char *fmt, ...)
{
    if (!err) return -1;
    char prefix[VR_ERR_MAX / 2], old[VR_ERR_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", err->msg);
    /* Both halves fit, so the context never pushes the cause out. */
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    return -1;
}
