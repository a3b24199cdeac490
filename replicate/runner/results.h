/* results: the end of a run and the files it reads from the repository.
 *
 * rp_finish adds the claim's verdict to a results document, writes results.json, the plot's data
 * file (<experiment>.dat) and the plot, all under <root>/<experiment>/<scale>/, and prints the
 * experiment's table. The claims file and the gnuplot scripts are found in the repository
 * (rp_repo_dir), not the working directory, and rp_check_repo makes sure they are there before
 * any stage runs.
 */
#ifndef RP_RESULTS_H
#define RP_RESULTS_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "stage.h"

/* The repository holding results/published.json and plots/: $GCRM_REPO when set, else the
 * directory above the one holding this executable (build/replicate), else ".". */
const char *rp_repo_dir(void);
/* The claims file: $GCRM_PUBLISHED when set, else <repo>/results/published.json. */
const char *rp_claims_file(void);
/* Fails (naming the path) unless the claims file and plots/<experiment>.gp exist. */
gc_status rp_check_repo(const rp_run *r);

/* Draws <dir>/<name>.png and .svg from <dir>/<name>.dat with plots/<script>.gp (a warning, not an
 * error, when gnuplot fails or is missing). vars as rp_finish's plot_vars. */
void rp_plot(const char *script, const char *dir, const char *name, const char *vars);

/* {per_seed: x (n), mean, lo, hi}: a quantity measured once per seed, with its mean and the
 * t-based 95% CI over seeds. */
cJSON *rp_summary(const double *x, int n);

/* Writes the plot's data file from the results document; ctx is the caller's. */
typedef gc_status (*rp_dat_fn)(const char *path, const cJSON *results, const void *ctx);
/* Adds the verdict to results, writes results.json and the plot data, draws the plot with
 * plots/<experiment>.gp and prints the table (print may be NULL). plot_vars (may be NULL): gnuplot
 * assignments the script reads besides datafile and outprefix (labels that depend on the run:
 * the variants' names, lambda), in single quotes, no double quotes. Takes ownership of results. */
gc_status rp_finish(rp_run *r, cJSON *results, rp_dat_fn dat, const void *ctx,
                    const char *plot_vars, void (*print)(const cJSON *results, FILE *f));

#endif
