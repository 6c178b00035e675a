#!/bin/bash
# vkgen profile: per-dispatch GPU times of a training step and of sampling (tiny models). Checks that the
# groups' counts add up to the dispatches of the step, their times to the dispatch total, and that
# total to (at most) the step's GPU span and roughly the step measured without profiling; the shares
# and the "between dispatches" row close the table; --json parses; --trace is trace-event JSON with one
# complete event per dispatch.
. "$(dirname "$0")/lib_cli.sh"

# Checks one --json profile (file $1) and, if $2 is given, the trace file $2 written by the same run.
check_json() {
  $py - "$@" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
units = p["units"]
g = p["groups"]
assert p["timestamps"], "lavapipe has timestamps"
assert p["dispatches"] > 0 and p["submissions"] > 0 and p["barriers"] >= 0, p
count = sum(x["count"] for x in g)
assert abs(count - p["dispatches"]) < 1e-2, (count, p["dispatches"])
total = sum(x["total_ms"] for x in g)
assert abs(total - p["dispatch_ms"]) <= 1e-3 * max(1.0, total), (total, p["dispatch_ms"])
# Dispatches run one at a time inside the run's span: their sum fits in it and is most of it.
assert p["dispatch_ms"] <= p["gpu_ms"] * 1.001 + 1e-6, (p["dispatch_ms"], p["gpu_ms"])
assert p["dispatch_ms"] >= 0.2 * p["gpu_ms"], (p["dispatch_ms"], p["gpu_ms"])
# The profiled step is roughly the step measured without profiling (a shared, noisy machine: a wide band).
assert p["measured_ms"] / 8 <= p["gpu_ms"] <= p["measured_ms"] * 8, (p["gpu_ms"], p["measured_ms"])
share = sum(x["share"] for x in g)
assert abs(share - p["dispatch_ms"] / p["gpu_ms"]) < 1e-3, share
for x in g:
    assert x["count"] > 0 and x["total_ms"] >= 0 and x["bytes"] > 0, x
    assert abs(x["mean_ms"] * x["count"] - x["total_ms"]) <= 1e-3 * max(1.0, x["total_ms"]), x
    if x["flops"] > 0 and x["total_ms"] > 0:
        assert abs(x["gflops"] - x["flops"] / (x["total_ms"] * 1e6)) <= 1e-3 * max(1.0, x["gflops"]), x
if len(sys.argv) > 2:
    t = json.load(open(sys.argv[2]))
    ev = t["traceEvents"]
    want = round(p["dispatches"] * units)
    assert len(ev) == want, (len(ev), want)
    for e in ev:
        assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0 and isinstance(e["name"], str), e
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int), e
    # The events of one thread (graph) do not overlap: dispatches ran one at a time.
    by = {}
    for e in ev:
        by.setdefault(e["tid"], []).append(e)
    for es in by.values():
        es.sort(key=lambda e: e["ts"])
        for a, b in zip(es, es[1:]):
            assert a["ts"] + a["dur"] <= b["ts"] + 1e-3, (a, b)
    dur = sum(e["dur"] for e in ev) / 1e3 / units
    assert abs(dur - p["dispatch_ms"]) <= 1e-3 * max(1.0, dur) + 1e-3, (dur, p["dispatch_ms"])
print("units %g, %.2f dispatches, %.2f barriers, %.3f submissions per unit; %.3f of %.3f ms in dispatches"
      % (units, p["dispatches"], p["barriers"], p["submissions"], p["dispatch_ms"], p["gpu_ms"]))
PY
}

gpt=(--layers 2 --dim 32 --heads 2 --context 32)
rnn=(--layers 1 --dim 24 --context 16)
gan=(--width 4 --z 8 --batch 4)
vae=(--width 4 --z 4 --batch 4)

# ---- JSON and trace of each family and mode ----
cases=(
  "gpt sample ${gpt[*]} --runs 2"
  "gpt train ${gpt[*]} --batch 2 --runs 1"
  "lstm sample ${rnn[*]} --runs 2 --unroll 4"
  "gru train ${rnn[*]} --batch 2 --runs 1"
  "gan train ${gan[*]} --runs 1"
  "vae sample ${vae[*]} --runs 1"
  "gan sample ${gan[*]} --runs 1"
)
for c in "${cases[@]}"; do
  # shellcheck disable=SC2086
  if "$vkgen" profile $c --json --trace "$tmp/trace.json" >"$tmp/p.json" 2>"$tmp/err" &&
    out=$(check_json "$tmp/p.json" "$tmp/trace.json" 2>&1); then
    ok "profile $c: $out"
  else
    bad "profile $c: $(cat "$tmp/err") $out"
  fi
  rm -f "$tmp/trace.json"
done

# The GPT decoder's dispatches per token are those of its recorded graph: K steps per submission.
"$vkgen" profile gpt sample "${gpt[@]}" --runs 1 --unroll 4 --json >"$tmp/a.json" 2>"$tmp/err" &&
  "$vkgen" profile gpt sample "${gpt[@]}" --runs 1 --unroll 8 --json >"$tmp/b.json" 2>>"$tmp/err"
if $py - "$tmp/a.json" "$tmp/b.json" <<'PY'; then
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert abs(a["dispatches"] - b["dispatches"]) < 1e-6, (a["dispatches"], b["dispatches"])
assert abs(a["submissions"] - 0.25) < 1e-6 and abs(b["submissions"] - 0.125) < 1e-6, (a["submissions"], b["submissions"])
PY
  ok "gpt decoding: the same dispatches per token at unroll 4 and 8, one submission per unroll"
else
  bad "gpt decoding dispatch counts: $(cat "$tmp/err")"
fi

# ---- the table: rows add up to the GPU time line ----
if "$vkgen" profile gan "${gan[@]}" --runs 1 >"$tmp/t.txt" 2>"$tmp/err" && $py - "$tmp/t.txt" <<'PY'; then
import re, sys
lines = open(sys.argv[1]).read().splitlines()
gpu = float(re.search(r"GPU time per training step: ([0-9.]+) ms", "\n".join(lines)).group(1))
disp = float(re.search(r"of which dispatches ([0-9.]+) ms", "\n".join(lines)).group(1))
head = next(i for i, l in enumerate(lines) if l.startswith("op "))
rows = lines[head + 1:]
between = [l for l in rows if l.startswith("(between dispatches)")]
assert len(between) == 1
groups = [l for l in rows if not l.startswith("(between")]
total = sum(float(l[48:].split()[1]) for l in groups)
gap = float(between[0].split()[4])
assert abs(total - disp) <= 0.002 * len(groups) + 1e-3, (total, disp)
assert abs(total + gap - gpu) <= 0.002 * (len(groups) + 1) + 1e-3, (total, gap, gpu)
shares = sum(float(l[48:].split()[3].rstrip("%")) for l in groups) + float(between[0].split()[5].rstrip("%"))
assert abs(shares - 100) < 0.1 * (len(groups) + 1), shares
PY
  ok "gan table: the rows and the gap add up to the step's GPU time"
else
  bad "gan table: $(cat "$tmp/err" "$tmp/t.txt")"
fi

# ---- errors: one line, no trace file ----
expect_error() {
  local what="$1"
  shift
  "$vkgen" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ $rc = 1 ] && [ "$(grep -c '^error: ' "$tmp/err")" = 1 ] && [ ! -s "$tmp/out" ] && [ ! -e "$tmp/no/t.json" ] &&
    ok "$what: $(grep '^error: ' "$tmp/err")" || bad "$what: rc $rc: $(cat "$tmp/err")"
}
expect_error "unknown family" profile nosuch
expect_error "bad mode" profile gpt decode
expect_error "trace into a missing directory" profile gpt sample "${gpt[@]}" --trace "$tmp/no/t.json"
expect_error "--runs 0" profile gpt --runs 0

finish
