/* spec_dump.c: a vr_spec as YAML text (the /config of a run).
 *
 * Walks the key table in order and prints every key, opening a nested
 * mapping whenever a row's section differs from the previous row's. The
 * output is meant to be read by people and by vr_spec_load_string alike:
 * block style, one key per line, lists in flow style, and numbers printed
 * with the fewest digits that read back to the same double.
 */
#include "spec.h"
#include "spec_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8

/* An append-only text buffer that remembers whether anything was cut. */
typedef struct {
    char *buf;
    size_t cap, len;
    int full;
} out_buf;

static void put(out_buf *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(out_buf *o, const char *fmt, ...)
{
    if (o->full) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        o->full = 1;
    else
        o->len += (size_t)n;
}

/* ---------------------------------------------------------------- values -- */

/* Shortest %g form that strtod reads back to exactly V: 0.001 rather than
 * 0.0010000000000000000208. */
static void put_double(out_buf *o, double v)
{
    char t[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) break;
    }
    put(o, "%s", t);
}

static int is_plain_safe(const char *t)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(t, nulls[i]) == 0) return 0;
    if (!*t) return 0;
    /* First character: nothing YAML could read as an indicator. */
    char c = *t;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '_' || c == '/'))
        return 0;
    for (; *t; t++) {
        c = *t;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '/' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* A string as a plain scalar when that reads back the same, else double-
 * quoted with escapes (control bytes as \xHH). */
static void put_string(out_buf *o, const char *t)
{
    if (is_plain_safe(t)) {
        put(o, "%s", t);
        return;
    }
    put(o, "\"");
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c == '\n')
            put(o, "\\n");
        else if (c == '\t')
            put(o, "\\t");
        else if (c < 0x20 || c == 0x7f)
            put(o, "\\x%02x", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

static void put_list(out_buf *o, const vr_key *row, const vr_spec *s)
{
    const char *f = (const char *)s + row->offset;
    int n = *(const int *)((const char *)s + row->count_offset);
    put(o, "[");
    for (int i = 0; i < n; i++) {
        if (row->type == VR_KEY_INT_LIST)
            put(o, "%s%d", i ? ", " : "", ((const int *)f)[i]);
        else
            put(o, "%s%ld", i ? ", " : "", ((const long *)f)[i]);
    }
    put(o, "]");
}

static void put_value(out_buf *o, const vr_key *row, const vr_spec *s)
{
    const char *f = (const char *)s + row->offset;
    switch (row->type) {
    case VR_KEY_INT: put(o, "%d", *(const int *)f); break;
    case VR_KEY_LONG: put(o, "%ld", *(const long *)f); break;
    case VR_KEY_DOUBLE: put_double(o, *(const double *)f); break;
    case VR_KEY_STRING: put_string(o, f); break;
    case VR_KEY_ENUM: {
        /* An out-of-range value prints as a number, which the loader then
         * refuses: better than printing a wrong choice. */
        int v = *(const int *)f, n = 0;
        while (row->choices[n]) n++;
        if (v >= 0 && v < n)
            put(o, "%s", row->choices[v]);
        else
            put(o, "%d", v);
        break;
    }
    case VR_KEY_INT_LIST:
    case VR_KEY_LONG_LIST: put_list(o, row, s); break;
    }
}

/* ------------------------------------------------------------- sections -- */

/* Splits dotted KEY into at most MAX_DEPTH parts (pointers into KEY with
 * lengths); returns the count. */
static int split_key(const char *key, const char *part[], int len[])
{
    int n = 0;
    for (const char *p = key; n < MAX_DEPTH; n++) {
        part[n] = p;
        len[n] = (int)strcspn(p, ".");
        if (p[len[n]] == '\0') return n + 1;
        p += len[n] + 1;
    }
    return n;
}

int vr_spec_to_yaml(const vr_spec *s, char *buf, size_t cap)
{
    out_buf o = {.buf = buf, .cap = cap};
    const char *open[MAX_DEPTH];    /* sections open now, outermost first */
    int open_len[MAX_DEPTH], n_open = 0;
    if (!buf || cap == 0) return -1;
    buf[0] = '\0';

    for (int i = 0; i < vr_spec_n_keys; i++) {
        const vr_key *row = &vr_spec_keys[i];
        const char *part[MAX_DEPTH];
        int len[MAX_DEPTH], n = split_key(row->key, part, len);

        /* Keep the open sections this row shares; open the rest. */
        int keep = 0;
        while (keep < n_open && keep < n - 1 && open_len[keep] == len[keep] &&
               strncmp(open[keep], part[keep], (size_t)len[keep]) == 0)
            keep++;
        for (n_open = keep; n_open < n - 1; n_open++) {
            put(&o, "%*s%.*s:\n", 2 * n_open, "", len[n_open], part[n_open]);
            open[n_open] = part[n_open];
            open_len[n_open] = len[n_open];
        }
        put(&o, "%*s%.*s: ", 2 * n_open, "", len[n - 1], part[n - 1]);
        put_value(&o, row, s);
        put(&o, "\n");
    }
    return o.full ? -1 : (int)o.len;
}
