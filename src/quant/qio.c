/*
 * qio.c — dq_qparams to and from an HDF5 group (qio.h), for every scheme
 * at once: the fields of dq_qparams / dq_qchan / dq_codebook are stored
 * as they are, so nothing here knows what a scheme's p[] mean.
 */
#include "quant/qio.h"

#include "error.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options as text ------------------------------------------------------ */

typedef enum { F_INT, F_DOUBLE, F_U64 } ftype;

typedef struct {
    const char *name;
    ftype type;
    size_t off;
} ofield;

_Static_assert(sizeof(dq_sign_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(dq_calibrator) == sizeof(int), "enum size");
_Static_assert(sizeof(dq_objective) == sizeof(int), "enum size");
_Static_assert(sizeof(dq_ab_mode) == sizeof(int), "enum size");

#define OF(name, type) {#name, type, offsetof(dq_quant_opts, name)}
static const ofield ofields[] = {
    OF(sign_mode, F_INT),   OF(per_channel, F_INT),     OF(zero_code, F_INT),
    OF(symmetric, F_INT),   OF(calibrator, F_INT),      OF(percentile, F_DOUBLE),
    OF(calib_bins, F_INT),  OF(calib_start_bin, F_INT), OF(objective, F_INT),
    OF(hist_bins, F_INT),   OF(base_max, F_DOUBLE),     OF(base_grid, F_INT),
    OF(base_tol, F_DOUBLE), OF(ab_mode, F_INT),         OF(lloyd_iters, F_INT),
    OF(refine_evals, F_INT), OF(ab_grid, F_INT),        OF(fixed_base, F_DOUBLE),
    OF(exact, F_INT),       OF(seed, F_U64),            OF(sparq_shift_opt, F_INT),
};
#undef OF
#define NOFIELDS ((int)(sizeof ofields / sizeof ofields[0]))

char *dq_quant_opts_str(const dq_quant_opts *o)
{
    size_t cap = 64 * (size_t)NOFIELDS, len = 0;
    char *s = malloc(cap);
    if (!s) DQ_ERROR_NULL(DQ_ENOMEM, "quant options: out of memory");
    s[0] = '\0';
    for (int i = 0; i < NOFIELDS; i++) {
        const char *base = (const char *)o + ofields[i].off;
        const char *sep = i ? " " : "";
        if (ofields[i].type == F_INT) {
            int v;
            memcpy(&v, base, sizeof v);
            len += (size_t)snprintf(s + len, cap - len, "%s%s=%d", sep,
                                    ofields[i].name, v);
        } else if (ofields[i].type == F_DOUBLE) {
            double v;
            memcpy(&v, base, sizeof v);
            len += (size_t)snprintf(s + len, cap - len, "%s%s=%.17g", sep,
                                    ofields[i].name, v);
        } else {
            uint64_t v;
            memcpy(&v, base, sizeof v);
            len += (size_t)snprintf(s + len, cap - len, "%s%s=%llu", sep,
                                    ofields[i].name, (unsigned long long)v);
        }
    }
    return s;
}

int dq_quant_opts_parse(const char *s, dq_quant_opts *o)
{
    dq_quant_opts_default(o);
    if (!s) return DQ_OK;
    const char *p = s;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t klen = strcspn(p, "= ");
        if (p[klen] != '=')
            return DQ_ERROR(DQ_EFORMAT, "quant options: expected key=value "
                            "at '%.20s'", p);
        int f = -1;
        for (int i = 0; i < NOFIELDS; i++)
            if (strlen(ofields[i].name) == klen &&
                strncmp(ofields[i].name, p, klen) == 0)
                f = i;
        if (f < 0)
            return DQ_ERROR(DQ_EFORMAT, "quant options: unknown option "
                            "'%.*s'", (int)klen, p);
        const char *v = p + klen + 1;
        char *end = NULL;
        char *base = (char *)o + ofields[f].off;
        if (ofields[f].type == F_INT) {
            long x = strtol(v, &end, 10);
            int iv = (int)x;
            memcpy(base, &iv, sizeof iv);
        } else if (ofields[f].type == F_DOUBLE) {
            double x = strtod(v, &end);
            memcpy(base, &x, sizeof x);
        } else {
            uint64_t x = strtoull(v, &end, 10);
            memcpy(base, &x, sizeof x);
        }
        if (end == v || (*end && *end != ' '))
            return DQ_ERROR(DQ_EFORMAT, "quant options: bad value for '%s'",
                            ofields[f].name);
        p = end;
    }
    return DQ_OK;
}

static int opts_equal(const dq_quant_opts *a, const dq_quant_opts *b)
{
    for (int i = 0; i < NOFIELDS; i++) {
        size_t sz = ofields[i].type == F_INT ? sizeof(int) : 8;
        if (memcmp((const char *)a + ofields[i].off,
                   (const char *)b + ofields[i].off, sz) != 0)
            return 0;
    }
    return 1;
}

/* ---- equality -------------------------------------------------------------- */

static int dbl_same(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static int cb_equal(const dq_codebook *a, const dq_codebook *b)
{
    if (!a || !b) return a == b;
    if (a->kind != b->kind || a->bits != b->bits ||
        a->is_signed != b->is_signed || a->zero_code != b->zero_code ||
        a->K != b->K || !dbl_same(a->thr0, b->thr0))
        return 0;
    for (int k = 0; k < a->K; k++)
        if (!dbl_same(a->lev[k], b->lev[k]) || !dbl_same(a->thr[k], b->thr[k]))
            return 0;
    return 1;
}

int dq_qparams_equal(const dq_qparams *a, const dq_qparams *b)
{
    if (!a || !b) return a == b;
    if (a->scheme != b->scheme || a->bits != b->bits ||
        a->is_signed != b->is_signed || a->per_channel != b->per_channel ||
        a->nchan != b->nchan || a->chan_size != b->chan_size ||
        !opts_equal(&a->opts, &b->opts))
        return 0;
    for (int64_t c = 0; c < a->nchan; c++) {
        const dq_qchan *x = &a->chan[c], *y = &b->chan[c];
        if (x->bits != y->bits || x->is_signed != y->is_signed ||
            x->zero_code != y->zero_code || x->zero != y->zero ||
            !dbl_same(x->objective, y->objective) || !cb_equal(x->cb, y->cb))
            return 0;
        for (int i = 0; i < DQ_QP_MAX; i++)
            if (!dbl_same(x->p[i], y->p[i])) return 0;
    }
    return 1;
}

/* ---- write ----------------------------------------------------------------- */

static int write_body(dq_h5 *f, const char *g, const dq_qparams *p)
{
    int64_t nc = p->nchan;
    char obj[1024];
    DQ_TRY(dq_h5_set_attr_str(f, g, "scheme", p->scheme->name));
    DQ_TRY(dq_h5_set_attr_int(f, g, "bits", p->bits));
    DQ_TRY(dq_h5_set_attr_int(f, g, "is_signed", p->is_signed));
    DQ_TRY(dq_h5_set_attr_int(f, g, "per_channel", p->per_channel));
    DQ_TRY(dq_h5_set_attr_int(f, g, "nchan", nc));
    DQ_TRY(dq_h5_set_attr_int(f, g, "chan_size", p->chan_size));
    char *opts = dq_quant_opts_str(&p->opts);
    if (!opts) return dq_error_status();
    int rc = dq_h5_set_attr_str(f, g, "opts", opts);
    free(opts);
    DQ_TRY(rc);

    int64_t ncb = 0, nlev = 0;
    for (int64_t c = 0; c < nc; c++)
        if (p->chan[c].cb) {
            ncb++;
            nlev += p->chan[c].cb->K;
        }
    int64_t *iv = malloc((size_t)nc * 6 * sizeof *iv);
    double *dv = malloc((size_t)(nc * DQ_QP_MAX + nlev + 1) * sizeof *dv);
    if (!iv || !dv) {
        free(iv);
        free(dv);
        return DQ_ERROR(DQ_ENOMEM, "%s: %s: out of memory", dq_h5_path(f), g);
    }
    for (int64_t c = 0; c < nc; c++) {
        const dq_qchan *ch = &p->chan[c];
        iv[4 * c + 0] = ch->bits;
        iv[4 * c + 1] = ch->is_signed;
        iv[4 * c + 2] = ch->zero_code;
        iv[4 * c + 3] = ch->zero;
    }
    snprintf(obj, sizeof obj, "%s/chan", g);
    rc = dq_h5_write_ints(f, obj, iv, nc * 4);
    for (int64_t c = 0; c < nc && rc == DQ_OK; c++)
        memcpy(dv + c * DQ_QP_MAX, p->chan[c].p, sizeof p->chan[c].p);
    snprintf(obj, sizeof obj, "%s/p", g);
    if (rc == DQ_OK) rc = dq_h5_write_doubles(f, obj, dv, nc * DQ_QP_MAX);
    for (int64_t c = 0; c < nc; c++) dv[c] = p->chan[c].objective;
    snprintf(obj, sizeof obj, "%s/objective", g);
    if (rc == DQ_OK) rc = dq_h5_write_doubles(f, obj, dv, nc);
    if (rc == DQ_OK && ncb > 0) {
        for (int64_t c = 0; c < nc; c++) {
            const dq_codebook *cb = p->chan[c].cb;
            int64_t *r = iv + 6 * c;
            r[0] = cb != NULL;
            r[1] = cb ? cb->kind : 0;
            r[2] = cb ? cb->bits : 0;
            r[3] = cb ? cb->is_signed : 0;
            r[4] = cb ? cb->zero_code : 0;
            r[5] = cb ? cb->K : 0;
        }
        snprintf(obj, sizeof obj, "%s/cb", g);
        rc = dq_h5_write_ints(f, obj, iv, nc * 6);
        for (int pass = 0; pass < 2 && rc == DQ_OK; pass++) {
            int64_t k = 0;
            for (int64_t c = 0; c < nc; c++) {
                const dq_codebook *cb = p->chan[c].cb;
                if (!cb) continue;
                memcpy(dv + k, pass ? cb->thr : cb->lev,
                       (size_t)cb->K * sizeof(double));
                k += cb->K;
            }
            snprintf(obj, sizeof obj, "%s/%s", g, pass ? "cb_thr" : "cb_lev");
            rc = dq_h5_write_doubles(f, obj, dv, nlev);
        }
        for (int64_t c = 0; c < nc; c++)
            dv[c] = p->chan[c].cb ? p->chan[c].cb->thr0 : 0.0;
        snprintf(obj, sizeof obj, "%s/cb_thr0", g);
        if (rc == DQ_OK) rc = dq_h5_write_doubles(f, obj, dv, nc);
    }
    free(iv);
    free(dv);
    return rc;
}

int dq_qparams_write(dq_h5 *f, const char *group, const dq_qparams *p)
{
    if (!f || !group || !p || !p->scheme || !p->chan || p->nchan < 1)
        return DQ_ERROR(DQ_EINVAL, "quant params: nothing to write");
    if (!dq_h5_exists(f, group)) DQ_TRY(dq_h5_mkgroup(f, group));
    return write_body(f, group, p);
}

/* ---- read ------------------------------------------------------------------ */

/* A 1-D dataset of exactly n values (ints or doubles). */
static int read_ints_n(dq_h5 *f, const char *g, const char *name, int64_t n,
                       int64_t **v)
{
    char obj[1024];
    int64_t m = 0;
    snprintf(obj, sizeof obj, "%s/%s", g, name);
    DQ_TRY(dq_h5_read_ints(f, obj, v, &m));
    if (m != n) {
        free(*v);
        *v = NULL;
        return DQ_ERROR(DQ_EFORMAT, "%s: %s: %lld values, expected %lld",
                        dq_h5_path(f), obj, (long long)m, (long long)n);
    }
    return DQ_OK;
}

static int read_doubles_n(dq_h5 *f, const char *g, const char *name,
                          int64_t n, double **v)
{
    char obj[1024];
    int64_t m = 0;
    snprintf(obj, sizeof obj, "%s/%s", g, name);
    DQ_TRY(dq_h5_read_doubles(f, obj, v, &m));
    if (m != n) {
        free(*v);
        *v = NULL;
        return DQ_ERROR(DQ_EFORMAT, "%s: %s: %lld values, expected %lld",
                        dq_h5_path(f), obj, (long long)m, (long long)n);
    }
    return DQ_OK;
}

#define BAD(...)                                                               \
    do {                                                                       \
        rc = dq_error_set(DQ_EFORMAT, __VA_ARGS__);                            \
        goto done;                                                             \
    } while (0)

static int read_codebooks(dq_h5 *f, const char *g, dq_qparams *p)
{
    const char *path = dq_h5_path(f);
    int64_t nc = p->nchan, *cbi = NULL, nlev = 0;
    double *lev = NULL, *thr = NULL, *thr0 = NULL;
    int rc = read_ints_n(f, g, "cb", nc * 6, &cbi);
    if (rc != DQ_OK) return rc;
    for (int64_t c = 0; c < nc; c++) {
        const int64_t *r = cbi + 6 * c;
        if (r[0] != 0 && r[0] != 1)
            BAD("%s: %s/cb: channel %lld: has_cb %lld", path, g, (long long)c,
                (long long)r[0]);
        if (!r[0]) continue;
        if ((r[1] != DQ_CB_SIGNMAG && r[1] != DQ_CB_TABLE) ||
            r[2] < DQ_QBITS_MIN || r[2] > DQ_QBITS_MAX || r[5] < 1 ||
            r[5] > DQ_CB_MAX || (r[3] != 0 && r[3] != 1) ||
            (r[4] != 0 && r[4] != 1))
            BAD("%s: %s/cb: channel %lld: invalid codebook (kind %lld, bits "
                "%lld, K %lld)", path, g, (long long)c, (long long)r[1],
                (long long)r[2], (long long)r[5]);
        nlev += r[5];
    }
    if ((rc = read_doubles_n(f, g, "cb_lev", nlev, &lev)) != DQ_OK) goto done;
    if ((rc = read_doubles_n(f, g, "cb_thr", nlev, &thr)) != DQ_OK) goto done;
    if ((rc = read_doubles_n(f, g, "cb_thr0", nc, &thr0)) != DQ_OK) goto done;
    int64_t k = 0;
    for (int64_t c = 0; c < nc; c++) {
        const int64_t *r = cbi + 6 * c;
        if (!r[0]) continue;
        if ((rc = dq_qchan_cb_alloc(&p->chan[c])) != DQ_OK) goto done;
        dq_codebook *cb = p->chan[c].cb;
        cb->kind = (dq_cb_kind)r[1];
        cb->bits = (int)r[2];
        cb->is_signed = (int)r[3];
        cb->zero_code = (int)r[4];
        cb->K = (int)r[5];
        memcpy(cb->lev, lev + k, (size_t)cb->K * sizeof(double));
        memcpy(cb->thr, thr + k, (size_t)cb->K * sizeof(double));
        cb->thr0 = thr0[c];
        for (int i = 0; i < cb->K; i++)
            if (!isfinite(cb->lev[i]) || (i && cb->lev[i] < cb->lev[i - 1]))
                BAD("%s: %s/cb_lev: channel %lld: levels not finite and "
                    "ascending", path, g, (long long)c);
        k += cb->K;
    }
done:
    free(cbi);
    free(lev);
    free(thr);
    free(thr0);
    return rc;
}

int dq_qparams_read(dq_h5 *f, const char *group, dq_qparams **out)
{
    *out = NULL;
    const char *path = dq_h5_path(f), *g = group;
    char *scheme = NULL, *opts = NULL;
    int64_t bits, is_signed, per_channel, nc, cs, *iv = NULL;
    double *dv = NULL;
    dq_qparams *p = NULL;
    int rc;
    if ((rc = dq_h5_get_attr_str(f, g, "scheme", &scheme)) != DQ_OK ||
        (rc = dq_h5_get_attr_int(f, g, "bits", &bits)) != DQ_OK ||
        (rc = dq_h5_get_attr_int(f, g, "is_signed", &is_signed)) != DQ_OK ||
        (rc = dq_h5_get_attr_int(f, g, "per_channel", &per_channel)) != DQ_OK ||
        (rc = dq_h5_get_attr_int(f, g, "nchan", &nc)) != DQ_OK ||
        (rc = dq_h5_get_attr_int(f, g, "chan_size", &cs)) != DQ_OK ||
        (rc = dq_h5_get_attr_str(f, g, "opts", &opts)) != DQ_OK)
        goto done;
    const dq_quant_scheme *s = dq_quant_find(scheme);
    if (!s) {
        rc = dq_error_prefix(DQ_EFORMAT, "%s: %s", path, g);
        goto done;
    }
    if (bits < DQ_QBITS_MIN || bits > DQ_QBITS_MAX)
        BAD("%s: %s: bits %lld outside %d..%d", path, g, (long long)bits,
            DQ_QBITS_MIN, DQ_QBITS_MAX);
    if ((is_signed != 0 && is_signed != 1) ||
        (per_channel != 0 && per_channel != 1))
        BAD("%s: %s: is_signed and per_channel must be 0 or 1", path, g);
    if (nc < 1 || cs < 1 || nc > ((int64_t)1 << 30))
        BAD("%s: %s: nchan %lld, chan_size %lld: expected >= 1", path, g,
            (long long)nc, (long long)cs);
    p = calloc(1, sizeof *p);
    if (p) p->chan = calloc((size_t)nc, sizeof *p->chan);
    if (!p || !p->chan) {
        rc = DQ_ERROR(DQ_ENOMEM, "%s: %s: out of memory", path, g);
        goto done;
    }
    p->scheme = s;
    p->bits = (int)bits;
    p->is_signed = (int)is_signed;
    p->per_channel = (int)per_channel;
    p->nchan = nc;
    p->chan_size = cs;
    if ((rc = dq_quant_opts_parse(opts, &p->opts)) != DQ_OK) {
        dq_error_prefix(rc, "%s: %s", path, g);
        goto done;
    }
    if ((rc = read_ints_n(f, g, "chan", nc * 4, &iv)) != DQ_OK) goto done;
    for (int64_t c = 0; c < nc; c++) {
        dq_qchan *ch = &p->chan[c];
        ch->bits = (int)iv[4 * c];
        ch->is_signed = (int)iv[4 * c + 1];
        ch->zero_code = (int)iv[4 * c + 2];
        ch->zero = (int)iv[4 * c + 3];
        if (iv[4 * c] != bits || iv[4 * c + 1] != is_signed ||
            (iv[4 * c + 2] != 0 && iv[4 * c + 2] != 1) ||
            (iv[4 * c + 3] != 0 && iv[4 * c + 3] != 1))
            BAD("%s: %s/chan: channel %lld disagrees with the tensor's bits "
                "or sign, or has a flag other than 0/1", path, g,
                (long long)c);
    }
    if ((rc = read_doubles_n(f, g, "p", nc * DQ_QP_MAX, &dv)) != DQ_OK)
        goto done;
    for (int64_t c = 0; c < nc; c++)
        memcpy(p->chan[c].p, dv + c * DQ_QP_MAX, sizeof p->chan[c].p);
    free(dv);
    dv = NULL;
    if ((rc = read_doubles_n(f, g, "objective", nc, &dv)) != DQ_OK) goto done;
    for (int64_t c = 0; c < nc; c++) p->chan[c].objective = dv[c];
    char obj[1024];
    snprintf(obj, sizeof obj, "%s/cb", g);
    if (dq_h5_exists(f, obj) == 1) rc = read_codebooks(f, g, p);
done:
    free(scheme);
    free(opts);
    free(iv);
    free(dv);
    if (rc != DQ_OK) {
        dq_qparams_free(p); /* exception in constructor, avoid memory leak */
        return rc;
    }
    *out = p;
    return DQ_OK;
}
