/* run_file.c: one run's results as an HDF5 file (see run_file.h and
 * DESIGN.md section 5; docs/results.md for users).
 *
 * Purpose: the only code that writes run.h5. A record is validated whole
 * before anything touches the disk, then written to PATH.tmp, flushed,
 * fsynced and renamed over PATH, so that a reader (or a resume after a
 * crash) sees either the old file or the complete new one, never a mix.
 *
 * Conventions:
 *  - Errors are values: every function returns 0 or -1 and fills vr_err with
 *    a message that starts with the run file's PATH and names the failing
 *    call; for HDF5 calls it carries HDF5's innermost error description
 *    (taken with H5Ewalk2), because the outer ones only say "unable to ...".
 *  - HDF5 prints its error stack by default; we switch that off for the
 *    calling thread while inside this file and restore the caller's
 *    handler on the way out. Debian's libhdf5 is built thread-safe, where
 *    the handler and the error stack are per thread.
 *  - Every hid_t starts as H5I_INVALID_HID and is closed by the function
 *    that opened it; the file is also opened with H5F_CLOSE_STRONG so that
 *    closing it on an error path cannot leave it half open.
 *  - Strings are variable-length UTF-8: h5py 3.x returns them as str for
 *    attributes (datasets need .asstr(), see docs/results.md).
 */
#include "run_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

/* Datasets above this many bytes are chunked and deflated; smaller ones stay
 * contiguous, where compression would cost more than it saves. */
#define VR_COMPRESS_MIN_BYTES (64u * 1024u)
/* Upper bound on one chunk: keeps partial reads cheap and far from HDF5's
 * 4 GiB chunk limit. */
#define VR_CHUNK_MAX_BYTES (1024u * 1024u)
#define VR_DEFLATE_LEVEL 4

/* ------------------------------------------------------------------------
 * Error reporting
 * ------------------------------------------------------------------------ */

/* What every writer/reader function carries: the user's path (the prefix of
 * every message) and where the message goes. */
typedef struct {
    const char *path;
    vr_err *err;
} ctx;

static herr_t innermost_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    /* Walking upward, entry 0 is where HDF5 first detected the error. */
    if (n == 0 && e->desc && e->desc[0]) snprintf(data, 256, "%s", e->desc);
    return 0;
}

/* "PATH: CALL WHAT: <innermost HDF5 description>"; returns -1. */
static int h5_fail(const ctx *c, const char *call, const char *what)
{
    char desc[256] = "unknown HDF5 error";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_cb, desc);
    return vr_fail(c->err, "%s: %s %s: %s", c->path, call, what, desc);
}

/* "PATH: ACTION WHAT: strerror(errnum)"; returns -1. */
static int sys_fail(const ctx *c, const char *action, const char *what, int errnum)
{
    char msg[256];
    if (strerror_r(errnum, msg, sizeof msg) != 0)
        snprintf(msg, sizeof msg, "errno %d", errnum);
    return vr_fail(c->err, "%s: %s %s: %s", c->path, action, what, msg);
}

/* The caller's HDF5 automatic error handler, saved while we run silent. */
typedef struct {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

static h5_quiet h5_silence(void)
{
    h5_quiet q = {NULL, NULL};
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return q;
}

static void h5_restore(h5_quiet q)
{
    H5Eset_auto2(H5E_DEFAULT, q.func, q.data);
}

/* Closers that ignore invalid ids, so cleanup code can close everything. */
static void close_type(hid_t id) { if (id >= 0) H5Tclose(id); }
static void close_space(hid_t id) { if (id >= 0) H5Sclose(id); }
static void close_attr(hid_t id) { if (id >= 0) H5Aclose(id); }
static void close_dset(hid_t id) { if (id >= 0) H5Dclose(id); }
static void close_group(hid_t id) { if (id >= 0) H5Gclose(id); }
static void close_plist(hid_t id) { if (id >= 0) H5Pclose(id); }

/* ------------------------------------------------------------------------
 * Validation: the whole record is checked before the disk is touched
 * ------------------------------------------------------------------------ */

static const char *or_empty(const char *s) { return s ? s : ""; }

static int valid_status(const char *s)
{
    static const char *const ok[] = {"running", "done", "failed", "interrupted"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (s && strcmp(s, ok[i]) == 0) return 1;
    return 0;
}

/* A name below a group: non-empty components separated by single '/', no
 * leading or trailing '/', no "." component (HDF5 reads it as "here"). */
static int valid_name(const char *name, int allow_slash)
{
    if (!name || !name[0]) return 0;
    const char *p = name;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.')) return 0;
        if (!end) return 1;
        if (!allow_slash) return 0;
        p = end + 1;
    }
}

static int check_series(const ctx *c, const char *group, const vr_series *s, int n)
{
    if (n < 0 || (n > 0 && !s))
        return vr_fail(c->err, "%s: /%s: %d series but no array", c->path, group, n);
    for (int i = 0; i < n; i++) {
        if (!valid_name(s[i].name, 0))
            return vr_fail(c->err, "%s: /%s: series %d has an invalid name \"%s\" "
                           "(empty, '.', or containing '/')",
                           c->path, group, i, or_empty(s[i].name));
        if (s[i].len > 0 && !s[i].values)
            return vr_fail(c->err, "%s: /%s/%s: %zu values but no data",
                           c->path, group, s[i].name, s[i].len);
        if (s[i].len != s[0].len)
            return vr_fail(c->err, "%s: /%s: series \"%s\" has length %zu but \"%s\" "
                           "has %zu; all series of a group must have the same length",
                           c->path, group, s[i].name, s[i].len, s[0].name, s[0].len);
    }
    return 0;
}

static int check_arrays(const ctx *c, const char *group, const vr_array *a, int n)
{
    if (n < 0 || (n > 0 && !a))
        return vr_fail(c->err, "%s: /%s: %d arrays but no array", c->path, group, n);
    for (int i = 0; i < n; i++) {
        if (!valid_name(a[i].name, 1))
            return vr_fail(c->err, "%s: /%s: array %d has an invalid name \"%s\"",
                           c->path, group, i, or_empty(a[i].name));
        if (a[i].rank < 1 || a[i].rank > 4)
            return vr_fail(c->err, "%s: /%s/%s: rank %d, expected 1..4",
                           c->path, group, a[i].name, a[i].rank);
        if (a[i].dtype != VR_DT_F32 && a[i].dtype != VR_DT_I32 && a[i].dtype != VR_DT_F64)
            return vr_fail(c->err, "%s: /%s/%s: unknown dtype %d",
                           c->path, group, a[i].name, (int)a[i].dtype);
        size_t count = 1;
        for (int d = 0; d < a[i].rank; d++) {
            if (a[i].dims[d] != 0 && count > SIZE_MAX / 4 / a[i].dims[d])
                return vr_fail(c->err, "%s: /%s/%s: size overflows",
                               c->path, group, a[i].name);
            count *= a[i].dims[d];
        }
        if (count > 0 && !a[i].data)
            return vr_fail(c->err, "%s: /%s/%s: %zu elements but no data",
                           c->path, group, a[i].name, count);
    }
    return 0;
}

static int check_record(const ctx *c, const vr_run_record *rec)
{
    if (!rec) return vr_fail(c->err, "%s: no record to write", c->path);
    if (!valid_status(rec->status))
        return vr_fail(c->err, "%s: status \"%s\" is not one of running, done, "
                       "failed, interrupted", c->path, or_empty(rec->status));
    if (check_series(c, "metrics", rec->metrics, rec->n_metrics) ||
        check_series(c, "eval", rec->eval, rec->n_eval) ||
        check_arrays(c, "tensors", rec->tensors, rec->n_tensors) ||
        check_arrays(c, "params", rec->params, rec->n_params) ||
        check_arrays(c, "checkpoint", rec->checkpoint, rec->n_checkpoint))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------------
 * HDF5 writing
 * ------------------------------------------------------------------------ */

/* Variable-length UTF-8 string type (h5py reads these as str). */
static hid_t vlen_utf8(const ctx *c)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) { h5_fail(c, "H5Tcopy", "string type"); return -1; }
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        h5_fail(c, "H5Tset_size/H5Tset_cset", "string type");
        H5Tclose(t);
        return -1;
    }
    return t;
}

static int write_str_attr(const ctx *c, hid_t loc, const char *name, const char *value)
{
    int rc = -1;
    hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    const char *v = or_empty(value);
    if ((t = vlen_utf8(c)) < 0) goto out;
    if ((s = H5Screate(H5S_SCALAR)) < 0) { h5_fail(c, "H5Screate attribute", name); goto out; }
    if ((a = H5Acreate2(loc, name, t, s, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        h5_fail(c, "H5Acreate2 attribute", name);
        goto out;
    }
    if (H5Awrite(a, t, &v) < 0) { h5_fail(c, "H5Awrite attribute", name); goto out; }
    rc = 0;
out:
    close_attr(a); close_space(s); close_type(t);
    return rc;
}

static int write_i64_attr(const ctx *c, hid_t loc, const char *name, int64_t value)
{
    int rc = -1;
    hid_t s = H5I_INVALID_HID, a = H5I_INVALID_HID;
    if ((s = H5Screate(H5S_SCALAR)) < 0) { h5_fail(c, "H5Screate attribute", name); goto out; }
    if ((a = H5Acreate2(loc, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        h5_fail(c, "H5Acreate2 attribute", name);
        goto out;
    }
    if (H5Awrite(a, H5T_NATIVE_INT64, &value) < 0) {
        h5_fail(c, "H5Awrite attribute", name);
        goto out;
    }
    rc = 0;
out:
    close_attr(a); close_space(s);
    return rc;
}

static int write_root_attrs(const ctx *c, hid_t file, const vr_run_record *rec)
{
    const struct { const char *name, *value; } s[] = {
        {"vaerun_version", rec->version}, {"status", rec->status},
        {"message", rec->message},        {"backend", rec->backend},
        {"device", rec->device},          {"start_time", rec->start_time},
        {"end_time", rec->end_time},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (write_str_attr(c, file, s[i].name, s[i].value)) return -1;
    return write_i64_attr(c, file, "seed", (int64_t)rec->seed);
}

static int write_config(const ctx *c, hid_t file, const char *yaml)
{
    int rc = -1;
    hid_t t = H5I_INVALID_HID, s = H5I_INVALID_HID, d = H5I_INVALID_HID;
    const char *v = or_empty(yaml);
    if ((t = vlen_utf8(c)) < 0) goto out;
    if ((s = H5Screate(H5S_SCALAR)) < 0) { h5_fail(c, "H5Screate", "/config"); goto out; }
    d = H5Dcreate2(file, "config", t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0) { h5_fail(c, "H5Dcreate2", "/config"); goto out; }
    if (H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) {
        h5_fail(c, "H5Dwrite", "/config");
        goto out;
    }
    rc = 0;
out:
    close_dset(d); close_space(s); close_type(t);
    return rc;
}

/* Chunk shape for a compressed dataset: the whole array, with dimensions
 * halved from the outermost in until a chunk is at most VR_CHUNK_MAX_BYTES,
 * so chunks stay whole rows/images where they can. */
static void chunk_shape(int rank, const hsize_t *dims, size_t esize, hsize_t *chunk)
{
    size_t bytes = esize;
    for (int d = 0; d < rank; d++) {
        chunk[d] = dims[d];
        bytes *= (size_t)dims[d];
    }
    for (int d = 0; d < rank; d++) {
        while (chunk[d] > 1 && bytes > VR_CHUNK_MAX_BYTES) {
            hsize_t half = (chunk[d] + 1) / 2;
            bytes = bytes / (size_t)chunk[d] * (size_t)half;
            chunk[d] = half;
        }
    }
}

/* Dataset creation properties: contiguous when small, else chunked and
 * deflated. Returns a plist to close, or -1 with err. */
static hid_t dcpl_for(const ctx *c, const char *what, int rank, const hsize_t *dims,
                      size_t esize)
{
    size_t bytes = esize;
    for (int d = 0; d < rank; d++) bytes *= (size_t)dims[d];
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p < 0) { h5_fail(c, "H5Pcreate", what); return -1; }
    if (bytes <= VR_COMPRESS_MIN_BYTES) return p;
    hsize_t chunk[4];
    chunk_shape(rank, dims, esize, chunk);
    if (H5Pset_chunk(p, rank, chunk) < 0 || H5Pset_deflate(p, VR_DEFLATE_LEVEL) < 0) {
        h5_fail(c, "H5Pset_chunk/H5Pset_deflate", what);
        H5Pclose(p);
        return -1;
    }
    return p;
}

/* One numeric dataset LOC/NAME (NAME may contain '/': the link creation
 * plist LCPL makes the intermediate groups). FULL is its absolute path, for
 * messages. */
static int write_numeric(const ctx *c, hid_t loc, hid_t lcpl, const char *name,
                         const char *full, int rank, const size_t *dims,
                         hid_t ftype, hid_t mtype, size_t esize, const void *data)
{
    int rc = -1;
    hid_t s = H5I_INVALID_HID, p = H5I_INVALID_HID, d = H5I_INVALID_HID;
    hsize_t hd[4] = {0, 0, 0, 0};
    hssize_t count = 1;
    for (int i = 0; i < rank; i++) {
        hd[i] = (hsize_t)dims[i];
        count *= (hssize_t)dims[i];
    }
    if ((s = H5Screate_simple(rank, hd, NULL)) < 0) { h5_fail(c, "H5Screate_simple", full); goto out; }
    if ((p = dcpl_for(c, full, rank, hd, esize)) < 0) goto out;
    if ((d = H5Dcreate2(loc, name, ftype, s, lcpl, p, H5P_DEFAULT)) < 0) {
        h5_fail(c, "H5Dcreate2", full);
        goto out;
    }
    if (count > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        h5_fail(c, "H5Dwrite", full);
        goto out;
    }
    rc = 0;
out:
    close_dset(d); close_plist(p); close_space(s);
    return rc;
}

static hid_t make_group(const ctx *c, hid_t file, const char *name)
{
    hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) h5_fail(c, "H5Gcreate2", name);
    return g;
}

static int write_series_group(const ctx *c, hid_t file, const char *group,
                              const vr_series *s, int n)
{
    hid_t g = make_group(c, file, group);
    if (g < 0) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char full[512];
        snprintf(full, sizeof full, "/%s/%s", group, s[i].name);
        rc = write_numeric(c, g, H5P_DEFAULT, s[i].name, full, 1, &s[i].len,
                           H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sizeof(double),
                           s[i].values);
    }
    close_group(g);
    return rc;
}

static int write_array_group(const ctx *c, hid_t file, hid_t lcpl, const char *group,
                             const vr_array *a, int n)
{
    hid_t g = make_group(c, file, group);
    if (g < 0) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char full[512];
        snprintf(full, sizeof full, "/%s/%s", group, a[i].name);
        hid_t ft = a[i].dtype == VR_DT_F32 ? H5T_IEEE_F32LE
                 : a[i].dtype == VR_DT_F64 ? H5T_IEEE_F64LE : H5T_STD_I32LE;
        hid_t mt = a[i].dtype == VR_DT_F32 ? H5T_NATIVE_FLOAT
                 : a[i].dtype == VR_DT_F64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT32;
        rc = write_numeric(c, g, lcpl, a[i].name, full, a[i].rank, a[i].dims, ft, mt,
                           a[i].dtype == VR_DT_F64 ? 8 : 4, a[i].data);
    }
    close_group(g);
    return rc;
}

static int write_contents(const ctx *c, hid_t file, const vr_run_record *rec)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0) return h5_fail(c, "H5Pcreate", "link creation plist");
    int rc = -1;
    if (H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        h5_fail(c, "H5Pset_create_intermediate_group", "link creation plist");
        goto out;
    }
    if (write_root_attrs(c, file, rec) || write_config(c, file, rec->config_yaml) ||
        write_series_group(c, file, "metrics", rec->metrics, rec->n_metrics) ||
        write_series_group(c, file, "eval", rec->eval, rec->n_eval) ||
        write_array_group(c, file, lcpl, "tensors", rec->tensors, rec->n_tensors) ||
        write_array_group(c, file, lcpl, "params", rec->params, rec->n_params) ||
        (rec->n_checkpoint &&
         write_array_group(c, file, lcpl, "checkpoint", rec->checkpoint, rec->n_checkpoint)))
        goto out;
    rc = 0;
out:
    H5Pclose(lcpl);
    return rc;
}

/* Creates TMP (truncating a stale one), writes REC, flushes and closes. */
static int write_h5(const ctx *c, const char *tmp, const vr_run_record *rec)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return h5_fail(c, "H5Pcreate", "file access plist");
    if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return h5_fail(c, "H5Pset_fclose_degree", "file access plist");
    }
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (file < 0) return h5_fail(c, "H5Fcreate", tmp);
    int rc = write_contents(c, file, rec);
    if (rc == 0 && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) rc = h5_fail(c, "H5Fflush", tmp);
    if (H5Fclose(file) < 0 && rc == 0) rc = h5_fail(c, "H5Fclose", tmp);
    return rc;
}

/* ------------------------------------------------------------------------
 * Files and directories
 * ------------------------------------------------------------------------ */

/* Directory part of PATH into buf ("." when there is none). */
static void dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(buf, cap, "."); return; }
    if (slash == path) { snprintf(buf, cap, "/"); return; }
    snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* mkdir -p DIR. An existing non-directory on the way is an error here, where
 * it can be named, rather than a puzzling ENOTDIR later. */
static int mkdir_p(const ctx *c, const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return vr_fail(c->err, "%s: directory name too long", c->path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0777) != 0) {
            int e = errno;
            struct stat st;
            if (e != EEXIST) return sys_fail(c, "cannot create directory", buf, e);
            if (stat(buf, &st) != 0) return sys_fail(c, "cannot stat", buf, errno);
            if (!S_ISDIR(st.st_mode)) return sys_fail(c, "cannot create directory", buf, ENOTDIR);
        }
        *p = saved;
        if (saved == '\0') return 0;
    }
}

/* Creates TMP with open(2) first: HDF5's own message for an unwritable
 * directory buries errno in a long line, this gives "Permission denied". */
static int probe_create(const ctx *c, const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return sys_fail(c, "cannot create", tmp, errno);
    close(fd);
    return 0;
}

static int fsync_path(const ctx *c, const char *p, int flags)
{
    int fd = open(p, flags);
    if (fd < 0) return sys_fail(c, "cannot open for fsync", p, errno);
    int rc = 0;
    /* Some filesystems cannot fsync a directory (EINVAL); nothing to do. */
    if (fsync(fd) != 0 && errno != EINVAL) rc = sys_fail(c, "fsync", p, errno);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------------
 * Public
 * ------------------------------------------------------------------------ */

int vr_run_file_write(const char *path, const vr_run_record *rec, vr_err *err)
{
    if (!path || !path[0]) return vr_fail(err, "run file: empty path");
    ctx c = {path, err};
    if (check_record(&c, rec)) return -1;

    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return vr_fail(err, "%s: path too long", path);
    dir_of(path, dir, sizeof dir);
    if (mkdir_p(&c, dir) || probe_create(&c, tmp)) return -1;

    h5_quiet q = h5_silence();
    int rc = write_h5(&c, tmp, rec);
    h5_restore(q);
    if (rc == 0) rc = fsync_path(&c, tmp, O_RDONLY);
    if (rc == 0 && rename(tmp, path) != 0) rc = sys_fail(&c, "cannot rename", tmp, errno);
    if (rc != 0) {
        unlink(tmp);
        return -1;
    }
    /* Makes the rename itself durable. PATH already holds the new content
     * here, so a failure is reported but nothing is undone. */
    return fsync_path(&c, dir, O_RDONLY | O_DIRECTORY);
}

/* Reads the scalar string attribute ATTR of FILE into buf (either string
 * kind, so files written by other tools read too). */
static int read_str_attr(const ctx *c, hid_t file, const char *attr, char *buf, size_t cap)
{
    int rc = -1;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    char *vs = NULL, *fixed = NULL;
    if ((a = H5Aopen(file, attr, H5P_DEFAULT)) < 0) { h5_fail(c, "H5Aopen attribute", attr); goto out; }
    if ((ft = H5Aget_type(a)) < 0) { h5_fail(c, "H5Aget_type attribute", attr); goto out; }
    if (H5Tget_class(ft) != H5T_STRING) {
        vr_fail(c->err, "%s: attribute %s is not a string", c->path, attr);
        goto out;
    }
    if ((mt = H5Tcopy(ft)) < 0) { h5_fail(c, "H5Tcopy attribute", attr); goto out; }
    const char *s;
    if (H5Tis_variable_str(ft) > 0) {
        if (H5Aread(a, mt, &vs) < 0) { h5_fail(c, "H5Aread attribute", attr); goto out; }
        s = vs ? vs : "";
    } else {
        size_t n = H5Tget_size(ft);
        if (!(fixed = calloc(n + 1, 1))) { vr_fail(c->err, "%s: out of memory", c->path); goto out; }
        if (H5Aread(a, mt, fixed) < 0) { h5_fail(c, "H5Aread attribute", attr); goto out; }
        s = fixed;
    }
    if (strlen(s) >= cap) {
        vr_fail(c->err, "%s: attribute %s (\"%s\") does not fit in %zu bytes",
                c->path, attr, s, cap);
        goto out;
    }
    memcpy(buf, s, strlen(s) + 1);
    rc = 0;
out:
    if (vs) H5free_memory(vs);
    free(fixed);
    close_type(mt); close_type(ft); close_attr(a);
    return rc;
}

int vr_run_file_status(const char *path, char *buf, size_t cap, vr_err *err)
{
    if (!path || !buf || cap == 0)
        return vr_fail(err, "run file status: no path or empty buffer");
    ctx c = {path, err};
    buf[0] = '\0';
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return sys_fail(&c, "cannot stat", path, errno);
    }
    h5_quiet q = h5_silence();
    int rc = -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        h5_fail(&c, "H5Fopen", path);
    } else {
        rc = read_str_attr(&c, file, "status", buf, cap);
        if (H5Fclose(file) < 0 && rc == 0) rc = h5_fail(&c, "H5Fclose", path);
    }
    h5_restore(q);
    if (rc != 0) buf[0] = '\0';
    return rc;
}

/* ------------------------------------------------------------------------
 * Reading back (resume)
 * ------------------------------------------------------------------------ */

/* Opens dataset NAME of PATH: returns the file (and *d) or -1 with err. */
static hid_t open_dataset(const ctx *c, const char *name, hid_t *d)
{
    hid_t file = H5Fopen(c->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) { h5_fail(c, "H5Fopen", c->path); return -1; }
    if ((*d = H5Dopen2(file, name, H5P_DEFAULT)) < 0) {
        h5_fail(c, "H5Dopen2", name);
        H5Fclose(file);
        return -1;
    }
    return file;
}

static hssize_t dataset_count(hid_t d)
{
    hid_t s = H5Dget_space(d);
    hssize_t n = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
    close_space(s);
    return n;
}

int vr_run_file_read(const char *path, const char *name, vr_dtype dt, void *buf,
                     size_t count, vr_err *err)
{
    ctx c = {path, err};
    h5_quiet q = h5_silence();
    hid_t d = H5I_INVALID_HID, file = open_dataset(&c, name, &d);
    int rc = -1;
    if (file >= 0) {
        hssize_t n = dataset_count(d);
        hid_t mt = dt == VR_DT_F32 ? H5T_NATIVE_FLOAT
                 : dt == VR_DT_F64 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT32;
        if (n != (hssize_t)count)
            vr_fail(err, "%s: %s has %lld values, expected %zu", path, name, (long long)n, count);
        else if (count && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            h5_fail(&c, "H5Dread", name);
        else
            rc = 0;
        close_dset(d);
        H5Fclose(file);
    }
    h5_restore(q);
    return rc;
}

int vr_run_file_count(const char *path, const char *name, size_t *count, vr_err *err)
{
    ctx c = {path, err};
    *count = 0;
    h5_quiet q = h5_silence();
    int rc = -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        h5_fail(&c, "H5Fopen", path);
    } else {
        rc = 0;
        if (H5Lexists(file, name, H5P_DEFAULT) > 0) {
            hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
            hssize_t n = d < 0 ? -1 : dataset_count(d);
            if (n < 0) rc = h5_fail(&c, "H5Dopen2", name); else *count = (size_t)n;
            close_dset(d);
        }
        H5Fclose(file);
    }
    h5_restore(q);
    return rc;
}

int vr_run_file_config(const char *path, char **yaml, vr_err *err)
{
    ctx c = {path, err};
    *yaml = NULL;
    h5_quiet q = h5_silence();
    hid_t d = H5I_INVALID_HID, file = open_dataset(&c, "/config", &d);
    int rc = -1;
    if (file >= 0) {
        hid_t t = H5Dget_type(d);
        char *vs = NULL;
        if (t >= 0 && H5Tis_variable_str(t) > 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &vs) >= 0) {
            *yaml = strdup(vs ? vs : "");
            rc = *yaml ? 0 : vr_fail(err, "%s: out of memory", path);
        } else {
            vr_fail(err, "%s: /config is not a variable-length string", path);
        }
        if (vs) H5free_memory(vs);
        close_type(t);
        close_dset(d);
        H5Fclose(file);
    }
    h5_restore(q);
    return rc;
}

int vr_run_file_attr(const char *path, const char *name, char *buf, size_t cap, vr_err *err)
{
    ctx c = {path, err};
    buf[0] = '\0';
    h5_quiet q = h5_silence();
    int rc = -1;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        h5_fail(&c, "H5Fopen", path);
    } else {
        rc = read_str_attr(&c, file, name, buf, cap);
        H5Fclose(file);
    }
    h5_restore(q);
    return rc;
}
