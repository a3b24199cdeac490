/* replicate generate: text generation from a gcrm or llama2.c checkpoint. */
#include <stdlib.h>
#include <string.h>

#include "lib/model/backend.h"
#include "lib/model/ckpt.h"
#include "lib/model/generate.h"
#include "lib/model/sampler.h"
#include "lib/model/tokenizer.h"
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
    static const struct option opts[] = {{"checkpoint", required_argument, 0, 'c'},
                                         {"tokenizer", required_argument, 0, 'k'},
                                         {"prompt", required_argument, 0, 'p'},
                                         {"steps", required_argument, 0, 'n'},
                                         {"temperature", required_argument, 0, 't'},
                                         {"top-p", required_argument, 0, 'P'},
                                         {"seed", required_argument, 0, 's'},
                                         {"help", no_argument, 0, 'h'},
                                         {"device", required_argument, 0, 'd'},
                                         {"precision", required_argument, 0, 'r'},
                                         {0, 0, 0, 0}};
    char device[8] = "cpu", precision[8] = "fp32";
    int rc = cli_getopt_reset();
    for (int c; (c = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
        switch (c) {
        case 'c':
            ckpt = optarg;
            break;
        case 'k':
            tok_path = optarg;
            break;
        case 'p':
            prompt = optarg;
            break;
        case 'n':
            rc = cli_parse_long("generate", "steps", optarg, 1, 1 << 20, &steps);
            break;
        case 't':
            rc = cli_parse_float("generate", "temperature", optarg, 0, 100, &temperature);
            break;
        case 'P':
            rc = cli_parse_float("generate", "top-p", optarg, 1e-6, 1, &top_p);
            break;
        case 's':
            rc = cli_parse_long("generate", "seed", optarg, 0, 0x7fffffffL, &seed);
            break;
        case 'd':
            rc = cli_parse_choice("generate", "device", optarg, CLI_DEVICES, device, sizeof device);
            break;
        case 'r':
            rc = cli_parse_choice("generate", "precision", optarg, CLI_PRECISIONS, precision,
                                  sizeof precision);
            break;
        case 'h':
            fputs(GENERATE_HELP, stdout);
            return 0;
        default:
            return cli_bad_option("generate", argv, c);
        }
        if (rc) return rc;
    }
    if (optind < argc) return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
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
