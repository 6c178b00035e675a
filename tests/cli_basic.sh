#!/bin/bash
# The command-line tool end to end: listing devices, the self-check, bench output, and one clear
# error line (plus a hint) with a non-zero exit for each kind of bad input.
vkgen="$1"
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Runs the command, keeping stdout, stderr and the exit code.
run() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $? >"$tmp/rc"; }
rc() { cat "$tmp/rc"; }
# The error output is exactly one "error:" line, optionally followed by one "hint:" line.
one_error() {
  local n_err n_lines
  n_err=$(grep -c '^error: ' "$tmp/err")
  n_lines=$(grep -vc '^hint: ' "$tmp/err")
  [ "$n_err" = 1 ] && [ "$n_lines" = 1 ] && grep -q "$1" "$tmp/err"
}

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

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
