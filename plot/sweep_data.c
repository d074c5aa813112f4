/* sweep_data.c: see sweep_data.h. */
#include "sweep_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runner/run_file.h"

const char *const vr_sw_metric_names[VR_M_COUNT] = {"step", "loss", "elbo", "recon", "kl",
                                                  "kl_weight", "multiplier"};
const char *const vr_sw_eval_names[VR_E_COUNT] = {"step", "test_elbo", "test_recon", "test_kl",
                                               "test_iwae"};

static char *read_text(const char *path, vr_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        vr_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    while (s) {
        if (n + 1 >= cap) {
            char *t = realloc(s, cap *= 2);
            if (!t) { free(s); s = NULL; break; }
            s = t;
        }
        size_t k = fread(s + n, 1, cap - n - 1, f);
        if (k == 0) break;
        n += k;
    }
    int bad = ferror(f);
    fclose(f);
    if (!s) { vr_fail(err, "%s: out of memory", path); return NULL; }
    if (bad) { free(s); vr_fail(err, "%s: cannot read", path); return NULL; }
    s[n] = '\0';
    return s;
}

int vr_csv_record(const char **pp, char ***fields)
{
    const char *p = *pp;
    *fields = NULL;
    if (!*p) return 0;
    int n = 0, cap = 0;
    char **f = NULL;
    for (;;) {
        size_t bcap = 64, bn = 0;
        char *b = malloc(bcap);
        if (!b) goto oom;
        int quoted = *p == '"';
        if (quoted) p++;
        for (;;) {
            char c = *p;
            if (!c) break;
            if (quoted) {
                if (c == '"') {
                    if (p[1] == '"') { p += 2; c = '"'; }
                    else { p++; quoted = 0; continue; }
                } else {
                    p++;
                }
            } else {
                if (c == ',' || c == '\n' || c == '\r') break;
                p++;
            }
            if (bn + 2 > bcap) {
                char *t = realloc(b, bcap *= 2);
                if (!t) { free(b); goto oom; }
                b = t;
            }
            b[bn++] = c;
        }
        b[bn] = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **t = realloc(f, sizeof *t * (size_t)cap);
            if (!t) { free(b); goto oom; }
            f = t;
        }
        f[n++] = b;
        if (*p == ',') { p++; continue; }
        if (*p == '\r') p++;
        if (*p == '\n') p++;
        break;
    }
    *pp = p;
    *fields = f;
    return n;
oom:
    for (int i = 0; i < n; i++) free(f[i]);
    free(f);
    return -1;
}

static void free_fields(char **f, int n)
{
    for (int i = 0; f && i < n; i++) free(f[i]);
    free(f);
}

/* Reads one 1-D series; NULL (and n untouched) when absent. */
static double *read_series(const char *h5, const char *group, const char *name, size_t *n,
                           vr_err *err, int *bad)
{
    char path[256];
    snprintf(path, sizeof path, "/%s/%s", group, name);
    size_t c = 0;
    if (vr_run_file_count(h5, path, &c, err)) { *bad = 1; return NULL; }
    if (c == 0) return NULL;
    double *v = malloc(sizeof *v * c);
    if (!v) { *bad = 1; vr_fail(err, "out of memory"); return NULL; }
    if (vr_run_file_read(h5, path, VR_DT_F64, v, c, err)) { free(v); *bad = 1; return NULL; }
    if (*n && *n != c) {
        /* The writer keeps a group's series the same length; guard anyway. */
        if (c < *n) *n = c;
    } else {
        *n = c;
    }
    return v;
}

static void load_run(vr_sweep_run *r)
{
    vr_err err;
    for (int i = 0; i < VR_E_COUNT; i++) r->final[i] = NAN;
    r->has_file = access(r->h5, F_OK) == 0;
    if (!r->has_file) {
        if (!strcmp(r->status, "done"))
            snprintf(r->note, sizeof r->note, "summary.csv says done but runs/%s/run.h5 is missing",
                     r->id);
        return;
    }
    char status[64] = "";
    if (vr_run_file_status(r->h5, status, sizeof status, &err)) {
        snprintf(r->note, sizeof r->note, "cannot read run.h5: %s", err.msg);
        return;
    }
    if (strcmp(status, "done")) return;
    int bad = 0;
    for (int i = 0; i < VR_M_COUNT && !bad; i++)
        r->m[i] = read_series(r->h5, "metrics", vr_sw_metric_names[i], &r->nm, &err, &bad);
    for (int i = 0; i < VR_E_COUNT && !bad; i++)
        r->e[i] = read_series(r->h5, "eval", vr_sw_eval_names[i], &r->ne, &err, &bad);
    if (bad) {
        snprintf(r->note, sizeof r->note, "cannot read run.h5: %s", err.msg);
        return;
    }
    if (!r->m[VR_M_STEP]) r->nm = 0;
    if (!r->e[VR_E_STEP]) r->ne = 0;
    for (int i = 0; i < VR_E_COUNT; i++)
        if (r->e[i] && r->ne) r->final[i] = r->e[i][r->ne - 1];
    r->done = 1;
}

/* Adds S to F's levels if new; returns its index or -1 on out of memory. */
static int add_level(vr_factor *f, const char *s)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], s)) return i;
    char **t = realloc(f->names, sizeof *t * (size_t)(f->n + 1));
    if (!t) return -1;
    f->names = t;
    if (!(f->names[f->n] = strdup(s))) return -1;
    return f->n++;
}

static int parse_number(const char *s, double *v)
{
    if (!*s) return 0;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *end == '\0' && errno == 0 && isfinite(*v);
}

static const double *g_sort_num;
static int cmp_by_num(const void *a, const void *b)
{
    double x = g_sort_num[*(const int *)a], y = g_sort_num[*(const int *)b];
    return (x > y) - (x < y);
}

/* Numeric factors are sorted by value; others keep the order of first
 * appearance (the order of the sweep file). */
static int finish_factor(vr_factor *f)
{
    f->num = malloc(sizeof *f->num * (size_t)(f->n ? f->n : 1));
    if (!f->num) return -1;
    f->numeric = f->n > 0;
    for (int i = 0; i < f->n; i++)
        if (!parse_number(f->names[i], &f->num[i])) f->numeric = 0;
    if (!f->numeric) return 0;
    int *idx = malloc(sizeof *idx * (size_t)f->n);
    char **names = malloc(sizeof *names * (size_t)f->n);
    double *num = malloc(sizeof *num * (size_t)f->n);
    if (!idx || !names || !num) { free(idx); free(names); free(num); return -1; }
    for (int i = 0; i < f->n; i++) idx[i] = i;
    g_sort_num = f->num;
    qsort(idx, (size_t)f->n, sizeof *idx, cmp_by_num);
    for (int i = 0; i < f->n; i++) { names[i] = f->names[idx[i]]; num[i] = f->num[idx[i]]; }
    free(f->names);
    free(f->num);
    free(idx);
    f->names = names;
    f->num = num;
    return 0;
}

static int level_of(const vr_factor *f, const char *s)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], s)) return i;
    return 0;
}

int vr_sweep_data_load(const char *dir, vr_sweep_data *d, vr_err *err)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    size_t len = strlen(d->dir);
    while (len > 1 && d->dir[len - 1] == '/') d->dir[--len] = '\0';
    const char *base = strrchr(d->dir, '/');
    snprintf(d->name, sizeof d->name, "%s", base ? base + 1 : d->dir);

    char path[4200];
    snprintf(path, sizeof path, "%s/summary.csv", d->dir);
    char *text = read_text(path, err);
    if (!text) return -1;
    const char *p = text;
    int rc = -1;
    d->n_cols = vr_csv_record(&p, &d->header);
    if (d->n_cols < 0) { vr_fail(err, "%s: out of memory", path); goto out; }
    /* run_id, variant, keys..., seed, status, wall_s, loss, elbo, recon, kl,
     * test_elbo, test_iwae, message */
    int seed_col = -1;
    for (int i = 0; i < d->n_cols; i++)
        if (!strcmp(d->header[i], "seed")) { seed_col = i; break; }
    if (d->n_cols < 5 || strcmp(d->header[0], "run_id") || strcmp(d->header[1], "variant") ||
        seed_col < 2 || seed_col + 1 >= d->n_cols || strcmp(d->header[seed_col + 1], "status")) {
        vr_fail(err, "%s: not a vaerun summary (expected the columns run_id, variant, "
                "grid keys, seed, status, ...)", path);
        goto out;
    }
    d->n_keys = seed_col - 2;
    d->keys = d->header + 2;
    for (;;) {
        char **f;
        int n = vr_csv_record(&p, &f);
        if (n < 0) { vr_fail(err, "%s: out of memory", path); goto out; }
        if (n == 0) break;
        if (n == 1 && !f[0][0]) { free_fields(f, n); continue; }  /* blank line */
        if (n != d->n_cols) {
            vr_fail(err, "%s: row %d has %d fields, the header %d", path, d->n_runs + 2, n,
                    d->n_cols);
            free_fields(f, n);
            goto out;
        }
        vr_sweep_run *t = realloc(d->runs, sizeof *t * (size_t)(d->n_runs + 1));
        if (!t) { free_fields(f, n); vr_fail(err, "out of memory"); goto out; }
        d->runs = t;
        vr_sweep_run *r = &d->runs[d->n_runs++];
        memset(r, 0, sizeof *r);
        r->cells = f;
        r->id = f[0];
        r->variant = f[1];
        r->grid = (const char **)(f + 2);
        r->seed = f[seed_col];
        r->status = f[seed_col + 1];
        snprintf(r->h5, sizeof r->h5, "%s/runs/%s/run.h5", d->dir, r->id);
        for (int i = 0; i < VR_E_COUNT; i++) r->final[i] = NAN;
    }
    d->grid = calloc((size_t)(d->n_keys ? d->n_keys : 1), sizeof *d->grid);
    if (!d->grid) { vr_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < d->n_runs; i++) {
        vr_sweep_run *r = &d->runs[i];
        if (add_level(&d->variant, r->variant) < 0) { vr_fail(err, "out of memory"); goto out; }
        for (int k = 0; k < d->n_keys; k++)
            if (add_level(&d->grid[k], r->grid[k]) < 0) { vr_fail(err, "out of memory"); goto out; }
    }
    /* Variants keep the sweep file's order, even named 1, 2, 3. */
    d->variant.num = calloc((size_t)(d->variant.n ? d->variant.n : 1), sizeof(double));
    if (!d->variant.num) { vr_fail(err, "out of memory"); goto out; }
    for (int k = 0; k < d->n_keys; k++)
        if (finish_factor(&d->grid[k])) { vr_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < d->n_runs; i++) {
        vr_sweep_run *r = &d->runs[i];
        r->level = malloc(sizeof *r->level * (size_t)(d->n_keys + 1));
        if (!r->level) { vr_fail(err, "out of memory"); goto out; }
        r->level[0] = level_of(&d->variant, r->variant);
        for (int k = 0; k < d->n_keys; k++) r->level[1 + k] = level_of(&d->grid[k], r->grid[k]);
        load_run(r);
    }
    rc = 0;
out:
    free(text);
    if (rc) vr_sweep_data_free(d);
    return rc;
}

static void free_factor(vr_factor *f)
{
    for (int i = 0; i < f->n; i++) free(f->names[i]);
    free(f->names);
    free(f->num);
}

void vr_sweep_data_free(vr_sweep_data *d)
{
    for (int i = 0; i < d->n_runs; i++) {
        vr_sweep_run *r = &d->runs[i];
        free_fields(r->cells, d->n_cols);
        free(r->level);
        for (int k = 0; k < VR_M_COUNT; k++) free(r->m[k]);
        for (int k = 0; k < VR_E_COUNT; k++) free(r->e[k]);
    }
    free(d->runs);
    free_fields(d->header, d->n_cols);
    free_factor(&d->variant);
    for (int k = 0; d->grid && k < d->n_keys; k++) free_factor(&d->grid[k]);
    free(d->grid);
    memset(d, 0, sizeof *d);
}

const vr_factor *vr_sweep_factor(const vr_sweep_data *d, int f)
{
    return f == VR_FACTOR_VARIANT ? &d->variant : &d->grid[f];
}

int vr_sweep_level(const vr_sweep_run *r, int f)
{
    return r->level[f == VR_FACTOR_VARIANT ? 0 : 1 + f];
}

const char *vr_sweep_factor_short(const vr_sweep_data *d, int f)
{
    if (f == VR_FACTOR_VARIANT) return "variant";
    const char *k = d->keys[f], *dot = strrchr(k, '.');
    return dot ? dot + 1 : k;
}
