/*
 * qio.h — calibrated quantization parameters (dq_qparams, quant.h) in an
 * HDF5 group, generically for every scheme: the plan file (plan.h) stores
 * one such group per quantized tensor, so a plan re-applies without
 * recalibration.
 *
 * Group layout (all exact: doubles as float64, flags as int64):
 *   attributes  scheme (registry name), bits, is_signed, per_channel,
 *               nchan, chan_size, opts (the dq_quant_opts it was
 *               calibrated with, "key=value" pairs, doubles as %.17g)
 *   chan        int64 (nchan * 4): bits, is_signed, zero_code, zero
 *   p           float64 (nchan * DQ_QP_MAX): scheme parameters
 *   objective   float64 (nchan)
 *   codebook schemes only (any channel has a codebook):
 *   cb          int64 (nchan * 6): has_cb, kind, bits, is_signed,
 *               zero_code, K
 *   cb_lev, cb_thr  float64 (sum of K): each channel's levels and upper
 *               thresholds, channels concatenated
 *   cb_thr0     float64 (nchan)
 *
 * Reading validates every field (known scheme, bits 2..8, lengths,
 * counts) and names the file and group in its errors.  h5io is not
 * thread-safe: call from one thread.
 */
#ifndef DQ_QIO_H
#define DQ_QIO_H

#include "h5io.h"
#include "quant/quant.h"

/* Write p into group `group` of f (created when missing). */
int dq_qparams_write(dq_h5 *f, const char *group, const dq_qparams *p);
/* Read the parameters stored in `group`; *out is a complete dq_qparams. */
int dq_qparams_read(dq_h5 *f, const char *group, dq_qparams **out);

/* 1 when a and b are identical: scheme, shape, every channel's fields and
 * parameters bit for bit (NaN objectives equal), codebooks and options. */
int dq_qparams_equal(const dq_qparams *a, const dq_qparams *b);

/* The options as "key=value ..." text (malloc()ed) and back; parsing
 * starts from the defaults and rejects unknown keys (DQ_EFORMAT). */
char *dq_quant_opts_str(const dq_quant_opts *o);
int dq_quant_opts_parse(const char *s, dq_quant_opts *o);

#endif
