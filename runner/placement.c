/* placement.c: see placement.h. */
#include "placement.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_api.h"

/* Runs at once per GPU by default: enough to hide one run's host work and
 * small kernels behind the others', few enough that each keeps a fair
 * share of the GPU. */
#define DEFAULT_STREAMS 4
#define MAX_STREAMS 64
#define MAX_SIM_DEVICES 16
/* Counting GPUs initialises the driver: seconds at most, unless it hangs. */
#define PROBE_TIMEOUT_MS 60000

/* ---- parsing ------------------------------------------------------------------ */

int vr_parse_devices(const char *text, int *list, int cap, vr_err *err)
{
    int n = 0;
    const char *p = text;
    if (!*p) return vr_fail(err, "--devices: empty; give device numbers such as 0,1");
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || *p == '-' || *p == '+' || errno)
            return vr_fail(err, "--devices %s: expected device numbers separated by commas, "
                           "such as 0,1", text);
        if (v > 1023) return vr_fail(err, "--devices %s: no device %ld", text, v);
        for (int i = 0; i < n; i++)
            if (list[i] == v)
                return vr_fail(err, "--devices %s: device %ld is given twice", text, v);
        if (n == cap) return vr_fail(err, "--devices %s: more than %d devices", text, cap);
        list[n++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    return n;
}

int vr_parse_size(const char *flag, const char *text, size_t *out, vr_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    double unit = 1;
    if (*end == 'k' || *end == 'K') unit = 1024.0, end++;
    else if (*end == 'm' || *end == 'M') unit = 1024.0 * 1024, end++;
    else if (*end == 'g' || *end == 'G') unit = 1024.0 * 1024 * 1024, end++;
    if (end == text || *end || errno || !(v > 0) || v * unit > 1e15)
        return vr_fail(err, "%s %s: expected a size such as 4M or 1.5G", flag, text);
    *out = (size_t)(v * unit);
    return 0;
}

/* ---- checks -------------------------------------------------------------------- */

int vr_placement_check(const vr_placement *p, vr_err *err)
{
    const char *b = p->backend;
    if (b && strcmp(b, "cuda") && strcmp(b, "cpu"))
        return vr_fail(err, "--backend %s: expected cuda or cpu", b);
    /* --jobs asks for CPU processes: without --backend it picks the CPU. */
    int cpu = b ? !strcmp(b, "cpu") : p->jobs > 0, cuda = b && !strcmp(b, "cuda");
    if (p->devices) {
        int list[VR_MAX_DEVICES];
        if (vr_parse_devices(p->devices, list, VR_MAX_DEVICES, err) < 0) return -1;
        if (cpu && b)
            return vr_fail(err, "--devices picks GPUs; with --backend cpu use --jobs or --streams");
        if (cpu)
            return vr_fail(err, "--devices picks GPUs and --jobs sets CPU processes: give "
                           "--streams (runs at once per GPU) instead of --jobs");
    }
    if (p->streams && (p->streams < 1 || p->streams > MAX_STREAMS))
        return vr_fail(err, "--streams: expected a number from 1 to %d", MAX_STREAMS);
    if (p->jobs && cuda)
        return vr_fail(err, "--jobs sets how many CPU processes train at once; with --backend "
                       "cuda use --streams (runs at once per GPU)");
    if (p->jobs && p->streams)
        return vr_fail(err, "--jobs (runs as processes) and --streams (runs as threads of one "
                       "process) are two ways to train CPU runs at once: give one");
    if ((p->sim_bytes || p->sim_devices) && !(b && cpu && p->streams))
        return vr_fail(err, "--debug-mem and --debug-devices simulate devices for threaded CPU "
                       "runs: they need --backend cpu --streams N");
    if (p->sim_devices && (p->sim_devices < 1 || p->sim_devices > MAX_SIM_DEVICES))
        return vr_fail(err, "--debug-devices: expected a number from 1 to %d", MAX_SIM_DEVICES);
    return 0;
}

/* ---- counting GPUs ---------------------------------------------------------------- */

typedef struct {
    int count;
    char why[256];
} probe_msg;

int vr_cuda_probe(char *why, size_t cap)
{
    snprintf(why, cap, "no CUDA device found");
    if (!VR_CUDA_FN(vr_cuda_device_count)) {
        snprintf(why, cap, "this vaerun was built without CUDA");
        return 0;
    }
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(why, cap, "cannot count CUDA devices: pipe: %s", strerror(errno));
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]); close(fd[1]);
        snprintf(why, cap, "cannot count CUDA devices: fork: %s", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        probe_msg m = {.count = vr_cuda_device_count()};
        if (m.count <= 0) {
            /* The backend says why better than a count of 0 does. */
            vr_backend *b = NULL;
            vr_err err = {{0}};
            if (vr_backend_cuda_create(&b, 0, &err) == 0) b->destroy(b);
            snprintf(m.why, sizeof m.why, "%s", err.msg[0] ? err.msg : "no CUDA device found");
        }
        ssize_t w = write(fd[1], &m, sizeof m);
        _exit(w == (ssize_t)sizeof m ? 0 : 1);
    }
    close(fd[1]);
    probe_msg m = {0};
    size_t got = 0;
    struct pollfd pf = {fd[0], POLLIN, 0};
    while (got < sizeof m && poll(&pf, 1, PROBE_TIMEOUT_MS) > 0) {
        ssize_t n = read(fd[0], (char *)&m + got, sizeof m - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd[0]);
    if (got < sizeof m) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (got < sizeof m) {
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
            snprintf(why, cap, "counting CUDA devices crashed (signal %d)", WTERMSIG(status));
        else
            snprintf(why, cap, "counting CUDA devices did not finish");
        return 0;
    }
    if (m.count > 0) return m.count;
    m.why[sizeof m.why - 1] = '\0';
    snprintf(why, cap, "%s", m.why);
    return 0;
}

/* ---- deciding ----------------------------------------------------------------------- */

static void describe(const vr_sched_opts *o, char *desc, size_t cap)
{
    size_t n = 0;
    desc[0] = '\0';
    for (int i = 0; i < o->n_devices && n < cap; i++)
        n += (size_t)snprintf(desc + n, cap - n, "%s%s:%d", i ? ", " : "",
                              o->cuda ? "cuda" : "cpu", o->devices[i]);
    if (n < cap)
        snprintf(desc + n, cap - n, ", %d run%s at once on %s", o->streams,
                 o->streams == 1 ? "" : "s", o->n_devices == 1 ? "it" : "each");
}

int vr_placement_resolve(const vr_placement *p, vr_sched_opts *o, char *desc, size_t cap,
                         vr_err *err)
{
    if (vr_placement_check(p, err)) return -1;
    desc[0] = '\0';
    o->jobs = p->jobs;
    o->threaded = o->cuda = 0;
    o->n_devices = 0;
    o->sim_bytes = p->sim_bytes;
    int want_cuda = p->backend && !strcmp(p->backend, "cuda");
    int want_cpu = p->backend ? !strcmp(p->backend, "cpu") : p->jobs > 0;
    int count = 0;
    char why[512] = "";
    if (!want_cpu) count = vr_cuda_probe(why, sizeof why);
    if (want_cuda && count == 0)
        return vr_fail(err, "--backend cuda: %s; use --backend cpu to train on the CPU", why);
    if (p->devices && count == 0)
        return vr_fail(err, "--devices %s: %s; leave --devices out to train on the CPU",
                       p->devices, why);
    if (count == 0 || want_cpu) {
        if (p->streams) {  /* CPU runs as threads: the worker path without a GPU */
            o->threaded = 1;
            o->streams = p->streams;
            o->n_devices = p->sim_devices ? p->sim_devices : 1;
            for (int i = 0; i < o->n_devices; i++) o->devices[i] = i;
            describe(o, desc, cap);
        }
        return 0;
    }
    o->threaded = o->cuda = 1;
    o->streams = p->streams ? p->streams : DEFAULT_STREAMS;
    if (p->devices) {
        o->n_devices = vr_parse_devices(p->devices, o->devices, VR_MAX_DEVICES, err);
        if (o->n_devices < 0) return -1;
        for (int i = 0; i < o->n_devices; i++)
            if (o->devices[i] >= count) {
                char have[64];
                if (count == 1) snprintf(have, sizeof have, "1 CUDA device, 0");
                else snprintf(have, sizeof have, "%d CUDA devices, 0 to %d", count, count - 1);
                return vr_fail(err, "--devices %s: there is no device %d: this machine has %s",
                               p->devices, o->devices[i], have);
            }
    } else {
        o->n_devices = count < VR_MAX_DEVICES ? count : VR_MAX_DEVICES;
        for (int i = 0; i < o->n_devices; i++) o->devices[i] = i;
    }
    describe(o, desc, cap);
    return 0;
}
