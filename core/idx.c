/* idx.c: the IDX file reader (see dataset.h).
 *
 * IDX (LeCun's MNIST format): two zero bytes, a type byte, a dimension count,
 * then one big-endian uint32 per dimension, then the body in row-major order.
 * Only type 0x08 (unsigned byte) exists in the datasets vaerun reads, so only
 * it is accepted.
 *
 * Everything goes through zlib's gz* functions, which read a gzip file and
 * pass a plain file through unchanged, so one code path handles both and the
 * choice is made by content, not by file name. Every error message starts
 * with the path so that it stands on its own when printed by the CLI.
 */
#include "dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 4

/* gzread takes an unsigned count; reading in pieces of at most this many
 * bytes keeps every call well inside its range. */
#define READ_CHUNK ((size_t)1 << 30)

/* ---------------------------------------------------------------- reading */

/* Fills err from the stream's error state after a failed or short read:
 * a corrupt or cut-off gzip stream, or a system read error. Returns -1 if
 * there was such an error, 0 if the stream merely reached its end. */
static int stream_error(gzFile f, const char *path, vr_err *err)
{
    int code = Z_OK;
    const char *msg = gzerror(f, &code);
    if (code == Z_OK || code == Z_STREAM_END) return 0;
    if (code == Z_ERRNO) return vr_fail(err, "%s: read error: %s", path, strerror(errno));
    if (code == Z_BUF_ERROR) {
        /* zlib's name for a gzip stream that stops before its end marker. */
        return vr_fail(err, "%s: corrupt gzip data: the compressed stream is cut off "
                            "(file truncated)", path);
    }
    /* gzerror's text already starts with the path ("path: incorrect data
     * check"); keep only zlib's reason so the path is not said twice. */
    const char *reason = msg;
    size_t plen = strlen(path);
    if (strncmp(msg, path, plen) == 0 && msg[plen] == ':') reason = msg + plen + 1;
    while (*reason == ' ') reason++;
    return vr_fail(err, "%s: corrupt gzip data: %s", path, reason);
}

/* Reads up to N bytes into BUF; *got is how many arrived. Returns -1 (with
 * err filled) on a read or decompression error; a short read at the end of
 * the data is not an error here, the caller judges it. */
static int read_upto(gzFile f, const char *path, void *buf, size_t n, size_t *got,
                     vr_err *err)
{
    uint8_t *p = buf;
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < READ_CHUNK ? n - *got : READ_CHUNK;
        int r = gzread(f, p + *got, (unsigned)want);
        if (r < 0) return stream_error(f, path, err) ? -1 : vr_fail(err, "%s: read failed", path);
        *got += (size_t)r;
        if ((size_t)r < want) return stream_error(f, path, err);
    }
    return 0;
}

/* Counts what is left in the stream after the body, so that the error for a
 * file with extra data can say how much. */
static int count_rest(gzFile f, const char *path, size_t *rest, vr_err *err)
{
    uint8_t buf[65536];
    *rest = 0;
    for (;;) {
        size_t got;
        if (read_upto(f, path, buf, sizeof buf, &got, err)) return -1;
        *rest += got;
        if (got < sizeof buf) return 0;
    }
}

/* ---------------------------------------------------------------- header */

/* Formats the size for messages: "60000x28x28 = 47040000", or just
 * "60000" for one dimension. */
static void size_str(const vr_idx *idx, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < idx->ndim && idx->ndim > 1 && len < cap; i++) {
        int w = snprintf(out + len, cap - len, i ? "x%d" : "%d", idx->dims[i]);
        if (w < 0) return;
        len += (size_t)w;
    }
    if (len < cap) snprintf(out + len, cap - len, "%s%zu", len ? " = " : "", idx->count);
}

/* Reads and checks the magic and the dimensions; sets ndim, dims and count. */
static int read_header(gzFile f, const char *path, vr_idx *idx, vr_err *err)
{
    uint8_t magic[4];
    size_t got;
    if (read_upto(f, path, magic, sizeof magic, &got, err)) return -1;
    if (got < sizeof magic) {
        return vr_fail(err, "%s: truncated: %zu bytes, too short for an IDX header", path, got);
    }
    if (magic[0] != 0 || magic[1] != 0) {
        return vr_fail(err, "%s: not an IDX file: bad magic %02x %02x %02x %02x "
                            "(expected 00 00 08 <ndim>)",
                       path, magic[0], magic[1], magic[2], magic[3]);
    }
    if (magic[2] != IDX_TYPE_UBYTE) {
        return vr_fail(err, "%s: IDX data type 0x%02x is not supported "
                            "(only 0x08, unsigned byte)", path, magic[2]);
    }
    if (magic[3] < 1 || magic[3] > IDX_MAX_DIMS) {
        return vr_fail(err, "%s: IDX header has %d dimensions (must be 1..%d)",
                       path, magic[3], IDX_MAX_DIMS);
    }
    idx->ndim = magic[3];

    uint8_t raw[4 * IDX_MAX_DIMS];
    size_t need = 4 * (size_t)idx->ndim;
    if (read_upto(f, path, raw, need, &got, err)) return -1;
    if (got < need) {
        return vr_fail(err, "%s: truncated: the header ends inside its %d dimensions "
                            "(%zu of %zu bytes)", path, idx->ndim, got, need);
    }
    idx->count = 1;
    for (int i = 0; i < idx->ndim; i++) {
        const uint8_t *b = raw + 4 * i;
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        /* dims[] is int; a dimension past INT_MAX is not a real dataset. */
        if (d > INT_MAX) {
            return vr_fail(err, "%s: IDX dimension %d is %lu, too large", path, i,
                           (unsigned long)d);
        }
        idx->dims[i] = (int)d;
        if (d && idx->count > SIZE_MAX / d) {
            return vr_fail(err, "%s: IDX dimensions overflow the address space", path);
        }
        idx->count *= d;
    }
    return 0;
}

/* ---------------------------------------------------------------- body */

/* Reads up to idx->count bytes into idx->data; *got is how many arrived.
 * The buffer starts at no more than FIRST_ALLOC bytes and doubles as data
 * arrives, so a damaged header announcing gigabytes costs a "truncated"
 * error, not a giant allocation. MNIST's largest file fits the first one. */
#define FIRST_ALLOC ((size_t)64 << 20)

static int read_growing(gzFile f, const char *path, vr_idx *idx, size_t *got, vr_err *err)
{
    size_t cap = idx->count < FIRST_ALLOC ? idx->count : FIRST_ALLOC;
    *got = 0;
    for (;;) {
        /* realloc(NULL, 0) may return NULL; one spare byte keeps NULL
         * meaning failure. */
        uint8_t *p = realloc(idx->data, cap ? cap : 1);
        if (!p) return vr_fail(err, "%s: out of memory reading %zu bytes", path, cap);
        idx->data = p;
        size_t n;
        if (read_upto(f, path, p + *got, cap - *got, &n, err)) return -1;
        *got += n;
        if (*got < cap || cap == idx->count) return 0;
        cap = cap > idx->count / 2 ? idx->count : 2 * cap;
    }
}

/* Reads exactly idx->count bytes and checks that nothing follows them. */
static int read_body(gzFile f, const char *path, vr_idx *idx, vr_err *err)
{
    char size[96];
    size_str(idx, size, sizeof size);

    size_t got;
    if (read_growing(f, path, idx, &got, err)) return -1;
    if (got < idx->count) {
        return vr_fail(err, "%s: truncated: header says %s data bytes, "
                            "found only %zu (%zu missing)",
                       path, size, got, idx->count - got);
    }
    size_t rest;
    if (count_rest(f, path, &rest, err)) return -1;
    if (rest) {
        return vr_fail(err, "%s: %zu trailing bytes after the %s data bytes "
                            "the header announces (wrong header or two files joined?)",
                       path, rest, size);
    }
    return 0;
}

/* ---------------------------------------------------------------- public */

int vr_idx_read(const char *path, vr_idx *out, vr_err *err)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        return vr_fail(err, "%s: cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");
    }
    /* A bigger buffer than zlib's 8 KiB default: fewer read() calls on the
     * 47 MB training images. Failure only means the default is kept. */
    (void)gzbuffer(f, 1u << 20);

    int rc = read_header(f, path, out, err);
    if (!rc) rc = read_body(f, path, out, err);
    gzclose(f);
    if (rc) vr_idx_free(out);
    return rc;
}

void vr_idx_free(vr_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
