/* sweep_html.c: DIR/figures/index.html (see sweep_plot.h). */
#include "sweep_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runner/run_file.h"

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Anchors from run-ids: letters, digits, '-', '_', '.' kept, the rest '_'. */
static void anchor(FILE *f, const char *prefix, const char *id)
{
    fputs(prefix, f);
    for (; *id; id++) {
        char c = *id;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        fputc(ok ? c : '_', f);
    }
}

static int exists_in(const char *dir, const char *file)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, R_OK) == 0;
}

/* A file name as a relative URL: characters outside the safe set
 * percent-encoded. */
static void url(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("-_.~/+", c);
        if (ok) fputc(c, f); else fprintf(f, "%%%02X", c);
    }
}

static void figure(FILE *f, const char *fig_dir, const vr_figure *fig)
{
    if (!exists_in(fig_dir, fig->file)) {
        fputs("<p class=\"note\">figure ", f);
        esc(f, fig->file);
        fputs(" was not drawn</p>\n", f);
        return;
    }
    fputs("<figure><a href=\"", f);
    url(f, fig->file);
    fputs("\"><img src=\"", f);
    url(f, fig->file);
    fputs("\" alt=\"", f);
    esc(f, fig->file);
    fputs("\" loading=\"lazy\"></a><figcaption><span class=\"file\">", f);
    esc(f, fig->file);
    fputs("</span> ", f);
    esc(f, fig->caption);
    fputs("</figcaption></figure>\n", f);
}

static const char *status_class(const char *s)
{
    if (!strcmp(s, "done")) return "done";
    if (!strcmp(s, "running") || !strcmp(s, "queued")) return "pending";
    return "bad";
}

static const char css[] =
    "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:0 auto;"
    "max-width:1500px;padding:1em 2em;color:#222;line-height:1.45}\n"
    "h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\n"
    "h3{margin:1.6em 0 .3em}\n"
    "figure{display:inline-block;vertical-align:top;margin:.6em 1.2em 1.2em 0;max-width:100%}\n"
    "figure img{display:block;max-width:100%;height:auto;border:1px solid #ddd}\n"
    ".runs figure{width:520px}\n"
    "figcaption{font-size:.9em;color:#444;max-width:900px}\n"
    ".file{font-family:monospace;color:#777;margin-right:.4em}\n"
    "table{border-collapse:collapse;font-size:.85em;margin:.5em 0}\n"
    "th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;white-space:nowrap}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.msg{white-space:normal;max-width:30em}\n"
    "tr:nth-child(even){background:#f7f7f7}th{background:#eee;position:sticky;top:0}\n"
    ".tablewrap{overflow-x:auto}\n"
    ".done{color:#1a7f37}.bad{color:#c62828;font-weight:bold}.pending{color:#9a6700}\n"
    ".note{background:#fff4e5;border-left:4px solid #f0a030;padding:.3em .7em}\n"
    "details{margin:.4em 0}pre{background:#f6f8fa;padding:.7em;overflow-x:auto;font-size:.85em}\n"
    "nav ul{columns:3;font-size:.9em}\n"
    ".meta{color:#555}\n";

static int is_number(const char *s)
{
    if (!*s) return 0;
    char *end;
    strtod(s, &end);
    return *end == '\0';
}

static void write_html(FILE *f, const vr_sweep_data *d, const char *fig_dir, const vr_figure_list *figs,
                       const char *const *run_notes, const char *const *notes)
{
    int n_done = 0, n_failed = 0, n_other = 0;
    for (int i = 0; i < d->n_runs; i++) {
        const char *s = d->runs[i].status;
        if (!strcmp(s, "done")) n_done++;
        else if (!strcmp(status_class(s), "bad")) n_failed++;
        else n_other++;
    }
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    esc(f, d->name);
    fputs(": vaerun figures</title>\n<style>\n", f);
    fputs(css, f);
    fputs("</style>\n</head>\n<body>\n<h1>", f);
    esc(f, d->name);
    fputs("</h1>\n<p class=\"meta\">", f);
    fprintf(f, "%d runs: %d done, %d failed or interrupted, %d other (queued or running). "
            "Swept: ", d->n_runs, n_done, n_failed, n_other);
    int any = 0;
    if (d->variant.n > 1 || (d->variant.n == 1 && d->variant.names[0][0])) {
        fputs("variant (", f);
        for (int l = 0; l < d->variant.n; l++) {
            fputs(l ? ", " : "", f);
            esc(f, d->variant.names[l]);
        }
        fputs(")", f);
        any = 1;
    }
    for (int k = 0; k < d->n_keys; k++) {
        fputs(any ? "; " : "", f);
        any = 1;
        esc(f, d->keys[k]);
        fputs(" (", f);
        for (int l = 0; l < d->grid[k].n; l++) {
            fputs(l ? ", " : "", f);
            esc(f, d->grid[k].names[l]);
        }
        fputs(")", f);
    }
    fputs(any ? "" : "seeds only", f);
    fputs(". Drawn by vaerun " VR_VERSION " on ", f);
    esc(f, when);
    fputs(" from <a href=\"../summary.csv\">summary.csv</a> and the runs' run.h5; all values "
          "are in nats per image.</p>\n", f);
    for (int i = 0; notes && notes[i]; i++) {
        fputs("<p class=\"note\">", f);
        esc(f, notes[i]);
        fputs("</p>\n", f);
    }

    fputs("<nav><strong>Contents</strong>\n<ul>\n<li><a href=\"#sweep\">Sweep figures</a></li>\n"
          "<li><a href=\"#summary\">Summary table</a></li>\n", f);
    for (int i = 0; i < d->n_runs; i++) {
        fputs("<li><a href=\"#", f);
        anchor(f, "run-", d->runs[i].id);
        fputs("\">", f);
        esc(f, d->runs[i].id);
        fprintf(f, "</a> <span class=\"%s\">", status_class(d->runs[i].status));
        esc(f, d->runs[i].status);
        fputs("</span></li>\n", f);
    }
    fputs("</ul></nav>\n", f);

    fputs("<h2 id=\"sweep\">Sweep figures</h2>\n", f);
    int n_sweep = 0;
    for (int i = 0; i < figs->n; i++) {
        if (figs->items[i].run_id[0]) continue;
        figure(f, fig_dir, &figs->items[i]);
        n_sweep++;
    }
    if (!n_sweep)
        fputs("<p class=\"note\">No sweep figures: no run is done yet.</p>\n", f);

    fputs("<h2 id=\"summary\">Summary table</h2>\n<p class=\"meta\">Every row of "
          "<a href=\"../summary.csv\">summary.csv</a>: final training metrics (loss, elbo, recon, kl: "
          "the last logged row) and test values (the last evaluation).</p>\n"
          "<div class=\"tablewrap\"><table>\n<thead><tr>", f);
    for (int j = 0; j < d->n_cols; j++) {
        fputs("<th>", f);
        esc(f, d->header[j]);
        fputs("</th>", f);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int i = 0; i < d->n_runs; i++) {
        const vr_sweep_run *r = &d->runs[i];
        fputs("<tr>", f);
        for (int j = 0; j < d->n_cols; j++) {
            const char *v = r->cells[j];
            if (j == 0) {
                fputs("<td><a href=\"#", f);
                anchor(f, "run-", v);
                fputs("\">", f);
                esc(f, v);
                fputs("</a></td>", f);
            } else if (r->cells[j] == r->status) {
                fprintf(f, "<td class=\"%s\">", status_class(v));
                esc(f, v);
                fputs("</td>", f);
            } else if (j == d->n_cols - 1 && !strcmp(d->header[j], "message")) {
                fputs("<td class=\"msg\">", f);
                esc(f, v);
                fputs("</td>", f);
            } else {
                fputs(is_number(v) ? "<td class=\"num\">" : "<td>", f);
                esc(f, v);
                fputs("</td>", f);
            }
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody>\n</table></div>\n", f);

    fputs("<h2 id=\"runs\">Runs</h2>\n<div class=\"runs\">\n", f);
    for (int i = 0; i < d->n_runs; i++) {
        const vr_sweep_run *r = &d->runs[i];
        fputs("<section id=\"", f);
        anchor(f, "run-", r->id);
        fputs("\">\n<h3>", f);
        esc(f, r->id);
        fputs("</h3>\n<p class=\"meta\">", f);
        if (r->variant[0]) {
            fputs("variant <strong>", f);
            esc(f, r->variant);
            fputs("</strong>, ", f);
        }
        for (int k = 0; k < d->n_keys; k++) {
            esc(f, d->keys[k]);
            fputs(" = <strong>", f);
            esc(f, r->grid[k]);
            fputs("</strong>, ", f);
        }
        fputs("seed ", f);
        esc(f, r->seed);
        fprintf(f, "; status <span class=\"%s\">", status_class(r->status));
        esc(f, r->status);
        fputs("</span>", f);
        char rel[4400];
        snprintf(rel, sizeof rel, "../runs/%s/run.h5", r->id);
        if (r->has_file && exists_in(fig_dir, rel)) {
            fputs("; <a href=\"", f);
            url(f, rel);
            fputs("\">run.h5</a>", f);
        }
        fputs("</p>\n", f);
        const char *msg = r->cells[d->n_cols - 1];
        if (msg[0] && !strcmp(d->header[d->n_cols - 1], "message")) {
            fputs("<p class=\"note\">", f);
            esc(f, msg);
            fputs("</p>\n", f);
        }
        if (run_notes && run_notes[i]) {
            fputs("<p class=\"note\">", f);
            esc(f, run_notes[i]);
            fputs("</p>\n", f);
        }
        int nf = 0;
        for (int j = 0; j < figs->n; j++) {
            if (strcmp(figs->items[j].run_id, r->id)) continue;
            figure(f, fig_dir, &figs->items[j]);
            nf++;
        }
        if (!nf && !(run_notes && run_notes[i]) && !r->done)
            fputs("<p class=\"meta\">No figures: the run is not done.</p>\n", f);
        char *yaml = NULL;
        vr_err e;
        if (r->has_file && !vr_run_file_config(r->h5, &yaml, &e)) {
            fputs("<details><summary>spec (/config of run.h5)</summary>\n<pre>", f);
            esc(f, yaml);
            fputs("</pre></details>\n", f);
        }
        free(yaml);
        fputs("</section>\n", f);
    }
    fputs("</div>\n</body>\n</html>\n", f);
}

int vr_sweep_index_write(const vr_sweep_data *d, const char *fig_dir, const vr_figure_list *figs,
                         const char *const *run_notes, const char *const *notes, vr_err *err)
{
    char path[4400], tmp[4400];
    snprintf(path, sizeof path, "%s/index.html", fig_dir);
    snprintf(tmp, sizeof tmp, "%s/index.html.tmp", fig_dir);
    FILE *f = fopen(tmp, "w");
    if (!f) return vr_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    write_html(f, d, fig_dir, figs, run_notes, notes);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return vr_fail(err, "%s: cannot write: %s", path, strerror(e));
    }
    return 0;
}
