/* chat_template: Hugging Face chat templates (the Jinja text of tokenizer_config.json's
 * "chat_template") rendered over a conversation, so that prompts are formatted by the model's
 * own data, not by code.
 *
 * The subset of Jinja the Llama, Llama 2, CodeLlama and Mistral templates use, with the
 * environment transformers compiles them in (trim_blocks and lstrip_blocks: a newline right
 * after a block tag is dropped, spaces and tabs before a block tag on its line too):
 *   text, {{ expr }}, {% if %}/{% elif %}/{% else %}/{% endif %}, {% for x in expr %} (with
 *   loop.index0, index, first, last, length; assignments inside a loop stay in it) /
 *   {% endfor %}, {% set name = expr %}, {# comments #}, and "-" on either side of a tag to strip
 *   the whitespace there;
 *   expressions: string literals ('...' or "...", with \n \t \\ \' \" escapes), integers,
 *   true/false/none (also True/False/None), names, a.b, a['b'], a[i] (negative from the end),
 *   a[i:j], [x, y] lists, + (strings or integers), ~ (as strings), - * // %, ==, !=, <, >, <=, >=,
 *   in and not in, and, or, not, x if c else y, (...), filters | trim, length, upper, lower,
 *   first, last, default(x), string; tests is [not] defined / none / string / number;
 *   string methods strip, lstrip, rstrip, upper, lower, startswith, endswith, title; a mapping's
 *   get(key[, default]); raise_exception(message). Strings index, slice and count by code points
 *   (as Python's); upper, lower and title map ASCII letters only; integers follow Python (floor
 *   division, a remainder with the divisor's sign); True, False and None print as Python prints
 *   them.
 * Anything else is an error naming the template's line and column; raise_exception is an error
 * with its message. Undefined names render as nothing and are false, as in Jinja.
 *
 * Variables: "messages" (the conversation, a JSON array of {"role", "content"} objects),
 * "bos_token", "eos_token", "add_generation_prompt", plus every member of an optional extra
 * JSON object. Ownership: the caller frees *out.
 */
#ifndef GC_CHAT_TEMPLATE_H
#define GC_CHAT_TEMPLATE_H

#include <cjson/cJSON.h>

#include "lib/util/base.h"

typedef struct {
    const char *bos_token, *eos_token; /* NULL: undefined */
    int add_generation_prompt;
    const cJSON *extra; /* more variables (an object), or NULL */
} gc_chat_vars;

/* Renders template (named name in messages) over messages. */
gc_status gc_chat_render(const char *name, const char *tmpl, const cJSON *messages,
                         const gc_chat_vars *vars, char **out);

/* The chat template and the bos/eos tokens of dir/tokenizer_config.json: "chat_template" a
 * string, or a list of {"name", "template"} (the one named "default"); bos_token and eos_token a
 * string or {"content": ...}. The caller frees the three strings (bos/eos NULL when absent). */
gc_status gc_chat_template_load(const char *dir, char **tmpl, char **bos, char **eos);
/* The same fields where the template may be absent (*tmpl NULL): a model without a chat format. */
gc_status gc_tokenizer_config_load(const char *dir, char **tmpl, char **bos, char **eos);

#endif
