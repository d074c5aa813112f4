/* spec.h: spec files (YAML) to vr_spec, and back.
 *
 * A spec file is a YAML mapping of the keys documented in docs/spec.md;
 * nested mappings are sections (`train: {optimizer: {lr: 1e-3}}` sets the
 * key train.optimizer.lr). Validation is strict: an unknown key, a value of
 * the wrong type, a value out of bounds or a choice that does not exist
 * stops the load with
 *
 *     FILE:LINE:COL: message
 *
 * where LINE:COL (1-based) is the offending key or value. Keys not given
 * take their defaults. Every key is one row of the table in
 * runner/spec_keys.c, which drives parsing, defaults, the dump and the
 * docs alike.
 *
 * All functions here are reentrant: no global state, no printing, no exit.
 * Errors come back as -1 with a one-line message in a vr_err.
 */
#ifndef VR_SPEC_H
#define VR_SPEC_H

#include <stddef.h>
#include <stdio.h>

#include "../core/config.h"
#include "../core/err.h"

/* A buffer this large always holds vr_spec_to_yaml's output. */
#define VR_SPEC_YAML_MAX 16384

/* Fills S with every key's default (docs/spec.md). name is "spec"; the
 * loaders replace it with the file's stem. */
void vr_spec_defaults(vr_spec *s);

/* Reads the spec file PATH into *out: defaults, then the file's keys, then
 * the cross-key checks. name defaults to PATH's stem ("configs/a.yaml" ->
 * "a"). Returns 0, or -1 with "PATH:LINE:COL: ..." (or "PATH: cannot open:
 * ...") in err; *out is untouched on failure. */
int vr_spec_load(const char *path, vr_spec *out, vr_err *err);

/* Same as vr_spec_load, from the NUL-terminated YAML TEXT. DISPLAY_NAME
 * stands in for the file name, in messages and for the default name (NULL:
 * "<string>" in messages, name "spec"). */
int vr_spec_load_string(const char *text, const char *display_name,
                        vr_spec *out, vr_err *err);

/* Sets one key from text, as the CLI's `--set train.steps=5` does. VALUE is
 * read as YAML, exactly as the same text in a file ("[64, 64]" for a list,
 * "{lr: 0.01, eps: 1e-6}" for a section such as train.optimizer), and
 * checked the same way; on error err reads
 * "--set train.steps=abc: expected an integer, got 'abc'" and S is
 * unchanged. Only the value itself is checked: run vr_spec_check after the
 * last --set for the checks that involve several keys. */
int vr_spec_set(vr_spec *s, const char *dotted_key, const char *value,
                vr_err *err);

/* The checks that involve several keys (model.hidden only with arch: mlp,
 * objective.beta only with kind: beta, subset sizes within the dataset).
 * The loaders run them already; this is for after vr_spec_set. Returns 0,
 * or -1 with a message (without a file position) in err. */
int vr_spec_check(const vr_spec *s, vr_err *err);

/* Writes S, every key of it (seed included), as a YAML document to buf:
 * text that vr_spec_load_string reads back to an equal struct. S must hold
 * valid enum values. Returns the text's length (without the NUL), or -1 if
 * it does not fit in CAP bytes (VR_SPEC_YAML_MAX always does). */
int vr_spec_to_yaml(const vr_spec *s, char *buf, size_t cap);

/* Writes the key reference as a Markdown table to F: key, type, default,
 * allowed values, description. docs/spec.md holds a copy, kept equal by
 * tests/unit_spec.c. */
void vr_spec_keys_markdown(FILE *f);

#endif
