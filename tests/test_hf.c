/* lib/model/safetensors and lib/model/hf: Hugging Face's layout. A Llama-3-shaped tiny model
 * written in Hugging Face's own layout by tests/ref/hf_oracle.py (bf16, grouped-query attention,
 * untied, rope_theta 5e5) gives PyTorch's logits of a transformers-style forward; stories260K
 * exported by tools/hf_export.py (plain Python) decodes greedily byte for byte as the llama2.c
 * path does; gcrm's own writer round-trips a model and writes what the oracle's reader expects;
 * bf16 and fp16 conversions; every malformed file, index and config.json refused by name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "helpers.h"
#include "lib/model/ckpt.h"
#include "lib/model/hf.h"
#include "lib/model/hf_tokenizer.h"
#include "lib/model/tokenizer.h"
#include "lib/model/safetensors.h"
#include "lib/util/jsonio.h"

static const char *const TINY = "tests/fixtures/hf_tiny";

Test(hf, bf16_and_fp16_conversions) {
    cr_expect_eq(gc_bf16_to_f32(0x3f80), 1.0f);
    cr_expect_eq(gc_bf16_to_f32(0xc040), -3.0f);
    cr_expect_eq(gc_f32_to_bf16(1.0f), 0x3f80);
    cr_expect_eq(gc_f32_to_bf16(1.00390625f), 0x3f80, "a tie rounds to even (down)");
    cr_expect_eq(gc_f32_to_bf16(1.01171875f), 0x3f82, "a tie rounds to even (up)");
    cr_expect(isnan(gc_bf16_to_f32(gc_f32_to_bf16(NAN))));
    cr_expect_eq(gc_f16_to_f32(0x3c00), 1.0f);
    cr_expect_eq(gc_f16_to_f32(0xc000), -2.0f);
    cr_expect_eq(gc_f16_to_f32(0x7bff), 65504.0f);
    cr_expect_eq(gc_f16_to_f32(0x0001), ldexpf(1, -24), "the smallest subnormal");
    cr_expect(isinf(gc_f16_to_f32(0x7c00)));
    cr_expect(isnan(gc_f16_to_f32(0x7e00)));
}

/* the tiny model's logits against PyTorch's transformers-style forward */
Test(hf, tiny_llama3_shape_matches_pytorch_logits) {
    gc_model m;
    cr_assert_eq(gc_hf_load(TINY, 0, &m), GC_OK, "%s", gc_last_error());
    cr_expect_eq(m.cfg.n_kv_heads, 2);
    cr_expect_eq(m.cfg.tied, 0);
    cr_expect_float_eq(m.cfg.rope_theta, 500000.0f, 1);
    cr_expect_eq(m.cfg.rope_scaling, GC_ROPE_LLAMA3);
    char path[256];
    snprintf(path, sizeof path, "%s/logits.json", TINY);
    cJSON *j;
    cr_assert_eq(gc_json_read(path, &j), GC_OK, "%s", gc_last_error());
    /* the scaled frequencies: one kept, one interpolated, two divided by the factor */
    const cJSON *inv = cJSON_GetObjectItem(j, "inv_freq");
    cr_assert_eq(cJSON_GetArraySize(inv), m.cfg.dim / m.cfg.n_heads / 2);
    for (int i = 0; i < cJSON_GetArraySize(inv); i++) {
        double want = cJSON_GetArrayItem(inv, i)->valuedouble;
        double got = gc_model_rope_freq(&m.cfg, i);
        cr_expect_leq(fabs(got - want), 1e-6 * want, "frequency %d: %.9g, PyTorch %.9g", i, got,
                      want);
    }
    const cJSON *tk = cJSON_GetObjectItem(j, "tokens"), *lg = cJSON_GetObjectItem(j, "logits");
    int T = cJSON_GetArraySize(tk), V = m.cfg.vocab_size;
    int32_t tok[64];
    for (int t = 0; t < T; t++)
        tok[t] = cJSON_GetArrayItem(tk, t)->valueint;
    cr_assert_eq(gc_model_forward(&m, tok, 1, T, 1), GC_OK, "%s", gc_last_error());
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int v = 0; v < V; v++) {
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(lg, t), v)->valuedouble;
            double d = fabs(m.logits[(size_t)t * V + v] - want);
            if (d > worst) worst = d;
        }
    cr_expect_lt(worst, 2e-4, "largest logit difference from PyTorch %g", worst);
    cJSON_Delete(j);
    gc_model_free(&m);
}

/* rotary scaling survives gcrm's own checkpoint (version 2); a model without it writes version 1,
 * so files of models without scaling keep their bytes */
Test(hf, checkpoint_keeps_rope_scaling) {
    gc_model m, a;
    cr_assert_eq(gc_hf_load(TINY, 0, &m), GC_OK, "%s", gc_last_error());
    char *p = th_tmp_path("scaled.ckpt");
    cr_assert_eq(gc_ckpt_save(p, &m, NULL), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_ckpt_load(p, &a, NULL, NULL), GC_OK, "%s", gc_last_error());
    cr_expect(memcmp(&a.cfg, &m.cfg, sizeof m.cfg) == 0, "the config with its scaling");
    cr_expect(memcmp(a.rope_cos, m.rope_cos, sizeof(float) * m.cfg.seq_len * 4) == 0);
    uint32_t head[3]; /* magic (8 bytes), version */
    FILE *f = fopen(p, "rb");
    cr_assert(f && fread(head, 4, 3, f) == 3);
    fclose(f);
    cr_expect_eq(head[2], GC_CKPT_VERSION);
    gc_model_free(&a);
    /* a version-2 header with an unknown scaling kind, and one cut inside the scaling fields:
     * refused by name, before any tensor is read (magic 8 + version 4 + config 60 + count 4) */
    char *bad = th_tmp_path("scaled-bad.ckpt");
    FILE *g = fopen(p, "rb");
    cr_assert(g);
    unsigned char buf[80];
    cr_assert_eq(fread(buf, 1, sizeof buf, g), sizeof buf);
    fclose(g);
    int32_t kind = 7;
    memcpy(buf + 52, &kind, 4);
    cr_assert_eq(th_write_file(bad, buf, sizeof buf), 0);
    cr_expect_neq(gc_ckpt_load(bad, &a, NULL, NULL), GC_OK);
    cr_expect(strstr(gc_last_error(), bad) && strstr(gc_last_error(), "rope_scaling"), "%s",
              gc_last_error());
    cr_assert_eq(th_write_file(bad, buf, 56), 0);
    cr_expect_neq(gc_ckpt_load(bad, &a, NULL, NULL), GC_OK);
    cr_expect(strstr(gc_last_error(), "truncated"), "%s", gc_last_error());
    remove(bad);
    free(bad);
    m.cfg.rope_scaling = GC_ROPE_NONE;
    cr_assert_eq(gc_ckpt_save(p, &m, NULL), GC_OK, "%s", gc_last_error());
    f = fopen(p, "rb");
    cr_assert(f && fread(head, 4, 3, f) == 3);
    fclose(f);
    cr_expect_eq(head[2], 1, "no scaling: version 1");
    cr_assert_eq(gc_ckpt_load(p, &a, NULL, NULL), GC_OK, "%s", gc_last_error());
    cr_expect_eq(a.cfg.rope_scaling, GC_ROPE_NONE);
    gc_model_free(&a);
    gc_model_free(&m);
    free(p);
}

/* saved by gcrm (fp32), loaded back: the same weights; bf16: each within its rounding */
Test(hf, writer_round_trips_a_model) {
    gc_model m, a, b;
    cr_assert_eq(gc_hf_load(TINY, 0, &m), GC_OK, "%s", gc_last_error());
    char *d32 = th_tmp_path("hf32"), *d16 = th_tmp_path("hf16");
    cr_assert_eq(gc_hf_save(d32, &m, GC_ST_F32), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_hf_save(d16, &m, GC_ST_BF16), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_hf_load(d32, 0, &a), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_hf_load(d16, 0, &b), GC_OK, "%s", gc_last_error());
    cr_assert_eq(a.n_params, m.n_params);
    cr_expect(memcmp(&a.cfg, &m.cfg, sizeof m.cfg) == 0, "config.json keeps the shape");
    cr_expect(memcmp(a.params, m.params, sizeof(float) * m.n_params) == 0, "fp32 is exact");
    /* the tiny model's weights are bf16 values already: bf16 is exact too */
    cr_expect(memcmp(b.params, m.params, sizeof(float) * m.n_params) == 0, "bf16 of bf16 values");
    /* the q_proj written is the oracle's, byte for byte (the permutation redone) */
    gc_st_set x, y;
    cr_assert_eq(gc_st_open_dir(TINY, &x), GC_OK);
    cr_assert_eq(gc_st_open_dir(d16, &y), GC_OK, "%s", gc_last_error());
    const gc_st_tensor *q0 = gc_st_set_find(&x, "model.layers.1.self_attn.q_proj.weight", NULL);
    const gc_st_tensor *q1 = gc_st_set_find(&y, "model.layers.1.self_attn.q_proj.weight", NULL);
    const gc_st_tensor *k0 = gc_st_set_find(&x, "model.layers.0.self_attn.k_proj.weight", NULL);
    const gc_st_tensor *k1 = gc_st_set_find(&y, "model.layers.0.self_attn.k_proj.weight", NULL);
    cr_assert(q0 && q1 && k0 && k1);
    cr_expect(q0->nbytes == q1->nbytes && !memcmp(q0->data, q1->data, q0->nbytes));
    cr_expect(k0->nbytes == k1->nbytes && !memcmp(k0->data, k1->data, k0->nbytes));
    gc_st_set_close(&x), gc_st_set_close(&y);
    gc_model_free(&m), gc_model_free(&a), gc_model_free(&b);
    th_rm_tree(d32), th_rm_tree(d16);
    free(d32), free(d16);
}

/* The tokenizer.json the script wrote from tok512.bin encodes as llama2.c's tokenizer does: the
 * golden story and 40 lines of Helpful-Harmless dialogues (JSON text: quotes, escapes, Unicode). */
static void expect_same_tokens(const char *dir, const char *tok, const char *golden) {
    char path[1200], hh[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    gc_hf_tok *h;
    gc_tokenizer t;
    cr_assert_eq(gc_hf_tok_load(path, &h), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_tokenizer_load(&t, tok, 512), GC_OK, "%s", gc_last_error());
    char *texts[41] = {th_read_text(golden)};
    int n = 1;
    if (th_data_file(hh, sizeof hh, "hh-rlhf/harmless-base-test.jsonl.gz")) {
        gzFile z = gzopen(hh, "rb");
        char line[1 << 14];
        while (z && n < 41 && gzgets(z, line, sizeof line)) {
            line[strcspn(line, "\n")] = 0;
            texts[n++] = strdup(line);
        }
        if (z) gzclose(z);
    }
    cr_expect_eq(n, 41, "the dialogues were read");
    for (int i = 0; i < n; i++) {
        int32_t *a = malloc(sizeof(int32_t) * (strlen(texts[i]) + 3)), *b = NULL;
        int na = 0, nb = 0;
        cr_assert_eq(gc_tokenizer_encode(&t, texts[i], 1, 0, a, &na), GC_OK);
        cr_assert_eq(gc_hf_tok_encode(h, texts[i], 1, &b, &nb), GC_OK, "%s", gc_last_error());
        cr_expect(na == nb && !memcmp(a, b, sizeof(int32_t) * (size_t)na),
                  "text %d: %d tokens by llama2.c's tokenizer, %d by tokenizer.json", i, na, nb);
        free(a), free(b), free(texts[i]);
    }
    gc_hf_tok_free(h);
    gc_tokenizer_free(&t);
}

/* stories260K through Hugging Face's layout, exported by the plain-Python script: the golden
 * greedy text, byte for byte, and its tokenizer */
Test(hf, stories260k_exported_by_script_decodes_the_golden_text, .timeout = 120) {
    char model[1024], tok[1024], golden[1024];
    if (!th_data_file(model, sizeof model, "models/stories260K/stories260K.bin") ||
        !th_data_file(tok, sizeof tok, "models/stories260K/tok512.bin") ||
        !th_data_file(golden, sizeof golden, "models/stories260K/greedy200.txt"))
        cr_skip_test("stories260K not found under %s", th_data_dir());
    if (system("python3 -c 'import json, struct' >/dev/null 2>&1") != 0)
        cr_skip_test("no python3 to run tools/hf_export.py");
    char *dir = th_tmp_path("hf260"), cmd[4096];
    snprintf(cmd, sizeof cmd, "python3 tools/hf_export.py %s %s --tokenizer %s", model, dir, tok);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    expect_same_tokens(dir, tok, golden);
    snprintf(cmd, sizeof cmd,
             "%s generate --checkpoint %s --tokenizer %s --temperature 0 --steps 200",
             th_replicate_bin(), dir, tok);
    char *out = NULL, *err = NULL, *want = NULL;
    size_t out_len = 0, want_len = 0;
    cr_assert_eq(th_run(cmd, &out, &out_len, &err), 0, "%s", err);
    cr_assert_eq(gc_read_file(golden, &want, &want_len), GC_OK);
    cr_expect(out_len == want_len && !memcmp(out, want, want_len), "not the golden text:\n%s", out);
    /* and gcrm's own writer gives the same file the script wrote */
    gc_model m;
    cr_assert_eq(gc_ckpt_import_llama2c(model, &m), GC_OK);
    char *mine = th_tmp_path("hf260-c");
    cr_assert_eq(gc_hf_save(mine, &m, GC_ST_F32), GC_OK, "%s", gc_last_error());
    gc_st_set a, b;
    cr_assert_eq(gc_st_open_dir(dir, &a), GC_OK, "%s", gc_last_error());
    cr_assert_eq(gc_st_open_dir(mine, &b), GC_OK, "%s", gc_last_error());
    cr_assert_eq(a.files[0].n, b.files[0].n);
    for (int i = 0; i < a.files[0].n; i++) {
        const gc_st_tensor *x = &a.files[0].t[i], *y = gc_st_set_find(&b, x->name, NULL);
        cr_assert(y, "gcrm wrote no %s", x->name);
        cr_expect(x->nbytes == y->nbytes && !memcmp(x->data, y->data, x->nbytes), "%s differs",
                  x->name);
    }
    gc_st_set_close(&a), gc_st_set_close(&b);
    gc_model_free(&m);
    free(out), free(err), free(want);
    th_rm_tree(dir), th_rm_tree(mine);
    free(dir), free(mine);
}

/* a reward model exports as LlamaForSequenceClassification with its goal state */
Test(hf, reward_model_exports_its_head_and_goal) {
    gc_model m;
    cr_assert_eq(gc_hf_load(TINY, 0, &m), GC_OK, "%s", gc_last_error());
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &m, GC_HEAD_LINEAR, 3), GC_OK);
    float goal[32];
    for (int d = 0; d < 32; d++)
        goal[d] = 0.25f * d;
    char *dir = th_tmp_path("hfrm"), path[1200];
    cr_assert_eq(gc_hf_save_rm(dir, &rm, goal, GC_ST_F32), GC_OK, "%s", gc_last_error());
    gc_st_set s;
    cr_assert_eq(gc_st_open_dir(dir, &s), GC_OK, "%s", gc_last_error());
    const gc_st_tensor *sc = gc_st_set_find(&s, "score.weight", NULL),
                       *g = gc_st_set_find(&s, "goal_state", NULL);
    cr_assert(sc && g);
    cr_expect(sc->ndim == 2 && sc->shape[0] == 1 && sc->shape[1] == 32);
    cr_expect(!memcmp(sc->data, rm.head, sizeof(float) * 32));
    cr_expect(!memcmp(g->data, goal, sizeof goal));
    cr_expect(!gc_st_set_find(&s, "lm_head.weight", NULL), "a classifier has no lm_head");
    gc_st_set_close(&s);
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *cfg = th_read_text(path);
    cr_expect(strstr(cfg, "LlamaForSequenceClassification") && strstr(cfg, "\"num_labels\""), "%s",
              cfg);
    free(cfg);
    gc_rm_free(&rm);
    th_rm_tree(dir);
    free(dir);
}

/* ---- bad input ---- */

/* a safetensors file from a header text and data bytes */
static char *st_file(const char *tag, const char *header, size_t data_bytes) {
    char *path = th_tmp_path(tag);
    size_t hn = strlen(header), n = 8 + hn + data_bytes;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(buf + 8, header, hn);
    cr_assert_eq(th_write_file(path, buf, n), 0);
    free(buf);
    return path;
}

static void expect_bad(const char *tag, const char *header, size_t data, const char *frag) {
    char *path = st_file(tag, header, data);
    gc_st_file f;
    cr_expect_eq(gc_st_open(path, &f), GC_ERR_FORMAT, "%s: accepted", tag);
    cr_expect(strstr(gc_last_error(), path), "%s: names no file: %s", tag, gc_last_error());
    cr_expect(strstr(gc_last_error(), frag), "%s: expected '%s' in: %s", tag, frag,
              gc_last_error());
    unlink(path);
    free(path);
}

Test(hf, malformed_safetensors_are_refused_by_name) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    char *good = st_file("st-good", ok, 8);
    gc_st_file f;
    cr_assert_eq(gc_st_open(good, &f), GC_OK, "%s", gc_last_error());
    cr_expect_eq(f.n, 1);
    gc_st_close(&f);
    unlink(good), free(good);
    expect_bad("st-cut", ok, 4, "run past the data");
    expect_bad("st-dtype", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
               "'a': dtype 'I64'");
    expect_bad("st-bytes", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
               "8 bytes for 3 elements");
    expect_bad("st-overlap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "overlaps");
    expect_bad("st-hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
               "hole");
    expect_bad("st-tail", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
               "after the last tensor");
    expect_bad("st-twice",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "appears twice");
    expect_bad("st-shape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
               "shape[0]");
    expect_bad("st-field",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],"
               "\"x\":1}}",
               4, "unknown field 'x'");
    expect_bad("st-meta", "{\"__metadata__\":{\"k\":1}}", 0, "__metadata__.k");
    expect_bad("st-array", "[1,2]", 0, "not a JSON object");
    /* a header size that does not fit the file */
    char *path = th_tmp_path("st-size");
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    cr_assert_eq(th_write_file(path, big, sizeof big), 0);
    cr_expect_eq(gc_st_open(path, &f), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "header size"), "%s", gc_last_error());
    /* fuzz-found: a size near 2^64 (the data pointer must not be formed from it) */
    unsigned char huge[40] = {0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    cr_assert_eq(th_write_file(path, huge, sizeof huge), 0);
    cr_expect_eq(gc_st_open(path, &f), GC_ERR_FORMAT);
    cr_expect(strstr(gc_last_error(), "header size"), "%s", gc_last_error());
    cr_assert_eq(th_write_file(path, big, 5), 0);
    cr_expect_eq(gc_st_open(path, &f), GC_ERR_FORMAT, "shorter than 8 bytes");
    unlink(path), free(path);
}

/* a copy of the tiny model's directory with one file replaced (text, or NULL: removed) */
static char *tiny_with(const char *tag, const char *file, const char *text) {
    char *dir = th_tmp_path(tag), cmd[2048], path[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/model.safetensors %s/", dir,
             TINY, TINY, dir);
    cr_assert_eq(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (text)
        cr_assert_eq(th_write_file(path, text, strlen(text)), 0);
    else
        unlink(path);
    return dir;
}

static void expect_bad_dir(const char *dir, const char *frag1, const char *frag2) {
    gc_model m;
    cr_expect_neq(gc_hf_load(dir, 0, &m), GC_OK, "%s accepted", dir);
    cr_expect(strstr(gc_last_error(), frag1) && strstr(gc_last_error(), frag2),
              "expected '%s' and '%s' in: %s", frag1, frag2, gc_last_error());
    th_rm_tree(dir);
}

static char *config_with(const char *key, const char *json) {
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", TINY);
    cJSON *c;
    cr_assert_eq(gc_json_read(path, &c), GC_OK);
    cJSON_DeleteItemFromObject(c, key);
    if (json) cJSON_AddItemToObject(c, key, cJSON_Parse(json));
    char *text = cJSON_Print(c);
    cJSON_Delete(c);
    return text;
}

Test(hf, bad_configs_and_indexes_are_refused_by_name) {
    static const struct {
        const char *key, *json, *frag;
    } bad[] = {
        {"model_type", "\"gpt2\"", "model_type"},
        {"hidden_size", "\"big\"", "hidden_size"},
        {"hidden_size", NULL, "missing required key 'hidden_size'"},
        {"num_key_value_heads", "3", "num_key_value_heads"}, /* does not divide 4 heads */
        {"rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8}",
         "missing required key 'rope_scaling.low_freq_factor'"},
        {"rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", "\"yarn\""},
        {"rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 0.5}", "rope_scaling.factor"},
        {"rope_scaling",
         "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, "
         "\"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}",
         "rope_scaling.high_freq_factor"},
        {"rope_scaling", "[1]", "rope_scaling"},
        {"hidden_act", "\"gelu\"", "hidden_act"},
        {"tie_word_embeddings", "1", "tie_word_embeddings"},
        {"head_dim", "16", "head_dim"},
        {"rms_norm_eps", "-1", "rms_norm_eps"},
        {"rope_theta", "\"big\"", "rope_theta"},
        {"hidden_size", "64", "model.embed_tokens.weight"}, /* the tensors disagree */
        {"tie_word_embeddings", "true", "tensors where"},   /* lm_head left over */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = config_with(bad[i].key, bad[i].json);
        expect_bad_dir(tiny_with("hf-bad", "config.json", text), "hf-bad", bad[i].frag);
        free(text);
    }
    expect_bad_dir(tiny_with("hf-nocfg", "config.json", NULL), "config.json", "");
    expect_bad_dir(tiny_with("hf-nost", "model.safetensors", NULL), "model.safetensors", "");
    /* sharded: an index naming a shard that lacks the tensor, and one naming a missing shard */
    char *dir = tiny_with("hf-idx", "model.safetensors.index.json",
                          "{\"weight_map\": {\"model.norm.weight\": \"other.safetensors\"}}");
    expect_bad_dir(dir, "other.safetensors", "");
    dir = tiny_with("hf-idx2", "model.safetensors.index.json",
                    "{\"weight_map\": {\"model.norm.weight\": \"model.safetensors\"}}");
    expect_bad_dir(dir, "weight_map names 1", "");
    dir = tiny_with("hf-idx3", "model.safetensors.index.json",
                    "{\"weight_map\": {\"model.norm.weight\": \"../x\"}}");
    expect_bad_dir(dir, "weight_map.model.norm.weight", "");
}

/* two shards through model.safetensors.index.json load as the single file does */
Test(hf, sharded_checkpoint_loads_as_one) {
    gc_model m, a;
    cr_assert_eq(gc_hf_load(TINY, 0, &m), GC_OK, "%s", gc_last_error());
    char *dir = th_tmp_path("hf-shards"), path[1200];
    cr_assert_eq(gc_hf_save(dir, &m, GC_ST_F32), GC_OK, "%s", gc_last_error());
    /* split the single file: layer 0 and the embedding in shard 1, the rest in shard 2 */
    gc_st_file f;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    cr_assert_eq(gc_st_open(path, &f), GC_OK);
    gc_st_out part[2][64];
    int np[2] = {0, 0};
    float *copy[64];
    cJSON *idx = cJSON_CreateObject(), *wm = cJSON_AddObjectToObject(idx, "weight_map");
    for (int i = 0; i < f.n; i++) {
        int k = strstr(f.t[i].name, "layers.0.") || strstr(f.t[i].name, "embed") ? 0 : 1;
        copy[i] = malloc(sizeof(float) * f.t[i].numel);
        gc_st_to_f32(&f.t[i], copy[i]);
        gc_st_out *o = &part[k][np[k]++];
        *o = (gc_st_out){f.t[i].name, f.t[i].ndim, {0}, copy[i]};
        memcpy(o->shape, f.t[i].shape, sizeof o->shape);
        cJSON_AddStringToObject(wm, f.t[i].name,
                                k ? "model-00002-of-00002.safetensors"
                                  : "model-00001-of-00002.safetensors");
    }
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, k + 1);
        cr_assert_eq(gc_st_write(path, part[k], np[k], GC_ST_F32, NULL, 0), GC_OK);
    }
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    cr_assert_eq(gc_json_write(path, idx), GC_OK);
    int n = f.n;
    gc_st_close(&f);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    cr_assert_eq(gc_hf_load(dir, 0, &a), GC_OK, "%s", gc_last_error());
    cr_expect(memcmp(a.params, m.params, sizeof(float) * m.n_params) == 0);
    for (int i = 0; i < n; i++)
        free(copy[i]);
    cJSON_Delete(idx);
    gc_model_free(&m), gc_model_free(&a);
    th_rm_tree(dir);
    free(dir);
}

/* replicate export: a reward model's stage directory and a checkpoint; usage errors exit 2 */
Test(hf, export_command_writes_both_layouts) {
    gc_model m;
    cr_assert_eq(gc_hf_load(TINY, 0, &m), GC_OK, "%s", gc_last_error());
    gc_rm rm;
    cr_assert_eq(gc_rm_init(&rm, &m, GC_HEAD_LINEAR, 5), GC_OK);
    char *st = th_tmp_path("hf-stage"), *out = th_tmp_path("hf-out"), path[1200], cmd[4096];
    char mk[1300];
    snprintf(mk, sizeof mk, "mkdir -p %s", st);
    cr_assert_eq(system(mk), 0);
    char ck[1200], hd[1200];
    snprintf(ck, sizeof ck, "%s/rm.ckpt", st);
    snprintf(hd, sizeof hd, "%s/rm.head", st);
    cr_assert_eq(gc_rm_save(&rm, ck, hd), GC_OK, "%s", gc_last_error());
    snprintf(path, sizeof path, "%s/goal.json", st);
    cJSON *g = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(g, "goal");
    for (int d = 0; d < 32; d++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(d % 3));
    cr_assert_eq(gc_json_write(path, g), GC_OK);
    cJSON_Delete(g);
    snprintf(cmd, sizeof cmd, "%s export --rm-stage %s --out %s --dtype bf16", th_replicate_bin(),
             st, out);
    char *o = NULL, *e = NULL;
    cr_assert_eq(th_run(cmd, &o, NULL, &e), 0, "%s", e);
    free(o), free(e);
    gc_st_set s;
    cr_assert_eq(gc_st_open_dir(out, &s), GC_OK, "%s", gc_last_error());
    const gc_st_tensor *gt = gc_st_set_find(&s, "goal_state", NULL);
    cr_assert(gt && gt->dtype == GC_ST_BF16 && gt->numel == 32);
    float x[32];
    gc_st_to_f32(gt, x);
    for (int d = 0; d < 32; d++)
        cr_expect_eq(x[d], (float)(d % 3));
    gc_st_set_close(&s);
    /* a checkpoint; then the usage errors */
    snprintf(cmd, sizeof cmd, "%s export --checkpoint %s --out %s/lm", th_replicate_bin(), TINY,
             out);
    cr_assert_eq(th_run(cmd, &o, NULL, &e), 0, "%s", e);
    free(o), free(e);
    snprintf(path, sizeof path, "%s/lm", out);
    gc_model back;
    cr_assert_eq(gc_hf_load(path, 0, &back), GC_OK, "%s", gc_last_error());
    cr_expect(memcmp(back.params, rm.model.params, sizeof(float) * back.n_params) == 0);
    gc_model_free(&back);
    snprintf(cmd, sizeof cmd, "%s export --out %s/x", th_replicate_bin(), out);
    cr_expect_eq(th_run(cmd, &o, NULL, &e), 2);
    cr_expect(strstr(e, "--checkpoint"), "%s", e);
    free(o), free(e);
    snprintf(cmd, sizeof cmd, "%s export --checkpoint %s/none --out %s/y", th_replicate_bin(), out,
             out);
    cr_expect_eq(th_run(cmd, &o, NULL, &e), 1);
    cr_expect(strstr(e, "none"), "%s", e);
    free(o), free(e);
    gc_rm_free(&rm);
    th_rm_tree(st), th_rm_tree(out);
    free(st), free(out);
}
