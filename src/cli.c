/*
 * cli.c — the shared command line of every dnateq driver (see cli.h):
 * the [run] key table, option parsing, --help, and applying the thread
 * count and log level.  Drivers call dq_cli_parse() first thing in main().
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "blas.h"

#include "dataset.h"
#include "error.h"
#include "log.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DQ_SPLITS "train|val|test|calib"

const dq_cfg_key dq_run_keys[] = {
    {"run", "model", DQ_CFG_PATH, "", 1, 0,
     "model file (format dnateq-model); empty: none"},
    {"run", "split", DQ_CFG_STR, "test", 1, 0,
     "dataset split: " DQ_SPLITS},
    {"run", "threads", DQ_CFG_INT, "2", 1, 256,
     "OpenMP threads; results do not depend on it"},
    {"run", "seed", DQ_CFG_INT, "1", 0, 4294967295.0,
     "seed of every random choice (calib subset, samples)"},
    {"run", "out", DQ_CFG_STR, "results", 1, 0,
     "output directory for result files"},
    {"run", "data_dir", DQ_CFG_PATH, DQ_FMNIST_DEFAULT_DIR, 1, 0,
     "Fashion-MNIST idx .gz directory; env DNATEQ_DATA overrides this "
     "default, a config value overrides both"},
    {"run", "batch", DQ_CFG_INT, "256", 1, 65536,
     "images per inference batch"},
    {"run", "calib_size", DQ_CFG_INT, "1000", 1, 55000,
     "images in the calib split (seeded subset of train)"},
    {"run", "quick", DQ_CFG_BOOL, "false", 1, 0,
     "reduced run for smoke tests (make reproduce QUICK=1)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

/* Short flags: aliases for [run] keys. */
static const struct {
    const char *flag, *key, *arg;
} run_flags[] = {
    {"--model", "model", "FILE"}, {"--split", "split", "NAME"},
    {"--threads", "threads", "N"}, {"--seed", "seed", "N"},
    {"--out", "out", "DIR"},
};
#define N_RUN_FLAGS (int)(sizeof run_flags / sizeof run_flags[0])

/* ---- --help ------------------------------------------------------------- */

static void help_keys(FILE *fp, const dq_cfg_key *const *tables)
{
    char desc[512];
    fprintf(fp, "\nconfig keys (set them in CONFIG.ini or with --set):\n");
    for (int t = 0; tables && tables[t]; t++) {
        for (const dq_cfg_key *k = tables[t]; k->section; k++) {
            fprintf(fp, "  %s.%s (%s) = ", k->section, k->key,
                    dq_config_key_describe(k, desc, sizeof desc));
            fprintf(fp, "%s\n", !k->def ? "(required)" : *k->def ? k->def
                                                                 : "(empty)");
            if (k->help) fprintf(fp, "      %s\n", k->help);
        }
    }
}

static void help_print(const dq_cli_spec *spec)
{
    FILE *fp = stdout;
    fprintf(fp, "%s — %s\n\n", spec->name, spec->summary ? spec->summary : "");
    fprintf(fp, "usage: %s [CONFIG.ini] [options]%s%s\n\noptions:\n",
            spec->name, spec->positional ? " " : "",
            spec->positional ? spec->positional : "");
    fprintf(fp, "  %-24s %s\n", "--set SECTION.KEY=VALUE",
            "set any config key (repeatable; after the config file)");
    for (int i = 0; i < N_RUN_FLAGS; i++) {
        char opt[64], what[64];
        snprintf(opt, sizeof opt, "%s %s", run_flags[i].flag, run_flags[i].arg);
        snprintf(what, sizeof what, "same as --set run.%s=%s", run_flags[i].key,
                 run_flags[i].arg);
        fprintf(fp, "  %-24s %s\n", opt, what);
    }
    for (const dq_cli_flag *f = spec->flags; f && f->name; f++)
        fprintf(fp, "  %-24s %s\n", f->name, f->help ? f->help : "");
    fprintf(fp, "  %-24s %s\n", "-v / -q", "debug output / warnings only");
    fprintf(fp, "  %-24s %s\n", "-h, --help", "show this help and exit");
    fprintf(fp, "  %-24s %s\n", "--config-keys",
            "print the config keys as Markdown and exit");
    if (spec->usage_extra) fprintf(fp, "\n%s\n", spec->usage_extra);
    help_keys(fp, spec->tables);
}

/* ---- --config-keys ------------------------------------------------------ */

/* Is tables[t][i] the first key of its section in the tables? */
static int first_of_section(const dq_cfg_key *const *tables, int t, int i)
{
    const char *sec = tables[t][i].section;
    for (int u = 0; u <= t; u++)
        for (int j = 0; tables[u][j].section && (u < t || j < i); j++)
            if (strcmp(tables[u][j].section, sec) == 0) return 0;
    return 1;
}

/* Calls fn(section, arg) once per section, in order of first appearance. */
static void each_section(const dq_cfg_key *const *tables,
                         void (*fn)(const char *section, void *arg), void *arg)
{
    for (int t = 0; tables && tables[t]; t++)
        for (int i = 0; tables[t][i].section; i++)
            if (first_of_section(tables, t, i)) fn(tables[t][i].section, arg);
}

static void md_section_name(const char *section, void *fp)
{
    fprintf(fp, " `[%s]`", section);
}

typedef struct {
    const dq_cli_spec *spec;
    FILE *fp;
} md_ctx;

static void md_section_table(const char *section, void *arg)
{
    const md_ctx *x = arg;
    char *md = dq_config_reference_section(x->spec->tables, section);
    if (!md) dq_fatal(1, "%s", dq_error_message());
    fprintf(x->fp, "\n### `[%s]`\n\nRead by: `%s`.\n\n%s", section,
            x->spec->name, md);
    free(md);
}

/* The driver's keys as Markdown: a one-row driver table, then one table
 * per section.  `make config-docs` merges the output of every driver
 * into configs/README.md (experiments/configdocs.sh). */
static void config_keys_print(const dq_cli_spec *spec)
{
    md_ctx x = {spec, stdout};
    fprintf(x.fp, "### Drivers\n\n| driver | what it does | sections |\n"
                  "|---|---|---|\n| `%s` | %s |", spec->name,
            spec->summary ? spec->summary : "");
    each_section(spec->tables, md_section_name, x.fp);
    fprintf(x.fp, " |\n");
    each_section(spec->tables, md_section_table, &x);
}

/* ---- parsing ------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Index of "--flag" or "--flag=value" in run_flags, or -1; *inline_val
 * receives the text after '=' when present. */
static int run_flag_index(const char *arg, const char **inline_val)
{
    for (int i = 0; i < N_RUN_FLAGS; i++) {
        size_t n = strlen(run_flags[i].flag);
        if (strncmp(arg, run_flags[i].flag, n) != 0) continue;
        if (arg[n] == '\0') { *inline_val = NULL; return i; }
        if (arg[n] == '=') { *inline_val = arg + n + 1; return i; }
    }
    return -1;
}

static int spec_flag_index(const dq_cli_spec *spec, const char *arg)
{
    for (int i = 0; spec->flags && spec->flags[i].name && i < 16; i++)
        if (strcmp(arg, spec->flags[i].name) == 0) return i;
    return -1;
}

/* One override to apply after the config file. */
typedef struct {
    const char *origin; /* "--set", "--threads", ... */
    const char *key;    /* [run] key for short flags, NULL for --set */
    const char *value;  /* "section.key=value" for --set */
} cli_override;

typedef struct {
    const char *config;
    cli_override *ov;
    int nov;
    int log_level;
} cli_plan;

_Noreturn static void usage_error(const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    dq_fatal(2, "%s (see --help)", msg);
}

/* The value of an option: "--opt=value" or the next argument. */
static const char *option_value(const char *opt, const char *inline_val,
                                int argc, char **argv, int *i)
{
    if (inline_val) return inline_val;
    if (*i + 1 >= argc) usage_error("option %s needs a value", opt);
    return argv[++*i];
}

static void add_positional(const dq_cli_spec *spec, dq_cli_args *args,
                           char *arg)
{
    if (!args || !spec->positional)
        usage_error("unexpected argument '%s'", arg);
    args->pos[args->npos++] = arg;
}

static void plan_arg(const dq_cli_spec *spec, cli_plan *p, dq_cli_args *args,
                     int argc, char **argv, int *i)
{
    const char *a = argv[*i], *val;
    int k, fl;
    if (strcmp(a, "-v") == 0) {
        p->log_level = DQ_LOG_DEBUG;
    } else if (strcmp(a, "-q") == 0) {
        p->log_level = DQ_LOG_QUIET;
    } else if (strcmp(a, "--set") == 0 || strncmp(a, "--set=", 6) == 0) {
        val = option_value("--set", a[5] == '=' ? a + 6 : NULL, argc, argv, i);
        p->ov[p->nov++] = (cli_override){"--set", NULL, val};
    } else if ((k = run_flag_index(a, &val)) >= 0) {
        val = option_value(run_flags[k].flag, val, argc, argv, i);
        p->ov[p->nov++] = (cli_override){run_flags[k].flag, run_flags[k].key,
                                         val};
    } else if (args && (fl = spec_flag_index(spec, a)) >= 0) {
        args->flags |= 1u << fl;
    } else if (a[0] == '-' && a[1] != '\0') {
        usage_error("unknown option '%s'", a);
    } else if (ends_with(a, ".ini") && !p->config) {
        p->config = a;
    } else {
        add_positional(spec, args, argv[*i]);
    }
}

/* Do the driver's tables hold [run] key?  (A driver may omit dq_run_keys.) */
static int has_run_key(const dq_cli_spec *spec, const char *key)
{
    for (int t = 0; spec->tables && spec->tables[t]; t++)
        for (const dq_cfg_key *k = spec->tables[t]; k->section; k++)
            if (strcmp(k->section, "run") == 0 && strcmp(k->key, key) == 0)
                return 1;
    return 0;
}

static void apply_plan(const dq_cli_spec *spec, dq_config *c,
                       const cli_plan *p)
{
    /* DNATEQ_DATA replaces the default; the config file and --set win. */
    const char *env = getenv("DNATEQ_DATA");
    if (env && *env && has_run_key(spec, "data_dir") &&
        dq_config_set(c, "run", "data_dir", env, "DNATEQ_DATA") != DQ_OK)
        dq_fatal(2, "%s", dq_error_message());
    if (p->config && dq_config_load_file(c, p->config) != DQ_OK)
        dq_fatal(2, "%s", dq_error_message());
    for (int i = 0; i < p->nov; i++) {
        const cli_override *o = &p->ov[i];
        int rc = o->key ? dq_config_set(c, "run", o->key, o->value, o->origin)
                        : dq_config_set_arg(c, o->value);
        if (rc != DQ_OK) dq_fatal(2, "%s", dq_error_message());
    }
    if (dq_config_check(c) != DQ_OK ||
        (has_run_key(spec, "split") &&
         dq_config_check_choice(c, "run", "split", DQ_SPLITS) != DQ_OK))
        dq_fatal(2, "%s", dq_error_message());
}

dq_config *dq_cli_parse_args(const dq_cli_spec *spec, int argc, char **argv,
                             dq_cli_args *args)
{
    dq_blas_pin(argv);
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help_print(spec);
            exit(0);
        }
        if (strcmp(argv[i], "--config-keys") == 0) {
            config_keys_print(spec);
            exit(fflush(stdout) == 0 ? 0 : 1);
        }
    }
    cli_plan p = {.log_level = DQ_LOG_INFO};
    p.ov = calloc((size_t)argc + 1, sizeof *p.ov);
    if (args) {
        *args = (dq_cli_args){0};
        args->pos = calloc((size_t)argc + 1, sizeof *args->pos);
    }
    if (!p.ov || (args && !args->pos)) dq_fatal(2, "out of memory");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (++i < argc) add_positional(spec, args, argv[i]);
            break;
        }
        plan_arg(spec, &p, args, argc, argv, &i);
    }
    dq_log_set_level(p.log_level);
    dq_config *c = dq_config_alloc(spec->tables);
    if (!c) dq_fatal(2, "%s", dq_error_message());
    apply_plan(spec, c, &p);
    free(p.ov);
    if (has_run_key(spec, "threads"))
        omp_set_num_threads((int)dq_config_int(c, "run", "threads"));
    return c;
}

dq_config *dq_cli_parse(const dq_cli_spec *spec, int argc, char **argv)
{
    return dq_cli_parse_args(spec, argc, argv, NULL);
}

void dq_cli_args_free(dq_cli_args *args)
{
    if (!args) return;
    free(args->pos);
    args->pos = NULL;
    args->npos = 0;
}
