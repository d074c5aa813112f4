/* summary.c: see summary.h. */
#include "summary.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "run_file.h"

void vr_run_path(const char *dir, const vr_run_item *run, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/runs/%s/run.h5", dir, run->id);
}

/* The last value of dataset NAME in PATH, NaN if absent or empty. */
static double last_value(const char *path, const char *name)
{
    size_t n = 0;
    vr_err err;
    if (vr_run_file_count(path, name, &n, &err) || n == 0) return NAN;
    double *buf = malloc(sizeof(double) * n), v = NAN;
    if (buf && vr_run_file_read(path, name, VR_DT_F64, buf, n, &err) == 0) v = buf[n - 1];
    free(buf);
    return v;
}

/* CSV field: quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s, int last)
{
    if (strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"') fputc('"', f);
            fputc(*s == '\n' ? ' ' : *s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static void csv_number(FILE *f, double v)
{
    if (isnan(v)) fputs(",", f); else fprintf(f, "%.6g,", v);
}

static void write_header(FILE *f, const vr_sweep *sw)
{
    fputs("run_id,variant,", f);
    for (int k = 0; sw->n_runs && k < sw->runs[0].n_swept; k++)
        fprintf(f, "%s,", sw->runs[0].swept[k].key);
    fputs("seed,status,wall_s,loss,elbo,recon,kl,test_elbo,test_iwae,message\n", f);
}

static void write_row(FILE *f, const char *dir, const vr_run_item *r, const char *override)
{
    char path[2 * VR_PATH_MAX], status[64] = "", msg[VR_ERR_MAX] = "";
    vr_err err;
    vr_run_path(dir, r, path, sizeof path);
    int exists = access(path, F_OK) == 0;
    if (exists && vr_run_file_status(path, status, sizeof status, &err))
        snprintf(status, sizeof status, "unreadable");
    if (exists) vr_run_file_attr(path, "message", msg, sizeof msg, &err);
    if (!exists) snprintf(status, sizeof status, "queued");
    csv_field(f, r->id, 0);
    csv_field(f, r->variant, 0);
    for (int k = 0; k < r->n_swept; k++) csv_field(f, r->swept[k].value, 0);
    fprintf(f, "%ld,", r->spec.seed);
    csv_field(f, override ? override : status, 0);
    const char *names[] = {"/metrics/wall_s", "/metrics/loss", "/metrics/elbo", "/metrics/recon",
                           "/metrics/kl", "/eval/test_elbo", "/eval/test_iwae"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        csv_number(f, exists ? last_value(path, names[i]) : NAN);
    csv_field(f, msg, 1);
}

int vr_summary_refresh(vr_summary *s, int i, const char *status, vr_err *err)
{
    char *line = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&line, &len);
    if (!f) return vr_fail(err, "summary: out of memory");
    write_row(f, s->dir, &s->sw->runs[i], status);
    if (fclose(f) != 0) {
        free(line);
        return vr_fail(err, "summary: out of memory");
    }
    free(s->rows[i]);
    s->rows[i] = line;
    return 0;
}

int vr_summary_init(vr_summary *s, const char *dir, const vr_sweep *sw, vr_err *err)
{
    s->dir = dir;
    s->sw = sw;
    s->rows = calloc((size_t)sw->n_runs, sizeof *s->rows);
    if (!s->rows) return vr_fail(err, "summary: out of memory");
    for (int i = 0; i < sw->n_runs; i++)
        if (vr_summary_refresh(s, i, NULL, err)) return -1;
    return 0;
}

void vr_summary_free(vr_summary *s)
{
    for (int i = 0; s->rows && i < s->sw->n_runs; i++) free(s->rows[i]);
    free(s->rows);
    s->rows = NULL;
}

int vr_summary_write(const vr_summary *s, vr_err *err)
{
    char path[VR_PATH_MAX + 32], tmp[VR_PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/summary.csv", s->dir);
    snprintf(tmp, sizeof tmp, "%s/summary.csv.tmp", s->dir);
    FILE *f = fopen(tmp, "w");
    if (!f) return vr_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    write_header(f, s->sw);
    for (int i = 0; i < s->sw->n_runs; i++) fputs(s->rows[i], f);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vr_fail(err, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}
