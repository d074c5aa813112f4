/* unit_spec.c: the spec loader (runner/spec.h).
 *
 * Checks defaults, a full spec file, every kind of error with its exact
 * FILE:LINE:COL and message, the YAML dump's round trip, --set, the key
 * table's own consistency, and that docs/spec.md's key table matches the
 * table in runner/spec_keys.c.
 *
 * `unit_spec --update-docs` rewrites that part of docs/spec.md instead of
 * testing anything.
 *
 * Positions in the inline YAML below are counted by hand; a comment under
 * each case shows the count.
 */
#include "runner/spec.h"
#include "runner/spec_internal.h"
#include "tests/check.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SPECS VR_SOURCE_DIR "/tests/specs/"
#define DOCS VR_SOURCE_DIR "/docs/spec.md"
#define BEGIN_MARK "<!-- BEGIN KEY TABLE (generated: unit_spec --update-docs) -->\n"
#define END_MARK "<!-- END KEY TABLE -->\n"

/* ------------------------------------------------------------- helpers -- */

/* Loads TEXT as "x.yaml" and checks it fails with exactly WANT. */
#define EXPECT_ERROR(text, want)                                            \
    do {                                                                    \
        vr_spec s_;                                                         \
        vr_err e_ = {{0}};                                                  \
        int rc_ = vr_spec_load_string((text), "x.yaml", &s_, &e_);          \
        CHECK(rc_ == -1, "loaded, but wanted: %s", (want));                 \
        CHECK(strcmp(e_.msg, (want)) == 0, "\n  got:  %s\n  want: %s",      \
              e_.msg, (want));                                              \
    } while (0)

/* Same, but checks only that the message starts with WANT (for messages
 * whose tail is libyaml's wording). */
#define EXPECT_ERROR_PREFIX(text, want)                                     \
    do {                                                                    \
        vr_spec s_;                                                         \
        vr_err e_ = {{0}};                                                  \
        int rc_ = vr_spec_load_string((text), "x.yaml", &s_, &e_);          \
        CHECK(rc_ == -1, "loaded, but wanted: %s", (want));                 \
        CHECK(strncmp(e_.msg, (want), strlen(want)) == 0,                   \
              "\n  got:  %s\n  want: %s...", e_.msg, (want));               \
    } while (0)

/* Loads TEXT as "x.yaml" into *s and checks it succeeds. */
static int load_ok(const char *text, vr_spec *s)
{
    vr_err e = {{0}};
    int rc = vr_spec_load_string(text, "x.yaml", s, &e);
    CHECK(rc == 0, "%s\n  for: %s", e.msg, text);
    return rc;
}

/* Sets KEY=VALUE and checks it fails with exactly WANT, leaving S alone. */
static void expect_set_error(vr_spec *s, const char *key, const char *value,
                             const char *want)
{
    vr_spec before = *s;
    vr_err e = {{0}};
    CHECK(vr_spec_set(s, key, value, &e) == -1, "--set %s=%s succeeded", key,
          value);
    CHECK(strcmp(e.msg, want) == 0, "\n  got:  %s\n  want: %s", e.msg, want);
    CHECK(memcmp(&before, s, sizeof before) == 0,
          "--set %s=%s changed the spec although it failed", key, value);
}

/* Field-by-field equality, with a message naming the first field that
 * differs. Written out by hand, not from the key table, so that it checks
 * the table rather than trusting it. */
static void check_same(const vr_spec *a, const vr_spec *b, const char *what)
{
    CHECK(strcmp(a->name, b->name) == 0, "%s: name %s vs %s", what, a->name, b->name);
    CHECK(a->data.set == b->data.set, "%s: data.set", what);
    CHECK(strcmp(a->data.dir, b->data.dir) == 0, "%s: data.dir '%s' vs '%s'",
          what, a->data.dir, b->data.dir);
    CHECK(a->data.binarize == b->data.binarize, "%s: data.binarize", what);
    CHECK(a->data.train == b->data.train, "%s: data.train", what);
    CHECK(a->data.test == b->data.test, "%s: data.test", what);
    CHECK(a->model.arch == b->model.arch, "%s: model.arch", what);
    CHECK(a->model.latent == b->model.latent, "%s: model.latent", what);
    CHECK(a->model.n_hidden == b->model.n_hidden, "%s: model.n_hidden", what);
    for (int i = 0; i < a->model.n_hidden && i < VR_MAX_HIDDEN; i++)
        CHECK(a->model.hidden[i] == b->model.hidden[i], "%s: hidden[%d]", what, i);
    CHECK(a->model.activation == b->model.activation, "%s: activation", what);
    CHECK(a->likelihood.kind == b->likelihood.kind, "%s: likelihood", what);
    CHECK(a->objective.kind == b->objective.kind, "%s: objective.kind", what);
    CHECK(a->objective.beta == b->objective.beta, "%s: beta %.17g vs %.17g",
          what, a->objective.beta, b->objective.beta);
    CHECK(a->train.steps == b->train.steps, "%s: steps", what);
    CHECK(a->train.batch == b->train.batch, "%s: batch", what);
    CHECK(a->train.optimizer.kind == b->train.optimizer.kind, "%s: opt", what);
    CHECK(a->train.optimizer.lr == b->train.optimizer.lr, "%s: lr %.17g vs %.17g",
          what, a->train.optimizer.lr, b->train.optimizer.lr);
    CHECK(a->train.optimizer.beta1 == b->train.optimizer.beta1, "%s: beta1", what);
    CHECK(a->train.optimizer.beta2 == b->train.optimizer.beta2, "%s: beta2", what);
    CHECK(a->train.optimizer.eps == b->train.optimizer.eps, "%s: eps", what);
    CHECK(a->train.log_every == b->train.log_every, "%s: log_every", what);
    CHECK(a->train.eval_every == b->train.eval_every, "%s: eval_every", what);
    CHECK(a->train.threads == b->train.threads, "%s: threads", what);
    CHECK(a->n_seeds == b->n_seeds, "%s: n_seeds %d vs %d", what, a->n_seeds,
          b->n_seeds);
    for (int i = 0; i < a->n_seeds && i < VR_MAX_SEEDS; i++)
        CHECK(a->seeds[i] == b->seeds[i], "%s: seeds[%d]", what, i);
    CHECK(a->seed == b->seed, "%s: seed", what);
}

/* -------------------------------------------------------------- defaults -- */

static void test_defaults(void)
{
    vr_spec s;
    vr_spec_defaults(&s);
    CHECK(strcmp(s.name, "spec") == 0, "name '%s'", s.name);
    CHECK(s.data.set == VR_SET_MNIST, "data.set");
    CHECK(s.data.dir[0] == '\0', "data.dir '%s'", s.data.dir);
    CHECK(s.data.binarize == VR_BIN_DYNAMIC, "data.binarize");
    CHECK(s.data.train == 60000, "data.train %d", s.data.train);
    CHECK(s.data.test == 10000, "data.test %d", s.data.test);
    CHECK(s.model.arch == VR_ARCH_STANDARD, "model.arch");
    CHECK(s.model.latent == 10, "model.latent %d", s.model.latent);
    CHECK(s.model.n_hidden == 2 && s.model.hidden[0] == 100 &&
          s.model.hidden[1] == 100, "model.hidden");
    CHECK(s.model.activation == VR_ACT_RELU, "model.activation");
    CHECK(s.likelihood.kind == VR_LIK_BERNOULLI, "likelihood.kind");
    CHECK(s.objective.kind == VR_OBJ_ELBO, "objective.kind");
    CHECK(s.objective.beta == 1.0, "objective.beta %g", s.objective.beta);
    CHECK(s.train.steps == 10000, "train.steps %ld", s.train.steps);
    CHECK(s.train.batch == 64, "train.batch %d", s.train.batch);
    CHECK(s.train.optimizer.kind == VR_OPT_ADAM, "optimizer.kind");
    CHECK(s.train.optimizer.lr == 1e-3, "lr %g", s.train.optimizer.lr);
    CHECK(s.train.optimizer.beta1 == 0.9, "beta1 %g", s.train.optimizer.beta1);
    CHECK(s.train.optimizer.beta2 == 0.999, "beta2 %g", s.train.optimizer.beta2);
    CHECK(s.train.optimizer.eps == 1e-8, "eps %g", s.train.optimizer.eps);
    CHECK(s.train.log_every == 100, "log_every %ld", s.train.log_every);
    CHECK(s.train.eval_every == 1000, "eval_every %ld", s.train.eval_every);
    CHECK(s.train.threads == 0, "threads %d", s.train.threads);
    CHECK(s.n_seeds == 1 && s.seeds[0] == 0, "seeds");
    CHECK(s.seed == 0, "seed %ld", s.seed);

    /* Every row's default text goes through the parser without complaint
     * (vr_spec_defaults itself cannot report one that does not). */
    for (int i = 0; i < vr_spec_n_keys; i++) {
        vr_err e = {{0}};
        CHECK(vr_spec_set(&s, vr_spec_keys[i].key, vr_spec_keys[i].def, &e) == 0,
              "default of %s: %s", vr_spec_keys[i].key, e.msg);
    }
    vr_err e = {{0}};
    CHECK(vr_spec_check(&s, &e) == 0, "defaults fail the cross-key checks: %s",
          e.msg);

    /* An empty mapping is all defaults, with the name from the file. */
    vr_spec d, t;
    vr_spec_defaults(&d);
    if (load_ok("{}\n", &t) == 0) {
        snprintf(d.name, sizeof d.name, "x");
        check_same(&t, &d, "{}");
    }
}

/* ------------------------------------------------------------ full spec -- */

static void test_full_file(void)
{
    vr_spec s;
    vr_err e = {{0}};
    int rc = vr_spec_load(SPECS "full.yaml", &s, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (rc) return;
    CHECK(strcmp(s.name, "full_spec") == 0, "name '%s'", s.name);
    CHECK(s.data.set == VR_SET_FASHION_MNIST, "data.set");
    CHECK(strcmp(s.data.dir, "/srv/data/fashion") == 0, "data.dir '%s'", s.data.dir);
    CHECK(s.data.binarize == VR_BIN_STATIC, "data.binarize");
    CHECK(s.data.train == 50000, "data.train %d", s.data.train);
    CHECK(s.data.test == 5000, "data.test %d", s.data.test);
    CHECK(s.model.arch == VR_ARCH_MLP, "model.arch");
    CHECK(s.model.latent == 2, "model.latent %d", s.model.latent);
    CHECK(s.model.n_hidden == 3 && s.model.hidden[0] == 512 &&
          s.model.hidden[1] == 256 && s.model.hidden[2] == 128, "model.hidden");
    CHECK(s.model.activation == VR_ACT_RELU, "model.activation");
    CHECK(s.likelihood.kind == VR_LIK_BERNOULLI, "likelihood.kind");
    CHECK(s.objective.kind == VR_OBJ_BETA, "objective.kind");
    CHECK(s.objective.beta == 4.0, "objective.beta %g", s.objective.beta);
    CHECK(s.train.steps == 250000, "train.steps %ld", s.train.steps);
    CHECK(s.train.batch == 128, "train.batch %d", s.train.batch);
    CHECK(s.train.optimizer.kind == VR_OPT_ADAM, "optimizer.kind");
    CHECK(s.train.optimizer.lr == 3e-4, "lr %g", s.train.optimizer.lr);
    CHECK(s.train.optimizer.beta1 == 0.5, "beta1 %g", s.train.optimizer.beta1);
    CHECK(s.train.optimizer.beta2 == 0.99, "beta2 %g", s.train.optimizer.beta2);
    CHECK(s.train.optimizer.eps == 1e-7, "eps %g", s.train.optimizer.eps);
    CHECK(s.train.log_every == 50, "log_every %ld", s.train.log_every);
    CHECK(s.train.eval_every == 5000, "eval_every %ld", s.train.eval_every);
    CHECK(s.train.threads == 4, "threads %d", s.train.threads);
    CHECK(s.n_seeds == 3 && s.seeds[0] == 7 && s.seeds[1] == 1 && s.seeds[2] == 2,
          "seeds");
    CHECK(s.seed == 1, "seed %ld", s.seed);
}

static void test_file_errors_and_names(void)
{
    vr_spec s, before;
    vr_err e = {{0}};
    vr_spec_defaults(&s);
    before = s;

    CHECK(vr_spec_load("nosuch.yaml", &s, &e) == -1, "nosuch.yaml loaded");
    CHECK(strcmp(e.msg, "nosuch.yaml: cannot open: No such file or directory") == 0,
          "got: %s", e.msg);
    CHECK(memcmp(&s, &before, sizeof s) == 0, "failed load changed *out");

    CHECK(vr_spec_load(SPECS "typo.yaml", &s, &e) == -1, "typo.yaml loaded");
    const char *want = SPECS "typo.yaml:4:3: unknown key 'stpes' in 'train' "
                             "(did you mean 'steps'?)";
    CHECK(strcmp(e.msg, want) == 0, "\n  got:  %s\n  want: %s", e.msg, want);

    /* No name: key -> the file's stem. */
    CHECK(vr_spec_load(SPECS "minimal.yaml", &s, &e) == 0, "%s", e.msg);
    CHECK(strcmp(s.name, "minimal") == 0, "name '%s'", s.name);
    CHECK(s.train.steps == 5, "steps %ld", s.train.steps);

    load_ok("seed: 3\n", &s);
    CHECK(strcmp(s.name, "x") == 0, "name '%s' from x.yaml", s.name);
    CHECK(vr_spec_load_string("seed: 3\n", "configs/a.b-c.yaml", &s, &e) == 0,
          "%s", e.msg);
    CHECK(strcmp(s.name, "a.b-c") == 0, "name '%s'", s.name);
    CHECK(vr_spec_load_string("seed: 3\n", NULL, &s, &e) == 0, "%s", e.msg);
    CHECK(strcmp(s.name, "spec") == 0, "name '%s' without a file", s.name);

    /* A stem that cannot be a name needs an explicit name:. */
    CHECK(vr_spec_load_string("seed: 3\n", "my spec.yaml", &s, &e) == -1,
          "'my spec' became a name");
    CHECK(strcmp(e.msg, "my spec.yaml: the file's stem 'my spec', the default "
                        "name, may hold only letters, digits, '.', '_' and '-'; "
                        "give the spec a name: key") == 0, "got: %s", e.msg);
    CHECK(vr_spec_load_string("name: ok\n", "my spec.yaml", &s, &e) == 0, "%s",
          e.msg);
}

/* --------------------------------------------------------- value types -- */

static void test_values(void)
{
    vr_spec s;
    /* The three spellings of 1e-3 are one double. */
    const char *lrs[] = {"1e-3", "1.0e-3", "0.001", "1E-3", "+0.001", ".001"};
    for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "train: {optimizer: {lr: %s}}\n", lrs[i]);
        if (load_ok(text, &s) == 0)
            CHECK(s.train.optimizer.lr == 1e-3, "lr %s -> %.17g", lrs[i],
                  s.train.optimizer.lr);
    }
    /* Integers written as integers are fine for doubles. */
    if (load_ok("objective: {kind: beta, beta: 2}\n", &s) == 0)
        CHECK(s.objective.beta == 2.0, "beta %g", s.objective.beta);
    /* Quoted strings are strings; `dir:` alone is the empty string. */
    if (load_ok("data: {dir: \"a b: #c\"}\n", &s) == 0)
        CHECK(strcmp(s.data.dir, "a b: #c") == 0, "dir '%s'", s.data.dir);
    if (load_ok("data:\n  dir:\n", &s) == 0)
        CHECK(s.data.dir[0] == '\0', "dir '%s'", s.data.dir);
    /* Block style lists, and bounds that are inclusive. */
    if (load_ok("seeds:\n  - 0\n  - 2147483647\n", &s) == 0)
        CHECK(s.n_seeds == 2 && s.seeds[1] == 2147483647L, "seeds");
    if (load_ok("train: {optimizer: {beta1: 0, lr: 10, eps: 1}}\n", &s) == 0)
        CHECK(s.train.optimizer.lr == 10 && s.train.optimizer.beta1 == 0, "bounds");
    /* model.hidden with arch: mlp is fine, in either order. */
    if (load_ok("model: {hidden: [3], arch: mlp}\n", &s) == 0)
        CHECK(s.model.n_hidden == 1 && s.model.hidden[0] == 3, "hidden");
    /* A value equal to the default does not trip the cross-key checks, so
     * a full dump of a standard-arch elbo spec reads back. */
    load_ok("model: {arch: big, hidden: [100, 100]}\nobjective: {beta: 1.0}\n", &s);
}

/* --------------------------------------------------------------- errors -- */

static void test_unknown_keys(void)
{
    EXPECT_ERROR("name: t\n"
                 "train:\n"
                 "  batch: 32\n"
                 "  stpes: 5\n",
                 /* line 4, "  " then the key: column 3 */
                 "x.yaml:4:3: unknown key 'stpes' in 'train' (did you mean 'steps'?)");
    EXPECT_ERROR("trian: {steps: 5}\n",
                 "x.yaml:1:1: unknown key 'trian' (did you mean 'train'?)");
    EXPECT_ERROR("train: {optimizer: {LR: 0.1}}\n",
                 /* t1 ... "train: {" is 8, "optimizer: {" 12 more: col 21 */
                 "x.yaml:1:21: unknown key 'LR' in 'train.optimizer' "
                 "(did you mean 'lr'?)");
    EXPECT_ERROR("model:\n"
                 "  latent: 4\n"
                 "  layers: [3]\n",
                 "x.yaml:3:3: unknown key 'layers' in 'model'; valid keys: "
                 "arch, latent, hidden, activation, posterior");
    EXPECT_ERROR("seed: 1\n"
                 "epochs: 3\n",
                 "x.yaml:2:1: unknown key 'epochs'; valid keys: name, data, "
                 "model, likelihood, objective, train, eval, seeds, seed");
    EXPECT_ERROR("train.steps: 5\n",
                 "x.yaml:1:1: unknown key 'train.steps': spec files nest keys; "
                 "write train: {steps: ...}");
    EXPECT_ERROR("train:\n"
                 "  optimizer.lr: 0.1\n",
                 "x.yaml:2:3: unknown key 'optimizer.lr' in 'train': spec files "
                 "nest keys; write optimizer: {lr: ...}");
}

static void test_type_errors(void)
{
    /* The brief's own example: line 5, "  batch: " is 9 columns. */
    EXPECT_ERROR("name: t\n"
                 "seeds: [1]\n"
                 "train:\n"
                 "  steps: 10\n"
                 "  batch: abc\n",
                 "x.yaml:5:10: train.batch: expected an integer, got 'abc'");
    EXPECT_ERROR("train:\n"
                 "  batch: 1.5\n",
                 "x.yaml:2:10: train.batch: expected an integer, got '1.5'");
    EXPECT_ERROR("train:\n"
                 "  steps: 1e3\n",
                 "x.yaml:2:10: train.steps: expected an integer, got '1e3'");
    EXPECT_ERROR("train: {batch: \"64\"}\n",
                 /* "train: {" 8, "batch: " 7: the quote is column 16 */
                 "x.yaml:1:16: train.batch: expected an integer, got the "
                 "quoted string '64'");
    EXPECT_ERROR("train:\n"
                 "  steps:\n",
                 /* an empty value sits just after "  steps:" */
                 "x.yaml:2:9: train.steps: expected an integer, got an empty value");
    EXPECT_ERROR("train: {optimizer: {lr: fast}}\n",
                 "x.yaml:1:25: train.optimizer.lr: expected a number, got 'fast'");
    EXPECT_ERROR("train: {optimizer: {lr: .inf}}\n",
                 "x.yaml:1:25: train.optimizer.lr: expected a number, got '.inf'");
    EXPECT_ERROR("train: {optimizer: {lr: 0x10}}\n",
                 "x.yaml:1:25: train.optimizer.lr: expected a number, got '0x10'");
    /* Enums are case-sensitive, and suggest a near miss. */
    EXPECT_ERROR("name: t\n"
                 "model:\n"
                 "  arch: huge\n",
                 "x.yaml:3:9: model.arch: 'huge' is not one of standard, big, mlp, conv, subpixel");
    EXPECT_ERROR("data: {set: MNIST}\n",
                 "x.yaml:1:13: data.set: 'MNIST' is not one of mnist, "
                 "fashion_mnist, eight_gaussians (did you mean 'mnist'?)");
    EXPECT_ERROR("name: a b\n",
                 "x.yaml:1:7: name: 'a b' may hold only letters, digits, '.', "
                 "'_' and '-'");
    EXPECT_ERROR("name: \"\"\n", "x.yaml:1:7: name: '' must not be empty");
}

static void test_shape_errors(void)
{
    /* A mapping where a number goes: the block mapping starts at "n". */
    EXPECT_ERROR("train:\n"
                 "  steps:\n"
                 "    n: 5\n",
                 "x.yaml:3:5: train.steps: expected an integer, got a mapping");
    /* A list where a choice goes: "data: {set: " is 12 columns. */
    EXPECT_ERROR("data: {set: [mnist]}\n",
                 "x.yaml:1:13: data.set: expected one of mnist, fashion_mnist, "
                 "eight_gaussians, got a list");
    /* A scalar where a section goes. */
    EXPECT_ERROR("train: 5\n",
                 "x.yaml:1:8: train: expected a mapping of keys, got '5'");
    EXPECT_ERROR("train:\n"
                 "optimizer: {}\n",
                 "x.yaml:1:7: train: expected a mapping of keys, got an empty value");
    EXPECT_ERROR("train: {optimizer: [adam]}\n",
                 "x.yaml:1:20: train.optimizer: expected a mapping of keys, got a list");
    /* A scalar where a list goes, and lists of the wrong length. */
    EXPECT_ERROR("model: {arch: mlp, hidden: 5}\n",
                 "x.yaml:1:28: model.hidden: expected a list of integers, got "
                 "'5' (a list of one is written [5])");
    EXPECT_ERROR("seeds: []\n", "x.yaml:1:8: seeds: needs at least 1 entry");
    EXPECT_ERROR("model: {arch: mlp, hidden: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}\n",
                 "x.yaml:1:28: model.hidden: has 17 entries; at most 16 are allowed");
    EXPECT_ERROR("seeds: [1, [2]]\n",
                 "x.yaml:1:12: seeds[1]: expected an integer, got a list");
    /* The document itself. */
    EXPECT_ERROR("- a\n- b\n", "x.yaml:1:1: expected a mapping of keys, got a list");
    EXPECT_ERROR("just text\n",
                 "x.yaml:1:1: expected a mapping of keys, got 'just text'");
    EXPECT_ERROR("[a]: 1\n", "x.yaml:1:1: expected a key name, got a list");
}

static void test_range_errors(void)
{
    EXPECT_ERROR("name: t\n"
                 "seeds: [1]\n"
                 "train:\n"
                 "  steps: 10\n"
                 "  batch: 0\n",
                 "x.yaml:5:10: train.batch: 0 is out of range [1, 65536]");
    EXPECT_ERROR("data: {train: 60001}\n",
                 /* the cross-key check points at the key: "data: {" is 7 columns */
                 "x.yaml:1:8: data.train: 60001 is more than the 60000 training images of mnist");
    EXPECT_ERROR("data: {set: fashion_mnist, test: 10001}\n",
                 "x.yaml:1:28: data.test: 10001 is more than the 10000 test images of fashion_mnist");
    EXPECT_ERROR("train:\n"
                 "  log_every: 0\n",
                 /* "  log_every: " is 13 columns */
                 "x.yaml:2:14: train.log_every: 0 is out of range [1, 1000000000]");
    EXPECT_ERROR("train:\n"
                 "  eval_every: -1\n",
                 "x.yaml:2:15: train.eval_every: -1 is out of range [1, 1000000000]");
    EXPECT_ERROR("train: {steps: 99999999999999999999999}\n",
                 "x.yaml:1:16: train.steps: 99999999999999999999999 is out of "
                 "range [1, 1000000000]");
    /* Open and closed ends of double bounds. */
    EXPECT_ERROR("train: {optimizer: {lr: 0}}\n",
                 "x.yaml:1:25: train.optimizer.lr: 0 is out of range (0, 10]");
    EXPECT_ERROR("train: {optimizer: {beta1: 1.0}}\n",
                 "x.yaml:1:28: train.optimizer.beta1: 1.0 is out of range [0, 1)");
    EXPECT_ERROR("train: {optimizer: {eps: 1e999}}\n",
                 "x.yaml:1:26: train.optimizer.eps: 1e999 is out of range (0, 1]");
    EXPECT_ERROR("objective: {kind: beta, beta: -2}\n",
                 "x.yaml:1:31: objective.beta: -2 is out of range (0, 1000]");
    /* List entries carry their index. */
    EXPECT_ERROR("model: {arch: mlp, hidden: [10, 0]}\n",
                 "x.yaml:1:33: model.hidden[1]: 0 is out of range [1, 100000]");
    EXPECT_ERROR("seeds: [3, 4, 3]\n",
                 "x.yaml:1:15: seeds[2]: 3 is already in the list, at seeds[0]");
    EXPECT_ERROR("seeds: [-1]\n",
                 "x.yaml:1:9: seeds[0]: -1 is out of range [0, 2147483647]");
}

static void test_cross_key_errors(void)
{
    EXPECT_ERROR("model:\n"
                 "  arch: standard\n"
                 "  hidden: [64]\n",
                 /* points at the key model.hidden */
                 "x.yaml:3:3: model.hidden applies only to arch: mlp (arch is "
                 "standard); use arch: mlp");
    EXPECT_ERROR("model: {hidden: [64]}\n",
                 "x.yaml:1:9: model.hidden applies only to arch: mlp (arch is "
                 "standard); use arch: mlp");
    EXPECT_ERROR("objective:\n"
                 "  beta: 4.0\n",
                 "x.yaml:2:3: objective.beta applies only to kind: beta (kind is "
                 "elbo); use kind: beta");
    EXPECT_ERROR("objective:\n"
                 "  beta: 4.0\n"
                 "  kind: elbo\n",
                 "x.yaml:2:3: objective.beta applies only to kind: beta (kind is "
                 "elbo); use kind: beta");
}

static void test_syntax_errors(void)
{
    EXPECT_ERROR_PREFIX("a: b: c\n", "x.yaml:1:5: YAML syntax error: mapping "
                                     "values are not allowed");
    /* A tab cannot indent YAML. */
    EXPECT_ERROR_PREFIX("train:\n\tsteps: 5\n", "x.yaml:2:1: YAML syntax error: ");
    EXPECT_ERROR_PREFIX("train: {steps: 5\n", "x.yaml:2:1: YAML syntax error: ");
    EXPECT_ERROR("train:\n"
                 "  steps: 1\n"
                 "  batch: 2\n"
                 "  steps: 3\n",
                 "x.yaml:4:3: duplicate key 'steps' in 'train' (first at 2:3)");
    EXPECT_ERROR("seeds: [1]\n"
                 "seeds: [2]\n",
                 "x.yaml:2:1: duplicate key 'seeds' (first at 1:1)");
    EXPECT_ERROR("", "x.yaml:1:1: empty spec: expected a mapping of keys (docs/spec.md)");
    EXPECT_ERROR("# nothing but a comment\n\n",
                 "x.yaml:1:1: empty spec: expected a mapping of keys (docs/spec.md)");
    EXPECT_ERROR("---\n",
                 "x.yaml:2:1: empty spec: expected a mapping of keys (docs/spec.md)");
    EXPECT_ERROR("name: a\n---\nname: b\n",
                 "x.yaml:2:1: a spec is one YAML document; found a second");
    EXPECT_ERROR("base: &b {steps: 1}\ntrain: *b\n",
                 "x.yaml:2:8: YAML aliases (*name) are not supported in specs");
    EXPECT_ERROR("train: {steps: !!int 5}\n",
                 "x.yaml:1:16: YAML tags (!...) are not supported in specs");
    EXPECT_ERROR_PREFIX("name: a\nseeds: [1, \xc3\x28]\n",
                        "x.yaml:2:13: YAML syntax error: invalid trailing UTF-8");
}

/* ---------------------------------------------------------------- dump -- */

static void round_trip(const vr_spec *s, const char *what)
{
    char text[VR_SPEC_YAML_MAX], again[VR_SPEC_YAML_MAX];
    int len = vr_spec_to_yaml(s, text, sizeof text);
    CHECK(len > 0 && (size_t)len == strlen(text), "%s: length %d", what, len);
    if (len <= 0) return;

    vr_spec back;
    vr_err e = {{0}};
    int rc = vr_spec_load_string(text, "dump.yaml", &back, &e);
    CHECK(rc == 0, "%s: dump does not load: %s\n%s", what, e.msg, text);
    if (rc) return;
    check_same(&back, s, what);
    /* Printing what was read gives the same text: the dump is a fixed point. */
    CHECK(vr_spec_to_yaml(&back, again, sizeof again) == len &&
          strcmp(text, again) == 0, "%s: second dump differs", what);

    /* A buffer one byte short fails; exactly long enough works. */
    CHECK(vr_spec_to_yaml(s, again, (size_t)len) == -1, "%s: short cap", what);
    CHECK(vr_spec_to_yaml(s, again, (size_t)len + 1) == len, "%s: exact cap", what);
}

static void test_round_trip(void)
{
    vr_spec s;
    vr_spec_defaults(&s);
    round_trip(&s, "defaults");

    char text[VR_SPEC_YAML_MAX];
    int len = vr_spec_to_yaml(&s, text, sizeof text);
    CHECK(len > 0 && strstr(text, "seed: 0\n") && strstr(text, "\n  optimizer:\n    kind: adam\n"),
          "dump layout:\n%s", text);

    vr_err e = {{0}};
    if (vr_spec_load(SPECS "full.yaml", &s, &e) == 0) round_trip(&s, "full.yaml");

    /* Values that are hard to print: doubles without a short form, strings
     * needing quotes and escapes, extreme integers. */
    vr_spec_defaults(&s);
    snprintf(s.name, sizeof s.name, "-rt_1.x");
    snprintf(s.data.dir, sizeof s.data.dir, "C:\\data \"x\": #1\t\x01\n null");
    s.objective.kind = VR_OBJ_BETA;
    s.objective.beta = 1.0 / 3.0;
    s.train.optimizer.lr = 0.1 + 0.2;
    s.train.optimizer.eps = 2.2250738585072014e-308;   /* smallest normal */
    s.train.optimizer.beta2 = 0.9999999999999999;
    s.model.arch = VR_ARCH_MLP;
    s.model.n_hidden = VR_MAX_HIDDEN;
    for (int i = 0; i < VR_MAX_HIDDEN; i++) s.model.hidden[i] = 100000 - i;
    s.train.steps = 1000000000L;
    s.seed = 2147483647L;
    round_trip(&s, "awkward values");

    /* The largest dump there can be fits VR_SPEC_YAML_MAX. */
    memset(s.name, 'n', sizeof s.name - 1);
    s.name[sizeof s.name - 1] = '\0';
    memset(s.data.dir, '\x01', sizeof s.data.dir - 1);
    s.data.dir[sizeof s.data.dir - 1] = '\0';
    s.n_seeds = VR_MAX_SEEDS;
    for (int i = 0; i < VR_MAX_SEEDS; i++) s.seeds[i] = 2147483647L - i;
    round_trip(&s, "largest");

    /* Strings that look like null are quoted, or they would read back as "". */
    vr_spec_defaults(&s);
    snprintf(s.data.dir, sizeof s.data.dir, "null");
    round_trip(&s, "dir: null");
    snprintf(s.data.dir, sizeof s.data.dir, "~");
    round_trip(&s, "dir: ~");
}

/* ----------------------------------------------------------------- --set -- */

static void test_set(void)
{
    vr_spec s;
    vr_err e = {{0}};
    vr_spec_defaults(&s);

    CHECK(vr_spec_set(&s, "train.steps", "5", &e) == 0, "%s", e.msg);
    CHECK(s.train.steps == 5, "steps %ld", s.train.steps);
    CHECK(vr_spec_set(&s, "objective.kind", "beta", &e) == 0, "%s", e.msg);
    CHECK(vr_spec_set(&s, "objective.beta", "1e-2", &e) == 0, "%s", e.msg);
    CHECK(s.objective.kind == VR_OBJ_BETA && s.objective.beta == 0.01, "beta");
    CHECK(vr_spec_set(&s, "seeds", "[4, 5, 6]", &e) == 0, "%s", e.msg);
    CHECK(s.n_seeds == 3 && s.seeds[2] == 6, "seeds");
    CHECK(vr_spec_set(&s, "train.optimizer", "{lr: 0.01, eps: 1e-6}", &e) == 0,
          "%s", e.msg);
    CHECK(s.train.optimizer.lr == 0.01 && s.train.optimizer.eps == 1e-6,
          "optimizer section");
    CHECK(vr_spec_set(&s, "data.dir", "/tmp/my data", &e) == 0, "%s", e.msg);
    CHECK(strcmp(s.data.dir, "/tmp/my data") == 0, "dir '%s'", s.data.dir);
    CHECK(vr_spec_set(&s, "data.dir", "", &e) == 0, "%s", e.msg);
    CHECK(s.data.dir[0] == '\0', "empty dir '%s'", s.data.dir);
    CHECK(vr_spec_set(&s, "name", "run-2", &e) == 0, "%s", e.msg);
    CHECK(strcmp(s.name, "run-2") == 0, "name '%s'", s.name);

    expect_set_error(&s, "train.steps", "abc",
                     "--set train.steps=abc: expected an integer, got 'abc'");
    expect_set_error(&s, "train.batch", "0",
                     "--set train.batch=0: 0 is out of range [1, 65536]");
    expect_set_error(&s, "model.arch", "huge",
                     "--set model.arch=huge: 'huge' is not one of standard, big, mlp, conv, subpixel");
    expect_set_error(&s, "model.hidden", "[1, 0]",
                     "--set model.hidden=[1, 0]: model.hidden[1]: 0 is out of "
                     "range [1, 100000]");
    expect_set_error(&s, "train.optimizer", "{lr: 0.1, eps: 0}",
                     "--set train.optimizer={lr: 0.1, eps: 0}: "
                     "train.optimizer.eps: 0 is out of range (0, 1]");
    expect_set_error(&s, "train", "5",
                     "--set train=5: expected a mapping of keys, got '5'");
    expect_set_error(&s, "train.stpes", "5",
                     "--set train.stpes=5: unknown key 'train.stpes' (did you "
                     "mean 'train.steps'?)");
    expect_set_error(&s, "train.epochs", "5",
                     "--set train.epochs=5: unknown key 'train.epochs'; keys in "
                     "'train': steps, batch, optimizer, log_every, eval_every, "
                     "checkpoint_every, threads");
    expect_set_error(&s, "", "5",
                     "--set =5: unknown key ''; valid keys: name, data, model, "
                     "likelihood, objective, train, eval, seeds, seed");
    expect_set_error(&s, "seeds", "[1, 2",
                     "--set seeds=[1, 2: YAML syntax error: did not find "
                     "expected ',' or ']' (while parsing a flow sequence)");

    /* --set checks values alone; vr_spec_check then sees the whole spec. */
    vr_spec_defaults(&s);
    CHECK(vr_spec_set(&s, "model.hidden", "[32]", &e) == 0, "%s", e.msg);
    CHECK(vr_spec_check(&s, &e) == -1, "hidden with arch standard passed");
    CHECK(strcmp(e.msg, "model.hidden applies only to arch: mlp (arch is "
                        "standard); use arch: mlp") == 0, "got: %s", e.msg);
    CHECK(vr_spec_set(&s, "model.arch", "mlp", &e) == 0, "%s", e.msg);
    CHECK(vr_spec_check(&s, &e) == 0, "%s", e.msg);
}

/* ----------------------------------------------------------- key table -- */

static void test_table(void)
{
    char buf[64];
    for (int i = 0; i < vr_spec_n_keys; i++) {
        const vr_key *r = &vr_spec_keys[i];
        size_t want = 0;
        switch (r->type) {
        case VR_KEY_INT:
        case VR_KEY_ENUM: want = sizeof(int); break;
        case VR_KEY_LONG: want = sizeof(long); break;
        case VR_KEY_DOUBLE: want = sizeof(double); break;
        case VR_KEY_STRING: want = r->size; break;
        case VR_KEY_INT_LIST: want = (size_t)r->max_n * sizeof(int); break;
        case VR_KEY_LONG_LIST: want = (size_t)r->max_n * sizeof(long); break;
        }
        CHECK(r->size == want && r->offset + r->size <= sizeof(vr_spec),
              "%s: field size %zu, type wants %zu", r->key, r->size, want);
        CHECK(r->help && !strchr(r->help, '|'), "%s: help breaks the table", r->key);
        CHECK(vr_key_find(r->key) == r, "%s: not unique", r->key);
        CHECK(!vr_key_is_section(r->key), "%s: both a key and a section", r->key);
        if (r->only_key) {
            const vr_key *c = vr_key_find(r->only_key);
            int found = 0;
            for (int j = 0; c && c->type == VR_KEY_ENUM && c->choices[j]; j++)
                found |= strcmp(c->choices[j], r->only_value) == 0;
            CHECK(found, "%s: only_key %s: %s is not a choice", r->key,
                  r->only_key, r->only_value);
        }
        if (r->type == VR_KEY_INT || r->type == VR_KEY_INT_LIST)
            CHECK(r->lo >= INT_MIN && r->hi <= INT_MAX, "%s: bounds exceed int",
                  r->key);
        /* Fields do not overlap (an offsetof copied from the row above). */
        for (int j = 0; j < i; j++) {
            const vr_key *o = &vr_spec_keys[j];
            CHECK(r->offset >= o->offset + o->size || o->offset >= r->offset + r->size,
                  "%s overlaps %s", r->key, o->key);
        }
    }
    CHECK(vr_edit_distance("stpes", "steps", 2) == 1, "swap counts as one edit");
    CHECK(vr_edit_distance("abc", "xyz", 2) == 3, "distance over limit");
    vr_key_level_names("train.optimizer", buf, sizeof buf);
    CHECK(strcmp(buf, "kind, lr, beta1, beta2, eps") == 0, "level names: %s", buf);
}

/* ----------------------------------------------------------------- docs -- */

/* The generated table, as vr_spec_keys_markdown writes it (malloc'd). */
static char *markdown_table(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    vr_spec_keys_markdown(f);
    fclose(f);
    return text;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (text) text[fread(text, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return text;
}

/* Finds the generated part of docs/spec.md: [*begin, *end). */
static int find_table(char *doc, char **begin, char **end)
{
    char *b = strstr(doc, BEGIN_MARK);
    char *e = b ? strstr(b, END_MARK) : NULL;
    if (!e) return -1;
    *begin = b + strlen(BEGIN_MARK);
    *end = e;
    return 0;
}

static void test_docs(void)
{
    char *doc = read_all(DOCS), *table = markdown_table(), *b, *e;
    CHECK(doc != NULL, "cannot read %s", DOCS);
    CHECK(table != NULL, "open_memstream failed");
    if (doc && table) {
        int found = find_table(doc, &b, &e) == 0;
        CHECK(found, "%s has no generated key table markers", DOCS);
        if (found)
            CHECK((size_t)(e - b) == strlen(table) &&
                  strncmp(b, table, strlen(table)) == 0,
                  "%s is out of date with runner/spec_keys.c: run "
                  "`unit_spec --update-docs` from the build's tests folder", DOCS);
    }
    free(doc);
    free(table);
}

/* The example at the top of docs/spec.md (its first ```yaml block) is a
 * valid spec that means what its text says. */
static void test_docs_example(void)
{
    char *doc = read_all(DOCS);
    char *b = doc ? strstr(doc, "```yaml\n") : NULL;
    char *e = b ? strstr(b + 8, "```") : NULL;
    CHECK(e != NULL, "no ```yaml example in %s", DOCS);
    if (e) {
        *e = '\0';
        vr_spec s;
        vr_err err = {{0}};
        int rc = vr_spec_load_string(b + 8, "mnist_beta4.yaml", &s, &err);
        CHECK(rc == 0, "docs example: %s", err.msg);
        CHECK(rc || (s.objective.kind == VR_OBJ_BETA && s.objective.beta == 4.0 &&
                     s.train.steps == 20000 && s.n_seeds == 3),
              "docs example read wrong");
    }
    free(doc);
}

/* Rewrites the generated part of docs/spec.md in place. */
static int update_docs(void)
{
    char *doc = read_all(DOCS), *table = markdown_table(), *b, *e;
    int rc = 1;
    if (doc && table && find_table(doc, &b, &e) == 0) {
        FILE *f = fopen(DOCS, "wb");
        if (f) {
            fwrite(doc, 1, (size_t)(b - doc), f);
            fputs(table, f);
            fputs(e, f);
            rc = fclose(f) == 0 ? 0 : 1;
        }
    }
    fprintf(stderr, rc ? "could not update %s\n" : "updated %s\n", DOCS);
    free(doc);
    free(table);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--update-docs") == 0) return update_docs();
    test_defaults();
    test_full_file();
    test_file_errors_and_names();
    test_values();
    test_unknown_keys();
    test_type_errors();
    test_shape_errors();
    test_range_errors();
    test_cross_key_errors();
    test_syntax_errors();
    test_round_trip();
    test_set();
    test_table();
    test_docs();
    test_docs_example();
    return check_result();
}
