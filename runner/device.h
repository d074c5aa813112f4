/* device.h: one device shared by the runs of a worker process's threads.
 *
 * A worker (worker.h) trains several runs at once on one device, each in
 * its own thread with its own backend (on a GPU: its own stream, handles
 * and workspace). This file gives each run that backend and decides when
 * it may start, so that runs never take a device past its memory:
 *
 *  - A run's backend is a copy of the real backend's table whose alloc and
 *    free count bytes (the trainer allocates everything through b->alloc,
 *    once, in vr_trainer_init). The real backend's ops reach their state
 *    through b->ctx only, so the copy works like the original.
 *  - Runs initialise one at a time per device. When a run's footprint is
 *    known (measured on an earlier run of the same shape, else the largest
 *    footprint seen on the device) and does not fit in the free memory, it
 *    waits until another run on the device ends.
 *  - An allocation that fails during initialisation is not a crash: the
 *    run frees what it has and waits for another run to end; when no other
 *    run holds memory it fails with a message naming what it needed and
 *    what the device has.
 *
 * Free memory is cudaMemGetInfo's (vr_cuda_mem_info) less a reserve for
 * what the libraries allocate lazily (cuBLAS workspaces, CUDA graphs); on
 * the CPU there is no limit, unless a test pretends the CPU has sim_bytes
 * (vaerun --debug-mem), which exercises all of the above without a GPU.
 *
 * Everything here is per device and per run; the device's mutex guards its
 * counters. No global state.
 */
#ifndef VR_DEVICE_H
#define VR_DEVICE_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "../core/backend.h"
#include "../core/config.h"

typedef struct {
    int cuda;              /* 1: CUDA device `index`; 0: the CPU */
    int index;             /* the CUDA device number (CPU: the worker's number) */
    int cpu_threads;       /* CPU: threads of each run's backend */
    size_t sim_bytes;      /* CPU, tests: pretend the device has this many bytes (0: no limit) */
} vr_device_conf;

typedef struct vr_device vr_device;
typedef struct vr_device_run vr_device_run;   /* one run's hold on a device */

/* Opens DEVICE for a worker's threads. -1 with err on out of memory. */
int vr_device_open(vr_device **out, const vr_device_conf *c, vr_err *err);
void vr_device_close(vr_device *d);

/* "cuda:0", "cpu", "cpu:1" (a simulated device of a test). */
const char *vr_device_name(const vr_device *d);

/* Waits until a run of SPEC may initialise on D, then holds the device's
 * initialisation slot. With *run NULL (a run's first call) it creates the
 * run's backend; with the *run of an earlier vr_device_init_done that
 * returned 1, it first waits for another run of the device to end. While
 * waiting for memory it writes one line "LABEL  waiting for memory on ..."
 * to LOG. Returns 0 (vr_device_backend(*run) is ready: initialise the
 * trainer, then call vr_device_init_done), 1 when *STOP became non-zero
 * while waiting (nothing was started; *run, if not NULL, must still be
 * released), -1 with err when the backend cannot be created (*run is NULL
 * on a first call). */
int vr_device_admit(vr_device *d, const vr_spec *spec, const volatile sig_atomic_t *stop,
                    FILE *log, const char *label, vr_device_run **run, vr_err *err);

/* The run's backend: valid from vr_device_admit until vr_device_release. */
vr_backend *vr_device_backend(vr_device_run *r);

/* Ends the initialisation that vr_device_admit allowed: OK when
 * vr_trainer_init succeeded. Returns 0 (the run holds its memory until
 * vr_device_release), 1 when the init failed for want of device memory
 * while other runs hold some (free the trainer and call vr_device_admit
 * again), -1 when it failed for good: err holds the trainer's message, or,
 * for device memory, what the run needed and what the device had. */
int vr_device_init_done(vr_device_run *r, int ok, vr_err *err);

/* The run has ended (its trainer freed): destroys its backend, returns its
 * memory to the device and wakes runs waiting for it. R may be NULL. */
void vr_device_release(vr_device_run *r);

/* Bytes of device memory the run has allocated through its backend now,
 * and at most so far. */
size_t vr_device_run_bytes(const vr_device_run *r, size_t *peak);

#endif
