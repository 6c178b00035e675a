#!/usr/bin/python3
"""The PyTorch twin of vkgen's wavenet family (src/models/wavenet.c), with the same parameter names
and shapes, so a vkgen weights file loads here.

    tools/wavenet_twin.py selfcheck CASE.safetensors   (written by tests/test_wavenet.c)

selfcheck loads the weights, batch (x, y, class), loss and gradients that the C graph computed,
recomputes the loss and every gradient with torch autograd (float64) and exits 1 on any difference
beyond float32 rounding. Debian's python3-torch and python3-numpy only."""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

Q = 256


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    dt = {"F32": np.float32, "I32": np.int32}
    out = {}
    for name, h in hdr.items():
        a, z = h["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + a:8 + n + z], dtype=dt[h["dtype"]]).reshape(h["shape"])
    return out, meta


def layers(c):
    per = c["max_dilation"].bit_length()  # log2(max_dilation) + 1
    return [1 << (l % per) for l in range(c["stacks"] * per)]


def logits(c, p, x, cls):
    """x (B, T) long, cls (B) long -> (B, T, Q); p: name -> tensor."""
    D, dil = c["gate"], layers(c)
    h = p["embed.weight"][x].permute(0, 2, 1)  # (B, R, T)
    skip = 0
    for l, d in enumerate(dil):
        z = F.conv1d(F.pad(h, (d, 0)), p[f"layers.{l}.dil.weight"], p[f"layers.{l}.dil.bias"], dilation=d)
        if c["classes"]:
            z = z + p[f"layers.{l}.cond.weight"][cls].unsqueeze(2)
        u = torch.tanh(z[:, :D]) * torch.sigmoid(z[:, D:])
        skip = skip + F.conv1d(u, p[f"layers.{l}.skip.weight"], p[f"layers.{l}.skip.bias"])
        if l < len(dil) - 1:
            h = h + F.conv1d(u, p[f"layers.{l}.res.weight"], p[f"layers.{l}.res.bias"])
    o = F.conv1d(F.relu(skip), p["out1.weight"], p["out1.bias"])
    o = F.conv1d(F.relu(o), p["out2.weight"], p["out2.bias"])
    return o.permute(0, 2, 1)


def selfcheck(path):
    t, meta = read_safetensors(path)
    c = json.loads(meta["config"])
    names = [k for k in t if k not in ("x", "y", "class", "loss") and not k.startswith("grad.")]
    p = {k: torch.tensor(t[k], dtype=torch.float64, requires_grad=True) for k in names}
    x = torch.tensor(t["x"], dtype=torch.long)
    y = torch.tensor(t["y"], dtype=torch.long)
    cls = torch.tensor(t["class"], dtype=torch.long)
    lg = logits(c, p, x, cls)
    loss = F.cross_entropy(lg.reshape(-1, Q), y.reshape(-1), ignore_index=-1)
    loss.backward()
    bad = 0
    got = float(t["loss"][0])
    if abs(got - loss.item()) > 1e-5 * abs(loss.item()):
        print(f"wavenet_twin: loss {got} vs torch {loss.item()}")
        bad += 1
    for k in names:
        ref = p[k].grad.numpy().ravel()
        g = t["grad." + k].astype(np.float64)
        tol = 1e-4 * np.abs(ref).max() + 1e-3 * np.abs(ref) + 1e-9
        err = np.abs(g - ref)
        if not (err <= tol).all():
            i = int(np.argmax(err - tol))
            print(f"wavenet_twin: gradient of {k} differs at {i}: {g[i]} vs torch {ref[i]}")
            bad += 1
    print(f"wavenet_twin: loss {got:.6f} (torch {loss.item():.6f}), {len(names)} gradients, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "selfcheck":
        sys.exit(selfcheck(sys.argv[2]))
    print(__doc__)
    sys.exit(2)
