/*
 * energy.h — energy per inference from operation and data-movement counts
 * (DESIGN §3).
 *
 * Prices come from a config (configs/energy/horowitz45.ini: Horowitz,
 * ISSCC 2014, 45 nm), read through the key table dq_energy_keys:
 *
 *   [energy]  per-operation energies (pJ) and their scaling rules:
 *     integer add of b bits (add_scaling = linear, the only rule): the
 *       straight line through the 8- and 32-bit points,
 *         E_add(b) = E_add8 + (b - 8)·(E_add32 - E_add8)/24;
 *     integer multiply of b_w x b_a bits (mult_scaling = quadratic): the
 *       curve c0 + c2·b_w·b_a through the 8x8 and 32x32 points,
 *         c2 = (E_mul32 - E_mul8)/(32² - 8²),  c0 = E_mul8 - 64·c2;
 *       (mult_scaling = linear: the straight line in (b_w + b_a)/2);
 *     FP32 add and multiply; a sign XOR priced as an add of xor_add_bits
 *     bits; a LOG2 shift as an add of shift_add_bits bits (0: the
 *     accumulator width); the per-output combine in FP32 (combine = fp32)
 *     or as combine_int_bits-square integer multiplies and 32-bit adds
 *     (combine = int);
 *     SRAM and DRAM energy per access of sram_access_bits /
 *     dram_access_bits bits, so memory energy = bits x pJ/access / bits
 *     per access.  dram_access_pj_alt is the sensitivity value.
 *   [accelerator]  sram_kib of on-chip SRAM; weights fetched from DRAM
 *     once per batch of `batch` inferences (weights_from_dram = per_batch)
 *     or for every inference (per_inference); activations live in SRAM.
 *
 * Memory model, per layer and per inference (dq_energy_layer):
 *   - every operand passes through SRAM once: input and weight reads and
 *     the output write, w_bits + in_bits + out_bits;
 *   - parameter weights come from DRAM: w_bits / batch when the layer's
 *     weights plus a batch of its activations (batch x (in + out)) fit in
 *     the SRAM, else w_bits (streamed per inference); the DRAM fetch is
 *     also an SRAM write of the same bits;
 *   - a layer whose activations of one inference (in + out, and a matmul's
 *     second operand) exceed the SRAM spills them: they also cross DRAM.
 * Compute: each count of dq_opcount times the energy of its operation at
 * its width.  The model's input image and logits are not charged.
 * dq_energy_optable() prices every row of a dq_optable (opcount.h) and
 * sums them: the energy of one inference of a whole model.
 */
#ifndef DQ_ENERGY_H
#define DQ_ENERGY_H

#include "config.h"
#include "opcount.h"

#include <stdint.h>

/* [energy] and [accelerator] */
extern const dq_cfg_key dq_energy_keys[];

typedef enum { DQ_MULT_QUADRATIC, DQ_MULT_LINEAR } dq_mult_scaling;
typedef enum { DQ_COMBINE_FP32, DQ_COMBINE_INT } dq_combine_arith;

typedef struct {
    double int_add8_pj, int_add32_pj;   /* integer add, 8 and 32 bits */
    double int_mult8_pj, int_mult32_pj; /* integer multiply, 8x8 and 32x32 */
    double fp32_add_pj, fp32_mult_pj;
    dq_mult_scaling mult_scaling;
    int xor_add_bits;   /* a sign XOR costs an add of this many bits */
    int shift_add_bits; /* a LOG2 shift costs an add of this many bits;
                           0: the accumulator width */
    dq_combine_arith combine;
    int combine_int_bits;
    double sram_access_pj; int sram_access_bits;
    double dram_access_pj; int dram_access_bits;
    double dram_access_pj_alt; /* sensitivity line */
    /* accelerator */
    int64_t sram_kib;
    int weights_per_batch; /* 1: per_batch, 0: per_inference */
    int batch;
} dq_energy_params;

typedef struct {
    double compute_pj, sram_pj, dram_pj, total_pj;
    double sram_bits, dram_bits; /* per inference */
    int spilled;        /* layers whose activations crossed DRAM */
    int weights_streamed; /* layers whose weights came per inference */
} dq_energy;

/* Read [energy] and [accelerator] of c (a config built with
 * dq_energy_keys).  DQ_ECONFIG on an unknown scaling rule or choice. */
int dq_energy_params_from_config(dq_energy_params *e, const dq_config *c);
/* Load a config file that holds only [energy] and [accelerator] (path
 * NULL: the built-in defaults, equal to horowitz45.ini). */
int dq_energy_params_load(dq_energy_params *e, const char *path);

/* Energy of one integer add of `bits`, one b_w x b_a integer multiply. */
double dq_energy_int_add(const dq_energy_params *e, int bits);
double dq_energy_int_mult(const dq_energy_params *e, int bits_w, int bits_a);

/* Energy of one inference of one layer. */
int dq_energy_layer(dq_energy *out, const dq_energy_params *e,
                    const dq_opcount *oc);
/* acc += x (for model totals). */
void dq_energy_add(dq_energy *acc, const dq_energy *x);
/* *total = the sum over t's rows (counted: dq_optable_count), per[r]
 * (t->n entries, or NULL) each row's energy. */
int dq_energy_optable(dq_energy *total, dq_energy *per,
                      const dq_energy_params *e, const dq_optable *t);

#endif
