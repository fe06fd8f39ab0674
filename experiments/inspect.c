/*
 * inspect.c — dnateq-inspect: look inside any dnateq HDF5 file, or at the
 * Fashion-MNIST dataset.
 *
 *   dnateq-inspect FILE.h5...        root attributes, then every group and
 *                                    dataset (recursively): shapes, summary
 *                                    statistics of float datasets, op and
 *                                    inputs of graph nodes
 *   dnateq-inspect --dataset [DIR]   image and class counts of every split
 */
#include "cli.h"
#include "dataset.h"
#include "error.h"
#include "h5io.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_SHORT 60 /* object attributes longer than this are cut */

static const dq_cfg_key *const tables[] = {dq_run_keys, NULL};
static const dq_cli_flag flags[] = {
    {"--dataset", "inspect the idx dataset in DIR (default: run.data_dir)"},
    {NULL, NULL},
};
static const dq_cli_spec spec = {
    .name = "dnateq-inspect",
    .summary = "list the tensors / graph nodes of dnateq HDF5 files, or the "
               "dataset splits",
    .usage_extra = "With FILE.h5: root attributes, then every group and "
                   "dataset with its shape;\nfloat datasets also get min, max, "
                   "mean, std, zero fraction and non-finite count.\nWith "
                   "--dataset [DIR]: images and class counts per split "
                   "(calib uses\nrun.calib_size and run.seed).",
    .tables = tables,
    .positional = "FILE.h5... | --dataset [DIR]",
    .flags = flags,
};

/* ---- attributes --------------------------------------------------------- */

/* Print one attribute value.  Strings stop at their first newline and,
 * when max > 0, after max characters ("..." marks the cut). */
static int print_attr(dq_h5 *f, const char *obj, const char *name, int max)
{
    dq_h5_kind kind;
    int64_t len;
    DQ_TRY(dq_h5_attr_info(f, obj, name, &kind, &len));
    if (kind == DQ_H5_STRING) {
        char *s = NULL;
        DQ_TRY(dq_h5_get_attr_str(f, obj, name, &s));
        size_t cut = strcspn(s, "\n");
        if (max > 0 && cut > (size_t)max) cut = (size_t)max;
        printf("'%.*s%s'", (int)cut, s, s[cut] ? "..." : "");
        free(s);
        return DQ_OK;
    }
    if (kind != DQ_H5_INT && kind != DQ_H5_FLOAT) {
        printf("(unsupported type)");
        return DQ_OK;
    }
    int n = 0, show = len < 16 ? (int)len : 16;
    double v[16];
    int64_t iv[16];
    if (kind == DQ_H5_INT)
        DQ_TRY(dq_h5_get_attr_ints(f, obj, name, iv, 16, &n));
    else
        DQ_TRY(dq_h5_get_attr_doubles(f, obj, name, v, 16, &n));
    if (len != 1) printf("[");
    for (int i = 0; i < show; i++) {
        if (kind == DQ_H5_INT) printf("%s%lld", i ? ", " : "", (long long)iv[i]);
        else printf("%s%.10g", i ? ", " : "", v[i]);
    }
    if (len > show) printf(", ... (%lld values)", (long long)len);
    if (len != 1) printf("]");
    return DQ_OK;
}

/* Root attributes, one per line; multi-line strings (the config) indented. */
static int print_root_attrs(dq_h5 *f)
{
    char **names;
    int n;
    DQ_TRY(dq_h5_list_attrs(f, "/", &names, &n));
    int rc = DQ_OK;
    for (int i = 0; i < n && rc == DQ_OK; i++) {
        dq_h5_kind kind;
        int64_t len;
        char *s = NULL;
        rc = dq_h5_attr_info(f, "/", names[i], &kind, &len);
        if (rc == DQ_OK && kind == DQ_H5_STRING)
            rc = dq_h5_get_attr_str(f, "/", names[i], &s);
        if (rc == DQ_OK && s && strchr(s, '\n')) {
            printf("  %s =\n", names[i]);
            for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
                printf("      %s\n", line);
        } else if (rc == DQ_OK) {
            printf("  %s = ", names[i]);
            rc = print_attr(f, "/", names[i], 0);
            printf("\n");
        }
        free(s);
    }
    dq_h5_list_free(names, n);
    return rc;
}

/* "  attrs: kind='weight', layer='fc1'" for the attributes of obj, except
 * op and inputs (printed on the object's own line). */
static int print_obj_attrs(dq_h5 *f, const char *obj)
{
    char **names;
    int n, shown = 0;
    DQ_TRY(dq_h5_list_attrs(f, obj, &names, &n));
    int rc = DQ_OK;
    for (int i = 0; i < n && rc == DQ_OK; i++) {
        if (strcmp(names[i], "op") == 0 || strcmp(names[i], "inputs") == 0)
            continue;
        printf("%s%s=", shown++ ? ", " : "      attrs: ", names[i]);
        rc = print_attr(f, obj, names[i], STR_SHORT);
    }
    if (shown) printf("\n");
    dq_h5_list_free(names, n);
    return rc;
}

/* ---- datasets and groups ------------------------------------------------ */

static void print_stats(const float *x, int64_t n)
{
    dq_tensor_stats st;
    dq_tensor_stats_compute(x, n, &st);
    printf("  min %.6g max %.6g mean %.6g std %.6g zeros %.4f nonfinite %lld",
           st.min, st.max, st.mean, st.std, st.zero_frac,
           (long long)st.n_nonfinite);
}

static int print_dataset(dq_h5 *f, const char *path)
{
    dq_h5_kind kind;
    int elsize, rank;
    int64_t shape[DQ_MAX_RANK];
    char sh[128];
    DQ_TRY(dq_h5_dataset_info(f, path, &kind, &elsize, &rank, shape));
    const char *tname = kind == DQ_H5_FLOAT    ? "float"
                        : kind == DQ_H5_INT    ? "int"
                        : kind == DQ_H5_STRING ? "string"
                                               : "other";
    printf("%s  %s%d %s", path, tname, elsize * 8,
           dq_shape_str(sh, sizeof sh, rank, shape));
    if (kind == DQ_H5_FLOAT && elsize == 4) {
        dq_tensor *t;
        DQ_TRY(dq_h5_read_tensor(f, path, &t));
        print_stats(t->data, t->size);
        dq_tensor_free(t);
    } else if (kind == DQ_H5_FLOAT && rank == 1) {
        double *v;
        int64_t n;
        DQ_TRY(dq_h5_read_doubles(f, path, &v, &n));
        float *x = malloc((size_t)(n ? n : 1) * sizeof *x);
        if (!x) {
            free(v);
            return DQ_ERROR(DQ_ENOMEM, "out of memory");
        }
        for (int64_t i = 0; i < n; i++) x[i] = (float)v[i];
        print_stats(x, n);
        free(x);
        free(v);
    }
    printf("\n");
    return print_obj_attrs(f, path);
}

static int walk(dq_h5 *f, const char *group);

static int print_group(dq_h5 *f, const char *path)
{
    printf("%s/", path);
    if (dq_h5_has_attr(f, path, "op")) {
        char *op = NULL, *inputs = NULL;
        DQ_TRY(dq_h5_get_attr_str(f, path, "op", &op));
        printf("  op %s", op);
        free(op);
        if (dq_h5_has_attr(f, path, "inputs") &&
            dq_h5_get_attr_str(f, path, "inputs", &inputs) == DQ_OK) {
            printf("  inputs [%s]", inputs);
            free(inputs);
        }
    }
    printf("\n");
    DQ_TRY(print_obj_attrs(f, path));
    return walk(f, path);
}

/* Every member of group, depth first, sorted by name. */
static int walk(dq_h5 *f, const char *group)
{
    char **names;
    int n;
    DQ_TRY(dq_h5_list(f, group, &names, &n));
    int rc = DQ_OK;
    for (int i = 0; i < n && rc == DQ_OK; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", strcmp(group, "/") ? group : "",
                 names[i]);
        int g = dq_h5_is_group(f, path);
        rc = g < 0 ? -g : g ? print_group(f, path) : print_dataset(f, path);
    }
    dq_h5_list_free(names, n);
    return rc;
}

static void inspect_file(const char *path)
{
    dq_h5 *f = dq_h5_open(path, NULL, 1000);
    if (!f) dq_die();
    printf("%s: format %s, version %d\n", path, dq_h5_format(f),
           dq_h5_version(f));
    if (print_root_attrs(f) != DQ_OK || walk(f, "/") != DQ_OK) {
        dq_h5_close(f);
        dq_die();
    }
    dq_h5_close(f);
}

/* ---- dataset ------------------------------------------------------------ */

static void inspect_dataset(const char *dir, int64_t calib_size, uint64_t seed)
{
    static const char *const splits[] = {"train", "val", "test", "calib"};
    printf("dataset: %s\n", dir);
    printf("%-6s %7s  images per class 0..9\n", "split", "images");
    for (int s = 0; s < 4; s++) {
        dq_dataset *d = dq_dataset_load(dir, splits[s], calib_size, seed);
        if (!d) dq_die();
        int64_t counts[DQ_FMNIST_CLASSES];
        dq_dataset_class_counts(d, counts);
        printf("%-6s %7lld ", d->split, (long long)d->n);
        for (int c = 0; c < DQ_FMNIST_CLASSES; c++)
            printf(" %5lld", (long long)counts[c]);
        if (s == 3)
            printf("   (calib_size %lld, seed %llu)", (long long)calib_size,
                   (unsigned long long)seed);
        printf("\n");
        if (s == 3)
            printf("normalisation (train split): mean %.9g std %.9g\n",
                   d->mean, d->std);
        dq_dataset_free(d);
    }
    dq_dataset_cache_clear();
}

int main(int argc, char **argv)
{
    dq_cli_args args;
    dq_config *cfg = dq_cli_parse_args(&spec, argc, argv, &args);
    if (args.flags & 1u) {
        if (args.npos > 1) dq_fatal(2, "--dataset takes at most one DIR");
        const char *dir = args.npos ? args.pos[0]
                                    : dq_config_str(cfg, "run", "data_dir");
        inspect_dataset(dir, dq_config_int(cfg, "run", "calib_size"),
                        (uint64_t)dq_config_int(cfg, "run", "seed"));
    } else if (args.npos == 0) {
        dq_fatal(2, "no FILE.h5 given (see --help)");
    } else {
        for (int i = 0; i < args.npos; i++) {
            if (i) printf("\n");
            inspect_file(args.pos[i]);
        }
    }
    dq_cli_args_free(&args);
    dq_config_free(cfg);
    return 0;
}
