/* export.h — a trained model's encoder or decoder as a plain list of
   layers with their weights, in PyTorch's order and shapes, for the
   exporters: C source (export_c.c) and ONNX (onnx.c).

   Images are (channels, rows, cols), PyTorch's order, throughout; for
   one channel that is also the order vae_decode and vae_encode use.
*/
#ifndef VAE_TOOLS_EXPORT_H
#define VAE_TOOLS_EXPORT_H

#include <stddef.h>

#include "vae.h"

/* One layer: an fc (y = W x + b), a conv or a conv-transpose, then its
   activation. An fc that reads an image flattens it (channel, row,
   column); one whose output is an image (a view follows it in the spec)
   has out[] the image's shape. */
typedef struct {
    char kind[8];             /* "fc", "conv", "convt" */
    char name[16];            /* "enc.0", "dec.out"; the head is "enc.head" */
    char act[12];             /* "none", "relu", "tanh", "leakyrelu" */
    int in[3], out[3];        /* (c, h, w); n values are (n, 1, 1) */
    int kernel, stride, pad, out_pad;
    float *w, *b;             /* fc (out, in); conv (out, in, k, k); convt (in, out, k, k); bias (out) */
    long nw, nb;              /* their counts */
} export_layer;

#define EXPORT_MAX_LAYERS (2 * VAE_MAX_LAYERS)

/* A part: the decoder maps z (Z) to the likelihood's mean, an image (c,
   h, w) = the last layer's output through mean_act; the encoder maps an
   image to mu and logvar (Z each), which are the first and second halves
   of its last layer's 2Z outputs (an isotropic head is expanded to that:
   its log sigma row doubled, Z times, exactly). */
typedef struct {
    int decoder;
    int n;
    export_layer layer[EXPORT_MAX_LAYERS];
    int z;                    /* latent dimension */
    int image[3];             /* (c, h, w) */
    char mean_act[12];        /* decoder: "sigmoid" or "none" */
    char summary[2048];       /* the model and its layers, as vae info prints them, for comments */
} export_part;

/* Reads one part of m. 0, or -1 with the reason in why. */
int export_part_load(vae *m, int decoder, export_part *p, char *why, size_t why_len);
void export_part_free(export_part *p);

/* Values of shape s. */
long export_size(const int s[3]);

/* vae export (export_cmd.c). */
int cmd_export(int argc, char **argv);

#endif
