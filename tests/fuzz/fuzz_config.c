/*
 * fuzz_config.c — libFuzzer harness of the INI config parser (config.h)
 * with the key tables of every library module ([run], [quant], [search],
 * [fit], [energy]).  The input is the config file; its first line is also
 * tried as a `--set` assignment.  Loading must fail with a message naming
 * the file (or "--set"), or succeed; a loaded config's dump must load
 * again to the same value of every key.
 */
#include "cli.h"
#include "config.h"
#include "energy.h"
#include "error.h"
#include "fit.h"
#include "fuzzutil.h"
#include "quant/quant.h"
#include "search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const dq_cfg_key *const tables[] = {
    dq_run_keys, dq_quant_keys, dq_search_keys, dq_fit_keys, dq_energy_keys,
    NULL};

/* 1 when key k has the same value in a and b. */
static int same_value(const dq_config *a, const dq_config *b,
                      const dq_cfg_key *k)
{
    switch (k->type) {
    case DQ_CFG_INT:
        return dq_config_int(a, k->section, k->key) ==
               dq_config_int(b, k->section, k->key);
    case DQ_CFG_DOUBLE:
        return dq_config_double(a, k->section, k->key) ==
               dq_config_double(b, k->section, k->key);
    case DQ_CFG_BOOL:
        return dq_config_bool(a, k->section, k->key) ==
               dq_config_bool(b, k->section, k->key);
    default:
        return strcmp(dq_config_str(a, k->section, k->key),
                      dq_config_str(b, k->section, k->key)) == 0;
    }
}

/* The dump of a loaded config must load again to the same values. */
static void check_roundtrip(const dq_config *c)
{
    char *dump = dq_config_dump(c);
    if (!dump) dq_fuzz_fail("no dump");
    const char *path = dq_fuzz_file((const uint8_t *)dump, strlen(dump),
                                    ".ini");
    dq_config *c2 = dq_config_alloc(tables);
    if (!c2 || dq_config_load_file(c2, path) != DQ_OK)
        dq_fuzz_fail("the dump does not load");
    for (int t = 0; tables[t]; t++)
        for (const dq_cfg_key *k = tables[t]; k->section; k++)
            if (!same_value(c, c2, k)) {
                fprintf(stderr, "fuzz: [%s] %s: '%s' reloads as '%s'\n",
                        k->section, k->key, dq_config_str(c, k->section, k->key),
                        dq_config_str(c2, k->section, k->key));
                dq_fuzz_fail("the dump reloads to other values");
            }
    dq_config_free(c2);
    free(dump);
}

static void try_set(const uint8_t *data, size_t size)
{
    size_t n = 0;
    while (n < size && data[n] != '\n') n++;
    char *line = malloc(n + 1);
    if (!line) dq_fuzz_fail("out of memory");
    memcpy(line, data, n);
    line[n] = '\0';
    dq_config *c = dq_config_alloc(tables);
    if (!c) dq_fuzz_fail("no config");
    if (dq_config_set_arg(c, line) != DQ_OK &&
        !strstr(dq_error_message(), "--set"))
        dq_fuzz_fail("a --set error that does not say --set");
    dq_config_free(c);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = dq_fuzz_file(data, size, ".ini");
    dq_config *c = dq_config_alloc(tables);
    if (!c) dq_fuzz_fail("no config");
    int rc = dq_config_load_file(c, path);
    if (rc == DQ_OK) rc = dq_config_check(c);
    if (rc != DQ_OK) {
        if (!strstr(dq_error_message(), path))
            dq_fuzz_fail("an error that does not name the file");
    } else {
        check_roundtrip(c);
    }
    dq_config_free(c);
    try_set(data, size);
    dq_fuzz_done();
    dq_error_clear();
    return 0;
}
