/* main.c: the vaerun command line. The only place that prints errors and
 * chooses exit codes: 0 every run done, 1 some run failed or was
 * interrupted, 2 bad usage, a bad spec or sweep, or a sweep that could not
 * start (nothing trained). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../plot/plot.h"
#include "placement.h"
#include "schedule.h"
#include "spec.h"
#include "summary.h"
#include "sweep.h"

#define MAX_SETS 64

typedef struct {
    const char *command;      /* "train", "check", "list", "keys" */
    const char *file;
    const char *out_dir;      /* --out, or NULL */
    const char *sets[MAX_SETS];
    int n_sets;
    int quiet, retry_failed, jobs, no_plot;
    vr_placement place;       /* --backend, --devices, --streams (placement.h) */
    long nan_seed, nan_step;  /* --debug-nan SEED:STEP (nan_step 0 = off) */
    long kill_seed, kill_step;/* --debug-kill SEED:STEP */
} cli;

/* The one piece of global state: a signal handler can only reach a global. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

static void usage(FILE *f)
{
    fprintf(f,
        "usage: vaerun [options] FILE.yaml        train every run of a spec or sweep\n"
        "       vaerun check [options] FILE.yaml  validate every run, train nothing\n"
        "       vaerun list [options] FILE.yaml   print the runs it expands to\n"
        "       vaerun plot RESULTS_DIR           draw the figures of a results folder\n"
        "       vaerun keys                       print every spec key (Markdown)\n"
        "\n"
        "options:\n"
        "  --out DIR          results root (default: the sweep's out:, else results)\n"
        "  --set KEY=VALUE    override a spec key in every run, e.g. --set train.steps=200\n"
        "                     (repeatable; VALUE is YAML: --set seeds=[0,1])\n"
        "  --backend cuda|cpu where runs train (default: cuda when a GPU is present,\n"
        "                     else cpu)\n"
        "  --devices 0,1,...  the GPUs to use (default: all)\n"
        "  --streams N        runs at once on each GPU, each on its own CUDA stream\n"
        "                     (default 4); with --backend cpu: N runs as threads of one\n"
        "                     process, one CPU thread each, instead of --jobs\n"
        "  --jobs N           CPU: runs at once, each in its own process (default: one\n"
        "                     per core, each with 1 thread, or fewer runs with more\n"
        "                     threads each); without --backend it picks the CPU\n"
        "  --retry-failed     train again the runs whose file says failed\n"
        "  --quiet            no progress display\n"
        "  --no-plot          no figures after training (vaerun plot draws them later)\n"
        "  --debug-nan S:N    make the run of seed S go NaN after step N (to see\n"
        "                     how a failed run is reported)\n"
        "  --debug-kill S:N   kill -9 the run of seed S after step N (to see a\n"
        "                     crash resume; threaded runs take their worker with them)\n"
        "  --debug-mem SIZE   threaded CPU runs: pretend each device has SIZE bytes\n"
        "                     (4M, 1G) to see runs wait for memory (docs/gpu.md)\n"
        "  --debug-devices N  threaded CPU runs: N worker processes, as N GPUs would\n"
        "  --version          print the version\n"
        "  -h, --help         this text\n"
        "\n"
        "Results: DIR/<name>/runs/<run-id>/run.h5 and DIR/<name>/summary.csv. Running\n"
        "the same file again skips done runs and resumes interrupted ones from their\n"
        "last checkpoint. Specs: docs/spec.md; sweeps: docs/sweeps.md; GPUs: docs/gpu.md.\n");
}

static int parse_pair(const char *flag, const char *v, long *a, long *b)
{
    if (sscanf(v, "%ld:%ld", a, b) == 2 && *b >= 1) return 0;
    fprintf(stderr, "vaerun: %s %s: expected SEED:STEP\n", flag, v);
    return -1;
}

/* A whole number in [lo, hi] for FLAG. */
static int parse_int(const char *flag, const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        fprintf(stderr, "vaerun: %s %s: expected a number from %d to %d\n", flag, v, lo, hi);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int parse_args(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->command = "train";
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "check") || !strcmp(argv[i], "list") ||
                     !strcmp(argv[i], "keys") || !strcmp(argv[i], "train") ||
                     !strcmp(argv[i], "plot")))
        c->command = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i];
        int takes = !strcmp(a, "--out") || !strcmp(a, "--set") || !strcmp(a, "--jobs") ||
                    !strcmp(a, "--debug-nan") || !strcmp(a, "--debug-kill") ||
                    !strcmp(a, "--backend") || !strcmp(a, "--devices") ||
                    !strcmp(a, "--streams") || !strcmp(a, "--debug-mem") ||
                    !strcmp(a, "--debug-devices");
        if (takes && i + 1 >= argc) { fprintf(stderr, "vaerun: %s needs a value\n", a); return -1; }
        const char *v = takes ? argv[++i] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        else if (!strcmp(a, "--version")) { printf("vaerun %s\n", VR_VERSION); exit(0); }
        else if (!strcmp(a, "--quiet")) c->quiet = 1;
        else if (!strcmp(a, "--no-plot")) c->no_plot = 1;
        else if (!strcmp(a, "--retry-failed")) c->retry_failed = 1;
        else if (!strcmp(a, "--out")) c->out_dir = v;
        else if (!strcmp(a, "--debug-nan")) { if (parse_pair(a, v, &c->nan_seed, &c->nan_step)) return -1; }
        else if (!strcmp(a, "--debug-kill")) { if (parse_pair(a, v, &c->kill_seed, &c->kill_step)) return -1; }
        else if (!strcmp(a, "--jobs")) { if (parse_int(a, v, 1, 64, &c->jobs)) return -1; }
        else if (!strcmp(a, "--streams")) { if (parse_int(a, v, 1, 64, &c->place.streams)) return -1; }
        else if (!strcmp(a, "--debug-devices")) { if (parse_int(a, v, 1, 16, &c->place.sim_devices)) return -1; }
        else if (!strcmp(a, "--backend")) c->place.backend = v;
        else if (!strcmp(a, "--devices")) c->place.devices = v;
        else if (!strcmp(a, "--debug-mem")) {
            vr_err err;
            if (vr_parse_size(a, v, &c->place.sim_bytes, &err)) {
                fprintf(stderr, "vaerun: %s\n", err.msg);
                return -1;
            }
        } else if (!strcmp(a, "--set")) {
            if (c->n_sets == MAX_SETS) { fprintf(stderr, "vaerun: too many --set\n"); return -1; }
            c->sets[c->n_sets++] = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "vaerun: unknown option %s (vaerun --help)\n", a);
            return -1;
        } else if (c->file) {
            fprintf(stderr, "vaerun: more than one file given\n");
            return -1;
        } else {
            c->file = a;
        }
    }
    if (!c->file && strcmp(c->command, "keys")) {
        usage(stderr);
        return -1;
    }
    c->place.jobs = c->jobs;
    vr_err err;
    if (vr_placement_check(&c->place, &err)) {
        fprintf(stderr, "vaerun: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int load(const cli *c, vr_sweep *sw, vr_err *err)
{
    if (vr_sweep_load(c->file, sw, err)) return -1;
    for (int i = 0; i < c->n_sets; i++) {
        char key[256];
        const char *eq = strchr(c->sets[i], '=');
        if (!eq || eq == c->sets[i] || (size_t)(eq - c->sets[i]) >= sizeof key)
            return vr_fail(err, "--set %s: expected KEY=VALUE", c->sets[i]);
        memcpy(key, c->sets[i], eq - c->sets[i]);
        key[eq - c->sets[i]] = 0;
        if (vr_sweep_set(sw, key, eq + 1, err)) return -1;
    }
    return 0;
}

static void results_dir(const cli *c, const vr_sweep *sw, char *buf, size_t cap)
{
    const char *root = c->out_dir ? c->out_dir : sw->out[0] ? sw->out : "results";
    snprintf(buf, cap, "%s/%s", root, sw->name);
}

static int list_runs(const char *dir, const vr_sweep *sw)
{
    for (int i = 0; i < sw->n_runs; i++) {
        const vr_run_item *r = &sw->runs[i];
        char path[2 * VR_PATH_MAX];
        vr_run_path(dir, r, path, sizeof path);
        printf("%s\t", r->id);
        if (r->variant[0]) printf("variant=%s ", r->variant);
        for (int k = 0; k < r->n_swept; k++) printf("%s=%s ", r->swept[k].key, r->swept[k].value);
        printf("seed=%ld\t%s\n", r->spec.seed, path);
    }
    return 0;
}

/* Figures never decide the exit status: training results stand without them. */
static int plot(const char *dir)
{
    if (!vr_gnuplot_available()) {
        fprintf(stderr, "vaerun: %s\n", VR_GNUPLOT_MISSING);
        return 1;
    }
    vr_err err;
    if (vr_plot_sweep(dir, &err)) {
        fprintf(stderr, "vaerun: figures: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "figures: %s/figures/index.html\n", dir);
    return 0;
}

static int train(const cli *c, const char *dir, const vr_sweep *sw)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    vr_sched_opts o = {.dir = dir, .quiet = c->quiet,
                       .retry_failed = c->retry_failed, .out = stderr, .stop = &g_stop,
                       .nan_seed = c->nan_seed, .nan_step = c->nan_step,
                       .kill_seed = c->kill_seed, .kill_step = c->kill_step};
    vr_sched_result r;
    vr_err err;
    char where[512];
    if (vr_placement_resolve(&c->place, &o, where, sizeof where, &err)) {
        fprintf(stderr, "vaerun: %s\n", err.msg);
        return 2;
    }
    if (where[0] && !c->quiet) fprintf(stderr, "%s: training on %s\n", sw->name, where);
    if (vr_sweep_run(sw, &o, &r, &err)) {
        fprintf(stderr, "vaerun: %s\n", err.msg);
        return 2;
    }
    fprintf(stderr, "%s: %d done, %d already done, %d failed, %d interrupted -> %s/summary.csv\n",
            sw->name, r.done, r.skipped, r.failed, r.interrupted, dir);
    if (r.not_run)
        fprintf(stderr, "vaerun: %d run%s not started: no device could take %s (see above)\n",
                r.not_run, r.not_run == 1 ? " was" : "s were", r.not_run == 1 ? "it" : "them");
    if (r.broken) fprintf(stderr, "vaerun: stopped: the results folder %s cannot be written\n", dir);
    else if (!g_stop && !c->no_plot) plot(dir);
    return r.failed || r.interrupted || r.broken || r.not_run || g_stop ? 1 : 0;
}

/* OpenMP threads that wait for work spin for a while before sleeping
 * (libgomp: 300000 spins by default). When the cores are shared (two vaerun
 * processes, or any other job) spinning threads steal the time the working
 * ones need, and a run became 30-50x slower at 300000. Too few spins make
 * the threads sleep through the short serial stretches of a step, and
 * waking them costs more than the stretch. Measured on 2 cores (issue 6,
 * mlp at 2 threads, medians of 4-6 runs): 1000 spins 1150 steps/s, 20000
 * 1330, 60000 1190; with a CPU hog beside it 1000 gave 445-456 and 20000
 * 296-363. The scheduler never gives runs more threads than cores, so the
 * hog is someone else's job: 20000 is the compromise. libgomp reads its
 * settings when it loads, before main, so the only way to change them from
 * here is to set the variable and exec ourselves again. A user's own
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone. */
static void tame_openmp_spinning(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    setenv("GOMP_SPINCOUNT", "20000", 1);
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): go on with the default spinning */
}

int main(int argc, char **argv)
{
    tame_openmp_spinning(argv);
    cli c;
    if (parse_args(argc, argv, &c)) return 2;
    if (!strcmp(c.command, "keys")) {
        vr_spec_keys_markdown(stdout);
        return 0;
    }
    if (!strcmp(c.command, "plot")) return plot(c.file) ? 1 : 0;
    vr_sweep sw = {0};
    vr_err err;
    if (load(&c, &sw, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        vr_sweep_free(&sw);
        return 2;
    }
    char dir[2 * VR_PATH_MAX];
    results_dir(&c, &sw, dir, sizeof dir);
    int rc = 0;
    if (!strcmp(c.command, "check"))
        printf("%s: ok (%d run%s)\n", c.file, sw.n_runs, sw.n_runs == 1 ? "" : "s");
    else if (!strcmp(c.command, "list"))
        rc = list_runs(dir, &sw);
    else
        rc = train(&c, dir, &sw);
    vr_sweep_free(&sw);
    return rc;
}
