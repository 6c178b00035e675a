#!/bin/bash
# The VAE end to end through the CLI: a tiny training run, samples reproducible by seed, reconstruction
# and interpolation grids of the right pixel sizes, eval's numbers (and FID with a classifier), bench's
# JSON, a folder of images at 32 px RGB, and one clear error (exit 1, no file written) for each kind of
# bad input.
. "$(dirname "$0")/lib_cli.sh"
src="$(cd "$(dirname "$0")/.." && pwd)"

# "W H" of a PNG.
# The side of a grid of k tiles of t pixels with the 2-pixel gaps.

tiny=(--width 4 --z 4 --batch 8 --limit 64 --quiet --seed 3)
W="$tmp/run/vae.safetensors"

# ---- training ----
run "$vkgen" train vae "${tiny[@]}" --steps 12 --log-every 4 --out "$tmp/run"
n_loss=$(grep -c '"loss": ' "$tmp/run/metrics.jsonl" 2>/dev/null)
[ "$(rc)" = 0 ] && [ -s "$W" ] && [ "$n_loss" = 12 ] && grep -q '"val_loss": ' "$tmp/run/metrics.jsonl" \
  && ok "train vae: 12 steps logged, val_loss per epoch, weights written" || bad "train: rc $(rc) $(cat "$tmp/err")"
[ "$(png_size "$tmp/run/samples.png")" = "$(side 8 28) $(side 8 28)" ] \
  && [ "$(png_size "$tmp/run/reconstructions.png")" = "$(side 16 28) $(side 2 28)" ] \
  && ok "training ends with samples.png (8x8) and reconstructions.png (16 pairs)" || bad "training pictures"
grep -aq '\\"z\\": 4, \\"w\\": 4, \\"size\\": 28, \\"channels\\": 1' "$W" \
  && ok "the weights' config holds z, w, size and channels" || bad "config metadata: $(head -c 600 "$W" | tr -d '\0')"

# ---- sampling ----
run "$vkgen" sample vae --weights "$W" -n 16 -o "$tmp/a.png" --seed 5
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/a.png")" = "$(side 4 28) $(side 4 28)" ] \
  && ok "16 samples: a 4x4 grid of 28-px tiles" || bad "sample: rc $(rc) size '$(png_size "$tmp/a.png")' $(cat "$tmp/err")"
"$vkgen" sample vae --weights "$W" -n 16 -o "$tmp/b.png" --seed 5 >/dev/null 2>&1
"$vkgen" sample vae --weights "$W" -n 16 -o "$tmp/c.png" --seed 6 >/dev/null 2>&1
cmp -s "$tmp/a.png" "$tmp/b.png" && ok "the same seed gives the same PNG" || bad "same seed differs"
[ -s "$tmp/c.png" ] && ! cmp -s "$tmp/a.png" "$tmp/c.png" && ok "another seed gives another PNG" || bad "seeds 5 and 6 agree"

# Weights round trip: a copy of the weights file samples the same PNG.
cp "$W" "$tmp/copy.safetensors"
"$vkgen" sample vae --weights "$tmp/copy.safetensors" -n 16 -o "$tmp/d.png" --seed 5 >/dev/null 2>&1
cmp -s "$tmp/a.png" "$tmp/d.png" && ok "copied weights give the same PNG" || bad "copied weights differ"

run "$vkgen" sample vae --weights "$W" -n 5 --reconstruct -o "$tmp/rec.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/rec.png")" = "$(side 10 28) $(side 1 28)" ] \
  && ok "--reconstruct -n 5: 5 pairs in a row" || bad "reconstruct: rc $(rc) '$(png_size "$tmp/rec.png")' $(cat "$tmp/err")"
run "$vkgen" sample vae --weights "$W" -n 12 --reconstruct -o "$tmp/rec12.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/rec12.png")" = "$(side 16 28) $(side 2 28)" ] \
  && ok "--reconstruct -n 12: 8 pairs a row, 2 rows" || bad "reconstruct 12: '$(png_size "$tmp/rec12.png")'"
run "$vkgen" sample vae --weights "$W" -n 3 --interpolate -o "$tmp/int.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/int.png")" = "$(side 10 28) $(side 3 28)" ] \
  && ok "--interpolate -n 3: 3 rows of 10" || bad "interpolate: rc $(rc) '$(png_size "$tmp/int.png")' $(cat "$tmp/err")"
run "$vkgen" sample vae --weights "$W" -n 2 --interpolate --prior --cols 8 -o "$tmp/intp.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/intp.png")" = "$(side 8 28) $(side 2 28)" ] \
  && ok "--interpolate --prior --cols 8 -n 2: 2 rows of 8" || bad "interpolate prior: '$(png_size "$tmp/intp.png")' $(cat "$tmp/err")"

# ---- eval ----
run "$vkgen" eval vae --weights "$W" -n 24 --samples 2 --json --no-fid
[ "$(rc)" = 0 ] && /usr/bin/python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
assert d["n"] == 24 and d["samples"] == 2
for k in ("rec_bce_nats", "mse_per_pixel", "kl_nats", "rec_z_bce_nats", "neg_elbo_nats"):
    assert math.isfinite(d[k]) and d[k] >= 0, k
assert abs(d["neg_elbo_nats"] - d["rec_z_bce_nats"] - d["kl_nats"]) < 1e-3
assert 300 < d["rec_bce_nats"] < 800 and d["mse_per_pixel"] < 0.5 and d["fid"] is None
' "$tmp/out" && ok "eval -n 24 --json: BCE, MSE, KL, -ELBO = rec + KL" || bad "eval json: $(cat "$tmp/out" "$tmp/err")"
run "$vkgen" eval vae --weights "$W" -n 24 --no-fid
[ "$(rc)" = 0 ] && grep -q 'negative ELBO .* nats/image (1 noise sample per image)' "$tmp/out" \
  && ok "eval prints a table in nats" || bad "eval table: $(cat "$tmp/out" "$tmp/err")"
# FID needs the classifier: a 2-step one is enough to exercise it.
"$vkgen" train classifier --steps 2 --batch 16 --limit 64 --quiet --out "$tmp/clf" 2>"$tmp/err"
run "$vkgen" eval vae --weights "$W" -n 16 --classifier "$tmp/clf/classifier.safetensors" --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
assert math.isfinite(d["fid"]) and d["fid"] >= 0 and math.isfinite(d["fid_floor"]) and d["fid_n"] == 16
' "$tmp/out" && ok "eval with a classifier gives FID and the train-vs-test floor" || bad "eval fid: $(cat "$tmp/out" "$tmp/err")"

# ---- bench ----
run "$vkgen" bench vae --width 2 --z 2 --batch 4 --steps 2 --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [s["batch"] for s in d["sampling"]] == [1, 64, 1024] and all(s["images_per_s"] > 0 for s in d["sampling"])
assert d["training"]["steps_per_s"] > 0 and d["config"]["w"] == 2
' "$tmp/out" && ok "bench vae --json: images/s at batch 1, 64, 1024 and steps/s" || bad "bench: $(cat "$tmp/out" "$tmp/err")"

# ---- a folder of images, 32 px RGB ----
mkdir -p "$tmp/imgs"
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
  "$vkgen" sample vae --weights "$W" -n 4 --seed $i -o "$tmp/imgs/im$i.png" >/dev/null 2>&1
done
run "$vkgen" train vae --data "$tmp/imgs" --width 2 --z 3 --batch 4 --steps 3 --quiet --out "$tmp/folder"
WF="$tmp/folder/vae.safetensors"
[ "$(rc)" = 0 ] && grep -aq '\\"size\\": 32, \\"channels\\": 3' "$WF" \
  && ok "train on a folder of images: 32 px, 3 channels by default" || bad "folder train: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample vae --weights "$WF" -n 4 -o "$tmp/f.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/f.png")" = "$(side 2 32) $(side 2 32)" ] \
  && ok "its samples are 32-px tiles" || bad "folder sample: '$(png_size "$tmp/f.png")' $(cat "$tmp/err")"
run "$vkgen" sample vae --weights "$WF" -n 1 --reconstruct --data "$tmp/imgs" -o "$tmp/fr.png"
[ "$(rc)" = 0 ] && [ "$(png_size "$tmp/fr.png")" = "$(side 2 32) $(side 1 32)" ] \
  && ok "--reconstruct with --data uses the held-out images" || bad "folder reconstruct: $(cat "$tmp/err")"
run "$vkgen" sample vae --weights "$WF" -n 1 --reconstruct -o "$tmp/x.png"
[ "$(rc)" = 1 ] && one_error "not Fashion-MNIST" && grep -q '^hint: .*--data' "$tmp/err" && [ ! -e "$tmp/x.png" ] \
  && ok "32-px RGB weights without --data: one error with a hint" || bad "no --data: $(cat "$tmp/err")"
run "$vkgen" train vae --data "$tmp/imgs" --size 48 --steps 1 --quiet --out "$tmp/s48"
[ "$(rc)" = 1 ] && grep -q '^error: .*28, 32 or 64' "$tmp/err" && ok "--size 48 with a folder is refused" \
  || bad "size 48: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" train vae --data "$tmp/nowhere" --steps 1 --quiet --out "$tmp/nw"
[ "$(rc)" = 1 ] && one_error "nowhere" && ok "a missing --data directory: one error" || bad "missing data: $(cat "$tmp/err")"

# ---- bad input: one error line, exit 1, no file ----
for n in 0 -3 abc 1e3 ""; do
  run "$vkgen" sample vae --weights "$W" -n "$n" -o "$tmp/bad.png"
  [ "$(rc)" = 1 ] && one_error "^error: -n expects" && [ ! -e "$tmp/bad.png" ] && ok "-n '$n' is refused" \
    || bad "-n '$n': rc $(rc) $(cat "$tmp/err")"
done
run "$vkgen" sample vae --weights "$W" -n 4 -o "$tmp/no/such/dir/x.png"
[ "$(rc)" = 1 ] && one_error "does not exist" && [ ! -e "$tmp/no" ] && ok "an output in a missing directory" \
  || bad "missing dir: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample vae --weights "$tmp/nothere.safetensors" -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "nothere.safetensors" && grep -q '^hint: .*vkgen train vae' "$tmp/err" && [ ! -e "$tmp/bad.png" ] \
  && ok "missing weights: error and hint" || bad "missing weights: $(cat "$tmp/err")"
head -c 700 "$W" >"$tmp/trunc.safetensors"
run "$vkgen" sample vae --weights "$tmp/trunc.safetensors" -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "trunc.safetensors" && [ ! -e "$tmp/bad.png" ] && ok "truncated weights: one error" \
  || bad "truncated: $(cat "$tmp/err")"
if [ -s "$tmp/clf/classifier.safetensors" ]; then
  run "$vkgen" sample vae --weights "$tmp/clf/classifier.safetensors" -o "$tmp/bad.png"
  [ "$(rc)" = 1 ] && one_error "are for a classifier model, not vae" && [ ! -e "$tmp/bad.png" ] \
    && ok "another family's weights: named" || bad "other family: $(cat "$tmp/err")"
  run "$vkgen" eval vae --weights "$tmp/clf/classifier.safetensors" -n 4
  [ "$(rc)" = 1 ] && one_error "not vae" && ok "eval refuses another family's weights" || bad "eval other family"
fi
if [ ! -e "$src/assets/vae.safetensors" ] && [ -z "$VKGEN_ASSETS" ]; then
  run "$vkgen" sample vae -o "$tmp/bad.png"
  [ "$(rc)" = 1 ] && one_error "no default vae weights" && grep -q '^hint: .*vkgen train vae' "$tmp/err" \
    && ok "no default weights: error and hint to train" || bad "no default weights: $(cat "$tmp/err")"
fi
run "$vkgen" sample vae --weights "$W" --reconstruct --interpolate -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "choose one" && ok "--reconstruct with --interpolate is refused" || bad "both modes"
run "$vkgen" sample vae --weights "$W" --frobnicate
[ "$(rc)" = 1 ] && one_error "unknown option '--frobnicate'" && ok "an unknown option" || bad "unknown option"
run "$vkgen" sample vae --weights "$WF" --reconstruct -n 2 --data "$tmp/imgs" -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "more than the 1 test images" && [ ! -e "$tmp/bad.png" ] \
  && ok "more reconstructions than test images: refused" || bad "too many: $(cat "$tmp/err")"
run "$vkgen" train vae --width 0 --steps 1 --out "$tmp/w0"
[ "$(rc)" = 1 ] && one_error "^error: --width expects" && ok "--width 0 is refused" || bad "width 0: $(cat "$tmp/err")"

finish
