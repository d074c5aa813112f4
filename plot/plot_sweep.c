/* plot_sweep.c: the sweep-level figures and index.html (vr_plot_sweep).
 *
 * Figures, all from done runs (run.h5 says done), into DIR/figures/:
 *   sweep-overlay-<metric>.png   a training curve of every run over steps (KL,
 *                                reconstruction term, KL weight and GECO's
 *                                multiplier when some run has them, test ELBO):
 *                                one colour per variant (or per value of the
 *                                first swept key), seeds thin, their mean thick;
 *                                one panel per value of the other swept keys
 *   sweep-<metric>-vs-<key>.png  final test_elbo / test_recon / test_kl /
 *                                test_iwae against each swept key (or the
 *                                variant): mean over seeds, min-max bars, seeds
 *                                as points, one line per value of the others
 *   sweep-rate-distortion.png    rate (test KL) against distortion (-test
 *                                recon) of every run, with lines of equal ELBO
 * The colour of a variant (or of a value of the colour key) is the same in
 * every figure. Data go to gnuplot through files in a temporary folder.
 */
#include "sweep_plot.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small text buffer -------------------------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = b->cap ? vsnprintf(b->s + b->n, room, fmt, ap) : -1;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) { b->n += (size_t)k; return; }
        size_t cap = b->cap ? 2 * b->cap : 4096;
        while (k >= 0 && cap < b->n + (size_t)k + 1) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) { b->oom = 1; return; }
        b->s = t;
        b->cap = cap;
    }
}

/* A gnuplot single-quoted string: no escapes but '' for a quote. */
static void sb_q(sbuf *b, const char *s)
{
    sb_printf(b, "'");
    for (; *s; s++) {
        if (*s == '\'') sb_printf(b, "''");
        else if (*s == '\n') sb_printf(b, " ");
        else sb_printf(b, "%c", *s);
    }
    sb_printf(b, "'");
}

/* ---- context ------------------------------------------------------------ */

#define MAX_FACTORS 64
#define MAX_PANELS 9    /* panels in one figure */

typedef struct {
    const vr_sweep_data *d;
    char fig_dir[4300];
    char data_dir[4300];
    vr_figure_list *figs;
    int colour;                  /* the factor that picks colours, or VR_FACTOR_NONE */
    int active[MAX_FACTORS];     /* factors with two or more levels */
    int n_active;
    int n_done;
    int n_failed;
    vr_err first;                /* the first figure that failed */
} ctx;

static const char *tab10[] = {"1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd",
                              "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf"};
static const char *dark2[] = {"1b9e77", "d95f02", "7570b3", "e7298a",
                              "66a61e", "a6761d", "e6ab02", "666666"};
/* matplotlib's plasma at 0, 0.1, ..., 1 */
static const unsigned plasma[] = {0x0d0887, 0x41049d, 0x6a00a8, 0x8f0da4, 0xb12a90, 0xcc4778,
                                  0xe16462, 0xf2844b, 0xfca636, 0xfcce25, 0xf0f921};
static const int point_types[] = {7, 5, 9, 13, 11, 15, 6, 4, 8, 12};
#define N_PT ((int)(sizeof point_types / sizeof *point_types))

static unsigned hex_rgb(const char *h) { return (unsigned)strtoul(h, NULL, 16); }

static unsigned plasma_at(double t)
{
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    double x = t * 10;
    int i = (int)x;
    if (i >= 10) i = 9;
    double f = x - i;
    unsigned a = plasma[i], b = plasma[i + 1], out = 0;
    for (int sh = 0; sh <= 16; sh += 8) {
        double ca = (a >> sh) & 255, cb = (b >> sh) & 255;
        out |= (unsigned)lround(ca + f * (cb - ca)) << sh;
    }
    return out;
}

/* The colour of level L of factor F as 0xRRGGBB. Numeric factors with three
 * or more levels take an ordered (plasma) scale, the rest a qualitative one. */
static unsigned level_colour(const ctx *c, int f, int l)
{
    if (f == VR_FACTOR_NONE) return hex_rgb(tab10[0]);
    const vr_factor *fa = vr_sweep_factor(c->d, f);
    if (fa->numeric && fa->n >= 3) return plasma_at(0.82 * l / (fa->n - 1));
    return hex_rgb(tab10[l % 10]);
}

static const char *factor_label(const ctx *c, int f)
{
    return f == VR_FACTOR_VARIANT ? "variant" : c->d->keys[f];
}

static void level_label(const ctx *c, int f, int l, char *buf, size_t cap)
{
    const vr_factor *fa = vr_sweep_factor(c->d, f);
    if (f == VR_FACTOR_VARIANT) snprintf(buf, cap, "%s", fa->names[l]);
    else snprintf(buf, cap, "%s = %s", vr_sweep_factor_short(c->d, f), fa->names[l]);
}

/* ---- combinations of factor levels -------------------------------------- */

typedef struct {
    int nf;
    int f[MAX_FACTORS];
    long *code;     /* present combinations, ascending */
    int n;
} combos;

static long combo_code(const ctx *c, const combos *k, const vr_sweep_run *r)
{
    long code = 0;
    for (int i = 0; i < k->nf; i++)
        code = code * vr_sweep_factor(c->d, k->f[i])->n + vr_sweep_level(r, k->f[i]);
    return code;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

typedef int (*run_pred)(const vr_sweep_run *r, const void *arg);

/* The combinations of FS (every active factor but EXCLUDE) that the runs
 * passing PRED have. */
static int combos_make(const ctx *c, combos *k, int exclude, run_pred pred, const void *arg)
{
    memset(k, 0, sizeof *k);
    for (int i = 0; i < c->n_active; i++)
        if (c->active[i] != exclude) k->f[k->nf++] = c->active[i];
    k->code = malloc(sizeof *k->code * (size_t)(c->d->n_runs + 1));
    if (!k->code) return -1;
    for (int i = 0; i < c->d->n_runs; i++) {
        const vr_sweep_run *r = &c->d->runs[i];
        if (!r->done || (pred && !pred(r, arg))) continue;
        long code = combo_code(c, k, r);
        int seen = 0;
        for (int j = 0; j < k->n && !seen; j++) seen = k->code[j] == code;
        if (!seen) k->code[k->n++] = code;
    }
    qsort(k->code, (size_t)k->n, sizeof *k->code, cmp_long);
    return 0;
}

/* Level of factor F within combination CODE of K (-1 if F is not in K). */
static int combo_level(const ctx *c, const combos *k, long code, int f)
{
    for (int i = k->nf - 1; i >= 0; i--) {
        int n = vr_sweep_factor(c->d, k->f[i])->n;
        if (k->f[i] == f) return (int)(code % n);
        code /= n;
    }
    return -1;
}

static void combo_label(const ctx *c, const combos *k, long code, char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < k->nf; i++) {
        char one[300];
        level_label(c, k->f[i], combo_level(c, k, code, k->f[i]), one, sizeof one);
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s", i ? ", " : "", one);
        if (used >= cap) break;
    }
}

/* "latent size" style wording of a set of factors for captions. */
static void factors_words(const ctx *c, const combos *k, char *buf, size_t cap)
{
    buf[0] = '\0';
    size_t used = 0;
    for (int i = 0; i < k->nf; i++) {
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s",
                                 i == 0 ? "" : i == k->nf - 1 ? " and " : ", ", factor_label(c, k->f[i]));
        if (used >= cap) break;
    }
}

/* ---- layout: panels in a grid, a strip on the right for the key ---------- */

typedef struct {
    int W, H, rows, cols, key_w, top_h;
    int lpad, rpad, tpad, bpad;
} layout;

static layout make_layout(int n_panels, int key_w)
{
    layout L;
    if (n_panels < 1) n_panels = 1;
    L.cols = n_panels <= 3 ? n_panels : n_panels == 4 ? 2 : 3;
    L.rows = (n_panels + L.cols - 1) / L.cols;
    int pw = L.cols == 1 ? 820 : 560, ph = L.rows == 1 ? 520 : 450;
    L.key_w = key_w;
    L.top_h = 46;
    L.W = L.cols * pw + key_w;
    L.H = L.rows * ph + L.top_h;
    L.lpad = 86;
    L.rpad = 18;
    /* room above a panel for its title, below for the tics and x label;
     * between two rows both */
    L.tpad = n_panels == 1 ? 8 : L.rows > 1 ? 40 : 30;
    L.bpad = 58;
    return L;
}

/* Plot area of panel I in pixels from the top-left corner. */
static void panel_box(const layout *L, int i, double *x0, double *x1, double *y0, double *y1)
{
    int r = i / L->cols, col = i % L->cols;
    double pw = (L->W - L->key_w) / (double)L->cols, ph = (L->H - L->top_h) / (double)L->rows;
    *x0 = col * pw + L->lpad;
    *x1 = (col + 1) * pw - L->rpad;
    *y0 = L->top_h + r * ph + L->tpad;
    *y1 = L->top_h + (r + 1) * ph - L->bpad;
}

static void set_panel(sbuf *s, const layout *L, int i)
{
    double x0, x1, y0, y1;
    panel_box(L, i, &x0, &x1, &y0, &y1);
    sb_printf(s, "set lmargin at screen %.5f; set rmargin at screen %.5f\n", x0 / L->W, x1 / L->W);
    sb_printf(s, "set tmargin at screen %.5f; set bmargin at screen %.5f\n", 1 - y0 / L->H,
              1 - y1 / L->H);
}

/* Key width in pixels for labels of at most MAXLEN characters. */
static int key_width(size_t maxlen)
{
    int w = (int)(maxlen * 7.4) + 64;
    return w < 150 ? 150 : w > 420 ? 420 : w;
}

static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void script_head(sbuf *s, const layout *L, const char *png, const char *title)
{
    sb_printf(s, "set encoding utf8\n");
    sb_printf(s, "set terminal pngcairo size %d,%d font 'DejaVu Sans,11' noenhanced\n", L->W, L->H);
    sb_printf(s, "set output ");
    sb_q(s, png);
    sb_printf(s, "\nset multiplot\n");
    sb_printf(s, "set label 1001 ");
    sb_q(s, title);
    sb_printf(s, " at screen %.5f, screen %.5f center font 'DejaVu Sans,15'\n",
              0.5 * (L->W - L->key_w) / L->W, 1 - 24.0 / L->H);
    sb_printf(s, "set border 3 lw 1; set tics nomirror out scale 0.6\n");
    sb_printf(s, "set grid xtics ytics lc rgb '#e4e4e4' lw 1 dt 1\n");
    sb_printf(s, "set datafile missing 'NaN'\n");
}

/* The key, drawn once: at the top of the strip on the right. */
static void key_at_strip(sbuf *s, const layout *L, const char *title)
{
    double y0 = L->top_h + L->tpad;
    sb_printf(s, "set key at screen %.5f, screen %.5f left top Left reverse samplen 2.2 spacing 1.15 "
              "width -2 noautotitle",
              (L->W - L->key_w + 12.0) / L->W, 1 - y0 / L->H);
    if (title && *title) {
        sb_printf(s, " title ");
        sb_q(s, title);
        sb_printf(s, " left");
    }
    sb_printf(s, "\n");
}

/* ---- running one figure ------------------------------------------------- */

static FILE *open_data(ctx *c, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", c->data_dir, name);
    FILE *f = fopen(path, "w");
    if (!f && !c->n_failed++) vr_fail(&c->first, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

static void num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.9g", v); else fputs("NaN", f);
}

/* Runs the script (also saved as DATA_DIR/<name>.gp) and adds the figure. */
static void finish_figure(ctx *c, sbuf *s, const char *file, const char *caption)
{
    sb_printf(s, "unset multiplot\nset output\n");
    char png[4600];
    snprintf(png, sizeof png, "%s/%s", c->fig_dir, file);
    vr_err err;
    int rc = 0;
    if (s->oom) {
        rc = vr_fail(&err, "%s: out of memory", file);
    } else {
        char gp[4600];
        snprintf(gp, sizeof gp, "%s/%.*s.gp", c->data_dir, (int)(strlen(file) - 4), file);
        FILE *g = fopen(gp, "w");
        if (g) { fputs(s->s, g); fclose(g); }
        rc = vr_gnuplot(s->s, &err);
        if (rc) vr_wrap(&err, "%s", file);
    }
    if (rc) {
        if (!c->n_failed) c->first = err;
        c->n_failed++;
        unlink(png);
    } else if (vr_figures_add(c->figs, file, caption, "")) {
        if (!c->n_failed) vr_fail(&c->first, "out of memory");
        c->n_failed++;
    }
    free(s->s);
    memset(s, 0, sizeof *s);
}

/* ---- overlays of a curve over training ---------------------------------- */

typedef struct {
    const char *key;       /* file name part */
    const char *title;
    const char *ylabel;
    const char *what;      /* caption: what the curve is */
    int eval;              /* 0: /metrics, 1: /eval */
    int idx;
    int log_ok;            /* a log y-axis when the values span orders of magnitude */
} overlay_spec;

static const double *run_series(const vr_sweep_run *r, int eval, int idx, size_t *n,
                                const double **step)
{
    *n = eval ? r->ne : r->nm;
    *step = eval ? r->e[VR_E_STEP] : r->m[VR_M_STEP];
    const double *v = eval ? r->e[idx] : r->m[idx];
    if (!v || !*step) *n = 0;
    return *n ? v : NULL;
}

typedef struct { int eval, idx; } series_id;

static int has_series(const vr_sweep_run *r, const void *arg)
{
    const series_id *s = arg;
    size_t n;
    const double *st, *v = run_series(r, s->eval, s->idx, &n, &st);
    for (size_t i = 0; v && i < n; i++)
        if (isfinite(v[i])) return 1;
    return 0;
}

static int varies(const vr_sweep_run *r, const void *arg)
{
    const series_id *s = arg;
    size_t n;
    const double *st, *v = run_series(r, s->eval, s->idx, &n, &st);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; v && i < n; i++)
        if (isfinite(v[i])) { lo = fmin(lo, v[i]); hi = fmax(hi, v[i]); }
    return hi > lo + 1e-9 * fmax(1, fabs(hi));
}

static int any_run(const ctx *c, run_pred p, const void *arg)
{
    for (int i = 0; i < c->d->n_runs; i++)
        if (c->d->runs[i].done && p(&c->d->runs[i], arg)) return 1;
    return 0;
}

/* Level of the colour factor of R (0 when there is none). */
static int colour_level(const ctx *c, const vr_sweep_run *r)
{
    return c->colour == VR_FACTOR_NONE ? 0 : vr_sweep_level(r, c->colour);
}

static int n_colour_levels(const ctx *c)
{
    return c->colour == VR_FACTOR_NONE ? 1 : vr_sweep_factor(c->d, c->colour)->n;
}

/* Mean over RUNS at the steps of the first, where every run has a finite
 * value at that step. */
static void write_mean(FILE *f, const vr_sweep_run **runs, int nr, int eval, int idx)
{
    size_t n0;
    const double *st0, *v0 = run_series(runs[0], eval, idx, &n0, &st0);
    size_t pos[nr];
    memset(pos, 0, sizeof pos);
    fprintf(f, "# mean of %d runs: step mean n\n", nr);
    for (size_t i = 0; v0 && i < n0; i++) {
        double sum = 0;
        int cnt = 0;
        for (int k = 0; k < nr; k++) {
            size_t n;
            const double *st, *v = run_series(runs[k], eval, idx, &n, &st);
            while (pos[k] < n && st[pos[k]] < st0[i]) pos[k]++;
            if (pos[k] < n && st[pos[k]] == st0[i] && isfinite(v[pos[k]])) {
                sum += v[pos[k]];
                cnt++;
            }
        }
        num(f, st0[i]);
        fputc(' ', f);
        num(f, cnt == nr ? sum / nr : NAN);
        fprintf(f, " %d\n", cnt);
    }
    fputs("\n\n", f);
}

static void overlay(ctx *c, const overlay_spec *o)
{
    series_id sid = {o->eval, o->idx};
    combos pk;
    if (combos_make(c, &pk, c->colour, has_series, &sid) || pk.n == 0) { free(pk.code); return; }
    int nl = n_colour_levels(c);
    char name[128], path[4600];
    snprintf(name, sizeof name, "overlay-%s.dat", o->key);
    FILE *f = open_data(c, name, path, sizeof path);
    if (!f) { free(pk.code); return; }

    /* Blocks: per panel, per colour level: runs, then the mean. */
    typedef struct { int panel, level, block, nseeds; int mean; } elem;
    elem *el = malloc(sizeof *el * (size_t)(2 * c->d->n_runs + 2 * pk.n * nl + 1));
    const vr_sweep_run **grp = malloc(sizeof *grp * (size_t)(c->d->n_runs + 1));
    int ne = 0, block = 0, max_seeds = 0;
    double xmax = 0, lo = INFINITY, hi = -INFINITY, llo = INFINITY, lhi = -INFINITY;
    double xzoom = INFINITY;  /* the first step of the zoomed range */
    double hlo = INFINITY, hhi = -INFINITY;  /* the second half of training */
    double pos_lo = INFINITY;
    int all_pos = 1;
    if (!el || !grp) { fclose(f); free(el); free(grp); free(pk.code); return; }
    for (int i = 0; i < c->d->n_runs; i++) {
        size_t n;
        const double *st, *v = run_series(&c->d->runs[i], o->eval, o->idx, &n, &st);
        if (c->d->runs[i].done && v && n) xmax = fmax(xmax, st[n - 1]);
    }
    for (int p = 0; p < pk.n; p++) {
        for (int l = 0; l < nl; l++) {
            int ng = 0;
            for (int i = 0; i < c->d->n_runs; i++) {
                const vr_sweep_run *r = &c->d->runs[i];
                if (!r->done || !has_series(r, &sid) || combo_code(c, &pk, r) != pk.code[p] ||
                    colour_level(c, r) != l)
                    continue;
                grp[ng++] = r;
                size_t n;
                const double *st, *v = run_series(r, o->eval, o->idx, &n, &st);
                fprintf(f, "# run %s: step %s\n", r->id, o->key);
                for (size_t j = 0; j < n; j++) {
                    num(f, st[j]);
                    fputc(' ', f);
                    num(f, v[j]);
                    fputc('\n', f);
                    if (!isfinite(v[j])) continue;
                    lo = fmin(lo, v[j]);
                    hi = fmax(hi, v[j]);
                    if (v[j] > 0) pos_lo = fmin(pos_lo, v[j]); else all_pos = 0;
                    if (st[j] >= 0.1 * xmax && (st[j] > 0 || xmax == 0)) {
                        llo = fmin(llo, v[j]);
                        lhi = fmax(lhi, v[j]);
                        xzoom = fmin(xzoom, st[j]);
                    }
                    if (st[j] >= 0.5 * xmax) {
                        hlo = fmin(hlo, v[j]);
                        hhi = fmax(hhi, v[j]);
                    }
                }
                fputs("\n\n", f);
                el[ne++] = (elem){p, l, block++, 0, 0};
            }
            for (int k = ne - ng; k < ne; k++) el[k].nseeds = ng;
            if (ng > max_seeds) max_seeds = ng;
            if (ng >= 2) {
                write_mean(f, grp, ng, o->eval, o->idx);
                el[ne++] = (elem){p, l, block++, ng, 1};
            }
        }
    }
    int bad = ferror(f);
    fclose(f);
    free(grp);
    if (bad) {
        if (!c->n_failed++) vr_fail(&c->first, "%s: cannot write", path);
        free(el);
        free(pk.code);
        return;
    }

    /* y range: zoom on the last 90% of training when the first steps would
     * squash the rest (the untrained model's values are far off). */
    /* positive quantities that span orders of magnitude in the second half
     * of training (KL across beta, GECO's multiplier) on a log axis; an early
     * transient alone does not make it log */
    int logy = o->log_ok && all_pos && hlo > 0 && hhi / hlo > 30;
    int zoomed = 0;
    double ylo = lo, yhi = hi;
    if (!logy && isfinite(llo) && hi - lo > 1.6 * (lhi - llo) + 1e-12) {
        ylo = llo;
        yhi = lhi;
        zoomed = 1;
    }
    double span = yhi - ylo;
    if (!(span > 0)) span = fmax(fabs(yhi), 1) * 0.1;
    if (!logy) { ylo -= 0.06 * span; yhi += 0.06 * span; }

    /* Key: one entry per colour level present, then what thin/thick mean. */
    char lab[512];
    size_t maxlen = 20;
    int present[nl];
    memset(present, 0, sizeof present);
    for (int k = 0; k < ne; k++) present[el[k].level] = 1;
    for (int l = 0; l < nl && c->colour != VR_FACTOR_NONE; l++) {
        level_label(c, c->colour, l, lab, sizeof lab);
        if (utf8_len(lab) > maxlen) maxlen = utf8_len(lab);
    }
    if (c->colour != VR_FACTOR_NONE && strlen(factor_label(c, c->colour)) > maxlen)
        maxlen = strlen(factor_label(c, c->colour));
    /* at most MAX_PANELS panels a figure; more make further figures */
    for (int p0 = 0; p0 < pk.n; p0 += MAX_PANELS) {
        int p1 = p0 + MAX_PANELS < pk.n ? p0 + MAX_PANELS : pk.n;
        layout L = make_layout(p1 - p0, key_width(maxlen));
        sbuf s = {0};
        char png[160];
        if (p0) snprintf(png, sizeof png, "sweep-overlay-%s-%d.png", o->key, p0 / MAX_PANELS + 1);
        else snprintf(png, sizeof png, "sweep-overlay-%s.png", o->key);
        char pngpath[4600];
        snprintf(pngpath, sizeof pngpath, "%s/%s", c->fig_dir, png);
        script_head(&s, &L, pngpath, o->title);
        sb_printf(&s, "set xlabel 'training step'\nset ylabel ");
        sb_q(&s, o->ylabel);
        sb_printf(&s, "\nset xrange [%.9g:%.9g]\n", zoomed && isfinite(xzoom) ? xzoom : 0,
                  xmax > 0 ? xmax : 1);
        if (logy) sb_printf(&s, "set logscale y\nset format y '%%g'\nset yrange [%.9g:%.9g]\n",
                            pos_lo / 1.3, hi * 1.3);
        else sb_printf(&s, "set yrange [%.9g:%.9g]\n", ylo, yhi);
        for (int p = p0; p < p1; p++) {
            set_panel(&s, &L, p - p0);
            if (pk.nf) {
                combo_label(c, &pk, pk.code[p], lab, sizeof lab);
                sb_printf(&s, "set title ");
                sb_q(&s, lab);
                sb_printf(&s, " font 'DejaVu Sans,12'\n");
            } else {
                sb_printf(&s, "unset title\n");
            }
            if (p == p0) key_at_strip(&s, &L, c->colour == VR_FACTOR_NONE ? "" : factor_label(c, c->colour));
            else sb_printf(&s, "unset key\n");
            sb_printf(&s, "plot ");
            int first = 1;
            for (int k = 0; k < ne; k++) {
                if (el[k].panel != p) continue;
                unsigned col = level_colour(c, c->colour, el[k].level);
                int thick = el[k].mean || el[k].nseeds == 1;
                sb_printf(&s, "%s", first ? "" : ", \\\n     ");
                first = 0;
                sb_q(&s, path);
                /* evaluations are sparse: mark each one */
                const char *with = o->eval ? "linespoints pt 7" : "lines";
                if (thick)
                    sb_printf(&s, " index %d using 1:2 with %s ps 0.9 lw 3 lc rgb '#%06x'", el[k].block, with,
                              col);
                else
                    sb_printf(&s, " index %d using 1:2 with %s ps 0.5 lw 1 lc rgb '#80%06x'", el[k].block,
                              with, col);
            }
            if (p == p0) {
                for (int l = 0; l < nl; l++) {
                    if (!present[l]) continue;
                    if (c->colour == VR_FACTOR_NONE) snprintf(lab, sizeof lab, "%s", "all runs");
                    else level_label(c, c->colour, l, lab, sizeof lab);
                    sb_printf(&s, ", \\\n     keyentry with lines lw 3 lc rgb '#%06x' title ",
                              level_colour(c, c->colour, l));
                    sb_q(&s, lab);
                }
                if (max_seeds >= 2) {
                    sb_printf(&s, ", \\\n     keyentry with lines lw 0 lc rgb '#ffffff' title ' '");
                    sb_printf(&s, ", \\\n     keyentry with lines lw 1 lc rgb '#80555555' title 'one seed'");
                    sb_printf(&s, ", \\\n     keyentry with lines lw 3 lc rgb '#555555' title 'mean of seeds'");
                }
            }
            sb_printf(&s, "\n");
        }
        char words[512], cap[1024];
        factors_words(c, &pk, words, sizeof words);
        snprintf(cap, sizeof cap,
                 "%s, over the training steps. %s%s%s%s%s%s",
                 o->what,
                 c->colour == VR_FACTOR_NONE ? "" : "One colour per ",
                 c->colour == VR_FACTOR_NONE ? "" : factor_label(c, c->colour),
                 c->colour == VR_FACTOR_NONE ? "" : " (the same colours in every figure); ",
                 max_seeds >= 2 ? "thin lines are single seeds, thick lines their mean." : "",
                 pk.nf ? " One panel per value of " : "", pk.nf ? words : "");
        size_t cl = strlen(cap);
        if (pk.nf) snprintf(cap + cl, sizeof cap - cl, ".");
        cl = strlen(cap);
        if (zoomed)
            snprintf(cap + cl, sizeof cap - cl,
                     " The axes start at step %g: the untrained model's first values would squash the rest.",
                     xzoom);
        cl = strlen(cap);
        if (logy) snprintf(cap + cl, sizeof cap - cl, " Log y-axis.");
        cl = strlen(cap);
        if (pk.n > MAX_PANELS)
            snprintf(cap + cl, sizeof cap - cl, " Panels %d to %d of %d.", p0 + 1, p1, pk.n);
        finish_figure(c, &s, png, cap);
    }
    free(el);
    free(pk.code);
}

/* ---- final test metrics against a swept factor -------------------------- */

typedef struct {
    int idx;
    const char *key, *name, *ylabel, *what;
} final_spec;

static const final_spec finals[] = {
    {VR_E_TEST_ELBO, "test_elbo", "Test ELBO", "test ELBO  [nats per image]",
     "test-set ELBO (nats per image; higher is better)"},
    {VR_E_TEST_RECON, "test_recon", "Test reconstruction term",
     "test E_q log p(x|z)  [nats per image]",
     "test-set reconstruction term E_q[log p(x|z)] (nats per image; higher is better)"},
    {VR_E_TEST_KL, "test_kl", "Test KL", "test KL(q(z|x) || p(z))  [nats per image]",
     "test-set KL(q(z|x) || N(0, I)), the rate (nats per image)"},
    {VR_E_TEST_IWAE, "test_iwae", "Test log-likelihood (IWAE estimate)",
     "test log p(x), IWAE estimate  [nats per image]",
     "importance-sampled (IWAE) estimate of the test log-likelihood (nats per image; higher is "
     "better)"},
};

static int has_final(const vr_sweep_run *r, const void *arg)
{
    return isfinite(r->final[*(const int *)arg]);
}

static void safe_name(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char ch = *s;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        buf[n++] = ok ? ch : '_';
    }
    buf[n] = '\0';
}

/* X moved sideways by DODGE steps of a small fraction of the axis (a
 * multiplicative step on a log axis); categories are one apart. */
static double dodged(int numeric, int logx, double x, double dodge, int nlines, double mn, double mx)
{
    if (!numeric) return x + dodge * fmin(0.12, 0.6 / nlines);
    double step = fmin(0.012, 0.07 / nlines);
    if (logx) return x * exp(dodge * step * log(mx / mn));
    return x + dodge * step * (mx - mn);
}

static void final_vs(ctx *c, int K, const final_spec *m)
{
    const vr_factor *fk = vr_sweep_factor(c->d, K);
    combos lk;
    if (combos_make(c, &lk, K, has_final, &m->idx) || lk.n == 0) { free(lk.code); return; }
    int numeric = K != VR_FACTOR_VARIANT && fk->numeric;
    int logx = 0;
    if (numeric) {
        double mn = INFINITY, mx = -INFINITY;
        for (int l = 0; l < fk->n; l++) { mn = fmin(mn, fk->num[l]); mx = fmax(mx, fk->num[l]); }
        logx = mn > 0 && mx / mn > 20;
    }
    /* colour of each line (and of each point when the colour factor is K,
     * for a categorical K) */
    int colour_in_lines = 0;
    for (int i = 0; i < lk.nf; i++) colour_in_lines |= lk.f[i] == c->colour;
    int per_level_colour = !numeric && K == c->colour;

    char kname[128], name[256], path[4600];
    safe_name(K == VR_FACTOR_VARIANT ? "variant" : c->d->keys[K], kname, sizeof kname);
    snprintf(name, sizeof name, "final-%s-vs-%s.dat", m->key, kname);
    FILE *f = open_data(c, name, path, sizeof path);
    if (!f) { free(lk.code); return; }
    unsigned line_col[lk.n > 0 ? lk.n : 1];
    int line_pt[lk.n > 0 ? lk.n : 1];
    double lo = INFINITY, hi = -INFINITY;
    int max_seeds = 0;
    /* the position of the other factors' combination picks the symbol */
    combos sub;
    memset(&sub, 0, sizeof sub);
    for (int i = 0; i < lk.nf; i++)
        if (lk.f[i] != c->colour || !colour_in_lines) sub.f[sub.nf++] = lk.f[i];
    for (int li = 0; li < lk.n; li++) {
        long code = lk.code[li];
        if (colour_in_lines) {
            line_col[li] = level_colour(c, c->colour, combo_level(c, &lk, code, c->colour));
            long sc = 0;
            for (int i = 0; i < sub.nf; i++)
                sc = sc * vr_sweep_factor(c->d, sub.f[i])->n + combo_level(c, &lk, code, sub.f[i]);
            line_pt[li] = point_types[sc % N_PT];
        } else {
            line_col[li] = lk.n == 1 ? 0x333333 : hex_rgb(dark2[li % 8]);
            line_pt[li] = point_types[li % N_PT];
        }
        /* the lines are dodged sideways a little, so that their bars do
         * not hide each other: column xplot */
        double dodge = lk.n == 1 ? 0 : (li - (lk.n - 1) / 2.0);
        double xmn = fk->num[0], xmx = fk->num[fk->n - 1];
        fprintf(f, "# line %d: x mean min max sd n colour xplot\n", li);
        for (int l = 0; l < fk->n; l++) {
            double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
            int n = 0;
            for (int i = 0; i < c->d->n_runs; i++) {
                const vr_sweep_run *r = &c->d->runs[i];
                if (!r->done || !isfinite(r->final[m->idx]) || vr_sweep_level(r, K) != l ||
                    combo_code(c, &lk, r) != code)
                    continue;
                double v = r->final[m->idx];
                sum += v; sq += v * v; n++;
                mn = fmin(mn, v); mx = fmax(mx, v);
            }
            if (!n) continue;
            if (n > max_seeds) max_seeds = n;
            double mean = sum / n, sd = n > 1 ? sqrt(fmax(0, (sq - n * mean * mean) / (n - 1))) : 0;
            lo = fmin(lo, mn); hi = fmax(hi, mx);
            num(f, numeric ? fk->num[l] : l);
            fputc(' ', f); num(f, mean);
            fputc(' ', f); num(f, mn);
            fputc(' ', f); num(f, mx);
            fputc(' ', f); num(f, sd);
            fprintf(f, " %d %u ", n, per_level_colour ? level_colour(c, K, l) : line_col[li]);
            num(f, dodged(numeric, logx, numeric ? fk->num[l] : l, dodge, lk.n, xmn, xmx));
            fputc('\n', f);
        }
        fputs("\n\n", f);
        fprintf(f, "# line %d runs: x value colour xplot run_id\n", li);
        for (int i = 0; i < c->d->n_runs; i++) {
            const vr_sweep_run *r = &c->d->runs[i];
            if (!r->done || !isfinite(r->final[m->idx]) || combo_code(c, &lk, r) != code) continue;
            int l = vr_sweep_level(r, K);
            num(f, numeric ? fk->num[l] : l);
            fputc(' ', f);
            num(f, r->final[m->idx]);
            fprintf(f, " %u ", per_level_colour ? level_colour(c, K, l) : line_col[li]);
            num(f, dodged(numeric, logx, numeric ? fk->num[l] : l, dodge, lk.n, xmn, xmx));
            fprintf(f, " %s\n", r->id);
        }
        fputs("\n\n", f);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        if (!c->n_failed++) vr_fail(&c->first, "%s: cannot write", path);
        free(lk.code);
        return;
    }

    char lab[512];
    size_t maxlen = 24;
    for (int li = 0; li < lk.n; li++) {
        combo_label(c, &lk, lk.code[li], lab, sizeof lab);
        if (utf8_len(lab) > maxlen) maxlen = utf8_len(lab);
    }
    layout L = make_layout(1, key_width(maxlen));
    sbuf s = {0};
    char png[300], pngpath[4600], title[400];
    snprintf(png, sizeof png, "sweep-%s-vs-%s.png", m->key, kname);
    snprintf(pngpath, sizeof pngpath, "%s/%s", c->fig_dir, png);
    snprintf(title, sizeof title, "%s against %s", m->name, factor_label(c, K));
    script_head(&s, &L, pngpath, title);
    set_panel(&s, &L, 0);
    sb_printf(&s, "set xlabel ");
    char xl[300];
    snprintf(xl, sizeof xl, "%s%s", factor_label(c, K), logx ? "  (log scale)" : "");
    sb_q(&s, xl);
    sb_printf(&s, "\nset ylabel ");
    sb_q(&s, m->ylabel);
    sb_printf(&s, "\n");
    double span = hi - lo;
    if (!(span > 0)) span = fmax(fabs(hi), 1) * 0.1;
    sb_printf(&s, "set yrange [%.9g:%.9g]\n", lo - 0.08 * span, hi + 0.08 * span);
    if (numeric) {
        double mn = fk->num[0], mx = fk->num[fk->n - 1];
        if (logx) {
            sb_printf(&s, "set logscale x\nset xrange [%.9g:%.9g]\n", mn / 1.5, mx * 1.5);
        } else {
            double xs = mx - mn > 0 ? mx - mn : 1;
            sb_printf(&s, "set xrange [%.9g:%.9g]\n", mn - 0.06 * xs, mx + 0.06 * xs);
        }
        if (fk->n <= 14) {
            sb_printf(&s, "set xtics (");
            for (int l = 0; l < fk->n; l++) {
                sb_printf(&s, "%s", l ? ", " : "");
                sb_q(&s, fk->names[l]);
                sb_printf(&s, " %.9g", fk->num[l]);
            }
            sb_printf(&s, ")\nset grid noxtics\n");
        }
    } else {
        sb_printf(&s, "set xrange [-0.5:%d.5]\nset xtics (", fk->n - 1);
        for (int l = 0; l < fk->n; l++) {
            sb_printf(&s, "%s", l ? ", " : "");
            sb_q(&s, fk->names[l]);
            sb_printf(&s, " %d", l);
        }
        sb_printf(&s, ")\nset grid noxtics\n");
        if (fk->n > 6) sb_printf(&s, "set xtics rotate by -30\n");
    }
    char keytitle[300] = "";
    if (lk.nf) {
        char words[256];
        factors_words(c, &lk, words, sizeof words);
        snprintf(keytitle, sizeof keytitle, "%s", words);
    }
    key_at_strip(&s, &L, keytitle);
    sb_printf(&s, "plot ");
    for (int li = 0; li < lk.n; li++) {
        sb_printf(&s, "%s", li ? ", \\\n     " : "");
        /* single seeds: small translucent points */
        sb_q(&s, path);
        sb_printf(&s, " index %d using 4:2:(0x80000000 + $3) with points pt 7 ps 0.75 lc rgb variable, \\\n     ",
                  2 * li + 1);
        sb_q(&s, path);
        sb_printf(&s, " index %d using 8:2:3:4:7 with yerrorbars pt -1 lw 1.3 lc rgb variable, \\\n     ",
                  2 * li);
        sb_q(&s, path);
        if (numeric)
            sb_printf(&s, " index %d using 8:2 with linespoints lw 2.4 pt %d ps 1.3 lc rgb '#%06x'",
                      2 * li, line_pt[li], line_col[li]);
        else
            sb_printf(&s, " index %d using 8:2:7 with points pt %d ps 1.6 lc rgb variable",
                      2 * li, line_pt[li]);
    }
    if (lk.nf) {
        for (int li = 0; li < lk.n; li++) {
            combo_label(c, &lk, lk.code[li], lab, sizeof lab);
            unsigned col = per_level_colour ? 0x555555 : line_col[li];
            if (numeric)
                sb_printf(&s, ", \\\n     keyentry with linespoints lw 2.4 pt %d ps 1.3 lc rgb '#%06x' title ",
                          line_pt[li], col);
            else
                sb_printf(&s, ", \\\n     keyentry with points pt %d ps 1.6 lc rgb '#%06x' title ",
                          line_pt[li], col);
            sb_q(&s, lab);
        }
        sb_printf(&s, ", \\\n     keyentry with lines lw 0 lc rgb '#ffffff' title ' '");
    }
    sb_printf(&s, ", \\\n     keyentry with points pt 7 ps 1.3 lc rgb '#555555' title 'mean over seeds'");
    if (max_seeds >= 2) {
        sb_printf(&s, ", \\\n     keyentry with yerrorbars pt -1 lw 1.3 lc rgb '#555555' title 'min to max'");
        sb_printf(&s, ", \\\n     keyentry with points pt 7 ps 0.75 lc rgb '#80555555' title 'one seed'");
    }
    sb_printf(&s, "\n");
    char cap[1024], words[512] = "";
    factors_words(c, &lk, words, sizeof words);
    snprintf(cap, sizeof cap,
             "Final %s, at the last evaluation, against %s: the mean over seeds%s%s%s%s.",
             m->what, factor_label(c, K),
             max_seeds >= 2 ? " with bars from the lowest to the highest seed, each seed a small point" : "",
             lk.nf ? "; one " : "", lk.nf ? (numeric ? "line per value of " : "symbol per value of ") : "",
             words);
    if (logx) {
        size_t cl = strlen(cap);
        snprintf(cap + cl, sizeof cap - cl, " Log x-axis.");
    }
    finish_figure(c, &s, png, cap);
    free(lk.code);
}

/* ---- rate against distortion --------------------------------------------- */

static int has_rd(const vr_sweep_run *r, const void *arg)
{
    (void)arg;
    return isfinite(r->final[VR_E_TEST_KL]) && isfinite(r->final[VR_E_TEST_RECON]);
}

static double nice_step(double span, int target)
{
    double raw = span / target, p = pow(10, floor(log10(raw))), m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void rate_distortion(ctx *c)
{
    combos ok;  /* the other factors: symbols */
    if (combos_make(c, &ok, c->colour, has_rd, NULL) || ok.n == 0) { free(ok.code); return; }
    int nl = n_colour_levels(c);
    char path[4600];
    FILE *f = open_data(c, "rate_distortion.dat", path, sizeof path);
    if (!f) { free(ok.code); return; }
    double dlo = INFINITY, dhi = -INFINITY, rlo = INFINITY, rhi = -INFINITY;
    fprintf(f, "# run_id distortion rate (distortion = -test_recon, rate = test_kl, nats per image)\n");
    for (int i = 0; i < c->d->n_runs; i++) {
        const vr_sweep_run *r = &c->d->runs[i];
        if (!r->done || !has_rd(r, NULL)) continue;
        double D = -r->final[VR_E_TEST_RECON], R = r->final[VR_E_TEST_KL];
        fprintf(f, "%s ", r->id);
        num(f, D); fputc(' ', f); num(f, R); fputc('\n', f);
        dlo = fmin(dlo, D); dhi = fmax(dhi, D); rlo = fmin(rlo, R); rhi = fmax(rhi, R);
    }
    fputs("\n\n", f);
    /* blocks per (symbol combination, colour level): the runs */
    int blk = 1;
    int *gblock = malloc(sizeof *gblock * (size_t)ok.n * (size_t)nl);
    if (!gblock) {
        fclose(f);
        free(ok.code);
        if (!c->n_failed++) vr_fail(&c->first, "out of memory");
        return;
    }
    for (int p = 0; p < ok.n; p++)
        for (int l = 0; l < nl; l++) {
            gblock[p * nl + l] = -1;
            int n = 0;
            for (int i = 0; i < c->d->n_runs; i++) {
                const vr_sweep_run *r = &c->d->runs[i];
                if (!r->done || !has_rd(r, NULL) || combo_code(c, &ok, r) != ok.code[p] ||
                    colour_level(c, r) != l)
                    continue;
                if (!n++) fprintf(f, "# group %d/%d: distortion rate\n", p, l);
                num(f, -r->final[VR_E_TEST_RECON]); fputc(' ', f);
                num(f, r->final[VR_E_TEST_KL]); fputc('\n', f);
            }
            if (n) { fputs("\n\n", f); gblock[p * nl + l] = blk++; }
        }
    /* per symbol combination: the group means in colour order (numeric colour
     * factor only: a path through the trade-off) */
    const vr_factor *cf = c->colour == VR_FACTOR_NONE ? NULL : vr_sweep_factor(c->d, c->colour);
    int draw_path = cf && cf->numeric && cf->n >= 2;
    int pblock[ok.n];
    for (int p = 0; p < ok.n; p++) {
        pblock[p] = -1;
        if (!draw_path) continue;
        fprintf(f, "# means along %s: distortion rate\n", factor_label(c, c->colour));
        int n = 0;
        for (int l = 0; l < nl; l++) {
            double sd = 0, sr = 0;
            int k = 0;
            for (int i = 0; i < c->d->n_runs; i++) {
                const vr_sweep_run *r = &c->d->runs[i];
                if (!r->done || !has_rd(r, NULL) || combo_code(c, &ok, r) != ok.code[p] ||
                    colour_level(c, r) != l)
                    continue;
                sd += -r->final[VR_E_TEST_RECON];
                sr += r->final[VR_E_TEST_KL];
                k++;
            }
            if (!k) continue;
            num(f, sd / k); fputc(' ', f); num(f, sr / k); fputc('\n', f);
            n++;
        }
        fputs("\n\n", f);
        pblock[p] = blk++;
        if (n < 2) pblock[p] = -1;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        if (!c->n_failed++) vr_fail(&c->first, "%s: cannot write", path);
        free(gblock);
        free(ok.code);
        return;
    }

    char lab[512];
    size_t maxlen = 24;
    for (int l = 0; cf && l < nl; l++) {
        level_label(c, c->colour, l, lab, sizeof lab);
        if (utf8_len(lab) > maxlen) maxlen = utf8_len(lab);
    }
    for (int p = 0; p < ok.n && ok.nf; p++) {
        combo_label(c, &ok, ok.code[p], lab, sizeof lab);
        if (utf8_len(lab) > maxlen) maxlen = utf8_len(lab);
    }
    layout L = make_layout(1, key_width(maxlen));
    double dspan = fmax(dhi - dlo, 1e-3 * fmax(1, fabs(dhi))), rspan = fmax(rhi - rlo, 1e-3 * fmax(1, fabs(rhi)));
    double x0 = dlo - 0.07 * dspan, x1 = dhi + 0.07 * dspan;
    double y0 = rlo - 0.07 * rspan, y1 = rhi + 0.1 * rspan;
    /* the rate axis starts at 0 (no information in z) unless all rates are far from it */
    if (rlo >= 0 && rlo < 0.5 * rhi) y0 = 0;
    else if (y0 < 0 && rlo >= 0) y0 = 0;
    sbuf s = {0};
    char pngpath[4600];
    const char *png = "sweep-rate-distortion.png";
    snprintf(pngpath, sizeof pngpath, "%s/%s", c->fig_dir, png);
    script_head(&s, &L, pngpath, "Rate against distortion (final test values)");
    set_panel(&s, &L, 0);
    sb_printf(&s, "set xlabel 'distortion  -E_q log p(x|z)  [nats per image]'\n");
    sb_printf(&s, "set ylabel 'rate  KL(q(z|x) || p(z))  [nats per image]'\n");
    sb_printf(&s, "set xrange [%.9g:%.9g]\nset yrange [%.9g:%.9g]\n", x0, x1, y0, y1);
    /* lines of equal ELBO: rate + distortion = -ELBO */
    double px0, px1, py0, py1;
    panel_box(&L, 0, &px0, &px1, &py0, &py1);
    double step = nice_step((x1 + y1) - (x0 + y0), 5);
    double ang = -atan(((py1 - py0) / (y1 - y0)) / ((px1 - px0) / (x1 - x0))) * 180 / 3.14159265358979323846;
    int niso = 0;
    char isoplot[4096] = "";
    size_t iu = 0;
    for (double v = ceil((x0 + y0) / step) * step; v < x1 + y1 && niso < 12; v += step) {
        /* visible segment: from (max(x0, v - y1), ...) to (min(x1, v - y0), ...) */
        double xa = fmax(x0, v - y1), xb = fmin(x1, v - y0);
        if (xb <= xa) continue;
        double seg = hypot((xb - xa) / (x1 - x0), (xb - xa) / (y1 - y0));
        iu += (size_t)snprintf(isoplot + iu, sizeof isoplot - iu,
                               "%s(x >= %.9g && x <= %.9g ? %.9g - x : NaN) with lines dt (6,6) lw 1 lc rgb '#b0b0b0'",
                               niso ? ", \\\n     " : "", xa, xb, v);
        niso++;
        if (seg < 0.22) continue;
        /* the label near the upper-left end of the visible segment, along the line */
        double t = 0.04 * (x1 - x0);
        double lx = xa + t, ly = v - lx;
        if (ly > y1 - 0.03 * (y1 - y0)) { ly = y1 - 0.03 * (y1 - y0); lx = v - ly; }
        char num_s[64];
        snprintf(num_s, sizeof num_s, "ELBO = %g", -v);
        sb_printf(&s, "set label %d ", 100 + niso);
        sb_q(&s, num_s);
        sb_printf(&s, " at %.9g, %.9g left rotate by %.2f offset 0.3,0.35 font 'DejaVu Sans,9' tc rgb '#909090' front\n",
                  lx, ly, ang);
    }
    sb_printf(&s, "set samples 400\n");
    char keytitle[300] = "";
    if (cf) snprintf(keytitle, sizeof keytitle, "colour: %s", factor_label(c, c->colour));
    key_at_strip(&s, &L, keytitle);
    sb_printf(&s, "plot %s", isoplot);
    int first = niso == 0;
    for (int p = 0; p < ok.n; p++) {
        if (pblock[p] < 0) continue;
        sb_printf(&s, "%s", first ? "" : ", \\\n     ");
        first = 0;
        sb_q(&s, path);
        sb_printf(&s, " index %d using 1:2 with lines lw 1.6 dt %d lc rgb '#8c8c8c'", pblock[p], 1 + p % 5);
    }
    for (int p = 0; p < ok.n; p++)
        for (int l = 0; l < nl; l++) {
            if (gblock[p * nl + l] < 0) continue;
            sb_printf(&s, "%s", first ? "" : ", \\\n     ");
            first = 0;
            sb_q(&s, path);
            sb_printf(&s, " index %d using 1:2 with points pt %d ps 1.3 lc rgb '#%06x'", gblock[p * nl + l],
                      point_types[p % N_PT], level_colour(c, c->colour, l));
        }
    int any_present[nl];
    memset(any_present, 0, sizeof any_present);
    for (int p = 0; p < ok.n; p++)
        for (int l = 0; l < nl; l++) any_present[l] |= gblock[p * nl + l] >= 0;
    for (int l = 0; cf && l < nl; l++) {
        if (!any_present[l]) continue;
        level_label(c, c->colour, l, lab, sizeof lab);
        sb_printf(&s, ", \\\n     keyentry with points pt 7 ps 1.3 lc rgb '#%06x' title ", level_colour(c, c->colour, l));
        sb_q(&s, lab);
    }
    if (ok.nf) {
        sb_printf(&s, ", \\\n     keyentry with lines lw 0 lc rgb '#ffffff' title ' '");
        for (int p = 0; p < ok.n; p++) {
            combo_label(c, &ok, ok.code[p], lab, sizeof lab);
            if (pblock[p] >= 0)
                sb_printf(&s, ", \\\n     keyentry with linespoints lw 1.6 dt %d pt %d ps 1.3 lc rgb '#555555' title ",
                          1 + p % 5, point_types[p % N_PT]);
            else
                sb_printf(&s, ", \\\n     keyentry with points pt %d ps 1.3 lc rgb '#555555' title ",
                          point_types[p % N_PT]);
            sb_q(&s, lab);
        }
    }
    if (niso)
        sb_printf(&s, ", \\\n     keyentry with lines dt (6,6) lw 1 lc rgb '#b0b0b0' title 'equal ELBO'");
    sb_printf(&s, "\n");
    char cap[1024], words[512];
    factors_words(c, &ok, words, sizeof words);
    snprintf(cap, sizeof cap,
             "Every done run at its final test values: rate (the KL, nats per image) against "
             "distortion (minus the reconstruction term, nats per image)%s%s%s%s%s. Dashed grey lines "
             "join points of equal ELBO (rate + distortion = -ELBO): the ELBO improves towards the "
             "lower left.",
             cf ? "; colour: " : "", cf ? factor_label(c, c->colour) : "",
             ok.nf ? "; symbol: " : "", ok.nf ? words : "",
             draw_path ? "; lines join the means over seeds in order of the colour key" : "");
    finish_figure(c, &s, png, cap);
    free(gblock);
    free(ok.code);
}

/* ---- the whole folder ----------------------------------------------------- */

static int mkdir_p(const char *dir, vr_err *err)
{
    char p[4300];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) return vr_fail(err, "%s: cannot create: %s", p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0777) && errno != EEXIST) return vr_fail(err, "%s: cannot create: %s", p, strerror(errno));
    return 0;
}

/* Removes the sweep figures of an earlier drawing, so that none is left over
 * from a sweep that has changed. */
static void remove_old_sweep_figures(const char *fig_dir)
{
    DIR *dd = opendir(fig_dir);
    if (!dd) return;
    struct dirent *e;
    while ((e = readdir(dd))) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "sweep-", 6) || n < 4 || strcmp(e->d_name + n - 4, ".png")) continue;
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", fig_dir, e->d_name);
        unlink(p);
    }
    closedir(dd);
}

static const overlay_spec overlays[] = {
    {"kl", "KL over training", "KL(q(z|x) || p(z))  [nats per image]",
     "KL(q(z|x) || N(0, I)) on the training batches (nats per image)", 0, VR_M_KL, 1},
    {"recon", "Reconstruction term over training", "E_q log p(x|z)  [nats per image]",
     "The reconstruction term E_q[log p(x|z)] on the training batches (nats per image, higher is "
     "better)", 0, VR_M_RECON, 0},
    {"kl_weight", "KL weight over training", "KL weight  w_kl / w_recon",
     "The KL weight of the objective (β; the annealing schedule; or 1/λ under GECO, the KL "
     "weight of the equivalent β-ELBO)", 0, VR_M_KL_WEIGHT, 1},
    {"multiplier", "GECO's Lagrange multiplier λ over training", "multiplier  λ",
     "GECO's Lagrange multiplier λ, the weight of the reconstruction constraint (only runs "
     "with GECO have one; it grows while E log p(x|z) falls short of the target)", 0,
     VR_M_MULTIPLIER, 1},
    {"test_elbo", "Test ELBO over training", "test ELBO  [nats per image]",
     "The test-set ELBO at each evaluation (nats per image, higher is better)", 1, VR_E_TEST_ELBO, 0},
};

int vr_plot_sweep_opts(const char *dir, const vr_sweep_plot_opts *opts, vr_err *err)
{
    if (!vr_gnuplot_available()) return vr_fail(err, "%s", VR_GNUPLOT_MISSING);
    vr_sweep_data d;
    if (vr_sweep_data_load(dir, &d, err)) return -1;
    ctx c;
    memset(&c, 0, sizeof c);
    c.d = &d;
    snprintf(c.fig_dir, sizeof c.fig_dir, "%s/figures", d.dir);
    vr_figure_list figs = {0};
    c.figs = &figs;
    char **run_notes = calloc((size_t)d.n_runs + 1, sizeof *run_notes);
    int rc = -1, tmp_made = 0;
    if (!run_notes) { vr_fail(err, "out of memory"); goto out; }
    if (mkdir_p(c.fig_dir, err)) goto out;
    if (opts && opts->keep_data) {
        snprintf(c.data_dir, sizeof c.data_dir, "%s", opts->keep_data);
        if (mkdir_p(c.data_dir, err)) goto out;
    } else {
        if (vr_plot_tmpdir(c.data_dir, sizeof c.data_dir, err)) goto out;
        tmp_made = 1;
    }
    remove_old_sweep_figures(c.fig_dir);

    /* Factors that vary; the variant picks colours, else the first swept key. */
    c.colour = VR_FACTOR_NONE;
    if (d.variant.n >= 2) c.active[c.n_active++] = VR_FACTOR_VARIANT;
    for (int k = 0; k < d.n_keys && c.n_active < MAX_FACTORS; k++)
        if (d.grid[k].n >= 2) c.active[c.n_active++] = k;
    if (c.n_active) c.colour = c.active[0];
    for (int i = 0; i < d.n_runs; i++) c.n_done += d.runs[i].done;

    if (c.n_done) {
        for (size_t i = 0; i < sizeof overlays / sizeof *overlays; i++) {
            const overlay_spec *o = &overlays[i];
            series_id sid = {o->eval, o->idx};
            if (o->idx == VR_M_KL_WEIGHT && !o->eval && !any_run(&c, varies, &sid)) continue;
            if (!any_run(&c, has_series, &sid)) continue;
            overlay(&c, o);
        }
        for (int a = 0; a < c.n_active; a++)
            for (size_t m = 0; m < sizeof finals / sizeof *finals; m++)
                final_vs(&c, c.active[a], &finals[m]);
        rate_distortion(&c);
    }

    /* Per-run figures: a failure is a note in index.html, not an error. */
    for (int i = 0; i < d.n_runs; i++) {
        vr_sweep_run *r = &d.runs[i];
        char note[1200] = "";
        if (r->note[0]) {
            snprintf(note, sizeof note, "%s", r->note);
        } else if (r->done) {
            vr_err e;
            if (vr_plot_run(r->h5, r->id, c.fig_dir, &figs, &e))
                snprintf(note, sizeof note, "per-run figures: %s", e.msg);
        }
        if (note[0] && !(run_notes[i] = strdup(note))) { vr_fail(err, "out of memory"); goto out; }
    }

    char note0[1300] = "";
    const char *notes[2] = {NULL, NULL};
    if (c.n_failed) {
        snprintf(note0, sizeof note0, "%d sweep figure(s) could not be drawn; the first: %s", c.n_failed,
                 c.first.msg);
        notes[0] = note0;
    }
    if (vr_sweep_index_write(&d, c.fig_dir, &figs, (const char *const *)run_notes, notes, err)) goto out;
    if (c.n_failed) {
        *err = c.first;
        vr_wrap(err, "%d sweep figure(s) failed (index.html lists the rest); the first", c.n_failed);
        goto out;
    }
    rc = 0;
out:
    if (tmp_made) vr_rm_rf(c.data_dir);
    for (int i = 0; run_notes && i < d.n_runs; i++) free(run_notes[i]);
    free(run_notes);
    vr_figures_free(&figs);
    vr_sweep_data_free(&d);
    return rc;
}

int vr_plot_sweep(const char *dir, vr_err *err)
{
    return vr_plot_sweep_opts(dir, NULL, err);
}
