/* device.c: see device.h. */
#include "device.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda_api.h"

/* Memory a CUDA device keeps free beyond what runs allocate through their
 * backends: cuBLAS and cuDNN workspaces, graph instantiation and the like
 * are allocated by the libraries, lazily, after a run's initialisation. */
#define CUDA_RESERVE_BYTES ((size_t)512 << 20)

/* Footprints remembered per device (shapes of runs; a sweep has few). */
#define MAX_SHAPES 64

#define MIB(x) ((double)(x) / (1024.0 * 1024.0))

struct vr_device {
    vr_device_conf conf;
    char name[32];
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;        /* a run ended, or an initialisation finished */
    int initialising;         /* a run is between admit and init_done */
    int active;               /* runs holding memory */
    unsigned long ends;       /* runs released so far */
    size_t sim_used;          /* simulated device: bytes allocated */
    size_t fp_max;            /* the largest footprint measured */
    struct footprint { uint64_t shape; size_t bytes; } fp[MAX_SHAPES];
    int n_fp;
};

/* The table a run's trainer calls: a copy of the real backend's, with
 * alloc, free and destroy of our own. `table` comes first so that the
 * vr_backend pointer the ops receive is also a pointer to this struct. */
typedef struct {
    vr_backend table;
    vr_backend *inner;
    vr_device_run *run;
} counted;

struct vr_device_run {
    vr_device *dev;
    counted *cb;
    uint64_t shape;           /* what the footprint depends on */
    size_t live, peak;        /* bytes allocated now, at most */
    void **ptr;               /* live allocations and their sizes */
    size_t *size;
    int n, cap;
    int oom;                  /* an allocation was refused */
    size_t oom_bytes;         /* its size */
    size_t failed_peak;       /* bytes held when it was refused */
    size_t free_before;       /* CUDA: free memory before the initialisation */
    int initialising, admitted;
    int wait_end;             /* the last try ran out of memory: wait for a run to end */
    unsigned long fail_ends;  /* ... dev->ends then */
};

/* ---- free memory ------------------------------------------------------------ */

/* Free and total bytes a run may use now (caller holds d->mu). Without a
 * limit: SIZE_MAX. */
static int device_free(vr_device *d, size_t *free_b, size_t *total, vr_err *err)
{
    if (d->conf.sim_bytes) {
        *total = d->conf.sim_bytes;
        *free_b = d->sim_used < d->conf.sim_bytes ? d->conf.sim_bytes - d->sim_used : 0;
        return 0;
    }
    if (!d->conf.cuda) {
        *free_b = *total = SIZE_MAX;
        return 0;
    }
    if (!VR_CUDA_FN(vr_cuda_mem_info))
        return vr_fail(err, "%s: this vaerun was built without CUDA", d->name);
    size_t f = 0, t = 0;
    if (vr_cuda_mem_info(d->conf.index, &f, &t, err)) return -1;
    *free_b = f > CUDA_RESERVE_BYTES ? f - CUDA_RESERVE_BYTES : 0;
    *total = t;
    return 0;
}

/* ---- footprints ------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;  /* FNV-1a */
    return h;
}

/* The fields a run's device memory depends on (not the seed, not the
 * objective's weights): two runs alike here allocate the same. A field
 * missing here only makes an estimate wrong, which costs a retry. */
static uint64_t shape_of(const vr_spec *s)
{
    uint64_t h = 14695981039346656037ull;
    h = mix(h, (uint64_t)s->data.set);
    h = mix(h, (uint64_t)s->data.train);
    h = mix(h, (uint64_t)s->data.test);
    h = mix(h, (uint64_t)s->model.arch);
    h = mix(h, (uint64_t)s->model.latent);
    for (int i = 0; i < s->model.n_hidden; i++) h = mix(h, (uint64_t)s->model.hidden[i]);
    h = mix(h, (uint64_t)s->model.n_hidden);
    h = mix(h, (uint64_t)s->likelihood.kind);
    h = mix(h, (uint64_t)s->likelihood.variance);
    h = mix(h, (uint64_t)s->objective.kind);
    h = mix(h, (uint64_t)s->objective.samples);
    h = mix(h, (uint64_t)s->eval.iwae_images);
    h = mix(h, (uint64_t)s->train.batch);
    return h;
}

/* The bytes a run of SHAPE is expected to need: measured on an earlier run
 * of that shape, else the largest footprint seen (runs of a sweep are
 * mostly alike), else 0 (unknown: just try). Caller holds d->mu. */
static size_t expected(const vr_device *d, uint64_t shape)
{
    for (int i = 0; i < d->n_fp; i++)
        if (d->fp[i].shape == shape) return d->fp[i].bytes;
    return d->fp_max;
}

static void remember(vr_device *d, uint64_t shape, size_t bytes)
{
    if (bytes > d->fp_max) d->fp_max = bytes;
    for (int i = 0; i < d->n_fp; i++)
        if (d->fp[i].shape == shape) {
            d->fp[i].bytes = bytes;
            return;
        }
    if (d->n_fp < MAX_SHAPES) d->fp[d->n_fp++] = (struct footprint){shape, bytes};
}

/* ---- the counting table --------------------------------------------------------- */

static void *counted_alloc(vr_backend *b, size_t bytes)
{
    counted *c = (counted *)b;
    vr_device_run *r = c->run;
    vr_device *d = r->dev;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        void **p = realloc(r->ptr, sizeof *p * (size_t)cap);
        if (p) r->ptr = p;
        size_t *s = realloc(r->size, sizeof *s * (size_t)cap);
        if (s) r->size = s;
        if (!p || !s) return NULL;   /* host memory: the trainer says out of memory */
        r->cap = cap;
    }
    int refused = 0;
    if (d->conf.sim_bytes) {
        pthread_mutex_lock(&d->mu);
        if (d->sim_used + bytes > d->conf.sim_bytes) refused = 1;
        else d->sim_used += bytes;
        pthread_mutex_unlock(&d->mu);
    }
    void *p = refused ? NULL : c->inner->alloc(c->inner, bytes);
    if (!p) {
        if (d->conf.sim_bytes && !refused) {
            pthread_mutex_lock(&d->mu);
            d->sim_used -= bytes;
            pthread_mutex_unlock(&d->mu);
        }
        /* On a device a failed alloc is its memory; on the CPU without a
         * simulated limit it is the host's, and no other run can help. */
        if (d->conf.cuda || d->conf.sim_bytes) {
            r->oom = 1;
            r->oom_bytes = bytes;
            r->failed_peak = r->live;
        }
        return NULL;
    }
    r->ptr[r->n] = p;
    r->size[r->n++] = bytes;
    r->live += bytes;
    if (r->live > r->peak) r->peak = r->live;
    return p;
}

static void counted_free(vr_backend *b, void *p)
{
    counted *c = (counted *)b;
    vr_device_run *r = c->run;
    for (int i = r->n - 1; i >= 0; i--) {
        if (r->ptr[i] != p) continue;
        size_t bytes = r->size[i];
        r->ptr[i] = r->ptr[--r->n];
        r->size[i] = r->size[r->n];
        r->live -= bytes;
        if (r->dev->conf.sim_bytes) {
            pthread_mutex_lock(&r->dev->mu);
            r->dev->sim_used -= bytes;
            pthread_mutex_unlock(&r->dev->mu);
        }
        break;
    }
    c->inner->free(c->inner, p);
}

/* Never called by the trainer; the run's owner calls vr_device_release. */
static void counted_destroy(vr_backend *b) { (void)b; }

static int make_backend(vr_device *d, vr_device_run *r, vr_err *err)
{
    vr_backend *inner = NULL;
    if (d->conf.cuda) {
        if (!VR_CUDA_FN(vr_backend_cuda_create))
            return vr_fail(err, "%s: this vaerun was built without CUDA", d->name);
        if (vr_backend_cuda_create(&inner, d->conf.index, err)) return -1;
    } else if (vr_backend_cpu_create(&inner, d->conf.cpu_threads, err)) {
        return -1;
    }
    counted *c = calloc(1, sizeof *c);
    if (!c) {
        inner->destroy(inner);
        return vr_fail(err, "out of memory");
    }
    c->table = *inner;
    c->table.alloc = counted_alloc;
    c->table.free = counted_free;
    c->table.destroy = counted_destroy;
    c->inner = inner;
    c->run = r;
    r->cb = c;
    return 0;
}

/* ---- admission --------------------------------------------------------------------- */

/* Waits on the device's condition for at most a quarter second: a signal
 * does not wake a condition variable, and *stop must be seen. */
static void wait_a_while(vr_device *d)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&d->cv, &d->mu, &ts);
}

/* Waits (holding d->mu) until R may take the device's initialisation slot,
 * and takes it. Returns 0, 1 when *STOP became non-zero, -1 with err. */
static int take_slot(vr_device *d, vr_device_run *r, const volatile sig_atomic_t *stop,
                     FILE *log, const char *label, vr_err *err)
{
    int said = 0;
    size_t free_b = SIZE_MAX, total = SIZE_MAX;
    for (;;) {
        if (stop && *stop) return 1;
        if (d->initialising) { wait_a_while(d); continue; }
        /* After running out of memory: only a run that ends can help. */
        if (r->wait_end && d->active > 0 && d->ends == r->fail_ends) { wait_a_while(d); continue; }
        if (device_free(d, &free_b, &total, err)) return -1;
        size_t need = expected(d, r->shape);
        /* With nothing else on the device the run tries whatever the
         * estimate says: only a real allocation can tell it never fits. */
        if (need > free_b && d->active > 0) {
            if (!said && log) {
                fprintf(log, "%s  waiting for memory on %s: needs about %.1f MiB, %.1f MiB free; "
                        "starts when another run there ends\n", label, d->name, MIB(need),
                        MIB(free_b));
                fflush(log);
                said = 1;
            }
            wait_a_while(d);
            continue;
        }
        break;
    }
    r->wait_end = 0;
    d->initialising = 1;
    r->initialising = 1;
    r->free_before = free_b;
    return 0;
}

/* Gives the initialisation slot back (holding d->mu). */
static void leave_slot(vr_device *d, vr_device_run *r)
{
    d->initialising = 0;
    r->initialising = 0;
    pthread_cond_broadcast(&d->cv);
}

int vr_device_admit(vr_device *d, const vr_spec *spec, const volatile sig_atomic_t *stop,
                    FILE *log, const char *label, vr_device_run **run, vr_err *err)
{
    vr_device_run *r = *run;
    int first = r == NULL;
    if (first) {
        if (!(r = calloc(1, sizeof *r))) return vr_fail(err, "out of memory");
        r->dev = d;
        r->shape = shape_of(spec);
    }
    pthread_mutex_lock(&d->mu);
    for (;;) {
        int rc = take_slot(d, r, stop, log, label, err);
        if (rc) {
            pthread_mutex_unlock(&d->mu);
            if (first) free(r);
            return rc;
        }
        if (r->cb) break;
        pthread_mutex_unlock(&d->mu);
        int made = make_backend(d, r, err);
        pthread_mutex_lock(&d->mu);
        if (made == 0) break;
        leave_slot(d, r);
        /* A GPU full of other runs may refuse a new stream, handle or
         * workspace: try again when one of them has ended. */
        if (!d->conf.cuda || d->active == 0) {
            pthread_mutex_unlock(&d->mu);
            free(r);
            return -1;
        }
        if (log) {
            fprintf(log, "%s  waiting for %s: %s; trying again when another run there ends\n",
                    label, d->name, err->msg);
            fflush(log);
        }
        r->wait_end = 1;
        r->fail_ends = d->ends;
    }
    pthread_mutex_unlock(&d->mu);
    *run = r;
    return 0;
}

vr_backend *vr_device_backend(vr_device_run *r) { return &r->cb->table; }

int vr_device_init_done(vr_device_run *r, int ok, vr_err *err)
{
    vr_device *d = r->dev;
    int rc = -1;
    pthread_mutex_lock(&d->mu);
    leave_slot(d, r);
    if (ok) {
        size_t fp = r->peak, free_b = 0, total = 0;
        vr_err ignored;
        /* On a GPU the drop in free memory also counts what the backend
         * allocated beside alloc (handles, workspaces). */
        if (d->conf.cuda && device_free(d, &free_b, &total, &ignored) == 0 &&
            r->free_before != SIZE_MAX && r->free_before > free_b && r->free_before - free_b > fp)
            fp = r->free_before - free_b;
        remember(d, r->shape, fp);
        d->active++;
        r->admitted = 1;
        rc = 0;
    } else if (r->oom && d->active > 0) {
        r->oom = 0;
        r->wait_end = 1;
        r->fail_ends = d->ends;
        rc = 1;
    } else if (r->oom) {
        size_t free_b = 0, total = 0;
        vr_err ignored;
        if (device_free(d, &free_b, &total, &ignored)) free_b = total = 0;
        vr_fail(err, "out of memory on %s: this run needs more than %.1f MiB (%.1f MiB were "
                "allocated when %.1f MiB more were refused); %.1f MiB of %.1f MiB are free "
                "with no other run of this sweep on the device",
                d->name, MIB(r->failed_peak + r->oom_bytes), MIB(r->failed_peak),
                MIB(r->oom_bytes), MIB(free_b), MIB(total));
    }
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void vr_device_release(vr_device_run *r)
{
    if (!r) return;
    vr_device *d = r->dev;
    /* Whatever the trainer left allocated goes back too. */
    while (r->n > 0) counted_free(&r->cb->table, r->ptr[r->n - 1]);
    r->cb->inner->destroy(r->cb->inner);
    pthread_mutex_lock(&d->mu);
    if (r->initialising) d->initialising = 0;
    if (r->admitted) d->active--;
    d->ends++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    free(r->cb);
    free(r->ptr);
    free(r->size);
    free(r);
}

size_t vr_device_run_bytes(const vr_device_run *r, size_t *peak)
{
    if (peak) *peak = r->peak;
    return r->live;
}

/* ---- the device --------------------------------------------------------------------- */

int vr_device_open(vr_device **out, const vr_device_conf *c, vr_err *err)
{
    vr_device *d = calloc(1, sizeof *d);
    if (!d) return vr_fail(err, "out of memory");
    d->conf = *c;
    if (c->cuda) snprintf(d->name, sizeof d->name, "cuda:%d", c->index);
    else if (c->sim_bytes) snprintf(d->name, sizeof d->name, "cpu:%d", c->index);
    else snprintf(d->name, sizeof d->name, "cpu");
    if (pthread_mutex_init(&d->mu, NULL) || pthread_cond_init(&d->cv, NULL)) {
        free(d);
        return vr_fail(err, "cannot create a mutex: %s", strerror(errno));
    }
    *out = d;
    return 0;
}

void vr_device_close(vr_device *d)
{
    if (!d) return;
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

const char *vr_device_name(const vr_device *d) { return d->name; }
