#!/bin/bash
# The PixelCNN end to end through the CLI, on a tiny model: training (metrics, bits/dim, config in the
# weights), samples reproducible by seed and of the right size, --complete, eval's exact NLL (the same
# number as training's last val_loss on the same images), bench's JSON, a folder of 32-px RGB images,
# and errors that depend on the weights (a class of an unconditional model).
. "$(dirname "$0")/lib_cli.sh"

tiny=(--layers 1 --width 3 --out-width 3 --batch 4 --limit 16 --quiet --seed 3)
W="$tmp/run/pixelcnn.safetensors"

# ---- training ----
run "$vkgen" train pixelcnn "${tiny[@]}" --steps 4 --log-every 2 --out "$tmp/run"
[ "$(rc)" = 0 ] && [ -s "$W" ] && [ "$(grep -c '"loss": ' "$tmp/run/metrics.jsonl")" = 4 ] \
  && grep -q '"val_bits_per_dim": ' "$tmp/run/metrics.jsonl" \
  && ok "train pixelcnn: 4 steps logged, val_loss and val_bits_per_dim, weights written" \
  || bad "train: rc $(rc) $(cat "$tmp/err")"
grep -aq '\\"layers\\": 1, \\"width\\": 3, \\"kernel\\": 3' "$W" && ok "the weights' config holds the architecture" \
  || bad "config metadata"

# ---- eval: the exact NLL of the whole test set, and of the first 1000 images as after training ----
VKGEN_PROGRESS_AFTER=0 run "$vkgen" eval pixelcnn --weights "$W" -n 1000 --json
[ "$(rc)" = 0 ] && $py -c '
import json, math, sys
e = json.load(open(sys.argv[1]))
m = [json.loads(l) for l in open(sys.argv[2]) if "val_loss" in l][-1]
assert e["n"] == 1000 and e["fid"] is None
assert abs(e["bits_per_dim"] - m["val_bits_per_dim"]) < 1e-4, (e, m)
assert abs(e["nats_per_image"] - 784 * m["val_loss"]) < 784 * 1e-4, (e, m)
assert 0 < e["bits_per_dim"] < 9
' "$tmp/out" "$tmp/run/metrics.jsonl" && ok "eval's bits/dim and nats/image match training's val_loss on 1000 images" \
  || bad "eval: rc $(rc) $(cat "$tmp/out" "$tmp/err")"
grep -q "^likelihood: 1000/1000 images .* took" "$tmp/err" && ok "eval shows the likelihood's progress" \
  || bad "eval progress: $(cat "$tmp/err")"

# ---- sampling ----
VKGEN_PROGRESS_AFTER=0 run "$vkgen" sample pixelcnn --weights "$W" -n 2 -o "$tmp/a.png" --seed 5
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/a.png")" = "$(side 2 28) $(side 1 28)" ] \
  && ok "2 samples: a 2x1 grid of 28-px tiles" || bad "sample: rc $(rc) '$(png_size "$tmp/a.png")' $(cat "$tmp/err")"
grep -q "^sample: 1568/1568 pixels .* took" "$tmp/err" && ok "sample shows progress (pixels)" \
  || bad "sample progress: $(cat "$tmp/err")"
"$vkgen" sample pixelcnn --weights "$W" -n 2 -o "$tmp/b.png" --seed 5 >/dev/null 2>&1
"$vkgen" sample pixelcnn --weights "$W" -n 2 -o "$tmp/c.png" --seed 6 --temperature 0.7 >/dev/null 2>&1
cmp -s "$tmp/a.png" "$tmp/b.png" && ok "the same seed gives the same PNG" || bad "same seed differs"
[ -s "$tmp/c.png" ] && ! cmp -s "$tmp/a.png" "$tmp/c.png" && ok "another seed and temperature give another PNG" \
  || bad "seeds 5 and 6 agree"
run "$vkgen" sample pixelcnn --weights "$W" -n 1 --complete -o "$tmp/k.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/k.png")" = "$(side 2 28) $(side 1 28)" ] \
  && ok "--complete: a test image beside its completion" || bad "complete: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample pixelcnn --weights "$W" --class 1 -o "$tmp/x.png"
[ "$(rc)" = 1 ] && grep -q '^error: .*--class needs a conditional model' "$tmp/err" && [ ! -e "$tmp/x.png" ] \
  && ok "--class of an unconditional model: one error, no file" || bad "--class: rc $(rc) $(cat "$tmp/err")"

# ---- bench ----
run "$vkgen" bench pixelcnn --size 8 --layers 1 --width 3 --out-width 3 --batch 2 --steps 1 --sample-batch 3 --json
[ "$(rc)" = 0 ] && $py -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert [s["batch"] for s in b["sampling"]] == [1, 3] and all(s["images_per_s"] > 0 for s in b["sampling"])
assert b["training"]["images_per_s"] > 0 and b["config"]["size"] == 8
' "$tmp/out" && ok "bench --json: sampling at batch 1 and 3, training" || bad "bench: $(cat "$tmp/out" "$tmp/err")"

# ---- a folder of 32-px RGB images, conditional refused ----
mkdir -p "$tmp/imgs"
$py -c '
import struct, sys, zlib
for k in range(12):
    w = h = 40
    rows = b"".join(b"\0" + bytes(((x * 7 + y * 3 + k * 40 + c * 60) % 256) for x in range(w) for c in range(3)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    open("%s/im%02d.png" % (sys.argv[1], k), "wb").write(png)
' "$tmp/imgs"
run "$vkgen" train pixelcnn --data "$tmp/imgs" --layers 1 --width 3 --out-width 3 --batch 2 --steps 2 --quiet \
  --out "$tmp/folder"
WF="$tmp/folder/pixelcnn.safetensors"
[ "$(rc)" = 0 ] && grep -aq '\\"size\\": 32, \\"channels\\": 3' "$WF" \
  && ok "train on a folder of images: 32 px, 3 channels by default" || bad "folder train: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample pixelcnn --weights "$WF" -n 1 --complete --data "$tmp/imgs" -o "$tmp/f.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/f.png")" = "$(side 2 32) $(side 1 32)" ] \
  && ok "--complete with --data: an RGB test image and its completion" || bad "folder complete: $(cat "$tmp/err")"
run "$vkgen" train pixelcnn --data "$tmp/imgs" --conditional --steps 1 --quiet --out "$tmp/cond"
[ "$(rc)" = 1 ] && grep -q '^error: .*needs labelled data' "$tmp/err" && grep -q '^hint: ' "$tmp/err" \
  && ok "--conditional on unlabelled images: one error with a hint" || bad "conditional folder: $(cat "$tmp/err")"

finish
