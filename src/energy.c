/*
 * energy.c — the energy model of DESIGN §3 (energy.h): per-operation
 * prices from the [energy] config section, the accelerator's memory
 * hierarchy from [accelerator], applied to dq_opcount counts (opcount.h).
 *
 * Where it sits: the energy experiment builds a dq_optable per model and
 * scheme (opcount.h), prices each layer here and sums them; nothing here
 * reads models or plans.
 */
#include "energy.h"

#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The defaults are the values of configs/energy/horowitz45.ini, where
 * each one's source is written next to it. */
const dq_cfg_key dq_energy_keys[] = {
    {"energy", "int_add8_pj", DQ_CFG_DOUBLE, "0.03", 0, 1e6,
     "8-bit integer add, pJ (Horowitz ISSCC 2014, 45 nm)"},
    {"energy", "int_add32_pj", DQ_CFG_DOUBLE, "0.1", 0, 1e6,
     "32-bit integer add, pJ (Horowitz 2014)"},
    {"energy", "int_mult8_pj", DQ_CFG_DOUBLE, "0.2", 0, 1e6,
     "8-bit integer multiply, pJ (Horowitz 2014)"},
    {"energy", "int_mult32_pj", DQ_CFG_DOUBLE, "3.1", 0, 1e6,
     "32-bit integer multiply, pJ (Horowitz 2014)"},
    {"energy", "fp32_add_pj", DQ_CFG_DOUBLE, "0.9", 0, 1e6,
     "FP32 add, pJ (Horowitz 2014)"},
    {"energy", "fp32_mult_pj", DQ_CFG_DOUBLE, "3.7", 0, 1e6,
     "FP32 multiply, pJ (Horowitz 2014)"},
    {"energy", "add_scaling", DQ_CFG_STR, "linear", 1, 0,
     "integer adders vs bits: linear = line through the 8- and 32-bit points"},
    {"energy", "mult_scaling", DQ_CFG_STR, "quadratic", 1, 0,
     "integer multipliers vs bits: quadratic (c0 + c2*bw*ba through 8x8 and "
     "32x32) or linear (in (bw+ba)/2)"},
    {"energy", "xor_add_bits", DQ_CFG_INT, "1", 1, 64,
     "a sign XOR is priced as an integer add of this many bits"},
    {"energy", "shift_add_bits", DQ_CFG_INT, "0", 0, 64,
     "a log2 shift is priced as an add of this many bits (0: accumulator "
     "width)"},
    {"energy", "combine", DQ_CFG_STR, "fp32", 1, 0,
     "per-output combine arithmetic: fp32 or int"},
    {"energy", "combine_int_bits", DQ_CFG_INT, "16", 2, 64,
     "combine = int: multiplies are this many bits square, adds 32 bits"},
    {"energy", "sram_access_pj", DQ_CFG_DOUBLE, "10", 0, 1e9,
     "SRAM (8 KB) energy per access, pJ (Horowitz 2014)"},
    {"energy", "sram_access_bits", DQ_CFG_INT, "64", 1, 4096,
     "bits per SRAM access"},
    {"energy", "dram_access_pj", DQ_CFG_DOUBLE, "1300", 0, 1e9,
     "DRAM energy per access, pJ (Horowitz 2014: 1.3-2.6 nJ)"},
    {"energy", "dram_access_pj_alt", DQ_CFG_DOUBLE, "2600", 0, 1e9,
     "DRAM energy per access for the sensitivity line, pJ"},
    {"energy", "dram_access_bits", DQ_CFG_INT, "64", 1, 4096,
     "bits per DRAM access"},
    {"accelerator", "sram_kib", DQ_CFG_INT, "2048", 1, 1e9,
     "on-chip SRAM, KiB"},
    {"accelerator", "weights_from_dram", DQ_CFG_STR, "per_batch", 1, 0,
     "weights fetched from DRAM per_batch or per_inference"},
    {"accelerator", "batch", DQ_CFG_INT, "32", 1, 1e9,
     "inferences per batch (weights_from_dram = per_batch)"},
    {NULL, NULL, DQ_CFG_STR, NULL, 0, 0, NULL},
};

int dq_energy_params_from_config(dq_energy_params *e, const dq_config *c)
{
    if (!e || !c) return DQ_ERROR(DQ_EINVAL, "energy: NULL argument");
    memset(e, 0, sizeof *e);
    e->int_add8_pj = dq_config_double(c, "energy", "int_add8_pj");
    e->int_add32_pj = dq_config_double(c, "energy", "int_add32_pj");
    e->int_mult8_pj = dq_config_double(c, "energy", "int_mult8_pj");
    e->int_mult32_pj = dq_config_double(c, "energy", "int_mult32_pj");
    e->fp32_add_pj = dq_config_double(c, "energy", "fp32_add_pj");
    e->fp32_mult_pj = dq_config_double(c, "energy", "fp32_mult_pj");
    /* string choices first, so a bad one is reported with its origin */
    DQ_TRY(dq_config_check_choice(c, "energy", "add_scaling", "linear"));
    DQ_TRY(dq_config_check_choice(c, "energy", "mult_scaling",
                                  "quadratic|linear"));
    DQ_TRY(dq_config_check_choice(c, "energy", "combine", "fp32|int"));
    DQ_TRY(dq_config_check_choice(c, "accelerator", "weights_from_dram",
                                  "per_batch|per_inference"));
    e->mult_scaling =
        strcmp(dq_config_str(c, "energy", "mult_scaling"), "linear") == 0
            ? DQ_MULT_LINEAR : DQ_MULT_QUADRATIC;
    e->xor_add_bits = (int)dq_config_int(c, "energy", "xor_add_bits");
    e->shift_add_bits = (int)dq_config_int(c, "energy", "shift_add_bits");
    e->combine = strcmp(dq_config_str(c, "energy", "combine"), "int") == 0
                     ? DQ_COMBINE_INT : DQ_COMBINE_FP32;
    e->combine_int_bits = (int)dq_config_int(c, "energy", "combine_int_bits");
    e->sram_access_pj = dq_config_double(c, "energy", "sram_access_pj");
    e->sram_access_bits = (int)dq_config_int(c, "energy", "sram_access_bits");
    e->dram_access_pj = dq_config_double(c, "energy", "dram_access_pj");
    e->dram_access_pj_alt = dq_config_double(c, "energy", "dram_access_pj_alt");
    e->dram_access_bits = (int)dq_config_int(c, "energy", "dram_access_bits");
    e->sram_kib = dq_config_int(c, "accelerator", "sram_kib");
    e->weights_per_batch =
        strcmp(dq_config_str(c, "accelerator", "weights_from_dram"),
               "per_batch") == 0;
    e->batch = (int)dq_config_int(c, "accelerator", "batch");
    return DQ_OK;
}

int dq_energy_params_load(dq_energy_params *e, const char *path)
{
    const dq_cfg_key *const tables[] = {dq_energy_keys, NULL};
    dq_config *c = dq_config_alloc(tables);
    if (!c) return dq_error_status() ? dq_error_status() : DQ_ENOMEM;
    int st = DQ_OK;
    if (path) st = dq_config_load_file(c, path);
    if (st == DQ_OK) st = dq_config_check(c);
    if (st == DQ_OK) st = dq_energy_params_from_config(e, c);
    dq_config_free(c);
    return st;
}

double dq_energy_int_add(const dq_energy_params *e, int bits)
{
    /* linear: the line through (8, E_add8) and (32, E_add32) */
    return e->int_add8_pj +
           (bits - 8) * (e->int_add32_pj - e->int_add8_pj) / 24.0;
}

double dq_energy_int_mult(const dq_energy_params *e, int bits_w, int bits_a)
{
    if (e->mult_scaling == DQ_MULT_LINEAR)
        return e->int_mult8_pj + (0.5 * (bits_w + bits_a) - 8) *
                                     (e->int_mult32_pj - e->int_mult8_pj) /
                                     24.0;
    /* quadratic: c0 + c2·b_w·b_a through (8x8, E_mul8), (32x32, E_mul32) */
    double c2 = (e->int_mult32_pj - e->int_mult8_pj) / (32.0 * 32 - 8.0 * 8);
    double c0 = e->int_mult8_pj - 64.0 * c2;
    return c0 + c2 * bits_w * bits_a;
}

int dq_energy_layer(dq_energy *out, const dq_energy_params *e,
                    const dq_opcount *oc)
{
    if (!out || !e || !oc) return DQ_ERROR(DQ_EINVAL, "energy: NULL argument");
    if (e->batch < 1 || e->sram_access_bits < 1 || e->dram_access_bits < 1)
        return DQ_ERROR(DQ_EINVAL, "energy: batch and access widths must be >= 1");
    memset(out, 0, sizeof *out);

    /* ---- compute: every count at the energy of its operation ---- */
    double c = 0.0;
    c += (double)oc->fp_mults * e->fp32_mult_pj;
    c += (double)oc->fp_adds * e->fp32_add_pj;
    if (oc->int_mults)
        c += (double)oc->int_mults *
             dq_energy_int_mult(e, oc->mult_bits_w, oc->mult_bits_a);
    if (oc->int_adds)
        c += (double)oc->int_adds * dq_energy_int_add(e, oc->acc_bits);
    if (oc->exp_adds)
        c += (double)oc->exp_adds * dq_energy_int_add(e, oc->exp_add_bits);
    if (oc->sign_xors)
        c += (double)oc->sign_xors * dq_energy_int_add(e, e->xor_add_bits);
    if (oc->shifts)
        c += (double)oc->shifts *
             dq_energy_int_add(e, e->shift_add_bits ? e->shift_add_bits
                                                    : oc->acc_bits);
    if (oc->counter_incs)
        c += (double)oc->counter_incs * dq_energy_int_add(e, oc->counter_bits);
    if (e->combine == DQ_COMBINE_FP32) {
        c += (double)oc->combine_muls * e->fp32_mult_pj;
        c += (double)oc->combine_adds * e->fp32_add_pj;
    } else {
        c += (double)oc->combine_muls *
             dq_energy_int_mult(e, e->combine_int_bits, e->combine_int_bits);
        c += (double)oc->combine_adds * dq_energy_int_add(e, 32);
    }
    out->compute_pj = c;

    /* ---- memory: bits moved at each level ---- */
    const double cap = (double)e->sram_kib * 1024.0 * 8.0;
    const double wparam = oc->w_is_param ? (double)oc->w_bits : 0.0;
    const double act = (double)oc->in_bits + (double)oc->out_bits +
                       (oc->w_is_param ? 0.0 : (double)oc->w_bits);
    const double nb = e->weights_per_batch ? (double)e->batch : 1.0;
    double dram_w = wparam;
    if (wparam + nb * act <= cap) dram_w = wparam / nb;
    else out->weights_streamed = oc->w_is_param && nb > 1.0;
    double dram_act = 0.0;
    if (act > cap) {
        dram_act = act;
        out->spilled = 1;
    }
    out->sram_bits = (double)oc->w_bits + (double)oc->in_bits +
                     (double)oc->out_bits + dram_w;
    out->dram_bits = dram_w + dram_act;
    out->sram_pj = out->sram_bits * e->sram_access_pj / e->sram_access_bits;
    out->dram_pj = out->dram_bits * e->dram_access_pj / e->dram_access_bits;
    out->total_pj = out->compute_pj + out->sram_pj + out->dram_pj;
    return DQ_OK;
}

void dq_energy_add(dq_energy *acc, const dq_energy *x)
{
    acc->compute_pj += x->compute_pj;
    acc->sram_pj += x->sram_pj;
    acc->dram_pj += x->dram_pj;
    acc->total_pj += x->total_pj;
    acc->sram_bits += x->sram_bits;
    acc->dram_bits += x->dram_bits;
    acc->spilled += x->spilled;
    acc->weights_streamed += x->weights_streamed;
}

int dq_energy_optable(dq_energy *total, dq_energy *per,
                      const dq_energy_params *e, const dq_optable *t)
{
    if (!total || !e || !t) return DQ_ERROR(DQ_EINVAL, "energy: NULL argument");
    memset(total, 0, sizeof *total);
    for (int r = 0; r < t->n; r++) {
        dq_energy x;
        int rc = dq_energy_layer(&x, e, &t->oc[r]);
        if (rc != DQ_OK)
            return dq_error_prefix(rc, "%s: layer '%s'", t->m->path,
                                   t->m->nodes[t->node[r]].name);
        dq_energy_add(total, &x);
        if (per) per[r] = x;
    }
    return DQ_OK;
}
