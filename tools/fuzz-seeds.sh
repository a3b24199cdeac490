#!/usr/bin/env bash
# Seed corpora for the fuzz harnesses, from real files: the experiment files; a smoke run's
# checkpoints, reward head, JSONL stage outputs, DONE markers and results.json (made with
# build/replicate); stories260K's llama2.c checkpoint and tokenizer and lines of the real data
# sets (GCRM_DATA, default ../shared/data; skipped with a note when absent).
#   tools/fuzz-seeds.sh OUTDIR
set -euo pipefail
out=$1
data=${GCRM_DATA:-../shared/data}
mkdir -p "$out"/{config,ckpt,tokenizer,rm_head,jsonl,results,judge,safetensors}
cp experiments/*.json experiments/base/*.json experiments/pilots/*.json "$out/config/"
[ -x build/replicate ] || make -j2 build/replicate >&2
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
build/replicate run experiments/fig2.json --scale smoke --seeds 1 --root "$run" >/dev/null 2>&1
i=0
for f in "$run"/cache/*/*; do
    i=$((i + 1))
    case "$f" in
        *.ckpt) cp "$f" "$out/ckpt/smoke-$i" ;;
        *.head) cp "$f" "$out/rm_head/smoke-$i" ;;
        *.jsonl) head -c 60000 "$f" > "$out/jsonl/smoke-$i" ;;
        */DONE | *.json) cp "$f" "$out/results/smoke-$i" ;;
    esac
done
cp "$run"/fig2/smoke/results.json "$out/results/fig2-results.json"
cp tests/fixtures/torch_tiny_*.bin "$out/ckpt/"
# Hugging Face files: the tiny model's safetensors (bf16) and config.json
cp tests/fixtures/hf_tiny/model.safetensors "$out/safetensors/tiny.safetensors"
cp tests/fixtures/hf_tiny/config.json "$out/safetensors/config.json"
# a HelpSteer file's lines (the data set is not in ../shared/data; its format, two items)
printf '%s\n' '{"prompt": "What is rain?", "response": "Water falling from clouds.", "helpfulness": 3, "correctness": 4, "coherence": 4, "complexity": 1, "verbosity": 1}' \
    '{"prompt": "What is rain?", "response": "I do not know.", "helpfulness": 0, "correctness": 2, "coherence": 3, "complexity": 0, "verbosity": 0}' \
    > "$out/jsonl/helpsteer.jsonl"
# judge replies as endpoints send them (their answers end with a verdict line)
printf '%s' '{"id": "x", "choices": [{"index": 0, "message": {"role": "assistant", "content": "A is clearer.\nVerdict: A"}, "finish_reason": "stop"}]}' > "$out/judge/reply-a.json"
printf '%s' '{"choices": [{"message": {"content": "Both are fine.\nverdict: tie."}}]}' > "$out/judge/reply-tie.json"
printf '%s' '{"error": {"message": "rate limited", "type": "requests"}}' > "$out/judge/error.json"
if [ -d "$data" ]; then
    cp "$data/models/stories260K/tok512.bin" "$out/tokenizer/" 2>/dev/null || true
    cp "$data/models/stories260K/stories260K.bin" "$out/ckpt/" 2>/dev/null || true
    for f in "$data"/*/test.jsonl "$data"/qwen-rm-maj/*.jsonl; do
        [ -f "$f" ] && head -n 20 "$f" > "$out/jsonl/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    hh="$data/hh-rlhf/harmless-base-test.jsonl.gz"
    if [ -f "$hh" ]; then
        # (zcat stops on a closed pipe once head has its lines: not an error)
        { zcat "$hh" || true; } | head -n 10 > "$out/jsonl/hh-plain.jsonl"
        gzip -c "$out/jsonl/hh-plain.jsonl" > "$out/jsonl/hh-gzip.jsonl.gz"
    fi
else
    echo "fuzz-seeds: no data at $data: the tokenizer and data-set corpora start empty" >&2
fi
echo "fuzz-seeds: $(find "$out" -type f | wc -l) seed files in $out" >&2
