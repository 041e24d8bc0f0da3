/* onnx.c — export_part as an ONNX ModelProto (onnx.h).

   Two halves: a protobuf writer that knows nothing of ONNX, then the graph.
   The part's layers are first planned as a list of nodes naming their
   inputs and outputs, then written with the initializers those inputs
   name: planning first lets whichever node comes last produce the graph's
   output ("mean") under its own name, without an Identity.

   Field numbers are onnx.proto's. It is proto2, so repeated scalars go
   unpacked, one tag each. Every multi-byte value is written a byte at a
   time, least significant first, so the file is the same on any host.

   Names in this file start with pb_ or onnx_: the tests compile it in one
   unit with vae.c and export.c.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

/* floats are written as their IEEE 754 single bits */
typedef char onnx_float_is_32_bits[sizeof(float) == 4 ? 1 : -1];

// ---- a protobuf writer ----

enum { PB_VARINT = 0, PB_LEN = 2, PB_FIXED32 = 5 };

/* A growing buffer. The first failed allocation sets failed and later
   writes do nothing, so that the caller checks once, at the end. */
typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed;
} pb_buf;

static int pb_reserve(pb_buf *b, size_t extra)
{
    size_t cap;
    unsigned char *grown;
    if (b->failed)
        return 0;
    if (extra <= b->cap - b->len)
        return 1;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return 0;
    }
    for (cap = b->cap ? b->cap : 256; cap - b->len < extra;)
        cap *= 2; /* cannot overflow: len + extra < SIZE_MAX / 2 */
    if (!(grown = realloc(b->data, cap))) {
        b->failed = 1;
        return 0;
    }
    b->data = grown;
    b->cap = cap;
    return 1;
}

static void pb_append(pb_buf *b, const void *p, size_t n)
{
    if (n && pb_reserve(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

/* v in base 128, low groups first, the top bit of each byte saying that
   another follows; returns the bytes used (1 to 10). */
static int pb_varint_bytes(unsigned char out[10], uint64_t v)
{
    int n = 0;
    do {
        out[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        out[n++] |= v ? 0x80 : 0;
    } while (v);
    return n;
}

static void pb_varint(pb_buf *b, uint64_t v)
{
    unsigned char digits[10];
    pb_append(b, digits, (size_t)pb_varint_bytes(digits, v));
}

static void pb_u32(pb_buf *b, uint32_t v)
{
    unsigned char le[4];
    le[0] = (unsigned char)(v & 0xff), le[1] = (unsigned char)(v >> 8 & 0xff);
    le[2] = (unsigned char)(v >> 16 & 0xff), le[3] = (unsigned char)(v >> 24 & 0xff);
    pb_append(b, le, 4);
}

static void pb_u64(pb_buf *b, uint64_t v)
{
    pb_u32(b, (uint32_t)(v & 0xffffffffu));
    pb_u32(b, (uint32_t)(v >> 32));
}

static uint32_t pb_float_bits(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static void pb_tag(pb_buf *b, int field, int wire)
{
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

/* int32, int64 and enums alike: a negative value is its 64-bit two's
   complement, ten bytes, as protobuf says. */
static void pb_int(pb_buf *b, int field, int64_t v)
{
    pb_tag(b, field, PB_VARINT);
    pb_varint(b, (uint64_t)v);
}

static void pb_float(pb_buf *b, int field, float v)
{
    pb_tag(b, field, PB_FIXED32);
    pb_u32(b, pb_float_bits(v));
}

static void pb_bytes(pb_buf *b, int field, const void *p, size_t n)
{
    pb_tag(b, field, PB_LEN);
    pb_varint(b, n);
    pb_append(b, p, n);
}

static void pb_string(pb_buf *b, int field, const char *s)
{
    pb_bytes(b, field, s, strlen(s));
}

/* A nested message: pb_open writes its tag and returns where its body
   starts; pb_close, once the body is written, slides it up to put its
   length in front. Close the innermost first. */
static size_t pb_open(pb_buf *b, int field)
{
    pb_tag(b, field, PB_LEN);
    return b->len;
}

static void pb_close(pb_buf *b, size_t start)
{
    unsigned char head[10];
    size_t n = (size_t)pb_varint_bytes(head, b->len - start);
    if (!pb_reserve(b, n))
        return;
    memmove(b->data + start + n, b->data + start, b->len - start);
    memcpy(b->data + start, head, n);
    b->len += n;
}

// ---- onnx.proto's field numbers ----

enum { MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8 };
enum { OPSET_DOMAIN = 1, OPSET_VERSION = 2 };
enum { GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_DOC_STRING = 10, GRAPH_INPUT = 11,
       GRAPH_OUTPUT = 12 };
enum { NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5 };
enum { ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20 };
enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_INTS = 7 };
enum { TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9 };
enum { TENSOR_FLOAT = 1, TENSOR_INT64 = 7 };
enum { VALUE_NAME = 1, VALUE_TYPE = 2 };
enum { TYPE_TENSOR = 1, TYPE_TENSOR_ELEM_TYPE = 1, TYPE_TENSOR_SHAPE = 2 };
enum { SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2 };

#define ONNX_IR_VERSION 8 /* ONNX 1.10 to 1.12 write it; opset 13 needs 7 or later */
#define ONNX_OPSET 13
#define ONNX_LEAKY_SLOPE 0.01f /* vae's LeakyReLU */

// ---- the plan: nodes and the values they connect ----

#define ONNX_NAME 48
/* a layer makes at most 4 nodes (Flatten or Reshape, its op, Reshape,
   activation); the part's end 2 more (Sigmoid, Reshape; or Split) */
#define ONNX_MAX_NODES (4 * EXPORT_MAX_LAYERS + 2)

typedef struct {
    const char *op;                          /* op_type: "Gemm", "Conv", ... */
    char name[ONNX_NAME];                    /* "dec.0.Gemm" */
    char in[3][ONNX_NAME], out[2][ONNX_NAME]; /* in[0] the value; in[1], in[2] initializers */
    int n_in, n_out;
    const export_layer *layer;               /* Gemm, Conv, ConvTranspose: weights, attributes */
    int64_t constant[4];                     /* Reshape's shape, Split's sizes: initializer in[1] */
    int n_constant;
} onnx_node;

typedef struct {
    onnx_node node[ONNX_MAX_NODES];
    int n;
    const char *value; /* what the next node reads: the last output, or the graph's input */
    int rank;          /* of value: 2 (N, n) or 4 (N, image) */
    int image[3];
} onnx_plan;

static int onnx_fail(char *why, size_t why_len, const char *what, const char *name)
{
    snprintf(why, why_len, "%s%s%s", name ? name : "", name ? ": " : "", what);
    return -1;
}

/* A node named prefix.op reading the current value, whose output (named
   in lower case, "dec.0.gemm") becomes the current value. */
static onnx_node *onnx_add(onnx_plan *g, const char *prefix, const char *op)
{
    onnx_node *nd = &g->node[g->n++];
    char *c;
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    snprintf(nd->name, sizeof nd->name, "%s.%s", prefix, op);
    snprintf(nd->in[0], sizeof nd->in[0], "%s", g->value);
    memcpy(nd->out[0], nd->name, sizeof nd->out[0]);
    for (c = strrchr(nd->out[0], '.'); c && *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    nd->n_in = nd->n_out = 1;
    g->value = nd->out[0];
    return nd;
}

/* The initializer input prefix.what with the values v (n of them). */
static void onnx_constant(onnx_node *nd, const char *prefix, const char *what, const int64_t *v, int n)
{
    snprintf(nd->in[nd->n_in++], ONNX_NAME, "%s.%s", prefix, what);
    memcpy(nd->constant, v, (size_t)n * sizeof *v);
    nd->n_constant = n;
}

static void onnx_weights(onnx_node *nd, const export_layer *L)
{
    nd->layer = L;
    snprintf(nd->in[1], ONNX_NAME, "%s.weight", L->name);
    snprintf(nd->in[2], ONNX_NAME, "%s.bias", L->name);
    nd->n_in = 3;
}

/* Reshape to (N, s), the batch left free (-1). */
static void onnx_to_image(onnx_plan *g, const char *prefix, const int s[3])
{
    int64_t shape[4];
    shape[0] = -1, shape[1] = s[0], shape[2] = s[1], shape[3] = s[2];
    onnx_constant(onnx_add(g, prefix, "Reshape"), prefix, "shape", shape, 4);
    g->rank = 4;
    memcpy(g->image, s, sizeof g->image);
}

static const char *onnx_activation(const char *act)
{
    return strcmp(act, "relu") == 0        ? "Relu"
           : strcmp(act, "tanh") == 0      ? "Tanh"
           : strcmp(act, "leakyrelu") == 0 ? "LeakyRelu"
                                           : NULL;
}

/* L's weights agree with its kind and shapes, and its output shape with
   what ONNX will infer from its input, which holds in_size values. */
static int onnx_check_layer(const export_layer *L, long in_size, char *why, size_t why_len)
{
    int fc = strcmp(L->kind, "fc") == 0, conv = strcmp(L->kind, "conv") == 0;
    int convt = strcmp(L->kind, "convt") == 0, d;
    long k2 = (long)L->kernel * L->kernel, want_w, want_b;
    for (d = 0; d < 3; d++)
        if (L->in[d] < 1 || L->out[d] < 1)
            return onnx_fail(why, why_len, "a shape is empty", L->name);
    if (!fc && !conv && !convt)
        return onnx_fail(why, why_len, "a kind of layer ONNX export does not know", L->name);
    if (strcmp(L->act, "none") != 0 && !onnx_activation(L->act))
        return onnx_fail(why, why_len, "an activation ONNX export does not know", L->name);
    if (export_size(L->in) != in_size)
        return onnx_fail(why, why_len, "its input size is not the previous output's", L->name);
    if (!fc) {
        int stride = L->stride, want[2];
        if (L->kernel < 1 || stride < 1 || L->pad < 0 || L->out_pad < 0 ||
            (conv && (L->out_pad != 0 || L->in[1] + 2 * L->pad < L->kernel || L->in[2] + 2 * L->pad < L->kernel)))
            return onnx_fail(why, why_len, "a kernel, stride, padding or output padding out of range", L->name);
        for (d = 0; d < 2; d++)
            want[d] = conv ? (L->in[1 + d] + 2 * L->pad - L->kernel) / stride + 1
                           : (L->in[1 + d] - 1) * stride - 2 * L->pad + L->kernel + L->out_pad;
        if (want[0] != L->out[1] || want[1] != L->out[2])
            return onnx_fail(why, why_len, "its output shape does not follow from its input's", L->name);
    }
    want_w = fc ? export_size(L->out) * export_size(L->in) : (long)L->in[0] * L->out[0] * k2;
    want_b = fc ? export_size(L->out) : L->out[0];
    if (!L->w || !L->b || L->nw != want_w || L->nb != want_b)
        return onnx_fail(why, why_len, "its weights do not fit its shapes", L->name);
    if (L->nw > INT32_MAX / 4)
        return onnx_fail(why, why_len, "its weights are over protobuf's 2 GB", L->name);
    return 0;
}

/* The part's nodes, in order. */
static int onnx_plan_part(const export_part *p, onnx_plan *g, char *why, size_t why_len)
{
    long size = p->decoder ? p->z : export_size(p->image);
    int i;
    g->n = 0;
    g->value = p->decoder ? "z" : "x";
    g->rank = p->decoder ? 2 : 4;
    memcpy(g->image, p->image, sizeof g->image);
    if (p->n < 1 || p->n > EXPORT_MAX_LAYERS)
        return onnx_fail(why, why_len, p->n < 1 ? "the part has no layers" : "the part has too many layers", NULL);
    if (p->z < 1 || p->image[0] < 1 || p->image[1] < 1 || p->image[2] < 1)
        return onnx_fail(why, why_len, "the latent or image shape is empty", NULL);
    for (i = 0; i < p->n; i++) {
        const export_layer *L = &p->layer[i], *next = i + 1 < p->n ? &p->layer[i + 1] : NULL;
        if (onnx_check_layer(L, size, why, why_len) != 0)
            return -1;
        size = export_size(L->out);
        if (strcmp(L->kind, "fc") == 0) {
            if (g->rank == 4) {
                onnx_add(g, L->name, "Flatten");
                g->rank = 2;
            }
            onnx_weights(onnx_add(g, L->name, "Gemm"), L);
            /* a view follows: the next layer reads it as an image */
            if (L->out[1] * L->out[2] > 1 || (next && strcmp(next->kind, "fc") != 0))
                onnx_to_image(g, L->name, L->out);
        } else {
            if (g->rank == 2 || memcmp(g->image, L->in, sizeof g->image) != 0)
                onnx_to_image(g, L->name, L->in);
            onnx_weights(onnx_add(g, L->name, strcmp(L->kind, "conv") == 0 ? "Conv" : "ConvTranspose"), L);
            memcpy(g->image, L->out, sizeof g->image);
        }
        if (strcmp(L->act, "none") != 0)
            onnx_add(g, L->name, onnx_activation(L->act));
    }
    if (!p->decoder) {
        const export_layer *head = &p->layer[p->n - 1];
        int64_t halves[2];
        onnx_node *split;
        if (strcmp(head->kind, "fc") != 0 || export_size(head->out) != 2L * p->z || g->rank != 2)
            return onnx_fail(why, why_len, "the encoder does not end in a head of 2 Z outputs", NULL);
        halves[0] = halves[1] = p->z;
        split = onnx_add(g, head->name, "Split");
        onnx_constant(split, head->name, "split", halves, 2);
        snprintf(split->out[0], ONNX_NAME, "mu");
        snprintf(split->out[1], ONNX_NAME, "logvar");
        split->n_out = 2;
        return 0;
    }
    if (size != export_size(p->image))
        return onnx_fail(why, why_len, "the decoder's output is not the image's size", NULL);
    if (strcmp(p->mean_act, "sigmoid") == 0)
        onnx_add(g, "mean", "Sigmoid");
    else if (strcmp(p->mean_act, "none") != 0)
        return onnx_fail(why, why_len, "a mean activation ONNX export does not know", p->mean_act);
    if (g->rank == 2 || memcmp(g->image, p->image, sizeof p->image) != 0)
        onnx_to_image(g, "mean", p->image);
    snprintf(g->node[g->n - 1].out[0], ONNX_NAME, "mean");
    return 0;
}

// ---- writing the plan ----

/* An attribute's name and type; the caller writes its value and closes it. */
static size_t onnx_attr(pb_buf *b, const char *name, int type)
{
    size_t at = pb_open(b, NODE_ATTRIBUTE);
    pb_string(b, ATTR_NAME, name);
    pb_int(b, ATTR_TYPE, type);
    return at;
}

static void onnx_attr_int(pb_buf *b, const char *name, int64_t v)
{
    size_t at = onnx_attr(b, name, ATTR_TYPE_INT);
    pb_int(b, ATTR_I, v);
    pb_close(b, at);
}

/* A list of ints, v times times: the same value on every axis. */
static void onnx_attr_repeat(pb_buf *b, const char *name, int v, int times)
{
    size_t at = onnx_attr(b, name, ATTR_TYPE_INTS);
    int i;
    for (i = 0; i < times; i++)
        pb_int(b, ATTR_INTS, v);
    pb_close(b, at);
}

static void onnx_attr_float(pb_buf *b, const char *name, float v)
{
    size_t at = onnx_attr(b, name, ATTR_TYPE_FLOAT);
    pb_float(b, ATTR_F, v);
    pb_close(b, at);
}

static void onnx_write_node(pb_buf *b, const onnx_node *nd)
{
    size_t at = pb_open(b, GRAPH_NODE);
    const export_layer *L = nd->layer;
    int i;
    for (i = 0; i < nd->n_in; i++)
        pb_string(b, NODE_INPUT, nd->in[i]);
    for (i = 0; i < nd->n_out; i++)
        pb_string(b, NODE_OUTPUT, nd->out[i]);
    pb_string(b, NODE_NAME, nd->name);
    pb_string(b, NODE_OP_TYPE, nd->op);
    if (strcmp(nd->op, "Gemm") == 0) {
        onnx_attr_int(b, "transB", 1); /* PyTorch's (out, in) weights */
    } else if (strcmp(nd->op, "Conv") == 0 || strcmp(nd->op, "ConvTranspose") == 0) {
        onnx_attr_repeat(b, "kernel_shape", L->kernel, 2);
        onnx_attr_repeat(b, "strides", L->stride, 2);
        onnx_attr_repeat(b, "pads", L->pad, 4); /* top, left, bottom, right */
        if (L->out_pad)
            onnx_attr_repeat(b, "output_padding", L->out_pad, 2);
    } else if (strcmp(nd->op, "LeakyRelu") == 0) {
        onnx_attr_float(b, "alpha", ONNX_LEAKY_SLOPE);
    } else if (strcmp(nd->op, "Flatten") == 0 || strcmp(nd->op, "Split") == 0) {
        onnx_attr_int(b, "axis", 1);
    }
    pb_close(b, at);
}

/* An initializer: its values' bytes little-endian in raw_data. */
static void onnx_write_tensor(pb_buf *b, const char *name, const int64_t *dims, int ndim, const float *f,
                              const int64_t *i64, size_t n)
{
    size_t at = pb_open(b, GRAPH_INITIALIZER), k;
    int d, room;
    for (d = 0; d < ndim; d++)
        pb_int(b, TENSOR_DIMS, dims[d]);
    pb_int(b, TENSOR_DATA_TYPE, f ? TENSOR_FLOAT : TENSOR_INT64);
    pb_string(b, TENSOR_NAME, name);
    pb_tag(b, TENSOR_RAW_DATA, PB_LEN);
    pb_varint(b, n * (f ? 4 : 8));
    for (k = 0, room = pb_reserve(b, n * (f ? 4 : 8)); room && k < n; k++) {
        if (f)
            pb_u32(b, pb_float_bits(f[k]));
        else
            pb_u64(b, (uint64_t)i64[k]);
    }
    pb_close(b, at);
}

/* The initializers a node's inputs name. */
static void onnx_write_initializers(pb_buf *b, const onnx_node *nd)
{
    const export_layer *L = nd->layer;
    if (nd->n_constant) {
        int64_t dims = nd->n_constant;
        onnx_write_tensor(b, nd->in[1], &dims, 1, NULL, nd->constant, (size_t)nd->n_constant);
    }
    if (L) {
        int64_t dims[4];
        int ndim = 4;
        if (strcmp(L->kind, "fc") == 0)
            dims[0] = export_size(L->out), dims[1] = export_size(L->in), ndim = 2;
        else if (strcmp(L->kind, "conv") == 0)
            dims[0] = L->out[0], dims[1] = L->in[0], dims[2] = dims[3] = L->kernel;
        else
            dims[0] = L->in[0], dims[1] = L->out[0], dims[2] = dims[3] = L->kernel;
        onnx_write_tensor(b, nd->in[1], dims, ndim, L->w, NULL, (size_t)L->nw);
        dims[0] = L->nb;
        onnx_write_tensor(b, nd->in[2], dims, 1, L->b, NULL, (size_t)L->nb);
    }
}

/* A graph input or output: float (N, dims), N free. */
static void onnx_write_value(pb_buf *b, int field, const char *name, const int *dims, int ndim)
{
    size_t value = pb_open(b, field), type, tensor_type, shape, dim;
    int d;
    pb_string(b, VALUE_NAME, name);
    type = pb_open(b, VALUE_TYPE);
    tensor_type = pb_open(b, TYPE_TENSOR);
    pb_int(b, TYPE_TENSOR_ELEM_TYPE, TENSOR_FLOAT);
    shape = pb_open(b, TYPE_TENSOR_SHAPE);
    dim = pb_open(b, SHAPE_DIM);
    pb_string(b, DIM_PARAM, "N");
    pb_close(b, dim);
    for (d = 0; d < ndim; d++) {
        dim = pb_open(b, SHAPE_DIM);
        pb_int(b, DIM_VALUE, dims[d]);
        pb_close(b, dim);
    }
    pb_close(b, shape);
    pb_close(b, tensor_type);
    pb_close(b, type);
    pb_close(b, value);
}

static void onnx_write_graph(pb_buf *b, const export_part *p, const onnx_plan *g, const char *graph_name)
{
    int i;
    pb_string(b, GRAPH_NAME, graph_name);
    pb_string(b, GRAPH_DOC_STRING, p->summary);
    for (i = 0; i < g->n; i++)
        onnx_write_node(b, &g->node[i]);
    for (i = 0; i < g->n; i++)
        onnx_write_initializers(b, &g->node[i]);
    if (p->decoder) {
        onnx_write_value(b, GRAPH_INPUT, "z", &p->z, 1);
        onnx_write_value(b, GRAPH_OUTPUT, "mean", p->image, 3);
    } else {
        onnx_write_value(b, GRAPH_INPUT, "x", p->image, 3);
        onnx_write_value(b, GRAPH_OUTPUT, "mu", &p->z, 1);
        onnx_write_value(b, GRAPH_OUTPUT, "logvar", &p->z, 1);
    }
}

int onnx_encode(const export_part *p, const char *graph_name, unsigned char **out, size_t *len, char *why,
                size_t why_len)
{
    onnx_plan *g = malloc(sizeof *g);
    pb_buf b = {NULL, 0, 0, 0};
    size_t at;
    *out = NULL;
    *len = 0;
    if (!g)
        return onnx_fail(why, why_len, "out of memory", NULL);
    if (onnx_plan_part(p, g, why, why_len) != 0) {
        free(g);
        return -1;
    }
    pb_int(&b, MODEL_IR_VERSION, ONNX_IR_VERSION);
    pb_string(&b, MODEL_PRODUCER_NAME, "vae");
    at = pb_open(&b, MODEL_OPSET_IMPORT);
    pb_string(&b, OPSET_DOMAIN, ""); /* the default domain, ai.onnx */
    pb_int(&b, OPSET_VERSION, ONNX_OPSET);
    pb_close(&b, at);
    at = pb_open(&b, MODEL_GRAPH);
    onnx_write_graph(&b, p, g, graph_name);
    pb_close(&b, at);
    free(g);
    if (b.failed || b.len > INT32_MAX) { /* protobuf's readers take at most 2 GB */
        free(b.data);
        return onnx_fail(why, why_len, b.failed ? "out of memory" : "the model is over protobuf's 2 GB", NULL);
    }
    *out = b.data;
    *len = b.len;
    return 0;
}
