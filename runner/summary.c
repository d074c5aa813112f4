/* summary.c: see summary.h. */
#include "summary.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
    if (vr_run_file_count(path, name, &n, &err) || n == 0 || n > 1000000) return NAN;
    double buf[n];  /* series are at most steps / log_every + 2 long */
    if (vr_run_file_read(path, name, VR_DT_F64, buf, n, &err)) return NAN;
    return buf[n - 1];
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

int vr_summary_write(const char *dir, const vr_sweep *sw, const char *const *status_override,
                     vr_err *err)
{
    char path[VR_PATH_MAX + 32], tmp[VR_PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    snprintf(tmp, sizeof tmp, "%s/summary.csv.tmp", dir);
    FILE *f = fopen(tmp, "w");
    if (!f) return vr_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    write_header(f, sw);
    for (int i = 0; i < sw->n_runs; i++)
        write_row(f, dir, &sw->runs[i], status_override ? status_override[i] : NULL);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return vr_fail(err, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}
