/* worker.h: a worker process: several runs at once, as threads, on one
 * device.
 *
 * With --backend cuda the parent forks one worker per GPU (a crash takes
 * down that device's runs only) and hands it runs one at a time as its
 * threads free up; each of its `streams` threads trains one run at a time
 * on a backend of its own (on a GPU: its own stream, handles, workspace),
 * admitted on the device's memory (device.h). --backend cpu --streams N
 * does the same on the CPU, one thread per run, so that this path is
 * tested on machines without a GPU.
 *
 * The parent talks to a worker through two pipes:
 *   parent -> worker   run indices, one int32 each (4 bytes: written and
 *                      read whole); end of file: no more runs
 *   worker -> parent   lines, each written whole by one write() (at most
 *                      PIPE_BUF bytes, so lines of several threads never mix):
 *     S<i>             run i has started on a thread
 *     R<i>\t<text>     a line of run i's output (progress, messages)
 *     E<i>\t<code>     run i has ended: a CHILD_* code (sched_internal.h)
 *     U<i>             run i was not started (the sweep is stopping)
 *     W\t<text>        a message of the worker itself
 *
 * Threads own everything of their run; what they share is the read-only
 * sweep and dataset, the device (its own mutex), the intake of run indices
 * and the HDF5 lock (mutexes owned by the worker and passed down). SIGINT
 * and SIGTERM are taken by the worker's main thread and set the stop flag
 * every run reads; its threads block them.
 */
#ifndef VR_WORKER_H
#define VR_WORKER_H

#include "sched_internal.h"

/* Line tags of the protocol above. */
enum { VR_W_STARTED = 'S', VR_W_LINE = 'R', VR_W_ENDED = 'E', VR_W_UNSTARTED = 'U',
       VR_W_NOTE = 'W' };

/* The longest line a worker sends (the rest of a longer one is cut). */
#define VR_WORKER_LINE_MAX 4000

/* Runs a worker until CMD_FD reaches its end and every run has ended.
 * Returns its exit status: 0, or 1 when it could not start (the reason sent
 * as a W line). */
int vr_worker_main(const vr_sched_ctx *c, const vr_device_conf *dev, int streams, int cmd_fd,
                   int out_fd);

#endif
