/* Judge replies: the bytes as an endpoint's chat-completions reply (gc_judge_reply_content), its
 * answer's verdict line (gc_judge_parse), and the bytes themselves as an answer. */
#include "fuzz.h"

#include "lib/judge/judge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *content = gc_judge_reply_content(text);
    if (content) (void)gc_judge_parse(content);
    free(content);
    (void)gc_judge_parse(text);
    free(text);
    return 0;
}
