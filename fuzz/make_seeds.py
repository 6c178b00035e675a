#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, made from the project's test fixtures and shipped assets.

Usage: fuzz/make_seeds.py OUTDIR   (writes OUTDIR/<target>/...)

The fuzzers start from these, and `-merge=1` keeps the inputs that add coverage in
fuzz/corpus/<target>/ (see fuzz/README.md). Large fixtures are shrunk (each tensor cut to a few
elements) so the seeds stay small and the fuzzer mutates headers rather than megabytes of floats."""
import gzip, json, os, struct, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1]
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


# ---- safetensors ----

def st_bytes(tensors, meta=None):
    """tensors: [(name, dtype, shape, data bytes)] -> a safetensors file."""
    hdr, blob = {}, b""
    if meta:
        hdr["__metadata__"] = meta
    for name, dt, shape, data in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def shrink(path, keep):
    """The first `keep` tensors of a file, each cut to at most 4 elements along every dim."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", None)
    tensors = []
    for name, e in list(hdr.items())[:keep]:
        shape = [min(d, 2) for d in e["shape"]]
        count = 1
        for d in shape:
            count *= d
        start = 8 + n + e["data_offsets"][0]
        tensors.append((name, e["dtype"], shape, b[start:start + count * SIZES[e["dtype"]]]))
    return st_bytes(tensors, meta)


for f, keep in [("tests/fixtures/fid_ref.safetensors", 4), ("tests/fixtures/train_ref.safetensors", 4),
                ("assets/gan.safetensors", 3), ("assets/vae.safetensors", 3), ("assets/classifier.safetensors", 3)]:
    put("safetensors", os.path.basename(f), shrink(os.path.join(root, f), keep))
put("safetensors", "dtypes.safetensors", st_bytes([
    ("f16", "F16", [2], struct.pack("<2H", 0x3C00, 0xC000)),
    ("bf16", "BF16", [1, 2], struct.pack("<2H", 0x3F80, 0x7F80)),
    ("i32", "I32", [2], struct.pack("<2i", -7, 7)),
    ("i64", "I64", [1], struct.pack("<q", -1)),
    ("u8", "U8", [3], b"\x00\x01\xff"),
    ("scalar", "F32", [], struct.pack("<f", 0.5)),
    ("empty", "F32", [0, 3], b""),
], {"format": "vkgen-weights", "note": "q\"uote\\ \u00e9"}))
put("safetensors", "empty.safetensors", st_bytes([]))

# ---- IDX ----

def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


d = "/usr/share/datasets/fashion-mnist"
images = gzip.open(os.path.join(d, "t10k-images-idx3-ubyte.gz")).read()
labels = gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).read()
img3 = idx([3, 28, 28], images[16:16 + 3 * 784])
lab3 = idx([3], labels[8:11])
put("idx", "images-plain", b"\x00" + img3)
put("idx", "images-gzip", b"\x00" + gzip.compress(img3, mtime=0))
put("idx", "labels", b"\x00" + lab3)
put("idx", "labels-gzip", b"\x00" + gzip.compress(lab3, mtime=0))
put("idx", "4d", b"\x00" + idx([1, 2, 1, 3], b"abcdef"))
put("idx", "pair", b"\x01" + struct.pack("<I", len(img3)) + img3 + lab3)
gimg = gzip.compress(img3, mtime=0)
put("idx", "pair-gzip", b"\x01" + struct.pack("<I", len(gimg)) + gimg + gzip.compress(lab3, mtime=0))

# ---- tokenizer: a mode byte, then vocab NUL merges.txt NUL text ----
# Mode 0: the vocab part is a whole vocab.json. Mode 1: the target supplies the 256 byte tokens
# and the vocab part only adds entries inside the object.

def alias(b):
    printable = 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255
    if printable:
        return chr(b)
    extra = sum(1 for c in range(b) if not (33 <= c <= 126 or 161 <= c <= 172 or 174 <= c <= 255))
    return chr(256 + extra)


vocab = {alias(b): b for b in range(256)}
merges = [("l", "o"), ("lo", "w"), ("e", "r"), ("\u0120", "l"), ("low", "er"), ("a", "b"), ("\u0120", "t"),
          ("h", "e"), ("\u0120t", "he")]
for a, b in merges:
    vocab.setdefault(a + b, len(vocab))
vjson = json.dumps(vocab, ensure_ascii=False).encode()
mtxt = ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode()
extra = json.dumps({k: v for k, v in vocab.items() if v >= 256}, ensure_ascii=False)[1:-1].encode()
for name, text in [("plain", b"the lower low, lowest! 123 it's"),
                   ("unicode", "h\u00e9llo w\u00f6rld \u4e16\u754c \U0001F600  \t\n x".encode()),
                   ("invalid-utf8", b"a\xff\xfeb \xc3( \xe2\x82 z"),
                   ("spaces", b"   a  b\n\n\n c   ")]:
    put("tokenizer", name, b"\1" + extra + b"\0" + mtxt + b"\0" + text)
put("tokenizer", "full-vocab", b"\0" + vjson + b"\0" + mtxt + b"\0the lower")
put("tokenizer", "escaped-json", b"\0" + json.dumps(vocab).encode() + b"\0" + mtxt + b"\0it's the lower")
put("tokenizer", "crlf", b"\1" + extra + b"\0" + mtxt.replace(b"\n", b"\r\n") + b"\0low")
put("tokenizer", "no-merges", b"\1\0\0abc")

# ---- command lines: arguments separated by NUL ----

cmds = [
    "devices", "devices --json", "selfcheck", "bench ops --op matmul --quick --json", "bench gan --batch 2 --steps 1",
    "bench vae --json", "dev matmul --watch", "dev softmax --watch /tmp", "--help", "help",
    "train classifier --epochs 1 --limit 64 --batch 32 --out runs/c --quiet",
    "train gan --epochs 2 --batch 8 --lr 2e-4 --beta1 0.5 --size 32 --channels 3 --conditional --embed 8",
    "train gan --steps 5 --optim sgd --cosine --warmup 2 --clip 1.0 --seed 7 --resume --log-every 1",
    "train vae --z 8 --width 8 --data /nonexistent --ckpt-every 3 --optim adamw",
    "sample gan -n 16 -o out.png --seed 3 --cols 4 --class 2", "sample gan --interpolate --steps-per-row 5 -n 2",
    "sample vae -n 4 --reconstruct --weights w.safetensors", "sample vae --interpolate -o x/y.png",
    "eval gan -n 100 --json --classifier c.safetensors --data d", "eval vae -n 50 --device 0",
    "train gan --help", "sample vae --help", "eval gan --help", "bench --help", "train --device llvmpipe",
    "sample gan --watch --device 99", "train gan --batch 0", "sample gan -n 1e3", "train gan --lr nan",
]
for i, c in enumerate(cmds):
    put("cli", f"cmd{i:02d}", "\0".join(c.split(" ")).encode())

# ---- WAV files: the first byte picks the target rate (0: the file's own) ----

def wav(tag, ch, rate, bits, frames, ext=False, extra=b""):
    align = ch * bits // 8
    data = bytes((i * 37 + 11) & 255 for i in range(frames * align))
    if ext:
        fmt = struct.pack("<HHIIHHHHIH14s", 0xFFFE, ch, rate, rate * align, align, bits, 22, bits, 0, tag,
                          bytes([0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]))
    else:
        fmt = struct.pack("<HHIIHH", tag, ch, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


for rb, tag, ch, rate, bits, ext in [(0, 1, 1, 8000, 16, False), (1, 1, 2, 44100, 16, False), (2, 1, 1, 8000, 8, False),
                                     (3, 1, 3, 16000, 24, True), (0, 1, 1, 22050, 32, False),
                                     (1, 3, 1, 48000, 32, False), (2, 3, 2, 11025, 32, True)]:
    put("wav", f"{'ext' if ext else 'tag'}{tag}-{ch}ch-{bits}bit-{rate}", bytes([rb]) + wav(tag, ch, rate, bits, 9, ext))
put("wav", "list-odd", b"\1" + wav(1, 1, 8000, 8, 5, extra=b"LIST\x03\0\0\0abc\0"))
speech = "/usr/share/asterisk/sounds/en_US_f_Allison/beep.wav"
if os.path.exists(speech):
    put("wav", "speech-beep", b"\0" + open(speech, "rb").read())
