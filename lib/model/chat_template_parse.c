/* chat_template_parse: the template cut into text and tags (trim_blocks, lstrip_blocks and "-"
 * whitespace control), tags and expressions parsed by recursive descent into the tree that
 * chat_template.c evaluates; and the render state's allocations and errors. */
#include "chat_template_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* appends p to the growable list (*v, *n, *cap); 0 when out of memory */
static int push(void ***v, int *n, int *cap, void *p) {
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        void **a = realloc(*v, sizeof *a * c);
        if (!a) return 0;
        *v = a, *cap = c;
    }
    (*v)[(*n)++] = p;
    return 1;
}

/* p (malloc'd) freed when the render ends */
void *ct_keep(state *s, void *p) {
    if (p && push(&s->allocs, &s->nalloc, &s->capalloc, p)) return p;
    free(p);
    s->oom = 1;
    return NULL;
}

/* j deleted when the render ends */
cJSON *ct_keep_json(state *s, cJSON *j) {
    if (j && push(&s->jsons, &s->njson, &s->capjson, j)) return j;
    cJSON_Delete(j);
    s->oom = 1;
    return NULL;
}

void *ct_alloc(state *s, size_t n) {
    return ct_keep(s, calloc(1, n ? n : 1));
}

char *ct_sdup(state *s, const char *p, size_t n) {
    char *d = ct_alloc(s, n + 1);
    if (d) memcpy(d, p, n);
    return d;
}

/* records the first error, at template offset pos */
void ct_fail(state *s, int pos, const char *fmt, ...) {
    if (s->err != GC_OK) return;
    int line = 1, col = 1;
    for (int i = 0; i < pos && s->src[i]; i++) {
        if (s->src[i] == '\n')
            line++, col = 1;
        else
            col++;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->err =
        gc_fail(GC_ERR_FORMAT, "%s: chat template line %d column %d: %s", s->tname, line, col, msg);
}

int ct_failed(const state *s) {
    return s->err != GC_OK || s->oom;
}

/* ---- expression tokens ---- */

typedef enum { T_END, T_NAME, T_STR, T_INT, T_OP } ttype;

typedef struct {
    ttype t;
    int pos;
    const char *p; /* in the source */
    int n;
    char *str; /* T_STR: the unescaped text */
    int64_t i;
} tok;

typedef struct {
    state *s;
    tok *t;
    int n, at;
} parser;

static const char *const OPS[] = {"==", "!=", "<=", ">=", "//", "(", ")", "[", "]", ".", ",",
                                  ":",  "|",  "+",  "-",  "*",  "%", "~", "<", ">", "=", "/"};

/* cuts src[a, b) into tokens */
static int lex(state *s, int a, int b, parser *ps) {
    int cap = 16;
    ps->s = s, ps->n = 0, ps->at = 0;
    ps->t = ct_alloc(s, sizeof(tok) * cap);
    const char *src = s->src;
    for (int i = a; i <= b && ps->t;) {
        if (ps->n + 1 >= cap) {
            tok *nt = ct_alloc(s, sizeof(tok) * cap * 2);
            if (!nt) return 0;
            memcpy(nt, ps->t, sizeof(tok) * cap);
            ps->t = nt, cap *= 2;
        }
        tok *t = &ps->t[ps->n];
        memset(t, 0, sizeof *t);
        t->pos = i, t->p = src + i;
        if (i == b) {
            t->t = T_END;
            ps->n++;
            return 1;
        }
        char c = src[i];
        if (isspace((unsigned char)c)) {
            i++;
            continue;
        }
        if (isalpha((unsigned char)c) || c == '_') {
            int j = i;
            while (j < b && (isalnum((unsigned char)src[j]) || src[j] == '_'))
                j++;
            t->t = T_NAME, t->n = j - i, i = j;
        } else if (isdigit((unsigned char)c)) {
            int j = i;
            int64_t v = 0;
            while (j < b && isdigit((unsigned char)src[j])) {
                if (v > (INT64_MAX - 9) / 10) {
                    ct_fail(s, i, "integer too large");
                    return 0;
                }
                v = v * 10 + (src[j++] - '0');
            }
            if (j < b && src[j] == '.' && j + 1 < b && isdigit((unsigned char)src[j + 1])) {
                ct_fail(s, i, "floating-point numbers are not supported");
                return 0;
            }
            t->t = T_INT, t->i = v, t->n = j - i, i = j;
        } else if (c == '\'' || c == '"') {
            char *buf = ct_alloc(s, (size_t)(b - i) + 1);
            if (!buf) return 0;
            int j = i + 1, o = 0;
            while (j < b && src[j] != c) {
                if (src[j] == '\\' && j + 1 < b) {
                    char e = src[++j];
                    buf[o++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
                    j++;
                } else {
                    buf[o++] = src[j++];
                }
            }
            if (j >= b) {
                ct_fail(s, i, "unterminated string");
                return 0;
            }
            t->t = T_STR, t->str = buf, t->n = j + 1 - i, i = j + 1;
        } else {
            size_t k = 0;
            for (; k < sizeof OPS / sizeof OPS[0]; k++) {
                size_t n = strlen(OPS[k]);
                if ((int)n <= b - i && !strncmp(src + i, OPS[k], n)) break;
            }
            if (k == sizeof OPS / sizeof OPS[0]) {
                ct_fail(s, i, "unexpected character '%c'", c);
                return 0;
            }
            t->t = T_OP, t->n = (int)strlen(OPS[k]), i += t->n;
        }
        ps->n++;
    }
    return ps->t != NULL;
}

static tok *peek(parser *p) {
    return &p->t[p->at];
}
static int is_op(const tok *t, const char *op) {
    return t->t == T_OP && t->n == (int)strlen(op) && !strncmp(t->p, op, (size_t)t->n);
}
static int is_word(const tok *t, const char *w) {
    return t->t == T_NAME && t->n == (int)strlen(w) && !strncmp(t->p, w, (size_t)t->n);
}
static int accept_op(parser *p, const char *op) {
    if (!is_op(peek(p), op)) return 0;
    p->at++;
    return 1;
}
static int accept_word(parser *p, const char *w) {
    if (!is_word(peek(p), w)) return 0;
    p->at++;
    return 1;
}
static int expect_op(parser *p, const char *op) {
    if (accept_op(p, op)) return 1;
    ct_fail(p->s, peek(p)->pos, "expected '%s'", op);
    return 0;
}
static char *word(parser *p) {
    tok *t = peek(p);
    if (t->t != T_NAME) {
        ct_fail(p->s, t->pos, "expected a name");
        return NULL;
    }
    p->at++;
    return ct_sdup(p->s, t->p, (size_t)t->n);
}

static expr *mk(parser *p, ekind k, int pos) {
    expr *e = ct_alloc(p->s, sizeof *e);
    if (e) e->k = k, e->pos = pos;
    return e;
}

static expr *parse_expr(parser *p);

/* arguments after '(' up to ')' */
static int parse_args(parser *p, expr *e) {
    expr *args[16];
    int n = 0;
    if (!accept_op(p, ")")) {
        do {
            if (n == 16) {
                ct_fail(p->s, peek(p)->pos, "too many arguments");
                return 0;
            }
            if (!(args[n++] = parse_expr(p))) return 0;
        } while (accept_op(p, ","));
        if (!expect_op(p, ")")) return 0;
    }
    e->args = ct_alloc(p->s, sizeof(expr *) * (size_t)(n ? n : 1));
    if (!e->args) return 0;
    memcpy(e->args, args, sizeof(expr *) * (size_t)n);
    e->nargs = n;
    return 1;
}

static expr *parse_primary(parser *p) {
    tok *t = peek(p);
    expr *e = NULL;
    if (t->t == T_STR) {
        p->at++;
        if ((e = mk(p, E_LIT, t->pos))) e->lit = (val){.t = V_STR, .s = t->str};
    } else if (t->t == T_INT) {
        p->at++;
        if ((e = mk(p, E_LIT, t->pos))) e->lit = (val){.t = V_INT, .i = t->i};
    } else if (is_word(t, "true") || is_word(t, "True") || is_word(t, "false") ||
               is_word(t, "False")) {
        p->at++;
        if ((e = mk(p, E_LIT, t->pos))) e->lit = (val){.t = V_BOOL, .i = (t->p[0] | 32) == 't'};
    } else if (is_word(t, "none") || is_word(t, "None")) {
        p->at++;
        if ((e = mk(p, E_LIT, t->pos))) e->lit = (val){.t = V_NONE};
    } else if (t->t == T_NAME) {
        if ((e = mk(p, E_NAME, t->pos))) e->name = word(p);
    } else if (accept_op(p, "(")) {
        e = parse_expr(p);
        if (e && !expect_op(p, ")")) return NULL;
    } else if (accept_op(p, "[")) {
        if ((e = mk(p, E_LIST, t->pos))) {
            expr *items[64];
            int n = 0;
            if (!accept_op(p, "]")) {
                do {
                    if (n == 64) {
                        ct_fail(p->s, peek(p)->pos, "list literal too long");
                        return NULL;
                    }
                    if (!(items[n++] = parse_expr(p))) return NULL;
                } while (accept_op(p, ","));
                if (!expect_op(p, "]")) return NULL;
            }
            e->args = ct_alloc(p->s, sizeof(expr *) * (size_t)(n ? n : 1));
            if (!e->args) return NULL;
            memcpy(e->args, items, sizeof(expr *) * (size_t)n);
            e->nargs = n;
        }
    } else {
        ct_fail(p->s, t->pos, t->t == T_END ? "expression expected" : "unexpected '%.*s'", t->n,
                t->p);
        return NULL;
    }
    /* postfix: .name, .name(args), [index], [a:b], (args) of a function name */
    while (e && !ct_failed(p->s)) {
        tok *u = peek(p);
        if (accept_op(p, ".")) {
            expr *a = mk(p, E_ATTR, u->pos);
            if (!a || !(a->name = word(p))) return NULL;
            a->a = e, e = a;
            if (accept_op(p, "(")) {
                a->k = E_CALL;
                if (!parse_args(p, a)) return NULL;
            }
        } else if (accept_op(p, "[")) {
            expr *x = mk(p, E_INDEX, u->pos);
            if (!x) return NULL;
            x->a = e, e = x;
            if (!is_op(peek(p), ":") && !(x->b = parse_expr(p))) return NULL;
            if (accept_op(p, ":")) {
                x->k = E_SLICE, x->has_a = x->b != NULL;
                if (!is_op(peek(p), "]")) {
                    if (!(x->c = parse_expr(p))) return NULL;
                    x->has_b = 1;
                }
            }
            if (!expect_op(p, "]")) return NULL;
        } else if (e->k == E_NAME && accept_op(p, "(")) {
            expr *c = mk(p, E_CALL, u->pos);
            if (!c) return NULL;
            c->name = e->name, c->a = NULL, e = c;
            if (!parse_args(p, c)) return NULL;
        } else {
            break;
        }
    }
    return e;
}

static expr *parse_filtered(parser *p) {
    expr *e = parse_primary(p);
    while (e && is_op(peek(p), "|")) {
        int pos = peek(p)->pos;
        p->at++;
        expr *f = mk(p, E_FILTER, pos);
        if (!f || !(f->name = word(p))) return NULL;
        f->a = e, e = f;
        if (accept_op(p, "(") && !parse_args(p, f)) return NULL;
    }
    return e;
}

static expr *parse_unary(parser *p) {
    tok *t = peek(p);
    if (accept_op(p, "-")) {
        expr *e = mk(p, E_NEG, t->pos);
        if (e && !(e->a = parse_unary(p))) return NULL;
        return e;
    }
    return parse_filtered(p);
}

static expr *bin(parser *p, const char *op, int pos, expr *l, expr *r) {
    if (!l || !r) return NULL;
    expr *e = mk(p, E_BIN, pos);
    if (e) snprintf(e->op, sizeof e->op, "%s", op), e->a = l, e->b = r;
    return e;
}

/* one left-associative level of the binary operators ops (NULL-ended) over operands of next */
static expr *parse_level(parser *p, const char *const *ops, expr *(*next)(parser *)) {
    expr *e = next(p);
    for (;;) {
        tok *t = peek(p);
        const char *op = NULL;
        for (int i = 0; ops[i] && !op; i++)
            if (is_op(t, ops[i])) op = ops[i];
        if (!op || !e) return e;
        p->at++;
        e = bin(p, op, t->pos, e, next(p));
    }
}

static expr *parse_mul(parser *p) {
    static const char *const ops[] = {"*", "//", "%", NULL};
    return parse_level(p, ops, parse_unary);
}

static expr *parse_add(parser *p) {
    static const char *const ops[] = {"+", "-", "~", NULL};
    return parse_level(p, ops, parse_mul);
}

static expr *parse_cmp(parser *p) {
    expr *e = parse_add(p);
    for (;;) {
        tok *t = peek(p);
        static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
        const char *op = NULL;
        for (size_t i = 0; i < 6 && !op; i++)
            if (is_op(t, ops[i])) op = ops[i];
        if (!e) return NULL;
        if (op) {
            p->at++;
            e = bin(p, op, t->pos, e, parse_add(p));
        } else if (is_word(t, "in")) {
            p->at++;
            e = bin(p, "in", t->pos, e, parse_add(p));
        } else if (is_word(t, "not") && is_word(&p->t[p->at + 1], "in")) {
            p->at += 2;
            e = bin(p, "ni", t->pos, e, parse_add(p));
        } else if (is_word(t, "is")) {
            p->at++;
            expr *x = mk(p, E_TEST, t->pos);
            if (!x) return NULL;
            x->negate = accept_word(p, "not");
            if (is_word(peek(p), "none") || is_word(peek(p), "None")) {
                p->at++;
                x->name = "none";
            } else if (!(x->name = word(p))) {
                return NULL;
            }
            x->a = e, e = x;
        } else {
            return e;
        }
    }
}

static expr *parse_not(parser *p) {
    tok *t = peek(p);
    if (accept_word(p, "not")) {
        expr *e = mk(p, E_NOT, t->pos);
        if (e && !(e->a = parse_not(p))) return NULL;
        return e;
    }
    return parse_cmp(p);
}

static expr *parse_and(parser *p) {
    expr *e = parse_not(p);
    while (e && is_word(peek(p), "and")) {
        int pos = peek(p)->pos;
        p->at++;
        expr *x = mk(p, E_AND, pos);
        if (!x || !(x->b = parse_not(p))) return NULL;
        x->a = e, e = x;
    }
    return e;
}

static expr *parse_or(parser *p) {
    expr *e = parse_and(p);
    while (e && is_word(peek(p), "or")) {
        int pos = peek(p)->pos;
        p->at++;
        expr *x = mk(p, E_OR, pos);
        if (!x || !(x->b = parse_and(p))) return NULL;
        x->a = e, e = x;
    }
    return e;
}

static expr *parse_expr(parser *p) {
    expr *e = parse_or(p);
    if (e && is_word(peek(p), "if")) { /* x if c else y */
        int pos = peek(p)->pos;
        p->at++;
        expr *x = mk(p, E_COND, pos);
        if (!x || !(x->c = parse_or(p))) return NULL;
        x->a = e;
        if (accept_word(p, "else") && !(x->b = parse_expr(p))) return NULL;
        e = x;
    }
    return e;
}

/* ---- the template: cutting and parsing ---- */

typedef enum { S_TEXT, S_OUT, S_TAG } skind;

typedef struct {
    skind k;
    int a, b; /* the text, or the tag's inside, in the source */
    int pos;
    char *text; /* S_TEXT after whitespace control */
} seg;

typedef struct {
    seg *v;
    int n, at;
} segs;

static int cut(state *s, segs *out) {
    const char *src = s->src;
    int len = (int)strlen(src), cap = 16, strip_next = 0, trim_next = 0;
    out->v = ct_alloc(s, sizeof(seg) * cap), out->n = out->at = 0;
    for (int i = 0; i < len && out->v;) {
        /* the text up to the next tag */
        int j = i;
        while (j < len &&
               !(src[j] == '{' && (src[j + 1] == '{' || src[j + 1] == '%' || src[j + 1] == '#')))
            j++;
        int ta = i, tb = j;
        if (strip_next)
            while (ta < tb && isspace((unsigned char)src[ta]))
                ta++;
        else if (trim_next && ta < tb && src[ta] == '\n')
            ta++;
        strip_next = trim_next = 0;
        int block = j < len && src[j + 1] != '{';
        int minus = j < len && src[j + 2] == '-';
        if (minus) /* {%- or {{-: the whitespace before */
            while (tb > ta && isspace((unsigned char)src[tb - 1]))
                tb--;
        else if (block) { /* lstrip_blocks: spaces and tabs from the line's start */
            int k = tb;
            while (k > ta && (src[k - 1] == ' ' || src[k - 1] == '\t'))
                k--;
            if (k == 0 || src[k - 1] == '\n') tb = k;
        }
        if (out->n + 2 >= cap) {
            seg *nv = ct_alloc(s, sizeof(seg) * cap * 2);
            if (!nv) return 0;
            memcpy(nv, out->v, sizeof(seg) * cap);
            out->v = nv, cap *= 2;
        }
        if (tb > ta) {
            seg *g = &out->v[out->n++];
            g->k = S_TEXT, g->pos = ta, g->text = ct_sdup(s, src + ta, (size_t)(tb - ta));
        }
        if (j >= len) break;
        char kind = src[j + 1], close = kind == '{' ? '}' : kind;
        int k = j + 2, found = -1;
        for (; k + 1 < len; k++) {
            if (kind != '#' && (src[k] == '\'' || src[k] == '"')) { /* strings may hold braces */
                int q0 = k;
                char q = src[k++];
                while (k < len && src[k] != q)
                    k += src[k] == '\\' ? 2 : 1;
                if (k >= len) {
                    ct_fail(s, q0, "unterminated string");
                    return 0;
                }
                continue;
            }
            if (src[k] == close && src[k + 1] == '}') {
                found = k;
                break;
            }
        }
        if (found < 0) {
            ct_fail(s, j, "unclosed '{%c'", kind);
            return 0;
        }
        int ia = j + 2 + minus, ib = found;
        if (ib > ia && src[ib - 1] == '-')
            ib--, strip_next = 1;
        else if (kind != '{')
            trim_next = 1; /* trim_blocks */
        if (kind != '#') {
            seg *g = &out->v[out->n++];
            g->k = kind == '{' ? S_OUT : S_TAG, g->a = ia, g->b = ib, g->pos = j;
        }
        i = found + 2;
    }
    return out->v != NULL;
}

static int parse_body(state *s, segs *g, node ***body, int *n, const char *const *stops,
                      char **stopped, parser *sp);

/* the tag's first word, and a parser positioned after it */
static char *tag_word(state *s, const seg *g, parser *p) {
    if (!lex(s, g->a, g->b, p)) return NULL;
    return word(p);
}

static int at_end(parser *p) {
    if (peek(p)->t == T_END) return 1;
    ct_fail(p->s, peek(p)->pos, "unexpected '%.*s'", peek(p)->n, peek(p)->p);
    return 0;
}

static node *parse_tag(state *s, segs *g, const seg *sg, parser *p, const char *w) {
    node *nd = ct_alloc(s, sizeof *nd);
    if (!nd) return NULL;
    nd->pos = sg->pos;
    if (!strcmp(w, "set")) {
        nd->k = N_SET;
        if (!(nd->name = word(p)) || !expect_op(p, "=") || !(nd->e = parse_expr(p)) || !at_end(p))
            return NULL;
        return nd;
    }
    if (!strcmp(w, "for")) {
        nd->k = N_FOR;
        if (!(nd->name = word(p))) return NULL;
        if (!accept_word(p, "in")) {
            ct_fail(s, peek(p)->pos, "expected 'in'");
            return NULL;
        }
        if (!(nd->e = parse_expr(p)) || !at_end(p)) return NULL;
        static const char *const stops[] = {"endfor", NULL};
        char *stop = NULL;
        if (!parse_body(s, g, &nd->body, &nd->nb, stops, &stop, p)) return NULL;
        if (!stop) {
            ct_fail(s, sg->pos, "'for' without 'endfor'");
            return NULL;
        }
        return nd;
    }
    if (!strcmp(w, "if")) {
        nd->k = N_IF;
        enum { MAXC = 32 };
        nd->conds = ct_alloc(s, sizeof(expr *) * MAXC);
        nd->bodies = ct_alloc(s, sizeof(node **) * (MAXC + 1));
        nd->nbody = ct_alloc(s, sizeof(int) * (MAXC + 1));
        if (!nd->conds || !nd->bodies || !nd->nbody) return NULL;
        static const char *const stops[] = {"elif", "else", "endif", NULL};
        for (;;) {
            if (nd->nconds == MAXC) {
                ct_fail(s, sg->pos, "too many elif branches");
                return NULL;
            }
            if (!(nd->conds[nd->nconds] = parse_expr(p)) || !at_end(p)) return NULL;
            char *stop = NULL; /* p becomes the stop tag's parser, after its word */
            if (!parse_body(s, g, &nd->bodies[nd->nconds], &nd->nbody[nd->nconds], stops, &stop, p))
                return NULL;
            nd->nconds++;
            if (!stop) {
                ct_fail(s, sg->pos, "'if' without 'endif'");
                return NULL;
            }
            if (!strcmp(stop, "endif")) return nd;
            if (!strcmp(stop, "else")) {
                static const char *const end[] = {"endif", NULL};
                if (!at_end(p)) return NULL;
                if (!parse_body(s, g, &nd->bodies[nd->nconds], &nd->nbody[nd->nconds], end, &stop,
                                p))
                    return NULL;
                if (!stop) {
                    ct_fail(s, sg->pos, "'if' without 'endif'");
                    return NULL;
                }
                return nd;
            }
        }
    }
    ct_fail(s, sg->pos, "unsupported tag '%s'", w);
    return NULL;
}

/* parses segments until one of the stop tags (*stopped set to it, *sp to its parser after its
 * word) or the end (*stopped NULL) */
static int parse_body(state *s, segs *g, node ***body, int *n, const char *const *stops,
                      char **stopped, parser *sp) {
    int cap = 8;
    *body = ct_alloc(s, sizeof(node *) * cap), *n = 0, *stopped = NULL;
    while (*body && g->at < g->n) {
        seg *sg = &g->v[g->at++];
        node *nd = NULL;
        if (sg->k == S_TEXT) {
            if ((nd = ct_alloc(s, sizeof *nd)))
                nd->k = N_TEXT, nd->text = sg->text, nd->pos = sg->pos;
        } else if (sg->k == S_OUT) {
            parser p;
            if (!lex(s, sg->a, sg->b, &p)) return 0;
            if ((nd = ct_alloc(s, sizeof *nd))) {
                nd->k = N_OUT, nd->pos = sg->pos;
                if (!(nd->e = parse_expr(&p)) || !at_end(&p)) return 0;
            }
        } else {
            parser p;
            char *w = tag_word(s, sg, &p);
            if (!w) return 0;
            for (int i = 0; stops && stops[i]; i++)
                if (!strcmp(w, stops[i])) {
                    *sp = p;
                    *stopped = w;
                    if (strcmp(w, "elif") && strcmp(w, "else") && !at_end(&p)) return 0;
                    return 1;
                }
            if (!strcmp(w, "endfor") || !strcmp(w, "endif") || !strcmp(w, "elif") ||
                !strcmp(w, "else")) {
                ct_fail(s, sg->pos, "'%s' without its opening tag", w);
                return 0;
            }
            nd = parse_tag(s, g, sg, &p, w);
        }
        if (!nd) return 0;
        if (*n == cap) {
            node **nb = ct_alloc(s, sizeof(node *) * cap * 2);
            if (!nb) return 0;
            memcpy(nb, *body, sizeof(node *) * cap);
            *body = nb, cap *= 2;
        }
        (*body)[(*n)++] = nd;
    }
    return *body != NULL && !ct_failed(s);
}

int ct_parse(state *s, node ***body, int *n) {
    segs g;
    char *stop = NULL;
    parser unused;
    return cut(s, &g) && parse_body(s, &g, body, n, NULL, &stop, &unused);
}
