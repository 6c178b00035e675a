#!/bin/bash
# WaveNet end to end through the CLI on a folder of tones made here (two voices in two folders, 10
# files each, 11.025 kHz so the reader resamples to 8 kHz): a tiny training run (unconditional and
# conditional), eval's numbers in bits and nats on the held-out tenth, sampling to a file and to
# standard output (a valid 16-bit WAV of the asked length, the same for the same seed), a prime, and
# bench's JSON.
. "$(dirname "$0")/lib_cli.sh"

# "rate frames" of a 16-bit mono WAV, from Python's own wave module.
wav_info() { $py -c 'import wave,sys; w=wave.open(sys.argv[1]); assert w.getnchannels()==1 and w.getsampwidth()==2; print(w.getframerate(), w.getnframes())' "$1" 2>/dev/null; }

$py - "$tmp/data" <<'PY' || { echo "FAIL cannot make the audio"; exit 1; }
import math, os, struct, sys, wave
root = sys.argv[1]
for voice, f0 in (("high", 660.0), ("low", 220.0)):
    os.makedirs(os.path.join(root, voice))
    for i in range(10):
        w = wave.open(os.path.join(root, voice, "clip%02d.wav" % i), "wb")
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(11025)
        n = 1500 + 100 * i
        w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * f0 * (1 + 0.01 * i) * t / 11025)))
                               for t in range(n)))
        w.close()
PY
tiny=(--stacks 1 --max-dilation 4 --residual 4 --gate 4 --skip 8 --window 64 --batch 4 --quiet --seed 2)

# ---- training and eval ----
run "$vkgen" train wavenet "${tiny[@]}" --data "$tmp/data" --steps 6 --log-every 3 --lr 3e-3 --out "$tmp/run"
W="$tmp/run/wavenet.safetensors"
[ "$(rc)" = 0 ] && [ -s "$W" ] && grep -q '"val_bits": ' "$tmp/run/metrics.jsonl" \
  && ok "train: weights and val_bits" || { bad "train: exit $(rc)"; cat "$tmp/err" >&2; }
run "$vkgen" train wavenet "${tiny[@]}" --data "$tmp/data" --steps 2 --out "$tmp/run-help" --help
grep -q "receptive\|max-dilation" "$tmp/out" && ok "train --help lists the architecture" || bad "train --help"

run "$vkgen" eval wavenet --weights "$W" --data "$tmp/data" --window 64 --json
bits=$($py -c 'import json,sys; d=json.load(open(sys.argv[1])); assert abs(d["nll_bits_per_sample"]*0.6931471805599453-d["nll_nats_per_sample"])<1e-4; print(d["nll_bits_per_sample"], d["test_samples"])' "$tmp/out" 2>/dev/null)
# The test set: files 10 and 20 of the sorted 20 (clip09 of each voice), 2400 samples at 11.025 kHz
# each -> 1741 at 8 kHz, scored from the second sample on.
set -- $bits
[ "$(rc)" = 0 ] && [ "$2" = 3480 ] && $py -c "import sys; sys.exit(not 0 < $1 < 8.5)" \
  && ok "eval: $1 bits/sample over $2 held-out samples" || { bad "eval: '$bits' exit $(rc)"; cat "$tmp/err" "$tmp/out" >&2; }
VKGEN_PROGRESS_AFTER=0 run "$vkgen" eval wavenet --weights "$W" --data "$tmp/data" --window 64
grep -q "bits/sample" "$tmp/out" && grep -q "receptive field 8 samples = 1.0 ms" "$tmp/out" \
  && ok "eval: text report with the receptive field in ms" || { bad "eval text"; cat "$tmp/out" >&2; }
grep -Eq "^eval: ([0-9]+)/\1 windows .* took" "$tmp/err" && ok "eval shows progress" || bad "eval progress: $(cat "$tmp/err")"

# ---- sampling ----
VKGEN_PROGRESS_AFTER=0 run "$vkgen" sample wavenet --weights "$W" -o "$tmp/a.wav" --seconds 0.05 --seed 4
[ "$(rc)" = 0 ] && [ "$(wav_info "$tmp/a.wav")" = "8000 400" ] && ok "sample: 0.05 s at 8 kHz" \
  || { bad "sample: exit $(rc) '$(wav_info "$tmp/a.wav")'"; cat "$tmp/err" >&2; }
# 400 samples after the 7 of silence that fill the receptive field
grep -q "^sample: 407/407 samples .* took" "$tmp/err" && ok "sample shows progress" || bad "sample progress: $(cat "$tmp/err")"
"$vkgen" sample wavenet --weights "$W" -o - --seconds 0.05 --seed 4 >"$tmp/b.wav" 2>"$tmp/err"
cmp -s "$tmp/a.wav" "$tmp/b.wav" && ok "sample -o - writes the same WAV to stdout" || bad "sample -o -"
run "$vkgen" sample wavenet --weights "$W" -o "$tmp/c.wav" --seconds 0.05 --seed 5
cmp -s "$tmp/a.wav" "$tmp/c.wav" && bad "another seed gives the same audio" || ok "another seed, other audio"
run "$vkgen" sample wavenet --weights "$W" -o "$tmp/p.wav" --seconds 0.01 --prime "$tmp/data/low/clip00.wav"
# The prime (1500 samples at 11.025 kHz -> 1088 at 8 kHz) then 80 generated samples.
[ "$(rc)" = 0 ] && [ "$(wav_info "$tmp/p.wav")" = "8000 1168" ] && ok "sample --prime: prime + continuation" \
  || { bad "sample --prime: '$(wav_info "$tmp/p.wav")'"; cat "$tmp/err" >&2; }
run "$vkgen" sample wavenet --weights "$W" -o "$tmp/nodir/x.wav" --seconds 0.01
[ "$(rc)" = 1 ] && [ ! -e "$tmp/nodir" ] && grep -q '^error: ' "$tmp/err" && ok "sample into a missing directory: error" \
  || bad "sample into a missing directory: exit $(rc)"

# ---- conditioning on the folders ----
run "$vkgen" train wavenet "${tiny[@]}" --data "$tmp/data" --conditional --steps 2 --out "$tmp/cond"
$py -c 'import json,struct,sys; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; c=json.loads(json.loads(b[8:8+n])["__metadata__"]["config"]); sys.exit(c["classes"]!=2)' "$tmp/cond/wavenet.safetensors" \
  && ok "conditional: 2 classes from the folders" || bad "conditional: classes"
run "$vkgen" sample wavenet --weights "$tmp/cond/wavenet.safetensors" -o "$tmp/k.wav" --seconds 0.01 --class 1
[ "$(rc)" = 0 ] && ok "sample --class 1" || { bad "sample --class: exit $(rc)"; cat "$tmp/err" >&2; }
run "$vkgen" sample wavenet --weights "$tmp/cond/wavenet.safetensors" -o "$tmp/k2.wav" --seconds 0.01 --class 2
[ "$(rc)" = 1 ] && [ ! -e "$tmp/k2.wav" ] && ok "sample --class out of range: error" || bad "sample --class 2"

# ---- bench ----
run "$vkgen" bench wavenet --stacks 1 --max-dilation 2 --residual 4 --gate 4 --skip 4 --samples 32 --steps 1 \
  --window 32 --batch 2 --json
$py -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["generation_samples_per_s"]["1"] > 0 and d["generation_samples_per_s"]["16"] > 0 and d["training_samples_per_s"] > 0' "$tmp/out" 2>/dev/null \
  && ok "bench --json" || { bad "bench: exit $(rc)"; cat "$tmp/err" "$tmp/out" >&2; }

finish
