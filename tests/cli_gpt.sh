#!/bin/bash
# The GPT family end to end through the CLI: a tiny training run with validation per epoch, sampling
# reproducible by seed (with top-k and top-p, several samples per batch), eval's loss, perplexity,
# BLEU and self-BLEU, bench's JSON, the tiny Hugging Face GPT-2 fixture directory as --weights, and
# one clear error (exit 1) for each kind of bad input.
. "$(dirname "$0")/lib_cli.sh"
src="$(cd "$(dirname "$0")/.." && pwd)"

# Runs the command and expects exit 1 with one error line mentioning $1.
expect_error() {
  local what="$1" msg="$2"
  shift 2
  run "$@"
  [ "$(rc)" = 1 ] && one_error "$msg" && ok "$what: one error line" || bad "$what: rc $(rc): $(cat "$tmp/err")"
}

# A tiny corpus of 80 fortunes (every 20th is held out).
mkdir -p "$tmp/corp"
for i in $(seq 1 80); do
  printf 'Fortune %d: the early bird gets the worm, but the second mouse gets the cheese.\n%%\n' $((i % 9))
done >"$tmp/corp/fortunes"
tiny=(--data "$tmp/corp" --layers 1 --dim 32 --heads 2 --context 32 --batch 4 --quiet --seed 3)
W="$tmp/run/gpt.safetensors"
HF="$src/tests/fixtures/gpt2_tiny"

# ---- training ----
run "$vkgen" train gpt "${tiny[@]}" --limit 16 --steps 8 --log-every 4 --val-tokens 256 --lr 0.003 --out "$tmp/run"
n_loss=$(grep -c '"loss": ' "$tmp/run/metrics.jsonl" 2>/dev/null)
n_val=$(grep -c '"val_loss": ' "$tmp/run/metrics.jsonl" 2>/dev/null)
[ "$(rc)" = 0 ] && [ -s "$W" ] && [ "$n_loss" = 8 ] && [ "$n_val" = 2 ] && grep -q '"val_ppl": ' "$tmp/run/metrics.jsonl" \
  && ok "train gpt: 8 steps logged, val_loss and val_ppl after each of 2 epochs, weights written" \
  || bad "train: rc $(rc) losses $n_loss vals $n_val $(cat "$tmp/err")"
grep -aq '\\"family\\": \\"gpt\\", \\"tokenizer\\": \\"bytes\\", \\"vocab\\": 256, \\"layers\\": 1, \\"dim\\": 32' "$W" \
  && ok "the weights' config holds the architecture" || bad "config metadata"

# ---- sampling ----
run "$vkgen" sample gpt --weights "$W" --prompt "Fortune" -n 20 --seed 5
cp "$tmp/out" "$tmp/a.txt"
run "$vkgen" sample gpt --weights "$W" --prompt "Fortune" -n 20 --seed 5
[ "$(rc)" = 0 ] && cmp -s "$tmp/out" "$tmp/a.txt" && [ "$(head -c 7 "$tmp/out")" = "Fortune" ] \
  && [ "$(wc -c <"$tmp/out")" -ge 21 ] && ok "sample: the same seed prints the same text, after the prompt" \
  || bad "sample determinism: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample gpt --weights "$W" --prompt "Fortune" -n 20 --seed 6
[ "$(rc)" = 0 ] && ! cmp -s "$tmp/out" "$tmp/a.txt" && ok "another seed prints other text" || bad "seed 6: $(cat "$tmp/err")"
run "$vkgen" sample gpt --weights "$W" -n 12 --top-k 5 --top-p 0.9 --temperature 0.8 --batch 3 --unroll 3
[ "$(rc)" = 0 ] && [ "$(grep -c '^=== sample ' "$tmp/out")" = 3 ] && ok "--top-k, --top-p, --batch 3 print 3 samples" \
  || bad "top-k/top-p batch: rc $(rc) $(cat "$tmp/err")"
run "$vkgen" sample gpt --weights "$W" --prompt "Fortune 3:" -n 10 --temperature 0
cp "$tmp/out" "$tmp/g.txt"
run "$vkgen" sample gpt --weights "$W" --prompt "Fortune 3:" -n 10 --temperature 0 --seed 99 --unroll 1
[ "$(rc)" = 0 ] && cmp -s "$tmp/out" "$tmp/g.txt" && ok "greedy decoding ignores the seed and the unroll" \
  || bad "greedy: $(cat "$tmp/err")"
# --top-p 1e-300 (below the smallest float) is the smallest nucleus, i.e. greedy, not "no top-p".
run "$vkgen" sample gpt --weights "$W" --prompt "Fortune 3:" -n 10 --top-p 1e-300 --seed 7
[ "$(rc)" = 0 ] && cmp -s "$tmp/out" "$tmp/g.txt" && ok "--top-p 1e-300 decodes greedily" \
  || bad "--top-p 1e-300: rc $(rc) '$(cat "$tmp/out")' vs greedy '$(cat "$tmp/g.txt")' $(cat "$tmp/err")"

# ---- a Hugging Face GPT-2 directory ----
run "$vkgen" sample gpt --weights "$HF" --prompt "the quick" -n 8 --seed 2
[ "$(rc)" = 0 ] && [ "$(head -c 9 "$tmp/out")" = "the quick" ] && ok "sample from a Hugging Face GPT-2 directory (BPE)" \
  || bad "HF sample: rc $(rc) $(cat "$tmp/err")"

# ---- eval and bench ----
run "$vkgen" eval gpt --weights "$W" --data "$tmp/corp" -n 4 --val-tokens 300 --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys,math; d=json.load(open(sys.argv[1]));
assert d["model"]=="gpt" and 0 < d["val_loss"] < 10 and abs(d["val_ppl"]-math.exp(d["val_loss_token"]))<1e-3*d["val_ppl"]
assert 0 <= d["bleu"] <= 1 and 0 <= d["self_bleu"] <= 1 and d["samples"]==4' "$tmp/out" \
  && ok "eval --json: val_loss, val_ppl, BLEU and self-BLEU in range" || bad "eval: rc $(rc) $(cat "$tmp/out" "$tmp/err")"
VKGEN_PROGRESS_AFTER=0 run "$vkgen" eval gpt --weights "$W" --data "$tmp/corp" -n 3 --val-tokens 300
[ "$(rc)" = 0 ] && grep -q "nats/byte" "$tmp/out" && grep -q "BLEU-4" "$tmp/out" && grep -q "self-BLEU-4" "$tmp/out" \
  && ok "eval prints a summary" || bad "eval text: $(cat "$tmp/err")"
# Progress (shown at once with VKGEN_PROGRESS_AFTER=0) of both phases, on stderr only.
grep -Eq "^validation: [0-9]+/[0-9]+ tokens .* took" "$tmp/err" && grep -Eq "^continuations: ([0-9]+)/\1 steps .* took" \
  "$tmp/err" && ! grep -q "^validation:\|^continuations:" "$tmp/out" && ok "eval shows the progress of both phases" \
  || bad "eval progress: $(cat "$tmp/err")"
VKGEN_PROGRESS_AFTER=0 run "$vkgen" sample gpt --weights "$W" --prompt "Fortune" -n 20 --seed 5
[ "$(rc)" = 0 ] && grep -q "^sample: 20/20 tokens .* took" "$tmp/err" && ! grep -q "^sample:" "$tmp/out" \
  && ok "sample into a file shows its progress on stderr" || bad "sample progress: $(cat "$tmp/err")"
run "$vkgen" bench gpt --weights "$W" --quick --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert d["decode_tokens_per_s_b1"]>0 and d["decode_tokens_per_s_b16"]>0 and d["train_tokens_per_s"]>0' "$tmp/out" \
  && ok "bench --quick --json: decoding at batch 1 and 16, training tokens/s" || bad "bench: $(cat "$tmp/out" "$tmp/err")"

# ---- bad input ----
expect_error "-n 0" "-n" "$vkgen" sample gpt --weights "$W" -n 0
expect_error "-n -3" "-n" "$vkgen" sample gpt --weights "$W" -n -3
expect_error "-n abc" "-n" "$vkgen" sample gpt --weights "$W" -n abc
expect_error "--top-p 0" "top-p" "$vkgen" sample gpt --weights "$W" --top-p 0
expect_error "--top-p 1.5" "top-p" "$vkgen" sample gpt --weights "$W" --top-p 1.5
expect_error "a prompt longer than the context" "the model's context of 32 or longer" \
  "$vkgen" sample gpt --weights "$W" -n 1 --prompt "$(printf 'x%.0s' $(seq 1 40))"
# Past the context, generation slides on from the last half-context: -n is what is generated.
run "$vkgen" sample gpt --weights "$W" -n 100 --prompt "Fortune" --seed 5
[ "$(rc)" = 0 ] && [ "$(head -c -1 "$tmp/out" | wc -c)" = 107 ] \
  && ok "prompt + -n past the context (32): 100 tokens after the prompt" || bad "past the context: $(cat "$tmp/out" "$tmp/err")"
run "$vkgen" sample gpt --weights "$W" -n 100 --prompt "Fortune" --seed 5 --batch 2
grep -q "^=== sample 2 ===" "$tmp/out" && [ "$(rc)" = 0 ] && ok "past the context with --batch 2" \
  || bad "past the context, batch 2: $(cat "$tmp/err")"
expect_error "missing weights" "cannot open" "$vkgen" sample gpt --weights "$tmp/none.safetensors" -n 3
head -c 300 "$W" >"$tmp/trunc.safetensors"
expect_error "truncated weights" "trunc.safetensors" "$vkgen" sample gpt --weights "$tmp/trunc.safetensors" -n 3
expect_error "another family's weights" "for a gan model, not gpt" "$vkgen" sample gpt --weights "$src/assets/gan.safetensors" -n 3
# Fine-tuning from a Hugging Face directory: with a vanishing learning rate every tensor of the trained
# weights is the directory's (its architecture came along too).
run "$vkgen" train gpt --init "$HF" --steps 1 --batch 2 --lr 1e-12 --quiet --out "$tmp/ft"
[ "$(rc)" = 0 ] && /usr/bin/python3 - "$HF/model.safetensors" "$tmp/ft/gpt.safetensors" <<'PY' \
  && ok "train gpt --init HF-DIR starts from the directory's weights" || bad "--init HF: $(cat "$tmp/err")"
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k.removeprefix("transformer."): (v["shape"], struct.unpack("<%df" % (len(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) // 4), b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])) for k, v in h.items() if k != "__metadata__" and v["dtype"] == "F32"}
hf, ft = tensors(sys.argv[1]), tensors(sys.argv[2])
assert len(ft) > 10 and all(k in hf for k in ft), sorted(set(ft) - set(hf))
for k, (shape, v) in ft.items():
    assert hf[k][0] == shape and max(abs(a - b) for a, b in zip(v, hf[k][1])) < 1e-6, k
PY
expect_error "--init HF-DIR with an architecture option" "architecture comes from the directory" "$vkgen" train gpt --init "$HF" --layers 3 \
  --steps 1 --out "$tmp/ft2"
mkdir -p "$tmp/hf"
cp "$HF"/config.json "$HF"/model.safetensors "$HF"/merges.txt "$tmp/hf/"
echo '{"a": 0,' >"$tmp/hf/vocab.json"
expect_error "a tokenizer that does not parse" "vocab.json" "$vkgen" sample gpt --weights "$tmp/hf" -n 3
cp "$HF/vocab.json" "$tmp/hf/"
sed 's/"n_layer": 2/"n_layer": 3/' "$HF/config.json" >"$tmp/hf/config.json"
expect_error "a config that disagrees with the tensors" "h.2." "$vkgen" sample gpt --weights "$tmp/hf" -n 3
expect_error "an unknown option" "unknown option" "$vkgen" sample gpt --weights "$W" --frobnicate
expect_error "eval -n 1" "self-BLEU" "$vkgen" eval gpt --weights "$W" -n 1
run "$vkgen" sample gpt --weights "$W" -n 1 --prompt "$(printf 'x%.0s' $(seq 1 40))"
[ "$(rc)" = 1 ] && [ ! -s "$tmp/out" ] && ok "nothing is printed to stdout on an error" || bad "stdout on error: $(cat "$tmp/out")"

# ---- the shipped default weights, found from any directory ----
for fam in gpt; do
  if [ -e "$src/assets/$fam.safetensors" ]; then
    (cd "$tmp" && run "$vkgen" sample $fam --prompt "The " -n 24 --seed 1)
    [ "$(rc)" = 0 ] && [ "$(head -c 4 "$tmp/out")" = "The " ] && [ "$(wc -c <"$tmp/out")" -gt 8 ] \
      && ok "$fam: the default weights sample with no --weights" || bad "$fam default: $(cat "$tmp/err")"
  fi
done

finish
