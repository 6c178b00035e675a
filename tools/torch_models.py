#!/usr/bin/python3
"""PyTorch twins of vkgen's GAN and VAE families, for tools/compare.py and tests/test_torch_models.c.

The architectures, losses, batchnorm modes and Adam settings are those of src/models/gan.c and
src/models/vae.c, and the parameters carry the same names and shapes, so a vkgen weights file loads
here and a model trained here is written as a vkgen weights file (metadata format/model/config) that
'vkgen eval|sample' reads. By default the run also draws the same numbers as vkgen:

  - initialization: vkgen's splitmix-based host init (DCGAN's N(0, 0.02) for the GAN, PyTorch's
    default uniform(+-1/sqrt(fan_in)) for the VAE) reproduced bit for bit;
  - data order: vkg_shuffle (src/io/dataset.c) reproduced exactly, one permutation per epoch;
  - noise: vkg_random_normal's Philox-4x32-10 + Box-Muller with the per-step seed the training loop
    sets, nn_mix(nn_mix(seed, step), phase) (src/nn/train.c).

So the first steps of a run here and of 'vkgen train' see identical inputs and should give the same
losses to float rounding; '--rng torch' swaps init and noise for torch's own generator (the data
order stays vkgen's) to show the results do not hinge on that.

Debian's python3-torch and python3-numpy only (apt-get install python3-torch).

    tools/torch_models.py train gan --steps 300 --seed 1 --out runs/torch-gan
    tools/torch_models.py train vae --steps 300 --seed 1 --out runs/torch-vae
    tools/torch_models.py selfcheck DIR      (DIR written by tests/test_torch_models.c)
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
FASHION_DIR = "/usr/share/datasets/fashion-mnist"

# ---- vkgen's counter-based random numbers (numpy uint64 arithmetic wraps mod 2^64) ----


def _u64(x):
    return np.asarray(x, dtype=np.uint64)


def mix64(z):
    """splitmix64's output function (dataset.c's mix64), on uint64 arrays."""
    z = _u64(z)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def nn_mix(a, b):
    """nn_mix(a, b) of src/nn/params.c: a hash of two 64-bit values."""
    with np.errstate(over="ignore"):
        z = _u64(a) * np.uint64(GOLDEN) + _u64(b) + np.uint64(0x632BE59BD9B4E019)
    return mix64(z)


def shuffle(n, seed, epoch):
    """vkg_shuffle(perm, n, seed, epoch): Fisher-Yates from the end, each index by Lemire's method."""
    perm = list(range(n))
    if n < 2:
        return np.array(perm, dtype=np.int64)
    key = int(mix64((int(mix64(seed ^ 0x6A09E667F3BCC909)) + epoch * GOLDEN + 1) & M64))
    pos = np.arange(n - 1, 0, -1, dtype=np.uint64)

    def draw(i, attempt):  # draw32(key, i, attempt), for arrays of i
        with np.errstate(over="ignore"):
            inner = mix64(_u64(i) * np.uint64(GOLDEN) + np.uint64(attempt))
        return mix64(np.uint64(key) ^ inner) >> np.uint64(32)

    first = (draw(pos, 0) * (pos + np.uint64(1))).tolist()  # < 2^64: a 32-bit draw times a range <= 2^32
    for k, i in enumerate(range(n - 1, 0, -1)):
        rng, m = i + 1, first[k]
        if (m & 0xFFFFFFFF) < rng:
            threshold, attempt = (1 << 32) % rng, 0
            while (m & 0xFFFFFFFF) < threshold:
                attempt += 1
                m = int(draw(np.uint64(i), attempt)) * rng
        j = m >> 32
        perm[i], perm[j] = perm[j], perm[i]
    return np.array(perm, dtype=np.int64)


def philox4x32_10(block, stream, seed):
    """Philox-4x32-10 with counter (block, stream, 0, 0) and key (seed, 0); four uint64 arrays of words."""
    mask = np.uint64(0xFFFFFFFF)
    c0 = _u64(block)
    c1 = np.full_like(c0, stream)
    c2 = np.zeros_like(c0)
    c3 = np.zeros_like(c0)
    k0, k1 = seed & 0xFFFFFFFF, 0
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2  # 32x32 -> 64 bits, no overflow
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & mask, (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & mask
    return c0, c1, c2, c3


def philox_normal(shape, seed, stream=0):
    """vkg_random_normal(shape, seed, mean 0, std 1): element e gets word e % 4 of block e / 4; Box-Muller
    on the word pairs (0, 1) and (2, 3). Computed in double (as tests/ref_random.c), so it matches the
    shader's fp32 to about 1e-6."""
    n = int(np.prod(shape))
    w = philox4x32_10(np.arange((n + 3) // 4, dtype=np.uint64), stream, seed)
    out = np.empty((len(w[0]), 4))
    for p in range(2):
        u_open = ((w[2 * p] >> np.uint64(8)) + np.uint64(1)).astype(np.float64) / 16777216.0
        u = (w[2 * p + 1] >> np.uint64(8)).astype(np.float64) / 16777216.0
        rad, ang = np.sqrt(-2.0 * np.log(u_open)), 2.0 * math.pi * u
        out[:, 2 * p], out[:, 2 * p + 1] = rad * np.cos(ang), rad * np.sin(ang)
    return out.reshape(-1)[:n].astype(np.float32).reshape(shape)


def step_seed(seed, step, phase):
    """The "seed" scalar the training loop sets for a phase of a step (steps count from 1): a u32."""
    return int(nn_mix(nn_mix(seed, step), phase)) & 0xFFFFFFFF


def init_normal(shape, mean, std, seed):
    """gan.c's init_normal: Box-Muller in double on pairs of nn_mix(seed, 2i), nn_mix(seed, 2i + 1)."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    u1 = ((nn_mix(seed, 2 * i) >> np.uint64(11)).astype(np.float64) + 1.0) * (1.0 / 9007199254740993.0)
    u2 = (nn_mix(seed, 2 * i + np.uint64(1)) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    mean, std = float(np.float32(mean)), float(np.float32(std))  # the C takes them as float
    v = mean + std * np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)
    return v.astype(np.float32).reshape(shape)


def init_uniform(shape, bound, seed):
    """nn_init_uniform: (2u - 1) * bound with u = nn_mix(seed, i) >> 11 over 2^53."""
    n = int(np.prod(shape))
    u = (nn_mix(seed, np.arange(n, dtype=np.uint64)) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return ((2 * u - 1) * float(bound)).astype(np.float32).reshape(shape)


# ---- safetensors ----

ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I32": np.int32, "I64": np.int64,
             "U32": np.uint32, "U8": np.uint8}


def st_load(path):
    """(dict name -> numpy array, metadata dict) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    meta = header.pop("__metadata__", {}) or {}
    base, out = 8 + hlen, {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(blob[base + b:base + end], dtype=ST_DTYPES[e["dtype"]]).reshape(e["shape"]).copy()
    return out, meta


def st_save(path, tensors, metadata):
    """Writes tensors (name -> array, in order) with string metadata; atomically, like vkgen's writer."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    rev = {np.dtype(v): k for k, v in ST_DTYPES.items()}
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy() if torch.is_tensor(t) else t)
        data = a.tobytes()
        header[name] = {"dtype": rev[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---- data ----


def load_idx(path):
    if not os.path.exists(path) and path.endswith(".gz"):
        path = path[:-3]
    data = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist(split, data_dir=None):
    """(pixels (n, 1, 28, 28) float32 in [0, 1] as vkgen computes them, labels (n,) int64)."""
    d = data_dir or FASHION_DIR
    prefix = "train" if split == "train" else "t10k"
    img = load_idx(os.path.join(d, prefix + "-images-idx3-ubyte.gz"))
    lab = load_idx(os.path.join(d, prefix + "-labels-idx1-ubyte.gz"))
    return (img.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28), lab.astype(np.int64)


def synthetic_images(n, channels, size, seed):
    """gan.c's synthetic data (benchmarks and tests): pixels nn_mix(seed, i) >> 40 over 2^24."""
    i = np.arange(n * channels * size * size, dtype=np.uint64)
    px = (nn_mix(seed, i) >> np.uint64(40)).astype(np.float32) / np.float32(1 << 24)
    return px.reshape(n, channels, size, size)


# ---- the GAN (src/models/gan.c) ----


def gan_config(size=28, channels=1, z=64, width=8, classes=0, embed=0):
    return {"size": size, "channels": channels, "z": z, "width": width, "classes": classes,
            "embed": embed if classes else 0}


def gan_config_json(a):
    """Exactly gan_arch_json's text (the weights files' "config" metadata)."""
    return ('{"size": %d, "channels": %d, "z": %d, "width": %d, "classes": %d, "embed": %d}'
            % (a["size"], a["channels"], a["z"], a["width"], a["classes"], a["embed"] if a["classes"] else 0))


def gan_layout(a):
    """Stages, smallest side, G's and D's channels per stage (gan.c's make_params)."""
    n = {28: 2, 32: 3, 64: 4}[a["size"]]
    w = a["width"]
    return n, a["size"] >> n, [w << (n - i) for i in range(n)], [w << i for i in range(n)]


def gan_param_specs(a):
    """Every parameter in vkgen's order: (name, shape, trainable, init) with init ("normal", mean, std)
    or ("const", value)."""
    n, s0, gc, dc = gan_layout(a)
    wt, zero = ("normal", 0.0, 0.02), ("const", 0.0)
    specs = []

    def bn(prefix, c):
        specs.extend([(prefix + ".weight", (c,), True, ("normal", 1.0, 0.02)), (prefix + ".bias", (c,), True, zero),
                      (prefix + ".running_mean", (c,), False, zero), (prefix + ".running_var", (c,), False, ("const", 1.0))])

    for i in range(n):
        cin = dc[i - 1] if i else a["channels"]
        specs.append(("d.conv%d.weight" % i, (dc[i], cin, 4, 4), True, wt))
        if i == 0:
            specs.append(("d.conv0.bias", (dc[0],), True, zero))
        else:
            bn("d.bn%d" % i, dc[i])
    feat = dc[n - 1] * s0 * s0
    specs += [("d.fc.weight", (1, feat), True, wt), ("d.fc.bias", (1,), True, zero)]
    if a["classes"]:
        specs.append(("d.embed.weight", (a["classes"], feat), True, wt))
        specs.append(("g.embed.weight", (a["classes"], a["embed"]), True, ("normal", 0.0, 1.0)))
    specs.append(("g.fc.weight", (gc[0] * s0 * s0, a["z"] + (a["embed"] if a["classes"] else 0)), True, wt))
    bn("g.bn0", gc[0])
    for i in range(1, n):
        specs.append(("g.up%d.weight" % i, (gc[i - 1], gc[i], 4, 4), True, wt))
        bn("g.bn%d" % i, gc[i])
    specs += [("g.out.weight", (gc[n - 1], a["channels"], 4, 4), True, wt), ("g.out.bias", (a["channels"],), True, zero)]
    return specs


def gan_init(a, seed):
    """vkgen's initial GAN parameters for an init seed (parameter k is seeded nn_mix(seed, k + 1))."""
    out = {}
    for k, (name, shape, _, init) in enumerate(gan_param_specs(a)):
        if init[0] == "normal" and init[2] > 0:
            out[name] = init_normal(shape, init[1], init[2], int(nn_mix(seed, k + 1)))
        else:
            out[name] = np.full(shape, init[1], dtype=np.float32)
    return out


class BatchNorm(nn.Module):
    """Batchnorm over channels with vkgen's three modes: "infer" (running statistics), "train" (batch
    statistics, running ones untouched) and "update" (batch statistics, running ones updated with
    momentum 0.1 and the unbiased variance, as PyTorch does). eps 1e-5."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))

    def forward(self, x, mode):
        if mode == "infer":
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.1, 1e-5)
        rm, rv = (self.running_mean, self.running_var) if mode == "update" else (None, None)
        return F.batch_norm(x, rm, rv, self.weight, self.bias, True, 0.1, 1e-5)


class Generator(nn.Module):
    """z (B, Z) [+ embed(y)] -> linear -> (B, gc0, s0, s0), bn, ReLU, (n-1) x [convT k4 s2 p1, bn, ReLU],
    convT to the image channels (with bias), tanh."""

    def __init__(self, a):
        super().__init__()
        self.a = a
        self.n, self.s0, self.gc, _ = gan_layout(a)
        zin = a["z"] + (a["embed"] if a["classes"] else 0)
        if a["classes"]:
            self.embed = nn.Embedding(a["classes"], a["embed"])
        self.fc = nn.Linear(zin, self.gc[0] * self.s0 * self.s0, bias=False)
        self.bn0 = BatchNorm(self.gc[0])
        for i in range(1, self.n):
            self.add_module("up%d" % i, nn.ConvTranspose2d(self.gc[i - 1], self.gc[i], 4, 2, 1, bias=False))
            self.add_module("bn%d" % i, BatchNorm(self.gc[i]))
        self.out = nn.ConvTranspose2d(self.gc[-1], a["channels"], 4, 2, 1)

    def forward(self, z, y, mode):
        h = torch.cat([z, self.embed(y)], 1) if self.a["classes"] else z
        h = self.fc(h).view(z.shape[0], self.gc[0], self.s0, self.s0)
        h = F.relu(self.bn0(h, mode))
        for i in range(1, self.n):
            h = F.relu(getattr(self, "bn%d" % i)(getattr(self, "up%d" % i)(h), mode))
        return torch.tanh(self.out(h))


class Discriminator(nn.Module):
    """n x [conv k4 s2 p1 (bias on the first only), bn (not on the first), LeakyReLU 0.2], linear -> one
    logit, plus the projection <embed(y), features> for a conditional model."""

    def __init__(self, a):
        super().__init__()
        self.a = a
        self.n, self.s0, _, self.dc = gan_layout(a)
        for i in range(self.n):
            cin = self.dc[i - 1] if i else a["channels"]
            self.add_module("conv%d" % i, nn.Conv2d(cin, self.dc[i], 4, 2, 1, bias=i == 0))
            if i:
                self.add_module("bn%d" % i, BatchNorm(self.dc[i]))
        feat = self.dc[-1] * self.s0 * self.s0
        self.fc = nn.Linear(feat, 1)
        if a["classes"]:
            self.embed = nn.Embedding(a["classes"], feat)

    def forward(self, x, y, mode):
        h = x
        for i in range(self.n):
            h = getattr(self, "conv%d" % i)(h)
            if i:
                h = getattr(self, "bn%d" % i)(h, mode)
            h = F.leaky_relu(h, 0.2)
        h = h.flatten(1)
        logit = self.fc(h)
        if self.a["classes"]:
            logit = logit + (self.embed(y) * h).sum(1, keepdim=True)
        return logit


class Gan(nn.Module):
    """g and d, so the state dict's names are vkgen's ("g.fc.weight", "d.bn1.running_var", ...)."""

    def __init__(self, a):
        super().__init__()
        self.a = a
        self.g = Generator(a)
        self.d = Discriminator(a)

    def vkgen_state(self):
        sd = self.state_dict()
        return {name: sd[name] for name, *_ in gan_param_specs(self.a)}

    def load_vkgen_state(self, tensors):
        self.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}, strict=True)


def gan_loss_d(model, x, y, z, d_mode="update"):
    """The D phase's loss BCE(D(x), 1) + BCE(D(G(z)), 0): G frozen in batch-statistics mode, D's running
    statistics updated by the real batch only (d_mode "update"; "train" leaves them alone)."""
    with torch.no_grad():
        fake = model.g(z, y, "train")
    real_logits = model.d(x, y, d_mode)
    fake_logits = model.d(fake, y, "train")
    loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    return loss_d


def gan_loss_g(model, y, z, g_mode="update"):
    """The G phase's non-saturating loss BCE(D(G(z)), 1): G's running statistics updated (g_mode
    "update"), D in batch-statistics mode and its running statistics left alone."""
    logits = model.d(model.g(z, y, g_mode), y, "train")
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def place_images(px, size, channels):
    """gan.c's place_image for a batch of 28-px gray images: scaled by the largest whole factor that
    fits, centred on a black (-1) border, gray replicated; values in [-1, 1]."""
    n, c, h, w = px.shape
    f, pad = size // h, (size - (size // h) * h) // 2
    up = np.repeat(np.repeat(px, f, axis=2), f, axis=3) * np.float32(2.0) - np.float32(1.0)
    out = np.full((n, channels, size, size), -1.0, dtype=np.float32)
    out[:, :, pad:pad + f * h, pad:pad + f * w] = up if c == channels else np.repeat(up, channels, axis=1)
    return out


# ---- the VAE (src/models/vae.c) ----


def vae_config(z=16, w=16, size=28, channels=1):
    return {"z": z, "w": w, "size": size, "channels": channels}


def vae_config_json(c):
    """Exactly vae_config_json's text."""
    return '{"z": %d, "w": %d, "size": %d, "channels": %d}' % (c["z"], c["w"], c["size"], c["channels"])


def vae_param_specs(c):
    """(name, shape, fan_in) in vkgen's order (enum vae_param)."""
    w, w2, ch, Z = c["w"], 2 * c["w"], c["channels"], c["z"]
    feat = w2 * (c["size"] // 4) ** 2
    return [("enc.conv1.weight", (w, ch, 4, 4), ch * 16), ("enc.conv1.bias", (w,), ch * 16),
            ("enc.conv2.weight", (w2, w, 4, 4), w * 16), ("enc.conv2.bias", (w2,), w * 16),
            ("enc.fc.weight", (2 * Z, feat), feat), ("enc.fc.bias", (2 * Z,), feat),
            ("dec.fc.weight", (feat, Z), Z), ("dec.fc.bias", (feat,), Z),
            ("dec.deconv1.weight", (w2, w, 4, 4), w * 16), ("dec.deconv1.bias", (w,), w * 16),
            ("dec.deconv2.weight", (w, ch, 4, 4), ch * 16), ("dec.deconv2.bias", (ch,), ch * 16)]


def vae_init(c, seed):
    """vkgen's initial VAE parameters: parameter i uniform(+-1/sqrtf(fan_in)) seeded nn_mix(seed, i)."""
    return {name: init_uniform(shape, np.float32(1.0) / np.sqrt(np.float32(fan)), int(nn_mix(seed, i)))
            for i, (name, shape, fan) in enumerate(vae_param_specs(c))}


class VaeEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c["channels"], c["w"], 4, 2, 1)
        self.conv2 = nn.Conv2d(c["w"], 2 * c["w"], 4, 2, 1)
        self.fc = nn.Linear(2 * c["w"] * (c["size"] // 4) ** 2, 2 * c["z"])


class VaeDecoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c["z"], 2 * c["w"] * (c["size"] // 4) ** 2)
        self.deconv1 = nn.ConvTranspose2d(2 * c["w"], c["w"], 4, 2, 1)
        self.deconv2 = nn.ConvTranspose2d(c["w"], c["channels"], 4, 2, 1)


class Vae(nn.Module):
    """encoder: conv k4 s2 p1, ReLU, conv, ReLU, linear -> (mu, logvar); decoder: linear, ReLU, convT,
    ReLU, convT -> Bernoulli logits."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.enc = VaeEncoder(c)
        self.dec = VaeDecoder(c)

    def encode(self, x):
        h = F.relu(self.enc.conv2(F.relu(self.enc.conv1(x))))
        o = self.enc.fc(h.flatten(1))
        return o[:, :self.c["z"]], o[:, self.c["z"]:]

    def decode(self, z):
        s = self.c["size"] // 4
        h = F.relu(self.dec.fc(z)).view(z.shape[0], 2 * self.c["w"], s, s)
        return self.dec.deconv2(F.relu(self.dec.deconv1(h)))

    def neg_elbo(self, x, eps):
        """vae_neg_elbo: (loss, rec, kl), each per image averaged over the batch, in nats."""
        mu, logvar = self.encode(x)
        logits = self.decode(mu + eps * torch.exp(0.5 * logvar))
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar)) / x.shape[0]
        return rec + kl, rec, kl

    def vkgen_state(self):
        sd = self.state_dict()
        return {name: sd[name] for name, *_ in vae_param_specs(self.c)}

    def load_vkgen_state(self, tensors):
        self.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in tensors.items()}, strict=True)


# ---- weights files ----


def save_weights(path, model, family):
    """A vkgen weights file: the parameters in vkgen's order, metadata format/model/config."""
    config = gan_config_json(model.a) if family == "gan" else vae_config_json(model.c)
    st_save(path, model.vkgen_state(), {"format": "vkgen-weights", "model": family, "config": config})


def load_weights(path):
    """(family, model) from a vkgen weights file or checkpoint, the architecture from its config."""
    tensors, meta = st_load(path)
    family, config = meta.get("model"), meta.get("config")
    if family not in ("gan", "vae") or not config:
        raise ValueError("'%s' is not a vkgen gan or vae weights file (model %r)" % (path, family))
    model = Gan(json.loads(config)) if family == "gan" else Vae(json.loads(config))
    model.load_vkgen_state({k: tensors[k] for k in model.vkgen_state()})
    return family, model


# ---- training (the loop of src/nn/train.c) ----


def batches(n_train, batch, steps, seed):
    """The example indices of each step 1..steps: vkg_shuffle per epoch, whole batches only."""
    spe = n_train // batch
    if spe < 1:
        raise ValueError("a batch of %d is larger than the %d training examples" % (batch, n_train))
    perm, epoch = None, -1
    for step in range(steps):
        if step // spe != epoch:
            epoch = step // spe
            perm = shuffle(n_train, seed, epoch)
        k = step % spe
        yield step + 1, perm[k * batch:(k + 1) * batch]


class Noise:
    """The per-step normal noise: vkgen's Philox stream 0 with the loop's seed, or torch's generator."""

    def __init__(self, rng, seed):
        self.rng = rng
        self.gen = torch.Generator().manual_seed(seed) if rng == "torch" else None
        self.seed = seed

    def __call__(self, shape, step, phase):
        if self.rng == "torch":
            return torch.randn(shape, generator=self.gen)
        return torch.from_numpy(philox_normal(shape, step_seed(self.seed, step, phase)))


def torch_init(model, seed, family):
    """--rng torch: the same init distributions drawn from torch's generator."""
    torch.manual_seed(seed)
    if family == "vae":
        for m in model.modules():  # PyTorch's own default init: re-run it under the seed
            if hasattr(m, "reset_parameters") and m is not model:
                m.reset_parameters()
        return
    for name, shape, _, init in gan_param_specs(model.a):
        t = dict(model.named_parameters()).get(name)
        if t is None:
            continue
        with torch.no_grad():
            if init[0] == "normal":
                t.normal_(init[1], init[2])
            else:
                t.fill_(init[1])


def grad_norm(params):
    return math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params if p.grad is not None))


def train(family, args, log=None):
    """Trains like 'vkgen train FAMILY' with the same options; returns (model, per-step metrics)."""
    torch.set_num_threads(args.threads)
    if family == "gan":
        a = gan_config(args.size, args.channels, args.z or 64, args.width or 8, 10 if args.conditional else 0,
                       args.embed)
        model = Gan(a)
        if args.rng == "vkgen":
            model.load_vkgen_state(gan_init(a, args.seed))
        else:
            torch_init(model, args.seed, family)
        px, labels = fashion_mnist("train", args.data)
        lr = args.lr if args.lr is not None else 2e-4
        batch = args.batch or 64
        d_params = [p for n, p in model.named_parameters() if n.startswith("d.")]
        g_params = [p for n, p in model.named_parameters() if n.startswith("g.")]
        opt_d = torch.optim.Adam(d_params, lr=lr, betas=(args.beta1, 0.999), eps=1e-8)
        opt_g = torch.optim.Adam(g_params, lr=lr, betas=(args.beta1, 0.999), eps=1e-8)
    else:
        c = vae_config(args.z or 16, args.width or 16, 28, 1)
        model = Vae(c)
        if args.rng == "vkgen":
            model.load_vkgen_state(vae_init(c, args.seed))
        else:
            torch_init(model, args.seed, family)
        px, labels = fashion_mnist("train", args.data)
        lr = args.lr if args.lr is not None else 1e-3
        batch = args.batch or 32
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    n_train = min(args.limit, len(px)) if args.limit else len(px)
    noise = Noise(args.rng, args.seed)
    metrics, t0 = [], time.perf_counter()
    model.train()
    for step, idx in batches(n_train, batch, args.steps, args.seed):
        if family == "gan":
            a = model.a
            x = torch.from_numpy(place_images(px[idx], a["size"], a["channels"]))
            y = torch.from_numpy(labels[idx]) if a["classes"] else None
            # ---- D phase: G frozen, fresh noise ----
            loss_d = gan_loss_d(model, x, y, noise((batch, a["z"]), step, 0))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            gn_d = grad_norm(d_params)
            opt_d.step()
            # ---- G phase: D frozen (no gradients for it), new noise ----
            for p in d_params:
                p.requires_grad_(False)
            loss_g = gan_loss_g(model, y, noise((batch, a["z"]), step, 1))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            gn_g = grad_norm(g_params)
            opt_g.step()
            for p in d_params:
                p.requires_grad_(True)
            rec = {"step": step, "loss_d": loss_d.item(), "grad_norm_d": gn_d, "loss_g": loss_g.item(),
                   "grad_norm_g": gn_g}
        else:
            x = torch.from_numpy(px[idx])
            loss, _, _ = model.neg_elbo(x, noise((batch, model.c["z"]), step, 0))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = grad_norm(model.parameters())
            opt.step()
            rec = {"step": step, "loss": loss.item(), "grad_norm": gn}
        metrics.append(rec)
        if log and (step % args.log_every == 0 or step == args.steps):
            el = time.perf_counter() - t0
            losses = "  ".join("%s %.4f" % (k, v) for k, v in rec.items() if k.startswith("loss"))
            print("step %d/%d  %s  %.1f steps/s" % (step, args.steps, losses, step / el), file=log, flush=True)
    model.eval()
    return model, metrics


# ---- selfcheck against tests/test_torch_models.c ----


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def close(self, what, got, ref, atol, rtol):
        got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        if got.size == 1 and ref.size == 1:  # one value: () and (1,) alike
            got, ref = got.reshape(1), ref.reshape(1)
        if got.shape != ref.shape:
            return self.fail("%s: shape %s, expected %s" % (what, got.shape, ref.shape))
        err = np.abs(got - ref) - (atol + rtol * np.abs(ref))
        if not np.all(err <= 0) or not np.all(np.isfinite(got)):
            k = int(np.argmax(np.where(np.isfinite(err), err, np.inf)))
            return self.fail("%s: element %d is %.9g, expected %.9g (atol %g, rtol %g)"
                             % (what, k, got.flat[k], ref.flat[k], atol, rtol))
        self.passed += 1
        return True

    def equal(self, what, got, ref):
        if np.array_equal(np.asarray(got), np.asarray(ref)):
            self.passed += 1
            return True
        return self.fail("%s: differs" % what)

    def fail(self, msg):
        print("FAIL " + msg)
        self.failed += 1
        return False


def selfcheck(d):
    """Compares this file's reimplementations with what the C test wrote into directory d."""
    ck = Checks()
    rng, _ = st_load(os.path.join(d, "random.safetensors"))
    for name, perm in rng.items():
        if name.startswith("shuffle."):
            n, seed, epoch = (int(v) for v in name.split(".")[1:])
            ck.equal("vkg_shuffle(n %d, seed %d, epoch %d)" % (n, seed, epoch), shuffle(n, seed, epoch), perm)
        elif name.startswith("normal."):
            seed = int(name.split(".")[1])
            ck.close("vkg_random_normal seed %d (%d values)" % (seed, perm.size), philox_normal(perm.shape, seed), perm,
                     2e-6, 2e-6)
        elif name.startswith("step_seed."):
            ck.equal("training loop seeds", [step_seed(int(s), int(k), int(p)) for s, k, p in perm[:, :3]], perm[:, 3])
    for tag in ("gan", "gan_cond"):
        _, meta = st_load(os.path.join(d, tag + "_io.safetensors"))
        w, wmeta = st_load(os.path.join(d, tag + ".safetensors"))
        a = json.loads(wmeta["config"])
        ck.equal("%s: config text" % tag, gan_config_json(a), wmeta["config"])
        init = gan_init(a, int(meta["init_seed"]))
        ck.equal("%s: parameter names and order" % tag, list(init), list(w))
        for name, v in init.items():
            ck.close("%s: init of %s" % (tag, name), v, w[name], 1e-7, 1e-6)
        check_gan_phases(ck, tag, d, a, w, meta)
    _, meta = st_load(os.path.join(d, "vae_io.safetensors"))
    w, wmeta = st_load(os.path.join(d, "vae.safetensors"))
    c = json.loads(wmeta["config"])
    ck.equal("vae: config text", vae_config_json(c), wmeta["config"])
    init = vae_init(c, int(meta["init_seed"]))
    ck.equal("vae: parameter names and order", list(init), list(w))
    for name, v in init.items():
        ck.close("vae: init of %s" % name, v, w[name], 1e-7, 1e-6)
    check_vae(ck, d, c, w)
    print("%d passed, %d failed" % (ck.passed, ck.failed))
    return ck.failed == 0


def check_gan_phases(ck, tag, d, a, w, meta):
    """The loss and every gradient of both training phases, on the batch and seeds the C test used."""
    io, _ = st_load(os.path.join(d, tag + "_io.safetensors"))
    model = Gan(a)
    model.load_vkgen_state(w)
    n, B = int(meta["synthetic"]), int(meta["batch"])
    px = synthetic_images(n, a["channels"], a["size"], int(meta["init_seed"]))
    idx = io["idx"].astype(np.int64)
    x = torch.from_numpy(place_images(px[idx], a["size"], a["channels"]))
    y = torch.from_numpy((idx % (a["classes"] or 10)).astype(np.int64)) if a["classes"] else None
    z = [torch.from_numpy(philox_normal((B, a["z"]), int(meta["seed%d" % p]))) for p in range(2)]
    loss_d = gan_loss_d(model, x, y, z[0], d_mode="train")
    loss_g = gan_loss_g(model, y, z[1], g_mode="train")
    for p, loss in enumerate((loss_d, loss_g)):
        prefix = "d." if p == 0 else "g."
        params = [(k, v) for k, v in model.named_parameters() if k.startswith(prefix)]
        grads = torch.autograd.grad(loss, [v for _, v in params])
        ck.close("%s: phase %s loss" % (tag, prefix[0]), loss.item(), io["phase%d.loss" % p], 1e-5, 1e-4)
        for (k, _), g in zip(params, grads):
            scale = float(np.abs(io["phase%d.grad.%s" % (p, k)]).max()) + 1e-12
            ck.close("%s: phase %s gradient of %s" % (tag, prefix[0], k), g.numpy(), io["phase%d.grad.%s" % (p, k)],
                     2e-4 * scale, 1e-3)


def check_vae(ck, d, c, w):
    io, meta = st_load(os.path.join(d, "vae_io.safetensors"))
    model = Vae(c)
    model.load_vkgen_state(w)
    x = torch.from_numpy(io["x"])
    eps = torch.from_numpy(philox_normal((x.shape[0], c["z"]), int(meta["seed"])))
    loss, rec, kl = model.neg_elbo(x, eps)
    for name, v in (("loss", loss), ("rec", rec), ("kl", kl)):
        ck.close("vae: %s" % name, v.item(), io[name], 1e-4, 1e-5)
    names = [n for n, *_ in vae_param_specs(c)]
    grads = torch.autograd.grad(loss, [dict(model.named_parameters())[n] for n in names])
    for n, g in zip(names, grads):
        scale = float(np.abs(io["grad." + n]).max()) + 1e-12
        ck.close("vae: gradient of %s" % n, g.numpy(), io["grad." + n], 2e-4 * scale, 1e-3)


# ---- command line ----


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train a family as 'vkgen train' would, write a vkgen weights file")
    tr.add_argument("family", choices=["gan", "vae"])
    tr.add_argument("--steps", type=int, required=True)
    tr.add_argument("--seed", type=int, default=1, help="init, data order and noise (default 1, as vkgen)")
    tr.add_argument("--out", required=True, help="directory for <family>.safetensors and metrics.jsonl")
    tr.add_argument("--batch", type=int, default=0, help="default 64 (gan), 32 (vae)")
    tr.add_argument("--lr", type=float, default=None, help="default 2e-4 (gan), 1e-3 (vae)")
    tr.add_argument("--beta1", type=float, default=0.5, help="the GAN's Adam beta1 (default 0.5)")
    tr.add_argument("--limit", type=int, default=0, help="only the first N training images")
    tr.add_argument("--z", type=int, default=0)
    tr.add_argument("--width", type=int, default=0)
    tr.add_argument("--size", type=int, default=28, help="gan: 28, 32 or 64")
    tr.add_argument("--channels", type=int, default=1, help="gan: 1 or 3")
    tr.add_argument("--conditional", action="store_true", help="gan: conditioned on the 10 classes")
    tr.add_argument("--embed", type=int, default=16, help="gan: G's class embedding (default 16)")
    tr.add_argument("--data", default=None, help="Fashion-MNIST directory (default: the Debian package's)")
    tr.add_argument("--rng", choices=["vkgen", "torch"], default="vkgen",
                    help="vkgen: the same init and noise as vkgen (default); torch: torch's own")
    tr.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    tr.add_argument("--log-every", type=int, default=50)
    tr.add_argument("--quiet", action="store_true")
    sc = sub.add_parser("selfcheck", help="compare with the values tests/test_torch_models.c wrote")
    sc.add_argument("dir")
    args = ap.parse_args(argv)
    if args.cmd == "selfcheck":
        return 0 if selfcheck(args.dir) else 1
    if args.family == "vae" and (args.size != 28 or args.channels != 1 or args.conditional):
        ap.error("the VAE reference trains on Fashion-MNIST only (28x28, 1 channel)")
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    model, metrics = train(args.family, args, None if args.quiet else sys.stderr)
    wall = time.perf_counter() - t0
    with open(os.path.join(args.out, "metrics.jsonl"), "w") as f:
        for m in metrics:
            f.write(json.dumps(m) + "\n")
    path = os.path.join(args.out, args.family + ".safetensors")
    save_weights(path, model, args.family)
    if not args.quiet:
        print("wrote %s (%d steps in %.1f s)" % (path, args.steps, wall), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
