/* worker.c: see worker.h. */
#define _GNU_SOURCE   /* fopencookie: a run's FILE that sends tagged lines */
#include "worker.h"

#include <errno.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STREAMS 64

typedef struct {
    const vr_sched_ctx *c;
    vr_device *dev;
    int cpu_threads;
    int cmd_fd, out_fd;
    pthread_mutex_t intake;     /* one thread reads cmd_fd at a time */
    pthread_mutex_t h5;         /* one run in HDF5 at a time */
} worker;

/* ---- lines to the parent -------------------------------------------------------- */

/* Writes all of BUF with one write() when it fits in a pipe's atomic size
 * (the caller keeps lines below VR_WORKER_LINE_MAX). */
static void send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;   /* the parent is gone: PR_SET_PDEATHSIG ends us */
        buf += n;
        len -= (size_t)n;
    }
}

static void say(const worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(const worker *w, const char *fmt, ...)
{
    char line[VR_WORKER_LINE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof line - 2) n = (int)sizeof line - 2;
    if (line[n - 1] != '\n') line[n++] = '\n';
    send_all(w->out_fd, line, (size_t)n);
}

/* A run's output stream: whole lines become R lines. */
typedef struct {
    const worker *w;
    int run;
    char buf[VR_WORKER_LINE_MAX];
    size_t len;
} run_stream;

static void stream_flush_line(run_stream *s)
{
    s->buf[s->len] = '\0';
    say(s->w, "%c%d\t%s\n", VR_W_LINE, s->run, s->buf);
    s->len = 0;
}

static ssize_t stream_write(void *cookie, const char *data, size_t size)
{
    run_stream *s = cookie;
    for (size_t i = 0; i < size; i++) {
        char ch = data[i];
        if (ch == '\r') continue;
        if (ch == '\n' || s->len == sizeof s->buf - 1) stream_flush_line(s);
        if (ch != '\n') s->buf[s->len++] = ch;
    }
    return (ssize_t)size;
}

static int stream_close(void *cookie)
{
    run_stream *s = cookie;
    if (s->len) stream_flush_line(s);
    free(s);
    return 0;
}

static FILE *open_run_stream(const worker *w, int run)
{
    run_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->w = w;
    s->run = run;
    cookie_io_functions_t io = {.write = stream_write, .close = stream_close};
    FILE *f = fopencookie(s, "w", io);
    if (!f) {
        free(s);
        return NULL;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    return f;
}

/* ---- threads ---------------------------------------------------------------------- */

/* The next run index from the parent: 1 with *idx, 0 at the end. */
static int next_run(worker *w, int *idx)
{
    pthread_mutex_lock(&w->intake);
    int32_t v;
    size_t got = 0;
    while (got < sizeof v) {
        ssize_t n = read(w->cmd_fd, (char *)&v + got, sizeof v - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    pthread_mutex_unlock(&w->intake);
    if (got != sizeof v) return 0;
    *idx = v;
    return 1;
}

static void *thread_main(void *arg)
{
    worker *w = arg;
    /* OpenMP's thread count is a per-thread setting, and OpenBLAS's OpenMP
     * build takes its count from it: a run's GEMMs then stay on its own
     * threads instead of resizing a process-wide pool under another run. */
    omp_set_num_threads(w->cpu_threads);
    const volatile sig_atomic_t *stop = w->c->o->stop;
    int idx;
    while (next_run(w, &idx)) {
        if (idx < 0 || idx >= w->c->sw->n_runs) {
            say(w, "%c\tworker: bad run index %d", VR_W_NOTE, idx);
            continue;
        }
        if (*stop) {
            say(w, "%c%d", VR_W_UNSTARTED, idx);
            continue;
        }
        say(w, "%c%d", VR_W_STARTED, idx);
        FILE *out = open_run_stream(w, idx);
        int code = CHILD_FAILED;
        if (out) {
            code = vr_sched_train(w->c, idx, out, w->dev, &w->h5);
            fclose(out);
        } else {
            say(w, "%c%d\tvaerun: %s/%s: out of memory", VR_W_LINE, idx, w->c->sw->name,
                w->c->sw->runs[idx].id);
        }
        say(w, "%c%d\t%d", VR_W_ENDED, idx, code);
    }
    return NULL;
}

/* ---- the worker --------------------------------------------------------------------- */

int vr_worker_main(const vr_sched_ctx *c, const vr_device_conf *conf, int streams, int cmd_fd,
                   int out_fd)
{
    worker w = {.c = c, .cpu_threads = conf->cpu_threads > 0 ? conf->cpu_threads : 1,
                .cmd_fd = cmd_fd, .out_fd = out_fd};
    vr_err err;
    if (streams < 1) streams = 1;
    if (streams > MAX_STREAMS) streams = MAX_STREAMS;
    if (vr_device_open(&w.dev, conf, &err)) {
        say(&w, "%c\tvaerun: worker: %s", VR_W_NOTE, err.msg);
        return 1;
    }
    pthread_mutex_init(&w.intake, NULL);
    pthread_mutex_init(&w.h5, NULL);
    /* Threads start with SIGINT and SIGTERM blocked: the main thread takes
     * them (the handler sets *stop), and the threads' reads and waits are
     * never cut short by them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_t th[MAX_STREAMS];
    int n = 0;
    for (; n < streams; n++) {
        int e = pthread_create(&th[n], NULL, thread_main, &w);
        if (e) {
            say(&w, "%c\tvaerun: %s: cannot start thread %d: %s", VR_W_NOTE,
                vr_device_name(w.dev), n + 1, strerror(e));
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    vr_device_close(w.dev);
    pthread_mutex_destroy(&w.intake);
    pthread_mutex_destroy(&w.h5);
    return n ? 0 : 1;
}
