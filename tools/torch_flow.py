#!/usr/bin/python3
"""PyTorch twin of vkgen's flow family (src/models/flow.c): Glow steps (actnorm, LU-parametrized 1x1
convolution, affine coupling) in RealNVP's multi-scale architecture (squeeze, split with a learned
prior, a learned top prior), uniform dequantization and the centered or logit preprocessing.

The parameters carry vkgen's names and shapes, so a vkgen weights file loads here unchanged.

    tools/torch_flow.py check DIR     (DIR written by tests/test_flow_torch.c: weights, batch, noise,
                                       the C loss and every gradient; exit status 1 on any difference)
    tools/torch_flow.py eval WEIGHTS [--n N]   (test bits/dim of a vkgen weights file, for comparison)
    tools/torch_flow.py bench WEIGHTS          (sampled images/s at batch 64 and 1024, as 'vkgen bench flow')

Debian's python3-torch and python3-numpy only.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import Checks, fashion_mnist, st_load  # noqa: E402


def level_channels(c, l):
    return c["channels"] << (l + 2)


def squeeze(x):
    B, C, H, W = x.shape
    return x.reshape(B, C, H // 2, 2, W // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(B, 4 * C, H // 2, W // 2)


class Flow:
    """The flow's forward pass (image -> latents, log-determinant) over a dict of named tensors."""

    def __init__(self, cfg, weights, dtype=torch.float64):
        self.c = cfg
        self.p = {k: torch.tensor(v, dtype=dtype) for k, v in weights.items()}
        for k, v in self.p.items():
            if not (k.endswith(".perm") or k.endswith(".sign")):
                v.requires_grad_(True)

    def trainable(self):
        return [k for k, v in self.p.items() if v.requires_grad]

    def weight(self, pre):
        p = self.p
        lower, upper, log_s = p[pre + "lower"], p[pre + "upper"], p[pre + "log_s"]
        C = lower.shape[0]
        eye = torch.eye(C, dtype=lower.dtype)
        lm = lower * torch.tril(torch.ones_like(lower), -1) + eye
        um = upper * torch.triu(torch.ones_like(upper), 1) + torch.diag(p[pre + "sign"] * torch.exp(log_s))
        return p[pre + "perm"] @ lm @ um

    def log_likelihood(self, x, u):
        """log p(y) in nats per image for pixels x in [0, 1] and dequantization noise u in [0, 1)."""
        c, p = self.c, self.p
        y = (255 * x + u) / 256
        B = x.shape[0]
        D = y[0].numel()
        if c["preprocess"] == "logit":
            a = c["alpha"]
            t = a + (1 - 2 * a) * y
            h = torch.log(t) - torch.log(1 - t)
            ld = (math.log(1 - 2 * a) - torch.log(t) - torch.log(1 - t)).flatten(1).sum(1)
        else:
            h = y - 0.5
            ld = torch.zeros(B, dtype=x.dtype)
        eps = []
        L, K = c["levels"], c["depth"]
        for l in range(L):
            h = squeeze(h)
            H, W = h.shape[2], h.shape[3]
            for k in range(K):
                pre = "levels.%d.steps.%d." % (l, k)
                # actnorm
                logs = p[pre + "actnorm.logs"]
                h = (h + p[pre + "actnorm.bias"]) * torch.exp(logs)
                ld = ld + H * W * logs.sum()
                # invertible 1x1 convolution
                C = h.shape[1]
                h = F.conv2d(h, self.weight(pre + "invconv.").reshape(C, C, 1, 1))
                ld = ld + H * W * p[pre + "invconv.log_s"].sum()
                # affine coupling
                Ca = C // 2
                Cb = C - Ca
                xa, xb = h[:, :Ca], h[:, Ca:]
                n = F.relu(F.conv2d(xa, p[pre + "coupling.conv1.weight"], p[pre + "coupling.conv1.bias"], padding=1))
                n = F.relu(F.conv2d(n, p[pre + "coupling.conv2.weight"], p[pre + "coupling.conv2.bias"]))
                n = F.conv2d(n, p[pre + "coupling.conv3.weight"], p[pre + "coupling.conv3.bias"], padding=1)
                shift, s = n[:, :Cb], n[:, Cb:]
                h = torch.cat([xa, (xb + shift) * torch.sigmoid(s + 2)], 1)
                ld = ld + F.logsigmoid(s + 2).flatten(1).sum(1)
            C = h.shape[1]
            if l < L - 1:
                z1, z2 = h[:, :C // 2], h[:, C // 2:]
                m = F.conv2d(z1, p["levels.%d.split.conv.weight" % l], p["levels.%d.split.conv.bias" % l], padding=1)
                mu, logs = m[:, :C // 2], m[:, C // 2:]
                eps.append(((z2 - mu) * torch.exp(-logs)).flatten(1))
                ld = ld - logs.flatten(1).sum(1)
                h = z1
            else:
                t = p["top.prior"]
                mu, logs = t[:, :C], t[:, C:]
                eps.append(((h - mu) * torch.exp(-logs)).flatten(1))
                ld = ld - logs.sum()
        e = torch.cat(eps, 1)
        self.last_y, self.last_eps = y, e
        return -0.5 * (e * e).sum(1) - 0.5 * D * math.log(2 * math.pi) + ld

    def reverse(self, eps):
        """Images y in (0, 1) from standardized latents eps (B, D): the inverse of log_likelihood's map."""
        c, p = self.c, self.p
        L, K, B = c["levels"], c["depth"], eps.shape[0]
        sizes, off = [], 0
        for l in range(L):
            Cl, H = level_channels(c, l), c["size"] >> (l + 1)
            Ce = Cl // 2 if l < L - 1 else Cl
            sizes.append((off, Ce, H))
            off += Ce * H * H
        h = None
        for l in reversed(range(L)):
            o, Ce, H = sizes[l]
            e = eps[:, o:o + Ce * H * H].reshape(B, Ce, H, H)
            if l == L - 1:
                t = p["top.prior"]
                h = t[:, :Ce] + torch.exp(t[:, Ce:]) * e
            else:
                m = F.conv2d(h, p["levels.%d.split.conv.weight" % l], p["levels.%d.split.conv.bias" % l], padding=1)
                h = torch.cat([h, m[:, :Ce] + torch.exp(m[:, Ce:]) * e], 1)
            for k in reversed(range(K)):
                pre = "levels.%d.steps.%d." % (l, k)
                C = h.shape[1]
                Ca = C // 2
                Cb = C - Ca
                xa, yb = h[:, :Ca], h[:, Ca:]
                n = F.relu(F.conv2d(xa, p[pre + "coupling.conv1.weight"], p[pre + "coupling.conv1.bias"], padding=1))
                n = F.relu(F.conv2d(n, p[pre + "coupling.conv2.weight"], p[pre + "coupling.conv2.bias"]))
                n = F.conv2d(n, p[pre + "coupling.conv3.weight"], p[pre + "coupling.conv3.bias"], padding=1)
                h = torch.cat([xa, yb / torch.sigmoid(n[:, Cb:] + 2) - n[:, :Cb]], 1)
                h = F.conv2d(h, self.winv[pre].reshape(C, C, 1, 1))
                h = h * torch.exp(-p[pre + "actnorm.logs"]) - p[pre + "actnorm.bias"]
            Bh, C4, Hh, Wh = h.shape
            h = h.reshape(Bh, C4 // 4, 2, 2, Hh, Wh).permute(0, 1, 4, 2, 5, 3).reshape(Bh, C4 // 4, 2 * Hh, 2 * Wh)
        if c["preprocess"] == "logit":
            a = c["alpha"]
            return (torch.sigmoid(h) - a) / (1 - 2 * a)
        return h + 0.5

    def prepare_reverse(self):
        """The inverse 1x1 weights, once (they change only with the weights)."""
        self.winv = {}
        for l in range(self.c["levels"]):
            for k in range(self.c["depth"]):
                pre = "levels.%d.steps.%d." % (l, k)
                self.winv[pre] = torch.linalg.inv(self.weight(pre + "invconv.").detach().double()).to(
                    self.p[pre + "actnorm.logs"].dtype)

    def bpd_loss(self, x, u):
        D = x[0].numel()
        return -self.log_likelihood(x, u).mean() / (D * math.log(2)) + 8


def check(d):
    ck = Checks()
    for tag in ("flow_a", "flow_b"):
        w, wmeta = st_load(os.path.join(d, tag + ".safetensors"))
        io, _ = st_load(os.path.join(d, tag + "_io.safetensors"))
        cfg = json.loads(wmeta["config"])
        model = Flow(cfg, w)
        x, u = torch.from_numpy(io["x"]).double(), torch.from_numpy(io["u"]).double()
        loss = model.bpd_loss(x, u)
        ck.close("%s: bits/dim loss" % tag, loss.item(), io["loss"], 1e-5, 1e-5)
        model.prepare_reverse()
        with torch.no_grad():
            ck.close("%s: reverse(forward(y)) = y (the reverse pass bench times)" % tag,
                     model.reverse(model.last_eps.detach()).numpy(), model.last_y.numpy(), 1e-9, 0)
        names = model.trainable()
        grads = torch.autograd.grad(loss, [model.p[n] for n in names])
        missing = [n for n in names if "grad." + n not in io]
        if missing:
            ck.fail("%s: no C gradient for %s" % (tag, ", ".join(missing)))
        for n, g in zip(names, grads):
            if "grad." + n not in io:
                continue
            ref = io["grad." + n]
            scale = float(np.abs(ref).max()) + 1e-12
            ck.close("%s: gradient of %s" % (tag, n), g.numpy(), ref, 2e-4 * scale, 1e-3)
    print("%d passed, %d failed" % (ck.passed, ck.failed))
    return ck.failed == 0


def evaluate(path, n, seed):
    """Test bits/dim of a vkgen weights file with one uniform dequantization draw per image (torch's
    generator, float32)."""
    w, meta = st_load(path)
    cfg = json.loads(meta["config"])
    model = Flow(cfg, w, dtype=torch.float32)
    px, _ = fashion_mnist("test")
    x = torch.from_numpy(px[:n])
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for i in range(0, n, 256):
            xb = x[i:i + 256]
            total += model.log_likelihood(xb, torch.rand(xb.shape, generator=g)).sum().item()
    D = x[0].numel()
    return -total / n / (D * math.log(2)) + 8


def bench(path, batches, reps):
    """Sampled images per second (float32, torch's CPU threads): eps ~ N(0, I) through the reverse pass,
    best of reps runs after a warm-up, as 'vkgen bench flow' times it."""
    import time
    w, meta = st_load(path)
    model = Flow(json.loads(meta["config"]), w, dtype=torch.float32)
    model.prepare_reverse()
    D = model.c["channels"] * model.c["size"] ** 2
    out = []
    with torch.no_grad():
        for B in batches:
            best = float("inf")
            for r in range(reps + 1):
                t0 = time.perf_counter()
                model.reverse(torch.randn(B, D)).clamp(0, 1).numpy()
                if r > 0:
                    best = min(best, time.perf_counter() - t0)
            out.append((B, B / best))
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("check", help="compare with the values tests/test_flow_torch.c wrote")
    sc.add_argument("dir")
    ev = sub.add_parser("eval", help="test bits/dim of a vkgen flow weights file (Fashion-MNIST)")
    ev.add_argument("weights")
    ev.add_argument("--n", type=int, default=10000)
    ev.add_argument("--seed", type=int, default=1)
    be = sub.add_parser("bench", help="sampled images/s of a vkgen flow weights file in PyTorch")
    be.add_argument("weights")
    be.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    if args.cmd == "bench":
        for B, ips in bench(args.weights, (64, 1024), args.reps):
            print("sampling   batch %5d %12.1f images/s (PyTorch, %d threads)" % (B, ips, torch.get_num_threads()))
        return 0
    if args.cmd == "check":
        return 0 if check(args.dir) else 1
    print("bits/dim %.4f (%d test images)" % (evaluate(args.weights, args.n, args.seed), args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
