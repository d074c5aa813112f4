/* schedule.c: see schedule.h. */
#include "schedule.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_file.h"
#include "run_one.h"
#include "summary.h"

#define MAX_JOBS 64

/* Child exit codes. */
enum { CHILD_DONE = 0, CHILD_FAILED = 1, CHILD_INTERRUPTED = 2, CHILD_BROKEN = 3 };

typedef struct {
    pid_t pid;
    int run;            /* index into sw->runs */
    int fd;             /* read end of the child's pipe */
    char buf[1024];     /* partial line */
    size_t len;
    char line[256];     /* latest progress line, for the live display */
} slot;

typedef struct {
    const vr_sweep *sw;
    const vr_sched_opts *o;
    vr_sched_result *res;
    const vr_dataset *shared;   /* loaded by the parent, or NULL */
    const vr_spec *shared_spec; /* the spec it was loaded for */
    int threads;                /* per run */
    slot slots[MAX_JOBS];
    int n_slots;
    int tty, drawn;             /* lines of the live block on screen */
    int queued;
    vr_summary summary;         /* summary.csv's rows */
    int lock_fd;
} sched;

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

/* ---- the display ------------------------------------------------------------ */

static int is_progress(const char *line) { return strstr(line, "  step ") && strstr(line, "ETA"); }

static void clear_block(sched *s)
{
    if (s->tty && s->drawn) fprintf(s->o->out, "\033[%dA\033[J", s->drawn);
    s->drawn = 0;
}

static void draw_block(sched *s)
{
    if (!s->tty || s->o->quiet) return;
    const vr_sched_result *r = s->res;
    fprintf(s->o->out, "%s: %d done, %d running, %d failed, %d queued\n", s->sw->name,
            r->done + r->skipped, s->n_slots, r->failed + r->interrupted, s->queued);
    s->drawn = 1;
    for (int i = 0; i < s->n_slots; i++) {
        fprintf(s->o->out, "  %s\n", s->slots[i].line[0] ? s->slots[i].line
                                                        : s->sw->runs[s->slots[i].run].id);
        s->drawn++;
    }
    fflush(s->o->out);
}

/* A whole line from a child: progress lines update its slot (and are
 * printed as they come when the output is not a terminal); others stay. */
static void on_line(sched *s, slot *sl, const char *line)
{
    if (is_progress(line)) {
        snprintf(sl->line, sizeof sl->line, "%s", line);
        if (!s->tty && !s->o->quiet) fprintf(s->o->out, "%s\n", line);
        return;
    }
    if (s->o->quiet && !strstr(line, "vaerun:")) return;
    clear_block(s);
    fprintf(s->o->out, "%s\n", line);
}

static void drain(sched *s, slot *sl)
{
    char chunk[512];
    ssize_t n;
    while ((n = read(sl->fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\r') continue;
            if (chunk[i] == '\n' || sl->len == sizeof sl->buf - 1) {
                sl->buf[sl->len] = '\0';
                on_line(s, sl, sl->buf);
                sl->len = 0;
            } else {
                sl->buf[sl->len++] = chunk[i];
            }
        }
    }
}

/* ---- children ---------------------------------------------------------------- */

/* Whether a child may use the dataset the parent loaded for SHARED. */

static int same_data(const vr_spec *a, const vr_spec *b)
{
    return a->data.set == b->data.set && !strcmp(a->data.dir, b->data.dir) &&
           a->data.train == b->data.train && a->data.test == b->data.test &&
           a->data.set != VR_SET_EIGHT_GAUSSIANS;
}

static void child(const sched *s, int idx, int fd)
{
    const vr_run_item *run = &s->sw->runs[idx];
    const vr_sched_opts *o = s->o;
    FILE *out = fdopen(fd, "w");
    if (!out) _exit(CHILD_FAILED);
    setvbuf(out, NULL, _IOLBF, 0);
    char path[2 * VR_PATH_MAX], label[VR_NAME_MAX + 300];
    vr_run_path(o->dir, run, path, sizeof path);
    snprintf(label, sizeof label, "%s/%s", s->sw->name, run->id);
    vr_err err;
    vr_dataset own;
    const vr_dataset *ds = s->shared;
    if (!ds || !same_data(s->shared_spec, &run->spec)) {
        if (vr_dataset_load(&own, &run->spec, &err)) {
            fprintf(out, "vaerun: %s: %s\n", label, err.msg);
            fflush(out);
            _exit(CHILD_FAILED);
        }
        ds = &own;
    }
    long seed = run->spec.seed;
    vr_run_opts ro = {.path = path, .label = label, .out = out, .quiet = o->quiet,
                      .stop = o->stop, .threads = s->threads,
                      .poison_step = o->nan_step && o->nan_seed == seed ? o->nan_step : 0,
                      .kill_step = o->kill_step && o->kill_seed == seed ? o->kill_step : 0};
    int rc = vr_run_one(&run->spec, ds, &ro, &err);
    /* An interrupted run has said so on its progress line already. */
    if (rc != VR_RUN_DONE && rc != VR_RUN_INTERRUPTED) fprintf(out, "vaerun: %s: %s\n", label, err.msg);
    fflush(out);
    _exit(rc == VR_RUN_DONE ? CHILD_DONE : rc == VR_RUN_INTERRUPTED ? CHILD_INTERRUPTED
          : rc < 0 ? CHILD_BROKEN : CHILD_FAILED);
}

static int start(sched *s, int idx, vr_err *err)
{
    int p[2];
    if (pipe(p) != 0) return vr_fail(err, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]); close(p[1]);
        return vr_fail(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* A kill -9 of vaerun must not leave runs training behind it (a new
         * vaerun would take the lock and train them twice): die with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) _exit(CHILD_INTERRUPTED);
        close(p[0]);
        close(s->lock_fd);
        for (int i = 0; i < s->n_slots; i++) close(s->slots[i].fd);
        child(s, idx, p[1]);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    slot *sl = &s->slots[s->n_slots++];
    *sl = (slot){.pid = pid, .run = idx, .fd = p[0]};
    return 0;
}

/* Reaps slot I's child: counts its outcome and refreshes its summary row. */
static void finished(sched *s, int i, int status)
{
    slot *sl = &s->slots[i];
    drain(s, sl);
    close(sl->fd);
    vr_sched_result *r = s->res;
    const char *id = s->sw->runs[sl->run].id;
    char msg[96] = "";
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == CHILD_DONE) r->done++;
        else if (code == CHILD_INTERRUPTED) r->interrupted++;
        else if (code == CHILD_BROKEN) { r->broken = 1; r->failed++; }
        else r->failed++;
    } else {
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        snprintf(msg, sizeof msg, "crashed (signal %d); running the sweep again resumes it", sig);
        clear_block(s);
        fprintf(s->o->out, "vaerun: %s/%s: %s\n", s->sw->name, id, msg);
        r->failed++;
    }
    vr_err err;
    if (vr_summary_refresh(&s->summary, sl->run, msg[0] ? msg : NULL, &err) ||
        vr_summary_write(&s->summary, &err)) {
        fprintf(s->o->out, "vaerun: %s\n", err.msg);
        r->broken = 1;
    }
    s->slots[i] = s->slots[--s->n_slots];
}

/* ---- the loop ------------------------------------------------------------------ */

static int todo(const sched *s, int idx, vr_err *err)
{
    char path[2 * VR_PATH_MAX], status[32];
    vr_run_path(s->o->dir, &s->sw->runs[idx], path, sizeof path);
    if (vr_run_file_status(path, status, sizeof status, err)) return -1;
    if (!strcmp(status, "done")) { s->res->skipped++; return 0; }
    if (!strcmp(status, "failed") && !s->o->retry_failed) {
        fprintf(s->o->out, "%s/%s  failed earlier; --retry-failed trains it again\n",
                s->sw->name, s->sw->runs[idx].id);
        s->res->failed++;
        return 0;
    }
    return 1;
}

static void wait_some(sched *s)
{
    struct pollfd fds[MAX_JOBS];
    for (int i = 0; i < s->n_slots; i++) fds[i] = (struct pollfd){s->slots[i].fd, POLLIN, 0};
    poll(fds, (nfds_t)s->n_slots, 250);
    for (int i = 0; i < s->n_slots; i++) drain(s, &s->slots[i]);
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].pid == pid) {
                finished(s, i, status);
                break;
            }
    }
}

static int run_queue(sched *s, int *queue, int nq, vr_err *err)
{
    int next = 0, forwarded = 0;
    s->queued = nq;
    while (next < nq || s->n_slots) {
        int stopping = *s->o->stop || s->res->broken;
        if (stopping && !forwarded) {
            /* A terminal's Ctrl-C reaches the children too; kill -INT of the
             * parent alone is passed on so that they checkpoint and stop. */
            for (int i = 0; i < s->n_slots; i++) kill(s->slots[i].pid, SIGINT);
            forwarded = 1;
        }
        while (!stopping && next < nq && s->n_slots < s->o->jobs) {
            if (start(s, queue[next], err)) return -1;
            next++;
            s->queued = nq - next;
        }
        clear_block(s);
        draw_block(s);
        if (s->n_slots) wait_some(s);
        else if (stopping) break;
    }
    clear_block(s);
    return 0;
}

int vr_sweep_run(const vr_sweep *sw, const vr_sched_opts *o, vr_sched_result *res, vr_err *err)
{
    memset(res, 0, sizeof *res);
    char runs_dir[VR_PATH_MAX + 8];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", o->dir);
    if (mkdir_p(runs_dir, err)) return -1;
    int lock = take_lock(o->dir, err);
    if (lock < 0) return -1;
    sched s = {.sw = sw, .o = o, .res = res, .tty = isatty(fileno(o->out)), .lock_fd = lock};
    int *queue = malloc(sizeof(int) * (size_t)sw->n_runs), nq = 0, rc = -1;
    if (!queue) { vr_fail(err, "out of memory"); goto out; }
    for (int i = 0; i < sw->n_runs; i++) {
        int t = todo(&s, i, err);
        if (t < 0) goto out;
        if (t) queue[nq++] = i;
    }
    vr_dataset ds;
    int have_ds = 0;
    if (nq && sw->runs[queue[0]].spec.data.set != VR_SET_EIGHT_GAUSSIANS) {
        if (vr_dataset_load(&ds, &sw->runs[queue[0]].spec, err)) goto out;
        have_ds = 1;
        s.shared = &ds;
        s.shared_spec = &sw->runs[queue[0]].spec;
    }
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    vr_sched_opts opts = *o;
    if (opts.jobs <= 0) opts.jobs = nq < cores ? (nq ? nq : 1) : cores;
    if (opts.jobs > MAX_JOBS) opts.jobs = MAX_JOBS;
    s.o = &opts;
    s.threads = cores / opts.jobs > 0 ? cores / opts.jobs : 1;
    rc = vr_summary_init(&s.summary, o->dir, sw, err);
    if (rc == 0) rc = vr_summary_write(&s.summary, err);
    if (rc == 0) rc = run_queue(&s, queue, nq, err);
    if (have_ds) vr_dataset_free(&ds);
out:
    vr_summary_free(&s.summary);
    free(queue);
    close(lock);
    return rc;
}
