/* plot_run.c: the per-run figures (docs/figures.md), from one run.h5.
 *
 * Each figure is a function that reads what it needs, writes gnuplot data
 * files into the data folder, runs gnuplot once and appends the PNG to the
 * figure list. A figure whose inputs the run does not have is skipped
 * silently; a figure whose drawing fails is skipped with its error kept, the
 * others are still drawn, and vr_plot_run then returns the first error.
 *
 * Fixed colours (the same in every per-run figure): ELBO blue, reconstruction
 * green, KL red, IWAE purple, loss dark grey, KL weight orange, GECO
 * multiplier brown; classes in the tab10 order. */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/run_file.h"
#include "plot.h"
#include "run_data.h"

#define C_ELBO "#1f77b4"
#define C_RECON "#2ca02c"
#define C_KL "#d62728"
#define C_IWAE "#9467bd"
#define C_LOSS "#404040"
#define C_WEIGHT "#ff7f0e"
#define C_MULT "#8c564b"
#define C_DATA "#9a9a9a"

static const char *const tab10[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* A white-to-dark sequential palette for densities, and viridis for the
 * log-scale map. */
#define PAL_DENSITY                                                                   \
    "set palette defined (0 '#ffffff', 0.15 '#c6dbef', 0.4 '#6baed6', 0.7 '#2171b5', " \
    "1 '#08306b')\n"
#define PAL_VIRIDIS                                                                     \
    "set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', " \
    "1 '#fde725')\n"

typedef struct {
    const char *h5, *id, *fig_dir, *dd;
    char tid[300];     /* the run in titles: "<spec name> / <run-id>" unless the id has the name */
    vr_figure_list *l;
    char set[64], lik[64], obj[64], binarize[32];
    int latent;
    int points;        /* the data are [n, 2] points (eight_gaussians) */
    const char *unit;  /* "nats per image" / "nats per point" */
    int failed;
    vr_err first;
} ctx;

static void note_error(ctx *c, const vr_err *e)
{
    if (!c->failed) c->first = *e;
    c->failed = 1;
}

static void data_path(const ctx *c, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", c->dd, name);
}

/* The terminal and output lines of a figure KIND of size W x H. */
static void begin(const ctx *c, vr_sbuf *sb, const char *kind, int w, int h)
{
    char out[1024];
    snprintf(out, sizeof out, "%s/%s-%s.png", c->fig_dir, c->id, kind);
    vr_sb_printf(sb, "set terminal pngcairo size %d,%d noenhanced font 'DejaVu Sans,12'\n"
                     "set encoding utf8\nset output ", w, h);
    vr_sb_quote(sb, out);
    vr_sb_printf(sb, "\nset datafile missing 'NaN'\n");
}

/* Runs the script and lists the figure. */
static void render(ctx *c, vr_sbuf *sb, const char *kind, const char *caption)
{
    vr_err e;
    if (sb->oom) {
        vr_fail(&e, "%s: out of memory building the %s figure", c->id, kind);
        note_error(c, &e);
        return;
    }
    vr_sb_printf(sb, "unset multiplot\nset output\n");
    char gp[1024], name[300];
    snprintf(name, sizeof name, "%s.gp", kind);
    data_path(c, name, gp, sizeof gp);
    FILE *f = fopen(gp, "w");  /* the script, next to its data (for reruns by hand) */
    if (f) { fputs(sb->s, f); fclose(f); }
    if (vr_gnuplot(sb->s, &e)) {
        vr_wrap(&e, "%s: figure %s", c->id, kind);
        note_error(c, &e);
        return;
    }
    char file[512];
    snprintf(file, sizeof file, "%s-%s.png", c->id, kind);
    if (vr_figures_add(c->l, file, caption, c->id)) {
        vr_fail(&e, "out of memory for the figure list");
        note_error(c, &e);
    }
}

/* Reads a tensor; a missing one is 1 (skip), an unreadable one an error. */
static int tensor(ctx *c, const char *name, vr_ptensor *t)
{
    vr_err e;
    int rc = vr_ptensor_read(c->h5, name, t, &e);
    if (rc < 0) note_error(c, &e);
    return rc;
}

static const char *lik_words(const char *lik)
{
    if (!strcmp(lik, "continuous_bernoulli")) return "continuous Bernoulli likelihood";
    if (!strcmp(lik, "logistic")) return "discretised logistic likelihood";
    if (!strcmp(lik, "gaussian")) return "Gaussian likelihood";
    return "Bernoulli likelihood";
}

static const char *set_words(const char *set)
{
    if (!strcmp(set, "fashion_mnist")) return "Fashion-MNIST";
    if (!strcmp(set, "eight_gaussians")) return "eight Gaussians";
    if (!strcmp(set, "mnist")) return "MNIST";
    return set;
}

/* What the image tensors hold, for captions. */
static const char *mean_words(const char *lik)
{
    if (!strcmp(lik, "continuous_bernoulli"))
        return "Reconstructions and samples show the continuous Bernoulli's mean "
               "(not its parameter lambda = sigmoid of the logits), as vaerun writes them.";
    if (!strcmp(lik, "logistic"))
        return "Reconstructions and samples show the discretised logistic's mean mu, "
               "clamped to [0, 1].";
    if (!strcmp(lik, "gaussian"))
        return "Reconstructions and samples show the Gaussian's mean, clamped to [0, 1] for display.";
    return "Reconstructions and samples show the Bernoulli means (pixel probabilities), "
           "not binary draws.";
}

/* ---- 1. curves ------------------------------------------------------------------ */

static const char *const metric_names[8] = {"step", "wall_s", "loss", "elbo",
                                            "recon", "kl", "kl_weight", "multiplier"};
static const char *const eval_names[5] = {"step", "test_elbo", "test_recon", "test_kl",
                                          "test_iwae"};

/* Writes GROUP's series NAMES as columns of FILE; the row count into *rows
 * (0: no step series). finite[k]: column k has a finite value; lo/hi its
 * range, llo/lhi its range over the rows whose step is >= LATE. */
static int write_table(ctx *c, const char *group, const char *const *names, int k,
                       const char *file, size_t *rows, int *finite, double *lo, double *hi,
                       double late, double *llo, double *lhi)
{
    double *col[8] = {0};
    size_t len[8] = {0};
    vr_err e;
    int rc = 0;
    *rows = 0;
    for (int i = 0; i < k; i++) {
        char p[64];
        snprintf(p, sizeof p, "/%s/%s", group, names[i]);
        if (vr_pseries_read(c->h5, p, &col[i], &len[i], &e)) { note_error(c, &e); rc = -1; goto out; }
    }
    size_t n = len[0];
    for (int i = 0; i < k; i++) {
        finite[i] = 0;
        lo[i] = llo[i] = INFINITY;
        hi[i] = lhi[i] = -INFINITY;
        for (size_t r = 0; r < len[i] && r < n; r++)
            if (isfinite(col[i][r])) {
                finite[i] = 1;
                if (col[i][r] < lo[i]) lo[i] = col[i][r];
                if (col[i][r] > hi[i]) hi[i] = col[i][r];
                if (col[0][r] >= late) {
                    if (col[i][r] < llo[i]) llo[i] = col[i][r];
                    if (col[i][r] > lhi[i]) lhi[i] = col[i][r];
                }
            }
    }
    if (n == 0) goto out;
    char path[1024];
    data_path(c, file, path, sizeof path);
    FILE *f = fopen(path, "w");
    if (!f) { vr_fail(&e, "%s: cannot create", path); note_error(c, &e); rc = -1; goto out; }
    fprintf(f, "#");
    for (int i = 0; i < k; i++) fprintf(f, " %s", names[i]);
    fprintf(f, "\n");
    for (size_t r = 0; r < n; r++) {
        for (int i = 0; i < k; i++) {
            double v = r < len[i] ? col[i][r] : NAN;
            if (isfinite(v)) fprintf(f, "%s%.17g", i ? " " : "", v);
            else fprintf(f, "%sNaN", i ? " " : "");
        }
        fprintf(f, "\n");
    }
    if (fclose(f)) { vr_fail(&e, "%s: write failed", path); note_error(c, &e); rc = -1; goto out; }
    *rows = n;
out:
    for (int i = 0; i < k; i++) free(col[i]);
    return rc;
}

typedef struct {
    size_t nm, ne;
    int mfin[8], efin[5];
    double mlo[8], mhi[8], elo[5], ehi[5];
    double mllo[8], mlhi[8], ello[5], elhi[5];  /* over the last 90% of training */
    double late;                                  /* the first step of those */
    int geco, weight_varies;
    double beta;          /* the constant KL weight, when it does not vary */
    double step_lo;       /* the smallest positive step drawn */
    int have_target;
    double target;
} curves_info;

static void panel_reset(vr_sbuf *sb, int logx, const char *logtics)
{
    vr_sb_printf(sb, "unset y2tics\nunset y2label\nset ytics mirror\nunset arrow\nunset label\n"
                     "set xlabel 'training step'\nset key outside bottom center horizontal "
                     "samplen 2 spacing 1.1 maxrows 1 Left reverse font ',11'\nset bmargin 5.5\nset grid xtics ytics lc rgb '#dddddd' lt 1\n"
                     "set border 3\nset xtics nomirror\nset ytics nomirror\nset yrange [*:*]\n");
    if (logx) vr_sb_printf(sb, "set logscale x\n%s", logtics);
    else vr_sb_printf(sb, "unset logscale x\nset autoscale xfixmax\nset xrange [0:*]\n");
}

/* The y range of a linear-step panel over metrics columns M[] and eval
 * columns E[] (-1 ends a list), plus EXTRA when finite: zoomed on the last
 * 90% of training when the first values would squash the rest. 1 if zoomed. */
static int panel_yrange(vr_sbuf *sb, const curves_info *ci, const int *m, const int *ev,
                        double extra)
{
    double lo = INFINITY, hi = -INFINITY, llo = INFINITY, lhi = -INFINITY;
    for (; *m >= 0; m++) {
        if (!ci->mfin[*m]) continue;
        lo = fmin(lo, ci->mlo[*m]); hi = fmax(hi, ci->mhi[*m]);
        llo = fmin(llo, ci->mllo[*m]); lhi = fmax(lhi, ci->mlhi[*m]);
    }
    for (; *ev >= 0; ev++) {
        if (!ci->efin[*ev] || ci->ne == 0) continue;
        lo = fmin(lo, ci->elo[*ev]); hi = fmax(hi, ci->ehi[*ev]);
        if (isfinite(ci->ello[*ev])) { llo = fmin(llo, ci->ello[*ev]); lhi = fmax(lhi, ci->elhi[*ev]); }
    }
    if (isfinite(extra)) {
        lo = fmin(lo, extra); hi = fmax(hi, extra);
        llo = fmin(llo, extra); lhi = fmax(lhi, extra);
    }
    if (!isfinite(llo) || !isfinite(lo) || !(hi - lo > 1.6 * (lhi - llo) + 1e-12)) {
        vr_sb_printf(sb, "set yrange [*:*]\n");
        return 0;
    }
    double span = lhi - llo;
    if (!(span > 0)) span = fmax(fabs(lhi), 1) * 0.1;
    vr_sb_printf(sb, "set yrange [%.9g:%.9g]\n", llo - 0.06 * span, lhi + 0.06 * span);
    return 1;
}

static void draw_curves(ctx *c, const curves_info *ci, int logx)
{
    char mp[1024], ep[1024];
    data_path(c, "metrics.dat", mp, sizeof mp);
    data_path(c, "eval.dat", ep, sizeof ep);
    vr_sbuf sb = {0};
    const char *kind = logx ? "curves-logx" : "curves";
    begin(c, &sb, kind, 1200, 800);
    vr_sb_printf(&sb, "set multiplot layout 2,2 title ");
    char title[512];
    snprintf(title, sizeof title, "%s: training curves (%s, %s, objective %s)%s", c->tid,
             set_words(c->set), lik_words(c->lik), c->obj, logx ? ", log step axis" : "");
    vr_sb_quote(&sb, title);
    vr_sb_printf(&sb, " font ',14'\nM = ");
    vr_sb_quote(&sb, mp);
    vr_sb_printf(&sb, "\nE = ");
    vr_sb_quote(&sb, ep);
    /* x for the eval table: step 0 has no place on a log axis */
    vr_sb_printf(&sb, "\nex(s) = %s\n", logx ? "(s > 0 ? s : NaN)" : "s");
    int has_eval = ci->ne > 0;
    /* log axis: labelled tics at 1, 2, 5 x 10^k over the steps drawn */
    char tics[1024] = "";
    if (logx) {
        /* and at the first and last step, unless a 1-2-5 tic is close */
        double lo = ci->step_lo, hi = ci->mhi[0];
        size_t k = (size_t)snprintf(tics, sizeof tics, "set xtics (%.0f", lo);
        for (double dec = 1; dec <= hi * 10 && dec < 1e12; dec *= 10)
            for (int m = 0; m < 3; m++) {
                double v = dec * (m == 0 ? 1 : m == 1 ? 2 : 5);
                if (v < lo || v > hi || k >= sizeof tics - 40) continue;
                if (fabs(log(v / lo)) < 0.25 || fabs(log(v / hi)) < 0.25) continue;
                k += (size_t)snprintf(tics + k, sizeof tics - k, ", %.0f", v);
            }
        if (hi > lo && k < sizeof tics - 40) k += (size_t)snprintf(tics + k, sizeof tics - k, ", %.0f", hi);
        /* a little room at both ends: gnuplot drops tics on the very edge */
        k += (size_t)snprintf(tics + k, sizeof tics - k, ") nomirror\nset xrange [%.9g:%.9g]\n",
                              lo / 1.04, hi * 1.04);
        snprintf(tics + k, sizeof tics - k, "set mxtics 10\n");
    }

    /* ELBO */
    panel_reset(&sb, logx, tics);
    vr_sb_printf(&sb, "set title 'ELBO (higher is better)'\nset ylabel '%s'\n", c->unit);
    int zoomed = 0;
    if (!logx) zoomed |= panel_yrange(&sb, ci, (const int[]){3, -1}, (const int[]){1, 4, -1}, NAN);
    vr_sb_printf(&sb, "plot M u 1:4 w l lw 2 lc rgb '%s' t 'train'", C_ELBO);
    if (has_eval && ci->efin[1])
        vr_sb_printf(&sb, ", E u (ex($1)):2 w lp lw 1.5 dt 2 pt 7 ps 1 lc rgb '%s' t 'test'",
                     C_ELBO);
    if (has_eval && ci->efin[4])
        vr_sb_printf(&sb, ", E u (ex($1)):5 w lp lw 1.5 dt 2 pt 9 ps 1.4 lc rgb '%s' "
                          "t 'test IWAE'", C_IWAE);
    vr_sb_printf(&sb, "\n");

    /* reconstruction, with GECO's target and multiplier */
    panel_reset(&sb, logx, tics);
    vr_sb_printf(&sb, "set title 'reconstruction E log p(x|z)%s'\nset ylabel '%s'\n",
                 ci->geco ? " and GECO multiplier" : "", c->unit);
    if (!logx)
        zoomed |= panel_yrange(&sb, ci, (const int[]){4, -1}, (const int[]){2, -1},
                               ci->geco && ci->have_target ? ci->target : NAN);
    if (ci->geco) {
        vr_sb_printf(&sb, "set ytics nomirror\nset y2tics nomirror tc rgb '%s'\n"
                          "set y2label 'multiplier λ' tc rgb '%s'\nset border 11\n",
                     C_MULT, C_MULT);
        if (ci->mhi[7] > 20 * ci->mlo[7]) vr_sb_printf(&sb, "set logscale y2\n");
        else vr_sb_printf(&sb, "unset logscale y2\n");
    }
    vr_sb_printf(&sb, "plot M u 1:5 w l lw 2 lc rgb '%s' t 'train'", C_RECON);
    if (has_eval && ci->efin[2])
        vr_sb_printf(&sb, ", E u (ex($1)):3 w lp lw 1.5 dt 2 pt 7 ps 1 lc rgb '%s' t 'test'",
                     C_RECON);
    if (ci->geco && ci->have_target)
        vr_sb_printf(&sb, ", %.17g w l lw 1.5 dt 3 lc rgb '#000000' t 'GECO target %g'",
                     ci->target, ci->target);
    if (ci->geco)
        vr_sb_printf(&sb, ", M u 1:8 axes x1y2 w l lw 2 lc rgb '%s' t 'λ (right)'", C_MULT);
    vr_sb_printf(&sb, "\n");

    /* KL, with its weight */
    panel_reset(&sb, logx, tics);
    char klt[128] = "KL(q(z|x) ‖ p(z))";
    if (!ci->weight_varies && !ci->geco && isfinite(ci->beta) && fabs(ci->beta - 1) > 1e-12)
        snprintf(klt, sizeof klt, "KL(q(z|x) ‖ p(z)), weighted by β = %g in the loss", ci->beta);
    else if (ci->weight_varies)
        snprintf(klt, sizeof klt, "KL(q(z|x) ‖ p(z)) and its weight in the loss");
    vr_sb_printf(&sb, "set title '%s'\nset ylabel '%s'\n", klt, c->unit);
    /* never zoomed: the KL's early course (a spike, a collapse, annealing holding
     * it down) is what the panel is for */
    if (ci->weight_varies)
        vr_sb_printf(&sb, "set y2tics nomirror tc rgb '%s'\nset y2label 'KL weight' tc rgb '%s'\n"
                          "unset logscale y2\nset y2range [0:%.6g]\nset border 11\n",
                     C_WEIGHT, C_WEIGHT, ci->mhi[6] > 0 ? 1.08 * ci->mhi[6] : 1);
    vr_sb_printf(&sb, "plot M u 1:6 w l lw 2 lc rgb '%s' t 'train'", C_KL);
    if (has_eval && ci->efin[3])
        vr_sb_printf(&sb, ", E u (ex($1)):4 w lp lw 1.5 dt 2 pt 7 ps 1 lc rgb '%s' t 'test'",
                     C_KL);
    if (ci->weight_varies)
        vr_sb_printf(&sb, ", M u 1:7 axes x1y2 w l lw 2 lc rgb '%s' t 'KL weight (right)'", C_WEIGHT);
    vr_sb_printf(&sb, "\n");

    /* loss */
    panel_reset(&sb, logx, tics);
    vr_sb_printf(&sb, "set title 'training loss (what the optimiser minimises)'\n"
                      "set ylabel '%s'\n", c->unit);
    if (!logx) zoomed |= panel_yrange(&sb, ci, (const int[]){2, -1}, (const int[]){-1}, NAN);
    vr_sb_printf(&sb, "plot M u 1:3 w l lw 2 lc rgb '%s' t 'loss'\n", C_LOSS);

    char cap[512];
    int k = snprintf(cap, sizeof cap,
                     "Training curves%s: train metrics (lines, batch averages) and test-set "
                     "evaluations (dashed, with points), in %s.",
                     logx ? " on a log step axis, to show the early steps" : "", c->unit);
    if (zoomed && k > 0 && (size_t)k < sizeof cap)
        k += snprintf(cap + k, sizeof cap - (size_t)k,
                      " Y axes start at step %g: the untrained model's first values are off the "
                      "scale (the log-step figure shows them).", ci->late);
    if (ci->geco && k > 0 && (size_t)k < sizeof cap)
        k += snprintf(cap + k, sizeof cap - (size_t)k,
                      " GECO's multiplier (brown, right axis) rises while the reconstruction "
                      "misses the target (dotted) and falls once it holds.");
    else if (ci->weight_varies && k > 0 && (size_t)k < sizeof cap)
        snprintf(cap + k, sizeof cap - (size_t)k, " The KL weight (orange, right axis) follows "
                                                  "the annealing schedule.");
    render(c, &sb, kind, cap);
    vr_sb_free(&sb);
}

static void fig_curves(ctx *c)
{
    curves_info ci;
    memset(&ci, 0, sizeof ci);
    /* the first logged step at or after 10% of training */
    double *step;
    size_t ns;
    vr_err e;
    if (vr_pseries_read(c->h5, "/metrics/step", &step, &ns, &e)) { note_error(c, &e); return; }
    ci.late = INFINITY;
    for (size_t i = 0; i < ns; i++)
        if (step[i] >= 0.1 * step[ns - 1] && step[i] < ci.late) ci.late = step[i];
    free(step);
    if (write_table(c, "metrics", metric_names, 8, "metrics.dat", &ci.nm, ci.mfin, ci.mlo, ci.mhi,
                    ci.late, ci.mllo, ci.mlhi))
        return;
    if (ci.nm == 0 || !ci.mfin[0]) return;
    if (write_table(c, "eval", eval_names, 5, "eval.dat", &ci.ne, ci.efin, ci.elo, ci.ehi,
                    ci.late, ci.ello, ci.elhi))
        return;
    if (ci.ne == 0) {  /* an empty eval table keeps the script simple */
        char p[1024];
        data_path(c, "eval.dat", p, sizeof p);
        FILE *f = fopen(p, "w");
        if (f) { fprintf(f, "NaN NaN NaN NaN NaN\n"); fclose(f); }
    }
    ci.step_lo = ci.mlo[0] > 0 ? ci.mlo[0] : 1;
    ci.geco = ci.mfin[7];
    ci.weight_varies = !ci.geco && ci.mfin[6] &&
                       ci.mhi[6] - ci.mlo[6] > 1e-9 * (fabs(ci.mhi[6]) > 1 ? fabs(ci.mhi[6]) : 1);
    ci.beta = ci.mfin[6] ? ci.mhi[6] : NAN;
    char *yaml = NULL;
    if (vr_run_file_config(c->h5, &yaml, &e) == 0 && yaml) {
        char v[64];
        if (vr_yaml_value(yaml, "objective.geco.target", v, sizeof v) == 0) {
            ci.target = strtod(v, NULL);
            ci.have_target = 1;
        }
    }
    free(yaml);
    draw_curves(c, &ci, 0);
    draw_curves(c, &ci, 1);
}

/* ---- 2-3. image grids ------------------------------------------------------------ */

/* Side of one tile and the grid's extent. */
typedef struct { int rows, cols, h, w, H, W; } grid_geom;

enum { GAP = 2 };

static int image_tensor(const vr_ptensor *t) { return t->rank == 4 && t->dims[2] > 1 && t->dims[3] > 1; }

static grid_geom geom(const vr_ptensor *t, int rows, int cols)
{
    grid_geom g = {rows, cols, (int)t->dims[2], (int)t->dims[3], 0, 0};
    g.H = rows * (g.h + GAP) - GAP;
    g.W = cols * (g.w + GAP) - GAP;
    return g;
}

/* Settings of an image panel of geometry G: grey 0 (black) .. 1 (white). */
static void image_panel(vr_sbuf *sb, const grid_geom *g)
{
    vr_sb_printf(sb, "set palette gray\nset cbrange [0:1]\nunset colorbox\nunset key\n"
                     "set xrange [-0.5:%d.5]\nset yrange [%d.5:-0.5]\nset size ratio -1\n"
                     "unset xtics\nunset ytics\nset border 0\nunset xlabel\nunset ylabel\n",
                 g->W - 1, g->H - 1);
}

static int write_tiles(ctx *c, const char *file, const vr_ptensor *t, int rows, int cols,
                       char *path, size_t cap)
{
    data_path(c, file, path, cap);
    vr_err e;
    if (vr_write_grid(path, t, rows, cols, GAP, &e)) { note_error(c, &e); return -1; }
    return 0;
}

static void fig_gallery(ctx *c)
{
    static const char *const names[3] = {"data", "reconstructions", "samples"};
    static const char *const titles[3] = {"test data", "reconstructions", "prior samples, z ~ N(0, I)"};
    vr_ptensor t[3];
    int have = 0;
    for (int i = 0; i < 3; i++) {
        if (tensor(c, names[i], &t[i]) == 0 && image_tensor(&t[i])) have |= 1 << i;
    }
    if (have) {
        int np = 0;
        for (int i = 0; i < 3; i++) np += (have >> i) & 1;
        vr_sbuf sb = {0};
        begin(c, &sb, "gallery", 600 * np, 660);
        char title[300];
        snprintf(title, sizeof title, "%s: %s, %s", c->tid, set_words(c->set), lik_words(c->lik));
        vr_sb_printf(&sb, "set multiplot layout 1,%d title ", np);
        vr_sb_quote(&sb, title);
        vr_sb_printf(&sb, " font ',14'\n");
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++) {
            if (!(have >> i & 1)) continue;
            int n = (int)t[i].dims[0], cols = 8, rows = (n + 7) / 8;
            if (rows > 8) rows = 8;
            char file[64], path[1024];
            snprintf(file, sizeof file, "%s.grid", names[i]);
            if (write_tiles(c, file, &t[i], rows, cols, path, sizeof path)) { ok = 0; break; }
            grid_geom g = geom(&t[i], rows, cols);
            image_panel(&sb, &g);
            vr_sb_printf(&sb, "set title '%s' font ',13'\nplot ", titles[i]);
            vr_sb_quote(&sb, path);
            vr_sb_printf(&sb, " matrix w image\n");
        }
        char cap[512];
        snprintf(cap, sizeof cap,
                 "The first 64 test images, their reconstructions (one z ~ q(z|x) each, in "
                 "the same places) and 64 decoded prior samples. %s", mean_words(c->lik));
        if (ok) render(c, &sb, "gallery", cap);
        vr_sb_free(&sb);
    }
    for (int i = 0; i < 3; i++) vr_ptensor_free(&t[i]);
}

/* Tic labels "<pos> 'label'" for the centres of N tiles of side S. */
static void tile_tics(vr_sbuf *sb, const char *axis, int n, int s, int every,
                      double (*coord)(int, int), int reverse, int digits)
{
    vr_sb_printf(sb, "set %s (", axis);
    int first = 1;
    for (int i = 0; i < n; i++) {
        int k = reverse ? n - 1 - i : i;
        if ((k - n / 2) % every) continue;  /* the centre always gets a label */
        double centre = i * (s + GAP) + (s - 1) / 2.0;
        double v = coord(k, n);
        if (fabs(v) < 0.5 * pow(10, -digits)) v = 0;  /* no "-0.00" */
        vr_sb_printf(sb, "%s'%.*f' %.1f", first ? "" : ", ", digits, v, centre);
        first = 0;
    }
    vr_sb_printf(sb, ") out nomirror scale 0.5\n");
}

static double interp_a(int i, int n) { return (double)i / (n - 1); }
static double trav_coord(int i, int n) { return -3.0 + 6.0 * i / (n - 1); }
static double icdf(double p)
{
    double lo = -10, hi = 10;
    for (int i = 0; i < 100; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}
static double manifold_coord(int i, int n) { return icdf((i + 0.5) / n); }

static void fig_interpolations(ctx *c)
{
    vr_ptensor t;
    if (tensor(c, "interpolations", &t)) return;
    if (!image_tensor(&t) || t.dims[0] % 10) { vr_ptensor_free(&t); return; }
    int rows = (int)t.dims[0] / 10, cols = 10;
    char path[1024];
    if (write_tiles(c, "interpolations.grid", &t, rows, cols, path, sizeof path)) {
        vr_ptensor_free(&t);
        return;
    }
    grid_geom g = geom(&t, rows, cols);
    vr_sbuf sb = {0};
    begin(c, &sb, "interpolations", 1200, 1060);
    image_panel(&sb, &g);
    char title[300];
    snprintf(title, sizeof title, "%s: latent interpolations z = √a z₁ + √(1−a) z₂, "
                                  "z₁, z₂ ~ N(0, I), one pair per row", c->tid);
    vr_sb_printf(&sb, "set title ");
    vr_sb_quote(&sb, title);
    vr_sb_printf(&sb, " font ',14'\nset xlabel 'a  (a = 0: z₂, a = 1: z₁)'\n");
    tile_tics(&sb, "xtics", cols, g.w, 1, interp_a, 0, 2);
    vr_sb_printf(&sb, "plot ");
    vr_sb_quote(&sb, path);
    vr_sb_printf(&sb, " matrix w image\n");
    render(c, &sb, "interpolations",
           "Each row decodes a path between two prior draws, sqrt(a) z1 + sqrt(1-a) z2 for a = 0 "
           "to 1, which stays N(0, I)-distributed all along (a straight line would pass through "
           "improbable, small-norm latents). Smooth rows with plausible images throughout mean "
           "the prior's mass decodes to data-like images.");
    vr_sb_free(&sb);
    vr_ptensor_free(&t);
}

static void fig_grid(ctx *c, const char *name, int steps, double (*coord)(int, int), int every)
{
    vr_ptensor t;
    if (tensor(c, name, &t)) return;
    if (!image_tensor(&t) || (int)t.dims[0] != steps * steps) { vr_ptensor_free(&t); return; }
    char file[64], path[1024];
    snprintf(file, sizeof file, "%s.grid", name);
    if (write_tiles(c, file, &t, steps, steps, path, sizeof path)) { vr_ptensor_free(&t); return; }
    grid_geom g = geom(&t, steps, steps);
    int manifold = !strcmp(name, "manifold");
    vr_sbuf sb = {0};
    begin(c, &sb, name, 1000, 1000);
    image_panel(&sb, &g);
    char title[300];
    if (manifold)
        snprintf(title, sizeof title, "%s: the decoded manifold, z at Φ⁻¹ of equally spaced "
                                      "probabilities", c->tid);
    else
        snprintf(title, sizeof title, "%s: latent traversal, z₀ and z₁ from −3 to 3%s", c->tid,
                 c->latent > 2 ? ", other latents 0" : "");
    vr_sb_printf(&sb, "set title ");
    vr_sb_quote(&sb, title);
    vr_sb_printf(&sb, " font ',14'\nset xlabel 'z₀'\nset ylabel 'z₁'\n");
    tile_tics(&sb, "xtics", steps, g.w, every, coord, 0, manifold ? 2 : 1);
    tile_tics(&sb, "ytics", steps, g.h, every, coord, 1, manifold ? 2 : 1);
    vr_sb_printf(&sb, "plot ");
    vr_sb_quote(&sb, path);
    vr_sb_printf(&sb, " matrix w image\n");
    char cap[512];
    if (manifold)
        snprintf(cap, sizeof cap,
                 "The 2-D latent space decoded on a %dx%d grid whose coordinates are the normal "
                 "inverse CDF of (i + 0.5)/%d, so each tile stands for an equal share of the "
                 "prior's mass: z0 across, z1 down from high to low. %s",
                 steps, steps, steps, mean_words(c->lik));
    else
        snprintf(cap, sizeof cap,
                 "Decoder outputs along the first two latent axes, z0 across and z1 down (high "
                 "to low), each from -3 to 3 in %d steps%s: what each of the two directions "
                 "encodes and how smoothly the images change.",
                 steps, c->latent > 2 ? ", the other latents held at 0 (the prior's mean)" : "");
    render(c, &sb, name, cap);
    vr_sb_free(&sb);
    vr_ptensor_free(&t);
}

/* ---- 4. latent scatter ---------------------------------------------------------- */

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                                              "Ankle boot"};
static const char *const gauss_names[8] = {"mode at 0°", "mode at 45°", "mode at 90°",
                                           "mode at 135°", "mode at 180°", "mode at 225°",
                                           "mode at 270°", "mode at 315°"};

static void class_name(const ctx *c, int k, char *buf, size_t cap)
{
    if (!strcmp(c->set, "fashion_mnist") && k >= 0 && k < 10) snprintf(buf, cap, "%s", fashion_names[k]);
    else if (!strcmp(c->set, "eight_gaussians") && k >= 0 && k < 8) snprintf(buf, cap, "%s", gauss_names[k]);
    else if (!strcmp(c->set, "mnist")) snprintf(buf, cap, "digit %d", k);
    else snprintf(buf, cap, "class %d", k);
}

static uint32_t colour_of(int k)
{
    const char *h = tab10[((k % 10) + 10) % 10];
    return (uint32_t)strtoul(h + 1, NULL, 16);
}

static void fig_latent(ctx *c)
{
    vr_ptensor z;
    if (tensor(c, "latent_mean", &z)) return;
    if (z.rank != 2 || z.dims[1] < 1 || z.dims[0] < 2) { vr_ptensor_free(&z); return; }
    size_t n = z.dims[0];
    int L = (int)z.dims[1];
    int32_t *lab = calloc(n, sizeof *lab);
    size_t nl = 0;
    vr_err e;
    if (!lab) { vr_ptensor_free(&z); return; }
    if (vr_run_file_count(c->h5, "/tensors/labels", &nl, &e)) note_error(c, &e);
    if (nl == n && vr_run_file_read(c->h5, "/tensors/labels", VR_DT_I32, lab, n, &e)) {
        note_error(c, &e);
        nl = 0;
    }
    int labelled = nl == n;
    double pc[2 * 1024], frac[2] = {1, 1};
    int pca = L > 2;
    if (L > 1024 || L < 2 || (pca && vr_pca2(z.v, n, L, pc, frac))) {
        free(lab);
        vr_ptensor_free(&z);
        return;
    }
    /* Project (without centring: the prior's circles stay centred at 0) and
     * write in a fixed shuffled order so no class is drawn on top of all. */
    size_t *perm = malloc(sizeof *perm * n);
    char path[1024];
    data_path(c, "latent.dat", path, sizeof path);
    FILE *f = perm ? fopen(path, "w") : NULL;
    if (!f) {
        free(perm); free(lab); vr_ptensor_free(&z);
        vr_fail(&e, "%s: cannot create", path);
        note_error(c, &e);
        return;
    }
    for (size_t i = 0; i < n; i++) perm[i] = i;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (size_t i = n - 1; i > 0; i--) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t j = (size_t)((s >> 33) % (i + 1));
        size_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
    }
    int kmax = 0;
    double x0 = -2.2, x1 = 2.2, y0 = -2.2, y1 = 2.2;  /* the prior's 2-sigma circle in view */
    for (size_t q = 0; q < n; q++) {
        size_t i = perm[q];
        const float *r = z.v + i * L;
        double x = r[0], y = r[1];
        if (pca) {
            x = y = 0;
            for (int j = 0; j < L; j++) { x += pc[j] * r[j]; y += pc[L + j] * r[j]; }
        }
        int k = labelled ? lab[i] : 0;
        if (k > kmax) kmax = k;
        if (isfinite(x) && isfinite(y)) {
            x0 = fmin(x0, x); x1 = fmax(x1, x);
            y0 = fmin(y0, y); y1 = fmax(y1, y);
        }
        fprintf(f, "%.7g %.7g %u %d\n", x, y, (unsigned)colour_of(k), k);
    }
    free(perm);
    if (fclose(f)) {
        vr_fail(&e, "%s: write failed", path);
        note_error(c, &e);
        free(lab); vr_ptensor_free(&z);
        return;
    }
    vr_sbuf sb = {0};
    begin(c, &sb, "latent", 1150, 950);
    char title[300], xl[128], yl[128];
    if (pca) {
        snprintf(title, sizeof title, "%s: test-set posterior means, PCA of the %d-D latent", c->tid, L);
        snprintf(xl, sizeof xl, "PC 1 (%.1f%% of the variance)", 100 * frac[0]);
        snprintf(yl, sizeof yl, "PC 2 (%.1f%% of the variance)", 100 * frac[1]);
    } else {
        snprintf(title, sizeof title, "%s: test-set posterior means in the 2-D latent", c->tid);
        snprintf(xl, sizeof xl, "z₀");
        snprintf(yl, sizeof yl, "z₁");
    }
    vr_sb_printf(&sb, "set title ");
    vr_sb_quote(&sb, title);
    vr_sb_printf(&sb, " font ',14'\nset xlabel '%s'\nset ylabel '%s'\nset size ratio -1\n"
                      "set key outside right top Left reverse samplen 2.5 spacing 1.3 "
                      "title '%s'\nset grid lc rgb '#e5e5e5' lt 1\n",
                 xl, yl, labelled ? "class" : "");
    /* a square around the points and the prior's circles, one scale on both axes */
    double half = 0.525 * fmax(x1 - x0, y1 - y0), cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    vr_sb_printf(&sb, "set xrange [%.6g:%.6g]\nset yrange [%.6g:%.6g]\n", cx - half, cx + half,
                 cy - half, cy + half);
    vr_sb_printf(&sb, "set object 1 circle at 0,0 size 1 fc rgb '#000000' fs empty border "
                      "lc rgb '#222222' dt 2 lw 1.5 front\n"
                      "set object 2 circle at 0,0 size 2 fc rgb '#000000' fs empty border "
                      "lc rgb '#222222' dt 2 lw 1.5 front\n");
    double ps = n > 5000 ? 0.4 : n > 1000 ? 0.5 : 0.7;
    vr_sb_printf(&sb, "plot ");
    vr_sb_quote(&sb, path);
    vr_sb_printf(&sb, " u 1:2:3 w p pt 7 ps %.2f lc rgb variable notitle", ps);
    if (labelled)
        for (int k = 0; k <= kmax && k < 20; k++) {
            char nm[64];
            class_name(c, k, nm, sizeof nm);
            vr_sb_printf(&sb, ", keyentry w p pt 7 ps 1.5 lc rgb '%s' t ", tab10[k % 10]);
            vr_sb_quote(&sb, nm);
        }
    vr_sb_printf(&sb, ", keyentry w l dt 2 lw 1.5 lc rgb '#222222' t 'prior N(0, I): 1σ, 2σ'\n");
    char cap[512];
    if (pca)
        snprintf(cap, sizeof cap,
                 "Posterior means of %zu test images projected on the top two principal "
                 "components of the %d-D latent means (%.0f%% and %.0f%% of their variance), "
                 "coloured by class; dashed circles: the prior's 1 and 2 sigma. Separated "
                 "colours mean the code keeps the class; points outside the circles are codes "
                 "the prior rarely produces.", n, L, 100 * frac[0], 100 * frac[1]);
    else
        snprintf(cap, sizeof cap,
                 "Posterior means of %zu test inputs in the 2-D latent, coloured by class; dashed "
                 "circles: the prior's 1 and 2 sigma. Separated colours mean the code keeps the "
                 "class; holes and far-out clusters are where prior samples decode badly.", n);
    render(c, &sb, "latent", cap);
    vr_sb_free(&sb);
    free(lab);
    vr_ptensor_free(&z);
}

/* ---- 5. point data (eight_gaussians) --------------------------------------------- */

static int write_points(ctx *c, const char *file, const vr_ptensor *t, char *path, size_t cap)
{
    data_path(c, file, path, cap);
    FILE *f = fopen(path, "w");
    vr_err e;
    if (!f) { vr_fail(&e, "%s: cannot create", path); note_error(c, &e); return -1; }
    for (size_t i = 0; i < t->dims[0]; i++)
        fprintf(f, "%.7g %.7g\n", (double)t->v[2 * i], (double)t->v[2 * i + 1]);
    if (fclose(f)) { vr_fail(&e, "%s: write failed", path); note_error(c, &e); return -1; }
    return 0;
}

static double max_abs(const vr_ptensor *t)
{
    double m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (isfinite(t->v[i]) && fabs(t->v[i]) > m) m = fabs(t->v[i]);
    return m;
}

static int is_points(const vr_ptensor *t) { return t->rank == 2 && t->dims[1] == 2; }

static void square_axes(vr_sbuf *sb, double lim)
{
    vr_sb_printf(sb, "set size ratio -1\nset xrange [%.4g:%.4g]\nset yrange [%.4g:%.4g]\n"
                     "set xlabel 'x₁'\nset ylabel 'x₂'\nset grid lc rgb '#e5e5e5' lt 1\n",
                 -lim, lim, -lim, lim);
}

/* The figure's title over a manual multiplot (drawn last, by an empty plot). */
static void multiplot_title(vr_sbuf *sb, const char *id, const char *what)
{
    char t[400];
    snprintf(t, sizeof t, "%s: %s", id, what);
    vr_sb_printf(sb, "unset title\nunset key\nunset border\nunset xtics\nunset ytics\n"
                     "unset xlabel\nunset ylabel\nunset grid\nunset colorbox\nunset object\n"
                     "set label 1 ");
    vr_sb_quote(sb, t);
    vr_sb_printf(sb, " at screen 0.5,0.975 center font ',14'\nset xrange [0:1]\nset yrange [0:1]\n"
                     "plot NaN notitle\nunset label 1\n");
}

/* Panel I of NP square panels side by side on a W x H canvas, CBW pixels
 * kept on the right for a colour box: fixed margins so every panel has the
 * same size, and the panel's key centred under its x label. */
typedef struct { double l, r, b, t; } pbox;

static pbox panel_at(vr_sbuf *sb, int i, int np, int W, int H, int cbw, int keyed)
{
    double slot = (double)(W - cbw) / np;
    double S = slot - 120;
    if (S > H - 215) S = H - 215;
    double left = i * slot + 85 + (slot - 120 - S) / 2, top = 80;
    pbox b = {left / W, (left + S) / W, (H - top - S) / H, (double)(H - top) / H};
    vr_sb_printf(sb, "set lmargin at screen %.5f\nset rmargin at screen %.5f\n"
                     "set bmargin at screen %.5f\nset tmargin at screen %.5f\n",
                 b.l, b.r, b.b, b.t);
    if (keyed)
        vr_sb_printf(sb, "set key at screen %.5f,%.5f center top horizontal Left reverse "
                         "samplen 1.5 spacing 1.2 maxrows 2\n",
                     (b.l + b.r) / 2, b.b - 62.0 / H);
    else
        vr_sb_printf(sb, "unset key\n");
    return b;
}

static void fig_points(ctx *c)
{
    vr_ptensor d, r, s, it, tr;
    int hd = tensor(c, "data", &d) == 0 && is_points(&d);
    int hr = tensor(c, "reconstructions", &r) == 0 && is_points(&r) && hd && r.dims[0] == d.dims[0];
    int hs = tensor(c, "samples", &s) == 0 && is_points(&s);
    int hi = tensor(c, "interpolations", &it) == 0 && is_points(&it) && it.dims[0] % 10 == 0;
    int ht = tensor(c, "traversal", &tr) == 0 && is_points(&tr) && tr.dims[0] == 100;
    if (!hd) goto out;
    double lim = max_abs(&d);
    if (hr && max_abs(&r) > lim) lim = max_abs(&r);
    if (hs && max_abs(&s) > lim) lim = max_abs(&s);
    lim = ceil(lim * 1.1);
    char pd[1024], pr[1024], ps[1024], pp[1024];
    if (write_points(c, "points_data.dat", &d, pd, sizeof pd)) goto out;
    if (hr && write_points(c, "points_reconstructions.dat", &r, pr, sizeof pr)) goto out;
    if (hs && write_points(c, "points_samples.dat", &s, ps, sizeof ps)) goto out;

    /* data vs reconstructions, data vs prior samples */
    if (hr || hs) {
        if (hr) {  /* a segment from each point to its reconstruction */
            data_path(c, "points_pairs.dat", pp, sizeof pp);
            FILE *f = fopen(pp, "w");
            if (!f) goto out;
            for (size_t i = 0; i < d.dims[0]; i++)
                fprintf(f, "%.7g %.7g %.7g %.7g\n", d.v[2 * i], d.v[2 * i + 1],
                        r.v[2 * i] - d.v[2 * i], r.v[2 * i + 1] - d.v[2 * i + 1]);
            fclose(f);
        }
        vr_sbuf sb = {0};
        int np = hr + hs;
        const int W = 800 * np, H = 900;
        begin(c, &sb, "points", W, H);
        vr_sb_printf(&sb, "set multiplot\n");
        square_axes(&sb, lim);
        vr_sb_printf(&sb, "set size noratio\n");
        int pi = 0;
        if (hr) {
            panel_at(&sb, pi++, np, W, H, 0, 1);
            vr_sb_printf(&sb, "set title 'test data and their reconstructions'\nplot ");
            vr_sb_quote(&sb, pp);
            vr_sb_printf(&sb, " u 1:2:3:4 w vectors nohead lw 0.5 lc rgb '#b0c4de' notitle, ");
            vr_sb_quote(&sb, pd);
            vr_sb_printf(&sb, " u 1:2 w p pt 7 ps 0.45 lc rgb '%s' notitle, ", C_DATA);
            vr_sb_quote(&sb, pr);
            vr_sb_printf(&sb, " u 1:2 w p pt 7 ps 0.45 lc rgb '%s' notitle, "
                              "keyentry w p pt 7 ps 1.3 lc rgb '%s' t 'test data', "
                              "keyentry w p pt 7 ps 1.3 lc rgb '%s' t 'reconstruction (decoder mean)', "
                              "keyentry w l lw 2 lc rgb '#b0c4de' t 'data → its reconstruction'\n",
                         C_ELBO, C_DATA, C_ELBO);
        }
        if (hs) {
            panel_at(&sb, pi++, np, W, H, 0, 1);
            vr_sb_printf(&sb, "set title 'test data and prior samples'\nplot ");
            vr_sb_quote(&sb, pd);
            vr_sb_printf(&sb, " u 1:2 w p pt 7 ps 0.45 lc rgb '%s' notitle, ", C_DATA);
            vr_sb_quote(&sb, ps);
            vr_sb_printf(&sb, " u 1:2 w p pt 7 ps 0.45 lc rgb '%s' notitle, "
                              "keyentry w p pt 7 ps 1.3 lc rgb '%s' t 'test data', "
                              "keyentry w p pt 7 ps 1.3 lc rgb '%s' t 'prior sample z ~ N(0, I), "
                              "decoded (mean)'\n", C_WEIGHT, C_DATA, C_WEIGHT);
        }
        multiplot_title(&sb, c->tid, "eight Gaussians, data and the model's points");
        render(c, &sb, "points",
               "Left: each test point (grey) joined to its reconstruction (blue). Right: the "
               "decoder means of prior samples z ~ N(0, I) (orange) over the data: how well the "
               "model covers the eight modes, and whether it puts mass between them (the "
               "Gaussian likelihood's own noise is not added).");
        vr_sb_free(&sb);
    }

    /* the two densities as 2-D histograms on the same axes and colour scale */
    if (hs) {
        char hd_[1024], hs_[1024];
        int B = 40;
        vr_err e;
        data_path(c, "hist_data.dat", hd_, sizeof hd_);
        data_path(c, "hist_samples.dat", hs_, sizeof hs_);
        if (vr_write_hist2d(hd_, &d, -lim, lim, B, &e) ||
            vr_write_hist2d(hs_, &s, -lim, lim, B, &e)) {
            note_error(c, &e);
            goto out;
        }
        double bw = 2 * lim / B;
        vr_sbuf sb = {0};
        const int W = 1700, H = 840;
        begin(c, &sb, "density", W, H);
        vr_sb_printf(&sb, "set multiplot\n" PAL_DENSITY);
        square_axes(&sb, lim);
        vr_sb_printf(&sb, "set size noratio\nunset grid\nset cblabel 'density (per unit area)'\n"
                          "stats ");
        vr_sb_quote(&sb, hd_);
        vr_sb_printf(&sb, " matrix u 3 nooutput name 'D'\nstats ");
        vr_sb_quote(&sb, hs_);
        vr_sb_printf(&sb, " matrix u 3 nooutput name 'S'\nset cbrange [0:(D_max > S_max ? D_max : "
                          "S_max)]\n");
        const char *file[2] = {hd_, hs_};
        const char *ttl[2] = {"test data", "decoded prior samples (decoder mean)"};
        for (int i = 0; i < 2; i++) {
            pbox b = panel_at(&sb, i, 2, W, H, 150, 0);
            if (i)
                vr_sb_printf(&sb, "set colorbox user origin screen %.5f,%.5f size screen %.5f,%.5f\n",
                             b.r + 25.0 / W, b.b, 18.0 / W, b.t - b.b);
            vr_sb_printf(&sb, "set title '%s'\n%s\nplot ", ttl[i], i ? "" : "unset colorbox");
            vr_sb_quote(&sb, file[i]);
            vr_sb_printf(&sb, " matrix u (%.9g + ($1 + 0.5) * %.9g):(%.9g + ($2 + 0.5) * %.9g):3 "
                              "w image\n", -lim, bw, -lim, bw);
        }
        char title[200];
        snprintf(title, sizeof title, "densities as 2-D histograms (%dx%d bins, one colour scale)",
                 B, B);
        multiplot_title(&sb, c->tid, title);
        render(c, &sb, "density",
               "The data's density (left) and the model's (right: decoder means of prior "
               "samples), as 2-D histograms over the same square and colour scale. A good fit "
               "shows eight equally dark blobs on both sides; a strong KL weight smears the "
               "model's mass around the circle.");
        vr_sb_free(&sb);
    }

    /* interpolation paths and the decoded latent grid */
    if (hi || ht) {
        vr_sbuf sb = {0};
        int np = hi + ht;
        const int W = 800 * np, H = 900;
        begin(c, &sb, "paths", W, H);
        vr_sb_printf(&sb, "set multiplot\n");
        square_axes(&sb, lim);
        vr_sb_printf(&sb, "set size noratio\n");
        int pi = 0;
        if (hi) {
            char p[1024];
            data_path(c, "paths_interpolations.dat", p, sizeof p);
            FILE *f = fopen(p, "w");
            if (!f) goto out_sb;
            int rows = (int)it.dims[0] / 10;
            for (int rr = 0; rr < rows; rr++) {
                for (int k = 0; k < 10; k++)
                    fprintf(f, "%.7g %.7g %u\n", it.v[2 * (rr * 10 + k)],
                            it.v[2 * (rr * 10 + k) + 1], (unsigned)colour_of(rr));
                fprintf(f, "\n\n");
            }
            fclose(f);
            panel_at(&sb, pi++, np, W, H, 0, 1);
            vr_sb_printf(&sb, "set title 'interpolations √a z₁ + √(1−a) z₂, one colour per path'\nplot ");
            vr_sb_quote(&sb, pd);
            vr_sb_printf(&sb, " u 1:2 w p pt 7 ps 0.35 lc rgb '#c8c8c8' notitle, ");
            vr_sb_quote(&sb, p);
            vr_sb_printf(&sb, " u 1:2:3 w lp pt 6 ps 0.9 lw 1.5 lc rgb variable notitle, ");
            vr_sb_quote(&sb, p);
            vr_sb_printf(&sb, " every ::9::9 u 1:2:3 w p pt 7 ps 1.5 lc rgb variable notitle, "
                              "keyentry w p pt 7 ps 1.3 lc rgb '#c8c8c8' t 'test data', "
                              "keyentry w lp pt 6 ps 0.9 lw 1.5 lc rgb '#444444' t 'a = 0 ... 1', "
                              "keyentry w p pt 7 ps 1.5 lc rgb '#444444' t 'a = 1 (z₁)'\n");
        }
        if (ht) {
            char p1[1024], p2[1024];
            data_path(c, "paths_traversal_z0.dat", p1, sizeof p1);
            data_path(c, "paths_traversal_z1.dat", p2, sizeof p2);
            FILE *f1 = fopen(p1, "w"), *f2 = fopen(p2, "w");
            if (!f1 || !f2) { if (f1) fclose(f1); if (f2) fclose(f2); goto out_sb; }
            /* traversal row r: z1 fixed (high to low), z0 across */
            for (int rr = 0; rr < 10; rr++) {
                for (int k = 0; k < 10; k++)
                    fprintf(f1, "%.7g %.7g\n", tr.v[2 * (rr * 10 + k)], tr.v[2 * (rr * 10 + k) + 1]);
                fprintf(f1, "\n");
            }
            for (int k = 0; k < 10; k++) {
                for (int rr = 0; rr < 10; rr++)
                    fprintf(f2, "%.7g %.7g\n", tr.v[2 * (rr * 10 + k)], tr.v[2 * (rr * 10 + k) + 1]);
                fprintf(f2, "\n");
            }
            fclose(f1);
            fclose(f2);
            panel_at(&sb, pi++, np, W, H, 0, 1);
            vr_sb_printf(&sb, "set title 'the latent grid z₀, z₁ ∈ [−3, 3] (10x10)%s, decoded'\nplot ",
                         c->latent > 2 ? ", other latents 0" : "");
            vr_sb_quote(&sb, pd);
            vr_sb_printf(&sb, " u 1:2 w p pt 7 ps 0.35 lc rgb '#c8c8c8' notitle, "
                              "keyentry w p pt 7 ps 1.3 lc rgb '#c8c8c8' t 'test data', ");
            vr_sb_quote(&sb, p1);
            vr_sb_printf(&sb, " u 1:2 w l lw 1.2 lc rgb '%s' t 'z₀ varies', ", C_ELBO);
            vr_sb_quote(&sb, p2);
            vr_sb_printf(&sb, " u 1:2 w l lw 1.2 lc rgb '%s' t 'z₁ varies'\n", C_WEIGHT);
        }
        multiplot_title(&sb, c->tid, "latent paths decoded into the data plane");
        render(c, &sb, "paths",
               "Left: the eight latent interpolation paths of the interpolations tensor, decoded "
               "(one colour per path, filled dot at a = 1). Right: the regular latent grid "
               "z0, z1 in [-3, 3] decoded: where the decoder stretches or folds the latent "
               "space to reach the modes.");
    out_sb:
        vr_sb_free(&sb);
    }
out:
    vr_ptensor_free(&d); vr_ptensor_free(&r); vr_ptensor_free(&s);
    vr_ptensor_free(&it); vr_ptensor_free(&tr);
}

/* ---- 6. the learned output scale --------------------------------------------------- */

static void fig_output_scale(ctx *c)
{
    vr_ptensor t;
    if (tensor(c, "output_log_scale", &t)) return;
    if (t.rank != 3 || t.dims[1] < 2 || t.dims[2] < 2) { vr_ptensor_free(&t); return; }
    char path[1024];
    data_path(c, "output_log_scale.grid", path, sizeof path);
    vr_err e;
    if (vr_write_grid(path, &t, 1, 1, 0, &e)) { note_error(c, &e); vr_ptensor_free(&t); return; }
    double lo = INFINITY, hi = -INFINITY;
    size_t hw = t.dims[1] * t.dims[2];
    for (size_t i = 0; i < hw; i++) {
        if (t.v[i] < lo) lo = t.v[i];
        if (t.v[i] > hi) hi = t.v[i];
    }
    vr_sbuf sb = {0};
    begin(c, &sb, "output-scale", 1000, 880);
    char title[300];
    snprintf(title, sizeof title, "%s: learned per-pixel log-scale s of the %s", c->tid,
             lik_words(c->lik));
    vr_sb_printf(&sb, "set title ");
    vr_sb_quote(&sb, title);
    vr_sb_printf(&sb, " font ',14'\n" PAL_VIRIDIS
                      "set size ratio -1\nset xrange [-0.5:%zu.5]\nset yrange [%zu.5:-0.5]\n"
                      "set xlabel 'pixel column'\nset ylabel 'pixel row'\nset xtics out nomirror\n"
                      "set ytics out nomirror\nunset key\nset colorbox\n"
                      "set cblabel 's  (scale e^s, in units of the [0, 1] pixel range)'\n",
                 t.dims[2] - 1, t.dims[1] - 1);
    if (hi - lo < 1e-9) vr_sb_printf(&sb, "set cbrange [%.6g:%.6g]\n", lo - 0.5, hi + 0.5);
    vr_sb_printf(&sb, "plot ");
    vr_sb_quote(&sb, path);
    vr_sb_printf(&sb, " matrix w image\n");
    char cap[512];
    snprintf(cap, sizeof cap,
             "The likelihood's learned log-scale s per pixel%s, from %.2f to %.2f: a low s (dark) "
             "says the model is sure of that pixel's value (the always-black border), a high s "
             "(bright) that it is unsure (where strokes vary).",
             t.dims[0] > 1 ? " (channel 0)" : "", lo, hi);
    render(c, &sb, "output-scale", cap);
    vr_sb_free(&sb);
    vr_ptensor_free(&t);
}

/* ---- entry points ----------------------------------------------------------------- */

int vr_plot_run_data(const char *run_h5, const char *run_id, const char *fig_dir,
                     const char *data_dir, vr_figure_list *l, vr_err *err)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.h5 = run_h5;
    c.id = run_id;
    c.fig_dir = fig_dir;
    c.dd = data_dir;
    c.l = l;
    char *yaml = NULL;
    if (vr_run_file_config(run_h5, &yaml, err)) return vr_wrap(err, "%s", run_id);
    char v[64];
    snprintf(c.set, sizeof c.set, "%s", vr_yaml_value(yaml, "data.set", v, sizeof v) ? "" : v);
    snprintf(c.lik, sizeof c.lik, "%s",
             vr_yaml_value(yaml, "likelihood.kind", v, sizeof v) ? "bernoulli" : v);
    snprintf(c.obj, sizeof c.obj, "%s", vr_yaml_value(yaml, "objective.kind", v, sizeof v) ? "elbo" : v);
    c.latent = vr_yaml_value(yaml, "model.latent", v, sizeof v) ? 0 : atoi(v);
    if (vr_yaml_value(yaml, "name", v, sizeof v) == 0 && *v && !strstr(run_id, v))
        snprintf(c.tid, sizeof c.tid, "%s / %s", v, run_id);
    else
        snprintf(c.tid, sizeof c.tid, "%s", run_id);
    free(yaml);

    vr_ptensor d;
    int rc = vr_ptensor_read(run_h5, "data", &d, err);
    if (rc < 0) return vr_wrap(err, "%s", run_id);
    c.points = rc == 0 && is_points(&d);
    vr_ptensor_free(&d);
    c.unit = c.points ? "nats per point" : "nats per image";

    fig_curves(&c);
    if (c.points) {
        fig_points(&c);
    } else {
        fig_gallery(&c);
        fig_interpolations(&c);
        fig_grid(&c, "traversal", 10, trav_coord, 1);
        fig_grid(&c, "manifold", 15, manifold_coord, 2);
        fig_output_scale(&c);
    }
    fig_latent(&c);
    if (c.failed) {
        *err = c.first;
        return -1;
    }
    return 0;
}

int vr_plot_run(const char *run_h5, const char *run_id, const char *fig_dir,
                vr_figure_list *l, vr_err *err)
{
    if (!vr_gnuplot_available()) return vr_fail(err, "%s", VR_GNUPLOT_MISSING);
    if (mkdir(fig_dir, 0777) && errno != EEXIST)
        return vr_fail(err, "%s: cannot create: %s", fig_dir, strerror(errno));
    char dir[4096];
    if (vr_plot_tmpdir(dir, sizeof dir, err)) return -1;
    int rc = vr_plot_run_data(run_h5, run_id, fig_dir, dir, l, err);
    vr_rm_rf(dir);
    return rc;
}
