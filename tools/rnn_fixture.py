#!/usr/bin/python3
"""Reference LSTM and GRU for tests/test_rnn.c, with Debian's python3-torch.

For each of nn.LSTM and nn.GRU (2 layers, PyTorch's default init from a fixed seed) this saves the
weights, an input sequence and initial states, the outputs (sequence and final states) and the
gradients of every weight, the input and the initial states for the loss
    L = sum(out * r_out) + sum(h_n * r_h) [+ sum(c_n * r_c)]
with fixed random r_*. Inputs are drawn in float32 and the model runs in float64 on them, so the
stored results are exact to float32 rounding. The format is written directly (no extra package).

    /usr/bin/python3 tools/rnn_fixture.py tests/fixtures/rnn_ref.safetensors
"""
import json
import struct
import sys

import torch
import torch.nn as nn

T, B, I, H, LAYERS = 7, 3, 5, 9, 2


def save(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def run(kind, out):
    lstm = kind == "lstm"
    net = (nn.LSTM if lstm else nn.GRU)(I, H, num_layers=LAYERS).double()
    # Round the default-initialized weights to float32 so that the file holds exactly what ran.
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(p.float().double())
    f32 = lambda *shape: torch.randn(*shape).float().double()
    x, h0 = f32(T, B, I).requires_grad_(), f32(LAYERS, B, H).requires_grad_()
    c0 = f32(LAYERS, B, H).requires_grad_() if lstm else None
    r_out, r_h, r_c = f32(T, B, H), f32(LAYERS, B, H), f32(LAYERS, B, H)
    if lstm:
        y, (h_n, c_n) = net(x, (h0, c0))
        loss = (y * r_out).sum() + (h_n * r_h).sum() + (c_n * r_c).sum()
    else:
        y, h_n = net(x, h0)
        loss = (y * r_out).sum() + (h_n * r_h).sum()
    loss.backward()
    p = kind + "."
    out[p + "x"], out[p + "h0"], out[p + "r_out"], out[p + "r_h"] = x, h0, r_out, r_h
    out[p + "out"], out[p + "h_n"] = y, h_n
    out[p + "grad.x"], out[p + "grad.h0"] = x.grad, h0.grad
    if lstm:
        out[p + "c0"], out[p + "r_c"], out[p + "c_n"], out[p + "grad.c0"] = c0, r_c, c_n, c0.grad
    for name, w in net.named_parameters():
        out[p + name] = w
        out[p + "grad." + name] = w.grad


def main():
    torch.manual_seed(5)
    out = {}
    run("lstm", out)
    run("gru", out)
    save(sys.argv[1], out, {"T": str(T), "B": str(B), "I": str(I), "H": str(H), "layers": str(LAYERS),
                            "torch": torch.__version__})


if __name__ == "__main__":
    main()
