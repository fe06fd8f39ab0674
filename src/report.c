/* report.c — provenance header and number format for text results. */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"

void dq_report_header(FILE *fp, const char *c, const char *driver,
                      const char *what, long long seed, const dq_config *cfg)
{
    fprintf(fp, "%s dnateq-%s: %s\n", c, driver, what);
    fprintf(fp, "%s created_by: %s\n", c, dq_git_revision());
    fprintf(fp, "%s seed: %lld\n", c, seed);
    fprintf(fp, "%s config:\n", c);
    char *dump = dq_config_dump(cfg);
    if (!dump)
        return;
    for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n"))
        fprintf(fp, "%s   %s\n", c, line);
    free(dump);
}

const char *dq_report_num(char *buf, size_t len, double v)
{
    if (isinf(v))
        snprintf(buf, len, v > 0 ? "inf" : "-inf");
    else if (isnan(v))
        snprintf(buf, len, "nan");
    else
        snprintf(buf, len, "%.9g", v);
    return buf;
}
