/* unit_sched_device.c: the device memory admission of runner/device.h, on a
 * simulated CPU device (what vaerun --debug-mem uses), with threads as a
 * worker has them:
 *  - a run's backend counts what it allocates, and the device's free memory
 *    follows (and comes back whole after release);
 *  - a run whose known footprint does not fit waits until another run on
 *    the device ends, then starts;
 *  - initialisations are one at a time per device;
 *  - an allocation refused while another run holds memory asks for a retry
 *    (1); refused with nothing else on the device it fails (-1) with a
 *    message naming what was needed and what the device has;
 *  - a stop while waiting returns 1 and holds nothing;
 *  - the table the trainer sees runs the real backend's ops.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "runner/device.h"

#define MB ((size_t)1 << 20)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static vr_spec spec_of(int latent)
{
    vr_spec s;
    memset(&s, 0, sizeof s);
    s.model.latent = latent;
    s.train.batch = 32;
    return s;
}

/* Admits a run of SPEC, allocates BYTES through its table (as a trainer
 * would) and reports the init as OK when every allocation succeeded.
 * Returns what vr_device_init_done returned; *run is the run. */
static int init_run(vr_device *d, const vr_spec *spec, size_t bytes, vr_device_run **run,
                    void **mem, vr_err *err)
{
    *run = NULL;
    int a = vr_device_admit(d, spec, NULL, NULL, "t", run, err);
    if (a) return 100 + a;
    vr_backend *b = vr_device_backend(*run);
    *mem = b->alloc(b, bytes);
    int rc = vr_device_init_done(*run, *mem != NULL, err);
    return rc;
}

typedef struct {
    vr_device *d;
    vr_spec spec;
    size_t bytes;
    volatile sig_atomic_t *stop;
    volatile int admitted;     /* set once vr_device_admit returned */
    int rc;
    vr_device_run *run;
} waiter;

static void *wait_admit(void *arg)
{
    waiter *w = arg;
    vr_err err;
    w->rc = vr_device_admit(w->d, &w->spec, w->stop, NULL, "w", &w->run, &err);
    w->admitted = 1;
    if (w->rc == 0) {
        vr_backend *b = vr_device_backend(w->run);
        void *p = b->alloc(b, w->bytes);
        vr_device_init_done(w->run, p != NULL, &err);
    }
    return NULL;
}

static void test_counting_and_ops(void)
{
    vr_device *d;
    vr_err err;
    vr_device_conf conf = {.cuda = 0, .index = 0, .cpu_threads = 1, .sim_bytes = 10 * MB};
    CHECK(vr_device_open(&d, &conf, &err) == 0, "open: %s", err.msg);
    CHECK(strcmp(vr_device_name(d), "cpu:0") == 0, "name %s", vr_device_name(d));
    vr_spec s = spec_of(2);
    vr_device_run *r = NULL;
    CHECK(vr_device_admit(d, &s, NULL, NULL, "t", &r, &err) == 0, "admit: %s", err.msg);
    vr_backend *b = vr_device_backend(r);
    CHECK(strcmp(b->name, "cpu") == 0, "backend %s", b->name);
    float *x = b->alloc(b, 3 * MB), *y = b->alloc(b, MB);
    CHECK(x && y, "alloc");
    size_t peak, live = vr_device_run_bytes(r, &peak);
    CHECK(live == 4 * MB && peak == 4 * MB, "live %zu peak %zu", live, peak);
    b->fill(b, x, 2.0f, 16);          /* the real backend's ops, through the copy */
    b->copy(b, y, x, 16);
    CHECK(y[15] == 2.0f, "ops through the counted table: %g", y[15]);
    b->free(b, y);
    live = vr_device_run_bytes(r, &peak);
    CHECK(live == 3 * MB && peak == 4 * MB, "after free: live %zu peak %zu", live, peak);
    /* 7 MiB are free: 8 more are refused, and with no other run that is final. */
    float *z = b->alloc(b, 8 * MB);
    CHECK(z == NULL, "an allocation past the simulated memory must fail");
    CHECK(vr_device_init_done(r, 0, &err) == -1, "refused with nothing else on the device");
    CHECK(strstr(err.msg, "out of memory on cpu:0: this run needs more than 11.0 MiB") != NULL,
          "message: %s", err.msg);
    CHECK(strstr(err.msg, "7.0 MiB of 10.0 MiB are free") != NULL, "message: %s", err.msg);
    vr_device_release(r);   /* frees x too */
    /* Everything came back: a 10 MiB run fits now. */
    void *m;
    vr_device_run *r2;
    CHECK(init_run(d, &s, 10 * MB, &r2, &m, &err) == 0, "a run of all the memory: %s", err.msg);
    vr_device_release(r2);
    vr_device_close(d);
}

static void test_wait_for_memory(void)
{
    vr_device *d;
    vr_err err;
    vr_device_conf conf = {.cpu_threads = 1, .sim_bytes = 10 * MB};
    CHECK(vr_device_open(&d, &conf, &err) == 0, "open: %s", err.msg);
    vr_spec s = spec_of(2);
    vr_device_run *r1;
    void *m;
    CHECK(init_run(d, &s, 6 * MB, &r1, &m, &err) == 0, "first run: %s", err.msg);
    /* The same shape again: 6 MiB known, 4 free: it waits for r1. */
    waiter w = {.d = d, .spec = s, .bytes = 6 * MB};
    pthread_t th;
    pthread_create(&th, NULL, wait_admit, &w);
    sleep_ms(300);
    CHECK(!w.admitted, "a run that does not fit must wait while another holds the memory");
    vr_device_release(r1);
    pthread_join(th, NULL);
    CHECK(w.admitted && w.rc == 0, "admitted after the other run ended: rc %d", w.rc);
    vr_device_release(w.run);

    /* A shape never seen is tried at once: estimated from the largest
     * footprint (6 MiB) it still waits while 4 MiB are free ... */
    CHECK(init_run(d, &s, 6 * MB, &r1, &m, &err) == 0, "first run again: %s", err.msg);
    vr_spec other = spec_of(3);
    waiter w2 = {.d = d, .spec = other, .bytes = 2 * MB};
    pthread_create(&th, NULL, wait_admit, &w2);
    sleep_ms(300);
    CHECK(!w2.admitted, "an unknown shape is estimated by the largest footprint");
    vr_device_release(r1);
    pthread_join(th, NULL);
    CHECK(w2.rc == 0, "admitted: %d", w2.rc);
    vr_device_release(w2.run);
    vr_device_close(d);
}

static void test_retry_and_stop(void)
{
    vr_device *d;
    vr_err err;
    vr_device_conf conf = {.cpu_threads = 1, .sim_bytes = 10 * MB};
    CHECK(vr_device_open(&d, &conf, &err) == 0, "open: %s", err.msg);
    vr_spec small = spec_of(2), big = spec_of(4);
    vr_device_run *r1, *r2;
    void *m1, *m2;
    CHECK(init_run(d, &small, 3 * MB, &r1, &m1, &err) == 0, "small: %s", err.msg);
    /* Unknown shape, estimated at 3 MiB: tried, and refused at 8 MiB. */
    int rc = init_run(d, &big, 8 * MB, &r2, &m2, &err);
    CHECK(rc == 1, "refused while another run holds memory: retry (1), got %d", rc);
    /* The retry waits for r1 to end; a stop ends the wait. */
    volatile sig_atomic_t stop = 0;
    waiter w = {.d = d, .spec = big, .bytes = 8 * MB, .stop = &stop, .run = r2};
    pthread_t th;
    pthread_create(&th, NULL, wait_admit, &w);
    sleep_ms(300);
    CHECK(!w.admitted, "a retry waits for another run to end");
    stop = 1;
    pthread_join(th, NULL);
    CHECK(w.admitted && w.rc == 1, "a stop while waiting returns 1, got %d", w.rc);
    vr_device_release(r2);
    /* Now the retry after r1 ends succeeds. */
    rc = init_run(d, &big, 8 * MB, &r2, &m2, &err);
    CHECK(rc == 1, "refused again: %d", rc);
    stop = 0;
    waiter w2 = {.d = d, .spec = big, .bytes = 8 * MB, .stop = &stop, .run = r2};
    pthread_create(&th, NULL, wait_admit, &w2);
    sleep_ms(100);
    vr_device_release(r1);
    pthread_join(th, NULL);
    CHECK(w2.rc == 0, "retry admitted after the other run ended: %d", w2.rc);
    size_t peak, live = vr_device_run_bytes(w2.run, &peak);
    CHECK(live == 8 * MB, "the retried run holds %zu", live);
    vr_device_release(w2.run);
    vr_device_close(d);
}

/* Initialisations are one at a time: a second admit waits until the first
 * run's init is done. */
static void test_one_init_at_a_time(void)
{
    vr_device *d;
    vr_err err;
    vr_device_conf conf = {.cpu_threads = 1};
    CHECK(vr_device_open(&d, &conf, &err) == 0, "open: %s", err.msg);
    vr_spec s = spec_of(2);
    vr_device_run *r1 = NULL;
    CHECK(vr_device_admit(d, &s, NULL, NULL, "t", &r1, &err) == 0, "admit: %s", err.msg);
    waiter w = {.d = d, .spec = s, .bytes = MB};
    pthread_t th;
    pthread_create(&th, NULL, wait_admit, &w);
    sleep_ms(300);
    CHECK(!w.admitted, "a second init must wait for the first");
    CHECK(vr_device_init_done(r1, 1, &err) == 0, "init done");
    pthread_join(th, NULL);
    CHECK(w.rc == 0, "then it starts: %d", w.rc);
    vr_device_release(w.run);
    vr_device_release(r1);
    vr_device_close(d);
}

int main(void)
{
    test_counting_and_ops();
    test_wait_for_memory();
    test_retry_and_stop();
    test_one_init_at_a_time();
    return check_result();
}
