/* main.c: the vaerun command line. The only place that prints errors and
 * chooses exit codes: 0 all runs done, 1 some run failed or was interrupted,
 * 2 bad usage or a bad spec (nothing trained). */
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/dataset.h"
#include "run_file.h"
#include "run_one.h"
#include "spec.h"

#define MAX_SETS 64

typedef struct {
    const char *command;      /* "train", "check", "list", "keys" */
    const char *file;
    const char *out_dir;
    const char *sets[MAX_SETS];
    int n_sets;
    int quiet;
    long nan_seed, nan_step;  /* --debug-nan SEED:STEP (nan_step 0 = off) */
    long kill_seed, kill_step;/* --debug-kill SEED:STEP */
    int retry_failed;
} cli;

/* The one piece of global state: a signal handler can only reach a global. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

static void usage(FILE *f)
{
    fprintf(f,
        "usage: vaerun [options] SPEC.yaml        train every run of the spec\n"
        "       vaerun check [options] SPEC.yaml  validate the spec, train nothing\n"
        "       vaerun list [options] SPEC.yaml   print the runs the spec expands to\n"
        "       vaerun keys                       print every spec key (Markdown)\n"
        "\n"
        "options:\n"
        "  --out DIR          results root (default: results)\n"
        "  --set KEY=VALUE    override a spec key, e.g. --set train.steps=200 (repeatable)\n"
        "  --quiet            no progress display\n"
        "  --retry-failed     train again the runs whose file says failed\n"
        "  --debug-nan S:N    make the run of seed S go NaN after step N (to see\n"
        "                     how a failed run is reported)\n"
        "  --debug-kill S:N   kill -9 the process after step N of seed S (to see\n"
        "                     a crash resume)\n"
        "  --version          print the version\n"
        "  -h, --help         this text\n"
        "\n"
        "Results go to DIR/<name>/runs/seed<N>/run.h5. A run whose file says `done`\n"
        "is skipped when the same spec is run again. Spec keys: docs/spec.md.\n");
}

static int parse_args(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->command = "train";
    c->out_dir = "results";
    int i = 1;
    if (i < argc && (!strcmp(argv[i], "check") || !strcmp(argv[i], "list") ||
                     !strcmp(argv[i], "keys") || !strcmp(argv[i], "train")))
        c->command = argv[i++];
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); exit(0); }
        if (!strcmp(a, "--version")) { printf("vaerun %s\n", VR_VERSION); exit(0); }
        if (!strcmp(a, "--quiet")) { c->quiet = 1; continue; }
        if (!strcmp(a, "--retry-failed")) { c->retry_failed = 1; continue; }
        if (!strcmp(a, "--debug-kill")) {
            if (sscanf(argv[++i], "%ld:%ld", &c->kill_seed, &c->kill_step) != 2 || c->kill_step < 1) {
                fprintf(stderr, "vaerun: --debug-kill %s: expected SEED:STEP\n", argv[i]);
                return -1;
            }
            continue;
        }
        if ((!strcmp(a, "--out") || !strcmp(a, "--set") || !strcmp(a, "--debug-nan") ||
             !strcmp(a, "--debug-kill")) && i + 1 >= argc) {
            fprintf(stderr, "vaerun: %s needs a value\n", a);
            return -1;
        }
        if (!strcmp(a, "--out")) { c->out_dir = argv[++i]; continue; }
        if (!strcmp(a, "--debug-nan")) {
            if (sscanf(argv[++i], "%ld:%ld", &c->nan_seed, &c->nan_step) != 2 || c->nan_step < 1) {
                fprintf(stderr, "vaerun: --debug-nan %s: expected SEED:STEP\n", argv[i]);
                return -1;
            }
            continue;
        }
        if (!strcmp(a, "--set")) {
            if (c->n_sets == MAX_SETS) { fprintf(stderr, "vaerun: too many --set\n"); return -1; }
            c->sets[c->n_sets++] = argv[++i];
            continue;
        }
        if (a[0] == '-' && a[1]) { fprintf(stderr, "vaerun: unknown option %s\n", a); return -1; }
        if (c->file) { fprintf(stderr, "vaerun: more than one spec file given\n"); return -1; }
        c->file = a;
    }
    if (!c->file && strcmp(c->command, "keys")) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static int load(const cli *c, vr_spec *spec, vr_err *err)
{
    if (vr_spec_load(c->file, spec, err)) return -1;
    for (int i = 0; i < c->n_sets; i++) {
        char key[256];
        const char *eq = strchr(c->sets[i], '=');
        if (!eq || eq == c->sets[i] || (size_t)(eq - c->sets[i]) >= sizeof key)
            return vr_fail(err, "--set %s: expected KEY=VALUE", c->sets[i]);
        memcpy(key, c->sets[i], eq - c->sets[i]);
        key[eq - c->sets[i]] = 0;
        if (vr_spec_set(spec, key, eq + 1, err)) return -1;
    }
    if (c->n_sets && vr_spec_check(spec, err)) return vr_wrap(err, "after --set");
    return 0;
}

static void run_path(const cli *c, const vr_spec *spec, long seed, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s/runs/seed%ld/run.h5", c->out_dir, spec->name, seed);
}

static int list_runs(const cli *c, const vr_spec *spec)
{
    for (int i = 0; i < spec->n_seeds; i++) {
        char path[2 * VR_PATH_MAX];
        run_path(c, spec, spec->seeds[i], path, sizeof path);
        printf("seed%ld\tseed=%ld\t%s\n", spec->seeds[i], spec->seeds[i], path);
    }
    return 0;
}

static int train_all(const cli *c, const vr_spec *spec)
{
    vr_err err;
    vr_dataset ds;
    /* Generated sets depend on the run's seed: drawn again for each run. */
    const int per_seed = spec->data.set == VR_SET_EIGHT_GAUSSIANS;
    if (vr_dataset_load(&ds, spec, &err)) {
        fprintf(stderr, "vaerun: %s\n", err.msg);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int failed = 0, done = 0, skipped = 0;
    for (int i = 0; i < spec->n_seeds && !g_stop; i++) {
        vr_spec one = *spec;
        one.seed = spec->seeds[i];
        char path[2 * VR_PATH_MAX], label[VR_NAME_MAX + 32], status[32];
        run_path(c, spec, one.seed, path, sizeof path);
        snprintf(label, sizeof label, "%s/seed%ld", spec->name, one.seed);
        if (vr_run_file_status(path, status, sizeof status, &err)) {
            fprintf(stderr, "vaerun: %s: %s\n", label, err.msg);
            failed++;
            continue;
        }
        if (!strcmp(status, "done")) {
            fprintf(stderr, "%s  already done (%s)\n", label, path);
            skipped++;
            continue;
        }
        if (!strcmp(status, "failed") && !c->retry_failed) {
            fprintf(stderr, "%s  failed earlier (%s); --retry-failed trains it again\n", label,
                    path);
            failed++;
            continue;
        }
        if (per_seed) {
            vr_dataset_free(&ds);
            if (vr_dataset_load(&ds, &one, &err)) {
                fprintf(stderr, "vaerun: %s: %s\n", label, err.msg);
                failed++;
                continue;
            }
        }
        vr_run_opts o = {.path = path, .label = label, .out = stderr, .quiet = c->quiet,
                         .stop = &g_stop,
                         .poison_step = c->nan_step && c->nan_seed == one.seed ? c->nan_step : 0,
                         .kill_step = c->kill_step && c->kill_seed == one.seed ? c->kill_step : 0};
        int rc = vr_run_one(&one, &ds, &o, &err);
        if (rc == VR_RUN_DONE) { done++; continue; }
        failed++;
        fprintf(stderr, "vaerun: %s: %s\n", label, err.msg);
        if (rc < 0) break;  /* the results directory is unusable: stop the sweep */
    }
    vr_dataset_free(&ds);
    fprintf(stderr, "%s: %d done, %d already done, %d failed%s -> %s/%s\n", spec->name, done,
            skipped, failed, g_stop ? " (interrupted)" : "", c->out_dir, spec->name);
    return failed || g_stop ? 1 : 0;
}

/* OpenMP threads that wait for work spin for a while before sleeping
 * (libgomp: 300000 spins by default). When the cores are shared (two vaerun
 * processes, or any other job) spinning threads steal the time the working
 * ones need, and a run became 30-50x slower. libgomp reads its settings when
 * it loads, before main, so the only way to change them from here is to set
 * the variable and exec ourselves again. A user's own OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT is left alone. */
static void tame_openmp_spinning(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    setenv("GOMP_SPINCOUNT", "1000", 1);
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
    vr_spec *spec = malloc(sizeof *spec);
    vr_err err;
    if (!spec) return 2;
    if (load(&c, spec, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        free(spec);
        return 2;
    }
    int rc = 0;
    if (!strcmp(c.command, "check"))
        printf("%s: ok (%d run%s)\n", c.file, spec->n_seeds, spec->n_seeds == 1 ? "" : "s");
    else if (!strcmp(c.command, "list"))
        rc = list_runs(&c, spec);
    else
        rc = train_all(&c, spec);
    free(spec);
    return rc;
}
