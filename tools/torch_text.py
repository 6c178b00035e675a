#!/usr/bin/python3
"""PyTorch twins of vkgen's text families (gpt, lstm, gru), for tools/compare.py and tests/test_torch_text.c.

The layers, parameter names and shapes, initialization, corpus split, training windows, batch order
and optimizer are those of src/models/gpt.c, src/models/rnn.c, src/models/lm.c and src/nn/train.c:

  - corpus: the text files of the directory in bytewise name order, cut into fortunes at lines
    holding only '%'; every 20th fortune is held out; each fortune is followed by "%\\n"; byte tokens;
  - windows: training window i is tokens [i T, i T + T] (inputs the first T, labels the last T), and
    the batches are vkg_shuffle's permutation of the windows per epoch (tools/torch_models.py);
  - initialization: vkgen's host init reproduced bit for bit (the GPT's N(0, 0.02) from Box-Muller
    pairs, the residual projections N(0, 0.02 / sqrt(2 L)), wpe N(0, 0.01); the RNNs' uniform
    +-1/sqrt(C) and the embedding's uniform of unit variance);
  - loss: mean cross-entropy over the B T labels; Adam (beta2 0.999, eps 1e-8) with the global
    gradient norm clipped as torch.nn.utils.clip_grad_norm_ does, and vkgen's learning-rate schedule
    (constant, or linear warmup then cosine decay to 0).

The LSTM and GRU are torch.nn.LSTM / torch.nn.GRU themselves (vkgen's tensors carry their names), so
the twin also checks vkgen's recurrences against PyTorch's own.

    tools/torch_text.py train lstm --steps 300 --seed 1 --out runs/torch-lstm   (then 'vkgen eval lstm --weights ...')
    tools/torch_text.py selfcheck DIR      (DIR written by tests/test_torch_text.c)
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import Checks, init_uniform, nn_mix, shuffle, st_load, st_save  # noqa: E402

FORTUNES_DIR = "/usr/share/games/fortunes"
DEFAULTS = {"batch": 16, "lr": 1e-3, "beta1": 0.9, "clip": 1.0}  # src/cli/family.c


# ---- corpus (nn_text_data_load) ----


def load_corpus(d=None):
    """(train tokens, held-out tokens) as int64 arrays: bytes, as vkgen's byte tokenizer gives them."""
    d = d or FORTUNES_DIR
    names = []
    for name in os.listdir(d):
        if name.endswith(".dat") or name.endswith(".u8"):
            continue
        path = os.path.join(d, name)
        if not os.path.isfile(path):
            continue
        if os.path.islink(path):
            t = os.readlink(path)
            if t.endswith(".dat") or t.endswith(".u8"):
                continue
        names.append(name)
    names.sort(key=lambda s: s.encode())
    text = b"".join(open(os.path.join(d, n), "rb").read() for n in names)
    tr, va, index, start, i, n = [], [], 0, 0, 0, len(text)
    while i <= n:
        e = text.find(b"\n", i)
        e = n if e < 0 else e
        line = text[i:e]
        sep, end = line in (b"%", b"%\r"), e >= n
        if sep or end:
            f = text[start:(i if sep else n)]
            if f.strip(b" \n\t\r"):
                (va if index % 20 == 19 else tr).append(f + b"%\n")
                index += 1
            start = e + 1
        if end:
            break
        i = e + 1
    tok = lambda parts: np.frombuffer(b"".join(parts), dtype=np.uint8).astype(np.int64)
    return tok(tr), tok(va)


def windows(tokens, T, limit=0):
    n = (len(tokens) - 1) // T if len(tokens) > T else 0
    return min(n, limit) if limit else n


def window_batch(tokens, idx, T):
    rows = np.stack([tokens[int(i) * T:int(i) * T + T + 1] for i in idx])
    return torch.from_numpy(rows[:, :T].copy()), torch.from_numpy(rows[:, 1:].copy())


# ---- configs and initialization ----


def config(family, layers=4, dim=128, heads=4, context=128, mlp=0):
    gpt = family == "gpt"
    return {"family": family, "tokenizer": "bytes", "vocab": 256, "layers": layers, "dim": dim,
            "heads": heads if gpt else 0, "context": context, "tied": 0, "mlp": (mlp or 4 * dim) if gpt else 0,
            "ln_eps": 9.99999975e-06}


def config_json(c):
    """nn_cfg_json's text (the floats as %.9g)."""
    parts = []
    for k in ("family", "tokenizer", "vocab", "layers", "dim", "heads", "context", "tied", "mlp", "ln_eps"):
        v = c[k]
        parts.append('"%s": %s' % (k, '"%s"' % v if isinstance(v, str) else "%.9g" % v if isinstance(v, float)
                                   else "%d" % v))
    return "{" + ", ".join(parts) + "}"


def gpt_normal(shape, std, seed):
    """gpt.c's init_normal: Box-Muller on pairs (2i, 2i + 1), cos for element i, sin for i + 1."""
    n = int(np.prod(shape))
    k = np.arange((n + 1) // 2, dtype=np.uint64) * np.uint64(2)
    u1 = ((nn_mix(seed, 2 * k) >> np.uint64(11)).astype(np.float64) + 1.0) / 9007199254740993.0
    u2 = (nn_mix(seed, 2 * k + np.uint64(1)) >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
    r, std = np.sqrt(-2.0 * np.log(u1)), float(np.float32(std))
    v = np.empty(2 * len(k))
    v[0::2], v[1::2] = std * r * np.cos(2 * math.pi * u2), std * r * np.sin(2 * math.pi * u2)
    return v[:n].astype(np.float32).reshape(shape)


def param_specs(c):
    """[(name, shape)] in vkgen's order."""
    C, V, L = c["dim"], c["vocab"], c["layers"]
    if c["family"] == "gpt":
        F_ = c["mlp"]
        s = [("wte.weight", (V, C)), ("wpe.weight", (c["context"], C))]
        for l in range(L):
            s += [("h.%d.%s" % (l, n), sh) for n, sh in (
                ("ln_1.weight", (C,)), ("ln_1.bias", (C,)), ("attn.c_attn.weight", (C, 3 * C)),
                ("attn.c_attn.bias", (3 * C,)), ("attn.c_proj.weight", (C, C)), ("attn.c_proj.bias", (C,)),
                ("ln_2.weight", (C,)), ("ln_2.bias", (C,)), ("mlp.c_fc.weight", (C, F_)), ("mlp.c_fc.bias", (F_,)),
                ("mlp.c_proj.weight", (F_, C)), ("mlp.c_proj.bias", (C,)))]
        return s + [("ln_f.weight", (C,)), ("ln_f.bias", (C,))] + ([] if c["tied"] else [("lm_head.weight", (V, C))])
    G = 4 if c["family"] == "lstm" else 3
    s = [("embedding.weight", (V, C))]
    for l in range(L):
        s += [("rnn.weight_ih_l%d" % l, (G * C, C)), ("rnn.weight_hh_l%d" % l, (G * C, C)),
              ("rnn.bias_ih_l%d" % l, (G * C,)), ("rnn.bias_hh_l%d" % l, (G * C,))]
    return s + [("head.bias", (V,))] + ([] if c["tied"] else [("head.weight", (V, C))])


FORGET_BIAS = 0.0  # vkgen's init (PyTorch's); --forget-bias 1 starts the LSTM's forget gate open


def init(c, seed, forget_bias=FORGET_BIAS):
    """vkgen's initial parameters (name -> float32 array) for config c and seed; forget_bias is added
    to the LSTM's forget-gate part of bias_ih (0: vkgen's and PyTorch's own init)."""
    out, L = {}, c["layers"]
    if c["family"] == "gpt":
        std, proj = np.float32(0.02), np.float32(0.02) / np.sqrt(np.float32(2.0 * L), dtype=np.float32)
        for i, (name, shape) in enumerate(param_specs(c)):
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
                out[name] = np.ones(shape, np.float32)
            elif name.endswith("bias"):
                out[name] = np.zeros(shape, np.float32)
            else:
                sd = 0.01 if name == "wpe.weight" else proj if name.endswith("c_proj.weight") else std
                out[name] = gpt_normal(shape, sd, nn_mix(seed, i))
        return out
    bound = np.float32(1) / np.sqrt(np.float32(c["dim"]), dtype=np.float32)
    for name, shape in param_specs(c):
        if name == "embedding.weight":
            out[name] = init_uniform(shape, np.sqrt(np.float32(3), dtype=np.float32), nn_mix(seed, 0))
        elif name.startswith("rnn."):
            kind = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"].index(name[4:name.rindex("_")])
            l = int(name[name.rindex("_l") + 2:])
            out[name] = init_uniform(shape, bound, nn_mix(seed, 1 + 4 * l + kind))
            if kind == 2 and c["family"] == "lstm":
                C = c["dim"]
                out[name][C:2 * C] += np.float32(forget_bias)
        else:
            out[name] = init_uniform(shape, bound, nn_mix(seed, 1000001 if name == "head.bias" else 1000002))
    return out


# ---- the models ----


class Gpt(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        for name, shape in param_specs(c):
            self.register_parameter(name.replace(".", "__"), nn.Parameter(torch.zeros(shape)))

    def p(self, name):
        return getattr(self, name.replace(".", "__"))

    def forward(self, ids):
        c, T = self.c, ids.shape[1]
        C, NH, eps = c["dim"], c["heads"], c["ln_eps"]
        x = self.p("wte.weight")[ids] + self.p("wpe.weight")[:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for l in range(c["layers"]):
            b = lambda n: self.p("h.%d.%s" % (l, n))
            h = F.layer_norm(x, (C,), b("ln_1.weight"), b("ln_1.bias"), eps)
            q, k, v = (h @ b("attn.c_attn.weight") + b("attn.c_attn.bias")).split(C, dim=2)
            hs = lambda t: t.reshape(t.shape[0], T, NH, C // NH).transpose(1, 2)
            q, k, v = hs(q), hs(k), hs(v)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(C // NH)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            a = (att @ v).transpose(1, 2).reshape(x.shape)
            x = x + a @ b("attn.c_proj.weight") + b("attn.c_proj.bias")
            h = F.layer_norm(x, (C,), b("ln_2.weight"), b("ln_2.bias"), eps)
            h = F.gelu(h @ b("mlp.c_fc.weight") + b("mlp.c_fc.bias"), approximate="tanh")
            x = x + h @ b("mlp.c_proj.weight") + b("mlp.c_proj.bias")
        x = F.layer_norm(x, (C,), self.p("ln_f.weight"), self.p("ln_f.bias"), eps)
        return x @ (self.p("wte.weight") if c["tied"] else self.p("lm_head.weight")).t()


class Rnn(nn.Module):
    """Embedding, torch.nn.LSTM or GRU over the window from a zero state (time-major), linear head."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        C, V = c["dim"], c["vocab"]
        self.embedding = nn.Embedding(V, C)
        self.rnn = (nn.LSTM if c["family"] == "lstm" else nn.GRU)(C, C, num_layers=c["layers"])
        self.head = nn.Linear(C, V)

    def p(self, name):
        return dict(self.named_parameters())[name]

    def forward(self, ids):
        x = self.embedding(ids).transpose(0, 1)  # (T, B, C)
        y, _ = self.rnn(x)
        w = self.embedding.weight if self.c["tied"] else self.head.weight
        return F.linear(y.transpose(0, 1), w, self.head.bias)


def make(c):
    return Gpt(c) if c["family"] == "gpt" else Rnn(c)


def load_state(model, tensors):
    with torch.no_grad():
        for name, _ in param_specs(model.c):
            model.p(name).copy_(torch.from_numpy(np.asarray(tensors[name], dtype=np.float32)))


def state(model):
    return {name: model.p(name).detach().clone() for name, _ in param_specs(model.c)}


def loss_of(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1)


def lr_at(step, total, lr, warmup, cosine):
    """vkg_lr_at (src/nn/optim.c) for step 1..total."""
    if warmup and step <= warmup:
        return lr * step / warmup
    if not cosine:
        return lr
    span = max(1, total - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


# ---- training (the loop of src/nn/train.c) ----


def train(c, args, log=None):
    torch.set_num_threads(args.threads)
    model = make(c)
    load_state(model, init(c, args.seed, args.forget_bias))
    train_tok, _ = load_corpus(args.data)
    T, batch = c["context"], args.batch
    n_train = windows(train_tok, T, args.limit)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(args.beta1, 0.999), eps=1e-8)
    spe = n_train // batch
    metrics, t0, perm, epoch = [], time.perf_counter(), None, -1
    for step in range(1, args.steps + 1):
        if (step - 1) // spe != epoch:
            epoch = (step - 1) // spe
            perm = shuffle(n_train, args.seed, epoch)
        k = (step - 1) % spe
        x, y = window_batch(train_tok, perm[k * batch:(k + 1) * batch], T)
        loss = loss_of(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = float(torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip if args.clip > 0 else float("inf")))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup, args.cosine)
        opt.step()
        metrics.append({"step": step, "loss": loss.item(), "grad_norm": gn})
        if log and (step % args.log_every == 0 or step == args.steps):
            print("step %d/%d  loss %.4f  %.2f steps/s" % (step, args.steps, loss.item(),
                                                           step / (time.perf_counter() - t0)), file=log, flush=True)
    return model, metrics


# ---- evaluation (lm_nll) ----


def held_out_nats_per_byte(model, val, tokens=16384, batch=8):
    """vkgen eval's val_loss: windows of T every T tokens over the first `tokens` held-out tokens (the
    last window's missing labels ignored), total nats over the bytes of the predicted tokens."""
    T, va = model.c["context"], val[:tokens]
    n, nats = len(va), 0.0
    with torch.no_grad():
        for s in range(0, n - 1, T * batch):
            pos = s + np.arange(batch)[:, None] * T + np.arange(T)[None, :]
            x = np.where(pos < n, va[np.minimum(pos, n - 1)], 0)
            y = np.where(pos + 1 < n, va[np.minimum(pos + 1, n - 1)], -1)
            logits = model(torch.from_numpy(x))
            nats += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1),
                                          ignore_index=-1, reduction="sum"))
    return nats / (n - 1)


# ---- selfcheck against tests/test_torch_text.c ----


def selfcheck(d):
    ck = Checks()
    io, meta = st_load(os.path.join(d, "corpus.safetensors"))
    tr, va = load_corpus(os.path.join(d, "corpus"))
    ck.equal("corpus: training tokens", tr, io["train"].astype(np.int64))
    ck.equal("corpus: held-out tokens", va, io["val"].astype(np.int64))
    for fam in ("gpt", "lstm", "gru"):
        w, wmeta = st_load(os.path.join(d, fam + ".safetensors"))
        io, meta = st_load(os.path.join(d, fam + "_io.safetensors"))
        c = json.loads(wmeta["config"])
        ck.equal("%s: config text" % fam, config_json(c), wmeta["config"])
        ref = init(c, int(meta["init_seed"]))
        ck.equal("%s: parameter names and order" % fam, list(ref), list(w))
        for name, v in ref.items():
            ck.close("%s: init of %s" % (fam, name), v, w[name], 1e-7, 1e-6)
        T = c["context"]
        x, y = window_batch(tr, io["idx"], T)
        model = make(c).double()
        load_state(model, st_load(os.path.join(d, fam + "_w.safetensors"))[0])
        with torch.no_grad():
            for prm in model.parameters():
                prm.copy_(prm.double())
        loss = loss_of(model, x, y)
        names = [n for n, _ in param_specs(c)]
        grads = torch.autograd.grad(loss, [model.p(n) for n in names])
        ck.close("%s: loss" % fam, loss.item(), io["loss"], 1e-6, 1e-5)
        for n, g in zip(names, grads):
            ref_g = io["grad." + n]
            scale = float(np.abs(ref_g).max()) + 1e-12
            ck.close("%s: gradient of %s" % (fam, n), g.numpy(), ref_g, 1e-4 * scale, 1e-3)
    print("%d passed, %d failed" % (ck.passed, ck.failed))
    return ck.failed == 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train a family as 'vkgen train' would, write a vkgen weights file")
    tr.add_argument("family", choices=["gpt", "lstm", "gru"])
    tr.add_argument("--steps", type=int, required=True)
    tr.add_argument("--seed", type=int, default=1)
    tr.add_argument("--out", required=True)
    tr.add_argument("--batch", type=int, default=DEFAULTS["batch"])
    tr.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    tr.add_argument("--beta1", type=float, default=DEFAULTS["beta1"])
    tr.add_argument("--clip", type=float, default=DEFAULTS["clip"])
    tr.add_argument("--warmup", type=int, default=0)
    tr.add_argument("--cosine", action="store_true")
    tr.add_argument("--layers", type=int, default=4)
    tr.add_argument("--dim", type=int, default=128)
    tr.add_argument("--heads", type=int, default=4)
    tr.add_argument("--context", type=int, default=128)
    tr.add_argument("--limit", type=int, default=0)
    tr.add_argument("--forget-bias", type=float, default=FORGET_BIAS,
                    help="lstm: added to the forget gate's bias_ih at init (default %g: vkgen's and PyTorch's init)"
                    % FORGET_BIAS)
    tr.add_argument("--data", default=None, help="fortune directory (default: the Debian package's)")
    tr.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    tr.add_argument("--log-every", type=int, default=50)
    tr.add_argument("--quiet", action="store_true")
    sc = sub.add_parser("selfcheck", help="compare with the values tests/test_torch_text.c wrote")
    sc.add_argument("dir")
    ev = sub.add_parser("eval", help="held-out nats per byte of vkgen weights files, computed by the twin")
    ev.add_argument("weights", nargs="+")
    ev.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    if args.cmd == "selfcheck":
        return 0 if selfcheck(args.dir) else 1
    if args.cmd == "eval":
        _, va = load_corpus(args.data)
        for path in args.weights:
            w, meta = st_load(path)
            model = make(json.loads(meta["config"]))
            load_state(model, w)
            print("%s: %.6f nats/byte on the held-out fortunes" % (path, held_out_nats_per_byte(model, va)))
        return 0
    c = config(args.family, args.layers, args.dim, args.heads, args.context)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    model, metrics = train(c, args, None if args.quiet else sys.stderr)
    wall = time.perf_counter() - t0
    with open(os.path.join(args.out, "metrics.jsonl"), "w") as f:
        for m in metrics:
            f.write(json.dumps(m) + "\n")
    path = os.path.join(args.out, args.family + ".safetensors")
    st_save(path, state(model), {"format": "vkgen-weights", "model": args.family, "config": config_json(c)})
    if not args.quiet:
        print("wrote %s (%d steps in %.1f s)" % (path, args.steps, wall), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
