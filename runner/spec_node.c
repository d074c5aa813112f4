/* spec_node.c: a YAML document as a vr_node tree (see spec_internal.h).
 *
 * Built from libyaml's event stream by recursive descent: one function per
 * node kind, one event read at a time. The tree keeps only what a spec
 * needs: kinds, scalar text, whether a scalar was quoted, and positions.
 * Aliases, tags and multi-document streams are refused rather than half
 * supported: a spec that uses them would mean something the loader cannot
 * show back in its resolved dump.
 */
#include "spec_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Spec files are small; a multi-megabyte one is a mistake (a data file
 * passed by accident) better refused than parsed. */
#define MAX_FILE_BYTES (16u << 20)

/* Deeper than any spec; stops a hostile "[[[[..." from exhausting the stack. */
#define MAX_DEPTH 64

typedef struct {
    yaml_parser_t parser;
    const char *text;       /* the input, to turn a byte offset into a line */
    size_t len;
    const char *file;
    int marks;
    vr_err *err;
} reader;

/* ------------------------------------------------------------- errors -- */

static int fail_mark(reader *r, yaml_mark_t m, const char *what)
{
    if (!r->marks) return vr_fail(r->err, "%s: %s", r->file, what);
    return vr_fail(r->err, "%s:%zu:%zu: %s", r->file, m.line + 1, m.column + 1,
                   what);
}

/* libyaml's reader errors (bad UTF-8, a NUL byte) carry a byte offset, not
 * a mark: count lines up to it so the message still points at the spot. */
static yaml_mark_t mark_of_offset(const reader *r, size_t off)
{
    yaml_mark_t m = {0, 0, 0};
    if (off > r->len) off = r->len;
    for (size_t i = 0; i < off; i++) {
        if (r->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if (((unsigned char)r->text[i] & 0xC0) != 0x80) {
            m.column++;   /* count characters, not UTF-8 continuation bytes */
        }
    }
    m.index = off;
    return m;
}

static int fail_parser(reader *r)
{
    const yaml_parser_t *p = &r->parser;
    char what[VR_ERR_MAX];
    const char *problem = p->problem ? p->problem : "unknown problem";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return vr_fail(r->err, "%s: out of memory while reading YAML", r->file);
    case YAML_READER_ERROR:
        snprintf(what, sizeof what, "YAML syntax error: %s", problem);
        return fail_mark(r, mark_of_offset(r, p->problem_offset), what);
    default:
        if (p->context && r->marks)
            snprintf(what, sizeof what, "YAML syntax error: %s (%s at %zu:%zu)",
                     problem, p->context, p->context_mark.line + 1,
                     p->context_mark.column + 1);
        else if (p->context)
            snprintf(what, sizeof what, "YAML syntax error: %s (%s)", problem,
                     p->context);
        else
            snprintf(what, sizeof what, "YAML syntax error: %s", problem);
        return fail_mark(r, p->problem_mark, what);
    }
}

static int next_event(reader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->parser, ev)) return fail_parser(r);
    return 0;
}

/* --------------------------------------------------------------- nodes -- */

static vr_node *new_node(reader *r, vr_node_kind kind, yaml_mark_t m)
{
    vr_node *n = calloc(1, sizeof *n);
    if (!n) {
        vr_fail(r->err, "%s: out of memory while reading YAML", r->file);
        return NULL;
    }
    n->kind = kind;
    n->line = (int)m.line + 1;
    n->col = (int)m.column + 1;
    return n;
}

void vr_node_free(vr_node *n)
{
    if (!n) return;
    for (int i = 0; i < n->n_kids; i++) vr_node_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

int vr_node_is_null(const vr_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (!n || n->kind != VR_NODE_SCALAR || n->quoted) return 0;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(n->text, nulls[i]) == 0) return 1;
    return 0;
}

static int add_kid(reader *r, vr_node *parent, vr_node *kid)
{
    vr_node **k = realloc(parent->kids, (size_t)(parent->n_kids + 1) * sizeof *k);
    if (!k) {
        vr_node_free(kid);
        return vr_fail(r->err, "%s: out of memory while reading YAML", r->file);
    }
    parent->kids = k;
    parent->kids[parent->n_kids++] = kid;
    return 0;
}

static int parse_node(reader *r, yaml_event_t *ev, int depth, vr_node **out);

static int parse_scalar(reader *r, const yaml_event_t *ev, vr_node **out)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    /* A "\0" escape would silently cut the C string short. */
    if (memchr(v, '\0', len))
        return fail_mark(r, ev->start_mark, "NUL character in a YAML scalar");
    vr_node *n = new_node(r, VR_NODE_SCALAR, ev->start_mark);
    if (!n) return -1;
    n->text = malloc(len + 1);
    if (!n->text) {
        vr_node_free(n);
        return vr_fail(r->err, "%s: out of memory while reading YAML", r->file);
    }
    memcpy(n->text, v, len);
    n->text[len] = '\0';
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    *out = n;
    return 0;
}

/* Reads the children of a sequence or mapping up to END_TYPE. */
static int parse_children(reader *r, vr_node *n, yaml_event_type_t end_type,
                          int depth)
{
    for (;;) {
        yaml_event_t ev;
        if (next_event(r, &ev)) return -1;
        if (ev.type == end_type) {
            yaml_event_delete(&ev);
            return 0;
        }
        vr_node *kid = NULL;
        int rc = parse_node(r, &ev, depth + 1, &kid);
        yaml_event_delete(&ev);
        if (rc || add_kid(r, n, kid)) return -1;
    }
}

static int parse_collection(reader *r, const yaml_event_t *ev, int depth,
                            vr_node **out)
{
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (depth > MAX_DEPTH)
        return fail_mark(r, ev->start_mark, "YAML nested too deeply");
    vr_node *n = new_node(r, is_map ? VR_NODE_MAP : VR_NODE_SEQ, ev->start_mark);
    if (!n) return -1;
    if (parse_children(r, n, is_map ? YAML_MAPPING_END_EVENT
                                    : YAML_SEQUENCE_END_EVENT, depth)) {
        vr_node_free(n);
        return -1;
    }
    *out = n;
    return 0;
}

/* EV is the node's first event (already read; the caller deletes it). */
static int parse_node(reader *r, yaml_event_t *ev, int depth, vr_node **out)
{
    const yaml_char_t *tag = NULL;
    if (ev->type == YAML_SCALAR_EVENT) tag = ev->data.scalar.tag;
    if (ev->type == YAML_SEQUENCE_START_EVENT) tag = ev->data.sequence_start.tag;
    if (ev->type == YAML_MAPPING_START_EVENT) tag = ev->data.mapping_start.tag;
    if (tag)
        return fail_mark(r, ev->start_mark,
                         "YAML tags (!...) are not supported in specs");
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return parse_scalar(r, ev, out);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return parse_collection(r, ev, depth, out);
    case YAML_ALIAS_EVENT:
        return fail_mark(r, ev->start_mark,
                         "YAML aliases (*name) are not supported in specs");
    default:
        return fail_mark(r, ev->start_mark, "unexpected YAML event");
    }
}

/* ------------------------------------------------------------ document -- */

/* Reads one event and checks its type (libyaml guarantees the order, so a
 * mismatch is a bug, reported rather than trusted). */
static int expect_event(reader *r, yaml_event_type_t type, yaml_event_t *ev)
{
    if (next_event(r, ev)) return -1;
    if (ev->type == type) return 0;
    yaml_mark_t m = ev->start_mark;   /* yaml_event_delete zeroes the event */
    yaml_event_delete(ev);
    return fail_mark(r, m, "unexpected YAML event");
}

/* After STREAM_START: an empty stream, or one document then STREAM_END. */
static int parse_stream(reader *r, vr_node **root)
{
    yaml_event_t ev;
    if (next_event(r, &ev)) return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return 0;
    }
    yaml_event_delete(&ev);   /* DOCUMENT_START */

    if (next_event(r, &ev)) return -1;
    int rc = parse_node(r, &ev, 0, root);
    yaml_event_delete(&ev);
    if (rc) return -1;

    if (expect_event(r, YAML_DOCUMENT_END_EVENT, &ev)) return -1;
    yaml_event_delete(&ev);
    if (next_event(r, &ev)) return -1;
    yaml_event_type_t t = ev.type;
    yaml_mark_t m = ev.start_mark;
    yaml_event_delete(&ev);
    if (t != YAML_STREAM_END_EVENT)
        return fail_mark(r, m, "a spec is one YAML document; found a second");
    return 0;
}

int vr_yaml_parse(const char *text, size_t len, const char *file,
                  int with_marks, vr_node **root, vr_err *err)
{
    reader r = {.text = text, .len = len, .file = file, .marks = with_marks,
                .err = err};
    *root = NULL;
    if (!yaml_parser_initialize(&r.parser))
        return vr_fail(err, "%s: out of memory while reading YAML", file);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);

    yaml_event_t ev;
    int rc = expect_event(&r, YAML_STREAM_START_EVENT, &ev);
    if (rc == 0) {
        yaml_event_delete(&ev);
        rc = parse_stream(&r, root);
    }
    yaml_parser_delete(&r.parser);
    if (rc) {
        vr_node_free(*root);
        *root = NULL;
    }
    return rc;
}

/* ---------------------------------------------------------------- files -- */

/* Reads all of PATH into a malloc'd buffer. */
static int read_file(const char *path, char **text, size_t *len, vr_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return vr_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= MAX_FILE_BYTES) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int rc = 0;
    if (!buf)
        rc = vr_fail(err, "%s: out of memory while reading", path);
    else if (ferror(f))
        rc = vr_fail(err, "%s: cannot read: %s", path, strerror(errno));
    else if (n == cap)
        rc = vr_fail(err, "%s: too large for a spec file (over %u bytes)", path,
                     MAX_FILE_BYTES);
    fclose(f);
    if (rc) {
        free(buf);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

int vr_yaml_parse_file(const char *path, vr_node **root, vr_err *err)
{
    char *text = NULL;
    size_t len = 0;
    *root = NULL;
    if (read_file(path, &text, &len, err)) return -1;
    int rc = vr_yaml_parse(text, len, path, 1, root, err);
    free(text);
    return rc;
}
