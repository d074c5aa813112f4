/* unit_run_file.c: run.h5 written by runner/run_file.c, read back with the
 * HDF5 C API (and with h5py when it is installed).
 *
 * Covers: every root attribute, /config, /metrics, /eval, /tensors, /params
 * (values, shapes, types, nested names), compression of large datasets,
 * overwriting, the atomic-write guarantees on failure (old file intact, no
 * PATH.tmp left), unwritable destinations, and vr_run_file_status.
 */
#include "check.h"
#include "runner/run_file.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VR_SOURCE_DIR
#define VR_SOURCE_DIR "."
#endif

#define DEC_OUT 3136
#define DEC_IN 10
#define IMG (4 * 1 * 28 * 28)

/* ------------------------------------------------------------------------
 * The record under test
 * ------------------------------------------------------------------------ */

typedef struct {
    double step[5], loss[5], estep[2], elbo[2];
    float img[IMG];
    int32_t labels[4];
    float enc_w[8 * 1 * 5 * 5], enc_b[8];
    float *dec_w; /* [DEC_OUT, DEC_IN] */
    vr_series metrics[2], eval[2];
    vr_array tensors[2], params[3];
    vr_run_record rec;
} fixture;

static float img_value(size_t i) { return (float)((i * 37) % 256) / 255.0f; }
static float enc_w_value(size_t i) { return 0.01f * (float)i - 1.0f; }
static float dec_w_value(size_t i) { return (float)((i * 7919) % 1000) / 1000.0f - 0.5f; }

static const char *const CONFIG_YAML =
    "name: mnist_geco\nmodel: {arch: standard, latent: 10}\nnote: \"caf\xc3\xa9\"\n";

static vr_array arr(const char *name, vr_dtype dt, const void *data, int rank,
                    size_t d0, size_t d1, size_t d2, size_t d3)
{
    vr_array a = {name, rank, {d0, d1, d2, d3}, dt, data};
    return a;
}

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < 5; i++) {
        f->step[i] = 100.0 * i;
        f->loss[i] = 200.0 / (i + 1) + 0.125;
    }
    f->estep[0] = 0; f->estep[1] = 1000;
    f->elbo[0] = -100.5; f->elbo[1] = -95.25;
    for (size_t i = 0; i < IMG; i++) f->img[i] = img_value(i);
    int32_t labels[4] = {7, 2, 1, 0};
    memcpy(f->labels, labels, sizeof labels);
    for (size_t i = 0; i < 200; i++) f->enc_w[i] = enc_w_value(i);
    for (int i = 0; i < 8; i++) f->enc_b[i] = 0.5f * (float)i;
    f->dec_w = malloc(sizeof(float) * DEC_OUT * DEC_IN);
    for (size_t i = 0; i < (size_t)DEC_OUT * DEC_IN; i++) f->dec_w[i] = dec_w_value(i);

    f->metrics[0] = (vr_series){"step", 5, f->step};
    f->metrics[1] = (vr_series){"loss", 5, f->loss};
    f->eval[0] = (vr_series){"step", 2, f->estep};
    f->eval[1] = (vr_series){"test_elbo", 2, f->elbo};
    f->tensors[0] = arr("data", VR_DT_F32, f->img, 4, 4, 1, 28, 28);
    f->tensors[1] = arr("labels", VR_DT_I32, f->labels, 1, 4, 0, 0, 0);
    f->params[0] = arr("encoder/0_conv2d/weight", VR_DT_F32, f->enc_w, 4, 8, 1, 5, 5);
    f->params[1] = arr("encoder/0_conv2d/bias", VR_DT_F32, f->enc_b, 1, 8, 0, 0, 0);
    f->params[2] = arr("decoder/0_dense/weight", VR_DT_F32, f->dec_w, 2, DEC_OUT, DEC_IN, 0, 0);

    f->rec = (vr_run_record){
        .version = "0.1.0", .status = "done", .message = "", .seed = 1234567890123L,
        .backend = "cpu", .device = "cpu (2 threads)",
        .start_time = "2024-05-01T10:00:00Z", .end_time = "2024-05-01T10:05:00Z",
        .config_yaml = CONFIG_YAML,
        .metrics = f->metrics, .n_metrics = 2, .eval = f->eval, .n_eval = 2,
        .tensors = f->tensors, .n_tensors = 2, .params = f->params, .n_params = 3,
    };
}

/* ------------------------------------------------------------------------
 * Reading back with the C API
 * ------------------------------------------------------------------------ */

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int tmp_exists(const char *path)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    return exists(tmp);
}

/* The string attribute NAME of LOC is a vlen UTF-8 string equal to WANT. */
static void check_str_attr(hid_t loc, const char *name, const char *want)
{
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    CHECK(a >= 0, "attribute %s missing", name);
    if (a < 0) return;
    hid_t t = H5Aget_type(a);
    CHECK(H5Tget_class(t) == H5T_STRING, "%s is not a string", name);
    CHECK(H5Tis_variable_str(t) > 0, "%s is not variable-length", name);
    CHECK(H5Tget_cset(t) == H5T_CSET_UTF8, "%s is not UTF-8", name);
    char *s = NULL;
    CHECK(H5Aread(a, t, &s) >= 0, "reading %s", name);
    CHECK(s && strcmp(s, want) == 0, "%s = \"%s\", want \"%s\"", name, s ? s : "(null)", want);
    if (s) H5free_memory(s);
    H5Tclose(t);
    H5Aclose(a);
}

static void check_root(hid_t file, const vr_run_record *r)
{
    check_str_attr(file, "vaerun_version", r->version);
    check_str_attr(file, "status", r->status);
    check_str_attr(file, "message", r->message);
    check_str_attr(file, "backend", r->backend);
    check_str_attr(file, "device", r->device);
    check_str_attr(file, "start_time", r->start_time);
    check_str_attr(file, "end_time", r->end_time);

    hid_t a = H5Aopen(file, "seed", H5P_DEFAULT);
    CHECK(a >= 0, "seed attribute missing");
    if (a >= 0) {
        hid_t t = H5Aget_type(a);
        CHECK(H5Tequal(t, H5T_STD_I64LE) > 0, "seed is not int64");
        int64_t seed = 0;
        H5Aread(a, H5T_NATIVE_INT64, &seed);
        CHECK(seed == (int64_t)r->seed, "seed %lld", (long long)seed);
        H5Tclose(t);
        H5Aclose(a);
    }

    hid_t d = H5Dopen2(file, "/config", H5P_DEFAULT);
    CHECK(d >= 0, "/config missing");
    if (d >= 0) {
        hid_t t = H5Dget_type(d);
        hid_t s = H5Dget_space(d);
        CHECK(H5Sget_simple_extent_type(s) == H5S_SCALAR, "/config is not scalar");
        CHECK(H5Tis_variable_str(t) > 0 && H5Tget_cset(t) == H5T_CSET_UTF8,
              "/config is not a vlen UTF-8 string");
        char *y = NULL;
        CHECK(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &y) >= 0, "reading /config");
        CHECK(y && strcmp(y, r->config_yaml) == 0, "/config = \"%s\"", y ? y : "(null)");
        if (y) H5free_memory(y);
        H5Sclose(s);
        H5Tclose(t);
        H5Dclose(d);
    }
}

/* Opens dataset PATH, checks its file type (class, size), rank and dims and
 * reads it as MTYPE into a malloc'd buffer (NULL when any check failed). */
static void *read_dset(hid_t file, const char *path, H5T_class_t cls, size_t esize,
                       hid_t mtype, int rank, const size_t *dims, H5D_layout_t *layout)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    CHECK(d >= 0, "%s missing", path);
    if (d < 0) return NULL;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), p = H5Dget_create_plist(d);
    void *buf = NULL;
    hsize_t hd[8];
    int r = H5Sget_simple_extent_dims(s, hd, NULL);
    int ok = r == rank && H5Tget_class(t) == cls && H5Tget_size(t) == esize &&
             H5Tget_order(t) == H5T_ORDER_LE;
    CHECK(ok, "%s: rank %d (want %d), class %d size %zu", path, r, rank,
          (int)H5Tget_class(t), H5Tget_size(t));
    size_t n = 1;
    for (int i = 0; ok && i < rank; i++) {
        CHECK(hd[i] == dims[i], "%s: dim %d is %llu, want %zu", path, i,
              (unsigned long long)hd[i], dims[i]);
        ok = ok && hd[i] == dims[i];
        n *= dims[i];
    }
    if (layout) *layout = H5Pget_layout(p);
    if (ok) {
        buf = malloc(n * esize + 1);
        if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            CHECK(0, "%s: H5Dread failed", path);
            free(buf);
            buf = NULL;
        }
    }
    H5Pclose(p);
    H5Sclose(s);
    H5Tclose(t);
    H5Dclose(d);
    return buf;
}

static void check_series(hid_t file, const char *group, const vr_series *s, int n)
{
    for (int i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "/%s/%s", group, s[i].name);
        double *v = read_dset(file, path, H5T_FLOAT, 8, H5T_NATIVE_DOUBLE, 1, &s[i].len, NULL);
        for (size_t j = 0; v && j < s[i].len; j++)
            CHECK(v[j] == s[i].values[j], "%s[%zu] = %g, want %g", path, j, v[j], s[i].values[j]);
        free(v);
    }
}

/* Checks one array; returns its layout. */
static H5D_layout_t check_array(hid_t file, const char *group, const vr_array *a)
{
    char path[256];
    snprintf(path, sizeof path, "/%s/%s", group, a->name);
    int f32 = a->dtype == VR_DT_F32;
    H5D_layout_t layout = H5D_LAYOUT_ERROR;
    void *v = read_dset(file, path, f32 ? H5T_FLOAT : H5T_INTEGER, 4,
                        f32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT32, a->rank, a->dims, &layout);
    size_t n = 1;
    for (int d = 0; d < a->rank; d++) n *= a->dims[d];
    if (v) {
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n; i++) {
            int same = f32 ? ((float *)v)[i] == ((const float *)a->data)[i]
                           : ((int32_t *)v)[i] == ((const int32_t *)a->data)[i];
            if (!same && bad++ == 0) first = i;
        }
        CHECK(bad == 0, "%s: %zu of %zu values differ, first at %zu", path, bad, n, first);
    }
    free(v);
    return layout;
}

static void check_deflated(hid_t file, const char *path)
{
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    if (d < 0) return;
    hid_t p = H5Dget_create_plist(d);
    int found = 0;
    for (int i = 0; i < H5Pget_nfilters(p); i++) {
        unsigned flags, cd[4];
        size_t ncd = 4;
        char name[64];
        if (H5Pget_filter2(p, (unsigned)i, &flags, &ncd, cd, sizeof name, name, NULL) ==
            H5Z_FILTER_DEFLATE)
            found = ncd >= 1 && cd[0] == 4;
    }
    CHECK(found, "%s: no deflate level 4 filter", path);
    H5Pclose(p);
    H5Dclose(d);
}

/* Reads the file at PATH back and compares it with REC in full. */
static void check_file(const char *path, const vr_run_record *rec)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0, "cannot open %s", path);
    if (file < 0) return;
    check_root(file, rec);
    check_series(file, "metrics", rec->metrics, rec->n_metrics);
    check_series(file, "eval", rec->eval, rec->n_eval);
    for (int i = 0; i < rec->n_tensors; i++) check_array(file, "tensors", &rec->tensors[i]);
    for (int i = 0; i < rec->n_params; i++) check_array(file, "params", &rec->params[i]);
    H5Fclose(file);
}

/* ------------------------------------------------------------------------
 * The cases
 * ------------------------------------------------------------------------ */

static void test_write_read(const char *path, fixture *f)
{
    vr_err err = {""};
    int rc = vr_run_file_write(path, &f->rec, &err);
    CHECK(rc == 0, "write failed: %s", err.msg);
    CHECK(!tmp_exists(path), "%s.tmp left behind", path);
    check_file(path, &f->rec);

    /* Small arrays stay contiguous, the 125 KiB decoder weight is deflated. */
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return;
    CHECK(check_array(file, "tensors", &f->tensors[0]) == H5D_CONTIGUOUS, "data not contiguous");
    CHECK(check_array(file, "params", &f->params[2]) == H5D_CHUNKED, "decoder weight not chunked");
    check_deflated(file, "/params/decoder/0_dense/weight");
    H5O_info_t info;
    CHECK(H5Oget_info_by_name(file, "/params/encoder/0_conv2d", &info, H5P_DEFAULT) >= 0 &&
          info.type == H5O_TYPE_GROUP, "/params/encoder/0_conv2d is not a group");
    H5Fclose(file);
}

/* h5py must see str attributes and the right shapes. Skipped (not failed)
 * when python3 or h5py is missing. */
static void test_h5py(const char *path)
{
    const char *py = getenv("VAERUN_PYTHON") ? getenv("VAERUN_PYTHON") : "/usr/bin/python3";
    const char *script = VR_SOURCE_DIR "/tests/read_run_h5.py";
    if (access(py, X_OK) != 0 || access(script, R_OK) != 0) {
        fprintf(stderr, "skip h5py check: %s or %s missing\n", py, script);
        return;
    }
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' 2>&1", py, script, path);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "popen %s", cmd);
    if (!p) return;
    static char out[16384];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code == 2) {
        fprintf(stderr, "skip h5py check: h5py not installed for %s\n", py);
        return;
    }
    CHECK(code == 0, "%s exited %d:\n%s", cmd, code, out);
    const char *want[] = {
        "attr\tvaerun_version\tstr\t0.1.0\n",
        "attr\tstatus\tstr\tdone\n",
        "attr\tmessage\tstr\t\n",
        "attr\tbackend\tstr\tcpu\n",
        "attr\tdevice\tstr\tcpu (2 threads)\n",
        "attr\tstart_time\tstr\t2024-05-01T10:00:00Z\n",
        "attr\tend_time\tstr\t2024-05-01T10:05:00Z\n",
        "attr\tseed\tint64\t1234567890123\n",
        "config\tstr\t", /* length in characters: h5py decoded the UTF-8 */
        "dset\t/metrics/loss\tfloat64\t5\t",
        "dset\t/eval/test_elbo\tfloat64\t2\t-100.5\t-95.25\n",
        "dset\t/tensors/data\tfloat32\t4x1x28x28\t0.0\t",
        "dset\t/tensors/labels\tint32\t4\t7\t0\n",
        "dset\t/params/encoder/0_conv2d/weight\tfloat32\t8x1x5x5\t-1.0\t",
        "dset\t/params/encoder/0_conv2d/bias\tfloat32\t8\t0.0\t3.5\n",
        "dset\t/params/decoder/0_dense/weight\tfloat32\t3136x10\t",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK(strstr(out, want[i]) != NULL, "h5py output lacks \"%s\":\n%s", want[i], out);
    char config_line[64];
    snprintf(config_line, sizeof config_line, "config\tstr\t%zu\n", strlen(CONFIG_YAML) - 1);
    CHECK(strstr(out, config_line) != NULL, "h5py: /config not %zu characters:\n%s",
          strlen(CONFIG_YAML) - 1, out);
}

/* A second write replaces the whole file: no stale datasets survive. */
static void test_overwrite(const char *path, fixture *f)
{
    vr_run_record r = f->rec;
    r.status = "failed";
    r.message = "step 12: loss is NaN";
    r.end_time = "2024-05-01T10:01:00Z";
    r.seed = -7;
    vr_series m[1] = {{"loss", 3, f->loss}};
    r.metrics = m; r.n_metrics = 1;
    r.n_eval = 0;
    r.n_params = 1;
    vr_err err = {""};
    CHECK(vr_run_file_write(path, &r, &err) == 0, "overwrite failed: %s", err.msg);
    CHECK(!tmp_exists(path), "%s.tmp left behind", path);
    check_file(path, &r);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return;
    H5E_auto2_t fn; void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    CHECK(H5Lexists(file, "/params/decoder", H5P_DEFAULT) == 0, "old /params/decoder survived");
    CHECK(H5Lexists(file, "/metrics/step", H5P_DEFAULT) == 0, "old /metrics/step survived");
    CHECK(H5Lexists(file, "/eval", H5P_DEFAULT) > 0, "/eval group missing when empty");
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    H5Fclose(file);
    /* Back to the full record for the cases that follow. */
    CHECK(vr_run_file_write(path, &f->rec, &err) == 0, "rewrite failed: %s", err.msg);
}

/* Failures, before writing (validation) and during it (HDF5), leave the old
 * file as it was and no PATH.tmp. */
static void test_failures_keep_old(const char *path, fixture *f)
{
    vr_err err = {""};
    vr_run_record r = f->rec;
    r.status = "running";
    vr_series m[2] = {{"step", 5, f->step}, {"loss", 4, f->loss}};
    r.metrics = m;
    CHECK(vr_run_file_write(path, &r, &err) != 0, "length mismatch accepted");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "length 4") && strstr(err.msg, "metrics"),
          "unclear message: %s", err.msg);
    CHECK(!tmp_exists(path), "%s.tmp left after mismatch", path);
    check_file(path, &f->rec);

    /* Two arrays with one name: HDF5 itself fails half way through. */
    r = f->rec;
    r.status = "running";
    vr_array dup[2] = {f->params[0], f->params[0]};
    r.params = dup; r.n_params = 2;
    err.msg[0] = '\0';
    CHECK(vr_run_file_write(path, &r, &err) != 0, "duplicate name accepted");
    CHECK(strstr(err.msg, "H5Dcreate2") && strstr(err.msg, "/params/encoder/0_conv2d/weight"),
          "unclear message: %s", err.msg);
    fprintf(stderr, "(expected) %s\n", err.msg);
    CHECK(!tmp_exists(path), "%s.tmp left after HDF5 failure", path);
    check_file(path, &f->rec);

    r = f->rec;
    r.status = "finished";
    CHECK(vr_run_file_write(path, &r, &err) != 0 && strstr(err.msg, "finished"),
          "unknown status accepted: %s", err.msg);

    /* A PATH.tmp left by a killed writer is simply replaced. */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *junk = fopen(tmp, "w");
    if (junk) { fputs("not hdf5", junk); fclose(junk); }
    CHECK(vr_run_file_write(path, &f->rec, &err) == 0, "stale tmp broke write: %s", err.msg);
    CHECK(!tmp_exists(path), "stale tmp survived");
}

static void test_unwritable(const char *dir, fixture *f)
{
    vr_err err = {""};
    char file[4200], path[4300];
    /* A parent that is a regular file: fails even for root. */
    snprintf(file, sizeof file, "%s/plainfile", dir);
    FILE *fp = fopen(file, "w");
    if (fp) fclose(fp);
    snprintf(path, sizeof path, "%s/plainfile/runs/run.h5", dir);
    CHECK(vr_run_file_write(path, &f->rec, &err) != 0, "wrote below a regular file");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "Not a directory"),
          "unclear message: %s", err.msg);
    fprintf(stderr, "(expected) %s\n", err.msg);

    if (geteuid() == 0) {
        fprintf(stderr, "skip read-only directory check: running as root\n");
        return;
    }
    char ro[4200];
    snprintf(ro, sizeof ro, "%s/readonly", dir);
    mkdir(ro, 0555);
    chmod(ro, 0555);
    snprintf(path, sizeof path, "%s/run.h5", ro);
    CHECK(vr_run_file_write(path, &f->rec, &err) != 0, "wrote into a read-only dir");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "Permission denied"),
          "unclear message: %s", err.msg);
    fprintf(stderr, "(expected) %s\n", err.msg);
    snprintf(path, sizeof path, "%s/sub/run.h5", ro);
    CHECK(vr_run_file_write(path, &f->rec, &err) != 0, "made a dir in a read-only dir");
    CHECK(strstr(err.msg, "Permission denied"), "unclear message: %s", err.msg);
    chmod(ro, 0755);
}

static void test_status(const char *dir, const char *done_path)
{
    vr_err err = {""};
    char buf[32] = "junk", path[4200];
    CHECK(vr_run_file_status(done_path, buf, sizeof buf, &err) == 0 && strcmp(buf, "done") == 0,
          "status of done file: \"%s\" %s", buf, err.msg);
    snprintf(path, sizeof path, "%s/missing/run.h5", dir);
    strcpy(buf, "junk");
    CHECK(vr_run_file_status(path, buf, sizeof buf, &err) == 0 && buf[0] == '\0',
          "status of missing file: \"%s\" %s", buf, err.msg);
    char small[3];
    CHECK(vr_run_file_status(done_path, small, sizeof small, &err) != 0,
          "status truncated silently to \"%s\"", small);
    snprintf(path, sizeof path, "%s/plainfile", dir);
    CHECK(vr_run_file_status(path, buf, sizeof buf, &err) != 0 && strstr(err.msg, "H5Fopen") &&
          strstr(err.msg, path), "non-HDF5 file: %s", err.msg);
    fprintf(stderr, "(expected) %s\n", err.msg);
}

int main(void)
{
    char dir[] = "/tmp/vr_run_file_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fixture *f = malloc(sizeof *f);
    fixture_init(f);
    char path[4200];
    /* Parent directories do not exist yet: the writer makes them. */
    snprintf(path, sizeof path, "%s/sweep/runs/seed0/run.h5", dir);

    test_write_read(path, f);
    test_h5py(path);
    test_overwrite(path, f);
    test_failures_keep_old(path, f);
    test_unwritable(dir, f);
    test_status(dir, path);

    int result = check_result();
    if (result == 0) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    } else {
        fprintf(stderr, "files kept in %s\n", dir);
    }
    free(f->dec_w);
    free(f);
    return result;
}
