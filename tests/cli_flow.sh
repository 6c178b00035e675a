#!/bin/bash
# The normalizing flow end to end through the CLI: a tiny training run, samples reproducible by seed and
# changed by the temperature, reconstruction and interpolation grids of the right pixel sizes, eval's bits/dim with --iw, bench's JSON, a folder of
# images at 32 px RGB, and one clear error for bad input.
. "$(dirname "$0")/lib_cli.sh"

tiny=(--depth 1 --width 4 --batch 8 --limit 32 --quiet --seed 3)
W="$tmp/run/flow.safetensors"

# ---- training ----
run "$vkgen" train flow "${tiny[@]}" --steps 6 --log-every 2 --out "$tmp/run"
n_loss=$(grep -c '"loss": ' "$tmp/run/metrics.jsonl" 2>/dev/null)
[ "$(rc)" = 0 ] && [ -s "$W" ] && [ "$n_loss" = 6 ] && grep -q '"val_loss": ' "$tmp/run/metrics.jsonl" \
  && ok "train flow: 6 steps logged, val_loss, weights written" || bad "train: rc $(rc) $(cat "$tmp/err")"
[ "$(png_size "$tmp/run/samples.png")" = "$(side 8 28) $(side 8 28)" ] \
  && ok "training ends with samples.png (8x8)" || bad "samples.png: '$(png_size "$tmp/run/samples.png")'"
grep -aq '\\"levels\\": 2, \\"depth\\": 1, \\"width\\": 4' "$W" \
  && ok "the weights' config holds levels, depth and width" || bad "config metadata"

# ---- sampling ----
VKGEN_PROGRESS_AFTER=0 run "$vkgen" sample flow --weights "$W" -n 9 -o "$tmp/a.png" --seed 5
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/a.png")" = "$(side 3 28) $(side 3 28)" ] \
  && ok "9 samples: a 3x3 grid" || bad "sample: rc $(rc) $(cat "$tmp/err")"
grep -q "^sample: 9/9 images .* took" "$tmp/err" && ok "sample shows progress" || bad "sample progress: $(cat "$tmp/err")"
"$vkgen" sample flow --weights "$W" -n 9 -o "$tmp/b.png" --seed 5 >/dev/null 2>&1
"$vkgen" sample flow --weights "$W" -n 9 -o "$tmp/c.png" --seed 5 --temperature 1 >/dev/null 2>&1
cmp -s "$tmp/a.png" "$tmp/b.png" && ok "the same seed gives the same PNG" || bad "same seed differs"
[ -s "$tmp/c.png" ] && ! cmp -s "$tmp/a.png" "$tmp/c.png" && ok "another temperature gives another PNG" \
  || bad "temperatures 0.7 and 1 agree"

run "$vkgen" sample flow --weights "$W" -n 3 --reconstruct -o "$tmp/rec.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/rec.png")" = "$(side 6 28) $(side 1 28)" ] \
  && ok "--reconstruct: 3 pairs in a row (the round trip itself is checked in test_flow)" \
  || bad "reconstruct: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample flow --weights "$W" -n 2 --interpolate --cols 5 -o "$tmp/int.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/int.png")" = "$(side 5 28) $(side 2 28)" ] \
  && ok "--interpolate -n 2 --cols 5: 2 rows of 5" || bad "interpolate: rc $(rc) $(cat "$tmp/err")"

# ---- eval ----
VKGEN_PROGRESS_AFTER=0 run "$vkgen" eval flow --weights "$W" -n 16 --iw 3 --no-fid --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["model"] == "flow" and r["n"] == 16 and r["iw"] == 3
assert 0 < r["iw_bits_per_dim"] <= r["bits_per_dim"] < 9, r
' "$tmp/out" && ok "eval --iw 3 --json: 0 < importance-weighted bits/dim <= single-draw < 9" \
  || bad "eval: rc $(rc) $(cat "$tmp/out" "$tmp/err")"
grep -q "^bits/dim: 16/16 images .* took" "$tmp/err" && ok "eval shows the bits/dim's progress" \
  || bad "eval progress: $(cat "$tmp/err")"

# ---- bench ----
run "$vkgen" bench flow --depth 1 --width 4 --batch 4 --steps 1 --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert [s["batch"] for s in r["sampling"]] == [64, 1024] and all(s["images_per_s"] > 0 for s in r["sampling"])
assert r["training"]["images_per_s"] > 0
' "$tmp/out" && ok "bench flow --json: sampling at 64 and 1024, training images/s" \
  || bad "bench: rc $(rc) $(cat "$tmp/out" "$tmp/err")"

# ---- a folder of images, 32 px RGB ----
mkdir -p "$tmp/imgs"
for i in 0 1 2 3 4 5 6 7 8 9 10; do
  "$vkgen" sample flow --weights "$W" -n 4 --seed $i -o "$tmp/imgs/im$i.png" >/dev/null 2>&1
done
run "$vkgen" train flow --data "$tmp/imgs" --depth 1 --width 2 --levels 3 --batch 4 --steps 2 --quiet --out "$tmp/folder"
WF="$tmp/folder/flow.safetensors"
[ "$(rc)" = 0 ] && grep -aq '\\"size\\": 32, \\"channels\\": 3' "$WF" \
  && ok "train on a folder of images: 32 px, 3 channels by default" || bad "folder train: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample flow --weights "$WF" -n 1 --reconstruct --data "$tmp/imgs" -o "$tmp/fr.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/fr.png")" = "$(side 2 32) $(side 1 32)" ] \
  && ok "--reconstruct with --data uses the held-out images" || bad "folder reconstruct: $(cat "$tmp/err")"
run "$vkgen" sample flow --weights "$WF" -n 1 --reconstruct -o "$tmp/x.png"
[ "$(rc)" = 1 ] && grep -q '^error: .*not Fashion-MNIST' "$tmp/err" && grep -q '^hint: .*--data' "$tmp/err" \
  && [ ! -e "$tmp/x.png" ] && ok "32-px RGB weights without --data: one error with a hint" || bad "no --data: $(cat "$tmp/err")"
run "$vkgen" train flow --levels 3 --steps 1 --quiet --out "$tmp/l3"
[ "$(rc)" = 1 ] && grep -q '^error: .*not divisible by 2^levels' "$tmp/err" && [ ! -e "$tmp/l3/flow.safetensors" ] \
  && ok "28 px with 3 levels is refused" || bad "levels 3: rc $(rc) $(cat "$tmp/err")"

finish
