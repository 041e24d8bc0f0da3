/* opts.h — the command-line program's option parser and error line.

   A command describes its options in a table; opt_parse walks argv against
   it and opt_help prints the same table as the usage text, so an option and
   its help cannot drift apart. Defaults are whatever the destinations hold
   before parsing. Options that set a field of the model's configuration
   come from the library's table of fields (vae_config_fields), which
   parses, checks and describes them. Hand-written (getopt_long is not C99): "--name value" and
   "--name=value"; every number is checked for trailing junk, range and (for
   reals) finiteness; a value may start with '-' ("--latent -3" is a range
   error, not a missing value).
*/
#ifndef VAE_TOOLS_OPTS_H
#define VAE_TOOLS_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include "vae.h"

typedef enum {
    OPT_INT,    /* int *, from min to max */
    OPT_U64,    /* uint64_t *, any value from 0 */
    OPT_REAL,   /* double *, > 0 and < max (max 0: finite) */
    OPT_STR,    /* const char **, non-empty */
    OPT_CHOICE, /* int *, index into choices */
    OPT_FIELD,  /* vae_config *, the field named by field */
    OPT_FLAG,   /* int *, set to 1; takes no value */
    OPT_MANY,   /* opt_many *: each time it is given, its value is added */
    OPT_HELP    /* prints the usage text */
} opt_kind;

#define OPT_MANY_MAX 64

typedef struct {
    int n;
    const char *v[OPT_MANY_MAX];
} opt_many;

typedef struct {
    const char *name;             /* "batch" for --batch; NULL ends a table */
    opt_kind kind;
    void *dst;
    const char *meta;             /* value placeholder in the usage text: "N" */
    const char *help;             /* one line */
    const char *def;              /* default as shown, when the value would mislead */
    double min, max;              /* OPT_INT: [min, max]; OPT_REAL: (0, max) */
    const char *const *choices;   /* OPT_CHOICE: NULL-terminated */
    const vae_field *field;       /* OPT_FIELD */
    int required;                 /* opt_parse fails when it is not given */
    int *given;                   /* if not NULL, set to 1 when it is given */
} opt;

/* What opt_parse found. */
enum { OPT_OK = 0, OPT_SHOW_HELP = 1, OPT_BAD = 2 };

/* Parses argv[0..argc) (the words after the command name) into the
   table's destinations. On a bad word it prints one "vae: ..." line on
   stderr and returns OPT_BAD (also when a required option is missing); on
   --help or -h it returns OPT_SHOW_HELP at once, printing nothing. */
int opt_parse(const opt *table, int argc, char **argv, const char *command);

/* As opt_parse, but words that are neither options nor their values go to
   rest (room for argc of them), their count to *n_rest. */
int opt_parse_rest(const opt *table, int argc, char **argv, const char *command, char **rest, int *n_rest);

/* Prints each option with its value, help and default, wrapped to 80
   columns. */
void opt_help(FILE *f, const opt *table);

/* Appends to table (its end at *n, room for cap entries, one kept for the
   terminator) an OPT_FIELD entry for each field of the configuration that
   has an option, setting cfg; marks given[i] when field i is given. */
void opt_add_fields(opt *table, int *n, int cap, vae_config *cfg, int *given);

/* Prints "vae: <message>" and a newline on stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
