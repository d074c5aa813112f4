/* plot_run.c: per-run figures (being written). */
#include "plot.h"

int vr_plot_run(const char *run_h5, const char *run_id, const char *fig_dir,
                vr_figure_list *l, vr_err *err)
{
    return vr_fail(err, "per-run figures are not written yet");
}
