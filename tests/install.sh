#!/bin/bash
# vkgen as a dependency: installs the build into a temporary prefix, then uses only that tree. Checks
# the installed files (program, shared library with its SONAME, static library, header, pkg-config
# file, CMake package, weights, man page, Python module); builds tests/install/consumer.c twice, once
# through pkg-config and once through find_package(vkgen) (imported target vkgen::vkgen), and runs
# both (a small graph, 4 samples of the shipped GAN, errors); runs the Python module's check with
# /usr/bin/python3; and shows that the installed program reads the installed weights, not the source
# tree's, by breaking the installed copy.
# usage: install.sh BUILD_DIR SOURCE_DIR PYTHON_DIR   (PYTHON_DIR relative to the prefix; "" if none)
build="$1" src="$2" pydir="$3"
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1" >&2; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p="$tmp/prefix"

cmake --install "$build" --prefix "$p" >"$tmp/install.log" 2>&1 && ok "cmake --install into a new prefix" \
  || { bad "install: $(tail -5 "$tmp/install.log")"; exit 1; }

# ---- the installed tree ----
soname=$(objdump -p "$p/lib/libvkgen.so" 2>/dev/null | awk '/SONAME/ {print $2}')
[ -x "$p/bin/vkgen" ] && [ -n "$soname" ] && [ -L "$p/lib/libvkgen.so" ] && [ -e "$p/lib/$soname" ] \
  && [ -f "$p/lib/libvkgen.a" ] && [ -f "$p/include/vkgen.h" ] && [ -f "$p/lib/pkgconfig/vkgen.pc" ] \
  && [ -f "$p/lib/cmake/vkgen/vkgenConfig.cmake" ] && [ -f "$p/share/vkgen/assets/gan.safetensors" ] \
  && [ -f "$p/share/man/man1/vkgen.1" ] \
  && ok "bin/vkgen, lib/libvkgen.so ($soname), libvkgen.a, vkgen.h, vkgen.pc, CMake package, weights, man page" \
  || bad "installed files: $(cd "$p" && find . -type f -o -type l | sort | tr '\n' ' ')"
# Only the public API is exported: every defined dynamic symbol starts with vkg_ and none is internal.
others=$(nm -D --defined-only "$p/lib/libvkgen.so" | awk '{print $3}' | grep -v '^vkg_[a-z]' | head -5)
nsyms=$(nm -D --defined-only "$p/lib/libvkgen.so" | grep -c ' vkg_')
[ -z "$others" ] && [ "$nsyms" -gt 100 ] && nm -D --defined-only "$p/lib/libvkgen.so" | grep -q ' vkg_family_run$' \
  && ok "libvkgen.so exports $nsyms symbols, all vkg_*" || bad "exported symbols beyond vkg_*: $others"
version=$(sed -n 's/^#define VKG_VERSION_STRING "\(.*\)"/\1/p' "$p/include/vkgen.h")
"$p/bin/vkgen" --version >"$tmp/version" 2>&1
[ "$(head -1 "$tmp/version")" = "vkgen $version" ] && grep -q '^Vulkan headers [0-9]*\.[0-9]*\.[0-9]*$' "$tmp/version" \
  && ok "vkgen --version: $(tr '\n' ' ' <"$tmp/version")" || bad "--version: $(cat "$tmp/version")"
loaded=$(ldd "$p/bin/vkgen" | awk -v so="$soname" '$1 == so {print $3}')
[ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$(readlink -f "$p/lib/$soname")" ] && ok "the installed program loads the installed library" \
  || bad "program's library: $(ldd "$p/bin/vkgen" | grep vkgen)"
if command -v man >/dev/null; then
  MANWIDTH=100 man -l "$p/share/man/man1/vkgen.1" >"$tmp/man" 2>"$tmp/man.err"
  grep -q '^ *vkgen sample gan$' "$tmp/man" && grep -q -- '--seed S' "$tmp/man" && [ ! -s "$tmp/man.err" ] \
    && ok "man vkgen: every command's help ($(wc -l <"$tmp/man") lines)" || bad "man page: $(head -3 "$tmp/man.err")"
fi

# ---- C consumers: pkg-config, and find_package ----
mkdir -p "$tmp/pc" "$tmp/out"
export PKG_CONFIG_PATH="$p/lib/pkgconfig"
[ "$(pkg-config --modversion vkgen)" = "$version" ] && ok "pkg-config --modversion vkgen: $version" \
  || bad "pkg-config: $(pkg-config --modversion vkgen 2>&1)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/pc/consumer" "$src/tests/install/consumer.c" \
  $(pkg-config --cflags --libs vkgen) -Wl,-rpath,"$(pkg-config --variable=libdir vkgen)" -lm 2>"$tmp/cc.err" \
  && ok "consumer built with pkg-config" || bad "pkg-config build: $(head -5 "$tmp/cc.err")"
"$tmp/pc/consumer" "$p" "$tmp/out" >"$tmp/run.out" 2>"$tmp/run.err" \
  && ok "pkg-config consumer: $(cat "$tmp/run.out")" || bad "pkg-config consumer: $(cat "$tmp/run.err")"
# The static library too (pkg-config --static adds what it needs).
# shellcheck disable=SC2046
cc -std=c11 -o "$tmp/pc/consumer-static" "$src/tests/install/consumer.c" -I"$p/include" "$p/lib/libvkgen.a" \
  $(pkg-config --static --libs-only-l --libs-only-other vkgen | sed 's/-lvkgen//') -lm 2>"$tmp/cc.err" \
  && ! ldd "$tmp/pc/consumer-static" | grep -q libvkgen && ok "consumer linked with libvkgen.a" \
  || bad "static build: $(head -5 "$tmp/cc.err")"
cmake -S "$src/tests/install" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$p" -DCMAKE_BUILD_TYPE=Release >"$tmp/cm.log" 2>&1 \
  && cmake --build "$tmp/cm" >>"$tmp/cm.log" 2>&1 && ok "consumer built with find_package(vkgen), vkgen::vkgen" \
  || bad "find_package build: $(grep -i -m5 error "$tmp/cm.log")"
"$tmp/cm/consumer" "$p" "$tmp/out" >"$tmp/run.out" 2>"$tmp/run.err" \
  && ok "find_package consumer: $(cat "$tmp/run.out")" || bad "find_package consumer: $(cat "$tmp/run.err")"

# ---- Python ----
if [ -n "$pydir" ]; then
  PYTHONPATH="$p/$pydir" /usr/bin/python3 "$src/tests/install/check.py" "$p" "$tmp/out" >"$tmp/py.out" 2>"$tmp/py.err" \
    && ok "python: $(tail -1 "$tmp/py.out")" || bad "python: $(tail -20 "$tmp/py.err")"
else
  echo "skip python: the build found no Python 3 with numpy"
fi

# ---- the installed program reads the installed weights ----
"$p/bin/vkgen" sample gan -n 4 -o "$tmp/out/cli.png" >/dev/null 2>"$tmp/err" && [ -s "$tmp/out/cli.png" ] \
  && ok "installed vkgen samples the default GAN" || bad "installed vkgen sample gan: $(cat "$tmp/err")"
head -c 100 "$src/assets/gan.safetensors" >"$p/share/vkgen/assets/gan.safetensors"
"$p/bin/vkgen" sample gan -n 4 -o "$tmp/out/broken.png" >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -q "^error: .*$p/share/vkgen/assets/gan.safetensors" "$tmp/err" && [ ! -e "$tmp/out/broken.png" ] \
  && ok "with the installed gan.safetensors broken, it fails naming that file (the source tree's is not used)" \
  || bad "broken installed weights: $(cat "$tmp/err")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
