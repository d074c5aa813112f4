/* gnuplot.c: running gnuplot, temporary data folders, the figure list. */
#include "plot.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int vr_figures_add(vr_figure_list *l, const char *file, const char *caption, const char *run_id)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        vr_figure *p = realloc(l->items, sizeof *p * (size_t)cap);
        if (!p) return -1;
        l->items = p;
        l->cap = cap;
    }
    vr_figure *f = &l->items[l->n++];
    snprintf(f->file, sizeof f->file, "%s", file);
    snprintf(f->caption, sizeof f->caption, "%s", caption);
    snprintf(f->run_id, sizeof f->run_id, "%s", run_id ? run_id : "");
    return 0;
}

void vr_figures_free(vr_figure_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

int vr_gnuplot_available(void)
{
    FILE *p = popen("gnuplot -e 'set terminal' 2>&1", "r");
    if (!p) return 0;
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, p))
        if (strstr(line, "pngcairo")) found = 1;
    return pclose(p) == 0 && found;
}

int vr_gnuplot(const char *script, vr_err *err)
{
    char tmp[] = "/tmp/vaerun-gp-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return vr_fail(err, "gnuplot: cannot create a temporary file: %s", strerror(errno));
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "gnuplot 2>%s", tmp);
    FILE *p = popen(cmd, "w");
    if (!p) {
        unlink(tmp);
        return vr_fail(err, "gnuplot: cannot start: %s", strerror(errno));
    }
    fputs(script, p);
    int status = pclose(p);
    int rc = 0;
    if (status != 0) {
        char msg[VR_ERR_MAX / 2] = "";
        FILE *e = fopen(tmp, "r");
        if (e) {
            size_t n = fread(msg, 1, sizeof msg - 1, e);
            msg[n] = '\0';
            fclose(e);
        }
        for (char *c = msg; *c; c++)
            if (*c == '\n') *c = ' ';
        rc = vr_fail(err, "gnuplot failed (status %d): %s", status, msg);
    }
    unlink(tmp);
    return rc;
}

int vr_plot_tmpdir(char *buf, size_t cap, vr_err *err)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, cap, "%s/vaerun-plot-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf)) return vr_fail(err, "%s: cannot create: %s", buf, strerror(errno));
    return 0;
}

void vr_rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}
