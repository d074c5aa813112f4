/* progress.c: see progress.h. */
#include "progress.h"

#include <string.h>
#include <unistd.h>

void vr_progress_init(vr_progress_display *d, FILE *out, int quiet, const char *label)
{
    memset(d, 0, sizeof *d);
    d->out = out;
    d->tty = isatty(fileno(out));
    d->quiet = quiet;
    d->first_step = -1;
    snprintf(d->label, sizeof d->label, "%s", label);
}

static void format_eta(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e7) { snprintf(buf, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

void vr_progress_show(void *user, const vr_progress *p)
{
    vr_progress_display *d = user;
    if (d->quiet) return;
    if (d->first_step < 0) { d->first_step = p->step; d->first_wall = p->wall_s; }
    if (p->is_eval) {
        fprintf(d->out, "%s%s  step %ld  test ELBO %.2f nats\n", d->tty ? "\r\033[K" : "",
                d->label, p->step, p->test_elbo);
        fflush(d->out);
        return;
    }
    double dt = p->wall_s - d->first_wall;
    double rate = dt > 0 ? (p->step - d->first_step) / dt : 0;
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 ? (p->steps - p->step) / rate : -1);
    fprintf(d->out, "%s%s  step %ld/%ld  loss %.2f  recon %.2f  kl %.2f  %.1f steps/s  ETA %s%s",
            d->tty ? "\r\033[K" : "", d->label, p->step, p->steps, p->loss, p->recon, p->kl,
            rate, eta, d->tty ? "" : "\n");
    fflush(d->out);
}

void vr_progress_finish(vr_progress_display *d, const char *msg)
{
    if (d->quiet && !msg) return;
    fprintf(d->out, "%s%s  %s\n", d->tty ? "\r\033[K" : "", d->label, msg ? msg : "");
    fflush(d->out);
}
