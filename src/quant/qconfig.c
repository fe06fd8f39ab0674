/*
 * qconfig.c — the [quant] config section: dq_quant_opts from an INI file.
 *
 * Kept apart from quant.c so that code using the quantizers without a
 * config (tests, the engine's hooks) does not link the config module.
 */
#include "quant.h"

#include "config.h"
#include "error.h"

#include <string.h>

const dq_cfg_key dq_quant_keys[] = {
    {"quant", "sign_mode", DQ_CFG_STR, "auto", 1, 0,
     "auto (signed iff a value < 0) | signed | unsigned"},
    {"quant", "per_channel", DQ_CFG_BOOL, "false", 1, 0,
     "separate parameters per output channel (axis 0)"},
    {"quant", "zero_code", DQ_CFG_BOOL, "true", 1, 0,
     "reserve one code for an exact 0 (expq, codebook schemes)"},
    {"quant", "symmetric", DQ_CFG_BOOL, "true", 1, 0,
     "uniform: symmetric (true) or affine (false) grid"},
    {"quant", "calibrator", DQ_CFG_STR, "minmax", 1, 0,
     "uniform clipping: minmax | percentile | mse | kl"},
    {"quant", "percentile", DQ_CFG_DOUBLE, "99.99", 1e-9, 100,
     "percentile calibrator: percentile of |x|"},
    {"quant", "calib_bins", DQ_CFG_INT, "2048", 16, 1048576,
     "percentile/mse/kl calibrators: bins of the |x| histogram"},
    {"quant", "calib_start_bin", DQ_CFG_INT, "128", 0, 1048576,
     "mse/kl calibrators: first candidate bin"},
    {"quant", "objective", DQ_CFG_STR, "rmae", 1, 0,
     "expq search objective: rmae | mse | kl"},
    {"quant", "hist_bins", DQ_CFG_INT, "4096", 16, 1048576,
     "expq search: log-spaced |x| histogram bins"},
    {"quant", "base_max", DQ_CFG_DOUBLE, "4.0", 1.002, 1e6,
     "expq search: largest base of the grid"},
    {"quant", "base_grid", DQ_CFG_INT, "48", 2, 100000,
     "expq search: base grid points (uniform in ln ln base)"},
    {"quant", "base_tol", DQ_CFG_DOUBLE, "1e-4", 1e-12, 1,
     "expq search: golden-section tolerance on ln ln base"},
    {"quant", "ab_mode", DQ_CFG_STR, "closed", 1, 0,
     "expq alpha/beta: closed (Lloyd least squares) | grid"},
    {"quant", "lloyd_iters", DQ_CFG_INT, "12", 1, 10000,
     "expq closed form: assignment/least-squares rounds"},
    {"quant", "refine_evals", DQ_CFG_INT, "12", 0, 100000,
     "expq closed form: compass-search evaluations polishing alpha, beta "
     "for RMAE/KL after least squares (0: none)"},
    {"quant", "ab_grid", DQ_CFG_INT, "24", 2, 10000,
     "expq grid mode: points per axis"},
    {"quant", "fixed_base", DQ_CFG_DOUBLE, "0", 0, 1e6,
     "expq: > 1 fixes the base (no base search); 0 searches it"},
    {"quant", "exact", DQ_CFG_BOOL, "false", 1, 0,
     "evaluate search objectives on every element (slow reference)"},
    {"quant", "sparq_shift_opt", DQ_CFG_INT, "0", 0, 8,
     "sparq: window placements; 0 = every bit offset (opt5 at 4 bits)"},
    {NULL, NULL, 0, NULL, 0, 0, NULL},
};

static int pick(const char *sec, const char *key, const char *v,
                const char *const *names, int *out)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return DQ_OK;
        }
    return DQ_ERROR(DQ_ECONFIG, "[%s] %s = '%s': not one of the allowed "
                    "values (see --help)", sec, key, v);
}

int dq_quant_opts_from_config(const dq_config *c, const char *section,
                              dq_quant_opts *o)
{
    static const char *const signs[] = {"auto", "signed", "unsigned", NULL};
    static const char *const calibs[] = {"minmax", "percentile", "mse", "kl",
                                         NULL};
    static const char *const objs[] = {"rmae", "mse", "kl", NULL};
    static const char *const abs_[] = {"closed", "grid", NULL};
    const char *s = section ? section : "quant";
    int v = 0;
    dq_quant_opts_default(o);
    DQ_TRY(pick(s, "sign_mode", dq_config_str(c, s, "sign_mode"), signs, &v));
    o->sign_mode = (dq_sign_mode)v;
    o->per_channel = dq_config_bool(c, s, "per_channel");
    o->zero_code = dq_config_bool(c, s, "zero_code");
    o->symmetric = dq_config_bool(c, s, "symmetric");
    DQ_TRY(pick(s, "calibrator", dq_config_str(c, s, "calibrator"), calibs,
                &v));
    o->calibrator = (dq_calibrator)v;
    o->percentile = dq_config_double(c, s, "percentile");
    o->calib_bins = (int)dq_config_int(c, s, "calib_bins");
    o->calib_start_bin = (int)dq_config_int(c, s, "calib_start_bin");
    DQ_TRY(pick(s, "objective", dq_config_str(c, s, "objective"), objs, &v));
    o->objective = (dq_objective)v;
    o->hist_bins = (int)dq_config_int(c, s, "hist_bins");
    o->base_max = dq_config_double(c, s, "base_max");
    o->base_grid = (int)dq_config_int(c, s, "base_grid");
    o->base_tol = dq_config_double(c, s, "base_tol");
    DQ_TRY(pick(s, "ab_mode", dq_config_str(c, s, "ab_mode"), abs_, &v));
    o->ab_mode = (dq_ab_mode)v;
    o->lloyd_iters = (int)dq_config_int(c, s, "lloyd_iters");
    o->refine_evals = (int)dq_config_int(c, s, "refine_evals");
    o->ab_grid = (int)dq_config_int(c, s, "ab_grid");
    o->fixed_base = dq_config_double(c, s, "fixed_base");
    o->exact = dq_config_bool(c, s, "exact");
    o->sparq_shift_opt = (int)dq_config_int(c, s, "sparq_shift_opt");
    return dq_quant_opts_check(o);
}
