#!/bin/bash
# vkgen compare's HTML report in headless Chromium: on weights given with --weights (the shipped GAN and
# a tiny WaveNet trained here; no VAE weights, so the VAE is reported as failed and the exit status is
# 1), the page loads offline without console messages, shows every section, and every image and the
# audio player it names load (a copy of the page with a script that counts them after the load event).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib_cli.sh"
chromium=$(command -v chromium || command -v chromium-browser)
[ -n "$chromium" ] || { bad "chromium is not installed (apt-get install chromium)"; finish; exit 1; }

w=$tmp/weights r=$tmp/report
mkdir "$w"
cp "$here/../assets/gan.safetensors" "$w/"
"$vkgen" train wavenet --stacks 1 --max-dilation 4 --residual 4 --gate 4 --skip 8 --window 200 --batch 2 --steps 1 \
  --limit 4 --out "$tmp/wn" --quiet && cp "$tmp/wn/wavenet.safetensors" "$w/" || bad "training the tiny WaveNet"
run "$vkgen" compare --weights "$w" --quick --families gan,wavenet,vae -o "$r"
[ "$(rc)" = 1 ] && [ "$(grep -c '^error: ' "$tmp/err")" = 1 ] \
  && grep -q '^error: compare: 1 of 3 families failed, the first: vae: no weights' "$tmp/err" \
  && ok "a family without weights fails alone: exit 1 with one error line" || { bad "compare exit $(rc)"; cat "$tmp/err" >&2; }
[ "$(grep -c '^\[[1-6]/9\] .*\.\.\. done' "$tmp/err")" = 6 ] && ok "6 phases done (3 each for gan and wavenet)" \
  || bad "phases: $(grep -c '^\[' "$tmp/err")"
$py - "$r" <<'PY' && ok "report.json: gan and wavenet ok with their numbers, vae failed with its reason" || bad "report.json"
import json, sys
rep = json.load(open(sys.argv[1] + "/report.json"))
f = {x["name"]: x for x in rep["families"]}
assert rep["mode"] == "weights", rep["mode"]
assert f["gan"]["status"] == "ok" and f["wavenet"]["status"] == "ok", (f["gan"]["status"], f["wavenet"]["status"])
assert f["vae"]["status"] == "failed" and "no weights" in f["vae"]["error"], f["vae"]
assert 0 <= f["gan"]["summary"]["precision"] <= 1 and f["gan"]["summary"]["fid"] > 0
s = f["wavenet"]["summary"]
assert 0 < s["bits_per_sample"] <= 8.01 and s["real_time_factor"] > 0 and s["training_samples_per_s"] > 0, s
assert {"audio", "spectrogram_generated", "spectrogram_real"} <= set(f["wavenet"]["files"]), f["wavenet"]["files"]
PY

# The page as it is, then a copy whose script counts the images and audio that loaded.
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 --dump-dom \
  "file://$r/index.html" >"$tmp/dom" 2>"$tmp/chromium.err"
[ -s "$tmp/dom" ] && ok "chromium renders index.html" || { bad "chromium printed no DOM"; tail -5 "$tmp/chromium.err" >&2; }
grep -q 'CONSOLE' "$tmp/chromium.err" && { bad "console messages:"; grep CONSOLE "$tmp/chromium.err" >&2; } \
  || ok "no console messages"
for s in images text audio curves reproduce; do
  grep -q "<section id=\"$s\">" "$tmp/dom" && ok "section $s shown" || bad "no section $s"
done
grep -q '<td>gan</td>' "$tmp/dom" && grep -q '<td>wavenet</td>' "$tmp/dom" && grep -q 'vae failed' "$tmp/dom" \
  && ok "the tables and the failure are on the page" || bad "tables or failure missing"
grep -qE '(src|href)="(https?:)?//' "$tmp/dom" && bad "an external resource" || ok "no external resources"
sed 's|</body>|<script>window.addEventListener("load", () => { const im = [...document.images], au = [...document.querySelectorAll("audio")]; document.title = "loaded " + im.filter(i => i.complete \&\& i.naturalWidth > 0).length + " of " + im.length + " images; audio " + au.length; });</script></body>|' \
  "$r/index.html" >"$r/check.html"
timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --dump-dom "file://$r/check.html" >"$tmp/dom2" 2>/dev/null
t=$(sed -n 's|.*<title>\(.*\)</title>.*|\1|p' "$tmp/dom2")
n=$(grep -o '<img ' "$r/index.html" | wc -l)
[ "$t" = "loaded $n of $n images; audio 1" ] && [ "$n" = 4 ] && ok "every image loads ($t)" || bad "page title '$t' ($n images)"
src=$(sed -n 's|.*<audio controls src="\([^"]*\)".*|\1|p' "$r/index.html")
[ -n "$src" ] && head -c 4 "$r/$src" | grep -q RIFF && ok "the audio player's file $src is a WAV" || bad "audio src '$src'"
finish
