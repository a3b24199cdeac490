#include "mathans.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MA_MAX 1024 /* working buffer; longer answers are compared as written */

/* ---- extraction ---- */

static void copy_span(const char *s, size_t n, char *out, size_t cap) {
    if (!cap) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

/* the last occurrence of needle in text (NULL when none) */
static const char *last_of(const char *text, const char *needle) {
    const char *last = NULL;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        last = p;
    return last;
}

/* trims spaces, a final '.', and '$' signs at either end, in place */
static void tidy(char *s) {
    size_t n = strlen(s), a = 0;
    for (;;) {
        while (n > a && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '$' || s[n - 1] == '.'))
            n--;
        size_t a0 = a;
        while (a < n && (isspace((unsigned char)s[a]) || s[a] == '$'))
            a++;
        if (a == a0) break;
    }
    memmove(s, s + a, n - a);
    s[n - a] = 0;
}

int gc_ma_last_boxed(const char *text, char *out, size_t cap) {
    const char *b = last_of(text, "\\boxed"), *f = last_of(text, "\\fbox");
    const char *p = b && (!f || b > f) ? b + 6 : f ? f + 5 : NULL;
    if (!p) return 0;
    if (*p == ' ') { /* "\boxed 5" */
        const char *e = ++p;
        while (*e && *e != ' ' && *e != '$' && *e != '\n')
            e++;
        copy_span(p, (size_t)(e - p), out, cap);
        return 1;
    }
    if (*p != '{') return 0;
    int depth = 0;
    for (const char *e = p; *e; e++) {
        if (*e == '{') depth++;
        if (*e == '}' && --depth == 0) {
            copy_span(p + 1, (size_t)(e - p - 1), out, cap);
            return 1;
        }
    }
    return 0; /* unbalanced: no answer */
}

/* the rest of the line from p (to the sentence's end when stop_at_sentence) */
static void rest_of_line(const char *p, int stop_at_sentence, char *out, size_t cap) {
    const char *e = p;
    while (*e && *e != '\n') {
        if (stop_at_sentence && *e == '.' && (e[1] == ' ' || e[1] == '\n' || !e[1])) break;
        e++;
    }
    copy_span(p, (size_t)(e - p), out, cap);
    tidy(out);
}

gc_ma_kind gc_ma_extract(const char *text, char *out, size_t cap) {
    if (cap) out[0] = 0;
    if (gc_ma_last_boxed(text, out, cap)) {
        tidy(out);
        return GC_MA_BOXED;
    }
    const char *p = last_of(text, "####");
    if (p) {
        rest_of_line(p + 4, 0, out, cap);
        return GC_MA_HASHES;
    }
    if ((p = last_of(text, "answer is"))) {
        p += 9;
        if (*p == ':') p++;
        rest_of_line(p, 1, out, cap);
        return GC_MA_ANSWER_IS;
    }
    const char *a = NULL;
    for (p = text; (p = strstr(p, "A:")); p += 2)
        if (p == text || p[-1] == '\n') a = p;
    if (a) {
        rest_of_line(a + 2, 0, out, cap);
        return GC_MA_A_COLON;
    }
    return GC_MA_NONE;
}

/* ---- normalisation ---- */

/* replaces every occurrence of from by to in s (capacity MA_MAX) */
static void replace_all(char *s, const char *from, const char *to) {
    size_t nf = strlen(from), nt = strlen(to);
    char buf[MA_MAX];
    size_t o = 0;
    for (const char *p = s; *p;) {
        if (!strncmp(p, from, nf)) {
            if (o + nt >= MA_MAX) break;
            memcpy(buf + o, to, nt), o += nt, p += nf;
        } else {
            if (o + 1 >= MA_MAX) break;
            buf[o++] = *p++;
        }
    }
    buf[o] = 0;
    memcpy(s, buf, o + 1);
}

/* the index just past the brace group opening at s[i] == '{', or 0 when unbalanced */
static size_t group_end(const char *s, size_t i) {
    int depth = 0;
    for (size_t j = i; s[j]; j++) {
        if (s[j] == '{') depth++;
        if (s[j] == '}' && --depth == 0) return j + 1;
    }
    return 0;
}

/* \cmd{X} -> X for the text-like commands; a trailing \text{ unit} after something is dropped */
static void unwrap_text(char *s) {
    static const char *const cmds[] = {"\\text", "\\textbf", "\\mbox", "\\mathrm"};
    for (size_t c = 0; c < sizeof cmds / sizeof cmds[0]; c++) {
        size_t n = strlen(cmds[c]);
        char *p;
        while ((p = strstr(s, cmds[c])) && p[n] == '{') {
            size_t i = (size_t)(p - s), e = group_end(s, i + n);
            if (!e) break;
            if (p[n + 1] == ' ' && i > 0 && s[e] == 0) { /* "10\text{ cm}" */
                s[i] = 0;
                break;
            }
            memmove(s + e - 1, s + e, strlen(s + e) + 1);             /* the closing brace */
            memmove(s + i, s + i + n + 1, strlen(s + i + n + 1) + 1); /* "\cmd{" */
        }
    }
}

/* "\sqrt3" -> "\sqrt{3}", "\frac12" -> "\frac{1}{2}", "\frac1{2}" -> "\frac{1}{2}" */
static void brace_arguments(char *s) {
    char buf[MA_MAX];
    size_t o = 0;
    for (size_t i = 0; s[i] && o + 8 < MA_MAX;) {
        int sq = !strncmp(s + i, "\\sqrt", 5), fr = !strncmp(s + i, "\\frac", 5);
        if (!sq && !fr) {
            buf[o++] = s[i++];
            continue;
        }
        memcpy(buf + o, s + i, 5), o += 5, i += 5;
        for (int arg = 0; arg < (fr ? 2 : 1) && s[i] && o + 4 < MA_MAX; arg++) {
            if (s[i] == '{' || s[i] == '[' || s[i] == '\\')
                break; /* already braced, or a command */
            buf[o++] = '{', buf[o++] = s[i++], buf[o++] = '}';
        }
    }
    buf[o] = 0;
    memcpy(s, buf, o + 1);
}

static int is_int_text(const char *s, size_t n) {
    size_t i = (n && s[0] == '-') ? 1 : 0;
    if (i == n) return 0;
    for (; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* "1,234,567.5" -> "1234567.5" when the whole string is such a number */
static void drop_thousands(char *s) {
    size_t n = strlen(s), i = s[0] == '-', digits = 0, groups = 0;
    for (; i < n && isdigit((unsigned char)s[i]); i++)
        digits++;
    if (!digits || digits > 3 || i == n || s[i] != ',') return;
    for (; i < n && s[i] == ','; groups++) {
        size_t k = 0;
        for (i++; i < n && isdigit((unsigned char)s[i]); i++)
            k++;
        if (k != 3) return;
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && isdigit((unsigned char)s[i]); i++)
            ;
    }
    if (i == n && groups) replace_all(s, ",", "");
}

void gc_ma_normalize(const char *answer, char *out, size_t cap) {
    char s[MA_MAX];
    if (strlen(answer) >= MA_MAX - 1) { /* too long to rewrite: as written */
        copy_span(answer, strlen(answer), out, cap);
        return;
    }
    strcpy(s, answer);
    static const char *const drop[] = {"\n", "\\!",       "\\left",  "\\right", "\\$",
                                       "$",  "^{\\circ}", "^\\circ", "\\%",     "%"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        replace_all(s, drop[i], "");
    unwrap_text(s);
    replace_all(s, "tfrac", "frac");
    replace_all(s, "dfrac", "frac");
    tidy(s);
    char *eq = strchr(s, '=');
    if (eq && !strchr(eq + 1, '=')) {
        size_t k = 0;
        for (char *p = s; p < eq; p++)
            k += !isspace((unsigned char)*p);
        if (k >= 1 && k <= 2) memmove(s, eq + 1, strlen(eq + 1) + 1);
    }
    replace_all(s, " .", " 0.");
    replace_all(s, "{.", "{0.");
    if (s[0] == '.') {
        memmove(s + 1, s, strlen(s) + 1);
        s[0] = '0';
    }
    replace_all(s, " ", "");
    brace_arguments(s);
    char *slash = strchr(s, '/');
    if (slash && !strchr(slash + 1, '/') && is_int_text(s, (size_t)(slash - s)) &&
        is_int_text(slash + 1, strlen(slash + 1)) && strlen(s) + 8 < MA_MAX) {
        char t[MA_MAX];
        snprintf(t, sizeof t, "\\frac{%.*s}{%s}", (int)(slash - s), s, slash + 1);
        strcpy(s, t);
    }
    drop_thousands(s);
    size_t n = strlen(s);
    if (n && s[n - 1] == '.') s[n - 1] = 0;
    copy_span(s, strlen(s), out, cap);
}

/* ---- closed-form numbers: a recursive-descent reader over the normalised text ---- */

typedef struct {
    const char *s;
    size_t i;
    int bad;
} reader;

static double expr(reader *r);

static int eat(reader *r, const char *tok) {
    size_t n = strlen(tok);
    if (strncmp(r->s + r->i, tok, n)) return 0;
    /* a command must not run into letters: "\pi" but not "\pix" */
    if (tok[0] == '\\' && isalpha((unsigned char)r->s[r->i + n])) return 0;
    r->i += n;
    return 1;
}

static double group(reader *r, char open, char close) {
    char o[2] = {open, 0}, c[2] = {close, 0};
    if (!eat(r, o)) {
        r->bad = 1;
        return 0;
    }
    double v = expr(r);
    if (!eat(r, c)) r->bad = 1;
    return v;
}

static double number(reader *r) {
    const char *p = r->s + r->i;
    size_t n = 0;
    while (isdigit((unsigned char)p[n]))
        n++;
    if (p[n] == '.' && isdigit((unsigned char)p[n + 1]))
        for (n++; isdigit((unsigned char)p[n]);)
            n++;
    if (!n) {
        r->bad = 1;
        return 0;
    }
    char buf[64];
    copy_span(p, n, buf, sizeof buf);
    r->i += n;
    return strtod(buf, NULL);
}

static double atom(reader *r) {
    char c = r->s[r->i];
    if (isdigit((unsigned char)c)) return number(r);
    if (c == '{') return group(r, '{', '}');
    if (c == '(') return group(r, '(', ')');
    if (eat(r, "\\pi") || eat(r, "pi")) return M_PI;
    if (eat(r, "\\frac")) {
        double a = group(r, '{', '}'), b = group(r, '{', '}');
        return a / b;
    }
    if (eat(r, "\\sqrt")) {
        double k = r->s[r->i] == '[' ? group(r, '[', ']') : 2;
        double x = group(r, '{', '}');
        return k == 2 ? sqrt(x) : pow(x, 1.0 / k);
    }
    r->bad = 1;
    return 0;
}

static double power(reader *r) {
    double x = atom(r);
    if (eat(r, "^")) {
        double e = r->s[r->i] == '{' ? group(r, '{', '}') : atom(r);
        x = pow(x, e);
    }
    return x;
}

static double unary(reader *r) {
    if (eat(r, "-")) return -unary(r);
    if (eat(r, "+")) return unary(r);
    return power(r);
}

static int starts_atom(const reader *r) {
    char c = r->s[r->i];
    return c == '(' || c == '{' || !strncmp(r->s + r->i, "\\pi", 3) ||
           !strncmp(r->s + r->i, "\\frac", 5) || !strncmp(r->s + r->i, "\\sqrt", 5);
}

static double term(reader *r) {
    double x = unary(r);
    while (!r->bad) {
        if (eat(r, "*") || eat(r, "\\cdot") || eat(r, "\\times"))
            x *= unary(r);
        else if (eat(r, "/") || eat(r, "\\div"))
            x /= unary(r);
        else if (starts_atom(r)) /* juxtaposition: 2\sqrt{3}, 3\pi */
            x *= power(r);
        else
            break;
    }
    return x;
}

static double expr(reader *r) {
    double x = term(r);
    while (!r->bad) {
        if (eat(r, "+"))
            x += term(r);
        else if (eat(r, "-"))
            x -= term(r);
        else
            break;
    }
    return x;
}

int gc_ma_value(const char *normalized, double *out) {
    reader r = {normalized, 0, 0};
    if (!normalized[0]) return 0;
    double v = expr(&r);
    if (r.bad || normalized[r.i] || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

/* ---- equivalence ---- */

static int close_to(double a, double b) {
    if (a == floor(a) && b == floor(b)) return a == b; /* integers: exactly (120006 != 120000) */
    double scale = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= (scale < 1e-4 ? 1e-8 : 1e-4 * scale);
}

/* splits a normalised list at its top-level commas: its brackets (0 when plain) and the
 * elements' spans; returns the element count (0 when there is no top-level comma or too many) */
static int split_list(const char *s, char *open, char *close, const char *el[], size_t len[],
                      int max) {
    size_t n = strlen(s), a = 0, b = n;
    *open = *close = 0;
    if (n >= 2 && strchr("([", s[0]) && strchr(")]", s[n - 1])) {
        *open = s[0], *close = s[n - 1], a = 1, b = n - 1;
    }
    int k = 0, depth = 0;
    size_t start = a;
    for (size_t i = a; i <= b; i++) {
        char c = i < b ? s[i] : ',';
        if (strchr("([{", c)) depth++;
        if (strchr(")]}", c)) depth--;
        if (depth < 0) return 0; /* the brackets were not one pair around the list */
        if (c == ',' && depth == 0) {
            if (k == max) return 0;
            el[k] = s + start, len[k] = i - start, k++;
            start = i + 1;
        }
    }
    return k >= 2 && depth == 0 ? k : 0;
}

static int equal_normalized(const char *x, const char *y, int pct_x, int pct_y, int depth);

static int lists_equal(const char *x, const char *y, int depth) {
    enum { MAXEL = 32 };
    const char *ex[MAXEL], *ey[MAXEL];
    size_t lx[MAXEL], ly[MAXEL];
    char ox, cx, oy, cy;
    int nx = split_list(x, &ox, &cx, ex, lx, MAXEL), ny = split_list(y, &oy, &cy, ey, ly, MAXEL);
    if (!nx || nx != ny || ox != oy || cx != cy) return 0;
    for (int i = 0; i < nx; i++) {
        char a[MA_MAX], b[MA_MAX];
        copy_span(ex[i], lx[i], a, sizeof a);
        copy_span(ey[i], ly[i], b, sizeof b);
        if (!equal_normalized(a, b, 0, 0, depth + 1)) return 0;
    }
    return 1;
}

/* the option letter of "C" or "(C)" (A to E), else 0 */
static char choice_letter(const char *s) {
    if (s[0] == '(' && s[1] && s[2] == ')' && !s[3]) s++;
    return s[0] >= 'A' && s[0] <= 'E' && (!s[1] || s[1] == ')') ? s[0] : 0;
}

static int equal_normalized(const char *x, const char *y, int pct_x, int pct_y, int depth) {
    if (!strcmp(x, y)) return 1;
    if (depth > 4) return 0;
    double a, b;
    if (gc_ma_value(x, &a) && gc_ma_value(y, &b))
        return close_to(a, b) || (pct_x && close_to(a / 100, b)) || (pct_y && close_to(a, b / 100));
    char cx = choice_letter(x);
    return lists_equal(x, y, depth) || (cx && cx == choice_letter(y));
}

int gc_ma_equal(const char *a, const char *b) {
    char x[MA_MAX], y[MA_MAX];
    gc_ma_normalize(a, x, sizeof x);
    gc_ma_normalize(b, y, sizeof y);
    return equal_normalized(x, y, strchr(a, '%') != NULL, strchr(b, '%') != NULL, 0);
}

int gc_ma_check(const char *solution, const char *reference) {
    char got[MA_MAX];
    if (gc_ma_extract(solution, got, sizeof got) == GC_MA_NONE) return 0;
    return gc_ma_equal(got, reference);
}
