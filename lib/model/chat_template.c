/* chat_template (chat_template.h): the tree of chat_template_parse.c evaluated over cJSON
 * values, and tokenizer_config.json read. */
#include "chat_template.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template_int.h"
#include "lib/util/jsonio.h"

/* ---- evaluation ---- */

static val from_json(const cJSON *j) {
    if (!j) return (val){.t = V_UNDEF};
    if (cJSON_IsString(j)) return (val){.t = V_STR, .s = j->valuestring};
    if (cJSON_IsBool(j)) return (val){.t = V_BOOL, .i = cJSON_IsTrue(j)};
    if (cJSON_IsNumber(j)) return (val){.t = V_INT, .i = (int64_t)j->valuedouble};
    if (cJSON_IsArray(j)) return (val){.t = V_LIST, .j = j};
    if (cJSON_IsObject(j)) return (val){.t = V_DICT, .j = j};
    return (val){.t = V_NONE};
}

/* a value as a new cJSON item (the caller owns it) */
static cJSON *to_json(val v) {
    switch (v.t) {
    case V_STR:
        return cJSON_CreateString(v.s);
    case V_BOOL:
        return cJSON_CreateBool((int)v.i);
    case V_INT:
        return cJSON_CreateNumber((double)v.i);
    case V_LIST:
    case V_DICT:
        return cJSON_Duplicate(v.j, 1);
    default:
        return cJSON_CreateNull();
    }
}

static int truthy(val v) {
    switch (v.t) {
    case V_BOOL:
    case V_INT:
        return v.i != 0;
    case V_STR:
        return v.s[0] != 0;
    case V_LIST:
    case V_DICT:
        return cJSON_GetArraySize(v.j) > 0;
    default:
        return 0;
    }
}

/* the text of a value as {{ }} prints it */
static const char *text_of(state *s, val v) {
    char buf[32];
    switch (v.t) {
    case V_STR:
        return v.s;
    case V_INT:
        snprintf(buf, sizeof buf, "%lld", (long long)v.i);
        return ct_sdup(s, buf, strlen(buf));
    case V_BOOL:
        return v.i ? "True" : "False";
    case V_NONE:
        return "None";
    case V_UNDEF:
        return "";
    default: {
        char *t = cJSON_PrintUnformatted(v.j);
        return t ? ct_keep(s, t) : "";
    }
    }
}

static val str_val(state *s, const char *p, size_t n) {
    char *d = ct_sdup(s, p, n);
    return d ? (val){.t = V_STR, .s = d} : (val){.t = V_UNDEF};
}

static int equal(val a, val b) {
    if ((a.t == V_INT || a.t == V_BOOL) && (b.t == V_INT || b.t == V_BOOL)) return a.i == b.i;
    if (a.t != b.t) return 0;
    if (a.t == V_STR) return !strcmp(a.s, b.s);
    if (a.t == V_LIST || a.t == V_DICT) return cJSON_Compare(a.j, b.j, 1);
    return 1; /* none, undefined */
}

static val lookup(state *s, const char *name) {
    for (int i = s->nvars - 1; i >= 0; i--)
        if (!strcmp(s->vars[i].name, name)) return s->vars[i].v;
    return (val){.t = V_UNDEF};
}

static void bind(state *s, const char *name, val v) {
    for (int i = s->nvars - 1; i >= s->frame; i--)
        if (!strcmp(s->vars[i].name, name)) {
            s->vars[i].v = v;
            return;
        }
    if (s->nvars == s->capvars) {
        int cap = s->capvars ? 2 * s->capvars : 16;
        binding *b = realloc(s->vars, sizeof *b * cap);
        if (!b) {
            s->oom = 1;
            return;
        }
        s->vars = b, s->capvars = cap;
    }
    s->vars[s->nvars++] = (binding){(char *)name, v};
}

/* the byte offset of code point cp of the UTF-8 string t (its length past the end), and the
 * code point count: strings index and slice by code points, as Python's do */
static size_t cp_offset(const char *t, int64_t cp) {
    size_t i = 0;
    for (; t[i] && cp > 0; cp--)
        for (i++; (t[i] & 0xC0) == 0x80; i++)
            ;
    return i;
}
static int64_t cp_count(const char *t) {
    int64_t n = 0;
    for (; *t; t++)
        n += (*t & 0xC0) != 0x80;
    return n;
}

static val eval(state *s, const expr *e);

static val strip_chars(state *s, const char *t, int left, int right) {
    size_t a = 0, b = strlen(t);
    while (left && a < b && isspace((unsigned char)t[a]))
        a++;
    while (right && b > a && isspace((unsigned char)t[b - 1]))
        b--;
    return str_val(s, t + a, b - a);
}

static val case_map(state *s, const char *t, int mode) { /* 0 lower, 1 upper, 2 title */
    val v = str_val(s, t, strlen(t));
    if (v.t != V_STR) return v;
    char *d = (char *)v.s;
    int start = 1;
    for (; *d; d++) {
        int alpha = isalpha((unsigned char)*d);
        if (mode == 0 || (mode == 2 && !start)) *d = (char)tolower((unsigned char)*d);
        if (mode == 1 || (mode == 2 && start)) *d = (char)toupper((unsigned char)*d);
        start = !alpha;
    }
    return v;
}

static int argc_is(state *s, const expr *e, int lo, int hi) {
    if (e->nargs >= lo && e->nargs <= hi) return 1;
    ct_fail(s, e->pos, "'%s' takes %d to %d argument(s), got %d", e->name, lo, hi, e->nargs);
    return 0;
}

static val call(state *s, const expr *e) {
    val args[16];
    for (int i = 0; i < e->nargs; i++)
        args[i] = eval(s, e->args[i]);
    if (!e->a) { /* a function */
        if (!strcmp(e->name, "raise_exception") && argc_is(s, e, 1, 1)) {
            ct_fail(s, e->pos, "raise_exception: %s", text_of(s, args[0]));
            return (val){.t = V_UNDEF};
        }
        if (!ct_failed(s)) ct_fail(s, e->pos, "unsupported function '%s'", e->name);
        return (val){.t = V_UNDEF};
    }
    val o = eval(s, e->a);
    if (ct_failed(s)) return (val){.t = V_UNDEF};
    if (o.t == V_STR) {
        const char *m = e->name;
        if (!strcmp(m, "strip") && argc_is(s, e, 0, 0)) return strip_chars(s, o.s, 1, 1);
        if (!strcmp(m, "lstrip") && argc_is(s, e, 0, 0)) return strip_chars(s, o.s, 1, 0);
        if (!strcmp(m, "rstrip") && argc_is(s, e, 0, 0)) return strip_chars(s, o.s, 0, 1);
        if (!strcmp(m, "lower") && argc_is(s, e, 0, 0)) return case_map(s, o.s, 0);
        if (!strcmp(m, "upper") && argc_is(s, e, 0, 0)) return case_map(s, o.s, 1);
        if (!strcmp(m, "title") && argc_is(s, e, 0, 0)) return case_map(s, o.s, 2);
        if ((!strcmp(m, "startswith") || !strcmp(m, "endswith")) && argc_is(s, e, 1, 1)) {
            if (args[0].t != V_STR) {
                ct_fail(s, e->pos, "'%s' needs a string", m);
                return (val){.t = V_UNDEF};
            }
            size_t n = strlen(o.s), k = strlen(args[0].s);
            int r = k <= n && !strncmp(m[0] == 's' ? o.s : o.s + n - k, args[0].s, k);
            return (val){.t = V_BOOL, .i = r};
        }
    } else if (o.t == V_DICT && !strcmp(e->name, "get") && argc_is(s, e, 1, 2)) {
        if (args[0].t != V_STR) return e->nargs > 1 ? args[1] : (val){.t = V_NONE};
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(o.j, args[0].s);
        return j ? from_json(j) : e->nargs > 1 ? args[1] : (val){.t = V_NONE};
    }
    if (!ct_failed(s)) ct_fail(s, e->pos, "unsupported method '%s'", e->name);
    return (val){.t = V_UNDEF};
}

static val filter(state *s, const expr *e) {
    val v = eval(s, e->a);
    if (ct_failed(s)) return v;
    const char *f = e->name;
    if (!strcmp(f, "trim") && v.t == V_STR) return strip_chars(s, v.s, 1, 1);
    if (!strcmp(f, "upper") && v.t == V_STR) return case_map(s, v.s, 1);
    if (!strcmp(f, "lower") && v.t == V_STR) return case_map(s, v.s, 0);
    if (!strcmp(f, "string")) {
        const char *t = text_of(s, v);
        return str_val(s, t, strlen(t));
    }
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        if (v.t == V_STR) return (val){.t = V_INT, .i = cp_count(v.s)};
        if (v.t == V_LIST || v.t == V_DICT) return (val){.t = V_INT, .i = cJSON_GetArraySize(v.j)};
    }
    if ((!strcmp(f, "first") || !strcmp(f, "last")) && v.t == V_LIST) {
        int n = cJSON_GetArraySize(v.j);
        return n ? from_json(cJSON_GetArrayItem(v.j, f[0] == 'f' ? 0 : n - 1))
                 : (val){.t = V_UNDEF};
    }
    if (!strcmp(f, "default") && argc_is(s, e, 1, 1))
        return v.t == V_UNDEF ? eval(s, e->args[0]) : v;
    ct_fail(s, e->pos, "unsupported filter '%s' on this value", f);
    return (val){.t = V_UNDEF};
}

/* a[i], a[i:j] */
static val index_of(state *s, const expr *e) {
    val o = eval(s, e->a);
    if (e->k == E_INDEX) {
        val k = eval(s, e->b);
        if (ct_failed(s)) return o;
        if (o.t == V_DICT && k.t == V_STR)
            return from_json(cJSON_GetObjectItemCaseSensitive(o.j, k.s));
        if ((o.t == V_LIST || o.t == V_STR) && k.t == V_INT) {
            int64_t n = o.t == V_LIST ? cJSON_GetArraySize(o.j) : cp_count(o.s);
            int64_t i = k.i < 0 ? k.i + n : k.i;
            if (i < 0 || i >= n) return (val){.t = V_UNDEF};
            if (o.t == V_LIST) return from_json(cJSON_GetArrayItem(o.j, (int)i));
            size_t a = cp_offset(o.s, i);
            return str_val(s, o.s + a, cp_offset(o.s, i + 1) - a);
        }
        if (o.t == V_UNDEF) return o;
        ct_fail(s, e->pos, "cannot index this value");
        return (val){.t = V_UNDEF};
    }
    val a = e->has_a ? eval(s, e->b) : (val){.t = V_INT, .i = 0};
    val b = e->has_b ? eval(s, e->c) : (val){.t = V_UNDEF};
    if (ct_failed(s)) return o;
    if ((o.t != V_LIST && o.t != V_STR) || a.t != V_INT || (e->has_b && b.t != V_INT)) {
        ct_fail(s, e->pos, "slices take a list or a string and integer bounds");
        return (val){.t = V_UNDEF};
    }
    int64_t n = o.t == V_LIST ? cJSON_GetArraySize(o.j) : cp_count(o.s);
    int64_t lo = a.i < 0 ? a.i + n : a.i, hi = e->has_b ? (b.i < 0 ? b.i + n : b.i) : n;
    lo = lo < 0 ? 0 : lo > n ? n : lo;
    hi = hi < lo ? lo : hi > n ? n : hi;
    if (o.t == V_STR) {
        size_t x = cp_offset(o.s, lo);
        return str_val(s, o.s + x, cp_offset(o.s, hi) - x);
    }
    cJSON *arr = ct_keep_json(s, cJSON_CreateArray());
    for (int64_t i = lo; arr && i < hi; i++)
        if (!cJSON_AddItemReferenceToArray(arr, cJSON_GetArrayItem(o.j, (int)i))) s->oom = 1;
    return arr ? (val){.t = V_LIST, .j = arr} : (val){.t = V_UNDEF};
}

static val binary(state *s, const expr *e) {
    val a = eval(s, e->a), b = eval(s, e->b);
    if (ct_failed(s)) return a;
    const char *op = e->op;
    if (!strcmp(op, "==")) return (val){.t = V_BOOL, .i = equal(a, b)};
    if (!strcmp(op, "!=")) return (val){.t = V_BOOL, .i = !equal(a, b)};
    if (!strcmp(op, "~")) {
        const char *x = text_of(s, a), *y = text_of(s, b);
        size_t nx = strlen(x), ny = strlen(y);
        char *d = ct_alloc(s, nx + ny + 1);
        if (!d) return (val){.t = V_UNDEF};
        memcpy(d, x, nx), memcpy(d + nx, y, ny);
        return (val){.t = V_STR, .s = d};
    }
    if (!strcmp(op, "in") || !strcmp(op, "ni")) {
        int r = 0;
        if (b.t == V_STR && a.t == V_STR)
            r = strstr(b.s, a.s) != NULL;
        else if (b.t == V_LIST)
            for (const cJSON *x = b.j->child; x && !r; x = x->next)
                r = equal(a, from_json(x));
        else if (b.t == V_DICT && a.t == V_STR)
            r = cJSON_GetObjectItemCaseSensitive(b.j, a.s) != NULL;
        else {
            ct_fail(s, e->pos, "'in' needs a string, a list or a mapping on its right");
            return (val){.t = V_UNDEF};
        }
        return (val){.t = V_BOOL, .i = op[0] == 'i' ? r : !r};
    }
    if (!strcmp(op, "+") && a.t == V_STR && b.t == V_STR) {
        size_t nx = strlen(a.s), ny = strlen(b.s);
        char *d = ct_alloc(s, nx + ny + 1);
        if (!d) return (val){.t = V_UNDEF};
        memcpy(d, a.s, nx), memcpy(d + nx, b.s, ny);
        return (val){.t = V_STR, .s = d};
    }
    int ints = (a.t == V_INT || a.t == V_BOOL) && (b.t == V_INT || b.t == V_BOOL);
    if (ints) {
        int64_t x = a.i, y = b.i, r = 0;
        switch (op[0]) {
        case '+':
            r = x + y;
            break;
        case '-':
            r = x - y;
            break;
        case '*':
            r = x * y;
            break;
        case '/':
        case '%':
            if (!y) {
                ct_fail(s, e->pos, "division by zero");
                return (val){.t = V_UNDEF};
            }
            /* Python's floor division and modulo: the remainder takes the divisor's sign */
            r = op[0] == '/' ? x / y - ((x % y != 0) && ((x < 0) != (y < 0))) : ((x % y) + y) % y;
            break;
        case '<':
        case '>': {
            int lt = op[0] == '<', eq = op[1] == '=';
            return (val){.t = V_BOOL, .i = lt ? (eq ? x <= y : x < y) : (eq ? x >= y : x > y)};
        }
        }
        return (val){.t = V_INT, .i = r};
    }
    if ((op[0] == '<' || op[0] == '>') && a.t == V_STR && b.t == V_STR) {
        int c = strcmp(a.s, b.s), lt = op[0] == '<', eq = op[1] == '=';
        return (val){.t = V_BOOL, .i = lt ? (eq ? c <= 0 : c < 0) : (eq ? c >= 0 : c > 0)};
    }
    ct_fail(s, e->pos, "'%s' does not apply to these operands", op);
    return (val){.t = V_UNDEF};
}

static val eval(state *s, const expr *e) {
    if (ct_failed(s)) return (val){.t = V_UNDEF};
    switch (e->k) {
    case E_LIT:
        return e->lit;
    case E_NAME:
        return lookup(s, e->name);
    case E_LIST: {
        cJSON *arr = ct_keep_json(s, cJSON_CreateArray());
        for (int i = 0; arr && i < e->nargs; i++) {
            cJSON *x = to_json(eval(s, e->args[i]));
            if (!x || !cJSON_AddItemToArray(arr, x)) s->oom = 1, cJSON_Delete(x);
        }
        return arr ? (val){.t = V_LIST, .j = arr} : (val){.t = V_UNDEF};
    }
    case E_ATTR: {
        val o = eval(s, e->a);
        if (o.t == V_DICT) return from_json(cJSON_GetObjectItemCaseSensitive(o.j, e->name));
        if (o.t == V_UNDEF || o.t == V_NONE) return (val){.t = V_UNDEF};
        ct_fail(s, e->pos, "no attribute '%s' here", e->name);
        return (val){.t = V_UNDEF};
    }
    case E_INDEX:
    case E_SLICE:
        return index_of(s, e);
    case E_CALL:
        return call(s, e);
    case E_FILTER:
        return filter(s, e);
    case E_TEST: {
        val v = eval(s, e->a);
        int r;
        if (!strcmp(e->name, "defined"))
            r = v.t != V_UNDEF;
        else if (!strcmp(e->name, "undefined"))
            r = v.t == V_UNDEF;
        else if (!strcmp(e->name, "none"))
            r = v.t == V_NONE;
        else if (!strcmp(e->name, "string"))
            r = v.t == V_STR;
        else if (!strcmp(e->name, "number"))
            r = v.t == V_INT;
        else {
            ct_fail(s, e->pos, "unsupported test '%s'", e->name);
            return (val){.t = V_UNDEF};
        }
        return (val){.t = V_BOOL, .i = e->negate ? !r : r};
    }
    case E_NOT:
        return (val){.t = V_BOOL, .i = !truthy(eval(s, e->a))};
    case E_NEG: {
        val v = eval(s, e->a);
        if (v.t != V_INT) {
            ct_fail(s, e->pos, "'-' needs a number");
            return (val){.t = V_UNDEF};
        }
        return (val){.t = V_INT, .i = -v.i};
    }
    case E_AND: {
        val a = eval(s, e->a);
        return truthy(a) ? eval(s, e->b) : a;
    }
    case E_OR: {
        val a = eval(s, e->a);
        return truthy(a) ? a : eval(s, e->b);
    }
    case E_BIN:
        return binary(s, e);
    case E_COND:
        return truthy(eval(s, e->c)) ? eval(s, e->a) : e->b ? eval(s, e->b) : (val){.t = V_UNDEF};
    }
    return (val){.t = V_UNDEF};
}

static void emit(state *s, const char *t) {
    size_t n = strlen(t);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *o = realloc(s->out, cap);
        if (!o) {
            s->oom = 1;
            return;
        }
        s->out = o, s->cap = cap;
    }
    memcpy(s->out + s->len, t, n + 1);
    s->len += n;
}

static void run(state *s, node *const *body, int n) {
    for (int i = 0; i < n && !ct_failed(s); i++) {
        const node *nd = body[i];
        switch (nd->k) {
        case N_TEXT:
            emit(s, nd->text);
            break;
        case N_OUT: {
            val v = eval(s, nd->e);
            if (!ct_failed(s)) emit(s, text_of(s, v));
            break;
        }
        case N_SET: {
            val v = eval(s, nd->e);
            if (!ct_failed(s)) bind(s, nd->name, v);
            break;
        }
        case N_IF: {
            int k = 0;
            while (k < nd->nconds && !truthy(eval(s, nd->conds[k])))
                k++;
            if (!ct_failed(s)) run(s, nd->bodies[k], nd->nbody[k]);
            break;
        }
        case N_FOR: {
            val it = eval(s, nd->e);
            if (ct_failed(s)) break;
            if (it.t == V_UNDEF || it.t == V_NONE) break;
            if (it.t != V_LIST) {
                ct_fail(s, nd->pos, "'for' needs a list");
                break;
            }
            int len = cJSON_GetArraySize(it.j), idx = 0, outer = s->frame, base = s->nvars;
            for (const cJSON *x = it.j->child; x && !ct_failed(s); x = x->next, idx++) {
                s->frame = s->nvars = base; /* a fresh scope per iteration */
                cJSON *loop = ct_keep_json(s, cJSON_CreateObject());
                if (!loop) break;
                cJSON_AddNumberToObject(loop, "index0", idx);
                cJSON_AddNumberToObject(loop, "index", idx + 1);
                cJSON_AddNumberToObject(loop, "length", len);
                cJSON_AddBoolToObject(loop, "first", idx == 0);
                cJSON_AddBoolToObject(loop, "last", idx == len - 1);
                bind(s, "loop", (val){.t = V_DICT, .j = loop});
                bind(s, nd->name, from_json(x));
                run(s, nd->body, nd->nb);
            }
            s->nvars = base, s->frame = outer;
            break;
        }
        }
    }
}

gc_status gc_chat_render(const char *name, const char *tmpl, const cJSON *messages,
                         const gc_chat_vars *vars, char **out) {
    *out = NULL;
    state s = {.tname = name, .src = tmpl, .err = GC_OK};
    node **body = NULL;
    int n = 0;
    if (ct_parse(&s, &body, &n)) {
        bind(&s, "messages", from_json(messages));
        bind(&s, "add_generation_prompt",
             (val){.t = V_BOOL, .i = vars && vars->add_generation_prompt});
        if (vars && vars->bos_token) bind(&s, "bos_token", (val){.t = V_STR, .s = vars->bos_token});
        if (vars && vars->eos_token) bind(&s, "eos_token", (val){.t = V_STR, .s = vars->eos_token});
        for (const cJSON *x = vars && vars->extra ? vars->extra->child : NULL; x; x = x->next)
            bind(&s, x->string, from_json(x));
        s.frame = s.nvars;
        emit(&s, "");
        run(&s, body, n);
    }
    gc_status st = s.err;
    if (st == GC_OK && s.oom) st = gc_fail(GC_ERR_NOMEM, "%s: out of memory rendering", name);
    for (int i = 0; i < s.nalloc; i++)
        free(s.allocs[i]);
    for (int i = 0; i < s.njson; i++)
        cJSON_Delete((cJSON *)s.jsons[i]);
    free(s.allocs), free(s.jsons), free(s.vars);
    if (st == GC_OK)
        *out = s.out;
    else
        free(s.out);
    return st;
}

/* a token field: a string, or {"content": string} */
static char *token_text(const cJSON *j) {
    if (cJSON_IsString(j)) return strdup(j->valuestring);
    const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "content"));
    return c ? strdup(c) : NULL;
}

gc_status gc_tokenizer_config_load(const char *dir, char **tmpl, char **bos, char **eos) {
    *tmpl = *bos = *eos = NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    cJSON *j;
    GC_TRY(gc_json_read(path, &j));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
    const char *text = cJSON_GetStringValue(t);
    if (cJSON_IsArray(t))
        for (const cJSON *e = t->child; e && !text; e = e->next)
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"))
                            ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"))
                            : "",
                        "default"))
                text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "template"));
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bos_token");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "eos_token");
    *tmpl = text ? strdup(text) : NULL;
    *bos = b && !cJSON_IsNull(b) ? token_text(b) : NULL;
    *eos = e && !cJSON_IsNull(e) ? token_text(e) : NULL;
    gc_status s = GC_OK;
    if ((text && !*tmpl) || (b && !cJSON_IsNull(b) && !*bos) || (e && !cJSON_IsNull(e) && !*eos)) {
        s = gc_fail(GC_ERR_FORMAT, "%s: key '%s': expected a string or {\"content\": ...}", path,
                    text && !*tmpl ? "chat_template"
                    : (b && !*bos) ? "bos_token"
                                   : "eos_token");
        free(*tmpl), free(*bos), free(*eos);
        *tmpl = *bos = *eos = NULL;
    }
    cJSON_Delete(j);
    return s;
}

gc_status gc_chat_template_load(const char *dir, char **tmpl, char **bos, char **eos) {
    GC_TRY(gc_tokenizer_config_load(dir, tmpl, bos, eos));
    if (*tmpl) return GC_OK;
    free(*bos), free(*eos);
    *bos = *eos = NULL;
    return gc_fail(GC_ERR_FORMAT,
                   "%s/tokenizer_config.json: key 'chat_template': missing (a string, or a list "
                   "with a \"default\" template)",
                   dir);
}
