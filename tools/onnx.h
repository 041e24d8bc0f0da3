/* onnx.h — a model's encoder or decoder (export_part) as an ONNX model,
   written by a small protobuf writer of our own: no dependency but libc.

   The model is ONNX IR 8, opset 13, one graph whose batch dimension is
   free (dim_param "N"):
     decoder  z (N, Z)           -> mean (N, C, H, W)
     encoder  x (N, C, H, W)     -> mu (N, Z), logvar (N, Z)
   Images are (channels, rows, cols) as in PyTorch, not channels last as
   vae_encode and vae_decode keep them: callers with more than one channel
   transpose. Weights go in as float initializers named after the model's
   tensors ("dec.0.weight"), the encoder's head as "enc.head.weight" (mu's
   rows, then logvar's). Fc layers are Gemm (a Flatten before one that
   reads an image, a Reshape after one that makes one), convolutions Conv
   and ConvTranspose, activations Relu, Tanh, LeakyRelu (alpha 0.01) and
   the decoder's Sigmoid mean; the head's outputs are Split in two.
*/
#ifndef VAE_TOOLS_ONNX_H
#define VAE_TOOLS_ONNX_H

#include <stddef.h>

#include "export.h"

/* The ONNX ModelProto of p, whose graph is named graph_name, into *out
   (malloc'd; the caller frees it) and its length into *len. Returns 0, or
   -1 with a one-line reason in why (why_len bytes) and *out NULL: a layer
   or activation ONNX cannot be given here, weights that disagree with the
   shapes, a model over protobuf's 2 GB, or no memory. */
int onnx_encode(const export_part *p, const char *graph_name, unsigned char **out, size_t *len, char *why,
                size_t why_len);

#endif
