/*
 * registry.c — the table of every quantization scheme, by name.
 *
 * To add a scheme: write src/quant/<name>.c defining
 *     const dq_quant_scheme dq_scheme_<name> = { .name = "<name>", ... };
 * and add one X(<name>) line to DQ_SCHEMES below.  The order of the list
 * is the order of dq_quant_get() and so of every report's columns.
 */
#include "quant.h"

#include "error.h"

#include <stdio.h>
#include <string.h>

#define DQ_SCHEMES(X)                                                          \
    X(uniform)                                                                 \
    X(expq)                                                                    \
    X(log2)                                                                    \
    X(log_sqrt2)                                                               \
    X(apot)                                                                    \
    X(kmeans)                                                                  \
    X(mokey)                                                                   \
    X(bsparq)                                                                  \
    X(sparq)

#define DQ_DECLARE(name) extern const dq_quant_scheme dq_scheme_##name;
DQ_SCHEMES(DQ_DECLARE)
#undef DQ_DECLARE

#define DQ_ENTRY(name) &dq_scheme_##name,
static const dq_quant_scheme *const registry[] = {DQ_SCHEMES(DQ_ENTRY)};
#undef DQ_ENTRY

#define NREG ((int)(sizeof registry / sizeof registry[0]))

int dq_quant_count(void) { return NREG; }

const dq_quant_scheme *dq_quant_get(int i)
{
    return i >= 0 && i < NREG ? registry[i] : NULL;
}

const dq_quant_scheme *dq_quant_find(const char *name)
{
    if (!name) DQ_ERROR_NULL(DQ_EINVAL, "quantization scheme: NULL name");
    for (int i = 0; i < NREG; i++)
        if (strcmp(registry[i]->name, name) == 0) return registry[i];
    char list[512] = "";
    size_t len = 0;
    for (int i = 0; i < NREG && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                i ? ", " : "", registry[i]->name);
    DQ_ERROR_NULL(DQ_EUNSUP, "unknown quantization scheme '%s' (known: %s)",
                  name, list);
}
