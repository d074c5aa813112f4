#!/usr/bin/python3
"""PyTorch reference for vaerun's MNIST VAE models.

Trains the same models as vaerun (standard / mlp / big), with the same
objective, optimiser and data handling, and reports the test ELBO so that
vaerun's numbers can be checked against a well-known implementation.

Runs offline on Debian's PyTorch (torch 1.13, CPU). See bench/README.md.

Output: log lines on stdout, then as the very last line one JSON object:
  {"arch", "steps", "batch", "seed", "threads", "test_elbo", "test_recon",
   "test_kl", "train_steps_per_s", "wall_s"}

--iwae-bench K --iwae-images N instead times the importance-sampled bound
(K samples per image, the first N test images) of a freshly initialised
model, the way vaerun computes test_iwae, and prints one JSON line with
"img_samples_per_s" (no training; see iwae_bench below).
"""

import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TEST_BINARIZE_SEED = 12345   # fixed binary test set, the same for every run
TRAIN_BINARIZE_SEED = 54321  # --binarize static: fixed binary train set
EVAL_NOISE_SEED = 777        # z samples at evaluation, reset at every eval


# --------------------------------------------------------------------- data

def read_idx(path):
    """Read an IDX file (raw or .gz) into a numpy array."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path = path + ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        buf = f.read()
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0:
        raise ValueError("%s: not an IDX file" % path)
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4",
              0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = buf[2], buf[3]
    if code not in dtypes:
        raise ValueError("%s: unknown IDX type 0x%02x" % (path, code))
    dims = tuple(int.from_bytes(buf[4 + 4 * i:8 + 4 * i], "big")
                 for i in range(ndim))
    data = np.frombuffer(buf, dtype=dtypes[code], offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError("%s: size mismatch (%d values, header %s)"
                         % (path, data.size, dims))
    return data.reshape(dims)


def load_images(data_dir, name, n):
    imgs = read_idx(os.path.join(data_dir, name))
    if n is not None:
        if n > imgs.shape[0]:
            raise ValueError("asked for %d images, %s has %d"
                             % (n, name, imgs.shape[0]))
        imgs = imgs[:n]
    x = imgs.reshape(imgs.shape[0], -1).astype(np.float32) / np.float32(255)
    return torch.from_numpy(x)


def binarize_fixed(x, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(x, generator=g)


# ------------------------------------------------------------------- models

def conv_encoder(L):
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(8, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv2d(16, 32, 5, stride=1, padding=2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(1568, 2 * L))


def build(arch, L, hidden):
    """Returns (encoder, decoder, input_shape) as nn.Sequential modules."""
    if arch == "standard":
        enc = conv_encoder(L)
        dec = nn.Sequential(
            nn.Linear(L, 3136), nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 5, stride=2, padding=2,
                               output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 5, stride=2, padding=2,
                               output_padding=1))
        return enc, dec, (1, 28, 28)
    if arch == "mlp":
        h = hidden
        enc_layers, prev = [], 784
        for w in h:
            enc_layers += [nn.Linear(prev, w), nn.ReLU()]
            prev = w
        enc_layers.append(nn.Linear(prev, 2 * L))
        dec_layers, prev = [], L
        for w in reversed(h):
            dec_layers += [nn.Linear(prev, w), nn.ReLU()]
            prev = w
        dec_layers.append(nn.Linear(prev, 784))
        return nn.Sequential(*enc_layers), nn.Sequential(*dec_layers), (784,)
    if arch == "big":
        enc = conv_encoder(L)
        dec = nn.Sequential(
            nn.Linear(L, 4000), nn.ReLU(),
            nn.Linear(4000, 4000), nn.ReLU(),
            nn.Linear(4000, 4000), nn.ReLU(),
            nn.Linear(4000, 3136), nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 5, stride=2, padding=2,
                               output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 5, stride=1, padding=2), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 5, stride=1, padding=2), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 5, stride=2, padding=2,
                               output_padding=1))
        return enc, dec, (1, 28, 28)
    raise ValueError("unknown arch %r" % arch)


class VAE(nn.Module):
    def __init__(self, arch, L, hidden):
        super().__init__()
        self.L = L
        self.encoder, self.decoder, self.in_shape = build(arch, L, hidden)

    def terms(self, x, eps):
        """x: [N,784] in [0,1]; eps: [N,L]. Returns (recon_i, kl_i)."""
        n = x.shape[0]
        out = self.encoder(x.view(n, *self.in_shape))
        mean, log_scale = out[:, :self.L], out[:, self.L:]
        sigma = torch.exp(log_scale)
        z = mean + sigma * eps
        logits = self.decoder(z).reshape(n, 784)
        recon = -F.binary_cross_entropy_with_logits(
            logits, x, reduction="none").sum(1)
        kl = 0.5 * (mean * mean + sigma * sigma - 1.0
                    - 2.0 * log_scale).sum(1)
        return recon, kl


# ------------------------------------------------------------------ helpers

@torch.no_grad()
def evaluate(model, xtest, L, batch, dev="cpu"):
    """Test ELBO = mean_i(recon_i - kl_i), one z per image. The noise is
    drawn on the CPU (the same numbers on any device), then moved to dev."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(EVAL_NOISE_SEED)
    rsum = torch.zeros((), dtype=torch.float64, device=dev)
    ksum = torch.zeros((), dtype=torch.float64, device=dev)
    for i in range(0, xtest.shape[0], batch):
        xb = xtest[i:i + batch]
        eps = torch.randn(xb.shape[0], L, generator=g).to(dev)
        r, k = model.terms(xb, eps)
        rsum += r.double().sum()
        ksum += k.double().sum()
    model.train(was_training)
    n = xtest.shape[0]
    recon, kl = rsum.item() / n, ksum.item() / n
    return recon - kl, recon, kl


@torch.no_grad()
def iwae_bound(model, x, L, K, enc_batch, rows, gen):
    """Importance-sampled bound, mean over the images of x, as vaerun's
    vr_trainer_iwae (core/train_eval.c) computes test_iwae: each image's
    posterior once (encoder in batches of enc_batch), then the images*K
    pairs (image i, sample j), row r = i*K + j, through the decoder in chunks
    of `rows` rows (vaerun: the decoder's batch, train.batch x
    objective.samples = 64); log w = log p(x|z) + log p(z) - log q(z|x) per
    row, log-sum-exp over each image's K rows, minus log K."""
    n = x.shape[0]
    heads = torch.cat([model.encoder(x[i:i + enc_batch].view(-1, *model.in_shape))
                       for i in range(0, n, enc_batch)])
    pairs = n * K
    logw = torch.empty(pairs)
    for first in range(0, pairs, rows):
        m = min(rows, pairs - first)
        idx = torch.div(torch.arange(first, first + m), K,
                        rounding_mode="floor")
        xr, hr = x[idx], heads[idx]
        mean, log_scale = hr[:, :L], hr[:, L:]
        eps = torch.randn(m, L, generator=gen)
        z = mean + torch.exp(log_scale) * eps
        logits = model.decoder(z).reshape(m, -1)
        ll = -F.binary_cross_entropy_with_logits(
            logits, xr, reduction="none").sum(1)
        # log N(z; 0, 1) - log N(z; mean, sigma): the 2 pi terms cancel
        lpq = (0.5 * eps * eps - 0.5 * z * z + log_scale).sum(1)
        logw[first:first + m] = ll + lpq
    lse = torch.logsumexp(logw.view(n, K).double(), 1) - math.log(K)
    return lse.mean().item()


def iwae_bench(a, threads, t_start):
    """--iwae-bench K: throughput of the bound in (images x samples) / s.
    Random initialisation (the time does not depend on the weights), the
    first --iwae-images test images binarised as for the test set, one
    untimed warm-up pass on the first min(N, 2) images, then the best of
    --iwae-reps timed passes over all N (the encoder pass included, as in
    vaerun's test_iwae)."""
    torch.manual_seed(a.seed)
    x = load_images(a.data, "t10k-images-idx3-ubyte", a.iwae_images)
    if a.binarize != "none":
        x = binarize_fixed(x, TEST_BINARIZE_SEED)
    model = VAE(a.arch, a.latent, a.hidden)
    model.eval()
    K, rows = a.iwae_bench, a.iwae_chunk or a.batch
    print("# iwae-bench arch=%s samples=%d images=%d chunk=%d enc_batch=%d "
          "reps=%d threads=%d torch=%s OMP_NUM_THREADS=%s "
          "OPENBLAS_NUM_THREADS=%s"
          % (a.arch, K, x.shape[0], rows, a.batch, a.iwae_reps, threads,
             torch.__version__, os.environ.get("OMP_NUM_THREADS", "-"),
             os.environ.get("OPENBLAS_NUM_THREADS", "-")), flush=True)
    gen = torch.Generator().manual_seed(EVAL_NOISE_SEED)
    iwae_bound(model, x[:min(x.shape[0], 2)], a.latent, K, a.batch, rows, gen)
    best, bound = float("inf"), None
    for rep in range(a.iwae_reps):
        gen.manual_seed(EVAL_NOISE_SEED)
        t0 = time.perf_counter()
        bound = iwae_bound(model, x, a.latent, K, a.batch, rows, gen)
        dt = time.perf_counter() - t0
        print("iwae rep %d: %.3fs, %.1f img*samples/s, bound %.4f"
              % (rep, dt, x.shape[0] * K / dt, bound), flush=True)
        best = min(best, dt)
    out = {
        "iwae_bench": True, "arch": a.arch, "threads": threads,
        "images": x.shape[0], "samples": K, "chunk": rows,
        "seconds": round(best, 4),
        "img_samples_per_s": round(x.shape[0] * K / best, 1),
        "test_iwae": round(bound, 4),
        "wall_s": round(time.perf_counter() - t_start, 2),
    }
    print(json.dumps(out), flush=True)
    return 0


def save_state(model, path):
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if path.endswith(".h5") or path.endswith(".hdf5"):
        import h5py
        with h5py.File(path, "w") as f:
            for k, v in sd.items():
                f.create_dataset(k.replace(".", "/", 1), data=v.numpy())
    else:
        torch.save(sd, path)


def parse_hidden(s):
    try:
        h = [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--hidden: comma-separated ints")
    if not h or min(h) <= 0:
        raise argparse.ArgumentTypeError("--hidden: positive sizes needed")
    return h


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(
        description="PyTorch reference VAE on MNIST (peer of vaerun)")
    p.add_argument("--arch", choices=["standard", "mlp", "big"],
                   default="standard")
    p.add_argument("--data", default=os.path.join(here, "..", "data",
                                                  "mnist"),
                   help="directory with the MNIST IDX files (raw or .gz)")
    p.add_argument("--train", type=int, default=None,
                   help="use the first N training images (default all)")
    p.add_argument("--test", type=int, default=None,
                   help="use the first N test images (default all)")
    p.add_argument("--latent", type=int, default=10)
    p.add_argument("--hidden", type=parse_hidden, default=[100, 100],
                   help="mlp hidden sizes, encoder order (default 100,100)")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.9)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--binarize", choices=["dynamic", "static", "none"],
                   default="dynamic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads(N); 0 = torch default")
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-batch", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--save", default=None,
                   help="write the final state_dict (.pt, or .h5 via h5py)")
    p.add_argument("--iwae-bench", type=int, default=0, metavar="K",
                   help="no training: time the IWAE bound with K samples "
                   "per image (see --iwae-images) and print its throughput")
    p.add_argument("--iwae-images", type=int, default=100, metavar="N",
                   help="--iwae-bench: the first N test images (100)")
    p.add_argument("--iwae-chunk", type=int, default=0, metavar="R",
                   help="--iwae-bench: decoder rows per pass (0 = --batch, "
                   "as vaerun's evaluation)")
    p.add_argument("--iwae-reps", type=int, default=1,
                   help="--iwae-bench: timed passes, the best counts (1)")
    a = p.parse_args(argv)
    if a.steps < 0 or a.batch <= 0 or a.latent <= 0:
        p.error("--steps >= 0, --batch > 0, --latent > 0")
    if a.iwae_bench < 0 or a.iwae_images <= 0 or a.iwae_chunk < 0 \
            or a.iwae_reps <= 0:
        p.error("--iwae-bench >= 0, --iwae-images > 0, --iwae-chunk >= 0, "
                "--iwae-reps > 0")

    t_start = time.perf_counter()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    if threads > 1 and os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        # Debian's torch uses pthread OpenBLAS for the im2col GEMMs of the
        # convolutions; OpenMP workers each starting OpenBLAS threads
        # oversubscribe the cores (measured ~4-9x slower on 2 cores).
        print("warning: --threads %d with OPENBLAS_NUM_THREADS=%s; "
              "OPENBLAS_NUM_THREADS=1 is much faster for the conv models"
              % (threads, os.environ.get("OPENBLAS_NUM_THREADS", "unset")),
              file=sys.stderr, flush=True)
    if a.iwae_bench > 0:
        return iwae_bench(a, threads, t_start)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    xtrain = load_images(a.data, "train-images-idx3-ubyte", a.train)
    xtest = load_images(a.data, "t10k-images-idx3-ubyte", a.test)
    if a.binarize != "none":
        xtest = binarize_fixed(xtest, TEST_BINARIZE_SEED)
    if a.binarize == "static":
        xtrain = binarize_fixed(xtrain, TRAIN_BINARIZE_SEED)
    ntrain = xtrain.shape[0]
    if ntrain < a.batch:
        p.error("--train (%d) smaller than --batch (%d)" % (ntrain, a.batch))

    model = VAE(a.arch, a.latent, a.hidden)
    nparams = sum(t.numel() for t in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=a.lr,
                           betas=(a.beta1, a.beta2), eps=a.eps)
    print("# arch=%s latent=%d params=%d train=%d test=%d batch=%d "
          "steps=%d binarize=%s beta=%g lr=%g betas=(%g,%g) eps=%g seed=%d "
          "threads=%d torch=%s OMP_NUM_THREADS=%s OPENBLAS_NUM_THREADS=%s"
          % (a.arch, a.latent, nparams, ntrain, xtest.shape[0], a.batch,
             a.steps, a.binarize, a.beta, a.lr, a.beta1, a.beta2, a.eps,
             a.seed, threads, torch.__version__,
             os.environ.get("OMP_NUM_THREADS", "-"),
             os.environ.get("OPENBLAS_NUM_THREADS", "-")), flush=True)

    def report_eval(step):
        te = time.perf_counter()
        elbo, recon, kl = evaluate(model, xtest, a.latent, a.eval_batch)
        print("eval step %d test_elbo %.4f recon %.4f kl %.4f (%.2fs)"
              % (step, elbo, recon, kl, time.perf_counter() - te),
              flush=True)
        return elbo, recon, kl

    # Shuffling: a permutation of the train subset, consumed batch by batch
    # in order; a new permutation when fewer than `batch` indices remain.
    perm_gen = torch.Generator().manual_seed(a.seed)
    perm, pos = torch.randperm(ntrain, generator=perm_gen), 0
    dynamic = a.binarize == "dynamic"

    model.train()
    train_time = 0.0
    acc = torch.zeros(3)
    acc_n = 0
    t_log = time.perf_counter()
    t_seg = t_log
    result = None
    for step in range(1, a.steps + 1):
        if pos + a.batch > ntrain:
            perm, pos = torch.randperm(ntrain, generator=perm_gen), 0
        xb = xtrain[perm[pos:pos + a.batch]]
        pos += a.batch
        if dynamic:
            xb = torch.bernoulli(xb)
        eps = torch.randn(a.batch, a.latent)
        recon, kl = model.terms(xb, eps)
        loss = (-recon + a.beta * kl).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc += torch.stack((loss.detach(), recon.detach().mean(),
                                kl.detach().mean()))
        acc_n += 1

        do_log = a.log_every > 0 and step % a.log_every == 0
        do_eval = (a.eval_every > 0 and step % a.eval_every == 0) \
            or step == a.steps
        if do_log or do_eval:
            now = time.perf_counter()
            train_time += now - t_seg
            if do_log:
                l, r, k = (acc / acc_n).tolist()
                print("step %d loss %.4f recon %.4f kl %.4f steps/s %.2f"
                      % (step, l, r, k, acc_n / (now - t_log)), flush=True)
                acc.zero_()
                acc_n = 0
            if do_eval:
                result = report_eval(step)
            t_seg = time.perf_counter()
            if do_log:
                t_log = t_seg
            elif do_eval:
                t_log += t_seg - now   # keep eval time out of steps/s
    if result is None:   # --steps 0
        result = report_eval(0)

    if a.save:
        save_state(model, a.save)
    elbo, recon, kl = result
    out = {
        "arch": a.arch, "steps": a.steps, "batch": a.batch, "seed": a.seed,
        "threads": threads,
        "test_elbo": round(elbo, 4), "test_recon": round(recon, 4),
        "test_kl": round(kl, 4),
        "train_steps_per_s": round(a.steps / train_time, 3)
        if train_time > 0 else None,
        "wall_s": round(time.perf_counter() - t_start, 2),
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
