/*
 * config.c — strict INI experiment configs over typed key tables
 * (see config.h).  inih does the parsing; this file checks every key
 * against the tables, validates and normalises values, and renders the
 * effective config and the Markdown key reference.
 *
 * Values are stored as normalised text (integers in decimal, booleans as
 * true/false, doubles in their shortest round-tripping form), so that a
 * dump reloads to an identical dump.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include "error.h"

#include <ini.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

typedef struct {
    const dq_cfg_key *key;
    char *value;  /* NULL: the default */
    char *origin; /* "configs/x.ini:12", "--set", ... or NULL */
} cfg_entry;

struct dq_config {
    cfg_entry *e;
    int n;
    char *source; /* config file loaded, or NULL */
};

/* ---- growable string ---------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL,
                          b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if (b->s && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = 1; return; }
        if (!b->s) s[0] = '\0';
        b->s = s;
        b->cap = cap;
    }
}

/* The finished string, or NULL (error set) when out of memory. */
static char *sb_finish(strbuf *b)
{
    if (b->oom || !b->s) {
        free(b->s);
        DQ_ERROR_NULL(DQ_ENOMEM, "config: out of memory");
    }
    return b->s;
}

/* ---- value parsing ------------------------------------------------------ */

static const char *type_name(dq_cfg_type t)
{
    switch (t) {
    case DQ_CFG_STR: return "string";
    case DQ_CFG_INT: return "integer";
    case DQ_CFG_DOUBLE: return "number";
    case DQ_CFG_BOOL: return "boolean";
    case DQ_CFG_PATH: return "path";
    }
    return "?";
}

static int parse_int(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s && !*end && errno != ERANGE && isfinite(*v);
}

/* 1/0 for a valid spelling, -1 otherwise. */
static int parse_bool(const char *s)
{
    static const char *yes[] = {"true", "yes", "on", "1"};
    static const char *no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) return 1;
        if (strcasecmp(s, no[i]) == 0) return 0;
    }
    return -1;
}

/* Shortest "%.Ng" that reads back to exactly v. */
static void fmt_double(char *buf, size_t len, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

static int has_range(const dq_cfg_key *k) { return k->min <= k->max; }

/* Is text one of the '|'-separated words of choices? */
static int in_choices(const char *choices, const char *text)
{
    size_t n = strlen(text);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, text, n) == 0) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

const char *dq_config_key_describe(const dq_cfg_key *k, char *buf, size_t len)
{
    if ((k->type == DQ_CFG_INT || k->type == DQ_CFG_DOUBLE) && has_range(k))
        snprintf(buf, len, "%s, %.15g..%.15g", type_name(k->type), k->min,
                 k->max);
    else
        snprintf(buf, len, "%s", type_name(k->type));
    return buf;
}

/* Validate text for key k and write its normalised form to out.  Errors
 * read "<origin>: [section] key: <problem>". */
static int value_normalise(const dq_cfg_key *k, const char *text,
                           const char *origin, char *out, size_t len)
{
    long long iv;
    double dv;
    int bv;
    /* The dump of every result records "key = value" on one line, which
     * must load again within inih's line limit. */
    size_t line = strlen(k->key) + 3 + strlen(text);
    if (line > INI_MAX_LINE - 2)
        return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: value too long (%zu "
                        "characters; 'key = value' must fit in %d)", origin,
                        k->section, k->key, strlen(text), INI_MAX_LINE - 2);
    switch (k->type) {
    case DQ_CFG_INT:
        if (!parse_int(text, &iv))
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: expected an integer, "
                            "got '%s'", origin, k->section, k->key, text);
        if (has_range(k) && ((double)iv < k->min || (double)iv > k->max))
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: %lld is out of range "
                            "%.15g..%.15g", origin, k->section, k->key, iv,
                            k->min, k->max);
        snprintf(out, len, "%lld", iv);
        return DQ_OK;
    case DQ_CFG_DOUBLE:
        if (!parse_double(text, &dv))
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: expected a finite "
                            "number, got '%s'", origin, k->section, k->key,
                            text);
        if (has_range(k) && (dv < k->min || dv > k->max))
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: %s is out of range "
                            "%.15g..%.15g", origin, k->section, k->key, text,
                            k->min, k->max);
        fmt_double(out, len, dv);
        return DQ_OK;
    case DQ_CFG_BOOL:
        bv = parse_bool(text);
        if (bv < 0)
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: expected a boolean "
                            "(true/false, yes/no, on/off, 1/0), got '%s'",
                            origin, k->section, k->key, text);
        snprintf(out, len, "%s", bv ? "true" : "false");
        return DQ_OK;
    case DQ_CFG_STR:
    case DQ_CFG_PATH:
        if (strpbrk(text, "\r\n"))
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: value spans several "
                            "lines", origin, k->section, k->key);
        if (strstr(text, " ;") || strstr(text, "\t;"))
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: ' ;' in a value starts "
                            "an INI comment", origin, k->section, k->key);
        if (strlen(text) >= len)
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: value longer than %zu "
                            "characters", origin, k->section, k->key, len - 1);
        snprintf(out, len, "%s", text);
        return DQ_OK;
    }
    return DQ_ERROR(DQ_ECONFIG, "[%s] %s: unknown key type", k->section, k->key);
}

/* ---- construction ------------------------------------------------------- */

static int find_entry(const dq_config *c, const char *section, const char *key)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key->section, section) == 0 &&
            strcmp(c->e[i].key->key, key) == 0)
            return i;
    return -1;
}

/* Duplicate keys and invalid defaults are programming errors in a table. */
static int check_table_key(const dq_config *c, int i)
{
    const dq_cfg_key *k = c->e[i].key;
    char buf[1024];
    if (find_entry(c, k->section, k->key) != i)
        return DQ_ERROR(DQ_EINVAL, "config tables: [%s] %s declared twice",
                        k->section, k->key);
    if (k->def && value_normalise(k, k->def, "config tables", buf,
                                  sizeof buf) != DQ_OK)
        return dq_error_prefix(DQ_EINVAL, "invalid default");
    return DQ_OK;
}

dq_config *dq_config_alloc(const dq_cfg_key *const *tables)
{
    dq_config *c = calloc(1, sizeof *c);
    if (!c) DQ_ERROR_NULL(DQ_ENOMEM, "config: out of memory");
    int n = 0;
    for (int t = 0; tables && tables[t]; t++)
        for (const dq_cfg_key *k = tables[t]; k->section; k++) n++;
    c->e = calloc((size_t)(n ? n : 1), sizeof *c->e);
    if (!c->e) {
        free(c); /* exception in constructor, avoid memory leak */
        DQ_ERROR_NULL(DQ_ENOMEM, "config: out of memory");
    }
    for (int t = 0; tables && tables[t]; t++)
        for (const dq_cfg_key *k = tables[t]; k->section; k++)
            c->e[c->n++].key = k;
    for (int i = 0; i < c->n; i++) {
        if (check_table_key(c, i) != DQ_OK) {
            dq_config_free(c);
            return NULL;
        }
    }
    return c;
}

void dq_config_free(dq_config *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].value);
        free(c->e[i].origin);
    }
    free(c->e);
    free(c->source);
    free(c);
}

/* ---- suggestions for typos ---------------------------------------------- */

/* Levenshtein distance, capped: strings longer than 63 compare as far. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* Closest key of section (or closest section when section is NULL) within
 * edit distance 2, or NULL. */
static const char *closest(const dq_config *c, const char *section,
                           const char *word)
{
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < c->n; i++) {
        const dq_cfg_key *k = c->e[i].key;
        if (section && strcmp(k->section, section) != 0) continue;
        const char *cand = section ? k->key : k->section;
        int d = edit_distance(word, cand);
        if (d < bestd) {
            bestd = d;
            best = cand;
        }
    }
    return best;
}

static int section_known(const dq_config *c, const char *section)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].key->section, section) == 0) return 1;
    return 0;
}

static int unknown_key_error(const dq_config *c, const char *section,
                             const char *key, const char *origin)
{
    char hint[160] = "";
    if (!*section)
        return DQ_ERROR(DQ_ECONFIG, "%s: key '%s' outside any [section]",
                        origin, key);
    if (!section_known(c, section)) {
        const char *s = closest(c, NULL, section);
        if (s) snprintf(hint, sizeof hint, " (did you mean [%s]?)", s);
        return DQ_ERROR(DQ_ECONFIG, "%s: unknown section [%s]%s", origin,
                        section, hint);
    }
    const char *k = closest(c, section, key);
    if (k) snprintf(hint, sizeof hint, " (did you mean '%s'?)", k);
    return DQ_ERROR(DQ_ECONFIG, "%s: unknown key '%s' in section [%s]%s",
                    origin, key, section, hint);
}

/* ---- setting values ----------------------------------------------------- */

int dq_config_set(dq_config *c, const char *section, const char *key,
                  const char *value, const char *origin)
{
    if (!origin) origin = "config";
    int i = find_entry(c, section, key);
    if (i < 0) return unknown_key_error(c, section, key, origin);
    char norm[4096];
    DQ_TRY(value_normalise(c->e[i].key, value, origin, norm, sizeof norm));
    char *v = strdup(norm), *o = strdup(origin);
    if (!v || !o) {
        free(v);
        free(o);
        return DQ_ERROR(DQ_ENOMEM, "config: out of memory");
    }
    free(c->e[i].value);
    free(c->e[i].origin);
    c->e[i].value = v;
    c->e[i].origin = o;
    return DQ_OK;
}

int dq_config_set_arg(dq_config *c, const char *assignment)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment))
                         : NULL;
    if (!eq || !dot || dot == assignment || dot + 1 == eq)
        return DQ_ERROR(DQ_ECONFIG, "--set %s: expected section.key=value",
                        assignment);
    char section[128], key[128];
    snprintf(section, sizeof section, "%.*s", (int)(dot - assignment),
             assignment);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    return dq_config_set(c, section, key, eq + 1, "--set");
}

/* inih reads through this reader so that the handler knows the line.
 *
 * Continuation lines: inih (INI_ALLOW_MULTILINE, Python configparser's
 * rule) hands an indented line that follows `key = value` to the handler
 * again, under the same key, with only that line's text.  The handler
 * joins it to what the key has so far with one space, so
 *     models = mlp alexnet
 *              resnet20 vit
 * reads as "mlp alexnet resnet20 vit". */
typedef struct {
    dq_config *c;
    FILE *fp;
    const char *path;
    int line;
    int long_line; /* line number of the first over-long line, or 0 */
    int err_line;  /* line of the first handler error, or 0 */
    int indented;  /* the line just read starts with a blank */
    char *raw;     /* the value so far of the key last set (malloc()ed) */
    char key[256]; /* "section\nname" of that key */
} ini_ctx;

static char *cfg_reader(char *str, int num, void *stream)
{
    ini_ctx *x = stream;
    char *s = fgets(str, num, x->fp);
    if (!s) return NULL;
    x->line++;
    x->indented = s[0] == ' ' || s[0] == '\t';
    if (s[0] == '[') x->key[0] = '\0'; /* a new section ends continuation */
    size_t len = strlen(s);
    if (len && s[len - 1] != '\n' && !feof(x->fp) && !x->long_line) {
        x->long_line = x->line;
        /* Swallow the rest so that line numbers stay right. */
        int ch;
        while ((ch = fgetc(x->fp)) != EOF && ch != '\n')
            ;
    }
    return s;
}

/* Length of a continuation line's text without its inline comment: inih
 * 55 passes the whole line (later versions cut " ;..." as for key lines). */
static size_t cont_len(const char *value)
{
    size_t n = strlen(value);
    for (size_t i = 1; i < n; i++)
        if (value[i] == ';' && (value[i - 1] == ' ' || value[i - 1] == '\t')) {
            n = i;
            break;
        }
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
    return n;
}

/* The raw text of the key's value after this line: the line's value, or,
 * for a continuation line of the same key, the value so far + " " + it.
 * NULL when out of memory. */
static char *raw_value(ini_ctx *x, const char *section, const char *name,
                       const char *value)
{
    char key[sizeof x->key];
    snprintf(key, sizeof key, "%s\n%s", section, name);
    int cont = x->indented && x->raw && strcmp(key, x->key) == 0;
    size_t vlen = cont ? cont_len(value) : strlen(value);
    size_t n = (cont ? strlen(x->raw) + 1 : 0) + vlen + 1;
    char *raw = malloc(n);
    if (!raw) return NULL;
    snprintf(raw, n, "%s%s%.*s", cont ? x->raw : "", cont ? " " : "",
             (int)vlen, value);
    free(x->raw);
    x->raw = raw;
    memcpy(x->key, key, sizeof key);
    return raw;
}

static int cfg_handler(void *user, const char *section, const char *name,
                       const char *value)
{
    ini_ctx *x = user;
    if (x->err_line || x->long_line) return 1; /* report the first error */
    char origin[1200];
    snprintf(origin, sizeof origin, "%s:%d", x->path, x->line);
    const char *raw = raw_value(x, section, name, value);
    int rc = raw ? dq_config_set(x->c, section, name, raw, origin)
                 : DQ_ERROR(DQ_ENOMEM, "%s: out of memory", origin);
    if (rc != DQ_OK) {
        x->err_line = x->line;
        return 0;
    }
    return 1;
}

int dq_config_load_file(dq_config *c, const char *path)
{
    ini_ctx x = {.c = c, .path = path};
    x.fp = fopen(path, "r");
    if (!x.fp)
        return DQ_ERROR(DQ_EIO, "%s: cannot open config: %s", path,
                        strerror(errno));
    int rc = ini_parse_stream(cfg_reader, &x, cfg_handler, &x);
    int read_error = ferror(x.fp);
    fclose(x.fp);
    free(x.raw);
    if (read_error)
        return DQ_ERROR(DQ_EIO, "%s: cannot read config", path);
    if (x.long_line && (!x.err_line || x.long_line < x.err_line))
        return DQ_ERROR(DQ_ECONFIG, "%s:%d: line longer than %d characters",
                        path, x.long_line, INI_MAX_LINE - 2);
    if (rc > 0 && (!x.err_line || rc < x.err_line))
        return DQ_ERROR(DQ_ECONFIG, "%s:%d: syntax error (expected [section] "
                        "or key = value)", path, rc);
    if (rc < 0)
        return DQ_ERROR(DQ_ENOMEM, "%s: out of memory while parsing", path);
    if (x.err_line) return dq_error_status();
    free(c->source);
    c->source = strdup(path);
    return DQ_OK;
}

/* ---- checks and getters ------------------------------------------------- */

int dq_config_check(const dq_config *c)
{
    for (int i = 0; i < c->n; i++) {
        const dq_cfg_key *k = c->e[i].key;
        const char *v = c->e[i].value ? c->e[i].value : k->def;
        if (!v)
            return DQ_ERROR(DQ_ECONFIG, "%s: required key [%s] %s is not set",
                            dq_config_source(c), k->section, k->key);
        struct stat st;
        if (k->type == DQ_CFG_PATH && *v && stat(v, &st) != 0)
            return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: '%s' does not exist",
                            c->e[i].origin ? c->e[i].origin : "default",
                            k->section, k->key, v);
    }
    return DQ_OK;
}

/* The entry for a key the program asked for; abort when it is not in the
 * tables or has another type (a bug, not a user error). */
static const cfg_entry *entry_or_abort(const dq_config *c, const char *section,
                                       const char *key, int type_mask)
{
    int i = find_entry(c, section, key);
    if (i < 0 || !((1 << c->e[i].key->type) & type_mask)) {
        fprintf(stderr, "dnateq: internal error: config key [%s] %s %s\n",
                section, key, i < 0 ? "is not in the driver's tables"
                                    : "read with the wrong type");
        abort();
    }
    return &c->e[i];
}

static const char *entry_value(const cfg_entry *e)
{
    return e->value ? e->value : e->key->def;
}

const char *dq_config_str(const dq_config *c, const char *section,
                          const char *key)
{
    return entry_value(entry_or_abort(c, section, key,
                                      1 << DQ_CFG_STR | 1 << DQ_CFG_PATH));
}

int64_t dq_config_int(const dq_config *c, const char *section, const char *key)
{
    const char *v = entry_value(entry_or_abort(c, section, key, 1 << DQ_CFG_INT));
    return v ? strtoll(v, NULL, 10) : 0;
}

double dq_config_double(const dq_config *c, const char *section,
                        const char *key)
{
    const char *v = entry_value(entry_or_abort(c, section, key,
                                               1 << DQ_CFG_DOUBLE));
    return v ? strtod(v, NULL) : NAN;
}

int dq_config_bool(const dq_config *c, const char *section, const char *key)
{
    const char *v = entry_value(entry_or_abort(c, section, key,
                                               1 << DQ_CFG_BOOL));
    return v ? parse_bool(v) == 1 : 0;
}

int dq_config_is_set(const dq_config *c, const char *section, const char *key)
{
    int i = find_entry(c, section, key);
    return i >= 0 && c->e[i].value != NULL;
}

const char *dq_config_origin(const dq_config *c, const char *section,
                             const char *key)
{
    const cfg_entry *e = entry_or_abort(c, section, key, ~0);
    return e->origin ? e->origin : "default";
}

int dq_config_check_choice(const dq_config *c, const char *section,
                           const char *key, const char *choices)
{
    const char *v = dq_config_str(c, section, key);
    if (v && in_choices(choices, v)) return DQ_OK;
    return DQ_ERROR(DQ_ECONFIG, "%s: [%s] %s: '%s' is not one of %s",
                    dq_config_origin(c, section, key), section, key,
                    v ? v : "", choices);
}

const char *dq_config_source(const dq_config *c)
{
    return c->source ? c->source : "(defaults)";
}

/* ---- rendering ---------------------------------------------------------- */

/* Sections in order of first appearance; keys in table order within. */
char *dq_config_dump(const dq_config *c)
{
    strbuf b = {0};
    sb_printf(&b, "%s", "");
    for (int i = 0; i < c->n; i++) {
        const char *sec = c->e[i].key->section;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = strcmp(c->e[j].key->section, sec) == 0;
        if (seen) continue;
        sb_printf(&b, "%s[%s]\n", b.len ? "\n" : "", sec);
        for (int j = i; j < c->n; j++) {
            if (strcmp(c->e[j].key->section, sec) != 0) continue;
            const char *v = entry_value(&c->e[j]);
            if (v && *v) sb_printf(&b, "%s = %s\n", c->e[j].key->key, v);
            else if (v) sb_printf(&b, "%s =\n", c->e[j].key->key);
            else sb_printf(&b, "; %s = (required, not set)\n",
                           c->e[j].key->key);
        }
    }
    return sb_finish(&b);
}

/* Table-cell text: '|' would end the cell, '<' '>' would start HTML. */
static void md_escape(strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') sb_printf(b, "\\|");
        else if (*s == '<') sb_printf(b, "&lt;");
        else if (*s == '>') sb_printf(b, "&gt;");
        else sb_printf(b, "%c", *s);
    }
}

char *dq_config_reference(const dq_cfg_key *const *tables)
{
    return dq_config_reference_section(tables, NULL);
}

char *dq_config_reference_section(const dq_cfg_key *const *tables,
                                  const char *section)
{
    strbuf b = {0};
    char desc[512];
    sb_printf(&b, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (int t = 0; tables && tables[t]; t++) {
        for (const dq_cfg_key *k = tables[t]; k->section; k++) {
            if (section && strcmp(k->section, section) != 0) continue;
            sb_printf(&b, "| `%s.%s` | ", k->section, k->key);
            md_escape(&b, dq_config_key_describe(k, desc, sizeof desc));
            sb_printf(&b, " | ");
            if (!k->def) sb_printf(&b, "**required**");
            else if (!*k->def) sb_printf(&b, "(empty)");
            else sb_printf(&b, "`%s`", k->def);
            sb_printf(&b, " | ");
            md_escape(&b, k->help ? k->help : "");
            sb_printf(&b, " |\n");
        }
    }
    return sb_finish(&b);
}
