/* spec_internal.h: the pieces behind spec.h, for the spec loader itself,
 * for sweep expansion and for tests.
 *
 * Three parts:
 *
 *   1. A YAML document as a small tree (vr_node): mappings, sequences and
 *      scalars, each with the 1-based line and column where it starts.
 *      Built from libyaml's event stream by spec_node.c; nothing else in
 *      vaerun talks to libyaml.
 *
 *   2. The key table (vr_key, spec_keys.c): one row per leaf key of a spec,
 *      with its type, bounds, default, target field and help. Parsing,
 *      validation, defaults, the YAML dump and docs/spec.md all read it.
 *
 *   3. Applying trees to a spec (spec_load.c). A spec is built in layers:
 *      defaults, then one mapping (a spec file), then maybe another (a sweep
 *      variant), then single values (grid points, --set). Each layer checks
 *      its values alone (type, bounds, choices) and records where each key
 *      came from in a vr_spec_origin; the cross-key checks run once, after
 *      the last layer, and point at the file, line and column of the key
 *      at fault.
 *
 * Error messages follow one shape: "FILE:LINE:COL: KEY: why", or
 * "LABEL: why" for sources without positions (--set).
 */
#ifndef VR_SPEC_INTERNAL_H
#define VR_SPEC_INTERNAL_H

#include <stddef.h>

#include "../core/config.h"
#include "../core/err.h"

/* ---------------------------------------------------------------- nodes -- */

typedef enum { VR_NODE_SCALAR, VR_NODE_MAP, VR_NODE_SEQ } vr_node_kind;

typedef struct vr_node {
    vr_node_kind kind;
    int line, col;          /* 1-based position of the node's first character */
    char *text;             /* SCALAR: the value, NUL-terminated; else NULL */
    int quoted;             /* SCALAR: 1 if quoted or a block scalar (| >) */
    struct vr_node **kids;  /* MAP: key0, value0, key1, value1, ...; SEQ: items */
    int n_kids;             /* MAP: twice the number of pairs */
} vr_node;

/* Parses TEXT (LEN bytes, UTF-8) as one YAML document into *root. An empty
 * stream (nothing but blanks and comments) gives *root = NULL and 0. Fails
 * with "FILE:LINE:COL: YAML syntax error: ..." (without LINE:COL when
 * with_marks is 0), and likewise on a second document, an alias or a tag,
 * which specs do not use. On failure *root is NULL. */
int vr_yaml_parse(const char *text, size_t len, const char *file,
                  int with_marks, vr_node **root, vr_err *err);

/* Reads and parses the file PATH (errors prefixed with PATH, as above;
 * "PATH: cannot open: ..." when it cannot be read). */
int vr_yaml_parse_file(const char *path, vr_node **root, vr_err *err);

/* Frees a tree from vr_yaml_parse (NULL is fine). */
void vr_node_free(vr_node *n);

/* 1 for a plain scalar that YAML reads as null: empty, ~, null, Null, NULL. */
int vr_node_is_null(const vr_node *n);

/* ------------------------------------------------------------ key table -- */

typedef enum {
    VR_KEY_INT,        /* int field */
    VR_KEY_LONG,       /* long field */
    VR_KEY_DOUBLE,     /* double field */
    VR_KEY_STRING,     /* char[size] field */
    VR_KEY_ENUM,       /* enum field; choices[i] is the name of value i */
    VR_KEY_INT_LIST,   /* int[] field plus an int count field */
    VR_KEY_LONG_LIST,  /* long[] field plus an int count field */
} vr_key_type;

typedef struct {
    const char *key;            /* dotted path: "train.optimizer.lr" */
    vr_key_type type;
    size_t offset;              /* offsetof(vr_spec, field) */
    size_t size;                /* sizeof the field (array: whole array) */
    size_t count_offset;        /* lists: offsetof the int entry count */
    int min_n, max_n;           /* lists: bounds on the entry count */
    double lo, hi;              /* numbers and list entries: bounds */
    unsigned char lo_open;      /* 1: lo itself is excluded */
    unsigned char hi_open;      /* 1: hi itself is excluded */
    unsigned char unique;       /* lists: entries must differ */
    unsigned char ident;        /* strings: non-empty, [A-Za-z0-9._-] only */
    const char *const *choices; /* enums: NULL-terminated */
    const char *def;            /* default, as YAML text */
    const char *def_doc;        /* default as the docs show it, if not def */
    const char *only_key;       /* the key may differ from its default only */
    const char *only_value;     /*   when enum only_key has this value */
    const char *help;           /* one or two sentences, no '|' */
} vr_key;

#define VR_SPEC_MAX_KEYS 64

extern const vr_key vr_spec_keys[];
extern const int vr_spec_n_keys;

/* The row for dotted KEY, or NULL. */
const vr_key *vr_key_find(const char *key);

/* Index of ROW in vr_spec_keys. */
int vr_key_index(const vr_key *row);

/* If KEY lies below section PATH, the rest of KEY after "PATH." (KEY itself
 * for the top section ""), else NULL. */
const char *vr_key_below(const char *key, const char *path);

/* 1 if PATH ("", "train", "train.optimizer") has keys below it. */
int vr_key_is_section(const char *path);

/* Writes to buf the names one level below section PATH, in table order,
 * comma-separated ("steps, batch, optimizer, ..."). */
void vr_key_level_names(const char *path, char *buf, size_t cap);

/* Writes ROW's bounds as text: "[1, 65536]", "(0, 10]". For lists, the
 * bounds of each entry. "" for types without bounds. */
void vr_key_bounds_text(const vr_key *row, char *buf, size_t cap);

/* Writes ROW's choices as "standard, big, mlp". */
void vr_key_choices_text(const vr_key *row, char *buf, size_t cap);

/* Edit distance (insert, delete, substitute, swap two neighbours) between
 * a and b, or a value above LIMIT once it is sure to exceed it. */
int vr_edit_distance(const char *a, const char *b, int limit);

/* -------------------------------------------------------------- layering -- */

/* Where one key's value came from: file (or --set label), 1-based line and
 * column of the key, line 0 if the source has no positions. file NULL: the
 * key still has its default. FILE strings are borrowed, not copied: they
 * must outlive the origin. */
typedef struct {
    const char *file;
    int line, col;
} vr_src;

typedef struct {
    vr_src at[VR_SPEC_MAX_KEYS];    /* indexed like vr_spec_keys */
} vr_spec_origin;

/* Applies mapping MAP onto S: each key is read relative to section PREFIX
 * ("" for a whole spec, "train" for the inside of `train:`), nested mappings
 * are sections, leaves are parsed and checked against their rows. Records
 * each key's position in ORIGIN (may be NULL). FILE prefixes errors
 * ("FILE:LINE:COL: ..."). On error S may be partly updated. */
int vr_spec_apply_mapping(vr_spec *s, vr_spec_origin *origin,
                          const vr_node *map, const char *prefix,
                          const char *file, vr_err *err);

/* Applies VALUE to dotted KEY, a leaf or a section (then VALUE must be a
 * mapping): a grid point or a --set. KEY_NODE, if not NULL, is where KEY
 * was written (for ORIGIN and errors about the key itself). With marks 0
 * errors read "FILE: why" and FILE names the whole source ("--set k=v"). */
int vr_spec_apply_value(vr_spec *s, vr_spec_origin *origin, const char *key,
                        const vr_node *key_node, const vr_node *value,
                        const char *file, int marks, vr_err *err);

/* The cross-key checks, run once after the last layer. ORIGIN (may be NULL)
 * gives the position of the key at fault; without one the message has no
 * position. */
int vr_spec_check_at(const vr_spec *s, const vr_spec_origin *origin,
                     vr_err *err);

#endif
