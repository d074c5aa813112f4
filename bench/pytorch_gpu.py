#!/usr/bin/env python3
"""PyTorch on the GPU: the peer of vaerun's CUDA backend (bench/gpu_bench.sh).

The model, objective, optimiser and data handling are bench/pytorch_vae.py's
(imported from it, not copied): the standard conv VAE of seed 000 (or mlp),
Bernoulli likelihood on logits, analytic KL, loss = mean(-recon + beta * kl),
Adam(1e-3, 0.9, 0.9), batch 64, float32, dynamically binarised MNIST. Here
everything lives on the GPU the way a careful PyTorch user would write it:
the dataset is uploaded once, batches are gathered and binarised on the
device, metrics stay on the device until a log line reads them.

Modes (--mode):
  eager     plain PyTorch: one kernel launch per op, Adam's foreach kernels
  graph     the whole step (gather, binarise, noise, forward, backward, Adam)
            captured once as a CUDA graph (torch.cuda.graph, Adam with
            capturable=True) and replayed
  compile   torch.compile of the forward and loss (--compile-mode, default
            reduce-overhead: CUDA graphs of its own) with fused Adam
TF32 is off (torch.backends.*.allow_tf32 = False): float32 as vaerun.

One run (default) or a sweep of runs one after another in this process
(--betas B1,B2,... --seeds S1,S2,...: every beta x seed; --shard I/N takes
every N-th run from the I-th, for several processes side by side).

Output: log lines, then one JSON line per run ({"run": ...}) and, last, one
JSON line {"summary": ...} with the mode, device, runs, total wall time and,
for a single run, steady_steps_per_s (from the first log line to the last:
warm-up, capture and compilation excluded) and train_steps_per_s (all steps).
--device cpu runs the eager mode on the CPU (to try the script without a GPU).
"""

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pytorch_vae as ref  # noqa: E402  (the shared model and data handling)


def parse_list(kind, s):
    try:
        v = [kind(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected a comma-separated list: %r" % s)
    if not v:
        raise argparse.ArgumentTypeError("empty list")
    return v


def parse_shard(s):
    try:
        i, n = (int(x) for x in s.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("--shard I/N, e.g. 0/4")
    if n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError("--shard I/N with 0 <= I < N")
    return i, n


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


class Run:
    """One training run: model, optimiser and the step of the chosen mode."""

    def __init__(self, a, data, beta, seed, dev):
        self.a, self.beta, self.seed, self.dev = a, beta, seed, dev
        self.xtrain, self.xtest = data
        self.ntrain = self.xtrain.shape[0]
        torch.manual_seed(seed)
        self.model = ref.VAE(a.arch, a.latent, a.hidden).to(dev)
        self.model.train()
        kw = dict(lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
        if a.mode == "graph":
            kw["capturable"] = True
        elif a.mode == "compile" and dev.type == "cuda":
            kw["fused"] = True
        self.opt = torch.optim.Adam(self.model.parameters(), **kw)
        self.terms = self.model.terms
        if a.mode == "compile":
            self.terms = torch.compile(self.model.terms, mode=a.compile_mode)
        self.perm_gen = torch.Generator(device=dev).manual_seed(seed)
        self.perm = torch.randperm(self.ntrain, device=dev, generator=self.perm_gen)
        self.pos = 0
        B = a.batch
        self.idx = torch.zeros(B, dtype=torch.long, device=dev)   # static: graph input
        self.acc = torch.zeros(3, device=dev)                      # loss, recon, kl sums
        self.graph = None

    def next_indices(self):
        """The next batch of the epoch's order into self.idx (a device copy)."""
        B = self.a.batch
        if self.pos + B > self.ntrain:
            self.perm = torch.randperm(self.ntrain, device=self.dev, generator=self.perm_gen)
            self.pos = 0
        self.idx.copy_(self.perm[self.pos:self.pos + B])
        self.pos += B

    def body(self):
        """Gather, binarise, noise, forward, backward, Adam: no host sync."""
        xb = self.xtrain[self.idx]
        if self.a.binarize == "dynamic":
            xb = torch.bernoulli(xb)
        eps = torch.randn(self.a.batch, self.a.latent, device=self.dev)
        recon, kl = self.terms(xb, eps)
        loss = (-recon + self.beta * kl).mean()
        loss.backward()
        self.opt.step()
        with torch.no_grad():
            self.acc += torch.stack((loss.detach(), recon.detach().mean(), kl.detach().mean()))

    def capture(self):
        """CUDA graph of the whole step, after warm-up on a side stream (the
        recipe of the torch.cuda.graph documentation). Gradients are None
        when capture starts, so the captured backward writes them afresh
        (no accumulation across replays) in the graph's own memory. The
        warm-up steps are real steps of the run; returns their count."""
        warm = 3
        s = torch.cuda.Stream(self.dev)
        s.wait_stream(torch.cuda.current_stream(self.dev))
        with torch.cuda.stream(s):
            for _ in range(warm):
                self.next_indices()
                self.opt.zero_grad(set_to_none=True)
                self.body()
        torch.cuda.current_stream(self.dev).wait_stream(s)
        self.opt.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.body()
        return warm

    def step(self):
        self.next_indices()
        if self.graph is not None:
            self.graph.replay()
            return
        self.opt.zero_grad(set_to_none=True)
        self.body()


def train(run, a, log):
    """Trains run for a.steps steps. Returns (train_s, steady_steps_per_s)."""
    dev = run.dev
    done = 0
    sync(dev)
    t0 = time.perf_counter()
    if a.mode == "graph":
        done = run.capture()   # the warm-up steps are in run.acc, counted below
    first = None        # (step, time) of the first log line
    last = None
    n_acc = done
    for step in range(done + 1, a.steps + 1):
        run.step()
        n_acc += 1
        if step % a.log_every == 0 or step == a.steps:
            l, r, k = (run.acc / n_acc).tolist()   # the only host sync
            now = time.perf_counter()
            if first is None:
                first = (step, now)
            last = (step, now)
            log("step %d loss %.4f recon %.4f kl %.4f" % (step, l, r, k))
            run.acc.zero_()
            n_acc = 0
    sync(dev)
    train_s = time.perf_counter() - t0
    steady = float("nan")
    if first and last and last[0] > first[0]:
        steady = (last[0] - first[0]) / (last[1] - first[1])
    return train_s, steady


def main(argv=None):
    p = argparse.ArgumentParser(description="PyTorch VAE on the GPU (peer of vaerun's CUDA backend)")
    p.add_argument("--mode", choices=["eager", "graph", "compile"], default="eager")
    p.add_argument("--compile-mode", default="reduce-overhead",
                   help="torch.compile mode for --mode compile (default, reduce-overhead, "
                        "max-autotune, max-autotune-no-cudagraphs)")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--arch", choices=["standard", "mlp"], default="standard")
    p.add_argument("--data", default=os.path.join(HERE, "..", "data", "mnist"))
    p.add_argument("--train", type=int, default=None)
    p.add_argument("--test", type=int, default=None)
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--hidden", type=ref.parse_hidden, default=[100, 100])
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--betas", type=lambda s: parse_list(float, s), default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=lambda s: parse_list(int, s), default=None)
    p.add_argument("--shard", type=parse_shard, default=(0, 1))
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.9)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--binarize", choices=["dynamic", "none"], default="dynamic")
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--no-eval", action="store_true", help="skip the final test ELBO")
    p.add_argument("--quiet", action="store_true", help="JSON lines only")
    a = p.parse_args(argv)
    if a.steps < 1 or a.batch < 1 or a.log_every < 1:
        p.error("--steps, --batch and --log-every must be positive")

    t_start = time.perf_counter()
    dev = torch.device(a.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            print("pytorch_gpu.py: torch %s sees no CUDA device" % torch.__version__,
                  file=sys.stderr)
            return 2
        torch.cuda.set_device(dev)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(dev)
    else:
        if a.mode != "eager":
            p.error("--mode %s needs a CUDA device" % a.mode)
        name = "cpu"

    def log(msg):
        if not a.quiet:
            print(msg, flush=True)

    xtrain = ref.load_images(a.data, "train-images-idx3-ubyte", a.train)
    xtest = ref.load_images(a.data, "t10k-images-idx3-ubyte", a.test)
    if a.binarize != "none":
        xtest = ref.binarize_fixed(xtest, ref.TEST_BINARIZE_SEED)
    data = (xtrain.to(dev), xtest.to(dev))

    betas = a.betas or [a.beta]
    seeds = a.seeds or [a.seed]
    runs = [(b, s) for b in betas for s in seeds]
    i0, n = a.shard
    runs = runs[i0::n]
    log("# mode=%s%s device=%s (%s) arch=%s batch=%d steps=%d runs=%d torch=%s cuda=%s" % (
        a.mode, "(%s)" % a.compile_mode if a.mode == "compile" else "", a.device, name, a.arch,
        a.batch, a.steps, len(runs), torch.__version__, torch.version.cuda))

    t_runs = time.perf_counter()
    steadies = []
    for beta, seed in runs:
        t0 = time.perf_counter()
        run = Run(a, data, beta, seed, dev)
        train_s, steady = train(run, a, log)
        res = {"run": "beta%g-seed%d" % (beta, seed), "beta": beta, "seed": seed,
               "train_s": round(train_s, 3),
               "train_steps_per_s": round(a.steps / train_s, 2),
               "steady_steps_per_s": round(steady, 2) if steady == steady else None}
        if not a.no_eval:
            elbo, recon, kl = ref.evaluate(run.model, data[1], a.latent, a.eval_batch, dev)
            log("eval step %d test_elbo %.4f recon %.4f kl %.4f" % (a.steps, elbo, recon, kl))
            res.update(test_elbo=round(elbo, 4), test_recon=round(recon, 4), test_kl=round(kl, 4))
        res["wall_s"] = round(time.perf_counter() - t0, 3)
        steadies.append(steady)
        print(json.dumps(res), flush=True)
        del run
    sync(dev)
    t_end = time.perf_counter()
    summary = {"mode": a.mode, "device": name, "runs": len(runs), "steps": a.steps,
               "runs_wall_s": round(t_end - t_runs, 3), "wall_s": round(t_end - t_start, 3),
               "torch": torch.__version__}
    if a.mode == "compile":
        summary["compile_mode"] = a.compile_mode
    if len(runs) == 1 and steadies[0] == steadies[0]:
        summary["steady_steps_per_s"] = round(steadies[0], 2)
    print(json.dumps({"summary": summary}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
