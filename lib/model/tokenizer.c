#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

static const gc_tokenizer *g_sort_tok; /* qsort has no context argument */

static int cmp_piece(const char *a, size_t la, const char *b, size_t lb) {
    size_t n = la < lb ? la : lb;
    int c = memcmp(a, b, n);
    return c ? c : (la < lb ? -1 : la > lb);
}

static int cmp_ids(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    int c = cmp_piece(g_sort_tok->vocab[a], (size_t)g_sort_tok->lens[a], g_sort_tok->vocab[b],
                      (size_t)g_sort_tok->lens[b]);
    return c ? c : (a < b ? -1 : a > b);
}

void gc_tokenizer_free(gc_tokenizer *t) {
    if (t->vocab)
        for (int i = 0; i < t->vocab_size; i++)
            free(t->vocab[i]);
    free(t->vocab);
    free(t->lens);
    free(t->scores);
    free(t->sorted);
    memset(t, 0, sizeof *t);
}

gc_status gc_tokenizer_load(gc_tokenizer *t, const char *path, int32_t vocab_size) {
    memset(t, 0, sizeof *t);
    if (vocab_size <= 0) return gc_fail(GC_ERR_ARG, "%s: bad vocabulary size %d", path, vocab_size);
    char *data;
    size_t size;
    GC_TRY(gc_read_file(path, &data, &size));
    gc_status s = GC_OK;
    t->vocab_size = vocab_size;
    t->vocab = gc_calloc((size_t)vocab_size, sizeof(char *));
    t->lens = gc_calloc((size_t)vocab_size, sizeof(int32_t));
    t->scores = gc_calloc((size_t)vocab_size, sizeof(float));
    t->sorted = gc_calloc((size_t)vocab_size, sizeof(int32_t));
    if (!t->vocab || !t->lens || !t->scores || !t->sorted) {
        s = GC_ERR_NOMEM;
        goto fail;
    }
    size_t at = 0;
    if (size < 4) {
        s = gc_fail(GC_ERR_FORMAT, "%s: too short for a tokenizer header", path);
        goto fail;
    }
    memcpy(&t->max_token_length, data, 4);
    at = 4;
    if (t->max_token_length <= 0 || t->max_token_length > 4096) {
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: implausible max_token_length %d (not a llama2.c tokenizer?)", path,
                    t->max_token_length);
        goto fail;
    }
    for (int i = 0; i < vocab_size; i++) {
        int32_t len;
        if (at + 8 > size) {
            s = gc_fail(GC_ERR_FORMAT, "%s: truncated at token %d of %d", path, i, vocab_size);
            goto fail;
        }
        memcpy(&t->scores[i], data + at, 4);
        memcpy(&len, data + at + 4, 4);
        at += 8;
        if (len < 0 || len > t->max_token_length || at + (size_t)len > size) {
            s = gc_fail(GC_ERR_FORMAT, "%s: token %d has bad length %d (file truncated or corrupt)",
                        path, i, len);
            goto fail;
        }
        t->vocab[i] = gc_malloc((size_t)len + 1);
        if (!t->vocab[i]) {
            s = GC_ERR_NOMEM;
            goto fail;
        }
        memcpy(t->vocab[i], data + at, (size_t)len);
        t->vocab[i][len] = 0;
        t->lens[i] = len;
        at += (size_t)len;
    }
    if (at != size) {
        s = gc_fail(GC_ERR_FORMAT,
                    "%s: %zu bytes left after %d tokens (vocabulary size does not match the model)",
                    path, size - at, vocab_size);
        goto fail;
    }
    for (int i = 0; i < vocab_size; i++)
        t->sorted[i] = i;
    g_sort_tok = t;
    qsort(t->sorted, (size_t)vocab_size, sizeof(int32_t), cmp_ids);
    free(data);
    return GC_OK;
fail:
    free(data);
    gc_tokenizer_free(t);
    return s;
}

int32_t gc_tokenizer_lookup(const gc_tokenizer *t, const char *piece, size_t len) {
    int lo = 0, hi = t->vocab_size - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, id = t->sorted[mid];
        int c = cmp_piece(t->vocab[id], (size_t)t->lens[id], piece, len);
        if (c == 0) {
            /* several ids may share a piece: return the smallest, as the sort puts it first */
            while (mid > 0) {
                int prev = t->sorted[mid - 1];
                if (cmp_piece(t->vocab[prev], (size_t)t->lens[prev], piece, len) != 0) break;
                id = prev;
                mid--;
            }
            return id;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

gc_status gc_tokenizer_encode(const gc_tokenizer *t, const char *text, int bos, int eos,
                              int32_t *out, int *n_out) {
    int n = 0;
    if (bos) out[n++] = GC_TOK_BOS;
    if (text[0]) {
        int32_t sp = gc_tokenizer_lookup(t, " ", 1);
        if (sp >= 0) out[n++] = sp;
    }
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t len = 1; /* one UTF-8 code point: a lead byte and its continuation bytes */
        while (len < 4 && (p[len] & 0xC0) == 0x80)
            len++;
        int32_t id = gc_tokenizer_lookup(t, (const char *)p, len);
        if (id >= 0) {
            out[n++] = id;
        } else {
            for (size_t i = 0; i < len; i++)
                out[n++] = (int32_t)p[i] + 3;
        }
        p += len;
    }
    char *buf = gc_malloc((size_t)t->max_token_length * 2 + 2);
    if (!buf) return GC_ERR_NOMEM;
    int start = bos ? 1 : 0;
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_at = -1;
        for (int i = start; i + 1 < n; i++) {
            size_t la = (size_t)t->lens[out[i]], lb = (size_t)t->lens[out[i + 1]];
            memcpy(buf, t->vocab[out[i]], la);
            memcpy(buf + la, t->vocab[out[i + 1]], lb);
            int32_t id = gc_tokenizer_lookup(t, buf, la + lb);
            if (id >= 0 && t->scores[id] > best) {
                best = t->scores[id];
                best_id = id;
                best_at = i;
            }
        }
        if (best_at < 0) break;
        out[best_at] = best_id;
        memmove(out + best_at + 1, out + best_at + 2, sizeof(int32_t) * (size_t)(n - best_at - 2));
        n--;
    }
    free(buf);
    if (eos) out[n++] = GC_TOK_EOS;
    *n_out = n;
    return GC_OK;
}

const char *gc_tokenizer_piece(const gc_tokenizer *t, int32_t prev, int32_t token, char byte_buf[2],
                               size_t *len) {
    if (token < 0 || token >= t->vocab_size) {
        *len = 0;
        return "";
    }
    const char *p = t->vocab[token];
    size_t n = (size_t)t->lens[token];
    if (prev == GC_TOK_BOS && n > 0 && p[0] == ' ') p++, n--;
    unsigned int byte;
    if (n == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' &&
        sscanf(p, "<0x%02X>", &byte) == 1) {
        byte_buf[0] = (char)byte;
        byte_buf[1] = 0;
        *len = 1;
        return byte_buf;
    }
    *len = n;
    return p;
}
