#!/bin/bash
# The GAN end to end through the CLI, with tiny models: training writes weights, samples, metrics with
# both phases' losses; a resumed run equals an uninterrupted one; sampling is reproducible per seed;
# interpolation and conditional sampling; training on a folder of images; eval and bench; and one
# clear error (plus a hint), exit code 1 and no output file for each kind of bad input.
. "$(dirname "$0")/lib_cli.sh"

is_png() { [ -s "$1" ] && [ "$(head -c 4 "$1" | tail -c 3)" = PNG ]; }
losses() { sed -n 's/.*"step": \([0-9]*\),.*"loss_d": \([^,]*\),.*"loss_g": \([^,]*\),.*/\1 \2 \3/p' "$1"; }
tiny=(--width 4 --z 16 --batch 8 --limit 64 --quiet --seed 3)

# ---- training ----
run "$vkgen" train gan "${tiny[@]}" --steps 6 --log-every 3 --ckpt-every 3 --out "$tmp/full"
[ "$(rc)" = 0 ] && [ -s "$tmp/full/gan.safetensors" ] && is_png "$tmp/full/samples.png" && is_png "$tmp/full/loss.png" \
  && ok "train gan writes weights, samples.png and loss.png" || bad "train: $(cat "$tmp/err")"
[ "$(losses "$tmp/full/metrics.jsonl" | wc -l)" = 6 ] && grep -q '"grad_norm_g"' "$tmp/full/metrics.jsonl" \
  && ok "metrics log loss_d and loss_g for every step" || bad "metrics: $(head -2 "$tmp/full/metrics.jsonl")"
# SIGTERM stops after the current step with a checkpoint (exit 143), and no samples are made.
set -m
"$vkgen" train gan "${tiny[@]}" --steps 100000 --checkpoint-every 2 --out "$tmp/term" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 1200); do [ -f "$tmp/term/checkpoint.safetensors" ] && break; sleep 0.25; done
kill -TERM $pid
wait $pid
rc=$?
set +m
[ $rc = 143 ] && grep -q "^interrupted (SIGTERM) at step [0-9]* of 100000: wrote the checkpoint" "$tmp/err" \
  && [ ! -e "$tmp/term/samples.png" ] && ok "SIGTERM: exit 143, the checkpoint named" || bad "SIGTERM: rc $rc $(cat "$tmp/err")"
run "$vkgen" train gan "${tiny[@]}" --steps 3 --log-every 3 --out "$tmp/split"
run "$vkgen" train gan "${tiny[@]}" --steps 6 --log-every 3 --out "$tmp/split" --resume
losses "$tmp/full/metrics.jsonl" >"$tmp/a"
losses "$tmp/split/metrics.jsonl" >"$tmp/b"
[ "$(rc)" = 0 ] && [ "$(wc -l <"$tmp/a")" = 6 ] && cmp -s "$tmp/a" "$tmp/b" \
  && ok "3 steps + 3 resumed give the same losses as 6 in one go" || bad "resume: $(paste "$tmp/a" "$tmp/b") $(cat "$tmp/err")"
run "$vkgen" train gan "${tiny[@]}" --steps 6 --width 8 --out "$tmp/split" --resume
[ "$(rc)" = 1 ] && one_error "architecture" && ok "resuming with another --width is refused" || bad "resume arch: $(cat "$tmp/err")"
run "$vkgen" train gan --size 48
[ "$(rc)" = 1 ] && one_error "^error: --size expects one of 28,32,64" && ok "--size 48 is refused" || bad "size 48: $(cat "$tmp/err")"
run "$vkgen" train gan "${tiny[@]}" --batch 1 --steps 1 --out "$tmp/b1"
[ "$(rc)" = 1 ] && one_error "batch" && ok "--batch 1 is refused (batchnorm)" || bad "batch 1: $(cat "$tmp/err")"

w="$tmp/full/gan.safetensors"
# ---- sampling ----
run "$vkgen" sample gan --weights "$w" -n 10 --seed 4 -o "$tmp/s1.png"
[ "$(rc)" = 0 ] && is_png "$tmp/s1.png" && ok "sample gan writes a PNG: $(cat "$tmp/out")" || bad "sample: $(cat "$tmp/err")"
run "$vkgen" sample gan --weights "$w" -n 10 --seed 4 -o "$tmp/s2.png"
run "$vkgen" sample gan --weights "$w" -n 10 --seed 5 -o "$tmp/s3.png"
cmp -s "$tmp/s1.png" "$tmp/s2.png" && ok "the same seed gives an identical file" || bad "same seed differs"
is_png "$tmp/s3.png" && ! cmp -s "$tmp/s1.png" "$tmp/s3.png" && ok "another seed gives another file" || bad "seeds agree"
run "$vkgen" sample gan --weights "$w" -n 3 --interpolate --cols 5 -o "$tmp/interp.png"
[ "$(rc)" = 0 ] && is_png "$tmp/interp.png" && grep -q "15 samples" "$tmp/out" \
  && ok "--interpolate: 3 rows of 5" || bad "interpolate: $(cat "$tmp/out" "$tmp/err")"

# ---- bad input: one error line, exit 1, no file ----
for n in 0 -3 abc 100001 ""; do
  run "$vkgen" sample gan --weights "$w" -n "$n" -o "$tmp/bad.png"
  [ "$(rc)" = 1 ] && one_error "^error: -n expects" && [ ! -e "$tmp/bad.png" ] && ok "-n '$n' is refused" \
    || bad "-n $n: $(cat "$tmp/err")"
done
run "$vkgen" sample gan --weights "$w" -o "$tmp/no/such/dir/x.png"
[ "$(rc)" = 1 ] && one_error "does not exist" && grep -q '^hint: ' "$tmp/err" && [ ! -e "$tmp/no" ] \
  && ok "an output in a missing directory is refused" || bad "missing dir: $(cat "$tmp/err")"
run "$vkgen" sample gan --weights "$tmp/nothing.safetensors" -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "nothing.safetensors" && [ ! -e "$tmp/bad.png" ] && ok "missing weights" \
  || bad "missing weights: $(cat "$tmp/err")"
head -c 3000 "$w" >"$tmp/cut.safetensors"
run "$vkgen" sample gan --weights "$tmp/cut.safetensors" -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "cut.safetensors" && [ ! -e "$tmp/bad.png" ] && ok "truncated weights: $(head -1 "$tmp/err" | cut -c1-80)" \
  || bad "truncated weights: $(cat "$tmp/err")"
run "$vkgen" train classifier --steps 2 --batch 16 --limit 64 --quiet --out "$tmp/clf"
run "$vkgen" sample gan --weights "$tmp/clf/classifier.safetensors" -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "are for a classifier model, not gan" && grep -q '^hint: ' "$tmp/err" && [ ! -e "$tmp/bad.png" ] \
  && ok "another family's weights are refused" || bad "other family: $(cat "$tmp/err")"
run "$vkgen" sample gan --weights "$w" --class 3 -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "not conditional" && [ ! -e "$tmp/bad.png" ] && ok "--class on an unconditional GAN" \
  || bad "class: $(cat "$tmp/err")"
run "$vkgen" sample gan --weights "$w" --bogus
[ "$(rc)" = 1 ] && one_error "unknown option '--bogus'" && ok "unknown option" || bad "bogus: $(cat "$tmp/err")"
VKGEN_ASSETS="$tmp/none" run "$vkgen" sample gan -o "$tmp/default.png"
if ! [ -e "$(dirname "$vkgen")/assets/gan.safetensors" ] && ! [ -e "$(dirname "$0")/../assets/gan.safetensors" ]; then
  [ "$(rc)" = 1 ] && one_error "no default gan weights" && grep -q "^hint: .*vkgen train gan" "$tmp/err" \
    && [ ! -e "$tmp/default.png" ] && ok "no default weights: says how to get them" || bad "no default: $(cat "$tmp/err")"
else
  [ "$(rc)" = 0 ] && is_png "$tmp/default.png" && ok "the shipped default weights sample with no --weights" \
    || bad "default weights: $(cat "$tmp/err")"
  (cd "$tmp" && run "$vkgen" sample gan --weights emoji-gan -n 4 --cols 2 -o "$tmp/emoji.png")
  # 2x2 grid of 64x64 RGB images: the PNG header's width field is past 64 (with the grid's padding)
  pngw=$(od -An -tu1 -j16 -N4 "$tmp/emoji.png" 2>/dev/null | awk '{print $3 * 256 + $4}')
  [ "$(rc)" = 0 ] && is_png "$tmp/emoji.png" && [ "${pngw:-0}" -ge 128 ] \
    && ok "the shipped emoji GAN samples by name from another directory (width $pngw)" || bad "emoji-gan: $(cat "$tmp/err")"
fi

# ---- conditional ----
run "$vkgen" train gan "${tiny[@]}" --conditional --steps 2 --out "$tmp/cond"
run "$vkgen" sample gan --weights "$tmp/cond/gan.safetensors" -n 4 --class 3 -o "$tmp/c3.png"
[ "$(rc)" = 0 ] && is_png "$tmp/c3.png" && ok "conditional: train, then sample class 3" || bad "conditional: $(cat "$tmp/err")"
run "$vkgen" sample gan --weights "$tmp/cond/gan.safetensors" --class 10 -o "$tmp/bad.png"
[ "$(rc)" = 1 ] && one_error "classes 0 to 9" && [ ! -e "$tmp/bad.png" ] && ok "--class 10 is refused" || bad "class 10: $(cat "$tmp/err")"

# ---- a folder of images, 32 px RGB ----
mkdir -p "$tmp/imgs"
for k in 1 2 3 4 5 6; do "$vkgen" sample gan --weights "$w" -n 1 --seed $k -o "$tmp/imgs/$k.png" >/dev/null 2>&1; done
run "$vkgen" train gan --width 2 --z 8 --batch 4 --quiet --size 32 --channels 3 --data "$tmp/imgs" --steps 2 --out "$tmp/folder"
[ "$(rc)" = 0 ] && is_png "$tmp/folder/samples.png" && ok "training on a folder of images at 32 px, 3 channels" \
  || bad "folder: $(cat "$tmp/err")"
run "$vkgen" train gan --batch 4 --quiet --data "$tmp/nowhere" --steps 2 --out "$tmp/folder2"
[ "$(rc)" = 1 ] && one_error "nowhere" && ok "a missing --data directory: $(head -1 "$tmp/err" | cut -c1-80)" \
  || bad "missing data: $(cat "$tmp/err")"
run "$vkgen" train gan --batch 4 --quiet --conditional --data "$tmp/imgs" --steps 2 --out "$tmp/folder3"
[ "$(rc)" = 1 ] && one_error "labels" && ok "--conditional on unlabelled images is refused" || bad "cond folder: $(cat "$tmp/err")"

# ---- eval and bench ----
VKGEN_PROGRESS_AFTER=0 run "$vkgen" eval gan --weights "$w" --classifier "$tmp/clf/classifier.safetensors" -n 40 --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["fid"] >= 0 and d["fid_floor"] >= 0 and 0 <= d["classifier_accuracy"] <= 1' "$tmp/out" \
  && ok "eval gan -n 40: $(cat "$tmp/out")" || bad "eval: $(cat "$tmp/out" "$tmp/err")"
# The classifier features of the 40 samples and of the 40 test and 40 training images, with progress.
grep -q "^FID features: 120/120 images .* took" "$tmp/err" && ok "eval gan shows the progress of the FID features" \
  || bad "FID progress: $(cat "$tmp/err")"
run "$vkgen" eval gan --weights "$w" --classifier "$tmp/nothing.safetensors" -n 40
[ "$(rc)" = 1 ] && one_error "nothing.safetensors" && ok "eval with missing classifier weights" || bad "eval clf: $(cat "$tmp/err")"
run "$vkgen" eval gan --weights "$w" -n 1
[ "$(rc)" = 1 ] && one_error "^error: -n expects" && ok "eval -n 1 is refused" || bad "eval -n 1: $(cat "$tmp/err")"
run "$vkgen" bench gan --width 2 --z 8 --batch 4 --steps 1 --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["batch"] for s in d["sampling"]]==[1,64,1024] and d["training"]["steps_per_s"] > 0' "$tmp/out" \
  && ok "bench gan --json" || bad "bench: $(cat "$tmp/out" "$tmp/err")"

finish
