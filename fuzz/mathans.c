/* Final answers of model solutions (lib/tasks/mathans.h): the bytes as a solution text whose
 * answer is extracted, normalised, read as a number and compared; then split at the first NUL or
 * newline into two answers compared both ways (the comparison must be symmetric). */
#include "fuzz.h"

#include "lib/tasks/mathans.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char ans[256], norm[256];
    gc_ma_extract(text, ans, sizeof ans);
    gc_ma_normalize(ans, norm, sizeof norm);
    double v;
    (void)gc_ma_value(norm, &v);
    gc_ma_normalize(text, norm, sizeof norm); /* the whole text, long or not */
    (void)gc_ma_value(norm, &v);
    char *b = strchr(text, '\n');
    if (b) {
        *b++ = 0;
        if (gc_ma_equal(text, b) != gc_ma_equal(b, text)) abort();
    }
    free(text);
    return 0;
}
