#!/usr/bin/python3
"""Writes tests/fixtures/gpt2_tiny/: a tiny random GPT-2 checkpoint directory in Hugging Face's layout
(config.json, model.safetensors, vocab.json, merges.txt) and expected.safetensors with the logits of
a few token sequences, computed in float64 by a plain-torch GPT-2 forward that follows HF's
definitions (Conv1D weights (in, out), tanh GELU "gelu_new", causal attention scaled by
1/sqrt(head_dim), pre-LayerNorm blocks, lm_head tied to wte).

Run with Debian's python3 and python3-torch (transformers is not needed):
    /usr/bin/python3 tools/gpt2_fixture.py [OUT_DIR]
For a checkpoint of one of GPT-2's real sizes (random weights; on a GPU when torch has one), with
GPT-2's own vocab.json and merges.txt copied from TOKENIZER_DIR, then checked by
`VKGEN_GPT2_FIXTURE=OUT_DIR test_gpt`:
    python3 tools/gpt2_fixture.py OUT_DIR --size 124M|355M|774M|1.5B --tokenizer TOKENIZER_DIR
"""
import json
import math
import os
import struct
import sys

import torch

N_EMBD, N_LAYER, N_HEAD, N_POS, VOCAB, EPS = 64, 2, 4, 32, 300, 1e-5
# GPT-2's sizes: n_embd, n_layer, n_head (n_positions 1024, vocab 50257).
SIZES = {"124M": (768, 12, 12), "355M": (1024, 24, 16), "774M": (1280, 36, 20), "1.5B": (1600, 48, 25)}
DEVICE = "cpu"


def bytes_to_unicode():
    """GPT-2's map of the 256 bytes to printable characters (the order fixes the byte tokens' ids)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]


def tokenizer_files(out):
    """256 byte tokens, VOCAB - 257 merges learned greedily from a small text, and <|endoftext|>."""
    bs, cs = bytes_to_unicode()
    enc = dict(zip(bs, cs))
    vocab = {c: i for i, c in enumerate(cs)}
    text = ("the quick brown fox jumps over the lazy dog. that is the thing with these theories: "
            "they are there and then they are gone. a fortune a day keeps the doctor away, they say. ") * 3
    words = [[enc[b] for b in ((" " if i else "") + w).encode()] for i, w in enumerate(text.split(" ")) if w]
    merges = []
    while len(vocab) < VOCAB - 1:
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        (a, b), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(a + " " + b)
        vocab[a + b] = len(vocab)
        for w in words:
            i = 0
            while i < len(w) - 1:
                if w[i] == a and w[i + 1] == b:
                    w[i:i + 2] = [a + b]
                i += 1
    vocab["<|endoftext|>"] = len(vocab)
    assert len(vocab) == VOCAB
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")


def write_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous().cpu()
        dtype = {torch.float32: "F32", torch.int32: "I32"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def params(gen, real_size=False):
    """Random weights. The tiny model's are larger than GPT-2's init so that every part of the forward
    moves the logits. At GPT-2's real sizes such weights make a network so ill-conditioned that
    float32 itself (PyTorch's too) is 10% off float64 after 12 layers, so those get GPT-2's own init
    scale (std 0.02, residual projections 0.02 / sqrt(2 n_layer)) with LayerNorm and biases moved off
    their defaults."""
    def rn(*shape, std=0.1):
        return torch.randn(*shape, generator=gen, dtype=torch.float64, device=DEVICE) * std

    C = N_EMBD
    w, wa, wp, b = (0.02, 0.02, 0.02 / math.sqrt(2 * N_LAYER), 0.02) if real_size else (0.1, 0.25, 0.1, 0.1)
    p = {"wte.weight": rn(VOCAB, C, std=0.3 if not real_size else w),
         "wpe.weight": rn(N_POS, C, std=0.3 if not real_size else 0.01)}
    for l in range(N_LAYER):
        h = f"h.{l}."
        p[h + "ln_1.weight"] = 1 + rn(C)
        p[h + "ln_1.bias"] = rn(C)
        p[h + "attn.c_attn.weight"] = rn(C, 3 * C, std=wa)
        p[h + "attn.c_attn.bias"] = rn(3 * C, std=b)
        p[h + "attn.c_proj.weight"] = rn(C, C, std=wp if real_size else 0.1)
        p[h + "attn.c_proj.bias"] = rn(C, std=b)
        p[h + "ln_2.weight"] = 1 + rn(C)
        p[h + "ln_2.bias"] = rn(C)
        p[h + "mlp.c_fc.weight"] = rn(C, 4 * C, std=w if real_size else 0.1)
        p[h + "mlp.c_fc.bias"] = rn(4 * C, std=b)
        p[h + "mlp.c_proj.weight"] = rn(4 * C, C, std=wp if real_size else 0.1)
        p[h + "mlp.c_proj.bias"] = rn(C, std=b)
    p["ln_f.weight"] = 1 + rn(C)
    p["ln_f.bias"] = rn(C)
    # Round to float32 first: the reference then runs on exactly the weights the file holds.
    return {k: v.float().double() for k, v in p.items()}


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, EPS)


def forward(p, ids):
    """GPT2LMHeadModel's logits for one sequence ids (T,), in float64."""
    T, C, NH = len(ids), N_EMBD, N_HEAD
    D = C // NH
    x = p["wte.weight"][ids] + p["wpe.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device))
    for l in range(N_LAYER):
        h = f"h.{l}."
        a = layer_norm(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]  # Conv1D: x W + b
        q, k, v = (t.view(T, NH, D).transpose(0, 1) for t in qkv.split(C, dim=1))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + y @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"]
        m = layer_norm(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        m = gelu_new(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"])
        x = x + m @ p[h + "mlp.c_proj.weight"] + p[h + "mlp.c_proj.bias"]
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"])
    return x @ p["wte.weight"].T


def main():
    global N_EMBD, N_LAYER, N_HEAD, N_POS, VOCAB, DEVICE
    args = sys.argv[1:]
    size = tok_dir = None
    while "--size" in args or "--tokenizer" in args:
        i = args.index("--size") if "--size" in args else args.index("--tokenizer")
        if args[i] == "--size":
            size = args[i + 1]
        else:
            tok_dir = args[i + 1]
        del args[i:i + 2]
    out = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "gpt2_tiny")
    os.makedirs(out, exist_ok=True)
    if size:
        N_EMBD, N_LAYER, N_HEAD = SIZES[size]
        N_POS, VOCAB = 1024, 50257
        DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
        import shutil
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(tok_dir, f), os.path.join(out, f))
    gen = torch.Generator(device=DEVICE).manual_seed(20240505)
    if size:
        return write_checkpoint(out, gen, (64, 7, 13), real_size=True)
    tokenizer_files(out)
    write_checkpoint(out, gen, (N_POS, 7, 13))


def write_checkpoint(out, gen, lengths, real_size=False):
    p = params(gen, real_size)
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": N_EMBD, "n_layer": N_LAYER,
              "n_head": N_HEAD, "n_positions": N_POS, "n_ctx": N_POS, "vocab_size": VOCAB,
              "layer_norm_epsilon": EPS, "activation_function": "gelu_new", "tie_word_embeddings": True}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    # GPT2LMHeadModel's names ("transformer." prefix), with the old checkpoints' causal-mask buffers
    # that a loader must skip; lm_head is tied, so it is not stored.
    tensors = {"transformer." + k: v.float() for k, v in p.items()}
    for l in range(N_LAYER):
        tensors[f"transformer.h.{l}.attn.bias"] = torch.tril(torch.ones(N_POS, N_POS)).view(1, 1, N_POS, N_POS)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, {"format": "pt"})
    # Sequences: the full context, and two lengths that are not multiples of anything.
    seqs = [torch.randint(0, VOCAB, (n,), generator=gen, device=DEVICE) for n in lengths]
    exp = {}
    for i, s in enumerate(seqs):
        exp[f"tokens_{i}"] = s.to(torch.int32)
        exp[f"logits_{i}"] = forward(p, s).float()
        if real_size:  # how far float32 itself lands from these float64 logits, for comparison
            r = exp[f"logits_{i}"].double()
            f32 = forward({k: v.float() for k, v in p.items()}, s).double()
            print(f"sequence {i} (T = {len(s)}): PyTorch float32 vs float64: "
                  f"max |error| / max |logit| = {((f32 - r).abs().max() / r.abs().max()).item():.3g}")
    write_safetensors(os.path.join(out, "expected.safetensors"), exp, {"count": str(len(seqs))})


if __name__ == "__main__":
    main()
