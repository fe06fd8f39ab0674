/*
 * config.h — INI experiment configs (inih) with a typed key table.
 *
 * Every key the harness understands is declared in a dq_cfg_key table,
 * one table per module (e.g. dq_run_keys in cli.c, dq_search_keys in
 * search.c) or driver, each terminated by an entry whose section is NULL.
 * A driver builds its dq_config from the NULL-terminated list of tables
 * it uses.  The same tables generate the config reference in
 * configs/README.md (`dnateq-X --config-keys`, `make config-docs`), so
 * documentation cannot drift from the code.
 *
 * An indented line continues the value of the key above it (inih's
 * multi-line rule); the lines are joined with one space.
 *
 * Loading is strict: an unknown section or key, a value of the wrong type,
 * or a value out of [min, max] is a DQ_ECONFIG error of the form
 * "configs/x.ini:12: unknown key 'bitz' in section [search]".
 * Overrides (`--set section.key=value`) go through the same checks with
 * origin "--set".  Missing keys take their default; a key whose default
 * is NULL is required and dq_config_check() reports it.
 *
 * dq_config_dump() gives the effective config (defaults filled in) as INI
 * text; every result file stores it.
 */
#ifndef DQ_CONFIG_H
#define DQ_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DQ_CFG_STR,
    DQ_CFG_INT,
    DQ_CFG_DOUBLE,
    DQ_CFG_BOOL, /* true/false, yes/no, on/off, 1/0 */
    DQ_CFG_PATH  /* a string naming a file or directory that must exist */
} dq_cfg_type;

typedef struct {
    const char *section;
    const char *key;
    dq_cfg_type type;
    const char *def;  /* default as text; NULL means required */
    double min, max;  /* inclusive range for INT/DOUBLE; min > max: none */
    const char *help; /* one line, for --help and the README reference */
} dq_cfg_key;

typedef struct dq_config dq_config;

dq_config *dq_config_alloc(const dq_cfg_key *const *tables);
void dq_config_free(dq_config *c);

int dq_config_load_file(dq_config *c, const char *path);
/* "section.key=value" */
int dq_config_set_arg(dq_config *c, const char *assignment);
int dq_config_set(dq_config *c, const char *section, const char *key,
                  const char *value, const char *origin);
/* Required keys present, paths exist. */
int dq_config_check(const dq_config *c);

/* Getters.  Asking for a key that is not in the tables aborts: that is a
 * programming error, not a user error. */
const char *dq_config_str(const dq_config *c, const char *section,
                          const char *key);
int64_t dq_config_int(const dq_config *c, const char *section, const char *key);
double dq_config_double(const dq_config *c, const char *section,
                        const char *key);
int dq_config_bool(const dq_config *c, const char *section, const char *key);
/* 1 when the value came from a file or --set rather than the default. */
int dq_config_is_set(const dq_config *c, const char *section, const char *key);

/* Effective config as INI text (malloc()ed). */
char *dq_config_dump(const dq_config *c);
/* Path of the config file loaded, or "(defaults)". */
const char *dq_config_source(const dq_config *c);

/* Where the value came from: "configs/x.ini:12", "--set", "--threads",
 * "DNATEQ_DATA", or "default". */
const char *dq_config_origin(const dq_config *c, const char *section,
                             const char *key);
/* DQ_ECONFIG unless the string value of the key is one of the
 * '|'-separated choices: "<origin>: [run] split: 'x' is not one of
 * train|val|test|calib". */
int dq_config_check_choice(const dq_config *c, const char *section,
                           const char *key, const char *choices);

/* "integer, 1..256", "boolean", "path", ... into buf. */
const char *dq_config_key_describe(const dq_cfg_key *k, char *buf, size_t len);

/* Markdown reference of tables: one row per key with type, default, range
 * and help (malloc()ed). */
char *dq_config_reference(const dq_cfg_key *const *tables);
/* The same for the keys of one section only (section NULL: every key). */
char *dq_config_reference_section(const dq_cfg_key *const *tables,
                                  const char *section);

#endif
