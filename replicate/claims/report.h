/* report: the per-experiment sections of REPRODUCE.md (the measured tables), generated from the
 * runs' results.json (see report.c). `replicate report` calls it before writing the claims table.
 */
#ifndef RP_REPORT_H
#define RP_REPORT_H

#include "lib/util/base.h"

/* Rewrites, in *doc (malloc'd; replaced), every <!-- results:<experiment>:begin/end --> section
 * whose experiment has <root>/<experiment>/<scale>/results.json. */
gc_status report_sections(const char *root, const char *scale, char **doc);

#endif
