/* placement.h: where a sweep's runs train: --backend, --devices, --streams.
 *
 *   --backend cuda|cpu   default: cuda when a GPU is present, else cpu;
 *                        --jobs (CPU processes) alone picks cpu
 *   --devices 0,1,...    GPUs to use (default: all); needs cuda
 *   --streams N          runs at once per GPU (default 4); with cpu: N runs
 *                        as threads of one process, one CPU thread each
 *                        (instead of --jobs' processes)
 *   --debug-mem SIZE     tests: threaded CPU runs pretend each device has
 *                        SIZE bytes (suffix k, M, G), to exercise the memory
 *                        admission of device.h without a GPU
 *   --debug-devices N    tests: threaded CPU runs use N worker processes, as
 *                        N devices would
 *
 * GPUs are counted in a short-lived child process: the parent must not
 * initialise CUDA, because it forks the workers afterwards and a CUDA
 * context does not survive fork.
 */
#ifndef VR_PLACEMENT_H
#define VR_PLACEMENT_H

#include <stddef.h>

#include "schedule.h"

typedef struct {
    const char *backend;   /* "cuda", "cpu", or NULL: cuda when a GPU is present */
    const char *devices;   /* --devices as given, or NULL: all */
    int streams;           /* --streams, 0: not given */
    int jobs;              /* --jobs, 0: not given */
    size_t sim_bytes;      /* --debug-mem, 0: not given */
    int sim_devices;       /* --debug-devices, 0: not given */
} vr_placement;

/* The checks that need no look at the machine: values and combinations.
 * Messages read "--devices 0,0: device 0 is given twice". */
int vr_placement_check(const vr_placement *p, vr_err *err);

/* Decides where the runs train and fills the placement fields of O (jobs,
 * threaded, cuda, devices, streams, sim_bytes); DESC gets a short
 * description for the user ("cuda:0, cuda:1, 4 runs at once on each"), ""
 * for the CPU's default. Counts GPUs (vr_cuda_probe) unless --backend cpu.
 * -1 with err when the request cannot be met (--backend cuda without a
 * GPU, a device that does not exist). */
int vr_placement_resolve(const vr_placement *p, vr_sched_opts *o, char *desc, size_t cap,
                         vr_err *err);

/* Counts the CUDA devices in a child process. Returns the count (0 when
 * there are none, with the reason in WHY). */
int vr_cuda_probe(char *why, size_t cap);

/* Parses --devices TEXT ("0,2,3") into LIST. Returns the count, or -1 with
 * err. */
int vr_parse_devices(const char *text, int *list, int cap, vr_err *err);

/* Parses a byte size: a number with an optional suffix k, M or G (powers
 * of 1024). Returns 0, or -1 with err naming FLAG. */
int vr_parse_size(const char *flag, const char *text, size_t *out, vr_err *err);

#endif
