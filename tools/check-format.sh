#!/bin/sh
# Fails (exit 1) if any C source or header differs from what clang-format makes of it with the
# checked-in .clang-format; lists those files. `tools/check-format.sh --fix` rewrites them instead.
cd "$(dirname "$0")/.." || exit 1
command -v clang-format >/dev/null || { echo "error: clang-format is not installed (Debian package clang-format)" >&2; exit 1; }
bad=0
for f in $(git ls-files '*.c' '*.h'); do
  if [ "${1:-}" = "--fix" ]; then
    clang-format -i "$f"
  elif ! clang-format "$f" | cmp -s - "$f"; then
    echo "not formatted: $f" >&2
    bad=1
  fi
done
[ $bad = 0 ] || echo "hint: run tools/check-format.sh --fix" >&2
exit $bad
