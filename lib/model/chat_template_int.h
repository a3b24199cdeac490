/* chat_template_int: what the chat-template parser (chat_template_parse.c) and evaluator
 * (chat_template.c) share: the values, the expression and template trees, and one render's state
 * (its allocations, all freed when the render ends, its scopes, its output and its first error).
 * Internal to lib/model; the interface is chat_template.h. */
#ifndef GC_CHAT_TEMPLATE_INT_H
#define GC_CHAT_TEMPLATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/util/base.h"

/* ---- values ---- */

typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_STR, V_LIST, V_DICT } vtype;

typedef struct {
    vtype t;
    int64_t i;      /* V_BOOL, V_INT */
    const char *s;  /* V_STR */
    const cJSON *j; /* V_LIST (array), V_DICT (object) */
} val;

/* ---- expressions ---- */

typedef enum {
    E_LIT,
    E_NAME,
    E_LIST,
    E_ATTR,
    E_INDEX,
    E_SLICE,
    E_CALL,
    E_FILTER,
    E_TEST,
    E_NOT,
    E_NEG,
    E_AND,
    E_OR,
    E_BIN,
    E_COND
} ekind;

typedef struct expr {
    ekind k;
    int pos;                /* offset in the template, for messages */
    char op[4];             /* E_BIN: + - * // % ~ == != < > <= >= in ni (not in) */
    char *name;             /* E_NAME, E_ATTR, E_CALL (method or function), E_FILTER, E_TEST */
    val lit;                /* E_LIT */
    int negate;             /* E_TEST: is not */
    struct expr *a, *b, *c; /* operands: object / left / condition ... */
    struct expr **args;     /* E_LIST items, E_CALL / E_FILTER arguments */
    int nargs;
    int has_a, has_b; /* E_SLICE: bounds given */
} expr;

/* ---- the tree ---- */

typedef enum { N_TEXT, N_OUT, N_IF, N_FOR, N_SET } nkind;

typedef struct node {
    nkind k;
    int pos;
    char *text;   /* N_TEXT */
    expr *e;      /* N_OUT, N_SET value, N_FOR iterable */
    char *name;   /* N_SET, N_FOR variable */
    expr **conds; /* N_IF: conditions (nconds), then bodies (nconds + 1, the last else) */
    struct node ***bodies;
    int *nbody;
    int nconds;
    struct node **body; /* N_FOR */
    int nb;
} node;

/* ---- the state of one render: allocations, scopes, output, the first error ---- */

typedef struct {
    char *name;
    val v;
} binding;

typedef struct {
    const char *tname, *src;
    void **allocs;
    int nalloc, capalloc;
    void **jsons; /* cJSON trees */
    int njson, capjson;
    binding *vars;
    int nvars, capvars, frame; /* bindings at or above frame belong to the innermost scope */
    char *out;
    size_t len, cap;
    gc_status err;
    int oom;
} state;

/* p (malloc'd) freed when the render ends; NULL (and the state out of memory) when p is */
void *ct_keep(state *s, void *p);
/* j deleted when the render ends */
cJSON *ct_keep_json(state *s, cJSON *j);
/* zeroed memory, and a copy of p[0, n) with its NUL, both freed when the render ends */
void *ct_alloc(state *s, size_t n);
char *ct_sdup(state *s, const char *p, size_t n);
/* records the first error, at template offset pos (named by line and column) */
void ct_fail(state *s, int pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ct_failed(const state *s);
/* the template s->src as a tree: body[0, *n) */
int ct_parse(state *s, node ***body, int *n);

#endif
