/* export_c.h — a model's parts as C99 source (export_c.c). */
#ifndef VAE_TOOLS_EXPORT_C_H
#define VAE_TOOLS_EXPORT_C_H

#include "export.h"

typedef struct {
    long weight_bytes;   /* the const arrays: weights, int8 scales, biases */
    long scratch_floats; /* NAME_SCRATCH_FLOATS */
    size_t h_bytes, c_bytes;
} export_sizes;

/* NAME.h and NAME.c for parts[0 .. n) (a decoder, an encoder, or both),
   malloc'd, NUL-terminated; model names the source in their comments.
   0, or -1 with the reason in why. */
int export_c(const export_part *const *parts, int n, const char *name, const char *model, int int8,
             int no_libm, char **h, char **c, export_sizes *sizes, char *why, size_t why_len);

/* Whether name makes C identifiers: a letter or _, then letters, digits
   and _, 32 at most. */
int export_name_ok(const char *name);

#endif
