#!/bin/bash
# The LSTM and GRU language models end to end through the CLI, each family in turn: a tiny training
# run with validation per epoch, sampling reproducible by seed (several samples per batch, greedy
# independent of the unroll), eval's loss, perplexity and BLEU, bench's JSON, and one clear error
# (exit 1, nothing on stdout) for each kind of bad input, including the other family's weights.
. "$(dirname "$0")/lib_cli.sh"
src="$(cd "$(dirname "$0")/.." && pwd)"

# Runs the command and expects exit 1 with one error line mentioning $2, and nothing on stdout.
expect_error() {
  local what="$1" msg="$2"
  shift 2
  run "$@"
  [ "$(rc)" = 1 ] && one_error "$msg" && [ ! -s "$tmp/out" ] && ok "$what: one error line" \
    || bad "$what: rc $(rc): $(cat "$tmp/err")"
}

# A tiny corpus of 80 fortunes (every 20th is held out).
mkdir -p "$tmp/corp"
for i in $(seq 1 80); do
  printf 'Fortune %d: the early bird gets the worm, but the second mouse gets the cheese.\n%%\n' $((i % 9))
done >"$tmp/corp/fortunes"
tiny=(--data "$tmp/corp" --layers 2 --dim 24 --context 32 --batch 4 --quiet --seed 3)

for fam in lstm gru; do
  W="$tmp/$fam/$fam.safetensors"

  # ---- training ----
  run "$vkgen" train $fam "${tiny[@]}" --limit 16 --steps 8 --log-every 4 --val-tokens 256 --lr 0.01 --out "$tmp/$fam"
  n_loss=$(grep -c '"loss": ' "$tmp/$fam/metrics.jsonl" 2>/dev/null)
  n_val=$(grep -c '"val_loss": ' "$tmp/$fam/metrics.jsonl" 2>/dev/null)
  [ "$(rc)" = 0 ] && [ -s "$W" ] && [ "$n_loss" = 8 ] && [ "$n_val" = 2 ] \
    && ok "train $fam: 8 steps logged, val_loss after each of 2 epochs, weights written" \
    || bad "train $fam: rc $(rc) losses $n_loss vals $n_val $(cat "$tmp/err")"
  grep -aq "\\\\\"family\\\\\": \\\\\"$fam\\\\\", \\\\\"tokenizer\\\\\": \\\\\"bytes\\\\\", \\\\\"vocab\\\\\": 256, \\\\\"layers\\\\\": 2, \\\\\"dim\\\\\": 24" "$W" \
    && ok "$fam: the weights' config holds the architecture" || bad "$fam: config metadata"

  # ---- sampling ----
  # An RNN has no context limit: 200 tokens from a model trained on windows of 32.
  run "$vkgen" sample $fam --weights "$W" --prompt "Fortune" -n 200 --seed 5
  [ "$(rc)" = 0 ] && [ "$(head -c -1 "$tmp/out" | wc -c)" = 207 ] \
    && ok "$fam generates past its training window" || bad "$fam past the window: $(cat "$tmp/err")"
  run "$vkgen" sample $fam --weights "$W" --prompt "Fortune" -n 20 --seed 5
  cp "$tmp/out" "$tmp/a.txt"
  run "$vkgen" sample $fam --weights "$W" --prompt "Fortune" -n 20 --seed 5
  [ "$(rc)" = 0 ] && cmp -s "$tmp/out" "$tmp/a.txt" && [ "$(head -c 7 "$tmp/out")" = "Fortune" ] \
    && [ "$(wc -c <"$tmp/out")" -ge 21 ] && ok "$fam sample: the same seed prints the same text, after the prompt" \
    || bad "$fam sample determinism: rc $(rc) $(cat "$tmp/err")"
  run "$vkgen" sample $fam --weights "$W" --prompt "Fortune" -n 20 --seed 6
  [ "$(rc)" = 0 ] && ! cmp -s "$tmp/out" "$tmp/a.txt" && ok "$fam: another seed prints other text" \
    || bad "$fam seed 6: $(cat "$tmp/err")"
  run "$vkgen" sample $fam --weights "$W" -n 12 --top-k 5 --top-p 0.9 --temperature 0.8 --batch 3 --unroll 3
  [ "$(rc)" = 0 ] && [ "$(grep -c '^=== sample ' "$tmp/out")" = 3 ] && ok "$fam: --batch 3 prints 3 samples" \
    || bad "$fam batch: rc $(rc) $(cat "$tmp/err")"
  run "$vkgen" sample $fam --weights "$W" --prompt "Fortune 3:" -n 12 --temperature 0
  cp "$tmp/out" "$tmp/g.txt"
  run "$vkgen" sample $fam --weights "$W" --prompt "Fortune 3:" -n 12 --temperature 0 --seed 99 --unroll 1
  [ "$(rc)" = 0 ] && cmp -s "$tmp/out" "$tmp/g.txt" && ok "$fam: greedy decoding ignores the seed and the unroll" \
    || bad "$fam greedy: $(cat "$tmp/err")"

  # ---- eval and bench ----
  run "$vkgen" eval $fam --weights "$W" --data "$tmp/corp" -n 3 --val-tokens 300 --json
  [ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys,math; d=json.load(open(sys.argv[1]));
assert d["model"]==sys.argv[2] and 0 < d["val_loss"] < 10 and abs(d["val_ppl"]-math.exp(d["val_loss_token"]))<1e-3*d["val_ppl"]
assert 0 <= d["bleu"] <= 1 and 0 <= d["self_bleu"] <= 1 and d["samples"]==3' "$tmp/out" $fam \
    && ok "$fam eval --json: val_loss, val_ppl, BLEU and self-BLEU in range" \
    || bad "$fam eval: rc $(rc) $(cat "$tmp/out" "$tmp/err")"
  # ---- half-precision weights: the same run saved as F16 (lstm) or BF16 (gru) ----
  half=$([ $fam = lstm ] && echo f16 || echo bf16)
  cp "$tmp/out" "$tmp/eval32.json"
  run "$vkgen" train $fam "${tiny[@]}" --limit 16 --steps 8 --val-tokens 256 --lr 0.01 --save-dtype $half --out "$tmp/$fam-$half"
  H="$tmp/$fam-$half/$fam.safetensors"
  [ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,struct,sys,os
f=open(sys.argv[1],"rb"); h=json.loads(f.read(struct.unpack("<Q",f.read(8))[0])); h.pop("__metadata__")
assert {v["dtype"] for v in h.values()}=={sys.argv[3].upper()}, h
assert os.path.getsize(sys.argv[1]) < 0.6*os.path.getsize(sys.argv[2])' "$H" "$W" $half \
    && ok "$fam --save-dtype $half: every tensor stored as ${half^^}, the file about half the size" \
    || bad "$fam --save-dtype $half: rc $(rc) $(cat "$tmp/err")"
  run "$vkgen" eval $fam --weights "$H" --data "$tmp/corp" -n 3 --val-tokens 300 --json
  [ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
assert abs(a["val_loss"]-b["val_loss"]) < 0.01, (a["val_loss"], b["val_loss"])' "$tmp/out" "$tmp/eval32.json" \
    && ok "$fam: the ${half^^} weights load and evaluate within 0.01 nats of the f32 ones" \
    || bad "$fam ${half^^} eval: rc $(rc) $(cat "$tmp/out" "$tmp/err")"
  run "$vkgen" bench $fam --weights "$W" --quick --json
  [ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert d["model"]==sys.argv[2] and d["decode_tokens_per_s_b1"]>0 and d["decode_tokens_per_s_b16"]>0 and d["train_tokens_per_s"]>0' \
    "$tmp/out" $fam && ok "$fam bench --quick --json: decoding and training tokens/s" \
    || bad "$fam bench: $(cat "$tmp/out" "$tmp/err")"

  # ---- bad input ----
  expect_error "$fam -n 0" "-n" "$vkgen" sample $fam --weights "$W" -n 0
  expect_error "$fam -n -3" "-n" "$vkgen" sample $fam --weights "$W" -n -3
  expect_error "$fam -n abc" "-n" "$vkgen" sample $fam --weights "$W" -n abc
  expect_error "$fam missing weights" "cannot open" "$vkgen" sample $fam --weights "$tmp/none.safetensors" -n 3
  head -c 300 "$W" >"$tmp/trunc.safetensors"
  expect_error "$fam truncated weights" "trunc.safetensors" "$vkgen" sample $fam --weights "$tmp/trunc.safetensors" -n 3
  expect_error "$fam given a gan's weights" "for a gan model, not $fam" \
    "$vkgen" sample $fam --weights "$src/assets/gan.safetensors" -n 3
  expect_error "$fam eval of a missing file" "cannot open" "$vkgen" eval $fam --weights "$tmp/none.safetensors"
  expect_error "$fam train with a bad --dim" "dim" "$vkgen" train $fam "${tiny[@]}" --dim 0 --steps 1 --out "$tmp/bad"
  [ ! -e "$tmp/bad/$fam.safetensors" ] && ok "$fam: a failed training run writes no weights" || bad "$fam: weights after a failed run"
done
# Each recurrent family refuses the other's weights (same tensor names, other gate count).
expect_error "lstm given gru weights" "for a gru model, not lstm" "$vkgen" sample lstm --weights "$tmp/gru/gru.safetensors" -n 3
expect_error "gru given lstm weights" "for a lstm model, not gru" "$vkgen" sample gru --weights "$tmp/lstm/lstm.safetensors" -n 3

# ---- the shipped default weights, found from any directory ----
for fam in lstm gru; do
  if [ -e "$src/assets/$fam.safetensors" ]; then
    (cd "$tmp" && run "$vkgen" sample $fam --prompt "The " -n 24 --seed 1)
    [ "$(rc)" = 0 ] && [ "$(head -c 4 "$tmp/out")" = "The " ] && [ "$(wc -c <"$tmp/out")" -gt 8 ] \
      && ok "$fam: the default weights sample with no --weights" || bad "$fam default: $(cat "$tmp/err")"
  fi
done

finish
