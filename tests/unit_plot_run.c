/* unit_plot_run.c: the per-run figures (plot/plot_run.c, docs/figures.md).
 *
 *  - helpers without gnuplot: the /config reader, the Jacobi eigen-solver and
 *    the PCA on data of known covariance;
 *  - short real runs (vr_run_one) on an MNIST subset (Bernoulli ELBO with a
 *    2-D latent; discretised logistic under GECO with a 6-D latent;
 *    continuous Bernoulli with KL annealing) and on eight_gaussians: every
 *    figure kind their contents allow is drawn, and only those; each PNG has
 *    the expected size and, decoded with zlib, is not blank; the data files
 *    gnuplot drew from hold the numbers of run.h5 (metrics, evaluations,
 *    image grids, latent scatter and its PCA, points, histograms, the learned
 *    log-scale); the scripts draw the multiplier, the KL weight and the
 *    GECO target only when the run has them;
 *  - a run.h5 with curves only gets the curve figures and no error; a
 *    missing file is an error naming it; vr_plot_run leaves no temporary
 *    folder behind.
 * Skips (77) without gnuplot; the MNIST runs are skipped when MNIST is not
 * installed (the eight_gaussians run needs no files).
 *
 * `unit_plot_run RUN_H5 RUN_ID FIG_DIR DATA_DIR` draws one run's figures
 * and keeps their data files and scripts in DATA_DIR (for a look by hand). */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "plot/plot.h"
#include "plot/run_data.h"
#include "runner/run_file.h"
#include "runner/run_one.h"
#include "runner/spec.h"
#include "tests/check.h"

static char root[] = "/tmp/vaerun-plotrun-XXXXXX";

/* ---- PNG: size from the header, pixels through zlib ----------------------------- */

typedef struct {
    int ok, w, h;
    double var;        /* variance of the grey level (0..255) */
    double nonwhite;   /* fraction of pixels not near white */
    double dark;       /* fraction of pixels below 64 */
    double colour;     /* fraction of coloured pixels (max - min channel > 60) */
    unsigned char *rgb;  /* w * h * 3 */
} png_info;

static void png_free(png_info *p) { free(p->rgb); p->rgb = NULL; }

/* Pixels within 12 per channel of the colour 0xRRGGBB (any coloured pixel:
 * ANY), in the part x0..x1, y0..y1 (fractions of the width and height from
 * the top left) of the image. */
#define ANY 0x1000000u
static size_t png_count(const png_info *p, unsigned rgb, double x0, double x1, double y0, double y1)
{
    int r = rgb >> 16 & 255, g = rgb >> 8 & 255, b = rgb & 255;
    size_t n = 0;
    for (int y = (int)(y0 * p->h); p->rgb && y < (int)(y1 * p->h); y++)
        for (int x = (int)(x0 * p->w); x < (int)(x1 * p->w); x++) {
            const unsigned char *q = p->rgb + 3 * ((size_t)y * p->w + x);
            if (rgb == ANY) {
                int mx = q[0] > q[1] ? q[0] : q[1], mn = q[0] < q[1] ? q[0] : q[1];
                mx = q[2] > mx ? q[2] : mx;
                mn = q[2] < mn ? q[2] : mn;
                n += mx - mn > 60;
            } else {
                n += abs(q[0] - r) <= 12 && abs(q[1] - g) <= 12 && abs(q[2] - b) <= 12;
            }
        }
    return n;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

static png_info png_read(const char *path)
{
    png_info r = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return r;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(buf); return r; }
    fclose(f);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n < 33 || memcmp(buf, sig, 8) || memcmp(buf + 12, "IHDR", 4)) { free(buf); return r; }
    r.w = (int)be32(buf + 16);
    r.h = (int)be32(buf + 20);
    int depth = buf[24], ctype = buf[25], interlace = buf[28];
    int ch = ctype == 2 ? 3 : ctype == 6 ? 4 : ctype == 0 ? 1 : ctype == 4 ? 2 : 0;
    if (depth != 8 || !ch || interlace) { free(buf); return r; }
    /* the IDAT chunks, concatenated, are one zlib stream */
    unsigned char *z = malloc((size_t)n);
    size_t zn = 0;
    for (long p = 8; p + 12 <= n;) {
        uint32_t len = be32(buf + p);
        if (p + 12 + (long)len > n) break;
        if (!memcmp(buf + p + 4, "IDAT", 4)) { memcpy(z + zn, buf + p + 8, len); zn += len; }
        p += 12 + (long)len;
    }
    size_t stride = (size_t)r.w * ch;
    uLongf raw_n = (uLongf)((stride + 1) * r.h);
    unsigned char *raw = malloc(raw_n);
    if (!raw || uncompress(raw, &raw_n, z, zn) != Z_OK || raw_n != (stride + 1) * r.h) {
        free(buf); free(z); free(raw);
        return r;
    }
    unsigned char *prev = calloc(stride, 1), *cur = malloc(stride);
    r.rgb = malloc((size_t)r.w * r.h * 3);
    double sum = 0, sum2 = 0;
    size_t nonwhite = 0, dark = 0, colour = 0;
    for (int y = 0; y < r.h; y++) {
        const unsigned char *in = raw + y * (stride + 1);
        int ft = in[0];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)ch ? cur[i - ch] : 0, b = prev[i],
                c = i >= (size_t)ch ? prev[i - ch] : 0, x = in[1 + i];
            int v = ft == 0 ? x : ft == 1 ? x + a : ft == 2 ? x + b
                  : ft == 3 ? x + (a + b) / 2 : x + paeth(a, b, c);
            cur[i] = (unsigned char)v;
        }
        for (int x = 0; x < r.w; x++) {
            const unsigned char *p = cur + (size_t)x * ch;
            double g = ch >= 3 ? (p[0] + p[1] + p[2]) / 3.0 : p[0];
            unsigned char *o = r.rgb + ((size_t)y * r.w + x) * 3;
            o[0] = p[0];
            o[1] = ch >= 3 ? p[1] : p[0];
            o[2] = ch >= 3 ? p[2] : p[0];
            int mx = o[0] > o[1] ? o[0] : o[1], mn = o[0] < o[1] ? o[0] : o[1];
            if (o[2] > mx) mx = o[2];
            if (o[2] < mn) mn = o[2];
            if (mx - mn > 60) colour++;
            sum += g;
            sum2 += g * g;
            if (g < 235) nonwhite++;
            if (g < 64) dark++;
        }
        memcpy(prev, cur, stride);
    }
    double np = (double)r.w * r.h;
    r.var = sum2 / np - (sum / np) * (sum / np);
    r.nonwhite = nonwhite / np;
    r.dark = dark / np;
    r.colour = colour / np;
    r.ok = 1;
    free(prev); free(cur); free(buf); free(z); free(raw);
    return r;
}

/* ---- small file helpers ------------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

static int file_has(const char *dir, const char *name, const char *needle)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = slurp(p);
    int has = s && strstr(s, needle) != NULL;
    free(s);
    return has;
}

/* Reads a whitespace-separated numeric table (NaN allowed, '#' lines
 * skipped) into a malloc'd array; *n values. */
static double *read_numbers(const char *path, size_t *n)
{
    char *s = slurp(path);
    *n = 0;
    if (!s) return NULL;
    size_t cap = 1024;
    double *v = malloc(sizeof(double) * cap);
    char *p = s;
    while (*p) {
        if (*p == '#') { while (*p && *p != '\n') p++; continue; }
        if (*p == ' ' || *p == '\n' || *p == '\t') { p++; continue; }
        char *end;
        double x = strtod(p, &end);
        if (end == p) { p++; continue; }
        if (*n == cap) v = realloc(v, sizeof(double) * (cap *= 2));
        v[(*n)++] = x;
        p = end;
    }
    free(s);
    return v;
}

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

/* ---- figure checks ------------------------------------------------------------------- */

static const unsigned tab10[10] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                   0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

typedef struct { const char *kind; int w, h; } fig_spec;

static const fig_spec all_kinds[] = {
    {"curves", 1200, 800},     {"curves-logx", 1200, 800}, {"gallery", 1800, 660},
    {"interpolations", 1200, 1060}, {"traversal", 1000, 1000}, {"manifold", 1000, 1000},
    {"latent", 1150, 950},     {"output-scale", 1000, 880}, {"points", 1600, 900},
    {"density", 1700, 840},    {"paths", 1600, 900},
};
enum { N_KINDS = sizeof all_kinds / sizeof *all_kinds };

/* Draws RUN's figures into DIR/figs (data into DIR/data) and checks that
 * exactly the kinds listed in WANT (NULL-terminated) were drawn, each PNG of
 * the right size and not blank. */
static void check_figures(const char *h5, const char *id, const char *dir, const char *const *want,
                          vr_figure_list *l)
{
    char figs[600], data[600];
    snprintf(figs, sizeof figs, "%s/figs", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    mkdir(dir, 0777);
    mkdir(figs, 0777);
    mkdir(data, 0777);
    vr_err err;
    int rc = vr_plot_run_data(h5, id, figs, data, l, &err);
    CHECK(rc == 0, "%s: %s", id, err.msg);
    for (int k = 0; k < N_KINDS; k++) {
        int wanted = 0;
        for (const char *const *w = want; *w; w++) wanted |= !strcmp(*w, all_kinds[k].kind);
        char file[300];
        snprintf(file, sizeof file, "%s-%s.png", id, all_kinds[k].kind);
        int listed = 0;
        for (int i = 0; i < l->n; i++)
            if (!strcmp(l->items[i].file, file)) {
                listed = 1;
                CHECK(!strcmp(l->items[i].run_id, id), "%s: run_id '%s'", file, l->items[i].run_id);
                CHECK(strlen(l->items[i].caption) > 40 && strlen(l->items[i].caption) < 511,
                      "%s: caption of %zu chars", file, strlen(l->items[i].caption));
            }
        CHECK(listed == wanted, "%s: listed %d, expected %d", file, listed, wanted);
        char path[900];
        snprintf(path, sizeof path, "%s/%s", figs, file);
        int exists = access(path, F_OK) == 0;
        CHECK(exists == wanted, "%s: exists %d, expected %d", path, exists, wanted);
        if (!exists || !wanted) continue;
        png_info p = png_read(path);
        CHECK(p.ok, "%s: cannot decode", path);
        CHECK(p.w == all_kinds[k].w && p.h == all_kinds[k].h, "%s: %dx%d, expected %dx%d", file,
              p.w, p.h, all_kinds[k].w, all_kinds[k].h);
        /* Not blank: empty axes with titles, labels and keys already have a
         * grey variance near 900 and 2% of their pixels dark, so the test
         * looks for what only drawn data give: the fixed colours of the
         * curves, the class colours, image tiles, coloured maps. */
        const char *kd = all_kinds[k].kind;
        if (!strcmp(kd, "curves") || !strcmp(kd, "curves-logx")) {
            /* the lines, without the keys below each panel */
            size_t b = png_count(&p, 0x1f77b4, 0, 0.5, 0, 0.4), g = png_count(&p, 0x2ca02c, 0.5, 1, 0, 0.4),
                   r = png_count(&p, 0xd62728, 0, 0.5, 0.5, 0.9);
            CHECK(b > 300 && g > 300 && r > 300, "%s: ELBO blue %zu, recon green %zu, KL red %zu "
                  "pixels", file, b, g, r);
        } else if (!strcmp(kd, "latent")) {
            /* the points, left of the key: several class colours */
            int colours = 0;
            for (int i = 0; i < 10; i++) colours += png_count(&p, tab10[i], 0, 0.74, 0, 1) > 20;
            size_t any = png_count(&p, ANY, 0, 0.74, 0, 1);
            CHECK(colours >= 2 && any > 300, "%s: %d class colours, %zu coloured pixels among the "
                  "points", file, colours, any);
        } else if (!strcmp(kd, "points") || !strcmp(kd, "paths")) {
            size_t any = png_count(&p, ANY, 0, 1, 0, 0.8);  /* above the keys */
            CHECK(any > 2000, "%s: %zu coloured pixels", file, any);
        } else if (!strcmp(kd, "density") || !strcmp(kd, "output-scale")) {
            CHECK(p.colour > (kd[0] == 'd' ? 0.01 : 0.3), "%s: %.4f of the pixels coloured", file,
                  p.colour);
        } else {  /* image grids: tiles cover most of the canvas */
            CHECK(p.nonwhite > 0.3 && p.var > 1500, "%s: looks blank (grey variance %.1f, %.3f "
                  "of the pixels not white)", file, p.var, p.nonwhite);
        }
        fprintf(stderr, "  %-34s %4dx%-4d variance %7.1f  non-white %.3f  coloured %.4f\n",
                file, p.w, p.h, p.var, p.nonwhite, p.colour);
        png_free(&p);
    }
}

/* metrics.dat / eval.dat hold exactly the series of run.h5. */
static void check_tables(const char *h5, const char *dir)
{
    static const char *const m[] = {"step", "wall_s", "loss", "elbo", "recon", "kl",
                                    "kl_weight", "multiplier"};
    static const char *const e[] = {"step", "test_elbo", "test_recon", "test_kl", "test_iwae"};
    for (int g = 0; g < 2; g++) {
        const char *const *names = g ? e : m;
        int k = g ? 5 : 8;
        char p[700];
        snprintf(p, sizeof p, "%s/data/%s", dir, g ? "eval.dat" : "metrics.dat");
        size_t nv;
        double *v = read_numbers(p, &nv);
        size_t rows;
        vr_err err;
        char name[64];
        snprintf(name, sizeof name, "/%s/step", g ? "eval" : "metrics");
        CHECK(vr_run_file_count(h5, name, &rows, &err) == 0 && rows > 1, "%s: %zu rows", name, rows);
        CHECK(v && nv == rows * (size_t)k, "%s: %zu numbers, expected %zu", p, nv, rows * k);
        if (!v || nv != rows * (size_t)k) { free(v); continue; }
        double *col = malloc(sizeof(double) * rows);
        for (int i = 0; i < k; i++) {
            snprintf(name, sizeof name, "/%s/%s", g ? "eval" : "metrics", names[i]);
            if (vr_run_file_read(h5, name, VR_DT_F64, col, rows, &err)) { CHECK(0, "%s", err.msg); continue; }
            int same = 1;
            for (size_t r = 0; r < rows; r++) same &= same_double(v[r * k + i], col[r]);
            CHECK(same, "%s: column %s differs from %s", p, names[i], name);
        }
        free(col);
        free(v);
    }
}

/* A .grid file holds the tiles of /tensors/NAME where they belong. */
static void check_grid(const char *h5, const char *dir, const char *name, int rows, int cols)
{
    vr_ptensor t;
    vr_err err;
    if (vr_ptensor_read(h5, name, &t, &err)) { CHECK(0, "%s: not in %s", name, h5); return; }
    size_t hh, ww, c, n;
    if (t.rank == 4) { n = t.dims[0]; c = t.dims[1]; hh = t.dims[2]; ww = t.dims[3]; }
    else { n = 1; c = t.dims[0]; hh = t.dims[1]; ww = t.dims[2]; }
    int gap = t.rank == 4 ? 2 : 0;
    size_t H = rows * (hh + gap) - gap, W = cols * (ww + gap) - gap;
    char p[700];
    snprintf(p, sizeof p, "%s/data/%s.grid", dir, name);
    size_t nv;
    double *v = read_numbers(p, &nv);
    CHECK(v && nv == H * W, "%s: %zu values, expected %zux%zu", p, nv, H, W);
    if (v && nv == H * W) {
        size_t bad = 0, nan_ok = 1;
        for (size_t y = 0; y < H; y++)
            for (size_t x = 0; x < W; x++) {
                size_t r = y / (hh + gap), py = y % (hh + gap), col = x / (ww + gap), px = x % (ww + gap);
                double g = v[y * W + x];
                if (py >= hh || px >= ww || r * cols + col >= n) { nan_ok &= isnan(g) != 0; continue; }
                double want = t.v[(((r * cols + col) * c) * hh + py) * ww + px];
                if (!(fabs(g - want) <= 1e-6 * (1 + fabs(want)))) bad++;
            }
        CHECK(bad == 0, "%s: %zu pixels differ from /tensors/%s", p, bad, name);
        CHECK(nan_ok, "%s: the gaps between tiles are not NaN", p);
    }
    free(v);
    vr_ptensor_free(&t);
}

/* latent.dat: every test image once, its class colour, and x, y its first two
 * latents (L = 2) or its projection on the top principal component pair. */
static void check_latent(const char *h5, const char *dir)
{
    vr_ptensor z;
    vr_err err;
    if (vr_ptensor_read(h5, "latent_mean", &z, &err)) { CHECK(0, "no latent_mean"); return; }
    size_t n = z.dims[0];
    int L = (int)z.dims[1];
    int32_t *lab = malloc(sizeof *lab * n);
    CHECK(vr_run_file_read(h5, "/tensors/labels", VR_DT_I32, lab, n, &err) == 0, "%s", err.msg);
    char p[700];
    snprintf(p, sizeof p, "%s/data/latent.dat", dir);
    size_t nv;
    double *v = read_numbers(p, &nv);
    CHECK(v && nv == 4 * n, "%s: %zu values for %zu images", p, nv, n);
    if (!v || nv != 4 * n) { free(v); free(lab); vr_ptensor_free(&z); return; }
    /* per class: count and sums of x, y, to compare whatever the row order */
    double cnt[2][10] = {{0}}, sx[2][10] = {{0}}, sy[2][10] = {{0}};
    int colours_ok = 1;
    double *u1 = calloc((size_t)L, sizeof(double)), *u2 = calloc((size_t)L, sizeof(double));
    if (L > 2) {
        /* an independent PCA: power iteration on the covariance, then deflation */
        double *mean = calloc((size_t)L, sizeof(double)), *C = calloc((size_t)L * L, sizeof(double));
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < L; j++) mean[j] += z.v[i * L + j] / (double)n;
        for (size_t i = 0; i < n; i++)
            for (int a = 0; a < L; a++)
                for (int b = 0; b < L; b++)
                    C[a * L + b] += (z.v[i * L + a] - mean[a]) * (z.v[i * L + b] - mean[b]) / (double)(n - 1);
        double trace = 0;
        for (int a = 0; a < L; a++) trace += C[a * L + a];
        double lam[2];
        for (int k = 0; k < 2; k++) {
            double *u = k ? u2 : u1, *w = malloc(sizeof(double) * L);
            for (int j = 0; j < L; j++) u[j] = 1.0 / (j + 1);
            for (int it = 0; it < 5000; it++) {
                double norm = 0;
                for (int a = 0; a < L; a++) {
                    w[a] = 0;
                    for (int b = 0; b < L; b++) w[a] += C[a * L + b] * u[b];
                    norm += w[a] * w[a];
                }
                norm = sqrt(norm);
                for (int a = 0; a < L; a++) u[a] = w[a] / norm;
                lam[k] = norm;
            }
            for (int a = 0; a < L; a++)
                for (int b = 0; b < L; b++) C[a * L + b] -= lam[k] * u[a] * u[b];
            free(w);
        }
        char want[64];
        snprintf(want, sizeof want, "PC 1 (%.1f%% of the variance)", 100 * lam[0] / trace);
        CHECK(file_has(dir, "data/latent.gp", want), "latent.gp lacks '%s'", want);
        snprintf(want, sizeof want, "PC 2 (%.1f%% of the variance)", 100 * lam[1] / trace);
        CHECK(file_has(dir, "data/latent.gp", want), "latent.gp lacks '%s'", want);
        free(mean);
        free(C);
    } else {
        u1[0] = 1;
        u2[1] = 1;
    }
    /* the file's rows against the projections (up to the components' signs) */
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double x = 0, y = 0;
        for (int j = 0; j < L; j++) { x += u1[j] * z.v[i * L + j]; y += u2[j] * z.v[i * L + j]; }
        int k = lab[i] % 10;
        cnt[0][k]++; sx[0][k] += x; sy[0][k] += y;
        s1 += x; s2 += y;
    }
    double f1 = 0, f2 = 0;
    for (size_t r = 0; r < n; r++) {
        int k = (int)v[4 * r + 3] % 10;
        cnt[1][k]++; sx[1][k] += v[4 * r]; sy[1][k] += v[4 * r + 1];
        f1 += v[4 * r]; f2 += v[4 * r + 1];
        colours_ok &= (unsigned)v[4 * r + 2] == tab10[k];
    }
    double g1 = s1 * f1 < 0 ? -1 : 1, g2 = s2 * f2 < 0 ? -1 : 1;
    double tol = L > 2 ? 1e-3 : 1e-5;
    int sums_ok = 1;
    for (int k = 0; k < 10; k++) {
        sums_ok &= cnt[0][k] == cnt[1][k];
        sums_ok &= fabs(g1 * sx[0][k] - sx[1][k]) <= tol * (1 + cnt[0][k]);
        sums_ok &= fabs(g2 * sy[0][k] - sy[1][k]) <= tol * (1 + cnt[0][k]);
    }
    CHECK(sums_ok, "%s: per-class counts or coordinates differ from /tensors/latent_mean", p);
    CHECK(colours_ok, "%s: a row's colour is not its class's", p);
    free(u1); free(u2); free(v); free(lab);
    vr_ptensor_free(&z);
}

/* ---- runs ----------------------------------------------------------------------------- */

/* Trains the spec YAML into DIR/run.h5. 0 done, 77 data missing, -1 failed. */
static int train(const char *yaml, const char *dir, char *h5, size_t cap)
{
    vr_spec s;
    vr_err err;
    if (vr_spec_load_string(yaml, "plot_run_test", &s, &err)) {
        CHECK(0, "spec: %s", err.msg);
        return -1;
    }
    s.seed = 0;
    vr_dataset ds;
    if (vr_dataset_load(&ds, &s, &err)) {
        if (strstr(err.msg, "not found")) {
            fprintf(stderr, "skipped %s: %s\n", dir, err.msg);
            return 77;
        }
        CHECK(0, "dataset: %s", err.msg);
        return -1;
    }
    snprintf(h5, cap, "%s/run.h5", dir);
    vr_run_opts o = {.path = h5, .label = "plot test", .out = stderr, .quiet = 1};
    int rc = vr_run_one(&s, &ds, &o, &err);
    vr_dataset_free(&ds);
    CHECK(rc == VR_RUN_DONE, "run %s: %s", dir, err.msg);
    return rc == VR_RUN_DONE ? 0 : -1;
}

#define SMALL_TRAIN                                                                  \
    "train: {steps: 60, batch: 32, log_every: 10, eval_every: 30, threads: 1}\n"     \
    "eval: {iwae_samples: 5, iwae_images: 50}\n"

static void test_mnist_bernoulli(void)
{
    char dir[600], h5[700];
    snprintf(dir, sizeof dir, "%s/bern", root);
    mkdir(dir, 0777);
    const char *yaml = "name: bern\ndata: {set: mnist, binarize: dynamic, train: 2000, test: 300}\n"
                       "model: {arch: mlp, hidden: [64], latent: 2}\n"
                       "likelihood: {kind: bernoulli}\nobjective: {kind: elbo}\n" SMALL_TRAIN;
    if (train(yaml, dir, h5, sizeof h5)) return;
    static const char *const want[] = {"curves", "curves-logx", "gallery", "interpolations",
                                       "traversal", "manifold", "latent", NULL};
    vr_figure_list l = {0};
    check_figures(h5, "bern-seed0", dir, want, &l);
    vr_figures_free(&l);
    check_tables(h5, dir);
    check_grid(h5, dir, "data", 8, 8);
    check_grid(h5, dir, "reconstructions", 8, 8);
    check_grid(h5, dir, "samples", 8, 8);
    check_grid(h5, dir, "interpolations", 8, 10);
    check_grid(h5, dir, "traversal", 10, 10);
    check_grid(h5, dir, "manifold", 15, 15);
    check_latent(h5, dir);
    /* no GECO, a constant KL weight of 1: nothing on a right axis */
    CHECK(!file_has(dir, "data/curves.gp", "axes x1y2"), "curves.gp draws a right axis");
    CHECK(!file_has(dir, "data/curves.gp", "GECO"), "curves.gp mentions GECO");
    CHECK(file_has(dir, "data/latent.gp", "'digit 7'"), "latent.gp: no legend of digits");
    CHECK(file_has(dir, "data/curves-logx.gp", "set logscale x"), "curves-logx.gp: no log x");
    /* the gallery of a Bernoulli run is mostly black background */
    char p[900];
    snprintf(p, sizeof p, "%s/figs/bern-seed0-gallery.png", dir);
    png_info g = png_read(p);
    CHECK(g.dark > 0.25, "%s: only %.2f of the pixels are dark", p, g.dark);
    png_free(&g);
}

static void test_mnist_logistic_geco(void)
{
    char dir[600], h5[700];
    snprintf(dir, sizeof dir, "%s/logi", root);
    mkdir(dir, 0777);
    const char *yaml = "name: logi\ndata: {set: mnist, binarize: none, train: 2000, test: 300}\n"
                       "model: {arch: mlp, hidden: [64], latent: 6}\n"
                       "likelihood: {kind: logistic, init_log_scale: -2.0}\n"
                       "objective: {kind: geco, geco: {target: -500.0, lr: 0.01, init: 1.0}}\n"
                       SMALL_TRAIN;
    if (train(yaml, dir, h5, sizeof h5)) return;
    static const char *const want[] = {"curves", "curves-logx", "gallery", "interpolations",
                                       "traversal", "output-scale", "latent", NULL};
    vr_figure_list l = {0};
    check_figures(h5, "logi", dir, want, &l);
    for (int i = 0; i < l.n; i++)
        if (strstr(l.items[i].file, "-gallery"))
            CHECK(strstr(l.items[i].caption, "logistic's mean"), "gallery caption: %s", l.items[i].caption);
    vr_figures_free(&l);
    check_tables(h5, dir);
    check_grid(h5, dir, "output_log_scale", 1, 1);
    check_latent(h5, dir);
    CHECK(file_has(dir, "data/curves.gp", "axes x1y2"), "curves.gp: no multiplier");
    CHECK(file_has(dir, "data/curves.gp", "GECO target -500"), "curves.gp: no GECO target");
    CHECK(file_has(dir, "data/latent.gp", "PCA of the 6-D latent"), "latent.gp: no PCA title");
}

static void test_mnist_cb_anneal(void)
{
    char dir[600], h5[700];
    snprintf(dir, sizeof dir, "%s/cb", root);
    mkdir(dir, 0777);
    const char *yaml = "name: cb\ndata: {set: mnist, binarize: none, train: 2000, test: 300}\n"
                       "model: {arch: mlp, hidden: [64], latent: 3}\n"
                       "likelihood: {kind: continuous_bernoulli}\n"
                       "objective: {kind: anneal, anneal: {start: 0.0, end: 1.0, steps: 50}}\n"
                       SMALL_TRAIN;
    if (train(yaml, dir, h5, sizeof h5)) return;
    static const char *const want[] = {"curves", "curves-logx", "gallery", "interpolations",
                                       "traversal", "latent", NULL};
    vr_figure_list l = {0};
    check_figures(h5, "cb", dir, want, &l);
    for (int i = 0; i < l.n; i++)
        if (strstr(l.items[i].file, "-gallery"))
            CHECK(strstr(l.items[i].caption, "continuous Bernoulli's mean"), "gallery caption: %s",
                  l.items[i].caption);
    vr_figures_free(&l);
    check_tables(h5, dir);
    check_latent(h5, dir);
    CHECK(file_has(dir, "data/curves.gp", "'KL weight (right)'"), "curves.gp: no KL weight");
    CHECK(!file_has(dir, "data/curves.gp", "GECO"), "curves.gp mentions GECO");
}

static void test_eight_gaussians(void)
{
    char dir[600], h5[700];
    snprintf(dir, sizeof dir, "%s/toy", root);
    mkdir(dir, 0777);
    const char *yaml = "name: toy\ndata: {set: eight_gaussians, binarize: none, train: 2000, test: 400}\n"
                       "model: {arch: mlp, hidden: [64, 64], activation: selu, latent: 2, "
                       "posterior: log_var}\n"
                       "likelihood: {kind: gaussian, variance: fixed, sigma: 1.0}\n"
                       "objective: {kind: beta, beta: 4.0}\n" SMALL_TRAIN;
    if (train(yaml, dir, h5, sizeof h5)) return;
    static const char *const want[] = {"curves", "curves-logx", "points", "density", "paths",
                                       "latent", NULL};
    vr_figure_list l = {0};
    check_figures(h5, "toy", dir, want, &l);
    vr_figures_free(&l);
    check_tables(h5, dir);
    check_latent(h5, dir);
    CHECK(file_has(dir, "data/curves.gp", "β = 4"), "curves.gp: no beta in the KL title");
    CHECK(file_has(dir, "data/curves.gp", "nats per point"), "curves.gp: not per point");
    CHECK(file_has(dir, "data/latent.gp", "'mode at 45°'"), "latent.gp: no mode names");
    /* the points as in run.h5; each histogram a density integrating to 1 */
    static const char *const pts[] = {"data", "reconstructions", "samples"};
    for (int i = 0; i < 3; i++) {
        vr_ptensor t;
        vr_err err;
        if (vr_ptensor_read(h5, pts[i], &t, &err)) { CHECK(0, "%s missing", pts[i]); continue; }
        char p[800];
        snprintf(p, sizeof p, "%s/data/points_%s.dat", dir, pts[i]);
        size_t nv;
        double *v = read_numbers(p, &nv);
        CHECK(v && nv == t.n, "%s: %zu values, expected %zu", p, nv, t.n);
        int same = v && nv == t.n;
        for (size_t k = 0; same && k < nv; k++) same = fabs(v[k] - t.v[k]) <= 1e-6 * (1 + fabs(t.v[k]));
        CHECK(same, "%s differs from /tensors/%s", p, pts[i]);
        free(v);
        vr_ptensor_free(&t);
    }
    static const char *const hists[] = {"hist_data.dat", "hist_samples.dat"};
    char *gp = NULL, p[800];
    snprintf(p, sizeof p, "%s/data/density.gp", dir);
    gp = slurp(p);
    double lim = 0, bw = 0;
    const char *u = gp ? strstr(gp, "matrix u (") : NULL;
    if (u) sscanf(u, "matrix u (%lf + ($1 + 0.5) * %lf)", &lim, &bw);
    CHECK(bw > 0, "density.gp: no bin width");
    for (int i = 0; i < 2 && bw > 0; i++) {
        snprintf(p, sizeof p, "%s/data/%s", dir, hists[i]);
        size_t nv;
        double *v = read_numbers(p, &nv);
        double sum = 0;
        for (size_t k = 0; k < nv; k++) sum += v[k];
        CHECK(nv == 40 * 40 && fabs(sum * bw * bw - 1) < 1e-3, "%s: %zu bins, integral %.6f", p,
              nv, sum * bw * bw);
        free(v);
    }
    free(gp);
}

/* A file with curves only (and no evaluations): two figures, no error. */
static void test_curves_only(void)
{
    char dir[600], h5[700];
    snprintf(dir, sizeof dir, "%s/bare", root);
    mkdir(dir, 0777);
    snprintf(h5, sizeof h5, "%s/run.h5", dir);
    double step[5] = {10, 20, 30, 40, 50}, wall[5] = {1, 2, 3, 4, 5};
    double loss[5] = {300, 200, 150, 140, 135}, elbo[5] = {-300, -200, -150, -140, -135};
    double recon[5] = {-295, -190, -138, -126, -120}, kl[5] = {5, 10, 12, 14, 15};
    double w[5] = {1, 1, 1, 1, 1}, mult[5] = {NAN, NAN, NAN, NAN, NAN};
    vr_series m[8] = {{"step", 5, step}, {"wall_s", 5, wall}, {"loss", 5, loss},
                      {"elbo", 5, elbo}, {"recon", 5, recon}, {"kl", 5, kl},
                      {"kl_weight", 5, w}, {"multiplier", 5, mult}};
    vr_run_record rec = {.version = "test", .status = "failed", .message = "stopped", .seed = 0,
                         .backend = "cpu", .device = "test", .start_time = "", .end_time = "",
                         .config_yaml = "name: bare\ndata:\n  set: mnist\nlikelihood:\n  kind: bernoulli\n",
                         .metrics = m, .n_metrics = 8};
    vr_err err;
    if (vr_run_file_write(h5, &rec, &err)) { CHECK(0, "%s", err.msg); return; }
    static const char *const want[] = {"curves", "curves-logx", NULL};
    vr_figure_list l = {0};
    check_figures(h5, "bare", dir, want, &l);
    CHECK(l.n == 2, "%d figures for a file with curves only", l.n);
    vr_figures_free(&l);
    /* and the same through vr_plot_run: nothing left in TMPDIR */
    char tmp[700], figs[700];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    snprintf(figs, sizeof figs, "%s/figs_public", dir);
    mkdir(tmp, 0777);
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", tmp, 1);
    int rc = vr_plot_run(h5, "bare", figs, &l, &err);
    if (saved) { setenv("TMPDIR", saved, 1); free(saved); } else unsetenv("TMPDIR");
    CHECK(rc == 0 && l.n == 2, "vr_plot_run: rc %d, %d figures (%s)", rc, l.n, err.msg);
    DIR *d = opendir(tmp);
    int left = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) left++;
    if (d) closedir(d);
    CHECK(left == 0, "vr_plot_run left %d entries in TMPDIR", left);
    char png[800];
    snprintf(png, sizeof png, "%s/bare-curves.png", figs);
    png_info pi = png_read(png);
    CHECK(pi.ok, "%s: not written by vr_plot_run", png);
    png_free(&pi);
    vr_figures_free(&l);

    /* a missing file is an error that names it */
    snprintf(png, sizeof png, "%s/nope.h5", dir);
    rc = vr_plot_run(png, "nope", figs, &l, &err);
    CHECK(rc == -1 && strstr(err.msg, "nope.h5"), "missing file: rc %d, '%s'", rc, err.msg);
    CHECK(l.n == 0, "missing file: %d figures", l.n);
    vr_figures_free(&l);
}

/* ---- helpers without gnuplot ----------------------------------------------------------- */

static void test_yaml(void)
{
    const char *y = "name: mnist_geco\ndata:\n  set: fashion_mnist\n  dir: \"\"\n"
                    "model:\n  arch: mlp\n  latent: 10\n  hidden: [100, 100]\n"
                    "objective:\n  kind: geco\n  anneal:\n    steps: 5000\n  geco:\n"
                    "    target: -1e+02\n    lr: 0.001\nseeds: [0]\nseed: 0\n";
    char v[64];
    CHECK(vr_yaml_value(y, "data.set", v, sizeof v) == 0 && !strcmp(v, "fashion_mnist"), "data.set '%s'", v);
    CHECK(vr_yaml_value(y, "objective.geco.target", v, sizeof v) == 0 && strtod(v, NULL) == -100,
          "objective.geco.target '%s'", v);
    CHECK(vr_yaml_value(y, "objective.anneal.steps", v, sizeof v) == 0 && !strcmp(v, "5000"), "steps '%s'", v);
    CHECK(vr_yaml_value(y, "model.hidden", v, sizeof v) == 0 && !strcmp(v, "[100, 100]"), "hidden '%s'", v);
    CHECK(vr_yaml_value(y, "data.dir", v, sizeof v) == 0 && !strcmp(v, ""), "dir '%s'", v);
    CHECK(vr_yaml_value(y, "name", v, sizeof v) == 0 && !strcmp(v, "mnist_geco"), "name '%s'", v);
    CHECK(vr_yaml_value(y, "geco.target", v, sizeof v) == -1, "a key out of place was found");
    CHECK(vr_yaml_value(y, "objective.kind.x", v, sizeof v) == -1, "a key below a value was found");
}

static void test_pca(void)
{
    /* Jacobi on a known matrix: eigenvalues 1, 3, 4 */
    double A[9] = {2, 1, 0, 1, 2, 0, 0, 0, 4}, w[3], V[9];
    vr_jacobi_eigen(A, 3, w, V);
    double s[3] = {w[0], w[1], w[2]};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (s[j] < s[i]) { double t = s[i]; s[i] = s[j]; s[j] = t; }
    CHECK_NEAR(s[0], 1, 1e-12, "eigenvalue 1");
    CHECK_NEAR(s[1], 3, 1e-12, "eigenvalue 3");
    CHECK_NEAR(s[2], 4, 1e-12, "eigenvalue 4");
    /* PCA of 5-D points with standard deviations 3, 2, 0.5, 0.5, 0.5 along a
     * rotated basis: PC 1 is the first rotated axis, with 9/13.75 of the
     * variance. */
    enum { N = 20000, L = 5 };
    float *x = malloc(sizeof(float) * N * L);
    double sd[L] = {3, 2, 0.5, 0.5, 0.5};
    double c = cos(0.6), sn = sin(0.6);
    uint64_t st = 12345;
    for (int i = 0; i < N; i++) {
        double g[L];
        for (int j = 0; j < L; j++) {  /* Box-Muller from an LCG */
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            double u1 = ((st >> 11) + 0.5) / 9007199254740992.0;
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            double u2 = ((st >> 11) + 0.5) / 9007199254740992.0;
            g[j] = sd[j] * sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        }
        /* rotate in the (0, 1) and (1, 3) planes, shift by 7 */
        double a0 = c * g[0] - sn * g[1], a1 = sn * g[0] + c * g[1];
        double b1 = c * a1 - sn * g[3], b3 = sn * a1 + c * g[3];
        double r[L] = {a0, b1, g[2], b3, g[4]};
        for (int j = 0; j < L; j++) x[i * L + j] = (float)(r[j] + 7);
    }
    double pc[2 * L], frac[2];
    CHECK(vr_pca2(x, N, L, pc, frac) == 0, "vr_pca2 failed");
    double e1[L] = {c, sn * c, 0, sn * sn, 0};  /* the image of the first axis */
    double dot = 0;
    for (int j = 0; j < L; j++) dot += pc[j] * e1[j];
    CHECK(fabs(fabs(dot) - 1) < 2e-3, "PC 1 . true axis = %.5f", dot);
    CHECK(fabs(frac[0] - 9 / 13.75) < 0.01 && fabs(frac[1] - 4 / 13.75) < 0.01,
          "explained fractions %.4f %.4f, expected %.4f %.4f", frac[0], frac[1], 9 / 13.75, 4 / 13.75);
    double n1 = 0, n12 = 0;
    for (int j = 0; j < L; j++) { n1 += pc[j] * pc[j]; n12 += pc[j] * pc[L + j]; }
    CHECK(fabs(n1 - 1) < 1e-9 && fabs(n12) < 1e-9, "components not orthonormal: %.3g %.3g", n1, n12);
    free(x);
}

int main(int argc, char **argv)
{
    if (argc == 5) {  /* draw one run by hand */
        vr_figure_list l = {0};
        vr_err err;
        int rc = vr_plot_run_data(argv[1], argv[2], argv[3], argv[4], &l, &err);
        for (int i = 0; i < l.n; i++) printf("%s: %s\n", l.items[i].file, l.items[i].caption);
        if (rc) fprintf(stderr, "error: %s\n", err.msg);
        vr_figures_free(&l);
        return rc ? 1 : 0;
    }
    test_yaml();
    test_pca();
    if (!vr_gnuplot_available()) {
        fprintf(stderr, "skipped the figures: %s\n", VR_GNUPLOT_MISSING);
        return check_failures_ ? 1 : 77;
    }
    if (!mkdtemp(root)) return 1;
    test_curves_only();
    test_eight_gaussians();
    test_mnist_bernoulli();
    test_mnist_logistic_geco();
    test_mnist_cb_anneal();
    int rc = check_result();
    if (rc == 0 && !getenv("VAERUN_PLOT_KEEP")) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf %s", root);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    } else {
        fprintf(stderr, "figures and data kept in %s\n", root);
    }
    return rc;
}
