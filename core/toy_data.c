/* toy_data.c: the eight-Gaussians set of seed 002. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "rng.h"

#define N_MODES 8
#define RADIUS 5.0
#define STD 0.2

/* Point i of stream COUNTER: a component from one draw, two normals from the
 * next two elements. */
static int draw(vr_images *im, int n, vr_rng_key key, uint64_t counter)
{
    im->n = n; im->c = 2; im->h = 1; im->w = 1;
    im->values = malloc(sizeof(float) * 2 * (size_t)n);
    im->labels = malloc((size_t)n);
    if (!im->values || !im->labels) return -1;
    for (int i = 0; i < n; i++) {
        uint32_t m = vr_rng_below(key, counter, 3 * (uint64_t)i, N_MODES);
        double a = 6.283185307179586 * m / N_MODES;
        im->values[2 * i] = (float)(RADIUS * cos(a) + STD * vr_rng_normal_at(key, counter, 3 * (uint64_t)i + 1));
        im->values[2 * i + 1] = (float)(RADIUS * sin(a) + STD * vr_rng_normal_at(key, counter, 3 * (uint64_t)i + 2));
        im->labels[i] = (uint8_t)m;
    }
    return 0;
}

int vr_eight_gaussians(vr_dataset *ds, const vr_spec *spec, vr_err *err)
{
    static const char *const names[N_MODES] = {"0 deg", "45 deg", "90 deg", "135 deg",
                                              "180 deg", "225 deg", "270 deg", "315 deg"};
    memset(ds, 0, sizeof *ds);
    vr_rng_key key = vr_rng_make_key((uint64_t)spec->seed, VR_RNG_DATA);
    if (draw(&ds->train, spec->data.train, key, 0) || draw(&ds->test, spec->data.test, key, 1)) {
        vr_dataset_free(ds);
        return vr_fail(err, "eight_gaussians: out of memory for %d + %d points",
                       spec->data.train, spec->data.test);
    }
    snprintf(ds->dir, sizeof ds->dir, "(generated from seed %ld)", spec->seed);
    for (int i = 0; i < N_MODES; i++) ds->class_names[i] = names[i];
    return 0;
}
