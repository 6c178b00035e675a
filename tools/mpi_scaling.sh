#!/bin/bash
# Training steps/s of one family at 1 and N ranks (mpirun), with the same global batch (strong
# scaling), and the efficiency: speedup / N.
#
#   tools/mpi_scaling.sh VKGEN FAMILY [RANKS] [-- TRAIN OPTIONS...]
#   tools/mpi_scaling.sh build/vkgen vae 2 -- --batch 64 --limit 2048
#
# Each rank count trains twice, for S1 and S2 steps (VKGEN_SCALING_STEPS="S1 S2", default "4 24");
# steps/s is (S2 - S1) / (time(S2) - time(S1)), so start-up, pipeline creation and the final
# evaluation, the same in both runs, cancel. Extra mpirun options: MPIRUN_OPTS (default
# "--oversubscribe --allow-run-as-root"; add e.g. "--bind-to none" on a machine with few cores).
set -euo pipefail
vkgen=$(realpath "$1") family=$2 ranks=${3:-2}
shift $(($# >= 3 ? 3 : $#))
[ "${1:-}" = -- ] && shift
read -r s1 s2 <<<"${VKGEN_SCALING_STEPS:-4 24}"
mpirun_opts=(${MPIRUN_OPTS:---oversubscribe --allow-run-as-root})
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Seconds of one training run of $2 steps with $1 ranks.
run() {
  local n=$1 steps=$2 t0 t1 cmd=("$vkgen")
  [ "$n" -gt 1 ] && cmd=(mpirun "${mpirun_opts[@]}" -np "$n" "$vkgen")
  rm -rf "$tmp/out"
  t0=$(date +%s.%N)
  "${cmd[@]}" train "$family" --steps "$steps" --log-every "$steps" --quiet --out "$tmp/out" "${@:3}" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}

rate() { # steps/s with $1 ranks
  local a b
  a=$(run "$1" "$s1" "${@:2}") && b=$(run "$1" "$s2" "${@:2}") || exit 1
  awk -v a="$a" -v b="$b" -v s1="$s1" -v s2="$s2" 'BEGIN { print (s2 - s1) / (b - a) }'
}

r1=$(rate 1 "$@") && rn=$(rate "$ranks" "$@") || exit 1
printf '%s: %d rank:  %.3f steps/s\n' "$family" 1 "$r1"
printf '%s: %d ranks: %.3f steps/s\n' "$family" "$ranks" "$rn"
awk -v f="$family" -v a="$r1" -v b="$rn" -v n="$ranks" \
  'BEGIN { printf "%s: speedup %.2f, efficiency %.0f%% (same global batch)\n", f, b / a, 100 * b / a / n }'
