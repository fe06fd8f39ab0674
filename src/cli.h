/*
 * cli.h — the command line every dnateq driver shares.
 *
 *   dnateq-NAME [CONFIG.ini] [--set section.key=value]... [--model FILE]
 *               [--split NAME] [--threads N] [--seed N] [--out DIR]
 *               [-v|-q] [--help] [--config-keys]
 *
 * Short flags are aliases for keys of the [run] section (dq_run_keys).
 * The config file is loaded first, then overrides in command-line order.
 * Without a config file the driver runs on its documented defaults.
 * --help prints the driver's usage and the keys it reads, then exits 0.
 * --config-keys prints the same keys as Markdown (a driver row, then one
 * table per section: type, default, meaning), then exits 0; `make
 * config-docs` merges every driver's into configs/README.md.
 * Errors exit 2 with "dnateq: <problem>".
 * dq_cli_parse() also applies [run] threads (omp_set_num_threads) and
 * the log level.
 *
 * Positional arguments: a non-option argument ending in ".ini" is the
 * config file; any other is positional.  Drivers that take positional
 * arguments (e.g. `dnateq-inspect FILE.h5`) or boolean flags of their own
 * (e.g. `--dataset`) describe them in spec->positional / spec->flags and
 * call dq_cli_parse_args(); dq_cli_parse() rejects both.
 */
#ifndef DQ_CLI_H
#define DQ_CLI_H

#include "config.h"

/* [run] model, split, threads, seed, out, data_dir, batch, calib_size,
 * quick */
extern const dq_cfg_key dq_run_keys[];

/* A driver-specific boolean flag, e.g. {"--dataset", "inspect the idx
 * dataset instead of a file"}. */
typedef struct {
    const char *name;
    const char *help;
} dq_cli_flag;

typedef struct {
    const char *name;    /* "dnateq-eval" */
    const char *summary; /* one line for --help */
    const char *usage_extra; /* extra --help text, or NULL */
    const dq_cfg_key *const *tables; /* NULL-terminated; include dq_run_keys */
    const char *positional; /* usage of positional args ("FILE.h5"), or NULL */
    const dq_cli_flag *flags; /* up to 16, ended by {NULL}; or NULL */
} dq_cli_spec;

/* What dq_cli_parse_args() found besides config keys. */
typedef struct {
    int npos;
    char **pos;     /* positional arguments in order (point into argv) */
    unsigned flags; /* bit i set when spec->flags[i] was given */
} dq_cli_args;

/* Returns a loaded config, or exits (0 after --help, 2 on error). */
dq_config *dq_cli_parse(const dq_cli_spec *spec, int argc, char **argv);
/* The same, also accepting positional arguments and spec->flags. */
dq_config *dq_cli_parse_args(const dq_cli_spec *spec, int argc, char **argv,
                             dq_cli_args *args);
void dq_cli_args_free(dq_cli_args *args); /* frees args->pos only */

#endif
