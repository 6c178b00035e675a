#!/bin/bash
# Shader hot reload through the CLI, on a temporary copy of shaders/: 'vkgen dev OP --once' checks the
# sources in the watched directory (an edit shows as a failing case; a broken file falls back to the
# built-in shader with file:line); the interactive 'vkgen dev' loop reloads on every save, keeps the
# old code through a syntax error, recovers when it is fixed and exits cleanly on Ctrl-C; training
# with a reload in the middle gives the same losses as without; bad --watch use is one clear error.
. "$(dirname "$0")/lib_cli.sh"
src="$(cd "$(dirname "$0")/../shaders" && pwd)"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/sh"
cp "$src"/*.comp "$src"/*.glsl "$tmp/sh/"
cp "$tmp/sh/unary.comp" "$tmp/unary.orig"

# Waits up to $2 seconds for file $1 to match the extended regex $3 at least $4 times (default 1).
wait_for() {
  local i n
  for ((i = 0; i < $2 * 10; i++)); do
    n=$(grep -cE "$3" "$1" 2>/dev/null)
    [ "${n:-0}" -ge "${4:-1}" ] && return 0
    sleep 0.1
  done
  return 1
}
relu_line=$(grep -n 'r = max(v, 0.0);' "$tmp/sh/unary.comp" | cut -d: -f1)

# ---- --once ----
run "$vkgen" dev unary --watch "$tmp/sh" --once
if grep -q 'built without shader hot reload' "$tmp/err"; then
  echo "skipped: $(head -1 "$tmp/err")"
  exit 0
fi
[ "$(rc)" = 0 ] && grep -q 'all 17 cases match' "$tmp/out" && ok "dev unary --once passes on the unedited sources" \
  || bad "dev unary --once: $(cat "$tmp/out" "$tmp/err")"

sed -i 's/r = max(v, 0.0);/r = 2.0 * v;/' "$tmp/sh/unary.comp"
run "$vkgen" dev unary --watch "$tmp/sh" --once
[ "$(rc)" = 1 ] && grep -q '^  relu .*FAIL' "$tmp/out" && grep -q '^  gelu .* ok ' "$tmp/out" \
  && grep -q '1 of 17 cases FAILED' "$tmp/out" && ok "an edited relu (2x) shows as one failing case" \
  || bad "edited relu: $(cat "$tmp/out" "$tmp/err")"

sed -i "${relu_line}s/r = 2.0 \* v;/r = 2.0 * v; oops/" "$tmp/sh/unary.comp"
run "$vkgen" dev unary --watch "$tmp/sh" --once
[ "$(rc)" = 0 ] && grep -q "unary.comp:$relu_line: error: 'oops'" "$tmp/err" && grep -q 'using the built-in shader' "$tmp/err" \
  && ok "a broken file is reported at unary.comp:$relu_line and the built-in shader runs" \
  || bad "broken file: $(cat "$tmp/out" "$tmp/err")"
cp "$tmp/unary.orig" "$tmp/sh/unary.comp"

# ---- the interactive loop ----
"$vkgen" dev unary --watch "$tmp/sh" >"$tmp/loop.out" 2>"$tmp/loop.err" &
pid=$!
if wait_for "$tmp/loop.out" 120 'all 17 cases match'; then
  sed -i 's/r = max(v, 0.0);/r = 2.0 * v;/' "$tmp/sh/unary.comp"
  wait_for "$tmp/loop.out" 60 '1 of 17 cases FAILED' \
    && grep -qE 'reloaded .*/unary\.comp \([0-9]+ pipelines?\) in [0-9]+ ms' "$tmp/loop.err" \
    && ok "saving an edit re-runs the cases on the new shader" || bad "loop edit: $(cat "$tmp/loop.out" "$tmp/loop.err")"
  sed -i "${relu_line}s/r = 2.0 \* v;/r = 2.0 * v; oops/" "$tmp/sh/unary.comp"
  wait_for "$tmp/loop.err" 60 "unary.comp:$relu_line: error: 'oops'" \
    && wait_for "$tmp/loop.err" 10 'not reloaded; [0-9]+ pipelines? keeps? the previous code' \
    && ok "a syntax error in the loop is shown with file:line and the old code kept" \
    || bad "loop syntax error: $(cat "$tmp/loop.err")"
  cp "$tmp/unary.orig" "$tmp/sh/unary.comp"
  wait_for "$tmp/loop.out" 60 'all 17 cases match' 2 && ok "fixing the file recovers without a restart" \
    || bad "loop recovery: $(cat "$tmp/loop.out" "$tmp/loop.err")"
  # An edit that adds a binding is refused; the loop keeps running the old code.
  sed -i 's/^void main() {/layout(std430, binding = 2) buffer E { float e[]; };\nvoid main() {/; s/r = max(v, 0.0);/r = max(v, 0.0) + e[0];/' \
    "$tmp/sh/unary.comp"
  wait_for "$tmp/loop.err" 60 'interface differs from the built-in shader: binding 2 is new' \
    && ok "an interface change is refused with what differs" || bad "loop interface: $(cat "$tmp/loop.err")"
  cp "$tmp/unary.orig" "$tmp/sh/unary.comp"
  wait_for "$tmp/loop.out" 60 'all 17 cases match' 3 || bad "recovery after the interface change"
else
  bad "dev loop never finished its first check: $(cat "$tmp/loop.out" "$tmp/loop.err")"
fi
kill -INT "$pid"
wait "$pid"
code=$?
pid=
[ "$code" = 0 ] && ! grep -q 'validation' "$tmp/loop.err" && ok "Ctrl-C ends the loop cleanly (exit 0, validation silent)" \
  || bad "loop exit $code: $(tail -5 "$tmp/loop.err")"

# ---- training: a reload mid-run (a comment added to common.glsl) changes no loss ----
common=(--batch 16 --limit 512 --quiet --seed 3 --steps 18 --log-every 3)
losses() { grep -o '"loss": [^,]*' "$1"; }
"$vkgen" train classifier "${common[@]}" --out "$tmp/plain" 2>"$tmp/err" || bad "train without --watch: $(cat "$tmp/err")"
"$vkgen" train classifier "${common[@]}" --out "$tmp/watched" --watch "$tmp/sh" 2>"$tmp/train.err" &
pid=$!
if wait_for "$tmp/watched/metrics.jsonl" 120 '"step"'; then
  echo "// an edit that changes nothing" >>"$tmp/sh/common.glsl"
fi
wait "$pid"
code=$?
pid=
[ "$code" = 0 ] && grep -qE 'reloaded .*/matmul(_reg)?\.comp \([0-9]+ pipelines?\)' "$tmp/train.err" \
  && [ -n "$(losses "$tmp/plain/metrics.jsonl")" ] \
  && [ "$(losses "$tmp/plain/metrics.jsonl")" = "$(losses "$tmp/watched/metrics.jsonl")" ] \
  && ok "training reloads every shader including common.glsl mid-run, same losses" \
  || bad "train --watch (exit $code): $(cat "$tmp/train.err"; diff <(losses "$tmp/plain/metrics.jsonl") <(losses "$tmp/watched/metrics.jsonl"))"

# ---- bench and errors ----
run "$vkgen" bench ops --op unary --quick --watch "$tmp/sh"
[ "$(rc)" = 0 ] && grep -q 'watching' "$tmp/err" && grep -q 'GB/s' "$tmp/out" && ok "bench ops takes --watch" \
  || bad "bench --watch: $(cat "$tmp/err")"

run "$vkgen" dev unary --watch "$tmp/nonexistent" --once
[ "$(rc)" = 1 ] && grep -q "^error: cannot watch shader directory '$tmp/nonexistent'" "$tmp/err" \
  && ok "a missing --watch directory is one clear error" || bad "missing dir: $(cat "$tmp/err")"

run "$vkgen" dev nosuchop --once
[ "$(rc)" = 1 ] && grep -q "^error: dev: no op named 'nosuchop'" "$tmp/err" && grep -q '^hint: ops:' "$tmp/err" \
  && ok "an unknown op names the ones there are" || bad "unknown op: $(cat "$tmp/err")"

finish
