/* schedule.c: see schedule.h. The sweep's set-up (results folder, lock,
 * the runs to do, the shared dataset, summary.csv); sched_loop.c runs them. */
#include "schedule.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_file.h"
#include "sched_internal.h"

#define MAX_JOBS 64

/* ---- the results folder ---------------------------------------------------- */

static int mkdir_p(const char *dir, vr_err *err)
{
    char buf[VR_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char keep = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return vr_fail(err, "%s: cannot create: %s", buf, strerror(errno));
            struct stat st;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return vr_fail(err, "%s: not a directory", buf);
            *p = keep;
            if (!keep) break;
        }
    }
    return 0;
}

/* Holds DIR/.lock for the life of the process; returns its fd. */
static int take_lock(const char *dir, vr_err *err)
{
    char path[VR_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return vr_fail(err, "%s: cannot create: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        close(fd);
        return vr_fail(err, "%s: another vaerun (pid %s) is running this sweep; wait for it "
                       "to finish or stop it (its runs resume where they stopped)", dir,
                       pid[0] ? strtok(pid, "\n") : "?");
    }
    char me[32];
    int n = snprintf(me, sizeof me, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me, (size_t)n, 0) != n) { /* the pid is a courtesy */ }
    return fd;  /* stays open: the lock lives as long as we do */
}

/* ---- the runs to do ------------------------------------------------------- */

/* 1 when run IDX is to be trained, 0 when it is done (or failed, without
 * --retry-failed), -1 with err when its file cannot be read. */
static int todo(const vr_sweep *sw, const vr_sched_opts *o, vr_sched_result *res, int idx,
                vr_err *err)
{
    char path[2 * VR_PATH_MAX], status[32];
    vr_run_path(o->dir, &sw->runs[idx], path, sizeof path);
    if (vr_run_file_status(path, status, sizeof status, err)) return -1;
    if (!strcmp(status, "done")) { res->skipped++; return 0; }
    if (!strcmp(status, "failed") && !o->retry_failed) {
        fprintf(o->out, "%s/%s  failed earlier; --retry-failed trains it again\n",
                sw->name, sw->runs[idx].id);
        res->failed++;
        return 0;
    }
    return 1;
}

int vr_sweep_run(const vr_sweep *sw, const vr_sched_opts *o, vr_sched_result *res, vr_err *err)
{
    memset(res, 0, sizeof *res);
    if (o->threaded && (o->n_devices < 1 || o->n_devices > VR_MAX_DEVICES || o->streams < 1))
        return vr_fail(err, "no devices to run on");
    char runs_dir[VR_PATH_MAX + 8];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", o->dir);
    if (mkdir_p(runs_dir, err)) return -1;
    int lock = take_lock(o->dir, err);
    if (lock < 0) return -1;
    vr_summary summary = {0};
    int *queue = malloc(sizeof(int) * (size_t)sw->n_runs), nq = 0, rc = -1;
    if (!queue) { vr_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < sw->n_runs; i++) {
        int t = todo(sw, o, res, i, err);
        if (t < 0) goto out;
        if (t) queue[nq++] = i;
    }
    vr_sched_ctx ctx = {.sw = sw};
    vr_dataset ds;
    int have_ds = 0;
    if (nq && sw->runs[queue[0]].spec.data.set != VR_SET_EIGHT_GAUSSIANS) {
        if (vr_dataset_load(&ds, &sw->runs[queue[0]].spec, err)) goto out;
        have_ds = 1;
        ctx.shared = &ds;
        ctx.shared_spec = &sw->runs[queue[0]].spec;
    }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    vr_sched_opts opts = *o;
    if (opts.jobs <= 0) opts.jobs = nq < cores ? (nq ? nq : 1) : cores;
    if (opts.jobs > MAX_JOBS) opts.jobs = MAX_JOBS;
    ctx.o = &opts;
    ctx.threads = cores / opts.jobs > 0 ? cores / opts.jobs : 1;
    rc = vr_summary_init(&summary, o->dir, sw, err);
    if (rc == 0) rc = vr_summary_write(&summary, err);
    if (rc == 0) rc = vr_sched_loop(&ctx, &summary, lock, queue, nq, res, err);
    if (have_ds) vr_dataset_free(&ds);
out:
    vr_summary_free(&summary);
    free(queue);
    close(lock);
    return rc;
}
