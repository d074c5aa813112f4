/* spec_load.c: YAML trees onto a vr_spec, checked against the key table.
 *
 * Layers (see spec_internal.h): vr_spec_apply_mapping walks one mapping,
 * section by section, and hands each leaf to its row's parser; the parsers
 * check type and bounds and write the field only when the whole value is
 * good. vr_spec_check_at then runs the checks that involve several keys.
 * The public loaders (spec.h) are thin: read, parse, apply, check.
 *
 * Messages name the key by its dotted path and quote what was written, so
 * a user can find it without the line number; the line number is there
 * anyway.
 */
#include "spec.h"
#include "spec_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest excerpt of a value quoted back in a message. */
#define QUOTE_MAX 60

/* Where values come from, for messages. */
typedef struct {
    const char *file;   /* "configs/a.yaml", or "--set k=v" */
    int marks;          /* 1: messages carry LINE:COL of the node */
    const char *quiet;  /* key the file label already names: not repeated */
    vr_err *err;
} where;

/* ------------------------------------------------------------- messages -- */

/* "FILE:LINE:COL: KEY: message". KEY may be NULL; N may be NULL (no
 * position known). */
static int fail_at(const where *w, const vr_node *n, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(const where *w, const vr_node *n, const char *key,
                   const char *fmt, ...)
{
    char msg[VR_ERR_MAX], pos[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->marks && n) snprintf(pos, sizeof pos, ":%d:%d", n->line, n->col);
    if (key && !(w->quiet && strcmp(key, w->quiet) == 0))
        return vr_fail(w->err, "%s%s: %s: %s", w->file, pos, key, msg);
    return vr_fail(w->err, "%s%s: %s", w->file, pos, msg);
}

/* What a node is, for "expected X, got Y": a mapping, a list, an empty
 * value, or its text in quotes (shortened). */
static const char *describe(const vr_node *n, char *buf, size_t cap)
{
    if (n->kind == VR_NODE_MAP) return "a mapping";
    if (n->kind == VR_NODE_SEQ) return "a list";
    if (vr_node_is_null(n)) return "an empty value";
    size_t len = strlen(n->text);
    const char *more = len > QUOTE_MAX ? "..." : "";
    snprintf(buf, cap, "%s'%.*s%s'", n->quoted ? "the quoted string " : "",
             QUOTE_MAX, n->text, more);
    return buf;
}

/* Up to QUOTE_MAX bytes of TEXT, for a message. */
static const char *excerpt(const char *text, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.*s%s", QUOTE_MAX, text,
             strlen(text) > QUOTE_MAX ? "..." : "");
    return buf;
}

/* ------------------------------------------------------------- scalars -- */

/* [+-]?[0-9]+ : YAML's decimal integer. Rejects 1.5 and 1e3 on purpose: a
 * count written as a float is more likely a mistake than a wish. */
static int is_integer_text(const char *t)
{
    if (*t == '+' || *t == '-') t++;
    if (!*t) return 0;
    for (; *t; t++)
        if (*t < '0' || *t > '9') return 0;
    return 1;
}

static int skip_digits(const char **t)
{
    int n = 0;
    while (**t >= '0' && **t <= '9') (*t)++, n++;
    return n;
}

/* YAML 1.2's float forms, finite ones only: 1, 1.5, .5, 1e-3, 1.0E+3. */
static int is_float_text(const char *t)
{
    if (*t == '+' || *t == '-') t++;
    int digits = skip_digits(&t);
    if (*t == '.') {
        t++;
        digits += skip_digits(&t);
    }
    if (!digits) return 0;
    if (*t == 'e' || *t == 'E') {
        t++;
        if (*t == '+' || *t == '-') t++;
        if (!skip_digits(&t)) return 0;
    }
    return *t == '\0';
}

/* Common to every number: a plain, non-empty scalar. WHAT is "an integer"
 * or "a number". */
static int need_number(const where *w, const char *key, const vr_node *n,
                       const char *what)
{
    char b[128];
    if (n->kind != VR_NODE_SCALAR || n->quoted || vr_node_is_null(n))
        return fail_at(w, n, key, "expected %s, got %s", what,
                       describe(n, b, sizeof b));
    return 0;
}

static int out_of_range(const where *w, const vr_key *row, const char *key,
                        const vr_node *n)
{
    char b[64], t[QUOTE_MAX + 4];
    vr_key_bounds_text(row, b, sizeof b);
    return fail_at(w, n, key, "%s is out of range %s",
                   excerpt(n->text, t, sizeof t), b);
}

static int parse_integer(const where *w, const vr_key *row, const char *key,
                         const vr_node *n, long long *out)
{
    char b[128];
    if (need_number(w, key, n, "an integer")) return -1;
    if (!is_integer_text(n->text))
        return fail_at(w, n, key, "expected an integer, got %s",
                       describe(n, b, sizeof b));
    errno = 0;
    long long v = strtoll(n->text, NULL, 10);
    if (errno == ERANGE || (double)v < row->lo || (double)v > row->hi)
        return out_of_range(w, row, key, n);
    *out = v;
    return 0;
}

static int parse_double(const where *w, const vr_key *row, const char *key,
                        const vr_node *n, double *out)
{
    char b[128];
    if (need_number(w, key, n, "a number")) return -1;
    if (!is_float_text(n->text))
        return fail_at(w, n, key, "expected a number, got %s",
                       describe(n, b, sizeof b));
    errno = 0;
    double v = strtod(n->text, NULL);
    /* ERANGE with a tiny result is underflow: the value is just 0-ish and
     * the bounds decide. ERANGE with HUGE_VAL is overflow. */
    int overflow = errno == ERANGE && (v > 1 || v < -1);
    if (overflow || v < row->lo || v > row->hi ||
        (row->lo_open && v == row->lo) || (row->hi_open && v == row->hi))
        return out_of_range(w, row, key, n);
    *out = v;
    return 0;
}

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* A run or sweep name becomes a folder name: keep it to safe characters. */
static const char *name_problem(const char *t)
{
    if (!*t) return "must not be empty";
    for (; *t; t++)
        if (!is_name_char(*t))
            return "may hold only letters, digits, '.', '_' and '-'";
    return NULL;
}

/* ---------------------------------------------------------- leaf values -- */

static void *field(vr_spec *s, size_t offset) { return (char *)s + offset; }

static int store_int(const where *w, const vr_key *row, const char *key,
                     const vr_node *n, vr_spec *s)
{
    long long v;
    if (parse_integer(w, row, key, n, &v)) return -1;
    if (row->type == VR_KEY_INT)
        *(int *)field(s, row->offset) = (int)v;
    else
        *(long *)field(s, row->offset) = (long)v;
    return 0;
}

static int store_double(const where *w, const vr_key *row, const char *key,
                        const vr_node *n, vr_spec *s)
{
    return parse_double(w, row, key, n, (double *)field(s, row->offset));
}

static int store_string(const where *w, const vr_key *row, const char *key,
                        const vr_node *n, vr_spec *s)
{
    char b[128];
    if (n->kind != VR_NODE_SCALAR)
        return fail_at(w, n, key, "expected a string, got %s",
                       describe(n, b, sizeof b));
    /* `dir:` with nothing after it means "no value": the empty string. */
    const char *text = vr_node_is_null(n) ? "" : n->text;
    size_t len = strlen(text);
    if (len >= row->size)
        return fail_at(w, n, key, "'%s' is too long (%zu bytes; at most %zu)",
                       excerpt(text, b, sizeof b), len, row->size - 1);
    const char *why = row->ident ? name_problem(text) : NULL;
    if (why)
        return fail_at(w, n, key, "'%s' %s", excerpt(text, b, sizeof b), why);
    memcpy(field(s, row->offset), text, len + 1);
    return 0;
}

/* Closest name to TYPED among NAMES (NULL-terminated), if close enough to
 * suggest: same letters but for case, or at most 2 edits. */
static const char *closest(const char *typed, const char *const *names)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; names[i]; i++) {
        int d = strcasecmp(typed, names[i]) == 0
                    ? 0 : vr_edit_distance(typed, names[i], best_d);
        if (d < best_d) best_d = d, best = names[i];
    }
    return best;
}

static int store_enum(const where *w, const vr_key *row, const char *key,
                      const vr_node *n, vr_spec *s)
{
    char b[128], choices[256];
    vr_key_choices_text(row, choices, sizeof choices);
    if (n->kind != VR_NODE_SCALAR || vr_node_is_null(n))
        return fail_at(w, n, key, "expected one of %s, got %s", choices,
                       describe(n, b, sizeof b));
    for (int i = 0; row->choices[i]; i++) {
        if (strcmp(n->text, row->choices[i]) == 0) {
            *(int *)field(s, row->offset) = i;
            return 0;
        }
    }
    const char *near = closest(n->text, row->choices);
    if (near)
        return fail_at(w, n, key, "'%s' is not one of %s (did you mean '%s'?)",
                       excerpt(n->text, b, sizeof b), choices, near);
    return fail_at(w, n, key, "'%s' is not one of %s",
                   excerpt(n->text, b, sizeof b), choices);
}

static int store_list(const where *w, const vr_key *row, const char *key,
                      const vr_node *n, vr_spec *s)
{
    char b[128], t[QUOTE_MAX + 4], ekey[128];
    if (n->kind == VR_NODE_SCALAR && !vr_node_is_null(n))
        return fail_at(w, n, key, "expected a list of integers, got %s (a "
                       "list of one is written [%s])", describe(n, b, sizeof b),
                       excerpt(n->text, t, sizeof t));
    if (n->kind != VR_NODE_SEQ)
        return fail_at(w, n, key, "expected a list of integers, got %s",
                       describe(n, b, sizeof b));
    if (n->n_kids < row->min_n)
        return fail_at(w, n, key, "needs at least %d entr%s", row->min_n,
                       row->min_n == 1 ? "y" : "ies");
    if (n->n_kids > row->max_n)
        return fail_at(w, n, key, "has %d entries; at most %d are allowed",
                       n->n_kids, row->max_n);
    long long v[VR_MAX_SEEDS > VR_MAX_HIDDEN ? VR_MAX_SEEDS : VR_MAX_HIDDEN];
    if ((size_t)row->max_n > sizeof v / sizeof v[0])
        return fail_at(w, n, key, "internal error: list too long for the parser");
    for (int i = 0; i < n->n_kids; i++) {
        snprintf(ekey, sizeof ekey, "%s[%d]", key, i);
        if (parse_integer(w, row, ekey, n->kids[i], &v[i])) return -1;
        for (int j = 0; row->unique && j < i; j++)
            if (v[j] == v[i])
                return fail_at(w, n->kids[i], ekey, "%lld is already in the "
                               "list, at %s[%d]", v[i], key, j);
    }
    /* Only now, with every entry good, does the field change. */
    for (int i = 0; i < n->n_kids; i++) {
        if (row->type == VR_KEY_INT_LIST)
            ((int *)field(s, row->offset))[i] = (int)v[i];
        else
            ((long *)field(s, row->offset))[i] = (long)v[i];
    }
    *(int *)field(s, row->count_offset) = n->n_kids;
    return 0;
}

/* Parses VALUE for ROW into S, or fails leaving the field as it was. */
static int store_value(const where *w, const vr_key *row, const vr_node *value,
                       vr_spec *s)
{
    switch (row->type) {
    case VR_KEY_INT:
    case VR_KEY_LONG: return store_int(w, row, row->key, value, s);
    case VR_KEY_DOUBLE: return store_double(w, row, row->key, value, s);
    case VR_KEY_STRING: return store_string(w, row, row->key, value, s);
    case VR_KEY_ENUM: return store_enum(w, row, row->key, value, s);
    case VR_KEY_INT_LIST:
    case VR_KEY_LONG_LIST: return store_list(w, row, row->key, value, s);
    }
    return fail_at(w, value, row->key, "internal error: unknown key type");
}

/* ------------------------------------------------------------- mappings -- */

static int apply_section(vr_spec *s, vr_spec_origin *origin, const vr_node *map,
                         const char *prefix, const where *w);

static int apply_leaf(vr_spec *s, vr_spec_origin *origin, const vr_key *row,
                      const vr_node *key_node, const vr_node *value,
                      const where *w)
{
    if (store_value(w, row, value, s)) return -1;
    if (origin) {
        vr_src *src = &origin->at[vr_key_index(row)];
        src->file = w->file;
        src->line = w->marks && key_node ? key_node->line : 0;
        src->col = w->marks && key_node ? key_node->col : 0;
    }
    return 0;
}

/* "PREFIX.NAME", or NAME at the top. */
static int join(char *buf, size_t cap, const char *prefix, const char *name)
{
    int n = *prefix ? snprintf(buf, cap, "%s.%s", prefix, name)
                    : snprintf(buf, cap, "%s", name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The best suggestion for NAME among the names one level below PREFIX. */
static int suggest_in_level(const char *prefix, const char *name, char *out,
                            size_t cap)
{
    int best_d = 3;
    for (int i = 0; i < vr_spec_n_keys; i++) {
        const char *rest = vr_key_below(vr_spec_keys[i].key, prefix);
        if (!rest) continue;
        char cand[64];
        snprintf(cand, sizeof cand, "%.*s", (int)strcspn(rest, "."), rest);
        int d = strcasecmp(name, cand) == 0
                    ? 0 : vr_edit_distance(name, cand, best_d);
        if (d < best_d) {
            best_d = d;
            snprintf(out, cap, "%s", cand);
        }
    }
    return best_d <= 2;
}

/* "a.b.c" as nested YAML: "a: {b: {c: ...}}". */
static void nested_form(const char *dotted, char *buf, size_t cap)
{
    size_t len = 0;
    int depth = 0;
    buf[0] = '\0';
    for (const char *p = dotted; len < cap;) {
        size_t n = strcspn(p, ".");
        int last = p[n] == '\0';
        len += (size_t)snprintf(buf + len, cap - len, "%.*s: %s", (int)n, p,
                                last ? "..." : "{");
        if (last) break;
        depth++;
        p += n + 1;
    }
    while (depth-- > 0 && len < cap) len += (size_t)snprintf(buf + len, cap - len, "}");
}

static int unknown_key(const where *w, const vr_node *key_node,
                       const char *prefix)
{
    const char *name = key_node->text;
    char in[80] = "", near[64], full[256], b[QUOTE_MAX + 4];
    if (*prefix) snprintf(in, sizeof in, " in '%s'", prefix);
    excerpt(name, b, sizeof b);
    if (strchr(name, '.') && join(full, sizeof full, prefix, name) == 0 &&
        (vr_key_find(full) || vr_key_is_section(full))) {
        char nested[256];
        nested_form(name, nested, sizeof nested);
        return fail_at(w, key_node, NULL, "unknown key '%s'%s: spec files "
                       "nest keys; write %s", b, in, nested);
    }
    if (suggest_in_level(prefix, name, near, sizeof near))
        return fail_at(w, key_node, NULL,
                       "unknown key '%s'%s (did you mean '%s'?)", b, in, near);
    char names[512];
    vr_key_level_names(prefix, names, sizeof names);
    return fail_at(w, key_node, NULL, "unknown key '%s'%s; valid keys: %s", b,
                   in, names);
}

/* Fails if MAP's pair I repeats the key of an earlier pair. */
static int check_duplicate(const where *w, const vr_node *map, int i,
                           const char *prefix)
{
    const vr_node *k = map->kids[2 * i];
    for (int j = 0; j < i; j++) {
        const vr_node *e = map->kids[2 * j];
        if (strcmp(e->text, k->text) != 0) continue;
        char in[80] = "", first[48] = "", b[QUOTE_MAX + 4];
        if (*prefix) snprintf(in, sizeof in, " in '%s'", prefix);
        if (w->marks)
            snprintf(first, sizeof first, " (first at %d:%d)", e->line, e->col);
        return fail_at(w, k, NULL, "duplicate key '%s'%s%s",
                       excerpt(k->text, b, sizeof b), in, first);
    }
    return 0;
}

/* Applies VALUE at PATH: a leaf row, or a section that VALUE must map. */
static int apply_path(vr_spec *s, vr_spec_origin *origin, const char *path,
                      const vr_node *key_node, const vr_node *value,
                      const where *w)
{
    const vr_key *row = vr_key_find(path);
    if (row) return apply_leaf(s, origin, row, key_node, value, w);
    char b[128];
    if (value->kind != VR_NODE_MAP)
        return fail_at(w, value, path, "expected a mapping of keys, got %s",
                       describe(value, b, sizeof b));
    return apply_section(s, origin, value, path, w);
}

static int apply_section(vr_spec *s, vr_spec_origin *origin, const vr_node *map,
                         const char *prefix, const where *w)
{
    char b[128], path[256];
    for (int i = 0; i < map->n_kids / 2; i++) {
        const vr_node *k = map->kids[2 * i], *v = map->kids[2 * i + 1];
        if (k->kind != VR_NODE_SCALAR)
            return fail_at(w, k, NULL, "expected a key name, got %s",
                           describe(k, b, sizeof b));
        if (check_duplicate(w, map, i, prefix)) return -1;
        if (strchr(k->text, '.') || join(path, sizeof path, prefix, k->text) ||
            (!vr_key_find(path) && !vr_key_is_section(path)))
            return unknown_key(w, k, prefix);
        if (apply_path(s, origin, path, k, v, w)) return -1;
    }
    return 0;
}

int vr_spec_apply_mapping(vr_spec *s, vr_spec_origin *origin,
                          const vr_node *map, const char *prefix,
                          const char *file, vr_err *err)
{
    where w = {.file = file, .marks = 1, .err = err};
    char b[128];
    if (map->kind != VR_NODE_MAP)
        return fail_at(&w, map, *prefix ? prefix : NULL,
                       "expected a mapping of keys, got %s",
                       describe(map, b, sizeof b));
    return apply_section(s, origin, map, prefix, &w);
}

/* For a dotted key given whole (--set, grids): the closest full key. */
static int unknown_dotted(const where *w, const vr_node *key_node,
                          const char *key)
{
    const char *best = NULL;
    int best_d = 3;
    for (int i = 0; i < vr_spec_n_keys; i++) {
        const char *cand = vr_spec_keys[i].key;
        int d = strcasecmp(key, cand) == 0
                    ? 0 : vr_edit_distance(key, cand, best_d);
        if (d < best_d) best_d = d, best = cand;
    }
    char b[QUOTE_MAX + 4];
    excerpt(key, b, sizeof b);
    if (best)
        return fail_at(w, key_node, NULL, "unknown key '%s' (did you mean "
                       "'%s'?)", b, best);
    /* List the keys of the deepest section the key does name. */
    char section[256], names[512];
    snprintf(section, sizeof section, "%s", key);
    for (;;) {
        char *dot = strrchr(section, '.');
        if (!dot) {
            section[0] = '\0';
            break;
        }
        *dot = '\0';
        if (vr_key_is_section(section)) break;
    }
    vr_key_level_names(section, names, sizeof names);
    if (*section)
        return fail_at(w, key_node, NULL, "unknown key '%s'; keys in '%s': %s",
                       b, section, names);
    return fail_at(w, key_node, NULL, "unknown key '%s'; valid keys: %s", b,
                   names);
}

int vr_spec_apply_value(vr_spec *s, vr_spec_origin *origin, const char *key,
                        const vr_node *key_node, const vr_node *value,
                        const char *file, int marks, vr_err *err)
{
    where w = {.file = file, .marks = marks, .quiet = marks ? NULL : key,
               .err = err};
    if (!*key || (!vr_key_find(key) && !vr_key_is_section(key)))
        return unknown_dotted(&w, key_node, key);
    return apply_path(s, origin, key, key_node, value, &w);
}

/* ---------------------------------------------------------- cross-keys -- */

/* "FILE:LINE:COL: " for ROW's origin, or "" when it has none. */
static int fail_origin(vr_err *err, const vr_spec_origin *origin,
                       const vr_key *row, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_origin(vr_err *err, const vr_spec_origin *origin,
                       const vr_key *row, const char *fmt, ...)
{
    char msg[VR_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const vr_src *src = origin ? &origin->at[vr_key_index(row)] : NULL;
    if (src && src->file && src->line)
        return vr_fail(err, "%s:%d:%d: %s", src->file, src->line, src->col, msg);
    if (src && src->file) return vr_fail(err, "%s: %s", src->file, msg);
    return vr_fail(err, "%s", msg);
}

static int field_equal(const vr_key *row, const vr_spec *a, const vr_spec *b)
{
    const char *fa = (const char *)a + row->offset;
    const char *fb = (const char *)b + row->offset;
    switch (row->type) {
    case VR_KEY_DOUBLE: return *(const double *)fa == *(const double *)fb;
    case VR_KEY_STRING: return strcmp(fa, fb) == 0;
    case VR_KEY_INT_LIST:
    case VR_KEY_LONG_LIST: {
        int na = *(const int *)((const char *)a + row->count_offset);
        int nb = *(const int *)((const char *)b + row->count_offset);
        size_t esz = row->type == VR_KEY_INT_LIST ? sizeof(int) : sizeof(long);
        return na == nb && memcmp(fa, fb, (size_t)na * esz) == 0;
    }
    default: return memcmp(fa, fb, row->size) == 0;
    }
}

static const char *last_part(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* Rows with only_key: their value may leave the default only when the
 * controlling choice is only_value (model.hidden needs arch: mlp). A value
 * equal to the default is let through, so a full dump of a standard-arch
 * spec, hidden included, reads back. */
static int check_only_if(const vr_spec *s, const vr_spec_origin *origin,
                         vr_err *err)
{
    vr_spec d;
    vr_spec_defaults(&d);
    for (int i = 0; i < vr_spec_n_keys; i++) {
        const vr_key *row = &vr_spec_keys[i];
        if (!row->only_key || field_equal(row, s, &d)) continue;
        const vr_key *ctl = vr_key_find(row->only_key);
        const char *cur = ctl->choices[*(const int *)((const char *)s + ctl->offset)];
        if (strcmp(cur, row->only_value) == 0) continue;
        const char *k = last_part(ctl->key);
        return fail_origin(err, origin, row, "%s applies only to %s: %s (%s "
                           "is %s); use %s: %s", row->key, k, row->only_value,
                           k, cur, k, row->only_value);
    }
    return 0;
}

/* Images in each set, for data.train and data.test (indexed by vr_set_kind).
 * The table bounds hold the largest set; this holds each set to its own. */
static const struct { int train, test; } set_sizes[] = {
    [VR_SET_MNIST] = {60000, 10000},
    [VR_SET_FASHION_MNIST] = {60000, 10000},
    [VR_SET_EIGHT_GAUSSIANS] = {1000000, 1000000},
};

static int check_subsets(const vr_spec *s, const vr_spec_origin *origin,
                         vr_err *err)
{
    const char *set = vr_key_find("data.set")->choices[s->data.set];
    if (s->data.train > set_sizes[s->data.set].train)
        return fail_origin(err, origin, vr_key_find("data.train"),
                           "data.train: %d is more than the %d training "
                           "images of %s", s->data.train,
                           set_sizes[s->data.set].train, set);
    if (s->data.test > set_sizes[s->data.set].test)
        return fail_origin(err, origin, vr_key_find("data.test"),
                           "data.test: %d is more than the %d test images "
                           "of %s", s->data.test, set_sizes[s->data.set].test,
                           set);
    return 0;
}

/* Of two keys in conflict, the one to point at: A if the spec wrote it,
 * else B (A still has its default, so B is what brought the conflict). */
static const vr_key *culprit(const vr_spec_origin *origin, const char *a, const char *b)
{
    const vr_key *ra = vr_key_find(a);
    if (origin && origin->at[vr_key_index(ra)].file) return ra;
    return vr_key_find(b);
}

/* Combinations that cannot train. */
static int check_combinations(const vr_spec *s, const vr_spec_origin *origin, vr_err *err)
{
    if (s->data.set == VR_SET_EIGHT_GAUSSIANS) {
        if (s->likelihood.kind != VR_LIK_GAUSSIAN)
            return fail_origin(err, origin, culprit(origin, "likelihood.kind", "data.set"),
                               "likelihood.kind: eight_gaussians are real-valued 2-D points; "
                               "use gaussian (the others model pixels in [0, 1])");
        if (s->model.arch != VR_ARCH_MLP)
            return fail_origin(err, origin, culprit(origin, "model.arch", "data.set"),
                               "model.arch: eight_gaussians are 2-D points; use mlp");
        if (s->data.binarize != VR_BIN_NONE)
            return fail_origin(err, origin, culprit(origin, "data.binarize", "data.set"),
                               "data.binarize: eight_gaussians are real-valued; use none");
    }
    if (s->likelihood.kind == VR_LIK_LOGISTIC && s->data.binarize != VR_BIN_NONE)
        return fail_origin(err, origin, culprit(origin, "data.binarize", "likelihood.kind"),
                           "data.binarize: the logistic likelihood models 8-bit grey "
                           "levels; use none");
    return 0;
}

int vr_spec_check_at(const vr_spec *s, const vr_spec_origin *origin,
                     vr_err *err)
{
    if (check_only_if(s, origin, err)) return -1;
    if (check_subsets(s, origin, err)) return -1;
    return check_combinations(s, origin, err);
}

int vr_spec_check(const vr_spec *s, vr_err *err)
{
    return vr_spec_check_at(s, NULL, err);
}

/* -------------------------------------------------------------- loaders -- */

/* "configs/mnist.yaml" -> "mnist". */
static void file_stem(const char *path, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, cap, "%.*s", (int)n, base);
}

/* The name a spec gets when it gives none: its file's stem, if that is a
 * usable name. */
static int default_name(vr_spec *s, const char *file, int from_file,
                        vr_err *err)
{
    char stem[VR_PATH_MAX];
    if (!from_file) {
        snprintf(s->name, sizeof s->name, "spec");
        return 0;
    }
    file_stem(file, stem, sizeof stem);
    const char *why = name_problem(stem);
    if (!why && strlen(stem) >= sizeof s->name)
        why = "is too long for a name";
    if (why)
        return vr_fail(err, "%s: the file's stem '%s', the default name, %s; "
                       "give the spec a name: key", file, stem, why);
    memcpy(s->name, stem, strlen(stem) + 1);
    return 0;
}

/* Defaults, then ROOT (NULL: an empty file), then the name, then the
 * cross-key checks; *out only on success. */
static int load_tree(const vr_node *root, const char *file, int from_file,
                     vr_spec *out, vr_err *err)
{
    vr_spec s;
    vr_spec_origin origin;
    memset(&origin, 0, sizeof origin);
    vr_spec_defaults(&s);
    if (!root || vr_node_is_null(root))
        return vr_fail(err, "%s:%d:%d: empty spec: expected a mapping of keys "
                       "(docs/spec.md)", file, root ? root->line : 1,
                       root ? root->col : 1);
    if (vr_spec_apply_mapping(&s, &origin, root, "", file, err)) return -1;

    int named = origin.at[vr_key_index(vr_key_find("name"))].file != NULL;
    if (!named && default_name(&s, file, from_file, err)) return -1;
    if (vr_spec_check_at(&s, &origin, err)) return -1;
    *out = s;
    return 0;
}

int vr_spec_load_string(const char *text, const char *display_name,
                        vr_spec *out, vr_err *err)
{
    const char *file = display_name ? display_name : "<string>";
    vr_node *root = NULL;
    if (vr_yaml_parse(text, strlen(text), file, 1, &root, err)) return -1;
    int rc = load_tree(root, file, display_name != NULL, out, err);
    vr_node_free(root);
    return rc;
}

int vr_spec_load(const char *path, vr_spec *out, vr_err *err)
{
    vr_node *root = NULL;
    if (vr_yaml_parse_file(path, &root, err)) return -1;
    int rc = load_tree(root, path, 1, out, err);
    vr_node_free(root);
    return rc;
}

int vr_spec_set(vr_spec *s, const char *dotted_key, const char *value,
                vr_err *err)
{
    char label[512];
    snprintf(label, sizeof label, "--set %s=%s", dotted_key, value);
    vr_node *root = NULL;
    if (vr_yaml_parse(value, strlen(value), label, 0, &root, err)) return -1;
    /* An empty value parses to no document at all: read it as YAML's null,
     * as `key:` with nothing after it would be in a file. */
    vr_node empty = {.kind = VR_NODE_SCALAR, .line = 1, .col = 1, .text = ""};
    vr_spec tmp = *s;
    int rc = vr_spec_apply_value(&tmp, NULL, dotted_key, NULL,
                                 root ? root : &empty, label, 0, err);
    vr_node_free(root);
    if (rc == 0) *s = tmp;
    return rc;
}
