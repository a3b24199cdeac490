/* claims: the paper's claims (results/published.json), their mini-scale checks, verdicts, and the
 * `replicate check` and `replicate report` commands.
 *
 * A claim names its experiment and a rule with parameters written down before any result was
 * seen. The verdict is recomputed from a run's results.json and the current published.json:
 * PASS, FAIL, or NOT RUN (no results for that scale).
 */
#ifndef GC_CLAIMS_H
#define GC_CLAIMS_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "lib/util/base.h"

/* The verdict of a results document and its reasons, when it has one. */
void claims_print_verdict(const cJSON *results, FILE *f);

int cmd_check(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
