/* replicate export: a model or a trained reward model in Hugging Face's layout (lib/model/hf.h). */
#include <stdlib.h>
#include <string.h>

#include "lib/model/ckpt.h"
#include "lib/model/hf.h"
#include "lib/util/flags.h"
#include "lib/util/jsonio.h"
#include "cli.h"

static const char EXPORT_HELP[] =
    "usage: replicate export (--checkpoint PATH | --rm-stage DIR) --out DIR [--dtype fp32|bf16]\n"
    "\n"
    "Writes DIR/config.json and DIR/model.safetensors in Hugging Face's Llama layout.\n"
    "  --checkpoint PATH  a model: gcrm .ckpt, llama2.c .bin or a Hugging Face directory\n"
    "                     (LlamaForCausalLM)\n"
    "  --rm-stage DIR     a reward model's stage directory (rm.ckpt and rm.head, and goal.json "
    "when\n"
    "                     present): LlamaForSequenceClassification with num_labels 1, its linear\n"
    "                     head as score.weight and its goal state as goal_state\n"
    "  --out DIR          the directory to write (created when missing)\n"
    "  --dtype D          fp32 (default) or bf16 (round to nearest even)\n";

int cmd_export(int argc, char **argv) {
    const char *ckpt = NULL, *stage = NULL, *out = NULL;
    char dtype[8] = "fp32";
    int help = 0;
    const gc_flag flags[] = {
        {"checkpoint", GC_FLAG_STRING, &ckpt, 0, 0, NULL, 0},
        {"rm-stage", GC_FLAG_STRING, &stage, 0, 0, NULL, 0},
        {"out", GC_FLAG_STRING, &out, 0, 0, NULL, 0},
        {"dtype", GC_FLAG_CHOICE, dtype, 0, 0, "fp32|bf16", sizeof dtype},
        {"help", GC_FLAG_SWITCH, &help, 0, 0, NULL, 0},
    };
    int rc = gc_flags_parse("replicate export", argc, argv, flags,
                            (int)(sizeof flags / sizeof flags[0]), NULL, 0, NULL);
    if (rc) return rc;
    if (help) return fputs(EXPORT_HELP, stdout), 0;
    if (!out) return cli_usage_error("export", "--out is required");
    if (!ckpt == !stage) return cli_usage_error("export", "give one of --checkpoint, --rm-stage");
    gc_st_dtype dt = strcmp(dtype, "bf16") ? GC_ST_F32 : GC_ST_BF16;
    if (ckpt) {
        gc_model m;
        if (gc_ckpt_load_any(ckpt, &m) != GC_OK) return cli_runtime_error("export");
        gc_status s = gc_hf_save(out, &m, dt);
        gc_model_free(&m);
        return s == GC_OK ? 0 : cli_runtime_error("export");
    }
    char ck[4096], hd[4096], gp[4096];
    snprintf(ck, sizeof ck, "%s/rm.ckpt", stage);
    snprintf(hd, sizeof hd, "%s/rm.head", stage);
    snprintf(gp, sizeof gp, "%s/goal.json", stage);
    gc_rm rm;
    if (gc_rm_load(&rm, ck, hd) != GC_OK) return cli_runtime_error("export");
    int D = rm.model.cfg.dim;
    float *goal = NULL;
    gc_status s = GC_OK;
    FILE *f = fopen(gp, "r");
    if (f) { /* the goal state its stage wrote (math_write_goal: {"goal": [D numbers], ...}) */
        fclose(f);
        cJSON *j = NULL;
        goal = malloc(sizeof(float) * D);
        s = goal ? gc_json_read(gp, &j) : gc_fail(GC_ERR_NOMEM, "%s: out of memory", gp);
        if (s == GC_OK) s = gc_json_floats(gp, j, "goal", goal, (size_t)D);
        cJSON_Delete(j);
    }
    if (s == GC_OK) s = gc_hf_save_rm(out, &rm, goal, dt);
    free(goal);
    gc_rm_free(&rm);
    return s == GC_OK ? 0 : cli_runtime_error("export");
}
