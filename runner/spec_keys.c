/* spec_keys.c: the one table of spec keys, and lookups on it.
 *
 * Every leaf key of a spec file is one row below: its dotted path, type,
 * target field in vr_spec, bounds, default and help. The loader, the
 * defaults, the resolved YAML dump and docs/spec.md are all driven from
 * these rows, so a key cannot be parsed one way and documented another.
 *
 * Adding a key: add the field to core/config.h, add a row here (rows of a
 * section stay together, in the order the dump should print them), then
 * regenerate docs/spec.md with `build/tests/unit_spec --update-docs`.
 */
#include "spec_internal.h"
#include "spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enum fields are written through an int pointer: that needs enums to be
 * int-sized, which the C standard leaves to the compiler. */
_Static_assert(sizeof(vr_set_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_binarize_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_arch_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_act_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_lik_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_obj_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_opt_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_posterior_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_variance_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(vr_geco_kind) == sizeof(int), "enum size");

/* Choice names, indexed by enum value (config.h's order). */
static const char *const set_names[] = {"mnist", "fashion_mnist", "eight_gaussians", NULL};
static const char *const binarize_names[] = {"none", "static", "dynamic", NULL};
static const char *const arch_names[] = {"standard", "big", "mlp", "conv", "subpixel", NULL};
static const char *const act_names[] = {"relu", "selu", "gelu", "tanh", NULL};
static const char *const posterior_names[] = {"log_scale", "log_var", NULL};
static const char *const lik_names[] = {"bernoulli", "continuous_bernoulli", "logistic",
                                        "gaussian", NULL};
static const char *const variance_names[] = {"fixed", "learned", NULL};
static const char *const obj_names[] = {"elbo", "beta", "anneal", "geco", "iwae", NULL};
static const char *const geco_names[] = {"sgd", "moving_average", NULL};
static const char *const opt_names[] = {"adam", NULL};

/* Offset and size of a vr_spec field, for a row. */
#define FIELD(f) .offset = offsetof(vr_spec, f), .size = sizeof(((vr_spec *)0)->f)

/* ----------------------------------------------------------------- table -- */

const vr_key vr_spec_keys[] = {
    {.key = "name", .type = VR_KEY_STRING, FIELD(name), .ident = 1,
     .def = "spec", .def_doc = "the file's stem",
     .help = "Name of the run or sweep; it names the results folder. "
             "Without it, the spec file's name minus its extension."},

    {.key = "data.set", .type = VR_KEY_ENUM, FIELD(data.set),
     .choices = set_names, .def = "mnist",
     .help = "Dataset: mnist, fashion_mnist (28x28 grey images), or "
             "eight_gaussians (2-D points: 8 Gaussians of std 0.2 on a circle "
             "of radius 5, drawn from the run's seed)."},
    {.key = "data.dir", .type = VR_KEY_STRING, FIELD(data.dir), .def = "\"\"",
     .help = "Folder holding the dataset's IDX files. Empty: search "
             "`$VAERUN_DATA/<set>`, `./data/<set>`, then the system copy."},
    {.key = "data.binarize", .type = VR_KEY_ENUM, FIELD(data.binarize),
     .choices = binarize_names, .def = "dynamic",
     .help = "Pixels in [0, 1]: none keeps grey levels; static binarises "
             "each image once; dynamic draws fresh binary pixels each time "
             "an image is used."},
    {.key = "data.train", .type = VR_KEY_INT, FIELD(data.train),
     .lo = 1, .hi = 1000000, .def = "60000",
     .help = "Training images used (the first N of the training set; at "
             "most 60000 for the image sets); for eight_gaussians, the "
             "number of training points."},
    {.key = "data.test", .type = VR_KEY_INT, FIELD(data.test),
     .lo = 1, .hi = 1000000, .def = "10000",
     .help = "Test images used (the first N of the test set; at most "
             "10000 for the image sets); for eight_gaussians, the number of "
             "test points."},

    {.key = "model.arch", .type = VR_KEY_ENUM, FIELD(model.arch),
     .choices = arch_names, .def = "standard",
     .help = "Network (docs/models.md): standard (conv encoder, transposed-"
             "conv decoder), big (standard with a larger decoder), mlp (dense "
             "layers of model.hidden; images or points), conv (conv blocks "
             "with BatchNorm and SELU, upsampling decoder), subpixel (conv "
             "blocks, depth-to-space decoder)."},
    {.key = "model.latent", .type = VR_KEY_INT, FIELD(model.latent),
     .lo = 1, .hi = 4096, .def = "10",
     .help = "Dimension of the latent variable z."},
    {.key = "model.hidden", .type = VR_KEY_INT_LIST, FIELD(model.hidden),
     .count_offset = offsetof(vr_spec, model.n_hidden),
     .min_n = 1, .max_n = VR_MAX_HIDDEN, .lo = 1, .hi = 100000,
     .def = "[100, 100]", .only_key = "model.arch", .only_value = "mlp",
     .help = "Sizes of the mlp's hidden layers."},
    {.key = "model.activation", .type = VR_KEY_ENUM, FIELD(model.activation),
     .choices = act_names, .def = "relu",
     .only_key = "model.arch", .only_value = "mlp",
     .help = "Activation of the mlp's hidden layers."},
    {.key = "model.posterior", .type = VR_KEY_ENUM, FIELD(model.posterior),
     .choices = posterior_names, .def = "log_scale",
     .help = "What the second half of the encoder's output is: log_scale "
             "(log sigma) or log_var (log sigma^2)."},

    {.key = "likelihood.kind", .type = VR_KEY_ENUM, FIELD(likelihood.kind),
     .choices = lik_names, .def = "bernoulli",
     .help = "Likelihood of the data given the decoder's output: bernoulli (logits), "
             "continuous_bernoulli (logits, for grey levels in [0, 1]), "
             "logistic (discretised logistic over 256 levels, learned "
             "per-pixel log-scale), gaussian (mean; fixed or learned "
             "variance)."},
    {.key = "likelihood.variance", .type = VR_KEY_ENUM, FIELD(likelihood.variance),
     .choices = variance_names, .def = "fixed",
     .only_key = "likelihood.kind", .only_value = "gaussian",
     .help = "Gaussian: fixed (likelihood.sigma) or learned (one log-scale "
             "per output value, trained with the rest)."},
    {.key = "likelihood.sigma", .type = VR_KEY_DOUBLE, FIELD(likelihood.sigma),
     .lo = 0, .lo_open = 1, .hi = 1e6, .def = "1.0",
     .only_key = "likelihood.kind", .only_value = "gaussian",
     .help = "Gaussian with fixed variance: its standard deviation (1 on "
             "eight_gaussians is the L2 loss of seed 002)."},
    {.key = "likelihood.init_log_scale", .type = VR_KEY_DOUBLE,
     FIELD(likelihood.init_log_scale), .lo = -20, .hi = 20, .def = "0.0",
     .help = "Learned log-scales (logistic; gaussian with variance: "
             "learned): their initial value, in the data's units."},

    {.key = "objective.kind", .type = VR_KEY_ENUM, FIELD(objective.kind),
     .choices = obj_names, .def = "elbo",
     .help = "Training objective: elbo; beta (KL weighted by objective.beta); "
             "anneal (KL weight moved linearly, objective.anneal); geco (KL "
             "minimised under a reconstruction constraint, objective.geco); "
             "iwae (importance-weighted bound with objective.samples)."},
    {.key = "objective.beta", .type = VR_KEY_DOUBLE, FIELD(objective.beta),
     .lo = 0, .lo_open = 1, .hi = 1000, .def = "1.0",
     .only_key = "objective.kind", .only_value = "beta",
     .help = "Weight of the KL term."},
    {.key = "objective.anneal.start", .type = VR_KEY_DOUBLE, FIELD(objective.anneal.start),
     .lo = 0, .hi = 1000, .def = "0.0",
     .only_key = "objective.kind", .only_value = "anneal",
     .help = "KL weight at step 0."},
    {.key = "objective.anneal.end", .type = VR_KEY_DOUBLE, FIELD(objective.anneal.end),
     .lo = 0, .hi = 1000, .def = "1.0",
     .only_key = "objective.kind", .only_value = "anneal",
     .help = "KL weight from objective.anneal.steps on."},
    {.key = "objective.anneal.steps", .type = VR_KEY_LONG, FIELD(objective.anneal.steps),
     .lo = 1, .hi = 1e9, .def = "5000",
     .only_key = "objective.kind", .only_value = "anneal",
     .help = "Steps over which the KL weight moves linearly from start to end."},
    {.key = "objective.geco.target", .type = VR_KEY_DOUBLE, FIELD(objective.geco.target),
     .lo = -1e9, .hi = 1e9, .def = "-100.0",
     .only_key = "objective.kind", .only_value = "geco",
     .help = "The constraint E log p(x given z) >= target, in nats per image."},
    {.key = "objective.geco.lr", .type = VR_KEY_DOUBLE, FIELD(objective.geco.lr),
     .lo = 0, .lo_open = 1, .hi = 100, .def = "0.001",
     .only_key = "objective.kind", .only_value = "geco",
     .help = "Rate of the multiplier's updates (SGD on its softplus "
             "pre-image; moving_average: the exponent's factor)."},
    {.key = "objective.geco.init", .type = VR_KEY_DOUBLE, FIELD(objective.geco.init),
     .lo = 0, .lo_open = 1, .hi = 1e6, .def = "1.0",
     .only_key = "objective.kind", .only_value = "geco",
     .help = "Initial Lagrange multiplier."},
    {.key = "objective.geco.variant", .type = VR_KEY_ENUM, FIELD(objective.geco.variant),
     .choices = geco_names, .def = "sgd",
     .only_key = "objective.kind", .only_value = "geco",
     .help = "sgd: multiplier = softplus(v), v moved by gradient ascent on the "
             "batch constraint; moving_average: the constraint averaged with "
             "objective.geco.alpha, multiplier times exp(lr * average) "
             "(Rezende & Viola 2018)."},
    {.key = "objective.geco.alpha", .type = VR_KEY_DOUBLE, FIELD(objective.geco.alpha),
     .lo = 0, .hi = 1, .hi_open = 1, .def = "0.99",
     .only_key = "objective.kind", .only_value = "geco",
     .help = "moving_average: weight of the old average in each update."},
    {.key = "objective.samples", .type = VR_KEY_INT, FIELD(objective.samples),
     .lo = 1, .hi = 4096, .def = "1",
     .only_key = "objective.kind", .only_value = "iwae",
     .help = "IWAE: importance samples k per image (k = 1 is the ELBO)."},

    {.key = "train.steps", .type = VR_KEY_LONG, FIELD(train.steps),
     .lo = 1, .hi = 1e9, .def = "10000",
     .help = "Optimiser steps."},
    {.key = "train.batch", .type = VR_KEY_INT, FIELD(train.batch),
     .lo = 1, .hi = 65536, .def = "64",
     .help = "Images per step."},
    {.key = "train.optimizer.kind", .type = VR_KEY_ENUM,
     FIELD(train.optimizer.kind), .choices = opt_names, .def = "adam",
     .help = "Optimiser."},
    {.key = "train.optimizer.lr", .type = VR_KEY_DOUBLE,
     FIELD(train.optimizer.lr), .lo = 0, .lo_open = 1, .hi = 10,
     .def = "0.001",
     .help = "Learning rate."},
    {.key = "train.optimizer.beta1", .type = VR_KEY_DOUBLE,
     FIELD(train.optimizer.beta1), .lo = 0, .hi = 1, .hi_open = 1,
     .def = "0.9",
     .help = "Adam's decay rate for the mean of the gradient."},
    {.key = "train.optimizer.beta2", .type = VR_KEY_DOUBLE,
     FIELD(train.optimizer.beta2), .lo = 0, .hi = 1, .hi_open = 1,
     .def = "0.999",
     .help = "Adam's decay rate for the mean of the squared gradient."},
    {.key = "train.optimizer.eps", .type = VR_KEY_DOUBLE,
     FIELD(train.optimizer.eps), .lo = 0, .lo_open = 1, .hi = 1,
     .def = "1e-8",
     .help = "Adam's epsilon, added to the root of the squared-gradient "
             "mean."},
    {.key = "train.log_every", .type = VR_KEY_LONG, FIELD(train.log_every),
     .lo = 1, .hi = 1e9, .def = "100",
     .help = "Record training metrics every N steps."},
    {.key = "train.eval_every", .type = VR_KEY_LONG, FIELD(train.eval_every),
     .lo = 1, .hi = 1e9, .def = "1000",
     .help = "Evaluate on the test set every N steps."},
    {.key = "train.checkpoint_every", .type = VR_KEY_LONG, FIELD(train.checkpoint_every),
     .lo = 1, .hi = 1e9, .def = "1000",
     .help = "Write a checkpoint (parameters, optimiser and objective state) "
             "into run.h5 every N steps; an interrupted run resumes from the "
             "last one, bit for bit."},
    {.key = "train.threads", .type = VR_KEY_INT, FIELD(train.threads),
     .lo = 0, .hi = 1024, .def = "0",
     .help = "CPU threads per run; 0: all cores."},

    {.key = "eval.iwae_samples", .type = VR_KEY_INT, FIELD(eval.iwae_samples),
     .lo = 0, .hi = 5000, .def = "100",
     .help = "Importance samples of the test log-likelihood estimate "
             "test_iwae at each evaluation; 0 turns it off."},
    {.key = "eval.iwae_images", .type = VR_KEY_INT, FIELD(eval.iwae_images),
     .lo = 1, .hi = 1000000, .def = "500",
     .help = "Test images test_iwae averages over (the first N of the test "
             "subset), since it costs iwae_samples decoder passes per image."},

    {.key = "seeds", .type = VR_KEY_LONG_LIST, FIELD(seeds),
     .count_offset = offsetof(vr_spec, n_seeds),
     .min_n = 1, .max_n = VR_MAX_SEEDS, .lo = 0, .hi = 2147483647.0,
     .unique = 1, .def = "[0]",
     .help = "Seeds to run: one run per seed."},
    {.key = "seed", .type = VR_KEY_LONG, FIELD(seed),
     .lo = 0, .hi = 2147483647.0, .def = "0",
     .help = "The seed of one run: set by the runner from seeds and "
             "written into each run's /config."},
};

const int vr_spec_n_keys = (int)(sizeof vr_spec_keys / sizeof vr_spec_keys[0]);

_Static_assert(sizeof vr_spec_keys / sizeof vr_spec_keys[0] <= VR_SPEC_MAX_KEYS,
               "raise VR_SPEC_MAX_KEYS");

/* --------------------------------------------------------------- lookups -- */

const vr_key *vr_key_find(const char *key)
{
    for (int i = 0; i < vr_spec_n_keys; i++)
        if (strcmp(vr_spec_keys[i].key, key) == 0) return &vr_spec_keys[i];
    return NULL;
}

int vr_key_index(const vr_key *row) { return (int)(row - vr_spec_keys); }

const char *vr_key_below(const char *key, const char *path)
{
    size_t n = strlen(path);
    if (n == 0) return key;
    if (strncmp(key, path, n) == 0 && key[n] == '.') return key + n + 1;
    return NULL;
}

int vr_key_is_section(const char *path)
{
    for (int i = 0; i < vr_spec_n_keys; i++)
        if (vr_key_below(vr_spec_keys[i].key, path)) return 1;
    return 0;
}

void vr_key_level_names(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < vr_spec_n_keys; i++) {
        const char *rest = vr_key_below(vr_spec_keys[i].key, path);
        if (!rest) continue;
        size_t n = strcspn(rest, ".");
        /* Skip a name already listed: rows of a section are adjacent, so
         * comparing with the previous row's name is enough. */
        if (i > 0) {
            const char *prev = vr_key_below(vr_spec_keys[i - 1].key, path);
            if (prev && strcspn(prev, ".") == n && strncmp(prev, rest, n) == 0)
                continue;
        }
        int w = snprintf(buf + len, cap - len, "%s%.*s", len ? ", " : "",
                         (int)n, rest);
        if (w < 0 || (size_t)w >= cap - len) return;
        len += (size_t)w;
    }
}

void vr_key_bounds_text(const vr_key *row, char *buf, size_t cap)
{
    switch (row->type) {
    case VR_KEY_INT:
    case VR_KEY_LONG:
    case VR_KEY_INT_LIST:
    case VR_KEY_LONG_LIST:
        snprintf(buf, cap, "[%.0f, %.0f]", row->lo, row->hi);
        return;
    case VR_KEY_DOUBLE:
        snprintf(buf, cap, "%c%g, %g%c", row->lo_open ? '(' : '[', row->lo,
                 row->hi, row->hi_open ? ')' : ']');
        return;
    default:
        buf[0] = '\0';
    }
}

void vr_key_choices_text(const vr_key *row, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; row->choices && row->choices[i]; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "",
                         row->choices[i]);
        if (w < 0 || (size_t)w >= cap - len) return;
        len += (size_t)w;
    }
}

int vr_edit_distance(const char *a, const char *b, int limit)
{
    /* Optimal string alignment over three rolling rows; names are short, so
     * anything longer than 63 bytes is simply "far". */
    enum { N = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= N || lb >= N) return limit + 1;
    int rows[3][N], *pp = rows[0], *p = rows[1], *c = rows[2];
    for (size_t j = 0; j <= lb; j++) p[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        c[0] = (int)i;
        int best = c[0];
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int d = p[j] + 1;
            if (c[j - 1] + 1 < d) d = c[j - 1] + 1;
            if (p[j - 1] + cost < d) d = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            c[j] = d;
            if (d < best) best = d;
        }
        if (best > limit) return limit + 1;
        int *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[lb];
}

/* ------------------------------------------------------------- defaults -- */

void vr_spec_defaults(vr_spec *s)
{
    /* Defaults go through the same parser as files (vr_spec_set), so a
     * default is exactly what writing it in a spec would give. They cannot
     * fail short of running out of memory; tests/unit_spec.c checks each. */
    memset(s, 0, sizeof *s);
    for (int i = 0; i < vr_spec_n_keys; i++)
        vr_spec_set(s, vr_spec_keys[i].key, vr_spec_keys[i].def, NULL);
}

/* ------------------------------------------------------------- markdown -- */

static const char *type_name(const vr_key *row)
{
    switch (row->type) {
    case VR_KEY_INT:
    case VR_KEY_LONG: return "integer";
    case VR_KEY_DOUBLE: return "number";
    case VR_KEY_STRING: return "string";
    case VR_KEY_ENUM: return "choice";
    case VR_KEY_INT_LIST:
    case VR_KEY_LONG_LIST: return "list of integers";
    }
    return "?";
}

/* The "allowed" column: choices, bounds, list sizes, name rules. */
static void allowed_text(const vr_key *row, char *buf, size_t cap)
{
    char b[256];
    switch (row->type) {
    case VR_KEY_ENUM: {
        size_t len = 0;
        buf[0] = '\0';
        for (int i = 0; row->choices[i] && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s`%s`",
                                    i ? ", " : "", row->choices[i]);
        return;
    }
    case VR_KEY_STRING:
        if (row->ident)
            snprintf(buf, cap, "letters, digits, `.`, `_`, `-`; 1 to %zu bytes",
                     row->size - 1);
        else
            snprintf(buf, cap, "at most %zu bytes", row->size - 1);
        return;
    case VR_KEY_INT_LIST:
    case VR_KEY_LONG_LIST:
        vr_key_bounds_text(row, b, sizeof b);
        snprintf(buf, cap, "%d to %d%s entries, each in %s", row->min_n,
                 row->max_n, row->unique ? " distinct" : "", b);
        return;
    default:
        vr_key_bounds_text(row, buf, cap);
    }
}

void vr_spec_keys_markdown(FILE *f)
{
    fprintf(f, "| key | type | default | allowed | description |\n");
    fprintf(f, "| --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < vr_spec_n_keys; i++) {
        const vr_key *row = &vr_spec_keys[i];
        char allowed[512];
        allowed_text(row, allowed, sizeof allowed);
        fprintf(f, "| `%s` | %s | ", row->key, type_name(row));
        if (row->def_doc)
            fprintf(f, "%s", row->def_doc);
        else
            fprintf(f, "`%s`", row->def);
        fprintf(f, " | %s | %s", allowed, row->help);
        if (row->only_key)
            fprintf(f, " Only with `%s: %s`.", row->only_key, row->only_value);
        fprintf(f, " |\n");
    }
}
