/*
 * report.h — the provenance block and number format shared by every text
 * result file (CSV, .dat, Markdown side files).
 *
 * dq_report_header() writes, each line behind the comment leader `c`
 * ("#" for CSV and gnuplot data):
 *     <c> dnateq-<driver>: <what>
 *     <c> created_by: <git revision>
 *     <c> seed: <seed>
 *     <c> config:
 *     <c>   <each line of the effective configuration>
 * so that every result records its config, revision and seed.
 *
 * dq_report_num() formats a double with "%.9g" (enough to round-trip a
 * float) and spells non-finite values inf, -inf and nan; it returns buf.
 */
#ifndef DQ_REPORT_H
#define DQ_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "fsutil.h"

void dq_report_header(FILE *fp, const char *c, const char *driver,
                      const char *what, long long seed, const dq_config *cfg);
const char *dq_report_num(char *buf, size_t len, double v);

/* Opens <dir>/<subdir>/<name> as a dq_afile and writes the provenance
 * header in the comment syntax of its extension: "#" for .csv and .dat,
 * "%" for .tex, an HTML comment for .md.  NULL (error set) on failure. */
dq_afile *dq_report_open(const char *dir, const char *subdir, const char *name,
                         const char *driver, const char *what, long long seed,
                         const dq_config *cfg);

#endif
