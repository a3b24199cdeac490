/* Chat templates (lib/model/chat_template.h): the bytes as a template, rendered over a fixed
 * three-message conversation with and without the generation prompt; and as a
 * tokenizer_config.json whose template is read and rendered. */
#include "fuzz.h"

#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "lib/model/chat_template.h"

static const char CONV[] =
    "[{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", "
    "\"content\": \" Hi \\u00fc \", \"tag\": null}, {\"role\": \"assistant\", "
    "\"content\": \"ok\"}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    cJSON *msgs = cJSON_Parse(CONV);
    for (int gen = 0; gen < 2; gen++) {
        gc_chat_vars v = {"<s>", "</s>", gen, NULL};
        char *out = NULL;
        if (gc_chat_render("fuzz", text, msgs, &v, &out) == GC_OK && !out) abort();
        free(out);
    }
    char path[512]; /* a scratch directory for the file */
    snprintf(path, sizeof path, "%s.d", fuzz_file("chat", data, 0));
    mkdir(path, 0755);
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", path);
    fuzz_write(cfg, data, size);
    char *t, *b, *e;
    if (gc_chat_template_load(path, &t, &b, &e) == GC_OK) {
        gc_chat_vars v = {b, e, 1, NULL};
        char *out = NULL;
        (void)gc_chat_render("fuzz-config", t, msgs, &v, &out);
        free(out), free(t), free(b), free(e);
    }
    cJSON_Delete(msgs);
    free(text);
    return 0;
}
