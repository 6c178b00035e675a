# Sourced by the CLI tests (tests/cli_*.sh, whose $1 is the vkgen binary): pass/fail counters with ok
# and bad, a temporary directory removed at exit, run (stdout, stderr and exit code into $tmp), rc,
# one_error, PNG sizes, the python with Debian's numpy and torch, and finish (the summary and the exit
# code).
vkgen="$1"
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
[ -x $py ] || py=python3

run() { "$@" >"$tmp/out" 2>"$tmp/err"; echo $? >"$tmp/rc"; }
rc() { cat "$tmp/rc"; }
# Exactly one "error:" line (mentioning $1), optionally followed by "hint:" lines.
one_error() {
  [ "$(grep -c '^error: ' "$tmp/err")" = 1 ] && [ "$(grep -vc '^hint: ' "$tmp/err")" = 1 ] && grep -q -- "$1" "$tmp/err"
}
# Width and height of a PNG; the pixel size of a grid of n tiles of s pixels with 2-pixel borders.
png_size() { $py -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); assert d[:8]==b"\x89PNG\r\n\x1a\n"; print(*struct.unpack(">II", d[16:24]))' "$1" 2>/dev/null; }
side() { echo $(($1 * $2 + ($1 + 1) * 2)); }

finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" = 0 ]
}
