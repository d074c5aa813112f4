# lib.sh: what the shell tests share; sourced as "$src/tests/lib.sh" after
# they set tmp (a scratch folder) and fails=0.

# fail MESSAGE: reports one failure and counts it.
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# expect NAME EXIT_CODE PATTERN -- CMD...: runs CMD, checks code and output.
expect() {
  local name="$1" code="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [[ $rc -ne $code ]] || ! grep -qF -- "$pattern" <<<"$out"; then
    echo "FAIL $name: exit $rc (want $code), output:"; echo "$out" | sed 's/^/    /'
    echo "    wanted: $pattern"
    fails=$((fails + 1))
  else
    echo "ok   $name"
  fi
}

# small_sweep DIR [auto]: DIR/base.yaml and DIR/s.yaml, a sweep of four
# small mlp runs (two betas x two seeds, 60 steps, checkpoints every 20)
# that the scheduler tests start, kill and resume; one thread per run, or
# with `auto` the scheduler's share (train.threads left out).
small_sweep() {
  local threads=", threads: 1"
  [[ "${2:-}" == auto ]] && threads=""
  cat > "$1/base.yaml" <<Y
data: {train: 2000, test: 200}
model: {arch: mlp, hidden: [64], latent: 4}
train: {steps: 60, batch: 32, log_every: 10, eval_every: 30, checkpoint_every: 20$threads}
eval: {iwae_samples: 5, iwae_images: 50}
Y
  cat > "$1/s.yaml" <<'Y'
name: s
base: base.yaml
objective: {kind: beta}
grid:
  objective.beta: [0.5, 2]
seeds: [0, 1]
Y
}
