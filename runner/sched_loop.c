/* sched_loop.c: the parent's loop: starting the processes that train the
 * runs, reading what they say, the live display, and the end of each run
 * (schedule.h).
 *
 * A process is either a per-run child (the CPU's default: its exit status
 * is the run's outcome, its lines are the run's) or a device's worker
 * (worker.h: many runs, tagged lines, E lines for outcomes). A run that is
 * training, or handed to a worker, has a live slot: what the display shows
 * and where the run's lines go.
 */
#include "sched_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "summary.h"
#include "worker.h"

#define MAX_PROCS 64

typedef struct {
    pid_t pid;          /* 0: a free entry */
    int fd;             /* read end of its output */
    int cmd;            /* worker: write end of its run indices; -1: closed or a child */
    int dev;            /* worker: index into o->devices */
    int solo;           /* a per-run child */
    int in_flight;      /* runs handed to it and not ended */
    int started;        /* runs it has started */
    char buf[VR_WORKER_LINE_MAX + 128];  /* partial line */
    size_t len;
} proc;

typedef struct {
    int run;            /* index into sw->runs */
    int proc;           /* index into procs */
    int started;        /* a worker's thread has taken it (a child: always) */
    char line[256];     /* latest progress line, for the live display */
} live;

typedef struct {
    const vr_sched_ctx *c;
    const vr_sched_opts *o;
    vr_sched_result *res;
    vr_summary *summary;
    int lock_fd;
    proc procs[MAX_PROCS];
    live *lives;
    int n_live, cap_live;
    int *queue, nq, next;   /* runs to do, in order; next: the first not handed out */
    int *back, nback;       /* runs handed back unstarted: go first */
    int dead[VR_MAX_DEVICES];  /* a device whose worker died before starting a run */
    int tty, drawn;         /* lines of the live block on screen */
} loop;

static int queued(const loop *l) { return l->nq - l->next + l->nback; }

static int pop(loop *l) { return l->nback ? l->back[--l->nback] : l->queue[l->next++]; }

/* ---- the display ------------------------------------------------------------ */

static int is_progress(const char *line) { return strstr(line, "  step ") && strstr(line, "ETA"); }

static void clear_block(loop *l)
{
    if (l->tty && l->drawn) fprintf(l->o->out, "\033[%dA\033[J", l->drawn);
    l->drawn = 0;
}

static void draw_block(loop *l)
{
    if (!l->tty || l->o->quiet) return;
    const vr_sched_result *r = l->res;
    fprintf(l->o->out, "%s: %d done, %d running, %d failed, %d queued\n", l->c->sw->name,
            r->done + r->skipped, l->n_live, r->failed + r->interrupted, queued(l));
    l->drawn = 1;
    for (int i = 0; i < l->n_live; i++) {
        const live *v = &l->lives[i];
        fprintf(l->o->out, "  %s\n", v->line[0] ? v->line : l->c->sw->runs[v->run].id);
        l->drawn++;
    }
    fflush(l->o->out);
}

/* A whole line of a run (V) or of a worker (V NULL): progress lines update
 * the run's slot (and are printed as they come when the output is not a
 * terminal); others stay. */
static void on_line(loop *l, live *v, const char *line)
{
    if (v && is_progress(line)) {
        snprintf(v->line, sizeof v->line, "%s", line);
        if (!l->tty && !l->o->quiet) fprintf(l->o->out, "%s\n", line);
        return;
    }
    /* Until its first progress line, a run waiting for device memory says
     * so in the live block too. */
    if (v && strstr(line, "  waiting for ")) snprintf(v->line, sizeof v->line, "%s", line);
    if (l->o->quiet && !strstr(line, "vaerun:")) return;
    clear_block(l);
    fprintf(l->o->out, "%s\n", line);
}

/* ---- runs ---------------------------------------------------------------------- */

static live *find_live(loop *l, int run)
{
    for (int i = 0; i < l->n_live; i++)
        if (l->lives[i].run == run) return &l->lives[i];
    return NULL;
}

static void drop_live(loop *l, live *v)
{
    proc *p = &l->procs[v->proc];
    if (p->in_flight > 0) p->in_flight--;
    *v = l->lives[--l->n_live];
}

/* Run V has ended with CODE (a CHILD_* code); MSG, if not NULL, is what
 * its file cannot say (a crash). Counts it and refreshes its summary row. */
static void run_ended(loop *l, live *v, int code, const char *msg)
{
    vr_sched_result *r = l->res;
    int run = v->run;
    if (msg) {
        clear_block(l);
        fprintf(l->o->out, "vaerun: %s/%s: %s\n", l->c->sw->name, l->c->sw->runs[run].id, msg);
    }
    if (msg) r->failed++;
    else if (code == CHILD_DONE) r->done++;
    else if (code == CHILD_INTERRUPTED) r->interrupted++;
    else if (code == CHILD_BROKEN) { r->broken = 1; r->failed++; }
    else r->failed++;
    drop_live(l, v);
    vr_err err;
    if (vr_summary_refresh(l->summary, run, msg, &err) || vr_summary_write(l->summary, &err)) {
        fprintf(l->o->out, "vaerun: %s\n", err.msg);
        r->broken = 1;
    }
}

/* A run handed to a worker that never started it goes back to the queue. */
static void hand_back(loop *l, live *v)
{
    l->back[l->nback++] = v->run;
    drop_live(l, v);
}

/* ---- lines from processes ------------------------------------------------------ */

static live *live_of_proc(loop *l, int pi)
{
    for (int i = 0; i < l->n_live; i++)
        if (l->lives[i].proc == pi) return &l->lives[i];
    return NULL;
}

/* One line of a worker: "<tag><run>[\t<text>]". */
static void worker_line(loop *l, int pi, char *line)
{
    char tag = line[0];
    if (tag == VR_W_NOTE) {
        on_line(l, NULL, line[1] == '\t' ? line + 2 : line + 1);
        return;
    }
    char *end;
    long run = strtol(line + 1, &end, 10);
    const char *text = *end == '\t' ? end + 1 : end;
    live *v = end > line + 1 ? find_live(l, (int)run) : NULL;
    if (!v || v->proc != pi) {
        on_line(l, NULL, line);   /* not ours to parse: show it as it is */
        return;
    }
    switch (tag) {
    case VR_W_STARTED: v->started = 1; l->procs[pi].started++; break;
    case VR_W_LINE: on_line(l, v, text); break;
    case VR_W_ENDED: run_ended(l, v, atoi(text), NULL); break;
    case VR_W_UNSTARTED:
        /* The worker is stopping (a SIGINT of its own, or of the sweep):
         * no more runs to it; a new worker takes the rest unless the
         * sweep is stopping too. */
        hand_back(l, v);
        if (l->procs[pi].cmd >= 0) {
            close(l->procs[pi].cmd);
            l->procs[pi].cmd = -1;
        }
        break;
    default: on_line(l, NULL, line);
    }
}

static void drain(loop *l, int pi)
{
    proc *p = &l->procs[pi];
    char chunk[4096];
    ssize_t n;
    while ((n = read(p->fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\r') continue;
            if (chunk[i] == '\n' || p->len == sizeof p->buf - 1) {
                p->buf[p->len] = '\0';
                p->len = 0;
                if (p->solo) on_line(l, live_of_proc(l, pi), p->buf);
                else worker_line(l, pi, p->buf);
            } else {
                p->buf[p->len++] = chunk[i];
            }
        }
    }
}

/* ---- processes --------------------------------------------------------------------- */

/* What a new child does first: it must not hold what belongs to the parent
 * or to the other children. */
static void in_child(loop *l)
{
    /* A kill -9 of vaerun must not leave runs training behind it (a new
     * vaerun would take the lock and train them twice): die with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(CHILD_INTERRUPTED);
    close(l->lock_fd);
    for (int i = 0; i < MAX_PROCS; i++) {
        if (!l->procs[i].pid) continue;
        close(l->procs[i].fd);
        if (l->procs[i].cmd >= 0) close(l->procs[i].cmd);
    }
}

static int add_live(loop *l, int run, int pi, int started)
{
    if (l->n_live == l->cap_live) return -1;
    l->lives[l->n_live++] = (live){.run = run, .proc = pi, .started = started};
    l->procs[pi].in_flight++;
    return 0;
}

static int free_proc(const loop *l)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (!l->procs[i].pid) return i;
    return -1;
}

/* Forks a per-run child for run IDX. */
static int start_child(loop *l, int idx, vr_err *err)
{
    int pi = free_proc(l), p[2];
    if (pi < 0) return vr_fail(err, "too many processes");
    if (pipe(p) != 0) return vr_fail(err, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]); close(p[1]);
        return vr_fail(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(p[0]);
        in_child(l);
        FILE *out = fdopen(p[1], "w");
        if (!out) _exit(CHILD_FAILED);
        setvbuf(out, NULL, _IOLBF, 0);
        _exit(vr_sched_train(l->c, idx, out, NULL, NULL));
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    l->procs[pi] = (proc){.pid = pid, .fd = p[0], .cmd = -1, .solo = 1};
    return add_live(l, idx, pi, 1);
}

/* Forks the worker of device DEV (an index into o->devices). */
static int start_worker(loop *l, int dev, vr_err *err)
{
    int pi = free_proc(l), out[2], cmd[2];
    if (pi < 0) return vr_fail(err, "too many processes");
    if (pipe(out) != 0) return vr_fail(err, "pipe: %s", strerror(errno));
    if (pipe(cmd) != 0) {
        close(out[0]); close(out[1]);
        return vr_fail(err, "pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]); close(out[1]); close(cmd[0]); close(cmd[1]);
        return vr_fail(err, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(out[0]);
        close(cmd[1]);
        in_child(l);
        const vr_sched_opts *o = l->o;
        vr_device_conf conf = {.cuda = o->cuda, .index = o->devices[dev], .cpu_threads = 1,
                               .sim_bytes = o->sim_bytes};
        _exit(vr_worker_main(l->c, &conf, o->streams, cmd[0], out[1]));
    }
    close(out[1]);
    close(cmd[0]);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(cmd[1], F_SETFD, FD_CLOEXEC);
    l->procs[pi] = (proc){.pid = pid, .fd = out[0], .cmd = cmd[1], .dev = dev};
    return 0;
}

static const char *device_label(const loop *l, int dev, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%d", l->o->cuda ? "cuda" : "cpu", l->o->devices[dev]);
    return buf;
}

/* Process PI has exited with STATUS: its runs end with it. */
static void reap(loop *l, int pi, int status)
{
    proc *p = &l->procs[pi];
    drain(l, pi);
    close(p->fd);
    if (p->cmd >= 0) close(p->cmd);
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    char msg[160];
    if (p->solo) {
        live *v = live_of_proc(l, pi);
        if (v) {
            snprintf(msg, sizeof msg, "crashed (signal %d); running the sweep again resumes it", sig);
            run_ended(l, v, code, sig || code < 0 ? msg : NULL);
        }
    } else {
        char dev[32];
        device_label(l, p->dev, dev, sizeof dev);
        if (sig) snprintf(msg, sizeof msg, "crashed (signal %d) with the worker of %s; running "
                          "the sweep again resumes it", sig, dev);
        else snprintf(msg, sizeof msg, "the worker of %s ended (status %d) before the run did",
                      dev, code);
        live *v;
        while ((v = live_of_proc(l, pi))) {
            if (v->started) run_ended(l, v, CHILD_FAILED, msg);
            else hand_back(l, v);
        }
        if (!p->started && (sig || code)) {
            /* It died before starting anything: the device itself is at
             * fault, and a new worker would die the same way. */
            clear_block(l);
            fprintf(l->o->out, "vaerun: %s: its worker %s; no more runs go to it\n", dev,
                    sig ? "crashed" : "could not start");
            l->dead[p->dev] = 1;
        }
    }
    *p = (proc){0};
}

static void wait_some(loop *l)
{
    struct pollfd fds[MAX_PROCS];
    int map[MAX_PROCS], n = 0;
    for (int i = 0; i < MAX_PROCS; i++)
        if (l->procs[i].pid) {
            fds[n] = (struct pollfd){l->procs[i].fd, POLLIN, 0};
            map[n++] = i;
        }
    poll(fds, (nfds_t)n, 250);
    for (int k = 0; k < n; k++) drain(l, map[k]);
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (int i = 0; i < MAX_PROCS; i++)
            if (l->procs[i].pid == pid) {
                reap(l, i, status);
                break;
            }
}

/* ---- handing out runs ---------------------------------------------------------------- */

static int n_procs(const loop *l)
{
    int n = 0;
    for (int i = 0; i < MAX_PROCS; i++) n += l->procs[i].pid != 0;
    return n;
}

static int worker_of(const loop *l, int dev)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (l->procs[i].pid && !l->procs[i].solo && l->procs[i].dev == dev) return i;
    return -1;
}

/* Hands queued runs to the workers with a free thread, the least busy
 * first, starting a worker for a device that has none. */
static int hand_out(loop *l, vr_err *err)
{
    const vr_sched_opts *o = l->o;
    for (int d = 0; d < o->n_devices && queued(l); d++)
        if (!l->dead[d] && worker_of(l, d) < 0 && start_worker(l, d, err)) return -1;
    while (queued(l)) {
        int best = -1;
        for (int d = 0; d < o->n_devices; d++) {
            int pi = worker_of(l, d);
            if (pi < 0 || l->procs[pi].cmd < 0 || l->procs[pi].in_flight >= o->streams) continue;
            if (best < 0 || l->procs[pi].in_flight < l->procs[best].in_flight) best = pi;
        }
        if (best < 0) break;
        int run = pop(l);
        int32_t v = run;
        if (write(l->procs[best].cmd, &v, sizeof v) != (ssize_t)sizeof v) {
            /* The worker is gone (its reaping hands its runs back). */
            close(l->procs[best].cmd);
            l->procs[best].cmd = -1;
            l->back[l->nback++] = run;
            continue;
        }
        if (add_live(l, run, best, 0)) return vr_fail(err, "too many runs at once");
    }
    if (!queued(l))  /* no more runs: workers end when their threads are done */
        for (int i = 0; i < MAX_PROCS; i++)
            if (l->procs[i].pid && l->procs[i].cmd >= 0) {
                close(l->procs[i].cmd);
                l->procs[i].cmd = -1;
            }
    return 0;
}

static int start_more(loop *l, vr_err *err)
{
    if (l->o->threaded) return hand_out(l, err);
    while (queued(l) && l->n_live < l->o->jobs)
        if (start_child(l, pop(l), err)) return -1;
    return 0;
}

/* Stopping: SIGINT to every process (a terminal's Ctrl-C reaches them too;
 * kill -INT of the parent alone is passed on so that they checkpoint and
 * stop), and no more runs to the workers. */
static void stop_all(loop *l)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        proc *p = &l->procs[i];
        if (!p->pid) continue;
        kill(p->pid, SIGINT);
        if (p->cmd >= 0) {
            close(p->cmd);
            p->cmd = -1;
        }
    }
}

int vr_sched_loop(const vr_sched_ctx *c, vr_summary *summary, int lock_fd, const int *queue,
                  int nq, vr_sched_result *res, vr_err *err)
{
    const vr_sched_opts *o = c->o;
    loop l = {.c = c, .o = o, .res = res, .summary = summary, .lock_fd = lock_fd,
              .nq = nq, .tty = isatty(fileno(o->out))};
    l.cap_live = o->threaded ? o->n_devices * o->streams : o->jobs;
    l.lives = calloc((size_t)l.cap_live, sizeof *l.lives);
    l.queue = malloc(sizeof(int) * (size_t)(nq ? nq : 1));
    l.back = malloc(sizeof(int) * (size_t)(nq ? nq : 1));
    if (!l.lives || !l.queue || !l.back) {
        free(l.lives); free(l.queue); free(l.back);
        return vr_fail(err, "out of memory");
    }
    memcpy(l.queue, queue, sizeof(int) * (size_t)nq);
    /* A worker that has died leaves its pipe: a write must fail, not kill us. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe;
    sigaction(SIGPIPE, &ign, &old_pipe);
    int rc = 0, forwarded = 0;
    for (;;) {
        int stopping = *o->stop || res->broken || rc;
        if (stopping && !forwarded) {
            stop_all(&l);
            forwarded = 1;
        }
        if (!stopping && start_more(&l, err)) {
            rc = -1;   /* fork or pipe failed: stop the rest, then say why */
            continue;
        }
        clear_block(&l);
        draw_block(&l);
        if (n_procs(&l)) wait_some(&l);
        else break;   /* nothing runs and nothing more can start */
    }
    clear_block(&l);
    if (!*o->stop && !res->broken && rc == 0) res->not_run = queued(&l);
    sigaction(SIGPIPE, &old_pipe, NULL);
    free(l.lives);
    free(l.queue);
    free(l.back);
    return rc;
}
