/* export.c — a model's encoder or decoder as export_part: its layers from
   vae_layer_info and its weights from vae_get_tensor, in PyTorch's order.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"

long export_size(const int s[3])
{
    return (long)s[0] * s[1] * s[2];
}

void export_part_free(export_part *p)
{
    int i;
    for (i = 0; i < p->n; i++) {
        free(p->layer[i].w);
        free(p->layer[i].b);
        p->layer[i].w = p->layer[i].b = NULL;
    }
    p->n = 0;
}

static int part_fail(char *why, size_t why_len, const char *what, const char *detail)
{
    snprintf(why, why_len, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
    return -1;
}

/* A tensor's size, or -1 where m has no tensor of that name. */
static long named_tensor_size(const vae *m, const char *name)
{
    int i, d, ndim, shape[VAE_MAX_DIMS];
    const char *n;
    for (i = 0; i < vae_tensor_count(m); i++) {
        long size = 1;
        vae_tensor_info(m, i, &n, &ndim, shape);
        if (strcmp(n, name) != 0)
            continue;
        for (d = 0; d < ndim; d++)
            size *= shape[d];
        return size;
    }
    return -1;
}

/* A copy of tensor name (count floats) into *dst, malloc'd. */
static int get_copy(vae *m, const char *name, float **dst, long *count, char *why, size_t why_len)
{
    long n = named_tensor_size(m, name);
    if (n < 0)
        return part_fail(why, why_len, "the model has no tensor", name);
    *dst = malloc((size_t)(n > 0 ? n : 1) * sizeof **dst);
    if (!*dst)
        return part_fail(why, why_len, "out of memory", NULL);
    *count = n;
    if (vae_get_tensor(m, name, *dst, (size_t)n) != VAE_OK)
        return part_fail(why, why_len, "reading a tensor", vae_error(m));
    return 0;
}

/* The encoder's head as one fc of 2Z outputs: mu's rows, then logvar's.
   An isotropic head's one log sigma row becomes Z rows of 2 log sigma
   (logvar = 2 log sigma), doubled exactly. */
static int load_head(vae *m, export_layer *L, int z, char *why, size_t why_len)
{
    float *mw = NULL, *mb = NULL, *sw = NULL, *sb = NULL;
    long nmw, nmb, nsw, nsb, in = export_size(L->in), j, i;
    int iso = named_tensor_size(m, "enc.log_sigma.weight") >= 0, r = -1;
    const char *wn = iso ? "enc.log_sigma.weight" : "enc.logvar.weight";
    const char *bn = iso ? "enc.log_sigma.bias" : "enc.logvar.bias";
    if (get_copy(m, "enc.mu.weight", &mw, &nmw, why, why_len) || get_copy(m, "enc.mu.bias", &mb, &nmb, why, why_len) ||
        get_copy(m, wn, &sw, &nsw, why, why_len) || get_copy(m, bn, &sb, &nsb, why, why_len))
        goto done;
    L->out[0] = 2 * z;
    L->nw = 2L * z * in;
    L->nb = 2L * z;
    L->w = malloc((size_t)L->nw * sizeof *L->w);
    L->b = malloc((size_t)L->nb * sizeof *L->b);
    if (!L->w || !L->b) {
        part_fail(why, why_len, "out of memory", NULL);
        goto done;
    }
    memcpy(L->w, mw, (size_t)z * in * sizeof *mw);
    memcpy(L->b, mb, (size_t)z * sizeof *mb);
    for (j = 0; j < z; j++) {
        const float *row = iso ? sw : sw + j * in;
        for (i = 0; i < in; i++)
            L->w[(z + j) * in + i] = iso ? 2.0f * row[i] : row[i];
        L->b[z + j] = iso ? 2.0f * sb[0] : sb[j];
    }
    r = 0;
done:
    free(mw);
    free(mb);
    free(sw);
    free(sb);
    return r;
}

static void summarise(vae *m, export_part *p)
{
    const vae_config *c = vae_get_config(m);
    size_t len = 0;
    int i;
    len += (size_t)snprintf(p->summary + len, sizeof p->summary - len,
                            "%s of a VAE: z %d, image %d x %d x %d (channels, rows, cols)\n",
                            p->decoder ? "decoder" : "encoder", c->latent_dim, p->image[0], p->image[1],
                            p->image[2]);
    for (i = 0; i < p->n && len < sizeof p->summary; i++) {
        const export_layer *L = &p->layer[i];
        char k[32] = "-";
        if (strcmp(L->kind, "conv") == 0)
            snprintf(k, sizeof k, "%dx%d s%d p%d", L->kernel, L->kernel, L->stride, L->pad);
        else if (strcmp(L->kind, "convt") == 0)
            snprintf(k, sizeof k, "%dx%d s%d p%d o%d", L->kernel, L->kernel, L->stride, L->pad, L->out_pad);
        len += (size_t)snprintf(p->summary + len, sizeof p->summary - len,
                                "  %-9s %-5s %4d x %-3d x %-3d -> %4d x %-3d x %-3d  %-14s %-9s %ld parameters\n",
                                L->name, L->kind, L->in[0], L->in[1], L->in[2], L->out[0], L->out[1], L->out[2],
                                k, L->act, L->nw + L->nb);
    }
    if (len < sizeof p->summary)
        snprintf(p->summary + len, sizeof p->summary - len, "%s",
                 !p->decoder ? "  then mu = the first Z outputs, logvar = the last Z\n"
                 : strcmp(p->mean_act, "sigmoid") == 0 ? "  then the mean = sigmoid of the output\n"
                                                       : "  the output is the mean\n");
}

int export_part_load(vae *m, int decoder, export_part *p, char *why, size_t why_len)
{
    const vae_config *c = vae_get_config(m);
    int i, count = vae_layer_count(m);
    char name[40];
    memset(p, 0, sizeof *p);
    p->decoder = decoder;
    p->z = c->latent_dim;
    p->image[0] = c->image_channels ? c->image_channels : 1;
    p->image[1] = c->image_rows ? c->image_rows : 1;
    p->image[2] = c->image_cols ? c->image_cols : c->input_dim;
    if (export_size(p->image) != c->input_dim) /* no image shape known: a vector */
        p->image[0] = c->input_dim, p->image[1] = p->image[2] = 1;
    snprintf(p->mean_act, sizeof p->mean_act, "%s",
             c->likelihood == VAE_GAUSSIAN && c->mean == VAE_MEAN_LINEAR ? "none" : "sigmoid");
    for (i = 0; i < count; i++) {
        vae_layer info;
        export_layer *L;
        if (vae_layer_info(m, i, &info) != VAE_OK)
            return part_fail(why, why_len, "reading the network", vae_error(m));
        if (info.decoder != decoder)
            continue;
        if (p->n == EXPORT_MAX_LAYERS) {
            export_part_free(p);
            return part_fail(why, why_len, "too many layers", NULL);
        }
        L = &p->layer[p->n++];
        snprintf(L->kind, sizeof L->kind, "%s", info.kind);
        snprintf(L->name, sizeof L->name, "%s", info.name);
        snprintf(L->act, sizeof L->act, "%s", info.activation);
        memcpy(L->in, info.in, sizeof L->in);
        memcpy(L->out, info.out, sizeof L->out);
        L->kernel = info.kernel;
        L->stride = info.stride;
        L->pad = info.pad;
        L->out_pad = info.out_pad;
        if (strcmp(info.name, "enc.head") == 0) {
            if (load_head(m, L, c->latent_dim, why, why_len) != 0) {
                export_part_free(p);
                return -1;
            }
            continue;
        }
        snprintf(name, sizeof name, "%s.weight", info.name);
        if (get_copy(m, name, &L->w, &L->nw, why, why_len) != 0) {
            export_part_free(p);
            return -1;
        }
        snprintf(name, sizeof name, "%s.bias", info.name);
        if (get_copy(m, name, &L->b, &L->nb, why, why_len) != 0) {
            export_part_free(p);
            return -1;
        }
    }
    if (p->n == 0)
        return part_fail(why, why_len, decoder ? "the model has no decoder" : "the model has no encoder", NULL);
    summarise(m, p);
    return 0;
}
