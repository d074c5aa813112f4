/* unit_sweep.c: sweep expansion (runner/sweep.h).
 *
 * Writes sweep and base files into a fresh temporary folder (sweeps/ and
 * configs/ side by side, as in the repository) and checks: the run count,
 * the run-ids and their order, that every run's fields are set from the
 * right layer, base paths relative to the sweep file, every error with its
 * exact FILE:LINE:COL, a plain spec as a sweep of its seeds, vr_sweep_set,
 * and that every checked-in sweeps/NAME.yaml loads with its expected count.
 *
 * In expected messages '@' stands for the temporary folder. Positions are
 * counted by hand; the comment under each case shows the count.
 */
#include "runner/spec.h"
#include "runner/spec_internal.h"
#include "runner/sweep.h"
#include "tests/check.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SWEEPS VR_SOURCE_DIR "/sweeps/"
#define CONFIGS VR_SOURCE_DIR "/configs/"

static char tmp[256];

/* ------------------------------------------------------------- helpers -- */

/* Writes TEXT to tmp/REL. */
static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* tmp/REL, in one of a few rotating buffers. */
static const char *at(const char *rel)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, 512, "%s/%s", tmp, rel);
    return b;
}

/* WANT with each '@' replaced by tmp. */
static const char *expand_want(const char *want, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *p = want; *p && n + 1 < cap; p++) {
        if (*p == '@') n += (size_t)snprintf(buf + n, cap - n, "%s", tmp);
        else buf[n++] = *p;
        if (n >= cap) n = cap - 1;
    }
    buf[n] = '\0';
    return buf;
}

/* Writes TEXT to tmp/sweeps/NAME, loads it and checks that it fails with
 * exactly WANT ('@' for tmp). */
static void expect_error_at(int line, const char *name, const char *text,
                            const char *want)
{
    char rel[128], w[2048];
    snprintf(rel, sizeof rel, "sweeps/%s", name);
    put(rel, text);
    expand_want(want, w, sizeof w);
    vr_sweep sw;
    vr_err e = {{0}};
    int rc = vr_sweep_load(at(rel), &sw, &e);
    CHECK(rc == -1, "(line %d) %s loaded, but wanted: %s", line, name, w);
    CHECK(strcmp(e.msg, w) == 0, "(line %d) %s\n  got:  %s\n  want: %s", line,
          name, e.msg, w);
    CHECK(sw.runs == NULL && sw.n_runs == 0 && sw.src == NULL,
          "(line %d) a failed load left runs behind", line);
    vr_sweep_free(&sw);
}
#define EXPECT_ERROR(name, text, want) expect_error_at(__LINE__, name, text, want)

/* Loads tmp/sweeps/NAME after writing TEXT; checks it succeeds. */
static int load_ok(const char *name, const char *text, vr_sweep *sw)
{
    char rel[128];
    snprintf(rel, sizeof rel, "sweeps/%s", name);
    put(rel, text);
    vr_err e = {{0}};
    int rc = vr_sweep_load(at(rel), sw, &e);
    CHECK(rc == 0, "%s: %s", name, e.msg);
    return rc;
}

static void expect_set_error(vr_sweep *sw, const char *key, const char *value,
                             const char *want)
{
    char w[2048];
    expand_want(want, w, sizeof w);
    int n = sw->n_runs;
    vr_run_item *runs = sw->runs;
    vr_err e = {{0}};
    CHECK(vr_sweep_set(sw, key, value, &e) == -1, "--set %s=%s succeeded", key, value);
    CHECK(strcmp(e.msg, w) == 0, "\n  got:  %s\n  want: %s", e.msg, w);
    CHECK(sw->n_runs == n && sw->runs == runs, "--set %s=%s changed the sweep "
          "although it failed", key, value);
}

/* --------------------------------------------------------------- files -- */

static const char *BASE =
    "name: basename\n"
    "data: {set: mnist, binarize: dynamic}\n"
    "model: {arch: mlp, hidden: [32], latent: 4}\n"
    "objective: {kind: elbo}\n"
    "train: {steps: 100, batch: 32}\n"
    "seeds: [0]\n";

/* The main sweep: 2 variants x 3x2 grid x 3 seeds = 36 runs. */
static const char *MAIN =
    "base: ../configs/base.yaml\n"                            /* 1 */
    "objective: {kind: beta}\n"                               /* 2 */
    "train: {steps: 7}\n"                                     /* 3 */
    "grid:\n"                                                 /* 4 */
    "  objective.beta: [0.01, 0.1, 1]\n"                      /* 5 */
    "  model.latent: [2, 10]\n"                               /* 6 */
    "variants:\n"                                             /* 7 */
    "  bern: {likelihood: {kind: bernoulli}}\n"               /* 8 */
    "  cb: {likelihood: {kind: continuous_bernoulli}, data: {binarize: none}}\n"
    "seeds: [3, 1, 4]\n";                                     /* 10 */

static void setup(void)
{
    /* An absolute path, for the test of an absolute base: path. */
    char cwd[200];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "/tmp");
    snprintf(tmp, sizeof tmp, "%s/unit_sweep.XXXXXX", cwd);
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        exit(1);
    }
    char d[512];
    snprintf(d, sizeof d, "%s/sweeps", tmp);
    mkdir(d, 0777);
    snprintf(d, sizeof d, "%s/configs", tmp);
    mkdir(d, 0777);
    put("configs/base.yaml", BASE);
    put("sweeps/s.yaml", MAIN);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            remove_tree(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---------------------------------------------------------- expansion -- */

static void test_main_sweep(void)
{
    vr_sweep sw;
    vr_err e = {{0}};
    int rc = vr_sweep_load(at("sweeps/s.yaml"), &sw, &e);
    CHECK(rc == 0, "%s", e.msg);
    if (rc) return;
    CHECK(sw.n_runs == 36, "%d runs, wanted 2 x 3x2 x 3 = 36", sw.n_runs);
    CHECK(strcmp(sw.name, "s") == 0, "name '%s': the sweep file's stem, not "
          "the base's name", sw.name);
    CHECK(strcmp(sw.out, "") == 0, "out '%s'", sw.out);
    CHECK(strcmp(sw.file, at("sweeps/s.yaml")) == 0, "file '%s'", sw.file);

    /* Order: variants x beta (outer) x latent x seeds (inner, file order). */
    const char *vars[] = {"bern", "cb"}, *betas[] = {"0.01", "0.1", "1"};
    const double beta_v[] = {0.01, 0.1, 1};
    const int latents[] = {2, 10};
    const long seeds[] = {3, 1, 4};
    int i = 0;
    for (int v = 0; v < 2; v++)
        for (int b = 0; b < 3; b++)
            for (int l = 0; l < 2; l++)
                for (int s = 0; s < 3; s++, i++) {
                    if (i >= sw.n_runs) break;
                    const vr_run_item *r = &sw.runs[i];
                    char want[256];
                    snprintf(want, sizeof want, "%s-beta%s-latent%d-seed%ld",
                             vars[v], betas[b], latents[l], seeds[s]);
                    CHECK(strcmp(r->id, want) == 0, "run %d: id '%s', want '%s'",
                          i, r->id, want);
                    CHECK(strcmp(r->variant, vars[v]) == 0, "run %d: variant '%s'",
                          i, r->variant);
                    CHECK(r->n_swept == 2, "run %d: %d swept", i, r->n_swept);
                    CHECK(!strcmp(r->swept[0].key, "objective.beta") &&
                          !strcmp(r->swept[0].value, betas[b]),
                          "run %d: swept[0] %s=%s", i, r->swept[0].key,
                          r->swept[0].value);
                    char lt[8];
                    snprintf(lt, sizeof lt, "%d", latents[l]);
                    CHECK(!strcmp(r->swept[1].key, "model.latent") &&
                          !strcmp(r->swept[1].value, lt),
                          "run %d: swept[1] %s=%s", i, r->swept[1].key,
                          r->swept[1].value);
                    /* Every layer's keys arrived. */
                    const vr_spec *p = &r->spec;
                    CHECK(p->objective.beta == beta_v[b], "run %d: beta %g", i,
                          p->objective.beta);
                    CHECK(p->model.latent == latents[l], "run %d: latent %d", i,
                          p->model.latent);
                    CHECK(p->objective.kind == VR_OBJ_BETA, "run %d: objective "
                          "kind (the sweep's own key)", i);
                    CHECK(p->likelihood.kind == (v ? VR_LIK_CONTINUOUS_BERNOULLI
                                                   : VR_LIK_BERNOULLI),
                          "run %d: likelihood kind (the variant)", i);
                    CHECK(p->data.binarize == (v ? VR_BIN_NONE : VR_BIN_DYNAMIC),
                          "run %d: binarize", i);
                    CHECK(p->seed == seeds[s], "run %d: seed %ld", i, p->seed);
                    CHECK(p->n_seeds == 3 && p->seeds[0] == 3 && p->seeds[2] == 4,
                          "run %d: seeds are the sweep's", i);
                    CHECK(p->train.steps == 7, "run %d: steps %ld (sweep over "
                          "base)", i, p->train.steps);
                    CHECK(p->train.batch == 32, "run %d: batch %d (the base's)",
                          i, p->train.batch);
                    CHECK(p->model.arch == VR_ARCH_MLP && p->model.n_hidden == 1 &&
                          p->model.hidden[0] == 32, "run %d: the base's model", i);
                    CHECK(strcmp(p->name, "s") == 0, "run %d: name '%s'", i, p->name);
                }
    /* Unique ids, each a safe folder name. */
    for (int a = 0; a < sw.n_runs; a++) {
        for (const char *c = sw.runs[a].id; *c; c++)
            CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789.+_-", *c) != NULL, "id '%s'", sw.runs[a].id);
        for (int b = 0; b < a; b++)
            CHECK(strcmp(sw.runs[a].id, sw.runs[b].id) != 0, "id '%s' twice",
                  sw.runs[a].id);
    }
    vr_sweep_free(&sw);
    CHECK(sw.runs == NULL && sw.n_runs == 0 && sw.src == NULL, "free zeroes");
    vr_sweep_free(&sw);  /* twice is fine */
}

/* A file without base, grid and variants: a sweep of its own seeds, equal
 * to what vr_spec_load reads, with seed set. */
static void test_plain_spec(void)
{
    vr_sweep sw;
    vr_spec spec;
    vr_err e = {{0}};
    const char *path = CONFIGS "mnist_mlp.yaml";
    CHECK(vr_sweep_load(path, &sw, &e) == 0, "%s", e.msg);
    CHECK(vr_spec_load(path, &spec, &e) == 0, "%s", e.msg);
    CHECK(sw.n_runs == spec.n_seeds && sw.n_runs == 3, "%d runs", sw.n_runs);
    CHECK(strcmp(sw.name, "mnist_mlp") == 0, "name '%s'", sw.name);
    for (int i = 0; i < sw.n_runs && i < spec.n_seeds; i++) {
        char want[16], a[VR_SPEC_YAML_MAX], b[VR_SPEC_YAML_MAX];
        snprintf(want, sizeof want, "seed%ld", spec.seeds[i]);
        CHECK(strcmp(sw.runs[i].id, want) == 0, "id '%s', want '%s'",
              sw.runs[i].id, want);
        CHECK(sw.runs[i].n_swept == 0 && sw.runs[i].variant[0] == '\0',
              "a plain spec sweeps nothing");
        spec.seed = spec.seeds[i];
        vr_spec_to_yaml(&spec, a, sizeof a);
        vr_spec_to_yaml(&sw.runs[i].spec, b, sizeof b);
        CHECK(strcmp(a, b) == 0, "run %d differs from vr_spec_load:\n%s\nvs\n%s",
              i, b, a);
    }
    vr_sweep_free(&sw);

    /* Unnamed: the stem; seeds as written. */
    CHECK(load_ok("plain_one.yaml", "model: {latent: 3}\nseeds: [5, 2]\n", &sw) == 0, "load");
    CHECK(sw.n_runs == 2, "%d runs", sw.n_runs);
    if (sw.n_runs == 2) {
        CHECK(!strcmp(sw.runs[0].id, "seed5") && !strcmp(sw.runs[1].id, "seed2"),
              "ids %s %s", sw.runs[0].id, sw.runs[1].id);
        CHECK(sw.runs[1].spec.seed == 2 && sw.runs[1].spec.model.latent == 3, "fields");
        CHECK(!strcmp(sw.name, "plain_one") && !strcmp(sw.runs[0].spec.name, "plain_one"),
              "name '%s'", sw.name);
    }
    vr_sweep_free(&sw);

    /* No seeds anywhere: the default [0]. */
    CHECK(load_ok("plain_default.yaml", "train: {steps: 3}\n", &sw) == 0, "load");
    CHECK(sw.n_runs == 1 && !strcmp(sw.runs[0].id, "seed0"), "default seeds");
    vr_sweep_free(&sw);
}

/* name:, out:, an absolute base, a sweep without base, variants only. */
static void test_keys(void)
{
    vr_sweep sw;
    char text[1024];
    snprintf(text, sizeof text,
             "name: renamed\n"
             "out: elsewhere/results\n"
             "base: %s\n"
             "variants:\n"
             "  a:\n"
             "  b: {model: {latent: 9}}\n"
             "seeds: [0, 1]\n", at("configs/base.yaml"));
    if (load_ok("abs.yaml", text, &sw) == 0) {
        CHECK(!strcmp(sw.name, "renamed"), "name '%s'", sw.name);
        CHECK(!strcmp(sw.out, "elsewhere/results"), "out '%s'", sw.out);
        CHECK(sw.n_runs == 4, "%d runs", sw.n_runs);
        const char *ids[] = {"a-seed0", "a-seed1", "b-seed0", "b-seed1"};
        for (int i = 0; i < 4 && i < sw.n_runs; i++) {
            CHECK(!strcmp(sw.runs[i].id, ids[i]), "id '%s' want '%s'", sw.runs[i].id, ids[i]);
            CHECK(!strcmp(sw.runs[i].spec.name, "renamed"), "spec name");
            CHECK(sw.runs[i].spec.model.latent == (i < 2 ? 4 : 9),
                  "variant a (empty) keeps the base's latent, b sets 9");
            CHECK(sw.runs[i].n_swept == 0, "variants are not swept values");
        }
        vr_sweep_free(&sw);
    }

    /* No base: defaults and the sweep's own keys. */
    if (load_ok("nobase.yaml",
                "data: {set: fashion_mnist, binarize: none}\n"
                "grid:\n"
                "  likelihood.kind: [bernoulli, continuous_bernoulli]\n", &sw) == 0) {
        CHECK(sw.n_runs == 2, "%d runs", sw.n_runs);
        if (sw.n_runs == 2) {
            CHECK(!strcmp(sw.runs[1].id, "kindcontinuous_bernoulli-seed0"), "id '%s'",
                  sw.runs[1].id);
            CHECK(sw.runs[1].spec.data.set == VR_SET_FASHION_MNIST &&
                  sw.runs[1].spec.likelihood.kind == VR_LIK_CONTINUOUS_BERNOULLI,
                  "fields");
        }
        vr_sweep_free(&sw);
    }
}

/* Run-id parts: shared last components, lists, sanitised values. */
static void test_ids(void)
{
    vr_sweep sw;
    if (load_ok("shared.yaml",
                "objective: {kind: anneal}\n"
                "grid:\n"
                "  objective.anneal.steps: [10, 20]\n"
                "  train.steps: [30]\n"
                "  model.latent: [2]\n", &sw) == 0) {
        CHECK(sw.n_runs == 2, "%d runs", sw.n_runs);
        if (sw.n_runs == 2) {
            CHECK(!strcmp(sw.runs[1].id,
                          "objective_anneal_steps20-train_steps30-latent2-seed0"),
                  "id '%s'", sw.runs[1].id);
            CHECK(sw.runs[1].spec.objective.anneal.steps == 20 &&
                  sw.runs[1].spec.train.steps == 30, "fields");
            CHECK(!strcmp(sw.runs[1].swept[0].key, "objective.anneal.steps"),
                  "swept key '%s'", sw.runs[1].swept[0].key);
        }
        vr_sweep_free(&sw);
    }
    if (load_ok("lists.yaml",
                "model: {arch: mlp}\n"
                "grid:\n"
                "  model.hidden: [[100], [64, 32]]\n"
                "  objective.kind: [elbo]\n"
                "  data.dir: ['a b', c/d, '']\n", &sw) == 0) {
        CHECK(sw.n_runs == 6, "%d runs", sw.n_runs);
        if (sw.n_runs == 6) {
            CHECK(!strcmp(sw.runs[0].id, "hidden100-kindelbo-dira_b-seed0"),
                  "id '%s'", sw.runs[0].id);
            CHECK(!strcmp(sw.runs[4].id, "hidden64x32-kindelbo-dirc_d-seed0"),
                  "id '%s'", sw.runs[4].id);
            CHECK(!strcmp(sw.runs[5].id, "hidden64x32-kindelbo-dir-seed0"),
                  "id '%s'", sw.runs[5].id);
            CHECK(!strcmp(sw.runs[4].swept[0].value, "[64, 32]"), "swept '%s'",
                  sw.runs[4].swept[0].value);
            CHECK(!strcmp(sw.runs[4].swept[2].value, "c/d"), "swept '%s'",
                  sw.runs[4].swept[2].value);
            CHECK(sw.runs[4].spec.model.n_hidden == 2 &&
                  sw.runs[4].spec.model.hidden[1] == 32, "hidden");
            CHECK(!strcmp(sw.runs[4].spec.data.dir, "c/d"), "dir");
        }
        vr_sweep_free(&sw);
    }
    /* Values as written: 1e-3 stays 1e-3, -90 keeps its sign. */
    if (load_ok("text.yaml",
                "objective: {kind: geco}\n"
                "grid:\n"
                "  objective.geco.target: [-90, +85.5]\n"
                "  objective.geco.lr: [1e-3]\n", &sw) == 0) {
        CHECK(sw.n_runs == 2 && !strcmp(sw.runs[0].id, "target-90-lr1e-3-seed0") &&
              !strcmp(sw.runs[1].id, "target+85.5-lr1e-3-seed0"), "ids %s %s",
              sw.runs[0].id, sw.n_runs > 1 ? sw.runs[1].id : "");
        vr_sweep_free(&sw);
    }
}

/* -------------------------------------------------------------- errors -- */

static void test_errors_shape(void)
{
    EXPECT_ERROR("empty.yaml", "# nothing\n",
                 "@/sweeps/empty.yaml:1:1: empty file: expected a mapping of "
                 "spec or sweep keys (docs/sweeps.md)");
    EXPECT_ERROR("list.yaml", "- a\n",
                 "@/sweeps/list.yaml:1:1: expected a mapping of spec or sweep "
                 "keys (docs/sweeps.md), got a list");
    EXPECT_ERROR("gird.yaml",
                 "base: ../configs/base.yaml\n"
                 "gird:\n"
                 "  objective.beta: [1]\n",
                 "@/sweeps/gird.yaml:2:1: unknown key 'gird' (did you mean 'grid'?)");
    EXPECT_ERROR("variant.yaml", "variant: {a: {}}\n",
                 "@/sweeps/variant.yaml:1:1: unknown key 'variant' (did you mean "
                 "'variants'?)");
    EXPECT_ERROR("modle.yaml", "modle: {latent: 2}\n",
                 "@/sweeps/modle.yaml:1:1: unknown key 'modle' (did you mean 'model'?)");
    EXPECT_ERROR("zzz.yaml", "zzzzzz: 1\n",
                 "@/sweeps/zzz.yaml:1:1: unknown key 'zzzzzz'; valid keys: name, "
                 "data, model, likelihood, objective, train, eval, seeds, seed, "
                 "and for sweeps base, grid, variants, out");
    /* Dotted keys at the top: the spec loader's advice. */
    EXPECT_ERROR("dotted.yaml", "train.steps: 5\n",
                 "@/sweeps/dotted.yaml:1:1: unknown key 'train.steps': spec files "
                 "nest keys; write train: {steps: ...}");
    EXPECT_ERROR("dup.yaml",
                 "grid: {model.latent: [2]}\n"
                 "seeds: [1]\n"
                 "grid: {model.latent: [3]}\n",
                 "@/sweeps/dup.yaml:3:1: duplicate key 'grid' (first at 1:1)");
    EXPECT_ERROR("out.yaml", "out:\n",
                 "@/sweeps/out.yaml:1:5: out: expected a folder path, got an "
                 "empty value");
    /* A spec key in the sweep file is checked as in a spec. */
    EXPECT_ERROR("own.yaml",
                 "base: ../configs/base.yaml\n"
                 "train: {stpes: 5}\n",
                 /* "train: {" is 8 characters: stpes at 2:9 */
                 "@/sweeps/own.yaml:2:9: unknown key 'stpes' in 'train' (did you "
                 "mean 'steps'?)");
}

static void test_errors_base(void)
{
    EXPECT_ERROR("nobase.yaml", "base: ../configs/nope.yaml\n",
                 /* "base: " is 6 characters: the value at 1:7 */
                 "@/sweeps/nobase.yaml:1:7: base: cannot open "
                 "@/sweeps/../configs/nope.yaml: No such file or directory");
    EXPECT_ERROR("baselist.yaml", "base: [a]\n",
                 "@/sweeps/baselist.yaml:1:7: base: expected the path of a spec "
                 "file, got a list");
    EXPECT_ERROR("basesweep.yaml", "base: s.yaml\n",
                 "@/sweeps/basesweep.yaml:1:7: base: @/sweeps/s.yaml is itself a "
                 "sweep (it has base: at 1:1); a base must be a plain spec");
    put("configs/empty.yaml", "\n");
    EXPECT_ERROR("baseempty.yaml", "base: ../configs/empty.yaml\n",
                 "@/sweeps/baseempty.yaml:1:7: base: @/sweeps/../configs/empty.yaml "
                 "is empty; a base is a spec file");
    /* A bad value in the base points into the base. */
    put("configs/bad.yaml",
        "name: bad\n"
        "train: {steps: 10, batch: 0}\n");
    /*   train: {steps: 10, batch: 0}
     *   1234567890123456789012345678   -> 0 at 2:27 */
    EXPECT_ERROR("badbase.yaml",
                 "base: ../configs/bad.yaml\n"
                 "grid: {model.latent: [2, 3]}\n",
                 "@/sweeps/../configs/bad.yaml:2:27: train.batch: 0 is out of "
                 "range [1, 65536]");
    /* So does a cross-key error whose key the base wrote. */
    put("configs/cross.yaml",
        "name: cross\n"
        "model: {hidden: [5]}\n");
    EXPECT_ERROR("crossbase.yaml",
                 "base: ../configs/cross.yaml\n"
                 "grid:\n"
                 "  model.latent: [2]\n",
                 /* "model: {" is 8 characters: hidden at 2:9 */
                 "@/sweeps/../configs/cross.yaml:2:9: model.hidden applies only "
                 "to arch: mlp (arch is standard); use arch: mlp (run latent2-seed0)");
}

static void test_errors_grid(void)
{
    EXPECT_ERROR("g1.yaml",
                 "base: ../configs/base.yaml\n"
                 "grid: [1, 2]\n",
                 "@/sweeps/g1.yaml:2:7: grid: expected a mapping of dotted keys "
                 "to lists of values, got a list");
    EXPECT_ERROR("g2.yaml", "grid: {}\n",
                 "@/sweeps/g2.yaml:1:7: grid: empty; give at least one key: "
                 "[values], or remove grid");
    /*   "  objective.beta: " is 18 characters: the value at 4:19 */
    EXPECT_ERROR("g3.yaml",
                 "base: ../configs/base.yaml\n"
                 "objective: {kind: beta}\n"
                 "grid:\n"
                 "  objective.beta: 0.1\n",
                 "@/sweeps/g3.yaml:4:19: grid: objective.beta: expected a list of "
                 "values, got '0.1' (a list of one is written [0.1])");
    EXPECT_ERROR("g4.yaml",
                 "base: ../configs/base.yaml\n"
                 "objective: {kind: beta}\n"
                 "grid:\n"
                 "  objective.beta: []\n",
                 "@/sweeps/g4.yaml:4:19: grid: objective.beta: empty list; give at "
                 "least one value");
    EXPECT_ERROR("g5.yaml",
                 "base: ../configs/base.yaml\n"
                 "grid:\n"
                 "  objective.bta: [1]\n",
                 "@/sweeps/g5.yaml:3:3: grid: unknown key 'objective.bta' (did you "
                 "mean 'objective.beta'?)");
    EXPECT_ERROR("g6.yaml",
                 "grid:\n"
                 "  objective: [{kind: elbo}]\n",
                 "@/sweeps/g6.yaml:2:3: grid: 'objective' is a section; grid one of "
                 "its keys, written dotted (objective.KEY: [...] with KEY one of "
                 "kind, beta, anneal, geco, samples), or use variants");
    EXPECT_ERROR("g7.yaml",
                 "grid:\n"
                 "  foo.bar.baz: [1]\n",
                 "@/sweeps/g7.yaml:2:3: grid: unknown key 'foo.bar.baz'; grid keys "
                 "are dotted spec keys (`vaerun keys` lists them)");
    EXPECT_ERROR("g8.yaml",
                 "grid:\n"
                 "  seeds: [[1], [2]]\n",
                 "@/sweeps/g8.yaml:2:3: grid: seeds cannot be swept; seeds: at the "
                 "top level gives the seeds of every grid point");
    EXPECT_ERROR("g9.yaml",
                 "grid:\n"
                 "  name: [a, b]\n",
                 "@/sweeps/g9.yaml:2:3: grid: name cannot be swept: it names the sweep");
    EXPECT_ERROR("g10.yaml",
                 "grid:\n"
                 "  model.latent: [2]\n"
                 "  model.latent: [3]\n",
                 "@/sweeps/g10.yaml:3:3: duplicate key 'model.latent' in 'grid' "
                 "(first at 2:3)");
    /* A bad entry: the error is at the entry.
     *   "  objective.beta: [0.5, 0, 2]"
     *    1234567890123456789012345      -> 0 at 4:25 */
    EXPECT_ERROR("g11.yaml",
                 "base: ../configs/base.yaml\n"
                 "objective: {kind: beta}\n"
                 "grid:\n"
                 "  objective.beta: [0.5, 0, 2]\n",
                 "@/sweeps/g11.yaml:4:25: objective.beta: 0 is out of range (0, 1000]");
    /*   "  model.latent: [2, abc]": abc at 2:21 */
    EXPECT_ERROR("g12.yaml",
                 "grid:\n"
                 "  model.latent: [2, abc]\n",
                 "@/sweeps/g12.yaml:2:21: model.latent: expected an integer, got 'abc'");
    /* The same value twice, written two ways: 1e-1 at 4:25, 0.1 at 4:20. */
    EXPECT_ERROR("g13.yaml",
                 "base: ../configs/base.yaml\n"
                 "objective: {kind: beta}\n"
                 "grid:\n"
                 "  objective.beta: [0.1, 1e-1]\n",
                 "@/sweeps/g13.yaml:4:25: grid: objective.beta: 1e-1 is the same "
                 "value as 0.1 (at 4:20)");
    /* Two values, one run-id: "  data.dir: [a/b, a_b]": a/b at 2:14, a_b
     * at 2:19. */
    EXPECT_ERROR("g14.yaml",
                 "grid:\n"
                 "  data.dir: [a/b, a_b]\n",
                 "@/sweeps/g14.yaml:2:19: grid: data.dir: 'a_b' and 'a/b' (at 2:14) "
                 "give the same run-id part 'a_b'");
    /* A cross-key error brought by one grid entry points at that entry:
     *   "  data.binarize: [none, dynamic]": dynamic at 4:25 */
    EXPECT_ERROR("g15.yaml",
                 "base: ../configs/base.yaml\n"
                 "likelihood: {kind: logistic}\n"
                 "grid:\n"
                 "  data.binarize: [none, dynamic]\n",
                 "@/sweeps/g15.yaml:4:25: data.binarize: the logistic likelihood "
                 "models 8-bit grey levels; use none (run binarizedynamic-seed0)");
    /* The sweep's own key sets what the grid sweeps:
     *   "objective: {kind: beta, beta: 2}": the second beta at 2:25 */
    EXPECT_ERROR("g16.yaml",
                 "base: ../configs/base.yaml\n"
                 "objective: {kind: beta, beta: 2}\n"
                 "grid:\n"
                 "  objective.beta: [1, 2]\n",
                 "@/sweeps/g16.yaml:2:25: objective.beta is swept by the grid (at "
                 "4:3); a value here is never used: remove it");
    /* Values with '-' that line up with a variant's name: one id twice. */
    EXPECT_ERROR("g17.yaml",
                 "grid:\n"
                 "  data.dir: ['2', 1-dir2]\n"
                 "variants:\n"
                 "  v-dir1: {}\n"
                 "  v: {}\n",
                 "@/sweeps/g17.yaml: two runs would have the run-id "
                 "'v-dir1-dir2-seed0' (grid values with '-' in them run together); "
                 "change a value");
    /* Run-ids longer than 255 bytes. */
    char longer[2048];
    const char *v63 = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";
    snprintf(longer, sizeof longer,
             "objective: {kind: anneal}\n"
             "grid:\n"
             "  data.dir: [%s]\n"
             "  objective.anneal.start: [0.0000000000000000000000000000000000000000000000000000000000001]\n"
             "  objective.anneal.end: [1.000000000000000000000000000000000000000000000000000000000000]\n"
             "variants:\n"
             "  %s: {}\n", v63, v63);
    EXPECT_ERROR("g18.yaml", longer,
                 "@/sweeps/g18.yaml: the run-id 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...' "
                 "is longer than 255 bytes; use shorter variant names or values");
    /* The cap: 50 x 5 grid points x 50 seeds. */
    char big[4096];
    size_t n = (size_t)snprintf(big, sizeof big, "grid:\n  model.latent: [1");
    for (int i = 2; i <= 50; i++) n += (size_t)snprintf(big + n, sizeof big - n, ", %d", i);
    n += (size_t)snprintf(big + n, sizeof big - n, "]\n  train.batch: [1, 2, 3, 4, 5]\nseeds: [0");
    for (int i = 1; i < 50; i++) n += (size_t)snprintf(big + n, sizeof big - n, ", %d", i);
    snprintf(big + n, sizeof big - n, "]\n");
    EXPECT_ERROR("cap.yaml", big,
                 "@/sweeps/cap.yaml:1:1: the sweep expands to 12500 runs (grid 50x5 "
                 "x 50 seeds); at most 10000");
}

static void test_errors_variants(void)
{
    EXPECT_ERROR("v1.yaml", "variants: [a, b]\n",
                 "@/sweeps/v1.yaml:1:11: variants: expected a mapping of names to "
                 "partial specs, got a list");
    EXPECT_ERROR("v2.yaml",
                 "base: ../configs/base.yaml\n"
                 "variants:\n"
                 "  a: {model: {latent: 2}}\n"
                 "  b: {model: {latent: 3}}\n"
                 "  a: {model: {latent: 4}}\n",
                 "@/sweeps/v2.yaml:5:3: duplicate variant 'a' (first at 3:3)");
    EXPECT_ERROR("v3.yaml",
                 "variants:\n"
                 "  a: 3\n",
                 "@/sweeps/v3.yaml:2:6: variants: a: expected a mapping of spec "
                 "keys, got '3'");
    EXPECT_ERROR("v4.yaml",
                 "variants:\n"
                 "  a/b: {}\n",
                 "@/sweeps/v4.yaml:2:3: variant name 'a/b' may hold only letters, "
                 "digits, '.', '+', '_' and '-' (it goes into run-ids)");
    EXPECT_ERROR("v5.yaml",
                 "variants:\n"
                 "  a: {seeds: [1]}\n",
                 "@/sweeps/v5.yaml:2:7: variant 'a' sets seeds; variants cannot set "
                 "name, seed or seeds (seeds: at the top level applies to every "
                 "variant)");
    /* A bad value in a variant: at the value.
     *   "  a: {objective: {kind: gecko}}": gecko at 2:25 */
    EXPECT_ERROR("v6.yaml",
                 "variants:\n"
                 "  a: {objective: {kind: gecko}}\n",
                 "@/sweeps/v6.yaml:2:25: objective.kind: 'gecko' is not one of elbo, "
                 "beta, anneal, geco, iwae (did you mean 'geco'?)");
    /* A grid key also set by a variant: refused, at the variant's key.
     *   "  high: {objective: {beta: 4}}": beta at 7:22 */
    EXPECT_ERROR("v7.yaml",
                 "base: ../configs/base.yaml\n"
                 "objective: {kind: beta}\n"
                 "grid:\n"
                 "  objective.beta: [1, 2]\n"
                 "variants:\n"
                 "  low: {model: {latent: 2}}\n"
                 "  high: {objective: {beta: 4}}\n",
                 "@/sweeps/v7.yaml:7:22: variant 'high' sets objective.beta, which "
                 "the grid sweeps (at 4:3); the grid's value would always replace "
                 "it: remove one");
    /* A cross-key error brought by a variant: at the variant's key.
     *   "    objective: {beta: 2}": beta at 5:17 */
    EXPECT_ERROR("v8.yaml",
                 "base: ../configs/base.yaml\n"
                 "variants:\n"
                 "  plain: {}\n"
                 "  elbo:\n"
                 "    objective: {beta: 2}\n",
                 "@/sweeps/v8.yaml:5:17: objective.beta applies only to kind: beta "
                 "(kind is elbo); use kind: beta (run elbo-seed0)");
}

/* ---------------------------------------------------------------- --set -- */

static void test_set(void)
{
    vr_sweep sw;
    vr_err e = {{0}};
    if (vr_sweep_load(at("sweeps/s.yaml"), &sw, &e)) {
        CHECK(0, "%s", e.msg);
        return;
    }
    CHECK(vr_sweep_set(&sw, "train.steps", "5", &e) == 0, "%s", e.msg);
    CHECK(sw.n_runs == 36, "%d runs", sw.n_runs);
    for (int i = 0; i < sw.n_runs; i++)
        CHECK(sw.runs[i].spec.train.steps == 5, "run %d: steps %ld", i,
              sw.runs[i].spec.train.steps);
    /* --set wins over a variant. */
    CHECK(vr_sweep_set(&sw, "data.binarize", "static", &e) == 0, "%s", e.msg);
    CHECK(sw.runs[35].spec.data.binarize == VR_BIN_STATIC, "binarize");

    expect_set_error(&sw, "train.batch", "abc",
                     "--set train.batch=abc: expected an integer, got 'abc'");
    expect_set_error(&sw, "train.bacth", "3",
                     "--set train.bacth=3: unknown key 'train.bacth' (did you "
                     "mean 'train.batch'?)");
    expect_set_error(&sw, "seed", "3",
                     "--set seed=3: seed is set per run from seeds; use --set "
                     "seeds=[N]");
    expect_set_error(&sw, "objective.beta", "4",
                     "--set objective.beta=4: objective.beta is swept by the grid "
                     "(@/sweeps/s.yaml:5:3); --set cannot override it");
    expect_set_error(&sw, "model", "{latent: 3}",
                     "--set model={latent: 3}: model.latent is swept by the grid "
                     "(@/sweeps/s.yaml:6:3); --set cannot override it");
    /* A cross-key error after --set: at the key at fault, here the first
     * grid entry of beta (5:20). */
    expect_set_error(&sw, "objective.kind", "elbo",
                     "@/sweeps/s.yaml:5:20: objective.beta applies only to kind: "
                     "beta (kind is elbo); use kind: beta (run "
                     "bern-beta0.01-latent2-seed3)");
    /* The failures left the earlier --set in place. */
    CHECK(sw.runs[0].spec.train.steps == 5, "steps after failures");

    CHECK(vr_sweep_set(&sw, "seeds", "[9]", &e) == 0, "%s", e.msg);
    CHECK(sw.n_runs == 12, "%d runs after --set seeds=[9]", sw.n_runs);
    if (sw.n_runs == 12) {
        CHECK(!strcmp(sw.runs[11].id, "cb-beta1-latent10-seed9"), "id '%s'",
              sw.runs[11].id);
        CHECK(sw.runs[11].spec.seed == 9 && sw.runs[11].spec.train.steps == 5,
              "fields");
    }
    CHECK(vr_sweep_set(&sw, "name", "other", &e) == 0, "%s", e.msg);
    CHECK(!strcmp(sw.name, "other") && !strcmp(sw.runs[0].spec.name, "other"),
          "name '%s'", sw.name);
    expect_set_error(&sw, "name", "a/b",
                     "--set name=a/b: 'a/b' may hold only letters, digits, '.', "
                     "'_' and '-'");
    vr_sweep_free(&sw);
}

/* --------------------------------------------------- checked-in sweeps -- */

static void test_checked_in(void)
{
    static const struct { const char *file; int runs; const char *first, *last; } want[] = {
        {"beta.yaml", 36, "beta0.01-latent2-seed0", "beta4-latent10-seed2"},
        {"anneal_vs_geco.yaml", 9, "elbo-seed0", "geco-seed2"},
        {"anneal_vs_geco_quick.yaml", 9, "elbo-seed0", "geco-seed2"},
        {"likelihoods.yaml", 8, "bernoulli-seed0", "gaussian-seed1"},
        {"iwae_k.yaml", 8, "samples1-seed0", "samples50-seed1"},
        {"latent.yaml", 10, "latent2-seed0", "latent50-seed1"},
    };
    const int nw = (int)(sizeof want / sizeof want[0]);
    int seen = 0;
    DIR *d = opendir(SWEEPS);
    CHECK(d != NULL, "cannot list %s", SWEEPS);
    if (!d) return;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t len = strlen(ent->d_name);
        if (len < 5 || strcmp(ent->d_name + len - 5, ".yaml")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s%s", SWEEPS, ent->d_name);
        vr_sweep sw;
        vr_err e = {{0}};
        int rc = vr_sweep_load(path, &sw, &e);
        CHECK(rc == 0, "%s", e.msg);
        int k = 0;
        while (k < nw && strcmp(want[k].file, ent->d_name)) k++;
        CHECK(k < nw, "sweeps/%s: add its run count to test_checked_in", ent->d_name);
        if (rc == 0 && k < nw) {
            seen++;
            CHECK(sw.n_runs == want[k].runs, "%s: %d runs, want %d", ent->d_name,
                  sw.n_runs, want[k].runs);
            CHECK(sw.n_runs > 0 && !strcmp(sw.runs[0].id, want[k].first) &&
                  !strcmp(sw.runs[sw.n_runs - 1].id, want[k].last),
                  "%s: ids %s .. %s", ent->d_name, sw.n_runs ? sw.runs[0].id : "",
                  sw.n_runs ? sw.runs[sw.n_runs - 1].id : "");
            char stem[64];
            snprintf(stem, sizeof stem, "%.*s", (int)len - 5, ent->d_name);
            CHECK(!strcmp(sw.name, stem), "%s: name '%s'", ent->d_name, sw.name);
        }
        vr_sweep_free(&sw);
    }
    closedir(d);
    CHECK(seen == nw, "%d of the %d expected sweeps loaded", seen, nw);

    /* What each sweep promises. */
    vr_sweep sw;
    vr_err e = {{0}};
    if (vr_sweep_load(SWEEPS "beta.yaml", &sw, &e) == 0) {
        for (int i = 0; i < sw.n_runs; i++) {
            const vr_spec *s = &sw.runs[i].spec;
            CHECK(s->objective.kind == VR_OBJ_BETA && s->train.steps == 1024 &&
                  s->eval.iwae_samples == 50 && s->eval.iwae_images == 200 &&
                  s->model.arch == VR_ARCH_MLP && s->data.set == VR_SET_MNIST,
                  "beta.yaml run %s", sw.runs[i].id);
        }
        vr_sweep_free(&sw);
    }
    if (vr_sweep_load(SWEEPS "anneal_vs_geco.yaml", &sw, &e) == 0) {
        const vr_spec *a = &sw.runs[3].spec, *g = &sw.runs[6].spec;
        CHECK(a->objective.kind == VR_OBJ_ANNEAL && a->objective.anneal.start == 0 &&
              a->objective.anneal.end == 1 && a->objective.anneal.steps == 5000,
              "anneal variant");
        CHECK(g->objective.kind == VR_OBJ_GECO && g->objective.geco.target == -90 &&
              g->objective.geco.lr == 1e-3 && g->objective.geco.init == 1 &&
              g->objective.geco.variant == VR_GECO_SGD, "geco variant");
        CHECK(sw.runs[0].spec.objective.kind == VR_OBJ_ELBO &&
              sw.runs[0].spec.model.arch == VR_ARCH_STANDARD, "elbo variant");
        vr_sweep_free(&sw);
    }
    if (vr_sweep_load(SWEEPS "likelihoods.yaml", &sw, &e) == 0) {
        const vr_lik_kind k[] = {VR_LIK_BERNOULLI, VR_LIK_CONTINUOUS_BERNOULLI,
                                 VR_LIK_LOGISTIC, VR_LIK_GAUSSIAN};
        for (int i = 0; i < sw.n_runs && i < 8; i++) {
            const vr_spec *s = &sw.runs[i].spec;
            CHECK(s->likelihood.kind == k[i / 2] && s->data.set == VR_SET_FASHION_MNIST &&
                  s->data.binarize == VR_BIN_NONE && s->model.n_hidden == 2 &&
                  s->model.hidden[0] == 512 && s->model.hidden[1] == 256 &&
                  s->model.latent == 10 && s->train.steps == 5000,
                  "likelihoods.yaml run %s", sw.runs[i].id);
        }
        CHECK(sw.runs[4].spec.likelihood.init_log_scale == -2, "logistic scale");
        CHECK(sw.runs[6].spec.likelihood.variance == VR_VAR_LEARNED, "gaussian variance");
        vr_sweep_free(&sw);
    }
    if (vr_sweep_load(SWEEPS "iwae_k.yaml", &sw, &e) == 0) {
        CHECK(sw.runs[7].spec.objective.samples == 50 &&
              sw.runs[7].spec.objective.kind == VR_OBJ_IWAE &&
              sw.runs[7].spec.data.set == VR_SET_EIGHT_GAUSSIANS, "iwae_k");
        vr_sweep_free(&sw);
    }
    if (vr_sweep_load(SWEEPS "latent.yaml", &sw, &e) == 0) {
        CHECK(sw.runs[9].spec.model.latent == 50 && sw.runs[9].spec.train.steps == 5000 &&
              sw.runs[9].spec.model.arch == VR_ARCH_STANDARD, "latent");
        vr_sweep_free(&sw);
    }
}

int main(void)
{
    setup();
    test_main_sweep();
    test_plain_spec();
    test_keys();
    test_ids();
    test_errors_shape();
    test_errors_base();
    test_errors_grid();
    test_errors_variants();
    test_set();
    test_checked_in();
    if (!check_failures_) remove_tree(tmp);
    else fprintf(stderr, "inputs kept in %s\n", tmp);
    return check_result();
}
