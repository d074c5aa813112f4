/* run_data.c: reading run.h5 for the per-run figures, the PCA of the latent
 * means, and the data files gnuplot draws from (run_data.h). */
#include "run_data.h"

#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/run_file.h"

/* ---- run.h5 ------------------------------------------------------------------ */

/* The shape of dataset PATH: rank (0 when absent), -1 on error. run_file.h
 * gives element counts only, so the shape comes from the HDF5 C API. */
static int dataset_dims(const char *h5, const char *path, size_t dims[4], vr_err *err)
{
    H5E_auto2_t func;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rank = -1;
    hid_t f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        vr_fail(err, "%s: cannot open as HDF5", h5);
        goto out;
    }
    /* Every prefix must exist before H5Lexists may be asked about the next. */
    char part[512];
    rank = 0;
    for (const char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
        size_t n = p ? (size_t)(p - path) : strlen(path);
        if (n >= sizeof part) { rank = vr_fail(err, "%s: path too long", path); break; }
        memcpy(part, path, n);
        part[n] = '\0';
        if (H5Lexists(f, part, H5P_DEFAULT) <= 0) break;
        if (!p) {
            hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
            hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
            int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
            hsize_t hd[H5S_MAX_RANK];
            if (r < 0 || r > 4 || H5Sget_simple_extent_dims(sp, hd, NULL) < 0) {
                rank = vr_fail(err, "%s: %s: not a dataset of rank 0..4", h5, path);
            } else {
                rank = r;
                for (int i = 0; i < r; i++) dims[i] = (size_t)hd[i];
            }
            if (sp >= 0) H5Sclose(sp);
            if (d >= 0) H5Dclose(d);
            break;
        }
    }
    H5Fclose(f);
out:
    H5Eset_auto2(H5E_DEFAULT, func, data);
    return rank;
}

int vr_ptensor_read(const char *h5, const char *name, vr_ptensor *t, vr_err *err)
{
    memset(t, 0, sizeof *t);
    char path[300];
    if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
    else snprintf(path, sizeof path, "/tensors/%s", name);
    size_t dims[4] = {0};
    int rank = dataset_dims(h5, path, dims, err);
    if (rank < 0) return -1;
    if (rank == 0) return 1;
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    if (n == 0) return 1;
    float *v = malloc(sizeof(float) * n);
    if (!v) return vr_fail(err, "%s: out of memory for %s", h5, path);
    if (vr_run_file_read(h5, path, VR_DT_F32, v, n, err)) {
        free(v);
        return -1;
    }
    t->rank = rank;
    memcpy(t->dims, dims, sizeof dims);
    t->n = n;
    t->v = v;
    return 0;
}

void vr_ptensor_free(vr_ptensor *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

int vr_pseries_read(const char *h5, const char *path, double **v, size_t *len, vr_err *err)
{
    *v = NULL;
    *len = 0;
    size_t n;
    if (vr_run_file_count(h5, path, &n, err)) return -1;
    if (n == 0) return 0;
    double *p = malloc(sizeof(double) * n);
    if (!p) return vr_fail(err, "%s: out of memory for %s", h5, path);
    if (vr_run_file_read(h5, path, VR_DT_F64, p, n, err)) {
        free(p);
        return -1;
    }
    *v = p;
    *len = n;
    return 0;
}

/* ---- /config ----------------------------------------------------------------- */

int vr_yaml_value(const char *yaml, const char *dotted, char *buf, size_t cap)
{
    /* keys[d]: the key open at indentation level d (block style, as spec_dump
     * writes it: two spaces per level). */
    char keys[8][64];
    int indent[8], depth = 0;
    const char *line = yaml;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        int ind = 0;
        while ((size_t)ind < len && line[ind] == ' ') ind++;
        const char *colon = memchr(line + ind, ':', len - (size_t)ind);
        if (colon && line[ind] != '#' && line[ind] != '-') {
            while (depth > 0 && indent[depth - 1] >= ind) depth--;
            size_t kl = (size_t)(colon - line - ind);
            if (depth < 8 && kl < 64) {
                memcpy(keys[depth], line + ind, kl);
                keys[depth][kl] = '\0';
                indent[depth] = ind;
                depth++;
                char full[512] = "";
                for (int i = 0; i < depth; i++) {
                    if (i) strncat(full, ".", sizeof full - strlen(full) - 1);
                    strncat(full, keys[i], sizeof full - strlen(full) - 1);
                }
                if (!strcmp(full, dotted)) {
                    const char *v = colon + 1;
                    const char *ve = line + len;
                    while (v < ve && (*v == ' ' || *v == '"' || *v == '\'')) v++;
                    while (ve > v && (ve[-1] == ' ' || ve[-1] == '"' || ve[-1] == '\'' ||
                                      ve[-1] == '\r'))
                        ve--;
                    size_t vl = (size_t)(ve - v);
                    if (vl >= cap) vl = cap - 1;
                    memcpy(buf, v, vl);
                    buf[vl] = '\0';
                    return 0;
                }
            }
        }
        line = end ? end + 1 : NULL;
    }
    return -1;
}

/* ---- PCA ----------------------------------------------------------------------- */

void vr_jacobi_eigen(double *A, int L, double *w, double *V)
{
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) V[i * L + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < L; i++) {
            diag += A[i * L + i] * A[i * L + i];
            for (int j = i + 1; j < L; j++) off += A[i * L + j] * A[i * L + j];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < L; p++)
            for (int q = p + 1; q < L; q++) {
                double apq = A[p * L + q];
                if (apq == 0) continue;
                double theta = (A[q * L + q] - A[p * L + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < L; k++) {  /* A <- A J (columns p, q) */
                    double akp = A[k * L + p], akq = A[k * L + q];
                    A[k * L + p] = c * akp - s * akq;
                    A[k * L + q] = s * akp + c * akq;
                }
                for (int k = 0; k < L; k++) {  /* A <- J^T A (rows p, q) */
                    double apk = A[p * L + k], aqk = A[q * L + k];
                    A[p * L + k] = c * apk - s * aqk;
                    A[q * L + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < L; k++) {  /* V <- V J */
                    double vkp = V[k * L + p], vkq = V[k * L + q];
                    V[k * L + p] = c * vkp - s * vkq;
                    V[k * L + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < L; i++) w[i] = A[i * L + i];
}

int vr_pca2(const float *x, size_t n, int L, double *pc, double frac[2])
{
    double *mean = calloc((size_t)L, sizeof(double));
    double *C = calloc((size_t)L * L, sizeof(double));
    double *V = malloc(sizeof(double) * L * L), *w = malloc(sizeof(double) * L);
    if (!mean || !C || !V || !w || n < 2) {
        free(mean); free(C); free(V); free(w);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < L; j++) mean[j] += x[i * L + j];
    for (int j = 0; j < L; j++) mean[j] /= (double)n;
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * L;
        for (int a = 0; a < L; a++) {
            double da = r[a] - mean[a];
            for (int b = a; b < L; b++) C[a * L + b] += da * (r[b] - mean[b]);
        }
    }
    for (int a = 0; a < L; a++)
        for (int b = a; b < L; b++) C[b * L + a] = C[a * L + b] /= (double)(n - 1);
    double total = 0;
    for (int a = 0; a < L; a++) total += C[a * L + a];
    vr_jacobi_eigen(C, L, w, V);
    int i0 = 0;
    for (int i = 1; i < L; i++) if (w[i] > w[i0]) i0 = i;
    int i1 = i0 == 0 ? 1 : 0;
    for (int i = 0; i < L; i++) if (i != i0 && w[i] > w[i1]) i1 = i;
    int idx[2] = {i0, i1};
    for (int k = 0; k < 2; k++) {
        int big = 0;
        for (int j = 0; j < L; j++)
            if (fabs(V[j * L + idx[k]]) > fabs(V[big * L + idx[k]])) big = j;
        double sign = V[big * L + idx[k]] < 0 ? -1 : 1;
        for (int j = 0; j < L; j++) pc[k * L + j] = sign * V[j * L + idx[k]];
        frac[k] = total > 0 ? w[idx[k]] / total : 0;
    }
    free(mean); free(C); free(V); free(w);
    return 0;
}

/* ---- data files -------------------------------------------------------------- */

int vr_write_grid(const char *path, const vr_ptensor *t, int rows, int cols, int gap,
                  vr_err *err)
{
    /* [n, c, h, w] tiles, or one [c, h, w] tile; channel 0 is drawn. */
    size_t n, c, h, w;
    if (t->rank == 4) { n = t->dims[0]; c = t->dims[1]; h = t->dims[2]; w = t->dims[3]; }
    else if (t->rank == 3) { n = 1; c = t->dims[0]; h = t->dims[1]; w = t->dims[2]; }
    else return vr_fail(err, "%s: an image grid needs a tensor of rank 3 or 4", path);
    FILE *f = fopen(path, "w");
    if (!f) return vr_fail(err, "%s: cannot create", path);
    size_t H = rows * (h + gap) - gap, W = cols * (w + gap) - gap;
    for (size_t y = 0; y < H; y++) {
        size_t r = y / (h + gap), py = y % (h + gap);
        for (size_t x = 0; x < W; x++) {
            size_t col = x / (w + gap), px = x % (w + gap);
            size_t k = r * cols + col;
            if (x) fputc(' ', f);
            if (py >= h || px >= w || k >= n) fputs("NaN", f);
            else fprintf(f, "%.7g", (double)t->v[((k * c) * h + py) * w + px]);
        }
        fputc('\n', f);
    }
    if (fclose(f)) return vr_fail(err, "%s: write failed", path);
    return 0;
}

int vr_write_hist2d(const char *path, const vr_ptensor *pts, double lo, double hi, int B,
                    vr_err *err)
{
    size_t n = pts->dims[0];
    double *cnt = calloc((size_t)B * B, sizeof(double));
    if (!cnt) return vr_fail(err, "out of memory for a histogram");
    double bw = (hi - lo) / B;
    for (size_t i = 0; i < n; i++) {
        double x = pts->v[2 * i], y = pts->v[2 * i + 1];
        int bx = (int)floor((x - lo) / bw), by = (int)floor((y - lo) / bw);
        if (bx >= 0 && bx < B && by >= 0 && by < B) cnt[by * B + bx] += 1;
    }
    FILE *f = fopen(path, "w");
    if (!f) { free(cnt); return vr_fail(err, "%s: cannot create", path); }
    for (int by = 0; by < B; by++) {
        for (int bx = 0; bx < B; bx++)
            fprintf(f, "%s%.6g", bx ? " " : "", cnt[by * B + bx] / ((double)n * bw * bw));
        fputc('\n', f);
    }
    free(cnt);
    if (fclose(f)) return vr_fail(err, "%s: write failed", path);
    return 0;
}

/* ---- script buffer ------------------------------------------------------------- */

void vr_sb_printf(vr_sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if (b->s && b->len + (size_t)k < b->cap) { b->len += (size_t)k; return; }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)k) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p;
        b->cap = cap;
    }
}

void vr_sb_quote(vr_sbuf *b, const char *str)
{
    vr_sb_printf(b, "'");
    for (const char *p = str; *p; p++) {
        if (*p == '\'') vr_sb_printf(b, "''");
        else vr_sb_printf(b, "%c", *p);
    }
    vr_sb_printf(b, "'");
}

void vr_sb_free(vr_sbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}
