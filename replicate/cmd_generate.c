/* replicate generate: text generation from a gcrm or llama2.c checkpoint. */
#include <stdlib.h>
#include <string.h>

#include "lib/model/backend.h"
#include "lib/model/ckpt.h"
#include "lib/model/generate.h"
#include "lib/model/sampler.h"
#include "lib/model/tokenizer.h"
#include "lib/util/flags.h"
#include "cli.h"

/* ---- generate ---- */

static const char GENERATE_HELP[] =
    "usage: replicate generate --checkpoint FILE [--tokenizer FILE] [--prompt TEXT] [--steps N]\n"
    "                          [--temperature T] [--top-p P] [--seed S]\n"
    "                          [--device cpu|cuda] [--precision fp32|tf32|bf16]\n"
    "\n"
    "Generates text from a gcrm or llama2.c checkpoint with the KV cache and prints it.\n"
    "  --checkpoint FILE  model weights (gcrm .ckpt or llama2.c .bin)\n"
    "  --tokenizer FILE   llama2.c tokenizer (default: tok<vocab>.bin beside the checkpoint)\n"
    "  --prompt TEXT      text to continue (default: empty)\n"
    "  --steps N          positions to run, prompt included (default 256, at most seq_len)\n"
    "  --temperature T    0 = greedy (default 1.0)\n"
    "  --top-p P          nucleus sampling mass in (0, 1] (default 0.9)\n"
    "  --seed S           sampling seed (default 42)\n"
    "  --device D         cpu (default) or cuda: the model's passes on the GPU\n"
    "  --precision P      cuda matmuls: fp32 (default), tf32 or bf16\n";

int cmd_generate(int argc, char **argv) {
    const char *ckpt = NULL, *tok_path = NULL, *prompt = "";
    long steps = 256, seed = 42;
    double temperature = 1.0, top_p = 0.9;
    char device[8] = "cpu", precision[8] = "fp32";
    int help = 0;
    const gc_flag flags[] = {
        {"checkpoint", GC_FLAG_STRING, &ckpt, 0, 0, NULL, 0},
        {"tokenizer", GC_FLAG_STRING, &tok_path, 0, 0, NULL, 0},
        {"prompt", GC_FLAG_STRING, &prompt, 0, 0, NULL, 0},
        {"steps", GC_FLAG_INT, &steps, 1, 1 << 20, NULL, 0},
        {"temperature", GC_FLAG_FLOAT, &temperature, 0, 100, NULL, 0},
        {"top-p", GC_FLAG_FLOAT, &top_p, 1e-6, 1, NULL, 0},
        {"seed", GC_FLAG_INT, &seed, 0, 0x7fffffffL, NULL, 0},
        {"device", GC_FLAG_CHOICE, device, 0, 0, CLI_DEVICES, sizeof device},
        {"precision", GC_FLAG_CHOICE, precision, 0, 0, CLI_PRECISIONS, sizeof precision},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse("replicate generate", argc, argv, flags,
                            (int)(sizeof flags / sizeof flags[0]), NULL, 0, NULL);
    if (rc) return rc;
    if (help) return fputs(GENERATE_HELP, stdout), 0;
    if (!ckpt) return cli_usage_error("generate", "--checkpoint is required");

    if (gc_device_open(device, precision) != GC_OK) return cli_runtime_error("generate");
    gc_model m;
    if (gc_ckpt_load_any(ckpt, &m) != GC_OK) {
        gc_device_close();
        return cli_runtime_error("generate");
    }
    char default_tok[4096];
    if (!tok_path) {
        const char *slash = strrchr(ckpt, '/');
        int dirlen = slash ? (int)(slash - ckpt + 1) : 0;
        snprintf(default_tok, sizeof default_tok, "%.*stok%d.bin", dirlen, ckpt, m.cfg.vocab_size);
        tok_path = default_tok;
    }
    gc_tokenizer tok;
    gc_sampler sampler;
    int status = 0, n = 0;
    if (gc_tokenizer_load(&tok, tok_path, m.cfg.vocab_size) != GC_OK) {
        gc_model_free(&m);
        gc_device_close();
        return cli_runtime_error("generate");
    }
    if (gc_sampler_init(&sampler, m.cfg.vocab_size, (float)temperature, (float)top_p,
                        (uint64_t)seed) != GC_OK ||
        gc_generate_text(&m, &tok, &sampler, prompt, (int)steps, stdout, &n) != GC_OK)
        status = cli_runtime_error("generate");
    gc_sampler_free(&sampler);
    gc_tokenizer_free(&tok);
    gc_model_free(&m);
    gc_device_close();
    return status;
}
