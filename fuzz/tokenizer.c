/* Tokenizers (llama2.c tok<N>.bin): the bytes as a tokenizer file of 512 pieces (stories260K's),
 * then, when it loads, an encode and the pieces of the ids back. */
#include "fuzz.h"

#include "lib/model/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("tok", data, size);
    gc_tokenizer t;
    if (gc_tokenizer_load(&t, path, 512) == GC_OK) {
        static const char text[] = "Once upon a time, a cat sat on <0x0A> the mat.";
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
    return 0;
}
