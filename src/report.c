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

dq_afile *dq_report_open(const char *dir, const char *subdir, const char *name,
                         const char *driver, const char *what, long long seed,
                         const dq_config *cfg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", dir, subdir, name);
    dq_afile *af = dq_afile_open(path);
    if (!af)
        return NULL;
    const char *ext = strrchr(name, '.');
    int md = ext && strcmp(ext, ".md") == 0;
    int tex = ext && strcmp(ext, ".tex") == 0;
    fputs(md ? "<!--\n" : "", af->fp);
    dq_report_header(af->fp, md ? "" : tex ? "%" : "#", driver, what, seed, cfg);
    fputs(md ? "-->\n\n" : "", af->fp);
    return af;
}
