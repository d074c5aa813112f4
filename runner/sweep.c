/* sweep.c: sweep files (docs/sweeps.md) expanded into runs.
 *
 * vr_sweep_load parses the sweep file, sorts its top-level keys into the
 * sweep's own (base, grid, variants, out) and spec keys, and reads the base
 * file. expand() then builds every run from those trees, layer by layer
 * through spec_internal.h (defaults, base, the sweep's spec keys, variant,
 * grid point, --set overrides, seed), recording in a vr_spec_origin where
 * each key came from so that vr_spec_check_at can point into the right
 * file. vr_sweep_set adds an override and runs expand() again, so the runs
 * are always the trees plus the overrides, never a patched copy.
 *
 * Validation happens in the order a reader would want it: the shape of the
 * file, then the base, then each grid list and each variant on its own
 * (value errors at the entry or key), then the combinations (cross-key
 * errors, one per distinct variant x grid point, the seed left out since
 * no check depends on it).
 */
#include "sweep.h"
#include "spec.h"
#include "spec_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUOTE_MAX 60

typedef struct {
    char *key;
    char *label;        /* "--set KEY=VALUE": errors and origins name it */
    vr_node *root;      /* the value parsed; NULL for an empty value */
} override;

struct vr_sweep_src {
    char file[VR_PATH_MAX];       /* the sweep file, as given */
    char base_path[VR_PATH_MAX];  /* the base file, resolved; "" if none */
    vr_node *root;                /* the sweep file */
    vr_node *base_root;           /* the base file, or NULL */
    /* The sweep file's top level, sorted. Pointers into root. */
    const vr_node *base_k, *base_v, *grid_k, *grid_v, *var_k, *var_v,
                  *out_k, *out_v;
    vr_node own;                  /* MAP of its spec keys (kids borrowed) */
    override **ov;
    int n_ov;
};

/* One grid key and its list. */
typedef struct {
    const vr_key *row;
    int index;                    /* row's index in vr_spec_keys */
    const vr_node *key_node, *list;
    char part[64];                /* the run-id's key part: "beta" */
    char (*text)[64];             /* each entry as written: "0.01" */
    char (*idv)[64];              /* each entry for the run-id */
} grid_key;

/* One variant. */
typedef struct {
    const vr_node *key_node, *value;  /* value NULL or a null scalar: as is */
} variant;

/* What expand() produces. */
typedef struct {
    char name[VR_NAME_MAX];
    vr_run_item *runs;
    int n_runs;
} expansion;

static const char *const sweep_keys[] = {"base", "grid", "variants", "out", NULL};

/* ------------------------------------------------------------ messages -- */

/* "FILE:LINE:COL: message" at node N (N NULL: "FILE: message"). */
static int fail_node(vr_err *err, const char *file, const vr_node *n,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_node(vr_err *err, const char *file, const vr_node *n,
                     const char *fmt, ...)
{
    char msg[VR_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n) return vr_fail(err, "%s:%d:%d: %s", file, n->line, n->col, msg);
    return vr_fail(err, "%s: %s", file, msg);
}

/* What a node is, for "expected X, got Y". */
static const char *describe(const vr_node *n, char *buf, size_t cap)
{
    if (n->kind == VR_NODE_MAP) return "a mapping";
    if (n->kind == VR_NODE_SEQ) return "a list";
    if (vr_node_is_null(n)) return "an empty value";
    snprintf(buf, cap, "%s'%.*s%s'", n->quoted ? "the quoted string " : "",
             QUOTE_MAX, n->text, strlen(n->text) > QUOTE_MAX ? "..." : "");
    return buf;
}

static const char *excerpt(const char *text, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.*s%s", QUOTE_MAX, text,
             strlen(text) > QUOTE_MAX ? "..." : "");
    return buf;
}

/* Appends " (run ID)" to err's message, if there is room. */
static void add_run_context(vr_err *err, const char *id)
{
    if (!err) return;
    size_t len = strlen(err->msg);
    snprintf(err->msg + len, sizeof err->msg - len, " (run %s)", id);
}

/* ----------------------------------------------------------------- text -- */

static int is_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '_' ||
           c == '-';
}

/* TEXT with every byte outside [A-Za-z0-9.+_-] replaced by '_', appended
 * at buf[*len]. Returns -1 if it does not fit. */
static int append_sanitised(char *buf, size_t cap, size_t *len, const char *text)
{
    for (; *text; text++) {
        if (*len + 1 >= cap) return -1;
        buf[(*len)++] = is_id_char(*text) ? *text : '_';
    }
    buf[*len] = '\0';
    return 0;
}

/* "sweeps/beta.yaml" -> "beta". */
static void file_stem(const char *path, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, cap, "%.*s", (int)n, base);
}

static const char *last_part(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

static int is_spec_key(const char *k)
{
    return vr_key_find(k) || vr_key_is_section(k);
}

/* The keys the grid, variants and --set may not set. */
static int is_reserved(const char *key)
{
    return !strcmp(key, "name") || !strcmp(key, "seed") || !strcmp(key, "seeds");
}

/* --------------------------------------------------------------- layout -- */

/* The closest of the top-level names (the sweep's and the spec's) to
 * NAME, if close enough to suggest. */
static const char *suggest_top(const char *name, char *buf, size_t cap)
{
    int best_d = 3;
    const char *best = NULL;
    for (int i = 0; sweep_keys[i]; i++) {
        int d = strcasecmp(name, sweep_keys[i]) == 0
                    ? 0 : vr_edit_distance(name, sweep_keys[i], best_d);
        if (d < best_d) best_d = d, best = sweep_keys[i];
    }
    for (int i = 0; i < vr_spec_n_keys; i++) {
        char cand[64];
        const char *k = vr_spec_keys[i].key;
        snprintf(cand, sizeof cand, "%.*s", (int)strcspn(k, "."), k);
        int d = strcasecmp(name, cand) == 0 ? 0 : vr_edit_distance(name, cand, best_d);
        if (d < best_d) {
            best_d = d;
            snprintf(buf, cap, "%s", cand);
            best = buf;
        }
    }
    return best;
}

static int unknown_top(struct vr_sweep_src *S, const vr_node *k, vr_err *err)
{
    char b[QUOTE_MAX + 4], near[64], names[512];
    excerpt(k->text, b, sizeof b);
    const char *s = suggest_top(k->text, near, sizeof near);
    if (s)
        return fail_node(err, S->file, k, "unknown key '%s' (did you mean '%s'?)",
                         b, s);
    vr_key_level_names("", names, sizeof names);
    return fail_node(err, S->file, k, "unknown key '%s'; valid keys: %s, and "
                     "for sweeps base, grid, variants, out", b, names);
}

/* Sorts the sweep file's top-level keys into S. */
static int read_layout(struct vr_sweep_src *S, vr_err *err)
{
    const vr_node *root = S->root;
    char b[128];
    if (!root || vr_node_is_null(root))
        return vr_fail(err, "%s:%d:%d: empty file: expected a mapping of spec "
                       "or sweep keys (docs/sweeps.md)", S->file,
                       root ? root->line : 1, root ? root->col : 1);
    if (root->kind != VR_NODE_MAP)
        return fail_node(err, S->file, root, "expected a mapping of spec or "
                         "sweep keys (docs/sweeps.md), got %s",
                         describe(root, b, sizeof b));
    S->own.kind = VR_NODE_MAP;
    S->own.line = root->line;
    S->own.col = root->col;
    S->own.kids = calloc((size_t)root->n_kids + 1, sizeof *S->own.kids);
    if (!S->own.kids) return vr_fail(err, "%s: out of memory", S->file);
    for (int i = 0; i < root->n_kids / 2; i++) {
        vr_node *k = root->kids[2 * i], *v = root->kids[2 * i + 1];
        if (k->kind != VR_NODE_SCALAR)
            return fail_node(err, S->file, k, "expected a key name, got %s",
                             describe(k, b, sizeof b));
        for (int j = 0; j < i; j++) {
            const vr_node *e = root->kids[2 * j];
            if (e->kind == VR_NODE_SCALAR && strcmp(e->text, k->text) == 0)
                return fail_node(err, S->file, k, "duplicate key '%s' (first "
                                 "at %d:%d)", excerpt(k->text, b, sizeof b),
                                 e->line, e->col);
        }
        const vr_node **slot_k = NULL, **slot_v = NULL;
        if (!strcmp(k->text, "base")) slot_k = &S->base_k, slot_v = &S->base_v;
        else if (!strcmp(k->text, "grid")) slot_k = &S->grid_k, slot_v = &S->grid_v;
        else if (!strcmp(k->text, "variants")) slot_k = &S->var_k, slot_v = &S->var_v;
        else if (!strcmp(k->text, "out")) slot_k = &S->out_k, slot_v = &S->out_v;
        if (slot_k) {
            *slot_k = k;
            *slot_v = v;
            continue;
        }
        /* Spec keys go to the spec loader, and so do dotted keys below a
         * spec section (train.steps, train.stpes), for its messages: "spec
         * files nest keys" or the closest key. */
        char first[64];
        snprintf(first, sizeof first, "%.*s", (int)strcspn(k->text, "."), k->text);
        if (is_spec_key(k->text) || (strchr(k->text, '.') && *first &&
                                     vr_key_is_section(first))) {
            S->own.kids[S->own.n_kids++] = k;
            S->own.kids[S->own.n_kids++] = v;
            continue;
        }
        return unknown_top(S, k, err);
    }
    return 0;
}

/* The top-level keys of a base file that make it a sweep, or NULL. */
static const vr_node *sweep_key_in(const vr_node *root)
{
    if (!root || root->kind != VR_NODE_MAP) return NULL;
    for (int i = 0; i < root->n_kids / 2; i++) {
        const vr_node *k = root->kids[2 * i];
        if (k->kind != VR_NODE_SCALAR) continue;
        for (int j = 0; sweep_keys[j]; j++)
            if (!strcmp(k->text, sweep_keys[j])) return k;
    }
    return NULL;
}

/* Resolves, reads and parses base: into S. */
static int read_base(struct vr_sweep_src *S, vr_err *err)
{
    const vr_node *v = S->base_v;
    char b[128];
    if (v->kind != VR_NODE_SCALAR || vr_node_is_null(v))
        return fail_node(err, S->file, v, "base: expected the path of a spec "
                         "file, got %s", describe(v, b, sizeof b));
    const char *slash = strrchr(S->file, '/');
    int n;
    if (v->text[0] == '/' || !slash)
        n = snprintf(S->base_path, sizeof S->base_path, "%s", v->text);
    else
        n = snprintf(S->base_path, sizeof S->base_path, "%.*s/%s",
                     (int)(slash - S->file), S->file, v->text);
    if (n < 0 || (size_t)n >= sizeof S->base_path)
        return fail_node(err, S->file, v, "base: the path is too long");
    FILE *f = fopen(S->base_path, "r");
    if (!f)
        return fail_node(err, S->file, v, "base: cannot open %s: %s",
                         S->base_path, strerror(errno));
    fclose(f);
    if (vr_yaml_parse_file(S->base_path, &S->base_root, err)) return -1;
    if (!S->base_root || vr_node_is_null(S->base_root))
        return fail_node(err, S->file, v, "base: %s is empty; a base is a spec "
                         "file", S->base_path);
    const vr_node *sk = sweep_key_in(S->base_root);
    if (sk)
        return fail_node(err, S->file, v, "base: %s is itself a sweep (it has "
                         "%s: at %d:%d); a base must be a plain spec",
                         S->base_path, sk->text, sk->line, sk->col);
    return 0;
}

/* ----------------------------------------------------------------- grid -- */

/* Is field ROW the same in A and B? Both were written over one copy of the
 * same spec, so bytes past a string's NUL or a list's count agree. */
static int same_field(const vr_key *row, const vr_spec *a, const vr_spec *b)
{
    const char *fa = (const char *)a + row->offset;
    const char *fb = (const char *)b + row->offset;
    if (row->type == VR_KEY_DOUBLE) return *(const double *)fa == *(const double *)fb;
    if (row->type == VR_KEY_STRING) return strcmp(fa, fb) == 0;
    if (row->type == VR_KEY_INT_LIST || row->type == VR_KEY_LONG_LIST) {
        int na = *(const int *)((const char *)a + row->count_offset);
        int nb = *(const int *)((const char *)b + row->count_offset);
        size_t esz = row->type == VR_KEY_INT_LIST ? sizeof(int) : sizeof(long);
        return na == nb && memcmp(fa, fb, (size_t)na * esz) == 0;
    }
    return memcmp(fa, fb, row->size) == 0;
}

static void free_grid(grid_key *g, int n)
{
    for (int i = 0; i < n; i++) {
        free(g[i].text);
        free(g[i].idv);
    }
    free(g);
}

/* Entry E of a grid list: its text as written and its run-id form. A list
 * (model.hidden) reads "[512, 256]" and "512x256". Both fit in 64 bytes
 * when the text does: the run-id form is never longer. */
static int entry_text(const struct vr_sweep_src *S, const grid_key *g,
                      const vr_node *e, char *text, char *idv, vr_err *err)
{
    char buf[256], b[QUOTE_MAX + 4];
    size_t len, il = 0;
    idv[0] = '\0';
    if (e->kind == VR_NODE_SCALAR) {
        len = strlen(e->text);
        snprintf(buf, sizeof buf, "%s", e->text);
    } else {
        len = (size_t)snprintf(buf, sizeof buf, "[");
        for (int i = 0; i < e->n_kids && len < sizeof buf; i++) {
            const char *t = e->kids[i]->kind == VR_NODE_SCALAR ? e->kids[i]->text : "?";
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", t);
        }
        if (len < sizeof buf) len += (size_t)snprintf(buf + len, sizeof buf - len, "]");
    }
    if (len >= 64)
        return fail_node(err, S->file, e, "grid: %s: the value '%s' is too long "
                         "for a run-id (at most 63 bytes)", g->row->key,
                         excerpt(buf, b, sizeof b));
    memcpy(text, buf, len + 1);
    if (e->kind == VR_NODE_SCALAR) {
        append_sanitised(idv, 64, &il, e->text);
    } else {
        for (int i = 0; i < e->n_kids; i++) {
            if (i) append_sanitised(idv, 64, &il, "x");
            append_sanitised(idv, 64, &il, e->kids[i]->text);
        }
    }
    return 0;
}

/* Reads grid: into *out (*n keys), each entry checked against its key.
 * COMMON and ORIGIN are the spec after the base and the sweep's own keys. */
static int read_grid(const struct vr_sweep_src *S, const vr_spec *common,
                     const vr_spec_origin *origin, grid_key **out, int *n,
                     vr_err *err)
{
    const vr_node *map = S->grid_v;
    char b[128];
    *out = NULL;
    *n = 0;
    if (map->kind != VR_NODE_MAP)
        return fail_node(err, S->file, map, "grid: expected a mapping of "
                         "dotted keys to lists of values, got %s",
                         describe(map, b, sizeof b));
    int np = map->n_kids / 2;
    if (np == 0)
        return fail_node(err, S->file, map, "grid: empty; give at least one "
                         "key: [values], or remove grid");
    if (np > VR_SWEEP_MAX_GRID)
        return fail_node(err, S->file, map->kids[2 * VR_SWEEP_MAX_GRID],
                         "grid: more than %d keys", VR_SWEEP_MAX_GRID);
    grid_key *g = calloc((size_t)np, sizeof *g);
    vr_spec *vals = NULL;
    if (!g) return vr_fail(err, "%s: out of memory", S->file);
    int rc = -1;
    for (int i = 0; i < np; i++) {
        const vr_node *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        grid_key *gk = &g[i];
        *n = i + 1;
        gk->key_node = k;
        gk->list = v;
        if (k->kind != VR_NODE_SCALAR) {
            fail_node(err, S->file, k, "grid: expected a dotted key, got %s",
                      describe(k, b, sizeof b));
            goto done;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(g[j].key_node->text, k->text) == 0) {
                fail_node(err, S->file, k, "duplicate key '%s' in 'grid' "
                          "(first at %d:%d)", excerpt(k->text, b, sizeof b),
                          g[j].key_node->line, g[j].key_node->col);
                goto done;
            }
        }
        gk->row = vr_key_find(k->text);
        if (!gk->row) {
            if (vr_key_is_section(k->text)) {
                char names[512];
                vr_key_level_names(k->text, names, sizeof names);
                fail_node(err, S->file, k, "grid: '%s' is a section; grid one "
                          "of its keys, written dotted (%s.KEY: [...] with KEY "
                          "one of %s), or use variants", k->text, k->text, names);
                goto done;
            }
            const char *best = NULL;
            int best_d = 3;
            for (int r = 0; r < vr_spec_n_keys; r++) {
                const char *cand = vr_spec_keys[r].key;
                int d = strcasecmp(k->text, cand) == 0
                            ? 0 : vr_edit_distance(k->text, cand, best_d);
                if (d < best_d) best_d = d, best = cand;
            }
            excerpt(k->text, b, sizeof b);
            if (best)
                fail_node(err, S->file, k, "grid: unknown key '%s' (did you mean "
                          "'%s'?)", b, best);
            else
                fail_node(err, S->file, k, "grid: unknown key '%s'; grid keys "
                          "are dotted spec keys (`vaerun keys` lists them)", b);
            goto done;
        }
        gk->index = vr_key_index(gk->row);
        if (!strcmp(k->text, "name")) {
            fail_node(err, S->file, k, "grid: name cannot be swept: it names "
                      "the sweep");
            goto done;
        }
        if (!strcmp(k->text, "seed") || !strcmp(k->text, "seeds")) {
            fail_node(err, S->file, k, "grid: %s cannot be swept; seeds: at the "
                      "top level gives the seeds of every grid point", k->text);
            goto done;
        }
        const vr_src *o = &origin->at[gk->index];
        if (o->file == S->file) {
            vr_fail(err, "%s:%d:%d: %s is swept by the grid (at %d:%d); a value "
                    "here is never used: remove it", o->file, o->line, o->col,
                    k->text, k->line, k->col);
            goto done;
        }
        if (v->kind != VR_NODE_SEQ) {
            if (v->kind == VR_NODE_SCALAR && !vr_node_is_null(v))
                fail_node(err, S->file, v, "grid: %s: expected a list of values, "
                          "got %s (a list of one is written [%s])", k->text,
                          describe(v, b, sizeof b), v->text);
            else
                fail_node(err, S->file, v, "grid: %s: expected a list of values, "
                          "got %s", k->text, describe(v, b, sizeof b));
            goto done;
        }
        int ne = v->n_kids;
        if (ne == 0) {
            fail_node(err, S->file, v, "grid: %s: empty list; give at least one "
                      "value", k->text);
            goto done;
        }
        if (ne > VR_SWEEP_MAX_RUNS) {
            fail_node(err, S->file, v, "grid: %s: %d values; a sweep has at "
                      "most %d runs", k->text, ne, VR_SWEEP_MAX_RUNS);
            goto done;
        }
        gk->text = calloc((size_t)ne, sizeof *gk->text);
        gk->idv = calloc((size_t)ne, sizeof *gk->idv);
        free(vals);
        vals = malloc((size_t)ne * sizeof *vals);
        if (!gk->text || !gk->idv || !vals) {
            vr_fail(err, "%s: out of memory", S->file);
            goto done;
        }
        for (int e = 0; e < ne; e++) {
            const vr_node *en = v->kids[e];
            vals[e] = *common;
            if (vr_spec_apply_value(&vals[e], NULL, k->text, en, en, S->file, 1, err))
                goto done;
            if (entry_text(S, gk, en, gk->text[e], gk->idv[e], err)) goto done;
            for (int f = 0; f < e; f++) {
                const vr_node *fn = v->kids[f];
                if (same_field(gk->row, &vals[e], &vals[f])) {
                    fail_node(err, S->file, en, "grid: %s: %s is the same value "
                              "as %s (at %d:%d)", k->text, gk->text[e],
                              gk->text[f], fn->line, fn->col);
                    goto done;
                }
                if (strcmp(gk->idv[e], gk->idv[f]) == 0) {
                    fail_node(err, S->file, en, "grid: %s: '%s' and '%s' (at "
                              "%d:%d) give the same run-id part '%s'", k->text,
                              gk->text[e], gk->text[f], fn->line, fn->col,
                              gk->idv[e]);
                    goto done;
                }
            }
        }
    }
    /* Run-id key parts: the last part of the key, or the whole key with
     * '_' for '.' when another grid key ends alike. */
    for (int i = 0; i < np; i++) {
        const char *mine = last_part(g[i].row->key);
        int shared = 0;
        for (int j = 0; j < np; j++)
            if (j != i && strcmp(mine, last_part(g[j].row->key)) == 0) shared = 1;
        snprintf(g[i].part, sizeof g[i].part, "%s", shared ? g[i].row->key : mine);
        for (char *c = g[i].part; *c; c++)
            if (*c == '.') *c = '_';
    }
    rc = 0;
done:
    free(vals);
    if (rc) {
        free_grid(g, *n);
        *n = 0;
        g = NULL;
    }
    *out = g;
    return rc;
}

/* Fails if ORIGIN (of one layer alone) sets a key the grid sweeps. WHO
 * names the layer for the message. */
static int grid_conflict(const struct vr_sweep_src *S, const grid_key *g, int ng,
                         const vr_spec_origin *layer, const char *who,
                         vr_err *err)
{
    for (int i = 0; i < ng; i++) {
        const vr_src *o = &layer->at[g[i].index];
        if (!o->file) continue;
        const vr_node *k = g[i].key_node;
        if (o->line)
            return vr_fail(err, "%s:%d:%d: %s sets %s, which the grid sweeps (at "
                           "%d:%d); the grid's value would always replace it: "
                           "remove one", o->file, o->line, o->col, who,
                           g[i].row->key, k->line, k->col);
        return vr_fail(err, "%s: %s is swept by the grid (%s:%d:%d); --set "
                       "cannot override it", o->file, g[i].row->key, S->file,
                       k->line, k->col);
    }
    return 0;
}

/* ------------------------------------------------------------- variants -- */

static int read_variants(const struct vr_sweep_src *S, const vr_spec *common,
                         const grid_key *g, int ng, variant **out, int *n,
                         vr_err *err)
{
    const vr_node *map = S->var_v;
    char b[128];
    *out = NULL;
    *n = 0;
    if (map->kind != VR_NODE_MAP)
        return fail_node(err, S->file, map, "variants: expected a mapping of "
                         "names to partial specs, got %s",
                         describe(map, b, sizeof b));
    int nv = map->n_kids / 2;
    if (nv == 0)
        return fail_node(err, S->file, map, "variants: empty; give at least "
                         "one name: {spec keys}, or remove variants");
    variant *v = calloc((size_t)nv, sizeof *v);
    if (!v) return vr_fail(err, "%s: out of memory", S->file);
    for (int i = 0; i < nv; i++) {
        const vr_node *k = map->kids[2 * i], *val = map->kids[2 * i + 1];
        v[i].key_node = k;
        v[i].value = val;
        if (k->kind != VR_NODE_SCALAR || vr_node_is_null(k)) {
            fail_node(err, S->file, k, "variants: expected a variant name, got "
                      "%s", describe(k, b, sizeof b));
            goto fail;
        }
        for (int j = 0; j < i; j++) {
            const vr_node *e = v[j].key_node;
            if (strcmp(e->text, k->text) == 0) {
                fail_node(err, S->file, k, "duplicate variant '%s' (first at "
                          "%d:%d)", excerpt(k->text, b, sizeof b), e->line, e->col);
                goto fail;
            }
        }
        if (strlen(k->text) >= 64) {
            fail_node(err, S->file, k, "variant name '%s' is too long (at most "
                      "63 bytes)", excerpt(k->text, b, sizeof b));
            goto fail;
        }
        for (const char *c = k->text; *c; c++) {
            if (!is_id_char(*c)) {
                fail_node(err, S->file, k, "variant name '%s' may hold only "
                          "letters, digits, '.', '+', '_' and '-' (it goes into "
                          "run-ids)", excerpt(k->text, b, sizeof b));
                goto fail;
            }
        }
        if (vr_node_is_null(val)) continue;  /* `plain:`: the spec as it is */
        if (val->kind != VR_NODE_MAP) {
            fail_node(err, S->file, val, "variants: %s: expected a mapping of "
                      "spec keys, got %s", k->text, describe(val, b, sizeof b));
            goto fail;
        }
        vr_spec scratch = *common;
        vr_spec_origin layer;
        memset(&layer, 0, sizeof layer);
        if (vr_spec_apply_mapping(&scratch, &layer, val, "", S->file, err)) goto fail;
        for (int r = 0; r < vr_spec_n_keys; r++) {
            const vr_src *o = &layer.at[r];
            if (o->file && is_reserved(vr_spec_keys[r].key)) {
                vr_fail(err, "%s:%d:%d: variant '%s' sets %s; variants cannot "
                        "set name, seed or seeds (seeds: at the top level "
                        "applies to every variant)", o->file, o->line, o->col,
                        k->text, vr_spec_keys[r].key);
                goto fail;
            }
        }
        char who[128];
        snprintf(who, sizeof who, "variant '%s'", k->text);
        if (grid_conflict(S, g, ng, &layer, who, err)) goto fail;
    }
    *out = v;
    *n = nv;
    return 0;
fail:
    free(v);
    return -1;
}

/* ------------------------------------------------------------ overrides -- */

static const vr_node *override_value(const override *o)
{
    static vr_node empty = {.kind = VR_NODE_SCALAR, .line = 1, .col = 1, .text = ""};
    return o->root ? o->root : &empty;
}

static int apply_override(vr_spec *s, vr_spec_origin *origin, const override *o,
                          vr_err *err)
{
    return vr_spec_apply_value(s, origin, o->key, NULL, override_value(o),
                               o->label, 0, err);
}

/* Each override alone against COMMON, then all of them onto *top. */
static int check_overrides(const struct vr_sweep_src *S, const vr_spec *common,
                           const grid_key *g, int ng, vr_spec *top,
                           int *sets_name, vr_err *err)
{
    *top = *common;
    *sets_name = 0;
    for (int i = 0; i < S->n_ov; i++) {
        const override *o = S->ov[i];
        vr_spec scratch = *common;
        vr_spec_origin layer;
        memset(&layer, 0, sizeof layer);
        if (apply_override(&scratch, &layer, o, err)) return -1;
        if (layer.at[vr_key_index(vr_key_find("seed"))].file)
            return vr_fail(err, "%s: seed is set per run from seeds; use --set "
                           "seeds=[N]", o->label);
        if (grid_conflict(S, g, ng, &layer, o->label, err)) return -1;
        if (layer.at[vr_key_index(vr_key_find("name"))].file) *sets_name = 1;
        if (apply_override(top, NULL, o, err)) return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- expand -- */

static int cmp_ids(const void *a, const void *b)
{
    const vr_run_item *x = *(const vr_run_item *const *)a;
    const vr_run_item *y = *(const vr_run_item *const *)b;
    return strcmp(x->id, y->id);
}

/* Fails if two runs share an id. By construction they do not, unless
 * values with '-' in them line up across keys. */
static int check_unique(const struct vr_sweep_src *S, const vr_run_item *runs,
                        int n, vr_err *err)
{
    const vr_run_item **p = malloc((size_t)n * sizeof *p);
    if (!p) return vr_fail(err, "%s: out of memory", S->file);
    for (int i = 0; i < n; i++) p[i] = &runs[i];
    qsort(p, (size_t)n, sizeof *p, cmp_ids);
    int rc = 0;
    for (int i = 1; i < n && !rc; i++)
        if (strcmp(p[i]->id, p[i - 1]->id) == 0)
            rc = vr_fail(err, "%s: two runs would have the run-id '%s' (grid "
                         "values with '-' in them run together); change a value",
                         S->file, p[i]->id);
    free(p);
    return rc;
}

/* The sweep's name: --set name=, else the sweep file's name:, else its
 * stem. The base's name is not the sweep's. */
static int sweep_name(const struct vr_sweep_src *S, const vr_spec *top,
                      const vr_spec_origin *origin, int set_by_override,
                      char *name, vr_err *err)
{
    const vr_src *o = &origin->at[vr_key_index(vr_key_find("name"))];
    if (set_by_override || o->file == S->file) {
        snprintf(name, VR_NAME_MAX, "%s", top->name);
        return 0;
    }
    char stem[VR_PATH_MAX];
    file_stem(S->file, stem, sizeof stem);
    const char *why = NULL;
    if (!*stem) why = "is empty";
    for (const char *c = stem; *c && !why; c++)
        if (!is_id_char(*c) || *c == '+')
            why = "may hold only letters, digits, '.', '_' and '-'";
    if (!why && strlen(stem) >= VR_NAME_MAX) why = "is too long for a name";
    if (why)
        return vr_fail(err, "%s: the file's stem '%s', the default name, %s; "
                       "give the sweep a name: key", S->file, stem, why);
    snprintf(name, VR_NAME_MAX, "%s", stem);
    return 0;
}

static int expand(const struct vr_sweep_src *S, expansion *x, vr_err *err)
{
    vr_spec common, top;
    vr_spec_origin origin;
    grid_key *g = NULL;
    variant *vars = NULL;
    int ng = 0, nv = 0, rc = -1, sets_name = 0;
    vr_run_item *runs = NULL;

    memset(x, 0, sizeof *x);
    memset(&origin, 0, sizeof origin);
    vr_spec_defaults(&common);
    if (S->base_root &&
        vr_spec_apply_mapping(&common, &origin, S->base_root, "", S->base_path, err))
        return -1;
    if (vr_spec_apply_mapping(&common, &origin, &S->own, "", S->file, err))
        return -1;
    if (S->grid_v && read_grid(S, &common, &origin, &g, &ng, err)) return -1;
    if (S->var_v && read_variants(S, &common, g, ng, &vars, &nv, err)) goto done;
    if (check_overrides(S, &common, g, ng, &top, &sets_name, err)) goto done;
    if (sweep_name(S, &top, &origin, sets_name, x->name, err)) goto done;

    /* How many runs: checked before anything is allocated. */
    long combos = nv ? nv : 1;
    char shape[256] = "";
    int sl = 0;
    if (nv) sl = snprintf(shape, sizeof shape, "%d variants x ", nv);
    for (int i = 0; i < ng; i++) {
        combos *= g[i].list->n_kids;
        if (combos > VR_SWEEP_MAX_RUNS) combos = VR_SWEEP_MAX_RUNS + 1;
        if (sl < (int)sizeof shape)
            sl += snprintf(shape + sl, sizeof shape - (size_t)sl, "%s%d%s",
                           i ? "x" : "grid ", g[i].list->n_kids,
                           i == ng - 1 ? " x " : "");
    }
    long total = combos * top.n_seeds;
    if (total > VR_SWEEP_MAX_RUNS) {
        const vr_node *at = S->grid_k ? S->grid_k : S->var_k;
        fail_node(err, S->file, at, "the sweep expands to %s%ld runs (%s%d "
                  "seeds); at most %d", combos > VR_SWEEP_MAX_RUNS ? "more than "
                  : "", combos > VR_SWEEP_MAX_RUNS ? (long)VR_SWEEP_MAX_RUNS : total,
                  shape, top.n_seeds, VR_SWEEP_MAX_RUNS);
        goto done;
    }
    runs = calloc((size_t)total, sizeof *runs);
    if (!runs) {
        vr_fail(err, "%s: out of memory for %ld runs", S->file, total);
        goto done;
    }

    int n = 0, described = ng > 0 || nv > 0;
    for (long c = 0; c < combos; c++) {
        /* c = variant, then grid entries with the last key fastest. */
        int ent[VR_SWEEP_MAX_GRID];
        long rest = c;
        for (int i = ng - 1; i >= 0; i--) {
            ent[i] = (int)(rest % g[i].list->n_kids);
            rest /= g[i].list->n_kids;
        }
        const variant *v = nv ? &vars[rest] : NULL;

        vr_spec s = common;
        vr_spec_origin o = origin;
        if (v && !vr_node_is_null(v->value) &&
            vr_spec_apply_mapping(&s, &o, v->value, "", S->file, err))
            goto done;
        for (int i = 0; i < ng; i++) {
            const vr_node *en = g[i].list->kids[ent[i]];
            if (vr_spec_apply_value(&s, &o, g[i].row->key, en, en, S->file, 1, err))
                goto done;
        }
        for (int i = 0; i < S->n_ov; i++)
            if (apply_override(&s, &o, S->ov[i], err)) goto done;
        snprintf(s.name, sizeof s.name, "%s", x->name);

        /* The id's stem, up to "seed". */
        char stem[256];
        size_t len = 0;
        stem[0] = '\0';
        int too_long = 0;
        if (v) too_long |= append_sanitised(stem, sizeof stem, &len, v->key_node->text);
        for (int i = 0; i < ng && !too_long; i++) {
            if (len) too_long |= append_sanitised(stem, sizeof stem, &len, "-");
            too_long |= append_sanitised(stem, sizeof stem, &len, g[i].part);
            too_long |= append_sanitised(stem, sizeof stem, &len, g[i].idv[ent[i]]);
        }
        if (len) too_long |= append_sanitised(stem, sizeof stem, &len, "-");

        for (int k = 0; k < s.n_seeds; k++) {
            vr_run_item *r = &runs[n++];
            r->spec = s;
            r->spec.seed = s.seeds[k];
            int w = snprintf(r->id, sizeof r->id, "%sseed%ld", stem, s.seeds[k]);
            if (too_long || w < 0 || (size_t)w >= sizeof r->id) {
                fail_node(err, S->file, NULL, "the run-id '%.60s...' is longer "
                          "than %zu bytes; use shorter variant names or values",
                          stem, sizeof r->id - 1);
                goto done;
            }
            /* Every run is checked as it will run, seed included. */
            if (vr_spec_check_at(&r->spec, &o, err)) {
                if (described) add_run_context(err, r->id);
                goto done;
            }
            if (v) snprintf(r->variant, sizeof r->variant, "%s", v->key_node->text);
            r->n_swept = ng;
            for (int i = 0; i < ng; i++) {
                snprintf(r->swept[i].key, sizeof r->swept[i].key, "%s", g[i].row->key);
                memcpy(r->swept[i].value, g[i].text[ent[i]], sizeof r->swept[i].value);
            }
        }
    }
    if (check_unique(S, runs, n, err)) goto done;
    x->runs = runs;
    x->n_runs = n;
    runs = NULL;
    rc = 0;
done:
    free(runs);
    free(vars);
    free_grid(g, ng);
    return rc;
}

/* ----------------------------------------------------------------- API -- */

static void free_override(override *o)
{
    if (!o) return;
    free(o->key);
    free(o->label);
    vr_node_free(o->root);
    free(o);
}

static void free_src(struct vr_sweep_src *S)
{
    if (!S) return;
    vr_node_free(S->root);
    vr_node_free(S->base_root);
    free(S->own.kids);
    for (int i = 0; i < S->n_ov; i++) free_override(S->ov[i]);
    free(S->ov);
    free(S);
}

void vr_sweep_free(vr_sweep *sw)
{
    if (!sw) return;
    free(sw->runs);
    free_src(sw->src);
    memset(sw, 0, sizeof *sw);
}

/* Installs X's runs and name in SW. */
static void install(vr_sweep *sw, expansion *x)
{
    free(sw->runs);
    sw->runs = x->runs;
    sw->n_runs = x->n_runs;
    memcpy(sw->name, x->name, sizeof sw->name);
}

int vr_sweep_load(const char *path, vr_sweep *out, vr_err *err)
{
    memset(out, 0, sizeof *out);
    if (strlen(path) >= VR_PATH_MAX)
        return vr_fail(err, "%.60s...: the path is too long", path);
    struct vr_sweep_src *S = calloc(1, sizeof *S);
    if (!S) return vr_fail(err, "%s: out of memory", path);
    snprintf(S->file, sizeof S->file, "%s", path);
    expansion x;
    char b[128];
    if (vr_yaml_parse_file(S->file, &S->root, err) || read_layout(S, err) ||
        (S->base_v && read_base(S, err)))
        goto fail;
    if (S->out_v) {
        const vr_node *v = S->out_v;
        if (v->kind != VR_NODE_SCALAR || vr_node_is_null(v)) {
            fail_node(err, S->file, v, "out: expected a folder path, got %s",
                      describe(v, b, sizeof b));
            goto fail;
        }
        if (strlen(v->text) >= sizeof out->out) {
            fail_node(err, S->file, v, "out: the path is too long");
            goto fail;
        }
        snprintf(out->out, sizeof out->out, "%s", v->text);
    }
    if (expand(S, &x, err)) goto fail;
    snprintf(out->file, sizeof out->file, "%s", path);
    out->src = S;
    install(out, &x);
    return 0;
fail:
    free_src(S);
    memset(out, 0, sizeof *out);
    return -1;
}

int vr_sweep_set(vr_sweep *sw, const char *dotted_key, const char *value,
                 vr_err *err)
{
    if (!sw->src) return vr_fail(err, "--set %s=%s: no sweep loaded", dotted_key, value);
    struct vr_sweep_src *S = sw->src;
    override *o = calloc(1, sizeof *o);
    size_t cap = strlen(dotted_key) + strlen(value) + 8;
    if (o) {
        o->key = strdup(dotted_key);
        o->label = malloc(cap);
    }
    override **grown = realloc(S->ov, (size_t)(S->n_ov + 1) * sizeof *S->ov);
    if (grown) S->ov = grown;
    if (!o || !o->key || !o->label || !grown) {
        free_override(o);
        return vr_fail(err, "--set %s=%s: out of memory", dotted_key, value);
    }
    snprintf(o->label, cap, "--set %s=%s", dotted_key, value);
    if (vr_yaml_parse(value, strlen(value), o->label, 0, &o->root, err)) {
        free_override(o);
        return -1;
    }
    S->ov[S->n_ov++] = o;
    expansion x;
    if (expand(S, &x, err)) {
        S->n_ov--;
        free_override(o);
        return -1;
    }
    install(sw, &x);
    return 0;
}
