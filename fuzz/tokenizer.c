/* Tokenizers: the bytes as a llama2.c tokenizer file of 512 pieces (stories260K's), then, when it
 * loads, an encode and the pieces of the ids back; and the bytes as a Hugging Face
 * tokenizer.json, then, when it loads, an encode (with and without special tokens) and a decode
 * of the ids. */
#include "fuzz.h"

#include "lib/model/hf_tokenizer.h"
#include "lib/model/tokenizer.h"

static const char text[] =
    "Once upon a time, a cat sat on <0x0A> the mat. It's 2024!\n\t caf\xc3\xa9 "
    "<s> \xf0\x9f\x98\x80";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("tok", data, size);
    gc_tokenizer t;
    if (gc_tokenizer_load(&t, path, 512) == GC_OK) {
        int32_t ids[sizeof text + 3];
        int n = 0;
        if (gc_tokenizer_encode(&t, text, 1, 1, ids, &n) == GC_OK)
            for (int i = 1; i < n; i++) {
                char b[2];
                size_t len;
                (void)gc_tokenizer_piece(&t, ids[i - 1], ids[i], b, &len);
            }
        gc_tokenizer_free(&t);
    }
    gc_hf_tok *h;
    if (gc_hf_tok_load(path, &h) == GC_OK) {
        for (int special = 0; special < 2; special++) {
            int32_t *ids;
            int n;
            char *back;
            if (gc_hf_tok_encode(h, text, special, &ids, &n) != GC_OK) continue;
            if (gc_hf_tok_decode(h, ids, n, special, &back) == GC_OK) free(back);
            free(ids);
        }
        gc_hf_tok_free(h);
    }
    return 0;
}
