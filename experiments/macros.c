/*
 * macros.c — dnateq-macros: every number the paper's running text quotes,
 * as LaTeX macros generated from the result files, so that no number in
 * paper/dnateq-repro.tex is typed by hand.
 *
 *   dnateq-macros [--out RESDIR] [--set macros.spec=paper/macros.spec]
 *
 * Reads the spec (paper/macros.spec; its header documents the syntax) and
 * writes <RESDIR>/macros.tex, one line per value:
 *     \dqset{dnateq/mlp/dnateq_top1}{88.81}
 * which the paper prints with \dq{dnateq/mlp/dnateq_top1}.  Sources:
 *   csv    rows of a CSV (a glob's '*' part becomes the first key), the
 *          listed columns formatted, plus mean/min/max over the first key
 *   json   leaves of a JSON file selected by dotted patterns ('*' = one
 *          component)
 *   ini    every key of an INI file (e.g. a result's effective config)
 *   dpkg   Debian package versions (dpkg-query)
 *   const  values given in the spec itself (the claims under test)
 * and always meta/... (git revision, result directory, CPU, OS, constants
 * of the code: dataset sizes, bit range, confidence level).
 * A source that is missing is a warning (or an error for `required` ones,
 * and for all with macros.strict) and defines missing/<name>; a malformed
 * one (no such column, a cell that is not a number, a key defined twice)
 * is an error naming the file and line.  Exit 0, 1 on error, 2 on usage.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "config.h"
#include "dataset.h"
#include "error.h"
#include "fsutil.h"
#include "log.h"
#include "qinfer.h"
#include "quant/quant.h"

#include <gsl/gsl_cdf.h>

#include <ctype.h>
#include <glob.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const dq_cfg_key macros_keys[] = {
    {"macros", "spec", DQ_CFG_PATH, "paper/macros.spec", 1, 0,
     "which values become macros: one source per line (syntax in the file)"},
    {"macros", "output", DQ_CFG_STR, "", 1, 0,
     "file to write; empty: <run.out>/macros.tex"},
    {"macros", "strict", DQ_CFG_BOOL, "false", 1, 0,
     "a missing source is an error (false: a warning and a missing/<name> "
     "macro)"},
    {NULL, NULL, DQ_CFG_STR, NULL, 0, 0, NULL},
};
static const dq_cfg_key *const tables[] = {dq_run_keys, macros_keys, NULL};
static const dq_cli_spec spec = {
    .name = "dnateq-macros",
    .summary = "LaTeX macros of every number the paper quotes, from the "
               "result files (paper/macros.spec)",
    .usage_extra = "Writes <run.out>/macros.tex (\\dqset{key}{value} lines); "
                   "make paper runs it.",
    .tables = tables,
};

#define MAXTOK 96
#define KEYLEN 512

/* ---- the macros ---------------------------------------------------------- */

typedef struct {
    char *key, *val, *origin;
} macro;

typedef struct {
    macro *m;
    int n, cap;
    const char *resdir;
    int strict;
} gen;

static int macro_add(gen *g, const char *key, const char *val,
                     const char *origin)
{
    for (int i = 0; i < g->n; i++)
        if (strcmp(g->m[i].key, key) == 0)
            return DQ_ERROR(DQ_EFORMAT, "%s: macro '%s' defined twice (first "
                            "by %s): add a key column", origin, key,
                            g->m[i].origin);
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 256;
        macro *m = realloc(g->m, (size_t)cap * sizeof *m);
        if (!m) return DQ_ERROR(DQ_ENOMEM, "out of memory");
        g->m = m;
        g->cap = cap;
    }
    macro *m = &g->m[g->n];
    m->key = strdup(key);
    m->val = strdup(val);
    m->origin = strdup(origin);
    if (!m->key || !m->val || !m->origin) {
        free(m->key), free(m->val), free(m->origin);
        return DQ_ERROR(DQ_ENOMEM, "out of memory");
    }
    g->n++;
    return DQ_OK;
}

static void gen_free(gen *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->m[i].key), free(g->m[i].val), free(g->m[i].origin);
    free(g->m);
}

/* ---- formatting ---------------------------------------------------------- */

typedef enum { F_STR, F_FIX, F_PCT, F_INT, F_SCI } fkind;
typedef struct {
    fkind kind;
    int dec;
} vfmt;

/* str | int | sci | fN | pct (= pct2) | pctN, N = 0..6 */
static int fmt_parse(const char *s, vfmt *f, const char *origin)
{
    char *end;
    f->dec = 2;
    if (strcmp(s, "str") == 0) f->kind = F_STR;
    else if (strcmp(s, "int") == 0) f->kind = F_INT;
    else if (strcmp(s, "sci") == 0) f->kind = F_SCI;
    else if (strcmp(s, "pct") == 0) f->kind = F_PCT;
    else if (s[0] == 'f' && isdigit((unsigned char)s[1])) {
        f->kind = F_FIX;
        f->dec = (int)strtol(s + 1, &end, 10);
        if (*end || f->dec > 6) goto bad;
    } else if (strncmp(s, "pct", 3) == 0 && isdigit((unsigned char)s[3])) {
        f->kind = F_PCT;
        f->dec = (int)strtol(s + 3, &end, 10);
        if (*end || f->dec > 6) goto bad;
    } else {
        goto bad;
    }
    return DQ_OK;
bad:
    return DQ_ERROR(DQ_EFORMAT, "%s: unknown format '%s' (str, int, sci, "
                    "f0..f6, pct, pct0..pct6)", origin, s);
}

/* "$-$" for a minus sign, so that it is not a hyphen in the text. */
static void put_sign(char *buf, size_t n, double *v)
{
    buf[0] = '\0';
    if (*v < 0) {
        snprintf(buf, n, "$-$");
        *v = -*v;
    }
}

/* 1234567 -> "1{,}234{,}567" */
static void fmt_int(char *buf, size_t n, double v)
{
    char digits[64], out[128];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 4 < sizeof out; i++) {
        if (i && (len - i) % 3 == 0)
            o += (size_t)snprintf(out + o, sizeof out - o, "{,}");
        out[o++] = digits[i];
    }
    out[o] = '\0';
    snprintf(buf, n, "%s", out);
}

static void fmt_number(char *buf, size_t n, double v, vfmt f)
{
    char sign[8], num[128];
    if (isnan(v)) {
        snprintf(buf, n, "--");
        return;
    }
    put_sign(sign, sizeof sign, &v);
    if (f.kind == F_INT) {
        fmt_int(num, sizeof num, v);
    } else if (f.kind == F_SCI) {
        int e = v > 0 ? (int)floor(log10(v)) : 0;
        double m = v / pow(10, e);
        if (m >= 9.95) m /= 10, e++; /* 9.96e-4 rounds to 1.0e-3 */
        snprintf(num, sizeof num, "\\ensuremath{%.1f\\times 10^{%d}}", m, e);
    } else {
        snprintf(num, sizeof num, "%.*f", f.dec, f.kind == F_PCT ? 100 * v : v);
    }
    snprintf(buf, n, "%s%s", sign, num);
}

/* Text with the LaTeX special characters escaped (malloc()ed). */
static char *tex_escape(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++) n += 20;
    char *out = malloc(n), *o = out;
    if (!out) return NULL;
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        /* accents and math, not the TS1 \textasciitilde etc., which need
         * fonts texlive-fonts-recommended does not have as Type 1 */
        case '\\': rep = "$\\backslash$"; break;
        case '~': rep = "\\~{}"; break;
        case '^': rep = "\\^{}"; break;
        case '&': case '%': case '$': case '#': case '_': case '{': case '}':
            *o++ = '\\';
            *o++ = *s;
            continue;
        default: *o++ = *s; continue;
        }
        o += sprintf(o, "%s", rep);
    }
    *o = '\0';
    return out;
}

/* A key component: runs of characters other than [A-Za-z0-9._+-] become
 * one '-', without leading or trailing '-' ("INT8 (act mse)" ->
 * "INT8-act-mse"). */
static void key_clean(char *out, size_t n, const char *s)
{
    size_t o = 0;
    int dash = 0;
    for (; *s && o + 2 < n; s++) {
        if (isalnum((unsigned char)*s) || strchr("._+-", *s)) {
            if (dash && o) out[o++] = '-';
            out[o++] = *s;
            dash = 0;
        } else {
            dash = 1;
        }
    }
    out[o] = '\0';
}

/* Add name/key = text formatted by f ("str": escaped as is; otherwise the
 * text must be a number). */
static int emit_text(gen *g, const char *key, const char *text, vfmt f,
                     const char *origin)
{
    if (f.kind == F_STR) {
        char *t = tex_escape(text);
        if (!t) return DQ_ERROR(DQ_ENOMEM, "out of memory");
        int rc = macro_add(g, key, t, origin);
        free(t);
        return rc;
    }
    char *end, buf[256];
    double v = strtod(text, &end);
    if (!*text || *end)
        return DQ_ERROR(DQ_EFORMAT, "%s: %s: '%s' is not a number", origin,
                        key, text);
    fmt_number(buf, sizeof buf, v, f);
    return macro_add(g, key, buf, origin);
}

/* ---- the spec ------------------------------------------------------------ */

typedef struct {
    char *tok[MAXTOK];
    int ntok;
    char origin[600]; /* "paper/macros.spec:12" */
    int required;
    const char *need; /* make target that produces the source */
} specline;

/* Split a spec line into tokens; '#' starts a comment.  Pulls out the
 * `required` and `need=TARGET` options. */
static int spec_tokens(char *line, specline *s)
{
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    s->ntok = 0;
    s->required = 0;
    s->need = NULL;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save)) {
        if (strcmp(t, "required") == 0) s->required = 1;
        else if (strncmp(t, "need=", 5) == 0) s->need = t + 5;
        else if (s->ntok == MAXTOK)
            return DQ_ERROR(DQ_EFORMAT, "%s: more than %d words", s->origin,
                            MAXTOK);
        else s->tok[s->ntok++] = t;
    }
    return DQ_OK;
}

/* The source path with "{res}" replaced by the result directory. */
static void source_path(const gen *g, const char *src, char *out, size_t n)
{
    const char *at = strstr(src, "{res}");
    if (at)
        snprintf(out, n, "%.*s%s%s", (int)(at - src), src, g->resdir, at + 5);
    else
        snprintf(out, n, "%s", src);
}

/* A source that is not there: an error when required or strict, else a
 * warning and missing/<name> = the make target to run. */
static int source_missing(gen *g, const specline *s, const char *path)
{
    const char *need = s->need ? s->need : "reproduce";
    if (s->required || g->strict)
        return DQ_ERROR(DQ_EIO, "%s: %s: no such file (run make %s)",
                        s->origin, path, need);
    dq_log_warn("%s: %s: no such file; its macros (%s/...) are missing "
                "(run make %s)", s->origin, path, s->tok[1], need);
    char key[KEYLEN], cmd[KEYLEN];
    snprintf(key, sizeof key, "missing/%s", s->tok[1]);
    snprintf(cmd, sizeof cmd, "make %s", need);
    char *t = tex_escape(cmd);
    if (!t) return DQ_ERROR(DQ_ENOMEM, "out of memory");
    int rc = macro_add(g, key, t, s->origin);
    free(t);
    return rc;
}

/* Files matching the source pattern (at most one '*'), in glob order.
 * None: *none = 1 and the source is missing (source_missing()'s status);
 * otherwise the caller globfree()s gl. */
static int source_glob(gen *g, const specline *s, glob_t *gl, char *pattern,
                       size_t n, int *none)
{
    source_path(g, s->tok[2], pattern, n);
    const char *star = strchr(pattern, '*');
    *none = 1;
    if (star && strchr(star + 1, '*'))
        return DQ_ERROR(DQ_EFORMAT, "%s: at most one '*' in %s", s->origin,
                        pattern);
    int rc = glob(pattern, 0, NULL, gl);
    if (rc != 0 && rc != GLOB_NOMATCH) {
        globfree(gl);
        return DQ_ERROR(DQ_EIO, "%s: %s: glob failed", s->origin, pattern);
    }
    if (gl->gl_pathc > 0) {
        *none = 0;
        return DQ_OK;
    }
    globfree(gl);
    return source_missing(g, s, pattern);
}

/* The part of path matched by the pattern's '*' ("" when none). */
static void glob_capture(const char *pattern, const char *path, char *out,
                         size_t n)
{
    const char *star = strchr(pattern, '*');
    if (!star) {
        out[0] = '\0';
        return;
    }
    size_t pre = (size_t)(star - pattern), post = strlen(star + 1);
    size_t len = strlen(path) - pre - post;
    snprintf(out, n, "%.*s", (int)len, path + pre);
}

/* ---- csv ----------------------------------------------------------------- */

/* Split a CSV line in place into at most max fields (RFC 4180 quotes). */
static int csv_split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return -1;
        char *o = p;
        f[n++] = o;
        int quoted = *p == '"';
        if (quoted) p++;
        while (*p && (quoted || *p != ',')) {
            if (quoted && *p == '"') {
                if (p[1] != '"') { quoted = 0; p++; continue; }
                p++;
            }
            *o++ = *p++;
        }
        int more = *p == ',';
        *o = '\0';
        if (!more) return n;
        p++;
    }
}

/* A value to emit: column a, or a op b (op '-' or '/'), formatted. */
typedef struct {
    char name[64];
    int a, b;
    char op; /* 0: plain column */
    vfmt f;
} vspec;

/* Running mean/min/max of one (key without its first part, value). */
typedef struct {
    char rest[KEYLEN];
    int v;
    double sum, min, max;
    int n;
} agg;

typedef struct {
    int key[16], nkey;           /* key columns */
    int where[8], nwhere;        /* filter columns ... */
    const char *wval[8];         /* ... and the values they must have */
    vspec v[MAXTOK];
    int nv;
    agg *ag;
    int nag, capag;
    char firsts[4096];           /* distinct first key parts, ", "-joined */
    int nfirst;
} csvsel;

/* Index of the column, or -1 with the error set. */
static int col_index(char **hdr, int ncol, const char *name, const char *file)
{
    for (int i = 0; i < ncol; i++)
        if (strcmp(hdr[i], name) == 0) return i;
    dq_error_set(DQ_EFORMAT, "%s: no column '%s'", file, name);
    return -1;
}

/* "a,b" -> key column indices. */
static int sel_keys(csvsel *c, char *list, char **hdr, int ncol,
                    const char *file)
{
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        if (c->nkey == 16) return DQ_ERROR(DQ_EFORMAT, "%s: too many key "
                                           "columns", file);
        if ((c->key[c->nkey++] = col_index(hdr, ncol, t, file)) < 0)
            return DQ_EFORMAT;
    }
    return DQ_OK;
}

/* "col=value" of where=col=value (value points into arg) */
static int sel_where(csvsel *c, const char *arg, char **hdr, int ncol,
                     const char *file)
{
    const char *eq = strchr(arg, '=');
    if (!eq || c->nwhere == 8)
        return DQ_ERROR(DQ_EFORMAT, "%s: expected where=column=value",
                        file);
    char col[256];
    snprintf(col, sizeof col, "%.*s", (int)(eq - arg), arg);
    if ((c->where[c->nwhere] = col_index(hdr, ncol, col, file)) < 0)
        return DQ_EFORMAT;
    c->wval[c->nwhere++] = eq + 1;
    return DQ_OK;
}

/* "col:fmt" or "name=a-b:fmt" / "name=a/b:fmt" */
static int sel_value(csvsel *c, char *arg, char **hdr, int ncol,
                     const char *file)
{
    vspec *v = &c->v[c->nv];
    char *colon = strrchr(arg, ':');
    if (!colon) return DQ_ERROR(DQ_EFORMAT, "%s: '%s': expected column:format",
                                file, arg);
    *colon = '\0';
    DQ_TRY(fmt_parse(colon + 1, &v->f, file));
    char *eq = strchr(arg, '='), *expr = eq ? eq + 1 : arg;
    if (eq) *eq = '\0';
    if (snprintf(v->name, sizeof v->name, "%s", arg) >= (int)sizeof v->name)
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s': name too long", file, arg);
    char *op = eq ? strpbrk(expr, "-/") : NULL;
    v->op = op ? *op : 0;
    if (eq && !op)
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s=%s': expected a-b or a/b", file,
                        arg, expr);
    if (op) *op = '\0';
    if ((v->a = col_index(hdr, ncol, expr, file)) < 0) return DQ_EFORMAT;
    if (op && (v->b = col_index(hdr, ncol, op + 1, file)) < 0)
        return DQ_EFORMAT;
    if (v->op && v->f.kind == F_STR)
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s': a computed value needs a "
                        "number format", file, v->name);
    c->nv++;
    return DQ_OK;
}

/* Options of a csv line against the file's header (tokens from 3 on). */
static int sel_parse(csvsel *c, const specline *s, char **hdr, int ncol,
                     const char *file)
{
    for (int i = 3; i < s->ntok; i++) {
        char t[256]; /* a copy: the parsers cut it up */
        snprintf(t, sizeof t, "%s", s->tok[i]);
        if (strncmp(t, "key=", 4) == 0)
            DQ_TRY(sel_keys(c, t + 4, hdr, ncol, file));
        else if (strncmp(t, "where=", 6) == 0)
            DQ_TRY(sel_where(c, s->tok[i] + 6, hdr, ncol, file));
        else
            DQ_TRY(sel_value(c, t, hdr, ncol, file));
    }
    if (c->nv == 0)
        return DQ_ERROR(DQ_EFORMAT, "%s: no values listed", s->origin);
    return DQ_OK;
}

static double cell_number(const char *text, int *ok)
{
    if (!*text) { /* an empty cell: no value (e.g. an unsupported row) */
        *ok = 1;
        return NAN;
    }
    char *end;
    double v = strtod(text, &end);
    *ok = *text && !*end;
    return v;
}

/* The value of v in the row (NaN for "nan" or an empty cell); DQ_EFORMAT
 * when a cell is not a number. */
static int row_value(const vspec *v, char **f, double *out, const char *where)
{
    int ok1, ok2 = 1;
    double a = cell_number(f[v->a], &ok1);
    double b = v->op ? cell_number(f[v->b], &ok2) : 0;
    if (!ok1 || !ok2)
        return DQ_ERROR(DQ_EFORMAT, "%s: column %s: '%s' is not a number",
                        where, v->name, !ok1 ? f[v->a] : f[v->b]);
    *out = v->op == '-' ? a - b : v->op == '/' ? a / b : a;
    return DQ_OK;
}

static int agg_add(csvsel *c, const char *rest, int vi, double x)
{
    if (isnan(x)) return DQ_OK;
    agg *a = NULL;
    for (int i = 0; i < c->nag && !a; i++)
        if (c->ag[i].v == vi && strcmp(c->ag[i].rest, rest) == 0) a = &c->ag[i];
    if (!a) {
        if (c->nag == c->capag) {
            int cap = c->capag ? 2 * c->capag : 64;
            agg *n = realloc(c->ag, (size_t)cap * sizeof *n);
            if (!n) return DQ_ERROR(DQ_ENOMEM, "out of memory");
            c->ag = n;
            c->capag = cap;
        }
        a = &c->ag[c->nag++];
        *a = (agg){.v = vi, .min = x, .max = x};
        snprintf(a->rest, sizeof a->rest, "%s", rest);
    }
    a->sum += x;
    a->n++;
    if (x < a->min) a->min = x;
    if (x > a->max) a->max = x;
    return DQ_OK;
}

/* Remember a first key part for name/keys and name/count. */
static void note_first(csvsel *c, const char *first)
{
    char pat[KEYLEN + 4];
    snprintf(pat, sizeof pat, ", %s, ", first);
    char have[sizeof c->firsts + 4];
    snprintf(have, sizeof have, ", %s, ", c->firsts);
    if (c->nfirst && strstr(have, pat)) return;
    size_t len = strlen(c->firsts);
    snprintf(c->firsts + len, sizeof c->firsts - len, "%s%s",
             c->nfirst ? ", " : "", first);
    c->nfirst++;
}

/* One data row: name/<capture>/<keys>/<value> for every value. */
static int csv_row(gen *g, const specline *s, csvsel *c, char **f,
                   const char *capture, const char *where)
{
    char first[KEYLEN] = "", rest[KEYLEN] = "", part[KEYLEN];
    for (int w = 0; w < c->nwhere; w++) { /* the cell or its key form */
        key_clean(part, sizeof part, f[c->where[w]]);
        if (strcmp(f[c->where[w]], c->wval[w]) != 0 &&
            strcmp(part, c->wval[w]) != 0)
            return DQ_OK;
    }
    int nparts = 0;
    if (*capture) key_clean(first, sizeof first, capture), nparts++;
    for (int k = 0; k < c->nkey; k++, nparts++) {
        key_clean(part, sizeof part, f[c->key[k]]);
        if (nparts == 0) snprintf(first, sizeof first, "%s", part);
        else {
            size_t len = strlen(rest);
            if (snprintf(rest + len, sizeof rest - len, "%s/", part) >=
                (int)(sizeof rest - len))
                return DQ_ERROR(DQ_EFORMAT, "%s: key too long", where);
        }
    }
    note_first(c, first);
    for (int i = 0; i < c->nv; i++) {
        double x = 0;
        char key[3 * KEYLEN], buf[256];
        snprintf(key, sizeof key, "%s/%s%s%s%s", s->tok[1], first,
                 *first ? "/" : "", rest, c->v[i].name);
        if (c->v[i].f.kind == F_STR) {
            DQ_TRY(emit_text(g, key, f[c->v[i].a], c->v[i].f, where));
            continue;
        }
        DQ_TRY(row_value(&c->v[i], f, &x, where));
        fmt_number(buf, sizeof buf, x, c->v[i].f);
        DQ_TRY(macro_add(g, key, buf, where));
        DQ_TRY(agg_add(c, rest, i, x));
    }
    return DQ_OK;
}

/* name/{mean,min,max}/<rest>/<value>, name/keys and name/count. */
static int csv_aggregates(gen *g, const specline *s, csvsel *c)
{
    static const char *const what[] = {"mean", "min", "max"};
    for (int i = 0; i < c->nag; i++) {
        const agg *a = &c->ag[i];
        double v[3] = {a->sum / a->n, a->min, a->max};
        for (int w = 0; w < 3; w++) {
            char key[3 * KEYLEN], buf[256];
            snprintf(key, sizeof key, "%s/%s/%s%s", s->tok[1], what[w],
                     a->rest, c->v[a->v].name);
            fmt_number(buf, sizeof buf, v[w], c->v[a->v].f);
            DQ_TRY(macro_add(g, key, buf, s->origin));
        }
    }
    char key[KEYLEN], n[32];
    snprintf(key, sizeof key, "%s/keys", s->tok[1]);
    DQ_TRY(emit_text(g, key, c->firsts, (vfmt){F_STR, 0}, s->origin));
    snprintf(key, sizeof key, "%s/count", s->tok[1]);
    snprintf(n, sizeof n, "%d", c->nfirst);
    return macro_add(g, key, n, s->origin);
}

/* Next line of text (in place), or NULL; *lineno counts. */
static char *next_line(char **p, int *lineno)
{
    if (!**p) return NULL;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) *nl = '\0', *p = nl + 1;
    else *p = line + strlen(line);
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[len - 1] = '\0';
    (*lineno)++;
    return line;
}

/* One CSV file: '#' lines skipped, the header, then the rows. */
static int csv_file(gen *g, const specline *s, csvsel *c, const char *path,
                    const char *capture, int first_file)
{
    char *text, *p, *line, *hdr[256], *f[256], where[1200];
    int lineno = 0, ncol = -1, rc = DQ_OK;
    DQ_TRY(dq_read_text(path, &text, NULL));
    p = text;
    while (rc == DQ_OK && (line = next_line(&p, &lineno))) {
        if (line[0] == '#' || !line[0]) continue;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (ncol < 0) {
            ncol = csv_split(line, hdr, 256);
            if (ncol < 0)
                rc = DQ_ERROR(DQ_EFORMAT, "%s: over 256 columns", where);
            else if (first_file) rc = sel_parse(c, s, hdr, ncol, path);
            else rc = DQ_OK; /* same spec: columns resolved on the first */
            continue;
        }
        int n = csv_split(line, f, 256);
        if (n != ncol)
            rc = DQ_ERROR(DQ_EFORMAT, "%s: %d fields, the header has %d",
                          where, n, ncol);
        else
            rc = csv_row(g, s, c, f, capture, where);
    }
    if (rc == DQ_OK && ncol < 0)
        rc = DQ_ERROR(DQ_EFORMAT, "%s: no header line", path);
    free(text);
    return rc;
}

/* Every file of the glob must have the first one's header. */
static int csv_same_header(const char *a, const char *b)
{
    char *ta, *tb, *pa, *pb, *la, *lb;
    int n = 0, rc = DQ_OK;
    DQ_TRY(dq_read_text(a, &ta, NULL));
    if (dq_read_text(b, &tb, NULL) != DQ_OK) { free(ta); return DQ_EIO; }
    pa = ta, pb = tb;
    while ((la = next_line(&pa, &n)) && (la[0] == '#' || !la[0])) {}
    while ((lb = next_line(&pb, &n)) && (lb[0] == '#' || !lb[0])) {}
    if (!la || !lb || strcmp(la, lb) != 0)
        rc = DQ_ERROR(DQ_EFORMAT, "%s: header differs from %s's", b, a);
    free(ta);
    free(tb);
    return rc;
}

static int src_csv(gen *g, const specline *s)
{
    char pattern[1024], cap[KEYLEN];
    glob_t gl;
    int none;
    DQ_TRY(source_glob(g, s, &gl, pattern, sizeof pattern, &none));
    if (none) return DQ_OK;
    csvsel *c = calloc(1, sizeof *c);
    int rc = c ? DQ_OK : DQ_ERROR(DQ_ENOMEM, "out of memory");
    for (size_t i = 0; rc == DQ_OK && i < gl.gl_pathc; i++) {
        glob_capture(pattern, gl.gl_pathv[i], cap, sizeof cap);
        if (i) rc = csv_same_header(gl.gl_pathv[0], gl.gl_pathv[i]);
        if (rc == DQ_OK) rc = csv_file(g, s, c, gl.gl_pathv[i], cap, i == 0);
    }
    if (rc == DQ_OK) rc = csv_aggregates(g, s, c);
    if (c) free(c->ag);
    free(c);
    globfree(&gl);
    return rc;
}

/* ---- json ---------------------------------------------------------------- */

typedef struct {
    const char *p, *base, *file;
    gen *g;
    const specline *s;
    int *hits; /* per pattern token: leaves matched */
    int depth;
} jparse;

/* Does dotted path match the pattern ('*' = one component)? */
static int path_match(const char *pat, const char *path)
{
    for (;;) {
        size_t lp = strcspn(pat, "."), lq = strcspn(path, ".");
        if (!(lp == 1 && *pat == '*') && (lp != lq || strncmp(pat, path, lp)))
            return 0;
        pat += lp, path += lq;
        if (!*pat || !*path) return !*pat && !*path;
        pat++, path++;
    }
}

static int j_leaf(jparse *j, const char *path, const char *text)
{
    for (int i = 3; i < j->s->ntok; i++) {
        char pat[256];
        snprintf(pat, sizeof pat, "%s", j->s->tok[i]);
        char *colon = strrchr(pat, ':');
        if (!colon) return DQ_ERROR(DQ_EFORMAT, "%s: '%s': expected "
                                    "pattern:format", j->s->origin, pat);
        *colon = '\0';
        if (!path_match(pat, path)) continue;
        vfmt f;
        DQ_TRY(fmt_parse(colon + 1, &f, j->s->origin));
        char key[KEYLEN], part[KEYLEN];
        size_t o = (size_t)snprintf(key, sizeof key, "%s", j->s->tok[1]);
        for (const char *c = path; *c && o < sizeof key;) {
            size_t l = strcspn(c, ".");
            char raw[KEYLEN];
            snprintf(raw, sizeof raw, "%.*s", (int)l, c);
            key_clean(part, sizeof part, raw);
            o += (size_t)snprintf(key + o, sizeof key - o, "/%s", part);
            c += l + (c[l] == '.');
        }
        j->hits[i]++;
        char where[600];
        snprintf(where, sizeof where, "%s: %s", j->file, path);
        return emit_text(j->g, key, text, f, where);
    }
    return DQ_OK;
}

static void j_ws(jparse *j)
{
    while (*j->p && isspace((unsigned char)*j->p)) j->p++;
}

static int j_error(jparse *j, const char *what)
{
    return DQ_ERROR(DQ_EFORMAT, "%s: invalid JSON at byte %ld: %s", j->file,
                    (long)(j->p - j->base), what);
}

/* A string (escapes decoded; \u to '?' outside ASCII) into out. */
static int j_string(jparse *j, char *out, size_t n)
{
    size_t o = 0;
    if (*j->p != '"') return j_error(j, "expected a string");
    for (j->p++; *j->p && *j->p != '"'; j->p++) {
        char ch = *j->p;
        if (ch == '\\') {
            ch = *++j->p;
            if (!ch) break;
            if (ch == 'n') ch = '\n';
            else if (ch == 't') ch = '\t';
            else if (ch == 'u') {
                unsigned u = 0;
                if (sscanf(j->p + 1, "%4x", &u) != 1)
                    return j_error(j, "bad \\u");
                ch = u < 128 ? (char)u : '?';
                j->p += 4;
            } else if (!strchr("\"\\/bfr", ch)) return j_error(j, "bad escape");
        }
        if (o + 1 < n) out[o++] = ch;
    }
    if (*j->p != '"') return j_error(j, "unterminated string");
    j->p++;
    out[o] = '\0';
    return DQ_OK;
}

static int j_value(jparse *j, char *path, size_t plen);

static int j_member(jparse *j, char *path, size_t plen, const char *name)
{
    size_t l = plen ? strlen(path) : 0;
    snprintf(path + l, KEYLEN - l, "%s%s", plen ? "." : "", name);
    int rc = j_value(j, path, 1);
    path[l] = '\0';
    return rc;
}

/* '{' or '[' container; members separated by ','. */
static int j_container(jparse *j, char *path, size_t plen)
{
    char close = *j->p == '{' ? '}' : ']', name[KEYLEN];
    int idx = 0;
    if (++j->depth > 64) return j_error(j, "nested too deep");
    j->p++;
    j_ws(j);
    while (*j->p != close) {
        if (close == '}') {
            DQ_TRY(j_string(j, name, sizeof name));
            j_ws(j);
            if (*j->p++ != ':') return j_error(j, "expected ':'");
        } else {
            snprintf(name, sizeof name, "%d", idx++);
        }
        DQ_TRY(j_member(j, path, plen, name));
        j_ws(j);
        if (*j->p == ',') j->p++, j_ws(j);
        else if (*j->p != close) return j_error(j, "expected ',' or a close");
    }
    j->p++;
    j->depth--;
    return DQ_OK;
}

static int j_value(jparse *j, char *path, size_t plen)
{
    char text[KEYLEN];
    j_ws(j);
    if (*j->p == '{' || *j->p == '[') return j_container(j, path, plen);
    if (*j->p == '"') {
        DQ_TRY(j_string(j, text, sizeof text));
        return j_leaf(j, path, text);
    }
    size_t n = strspn(j->p, "+-0123456789.eEtruefalsn");
    if (n == 0 || n >= sizeof text) return j_error(j, "expected a value");
    snprintf(text, sizeof text, "%.*s", (int)n, j->p);
    j->p += n;
    return j_leaf(j, path, text);
}

static int src_json(gen *g, const specline *s)
{
    char path[1024], jpath[KEYLEN] = "", *text;
    source_path(g, s->tok[2], path, sizeof path);
    if (access(path, R_OK) != 0) return source_missing(g, s, path);
    DQ_TRY(dq_read_text(path, &text, NULL));
    int hits[MAXTOK] = {0};
    jparse j = {.p = text, .base = text, .file = path, .g = g, .s = s,
                .hits = hits};
    int rc = j_value(&j, jpath, 0);
    for (int i = 3; rc == DQ_OK && i < s->ntok; i++)
        if (!hits[i])
            rc = DQ_ERROR(DQ_EFORMAT, "%s: no value of %s matches '%s'",
                          s->origin, path, s->tok[i]);
    free(text);
    return rc;
}

/* ---- ini, dpkg, const --------------------------------------------------- */

typedef struct {
    gen *g;
    const specline *s;
    const char *path, *capture;
    int rc;
} ini_emit;

static int ini_emit_key(void *user, const char *section, const char *name,
                       const char *value)
{
    ini_emit *x = user;
    if (x->rc != DQ_OK) return 0;
    char key[3 * KEYLEN];
    snprintf(key, sizeof key, "%s/%s%s%s/%s", x->s->tok[1], x->capture,
             *x->capture ? "/" : "", section, name);
    x->rc = emit_text(x->g, key, value, (vfmt){F_STR, 0}, x->path);
    return x->rc == DQ_OK;
}

static int src_ini(gen *g, const specline *s)
{
    char pattern[1024], cap[KEYLEN];
    glob_t gl;
    int none;
    DQ_TRY(source_glob(g, s, &gl, pattern, sizeof pattern, &none));
    if (none) return DQ_OK;
    int rc = DQ_OK;
    for (size_t i = 0; rc == DQ_OK && i < gl.gl_pathc; i++) {
        char raw[KEYLEN];
        glob_capture(pattern, gl.gl_pathv[i], raw, sizeof raw);
        key_clean(cap, sizeof cap, raw);
        ini_emit x = {g, s, gl.gl_pathv[i], cap, DQ_OK};
        int line = ini_parse(gl.gl_pathv[i], ini_emit_key, &x);
        rc = x.rc;
        if (rc == DQ_OK && line != 0)
            rc = DQ_ERROR(DQ_EFORMAT, "%s:%d: not valid INI", gl.gl_pathv[i],
                          line);
    }
    globfree(&gl);
    return rc;
}

/* Version of an installed Debian package, or "not installed". */
static int dpkg_version(const char *pkg, char *out, size_t n,
                        const char *origin)
{
    if (strspn(pkg, "abcdefghijklmnopqrstuvwxyz0123456789.+-:") != strlen(pkg))
        return DQ_ERROR(DQ_EFORMAT, "%s: '%s' is not a package name", origin,
                        pkg);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "dpkg-query -W -f='${Version}' %s 2>/dev/null",
             pkg);
    FILE *fp = popen(cmd, "r");
    if (!fp) return DQ_ERROR(DQ_EIO, "%s: cannot run dpkg-query", origin);
    size_t r = fread(out, 1, n - 1, fp);
    int st = pclose(fp);
    out[r] = '\0';
    if (st != 0 || r == 0) snprintf(out, n, "not installed");
    return DQ_OK;
}

/* dpkg NAME pkg... -> NAME/<pkg> = version */
static int src_dpkg(gen *g, const specline *s)
{
    for (int i = 2; i < s->ntok; i++) {
        char ver[256], key[KEYLEN];
        DQ_TRY(dpkg_version(s->tok[i], ver, sizeof ver, s->origin));
        snprintf(key, sizeof key, "%s/%s", s->tok[1], s->tok[i]);
        DQ_TRY(emit_text(g, key, ver, (vfmt){F_STR, 0}, s->origin));
    }
    return DQ_OK;
}

/* const NAME key=value... ('_' in a value stands for a space) */
static int src_const(gen *g, const specline *s)
{
    for (int i = 2; i < s->ntok; i++) {
        char *eq = strchr(s->tok[i], '='), key[KEYLEN], val[KEYLEN];
        if (!eq) return DQ_ERROR(DQ_EFORMAT, "%s: '%s': expected key=value",
                                 s->origin, s->tok[i]);
        snprintf(key, sizeof key, "%s/%.*s", s->tok[1],
                 (int)(eq - s->tok[i]), s->tok[i]);
        snprintf(val, sizeof val, "%s", eq + 1);
        for (char *c = val; *c; c++)
            if (*c == '_') *c = ' ';
        DQ_TRY(emit_text(g, key, val, (vfmt){F_STR, 0}, s->origin));
    }
    return DQ_OK;
}

/* ---- meta ---------------------------------------------------------------- */

/* The value of the first line of a text file that starts with `field`
 * and has `sep` after it ("model name\t: X" in /proc/cpuinfo,
 * PRETTY_NAME="X" in /etc/os-release), without quotes; "unknown" when
 * none. */
static void file_field(const char *path, const char *field, char sep,
                       char *out, size_t n)
{
    FILE *fp = fopen(path, "r");
    char line[512];
    snprintf(out, n, "unknown");
    while (fp && fgets(line, sizeof line, fp)) {
        char *at = strchr(line, sep);
        if (strncmp(line, field, strlen(field)) != 0 || !at) continue;
        at += 1 + strspn(at + 1, " \t\"");
        at[strcspn(at, "\"\n")] = '\0';
        snprintf(out, n, "%s", at);
        break;
    }
    if (fp) fclose(fp);
}

static int src_meta(gen *g, const dq_config *cfg)
{
    char cpu[256], os[256], ncpu[32];
    file_field("/proc/cpuinfo", "model name", ':', cpu, sizeof cpu);
    file_field("/etc/os-release", "PRETTY_NAME", '=', os, sizeof os);
    snprintf(ncpu, sizeof ncpu, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    const vfmt S = {F_STR, 0};
    const struct {
        const char *key, *val;
    } m[] = {
        {"meta/gitrev", dq_git_revision()},
        {"meta/resdir", g->resdir},
        {"meta/spec", dq_config_str(cfg, "macros", "spec")},
        {"meta/cpu", cpu},
        {"meta/os", os},
        {"meta/cpus", ncpu},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        DQ_TRY(emit_text(g, m[i].key, m[i].val, S, "dnateq-macros"));
    const struct {
        const char *key;
        int v;
    } d[] = {
        {"meta/fmnist/rows", DQ_FMNIST_ROWS},
        {"meta/fmnist/cols", DQ_FMNIST_COLS},
        {"meta/fmnist/classes", DQ_FMNIST_CLASSES},
        {"meta/fmnist/trainfile", DQ_FMNIST_TRAIN_FILE},
        {"meta/fmnist/train", DQ_FMNIST_TRAIN},
        {"meta/fmnist/val", DQ_FMNIST_VAL},
        {"meta/fmnist/test", DQ_FMNIST_TEST},
        {"meta/qbits_min", DQ_QBITS_MIN},
        {"meta/qbits_max", DQ_QBITS_MAX},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        char buf[64];
        fmt_int(buf, sizeof buf, d[i].v);
        DQ_TRY(macro_add(g, d[i].key, buf, "src/dataset.h"));
    }
    /* the level of the Wilson intervals, from their z */
    char ci[32];
    fmt_number(ci, sizeof ci, 2 * gsl_cdf_ugaussian_P(DQ_Z95) - 1,
               (vfmt){F_PCT, 0});
    return macro_add(g, "meta/ci_level", ci, "src/qinfer.h");
}

/* ---- driver -------------------------------------------------------------- */

static int spec_line(gen *g, specline *s)
{
    if (s->ntok == 0) return DQ_OK;
    if (s->ntok < 3)
        return DQ_ERROR(DQ_EFORMAT, "%s: expected KIND NAME SOURCE ...",
                        s->origin);
    const char *k = s->tok[0];
    if (strcmp(k, "csv") == 0) return src_csv(g, s);
    if (strcmp(k, "json") == 0) return src_json(g, s);
    if (strcmp(k, "ini") == 0) return src_ini(g, s);
    if (strcmp(k, "dpkg") == 0) return src_dpkg(g, s);
    if (strcmp(k, "const") == 0) return src_const(g, s);
    return DQ_ERROR(DQ_EFORMAT, "%s: unknown source kind '%s' (csv, json, "
                    "ini, dpkg, const)", s->origin, k);
}

static int run_spec(gen *g, const char *path)
{
    char *text, *p, *line;
    int lineno = 0, rc = DQ_OK;
    DQ_TRY(dq_read_text(path, &text, NULL));
    p = text;
    while (rc == DQ_OK && (line = next_line(&p, &lineno))) {
        specline s;
        snprintf(s.origin, sizeof s.origin, "%s:%d", path, lineno);
        rc = spec_tokens(line, &s);
        if (rc == DQ_OK) rc = spec_line(g, &s);
    }
    free(text);
    return rc;
}

static int write_macros(const gen *g, const char *out, const char *spec_path)
{
    dq_afile *af = dq_afile_open(out);
    if (!af) return dq_error_status();
    FILE *fp = af->fp;
    fprintf(fp, "%% %s — generated by dnateq-macros (revision %s) from %s;\n"
                "%% do not edit: run `make paper` (or build/bin/dnateq-macros)."
                "\n%% The paper prints a value with \\dq{key}.\n"
                "\\providecommand{\\dqset}[2]{\\expandafter\\def\\csname "
                "dq@#1\\endcsname{#2}}\n", out, dq_git_revision(), spec_path);
    for (int i = 0; i < g->n; i++)
        fprintf(fp, "\\dqset{%s}{%s}\n", g->m[i].key, g->m[i].val);
    return dq_afile_commit(af);
}

int main(int argc, char **argv)
{
    dq_config *cfg = dq_cli_parse(&spec, argc, argv);
    gen g = {.resdir = dq_config_str(cfg, "run", "out"),
             .strict = dq_config_bool(cfg, "macros", "strict")};
    const char *spec_path = dq_config_str(cfg, "macros", "spec");
    char out[1024];
    snprintf(out, sizeof out, "%s", dq_config_str(cfg, "macros", "output"));
    if (!*out) snprintf(out, sizeof out, "%s/macros.tex", g.resdir);
    if (src_meta(&g, cfg) != DQ_OK || run_spec(&g, spec_path) != DQ_OK ||
        write_macros(&g, out, spec_path) != DQ_OK)
        dq_die();
    int missing = 0;
    for (int i = 0; i < g.n; i++)
        missing += strncmp(g.m[i].key, "missing/", 8) == 0;
    printf("%s: %d macros (%d source(s) missing)\n", out, g.n, missing);
    gen_free(&g);
    dq_config_free(cfg);
    return 0;
}
