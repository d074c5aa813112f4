/* plot_sweep.c: sweep figures and index.html (being written). */
#include "plot.h"

int vr_plot_sweep(const char *dir, vr_err *err)
{
    return vr_fail(err, "sweep figures are not written yet");
}
