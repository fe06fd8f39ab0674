/*
 * cli.h — the command line every dnateq driver shares.
 *
 *   dnateq-NAME [CONFIG.ini] [--set section.key=value]... [--model FILE]
 *               [--split NAME] [--threads N] [--seed N] [--out DIR]
 *               [-v|-q] [--help]
 *
 * Short flags are aliases for keys of the [run] section (dq_run_keys).
 * The config file is loaded first, then overrides in command-line order.
 * Without a config file the driver runs on its documented defaults.
 * --help prints the driver's usage and the keys it reads, then exits 0.
 * Errors exit 2 with "dnateq: <problem>".
 * dq_cli_parse() also applies [run] threads (omp_set_num_threads) and
 * the log level.
 */
#ifndef DQ_CLI_H
#define DQ_CLI_H

#include "config.h"

/* [run] model, split, threads, seed, out, data_dir, batch */
extern const dq_cfg_key dq_run_keys[];

typedef struct {
    const char *name;    /* "dnateq-eval" */
    const char *summary; /* one line for --help */
    const char *usage_extra; /* extra --help text, or NULL */
    const dq_cfg_key *const *tables; /* NULL-terminated; include dq_run_keys */
} dq_cli_spec;

/* Returns a loaded config, or exits (0 after --help, 2 on error). */
dq_config *dq_cli_parse(const dq_cli_spec *spec, int argc, char **argv);

#endif
