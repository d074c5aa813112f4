/* unit_plot_sweep.c: the sweep figures and index.html from real runs.
 *
 * Trains a small sweep with the built vaerun (VAERUN_BIN): three variants
 * (elbo, anneal, geco) x model.latent [1, 25] x seeds [0, 1, 2], 60 steps of
 * an MLP on 512 MNIST images, with seed 2 made to go NaN (--debug-nan) so
 * that failed runs are in the folder too. Then draws the figures and checks:
 * every expected PNG exists with the expected size (IHDR) and is not blank
 * (IDAT inflated and unfiltered: pixel spread and coloured pixels);
 * index.html references only files that exist and anchors that exist; the
 * summary table has one row per run; the data files behind the figures
 * agree with run.h5 and summary.csv. A second folder with no swept keys
 * (seeds only) is drawn too. Skipped (77) without MNIST or gnuplot.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "plot/plot.h"
#include "plot/sweep_data.h"
#include "plot/sweep_plot.h"
#include "runner/run_file.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    fclose(f);
    if (s) s[n] = '\0';
    if (len) *len = (size_t)n;
    return s;
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* ---- PNG ------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

typedef struct {
    int w, h;
    double sd;          /* standard deviation of the grey level, 0..255 */
    long coloured;      /* clearly coloured (not grey) pixels left of x_limit */
} png_stats;

/* Reads the size from bytes 16..23 and the pixels (8-bit RGB or RGBA, not
 * interlaced, as pngcairo writes them). */
static int png_read(const char *path, int x_limit, png_stats *st)
{
    size_t n;
    unsigned char *b = (unsigned char *)slurp(path, &n);
    memset(st, 0, sizeof *st);
    if (!b) return -1;
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int rc = -1;
    unsigned char *idat = NULL, *raw = NULL;
    if (n < 33 || memcmp(b, sig, 8) || memcmp(b + 12, "IHDR", 4)) goto out;
    st->w = (int)be32(b + 16);
    st->h = (int)be32(b + 20);
    int depth = b[24], ctype = b[25], interlace = b[28];
    if (depth != 8 || (ctype != 2 && ctype != 6) || interlace) {
        fprintf(stderr, "%s: unexpected PNG format (depth %d, colour type %d)\n", path, depth, ctype);
        goto out;
    }
    int bpp = ctype == 6 ? 4 : 3;
    size_t ni = 0, pos = 8;
    idat = malloc(n);
    while (pos + 12 <= n) {
        uint32_t len = be32(b + pos);
        if (pos + 12 + len > n) goto out;
        if (!memcmp(b + pos + 4, "IDAT", 4)) { memcpy(idat + ni, b + pos + 8, len); ni += len; }
        if (!memcmp(b + pos + 4, "IEND", 4)) break;
        pos += 12 + len;
    }
    size_t stride = (size_t)st->w * bpp;
    uLongf rawlen = (uLongf)(st->h * (stride + 1));
    raw = malloc(rawlen);
    if (!raw || uncompress(raw, &rawlen, idat, ni) != Z_OK || rawlen != st->h * (stride + 1)) goto out;
    /* unfilter in place */
    for (int y = 0; y < st->h; y++) {
        unsigned char *row = raw + y * (stride + 1), ft = row[0], *px = row + 1;
        unsigned char *up = y ? raw + (y - 1) * (stride + 1) + 1 : NULL;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? px[i - bpp] : 0, u = up ? up[i] : 0,
                c = up && i >= (size_t)bpp ? up[i - bpp] : 0, v = px[i];
            switch (ft) {
            case 0: break;
            case 1: v += a; break;
            case 2: v += u; break;
            case 3: v += (a + u) / 2; break;
            case 4: v += paeth(a, u, c); break;
            default: goto out;
            }
            px[i] = (unsigned char)v;
        }
    }
    double sum = 0, sq = 0;
    long col = 0, total = (long)st->w * st->h;
    for (int y = 0; y < st->h; y++) {
        const unsigned char *px = raw + y * (stride + 1) + 1;
        for (int x = 0; x < st->w; x++, px += bpp) {
            double al = bpp == 4 ? px[3] / 255.0 : 1;
            double r = px[0] * al + 255 * (1 - al), g = px[1] * al + 255 * (1 - al),
                   bl = px[2] * al + 255 * (1 - al);
            double grey = 0.299 * r + 0.587 * g + 0.114 * bl;
            sum += grey;
            sq += grey * grey;
            double mx = fmax(r, fmax(g, bl)), mn = fmin(r, fmin(g, bl));
            if (mx - mn > 60 && x < x_limit) col++;
        }
    }
    double mean = sum / total;
    st->sd = sqrt(fmax(0, sq / total - mean * mean));
    st->coloured = col;
    rc = 0;
out:
    free(b);
    free(idat);
    free(raw);
    return rc;
}

/* The size in a kept gnuplot script ("size W,H") and where its key starts
 * ("set key at screen X"). */
static int gp_size(const char *gp, int *w, int *h, double *key_x)
{
    char *s = slurp(gp, NULL);
    if (!s) return -1;
    char *p = strstr(s, "pngcairo size "), *k = strstr(s, "set key at screen ");
    int ok = p && sscanf(p, "pngcairo size %d,%d", w, h) == 2 && k &&
             sscanf(k, "set key at screen %lf", key_x) == 1;
    free(s);
    return ok ? 0 : -1;
}

/* A sweep-level figure: exists, has the size its script asked for, which
 * is the layout's (one row of panels 520 px high plus a 46 px title; panels
 * 820 px wide alone or 560 px side by side; a key strip 150..420 px), and is
 * not blank. */
static void check_png(const char *fig_dir, const char *data_dir, const char *name, int panels)
{
    char png[4096], gp[4096];
    snprintf(png, sizeof png, "%s/%s", fig_dir, name);
    snprintf(gp, sizeof gp, "%s/%.*s.gp", data_dir, (int)strlen(name) - 4, name);
    CHECK(file_exists(png), "%s is missing", png);
    if (!file_exists(png)) return;
    int w = 0, h = 0;
    double key_x = 1;
    CHECK(gp_size(gp, &w, &h, &key_x) == 0, "%s: no size or key in its script", gp);
    png_stats st;
    /* data is drawn left of the key: coloured pixels there are data */
    CHECK(png_read(png, (int)(key_x * w) - 20, &st) == 0, "%s: cannot decode", png);
    int base = panels == 1 ? 820 : 560 * panels;
    CHECK(st.h == 566, "%s: height %d, expected 566", name, st.h);
    CHECK(st.w >= base + 150 && st.w <= base + 420, "%s: width %d, expected %d + key 150..420", name,
          st.w, base);
    CHECK(w == st.w && h == st.h, "%s: %dx%d, its script asked %dx%d", name, st.w, st.h, w, h);
    CHECK(st.sd > 12, "%s: looks blank (grey-level sd %.2f)", name, st.sd);
    CHECK(st.coloured >= 100, "%s: %ld coloured pixels outside the key: no data drawn?", name,
          st.coloured);
}

/* ---- index.html ----------------------------------------------------------- */

static int count_str(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void url_decode(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char h[3] = {s[1], s[2], 0};
            out[n++] = (char)strtol(h, NULL, 16);
            s += 2;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

/* Every src="..." and href="..." of the page: a file that exists (relative to
 * FIG_DIR) or an anchor of the page. Returns the number of img sources. */
static int check_links(const char *html, const char *fig_dir)
{
    int imgs = 0;
    const char *attrs[] = {" src=\"", " href=\""};
    for (int a = 0; a < 2; a++) {
        for (const char *p = html; (p = strstr(p, attrs[a]));) {
            p += strlen(attrs[a]);
            const char *e = strchr(p, '"');
            if (!e) break;
            char v[2048], dec[2048];
            snprintf(v, sizeof v, "%.*s", (int)(e - p), p);
            p = e;
            if (v[0] == '#') {
                char id[2100];
                snprintf(id, sizeof id, "id=\"%s\"", v + 1);
                CHECK(strstr(html, id) != NULL, "index.html: anchor %s has no element", v);
                continue;
            }
            CHECK(!strstr(v, "://"), "index.html: external reference %s", v);
            url_decode(v, dec, sizeof dec);
            char path[4200];
            snprintf(path, sizeof path, "%s/%s", fig_dir, dec);
            CHECK(file_exists(path), "index.html references %s, which does not exist", v);
            if (a == 0) imgs++;
        }
    }
    return imgs;
}

static int csv_rows(const char *path)
{
    char *s = slurp(path, NULL);
    if (!s) return -1;
    const char *p = s;
    int rows = -1;
    for (;;) {
        char **f;
        int n = vr_csv_record(&p, &f);
        if (n <= 0) break;
        for (int i = 0; i < n; i++) free(f[i]);
        free(f);
        rows++;
    }
    free(s);
    return rows;
}

static int tbody_rows(const char *html)
{
    const char *b = strstr(html, "<tbody>"), *e = b ? strstr(b, "</tbody>") : NULL;
    if (!e) return -1;
    int n = 0;
    for (const char *p = b; (p = strstr(p, "<tr>")) && p < e; p += 4) n++;
    return n;
}

/* ---- data files against run.h5 and summary.csv ----------------------------- */

static double last_of(const char *h5, const char *name)
{
    size_t n = 0;
    vr_err err;
    if (vr_run_file_count(h5, name, &n, &err) || !n) return NAN;
    double *v = malloc(n * sizeof *v);
    double r = NAN;
    if (v && !vr_run_file_read(h5, name, VR_DT_F64, v, n, &err)) r = v[n - 1];
    free(v);
    return r;
}

static double rel_tol(double x, double rel) { return fmax(1e-9, fabs(x) * rel); }

/* rate_distortion.dat block 0 (run_id distortion rate) against each run's
 * last /eval/test_recon and /eval/test_kl; returns the rows. */
static int check_rate_distortion(const char *data_dir, const char *res)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/rate_distortion.dat", data_dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s missing", path);
    if (!f) return 0;
    char line[1024];
    int rows = 0, blank = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (line[0] == '\n') { if (++blank == 2) break; continue; }
        char id[512];
        double D, R;
        CHECK(sscanf(line, "%511s %lf %lf", id, &D, &R) == 3, "bad row: %s", line);
        char h5[4200];
        snprintf(h5, sizeof h5, "%s/runs/%s/run.h5", res, id);
        char status[32] = "";
        vr_err err;
        vr_run_file_status(h5, status, sizeof status, &err);
        CHECK(!strcmp(status, "done"), "%s is in the rate-distortion data but is %s", id, status);
        double recon = last_of(h5, "/eval/test_recon"), kl = last_of(h5, "/eval/test_kl");
        CHECK_NEAR(D, -recon, rel_tol(recon, 1e-8), "distortion = -test_recon");
        CHECK_NEAR(R, kl, rel_tol(kl, 1e-8), "rate = test_kl");
        rows++;
    }
    fclose(f);
    return rows;
}

/* final-test_elbo-vs-variant.dat: each run's value against summary.csv's
 * test_elbo, its x against the variant's position, and each mean/min/max/n
 * against the runs of its line at that x. */
static void check_final_vs_variant(const char *data_dir, const char *res)
{
    vr_sweep_data d;
    vr_err err;
    CHECK(vr_sweep_data_load(res, &d, &err) == 0, "load: %s", err.msg);
    int col = -1;
    for (int j = 0; j < d.n_cols; j++)
        if (!strcmp(d.header[j], "test_elbo")) col = j;
    CHECK(col >= 0, "summary.csv has no test_elbo column");
    char path[4200];
    snprintf(path, sizeof path, "%s/final-test_elbo-vs-variant.dat", data_dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s missing", path);
    if (!f || col < 0) { if (f) fclose(f); vr_sweep_data_free(&d); return; }
    /* lines come as a means block then a runs block */
    enum { MAXR = 64 };
    double mx[MAXR], mmean[MAXR], mmin[MAXR], mmax[MAXR];
    int mn_[MAXR], nm = 0;
    double rx[MAXR], rv[MAXR];
    int nr = 0, in_runs = 0, seen_runs = 0, checked_means = 0;
    char line[1024];
    for (;;) {
        char *got = fgets(line, sizeof line, f);
        if (!got || (line[0] == '#' && strstr(line, ": x mean"))) {
            /* a block pair ended: check its means against its runs */
            for (int i = 0; i < nm; i++) {
                double s = 0, lo = INFINITY, hi = -INFINITY;
                int n = 0;
                for (int k = 0; k < nr; k++)
                    if (rx[k] == mx[i]) { s += rv[k]; lo = fmin(lo, rv[k]); hi = fmax(hi, rv[k]); n++; }
                CHECK(n == mn_[i], "line mean at x=%g: n %d, runs %d", mx[i], mn_[i], n);
                if (n) {
                    CHECK_NEAR(mmean[i], s / n, 1e-6, "mean over seeds");
                    CHECK_NEAR(mmin[i], lo, 1e-6, "min over seeds");
                    CHECK_NEAR(mmax[i], hi, 1e-6, "max over seeds");
                    checked_means++;
                }
            }
            nm = nr = 0;
            in_runs = 0;
            if (!got) break;
            continue;
        }
        if (line[0] == '#') { in_runs = strstr(line, "runs:") != NULL; continue; }
        if (line[0] == '\n') continue;
        if (!in_runs) {
            double x, mean, lo, hi, sd, xp;
            int n;
            unsigned c;
            CHECK(sscanf(line, "%lf %lf %lf %lf %lf %d %u %lf", &x, &mean, &lo, &hi, &sd, &n, &c, &xp) == 8,
                  "bad means row: %s", line);
            if (nm < MAXR) { mx[nm] = x; mmean[nm] = mean; mmin[nm] = lo; mmax[nm] = hi; mn_[nm] = n; nm++; }
        } else {
            double x, v, xp;
            unsigned c;
            char id[512];
            CHECK(sscanf(line, "%lf %lf %u %lf %511s", &x, &v, &c, &xp, id) == 5, "bad runs row: %s", line);
            int found = 0;
            for (int i = 0; i < d.n_runs; i++) {
                vr_sweep_run *r = &d.runs[i];
                if (strcmp(r->id, id)) continue;
                found = 1;
                CHECK(!strcmp(r->status, "done"), "%s (%s) plotted", id, r->status);
                double sv = strtod(r->cells[col], NULL);
                CHECK_NEAR(v, sv, rel_tol(sv, 2e-6), "test_elbo against summary.csv");
                CHECK(x == vr_sweep_level(r, VR_FACTOR_VARIANT), "%s: x %g is not its variant's position %d",
                      id, x, vr_sweep_level(r, VR_FACTOR_VARIANT));
            }
            CHECK(found, "%s is not in summary.csv", id);
            if (nr < MAXR) { rx[nr] = x; rv[nr] = v; nr++; }
            seen_runs++;
        }
    }
    fclose(f);
    int done = 0;
    for (int i = 0; i < d.n_runs; i++) done += !strcmp(d.runs[i].status, "done");
    CHECK(seen_runs == done, "final-test_elbo-vs-variant.dat has %d runs, %d are done", seen_runs, done);
    CHECK(checked_means == 6, "%d means checked, expected 3 variants x 2 latent sizes", checked_means);
    vr_sweep_data_free(&d);
}

/* overlay-kl.dat: each run's block against its /metrics/step and /metrics/kl. */
static void check_overlay_kl(const char *data_dir, const char *res)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/overlay-kl.dat", data_dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s missing", path);
    if (!f) return;
    char line[1024], id[512] = "";
    double *step = NULL, *kl = NULL;
    size_t n = 0, row = 0;
    int blocks = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "# run ", 6)) {
            sscanf(line + 6, "%511[^:]", id);
            char h5[4200];
            snprintf(h5, sizeof h5, "%s/runs/%s/run.h5", res, id);
            vr_err err;
            free(step); free(kl);
            step = kl = NULL;
            n = row = 0;
            vr_run_file_count(h5, "/metrics/kl", &n, &err);
            step = malloc((n + 1) * sizeof *step);
            kl = malloc((n + 1) * sizeof *kl);
            CHECK(n > 0 && !vr_run_file_read(h5, "/metrics/step", VR_DT_F64, step, n, &err) &&
                  !vr_run_file_read(h5, "/metrics/kl", VR_DT_F64, kl, n, &err), "%s: cannot read", h5);
            blocks++;
            continue;
        }
        if (line[0] == '#') { id[0] = '\0'; continue; }
        if (line[0] == '\n' || !id[0]) continue;
        double s, v;
        CHECK(sscanf(line, "%lf %lf", &s, &v) == 2, "bad row %s", line);
        CHECK(row < n, "%s: more rows than /metrics/kl", id);
        if (row < n) {
            CHECK(s == step[row], "%s row %zu: step %g vs %g", id, row, s, step[row]);
            CHECK_NEAR(v, kl[row], rel_tol(kl[row], 1e-8), "overlay KL against /metrics/kl");
        }
        row++;
    }
    free(step);
    free(kl);
    fclose(f);
    CHECK(blocks == 12, "overlay-kl.dat has %d runs, expected the 12 done", blocks);
}

/* ---- fixtures --------------------------------------------------------------- */

static int mnist_present(void)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/data/mnist/train-images-idx3-ubyte", VR_SOURCE_DIR);
    if (file_exists(p)) return 1;
    snprintf(p, sizeof p, "%s/data/mnist/train-images-idx3-ubyte.gz", VR_SOURCE_DIR);
    return file_exists(p);
}

static void test_csv(void)
{
    const char *text = "a,\"b,c\",\"say \"\"hi\"\"\",\r\nx,y\n";
    const char *p = text;
    char **f;
    int n = vr_csv_record(&p, &f);
    CHECK(n == 4, "fields %d", n);
    if (n == 4) {
        CHECK(!strcmp(f[0], "a") && !strcmp(f[1], "b,c") && !strcmp(f[2], "say \"hi\"") && !f[3][0],
              "fields: %s|%s|%s|%s", f[0], f[1], f[2], f[3]);
    }
    for (int i = 0; i < n; i++) free(f[i]);
    free(f);
    n = vr_csv_record(&p, &f);
    CHECK(n == 2 && !strcmp(f[1], "y"), "second record");
    for (int i = 0; i < n; i++) free(f[i]);
    free(f);
    CHECK(vr_csv_record(&p, &f) == 0, "end of text");
}

static void test_errors(const char *tmp)
{
    vr_err err;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/empty", tmp);
    mkdir(dir, 0777);
    if (vr_gnuplot_available()) {
        CHECK(vr_plot_sweep(dir, &err) == -1 && strstr(err.msg, "summary.csv"),
              "no summary.csv: %s", err.msg);
    }
    /* no gnuplot on the PATH: the message the CLI prints */
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", dir, 1);
    CHECK(vr_plot_sweep(dir, &err) == -1 && !strcmp(err.msg, VR_GNUPLOT_MISSING),
          "without gnuplot: %s", err.msg);
    if (old) { setenv("PATH", old, 1); free(old); }
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int copy_file(const char *from, const char *to)
{
    size_t n;
    char *s = slurp(from, &n);
    if (!s) return -1;
    FILE *f = fopen(to, "wb");
    int rc = f && fwrite(s, 1, n, f) == n ? 0 : -1;
    if (f) fclose(f);
    free(s);
    return rc;
}

int main(void)
{
    test_csv();
    char tmp[] = "/tmp/vaerun-unit-plot-sweep-XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    test_errors(tmp);

    const char *bin = getenv("VAERUN_BIN");
    if (!vr_gnuplot_available() || !mnist_present() || !bin) {
        fprintf(stderr, "skipped: %s\n", !bin ? "VAERUN_BIN not set" : !mnist_present()
                ? "MNIST is not in data/mnist (scripts/setup.sh fetches it)" : "no gnuplot with pngcairo");
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd)) {}
        return check_failures_ ? 1 : 77;
    }

    /* ---- a small real sweep ---- */
    char sweep[4200], cmd[16384], res[4200], fig[4300], data[4300];
    snprintf(sweep, sizeof sweep, "%s/t.yaml", tmp);
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "name: tsweep\n"
             "base: %s/configs/mnist_mlp.yaml\n"
             "data: {dir: %s/data/mnist, train: 512, test: 256}\n"
             "model: {hidden: [32]}\n"
             "train: {steps: 60, batch: 32, log_every: 10, eval_every: 20}\n"
             "eval: {iwae_samples: 3, iwae_images: 64}\n"
             "variants:\n"
             "  elbo: {objective: {kind: elbo}}\n"
             "  anneal: {objective: {kind: anneal, anneal: {start: 0, end: 1, steps: 40}}}\n"
             "  geco: {objective: {kind: geco, geco: {target: -200, lr: 1.0e-2, init: 1}}}\n"
             "grid:\n"
             "  model.latent: [1, 25]\n"
             "seeds: [0, 1, 2]\n",
             VR_SOURCE_DIR, VR_SOURCE_DIR);
    CHECK(write_file(sweep, yaml) == 0, "cannot write %s", sweep);
    snprintf(cmd, sizeof cmd,
             "'%s' --quiet --no-plot --jobs 2 --out '%s/out' --debug-nan 2:15 '%s' > '%s/train.log' 2>&1",
             bin, tmp, sweep, tmp);
    int st = system(cmd);
    snprintf(res, sizeof res, "%s/out/tsweep", tmp);
    snprintf(fig, sizeof fig, "%s/figures", res);
    snprintf(data, sizeof data, "%s/data", tmp);
    char summary[4300];
    snprintf(summary, sizeof summary, "%s/summary.csv", res);
    CHECK(csv_rows(summary) == 18, "training failed (status %d), see %s/train.log", st, tmp);
    if (csv_rows(summary) != 18) return check_result();

    vr_err err;
    /* the blank check itself: an empty chart fails it, a drawn one passes */
    char blank[4400], gpb[8800];
    snprintf(blank, sizeof blank, "%s/blank.png", tmp);
    snprintf(gpb, sizeof gpb,
             "set terminal pngcairo size 400,300\nset output '%s'\nunset border\nunset tics\n"
             "set xrange [0:1]\nset yrange [0:1]\nplot 5 notitle\nset output\n", blank);
    png_stats bst;
    CHECK(vr_gnuplot(gpb, &err) == 0 && png_read(blank, 400, &bst) == 0, "blank PNG: %s", err.msg);
    CHECK(bst.w == 400 && bst.h == 300 && bst.sd < 12 && bst.coloured == 0,
          "an empty chart passes as drawn (%dx%d, sd %.2f, %ld coloured)", bst.w, bst.h, bst.sd, bst.coloured);
    snprintf(gpb, sizeof gpb,
             "set terminal pngcairo size 400,300\nset output '%s'\nplot sin(x) lw 3 lc rgb '#1f77b4'\n"
             "set output\n", blank);
    CHECK(vr_gnuplot(gpb, &err) == 0 && png_read(blank, 400, &bst) == 0, "sine PNG: %s", err.msg);
    CHECK(bst.sd > 12 && bst.coloured >= 100, "a drawn chart fails the check (sd %.2f, %ld coloured)", bst.sd,
          bst.coloured);

    vr_sweep_plot_opts o = {data};
    int rc = vr_plot_sweep_opts(res, &o, &err);
    CHECK(rc == 0, "vr_plot_sweep: %s", err.msg);

    /* every sweep-level figure this sweep calls for */
    const char *two_panel[] = {"sweep-overlay-kl.png", "sweep-overlay-recon.png",
                               "sweep-overlay-kl_weight.png", "sweep-overlay-multiplier.png",
                               "sweep-overlay-test_elbo.png"};
    for (size_t i = 0; i < sizeof two_panel / sizeof *two_panel; i++) check_png(fig, data, two_panel[i], 2);
    const char *metrics[] = {"test_elbo", "test_recon", "test_kl", "test_iwae"};
    const char *keys[] = {"variant", "model.latent"};
    char name[256];
    for (int m = 0; m < 4; m++)
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "sweep-%s-vs-%s.png", metrics[m], keys[k]);
            check_png(fig, data, name, 1);
        }
    check_png(fig, data, "sweep-rate-distortion.png", 1);

    /* model.latent 1..25 spans more than 20x: log x-axis; the variants are categories */
    char gp[4300];
    snprintf(gp, sizeof gp, "%s/sweep-test_kl-vs-model.latent.gp", data);
    char *script = slurp(gp, NULL);
    CHECK(script && strstr(script, "set logscale x"), "latent 1..25: no log x-axis");
    free(script);
    snprintf(gp, sizeof gp, "%s/sweep-test_kl-vs-variant.gp", data);
    script = slurp(gp, NULL);
    CHECK(script && strstr(script, "'elbo' 0, 'anneal' 1, 'geco' 2"), "variant tics in file order");
    free(script);

    /* index.html */
    char idx[4400];
    snprintf(idx, sizeof idx, "%s/index.html", fig);
    char *html = slurp(idx, NULL);
    CHECK(html != NULL, "index.html missing");
    if (html) {
        int imgs = check_links(html, fig);
        CHECK(imgs >= 14, "index.html shows %d images, expected at least the 14 sweep figures", imgs);
        for (size_t i = 0; i < sizeof two_panel / sizeof *two_panel; i++) {
            snprintf(name, sizeof name, "src=\"%s\"", two_panel[i]);
            CHECK(strstr(html, name), "index.html does not show %s", two_panel[i]);
        }
        CHECK(strstr(html, "src=\"sweep-rate-distortion.png\""), "no rate-distortion figure");
        CHECK(tbody_rows(html) == 18, "summary table: %d rows, expected 18", tbody_rows(html));
        CHECK(count_str(html, "<section id=\"run-") == 18, "a section per run");
        CHECK(count_str(html, "<details>") == 18, "a spec per run: %d", count_str(html, "<details>"));
        CHECK(strstr(html, "geco-latent25-seed2") && strstr(html, "loss is NaN"),
              "the failed run and its message");
        CHECK(strstr(html, "kind: geco"), "the specs' YAML");
        /* sweep figures come before the runs' */
        const char *sw = strstr(html, "sweep-overlay-kl.png"), *runs = strstr(html, "<h2 id=\"runs\">");
        CHECK(sw && runs && sw < runs, "sweep figures first");
        free(html);
    }

    /* the data behind the figures */
    CHECK(check_rate_distortion(data, res) == 12, "rate-distortion: one row per done run (12)");
    check_final_vs_variant(data, res);
    check_overlay_kl(data, res);

    /* drawing again replaces the figures and leaves no data folder behind */
    CHECK(vr_plot_sweep(res, &err) == 0, "second drawing: %s", err.msg);

    /* ---- a folder with no swept keys: two seeds of one spec ---- */
    char res2[4300], p[4400];
    snprintf(res2, sizeof res2, "%s/plain", tmp);
    mkdir(res2, 0777);
    snprintf(p, sizeof p, "%s/runs", res2);
    mkdir(p, 0777);
    for (int s = 0; s < 2; s++) {
        char from[4400], to[4400];
        snprintf(p, sizeof p, "%s/runs/seed%d", res2, s);
        mkdir(p, 0777);
        snprintf(from, sizeof from, "%s/runs/elbo-latent25-seed%d/run.h5", res, s);
        snprintf(to, sizeof to, "%s/runs/seed%d/run.h5", res2, s);
        CHECK(copy_file(from, to) == 0, "copy %s", from);
    }
    snprintf(p, sizeof p, "%s/summary.csv", res2);
    write_file(p, "run_id,variant,seed,status,wall_s,loss,elbo,recon,kl,test_elbo,test_iwae,message\n"
                  "seed0,,0,done,1,1,1,1,1,1,1,\nseed1,,1,done,1,1,1,1,1,1,1,\n");
    char data2[4400], fig2[4400];
    snprintf(data2, sizeof data2, "%s/data2", tmp);
    snprintf(fig2, sizeof fig2, "%s/figures", res2);
    vr_sweep_plot_opts o2 = {data2};
    CHECK(vr_plot_sweep_opts(res2, &o2, &err) == 0, "plain: %s", err.msg);
    check_png(fig2, data2, "sweep-overlay-kl.png", 1);
    check_png(fig2, data2, "sweep-overlay-test_elbo.png", 1);
    check_png(fig2, data2, "sweep-rate-distortion.png", 1);
    snprintf(p, sizeof p, "%s/sweep-overlay-multiplier.png", fig2);
    CHECK(!file_exists(p), "no multiplier figure without GECO");
    snprintf(p, sizeof p, "%s/sweep-overlay-kl_weight.png", fig2);
    CHECK(!file_exists(p), "no KL weight figure when it is constant");
    snprintf(p, sizeof p, "%s/sweep-test_elbo-vs-variant.png", fig2);
    CHECK(!file_exists(p), "nothing against a variant that does not vary");
    snprintf(p, sizeof p, "%s/index.html", fig2);
    html = slurp(p, NULL);
    CHECK(html && tbody_rows(html) == 2, "plain: summary table");
    if (html) check_links(html, fig2);
    free(html);

    int failed = check_failures_;
    if (!failed) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd)) {}
    } else {
        fprintf(stderr, "kept %s for inspection\n", tmp);
    }
    return check_result();
}
