#!/usr/bin/python3
"""The PyTorch twin of vkgen's gated PixelCNN (src/models/pixelcnn.c), for tests/test_pixelcnn.c.

Same layers, parameter names and shapes, initialization (vkgen's splitmix-based uniform(+-1/sqrt(fan_in)),
reproduced bit for bit through tools/torch_models.py), masks and loss, written with torch.nn.functional:

  vertical stack:   conv (k/2+1) x k, padding (e+1, d*(k/2)), dilation d; rows 1..S are "rows <= i",
                    rows 0..S-1 the same shifted down one row (e = d * (k/2));
  horizontal stack: conv 1 x (k/2+1) of masked weights, padding (0, e), first S columns; plus a 1x1 of the
                    shifted vertical features; gate tanh(a[:p]) * sigmoid(a[p:]) (+ a class bias);
                    1x1 residual (added from layer 1 on; none in the last layer) and 1x1 skip, both masked;
  head:             ReLU, masked 1x1 to q, ReLU, masked 1x1 to C*256 logits; the loss is the mean
                    cross-entropy over sub-pixels (nats).

    tools/pixelcnn_twin.py selfcheck DIR      (DIR written by tests/test_pixelcnn.c)
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import Checks, init_uniform, nn_mix, st_load  # noqa: E402

LEVELS = 256


def dilation(c, l):
    return 1 << (l % c["dilation_cycle"])


def param_specs(c):
    """(name, shape, fan_in) in vkgen's order (pixelcnn_params_create)."""
    P, C, k, Q = c["width"], c["channels"], c["kernel"], c["out_width"]
    kh = k // 2 + 1
    out = []
    for l in range(c["layers"]):
        i = C if l == 0 else P
        n = "layers.%d." % l
        out += [(n + "v_conv.weight", (2 * P, i, kh, k), i * kh * k), (n + "v_conv.bias", (2 * P,), i * kh * k),
                (n + "h_conv.weight", (2 * P, i, 1, kh), i * kh), (n + "h_conv.bias", (2 * P,), i * kh),
                (n + "v_to_h.weight", (2 * P, 2 * P, 1, 1), 2 * P), (n + "v_to_h.bias", (2 * P,), 2 * P)]
        if l + 1 < c["layers"]:  # the last layer's horizontal output is only its skip
            out += [(n + "h_res.weight", (P, P, 1, 1), P), (n + "h_res.bias", (P,), P)]
        out += [(n + "skip.weight", (P, P, 1, 1), P), (n + "skip.bias", (P,), P)]
        if c["classes"] and l + 1 < c["layers"]:  # the last layer's vertical output feeds nothing
            out += [(n + "v_cond.weight", (c["classes"], 2 * P), c["classes"])]
        if c["classes"]:
            out += [(n + "h_cond.weight", (c["classes"], 2 * P), c["classes"])]
    out += [("out1.weight", (Q, P, 1, 1), P), ("out1.bias", (Q,), P),
            ("out2.weight", (C * LEVELS, Q, 1, 1), Q), ("out2.bias", (C * LEVELS,), Q)]
    return out


def init(c, seed):
    return {name: init_uniform(shape, np.float32(1 / math.sqrt(fan)), nn_mix(seed, i))
            for i, (name, shape, fan) in enumerate(param_specs(c))}


def group(i, n, C, gate_width):
    """The colour group of channel i of n (gate_width: n is a gate's 2p, split in two alike)."""
    if C == 1:
        return 0
    if gate_width:
        i, n = i % gate_width, gate_width
    return i // (n // C)


def mask(O, I, taps, C, mask_a, gate):
    """(O, I, 1, taps): every tap but the last (the centre) is 1; the centre lets output group g read input
    group g' when g' < g (mask A) or g' <= g (mask B)."""
    m = np.ones((O, I, 1, taps), dtype=np.float32)
    for o in range(O):
        go = group(o, O, C, O // 2 if gate else 0)
        for i in range(I):
            gi = group(i, I, C, 0)
            m[o, i, 0, taps - 1] = float(gi < go if mask_a else gi <= go)
    return m


def masks(c):
    P, C, Q, kh = c["width"], c["channels"], c["out_width"], c["kernel"] // 2 + 1
    return {"h_first": mask(2 * P, C, kh, C, True, True), "h": mask(2 * P, P, kh, C, False, True),
            "pp": mask(P, P, 1, C, False, False), "out1": mask(Q, P, 1, C, False, False),
            "out2": mask(C * LEVELS, Q, 1, C, False, False)}


def logits(c, w, m, x, y):
    """x (B, C, S, S) levels (int64), y (B) labels or None -> (B, C, 256, S, S)."""
    B, C, S, P, k = x.shape[0], c["channels"], c["size"], c["width"], c["kernel"]
    kh = k // 2 + 1
    inp = 2.0 * x.to(torch.float32) / 255.0 - 1.0
    v = h = inp
    skip = None
    gate = lambda a: torch.tanh(a[:, :P]) * torch.sigmoid(a[:, P:])  # noqa: E731
    for l in range(c["layers"]):
        n = "layers.%d." % l
        d = dilation(c, l)
        e = d * (kh - 1)
        vo = F.conv2d(v, w[n + "v_conv.weight"], w[n + "v_conv.bias"], padding=(e + 1, d * (k // 2)), dilation=d)
        vc, vs = vo[:, :, 1:S + 1], vo[:, :, 0:S]
        hw = w[n + "h_conv.weight"] * m["h_first" if l == 0 else "h"]
        ho = F.conv2d(h, hw, w[n + "h_conv.bias"], padding=(0, e), dilation=d)[:, :, :, :S]
        ho = ho + F.conv2d(vs, w[n + "v_to_h.weight"], w[n + "v_to_h.bias"])
        if c["classes"]:
            ho = ho + w[n + "h_cond.weight"][y].reshape(B, 2 * P, 1, 1)
        if l + 1 < c["layers"]:
            if c["classes"]:
                vc = vc + w[n + "v_cond.weight"][y].reshape(B, 2 * P, 1, 1)
            v = gate(vc)
        hg = gate(ho)
        if l + 1 < c["layers"]:
            r = F.conv2d(hg, w[n + "h_res.weight"] * m["pp"], w[n + "h_res.bias"])
            h = r if l == 0 else h + r
        sk = F.conv2d(hg, w[n + "skip.weight"] * m["pp"], w[n + "skip.bias"])
        skip = sk if skip is None else skip + sk
    o = F.relu(F.conv2d(F.relu(skip), w["out1.weight"] * m["out1"], w["out1.bias"]))
    o = F.conv2d(o, w["out2.weight"] * m["out2"], w["out2.bias"])
    return o.reshape(B, C, LEVELS, S, S)


def nll(c, w, m, x, y):
    """Mean NLL in nats per sub-pixel."""
    return F.cross_entropy(logits(c, w, m, x, y).transpose(1, 2), x)  # classes on dim 1


def selfcheck(d):
    ck = Checks()
    for tag in ("grey", "rgb"):
        wts, wmeta = st_load(os.path.join(d, tag + ".safetensors"))
        io, meta = st_load(os.path.join(d, tag + "_io.safetensors"))
        c = json.loads(wmeta["config"])
        ref = init(c, int(meta["init_seed"]))
        ck.equal("%s: parameter names and order" % tag, list(ref), list(wts))
        for name, v in ref.items():
            ck.close("%s: init of %s" % (tag, name), v, wts[name], 1e-7, 1e-6)
        m = masks(c)
        for name, v in m.items():
            ck.equal("%s: mask %s" % (tag, name), v.reshape(-1), io["mask." + name])
        w = {k: torch.tensor(v, requires_grad=True) for k, v in wts.items()}
        mt = {k: torch.from_numpy(v) for k, v in m.items()}
        x = torch.from_numpy(io["x"].astype(np.int64))
        y = torch.from_numpy(io["y"].astype(np.int64)) if c["classes"] else None
        loss = nll(c, w, mt, x, y)
        ck.close("%s: loss" % tag, loss.item(), io["loss"], 1e-5, 1e-5)
        names = list(wts)
        grads = torch.autograd.grad(loss, [w[n] for n in names])
        for n, g in zip(names, grads):
            got = io["grad." + n]
            scale = float(np.abs(got).max()) + 1e-12
            ck.close("%s: gradient of %s" % (tag, n), got, g.detach().numpy().reshape(-1), 2e-4 * scale, 1e-3)
    print("%d passed, %d failed" % (ck.passed, ck.failed))
    return ck.failed == 0


def main(argv):
    if len(argv) == 3 and argv[1] == "selfcheck":
        return 0 if selfcheck(argv[2]) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
