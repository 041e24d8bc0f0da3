/* pictures.h — the vae program's pictures of a model: grids of images as
   PNG, latent codes as CSV, plots as SVG, each written whole or not at all.

   The commands (vae sample, reconstruct, interpolate, manifold, embed,
   plot) and the training loop, which writes samples and reconstructions
   after every epoch, share these.

   A grid holds tiles of the model's image geometry, GRID_PAD pixels apart
   and from the edges, on a GRID_BACKGROUND grey; tile (r, c) starts at
   x = GRID_PAD + c (cols + GRID_PAD), y = GRID_PAD + r (rows + GRID_PAD).
   Each pixel is pixel_byte(mean): round(255 clamp(p, 0, 1)).
*/
#ifndef VAE_TOOLS_PICTURES_H
#define VAE_TOOLS_PICTURES_H

#include <stdint.h>

#include "common.h"
#include "vae.h"

#define GRID_PAD 2
#define GRID_BACKGROUND 128

typedef struct {
    unsigned char *pixels; /* (height, width, channels) */
    int width, height, channels;
} picture;

/* A grid of down x across tiles; cells[r * across + c] is an image (D
   floats) or NULL for an empty tile. 0, or -1 when out of memory or too
   large. */
int picture_grid(picture *p, const float *const *cells, int down, int across, const geometry *g);

/* Writes p as a PNG at path, atomically; into *png (malloc'ed, *len bytes)
   too when png is not NULL. 0, or -1 with errno. */
int picture_save(const picture *p, const char *path, unsigned char **png, size_t *len);

void picture_free(picture *p);

/* n samples from the prior (latent points from seed), as the likelihood's
   means, or with binary as Bernoulli draws (from seed too), in a square-ish
   grid. 0, or an exit status after printing why. */
int sample_picture(vae *m, int n, uint64_t seed, int binary, picture *p);

/* Images x (n, D) in rows of at most 16, each row of originals with their
   reconstructions (decoded latent means) below it. 0, or an exit status
   after printing why. */
int reconstruction_picture(vae *m, const float *x, int n, picture *p);

/* The two leading principal directions of the rows of x (n, d), about
   their mean: mean (d), dir (2, d), unit length; variance (2), the
   variance along each; *total, the variance in all directions. 0, or -1
   when out of memory. */
int principal_directions(const float *x, int n, int d, double *mean, double *dir, double *variance, double *total);

/* A scatter plot of the latent means of x (n, D), coloured by labels (or
   NULL), in z1 and z2, or in the first two principal components when
   Z > 2; *svg malloc'ed. 0, or an exit status after printing why. */
int latent_scatter(vae *m, const float *x, const unsigned char *labels, int n, char **svg);

/* Train and test bounds per epoch of the logs (log.csv files) as one line
   chart, the runs named by names (NULL: each log's directory); *svg
   malloc'ed. 0, or an exit status after printing why. */
int curves_chart(const char *const *logs, const char *const *names, int n_logs, char **svg);

int cmd_sample(int argc, char **argv);
int cmd_reconstruct(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_manifold(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_plot(int argc, char **argv);

#endif
