#!/bin/bash
# Training end to end through the CLI: a resumed run gives the same losses as an uninterrupted one;
# kill -9 at random moments never leaves an unloadable checkpoint; SIGINT and SIGTERM write a
# checkpoint and exit 130 / 143, a second SIGINT exits at once; a run ended by --steps evaluates and
# progress shows from the first step; a diverging loss stops with the
# step named and the last good checkpoint kept; a missing or corrupt dataset is one clear error.
. "$(dirname "$0")/lib_cli.sh"
common=(--batch 16 --limit 512 --quiet --seed 3)
losses() { sed -n 's/.*"step": \([0-9]*\),.*"loss": \([^,]*\),.*/\1 \2/p' "$1"; }

# ---- resume equals an uninterrupted run ----
"$vkgen" train classifier "${common[@]}" --steps 12 --log-every 3 --ckpt-every 6 --out "$tmp/full" 2>"$tmp/err" \
  && ok "12 uninterrupted steps" || bad "uninterrupted run: $(cat "$tmp/err")"
"$vkgen" train classifier "${common[@]}" --steps 6 --log-every 3 --out "$tmp/split" 2>"$tmp/err" \
  && "$vkgen" train classifier "${common[@]}" --steps 12 --log-every 3 --out "$tmp/split" --resume 2>"$tmp/err" \
  && ok "6 steps, then 6 more with --resume" || bad "split run: $(cat "$tmp/err")"
losses "$tmp/full/metrics.jsonl" >"$tmp/a"
losses "$tmp/split/metrics.jsonl" >"$tmp/b"
[ "$(wc -l <"$tmp/a")" = 12 ] && cmp -s "$tmp/a" "$tmp/b" \
  && ok "the resumed run logs the same 12 losses, bit for bit" || bad "losses differ: $(paste "$tmp/a" "$tmp/b" | head -12)"
[ -s "$tmp/full/loss.png" ] && [ "$(head -c 4 "$tmp/full/loss.png" | tail -c 3)" = PNG ] \
  && ok "loss.png written" || bad "no loss plot"
[ -s "$tmp/full/classifier.safetensors" ] && ok "weights written" || bad "no weights file"

# Resuming with another optimizer, batch or learning rate would not continue the same run: refused,
# saying what differs, and nothing in the run is changed.
cp "$tmp/split/checkpoint.safetensors" "$tmp/ckpt.before"
for change in "--optim sgd" "--lr 0.5" "--batch 32" "--beta1 0.5" "--clip 1"; do
  # shellcheck disable=SC2086
  "$vkgen" train classifier "${common[@]}" --steps 14 $change --out "$tmp/split" --resume 2>"$tmp/err"
  rc=$? key=${change#--}
  [ $rc = 1 ] && [ "$(grep -c '^error: ' "$tmp/err")" = 1 ] && grep -q "other settings (${key%% *}:" "$tmp/err" \
    && cmp -s "$tmp/split/checkpoint.safetensors" "$tmp/ckpt.before" \
    && ok "--resume with $change is refused: $(head -1 "$tmp/err")" || bad "--resume with $change: $(cat "$tmp/err")"
done

# --init: fine-tuning the shipped classifier starts from its weights (a low loss at step 1, far below a
# fresh model's ln 10 = 2.3) with a fresh optimizer.
assets="$(dirname "$0")/../assets"
"$vkgen" train classifier "${common[@]}" --steps 1 --log-every 1 --init "$assets/classifier.safetensors" \
  --out "$tmp/init" 2>"$tmp/err"
first=$(losses "$tmp/init/metrics.jsonl" | head -1 | cut -d' ' -f2)
awk -v l="$first" 'BEGIN { exit !(l != "" && l < 1.0) }' && ok "--init starts from the given weights (loss $first)" \
  || bad "--init: first loss '$first': $(cat "$tmp/err")"

"$vkgen" train classifier "${common[@]}" --steps 12 --out "$tmp/full" 2>"$tmp/err"
[ $? = 1 ] && grep -q "already exists" "$tmp/err" && grep -q "^hint: .*--resume" "$tmp/err" \
  && ok "an existing run is not overwritten without --resume" || bad "overwrite: $(cat "$tmp/err")"

# ---- kill -9 at random moments while checkpointing every step ----
run="$tmp/killed"
good=0
for round in 1 2 3 4 5 6; do
  args=("${common[@]}" --steps 400 --log-every 1 --ckpt-every 1 --out "$run")
  [ -f "$run/checkpoint.safetensors" ] && args+=(--resume)
  "$vkgen" train classifier "${args[@]}" 2>/dev/null &
  pid=$!
  # VKGEN_TEST_TIME_SCALE stretches the wait for slow builds (the sanitizer build in .ci/run: 3).
  sleep "$(awk -v r=$RANDOM -v k="${VKGEN_TEST_TIME_SCALE:-1}" 'BEGIN { printf "%.2f", k * (2.0 + (r % 250) / 100) }')"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  if [ -f "$run/checkpoint.safetensors" ]; then
    # The checkpoint must load: resuming for one more step succeeds.
    step=$(grep -ao '"step":"[0-9]*"' "$run/checkpoint.safetensors" | head -1 | tr -dc 0-9)
    "$vkgen" train classifier "${common[@]}" --steps $((step + 1)) --log-every 1 --out "$run" --resume 2>"$tmp/err" \
      && good=$((good + 1)) || { bad "round $round: checkpoint at step $step did not resume: $(cat "$tmp/err")"; }
  fi
done
[ $good -ge 3 ] && ok "after $good kill -9s the checkpoint always resumed" || bad "only $good kill rounds had a checkpoint"

# ---- a diverging loss stops with the step named; the last checkpoint stays ----
"$vkgen" train classifier "${common[@]}" --lr 1e12 --steps 50 --log-every 1 --ckpt-every 1 \
  --out "$tmp/nan" 2>"$tmp/err"
rc=$?
[ $rc = 1 ] && grep -Eq "^error: .*loss became (NaN|infinite) at step [0-9]+" "$tmp/err" \
  && ok "a diverging loss stops: $(grep '^error' "$tmp/err" | cut -c1-90)" || bad "nan: rc $rc $(cat "$tmp/err")"
# Each step is checkpointed once its loss is known to be finite, so the checkpoint is the step before.
bad_step=$(sed -n 's/^error: .*at step \([0-9]*\).*/\1/p' "$tmp/err")
if [ -n "$bad_step" ] && [ "$bad_step" -gt 1 ]; then
  kept=$(grep -ao '"step":"[0-9]*"' "$tmp/nan/checkpoint.safetensors" | head -1 | tr -dc 0-9)
  [ "$kept" = $((bad_step - 1)) ] && grep -q "^hint: the last good checkpoint .*(step $kept)" "$tmp/err" \
    && ok "the last good checkpoint (step $kept) is kept and named" || bad "checkpoint after NaN: '$kept' $(cat "$tmp/err")"
else
  grep -q "^hint: no checkpoint was written yet" "$tmp/err" && ok "diverged at step 1: says no checkpoint exists" \
    || bad "nan at step 1: $(cat "$tmp/err")"
fi

# ---- SIGINT and SIGTERM: the step finishes, a checkpoint is written and named, exit 128 + signal ----
set -m # background jobs then receive SIGINT (a shell without job control makes them ignore it)
# start DIR: a long run checkpointing every 2 steps, in the background; waits for its first checkpoint.
start() {
  "$vkgen" train classifier --batch 16 --limit 512 --seed 3 --steps 100000 --log-every 1 --checkpoint-every 2 \
    --out "$1" 2>"$1.err" &
  pid=$!
  for _ in $(seq 1 1200); do [ -f "$1/checkpoint.safetensors" ] && break; sleep 0.25; done
}
ckpt_step() { grep -ao '"step":"[0-9]*"' "$1/checkpoint.safetensors" | head -1 | tr -dc 0-9; }
for sig in INT TERM; do
  want=$([ $sig = INT ] && echo 130 || echo 143)
  start "$tmp/sig$sig"
  kill -$sig $pid
  wait $pid
  rc=$?
  said=$(sed -n "s/^interrupted (SIG$sig) at step \([0-9]*\) of 100000: wrote the checkpoint .*checkpoint.safetensors; continue with --resume/\1/p" "$tmp/sig$sig.err")
  [ $rc = $want ] && [ -n "$said" ] && [ "$(ckpt_step "$tmp/sig$sig")" = "$said" ] \
    && ok "SIG$sig: exit $rc, checkpoint of step $said written and named" \
    || bad "SIG$sig: rc $rc, said '$said', checkpoint $(ckpt_step "$tmp/sig$sig"): $(tail -3 "$tmp/sig$sig.err")"
  [ $sig = INT ] && { "$vkgen" train classifier "${common[@]}" --steps $((said + 1)) --out "$tmp/sig$sig" --resume \
    2>"$tmp/err" && ok "SIG$sig: the run resumes from it" || bad "SIG$sig: no resume: $(cat "$tmp/err")"; }
done
# A second SIGINT exits at once; the previous checkpoint stays whole and no temporary file is left.
start "$tmp/twice"
kill -INT $pid
sleep 0.05
kill -INT $pid 2>/dev/null
wait $pid
rc=$?
step=$(ckpt_step "$tmp/twice")
[ $rc = 130 ] && [ -n "$step" ] && [ -z "$(ls "$tmp/twice" | grep '\.tmp\.')" ] \
  && "$vkgen" train classifier "${common[@]}" --steps $((step + 1)) --out "$tmp/twice" --resume 2>"$tmp/err" \
  && ok "two SIGINTs: exit 130, the checkpoint (step $step) resumes, no temporary file left" \
  || bad "two SIGINTs: rc $rc, step '$step', files $(ls "$tmp/twice"): $(cat "$tmp/err")"

# ---- checkpoints by time (the default: every 5 minutes and at each epoch's end) ----
# A 1-second interval inside one long epoch (3750 steps of 16): checkpoints appear mid-epoch and move on.
"$vkgen" train classifier --batch 16 --seed 3 --steps 100000 --log-every 1000 --checkpoint-every 1s \
  --out "$tmp/timed" 2>"$tmp/timed.err" &
pid=$!
for _ in $(seq 1 1200); do [ -f "$tmp/timed/checkpoint.safetensors" ] && break; sleep 0.25; done
first=$(ckpt_step "$tmp/timed")
sleep "$(awk -v k="${VKGEN_TEST_TIME_SCALE:-1}" 'BEGIN { printf "%.2f", 3 * k }')"
later=$(ckpt_step "$tmp/timed")
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
[ -n "$first" ] && [ -n "$later" ] && [ "$later" -gt "$first" ] && [ "$later" -lt 3750 ] \
  && ok "--checkpoint-every 1s: checkpoints at step $first, then $later, inside the first epoch" \
  || bad "timed checkpoints: '$first' then '$later': $(tail -3 "$tmp/timed.err")"
set +m

# ---- a run ended by --steps evaluates; progress shows from the first step ----
"$vkgen" train classifier --batch 16 --limit 512 --seed 3 --steps 3 --log-every 50 --out "$tmp/short" 2>"$tmp/err"
grep -q '"step": 3, "epoch": 1, "val_loss"' "$tmp/short/metrics.jsonl" && grep -q "^step 3: val_loss" "$tmp/err" \
  && ok "a run ended by --steps mid-epoch is evaluated" || bad "no evaluation at --steps: $(cat "$tmp/err")"
grep -q "^train: 1/3 steps" "$tmp/err" && ok "progress from the first step: $(grep -m1 '^train: 1/3' "$tmp/err")" \
  || bad "no progress at step 1: $(cat "$tmp/err")"

# ---- data problems ----
"$vkgen" train classifier "${common[@]}" --steps 1 --data "$tmp/nowhere" --out "$tmp/x1" 2>"$tmp/err"
[ $? = 1 ] && grep -q "^error: " "$tmp/err" && grep -q "dataset-fashion-mnist" "$tmp/err" \
  && ok "a missing dataset names the Debian package" || bad "missing data: $(cat "$tmp/err")"
mkdir -p "$tmp/bad"
cp /usr/share/datasets/fashion-mnist/* "$tmp/bad/" 2>/dev/null
f=$(ls "$tmp/bad"/train-images* 2>/dev/null | head -1)
if [ -n "$f" ]; then
  head -c 100000 "$f" >"$tmp/cut" && mv "$tmp/cut" "$f"
  "$vkgen" train classifier "${common[@]}" --steps 1 --data "$tmp/bad" --out "$tmp/x2" 2>"$tmp/err"
  [ $? = 1 ] && [ "$(grep -c '^error: ' "$tmp/err")" = 1 ] && grep -qi "truncated\|corrupt\|unexpected end" "$tmp/err" \
    && ok "a truncated IDX file is a clear error: $(grep '^error' "$tmp/err" | cut -c1-90)" || bad "truncated: $(cat "$tmp/err")"
fi
"$vkgen" train classifier --batch abc 2>"$tmp/err"
[ $? = 1 ] && grep -q "^error: --batch expects" "$tmp/err" && ok "a malformed number is refused" || bad "bad number"
"$vkgen" train nosuchmodel 2>"$tmp/err"
[ $? = 1 ] && grep -q "unknown model" "$tmp/err" && ok "an unknown model is refused" || bad "unknown model"

finish
