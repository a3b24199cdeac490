/* The source tree's shape: no include cycles among the project's files, and no header that
 * shadows a system header. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_FILES = 512, MAX_INC = 48 };

typedef struct {
    char path[256];
    int inc[MAX_INC], n_inc;
    char raw[MAX_INC][256];
    int state; /* 0 unvisited, 1 on the stack, 2 done */
} node;

static node files[MAX_FILES];
static int n_files;

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void scan_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            scan_dir(p);
        else if ((ends_with(p, ".c") || ends_with(p, ".h") || ends_with(p, ".cu")) &&
                 n_files < MAX_FILES)
            snprintf(files[n_files++].path, sizeof files[0].path, "%s", p);
    }
    closedir(d);
}

static int find(const char *p) {
    for (int i = 0; i < n_files; i++)
        if (!strcmp(files[i].path, p)) return i;
    return -1;
}

/* an include resolves against the including file's folder, then the repository root */
static int resolve(const char *from, const char *inc) {
    char p[512];
    const char *slash = strrchr(from, '/');
    snprintf(p, sizeof p, "%.*s/%s", (int)(slash - from), from, inc);
    int k = find(p);
    return k >= 0 ? k : find(inc);
}

static int cycle_from(int i, char *trail, size_t cap) {
    files[i].state = 1;
    for (int k = 0; k < files[i].n_inc; k++) {
        int j = files[i].inc[k];
        if (files[j].state == 1) {
            snprintf(trail, cap, "%s -> %s", files[i].path, files[j].path);
            return 1;
        }
        if (files[j].state == 0 && cycle_from(j, trail, cap)) return 1;
    }
    files[i].state = 2;
    return 0;
}

Test(layout, no_include_cycles_and_no_shadowing_headers) {
    const char *roots[] = {"lib", "replicate", "kernels", "tests", "bench"};
    for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++)
        scan_dir(roots[r]);
    cr_assert_gt(n_files, 50, "the sources were not found (run from the repository root)");
    static const char *const system[] = {"math.h",   "cuda.h",  "string.h", "stdlib.h", "time.h",
                                         "assert.h", "stdio.h", "signal.h", "errno.h"};
    for (int i = 0; i < n_files; i++) {
        const char *base = strrchr(files[i].path, '/') + 1;
        for (size_t k = 0; k < sizeof system / sizeof system[0]; k++)
            cr_expect_str_neq(base, system[k], "%s shadows a system header", files[i].path);
        FILE *f = fopen(files[i].path, "r");
        cr_assert_not_null(f);
        char line[1024];
        while (fgets(line, sizeof line, f)) {
            char inc[256];
            if (sscanf(line, " #include \"%255[^\"]\"", inc) != 1) continue;
            int j = resolve(files[i].path, inc);
            cr_expect_geq(j, 0, "%s includes %s, which is not in the tree", files[i].path, inc);
            if (j >= 0 && files[i].n_inc < MAX_INC) files[i].inc[files[i].n_inc++] = j;
        }
        fclose(f);
    }
    char trail[600] = "";
    for (int i = 0; i < n_files; i++)
        if (files[i].state == 0)
            cr_expect_not(cycle_from(i, trail, sizeof trail), "include cycle: %s", trail);
}
