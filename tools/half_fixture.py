#!/usr/bin/python3
"""Half-precision safetensors written by PyTorch, for tests/test_safetensors.c (Debian's python3-torch).

The file holds float32 values chosen to hit every rounding case of float16 and bfloat16 (ties to
even, carries into the exponent, the largest finite values, subnormals and their boundaries, values
that round to zero, signed zeros) plus ordinary random weights, together with PyTorch's own
conversions of them:

    src16 (F32)           values within float16's range
    src16.f16 (F16)       torch's src16.half()
    src16.f16.f32 (F32)   torch's src16.half().float()
    srcbf (F32)           values within bfloat16's range (float32 subnormals to near its maximum)
    srcbf.bf16 (BF16)     torch's srcbf.bfloat16()
    srcbf.bf16.f32 (F32)  torch's srcbf.bfloat16().float()
    inf.f16, nan.bf16     half-precision tensors holding an infinity or a NaN (to be refused on load)

The C test reads the F16/BF16 tensors (their f32 values must equal torch's bit for bit) and writes
src16/srcbf back as F16/BF16 (their bytes must equal torch's). The format is written directly.

    /usr/bin/python3 tools/half_fixture.py tests/fixtures/half_ref.safetensors
"""
import json
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
INT_VIEW = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


def save(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        data = t.view(INT_VIEW[t.dtype]).numpy().astype("<i%d" % t.element_size()).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def f32(values):
    return torch.tensor(values, dtype=torch.float64).float()


def main():
    torch.manual_seed(21)
    e = 2.0 ** -11  # float16's half ulp at 1
    special16 = [
        0.0, -0.0, 1.0, -1.0, 1 + e, 1 + 3 * e, 1 + e + 2.0 ** -30, 2 - e / 2, 65504.0, -65504.0,
        65519.0, 65519.99,  # the largest values that still round to 65504
        2.0 ** -14, 2.0 ** -14 - 2.0 ** -24, 2.0 ** -24, -2.0 ** -24,  # smallest normal, largest/smallest subnormal
        2.0 ** -25, 2.0 ** -25 + 2.0 ** -40, 1.5 * 2.0 ** -24, 2.5 * 2.0 ** -24, 2.0 ** -26, 1e-30, -1e-30,
        3.0 * 2.0 ** -25, 2.0 ** -14 - 2.0 ** -25,  # rounds up into the smallest normal
        0.1, -0.3333333, 3.14159265, 1000.7, 2049.0, 4097.0,
    ]
    eb = 2.0 ** -8  # bfloat16's half ulp at 1
    specialbf = [
        0.0, -0.0, 1.0, 1 + eb, 1 + 3 * eb, 1 + eb + 2.0 ** -20, 2 - eb / 2, 3.0e38, -3.0e38, 3.3895e38,
        2.0 ** -126, 2.0 ** -126 * (1 - 2.0 ** -8), 2.0 ** -133, 2.0 ** -149, -2.0 ** -149, 1e-40, 1e-45,
        65520.0, 1e10, -7.0e-20, 0.1, 3.14159265,
    ]
    rand = torch.randn(97) * torch.tensor([10.0 ** (k % 9 - 4) for k in range(97)])
    src16 = torch.cat([f32(special16), rand.clamp(-6e4, 6e4)])
    srcbf = torch.cat([f32(specialbf), rand])
    out = {
        "src16": src16, "src16.f16": src16.half(), "src16.f16.f32": src16.half().float(),
        "srcbf": srcbf, "srcbf.bf16": srcbf.bfloat16(), "srcbf.bf16.f32": srcbf.bfloat16().float(),
        "inf.f16": torch.tensor([1.0, float("-inf"), 2.0]).half(),
        "nan.bf16": torch.tensor([1.0, 2.0, float("nan")]).bfloat16(),
    }
    save(sys.argv[1], out, {"torch": torch.__version__})


if __name__ == "__main__":
    main()
