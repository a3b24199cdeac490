#include "chartok.h"

gc_status gc_chartok_encode(const char *text, int32_t *out, int cap, int *n) {
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (!(*p == '\n' || (*p >= 32 && *p < 127)))
            return gc_fail(GC_ERR_ARG, "chartok: byte 0x%02x is outside the vocabulary", *p);
        if (*n >= cap) return gc_fail(GC_ERR_ARG, "chartok: text longer than %d tokens", cap);
        out[(*n)++] = *p;
    }
    return GC_OK;
}

void gc_chartok_decode(const int32_t *ids, int n, char *buf, size_t cap) {
    size_t at = 0;
    for (int i = 0; i < n && at + 1 < cap; i++) {
        if (ids[i] == GC_CHAR_EOS || ids[i] == GC_CHAR_PAD) break;
        if (ids[i] == GC_CHAR_BOS) continue;
        buf[at++] = (char)ids[i];
    }
    if (cap) buf[at] = 0;
}

const uint8_t *gc_chartok_allowed(void) {
    static uint8_t mask[GC_CHAR_VOCAB];
    if (!mask[GC_CHAR_EOS]) {
        for (int i = 0; i < GC_CHAR_VOCAB; i++)
            mask[i] = i == '\n' || (i >= 32 && i < 127);
        mask[GC_CHAR_EOS] = 1;
    }
    return mask;
}
