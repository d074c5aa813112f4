/* unit_idx.c: the IDX reader and SHA-256.
 *
 * The test writes its own IDX files, raw and gzipped, into a fresh temp dir
 * and reads them back: good files must come back byte for byte, and each kind
 * of damage must fail with a message that names the file and says what is
 * wrong. SHA-256 is checked against the FIPS 180 examples and against
 * lengths around the padding boundaries (values from Python's hashlib).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/dataset.h"
#include "tests/check.h"

/* ---------------------------------------------------------------- files */

static char tmpdir[64];

/* Path of NAME inside the temp dir (a static buffer per call slot). */
static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int slot;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmpdir, name);
    return buf[slot];
}

static void write_raw(const char *path, const uint8_t *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(fwrite(bytes, 1, n, f) == n, "short write to %s", path);
    fclose(f);
}

static void write_gz(const char *path, const uint8_t *bytes, size_t n)
{
    gzFile f = gzopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(gzwrite(f, bytes, (unsigned)n) == (int)n, "short gzwrite to %s", path);
    gzclose(f);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) remove(tmp_path(e->d_name));
    }
    closedir(d);
    rmdir(tmpdir);
}

/* An IDX image: header for DIMS followed by the body; returns its length.
 * Body bytes are (i * 7 + 3) mod 256 so that order mistakes show. */
static size_t make_idx(uint8_t *out, uint8_t type, int ndim, const int *dims)
{
    out[0] = 0;
    out[1] = 0;
    out[2] = type;
    out[3] = (uint8_t)ndim;
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = (uint32_t)dims[i];
        uint8_t *p = out + 4 + 4 * i;
        p[0] = (uint8_t)(d >> 24);
        p[1] = (uint8_t)(d >> 16);
        p[2] = (uint8_t)(d >> 8);
        p[3] = (uint8_t)d;
        count *= d;
    }
    size_t hdr = 4 + 4 * (size_t)ndim;
    for (size_t i = 0; i < count; i++) out[hdr + i] = (uint8_t)(i * 7 + 3);
    return hdr + count;
}

/* ---------------------------------------------------------------- good files */

static void check_good(const char *path, int ndim, const int *dims, const uint8_t *body,
                       size_t count)
{
    vr_idx idx;
    vr_err err = {{0}};
    int rc = vr_idx_read(path, &idx, &err);
    CHECK(rc == 0, "%s: %s", path, err.msg);
    if (rc) return;
    CHECK(idx.ndim == ndim, "%s: ndim %d, want %d", path, idx.ndim, ndim);
    for (int i = 0; i < ndim; i++) {
        CHECK(idx.dims[i] == dims[i], "%s: dims[%d] = %d, want %d", path, i, idx.dims[i],
              dims[i]);
    }
    CHECK(idx.count == count, "%s: count %zu, want %zu", path, idx.count, count);
    CHECK(idx.count == count && memcmp(idx.data, body, count) == 0, "%s: body differs", path);
    vr_idx_free(&idx);
    CHECK(idx.data == NULL && idx.count == 0, "vr_idx_free leaves the struct empty");
}

static void test_good_files(void)
{
    static uint8_t buf[4096];
    const int dims3[3] = {3, 4, 5};
    size_t n = make_idx(buf, 0x08, 3, dims3);
    write_raw(tmp_path("good3"), buf, n);
    write_gz(tmp_path("good3.gz"), buf, n);
    check_good(tmp_path("good3"), 3, dims3, buf + 16, 60);
    check_good(tmp_path("good3.gz"), 3, dims3, buf + 16, 60);

    /* The reader goes by content: a gzip file without .gz is still gzip. */
    write_gz(tmp_path("gzip-without-suffix"), buf, n);
    check_good(tmp_path("gzip-without-suffix"), 3, dims3, buf + 16, 60);

    const int dims1[1] = {10};
    n = make_idx(buf, 0x08, 1, dims1);
    write_raw(tmp_path("good1"), buf, n);
    check_good(tmp_path("good1"), 1, dims1, buf + 8, 10);

    const int dims4[4] = {2, 3, 4, 5};
    n = make_idx(buf, 0x08, 4, dims4);
    write_gz(tmp_path("good4.gz"), buf, n);
    check_good(tmp_path("good4.gz"), 4, dims4, buf + 20, 120);
}

/* ---------------------------------------------------------------- bad files */

/* Reading PATH must fail, leave the struct empty, and give a message that
 * starts with the path and contains each of the WORDS (NULL-terminated). */
static void check_bad(const char *path, const char *const *words)
{
    vr_idx idx;
    memset(&idx, 0xab, sizeof idx);
    vr_err err = {{0}};
    int rc = vr_idx_read(path, &idx, &err);
    CHECK(rc == -1, "%s: read succeeded, expected a failure", path);
    CHECK(idx.data == NULL && idx.ndim == 0 && idx.count == 0,
          "%s: struct not left empty on failure", path);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0, "message does not start with the path: %s",
          err.msg);
    for (int i = 0; words[i]; i++) {
        CHECK(strstr(err.msg, words[i]) != NULL, "message lacks \"%s\": %s", words[i], err.msg);
    }
    vr_idx_free(&idx);
}

#define BAD(path, ...) check_bad(path, (const char *const[]){__VA_ARGS__, NULL})

static void test_bad_files(void)
{
    static uint8_t buf[8192];
    const int dims[3] = {3, 4, 5};
    size_t n = make_idx(buf, 0x08, 3, dims); /* 16 + 60 bytes */

    write_raw(tmp_path("truncated"), buf, n - 10);
    BAD(tmp_path("truncated"), "truncated", "60", "50");
    write_gz(tmp_path("truncated.gz"), buf, n - 10);
    BAD(tmp_path("truncated.gz"), "truncated", "60", "50");
    write_raw(tmp_path("header-only-part"), buf, 9);
    BAD(tmp_path("header-only-part"), "truncated", "header");
    write_raw(tmp_path("empty"), buf, 0);
    BAD(tmp_path("empty"), "truncated");

    uint8_t saved = buf[1];
    buf[1] = 0x01;
    write_raw(tmp_path("bad-magic"), buf, n);
    BAD(tmp_path("bad-magic"), "magic");
    buf[1] = saved;

    buf[2] = 0x0d; /* float: a real IDX type, but not ours */
    write_raw(tmp_path("float-type"), buf, n);
    BAD(tmp_path("float-type"), "type", "0x0d");
    buf[2] = 0x08;

    buf[3] = 0;
    write_raw(tmp_path("zero-dims"), buf, n);
    BAD(tmp_path("zero-dims"), "dimensions");
    buf[3] = 5;
    write_raw(tmp_path("five-dims"), buf, n);
    BAD(tmp_path("five-dims"), "dimensions");
    buf[3] = 3;

    memcpy(buf + n, "xyz", 3);
    write_raw(tmp_path("trailing"), buf, n + 3);
    BAD(tmp_path("trailing"), "3 trailing bytes");
    write_gz(tmp_path("trailing.gz"), buf, n + 3);
    BAD(tmp_path("trailing.gz"), "3 trailing bytes");

    BAD(tmp_path("missing"), "cannot open", "No such file");
}

/* A gzip file damaged in the middle of its compressed data, and one cut off
 * half-way, must be reported as corrupt gzip, not as a short IDX file. */
static void test_corrupt_gzip(void)
{
    static uint8_t buf[16 + 4096];
    const int dims[3] = {4, 32, 32};
    size_t n = make_idx(buf, 0x08, 3, dims);
    /* Pseudo-random body so the compressed stream is long enough to damage. */
    uint32_t s = 12345;
    for (size_t i = 16; i < n; i++) {
        s = s * 1103515245u + 12345u;
        buf[i] = (uint8_t)(s >> 16);
    }
    write_gz(tmp_path("ok.gz"), buf, n);
    check_good(tmp_path("ok.gz"), 3, dims, buf + 16, n - 16);

    size_t zn = 0;
    uint8_t *z = read_all(tmp_path("ok.gz"), &zn);
    CHECK(z != NULL && zn > 200, "gzip file too small to damage (%zu bytes)", zn);
    if (!z || zn <= 200) {
        free(z);
        return;
    }
    for (size_t i = zn / 2; i < zn / 2 + 16; i++) z[i] ^= 0x5a;
    write_raw(tmp_path("corrupt.gz"), z, zn);
    BAD(tmp_path("corrupt.gz"), "corrupt gzip");
    for (size_t i = zn / 2; i < zn / 2 + 16; i++) z[i] ^= 0x5a;

    z[zn - 6] ^= 0x01; /* the CRC-32 in the trailer */
    write_raw(tmp_path("bad-crc.gz"), z, zn);
    BAD(tmp_path("bad-crc.gz"), "corrupt gzip");
    z[zn - 6] ^= 0x01;

    write_raw(tmp_path("cut.gz"), z, zn / 2);
    BAD(tmp_path("cut.gz"), "corrupt gzip", "truncated");
    free(z);
}

/* ---------------------------------------------------------------- sha256 */

static void check_sha(const void *data, size_t len, const char *want, const char *what)
{
    char got[65];
    vr_sha256_hex(data, len, got);
    CHECK(strcmp(got, want) == 0, "SHA-256 of %s: %s, want %s", what, got, want);
}

static void test_sha256(void)
{
    /* FIPS 180-2 appendix B examples. */
    check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
              "\"abc\"");
    check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              "\"\"");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha(m448, strlen(m448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
              "the 448-bit message");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
                       "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_sha(m896, strlen(m896),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
              "the 896-bit message");

    size_t big = 1000000;
    char *a = malloc(big);
    memset(a, 'a', big);
    check_sha(a, big, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
              "a million 'a'");

    /* Lengths where the padding needs one block or spills into a second. */
    static const struct {
        size_t n;
        const char *hex;
    } pad[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++) {
        char what[32];
        snprintf(what, sizeof what, "%zu 'a'", pad[i].n);
        check_sha(a, pad[i].n, pad[i].hex, what);
    }
    free(a);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vaerun_idx_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_good_files();
    test_bad_files();
    test_corrupt_gzip();
    test_sha256();
    remove_tmpdir();
    return check_result();
}
