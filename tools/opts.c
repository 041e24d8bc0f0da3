/* opts.c — table-driven option parser for the vae program; see opts.h. */
#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("vae: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

// ---- numbers ----

/* strtol with the checks it lacks: no leading space, something read,
   nothing left over, no overflow, within [min, max]. */
static int parse_int(const char *s, double min, double max, int *out)
{
    char *end;
    long v;
    if (!(isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+'))
        return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || (double)v < min || (double)v > max)
        return 0;
    *out = (int)v;
    return 1;
}

/* strtoull accepts "-1" and wraps it; only digits are allowed here. */
static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!isdigit((unsigned char)s[0]))
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return 0;
#if ULLONG_MAX > UINT64_MAX
    if (v > UINT64_MAX)
        return 0;
#endif
    *out = (uint64_t)v;
    return 1;
}

/* A finite number in (0, max), or > 0 when max is 0: strtod also reads
   "nan", "inf" and hex. */
static int parse_real(const char *s, double max, double *out)
{
    char *end;
    double v;
    if (s[0] == '\0' || isspace((unsigned char)s[0]))
        return 0;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || !(v > 0) || (max > 0 && v >= max))
        return 0;
    *out = v;
    return 1;
}

// ---- parsing ----

/* Stores value into o's destination, or explains in one line why not. */
static int set_value(const opt *o, const char *value)
{
    int i;
    switch (o->kind) {
    case OPT_INT:
        if (parse_int(value, o->min, o->max, (int *)o->dst))
            return 1;
        cli_error("--%s must be an integer from %.0f to %.0f, not '%s'", o->name, o->min,
                  o->max, value);
        return 0;
    case OPT_U64:
        if (parse_u64(value, (uint64_t *)o->dst))
            return 1;
        cli_error("--%s must be an integer from 0 to %" PRIu64 ", not '%s'", o->name,
                  UINT64_MAX, value);
        return 0;
    case OPT_REAL:
        if (parse_real(value, o->max, (double *)o->dst))
            return 1;
        if (o->max > 0)
            cli_error("--%s must be a number > 0 and < %g, not '%s'", o->name, o->max, value);
        else
            cli_error("--%s must be a finite number > 0, not '%s'", o->name, value);
        return 0;
    case OPT_STR:
        if (value[0] != '\0') {
            *(const char **)o->dst = value;
            return 1;
        }
        cli_error("--%s needs a non-empty value", o->name);
        return 0;
    case OPT_CHOICE:
        for (i = 0; o->choices[i]; i++) {
            if (strcmp(value, o->choices[i]) == 0) {
                *(int *)o->dst = i;
                return 1;
            }
        }
        fprintf(stderr, "vae: --%s must be ", o->name);
        for (i = 0; o->choices[i]; i++)
            fprintf(stderr, "%s%s", i == 0 ? "" : o->choices[i + 1] ? ", " : " or ",
                    o->choices[i]);
        fprintf(stderr, ", not '%s'\n", value);
        return 0;
    case OPT_FIELD: {
        char why[200];
        if (vae_config_set((vae_config *)o->dst, o->field->key, value, why, sizeof why) == VAE_OK)
            return 1;
        cli_error("--%s %s", o->name, why);
        return 0;
    }
    case OPT_MANY: {
        opt_many *l = (opt_many *)o->dst;
        if (l->n < OPT_MANY_MAX && value[0] != '\0') {
            l->v[l->n++] = value;
            return 1;
        }
        cli_error("--%s: at most %d, each non-empty", o->name, OPT_MANY_MAX);
        return 0;
    }
    case OPT_FLAG:
    case OPT_HELP:
        break;
    }
    return 0;
}

int opt_parse(const opt *table, int argc, char **argv, const char *command)
{
    return opt_parse_rest(table, argc, argv, command, NULL, NULL);
}

int opt_parse_rest(const opt *table, int argc, char **argv, const char *command, char **rest, int *n_rest)
{
    const opt *o;
    char seen[64] = {0};
    int i;
    if (n_rest)
        *n_rest = 0;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i], *value = NULL, *eq;
        size_t len;
        if (strcmp(arg, "-h") == 0)
            return OPT_SHOW_HELP;
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (rest && arg[0] != '-') {
                rest[(*n_rest)++] = argv[i];
                continue;
            }
            cli_error("unexpected argument '%s' for '%s' (options start with --)", arg, command);
            return OPT_BAD;
        }
        arg += 2;
        eq = strchr(arg, '=');
        len = eq ? (size_t)(eq - arg) : strlen(arg);
        for (o = table; o->name; o++)
            if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
                break;
        if (!o->name) {
            cli_error("unknown option '--%.*s' for '%s' (see '%s --help')", (int)len, arg,
                      command, command);
            return OPT_BAD;
        }
        if (o->kind == OPT_HELP || o->kind == OPT_FLAG) {
            if (eq) {
                cli_error("--%s takes no value", o->name);
                return OPT_BAD;
            }
            if (o->kind == OPT_HELP)
                return OPT_SHOW_HELP;
            *(int *)o->dst = 1;
            if (o->given)
                *o->given = 1;
            continue;
        }
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            cli_error("--%s needs a value (%s)", o->name, o->meta ? o->meta : "see --help");
            return OPT_BAD;
        }
        if (!set_value(o, value))
            return OPT_BAD;
        if (o - table < (long)sizeof seen)
            seen[o - table] = 1;
        if (o->given)
            *o->given = 1;
    }
    for (o = table; o->name; o++) {
        if (o->required && !(o - table < (long)sizeof seen && seen[o - table])) {
            cli_error("missing --%s %s (see '%s --help')", o->name, o->meta ? o->meta : "",
                      command);
            return OPT_BAD;
        }
    }
    return OPT_OK;
}

// ---- usage text ----

/* "--name META" as the usage text shows it. */
static void option_words(const opt *o, char *buf, size_t size)
{
    const char *const *choices = o->kind == OPT_FIELD ? o->field->choices : o->choices;
    int i, n = snprintf(buf, size, "--%s", o->name);
    if (choices) {
        for (i = 0; choices[i] && n > 0 && (size_t)n < size; i++)
            n += snprintf(buf + n, size - (size_t)n, "%s%s", i ? "|" : " ", choices[i]);
    } else if (o->meta) {
        snprintf(buf + n, size - (size_t)n, " %s", o->meta);
    }
}

/* The default shown after the help: o->def if set, else the current value. */
static void default_text(const opt *o, char *buf, size_t size)
{
    buf[0] = '\0';
    if (o->def) {
        snprintf(buf, size, "%s", o->def);
        return;
    }
    switch (o->kind) {
    case OPT_INT:
        snprintf(buf, size, "%d", *(const int *)o->dst);
        break;
    case OPT_U64:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)o->dst);
        break;
    case OPT_REAL:
        snprintf(buf, size, "%g", *(const double *)o->dst);
        break;
    case OPT_STR:
        if (*(const char *const *)o->dst)
            snprintf(buf, size, "%s", *(const char *const *)o->dst);
        break;
    case OPT_CHOICE:
        snprintf(buf, size, "%s", o->choices[*(const int *)o->dst]);
        break;
    case OPT_FIELD:
        snprintf(buf, size, "%s", o->field->def);
        break;
    case OPT_FLAG:
    case OPT_MANY:
    case OPT_HELP:
        break;
    }
}

/* Prints text word by word from column col (= indent, where the first word
   goes), breaking lines before column 80 and indenting continuations to
   column indent. */
static void print_wrapped(FILE *f, const char *text, int col, int indent)
{
    while (*text) {
        int len = (int)strcspn(text, " ");
        if (col > indent && col + 1 + len > 79) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fprintf(f, "%.*s", len, text);
        col += len;
        text += len;
        while (*text == ' ')
            text++;
    }
    fputc('\n', f);
}

void opt_help(FILE *f, const opt *table)
{
    const opt *o;
    char words[128], def[128], text[512];
    int width = 0;
    for (o = table; o->name; o++) {
        option_words(o, words, sizeof words);
        if ((int)strlen(words) > width)
            width = (int)strlen(words);
    }
    for (o = table; o->name; o++) {
        option_words(o, words, sizeof words);
        default_text(o, def, sizeof def);
        if (o->required)
            snprintf(text, sizeof text, "%s (required)", o->help);
        else if (def[0])
            snprintf(text, sizeof text, "%s (default %s)", o->help, def);
        else
            snprintf(text, sizeof text, "%s", o->help);
        fprintf(f, "  %-*s  ", width, words);
        print_wrapped(f, text, 4 + width, 4 + width);
    }
}

void opt_add_fields(opt *table, int *n, int cap, vae_config *cfg, int *given)
{
    static const char *const meta[] = {"N", "X", "N", NULL, "N,N,...", "SPEC"};
    const vae_field *fields;
    int count = vae_config_fields(&fields), i;
    for (i = 0; i < count && *n < cap - 1; i++) {
        opt *o = &table[*n];
        if (!fields[i].option)
            continue;
        memset(o, 0, sizeof *o);
        o->name = fields[i].option;
        o->kind = OPT_FIELD;
        o->dst = cfg;
        o->field = &fields[i];
        o->meta = meta[fields[i].type];
        o->help = fields[i].help;
        o->given = given ? &given[i] : NULL;
        ++*n;
    }
    memset(&table[*n], 0, sizeof table[*n]);
}
