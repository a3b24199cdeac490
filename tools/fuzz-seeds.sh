#!/usr/bin/env bash
# Seed corpora for the fuzz harnesses, from real files: the experiment files; a smoke run's
# checkpoints, reward head, JSONL stage outputs, DONE markers and results.json (made with
# build/replicate); stories260K's llama2.c checkpoint and tokenizer and lines of the real data
# sets (GCRM_DATA, default ../shared/data; skipped with a note when absent).
#   tools/fuzz-seeds.sh OUTDIR
set -euo pipefail
out=$1
data=${GCRM_DATA:-../shared/data}
mkdir -p "$out"/{config,ckpt,tokenizer,rm_head,jsonl,results,judge,safetensors,mathans,chat_template}
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
# a small tokenizer.json of each family's shape (the real ones are megabytes, past -max_len)
printf '%s' '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<0x41>": 3, "<unk>": 4}, "merges": ["a b"], "byte_fallback": true, "unk_token": "<unk>", "fuse_unk": true}, "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}, "added_tokens": [{"id": 5, "content": "<s>", "special": true}], "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}}, "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}}' > "$out/tokenizer/spm.json"
printf '%s' '{"model": {"type": "BPE", "vocab": {"H": 0, "i": 1, "Hi": 2, "\u0120": 3}, "merges": [["H", "i"]], "ignore_merges": true}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}, "decoder": {"type": "ByteLevel"}}' > "$out/tokenizer/bytelevel.json"
# chat templates: the fixture's (Llama 3's as shipped, Llama-2-chat and Mistral styles, every
# construct) and a tokenizer_config.json holding one
/usr/bin/python3 - tests/fixtures/chat_templates.json "$out/chat_template" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
for name, text in d["templates"].items():
    open("%s/%s" % (sys.argv[2], name), "w").write(text)
json.dump({"chat_template": d["templates"]["llama3"], "bos_token": {"content": "<s>"},
           "eos_token": "</s>"}, open("%s/tokenizer_config.json" % sys.argv[2], "w"))
PY
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
    # answers as solutions end and as references are written: pairs of answers, one per line
    if [ -f "$data/math/math500.jsonl" ]; then
        /usr/bin/python3 - "$data/math/math500.jsonl" "$out/mathans" <<'PY' || true
import json, sys
for i, line in enumerate(open(sys.argv[1]).readlines()[:40]):
    d = json.loads(line)
    with open("%s/math500-%d" % (sys.argv[2], i), "w") as f:
        f.write(d["solution"][-300:] + "\n" + d["answer"])
PY
    fi
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
