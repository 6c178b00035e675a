#!/bin/bash
# The command-line tool end to end: listing devices, the self-check, bench output, and one clear
# error line (plus a hint) with a non-zero exit for each kind of bad input.
. "$(dirname "$0")/lib_cli.sh"

run "$vkgen" devices
[ "$(rc)" = 0 ] && grep -q '^0: ' "$tmp/out" && grep -q 'subgroup' "$tmp/out" && grep -q 'fp16' "$tmp/out" \
  && ok "devices lists device 0 with its capabilities" || bad "devices: $(cat "$tmp/err")"

run "$vkgen" devices --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[0]["subgroup_size"] > 0' "$tmp/out" \
  && ok "devices --json is valid JSON" || bad "devices --json"

run "$vkgen" selfcheck
[ "$(rc)" = 0 ] && grep -q 'match the reference' "$tmp/out" && ! grep -q 'validation' "$tmp/err" \
  && ok "selfcheck passes with validation on and silent" || bad "selfcheck: $(cat "$tmp/out" "$tmp/err")"

run "$vkgen" bench ops --op matmul --quick --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["results"][0]; assert r["op"]=="matmul" and r["gflops"]>0' "$tmp/out" \
  && ok "bench ops --json gives GFLOP/s" || bad "bench ops --json: $(cat "$tmp/err")"

run "$vkgen" bench peak --json
[ "$(rc)" = 0 ] && grep -q '"fma_gflops": [0-9]' "$tmp/out" && grep -q '"copy_gbs": [0-9]' "$tmp/out" \
  && ok "bench peak --json gives the FMA and copy peaks" || bad "bench peak --json: $(cat "$tmp/err")"
run "$vkgen" bench ops --op matmul --quick
[ "$(rc)" = 0 ] && grep -q 'GFLOP/s' "$tmp/out" && ok "bench ops prints a table" || bad "bench ops table"

# Every op of the table at its smallest bench size: a case over a device limit (GPT-2's 154 MB
# embedding table on a device whose binding limit is 128 MiB) is resized or skipped with a note, so
# the whole bench succeeds on every device.
run "$vkgen" bench ops --quick
n_ops=$("$vkgen" dev --help | sed -n 's/^ops: //p' | tr ',' '\n' | grep -c .)
[ "$(rc)" = 0 ] && ! grep -q '^error' "$tmp/err" \
  && [ "$(grep -v '^device:' "$tmp/out" | grep -cE 'GFLOP/s|GB/s|skipped')" = "$n_ops" ] && [ "$n_ops" -ge 16 ] \
  && ok "bench ops --quick times or skips each of the $n_ops ops and exits 0" \
  || bad "bench ops --quick (exit $(rc), $n_ops ops): $(cat "$tmp/out" "$tmp/err")"
# A case that does not fit in memory (a pretended 200 MiB heap: the 3 x 64 MiB of the largest add) is
# skipped with a note; the others are timed.
VKGEN_FAULT=heap_mib@200 run "$vkgen" bench ops --op binary
[ "$(rc)" = 0 ] && [ "$(grep -v '^device:' "$tmp/out" | grep -c 'GB/s')" = 2 ] && grep -q '^binary .*16777216.* skipped$' "$tmp/out" \
  && grep -q '^  note: out of device memory' "$tmp/out" && ok "bench ops skips a case over the memory with a note" \
  || bad "bench ops over memory (exit $(rc)): $(cat "$tmp/out" "$tmp/err")"
run "$vkgen" bench ops --op embedding --quick --json
[ "$(rc)" = 0 ] && /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; assert len(r)==1 and (r[0].get("gbs",0)>0 or r[0].get("skipped"))' "$tmp/out" \
  && ok "bench ops --json: the embedding case is timed (resized if need be) or skipped, as valid JSON" \
  || bad "bench ops embedding --json: $(cat "$tmp/out" "$tmp/err")"

run "$vkgen"
[ "$(rc)" = 2 ] && grep -q usage "$tmp/err" && ok "no command: usage and exit 2" || bad "no command"

run "$vkgen" --help
[ "$(rc)" = 0 ] && grep -q 'selfcheck' "$tmp/out" && ok "--help lists the commands" || bad "--help"

run "$vkgen" frobnicate
[ "$(rc)" != 0 ] && one_error "unknown command 'frobnicate'" && ok "unknown command" || bad "unknown command: $(cat "$tmp/err")"

run "$vkgen" selfcheck --device no-such-gpu
[ "$(rc)" = 1 ] && one_error "no Vulkan device matches 'no-such-gpu'" && grep -q '^hint: ' "$tmp/err" \
  && ok "unknown device name: one error line and a hint" || bad "unknown device: $(cat "$tmp/err")"

VKGEN_DEVICE=7 run "$vkgen" selfcheck
[ "$(rc)" = 1 ] && one_error "device index 7 is out of range" && ok "VKGEN_DEVICE out of range" || bad "VKGEN_DEVICE: $(cat "$tmp/err")"

VK_ICD_FILENAMES=/nonexistent.json VK_DRIVER_FILES=/nonexistent.json run "$vkgen" devices
[ "$(rc)" = 1 ] && one_error "no Vulkan driver" && grep -q 'mesa-vulkan-drivers' "$tmp/err" \
  && ok "no Vulkan driver: clear error naming the package" || bad "no driver: $(cat "$tmp/err")"

run "$vkgen" bench ops --op nosuch
[ "$(rc)" = 1 ] && one_error "no op named 'nosuch'" && ok "bench unknown op" || bad "bench unknown op: $(cat "$tmp/err")"

run "$vkgen" bench
[ "$(rc)" = 1 ] && one_error "bench: say what to time" && ok "bench without a target" || bad "bench no target: $(cat "$tmp/err")"

run "$vkgen" devices --bogus
[ "$(rc)" = 1 ] && one_error "unknown option '--bogus'" && ok "unknown option" || bad "unknown option: $(cat "$tmp/err")"

# ---- the CLI from the family table ----
run "$vkgen" --help
missing=""
for f in classifier gan vae gpt lstm gru; do grep -q "^  $f " "$tmp/out" || missing+=" $f"; done
[ "$(rc)" = 0 ] && [ -z "$missing" ] && ok "vkgen --help lists every family" || bad "--help lacks:$missing"
run "$vkgen" train gpt --help
grep -q -- "--clip X .*default 1; 0: off" "$tmp/out" && ! grep -q -- "--clip.*default: off" "$tmp/out" \
  && grep -q -- "--layers N .*default 4" "$tmp/out" && ok "train gpt --help states its own defaults" \
  || bad "train gpt --help: $(grep -- --clip "$tmp/out")"
run "$vkgen" train gan --help
grep -q -- "--beta1 X .*default 0.5" "$tmp/out" && ok "train gan --help: DCGAN's beta1" || bad "train gan --help"
# The text families sample with no options at all (200 tokens; gpt past its context of 128).
for f in gpt lstm gru; do
  run "$vkgen" sample $f
  [ "$(rc)" = 0 ] && [ "$(head -c -1 "$tmp/out" | wc -c)" = 200 ] && ok "sample $f with no options: 200 tokens" \
    || bad "sample $f: rc $(rc) $(cat "$tmp/err")"
done
# --opt=value is --opt value; --device cpu picks the CPU device.
run "$vkgen" sample gan -n 4 --seed=7 --device=cpu -o "$tmp/a.png"
ra=$(rc)
run "$vkgen" sample gan -n 4 --seed 7 --device cpu -o "$tmp/b.png"
[ "$ra" = 0 ] && [ "$(rc)" = 0 ] && cmp -s "$tmp/a.png" "$tmp/b.png" && ok "--seed=7 --device=cpu equals --seed 7 --device cpu" \
  || bad "--opt=value: $(cat "$tmp/err")"

run "$vkgen" devices --device cpu --json
[ "$(rc)" = 0 ] && grep -q '"type": "cpu"' "$tmp/out" && [ "$(grep -c '"index"' "$tmp/out")" = 1 ] \
  && ok "devices --device cpu: only the device chosen" || bad "devices --device: $(cat "$tmp/out" "$tmp/err")"
run "$vkgen" bench --help
[ "$(rc)" = 0 ] && grep -q "ops|peak|FAMILY" "$tmp/out" && grep -q "gpt, lstm, gru" "$tmp/out" \
  && ok "bench --help names ops and the families" || bad "bench --help: $(cat "$tmp/out")"

finish
